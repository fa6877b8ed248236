//! Which plaintext a count of written wire bytes delivered.
//!
//! The driver reports progress in wire bytes (what reached the socket after
//! every layer encoded it); the slow-consumer rule counts plaintext (what
//! the peer has not yet received, in the unit `max_pending` is written in).
//! Once a layer changes sizes (framing adds bytes, compression removes
//! them, a handshake sends bytes that carry no plaintext at all) the two
//! drift apart, so every batch the transport hands out is recorded here as
//! `(wire, plain)` and written wire bytes are turned back into plaintext
//! bytes batch by batch.

use std::collections::VecDeque;

/// Wire bytes handed to the driver and not yet reported written, each
/// batch with the plaintext it carries, oldest first.
///
/// Plaintext sent as is (no layer) is kept as one counter at the front, so
/// the common plaintext connection never allocates here and maps 1:1.
#[derive(Debug, Default)]
pub struct WireLedger {
    /// Bytes at the front sent without any layer: one wire byte is one
    /// plaintext byte. They always precede `batches`.
    identity: usize,
    /// Encoded batches after the identity front, oldest first.
    batches: VecDeque<Batch>,
    /// Plaintext a layer took in without emitting wire bytes for it yet
    /// (TLS buffers application data until its handshake is done). It is
    /// credited with the next batch that has wire bytes, never earlier:
    /// the peer has not received it.
    carry_plain: usize,
    wire_in_flight: usize,
    plain_in_flight: usize,
}

/// One encoded batch and how much of it was written.
#[derive(Clone, Copy, Debug)]
struct Batch {
    wire: usize,
    plain: usize,
    wire_done: usize,
    plain_done: usize,
}

impl WireLedger {
    /// Records `n` bytes handed out unencoded (wire = plain).
    pub fn push_identity(&mut self, n: usize) {
        if self.batches.is_empty() && self.carry_plain == 0 {
            self.identity += n;
            self.wire_in_flight += n;
            self.plain_in_flight += n;
        } else {
            self.push(n, n);
        }
    }

    /// Records a batch of `wire` bytes handed out that carries `plain`
    /// plaintext bytes (`plain` may be 0: a pong, a handshake message; `wire`
    /// may be 0: a layer kept the plaintext for later).
    pub fn push(&mut self, wire: usize, plain: usize) {
        self.wire_in_flight += wire;
        self.plain_in_flight += plain;
        if wire == 0 {
            self.carry_plain += plain;
            return;
        }
        let plain = plain + std::mem::take(&mut self.carry_plain);
        if let Some(back) = self.batches.back_mut() {
            // Two 1:1 batches in a row are one 1:1 batch: crediting stays
            // exact and the queue stays short.
            if back.wire == back.plain && wire == plain {
                back.wire += wire;
                back.plain += plain;
                return;
            }
        }
        self.batches.push_back(Batch {
            wire,
            plain,
            wire_done: 0,
            plain_done: 0,
        });
    }

    /// Records that `n` wire bytes reached the socket and returns how many
    /// plaintext bytes that delivered. Inside a batch plaintext is credited
    /// in proportion (rounded down), and the rest of it exactly when the
    /// batch's last wire byte is written, so the plaintext in flight reaches
    /// zero exactly when every wire byte carrying plaintext is written. A
    /// count above what is in flight is treated as what is in flight.
    pub fn written(&mut self, n: usize) -> usize {
        let mut n = n.min(self.wire_in_flight);
        self.wire_in_flight -= n;
        let front = n.min(self.identity);
        self.identity -= front;
        n -= front;
        let mut plain = front;
        while n > 0 {
            let Some(b) = self.batches.front_mut() else {
                // Unreachable: `n` was capped at the wire in flight, which
                // is the identity front plus what the batches still hold.
                break;
            };
            let step = n.min(b.wire - b.wire_done);
            b.wire_done += step;
            n -= step;
            let credited = if b.wire_done == b.wire {
                b.plain
            } else {
                proportion(b.plain, b.wire_done, b.wire)
            };
            plain += credited - b.plain_done;
            b.plain_done = credited;
            if b.wire_done == b.wire {
                self.batches.pop_front();
            }
        }
        self.plain_in_flight -= plain;
        plain
    }

    /// Wire bytes handed out and not yet reported written: what the write
    /// deadline waits on.
    pub fn wire_in_flight(&self) -> usize {
        self.wire_in_flight
    }

    /// Plaintext bytes handed out (inside wire bytes, or held by a layer)
    /// that the peer has not yet received.
    pub fn plain_in_flight(&self) -> usize {
        self.plain_in_flight
    }
}

/// `plain * done / wire` without overflow; `done < wire`, so the result is
/// below `plain`.
fn proportion(plain: usize, done: usize, wire: usize) -> usize {
    (plain as u128 * done as u128 / wire as u128) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identity_is_one_to_one_and_never_allocates_a_batch() {
        let mut l = WireLedger::default();
        l.push_identity(10);
        l.push_identity(5);
        assert_eq!(l.written(4), 4);
        assert_eq!(l.written(11), 11);
        assert_eq!(l.plain_in_flight(), 0);
        assert_eq!(l.wire_in_flight(), 0);
        assert_eq!(l.batches.capacity(), 0);
    }

    #[test]
    fn a_batch_without_plaintext_credits_nothing() {
        let mut l = WireLedger::default();
        l.push_identity(3);
        l.push(7, 0);
        l.push(10, 4);
        assert_eq!(l.written(3), 3);
        assert_eq!(l.written(7), 0);
        assert_eq!(l.written(5), 2);
        assert_eq!(l.written(5), 2);
        assert_eq!((l.wire_in_flight(), l.plain_in_flight()), (0, 0));
    }

    #[test]
    fn held_plaintext_waits_for_the_next_wire_bytes() {
        let mut l = WireLedger::default();
        l.push(0, 6);
        assert_eq!(l.plain_in_flight(), 6);
        assert_eq!(l.written(100), 0);
        assert_eq!(l.plain_in_flight(), 6);
        l.push(4, 2);
        assert_eq!(l.written(3), 6);
        assert_eq!(l.written(1), 2);
        assert_eq!(l.plain_in_flight(), 0);
    }

    #[test]
    fn over_reporting_is_capped() {
        let mut l = WireLedger::default();
        l.push(8, 5);
        assert_eq!(l.written(usize::MAX), 5);
        assert_eq!(l.written(1), 0);
        assert_eq!(l.wire_in_flight(), 0);
    }

    proptest! {
        /// However batches and writes interleave, plaintext is credited
        /// monotonically, never ahead of its wire bytes, and all of it
        /// exactly when the last wire byte is written.
        #[test]
        fn plaintext_reaches_zero_with_the_last_wire_byte(
            batches in prop::collection::vec((0usize..50, 0usize..50, any::<bool>()), 1..20),
            writes in prop::collection::vec(0usize..40, 0..60),
        ) {
            let mut l = WireLedger::default();
            let (mut wire, mut plain) = (0usize, 0usize);
            for &(w, p, identity) in &batches {
                if identity {
                    l.push_identity(w);
                    wire += w;
                    plain += w;
                } else {
                    l.push(w, p);
                    wire += w;
                    plain += p;
                }
            }
            let mut credited = 0;
            for n in writes.into_iter().chain(std::iter::once(usize::MAX)) {
                let before = l.plain_in_flight();
                credited += l.written(n);
                prop_assert!(l.plain_in_flight() <= before);
                prop_assert_eq!(l.plain_in_flight() + credited, plain);
                prop_assert!(l.wire_in_flight() <= wire);
                if l.wire_in_flight() > 0 && l.batches.iter().any(|b| b.plain > 0) {
                    prop_assert!(l.plain_in_flight() > 0);
                }
            }
            prop_assert_eq!(l.wire_in_flight(), 0);
            // Plaintext held back with no wire bytes after it stays pending.
            prop_assert_eq!(l.plain_in_flight(), l.carry_plain);
        }
    }
}
