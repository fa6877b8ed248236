//! The master seed, split into independent ChaCha streams per purpose.
//!
//! Every random choice of a run comes from one `u64`. Each purpose (the
//! topology and options, the workload of each client, the fault plan, each
//! link, each engine incarnation) gets its own stream keyed by the master
//! seed, the purpose and an index, so a new draw in one place never shifts
//! the numbers another place sees.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::time::Duration;

/// What a stream is used for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Topology and server options.
    Topology,
    /// The workload (which clients, what they do); index = client.
    Workload,
    /// The fault plan.
    Faults,
    /// One link's chunking and jitter; index = connection number.
    Link,
    /// One engine incarnation's 32-byte seed; index = node << 32 | generation.
    Engine,
    /// TLS worlds: keys, settings and TLS faults (never read by other
    /// modes, so their draws are untouched).
    Tls,
    /// `--s2`/`--ws` worlds: link settings and their faults (never read
    /// by other modes).
    Links,
    /// `--operator` worlds: the operator's, accounts' and users' keys
    /// (never read by other modes).
    Operator,
}

impl Purpose {
    fn tag(self) -> u64 {
        match self {
            Purpose::Topology => 1,
            Purpose::Workload => 2,
            Purpose::Faults => 3,
            Purpose::Link => 4,
            Purpose::Engine => 5,
            Purpose::Tls => 6,
            Purpose::Links => 7,
            Purpose::Operator => 8,
        }
    }
}

/// The 32-byte key of the stream (`master`, `purpose`, `index`).
pub fn stream_key(master: u64, purpose: Purpose, index: u64) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&master.to_le_bytes());
    key[8..16].copy_from_slice(&purpose.tag().to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..32].copy_from_slice(b"canopysm");
    // Whiten through ChaCha once so that neighbouring seeds share no key bytes.
    let mut whitener = ChaCha8Rng::from_seed(key);
    let mut out = [0u8; 32];
    whitener.fill_bytes(&mut out);
    out
}

/// The seed of engine `node`'s `generation`-th incarnation.
pub fn engine_seed(master: u64, node: usize, generation: u32) -> [u8; 32] {
    stream_key(
        master,
        Purpose::Engine,
        ((node as u64) << 32) | u64::from(generation),
    )
}

/// A deterministic random stream with the helpers the simulator needs.
#[derive(Clone, Debug)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// The stream for (`master`, `purpose`, `index`).
    pub fn new(master: u64, purpose: Purpose, index: u64) -> SimRng {
        SimRng(ChaCha8Rng::from_seed(stream_key(master, purpose, index)))
    }

    /// A uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.0.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// A `usize` in `lo..=hi`.
    pub fn range_usize(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as u64, hi as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A duration in `lo..=hi`, with microsecond resolution.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let lo_us = lo.as_micros() as u64;
        let hi_us = hi.as_micros() as u64;
        Duration::from_micros(self.range(lo_us, hi_us))
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_repeatable_and_distinct() {
        let mut a = SimRng::new(7, Purpose::Workload, 0);
        let mut b = SimRng::new(7, Purpose::Workload, 0);
        let mut c = SimRng::new(7, Purpose::Workload, 1);
        let mut d = SimRng::new(8, Purpose::Workload, 0);
        let (x, y, z, w) = (a.next_u64(), b.next_u64(), c.next_u64(), d.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(x, w);
        assert_ne!(engine_seed(1, 0, 0), engine_seed(1, 0, 1));
        for _ in 0..1000 {
            let v = a.range(3, 5);
            assert!((3..=5).contains(&v));
        }
    }
}
