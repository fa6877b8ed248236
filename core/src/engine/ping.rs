//! PING and PONG: the first PING, the PING timer and stale connections,
//! round-trip times. The kind's policy says how often and whether
//! activity skips a PING.

use super::Server;
use crate::conn::policy::PingRule;
use crate::events::{CloseReason, TimerKey};
use crate::ids::ConnId;
use crate::proto::ProtocolError;
use crate::time::Instant;
use std::time::Duration;

impl Server {
    /// The first server PING: sooner than the interval (the kind's
    /// policy: at most 2 s for clients, 1 s for routes) plus up to 20%
    /// jitter. Set at accept and again at a client's CONNECT, as
    /// nats-server does.
    pub(crate) fn set_first_ping_timer(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let first = c.policy().first_ping(&self.options);
        let jitter_ns = self.jitter_rng.below((first.as_nanos() / 5) as u64);
        self.timers.set(
            TimerKey::Ping(conn),
            now + first + Duration::from_nanos(jitter_ns),
        );
    }

    pub(crate) fn ping_timer(&mut self, conn: ConnId, now: Instant) {
        let ping_max = self.options.ping_max;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        let policy = c.policy();
        let interval = policy.ping_interval(&self.options);
        // Clients that were recently active skip the PING; routes always
        // get one, as nats-server sends them.
        let recently_active =
            policy.ping == PingRule::UnlessActive && now.saturating_since(c.last_in) < interval;
        if policy.ping == PingRule::Never {
            return;
        }
        // Before TLS is settled nothing may go out in plaintext, and a
        // stuck handshake is the TLS timer's to end: nats-server starts
        // pinging after the handshake. Likewise during S2 negotiation
        // (`engine/compress.rs`).
        if c.tls.before_handshake_end() {
            self.timers.set(TimerKey::Ping(conn), now + interval);
            return;
        }
        // During S2 negotiation no PING goes out, but a peer that never
        // answers is still stale after as many intervals (nats-server's
        // `watchForStaleConnection`).
        let silent = c.s2.pending;
        if !recently_active || !c.ping.rtt_known || silent {
            if c.ping.outstanding + 1 > ping_max {
                tracing::debug!("cid:{} - Stale Client Connection - Closing", c.cid);
                self.stats.stale_connections += 1;
                self.fail_with(
                    conn,
                    ProtocolError::StaleConnection,
                    CloseReason::StaleConnection,
                    now,
                );
                return;
            }
            c.ping.outstanding += 1;
            if !silent {
                c.ping.rtt_start = Some(now);
                c.out.push_slice(b"PING\r\n");
                c.trace_out(format_args!("PING"));
                self.mark_dirty(conn);
            }
        }
        self.timers.set(TimerKey::Ping(conn), now + interval);
    }

    /// A PONG (client or route): the outstanding PINGs are answered and
    /// the round trip is measured.
    pub(crate) fn process_pong(&mut self, conn: ConnId, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.ping.outstanding = 0;
            if let Some(sent) = c.ping.rtt_start.take() {
                let rtt = now.saturating_since(sent);
                c.ping.rtt = Some(rtt);
                c.ping.rtt_known = true;
                self.s2_auto_pong(conn, rtt);
            }
        }
    }
}
