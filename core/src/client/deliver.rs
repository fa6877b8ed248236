//! A message written to a client: `MSG`/`HMSG` for one subscription, the
//! delivery-time permission filter, `allow_responses`, auto-unsubscribe
//! at max, the slow-consumer bound and the producer stall; and the
//! no-responders status a requester gets.

use crate::account::AccountId;
use crate::conn::{ConnKind, Text};
use crate::engine::{Msg, Server};
use crate::events::CloseReason;
use crate::ids::ConnId;
use crate::router::trace::{egress_error, Egress, TraceKind};
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Server {
    /// Queues one message for one subscription. Returns false when the
    /// subscription cannot take it (the publisher itself without `echo`,
    /// closed connection, denied, max reached). A traced message records
    /// the delivery, or why not; a trace-only one is recorded and not
    /// written.
    pub(crate) fn deliver(
        &mut self,
        publisher: ConnId,
        echo: bool,
        sub: &Arc<Subscription>,
        msg: &Msg<'_>,
        now: Instant,
    ) -> bool {
        if self.msg_trace.is_some() {
            if let Some(verdict) = self.trace_delivery(publisher, echo, sub, msg, now) {
                return verdict;
            }
        }
        let max_pending = self.options.max_pending;
        let Some(c) = self.conns.get_mut(&sub.conn) else {
            return self.system_deliver(publisher, sub, msg);
        };
        // Local subscriptions are clients'.
        let ConnKind::Client(cl) = &mut c.kind else {
            return false;
        };
        if refusal(publisher, echo, sub, c.closed, cl.perms.as_ref(), msg).is_some() {
            return false;
        }
        let max = sub.max.load(Ordering::Relaxed);
        let delivered = sub.delivered.load(Ordering::Relaxed) + 1;
        if max > 0 && delivered > max {
            return false;
        }
        if let (Some(reply), Some(r)) = (
            msg.reply.filter(|r| !r.is_empty()),
            cl.perms.as_ref().and_then(|p| p.responses),
        ) {
            cl.responses.insert(reply.clone(), (r.max, now + r.expires));
        }
        sub.delivered.store(delivered, Ordering::Relaxed);
        let with_headers = msg.header_len > 0 && c.headers;
        let body = if msg.header_len > 0 && !c.headers {
            msg.message.slice(msg.header_len.min(msg.message.len())..)
        } else {
            msg.message.clone()
        };
        // A `_GR_.` reply is handed over stripped; the client's answer on
        // it goes back on the full one.
        let out = &mut c.out;
        out.push_slice(if with_headers { b"HMSG " } else { b"MSG " });
        out.push_slice(msg.subject);
        out.push_slice(b" ");
        out.push_slice(&sub.sid);
        out.push_slice(b" ");
        let mut routed = None;
        if let Some(reply) = msg.reply {
            if crate::gateway::is_gateway_reply(reply) {
                routed = Some(reply);
                out.push_slice(&reply[crate::gateway::GR_SUBJECT_OFFSET..]);
            } else {
                out.push_slice(reply);
            }
            out.push_slice(b" ");
        }
        if with_headers {
            out.push_decimal(msg.header_len as u64);
            out.push_slice(b" ");
        }
        out.push_decimal(body.len() as u64);
        out.push_slice(b"\r\n");
        out.push_payload(&body);
        out.push_slice(b"\r\n");
        if tracing::enabled!(tracing::Level::TRACE) {
            trace_delivery(c, sub, msg, with_headers, body.len());
            c.trace_payload_out(&body);
        }
        c.stats.out_msgs += 1;
        c.stats.out_bytes += body.len() as u64;
        c.last_activity = now;
        self.stats.out_msgs += 1;
        self.stats.out_bytes += body.len() as u64;
        let pending = c.out.pending();
        let target = sub.conn;
        if pending > max_pending && !mutated!(self, ignore_max_pending) {
            self.slow_consumer(target, CloseReason::SlowConsumerPendingBytes, now);
            return true;
        }
        // Under max_pending here: only the flush is left of `mark_dirty`,
        // on the connection at hand (one lookup per delivery, not two).
        c.schedule_flush(&mut self.dirty);
        // Half way there, the consumer holds the producer (stall.rs).
        self.hold_if_behind(publisher, target, pending, now);
        if let Some(full) = routed {
            self.track_gateway_reply(target, full, now);
        }
        if max > 0 && delivered == max {
            self.remove_sub(target, &sub.sid);
        }
        true
    }

    /// A traced message's delivery to one subscription, checked in
    /// nats-server's order with an egress event recorded: `Some(false)` when
    /// the subscription cannot take it (and why), `Some(true)` when the
    /// message is trace-only (recorded, not written, and counted as
    /// delivered, so a queue group stops at this member), `None` when
    /// [`Server::deliver`] goes on to write it.
    #[cold]
    fn trace_delivery(
        &mut self,
        publisher: ConnId,
        echo: bool,
        sub: &Arc<Subscription>,
        msg: &Msg<'_>,
        now: Instant,
    ) -> Option<bool> {
        let c = self.conns.get(&sub.conn)?;
        let ConnKind::Client(cl) = &c.kind else {
            return None;
        };
        let t = self.msg_trace.as_deref_mut()?;
        let mut e = Egress {
            ts: self.monitor.wall(now),
            kind: TraceKind::Client,
            cid: c.cid,
            name: cl.opts.name.clone().unwrap_or_default(),
            acc: self.accounts[cl.account.0 as usize].name.clone(),
            sub: sub.subject.clone(),
            queue: sub.queue.clone().unwrap_or_default(),
            ..Egress::default()
        };
        let max = sub.max.load(Ordering::Relaxed);
        let over_max = max > 0 && sub.delivered.load(Ordering::Relaxed) >= max;
        e.error = match refusal(publisher, echo, sub, c.closed, cl.perms.as_ref(), msg) {
            Some(why) => Some(why),
            None if t.only => {
                t.egress(e);
                return Some(true);
            }
            None if over_max => Some(egress_error::AUTO_UNSUB),
            None => None,
        };
        let refused = e.error.is_some();
        t.egress(e);
        refused.then_some(false)
    }

    pub(crate) fn no_responders(
        &mut self,
        conn: ConnId,
        account: AccountId,
        subject: &Bytes,
        reply: &Bytes,
        now: Instant,
    ) {
        let matches = self.accounts[account.0 as usize].sublist.matches(reply);
        let Some(sub) = matches.plain.iter().find(|s| s.conn == conn).cloned() else {
            return;
        };
        let mut status = Vec::with_capacity(32 + subject.len());
        status.extend_from_slice(b"NATS/1.0 503\r\nNats-Subject: ");
        status.extend_from_slice(subject);
        status.extend_from_slice(b"\r\n\r\n");
        let status = Bytes::from(status);
        let msg = Msg {
            subject: reply,
            reply: None,
            header_len: status.len(),
            message: &status,
        };
        self.deliver(conn, true, &sub, &msg, now);
    }
}

/// Why `sub` cannot take a message before anything is written, in
/// nats-server's order, as the egress error a trace reports: the
/// publisher itself without `echo`; a wildcard or queue subscription
/// whose deny list names the subject (nats-server's delivery-time deny
/// filter; only clients with permissions pay for the subject scan); a
/// closed connection.
#[inline]
fn refusal(
    publisher: ConnId,
    echo: bool,
    sub: &Subscription,
    closed: bool,
    perms: Option<&crate::perms::Permissions>,
    msg: &Msg<'_>,
) -> Option<&'static str> {
    if !echo && sub.conn == publisher {
        return Some(egress_error::NO_ECHO);
    }
    if let Some(p) = perms {
        let broad = sub.queue.is_some() || sub.subject.iter().any(|&b| b == b'*' || b == b'>');
        if broad && p.delivery_denied(msg.subject) {
            return Some(egress_error::SUB_DENY);
        }
    }
    closed.then_some(egress_error::CLIENT_CLOSED)
}

/// `->> [MSG subject sid [reply] len]` (or `HMSG ... hdr len`).
fn trace_delivery(
    c: &crate::conn::Conn,
    sub: &Subscription,
    msg: &Msg<'_>,
    with_headers: bool,
    len: usize,
) {
    let reply = msg
        .reply
        .map(|r| format!(" {}", Text(r)))
        .unwrap_or_default();
    if with_headers {
        c.trace_out(format_args!(
            "HMSG {} {}{reply} {} {len}",
            Text(msg.subject),
            Text(&sub.sid),
            msg.header_len
        ));
    } else {
        c.trace_out(format_args!(
            "MSG {} {}{reply} {len}",
            Text(msg.subject),
            Text(&sub.sid)
        ));
    }
}
