//! Gateways (super-clusters) over real sockets with async-nats clients,
//! each server either nats-server 2.15.1 or canopy.
//!
//! * `seed_mesh`: the gateway page of the NATS docs: three one-server
//!   clusters A, B, C, every config with the same list of all three
//!   gateways (self entry included); every publish reaches every cluster
//!   exactly once.
//! * `implicit_mesh`: A and C list only B; they find each other by gossip,
//!   and keep their direct link after B is gone.
//! * `two_clusters_pub_sub`, `two_clusters_queue`,
//!   `two_clusters_request_reply`: two 2-node clusters (routes inside,
//!   gateways between): plain delivery, queue groups that prefer the
//!   publisher's cluster, request/reply both ways and no-responders.
//! * `leaf_behind_gateway`: a leaf attached to cluster A talks to cluster B
//!   through A's gateway (pub/sub and request/reply both ways).
//! * `restart`: B is killed and started again on the same ports; the link
//!   re-forms both ways.
//! * `reject_unknown_cluster`, `gateway_auth`: a gateway that is refused
//!   never carries a message, while one that is accepted (the control)
//!   does.
//!
//! Every scenario runs once per implementation mix, in a module named
//! after the scenario: `all_nats_server` is the reference, the others name
//! which server (or cluster) is canopy, e.g. `a_canopy_bc_nats_server`.
//!
//! Every listener (client, cluster, gateway, leafnodes) sets
//! `host: 127.0.0.1`; every server has a `server_name` of its own, since
//! nats-server refuses duplicate names across gateways. A link is never
//! taken as up from a log line: it is up when a probe published on one side
//! reaches a subscriber on the other. Every count is exact.

mod common;

use common::{connect, reaches, rt, sync};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::{Client, HeaderMap, Message, RequestErrorKind, Subscriber};
use bytes::Bytes;
use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use futures::StreamExt;
use tokio::time::{sleep, timeout};

/// Upper bound on any single wait for a message or reply.
const WAIT: Duration = Duration::from_secs(5);
/// How long a gateway link (or a route, or a leaf link) may take to form.
/// nats-server dials its explicit gateways 1 s after start and retries
/// every second or so; the bound stays short so that a canopy without
/// gateways fails each test quickly.
const LINK: Duration = Duration::from_secs(10);
/// How long "nothing more arrives" is watched for after a round.
const QUIET: Duration = Duration::from_millis(500);
/// How long a link that must never form is watched for.
const NEVER: Duration = Duration::from_secs(3);
/// Messages each publisher sends in a round.
const N: usize = 20;

// ---- servers -----------------------------------------------------------------

fn start(imp: Impl, config: &str) -> Server {
    ServerBuilder::new(imp).config(config).start()
}

fn url(port: u16) -> String {
    format!("nats://127.0.0.1:{port}")
}

/// A `gateway` block named `name`, listening on 127.0.0.1:`port`, with
/// `extra` (whole lines) and one `gateways` entry per `(name, urls)`.
fn gateway(name: &str, port: u16, extra: &str, remotes: &[(&str, Vec<String>)]) -> String {
    let entries: Vec<String> = remotes
        .iter()
        .map(|(n, urls)| {
            if let [one] = &urls[..] {
                format!("    {{name: {n}, url: \"{one}\"}},")
            } else {
                let quoted: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
                format!("    {{name: {n}, urls: [{}]}},", quoted.join(", "))
            }
        })
        .collect();
    format!(
        "gateway {{\n  name: {name}\n  host: 127.0.0.1\n  port: {port}\n{extra}  gateways: [\n{}\n  ]\n}}\n",
        entries.join("\n")
    )
}

/// `(name, [nats://127.0.0.1:port])` for each gateway.
fn entries<'a>(names: &[&'a str], ports: &[u16]) -> Vec<(&'a str, Vec<String>)> {
    names
        .iter()
        .zip(ports)
        .map(|(n, p)| (*n, vec![url(*p)]))
        .collect()
}

/// "A canopy, B nats-server, ..."
fn mix(names: &[&str], imps: &[Impl]) -> String {
    names
        .iter()
        .zip(imps)
        .map(|(n, i)| format!("{n} {i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last `n` lines of a server's log, without per-message and
/// PING/PONG trace lines.
fn tail(srv: &Server, n: usize) -> String {
    let log = srv.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            ![
                "MSG_PAYLOAD",
                "[PUB ",
                "[HPUB ",
                "[MSG ",
                "[HMSG ",
                "[RMSG ",
                "[LMSG ",
                "PING]",
                "PONG]",
            ]
            .iter()
            .any(|x| l.contains(x))
        })
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last lines of every server's log, named.
fn logs(servers: &[(&str, &Server)]) -> String {
    let mut s = String::new();
    for (name, srv) in servers {
        s.push_str(&format!(
            "--- {name} ({}) log:\n{}\n",
            srv.imp(),
            tail(srv, 40)
        ));
    }
    s
}

// ---- clients -----------------------------------------------------------------

/// Every ordered pair of distinct indices below `n`.
fn all_pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|p| (0..n).filter(move |&s| s != p).map(move |s| (p, s)))
        .collect()
}

/// Probes every `(publisher, subscriber)` pair at once; the pairs that did
/// not reach within `within`, as "P -> S".
async fn unreached(
    names: &[&str],
    cs: &[&Client],
    pairs: &[(usize, usize)],
    within: Duration,
) -> Vec<String> {
    let results =
        futures::future::join_all(pairs.iter().map(|&(p, s)| reaches(cs[p], cs[s], within))).await;
    pairs
        .iter()
        .zip(results)
        .filter(|(_, ok)| !ok)
        .map(|(&(p, s), _)| format!("{} -> {}", names[p], names[s]))
        .collect()
}

/// Asserts every pair reaches within [`LINK`].
async fn await_links(
    label: &str,
    names: &[&str],
    cs: &[&Client],
    pairs: &[(usize, usize)],
    logs: &dyn Fn() -> String,
) {
    let missing = unreached(names, cs, pairs, LINK).await;
    assert!(
        missing.is_empty(),
        "{label}: no delivery within {LINK:?} for {}\n{}",
        missing.join(", "),
        logs()
    );
}

/// Counts `m` if its subject starts with `prefix` (a `>` subscriber also
/// sees probes and barriers).
fn record(m: &Message, prefix: &str, got: &mut BTreeMap<String, usize>) {
    if m.subject.as_str().starts_with(prefix) {
        *got.entry(String::from_utf8_lossy(&m.payload).into_owned())
            .or_default() += 1;
    }
}

/// Receives until every payload in `want` arrived (or nothing came for
/// [`WAIT`]).
async fn gather(
    sub: &mut Subscriber,
    prefix: &str,
    want: &BTreeSet<String>,
    got: &mut BTreeMap<String, usize>,
) {
    while !want.iter().all(|w| got.contains_key(w)) {
        match timeout(WAIT, sub.next()).await {
            Ok(Some(m)) => record(&m, prefix, got),
            _ => break,
        }
    }
}

/// Counts what is already buffered (at most 10 000, in case of a storm).
async fn drain(sub: &mut Subscriber, prefix: &str, got: &mut BTreeMap<String, usize>) {
    for _ in 0..10_000 {
        match timeout(Duration::from_millis(1), sub.next()).await {
            Ok(Some(m)) => record(&m, prefix, got),
            _ => break,
        }
    }
}

/// One subscriber's problems: a payload of `want` missing, any payload
/// seen more than once, anything outside `want`.
fn check(name: &str, got: &BTreeMap<String, usize>, want: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let missing: Vec<&String> = want.iter().filter(|w| !got.contains_key(*w)).collect();
    if !missing.is_empty() {
        out.push(format!(
            "{name}: {} of {} missing, e.g. {:?}",
            missing.len(),
            want.len(),
            &missing[..missing.len().min(5)]
        ));
    }
    let dups: Vec<(&String, &usize)> = got.iter().filter(|(_, &n)| n > 1).collect();
    if !dups.is_empty() {
        out.push(format!(
            "{name}: {} payloads delivered more than once, e.g. {:?}",
            dups.len(),
            &dups[..dups.len().min(5)]
        ));
    }
    let strays: Vec<&String> = got.keys().filter(|k| !want.contains(*k)).collect();
    if !strays.is_empty() {
        out.push(format!(
            "{name}: {} unexpected payloads, e.g. {:?}",
            strays.len(),
            &strays[..strays.len().min(5)]
        ));
    }
    out
}

/// `n` payloads `{tag}:{from}:{k}`.
fn payloads(tag: &str, from: &str, n: usize) -> Vec<String> {
    (0..n).map(|k| format!("{tag}:{from}:{k}")).collect()
}

/// Each subscriber receives what it is owed (`wants[i]`, counting only
/// subjects under `prefix`), then nothing more for [`QUIET`]; the problems.
async fn collect(
    prefix: &str,
    subs: &mut [(&str, &mut Subscriber)],
    wants: &[BTreeSet<String>],
) -> Vec<String> {
    let mut got = vec![BTreeMap::new(); subs.len()];
    for ((_, sub), (g, want)) in subs.iter_mut().zip(got.iter_mut().zip(wants)) {
        gather(sub, prefix, want, g).await;
    }
    sleep(QUIET).await;
    let mut problems = Vec::new();
    for ((name, sub), (g, want)) in subs.iter_mut().zip(got.iter_mut().zip(wants)) {
        drain(sub, prefix, g).await;
        problems.extend(check(&format!("subscriber at {name}"), g, want));
    }
    problems
}

/// Every publisher sends [`N`] messages, each on a subject of its own
/// (`{tag}.{from}.{k}`), and every subscriber must get all of them exactly
/// once (its own cluster's too).
async fn exchange(
    label: &str,
    tag: &str,
    pubs: &[(&str, &Client)],
    subs: &mut [(&str, &mut Subscriber)],
    logs: &dyn Fn() -> String,
) {
    let mut all = BTreeSet::new();
    for (name, c) in pubs {
        for (k, p) in payloads(tag, name, N).into_iter().enumerate() {
            c.publish(format!("{tag}.{name}.{k}"), p.clone().into())
                .await
                .expect("publish");
            all.insert(p);
        }
        sync(c).await;
    }
    let wants = vec![all; subs.len()];
    let problems = collect(&format!("{tag}."), subs, &wants).await;
    assert!(
        problems.is_empty(),
        "{label}: round {tag:?} ({N} messages from each of {:?}):\n{}\n{}",
        pubs.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        problems.join("\n"),
        logs()
    );
}

/// A replier answering `answer` on `subject` from a task, until stopped.
struct Replier {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<usize>,
}

impl Replier {
    /// Subscribes (the server has the subscription when this returns) and
    /// starts answering.
    async fn start(c: &Client, subject: &str, answer: &'static str) -> Replier {
        let mut sub = c
            .subscribe(subject.to_string())
            .await
            .expect("replier subscribe");
        sync(c).await;
        let c = c.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut answered = 0;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    m = sub.next() => {
                        let Some(m) = m else { break };
                        if let Some(reply) = m.reply {
                            answered += 1;
                            c.publish(reply, answer.into()).await.expect("reply");
                            c.flush().await.expect("reply flush");
                        }
                    }
                }
            }
            sub.unsubscribe().await.expect("replier unsubscribe");
            sync(&c).await;
            answered
        });
        Replier { stop, task }
    }

    /// Unsubscribes (the server has processed it when this returns) and
    /// returns how many requests were answered.
    async fn stop(self) -> usize {
        let _ = self.stop.send(());
        self.task.await.expect("replier task")
    }
}

/// `count` requests on `subject` from `c`, each answered with `answer`.
async fn requests(
    label: &str,
    c: &Client,
    subject: &str,
    answer: &str,
    count: usize,
    logs: &dyn Fn() -> String,
) {
    for i in 0..count {
        let got = timeout(WAIT, c.request(subject.to_string(), Bytes::new())).await;
        match got {
            Ok(Ok(m)) => assert_eq!(
                m.payload,
                answer,
                "{label}: reply {i} on {subject}\n{}",
                logs()
            ),
            Ok(Err(e)) => panic!("{label}: request {i} on {subject} failed: {e}\n{}", logs()),
            Err(_) => panic!(
                "{label}: request {i} on {subject} timed out after {WAIT:?}\n{}",
                logs()
            ),
        }
    }
}

/// A request on `subject` from `c` gets the no-responders status.
async fn no_responders(label: &str, c: &Client, subject: &str, logs: &dyn Fn() -> String) {
    match timeout(WAIT, c.request(subject.to_string(), Bytes::new())).await {
        Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => {}
        Ok(Err(e)) => panic!(
            "{label}: request on {subject}: want no responders, got error {e}\n{}",
            logs()
        ),
        Ok(Ok(m)) => panic!(
            "{label}: request on {subject}: want no responders, got a reply {:?}\n{}",
            m.payload,
            logs()
        ),
        Err(_) => panic!(
            "{label}: request on {subject}: want no responders, timed out after {WAIT:?}\n{}",
            logs()
        ),
    }
}

// ---- 1: the seed's example -----------------------------------------------------

/// Clusters A, B, C of one server each, every config with the same
/// `gateways` list of all three (self entry included), as on the docs'
/// gateway page. A subscriber on `>` in each cluster gets every cluster's
/// [`N`] publishes exactly once.
fn seed_mesh_exchange(imps: [Impl; 3]) {
    const NAMES: [&str; 3] = ["A", "B", "C"];
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let list = entries(&NAMES, &ports);
    let servers: Vec<Server> = (0..3)
        .map(|i| {
            start(
                imps[i],
                &format!(
                    "server_name: {}\n{}",
                    NAMES[i],
                    gateway(NAMES[i], ports[i], "", &list)
                ),
            )
        })
        .collect();
    let label = format!("seed mesh ({})", mix(&NAMES, &imps));
    let all_logs = || {
        let named: Vec<(&str, &Server)> = NAMES.iter().copied().zip(&servers).collect();
        logs(&named)
    };
    rt().block_on(async {
        let mut cs = Vec::new();
        for s in &servers {
            cs.push(connect(&s.url()).await);
        }
        let mut subs = Vec::new();
        for c in &cs {
            subs.push(c.subscribe(">").await.expect("subscribe >"));
        }
        let refs: Vec<&Client> = cs.iter().collect();
        await_links(&label, &NAMES, &refs, &all_pairs(3), &all_logs).await;
        let pubs: Vec<(&str, &Client)> = NAMES.iter().copied().zip(refs.iter().copied()).collect();
        let mut named: Vec<(&str, &mut Subscriber)> =
            NAMES.iter().copied().zip(subs.iter_mut()).collect();
        exchange(&label, "seed", &pubs, &mut named, &all_logs).await;
    });
}

/// Variants named after A's and B+C's implementations.
mod seed_mesh {
    use super::seed_mesh_exchange;
    use canopy_tests::Impl::{Canopy, CanopySmol, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        seed_mesh_exchange([NatsServer; 3]);
    }
    #[test]
    fn all_canopy() {
        seed_mesh_exchange([Canopy; 3]);
    }
    #[test]
    fn all_canopy_smol() {
        seed_mesh_exchange([CanopySmol; 3]);
    }
    #[test]
    fn a_canopy_bc_nats_server() {
        seed_mesh_exchange([Canopy, NatsServer, NatsServer]);
    }
    #[test]
    fn a_nats_server_bc_canopy() {
        seed_mesh_exchange([NatsServer, Canopy, Canopy]);
    }
}

// ---- 2: implicit mesh ----------------------------------------------------------

/// A and C list only B (and themselves), B lists only itself: B's gossip
/// makes A and C open links to each other. Every publish reaches every
/// cluster exactly once (nothing is relayed through B); then B is killed
/// and A and C still exchange messages over their own link.
fn implicit_mesh_exchange(imps: [Impl; 3]) {
    const NAMES: [&str; 3] = ["A", "B", "C"];
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let lists = [
        entries(&["A", "B"], &[ports[0], ports[1]]),
        entries(&["B"], &[ports[1]]),
        entries(&["B", "C"], &[ports[1], ports[2]]),
    ];
    let mut servers: Vec<Server> = (0..3)
        .map(|i| {
            start(
                imps[i],
                &format!(
                    "server_name: {}\n{}",
                    NAMES[i],
                    gateway(NAMES[i], ports[i], "", &lists[i])
                ),
            )
        })
        .collect();
    let label = format!(
        "implicit mesh, A and C list only B ({})",
        mix(&NAMES, &imps)
    );
    rt().block_on(async {
        let all_logs = || {
            let named: Vec<(&str, &Server)> = NAMES.iter().copied().zip(&servers).collect();
            logs(&named)
        };
        let mut cs = Vec::new();
        for s in &servers {
            cs.push(connect(&s.url()).await);
        }
        let mut subs = Vec::new();
        for c in &cs {
            subs.push(c.subscribe("t.>").await.expect("subscribe"));
        }
        let refs: Vec<&Client> = cs.iter().collect();
        await_links(&label, &NAMES, &refs, &all_pairs(3), &all_logs).await;
        let pubs: Vec<(&str, &Client)> = NAMES.iter().copied().zip(refs.iter().copied()).collect();
        let mut named: Vec<(&str, &mut Subscriber)> =
            NAMES.iter().copied().zip(subs.iter_mut()).collect();
        exchange(&label, "t.mesh", &pubs, &mut named, &all_logs).await;
        drop(named);
        drop(pubs);
        drop(refs);

        // B goes away: A and C keep their direct link.
        let b_sub = subs.remove(1);
        let b_c = cs.remove(1);
        drop(b_sub);
        drop(b_c);
        servers[1].stop();
        let all_logs = || {
            let named: Vec<(&str, &Server)> = NAMES.iter().copied().zip(&servers).collect();
            logs(&named)
        };
        let ac = ["A", "C"];
        let refs: Vec<&Client> = cs.iter().collect();
        let label = format!("{label}, after B was killed");
        await_links(&label, &ac, &refs, &all_pairs(2), &all_logs).await;
        let pubs: Vec<(&str, &Client)> = ac.iter().copied().zip(refs.iter().copied()).collect();
        let mut named: Vec<(&str, &mut Subscriber)> =
            ac.iter().copied().zip(subs.iter_mut()).collect();
        exchange(&label, "t.direct", &pubs, &mut named, &all_logs).await;
    });
}

/// Variants named after B's and A+C's implementations.
mod implicit_mesh {
    use super::implicit_mesh_exchange;
    use canopy_tests::Impl::{Canopy, CanopySmol, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        implicit_mesh_exchange([NatsServer; 3]);
    }
    #[test]
    fn all_canopy() {
        implicit_mesh_exchange([Canopy; 3]);
    }
    #[test]
    fn all_canopy_smol() {
        implicit_mesh_exchange([CanopySmol; 3]);
    }
    #[test]
    fn b_nats_server_ac_canopy() {
        implicit_mesh_exchange([Canopy, NatsServer, Canopy]);
    }
    #[test]
    fn b_canopy_ac_nats_server() {
        implicit_mesh_exchange([NatsServer, Canopy, NatsServer]);
    }
}

// ---- 3: two 2-node clusters ----------------------------------------------------

const FOUR: [&str; 4] = ["A1", "A2", "B1", "B2"];

/// Cluster A (A1, A2, running `a`) and cluster B (B1, B2, running `b`),
/// each routed inside (the second node routes to the first), every server
/// listing both clusters' gateway URLs (`urls: [...]`).
struct TwoClusters {
    label: String,
    servers: Vec<Server>,
}

impl TwoClusters {
    fn start(a: Impl, b: Impl) -> TwoClusters {
        Self::start_each([a, a, b, b])
    }

    /// Each server's implementation, in [`FOUR`]'s order (A1, A2, B1, B2):
    /// a cluster may mix them.
    fn start_each(imps: [Impl; 4]) -> TwoClusters {
        let gw: Vec<u16> = (0..4).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..4).map(|_| free_port()).collect();
        let list = [
            ("A", vec![url(gw[0]), url(gw[1])]),
            ("B", vec![url(gw[2]), url(gw[3])]),
        ];
        let servers = (0..4)
            .map(|i| {
                let (imp, cluster) = (imps[i], if i < 2 { "A" } else { "B" });
                let seed = if i % 2 == 1 {
                    format!(", routes: [\"nats-route://127.0.0.1:{}\"]", routes[i - 1])
                } else {
                    String::new()
                };
                start(
                    imp,
                    &format!(
                        "server_name: {}\ncluster {{ name: {cluster}, host: 127.0.0.1, port: {}{seed} }}\n{}",
                        FOUR[i],
                        routes[i],
                        gateway(cluster, gw[i], "", &list)
                    ),
                )
            })
            .collect();
        TwoClusters {
            label: format!(
                "cluster A (A1 {}, A2 {}), cluster B (B1 {}, B2 {})",
                imps[0], imps[1], imps[2], imps[3]
            ),
            servers,
        }
    }

    fn logs(&self) -> String {
        let named: Vec<(&str, &Server)> = FOUR.iter().copied().zip(&self.servers).collect();
        logs(&named)
    }

    /// One client per server, in [`FOUR`]'s order.
    async fn clients(&self) -> Vec<Client> {
        let mut cs = Vec::new();
        for s in &self.servers {
            cs.push(connect(&s.url()).await);
        }
        cs
    }

    /// Every server reaches every other one (routes and gateways), and
    /// knows the interest registered before this call.
    async fn await_links(&self, cs: &[Client]) {
        let refs: Vec<&Client> = cs.iter().collect();
        await_links(&self.label, &FOUR, &refs, &all_pairs(4), &|| self.logs()).await;
    }
}

/// Subscribers on `t.>` at all four servers; every server publishes [`N`]
/// messages; each subscriber gets all of them exactly once (a message
/// crosses the gateway once and the route on the far side once). Then a
/// message with a header crosses each way with its header.
fn two_clusters_pub_sub_exchange(a: Impl, b: Impl) {
    two_clusters_pub_sub_on(&TwoClusters::start(a, b));
}

/// The same on clusters already started.
fn two_clusters_pub_sub_on(tc: &TwoClusters) {
    rt().block_on(async {
        let cs = tc.clients().await;
        let mut subs = Vec::new();
        for c in &cs {
            subs.push(c.subscribe("t.>").await.expect("subscribe"));
        }
        tc.await_links(&cs).await;
        let pubs: Vec<(&str, &Client)> = FOUR.iter().copied().zip(cs.iter()).collect();
        let mut named: Vec<(&str, &mut Subscriber)> =
            FOUR.iter().copied().zip(subs.iter_mut()).collect();
        exchange(&tc.label, "t.two", &pubs, &mut named, &|| tc.logs()).await;

        // A header survives the gateway, each way: every subscriber gets
        // A2's and B1's header messages once, headers intact.
        for (from, name) in [(1, "A2"), (2, "B1")] {
            let mut h = HeaderMap::new();
            h.insert("X-Gateway-Test", name);
            cs[from]
                .publish_with_headers(format!("t.hdr.{name}"), h, name.into())
                .await
                .unwrap();
            sync(&cs[from]).await;
        }
        let want: BTreeMap<String, Option<String>> = ["A2", "B1"]
            .iter()
            .map(|n| (format!("t.hdr.{n}"), Some(n.to_string())))
            .collect();
        for (sub, at) in subs.iter_mut().zip(FOUR) {
            let mut got = BTreeMap::new();
            while got.len() < want.len() {
                let Ok(Some(m)) = timeout(WAIT, sub.next()).await else {
                    break;
                };
                if m.subject.as_str().starts_with("t.hdr.") {
                    let v = m
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("X-Gateway-Test"))
                        .map(|v| v.as_str().to_string());
                    got.insert(m.subject.to_string(), v);
                }
            }
            assert_eq!(
                got,
                want,
                "{}: header messages (subject -> X-Gateway-Test) at {at}\n{}",
                tc.label,
                tc.logs()
            );
        }
        sleep(QUIET).await;
        for (sub, at) in subs.iter_mut().zip(FOUR) {
            let mut extra = BTreeMap::new();
            drain(sub, "t.", &mut extra).await;
            assert!(
                extra.is_empty(),
                "{}: extra messages at {at}: {extra:?}\n{}",
                tc.label,
                tc.logs()
            );
        }
    });
}

/// Publishes [`N`] messages on `work` from `c`, payloads `{tag}:{k}`.
async fn publish_work(c: &Client, tag: &str) -> BTreeSet<String> {
    let mut sent = BTreeSet::new();
    for k in 0..N {
        let p = format!("{tag}:{k}");
        c.publish("work", p.clone().into()).await.expect("publish");
        sent.insert(p);
    }
    sync(c).await;
    sent
}

/// Queue group `q` on `work` with a member at A1 and one at B2: A2's
/// publishes all go to A1's member (the publisher's own cluster), B1's all
/// to B2's. Once A1's member has left (a probe shows A2 knows), A2's
/// publishes all go to B2's member, exactly once each.
fn two_clusters_queue_groups(a: Impl, b: Impl) {
    two_clusters_queue_groups_on(&TwoClusters::start(a, b));
}

/// The same on clusters already started.
fn two_clusters_queue_groups_on(tc: &TwoClusters) {
    let label = &tc.label;
    let logs = || tc.logs();
    rt().block_on(async {
        let cs = tc.clients().await;
        let (a1, a2, b1, b2) = (&cs[0], &cs[1], &cs[2], &cs[3]);
        let mut qa = a1.queue_subscribe("work", "q".into()).await.unwrap();
        let mut qb = b2.queue_subscribe("work", "q".into()).await.unwrap();
        tc.await_links(&cs).await;

        let from_a = publish_work(a2, "a2").await;
        let from_b = publish_work(b1, "b1").await;
        let problems = collect(
            "work",
            &mut [("A1 (member)", &mut qa), ("B2 (member)", &mut qb)],
            &[from_a, from_b],
        )
        .await;
        assert!(
            problems.is_empty(),
            "{label}: each cluster's publishes go to its own member of q:\n{}\n{}",
            problems.join("\n"),
            logs()
        );

        // A's member leaves: A2's publishes cross the gateway to B2's.
        qa.unsubscribe().await.unwrap();
        sync(a1).await;
        assert!(
            reaches(a2, a1, LINK).await,
            "{label}: A2 no longer reaches A1\n{}",
            logs()
        );
        let after = publish_work(a2, "a2-after").await;
        let problems = collect("work", &mut [("B2 (member)", &mut qb)], &[after]).await;
        assert!(
            problems.is_empty(),
            "{label}: with A's member gone, A2's publishes go to B's member of q, once each:\n{}\n{}",
            problems.join("\n"),
            logs()
        );
    });
}

/// Requester at A1 and responder at B2, then requester at B2 and responder
/// at A1: every request is answered. Once the responder left (a probe
/// shows the requester's server knows), and for a subject nobody ever
/// subscribed to, a request gets the no-responders status.
fn two_clusters_request_reply(a: Impl, b: Impl) {
    two_clusters_request_reply_on(&TwoClusters::start(a, b));
}

/// The same on clusters already started.
fn two_clusters_request_reply_on(tc: &TwoClusters) {
    let label = &tc.label;
    let logs = || tc.logs();
    rt().block_on(async {
        let cs = tc.clients().await;
        let (a1, b2) = (&cs[0], &cs[3]);
        tc.await_links(&cs).await;
        for (req, rep, req_name, rep_name, subject) in
            [(a1, b2, "A1", "B2", "svc.b"), (b2, a1, "B2", "A1", "svc.a")]
        {
            let what = format!("{label}: requester at {req_name}, responder at {rep_name}");
            let replier = Replier::start(rep, subject, "42").await;
            assert!(
                reaches(req, rep, LINK).await,
                "{what}: {req_name} does not reach {rep_name}\n{}",
                logs()
            );
            requests(&what, req, subject, "42", 5, &logs).await;
            assert_eq!(replier.stop().await, 5, "{what}: requests answered");
            assert!(
                reaches(req, rep, LINK).await,
                "{what}: {req_name} no longer reaches {rep_name}\n{}",
                logs()
            );
            no_responders(&format!("{what}, responder gone"), req, subject, &logs).await;
        }
        no_responders(label, &cs[1], "nobody.home", &logs).await;
        no_responders(label, &cs[2], "nobody.home", &logs).await;
    });
}

/// Variants named after cluster A's and cluster B's implementations.
mod two_clusters_pub_sub {
    use super::two_clusters_pub_sub_exchange as run;
    use canopy_tests::Impl::{Canopy, CanopySmol, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer);
    }
    #[test]
    fn a_canopy_b_nats_server() {
        run(Canopy, NatsServer);
    }
    #[test]
    fn a_nats_server_b_canopy() {
        run(NatsServer, Canopy);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy);
    }
    #[test]
    fn all_canopy_smol() {
        run(CanopySmol, CanopySmol);
    }
}

/// Cluster B on Debian's nats-server 2.9.10, an older peer (check 69):
/// pub/sub, queue groups and request/reply against a canopy cluster A,
/// with the 2.15.1 pair as the reference.
mod old_peer {
    use canopy_tests::Impl::{Canopy, NatsServer, OldNatsServer};

    #[test]
    fn pub_sub_reference() {
        super::two_clusters_pub_sub_exchange(NatsServer, OldNatsServer);
    }
    #[test]
    fn pub_sub_a_canopy() {
        super::two_clusters_pub_sub_exchange(Canopy, OldNatsServer);
    }
    #[test]
    fn queue_a_canopy() {
        super::two_clusters_queue_groups(Canopy, OldNatsServer);
    }
    #[test]
    fn request_reply_a_canopy() {
        super::two_clusters_request_reply(Canopy, OldNatsServer);
    }
}

/// Clusters that mix implementations: A1 canopy and A2 nats-server in
/// cluster A, gatewayed to B (B1 nats-server and B2 canopy, or both
/// nats-server). Each server learns its cluster peers' gateway URLs over
/// routes (`gateway_url`) and gateways learned over routes (`gateway_cmd`
/// 1), whichever implementation told it.
mod mixed_clusters {
    use canopy_tests::Impl::{Canopy, NatsServer};

    #[test]
    fn pub_sub() {
        let tc = super::TwoClusters::start_each([Canopy, NatsServer, NatsServer, Canopy]);
        super::two_clusters_pub_sub_on(&tc);
    }
    #[test]
    fn queue() {
        let tc = super::TwoClusters::start_each([Canopy, NatsServer, NatsServer, Canopy]);
        super::two_clusters_queue_groups_on(&tc);
    }
    #[test]
    fn request_reply() {
        let tc = super::TwoClusters::start_each([NatsServer, Canopy, Canopy, NatsServer]);
        super::two_clusters_request_reply_on(&tc);
    }
}

/// Variants named after cluster A's and cluster B's implementations.
mod two_clusters_queue {
    use super::two_clusters_queue_groups as run;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer);
    }
    #[test]
    fn a_canopy_b_nats_server() {
        run(Canopy, NatsServer);
    }
    #[test]
    fn a_nats_server_b_canopy() {
        run(NatsServer, Canopy);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy);
    }
}

/// Variants named after cluster A's and cluster B's implementations.
mod two_clusters_request_reply {
    use super::two_clusters_request_reply as run;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer);
    }
    #[test]
    fn a_canopy_b_nats_server() {
        run(Canopy, NatsServer);
    }
    #[test]
    fn a_nats_server_b_canopy() {
        run(NatsServer, Canopy);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy);
    }
}

// ---- 4: a leaf behind a gateway ------------------------------------------------

/// The system account a server with both a leaf listener and gateways
/// needs (nats-server refuses to start without one). It has no users, so
/// clients without credentials stay in `$G`.
const SYSTEM_ACCOUNT: &str = "accounts { SYS {} }\nsystem_account: SYS\n";

/// Cluster A (one server with a leaf listener) gatewayed to cluster B; a
/// leaf L attached to A. Messages from L reach B and from B reach L, once
/// each; requests from B are answered by a responder on L and requests
/// from L by a responder on B.
fn leaf_behind_gateway_exchange(a: Impl, b: Impl, l: Impl) {
    const NAMES: [&str; 3] = ["A", "B", "L"];
    let (ga, gb, pl) = (free_port(), free_port(), free_port());
    let list = entries(&["A", "B"], &[ga, gb]);
    let sa = start(
        a,
        &format!(
            "server_name: A\n{SYSTEM_ACCOUNT}leafnodes {{ host: 127.0.0.1, port: {pl} }}\n{}",
            gateway("A", ga, "", &list)
        ),
    );
    let sb = start(
        b,
        &format!(
            "server_name: B\n{SYSTEM_ACCOUNT}{}",
            gateway("B", gb, "", &list)
        ),
    );
    let sl = start(
        l,
        &format!(
            "server_name: L\nleafnodes {{ remotes = [ {{ url: \"{}\" }} ] }}\n",
            url(pl)
        ),
    );
    let label = format!(
        "leaf L on cluster A, gateway to B ({})",
        mix(&NAMES, &[a, b, l])
    );
    let logs = || logs(&[("A", &sa), ("B", &sb), ("L", &sl)]);
    rt().block_on(async {
        let (ca, cb, cl) = (
            connect(&sa.url()).await,
            connect(&sb.url()).await,
            connect(&sl.url()).await,
        );
        let mut subs = Vec::new();
        for c in [&ca, &cb, &cl] {
            subs.push(c.subscribe("t.>").await.expect("subscribe"));
        }
        let refs = [&ca, &cb, &cl];
        await_links(&label, &NAMES, &refs, &all_pairs(3), &logs).await;
        let mut named: Vec<(&str, &mut Subscriber)> =
            NAMES.iter().copied().zip(subs.iter_mut()).collect();
        exchange(
            &label,
            "t.leaf",
            &[("L", &cl), ("B", &cb)],
            &mut named,
            &logs,
        )
        .await;

        for (req, rep, req_name, rep_name, subject) in [
            (&cb, &cl, "B", "L", "svc.leaf"),
            (&cl, &cb, "L", "B", "svc.b"),
        ] {
            let what = format!("{label}: requester at {req_name}, responder at {rep_name}");
            let replier = Replier::start(rep, subject, "42").await;
            assert!(
                reaches(req, rep, LINK).await,
                "{what}: {req_name} does not reach {rep_name}\n{}",
                logs()
            );
            requests(&what, req, subject, "42", 5, &logs).await;
            assert_eq!(replier.stop().await, 5, "{what}: requests answered");
        }
    });
}

/// Variants named after A's, B's and L's implementations.
mod leaf_behind_gateway {
    use super::leaf_behind_gateway_exchange as run;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer, NatsServer);
    }
    #[test]
    fn a_canopy_bl_nats_server() {
        run(Canopy, NatsServer, NatsServer);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy, Canopy);
    }
}

/// Users-voice row 8: queue group `q` on `work` with one member on a leaf
/// LA of cluster A and one on a leaf LB of cluster B. A's publishes all go
/// to LA's member (served in A's domain, so never across the gateway too),
/// B's all to LB's; once LA's member left, A's go to LB's, once each.
fn queue_on_leafs_behind_two_clusters(a: Impl, b: Impl, l: Impl) {
    const NAMES: [&str; 4] = ["A", "B", "LA", "LB"];
    let (ga, gb, pa, pb) = (free_port(), free_port(), free_port(), free_port());
    let list = entries(&["A", "B"], &[ga, gb]);
    let hub = |name: &str, g: u16, p: u16, imp: Impl| {
        start(
            imp,
            &format!(
                "server_name: {name}\n{SYSTEM_ACCOUNT}leafnodes {{ host: 127.0.0.1, port: {p} }}\n{}",
                gateway(name, g, "", &list)
            ),
        )
    };
    let sa = hub("A", ga, pa, a);
    let sb = hub("B", gb, pb, b);
    let leaf = |name: &str, p: u16| {
        start(
            l,
            &format!(
                "server_name: {name}\nleafnodes {{ remotes = [ {{ url: \"{}\" }} ] }}\n",
                url(p)
            ),
        )
    };
    let (sla, slb) = (leaf("LA", pa), leaf("LB", pb));
    let label = format!(
        "queue members on leafs of two clusters ({})",
        mix(&NAMES, &[a, b, l, l])
    );
    let logs = || logs(&[("A", &sa), ("B", &sb), ("LA", &sla), ("LB", &slb)]);
    rt().block_on(async {
        let cs = [
            connect(&sa.url()).await,
            connect(&sb.url()).await,
            connect(&sla.url()).await,
            connect(&slb.url()).await,
        ];
        let mut qa = cs[2].queue_subscribe("work", "q".into()).await.unwrap();
        let mut qb = cs[3].queue_subscribe("work", "q".into()).await.unwrap();
        let refs: Vec<&Client> = cs.iter().collect();
        await_links(&label, &NAMES, &refs, &all_pairs(4), &logs).await;
        let from_a = publish_work(&cs[0], "a").await;
        let from_b = publish_work(&cs[1], "b").await;
        let problems = collect(
            "work",
            &mut [("LA (member)", &mut qa), ("LB (member)", &mut qb)],
            &[from_a, from_b],
        )
        .await;
        assert!(
            problems.is_empty(),
            "{label}: each cluster's publishes go to the member on its own leaf:\n{}\n{}",
            problems.join("\n"),
            logs()
        );
        qa.unsubscribe().await.unwrap();
        sync(&cs[2]).await;
        assert!(
            reaches(&cs[0], &cs[2], LINK).await,
            "{label}: A no longer reaches LA\n{}",
            logs()
        );
        let after = publish_work(&cs[0], "a-after").await;
        let problems = collect("work", &mut [("LB (member)", &mut qb)], &[after]).await;
        assert!(
            problems.is_empty(),
            "{label}: with LA's member gone, A's publishes go to LB's, once each:\n{}\n{}",
            problems.join("\n"),
            logs()
        );
    });
}

/// Variants named after A's, B's and the leafs' implementations.
mod queue_on_leafs {
    use super::queue_on_leafs_behind_two_clusters as run;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer, NatsServer);
    }
    #[test]
    fn a_canopy_b_leafs_nats_server() {
        run(Canopy, NatsServer, NatsServer);
    }
    #[test]
    fn hubs_nats_server_leafs_canopy() {
        run(NatsServer, NatsServer, Canopy);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy, Canopy);
    }
}

/// Users-voice row 6: a leaf daisy chain followed by a gateway, L2 → L1 →
/// C =gw= D, with queue group `q` on `work` having its only member on D:
/// every publish from L2 reaches it once. Then a member joins on L1 too,
/// and L2's publishes stay on that side of the gateway.
fn daisy_chain_then_gateway(c: Impl, d: Impl, l: Impl) {
    const NAMES: [&str; 4] = ["L2", "L1", "C", "D"];
    let (gc, gd, pc, p1) = (free_port(), free_port(), free_port(), free_port());
    let list = entries(&["C", "D"], &[gc, gd]);
    let sc = start(
        c,
        &format!(
            "server_name: C\n{SYSTEM_ACCOUNT}leafnodes {{ host: 127.0.0.1, port: {pc} }}\n{}",
            gateway("C", gc, "", &list)
        ),
    );
    let sd = start(
        d,
        &format!(
            "server_name: D\n{SYSTEM_ACCOUNT}{}",
            gateway("D", gd, "", &list)
        ),
    );
    let s1 = start(
        l,
        &format!(
            "server_name: L1\nleafnodes {{ host: 127.0.0.1, port: {p1}, remotes = [ {{ url: \"{}\" }} ] }}\n",
            url(pc)
        ),
    );
    let s2 = start(
        l,
        &format!(
            "server_name: L2\nleafnodes {{ remotes = [ {{ url: \"{}\" }} ] }}\n",
            url(p1)
        ),
    );
    let label = format!(
        "leaf chain L2 -> L1 -> C, gateway to D ({})",
        mix(&NAMES, &[l, l, c, d])
    );
    let logs = || logs(&[("L2", &s2), ("L1", &s1), ("C", &sc), ("D", &sd)]);
    rt().block_on(async {
        let cs = [
            connect(&s2.url()).await,
            connect(&s1.url()).await,
            connect(&sc.url()).await,
            connect(&sd.url()).await,
        ];
        let mut qd = cs[3].queue_subscribe("work", "q".into()).await.unwrap();
        let refs: Vec<&Client> = cs.iter().collect();
        await_links(&label, &NAMES, &refs, &all_pairs(4), &logs).await;
        let sent = publish_work(&cs[0], "l2").await;
        let problems = collect("work", &mut [("D (member)", &mut qd)], &[sent]).await;
        assert!(
            problems.is_empty(),
            "{label}: L2's publishes reach the only member, on D, once each:\n{}\n{}",
            problems.join("\n"),
            logs()
        );
        let mut q1 = cs[1].queue_subscribe("work", "q".into()).await.unwrap();
        sync(&cs[1]).await;
        assert!(
            reaches(&cs[0], &cs[1], LINK).await,
            "{label}: L2 no longer reaches L1\n{}",
            logs()
        );
        let sent = publish_work(&cs[0], "l2-after").await;
        let problems = collect(
            "work",
            &mut [("L1 (member)", &mut q1), ("D (member)", &mut qd)],
            &[sent, BTreeSet::new()],
        )
        .await;
        assert!(
            problems.is_empty(),
            "{label}: with a member on L1, L2's publishes stay on this side:\n{}\n{}",
            problems.join("\n"),
            logs()
        );
    });
}

/// Variants named after C's, D's and the leafs' implementations.
mod daisy_chain {
    use super::daisy_chain_then_gateway as run;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer, NatsServer);
    }
    #[test]
    fn c_canopy_others_nats_server() {
        run(Canopy, NatsServer, NatsServer);
    }
    #[test]
    fn leafs_canopy_cd_nats_server() {
        run(NatsServer, NatsServer, Canopy);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy, Canopy);
    }
}

// ---- 5: restart ----------------------------------------------------------------

/// A and B exchange messages; B is killed and a new B started on the same
/// client and gateway ports; within [`LINK`] the link carries messages both
/// ways again, exactly once.
fn restart_exchange(a: Impl, b: Impl) {
    let (ga, gb, b_port) = (free_port(), free_port(), free_port());
    let list = entries(&["A", "B"], &[ga, gb]);
    let a_conf = format!("server_name: A\n{}", gateway("A", ga, "", &list));
    let b_conf = format!("server_name: B\n{}", gateway("B", gb, "", &list));
    let sa = start(a, &a_conf);
    let b_builder = ServerBuilder::new(b).config(&b_conf).port(b_port);
    let mut sb = b_builder.start();
    let label = format!("restart of B ({})", mix(&["A", "B"], &[a, b]));
    rt().block_on(async {
        let ca = connect(&sa.url()).await;
        let mut at_a = ca.subscribe("t.>").await.expect("subscribe");
        {
            let logs = || logs(&[("A", &sa), ("B", &sb)]);
            let cb = connect(&sb.url()).await;
            let mut at_b = cb.subscribe("t.>").await.expect("subscribe");
            await_links(&label, &["A", "B"], &[&ca, &cb], &all_pairs(2), &logs).await;
            exchange(
                &label,
                "t.before",
                &[("A", &ca), ("B", &cb)],
                &mut [("A", &mut at_a), ("B", &mut at_b)],
                &logs,
            )
            .await;
            drop(at_b);
            drop(cb);
        }
        sb.stop();
        let first_b = tail(&sb, 40);
        sb = b_builder.start();
        let label = format!("{label}, after the restart");
        let logs = || {
            format!(
                "--- B before the restart:\n{first_b}\n{}",
                logs(&[("A", &sa), ("B", &sb)])
            )
        };
        let cb = connect(&sb.url()).await;
        let mut at_b = cb.subscribe("t.>").await.expect("subscribe");
        await_links(&label, &["A", "B"], &[&ca, &cb], &all_pairs(2), &logs).await;
        exchange(
            &label,
            "t.after",
            &[("A", &ca), ("B", &cb)],
            &mut [("A", &mut at_a), ("B", &mut at_b)],
            &logs,
        )
        .await;
    });
}

/// Variants named after A's and B's (the restarted server's)
/// implementations.
mod restart {
    use super::restart_exchange as run;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer);
    }
    #[test]
    fn a_canopy_b_nats_server() {
        run(Canopy, NatsServer);
    }
    #[test]
    fn a_nats_server_b_canopy() {
        run(NatsServer, Canopy);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy);
    }
}

// ---- 6: refused gateways -------------------------------------------------------

/// Asserts that no `(publisher, subscriber)` pair of `pairs` reaches
/// within [`NEVER`] (all probed at once, so the window is [`NEVER`] in all).
async fn assert_never(
    label: &str,
    names: &[&str],
    cs: &[&Client],
    pairs: &[(usize, usize)],
    logs: &dyn Fn() -> String,
) {
    let missing = unreached(names, cs, pairs, NEVER).await;
    let crossed: Vec<String> = pairs
        .iter()
        .map(|&(p, s)| format!("{} -> {}", names[p], names[s]))
        .filter(|x| !missing.contains(x))
        .collect();
    assert!(
        crossed.is_empty(),
        "{label}: messages crossed a refused gateway: {}\n{}",
        crossed.join(", "),
        logs()
    );
}

/// B has `reject_unknown_cluster: true` and lists B and C; C lists B and
/// C; A lists A and B. B and C link (the control); A is refused by B and
/// never learns of C: nothing ever crosses between A and B or A and C.
/// `rejecting` is B's implementation, `others` A's and C's.
fn reject_unknown(rejecting: Impl, others: Impl) {
    const NAMES: [&str; 3] = ["A", "B", "C"];
    let (ga, gb, gc) = (free_port(), free_port(), free_port());
    let sa = start(
        others,
        &format!(
            "server_name: A\n{}",
            gateway("A", ga, "", &entries(&["A", "B"], &[ga, gb]))
        ),
    );
    let bc = entries(&["B", "C"], &[gb, gc]);
    let sb = start(
        rejecting,
        &format!(
            "server_name: B\n{}",
            gateway("B", gb, "  reject_unknown_cluster: true\n", &bc)
        ),
    );
    let sc = start(
        others,
        &format!("server_name: C\n{}", gateway("C", gc, "", &bc)),
    );
    let label = format!(
        "B rejects unknown clusters ({})",
        mix(&NAMES, &[others, rejecting, others])
    );
    let logs = || logs(&[("A", &sa), ("B", &sb), ("C", &sc)]);
    rt().block_on(async {
        let (ca, cb, cc) = (
            connect(&sa.url()).await,
            connect(&sb.url()).await,
            connect(&sc.url()).await,
        );
        let refs = [&ca, &cb, &cc];
        // The control: B and C link both ways (so each has dialed by now).
        await_links(&label, &NAMES, &refs, &[(1, 2), (2, 1)], &logs).await;
        if rejecting == Impl::NatsServer {
            sb.wait_for_log("Rejecting connection from gateway \"A\"", LINK);
        }
        if others == Impl::NatsServer {
            // What B sent back, as the nats-server dialer reports it.
            sa.wait_for_log("Gateway Error 'Connection to gateway \"B\" rejected'", LINK);
        }
        assert_never(
            &label,
            &NAMES,
            &refs,
            &[(0, 1), (1, 0), (0, 2), (2, 0)],
            &logs,
        )
        .await;
        // The control still holds.
        await_links(&label, &NAMES, &refs, &[(1, 2), (2, 1)], &logs).await;
    });
}

/// Variants named after the rejecting server's (B's) implementation.
mod reject_unknown_cluster {
    use super::reject_unknown as run;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer);
    }
    #[test]
    fn rejecting_canopy_others_nats_server() {
        run(Canopy, NatsServer);
    }
    #[test]
    fn rejecting_nats_server_others_canopy() {
        run(NatsServer, Canopy);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy);
    }
}

/// B requires gateway credentials `gw`/`pw` and lists only itself.
///
/// * A lists B without credentials and has no `authorization`: it never
///   links, and nothing crosses between A and anyone.
/// * C lists B as `nats://gw:pw@...`: it links both ways (B's outbound to
///   C is implicit).
/// * D lists B without credentials but has `authorization { gw/pw }` of
///   its own, which its outbound then presents (nats-server 2.15.1 does,
///   for explicit gateways too); D requires them back, and B's implicit
///   outbound presents B's own: D links both ways.
///
/// `acceptor` is B's implementation, `dialers` A's, C's and D's. C and D
/// are not checked against each other.
fn gateway_authorization(acceptor: Impl, dialers: Impl) {
    const NAMES: [&str; 4] = ["A", "B", "C", "D"];
    const AUTH: &str = "  authorization { user: gw, password: pw }\n";
    let (ga, gb, gc, gd) = (free_port(), free_port(), free_port(), free_port());
    let sb = start(
        acceptor,
        &format!(
            "server_name: B\n{}",
            gateway("B", gb, AUTH, &entries(&["B"], &[gb]))
        ),
    );
    let sa = start(
        dialers,
        &format!(
            "server_name: A\n{}",
            gateway("A", ga, "", &entries(&["A", "B"], &[ga, gb]))
        ),
    );
    let sc = start(
        dialers,
        &format!(
            "server_name: C\n{}",
            gateway(
                "C",
                gc,
                "",
                &[
                    ("B", vec![format!("nats://gw:pw@127.0.0.1:{gb}")]),
                    ("C", vec![url(gc)]),
                ]
            )
        ),
    );
    let sd = start(
        dialers,
        &format!(
            "server_name: D\n{}",
            gateway("D", gd, AUTH, &entries(&["B", "D"], &[gb, gd]))
        ),
    );
    let label = format!(
        "B requires gateway auth ({})",
        mix(&NAMES, &[dialers, acceptor, dialers, dialers])
    );
    let logs = || logs(&[("A", &sa), ("B", &sb), ("C", &sc), ("D", &sd)]);
    rt().block_on(async {
        let (ca, cb, cc, cd) = (
            connect(&sa.url()).await,
            connect(&sb.url()).await,
            connect(&sc.url()).await,
            connect(&sd.url()).await,
        );
        let refs = [&ca, &cb, &cc, &cd];
        // The controls: C (credentials in its URL) and D (credentials of
        // its own) link both ways.
        let controls = [(1, 2), (2, 1), (1, 3), (3, 1)];
        await_links(&label, &NAMES, &refs, &controls, &logs).await;
        if acceptor == Impl::NatsServer {
            sb.wait_for_log("authentication error", LINK);
        }
        if dialers == Impl::NatsServer {
            // What B sent back, as the nats-server dialer reports it.
            sa.wait_for_log("Gateway Error 'Authorization Violation'", LINK);
        }
        assert_never(
            &label,
            &NAMES,
            &refs,
            &[(0, 1), (1, 0), (0, 2), (2, 0), (0, 3), (3, 0)],
            &logs,
        )
        .await;
        await_links(&label, &NAMES, &refs, &controls, &logs).await;
    });
}

/// Variants named after the accepting server's (B's) implementation.
mod gateway_auth {
    use super::gateway_authorization as run;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn all_nats_server() {
        run(NatsServer, NatsServer);
    }
    #[test]
    fn acceptor_canopy_dialers_nats_server() {
        run(Canopy, NatsServer);
    }
    #[test]
    fn acceptor_nats_server_dialers_canopy() {
        run(NatsServer, Canopy);
    }
    #[test]
    fn all_canopy() {
        run(Canopy, Canopy);
    }
}
