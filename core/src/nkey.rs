//! NKey-style public key text: the shape of server ids (`N...`) and
//! curve keys (`X...`): base32 (no padding) of a prefix byte, 32 key bytes
//! and a CRC-16/XMODEM checksum in little-endian order. Encoding, decoding,
//! and the nkeys library's key checks that nats-server's config uses.

/// Prefix byte of server keys ('N').
pub const PREFIX_SERVER: u8 = 13 << 3;
/// Prefix byte of curve (x25519) keys ('X').
pub const PREFIX_CURVE: u8 = 23 << 3;
/// Prefix byte of user keys ('U').
pub const PREFIX_USER: u8 = 20 << 3;
/// Prefix byte of seeds ('S'); the public prefix follows in the next bits.
pub const PREFIX_SEED: u8 = 18 << 3;
/// Prefix byte of operator keys ('O').
pub const PREFIX_OPERATOR: u8 = 14 << 3;
/// Prefix byte of account keys ('A').
pub const PREFIX_ACCOUNT: u8 = 0;
/// Prefix byte of cluster keys ('C').
pub const PREFIX_CLUSTER: u8 = 2 << 3;

/// The prefixes of public keys, in the order the nkeys library lists them.
const PUBLIC_PREFIXES: &[u8] = &[
    PREFIX_OPERATOR,
    PREFIX_SERVER,
    PREFIX_CLUSTER,
    PREFIX_ACCOUNT,
    PREFIX_USER,
    PREFIX_CURVE,
];

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
    encode_bits(data, ALPHABET)
}

/// Packs `data` into characters of `alphabet`, most significant bits
/// first, `log2(alphabet.len())` bits each, without padding: base32 with
/// a 32-letter alphabet, the base64 variants with a 64-letter one.
pub fn encode_bits(data: &[u8], alphabet: &[u8]) -> String {
    let width = alphabet.len().trailing_zeros();
    let mask = (1u32 << width) - 1;
    let mut out = String::with_capacity((data.len() * 8).div_ceil(width as usize));
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= width {
            bits -= width;
            out.push(alphabet[((buffer >> bits) & mask) as usize] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(alphabet[((buffer << (width - bits)) & mask) as usize] as char);
    }
    out
}

/// RFC 4648 base32 without padding, decoded. `go`: like Go's decoder, CR
/// and LF are skipped and lengths no encoder produces are refused.
fn base32_decode(s: &str, go: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buf: u32 = 0;
    let mut bits = 0;
    let mut n = 0usize;
    for b in s.bytes() {
        if go && (b == b'\r' || b == b'\n') {
            continue;
        }
        let v = ALPHABET.iter().position(|&a| a == b)? as u32;
        n += 1;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
        buf &= (1 << bits) - 1;
    }
    if go && matches!(n % 8, 1 | 3 | 6) {
        return None;
    }
    Some(out)
}

/// Checks and drops the trailing CRC-16 of at least `min` decoded bytes.
fn strip_crc(out: Vec<u8>, min: usize) -> Option<Vec<u8>> {
    if out.len() < min {
        return None;
    }
    let (data, crc) = out.split_at(out.len() - 2);
    (crc16(data) == u16::from_le_bytes([crc[0], crc[1]])).then(|| data.to_vec())
}

/// Decodes NKey text: base32 without padding, then the CRC-16 check.
/// Returns the bytes before the checksum (prefix byte(s) and key).
pub fn decode(s: &str) -> Option<Vec<u8>> {
    strip_crc(base32_decode(s, false)?, 3)
}

/// Decodes NKey text exactly as the nkeys library does (nats-server's
/// config checks): Go's base32 decoder (CR and LF skipped, impossible
/// lengths refused), at least four bytes, then the CRC-16 check. Returns
/// the bytes before the checksum.
pub fn decode_nkeys(s: &str) -> Option<Vec<u8>> {
    strip_crc(base32_decode(s, true)?, 4)
}

/// nkeys' `Decode(prefix, s)` succeeds: `s` is a public key of that kind.
pub fn valid_public_key(s: &str, prefix: u8) -> bool {
    decode_nkeys(s).is_some_and(|raw| raw[0] & 248 == prefix)
}

/// nkeys' `IsValidPublicKey`: `s` is a public key of any kind.
pub fn valid_any_public_key(s: &str) -> bool {
    decode_nkeys(s).is_some_and(|raw| PUBLIC_PREFIXES.contains(&raw[0]))
}

/// nkeys' `DecodeSeed`: the public prefix of a seed.
pub fn seed_prefix(s: &str) -> Option<u8> {
    let raw = decode_nkeys(s)?;
    if raw.len() < 2 || raw[0] & 248 != PREFIX_SEED {
        return None;
    }
    let b2 = (raw[0] & 7) << 5 | ((raw[1] & 248) >> 3);
    PUBLIC_PREFIXES.contains(&b2).then_some(b2)
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
    fn nkeys_decoding_like_the_go_library() {
        let id = encode_public(PREFIX_USER, &[5u8; 32]);
        assert!(valid_public_key(&id, PREFIX_USER));
        assert!(!valid_public_key(&id, PREFIX_ACCOUNT));
        assert!(valid_any_public_key(&id));
        assert!(!valid_any_public_key("UABC"));
        // Go's base32 decoder skips line breaks.
        let wrapped = format!("{}\r\n{}", &id[..20], &id[20..]);
        assert_eq!(decode_nkeys(&wrapped), decode(&id));
        assert!(decode(&wrapped).is_none());
        // A user seed: 'S', then the public prefix in the next bits.
        let mut raw = vec![PREFIX_SEED | (PREFIX_USER >> 5), (PREFIX_USER & 31) << 3];
        raw.extend_from_slice(&[7u8; 32]);
        let crc = crc16(&raw);
        raw.extend_from_slice(&crc.to_le_bytes());
        let seed = base32(&raw);
        assert_eq!(seed_prefix(&seed), Some(PREFIX_USER));
        assert_eq!(seed_prefix(&id), None);
    }

    #[test]
    fn base32_rfc4648_vectors() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }
}
