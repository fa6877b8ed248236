//! Simulated TCP connections between engines (cluster routes): dialing,
//! accepting, moving bytes both ways through the same pipes and faults as
//! client links, reads on both engines, closes and resets.
//!
//! A route connection has two engine ends: end 0 dialed (`Action::Dial`),
//! end 1 accepted it on its route port. Pipe `i` carries what end `i`
//! writes to end `1 - i` (`Dir::Up` is pipe 0, `Dir::Down` pipe 1). Every
//! byte an engine writes is also read by a [`RouteWire`], so the checker
//! learns which interest and which messages crossed, and when the peer
//! processed them.

use super::{ops_through, read_cap};
use super::{Ev, World};
use crate::checker::{LinkId, Processed};
use crate::link::{Dir, LinkRules, Pipe};
use crate::rng::{Purpose, SimRng};
use crate::route_wire::{RouteOp, RouteWire};
use bytes::Bytes;
use canopy_core::{ConnId, ListenerKind};
use std::collections::VecDeque;
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

/// One simulated route connection.
#[derive(Debug)]
pub(super) struct RouteConn {
    pub(super) ends: [REnd; 2],
    pub(super) pipes: [Pipe; 2],
    wire: [RouteWire; 2],
    /// Ops written by end `i`, not yet processed by the other end.
    ops: [VecDeque<(u64, RouteOp)>; 2],
    /// Checker link for the direction end `i` -> end `1 - i`.
    links: [Option<LinkId>; 2],
    pub(super) rng: SimRng,
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

impl World {
    /// The node whose route listener is at `addr` (`host:port`).
    fn route_target(&self, addr: &str) -> Option<usize> {
        let (host, port) = addr.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        (0..self.nodes.len()).find(|&n| {
            self.nodes[n]
                .options
                .cluster
                .as_ref()
                .is_some_and(|c| c.port == port && route_host(n) == host)
        })
    }

    /// Engine `node` asked to dial `addr` for connection `e`: the SYN takes
    /// one delay; the accept (or the refusal) happens on arrival.
    pub(super) fn dial(&mut self, node: usize, e: ConnId, addr: &str) {
        let now = self.now();
        let id = self.next_conn;
        self.next_conn += 1;
        let target = self.route_target(addr);
        let rules = self.route_rules;
        let conn = RouteConn {
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
            wire: [RouteWire::default(), RouteWire::default()],
            ops: [VecDeque::new(), VecDeque::new()],
            links: [None, None],
            rng: SimRng::new(self.seed, Purpose::Link, id),
        };
        self.routes.insert(id, conn);
        self.trace.record(
            now,
            "dial",
            node as u64,
            target.map_or(u64::MAX, |t| t as u64),
            &[],
        );
        self.schedule(now + rules.up.delay, Ev::Accept(id));
    }

    /// The dial reaches its target: accepted if the target is up and no
    /// dial fault blocks either end, refused otherwise.
    pub(super) fn route_accept(&mut self, id: u64) {
        let now = self.now();
        let Some(conn) = self.routes.get(&id) else {
            return;
        };
        let (a, a_gen, e) = (conn.ends[0].node, conn.ends[0].gen, conn.ends[0].engine);
        let b = conn.ends[1].node;
        let Some(e) = e else {
            self.routes.remove(&id);
            return;
        };
        if self.nodes[a].gen != a_gen || self.nodes[a].server.is_none() {
            // The dialer crashed meanwhile.
            self.routes.remove(&id);
            return;
        }
        let blocked = |w: &World, n: usize| n < w.nodes.len() && w.dial_block[n] > now;
        let up = b < self.nodes.len()
            && self.nodes[b].server.is_some()
            && !self.nodes[b].shutting_down
            && !blocked(self, a)
            && !blocked(self, b);
        if !up {
            self.stats.dial_failures += 1;
            self.routes.remove(&id);
            self.trace.record(now, "dial-failed", a as u64, id, &[]);
            self.step += 1;
            self.engine(a, |s| s.handle_dial_failed(e, now));
            self.after_engine(a);
            return;
        }
        self.step += 1;
        let a_addr = SocketAddr::from(([10, 1, 0, a as u8 + 1], 50_000 + (id % 10_000) as u16));
        let b_addr = SocketAddr::from(([10, 1, 0, b as u8 + 1], ROUTE_PORT));
        let Some(be) = self.engine(b, |s| s.handle_accept(ListenerKind::Route, a_addr, now)) else {
            return;
        };
        self.stats.route_accepts += 1;
        let b_gen = self.nodes[b].gen;
        let l0 = self.checker.open_link((a, a_gen), (b, b_gen));
        let l1 = self.checker.open_link((b, b_gen), (a, a_gen));
        if let Some(conn) = self.routes.get_mut(&id) {
            conn.ends[0].open = true;
            conn.ends[1] = REnd {
                node: b,
                gen: b_gen,
                engine: Some(be),
                open: true,
            };
            conn.links = [Some(l0), Some(l1)];
        }
        self.nodes[a].route_conns.insert(e, (id, 0));
        self.nodes[b].route_conns.insert(be, (id, 1));
        self.trace.record(now, "route-up", a as u64, b as u64, &[]);
        self.engine(a, |s| s.handle_dialed(e, b_addr, now));
        self.after_engine(b);
        self.after_engine(a);
    }

    /// Engine `node` has bytes for its end `end` of route `id`.
    pub(super) fn route_flush(&mut self, node: usize, c: ConnId, id: u64, end: usize) {
        let now = self.now();
        let mut chunks = std::mem::take(&mut self.scratch);
        self.engine(node, |s| s.take_outbound(c, &mut chunks, now));
        let mut ops = Vec::new();
        if let Some(conn) = self.routes.get_mut(&id) {
            for chunk in chunks.drain(..) {
                conn.wire[end].feed(&chunk, &mut ops);
                conn.pipes[end].write(chunk);
            }
            conn.ops[end].extend(ops);
            if let Some(text) = conn.wire[end].broken.take() {
                self.checker
                    .violation(format!("node {node} wrote bad route protocol: {text}"));
            }
        }
        chunks.clear();
        self.scratch = chunks;
    }

    /// Moves unsent bytes of pipe `p` onto the wire and reports what the
    /// writer's socket accepted.
    pub(super) fn route_pump(&mut self, id: u64, p: usize) {
        let now = self.now();
        let Some(conn) = self.routes.get_mut(&id) else {
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
    pub(super) fn route_pump_both(&mut self, id: u64) {
        self.route_pump(id, 0);
        self.route_pump(id, 1);
        let Some(conn) = self.routes.get(&id) else {
            return;
        };
        let nodes = [conn.ends[0].node, conn.ends[1].node];
        for n in nodes {
            if n < self.nodes.len() {
                self.after_engine(n);
            }
        }
    }

    pub(super) fn route_arrive(&mut self, id: u64, dir: Dir, data: Option<Bytes>) {
        let p = pipe_of(dir);
        let Some(conn) = self.routes.get_mut(&id) else {
            return;
        };
        if !conn.ends[1 - p].open {
            return;
        }
        if let Some(d) = &data {
            self.stats.bytes_routed += d.len() as u64;
        }
        conn.pipes[p].arrive(data);
        self.route_read(id, p);
    }

    /// The reader of pipe `p` reads what it may now, one read at a time,
    /// and the checker learns which route ops it processed.
    pub(super) fn route_read(&mut self, id: u64, p: usize) {
        let now = self.now();
        let r = 1 - p;
        let mut done: Vec<(u64, RouteOp)> = Vec::new();
        loop {
            let Some(conn) = self.routes.get_mut(&id) else {
                return;
            };
            if !conn.ends[r].open {
                return;
            }
            let (node, e, writer) = (conn.ends[r].node, conn.ends[r].engine, conn.ends[p].node);
            let cap = read_cap(&self.nodes, node, e);
            let Some((data, reset)) = conn.pipes[p].read(now, cap) else {
                break;
            };
            let end = conn.pipes[p].read;
            ops_through(&mut conn.ops[p], end, &mut done);
            let link = conn.links[p];
            let Some(e) = e else {
                return;
            };
            let step = self.feed_engine(node, e, data, now, "route-read", id);
            let open = self.routes.get(&id).is_some_and(|c| c.ends[r].open);
            if let Some(link) = link {
                for (offset, op) in done.drain(..) {
                    let at = Processed::in_read(open, step, offset);
                    match op {
                        RouteOp::Sub { subject, queue, .. } => {
                            self.checker.route_interest(link, &subject, queue, true, at)
                        }
                        RouteOp::Unsub { subject, queue } => self
                            .checker
                            .route_interest(link, &subject, queue, false, at),
                        RouteOp::Msg { key, queues } => {
                            self.checker.routed(link, key, queues, at);
                        }
                    }
                }
            }
            done.clear();
            self.route_pump(id, p);
            if writer < self.nodes.len() {
                self.after_engine(writer);
            }
            if reset {
                self.stats.resets += 1;
                self.route_reset(id);
                return;
            }
        }
        let Some(conn) = self.routes.get(&id) else {
            return;
        };
        if conn.ends[r].open && conn.pipes[p].at_eof(now) {
            self.route_end_side(id, r);
        }
    }

    /// Engine `node` closes its end `end` of route `id` (`Action::Close`).
    pub(super) fn route_close(&mut self, node: usize, c: ConnId, id: u64, end: usize, flush: bool) {
        let now = self.now();
        self.nodes[node].route_conns.remove(&c);
        self.stats.engine_closes += 1;
        if flush {
            self.route_flush(node, c, id, end);
        }
        if let Some(conn) = self.routes.get_mut(&id) {
            conn.ends[end].open = false;
            if !flush {
                conn.pipes[end].discard_unsent();
            }
            conn.pipes[end].close_write();
        }
        self.route_links_closed(id);
        self.route_pump(id, end);
        self.engine(node, |s| s.handle_closed(c, now));
        self.schedule(
            now + super::engine::CLOSE_FLUSH_LIMIT,
            Ev::CloseDeadline(id),
        );
        self.route_maybe_remove(id);
    }

    fn route_links_closed(&mut self, id: u64) {
        let Some(conn) = self.routes.get(&id) else {
            return;
        };
        for l in conn.links.into_iter().flatten() {
            self.checker.link_closed(l);
        }
    }

    /// End `r` saw the end of stream (or a reset): its engine is told.
    pub(super) fn route_end_side(&mut self, id: u64, r: usize) {
        let now = self.now();
        let Some(conn) = self.routes.get_mut(&id) else {
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
        self.route_links_closed(id);
        self.step += 1;
        if let Some(e) = e {
            self.nodes[node].route_conns.remove(&e);
            self.engine(node, |s| s.handle_closed(e, now));
            self.after_engine(node);
        }
        self.route_pump(id, r);
        self.route_maybe_remove(id);
    }

    /// Both ends see the connection die at once (RST).
    pub(super) fn route_reset(&mut self, id: u64) {
        self.trace.record(self.now(), "route-reset", id, 0, &[]);
        self.route_end_side(id, 0);
        self.route_end_side(id, 1);
        self.routes.remove(&id);
    }

    fn route_maybe_remove(&mut self, id: u64) {
        if self
            .routes
            .get(&id)
            .is_some_and(|c| !c.ends[0].open && !c.ends[1].open)
        {
            self.routes.remove(&id);
        }
    }

    /// The live route connection between nodes `a` and `b`, if any.
    pub(super) fn live_route(&self, a: usize, b: usize) -> Option<u64> {
        self.routes
            .iter()
            .find(|(_, c)| {
                c.ends[0].open
                    && c.ends[1].open
                    && ((c.ends[0].node, c.ends[1].node) == (a, b)
                        || (c.ends[0].node, c.ends[1].node) == (b, a))
            })
            .map(|(&id, _)| id)
    }

    /// Route connection `id` gets `rules` (pipe 0: `up`, pipe 1: `down`).
    pub(super) fn set_route_rules(&mut self, id: u64, rules: LinkRules) {
        if let Some(conn) = self.routes.get_mut(&id) {
            conn.pipes[0].rules = rules.up;
            conn.pipes[1].rules = rules.down;
        }
    }

    /// Whether nothing is in flight on any open route connection.
    pub(super) fn routes_drained(&self) -> bool {
        self.routes.values().all(|conn| {
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
    pub(super) fn route_event(&mut self, ev: &Ev) -> bool {
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
            | Ev::Fault { .. } => return false,
        };
        if !self.routes.contains_key(&id) {
            return false;
        }
        match ev {
            Ev::Accept(_) => {
                self.trace.record(now, "route-accept", id, 0, &[]);
                self.route_accept(id);
            }
            Ev::Arrive { dir, data, .. } => {
                let tag = match (dir, data) {
                    (Dir::Up, Some(_)) => "r-arrive-up",
                    (Dir::Down, Some(_)) => "r-arrive-down",
                    (_, None) => "r-fin",
                };
                self.trace
                    .record(now, tag, id, 0, data.as_deref().unwrap_or_default());
                self.route_arrive(id, *dir, data.clone());
            }
            Ev::ReadResume { dir, .. } => {
                self.trace.record(now, "r-resume", id, *dir as u64, &[]);
                self.route_read(id, pipe_of(*dir));
            }
            Ev::CloseDeadline(_) => {
                self.stats.resets += 1;
                self.route_reset(id);
            }
            Ev::ResetNow(_) => {
                let armed = self.routes.get(&id).is_some_and(|c| {
                    c.pipes[0].reset_after.is_some() || c.pipes[1].reset_after.is_some()
                });
                if armed {
                    self.stats.resets += 1;
                    self.route_reset(id);
                }
            }
            Ev::RestoreRules(_) => {
                let rules = self.route_rules;
                self.set_route_rules(id, rules);
            }
            Ev::Pump(_) => self.route_pump_both(id),
            Ev::EngineTimer { .. }
            | Ev::EngineRestart { .. }
            | Ev::EngineStop { .. }
            | Ev::ClientWake(_)
            | Ev::Reconnect(_)
            | Ev::Fault { .. } => {}
        }
        true
    }
}
