//! # canopy-sim
//!
//! The deterministic simulator: engines joined by simulated links, client
//! models speaking the real protocol, a virtual clock that jumps from event
//! to event, one master seed, and a reference model that checks every
//! delivery. See `sim/README.md` for how to run it.
//!
//! - [`clock`]: the event queue ordered by (time, sequence);
//! - [`rng`]: the master seed split into named ChaCha streams;
//! - [`link`]: simulated TCP with per-direction rules;
//! - [`parser`]: the client side's parser of server ops;
//! - [`route_wire`]: the observer of route traffic between engines;
//! - [`link_wire`]: below it, the HTTP upgrade, WebSocket frames and S2
//!   of each link direction, switched where the engines switch, and the
//!   compression negotiation checked against nats-server's table;
//! - [`links`]: `--s2` and `--ws` worlds: compression and WebSocket
//!   settings drawn per seed, and their faults;
//! - [`operator`]: `--operator` worlds: the operator, its accounts and
//!   users drawn per seed, rogue logins;
//! - [`client_model`]: clients that speak real protocol bytes;
//! - [`checker`]: the reference model and the invariants;
//! - [`world`]: engines, connections, clients and the event loop;
//! - [`workload`], [`faults`]: what a seed draws;
//! - [`swarm`]: one seed end to end, safety phase then healing;
//! - [`supercluster`]: gateway mode's topologies, options and clients;
//! - [`scenario`]: the scripted-scenario DSL;
//! - [`tls`]: TLS worlds: certificates, plans, client TLS, shadows and
//!   the plaintext-on-TLS checker;
//! - [`trace`]: the trace hash and the replay ring.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checker;
pub mod client_model;
pub mod clock;
pub mod faults;
pub mod link;
pub mod link_wire;
pub mod links;
pub mod operator;
pub mod parser;
pub mod rng;
pub mod route_wire;
pub mod scenario;
pub mod supercluster;
pub mod swarm;
pub mod tls;
pub mod trace;
pub mod workload;
pub mod world;
