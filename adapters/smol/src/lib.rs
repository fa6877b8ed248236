//! # canopy-smol
//!
//! Runs the Canopy engine on smol's building blocks: async-io's reactor
//! (`Async<TcpStream>`, `Async<TcpListener>`, `Timer`) and an
//! async-executor for the connections' tasks. The loop itself is
//! canopy-driver's, the same as on tokio; this crate is only the
//! [`SmolRuntime`] glue.
//!
//! ## async-std
//!
//! async-std is discontinued (RUSTSEC-2025-0052) in favour of smol, and it
//! was built on async-io: this adapter is also the async-std answer. The
//! future of [`run`] drives its own executor and needs only async-io's
//! reactor, so async-std's `task::block_on` or `task::spawn` runs it as
//! well (`tests/async_std.rs` shows a server under async-std's executor
//! exchanging a message). No async-std-specific code exists or is needed.
//!
//! The `canopy` binary (in canopy-tokio) runs on this adapter with
//! `CANOPY_RUNTIME=smol`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;

pub use runtime::{run, serve, SmolRuntime};
