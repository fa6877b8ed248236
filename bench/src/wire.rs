//! A minimal raw NATS client: connect, write frames, and read server ops
//! without allocating per message, so the load generator is never the
//! bottleneck it measures. Over TLS when the server's INFO says
//! `tls_required` (the plaintext INFO first, then the handshake, as NATS
//! clients do), with the CA given to [`set_tls_ca`].

use bytes::{Buf, BytesMut};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The write half, shared between a connection's writer and its reader
/// (which must answer the server's PINGs).
pub type Writer = Arc<Mutex<WriteHalf>>;

/// The client side of TLS, once `--tls-ca` has been read.
static TLS: OnceLock<TlsConnector> = OnceLock::new();

/// Trusts the PEM certificates in `path` for servers that require TLS
/// (rustls with the ring provider, its default protocol versions and
/// cipher suites: what a Rust NATS client offers).
pub fn set_tls_ca(path: &str) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("{path}: {e}"))? {
        let cert = cert.map_err(|e| format!("{path}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{path}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{path}: no certificate"));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    TLS.set(TlsConnector::from(Arc::new(config)))
        .map_err(|_| "TLS configured twice".to_string())
}

/// A connection's read side: the socket's, or TLS's.
pub enum ReadHalf {
    /// Plain TCP.
    Plain(OwnedReadHalf),
    /// TLS over TCP.
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
}

/// A connection's write side: the socket's, or TLS's.
pub enum WriteHalf {
    /// Plain TCP.
    Plain(OwnedWriteHalf),
    /// TLS over TCP.
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Plain(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl WriteHalf {
    /// Writes all of `buf` and pushes it to the socket: TLS may hold
    /// encrypted records back when the socket is full, and a batch's
    /// closing PING must not wait there.
    pub async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            WriteHalf::Plain(w) => w.write_all(buf).await,
            WriteHalf::Tls(w) => {
                w.write_all(buf).await?;
                w.flush().await
            }
        }
    }
}

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
    rd: ReadHalf,
    buf: BytesMut,
    consumed: usize,
    writer: Writer,
    /// The negotiated TLS version and cipher suite, over TLS.
    tls: Option<String>,
}

/// Connects, reads INFO (upgrading to TLS if it says `tls_required`),
/// sends CONNECT and waits for the PONG of a PING.
pub async fn connect(addr: &str) -> io::Result<(Reader, Writer)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(256 * 1024);
    // The INFO line, in plaintext; the server sends nothing after it
    // until the client speaks.
    let eol = loop {
        if let Some(eol) = memchr::memmem::find(&buf, b"\r\n") {
            break eol;
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection before INFO",
            ));
        }
    };
    let info = &buf[..eol];
    let tls_required = memchr::memmem::find(info, b"\"tls_required\":true").is_some();
    let (rd, wr, tls) = if tls_required {
        let connector = TLS.get().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr} requires TLS: give --tls-ca"),
            )
        })?;
        if buf.len() != eol + 2 {
            return Err(bad("bytes after INFO before the TLS handshake"));
        }
        buf.clear();
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = connector.connect(name, stream).await?;
        let conn = tls.get_ref().1;
        let params = format!(
            "{:?} {:?}",
            conn.protocol_version()
                .ok_or_else(|| bad("no TLS version after the handshake"))?,
            conn.negotiated_cipher_suite()
                .ok_or_else(|| bad("no cipher suite after the handshake"))?
                .suite()
        );
        let (rd, wr) = tokio::io::split(tls);
        (ReadHalf::Tls(rd), WriteHalf::Tls(wr), Some(params))
    } else {
        let (rd, wr) = stream.into_split();
        (ReadHalf::Plain(rd), WriteHalf::Plain(wr), None)
    };
    let writer = Arc::new(Mutex::new(wr));
    let mut reader = Reader {
        rd,
        buf,
        consumed: 0,
        writer: writer.clone(),
        tls,
    };
    writer
        .lock()
        .await
        .send(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":true,\"headers\":true,\"no_responders\":true,\"protocol\":1,\"name\":\"canopy-bench\",\"lang\":\"rust\",\"version\":\"0.1.0\"}\r\nPING\r\n",
        )
        .await?;
    loop {
        if let Op::Pong = reader.next().await? {
            return Ok((reader, writer));
        }
    }
}

/// The protocol version and cipher suite a connection to `addr`
/// negotiates, or `None` when the server does not require TLS.
pub async fn tls_params(addr: &str) -> io::Result<Option<String>> {
    let (reader, _writer) = connect(addr).await?;
    Ok(reader.tls)
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
                        self.writer.lock().await.send(b"PONG\r\n").await?;
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
