//! Configuration reload on SIGHUP (`--signal reload`), both servers: a
//! changed limit reaches new clients, a change that cannot be made on a
//! running server is refused with nats-server's words and changes nothing;
//! what a new authorization forbids is taken back from live clients.

use std::io::{BufRead, BufReader, Write};
use std::process::Command;
use std::time::Duration;

use canopy_tests::{Impl, Server, ServerBuilder};

fn info(server: &Server) -> serde_json::Value {
    let s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(line.trim().strip_prefix("INFO ").unwrap()).unwrap()
}

fn reload(server: &Server, imp: Impl) {
    let out = Command::new(imp.bin())
        .args(["--signal", &format!("reload={}", server.pid())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{imp}: {out:?}");
}

fn sighup_changes_a_limit_clients_see(imp: Impl) {
    let server = ServerBuilder::new(imp)
        .config("max_payload: 2048\n")
        .start();
    assert_eq!(info(&server)["max_payload"], 2048, "{imp}");
    let conf = server.dir().join("server.conf");
    std::fs::write(&conf, "max_payload: 1000\n").unwrap();
    reload(&server, imp);
    server.wait_for_log(
        "[INF] Reloaded server configuration",
        Duration::from_secs(10),
    );
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("[INF] ").nth(1))
        .skip_while(|l| !l.starts_with("Trapped \"hangup\""))
        .take(5)
        .collect();
    assert_eq!(
        lines[..4],
        [
            "Trapped \"hangup\" signal",
            "Reloaded: authorization users",
            "Reloaded: accounts",
            "Reloaded: max_payload = 1000"
        ],
        "{imp}"
    );
    assert_eq!(
        info(&server)["max_payload"],
        1000,
        "{imp}: INFO after reload"
    );
    // A publish above the new limit is refused.
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    s.write_all(b"CONNECT {\"verbose\":false}\r\nPUB foo 1500\r\n")
        .unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "-ERR 'Maximum Payload Violation'\r\n", "{imp}");
}

fn sighup_keeps_flags_and_refuses_a_rename(imp: Impl) {
    let server = ServerBuilder::new(imp)
        .config("max_payload: 2048\n")
        .start();
    let conf = server.dir().join("server.conf");
    let other = server.port() + 1;
    std::fs::write(&conf, format!("port: {other}\nmax_payload: 1000\n")).unwrap();
    // `-p` on the command line overrides the file on reload as at start:
    // the port stays, and only max_payload changes.
    reload(&server, imp);
    server.wait_for_log(
        "[INF] Reloaded server configuration",
        Duration::from_secs(10),
    );
    assert_eq!(info(&server)["port"], server.port(), "{imp}");
    assert_eq!(info(&server)["max_payload"], 1000, "{imp}");
    std::fs::write(&conf, "max_payload: 1000\nserver_name: renamed\n").unwrap();
    reload(&server, imp);
    server.wait_for_log(
        "[ERR] Failed to reload server configuration: config reload not supported for ServerName: old=, new=renamed",
        Duration::from_secs(10),
    );
    assert_eq!(
        info(&server)["max_payload"],
        1000,
        "{imp}: a refused reload changed nothing"
    );
}

/// `/varz` shows the configured feature flags nats-server knows (over
/// their defaults); a reload may not change the flags.
fn sighup_refuses_new_feature_flags(imp: Impl) {
    let http = canopy_tests::free_port();
    let server = ServerBuilder::new(imp)
        .args(["-m", &http.to_string()])
        .config("feature_flags {\n  js_ack_fc_v2: true\n  zzz_unknown: true\n}\n")
        .start();
    let flags = || -> serde_json::Value {
        let (status, body) = canopy_tests::http_get(http, "/varz");
        assert_eq!(status, 200, "{imp}: {body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["feature_flags"].clone()
    };
    let want = serde_json::json!({
        "js_ack_fc_v2": true,
        "js_api_reply_v2": false,
        "js_raft_delete_range": true,
        "js_snapshot_sources": false,
    });
    assert_eq!(flags(), want, "{imp}");
    let conf = server.dir().join("server.conf");
    std::fs::write(&conf, "feature_flags {\n  js_ack_fc_v2: false\n}\n").unwrap();
    reload(&server, imp);
    server.wait_for_log(
        "[ERR] Failed to reload server configuration: config reload not supported for FeatureFlags: old=map[js_ack_fc_v2:true zzz_unknown:true], new=map[js_ack_fc_v2:false]",
        Duration::from_secs(10),
    );
    assert_eq!(flags(), want, "{imp}: a refused reload changed nothing");
}

/// A raw client that subscribed to `subject` on `server` and saw the PONG.
fn raw_subscriber(server: &Server, subject: &str) -> BufReader<std::net::TcpStream> {
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.write_all(format!("CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\nPING\r\n").as_bytes())
        .unwrap();
    let mut r = BufReader::new(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut line = String::new();
    while !line.starts_with("PONG") {
        line.clear();
        let _ = r.read_line(&mut line);
        assert!(std::time::Instant::now() < deadline, "no PONG");
    }
    r
}

/// Publishes on `from` until the subscriber `sub` sees a message, or
/// `within` passes; whether it did.
fn crosses(
    from: &Server,
    sub: &mut BufReader<std::net::TcpStream>,
    subject: &str,
    within: Duration,
) -> bool {
    let mut p = from.connect();
    p.write_all(b"CONNECT {\"verbose\":false}\r\n").unwrap();
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        p.write_all(format!("PUB {subject} 1\r\nx\r\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        while sub.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.starts_with("MSG ") {
                return true;
            }
            line.clear();
        }
    }
    false
}

fn sighup_adds_and_removes_routes(imp: Impl) {
    let (ra, rb) = (canopy_tests::free_port(), canopy_tests::free_port());
    let conf = |listen: u16, routes: &str| {
        format!(
            "cluster {{\n  name: rl\n  listen: \"127.0.0.1:{listen}\"\n  routes: [{routes}]\n}}\n"
        )
    };
    let b = ServerBuilder::new(imp).config(&conf(rb, "")).start();
    let a = ServerBuilder::new(imp).config(&conf(ra, "")).start();
    let mut on_b = raw_subscriber(&b, "rl.x");
    assert!(
        !crosses(&a, &mut on_b, "rl.x", Duration::from_millis(600)),
        "{imp}: no route yet"
    );
    std::fs::write(
        a.dir().join("server.conf"),
        conf(ra, &format!("\"nats-route://127.0.0.1:{rb}\"")),
    )
    .unwrap();
    reload(&a, imp);
    a.wait_for_log("Reloaded: cluster routes", Duration::from_secs(10));
    assert!(
        crosses(&a, &mut on_b, "rl.x", Duration::from_secs(10)),
        "{imp}: route added"
    );
    std::fs::write(a.dir().join("server.conf"), conf(ra, "")).unwrap();
    reload(&a, imp);
    a.wait_for_log("Route Removed", Duration::from_secs(10));
    // Neither side dials the other again.
    let mut on_b = raw_subscriber(&b, "rl.y");
    assert!(
        !crosses(&a, &mut on_b, "rl.y", Duration::from_millis(1500)),
        "{imp}: route removed"
    );
}

/// Logs in as `user` and sends `then`; returns the socket after its PONG.
fn login(
    server: &Server,
    user: &str,
    pass: &str,
    then: &str,
) -> (std::net::TcpStream, BufReader<std::net::TcpStream>) {
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    write!(
        s,
        "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n{then}PING\r\n"
    )
    .unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\r\n", "{user}");
    (s, r)
}

/// Reads lines until `want` lines came or the connection ended (EOF);
/// a read timeout ends the wait too.
fn lines(r: &mut BufReader<std::net::TcpStream>, want: usize) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    while out.len() < want {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) => return (out, true),
            Ok(_) => out.push(line),
            Err(_) => break,
        }
    }
    (out, false)
}

/// A reload takes back what the new authorization forbids, from clients
/// already connected: a revoked subscription gets its -ERR and no more
/// messages, a removed user is closed silently, a changed password is an
/// authorization violation.
fn reload_revokes_live_permissions_and_users(imp: Impl) {
    let users = |alice: &str, rest: &str| {
        format!("authorization {{\n  users: [\n    {{user: alice, password: pa{alice}}}\n{rest}  ]\n}}\n")
    };
    let server = ServerBuilder::new(imp)
        .config(&users(
            "",
            "    {user: bob, password: pb}\n    {user: carol, password: pc}\n",
        ))
        .start();
    let (_a, mut alice) = login(&server, "alice", "pa", "SUB _INBOX.x 1\r\nSUB foo 2\r\n");
    let (_b, mut bob) = login(&server, "bob", "pb", "");
    let (_c, mut carol) = login(&server, "carol", "pc", "");
    let (mut p, mut pr) = login(&server, "alice", "pa", "");
    let conf = server.dir().join("server.conf");
    std::fs::write(
        &conf,
        users(
            ", permissions: {subscribe: {deny: [\"_INBOX.>\"]}}",
            "    {user: carol, password: changed}\n",
        ),
    )
    .unwrap();
    reload(&server, imp);
    server.wait_for_log(
        "[INF] Reloaded server configuration",
        Duration::from_secs(10),
    );
    let (got, _) = lines(&mut alice, 1);
    assert_eq!(
        got,
        ["-ERR 'Permissions Violation for Subscription to \"_INBOX.x\" (sid \"1\")'\r\n"],
        "{imp}: alice"
    );
    let (got, closed) = lines(&mut bob, 1);
    assert!(
        got.is_empty() && closed,
        "{imp}: bob got {got:?}, closed {closed}"
    );
    let (got, closed) = lines(&mut carol, 2);
    assert_eq!(got, ["-ERR 'Authorization Violation'\r\n"], "{imp}: carol");
    assert!(closed, "{imp}: carol stays connected");
    // The revoked subscription receives nothing; the other one does.
    p.write_all(b"PUB _INBOX.x 2\r\nhi\r\nPUB foo 2\r\nyo\r\nPING\r\n")
        .unwrap();
    let (got, _) = lines(&mut pr, 1);
    assert_eq!(got, ["PONG\r\n"], "{imp}: publisher");
    let (got, _) = lines(&mut alice, 2);
    assert_eq!(
        got,
        ["MSG foo 2 2\r\n", "yo\r\n"],
        "{imp}: alice after reload"
    );
}

canopy_tests::against_both! {
    reload_revokes_live_permissions_and_users,
    sighup_adds_and_removes_routes,
    sighup_changes_a_limit_clients_see,
    sighup_keeps_flags_and_refuses_a_rename,
    sighup_refuses_new_feature_flags,
}
