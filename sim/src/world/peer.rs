//! Simulated TCP connections between engines, of any link kind (cluster
//! routes today; leaf links and gateways are further [`LinkKind`]s):
//! dialing, accepting on the kind's listener, moving bytes both ways
//! through the same pipes and faults as client links, reads on both
//! engines, closes and resets.
//!
//! A peer connection has two engine ends: end 0 dialed (`Action::Dial`,
//! which names the kind), end 1 accepted it on that kind's port. Pipe `i`
//! carries what end `i` writes to end `1 - i` (`Dir::Up` is pipe 0,
//! `Dir::Down` pipe 1). Every byte an engine writes is also read by the
//! kind's wire observer (a [`RouteWire`], in leaf mode on leaf links), so the checker
//! learns which interest and which messages crossed, over which kind of
//! link, and when the peer processed them.

use super::read_cap;
use super::{Ev, World};
use crate::checker::{LinkId, Processed};
use crate::link::{Dir, LinkRules, Pipe};
use crate::link_wire::{LinkPlan, LinkWire, Negotiation, WsPlan};
use crate::rng::{Purpose, SimRng};
use crate::route_wire::{RouteOp, RouteWire};
use crate::tls::RecordCheck;
use bytes::Bytes;
use canopy_core::{ConnId, Instant, LinkKind, ListenerKind};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Route listen port of every simulated node (each node has its own host).
pub const ROUTE_PORT: u16 = 6222;

/// The route address of node `i`: `10.1.0.<i+1>`.
pub fn route_host(node: usize) -> String {
    format!("10.1.0.{}", node + 1)
}

/// One end of a route connection.
#[derive(Debug)]
pub(super) struct REnd {
    pub(super) node: usize,
    pub(super) gen: u32,
    pub(super) engine: Option<ConnId>,
    pub(super) open: bool,
}

/// One simulated connection between two engines.
#[derive(Debug)]
pub(super) struct PeerConn {
    /// What the link is for.
    pub(super) kind: LinkKind,
    pub(super) ends: [REnd; 2],
    pub(super) pipes: [Pipe; 2],
    /// What end `i` writes, as the other end reads it (after its TLS):
    /// the upgrade, frames, S2, then the protocol ([`LinkWire`]).
    wire: [LinkWire; 2],
    /// Both directions' view of the compression negotiation.
    neg: Negotiation,
    /// Where S2 must start in pipe `i` (wire offsets, `true` for the end
    /// of the window), until a read reaches them.
    marks: [Vec<(u64, bool)>; 2],
    /// The dialer reached a websocket port.
    pub(super) ws: bool,
    /// The address the dialer asked for (`host:port`).
    addr: String,
    /// Checker link for the direction end `i` -> end `1 - i`.
    pub(super) links: [Option<LinkId>; 2],
    /// The checker knows the cluster end `i` announced (leaf links).
    announced: [bool; 2],
    pub(super) rng: SimRng,
    /// TLS worlds: the plaintext-on-TLS check of what end `i` writes
    /// (and then the observers read what the reader's shadow decrypts).
    tls: Option<[RecordCheck; 2]>,
    /// TLS worlds: the acceptor reads nothing until then (it must close
    /// the link before).
    pub(super) stall: Option<Instant>,
}

fn pipe_of(dir: Dir) -> usize {
    match dir {
        Dir::Up => 0,
        Dir::Down => 1,
    }
}

fn dir_of(pipe: usize) -> Dir {
    if pipe == 0 {
        Dir::Up
    } else {
        Dir::Down
    }
}

/// The protocol observer of direction `dir` (0: the dialer's writes) of
/// a link of `kind`.
fn wire_of(kind: LinkKind, dir: usize) -> RouteWire {
    match kind {
        LinkKind::Route | LinkKind::Gateway => RouteWire::default(),
        LinkKind::Leaf if dir == 0 => RouteWire::leaf_dialer(),
        LinkKind::Leaf => RouteWire::leaf(),
    }
}

/// The names a kind of link gives its events in traces.
struct Tags {
    accept: &'static str,
    up: &'static str,
    arrive_up: &'static str,
    arrive_down: &'static str,
    fin: &'static str,
    resume: &'static str,
    reset: &'static str,
    read: &'static str,
}

/// Trace tags of `kind` (a route's are those the behaviour fixture was
/// recorded with).
fn tags(kind: LinkKind) -> Tags {
    match kind {
        LinkKind::Route => Tags {
            accept: "route-accept",
            up: "route-up",
            arrive_up: "r-arrive-up",
            arrive_down: "r-arrive-down",
            fin: "r-fin",
            resume: "r-resume",
            reset: "route-reset",
            read: "route-read",
        },
        LinkKind::Leaf => Tags {
            accept: "leaf-accept",
            up: "leaf-up",
            arrive_up: "l-arrive-up",
            arrive_down: "l-arrive-down",
            fin: "l-fin",
            resume: "l-resume",
            reset: "leaf-reset",
            read: "leaf-read",
        },
        LinkKind::Gateway => Tags {
            accept: "gw-accept",
            up: "gw-up",
            arrive_up: "g-arrive-up",
            arrive_down: "g-arrive-down",
            fin: "g-fin",
            resume: "g-resume",
            reset: "gw-reset",
            read: "gw-read",
        },
    }
}

/// The cluster name a node with `options` announces on a leaf link, in
/// its CONNECT (`dialer`) or its hub INFO: its cluster's name; without a
/// cluster, its gateway name if it is a gateway, else its server name
/// when it has remotes (nats-server's stable name for a soliciting
/// server), else none.
fn announced_cluster(options: &canopy_core::Options, dialer: bool) -> String {
    let remotes = options.leaf.as_ref().is_some_and(|l| !l.remotes.is_empty());
    match (&options.cluster, &options.gateway) {
        (Some(c), _) if !c.name.is_empty() => c.name.clone(),
        // A gateway is a cluster of one: its gateway name is its cluster's.
        (_, Some(g)) if !g.name.is_empty() => g.name.clone(),
        _ if dialer || remotes => options.server_name.clone(),
        _ => String::new(),
    }
}

/// The listener a dial of `kind` reaches.
fn listener_of(kind: LinkKind) -> ListenerKind {
    match kind {
        LinkKind::Route => ListenerKind::Route,
        LinkKind::Leaf => ListenerKind::Leaf,
        LinkKind::Gateway => ListenerKind::Gateway,
    }
}

impl World {
    /// Where node `n` listens for links of `kind`, if it does.
    fn listen_addr(&self, kind: LinkKind, n: usize) -> Option<(String, u16)> {
        match kind {
            LinkKind::Route => self.nodes[n]
                .options
                .cluster
                .as_ref()
                .map(|c| (route_host(n), c.port)),
            LinkKind::Leaf => self.nodes[n]
                .options
                .leaf
                .as_ref()
                .filter(|l| l.port != 0)
                .map(|l| (route_host(n), l.port)),
            LinkKind::Gateway => self.nodes[n]
                .options
                .gateway
                .as_ref()
                .filter(|g| g.port != 0)
                .map(|g| (route_host(n), g.port)),
        }
    }

    /// Where node `n` listens for WebSocket upgrades, if it does.
    fn ws_listen_addr(&self, n: usize) -> Option<(String, u16)> {
        self.nodes[n]
            .options
            .websocket
            .as_ref()
            .map(|w| (w.host.clone(), w.port))
    }

    /// The node listening for `kind` at `addr` (`host:port`); a leaf
    /// remote may dial a websocket port.
    fn dial_target(&self, kind: LinkKind, addr: &str) -> Option<usize> {
        self.dial_target_ws(kind, addr).map(|(n, _)| n)
    }

    /// [`World::dial_target`], and whether `addr` is its websocket port.
    fn dial_target_ws(&self, kind: LinkKind, addr: &str) -> Option<(usize, bool)> {
        let (host, port) = addr.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let at = |a: Option<(String, u16)>| a.is_some_and(|(h, p)| p == port && h == host);
        (0..self.nodes.len()).find_map(|n| {
            if at(self.listen_addr(kind, n)) {
                Some((n, false))
            } else if kind == LinkKind::Leaf && at(self.ws_listen_addr(n)) {
                Some((n, true))
            } else {
                None
            }
        })
    }

    /// The remote of node `a` that dials `addr` (or, for an address the
    /// hub cluster gossiped, the one whose configured hub is in `b`'s
    /// cluster).
    fn remote_for(
        &self,
        a: usize,
        b: usize,
        addr: &str,
    ) -> Option<&canopy_core::RemoteLeafOptions> {
        let remotes = self.nodes[a]
            .options
            .leaf
            .as_ref()
            .map(|l| l.remotes.as_slice())
            .unwrap_or_default();
        remotes
            .iter()
            .find(|r| r.urls.iter().any(|u| u.host_port() == addr))
            .or_else(|| {
                remotes.iter().find(|r| {
                    r.urls.iter().any(|u| {
                        self.dial_target(LinkKind::Leaf, &u.host_port())
                            .is_some_and(|t| self.same_cluster(t, b))
                    })
                })
            })
    }

    /// What the link of `kind` that node `a` dials to node `b` at `addr`
    /// is configured with, for its observers.
    fn link_plan(
        &self,
        kind: LinkKind,
        a: usize,
        b: Option<usize>,
        addr: &str,
        ws: bool,
    ) -> LinkPlan {
        let Some(b) = b else {
            return LinkPlan::default();
        };
        let (oa, ob) = (&self.nodes[a].options, &self.nodes[b].options);
        let remote = (kind == LinkKind::Leaf)
            .then(|| self.remote_for(a, b, addr))
            .flatten();
        let s2 = match kind {
            LinkKind::Gateway => None,
            LinkKind::Route => Some([
                oa.cluster
                    .as_ref()
                    .map(|c| c.compression.clone())
                    .unwrap_or_default(),
                ob.cluster
                    .as_ref()
                    .map(|c| c.compression.clone())
                    .unwrap_or_default(),
            ]),
            LinkKind::Leaf => Some([
                remote.map(|r| r.compression.clone()).unwrap_or_default(),
                ob.leaf
                    .as_ref()
                    .map(|l| l.compression.clone())
                    .unwrap_or_default(),
            ]),
        };
        let ws = ws.then(|| {
            let asked = remote.and_then(|r| r.websocket.as_ref());
            WsPlan {
                ask_compress: asked.is_some_and(|w| w.compression),
                ask_no_masking: asked.is_some_and(|w| w.no_masking),
                hub_compress: ob.websocket.as_ref().is_some_and(|w| w.compression),
            }
        });
        LinkPlan {
            leaf: kind == LinkKind::Leaf,
            s2,
            ws,
            max_payload: [oa.max_payload, ob.max_payload],
            nodes: [a, b],
        }
    }

    /// The fault-free rules of links of `kind`.
    pub(super) fn link_rules(&self, kind: LinkKind) -> LinkRules {
        match kind {
            LinkKind::Route | LinkKind::Leaf | LinkKind::Gateway => self.route_rules,
        }
    }

    /// Engine `node` asked to dial `addr` for a link of `kind` as
    /// connection `e`: the SYN takes one delay; the accept (or the
    /// refusal) happens on arrival.
    pub(super) fn dial(&mut self, node: usize, e: ConnId, kind: LinkKind, addr: &str) {
        let now = self.now();
        let id = self.next_conn;
        self.next_conn += 1;
        let (target, ws) = match self.dial_target_ws(kind, addr) {
            Some((t, ws)) => (Some(t), ws),
            None => (None, false),
        };
        let rules = self.link_rules(kind);
        let neg = Negotiation::new(self.link_plan(kind, node, target, addr, ws));
        let wire = [
            LinkWire::new(0, wire_of(kind, 0), &neg),
            LinkWire::new(1, wire_of(kind, 1), &neg),
        ];
        let conn = PeerConn {
            kind,
            ends: [
                REnd {
                    node,
                    gen: self.nodes[node].gen,
                    engine: Some(e),
                    open: false,
                },
                REnd {
                    node: target.unwrap_or(usize::MAX),
                    gen: 0,
                    engine: None,
                    open: false,
                },
            ],
            pipes: [Pipe::new(rules.up), Pipe::new(rules.down)],
            wire,
            neg,
            marks: [Vec::new(), Vec::new()],
            ws,
            addr: addr.to_string(),
            links: [None, None],
            announced: [false; 2],
            rng: SimRng::new(self.seed, Purpose::Link, id),
            tls: None,
            stall: None,
        };
        self.peers.insert(id, conn);
        if let Some(plan) = self.tls_plan() {
            // A leaf hub sends its INFO before TLS unless TLS comes first
            // (always on a websocket port).
            let hub_info = kind == LinkKind::Leaf && !plan.leaf_first && !ws;
            let checks = [RecordCheck::new(false), RecordCheck::new(hub_info)];
            let (split, reset, stall) = self.tls_peer_faults(rules.up.delay);
            if let Some(conn) = self.peers.get_mut(&id) {
                conn.tls = Some(checks);
                for p in &mut conn.pipes {
                    p.split_until = split;
                }
                if let Some((p, at)) = reset {
                    conn.pipes[p].reset_after = Some(at);
                }
                if let Some(until) = stall {
                    // The acceptor reads nothing for a while: the dialer's
                    // ClientHello (or, behind a leaf hub's INFO, the
                    // remote's) waits unread.
                    conn.stall = Some(until);
                    conn.pipes[0].paused_until = until;
                }
            }
            if let Some(until) = stall {
                self.schedule(
                    until,
                    Ev::ReadResume {
                        conn: id,
                        dir: Dir::Up,
                    },
                );
            }
        }
        self.links_conn_faults(id, kind);
        self.trace.record(
            now,
            "dial",
            node as u64,
            target.map_or(u64::MAX, |t| t as u64),
            &[],
        );
        self.schedule(now + rules.up.delay, Ev::Accept(id));
    }

    /// `--s2`/`--ws` worlds without TLS (whose own faults do this): a
    /// new link with a layer below the protocol (a leaf link, a route
    /// that may compress) is sometimes read a byte at a time at first, or
    /// reset within its first bytes, while faults are on.
    fn links_conn_faults(&mut self, id: u64, kind: LinkKind) {
        if self.tls.is_some() || !self.faults_enabled {
            return;
        }
        let Some(plan) = self.layers.as_mut().filter(|l| l.faults) else {
            return;
        };
        let layered = match kind {
            LinkKind::Leaf => true,
            LinkKind::Route => plan.s2,
            LinkKind::Gateway => false,
        };
        if !layered {
            return;
        }
        let (split, reset) = plan.conn_faults();
        if let Some(conn) = self.peers.get_mut(&id) {
            for p in &mut conn.pipes {
                p.split_until = split;
            }
            if let Some((p, at)) = reset {
                conn.pipes[p].reset_after = Some(at);
            }
        }
    }

    /// The dial reaches its target: accepted if the target is up and no
    /// dial fault blocks either end, refused otherwise.
    pub(super) fn peer_accept(&mut self, id: u64) {
        let now = self.now();
        let Some(conn) = self.peers.get(&id) else {
            return;
        };
        let kind = conn.kind;
        let (a, a_gen, e) = (conn.ends[0].node, conn.ends[0].gen, conn.ends[0].engine);
        let b = conn.ends[1].node;
        let b_port = conn
            .addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(ROUTE_PORT);
        let listener = if conn.ws {
            ListenerKind::Websocket
        } else {
            listener_of(kind)
        };
        let Some(e) = e else {
            self.peers.remove(&id);
            return;
        };
        if self.nodes[a].gen != a_gen || self.nodes[a].server.is_none() {
            // The dialer crashed meanwhile.
            self.peers.remove(&id);
            return;
        }
        let blocked = |w: &World, n: usize| n < w.nodes.len() && w.dial_block[n] > now;
        // A partition between two gateway clusters refuses their dials.
        let cut = kind == LinkKind::Gateway && self.gateway_blocked(a, b);
        let up = b < self.nodes.len()
            && self.nodes[b].server.is_some()
            && !self.nodes[b].shutting_down
            && !blocked(self, a)
            && !blocked(self, b)
            && !cut;
        if !up {
            self.stats.dial_failures += 1;
            self.peers.remove(&id);
            self.trace.record(now, "dial-failed", a as u64, id, &[]);
            self.step += 1;
            self.engine(a, |s| s.handle_dial_failed(e, now));
            self.after_engine(a);
            return;
        }
        self.step += 1;
        let a_addr = SocketAddr::from(([10, 1, 0, a as u8 + 1], 50_000 + (id % 10_000) as u16));
        let b_addr = SocketAddr::from(([10, 1, 0, b as u8 + 1], b_port));
        let Some(be) = self.engine(b, |s| s.handle_accept(listener, a_addr, now)) else {
            return;
        };
        self.stats.route_accepts += 1;
        let b_gen = self.nodes[b].gen;
        let l0 = self.checker.open_link((a, a_gen), (b, b_gen), kind);
        let l1 = self.checker.open_link((b, b_gen), (a, a_gen), kind);
        if kind == LinkKind::Leaf {
            self.leaf_roles(id, a, b, l0, l1);
        }
        if kind == LinkKind::Gateway {
            // The dialer's direction is its outbound link.
            self.checker.gateway_link(l0);
        }
        if let Some(conn) = self.peers.get_mut(&id) {
            conn.ends[0].open = true;
            conn.ends[1] = REnd {
                node: b,
                gen: b_gen,
                engine: Some(be),
                open: true,
            };
            conn.links = [Some(l0), Some(l1)];
        }
        self.nodes[a].peer_conns.insert(e, (id, 0));
        self.nodes[b].peer_conns.insert(be, (id, 1));
        self.shadow_accepted(b, be, listener);
        self.trace
            .record(now, tags(kind).up, a as u64, b as u64, &[]);
        self.engine(a, |s| s.handle_dialed(e, b_addr, now));
        // Its ClientHello was drawn in that call: the shadow's now.
        let (addr, stall, ws) = self
            .peers
            .get(&id)
            .map(|c| (c.addr.clone(), c.stall, c.ws))
            .unwrap_or_default();
        self.shadow_dialed(a, e, kind, &addr, ws);
        if let Some(at) = stall {
            // The acceptor must give up on it with `TLS Handshake
            // Failure`; the dialer gives up too (its timer, or the
            // acceptor's close) and dials again.
            self.watch_stall(b, be, id, at);
        }
        self.after_engine(b);
        self.after_engine(a);
    }

    /// Tells the checker who is the hub of leaf connection `id` (dialed by
    /// node `a` to node `b`; `l0` its direction from the dialer, `l1` back)
    /// and which subjects each end's rules keep off the link, from the
    /// dialer's remote for the dialed address (or, for an address the hub
    /// cluster gossiped, the remote whose configured hub is in `b`'s
    /// cluster): the acceptor is the hub unless the remote says `hub:
    /// true`; the dialer sends nothing its `deny_exports` names and tells
    /// no interest its `deny_imports` names, and the acceptor (told them
    /// in CONNECT as `deny_pub`) sends nothing its `deny_imports` names.
    fn leaf_roles(&mut self, id: u64, a: usize, b: usize, l0: LinkId, l1: LinkId) {
        let Some(addr) = self.peers.get(&id).map(|c| c.addr.clone()) else {
            return;
        };
        let remote = self.remote_for(a, b, &addr);
        let (hub, exports, imports) = remote.map_or((false, Vec::new(), Vec::new()), |r| {
            (r.hub, r.deny_exports.clone(), r.deny_imports.clone())
        });
        self.checker.leaf_link(l0, hub, exports, imports.clone());
        self.checker.leaf_link(l1, !hub, imports, Vec::new());
    }

    /// Engine `node` has bytes for its end `end` of route `id`.
    pub(super) fn peer_flush(&mut self, node: usize, c: ConnId, id: u64, end: usize) {
        let now = self.now();
        let mut chunks = std::mem::take(&mut self.scratch);
        self.engine(node, |s| s.take_outbound(c, &mut chunks, now));
        let mut plaintext = None;
        if let Some(conn) = self.peers.get_mut(&id) {
            // The observers read what the reader reads (decrypted by its
            // shadow over TLS), when it reads it.
            for chunk in chunks.drain(..) {
                if let Some(checks) = conn.tls.as_mut() {
                    if let Err(text) = checks[end].feed(&chunk) {
                        plaintext.get_or_insert(text);
                    }
                }
                conn.pipes[end].write(chunk);
            }
            if let Some(text) = plaintext {
                let to = conn.ends[1 - end].node;
                self.checker.violation(format!(
                    "plaintext on a TLS link: node {node} wrote to node {to} on a {}: {text}",
                    conn.kind.name()
                ));
            }
        }
        chunks.clear();
        self.scratch = chunks;
    }

    /// What the observer of end `end`'s writes found: broken protocol,
    /// the cluster a leaf end announced.
    fn peer_observed(&mut self, node: usize, id: u64, end: usize) {
        if let Some(conn) = self.peers.get_mut(&id) {
            if let Some(text) = conn.wire[end].nats.broken.take() {
                self.checker.violation(format!(
                    "node {node} wrote bad {} protocol: {text}",
                    conn.kind.name()
                ));
            }
            let cluster = conn.wire[end]
                .nats
                .cluster
                .as_deref()
                .filter(|_| !conn.announced[end]);
            if let (Some(cluster), Some(link)) = (cluster, conn.links[end]) {
                conn.announced[end] = true;
                self.checker.link_cluster(link, cluster);
                // Its cluster's name; without one, its server name in
                // CONNECT or when it has remotes, else none.
                let want = announced_cluster(&self.nodes[node].options, end == 0);
                if cluster != want {
                    self.checker.violation(format!(
                        "node {node} announced cluster {cluster:?} on a leaf link, want {want:?}"
                    ));
                }
            }
        }
    }

    /// Moves unsent bytes of pipe `p` onto the wire and reports what the
    /// writer's socket accepted.
    pub(super) fn peer_pump(&mut self, id: u64, p: usize) {
        let now = self.now();
        let Some(conn) = self.peers.get_mut(&id) else {
            return;
        };
        let accepted = conn.pipes[p].pump(now, &mut conn.rng, &mut self.arrivals);
        let writer = (conn.ends[p].node, conn.ends[p].engine, conn.ends[p].open);
        let mut arrivals = std::mem::take(&mut self.arrivals);
        for (at, data) in arrivals.drain(..) {
            self.schedule(
                at,
                Ev::Arrive {
                    conn: id,
                    dir: dir_of(p),
                    data,
                },
            );
        }
        self.arrivals = arrivals;
        if let (node, Some(e), true) = writer {
            if accepted > 0 {
                self.engine(node, |s| s.handle_written(e, accepted, now));
            }
        }
    }

    /// Pumps both pipes and lets both engines act (after a partition).
    pub(super) fn peer_pump_both(&mut self, id: u64) {
        self.peer_pump(id, 0);
        self.peer_pump(id, 1);
        let Some(conn) = self.peers.get(&id) else {
            return;
        };
        let nodes = [conn.ends[0].node, conn.ends[1].node];
        for n in nodes {
            if n < self.nodes.len() {
                self.after_engine(n);
            }
        }
    }

    pub(super) fn peer_arrive(&mut self, id: u64, dir: Dir, data: Option<Bytes>) {
        let p = pipe_of(dir);
        let Some(conn) = self.peers.get_mut(&id) else {
            return;
        };
        if !conn.ends[1 - p].open {
            return;
        }
        if let Some(d) = &data {
            self.stats.bytes_routed += d.len() as u64;
        }
        conn.pipes[p].arrive(data);
        self.peer_read(id, p);
    }

    /// The reader of pipe `p` reads what it may now, one read at a time,
    /// and the checker learns which route ops it processed: what its
    /// observer ([`LinkWire`]) took apart of the bytes read (decrypted by
    /// the reader's shadow over TLS) was processed in that read.
    pub(super) fn peer_read(&mut self, id: u64, p: usize) {
        let now = self.now();
        let r = 1 - p;
        let mut done: Vec<(u64, RouteOp)> = Vec::new();
        loop {
            let Some(conn) = self.peers.get_mut(&id) else {
                return;
            };
            if !conn.ends[r].open {
                return;
            }
            let (node, e, writer) = (conn.ends[r].node, conn.ends[r].engine, conn.ends[p].node);
            let cap = read_cap(&self.nodes, node, e);
            let wire_start = conn.pipes[p].read;
            let Some((data, reset)) = conn.pipes[p].read(now, cap) else {
                break;
            };
            let wire_end = conn.pipes[p].read;
            let tls = conn.tls.is_some();
            // Where S2 must start, as far as this read reaches.
            let mut marks = Vec::new();
            conn.marks[p].retain(|&(at, end)| {
                let reached = at <= wire_end;
                if reached {
                    marks.push((at.saturating_sub(wire_start) as usize, end));
                }
                !reached
            });
            // What the reader writes in this read (its answer to an INFO
            // that switches S2 on starts there).
            let before = conn.pipes[r].written;
            let link = conn.links[p];
            let read_tag = tags(conn.kind).read;
            let Some(e) = e else {
                return;
            };
            let cuts: Vec<usize> = marks.iter().map(|&(c, _)| c).collect();
            let kept = data.clone();
            let (step, plain, at_cuts) =
                self.feed_engine_cut(node, e, data, now, read_tag, id, &cuts);
            let (plain, at_cuts) = if tls {
                (plain.map(|r| r.plain).unwrap_or_default(), at_cuts)
            } else {
                let at: Vec<u64> = cuts.iter().map(|&c| wire_start + c as u64).collect();
                (kept, at)
            };
            let mut found = Vec::new();
            if let Some(conn) = self.peers.get_mut(&id) {
                for (&(_, end), &at) in marks.iter().zip(&at_cuts) {
                    conn.wire[p].mark(at, end);
                }
                let after = conn.pipes[r].written;
                let f = conn.wire[p].feed(&plain, &mut conn.neg, &mut done);
                if f.switch_info && p == 0 {
                    match conn.neg.acceptor_switch() {
                        Ok(_) => {
                            conn.wire[1].expect_window();
                            conn.marks[1].push((before, false));
                            conn.marks[1].push((after, true));
                        }
                        Err(text) => found.push(text),
                    }
                }
                found.extend(f.violations);
                self.stats.s2_directions += u64::from(f.s2_started);
                self.stats.ws_links += u64::from(f.upgraded);
            }
            for text in found {
                self.checker.violation(text);
            }
            self.peer_observed(writer, id, p);
            if !done.is_empty() {
                self.checker.note_step(step, now);
            }
            let open = self.peers.get(&id).is_some_and(|c| c.ends[r].open);
            if let Some(link) = link {
                for (offset, op) in done.drain(..) {
                    let at = Processed::in_read(open, step, offset);
                    match op {
                        RouteOp::Sub {
                            subject,
                            queue,
                            weight,
                            origin,
                        } => self
                            .checker
                            .route_interest(link, &subject, queue, origin, weight, at),
                        RouteOp::Unsub {
                            subject,
                            queue,
                            origin,
                        } => self
                            .checker
                            .route_interest(link, &subject, queue, origin, 0, at),
                        RouteOp::Msg {
                            key,
                            queues,
                            origin,
                            subject_gr,
                            reply_gr,
                        } => {
                            let msg = crate::checker::RoutedMsg {
                                key,
                                queues,
                                origin,
                                subject_gr,
                                reply_gr,
                            };
                            self.checker.routed_msg(link, msg, at, now);
                        }
                    }
                }
            }
            done.clear();
            self.peer_pump(id, p);
            if writer < self.nodes.len() {
                self.after_engine(writer);
            }
            if reset {
                self.stats.resets += 1;
                self.peer_reset(id);
                return;
            }
        }
        let Some(conn) = self.peers.get(&id) else {
            return;
        };
        if conn.ends[r].open && conn.pipes[p].at_eof(now) {
            self.peer_end_side(id, r);
        }
    }

    /// Engine `node` closes its end `end` of route `id` (`Action::Close`).
    pub(super) fn peer_close(&mut self, node: usize, c: ConnId, id: u64, end: usize, flush: bool) {
        let now = self.now();
        self.nodes[node].peer_conns.remove(&c);
        self.stats.engine_closes += 1;
        if flush {
            self.peer_flush(node, c, id, end);
        }
        if let Some(conn) = self.peers.get_mut(&id) {
            conn.ends[end].open = false;
            if !flush {
                conn.pipes[end].discard_unsent();
            }
            conn.pipes[end].close_write();
        }
        self.peer_links_closed(id);
        self.peer_pump(id, end);
        self.engine(node, |s| s.handle_closed(c, now));
        self.schedule(
            now + super::engine::CLOSE_FLUSH_LIMIT,
            Ev::CloseDeadline(id),
        );
        self.peer_maybe_remove(id);
    }

    fn peer_links_closed(&mut self, id: u64) {
        let Some(conn) = self.peers.get(&id) else {
            return;
        };
        self.link_closes += 1;
        for l in conn.links.into_iter().flatten() {
            self.checker.link_closed(l);
        }
    }

    /// End `r` saw the end of stream (or a reset): its engine is told.
    pub(super) fn peer_end_side(&mut self, id: u64, r: usize) {
        let now = self.now();
        let Some(conn) = self.peers.get_mut(&id) else {
            return;
        };
        if !conn.ends[r].open {
            return;
        }
        conn.ends[r].open = false;
        // Our side is gone too: nothing more leaves it.
        conn.pipes[r].discard_unsent();
        conn.pipes[r].close_write();
        let (node, e) = (conn.ends[r].node, conn.ends[r].engine);
        self.peer_links_closed(id);
        self.step += 1;
        if let Some(e) = e {
            self.nodes[node].peer_conns.remove(&e);
            self.tls_world_closed(node, e);
            self.engine(node, |s| s.handle_closed(e, now));
            self.after_engine(node);
        }
        self.peer_pump(id, r);
        self.peer_maybe_remove(id);
    }

    /// Both ends see the connection die at once (RST).
    pub(super) fn peer_reset(&mut self, id: u64) {
        // A connection already gone is traced as a route's (the only kind
        // there is yet), as it always was.
        let kind = self.peers.get(&id).map_or(LinkKind::Route, |c| c.kind);
        self.trace.record(self.now(), tags(kind).reset, id, 0, &[]);
        self.peer_end_side(id, 0);
        self.peer_end_side(id, 1);
        self.peers.remove(&id);
    }

    fn peer_maybe_remove(&mut self, id: u64) {
        if self
            .peers
            .get(&id)
            .is_some_and(|c| !c.ends[0].open && !c.ends[1].open)
        {
            self.peers.remove(&id);
        }
    }

    /// The live route connection between nodes `a` and `b`, if any.
    pub(super) fn live_route(&self, a: usize, b: usize) -> Option<u64> {
        self.peers
            .iter()
            .find(|(_, c)| {
                c.kind == LinkKind::Route
                    && c.ends[0].open
                    && c.ends[1].open
                    && ((c.ends[0].node, c.ends[1].node) == (a, b)
                        || (c.ends[0].node, c.ends[1].node) == (b, a))
            })
            .map(|(&id, _)| id)
    }

    /// The live connection of any kind between nodes `a` and `b`, if any
    /// (a pair of nodes is joined by a route or by a leaf link, not both).
    pub(super) fn live_link(&self, a: usize, b: usize) -> Option<u64> {
        self.peers
            .iter()
            .find(|(_, c)| {
                c.ends[0].open
                    && c.ends[1].open
                    && ((c.ends[0].node, c.ends[1].node) == (a, b)
                        || (c.ends[0].node, c.ends[1].node) == (b, a))
            })
            .map(|(&id, _)| id)
    }

    /// Differences between each open leaf link's interest as seen on the
    /// wire (what its writer `LS+`'d minus what it `LS-`'d, as its reader
    /// processed it) and what the propagation matrix says the writer
    /// should have told ([`crate::checker::Checker::expected_leaf_interest`]),
    /// and leaf links missing or too many: every edge of
    /// [`World::leaf_edges`] registered once. With [`World::leaf_ring`], at
    /// most two of the three, once each: the ring must be broken. Loop
    /// detection may break it more than once (each node's own
    /// loop-detection subject can travel round through the link that
    /// closed the ring before that link is refused, as in nats-server),
    /// and a refused remote waits 30 s, longer than healing.
    /// Empty: converged.
    pub fn leaf_interest_diffs(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut linked: Vec<(usize, usize)> = Vec::new();
        for conn in self.peers.values() {
            if conn.kind != LinkKind::Leaf || !(conn.ends[0].open && conn.ends[1].open) {
                continue;
            }
            let [Some(l0), Some(l1)] = conn.links else {
                continue;
            };
            let (a, b) = (conn.ends[0].node, conn.ends[1].node);
            let registered = self.checker.links[l0].registered && self.checker.links[l1].registered;
            if !registered {
                out.push(format!("leaf link {a}->{b} is not registered at both ends"));
                continue;
            }
            linked.push((a, b));
            for l in [l0, l1] {
                let want = self.checker.expected_leaf_interest(l);
                let got = self.checker.held_interest(l);
                if want != got {
                    let rec = &self.checker.links[l];
                    out.push(format!(
                        "leaf interest differs: node {} told node {} {got:?}, the matrix says \
                         {want:?}",
                        rec.from.0, rec.to.0
                    ));
                }
            }
        }
        if !self.leaf_edges.is_empty() {
            out.extend(self.route_wire_diffs());
        }
        if self.leaf_ring {
            let mut pairs: Vec<(usize, usize)> =
                linked.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
            pairs.sort_unstable();
            pairs.dedup();
            if pairs.len() > 2 || pairs.len() != linked.len() {
                out.push(format!(
                    "leaf ring: links {linked:?} registered; a loop must be refused"
                ));
            }
        } else {
            // A remote may end on any node of its hub's cluster (the hub
            // gossips its cluster's leaf URLs).
            for &(a, b) in &self.leaf_edges {
                let n = linked
                    .iter()
                    .filter(|&&(x, y)| x == a && self.same_cluster(y, b))
                    .count();
                if n != 1 {
                    out.push(format!(
                        "leaf link {a}->{b}: {n} registered connections to its hub's cluster, \
                         want 1"
                    ));
                }
            }
        }
        out
    }

    /// The interest the model says `(node, gen)` announces to each route,
    /// by origin: its clients' subscriptions (`RS+`, origin None) and its
    /// spokes' interest by their cluster (`LS+ <origin>`); a spoke that
    /// named no cluster gives no origin, so its interest counts with the
    /// server's own in `RS+` (nats-server sends `LS+` only for a
    /// subscription with an origin). (origin, subject, queue) -> weight.
    pub(super) fn expected_route_wire(
        &self,
        node: usize,
        gen: u32,
    ) -> BTreeMap<(Option<String>, String, Option<String>), u32> {
        let mut want: BTreeMap<(Option<String>, String, Option<String>), u32> = self
            .checker
            .expected_route_interest(node, gen)
            .into_iter()
            .map(|(s, q, w)| ((None, s, q), w))
            .collect();
        for ((o, s, q), w) in self.checker.expected_route_leaf_interest(node, gen) {
            let plain = q.is_none();
            let entry = want
                .entry((Some(o).filter(|o| !o.is_empty()), s, q))
                .or_default();
            *entry = if plain { 1 } else { *entry + w };
        }
        want
    }

    /// Whether nodes `a` and `b` are in one cluster (a node is in its own).
    pub(super) fn same_cluster(&self, a: usize, b: usize) -> bool {
        a == b
            || self
                .clusters
                .iter()
                .any(|c| c.contains(&a) && c.contains(&b))
    }

    /// Differences between the interest each open route connection carries
    /// on the wire, by origin (`RS+` minus `RS-`, and each leaf cluster's
    /// `LS+` minus `LS-`, as the reader processed them), and what the
    /// model says its writer announces: its clients' subscriptions, and
    /// the interest its spokes told it with their clusters
    /// ([`crate::checker::Checker::expected_route_leaf_interest`]).
    /// Empty: converged.
    pub fn route_wire_diffs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for conn in self.peers.values() {
            if conn.kind != LinkKind::Route || !(conn.ends[0].open && conn.ends[1].open) {
                continue;
            }
            for l in conn.links.into_iter().flatten() {
                let rec = &self.checker.links[l];
                let (node, gen) = rec.from;
                let want = self.expected_route_wire(node, gen);
                let got = self.checker.held_route_interest(l);
                if want != got {
                    out.push(format!(
                        "route interest on the wire differs: node {node} told node {} {got:?}, \
                         the model says {want:?}",
                        rec.to.0
                    ));
                }
            }
        }
        out
    }

    /// Route connection `id` gets `rules` (pipe 0: `up`, pipe 1: `down`).
    pub(super) fn set_peer_rules(&mut self, id: u64, rules: LinkRules) {
        if let Some(conn) = self.peers.get_mut(&id) {
            conn.pipes[0].rules = rules.up;
            conn.pipes[1].rules = rules.down;
        }
    }

    /// Whether nothing is in flight on any open route connection.
    pub(super) fn peers_drained(&self) -> bool {
        self.peers.values().all(|conn| {
            if !(conn.ends[0].open && conn.ends[1].open) {
                return true;
            }
            (0..2).all(|i| {
                let end = &conn.ends[i];
                let pending = end.engine.and_then(|e| {
                    self.nodes[end.node]
                        .server
                        .as_ref()
                        .and_then(|s| s.conn_pending_bytes(e))
                });
                conn.pipes[i].is_empty() && pending.unwrap_or(0) == 0
            })
        })
    }

    /// Handles an event addressed to route connection `id`; false if `id`
    /// is not a route connection.
    pub(super) fn peer_event(&mut self, ev: &Ev) -> bool {
        let now = self.now();
        let id = match ev {
            Ev::Accept(id)
            | Ev::Arrive { conn: id, .. }
            | Ev::ReadResume { conn: id, .. }
            | Ev::CloseDeadline(id)
            | Ev::ResetNow(id)
            | Ev::RestoreRules(id)
            | Ev::Pump(id) => *id,
            Ev::EngineTimer { .. }
            | Ev::EngineRestart { .. }
            | Ev::EngineStop { .. }
            | Ev::ClientWake(_)
            | Ev::Reconnect(_)
            | Ev::Fault { .. }
            | Ev::TlsCheck { .. }
            | Ev::ProbeStart(_)
            | Ev::ProbeArrive { .. }
            | Ev::ProbeCheck(_) => return false,
        };
        let Some(kind) = self.peers.get(&id).map(|c| c.kind) else {
            return false;
        };
        let tags = tags(kind);
        match ev {
            Ev::Accept(_) => {
                self.trace.record(now, tags.accept, id, 0, &[]);
                self.peer_accept(id);
            }
            Ev::Arrive { dir, data, .. } => {
                let tag = match (dir, data) {
                    (Dir::Up, Some(_)) => tags.arrive_up,
                    (Dir::Down, Some(_)) => tags.arrive_down,
                    (_, None) => tags.fin,
                };
                self.trace
                    .record(now, tag, id, 0, data.as_deref().unwrap_or_default());
                self.peer_arrive(id, *dir, data.clone());
            }
            Ev::ReadResume { dir, .. } => {
                self.trace.record(now, tags.resume, id, *dir as u64, &[]);
                self.peer_read(id, pipe_of(*dir));
            }
            Ev::CloseDeadline(_) => {
                self.stats.resets += 1;
                self.peer_reset(id);
            }
            Ev::ResetNow(_) => {
                let armed = self.peers.get(&id).is_some_and(|c| {
                    c.pipes[0].reset_after.is_some() || c.pipes[1].reset_after.is_some()
                });
                if armed {
                    self.stats.resets += 1;
                    self.peer_reset(id);
                }
            }
            Ev::RestoreRules(_) => {
                let rules = self.link_rules(kind);
                self.set_peer_rules(id, rules);
            }
            Ev::Pump(_) => self.peer_pump_both(id),
            Ev::EngineTimer { .. }
            | Ev::EngineRestart { .. }
            | Ev::EngineStop { .. }
            | Ev::ClientWake(_)
            | Ev::Reconnect(_)
            | Ev::Fault { .. }
            | Ev::TlsCheck { .. }
            | Ev::ProbeStart(_)
            | Ev::ProbeArrive { .. }
            | Ev::ProbeCheck(_) => {}
        }
        true
    }
}
