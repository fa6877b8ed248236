//! The measured workloads: publish/subscribe throughput (plain fan-out or a
//! queue group) and request/reply latency.

use crate::payload::{payload, Payload};
use crate::wire::{connect, Op, Reader, Writer};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Bytes of publishes written before the publisher asks for a PONG.
const BATCH_BYTES: usize = 64 * 1024;
/// PINGs the publisher may have outstanding: bounds what the server buffers.
const PING_WINDOW: usize = 8;
/// Longest any single run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// One throughput workload.
#[derive(Clone, Debug)]
pub struct PubSub {
    /// Number of subscribers.
    pub subscribers: usize,
    /// Whether the subscribers form one queue group.
    pub queue: bool,
    /// Payload size in bytes.
    pub size: usize,
    /// Messages published.
    pub count: u64,
    /// What the payloads look like.
    pub payload: Payload,
}

/// Publishes `count` messages and waits until every subscriber has them;
/// returns published messages per second, end to end. `addr` is
/// `host:port`, or `PUB+SUB` (two `host:port`s of one cluster): the
/// publisher on the first server, the subscribers on the second.
pub async fn pubsub(addr: &str, run: u64, w: &PubSub) -> io::Result<f64> {
    let (pub_addr, sub_addr) = addr.split_once('+').unwrap_or((addr, addr));
    let subject = format!("bench.{run}");
    let target = if w.queue {
        w.count
    } else {
        w.count * w.subscribers as u64
    };
    let received = Arc::new(AtomicU64::new(0));
    let (done_tx, mut done_rx) = mpsc::channel::<Instant>(1);
    let mut tasks = Vec::new();
    let (mut pub_reader, pub_writer) = connect(pub_addr).await?;
    for i in 0..w.subscribers {
        let (mut reader, writer) = connect(sub_addr).await?;
        let sub = if w.queue {
            format!("SUB {subject} q {}\r\nPING\r\n", i + 1)
        } else {
            format!("SUB {subject} {}\r\nPING\r\n", i + 1)
        };
        writer.lock().await.send(sub.as_bytes()).await?;
        wait_pong(&mut reader).await?;
        if sub_addr != pub_addr {
            await_route_interest(&mut pub_reader, &pub_writer, &mut reader, &writer, run).await?;
        }
        let received = received.clone();
        let bench_subject = subject.clone().into_bytes();
        let done = done_tx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match reader.next().await {
                    Ok(Op::Msg { subject, .. }) if subject == bench_subject.as_slice() => {
                        if received.fetch_add(1, Ordering::Relaxed) + 1 == target {
                            let _ = done.send(Instant::now()).await;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err::<(), io::Error>(e),
                }
            }
        }));
    }
    let (mut reader, writer) = (pub_reader, pub_writer);
    let batches = Batches::new(&subject, w.size, w.payload);
    let start = Instant::now();
    publish(&mut reader, &writer, &batches, w.count).await?;
    let end = match tokio::time::timeout(RUN_LIMIT, done_rx.recv()).await {
        Ok(Some(end)) => end,
        _ => {
            let got = received.load(Ordering::Relaxed);
            for t in &tasks {
                t.abort();
            }
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("subscribers received {got} of {target} messages"),
            ));
        }
    };
    for t in &tasks {
        t.abort();
    }
    let secs = end.duration_since(start).as_secs_f64().max(1e-9);
    Ok(w.count as f64 / secs)
}

/// A publisher's frames, built before the clock starts: whole batches of
/// about [`BATCH_BYTES`], each followed by a PING. JSON payloads cycle
/// through their variants, one batch after another.
pub(crate) struct Batches {
    subject: String,
    size: usize,
    kind: Payload,
    per_batch: u64,
    batches: Vec<Vec<u8>>,
}

impl Batches {
    pub(crate) fn new(subject: &str, size: usize, kind: Payload) -> Batches {
        let frame_len = format!("PUB {subject} {size}\r\n").len() + size + 2;
        let per_batch = (BATCH_BYTES / frame_len).max(1) as u64;
        let batches = match kind {
            Payload::Filler => vec![frames(subject, size, kind, 0, per_batch, true)],
            Payload::Json => (0..crate::payload::JSON_VARIANTS.div_ceil(per_batch))
                .map(|b| frames(subject, size, kind, b * per_batch, per_batch, true))
                .collect(),
        };
        Batches {
            subject: subject.to_string(),
            size,
            kind,
            per_batch,
            batches,
        }
    }
}

/// Publishes `count` messages from `b`, with at most [`PING_WINDOW`]
/// PINGs unanswered.
pub(crate) async fn publish(
    reader: &mut Reader,
    writer: &Writer,
    b: &Batches,
    count: u64,
) -> io::Result<()> {
    let (subject, size, kind, per_batch, batches) =
        (&b.subject, b.size, b.kind, b.per_batch, &b.batches);
    let mut sent = 0u64;
    let mut outstanding = 0usize;
    let mut wr = writer.lock().await;
    let mut next = 0;
    while sent < count {
        let n = per_batch.min(count - sent);
        if n == per_batch {
            wr.send(&batches[next]).await?;
            next = (next + 1) % batches.len();
        } else {
            wr.send(&frames(subject, size, kind, sent, n, true)).await?;
        }
        sent += n;
        outstanding += 1;
        if outstanding >= PING_WINDOW {
            drop(wr);
            wait_pong(reader).await?;
            outstanding -= 1;
            wr = writer.lock().await;
        }
    }
    Ok(())
}

/// Waits until the publisher's server forwards to the subscriber's: the
/// subscriber subscribes a probe subject after its bench subscription (so
/// its interest travels the route after the bench interest), and the
/// publisher publishes probes until one arrives.
pub(crate) async fn await_route_interest(
    pub_reader: &mut Reader,
    pub_writer: &Writer,
    sub_reader: &mut Reader,
    sub_writer: &Writer,
    run: u64,
) -> io::Result<()> {
    let probe = format!("probe.{run}");
    sub_writer
        .lock()
        .await
        .send(format!("SUB {probe} 999999\r\nPING\r\n").as_bytes())
        .await?;
    wait_pong(sub_reader).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        pub_writer
            .lock()
            .await
            .send(format!("PUB {probe} 1\r\nx\r\nPING\r\n").as_bytes())
            .await?;
        wait_pong(pub_reader).await?;
        // A PING behind the probe: its PONG means the probe, if routed,
        // arrived before it.
        tokio::time::sleep(Duration::from_millis(20)).await;
        sub_writer.lock().await.send(b"PING\r\n").await?;
        let mut seen = false;
        loop {
            match sub_reader.next().await? {
                Op::Msg { subject, .. } => seen |= subject == probe.as_bytes(),
                Op::Pong => break,
                Op::Ping | Op::Other => {}
            }
        }
        if seen {
            break;
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "subscriber interest never reached the publisher's server",
            ));
        }
    }
    sub_writer
        .lock()
        .await
        .send(b"UNSUB 999999\r\nPING\r\n")
        .await?;
    wait_pong(sub_reader).await
}

/// `count` PUB frames of `size` bytes, the payloads of messages `first`
/// on, followed by a PING when `ping_last` is set.
pub(crate) fn frames(
    subject: &str,
    size: usize,
    kind: Payload,
    first: u64,
    count: u64,
    ping_last: bool,
) -> Vec<u8> {
    let head = format!("PUB {subject} {size}\r\n");
    let mut out = Vec::with_capacity((head.len() + size + 2) * count as usize + 6);
    for seq in first..first + count {
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&payload(kind, seq, size));
        out.extend_from_slice(b"\r\n");
    }
    if ping_last {
        out.extend_from_slice(b"PING\r\n");
    }
    out
}

/// A connection to `addr` subscribed to `subject` (sid 1), the server
/// having confirmed the subscription (a PONG).
pub(crate) async fn subscribed(addr: &str, subject: &str) -> io::Result<(Reader, Writer)> {
    let (mut reader, writer) = connect(addr).await?;
    writer
        .lock()
        .await
        .send(format!("SUB {subject} 1\r\nPING\r\n").as_bytes())
        .await?;
    wait_pong(&mut reader).await?;
    Ok((reader, writer))
}

pub(crate) async fn wait_pong(reader: &mut Reader) -> io::Result<()> {
    loop {
        if let Op::Pong = reader.next().await? {
            return Ok(());
        }
    }
}

/// Request/reply round-trip percentiles.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    /// Median round trip, microseconds.
    pub p50_us: f64,
    /// 99th percentile round trip, microseconds.
    pub p99_us: f64,
}

/// Sends `count` requests one after another to a responder on another
/// connection and measures each round trip. With `REQ+RESP` the requester
/// is on the first server and the responder on the second (a leaf and its
/// hub): requests are repeated until the responder's interest has crossed.
pub async fn request_reply(
    addr: &str,
    run: u64,
    count: usize,
    size: usize,
    kind: Payload,
) -> io::Result<Latency> {
    let (req_addr, resp_addr) = addr.split_once('+').unwrap_or((addr, addr));
    let subject = format!("bench.req.{run}");
    let (mut responder, resp_writer) = subscribed(resp_addr, &subject).await?;
    let serve = tokio::spawn(async move {
        let mut out = Vec::with_capacity(256);
        loop {
            out.clear();
            match responder.next().await? {
                Op::Msg {
                    reply: Some(reply),
                    payload,
                    ..
                } => {
                    out.extend_from_slice(b"PUB ");
                    out.extend_from_slice(reply);
                    out.extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
                    out.extend_from_slice(payload);
                    out.extend_from_slice(b"\r\n");
                }
                Op::Msg { reply: None, .. } | Op::Ping | Op::Pong | Op::Other => continue,
            }
            resp_writer.lock().await.send(&out).await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), io::Error>(())
    });
    let inbox = format!("_INBOX.bench{run}");
    let (mut requester, req_writer) = subscribed(req_addr, &format!("{inbox}.*")).await?;
    // Requests cycle through a few payloads (one for filler).
    let variants = if kind == Payload::Json { 64 } else { 1 };
    let requests: Vec<Vec<u8>> = (0..variants)
        .map(|seq| {
            let mut r = format!("PUB {subject} {inbox}.r {size}\r\n").into_bytes();
            r.extend_from_slice(&payload(kind, seq, size));
            r.extend_from_slice(b"\r\n");
            r
        })
        .collect();
    let request = &requests[0];
    if req_addr != resp_addr {
        // Until one request is answered, the interest has not crossed.
        let deadline = Instant::now() + RUN_LIMIT;
        loop {
            req_writer.lock().await.send(request).await?;
            let answered = tokio::time::timeout(Duration::from_millis(50), async {
                loop {
                    if let Op::Msg { .. } = requester.next().await? {
                        return Ok::<(), io::Error>(());
                    }
                }
            })
            .await;
            if let Ok(r) = answered {
                r?;
                break;
            }
            if Instant::now() > deadline {
                serve.abort();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the responder's interest never crossed",
                ));
            }
        }
        // Answers to the probes still in flight.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while let Ok(r) = tokio::time::timeout(Duration::from_millis(20), requester.next()).await {
            r?;
        }
    }
    let warmup = (count / 10).max(100);
    let mut samples = Vec::with_capacity(count);
    let deadline = Instant::now() + RUN_LIMIT;
    for i in 0..warmup + count {
        let request = &requests[i % requests.len()];
        let t0 = Instant::now();
        req_writer.lock().await.send(request).await?;
        loop {
            if let Op::Msg { .. } = requester.next().await? {
                break;
            }
        }
        if i >= warmup {
            samples.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        if Instant::now() > deadline {
            serve.abort();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request/reply too slow",
            ));
        }
    }
    serve.abort();
    samples.sort_by(f64::total_cmp);
    Ok(Latency {
        p50_us: percentile(&samples, 0.50),
        p99_us: percentile(&samples, 0.99),
    })
}

/// The `q` quantile of sorted `samples` (nearest rank).
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((samples.len() as f64) * q).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// The median of `values` (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 0.5), 50.0);
        assert_eq!(percentile(&s, 0.99), 99.0);
    }

    #[test]
    fn frames_are_well_formed() {
        let f = frames("a", 2, Payload::Filler, 0, 2, true);
        assert_eq!(f, b"PUB a 2\r\nxx\r\nPUB a 2\r\nxx\r\nPING\r\n");
    }
}
