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
        }
    }
}

/// Names of the fault kinds, by [`Fault::kind`].
pub const KINDS: [&str; 8] = [
    "reset",
    "stall",
    "crash",
    "client-close",
    "partition",
    "fragment",
    "slow",
    "slow-reader",
];

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
        for e in &mut enabled {
            *e = rng.percent(55);
        }
        if !enabled.iter().any(|&e| e) {
            enabled[rng.below(KINDS.len() as u64) as usize] = true;
        }
        let kinds: Vec<usize> = (0..KINDS.len()).filter(|&k| enabled[k]).collect();
        let span = end.saturating_since(start);
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
        faults.sort_by_key(|&(at, _)| at);
        FaultPlan { enabled, faults }
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
