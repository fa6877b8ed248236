//! Engine time: a monotonic instant in nanoseconds since an engine epoch.
//!
//! The engine never reads a clock. Adapters capture an epoch when they start
//! and convert real instants into [`Instant`]; the simulator starts at zero
//! and jumps from event to event. Durations are plain [`std::time::Duration`].

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in engine time: nanoseconds since the engine epoch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The engine epoch.
    pub const ZERO: Instant = Instant(0);
    /// The largest representable instant (used as "never").
    pub const MAX: Instant = Instant(u64::MAX);

    /// Builds an instant from nanoseconds since the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// Returns nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Returns the time elapsed from `earlier` to `self`, or zero if
    /// `earlier` is later (time never runs backwards inside the engine).
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Adds a duration, saturating at [`Instant::MAX`].
    fn add(self, rhs: Duration) -> Instant {
        let d = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(d))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_nanos(5);
        assert_eq!(t + Duration::from_nanos(3), Instant::from_nanos(8));
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::ZERO, Duration::from_nanos(5));
    }
}
