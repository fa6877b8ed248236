//! # canopy-tokio
//!
//! Runs the Canopy engine on tokio sockets. The driver owns the listener,
//! the sockets and a connection-id to socket map; it holds no protocol
//! logic. One engine task owns the [`canopy_core::Server`]; each connection
//! has a reader task (reads handed to the engine in order over a bounded
//! channel, so readers wait when the engine is busy) and a writer task
//! (writes the chunks the engine offers and reports progress).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod driver;
pub mod logging;
pub mod signal;
pub mod simple_config;
