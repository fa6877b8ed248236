//! Gateways (protocol-leaf-gateway.md section 2, checks 50-70): fake
//! gateway peers speak literal protocol bytes to one engine, cluster `A`;
//! the expected bytes are what nats-server 2.15.1 sends or accepts.

use super::harness::Harness;
use crate::route::RouteAddr;
use crate::{ConnId, GatewayOptions, Options, RemoteGatewayOptions};
use std::time::Duration;

const QUIET: &str = r#"{"verbose":false,"pedantic":false,"headers":true}"#;
/// The INFO a nats-server of cluster `B` sends on its gateway port.
const B_INFO: &str = r#"INFO {"server_id":"NBSERVER","server_name":"B1","version":"2.15.1","proto":3,"go":"","host":"127.0.0.1","port":7223,"headers":true,"max_payload":1048576,"gateway":"B","gateway_urls":["127.0.0.1:7223"],"gateway_url":"127.0.0.1:7223","gateway_nrp":true,"gateway_iom":true}"#;
/// The CONNECT a nats-server of cluster `B` sends when it dials us.
const B_CONNECT: &str = r#"CONNECT {"echo":false,"verbose":false,"pedantic":false,"tls_required":false,"headers":false,"name":"NBSERVER","cluster":"","gateway":"B"}"#;

pub(crate) fn remote(name: &str, port: u16) -> RemoteGatewayOptions {
    RemoteGatewayOptions {
        tls: None,
        name: name.into(),
        urls: vec![RouteAddr::parse(&format!("127.0.0.1:{port}")).expect("url")],
    }
}

pub(crate) fn gateway_options(remotes: Vec<RemoteGatewayOptions>) -> Options {
    Options {
        server_name: "A1".into(),
        host: "127.0.0.1".into(),
        port: 4222,
        gateway: Some(GatewayOptions {
            name: "A".into(),
            host: "127.0.0.1".into(),
            port: 7222,
            auth_timeout: Duration::from_secs(2),
            gateways: remotes,
            ..GatewayOptions::default()
        }),
        ..Options::default()
    }
}

/// Cluster `A`, configured with gateway `B` at port 7223.
fn a() -> Harness {
    Harness::new(gateway_options(vec![remote("B", 7223)]))
}

/// The outbound link to `B`: dialed a second after start, `B`'s INFO
/// read; returns it with what we answered.
pub(crate) fn outbound(h: &mut Harness) -> (ConnId, String) {
    assert!(h.dials.is_empty(), "no dial before the solicit delay");
    h.advance(Duration::from_millis(1000));
    let (conn, _) = h
        .dials
        .iter()
        .find(|(_, a)| a == "127.0.0.1:7223")
        .cloned()
        .expect("a dial of B");
    h.dialed(conn);
    h.send(conn, &format!("{B_INFO}\r\n"));
    let out = h.take(conn);
    (conn, out)
}

/// An inbound link from `B`, registered; returns it with what we sent
/// after its INFO.
fn inbound(h: &mut Harness) -> (ConnId, String) {
    let g = h.accept_gateway();
    let info = h.take(g);
    assert!(info.starts_with("INFO {"), "{info}");
    h.send(g, &format!("{B_CONNECT}\r\n{B_INFO}\r\n"));
    let out = h.take(g);
    (g, out)
}

/// The JSON of a gateway INFO line (no space before its CRLF, as
/// nats-server writes it on gateway links).
fn info_json(line: &str) -> serde_json::Value {
    let json = line
        .strip_prefix("INFO ")
        .and_then(|l| l.split("\r\n").next())
        .expect("an INFO line");
    assert!(!json.ends_with(' '), "no space before CRLF: {line:?}");
    serde_json::from_str(json).expect("INFO JSON")
}

/// `out` without the PINGs a link's first-PING timer sends.
fn no_pings(out: String) -> String {
    out.replace("PING\r\n", "")
}

/// The JSON of each INFO line in `out`.
fn infos(out: &str) -> Vec<serde_json::Value> {
    out.split("\r\n")
        .filter(|l| l.starts_with("INFO "))
        .map(|l| info_json(&format!("{l}\r\n")))
        .collect()
}

// ---- handshake ---------------------------------------------------------------

#[test]
fn c50_gateway_port_sends_info_first_without_nonce() {
    let mut h = a();
    let g = h.accept_gateway();
    let out = h.take(g);
    let info = info_json(&out);
    assert_eq!(info["gateway"], "A");
    assert_eq!(info["gateway_url"], "127.0.0.1:7222");
    assert_eq!(info["gateway_urls"], serde_json::json!(["127.0.0.1:7222"]));
    assert_eq!(info["gateway_nrp"], true);
    assert_eq!(info["gateway_iom"], true);
    assert_eq!(info["headers"], true);
    assert_eq!(info["port"], 7222);
    assert!(info.get("nonce").is_none() && info.get("auth_required").is_none());
}

#[test]
fn c51_the_dialer_answers_connect_then_its_own_info() {
    let mut h = a();
    let (_, out) = outbound(&mut h);
    let (connect, rest) = out.split_once("\r\n").expect("two lines");
    let server_id = h.server.server_id().to_string();
    assert_eq!(
        connect,
        format!(
            r#"CONNECT {{"echo":false,"verbose":false,"pedantic":false,"tls_required":false,"headers":false,"name":"{server_id}","cluster":"","gateway":"A"}}"#
        )
    );
    let info = info_json(rest);
    assert_eq!(info["gateway"], "A");
    assert_eq!(info["server_id"], server_id);
}

#[test]
fn c52_an_inbound_link_gets_each_account_switched_to_interest_only() {
    let mut h = a();
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\nSUB bar q 2\r\n");
    let (_, out) = inbound(&mut h);
    // Queue interest first, then per account: cmd 2, plain subs, cmd 3.
    let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "RS+ $G bar q 1", "{out}");
    let cmds: Vec<(u64, String)> = infos(&out)
        .iter()
        .map(|i| {
            (
                i["gateway_cmd"].as_u64().unwrap_or(0),
                i["gateway_cmd_payload"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        cmds,
        [
            (2, "JEc=".to_string()),
            (3, "JEc=".to_string()),
            (2, "JFNZUw==".to_string()),
            (3, "JFNZUw==".to_string()),
        ]
    );
    let g_start = out.find("\"JEc=\"").expect("cmd 2 for $G");
    let plain = out.find("RS+ $G foo\r\n").expect("plain sub in the switch");
    let g_end = out.rfind("\"JEc=\"").expect("cmd 3 for $G");
    assert!(g_start < plain && plain < g_end, "{out}");
}

#[test]
fn c53_an_inbound_link_from_a_new_cluster_is_dialed_back_and_told_the_others() {
    // A knows B and C; an inbound link from D arrives.
    let mut h = Harness::new(gateway_options(vec![remote("B", 7223), remote("C", 7224)]));
    let g = h.accept_gateway();
    h.take(g);
    let d_connect = B_CONNECT.replace("\"B\"", "\"D\"");
    let d_info = B_INFO
        .replace("\"gateway\":\"B\"", "\"gateway\":\"D\"")
        .replace("7223", "7225");
    let before = h.dials.len();
    h.send(g, &format!("{d_connect}\r\n{d_info}\r\n"));
    h.advance(Duration::ZERO);
    let out = h.take(g);
    let gossip: Vec<(String, serde_json::Value)> = infos(&out)
        .into_iter()
        .filter(|i| i["gateway_cmd"] == 1)
        .map(|i| {
            (
                i["gateway"].as_str().unwrap_or("").to_string(),
                i["gateway_urls"].clone(),
            )
        })
        .collect();
    assert_eq!(
        gossip,
        [
            ("B".to_string(), serde_json::json!(["127.0.0.1:7223"])),
            ("C".to_string(), serde_json::json!(["127.0.0.1:7224"])),
        ]
    );
    // D is dialed at once (an implicit gateway).
    let dials: Vec<&str> = h.dials[before..].iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(dials, ["127.0.0.1:7225"]);
}

#[test]
fn c53_gossip_on_an_outbound_link_makes_an_implicit_gateway() {
    let mut h = a();
    let (conn, _) = outbound(&mut h);
    let before = h.dials.len();
    h.send(
        conn,
        "INFO {\"server_id\":\"NBSERVER\",\"gateway\":\"C\",\"gateway_urls\":[\"127.0.0.1:7224\"],\"gateway_cmd\":1}\r\n",
    );
    h.advance(Duration::ZERO);
    let dials: Vec<&str> = h.dials[before..].iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(dials, ["127.0.0.1:7224"]);
}

// ---- interest ----------------------------------------------------------------

#[test]
fn c55_interest_only_nothing_crosses_without_rs_plus() {
    let mut h = a();
    let (out_link, _) = outbound(&mut h);
    let (in_link, _) = inbound(&mut h);
    let c = h.connected(QUIET);
    // No interest at B: nothing goes out.
    h.send(c, "PUB nowhere 2\r\nhi\r\n");
    assert_eq!(h.take(out_link), "");
    // B switches $G and subscribes: then it does.
    h.send(
        out_link,
        "INFO {\"gateway\":\"B\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"JEc=\"}\r\nRS+ $G foo.*\r\nINFO {\"gateway\":\"B\",\"gateway_cmd\":3,\"gateway_cmd_payload\":\"JEc=\"}\r\n",
    );
    h.send(c, "PUB foo.x 2\r\nhi\r\nPUB bar 2\r\nno\r\n");
    assert_eq!(h.take(out_link), "RMSG $G foo.x 2\r\nhi\r\n");
    h.send(out_link, "RS- $G foo.*\r\n");
    h.send(c, "PUB foo.x 2\r\nhi\r\n");
    assert_eq!(h.take(out_link), "");
    // Our own subscriptions go out on the inbound link.
    h.send(c, "SUB mine 1\r\n");
    assert_eq!(h.take(in_link), "RS+ $G mine\r\n");
    h.send(c, "UNSUB 1\r\n");
    assert_eq!(h.take(in_link), "RS- $G mine\r\n");
}

#[test]
fn c68_a_plain_rs_plus_for_an_unswitched_account_is_ignored() {
    let mut h = a();
    let (out_link, _) = outbound(&mut h);
    let c = h.connected(QUIET);
    h.send(out_link, "RS+ $G foo\r\n");
    h.send(c, "PUB foo 2\r\nhi\r\n");
    assert_eq!(h.take(out_link), "", "B advertised gateway_iom");
    // A queue RS+ is taken without the switch.
    h.send(out_link, "RS+ $G foo q 1\r\n");
    h.send(c, "PUB foo 2\r\nhi\r\n");
    assert_eq!(h.take(out_link), "RMSG $G foo | q 2\r\nhi\r\n");
}

#[test]
fn c56_a_message_for_an_unknown_account_gets_a_minus_once() {
    let mut h = a();
    let (in_link, _) = inbound(&mut h);
    h.send(
        in_link,
        "RMSG NOACC foo 2\r\nhi\r\nRMSG NOACC foo 2\r\nhi\r\n",
    );
    assert_eq!(h.take(in_link), "A- NOACC\r\n");
    assert!(!h.is_closed(in_link));
}

#[test]
fn c67_interest_on_an_inbound_link_is_a_protocol_violation() {
    let mut h = a();
    let (in_link, _) = inbound(&mut h);
    h.send(in_link, "RS+ $G foo\r\n");
    assert!(h.is_closed(in_link));
    assert_eq!(
        h.close_reason(in_link),
        Some(crate::CloseReason::ProtocolViolation)
    );
}

// ---- messages ----------------------------------------------------------------

#[test]
fn gateway_messages_reach_local_subscribers_and_never_another_gateway() {
    let mut h = Harness::new(gateway_options(vec![remote("B", 7223), remote("C", 7224)]));
    let (to_b, _) = outbound(&mut h);
    // An outbound link to C too, with interest in everything.
    let (to_c, _) = {
        let (conn, addr) = h
            .dials
            .iter()
            .find(|(_, a)| a.ends_with("7224"))
            .cloned()
            .expect("C");
        assert_eq!(addr, "127.0.0.1:7224");
        h.dialed(conn);
        let c_info = B_INFO.replace("\"gateway\":\"B\"", "\"gateway\":\"C\"");
        h.send(conn, &format!("{c_info}\r\n"));
        (conn, h.take(conn))
    };
    h.send(
        to_c,
        "INFO {\"gateway\":\"C\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"JEc=\"}\r\nRS+ $G >\r\n",
    );
    let (from_b, _) = inbound(&mut h);
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\n");
    h.take(from_b);
    h.send(from_b, "RMSG $G foo 2\r\nhi\r\n");
    assert_eq!(h.take(c), "MSG foo 1 2\r\nhi\r\n");
    assert_eq!(h.take(to_c), "", "no second hop");
    assert_eq!(h.take(to_b), "");
}

#[test]
fn c57_queue_groups_prefer_the_local_member_and_name_the_group() {
    let mut h = a();
    let (out_link, _) = outbound(&mut h);
    let (in_link, _) = inbound(&mut h);
    let local = h.connected(QUIET);
    h.send(local, "SUB work g 1\r\n");
    assert_eq!(h.take(in_link), "RS+ $G work g 1\r\n");
    h.send(out_link, "RS+ $G work g 1\r\n");
    let p = h.connected(QUIET);
    h.send(p, "PUB work 2\r\nhi\r\n");
    assert_eq!(h.take(local), "MSG work 1 2\r\nhi\r\n");
    assert_eq!(h.take(out_link), "", "served here");
    h.send(local, "UNSUB 1\r\n");
    assert_eq!(h.take(in_link), "RS- $G work g\r\n");
    h.send(p, "PUB work 2\r\nhi\r\n");
    assert_eq!(h.take(out_link), "RMSG $G work | g 2\r\nhi\r\n");
    // A message from a gateway without a queue list reaches no member.
    h.send(local, "SUB work g 2\r\n");
    h.send(in_link, "RMSG $G work 2\r\nhi\r\n");
    assert_eq!(h.take(local), "");
    h.send(in_link, "RMSG $G work | g 2\r\nhi\r\n");
    assert_eq!(h.take(local), "MSG work 2 2\r\nhi\r\n");
}

#[test]
fn c58_c59_replies_of_recent_subscriptions_are_mapped() {
    let mut h = a();
    let (out_link, _) = outbound(&mut h);
    h.send(
        out_link,
        "INFO {\"gateway\":\"B\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"JEc=\"}\r\nRS+ $G svc\r\n",
    );
    let c = h.connected(QUIET);
    h.send(c, "SUB _INBOX.a 1\r\nPUB svc _INBOX.a 1\r\nq\r\n");
    let out = h.take(out_link);
    let prefix = String::from_utf8_lossy(&h.server.gateways.reply_prefix).to_string();
    assert!(prefix.starts_with("_GR_.NUmM6c."), "{prefix}");
    assert_eq!(out, format!("RMSG $G svc {prefix}_INBOX.a 1\r\nq\r\n"));
    // Three seconds on, the inbox is no longer recent: the bare reply.
    h.advance(Duration::from_secs(3));
    h.take(out_link);
    h.send(c, "PUB svc _INBOX.a 1\r\nq\r\n");
    assert_eq!(
        no_pings(h.take(out_link)),
        "RMSG $G svc _INBOX.a 1\r\nq\r\n"
    );
}

#[test]
fn c58_a_routed_reply_is_delivered_stripped_and_answered_on_the_full_subject() {
    let mut h = a();
    let (out_link, _) = outbound(&mut h);
    let (in_link, _) = inbound(&mut h);
    let responder = h.connected(QUIET);
    h.send(responder, "SUB svc 1\r\n");
    h.take(in_link);
    // B's requester: its reply carries B's prefix (hash("B") + server).
    let b_hash = String::from_utf8_lossy(&crate::gateway::gateway_hash(b"B")).to_string();
    let reply = format!("_GR_.{b_hash}.srvhsh._INBOX.b");
    h.send(in_link, &format!("RMSG $G svc {reply} 1\r\nq\r\n"));
    assert_eq!(h.take(responder), "MSG svc 1 _INBOX.b 1\r\nq\r\n");
    // The answer goes to B on the full subject, without B's interest.
    h.send(responder, "PUB _INBOX.b 1\r\na\r\n");
    assert_eq!(h.take(out_link), format!("RMSG $G {reply} 1\r\na\r\n"));
}

#[test]
fn c70_routed_replies_for_other_clusters_are_dropped() {
    let mut h = a();
    let (in_link, _) = inbound(&mut h);
    let c = h.connected(QUIET);
    h.send(c, "SUB _INBOX.x 1\r\n");
    let a_hash = String::from_utf8_lossy(&crate::gateway::gateway_hash(b"A")).to_string();
    let own = String::from_utf8_lossy(&h.server.gateways.reply_prefix).to_string();
    h.send(in_link, "RMSG $G _GR_.zzzzzz.srvhsh._INBOX.x 1\r\nx\r\n");
    assert_eq!(h.take(c), "", "not our cluster");
    h.send(in_link, &format!("RMSG $G {own}_INBOX.x 1\r\ny\r\n"));
    assert_eq!(h.take(c), "MSG _INBOX.x 1 1\r\ny\r\n");
    // Our cluster, a server hash nobody here has: delivered here.
    h.send(
        in_link,
        &format!("RMSG $G _GR_.{a_hash}.nobody._INBOX.x 1\r\nz\r\n"),
    );
    assert_eq!(h.take(c), "MSG _INBOX.x 1 1\r\nz\r\n");
}

// ---- refusals ----------------------------------------------------------------

#[test]
fn c60_clients_on_the_gateway_port_are_refused() {
    let mut h = a();
    let g = h.accept_gateway();
    h.take(g);
    let out = h.send_closed(g, "CONNECT {\"lang\":\"go\",\"verbose\":false}\r\n");
    assert_eq!(out, "-ERR 'attempted to connect to gateway port'\r\n");
}

#[test]
fn c61_unknown_clusters_are_refused_with_reject_unknown() {
    let mut o = gateway_options(vec![remote("B", 7223)]);
    if let Some(g) = o.gateway.as_mut() {
        g.reject_unknown = true;
    }
    let mut h = Harness::new(o);
    let g = h.accept_gateway();
    h.take(g);
    let out = h.send_closed(g, &format!("{}\r\n", B_CONNECT.replace("\"B\"", "\"Z\"")));
    assert_eq!(out, "-ERR 'Connection to gateway \"A\" rejected'\r\n");
    // A configured one is taken.
    let g = h.accept_gateway();
    h.take(g);
    h.send(g, &format!("{B_CONNECT}\r\n"));
    assert!(!h.is_closed(g));
}

#[test]
fn c62_gateway_credentials_are_checked_and_sent() {
    let mut o = gateway_options(vec![remote("B", 7223)]);
    if let Some(g) = o.gateway.as_mut() {
        g.credentials = Some(("gw".into(), "pw".into()));
    }
    let mut h = Harness::new(o);
    let g = h.accept_gateway();
    let info = info_json(&h.take(g));
    assert_eq!(info["auth_required"], true);
    let out = h.send_closed(g, &format!("{B_CONNECT}\r\n"));
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    let g = h.accept_gateway();
    h.take(g);
    let good = B_CONNECT.replace(
        "\"tls_required\"",
        "\"user\":\"gw\",\"pass\":\"pw\",\"tls_required\"",
    );
    h.send(g, &format!("{good}\r\n"));
    assert!(!h.is_closed(g));
    // Our outbound link sends our own credentials.
    let (_, out) = outbound(&mut h);
    assert!(out.contains("\"user\":\"gw\",\"pass\":\"pw\""), "{out}");
}

#[test]
fn c63_an_outbound_link_that_reached_another_cluster_says_so() {
    let mut h = a();
    h.advance(Duration::from_millis(1000));
    let (conn, _) = h.dials.last().cloned().expect("dial");
    h.dialed(conn);
    let c_info = B_INFO.replace("\"gateway\":\"B\"", "\"gateway\":\"C\"");
    let out = h.send_closed(conn, &format!("{c_info}\r\n"));
    assert_eq!(
        out,
        "-ERR 'Connection from \"A\" rejected, wanted to connect to \"B\", this is \"C\"'\r\n"
    );
    // It is dialed again.
    let before = h.dials.len();
    h.advance(Duration::from_millis(1200));
    assert_eq!(h.dials.len(), before + 1);
}

#[test]
fn an_outbound_link_that_reached_a_client_port_says_so() {
    let mut h = a();
    h.advance(Duration::from_millis(1000));
    let (conn, _) = h.dials.last().cloned().expect("dial");
    h.dialed(conn);
    let out = h.send_closed(conn, "INFO {\"server_id\":\"NX\",\"port\":4222}\r\n");
    assert_eq!(
        out,
        "-ERR 'Attempt to connect to gateway \"B\" using wrong port'\r\n"
    );
}

#[test]
fn the_seeds_self_entry_is_dropped_and_the_cluster_takes_the_name() {
    let text = "gateway {\n  name: A\n  port: 7222\n  gateways: [\n    {name: A, url: \"nats://127.0.0.1:7222\"}\n    {name: B, urls: [\"nats://127.0.0.1:7223\", \"nats://u:p@127.0.0.1:7224\"]}\n  ]\n}\ncluster { port: 6222 }\n";
    let src = crate::config::MemorySource::new().with_file("x.conf", text);
    let c = crate::config::load("x.conf", &src).expect("a good config");
    c.validate().expect("valid");
    let mut o = Options::default();
    c.apply_to(&mut o);
    let g = o.gateway.expect("gateway on");
    assert_eq!(g.name, "A");
    assert_eq!(g.gateways.len(), 1);
    assert_eq!(g.gateways[0].name, "B");
    let urls: Vec<String> = g.gateways[0]
        .urls
        .iter()
        .map(RouteAddr::host_port)
        .collect();
    assert_eq!(urls, ["127.0.0.1:7223", "127.0.0.1:7224"]);
    assert_eq!(g.gateways[0].urls[1].user.as_deref(), Some("u"));
    let (at, own) = g.self_entry.expect("the self entry is kept for /varz");
    assert_eq!((at, own[0].host_port()), (0, "127.0.0.1:7222".to_string()));
    assert_eq!(o.cluster.expect("cluster").name, "A");
}

#[test]
fn c69_an_optimistic_peer_gets_everything_but_what_it_said_no_to() {
    // An old peer that does not advertise `gateway_iom`: until it
    // switches an account, every message goes to it, except subjects it
    // answered with RS- and accounts it answered with A-.
    let mut h = a();
    h.advance(Duration::from_millis(1000));
    let (conn, _) = h.dials.last().cloned().expect("dial");
    h.dialed(conn);
    h.send(
        conn,
        &format!("{}\r\n", B_INFO.replace(",\"gateway_iom\":true", "")),
    );
    h.take(conn);
    let c = h.connected(QUIET);
    h.send(c, "PUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\n");
    assert_eq!(h.take(conn), "RMSG $G foo 1\r\nx\r\nRMSG $G bar 1\r\ny\r\n");
    h.send(conn, "RS- $G foo\r\n");
    h.send(c, "PUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\n");
    assert_eq!(h.take(conn), "RMSG $G bar 1\r\ny\r\n");
    // Interest again in foo (a wildcard covering it): sent again.
    h.send(conn, "RS+ $G *\r\n");
    h.send(c, "PUB foo 1\r\nx\r\n");
    assert_eq!(h.take(conn), "RMSG $G foo 1\r\nx\r\n");
    // No interest in the account at all.
    h.send(conn, "A- $G\r\n");
    h.send(c, "PUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\n");
    assert_eq!(h.take(conn), "");
    // A+ makes it optimistic again.
    h.send(conn, "A+ $G\r\n");
    h.send(c, "PUB bar 1\r\ny\r\n");
    assert_eq!(h.take(conn), "RMSG $G bar 1\r\ny\r\n");
    // The switch: from then on only what it subscribes.
    h.send(
        conn,
        "INFO {\"gateway\":\"B\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"JEc=\"}\r\nRS+ $G bar\r\nINFO {\"gateway\":\"B\",\"gateway_cmd\":3,\"gateway_cmd_payload\":\"JEc=\"}\r\n",
    );
    h.send(c, "PUB foo 1\r\nx\r\nPUB bar 1\r\ny\r\n");
    assert_eq!(h.take(conn), "RMSG $G bar 1\r\ny\r\n");
}

#[test]
fn c70_a_routed_reply_for_a_cluster_peer_goes_over_its_route_unchanged() {
    use super::route_peer::{cluster, peer_info, route_connect};
    let mut o = gateway_options(vec![remote("B", 7223)]);
    o.cluster = Some(cluster());
    let mut h = Harness::new(o);
    let r = h.route();
    h.send(
        r,
        &format!(
            "{}{}PING\r\n",
            route_connect("NPEER", "testc"),
            peer_info("NPEER", 6223, "127.0.0.1:4223")
        ),
    );
    h.take(r);
    let (in_link, _) = inbound(&mut h);
    h.take(r);
    let hash = |s: &[u8]| String::from_utf8_lossy(&crate::gateway::gateway_hash(s)).to_string();
    let subject = format!("_GR_.{}.{}._INBOX.x", hash(b"A"), hash(b"NPEER"));
    h.send(in_link, &format!("RMSG $G {subject} 1\r\nz\r\n"));
    assert_eq!(h.take(r), format!("RMSG $G {subject} 1\r\nz\r\n"));
    // Over a route, a reply for this server is delivered stripped.
    let c = h.connected(QUIET);
    h.send(c, "SUB _INBOX.y 1\r\n");
    h.take(r);
    let own = String::from_utf8_lossy(&h.server.gateways.reply_prefix).to_string();
    h.send(r, &format!("RMSG $G {own}_INBOX.y 1\r\nw\r\n"));
    assert_eq!(h.take(c), "MSG _INBOX.y 1 1\r\nw\r\n");
}

#[test]
fn c33_leafs_of_a_gateway_hub_hear_gr_replies_and_gateway_interest() {
    let mut o = gateway_options(vec![remote("B", 7223)]);
    o.leaf = Some(crate::LeafOptions {
        host: "127.0.0.1".into(),
        port: 7422,
        ..crate::LeafOptions::default()
    });
    let mut h = Harness::new(o);
    let (out_link, _) = outbound(&mut h);
    h.send(
        out_link,
        "INFO {\"gateway\":\"B\",\"gateway_cmd\":2,\"gateway_cmd_payload\":\"JEc=\"}\r\nRS+ $G t.c1\r\n",
    );
    let l = h.accept_leaf();
    h.take(l);
    h.send(
        l,
        "CONNECT {\"version\":\"2.15.1\",\"server_id\":\"NLEAF\",\"name\":\"LEAF\",\"cluster\":\"LEAF\",\"headers\":true,\"compress_mode\":\"off\",\"remote_account\":\"$G\",\"protocol\":3}\r\n",
    );
    let out = h.take(l);
    assert!(out.contains("LS+ _GR_.>\r\n"), "{out}");
    assert!(out.contains("LS+ t.c1\r\n"), "{out}");
    // Later gateway interest reaches the leaf too.
    h.send(out_link, "RS+ $G t.c2\r\n");
    assert_eq!(h.take(l), "LS+ t.c2\r\n");
}

#[test]
fn clients_may_not_publish_on_or_reply_to_gr_subjects() {
    // As nats-server, with or without gateways.
    for mut h in [a(), Harness::default_server()] {
        let c = h.connected(QUIET);
        h.send(
            c,
            "PUB _GR_.x 1\r\na\r\nPUB foo _GR_.y 1\r\nb\r\nPUB foo _GR_. 1\r\nd\r\nPING\r\n",
        );
        assert_eq!(
            h.take(c),
            "-ERR 'Permissions Violation for Publish to \"_GR_.x\"'\r\n\
             -ERR 'Permissions Violation for Publish with Reply of \"_GR_.y\"'\r\nPONG\r\n"
        );
        assert!(!h.is_closed(c));
    }
}

#[test]
fn connect_backoff_doubles_the_pause_between_failed_dials() {
    // When each dial happens after the one before failed: 1 s after
    // start, then 1, 2, 4, 8 s later with `connect_backoff`; every second
    // without it.
    for (backoff, want) in [(true, [1, 2, 4, 8]), (false, [1, 1, 1, 1])] {
        let mut o = gateway_options(vec![remote("B", 7223)]);
        if let Some(g) = o.gateway.as_mut() {
            g.connect_backoff = backoff;
        }
        let mut h = Harness::new(o);
        h.advance(Duration::from_millis(1000));
        let mut gaps = Vec::new();
        for _ in 0..4 {
            let (d, _) = h.dials.last().cloned().expect("a dial");
            let now = h.now;
            h.server.handle_dial_failed(d, now);
            h.drain();
            let before = h.dials.len();
            let mut waited: u64 = 0;
            while h.dials.len() == before && waited < 60_000 {
                h.advance(Duration::from_millis(100));
                waited += 100;
            }
            gaps.push(waited.div_ceil(1000));
        }
        assert_eq!(gaps, want, "connect_backoff {backoff}");
    }
}

#[test]
fn gateway_links_take_the_gateway_write_deadline() {
    let mut o = gateway_options(vec![remote("B", 7223)]);
    o.write_deadline = Duration::from_secs(10);
    if let Some(g) = o.gateway.as_mut() {
        g.write_deadline = Some(Duration::from_secs(3));
        g.write_timeout_close = true;
    }
    let mut h = Harness::new(o);
    let (in_link, _) = inbound(&mut h);
    let c = h.server.conns.get(&in_link).expect("the link");
    assert_eq!(
        c.policy().write_deadline(&h.server.options),
        Duration::from_secs(3)
    );
    assert!(!c.policy().write_deadline_restarts(&h.server.options));
}

#[test]
fn cluster_peers_gateway_urls_are_told_to_gateways() {
    use super::route_peer::{cluster, peer_info, route_connect};
    let mut o = gateway_options(vec![remote("B", 7223)]);
    o.cluster = Some(cluster());
    let mut h = Harness::new(o);
    let (in_link, _) = inbound(&mut h);
    // Our route INFO carries our gateway URL.
    let r = h.accept_route();
    let info = h.take(r);
    assert!(
        info.contains("\"gateway_url\":\"127.0.0.1:7222\""),
        "{info}"
    );
    // A peer's INFO with its gateway URL: our inbound links hear both.
    h.send(
        r,
        &format!(
            "{}{}PING\r\n",
            route_connect("NPEER", "testc"),
            peer_info("NPEER", 6223, "127.0.0.1:4223")
                .replace("}\r\n", ",\"gateway_url\":\"127.0.0.1:7232\"}\r\n")
        ),
    );
    let out = no_pings(h.take(in_link));
    let told = infos(&out);
    assert_eq!(told.len(), 1, "{out}");
    assert_eq!(
        told[0]["gateway_urls"],
        serde_json::json!(["127.0.0.1:7222", "127.0.0.1:7232"])
    );
    // The peer goes: the list shrinks again.
    let now = h.now;
    h.server.handle_closed(r, now);
    h.drain();
    let out = no_pings(h.take(in_link));
    assert_eq!(
        infos(&out)[0]["gateway_urls"],
        serde_json::json!(["127.0.0.1:7222"])
    );
}
