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
use bytes::{Bytes, BytesMut};
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::sync::Arc;

/// Plaintext read out of rustls per step; a TLS record holds at most 16 KiB.
const READ_STEP: usize = 16 * 1024 + 256;

/// One connection's TLS state machine, in either role.
pub struct TlsLayer {
    conn: rustls::Connection,
    /// The first failure, kept for the handshake-error log line.
    error: Option<rustls::Error>,
    /// A close_notify is due after the data of the next encode.
    goodbye: bool,
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

    pub(super) fn decode(&mut self, input: Bytes) -> Decoded {
        let mut plain = BytesMut::new();
        let mut rest: &[u8] = &input;
        let mut failed = None;
        let mut stuck = false;
        while !rest.is_empty() {
            match self.conn.read_tls(&mut rest) {
                Ok(0) => break,
                Ok(_) => stuck = false,
                // rustls' buffer of unprocessed records is full: process
                // and retry once (draining plaintext below empties it).
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
            if let Err(e) = self.conn.process_new_packets() {
                failed = Some(self.fail(e));
                break;
            }
            if let Err(e) = self.drain(&mut plain) {
                failed = Some(e);
                break;
            }
        }
        if failed.is_none() && input.is_empty() {
            // Nothing new: still hand out anything decoded earlier.
            if let Err(e) = self.drain(&mut plain) {
                failed = Some(e);
            }
        }
        Decoded {
            plain: plain.freeze(),
            failed,
        }
    }

    /// Moves the plaintext rustls decoded into `plain`.
    fn drain(&mut self, plain: &mut BytesMut) -> Result<(), TransportError> {
        loop {
            let start = plain.len();
            plain.resize(start + READ_STEP, 0);
            match self.conn.reader().read(&mut plain[start..]) {
                Ok(n) => {
                    plain.truncate(start + n);
                    // Zero: the peer's close_notify. Go reads it as the end
                    // of the stream and closes the connection; so does the
                    // engine, after the plaintext before it.
                    if n == 0 {
                        return Err(TransportError {
                            kind: ErrorKind::PeerClosed,
                            ending: Ending::Silent,
                            reason: CloseReason::ClientClosed,
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    plain.truncate(start);
                    return Ok(());
                }
                Err(_) => {
                    // The peer ended the stream without close_notify.
                    plain.truncate(start);
                    return Err(TransportError {
                        kind: ErrorKind::PeerClosed,
                        ending: Ending::Silent,
                        reason: CloseReason::ReadError,
                    });
                }
            }
        }
    }

    /// Records a fatal TLS error; rustls queued the alert for the peer.
    fn fail(&mut self, e: rustls::Error) -> TransportError {
        let reason = if self.conn.is_handshaking() {
            CloseReason::TlsHandshakeError
        } else {
            CloseReason::ReadError
        };
        self.error = Some(e);
        TransportError {
            kind: ErrorKind::Malformed,
            ending: Ending::Flush,
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
        while self.conn.wants_write() {
            let mut wire = Vec::new();
            match self.conn.write_tls(&mut wire) {
                Ok(0) => break,
                Ok(_) => out.push(Bytes::from(wire)),
                Err(_) => break,
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

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
