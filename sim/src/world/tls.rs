//! The world's side of TLS worlds (see [`crate::tls`]): engines get the
//! virtual wall clock and a shadow, simulated clients get TLS, and the
//! TLS faults: handshakes read one byte at a time, resets mid-handshake,
//! handshakes that stall past the timeout (the engine must close them
//! with `TLS Handshake Failure`, dialers retry), and probes that get TLS
//! first wrong (a client or a leaf using `handshake_first` against a port
//! without it, and one waiting for the INFO at a port with it: the
//! connection must fail without a byte of plaintext past the INFO, and
//! the rest of the world must not notice).

use super::{Ev, World};
use crate::link::Dir;
use crate::rng::{Purpose, SimRng};
use crate::tls::{lossy, wall_nanos, ClientSide, ClientTls, RecordCheck, ShadowEngine, TlsPlan};
use bytes::Bytes;
use canopy_core::{CloseReason, ConnId, Instant, LinkKind, ListenerKind};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Percent of new connections (during the safety phase) whose handshake
/// is read one byte at a time both ways.
const SPLIT_PERCENT: u64 = 6;
/// Percent of new connections reset within their first bytes.
const RESET_PERCENT: u64 = 4;
/// Percent of new connections whose handshake stalls past the timeout.
const STALL_PERCENT: u64 = 3;
/// Bytes read one at a time at the start of a split connection.
const SPLIT_BYTES: u64 = 4096;
/// How long after a stall's deadline the engine must have closed it.
const STALL_MARGIN: Duration = Duration::from_millis(400);
/// One-way delay of a probe's bytes.
const PROBE_DELAY: Duration = Duration::from_micros(200);

/// The TLS state of a world.
pub(crate) struct WorldTls {
    pub(crate) plan: TlsPlan,
    clients: ClientSide,
    /// Per-connection choices and TLS faults.
    rng: SimRng,
    probes: BTreeMap<u64, Probe>,
    /// TLS faults and probes are on (the seed's faults are).
    faults: bool,
}

/// A new client connection's TLS.
pub(super) struct NewClientTls {
    /// The client's TLS.
    pub(super) tls: ClientTls,
    /// The check of what the engine writes.
    pub(super) check: RecordCheck,
    /// The client's bytes are held until then (a stalled handshake).
    pub(super) stall: Option<Instant>,
    /// Bytes read one at a time at the start, both ways.
    pub(super) split: u64,
    /// Reset at this offset (even: the client's bytes; odd: the
    /// server's).
    pub(super) reset: Option<u64>,
}

/// What a watched engine connection (a stalled handshake, a probe) came
/// to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Watch {
    /// Still open.
    Open,
    /// The engine closed it, for this reason.
    Engine(CloseReason),
    /// The world closed it (a reset, the peer gone).
    World,
}

/// How a probe gets TLS first wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mismatch {
    /// The probe starts TLS at once; the port sends its INFO first.
    ClientFirst,
    /// The probe waits for the INFO; the port waits for a ClientHello.
    ServerFirst,
}

/// A connection that gets TLS first wrong.
struct Probe {
    node: usize,
    gen: u32,
    listener: ListenerKind,
    mismatch: Mismatch,
    engine: Option<ConnId>,
    tls: Option<ClientTls>,
    check: RecordCheck,
    /// Bytes the port sent.
    got: usize,
    /// The probe's TLS failed (expected for [`Mismatch::ClientFirst`]).
    failed: Option<String>,
    /// The probe closed its side.
    closed: bool,
}

impl World {
    /// Makes this a TLS world (before [`World::start`]): every engine
    /// gets the virtual wall clock and a shadow, every client TLS.
    pub fn enable_tls(&mut self, plan: TlsPlan, faults: bool) {
        let clients = ClientSide::new(self.seed, &plan);
        self.tls = Some(WorldTls {
            plan,
            clients,
            rng: SimRng::new(self.seed, Purpose::Tls, 2),
            probes: BTreeMap::new(),
            faults,
        });
    }

    /// Whether TLS faults may strike now.
    fn tls_faults(&self) -> bool {
        self.faults_enabled && self.tls.as_ref().is_some_and(|t| t.faults)
    }

    /// The plan of a TLS world.
    pub fn tls_plan(&self) -> Option<&TlsPlan> {
        self.tls.as_ref().map(|t| &t.plan)
    }

    /// A new engine incarnation of `node` (seed `seed`): its wall clock
    /// and its shadow.
    pub(super) fn tls_engine_started(&mut self, node: usize, seed: &[u8; 32]) {
        if self.tls.is_none() {
            return;
        }
        let now = self.now();
        self.engine(node, |s| s.handle_wall_clock(wall_nanos(now), now));
        let n = &mut self.nodes[node];
        n.shadow = Some(ShadowEngine::new(&n.options, seed, now));
        n.probe_conns.clear();
        n.watch.clear();
        n.stalls.clear();
    }

    /// Engine `node` accepted `e` on `listener`.
    pub(super) fn shadow_accepted(&mut self, node: usize, e: ConnId, listener: ListenerKind) {
        if let Some(s) = self.nodes[node].shadow.as_mut() {
            s.accepted(e, listener);
        }
    }

    /// Engine `node`'s dial `e` of `kind` to `addr` (`host:port`)
    /// connected.
    pub(super) fn shadow_dialed(
        &mut self,
        node: usize,
        e: ConnId,
        kind: LinkKind,
        addr: &str,
        ws: bool,
    ) {
        let now = self.now();
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        if let Some(s) = self.nodes[node].shadow.as_mut() {
            s.dialed(e, kind, host, ws, now);
        }
    }

    /// What engine `node` decrypted from `data` on `e` (None: no TLS).
    pub(super) fn shadow_read(
        &mut self,
        node: usize,
        e: ConnId,
        data: &[u8],
    ) -> Option<crate::tls::ShadowRead> {
        let now = self.now();
        self.nodes[node].shadow.as_mut()?.read(e, data, now)
    }

    /// Whether engine `node` still has `e` open (as far as the world
    /// knows).
    pub(super) fn engine_has(&self, node: usize, e: ConnId) -> bool {
        let n = &self.nodes[node];
        n.conns.contains_key(&e) || n.peer_conns.contains_key(&e) || n.probe_conns.contains_key(&e)
    }

    /// The engine closed `e` for `reason` (its event).
    pub(super) fn tls_closed(&mut self, node: usize, e: ConnId, reason: CloseReason) {
        // A stall another fault cut short says nothing about the close.
        let intact = self.nodes[node]
            .stalls
            .remove(&e)
            .is_none_or(|(world, until)| self.stall_intact(world, until));
        if let Some(w) = self.nodes[node].watch.get_mut(&e) {
            if *w == Watch::Open {
                *w = if intact {
                    Watch::Engine(reason)
                } else {
                    Watch::World
                };
            }
        }
        if let Some(s) = self.nodes[node].shadow.as_mut() {
            s.forget(e);
        }
    }

    /// The world closed `e` under engine `node` (a reset, the peer gone).
    pub(super) fn tls_world_closed(&mut self, node: usize, e: ConnId) {
        if let Some(w) = self.nodes[node].watch.get_mut(&e) {
            if *w == Watch::Open {
                *w = Watch::World;
            }
        }
    }

    /// The TLS of a client's new connection to `node` (`delay` away),
    /// with its check and, during the safety phase, its TLS faults.
    pub(super) fn tls_client_conn(&mut self, node: usize, delay: Duration) -> Option<NewClientTls> {
        let now = self.now();
        let faults = self.tls_faults();
        let host = self.nodes[node].options.host.clone();
        let t = self.tls.as_mut()?;
        let plan = &t.plan;
        // Behind a fallback some clients wait for the INFO (and get it
        // when the fallback fires).
        let first = plan.client_first && !(plan.fallback.is_some() && t.rng.percent(30));
        let tls = t.clients.connect(&host, first, now);
        let check = RecordCheck::new(!first);
        let (mut stall, mut split, mut reset) = (None, 0, None);
        if faults {
            if t.rng.percent(SPLIT_PERCENT) {
                split = SPLIT_BYTES;
            }
            if t.rng.percent(RESET_PERCENT) {
                reset = Some(t.rng.range(1, 1500));
            }
            // A TLS-first client behind a fallback that stalls gets the
            // INFO in the middle of its handshake: that one fails anyway.
            if t.rng.percent(STALL_PERCENT) && !(first && plan.fallback.is_some()) {
                let wait = plan.fallback.unwrap_or(Duration::ZERO);
                stall = Some(now + delay + wait + plan.timeout + STALL_MARGIN);
            }
        }
        Some(NewClientTls {
            tls,
            check,
            stall,
            split,
            reset,
        })
    }

    /// A TLS world's faults on a new connection between engines (pipes
    /// of `id`): (split, reset pipe and offset, stall until).
    pub(super) fn tls_peer_faults(
        &mut self,
        delay: Duration,
    ) -> (u64, Option<(usize, u64)>, Option<Instant>) {
        let now = self.now();
        if !self.tls_faults() {
            return (0, None, None);
        }
        let Some(t) = self.tls.as_mut() else {
            return (0, None, None);
        };
        let split = if t.rng.percent(SPLIT_PERCENT) {
            SPLIT_BYTES
        } else {
            0
        };
        let reset = t
            .rng
            .percent(RESET_PERCENT)
            .then(|| (t.rng.below(2) as usize, t.rng.range(1, 2000)));
        let stall = t
            .rng
            .percent(STALL_PERCENT)
            .then(|| now + delay + t.plan.timeout + STALL_MARGIN);
        (split, reset, stall)
    }

    /// Watches engine connection `e` of `node` whose handshake stalls:
    /// by `at` the engine must have closed it with `TLS Handshake
    /// Failure`.
    pub(super) fn watch_stall(&mut self, node: usize, e: ConnId, world: u64, at: Instant) {
        self.nodes[node].watch.insert(e, Watch::Open);
        self.nodes[node].stalls.insert(e, (world, at));
        let gen = self.nodes[node].gen;
        self.schedule(
            at,
            Ev::TlsCheck {
                node,
                gen,
                conn: e,
                world,
            },
        );
    }

    /// Whether the stall of world connection `world` until `until` still
    /// stands (another fault, a partition's end or healing may move it).
    fn stall_intact(&self, world: u64, until: Instant) -> bool {
        if let Some(c) = self.conns.get(&world) {
            return c.stall == Some(until) && c.up.hold_until == until;
        }
        self.peers
            .get(&world)
            .is_some_and(|c| c.stall == Some(until) && c.pipes[0].paused_until == until)
    }

    /// The check of a stalled handshake.
    pub(super) fn tls_check(&mut self, node: usize, gen: u32, e: ConnId, world: u64) {
        if self.nodes[node].gen != gen {
            // Crashed meanwhile: its connection ids now name others.
            return;
        }
        let now = self.now();
        let open = self.nodes[node].watch.get(&e) == Some(&Watch::Open);
        self.nodes[node].stalls.remove(&e);
        if !self.faults_enabled
            || self.nodes[node].shutting_down
            || (open && !self.stall_intact(world, now))
        {
            // Shutting down, or healed, or the stall was cut short.
            self.nodes[node].watch.remove(&e);
            return;
        }
        match self.nodes[node].watch.remove(&e) {
            Some(Watch::Open) => self.checker.violation(format!(
                "TLS: node {node} kept {e} open although its handshake stalled past the \
                 {:?} timeout",
                self.tls
                    .as_ref()
                    .map(|t| t.plan.timeout)
                    .unwrap_or_default()
            )),
            Some(Watch::Engine(reason)) if reason != CloseReason::TlsHandshakeError => {
                self.checker.violation(format!(
                    "TLS: node {node} closed {e}, whose handshake stalled past the timeout, \
                     as '{reason}', not '{}'",
                    CloseReason::TlsHandshakeError
                ));
            }
            Some(Watch::Engine(_) | Watch::World) | None => {}
        }
    }

    // ---- probes ----------------------------------------------------------------

    /// Plans the probes of a TLS world with faults: one or two
    /// connections between `from` and `until` that get TLS first wrong,
    /// to a client port or a leaf port.
    pub fn plan_tls_probes(&mut self, from: Instant, until: Instant) {
        let leaf_ports: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                self.nodes[n]
                    .options
                    .leaf
                    .as_ref()
                    .is_some_and(|l| l.port != 0)
            })
            .collect();
        let nodes = self.nodes.len() as u64;
        let Some(t) = self.tls.as_mut() else {
            return;
        };
        if until <= from {
            return;
        }
        let count = t.rng.range(1, 2);
        let mut planned = Vec::new();
        for i in 0..count {
            let at = from + t.rng.duration(Duration::ZERO, until.saturating_since(from));
            let client_port = {
                let fallback = t.plan.client_first && t.plan.fallback.is_some();
                // Behind a fallback either order works: no mismatch there.
                !fallback && (leaf_ports.is_empty() || t.rng.percent(50))
            };
            let (node, listener, first) = if client_port {
                (
                    t.rng.below(nodes) as usize,
                    ListenerKind::Client,
                    t.plan.client_first,
                )
            } else if let Some(&n) = leaf_ports.get(t.rng.below(leaf_ports.len() as u64) as usize) {
                (n, ListenerKind::Leaf, t.plan.leaf_first)
            } else {
                continue;
            };
            let mismatch = if first {
                Mismatch::ServerFirst
            } else {
                Mismatch::ClientFirst
            };
            let id = (1 << 40) + i;
            t.probes.insert(
                id,
                Probe {
                    node,
                    gen: 0,
                    listener,
                    mismatch,
                    engine: None,
                    tls: None,
                    // A port without TLS first sends its INFO in plaintext.
                    check: RecordCheck::new(!first),
                    got: 0,
                    failed: None,
                    closed: false,
                },
            );
            planned.push((at, id));
        }
        for (at, id) in planned {
            self.schedule(at, Ev::ProbeStart(id));
        }
    }

    /// A probe connects.
    pub(super) fn probe_start(&mut self, id: u64) {
        let now = self.now();
        let Some(p) = self.tls.as_ref().and_then(|t| t.probes.get(&id)) else {
            return;
        };
        let (node, listener, mismatch) = (p.node, p.listener, p.mismatch);
        if !self.tls_faults() || self.nodes[node].server.is_none() || self.nodes[node].shutting_down
        {
            return;
        }
        self.step += 1;
        self.trace.record(now, "probe", id, node as u64, &[]);
        let peer = SocketAddr::from(([10, 9, 0, (id % 200) as u8 + 1], 45_000));
        let Some(e) = self.engine(node, |s| s.handle_accept(listener, peer, now)) else {
            return;
        };
        self.shadow_accepted(node, e, listener);
        let gen = self.nodes[node].gen;
        self.nodes[node].probe_conns.insert(e, id);
        self.nodes[node].watch.insert(e, Watch::Open);
        let host = self.nodes[node].options.host.clone();
        let mut hello = None;
        let mut deadline = now + Duration::from_secs(1);
        if let Some(t) = self.tls.as_mut() {
            deadline = deadline + t.plan.timeout + t.plan.fallback.unwrap_or_default();
            let mut tls = t.clients.connect(&host, true, now);
            if mismatch == Mismatch::ClientFirst {
                tls.start(now);
                hello = tls.take_wire();
            }
            if let Some(p) = t.probes.get_mut(&id) {
                p.gen = gen;
                p.engine = Some(e);
                p.tls = Some(tls);
            }
        }
        if let Some(data) = hello {
            self.schedule(
                now + PROBE_DELAY,
                Ev::ProbeArrive {
                    probe: id,
                    to_engine: true,
                    data: Some(data),
                },
            );
        }
        self.schedule(deadline, Ev::ProbeCheck(id));
        self.after_engine(node);
    }

    /// Engine `node` has bytes for probe connection `e` (or closes it).
    pub(super) fn probe_flush(&mut self, node: usize, e: ConnId, close: Option<bool>) {
        let now = self.now();
        let Some(&id) = self.nodes[node].probe_conns.get(&e) else {
            return;
        };
        if close != Some(false) {
            let mut chunks = Vec::new();
            self.engine(node, |s| s.take_outbound(e, &mut chunks, now));
            let n: usize = chunks.iter().map(Bytes::len).sum();
            if n > 0 {
                self.engine(node, |s| s.handle_written(e, n, now));
            }
            for chunk in chunks {
                self.schedule(
                    now + PROBE_DELAY,
                    Ev::ProbeArrive {
                        probe: id,
                        to_engine: false,
                        data: Some(chunk),
                    },
                );
            }
        }
        if close.is_some() {
            self.nodes[node].probe_conns.remove(&e);
            self.schedule(
                now + PROBE_DELAY,
                Ev::ProbeArrive {
                    probe: id,
                    to_engine: false,
                    data: None,
                },
            );
            self.engine(node, |s| s.handle_closed(e, now));
        }
    }

    /// Bytes (or the end of stream) reach a probe or its engine.
    pub(super) fn probe_arrive(&mut self, id: u64, to_engine: bool, data: Option<Bytes>) {
        let now = self.now();
        let Some(p) = self.tls.as_ref().and_then(|t| t.probes.get(&id)) else {
            return;
        };
        let (node, gen, e, mismatch) = (p.node, p.gen, p.engine, p.mismatch);
        let Some(e) = e else {
            return;
        };
        let alive = self.nodes[node].gen == gen && self.nodes[node].probe_conns.contains_key(&e);
        if to_engine {
            if !alive {
                return;
            }
            match data {
                Some(data) => {
                    self.feed_engine(node, e, data, now, "probe-read", id);
                }
                None => {
                    self.nodes[node].probe_conns.remove(&e);
                    self.step += 1;
                    self.engine(node, |s| s.handle_closed(e, now));
                    self.after_engine(node);
                }
            }
            return;
        }
        let Some(data) = data else {
            return;
        };
        self.trace.record(now, "probe-arrive", id, 0, &data);
        let mut reply = None;
        let mut found = Vec::new();
        if let Some(p) = self.tls.as_mut().and_then(|t| t.probes.get_mut(&id)) {
            p.got += data.len();
            if let Err(text) = p.check.feed(&data) {
                found.push(format!(
                    "plaintext on a TLS link: node {node} wrote to a {:?} port probe: {text}",
                    p.listener
                ));
            }
            match mismatch {
                // Before a ClientHello the port may send an alert (a
                // close_notify when it shuts down), nothing else.
                Mismatch::ServerFirst if p.got == data.len() && data[0] != 0x15 => {
                    found.push(format!(
                        "TLS: node {node}'s {:?} port says handshake_first, but it sent {:?} \
                         to a client that sent no ClientHello",
                        p.listener,
                        lossy(&data)
                    ));
                }
                Mismatch::ServerFirst => {}
                Mismatch::ClientFirst if p.failed.is_none() && !p.closed => {
                    if let Some(tls) = p.tls.as_mut() {
                        match tls.on_wire(&data, now) {
                            Ok(plain) if !plain.is_empty() => found.push(format!(
                                "TLS: a TLS-first probe of node {node}'s {:?} port (which \
                                 sends its INFO first) got plaintext {:?}",
                                p.listener,
                                lossy(&plain)
                            )),
                            Ok(_) => {}
                            Err(text) => {
                                // Its alert, then it hangs up.
                                p.failed = Some(text);
                                p.closed = true;
                                reply = Some(tls.take_wire());
                            }
                        }
                    }
                }
                Mismatch::ClientFirst => {}
            }
        }
        for text in found {
            self.checker.violation(text);
        }
        if let Some(alert) = reply {
            if let Some(alert) = alert {
                self.schedule(
                    now + PROBE_DELAY,
                    Ev::ProbeArrive {
                        probe: id,
                        to_engine: true,
                        data: Some(alert),
                    },
                );
            }
            self.schedule(
                now + PROBE_DELAY,
                Ev::ProbeArrive {
                    probe: id,
                    to_engine: true,
                    data: None,
                },
            );
        }
    }

    /// The verdict on a probe: its connection failed as TLS first says,
    /// without plaintext.
    pub(super) fn probe_check(&mut self, id: u64) {
        let Some(p) = self.tls.as_mut().and_then(|t| t.probes.remove(&id)) else {
            return;
        };
        let Some(e) = p.engine else {
            return;
        };
        if self.nodes[p.node].gen != p.gen {
            // Crashed meanwhile: its connection ids now name others.
            return;
        }
        let watch = self.nodes[p.node].watch.remove(&e);
        let node = p.node;
        match p.mismatch {
            Mismatch::ClientFirst => {
                let up = p.tls.as_ref().is_some_and(ClientTls::up);
                if up || p.failed.is_none() {
                    self.checker.violation(format!(
                        "TLS: a TLS-first probe of node {node}'s {:?} port, which sends its \
                         INFO first, did not fail (handshake done {up}, {} bytes got)",
                        p.listener, p.got
                    ));
                }
            }
            Mismatch::ServerFirst => match watch {
                Some(Watch::Engine(CloseReason::TlsHandshakeError)) => {}
                Some(Watch::Engine(CloseReason::ServerShutdown)) | Some(Watch::World) => {}
                other => self.checker.violation(format!(
                    "TLS: node {node}'s {:?} port (handshake_first) did not close a client \
                     that never sent a ClientHello with '{}' within its timeout: {other:?}",
                    p.listener,
                    CloseReason::TlsHandshakeError
                )),
            },
        }
        if self.nodes[node].probe_conns.remove(&e).is_some() {
            let now = self.now();
            self.engine(node, |s| s.handle_closed(e, now));
            self.after_engine(node);
        }
    }

    /// Reports what engine `node` wrote on client connection `id` to the
    /// plaintext-on-TLS check.
    pub(super) fn check_client_written(&mut self, node: usize, id: u64, chunk: &[u8]) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(check) = conn.check.as_mut() else {
            return;
        };
        if let Err(text) = check.feed(chunk) {
            let c = conn.client;
            self.checker.violation(format!(
                "plaintext on a TLS link: node {node} wrote to client {c}: {text}"
            ));
        }
    }

    /// Sends what the TLS of client connection `id` has for the wire.
    pub(super) fn client_tls_flush(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if let Some(wire) = conn.tls.as_mut().and_then(ClientTls::take_wire) {
            conn.up.write(wire);
            self.pump(id, Dir::Up);
        }
    }
}
