//! Messages on leaf links: a message goes to each link with interest at
//! most once (`LMSG`/`HMSG`, naming the queue groups that link should
//! serve: those no local or routed member took), where the forwarding
//! matrix and the link's permissions allow; an `LMSG` read from a link is
//! checked against what the link may send us and carried on like any
//! message from its row of the matrix.

use super::rule_allows;
use crate::account::AccountId;
use crate::engine::{Ingress, Msg, Server};
use crate::events::CloseReason;
use crate::ids::ConnId;
use crate::router::{may_forward, names_group, LinkFacts, MsgFacts, Origin};
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use std::sync::atomic::Ordering;

impl Server {
    /// Sends a message to the leaf links with interest in it, once per
    /// link. Plain interest takes it where the matrix and the link's
    /// permissions allow; each queue group that no member here or behind a
    /// route served (`routes.served`), and that the message may serve,
    /// gets one member behind a leaf link, weighted by the members each
    /// link announced. Returns the number of links sent to.
    pub(crate) fn send_to_leafs(
        &mut self,
        ingress: &Ingress<'_>,
        account: AccountId,
        msg: &Msg<'_>,
        now: Instant,
    ) -> usize {
        let matches = self.accounts[account.0 as usize].leaf.matches(msg.subject);
        if matches.plain.is_empty() && matches.queues.is_empty() {
            return 0;
        }
        let mut facts = MsgFacts::new(msg.subject);
        if let Some(c) = ingress.origin_cluster {
            facts = facts.with_origin_cluster(c);
        }
        let mut targets = std::mem::take(&mut self.leafs.targets);
        targets.clear();
        for sub in &matches.plain {
            if self.leaf_takes(ingress, sub.conn, &facts, msg.subject, false) {
                targets.push((sub.conn, None));
            }
        }
        for group in &matches.queues {
            let chooses = matches!(ingress.origin, Origin::Client | Origin::Internal);
            if self.routes.served.contains(&group.name)
                || (!chooses && !names_group(ingress.named, &group.name))
            {
                continue;
            }
            // Two passes over the members that may take it, so that no
            // list is built per message.
            let takes = |s: &&std::sync::Arc<Subscription>| {
                self.leaf_takes(ingress, s.conn, &facts, msg.subject, true)
            };
            let weight = |s: &Subscription| u64::from(s.weight.load(Ordering::Relaxed).max(1));
            let total: u64 = group.members.iter().filter(takes).map(|s| weight(s)).sum();
            if total == 0 {
                continue;
            }
            let mut pick = self.queue_rng.below(total);
            let takes = |s: &&std::sync::Arc<Subscription>| {
                self.leaf_takes(ingress, s.conn, &facts, msg.subject, true)
            };
            for sub in group.members.iter().filter(takes) {
                let w = weight(sub);
                if pick < w {
                    targets.push((sub.conn, Some(group.name.clone())));
                    break;
                }
                pick -= w;
            }
        }
        // Groups a leaf link serves are not served across gateways too.
        for (_, group) in &targets {
            if let Some(g) = group {
                self.routes.served.push(g.clone());
            }
        }
        // One message per link, in connection order.
        targets.sort_by_key(|(conn, _)| *conn);
        let mut sent = 0;
        let mut i = 0;
        while i < targets.len() {
            let conn = targets[i].0;
            let mut j = i;
            while j < targets.len() && targets[j].0 == conn {
                j += 1;
            }
            if self.send_leaf_msg(ingress.conn, conn, msg, &targets[i..j], now) {
                sent += 1;
            }
            i = j;
        }
        targets.clear();
        self.leafs.targets = targets;
        sent
    }

    /// Whether leaf link `conn` may be given a message from `ingress`: a
    /// registered link the matrix allows, whose permissions let the
    /// subject out.
    fn leaf_takes(
        &self,
        ingress: &Ingress<'_>,
        conn: ConnId,
        facts: &MsgFacts<'_>,
        subject: &[u8],
        for_queue: bool,
    ) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        let Some(link) = c.leaf().filter(|l| l.registered() && !c.closed) else {
            return false;
        };
        let facts_link = LinkFacts {
            remote_cluster: Some(&link.peer.cluster),
            is_sender: conn == ingress.conn,
            isolated: link.isolated,
            for_queue,
        };
        may_forward(ingress.origin, link.dest(), facts, &facts_link)
            && (mutated!(self, ignore_deny_exports) || rule_allows(link.send.as_ref(), subject))
    }

    /// Writes `LMSG`/`HMSG` to one link; `targets` name its queue groups.
    /// A link that did not ask for headers gets the message without them.
    fn send_leaf_msg(
        &mut self,
        publisher: ConnId,
        conn: ConnId,
        msg: &Msg<'_>,
        targets: &[(ConnId, Option<Bytes>)],
        now: Instant,
    ) -> bool {
        let max_pending = self.options.max_pending;
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let headers = msg.header_len > 0 && c.headers;
        let body = if msg.header_len > 0 && !c.headers {
            msg.message.slice(msg.header_len.min(msg.message.len())..)
        } else {
            msg.message.clone()
        };
        // The server's own messages have an empty reply: none on a link.
        let reply = msg.reply.filter(|r| !r.is_empty());
        let out = &mut c.out;
        out.push_slice(if headers { b"HMSG " } else { b"LMSG " });
        out.push_slice(msg.subject);
        out.push_slice(b" ");
        out.push_routed_rest(
            reply.map(|r| &r[..]),
            targets.iter().filter_map(|(_, q)| q.as_ref()),
            if headers { msg.header_len } else { 0 },
            false,
            &body,
        );
        c.stats.out_msgs += 1;
        c.stats.out_bytes += body.len() as u64;
        c.last_activity = now;
        let pending = c.out.pending();
        if pending > max_pending {
            self.slow_consumer(conn, CloseReason::SlowConsumerPendingBytes, now);
            return true;
        }
        c.schedule_flush(&mut self.dirty);
        self.hold_if_behind(publisher, conn, pending, now);
        true
    }

    /// An `LMSG`/`HMSG` from a leaf link: a subject the link may not send
    /// us is a permission violation where we are the hub (nats-server
    /// closes the link) and dropped where we are the spoke; anything else
    /// is delivered and forwarded by the link's row of the matrix.
    pub(crate) fn leaf_msg(&mut self, conn: ConnId, queues: &Bytes, msg: &Msg<'_>, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.stats.in_msgs += 1;
        c.stats.in_bytes += msg.message.len() as u64;
        let Some(link) = c.leaf() else {
            return;
        };
        let (account, origin, hub_role) = (link.account, link.origin(), link.hub_role);
        let cluster = link.peer.cluster.clone();
        // Service replies and JetStream acks are always let in (nats-server).
        let exempt = msg.subject.starts_with(b"_R_.") || msg.subject.starts_with(b"$JS.ACK.");
        let allowed = exempt || rule_allows(link.take.as_ref(), msg.subject);
        self.stats.in_msgs += 1;
        self.stats.in_bytes += msg.message.len() as u64;
        if !allowed {
            if hub_role {
                tracing::error!(
                    "{} - Publish Violation on {:?} - Check other side configuration",
                    self.conn_label(conn),
                    String::from_utf8_lossy(msg.subject)
                );
                let text = crate::perms::publish_violation(msg.subject);
                self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
            }
            return;
        }
        let ingress = Ingress {
            origin,
            conn,
            named: queues,
            echo: true,
            origin_cluster: Some(&cluster),
            gateway_reply: false,
        };
        self.forward_message(&ingress, account, msg, now);
    }
}
