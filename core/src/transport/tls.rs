//! The TLS layer: rustls' buffered API, which does no IO.
//!
//! Reads go in with `read_tls` and `process_new_packets`, plaintext comes
//! out of `reader`; plaintext goes in through `writer` and records come
//! out of `write_tls`. Handshake messages and alerts are the layer's own
//! output ([`TlsLayer::wants_write`]). Plaintext written before the
//! handshake ends is held by rustls and sent when it ends (a dialer's
//! CONNECT); the outbound queue's bound applies before it reaches the
//! layer, so rustls' own buffer limit is lifted.

use super::{Decoded, Ending, ErrorKind, TransportError};
use crate::events::CloseReason;
use bytes::{BufMut, Bytes, BytesMut};
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::sync::Arc;

/// One connection's TLS state machine, in either role.
pub struct TlsLayer {
    conn: rustls::Connection,
    /// The first failure, kept for the handshake-error log line.
    error: Option<rustls::Error>,
    /// A close_notify is due after the data of the next encode.
    goodbye: bool,
    /// Some input was processed without error: the peer speaks TLS.
    processed: bool,
    /// Where records are written before they go out.
    wire: BytesMut,
}

impl std::fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLayer")
            .field(
                "server",
                &matches!(self.conn, rustls::Connection::Server(_)),
            )
            .field("handshaking", &self.conn.is_handshaking())
            .finish()
    }
}

impl TlsLayer {
    /// The accepting side, with the server configuration of the listener.
    pub fn server(config: Arc<rustls::ServerConfig>) -> Result<Self, rustls::Error> {
        let conn = rustls::ServerConnection::new(config)?;
        Ok(Self::wrap(conn.into()))
    }

    /// The dialing side, checking the peer's certificate against `name`
    /// (the host of the URL dialled). The ClientHello is queued at once.
    pub fn client(
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Self, rustls::Error> {
        let conn = rustls::ClientConnection::new(config, name)?;
        Ok(Self::wrap(conn.into()))
    }

    fn wrap(mut conn: rustls::Connection) -> Self {
        conn.set_buffer_limit(None);
        TlsLayer {
            conn,
            error: None,
            goodbye: false,
            processed: false,
            wire: BytesMut::new(),
        }
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The peer's end-entity certificate (DER), once the handshake has
    /// checked it.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref())
    }

    /// The negotiated protocol version and cipher suite, for monitoring
    /// (`tls_version`, `tls_cipher_suite` in `/connz`).
    pub fn negotiated(&self) -> Option<(rustls::ProtocolVersion, rustls::SupportedCipherSuite)> {
        Some((
            self.conn.protocol_version()?,
            self.conn.negotiated_cipher_suite()?,
        ))
    }

    /// The error that failed the layer, for log lines.
    pub fn error(&self) -> Option<&rustls::Error> {
        self.error.as_ref()
    }

    /// Whether the layer failed on the peer's very first bytes: not TLS at
    /// all (a plaintext client on a TLS port, a peer expecting the other
    /// order). Go's `first record does not look like a TLS handshake`,
    /// which it answers with no alert.
    pub fn not_tls(&self) -> bool {
        !self.processed && self.error.as_ref().is_some_and(is_record_error)
    }

    pub(super) fn decode(&mut self, input: Bytes) -> Decoded {
        // Plaintext is never longer than the records that carry it.
        let mut plain = BytesMut::with_capacity(input.len());
        let mut rest: &[u8] = &input;
        let mut failed = None;
        let mut stuck = false;
        while !rest.is_empty() {
            match self.conn.read_tls(&mut rest) {
                Ok(0) => break,
                Ok(_) => stuck = false,
                // rustls' buffer of unprocessed records is full: process
                // and retry once (taking the plaintext below empties it).
                Err(_) if !stuck => stuck = true,
                Err(_) => {
                    failed = Some(TransportError {
                        kind: ErrorKind::TooLarge,
                        ending: Ending::Silent,
                        reason: CloseReason::ReadError,
                    });
                    break;
                }
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => {
                    self.processed = true;
                    state
                }
                Err(e) => {
                    failed = Some(self.fail(e));
                    break;
                }
            };
            // Exactly the plaintext decoded so far: no buffer to zero
            // beyond it.
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = plain.len();
                plain.resize(start + n, 0);
                if self.conn.reader().read_exact(&mut plain[start..]).is_err() {
                    plain.truncate(start);
                }
            }
            if state.peer_has_closed() {
                // The peer's close_notify. Go reads it as the end of the
                // stream and closes the connection; so does the engine,
                // after the plaintext before it.
                failed = Some(TransportError {
                    kind: ErrorKind::PeerClosed,
                    ending: Ending::Silent,
                    reason: CloseReason::ClientClosed,
                });
                break;
            }
        }
        Decoded {
            plain: plain.freeze(),
            failed,
        }
    }

    /// Records a fatal TLS error; rustls queued the alert for the peer.
    fn fail(&mut self, e: rustls::Error) -> TransportError {
        let reason = if self.conn.is_handshaking() {
            CloseReason::TlsHandshakeError
        } else {
            CloseReason::ReadError
        };
        // Not TLS at all: close without an alert, as Go does.
        let ending = if !self.processed && is_record_error(&e) {
            Ending::Silent
        } else {
            Ending::Flush
        };
        self.error = Some(e);
        TransportError {
            kind: ErrorKind::Malformed,
            ending,
            reason,
        }
    }

    pub(super) fn encode(
        &mut self,
        input: &[Bytes],
        out: &mut Vec<Bytes>,
    ) -> Result<(), TransportError> {
        for chunk in input {
            // The buffer limit is lifted, so rustls takes all of it.
            if self.conn.writer().write_all(chunk).is_err() {
                return Err(TransportError {
                    kind: ErrorKind::WriteAfterClose,
                    ending: Ending::Silent,
                    reason: CloseReason::WriteError,
                });
            }
        }
        if std::mem::take(&mut self.goodbye) {
            self.conn.send_close_notify();
        }
        // Records go into one reused buffer, handed out as frozen slices
        // (no allocation per flush once it has grown).
        while self.conn.wants_write() {
            let mut w = (&mut self.wire).writer();
            match self.conn.write_tls(&mut w) {
                Ok(0) | Err(_) => break,
                Ok(_) => out.push(self.wire.split().freeze()),
            }
        }
        Ok(())
    }

    pub(super) fn wants_write(&self) -> bool {
        self.goodbye || self.conn.wants_write()
    }

    pub(super) fn buffered(&self) -> usize {
        // rustls bounds its own buffer of undecoded records.
        0
    }

    pub(super) fn queue_goodbye(&mut self) {
        self.goodbye = true;
    }
}

/// An error in a record's header: the bytes are not TLS records at all
/// (rather than a handshake that went wrong, such as a certificate).
fn is_record_error(e: &rustls::Error) -> bool {
    use rustls::InvalidMessage as M;
    matches!(
        e,
        rustls::Error::InvalidMessage(
            M::InvalidContentType
                | M::UnknownProtocolVersion
                | M::MessageTooLarge
                | M::InvalidEmptyPayload
        )
    )
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
