//! The system account's internal client through the engine
//! (`Harness::with_system`): its subscriptions, `$SYS.REQ.SERVER.PING`
//! from a client and over a route, the client CONNECT/DISCONNECT events
//! and the statsz heartbeat, with the keys nats-server 2.15.1 sends
//! (observed with its `system_account: SYS` and accounts SYS and APP).

use super::harness::Harness;
use super::route_peer::{cluster, clustered};
use crate::auth::UserEntry;
use crate::{ConnId, Options};
use serde_json::Value;
use std::time::Duration;

/// `"server":{...}` of every system message.
const SERVER_KEYS: [&str; 9] = [
    "feature_flags",
    "flags",
    "host",
    "id",
    "jetstream",
    "name",
    "seq",
    "time",
    "ver",
];

/// `statsz` of a `$SYS.REQ.SERVER.PING` reply (a standalone server: no
/// `routes`).
const STATSZ_KEYS: [&str; 15] = [
    "active_accounts",
    "active_servers",
    "connections",
    "cores",
    "cpu",
    "gomaxprocs",
    "mem",
    "received",
    "received_from_clients",
    "sent",
    "sent_to_clients",
    "slow_consumers",
    "start",
    "subscriptions",
    "total_connections",
];

/// `client` of a CONNECT event from nats-py (`name` given).
const CLIENT_KEYS: [&str; 11] = [
    "acc",
    "client_type",
    "host",
    "id",
    "kind",
    "lang",
    "name",
    "name_tag",
    "start",
    "user",
    "ver",
];

fn user(account: &str) -> UserEntry {
    UserEntry {
        password: "pw".into(),
        permissions: None,
        account: account.into(),
    }
}

/// `system_account: SYS`, accounts SYS and APP with users sys and app.
fn sys_options(base: Options) -> Options {
    let mut options = Options {
        accounts: vec!["SYS".into(), "APP".into()],
        system_account: "SYS".into(),
        ..base
    };
    options.users.insert("sys".into(), user("SYS"));
    options.users.insert("app".into(), user("APP"));
    options
}

fn server() -> Harness {
    Harness::with_system(sys_options(Options {
        host: "127.0.0.1".into(),
        port: 4222,
        ..Options::default()
    }))
}

fn login(h: &mut Harness, name: &str) -> ConnId {
    h.connected(&format!(
        r#"{{"verbose":false,"pedantic":false,"user":"{name}","pass":"pw","name":"x","lang":"python3","version":"2.16.0"}}"#
    ))
}

/// The messages in `out` (`MSG` or `RMSG`): subject and payload.
fn messages(out: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = out;
    while let Some(end) = rest.find("\r\n") {
        let line = &rest[..end];
        rest = &rest[end + 2..];
        let args: Vec<&str> = line.split(' ').collect();
        let subject = match args.first() {
            Some(&"MSG") => args[1],
            Some(&"RMSG") => args[2],
            _ => continue,
        };
        let len: usize = args.last().and_then(|n| n.parse().ok()).expect("a size");
        found.push((subject.to_string(), rest[..len].to_string()));
        rest = &rest[len + 2..];
    }
    found
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort_unstable();
    k
}

fn sorted<const N: usize>(list: [&'static str; N]) -> Vec<&'static str> {
    let mut v = list.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn subscriptions_after_start_are_56_and_4_per_account() {
    // SYS, APP and $G: 56 in SYS, 4 in each of the other two (nats-server
    // 2.15.1's /subsz says 64 with this configuration).
    let h = server();
    assert_eq!(h.server.subscription_count(), 56 + 4 * 2);
    // The default: $SYS and $G.
    let h = Harness::with_system(Options::default());
    assert_eq!(h.server.subscription_count(), 56 + 4);
    // Without a system account, none.
    let h = Harness::with_system(Options {
        system_account: String::new(),
        ..Options::default()
    });
    assert_eq!(h.server.subscription_count(), 0);
}

#[test]
fn server_ping_from_a_system_client_is_answered_once() {
    let mut h = server();
    let c = login(&mut h, "sys");
    h.send(
        c,
        "SUB _INBOX.p 1\r\nPUB $SYS.REQ.SERVER.PING _INBOX.p 0\r\n\r\n",
    );
    let got = messages(&h.take(c));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "_INBOX.p");
    let reply: Value = serde_json::from_str(&got[0].1).expect("JSON");
    assert_eq!(keys(&reply), ["server", "statsz"], "{reply}");
    assert_eq!(keys(&reply["server"]), sorted(SERVER_KEYS), "{reply}");
    assert_eq!(keys(&reply["statsz"]), sorted(STATSZ_KEYS), "{reply}");
    assert_eq!(reply["server"]["id"], h.server.info.server_id.as_str());
    assert_eq!(reply["statsz"]["connections"], 1);
    // A client of another account publishing the same subject reaches
    // its own import, not the system's PING: no statsz for it.
    let a = login(&mut h, "app");
    h.send(
        a,
        "SUB _INBOX.q 1\r\nPUB $SYS.REQ.SERVER.PING _INBOX.q 0\r\n\r\n",
    );
    let got = messages(&h.take(a));
    assert!(
        got.iter().all(|(_, body)| !body.contains("\"statsz\"")),
        "{got:?}"
    );
}

#[test]
fn server_ping_over_a_route_is_answered_over_it() {
    let mut h = Harness::with_system(sys_options(clustered(cluster())));
    let r = h.fake_route_named("NPEER", "peer", 6223, "127.0.0.1:4223");
    // The peer's client asked with an inbox it listens on.
    h.send(
        r,
        "RS+ SYS _INBOX.peer.*\r\nRMSG SYS $SYS.REQ.SERVER.PING _INBOX.peer.1 0\r\n\r\n",
    );
    let out = h.take(r);
    let got = messages(&out);
    assert_eq!(got.len(), 1, "{out}");
    assert!(out.starts_with("RMSG SYS _INBOX.peer.1 "), "{out}");
    let reply: Value = serde_json::from_str(&got[0].1).expect("JSON");
    assert_eq!(reply["server"]["id"], h.server.info.server_id.as_str());
    assert_eq!(reply["server"]["cluster"], "testc");
    // A clustered server's statsz lists its routes.
    let routes = reply["statsz"]["routes"].as_array().expect("routes");
    assert_eq!(routes.len(), 1, "{reply}");
    assert_eq!(routes[0]["name"], "peer", "{reply}");
    assert_eq!(reply["statsz"]["active_servers"], 2, "{reply}");
}

#[test]
fn connect_and_disconnect_events_of_another_account() {
    let mut h = server();
    let s = login(&mut h, "sys");
    h.send(s, "SUB $SYS.ACCOUNT.> 1\r\nPING\r\n");
    assert_eq!(h.take(s), "PONG\r\n");
    let a = login(&mut h, "app");
    let got = messages(&h.take(s));
    let subjects: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        ["$SYS.ACCOUNT.APP.SERVER.CONNS", "$SYS.ACCOUNT.APP.CONNECT"]
    );
    let conns: Value = serde_json::from_str(&got[0].1).expect("JSON");
    assert_eq!(
        keys(&conns),
        [
            "acc",
            "conns",
            "id",
            "leafnodes",
            "name",
            "num_subscriptions",
            "received",
            "sent",
            "server",
            "slow_consumers",
            "timestamp",
            "total_conns",
            "type"
        ]
    );
    assert_eq!(conns["conns"], 1);
    assert_eq!(conns["num_subscriptions"], 4);
    let connect: Value = serde_json::from_str(&got[1].1).expect("JSON");
    assert_eq!(
        keys(&connect),
        ["client", "id", "server", "timestamp", "type"]
    );
    assert_eq!(connect["type"], "io.nats.server.advisory.v1.client_connect");
    assert_eq!(keys(&connect["server"]), sorted(SERVER_KEYS));
    assert_eq!(keys(&connect["client"]), sorted(CLIENT_KEYS), "{connect}");
    assert_eq!(connect["client"]["acc"], "APP");
    assert_eq!(connect["client"]["user"], "app");
    assert_eq!(connect["id"].as_str().map(str::len), Some(22));

    let now = h.now;
    h.server.handle_closed(a, now);
    h.drain();
    let got = messages(&h.take(s));
    let subjects: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "$SYS.ACCOUNT.APP.SERVER.CONNS",
            "$SYS.ACCOUNT.APP.DISCONNECT"
        ]
    );
    let conns: Value = serde_json::from_str(&got[0].1).expect("JSON");
    assert_eq!(conns["conns"], 0);
    let gone: Value = serde_json::from_str(&got[1].1).expect("JSON");
    assert_eq!(
        keys(&gone),
        [
            "client",
            "id",
            "reason",
            "received",
            "sent",
            "server",
            "timestamp",
            "type"
        ]
    );
    assert_eq!(gone["type"], "io.nats.server.advisory.v1.client_disconnect");
    assert_eq!(gone["reason"], "Client Closed");
    assert!(gone["client"]["stop"].is_string(), "{gone}");
    // One DISCONNECT per CONNECT: closing again says nothing.
    h.server.handle_closed(a, now);
    h.drain();
    assert_eq!(h.take(s), "");
}

#[test]
fn statsz_heartbeat_starts_at_250ms_and_doubles_to_10s() {
    let mut h = server();
    let s = login(&mut h, "sys");
    h.send(s, "SUB $SYS.SERVER.*.STATSZ 1\r\nPING\r\n");
    assert_eq!(h.take(s), "PONG\r\n");
    let start = h.now;
    let mut seen = Vec::new();
    for _ in 0..3600 {
        h.advance(Duration::from_millis(10));
        for (subject, body) in messages(&h.take(s)) {
            assert_eq!(
                subject,
                format!("$SYS.SERVER.{}.STATSZ", h.server.info.server_id)
            );
            let v: Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(keys(&v), ["server", "statsz"]);
            seen.push((h.now - start).as_millis());
        }
    }
    assert_eq!(
        seen,
        [250, 750, 1750, 3750, 7750, 15750, 25750, 35750],
        "{seen:?}"
    );
}

#[test]
fn statsz_heartbeat_of_a_standalone_server_waits_for_a_listener() {
    // Nobody but the server listens: no heartbeat goes out, but the
    // timer keeps its schedule.
    let mut h = server();
    let s = login(&mut h, "sys");
    h.advance(Duration::from_secs(2));
    assert_eq!(h.take(s), "");
    h.send(s, "SUB $SYS.SERVER.*.STATSZ 1\r\n");
    h.advance(Duration::from_millis(1750));
    assert_eq!(messages(&h.take(s)).len(), 1);
}
