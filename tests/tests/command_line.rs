//! The command line's refusals and the `--signal` command, run through
//! both binaries with the same arguments: exit codes and messages must
//! agree with nats-server 2.15.1 (protocol-core.md section 6).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use canopy_tests::{Impl, ServerBuilder, TempDir};

fn run(imp: Impl, args: &[&str]) -> Output {
    let mut child = imp
        .command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    // Nothing here may start a server; a hang is a failure, not a wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{imp} {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Exit code, stderr with the program's own name masked, and whether the
/// usage went to stdout.
fn outcome(imp: Impl, args: &[&str]) -> (Option<i32>, String, bool) {
    let out = run(imp, args);
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace("canopy processes", "nats-server processes");
    let usage = String::from_utf8_lossy(&out.stdout).starts_with("\nUsage: ");
    (out.status.code(), stderr, usage)
}

#[test]
fn refusals_match_nats_server() {
    let cases: &[&[&str]] = &[
        &["-badflag"],
        &["--badflag=1"],
        &["-p"],
        &["--routes"],
        &["--cluster", "foo"],
        &["--cluster", "nats://127.0.0.1"],
        &["--cluster", "nats://127.0.0.1:abc"],
        &["--cluster", "127.0.0.1:5000x"],
        &["--routes", "nats://127.0.0.1:1"],
        &["--cluster_name", "a", "--routes", "nats://127.0.0.1:1"],
        &["--connect_retries", "x"],
        &["-sl"],
        &["-p", "x"],
        &["-p", "1.5"],
        &["-m", "http"],
        &["-D=maybe"],
        &["---x"],
        &["-=x"],
        &["foo"],
        &["-D", "false"],
        &["--", "-p", "1"],
        &["-t"],
        // (The pid is resolved first: `bogus` alone depends on which
        // servers run, so it is not compared.)
        &["--signal", "bogus=99999999"],
        &["--signal", "bogus=/nonexistent/x.pid"],
        &["--signal", "reload=/nonexistent/x.pid"],
        &["--signal", "reload=abc"],
        &["--signal=quit=notapid"],
        &["-h"],
        &["help"],
    ];
    let mut diffs = Vec::new();
    for args in cases {
        let ours = outcome(Impl::Canopy, args);
        let theirs = outcome(Impl::NatsServer, args);
        if ours != theirs {
            diffs.push(format!(
                "{args:?}\n  canopy:      {ours:?}\n  nats-server: {theirs:?}"
            ));
        }
    }
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
}

#[test]
fn version_line_starts_like_nats_server() {
    for args in [&["-v"][..], &["--version"], &["version"], &["-v", "extra"]] {
        let ours = String::from_utf8_lossy(&run(Impl::Canopy, args).stdout).into_owned();
        let theirs = String::from_utf8_lossy(&run(Impl::NatsServer, args).stdout).into_owned();
        assert_eq!(theirs, "nats-server: v2.15.1\n", "{args:?}");
        assert!(
            ours.starts_with("nats-server: v2.15.1 "),
            "{args:?}: {ours:?}"
        );
    }
}

/// `--signal` with a pid file content that nats-server itself would
/// write, and the signals it maps to, on a running server.
fn signal_by_pid_file(imp: Impl) {
    let dir = TempDir::new("signal");
    let pid_file = dir.path().join("server.pid");
    let mut server = ServerBuilder::new(imp)
        .args(["-P", pid_file.to_str().unwrap()])
        .start();
    // reopen (SIGUSR1) keeps it running.
    let out = run(
        imp,
        &["--signal", &format!("reopen={}", pid_file.display())],
    );
    assert_eq!(out.status.code(), Some(0), "{imp}: {out:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.is_running(), "{imp}: reopen stopped the server");
    // A missing process.
    let out = outcome(imp, &["--signal", "term=99999999"]);
    assert_eq!(out.0, Some(1), "{imp}");
    assert_eq!(
        out.1, "nats-server: \nsignal \"term\" 99999999: no such process\n",
        "{imp}"
    );
    // quit (SIGINT) by pid stops it.
    let out = run(imp, &["--signal", &format!("quit={}", server.pid())]);
    assert_eq!(out.status.code(), Some(0), "{imp}: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.is_running() {
        assert!(
            Instant::now() < deadline,
            "{imp}: quit did not stop the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.log().contains("Server Exiting.."),
        "{imp}: no clean exit:\n{}",
        server.log()
    );
}

/// Log rotation: move the file away, `--signal reopen`, and the server
/// writes to a fresh file at the old path.
fn reopen_rotates_the_log_file(imp: Impl) {
    let server = ServerBuilder::new(imp).args(["-l", "server.log"]).start();
    let path = server.dir().join("server.log");
    let rotated = server.dir().join("server.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    let out = run(imp, &["--signal", &format!("reopen={}", server.pid())]);
    assert_eq!(out.status.code(), Some(0), "{imp}: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = std::fs::read_to_string(&path).unwrap_or_default();
        if fresh.contains("[INF] File log re-opened") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{imp}: no fresh log file: {fresh:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("Server is ready"), "{imp}: {old}");
    assert!(
        old.contains("[INF] Trapped \"user defined signal 1\" signal"),
        "{imp}: {old}"
    );
}

canopy_tests::against_both! {
    signal_by_pid_file,
    reopen_rotates_the_log_file,
}

/// A file with blocks whose feature canopy lacks starts the server, and
/// the log names each such key (never silently ignored).
#[test]
fn unsupported_blocks_start_with_a_warning() {
    let server = ServerBuilder::new(Impl::Canopy)
        .config(
            "leafnodes {\n  listen: 127.0.0.1:-1\n  remotes = [ { url: \"nats://127.0.0.1:1\", proxy: { url: \"http://127.0.0.1:3128\" } } ]\n}\njetstream: true\ncluster {\n  name: c1\n  listen: 127.0.0.1:-1\n  connect_backoff: true\n}\n",
        )
        .start();
    let log = server.wait_for_log("Server is ready", Duration::from_secs(10));
    // Clustering and leaf nodes work; of their blocks only what canopy
    // lacks is named.
    assert!(
        log.contains("Listening for route connections on 127.0.0.1:"),
        "{log}"
    );
    assert!(
        log.contains("Listening for leafnode connections on 127.0.0.1:"),
        "{log}"
    );
    for key in [
        "leafnodes.remotes.proxy",
        "jetstream",
        "cluster.connect_backoff",
    ] {
        assert!(
            log.lines().any(|l| l.contains("[WRN] ")
                && l.contains(&format!("{key} ("))
                && l.contains("not supported by canopy yet")),
            "no warning for {key}:\n{log}"
        );
    }
}

/// Operator (JWT) mode starts; a `URL(...)` account resolver (an HTTP
/// account server, which the engine would have to call) is refused at
/// start with a clear message, never half-applied (`-t` still checks
/// such files like nats-server).
#[test]
fn operator_mode_starts_and_url_resolvers_are_refused_clearly() {
    let root = canopy_tests::workspace_root();
    let dir = TempDir::new("url-resolver");
    let conf = dir.path().join("url.conf");
    std::fs::write(
        &conf,
        format!(
            "operator: \"{}\"\nresolver: URL(\"http://127.0.0.1:9/jwt/v1/accounts/\")\n",
            root.join("tests/configs/inc/operator.jwt").display()
        ),
    )
    .expect("config written");
    let out = Command::new(Impl::Canopy.bin())
        .args(["-a", "127.0.0.1", "-p", "-1", "-c"])
        .arg(&conf)
        .output()
        .expect("canopy runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("URL(...) account resolvers are not supported by canopy"),
        "{err}"
    );
    let server = ServerBuilder::new(Impl::Canopy)
        .config(&format!(
            "operator: \"{}\"\nsystem_account: ABBBMCGFJ34NNNO6LAMIQCGWVFRL6AUA7FGJ4ASFGBTTVP7NJPMDZKED\nresolver: MEMORY\n{}\n",
            root.join("tests/configs/inc/operator.jwt").display(),
            std::fs::read_to_string(root.join("tests/configs/inc/resolver_preload.conf"))
                .expect("preload file")
        ))
        .start();
    let mut c = server.connect();
    let mut info = [0u8; 5];
    std::io::Read::read_exact(&mut c, &mut info).expect("INFO");
    assert_eq!(&info, b"INFO ");
}

/// Operator configs nats-server refuses at start get its words and exit
/// code from canopy too; the good ones start on both.
#[test]
fn operator_configs_get_nats_servers_start_verdicts() {
    let mut op = canopy_tests::operator::Operator::new(51);
    let acc = op.account("APP");
    let dir = op.dir().to_path_buf();
    let jwt = op.jwt_path();
    let jwt = jwt.display();
    let sys = &op.system.keys.public;
    let full = format!("{{ type: full, dir: {:?} }}", dir.join("jwt").display());
    let cases = [
        format!("operator: \"{jwt}\"\nresolver: MEMORY\nno_auth_user: bob\n"),
        format!("operator: \"{jwt}\"\nresolver: MEMORY\nauthorization {{ users: [ {{user: a, password: b}} ] }}\n"),
        format!("operator: \"{jwt}\"\nresolver: MEMORY\naccounts {{ APP {{ users: [ {{user: a, password: b}} ] }} }}\n"),
        format!("operator: \"{jwt}\"\nresolver: MEMORY\nsystem_account: NOTANACCOUNT\n"),
        format!("operator: \"{jwt}\"\nresolver: MEMORY\nsystem_account: {}\n", acc.keys.public),
        format!("operator: \"{jwt}\"\nresolver: MEMORY\nsystem_account: {sys}\nresolver_preload: {{ {}: {} }}\n", acc.keys.public, acc.jwt),
        format!("operator: \"{jwt}\"\nresolver: {full}\nsystem_account: \"\"\nno_system_account: false\n"),
    ];
    let mut diffs = Vec::new();
    for (i, text) in cases.iter().enumerate() {
        let path = dir.join(format!("start{i}.conf"));
        std::fs::write(&path, text).expect("config written");
        let path = path.display().to_string();
        let args = ["-a", "127.0.0.1", "-p", "-1", "-c", path.as_str()];
        let verdict = |imp: Impl| {
            let mut child = imp
                .command()
                .args(args)
                .stderr(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("binary starts");
            let deadline = Instant::now() + Duration::from_secs(1);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            let err = String::from_utf8_lossy(&out.stderr);
            // Refused: the one `nats-server: ...` line; running: none.
            err.lines()
                .find(|l| l.starts_with("nats-server: "))
                .unwrap_or("(started)")
                .to_string()
        };
        let (ours, theirs) = (verdict(Impl::Canopy), verdict(Impl::NatsServer));
        if ours != theirs {
            diffs.push(format!(
                "{text}\n  canopy:      {ours}\n  nats-server: {theirs}"
            ));
        }
    }
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
}

/// TLS inputs get nats-server's verdicts from both binaries: `-t`
/// accepts the TLS config files, and the command-line mistakes (`-ms`
/// without client TLS, `--tlscert` without `--tlskey`) are refused with
/// nats-server's words and exit code. What canopy's TLS cannot honour
/// (`certificates`, several certificates chosen by SNI) is refused at
/// start rather than served with another certificate, where nats-server
/// accepts it.
#[test]
fn tls_inputs_get_nats_servers_verdicts() {
    let root = canopy_tests::workspace_root();
    let certs = "tests/configs/certs";
    let dir = TempDir::new("tls-verdicts");
    let route_tls = dir.path().join("route_tls.conf");
    std::fs::write(
        &route_tls,
        format!(
            "cluster {{\n  name: c\n  listen: 127.0.0.1:-1\n  tls {{\n    cert_file: \"{certs}/server-cert.pem\"\n    key_file: \"{certs}/server-key.pem\"\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let route_tls = route_tls.to_string_lossy().into_owned();
    let cert = format!("{certs}/server-cert.pem");
    let run = |imp: Impl, args: &[&str]| {
        let out = Command::new(imp.bin())
            .args(args)
            .current_dir(&root)
            .output()
            .expect("server runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    for imp in [Impl::Canopy, Impl::NatsServer] {
        for conf in ["tests/configs/tls_top_level.conf", route_tls.as_str()] {
            let (code, text) = run(imp, &["-t", "-c", conf]);
            assert_eq!(code, Some(0), "{imp}: -t {conf}: {text}");
            assert!(text.contains("is valid"), "{imp}: {text}");
        }
        let (code, text) = run(imp, &["-a", "127.0.0.1", "-p", "-1", "-ms", "-1"]);
        assert_eq!(code, Some(1), "{imp}: -ms without TLS: {text}");
        assert!(
            text.contains("Can't start monitoring: TLS cert and key required for HTTPS"),
            "{imp}: {text}"
        );
        let (code, text) = run(
            imp,
            &["-a", "127.0.0.1", "-p", "-1", "--tls", "--tlscert", &cert],
        );
        assert_eq!(code, Some(1), "{imp}: --tlscert alone: {text}");
        assert!(
            text.contains("TLS Server private key must be present and valid"),
            "{imp}: {text}"
        );
    }
    let several = dir.path().join("several.conf");
    std::fs::write(
        &several,
        format!(
            "tls {{ certificates: [ {{ cert_file: \"{certs}/server-cert.pem\", key_file: \"{certs}/server-key.pem\" }} ] }}\n"
        ),
    )
    .unwrap();
    let several = several.to_string_lossy().into_owned();
    let (code, text) = run(Impl::Canopy, &["-t", "-c", &several]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("tls: certificates is not supported by canopy"),
        "{text}"
    );
    let (code, text) = run(Impl::NatsServer, &["-t", "-c", &several]);
    assert_eq!(code, Some(0), "{text}");
}
