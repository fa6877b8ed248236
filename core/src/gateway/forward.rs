//! Messages across gateways, one hop between clusters.
//!
//! Out: a message goes on each outbound link whose peer has interest, at
//! most once, naming the queue groups that cluster should serve: each
//! group not served in this cluster goes to the closest (lowest RTT)
//! cluster that has a member. A reply whose subscription is "recent" gets
//! the `_GR_.<cluster>.<server>.` prefix, so the answer comes straight
//! back here even before the inbox's interest reached the other cluster.
//! A `_GR_.` subject goes only to the cluster its hash names.
//!
//! In: an `RMSG` on an inbound link is delivered by the gateway row of the
//! matrix (`A-` once for an account we do not have). A `_GR_.` subject is
//! a reply coming home: dropped if not for this cluster, sent raw over the
//! route to the member it names, or stripped and delivered here.
//!
//! Clients get a `_GR_.` reply stripped, and their answer on the stripped
//! subject is sent back on the full one (whether or not this server has
//! gateways: a leaf of a gateway's hub does the same).

use super::{Gateways, HASH_LEN, RECENT};
use crate::account::AccountId;
use crate::engine::{Ingress, Msg, Server};
use crate::ids::ConnId;
use crate::router::{may_forward, names_group, Dest, LinkFacts, MsgFacts, Origin};
use crate::time::Instant;
use bytes::Bytes;

/// The prefix of gateway-routed replies.
pub(crate) const GR_PREFIX: &[u8] = b"_GR_.";
/// Where the real subject starts in `_GR_.<6>.<6>.<subject>`.
pub(crate) const GR_SUBJECT_OFFSET: usize = GR_PREFIX.len() + HASH_LEN + 1 + HASH_LEN + 1;
/// The prefix of old gateway-routed replies (`$GR.<4 hex>.<subject>`).
const OLD_GR_PREFIX: &[u8] = b"$GR.";
/// Where the real subject starts in an old one.
const OLD_GR_SUBJECT_OFFSET: usize = OLD_GR_PREFIX.len() + 4 + 1;

/// Whether `subject` is a gateway-routed reply with a subject after its
/// prefix (nats-server's `isGWRoutedReply`).
pub(crate) fn is_gateway_reply(subject: &[u8]) -> bool {
    subject.len() > GR_SUBJECT_OFFSET && subject.starts_with(GR_PREFIX)
}

/// The parts of a gateway-routed subject: cluster hash, server hash (none
/// for the old prefix), and the real subject.
type Routed<'a> = (&'a [u8], Option<&'a [u8]>, &'a [u8]);

/// Splits a gateway-routed subject into its [`Routed`] parts.
fn split_routed(subject: &[u8]) -> Option<Routed<'_>> {
    if is_gateway_reply(subject) {
        let c = &subject[GR_PREFIX.len()..GR_PREFIX.len() + HASH_LEN];
        let s = &subject[GR_PREFIX.len() + HASH_LEN + 1..GR_SUBJECT_OFFSET - 1];
        return Some((c, Some(s), &subject[GR_SUBJECT_OFFSET..]));
    }
    if subject.len() > OLD_GR_SUBJECT_OFFSET && subject.starts_with(OLD_GR_PREFIX) {
        let c = &subject[OLD_GR_PREFIX.len()..OLD_GR_SUBJECT_OFFSET - 1];
        return Some((c, None, &subject[OLD_GR_SUBJECT_OFFSET..]));
    }
    None
}

impl Gateways {
    /// Our cluster's hash, as in our `_GR_.` prefix.
    fn cluster_hash(&self) -> &[u8] {
        self.reply_prefix
            .get(GR_PREFIX.len()..GR_PREFIX.len() + HASH_LEN)
            .unwrap_or_default()
    }

    /// Our server's hash, as in our `_GR_.` prefix.
    fn server_hash(&self) -> &[u8] {
        self.reply_prefix
            .get(GR_PREFIX.len() + HASH_LEN + 1..GR_SUBJECT_OFFSET - 1)
            .unwrap_or_default()
    }

    /// Our old cluster hash (`$GR.<this>.`).
    fn old_cluster_hash(&self) -> &[u8] {
        self.old_reply_prefix
            .get(OLD_GR_PREFIX.len()..OLD_GR_SUBJECT_OFFSET - 1)
            .unwrap_or_default()
    }
}

impl Server {
    /// Sends a message to the outbound gateway links that want it, once
    /// per link (see the module docs). Returns the number of links sent
    /// to.
    pub(crate) fn send_to_gateways(
        &mut self,
        ingress: &Ingress<'_>,
        account: AccountId,
        msg: &Msg<'_>,
        now: Instant,
    ) -> usize {
        if self.gateways.outbound.is_empty() || msg.subject.is_empty() {
            return 0;
        }
        let mut facts = MsgFacts::new(msg.subject);
        if ingress.gateway_reply {
            facts = facts.with_gateway_reply();
        }
        let multi_hop = mutated!(self, gateway_multi_hop) && ingress.origin == Origin::Gateway;
        if !multi_hop
            && !may_forward(
                ingress.origin,
                Dest::Gateways,
                &facts,
                &LinkFacts::default(),
            )
        {
            return 0;
        }
        // Links in RTT order (then connection order): the closest cluster
        // with a member of a queue group serves it.
        let mut order = std::mem::take(&mut self.gateways.order);
        order.clear();
        for &conn in self.gateways.outbound.values() {
            let Some(c) = self.conns.get(&conn).filter(|c| !c.closed) else {
                continue;
            };
            let rtt = c.ping.rtt.unwrap_or(std::time::Duration::MAX);
            order.push((rtt, conn));
        }
        order.sort_unstable();
        let direct = split_routed(msg.subject).map(|(c, s, _)| (c.to_vec(), s.is_none()));
        let matches = if direct.is_some() {
            None
        } else {
            Some(
                self.accounts[account.0 as usize]
                    .gateway
                    .matches(msg.subject),
            )
        };
        let chooses = matches!(ingress.origin, Origin::Client | Origin::Internal);
        let mut mapped: Option<Option<Bytes>> = None;
        let mut sent = 0;
        let mut queues: Vec<Bytes> = Vec::new();
        for &(_, conn) in &order {
            queues.clear();
            if let Some((hash, old)) = &direct {
                let Some(l) = self.conns.get(&conn).and_then(|c| c.gateway()) else {
                    continue;
                };
                let ok = if *old {
                    &l.old_hash[..] == hash.as_slice()
                } else {
                    &l.hash[..] == hash.as_slice()
                };
                if !ok {
                    continue;
                }
            } else if let Some(m) = &matches {
                let plain = m.plain.iter().any(|s| s.conn == conn);
                let psi = self.gateway_plain_interest(conn, account, msg.subject, plain);
                for group in &m.queues {
                    if !group.members.iter().any(|s| s.conn == conn) {
                        continue;
                    }
                    let from_link_filter = !chooses && !ingress.gateway_reply;
                    if from_link_filter && !names_group(ingress.named, &group.name) {
                        continue;
                    }
                    if mutated!(self, gateway_queue_everywhere) {
                        queues.push(group.name.clone());
                        continue;
                    }
                    if self.routes.served.contains(&group.name) {
                        continue;
                    }
                    self.routes.served.push(group.name.clone());
                    queues.push(group.name.clone());
                }
                if !psi && queues.is_empty() {
                    continue;
                }
            }
            // The reply, mapped or not, is decided once per message.
            let reply = match &mapped {
                Some(r) => r.clone(),
                None => {
                    let r = self.gateway_reply_for(account, msg.reply, conn);
                    mapped = Some(r.clone());
                    r
                }
            };
            if self.send_gateway_msg(
                ingress.conn,
                conn,
                account,
                msg,
                reply.as_ref(),
                &queues,
                now,
            ) {
                sent += 1;
            }
        }
        self.gateways.order = order;
        sent
    }

    /// The reply a message carries to gateways: prefixed with our
    /// `_GR_.` (or, to an old peer, `$GR.`) when a subscription made in
    /// the last two seconds matches it.
    fn gateway_reply_for(
        &mut self,
        account: AccountId,
        reply: Option<&Bytes>,
        conn: ConnId,
    ) -> Option<Bytes> {
        let reply = reply.filter(|r| !r.is_empty())?;
        if mutated!(self, skip_gateway_reply_map) || !self.recent_interest(account, reply) {
            return Some(reply.clone());
        }
        let nrp = self
            .conns
            .get(&conn)
            .and_then(|c| c.gateway())
            .is_none_or(|l| l.nrp);
        let prefix = if nrp {
            &self.gateways.reply_prefix
        } else {
            &self.gateways.old_reply_prefix
        };
        let mut full = Vec::with_capacity(prefix.len() + reply.len());
        full.extend_from_slice(prefix);
        full.extend_from_slice(reply);
        Some(Bytes::from(full))
    }

    /// Writes `RMSG`/`HMSG` to one outbound link (headers dropped for a
    /// peer that does not take them).
    #[allow(clippy::too_many_arguments)]
    fn send_gateway_msg(
        &mut self,
        publisher: ConnId,
        conn: ConnId,
        account: AccountId,
        msg: &Msg<'_>,
        reply: Option<&Bytes>,
        queues: &[Bytes],
        now: Instant,
    ) -> bool {
        let max_pending = self.options.max_pending;
        let name = &self.accounts[account.0 as usize].name;
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if c.closed {
            return false;
        }
        let headers = msg.header_len > 0 && c.headers;
        let body = if msg.header_len > 0 && !c.headers {
            msg.message.slice(msg.header_len.min(msg.message.len())..)
        } else {
            msg.message.clone()
        };
        let out = &mut c.out;
        out.push_slice(if headers { b"HMSG " } else { b"RMSG " });
        out.push_slice(name.as_bytes());
        out.push_slice(b" ");
        out.push_slice(msg.subject);
        out.push_slice(b" ");
        out.push_routed_rest(
            reply.map(|r| &r[..]),
            queues.iter(),
            if headers { msg.header_len } else { 0 },
            false,
            &body,
        );
        c.stats.out_msgs += 1;
        c.stats.out_bytes += body.len() as u64;
        c.last_activity = now;
        let pending = c.out.pending();
        if pending > max_pending {
            self.slow_consumer(
                conn,
                crate::events::CloseReason::SlowConsumerPendingBytes,
                now,
            );
            return true;
        }
        c.schedule_flush(&mut self.dirty);
        self.hold_if_behind(publisher, conn, pending, now);
        true
    }

    /// An `RMSG`/`HMSG` read on a gateway link.
    pub(crate) fn gateway_msg(
        &mut self,
        conn: ConnId,
        account: &[u8],
        queues: &Bytes,
        msg: &Msg<'_>,
        now: Instant,
    ) {
        self.gateways.now = now;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.in_msgs += 1;
            c.stats.in_bytes += msg.message.len() as u64;
        }
        self.stats.in_msgs += 1;
        self.stats.in_bytes += msg.message.len() as u64;
        if self.routed_reply(Origin::Gateway, conn, account, queues, msg, now) {
            return;
        }
        let Some(acc) = self.routed_account(account, now) else {
            self.no_account_interest(conn, account);
            return;
        };
        let ingress = Ingress {
            origin: Origin::Gateway,
            conn,
            named: queues,
            echo: true,
            origin_cluster: None,
            gateway_reply: false,
        };
        self.forward_message(&ingress, acc, msg, now);
    }

    /// `A- <account>` once on an inbound link, for a message in an account
    /// this server does not have.
    fn no_account_interest(&mut self, conn: ConnId, account: &[u8]) {
        tracing::debug!(
            "{} - Unknown account {:?} for gateway message",
            self.conn_label(conn),
            String::from_utf8_lossy(account)
        );
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(link) = c.gateway_mut().filter(|l| !l.outbound) else {
            return;
        };
        if link.no_interest.insert(Bytes::copy_from_slice(account)) {
            c.out.push_slice(b"A- ");
            c.out.push_slice(account);
            c.out.push_slice(b"\r\n");
            c.schedule_flush(&mut self.dirty);
        }
    }

    /// A gateway-routed reply read from a gateway or route (nats-server's
    /// `handleGatewayReply`). Returns whether it was one (and is dealt
    /// with); always false on a server without gateways.
    pub(crate) fn routed_reply(
        &mut self,
        from: Origin,
        conn: ConnId,
        account: &[u8],
        queues: &Bytes,
        msg: &Msg<'_>,
        now: Instant,
    ) -> bool {
        if !self.gateways_on() {
            return false;
        }
        let Some((cluster, server, stripped)) = split_routed(msg.subject) else {
            return false;
        };
        let ours = match server {
            Some(_) => cluster == self.gateways.cluster_hash(),
            None => cluster == self.gateways.old_cluster_hash(),
        };
        if !ours {
            return true;
        }
        // For another member of this cluster: over the route to it,
        // unchanged.
        if from == Origin::Gateway {
            if let Some(s) = server.filter(|s| *s != self.gateways.server_hash()) {
                if let Some(route) = self.route_by_hash(s) {
                    self.send_raw_to_route(route, account, msg, now);
                    return true;
                }
            }
        }
        let Some(acc) = self.routed_account(account, now) else {
            if from == Origin::Gateway {
                self.no_account_interest(conn, account);
            }
            return true;
        };
        let stripped = Bytes::copy_from_slice(stripped);
        let local = Msg {
            subject: &stripped,
            reply: msg.reply,
            header_len: msg.header_len,
            message: msg.message,
        };
        let ingress = Ingress {
            origin: from,
            conn,
            named: queues,
            echo: true,
            origin_cluster: None,
            gateway_reply: true,
        };
        self.forward_message(&ingress, acc, &local, now);
        true
    }

    /// The route to the cluster member whose server id hashes to `hash`.
    fn route_by_hash(&mut self, hash: &[u8]) -> Option<ConnId> {
        let hashes = &mut self.gateways.route_hashes;
        // Hashes of routes that went.
        if hashes.len() > self.routes.by_id.len() {
            hashes.retain(|id, _| self.routes.by_id.contains_key(id));
        }
        for (id, &conn) in &self.routes.by_id {
            if !hashes.contains_key(id) {
                hashes.insert(id.clone(), super::gateway_hash(id.as_bytes()));
            }
            if hashes.get(id).is_some_and(|h| h[..] == *hash) {
                return Some(conn);
            }
        }
        None
    }

    /// A client (`conn`) publishes on `subject`: the full `_GR_.` reply
    /// it was handed stripped, if any and not expired.
    pub(crate) fn mapped_reply(
        &mut self,
        conn: ConnId,
        subject: &[u8],
        now: Instant,
    ) -> Option<Bytes> {
        let gw = &mut self.gateways;
        while gw
            .reply_expiry
            .front()
            .is_some_and(|(exp, _, _)| *exp <= now)
        {
            let Some((_, c, stripped)) = gw.reply_expiry.pop_front() else {
                break;
            };
            if let Some(map) = gw.replies.get_mut(&c) {
                if map.get(&stripped).is_some_and(|(_, exp)| *exp <= now) {
                    map.remove(&stripped);
                }
                if map.is_empty() {
                    gw.replies.remove(&c);
                }
            }
        }
        let (full, exp) = gw.replies.get(&conn)?.get(subject)?;
        (*exp > now).then(|| full.clone())
    }

    /// Records that client `conn` was handed `full` (a `_GR_.` reply)
    /// stripped: its answer goes back on `full` for the next two seconds.
    pub(crate) fn track_gateway_reply(&mut self, conn: ConnId, full: &Bytes, now: Instant) {
        let stripped = full.slice(GR_SUBJECT_OFFSET..);
        let exp = now + RECENT;
        self.gateways
            .replies
            .entry(conn)
            .or_default()
            .insert(stripped.clone(), (full.clone(), exp));
        self.gateways.reply_expiry.push_back((exp, conn, stripped));
    }

    /// A client's answer to a `_GR_.` reply, on the full subject: to leaf
    /// links and to the gateway of the cluster it names, never to local
    /// subscribers (nats-server's `handleGWReplyMap`).
    pub(crate) fn send_mapped_reply(
        &mut self,
        conn: ConnId,
        account: AccountId,
        full: &Bytes,
        msg: &Msg<'_>,
        now: Instant,
    ) {
        let routed = Msg {
            subject: full,
            reply: msg.reply,
            header_len: msg.header_len,
            message: msg.message,
        };
        let ingress = Ingress {
            origin: Origin::Client,
            conn,
            named: &[],
            echo: true,
            origin_cluster: None,
            gateway_reply: false,
        };
        if !self.leafs.links.is_empty() {
            self.routes.served.clear();
            self.send_to_leafs(&ingress, account, &routed, now);
        }
        self.send_to_gateways(&ingress, account, &routed, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routed_subjects_split() {
        let (c, s, rest) = split_routed(b"_GR_.NUmM6c.qlf8FB._INBOX.x").unwrap();
        assert_eq!(
            (c, s, rest),
            (&b"NUmM6c"[..], Some(&b"qlf8FB"[..]), &b"_INBOX.x"[..])
        );
        let (c, s, rest) = split_routed(b"$GR.1a2b._INBOX.x").unwrap();
        assert_eq!((c, s, rest), (&b"1a2b"[..], None, &b"_INBOX.x"[..]));
        assert!(split_routed(b"_GR_.NUmM6c.qlf8FB.").is_none());
        assert!(split_routed(b"_INBOX.x").is_none());
        assert!(is_gateway_reply(b"_GR_.NUmM6c.qlf8FB.x"));
        assert!(!is_gateway_reply(b"_GR_.NUmM6c.qlf8FB."));
    }
}
