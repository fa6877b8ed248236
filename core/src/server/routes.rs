//! The route side of the engine: route connections accepted and dialed,
//! their handshake, interest in both directions (`RS+`/`RS-`), messages
//! forwarded one hop (`RMSG`/`HMSG`), gossip of new peers, reconnects, and
//! the `connect_urls` clients are told about.
//!
//! Forwarding rule (one hop): a message published by a local client goes
//! to every route with matching interest, once per route; a message from a
//! route goes only to local clients. Queue groups: a local member is always
//! preferred; otherwise one route is chosen (weighted by its member count)
//! and named in the `RMSG` queue list, and that server delivers to one of
//! its members.

use super::{Msg, Server};
use crate::account::AccountId;
use crate::client::Client;
use crate::events::{Action, CloseReason, TimerKey};
use crate::ids::ConnId;
use crate::outbound::Outbound;
use crate::proto::{ClientOp, ProtocolError};
use crate::route::{interest_key, OwnRouteInfo, RouteAddr, RouteConnect, RouteInfo, Solicit};
use crate::sublist::{Matches, Subscription};
use crate::time::Instant;
use bytes::Bytes;
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Delay before re-dialing a route (nats-server's DEFAULT_ROUTE_RECONNECT).
const ROUTE_RECONNECT: Duration = Duration::from_secs(1);
/// Jitter added to a re-dial after a disconnect (up to 100 ms).
const RECONNECT_JITTER_NS: u64 = 100_000_000;
/// First PING on a route (nats-server's firstPingInterval for routes).
const ROUTE_FIRST_PING: Duration = Duration::from_secs(1);
/// Longest PING interval on a route.
const ROUTE_PING_MAX: Duration = Duration::from_secs(30);
/// Routes may carry any payload a peer's clients may publish (the largest
/// max_payload nats-server accepts).
pub(crate) const ROUTE_MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// Routes get 16 times the client control-line limit, as in nats-server.
pub(crate) const ROUTE_CONTROL_LINE_FACTOR: usize = 16;

/// The engine's cluster state.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// Routes to dial: configured ones first, then those learned by gossip.
    pub(crate) solicits: Vec<Solicit>,
    /// Registered routes by the peer's server id.
    pub(crate) by_id: BTreeMap<String, ConnId>,
    /// Dials in progress: connection -> solicit index.
    pub(crate) dialing: BTreeMap<ConnId, usize>,
    /// The cluster name (generated when none is configured).
    pub(crate) name: String,
    /// Whether `name` was generated.
    pub(crate) dynamic: bool,
    /// Local interest: (account, subject, queue) -> subscriptions.
    pub(crate) local: BTreeMap<(AccountId, Bytes, Option<Bytes>), u32>,
    /// This server's client URL(s), first in `connect_urls`.
    pub(crate) own_urls: Vec<String>,
    /// Reused by forwarding: (route, queue group) targets of one message.
    pub(crate) targets: Vec<(ConnId, Option<Bytes>)>,
    /// Queue groups the last local delivery served (so routes are asked
    /// only for the others).
    pub(crate) served: Vec<Bytes>,
    /// Shutting down: closed routes are not re-dialed.
    pub(crate) stopping: bool,
}

impl Server {
    /// Sets up clustering at start: the cluster name, this server's client
    /// URL, and a dial timer for every configured route.
    pub(super) fn init_cluster(&mut self, now: Instant) {
        let Some(cluster) = self.options.cluster.clone() else {
            return;
        };
        if cluster.name.is_empty() {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            self.routes.name = (0..22)
                .map(|_| A[self.route_rng.below(A.len() as u64) as usize] as char)
                .collect();
            self.routes.dynamic = true;
            tracing::warn!("Cluster name was dynamically generated, consider setting one");
        } else {
            self.routes.name = cluster.name.clone();
        }
        let host = self.options.host.as_str();
        if !matches!(host, "0.0.0.0" | "::" | "[::]" | "") {
            let url = if host.contains(':') {
                format!("[{}]:{}", host, self.options.port)
            } else {
                format!("{}:{}", host, self.options.port)
            };
            self.routes.own_urls.push(url);
        }
        self.info.cluster = self.routes.name.clone();
        self.info.cluster_dynamic = self.routes.dynamic;
        tracing::info!("Cluster name is {}", self.routes.name);
        self.import_interest();
        for (i, addr) in cluster.routes.iter().enumerate() {
            self.routes.solicits.push(Solicit {
                addr: addr.clone(),
                explicit: true,
                attempts: 0,
                conn: None,
                is_self: false,
                done: false,
                server_id: String::new(),
                fast_redial: false,
            });
            self.timers.set(TimerKey::RouteConnect(i as u32), now);
        }
    }

    /// Interest imports need from the rest of the cluster, held for as
    /// long as the server runs: each stream import's subject in the
    /// exporting account (its publishers may be on other servers), and this
    /// server's `_R_.<prefix>.>` in each account that serves imported
    /// services (responses to requests mapped here come back here).
    fn import_interest(&mut self) {
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
            self.local_interest(account, &subject, None, true);
        }
    }

    /// After a reload: the configured routes `old` became those of the
    /// new options. Removed ones are closed and no longer dialed (nats-server
    /// closes them with `Route Removed`); added ones are dialed now. A new
    /// configured name is adopted.
    pub(crate) fn reload_cluster(&mut self, old: &[RouteAddr], now: Instant) {
        let Some(cluster) = self.options.cluster.clone() else {
            return;
        };
        if !cluster.name.is_empty() && cluster.name != self.routes.name {
            self.routes.name = cluster.name.clone();
            self.routes.dynamic = false;
            self.info.cluster = cluster.name.clone();
            self.info.cluster_dynamic = false;
        }
        for i in 0..self.routes.solicits.len() {
            let s = &self.routes.solicits[i];
            if !s.explicit || !old.contains(&s.addr) || cluster.routes.contains(&s.addr) {
                continue;
            }
            let conn = s.conn;
            let s = &mut self.routes.solicits[i];
            s.done = true;
            s.explicit = false;
            s.conn = None;
            self.timers.cancel(TimerKey::RouteConnect(i as u32));
            if let Some(c) = conn {
                if self.routes.dialing.remove(&c).is_none() {
                    self.close(c, CloseReason::RouteRemoved, true, true, now);
                }
            }
        }
        for addr in &cluster.routes {
            if old.contains(addr) {
                continue;
            }
            self.routes.solicits.push(Solicit {
                addr: addr.clone(),
                explicit: true,
                attempts: 0,
                conn: None,
                is_self: false,
                done: false,
                server_id: String::new(),
                fast_redial: false,
            });
            let i = self.routes.solicits.len() - 1;
            self.route_connect_timer(i, now);
        }
        self.schedule_flushes();
    }

    /// The cluster name in use (configured, generated, or adopted from a
    /// peer), or `None` when not clustered.
    pub fn cluster_name(&self) -> Option<&str> {
        self.options
            .cluster
            .as_ref()
            .map(|_| self.routes.name.as_str())
    }

    /// Server ids of the registered routes, in order.
    pub fn route_peers(&self) -> Vec<String> {
        self.routes.by_id.keys().cloned().collect()
    }

    /// A dial asked for with [`Action::Dial`] succeeded: the connection is
    /// open and the engine sends CONNECT and INFO on it. `peer` is the
    /// remote address. Returns false when the engine no longer wants the
    /// connection (the route was removed meanwhile): close the socket.
    pub fn handle_dialed(&mut self, conn: ConnId, peer: SocketAddr, now: Instant) -> bool {
        let Some(idx) = self.routes.dialing.remove(&conn) else {
            return false;
        };
        let mut client = Client::new(conn, peer, AccountId(0), self.hasher.clone(), now);
        client.headers = true;
        client.connect_received = true;
        client.route = Some(Box::new(crate::route::RouteLink {
            solicit: Some(idx),
            connected: true,
            ..Default::default()
        }));
        let s = &self.routes.solicits[idx];
        let credentials = match (&s.addr.user, &s.addr.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            (None, _) => None,
        };
        self.scratch.clear();
        crate::route::write_connect(
            &mut self.scratch,
            &self.info.server_id,
            &self.routes.name,
            self.routes.dynamic,
            credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        );
        client.out.push_slice(self.scratch.as_bytes());
        self.scratch.clear();
        self.write_own_route_info(false);
        client.out.push_slice(self.scratch.as_bytes());
        self.conns.insert(conn, client);
        tracing::info!("{peer} - rid:{} - Route connection created", conn.0);
        tracing::debug!("{peer} - rid:{} - Route connect msg sent", conn.0);
        self.set_route_ping_timer(conn, now);
        self.mark_dirty(conn);
        self.schedule_flushes();
        true
    }

    /// A dial asked for with [`Action::Dial`] failed.
    pub fn handle_dial_failed(&mut self, conn: ConnId, now: Instant) {
        let Some(idx) = self.routes.dialing.remove(&conn) else {
            return;
        };
        let s = &mut self.routes.solicits[idx];
        s.conn = None;
        tracing::debug!(
            "Error trying to connect to route (attempt {}): {}",
            s.attempts + 1,
            s.addr.host_port()
        );
        self.retry_solicit(idx, false, now);
    }

    /// Registers a connection accepted on the route port and sends INFO.
    pub(super) fn accept_route(&mut self, peer: SocketAddr, now: Instant) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let mut client = Client::new(id, peer, AccountId(0), self.hasher.clone(), now);
        client.headers = true;
        client.route = Some(Box::default());
        let mut raw = [0u8; 11];
        self.route_rng.fill(&mut raw);
        let nonce = crate::auth::base64_url_encode(&raw);
        self.scratch.clear();
        self.write_route_info_with_nonce(&nonce);
        client.out.push_slice(self.scratch.as_bytes());
        self.conns.insert(id, client);
        tracing::info!("{peer} - rid:{} - Route connection created", id.0);
        // Only a route port that asks for credentials times out a peer
        // that never sends CONNECT (nats-server's createRoute).
        if let Some(c) = self
            .options
            .cluster
            .as_ref()
            .filter(|c| c.credentials.is_some())
        {
            self.timers
                .set(TimerKey::AuthTimeout(id), now + c.auth_timeout);
        }
        self.set_route_ping_timer(id, now);
        self.mark_dirty(id);
        self.schedule_flushes();
        id
    }

    /// The dial timer of solicit `idx` fired.
    pub(super) fn route_connect_timer(&mut self, idx: usize, now: Instant) {
        let _ = now;
        if self.routes.stopping {
            return;
        }
        let Some(s) = self.routes.solicits.get(idx) else {
            return;
        };
        if s.is_self || s.done || s.conn.is_some() {
            return;
        }
        // Already routed to that server over another connection.
        if !s.server_id.is_empty() && self.routes.by_id.contains_key(&s.server_id) {
            return;
        }
        let addr = s.addr.host_port();
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.routes.solicits[idx].conn = Some(id);
        self.routes.dialing.insert(id, idx);
        tracing::debug!("Trying to connect to route on {addr}");
        self.actions.push_back(Action::Dial { conn: id, addr });
    }

    /// Schedules the next dial of solicit `idx`: after a failed dial, 1 s
    /// later (a route learned by gossip gives up after `connect_retries`);
    /// after a registered route closed, at once for a learned route and
    /// after 1 s for a configured one, plus up to 100 ms of seeded jitter,
    /// as nats-server does.
    fn retry_solicit(&mut self, idx: usize, disconnected: bool, now: Instant) {
        if self.routes.stopping {
            return;
        }
        let retries = self
            .options
            .cluster
            .as_ref()
            .map_or(0, |c| c.connect_retries);
        let s = &mut self.routes.solicits[idx];
        if s.is_self || s.done {
            return;
        }
        let delay = if disconnected {
            s.attempts = 0;
            tracing::debug!(
                "Attempting reconnect for solicited route \"nats://{}\"",
                s.addr.host_port()
            );
            let base = if s.explicit && !s.fast_redial {
                ROUTE_RECONNECT
            } else {
                Duration::ZERO
            };
            s.fast_redial = false;
            base + Duration::from_nanos(self.jitter_rng.below(RECONNECT_JITTER_NS))
        } else {
            s.attempts = s.attempts.saturating_add(1);
            if !s.explicit && s.attempts > retries {
                s.done = true;
                tracing::debug!("Giving up on implicit route {}", s.addr.host_port());
                return;
            }
            ROUTE_RECONNECT
        };
        self.timers
            .set(TimerKey::RouteConnect(idx as u32), now + delay);
    }

    fn set_route_ping_timer(&mut self, conn: ConnId, now: Instant) {
        let first = self.route_ping_interval().min(ROUTE_FIRST_PING);
        let jitter = self.jitter_rng.below((first.as_nanos() / 5) as u64);
        self.timers.set(
            TimerKey::Ping(conn),
            now + first + Duration::from_nanos(jitter),
        );
    }

    /// The PING interval on routes.
    pub(super) fn route_ping_interval(&self) -> Duration {
        self.options
            .cluster
            .as_ref()
            .map_or(self.options.ping_interval, |c| c.ping_interval)
            .min(ROUTE_PING_MAX)
    }

    /// Client URLs to put in our route INFO (none with `no_advertise`).
    fn advertised_urls(&self) -> Vec<String> {
        if self
            .options
            .cluster
            .as_ref()
            .is_some_and(|c| c.no_advertise)
        {
            Vec::new()
        } else {
            self.routes.own_urls.clone()
        }
    }

    fn own_route_info(&self) -> (String, u16, String) {
        let c = self.options.cluster.as_ref();
        let host = c.map_or("0.0.0.0", |c| c.host.as_str()).to_string();
        let port = c.map_or(0, |c| c.port);
        let ip = match c.map(|c| c.advertise.as_str()) {
            Some(a) if !a.is_empty() => format!("nats-route://{a}/"),
            _ => String::new(),
        };
        (host, port, ip)
    }

    /// Writes this server's route INFO (as sent by a soliciting side).
    fn write_own_route_info(&mut self, trailing_space: bool) {
        let (host, port, ip) = self.own_route_info();
        let urls = self.advertised_urls();
        let auth = self
            .options
            .cluster
            .as_ref()
            .is_some_and(|c| c.credentials.is_some());
        let mut out = std::mem::take(&mut self.scratch);
        OwnRouteInfo {
            server_id: &self.info.server_id,
            server_name: &self.info.server_name,
            version: &self.info.version,
            host: &host,
            port,
            max_payload: self.options.max_payload,
            nonce: "",
            cluster: &self.routes.name,
            cluster_dynamic: self.routes.dynamic,
            connect_urls: &urls,
            auth_required: auth,
            ip: &ip,
            gossip_mode: 0,
        }
        .write(&mut out, trailing_space);
        self.scratch = out;
    }

    fn write_route_info_with_nonce(&mut self, nonce: &str) {
        let (host, port, ip) = self.own_route_info();
        let urls = self.advertised_urls();
        let auth = self
            .options
            .cluster
            .as_ref()
            .is_some_and(|c| c.credentials.is_some());
        let mut out = std::mem::take(&mut self.scratch);
        OwnRouteInfo {
            server_id: &self.info.server_id,
            server_name: &self.info.server_name,
            version: &self.info.version,
            host: &host,
            port,
            max_payload: self.options.max_payload,
            nonce,
            cluster: &self.routes.name,
            cluster_dynamic: self.routes.dynamic,
            connect_urls: &urls,
            auth_required: auth,
            ip: &ip,
            gossip_mode: 0,
        }
        .write(&mut out, true);
        self.scratch = out;
    }

    // ---- ops on a route connection ---------------------------------------

    /// Handles one op read from a route connection.
    pub(super) fn process_route_op(&mut self, conn: ConnId, op: ClientOp, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(link) = c.route.as_ref() else {
            return;
        };
        let connected = link.connected;
        let registered = link.registered;
        match op {
            ClientOp::Connect(json) => self.route_connect(conn, &json, now),
            ClientOp::Info(json) => {
                if connected {
                    self.route_info(conn, &json, now);
                }
            }
            ClientOp::Ping => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.out.push_slice(b"PONG\r\n");
                    self.mark_dirty(conn);
                }
            }
            ClientOp::Pong => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.pings_out = 0;
                    if let Some(sent) = c.rtt_start.take() {
                        c.rtt = Some(now.saturating_since(sent));
                        c.rtt_known = true;
                    }
                }
            }
            ClientOp::Ok => {}
            ClientOp::Err(text) => {
                let text = String::from_utf8_lossy(&text);
                let text = text.trim_start_matches('\'').trim_end_matches('\'');
                // nats-server refuses the dedicated `$SYS` connection it
                // tries to open to a peer that does not pool: expected.
                if text.contains("dedicated route") {
                    tracing::debug!("rid:{} - Route Error '{}'", conn.0, text);
                } else {
                    tracing::error!("rid:{} - Route Error '{}'", conn.0, text);
                }
                self.close(conn, CloseReason::ParseError, true, true, now);
            }
            ClientOp::RouteSub {
                account,
                subject,
                queue,
                weight,
            } if registered => self.route_sub(conn, account, subject, queue, weight),
            ClientOp::RouteUnsub {
                account,
                subject,
                queue,
            } if registered => self.route_unsub(conn, &account, &subject, queue.as_deref()),
            ClientOp::RouteMsg {
                account,
                subject,
                reply,
                queues,
                header_len,
                message,
            } if registered => {
                let msg = Msg {
                    subject: &subject,
                    reply: reply.as_ref(),
                    header_len,
                    message: &message,
                };
                self.route_msg(conn, &account, &queues, &msg, now);
            }
            // Interest or messages before the route is registered (a
            // connection about to be dropped as a duplicate): ignored.
            ClientOp::RouteSub { .. } | ClientOp::RouteUnsub { .. } | ClientOp::RouteMsg { .. } => {
            }
            ClientOp::Pub { .. }
            | ClientOp::HPub { .. }
            | ClientOp::Sub { .. }
            | ClientOp::Unsub { .. } => {
                self.fail(conn, ProtocolError::UnknownOperation, now);
            }
        }
    }

    /// CONNECT on an accepted route: who the peer is, its cluster and its
    /// credentials.
    fn route_connect(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        let solicited = self
            .conns
            .get(&conn)
            .and_then(|c| c.route.as_ref())
            .is_some_and(|l| l.solicit.is_some());
        if solicited {
            return;
        }
        self.timers.cancel(TimerKey::AuthTimeout(conn));
        let Ok(connect) = serde_json::from_slice::<RouteConnect>(json) else {
            self.close(conn, CloseReason::ParseError, true, true, now);
            return;
        };
        if connect.lang.is_some() {
            self.fail_with(
                conn,
                ProtocolError::ClientOnRoutePort,
                CloseReason::ProtocolViolation,
                now,
            );
            return;
        }
        if let Some(gw) = connect.gateway.as_ref().filter(|g| !g.is_empty()) {
            let text = format!("Rejecting connection from gateway \"{gw}\" on the Route port");
            self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
            return;
        }
        if let Some((user, pass)) = self
            .options
            .cluster
            .as_ref()
            .and_then(|c| c.credentials.clone())
        {
            let ok = connect.user.as_deref() == Some(user.as_str())
                && connect
                    .pass
                    .as_deref()
                    .is_some_and(|p| crate::auth::password_matches(&pass, p));
            if !ok {
                self.fail_with(
                    conn,
                    ProtocolError::AuthorizationViolation,
                    CloseReason::AuthenticationViolation,
                    now,
                );
                return;
            }
        }
        if !self.cluster_names_agree(&connect.cluster, connect.cluster_dynamic) {
            let text = format!(
                "Rejecting connection, cluster name \"{}\" does not match \"{}\"",
                connect.cluster, self.routes.name
            );
            tracing::error!("rid:{} - {}", conn.0, text);
            self.refuse(conn, &text, CloseReason::ClusterNameConflict, now);
            return;
        }
        if let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.route.as_mut()) {
            link.connected = true;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.connect_received = true;
        }
    }

    /// Sends `-ERR '<text>'` and closes after flushing.
    fn refuse(&mut self, conn: ConnId, text: &str, reason: CloseReason, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.push_err(text);
        }
        self.mark_dirty(conn);
        self.close(conn, reason, true, true, now);
    }

    /// Whether a peer's cluster name is acceptable; a generated name of
    /// ours gives way to a configured one, or to a larger generated one.
    fn cluster_names_agree(&mut self, theirs: &str, their_dynamic: bool) -> bool {
        if theirs == self.routes.name || theirs.is_empty() {
            return true;
        }
        if self.routes.dynamic && (!their_dynamic || theirs > self.routes.name.as_str()) {
            tracing::info!("Cluster name updated to {theirs}");
            self.routes.name = theirs.to_string();
            self.routes.dynamic = their_dynamic;
            self.info.cluster = self.routes.name.clone();
            self.info.cluster_dynamic = their_dynamic;
            return true;
        }
        // Their generated name gives way to ours.
        their_dynamic
    }

    /// INFO on a route: the first registers the route; later ones with
    /// another server's id are gossip about peers to dial.
    fn route_info(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        let Ok(info) = serde_json::from_slice::<RouteInfo>(json) else {
            tracing::debug!("rid:{} - bad route INFO", conn.0);
            return;
        };
        let Some(link) = self.conns.get(&conn).and_then(|c| c.route.as_ref()) else {
            return;
        };
        match &link.remote {
            None => self.first_route_info(conn, info, now),
            Some(remote) if remote.server_id != info.server_id => {
                if link.registered {
                    self.gossiped_route(info, now);
                }
            }
            Some(_) => {
                // An update from the peer itself (for example lame duck).
                if let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.route.as_mut()) {
                    if let Some(remote) = link.remote.as_mut() {
                        remote.ldm = info.ldm;
                    }
                }
            }
        }
    }

    fn first_route_info(&mut self, conn: ConnId, info: RouteInfo, now: Instant) {
        let solicit = self
            .conns
            .get(&conn)
            .and_then(|c| c.route.as_ref())
            .and_then(|l| l.solicit);
        if info.server_id == self.info.server_id {
            if let Some(i) = solicit {
                let s = &mut self.routes.solicits[i];
                s.is_self = true;
                tracing::debug!(
                    "Detected route to self, ignoring \"nats://{}\"",
                    s.addr.host_port()
                );
            }
            self.close(conn, CloseReason::RouteToSelf, false, true, now);
            return;
        }
        // A pooled or pinned-account connection of a peer that pools: we
        // keep one connection per server.
        if !info.route_account.is_empty() || info.route_pool_idx > 0 {
            let text = format!(
                "Not possible to have a dedicated route for account \"{}\" between those servers",
                info.route_account
            );
            tracing::debug!("rid:{} - {}", conn.0, text);
            self.refuse(conn, &text, CloseReason::DuplicateRoute, now);
            return;
        }
        if solicit.is_some() && !self.cluster_names_agree(&info.cluster, info.cluster_dynamic) {
            tracing::error!(
                "rid:{} - Rejecting connection, cluster name \"{}\" does not match \"{}\"",
                conn.0,
                info.cluster,
                self.routes.name
            );
            self.close(conn, CloseReason::ClusterNameConflict, false, true, now);
            return;
        }
        if let Some(i) = solicit {
            self.routes.solicits[i].server_id = info.server_id.clone();
        }
        if self.routes.by_id.contains_key(&info.server_id) {
            // The first connection to register wins; a later one is closed
            // silently and never re-dialed (nats-server does the same, so
            // both ends settle on one connection).
            tracing::debug!(
                "{} - rid:{} - Detected duplicate remote route \"{}\"",
                self.conns
                    .get(&conn)
                    .map_or_else(String::new, |c| c.peer.to_string()),
                conn.0,
                info.server_id
            );
            if let Some(i) = solicit {
                // The kept connection stands in for this dial: if it dies,
                // re-dial at once (nats-server hands it this URL).
                let s = &mut self.routes.solicits[i];
                s.conn = None;
                s.fast_redial = true;
            }
            self.close(conn, CloseReason::DuplicateRoute, false, true, now);
            return;
        }
        self.register_route(conn, info, now);
    }

    fn register_route(&mut self, conn: ConnId, info: RouteInfo, now: Instant) {
        let _ = now;
        let peer = match self.conns.get(&conn) {
            Some(c) => c.peer,
            None => return,
        };
        let remote_id = info.server_id.clone();
        tracing::debug!(
            "{} - rid:{} - Registering remote route \"{}\"",
            peer,
            conn.0,
            info.server_id
        );
        if let Some(i) = self
            .conns
            .get(&conn)
            .and_then(|c| c.route.as_ref())
            .and_then(|l| l.solicit)
        {
            self.routes.solicits[i].attempts = 0;
        }
        // The URL others should dial for this peer.
        let mut info = info;
        if info.ip.is_empty() {
            let host = if info.host.is_empty() || info.host == "0.0.0.0" || info.host == "::" {
                peer.ip().to_string()
            } else {
                info.host.clone()
            };
            info.ip = if host.contains(':') {
                format!("nats-route://[{host}]:{}/", info.port)
            } else {
                format!("nats-route://{host}:{}/", info.port)
            };
        }
        // Tell the other routes about the new peer (gossip), unless we
        // learned of it by gossip ourselves.
        let learned = self
            .conns
            .get(&conn)
            .and_then(|c| c.route.as_ref())
            .and_then(|l| l.solicit)
            .is_some_and(|i| !self.routes.solicits[i].explicit);
        self.scratch.clear();
        let mut out = std::mem::take(&mut self.scratch);
        OwnRouteInfo {
            server_id: &info.server_id,
            server_name: &info.server_name,
            version: &self.info.version,
            host: &info.host,
            port: info.port,
            max_payload: self.options.max_payload,
            nonce: "",
            cluster: &self.routes.name,
            cluster_dynamic: self.routes.dynamic,
            connect_urls: &info.connect_urls,
            auth_required: info.auth_required,
            ip: &info.ip,
            gossip_mode: 0,
        }
        .write(&mut out, false);
        let others: Vec<ConnId> = if learned {
            Vec::new()
        } else {
            self.routes.by_id.values().copied().collect()
        };
        for other in others {
            if let Some(c) = self.conns.get_mut(&other) {
                c.out.push_slice(out.as_bytes());
                self.mark_dirty(other);
            }
        }
        self.scratch = out;
        if let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.route.as_mut()) {
            link.registered = true;
            link.remote = Some(info);
        }
        self.routes.by_id.insert(remote_id, conn);
        // Our whole interest, every account.
        let mut out = Outbound::default();
        for ((account, subject, queue), n) in &self.routes.local {
            write_interest(
                &mut out,
                &self.accounts[account.0 as usize].name,
                subject,
                queue.as_ref(),
                *n,
            );
        }
        let mut chunks = Vec::new();
        out.take(&mut chunks);
        if let Some(c) = self.conns.get_mut(&conn) {
            for chunk in &chunks {
                c.out.push_slice(chunk);
            }
        }
        self.mark_dirty(conn);
        self.update_connect_urls();
    }

    /// Forgets a registered route that closed: its interest goes at once,
    /// its client URLs leave `connect_urls`, and a dialed route is re-dialed.
    pub(super) fn route_closed(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(link) = c.route.as_mut() else {
            return;
        };
        let subs = std::mem::take(&mut link.subs);
        let registered = link.registered;
        link.registered = false;
        let solicit = link.solicit;
        let remote_id = link.remote.as_ref().map(|r| r.server_id.clone());
        let mut subs: Vec<(AccountId, Arc<Subscription>)> = subs.into_values().collect();
        subs.sort_unstable_by_key(|(_, s)| s.seq);
        for (account, sub) in subs {
            self.accounts[account.0 as usize].remote.remove(&sub);
        }
        if registered {
            if let Some(id) = &remote_id {
                if self.routes.by_id.get(id) == Some(&conn) {
                    self.routes.by_id.remove(id);
                }
            }
            self.update_connect_urls();
        }
        if let Some(i) = solicit {
            if self.routes.solicits[i].conn == Some(conn) {
                self.routes.solicits[i].conn = None;
                if !registered {
                    // The dial connected but the route never registered
                    // (refused, or a duplicate): the failure path.
                    self.retry_solicit(i, false, now);
                }
            }
        }
        // A registered route went away: re-dial every route we know for
        // that server (the connection may have been the peer's dial).
        if let (true, Some(id)) = (registered, remote_id) {
            let again: Vec<usize> = (0..self.routes.solicits.len())
                .filter(|&i| {
                    let s = &self.routes.solicits[i];
                    (s.server_id == id || solicit == Some(i)) && s.conn.is_none() && !s.done
                })
                .collect();
            for i in again {
                self.retry_solicit(i, true, now);
            }
        }
    }

    /// A gossiped INFO about another member: dial it unless already routed
    /// to it or dialing it.
    fn gossiped_route(&mut self, info: RouteInfo, now: Instant) {
        if info.server_id == self.info.server_id || self.routes.by_id.contains_key(&info.server_id)
        {
            return;
        }
        let Some(mut addr) = RouteAddr::parse(&info.ip)
            .or_else(|| RouteAddr::parse(&format!("{}:{}", info.host, info.port)))
        else {
            return;
        };
        let known = self.routes.solicits.iter().position(|s| {
            s.server_id == info.server_id || (s.addr.host == addr.host && s.addr.port == addr.port)
        });
        if let Some(i) = known {
            let s = &mut self.routes.solicits[i];
            if s.is_self || s.conn.is_some() || s.explicit {
                return;
            }
            s.done = false;
            s.attempts = 0;
            s.server_id = info.server_id.clone();
            self.route_connect_timer(i, now);
            return;
        }
        // Our cluster credentials, only when the peer asks for them.
        if let Some((u, p)) = self
            .options
            .cluster
            .as_ref()
            .and_then(|c| c.credentials.clone())
            .filter(|_| info.auth_required)
        {
            addr.user = Some(u);
            addr.password = Some(p);
        }
        tracing::debug!("Connecting to implicit route {}", addr.host_port());
        self.routes.solicits.push(Solicit {
            addr,
            explicit: false,
            attempts: 0,
            conn: None,
            is_self: false,
            done: false,
            server_id: info.server_id,
            fast_redial: false,
        });
        let i = self.routes.solicits.len() - 1;
        self.route_connect_timer(i, now);
    }

    // ---- interest ----------------------------------------------------------

    fn route_sub(
        &mut self,
        conn: ConnId,
        account: Bytes,
        subject: Bytes,
        queue: Option<Bytes>,
        weight: u32,
    ) {
        let Some(acc) = self.account_by_name(&account) else {
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
        let key = interest_key(&account, &subject, queue.as_deref());
        let seq = self.next_sub_seq;
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.route.as_mut()) else {
            return;
        };
        if let Some((_, sub)) = link.subs.get(&key) {
            sub.weight.store(weight.max(1), Ordering::Relaxed);
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
        link.subs.insert(key, (acc, sub.clone()));
        self.accounts[acc.0 as usize].remote.insert(sub);
    }

    fn route_unsub(&mut self, conn: ConnId, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        let key = interest_key(account, subject, queue);
        let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.route.as_mut()) else {
            return;
        };
        if let Some((acc, sub)) = link.subs.remove(&key) {
            self.accounts[acc.0 as usize].remote.remove(&sub);
        }
    }

    fn account_by_name(&self, name: &[u8]) -> Option<AccountId> {
        self.accounts
            .iter()
            .position(|a| a.name.as_bytes() == name)
            .map(|i| AccountId(i as u32))
    }

    /// A local subscription came or went: counts it and tells the routes
    /// (`RS+` on a subject's first plain subscription, `RS-` on its last;
    /// queue groups send their member count on every change).
    pub(super) fn local_interest(
        &mut self,
        account: AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        added: bool,
    ) {
        if self.options.cluster.is_none() {
            return;
        }
        if !added && mutated!(self, forget_rs_minus) {
            return;
        }
        let key = (account, subject.clone(), queue.cloned());
        let count = match self.routes.local.get_mut(&key) {
            Some(n) => {
                if added {
                    *n += 1;
                } else {
                    *n = n.saturating_sub(1);
                }
                *n
            }
            None if added => {
                self.routes.local.insert(key.clone(), 1);
                1
            }
            None => return,
        };
        if count == 0 {
            self.routes.local.remove(&key);
        }
        let changed = queue.is_some() || (added && count == 1) || (!added && count == 0);
        if !changed || self.routes.by_id.is_empty() {
            return;
        }
        let mut out = Outbound::default();
        write_interest(
            &mut out,
            &self.accounts[account.0 as usize].name,
            subject,
            queue,
            count,
        );
        let mut chunks = Vec::new();
        out.take(&mut chunks);
        let routes: Vec<ConnId> = self.routes.by_id.values().copied().collect();
        for r in routes {
            if let Some(c) = self.conns.get_mut(&r) {
                for chunk in &chunks {
                    c.out.push_slice(chunk);
                }
                self.mark_dirty(r);
            }
        }
    }

    // ---- messages ------------------------------------------------------------

    /// Sends a client's message to the routes with interest: once per
    /// route, naming the queue groups that route should serve: those the
    /// local delivery just before did not serve (`routes.served`; a group
    /// whose only local member is the publisher without echo is not
    /// served). Returns the number of routes sent to.
    pub(super) fn forward_to_routes(
        &mut self,
        account: AccountId,
        remote: &Matches,
        msg: &Msg<'_>,
        now: Instant,
    ) -> usize {
        let mut targets = std::mem::take(&mut self.routes.targets);
        targets.clear();
        for sub in &remote.plain {
            count_delivery(sub);
            targets.push((sub.conn, None));
        }
        for group in &remote.queues {
            let served_here = self.routes.served.contains(&group.name);
            if served_here && !mutated!(self, queue_local_and_remote) {
                continue;
            }
            let total: u64 = group
                .members
                .iter()
                .map(|s| u64::from(s.weight.load(Ordering::Relaxed).max(1)))
                .sum();
            if total == 0 {
                continue;
            }
            let mut pick = self.queue_rng.below(total);
            for sub in &group.members {
                let w = u64::from(sub.weight.load(Ordering::Relaxed).max(1));
                if pick < w {
                    count_delivery(sub);
                    targets.push((sub.conn, Some(group.name.clone())));
                    break;
                }
                pick -= w;
            }
        }
        // One message per route: group targets by connection, keeping
        // the order in which routes first appeared.
        targets.sort_by_key(|(conn, _)| *conn);
        let mut sent = 0;
        let mut i = 0;
        while i < targets.len() {
            let conn = targets[i].0;
            let mut j = i;
            while j < targets.len() && targets[j].0 == conn {
                j += 1;
            }
            if self.send_routed(conn, account, msg, &targets[i..j], now) {
                sent += 1;
            }
            i = j;
        }
        targets.clear();
        self.routes.targets = targets;
        sent
    }

    /// Writes `RMSG`/`HMSG` to one route; `targets` name its queue groups.
    fn send_routed(
        &mut self,
        conn: ConnId,
        account: AccountId,
        msg: &Msg<'_>,
        targets: &[(ConnId, Option<Bytes>)],
        now: Instant,
    ) -> bool {
        let max_pending = self.options.max_pending;
        let name = &self.accounts[account.0 as usize].name;
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        if c.closed || !c.route.as_ref().is_some_and(|l| l.registered) {
            return false;
        }
        let out = &mut c.out;
        let headers = msg.header_len > 0;
        out.push_slice(if headers { b"HMSG " } else { b"RMSG " });
        out.push_slice(name.as_bytes());
        out.push_slice(b" ");
        out.push_slice(msg.subject);
        out.push_slice(b" ");
        let mut queues = targets.iter().filter_map(|(_, q)| q.as_ref()).peekable();
        if queues.peek().is_some() {
            match msg.reply {
                Some(r) => {
                    out.push_slice(b"+ ");
                    out.push_slice(r);
                    out.push_slice(b" ");
                }
                None => out.push_slice(b"| "),
            }
            for q in queues {
                out.push_slice(q);
                out.push_slice(b" ");
            }
        } else if let Some(r) = msg.reply {
            out.push_slice(r);
            out.push_slice(b" ");
        }
        if headers {
            out.push_decimal(msg.header_len as u64);
            out.push_slice(b" ");
        }
        out.push_decimal(msg.message.len() as u64);
        out.push_slice(b"\r\n");
        out.push_payload(msg.message);
        out.push_slice(b"\r\n");
        c.stats.out_msgs += 1;
        c.stats.out_bytes += msg.message.len() as u64;
        c.last_activity = now;
        let pending = c.out.pending();
        if pending > max_pending {
            tracing::info!(
                "rid:{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                conn.0,
                max_pending
            );
            self.stats.slow_consumers += 1;
            self.close(
                conn,
                CloseReason::SlowConsumerPendingBytes,
                false,
                true,
                now,
            );
            return true;
        }
        self.mark_dirty(conn);
        true
    }

    /// A message from a route: to local subscribers only (one hop), and to
    /// one local member of each queue group the route named.
    fn route_msg(
        &mut self,
        conn: ConnId,
        account: &[u8],
        queues: &Bytes,
        msg: &Msg<'_>,
        now: Instant,
    ) {
        let Some(acc) = self.account_by_name(account) else {
            tracing::debug!(
                "rid:{} - Unknown account {:?} for routed message",
                conn.0,
                String::from_utf8_lossy(account)
            );
            return;
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.in_msgs += 1;
            c.stats.in_bytes += msg.message.len() as u64;
        }
        self.stats.in_msgs += 1;
        self.stats.in_bytes += msg.message.len() as u64;
        let matches = self.accounts[acc.0 as usize].sublist.matches(msg.subject);
        self.deliver_matches(conn, true, &matches, msg, Some(queues), now);
        if !self.imports.is_empty() || !self.service_replies.is_empty() {
            self.cross_accounts(conn, acc, msg, true, now);
        }
        if mutated!(self, forward_routed_to_routes) && !self.routes.by_id.is_empty() {
            let remote = self.accounts[acc.0 as usize].remote.matches(msg.subject);
            let others = Matches {
                plain: remote
                    .plain
                    .iter()
                    .filter(|s| s.conn != conn)
                    .cloned()
                    .collect(),
                queues: Vec::new(),
            };
            self.routes.served.clear();
            self.forward_to_routes(acc, &others, msg, now);
        }
    }

    /// Recomputes `connect_urls` (ours, then each route's) and tells
    /// clients that take asynchronous INFO when it changed.
    fn update_connect_urls(&mut self) {
        let no_advertise = self
            .options
            .cluster
            .as_ref()
            .is_some_and(|c| c.no_advertise);
        let mut urls = self.routes.own_urls.clone();
        if !no_advertise {
            for conn in self.routes.by_id.values() {
                let Some(remote) = self
                    .conns
                    .get(conn)
                    .and_then(|c| c.route.as_ref())
                    .and_then(|l| l.remote.as_ref())
                else {
                    continue;
                };
                for u in &remote.connect_urls {
                    if !urls.contains(u) {
                        urls.push(u.clone());
                    }
                }
            }
        }
        if no_advertise || urls == self.info.connect_urls {
            return;
        }
        self.info.connect_urls = urls;
        for id in self.open_client_ids() {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            // Only clients that take asynchronous INFO and have had
            // their first PONG, as nats-server.
            if c.opts.protocol < 1 || !c.first_pong_sent {
                continue;
            }
            let ip = c.peer.ip().to_string();
            self.scratch.clear();
            self.info.write_client_info(
                &crate::info::ClientInfoExtra {
                    client_id: id.0,
                    client_ip: &ip,
                    ..Default::default()
                },
                &mut self.scratch,
            );
            c.out.push_slice(self.scratch.as_bytes());
            self.mark_dirty(id);
        }
    }
}

/// Counts a message forwarded for a route's interest (`/routez` `msgs`).
fn count_delivery(sub: &Subscription) {
    let n = sub.delivered.load(Ordering::Relaxed);
    sub.delivered.store(n + 1, Ordering::Relaxed);
}

/// `RS+ <account> <subject>[ <queue> <weight>]` or, for a count of zero,
/// `RS- <account> <subject>[ <queue>]`.
fn write_interest(
    out: &mut Outbound,
    account: &str,
    subject: &[u8],
    queue: Option<&Bytes>,
    n: u32,
) {
    out.push_slice(if n > 0 { b"RS+ " } else { b"RS- " });
    out.push_slice(account.as_bytes());
    out.push_slice(b" ");
    out.push_slice(subject);
    if let Some(q) = queue {
        out.push_slice(b" ");
        out.push_slice(q);
        if n > 0 {
            out.push_slice(b" ");
            out.push_decimal(u64::from(n));
        }
    }
    out.push_slice(b"\r\n");
}
