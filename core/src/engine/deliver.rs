//! Local fan-out: a message to every matching subscription and one
//! member of each queue group, the delivery-time permission filter, the
//! producer stall, and no-responders replies.

use super::Server;
use crate::account::AccountId;
use crate::conn::ConnKind;
use crate::events::{Action, CloseReason};
use crate::ids::ConnId;
use crate::router::fanout::{self, Pick};
use crate::router::{may_forward, Dest, LinkFacts, MsgFacts, Origin};
use crate::sublist::{Matches, Subscription};
use crate::time::Instant;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A fast-producer stall lasts this long (nats-server stalls 2 to 10 ms).
const STALL_DURATION: Duration = Duration::from_millis(5);

/// Where a message came into the server from, and what it says about
/// its own delivery.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ingress<'a> {
    /// The kind of peer it came from (the matrix's row).
    pub(crate) origin: Origin,
    /// The connection it came on (the publisher, for `echo`).
    pub(crate) conn: ConnId,
    /// The queue groups it names (empty from a client or an import).
    pub(crate) named: &'a [u8],
    /// Whether the publisher may receive its own message.
    pub(crate) echo: bool,
}

/// A message being delivered: borrowed pieces of the published message.
pub(crate) struct Msg<'a> {
    pub(crate) subject: &'a [u8],
    pub(crate) reply: Option<&'a Bytes>,
    pub(crate) header_len: usize,
    pub(crate) message: &'a Bytes,
}

impl Server {
    /// Carries a message that arrived from `origin` (on `from`, in
    /// `account`) to every kind of destination the forwarding matrix lets
    /// it reach: local subscribers, routes, and other accounts through
    /// imports. `named` is the queue list the message carries (empty from a
    /// client). Returns the number of deliveries and forwards.
    pub(crate) fn forward_message(
        &mut self,
        ingress: &Ingress<'_>,
        account: AccountId,
        msg: &Msg<'_>,
        now: Instant,
    ) -> usize {
        let facts = MsgFacts::new(msg.subject);
        let matches = self.accounts[account.0 as usize]
            .sublist
            .matches(msg.subject);
        let mut delivered = self.deliver_matches(ingress, &matches, msg, now);
        if may_forward(ingress.origin, Dest::Routes, &facts, &LinkFacts::default()) {
            delivered += self.send_to_routes(account, msg, now);
        }
        if !self.imports.is_empty() || !self.service_replies.is_empty() {
            delivered += self.cross_accounts(ingress.origin, ingress.conn, account, msg, now);
        }
        delivered
    }

    /// Delivers a message from `origin` to local subscribers as the
    /// router plans it ([`fanout::plan`]): every plain match, and one
    /// member of each queue group it may serve (a member that cannot take
    /// it passes it to the next). Returns the number of deliveries.
    pub(crate) fn deliver_matches(
        &mut self,
        ingress: &Ingress<'_>,
        matches: &Matches,
        msg: &Msg<'_>,
        now: Instant,
    ) -> usize {
        let Ingress {
            origin,
            conn: publisher,
            named,
            echo,
        } = *ingress;
        let mut picks = std::mem::take(&mut self.picks);
        fanout::plan(
            origin,
            &MsgFacts::new(msg.subject),
            matches,
            named,
            &mut self.queue_rng,
            &mut picks,
        );
        let mut delivered = 0;
        // A client's publish in a cluster: note which queue groups were
        // served here, so the routes serve only the others.
        let track = origin == Origin::Client && !self.routes.by_id.is_empty();
        if track {
            self.routes.served.clear();
        }
        for &pick in &picks {
            match pick {
                Pick::Plain(i) => {
                    let sub = &matches.plain[i];
                    if !echo && sub.conn == publisher {
                        continue;
                    }
                    if self.deliver(publisher, sub, msg, now) {
                        delivered += 1;
                        if mutated!(self, plain_wildcard_twice)
                            && sub.subject.iter().any(|&b| b == b'*' || b == b'>')
                        {
                            self.deliver(publisher, sub, msg, now);
                        }
                    }
                }
                Pick::Group { group, start } => {
                    let group = &matches.queues[group];
                    let n = group.members.len();
                    for i in 0..n {
                        let sub = &group.members[(start + i) % n];
                        if !echo && sub.conn == publisher {
                            continue;
                        }
                        if self.deliver(publisher, sub, msg, now) {
                            delivered += 1;
                            if track {
                                self.routes.served.push(group.name.clone());
                            }
                            if mutated!(self, queue_two_members) && n > 1 {
                                let other = &group.members[(start + i + 1) % n];
                                self.deliver(publisher, other, msg, now);
                            }
                            break;
                        }
                    }
                }
            }
        }
        self.picks = picks;
        delivered
    }

    /// Queues one message for one subscription. Returns false when the
    /// subscription can no longer receive (closed connection, max reached).
    pub(crate) fn deliver(
        &mut self,
        publisher: ConnId,
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
        if c.closed {
            return false;
        }
        // A wildcard or queue subscription the deny list let through must
        // still not receive what the deny list names (nats-server's
        // delivery-time deny filter).
        // Only clients with permissions pay for the subject scan.
        if let Some(p) = &cl.perms {
            let broad = sub.queue.is_some() || sub.subject.iter().any(|&b| b == b'*' || b == b'>');
            if broad && p.delivery_denied(msg.subject) {
                return false;
            }
        }
        if let (Some(reply), Some(r)) = (msg.reply, cl.perms.as_ref().and_then(|p| p.responses)) {
            cl.responses.insert(reply.clone(), (r.max, now + r.expires));
        }
        let max = sub.max.load(Ordering::Relaxed);
        let delivered = sub.delivered.load(Ordering::Relaxed) + 1;
        if max > 0 && delivered > max {
            return false;
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
        // nats-server stalls producers once a consumer is half way there.
        if pending > max_pending / 2 && publisher != target {
            self.stall(publisher, now);
        }
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
        self.deliver(conn, &sub, &msg, now);
    }

    pub(crate) fn stall(&mut self, publisher: ConnId, now: Instant) {
        if let Some(p) = self.conns.get_mut(&publisher) {
            if p.paused_until <= now {
                p.paused_until = now + STALL_DURATION;
                self.stats.stalled_clients += 1;
                self.actions.push_back(Action::PauseReading {
                    conn: publisher,
                    until: p.paused_until,
                });
            }
        }
    }
}
