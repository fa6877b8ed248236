//! Interest across gateways, both ways.
//!
//! Inbound side (what we tell): the whole cluster's interest, counted per
//! account, subject and queue (our clients', our routes' and our spokes'),
//! is told on every inbound link: `RS+` on a key's first member and `RS-`
//! on its last (queues with weight 1). A new inbound link gets our queue
//! interest, then each account's switch to interest-only: `gateway_cmd`
//! 2, the account's plain interest, `gateway_cmd` 3.
//!
//! Outbound side (what we learn): the peer's `RS+`/`RS-` go into each
//! account's `gateway` index (a plain `RS+` for an account the peer has
//! not switched yet is ignored, as nats-server does for a peer that runs
//! interest-only), `A-`/`A+` mark an account without or with interest.

use super::info::{self, GatewayInfo};
use super::{OutAccount, RECENT};
use crate::account::AccountId;
use crate::engine::Server;
use crate::ids::ConnId;
use crate::route::interest_key;
use crate::router::{propagates, Dest, LinkFacts, Origin, SubFacts};
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

impl Server {
    /// Interest of `origin` in (`account`, `subject`, `queue`) changed by
    /// `delta` members: counted cluster-wide and, on the first or last
    /// member, told on every inbound link, where the propagation matrix
    /// lets that origin's interest reach gateways. New interest is also
    /// "recent" for [`RECENT`].
    pub(crate) fn gateway_interest(
        &mut self,
        origin: Origin,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        delta: i64,
    ) {
        if !self.gateways_on()
            || delta == 0
            || !propagates(
                origin,
                Dest::Gateways,
                &SubFacts::new(subject),
                &LinkFacts::default(),
            )
        {
            return;
        }
        if delta > 0 {
            self.note_recent(account, subject);
        }
        let key = (account, subject.clone(), queue.cloned());
        let old = self.gateways.told.get(&key).copied().unwrap_or(0);
        if old == 0 && delta < 0 {
            return;
        }
        let new = u32::try_from((i64::from(old) + delta).max(0)).unwrap_or(u32::MAX);
        if new == 0 {
            self.gateways.told.remove(&key);
        } else {
            self.gateways.told.insert(key, new);
        }
        if (old == 0) == (new == 0) {
            return;
        }
        let name = self.accounts[account.0 as usize].name.clone();
        let links: Vec<ConnId> = self.gateways.inbound.iter().copied().collect();
        for id in links {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            if c.closed {
                continue;
            }
            let Some(link) = c.gateway_mut() else {
                continue;
            };
            // A+ after our A- for the account (nats-server's
            // maybeSendSubOrUnsubToGateways).
            if new > 0 && link.no_interest.remove(name.as_bytes()) {
                c.out.push_slice(b"A+ ");
                c.out.push_slice(name.as_bytes());
                c.out.push_slice(b"\r\n");
            }
            write_rs(&mut c.out, &name, subject, queue, new > 0);
            c.schedule_flush(&mut self.dirty);
        }
    }

    /// Indexes new interest in `subject` as recent for [`RECENT`], and
    /// drops what aged out.
    fn note_recent(&mut self, account: AccountId, subject: &Bytes) {
        self.expire_recent();
        let seq = self.next_sub_seq;
        self.next_sub_seq += 1;
        let sub = Arc::new(Subscription {
            seq,
            conn: ConnId(0),
            sid: Bytes::new(),
            subject: subject.clone(),
            queue: None,
            delivered: Default::default(),
            max: Default::default(),
            weight: AtomicU32::new(1),
        });
        self.gateways
            .recent
            .entry(account)
            .or_insert_with(|| crate::sublist::Sublist::new(u64::from(account.0)))
            .insert(sub.clone());
        let expiry = self.gateways.now + RECENT;
        self.gateways
            .recent_expiry
            .push_back((expiry, account, sub));
    }

    /// Drops recent interest older than [`RECENT`].
    fn expire_recent(&mut self) {
        let now = self.gateways.now;
        let gw = &mut self.gateways;
        while gw
            .recent_expiry
            .front()
            .is_some_and(|(exp, _, _)| *exp <= now)
        {
            let Some((_, account, sub)) = gw.recent_expiry.pop_front() else {
                break;
            };
            if let Some(sl) = gw.recent.get_mut(&account) {
                sl.remove(&sub);
                if sl.count() == 0 {
                    gw.recent.remove(&account);
                }
            }
        }
    }

    /// Whether a subscription made in the last [`RECENT`] in `account`
    /// matches `reply`: a reply to it must come back through this server.
    pub(crate) fn recent_interest(&mut self, account: AccountId, reply: &[u8]) -> bool {
        if self.gateways.recent.is_empty() {
            return false;
        }
        self.expire_recent();
        self.gateways.recent.get_mut(&account).is_some_and(|sl| {
            let m = sl.matches(reply);
            !m.plain.is_empty()
        })
    }

    /// Our queue interest, every account, on a new inbound link.
    pub(crate) fn send_queue_interest(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        for (account, subject, queue) in self.gateways.told.keys() {
            if queue.is_some() {
                let name = &self.accounts[account.0 as usize].name;
                write_rs(&mut c.out, name, subject, queue.as_ref(), true);
            }
        }
    }

    /// Switches `account` to interest-only on inbound link `conn`:
    /// `gateway_cmd` 2, every plain subject of ours in it, `gateway_cmd`
    /// 3.
    pub(crate) fn switch_to_interest_only(&mut self, conn: ConnId, account: AccountId) {
        let name = self.accounts[account.0 as usize].name.clone();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let remote = c.gateway().map(|l| l.name.clone()).unwrap_or_default();
        tracing::debug!("Gateway {remote:?}: switching account {name:?} to Interest-Only mode");
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        info::write_command(
            &mut out,
            &self.gateways.name,
            info::CMD_ALL_SUBS_START,
            &name,
        );
        c.out.push_slice(out.as_bytes());
        let from = (account, Bytes::new(), None);
        for (a, subject, queue) in self.gateways.told.range(from..).map(|(k, _)| k) {
            if *a != account {
                break;
            }
            if queue.is_none() {
                write_rs(&mut c.out, &name, subject, None, true);
            }
        }
        out.clear();
        info::write_command(
            &mut out,
            &self.gateways.name,
            info::CMD_ALL_SUBS_COMPLETE,
            &name,
        );
        c.out.push_slice(out.as_bytes());
        self.scratch = out;
        tracing::debug!(
            "Gateway {remote:?}: switching account {name:?} to Interest-Only mode complete"
        );
    }

    /// `RS+` on an outbound link: the peer's interest, indexed in the
    /// account's `gateway` index and told to our hub-role leaf links. A
    /// plain `RS+` for an account the peer never switched (nor told
    /// anything in optimistic mode) is ignored; a queue one starts the
    /// account's entry.
    pub(crate) fn gateway_sub(
        &mut self,
        conn: ConnId,
        account: &[u8],
        subject: Bytes,
        queue: Option<Bytes>,
        weight: u32,
    ) {
        let Some(acc) = self.routed_account(account, self.gateways.now) else {
            return;
        };
        if !crate::subject::is_valid_subject(&subject) {
            return;
        }
        let seq = self.next_sub_seq;
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.gateway_mut()) else {
            return;
        };
        let entry = link.accounts.get_mut(&acc);
        match (entry, queue.is_some()) {
            (
                Some(OutAccount::Interest {
                    only, no_interest, ..
                }),
                false,
            ) if !*only => {
                // Optimistic: the subject (and what it covers) has
                // interest again.
                no_interest.retain(|s| !crate::subject::matches(&subject, s));
                return;
            }
            (Some(OutAccount::Interest { .. }), _) => {}
            (None | Some(OutAccount::NoInterest), false) => return,
            (None | Some(OutAccount::NoInterest), true) => {
                link.accounts.insert(
                    acc,
                    OutAccount::Interest {
                        only: false,
                        no_interest: Default::default(),
                        qsubs: 0,
                    },
                );
            }
        }
        let key = interest_key(account, &subject, queue.as_deref());
        if link.subs.contains_key(&key) {
            return;
        }
        if let Some(OutAccount::Interest { qsubs, .. }) = link.accounts.get_mut(&acc) {
            if queue.is_some() {
                *qsubs += 1;
            }
        }
        let sub = Arc::new(Subscription {
            seq,
            conn,
            sid: key.clone(),
            subject,
            queue,
            delivered: Default::default(),
            max: Default::default(),
            weight: AtomicU32::new(weight.max(1)),
        });
        self.next_sub_seq += 1;
        link.subs.insert(key, (acc, sub.clone()));
        self.accounts[acc.0 as usize].gateway.insert(sub.clone());
        self.leaf_interest(
            Origin::Gateway,
            Some(conn),
            acc,
            &sub.subject,
            sub.queue.as_ref(),
            sub.members(),
            None,
        );
    }

    /// `RS-` on an outbound link: the interest leaves the index; in
    /// optimistic mode, the subject is marked as without interest.
    pub(crate) fn gateway_unsub(
        &mut self,
        conn: ConnId,
        account: &[u8],
        subject: &[u8],
        queue: Option<&[u8]>,
    ) {
        let Some(acc) = self.routed_account(account, self.gateways.now) else {
            return;
        };
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.gateway_mut()) else {
            return;
        };
        match link.accounts.get_mut(&acc) {
            Some(OutAccount::Interest {
                only: false,
                no_interest,
                ..
            }) if queue.is_none() => {
                no_interest.insert(Bytes::copy_from_slice(subject));
                return;
            }
            Some(OutAccount::Interest { .. }) => {}
            None if queue.is_none() => {
                let mut no_interest = std::collections::BTreeSet::new();
                no_interest.insert(Bytes::copy_from_slice(subject));
                link.accounts.insert(
                    acc,
                    OutAccount::Interest {
                        only: false,
                        no_interest,
                        qsubs: 0,
                    },
                );
                return;
            }
            None | Some(OutAccount::NoInterest) => return,
        }
        let key = interest_key(account, subject, queue);
        let Some((_, sub)) = link.subs.remove(&key) else {
            return;
        };
        if let Some(OutAccount::Interest { qsubs, .. }) = link.accounts.get_mut(&acc) {
            if sub.queue.is_some() {
                *qsubs = qsubs.saturating_sub(1);
            }
        }
        self.accounts[acc.0 as usize].gateway.remove(&sub);
        self.leaf_interest(
            Origin::Gateway,
            Some(conn),
            acc,
            &sub.subject,
            sub.queue.as_ref(),
            -sub.members(),
            None,
        );
    }

    /// `A-` on an outbound link: no interest in the account (its queue
    /// interest, if any, stays).
    pub(crate) fn gateway_account_unsub(&mut self, conn: ConnId, account: &[u8]) {
        let Some(acc) = self.routed_account(account, self.gateways.now) else {
            return;
        };
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.gateway_mut()) else {
            return;
        };
        match link.accounts.get_mut(&acc) {
            Some(OutAccount::Interest {
                qsubs, no_interest, ..
            }) if *qsubs > 0 => no_interest.clear(),
            _ => {
                link.accounts.insert(acc, OutAccount::NoInterest);
            }
        }
    }

    /// `A+` on an outbound link: the account's entry goes (optimistic
    /// again), unless it holds queue interest.
    pub(crate) fn gateway_account_sub(&mut self, conn: ConnId, account: &[u8]) {
        let Some(acc) = self.routed_account(account, self.gateways.now) else {
            return;
        };
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.gateway_mut()) else {
            return;
        };
        if !matches!(link.accounts.get(&acc), Some(OutAccount::Interest { qsubs, .. }) if *qsubs > 0)
        {
            link.accounts.remove(&acc);
        }
    }

    /// `gateway_cmd` 2 or 3 on an outbound link: the peer switches an
    /// account to interest-only (2: from now on only its `RS+` count; 3:
    /// done).
    pub(crate) fn gateway_switch_command(
        &mut self,
        conn: ConnId,
        info: &GatewayInfo,
        now: Instant,
    ) {
        let account = info
            .gateway_cmd_payload
            .as_deref()
            .and_then(crate::auth::base64_decode)
            .filter(|a| !a.is_empty());
        let Some(account) = account else {
            let text = "Account absent from receive-all-subscriptions-start command";
            self.refuse(
                conn,
                text,
                crate::events::CloseReason::ProtocolViolation,
                now,
            );
            return;
        };
        let Some(acc) = self.routed_account(&account, self.gateways.now) else {
            return;
        };
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.gateway_mut()) else {
            return;
        };
        match link.accounts.get_mut(&acc) {
            Some(OutAccount::Interest {
                only, no_interest, ..
            }) => {
                *only = true;
                no_interest.clear();
            }
            _ => {
                link.accounts.insert(
                    acc,
                    OutAccount::Interest {
                        only: true,
                        no_interest: Default::default(),
                        qsubs: 0,
                    },
                );
            }
        }
    }

    /// Whether outbound link `conn` may be sent a message on `subject` in
    /// `account` for its plain interest, and the account's entry allows
    /// its queue interest to be looked at.
    pub(crate) fn gateway_plain_interest(
        &self,
        conn: ConnId,
        account: AccountId,
        subject: &[u8],
        plain_match: bool,
    ) -> bool {
        let Some(link) = self.conns.get(&conn).and_then(|c| c.gateway()) else {
            return false;
        };
        match link.accounts.get(&account) {
            None => !link.iom,
            Some(OutAccount::NoInterest) => false,
            Some(OutAccount::Interest {
                only, no_interest, ..
            }) => plain_match || (!*only && !link.iom && !no_interest.contains(subject)),
        }
    }
}

/// `RS+ <account> <subject>[ <queue> 1]` or `RS- <account> <subject>[
/// <queue>]`.
fn write_rs(
    out: &mut crate::outbound::Outbound,
    account: &str,
    subject: &[u8],
    queue: Option<&Bytes>,
    plus: bool,
) {
    out.push_interest(
        (b"RS+", b"RS-"),
        &[account.as_bytes()],
        subject,
        queue,
        u32::from(plus),
    );
}
