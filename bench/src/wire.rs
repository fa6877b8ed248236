//! A minimal raw NATS client: connect, write frames, and read server ops
//! without allocating per message, so the load generator is never the
//! bottleneck it measures.

use bytes::{Buf, BytesMut};
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// The write half, shared between a connection's writer and its reader
/// (which must answer the server's PINGs).
pub type Writer = Arc<Mutex<OwnedWriteHalf>>;

/// One server operation, borrowed from the read buffer.
#[derive(Debug)]
pub enum Op<'a> {
    /// `MSG` or `HMSG`: subject, reply subject, payload.
    Msg {
        /// Delivery subject.
        #[allow(dead_code)]
        subject: &'a [u8],
        /// Reply subject, if any.
        reply: Option<&'a [u8]>,
        /// Payload (headers included for HMSG).
        payload: &'a [u8],
    },
    /// `PING` (already answered by the reader).
    Ping,
    /// `PONG`.
    Pong,
    /// `INFO` or `+OK`: nothing to do.
    Other,
}

/// The read half with its buffer.
pub struct Reader {
    rd: OwnedReadHalf,
    buf: BytesMut,
    consumed: usize,
    writer: Writer,
}

/// Connects, reads INFO, sends CONNECT and waits for the PONG of a PING.
pub async fn connect(addr: &str) -> io::Result<(Reader, Writer)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (rd, wr) = stream.into_split();
    let writer = Arc::new(Mutex::new(wr));
    let mut reader = Reader {
        rd,
        buf: BytesMut::with_capacity(256 * 1024),
        consumed: 0,
        writer: writer.clone(),
    };
    writer
        .lock()
        .await
        .write_all(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":true,\"headers\":true,\"no_responders\":true,\"protocol\":1,\"name\":\"canopy-bench\",\"lang\":\"rust\",\"version\":\"0.1.0\"}\r\nPING\r\n",
        )
        .await?;
    loop {
        if let Op::Pong = reader.next().await? {
            return Ok((reader, writer));
        }
    }
}

impl Reader {
    /// The next operation from the server; answers PINGs on the way.
    pub async fn next(&mut self) -> io::Result<Op<'_>> {
        if self.consumed > 0 {
            self.buf.advance(self.consumed);
            self.consumed = 0;
        }
        loop {
            match parse(&self.buf)? {
                Some((len, kind)) => {
                    self.consumed = len;
                    if let Kind::Ping = kind {
                        self.writer.lock().await.write_all(b"PONG\r\n").await?;
                    }
                    return Ok(kind.op(&self.buf[..len]));
                }
                None => {
                    if self.buf.capacity() - self.buf.len() < 64 * 1024 {
                        self.buf.reserve(256 * 1024);
                    }
                    if self.rd.read_buf(&mut self.buf).await? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "server closed the connection",
                        ));
                    }
                }
            }
        }
    }
}

enum Kind {
    Msg {
        subject: (usize, usize),
        reply: Option<(usize, usize)>,
        payload: (usize, usize),
    },
    Ping,
    Pong,
    Other,
}

impl Kind {
    fn op(self, frame: &[u8]) -> Op<'_> {
        match self {
            Kind::Msg {
                subject,
                reply,
                payload,
            } => Op::Msg {
                subject: &frame[subject.0..subject.1],
                reply: reply.map(|r| &frame[r.0..r.1]),
                payload: &frame[payload.0..payload.1],
            },
            Kind::Ping => Op::Ping,
            Kind::Pong => Op::Pong,
            Kind::Other => Op::Other,
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Parses one complete op at the start of `buf`: its length and shape.
fn parse(buf: &[u8]) -> io::Result<Option<(usize, Kind)>> {
    let Some(eol) = memchr::memmem::find(buf, b"\r\n") else {
        return Ok(None);
    };
    let line = &buf[..eol];
    let after_line = eol + 2;
    if line.starts_with(b"MSG ") || line.starts_with(b"HMSG ") {
        let headers = line[0] == b'H';
        let start = if headers { 5 } else { 4 };
        let mut fields: [(usize, usize); 5] = [(0, 0); 5];
        let mut n = 0;
        let mut i = start;
        while i < line.len() {
            while i < line.len() && line[i] == b' ' {
                i += 1;
            }
            let s = i;
            while i < line.len() && line[i] != b' ' {
                i += 1;
            }
            if s < i {
                if n == fields.len() {
                    return Err(bad("too many MSG fields"));
                }
                fields[n] = (s, i);
                n += 1;
            }
        }
        let want = if headers { 4 } else { 3 };
        if n != want && n != want + 1 {
            return Err(bad("bad MSG line"));
        }
        let total = &line[fields[n - 1].0..fields[n - 1].1];
        let size = std::str::from_utf8(total)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| bad("bad MSG size"))?;
        let end = after_line + size + 2;
        if buf.len() < end {
            return Ok(None);
        }
        let reply = if n == want + 1 { Some(fields[2]) } else { None };
        return Ok(Some((
            end,
            Kind::Msg {
                subject: fields[0],
                reply,
                payload: (after_line, after_line + size),
            },
        )));
    }
    let kind = if line == b"PING" {
        Kind::Ping
    } else if line == b"PONG" {
        Kind::Pong
    } else if line.starts_with(b"-ERR") {
        return Err(bad(&String::from_utf8_lossy(line)));
    } else {
        Kind::Other
    };
    Ok(Some((after_line, kind)))
}

#[cfg(test)]
#[allow(clippy::wildcard_enum_match_arm)]
mod tests {
    use super::*;

    #[test]
    fn parses_msg_with_and_without_reply() {
        let (len, kind) = parse(b"MSG foo 1 3\r\nabc\r\nPING\r\n").unwrap().unwrap();
        assert_eq!(len, 18);
        let frame = b"MSG foo 1 3\r\nabc\r\n";
        match kind.op(frame) {
            Op::Msg {
                subject,
                reply,
                payload,
            } => {
                assert_eq!(subject, b"foo");
                assert!(reply.is_none());
                assert_eq!(payload, b"abc");
            }
            other => panic!("{other:?}"),
        }
        let frame = b"MSG foo 1 _I.1 2\r\nhi\r\n";
        let (len, kind) = parse(frame).unwrap().unwrap();
        assert_eq!(len, frame.len());
        match kind.op(frame) {
            Op::Msg { reply, payload, .. } => {
                assert_eq!(reply, Some(&b"_I.1"[..]));
                assert_eq!(payload, b"hi");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn waits_for_the_whole_payload() {
        assert!(parse(b"MSG foo 1 3\r\nab").unwrap().is_none());
        assert!(parse(b"MSG foo 1 3").unwrap().is_none());
        assert!(parse(b"-ERR 'x'\r\n").is_err());
    }
}
