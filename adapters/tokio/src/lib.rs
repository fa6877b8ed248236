//! # canopy-tokio
//!
//! Runs the Canopy engine on tokio sockets. The driver owns the listener,
//! the sockets and a connection-id to socket map; it holds no protocol
//! logic. One engine task owns the [`canopy_core::Server`] and writes to
//! the sockets itself (non-blocking vectored writes after every input);
//! each connection has a reader task that hands reads to the engine in
//! order over a bounded channel, at most two reads ahead, so readers wait
//! when the engine is busy. See [`driver`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod driver;
pub mod logging;
pub mod settings;
pub mod signal;
