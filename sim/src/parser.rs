//! The client side's parser of server operations (INFO, MSG, HMSG, PING,
//! PONG, +OK, -ERR), robust to any split of the byte stream.
//!
//! It is strict: anything that is not exactly what nats-server sends is an
//! error, which the simulator reports as an engine bug.

use bytes::{Buf, Bytes, BytesMut};

/// One operation from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerOp {
    /// `INFO {...}`.
    Info(Bytes),
    /// `MSG` or `HMSG`.
    Msg(Delivery),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '<text>'`: the text without quotes.
    Err(String),
}

/// A delivered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Subject it was published on.
    pub subject: Bytes,
    /// The subscription id.
    pub sid: Bytes,
    /// Reply subject, if any.
    pub reply: Option<Bytes>,
    /// Header bytes at the start of `data` (0 for `MSG`).
    pub header_len: usize,
    /// Headers followed by the payload.
    pub data: Bytes,
}

impl Delivery {
    /// The payload after the headers.
    pub fn payload(&self) -> &[u8] {
        &self.data[self.header_len..]
    }

    /// The header block (empty for `MSG`).
    pub fn headers(&self) -> &[u8] {
        &self.data[..self.header_len]
    }
}

/// Resumable parser state.
#[derive(Debug, Default)]
pub struct OpParser {
    buf: BytesMut,
}

impl OpParser {
    /// Appends bytes read from the socket.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether bytes of an unfinished op are buffered.
    pub fn is_mid_op(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next complete op, `Ok(None)` if more bytes are needed.
    pub fn next_op(&mut self) -> Result<Option<ServerOp>, String> {
        let Some(nl) = memchr::memchr(b'\n', &self.buf) else {
            if self.buf.len() > 64 * 1024 {
                return Err("control line longer than 64 KiB".into());
            }
            return Ok(None);
        };
        if nl == 0 || self.buf[nl - 1] != b'\r' {
            return Err(format!("line without CRLF: {:?}", lossy(&self.buf[..nl])));
        }
        let line = &self.buf[..nl - 1];
        let (op, args) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &line[line.len()..]),
        };
        let op = match op {
            b"PING" if args.is_empty() => Some(ServerOp::Ping),
            b"PONG" if args.is_empty() => Some(ServerOp::Pong),
            b"+OK" if args.is_empty() => Some(ServerOp::Ok),
            b"INFO" => Some(ServerOp::Info(Bytes::copy_from_slice(args))),
            b"-ERR" => {
                let text = args
                    .strip_prefix(b"'")
                    .and_then(|a| a.strip_suffix(b"'"))
                    .ok_or_else(|| format!("malformed -ERR: {:?}", lossy(args)))?;
                Some(ServerOp::Err(String::from_utf8_lossy(text).into_owned()))
            }
            b"MSG" | b"HMSG" => None,
            _ => return Err(format!("unknown server op: {:?}", lossy(line))),
        };
        if let Some(op) = op {
            self.buf.advance(nl + 1);
            return Ok(Some(op));
        }
        let headers = line.starts_with(b"H");
        let parts: Vec<&[u8]> = args.split(|&b| b == b' ').collect();
        let bad = || format!("malformed message line: {:?}", lossy(line));
        let (subject, sid, reply, header_len, total) = match (headers, parts.as_slice()) {
            (false, [s, i, n]) => (*s, *i, None, 0, num(n).ok_or_else(bad)?),
            (false, [s, i, r, n]) => (*s, *i, Some(*r), 0, num(n).ok_or_else(bad)?),
            (true, [s, i, h, n]) => (
                *s,
                *i,
                None,
                num(h).ok_or_else(bad)?,
                num(n).ok_or_else(bad)?,
            ),
            (true, [s, i, r, h, n]) => (
                *s,
                *i,
                Some(*r),
                num(h).ok_or_else(bad)?,
                num(n).ok_or_else(bad)?,
            ),
            _ => return Err(bad()),
        };
        if header_len > total || subject.is_empty() || sid.is_empty() {
            return Err(bad());
        }
        let need = nl + 1 + total + 2;
        if self.buf.len() < need {
            return Ok(None);
        }
        let subject = Bytes::copy_from_slice(subject);
        let sid = Bytes::copy_from_slice(sid);
        let reply = reply.map(Bytes::copy_from_slice);
        let mut frame = self.buf.split_to(need);
        frame.advance(nl + 1);
        if &frame[total..] != b"\r\n" {
            return Err(format!(
                "message payload not followed by CRLF (subject {:?})",
                lossy(&subject)
            ));
        }
        frame.truncate(total);
        Ok(Some(ServerOp::Msg(Delivery {
            subject,
            sid,
            reply,
            header_len,
            data: frame.freeze(),
        })))
    }
}

fn num(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 12 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(80)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"INFO {\"a\":1} \r\nPING\r\nMSG foo.bar 7 5\r\nhello\r\n\
HMSG a.b 9 _INBOX.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n+OK\r\n-ERR 'Stale Connection'\r\n";

    fn all(chunks: &[&[u8]]) -> Vec<ServerOp> {
        let mut p = OpParser::default();
        let mut ops = Vec::new();
        for c in chunks {
            p.feed(c);
            while let Some(op) = p.next_op().expect("valid stream") {
                ops.push(op);
            }
        }
        assert!(!p.is_mid_op());
        ops
    }

    #[test]
    fn every_split_gives_the_same_ops() {
        let whole = all(&[STREAM]);
        assert_eq!(whole.len(), 7);
        assert_eq!(
            whole[3],
            ServerOp::Msg(Delivery {
                subject: Bytes::from_static(b"a.b"),
                sid: Bytes::from_static(b"9"),
                reply: Some(Bytes::from_static(b"_INBOX.x")),
                header_len: 12,
                data: Bytes::from_static(b"NATS/1.0\r\n\r\nhi"),
            })
        );
        for i in 0..STREAM.len() {
            assert_eq!(all(&[&STREAM[..i], &STREAM[i..]]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(all(&bytes), whole);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut p = OpParser::default();
        p.feed(b"MSG foo 1 3\r\nabcX\r\n");
        assert!(p.next_op().is_err());
        let mut p = OpParser::default();
        p.feed(b"HELLO\r\n");
        assert!(p.next_op().is_err());
    }
}
