//! Seeded randomness, split into independent named streams.
//!
//! The engine takes one 32-byte seed. Each purpose gets its own ChaCha8
//! stream derived from that seed and the purpose's name, so that a new draw
//! in one feature never shifts the numbers another feature sees.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// The purposes that draw random numbers inside the engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Server identity (server id, xkey) and nonces.
    Identity,
    /// Queue-group member choice.
    QueueChoice,
    /// Timer jitter (first PING, reconnect backoff).
    Jitter,
    /// Seeds for hashers over peer-controlled keys.
    Hashing,
    /// Route nonces and generated cluster names.
    Shuffle,
    /// Reply subjects rewritten for service imports (`_R_.xxxxxx.yyyyyy`).
    Replies,
    /// The solicitor's URL shuffles.
    Dials,
    /// Which `traceparent` messages an account's `msg_trace` samples.
    TraceSampling,
    /// Leaf nonces and loop-detection subjects.
    Leaf,
    /// Ids of the system account's events (`"id"`, nats-server's nuid).
    System,
}

impl Stream {
    fn tag(self) -> u8 {
        match self {
            Stream::Identity => 1,
            Stream::QueueChoice => 2,
            Stream::Jitter => 3,
            Stream::Hashing => 4,
            Stream::Shuffle => 5,
            Stream::Replies => 6,
            Stream::Dials => 7,
            Stream::TraceSampling => 8,
            Stream::Leaf => 9,
            Stream::System => 10,
        }
    }
}

/// A deterministic random stream (ChaCha8; the algorithm is part of the
/// seed's meaning and must not change silently).
#[derive(Clone, Debug)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// Derives the stream for `purpose` from the engine seed.
    pub fn derive(seed: &[u8; 32], purpose: Stream) -> Self {
        let mut s = *seed;
        // Mix the purpose into the seed; ChaCha's key schedule does the rest.
        s[31] ^= purpose.tag();
        s[0] = s[0].wrapping_add(purpose.tag().wrapping_mul(151));
        Rng(ChaCha8Rng::from_seed(s))
    }

    /// Returns a uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Returns a uniformly random `u32`.
    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// Returns a value in `0..n` (`n` must be non-zero; returns 0 for 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the tiny bias is irrelevant here.
        ((self.0.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Fills `dst` with random bytes.
    pub fn fill(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_repeatable() {
        let seed = [7u8; 32];
        let mut a = Rng::derive(&seed, Stream::QueueChoice);
        let mut b = Rng::derive(&seed, Stream::QueueChoice);
        let mut c = Rng::derive(&seed, Stream::Jitter);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        for _ in 0..1000 {
            assert!(a.below(3) < 3);
        }
    }
}
