//! # canopy-tokio
//!
//! The tokio [`runtime`] of canopy-driver (sockets, timers and tasks for
//! its runtime-neutral loop), and the `canopy` binary's own modules:
//! [`settings`] (the config file and flags), [`logging`] (nats-server's
//! log lines) and [`signal`] (trapping and sending signals). The binary
//! runs the engine on tokio, or on canopy-smol with `CANOPY_RUNTIME=smol`
//! (see its `src/main.rs`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod logging;
pub mod runtime;
pub mod settings;
pub mod signal;

pub use runtime::{serve, TokioRuntime};
