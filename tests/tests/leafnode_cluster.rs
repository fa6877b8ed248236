//! Leaf nodes beside clusters and loops, over real sockets with async-nats
//! clients, each server either nats-server 2.15.1 or canopy:
//!
//! * `leaf_fails_over_across_a_mixed_hub_cluster`: a 3-node hub cluster
//!   (routes, each node with a leaf listener) and a leaf that knows one or
//!   all of the hubs' leaf URLs (the others come from `leafnode_urls`
//!   gossip); the hub the leaf is attached to is killed and the leaf must
//!   re-attach to a survivor.
//! * `loop_in_a_mixed_triangle_is_refused`: A→B→C→A leaf remotes; `$LDS`
//!   loop detection tears down a link, and no message is ever delivered
//!   twice.
//! * `hub_true_reverses_roles`: a remote with `hub: true` between two
//!   2-node clusters; the link carries messages both ways, queue groups
//!   prefer local members, and who hears whom across the link and the
//!   routes is the mirror image of the default roles (with controls).
//!
//! No config sets `compression` or `tls`; every `leafnodes` and `cluster`
//! listener sets `host: 127.0.0.1`. A link is never taken as up from a log
//! line: it is up when a probe published on one side reaches a subscriber
//! on the other. Every count is exact.

mod common;

use common::{connect, reaches, rt, sync};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::{Client, Subscriber};
use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use futures::StreamExt;
use tokio::time::{sleep, timeout, Instant};

/// Upper bound on any single wait for a message or reply.
const WAIT: Duration = Duration::from_secs(5);
/// How long a route mesh may take to form.
const MESH: Duration = Duration::from_secs(10);
/// How long a leaf link may take to form, or to re-form on another hub
/// after its hub died (nats-server waits 1 s before it redials, and 1-2 s
/// between failed URLs).
const LINK: Duration = Duration::from_secs(15);
/// How long "nothing more arrives" is watched for (once, for all
/// subscribers of a round).
const QUIET: Duration = Duration::from_millis(500);
/// The line nats-server (and canopy) logs on either side of a refused loop.
const LOOP_LINE: &str = "Loop detected for leafnode account=\"$G\"";

fn start(imp: Impl, config: &str) -> Server {
    ServerBuilder::new(imp).config(config).start()
}

/// The last `n` lines of a server's log, without the per-message and
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
            tail(srv, 60)
        ));
    }
    s
}

// ---- clients -----------------------------------------------------------------

/// Receives until every payload in `want` arrived (or nothing came for
/// [`WAIT`]), counting every payload seen.
async fn gather(sub: &mut Subscriber, want: &BTreeSet<String>, got: &mut BTreeMap<String, usize>) {
    while !want.iter().all(|w| got.contains_key(w)) {
        match timeout(WAIT, sub.next()).await {
            Ok(Some(m)) => {
                *got.entry(String::from_utf8_lossy(&m.payload).into_owned())
                    .or_default() += 1;
            }
            _ => break,
        }
    }
}

/// Counts what is already buffered (at most 10 000, in case of a storm).
async fn drain(sub: &mut Subscriber, got: &mut BTreeMap<String, usize>) {
    for _ in 0..10_000 {
        match timeout(Duration::from_millis(1), sub.next()).await {
            Ok(Some(m)) => {
                *got.entry(String::from_utf8_lossy(&m.payload).into_owned())
                    .or_default() += 1;
            }
            _ => break,
        }
    }
}

/// One subscriber's problems: a payload of `want` missing or seen more
/// than once, any payload seen more than once, anything outside `allowed`.
fn check(
    name: &str,
    got: &BTreeMap<String, usize>,
    want: &BTreeSet<String>,
    allowed: &BTreeSet<String>,
) -> Vec<String> {
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
    let strays: Vec<&String> = got.keys().filter(|k| !allowed.contains(*k)).collect();
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

/// Publishes `n` messages on `t.{tag}.{name}` from each publisher, then
/// checks that every subscriber got every one of them exactly once.
/// Returns the problems found.
async fn round(
    tag: &str,
    pubs: &[(&str, &Client)],
    subs: &mut [(&str, &mut Subscriber)],
    n: usize,
) -> Vec<String> {
    let mut all = BTreeSet::new();
    for (name, c) in pubs {
        for p in payloads(tag, name, n) {
            all.insert(p.clone());
            c.publish(format!("t.{tag}.{name}"), p.into())
                .await
                .expect("publish");
        }
        sync(c).await;
    }
    let mut got = vec![BTreeMap::new(); subs.len()];
    for ((_, sub), g) in subs.iter_mut().zip(got.iter_mut()) {
        gather(sub, &all, g).await;
    }
    sleep(QUIET).await;
    let mut problems = Vec::new();
    for ((name, sub), g) in subs.iter_mut().zip(got.iter_mut()) {
        drain(sub, g).await;
        problems.extend(check(&format!("{tag}: subscriber {name}"), g, &all, &all));
    }
    problems
}

// ---- 1: failover across a mixed hub cluster ----------------------------------

/// The hub the leaf is attached to: the one whose log says it accepted a
/// leaf connection (nats-server and canopy log the same line).
fn attached_hub(hubs: &[Server]) -> Vec<usize> {
    hubs.iter()
        .enumerate()
        .filter(|(_, h)| h.log().contains(" - Leafnode connection created"))
        .map(|(i, _)| i)
        .collect()
}

/// Hubs `hub_imps` (node i routes to every node before it: a full mesh of
/// explicit routes), each with a leaf listener; a leaf whose one remote
/// lists the first hub's leaf URL, or all three (`all_urls`).
fn failover(hub_imps: [Impl; 3], leaf_imp: Impl, all_urls: bool) {
    let leaf_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut hubs: Vec<Server> = (0..3)
        .map(|i| {
            let routes = if i == 0 {
                String::new()
            } else {
                let urls: Vec<String> = route_ports[..i]
                    .iter()
                    .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
                    .collect();
                format!(", routes: [{}]", urls.join(", "))
            };
            start(
                hub_imps[i],
                &format!(
                    "server_name: hub{i}\n\
                     leafnodes {{ host: 127.0.0.1, port: {} }}\n\
                     cluster {{ name: hub, host: 127.0.0.1, port: {}{routes} }}\n",
                    leaf_ports[i], route_ports[i]
                ),
            )
        })
        .collect();
    let urls: Vec<String> = leaf_ports[..if all_urls { 3 } else { 1 }]
        .iter()
        .map(|p| format!("\"nats://127.0.0.1:{p}\""))
        .collect();
    let leaf = start(
        leaf_imp,
        &format!(
            "server_name: leaf\nleafnodes {{ remotes = [ {{ urls: [{}] }} ] }}\n",
            urls.join(", ")
        ),
    );
    let label = format!(
        "hubs [{}, {}, {}], leaf {leaf_imp}, {}",
        hub_imps[0],
        hub_imps[1],
        hub_imps[2],
        if all_urls {
            "all three leaf URLs configured"
        } else {
            "only hub0's leaf URL configured"
        }
    );
    let all_logs = |hubs: &[Server], leaf: &Server| {
        logs(&[
            ("hub0", &hubs[0]),
            ("hub1", &hubs[1]),
            ("hub2", &hubs[2]),
            ("leaf", leaf),
        ])
    };
    const N: usize = 50;
    rt().block_on(async {
        let mut hub_cs: Vec<Option<Client>> = Vec::new();
        for h in &hubs {
            hub_cs.push(Some(connect(&h.url()).await));
        }
        let leaf_c = connect(&leaf.url()).await;
        // The mesh: every hub reaches every other one directly.
        for i in 0..3 {
            for j in 0..3 {
                if i != j {
                    let (p, s) = (hub_cs[i].as_ref().unwrap(), hub_cs[j].as_ref().unwrap());
                    assert!(
                        reaches(p, s, MESH).await,
                        "{label}: hub{i} does not reach hub{j} within {MESH:?}\n{}",
                        all_logs(&hubs, &leaf)
                    );
                }
            }
        }
        let mut hub_subs: Vec<Option<Subscriber>> = Vec::new();
        for c in &hub_cs {
            hub_subs.push(Some(c.as_ref().unwrap().subscribe("t.>").await.unwrap()));
        }
        let mut leaf_sub = leaf_c.subscribe("t.>").await.unwrap();

        // Both publishers (hub1, the leaf) know every other subscriber.
        for (pi, p) in [("hub1", hub_cs[1].as_ref().unwrap()), ("leaf", &leaf_c)] {
            let mut targets: Vec<(String, &Client)> = (0..3)
                .map(|j| (format!("hub{j}"), hub_cs[j].as_ref().unwrap()))
                .collect();
            targets.push(("leaf".to_string(), &leaf_c));
            for (si, s) in targets {
                if si != pi {
                    assert!(
                        reaches(p, s, LINK).await,
                        "{label}: {pi} does not reach {si} within {LINK:?}\n{}",
                        all_logs(&hubs, &leaf)
                    );
                }
            }
        }
        let attached = attached_hub(&hubs);
        assert_eq!(
            attached.len(),
            1,
            "{label}: not exactly one hub logged an accepted leaf ({attached:?})\n{}",
            all_logs(&hubs, &leaf)
        );
        let attached = attached[0];
        if !all_urls {
            assert_eq!(attached, 0, "{label}: the leaf only knew hub0's URL");
        }

        let problems = {
            let [s0, s1, s2] = &mut hub_subs[..] else {
                unreachable!()
            };
            round(
                "before",
                &[("hub1", hub_cs[1].as_ref().unwrap()), ("leaf", &leaf_c)],
                &mut [
                    ("hub0", s0.as_mut().unwrap()),
                    ("hub1", s1.as_mut().unwrap()),
                    ("hub2", s2.as_mut().unwrap()),
                    ("leaf", &mut leaf_sub),
                ],
                N,
            )
            .await
        };
        assert!(
            problems.is_empty(),
            "{label}: before the failover:\n{}\n{}",
            problems.join("\n"),
            all_logs(&hubs, &leaf)
        );

        // Kill the hub the leaf is attached to.
        hub_subs[attached] = None;
        hub_cs[attached] = None;
        hubs[attached].stop();
        let survivors: Vec<usize> = (0..3).filter(|&i| i != attached).collect();
        let publisher = survivors[0];
        let pub_name = format!("hub{publisher}");

        // The leaf re-attaches: both publishers reach every survivor.
        for (pi, p) in [
            (pub_name.as_str(), hub_cs[publisher].as_ref().unwrap()),
            ("leaf", &leaf_c),
        ] {
            let mut targets: Vec<(String, &Client)> = survivors
                .iter()
                .map(|&j| (format!("hub{j}"), hub_cs[j].as_ref().unwrap()))
                .collect();
            targets.push(("leaf".to_string(), &leaf_c));
            for (si, s) in targets {
                if si != pi {
                    assert!(
                        reaches(p, s, LINK).await,
                        "{label}: after hub{attached} died, {pi} does not reach {si} \
                         within {LINK:?}\n{}",
                        all_logs(&hubs, &leaf)
                    );
                }
            }
        }

        let problems = {
            let (a, b) = (survivors[0], survivors[1]);
            let (lo, hi) = hub_subs.split_at_mut(b);
            let sa = lo[a].as_mut().unwrap();
            let sb = hi[0].as_mut().unwrap();
            let (na, nb) = (format!("hub{a}"), format!("hub{b}"));
            round(
                "after",
                &[
                    (pub_name.as_str(), hub_cs[publisher].as_ref().unwrap()),
                    ("leaf", &leaf_c),
                ],
                &mut [
                    (na.as_str(), sa),
                    (nb.as_str(), sb),
                    ("leaf", &mut leaf_sub),
                ],
                N,
            )
            .await
        };
        assert!(
            problems.is_empty(),
            "{label}: after hub{attached} died:\n{}\n{}",
            problems.join("\n"),
            all_logs(&hubs, &leaf)
        );
    });
}

/// Variants: `<hub0>_<hub1>_<hub2>_hubs_<leaf>_leaf_{one_url,all_urls}`.
mod leaf_fails_over_across_a_mixed_hub_cluster {
    use super::failover;
    use canopy_tests::Impl::{Canopy, CanopySmol, NatsServer};

    /// (a) A canopy hub first, a nats-server hub in the middle, canopy leaf.
    #[test]
    fn canopy_nats_canopy_hubs_canopy_leaf_one_url() {
        failover([Canopy, NatsServer, Canopy], Canopy, false);
    }
    #[test]
    fn canopy_nats_canopy_hubs_canopy_leaf_all_urls() {
        failover([Canopy, NatsServer, Canopy], Canopy, true);
    }

    /// (b) A nats-server hub first, canopy in the middle, nats-server leaf.
    #[test]
    fn nats_canopy_nats_hubs_nats_leaf_one_url() {
        failover([NatsServer, Canopy, NatsServer], NatsServer, false);
    }
    #[test]
    fn nats_canopy_nats_hubs_nats_leaf_all_urls() {
        failover([NatsServer, Canopy, NatsServer], NatsServer, true);
    }

    /// (c) The reference: nats-server only.
    #[test]
    fn nats_hubs_nats_leaf_one_url() {
        failover([NatsServer; 3], NatsServer, false);
    }
    #[test]
    fn nats_hubs_nats_leaf_all_urls() {
        failover([NatsServer; 3], NatsServer, true);
    }

    /// (d) Canopy hubs (tokio and smol) with a nats-server leaf.
    #[test]
    fn canopy_hubs_nats_leaf_one_url() {
        failover([Canopy, CanopySmol, Canopy], NatsServer, false);
    }

    /// (e) nats-server hubs with a canopy leaf.
    #[test]
    fn nats_hubs_canopy_leaf_one_url() {
        failover([NatsServer; 3], Canopy, false);
    }
}

// ---- 2: a loop of leaf links ------------------------------------------------

/// A, B, C with a leaf listener each and one remote to the next (A→B,
/// B→C, C→A). Loop detection tears down some link(s); afterwards no
/// message reaches any subscriber twice, every pair a probe shows linked
/// gets every message exactly once, and some log says a loop was detected.
fn triangle(imps: [Impl; 3]) {
    const NAMES: [&str; 3] = ["A", "B", "C"];
    const N: usize = 20;
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let servers: Vec<Server> = (0..3)
        .map(|i| {
            start(
                imps[i],
                &format!(
                    "server_name: {}\n\
                     leafnodes {{\n  host: 127.0.0.1\n  port: {}\n  \
                     remotes = [ {{ url: \"nats://127.0.0.1:{}\" }} ]\n}}\n",
                    NAMES[i],
                    ports[i],
                    ports[(i + 1) % 3]
                ),
            )
        })
        .collect();
    let label = format!("A {}, B {}, C {}", imps[0], imps[1], imps[2]);
    let all_logs = || logs(&[("A", &servers[0]), ("B", &servers[1]), ("C", &servers[2])]);
    let detected = |servers: &[Server]| servers.iter().any(|s| s.log().contains(LOOP_LINE));

    rt().block_on(async {
        // Loop detection (bounded); then let the links settle: a link torn
        // down for a loop is not dialed again for 30 s.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !detected(&servers) && Instant::now() < deadline {
            sleep(Duration::from_millis(50)).await;
        }
        sleep(Duration::from_millis(1500)).await;

        let mut cs = Vec::new();
        for s in &servers {
            cs.push(connect(&s.url()).await);
        }
        let mut subs = Vec::new();
        for c in &cs {
            subs.push(c.subscribe("t.>").await.unwrap());
        }
        // Which ordered pairs are linked (all probed at once).
        let pairs: Vec<(usize, usize)> = (0..3)
            .flat_map(|p| (0..3).filter(move |&s| s != p).map(move |s| (p, s)))
            .collect();
        let linked_list = futures::future::join_all(
            pairs
                .iter()
                .map(|&(p, s)| reaches(&cs[p], &cs[s], Duration::from_secs(3))),
        )
        .await;
        let mut linked = [[true; 3]; 3];
        for (&(p, s), ok) in pairs.iter().zip(linked_list) {
            linked[p][s] = ok;
        }

        let mut sent: Vec<Vec<String>> = Vec::new();
        for (i, c) in cs.iter().enumerate() {
            let ps = payloads("loop", NAMES[i], N);
            for p in &ps {
                c.publish(format!("t.loop.{}", NAMES[i]), p.clone().into())
                    .await
                    .unwrap();
            }
            sync(c).await;
            sent.push(ps);
        }
        let allowed: BTreeSet<String> = sent.iter().flatten().cloned().collect();
        let mut got = vec![BTreeMap::new(); 3];
        let wants: Vec<BTreeSet<String>> = (0..3)
            .map(|s| {
                (0..3)
                    .filter(|&p| linked[p][s])
                    .flat_map(|p| sent[p].iter().cloned())
                    .collect()
            })
            .collect();
        for s in 0..3 {
            gather(&mut subs[s], &wants[s], &mut got[s]).await;
        }
        sleep(QUIET).await;
        let mut problems = Vec::new();
        for s in 0..3 {
            drain(&mut subs[s], &mut got[s]).await;
            problems.extend(check(
                &format!("subscriber on {}", NAMES[s]),
                &got[s],
                &wants[s],
                &allowed,
            ));
        }
        let matrix: Vec<String> = pairs
            .iter()
            .map(|&(p, s)| {
                format!(
                    "{}->{}: {}",
                    NAMES[p],
                    NAMES[s],
                    if linked[p][s] { "linked" } else { "not linked" }
                )
            })
            .collect();
        let loggers: Vec<&str> = (0..3)
            .filter(|&i| servers[i].log().contains(LOOP_LINE))
            .map(|i| NAMES[i])
            .collect();
        eprintln!("{label}: {}; loop logged by {loggers:?}", matrix.join(", "));
        assert!(
            problems.is_empty(),
            "{label}: ({})\n{}\n{}",
            matrix.join(", "),
            problems.join("\n"),
            all_logs()
        );
        assert!(
            detected(&servers),
            "{label}: no log says {LOOP_LINE:?} ({})\n{}",
            matrix.join(", "),
            all_logs()
        );
    });
}

/// Variants named after A, B, C's implementations.
mod loop_in_a_mixed_triangle_is_refused {
    use super::triangle;
    use canopy_tests::Impl::{Canopy, CanopySmol, NatsServer};

    /// The reference: nats-server only.
    #[test]
    fn nats_nats_nats() {
        triangle([NatsServer; 3]);
    }
    #[test]
    fn canopy_nats_nats() {
        triangle([Canopy, NatsServer, NatsServer]);
    }
    #[test]
    fn canopy_canopy_smol_nats() {
        triangle([Canopy, CanopySmol, NatsServer]);
    }
    #[test]
    fn canopy_canopy_canopy() {
        triangle([Canopy; 3]);
    }
}

// ---- 3: hub: true ------------------------------------------------------------

/// S and A, each routed to a peer of the same implementation (S2 in
/// cluster `cs`, A2 in cluster `ca`; the peers have no `leafnodes` block);
/// S solicits A's leaf port, with `hub: true` when `reversed`: then S is
/// the hub of the link and A the spoke, else the other way round.
///
/// * 50 messages each way between S and A, exactly once and in order.
/// * A queue group with a member at S and at A serves each side's
///   publishes locally; with A's member gone A's publishes cross to S's.
/// * The roles, as nats-server 2.15.1 shows them: a spoke neither passes
///   interest its routes gave it to its hub nor forwards a message that
///   came over a route to it, so the spoke's peer (A2 when reversed, S2 by
///   default) only exchanges messages with the spoke, and nothing of it
///   reaches the hub's side; every other subscriber gets every message
///   exactly once. Each subscriber has a subject of its own (`m.<name>`),
///   so the hub's peer reaches the spoke's subscriber only through the
///   leaf interest the hub passes over its route.
/// * Where a trace shows the CONNECT (nats-server traces the one it
///   receives, canopy the one it sends), it says `"is_hub":true`.
fn roles(s_imp: Impl, a_imp: Impl, reversed: bool) {
    const N: usize = 50;
    const NAMES: [&str; 4] = ["S", "S2", "A", "A2"];
    let (pa, rs, ra) = (free_port(), free_port(), free_port());
    let hub_key = if reversed { ", hub: true" } else { "" };
    let s = start(
        s_imp,
        &format!(
            "server_name: S\ntrace: true\n\
             leafnodes {{ remotes = [ {{ url: \"nats://127.0.0.1:{pa}\"{hub_key} }} ] }}\n\
             cluster {{ name: cs, host: 127.0.0.1, port: {rs} }}\n"
        ),
    );
    let s2 = start(
        s_imp,
        &format!(
            "server_name: S2\ncluster {{ name: cs, host: 127.0.0.1, port: {}, \
             routes: [\"nats-route://127.0.0.1:{rs}\"] }}\n",
            free_port()
        ),
    );
    let a = start(
        a_imp,
        &format!(
            "server_name: A\ntrace: true\nleafnodes {{ host: 127.0.0.1, port: {pa} }}\n\
             cluster {{ name: ca, host: 127.0.0.1, port: {ra} }}\n"
        ),
    );
    let a2 = start(
        a_imp,
        &format!(
            "server_name: A2\ncluster {{ name: ca, host: 127.0.0.1, port: {}, \
             routes: [\"nats-route://127.0.0.1:{ra}\"] }}\n",
            free_port()
        ),
    );
    let label = format!(
        "S {s_imp} soliciting A {a_imp}{}",
        if reversed {
            " with hub: true"
        } else {
            " (default roles)"
        }
    );
    let all_logs = || logs(&[("S", &s), ("S2", &s2), ("A", &a), ("A2", &a2)]);
    // Who hears whom (subscriber -> publishers, indices into NAMES).
    let (spoke_peer, spoke) = if reversed { (3, 2) } else { (1, 0) };
    let hears = |sub: usize, publisher: usize| {
        sub == publisher
            || if sub == spoke_peer {
                publisher == spoke
            } else {
                publisher != spoke_peer || sub == spoke
            }
    };
    rt().block_on(async {
        let mut cs = Vec::new();
        for srv in [&s, &s2, &a, &a2] {
            cs.push(connect(&srv.url()).await);
        }
        let (s_c, a_c) = (&cs[0], &cs[2]);
        let mut at_s = s_c.subscribe("t.>").await.unwrap();
        let mut at_a = a_c.subscribe("t.>").await.unwrap();
        let mut q_s = s_c.queue_subscribe("work", "g".into()).await.unwrap();
        let mut q_a = a_c.queue_subscribe("work", "g".into()).await.unwrap();
        // One subject per subscriber: a subscriber on the hub itself must
        // not lend its interest to another's messages.
        let mut m_subs = Vec::new();
        for (i, c) in cs.iter().enumerate() {
            m_subs.push(c.subscribe(format!("m.{}", NAMES[i])).await.unwrap());
        }
        // The routes and the leaf link carry messages both ways.
        for (p, sub, within) in [
            (1, 0, MESH),
            (0, 1, MESH),
            (3, 2, MESH),
            (2, 3, MESH),
            (0, 2, LINK),
            (2, 0, LINK),
        ] {
            assert!(
                reaches(&cs[p], &cs[sub], within).await,
                "{label}: {} does not reach {} within {within:?}\n{}",
                NAMES[p],
                NAMES[sub],
                all_logs()
            );
        }
        // The pairs two hops apart that should hear each other (not
        // asserted here: the who-hears-whom round below reports them).
        let mut unreached = Vec::new();
        for sub in 0..4 {
            for p in 0..4 {
                if p / 2 != sub / 2
                    && hears(sub, p)
                    && !(p % 2 == 0 && sub % 2 == 0)
                    && !reaches(&cs[p], &cs[sub], Duration::from_secs(3)).await
                {
                    unreached.push(format!("{} -> {}", NAMES[p], NAMES[sub]));
                }
            }
        }

        // S <-> A both ways, in order, exactly once; each side's own
        // subscriber too.
        for (from, name) in [(s_c, "S"), (a_c, "A")] {
            for p in payloads("hub", name, N) {
                from.publish(format!("t.hub.{name}"), p.into())
                    .await
                    .unwrap();
            }
            sync(from).await;
            for (sub, at) in [(&mut at_s, "S"), (&mut at_a, "A")] {
                for (k, want) in payloads("hub", name, N).into_iter().enumerate() {
                    let m = timeout(WAIT, sub.next()).await.ok().flatten();
                    assert_eq!(
                        m.as_ref()
                            .map(|m| String::from_utf8_lossy(&m.payload).into_owned()),
                        Some(want),
                        "{label}: message {k} from {name} at {at}\n{}",
                        all_logs()
                    );
                }
            }
        }
        sleep(QUIET).await;
        for (sub, at) in [(&mut at_s, "S"), (&mut at_a, "A")] {
            let mut extra = BTreeMap::new();
            drain(sub, &mut extra).await;
            assert!(
                extra.is_empty(),
                "{label}: extra messages at {at}: {extra:?}\n{}",
                all_logs()
            );
        }

        // The queue group: each side's publishes stay with its member.
        for (from, name) in [(s_c, "S"), (a_c, "A")] {
            for p in payloads("q", name, 20) {
                from.publish("work", p.into()).await.unwrap();
            }
            sync(from).await;
        }
        sleep(QUIET).await;
        for (sub, at) in [(&mut q_s, "S"), (&mut q_a, "A")] {
            let mut got = BTreeMap::new();
            drain(sub, &mut got).await;
            let want: BTreeSet<String> = payloads("q", at, 20).into_iter().collect();
            let problems = check(&format!("queue member at {at}"), &got, &want, &want);
            assert!(
                problems.is_empty(),
                "{label}: local preference:\n{}\n{}",
                problems.join("\n"),
                all_logs()
            );
        }

        // A's member leaves: A's publishes go to S's member.
        q_a.unsubscribe().await.unwrap();
        sync(a_c).await;
        // The unsubscribe crossed the link once a later probe did.
        assert!(reaches(a_c, s_c, LINK).await, "{label}: A -> S again");
        for p in payloads("q2", "A", 20) {
            a_c.publish("work", p.into()).await.unwrap();
        }
        sync(a_c).await;
        let want: BTreeSet<String> = payloads("q2", "A", 20).into_iter().collect();
        let mut got = BTreeMap::new();
        gather(&mut q_s, &want, &mut got).await;
        sleep(QUIET).await;
        drain(&mut q_s, &mut got).await;
        let problems = check("queue member at S (A's left)", &got, &want, &want);
        assert!(
            problems.is_empty(),
            "{label}:\n{}\n{}",
            problems.join("\n"),
            all_logs()
        );

        // The roles: 10 messages from each of the four servers to each
        // subscriber's subject.
        let sent =
            |p: usize, sub: usize| payloads("m", &format!("{}>{}", NAMES[p], NAMES[sub]), 10);
        for (p, c) in cs.iter().enumerate() {
            for (sub, name) in NAMES.iter().enumerate() {
                for m in sent(p, sub) {
                    c.publish(format!("m.{name}"), m.into()).await.unwrap();
                }
            }
            sync(c).await;
        }
        let wants: Vec<BTreeSet<String>> = (0..4)
            .map(|sub| {
                (0..4)
                    .filter(|&p| hears(sub, p))
                    .flat_map(|p| sent(p, sub))
                    .collect()
            })
            .collect();
        let mut got = vec![BTreeMap::new(); 4];
        for i in 0..4 {
            gather(&mut m_subs[i], &wants[i], &mut got[i]).await;
        }
        sleep(QUIET).await;
        let mut problems = Vec::new();
        for i in 0..4 {
            drain(&mut m_subs[i], &mut got[i]).await;
            problems.extend(check(
                &format!("subscriber at {}", NAMES[i]),
                &got[i],
                &wants[i],
                &wants[i],
            ));
        }
        assert!(
            problems.is_empty(),
            "{label}: who hears whom (the spoke's peer {} hears only the spoke {}, \
             and is heard by it alone; probes found no path for {unreached:?}):\n{}\n{}",
            NAMES[spoke_peer],
            NAMES[spoke],
            problems.join("\n"),
            all_logs()
        );
    });

    if reversed {
        let said_hub = |srv: &Server, dir: &str| {
            srv.log()
                .lines()
                .any(|l| l.contains(&format!("{dir} [CONNECT")) && l.contains("\"is_hub\":true"))
        };
        if a_imp == Impl::NatsServer {
            assert!(
                said_hub(&a, "<<-"),
                "{label}: A traced no received CONNECT with \"is_hub\":true\n{}",
                all_logs()
            );
        }
        if s_imp.is_canopy() {
            assert!(
                said_hub(&s, "->>"),
                "{label}: S traced no sent CONNECT with \"is_hub\":true\n{}",
                all_logs()
            );
        }
    }
}

/// Variants: `s_<soliciting side with hub: true>_a_<accepting side>`, and
/// `default_roles_...` controls without `hub: true` (the same checks with
/// the roles the other way round).
mod hub_true_reverses_roles {
    use super::roles;
    use canopy_tests::Impl::{Canopy, NatsServer};

    /// The reference: nats-server on both sides.
    #[test]
    fn s_nats_a_nats() {
        roles(NatsServer, NatsServer, true);
    }
    #[test]
    fn s_canopy_a_nats() {
        roles(Canopy, NatsServer, true);
    }
    #[test]
    fn s_nats_a_canopy() {
        roles(NatsServer, Canopy, true);
    }
    #[test]
    fn s_canopy_a_canopy() {
        roles(Canopy, Canopy, true);
    }
    #[test]
    fn default_roles_s_nats_a_nats() {
        roles(NatsServer, NatsServer, false);
    }
    #[test]
    fn default_roles_s_canopy_a_nats() {
        roles(Canopy, NatsServer, false);
    }
    #[test]
    fn default_roles_s_nats_a_canopy() {
        roles(NatsServer, Canopy, false);
    }
}
