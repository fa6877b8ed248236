//! The event trace: a running hash of everything that happened (for the
//! determinism check) and, when asked, a ring of the last events (printed
//! when a replayed seed fails).

use canopy_core::Instant;
use std::collections::VecDeque;
use std::fmt::Write as _;

/// An FNV-1a style 64-bit hash: stable across builds and platforms, unlike
/// std's hasher.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Mixes bytes in, a 64-bit word at a time (FNV-1a over words: cheap
    /// enough to hash every byte the simulator moves, even in debug builds).
    pub fn bytes(&mut self, data: &[u8]) {
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.0 ^= u64::from_le_bytes(word);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for &b in words.remainder() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes a number in: exactly [`Fnv::bytes`] of its eight
    /// little-endian bytes (one word), without the slicing, which costs
    /// in debug builds.
    pub fn u64(&mut self, v: u64) {
        self.0 ^= v;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    hash: Fnv,
    ring: VecDeque<String>,
    ring_len: usize,
    events: u64,
}

impl Trace {
    /// A trace keeping the last `ring_len` events as text (0: hash only).
    pub fn new(ring_len: usize) -> Trace {
        Trace {
            hash: Fnv::default(),
            ring: VecDeque::with_capacity(ring_len),
            ring_len,
            events: 0,
        }
    }

    /// Records one event: a tag, two numbers and the bytes it carried.
    pub fn record(&mut self, at: Instant, tag: &'static str, a: u64, b: u64, data: &[u8]) {
        self.events += 1;
        self.hash.u64(at.as_nanos());
        self.hash.bytes(tag.as_bytes());
        self.hash.u64(a);
        self.hash.u64(b);
        self.hash.u64(data.len() as u64);
        self.hash.bytes(data);
        if self.ring_len == 0 {
            return;
        }
        if self.ring.len() == self.ring_len {
            self.ring.pop_front();
        }
        let mut line = format!(
            "{:>10.6}s {tag:<14} {a:>4} {b:>6}",
            at.as_nanos() as f64 / 1e9
        );
        if !data.is_empty() {
            let shown = &data[..data.len().min(60)];
            let _ = write!(
                line,
                " {} B {:?}",
                data.len(),
                String::from_utf8_lossy(shown)
            );
        }
        self.ring.push_back(line);
    }

    /// Whether the text ring is kept (replay mode).
    pub fn verbose(&self) -> bool {
        self.ring_len > 0
    }

    /// Records a free-form note in the ring only (not hashed: notes exist
    /// only in replay mode).
    pub fn note(&mut self, at: Instant, text: String) {
        if self.ring_len == 0 {
            return;
        }
        if self.ring.len() == self.ring_len {
            self.ring.pop_front();
        }
        self.ring
            .push_back(format!("{:>10.6}s {text}", at.as_nanos() as f64 / 1e9));
    }

    /// The hash of every event so far.
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// Number of events recorded.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The last events as text, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &String> {
        self.ring.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_hashes_as_its_bytes() {
        for v in [0, 1, 0x0123_4567_89ab_cdef, u64::MAX] {
            let mut a = Fnv::default();
            let mut b = Fnv::default();
            a.bytes(b"tag");
            b.bytes(b"tag");
            a.u64(v);
            b.bytes(&v.to_le_bytes());
            assert_eq!(a.finish(), b.finish());
        }
    }
}
