//! `/gatewayz` and the gateway part of `/varz` through the engine: fake
//! gateway peers of cluster `B` register with literal protocol bytes (an
//! outbound link we dial, an inbound one that dials us) and the monitoring
//! port reports them with nats-server 2.15.1's field names, order,
//! omissions and filters (`gw_name`, `accs`, `acc_name`, `subs`).

use super::harness::Harness;
use crate::route::RouteAddr;
use crate::{ConnId, GatewayOptions, ListenerKind, Options, RemoteGatewayOptions};
use core::net::SocketAddr;
use serde_json::{json, Value};
use std::time::Duration;

const QUIET: &str = r#"{"verbose":false,"pedantic":false,"headers":true}"#;
/// The INFO a nats-server of cluster `B` sends on its gateway port.
const B_INFO: &str = r#"INFO {"server_id":"NBSERVER","server_name":"B1","version":"2.15.1","proto":3,"go":"","host":"127.0.0.1","port":7223,"headers":true,"max_payload":1048576,"gateway":"B","gateway_urls":["127.0.0.1:7223"],"gateway_url":"127.0.0.1:7223","gateway_nrp":true,"gateway_iom":true}"#;
/// The CONNECT a nats-server of cluster `B` sends when it dials us.
const B_CONNECT: &str = r#"CONNECT {"echo":false,"verbose":false,"pedantic":false,"tls_required":false,"headers":false,"name":"NBSERVER","cluster":"","gateway":"B"}"#;

/// The keys of a `/gatewayz` answer, in nats-server 2.15.1's order.
const TOP_KEYS: &[&str] = &[
    "server_id",
    "now",
    "name",
    "host",
    "port",
    "outbound_gateways",
    "inbound_gateways",
];

/// The keys of a gateway link's `connection`, in nats-server 2.15.1's
/// order (observed on a two-cluster nats-server super-cluster).
const CONN_KEYS: &[&str] = &[
    "cid",
    "kind",
    "ip",
    "port",
    "start",
    "last_activity",
    "rtt",
    "uptime",
    "idle",
    "pending_bytes",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "subscriptions",
    "name",
];

fn remote(name: &str, port: u16) -> RemoteGatewayOptions {
    RemoteGatewayOptions {
        tls: None,
        name: name.into(),
        urls: vec![RouteAddr::parse(&format!("127.0.0.1:{port}")).expect("url")],
    }
}

fn gateway() -> GatewayOptions {
    GatewayOptions {
        name: "A".into(),
        host: "127.0.0.1".into(),
        port: 7222,
        auth_timeout: Duration::from_secs(2),
        gateways: vec![remote("B", 7223)],
        ..GatewayOptions::default()
    }
}

fn harness(gateway: Option<GatewayOptions>) -> Harness {
    let mut h = Harness::new(Options {
        server_name: "A1".into(),
        host: "127.0.0.1".into(),
        port: 4222,
        gateway,
        ..Options::default()
    });
    // 2026-11-23T07:55:50Z at engine time 1 s.
    let now = h.now;
    h.server
        .handle_wall_clock(1_795_420_550_000_000_000 + 1_000_000_000, now);
    h
}

/// Cluster `A`, configured with gateway `B` at port 7223.
fn a() -> Harness {
    harness(Some(gateway()))
}

/// The outbound link to `B`: dialed a second after start, `B`'s INFO
/// (`info`) read and our answer taken.
fn outbound_with(h: &mut Harness, info: &str) -> ConnId {
    h.advance(Duration::from_millis(1000));
    let (conn, _) = h
        .dials
        .iter()
        .find(|(_, a)| a == "127.0.0.1:7223")
        .cloned()
        .expect("a dial of B");
    h.dialed(conn);
    h.send(conn, &format!("{info}\r\n"));
    h.take(conn);
    conn
}

fn outbound(h: &mut Harness) -> ConnId {
    outbound_with(h, B_INFO)
}

/// An inbound link from `B`, registered, with what we sent taken.
fn inbound(h: &mut Harness) -> ConnId {
    let g = h.accept_gateway();
    h.take(g);
    h.send(g, &format!("{B_CONNECT}\r\n{B_INFO}\r\n"));
    h.take(g);
    g
}

/// `B` switches `account` (its base64 in the command) to interest-only
/// on the outbound link, announcing `subs` (whole protocol lines).
fn switch(h: &mut Harness, link: ConnId, account_b64: &str, subs: &str) {
    h.send(
        link,
        &format!(
            "INFO {{\"gateway\":\"B\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"{account_b64}\"}}\r\n{subs}INFO {{\"gateway\":\"B\",\"gateway_cmd\":3,\"gateway_cmd_payload\":\"{account_b64}\"}}\r\n"
        ),
    );
}

/// One GET on a fresh monitor connection: status line and body.
fn get_raw(h: &mut Harness, path: &str) -> (String, String) {
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("literal address");
    let now = h.now;
    let m = h.server.handle_accept(ListenerKind::Monitor, peer, now);
    h.send(m, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let out = h.take(m);
    let (head, body) = out.split_once("\r\n\r\n").expect("HTTP response");
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// One GET on a fresh monitor connection: the JSON body as text.
fn get_text(h: &mut Harness, path: &str) -> String {
    let (status, body) = get_raw(h, path);
    assert_eq!(status, "HTTP/1.1 200 OK", "{path}: {body}");
    body
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

/// The keys of a JSON object, sorted (a parsed `Value` keeps no order;
/// [`keys_at`] checks the printed one).
fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// The keys, in printed order, of the object whose key line contains
/// `marker` (pretty-printed JSON): that line's and the following lines'
/// at the same indentation, up to the object's end.
fn keys_at(text: &str, marker: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{marker}: {text}"));
    let indent = lines[first].len() - lines[first].trim_start().len();
    let mut out = Vec::new();
    // Back to the object's first key, then forward to its end.
    let mut start = first;
    while start > 0 {
        let l = lines[start - 1];
        let ind = l.len() - l.trim_start().len();
        if ind < indent {
            break;
        }
        start -= 1;
    }
    for l in &lines[start..] {
        let ind = l.len() - l.trim_start().len();
        if ind < indent {
            break;
        }
        if ind == indent {
            if let Some(rest) = l.trim_start().strip_prefix('"') {
                out.push(rest.split('"').next().unwrap_or_default().to_string());
            }
        }
    }
    out
}

fn wall(h: &Harness, t: crate::Instant) -> String {
    crate::monitor::timefmt::rfc3339_nano(h.server.monitor.wall(t))
}

#[test]
fn without_gateways_gatewayz_is_the_empty_stub_and_varz_gateway_is_empty() {
    let mut h = harness(None);
    let text = get_text(&mut h, "/gatewayz?accs=1&subs=1");
    assert_eq!(
        keys_in_order(&format!("{{\n{text}"), "{", 2),
        ["server_id", "now", "outbound_gateways", "inbound_gateways"]
    );
    let gz: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(gz["server_id"], h.server.server_id());
    assert_eq!(gz["now"], "2026-11-23T07:55:51Z");
    assert_eq!(gz["outbound_gateways"], json!({}));
    assert_eq!(gz["inbound_gateways"], json!({}));
    // A gw_name filter changes nothing without gateways.
    assert_eq!(
        get(&mut h, "/gatewayz?gw_name=B")["outbound_gateways"],
        json!({})
    );
    assert_eq!(get(&mut h, "/varz")["gateway"], json!({}));
}

#[test]
fn before_any_link_gatewayz_names_this_gateway() {
    let mut h = a();
    let text = get_text(&mut h, "/gatewayz");
    assert_eq!(keys_in_order(&format!("{{\n{text}"), "{", 2), TOP_KEYS);
    let gz: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(gz["name"], "A");
    assert_eq!(gz["host"], "127.0.0.1");
    assert_eq!(gz["port"], 7222);
    assert_eq!(gz["outbound_gateways"], json!({}));
    assert_eq!(gz["inbound_gateways"], json!({}));
}

#[test]
fn varz_gateway_lists_the_configuration() {
    let mut h = a();
    let text = get_text(&mut h, "/varz");
    assert_eq!(
        keys_in_order(&text, "\"gateway\": {", 4),
        [
            "name",
            "host",
            "port",
            "auth_timeout",
            "tls_timeout",
            "gateways"
        ]
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["gateway"],
        json!({"name": "A", "host": "127.0.0.1", "port": 7222, "auth_timeout": 2,
               "tls_timeout": 2,
               "gateways": [{"name": "B", "urls": ["127.0.0.1:7223"]}]})
    );
    // Each entry has only `name` and `urls` (no TLS).
    assert_eq!(keys(&v["gateway"]["gateways"][0]), ["name", "urls"]);

    // URLs learned from the peer join the configured ones.
    let info = B_INFO.replace(
        r#""gateway_urls":["127.0.0.1:7223"]"#,
        r#""gateway_urls":["127.0.0.1:7223","127.0.0.1:7233"]"#,
    );
    outbound_with(&mut h, &info);
    assert_eq!(
        get(&mut h, "/varz")["gateway"]["gateways"],
        json!([{"name": "B", "urls": ["127.0.0.1:7223", "127.0.0.1:7233"]}])
    );
}

#[test]
fn varz_gateway_lists_the_self_entry_where_the_config_had_it() {
    let mut g = gateway();
    g.self_entry = Some((
        1,
        vec![crate::route::RouteAddr::parse("127.0.0.1:7222").expect("url")],
    ));
    let mut h = harness(Some(g));
    assert_eq!(
        get(&mut h, "/varz")["gateway"]["gateways"],
        json!([{"name": "B", "urls": ["127.0.0.1:7223"]},
               {"name": "A", "urls": ["127.0.0.1:7222"]}])
    );
}

#[test]
fn varz_gateway_shows_optional_settings_in_nats_server_order() {
    let mut h = harness(Some(GatewayOptions {
        host: "0.0.0.0".into(),
        advertise: "gw.example.com:17222".into(),
        auth_timeout: Duration::from_millis(1500),
        connect_retries: 3,
        reject_unknown: true,
        gateways: vec![remote("B", 7223), remote("C", 7224)],
        ..gateway()
    }));
    let text = get_text(&mut h, "/varz");
    assert_eq!(
        keys_in_order(&text, "\"gateway\": {", 4),
        [
            "name",
            "host",
            "port",
            "auth_timeout",
            "tls_timeout",
            "advertise",
            "connect_retries",
            "gateways",
            "reject_unknown"
        ]
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["gateway"],
        json!({"name": "A", "host": "0.0.0.0", "port": 7222, "auth_timeout": 1.5,
               "tls_timeout": 2, "advertise": "gw.example.com:17222",
               "connect_retries": 3,
               "gateways": [{"name": "B", "urls": ["127.0.0.1:7223"]},
                            {"name": "C", "urls": ["127.0.0.1:7224"]}],
               "reject_unknown": true})
    );
    // /gatewayz shows the advertised address, as nats-server's gateway
    // INFO carries it.
    let gz = get(&mut h, "/gatewayz");
    assert_eq!(
        (gz["host"].clone(), gz["port"].clone()),
        (json!("gw.example.com"), json!(17222))
    );
}

#[test]
fn outbound_and_inbound_links_with_their_connections() {
    let mut h = a();
    let out_start = h.now + Duration::from_millis(1000);
    let out_link = outbound(&mut h);
    let in_start = h.now;
    let in_link = inbound(&mut h);
    h.advance(Duration::from_millis(2500));

    let text = get_text(&mut h, "/gatewayz");
    assert_eq!(keys_in_order(&format!("{{\n{text}"), "{", 2), TOP_KEYS);
    assert_eq!(
        keys_in_order(&text, "\"B\": {", 6),
        ["configured", "connection"],
        "no accounts without accs=1"
    );
    assert_eq!(keys_in_order(&text, "\"connection\": {", 8), CONN_KEYS);
    let gz: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys(&gz["outbound_gateways"]), ["B"]);
    assert_eq!(keys(&gz["inbound_gateways"]), ["B"]);
    let out = &gz["outbound_gateways"]["B"];
    assert_eq!(out["configured"], true);
    let c = &out["connection"];
    assert_eq!(c["cid"], h.server.conns[&out_link].cid);
    assert_eq!(c["kind"], "Gateway");
    assert_eq!(c["ip"], "127.0.0.1");
    assert_eq!(c["port"], 6222);
    assert_eq!(c["start"], wall(&h, out_start));
    assert_eq!(c["uptime"], "2s");
    assert_eq!(c["rtt"], "0s", "unmeasured, as Go prints it");
    assert_eq!(c["pending_bytes"], 0);
    assert_eq!(
        json!([c["in_msgs"], c["out_msgs"], c["in_bytes"], c["out_bytes"]]),
        json!([0, 0, 0, 0])
    );
    assert_eq!(c["subscriptions"], 0);
    assert_eq!(c["name"], "NBSERVER");

    let ins = gz["inbound_gateways"]["B"].as_array().expect("an array");
    assert_eq!(ins.len(), 1);
    assert_eq!(keys(&ins[0]), ["configured", "connection"]);
    assert_eq!(ins[0]["configured"], false);
    let c = &ins[0]["connection"];
    let in_cid = h.server.conns[&in_link].cid;
    assert_eq!(keys_at(&text, &format!("\"cid\": {in_cid},")), CONN_KEYS);
    assert_eq!(c["cid"], in_cid);
    assert_eq!(c["kind"], "Gateway");
    assert_eq!(c["port"], 50003);
    assert_eq!(c["start"], wall(&h, in_start));
    assert_eq!(c["uptime"], "2s");
    assert_eq!(c["subscriptions"], 0);
    assert_eq!(c["name"], "NBSERVER");

    // Messages both ways move the counters; a PONG measures the RTT.
    // The first PING went out on both links.
    assert!(h.take(out_link).contains("PING\r\n"));
    assert!(h.take(in_link).contains("PING\r\n"));
    switch(&mut h, out_link, "JEc=", "RS+ $G foo.*\r\n");
    let client = h.connected(QUIET);
    h.send(client, "SUB in 1\r\nPUB foo.x 5\r\nhello\r\n");
    assert_eq!(h.take(out_link), "RMSG $G foo.x 5\r\nhello\r\n");
    h.send(in_link, "RMSG $G in 3\r\nabc\r\n");
    assert_eq!(h.take(client), "MSG in 1 3\r\nabc\r\n");
    h.advance(Duration::from_secs(3));
    h.send(out_link, "PONG\r\n");

    let gz = get(&mut h, "/gatewayz");
    let c = &gz["outbound_gateways"]["B"]["connection"];
    assert_eq!(
        json!([c["in_msgs"], c["out_msgs"], c["in_bytes"], c["out_bytes"]]),
        json!([0, 1, 0, 5])
    );
    assert_eq!(c["subscriptions"], 1, "the peer's RS+");
    assert_ne!(c["rtt"], "0s");
    assert_eq!(c["idle"], "0s");
    let c = &gz["inbound_gateways"]["B"][0]["connection"];
    assert_eq!(
        json!([c["in_msgs"], c["out_msgs"], c["in_bytes"], c["out_bytes"]]),
        json!([1, 0, 3, 0])
    );
    assert_eq!(c["subscriptions"], 0, "interest never comes in inbound");

    // Closed: no longer listed.
    let now = h.now;
    h.server.handle_closed(out_link, now);
    h.server.handle_closed(in_link, now);
    h.drain();
    let gz = get(&mut h, "/gatewayz");
    assert_eq!(gz["outbound_gateways"], json!({}));
    assert_eq!(gz["inbound_gateways"], json!({}));
}

#[test]
fn accounts_and_interest_of_an_outbound_link() {
    let mut h = a();
    let out_link = outbound(&mut h);
    // Nothing told yet: no account entry, so no `accounts` key.
    let gz = get(&mut h, "/gatewayz?accs=1");
    assert_eq!(
        keys(&gz["outbound_gateways"]["B"]),
        ["configured", "connection"]
    );

    switch(&mut h, out_link, "JEc=", "");
    switch(
        &mut h,
        out_link,
        "JFNZUw==",
        "RS+ $SYS b.two\r\nRS+ $SYS a.one\r\nRS+ $SYS work q 1\r\n",
    );
    let text = get_text(&mut h, "/gatewayz?accs=1");
    assert_eq!(
        keys_in_order(&text, "\"B\": {", 6),
        ["configured", "connection", "accounts"]
    );
    let gz: Value = serde_json::from_str(&text).unwrap();
    let out = &gz["outbound_gateways"]["B"];
    assert_eq!(out["connection"]["subscriptions"], 3);
    // `num_subs` and `num_queue_subs` come with accs=1 alone; the lists
    // need subs=1.
    assert_eq!(
        out["accounts"],
        json!([
            {"name": "$G", "interest_mode": "Interest-Only", "interest_only_threshold": 1000},
            {"name": "$SYS", "interest_mode": "Interest-Only", "interest_only_threshold": 1000,
             "num_subs": 3, "num_queue_subs": 1},
        ])
    );
    assert_eq!(
        keys_at(&text, "\"name\": \"$SYS\""),
        [
            "name",
            "interest_mode",
            "interest_only_threshold",
            "num_subs",
            "num_queue_subs"
        ]
    );

    let text = get_text(&mut h, "/gatewayz?accs=1&subs=1");
    let gz: Value = serde_json::from_str(&text).unwrap();
    let accounts = &gz["outbound_gateways"]["B"]["accounts"];
    assert!(
        accounts[0].get("subscriptions_list").is_none(),
        "none: omitted"
    );
    // Ordered by `account subject[ queue]`.
    assert_eq!(
        accounts[1]["subscriptions_list"],
        json!(["a.one", "b.two", "work"])
    );
    assert_eq!(
        keys_at(&text, "\"name\": \"$SYS\""),
        [
            "name",
            "interest_mode",
            "interest_only_threshold",
            "num_subs",
            "num_queue_subs",
            "subscriptions_list"
        ]
    );

    // subs=detail (any case): the subscriptions in full, without a sid
    // (nats-server's gateway subscriptions have none).
    let cid = h.server.conns[&out_link].cid;
    let gz = get(&mut h, "/gatewayz?accs=1&subs=DETAIL");
    let sys = &gz["outbound_gateways"]["B"]["accounts"][1];
    assert!(sys.get("subscriptions_list").is_none());
    let mut detail = sys["subscriptions_list_detail"].clone();
    for d in detail.as_array_mut().unwrap() {
        assert!(d["msgs"].is_u64(), "{d}");
        d.as_object_mut().unwrap().remove("msgs");
    }
    assert_eq!(
        detail,
        json!([
            {"subject": "a.one", "sid": "", "cid": cid},
            {"subject": "b.two", "sid": "", "cid": cid},
            {"subject": "work", "qgroup": "q", "sid": "", "cid": cid},
        ])
    );

    // subs without accs: nothing about accounts.
    let gz = get(&mut h, "/gatewayz?subs=1");
    assert!(gz["outbound_gateways"]["B"].get("accounts").is_none());

    // acc_name implies accs and keeps that account only.
    let gz = get(&mut h, "/gatewayz?acc_name=$SYS&subs=1");
    let accounts = gz["outbound_gateways"]["B"]["accounts"].clone();
    assert_eq!(accounts.as_array().map(Vec::len), Some(1));
    assert_eq!(accounts[0]["name"], "$SYS");
    assert_eq!(accounts[0]["num_subs"], 3);
    assert_eq!(
        accounts[0]["subscriptions_list"],
        json!(["a.one", "b.two", "work"])
    );
    // An account without an entry: no `accounts` key at all.
    let gz = get(&mut h, "/gatewayz?acc_name=NOPE");
    assert!(gz["outbound_gateways"]["B"].get("accounts").is_none());
}

#[test]
fn optimistic_accounts_show_what_the_peer_said() {
    let mut h = a();
    let out_link = outbound(&mut h);
    // $G: no interest at all (A-); $SYS: two subjects without interest,
    // then a queue subscription, all in optimistic mode.
    h.send(
        out_link,
        "A- $G\r\nRS- $SYS x.one\r\nRS- $SYS x.two\r\nRS+ $SYS work q 1\r\n",
    );
    let text = get_text(&mut h, "/gatewayz?accs=1&subs=1");
    let gz: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        gz["outbound_gateways"]["B"]["accounts"],
        json!([
            {"name": "$G", "interest_mode": "Optimistic", "interest_only_threshold": 1000},
            {"name": "$SYS", "interest_mode": "Optimistic", "no_interest_count": 2,
             "interest_only_threshold": 1000, "num_subs": 1, "num_queue_subs": 1,
             "subscriptions_list": ["work"]},
        ])
    );
    assert_eq!(
        keys_at(&text, "\"name\": \"$SYS\""),
        [
            "name",
            "interest_mode",
            "no_interest_count",
            "interest_only_threshold",
            "num_subs",
            "num_queue_subs",
            "subscriptions_list"
        ]
    );
    // A+ drops $G's entry (optimistic again, nothing known).
    h.send(out_link, "A+ $G\r\n");
    let gz = get(&mut h, "/gatewayz?accs=1");
    let names: Vec<Value> = gz["outbound_gateways"]["B"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, [json!("$SYS")]);
}

#[test]
fn inbound_links_list_every_account_interest_only() {
    let mut h = a();
    let in_link = inbound(&mut h);
    let text = get_text(&mut h, "/gatewayz?accs=1&subs=1");
    assert_eq!(
        keys_in_order(&text, "\"inbound_gateways\": {", 4),
        ["B"],
        "{text}"
    );
    let gz: Value = serde_json::from_str(&text).unwrap();
    let link = &gz["inbound_gateways"]["B"][0];
    assert_eq!(
        keys_at(&text, "\"configured\": false"),
        ["configured", "connection", "accounts"]
    );
    assert_eq!(
        link["accounts"],
        json!([
            {"name": "$G", "interest_mode": "Interest-Only", "interest_only_threshold": 1000},
            {"name": "$SYS", "interest_mode": "Interest-Only", "interest_only_threshold": 1000},
        ])
    );
    // A message for an account we do not have: A-, and the account is
    // listed without interest (nats-server's empty entry: optimistic).
    h.send(in_link, "RMSG NOACC foo 2\r\nhi\r\n");
    assert_eq!(h.take(in_link), "A- NOACC\r\n");
    let gz = get(&mut h, "/gatewayz?accs=1");
    assert_eq!(
        gz["inbound_gateways"]["B"][0]["accounts"][2],
        json!({"name": "NOACC", "interest_mode": "Optimistic", "interest_only_threshold": 1000})
    );
    let gz = get(&mut h, "/gatewayz?acc_name=NOACC");
    assert_eq!(
        gz["inbound_gateways"]["B"][0]["accounts"],
        json!([{"name": "NOACC", "interest_mode": "Optimistic", "interest_only_threshold": 1000}])
    );
    let gz = get(&mut h, "/gatewayz?acc_name=NOPE");
    assert!(gz["inbound_gateways"]["B"][0].get("accounts").is_none());
}

#[test]
fn two_inbound_links_from_one_gateway_share_its_entry() {
    let mut h = a();
    let first = inbound(&mut h);
    let second = inbound(&mut h);
    let gz = get(&mut h, "/gatewayz");
    let cids: Vec<Value> = gz["inbound_gateways"]["B"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["connection"]["cid"].clone())
        .collect();
    assert_eq!(
        cids,
        [
            json!(h.server.conns[&first].cid),
            json!(h.server.conns[&second].cid)
        ]
    );
}

#[test]
fn gw_name_keeps_the_links_to_one_gateway() {
    let mut h = harness(Some(GatewayOptions {
        gateways: vec![remote("B", 7223), remote("C", 7224)],
        ..gateway()
    }));
    outbound(&mut h);
    inbound(&mut h);
    let c_link = h
        .dials
        .iter()
        .find(|(_, a)| a == "127.0.0.1:7224")
        .map(|(c, _)| *c)
        .expect("a dial of C");
    h.dialed(c_link);
    let c_info = B_INFO
        .replace("\"gateway\":\"B\"", "\"gateway\":\"C\"")
        .replace("NBSERVER", "NCSERVER")
        .replace("7223", "7224");
    h.send(c_link, &format!("{c_info}\r\n"));
    h.take(c_link);

    let gz = get(&mut h, "/gatewayz");
    assert_eq!(keys(&gz["outbound_gateways"]), ["B", "C"]);
    assert_eq!(
        gz["outbound_gateways"]["C"]["connection"]["name"],
        "NCSERVER"
    );

    let gz = get(&mut h, "/gatewayz?gw_name=B");
    assert_eq!(keys(&gz["outbound_gateways"]), ["B"]);
    assert_eq!(keys(&gz["inbound_gateways"]), ["B"]);
    let gz = get(&mut h, "/gatewayz?gw_name=C");
    assert_eq!(keys(&gz["outbound_gateways"]), ["C"]);
    assert_eq!(gz["inbound_gateways"], json!({}));
    // No outbound link to it: `null`, as nats-server answers.
    let text = get_text(&mut h, "/gatewayz?gw_name=Z");
    assert!(text.contains("\"outbound_gateways\": null,"), "{text}");
    let gz: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(gz["inbound_gateways"], json!({}));
    assert_eq!(gz["name"], "A");
}

#[test]
fn an_implicit_gateway_is_not_configured() {
    let mut h = a();
    let b = outbound(&mut h);
    // B names C; we dial it.
    h.send(
        b,
        "INFO {\"server_id\":\"NBSERVER\",\"gateway\":\"C\",\"gateway_urls\":[\"127.0.0.1:7224\"],\"gateway_cmd\":1}\r\n",
    );
    h.advance(Duration::ZERO);
    let c_link = h
        .dials
        .iter()
        .find(|(_, a)| a == "127.0.0.1:7224")
        .map(|(c, _)| *c)
        .expect("a dial of C");
    h.dialed(c_link);
    let c_info = B_INFO
        .replace("\"gateway\":\"B\"", "\"gateway\":\"C\"")
        .replace("7223", "7224");
    h.send(c_link, &format!("{c_info}\r\n"));
    h.take(c_link);
    let gz = get(&mut h, "/gatewayz");
    assert_eq!(gz["outbound_gateways"]["B"]["configured"], true);
    assert_eq!(gz["outbound_gateways"]["C"]["configured"], false);
    // /varz lists configured gateways only.
    assert_eq!(
        get(&mut h, "/varz")["gateway"]["gateways"],
        json!([{"name": "B", "urls": ["127.0.0.1:7223"]}])
    );
}

#[test]
fn bad_query_values_are_refused() {
    let mut h = a();
    for (path, text) in [
        (
            "/gatewayz?subs=maybe",
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (
            "/gatewayz?accs=maybe",
            "Error decoding boolean for 'accs': strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
    ] {
        let (status, body) = get_raw(&mut h, path);
        assert_eq!(status, "HTTP/1.1 400 Bad Request", "{path}");
        assert!(body.contains(text), "{path}: {body}");
    }
}
