//! How a layer fails, and how nats-server ends such a connection.

use crate::events::CloseReason;
use std::fmt;

/// A layer failed for good. The engine closes the connection as
/// [`TransportError::ending`] says, with [`TransportError::reason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportError {
    /// What went wrong (for logs and tests).
    pub kind: ErrorKind,
    /// How nats-server ends the connection.
    pub ending: Ending,
    /// The `/connz` reason.
    pub reason: CloseReason,
}

/// What made a layer fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The peer's bytes break the layer's format (a bad frame, a corrupt
    /// compressed chunk, a TLS record that does not decrypt).
    Malformed,
    /// A unit the peer announced (frame, record, chunk) is larger than the
    /// layer will buffer.
    TooLarge,
    /// The peer ended the layer in-band (a WebSocket close frame, a TLS
    /// close_notify).
    PeerClosed,
    /// Plaintext was queued after the layer said goodbye.
    WriteAfterClose,
}

/// How a connection whose transport failed is ended, as nats-server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Close at once without writing anything more (nats-server's close on
    /// a read error).
    Silent,
    /// Write what is queued, including what the layers queued for the peer
    /// (a TLS alert, a WebSocket close frame), then close.
    Flush,
    /// Queue `-ERR '<text>'`, flush, then close.
    Err(&'static str),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Malformed => "malformed input",
            ErrorKind::TooLarge => "unit above the layer's limit",
            ErrorKind::PeerClosed => "closed by the peer",
            ErrorKind::WriteAfterClose => "write after close",
        };
        write!(f, "transport: {what} ({})", self.reason)
    }
}
