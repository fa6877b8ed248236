//! The S2 rows' helpers: reading a server's `/leafz` to check what its
//! leaf links negotiated, and the bytes a leaf link puts on the wire per
//! message, counted by a relay between the leaf and its hub.
//!
//! Neither server's `/leafz` `in_bytes`/`out_bytes` are wire bytes (both
//! count message payloads, before compression and without protocol
//! lines), so the wire is counted by a TCP relay: the leaf's remote dials
//! the relay, the relay dials the hub's leaf port and copies both ways,
//! counting what it copies.

use crate::payload::{payload, Payload};
use crate::scenario::{await_route_interest, publish, subscribed, Batches};
use crate::wire::{connect, Op};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What one server's `/leafz` says about its leaf links.
#[derive(Debug, Default)]
pub struct Leafz {
    /// Each link's `compression`.
    pub compression: Vec<String>,
    /// Each link's `out_bytes`.
    pub out_bytes: Vec<u64>,
}

/// GETs `path` from the monitoring port at `addr`; the body.
async fn http_get(addr: &str, path: &str) -> io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .map_err(|_| {
            io::Error::new(io::ErrorKind::TimedOut, format!("GET {path} from {addr}"))
        })??;
    let text = String::from_utf8_lossy(&out).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "GET {path} from {addr}: {}",
                text.lines().next().unwrap_or("")
            ),
        )),
    }
}

/// Every value of `"key": ...` in `json`, as written (strings unquoted).
fn values<'a>(json: &'a str, key: &str) -> Vec<&'a str> {
    let pat = format!("\"{key}\"");
    let mut out = Vec::new();
    let mut rest = json;
    while let Some(i) = rest.find(&pat) {
        rest = &rest[i + pat.len()..];
        let v = rest.trim_start();
        let Some(v) = v.strip_prefix(':') else {
            continue;
        };
        let v = v.trim_start();
        if let Some(v) = v.strip_prefix('"') {
            if let Some(end) = v.find('"') {
                out.push(&v[..end]);
            }
        } else {
            let end = v.find([',', '}', '\n', ' ']).unwrap_or(v.len());
            out.push(&v[..end]);
        }
    }
    out
}

/// `/leafz` of the server whose monitoring port is `addr`.
pub async fn leafz(addr: &str) -> io::Result<Leafz> {
    let body = http_get(addr, "/leafz").await?;
    let num = |k: &str| -> Vec<u64> {
        values(&body, k)
            .into_iter()
            .filter_map(|v| v.parse().ok())
            .collect()
    };
    Ok(Leafz {
        compression: values(&body, "compression")
            .into_iter()
            .map(String::from)
            .collect(),
        out_bytes: num("out_bytes"),
    })
}

/// Waits (up to 20 s) until the servers monitored at `monitors` (a leaf
/// and its hub) each have exactly one leaf link, and checks that both
/// report `want` as its compression. The message says what they report
/// otherwise: a row measured over another mode would be wrong.
pub async fn check_compression(name: &str, monitors: &str, want: &str) -> Result<(), String> {
    let (leaf, hub) = monitors
        .split_once('+')
        .ok_or_else(|| format!("{name}: monitors must be LEAF+HUB, not {monitors}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut seen = Vec::new();
        let mut up = true;
        for (side, addr) in [("leaf", leaf), ("hub", hub)] {
            match leafz(addr).await {
                Ok(z) if z.compression.len() == 1 => seen.push((side, z.compression[0].clone())),
                Ok(z) => {
                    up = false;
                    seen.push((side, format!("{} links", z.compression.len())));
                }
                Err(e) => {
                    up = false;
                    seen.push((side, e.to_string()));
                }
            }
        }
        if up {
            if seen.iter().all(|(_, c)| c == want) {
                eprintln!("{name}: /leafz on leaf and hub: \"compression\": \"{want}\"");
                return Ok(());
            }
            return Err(format!(
                "{name}: the leaf link does not report compression {want}: {} \
                 (refusing to measure a link that is not what the row says)",
                describe(&seen)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{name}: no single leaf link on both sides after 20 s: {}",
                describe(&seen)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn describe(seen: &[(&str, String)]) -> String {
    seen.iter()
        .map(|(s, c)| format!("{s} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Byte counts of a relay, both directions, over all its connections.
#[derive(Clone, Default)]
pub struct Counts {
    /// Bytes from the dialing side (the leaf) to the dialed one (the hub).
    pub up: Arc<AtomicU64>,
    /// Bytes from the hub to the leaf.
    pub down: Arc<AtomicU64>,
    /// S2 stream identifiers from leaf to hub: both servers start a
    /// stream on every flush of a compressing link.
    pub streams: Arc<AtomicU64>,
    /// Connections accepted.
    pub conns: Arc<AtomicU64>,
}

/// The chunk that opens every S2 stream (nats-server writes one per flush).
const STREAM_ID: &[u8] = b"\xff\x06\x00\x00S2sTwO";

/// Listens on `listen` and relays every connection to `to`, counting.
pub async fn relay(listen: &str, to: &str) -> io::Result<Counts> {
    let l = TcpListener::bind(listen).await?;
    let counts = Counts::default();
    let c = counts.clone();
    let to = to.to_string();
    tokio::spawn(async move {
        while let Ok((a, _)) = l.accept().await {
            c.conns.fetch_add(1, Ordering::Relaxed);
            let Ok(b) = TcpStream::connect(&to).await else {
                continue;
            };
            let _ = a.set_nodelay(true);
            let _ = b.set_nodelay(true);
            let (ar, aw) = a.into_split();
            let (br, bw) = b.into_split();
            tokio::spawn(copy(ar, bw, c.up.clone(), Some(c.streams.clone())));
            tokio::spawn(copy(br, aw, c.down.clone(), None));
        }
    });
    Ok(counts)
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    n: Arc<AtomicU64>,
    streams: Option<Arc<AtomicU64>>,
) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut ids = IdCounter::default();
    loop {
        let got = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(got) => got,
        };
        n.fetch_add(got as u64, Ordering::Relaxed);
        if let Some(streams) = &streams {
            streams.fetch_add(ids.count(&buf[..got]), Ordering::Relaxed);
        }
        if to.write_all(&buf[..got]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Counts [`STREAM_ID`]s in a byte stream read piece by piece.
#[derive(Default)]
struct IdCounter {
    /// The last bytes seen, fewer than an identifier.
    tail: Vec<u8>,
}

impl IdCounter {
    fn count(&mut self, buf: &[u8]) -> u64 {
        let k = STREAM_ID.len() - 1;
        // Identifiers that start in the tail and end in `buf`.
        let mut seam = self.tail.clone();
        seam.extend_from_slice(&buf[..buf.len().min(k)]);
        let mut n = memchr::memmem::find_iter(&seam, STREAM_ID).count() as u64;
        n += memchr::memmem::find_iter(buf, STREAM_ID).count() as u64;
        seam.extend_from_slice(&buf[buf.len().min(k)..]);
        self.tail = seam[seam.len().saturating_sub(k)..].to_vec();
        n
    }
}

/// How the messages of a wire-bytes measurement are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// As the throughput rows publish: 64 KiB batches, a PING window, so
    /// the leaf flushes many messages at once.
    Bursts,
    /// One message, then wait until the hub's subscriber has it: every
    /// message is a flush (one S2 stream) of its own.
    OnePerFlush,
}

/// One wire-bytes measurement: what is sent, and how.
#[derive(Clone, Copy, Debug)]
pub struct WireLoad {
    /// Payload size in bytes.
    pub size: usize,
    /// What the payloads look like.
    pub kind: Payload,
    /// Batched or one per flush.
    pub pace: Pace,
    /// Messages sent.
    pub count: u64,
}

/// Sends `w.count` messages from a client of the leaf at `leaf` to a
/// subscriber on the hub at `hub`, and returns the bytes the relay
/// counted from leaf to hub meanwhile (from after the subscriber's
/// interest crossed to the last message's arrival), and the S2 streams
/// (flushes) among them.
pub async fn wire_bytes(
    leaf: &str,
    hub: &str,
    counts: &Counts,
    run: u64,
    w: &WireLoad,
) -> io::Result<(u64, u64)> {
    let WireLoad {
        size,
        kind,
        pace,
        count,
    } = *w;
    let subject = format!("wire.{run}");
    let (mut sub_reader, sub_writer) = subscribed(hub, &subject).await?;
    let (mut pub_reader, pub_writer) = connect(leaf).await?;
    await_route_interest(
        &mut pub_reader,
        &pub_writer,
        &mut sub_reader,
        &sub_writer,
        run,
    )
    .await?;
    // Let the probes' traffic pass before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let limit = Duration::from_secs(60);
    let before = counts.up.load(Ordering::Relaxed);
    let streams = counts.streams.load(Ordering::Relaxed);
    match pace {
        Pace::Bursts => {
            let batches = Batches::new(&subject, size, kind);
            let bench_subject = subject.clone().into_bytes();
            let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
            let got = Arc::new(AtomicU64::new(0));
            let g = got.clone();
            let task = tokio::spawn(async move {
                loop {
                    if let Op::Msg { subject, .. } = sub_reader.next().await? {
                        if subject == bench_subject.as_slice()
                            && g.fetch_add(1, Ordering::Relaxed) + 1 == count
                        {
                            let _ = done_tx.send(()).await;
                        }
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), io::Error>(())
            });
            publish(&mut pub_reader, &pub_writer, &batches, count).await?;
            let done = tokio::time::timeout(limit, done_rx.recv()).await;
            task.abort();
            if !matches!(done, Ok(Some(()))) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the hub's subscriber received {} of {count} messages",
                        got.load(Ordering::Relaxed)
                    ),
                ));
            }
        }
        Pace::OnePerFlush => {
            let head = format!("PUB {subject} {size}\r\n");
            let deadline = Instant::now() + limit;
            for seq in 0..count {
                let mut frame = head.clone().into_bytes();
                frame.extend_from_slice(&payload(kind, seq, size));
                frame.extend_from_slice(b"\r\n");
                pub_writer.lock().await.send(&frame).await?;
                loop {
                    let op = tokio::time::timeout_at(deadline.into(), sub_reader.next())
                        .await
                        .map_err(|_| {
                            io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!("message {seq} of {count} never reached the hub"),
                            )
                        })??;
                    if let Op::Msg { subject: s, .. } = op {
                        if s == subject.as_bytes() {
                            break;
                        }
                    }
                }
            }
        }
    }
    Ok((
        counts.up.load(Ordering::Relaxed) - before,
        counts.streams.load(Ordering::Relaxed) - streams,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_leafz_fields() {
        let go = "{\n  \"leafs\": [\n    {\n      \"in_bytes\": 10,\n      \"out_bytes\": 2048,\n      \"compression\": \"s2_fast\"\n    }\n  ]\n}";
        assert_eq!(values(go, "compression"), ["s2_fast"]);
        assert_eq!(values(go, "out_bytes"), ["2048"]);
        let compact =
            "{\"leafs\":[{\"compression\":\"off\",\"out_bytes\":7},{\"compression\":\"s2_best\"}]}";
        assert_eq!(values(compact, "compression"), ["off", "s2_best"]);
        assert_eq!(values(compact, "out_bytes"), ["7"]);
    }

    #[test]
    fn counts_stream_identifiers_across_reads() {
        let mut stream = Vec::new();
        for _ in 0..3 {
            stream.extend_from_slice(STREAM_ID);
            stream.extend_from_slice(b"\x01\x05\x00\x00abcde");
        }
        for cut in 1..stream.len() {
            let mut c = IdCounter::default();
            let (a, b) = stream.split_at(cut);
            assert_eq!(c.count(a) + c.count(b), 3, "cut at {cut}");
        }
        let mut c = IdCounter::default();
        assert_eq!(stream.iter().map(|&b| c.count(&[b])).sum::<u64>(), 3);
    }
}
