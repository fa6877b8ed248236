//! The `-ERR` catalogue: one variant per wire error text nats-server sends,
//! plus the silent-close cases.

use std::fmt;

/// A protocol problem caused by the peer. `Display` is the exact wire text
/// inside the quotes of `-ERR '<text>'`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// Unknown op, garbage, bad payload terminator. Closes.
    UnknownOperation,
    /// Authentication failed or was required. Closes.
    AuthorizationViolation,
    /// No CONNECT within the auth timeout. Closes.
    AuthenticationTimeout,
    /// PUB/HPUB size above max_payload. Closes.
    MaxPayload,
    /// Control line above max_control_line. Closes.
    MaxControlLine,
    /// Too many connections (sent after INFO). Closes.
    MaxConnections,
    /// Too many subscriptions on one connection. Stays open.
    MaxSubscriptions,
    /// SUB with an invalid subject. Stays open.
    InvalidSubject,
    /// PUB with an invalid subject under pedantic. Stays open; message still delivered.
    InvalidPublishSubject,
    /// Too many outstanding PINGs. Closes.
    StaleConnection,
    /// CONNECT protocol not 0 or 1. Closes.
    InvalidClientProtocol,
    /// no_responders without headers. Closes.
    NoRespondersRequiresHeaders,
    /// A client (its CONNECT has `lang`) dialed the route port.
    ClientOnRoutePort,
    /// Over its account's connection limit (operator mode). Closes.
    MaxAccountConnections,
    /// The user JWT (or its connect-time window) ran out. Closes.
    UserAuthExpired,
    /// The user was revoked by an account update. Closes.
    UserAuthRevoked,
    /// The account's JWT ran out. Closes.
    AccountAuthExpired,
}

impl ProtocolError {
    /// The wire text without quotes.
    pub fn text(self) -> &'static str {
        match self {
            ProtocolError::UnknownOperation => "Unknown Protocol Operation",
            ProtocolError::AuthorizationViolation => "Authorization Violation",
            ProtocolError::AuthenticationTimeout => "Authentication Timeout",
            ProtocolError::MaxPayload => "Maximum Payload Violation",
            ProtocolError::MaxControlLine => "maximum control line exceeded",
            ProtocolError::MaxConnections => "maximum connections exceeded",
            ProtocolError::MaxSubscriptions => "maximum subscriptions exceeded",
            ProtocolError::InvalidSubject => "Invalid Subject",
            ProtocolError::InvalidPublishSubject => "Invalid Publish Subject",
            ProtocolError::StaleConnection => "Stale Connection",
            ProtocolError::InvalidClientProtocol => "invalid client protocol",
            ProtocolError::NoRespondersRequiresHeaders => "no responders requires headers support",
            ProtocolError::ClientOnRoutePort => "attempted to connect to route port",
            ProtocolError::MaxAccountConnections => "maximum account active connections exceeded",
            ProtocolError::UserAuthExpired => "User Authentication Expired",
            ProtocolError::UserAuthRevoked => "User Authentication Revoked",
            ProtocolError::AccountAuthExpired => "Account Authentication Expired",
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn closes(self) -> bool {
        !matches!(
            self,
            ProtocolError::MaxSubscriptions
                | ProtocolError::InvalidSubject
                | ProtocolError::InvalidPublishSubject
        )
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}
