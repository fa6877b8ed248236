//! The virtual clock and the event queue ordered by (time, sequence).

use canopy_core::Instant;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A min-heap of events keyed by (time, insertion sequence): events at the
/// same instant come out in the order they were scheduled.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<(Instant, u64, Slot<E>)>>,
    seq: u64,
    now: Instant,
}

/// Wrapper that keeps the payload out of the ordering.
#[derive(Debug)]
struct Slot<E>(E);

impl<E> PartialEq for Slot<E> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<E> Eq for Slot<E> {}
impl<E> PartialOrd for Slot<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Slot<E> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            seq: 0,
            now: Instant::ZERO,
        }
    }
}

impl<E> EventQueue<E> {
    /// The current virtual time (the time of the last popped event).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Schedules `event` at `at` (clamped to now: time never runs backwards).
    pub fn schedule(&mut self, at: Instant, event: E) {
        let at = at.max(self.now);
        self.heap.push(Reverse((at, self.seq, Slot(event))));
        self.seq += 1;
    }

    /// Pops the next event and jumps the clock to its time.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        let Reverse((at, _, Slot(event))) = self.heap.pop()?;
        self.now = at;
        Some((at, event))
    }

    /// The time of the next event, if any.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Moves the clock forward to `at` without popping (never backwards).
    pub fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
    }

    /// Number of scheduled events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_instant_keeps_schedule_order_and_clock_jumps() {
        let mut q = EventQueue::default();
        q.schedule(Instant::from_nanos(10), "b");
        q.schedule(Instant::from_nanos(5), "a");
        q.schedule(Instant::from_nanos(10), "c");
        assert_eq!(q.pop(), Some((Instant::from_nanos(5), "a")));
        assert_eq!(q.now(), Instant::from_nanos(5));
        q.schedule(Instant::from_nanos(1), "late");
        assert_eq!(q.pop(), Some((Instant::from_nanos(5), "late")));
        assert_eq!(q.pop(), Some((Instant::from_nanos(10), "b")));
        assert_eq!(q.pop(), Some((Instant::from_nanos(10), "c")));
        assert!(q.is_empty());
    }
}
