//! Gateway links: this cluster as one gateway of a super-cluster.
//!
//! Each server keeps one outbound link per remote cluster (dialed through
//! the solicitor: configured gateways a second after start, learned ones
//! when gossip or an inbound link names them) and accepts any number of
//! inbound ones. Messages go out on outbound links only; interest comes
//! back on them from the peer's inbound side (`RS+`/`RS-`, `A+`/`A-` and
//! the interest-only switch). This file owns the handshake, registration,
//! gossip and closing; `interest.rs` the interest both ways, `forward.rs`
//! the messages and the `_GR_.` reply routing, `info.rs` the wire JSON.
//!
//! Canopy always runs every account in interest-only mode toward its
//! peers (nats-server has done so since 2.9), and follows a peer's
//! optimistic mode when the peer starts in it.

mod forward;
pub(crate) mod info;
pub(crate) mod inspect;
mod interest;

use crate::account::AccountId;
use crate::conn::{Conn, ConnKind};
use crate::engine::Server;
use crate::events::{CloseReason, LinkKind, TimerKey};
use crate::ids::ConnId;
use crate::proto::{ClientOp, ProtocolError};
use crate::route::{join_host_port, RouteAddr};
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use core::net::SocketAddr;
use info::{GatewayConnect, GatewayInfo, OwnGatewayInfo};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use forward::{is_gateway_reply, GR_PREFIX, GR_SUBJECT_OFFSET};

/// Explicit gateways are first dialed this long after start (nats-server's
/// gateway solicit delay).
const SOLICIT_DELAY: Duration = Duration::from_secs(1);

/// How long a new subscription counts as "recent" (a reply to it is
/// prefixed with `_GR_.` on its way out), and how long a `_GR_.` reply
/// handed to a client stays mapped (nats-server's `recSubExp`).
pub(crate) const RECENT: Duration = Duration::from_secs(2);

/// The longest pause between failed dials with `connect_backoff`.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Length of the cluster and server hashes in `_GR_.` subjects.
pub(crate) const HASH_LEN: usize = 6;

/// The engine's gateway state.
#[derive(Debug, Default)]
pub(crate) struct Gateways {
    /// This cluster's gateway name; empty when gateways are off.
    pub(crate) name: String,
    /// `_GR_.<hash(name)>.<hash(server id)>.`: the prefix of replies
    /// that must come back to this server.
    pub(crate) reply_prefix: Bytes,
    /// `$GR.<4 hex of sha256(name)>.`: the same for old peers.
    pub(crate) old_reply_prefix: Bytes,
    /// Every gateway this server knows, configured or learned, by name.
    pub(crate) remotes: BTreeMap<String, Remote>,
    /// The registered outbound link to each remote cluster.
    pub(crate) outbound: BTreeMap<String, ConnId>,
    /// Registered inbound links.
    pub(crate) inbound: BTreeSet<ConnId>,
    /// Interest of the whole cluster told on inbound links:
    /// (account, subject, queue) -> members.
    pub(crate) told: BTreeMap<(AccountId, Bytes, Option<Bytes>), u32>,
    /// Subscriptions made in the last [`RECENT`], indexed per account: a
    /// reply subject matching one gets the `_GR_.` prefix.
    pub(crate) recent: BTreeMap<AccountId, crate::sublist::Sublist>,
    /// When each entry of `recent` leaves it, oldest first.
    pub(crate) recent_expiry: VecDeque<(Instant, AccountId, Arc<Subscription>)>,
    /// `_GR_.` replies handed to clients stripped: client -> stripped ->
    /// (full reply, expiry). A publish on the stripped subject goes back
    /// on the full one.
    pub(crate) replies: BTreeMap<ConnId, BTreeMap<Bytes, (Bytes, Instant)>>,
    /// When each entry of `replies` may go, oldest first.
    pub(crate) reply_expiry: VecDeque<(Instant, ConnId, Bytes)>,
    /// The hash of each route peer's server id, for `_GR_.` replies that
    /// belong to a cluster peer.
    pub(crate) route_hashes: BTreeMap<String, [u8; HASH_LEN]>,
    /// The engine's latest time, for the recent-subscription window.
    pub(crate) now: Instant,
    /// Reused by forwarding: the outbound links of one message, with
    /// their round trips.
    pub(crate) order: Vec<(Duration, ConnId)>,
    /// The gateway URLs of our cluster peers (from their route INFO), told
    /// to gateways with ours.
    pub(crate) cluster_urls: Vec<String>,
}

/// A gateway this server knows.
#[derive(Clone, Debug)]
pub(crate) struct Remote {
    /// Configured (dialed forever) rather than learned.
    pub(crate) explicit: bool,
    /// Its solicitor target.
    pub(crate) target: Option<usize>,
    /// Its URLs as last learned (`host:port`).
    pub(crate) urls: Vec<String>,
}

/// What an outbound link knows of one account's interest at the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OutAccount {
    /// `A-`: no interest in the account at all.
    NoInterest,
    /// The peer's interest in it.
    Interest {
        /// Interest-only (after `gateway_cmd` 3) or on the way there
        /// (after 2): only subjects it announced get messages.
        only: bool,
        /// Optimistic mode: subjects the peer said it has no interest in.
        no_interest: BTreeSet<Bytes>,
        /// Queue subscriptions it announced.
        qsubs: u32,
    },
}

/// What only a gateway link has.
#[derive(Debug, Default)]
pub(crate) struct GatewayLink {
    /// This server dialed it: messages go out on it, interest comes in.
    pub(crate) outbound: bool,
    /// The remote cluster's gateway name (outbound: the one dialed;
    /// inbound: from CONNECT).
    pub(crate) name: String,
    /// The solicitor target it was dialed for (outbound).
    pub(crate) solicit: Option<usize>,
    /// The URL it was dialed at (outbound), for its credentials.
    pub(crate) url: Option<RouteAddr>,
    /// `hash(name)`, the cluster part of `_GR_.` replies for the peer
    /// (outbound).
    pub(crate) hash: [u8; HASH_LEN],
    /// The same for old `$GR.` replies.
    pub(crate) old_hash: [u8; 4],
    pub(crate) server_id: String,
    pub(crate) server_name: String,
    /// The peer's first INFO came.
    pub(crate) info_received: bool,
    /// Registered: interest and messages flow.
    pub(crate) registered: bool,
    /// The peer runs every account interest-only from the start.
    pub(crate) iom: bool,
    /// The peer routes `_GR_.` replies (else `$GR.`).
    pub(crate) nrp: bool,
    /// The peer's interest per account (outbound).
    pub(crate) accounts: BTreeMap<AccountId, OutAccount>,
    /// The peer's subscriptions (`RS+`), by `account subject[ queue]`
    /// (outbound).
    pub(crate) subs: BTreeMap<Bytes, (AccountId, Arc<Subscription>)>,
    /// Accounts we told the peer we have no interest in (`A-`, inbound).
    pub(crate) no_interest: BTreeSet<Bytes>,
}

/// `hash(name)` of `_GR_.` subjects: SHA-256, then each of the first six
/// bytes as one of 62 digits (nats-server's `getGWHash`).
pub(crate) fn gateway_hash(name: &[u8]) -> [u8; HASH_LEN] {
    use sha2::Digest;
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let sum = sha2::Sha256::digest(name);
    let mut out = [0u8; HASH_LEN];
    for (o, b) in out.iter_mut().zip(sum.iter()) {
        *o = DIGITS[(*b % 62) as usize];
    }
    out
}

/// The 4 hex digits of old `$GR.` subjects: the first two bytes of the
/// name's SHA-256 (nats-server's `getOldHash`).
pub(crate) fn old_gateway_hash(name: &[u8]) -> [u8; 4] {
    use sha2::Digest;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let sum = sha2::Sha256::digest(name);
    [
        HEX[(sum[0] >> 4) as usize],
        HEX[(sum[0] & 15) as usize],
        HEX[(sum[1] >> 4) as usize],
        HEX[(sum[1] & 15) as usize],
    ]
}

/// This server's gateway URL (`host:port`): the advertised address, or
/// the listener's (a wildcard host as 127.0.0.1... only if nothing better
/// is known, as nats-server resolves it).
pub fn gateway_url(g: &crate::GatewayOptions) -> String {
    if !g.advertise.is_empty() {
        return g.advertise.clone();
    }
    let host = if g.host == "0.0.0.0" || g.host == "::" || g.host.is_empty() {
        "127.0.0.1"
    } else {
        g.host.as_str()
    };
    join_host_port(host, g.port)
}

impl Server {
    /// Sets up gateways at start: this cluster's reply prefixes, and a
    /// solicitor target for every configured gateway, first dialed a
    /// second from now.
    pub(crate) fn init_gateways(&mut self, now: Instant) {
        let Some(g) = self.options.gateway.clone() else {
            return;
        };
        let gw = &mut self.gateways;
        gw.name = g.name.clone();
        gw.now = now;
        let mut prefix = b"_GR_.".to_vec();
        prefix.extend_from_slice(&gateway_hash(g.name.as_bytes()));
        prefix.push(b'.');
        prefix.extend_from_slice(&gateway_hash(self.info.server_id.as_bytes()));
        prefix.push(b'.');
        gw.reply_prefix = Bytes::from(prefix);
        let mut old = b"$GR.".to_vec();
        old.extend_from_slice(&old_gateway_hash(g.name.as_bytes()));
        old.push(b'.');
        gw.old_reply_prefix = Bytes::from(old);
        if self.options.cluster.is_none() {
            // A gateway is a cluster of one: its name is the cluster's.
            self.info.cluster = g.name.clone();
        }
        for r in &g.gateways {
            let shuffle = Some(&mut self.dials_rng);
            let target = self.solicitor.add(
                LinkKind::Gateway,
                r.urls.clone(),
                true,
                String::new(),
                shuffle,
            );
            if let Some(i) = target {
                self.timers
                    .set(TimerKey::Dial(i as u32), now + SOLICIT_DELAY);
            }
            self.gateways.remotes.insert(
                r.name.clone(),
                Remote {
                    explicit: true,
                    target,
                    urls: r.urls.iter().map(RouteAddr::host_port).collect(),
                },
            );
        }
    }

    /// Whether this server is a gateway of a super-cluster.
    pub(crate) fn gateways_on(&self) -> bool {
        !self.gateways.name.is_empty()
    }

    /// This server's gateway URL for its route INFO (empty without
    /// gateways).
    pub(crate) fn own_gateway_url(&self) -> String {
        self.options
            .gateway
            .as_ref()
            .map(gateway_url)
            .unwrap_or_default()
    }

    /// A cluster peer's gateway URL joined ours: every inbound link hears
    /// the new list (nats-server's async gateway INFO).
    pub(crate) fn add_cluster_gateway_url(&mut self, url: String) {
        if !self.gateways_on() || url.is_empty() || self.gateways.cluster_urls.contains(&url) {
            return;
        }
        self.gateways.cluster_urls.push(url);
        self.gateway_info_to_inbound();
    }

    /// A cluster peer with a gateway URL left.
    pub(crate) fn remove_cluster_gateway_url(&mut self, url: &str) {
        let before = self.gateways.cluster_urls.len();
        self.gateways.cluster_urls.retain(|u| u != url);
        if self.gateways.cluster_urls.len() != before {
            self.gateway_info_to_inbound();
        }
    }

    /// Our gateway INFO again on every inbound link.
    fn gateway_info_to_inbound(&mut self) {
        if self.gateways.inbound.is_empty() {
            return;
        }
        self.scratch.clear();
        self.write_gateway_info();
        let links: Vec<ConnId> = self.gateways.inbound.iter().copied().collect();
        for id in links {
            if let Some(c) = self.conns.get_mut(&id) {
                c.out.push_slice(self.scratch.as_bytes());
                c.schedule_flush(&mut self.dirty);
            }
        }
    }

    /// Writes this server's gateway INFO into `scratch`.
    fn write_gateway_info(&mut self) {
        let Some(g) = self.options.gateway.as_ref() else {
            return;
        };
        let url = gateway_url(g);
        let mut urls = vec![url.clone()];
        urls.extend(self.gateways.cluster_urls.iter().cloned());
        let mut out = std::mem::take(&mut self.scratch);
        OwnGatewayInfo {
            server_id: &self.info.server_id,
            server_name: &self.info.server_name,
            version: &self.info.version,
            host: &g.host,
            port: g.port,
            auth_required: g.credentials.is_some(),
            tls: self.tls.gateway.asked(),
            max_payload: self.options.max_payload,
            gateway: &g.name,
            gateway_urls: &urls,
            gateway_url: &url,
        }
        .write(&mut out);
        self.scratch = out;
    }

    /// A connection accepted on the gateway port: INFO first, then its
    /// CONNECT is awaited.
    pub(crate) fn accept_gateway(&mut self, peer: SocketAddr, now: Instant) -> ConnId {
        let mut c = self.new_conn(peer, ConnKind::Gateway(Box::default()), now);
        let (id, gid) = (c.id, c.cid);
        c.headers = true;
        // nats-server's gateways start TLS at once on both sides.
        let tls_timer = self.gateway_tls(&mut c, None, now);
        self.scratch.clear();
        self.write_gateway_info();
        c.out.push_slice(self.scratch.as_bytes());
        self.conns.insert(id, c);
        self.set_tls_timer(tls_timer);
        tracing::info!("{peer} - gid:{gid} - Processing inbound gateway connection");
        let timeout = self
            .options
            .gateway
            .as_ref()
            .map_or(crate::options::DEFAULT_AUTH_TIMEOUT, |g| g.auth_timeout);
        self.timers.set(TimerKey::AuthTimeout(id), now + timeout);
        self.mark_dirty(id);
        self.schedule_flushes();
        id
    }

    /// A gateway dial connected: the link waits for the peer's INFO.
    pub(crate) fn gateway_dialed(
        &mut self,
        conn: ConnId,
        target: usize,
        gid: u64,
        peer: SocketAddr,
        now: Instant,
    ) -> bool {
        let Some(name) = self.remote_of_target(target) else {
            return false;
        };
        let url = self.solicitor.get(target).map(|t| t.addr().clone());
        let host = url.as_ref().map(|u| u.host.clone()).unwrap_or_default();
        let link = GatewayLink {
            outbound: true,
            hash: gateway_hash(name.as_bytes()),
            old_hash: old_gateway_hash(name.as_bytes()),
            name: name.clone(),
            solicit: Some(target),
            url,
            ..GatewayLink::default()
        };
        let mut c = Conn::new(conn, gid, peer, ConnKind::Gateway(Box::new(link)), now);
        c.headers = true;
        // The peer speaks first; no CONNECT is expected from it.
        c.connect_received = true;
        let tls_timer = self.gateway_tls(&mut c, Some((&name, &host)), now);
        self.conns.insert(conn, c);
        if tls_timer.is_some() {
            // The ClientHello goes out at once.
            self.mark_dirty(conn);
        }
        self.set_tls_timer(tls_timer);
        tracing::info!("{peer} - gid:{gid} - Creating outbound gateway connection to {name:?}");
        true
    }

    /// Starts TLS on a gateway link as nats-server does, at once on both
    /// sides: dialing gateway `name` at `host` with that entry's own block
    /// (else the gateway block's), or accepting with the gateway block's.
    /// Returns the handshake timer to set; a block that could not be built
    /// fails the link closed.
    fn gateway_tls(
        &mut self,
        c: &mut Conn,
        dial: Option<(&str, &str)>,
        now: Instant,
    ) -> Option<(TimerKey, Instant)> {
        let own = dial.and_then(|(name, _)| {
            self.tls
                .gateway_remotes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, b)| b)
        });
        let built = own.unwrap_or(&self.tls.gateway);
        if !built.asked() {
            return None;
        }
        let Some(config) = built.config() else {
            return crate::engine::tls::fail_closed(c, now);
        };
        match dial {
            Some((_, host)) => crate::engine::tls::dial(c, config, host, now),
            None => crate::engine::tls::accept_first(c, config, now),
        }
    }

    /// The name of the gateway whose solicitor target is `target`.
    fn remote_of_target(&self, target: usize) -> Option<String> {
        self.gateways
            .remotes
            .iter()
            .find(|(_, r)| r.target == Some(target))
            .map(|(n, _)| n.clone())
    }

    /// A gateway dial failed: logged, and retried as the solicitor says (a
    /// configured gateway forever, a learned one `connect_retries` times).
    pub(crate) fn gateway_dial_failed(&mut self, target: usize, attempt: u32, now: Instant) {
        let Some(name) = self.remote_of_target(target) else {
            return;
        };
        let explicit = self.gateways.remotes.get(&name).is_some_and(|r| r.explicit);
        let addr = self
            .solicitor
            .get(target)
            .map(|t| t.addr().host_port())
            .unwrap_or_default();
        let kind = if explicit { "explicit" } else { "implicit" };
        let text = format!(
            "Error connecting to {kind} gateway {name:?} ({addr}) at {addr} (attempt {attempt}): \
             connection refused"
        );
        if attempt % 3600 == 1 {
            tracing::error!("{text}");
        } else {
            tracing::debug!("{text}");
        }
        self.redial_gateway(target, false, now);
    }

    /// Schedules the next dial of a gateway target, or forgets a learned
    /// gateway out of retries.
    fn redial_gateway(&mut self, target: usize, disconnected: bool, now: Instant) {
        let retries = self
            .options
            .gateway
            .as_ref()
            .map_or(0, |g| g.connect_retries);
        match self
            .solicitor
            .retry_delay(target, disconnected, retries, &mut self.jitter_rng)
        {
            Some(delay) => {
                let delay = match self.solicitor.get(target) {
                    Some(t) if !disconnected && self.gateway_backoff() => {
                        // 1 s, 2 s, 4 s ... up to 30 s (nats-server's
                        // connect_backoff).
                        let exp = t.attempts.saturating_sub(1).min(5);
                        (delay * (1u32 << exp)).min(BACKOFF_MAX)
                    }
                    _ => delay,
                };
                self.timers.set(TimerKey::Dial(target as u32), now + delay);
            }
            None => {
                if let Some(name) = self.remote_of_target(target) {
                    let inbound = self.has_inbound_from(&name);
                    let explicit = self.gateways.remotes.get(&name).is_some_and(|r| r.explicit);
                    if !explicit && !inbound {
                        tracing::debug!("Giving up on implicit gateway {name:?}");
                        self.gateways.remotes.remove(&name);
                    }
                }
            }
        }
    }

    /// Whether `connect_backoff` is on.
    fn gateway_backoff(&self) -> bool {
        self.options
            .gateway
            .as_ref()
            .is_some_and(|g| g.connect_backoff)
    }

    /// Whether a registered inbound link comes from gateway `name`.
    fn has_inbound_from(&self, name: &str) -> bool {
        self.gateways.inbound.iter().any(|id| {
            self.conns
                .get(id)
                .and_then(|c| c.gateway())
                .is_some_and(|l| l.name == name)
        })
    }

    // ---- ops on a gateway connection -------------------------------------

    /// Handles one op read from a gateway connection.
    pub(crate) fn process_gateway_op(&mut self, conn: ConnId, op: ClientOp, now: Instant) {
        let Some(link) = self.conns.get(&conn).and_then(|c| c.gateway()) else {
            return;
        };
        let (outbound, registered) = (link.outbound, link.registered);
        if tracing::enabled!(tracing::Level::TRACE) {
            if let Some(c) = self.conns.get(&conn) {
                trace_gateway_op(c, &op);
            }
        }
        match op {
            ClientOp::Connect(json) => {
                if !outbound {
                    self.gateway_connect(conn, &json, now);
                }
            }
            ClientOp::Info(json) => self.gateway_info(conn, &json, now),
            ClientOp::Ping => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.out.push_slice(b"PONG\r\n");
                    self.mark_dirty(conn);
                }
            }
            ClientOp::Pong => self.process_pong(conn, now),
            ClientOp::Ok => {}
            ClientOp::Err(text) => {
                let text = String::from_utf8_lossy(&text);
                let text = text.trim_start_matches('\'').trim_end_matches('\'');
                tracing::error!("{} - Gateway Error '{text}'", self.conn_label(conn));
                self.close(conn, CloseReason::ParseError, true, true, now);
            }
            ClientOp::RouteSub {
                account,
                subject,
                queue,
                weight,
                ..
            } => {
                if !outbound {
                    self.interest_on_inbound(conn, "RS+", now);
                } else if registered {
                    self.gateway_sub(conn, &account, subject, queue, weight);
                }
            }
            ClientOp::RouteUnsub {
                account,
                subject,
                queue,
                ..
            } => {
                if !outbound {
                    self.interest_on_inbound(conn, "RS-", now);
                } else if registered {
                    self.gateway_unsub(conn, &account, &subject, queue.as_deref());
                }
            }
            ClientOp::AccountSub(account) => {
                if outbound && registered {
                    self.gateway_account_sub(conn, &account);
                }
            }
            ClientOp::AccountUnsub(account) => {
                if outbound && registered {
                    self.gateway_account_unsub(conn, &account);
                }
            }
            ClientOp::RouteMsg {
                account,
                subject,
                reply,
                queues,
                header_len,
                message,
                ..
            } => {
                if !self.conns.get(&conn).is_some_and(|c| c.connect_received) {
                    return;
                }
                let msg = crate::engine::Msg {
                    subject: &subject,
                    reply: reply.as_ref(),
                    header_len,
                    message: &message,
                };
                self.gateway_msg(conn, &account, &queues, &msg, now);
            }
            ClientOp::Pub { .. }
            | ClientOp::HPub { .. }
            | ClientOp::Sub { .. }
            | ClientOp::Unsub { .. }
            | ClientOp::LeafSub { .. }
            | ClientOp::LeafUnsub { .. }
            | ClientOp::LeafMsg { .. } => {
                self.fail(conn, ProtocolError::UnknownOperation, now);
            }
        }
    }

    /// Interest on an inbound link, where only messages may come: a
    /// protocol violation.
    fn interest_on_inbound(&mut self, conn: ConnId, op: &str, now: Instant) {
        tracing::error!(
            "{} - Received {op} from gateway on inbound connection",
            self.conn_label(conn)
        );
        self.close(conn, CloseReason::ProtocolViolation, true, true, now);
    }

    /// CONNECT on an inbound link: who dials us, and whether we take it.
    fn gateway_connect(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        self.timers.cancel(TimerKey::AuthTimeout(conn));
        let Ok(connect) = serde_json::from_slice::<GatewayConnect>(json) else {
            self.close(conn, CloseReason::ProtocolViolation, true, true, now);
            return;
        };
        let Some(g) = self.options.gateway.as_ref() else {
            return;
        };
        if let Some((user, pass)) = &g.credentials {
            let ok = connect.user.as_deref() == Some(user.as_str())
                && connect
                    .pass
                    .as_deref()
                    .is_some_and(|p| crate::auth::password_matches(pass, p));
            if !ok {
                tracing::error!("{} - authentication error", self.conn_label(conn));
                self.fail_with(
                    conn,
                    ProtocolError::AuthorizationViolation,
                    CloseReason::AuthenticationViolation,
                    now,
                );
                return;
            }
        }
        if connect.gateway.is_empty() {
            self.refuse(
                conn,
                "attempted to connect to gateway port",
                CloseReason::WrongPort,
                now,
            );
            return;
        }
        if g.reject_unknown && !self.gateways.remotes.contains_key(&connect.gateway) {
            tracing::error!(
                "{} - Rejecting connection from gateway {:?}",
                self.conn_label(conn),
                connect.gateway
            );
            let text = format!("Connection to gateway {:?} rejected", g.name);
            self.refuse(conn, &text, CloseReason::WrongGateway, now);
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.connect_received = true;
            if let Some(l) = c.gateway_mut() {
                l.name = connect.gateway;
                l.server_id = connect.name;
            }
        }
        self.set_first_ping_timer(conn, now);
    }

    /// An INFO on a gateway link.
    fn gateway_info(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        let Ok(info) = serde_json::from_slice::<GatewayInfo>(json) else {
            tracing::debug!("{} - bad gateway INFO", self.conn_label(conn));
            return;
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let connected = c.connect_received;
        let Some(link) = c.gateway_mut() else {
            return;
        };
        let first = !link.info_received;
        link.info_received = true;
        if first {
            link.server_id.clone_from(&info.server_id);
            link.server_name.clone_from(&info.server_name);
        }
        if link.outbound {
            self.outbound_info(conn, first, info, now);
        } else if first && connected {
            self.register_inbound(conn, &info, now);
        }
    }

    /// An INFO on one of our outbound links: the peer's handshake INFO
    /// (answered with CONNECT and our INFO, then registration), gossip
    /// of another gateway, or an interest-only switch command.
    fn outbound_info(&mut self, conn: ConnId, first: bool, info: GatewayInfo, now: Instant) {
        let Some(link) = self.conns.get(&conn).and_then(|c| c.gateway()) else {
            return;
        };
        let name = link.name.clone();
        if info.gateway.is_empty() {
            let text = format!("Attempt to connect to gateway {name:?} using wrong port");
            tracing::error!("{} - {text}", self.conn_label(conn));
            self.refuse(conn, &text, CloseReason::WrongPort, now);
            return;
        }
        if info.gateway != name {
            if !first && info.gateway_cmd == info::CMD_GOSSIP {
                let reject = self
                    .options
                    .gateway
                    .as_ref()
                    .is_some_and(|g| g.reject_unknown);
                if !reject || self.gateways.remotes.contains_key(&info.gateway) {
                    self.implicit_gateway(&info.gateway, &info.gateway_urls, now);
                }
                return;
            }
            tracing::error!(
                "{} - Failing connection to gateway {name:?}, remote gateway name is {:?}",
                self.conn_label(conn),
                info.gateway
            );
            let text = format!(
                "Connection from {:?} rejected, wanted to connect to {name:?}, this is {:?}",
                self.gateways.name, info.gateway
            );
            self.refuse(conn, &text, CloseReason::WrongGateway, now);
            return;
        }
        self.merge_gateway_urls(&name, &info.gateway_urls);
        if first {
            self.register_outbound(conn, &name, &info, now);
        } else if info.gateway_cmd > 0 {
            match info.gateway_cmd {
                info::CMD_ALL_SUBS_START | info::CMD_ALL_SUBS_COMPLETE => {
                    self.gateway_switch_command(conn, &info, now);
                }
                cmd => tracing::warn!("Received unknown command {cmd} from gateway {name:?}"),
            }
            return;
        }
        self.forward_gateway_to_routes(&info);
    }

    /// The peer's handshake INFO on an outbound link: CONNECT and our INFO
    /// go out, and the link is registered, unless one to that gateway
    /// already is.
    fn register_outbound(&mut self, conn: ConnId, name: &str, info: &GatewayInfo, now: Instant) {
        if self.gateways.outbound.contains_key(name) {
            self.close(conn, CloseReason::WrongGateway, true, true, now);
            return;
        }
        let Some(g) = self.options.gateway.as_ref() else {
            return;
        };
        let own_creds = g.credentials.clone();
        let Some(link) = self.conns.get(&conn).and_then(|c| c.gateway()) else {
            return;
        };
        let url_creds = link.url.as_ref().and_then(|u| {
            u.user
                .clone()
                .map(|user| (user, u.password.clone().unwrap_or_default()))
        });
        let creds = url_creds.or(own_creds);
        let c_tls = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.transport.tls().is_some());
        self.scratch.clear();
        info::write_connect(
            &mut self.scratch,
            creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
            &self.info.server_id,
            &self.gateways.name,
            c_tls,
        );
        let mut out = std::mem::take(&mut self.scratch);
        self.scratch.clear();
        self.write_gateway_info();
        out.push_str(&self.scratch);
        self.scratch = out;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.out.push_slice(self.scratch.as_bytes());
        c.headers = info.headers;
        let Some(link) = c.gateway_mut() else {
            return;
        };
        link.iom = info.gateway_iom;
        link.nrp = info.gateway_nrp;
        link.registered = true;
        let target = link.solicit;
        self.gateways.outbound.insert(name.to_string(), conn);
        if let Some(t) = target.and_then(|t| self.solicitor.get_mut(t)) {
            t.attempts = 0;
            t.was_registered = true;
            t.server_id.clone_from(&info.server_id);
        }
        tracing::info!(
            "{} - Outbound gateway connection to {name:?} ({}) registered",
            self.conn_label(conn),
            info.server_id
        );
        self.set_first_ping_timer(conn, now);
        self.mark_dirty(conn);
    }

    /// The peer's first INFO on an inbound link: registration. The peer
    /// is told our queue interest, the gateways we know (so that it meshes
    /// with them), and every account's interest with the interest-only
    /// switch; we dial it back if we have no outbound link to it yet.
    fn register_inbound(&mut self, conn: ConnId, info: &GatewayInfo, now: Instant) {
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.gateway_mut()) else {
            return;
        };
        link.registered = true;
        let name = link.name.clone();
        self.gateways.inbound.insert(conn);
        tracing::info!(
            "{} - Inbound gateway connection from {name:?} ({}) registered",
            self.conn_label(conn),
            info.server_id
        );
        self.send_queue_interest(conn);
        self.implicit_gateway(&name, &info.gateway_urls, now);
        self.gossip_gateways(conn, &name);
        let accounts: Vec<AccountId> = (0..self.accounts.len())
            .map(|i| AccountId(i as u32))
            .collect();
        for account in accounts {
            self.switch_to_interest_only(conn, account);
        }
        self.mark_dirty(conn);
    }

    /// A gateway named by gossip or by an inbound link: dialed if new
    /// (an implicit gateway), otherwise its URLs are merged.
    pub(crate) fn implicit_gateway(&mut self, name: &str, urls: &[String], now: Instant) {
        if name == self.gateways.name || name.is_empty() {
            return;
        }
        if self.gateways.remotes.contains_key(name) {
            self.merge_gateway_urls(name, urls);
            return;
        }
        let addrs: Vec<RouteAddr> = urls.iter().filter_map(|u| RouteAddr::parse(u)).collect();
        if addrs.is_empty() {
            return;
        }
        let shuffle = Some(&mut self.dials_rng);
        let target = self.solicitor.add(
            LinkKind::Gateway,
            addrs.clone(),
            false,
            String::new(),
            shuffle,
        );
        if let Some(i) = target {
            tracing::info!(
                "Connecting to implicit gateway {name:?} ({}) at {} (attempt 1)",
                urls.join(","),
                addrs[0].host_port()
            );
            self.timers.set(TimerKey::Dial(i as u32), now);
        }
        self.gateways.remotes.insert(
            name.to_string(),
            Remote {
                explicit: false,
                target,
                urls: urls.to_vec(),
            },
        );
    }

    /// Adds URLs learned for gateway `name` to its dial list.
    fn merge_gateway_urls(&mut self, name: &str, urls: &[String]) {
        let Some(remote) = self.gateways.remotes.get_mut(name) else {
            return;
        };
        let mut changed = false;
        for u in urls {
            if !remote.urls.contains(u) && RouteAddr::parse(u).is_some() {
                remote.urls.push(u.clone());
                changed = true;
            }
        }
        if !changed {
            return;
        }
        if let Some(t) = remote.target {
            let all: Vec<RouteAddr> = remote
                .urls
                .iter()
                .filter_map(|u| RouteAddr::parse(u))
                .collect();
            self.solicitor.set_urls(t, all);
        }
    }

    /// Tells a new inbound link about every other gateway we know, so that
    /// its server meshes with them (`gateway_cmd` 1).
    fn gossip_gateways(&mut self, conn: ConnId, except: &str) {
        let mut out = String::new();
        for (name, r) in &self.gateways.remotes {
            if name == except || r.urls.is_empty() {
                continue;
            }
            info::write_gossip(&mut out, &self.info.server_id, name, &r.urls);
        }
        if out.is_empty() {
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.out.push_slice(out.as_bytes());
        }
    }

    /// Tells every route about a gateway an outbound link reached, so that
    /// each cluster member has its own outbound link to it.
    fn forward_gateway_to_routes(&mut self, info: &GatewayInfo) {
        if self.routes.by_id.is_empty() {
            return;
        }
        let mut out = String::new();
        info::write_gossip(
            &mut out,
            &format!("GW{}", self.info.server_id),
            &info.gateway,
            &info.gateway_urls,
        );
        let routes: Vec<ConnId> = self.routes.by_id.values().copied().collect();
        for r in routes {
            if let Some(c) = self.conns.get_mut(&r) {
                c.out.push_slice(out.as_bytes());
                self.mark_dirty(r);
            }
        }
    }

    /// A route's INFO with a `gateway_cmd`: gossip of a gateway a cluster
    /// peer reached. Returns whether it was one.
    pub(crate) fn gateway_info_from_route(&mut self, json: &[u8], now: Instant) -> bool {
        let Ok(info) = serde_json::from_slice::<GatewayInfo>(json) else {
            return false;
        };
        if info.gateway_cmd == 0 {
            return false;
        }
        if info.gateway_cmd == info::CMD_GOSSIP && self.gateways_on() {
            self.implicit_gateway(&info.gateway, &info.gateway_urls, now);
        }
        true
    }

    /// A new route: told about every gateway we have an outbound link
    /// to.
    pub(crate) fn gateways_to_route(&mut self, route: ConnId) {
        if self.gateways.outbound.is_empty() {
            return;
        }
        let mut out = String::new();
        let id = format!("GW{}", self.info.server_id);
        for name in self.gateways.outbound.keys() {
            if let Some(r) = self.gateways.remotes.get(name) {
                if !r.urls.is_empty() {
                    info::write_gossip(&mut out, &id, name, &r.urls);
                }
            }
        }
        if let Some(c) = self.conns.get_mut(&route) {
            c.out.push_slice(out.as_bytes());
        }
    }

    /// A gateway link closed: its interest goes, and an outbound one is
    /// dialed again.
    pub(crate) fn gateway_closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let label = format!("{} - gid:{}", c.peer, c.cid);
        let Some(link) = c.gateway_mut() else {
            return;
        };
        let (outbound, registered, name) = (link.outbound, link.registered, link.name.clone());
        let target = link.solicit;
        let subs = std::mem::take(&mut link.subs);
        link.registered = false;
        link.accounts.clear();
        let dir = if outbound { "Outbound" } else { "Inbound" };
        tracing::info!("{label} - {dir} gateway connection to {name:?} closed: {reason}");
        self.gateways.inbound.remove(&conn);
        if self.gateways.outbound.get(&name) == Some(&conn) {
            self.gateways.outbound.remove(&name);
        }
        let mut subs: Vec<(AccountId, Arc<Subscription>)> = subs.into_values().collect();
        subs.sort_unstable_by_key(|(_, s)| s.seq);
        self.begin_leaf_batch();
        for (account, sub) in subs {
            self.accounts[account.0 as usize].gateway.remove(&sub);
            self.leaf_interest(
                crate::router::Origin::Gateway,
                Some(conn),
                account,
                &sub.subject,
                sub.queue.as_ref(),
                -sub.members(),
                None,
            );
        }
        self.end_leaf_batch();

        if let Some(t) = target {
            if let Some(tg) = self.solicitor.get_mut(t).filter(|tg| tg.conn == Some(conn)) {
                tg.conn = None;
                if registered {
                    self.redial_gateway(t, true, now);
                } else {
                    self.redial_gateway(t, false, now);
                }
            }
        }
    }
}

/// The `<<-` trace lines of an op a gateway link sent, as nats-server
/// writes them (the op's arguments, then a message's payload).
fn trace_gateway_op(c: &Conn, op: &ClientOp) {
    use crate::conn::Text;
    match op {
        ClientOp::Connect(json) => c.trace_in(format_args!("CONNECT {}", Text(json))),
        ClientOp::Info(json) => c.trace_in(format_args!("INFO {}", Text(json))),
        ClientOp::RouteSub {
            account,
            subject,
            queue: Some(q),
            weight,
            ..
        } => c.trace_in(format_args!(
            "RS+ {} {} {} {weight}",
            Text(account),
            Text(subject),
            Text(q)
        )),
        ClientOp::RouteSub {
            account, subject, ..
        } => c.trace_in(format_args!("RS+ {} {}", Text(account), Text(subject))),
        ClientOp::RouteUnsub {
            account,
            subject,
            queue,
            ..
        } => match queue {
            Some(q) => c.trace_in(format_args!(
                "RS- {} {} {}",
                Text(account),
                Text(subject),
                Text(q)
            )),
            None => c.trace_in(format_args!("RS- {} {}", Text(account), Text(subject))),
        },
        ClientOp::AccountSub(a) => c.trace_in(format_args!("A+ {}", Text(a))),
        ClientOp::AccountUnsub(a) => c.trace_in(format_args!("A- {}", Text(a))),
        ClientOp::RouteMsg {
            account,
            subject,
            reply,
            queues,
            header_len,
            message,
            ..
        } => c.trace_msg_in(
            "RMSG",
            Some(account),
            subject,
            reply.as_deref(),
            queues,
            *header_len,
            message,
        ),
        ClientOp::Ping => c.trace_in(format_args!("PING")),
        ClientOp::Pong => c.trace_in(format_args!("PONG")),
        ClientOp::Err(text) => c.trace_in(format_args!("-ERR {}", Text(text))),
        ClientOp::Ok
        | ClientOp::Pub { .. }
        | ClientOp::HPub { .. }
        | ClientOp::Sub { .. }
        | ClientOp::Unsub { .. }
        | ClientOp::LeafSub { .. }
        | ClientOp::LeafUnsub { .. }
        | ClientOp::LeafMsg { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_nats_servers() {
        // protocol-leaf-gateway.md section 0: cluster `A` gives `NUmM6c`.
        assert_eq!(&gateway_hash(b"A"), b"NUmM6c");
        assert_eq!(old_gateway_hash(b"A").len(), 4);
    }
}
