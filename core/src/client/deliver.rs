//! A message written to a client: `MSG`/`HMSG` for one subscription, the
//! delivery-time permission filter, `allow_responses`, auto-unsubscribe
//! at max, the slow-consumer bound and the producer stall; and the
//! no-responders status a requester gets.

use crate::account::AccountId;
use crate::conn::{ConnKind, Text};
use crate::engine::{Msg, Server};
use crate::events::CloseReason;
use crate::ids::ConnId;
use crate::router::trace::{egress_error, Egress, MsgTrace, TraceKind};
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
        let max_pending = self.options.max_pending;
        let Some(c) = self.conns.get_mut(&sub.conn) else {
            return false;
        };
        // Local subscriptions are clients'.
        let ConnKind::Client(cl) = &mut c.kind else {
            return false;
        };
        let trace = self.msg_trace.as_deref_mut().map(|t| {
            let e = Egress {
                ts: self.monitor.wall(now),
                kind: TraceKind::Client as u8,
                cid: c.cid,
                name: cl.opts.name.clone().unwrap_or_default(),
                acc: self.accounts[cl.account.0 as usize].name.clone(),
                sub: sub.subject.clone(),
                queue: sub.queue.clone().unwrap_or_default(),
                ..Egress::default()
            };
            (t, e)
        });
        if !echo && sub.conn == publisher {
            return record(trace, Some(egress_error::NO_ECHO));
        }
        // A wildcard or queue subscription the deny list let through must
        // still not receive what the deny list names (nats-server's
        // delivery-time deny filter).
        // Only clients with permissions pay for the subject scan.
        if let Some(p) = &cl.perms {
            let broad = sub.queue.is_some() || sub.subject.iter().any(|&b| b == b'*' || b == b'>');
            if broad && p.delivery_denied(msg.subject) {
                return record(trace, Some(egress_error::SUB_DENY));
            }
        }
        if c.closed {
            return record(trace, Some(egress_error::CLIENT_CLOSED));
        }
        // Trace-only: recorded, not written, and counted as delivered (so
        // a queue group stops at this member).
        if trace.as_ref().is_some_and(|(t, _)| t.only) {
            record(trace, None);
            return true;
        }
        let max = sub.max.load(Ordering::Relaxed);
        let delivered = sub.delivered.load(Ordering::Relaxed) + 1;
        if max > 0 && delivered > max {
            return record(trace, Some(egress_error::AUTO_UNSUB));
        }
        record(trace, None);
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
        let out = &mut c.out;
        out.push_slice(if with_headers { b"HMSG " } else { b"MSG " });
        out.push_slice(msg.subject);
        out.push_slice(b" ");
        out.push_slice(&sub.sid);
        out.push_slice(b" ");
        if let Some(reply) = msg.reply {
            out.push_slice(reply);
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
        self.mark_dirty(target);
        // Half way there, the consumer holds the producer (stall.rs).
        self.hold_if_behind(publisher, target, pending, now);
        if max > 0 && delivered == max {
            self.remove_sub(target, &sub.sid);
        }
        true
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

/// Records a traced delivery's egress event (with `error`, when it was
/// not delivered); returns false, the verdict of a refused delivery.
fn record(trace: Option<(&mut MsgTrace, Egress)>, error: Option<&'static str>) -> bool {
    if let Some((t, mut e)) = trace {
        e.error = error;
        t.egress(e);
    }
    false
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
