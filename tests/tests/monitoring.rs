//! The monitoring port, differentially: the same clients do the same
//! things against nats-server 2.15.1 and canopy (each started with `-m`),
//! then every endpoint is fetched from both. Key sets and JSON value types
//! must agree (apart from keys listed with the feature they belong to), and
//! the values that must agree do: connection, message, byte and
//! subscription counts, close reasons, client names, error texts.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use serde_json::Value;

/// Keys only nats-server prints, each with why canopy does not (yet).
const REFERENCE_ONLY: &[(&str, &str)] = &[
    (
        "system_account",
        "no system account until the accounts issue",
    ),
    (
        "imports",
        "the system account's service imports: accounts issue",
    ),
];

struct Mon {
    server: Server,
    http: u16,
}

fn start(imp: Impl) -> Mon {
    let http = free_port();
    let server = ServerBuilder::new(imp)
        .args(["-m", &http.to_string()])
        .start();
    Mon { server, http }
}

/// One raw HTTP/1.1 GET: (status, body).
fn get(m: &Mon, path: &str) -> (u16, String) {
    canopy_tests::http_get(m.http, path)
}

fn json(m: &Mon, path: &str) -> Value {
    let (status, body) = get(m, path);
    assert_eq!(status, 200, "{} {path}: {body}", m.server.imp());
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// A client that said CONNECT and got the PONG of a PING.
fn client(m: &Mon, name: &str, ops: &str) -> (TcpStream, BufReader<TcpStream>) {
    let mut s = m.server.connect();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    write!(
        s,
        "CONNECT {{\"verbose\":false,\"name\":\"{name}\",\"lang\":\"test\",\"version\":\"9.9\"}}\r\n{ops}PING\r\n"
    )
    .unwrap();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "PONG\r\n" {
            return (s, r);
        }
    }
}

/// Subscription details without cids, in sid order (nats-server lists
/// them in Go map order).
fn sorted_by_sid(v: &Value) -> Value {
    let Some(list) = v.as_array() else {
        return Value::Null;
    };
    let mut list: Vec<Value> = list
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.as_object_mut().map(|o| o.remove("cid"));
            d
        })
        .collect();
    list.sort_by_key(|d| d["sid"].as_str().unwrap_or_default().to_string());
    Value::Array(list)
}

fn shape(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The elements of an array merged into one: objects by key union (first
/// value seen wins), anything else the first element.
fn union(items: &[Value]) -> Option<Value> {
    let first = items.first()?;
    if !first.is_object() {
        return Some(first.clone());
    }
    let mut merged = serde_json::Map::new();
    for item in items {
        if let Some(o) = item.as_object() {
            for (k, v) in o {
                merged.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    Some(Value::Object(merged))
}

/// Key-set and type differences between two JSON documents.
fn compare_shape(path: &str, ours: &Value, theirs: &Value, diffs: &mut Vec<String>) {
    if shape(ours) != shape(theirs) {
        diffs.push(format!(
            "{path}: canopy {} vs nats-server {}",
            shape(ours),
            shape(theirs)
        ));
        return;
    }
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: BTreeSet<&String> = a.keys().collect();
            let kb: BTreeSet<&String> = b.keys().collect();
            for k in kb.difference(&ka) {
                if !REFERENCE_ONLY.iter().any(|(r, _)| r == k) {
                    diffs.push(format!("{path}.{k}: missing in canopy"));
                }
            }
            for k in ka.difference(&kb) {
                diffs.push(format!("{path}.{k}: only in canopy"));
            }
            for k in ka.intersection(&kb) {
                compare_shape(&format!("{path}.{k}"), &a[*k], &b[*k], diffs);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            // Element order can be Go map order: compare the union of the
            // elements' keys (first value seen per key) on each side.
            if let (Some(x), Some(y)) = (union(a), union(b)) {
                compare_shape(&format!("{path}[]"), &x, &y, diffs);
            }
        }
        _ => {}
    }
}

#[test]
fn endpoints_agree_with_nats_server() {
    let ours = start(Impl::Canopy);
    let theirs = start(Impl::NatsServer);
    let base: Vec<u64> = [&ours, &theirs]
        .iter()
        .map(|m| json(m, "/varz")["subscriptions"].as_u64().unwrap())
        .collect();

    let mut keep = Vec::new();
    for m in [&ours, &theirs] {
        let sub = client(m, "sub", "SUB foo 1\r\nSUB bar q 2\r\nSUB foo.> 3\r\n");
        let (mut p, mut pr) = client(m, "pub", "");
        p.write_all(b"PUB foo 5\r\nhello\r\nPUB foo 5\r\nworld\r\nPUB bar 2\r\nhi\r\nPING\r\n")
            .unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            pr.read_line(&mut line).unwrap();
            if line == "PONG\r\n" {
                break;
            }
        }
        // A client that leaves: it shows in state=closed.
        let (gone, _) = client(m, "gone", "SUB x 1\r\n");
        gone.shutdown(std::net::Shutdown::Both).unwrap();
        keep.push((sub, (p, pr)));
    }
    // Until each server has seen the third client leave.
    for m in [&ours, &theirs] {
        let by = std::time::Instant::now() + Duration::from_secs(5);
        while json(m, "/varz")["connections"] != 2 {
            assert!(std::time::Instant::now() < by, "the closed client stays");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    let mut diffs = Vec::new();
    for path in [
        "/varz",
        "/connz",
        "/connz?subs=1",
        "/connz?subs=detail",
        "/connz?state=closed",
        "/connz?sort=msgs_from&auth=true",
        "/subsz?subs=1",
        "/accountz",
        "/accountz?acc=$G",
        "/accstatz",
        "/routez",
        "/gatewayz",
        "/leafz",
    ] {
        let (a, b) = (json(&ours, path), json(&theirs, path));
        compare_shape(path, &a, &b, &mut diffs);
    }

    // Values that must agree.
    let (va, vb) = (json(&ours, "/varz"), json(&theirs, "/varz"));
    for key in [
        "connections",
        "total_connections",
        "in_msgs",
        "in_bytes",
        "out_msgs",
        "out_bytes",
        "in_client_msgs",
        "out_client_msgs",
        "slow_consumers",
        "max_payload",
        "max_pending",
        "max_connections",
        "ping_interval",
        "write_deadline",
        "proto",
        "version",
        "http_port",
    ] {
        let (x, y) = (&va[key], &vb[key]);
        // http_port: each has its own.
        if key == "http_port" {
            assert!(x.as_u64().unwrap() > 0 && y.as_u64().unwrap() > 0);
            continue;
        }
        if x != y {
            diffs.push(format!("/varz {key}: canopy {x} vs nats-server {y}"));
        }
    }
    // Always there, with JetStream's values when it is off.
    for key in ["feature_flags", "disk_io_wait_stats"] {
        if va[key] != vb[key] {
            diffs.push(format!(
                "/varz {key}: canopy {} vs nats-server {}",
                va[key], vb[key]
            ));
        }
    }
    let order = |v: &str| -> Vec<String> {
        // Top-level keys in the order printed (2-space indent).
        v.lines()
            .filter(|l| l.starts_with("  \""))
            .map(|l| l.trim().split('"').nth(1).unwrap_or_default().to_string())
            .collect()
    };
    let (ka, kb) = (
        order(&get(&ours, "/varz").1),
        order(&get(&theirs, "/varz").1),
    );
    for key in ["feature_flags", "disk_io_wait_stats"] {
        let before = |k: &[String]| {
            k.iter()
                .position(|x| x == key)
                .and_then(|i| k.get(i.checked_sub(1)?).cloned())
        };
        let after = |k: &[String]| {
            k.iter()
                .position(|x| x == key)
                .and_then(|i| k.get(i + 1).cloned())
        };
        if (before(&ka), after(&ka)) != (before(&kb), after(&kb)) {
            diffs.push(format!(
                "/varz {key} placed differently: canopy {ka:?} vs nats-server {kb:?}"
            ));
        }
    }
    // nats-server counts its internal system subscriptions too: compare
    // what the clients added.
    let added = |v: &Value, b: u64| v["subscriptions"].as_u64().unwrap() - b;
    if added(&va, base[0]) != added(&vb, base[1]) {
        diffs.push(format!(
            "/varz subscriptions added: canopy {} vs nats-server {}",
            added(&va, base[0]),
            added(&vb, base[1])
        ));
    }
    let conn_view = |v: &Value| -> Vec<Value> {
        v["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c["name"], "lang": c["lang"], "version": c["version"],
                    "in_msgs": c["in_msgs"], "out_msgs": c["out_msgs"],
                    "in_bytes": c["in_bytes"], "out_bytes": c["out_bytes"],
                    "subscriptions": c["subscriptions"], "reason": c["reason"],
                    "subs": sorted_by_sid(&c["subscriptions_list_detail"]),
                    "has_rtt": c["rtt"].is_string(),
                })
            })
            .collect()
    };
    for path in ["/connz?subs=detail", "/connz?state=closed&subs=detail"] {
        let (a, b) = (json(&ours, path), json(&theirs, path));
        for key in ["num_connections", "total", "offset", "limit"] {
            if a[key] != b[key] {
                diffs.push(format!(
                    "{path} {key}: canopy {} vs nats-server {}",
                    a[key], b[key]
                ));
            }
        }
        let (ca, cb) = (conn_view(&a), conn_view(&b));
        if ca != cb {
            diffs.push(format!(
                "{path} connections:\n  canopy      {ca:?}\n  nats-server {cb:?}"
            ));
        }
    }
    let healthz = (get(&ours, "/healthz"), get(&theirs, "/healthz"));
    if healthz.0 != healthz.1 {
        diffs.push(format!("/healthz: {healthz:?}"));
    }

    // Refusals: same status and text.
    for path in [
        "/connz?sort=bogus",
        "/connz?limit=x",
        "/connz?cid=y",
        "/connz?subs=maybe",
        "/connz?state=bogus",
        "/connz?sort=stop",
        "/connz?sort=reason",
        "/subsz?test=foo.*",
        "/accountz?acc=nope",
        "/healthz?stream=x",
        "/healthz?consumer=x",
        "/healthz?account=a&consumer=x",
        "/healthz?account=a&stream=x",
        "/healthz?js-enabled-only=true",
        "/nope",
    ] {
        let (a, b) = (get(&ours, path), get(&theirs, path));
        if a != b {
            diffs.push(format!("{path}: canopy {a:?} vs nats-server {b:?}"));
        }
    }
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
    drop(keep);
}

/// The reason `/connz?state=closed` gives for each way a client can be
/// cut off for what it sent: nats-server says `Protocol Violation` for an
/// unknown op and for malformed CONNECT JSON, `Parse Error` only for a
/// client's `-ERR`.
#[test]
fn close_reasons_agree_with_nats_server() {
    let inputs: &[&[u8]] = &[
        b"\x00\x00\x00",
        b"FOO bar\r\n",
        b"CONNECT {bad\r\n",
        b"-ERR 'x'\r\n",
        b"PUB foo\r\n",
        b"PUB foo 1\r\nxy\r\n",
        b"PUB foo 2000000\r\n",
    ];
    let mut reasons = Vec::new();
    for imp in [Impl::Canopy, Impl::NatsServer] {
        let m = start(imp);
        for input in inputs {
            let mut s = m.server.connect();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut info = String::new();
            r.read_line(&mut info).unwrap();
            s.write_all(input).unwrap();
            // Until the server closes it.
            let mut rest = Vec::new();
            let _ = r.read_to_end(&mut rest);
        }
        let by = std::time::Instant::now() + Duration::from_secs(5);
        let closed = loop {
            let v = json(&m, "/connz?state=closed");
            if v["connections"].as_array().map_or(0, Vec::len) == inputs.len() {
                break v;
            }
            assert!(std::time::Instant::now() < by, "{imp}: not all closed: {v}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut list: Vec<(u64, String)> = closed["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["cid"].as_u64().unwrap(), c["reason"].to_string()))
            .collect();
        list.sort();
        reasons.push(list.into_iter().map(|(_, r)| r).collect::<Vec<_>>());
    }
    assert_eq!(reasons[0], reasons[1], "canopy, then nats-server");
}

/// nats.py's readiness check: `GET /varz` answers 200, also over a
/// keep-alive connection that asks twice.
#[test]
fn varz_readiness_and_keep_alive() {
    let m = start(Impl::Canopy);
    let mut s = TcpStream::connect(("127.0.0.1", m.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while !String::from_utf8_lossy(&got).contains("{\"status\":\"ok\"}") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
}

/// `http: 127.0.0.1:-1` and `http_base_path` from a config file, on both
/// servers: the port is picked and logged, paths live under the base.
fn base_path_from_config(imp: Impl) {
    let server = ServerBuilder::new(imp)
        .config("http: 127.0.0.1:-1\nhttp_base_path: /mon\n")
        .start();
    let log = server.wait_for_log(
        "Starting http monitor on 127.0.0.1:",
        Duration::from_secs(10),
    );
    let port: u16 = log
        .split("Starting http monitor on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("monitor port in the log");
    let m = Mon { server, http: port };
    let v = json(&m, "/mon/varz");
    assert_eq!(v["http_base_path"], "/mon", "{imp}");
    // nats-server shows the port as configured, not the one it picked.
    assert_eq!(v["http_port"], -1, "{imp}");
    assert_eq!(get(&m, "/mon/healthz").0, 200, "{imp}");
    assert_eq!(get(&m, "/varz").0, 404, "{imp}: outside the base path");
}

canopy_tests::against_both! {
    base_path_from_config,
}
