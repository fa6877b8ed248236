//! Interest on leaf links: what the peer tells us (`LS+`/`LS-`, kept in
//! each account's `leaf` index, with loop detection and the hub's
//! permission check), and what we tell each link (the propagation matrix,
//! the link's permissions, counted per subject and queue: `LS+` on a
//! subject's first subscription and `LS-` on its last, queue groups with
//! their member count on every change).

use super::{rule_allows, LOOP_DELAY};
use crate::account::AccountId;
use crate::engine::Server;
use crate::events::CloseReason;
use crate::ids::ConnId;
use crate::outbound::Outbound;
use crate::router::{propagates, LinkFacts, Origin, SubFacts, LOOP_DETECTION_PREFIX};
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Prefixes whose interest every leaf link accepts whatever its
/// permissions (loop detection and gateway replies).
const ALWAYS_ALLOWED: [&[u8]; 3] = [LOOP_DETECTION_PREFIX, b"_GR_.", b"$GR."];

/// A subscription held by some connection, with the row of the matrix it
/// came from, the connection (a route or leaf link), and its leaf
/// cluster.
type Held = (Origin, Option<ConnId>, Option<Bytes>, Arc<Subscription>);

/// The leaf link some interest was read on: its row of the matrix, the
/// connection, its bound account and its remote cluster.
pub(crate) struct LinkInterest<'a> {
    pub(crate) origin: Origin,
    pub(crate) conn: ConnId,
    pub(crate) account: AccountId,
    pub(crate) cluster: &'a [u8],
}

/// One piece of interest to tell: where it came from, and its subject,
/// queue and weight.
struct Interest<'a> {
    origin: Origin,
    from: Option<ConnId>,
    origin_cluster: Option<&'a [u8]>,
    subject: &'a Bytes,
    queue: Option<&'a Bytes>,
}

impl Server {
    /// `LS+` from a leaf link: our own loop-detection subject means a loop
    /// (refused, and a solicited link waits 30 s); on a link where we are
    /// the hub, a literal subject the link may not receive is a
    /// permission violation; otherwise the interest is indexed and told to
    /// the other links the matrix allows.
    pub(crate) fn leaf_sub(
        &mut self,
        conn: ConnId,
        subject: Bytes,
        queue: Option<Bytes>,
        weight: u32,
        now: Instant,
    ) {
        let Some(link) = self.conns.get(&conn).and_then(|c| c.leaf()) else {
            return;
        };
        let account = link.account;
        if self.leafs.lds.get(&account) == Some(&subject) && !mutated!(self, skip_leaf_loop_check) {
            self.leaf_loop(conn, now);
            return;
        }
        let exempt = ALWAYS_ALLOWED.iter().any(|p| subject.starts_with(p));
        let literal = !subject.iter().any(|&b| b == b'*' || b == b'>');
        if !exempt && literal && !rule_allows(link.send.as_ref(), &subject) {
            if link.hub_role {
                let text = crate::perms::subscribe_violation(&subject, None);
                tracing::error!(
                    "{} - Subscription Violation on {:?} - Check other side configuration",
                    self.conn_label(conn),
                    String::from_utf8_lossy(&subject)
                );
                self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
            }
            return;
        }
        if !crate::subject::is_valid_subject(&subject) {
            return;
        }
        let key = interest_key(&subject, queue.as_deref());
        let seq = self.next_sub_seq;
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.leaf_mut()) else {
            return;
        };
        let weight = weight.max(1);
        let origin = link.origin();
        let cluster = link.peer.cluster.clone();
        let delta = if let Some(sub) = link.subs.get(&key) {
            // A queue's new total replaces the old one.
            let old = sub.weight.swap(weight, Ordering::Relaxed);
            if sub.queue.is_none() {
                return;
            }
            i64::from(weight) - i64::from(old)
        } else {
            let sub = Arc::new(Subscription {
                seq,
                conn,
                sid: key.clone(),
                subject: subject.clone(),
                queue: queue.clone(),
                delivered: Default::default(),
                max: Default::default(),
                weight: AtomicU32::new(weight),
            });
            self.next_sub_seq += 1;
            link.subs.insert(key, sub.clone());
            self.accounts[account.0 as usize].leaf.insert(sub);
            if queue.is_some() {
                i64::from(weight)
            } else {
                1
            }
        };
        let link = LinkInterest {
            origin,
            conn,
            account,
            cluster: &cluster,
        };
        self.link_interest(&link, &subject, queue.as_ref(), delta);
    }

    /// `LS-` from a leaf link: the interest leaves the index and the other
    /// links are told. Unknown keys are ignored.
    pub(crate) fn leaf_unsub(&mut self, conn: ConnId, subject: &[u8], queue: Option<&[u8]>) {
        if mutated!(self, forget_ls_minus) {
            return;
        }
        let key = interest_key(subject, queue);
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.leaf_mut()) else {
            return;
        };
        let Some(sub) = link.subs.remove(&key) else {
            return;
        };
        let (account, origin) = (link.account, link.origin());
        let cluster = link.peer.cluster.clone();
        self.accounts[account.0 as usize].leaf.remove(&sub);
        let link = LinkInterest {
            origin,
            conn,
            account,
            cluster: &cluster,
        };
        self.link_interest(&link, &sub.subject, sub.queue.as_ref(), -sub.members());
    }

    /// Interest read on a leaf link changed by `delta` members: told to the
    /// other leaf links and to the routes, as the matrix allows.
    pub(crate) fn link_interest(
        &mut self,
        link: &LinkInterest<'_>,
        subject: &Bytes,
        queue: Option<&Bytes>,
        delta: i64,
    ) {
        let cluster = link.cluster;
        self.interest_changed(
            link.origin,
            Some(link.conn),
            link.account,
            subject,
            queue,
            delta,
            Some(cluster),
        );
        self.leaf_interest_to_routes(link.origin, cluster, link.account, subject, queue, delta);
    }

    /// Our own loop-detection subject came back: the link closes a loop.
    /// nats-server's error goes to the peer and its log, and a solicited
    /// link waits 30 s before it dials again.
    pub(crate) fn leaf_loop(&mut self, conn: ConnId, now: Instant) {
        let Some(link) = self.conns.get(&conn).and_then(|c| c.leaf()) else {
            return;
        };
        let name = &self.accounts[link.account.0 as usize].name;
        let text = format!(
            "Loop detected for leafnode account={name:?}. Delaying attempt to reconnect for {}s",
            LOOP_DELAY.as_secs()
        );
        if let Some(target) = link.solicit {
            self.leafs.penalty.insert(target, LOOP_DELAY);
        }
        tracing::error!("{} - {text}", self.conn_label(conn));
        self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
    }

    /// Interest in `account` changed by `delta` members (`origin`: the
    /// kind it came from; `from`: the connection, if a leaf link or
    /// route): tells every registered leaf link of that account that the
    /// propagation matrix and the link's permissions allow.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn leaf_interest(
        &mut self,
        origin: Origin,
        from: Option<ConnId>,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        delta: i64,
        origin_cluster: Option<&[u8]>,
    ) {
        if self.leafs.links.is_empty() || delta == 0 {
            return;
        }
        let interest = Interest {
            origin,
            from,
            origin_cluster,
            subject,
            queue,
        };
        let links: Vec<ConnId> = self.leafs.links.iter().copied().collect();
        for id in links {
            if self
                .conns
                .get(&id)
                .and_then(|c| c.leaf())
                .is_some_and(|l| l.account == account)
            {
                self.tell_leaf(id, &interest, delta);
            }
        }
    }

    /// Tells one link about one change of interest, if the matrix and its
    /// permissions let it through: `LS+` on a subject's first member and
    /// `LS-` on its last; a queue group's new total on every change.
    fn tell_leaf(&mut self, id: ConnId, interest: &Interest<'_>, delta: i64) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.closed {
            return;
        }
        let Some(link) = c.leaf_mut() else {
            return;
        };
        let facts = SubFacts {
            loop_detection: interest.subject.starts_with(LOOP_DETECTION_PREFIX),
            origin_cluster: interest.origin_cluster,
        };
        let facts_link = LinkFacts {
            remote_cluster: Some(&link.peer.cluster),
            is_sender: interest.from == Some(id),
            isolated: link.isolated,
            for_queue: false,
        };
        let relay = mutated!(self, leaf_spoke_relays)
            && interest.origin == Origin::Route
            && !link.hub_role
            && !facts_link.is_sender;
        if !relay && !propagates(interest.origin, link.dest(), &facts, &facts_link) {
            return;
        }
        let exempt = ALWAYS_ALLOWED
            .iter()
            .any(|p| interest.subject.starts_with(p));
        if delta > 0 && !exempt && !rule_allows(link.take.as_ref(), interest.subject) {
            return;
        }
        let key = (interest.subject.clone(), interest.queue.cloned());
        let old = link.told.get(&key).copied().unwrap_or(0);
        let new = u32::try_from((i64::from(old) + delta).max(0)).unwrap_or(u32::MAX);
        if new == 0 {
            link.told.remove(&key);
        } else {
            link.told.insert(key, new);
        }
        if let Some(batch) = self.leafs.batch.as_mut() {
            batch
                .entry((id, interest.subject.clone(), interest.queue.cloned()))
                .or_insert(old);
            return;
        }
        if crate::router::interest_changed(interest.queue.is_some(), old, new) {
            write_leaf_interest(&mut c.out, interest.subject, interest.queue, new);
            c.schedule_flush(&mut self.dirty);
        }
    }

    /// Many subscriptions are about to go at once: hold what each link is
    /// told until [`Server::end_leaf_batch`], so a queue group that loses
    /// three members gets one `LS-`, not three updates (as nats-server
    /// tells a closed client's interest).
    pub(crate) fn begin_leaf_batch(&mut self) {
        if !self.leafs.links.is_empty() && self.leafs.batch.is_none() {
            self.leafs.batch = Some(Default::default());
        }
    }

    /// Tells each link the end state of what changed since
    /// [`Server::begin_leaf_batch`].
    pub(crate) fn end_leaf_batch(&mut self) {
        let Some(batch) = self.leafs.batch.take() else {
            return;
        };
        for ((id, subject, queue), before) in batch {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            let Some(link) = c.leaf().filter(|_| !c.closed) else {
                continue;
            };
            let now = link
                .told
                .get(&(subject.clone(), queue.clone()))
                .copied()
                .unwrap_or(0);
            if crate::router::interest_changed(queue.is_some(), before, now) {
                write_leaf_interest(&mut c.out, &subject, queue.as_ref(), now);
                c.schedule_flush(&mut self.dirty);
            }
        }
    }

    /// The first interest sent on a newly registered link: every
    /// subscription the matrix lets through to it (local clients', routes'
    /// and other leaf links'), and the account's loop-detection subject.
    pub(crate) fn send_initial_interest(&mut self, conn: ConnId) {
        let Some(account) = self
            .conns
            .get(&conn)
            .and_then(|c| c.leaf())
            .map(|l| l.account)
        else {
            return;
        };
        // (origin, from, origin cluster, subject, queue, weight), gathered
        // in a fixed order: clients by connection id, then routes, then
        // leaf links.
        let mut all: Vec<Held> = Vec::new();
        all.extend(
            self.client_subs_of(account)
                .into_iter()
                .map(|s| (Origin::Client, None, None, s)),
        );
        all.extend(
            self.route_subs_of(account)
                .into_iter()
                .map(|(id, s, origin)| (Origin::Route, Some(id), origin, s)),
        );
        all.extend(
            self.gateway_subs_of(account)
                .into_iter()
                .map(|(id, s)| (Origin::Gateway, Some(id), None, s)),
        );
        for &id in &self.leafs.links {
            let Some(l) = self.conns.get(&id).and_then(|c| c.leaf()) else {
                continue;
            };
            if id == conn || l.account != account {
                continue;
            }
            let cluster = l.peer.cluster.clone();
            all.extend(
                l.subs
                    .values()
                    .map(|s| (l.origin(), Some(id), Some(cluster.clone()), s.clone())),
            );
        }
        // What imports need from the link: the subjects its side may
        // request imported services on (in the importing account), and the
        // replies to service requests mapped here (in the exporting one).
        let mut wanted: Vec<Bytes> = Vec::new();
        for route in &self.imports {
            let subject = if route.service && route.importer == account {
                route.importer_pattern().clone()
            } else if route.service && route.exporter == account {
                let mut r = b"_R_.".to_vec();
                r.extend_from_slice(&self.reply_prefix);
                r.extend_from_slice(b".>");
                Bytes::from(r)
            } else {
                continue;
            };
            if !wanted.contains(&subject) {
                wanted.push(subject);
            }
        }
        // A gateway server takes the answers to requests that crossed
        // gateways (`_GR_.` replies) from its leafs.
        if self.gateways_on() {
            wanted.push(Bytes::from_static(b"_GR_.>"));
        }
        for subject in &wanted {
            let interest = Interest {
                origin: Origin::Internal,
                from: None,
                origin_cluster: None,
                subject,
                queue: None,
            };
            self.tell_leaf(conn, &interest, 1);
        }
        let lds = self.loop_subject(account);
        let interest = Interest {
            origin: Origin::Client,
            from: None,
            origin_cluster: None,
            subject: &lds,
            queue: None,
        };
        self.tell_leaf(conn, &interest, 1);
        for (origin, from, cluster, sub) in &all {
            let weight = sub.members();
            let interest = Interest {
                origin: *origin,
                from: *from,
                origin_cluster: cluster.as_deref(),
                subject: &sub.subject,
                queue: sub.queue.as_ref(),
            };
            self.tell_leaf(conn, &interest, weight);
        }
        self.mark_dirty(conn);
    }
}

/// The key of a leaf link's interest: `subject` or `subject queue`.
fn interest_key(subject: &[u8], queue: Option<&[u8]>) -> Bytes {
    let mut key = subject.to_vec();
    if let Some(q) = queue {
        key.push(b' ');
        key.extend_from_slice(q);
    }
    Bytes::from(key)
}

/// `LS+ <subject>[ <queue> <weight>]` or, for a count of zero,
/// `LS- <subject>[ <queue>]`.
pub(crate) fn write_leaf_interest(
    out: &mut Outbound,
    subject: &[u8],
    queue: Option<&Bytes>,
    n: u32,
) {
    out.push_interest((b"LS+", b"LS-"), &[], subject, queue, n);
}
