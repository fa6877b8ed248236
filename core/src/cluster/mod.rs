//! Route connections: accepted and dialed, their handshake (cluster
//! names, credentials, self and duplicate routes), the ops they carry,
//! gossip of new peers (implicit routes), re-dials, reload of the route
//! list, and the `connect_urls` clients are told about. Interest across
//! routes lives in `interest.rs`, messages in `forward.rs`, dialing in
//! `dial.rs`, read-only views in `inspect.rs`.

mod dial;
mod forward;
pub(crate) mod inspect;
mod interest;

use crate::account::AccountId;
use crate::conn::{Conn, ConnKind};
use crate::engine::{Msg, Server, ALPHANUMERIC};
use crate::events::LinkKind;
use crate::events::{CloseReason, TimerKey};
use crate::ids::ConnId;
use crate::proto::{ClientOp, ProtocolError};
use crate::route::{join_host_port, OwnRouteInfo, RouteConnect, RouteInfo};
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use core::net::SocketAddr;
use interest::write_interest;
use std::collections::BTreeMap;
use std::sync::Arc;

/// (account, subject, queue, origin cluster) of leaf interest told to
/// routes: the origin last, so one range holds every origin's members of
/// a subject.
pub(crate) type LeafInterestKey = (AccountId, Bytes, Option<Bytes>, Bytes);

/// The engine's cluster state.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// Registered routes by the peer's server id.
    pub(crate) by_id: BTreeMap<String, ConnId>,
    /// Local interest: (account, subject, queue) -> subscriptions.
    pub(crate) local: BTreeMap<(AccountId, Bytes, Option<Bytes>), u32>,
    /// Interest of leaf clusters behind our hub-role leaf links:
    /// (account, subject, queue, origin cluster) -> members.
    pub(crate) leaf_local: BTreeMap<LeafInterestKey, u32>,
    /// This server's client URL(s), first in `connect_urls`.
    pub(crate) own_urls: Vec<String>,
    /// Reused by forwarding: (route, queue group) targets of one message.
    pub(crate) targets: Vec<(ConnId, Option<Bytes>)>,
    /// Queue groups the last local delivery served (so routes are asked
    /// only for the others).
    pub(crate) served: Vec<Bytes>,
}

impl Server {
    /// Sets up clustering at start: the cluster name, this server's client
    /// URL, and a dial timer for every configured route.
    pub(crate) fn init_cluster(&mut self, now: Instant) {
        let Some(cluster) = self.options.cluster.clone() else {
            return;
        };
        if cluster.name.is_empty() {
            self.info.cluster = (0..22)
                .map(|_| {
                    ALPHANUMERIC[self.route_rng.below(ALPHANUMERIC.len() as u64) as usize] as char
                })
                .collect();
            self.info.cluster_dynamic = true;
            tracing::warn!("Cluster name was dynamically generated, consider setting one");
        } else {
            self.info.cluster = cluster.name.clone();
        }
        let host = self.options.host.as_str();
        if !is_any_host(host) {
            let url = join_host_port(host, self.options.port);
            self.routes.own_urls.push(url);
        }
        tracing::info!("Cluster name is {}", self.info.cluster);
        self.import_interest();
        for addr in &cluster.routes {
            if let Some(i) = self.add_route_target(addr.clone(), true, String::new()) {
                self.timers.set(TimerKey::Dial(i as u32), now);
            }
        }
    }

    /// The host's addresses, in interface order, for a server whose client
    /// listener is bound to every address (`0.0.0.0` or `::`): its URLs in
    /// `connect_urls` are then those of its global unicast addresses, as
    /// nats-server lists them (loopback and link-local addresses skipped).
    /// Call once at start, before serving; the driver enumerates the
    /// interfaces (the engine cannot). Changes nothing for a server bound
    /// to one address or not clustered.
    pub fn handle_host_addresses(&mut self, addrs: &[core::net::IpAddr]) {
        if self.options.cluster.is_none() || !is_any_host(&self.options.host) {
            return;
        }
        let port = self.options.port;
        self.routes.own_urls = addrs
            .iter()
            .filter(|ip| is_global_unicast(ip))
            .map(|ip| join_host_port(&ip.to_string(), port))
            .collect();
        if self.routes.own_urls.is_empty() {
            tracing::error!(
                "Address \"{}\" can not be resolved properly",
                self.options.host
            );
        }
        self.update_connect_urls();
        self.schedule_flushes();
    }

    /// The cluster name in use (configured, generated, or adopted from a
    /// peer), or `None` when not clustered.
    pub fn cluster_name(&self) -> Option<&str> {
        self.options
            .cluster
            .as_ref()
            .map(|_| self.info.cluster.as_str())
    }

    /// Server ids of the registered routes, in order.
    pub fn route_peers(&self) -> Vec<String> {
        self.routes.by_id.keys().cloned().collect()
    }

    /// Registers a connection accepted on the route port and sends INFO.
    pub(crate) fn accept_route(&mut self, peer: SocketAddr, now: Instant) -> ConnId {
        let mut route = self.new_conn(peer, ConnKind::Route(Box::default()), now);
        let (id, rid) = (route.id, route.cid);
        route.headers = true;
        let mut raw = [0u8; 11];
        self.route_rng.fill(&mut raw);
        let nonce = crate::auth::base64_url_encode(&raw);
        let tls_timer = self.route_tls(&mut route, None, now);
        let own = self.route_compression();
        route.s2 = crate::engine::compress::S2Link::new(&own);
        self.scratch.clear();
        self.write_route_info(&nonce, true, own.info_field());
        route.out.push_slice(self.scratch.as_bytes());
        self.conns.insert(id, route);
        self.set_tls_timer(tls_timer);
        tracing::info!("{peer} - rid:{rid} - Route connection created");
        // Only a route port that asks for credentials times out a peer
        // that never sends CONNECT (nats-server's createRoute).
        if let Some(c) = self
            .options
            .cluster
            .as_ref()
            .filter(|_| self.cluster_credentials().is_some())
        {
            self.timers
                .set(TimerKey::AuthTimeout(id), now + c.auth_timeout);
        }
        self.set_first_ping_timer(id, now);
        self.mark_dirty(id);
        self.schedule_flushes();
        id
    }

    /// Starts TLS on a route as nats-server does, at once on both sides:
    /// the dialer (`host`: the host it dialed) as the TLS client, the
    /// accepted side as the server. Returns the handshake timer to set.
    /// A `cluster.tls` that could not be built fails the route closed.
    pub(crate) fn route_tls(
        &mut self,
        route: &mut Conn,
        host: Option<&str>,
        now: Instant,
    ) -> Option<(TimerKey, Instant)> {
        let built = &self.tls.route;
        if !built.asked() {
            return None;
        }
        let Some(config) = built.config() else {
            return crate::engine::tls::fail_closed(route, now);
        };
        match host {
            Some(host) => crate::engine::tls::dial(route, config, host, now),
            None => crate::engine::tls::accept_first(route, config, now),
        }
    }

    /// This server's `cluster { compression }` (routes off without a
    /// cluster).
    pub(crate) fn route_compression(&self) -> crate::compression::Compression {
        self.options
            .cluster
            .as_ref()
            .map(|c| c.compression.clone())
            .unwrap_or_default()
    }

    /// The user and password of `cluster { authorization }`, when set:
    /// what peers must send, and what we send to a peer that asks.
    pub(crate) fn cluster_credentials(&self) -> Option<&(String, String)> {
        self.options.cluster.as_ref()?.credentials.as_ref()
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

    /// Host, port and `ip` of our route INFO: the listener's, or with
    /// `advertise` (`host[:port]`, the port defaulting to the listener's)
    /// that address, also as `ip` = `nats-route://host:port/`.
    fn own_route_info(&self) -> (String, u16, String) {
        let Some(c) = self.options.cluster.as_ref() else {
            return ("0.0.0.0".to_string(), 0, String::new());
        };
        if c.advertise.is_empty() {
            return (c.host.clone(), c.port, String::new());
        }
        let (host, port) = match c.advertise.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h.to_string(), p.parse().unwrap_or(c.port))
            }
            _ => (c.advertise.clone(), c.port),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let ip = format!("nats-route://{}/", join_host_port(&host, port));
        (host, port, ip)
    }

    /// Writes this server's route INFO into `scratch`: with a nonce and
    /// nats-server's trailing space when sent at accept, without either
    /// when a soliciting side sends it after CONNECT.
    pub(crate) fn write_route_info(
        &mut self,
        nonce: &str,
        trailing_space: bool,
        compression: Option<&str>,
    ) {
        let (host, port, ip) = self.own_route_info();
        let urls = self.advertised_urls();
        let leaf_urls = self.gossiped_leaf_urls();
        let gateway_url = self.own_gateway_url();
        let auth = self.cluster_credentials().is_some();
        let mut out = std::mem::take(&mut self.scratch);
        OwnRouteInfo {
            server_id: &self.info.server_id,
            server_name: &self.info.server_name,
            version: &self.info.version,
            host: &host,
            port,
            max_payload: self.options.max_payload,
            nonce,
            cluster: &self.info.cluster,
            cluster_dynamic: self.info.cluster_dynamic,
            connect_urls: &urls,
            compression,
            auth_required: auth,
            tls: self.tls.route.asked(),
            ip: &ip,
            lnoc: self.options.leaf.is_some(),
            leafnode_urls: &leaf_urls,
            gateway_url: &gateway_url,
        }
        .write(&mut out, trailing_space);
        self.scratch = out;
    }

    // ---- ops on a route connection ---------------------------------------

    /// Handles one op read from a route connection.
    pub(crate) fn process_route_op(&mut self, conn: ConnId, op: ClientOp, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(link) = c.route() else {
            return;
        };
        // A valid CONNECT came (accepted side), or we dialed.
        let connected = c.connect_received;
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
            ClientOp::Pong => self.process_pong(conn, now),
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
                origin,
                account,
                subject,
                queue,
                weight,
            } if registered => self.route_sub(conn, origin, account, subject, queue, weight, now),
            ClientOp::RouteUnsub {
                origin,
                account,
                subject,
                queue,
            } if registered => {
                self.route_unsub(
                    conn,
                    origin.as_deref(),
                    &account,
                    &subject,
                    queue.as_deref(),
                );
            }
            ClientOp::RouteMsg {
                origin,
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
                self.route_msg(conn, origin.as_deref(), &account, &queues, &msg, now);
            }
            // Interest or messages before the route is registered (a
            // connection about to be dropped as a duplicate): ignored.
            ClientOp::RouteSub { .. } | ClientOp::RouteUnsub { .. } | ClientOp::RouteMsg { .. } => {
            }
            ClientOp::Pub { .. }
            | ClientOp::HPub { .. }
            | ClientOp::Sub { .. }
            | ClientOp::Unsub { .. }
            | ClientOp::LeafSub { .. }
            | ClientOp::LeafUnsub { .. }
            | ClientOp::LeafMsg { .. }
            | ClientOp::AccountSub(_)
            | ClientOp::AccountUnsub(_) => {
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
            .and_then(|c| c.route())
            .is_some_and(|l| l.solicit.is_some());
        if solicited {
            return;
        }
        self.timers.cancel(TimerKey::AuthTimeout(conn));
        let Ok(connect) = serde_json::from_slice::<RouteConnect>(json) else {
            self.close(conn, CloseReason::ProtocolViolation, true, true, now);
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
        if let Some((user, pass)) = self.cluster_credentials() {
            let ok = connect.user.as_deref() == Some(user.as_str())
                && connect
                    .pass
                    .as_deref()
                    .is_some_and(|p| crate::auth::password_matches(pass, p));
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
                connect.cluster, self.info.cluster
            );
            tracing::error!("rid:{} - {}", conn.0, text);
            self.refuse(conn, &text, CloseReason::ClusterNameConflict, now);
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.connect_received = true;
        }
    }

    /// Sends `-ERR '<text>'` and closes after flushing.
    /// Whether a peer's cluster name is acceptable; a generated name of
    /// ours gives way to a configured one, or to a larger generated one.
    fn cluster_names_agree(&mut self, theirs: &str, their_dynamic: bool) -> bool {
        if theirs == self.info.cluster || theirs.is_empty() {
            return true;
        }
        if self.info.cluster_dynamic && (!their_dynamic || theirs > self.info.cluster.as_str()) {
            tracing::info!("Cluster name updated to {theirs}");
            self.info.cluster = theirs.to_string();
            self.info.cluster_dynamic = their_dynamic;
            return true;
        }
        // Their generated name gives way to ours.
        their_dynamic
    }

    /// INFO on a route: the first registers the route; later ones with
    /// another server's id are gossip about peers to dial.
    fn route_info(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        // A gateway a cluster peer reached (`gateway_cmd` 1).
        if self.gateway_info_from_route(json, now) {
            return;
        }
        let Ok(info) = serde_json::from_slice::<RouteInfo>(json) else {
            tracing::debug!("rid:{} - bad route INFO", conn.0);
            return;
        };
        let Some(link) = self.conns.get(&conn).and_then(|c| c.route()) else {
            return;
        };
        match &link.remote {
            None => self.first_route_info(conn, info, now),
            Some(remote) if remote.server_id != info.server_id => {
                if link.registered {
                    self.gossiped_route(info, now);
                }
            }
            // An update from the peer itself: nothing Canopy acts on.
            Some(_) => {}
        }
    }

    fn first_route_info(&mut self, conn: ConnId, info: RouteInfo, now: Instant) {
        let solicit = self
            .conns
            .get(&conn)
            .and_then(|c| c.route())
            .and_then(|l| l.solicit);
        if info.server_id == self.info.server_id {
            if let Some(t) = solicit.and_then(|i| self.solicitor.get_mut(i)) {
                t.is_self = true;
                tracing::debug!(
                    "Detected route to self, ignoring \"nats://{}\"",
                    t.addr().host_port()
                );
            }
            self.close(conn, CloseReason::DuplicateRoute, false, true, now);
            return;
        }
        // Compression first, as nats-server: a refusal below then reaches
        // a peer whose reader already switched in the form it reads.
        if self.route_s2(conn, &info, solicit.is_some(), now) {
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
                self.info.cluster
            );
            self.close(conn, CloseReason::ClusterNameConflict, false, true, now);
            return;
        }
        if let Some(t) = solicit.and_then(|i| self.solicitor.get_mut(i)) {
            t.server_id = info.server_id.clone();
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
            if let Some(t) = solicit.and_then(|i| self.solicitor.get_mut(i)) {
                // The kept connection stands in for this dial: if it dies,
                // re-dial at once (nats-server hands it this URL).
                t.conn = None;
                t.fast_redial = true;
            }
            self.close(conn, CloseReason::DuplicateRoute, false, true, now);
            return;
        }
        self.register_route(conn, info);
    }

    /// S2 negotiation on the peer's first INFO (`engine/compress.rs`).
    /// True when the route waits for the peer's compressed INFO, or was
    /// closed.
    fn route_s2(&mut self, conn: ConnId, info: &RouteInfo, solicited: bool, now: Instant) -> bool {
        let Some(s2) = self
            .conns
            .get(&conn)
            .map(|c| (c.s2.negotiated(), c.s2.await_info))
        else {
            return true;
        };
        match s2 {
            (_, true) => self.s2_settled(conn),
            (true, false) => {}
            (false, false) => {
                let own = self.route_compression();
                if !own.negotiates() {
                    self.s2_without(conn, &own, &info.compression);
                    return false;
                }
                let info_text = |s: &mut Server, mode: &'static str| {
                    s.scratch.clear();
                    s.write_route_info("", false, Some(mode));
                    s.scratch.clone()
                };
                match self.s2_negotiate(conn, &own, &info.compression, solicited, info_text, now) {
                    Ok(started) => return started,
                    Err(text) => {
                        tracing::error!("rid:{} - {text}", conn.0);
                        self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
                        return true;
                    }
                }
            }
        }
        false
    }

    fn register_route(&mut self, conn: ConnId, info: RouteInfo) {
        let (peer, solicited, mode) = match self.conns.get(&conn) {
            Some(c) => (
                c.peer,
                c.route().is_some_and(|l| l.solicit.is_some()),
                c.s2.mode,
            ),
            None => return,
        };
        // A soliciting side that negotiates compression sent no INFO at
        // dial: it goes now, before our interest, naming the link's mode
        // (`s2_auto` when configured so).
        let own = self.route_compression();
        if solicited && own.negotiates() {
            let mode = own.info_for(mode.unwrap_or(crate::compression::Mode::Off));
            self.scratch.clear();
            self.write_route_info("", false, Some(mode));
            if let Some(c) = self.conns.get_mut(&conn) {
                c.out.push_slice(self.scratch.as_bytes());
                c.trace_out(format_args!("{}", self.scratch.trim_end()));
            }
        }
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
            .and_then(|c| c.route())
            .and_then(|l| l.solicit)
        {
            if let Some(t) = self.solicitor.get_mut(i) {
                t.attempts = 0;
                t.was_registered = true;
            }
        }
        // The URL others should dial for this peer.
        let mut info = info;
        if info.ip.is_empty() {
            let host = if info.host.is_empty() || info.host == "0.0.0.0" || info.host == "::" {
                peer.ip().to_string()
            } else {
                info.host.clone()
            };
            info.ip = format!("nats-route://{}/", join_host_port(&host, info.port));
        }
        // Tell the other routes about the new peer (gossip). nats-server
        // does not when it dialed the peer because of gossip itself; Canopy
        // always does: after two members restart, the one that re-dials
        // them may be the only one that can introduce them to each other
        // (the simulator found such a partial mesh). Receivers ignore
        // peers they already have.
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
            cluster: &self.info.cluster,
            cluster_dynamic: self.info.cluster_dynamic,
            connect_urls: &info.connect_urls,
            compression: None,
            auth_required: info.auth_required,
            tls: self.tls.route.asked(),
            ip: &info.ip,
            lnoc: info.lnoc,
            leafnode_urls: &info.leafnode_urls,
            gateway_url: &info.gateway_url,
        }
        .write(&mut out, false);
        let others: Vec<ConnId> = self.routes.by_id.values().copied().collect();
        for other in others {
            if let Some(c) = self.conns.get_mut(&other) {
                c.out.push_slice(out.as_bytes());
                self.mark_dirty(other);
            }
        }
        self.scratch = out;
        if let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.route_mut()) {
            link.registered = true;
            link.remote = Some(info);
        }
        self.routes.by_id.insert(remote_id, conn);
        // Our whole interest, every account (and that of the leaf
        // clusters behind us, to a peer that takes its origin).
        if let Some(c) = self.conns.get_mut(&conn) {
            let lnoc = c
                .route()
                .and_then(|l| l.remote.as_ref())
                .is_some_and(|r| r.lnoc);
            for ((account, subject, queue, origin), n) in &self.routes.leaf_local {
                if lnoc {
                    let name = &self.accounts[account.0 as usize].name;
                    interest::write_leaf_interest(
                        &mut c.out,
                        origin,
                        name,
                        subject,
                        queue.as_ref(),
                        *n,
                    );
                }
            }
            // A peer that takes no origin hears the leaf clusters'
            // interest as ours (nats-server's fallback to RS+).
            let mut totals = self.routes.local.clone();
            if !lnoc {
                for ((account, subject, queue, _), n) in &self.routes.leaf_local {
                    *totals
                        .entry((*account, subject.clone(), queue.clone()))
                        .or_insert(0) += n;
                }
            }
            for ((account, subject, queue), n) in &totals {
                let name = &self.accounts[account.0 as usize].name;
                write_interest(&mut c.out, name, subject, queue.as_ref(), *n);
            }
        }
        // The gateways we reached, so that the peer reaches them too; and
        // the peer's gateway URL joins our cluster's.
        self.gateways_to_route(conn);
        if let Some(url) = self
            .conns
            .get(&conn)
            .and_then(|c| c.route())
            .and_then(|l| l.remote.as_ref())
            .map(|r| r.gateway_url.clone())
        {
            self.add_cluster_gateway_url(url);
        }
        self.mark_dirty(conn);
        self.update_connect_urls();
    }

    /// Forgets a registered route that closed: its interest goes at once,
    /// its client URLs leave `connect_urls`, and a dialed route is re-dialed.
    pub(crate) fn route_closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Route(link) = &mut c.kind else {
            return;
        };
        match link.remote.as_ref() {
            Some(r) => tracing::info!(
                "{} - rid:{} - Router connection closed: {} - Remote: {}",
                c.peer,
                c.cid,
                reason,
                r.server_name
            ),
            None => tracing::info!(
                "{} - rid:{} - Router connection closed: {}",
                c.peer,
                c.cid,
                reason
            ),
        }
        let subs = std::mem::take(&mut link.subs);
        let mut origins = std::mem::take(&mut link.origins);
        let registered = link.registered;
        link.registered = false;
        let solicit = link.solicit;
        let remote_id = link.remote.as_ref().map(|r| r.server_id.clone());
        let gateway_url = link.remote.as_ref().map(|r| r.gateway_url.clone());
        let mut subs: Vec<(Option<Bytes>, AccountId, Arc<Subscription>)> = subs
            .into_iter()
            .map(|(key, (account, sub))| (origins.remove(&key), account, sub))
            .collect();
        subs.sort_unstable_by_key(|(_, _, s)| s.seq);
        self.begin_leaf_batch();
        for (origin, account, sub) in subs {
            self.accounts[account.0 as usize].remote.remove(&sub);
            if registered {
                let delta = -sub.members();
                self.interest_changed(
                    crate::router::Origin::Route,
                    Some(conn),
                    account,
                    &sub.subject,
                    sub.queue.as_ref(),
                    delta,
                    origin.as_deref(),
                );
            }
        }
        self.end_leaf_batch();
        if registered {
            if let Some(url) = gateway_url {
                self.remove_cluster_gateway_url(&url);
            }
            if let Some(id) = &remote_id {
                if self.routes.by_id.get(id) == Some(&conn) {
                    self.routes.by_id.remove(id);
                }
            }
            self.update_connect_urls();
        }
        if let Some(i) = solicit {
            if let Some(t) = self.solicitor.get_mut(i).filter(|t| t.conn == Some(conn)) {
                t.conn = None;
                if !registered {
                    // The dial connected but the route never registered
                    // (refused, or a duplicate): the failure path.
                    self.redial_route(i, false, now);
                }
            }
        }
        // A registered route went away: re-dial every route we know for
        // that server (the connection may have been the peer's dial).
        if let (true, Some(id)) = (registered, remote_id) {
            let again: Vec<usize> = self
                .solicitor
                .iter()
                .filter(|&(i, t)| {
                    t.kind == LinkKind::Route
                        && (t.server_id == id || solicit == Some(i))
                        && t.conn.is_none()
                        && !t.done
                })
                .map(|(i, _)| i)
                .collect();
            for i in again {
                self.redial_route(i, true, now);
            }
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
                    .and_then(|c| c.route())
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
        self.leaf_urls_changed();
        if no_advertise || urls == self.info.connect_urls {
            return;
        }
        self.info.connect_urls = urls;
        self.send_connect_urls();
    }

    /// The leaf URLs registered route peers gossiped, by peer id.
    pub(crate) fn route_leaf_urls(&self) -> Vec<String> {
        let mut urls = Vec::new();
        for conn in self.routes.by_id.values() {
            let Some(remote) = self
                .conns
                .get(conn)
                .and_then(|c| c.route())
                .and_then(|l| l.remote.as_ref())
            else {
                continue;
            };
            for u in &remote.leafnode_urls {
                if !urls.contains(u) {
                    urls.push(u.clone());
                }
            }
        }
        urls
    }
}

/// Whether a client listener host is every address (`0.0.0.0`, `::`).
fn is_any_host(host: &str) -> bool {
    matches!(host, "0.0.0.0" | "::" | "[::]" | "")
}

/// Go's `IsGlobalUnicast`: not loopback, link-local, multicast,
/// unspecified or broadcast (private and unique-local addresses count).
fn is_global_unicast(ip: &core::net::IpAddr) -> bool {
    match ip {
        core::net::IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast())
        }
        core::net::IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback() || v6.is_multicast() || v6.is_unspecified() || link_local)
        }
    }
}
