//! The timer table: every deadline has a name ([`TimerKey`]).

use crate::events::TimerKey;
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};

/// Deadlines ordered by (time, name); at most one deadline per name.
#[derive(Debug, Default)]
pub struct Timers {
    by_time: BTreeSet<(Instant, TimerKey)>,
    by_key: BTreeMap<TimerKey, Instant>,
}

impl Timers {
    /// Sets (or moves) the deadline of `key`.
    pub fn set(&mut self, key: TimerKey, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.by_time.remove(&(old, key));
        }
        self.by_time.insert((at, key));
    }

    /// Cancels `key` if it is set.
    pub fn cancel(&mut self, key: TimerKey) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
    }

    /// The deadline of `key`, if set.
    pub fn get(&self, key: TimerKey) -> Option<Instant> {
        self.by_key.get(&key).copied()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<(Instant, TimerKey)> {
        self.by_time.first().copied()
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        let &(at, key) = self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ConnId;

    #[test]
    fn set_moves_and_pops_in_order() {
        let mut t = Timers::default();
        let a = TimerKey::Ping(ConnId(1));
        let b = TimerKey::AuthTimeout(ConnId(1));
        t.set(a, Instant::from_nanos(10));
        t.set(b, Instant::from_nanos(5));
        t.set(a, Instant::from_nanos(3));
        assert_eq!(t.len(), 2);
        assert_eq!(t.next(), Some((Instant::from_nanos(3), a)));
        assert_eq!(t.pop_due(Instant::from_nanos(2)), None);
        assert_eq!(t.pop_due(Instant::from_nanos(6)), Some(a));
        assert_eq!(t.pop_due(Instant::from_nanos(6)), Some(b));
        assert!(t.is_empty());
        t.set(a, Instant::from_nanos(1));
        t.cancel(a);
        assert_eq!(t.next(), None);
    }
}
