//! Process tests of the `canopy` binary over real loopback sockets, on
//! each runtime (`CANOPY_RUNTIME=tokio|smol`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The runtimes `CANOPY_RUNTIME` selects.
const RUNTIMES: [&str; 2] = ["tokio", "smol"];

fn start(name: &str, runtime: &str) -> Server {
    start_limited(name, runtime, None)
}

/// Starts canopy on `runtime`, with at most `fd_limit` open files if given.
fn start_limited(name: &str, runtime: &str, fd_limit: Option<u32>) -> Server {
    let dir = std::env::temp_dir().join(format!(
        "canopy-bin-{name}-{runtime}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let mut cmd = match fd_limit {
        // The shell execs canopy: the child's pid is canopy's.
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_canopy"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_canopy")),
    };
    let child = cmd
        .env("CANOPY_RUNTIME", runtime)
        .args(["-a", "127.0.0.1", "-p", "-1", "-l"])
        .arg(&log)
        .arg("-P")
        .arg(dir.join("pid"))
        .arg("--ports_file_dir")
        .arg(&dir)
        .spawn()
        .expect("canopy starts");
    let mut server = Server {
        child,
        port: 0,
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("client connections on ").nth(1) {
            if text.contains("Server is ready") {
                let addr = rest.split_whitespace().next().unwrap();
                let port = addr.rsplit(':').next().unwrap().parse().unwrap();
                server.port = port;
                return server;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no listening line in log: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_until(conn: &mut BufReader<TcpStream>, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        let mut line = String::new();
        if conn.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    seen
}

#[test]
fn log_pid_ports_files_and_protocol() {
    for runtime in RUNTIMES {
        log_pid_ports_files_and_protocol_on(runtime);
    }
}

fn log_pid_ports_files_and_protocol_on(runtime: &str) {
    let s = start("basic", runtime);
    let pid = s.child.id();
    let pid_file = std::fs::read_to_string(s.dir.join("pid")).unwrap();
    assert_eq!(pid_file.trim(), pid.to_string());
    let ports = std::fs::read_to_string(s.dir.join(format!("nats-server_{pid}.ports"))).unwrap();
    assert_eq!(
        ports,
        format!("{{\"nats\":[\"nats://127.0.0.1:{}\"]}}", s.port)
    );
    let log = std::fs::read_to_string(s.dir.join("log")).unwrap();
    let first = log.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("[{pid}] ")) && first.contains(" [INF] "),
        "{first}"
    );

    let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut sub = BufReader::new(stream);
    let info = read_until(&mut sub, "\n");
    assert!(info.starts_with("INFO {") && info.contains(&format!("\"port\":{}", s.port)));
    sub.get_mut()
        .write_all(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
        .unwrap();
    assert_eq!(read_until(&mut sub, "PONG"), "PONG\r\n");

    let mut publisher = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    publisher
        .write_all(b"CONNECT {\"verbose\":false}\r\nPUB foo 5\r\nhello\r\n")
        .unwrap();
    assert_eq!(read_until(&mut sub, "hello"), "MSG foo 1 5\r\nhello\r\n");
}

#[test]
fn unknown_flag_is_refused_like_nats_server() {
    let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .arg("-badflag")
        .output()
        .unwrap();
    // nats-server 2.15.1 exits 0 here, usage on stdout.
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: "));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("flag provided but not defined: -badflag"),
        "{err}"
    );
}

#[test]
fn sigterm_exits_cleanly_and_removes_ports_file() {
    for runtime in RUNTIMES {
        sigterm_exits_cleanly_and_removes_ports_file_on(runtime);
    }
}

fn sigterm_exits_cleanly_and_removes_ports_file_on(runtime: &str) {
    let mut s = start("term", runtime);
    let pid = s.child.id();
    let ports = s.dir.join(format!("nats-server_{pid}.ports"));
    assert!(ports.exists());
    Command::new("kill").arg(pid.to_string()).status().unwrap();
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!ports.exists());
    let mut log = String::new();
    std::fs::File::open(s.dir.join("log"))
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("Server Exiting"));
}

/// The names of a process's threads.
fn thread_names(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn canopy_runtime_selects_the_runtime() {
    // async-io (smol's reactor) runs a thread named `async-io`; tokio's
    // one-thread runtime adds no thread. A PONG first: the runtime runs.
    for (runtime, has_async_io) in [("tokio", false), ("smol", true)] {
        let s = start("rt", runtime);
        let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut conn = BufReader::new(stream);
        conn.get_mut().write_all(b"CONNECT {}\r\nPING\r\n").unwrap();
        assert!(read_until(&mut conn, "PONG").ends_with("PONG\r\n"));
        let names = thread_names(s.child.id());
        assert_eq!(
            names.iter().any(|n| n == "async-io"),
            has_async_io,
            "{runtime}: {names:?}"
        );
    }

    let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .env("CANOPY_RUNTIME", "async-std")
        .args(["-a", "127.0.0.1", "-p", "-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "canopy: CANOPY_RUNTIME=\"async-std\": expected \"tokio\" or \"smol\"\n"
    );
}

/// CPU time (user + system, in clock ticks) the process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Out of file descriptors with connections waiting in the backlog, the
/// server logs nats-server's accept error, pauses accepting instead of
/// spinning a core on a listener that stays readable, keeps serving its
/// clients, and accepts again once descriptors are free.
#[test]
fn accept_errors_pause_accepting_and_clients_are_still_served() {
    for runtime in RUNTIMES {
        let s = start_limited("emfile", runtime, Some(24));
        let pid = s.child.id();
        let stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut conn = BufReader::new(stream);
        conn.get_mut()
            .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            .unwrap();
        assert!(read_until(&mut conn, "PONG").ends_with("PONG\r\n"));
        // The kernel completes these connects; the server accepts until it
        // has no descriptor left, then every accept fails with EMFILE.
        let waiting: Vec<TcpStream> = (0..30)
            .map(|_| TcpStream::connect(("127.0.0.1", s.port)).unwrap())
            .collect();
        let last = waiting.last().unwrap();
        last.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut byte = [0u8; 1];
        let never_accepted = matches!(
            (&*last).read(&mut byte),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        );
        assert!(
            never_accepted,
            "{runtime}: the server never ran out of descriptors"
        );
        let log = std::fs::read_to_string(s.dir.join("log")).unwrap();
        assert!(
            log.contains("[ERR] Temporary Client Accept Error("),
            "{runtime}: {log}"
        );
        // Spinning on the listener would use a whole core (about 100
        // ticks a second); paused, the server is idle.
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_secs(1));
        let used = cpu_ticks(pid) - before;
        assert!(
            used < 30,
            "{runtime}: {used} ticks in a second while out of descriptors"
        );
        for round in 0..5 {
            conn.get_mut().write_all(b"PING\r\n").unwrap();
            let seen = read_until(&mut conn, "PONG");
            assert!(
                seen.ends_with("PONG\r\n"),
                "{runtime}: round {round}: {seen:?}"
            );
        }
        // Freed descriptors: accepting resumes within the longest pause.
        drop(waiting);
        let fresh = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        fresh
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut fresh = BufReader::new(fresh);
        assert!(
            read_until(&mut fresh, "\n").starts_with("INFO {"),
            "{runtime}: not accepted after descriptors were freed"
        );
    }
}
