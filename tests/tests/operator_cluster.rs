//! A mixed cluster in operator mode behaves as one system: three servers
//! (canopy and nats-server 2.15.1 mixed, both ways) trust one operator,
//! each with its own `full` resolver directory. An account pushed to one
//! server through the system account (`$SYS.REQ.CLAIMS.UPDATE`, as `nsc
//! push` and `nats` do) is taken by every server, stored in each one's
//! directory, and its users then work on every server; and
//! `$SYS.REQ.SERVER.PING`, collected as `nats server list` collects it,
//! gets one answer from each server.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions};
use canopy_tests::operator::{Operator, Resolver, User};
use canopy_tests::{config_cluster_with, Impl, Server};
use futures::StreamExt;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// One node of the cluster and its resolver directory.
struct Node {
    server: Server,
    dir: PathBuf,
}

/// Three servers `[a, b, a]` in one cluster, the later two routing to
/// the first, each with its own full resolver directory.
fn cluster(op: &Operator, a: Impl, b: Impl) -> Vec<Node> {
    let dir = |i: usize| op.dir().join(format!("jwt{i}"));
    let servers = config_cluster_with(&[a, b, a], "ops", |i| {
        format!(
            "{}server_name: n{i}\n",
            op.config_text(&Resolver::Full { dir: dir(i) })
        )
    });
    servers
        .into_iter()
        .enumerate()
        .map(|(i, server)| Node {
            server,
            dir: dir(i),
        })
        .collect()
}

async fn connect(user: &User, server: &Server) -> Client {
    let opts = ConnectOptions::with_credentials_file(&user.creds_path)
        .await
        .expect("creds file reads");
    timeout(WAIT, opts.connect(server.url()))
        .await
        .expect("connect hung")
        .expect("connects with creds")
}

/// Publishes `payload` on `subject` with a fresh inbox and collects every
/// reply for `window`, as the `nats` CLI does for multi-server requests.
async fn collect(
    c: &Client,
    subject: &str,
    payload: &str,
    window: Duration,
) -> Vec<serde_json::Value> {
    let inbox = c.new_inbox();
    let mut sub = c.subscribe(inbox.clone()).await.expect("subscribe inbox");
    c.flush().await.expect("flush");
    c.publish_with_reply(subject.to_string(), inbox, payload.to_string().into())
        .await
        .expect("request");
    let mut out = Vec::new();
    let end = tokio::time::Instant::now() + window;
    while let Ok(Some(m)) = tokio::time::timeout_at(end, sub.next()).await {
        out.push(serde_json::from_slice(&m.payload).unwrap_or(serde_json::Value::Null));
    }
    out
}

/// Server ids answering `$SYS.REQ.SERVER.PING`, once the whole cluster
/// answers (the routes take a moment to form): every server exactly once.
async fn server_list(sys: &Client, servers: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let replies = collect(sys, "$SYS.REQ.SERVER.PING", "", Duration::from_millis(500)).await;
        if replies.len() >= servers || Instant::now() > deadline {
            return replies;
        }
    }
}

/// Pushes an account that no server had to the first server; every
/// server answers, keeps it, and its users work across the cluster.
fn pushed_account_reaches_every_server(a: Impl, b: Impl) {
    let mut op = Operator::new(41);
    let nodes = cluster(&op, a, b);
    // Made after the configs: no server preloads it.
    let late = op.account("LATE");
    let sys = op.system_user("sys");
    let alice = op.user(&late, "alice", |_, _| {});
    common::rt().block_on(async {
        let admin = connect(&sys, &nodes[0].server).await;
        let list = server_list(&admin, 3).await;
        assert_eq!(list.len(), 3, "every server answers the PING: {list:?}");
        // Not known anywhere yet: refused.
        let early = ConnectOptions::with_credentials_file(&alice.creds_path)
            .await
            .expect("creds")
            .connect(nodes[1].server.url());
        let early = timeout(WAIT, early).await.expect("refusal in time");
        assert!(early.is_err(), "a user of an account nobody has is refused");
        let replies = collect(
            &admin,
            "$SYS.REQ.CLAIMS.UPDATE",
            &late.jwt,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(
            replies.len(),
            3,
            "each server answers the push: {replies:?}"
        );
        for r in &replies {
            assert_eq!(r["data"]["code"], 200, "{r}");
            assert_eq!(r["data"]["account"], late.keys.public.as_str(), "{r}");
            assert_eq!(r["data"]["message"], "jwt updated", "{r}");
        }
        // Each server kept it in its directory.
        for n in &nodes {
            let file = n.dir.join(format!("{}.jwt", late.keys.public));
            let kept = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{} on {}: {e}", file.display(), n.server.imp()));
            assert_eq!(kept.trim(), late.jwt);
        }
        // Its users work on every server, and across them.
        let mut clients = Vec::new();
        for n in &nodes {
            clients.push(connect(&alice, &n.server).await);
        }
        let mut sub = clients[2].subscribe("late.news").await.expect("subscribe");
        clients[2].flush().await.expect("flush");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            clients[0]
                .publish("late.news", "hi".into())
                .await
                .expect("publish");
            clients[0].flush().await.expect("flush");
            if let Ok(Some(m)) = timeout(Duration::from_millis(200), sub.next()).await {
                assert_eq!(m.payload, "hi");
                break;
            }
            assert!(Instant::now() < deadline, "no message across the cluster");
        }
    });
}

/// `nats server list`: one `$SYS.REQ.SERVER.PING` answered by every
/// server of the mixed cluster, each with its own id and name, once.
fn server_ping_lists_every_server(a: Impl, b: Impl) {
    let mut op = Operator::new(42);
    let nodes = cluster(&op, a, b);
    let sys = op.system_user("sys");
    common::rt().block_on(async {
        let admin = connect(&sys, &nodes[1].server).await;
        let list = server_list(&admin, 3).await;
        let ids: BTreeSet<&str> = list
            .iter()
            .filter_map(|r| r["server"]["id"].as_str())
            .collect();
        let names: BTreeSet<&str> = list
            .iter()
            .filter_map(|r| r["server"]["name"].as_str())
            .collect();
        assert_eq!(list.len(), 3, "{list:?}");
        assert_eq!(ids.len(), 3, "{list:?}");
        assert_eq!(names, BTreeSet::from(["n0", "n1", "n2"]), "{list:?}");
        for r in &list {
            assert!(r["statsz"]["connections"].is_number(), "{r}");
            assert_eq!(r["server"]["cluster"], "ops", "{r}");
        }
    });
}

/// A server that was down when an account was pushed learns it from the
/// others through the full resolver's periodic pack exchange
/// (`$SYS.REQ.CLAIMS.PACK`, every `interval`), then takes its users.
fn a_late_server_catches_up_through_the_pack_sync(a: Impl, b: Impl) {
    let mut op = Operator::new(43);
    let configs: Vec<String> = (0..2)
        .map(|i| {
            op.config_text(&Resolver::Full {
                dir: op.dir().join(format!("jwt{i}")),
            })
            .replace("type: full,", "type: full, interval: \"1s\",")
                + &format!("server_name: n{i}\n")
        })
        .collect();
    let first = config_cluster_with(&[a], "ops", |_| configs[0].clone());
    let late = op.account("LATE");
    let sys = op.system_user("sys");
    let alice = op.user(&late, "alice", |_, _| {});
    common::rt().block_on(async {
        let admin = connect(&sys, &first[0]).await;
        let replies = collect(
            &admin,
            "$SYS.REQ.CLAIMS.UPDATE",
            &late.jwt,
            Duration::from_millis(500),
        )
        .await;
        assert_eq!(replies.len(), 1, "{replies:?}");
    });
    // The late server routes to the first (its listen port is in its
    // log's route line; config_cluster_with routed it to the first).
    let route = first[0]
        .log()
        .lines()
        .find_map(|l| {
            l.split("Listening for route connections on ")
                .nth(1)
                .map(str::to_string)
        })
        .expect("the first server's route port");
    let conf = format!(
        "{}cluster {{ name: ops, listen: \"127.0.0.1:{}\", routes: [\"nats-route://{}\"] }}\n",
        configs[1],
        canopy_tests::free_port(),
        route.trim()
    );
    let second = canopy_tests::ServerBuilder::new(b).config(&conf).start();
    common::rt().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let attempt = ConnectOptions::with_credentials_file(&alice.creds_path)
                .await
                .expect("creds")
                .connect(second.url());
            if let Ok(Ok(_)) = timeout(WAIT, attempt).await {
                break;
            }
            assert!(Instant::now() < deadline, "{} never learnt the account", b);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
}

canopy_tests::per_pair! {
    a_late_server_catches_up_through_the_pack_sync,
    pushed_account_reaches_every_server,
    server_ping_lists_every_server,
}
