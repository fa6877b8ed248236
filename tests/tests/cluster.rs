//! Clusters over real sockets with async-nats clients: Canopy-only
//! clusters, and mixed clusters of Canopy and nats-server 2.15.1 nodes
//! joined by routes. Every count is exact: each message reaches each plain
//! subscriber once and one member of each queue group once.
//!
//! Each test that takes a `canopy: Impl` runs twice, as `canopy::<test>`
//! with canopy on tokio and as `canopy_smol::<test>` with canopy on smol;
//! `mixed_tokio_smol_and_nats_server` runs both runtimes in one cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::{Client, HeaderMap, Message, RequestErrorKind, Subscriber};
use bytes::Bytes;
use canopy_tests::{config_cluster, free_port, Impl, Server, ServerBuilder};
use futures::StreamExt;
use tokio::time::timeout;

/// Upper bound on any single wait for a message or reply.
const WAIT: Duration = Duration::from_secs(5);
/// How long a cluster may take to form or to re-form.
const MESH: Duration = Duration::from_secs(20);

/// One server of a test cluster, with what is needed to restart it.
struct Node {
    imp: Impl,
    name: String,
    port: u16,
    route_port: u16,
    routes: Vec<u16>,
    server: Server,
}

impl Node {
    fn start(imp: Impl, name: &str, port: u16, route_port: u16, routes: &[u16]) -> Node {
        let server = spawn(imp, name, port, route_port, routes);
        Node {
            imp,
            name: name.to_string(),
            port,
            route_port,
            routes: routes.to_vec(),
            server,
        }
    }

    fn restart(&mut self) {
        self.server.stop();
        self.server = spawn(
            self.imp,
            &self.name,
            self.port,
            self.route_port,
            &self.routes,
        );
    }

    fn url(&self) -> String {
        self.server.url()
    }
}

fn spawn(imp: Impl, name: &str, port: u16, route_port: u16, routes: &[u16]) -> Server {
    let mut args = vec![
        "-n".to_string(),
        name.to_string(),
        "--cluster".to_string(),
        format!("nats://127.0.0.1:{route_port}"),
        "--cluster_name".to_string(),
        "interop".to_string(),
    ];
    if !routes.is_empty() {
        let urls: Vec<String> = routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        args.push("--routes".to_string());
        args.push(urls.join(","));
    }
    ServerBuilder::new(imp).port(port).args(args).start()
}

/// Starts one node per `imp`: the first has no routes, every later one
/// routes to the first, and gossip completes the mesh.
fn cluster(imps: &[Impl]) -> Vec<Node> {
    let first_route = free_port();
    imps.iter()
        .enumerate()
        .map(|(i, &imp)| {
            let route_port = if i == 0 { first_route } else { free_port() };
            let routes = if i == 0 { vec![] } else { vec![first_route] };
            Node::start(
                imp,
                &format!("n{i}-{imp}"),
                free_port(),
                route_port,
                &routes,
            )
        })
        .collect()
}

async fn connect(url: &str) -> Client {
    timeout(WAIT, async_nats::connect(url))
        .await
        .unwrap_or_else(|_| panic!("connect to {url} timed out"))
        .unwrap_or_else(|e| panic!("connect to {url} failed: {e}"))
}

async fn clients(nodes: &[Node]) -> Vec<Client> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(connect(&n.url()).await);
    }
    out
}

async fn next(sub: &mut Subscriber) -> Message {
    timeout(WAIT, sub.next())
        .await
        .expect("timed out waiting for a message")
        .expect("subscription ended early")
}

/// Asserts nothing more arrives within a short while.
async fn assert_no_more(sub: &mut Subscriber, what: &str) {
    if let Ok(Some(m)) = timeout(Duration::from_millis(300), sub.next()).await {
        panic!(
            "{what}: unexpected extra message on {}: {:?}",
            m.subject, m.payload
        );
    }
}

/// A round trip through the server on this connection: everything sent
/// before it has been processed, and everything routed to it has arrived.
async fn sync(c: &Client) {
    let inbox = c.new_inbox();
    let mut s = c.subscribe(inbox.clone()).await.expect("barrier subscribe");
    c.publish(inbox, "barrier".into()).await.expect("barrier");
    let m = next(&mut s).await;
    assert_eq!(m.payload, "barrier");
    s.unsubscribe().await.expect("barrier unsubscribe");
}

/// Waits until `publisher`'s server knows of the interest `subscriber`
/// registered before this call. A probe subscription made now travels the
/// same route after the earlier ones, so once the publisher's server
/// forwards to the probe, it has the earlier interest too.
async fn await_interest(publisher: &Client, subscriber: &Client) {
    let probe = subscriber.new_inbox();
    let mut s = subscriber.subscribe(probe.clone()).await.expect("probe");
    sync(subscriber).await;
    let deadline = tokio::time::Instant::now() + MESH;
    loop {
        publisher
            .publish(probe.clone(), "probe".into())
            .await
            .expect("probe publish");
        if let Ok(Some(_)) = timeout(Duration::from_millis(50), s.next()).await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "interest did not propagate within {MESH:?}"
        );
    }
    s.unsubscribe().await.expect("probe unsubscribe");
    sync(subscriber).await;
    // Drain probes still in flight on the route.
    sync(publisher).await;
}

/// Waits until every ordered pair of clients reaches each other directly
/// (one hop: a message only crosses one route, so this proves a full mesh).
async fn await_mesh(cs: &[Client]) {
    for (i, p) in cs.iter().enumerate() {
        for (j, s) in cs.iter().enumerate() {
            if i != j {
                await_interest(p, s).await;
            }
        }
    }
}

/// Plain pub/sub from every node to every other node: each message exactly
/// once per subscriber, and subscribers on the publishing node too.
async fn every_pair_pub_sub(cs: &[Client], tag: &str) {
    let mut subs = Vec::new();
    for c in cs {
        subs.push(c.subscribe(format!("{tag}.>")).await.unwrap());
    }
    for p in cs {
        for s in cs {
            await_interest(p, s).await;
        }
    }
    for (i, p) in cs.iter().enumerate() {
        for k in 0..20 {
            p.publish(format!("{tag}.from{i}"), format!("{i}:{k}").into())
                .await
                .unwrap();
        }
        sync(p).await;
    }
    for (j, s) in subs.iter_mut().enumerate() {
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..cs.len() * 20 {
            let m = next(s).await;
            *got.entry(String::from_utf8_lossy(&m.payload).into_owned())
                .or_default() += 1;
        }
        assert_no_more(s, &format!("subscriber on node {j}")).await;
        assert_eq!(got.len(), cs.len() * 20, "node {j}: distinct messages");
        assert!(got.values().all(|&n| n == 1), "node {j}: duplicates");
    }
}

/// A queue group with members on every node: every message from every
/// node is delivered to exactly one member. Returns deliveries per node.
async fn queue_exactly_once(cs: &[Client], subject: &str, per_node: usize) -> Vec<usize> {
    let mut members = Vec::new();
    for c in cs {
        for _ in 0..2 {
            members.push(
                c.queue_subscribe(subject.to_string(), "workers".into())
                    .await
                    .unwrap(),
            );
        }
    }
    for p in cs {
        for s in cs {
            await_interest(p, s).await;
        }
    }
    for (i, p) in cs.iter().enumerate() {
        for k in 0..per_node {
            p.publish(subject.to_string(), format!("{i}:{k}").into())
                .await
                .unwrap();
        }
        sync(p).await;
    }
    let total = cs.len() * per_node;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_member = vec![0usize; members.len()];
    // Gather until every message is accounted for, then check for extras.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {total} queue messages arrived",
            seen.len()
        );
        for (k, m) in members.iter_mut().enumerate() {
            while let Ok(Some(msg)) = timeout(Duration::from_millis(5), m.next()).await {
                per_member[k] += 1;
                *seen
                    .entry(String::from_utf8_lossy(&msg.payload).into_owned())
                    .or_default() += 1;
            }
        }
    }
    for (k, m) in members.iter_mut().enumerate() {
        while let Ok(Some(msg)) = timeout(Duration::from_millis(100), m.next()).await {
            per_member[k] += 1;
            *seen
                .entry(String::from_utf8_lossy(&msg.payload).into_owned())
                .or_default() += 1;
        }
    }
    let dups: Vec<_> = seen.iter().filter(|(_, &n)| n != 1).take(5).collect();
    assert!(dups.is_empty(), "queue messages delivered twice: {dups:?}");
    assert_eq!(seen.len(), total, "every queue message delivered");
    per_member.chunks(2).map(|c| c.iter().sum()).collect()
}

/// Requests from every node to a responder on every node.
async fn every_pair_request_reply(cs: &[Client], tag: &str) {
    let mut handles = Vec::new();
    let mut services = Vec::new();
    for (j, c) in cs.iter().enumerate() {
        let mut sub = c.subscribe(format!("{tag}.svc{j}")).await.unwrap();
        let c2 = c.clone();
        services.push(format!("{tag}.svc{j}"));
        handles.push(tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if let Some(reply) = m.reply {
                    let mut body = format!("node{j}:").into_bytes();
                    body.extend_from_slice(&m.payload);
                    c2.publish(reply, body.into()).await.unwrap();
                }
            }
        }));
    }
    for p in cs {
        for s in cs {
            await_interest(p, s).await;
        }
    }
    for (i, p) in cs.iter().enumerate() {
        for (j, svc) in services.iter().enumerate() {
            let r = timeout(WAIT, p.request(svc.clone(), format!("from{i}").into()))
                .await
                .expect("request timed out")
                .unwrap_or_else(|e| panic!("request {i}->{j}: {e}"));
            assert_eq!(r.payload, format!("node{j}:from{i}").as_bytes());
        }
    }
    for h in handles {
        h.abort();
    }
}

// ---- Canopy clusters ---------------------------------------------------------

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn canopy_three_nodes_pub_sub_wildcards_headers_requests(canopy: Impl) {
    rt().block_on(async {
        let nodes = cluster(&[canopy; 3]);
        let cs = clients(&nodes).await;
        await_mesh(&cs).await;
        every_pair_pub_sub(&cs, "plain").await;

        // Wildcards on node 2, publishes on node 0.
        let mut star = cs[2].subscribe("w.*.x").await.unwrap();
        let mut tail = cs[2].subscribe("w.>").await.unwrap();
        await_interest(&cs[0], &cs[2]).await;
        for s in ["w.a.x", "w.b.y", "w.c"] {
            cs[0].publish(s, s.into()).await.unwrap();
        }
        sync(&cs[0]).await;
        assert_eq!(next(&mut star).await.subject.as_str(), "w.a.x");
        assert_no_more(&mut star, "w.*.x").await;
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(next(&mut tail).await.subject.to_string());
        }
        assert_eq!(got, ["w.a.x", "w.b.y", "w.c"]);
        assert_no_more(&mut tail, "w.>").await;

        // Headers cross the route.
        let mut h = cs[1].subscribe("hdr").await.unwrap();
        await_interest(&cs[2], &cs[1]).await;
        let mut headers = HeaderMap::new();
        headers.insert("X-Trace", "abc");
        cs[2]
            .publish_with_headers("hdr", headers, "body".into())
            .await
            .unwrap();
        let m = next(&mut h).await;
        assert_eq!(m.payload, "body");
        assert_eq!(
            m.headers
                .as_ref()
                .and_then(|h| h.get("X-Trace"))
                .map(|v| v.as_str()),
            Some("abc")
        );

        every_pair_request_reply(&cs, "rr").await;

        // No responders anywhere: the requester's own server answers 503.
        let err = timeout(WAIT, cs[0].request("nobody.home", Bytes::new()))
            .await
            .expect("request timed out")
            .expect_err("no responders");
        assert_eq!(err.kind(), RequestErrorKind::NoResponders);
    });
}

fn canopy_queue_group_exactly_once_over_10000_messages(canopy: Impl) {
    rt().block_on(async {
        let nodes = cluster(&[canopy; 3]);
        let cs = clients(&nodes).await;
        await_mesh(&cs).await;
        let per_node = queue_exactly_once(&cs, "jobs", 3334).await;
        assert_eq!(per_node.iter().sum::<usize>(), 3 * 3334);
        // Local members are preferred: each node serves its own publishes.
        for (i, n) in per_node.iter().enumerate() {
            assert_eq!(*n, 3334, "node {i} served its own publisher");
        }
        // With members only on node 1, publishes on 0 and 2 all reach them.
        let mut only = cs[1].queue_subscribe("solo", "g".into()).await.unwrap();
        await_interest(&cs[0], &cs[1]).await;
        await_interest(&cs[2], &cs[1]).await;
        for k in 0..500 {
            cs[k % 3]
                .publish("solo", format!("{k}").into())
                .await
                .unwrap();
        }
        for c in &cs {
            sync(c).await;
        }
        for _ in 0..500 {
            next(&mut only).await;
        }
        assert_no_more(&mut only, "solo").await;
    });
}

fn canopy_restarted_node_gets_its_interest_back(canopy: Impl) {
    rt().block_on(async {
        let mut nodes = cluster(&[canopy; 3]);
        let cs = clients(&nodes).await;
        await_mesh(&cs).await;
        let mut on0 = cs[0].subscribe("restart.>").await.unwrap();
        drop(cs);
        nodes[2].restart();
        // The restarted node learns node 0's interest from the snapshot
        // sent when the route comes back; node 0 forgets the old node-2
        // interest at once when the route closed.
        let c0 = connect(&nodes[0].url()).await;
        let c2 = connect(&nodes[2].url()).await;
        let mut on2 = c2.subscribe("restart.>").await.unwrap();
        await_interest(&c2, &c0).await;
        await_interest(&c0, &c2).await;
        c2.publish("restart.a", "from2".into()).await.unwrap();
        c0.publish("restart.b", "from0".into()).await.unwrap();
        sync(&c2).await;
        sync(&c0).await;
        let got: Vec<Bytes> = vec![next(&mut on0).await.payload, next(&mut on0).await.payload];
        assert!(got.contains(&Bytes::from("from2")) && got.contains(&Bytes::from("from0")));
        let got2: Vec<Bytes> = vec![next(&mut on2).await.payload, next(&mut on2).await.payload];
        assert!(got2.contains(&Bytes::from("from2")) && got2.contains(&Bytes::from("from0")));
        assert_no_more(&mut on0, "node 0").await;
        assert_no_more(&mut on2, "node 2").await;
    });
}

// ---- mixed clusters with nats-server 2.15.1 ----------------------------------

async fn mixed(imps: &[Impl]) {
    let nodes = cluster(imps);
    let cs = clients(&nodes).await;
    await_mesh(&cs).await;
    every_pair_pub_sub(&cs, "mixed").await;
    let per_node = queue_exactly_once(&cs, "mixed.jobs", 300).await;
    assert_eq!(per_node.iter().sum::<usize>(), 900);
    every_pair_request_reply(&cs, "mixed.rr").await;
}

fn mixed_one_canopy_two_nats_servers(canopy: Impl) {
    rt().block_on(mixed(&[Impl::NatsServer, canopy, Impl::NatsServer]));
}

fn mixed_two_canopy_one_nats_server(canopy: Impl) {
    rt().block_on(mixed(&[canopy, Impl::NatsServer, canopy]));
}

fn mixed_canopy_seed_node_with_nats_servers_joining(canopy: Impl) {
    rt().block_on(mixed(&[canopy, Impl::NatsServer, Impl::NatsServer]));
}

/// Canopy on tokio, canopy on smol and nats-server in one cluster: pub/sub
/// between every pair exactly once, a queue group gets each message once,
/// request/reply between every pair.
#[test]
fn mixed_tokio_smol_and_nats_server() {
    rt().block_on(mixed(&[Impl::Canopy, Impl::CanopySmol, Impl::NatsServer]));
}

/// A Canopy node told only of B joins a running nats-server cluster A-B and
/// learns of A by gossip: a message from A reaches C directly (one hop).
fn canopy_joins_running_nats_cluster_through_gossip(canopy: Impl) {
    rt().block_on(async {
        let a_route = free_port();
        let a = Node::start(Impl::NatsServer, "A", free_port(), a_route, &[]);
        let b_route = free_port();
        let b = Node::start(Impl::NatsServer, "B", free_port(), b_route, &[a_route]);
        let ca = connect(&a.url()).await;
        let cb = connect(&b.url()).await;
        await_interest(&ca, &cb).await;
        await_interest(&cb, &ca).await;
        let c = Node::start(canopy, "C", free_port(), free_port(), &[b_route]);
        let cc = connect(&c.url()).await;
        // A -> C and C -> A can only work over a direct route.
        await_interest(&ca, &cc).await;
        await_interest(&cc, &ca).await;
        let mut on_c = cc.subscribe("gossip.>").await.unwrap();
        let mut on_a = ca.subscribe("gossip.>").await.unwrap();
        await_interest(&ca, &cc).await;
        await_interest(&cc, &ca).await;
        ca.publish("gossip.a", "a".into()).await.unwrap();
        cc.publish("gossip.c", "c".into()).await.unwrap();
        sync(&ca).await;
        sync(&cc).await;
        let mut got_c = vec![next(&mut on_c).await.payload, next(&mut on_c).await.payload];
        let mut got_a = vec![next(&mut on_a).await.payload, next(&mut on_a).await.payload];
        got_c.sort();
        got_a.sort();
        assert_eq!(got_c, [Bytes::from("a"), Bytes::from("c")]);
        assert_eq!(got_a, [Bytes::from("a"), Bytes::from("c")]);
        assert_no_more(&mut on_c, "C").await;
        assert_no_more(&mut on_a, "A").await;
        // The whole mesh, with the client URLs of all three servers.
        every_pair_pub_sub(&[ca.clone(), cb.clone(), cc.clone()], "joined").await;
        let fresh = connect(&c.url()).await;
        let urls = fresh.server_info().connect_urls;
        assert_eq!(urls.len(), 3, "C's clients learn every server: {urls:?}");
    });
}

// ---- authorization and cluster names -------------------------------------------

fn cluster_config(name: &str, route_port: u16, creds: &str, routes: &[String]) -> String {
    let routes: Vec<String> = routes.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "cluster {{\n  name: {name}\n  listen: \"127.0.0.1:{route_port}\"\n  \
         authorization {{ {creds} }}\n  routes: [{}]\n}}\n",
        routes.join(", ")
    )
}

/// Route ports that require credentials, and routes that present them in
/// their URL, across Canopy and nats-server; a wrong password and a
/// foreign cluster name are refused with the reference's texts.
fn route_credentials_and_cluster_names_across_implementations(canopy: Impl) {
    rt().block_on(async {
        let creds = "user: ruser, password: T0pS3cr3t";
        let (ra, rb) = (free_port(), free_port());
        let a = ServerBuilder::new(Impl::NatsServer)
            .config(&cluster_config("auth", ra, creds, &[]))
            .start();
        let good = format!("nats-route://ruser:T0pS3cr3t@127.0.0.1:{ra}");
        let b = ServerBuilder::new(canopy)
            .config(&cluster_config(
                "auth",
                rb,
                creds,
                std::slice::from_ref(&good),
            ))
            .start();
        let (ca, cb) = (connect(&a.url()).await, connect(&b.url()).await);
        await_interest(&ca, &cb).await;
        await_interest(&cb, &ca).await;

        // nats-server dials Canopy with the right credentials too.
        let good_b = format!("nats-route://ruser:T0pS3cr3t@127.0.0.1:{rb}");
        let c = ServerBuilder::new(Impl::NatsServer)
            .config(&cluster_config(
                "auth",
                free_port(),
                creds,
                std::slice::from_ref(&good_b),
            ))
            .start();
        let cc = connect(&c.url()).await;
        await_interest(&cc, &cb).await;
        await_interest(&cb, &cc).await;

        // A wrong password: nats-server refuses Canopy, Canopy refuses
        // nats-server, with `Authorization Violation`.
        let bad_a = format!("nats-route://ruser:wrong@127.0.0.1:{ra}");
        let d = ServerBuilder::new(canopy)
            .config(&cluster_config("auth", free_port(), creds, &[bad_a]))
            .start();
        d.wait_for_log("Route Error 'Authorization Violation'", MESH);
        let bad_b = format!("nats-route://ruser:wrong@127.0.0.1:{rb}");
        let e = ServerBuilder::new(Impl::NatsServer)
            .config(&cluster_config("auth", free_port(), creds, &[bad_b]))
            .start();
        e.wait_for_log("Authorization Violation", MESH);

        // A foreign cluster name, both ways: the acceptor refuses with
        // nats-server's text, the dialer closes on the acceptor's INFO.
        let f = ServerBuilder::new(canopy)
            .config(&cluster_config(
                "other",
                free_port(),
                creds,
                std::slice::from_ref(&good),
            ))
            .start();
        f.wait_for_log("Router connection closed: Cluster Name Conflict", MESH);
        a.wait_for_log("Cluster Name Conflict", MESH);
        let g = ServerBuilder::new(Impl::NatsServer)
            .config(&cluster_config("other", free_port(), creds, &[good_b]))
            .start();
        g.wait_for_log("Cluster Name Conflict", MESH);
        b.wait_for_log(
            "Rejecting connection, cluster name \"other\" does not match \"auth\"",
            MESH,
        );
        // The refused servers never joined: A and B still see only each
        // other and C.
        let fresh = connect(&b.url()).await;
        let mut urls = fresh.server_info().connect_urls;
        urls.sort();
        let mut want = vec![a.addr(), b.addr(), c.addr()];
        want.sort();
        assert_eq!(urls, want);
    });
}

/// Connects as `user` (whose password is its name).
/// One client of `user` (whose password is its name) on each server.
async fn logins(user: &str, servers: &[Server]) -> Vec<Client> {
    let mut clients = Vec::new();
    for server in servers {
        let connect = async_nats::ConnectOptions::with_user_and_password(user.into(), user.into())
            .connect(server.url());
        clients.push(
            timeout(WAIT, connect)
                .await
                .expect("connect timed out")
                .expect("connect"),
        );
    }
    clients
}

/// Accounts stay apart across routes: interest and messages carry the
/// account, in a mixed cluster.
fn accounts_stay_apart_across_a_mixed_cluster(canopy: Impl) {
    rt().block_on(async {
        let accounts = "accounts {\n  A: { users: [ {user: a, password: a} ] }\n  \
                        B: { users: [ {user: b, password: b} ] }\n}\n";
        let servers = config_cluster(&[canopy, Impl::NatsServer, canopy], accounts, "acc");
        let (a, b) = (logins("a", &servers).await, logins("b", &servers).await);
        let mut a_subs = Vec::new();
        let mut b_subs = Vec::new();
        for i in 0..servers.len() {
            a_subs.push(a[i].subscribe("acc.x").await.unwrap());
            b_subs.push(b[i].subscribe("acc.x").await.unwrap());
        }
        for p in 0..servers.len() {
            for s in 0..servers.len() {
                await_interest(&a[p], &a[s]).await;
                await_interest(&b[p], &b[s]).await;
            }
        }
        for (i, c) in a.iter().enumerate() {
            c.publish("acc.x", format!("a{i}").into()).await.unwrap();
            sync(c).await;
        }
        for (j, sub) in a_subs.iter_mut().enumerate() {
            let mut got = Vec::new();
            for _ in 0..servers.len() {
                got.push(next(sub).await.payload);
            }
            got.sort();
            assert_eq!(got, ["a0", "a1", "a2"].map(Bytes::from), "A on node {j}");
            assert_no_more(sub, "account A").await;
        }
        for (j, sub) in b_subs.iter_mut().enumerate() {
            assert_no_more(sub, &format!("account B on node {j}")).await;
        }
    });
}

/// Service and stream imports between accounts work across the cluster:
/// a requester in the importing account reaches a responder of the
/// exporting account on any server (the reply finds its way back to the
/// requester's server), and a stream published on any server reaches
/// importers on every server exactly once.
fn imports_between_accounts_work_across_a_mixed_cluster(canopy: Impl) {
    rt().block_on(async {
        let accounts = "accounts {\n  \
            A: { users: [ {user: a, password: a} ], exports: [ {service: \"svc.>\"}, {stream: \"feed.>\"} ] }\n  \
            B: { users: [ {user: b, password: b} ], imports: [ \
                 {service: {account: A, subject: \"svc.>\"}}, {stream: {account: A, subject: \"feed.>\"}} ] }\n}\n";
        let servers = config_cluster(
            &[canopy, Impl::NatsServer, canopy],
            accounts,
            "imp",
        );
        let (a, b) = (logins("a", &servers).await, logins("b", &servers).await);
        // A responder of account A on every server.
        let mut handles = Vec::new();
        for (k, c) in a.iter().enumerate() {
            let mut sub = c.subscribe(format!("svc.n{k}")).await.unwrap();
            let c2 = c.clone();
            handles.push(tokio::spawn(async move {
                while let Some(m) = sub.next().await {
                    if let Some(reply) = m.reply {
                        let body = format!("n{k}:{}", String::from_utf8_lossy(&m.payload));
                        c2.publish(reply, body.into()).await.unwrap();
                    }
                }
            }));
        }
        for p in 0..servers.len() {
            for s in 0..servers.len() {
                await_interest(&a[p], &a[s]).await;
            }
        }
        for (j, requester) in b.iter().enumerate() {
            for k in 0..servers.len() {
                let r = timeout(WAIT, requester.request(format!("svc.n{k}"), format!("b{j}").into()))
                    .await
                    .unwrap_or_else(|_| panic!("request from {j} to {k} timed out"))
                    .unwrap_or_else(|e| panic!("request from {j} to {k}: {e}"));
                assert_eq!(r.payload, format!("n{k}:b{j}").as_bytes(), "{j} -> {k}");
            }
        }
        for h in handles {
            h.abort();
        }

        // Streams: importers in B on every server.
        let mut feeds = Vec::new();
        for c in &b {
            feeds.push(c.subscribe("feed.>").await.unwrap());
        }
        for c in &b {
            sync(c).await;
        }
        // The importers' interest may travel as shadow interest: probe
        // until every importer hears every server.
        for (k, publisher) in a.iter().enumerate() {
            for (j, feed) in feeds.iter_mut().enumerate() {
                let deadline = tokio::time::Instant::now() + MESH;
                loop {
                    publisher.publish(format!("feed.probe{k}"), Bytes::new()).await.unwrap();
                    if let Ok(Some(_)) = timeout(Duration::from_millis(50), feed.next()).await {
                        break;
                    }
                    assert!(tokio::time::Instant::now() < deadline, "stream {k} -> {j}");
                }
            }
        }
        for c in a.iter().chain(b.iter()) {
            sync(c).await;
        }
        // Drain probes still in flight.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for feed in feeds.iter_mut() {
            while let Ok(Some(_)) = timeout(Duration::from_millis(50), feed.next()).await {}
        }
        for (k, publisher) in a.iter().enumerate() {
            for n in 0..10 {
                publisher
                    .publish("feed.data", format!("{k}:{n}").into())
                    .await
                    .unwrap();
            }
            sync(publisher).await;
        }
        for (j, feed) in feeds.iter_mut().enumerate() {
            let mut got = Vec::new();
            for _ in 0..30 {
                let m = next(feed).await;
                assert_eq!(m.subject.as_str(), "feed.data", "importer on {j}");
                got.push(String::from_utf8_lossy(&m.payload).into_owned());
            }
            got.sort();
            got.dedup();
            assert_eq!(got.len(), 30, "importer on {j}: duplicates");
            assert_no_more(feed, &format!("importer on {j}")).await;
        }
    });
}

/// Reads lines from a raw client until one starts with `prefix`.
fn read_until(r: &mut std::io::BufReader<std::net::TcpStream>, prefix: &str) -> String {
    use std::io::BufRead;
    let deadline = std::time::Instant::now() + MESH;
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(n) if n > 0 && line.starts_with(prefix) => return line,
            Ok(_) | Err(_) => {}
        }
        assert!(std::time::Instant::now() < deadline, "no {prefix:?} line");
    }
}

fn connect_urls(info_line: &str) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(info_line.trim().strip_prefix("INFO ").expect("INFO")).expect("JSON");
    let mut urls: Vec<String> = json["connect_urls"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    urls.sort();
    urls
}

/// A protocol-1 client is told, by asynchronous INFO, of each server that
/// joins the cluster and of each that leaves (both implementations hold
/// the client; the joining server is the other one).
fn async_info_as_servers_join_and_leave(imp: Impl) {
    use std::io::Write;
    let ra = free_port();
    let a = Node::start(imp, "A", free_port(), ra, &[]);
    let mut s = a.server.connect();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
    let first = read_until(&mut r, "INFO ");
    assert!(connect_urls(&first).is_empty(), "{imp}: alone: {first}");
    s.write_all(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
        .unwrap();
    read_until(&mut r, "PONG");
    // The INFO that follows the first PONG (both servers send it).
    let after_pong = read_until(&mut r, "INFO ");
    assert!(
        after_pong.contains("\"connect_info\":true"),
        "{imp}: {after_pong}"
    );
    let other = if imp.is_canopy() {
        Impl::NatsServer
    } else {
        Impl::Canopy
    };
    let mut b = Node::start(other, "B", free_port(), free_port(), &[ra]);
    let joined = read_until(&mut r, "INFO ");
    let mut want = vec![a.server.addr(), b.server.addr()];
    want.sort();
    assert_eq!(connect_urls(&joined), want, "{imp}: after B joined");
    b.server.stop();
    let left = read_until(&mut r, "INFO ");
    assert_eq!(
        connect_urls(&left),
        vec![a.server.addr()],
        "{imp}: after B left"
    );
}

mod async_info {
    use super::*;
    #[test]
    fn canopy_holds_the_client() {
        async_info_as_servers_join_and_leave(Impl::Canopy);
    }
    #[test]
    fn canopy_smol_holds_the_client() {
        async_info_as_servers_join_and_leave(Impl::CanopySmol);
    }
    #[test]
    fn nats_server_holds_the_client() {
        async_info_as_servers_join_and_leave(Impl::NatsServer);
    }
}

/// Servers without a cluster name generate one and agree with their peers
/// (a generated name gives way to a configured one, or to the larger
/// generated one), in both directions and across implementations.
fn generated_cluster_names_agree(canopy: Impl) {
    rt().block_on(async {
        let start = |imp: Impl, name: Option<&str>, route_port: u16, routes: &[u16]| {
            let mut args = vec![
                "--cluster".to_string(),
                format!("nats://127.0.0.1:{route_port}"),
            ];
            if let Some(n) = name {
                args.push("--cluster_name".into());
                args.push(n.into());
            }
            if let Some(r) = routes.first() {
                args.push("--routes".into());
                args.push(format!("nats-route://127.0.0.1:{r}"));
            }
            ServerBuilder::new(imp).args(args).start()
        };
        for (first, second, name) in [
            (canopy, Impl::NatsServer, Some("named")),
            (Impl::NatsServer, canopy, None),
            (canopy, canopy, None),
        ] {
            let r1 = free_port();
            let s1 = start(first, None, r1, &[]);
            let s2 = start(second, name, free_port(), &[r1]);
            let (c1, c2) = (connect(&s1.url()).await, connect(&s2.url()).await);
            await_interest(&c1, &c2).await;
            await_interest(&c2, &c1).await;
            let n1 = connect(&s1.url()).await.server_info().cluster;
            let n2 = connect(&s2.url()).await.server_info().cluster;
            assert!(n1.is_some(), "{first}: INFO names the cluster");
            assert_eq!(n1, n2, "{first} then {second}: one name");
            if let Some(n) = name {
                assert_eq!(n1.as_deref(), Some(n), "the configured name wins");
            }
        }
    });
}

/// The trace events that arrive on `tracer` within `WAIT` of each other,
/// by the name of the server that sent each, until `n` have arrived.
async fn trace_events(tracer: &mut Subscriber, n: usize) -> BTreeMap<String, serde_json::Value> {
    let mut by_server = BTreeMap::new();
    while by_server.len() < n {
        let m = next(tracer).await;
        let e: serde_json::Value = serde_json::from_slice(&m.payload).expect("event JSON");
        let name = e["server"]["name"].as_str().unwrap_or_default().to_string();
        assert!(by_server.insert(name, e).is_none(), "one event per server");
    }
    by_server
}

/// Message tracing across a two-node cluster of `imp` and nats-server,
/// published on each node in turn: the publisher's server reports the
/// client ingress and the route egress with hop `1`; the other reports the
/// route ingress (with the hop header it got) and the delivery; the
/// subscriber gets the message with `Nats-Trace-Hop: 1` added. With
/// `Nats-Trace-Only` both servers report and nobody gets the message.
/// (`nats_server_with_nats_server` runs it on two nats-servers: the
/// expectations are the reference's.)
fn traced_message_across_a_mixed_cluster(imp: Impl) {
    rt().block_on(async {
        let nodes = cluster(&[imp, Impl::NatsServer]);
        let cs = clients(&nodes).await;
        await_mesh(&cs).await;
        for (p, s) in [(0, 1), (1, 0)] {
            let (pub_name, sub_name) = (&nodes[p].name, &nodes[s].name);
            let what = format!("published on {pub_name}");
            let mut tracer = cs[p].subscribe("trace.dest").await.expect("tracer");
            let mut sub = cs[s].subscribe("traced.foo").await.expect("sub");
            await_interest(&cs[p], &cs[s]).await;
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Trace-Dest", "trace.dest");
            cs[p]
                .publish_with_headers("traced.foo", headers.clone(), "hello".into())
                .await
                .expect("publish");
            let m = next(&mut sub).await;
            let h = m.headers.expect("headers delivered");
            assert_eq!(h.get("Nats-Trace-Dest").map(|v| v.as_str()), Some("trace.dest"), "{what}");
            assert_eq!(h.get("Nats-Trace-Hop").map(|v| v.as_str()), Some("1"), "{what}");
            let events = trace_events(&mut tracer, 2).await;
            let first = &events[pub_name.as_str()];
            assert_eq!(first["hops"], 1, "{what}: {first}");
            assert_eq!(first["request"]["msgsize"], 46, "{what}: {first}");
            let ev = first["events"].as_array().expect("events");
            assert_eq!((ev[0]["type"].as_str(), ev[0]["kind"].as_u64()), (Some("in"), Some(0)), "{what}: {first}");
            assert_eq!(ev[0]["subj"], "traced.foo");
            assert_eq!(ev.len(), 2, "{what}: {first}");
            assert_eq!((ev[1]["type"].as_str(), ev[1]["kind"].as_u64()), (Some("eg"), Some(1)), "{what}: {first}");
            assert_eq!(ev[1]["name"].as_str(), Some(sub_name.as_str()), "{what}: {first}");
            assert_eq!(ev[1]["hop"], "1", "{what}: {first}");
            let second = &events[sub_name.as_str()];
            assert!(second.get("hops").is_none(), "{what}: {second}");
            assert_eq!(
                second["request"],
                serde_json::json!({"header":{"Nats-Trace-Dest":["trace.dest"],"Nats-Trace-Hop":["1"]},"msgsize":65}),
                "{what}"
            );
            let ev = second["events"].as_array().expect("events");
            assert_eq!((ev[0]["kind"].as_u64(), ev[0]["name"].as_str()), (Some(1), Some(pub_name.as_str())), "{what}: {second}");
            assert_eq!((ev[1]["type"].as_str(), ev[1]["kind"].as_u64(), ev[1]["sub"].as_str()), (Some("eg"), Some(0), Some("traced.foo")), "{what}: {second}");

            // Trace-only: both servers report, nobody gets it.
            headers.insert("Nats-Trace-Only", "true");
            cs[p]
                .publish_with_headers("traced.foo", headers, "hello".into())
                .await
                .expect("publish");
            let events = trace_events(&mut tracer, 2).await;
            let second = &events[sub_name.as_str()];
            assert_eq!(second["request"]["msgsize"], 88, "{what}: {second}");
            assert_eq!(second["events"][1]["sub"], "traced.foo", "{what}: {second}");
            assert_no_more(&mut sub, &format!("{what}: trace-only")).await;
            sub.unsubscribe().await.expect("unsubscribe");
            tracer.unsubscribe().await.expect("unsubscribe");
            sync(&cs[p]).await;
            sync(&cs[s]).await;
        }
    });
}

mod msg_trace {
    use super::*;
    #[test]
    fn canopy_with_nats_server() {
        traced_message_across_a_mixed_cluster(Impl::Canopy);
    }
    #[test]
    fn canopy_smol_with_nats_server() {
        traced_message_across_a_mixed_cluster(Impl::CanopySmol);
    }
    #[test]
    fn nats_server_with_nats_server() {
        traced_message_across_a_mixed_cluster(Impl::NatsServer);
    }
}

canopy_tests::per_canopy_runtime! {
    canopy_three_nodes_pub_sub_wildcards_headers_requests,
    canopy_queue_group_exactly_once_over_10000_messages,
    canopy_restarted_node_gets_its_interest_back,
    mixed_one_canopy_two_nats_servers,
    mixed_two_canopy_one_nats_server,
    mixed_canopy_seed_node_with_nats_servers_joining,
    canopy_joins_running_nats_cluster_through_gossip,
    route_credentials_and_cluster_names_across_implementations,
    accounts_stay_apart_across_a_mixed_cluster,
    imports_between_accounts_work_across_a_mixed_cluster,
    generated_cluster_names_agree,
}
