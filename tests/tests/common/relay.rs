//! A byte-logging TCP relay for the compression and WebSocket suites: it
//! listens on a free 127.0.0.1 port, forwards every connection to a
//! target port both ways, and keeps every byte of each connection per
//! direction, so a test can check what was on the wire (S2 framing,
//! WebSocket handshakes and frames) while the servers talk through it.
//! Included by path (`#[path = "common/relay.rs"] mod relay;`).
//!
//! Plain std threads: one accepting, two per connection. Dropping the
//! [`Relay`] shuts every socket down and ends them. Beside it: parsers
//! for what it records (S2 chunks, WebSocket frames, HTTP heads), and what
//! the two suites that include this file share besides: [`exchange`],
//! the traffic check run over every link (their scenarios run per pair
//! through `canopy_tests::per_pair!`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The S2 stream identifier chunk that starts every S2 framed stream (and
/// nats-server's every flush): `ff 06 00 00 "S2sTwO"`.
pub const S2_MAGIC: [u8; 10] = [0xff, 0x06, 0x00, 0x00, b'S', b'2', b's', b'T', b'w', b'O'];

/// A direction through the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the side that dialed the relay to the target.
    Up,
    /// From the target back to the dialer.
    Down,
}

#[derive(Default)]
struct Conn {
    up: Mutex<Vec<u8>>,
    down: Mutex<Vec<u8>>,
    socks: Mutex<Vec<TcpStream>>,
}

impl Conn {
    fn log(&self, dir: Dir) -> &Mutex<Vec<u8>> {
        match dir {
            Dir::Up => &self.up,
            Dir::Down => &self.down,
        }
    }
}

/// A running relay; see the module doc.
pub struct Relay {
    port: u16,
    conns: Arc<Mutex<Vec<Arc<Conn>>>>,
    stop: Arc<AtomicBool>,
}

fn pump(mut from: TcpStream, mut to: TcpStream, conn: Arc<Conn>, dir: Dir) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                conn.log(dir)
                    .lock()
                    .expect("relay log")
                    .extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Relay {
    /// A relay on a free loopback port forwarding to `127.0.0.1:target`.
    pub fn start(target: u16) -> Relay {
        let listener = loop {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", canopy_tests::free_port())) {
                break l;
            }
        };
        let port = listener.local_addr().expect("relay addr").port();
        let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&conns), Arc::clone(&stop));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let conn = Arc::new(Conn::default());
                let clones = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                conn.socks.lock().expect("socks").extend([
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ]);
                c.lock().expect("conns").push(Arc::clone(&conn));
                let c2 = Arc::clone(&conn);
                std::thread::spawn(move || pump(client, clones.1, c2, Dir::Up));
                std::thread::spawn(move || pump(server, clones.0, conn, Dir::Down));
            }
        });
        Relay { port, conns, stop }
    }

    /// The port to dial instead of the target.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections went through so far.
    pub fn conn_count(&self) -> usize {
        self.conns.lock().expect("conns").len()
    }

    /// Every byte of connection `conn` (0 = the first accepted) in `dir`.
    pub fn bytes(&self, conn: usize, dir: Dir) -> Vec<u8> {
        let c = Arc::clone(&self.conns.lock().expect("conns")[conn]);
        let b = c.log(dir).lock().expect("relay log").clone();
        b
    }

    /// Waits until connection `conn` exists and `pred` holds for its bytes
    /// in `dir`; false after `within`.
    pub fn wait_for(
        &self,
        conn: usize,
        dir: Dir,
        within: Duration,
        pred: impl Fn(&[u8]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.conn_count() > conn && pred(&self.bytes(conn, dir)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether connection `conn`'s bytes in `dir` are an S2 stream from
    /// the first byte on.
    pub fn starts_with_s2(&self, conn: usize, dir: Dir) -> bool {
        is_s2_stream(&self.bytes(conn, dir))
    }

    /// Whether connection `conn`'s bytes in `dir`, after the first
    /// `lines` CRLF-terminated protocol lines, are an S2 stream (and there
    /// are such bytes).
    pub fn s2_after_lines(&self, conn: usize, dir: Dir, lines: usize) -> bool {
        let b = self.bytes(conn, dir);
        after_lines(&b, lines).is_some_and(is_s2_stream)
    }

    /// The first `n` CRLF-terminated lines of connection `conn` in `dir`,
    /// as text (fewer if not there yet).
    pub fn lines(&self, conn: usize, dir: Dir, n: usize) -> Vec<String> {
        let b = self.bytes(conn, dir);
        let mut out = Vec::new();
        let mut rest = &b[..];
        while out.len() < n {
            let Some(i) = rest.windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            out.push(String::from_utf8_lossy(&rest[..i]).into_owned());
            rest = &rest[i + 2..];
        }
        out
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for c in self.conns.lock().expect("conns").iter() {
            for s in c.socks.lock().expect("socks").iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// What follows the first `n` CRLF-terminated lines, or None when there
/// are fewer.
pub fn after_lines(b: &[u8], n: usize) -> Option<&[u8]> {
    let mut rest = b;
    for _ in 0..n {
        let i = rest.windows(2).position(|w| w == b"\r\n")?;
        rest = &rest[i + 2..];
    }
    Some(rest)
}

/// An HTTP head (up to and without the blank line) and what follows it.
pub fn split_http_head(b: &[u8]) -> Option<(String, &[u8])> {
    let i = b.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((String::from_utf8_lossy(&b[..i]).into_owned(), &b[i + 4..]))
}

/// Walks S2 framed-stream chunks (1-byte type, 3-byte little-endian
/// length): the number of chunks when `b` is whole chunks that start with
/// the stream identifier and use only the chunk types S2 defines, else why
/// not.
pub fn s2_chunks(b: &[u8]) -> Result<usize, String> {
    if !b.starts_with(&S2_MAGIC) {
        return Err(format!(
            "no S2 stream identifier at the start: {:02x?}",
            &b[..b.len().min(16)]
        ));
    }
    let (mut at, mut n) = (0, 0);
    while at < b.len() {
        if b.len() - at < 4 {
            return Err(format!("a partial chunk header at {at}"));
        }
        let kind = b[at];
        let len =
            usize::from(b[at + 1]) | usize::from(b[at + 2]) << 8 | usize::from(b[at + 3]) << 16;
        let ok = match kind {
            0xff => len == 6 && b[at + 4..].starts_with(b"S2sTwO"),
            // Compressed and uncompressed (each with a 4-byte CRC).
            0x00 | 0x01 => len >= 4,
            // Skippable (0x80-0xfd) and padding (0xfe).
            0x80..=0xfe => true,
            _ => false,
        };
        if !ok {
            return Err(format!("chunk type {kind:#04x} length {len} at {at}"));
        }
        at += 4 + len;
        n += 1;
    }
    if at == b.len() {
        Ok(n)
    } else {
        Err(format!(
            "the last chunk runs past the end ({at} > {})",
            b.len()
        ))
    }
}

/// Whether `b` is a non-empty, whole S2 framed stream.
pub fn is_s2_stream(b: &[u8]) -> bool {
    s2_chunks(b).is_ok()
}

/// One WebSocket frame as sent.
#[derive(Debug, Clone)]
pub struct WsFrame {
    /// The first byte: FIN, RSV1-3 and the opcode (`0x82` a final binary
    /// frame, `0xc2` the same with RSV1, i.e. compressed).
    pub first: u8,
    /// Whether the mask bit was set.
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

/// The WebSocket frame at the start of `b` and its length on the wire,
/// or None when `b` does not hold a whole one.
pub fn ws_frame(b: &[u8]) -> Option<(WsFrame, usize)> {
    let (first, second) = (*b.first()?, *b.get(1)?);
    let masked = second & 0x80 != 0;
    let (len, mut at) = match second & 0x7f {
        126 => (usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
        127 => (
            usize::try_from(u64::from_be_bytes(b.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        l => (usize::from(l), 2),
    };
    let key = if masked {
        let k: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(k)
    } else {
        None
    };
    let mut payload = b.get(at..at + len)?.to_vec();
    if let Some(k) = key {
        for (i, x) in payload.iter_mut().enumerate() {
            *x ^= k[i % 4];
        }
    }
    Some((
        WsFrame {
            first,
            masked,
            payload,
        },
        at + len,
    ))
}

/// All whole WebSocket frames at the start of `b` and the bytes left.
pub fn ws_frames(b: &[u8]) -> (Vec<WsFrame>, &[u8]) {
    let mut out = Vec::new();
    let mut rest = b;
    while let Some((f, n)) = ws_frame(rest) {
        out.push(f);
        rest = &rest[n..];
    }
    (out, rest)
}

// ---- servers -------------------------------------------------------------------

/// `a` then `b`, or only `a` when they are the same: the servers a check
/// of one server at a time runs on, in a pair's test.
pub fn each(a: canopy_tests::Impl, b: canopy_tests::Impl) -> Vec<canopy_tests::Impl> {
    if a == b {
        vec![a]
    } else {
        vec![a, b]
    }
}

/// The last 30 lines of each server's log, named, without PING/PONG.
pub fn logs(servers: &[(&str, &canopy_tests::Server)]) -> String {
    let mut s = String::new();
    for (name, srv) in servers {
        let log = srv.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("PING") && !l.contains("PONG"))
            .collect();
        s.push_str(&format!(
            "--- {name} ({}) log:\n{}\n",
            srv.imp(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        ));
    }
    s
}

/// The JSON body of `path` on monitoring port `http`.
pub fn monitor(http: u16, path: &str) -> serde_json::Value {
    let (status, body) = canopy_tests::http_get(http, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

// ---- traffic across a link -----------------------------------------------------
//
// The check both suites run over every link they make (compressed routes
// and leafs, leafs over WebSocket), kept here beside the relay since these
// are the two files that include it.

/// Messages each way.
const N: usize = 10;
/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);
/// Upper bound on one wait for a message or a reply.
const WAIT: Duration = Duration::from_secs(5);

/// A 200 KiB payload that compresses well (text lines), tagged.
pub fn big(tag: &str) -> bytes::Bytes {
    let mut s = String::with_capacity(205_000);
    s.push_str(tag);
    let mut i = 0;
    while s.len() < 200 * 1024 {
        s.push_str(&format!("line {i:06} of a compressible canopy payload\n"));
        i += 1;
    }
    s.into()
}

async fn next_msg(sub: &mut async_nats::Subscriber, what: &str) -> async_nats::Message {
    use futures::StreamExt;
    tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out waiting for a message"))
        .unwrap_or_else(|| panic!("{what}: subscription ended"))
}

async fn no_more(sub: &mut async_nats::Subscriber, what: &str) {
    use futures::StreamExt;
    if let Ok(Some(m)) = tokio::time::timeout(QUIET, sub.next()).await {
        panic!(
            "{what}: unexpected message on {}: {} bytes",
            m.subject,
            m.payload.len()
        );
    }
}

/// Two members of queue group `workers` on `subject`, answering from tasks
/// with `<subject>:<payload>`; the count of answers is shared.
async fn workers(
    c: &async_nats::Client,
    subject: &str,
) -> (
    Arc<std::sync::atomic::AtomicUsize>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    use futures::StreamExt;
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let mut sub = c
            .queue_subscribe(subject.to_string(), "workers".into())
            .await
            .expect("queue subscribe");
        let (c, count, who) = (c.clone(), Arc::clone(&count), subject.to_string());
        tasks.push(tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                count.fetch_add(1, Ordering::SeqCst);
                let mut a = format!("{who}:").into_bytes();
                a.extend_from_slice(&m.payload);
                if let Some(reply) = m.reply {
                    c.publish(reply, a.into()).await.expect("answer");
                    c.flush().await.expect("answer flush");
                }
            }
        }));
    }
    (count, tasks)
}

/// Across the link between `x`'s server and `y`'s, both ways: [`N`] small
/// messages and a 200 KiB one, each received exactly once and intact, and
/// request/reply to a two-member queue group on the other side (a 200 KiB
/// request included), each request answered exactly once. `logs` is shown
/// on failure.
pub async fn exchange(
    label: &str,
    x: &async_nats::Client,
    y: &async_nats::Client,
    link: Duration,
    logs: &dyn Fn() -> String,
) {
    let mut at_x = x.subscribe("to.x").await.expect("subscribe");
    let mut at_y = y.subscribe("to.y").await.expect("subscribe");
    let (x_count, x_tasks) = workers(x, "svc.x").await;
    let (y_count, y_tasks) = workers(y, "svc.y").await;
    for (p, s, dir) in [(x, y, "x -> y"), (y, x, "y -> x")] {
        assert!(
            crate::common::reaches(p, s, link).await,
            "{label}: no {dir} delivery within {link:?}\n{}",
            logs()
        );
    }
    for (p, subject, tag) in [(x, "to.y", "x"), (y, "to.x", "y")] {
        for i in 0..N {
            p.publish(subject, format!("{i}").into())
                .await
                .expect("publish");
        }
        p.publish(subject, big(tag)).await.expect("publish big");
        p.flush().await.expect("flush");
    }
    for (sub, dir, tag) in [(&mut at_y, "x -> y", "x"), (&mut at_x, "y -> x", "y")] {
        let what = format!("{label}: {dir}");
        for i in 0..N {
            let m = next_msg(sub, &what).await;
            assert_eq!(m.payload, format!("{i}"), "{what}, message {i}");
        }
        let m = next_msg(sub, &what).await;
        assert!(
            m.payload == big(tag),
            "{what}: the 200 KiB message differs ({} bytes)",
            m.payload.len()
        );
    }
    for (c, svc, dir) in [(x, "svc.y", "x -> y"), (y, "svc.x", "y -> x")] {
        for payload in [bytes::Bytes::from_static(b"q"), big("q")] {
            let r = tokio::time::timeout(WAIT, c.request(svc, payload.clone()))
                .await
                .unwrap_or_else(|_| panic!("{label}: {dir} request timed out\n{}", logs()))
                .unwrap_or_else(|e| panic!("{label}: {dir} request failed: {e}\n{}", logs()));
            let mut want = format!("{svc}:").into_bytes();
            want.extend_from_slice(&payload);
            assert!(
                r.payload == want,
                "{label}: {dir}: the reply differs ({} bytes)",
                r.payload.len()
            );
        }
    }
    futures::join!(no_more(&mut at_x, label), no_more(&mut at_y, label));
    for (count, dir) in [(&y_count, "x -> y"), (&x_count, "y -> x")] {
        assert_eq!(
            count.load(Ordering::SeqCst),
            2,
            "{label}: {dir}: two requests, answered by the queue group this many times"
        );
    }
    for t in x_tasks.into_iter().chain(y_tasks) {
        t.abort();
    }
}
