//! Sans-IO layers between the wire and the parser and outbound queue.
//!
//! This module grows into the connection's transport chain (TLS, WebSocket,
//! S2). So far it holds the bookkeeping that keeps write accounting right
//! once a layer changes sizes: [`WireLedger`].

mod ledger;

pub use ledger::WireLedger;
