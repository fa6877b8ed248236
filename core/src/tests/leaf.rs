//! Leaf nodes (protocol-leaf-gateway.md section 1, checks 1-3, 8-16,
//! 19-32, 37): fake leafs and fake hubs speak literal protocol bytes to
//! one engine; the expected bytes are what nats-server 2.15.1 sends. The
//! fake hubs say `"compression":"off"`, so links stay plain (S2 on leaf
//! links: `tests/compression.rs`).

use super::harness::{info_json, Harness};
use crate::auth::UserEntry;
use crate::perms::{Entry, Permissions, Rule};
use crate::route::RouteAddr;
use crate::{ConnId, LeafOptions, Options, RemoteLeafOptions};
use std::time::Duration;

const QUIET: &str = r#"{"verbose":false,"pedantic":false,"headers":true}"#;
pub(crate) const LEAF_CONNECT: &str = r#"CONNECT {"version":"2.15.1","server_id":"NLEAF","name":"LEAF","cluster":"LEAF","headers":true,"compress_mode":"off","remote_account":"$G","protocol":3}"#;

pub(crate) fn hub_options() -> Options {
    Options {
        server_name: "HUB".into(),
        host: "127.0.0.1".into(),
        port: 4222,
        leaf: Some(LeafOptions {
            host: "127.0.0.1".into(),
            port: 7422,
            ..LeafOptions::default()
        }),
        ..Options::default()
    }
}

fn hub() -> Harness {
    Harness::new(hub_options())
}

/// A leaf link on `h` that sent `connect`; returns it with the hub's
/// answer (the first INFO is discarded).
fn leaf_with(h: &mut Harness, connect: &str) -> (ConnId, String) {
    let l = h.accept_leaf();
    let info = h.take(l);
    assert!(info.starts_with("INFO {"), "{info}");
    h.send(l, &format!("{connect}\r\n"));
    let out = h.take(l);
    (l, out)
}

/// A registered leaf link with the default CONNECT, its output taken.
fn leaf(h: &mut Harness) -> ConnId {
    let (l, out) = leaf_with(h, LEAF_CONNECT);
    assert!(out.contains("\"connect_info\":true"), "{out}");
    l
}

/// The `LS+`/`LS-` lines of `out`, the loop-detection subject left out.
fn interest(out: &str) -> Vec<&str> {
    out.split("\r\n")
        .filter(|l| (l.starts_with("LS+ ") || l.starts_with("LS- ")) && !l.contains("$LDS."))
        .collect()
}

fn rule(allow: &[&str]) -> Option<Rule> {
    Some(Rule {
        allow: Some(allow.iter().map(|s| Entry::parse(s)).collect()),
        deny: Vec::new(),
    })
}

// ---- the hub: INFO, CONNECT and its refusals --------------------------------

#[test]
fn c1_hub_info_says_what_a_go_leaf_needs() {
    let mut h = hub();
    let l = h.accept_leaf();
    let out = h.take(l);
    assert!(out.ends_with("} \r\n"), "{out}");
    let info = info_json(&out);
    assert_eq!(info["client_id"], 1);
    assert_eq!(info["nonce"].as_str().map(str::len), Some(15));
    assert_eq!(info["auth_required"], true);
    assert_eq!(info["info_on_connect"], true);
    assert_eq!(info["leafnode_urls"], serde_json::json!(["127.0.0.1:7422"]));
    assert_eq!(info["headers"], true);
    assert_eq!(info["proto"], 3);
    assert_eq!(info["compression"], "s2_auto", "nats-server's default");
    assert_eq!(info["port"], 7422, "the leaf port, as nats-server says");
    assert_eq!(info["ip"], "127.0.0.1:7422");
}

#[test]
fn c3_connect_info_then_the_interest_set_in_one_write() {
    let mut h = hub();
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\nSUB bar q 2\r\nSUB bar q 3\r\n");
    let (_, out) = leaf_with(&mut h, LEAF_CONNECT);
    let (info, rest) = out.split_once("\r\n").expect("INFO line");
    let info = info_json(&format!("{info}\r\n"));
    assert_eq!(info["connect_info"], true);
    assert_eq!(info["remote_account"], "$G");
    assert!(info.get("nonce").is_none() && info.get("compression").is_none());
    assert!(rest.starts_with("LS+ $LDS."), "{rest}");
    let lds = rest.split("\r\n").next().unwrap_or_default();
    assert_eq!(lds.len(), "LS+ $LDS.".len() + 22, "{lds}");
    assert_eq!(interest(rest), ["LS+ foo", "LS+ bar q 1", "LS+ bar q 2"]);
}

#[test]
fn c10_c11_clients_and_gateways_are_refused_on_the_leaf_port() {
    let mut h = hub();
    let l = h.accept_leaf();
    h.take(l);
    let out = h.send_closed(l, "CONNECT {\"lang\":\"go\",\"version\":\"1.0\"}\r\n");
    assert_eq!(out, "-ERR 'attempted to connect to leaf node port'\r\n");
    let l = h.accept_leaf();
    h.take(l);
    let out = h.send_closed(l, "CONNECT {\"gateway\":\"Z\"}\r\n");
    assert_eq!(
        out,
        "-ERR 'Rejecting connection from gateway \"Z\" on the leafnode port'\r\n"
    );
}

#[test]
fn c12_anything_before_connect_and_no_connect_in_time() {
    let mut h = hub();
    let l = h.accept_leaf();
    h.take(l);
    assert_eq!(
        h.send_closed(l, "LS+ foo\r\n"),
        "-ERR 'Authorization Violation'\r\n"
    );
    let l = h.accept_leaf();
    h.take(l);
    h.advance(Duration::from_millis(1900));
    assert!(!h.is_closed(l));
    h.advance(Duration::from_millis(200));
    assert!(h.is_closed(l));
    assert_eq!(h.take(l), "-ERR 'Authentication Timeout'\r\n");
}

#[test]
fn c13_same_cluster_name_is_refused() {
    let mut o = hub_options();
    o.cluster = Some(crate::ClusterOptions {
        name: "HC".into(),
        port: 6222,
        ..crate::ClusterOptions::default()
    });
    let mut h = Harness::new(o);
    let connect = LEAF_CONNECT.replace("\"cluster\":\"LEAF\"", "\"cluster\":\"HC\"");
    let (l, out) = leaf_with(&mut h, &connect);
    assert_eq!(out, "-ERR 'remote leafnode has same cluster name'\r\n");
    assert!(h.is_closed(l));
    assert_eq!(
        h.close_reason(l),
        Some(crate::CloseReason::ClusterNamesIdentical)
    );
}

#[test]
fn c14_an_old_leaf_gets_connect_info_then_the_refusal() {
    let mut o = hub_options();
    if let Some(l) = o.leaf.as_mut() {
        l.min_version = "2.8.0".into();
    }
    let mut h = Harness::new(o);
    let connect = LEAF_CONNECT.replace("2.15.1", "2.7.9");
    let (l, out) = leaf_with(&mut h, &connect);
    assert!(out.starts_with("INFO {") && out.contains("\"connect_info\":true"));
    assert!(
        out.ends_with("-ERR 'connection rejected since minimum version required is \"2.8.0\"'\r\n"),
        "{out}"
    );
    assert!(h.is_closed(l));
}

#[test]
fn c15_a_cluster_name_with_a_space_is_refused() {
    let mut h = hub();
    let connect = LEAF_CONNECT.replace("\"cluster\":\"LEAF\"", "\"cluster\":\"L F\"");
    let (_, out) = leaf_with(&mut h, &connect);
    assert_eq!(out, "-ERR 'cluster name cannot contain spaces'\r\n");
}

#[test]
fn c16_c19_leaf_credentials_and_the_account_they_bind() {
    let mut o = hub_options();
    o.accounts = vec!["APP".into()];
    if let Some(l) = o.leaf.as_mut() {
        l.credentials = Some(("leafu".into(), "leafp".into()));
        l.account = "APP".into();
    }
    let mut h = Harness::new(o);
    let (l, out) = leaf_with(&mut h, LEAF_CONNECT);
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    assert!(h.is_closed(l));
    let good = LEAF_CONNECT.replace(
        "\"server_id\"",
        "\"user\":\"leafu\",\"pass\":\"leafp\",\"server_id\"",
    );
    let (_, out) = leaf_with(&mut h, &good);
    assert!(out.contains("\"remote_account\":\"APP\""), "{out}");
}

#[test]
fn c19_no_auth_binds_to_the_leaf_authorization_account() {
    let mut o = hub_options();
    o.accounts = vec!["APP".into()];
    if let Some(l) = o.leaf.as_mut() {
        l.account = "APP".into();
    }
    let mut h = Harness::new(o);
    let (_, out) = leaf_with(&mut h, LEAF_CONNECT);
    assert!(out.contains("\"remote_account\":\"APP\""), "{out}");
}

#[test]
fn client_users_bind_leafs_with_their_account_and_token_auth_works() {
    let mut o = hub_options();
    o.auth = crate::ClientAuth::Token("s3cr3t".into());
    let mut h = Harness::new(o);
    let (l, out) = leaf_with(&mut h, LEAF_CONNECT);
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    assert!(h.is_closed(l));
    // The seed's tutorial: `nats://s3cr3t@hub` sends the token as user
    // and auth_token.
    let token = LEAF_CONNECT.replace(
        "\"server_id\"",
        "\"user\":\"s3cr3t\",\"auth_token\":\"s3cr3t\",\"server_id\"",
    );
    let (_, out) = leaf_with(&mut h, &token);
    assert!(out.contains("\"remote_account\":\"$G\""), "{out}");
}

// ---- permissions of the bound user ------------------------------------------

fn perms_hub() -> Harness {
    let mut o = hub_options();
    o.users.insert(
        "leafu".into(),
        UserEntry {
            password: "leafp".into(),
            permissions: Some(Permissions {
                publish: rule(&["up.>"]),
                subscribe: rule(&["down.>"]),
                responses: None,
            }),
            account: "$G".into(),
        },
    );
    o.users.insert(
        "app".into(),
        UserEntry {
            password: "app".into(),
            permissions: None,
            account: "$G".into(),
        },
    );
    Harness::new(o)
}

const PERM_CONNECT: &str = r#"CONNECT {"version":"2.15.1","user":"leafu","pass":"leafp","server_id":"NLEAF","name":"LEAF","cluster":"LEAF","headers":true,"compress_mode":"off","remote_account":"$G","protocol":3}"#;

#[test]
fn c20_the_hub_tells_only_what_the_leaf_may_publish_and_sends_its_perms() {
    let mut h = perms_hub();
    let c = h.connected(r#"{"verbose":false,"user":"app","pass":"app"}"#);
    h.send(c, "SUB up.a 1\r\nSUB other.x 2\r\n");
    let (_, out) = leaf_with(&mut h, PERM_CONNECT);
    assert!(
        out.contains(r#""import":{"allow":["down.\u003e"]},"export":{"allow":["up.\u003e"]}"#),
        "{out}"
    );
    assert_eq!(interest(&out), ["LS+ up.a"]);
}

#[test]
fn c24_a_leaf_outside_its_permissions_is_closed() {
    let mut h = perms_hub();
    let (l, _) = leaf_with(&mut h, PERM_CONNECT);
    assert_eq!(
        h.send_closed(l, "LS+ other.z\r\n"),
        "-ERR 'Permissions Violation for Subscription to \"other.z\"'\r\n"
    );
    let (l, _) = leaf_with(&mut h, PERM_CONNECT);
    h.send(l, "LS+ down.a\r\n");
    assert!(!h.is_closed(l));
    assert_eq!(
        h.send_closed(l, "LMSG other.z 2\r\nhi\r\n"),
        "-ERR 'Permissions Violation for Publish to \"other.z\"'\r\n"
    );
}

#[test]
fn c22_deny_pub_of_the_leaf_keeps_messages_home() {
    let mut h = hub();
    let connect = LEAF_CONNECT.replace(
        "\"compress_mode\"",
        "\"deny_pub\":[\"private.>\"],\"compress_mode\"",
    );
    let (l, _) = leaf_with(&mut h, &connect);
    h.send(l, "LS+ >\r\n");
    let c = h.connected(QUIET);
    h.send(c, "PUB private.x 1\r\na\r\nPUB public.x 1\r\nb\r\n");
    assert_eq!(h.take(l), "LMSG public.x 1\r\nb\r\n");
}

// ---- messages and interest --------------------------------------------------

#[test]
fn c26_c27_messages_to_a_leaf_carry_reply_headers_and_queue_names() {
    let mut h = hub();
    let l = leaf(&mut h);
    h.send(l, "LS+ foo\r\nLS+ work lq 3\r\n");
    let c = h.connected(QUIET);
    h.send(c, "PUB foo 5\r\nhello\r\nPUB foo my.reply 5\r\nhello\r\n");
    h.send(c, "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    h.send(c, "PUB work 2\r\nhi\r\nPUB work r 2\r\nhi\r\n");
    assert_eq!(
        h.take(l),
        "LMSG foo 5\r\nhello\r\nLMSG foo my.reply 5\r\nhello\r\n\
         HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n\
         LMSG work | lq 2\r\nhi\r\nLMSG work + r lq 2\r\nhi\r\n"
    );
}

#[test]
fn c25_queue_weights_are_running_totals_and_one_ls_minus_ends_them() {
    let mut h = hub();
    let l = leaf(&mut h);
    let c = h.connected(QUIET);
    h.send(c, "SUB lwork lq 1\r\nSUB lwork lq 2\r\nSUB lwork lq 3\r\n");
    assert_eq!(
        interest(&h.take(l)),
        ["LS+ lwork lq 1", "LS+ lwork lq 2", "LS+ lwork lq 3"]
    );
    h.send(c, "SUB plain 4\r\nSUB plain 5\r\nUNSUB 4\r\nUNSUB 5\r\n");
    assert_eq!(interest(&h.take(l)), ["LS+ plain", "LS- plain"]);
    let now = h.now;
    h.server.handle_closed(c, now);
    h.drain();
    assert_eq!(interest(&h.take(l)), ["LS- lwork lq"]);
}

#[test]
fn c28_a_local_member_is_preferred_and_the_leaf_is_the_fallback() {
    let mut h = hub();
    let l = leaf(&mut h);
    h.send(l, "LS+ work g 1\r\n");
    let member = h.connected(QUIET);
    h.send(member, "SUB work g 1\r\n");
    h.take(l);
    let p = h.connected(QUIET);
    for _ in 0..20 {
        h.send(p, "PUB work 1\r\nx\r\n");
    }
    assert_eq!(h.take(member).matches("MSG work 1 1").count(), 20);
    assert_eq!(h.take(l), "");
    h.send(member, "UNSUB 1\r\n");
    h.take(l);
    h.send(p, "PUB work 1\r\nx\r\n");
    assert_eq!(h.take(l), "LMSG work | g 1\r\nx\r\n");
}

#[test]
fn c29_a_leaf_message_reaches_only_the_queue_groups_it_names() {
    let mut h = hub();
    let l = leaf(&mut h);
    let c = h.connected(QUIET);
    h.send(c, "SUB x q1 1\r\nSUB x 2\r\n");
    assert_eq!(h.take(l), "LS+ x q1 1\r\nLS+ x\r\n");
    h.send(l, "LMSG x 2\r\nhi\r\n");
    assert_eq!(h.take(c), "MSG x 2 2\r\nhi\r\n");
    h.send(l, "LMSG x | q1 2\r\nhi\r\n");
    let out = h.take(c);
    assert!(
        out.contains("MSG x 1 2\r\n") && out.contains("MSG x 2 2\r\n"),
        "{out}"
    );
    // Never back to the link it came from.
    h.send(l, "LS+ x\r\nLMSG x 2\r\nhi\r\n");
    assert_eq!(h.take(l), "");
}

#[test]
fn c30_our_own_loop_subject_back_is_a_loop() {
    let mut h = hub();
    let (l, out) = leaf_with(&mut h, LEAF_CONNECT);
    let lds = out
        .split("\r\n")
        .find(|l| l.starts_with("LS+ $LDS."))
        .expect("loop subject")
        .to_string();
    let out = h.send_closed(l, &format!("{lds}\r\n"));
    assert_eq!(
        out,
        "-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s'\r\n"
    );
}

#[test]
fn c32_a_second_link_from_the_same_server_replaces_the_first() {
    let mut h = hub();
    let first = leaf(&mut h);
    let second = leaf(&mut h);
    assert!(h.is_closed(first) && !h.is_closed(second));
    assert_eq!(
        h.take(first),
        "-ERR 'Duplicate Remote LeafNode Connection'\r\n"
    );
    assert_eq!(
        h.close_reason(first),
        Some(crate::CloseReason::DuplicateRemoteLeafnode)
    );
}

#[test]
fn c37_an_isolated_link_hears_no_sibling_but_is_heard() {
    let mut h = hub();
    let a = leaf(&mut h);
    let iso = LEAF_CONNECT
        .replace("NLEAF", "NISO")
        .replace("\"LEAF\"", "\"ISO\"")
        .replace("\"compress_mode\"", "\"isolate\":true,\"compress_mode\"");
    let (b, _) = leaf_with(&mut h, &iso);
    h.send(a, "LS+ a.b\r\n");
    assert_eq!(h.take(b), "");
    h.send(b, "LS+ c.d\r\n");
    assert_eq!(h.take(a), "LS+ c.d\r\n");
    // A closed link's interest is withdrawn from its siblings.
    let now = h.now;
    h.server.handle_closed(b, now);
    h.drain();
    assert_eq!(h.take(a), "LS- c.d\r\n");
}

#[test]
fn leaf_to_leaf_messages_are_relayed_by_the_hub() {
    let mut h = hub();
    let a = leaf(&mut h);
    let other = LEAF_CONNECT
        .replace("NLEAF", "NOTHER")
        .replace("\"LEAF\"", "\"OTHER\"");
    let (b, _) = leaf_with(&mut h, &other);
    h.send(b, "LS+ t.>\r\n");
    assert_eq!(h.take(a), "LS+ t.>\r\n");
    h.send(a, "LMSG t.x r 2\r\nhi\r\n");
    assert_eq!(h.take(b), "LMSG t.x r 2\r\nhi\r\n");
}

// ---- the soliciting side ----------------------------------------------------

pub(crate) fn spoke_options(remote: RemoteLeafOptions) -> Options {
    Options {
        server_name: "SPOKE".into(),
        host: "127.0.0.1".into(),
        port: 4223,
        leaf: Some(LeafOptions {
            remotes: vec![remote],
            ..LeafOptions::default()
        }),
        ..Options::default()
    }
}

pub(crate) fn remote(url: &str) -> RemoteLeafOptions {
    RemoteLeafOptions {
        urls: vec![RouteAddr::parse(url).expect("url")],
        ..RemoteLeafOptions::default()
    }
}

const HUB_INFO: &str = "INFO {\"server_id\":\"NHUB\",\"server_name\":\"HUB\",\"version\":\"2.15.1\",\"proto\":3,\"headers\":true,\"auth_required\":true,\"max_payload\":1048576,\"client_id\":5,\"nonce\":\"abc\",\"compression\":\"off\",\"api_lvl\":5,\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:7422\"]} \r\n";
const CONNECT_INFO: &str = "INFO {\"server_id\":\"NHUB\",\"server_name\":\"HUB\",\"client_id\":5,\"connect_info\":true,\"remote_account\":\"$G\",\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:7422\"]} \r\n";

/// A spoke that dialed its remote: the dialed link, its output taken.
fn dialed_spoke(h: &mut Harness) -> ConnId {
    assert_eq!(h.dials.len(), 1, "dials at start");
    let (conn, addr) = h.dials[0].clone();
    assert_eq!(addr, "127.0.0.1:7422");
    h.dialed(conn);
    assert_eq!(h.take(conn), "", "a leaf waits for the hub's INFO");
    conn
}

#[test]
fn c2_a_spoke_answers_the_hub_info_with_connect_then_its_interest() {
    let mut h = Harness::new(spoke_options(remote("nats://s3cr3t@127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let c = h.connected(QUIET);
    h.send(c, "SUB foo 1\r\n");
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    assert_eq!(
        h.take(l),
        "CONNECT {\"version\":\"2.15.1\",\"user\":\"s3cr3t\",\"auth_token\":\"s3cr3t\",\
         \"server_id\":\""
            .to_string()
            + h.server.server_id()
            + "\",\"name\":\"SPOKE\",\"cluster\":\"SPOKE\",\"headers\":true,\
               \"compress_mode\":\"off\",\"remote_account\":\"$G\",\"protocol\":3}\r\n"
    );
    h.send(l, CONNECT_INFO);
    let out = h.take(l);
    assert!(out.starts_with("LS+ $LDS."), "{out}");
    assert_eq!(interest(&out), ["LS+ foo"]);
    // And messages flow both ways.
    h.send(l, "LS+ bar\r\nLMSG foo 2\r\nhi\r\n");
    assert_eq!(h.take(c), "MSG foo 1 2\r\nhi\r\n");
    h.send(c, "PUB bar 2\r\nyo\r\n");
    assert_eq!(h.take(l), "LMSG bar 2\r\nyo\r\n");
}

#[test]
fn c8_a_port_that_is_not_a_leaf_port_is_left() {
    let mut h = Harness::new(spoke_options(remote("nats://127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(
        l,
        "INFO {\"server_id\":\"N\",\"client_id\":5,\"max_payload\":1048576} \r\n",
    );
    assert!(h.is_closed(l));
    assert_eq!(h.take(l), "");
    assert_eq!(h.close_reason(l), Some(crate::CloseReason::WrongPort));
    // And dialed again.
    h.advance(Duration::from_millis(1100));
    assert_eq!(h.dials.len(), 2);
}

#[test]
fn c9_no_connect_info_in_two_seconds_is_a_stale_hub() {
    let mut h = Harness::new(spoke_options(remote("nats://127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    h.take(l);
    h.advance(Duration::from_millis(1900));
    assert!(!h.is_closed(l));
    h.advance(Duration::from_millis(200));
    assert!(h.is_closed(l));
    assert_eq!(h.take(l), "-ERR 'Stale Leaf Node Connection - Closing'\r\n");
}

#[test]
fn c21_c23_a_spokes_denies_keep_interest_and_messages_home() {
    let mut r = remote("nats://127.0.0.1:7422");
    r.deny_exports = vec!["secret.>".into()];
    r.deny_imports = vec!["private.>".into()];
    let mut h = Harness::new(spoke_options(r));
    h.advance(Duration::ZERO);
    let c = h.connected(QUIET);
    h.send(c, "SUB private.x 1\r\nSUB public.x 2\r\n");
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    let connect = h.take(l);
    assert!(
        connect.contains("\"deny_pub\":[\"private.\\u003e\"]"),
        "{connect}"
    );
    h.send(l, CONNECT_INFO);
    assert_eq!(interest(&h.take(l)), ["LS+ public.x"]);
    h.send(l, "LS+ secret.x\r\nLS+ public.y\r\n");
    h.send(c, "PUB secret.x 1\r\na\r\nPUB public.y 1\r\nb\r\n");
    assert_eq!(h.take(l), "LMSG public.y 1\r\nb\r\n");
    // Whatever the hub sends on an import denied here is dropped.
    h.send(l, "LMSG private.x 1\r\nz\r\n");
    assert_eq!(h.take(c), "");
    assert!(!h.is_closed(l), "a spoke never closes over permissions");
}

#[test]
fn c31_a_loop_error_delays_the_next_dial_30_seconds() {
    let mut h = Harness::new(spoke_options(remote("nats://127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    h.send(l, CONNECT_INFO);
    h.send(
        l,
        "-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s'\r\n",
    );
    assert!(h.is_closed(l));
    h.advance(Duration::from_secs(30));
    assert_eq!(h.dials.len(), 1, "still waiting");
    h.advance(Duration::from_secs(2));
    assert_eq!(h.dials.len(), 2);
}

#[test]
fn a_hub_true_remote_is_the_hub_of_its_link() {
    let mut r = remote("nats://127.0.0.1:7422");
    r.hub = true;
    let mut h = Harness::new(spoke_options(r));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    assert!(h.take(l).contains("\"is_hub\":true"));
}

// ---- a hub in a cluster: leaf interest and messages on routes (check 35) ----

/// A clustered hub (cluster `testc`) with a lnoc route peer `NPEER`.
fn clustered_hub() -> (Harness, ConnId) {
    let mut o = hub_options();
    o.cluster = Some(super::route_peer::cluster());
    let mut h = Harness::new(o);
    let r = h.route();
    h.send(
        r,
        &format!(
            "{}{}PING\r\n",
            super::route_peer::route_connect("NPEER", "testc"),
            super::route_peer::peer_info("NPEER", 6223, "127.0.0.1:4223")
                .replace("}\r\n", ",\"lnoc\":true,\"lnocu\":true}\r\n")
        ),
    );
    let out = h.take(r);
    assert!(out.ends_with("PONG\r\n"), "{out}");
    (h, r)
}

#[test]
fn c35_a_hub_routes_its_spokes_interest_and_messages_with_their_origin() {
    let (mut h, r) = clustered_hub();
    // Our route INFO says we take origins.
    let probe = h.accept_route();
    assert!(h.take(probe).contains("\"lnoc\":true,\"lnocu\":true"));
    let l = leaf(&mut h);
    h.send(l, "LS+ t.l1\r\nLS+ w q 2\r\n");
    assert_eq!(h.take(r), "LS+ LEAF $G t.l1\r\nLS+ LEAF $G w q 2\r\n");
    // The peer's interest reaches the leaf; a leaf message goes to the
    // route as LMSG with its origin and a header size even when 0.
    h.send(r, "RS+ $G t.l1\r\n");
    h.take(l);
    h.send(l, "LMSG t.l1 r 2\r\nhi\r\n");
    assert_eq!(h.take(r), "LMSG LEAF $G t.l1 r 0 2\r\nhi\r\n");
    // A routed LMSG from cluster LEAF never goes back to a LEAF link.
    h.send(l, "LS+ back\r\n");
    h.take(r);
    h.send(r, "LMSG LEAF $G back 0 2\r\nhi\r\n");
    assert_eq!(h.take(l), "");
    h.send(r, "LMSG OTHER $G back 0 2\r\nhi\r\n");
    assert_eq!(h.take(l), "LMSG back 2\r\nhi\r\n");
    // A peer's LS+ from cluster LEAF is not told back to the LEAF link.
    h.send(r, "LS+ LEAF $G from.leaf\r\nLS+ OTHER $G from.other\r\n");
    assert_eq!(h.take(l), "LS+ from.other\r\n");
    h.send(r, "LS- OTHER $G from.other\r\n");
    assert_eq!(h.take(l), "LS- from.other\r\n");
    // The link going away withdraws its interest from the route.
    let now = h.now;
    h.server.handle_closed(l, now);
    h.drain();
    assert_eq!(
        h.take(r),
        "LS- LEAF $G t.l1\r\nLS- LEAF $G w q\r\nLS- LEAF $G back\r\n"
    );
}

#[test]
fn c36_a_spoke_does_not_relay_between_its_hub_and_its_routes() {
    let mut o = spoke_options(remote("nats://127.0.0.1:7422"));
    o.cluster = Some(super::route_peer::cluster());
    let mut h = Harness::new(o);
    h.advance(Duration::ZERO);
    let (d, _) = h.dials[0].clone();
    h.dialed(d);
    h.send(d, HUB_INFO);
    h.send(d, CONNECT_INFO);
    h.take(d);
    let r = h.fake_route_named("NPEER", "NPEER", 6223, "127.0.0.1:4223");
    // The sibling's interest is not told to our hub...
    h.send(r, "RS+ $G sib\r\n");
    assert_eq!(interest(&h.take(d)), Vec::<&str>::new());
    // ...and the hub's messages do not go to the sibling.
    h.send(d, "LMSG sib 2\r\nhi\r\nLMSG sib | g 2\r\nhi\r\n");
    assert_eq!(h.take(r), "");
    // Nor is the hub's interest told to the route.
    h.send(d, "LS+ hubsub\r\n");
    assert_eq!(h.take(r), "");
}

// ---- leaf URL gossip (check 38) ----------------------------------------------

#[test]
fn c38_a_cluster_peers_leaf_url_reaches_our_leafs() {
    let mut o = hub_options();
    o.cluster = Some(super::route_peer::cluster());
    let mut h = Harness::new(o);
    let l = leaf(&mut h);
    let probe = h.accept_route();
    let info = h.take(probe);
    assert!(
        info.contains("\"leafnode_urls\":[\"127.0.0.1:7422\"]"),
        "our route INFO gossips our leaf URL: {info}"
    );
    let r = h.route();
    h.send(
        r,
        &format!(
            "{}{}PING\r\n",
            super::route_peer::route_connect("NPEER", "testc"),
            super::route_peer::peer_info("NPEER", 6223, "127.0.0.1:4223")
                .replace("}\r\n", ",\"leafnode_urls\":[\"127.0.0.1:7423\"]}\r\n")
        ),
    );
    let out = h.take(l);
    assert!(
        out.starts_with("INFO {") && out.ends_with("} \r\n"),
        "{out}"
    );
    let info = info_json(&out);
    assert_eq!(
        info["leafnode_urls"],
        serde_json::json!(["127.0.0.1:7422", "127.0.0.1:7423"])
    );
    assert_eq!(info["cluster"], "testc");
    assert!(info.get("client_id").is_none() && info.get("nonce").is_none());
    // The peer leaving takes its URL away again.
    let now = h.now;
    h.server.handle_closed(r, now);
    h.drain();
    let info = info_json(&h.take(l));
    assert_eq!(info["leafnode_urls"], serde_json::json!(["127.0.0.1:7422"]));
}

#[test]
fn c38_a_leaf_dials_the_hubs_its_hub_told_it_about() {
    let mut h = Harness::new(spoke_options(remote("nats://u:p@127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    // Every INFO with leafnode_urls replaces the candidates.
    let two = |info: &str| {
        info.replace(
            "\"leafnode_urls\":[\"127.0.0.1:7422\"]",
            "\"leafnode_urls\":[\"127.0.0.1:7422\",\"127.0.0.1:7499\"]",
        )
    };
    h.send(l, &two(HUB_INFO));
    h.send(l, &two(CONNECT_INFO));
    h.take(l);
    let now = h.now;
    h.server.handle_closed(l, now);
    h.drain();
    // The same URL is tried again after a dropped link; a failed dial
    // moves on, to the discovered hub (with the configured credentials).
    h.advance(Duration::from_millis(1100));
    let (d, addr) = h.dials[1].clone();
    assert_eq!(addr, "127.0.0.1:7422");
    let now = h.now;
    h.server.handle_dial_failed(d, now);
    h.drain();
    h.advance(Duration::from_secs(3));
    let (d, addr) = h.dials[2].clone();
    assert_eq!(addr, "127.0.0.1:7499");
    h.dialed(d);
    h.send(d, HUB_INFO);
    assert!(h.take(d).contains("\"user\":\"u\",\"pass\":\"p\""));
}

// ---- signing the hub's nonce (checks 17, 18; the embedder's signer) ---------

/// A user seed made in the test from `byte`: no key from a public source.
fn test_seed(byte: u8) -> (String, String) {
    let seed = crate::auth::encode_user_seed(&[byte; 32]);
    let public = crate::auth::public_of_seed(&seed).expect("a user seed");
    (seed, public)
}

#[test]
fn c17_a_remote_with_an_nkey_sends_its_key_and_the_signed_nonce() {
    let (seed, public) = test_seed(11);
    let mut r = remote("nats://127.0.0.1:7422");
    r.nkey = seed.clone();
    let mut h = Harness::new(spoke_options(r));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    assert_eq!(h.take(l), "", "no CONNECT before the signature");
    assert_eq!(h.signs, [(l, 0, "abc".to_string())]);
    let now = h.now;
    let signed = crate::auth::sign_with_seed(&seed, b"abc");
    h.server.handle_signature(l, signed, now);
    h.drain();
    let out = h.take(l);
    let json: serde_json::Value =
        serde_json::from_str(out.trim_start_matches("CONNECT ").trim_end()).expect("json");
    assert_eq!(json["nkey"], public.as_str());
    let sig = json["sig"].as_str().expect("sig");
    assert!(crate::auth::verify_nonce(&public, b"abc", sig));
    assert!(
        out.starts_with("CONNECT {\"version\":\"2.15.1\",\"nkey\":"),
        "{out}"
    );
}

#[test]
fn c18_a_credentials_file_sends_its_jwt_and_signs_with_its_seed() {
    let (seed, public) = test_seed(12);
    let creds = format!(
        "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.c2ln\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    );
    let signed = crate::auth::sign_with_creds(&creds, b"n0nce").expect("signed");
    assert_eq!(signed.jwt.as_deref(), Some("eyJ0eXAiOiJKV1QifQ.e30.c2ln"));
    assert!(signed.nkey.is_none());
    assert!(crate::auth::verify_nonce(&public, b"n0nce", &signed.sig));
    assert_eq!(
        crate::auth::sign_with_creds("nothing here", b"n")
            .err()
            .as_deref(),
        Some("Credentials file malformed")
    );
}

#[test]
fn a_signer_that_fails_or_never_answers_costs_the_link_not_the_server() {
    let mut r = remote("nats://127.0.0.1:7422");
    r.external_signer = true;
    let mut h = Harness::new(spoke_options(r));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    let now = h.now;
    h.server
        .handle_signature(l, Err("vault sealed".into()), now);
    h.drain();
    assert!(h.is_closed(l));
    assert_eq!(h.take(l), "");
    // Dialed again; this time the signer never answers.
    h.advance(Duration::from_millis(1100));
    let (d, _) = h.dials[1].clone();
    h.dialed(d);
    h.send(d, HUB_INFO);
    h.advance(Duration::from_millis(2100));
    assert!(h.is_closed(d));
    // A late answer for a gone link is ignored.
    let now = h.now;
    h.server
        .handle_signature(d, crate::auth::sign_with_seed(&test_seed(1).0, b"abc"), now);
    h.drain();
}

#[test]
fn c17_the_hub_checks_an_nkey_leafs_signature_in_either_base64() {
    let (seed, public) = test_seed(13);
    let mut o = hub_options();
    o.nkeys.insert(
        public.clone(),
        crate::auth::NkeyEntry {
            account: "$G".into(),
            ..Default::default()
        },
    );
    let mut h = Harness::new(o);
    let connect_with = |h: &mut Harness, sig: &str| {
        let l = h.accept_leaf();
        let nonce = info_json(&h.take(l))["nonce"]
            .as_str()
            .expect("nonce")
            .to_string();
        let sig = match sig {
            "url" => crate::auth::sign_nonce(&seed, nonce.as_bytes()).expect("sig"),
            "std" => {
                let url = crate::auth::sign_nonce(&seed, nonce.as_bytes()).expect("sig");
                let raw = crate::auth::base64_decode(&url).expect("decodes");
                crate::auth::base64_std_encode(&raw)
            }
            other => other.to_string(),
        };
        let connect = LEAF_CONNECT.replace(
            "\"server_id\"",
            &format!("\"nkey\":\"{public}\",\"sig\":\"{sig}\",\"server_id\""),
        );
        h.send(l, &format!("{connect}\r\n"));
        (l, h.take(l))
    };
    let (_, out) = connect_with(&mut h, "url");
    assert!(out.contains("\"connect_info\":true"), "{out}");
    let (_, out) = connect_with(&mut h, "std");
    assert!(out.contains("\"connect_info\":true"), "{out}");
    let (l, out) = connect_with(&mut h, "AAAA");
    assert_eq!(out, "-ERR 'Authorization Violation'\r\n");
    assert!(h.is_closed(l));
}

// ---- monitoring ----------------------------------------------------------------

/// One GET on a fresh monitor connection: the JSON body as text.
pub(crate) fn get_text(h: &mut Harness, path: &str) -> String {
    let peer: core::net::SocketAddr = "127.0.0.1:40000".parse().expect("literal address");
    let now = h.now;
    let m = h
        .server
        .handle_accept(crate::ListenerKind::Monitor, peer, now);
    h.send(m, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    let out = h.take(m);
    let (head, body) = out.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {out}");
    body.to_string()
}

/// One GET on a fresh monitor connection: the JSON body.
fn get(h: &mut Harness, path: &str) -> serde_json::Value {
    let body = get_text(h, path);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn leafz_and_varz_show_the_links_as_nats_server_does() {
    let mut h = hub();
    let l = leaf(&mut h);
    h.send(l, "LS+ foo.bar\r\nLS+ q.x g 1\r\nLMSG nobody 2\r\nhi\r\n");
    let text = get_text(&mut h, "/leafz?subs=1");
    let leafz: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(leafz["leafnodes"], 1);
    let link = &leafz["leafs"][0];
    let at = |key: &str| text.find(&format!("\"{key}\":")).expect(key);
    let order = [
        "id",
        "name",
        "is_spoke",
        "account",
        "ip",
        "port",
        "rtt",
        "in_msgs",
        "out_msgs",
        "in_bytes",
        "out_bytes",
        "subscriptions",
        "subscriptions_list",
        "compression",
    ];
    assert!(
        order.windows(2).all(|w| at(w[0]) < at(w[1])),
        "nats-server's key order: {text}"
    );
    assert_eq!(link["name"], "LEAF");
    assert_eq!(link["is_spoke"], false);
    assert_eq!(link["account"], "$G");
    assert_eq!(link["in_msgs"], 1);
    assert_eq!(link["subscriptions"], 2);
    assert_eq!(
        link["subscriptions_list"],
        serde_json::json!(["foo.bar", "q.x"])
    );
    assert!(get(&mut h, "/leafz")["leafs"][0]
        .get("subscriptions_list")
        .is_none());
    assert_eq!(get(&mut h, "/leafz?acc=APP")["leafnodes"], 0);
    let varz = get(&mut h, "/varz");
    assert_eq!(varz["leafnodes"], 1);
    assert_eq!(
        varz["leaf"],
        serde_json::json!({"host": "127.0.0.1", "port": 7422, "auth_timeout": 2, "tls_timeout": 2})
    );
}

// ---- reload (SIGHUP) ------------------------------------------------------------

fn named(url: &str) -> RemoteLeafOptions {
    RemoteLeafOptions {
        name: format!("urls=[\"{url}\"], account=\"$G\""),
        safe_name: format!("urls=[\"{url}\"], account=\"$G\""),
        ..remote(url)
    }
}

#[test]
fn a_reload_adds_removes_and_disables_remotes_and_refuses_the_rest() {
    let a = named("nats://127.0.0.1:7422");
    let b = named("nats://127.0.0.1:7433");
    let mut o = spoke_options(a.clone());
    let mut h = Harness::new(o.clone());
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    h.send(l, CONNECT_INFO);
    h.take(l);
    // A goes, B comes.
    if let Some(leaf) = o.leaf.as_mut() {
        leaf.remotes = vec![b.clone()];
    }
    let now = h.now;
    let lines = h.server.reload(o.clone(), now).expect("reloadable");
    h.advance(Duration::ZERO);
    assert!(lines.contains(
        &"Reloaded: LeafNode Remote urls=[\"nats://127.0.0.1:7422\"], account=\"$G\" removed"
            .to_string()
    ));
    assert!(h.is_closed(l));
    assert_eq!(h.dials.last().map(|d| d.1.as_str()), Some("127.0.0.1:7433"));
    let dials = h.dials.len();
    h.advance(Duration::from_secs(5));
    assert_eq!(h.dials.len(), dials, "A is never dialed again, B waits");
    // B disabled: its dial stops.
    let mut off = b.clone();
    off.disabled = true;
    if let Some(leaf) = o.leaf.as_mut() {
        leaf.remotes = vec![off];
    }
    let now = h.now;
    let lines = h.server.reload(o.clone(), now).expect("reloadable");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Reloaded: LeafNode Remote urls=[\"nats://127.0.0.1:7433\"], account=\"$G\" Disabled value is: true")
    );
    // Anything else of a remote may not change.
    let mut hub_now = b;
    hub_now.hub = true;
    if let Some(leaf) = o.leaf.as_mut() {
        leaf.remotes = vec![hub_now];
    }
    let now = h.now;
    assert_eq!(
        h.server.reload(o, now).err().as_deref(),
        Some("config reload not supported for LeafNode: remote urls=[\"nats://127.0.0.1:7433\"], account=\"$G\": field \"Hub\": old=false, new=true")
    );
}

#[test]
fn a_reload_may_not_move_the_leaf_listener() {
    let o = hub_options();
    let mut h = Harness::new(o.clone());
    let mut moved = o;
    if let Some(l) = moved.leaf.as_mut() {
        l.port = 7500;
    }
    let now = h.now;
    assert_eq!(
        h.server.reload(moved, now).err().as_deref(),
        Some("config reload not supported for LeafNode: field \"Port\": old=7422, new=7500")
    );
}

// ---- users-voice 1: a redundant leaf pair from one cluster -------------------

#[test]
fn uv1_two_links_from_one_leaf_cluster_never_echo_to_each_other() {
    let mut h = hub();
    let pair = |name: &str| {
        LEAF_CONNECT
            .replace("NLEAF", &format!("N{name}"))
            .replace("\"name\":\"LEAF\"", &format!("\"name\":\"{name}\""))
            .replace("\"cluster\":\"LEAF\"", "\"cluster\":\"LC\"")
    };
    let (a, _) = leaf_with(&mut h, &pair("A"));
    let (b, _) = leaf_with(&mut h, &pair("B"));
    let c = h.connected(QUIET);
    h.send(c, "SUB x 1\r\n");
    h.take(a);
    h.take(b);
    // B's interest is not told to its sibling A (they share cluster LC,
    // whose own route carries it)...
    h.send(b, "LS+ x\r\n");
    assert_eq!(h.take(a), "");
    // ...and A's message on x reaches the hub's client once, never B.
    h.send(a, "LMSG x 2\r\nhi\r\n");
    assert_eq!(h.take(c), "MSG x 1 2\r\nhi\r\n");
    assert_eq!(h.take(b), "");
    // A client's message reaches each link with interest.
    h.send(a, "LS+ x\r\n");
    h.send(c, "PUB x 2\r\nyo\r\n");
    assert_eq!(h.take(a), "LMSG x 2\r\nyo\r\n");
    assert_eq!(h.take(b), "LMSG x 2\r\nyo\r\n");
}

#[test]
fn a_hub_that_requires_tls_gets_a_tls_handshake_not_a_plain_connect() {
    // Check 39: a plain `nats://` remote upgrades when the hub's INFO
    // requires TLS; the CONNECT (and its credentials) waits for TLS.
    let mut h = Harness::new(spoke_options(remote("nats://u:secret@127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(
        l,
        &HUB_INFO.replace("\"headers\"", "\"tls_required\":true,\"headers\""),
    );
    assert!(!h.is_closed(l));
    let wire = h.take(l);
    assert!(
        wire.starts_with('\u{16}'),
        "a TLS handshake record: {wire:?}"
    );
    assert!(!wire.contains("CONNECT") && !wire.contains("secret"));
}

// ---- imports across a leaf (users-voice 3) ------------------------------------

/// A hub whose account B imports service `svcA.echo` of account A as
/// `echo`, and stream `pubA.>` with prefix `fromA`; leafs bind to their
/// account by the leaf users list.
fn import_hub() -> Harness {
    let mut o = hub_options();
    o.accounts = vec!["A".into(), "B".into()];
    if let Some(l) = o.leaf.as_mut() {
        l.users = vec![
            crate::options::LeafUserOptions {
                user: "la".into(),
                password: "la".into(),
                account: "A".into(),
            },
            crate::options::LeafUserOptions {
                user: "lb".into(),
                password: "lb".into(),
                account: "B".into(),
            },
        ];
    }
    for (name, acc) in [("a", "A"), ("b", "B")] {
        o.users.insert(
            name.into(),
            UserEntry {
                password: name.into(),
                permissions: None,
                account: acc.into(),
            },
        );
    }
    o.imports = vec![
        crate::options::AccountImport {
            importer: "B".into(),
            exporter: "A".into(),
            subject: "svcA.echo".into(),
            to: "echo".into(),
            prefix: String::new(),
            service: true,
        },
        crate::options::AccountImport {
            importer: "B".into(),
            exporter: "A".into(),
            subject: "pubA.>".into(),
            to: String::new(),
            prefix: "fromA".into(),
            service: false,
        },
    ];
    Harness::new(o)
}

fn leaf_as(h: &mut Harness, user: &str) -> (ConnId, String) {
    let connect = LEAF_CONNECT
        .replace("NLEAF", &format!("N{user}"))
        .replace("\"name\":\"LEAF\"", &format!("\"name\":\"{user}\""))
        .replace(
            "\"server_id\"",
            &format!("\"user\":\"{user}\",\"pass\":\"{user}\",\"server_id\""),
        );
    leaf_with(h, &connect)
}

#[test]
fn uv3_a_spoke_requests_an_imported_service_and_gets_the_reply() {
    let mut h = import_hub();
    let a = h.connected(r#"{"verbose":false,"user":"a","pass":"a"}"#);
    h.send(a, "SUB svcA.echo 10\r\n");
    // The spoke bound to B is told the imported subject.
    let (lb, out) = leaf_as(&mut h, "lb");
    assert!(interest(&out).contains(&"LS+ echo"), "{out}");
    h.send(lb, "LS+ my.inbox\r\nLMSG echo my.inbox 3\r\nabc\r\n");
    let got = h.take(a);
    let reply = got.split(' ').nth(3).expect("a mapped reply").to_string();
    assert!(reply.starts_with("_R_."), "{got}");
    h.send(a, &format!("PUB {reply} 3\r\nABC\r\n"));
    assert_eq!(h.take(lb), "LMSG my.inbox 3\r\nABC\r\n");
}

#[test]
fn uv3_a_responder_behind_a_leaf_answers_a_mapped_request() {
    let mut h = import_hub();
    let b = h.connected(r#"{"verbose":false,"user":"b","pass":"b"}"#);
    // The spoke bound to A (the exporter) is told the _R_ replies.
    let (la, out) = leaf_as(&mut h, "la");
    assert!(
        interest(&out).iter().any(|l| l.starts_with("LS+ _R_.")),
        "{out}"
    );
    h.send(la, "LS+ svcA.echo\r\n");
    h.send(b, "SUB echo.reply 3\r\nPUB echo echo.reply 3\r\nabc\r\n");
    let got = h.take(la);
    assert!(got.starts_with("LMSG svcA.echo _R_."), "{got}");
    let reply = got.split(' ').nth(2).expect("reply").to_string();
    h.send(la, &format!("LMSG {reply} 3\r\nABC\r\n"));
    assert_eq!(h.take(b), "MSG echo.reply 3 3\r\nABC\r\n");
    // A stream A exports reaches a spoke of B under its prefix, once.
    let (lb, _) = leaf_as(&mut h, "lb");
    h.send(lb, "LS+ fromA.>\r\n");
    let a = h.connected(r#"{"verbose":false,"user":"a","pass":"a"}"#);
    h.send(a, "PUB pubA.x 1\r\nz\r\n");
    assert_eq!(h.take(lb), "LMSG fromA.pubA.x 1\r\nz\r\n");
}

#[test]
fn a_route_peer_without_lnoc_hears_our_spokes_interest_as_ours() {
    let mut o = hub_options();
    o.cluster = Some(super::route_peer::cluster());
    let mut h = Harness::new(o);
    let r = h.fake_route_named("NOLD", "NOLD", 6223, "127.0.0.1:4223");
    let l = leaf(&mut h);
    h.send(l, "LS+ t.l1\r\nLS+ w q 2\r\n");
    assert_eq!(h.take(r), "RS+ $G t.l1\r\nRS+ $G w q 2\r\n");
    let c = h.connected(QUIET);
    h.send(c, "SUB t.l1 1\r\nSUB w q 2\r\n");
    assert_eq!(
        h.take(r),
        "RS+ $G w q 3\r\n",
        "one plain RS+, the queue's total"
    );
    h.send(l, "LS- t.l1\r\nLS- w q\r\n");
    assert_eq!(h.take(r), "RS+ $G w q 1\r\n", "the client still holds t.l1");
    h.send(c, "UNSUB 1\r\nUNSUB 2\r\n");
    assert_eq!(h.take(r), "RS- $G t.l1\r\nRS- $G w q\r\n");
    // A route registering later hears the sum at once.
    h.send(l, "LS+ late\r\n");
    h.take(r);
    let r2 = h.route();
    h.send(
        r2,
        &format!(
            "{}{}PING\r\n",
            super::route_peer::route_connect("NOLD2", "testc"),
            super::route_peer::peer_info("NOLD2", 6224, "127.0.0.1:4224")
        ),
    );
    assert!(h.take(r2).contains("RS+ $G late\r\n"));
}

#[test]
fn the_leaf_authorization_nkey_binds_a_signed_leaf() {
    let (seed, public) = test_seed(21);
    let mut o = hub_options();
    o.accounts = vec!["APP".into()];
    if let Some(l) = o.leaf.as_mut() {
        l.nkey = public.clone();
        l.account = "APP".into();
    }
    let mut h = Harness::new(o);
    for (good, expect) in [
        (true, "\"remote_account\":\"APP\""),
        (false, "-ERR 'Authorization Violation'"),
    ] {
        let l = h.accept_leaf();
        let nonce = info_json(&h.take(l))["nonce"]
            .as_str()
            .expect("nonce")
            .to_string();
        let signer = if good { seed.clone() } else { test_seed(22).0 };
        let sig = crate::auth::sign_nonce(&signer, nonce.as_bytes()).expect("sig");
        let connect = LEAF_CONNECT.replace(
            "\"server_id\"",
            &format!("\"nkey\":\"{public}\",\"sig\":\"{sig}\",\"server_id\""),
        );
        h.send(l, &format!("{connect}\r\n"));
        let out = h.take(l);
        assert!(out.contains(expect), "{out}");
    }
}

#[test]
fn dial_timeout_and_ignore_discovered_servers_are_the_remotes() {
    let mut r = remote("nats://127.0.0.1:7422");
    r.dial_timeout = Some(Duration::from_millis(250));
    r.ignore_discovered = true;
    let mut h = Harness::new(spoke_options(r));
    h.advance(Duration::ZERO);
    assert_eq!(h.dial_timeouts, [Duration::from_millis(250)]);
    let l = dialed_spoke(&mut h);
    h.send(
        l,
        &HUB_INFO.replace(
            "\"leafnode_urls\":[\"127.0.0.1:7422\"]",
            "\"leafnode_urls\":[\"127.0.0.1:7499\"]",
        ),
    );
    let now = h.now;
    h.server.handle_closed(l, now);
    h.drain();
    h.advance(Duration::from_millis(1100));
    assert_eq!(h.dials.last().map(|d| d.1.as_str()), Some("127.0.0.1:7422"));
    let now = h.now;
    let (d, _) = h.dials.last().cloned().expect("a dial");
    h.server.handle_dial_failed(d, now);
    h.drain();
    h.advance(Duration::from_secs(3));
    assert_eq!(
        h.dials.last().map(|d| d.1.as_str()),
        Some("127.0.0.1:7422"),
        "the discovered URL is ignored"
    );
}

#[test]
fn leaf_links_have_their_own_write_deadline() {
    let mut o = hub_options();
    if let Some(l) = o.leaf.as_mut() {
        l.write_deadline = Some(Duration::from_secs(1));
    }
    let mut h = Harness::new(o);
    let l = leaf(&mut h);
    h.send(l, "LS+ x\r\n");
    let c = h.connected(QUIET);
    h.stall(l, true);
    h.send(c, "PUB x 1\r\na\r\n");
    h.take_unwritten(l);
    h.advance(Duration::from_millis(900));
    assert!(!h.is_closed(l));
    h.advance(Duration::from_millis(200));
    assert_eq!(
        h.close_reason(l),
        Some(crate::CloseReason::SlowConsumerWriteDeadline)
    );
    assert!(!h.is_closed(c), "clients keep the server's 10 s");
}

#[test]
fn c31_mutual_remotes_refuse_the_second_link_as_a_loop() {
    // We solicit B, and B already solicited us (we are its hub).
    let mut o = spoke_options(remote("nats://127.0.0.1:7422"));
    if let Some(l) = o.leaf.as_mut() {
        l.port = 7423;
        l.host = "127.0.0.1".into();
    }
    let mut h = Harness::new(o);
    let from_b = LEAF_CONNECT
        .replace("\"name\":\"LEAF\"", "\"name\":\"B\"")
        .replace("\"cluster\":\"LEAF\"", "\"cluster\":\"B\"");
    let (b_link, out) = leaf_with(&mut h, &from_b);
    assert!(out.contains("\"connect_info\":true"), "{out}");
    // Our INFO names our cluster: the server name of a soliciting server.
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    let b_info = |info: &str| {
        info.replace(
            "\"server_name\":\"HUB\"",
            "\"server_name\":\"B\",\"cluster\":\"B\"",
        )
    };
    h.send(l, &b_info(HUB_INFO));
    h.take(l);
    h.send(l, &b_info(CONNECT_INFO));
    assert_eq!(
        h.take(l),
        "-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s'\r\n"
    );
    assert!(h.is_closed(l) && !h.is_closed(b_link));
    // And the next dial waits 30 s.
    h.advance(Duration::from_secs(29));
    assert_eq!(h.dials.len(), 1);
    h.advance(Duration::from_secs(3));
    assert_eq!(h.dials.len(), 2);
}

#[test]
fn c21_a_spoke_asks_only_for_what_its_hub_user_may_import() {
    let mut h = Harness::new(spoke_options(remote("nats://127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let c = h.connected(QUIET);
    h.send(
        c,
        "SUB down.a 1\r\nSUB down.secret 2\r\nSUB other.y 3\r\nSUB down.> 4\r\n",
    );
    let l = dialed_spoke(&mut h);
    h.send(l, HUB_INFO);
    h.take(l);
    h.send(
        l,
        &CONNECT_INFO.replace(
            "\"remote_account\"",
            "\"import\":{\"allow\":[\"down.>\"],\"deny\":[\"down.secret\"]},\"export\":{\"allow\":[\"up.>\"]},\"remote_account\"",
        ),
    );
    assert_eq!(interest(&h.take(l)), ["LS+ down.a", "LS+ down.>"]);
    // What it may export: up.> only.
    h.send(l, "LS+ up.x\r\nLS+ other.z\r\n");
    h.send(c, "PUB up.x 1\r\na\r\nPUB other.z 1\r\nb\r\n");
    assert_eq!(h.take(l), "LMSG up.x 1\r\na\r\n");
}

#[test]
fn a_spokes_message_serves_only_the_route_groups_it_names() {
    let (mut h, r) = clustered_hub();
    let l = leaf(&mut h);
    h.send(r, "RS+ $G w q 1\r\n");
    h.take(l);
    h.send(l, "LMSG w 1\r\nx\r\n");
    assert_eq!(h.take(r), "", "no queue list: no queue member anywhere");
    h.send(l, "LMSG w | q 1\r\nx\r\n");
    assert_eq!(h.take(r), "LMSG LEAF $G w | q 0 1\r\nx\r\n");
}

#[test]
fn a_leaf_that_names_no_cluster_is_routed_as_ours() {
    let (mut h, r) = clustered_hub();
    let nameless = LEAF_CONNECT.replace("\"cluster\":\"LEAF\",", "");
    let (l, _) = leaf_with(&mut h, &nameless);
    h.send(l, "LS+ x\r\n");
    assert_eq!(h.take(r), "RS+ $G x\r\n");
    h.send(r, "RS+ $G x\r\n");
    h.send(l, "LMSG x 1\r\ny\r\nLS- x\r\n");
    assert_eq!(h.take(r), "RMSG $G x 1\r\ny\r\nRS- $G x\r\n");
}

#[test]
fn a_closed_routes_leaf_interest_keeps_its_origin_on_the_way_out() {
    let (mut h, r) = clustered_hub();
    let other = LEAF_CONNECT
        .replace("NLEAF", "NOTHER")
        .replace("\"name\":\"LEAF\"", "\"name\":\"OTHER\"")
        .replace("\"cluster\":\"LEAF\"", "\"cluster\":\"OTHER\"");
    let (l, _) = leaf_with(&mut h, &other);
    let c = h.connected(QUIET);
    h.send(c, "SUB y 1\r\n");
    assert_eq!(h.take(l), "LS+ y\r\n");
    // Interest from cluster OTHER behind the peer was never told to the
    // OTHER link; its going must not be either (our client still wants y).
    h.send(r, "LS+ OTHER $G y\r\nLS+ THIRD $G z\r\n");
    assert_eq!(h.take(l), "LS+ z\r\n");
    let now = h.now;
    h.server.handle_closed(r, now);
    h.drain();
    assert_eq!(h.take(l), "LS- z\r\n");
}

#[test]
fn a_hub_without_headers_gets_messages_without_them() {
    let mut h = Harness::new(spoke_options(remote("nats://127.0.0.1:7422")));
    h.advance(Duration::ZERO);
    let l = dialed_spoke(&mut h);
    h.send(
        l,
        &HUB_INFO.replace("\"headers\":true", "\"headers\":false"),
    );
    h.send(l, CONNECT_INFO);
    h.send(l, "LS+ x\r\n");
    h.take(l);
    let c = h.connected(QUIET);
    h.send(c, "HPUB x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(h.take(l), "LMSG x 2\r\nhi\r\n");
}

#[test]
fn write_timeout_close_cuts_a_leaf_that_drains_too_slowly_and_retry_does_not() {
    for close in [false, true] {
        let mut o = hub_options();
        if let Some(l) = o.leaf.as_mut() {
            l.write_deadline = Some(Duration::from_secs(1));
            l.write_timeout_close = close;
        }
        let mut h = Harness::new(o);
        let l = leaf(&mut h);
        h.send(l, "LS+ x\r\n");
        let c = h.connected(QUIET);
        h.stall(l, true);
        for _ in 0..50 {
            h.send(c, "PUB x 1\r\na\r\n");
        }
        // The link takes a few bytes every 400 ms: progress, never done.
        for _ in 0..4 {
            h.trickle(l, 10);
            h.advance(Duration::from_millis(400));
        }
        assert_eq!(
            h.close_reason(l),
            close.then_some(crate::CloseReason::SlowConsumerWriteDeadline),
            "write_timeout close: {close}"
        );
    }
}
