//! The command line and files that tools rely on (protocol-core.md section 6,
//! check 58), checked against canopy and, with the same code, nats-server:
//! the `Listening for client connections on` / `Server is ready` log lines,
//! `-l`, `-P`, `--ports_file_dir`, `-p -1`, `-DV`, and flags overriding the
//! config file.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use canopy_tests::{Impl, Server, ServerBuilder};

/// Reads the INFO line and answers one PING.
fn ping(server: &Server) -> serde_json::Value {
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut info = String::new();
    r.read_line(&mut info).expect("INFO line");
    let json = info
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("{}: first line is not INFO: {info:?}", server.imp()));
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("INFO JSON");
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    let mut pong = String::new();
    r.read_line(&mut pong).expect("PONG line");
    assert_eq!(pong, "PONG\r\n", "{}", server.imp());
    v
}

fn log_lines(imp: Impl) {
    let server = Server::start(imp, &[]);
    ping(&server);
    // The output is collected by another thread: wait for the last line
    // of start-up rather than race it.
    let log = server.wait_for_log("[INF] Server is ready", Duration::from_secs(5));
    assert!(
        log.contains(&format!(
            "[INF] Listening for client connections on 127.0.0.1:{}",
            server.port()
        )),
        "{imp}: no Listening line in:\n{log}"
    );
    assert!(
        log.contains("[INF] Server is ready"),
        "{imp}: no `Server is ready` line in:\n{log}"
    );
    // nats.rs' test harness scrapes this shape: `[pid] date time [INF] ...`.
    let line = log
        .lines()
        .find(|l| l.contains("Listening for client connections"))
        .unwrap();
    assert!(
        line.starts_with(&format!("[{}] ", server.pid())),
        "{imp}: log line does not start with [pid]: {line:?}"
    );
}

fn log_pid_and_ports_files(imp: Impl) {
    let server = ServerBuilder::new(imp)
        .args([
            "-l",
            "server.log",
            "-P",
            "server.pid",
            "--ports_file_dir",
            ".",
        ])
        .start();
    ping(&server);
    let dir = server.dir();
    let log = std::fs::read_to_string(dir.join("server.log")).expect("-l log file");
    assert!(
        log.contains(&format!(
            "Listening for client connections on 127.0.0.1:{}",
            server.port()
        )),
        "{imp}: log file:\n{log}"
    );
    let pid = std::fs::read_to_string(dir.join("server.pid")).expect("-P pid file");
    assert_eq!(pid.trim(), server.pid().to_string(), "{imp}: pid file");

    // nats-server names it after its executable: <exe>_<pid>.ports.
    let exe = imp.bin();
    let exe = exe.file_name().unwrap().to_string_lossy().into_owned();
    let names = [
        format!("{exe}_{}.ports", server.pid()),
        format!("nats-server_{}.ports", server.pid()),
    ];
    let ports =
        wait_for_ports_file(dir, |name| names.iter().any(|n| n == name)).unwrap_or_else(|| {
            let listing: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            panic!("{imp}: no ports file named {names:?}; dir has {listing:?}")
        });
    let v: serde_json::Value = serde_json::from_str(&ports).expect("ports file JSON");
    assert_eq!(
        v["nats"],
        serde_json::json!([format!("nats://127.0.0.1:{}", server.port())]),
        "{imp}: ports file {ports}"
    );
}

/// The text of the ports file in `dir` whose name `wanted` accepts, once
/// it is complete. nats-server writes it when every listener is up, which
/// can be just after the client port answers, so this waits (up to 10 s).
fn wait_for_ports_file(dir: &std::path::Path, wanted: impl Fn(&str) -> bool) -> Option<String> {
    let find = || {
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| wanted(&e.file_name().to_string_lossy()))
            .and_then(|e| std::fs::read_to_string(e.path()).ok())
            .filter(|text| text.trim_end().ends_with('}'))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(text) = find() {
            return Some(text);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// With monitoring and a cluster, the ports file names every listener as
/// nats-server writes it: `nats`, `monitoring` and `cluster`, one URL each
/// (random ports here, so the URLs are compared by shape).
fn ports_file_lists_every_listener(imp: Impl) {
    let server = ServerBuilder::new(imp)
        .config("cluster {\n  name: pf\n  listen: 127.0.0.1:-1\n}\n")
        .args(["-m", "-1", "--ports_file_dir", "."])
        .start();
    ping(&server);
    let dir = server.dir();
    let ports = wait_for_ports_file(dir, |name| name.ends_with(".ports"))
        .unwrap_or_else(|| panic!("{imp}: no ports file"));
    let v: serde_json::Value = serde_json::from_str(&ports).expect("ports file JSON");
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["cluster", "monitoring", "nats"], "{imp}: {ports}");
    for (key, scheme) in [
        ("nats", "nats://127.0.0.1:"),
        ("monitoring", "http://127.0.0.1:"),
        ("cluster", "nats://127.0.0.1:"),
    ] {
        let urls = v[key].as_array().expect("a list");
        assert_eq!(urls.len(), 1, "{imp}: {key} in {ports}");
        let url = urls[0].as_str().unwrap_or_default();
        let port = url.strip_prefix(scheme).and_then(|p| p.parse::<u16>().ok());
        assert!(port.is_some_and(|p| p > 0), "{imp}: {key} {url}");
    }
    assert!(
        ports.starts_with("{\"nats\":[")
            && ports.contains("],\"monitoring\":[")
            && ports.contains("],\"cluster\":["),
        "{imp}: order of {ports}"
    );
}

fn random_port(imp: Impl) {
    let server = ServerBuilder::new(imp).random_port().start();
    assert_ne!(server.port(), 0);
    let info = ping(&server);
    assert_eq!(info["port"], server.port(), "{imp}: INFO port");
}

fn debug_trace_flags(imp: Impl) {
    let server = Server::start(imp, &["-DV"]);
    let info = ping(&server);
    assert_eq!(info["proto"], 1);
}

fn flags_override_config(imp: Impl) {
    // The builder passes `-p <port>` after `-c`; the config says otherwise.
    let server = ServerBuilder::new(imp)
        .config("port: 1\nmax_payload: 2KB\n")
        .args(["--user", "u", "--pass", "p"])
        .start();
    let mut s = TcpStream::connect(server.addr()).expect("flag port wins");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut info = String::new();
    r.read_line(&mut info).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(info.trim().strip_prefix("INFO ").unwrap()).unwrap();
    assert_eq!(v["max_payload"], 2048, "{imp}: config max_payload");
    assert_eq!(v["auth_required"], true, "{imp}: --user/--pass");
    s.write_all(b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n")
        .unwrap();
    let mut pong = String::new();
    r.read_line(&mut pong).unwrap();
    assert_eq!(pong, "PONG\r\n", "{imp}");
}

canopy_tests::against_both! {
    log_lines,
    log_pid_and_ports_files,
    ports_file_lists_every_listener,
    random_port,
    debug_trace_flags,
    flags_override_config,
}

/// The protocol trace of a short session under `-V`: what each server
/// logged for the client, with the log prefix and the cid masked.
fn trace_of_a_session(imp: Impl) -> Vec<String> {
    let server = Server::start(imp, &["-V"]);
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    s.write_all(
        b"CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo 1\r\nSUB bar q 2\r\n\
          PUB foo 5\r\nhello\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPUB bar r.1 2\r\nhi\r\n\
          UNSUB 1\r\nPING\r\n",
    )
    .unwrap();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "PONG\r\n" {
            break;
        }
    }
    let log = server.wait_for_log("->> [PONG]", Duration::from_secs(5));
    log.lines()
        .filter(|l| l.contains("[TRC] ") && l.contains(" - cid:"))
        .filter_map(|l| l.split_once(" - cid:").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once(" - ").map(|(_, what)| what.to_string()))
        .collect()
}

/// `-V` prints the protocol trace nats-server prints, line for line
/// (issue 13: tools and tests read these lines).
#[test]
fn trace_lines_match_nats_server() {
    let reference = trace_of_a_session(Impl::NatsServer);
    assert!(
        reference.len() >= 18,
        "the reference traced only {reference:?}"
    );
    for imp in [Impl::Canopy, Impl::CanopySmol] {
        assert_eq!(trace_of_a_session(imp), reference, "{imp}");
    }
}
