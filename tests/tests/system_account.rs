//! The system account's internal client against nats-server 2.15.1: the
//! subscriptions it makes at start (as `/subsz` counts them), the
//! `$SYS.REQ.SERVER.PING` round as `nats server list` does it across a
//! mixed cluster, the `$SYS.REQ.SERVER.PING.VARZ` reply's keys, and the
//! client CONNECT event's keys. Each test starts canopy and nats-server
//! with the same configuration and compares them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::Client;
use canopy_tests::{config_cluster, free_port, http_get, Impl, Server, ServerBuilder};
use common::{rt, WAIT};
use futures::StreamExt;
use serde_json::Value;
use tokio::time::{timeout, Instant};

/// `system_account: SYS` with accounts SYS and APP (user = password).
const ACCOUNTS: &str = "system_account: SYS\naccounts {\n  \
                        SYS: { users: [ {user: sys, password: sys} ] }\n  \
                        APP: { users: [ {user: app, password: app} ] }\n}\n";

/// How long `nats server list` waits for replies.
const COLLECT: Duration = Duration::from_millis(500);

fn json_of(port: u16, path: &str) -> Value {
    let (status, body) = http_get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// `user` (whose password is its name) on `server`.
async fn login(user: &str, server: &Server) -> Client {
    let connect = async_nats::ConnectOptions::with_user_and_password(user.into(), user.into())
        .connect(server.url());
    timeout(WAIT, connect)
        .await
        .expect("connect timed out")
        .expect("connect")
}

/// The sorted keys of a JSON object (none for anything else).
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// `num_subscriptions` of `/subsz` right after start.
fn subscriptions_at_start(imp: Impl, config: &str) -> u64 {
    let http = free_port();
    let _server = ServerBuilder::new(imp)
        .config(config)
        .args(["-m", &http.to_string()])
        .start();
    json_of(http, "/subsz")["num_subscriptions"]
        .as_u64()
        .expect("num_subscriptions")
}

/// (a) The same number of subscriptions after start as nats-server: 56
/// in the system account and 4 imports in each other one.
fn subsz_after_start_matches_nats_server(canopy: Impl) {
    for (what, config, want) in [
        (
            "system_account SYS, accounts SYS and APP",
            ACCOUNTS,
            56 + 4 * 2,
        ),
        ("the default configuration", "", 56 + 4),
    ] {
        let reference = subscriptions_at_start(Impl::NatsServer, config);
        assert_eq!(reference, want, "nats-server with {what}");
        assert_eq!(
            subscriptions_at_start(canopy, config),
            reference,
            "{canopy} with {what}"
        );
    }
}

/// One `$SYS.REQ.SERVER.PING` round as `nats server list` does it: the
/// replies to `reply` collected for [`COLLECT`], as (server id, body).
async fn ping_round(
    c: &Client,
    replies: &mut async_nats::Subscriber,
    reply: String,
) -> Vec<(String, Value)> {
    c.publish_with_reply("$SYS.REQ.SERVER.PING", reply.clone(), "".into())
        .await
        .expect("ping");
    c.flush().await.expect("flush");
    let deadline = Instant::now() + COLLECT;
    let mut got = Vec::new();
    while let Ok(Some(m)) = timeout(
        deadline.saturating_duration_since(Instant::now()),
        replies.next(),
    )
    .await
    {
        if m.subject.as_str() != reply {
            continue; // a late reply of an earlier round
        }
        let v: Value = serde_json::from_slice(&m.payload).expect("reply JSON");
        let id = v["server"]["id"].as_str().expect("server.id").to_string();
        got.push((id, v));
    }
    got
}

/// (b) In a mixed cluster of three, a system client's PING is answered
/// by every server exactly once, each with its own id.
fn server_ping_across_a_mixed_cluster(imps: [Impl; 3]) {
    rt().block_on(async {
        let servers = config_cluster(&imps, ACCOUNTS, "sys");
        let mut ids = BTreeMap::new();
        for (i, s) in servers.iter().enumerate() {
            let c = login("sys", s).await;
            ids.insert(
                c.server_info().server_id.clone(),
                format!("n{i}-{}", s.imp()),
            );
        }
        let c = login("sys", &servers[0]).await;
        let inbox = c.new_inbox();
        let mut replies = c.subscribe(format!("{inbox}.>")).await.expect("sub");
        // Until the cluster has formed and the inbox's interest has
        // reached every server, some stay silent.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut round = 0;
        loop {
            round += 1;
            let got = ping_round(&c, &mut replies, format!("{inbox}.{round}")).await;
            if got.len() >= ids.len() || Instant::now() > deadline {
                break;
            }
        }
        // Then one round: each server once.
        round += 1;
        let got = ping_round(&c, &mut replies, format!("{inbox}.{round}")).await;
        let mut seen: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        seen.sort_unstable();
        let want: Vec<&str> = ids.keys().map(String::as_str).collect();
        assert_eq!(seen, want, "replies of {ids:?}");
        for (id, v) in &got {
            assert_eq!(
                keys(v),
                BTreeSet::from(["server".to_string(), "statsz".to_string()])
            );
            assert_eq!(v["server"]["cluster"], "sys", "{} {v}", ids[id]);
            assert_eq!(v["statsz"]["active_servers"], 3, "{} {v}", ids[id]);
        }
    });
}

fn server_ping_one_canopy_two_nats_servers(canopy: Impl) {
    server_ping_across_a_mixed_cluster([canopy, Impl::NatsServer, Impl::NatsServer]);
}

fn server_ping_two_canopy_one_nats_server(canopy: Impl) {
    server_ping_across_a_mixed_cluster([Impl::NatsServer, canopy, canopy]);
}

/// The `$SYS.REQ.SERVER.PING.VARZ` reply of a standalone `imp`.
fn varz_reply(imp: Impl) -> Value {
    let server = ServerBuilder::new(imp).config(ACCOUNTS).start();
    rt().block_on(async {
        let c = login("sys", &server).await;
        let m = timeout(WAIT, c.request("$SYS.REQ.SERVER.PING.VARZ", "".into()))
            .await
            .expect("VARZ timed out")
            .expect("VARZ reply");
        serde_json::from_slice(&m.payload).expect("VARZ JSON")
    })
}

/// `data` keys nats-server's VARZ reply has and canopy's lacks, on
/// purpose: none.
const VARZ_ONLY_NATS_SERVER: [&str; 0] = [];

/// (c) `$SYS.REQ.SERVER.PING.VARZ`: `server` and `data`, `data` with
/// nats-server's keys.
fn varz_reply_has_nats_server_keys(canopy: Impl) {
    let reference = varz_reply(Impl::NatsServer);
    let ours = varz_reply(canopy);
    assert_eq!(keys(&ours), keys(&reference), "{ours}");
    assert_eq!(keys(&ours["server"]), keys(&reference["server"]), "{ours}");
    let allowed: BTreeSet<String> = VARZ_ONLY_NATS_SERVER
        .iter()
        .map(|k| k.to_string())
        .collect();
    let missing: BTreeSet<String> = keys(&reference["data"])
        .difference(&keys(&ours["data"]))
        .cloned()
        .collect();
    assert_eq!(missing, allowed, "data keys only nats-server has");
    let extra: BTreeSet<String> = keys(&ours["data"])
        .difference(&keys(&reference["data"]))
        .cloned()
        .collect();
    assert!(extra.is_empty(), "data keys only {canopy} has: {extra:?}");
    assert_eq!(ours["data"]["system_account"], "SYS");
}

/// The CONNECT event a SYS subscriber sees when an APP client connects
/// to `imp`, and the SERVER.CONNS before it: their keys, by path.
fn connect_event_keys(imp: Impl) -> BTreeMap<String, BTreeSet<String>> {
    let server = ServerBuilder::new(imp).config(ACCOUNTS).start();
    rt().block_on(async {
        let sys = login("sys", &server).await;
        let mut events = sys.subscribe("$SYS.ACCOUNT.APP.>").await.expect("sub");
        sys.flush().await.expect("flush");
        let _app = login("app", &server).await;
        let mut out = BTreeMap::new();
        for want in ["$SYS.ACCOUNT.APP.SERVER.CONNS", "$SYS.ACCOUNT.APP.CONNECT"] {
            let m = timeout(WAIT, events.next())
                .await
                .unwrap_or_else(|_| panic!("{imp}: no {want}"))
                .expect("subscription open");
            assert_eq!(m.subject.as_str(), want, "{imp}");
            let v: Value = serde_json::from_slice(&m.payload).expect("event JSON");
            out.insert(want.to_string(), keys(&v));
            out.insert(format!("{want} server"), keys(&v["server"]));
            if want.ends_with("CONNECT") {
                assert_eq!(v["type"], "io.nats.server.advisory.v1.client_connect");
                assert_eq!(v["client"]["acc"], "APP");
                assert_eq!(v["client"]["user"], "app");
                out.insert(format!("{want} client"), keys(&v["client"]));
            }
        }
        out
    })
}

/// (d) An APP client's CONNECT event, as a SYS subscriber sees it: the
/// same JSON keys as nats-server's.
fn connect_event_has_nats_server_keys(canopy: Impl) {
    assert_eq!(
        connect_event_keys(canopy),
        connect_event_keys(Impl::NatsServer)
    );
}

canopy_tests::per_canopy_runtime! {
    subsz_after_start_matches_nats_server,
    server_ping_one_canopy_two_nats_servers,
    server_ping_two_canopy_one_nats_server,
    varz_reply_has_nats_server_keys,
    connect_event_has_nats_server_keys,
}
