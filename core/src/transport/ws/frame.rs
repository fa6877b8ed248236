//! WebSocket frame headers (RFC 6455 section 5.2): parsing with
//! nats-server's checks, encoding, and masking.

use std::fmt;

/// Opcode of a continuation frame.
pub(crate) const OP_CONTINUATION: u8 = 0;
/// Opcode of a text frame.
pub(crate) const OP_TEXT: u8 = 1;
/// Opcode of a binary frame.
pub(crate) const OP_BINARY: u8 = 2;
/// Opcode of a close frame.
pub(crate) const OP_CLOSE: u8 = 8;
/// Opcode of a ping frame.
pub(crate) const OP_PING: u8 = 9;
/// Opcode of a pong frame.
pub(crate) const OP_PONG: u8 = 10;

const FIN_BIT: u8 = 0x80;
const RSV1_BIT: u8 = 0x40;
const RSV2_BIT: u8 = 0x20;
const RSV3_BIT: u8 = 0x10;
const MASK_BIT: u8 = 0x80;

/// The longest frame header: two bytes, an eight-byte length and a
/// four-byte masking key.
pub(crate) const MAX_HEADER: usize = 14;
/// The largest payload of a control frame.
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// Why a WebSocket layer failed, with nats-server's text for its
/// `read error: ...` log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsError {
    /// RSV2 or RSV3 set.
    ReservedBits,
    /// RSV1 set without permessage-deflate agreed.
    CompressedWithoutDeflate,
    /// An unmasked frame from a peer that must mask.
    MaskMissing,
    /// A control frame longer than 125 bytes.
    ControlTooLong,
    /// A control frame without FIN.
    ControlNotFinal,
    /// A control frame with RSV1.
    ControlCompressed,
    /// A text or binary frame while a fragmented message is open.
    NewMessageBeforeFinal,
    /// A continuation frame with no message open, or with RSV1.
    InvalidContinuation,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A 64-bit payload length with its top bit set.
    Invalid64BitLength,
    /// A close frame whose payload is a single byte.
    CloseOneByte,
    /// A close frame with a status code a peer may not send.
    InvalidCloseStatus(u16),
    /// A compressed message above the size limit (nats-server's
    /// `maximum payload exceeded`).
    MaxPayload,
    /// Compressed data that does not inflate; the offset is into the
    /// message's compressed bytes.
    CorruptInput(u64),
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WsError::ReservedBits => f.write_str("RSV2 and RSV3 must be clear"),
            WsError::CompressedWithoutDeflate => {
                f.write_str("compressed frame received without negotiated permessage-deflate")
            }
            WsError::MaskMissing => f.write_str("mask bit missing"),
            WsError::ControlTooLong => write!(
                f,
                "control frame length bigger than maximum allowed of {MAX_CONTROL_PAYLOAD} bytes"
            ),
            WsError::ControlNotFinal => f.write_str("control frame does not have final bit set"),
            WsError::ControlCompressed => f.write_str("control frame must not be compressed"),
            WsError::NewMessageBeforeFinal => f.write_str(
                "new message started before final frame for previous message was received",
            ),
            WsError::InvalidContinuation => f.write_str("invalid continuation frame"),
            WsError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            WsError::Invalid64BitLength => f.write_str("invalid 64-bit payload length"),
            WsError::CloseOneByte => f.write_str("close frame payload cannot be 1 byte"),
            WsError::InvalidCloseStatus(s) => write!(f, "invalid close status code {s}"),
            WsError::MaxPayload => f.write_str("maximum payload exceeded"),
            WsError::CorruptInput(at) => write!(f, "flate: corrupt input before offset {at}"),
        }
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fin: bool,
    pub(crate) rsv1: bool,
    pub(crate) opcode: u8,
    pub(crate) key: Option<[u8; 4]>,
    pub(crate) len: u64,
}

impl Header {
    /// Whether this is a close, ping or pong frame.
    pub(crate) fn is_control(&self) -> bool {
        self.opcode >= OP_CLOSE
    }
}

/// What the reader knows that decides whether a header is allowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// permessage-deflate was agreed.
    pub(crate) compress: bool,
    /// The peer must mask.
    pub(crate) require_masked: bool,
    /// A fragmented message is open (its final frame has not come).
    pub(crate) in_message: bool,
}

/// The result of looking at the start of a header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The bytes seen so far are allowed; the header needs more.
    NeedMore,
    /// A whole header of this many bytes.
    Done(Header, usize),
    /// The header breaks a rule (found as early as its bytes allow).
    Bad(WsError),
}

/// Parses a frame header from the start of `buf`, checking nats-server's
/// rules in its order as soon as the bytes they need are there.
pub(crate) fn parse(buf: &[u8], rules: Rules) -> Parsed {
    let Some(&b0) = buf.first() else {
        return Parsed::NeedMore;
    };
    let opcode = b0 & 0x0f;
    let fin = b0 & FIN_BIT != 0;
    let rsv1 = b0 & RSV1_BIT != 0;
    if b0 & (RSV2_BIT | RSV3_BIT) != 0 {
        return Parsed::Bad(WsError::ReservedBits);
    }
    if rsv1 && !rules.compress {
        return Parsed::Bad(WsError::CompressedWithoutDeflate);
    }
    let Some(&b1) = buf.get(1) else {
        return Parsed::NeedMore;
    };
    let masked = b1 & MASK_BIT != 0;
    if rules.require_masked && !masked {
        return Parsed::Bad(WsError::MaskMissing);
    }
    let len7 = b1 & 0x7f;
    match opcode {
        OP_CLOSE | OP_PING | OP_PONG => {
            if usize::from(len7) > MAX_CONTROL_PAYLOAD {
                return Parsed::Bad(WsError::ControlTooLong);
            }
            if !fin {
                return Parsed::Bad(WsError::ControlNotFinal);
            }
            if rsv1 {
                return Parsed::Bad(WsError::ControlCompressed);
            }
        }
        OP_TEXT | OP_BINARY => {
            if rules.in_message {
                return Parsed::Bad(WsError::NewMessageBeforeFinal);
            }
        }
        OP_CONTINUATION => {
            if !rules.in_message || rsv1 {
                return Parsed::Bad(WsError::InvalidContinuation);
            }
        }
        other => return Parsed::Bad(WsError::UnknownOpcode(other)),
    }
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    if buf.len() < 2 + ext {
        return Parsed::NeedMore;
    }
    let len = match ext {
        2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(b);
            if len & (1 << 63) != 0 {
                return Parsed::Bad(WsError::Invalid64BitLength);
            }
            len
        }
        _ => u64::from(len7),
    };
    let mut n = 2 + ext;
    let key = if masked {
        if buf.len() < n + 4 {
            return Parsed::NeedMore;
        }
        let k = [buf[n], buf[n + 1], buf[n + 2], buf[n + 3]];
        n += 4;
        Some(k)
    } else {
        None
    };
    Parsed::Done(
        Header {
            fin,
            rsv1,
            opcode,
            key,
            len,
        },
        n,
    )
}

/// Writes a frame header into `buf` and returns its length. `first`
/// says whether the frame starts a message (it carries the opcode and,
/// when compressed, RSV1); continuation frames carry neither.
pub(crate) fn encode(
    buf: &mut [u8; MAX_HEADER],
    first: bool,
    fin: bool,
    compressed: bool,
    opcode: u8,
    len: usize,
    key: Option<[u8; 4]>,
) -> usize {
    let mut b0 = if first { opcode } else { OP_CONTINUATION };
    if fin {
        b0 |= FIN_BIT;
    }
    if compressed && first {
        b0 |= RSV1_BIT;
    }
    let b1 = if key.is_some() { MASK_BIT } else { 0 };
    buf[0] = b0;
    let mut n = if len <= 125 {
        buf[1] = b1 | len as u8;
        2
    } else if len < 65536 {
        buf[1] = b1 | 126;
        buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        buf[1] = b1 | 127;
        buf[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(k) = key {
        buf[n..n + 4].copy_from_slice(&k);
        n += 4;
    }
    n
}

/// XORs `data` with the masking key, starting at byte `pos` of the key
/// (the offset into the frame's payload modulo 4); returns the position
/// after it. Masking and unmasking are the same operation.
pub(crate) fn mask(key: [u8; 4], pos: usize, data: &mut [u8]) -> usize {
    let mut k = [0u8; 8];
    for (i, b) in k.iter_mut().enumerate() {
        *b = key[(pos + i) & 3];
    }
    let wide = u64::from_ne_bytes(k);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    // Whole 8-byte words keep the key position.
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= key[(pos + i) & 3];
    }
    (pos + data.len()) & 3
}

/// Whether a peer may send `status` in a close frame (nats-server's
/// `wsIsValidCloseStatus`).
pub(crate) fn valid_close_status(status: u16) -> bool {
    !matches!(status, 1004..=1006 | 1015 | 1016..=2999) && (1000..5000).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Rules = Rules {
        compress: true,
        require_masked: true,
        in_message: false,
    };

    #[test]
    fn headers_round_trip_at_each_length_form() {
        for len in [0usize, 1, 125, 126, 65535, 65536, 1 << 33] {
            for key in [None, Some([1, 2, 3, 4])] {
                let mut buf = [0u8; MAX_HEADER];
                let n = encode(&mut buf, true, true, false, OP_BINARY, len, key);
                let rules = Rules {
                    require_masked: key.is_some(),
                    ..SERVER
                };
                let want = Header {
                    fin: true,
                    rsv1: false,
                    opcode: OP_BINARY,
                    key,
                    len: len as u64,
                };
                assert_eq!(parse(&buf[..n], rules), Parsed::Done(want, n));
                for short in 0..n {
                    assert_eq!(
                        parse(&buf[..short], rules),
                        Parsed::NeedMore,
                        "{len} {short}"
                    );
                }
            }
        }
    }

    #[test]
    fn masking_matches_the_bytewise_rule_at_any_offset() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let data: Vec<u8> = (0..100u8).collect();
        for start in 0..4 {
            for len in 0..40 {
                let mut got = data[..len].to_vec();
                let end = mask(key, start, &mut got);
                let want: Vec<u8> = data[..len]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[(start + i) & 3])
                    .collect();
                assert_eq!(got, want);
                assert_eq!(end, (start + len) & 3);
            }
        }
    }

    #[test]
    fn close_status_codes_as_nats_server_checks_them() {
        for ok in [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(valid_close_status(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!valid_close_status(bad), "{bad}");
        }
    }
}
