//! A subscriber that keeps reading, only more slowly than a burst
//! arrives, keeps every message (issue 13): the server slows the
//! publisher down instead of cutting the reader, as nats-server does. A
//! 200 MB burst of 16 KiB messages is read at 50 MB/s; meanwhile an
//! unrelated publisher/subscriber pair finishes long before the burst
//! does, and the server's memory stays bounded. Real sockets, every
//! implementation, the same code.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use canopy_tests::{Impl, ServerBuilder};

const PAYLOAD: usize = 16 * 1024;
const MESSAGES: usize = 200 * 1024 * 1024 / PAYLOAD;
/// The slow reader's pace.
const READ_BYTES_PER_SEC: u64 = 50 * 1024 * 1024;
/// The unrelated pair's messages.
const OTHER: usize = 20_000;

/// Connects, sends CONNECT and `subs`, and waits for the PONG that
/// confirms them.
fn client(addr: &str, subs: &str) -> (TcpStream, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut r = BufReader::with_capacity(64 * 1024, s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO "), "{line:?}");
    write!(s, "CONNECT {{\"verbose\":false}}\r\n{subs}PING\r\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\r\n");
    (s, r)
}

/// Reads MSG frames of `size` bytes until `want` arrived (or the
/// connection ends), answering PINGs, at most `rate` bytes a second when
/// given. Returns how many arrived and any `-ERR` seen.
fn read_messages(
    mut s: TcpStream,
    mut r: BufReader<TcpStream>,
    want: usize,
    size: usize,
    rate: Option<u64>,
) -> (usize, Option<String>) {
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut got = 0;
    let mut line = Vec::new();
    let mut payload = vec![0u8; size + 2];
    while got < want {
        if let Some(rate) = rate {
            // A steady pace: never ahead of `rate` bytes a second.
            let due = Duration::from_secs_f64(bytes as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                thread::sleep(wait);
            }
        }
        line.clear();
        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with(b"MSG ") {
            if r.read_exact(&mut payload).is_err() {
                break;
            }
            got += 1;
            bytes += (line.len() + payload.len()) as u64;
        } else if line == b"PING\r\n" {
            s.write_all(b"PONG\r\n").unwrap();
        } else if line.starts_with(b"-ERR") {
            return (got, Some(String::from_utf8_lossy(&line).into_owned()));
        }
    }
    (got, None)
}

/// Publishes `n` messages of `size` bytes on `subject`, then waits for
/// the PONG that says the server processed them all.
fn publish(addr: &str, subject: &str, n: usize, size: usize) {
    let (mut s, mut r) = client(addr, "");
    let mut frame = format!("PUB {subject} {size}\r\n").into_bytes();
    frame.extend(std::iter::repeat_n(b'x', size));
    frame.extend_from_slice(b"\r\n");
    let per_batch = (256 * 1024 / frame.len()).max(1);
    let batch = frame.repeat(per_batch);
    let mut left = n;
    while left > 0 {
        let k = left.min(per_batch);
        s.write_all(&batch[..k * frame.len()]).unwrap();
        left -= k;
    }
    s.write_all(b"PING\r\n").unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        assert_ne!(r.read_line(&mut line).unwrap(), 0, "publisher closed");
        assert!(!line.starts_with("-ERR"), "publisher got {line:?}");
        if line == "PONG\r\n" {
            return;
        }
    }
}

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn slow_reader_keeps_every_message(imp: Impl) {
    let server = ServerBuilder::new(imp).start();
    let addr = server.addr();
    let (slow, slow_r) = client(&addr, "SUB burst 1\r\n");
    let reading = Arc::new(AtomicBool::new(true));
    let slow_done = {
        let reading = reading.clone();
        thread::spawn(move || {
            let r = read_messages(slow, slow_r, MESSAGES, PAYLOAD, Some(READ_BYTES_PER_SEC));
            reading.store(false, Ordering::SeqCst);
            r
        })
    };
    // The server's memory, sampled while the burst is on.
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, reading, pid) = (peak.clone(), reading.clone(), server.pid());
        thread::spawn(move || {
            while reading.load(Ordering::SeqCst) {
                peak.fetch_max(rss(pid), Ordering::SeqCst);
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let burst = {
        let addr = addr.clone();
        thread::spawn(move || publish(&addr, "burst", MESSAGES, PAYLOAD))
    };
    // An unrelated pair, started once the burst is under way.
    thread::sleep(Duration::from_millis(500));
    let (other, other_r) = client(&addr, "SUB other 1\r\n");
    let other_done = thread::spawn(move || read_messages(other, other_r, OTHER, 16, None));
    publish(&addr, "other", OTHER, 16);
    let (other_got, other_err) = other_done.join().unwrap();
    assert_eq!(
        (other_got, other_err),
        (OTHER, None),
        "{imp}: the unrelated pair lost messages"
    );
    assert!(
        reading.load(Ordering::SeqCst),
        "{imp}: the unrelated pair had to wait for the slow reader's burst"
    );
    burst.join().unwrap();
    let (got, err) = slow_done.join().unwrap();
    sampler.join().unwrap();
    assert_eq!(err, None, "{imp}: the slow reader got an error");
    assert_eq!(got, MESSAGES, "{imp}: the slow reader lost messages");
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        peak < 512 * 1024 * 1024,
        "{imp}: the server grew to {} MiB during a 200 MB burst",
        peak >> 20
    );
}

canopy_tests::against_both!(slow_reader_keeps_every_message);
