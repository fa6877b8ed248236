//! NKey-style public key text: the shape of server ids (`N...`) and
//! curve keys (`X...`): base32 (no padding) of a prefix byte, 32 key bytes
//! and a CRC-16/XMODEM checksum in little-endian order.

/// Prefix byte of server keys ('N').
pub const PREFIX_SERVER: u8 = 13 << 3;
/// Prefix byte of curve (x25519) keys ('X').
pub const PREFIX_CURVE: u8 = 23 << 3;
/// Prefix byte of user keys ('U').
pub const PREFIX_USER: u8 = 20 << 3;
/// Prefix byte of seeds ('S'); the public prefix follows in the next bits.
pub const PREFIX_SEED: u8 = 18 << 3;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Encodes a 32-byte public key with its prefix as a 56-character string.
pub fn encode_public(prefix: u8, key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(35);
    raw.push(prefix);
    raw.extend_from_slice(key);
    let crc = crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32(&raw)
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// RFC 4648 base32 without padding.
pub fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes NKey text: base32 without padding, then the CRC-16 check.
/// Returns the bytes before the checksum (prefix byte(s) and key).
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buf: u32 = 0;
    let mut bits = 0;
    for b in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == b)? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
        buf &= (1 << bits) - 1;
    }
    if out.len() < 3 {
        return None;
    }
    let (data, crc) = out.split_at(out.len() - 2);
    (crc16(data) == u16::from_le_bytes([crc[0], crc[1]])).then(|| data.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn server_keys_look_like_nats_server_ids() {
        let id = encode_public(PREFIX_SERVER, &[0u8; 32]);
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
        assert!(encode_public(PREFIX_CURVE, &[9u8; 32]).starts_with('X'));
        assert!(encode_public(PREFIX_USER, &[9u8; 32]).starts_with('U'));
    }

    #[test]
    fn decode_round_trips_and_checks_the_crc() {
        let id = encode_public(PREFIX_USER, &[5u8; 32]);
        let raw = decode(&id).expect("decodes");
        assert_eq!(raw[0], PREFIX_USER);
        assert_eq!(&raw[1..], &[5u8; 32]);
        let mut broken = id.into_bytes();
        broken[10] = if broken[10] == b'A' { b'B' } else { b'A' };
        assert!(decode(std::str::from_utf8(&broken).unwrap()).is_none());
        assert!(decode("not base32!").is_none());
    }

    #[test]
    fn base32_rfc4648_vectors() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }
}
