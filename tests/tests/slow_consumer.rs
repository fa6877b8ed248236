//! A subscriber that stops reading is cut off (silently, as nats-server
//! does: protocol-core.md 2.9) while a publisher and a healthy subscriber
//! on the same subject carry on and lose nothing. Real sockets, both
//! servers, the same code.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use canopy_tests::{Impl, ServerBuilder};

const MESSAGES: usize = 16 * 1024;
const PAYLOAD: usize = 4096;

/// Connects, subscribes to `foo` with `sid`, and waits until the server
/// confirms the subscription with a PONG.
fn subscriber(addr: &str, sid: u32) -> (TcpStream, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::with_capacity(256 * 1024, s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO "), "{line:?}");
    write!(
        s,
        "CONNECT {{\"verbose\":false}}\r\nSUB foo {sid}\r\nPING\r\n"
    )
    .unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\r\n");
    (s, r)
}

/// Counts MSG frames until `want` arrived; answers server PINGs.
fn count_messages(mut s: TcpStream, mut r: BufReader<TcpStream>, want: usize) -> usize {
    let mut got = 0;
    let mut line = Vec::new();
    let mut payload = vec![0u8; PAYLOAD + 2];
    while got < want {
        line.clear();
        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with(b"MSG ") {
            r.read_exact(&mut payload).unwrap();
            got += 1;
        } else if line == b"PING\r\n" {
            s.write_all(b"PONG\r\n").unwrap();
        }
    }
    got
}

fn slow_consumer_is_cut_others_carry_on(imp: Impl) {
    let server = ServerBuilder::new(imp)
        .config("max_pending: 262144\nmax_payload: 65536\n")
        .start();
    let addr = server.addr();
    // The slow one subscribes, then never reads again.
    let (slow, _slow_reader) = subscriber(&addr, 1);
    let (good, good_reader) = subscriber(&addr, 2);
    let counter = thread::spawn(move || count_messages(good, good_reader, MESSAGES));

    let mut publisher = TcpStream::connect(&addr).unwrap();
    publisher
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut pr = BufReader::new(publisher.try_clone().unwrap());
    let mut line = String::new();
    pr.read_line(&mut line).unwrap();
    publisher
        .write_all(b"CONNECT {\"verbose\":false}\r\n")
        .unwrap();
    let mut frame = format!("PUB foo {PAYLOAD}\r\n").into_bytes();
    frame.extend(std::iter::repeat_n(b'x', PAYLOAD));
    frame.extend_from_slice(b"\r\n");
    let batch: Vec<u8> = frame.repeat(64);
    for _ in 0..MESSAGES / 64 {
        publisher.write_all(&batch).unwrap();
    }
    publisher.write_all(b"PING\r\n").unwrap();
    loop {
        line.clear();
        assert_ne!(
            pr.read_line(&mut line).unwrap(),
            0,
            "{imp}: publisher closed"
        );
        assert!(!line.starts_with("-ERR"), "{imp}: publisher got {line:?}");
        if line == "PONG\r\n" {
            break;
        }
    }
    assert_eq!(
        counter.join().unwrap(),
        MESSAGES,
        "{imp}: the healthy subscriber lost messages"
    );

    // The slow subscriber's socket ends: whatever the kernel buffered, then
    // EOF, with no -ERR (the reference closes slow consumers silently).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut slow = slow;
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    let mut tail = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "{imp}: slow consumer never closed"
        );
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 4096 {
                    tail.drain(..tail.len() - 4096);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{imp}: reading the slow consumer: {e}"),
        }
    }
    assert!(
        total < MESSAGES * (PAYLOAD + 20),
        "{imp}: the slow consumer got everything ({total} bytes); it was never cut"
    );
    assert!(
        !String::from_utf8_lossy(&tail).contains("-ERR"),
        "{imp}: slow consumer close sent an -ERR"
    );

    // The publisher's connection is still fine.
    publisher.write_all(b"PING\r\n").unwrap();
    line.clear();
    pr.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\r\n", "{imp}");
}

canopy_tests::against_both! {
    slow_consumer_is_cut_others_carry_on,
}
