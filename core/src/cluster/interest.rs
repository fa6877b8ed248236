//! Interest across routes: what each peer told us (`RS+`/`RS-`, kept in
//! each account's `remote` index), and what we tell them (local
//! subscriptions counted per account, subject and queue; `RS+` on a
//! subject's first plain subscription and `RS-` on its last, queue groups
//! with their member count on every change; imports' standing interest).

use crate::account::AccountId;
use crate::engine::Server;
use crate::ids::ConnId;
use crate::outbound::Outbound;
use crate::route::interest_key;
use crate::router::{propagates, Dest, LinkFacts, Origin, SubFacts};
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Server {
    /// Interest imports need from the rest of the cluster, held for as
    /// long as the server runs: each stream import's subject in the
    /// exporting account (its publishers may be on other servers), and this
    /// server's `_R_.<prefix>.>` in each account that serves imported
    /// services (responses to requests mapped here come back here).
    pub(crate) fn import_interest(&mut self) {
        let mut wanted: Vec<(AccountId, Bytes)> = Vec::new();
        for i in &self.imports {
            let w = if i.service {
                let mut r = b"_R_.".to_vec();
                r.extend_from_slice(&self.reply_prefix);
                r.extend_from_slice(b".>");
                (i.exporter, Bytes::from(r))
            } else {
                (i.exporter, i.subject.clone())
            };
            if !wanted.contains(&w) {
                wanted.push(w);
            }
        }
        for (account, subject) in wanted {
            self.local_interest(Origin::Internal, account, &subject, None, true);
        }
    }

    /// `RS+`, or `LS+` with the leaf cluster it came from (`origin`),
    /// from a route: kept in the account's `remote` index and told to our
    /// leaf links.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn route_sub(
        &mut self,
        conn: ConnId,
        origin: Option<Bytes>,
        account: Bytes,
        subject: Bytes,
        queue: Option<Bytes>,
        weight: u32,
        now: Instant,
    ) {
        let Some(acc) = self.routed_account(&account, now) else {
            tracing::debug!(
                "rid:{} - Unknown account {:?} for routed subscription",
                conn.0,
                String::from_utf8_lossy(&account)
            );
            return;
        };
        if !crate::subject::is_valid_subject(&subject) {
            return;
        }
        let key = origin_key(origin.as_deref(), &account, &subject, queue.as_deref());
        let seq = self.next_sub_seq;
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.route_mut()) else {
            return;
        };
        if let Some((_, sub)) = link.subs.get(&key) {
            let old = sub.weight.swap(weight.max(1), Ordering::Relaxed);
            if let Some(q) = sub.queue.clone() {
                let delta = i64::from(weight.max(1)) - i64::from(old);
                let subject = sub.subject.clone();
                self.interest_changed(
                    Origin::Route,
                    Some(conn),
                    acc,
                    &subject,
                    Some(&q),
                    delta,
                    origin.as_deref(),
                );
            }
            return;
        }
        let sub = Arc::new(Subscription {
            seq,
            conn,
            sid: key.clone(),
            subject,
            queue,
            delivered: Default::default(),
            max: Default::default(),
            weight: std::sync::atomic::AtomicU32::new(weight.max(1)),
        });
        self.next_sub_seq += 1;
        if let Some(o) = &origin {
            link.origins.insert(key.clone(), o.clone());
        }
        link.subs.insert(key, (acc, sub.clone()));
        self.accounts[acc.0 as usize].remote.insert(sub.clone());
        let delta = sub.members();
        self.interest_changed(
            Origin::Route,
            Some(conn),
            acc,
            &sub.subject,
            sub.queue.as_ref(),
            delta,
            origin.as_deref(),
        );
    }

    /// `RS-`, or `LS-` with its origin, from a route.
    pub(crate) fn route_unsub(
        &mut self,
        conn: ConnId,
        origin: Option<&[u8]>,
        account: &[u8],
        subject: &[u8],
        queue: Option<&[u8]>,
    ) {
        let key = origin_key(origin, account, subject, queue);
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.route_mut()) else {
            return;
        };
        if let Some((acc, sub)) = link.subs.remove(&key) {
            link.origins.remove(&key);
            self.accounts[acc.0 as usize].remote.remove(&sub);
            let delta = -sub.members();
            self.interest_changed(
                Origin::Route,
                Some(conn),
                acc,
                &sub.subject,
                sub.queue.as_ref(),
                delta,
                origin,
            );
        }
    }

    pub(crate) fn account_by_name(&self, name: &[u8]) -> Option<AccountId> {
        self.accounts
            .iter()
            .position(|a| a.name.as_bytes() == name)
            .map(|i| AccountId(i as u32))
    }

    /// A subscription of `origin` (a client's, or an import's standing
    /// interest) came or went: counts it and, where the propagation matrix
    /// lets that origin's interest reach routes, tells them (`RS+` on a
    /// subject's first plain subscription, `RS-` on its last; queue groups
    /// send their member count on every change).
    pub(crate) fn local_interest(
        &mut self,
        origin: Origin,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        added: bool,
    ) {
        let delta = if added { 1 } else { -1 };
        self.interest_changed(origin, None, account, subject, queue, delta, None);
        if self.options.cluster.is_none()
            || !propagates(
                origin,
                Dest::Routes,
                &SubFacts::new(subject),
                &LinkFacts::default(),
            )
        {
            return;
        }
        if !added && mutated!(self, forget_rs_minus) {
            return;
        }
        self.route_local_delta(account, subject, queue, if added { 1 } else { -1 });
    }

    /// Our own interest in (`account`, `subject`, `queue`) changed by
    /// `delta` members (a queue member counts its weight): counted, and
    /// told to the routes.
    fn route_local_delta(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        delta: i64,
    ) {
        let key = (account, subject.clone(), queue.cloned());
        let old = self.routes.local.get(&key).copied().unwrap_or(0);
        if old == 0 && delta < 0 {
            return;
        }
        let count = u32::try_from((i64::from(old) + delta).max(0)).unwrap_or(u32::MAX);
        if count == 0 {
            self.routes.local.remove(&key);
        } else {
            self.routes.local.insert(key.clone(), count);
        }
        let leaf = self.leaf_members(account, subject, queue);
        self.tell_routes(account, subject, queue, (old, count), (leaf, leaf), None);
    }

    /// Members of leaf clusters behind us interested in (`account`,
    /// `subject`, `queue`), over every origin.
    fn leaf_members(&self, account: AccountId, subject: &Bytes, queue: Option<&Bytes>) -> u32 {
        let from = (account, subject.clone(), queue.cloned(), Bytes::new());
        self.routes
            .leaf_local
            .range(from..)
            .take_while(|((a, s, q, _), _)| *a == account && s == subject && q.as_ref() == queue)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Tells the routes that interest in (`account`, `subject`, `queue`)
    /// changed: our own members went from `local.0` to `local.1`, and
    /// those of the leaf clusters behind us from `leaf.0` to `leaf.1`, of
    /// which those of `origin.0` from `origin.1` to `origin.2`. A peer
    /// that takes origins (`lnoc`) hears ours as `RS+` and that cluster's
    /// as `LS+ <origin>`; another hears the sum as `RS+`. `+` on a
    /// subject's first member and `-` on its last; a queue group's new
    /// total on every change.
    fn tell_routes(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        local: (u32, u32),
        leaf: (u32, u32),
        origin: Option<(&[u8], u32, u32)>,
    ) {
        if self.routes.by_id.is_empty() {
            return;
        }
        let changed = |old, new| crate::router::interest_changed(queue.is_some(), old, new);
        let name = &self.accounts[account.0 as usize].name;
        let mut touched = Vec::new();
        for r in self.routes.by_id.values() {
            let Some(c) = self.conns.get_mut(r) else {
                continue;
            };
            let lnoc = c
                .route()
                .and_then(|l| l.remote.as_ref())
                .is_some_and(|i| i.lnoc);
            let (old, new) = if lnoc {
                local
            } else {
                (local.0 + leaf.0, local.1 + leaf.1)
            };
            let mut wrote = false;
            if changed(old, new) {
                write_interest(&mut c.out, name, subject, queue, new);
                wrote = true;
            }
            if let Some((cluster, old, new)) = origin.filter(|_| lnoc) {
                if changed(old, new) {
                    write_leaf_interest(&mut c.out, cluster, name, subject, queue, new);
                    wrote = true;
                }
            }
            if wrote {
                touched.push(*r);
            }
        }
        for r in touched {
            self.mark_dirty(r);
        }
    }
}

impl Server {
    /// Interest of leaf cluster `origin`, read on a leaf link of row
    /// `from`, changed by `delta` members: where the propagation matrix
    /// lets it reach routes (our spokes' interest, not our hub's), each
    /// route that takes an origin (`lnoc`) is told `LS+ <origin> <account>
    /// <subject>` on the first member and `LS-` on the last; a queue group
    /// its new total on every change.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn leaf_interest_to_routes(
        &mut self,
        from: Origin,
        origin: &[u8],
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        delta: i64,
    ) {
        if self.options.cluster.is_none()
            || delta == 0
            || !propagates(
                from,
                Dest::Routes,
                &SubFacts::new(subject).with_origin_cluster(origin),
                &LinkFacts::default(),
            )
        {
            return;
        }
        // A leaf that names no cluster has no origin to carry: its
        // interest is told as ours (nats-server sends RS+ for it).
        if origin.is_empty() {
            self.route_local_delta(account, subject, queue, delta);
            return;
        }
        let leaf_old = self.leaf_members(account, subject, queue);
        let key = (
            account,
            subject.clone(),
            queue.cloned(),
            Bytes::copy_from_slice(origin),
        );
        let old = self.routes.leaf_local.get(&key).copied().unwrap_or(0);
        let new = u32::try_from((i64::from(old) + delta).max(0)).unwrap_or(u32::MAX);
        if new == 0 {
            self.routes.leaf_local.remove(&key);
        } else {
            self.routes.leaf_local.insert(key, new);
        }
        let leaf_new = leaf_old - old + new;
        let local_key = (account, subject.clone(), queue.cloned());
        let local = self.routes.local.get(&local_key).copied().unwrap_or(0);
        self.tell_routes(
            account,
            subject,
            queue,
            (local, local),
            (leaf_old, leaf_new),
            Some((origin, old, new)),
        );
    }
}

/// `LS+ <origin> <account> <subject>[ <queue> <weight>]` or, for a count of
/// zero, `LS- <origin> <account> <subject>[ <queue>]` (the origin as a
/// peer that also takes it on `LS-`, `lnocu`, expects).
pub(crate) fn write_leaf_interest(
    out: &mut Outbound,
    origin: &[u8],
    account: &str,
    subject: &[u8],
    queue: Option<&Bytes>,
    n: u32,
) {
    out.push_interest(
        (b"LS+", b"LS-"),
        &[origin, account.as_bytes()],
        subject,
        queue,
        n,
    );
}

/// The key of a route's interest: `account subject [queue]` for `RS+`,
/// prefixed with `L <origin> ` for an `LS+`, so that the two never
/// collide (nats-server keys them apart the same way).
fn origin_key(
    origin: Option<&[u8]>,
    account: &[u8],
    subject: &[u8],
    queue: Option<&[u8]>,
) -> Bytes {
    let key = interest_key(account, subject, queue);
    match origin {
        None => key,
        Some(o) => {
            let mut k = Vec::with_capacity(key.len() + o.len() + 3);
            k.extend_from_slice(b"L ");
            k.extend_from_slice(o);
            k.push(b' ');
            k.extend_from_slice(&key);
            Bytes::from(k)
        }
    }
}

/// `RS+ <account> <subject>[ <queue> <weight>]` or, for a count of zero,
/// `RS- <account> <subject>[ <queue>]`.
pub(crate) fn write_interest(
    out: &mut Outbound,
    account: &str,
    subject: &[u8],
    queue: Option<&Bytes>,
    n: u32,
) {
    out.push_interest((b"RS+", b"RS-"), &[account.as_bytes()], subject, queue, n);
}

impl Server {
    /// The interest registered routes announced in `account`, routes by
    /// peer id and each route's by key (what a new leaf link is told
    /// first, where this server is its hub).
    pub(crate) fn route_subs_of(
        &self,
        account: AccountId,
    ) -> Vec<(ConnId, Arc<Subscription>, Option<Bytes>)> {
        let mut out = Vec::new();
        for &id in self.routes.by_id.values() {
            let Some(link) = self.conns.get(&id).and_then(|c| c.route()) else {
                continue;
            };
            if !link.registered {
                continue;
            }
            out.extend(
                link.subs
                    .iter()
                    .filter(|(_, (a, _))| *a == account)
                    .map(|(k, (_, s))| (id, s.clone(), link.origins.get(k).cloned())),
            );
        }
        out
    }
}
