//! Lame duck mode (`--signal ldm`, SIGUSR2) on both servers: every client
//! gets an INFO with `"ldm":true`, new clients are refused, the clients are
//! closed one by one after the grace period, and the process exits with
//! nats-server's log lines.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use canopy_tests::{Impl, ServerBuilder};

fn lame_duck_evicts_then_exits(imp: Impl) {
    let mut server = ServerBuilder::new(imp)
        .config("lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n")
        .start();
    let mut clients = Vec::new();
    // Two clients take asynchronous INFO (protocol 1), one does not.
    for protocol in [1, 1, 0] {
        let mut s = server.connect();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        write!(
            s,
            "CONNECT {{\"verbose\":false,\"protocol\":{protocol}}}\r\nPING\r\n"
        )
        .unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "PONG\r\n", "{imp}");
        // Protocol 1 clients get the connect_info INFO after the PONG.
        if protocol == 1 {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.contains("\"connect_info\":true"), "{imp}: {line:?}");
        }
        clients.push(r);
    }
    let out = Command::new(imp.bin())
        .args(["--signal", &format!("ldm={}", server.pid())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{imp}: {out:?}");
    let signalled = Instant::now();
    for r in &mut clients[..2] {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("INFO {"),
            "{imp}: {line:?}\n{}",
            server.log()
        );
        assert!(line.contains(",\"ldm\":true,"), "{imp}: {line:?}");
    }
    // New clients are refused at the socket (soon: the listener closes
    // around the time the INFO goes out).
    let refuse_by = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(server.addr()).is_ok() {
        assert!(
            Instant::now() < refuse_by,
            "{imp}: still accepting clients in lame duck mode"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Each client is closed after the grace period, one at a time (in
    // any order: nats-server walks a Go map), so watch all at once.
    let watchers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            std::thread::spawn(move || {
                let mut rest = Vec::new();
                let _ = r.read_to_end(&mut rest);
                (i, signalled.elapsed(), rest)
            })
        })
        .collect();
    let mut closed_at = Vec::new();
    for w in watchers {
        let (i, at, rest) = w.join().unwrap();
        closed_at.push(at);
        if i == 2 {
            let rest = String::from_utf8_lossy(&rest);
            assert!(
                !rest.contains("INFO"),
                "{imp}: a protocol 0 client got {rest:?}"
            );
        }
    }
    closed_at.sort();
    assert!(
        closed_at[0] >= Duration::from_millis(900),
        "{imp}: closed before the grace period: {closed_at:?}"
    );
    assert!(
        closed_at[2] - closed_at[0] >= Duration::from_millis(400),
        "{imp}: clients were not spread out: {closed_at:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.is_running() {
        assert!(
            Instant::now() < deadline,
            "{imp}: did not exit after lame duck mode"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.wait_for_log("[INF] Server Exiting..", Duration::from_secs(5));
    let mut at = 0;
    for line in [
        "[INF] Trapped \"user defined signal 2\" signal",
        "[INF] Entering lame duck mode, stop accepting new clients",
        "[INF] Closing existing clients",
        "[INF] Initiating Shutdown...",
        "[INF] Server Exiting..",
    ] {
        let Some(pos) = log[at..].find(line) else {
            panic!("{imp}: no {line:?} (in order) in:\n{log}");
        };
        at += pos;
    }
}

/// With no clients, lame duck mode shuts down at once.
fn lame_duck_without_clients_exits_at_once(imp: Impl) {
    let mut server = ServerBuilder::new(imp).start();
    let out = Command::new(imp.bin())
        .args(["--signal", &format!("ldm={}", server.pid())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{imp}: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.is_running() {
        assert!(Instant::now() < deadline, "{imp}: still running");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.wait_for_log("[INF] Initiating Shutdown...", Duration::from_secs(5));
}

canopy_tests::against_both! {
    lame_duck_evicts_then_exits,
    lame_duck_without_clients_exits_at_once,
}
