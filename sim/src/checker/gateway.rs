//! The checker's gateway rules (gateway mode).
//!
//! - Direction: messages cross a gateway connection only from its dialer
//!   (its outbound link), interest only from its acceptor.
//! - One hop: the generic hop rule with the gateway row and column of the
//!   forwarding matrix; a `_GR_.` reply that reached its cluster counts as
//!   a gateway reply there (it may go on, stripped, to other gateways).
//! - `_GR_.` mapping: a request whose reply subscription (on the
//!   requester's connection) was processed less than two seconds before
//!   the request crosses with its reply prefixed by its server's
//!   `_GR_.<cluster>.<server>.`; that prefix is its sender's own; a
//!   `_GR_.` subject goes only to the cluster it names, and over a route
//!   only to the server it names.
//! - A responder's answer to a request it was handed with a mapped reply,
//!   within two seconds, is not delivered where it was published: it goes
//!   home, and only the server it names delivers it (stripped) and sends
//!   it on.
//! - After the super-cluster converged ([`Checker::mark_calm`]), end to
//!   end: every message published afterwards reaches every plain
//!   subscription anywhere that was in place before and stayed, is served
//!   once by every queue group with such a member, and every request a
//!   stable responder got is answered to a stable requester.
//! - Convergence: the interest each acceptor tells a dialer
//!   ([`Checker::expected_gateway_interest`]) is its cluster's, as the
//!   propagation matrix lets it reach gateways.

use super::{cached_match, origin_of, partner, Checker, LinkId, MsgRec, Processed, Routed, SubId};
use crate::client_model::MsgKey;
use canopy_core::router::{self, Dest, LinkFacts, SubFacts};
use canopy_core::{Instant, LinkKind};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a subscription counts as recent for reply mapping, and how
/// long a mapped reply handed to a client stays mapped (nats-server's
/// `recSubExp`).
const RECENT: Duration = Duration::from_secs(2);

/// Slack around [`RECENT`] within which the model does not decide.
const RECENT_SLACK: Duration = Duration::from_millis(1);

/// A routed message op as the world read it off a server link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutedMsg {
    /// The message id from the payload (None: not a simulator message).
    pub key: Option<MsgKey>,
    /// Queue groups the sender named.
    pub queues: Vec<String>,
    /// The leaf cluster a route's `LMSG` names.
    pub origin: Option<String>,
    /// The `_GR_.` prefix of its subject, if any.
    pub subject_gr: Option<String>,
    /// The `_GR_.` prefix of its reply subject, if any.
    pub reply_gr: Option<String>,
}

/// Whether a reply was mapped (`_GR_.`) where it was published.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Mapping {
    /// Not a mapped reply: an ordinary message there.
    No,
    /// Mapped: it goes only home.
    Yes,
    /// Too close to the end of the mapping to tell.
    Maybe,
}

impl Checker {
    /// Gateway link `out` runs from the connection's dialer (its
    /// outbound link: messages); its partner carries interest back.
    pub fn gateway_link(&mut self, out: LinkId) {
        self.links[out].outbound = true;
    }

    /// The engine read `step` happened at `now` (reads that processed
    /// ops; steps only grow).
    pub fn note_step(&mut self, step: u64, now: Instant) {
        if self.step_times.last().is_none_or(|&(s, _)| s < step) {
            self.step_times.push((step, now));
        }
    }

    /// When step `step` happened, if it was a read that processed ops.
    fn time_of(&self, step: u64) -> Option<Instant> {
        let i = self
            .step_times
            .binary_search_by_key(&step, |&(s, _)| s)
            .ok()?;
        Some(self.step_times[i].1)
    }

    /// The super-cluster was seen converged after healing at `step`: from
    /// then on the end-to-end rules of this module's docs hold.
    pub fn mark_calm(&mut self, step: u64) {
        self.calm_step.get_or_insert(step);
    }

    /// Whether node `node` is a gateway.
    pub(super) fn is_gateway(&self, node: usize) -> bool {
        self.cluster_of(node).is_some()
    }

    /// The gateway cluster of node `node`.
    pub(super) fn cluster_of(&self, node: usize) -> Option<usize> {
        self.gateway_cluster.get(node).copied().flatten()
    }

    /// The engine whose `_GR_.` prefix arrival `r`'s subject carries.
    pub(super) fn gr_owner_of(&self, r: &Routed) -> Option<(usize, u32)> {
        r.subject_gr
            .as_ref()
            .and_then(|p| self.gr_owner.get(p))
            .copied()
    }

    /// The gateway cluster a `_GR_.` arrival is addressed to (None: no
    /// `_GR_.` subject, or an unknown prefix).
    pub(super) fn gr_cluster_of(&self, r: &Routed) -> Option<usize> {
        self.gr_owner_of(r).and_then(|(n, _)| self.cluster_of(n))
    }

    /// Whether arrival `r` of `msg` gives its reader the message in its
    /// stripped (plain) form: it carried no `_GR_.` subject, or its reader
    /// (a gateway of the cluster the reply names, that read it from a
    /// gateway or a route) stripped it: it is the server the reply names,
    /// or it found no route to that one. A gateway of another cluster
    /// drops it.
    /// A reader that passed it on over a route unchanged, or treated it as
    /// an ordinary message ([`Checker::gr_ordinary`]), held it only with
    /// its prefix.
    pub(super) fn stripped_form(&self, msg: &MsgRec, r: &Routed) -> bool {
        if r.subject_gr.is_none() {
            return true;
        }
        let reader = self.links[r.link].to;
        let passed_on = msg.routed.iter().any(|x| {
            let l = &self.links[x.link];
            l.from == reader && l.kind == LinkKind::Route && x.subject_gr == r.subject_gr
        });
        let ours =
            self.gr_cluster_of(r).is_some() && self.gr_cluster_of(r) == self.cluster_of(reader.0);
        ours && !self.gr_ordinary(r) && !passed_on
    }

    /// Whether arrival `r` is a mapped reply its reader treats as an
    /// ordinary message under its wire subject: a server without gateways,
    /// or one that read it from a leaf link (no `_GR_.` triage there, as
    /// in nats-server), delivers it with the prefix to whatever matches
    /// and passes it on, to the gateway it names included.
    pub(super) fn gr_ordinary(&self, r: &Routed) -> bool {
        let link = &self.links[r.link];
        r.subject_gr.is_some() && (link.kind == LinkKind::Leaf || !self.is_gateway(link.to.0))
    }

    /// A delivery of message `m` to subscription `s` under `subject_got`:
    /// if that is the message's wire subject with a `_GR_.` prefix, it is
    /// checked here (the subscriber's server held it as an ordinary message
    /// under that subject, [`Checker::gr_ordinary`]; the pattern matches
    /// it; once) and true is returned. Such a delivery is not the
    /// message's: the subscription may get it stripped as well.
    pub(super) fn raw_gr_delivery(&mut self, s: SubId, m: usize, subject_got: &[u8]) -> bool {
        let msg = &self.msgs[m];
        let Some(prefix) = crate::route_wire::gr_prefix(subject_got) else {
            return false;
        };
        let subject = &self.names[msg.subject as usize];
        if &subject_got[prefix.len()..] != subject.as_bytes() {
            return false;
        }
        self.stats.raw_gr_deliveries += 1;
        let sub = &self.subs[s];
        let inc = &self.incs[sub.inc];
        let engine = (inc.node, inc.gen);
        let here = format!(
            "{} as {} to client {} sid {} ({}) on node {}",
            msg.key,
            String::from_utf8_lossy(subject_got),
            inc.client,
            sub.sid,
            self.names[sub.pattern as usize],
            inc.node
        );
        let held = msg.routed.iter().find(|r| {
            self.links[r.link].to == engine
                && r.subject_gr.as_deref() == Some(prefix.as_str())
                && self.gr_ordinary(r)
        });
        let mut found = Vec::new();
        match held.map(|r| r.processed) {
            None => found.push(format!(
                "delivered {here}, a server that never held it under that subject"
            )),
            Some(Processed::At(b)) => {
                if let Processed::At(a) = sub.sub {
                    if b < a {
                        found.push(format!(
                            "delivered {here}, which it held before the SUB was processed"
                        ));
                    }
                }
                if let Some(Processed::At(u)) = sub.unsub {
                    if b > u {
                        found.push(format!(
                            "delivered {here}, which it held after the UNSUB was processed"
                        ));
                    }
                }
            }
            Some(Processed::Pending | Processed::Uncertain) => {}
        }
        let matches =
            canopy_core::subject::matches(self.names[sub.pattern as usize].as_bytes(), subject_got);
        if !matches {
            found.push(format!("delivered to a non-matching subscription: {here}"));
        }
        if self.raw_gr.contains(&(m, s)) {
            found.push(format!("duplicate delivery: {here}"));
        }
        self.raw_gr.push((m, s));
        self.violations.extend(found);
        true
    }

    /// Whether `msg` was (or may have been) mapped where it was published:
    /// it went out with a `_GR_.` subject, or it answers a request its
    /// publisher's server got with a mapped reply less than two seconds
    /// before it processed it.
    pub(super) fn reply_mapping(&self, msg: &MsgRec) -> Mapping {
        let publisher = &self.incs[msg.publisher];
        let home = (publisher.node, publisher.gen);
        let on_wire = msg
            .routed
            .iter()
            .any(|r| self.links[r.link].from == home && r.subject_gr.is_some());
        if on_wire {
            return Mapping::Yes;
        }
        let Some(q) = msg.in_reply_to else {
            return Mapping::No;
        };
        let handed = self.msgs[q].routed.iter().find(|r| {
            self.links[r.link].to == home
                && r.reply_gr.is_some()
                && matches!(r.processed, Processed::At(_))
        });
        let Some(handed) = handed else {
            return Mapping::No;
        };
        let Processed::At(p) = msg.processed else {
            return Mapping::Maybe;
        };
        let Some(at) = self.time_of(p.step) else {
            return Mapping::Maybe;
        };
        let expires = handed.time + RECENT;
        if at + RECENT_SLACK < expires {
            Mapping::Yes
        } else if at > expires + RECENT_SLACK {
            Mapping::No
        } else {
            Mapping::Maybe
        }
    }

    /// The gateway rules of message `m` crossing gateway `link` (see the
    /// module docs), as the reader processed it at `p`.
    pub(super) fn gateway_hop(
        &mut self,
        link: LinkId,
        m: usize,
        subject_gr: Option<&str>,
        reply_gr: Option<&str>,
        p: Processed,
    ) {
        let rec = &self.links[link];
        let (from, to) = (rec.from, rec.to);
        let key = self.msgs[m].key;
        self.stats.gateway_routed += 1;
        if !rec.outbound {
            self.violation(format!(
                "node {} sent {key} on a gateway link it accepted from node {} (messages go only \
                 on outbound links)",
                from.0, to.0
            ));
        }
        if let Some(prefix) = reply_gr {
            self.stats.gateway_replies_mapped += 1;
            let owner = *self.gr_owner.entry(prefix.to_string()).or_insert(from);
            if owner != from {
                self.violation(format!(
                    "node {} sent {key} with its reply mapped to {prefix}, the prefix of node {} \
                     (gen {})",
                    from.0, owner.0, owner.1
                ));
            }
        }
        if let Some(prefix) = subject_gr {
            self.stats.gateway_replies_home += 1;
            match self.gr_owner.get(prefix).copied() {
                None => self.violation(format!(
                    "{key} crossed a gateway with subject prefix {prefix}, which no server used"
                )),
                Some(owner) if self.cluster_of(owner.0) != self.cluster_of(to.0) => {
                    self.violation(format!(
                        "{key}, a reply mapped to node {}'s cluster, crossed the gateway from \
                         node {} to node {}, another cluster",
                        owner.0, from.0, to.0
                    ));
                }
                Some(_) => {}
            }
        }
        // One crossing into each cluster (per form: a mapped reply goes
        // home with its prefix, then on stripped to the other clusters).
        let into = self.cluster_of(to.0);
        let again = self.msgs[m].routed.iter().any(|r| {
            let l = &self.links[r.link];
            l.kind == LinkKind::Gateway
                && self.cluster_of(l.to.0) == into
                && r.subject_gr.is_some() == subject_gr.is_some()
        });
        if again {
            self.violation(format!(
                "{key} crossed into cluster {} twice (the second time from node {} to node {})",
                into.and_then(|x| crate::supercluster::GATEWAY_NAMES.get(x))
                    .unwrap_or(&"?"),
                from.0,
                to.0
            ));
        }
        if matches!(p, Processed::At(_)) {
            self.recent_reply_check(link, m, reply_gr.is_some());
        }
    }

    /// A mapped reply (subject `prefix...`) on a route or leaf link: a
    /// server that had it from a gateway passes it over a route only to
    /// the server it names. (One that had it from a leaf link treats it as
    /// any message, routes included, as nats-server's
    /// `processInboundLeafMsg` does.)
    pub(super) fn gr_subject_on_link(&mut self, link: LinkId, m: usize, prefix: &str) {
        let rec = &self.links[link];
        if rec.kind != LinkKind::Route {
            return;
        }
        let Some(owner) = self.gr_owner.get(prefix).copied() else {
            return;
        };
        let from_gateway = self.msgs[m].routed.iter().any(|r| {
            let a = &self.links[r.link];
            a.to == rec.from && a.kind == LinkKind::Gateway && r.subject_gr.is_some()
        });
        if from_gateway && owner != rec.to {
            let (from, to, key) = (rec.from.0, rec.to.0, self.msgs[m].key);
            self.violation(format!(
                "{key}, a reply mapped to node {} (gen {}), went over the route from node {from} \
                 to node {to}",
                owner.0, owner.1
            ));
        }
    }

    /// A request its server sends over a gateway while its reply
    /// subscription (the requester's own) is less than two seconds old
    /// must carry its reply mapped.
    fn recent_reply_check(&mut self, link: LinkId, m: usize, mapped: bool) {
        let msg = &self.msgs[m];
        let Some(reply) = msg.reply.as_deref() else {
            return;
        };
        let publisher = &self.incs[msg.publisher];
        let home = (publisher.node, publisher.gen);
        if home != self.links[link].from {
            return;
        }
        let Processed::At(b) = msg.processed else {
            return;
        };
        let Some(sent) = self.time_of(b.step) else {
            return;
        };
        let newest = self
            .subs_by_engine
            .get(&home)
            .into_iter()
            .flatten()
            .filter_map(|&s| {
                let sub = &self.subs[s];
                let Processed::At(a) = sub.sub else {
                    return None;
                };
                let mine = sub.inc == msg.publisher && a < b;
                let matches = canopy_core::subject::matches(
                    self.names[sub.pattern as usize].as_bytes(),
                    reply.as_bytes(),
                );
                (mine && matches).then_some(a.step)
            })
            .max()
            .and_then(|step| self.time_of(step));
        let Some(subscribed) = newest else {
            return;
        };
        if sent + RECENT_SLACK >= subscribed + RECENT {
            return;
        }
        self.stats.gateway_recent_checked += 1;
        if !mapped {
            let (key, to) = (msg.key, self.links[link].to.0);
            let age = sent.saturating_since(subscribed);
            self.violation(format!(
                "request {key} (reply {reply}) crossed the gateway from node {} to node {to} \
                 unmapped although its reply subscription was {age:?} old (a reply to a \
                 subscription younger than {RECENT:?} goes back as _GR_.)",
                home.0
            ));
        }
    }

    /// The interest the acceptor of gateway connection `link` (its
    /// direction from the acceptor) should have told the dialer: every
    /// subscription of its cluster the propagation matrix lets reach
    /// gateways (its clients', what its routes and its spokes told it,
    /// their own `$LDS.` included), each once: (subject, queue) -> 1.
    pub fn expected_gateway_interest(
        &self,
        link: LinkId,
    ) -> BTreeMap<(String, Option<String>), u32> {
        let from = self.links[link].from;
        let mut want: BTreeMap<(String, Option<String>), u32> = BTreeMap::new();
        for (subject, queue, _) in self.expected_route_interest(from.0, from.1) {
            want.insert((subject, queue), 1);
        }
        for (x, rec) in self.links.iter().enumerate() {
            if rec.to != from || rec.closed || x == partner(link) {
                continue;
            }
            let origin = origin_of(rec);
            for (pattern, queue, from_leaf) in rec.current.keys() {
                let subject = self.names[*pattern as usize].as_str();
                let cluster = if rec.kind == LinkKind::Leaf {
                    Some(rec.cluster.as_bytes())
                } else {
                    from_leaf.as_deref().map(str::as_bytes)
                };
                let facts = SubFacts {
                    loop_detection: subject.starts_with("$LDS."),
                    origin_cluster: cluster,
                };
                if router::propagates(origin, Dest::Gateways, &facts, &LinkFacts::default()) {
                    want.insert((subject.to_string(), queue.clone()), 1);
                }
            }
        }
        want
    }

    /// After convergence, end to end (see the module docs).
    pub(super) fn calm_check(&mut self) {
        let Some(calm) = self.calm_step else {
            return;
        };
        // Subscriptions in place before convergence that stayed.
        let stayed: Vec<SubId> = (0..self.subs.len())
            .filter(|&s| {
                let sub = &self.subs[s];
                let inc = &self.incs[sub.inc];
                matches!(sub.sub, Processed::At(a) if a.step < calm)
                    && !matches!(sub.unsub, Some(Processed::At(_)))
                    && !inc.ended
                    && inc.closed_step.is_none()
            })
            .collect();
        // Queue members that left after convergence: a group with one may
        // have been served by it, or lost the message with it.
        let left: Vec<SubId> = (0..self.subs.len())
            .filter(|&s| {
                let sub = &self.subs[s];
                let inc = &self.incs[sub.inc];
                let ended_after = match sub.unsub {
                    Some(Processed::At(u)) => u.step > calm,
                    Some(Processed::Pending | Processed::Uncertain) => true,
                    None => inc.ended && inc.closed_step.is_none_or(|c| c > calm),
                };
                sub.queue.is_some() && !matches!(sub.sub, Processed::Pending) && ended_after
            })
            .collect();
        let mut cache = std::mem::take(&mut self.match_cache);
        let mut found = Vec::new();
        for msg in &self.msgs {
            let Processed::At(b) = msg.processed else {
                continue;
            };
            if b.step <= calm {
                continue;
            }
            let publisher = &self.incs[msg.publisher];
            let subject = &self.names[msg.subject as usize];
            let mut groups: BTreeMap<&str, bool> = BTreeMap::new();
            for &s in &stayed {
                let sub = &self.subs[s];
                if !cached_match(&mut cache, &self.names, sub.pattern, msg.subject) {
                    continue;
                }
                // The publisher's own subscriptions with echo off neither
                // get it nor serve a group (a mapped reply may come back
                // to them).
                if sub.inc == msg.publisher && !publisher.echo {
                    continue;
                }
                match &sub.queue {
                    Some(q) => {
                        groups.entry(q.as_str()).or_insert(true);
                    }
                    None if msg.deliveries.contains(&s) => self.stats.calm_delivered += 1,
                    None => {
                        let inc = &self.incs[sub.inc];
                        found.push(format!(
                            "after healing: {} on {subject} (client {} on node {}) never reached \
                             client {} sid {} ({}) on node {}, subscribed before the \
                             super-cluster converged and stable since",
                            msg.key,
                            publisher.client,
                            publisher.node,
                            inc.client,
                            sub.sid,
                            self.names[sub.pattern as usize],
                            inc.node
                        ));
                    }
                }
            }
            for &s in &left {
                let sub = &self.subs[s];
                if cached_match(&mut cache, &self.names, sub.pattern, msg.subject) {
                    if let Some(q) = &sub.queue {
                        groups.insert(q.as_str(), false);
                    }
                }
            }
            for (q, all_stayed) in groups {
                if !all_stayed {
                    continue;
                }
                if msg.groups.iter().any(|g| g == q) {
                    self.stats.calm_queue_served += 1;
                } else {
                    found.push(format!(
                        "after healing: {} on {subject} (client {} on node {}) never reached \
                         queue group {q}, which had members in place before the super-cluster \
                         converged and stable since",
                        msg.key, publisher.client, publisher.node
                    ));
                }
            }
            if msg.reply.is_none() || publisher.ended {
                continue;
            }
            for &d in &msg.deliveries {
                let sub = &self.subs[d];
                let responder = &self.incs[sub.inc];
                if !sub.respond || responder.ended {
                    continue;
                }
                let answered = msg.replies.iter().any(|&r| {
                    let reply = &self.msgs[r];
                    reply.publisher == sub.inc
                        && reply
                            .deliveries
                            .iter()
                            .any(|&x| self.subs[x].inc == msg.publisher)
                });
                if answered {
                    self.stats.calm_replies += 1;
                } else {
                    found.push(format!(
                        "after healing: reply lost: request {} (client {} on node {}) reached \
                         responder client {} on node {}, no reply arrived; both stable",
                        msg.key, publisher.client, publisher.node, responder.client, responder.node
                    ));
                }
            }
        }
        self.match_cache = cache;
        for v in found {
            self.violation(v);
        }
    }
}

/// Whether interest from `origin` reaches gateways (for docs and tests).
#[cfg(test)]
fn to_gateways(origin: canopy_core::router::Origin) -> bool {
    router::propagates(
        origin,
        Dest::Gateways,
        &SubFacts::new(b"a.b"),
        &LinkFacts::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{OpRef, Pos};
    use canopy_core::router::Origin;

    fn at(step: u64) -> Processed {
        Processed::At(Pos { step, offset: 0 })
    }

    fn key(client: u32, n: u64) -> MsgKey {
        MsgKey { client, n }
    }

    #[test]
    fn the_matrix_tells_gateways_what_the_checker_expects() {
        assert!(to_gateways(Origin::Client));
        assert!(to_gateways(Origin::Route));
        assert!(to_gateways(Origin::LeafHub));
        assert!(!to_gateways(Origin::LeafSpoke));
        assert!(!to_gateways(Origin::Gateway));
    }

    /// Node 0 (cluster A) dialed node 1 (cluster B) and node 2 (cluster
    /// C); node 1 told it `a.b`; client 0 on node 0 published `a.b`,
    /// processed at step 2.
    fn super3() -> (Checker, [LinkId; 4]) {
        let mut c = Checker::default();
        c.set_gateway_clusters(vec![Some(0), Some(1), Some(2)]);
        c.open_inc(0, 0, 0, true);
        let ab = c.open_link((0, 0), (1, 0), LinkKind::Gateway);
        let ba = c.open_link((1, 0), (0, 0), LinkKind::Gateway);
        c.gateway_link(ab);
        let ac = c.open_link((0, 0), (2, 0), LinkKind::Gateway);
        let ca = c.open_link((2, 0), (0, 0), LinkKind::Gateway);
        c.gateway_link(ac);
        c.route_interest(ba, "a.b", None, None, 1, at(1));
        let m = c.pub_written(0, key(0, 0), "a.b", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(2));
        (c, [ab, ba, ac, ca])
    }

    #[test]
    fn gateway_messages_go_one_hop_with_interest_and_outbound_only() {
        let (mut c, [ab, ba, ..]) = super3();
        c.routed(ab, Some(key(0, 0)), Vec::new(), None, at(3));
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        // Node 1 may not pass it on to another gateway (and only on its
        // outbound links anyway).
        c.routed(ba, Some(key(0, 0)), Vec::new(), None, at(4));
        assert!(
            c.violations
                .iter()
                .any(|v| v.starts_with("hop rule broken")),
            "{:?}",
            c.violations
        );
        assert!(
            c.violations.iter().any(|v| v.contains("it accepted")),
            "{:?}",
            c.violations
        );
        // Node 2 never said it wanted `a.b`.
        let (mut c, [_, _, ac, _]) = super3();
        c.routed(ac, Some(key(0, 0)), Vec::new(), None, at(3));
        assert!(
            c.violations[0].contains("without interest"),
            "{:?}",
            c.violations
        );
    }

    /// A request on `svc` from a client whose reply subscription is
    /// 800 ms old (recent), with B interested in `svc`: the checker and
    /// the A→B link it crosses.
    fn recent_request() -> (Checker, LinkId) {
        let (mut c, [ab, ba, ..]) = super3();
        c.route_interest(ba, "svc", None, None, 1, at(1));
        c.note_step(5, Instant::ZERO + Duration::from_millis(100));
        c.note_step(6, Instant::ZERO + Duration::from_millis(900));
        let inbox = c.sub_written(0, 7, "_INBOX.r.*", None, false);
        c.processed(OpRef::Sub(inbox), at(5));
        let q = c.pub_written(
            0,
            key(0, 1),
            "svc",
            Some("_INBOX.r.1".into()),
            None,
            Instant::ZERO,
        );
        c.processed(OpRef::Pub(q), at(6));
        (c, ab)
    }

    #[test]
    fn a_recent_reply_subscription_maps_the_reply() {
        let (mut c, ab) = recent_request();
        let plain = RoutedMsg {
            key: Some(key(0, 1)),
            ..RoutedMsg::default()
        };
        c.routed_msg(ab, plain.clone(), at(7), Instant::ZERO);
        assert!(c.violations[0].contains("unmapped"), "{:?}", c.violations);
        let (mut c, ab) = recent_request();
        let mapped = RoutedMsg {
            reply_gr: Some("_GR_.aaaaaa.bbbbbb.".into()),
            ..plain
        };
        c.routed_msg(ab, mapped, at(7), Instant::ZERO);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        assert_eq!(c.stats.gateway_recent_checked, 1);
    }
}
