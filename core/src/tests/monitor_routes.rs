//! `/routez` and the cluster parts of `/varz` through the engine: fake
//! route peers register (CONNECT then INFO, or INFO on a dialed route) and
//! the monitoring port reports them with nats-server 2.15.1's field names,
//! order and omissions.

use super::harness::Harness;
use super::route_peer::{cluster, peer_info_named};
use crate::route::RouteAddr;
use crate::{ClusterOptions, ConnId, ListenerKind, Options};
use core::net::SocketAddr;
use serde_json::{json, Value};
use std::time::Duration;

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

/// The keys of a `/routez` route object, in nats-server 2.15.1's order
/// (observed on a nats-server cluster; `account` only on pinned-account
/// connections, which Canopy never has).
const ROUTE_KEYS: &[&str] = &[
    "rid",
    "remote_id",
    "remote_name",
    "did_solicit",
    "is_configured",
    "ip",
    "port",
    "start",
    "last_activity",
    "rtt",
    "uptime",
    "idle",
    "pending_size",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "subscriptions",
    "compression",
];

fn harness(cluster: Option<ClusterOptions>) -> Harness {
    let mut h = Harness::new(Options {
        host: "127.0.0.1".into(),
        port: 4222,
        cluster,
        ..Options::default()
    });
    // 2026-11-23T07:55:50Z at engine time 1 s.
    let now = h.now;
    h.server
        .handle_wall_clock(1_795_420_550_000_000_000 + 1_000_000_000, now);
    h
}

/// A fake peer dials our route port and registers.
fn accepted_route(h: &mut Harness, id: &str, name: &str, port: u16) -> ConnId {
    h.fake_route_named(id, name, port, &format!("127.0.0.1:{}", port + 1))
}

/// One GET on a fresh monitor connection: the JSON body as text.
fn get_text(h: &mut Harness, path: &str) -> String {
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("literal address");
    let now = h.now;
    let m = h.server.handle_accept(ListenerKind::Monitor, peer, now);
    h.send(m, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let out = h.take(m);
    let (head, body) = out.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {out}");
    body.to_string()
}

/// One GET on a fresh monitor connection: the JSON body.
fn get(h: &mut Harness, path: &str) -> Value {
    let body = get_text(h, path);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The keys, in printed order, of the first object after `marker` in
/// pretty-printed JSON whose keys are indented by `indent` spaces.
fn keys_in_order(text: &str, marker: &str, indent: usize) -> Vec<String> {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker}: {text}"));
    let key_prefix = format!("{}\"", " ".repeat(indent));
    let end_prefix = format!("{}}}", " ".repeat(indent - 2));
    let mut out = Vec::new();
    for line in text[at..].lines().skip(1) {
        if line.starts_with(&end_prefix) {
            break;
        }
        if let Some(rest) = line.strip_prefix(&key_prefix) {
            out.push(rest.split('"').next().unwrap_or_default().to_string());
        }
    }
    out
}

#[test]
fn unclustered_routez_and_varz_are_empty() {
    let mut h = harness(None);
    let text = get_text(&mut h, "/routez");
    assert_eq!(
        keys_in_order(&format!("{{\n{text}"), "{", 2),
        ["server_id", "server_name", "now", "num_routes", "routes"]
    );
    let rz: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rz["num_routes"], 0);
    assert_eq!(rz["routes"], json!([]));
    let v = get(&mut h, "/varz");
    assert_eq!(v["cluster"], json!({}));
    assert_eq!(
        (v["routes"].clone(), v["remotes"].clone()),
        (json!(0), json!(0))
    );
    assert!(v.get("connect_urls").is_none(), "{v}");
}

#[test]
fn clustered_without_routes() {
    let mut h = harness(Some(cluster()));
    let rz = get(&mut h, "/routez");
    assert_eq!(rz["num_routes"], 0);
    assert_eq!(rz["routes"], json!([]));
    let v = get(&mut h, "/varz");
    // No configured routes: `urls` omitted, as nats-server does.
    assert_eq!(
        v["cluster"],
        json!({"name": "testc", "addr": "127.0.0.1", "cluster_port": 6222,
               "auth_timeout": 2, "tls_timeout": 2, "pool_size": -1})
    );
    assert_eq!(
        keys_in_order(&get_text(&mut h, "/varz"), "\"cluster\": {", 4),
        [
            "name",
            "addr",
            "cluster_port",
            "auth_timeout",
            "tls_timeout",
            "pool_size"
        ]
    );
    assert_eq!(v["routes"], 0);
}

#[test]
fn accepted_route_listed_with_counters() {
    let mut h = harness(Some(cluster()));
    let start = h.now;
    let r = accepted_route(&mut h, "NPEER1", "peer-one", 16300);
    h.advance(Duration::from_millis(2500));

    let text = get_text(&mut h, "/routez");
    assert_eq!(
        keys_in_order(&text, "\"routes\": [", 6),
        ROUTE_KEYS,
        "{text}"
    );
    let rz: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rz["num_routes"], 1);
    let route = &rz["routes"][0];
    assert_eq!(route["rid"], r.0);
    assert_eq!(route["remote_id"], "NPEER1");
    assert_eq!(route["remote_name"], "peer-one");
    assert_eq!(route["did_solicit"], false);
    assert_eq!(route["is_configured"], false);
    assert_eq!(route["ip"], "127.0.0.1");
    assert_eq!(route["port"], 50001);
    assert_eq!(route["compression"], "not supported");
    assert_eq!(route["subscriptions"], 0);
    assert_eq!(route["pending_size"], 0);
    assert_eq!(route["uptime"], "2s");
    let wall = |t: crate::Instant| crate::monitor::timefmt::rfc3339_nano(h.server.monitor.wall(t));
    assert_eq!(route["start"], wall(start));
    // The route PING went out at 1 s; the peer has not answered: "0s" as
    // Go prints an unmeasured RTT.
    assert_eq!(route["rtt"], "0s");
    assert!(h.take(r).contains("PING\r\n"));
    h.send(r, "PONG\r\n");
    let rtt = get(&mut h, "/routez")["routes"][0]["rtt"].clone();
    // PING at about 1 s after registration (with jitter), PONG at 2.5 s.
    let rtt = rtt.as_str().unwrap_or_default();
    assert!(rtt.starts_with("1.") && rtt.ends_with('s'), "{rtt}");

    // Interest from the peer; messages both ways.
    h.send(r, "RS+ $G foo\r\nRS+ $G bar q 1\r\nRS+ $G baz.>\r\n");
    let c = h.connected(QUIET);
    h.send(c, "SUB in 1\r\nPUB foo 5\r\nhello\r\nPUB bar 2\r\nhi\r\n");
    h.take(r);
    h.send(r, "RMSG $G in 3\r\nabc\r\n");
    assert_eq!(h.take(c), "MSG in 1 3\r\nabc\r\n");

    let text = get_text(&mut h, "/routez");
    assert_eq!(
        keys_in_order(&text, "\"routes\": [", 6),
        ROUTE_KEYS,
        "no list without subs=1"
    );
    let route = serde_json::from_str::<Value>(&text).unwrap()["routes"][0].clone();
    assert_eq!(route["subscriptions"], 3);
    assert_eq!(route["out_msgs"], 2);
    assert_eq!(route["out_bytes"], 7);
    assert_eq!(route["in_msgs"], 1);
    assert_eq!(route["in_bytes"], 3);
    assert_eq!(route["idle"], "0s");

    let text = get_text(&mut h, "/routez?subs=1");
    let mut with_list: Vec<&str> = ROUTE_KEYS.to_vec();
    with_list.insert(with_list.len() - 1, "subscriptions_list");
    assert_eq!(keys_in_order(&text, "\"routes\": [", 6), with_list);
    let route = serde_json::from_str::<Value>(&text).unwrap()["routes"][0].clone();
    // Ordered by `account subject [queue]`.
    assert_eq!(route["subscriptions_list"], json!(["bar", "baz.>", "foo"]));

    let route = get(&mut h, "/routez?subs=detail")["routes"][0].clone();
    assert!(route.get("subscriptions_list").is_none());
    // `msgs` is the interest's `delivered` counter: nats-server counts
    // messages forwarded on it; Canopy's forwarding does not count them
    // (yet), so it is left out of the comparison.
    let mut detail = route["subscriptions_list_detail"].clone();
    for d in detail.as_array_mut().unwrap() {
        assert!(d["msgs"].is_u64(), "{d}");
        d.as_object_mut().unwrap().remove("msgs");
    }
    assert_eq!(
        detail,
        json!([
            {"subject": "bar", "qgroup": "q", "sid": "$G bar q", "cid": r.0},
            {"subject": "baz.>", "sid": "$G baz.>", "cid": r.0},
            {"subject": "foo", "sid": "$G foo", "cid": r.0},
        ])
    );

    // /connz does not list routes; /varz counts them.
    let cz = get(&mut h, "/connz");
    assert_eq!(cz["num_connections"], 1);
    let v = get(&mut h, "/varz");
    assert_eq!(
        (v["routes"].clone(), v["remotes"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(
        v["connect_urls"],
        json!(["127.0.0.1:4222", "127.0.0.1:16301"])
    );

    // Gone: no longer listed.
    let now = h.now;
    h.server.handle_closed(r, now);
    h.drain();
    assert_eq!(get(&mut h, "/routez")["num_routes"], 0);
    assert_eq!(get(&mut h, "/varz")["routes"], 0);
}

#[test]
fn configured_routes_solicited_and_sorted_by_rid() {
    let mut h = harness(Some(ClusterOptions {
        routes: vec![
            RouteAddr::parse("nats-route://127.0.0.1:16300").unwrap(),
            RouteAddr::parse("nats-route://ruser:pw@[::1]:16400/").unwrap(),
        ],
        ..cluster()
    }));
    // A peer dials us before our dials go out.
    let accepted = accepted_route(&mut h, "NPEER9", "nine", 16900);
    h.advance(Duration::ZERO);
    assert_eq!(h.dials.len(), 2, "{:?}", h.dials);
    let (d1, d2) = (h.dials[0].0, h.dials[1].0);
    for (d, id, name, port) in [(d2, "NPEER2", "two", 16400), (d1, "NPEER1", "one", 16300)] {
        h.dialed(d);
        h.take(d);
        h.send(d, &peer_info_named(id, name, port, "127.0.0.1:1"));
        assert!(!h.is_closed(d));
    }

    let rz = get(&mut h, "/routez");
    assert_eq!(rz["num_routes"], 3);
    let rows: Vec<Value> = rz["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!([
                r["rid"],
                r["remote_name"],
                r["did_solicit"],
                r["is_configured"],
                r["port"]
            ])
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            json!([accepted.0, "nine", false, false, 50001]),
            json!([d1.0, "one", true, true, 6222]),
            json!([d2.0, "two", true, true, 6222]),
        ]
    );
    let v = get(&mut h, "/varz");
    assert_eq!(v["routes"], 3);
    assert_eq!(
        v["cluster"]["urls"],
        json!(["127.0.0.1:16300", "[::1]:16400"]),
        "host:port, without credentials"
    );
}

#[test]
fn accepted_route_standing_in_for_a_dropped_dial_is_solicited() {
    // nats-server marks the kept connection solicited (and configured)
    // when its own dial to that server is dropped as a duplicate.
    let mut h = harness(Some(ClusterOptions {
        routes: vec![RouteAddr::parse("nats-route://127.0.0.1:16300").unwrap()],
        ..cluster()
    }));
    let r = accepted_route(&mut h, "NPEER1", "one", 16300);
    let row = get(&mut h, "/routez")["routes"][0].clone();
    assert_eq!(
        (row["did_solicit"].clone(), row["is_configured"].clone()),
        (json!(false), json!(false))
    );
    h.advance(Duration::ZERO);
    let d = h.dials[0].0;
    h.dialed(d);
    h.take(d);
    h.send(d, &peer_info_named("NPEER1", "one", 16300, "127.0.0.1:1"));
    assert!(h.is_closed(d), "duplicate dial closed");
    let rz = get(&mut h, "/routez");
    assert_eq!(rz["num_routes"], 1);
    let row = &rz["routes"][0];
    assert_eq!(row["rid"], r.0);
    assert_eq!(row["did_solicit"], true);
    assert_eq!(row["is_configured"], true);
}

#[test]
fn bad_subs_value_is_refused() {
    let mut h = harness(Some(cluster()));
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("literal address");
    let now = h.now;
    let m = h.server.handle_accept(ListenerKind::Monitor, peer, now);
    h.send(m, "GET /routez?subs=maybe HTTP/1.1\r\nHost: x\r\n\r\n");
    let out = h.take(m);
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
}
