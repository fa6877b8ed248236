//! # canopy-core: the NATS server engine
//!
//! A pure, deterministic, sans-IO implementation of a NATS server. The
//! engine never touches a socket, a clock, a thread, the file system or the
//! OS random generator: it consumes bytes, time and a seed, and it emits
//! actions. Adapters (tokio, smol) move bytes between real sockets and the
//! engine; the simulator moves bytes between many engines under a virtual
//! clock. The same engine runs in all three places, so a seed that breaks
//! the simulator is a bug in production.
//!
//! ## Inputs and outputs
//!
//! Construct a [`Server`] with [`Options`], a 32-byte seed and the current
//! [`Instant`]. Then feed it every input there is:
//!
//! - [`Server::handle_accept`]: a socket was accepted on a listener of a
//!   [`ListenerKind`] (client, route, leaf or monitoring port);
//! - [`Server::handle_dialed`] / [`Server::handle_dial_failed`]: a dial the
//!   engine asked for with [`Action::Dial`] connected, or failed (or timed
//!   out);
//! - [`Server::handle_read`]: bytes arrived on a connection (at most
//!   [`Server::read_cap`] at a time);
//! - [`Server::handle_written`]: wire bytes taken with
//!   [`Server::take_outbound`] reached the socket;
//! - [`Server::handle_closed`]: a socket is gone (peer close, error, or the
//!   end of an [`Action::Close`]);
//! - [`Server::handle_timeout`]: the deadline from [`Server::poll_timeout`]
//!   passed (calling it early or twice is harmless);
//! - [`Server::handle_signature`]: the signature of a leaf hub's nonce the
//!   engine asked for with [`Action::SignNonce`] (from a credentials file,
//!   an NKey seed, or the embedder's own signer);
//! - [`Server::handle_wall_clock`]: the wall-clock time, for the timestamps
//!   monitoring shows (at start, and to correct drift);
//! - [`Server::set_host_stats`]: memory, CPU and cores, which only the
//!   driver can measure (before serving a monitoring request);
//! - [`Server::handle_host_addresses`]: the host's interface addresses,
//!   once at start (a server bound to `0.0.0.0` lists them in
//!   `connect_urls`);
//! - [`Server::reload`]: re-read options (SIGHUP);
//! - [`Server::enter_lame_duck`]: lame duck mode (SIGUSR2);
//! - [`Server::shutdown`]: close every connection (SIGINT, SIGTERM).
//!
//! Every input takes `now` last. Outputs are pulled:
//! [`Server::poll_action`], [`Server::poll_timeout`], [`Server::poll_event`].
//!
//! ## Inside
//!
//! Bytes of a connection pass its transport (`transport/`: the layers
//! between wire and parser, plaintext today) and its kind's parser
//! dialect; the connection's kind (`conn/`: client, route, HTTP, with one
//! policy table) decides what an op means; the router (`router/`: the
//! forwarding and propagation matrix, local fan-out, imports) decides
//! where a message goes, and the engine (`engine/`) writes it into the
//! outbound queues. Kind-specific code lives in `client/`, `cluster/` and
//! `monitor/`; `solicit/` decides when to dial.
//!
//! ## The run loop
//!
//! A driver repeats these steps:
//!
//! 1. Wait for the first of: a new socket, readable bytes, written bytes, a
//!    closed socket, or the deadline last returned by `poll_timeout`.
//! 2. Convert the real time into an engine [`Instant`] (a fixed epoch plus
//!    elapsed nanoseconds; never backwards).
//! 3. Call the matching `handle_*` with that `now`. Keep each read small
//!    against `max_pending`: at most [`Server::read_cap`] bytes a read;
//!    the engine handles a whole read before any flush, so one huge read of
//!    publishes could push a fast subscriber over its limit. A driver may batch
//!    several inputs before step 4, but must keep each connection's reads in
//!    order.
//! 4. Drain `poll_action` until `None`, in order: on [`Action::Flush`] call
//!    [`Server::take_outbound`] and start writing those bytes; on
//!    [`Action::Close`] take and write the remaining bytes first if
//!    `after_flush`, then close the socket and call `handle_closed`; on
//!    [`Action::PauseReading`] stop reading that socket until
//!    [`Action::ResumeReading`] or the instant, whichever comes first (a
//!    consumer it feeds is behind; `engine/stall.rs`); on [`Action::Dial`]
//!    open a TCP connection of the given kind within its timeout and report
//!    it with [`Server::handle_dialed`] (then treat it like an accepted
//!    socket) or [`Server::handle_dial_failed`]; on [`Action::SignNonce`]
//!    sign the nonce for that leaf remote and answer with
//!    [`Server::handle_signature`], now or later (the engine goes on).
//! 5. As writes complete, call `handle_written` with the byte counts (wire
//!    bytes: what reached the socket) and drain actions again.
//! 6. Drain `poll_event` for logs and metrics.
//! 7. Re-read `poll_timeout` and sleep until it (or the next input).
//!
//! ## Never
//!
//! - No input bytes can make the engine panic: peer mistakes become the
//!   exact `-ERR` (or silent close) nats-server 2.15.1 sends, plus a close
//!   action. `Err` values are for API misuse only.
//! - Output never depends on std `HashMap` iteration order: maps over
//!   peer-controlled keys hash with seeds drawn from the engine seed and are
//!   never iterated where order reaches the output.
//! - Randomness comes only from the seed, split into named streams
//!   ([`rng::Stream`]); time only from the `now` arguments; every timer has a
//!   name ([`TimerKey`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Whether the deliberate bug `$field` is switched on (always `false`
/// without the `mutations` feature; see `engine/mutations.rs`).
macro_rules! mutated {
    ($server:expr, $field:ident) => {{
        #[cfg(feature = "mutations")]
        let on = $server.mutations.$field;
        #[cfg(not(feature = "mutations"))]
        let on = false;
        on
    }};
}

pub mod account;
pub mod auth;
pub mod cli;
mod client;
mod cluster;
pub mod compression;
pub mod config;
mod conn;
pub mod engine;
pub mod events;
mod gateway;
mod http;
pub mod ids;
pub mod info;
pub mod jwt;
mod leaf;
pub mod monitor;
pub mod nkey;
pub mod options;
pub mod outbound;
pub mod perms;
pub mod proto;
pub mod reload;
pub mod rng;
pub mod route;
pub mod router;
mod solicit;
pub mod stats;
pub mod subject;
pub mod sublist;
mod system;
pub mod time;
pub mod timers;
pub mod tls;
pub mod transport;
pub mod trust;

#[cfg(test)]
mod tests;

pub use conn::ConnStats;
#[cfg(feature = "mutations")]
pub use engine::Mutations;
pub use engine::{ListenerKind, Server, ServerStats};
pub use events::{Action, CloseReason, Event, LinkKind, TimerKey};
pub use gateway::gateway_url;
pub use ids::ConnId;
pub use options::{
    ClientAuth, ClusterOptions, GatewayOptions, LeafOptions, Options, RemoteGatewayOptions,
    RemoteLeafOptions, RemoteWebsocket, WebsocketOptions,
};
pub use time::Instant;
