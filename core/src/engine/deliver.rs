//! Carrying a message out: to every kind of destination the router
//! allows (`forward_message`), the router's local plan written pick by
//! pick (`deliver_matches`, each delivery written by the client's own
//! code).

use super::Server;
use crate::account::AccountId;
use crate::ids::ConnId;
use crate::router::fanout::{self, Pick};
use crate::router::{may_forward, Dest, LinkFacts, MsgFacts, Origin};
use crate::sublist::Matches;
use crate::time::Instant;
use bytes::Bytes;

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
    /// The leaf cluster it entered this cluster from: the sending leaf
    /// link's remote cluster, or the origin of a route's `LMSG`.
    pub(crate) origin_cluster: Option<&'a [u8]>,
    /// It is a `_GR_.` reply addressed to this cluster, delivered with
    /// its prefix stripped ([`MsgFacts::gateway_reply`]).
    pub(crate) gateway_reply: bool,
}

impl Ingress<'_> {
    /// The matrix's facts about a message on `subject` from here.
    pub(crate) fn facts(&self, subject: &[u8]) -> MsgFacts<'_> {
        let facts = MsgFacts::new(subject);
        if self.gateway_reply {
            facts.with_gateway_reply()
        } else {
            facts
        }
    }
}

/// A message being delivered: borrowed pieces of the published message.
pub(crate) struct Msg<'a> {
    pub(crate) subject: &'a [u8],
    pub(crate) reply: Option<&'a Bytes>,
    pub(crate) header_len: usize,
    pub(crate) message: &'a Bytes,
}

impl Msg<'_> {
    /// This message, or in its place `rewritten` (a message and its
    /// header length: the same message with a header set for the hop).
    pub(crate) fn or_rewritten<'b>(&'b self, rewritten: &'b Option<(Bytes, usize)>) -> Msg<'b> {
        match rewritten {
            Some((message, header_len)) => Msg {
                subject: self.subject,
                reply: self.reply,
                header_len: *header_len,
                message,
            },
            None => Msg { ..*self },
        }
    }
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
        let facts = ingress.facts(msg.subject);
        let matches = self.accounts[account.0 as usize]
            .sublist
            .matches(msg.subject);
        let mut delivered = self.deliver_matches(ingress, &matches, msg, now);
        if !self.routes.by_id.is_empty()
            && may_forward(ingress.origin, Dest::Routes, &facts, &LinkFacts::default())
        {
            // A message from a link carries its origin cluster and serves
            // only the queue groups it names.
            let from_link = match ingress.origin {
                Origin::Client | Origin::Internal => None,
                Origin::Route | Origin::LeafHub | Origin::LeafSpoke | Origin::Gateway => {
                    Some((ingress.origin_cluster.unwrap_or_default(), ingress.named))
                }
            };
            delivered += self.send_to_routes(ingress.conn, account, msg, from_link, now);
        }
        if !self.leafs.links.is_empty() {
            delivered += self.send_to_leafs(ingress, account, msg, now);
        }
        if !self.gateways.outbound.is_empty() {
            delivered += self.send_to_gateways(ingress, account, msg, now);
        }
        if !self.imports.is_empty() || !self.service_replies.is_empty() {
            delivered += self.cross_accounts(ingress.origin, ingress.conn, account, msg, now);
        }
        if self.system_pending() {
            self.system_drain(now);
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
            ..
        } = *ingress;
        let mut picks = std::mem::take(&mut self.picks);
        let local = fanout::plan(
            origin,
            &ingress.facts(msg.subject),
            matches,
            named,
            &mut self.queue_rng,
            &mut picks,
        );
        let mut delivered = 0;
        // With routes or leaf links: note which queue groups were served
        // here, so routes and leaf links serve only the others.
        let track = !self.routes.by_id.is_empty()
            || !self.leafs.links.is_empty()
            || !self.gateways.outbound.is_empty();
        if track {
            self.routes.served.clear();
        }
        if local {
            for sub in &matches.plain {
                if self.deliver(publisher, echo, sub, msg, now) {
                    delivered += 1;
                    if mutated!(self, plain_wildcard_twice)
                        && sub.subject.iter().any(|&b| b == b'*' || b == b'>')
                    {
                        self.deliver(publisher, echo, sub, msg, now);
                    }
                }
            }
        }
        for &Pick { group, start } in &picks {
            let group = &matches.queues[group];
            let n = group.members.len();
            for i in 0..n {
                let sub = &group.members[(start + i) % n];
                if self.deliver(publisher, echo, sub, msg, now) {
                    delivered += 1;
                    if track {
                        self.routes.served.push(group.name.clone());
                    }
                    if mutated!(self, queue_two_members) && n > 1 {
                        let other = &group.members[(start + i + 1) % n];
                        self.deliver(publisher, echo, other, msg, now);
                    }
                    break;
                }
            }
        }
        self.picks = picks;
        delivered
    }
}
