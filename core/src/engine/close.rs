//! Errors, closes and the outbound bound: `-ERR` and close, the slow
//! consumer verdict, and the flush schedule every write ends in.

use super::Server;
use crate::conn::ConnKind;
use crate::events::{Action, CloseReason, Event, TimerKey};
use crate::ids::ConnId;
use crate::proto::ProtocolError;
use crate::time::Instant;
use crate::transport::{Ending, TransportError};

impl Server {
    /// Sends `-ERR` and, for closing errors, closes after flushing.
    pub(crate) fn fail(&mut self, conn: ConnId, err: ProtocolError, now: Instant) {
        let reason = match err {
            // nats-server closes every parse failure but a peer's own
            // `-ERR` as a Protocol Violation (`/connz?state=closed`).
            ProtocolError::UnknownOperation => CloseReason::ProtocolViolation,
            ProtocolError::AuthorizationViolation => CloseReason::AuthenticationViolation,
            ProtocolError::AuthenticationTimeout => CloseReason::AuthenticationTimeout,
            ProtocolError::MaxPayload => CloseReason::MaxPayloadExceeded,
            ProtocolError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            ProtocolError::MaxConnections => CloseReason::MaxConnectionsExceeded,
            ProtocolError::StaleConnection => CloseReason::StaleConnection,
            ProtocolError::InvalidClientProtocol => CloseReason::BadClientProtocolVersion,
            ProtocolError::NoRespondersRequiresHeaders => CloseReason::NoRespondersRequiresHeaders,
            ProtocolError::ClientOnRoutePort => CloseReason::ProtocolViolation,
            ProtocolError::MaxAccountConnections => CloseReason::MaxAccountConnectionsExceeded,
            ProtocolError::UserAuthExpired | ProtocolError::AccountAuthExpired => {
                CloseReason::AuthenticationExpired
            }
            ProtocolError::UserAuthRevoked => CloseReason::Revocation,
            ProtocolError::MaxSubscriptions
            | ProtocolError::InvalidSubject
            | ProtocolError::InvalidPublishSubject => CloseReason::ProtocolViolation,
        };
        self.fail_with(conn, err, reason, now);
    }

    pub(crate) fn fail_with(
        &mut self,
        conn: ConnId,
        err: ProtocolError,
        reason: CloseReason,
        now: Instant,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        c.out.push_err(err.text());
        c.trace_out(format_args!("-ERR {}", err.text()));
        self.mark_dirty(conn);
        if err.closes() {
            self.close(conn, reason, true, true, now);
        }
    }

    /// Marks `conn` closed: its subscriptions leave the index and its timers
    /// stop. With `emit`, the driver is told to close the socket.
    pub(crate) fn close(
        &mut self,
        conn: ConnId,
        reason: CloseReason,
        flush: bool,
        emit: bool,
        now: Instant,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        c.closed = true;
        if flush {
            // A WebSocket says why in its close frame (nats-server's
            // status for the reason); TLS sends its close_notify after.
            if let Some(w) = c.transport.ws_mut() {
                w.queue_close_for(reason);
            }
            c.transport.queue_goodbye();
        } else {
            c.out.clear();
        }
        // Producers it held go on (those no one else holds resume).
        self.release_held(conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.counted {
            c.counted = false;
            self.client_count -= 1;
        }
        match &c.kind {
            ConnKind::Client(_) => self.client_closed(conn, reason, now),
            ConnKind::Route(_) => self.route_closed(conn, reason, now),
            ConnKind::Leaf(_) => self.leaf_closed(conn, reason, now),
            ConnKind::Gateway(_) => self.gateway_closed(conn, reason, now),
            ConnKind::Http(_) => {}
        }
        self.timers.cancel(TimerKey::Ping(conn));
        self.timers.cancel(TimerKey::AuthTimeout(conn));
        self.timers.cancel(TimerKey::AuthExpiry(conn));
        self.timers.cancel(TimerKey::WriteDeadline(conn));
        self.timers.cancel(TimerKey::LeafHandshake(conn));
        self.events
            .push_back(Event::ConnectionClosed { conn, reason });
        if emit {
            self.actions.push_back(Action::Close {
                conn,
                after_flush: flush,
            });
        }
    }

    /// Sends `-ERR '<text>'` and closes after flushing: a refusal whose
    /// text names something (an account, a cluster, a gateway).
    pub(crate) fn refuse(&mut self, conn: ConnId, text: &str, reason: CloseReason, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.out.push_err(text);
        }
        self.mark_dirty(conn);
        self.close(conn, reason, true, true, now);
    }

    /// Counts, reports and closes a slow consumer: one whose outbound bytes
    /// passed max_pending (`SlowConsumerPendingBytes`) or whose write
    /// deadline passed (`SlowConsumerWriteDeadline`); the reason picks
    /// nats-server's log line.
    pub(crate) fn slow_consumer(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        if reason == CloseReason::SlowConsumerWriteDeadline {
            tracing::info!("{} - Slow Consumer Detected: WriteDeadline exceeded", conn);
        } else if let Some(c) = self.conns.get(&conn) {
            tracing::info!(
                "{} - {} - Slow Consumer Detected: MaxPending of {} Exceeded",
                c.peer,
                conn,
                self.options.max_pending
            );
        }
        self.stats.slow_consumers += 1;
        self.events.push_back(Event::SlowConsumerDetected { conn });
        self.close(conn, reason, false, true, now);
    }

    /// Closes the connections [`Server::mark_dirty`] found past
    /// max_pending.
    pub(crate) fn close_overflowed(&mut self, now: Instant) {
        while let Some(conn) = self.overflowed.pop() {
            if self.conns.get(&conn).is_some_and(|c| !c.closed) {
                self.slow_consumer(conn, CloseReason::SlowConsumerPendingBytes, now);
            }
        }
    }

    /// A transport layer of `conn` failed for good: ends the connection
    /// as nats-server does for that failure (silently, after flushing, or
    /// with an `-ERR`).
    pub(crate) fn transport_failed(&mut self, conn: ConnId, failure: TransportError, now: Instant) {
        if let Some(c) = self.conns.get(&conn) {
            if let Some(tls) = c.transport.tls() {
                let typ = c.policy().tls_name;
                let label = self.conn_label(conn);
                if tls.not_tls() {
                    // nats-server logs a probe's non-TLS bytes at debug.
                    tracing::debug!(
                        "{label} - TLS {typ}handshake error: tls: first record does not look \
                         like a TLS handshake"
                    );
                } else if let Some(e) = tls.error() {
                    tracing::error!("{label} - TLS {typ}handshake error: {e}");
                }
            }
        }
        match failure.ending {
            Ending::Silent => self.close(conn, failure.reason, false, true, now),
            Ending::Flush => self.close(conn, failure.reason, true, true, now),
            Ending::Err(text) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.out.push_err(text);
                }
                self.mark_dirty(conn);
                self.close(conn, failure.reason, true, true, now);
            }
        }
    }

    /// Schedules a flush of `conn`. Every write to a connection ends here,
    /// so this is where outbound bytes past max_pending are noticed (writes
    /// other than deliveries: INFO, interest, gossip); those connections
    /// are closed as slow consumers at the end of the input.
    pub(crate) fn mark_dirty(&mut self, conn: ConnId) {
        let max_pending = self.options.max_pending;
        let unbounded = mutated!(self, ignore_max_pending);
        if let Some(c) = self.conns.get_mut(&conn) {
            if !unbounded && !c.closed && c.out.pending() > max_pending {
                self.overflowed.push(conn);
            }
            c.schedule_flush(&mut self.dirty);
        }
    }

    /// Turns the connections touched by the last input into Flush actions,
    /// in the order they were touched.
    pub(crate) fn schedule_flushes(&mut self) {
        for conn in self.dirty.drain(..) {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.flush_scheduled = false;
                if !c.closed && (c.out.queued() > 0 || c.transport.wants_write()) {
                    self.actions.push_back(Action::Flush(conn));
                }
            }
        }
    }
}
