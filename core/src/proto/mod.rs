//! The client wire protocol: operations, the resumable parser, and the
//! exact `-ERR` texts.

pub mod errors;
pub mod parser;

pub use errors::ProtocolError;
pub use parser::{Dialect, Limits, Parser};

use bytes::Bytes;

/// One operation received from a client connection.
///
/// Every byte field is a zero-copy slice of the read buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientOp {
    /// `CONNECT <json>`: the raw JSON text (not yet decoded).
    Connect(Bytes),
    /// `INFO <json>` sent by a client (ignored by the server).
    Info(Bytes),
    /// `PUB <subject> [reply] <size>` with its payload.
    Pub {
        /// Subject as sent (not validated by the parser).
        subject: Bytes,
        /// Optional reply subject.
        reply: Option<Bytes>,
        /// Payload without the trailing CRLF.
        payload: Bytes,
    },
    /// `HPUB <subject> [reply] <hdr-size> <total-size>` with headers and payload.
    HPub {
        /// Subject as sent.
        subject: Bytes,
        /// Optional reply subject.
        reply: Option<Bytes>,
        /// Length of the header block at the start of `message`.
        header_len: usize,
        /// Headers followed by payload, without the trailing CRLF.
        message: Bytes,
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subject as sent (validated by the engine).
        subject: Bytes,
        /// Optional queue group.
        queue: Option<Bytes>,
        /// Subscription id token.
        sid: Bytes,
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// Subscription id token.
        sid: Bytes,
        /// Optional auto-unsubscribe count.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (ignored).
    Ok,
    /// `-ERR ...` sent by a client: the server closes the connection.
    Err(Bytes),
    /// `RS+ <account> <subject> [<queue> <weight>]` from a route, or
    /// `LS+ <origin> <account> <subject> [<queue> <weight>]` (interest a
    /// route's server got from a leaf cluster).
    RouteSub {
        /// The leaf cluster of an `LS+`.
        origin: Option<Bytes>,
        /// Account name.
        account: Bytes,
        /// Subject pattern.
        subject: Bytes,
        /// Queue group, if any.
        queue: Option<Bytes>,
        /// Members of the queue group behind the route (1 for plain).
        weight: u32,
    },
    /// `RS- <account> <subject> [<queue>]` from a route, or `LS- <origin>
    /// <account> <subject> [<queue>]`.
    RouteUnsub {
        /// The leaf cluster of an `LS-`.
        origin: Option<Bytes>,
        /// Account name.
        account: Bytes,
        /// Subject pattern.
        subject: Bytes,
        /// Queue group, if any.
        queue: Option<Bytes>,
    },
    /// `LS+ <subject> [<queue> <weight>]` from a leaf link.
    LeafSub {
        /// Subject pattern.
        subject: Bytes,
        /// Queue group, if any.
        queue: Option<Bytes>,
        /// Members of the queue group behind the link (1 for plain).
        weight: u32,
    },
    /// `LS- <subject> [<queue>]` from a leaf link.
    LeafUnsub {
        /// Subject pattern.
        subject: Bytes,
        /// Queue group, if any.
        queue: Option<Bytes>,
    },
    /// `LMSG`/`HMSG` from a leaf link.
    LeafMsg {
        /// Subject.
        subject: Bytes,
        /// Reply subject, if any.
        reply: Option<Bytes>,
        /// The queue groups to serve, space separated (empty: none).
        queues: Bytes,
        /// Length of the header block at the start of `message` (0: none).
        header_len: usize,
        /// Headers and payload, without the trailing CRLF.
        message: Bytes,
    },
    /// `RMSG`/`HMSG` from a route: a message for local subscribers; or
    /// `LMSG <origin> ...`, one that entered the cluster from a leaf.
    RouteMsg {
        /// The leaf cluster of an `LMSG`.
        origin: Option<Bytes>,
        /// Account name.
        account: Bytes,
        /// Subject.
        subject: Bytes,
        /// Reply subject, if any.
        reply: Option<Bytes>,
        /// The queue groups to serve, space separated (empty: none).
        queues: Bytes,
        /// Length of the header block at the start of `message` (0: none).
        header_len: usize,
        /// Headers and payload, without the trailing CRLF.
        message: Bytes,
    },
    /// `A+ <account>` from a gateway: the peer has interest in the
    /// account again (after an `A-`).
    AccountSub(Bytes),
    /// `A- <account>` from a gateway: the peer has no interest at all in
    /// the account.
    AccountUnsub(Bytes),
}
