//! What the engine asks of its driver ([`Action`]), what it reports
//! ([`Event`]), and the names of its timers ([`TimerKey`]).

use crate::ids::ConnId;
use crate::time::Instant;
use std::fmt;
use std::time::Duration;

/// Something the driver must do. Drain with [`crate::Server::poll_action`]
/// after every `handle_*` call, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `conn` has new outbound bytes: call [`crate::Server::take_outbound`]
    /// and write them, then report progress with
    /// [`crate::Server::handle_written`].
    Flush(ConnId),
    /// Close `conn`. With `after_flush`, first take and write whatever is
    /// still queued (an `-ERR` line, for example), then close. Without it,
    /// drop queued data and close at once. Call
    /// [`crate::Server::handle_closed`] once the socket is gone.
    Close {
        /// The connection to close.
        conn: ConnId,
        /// Whether queued bytes must be written first.
        after_flush: bool,
    },
    /// Stop reading from `conn`: a consumer it feeds is behind. Resume at
    /// [`Action::ResumeReading`], or by yourself at `until` if none came.
    PauseReading {
        /// The producing connection.
        conn: ConnId,
        /// When reading may resume at the latest.
        until: Instant,
    },
    /// Read from `conn` again now: the consumers that held it drained.
    ResumeReading {
        /// The producing connection.
        conn: ConnId,
    },
    /// Sign the `nonce` a leaf hub sent on `conn`, for leaf remote number
    /// `remote` (its index in `leafnodes.remotes`), and answer with
    /// [`crate::Server::handle_signature`]: from the remote's credentials
    /// file or NKey seed (the `canopy` binary does that), or with the
    /// embedder's own key (nats-server's `SignatureCB`). The engine waits
    /// for the answer without blocking anything else.
    SignNonce {
        /// The leaf link waiting for its CONNECT.
        conn: ConnId,
        /// Which remote it was dialed for.
        remote: usize,
        /// The nonce to sign (its ASCII bytes).
        nonce: String,
    },
    /// Open a TCP connection to `addr` (`host:port`) for a link of
    /// `kind`, giving up after `timeout`. On success call
    /// [`crate::Server::handle_dialed`] and then treat `conn` like an
    /// accepted socket; on failure (or timeout) call
    /// [`crate::Server::handle_dial_failed`].
    Dial {
        /// The id the engine gave the connection.
        conn: ConnId,
        /// What the connection is for.
        kind: LinkKind,
        /// Where to connect.
        addr: String,
        /// How long the connect may take.
        timeout: Duration,
    },
    /// Operator mode with a `full` or `cache` resolver: keep this account
    /// JWT in the resolver's directory (as `<dir>/<account>.jwt`), so the
    /// next start hands it back in [`crate::trust::TrustOptions::stored`].
    StoreAccountJwt {
        /// The account's public key.
        account: String,
        /// The JWT.
        jwt: String,
    },
}

/// The kinds of server-to-server link the engine dials.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkKind {
    /// A cluster route.
    Route,
    /// A leaf node remote (this server solicits a hub).
    Leaf,
    /// An outbound gateway to another cluster.
    Gateway,
}

impl LinkKind {
    /// The kind's name in logs and traces.
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Route => "route",
            LinkKind::Leaf => "leafnode",
            LinkKind::Gateway => "gateway",
        }
    }
}

/// A named timer. Every deadline the engine keeps has one of these names,
/// so traces say why the engine woke up.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKey {
    /// Send a server PING (or declare the connection stale).
    Ping(ConnId),
    /// CONNECT did not arrive in time on a connection that must authenticate.
    AuthTimeout(ConnId),
    /// Outbound bytes made no progress for the write deadline.
    WriteDeadline(ConnId),
    /// Lame duck mode: the grace period ended, or evict the next client.
    LameDuck,
    /// Dial (or re-dial) the solicitor's target with this index.
    Dial(u32),
    /// A solicited leaf link's hub did not send its INFO (or, after our
    /// CONNECT, its connect-info INFO) in time.
    LeafHandshake(ConnId),
    /// A TLS handshake did not end within the block's `timeout`.
    TlsHandshake(ConnId),
    /// TLS first with a fallback: the client sent nothing, so it gets the
    /// INFO and the usual order.
    TlsFallback(ConnId),
    /// A websocket port's upgrade did not finish within
    /// `handshake_timeout`.
    WsHandshake(ConnId),
    /// A client's user JWT (or its connect-time window) runs out.
    AuthExpiry(ConnId),
    /// An operator-mode account's JWT expires (its clients are closed).
    AccountExpiry(crate::account::AccountId),
    /// A full resolver asks the cluster for the accounts it lacks
    /// (`$SYS.REQ.CLAIMS.PACK`, every `interval`).
    ResolverSync,
    /// Publish the system account's statsz heartbeat (`system/statsz.rs`).
    Statsz,
}

/// Why a connection closed; the texts are nats-server's `/connz` reasons.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The peer closed the socket.
    ClientClosed,
    /// No CONNECT within the auth timeout.
    AuthenticationTimeout,
    /// Bad credentials.
    AuthenticationViolation,
    /// Outbound buffer above max_pending.
    SlowConsumerPendingBytes,
    /// A write made no progress within the write deadline.
    SlowConsumerWriteDeadline,
    /// A socket write failed.
    WriteError,
    /// A socket read failed.
    ReadError,
    /// Malformed input.
    ParseError,
    /// Too many unanswered PINGs.
    StaleConnection,
    /// A protocol rule was broken (for example HPUB without headers).
    ProtocolViolation,
    /// CONNECT asked for an unknown protocol version.
    BadClientProtocolVersion,
    /// Over max_connections.
    MaxConnectionsExceeded,
    /// Payload above max_payload.
    MaxPayloadExceeded,
    /// Control line above max_control_line.
    MaxControlLineExceeded,
    /// no_responders without headers.
    NoRespondersRequiresHeaders,
    /// The server is shutting down.
    ServerShutdown,
    /// A second route to a server already routed to, or a route to
    /// ourselves (nats-server says the same for both).
    DuplicateRoute,
    /// The route peer's cluster name differs.
    ClusterNameConflict,
    /// A configured route removed by a reload.
    RouteRemoved,
    /// A newer leaf link from the same remote server replaced this one.
    DuplicateRemoteLeafnode,
    /// The leaf's cluster name is the hub's own.
    ClusterNamesIdentical,
    /// A leaf remote dialed a port that is not a leaf port.
    WrongPort,
    /// A gateway reached the wrong cluster, or was refused as unknown.
    WrongGateway,
    /// The TLS handshake failed or timed out.
    TlsHandshakeError,
    /// A user JWT (or its connect-time window) expired.
    AuthenticationExpired,
    /// An account update revoked the user.
    Revocation,
    /// Over the account's connection limit.
    MaxAccountConnectionsExceeded,
}

impl CloseReason {
    /// The `/connz` reason text.
    pub fn text(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::WriteError => "Write Error",
            CloseReason::ReadError => "Read Error",
            CloseReason::ParseError => "Parse Error",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::DuplicateRoute => "Duplicate Route",
            CloseReason::ClusterNameConflict => "Cluster Name Conflict",
            CloseReason::RouteRemoved => "Route Removed",
            CloseReason::DuplicateRemoteLeafnode => "Duplicate Remote LeafNode Connection",
            CloseReason::ClusterNamesIdentical => "Cluster Names Identical",
            CloseReason::WrongPort => "Incorrect Port",
            CloseReason::WrongGateway => "Wrong Gateway",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
            CloseReason::AuthenticationExpired => "Authentication Expired",
            CloseReason::Revocation => "Credentials Revoked",
            CloseReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// Something that happened, for logs and metrics. Drain with
/// [`crate::Server::poll_event`]; ignoring events is harmless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A client connection was accepted.
    ClientConnected {
        /// The new connection.
        conn: ConnId,
    },
    /// A connection closed (by the engine or the peer).
    ConnectionClosed {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// The engine has nothing left to serve (lame duck mode finished, or
    /// it began with no clients): the driver should shut down now.
    ShutdownRequested,
    /// A client exceeded max_pending and was disconnected.
    SlowConsumerDetected {
        /// The slow connection.
        conn: ConnId,
    },
}
