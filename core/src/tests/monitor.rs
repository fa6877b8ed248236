//! The monitoring port through the engine API: requests split anywhere,
//! keep-alive, refusals that close, and counts that follow the clients.

use crate::{Action, ConnId, Instant, ListenerKind, Options, Server};
use bytes::Bytes;
use core::net::SocketAddr;

fn server() -> (Server, Instant) {
    let now = Instant::from_nanos(5_000_000_000);
    let mut s = Server::without_system(Options::default(), [3; 32], now);
    // 2026-11-23T07:55:50Z at engine time 5 s.
    s.handle_wall_clock(1_795_420_550_000_000_000, now);
    (s, now)
}

fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().expect("literal")
}

/// Feeds `input` to a monitor connection in pieces of `step` bytes and
/// returns (everything written, whether the engine closed it).
fn exchange(s: &mut Server, now: Instant, input: &[u8], step: usize) -> (String, bool) {
    let id = s.handle_accept(ListenerKind::Monitor, peer(), now);
    let mut out = Vec::new();
    let mut closed = false;
    for piece in input.chunks(step.max(1)) {
        s.handle_read(id, Bytes::copy_from_slice(piece), now);
        drain(s, id, now, &mut out, &mut closed);
    }
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn drain(s: &mut Server, id: ConnId, now: Instant, out: &mut Vec<u8>, closed: &mut bool) {
    while let Some(a) = s.poll_action() {
        match a {
            Action::Flush(c) | Action::Close { conn: c, .. } if c == id => {
                let mut chunks = Vec::new();
                let n = s.take_outbound(id, &mut chunks, now);
                for c in chunks {
                    out.extend_from_slice(&c);
                }
                s.handle_written(id, n, now);
                if matches!(a, Action::Close { .. }) {
                    *closed = true;
                    s.handle_closed(id, now);
                }
            }
            Action::Flush(_)
            | Action::Close { .. }
            | Action::PauseReading { .. }
            | Action::ResumeReading { .. }
            | Action::Dial { .. }
            | Action::SignNonce { .. }
            | Action::StoreAccountJwt { .. } => {}
        }
    }
}

#[test]
fn same_answer_under_every_split() {
    let input = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    let (whole, closed) = exchange(&mut server().0, server().1, input, input.len());
    assert!(!closed, "keep-alive connection closed");
    assert!(whole.starts_with("HTTP/1.1 200 OK\r\n"), "{whole}");
    assert!(
        whole.contains("{\"status\":\"ok\"}HTTP/1.1 404 Not Found\r\n"),
        "{whole}"
    );
    for step in 1..input.len() {
        let (s, now) = server();
        let mut s = s;
        let (split, _) = exchange(&mut s, now, input, step);
        assert_eq!(split, whole, "split every {step} bytes");
    }
}

#[test]
fn refusals_close_and_http10_closes() {
    let (mut s, now) = server();
    let (out, closed) = exchange(&mut s, now, b"garbage\r\n\r\n", 64);
    assert!(closed);
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    let (out, closed) = exchange(&mut s, now, b"GET /varz HTTP/1.0\r\n\r\n", 64);
    assert!(closed, "HTTP/1.0 without keep-alive must close");
    assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");
    let (out, closed) = exchange(&mut s, now, &vec![b'G'; (1 << 20) + 10], 1 << 16);
    assert!(closed);
    assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
}

#[test]
fn varz_and_connz_follow_the_clients() {
    let (mut s, now) = server();
    let c = s.handle_accept(ListenerKind::Client, peer(), now);
    s.handle_read(
        c,
        Bytes::from_static(
            b"CONNECT {\"verbose\":false,\"name\":\"n1\"}\r\nSUB a 1\r\nPUB a 2\r\nhi\r\n",
        ),
        now,
    );
    while s.poll_action().is_some() {}
    let (out, _) = exchange(&mut s, now, b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n", 4096);
    let body = out.split("\r\n\r\n").nth(1).expect("body");
    let v: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(v["connections"], 1);
    assert_eq!(v["in_msgs"], 1);
    assert_eq!(v["out_msgs"], 1);
    assert_eq!(v["subscriptions"], 1);
    assert_eq!(v["start"], "2026-11-23T07:55:50Z");
    assert_eq!(v["http_req_stats"]["/varz"], 1);
    let (out, _) = exchange(
        &mut s,
        now,
        b"GET /connz?subs=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        4096,
    );
    let body = out.split("\r\n\r\n").nth(1).expect("body");
    let v: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(v["connections"][0]["name"], "n1");
    assert_eq!(v["connections"][0]["subscriptions_list"][0], "a");
    s.handle_closed(c, now);
    let (out, _) = exchange(
        &mut s,
        now,
        b"GET /connz?state=closed HTTP/1.1\r\nHost: x\r\n\r\n",
        4096,
    );
    assert!(out.contains("\"reason\": \"Client Closed\""), "{out}");
}

/// The `client_id` of the INFO a new client is sent.
fn client_id_of_new_client(s: &mut Server, now: Instant) -> u64 {
    let id = s.handle_accept(ListenerKind::Client, peer(), now);
    let mut chunks = Vec::new();
    s.take_outbound(id, &mut chunks, now);
    let info: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let info = String::from_utf8_lossy(&info);
    let at = info.find("\"client_id\":").expect("client_id in INFO") + 12;
    info[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

/// HTTP requests are connections of the engine, but nats-server counts
/// only its clients (and routes) in `cid`: monitoring leaves no gaps.
#[test]
fn monitoring_requests_take_no_client_ids() {
    let (mut s, now) = server();
    assert_eq!(client_id_of_new_client(&mut s, now), 1);
    let (out, _) = exchange(&mut s, now, b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n", 64);
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    let (out, _) = exchange(&mut s, now, b"GET /connz HTTP/1.1\r\nHost: x\r\n\r\n", 64);
    assert!(out.contains("\"cid\": 1"), "{out}");
    assert_eq!(client_id_of_new_client(&mut s, now), 2);
}

/// `/varz` always has nats-server 2.15.1's `feature_flags` (the known
/// flags, configured values over the defaults) after `config_digest`, and
/// `disk_io_wait_stats` (zeros without JetStream) last.
#[test]
fn varz_has_feature_flags_and_disk_io_wait_stats() {
    let now = Instant::from_nanos(5_000_000_000);
    let mut options = Options::default();
    options
        .feature_flags
        .insert("js_snapshot_sources".into(), true);
    options.feature_flags.insert("not_a_flag".into(), true);
    let mut s = Server::new(options, [3; 32], now);
    let (out, _) = exchange(&mut s, now, b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n", 4096);
    let body = out.split("\r\n\r\n").nth(1).expect("body");
    let keys: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("  \""))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    let at = |k: &str| keys.iter().position(|x| *x == k).expect(k);
    assert_eq!(at("feature_flags"), at("config_digest") + 1, "{keys:?}");
    assert_eq!(keys.last(), Some(&"disk_io_wait_stats"), "{keys:?}");
    let v: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(
        v["feature_flags"],
        serde_json::json!({
            "js_ack_fc_v2": false,
            "js_api_reply_v2": false,
            "js_raft_delete_range": true,
            "js_snapshot_sources": true,
        })
    );
    assert_eq!(
        v["disk_io_wait_stats"],
        serde_json::json!({"waiters": 0, "waits": 0, "wait_time": 0, "max_wait_time": 0})
    );
}
