//! The system account's internal client: the subscriptions nats-server
//! makes in the system account at start (and the service imports every
//! other account gets), and the services that answer them.
//!
//! The subscriptions are ordinary entries of the accounts' subject
//! indexes, owned by the pseudo-connection [`SYSTEM_CONN`]: they count in
//! `/subsz`, their interest goes to routes, leafs and gateways like a
//! client's (those nats-server keeps local stay local), and they match
//! messages from any origin. A delivery to one of them is not written to
//! a socket: `deliver` hands it to [`Server::system_deliver`], which
//! queues it; the queue is drained when the message that made it has
//! gone everywhere (end of `forward_message`), so an answer never runs
//! inside another message's fan-out. Answers go out through the normal
//! routing from the system account, as the server's own publications.
//!
//! Files: `subs.rs` the list, `requests.rs` the request services,
//! `events.rs` connect/disconnect events, `statsz.rs` the statsz body and
//! its heartbeat, `claims.rs` the claims subjects (operator mode's).

mod claims;
mod events;
mod requests;
mod statsz;
mod subs;

use subs::Service;

use crate::account::AccountId;
use crate::engine::{Ingress, Msg, Server};
use crate::ids::ConnId;
use crate::rng::{Rng, Stream};
use crate::router::Origin;
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The connection the system subscriptions belong to and the server's
/// own publications come from. No [`crate::conn::Conn`] has it.
pub(crate) const SYSTEM_CONN: ConnId = ConnId(u64::MAX - 1);

/// Most deliveries drained after one message (answers that match system
/// subscriptions again are dropped past it: no loop).
const DRAIN_LIMIT: usize = 1024;

/// The internal client's state.
#[derive(Debug)]
pub(crate) struct System {
    /// The system account, when there is one.
    pub(crate) account: Option<AccountId>,
    /// The subscriptions, by sid (the index).
    subs: Vec<SysSub>,
    /// Deliveries waiting for the current message to finish.
    inbox: Vec<Delivery>,
    /// Draining now (answers queue and wait for the next round).
    draining: bool,
    /// The statsz heartbeat's current interval (statsz.rs).
    pub(crate) statsz_every: std::time::Duration,
    /// Event ids.
    rng: Rng,
    /// Clients whose `CONNECT` event went out (their `DISCONNECT` will).
    announced: BTreeSet<ConnId>,
}

impl System {
    /// The state before [`Server::init_system`], its ids drawn from `seed`.
    pub(crate) fn new(seed: &[u8; 32]) -> System {
        System {
            account: None,
            subs: Vec::new(),
            inbox: Vec::new(),
            draining: false,
            statsz_every: statsz::STATSZ_FIRST,
            rng: Rng::derive(seed, Stream::System),
            announced: BTreeSet::new(),
        }
    }
}

#[derive(Debug)]
struct SysSub {
    account: AccountId,
    service: Service,
}

/// One message for a system subscription.
#[derive(Debug)]
struct Delivery {
    service: Service,
    account: AccountId,
    publisher: ConnId,
    subject: Bytes,
    reply: Option<Bytes>,
    header_len: usize,
    message: Bytes,
}

impl Delivery {
    fn payload(&self) -> &[u8] {
        self.message
            .get(self.header_len.min(self.message.len())..)
            .unwrap_or_default()
    }
}

/// nats-server's `ServerInfo` in system messages (`"server":{...}`).
#[derive(Serialize)]
pub(crate) struct ServerFacts<'a> {
    name: &'a str,
    host: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    cluster: &'a str,
    ver: &'a str,
    feature_flags: std::collections::BTreeMap<&'static str, bool>,
    jetstream: bool,
    flags: u64,
    seq: u64,
    time: String,
}

impl Server {
    /// Makes the system subscriptions (at start, after the accounts).
    pub(crate) fn init_system(&mut self, now: Instant) {
        let sys = &self.options.system_account;
        let Some(account) = self
            .accounts
            .iter()
            .position(|a| !sys.is_empty() && &a.name == sys)
            .map(|i| AccountId(i as u32))
        else {
            return;
        };
        self.system.account = Some(account);
        let hash = subs::node_hash(&self.info.server_name);
        let id = self.info.server_id.clone();
        let pack_inbox = self.resolver_pack_inbox(&hash);
        for s in subs::system_subs(&id, &hash, pack_inbox.as_deref()) {
            self.system_subscribe(account, s);
        }
        for i in 0..self.accounts.len() {
            let other = AccountId(i as u32);
            if other != account {
                for s in subs::import_subs() {
                    self.system_subscribe(other, s);
                }
            }
        }
        self.start_statsz_timer(now);
        self.start_resolver_sync(now);
    }

    fn system_subscribe(&mut self, account: AccountId, spec: subs::Spec) {
        let sid = self.system.subs.len();
        let sub = Arc::new(Subscription {
            seq: self.next_sub_seq,
            conn: SYSTEM_CONN,
            sid: Bytes::from(sid.to_string()),
            subject: Bytes::from(spec.subject),
            queue: spec.queue.map(|q| Bytes::from_static(q.as_bytes())),
            delivered: Default::default(),
            max: Default::default(),
            weight: std::sync::atomic::AtomicU32::new(1),
        });
        self.next_sub_seq += 1;
        self.system.subs.push(SysSub {
            account,
            service: spec.service,
        });
        self.accounts[account.0 as usize]
            .sublist
            .insert(sub.clone());
        if spec.propagate {
            let queue = sub.queue.clone();
            self.local_interest(Origin::Client, account, &sub.subject, queue.as_ref(), true);
        }
    }

    /// A delivery to a subscription whose connection is not open: one of
    /// the system's is queued (true), anything else refused (false).
    #[cold]
    pub(crate) fn system_deliver(
        &mut self,
        publisher: ConnId,
        sub: &Subscription,
        msg: &Msg<'_>,
    ) -> bool {
        if sub.conn != SYSTEM_CONN || publisher == SYSTEM_CONN {
            return false;
        }
        let Some(s) = std::str::from_utf8(&sub.sid)
            .ok()
            .and_then(|sid| sid.parse::<usize>().ok())
            .and_then(|i| self.system.subs.get(i))
        else {
            return false;
        };
        if self.system.inbox.len() >= DRAIN_LIMIT {
            return false;
        }
        sub.delivered
            .store(sub.delivered.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.system.inbox.push(Delivery {
            service: s.service,
            account: s.account,
            publisher,
            subject: Bytes::copy_from_slice(msg.subject),
            reply: msg.reply.filter(|r| !r.is_empty()).cloned(),
            header_len: msg.header_len,
            message: msg.message.clone(),
        });
        true
    }

    /// Whether deliveries wait to be answered (checked once per message).
    #[inline]
    pub(crate) fn system_pending(&self) -> bool {
        !self.system.inbox.is_empty()
    }

    /// Answers the queued deliveries, and those their answers make, up
    /// to [`DRAIN_LIMIT`] in all.
    #[cold]
    pub(crate) fn system_drain(&mut self, now: Instant) {
        if self.system.draining {
            return;
        }
        self.system.draining = true;
        let trace = self.msg_trace.take();
        let mut budget = DRAIN_LIMIT;
        while !self.system.inbox.is_empty() && budget > 0 {
            let batch = std::mem::take(&mut self.system.inbox);
            for d in batch {
                if budget == 0 {
                    break;
                }
                budget -= 1;
                self.system_answer(&d, now);
            }
        }
        self.system.inbox.clear();
        self.msg_trace = trace;
        self.system.draining = false;
    }

    fn system_answer(&mut self, d: &Delivery, now: Instant) {
        match d.service {
            Service::Claims(which) => {
                let reply = d.reply.clone();
                self.claims_request(which, &d.subject, reply.as_deref(), d.payload(), now);
            }
            Service::Quiet => {}
            Service::Ping
            | Service::Server(_)
            | Service::Account(_)
            | Service::AccountPingStatz
            | Service::UserInfo
            | Service::Imported(_)
            | Service::ImportedUserInfo => self.system_request(d, now),
        }
    }

    /// `"server":{...}` of a system message, counting it.
    pub(crate) fn server_facts(&mut self, now: Instant) -> ServerFacts<'_> {
        self.system_seq += 1;
        let name = if self.info.server_name.is_empty() {
            &self.info.server_id
        } else {
            &self.info.server_name
        };
        ServerFacts {
            name,
            host: &self.info.host,
            id: &self.info.server_id,
            cluster: self.cluster_name().unwrap_or_default(),
            ver: &self.info.version,
            feature_flags: self.options.feature_flags_shown().into_iter().collect(),
            jetstream: false,
            flags: 0,
            seq: self.system_seq,
            time: crate::monitor::timefmt::rfc3339_nano(self.monitor.wall(now)),
        }
    }

    /// Publishes `body` on `subject` in `account` as the server's own
    /// message, through the normal routing.
    pub(crate) fn system_publish(
        &mut self,
        account: AccountId,
        subject: &[u8],
        body: Vec<u8>,
        now: Instant,
    ) {
        self.system_publish_with_reply(account, subject, None, body, now);
    }

    /// [`Server::system_publish`] with a reply subject (the server's own
    /// requests, such as a full resolver's pack request).
    pub(crate) fn system_publish_with_reply(
        &mut self,
        account: AccountId,
        subject: &[u8],
        reply: Option<&Bytes>,
        body: Vec<u8>,
        now: Instant,
    ) {
        if !crate::subject::is_valid_literal_subject(subject) {
            return;
        }
        let message = Bytes::from(body);
        let msg = Msg {
            subject,
            reply,
            header_len: 0,
            message: &message,
        };
        let ingress = Ingress {
            origin: Origin::Client,
            conn: SYSTEM_CONN,
            named: b"",
            echo: false,
            origin_cluster: None,
            gateway_reply: false,
        };
        self.forward_message(&ingress, account, &msg, now);
    }
}
