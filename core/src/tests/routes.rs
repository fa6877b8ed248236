//! Cluster routes (protocol-core.md section 4, checks 49-55, and
//! /work/notes/routes-facts.md): fake route peers speak literal protocol
//! bytes to one engine; the expected bytes are what nats-server 2.15.1
//! does, except for Canopy's two deliberate differences (its route INFO has
//! no pool/compression/lnoc, and a queue group prefers
//! a local member over routes).

use super::harness::{info_json, Harness};
use super::route_peer::{cluster, clustered, peer_hello, peer_info, route_connect};
use crate::route::RouteAddr;
use crate::{ClusterOptions, ConnId, Options};
use std::time::Duration;

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;
const QUIET_HDRS: &str = r#"{"verbose":false,"pedantic":false,"headers":true}"#;

fn server() -> Harness {
    Harness::new(clustered(cluster()))
}

/// Accepts a route from a fake peer that sends CONNECT + INFO + PING and
/// returns it with its output taken (the INFO, the RS+ snapshot, the PONG).
fn fake_route(h: &mut Harness, id: &str, port: u16, client_url: &str) -> ConnId {
    h.fake_route_named(id, id, port, client_url)
}

/// The peer closed the connection (EOF).
fn peer_closed(h: &mut Harness, conn: ConnId) {
    let now = h.now;
    h.server.handle_closed(conn, now);
    h.drain();
}

/// Parses the JSON of an INFO line that may lack the trailing space.
fn info_json_any(line: &str) -> serde_json::Value {
    let start = line.find('{').expect("INFO has JSON");
    let end = line.rfind('}').expect("INFO has JSON");
    serde_json::from_str(&line[start..=end]).expect("INFO JSON parses")
}

/// A client that asked for protocol 1 and had its first PONG (so it takes
/// asynchronous INFO).
fn async_info_client(h: &mut Harness) -> ConnId {
    let c = h.connected(r#"{"verbose":false,"pedantic":false,"protocol":1}"#);
    h.send(c, "PING\r\n");
    let out = h.take(c);
    assert!(out.starts_with("PONG\r\nINFO {"), "{out}");
    c
}

fn connect_urls(info: &serde_json::Value) -> Vec<String> {
    info["connect_urls"]
        .as_array()
        .map(|a| a.iter().map(|u| u.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

// ---- check 49: the route port INFO and clients on the route port -----------

#[test]
fn r49_route_port_info() {
    let mut h = server();
    let r = h.accept_route();
    let out = h.take(r);
    assert!(
        out.starts_with("INFO {") && out.ends_with("} \r\n"),
        "{out}"
    );
    let info = info_json(&out);
    // proto 3 as nats-server (message tracing); deliberate difference: no
    // pool, no lnoc. Compression `accept`, nats-server's default.
    assert_eq!(info["proto"], 3);
    assert!(info.get("route_pool_size").is_none(), "{out}");
    assert_eq!(info["compression"], "accept", "{out}");
    assert!(info.get("lnoc").is_none(), "{out}");
    assert_eq!(info["cluster"], "testc");
    assert_eq!(info["host"], "127.0.0.1");
    assert_eq!(info["port"], 6222);
    assert_eq!(info["headers"], true);
    assert_eq!(info["max_payload"], 1048576);
    assert!(info.get("auth_required").is_none(), "{out}");
    assert!(info.get("cluster_dynamic").is_none(), "{out}");
    let nonce = info["nonce"].as_str().expect("nonce");
    assert_eq!(nonce.len(), 15, "{nonce}");
    // The server's own client URL (facts 15, 23).
    assert_eq!(connect_urls(&info), ["127.0.0.1:4222"]);
    let id = info["server_id"].as_str().unwrap();
    assert!(id.starts_with('N') && id.len() == 56, "{id}");
}

#[test]
fn r49_no_advertise_omits_connect_urls() {
    let mut h = Harness::new(clustered(ClusterOptions {
        no_advertise: true,
        ..cluster()
    }));
    let r = h.accept_route();
    let info = info_json(&h.take(r));
    assert!(info.get("connect_urls").is_none(), "{info}");
}

#[test]
fn r49_client_connect_on_route_port() {
    let mut h = server();
    let r = h.route();
    assert_eq!(
        h.send_closed(
            r,
            "CONNECT {\"verbose\":false,\"lang\":\"go\",\"version\":\"1.0\"}\r\n"
        ),
        "-ERR 'attempted to connect to route port'\r\n"
    );
}

#[test]
fn r49_gateway_connect_on_route_port() {
    let mut h = server();
    let r = h.route();
    assert_eq!(
        h.send_closed(r, "CONNECT {\"gateway\":\"gw1\",\"name\":\"NGW\"}\r\n"),
        "-ERR 'Rejecting connection from gateway \"gw1\" on the Route port'\r\n"
    );
}

// ---- check 50: cluster name -------------------------------------------------

#[test]
fn r50_cluster_name_mismatch() {
    let mut h = server();
    let r = h.route();
    assert_eq!(
        h.send_closed(r, &route_connect("NOTHER", "other")),
        "-ERR 'Rejecting connection, cluster name \"other\" does not match \"testc\"'\r\n"
    );
}

// ---- check 51: interest sent to routes ----------------------------------------

#[test]
fn r51_snapshot_then_pong() {
    let mut h = server();
    let c = h.connected(QUIET);
    h.send(
        c,
        "SUB foo 1\r\nSUB bar grp 2\r\nSUB bar grp 3\r\nSUB foo 4\r\n",
    );
    let r = h.route();
    h.send(r, &peer_hello("NFAKE1", 16300, "127.0.0.1:16399"));
    let out = h.take(r);
    let mut lines: Vec<&str> = out.split_terminator("\r\n").collect();
    assert_eq!(lines.pop(), Some("PONG"), "{out}");
    lines.sort_unstable();
    // One RS+ per plain subject; the queue weight is the member count.
    assert_eq!(lines, ["RS+ $G bar grp 2", "RS+ $G foo"], "{out}");
    assert!(!h.is_closed(r));
}

#[test]
fn r51_empty_snapshot_is_just_pong() {
    let mut h = server();
    let r = h.route();
    h.send(r, &peer_hello("NFAKE1", 16300, "127.0.0.1:16399"));
    assert_eq!(h.take(r), "PONG\r\n");
}

#[test]
fn r51_sub_and_unsub_become_rs_plus_and_minus() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\n");
    assert_eq!(h.take(r), "RS+ $G foo\r\n");
    h.send(c, "SUB bar grp 2\r\n");
    assert_eq!(h.take(r), "RS+ $G bar grp 1\r\n");
    // A second plain subscription on the same subject: nothing.
    h.send(c, "SUB foo 5\r\n");
    assert_eq!(h.take(r), "");
    // A second queue member: the new weight.
    h.send(c, "SUB bar grp 3\r\n");
    assert_eq!(h.take(r), "RS+ $G bar grp 2\r\n");
    h.send(c, "UNSUB 3\r\n");
    assert_eq!(h.take(r), "RS+ $G bar grp 1\r\n");
    h.send(c, "UNSUB 1\r\n");
    assert_eq!(h.take(r), "");
    h.send(c, "UNSUB 5\r\n");
    assert_eq!(h.take(r), "RS- $G foo\r\n");
    h.send(c, "UNSUB 2\r\n");
    assert_eq!(h.take(r), "RS- $G bar grp\r\n");
    assert_eq!(h.take(c), "");
}

#[test]
fn r51_client_close_removes_interest() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\nSUB bar grp 2\r\n");
    assert_eq!(h.take(r), "RS+ $G foo\r\nRS+ $G bar grp 1\r\n");
    peer_closed(&mut h, c);
    let out = h.take(r);
    let mut lines: Vec<&str> = out.split_terminator("\r\n").collect();
    lines.sort_unstable();
    assert_eq!(lines, ["RS- $G bar grp", "RS- $G foo"], "{out}");
}

#[test]
fn r51_sub_before_registration_is_in_snapshot_only() {
    // A route that sent CONNECT but not yet INFO is not registered: local
    // interest changes are not sent to it, the snapshot covers them.
    let mut h = server();
    let r = h.route();
    h.send(r, &route_connect("NFAKE1", "testc"));
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\n");
    assert_eq!(h.take(r), "");
    h.send(r, &peer_info("NFAKE1", 16300, "127.0.0.1:16399"));
    assert_eq!(h.take(r), "RS+ $G foo\r\n");
}

// ---- check 52: messages to a route's plain interest -----------------------------

#[test]
fn r52_pub_to_route_interest() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(r, "RS+ $G rsub\r\n");
    let c = h.connected(QUIET_HDRS);
    h.send(c, "PUB rsub r.1 3\r\nabc\r\n");
    assert_eq!(h.take(r), "RMSG $G rsub r.1 3\r\nabc\r\n");
    h.send(c, "HPUB rsub r.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(
        h.take(r),
        "HMSG $G rsub r.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
    );
    h.send(c, "PUB rsub 0\r\n\r\n");
    assert_eq!(h.take(r), "RMSG $G rsub 0\r\n\r\n");
    // No interest: nothing.
    h.send(c, "PUB other 1\r\nx\r\n");
    assert_eq!(h.take(r), "");
    assert_eq!(h.take(c), "");
}

#[test]
fn r52_wildcard_interest_gets_one_copy() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(r, "RS+ $G a.*\r\nRS+ $G a.>\r\nRS+ $G a.b\r\n");
    let c = h.connected(QUIET);
    h.send(c, "PUB a.b 1\r\nx\r\n");
    assert_eq!(h.take(r), "RMSG $G a.b 1\r\nx\r\n");
    h.send(r, "RS- $G a.*\r\nRS- $G a.>\r\nRS- $G a.b\r\n");
    h.send(c, "PUB a.b 1\r\nx\r\n");
    assert_eq!(h.take(r), "");
}

#[test]
fn r52_route_interest_before_registration_is_ignored() {
    let mut h = server();
    let r = h.route();
    h.send(r, &route_connect("NFAKE1", "testc"));
    h.send(r, "RS+ $G early\r\n");
    h.send(r, &peer_info("NFAKE1", 16300, "127.0.0.1:16399"));
    h.take(r);
    let c = h.connected(QUIET);
    h.send(c, "PUB early 1\r\nx\r\n");
    assert_eq!(h.take(r), "");
    assert!(!h.is_closed(r));
}

// ---- check 53: messages to a route's queue interest -----------------------------

#[test]
fn r53_queue_interest_on_route() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(r, "RS+ $G rq qq 3\r\n");
    let c = h.connected(QUIET);
    h.send(c, "PUB rq rr 1\r\nx\r\n");
    assert_eq!(h.take(r), "RMSG $G rq + rr qq 1\r\nx\r\n");
    h.send(c, "PUB rq 1\r\ny\r\n");
    assert_eq!(h.take(r), "RMSG $G rq | qq 1\r\ny\r\n");
    h.send(c, "HPUB rq 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(h.take(r), "");
    // Removing the group: nothing more.
    h.send(r, "RS- $G rq qq\r\n");
    h.send(c, "PUB rq 1\r\nz\r\n");
    assert_eq!(h.take(r), "");
}

#[test]
fn r53_plain_and_queue_interest_in_one_rmsg() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(r, "RS+ $G rq\r\nRS+ $G rq qq 1\r\n");
    let c = h.connected(QUIET);
    h.send(c, "PUB rq rr 1\r\nx\r\n");
    assert_eq!(h.take(r), "RMSG $G rq + rr qq 1\r\nx\r\n");
}

#[test]
fn r53_local_queue_member_preferred() {
    // Deliberate difference (issue requirement): a local member of the
    // group always takes the message; the route is not named.
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(r, "RS+ $G rq qq 3\r\n");
    let s = h.connected(QUIET);
    h.send(s, "SUB rq qq 7\r\n");
    assert_eq!(h.take(r), "RS+ $G rq qq 1\r\n");
    let c = h.connected(QUIET);
    for _ in 0..20 {
        h.send(c, "PUB rq 1\r\nx\r\n");
    }
    assert_eq!(h.take(r), "");
    assert_eq!(h.take(s), "MSG rq 7 1\r\nx\r\n".repeat(20));
}

// ---- check 54: messages from a route --------------------------------------------

#[test]
fn r54_routed_messages_to_local_subscribers() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\nSUB bar grp 2\r\nSUB baz grp 3\r\nPING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
    h.take(r);
    h.send(r, "RMSG $G baz + rep grp 1\r\nx\r\n");
    assert_eq!(h.take(c), "MSG baz 3 rep 1\r\nx\r\n");
    h.send(r, "RMSG $G bar | grp 1\r\ny\r\n");
    assert_eq!(h.take(c), "MSG bar 2 1\r\ny\r\n");
    h.send(r, "RMSG $G foo r.9 2\r\nhi\r\n");
    assert_eq!(h.take(c), "MSG foo 1 r.9 2\r\nhi\r\n");
    // A plain RMSG (no queue list) skips queue subscribers.
    h.send(r, "RMSG $G bar 1\r\nz\r\n");
    assert_eq!(h.take(c), "");
    h.send(r, "RMSG $G bar r 1\r\nz\r\n");
    assert_eq!(h.take(c), "");
    // A queue list naming another group skips this one.
    h.send(r, "RMSG $G bar | other 1\r\nz\r\n");
    assert_eq!(h.take(c), "");
    // Nothing goes back to the route.
    assert_eq!(h.take(r), "");
    assert!(!h.is_closed(r));
}

#[test]
fn r54_one_member_per_named_group() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let a = h.connected(QUIET);
    let b = h.connected(QUIET);
    h.send(a, "SUB q g1 1\r\nSUB q g2 2\r\nSUB q 3\r\n");
    h.send(b, "SUB q g1 1\r\nSUB q g2 2\r\n");
    for _ in 0..10 {
        h.send(r, "RMSG $G q | g1 g2 1\r\nx\r\n");
    }
    let out = format!("{}{}", h.take(a), h.take(b));
    assert_eq!(out.matches("MSG q 1 1\r\n").count(), 10, "{out}");
    assert_eq!(out.matches("MSG q 2 1\r\n").count(), 10, "{out}");
    assert_eq!(out.matches("MSG q 3 1\r\n").count(), 10, "{out}");
}

#[test]
fn r54_routed_message_headers_to_clients() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let plain = h.connected(QUIET);
    let hdrs = h.connected(QUIET_HDRS);
    h.send(plain, "SUB h 5\r\nPING\r\n");
    h.send(hdrs, "SUB h 6\r\nPING\r\n");
    h.take(plain);
    h.take(hdrs);
    h.send(r, "HMSG $G h rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    // A client without header support gets the headers stripped.
    assert_eq!(h.take(plain), "MSG h 5 rep 2\r\nhi\r\n");
    assert_eq!(h.take(hdrs), "HMSG h 6 rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    h.send(r, "HMSG $G h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(h.take(plain), "MSG h 5 2\r\nhi\r\n");
    assert_eq!(h.take(hdrs), "HMSG h 6 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
}

#[test]
fn r54_routed_message_not_forwarded_to_other_routes() {
    let mut h = server();
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let r2 = fake_route(&mut h, "NFAKE2", 16301, "127.0.0.1:16398");
    // r1 was told about NFAKE2 (gossip); drop that.
    h.take(r1);
    h.send(r2, "RS+ $G baz\r\nRS+ $G baz grp 1\r\nRS+ $G >\r\n");
    h.send(r1, "RMSG $G baz 1\r\nx\r\n");
    h.send(r1, "RMSG $G baz + rep grp 1\r\nx\r\n");
    h.send(r1, "HMSG $G baz 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(h.take(r2), "");
    assert_eq!(h.take(r1), "");
    // A client's publish reaches r2 (and not r1, which has no interest).
    let c = h.connected(QUIET);
    h.send(c, "PUB baz 1\r\nx\r\n");
    assert_eq!(h.take(r2), "RMSG $G baz | grp 1\r\nx\r\n");
    assert_eq!(h.take(r1), "");
}

#[test]
fn r54_echo_to_own_route_never_happens() {
    // A routed message matching the same route's own interest is not sent
    // back on it.
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(r, "RS+ $G loop\r\nRMSG $G loop 1\r\nx\r\nPING\r\n");
    assert_eq!(h.take(r), "PONG\r\n");
}

// ---- check 55 (engine level): gossip and connect_urls ------------------------------

#[test]
fn r55_gossip_and_connect_urls() {
    let mut h = server();
    let c = async_info_client(&mut h);
    let before = h.accept();
    // Before any route: no connect_urls in the client INFO.
    let info = info_json(&h.take(before));
    assert!(info.get("connect_urls").is_none(), "{info}");

    // First route registers: the client hears about its client URL.
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let out = h.take(c);
    assert!(
        out.starts_with("INFO {") && out.ends_with("} \r\n"),
        "{out}"
    );
    assert_eq!(out.matches("INFO ").count(), 1, "{out}");
    let info = info_json(&out);
    assert_eq!(
        connect_urls(&info),
        ["127.0.0.1:4222", "127.0.0.1:16399"],
        "{out}"
    );
    assert!(info.get("connect_info").is_none(), "{out}");
    assert!(info.get("remote_account").is_none(), "{out}");
    assert_eq!(info["cluster"], "testc");

    // Second route registers: its INFO is forwarded to r1 with `ip`, no
    // nonce and no trailing space; the client gets a third URL.
    let r2 = fake_route(&mut h, "NFAKE2", 16301, "127.0.0.1:16398");
    let fwd = h.take(r1);
    assert!(fwd.starts_with("INFO {") && fwd.ends_with("}\r\n"), "{fwd}");
    assert_eq!(fwd.matches("\r\n").count(), 1, "{fwd}");
    let gossip = info_json_any(&fwd);
    assert_eq!(gossip["server_id"], "NFAKE2");
    assert_eq!(gossip["ip"], "nats-route://127.0.0.1:16301/");
    assert_eq!(gossip["port"], 16301);
    assert_eq!(gossip["cluster"], "testc");
    assert_eq!(connect_urls(&gossip), ["127.0.0.1:16398"]);
    assert!(gossip.get("nonce").is_none(), "{fwd}");
    assert!(gossip.get("gossip_mode").is_none(), "{fwd}");
    let info = info_json(&h.take(c));
    assert_eq!(
        connect_urls(&info),
        ["127.0.0.1:4222", "127.0.0.1:16399", "127.0.0.1:16398"]
    );

    // r1 gossips a third server: the engine dials its `ip`.
    assert!(h.dials.is_empty(), "{:?}", h.dials);
    h.send(
        r1,
        "INFO {\"server_id\":\"NFAKE3\",\"server_name\":\"f3\",\"version\":\"2.15.1\",\"proto\":3,\"host\":\"127.0.0.1\",\"port\":7777,\"headers\":true,\"max_payload\":1048576,\"ip\":\"nats-route://127.0.0.1:7777/\",\"cluster\":\"testc\",\"connect_urls\":[\"127.0.0.1:17777\"]}\r\n",
    );
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let (d, addr) = h.dials[0].clone();
    assert_eq!(addr, "127.0.0.1:7777");
    assert!(!h.is_closed(r1));
    h.dialed(d);
    // CONNECT alone: with compression to negotiate (`accept` by default)
    // our INFO waits for the peer's, as nats-server's does.
    let connect = h.take(d);
    let connect = connect.trim_end();
    let own_id = h.server.server_id().to_string();
    assert_eq!(
        connect,
        format!(
            "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"{own_id}\",\"cluster\":\"testc\"}}"
        )
    );

    // The peer answers with its INFO: registered. Deliberate difference:
    // nats-server does not gossip a route it dialed because of gossip;
    // Canopy does (a restarted member may need it to find the others).
    h.send(d, &peer_info("NFAKE3", 7777, "127.0.0.1:17777"));
    // Our delayed INFO: no nonce, no trailing space, proto 3.
    let info = h.take(d);
    assert!(
        info.starts_with("INFO {") && info.ends_with("}\r\n"),
        "{info}"
    );
    let i = info_json_any(&info);
    assert_eq!(i["proto"], 3);
    assert!(i.get("nonce").is_none(), "{info}");
    assert_eq!(i["server_id"], own_id.as_str());
    for r in [r1, r2] {
        let gossip = h.take(r);
        assert!(
            gossip.starts_with("INFO {\"server_id\":\"NFAKE3\"")
                && gossip.contains("\"ip\":\"nats-route://127.0.0.1:7777/\""),
            "{gossip}"
        );
    }
    let info = info_json(&h.take(c));
    assert_eq!(
        connect_urls(&info),
        [
            "127.0.0.1:4222",
            "127.0.0.1:16399",
            "127.0.0.1:16398",
            "127.0.0.1:17777"
        ]
    );
    // Gossip about a connected server, or about ourselves: no dial.
    h.send(r1, &peer_info("NFAKE2", 16301, "127.0.0.1:16398"));
    h.send(r2, &peer_info(&own_id, 6222, "127.0.0.1:4222"));
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);

    // r2 goes away: an INFO without its URL; nothing on the wire to routes.
    peer_closed(&mut h, r2);
    let info = info_json(&h.take(c));
    assert_eq!(
        connect_urls(&info),
        ["127.0.0.1:4222", "127.0.0.1:16399", "127.0.0.1:17777"]
    );
    assert_eq!(h.take(r1), "");
    assert_eq!(h.take(d), "");
    // A client that never had its first PONG got no async INFO.
    assert_eq!(h.take(before), "");
}

#[test]
fn r55_protocol_zero_client_gets_no_async_info() {
    let mut h = server();
    let c = h.connected(QUIET);
    h.send(c, "PING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    assert_eq!(h.take(c), "");
    peer_closed(&mut h, r);
    assert_eq!(h.take(c), "");
    // But a new client's INFO lists the URLs known now (own URL only).
    let n = h.accept();
    let info = info_json(&h.take(n));
    assert_eq!(connect_urls(&info), ["127.0.0.1:4222"]);
}

#[test]
fn r55_no_advertise_sends_no_async_info() {
    let mut h = Harness::new(clustered(ClusterOptions {
        no_advertise: true,
        ..cluster()
    }));
    let c = async_info_client(&mut h);
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    assert_eq!(h.take(c), "");
    peer_closed(&mut h, r);
    assert_eq!(h.take(c), "");
}

#[test]
fn r55_gossip_of_configured_route_not_dialed_twice() {
    // Fact 8: an INFO whose host:port is a configured route is ignored.
    let mut h = Harness::new(clustered(ClusterOptions {
        routes: vec![RouteAddr::parse("nats-route://127.0.0.1:7777").unwrap()],
        ..cluster()
    }));
    h.advance(Duration::ZERO);
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    // The configured dial failed; its 1 s retry is pending.
    let d = h.dials[0].0;
    let now = h.now;
    h.server.handle_dial_failed(d, now);
    h.drain();
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(
        r1,
        "INFO {\"server_id\":\"NFAKE3\",\"host\":\"127.0.0.1\",\"port\":7777,\"ip\":\"nats-route://127.0.0.1:7777/\",\"cluster\":\"testc\"}\r\n",
    );
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    // Only the configured retry dials it, once.
    h.advance(Duration::from_millis(1000));
    assert_eq!(h.dials.len(), 2, "{:?}", h.dials);
    assert_eq!(h.dials[1].1, "127.0.0.1:7777");
}

/// Gossips a server `NFAKE3` at 127.0.0.1:7777 on `r`, with or without
/// `auth_required`.
fn gossip_fake3(h: &mut Harness, r: ConnId, auth_required: bool) {
    let auth = if auth_required {
        ",\"auth_required\":true"
    } else {
        ""
    };
    h.send(
        r,
        &format!(
            "INFO {{\"server_id\":\"NFAKE3\",\"host\":\"127.0.0.1\",\"port\":7777{auth},\"ip\":\"nats-route://127.0.0.1:7777/\",\"cluster\":\"testc\"}}\r\n"
        ),
    );
}

fn auth_fake_route(h: &mut Harness, id: &str, port: u16) -> ConnId {
    let r = h.route();
    h.send(
        r,
        &format!(
            "{}{}PING\r\n",
            auth_connect_as(id, "ru", "rp"),
            peer_info(id, port, "127.0.0.1:16399")
        ),
    );
    assert!(h.take(r).ends_with("PONG\r\n"));
    r
}

#[test]
fn r55_gossip_with_auth_required_dials_with_cluster_credentials() {
    // Fact 8: the implicit dial adds the cluster user/pass when the
    // gossiped INFO has auth_required.
    let mut h = auth_server();
    let r1 = auth_fake_route(&mut h, "NFAKE1", 16300);
    gossip_fake3(&mut h, r1, true);
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let d = h.dials[0].0;
    h.dialed(d);
    let out = h.take(d);
    assert!(
        out.starts_with("CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"ru\",\"pass\":\"rp\","),
        "{out}"
    );
}

#[test]
fn r55_gossip_without_auth_required_dials_without_credentials() {
    // Fact 8: user/pass are added only "if auth_required".
    let mut h = auth_server();
    let r1 = auth_fake_route(&mut h, "NFAKE1", 16300);
    gossip_fake3(&mut h, r1, false);
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let d = h.dials[0].0;
    h.dialed(d);
    let out = h.take(d);
    let connect = out.split("\r\n").next().unwrap();
    assert!(!connect.contains("\"user\""), "{connect}");
    assert!(!connect.contains("\"pass\""), "{connect}");
}

#[test]
fn r55_implicit_route_redialed_at_once_after_disconnect() {
    // Fact 9: a registered implicit route that disconnects is re-dialed
    // after rand(0-100 ms), with no 1 s base.
    let mut h = server();
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    gossip_fake3(&mut h, r1, false);
    let d = h.dials[0].0;
    h.dialed(d);
    h.take(d);
    h.send(d, &peer_info("NFAKE3", 7777, "127.0.0.1:17777"));
    assert!(!h.is_closed(d));
    peer_closed(&mut h, d);
    h.advance(Duration::from_millis(100));
    assert_eq!(h.dials.len(), 2, "{:?}", h.dials);
    assert_eq!(h.dials[1].1, "127.0.0.1:7777");
}

#[test]
fn known_member_learned_by_gossip_is_never_given_up() {
    // Deliberate difference (found by the simulator): nats-server gives up
    // after connect_retries even on a member it was routed to, leaving the
    // mesh incomplete; Canopy keeps dialing it, backing off to 30 s.
    let mut h = server();
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    gossip_fake3(&mut h, r1, false);
    let d = h.dials[0].0;
    h.dialed(d);
    h.take(d);
    h.send(d, &peer_info("NFAKE3", 7777, "127.0.0.1:17777"));
    peer_closed(&mut h, d);
    // Every dial fails for ten minutes.
    let mut gaps = Vec::new();
    let mut last = h.now;
    let mut seen = 1;
    let end = h.now + Duration::from_secs(600);
    while h.now < end {
        h.advance(Duration::from_millis(50));
        while h.dials.len() > seen {
            let c = h.dials[seen].0;
            seen += 1;
            gaps.push(h.now.saturating_since(last));
            last = h.now;
            let now = h.now;
            h.server.handle_dial_failed(c, now);
            h.drain();
        }
    }
    assert!(gaps.len() > 20, "kept dialing: {} dials", gaps.len());
    let longest = gaps.iter().max().copied().unwrap_or_default();
    assert!(
        longest <= Duration::from_millis(30_200),
        "backs off to at most 30 s: {longest:?}"
    );
    assert!(longest >= Duration::from_secs(29), "backs off: {longest:?}");
}

#[test]
fn r55_implicit_route_one_attempt() {
    // Fact 9: connect_retries 0 means one attempt and no retry.
    let mut h = server();
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(
        r1,
        "INFO {\"server_id\":\"NFAKE3\",\"host\":\"127.0.0.1\",\"port\":7777,\"ip\":\"nats-route://127.0.0.1:7777/\",\"cluster\":\"testc\"}\r\n",
    );
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let d = h.dials[0].0;
    let now = h.now;
    h.server.handle_dial_failed(d, now);
    h.drain();
    h.advance(Duration::from_secs(10));
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
}

// ---- route to self, duplicates ---------------------------------------------------

#[test]
fn route_to_self_closed_and_never_redialed() {
    let mut h = Harness::new(clustered(ClusterOptions {
        routes: vec![RouteAddr::parse("nats-route://127.0.0.1:6222").unwrap()],
        compression: crate::compression::Compression::new(crate::compression::Mode::Off),
        ..cluster()
    }));
    h.advance(Duration::ZERO);
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let (d, addr) = h.dials[0].clone();
    assert_eq!(addr, "127.0.0.1:6222");
    h.dialed(d);
    let out = h.take(d);
    let own_id = info_json_any(out.split_once("\r\n").unwrap().1)["server_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The accepting half (ourselves) answers with our own INFO.
    h.send(d, &peer_info(&own_id, 6222, "127.0.0.1:4222"));
    assert_eq!(h.take(d), "");
    assert!(h.is_closed(d));
    h.advance(Duration::from_secs(60));
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
}

#[test]
fn accepted_route_from_self_closed() {
    let mut h = server();
    let r = h.accept_route();
    let own_id = info_json(&h.take(r))["server_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        h.send_closed(
            r,
            &format!(
                "{}{}",
                route_connect(&own_id, "testc"),
                peer_info(&own_id, 6222, "127.0.0.1:4222")
            )
        ),
        ""
    );
}

#[test]
fn duplicate_route_closed_silently() {
    let mut h = server();
    let c = h.connected(QUIET);
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let r2 = h.route();
    h.send(r2, &peer_hello("NFAKE1", 16300, "127.0.0.1:16399"));
    assert_eq!(h.take(r2), "");
    assert!(h.is_closed(r2));
    // The first one is kept and still works.
    assert!(!h.is_closed(r1));
    h.send(r1, "RS+ $G foo\r\nPING\r\n");
    assert_eq!(h.take(r1), "PONG\r\n");
    h.send(c, "PUB foo 1\r\nx\r\n");
    assert_eq!(h.take(r1), "RMSG $G foo 1\r\nx\r\n");
    // Not forwarded as gossip either.
    h.send(c, "SUB s 1\r\n");
    assert_eq!(h.take(r1), "RS+ $G s\r\n");
}

#[test]
fn duplicate_dialed_route_not_redialed() {
    // A configured route whose server already registered over an accepted
    // connection: the dialed one is the duplicate, closed silently, and
    // not re-dialed while the first connection lives.
    let mut h = Harness::new(clustered(ClusterOptions {
        routes: vec![RouteAddr::parse("nats-route://127.0.0.1:16300").unwrap()],
        ..cluster()
    }));
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.advance(Duration::ZERO);
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let d = h.dials[0].0;
    h.dialed(d);
    h.take(d);
    h.send(d, &peer_info("NFAKE1", 16300, "127.0.0.1:16399"));
    assert_eq!(h.take(d), "");
    assert!(h.is_closed(d));
    h.advance(Duration::from_secs(30));
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    assert!(!h.is_closed(r1));
}

#[test]
fn pinned_account_connection_refused() {
    // Facts 15/17: nats-server's pinned $SYS connection to a non-pooling
    // peer is refused.
    let mut h = server();
    let r = h.route();
    assert_eq!(h.send_closed(r, &format!(
            "{}INFO {{\"server_id\":\"NGO\",\"host\":\"127.0.0.1\",\"port\":16248,\"cluster\":\"testc\",\"route_pool_size\":3,\"route_account\":\"$SYS\"}}\r\n",
            route_connect("NGO", "testc")
        )), "-ERR 'Not possible to have a dedicated route for account \"$SYS\" between those servers'\r\n");
}

// ---- cluster authorization -----------------------------------------------------

fn auth_server() -> Harness {
    Harness::new(clustered(ClusterOptions {
        credentials: Some(("ru".into(), "rp".into())),
        auth_timeout: Duration::from_secs(2),
        ..cluster()
    }))
}

fn auth_connect(user: &str, pass: &str) -> String {
    auth_connect_as("NFAKE1", user, pass)
}

fn auth_connect_as(id: &str, user: &str, pass: &str) -> String {
    format!(
        "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"{user}\",\"pass\":\"{pass}\",\"tls_required\":false,\"headers\":true,\"name\":\"{id}\",\"cluster\":\"testc\"}}\r\n"
    )
}

#[test]
fn no_auth_timeout_without_cluster_authorization() {
    // nats-server createRoute: the auth timer is set only when
    // `authRequired && !didSolicit`; without cluster authorization a
    // silent route connection gets its PING at ~1 s and stays open.
    let mut h = Harness::new(clustered(ClusterOptions {
        compression: crate::compression::Compression::new(crate::compression::Mode::Off),
        ..cluster()
    }));
    let r = h.route();
    h.advance(Duration::from_secs(5));
    assert_eq!(h.take(r), "PING\r\n");
    assert!(!h.is_closed(r));
}

#[test]
fn auth_info_says_auth_required() {
    let mut h = auth_server();
    let r = h.accept_route();
    let info = info_json(&h.take(r));
    assert_eq!(info["auth_required"], true);
}

#[test]
fn auth_wrong_password() {
    let mut h = auth_server();
    let r = h.route();
    assert_eq!(
        h.send_closed(r, &auth_connect("ru", "nope")),
        "-ERR 'Authorization Violation'\r\n"
    );
}

#[test]
fn auth_missing_credentials() {
    let mut h = auth_server();
    let r = h.route();
    assert_eq!(
        h.send_closed(r, &route_connect("NFAKE1", "testc")),
        "-ERR 'Authorization Violation'\r\n"
    );
}

#[test]
fn auth_good_credentials() {
    let mut h = auth_server();
    let r = h.route();
    h.send(
        r,
        &format!(
            "{}{}PING\r\n",
            auth_connect("ru", "rp"),
            peer_info("NFAKE1", 16300, "127.0.0.1:16399")
        ),
    );
    assert_eq!(h.take(r), "PONG\r\n");
    // The auth timer was stopped.
    h.advance(Duration::from_millis(2500));
    let out = h.take(r);
    assert!(!out.contains("-ERR"), "{out}");
    assert!(!h.is_closed(r));
}

#[test]
fn auth_timeout() {
    let mut h = auth_server();
    let r = h.route();
    h.advance(Duration::from_millis(1900));
    assert!(!h.is_closed(r));
    h.advance(Duration::from_millis(200));
    let out = h.take(r);
    assert!(out.ends_with("-ERR 'Authentication Timeout'\r\n"), "{out}");
    assert!(h.is_closed(r));
}

#[test]
fn ping_before_connect_is_refused_with_or_without_auth() {
    // Facts 30: anything but CONNECT first on the route port is refused.
    for mut h in [auth_server(), server()] {
        let r = h.route();
        h.send(r, "PING\r\n");
        assert_eq!(h.take(r), "-ERR 'Authorization Violation'\r\n");
        assert!(h.is_closed(r));
    }
}

#[test]
fn client_ops_on_route_are_unknown() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    assert_eq!(
        h.send_closed(r, "SUB foo 1\r\n"),
        "-ERR 'Unknown Protocol Operation'\r\n"
    );
}

// ---- interest of a closed route ---------------------------------------------------

#[test]
fn closed_route_interest_removed_at_once() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(r, "RS+ $G gone\r\nRS+ $G gone qq 2\r\n");
    let c = h.connected(r#"{"verbose":false,"headers":true,"no_responders":true}"#);
    h.send(c, "SUB inbox.1 9\r\n");
    assert_eq!(h.take(r), "RS+ $G inbox.1\r\n");
    // While the route has interest: forwarded, no 503.
    h.send(c, "PUB gone inbox.1 2\r\nhi\r\n");
    assert_eq!(h.take(r), "RMSG $G gone + inbox.1 qq 2\r\nhi\r\n");
    assert_eq!(h.take(c), "");
    peer_closed(&mut h, r);
    h.send(c, "PUB gone inbox.1 2\r\nhi\r\n");
    assert_eq!(h.take(r), "");
    assert_eq!(
        h.take(c),
        "HMSG inbox.1 9 36 36\r\nNATS/1.0 503\r\nNats-Subject: gone\r\n\r\n\r\n"
    );
}

#[test]
fn closed_route_plain_pub_goes_nowhere() {
    let mut h = server();
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let r2 = fake_route(&mut h, "NFAKE2", 16301, "127.0.0.1:16398");
    h.take(r1);
    h.send(r1, "RS+ $G gone\r\n");
    peer_closed(&mut h, r1);
    let c = h.connected(QUIET);
    h.send(c, "PUB gone 1\r\nx\r\nPING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
    assert_eq!(h.take(r1), "");
    assert_eq!(h.take(r2), "");
}

// ---- PING / PONG ------------------------------------------------------------------

#[test]
fn route_first_ping_after_about_one_second() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.advance(Duration::from_millis(990));
    assert_eq!(h.take(r), "");
    h.advance(Duration::from_millis(210));
    assert_eq!(h.take(r), "PING\r\n");
    h.send(r, "PONG\r\nPING\r\n");
    assert_eq!(h.take(r), "PONG\r\n");
    assert!(!h.is_closed(r));
}

#[test]
fn route_pings_every_30s_and_stale_at_about_61s() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.advance(Duration::from_millis(1200));
    assert_eq!(h.take(r), "PING\r\n");
    h.advance(Duration::from_secs(29));
    assert_eq!(h.take(r), "");
    h.advance(Duration::from_millis(1300));
    assert_eq!(h.take(r), "PING\r\n");
    assert!(!h.is_closed(r));
    h.advance(Duration::from_secs(30));
    assert_eq!(h.take(r), "-ERR 'Stale Connection'\r\n");
    assert!(h.is_closed(r));
}

#[test]
fn route_pings_even_with_traffic() {
    // Fact 22: route PINGs are always sent, even if traffic flowed.
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.advance(Duration::from_millis(1200));
    assert_eq!(h.take(r), "PING\r\n");
    h.send(r, "PONG\r\n");
    let c = h.connected(QUIET);
    h.send(c, "SUB t 1\r\n");
    h.take(r);
    let mut pings = 0;
    for _ in 0..35 {
        h.send(r, "RMSG $G t 1\r\nx\r\n");
        h.advance(Duration::from_secs(1));
        let out = h.take(r);
        if out.contains("PING\r\n") {
            pings += 1;
            h.send(r, "PONG\r\n");
        }
    }
    assert_eq!(pings, 1, "a PING about 30 s after the first");
    assert!(!h.is_closed(r));
}

// ---- bad input on a route ------------------------------------------------------------

#[test]
fn unknown_account_ignored() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\n");
    h.take(r);
    h.send(
        r,
        "RS+ NOPE foo\r\nRS+ NOPE bar q 1\r\nRS- NOPE foo\r\nRMSG NOPE foo 1\r\nx\r\nHMSG NOPE foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n",
    );
    assert_eq!(h.take(r), "PONG\r\n");
    assert!(!h.is_closed(r));
    assert_eq!(h.take(c), "");
    // Interest in an unknown account does not match $G publishes.
    h.send(c, "PUB bar 1\r\nx\r\n");
    assert_eq!(h.take(r), "");
}

#[test]
fn malformed_rmsg_closes_silently() {
    for input in [
        "RMSG $G\r\n",
        "RMSG $G foo\r\n",
        "RMSG $G foo bar\r\n",
        "RMSG $G foo x r 3\r\n",
        "HMSG $G foo 5 3\r\n",
        "RS+ $G\r\n",
        "RS+ $G foo q x\r\n",
    ] {
        let mut h = server();
        let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
        h.send(r, input);
        assert_eq!(h.take(r), "", "{input:?}");
        assert!(h.is_closed(r), "{input:?}");
    }
}

#[test]
fn err_from_route_closes() {
    let mut h = server();
    let r = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.send(r, "-ERR 'Stale Connection'\r\n");
    assert!(h.is_closed(r));
}

// ---- split reads ---------------------------------------------------------------------

/// Runs a fixed script on a fresh engine, feeding the route's bytes with
/// `feed`; returns every output, in order.
fn split_script(feed: impl Fn(&mut Harness, ConnId, &str)) -> Vec<String> {
    let mut h = server();
    let c = h.connected(QUIET_HDRS);
    h.send(c, "SUB foo 1\r\nSUB bar grp 2\r\nSUB h 3\r\n");
    let r = h.accept_route();
    let mut outs = vec![h.take(r)];
    let stream = format!(
        "{}{}PING\r\nRS+ $G rsub\r\nRS+ $G rq qq 3\r\nRMSG $G foo r.1 3\r\nabc\r\nRMSG $G bar | grp 1\r\ny\r\nHMSG $G h rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\nRMSG $G foo 0\r\n\r\nRS- $G rsub\r\nPING\r\n",
        route_connect("NFAKE1", "testc"),
        peer_info("NFAKE1", 16300, "127.0.0.1:16399")
    );
    feed(&mut h, r, &stream);
    outs.push(h.take(r));
    outs.push(h.take(c));
    h.send(c, "PUB rsub 1\r\nx\r\nPUB rq rr 1\r\nz\r\n");
    outs.push(h.take(r));
    outs.push(format!("closed={}", h.is_closed(r)));
    outs
}

#[test]
fn split_reads_give_same_output() {
    let whole = split_script(|h, r, s| h.send(r, s));
    assert_eq!(
        whole[1],
        "RS+ $G bar grp 1\r\nRS+ $G foo\r\nRS+ $G h\r\nPONG\r\nPONG\r\n"
    );
    assert_eq!(
        whole[2],
        "MSG foo 1 r.1 3\r\nabc\r\nMSG bar 2 1\r\ny\r\nHMSG h 3 rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\nMSG foo 1 0\r\n\r\n"
    );
    assert_eq!(whole[3], "RMSG $G rq + rr qq 1\r\nz\r\n");
    assert_eq!(whole[4], "closed=false");
    let bytewise = split_script(|h, r, s| {
        for b in s.as_bytes() {
            h.send_bytes(r, std::slice::from_ref(b));
        }
    });
    assert_eq!(whole, bytewise);
}

// ---- dialing (solicited routes) ---------------------------------------------------------

fn solicit_server(url: &str) -> Harness {
    let mut h = Harness::new(clustered(ClusterOptions {
        routes: vec![RouteAddr::parse(url).unwrap()],
        ..cluster()
    }));
    h.advance(Duration::ZERO);
    h
}

#[test]
fn dialed_route_connect_info_snapshot_ping() {
    let mut h = solicit_server("nats-route://127.0.0.1:16300");
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let (d, addr) = h.dials[0].clone();
    assert_eq!(addr, "127.0.0.1:16300");
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\n");
    h.dialed(d);
    // CONNECT at once (fact 17); with compression to negotiate (`accept`
    // by default) the INFO waits for the peer's, as nats-server's does.
    let connect = h.take(d);
    assert!(connect.starts_with("CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"N"), "{connect}");
    assert!(
        connect.ends_with(",\"cluster\":\"testc\"}\r\n"),
        "{connect}"
    );
    // The peer's INFO (no `compression`: it predates compression) gets
    // our INFO, with no nonce and no trailing space, then the snapshot;
    // PING is answered.
    h.send(
        d,
        &format!("{}PING\r\n", peer_info("NFAKE1", 16300, "127.0.0.1:16399")),
    );
    let out = h.take(d);
    let (info, rest) = out.split_once("\r\n").unwrap();
    let info = format!("{info}\r\n");
    assert!(
        info.starts_with("INFO {") && info.ends_with("}\r\n"),
        "{out}"
    );
    let i = info_json_any(&info);
    assert!(i.get("nonce").is_none(), "{out}");
    assert!(i.get("route_pool_size").is_none(), "{out}");
    assert_eq!(connect_urls(&i), ["127.0.0.1:4222"]);
    assert_eq!(i["compression"], "not supported", "{out}");
    assert_eq!(rest, "RS+ $G foo\r\nPONG\r\n");
    // Messages both ways.
    h.send(d, "RS+ $G bar\r\nRMSG $G foo 1\r\nx\r\n");
    assert_eq!(h.take(c), "MSG foo 1 1\r\nx\r\n");
    h.send(c, "PUB bar 1\r\ny\r\n");
    assert_eq!(h.take(d), "RMSG $G bar 1\r\ny\r\n");
    // First PING about 1 s after the connection was made.
    h.advance(Duration::from_millis(1200));
    assert_eq!(h.take(d), "PING\r\n");
}

#[test]
fn dialed_route_ignores_connect_from_peer() {
    let mut h = solicit_server("nats-route://127.0.0.1:16300");
    let d = h.dials[0].0;
    h.dialed(d);
    h.take(d);
    h.send(d, &peer_hello("NFAKE1", 16300, "127.0.0.1:16399"));
    let out = h.take(d);
    assert!(
        out.starts_with("INFO {") && out.ends_with("}\r\nPONG\r\n"),
        "{out}"
    );
    assert!(!h.is_closed(d));
}

#[test]
fn failed_dial_retried_every_second() {
    // Fact 10: explicit routes are re-dialed every 1 s, forever.
    let mut h = solicit_server("nats-route://127.0.0.1:16300");
    for n in 1..=5 {
        assert_eq!(h.dials.len(), n, "{:?}", h.dials);
        let d = h.dials[n - 1].0;
        let now = h.now;
        h.server.handle_dial_failed(d, now);
        h.drain();
        h.advance(Duration::from_millis(999));
        assert_eq!(h.dials.len(), n, "{:?}", h.dials);
        h.advance(Duration::from_millis(1));
    }
    assert!(h.dials.iter().all(|(_, a)| a == "127.0.0.1:16300"));
}

#[test]
fn registered_explicit_route_redialed_after_one_second() {
    // Fact 11: 1 s + rand(0-100 ms) after a solicited route disconnects.
    let mut h = solicit_server("nats-route://127.0.0.1:16300");
    let d = h.dials[0].0;
    h.dialed(d);
    h.take(d);
    h.send(d, &peer_info("NFAKE1", 16300, "127.0.0.1:16399"));
    peer_closed(&mut h, d);
    h.advance(Duration::from_millis(999));
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    h.advance(Duration::from_millis(101));
    assert_eq!(h.dials.len(), 2, "{:?}", h.dials);
    assert_eq!(h.dials[1].1, "127.0.0.1:16300");
}

#[test]
fn dialed_cluster_name_mismatch_closes_silently_and_retries() {
    // Fact 26: the solicitor closes with no -ERR and retries every ~1 s.
    let mut h = solicit_server("nats-route://127.0.0.1:16300");
    let d = h.dials[0].0;
    h.dialed(d);
    h.take(d);
    h.send(
        d,
        "INFO {\"server_id\":\"NOTHER\",\"host\":\"127.0.0.1\",\"port\":16300,\"cluster\":\"other\"}\r\n",
    );
    assert_eq!(h.take(d), "");
    assert!(h.is_closed(d));
    h.advance(Duration::from_millis(1100));
    assert_eq!(h.dials.len(), 2, "{:?}", h.dials);
}

#[test]
fn kept_route_redialed_at_once_after_dropped_duplicate() {
    // Facts 3, 4, 11: when a solicited duplicate was dropped, the kept
    // connection takes its URL with retry set; when the kept one dies the
    // server re-dials after rand(0-100 ms), with no 1 s base.
    let mut h = Harness::new(clustered(ClusterOptions {
        routes: vec![RouteAddr::parse("nats-route://127.0.0.1:16300").unwrap()],
        ..cluster()
    }));
    let r1 = fake_route(&mut h, "NFAKE1", 16300, "127.0.0.1:16399");
    h.advance(Duration::ZERO);
    let d = h.dials[0].0;
    h.dialed(d);
    h.take(d);
    h.send(d, &peer_info("NFAKE1", 16300, "127.0.0.1:16399"));
    assert!(h.is_closed(d));
    peer_closed(&mut h, r1);
    h.advance(Duration::from_millis(100));
    assert_eq!(h.dials.len(), 2, "{:?}", h.dials);
}

#[test]
fn cluster_advertise_replaces_host_port_and_sets_ip() {
    for (advertise, host, port) in [
        ("10.0.0.1:7000", "10.0.0.1", 7000),
        ("routes.example", "routes.example", 6222),
    ] {
        let mut h = Harness::new(clustered(ClusterOptions {
            advertise: advertise.into(),
            ..cluster()
        }));
        let r = h.accept_route();
        let info = info_json(&h.take(r));
        assert_eq!(info["host"], host, "{advertise}");
        assert_eq!(info["port"], port, "{advertise}");
        assert_eq!(
            info["ip"],
            format!("nats-route://{host}:{port}/"),
            "{advertise}"
        );
    }
}

#[test]
fn async_infos_to_a_stalled_client_are_bounded_by_max_pending() {
    // Found by the simulator (seed 57081): routes coming and going sent a
    // slow reader one INFO each, past max_pending. nats-server bounds every
    // client's outbound bytes: Slow Consumer (Pending Bytes).
    let mut h = Harness::new(Options {
        max_pending: 4096,
        ..clustered(cluster())
    });
    let c = async_info_client(&mut h);
    h.stall(c, true);
    for i in 0..40u16 {
        let r = fake_route(
            &mut h,
            &format!("NPEER{i}"),
            16000 + i,
            &format!("127.0.0.1:{}", 17000 + i),
        );
        peer_closed(&mut h, r);
        if h.is_closed(c) {
            break;
        }
    }
    assert!(h.is_closed(c), "the stalled client was cut");
    assert_eq!(h.server.stats().slow_consumers, 1);
}

/// A server bound to every address lists its global unicast addresses
/// (in the driver's interface order, loopback and link-local skipped) as
/// its `connect_urls`, as nats-server does; the routes' URLs follow.
#[test]
fn any_address_host_lists_interface_addresses_in_connect_urls() {
    let mut h = Harness::new(Options {
        host: "0.0.0.0".into(),
        port: 4222,
        cluster: Some(cluster()),
        ..Options::default()
    });
    let addrs: Vec<core::net::IpAddr> = [
        "127.0.0.1",
        "::1",
        "192.0.2.2",
        "fe80::fc:ff:fe00:1",
        "fd00::2",
        "10.1.2.3",
    ]
    .iter()
    .map(|a| a.parse().expect("literal"))
    .collect();
    h.server.handle_host_addresses(&addrs);
    h.drain();
    let c = h.accept();
    let info = info_json(&h.take(c));
    assert_eq!(
        info["connect_urls"],
        serde_json::json!(["192.0.2.2:4222", "[fd00::2]:4222", "10.1.2.3:4222"])
    );
    // A peer's URLs come after ours.
    let _r = h.fake_route_named("NPEER", "peer", 6223, "192.0.2.9:4223");
    let c2 = h.accept();
    let info = info_json(&h.take(c2));
    assert_eq!(
        info["connect_urls"],
        serde_json::json!([
            "192.0.2.2:4222",
            "[fd00::2]:4222",
            "10.1.2.3:4222",
            "192.0.2.9:4223"
        ])
    );
}
