//! Identifiers the engine allocates deterministically.

use std::fmt;

/// A connection, numbered by the engine from 1 upward in accept order.
/// For clients it is also the `client_id` (`cid`) shown in INFO and logs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cid:{}", self.0)
    }
}
