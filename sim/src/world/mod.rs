//! The world: engines, client models, simulated TCP connections between
//! them, and one event queue ordered by (time, sequence). The clock jumps
//! from event to event; nothing reads the real clock and nothing iterates a
//! hash map.
//!
//! Every engine call goes through one wrapper that catches panics (an
//! engine panic is a violation, reported with the seed). After every engine
//! input the world drains actions exactly as a driver does (`Flush` →
//! `take_outbound`, write, `handle_written` for what the socket accepted;
//! `Close`; `PauseReading`), then checks the outbound bound and re-arms the
//! engine's timer.
//!
//! This module holds the world and its event loop; `engine` the driver side
//! of each engine, `conn` the simulated connections, `inject` what faults
//! do.

mod conn;
mod engine;
mod gateway;
mod inject;
mod operator;
mod peer;
mod tls;

use crate::checker::Checker;
use crate::client_model::{ClientModel, ClientSpec};
use crate::clock::EventQueue;
use crate::faults::Fault;
use crate::link::{Arrival, Dir, LinkRules};
use crate::rng::SimRng;
use crate::trace::Trace;
use bytes::Bytes;
use canopy_core::{ConnId, Instant, Options, Server};
use conn::Conn;
pub use engine::Node;
pub use gateway::{CALM_HOLD, PROBE_PREFIX};
use peer::PeerConn;
pub use peer::{route_host, ROUTE_PORT};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A hook applied to every engine the world starts (mutation tests use it
/// to switch deliberate bugs on).
pub type EngineSetup = Arc<dyn Fn(&mut Server) + Send + Sync>;
/// How often a fault with no target yet is retried, and how many times.
const FAULT_RETRY: (Duration, u32) = (Duration::from_millis(100), 20);

/// The largest read handed to engine `node` for its connection `conn`:
/// what the engine asks for ([`Server::read_cap`]); 4 KiB while the engine
/// is down (the bytes then go nowhere).
fn read_cap(nodes: &[engine::Node], node: usize, conn: Option<ConnId>) -> usize {
    match (&nodes[node].server, conn) {
        (Some(server), Some(conn)) => server.read_cap(conn),
        _ => 4096,
    }
}

/// Moves the ops whose last byte is at or before stream offset `end` from
/// `pending` to `done`: the ops one read completed.
fn ops_through<T>(
    pending: &mut std::collections::VecDeque<(u64, T)>,
    end: u64,
    done: &mut Vec<(u64, T)>,
) {
    while pending.front().is_some_and(|&(o, _)| o <= end) {
        if let Some(op) = pending.pop_front() {
            done.push(op);
        }
    }
}

#[derive(Debug)]
enum Ev {
    Accept(u64),
    Arrive {
        conn: u64,
        dir: Dir,
        data: Option<Bytes>,
    },
    ReadResume {
        conn: u64,
        dir: Dir,
    },
    EngineTimer {
        node: usize,
        gen: u32,
    },
    EngineRestart {
        node: usize,
        gen: u32,
    },
    /// A node that shut down gracefully goes away.
    EngineStop {
        node: usize,
        gen: u32,
        down_for: Duration,
    },
    ClientWake(usize),
    Reconnect(usize),
    CloseDeadline(u64),
    ResetNow(u64),
    RestoreRules(u64),
    /// A partition ended: send what queued up.
    Pump(u64),
    Fault {
        fault: Fault,
        tries: u32,
    },
    /// TLS worlds: by now engine `node` (incarnation `gen`) must have
    /// closed `conn`, whose handshake stalled.
    TlsCheck {
        node: usize,
        gen: u32,
        conn: ConnId,
        /// The world connection.
        world: u64,
    },
    /// TLS worlds: a probe that gets TLS first wrong connects.
    ProbeStart(u64),
    /// Bytes (or the end of stream) reach a probe or its engine.
    ProbeArrive {
        probe: u64,
        to_engine: bool,
        data: Option<Bytes>,
    },
    /// The verdict on a probe.
    ProbeCheck(u64),
}

impl Ev {
    /// Whether the event is traffic or client activity (what
    /// [`World::run_until_idle`] waits for), as opposed to timers.
    fn is_activity(&self) -> bool {
        match self {
            Ev::Accept(_)
            | Ev::Arrive { .. }
            | Ev::ReadResume { .. }
            | Ev::EngineRestart { .. }
            | Ev::EngineStop { .. }
            | Ev::ClientWake(_)
            | Ev::Reconnect(_)
            | Ev::CloseDeadline(_)
            | Ev::ResetNow(_)
            | Ev::Pump(_)
            | Ev::ProbeArrive { .. } => true,
            Ev::EngineTimer { .. }
            | Ev::RestoreRules(_)
            | Ev::Fault { .. }
            | Ev::TlsCheck { .. }
            | Ev::ProbeStart(_)
            | Ev::ProbeCheck(_) => false,
        }
    }
}

/// Counters of what happened in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Events processed.
    pub events: u64,
    /// Faults that found a target and took effect.
    pub faults_fired: u64,
    /// Faults fired, by [`crate::faults::KINDS`] index.
    pub faults_by_kind: [u64; crate::faults::KINDS.len()],
    /// Connections reset (faults and close deadlines).
    pub resets: u64,
    /// Engine crashes.
    pub crashes: u64,
    /// Connections the engine accepted.
    pub accepts: u64,
    /// Connection attempts refused (engine down).
    pub refused: u64,
    /// Slow consumers the engine reported.
    pub slow_consumers: u64,
    /// Connections the engine closed itself.
    pub engine_closes: u64,
    /// Fast-producer pauses.
    pub pauses: u64,
    /// Bytes carried client to server.
    pub bytes_up: u64,
    /// Bytes carried server to client.
    pub bytes_down: u64,
    /// Largest outbound pending bytes seen on any connection.
    pub max_pending_seen: usize,
    /// Route connections accepted.
    pub route_accepts: u64,
    /// Route dials that failed (target down or dial fault).
    pub dial_failures: u64,
    /// Bytes carried between engines.
    pub bytes_routed: u64,
    /// Graceful shutdowns.
    pub shutdowns: u64,
    /// Link directions where S2 came on (as the observer read them).
    pub s2_directions: u64,
    /// Leaf links upgraded to WebSocket (the 101 read).
    pub ws_links: u64,
    /// `--operator` worlds: rogue logins refused.
    pub rogue_refusals: u64,
}

/// The whole simulated system.
pub struct World {
    /// The master seed.
    pub seed: u64,
    queue: EventQueue<Ev>,
    activity: u64,
    /// Engines.
    pub nodes: Vec<Node>,
    /// Client models.
    pub clients: Vec<ClientModel>,
    /// Base link rules per client.
    pub links: Vec<LinkRules>,
    /// The node each client connects to.
    client_home: Vec<usize>,
    client_conn: Vec<Option<u64>>,
    client_wake: Vec<Option<Instant>>,
    conns: BTreeMap<u64, Conn>,
    peers: BTreeMap<u64, PeerConn>,
    /// Base link rules of route connections (pipe 0: dialer to acceptor).
    pub route_rules: LinkRules,
    /// The clusters: groups of nodes that must end fully meshed by routes
    /// (all nodes in one group unless the topology says otherwise; a
    /// super-cluster will list one group per cluster).
    pub clusters: Vec<Vec<usize>>,
    /// Leaf links that must be up after healing: (dialer, acceptor).
    pub leaf_edges: Vec<(usize, usize)>,
    /// The leaf links form a ring: after healing at most two of its three
    /// links may be up (loop detection refuses the one that closes it).
    pub leaf_ring: bool,
    /// Gateway mode: the nodes of each gateway cluster (`A`, `B`, `C`;
    /// empty in the other modes), set by [`World::set_gateways`].
    pub gateways: Vec<Vec<usize>>,
    /// Gateway dials between two gateway clusters fail until this time
    /// (cluster partitions): (cluster, cluster, until).
    gateway_block: Vec<(usize, usize, Instant)>,
    /// Server-to-server connections that closed (either end), ever.
    link_closes: u64,
    /// Nodes that start later than time zero (leaf start orders).
    start_at: Vec<Option<Instant>>,
    /// Dials from or to a node fail until this time (dial faults).
    dial_block: Vec<Instant>,
    next_conn: u64,
    /// The reference model and its violations.
    pub checker: Checker,
    /// Event trace (hash, and the last events in replay mode).
    pub trace: Trace,
    /// Counters.
    pub stats: WorldStats,
    step: u64,
    faults_enabled: bool,
    engine_setup: Option<EngineSetup>,
    scratch: Vec<Bytes>,
    arrivals: Vec<Arrival>,
    /// Bytes an open connection may hold above max_pending. The engine
    /// closes a consumer as soon as a message takes it over max_pending, so
    /// an open connection can only be over by control lines queued without
    /// that check (PONG, PING, INFO).
    pub pending_slack: usize,
    /// Events allowed before the run counts as a livelock.
    pub event_limit: u64,
    /// Every delivery with an id as (client, message), when enabled.
    pub delivery_log: Option<Vec<(usize, crate::client_model::MsgKey)>>,
    /// TLS worlds (`--tls`): the plan, the clients' TLS, the probes.
    tls: Option<tls::WorldTls>,
    /// `--s2`/`--ws` worlds: the link settings drawn and their faults.
    layers: Option<crate::links::LinksPlan>,
    /// `--operator` worlds: accounts of clients, rogues.
    operator: Option<operator::OperatorWorld>,
}

impl World {
    /// A world with `nodes` engines started at time zero with `options`.
    pub fn new(seed: u64, options: Vec<Options>, ring: usize) -> World {
        let all: Vec<usize> = (0..options.len()).collect();
        let mut w = World {
            clusters: vec![all],
            seed,
            queue: EventQueue::default(),
            activity: 0,
            nodes: Vec::new(),
            clients: Vec::new(),
            links: Vec::new(),
            client_home: Vec::new(),
            client_conn: Vec::new(),
            client_wake: Vec::new(),
            conns: BTreeMap::new(),
            peers: BTreeMap::new(),
            route_rules: LinkRules::default(),
            leaf_edges: Vec::new(),
            leaf_ring: false,
            gateways: Vec::new(),
            gateway_block: Vec::new(),
            link_closes: 0,
            start_at: Vec::new(),
            dial_block: Vec::new(),
            next_conn: 1,
            checker: Checker::default(),
            trace: Trace::new(ring),
            stats: WorldStats::default(),
            step: 0,
            faults_enabled: true,
            engine_setup: None,
            scratch: Vec::new(),
            arrivals: Vec::new(),
            pending_slack: 2048,
            event_limit: 5_000_000,
            delivery_log: None,
            tls: None,
            layers: None,
            operator: None,
        };
        for options in options {
            w.nodes.push(Node {
                server: None,
                gen: 0,
                options,
                timer_at: None,
                conns: BTreeMap::new(),
                incs: BTreeMap::new(),
                peer_conns: BTreeMap::new(),
                shutting_down: false,
                system_subs: 0,
                shadow: None,
                probe_conns: BTreeMap::new(),
                watch: BTreeMap::new(),
                stalls: BTreeMap::new(),
            });
            w.dial_block.push(Instant::ZERO);
            w.start_at.push(None);
        }
        w
    }

    /// Makes this an `--s2`/`--ws` world (before [`World::start`]): the
    /// options already carry the settings `plan` drew; new links with a
    /// layer get its faults when `faults`.
    pub fn enable_links(&mut self, mut plan: crate::links::LinksPlan, faults: bool) {
        plan.faults = faults;
        self.layers = Some(plan);
    }

    /// The link settings of an `--s2`/`--ws` world.
    pub fn links_plan(&self) -> Option<&crate::links::LinksPlan> {
        self.layers.as_ref()
    }

    /// Node `node` starts at `at` instead of with [`World::start`].
    pub fn start_later(&mut self, node: usize, at: Instant) {
        self.start_at[node] = Some(at);
    }

    /// Installs a hook run on every engine started from now on, and on the
    /// running ones.
    pub fn set_engine_setup(&mut self, setup: Option<EngineSetup>) {
        if let Some(f) = &setup {
            for n in &mut self.nodes {
                if let Some(s) = n.server.as_mut() {
                    f(s);
                }
            }
        }
        self.engine_setup = setup;
    }

    /// Starts every engine that is not running.
    pub fn start(&mut self) {
        for node in 0..self.nodes.len() {
            if let Some(at) = self.start_at[node].take() {
                let gen = self.nodes[node].gen;
                self.schedule(at, Ev::EngineRestart { node, gen });
                continue;
            }
            if self.nodes[node].server.is_none() {
                self.start_engine(node);
            }
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.queue.now()
    }

    /// Adds a client that connects at `at` to node 0 over `rules`.
    pub fn add_client(&mut self, spec: ClientSpec, rng: SimRng, rules: LinkRules, at: Instant) {
        self.add_client_to(0, spec, rng, rules, at);
    }

    /// Adds a client whose home is `node`, connecting at `at` over `rules`.
    pub fn add_client_to(
        &mut self,
        node: usize,
        spec: ClientSpec,
        rng: SimRng,
        rules: LinkRules,
        at: Instant,
    ) {
        let idx = self.clients.len();
        self.clients.push(ClientModel::new(idx, spec, rng));
        self.client_home.push(node);
        self.links.push(rules);
        self.client_conn.push(None);
        self.client_wake.push(None);
        self.schedule(at, Ev::Reconnect(idx));
    }

    /// Index of the client called `name`.
    pub fn client_index(&self, name: &str) -> Option<usize> {
        self.clients.iter().position(|c| c.spec.name == name)
    }

    /// Schedules a fault.
    pub fn schedule_fault(&mut self, at: Instant, fault: Fault) {
        self.schedule(at, Ev::Fault { fault, tries: 0 });
    }

    /// Whether a violation was found.
    pub fn failed(&self) -> bool {
        !self.checker.violations.is_empty()
    }

    /// Processes events up to and including `until`, then moves the clock
    /// there. Stops early at the first violation.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(at) = self.queue.peek_time() {
            if self.failed() {
                return;
            }
            if at > until {
                break;
            }
            self.step_event();
        }
        self.queue.advance_to(until);
    }

    /// Processes events until no traffic or client activity is pending
    /// (engine timers may remain), at most `limit` of virtual time. Returns
    /// whether it became idle.
    pub fn run_until_idle(&mut self, limit: Duration) -> bool {
        let end = self.now() + limit;
        while self.activity > 0 {
            match self.queue.peek_time() {
                Some(at) if at <= end && !self.failed() => self.step_event(),
                Some(_) | None => return false,
            }
        }
        true
    }

    /// Lets `f` act on client `c` (scenario commands), then sends what it
    /// wrote.
    pub fn with_client(&mut self, c: usize, f: impl FnOnce(&mut ClientModel, Instant)) {
        let now = self.now();
        f(&mut self.clients[c], now);
        self.flush_client(c);
    }

    /// Turns faults off and repairs everything: link rules back to base,
    /// partitions and stalls over, armed resets disarmed, crashed engines
    /// restarted.
    pub fn heal(&mut self) {
        self.faults_enabled = false;
        let now = self.now();
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            let base = self.links[conn.client];
            conn.up.rules = base.up;
            conn.down.rules = base.down;
            conn.up.reset_after = None;
            conn.down.reset_after = None;
            let held = conn.up.hold_until > now || conn.down.hold_until > now;
            conn.up.hold_until = now;
            conn.down.hold_until = now;
            let stalled = conn.down.paused_until > now;
            if stalled {
                conn.down.paused_until = now;
            }
            if held {
                self.schedule(now, Ev::Pump(id));
            }
            if stalled {
                self.schedule(
                    now,
                    Ev::ReadResume {
                        conn: id,
                        dir: Dir::Down,
                    },
                );
            }
        }
        let ids: Vec<u64> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(kind) = self.peers.get(&id).map(|c| c.kind) else {
                continue;
            };
            let base = self.link_rules(kind);
            let Some(conn) = self.peers.get_mut(&id) else {
                continue;
            };
            let mut held = false;
            for p in &mut conn.pipes {
                p.reset_after = None;
                held |= p.hold_until > now;
                p.hold_until = now;
            }
            self.set_peer_rules(id, base);
            if held {
                self.schedule(now, Ev::Pump(id));
            }
        }
        for b in &mut self.dial_block {
            *b = now;
        }
        self.gateway_block.clear();
        for node in 0..self.nodes.len() {
            if self.nodes[node].server.is_none() {
                self.start_engine(node);
            }
        }
    }

    /// Whether every node of each cluster is up and routed to every other
    /// node of its cluster (always true for a one-node cluster).
    pub fn mesh_complete(&self) -> bool {
        let ids: Vec<Option<String>> = self
            .nodes
            .iter()
            .map(|node| node.server.as_ref().map(|s| s.server_id().to_string()))
            .collect();
        self.clusters.iter().all(|members| {
            if members.len() < 2 {
                return true;
            }
            members.iter().all(|&a| {
                let Some(server) = self.nodes.get(a).and_then(|n| n.server.as_ref()) else {
                    return false;
                };
                let peers = server.route_peers();
                members.iter().filter(|&&b| b != a).all(|&b| {
                    ids.get(b)
                        .and_then(Option::as_ref)
                        .is_some_and(|id| peers.iter().any(|p| p == id))
                })
            })
        })
    }

    /// Differences between the interest each node holds for each route
    /// and what the model says the peer announced (empty: converged).
    pub fn route_interest_diffs(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.nodes.len() < 2 {
            return out;
        }
        // Pairs of nodes in one cluster are joined by a route.
        let same_cluster = |a: usize, b: usize| {
            self.clusters
                .iter()
                .any(|c| c.contains(&a) && c.contains(&b))
        };
        for from in 0..self.nodes.len() {
            if !(0..self.nodes.len()).any(|to| to != from && same_cluster(from, to)) {
                continue;
            }
            let Some(sender) = self.nodes[from].server.as_ref() else {
                out.push(format!("node {from} is down"));
                continue;
            };
            let gen = self.nodes[from].gen;
            let mut want: Vec<(String, String, Option<String>, u32)> = self
                .checker
                .expected_route_interest(from, gen)
                .into_iter()
                .map(|(s, q, w)| ("$G".to_string(), s, q, w))
                .collect();
            // A hub also announces its spokes' interest (`LS+ <origin>`),
            // which the engine lists among the rest without its origin.
            if !self.leaf_edges.is_empty() {
                want = self
                    .expected_route_wire(from, gen)
                    .into_iter()
                    .map(|((_, s, q), w)| ("$G".to_string(), s, q, w))
                    .collect();
                want.sort();
            }
            for to in 0..self.nodes.len() {
                if to == from || !same_cluster(from, to) {
                    continue;
                }
                let Some(peer) = self.nodes[to].server.as_ref() else {
                    continue;
                };
                let Some(mut got) = peer.route_interest(sender.server_id()) else {
                    out.push(format!("node {to} has no route to node {from}"));
                    continue;
                };
                let system = self.system_account_name();
                // The system account's interest is the sender's own, not
                // the model's: only its presence is checked.
                let own = format!("$SYS.REQ.SERVER.{}.VARZ", sender.server_id());
                let mut told_own = false;
                got.retain(|(account, subject, _, _)| {
                    told_own |= account == system && *subject == own;
                    account != system
                });
                let got = self.operator_route_interest(got);
                if self.nodes[from].system_subs > 0 && !told_own {
                    out.push(format!(
                        "node {to} lacks the system interest of node {from} ({own})"
                    ));
                }
                if got != want {
                    out.push(format!(
                        "route interest differs: node {to} holds {got:?} for node {from}, \
                         which has local interest {want:?}"
                    ));
                }
            }
        }
        out
    }

    /// Whether nothing is in flight on any open connection: no unsent,
    /// in-flight or unread bytes either way, and no engine outbound bytes.
    pub fn drained(&self) -> bool {
        self.peers_drained()
            && self.conns.values().all(|conn| {
                if !(conn.engine_open && conn.client_open) {
                    return true;
                }
                let pending = conn.engine.and_then(|e| {
                    self.nodes[conn.node]
                        .server
                        .as_ref()
                        .and_then(|s| s.conn_pending_bytes(e))
                });
                conn.up.is_empty() && conn.down.is_empty() && pending.unwrap_or(0) == 0
            })
    }

    /// Whether every client is connected (both sides of its connection
    /// open) with its subscriptions confirmed.
    pub fn all_settled(&self) -> bool {
        (0..self.clients.len()).all(|c| self.is_rogue(c) || self.settled(c))
    }

    /// Whether client `c` is connected (both sides of its connection
    /// open) with its subscriptions confirmed.
    pub fn settled(&self, c: usize) -> bool {
        let client = &self.clients[c];
        let open = self.client_conn[c]
            .and_then(|id| self.conns.get(&id))
            .is_some_and(|k| k.engine_open && k.client_open);
        open && !client.is_down() && client.is_settled()
    }

    /// Stops autonomous client activity (publishing, requests, churn).
    pub fn quiet(&mut self) {
        for c in &mut self.clients {
            c.active = false;
        }
        for conn in self.conns.values_mut() {
            conn.quiet_written = conn.up.written;
        }
    }

    /// Checks, at quiescence, that everything converged: every client is
    /// connected with its subscriptions confirmed, every byte a live client
    /// wrote before [`World::quiet`] reached the engine, each engine's
    /// interest equals the model,
    /// and every owed delivery happened.
    pub fn convergence_check(&mut self) {
        self.rogue_check();
        for c in 0..self.clients.len() {
            let client = &self.clients[c];
            if !self.is_rogue(c) && !self.settled(c) {
                let conn = self.client_conn[c].and_then(|id| self.conns.get(&id).map(|k| (id, k)));
                let state = match conn {
                    Some((id, k)) => format!(
                        "connection {id}: engine side open {}, client side open {}",
                        k.engine_open, k.client_open
                    ),
                    None => "no connection".to_string(),
                };
                self.checker.violation(format!(
                    "not converged: client {c} ({}) is not connected with all subscriptions \
                     confirmed (down {}, {state})",
                    client.spec.name,
                    client.is_down()
                ));
            }
        }
        for (&id, conn) in &self.conns {
            if conn.engine_open && conn.client_open && conn.up.read < conn.quiet_written {
                let text = format!(
                    "not converged: connection {id} of client {}: the engine read {} of the {} \
                     bytes written before activity stopped",
                    conn.client, conn.up.read, conn.quiet_written
                );
                self.checker.violation(text);
            }
        }
        for node in 0..self.nodes.len() {
            let gen = self.nodes[node].gen;
            let Some(server) = self.nodes[node].server.as_ref() else {
                self.checker
                    .violation(format!("not converged: node {node} is down"));
                continue;
            };
            let (subs, conns) = self.checker.expected_interest(node, gen);
            // The clients' subscriptions (the system's are the server's own).
            // Operator worlds: accounts come with internal subscriptions
            // as they are first used, so count the clients' own.
            let got_subs = if self.operator.is_some() {
                server.client_subscription_count()
            } else {
                server
                    .subscription_count()
                    .saturating_sub(self.nodes[node].system_subs)
            };
            let got_conns = server.client_count();
            if (subs, conns) != (got_subs, got_conns) {
                self.checker.violation(format!(
                    "interest differs from the model on node {node}: engine has {got_subs} \
                     subscriptions and {got_conns} clients, model {subs} and {conns}"
                ));
            }
        }
        if !self.mesh_complete() {
            self.checker
                .violation("not converged: the route mesh is incomplete".to_string());
        }
        for d in self.route_interest_diffs() {
            self.checker.violation(format!("not converged: {d}"));
        }
        for d in self.leaf_interest_diffs() {
            self.checker.violation(format!("not converged: {d}"));
        }
        for d in self.gateway_mesh_diffs() {
            self.checker.violation(format!("not converged: {d}"));
        }
        for d in self.gateway_interest_diffs() {
            self.checker.violation(format!("not converged: {d}"));
        }
        self.checker.final_check();
    }

    // ---- event loop ---------------------------------------------------------

    fn schedule(&mut self, at: Instant, ev: Ev) {
        if ev.is_activity() {
            self.activity += 1;
        }
        self.queue.schedule(at, ev);
    }

    fn step_event(&mut self) {
        let Some((now, ev)) = self.queue.pop() else {
            return;
        };
        if ev.is_activity() {
            self.activity -= 1;
        }
        self.stats.events += 1;
        if self.stats.events > self.event_limit {
            self.checker.violation(format!(
                "livelock: more than {} events by {:.3}s",
                self.event_limit,
                now.as_nanos() as f64 / 1e9
            ));
            return;
        }
        if self.peer_event(&ev) {
            return;
        }
        match ev {
            Ev::Accept(id) => {
                self.trace.record(now, "accept", id, 0, &[]);
                self.accept(id);
            }
            Ev::Arrive { conn, dir, data } => {
                let tag = match (dir, &data) {
                    (Dir::Up, Some(_)) => "arrive-up",
                    (Dir::Down, Some(_)) => "arrive-down",
                    (Dir::Up, None) => "fin-up",
                    (Dir::Down, None) => "fin-down",
                };
                self.trace
                    .record(now, tag, conn, 0, data.as_deref().unwrap_or_default());
                self.arrive(conn, dir, data);
            }
            Ev::ReadResume { conn, dir } => {
                self.trace.record(now, "resume", conn, dir as u64, &[]);
                match dir {
                    Dir::Up => self.engine_read(conn),
                    Dir::Down => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            if c.slow_read_at == Some(now) {
                                c.slow_read_at = None;
                            }
                        }
                        self.client_read(conn)
                    }
                }
            }
            Ev::EngineTimer { node, gen } => {
                let n = &mut self.nodes[node];
                if n.gen == gen && n.server.is_some() && n.timer_at == Some(now) {
                    n.timer_at = None;
                    self.trace.record(now, "timer", node as u64, 0, &[]);
                    self.step += 1;
                    self.engine(node, |s| s.handle_timeout(now));
                    self.after_engine(node);
                }
            }
            Ev::EngineRestart { node, gen } => {
                if self.nodes[node].gen == gen && self.nodes[node].server.is_none() {
                    self.start_engine(node);
                }
            }
            Ev::EngineStop {
                node,
                gen,
                down_for,
            } => {
                if self.nodes[node].gen == gen && self.nodes[node].shutting_down {
                    self.trace.record(now, "stop", node as u64, 0, &[]);
                    self.crash(node, down_for);
                }
            }
            Ev::ClientWake(c) => {
                if self.client_wake[c] == Some(now) {
                    self.client_wake[c] = None;
                    self.trace.record(now, "wake", c as u64, 0, &[]);
                    self.clients[c].tick(now);
                    self.flush_client(c);
                }
            }
            Ev::Reconnect(c) => {
                if self.clients[c].is_down() && !self.rogue_idle(c) {
                    self.connect(c);
                }
            }
            Ev::CloseDeadline(id) => {
                if self.conns.contains_key(&id) {
                    self.stats.resets += 1;
                    self.trace.record(now, "close-deadline", id, 0, &[]);
                    self.reset_conn(id);
                }
            }
            Ev::ResetNow(id) => {
                // Only if the reset is still armed (healing disarms it).
                let armed = self
                    .conns
                    .get(&id)
                    .is_some_and(|c| c.up.reset_after.is_some() || c.down.reset_after.is_some());
                if armed {
                    self.stats.resets += 1;
                    self.trace.record(now, "reset", id, 0, &[]);
                    self.reset_conn(id);
                }
            }
            Ev::Pump(id) => self.pump_both(id),
            Ev::RestoreRules(id) => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    let base = self.links[conn.client];
                    conn.up.rules = base.up;
                    conn.down.rules = base.down;
                    // A slow reader that is done reads again at once.
                    if conn.down.paused_until > now && conn.down.rules.read_bytes_per_ms == 0 {
                        conn.down.paused_until = now;
                        self.schedule(
                            now,
                            Ev::ReadResume {
                                conn: id,
                                dir: Dir::Down,
                            },
                        );
                    }
                }
            }
            Ev::TlsCheck {
                node,
                gen,
                conn,
                world,
            } => self.tls_check(node, gen, conn, world),
            Ev::ProbeStart(id) => self.probe_start(id),
            Ev::ProbeArrive {
                probe,
                to_engine,
                data,
            } => self.probe_arrive(probe, to_engine, data),
            Ev::ProbeCheck(id) => self.probe_check(id),
            Ev::Fault { fault, tries } => {
                if !self.faults_enabled {
                    return;
                }
                if self.apply_fault(fault) {
                    self.stats.faults_fired += 1;
                    self.stats.faults_by_kind[fault.kind()] += 1;
                    self.trace.note(now, format!("FAULT {fault:?}"));
                    self.trace.record(now, "fault", fault.kind() as u64, 0, &[]);
                } else if tries < FAULT_RETRY.1 {
                    self.schedule(
                        now + FAULT_RETRY.0,
                        Ev::Fault {
                            fault,
                            tries: tries + 1,
                        },
                    );
                }
            }
        }
    }
}
