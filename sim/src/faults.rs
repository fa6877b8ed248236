//! Faults as data: what can go wrong, and the seeded plan of when.
//!
//! A fault names its target by client or node index; the world resolves it
//! against whatever connection exists when it fires (and retries a little
//! later if there is none). Each kind can be switched off per seed, so the
//! swarm explores different mixes.

use crate::link::Dir;
use crate::rng::SimRng;
use canopy_core::Instant;
use std::time::Duration;

/// One fault.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Reset the client's connection once `after_bytes` more bytes were read
    /// in direction `dir` (at any byte, mid-op included), or after a second
    /// if the stream is idle.
    Reset {
        /// Target client.
        client: usize,
        /// Direction whose reader trips the reset.
        dir: Dir,
        /// Bytes still delivered before the reset.
        after_bytes: u64,
    },
    /// The client stops reading for `dur` (its window fills; the engine's
    /// writes stop completing).
    Stall {
        /// Target client.
        client: usize,
        /// How long.
        dur: Duration,
    },
    /// The engine crashes (state lost) and restarts after `down_for`.
    Crash {
        /// Target node.
        node: usize,
        /// Downtime.
        down_for: Duration,
    },
    /// The client closes its connection cleanly and reconnects.
    ClientClose {
        /// Target client.
        client: usize,
    },
    /// Nothing written in either direction arrives for `dur` (a silent
    /// partition: no FIN, no RST; only PING/PONG can notice).
    Partition {
        /// Target client.
        client: usize,
        /// How long.
        dur: Duration,
    },
    /// Both directions arrive in pieces of at most `max_piece` bytes.
    Fragment {
        /// Target client.
        client: usize,
        /// How long.
        dur: Duration,
        /// Largest piece.
        max_piece: usize,
    },
    /// The client's application reads only `bytes_per_ms`: its window
    /// fills and the engine's outbound queue grows (a slow consumer).
    SlowReader {
        /// Target client.
        client: usize,
        /// Read rate.
        bytes_per_ms: u64,
        /// How long.
        dur: Duration,
    },
    /// Reset the route connection between nodes `a` and `b` once
    /// `after_bytes` more bytes were read in direction `dir` (`Up`: from
    /// the dialer), or after a second if the stream is idle.
    RouteReset {
        /// One node.
        a: usize,
        /// The other node.
        b: usize,
        /// Direction whose reader trips the reset.
        dir: Dir,
        /// Bytes still delivered before the reset.
        after_bytes: u64,
    },
    /// Nothing on the route between `a` and `b` arrives for `dur` (only
    /// the route PINGs can notice).
    RoutePartition {
        /// One node.
        a: usize,
        /// The other node.
        b: usize,
        /// How long.
        dur: Duration,
    },
    /// The route between `a` and `b` carries pieces of at most
    /// `max_piece` bytes for `dur`.
    RouteFragment {
        /// One node.
        a: usize,
        /// The other node.
        b: usize,
        /// How long.
        dur: Duration,
        /// Largest piece.
        max_piece: usize,
    },
    /// The route between `a` and `b` gets slower for `dur`.
    RouteSlow {
        /// One node.
        a: usize,
        /// The other node.
        b: usize,
        /// Added latency.
        extra_delay: Duration,
        /// Bandwidth while slow (bytes per ms).
        bytes_per_ms: u64,
        /// How long.
        dur: Duration,
    },
    /// Route dials from or to `node` fail for `dur`.
    DialFail {
        /// Target node.
        node: usize,
        /// How long.
        dur: Duration,
    },
    /// The node shuts down gracefully (closes every connection after
    /// flushing), is gone shortly after, and restarts after `down_for`.
    Shutdown {
        /// Target node.
        node: usize,
        /// Downtime after the shutdown.
        down_for: Duration,
    },
    /// Reset one of the live gateway links of `node` (the `pick`-th, in
    /// connection order, modulo their number) once `after_bytes` more
    /// bytes were read in direction `dir`, or after a second if idle.
    GatewayReset {
        /// The node whose gateway link is hit.
        node: usize,
        /// Which of its gateway links.
        pick: u64,
        /// Direction whose reader trips the reset (`Up`: from the dialer).
        dir: Dir,
        /// Bytes still delivered before the reset.
        after_bytes: u64,
    },
    /// Gateway clusters `x` and `y` lose each other for `dur`: every
    /// gateway link between them is reset (or, `silent`, carries nothing
    /// for `dur`), and gateway dials between them fail until it ends.
    ClusterPartition {
        /// One gateway cluster (index into the world's gateway clusters).
        x: usize,
        /// The other.
        y: usize,
        /// How long.
        dur: Duration,
        /// Hold the live links silently instead of resetting them.
        silent: bool,
    },
    /// One direction gets slower: more latency, less bandwidth.
    Slow {
        /// Target client.
        client: usize,
        /// Direction.
        dir: Dir,
        /// Added latency.
        extra_delay: Duration,
        /// Bandwidth while slow (bytes per ms).
        bytes_per_ms: u64,
        /// How long.
        dur: Duration,
    },
}

impl Fault {
    /// The kind's index in [`KINDS`].
    pub fn kind(&self) -> usize {
        match self {
            Fault::Reset { .. } => 0,
            Fault::Stall { .. } => 1,
            Fault::Crash { .. } => 2,
            Fault::ClientClose { .. } => 3,
            Fault::Partition { .. } => 4,
            Fault::Fragment { .. } => 5,
            Fault::Slow { .. } => 6,
            Fault::SlowReader { .. } => 7,
            Fault::RouteReset { .. } => 8,
            Fault::RoutePartition { .. } => 9,
            Fault::RouteFragment { .. } => 10,
            Fault::RouteSlow { .. } => 11,
            Fault::DialFail { .. } => 12,
            Fault::Shutdown { .. } => 13,
            Fault::GatewayReset { .. } => 14,
            Fault::ClusterPartition { .. } => 15,
        }
    }
}

/// Names of the fault kinds, by [`Fault::kind`].
pub const KINDS: [&str; 16] = [
    "reset",
    "stall",
    "crash",
    "client-close",
    "partition",
    "fragment",
    "slow",
    "slow-reader",
    "route-reset",
    "route-partition",
    "route-fragment",
    "route-slow",
    "dial-fail",
    "shutdown",
    "gateway-reset",
    "cluster-partition",
];

/// Kinds a single-server run draws from (the first ones of [`KINDS`]).
const CLIENT_KINDS: usize = 8;

/// End of the link kinds cluster and leaf runs draw from ([`KINDS`]
/// `CLIENT_KINDS..LINK_KINDS`); the gateway kinds after them are drawn
/// only in gateway mode, so the other modes draw what they always drew.
const LINK_KINDS: usize = 14;

/// The faults of one run, sorted by time.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Which kinds this seed uses.
    pub enabled: [bool; KINDS.len()],
    /// (when, what), in time order.
    pub faults: Vec<(Instant, Fault)>,
}

impl FaultPlan {
    /// Draws a plan for `clients` clients and `nodes` nodes over
    /// `[start, end)`.
    pub fn draw(
        rng: &mut SimRng,
        clients: usize,
        nodes: usize,
        start: Instant,
        end: Instant,
    ) -> FaultPlan {
        let mut enabled = [false; KINDS.len()];
        for e in &mut enabled[..CLIENT_KINDS] {
            *e = rng.percent(55);
        }
        if !enabled.iter().any(|&e| e) {
            enabled[rng.below(CLIENT_KINDS as u64) as usize] = true;
        }
        let span = end.saturating_since(start);
        let mut faults = Self::client_faults(rng, &enabled, clients, nodes, start, span);
        if nodes > 1 {
            Self::draw_cluster(rng, nodes, start, span, &mut enabled, &mut faults);
        }
        faults.sort_by_key(|&(at, _)| at);
        FaultPlan { enabled, faults }
    }

    /// Draws a plan for a leaf topology: the client faults (crashes on any
    /// node unless `node_faults` is off), then faults on the server links
    /// `edges` (leaf links and routes, as pairs of nodes): resets at any
    /// byte, silent partitions, fragmentation, slow links, dial failures
    /// and, with `node_faults`, graceful shutdowns.
    pub fn draw_leaf(
        rng: &mut SimRng,
        clients: usize,
        nodes: usize,
        edges: &[(usize, usize)],
        node_faults: bool,
        start: Instant,
        end: Instant,
    ) -> FaultPlan {
        let mut enabled = [false; KINDS.len()];
        for e in &mut enabled[..CLIENT_KINDS] {
            *e = rng.percent(55);
        }
        if !node_faults {
            enabled[2] = false;
        }
        if !enabled.iter().any(|&e| e) {
            enabled[0] = true;
        }
        let span = end.saturating_since(start);
        let mut faults = Self::client_faults(rng, &enabled, clients, nodes, start, span);
        for e in &mut enabled[CLIENT_KINDS..LINK_KINDS] {
            *e = rng.percent(60);
        }
        if !node_faults {
            enabled[13] = false;
        }
        let kinds: Vec<usize> = (CLIENT_KINDS..LINK_KINDS).filter(|&k| enabled[k]).collect();
        if !kinds.is_empty() && !edges.is_empty() {
            for _ in 0..rng.range(2, 8) {
                let at = start + rng.duration(Duration::ZERO, span);
                let (mut a, mut b) = *rng.pick(edges);
                if rng.percent(50) {
                    std::mem::swap(&mut a, &mut b);
                }
                let kind = *rng.pick(&kinds);
                faults.push((at, Self::link_fault(rng, kind, a, b)));
            }
        }
        faults.sort_by_key(|&(at, _)| at);
        FaultPlan { enabled, faults }
    }

    /// Draws a plan for a super-cluster (gateway mode): what
    /// [`FaultPlan::draw_leaf`] draws over the server links `edges` (with
    /// crashes and shutdowns), then, each kind with 60 %, resets of a
    /// node's gateway links and partitions between two of the gateway
    /// `clusters` (reset or silent, 300 ms to 3 s).
    pub fn draw_super(
        rng: &mut SimRng,
        clients: usize,
        nodes: usize,
        edges: &[(usize, usize)],
        clusters: &[Vec<usize>],
        start: Instant,
        end: Instant,
    ) -> FaultPlan {
        let mut plan = Self::draw_leaf(rng, clients, nodes, edges, true, start, end);
        let span = end.saturating_since(start);
        let gateway_nodes: Vec<usize> = clusters.iter().flatten().copied().collect();
        for k in LINK_KINDS..KINDS.len() {
            plan.enabled[k] = rng.percent(60);
        }
        if plan.enabled[14] && !gateway_nodes.is_empty() {
            for _ in 0..rng.range(1, 4) {
                let at = start + rng.duration(Duration::ZERO, span);
                let fault = Fault::GatewayReset {
                    node: *rng.pick(&gateway_nodes),
                    pick: rng.next_u64(),
                    dir: if rng.percent(50) { Dir::Up } else { Dir::Down },
                    after_bytes: if rng.percent(40) {
                        rng.range(0, 60)
                    } else {
                        rng.range(0, 30_000)
                    },
                };
                plan.faults.push((at, fault));
            }
        }
        if plan.enabled[15] && clusters.len() > 1 {
            for _ in 0..rng.range(1, 2) {
                let at = start + rng.duration(Duration::ZERO, span);
                let x = rng.below(clusters.len() as u64) as usize;
                let y = (x + 1 + rng.below(clusters.len() as u64 - 1) as usize) % clusters.len();
                let fault = Fault::ClusterPartition {
                    x,
                    y,
                    dur: rng.duration(Duration::from_millis(300), Duration::from_millis(3000)),
                    silent: rng.percent(40),
                };
                plan.faults.push((at, fault));
            }
        }
        plan.faults.sort_by_key(|&(at, _)| at);
        plan
    }

    /// The client faults of a plan with the `enabled` kinds.
    fn client_faults(
        rng: &mut SimRng,
        enabled: &[bool; KINDS.len()],
        clients: usize,
        nodes: usize,
        start: Instant,
        span: Duration,
    ) -> Vec<(Instant, Fault)> {
        let kinds: Vec<usize> = (0..CLIENT_KINDS).filter(|&k| enabled[k]).collect();
        let count = rng.range(2, 12) as usize;
        let mut faults = Vec::with_capacity(count);
        for _ in 0..count {
            let at = start + rng.duration(Duration::ZERO, span);
            let client = rng.below(clients as u64) as usize;
            let dir = if rng.percent(50) { Dir::Up } else { Dir::Down };
            let fault = match *rng.pick(&kinds) {
                0 => Fault::Reset {
                    client,
                    dir,
                    after_bytes: if rng.percent(30) {
                        rng.range(0, 40)
                    } else {
                        rng.range(0, 20_000)
                    },
                },
                1 => Fault::Stall {
                    client,
                    dur: rng.duration(Duration::from_millis(20), Duration::from_millis(4000)),
                },
                2 => Fault::Crash {
                    node: rng.below(nodes as u64) as usize,
                    down_for: rng.duration(Duration::from_millis(1), Duration::from_millis(1500)),
                },
                3 => Fault::ClientClose { client },
                4 => Fault::Partition {
                    client,
                    dur: rng.duration(Duration::from_millis(10), Duration::from_millis(4000)),
                },
                5 => Fault::Fragment {
                    client,
                    dur: rng.duration(Duration::from_millis(10), Duration::from_millis(800)),
                    max_piece: *rng.pick(&[1, 2, 3, 7, 13]),
                },
                6 => Fault::Slow {
                    client,
                    dir,
                    extra_delay: rng.duration(Duration::from_millis(1), Duration::from_millis(300)),
                    bytes_per_ms: rng.range(100, 1000),
                    dur: rng.duration(Duration::from_millis(50), Duration::from_millis(3000)),
                },
                _ => Fault::SlowReader {
                    client,
                    bytes_per_ms: rng.range(1, 20),
                    dur: rng.duration(Duration::from_millis(300), Duration::from_millis(4000)),
                },
            };
            faults.push((at, fault));
        }
        faults
    }

    /// Route and node faults of a cluster run (drawn after the client
    /// faults, so single-server runs draw what they always drew).
    fn draw_cluster(
        rng: &mut SimRng,
        nodes: usize,
        start: Instant,
        span: Duration,
        enabled: &mut [bool; KINDS.len()],
        faults: &mut Vec<(Instant, Fault)>,
    ) {
        for e in &mut enabled[CLIENT_KINDS..LINK_KINDS] {
            *e = rng.percent(55);
        }
        let kinds: Vec<usize> = (CLIENT_KINDS..LINK_KINDS).filter(|&k| enabled[k]).collect();
        if kinds.is_empty() {
            return;
        }
        for _ in 0..rng.range(2, 8) {
            let at = start + rng.duration(Duration::ZERO, span);
            let a = rng.below(nodes as u64) as usize;
            let b = (a + 1 + rng.below(nodes as u64 - 1) as usize) % nodes;
            let kind = *rng.pick(&kinds);
            let fault = Self::link_fault(rng, kind, a, b);
            faults.push((at, fault));
        }
    }

    /// A fault of link kind `kind` (a [`KINDS`] index from 8 on) between
    /// nodes `a` and `b`.
    fn link_fault(rng: &mut SimRng, kind: usize, a: usize, b: usize) -> Fault {
        match kind {
            8 => Fault::RouteReset {
                a,
                b,
                dir: if rng.percent(50) { Dir::Up } else { Dir::Down },
                after_bytes: if rng.percent(40) {
                    rng.range(0, 60)
                } else {
                    rng.range(0, 30_000)
                },
            },
            9 => Fault::RoutePartition {
                a,
                b,
                dur: rng.duration(Duration::from_millis(10), Duration::from_millis(4000)),
            },
            10 => Fault::RouteFragment {
                a,
                b,
                dur: rng.duration(Duration::from_millis(10), Duration::from_millis(1500)),
                max_piece: *rng.pick(&[1, 2, 3, 7, 13]),
            },
            11 => Fault::RouteSlow {
                a,
                b,
                extra_delay: rng.duration(Duration::from_millis(1), Duration::from_millis(300)),
                bytes_per_ms: rng.range(100, 1000),
                dur: rng.duration(Duration::from_millis(50), Duration::from_millis(3000)),
            },
            12 => Fault::DialFail {
                node: a,
                dur: rng.duration(Duration::from_millis(50), Duration::from_millis(2500)),
            },
            _ => Fault::Shutdown {
                node: a,
                down_for: rng.duration(Duration::from_millis(1), Duration::from_millis(1500)),
            },
        }
    }

    /// The enabled kinds, comma-separated.
    pub fn mix(&self) -> String {
        let names: Vec<&str> = (0..KINDS.len())
            .filter(|&k| self.enabled[k])
            .map(|k| KINDS[k])
            .collect();
        names.join(",")
    }
}
