//! # canopy-driver
//!
//! Runs the Canopy engine on real sockets, on any async runtime that
//! implements the small [`Runtime`] trait (canopy-tokio and canopy-smol do,
//! in about 150 lines each). The driver owns the listeners, the
//! sockets and a connection-id to socket map; it holds no protocol logic:
//! it follows the run loop of `canopy_core` (see its crate docs) and
//! carries out the engine's actions.
//!
//! Performance design (BENCHMARKS.md says what each part bought):
//!
//! - One engine task owns the [`canopy_core::Server`] and writes to the
//!   sockets itself, with one non-blocking vectored write per flushed
//!   connection after every input; only a socket that is full gets a small
//!   task that waits until it drains.
//! - Each connection has a reader task that hands reads to the engine in
//!   order over a bounded channel, at most two reads ahead, so readers wait
//!   when the engine is busy.
//! - Read buffers start at 4 KiB and double while reads fill them, up to
//!   256 KiB or the engine's [`canopy_core::Server::read_cap`], and halve
//!   while reads use little of them.
//! - The engine task handles at most 256 inputs per wakeup before it looks
//!   at its deadline, listeners and controls again.
//!
//! Host facts the engine cannot read itself come from here too: the
//! [`Clock`] (engine instants from a captured epoch), the seed (OS
//! randomness), wall-clock time and this process's CPU and memory use for
//! `/varz`, and [`bind`], which listens with the system's backlog.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod control;
mod driver;
mod host;
pub mod runtime;

pub use control::{Control, Reload};
pub use driver::{run, Setup};
pub use host::{bind, Clock};
pub use runtime::{Listener, Runtime, Stream, Timer};
