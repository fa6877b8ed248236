//! The soliciting side: `leafnodes.remotes` become solicitor targets,
//! dialed at start and again after every failure or close; the hub's
//! INFO is checked (a port that is not a leaf port is refused), answered
//! with CONNECT, and the connect-info INFO completes the link.

use super::info::{LeafInfo, OwnLeafConnect};
use super::{with_denies, Handshake, LeafLink, LeafPeer};
use crate::account::GLOBAL_ACCOUNT;
use crate::conn::{Conn, ConnKind};
use crate::engine::Server;
use crate::events::{CloseReason, LinkKind, TimerKey};
use crate::ids::ConnId;
use crate::perms::{Entry, Rule};
use crate::route::RouteAddr;
use crate::time::Instant;
use bytes::Bytes;
use core::net::SocketAddr;
use std::time::Duration;

/// How long a leaf waits for the connect-info INFO after its CONNECT
/// before it gives up on the hub (nats-server's 2 s).
const CONNECT_INFO_WAIT: Duration = Duration::from_secs(2);

impl Server {
    /// Sets up the remotes at start: one solicitor target each (its URLs
    /// shuffled once unless `no_randomize`), dialed at once.
    pub(crate) fn init_leafs(&mut self, now: Instant) {
        let Some(leaf) = self.options.leaf.clone() else {
            return;
        };
        for remote in &leaf.remotes {
            let target = if remote.disabled {
                None
            } else {
                let shuffle = (!remote.no_randomize).then_some(&mut self.dials_rng);
                self.solicitor.add(
                    LinkKind::Leaf,
                    remote.urls.clone(),
                    true,
                    String::new(),
                    shuffle,
                )
            };
            if let Some(i) = target {
                self.timers.set(TimerKey::Dial(i as u32), now);
            }
            self.leafs.remotes.push(target);
        }
        self.leafs.advertised = self.leafnode_urls();
    }

    /// How long a dial of target `i` may take: its remote's
    /// `dial_timeout`, else the leafnodes one (1 s).
    pub(crate) fn leaf_dial_timeout(&self, i: usize) -> Duration {
        let Some(leaf) = self.options.leaf.as_ref() else {
            return Duration::from_secs(1);
        };
        self.remote_of(i)
            .and_then(|ri| leaf.remotes.get(ri))
            .and_then(|r| r.dial_timeout)
            .unwrap_or(leaf.dial_timeout)
    }

    /// The index of the remote a solicitor target belongs to.
    fn remote_of(&self, target: usize) -> Option<usize> {
        self.leafs.remotes.iter().position(|t| *t == Some(target))
    }

    /// A leaf dial connected: the link waits for the hub's INFO.
    pub(crate) fn leaf_dialed(
        &mut self,
        conn: ConnId,
        target: usize,
        lid: u64,
        peer: SocketAddr,
        now: Instant,
    ) -> bool {
        let Some(ri) = self.remote_of(target) else {
            return false;
        };
        let Some(remote) = self.options.leaf.as_ref().and_then(|l| l.remotes.get(ri)) else {
            return false;
        };
        let account_name = if remote.account.is_empty() {
            GLOBAL_ACCOUNT
        } else {
            remote.account.as_str()
        };
        let Some(account) = self.account_by_name(account_name.as_bytes()) else {
            return false;
        };
        let wait = remote.first_info_timeout;
        let link = LeafLink {
            solicit: Some(target),
            remote: Some(ri),
            hub_role: remote.hub,
            account,
            handshake: Handshake::AwaitInfo,
            isolated: remote.isolate,
            send: with_denies(None, &remote.deny_exports),
            take: with_denies(None, &remote.deny_imports),
            ..LeafLink::default()
        };
        // `wss://`: TLS at once, then the upgrade under it.
        let ws = remote.websocket.clone();
        let first = remote.tls.as_ref().is_some_and(|t| t.handshake_first)
            || (ws.is_some() && remote.tls.is_some());
        let mut c = Conn::new(conn, lid, peer, ConnKind::Leaf(Box::new(link)), now);
        c.headers = true;
        c.s2 = crate::engine::compress::S2Link::new(&remote.compression);
        // The peer speaks first; no CONNECT is expected from it.
        c.connect_received = true;
        self.conns.insert(conn, c);
        self.timers.set(TimerKey::LeafHandshake(conn), now + wait);
        if first {
            // handshake_first: the ClientHello goes before the hub's INFO
            // (outside any read: no rest to pass through it).
            let _ = self.leaf_tls_start(conn, ri, now);
            self.tls.switched_in_op = None;
        }
        if let Some(ws) = ws {
            let Some(addr) = self.solicitor.get(target).map(|t| t.addr().clone()) else {
                return false;
            };
            // The path of the configured URL dialed (a discovered one
            // takes the first's).
            let path = self
                .options
                .leaf
                .as_ref()
                .and_then(|l| l.remotes.get(ri))
                .and_then(|r| {
                    let i = r
                        .urls
                        .iter()
                        .position(|u| u.host == addr.host && u.port == addr.port)
                        .unwrap_or(0);
                    ws.paths.get(i).cloned()
                })
                .unwrap_or_default();
            self.ws_solicit(
                conn,
                &addr.host_port(),
                &path,
                ws.compression,
                ws.no_masking,
            );
        }
        true
    }

    /// Before answering the hub's INFO: starts TLS if the remote has a
    /// tls block (or a `tls://` URL) or the hub requires it, and it is not
    /// on yet. False when the link was closed instead.
    fn leaf_tls_upgrade(&mut self, conn: ConnId, hub_requires: bool, now: Instant) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        // A websocket's TLS is settled before its upgrade (nats-server
        // checks a hub's `tls_required` only on plain TCP links).
        if c.transport.tls().is_some() || c.transport.ws().is_some() {
            return true;
        }
        let Some(ri) = c.leaf().and_then(|l| l.remote) else {
            return true;
        };
        let wants = self
            .options
            .leaf
            .as_ref()
            .and_then(|l| l.remotes.get(ri))
            .is_some_and(|r| r.tls.is_some());
        if !wants && !hub_requires {
            return true;
        }
        self.leaf_tls_start(conn, ri, now)
    }

    /// Starts the TLS client side of a solicited leaf link with remote
    /// `ri`'s block (the defaults when it has none), checking the hub's
    /// certificate against the host dialed.
    fn leaf_tls_start(&mut self, conn: ConnId, ri: usize, now: Instant) -> bool {
        let built = match self.tls.leaf_remotes.get(ri) {
            Some(b) if b.asked() => Some(b),
            _ => self.tls.leaf_upgrades.get(ri),
        };
        let Some(config) = built.and_then(crate::engine::tls::Built::config).cloned() else {
            self.close(conn, CloseReason::TlsHandshakeError, false, true, now);
            return false;
        };
        let host = self
            .conns
            .get(&conn)
            .and_then(|c| c.leaf())
            .and_then(|l| l.solicit)
            .and_then(|t| self.solicitor.get(t))
            .map(|t| t.addr().host.clone())
            .unwrap_or_default();
        self.tls_dial(conn, &config, &host, now)
    }

    /// A leaf dial failed: logged as nats-server does (the first failure
    /// and every 3600th at error level), and retried after the reconnect
    /// interval plus jitter up to as much again.
    pub(crate) fn leaf_dial_failed(&mut self, target: usize, attempt: u32, now: Instant) {
        let Some(addr) = self.solicitor.get(target).map(|t| t.addr().host_port()) else {
            return;
        };
        let text = format!(
            "Error trying to connect as leafnode to remote server {addr:?} (attempt {attempt}): \
             connection refused"
        );
        if attempt % 3600 == 1 {
            tracing::error!("{text}");
        } else {
            tracing::debug!("{text}");
        }
        if let Some(t) = self.solicitor.get_mut(target) {
            t.attempts = attempt;
        }
        self.redial_leaf(target, false, now);
    }

    /// Schedules the next dial of a remote: after a dropped link
    /// (`disconnected`) the reconnect interval plus seeded jitter of up to
    /// a tenth of it plus any penalty it owes (a loop or same-cluster
    /// refusal), after a failed dial the interval plus seeded jitter of up
    /// to one interval.
    pub(crate) fn redial_leaf(&mut self, target: usize, disconnected: bool, now: Instant) {
        if self.solicitor.stopping {
            return;
        }
        let interval = self
            .options
            .leaf
            .as_ref()
            .map_or(Duration::from_secs(1), |l| l.reconnect);
        let penalty = self.leafs.penalty.remove(&target).unwrap_or_default();
        let delay = if disconnected {
            if let Some(t) = self.solicitor.get_mut(target) {
                t.attempts = 0;
                t.conn = None;
            }
            // Seeded jitter of up to a tenth of the interval, so that a
            // hub's many leafs do not all come back in the same instant
            // after it restarts (nats-server waits the interval exactly).
            let tenth = u64::try_from(interval.as_nanos() / 10)
                .unwrap_or(u64::MAX)
                .max(1);
            interval + Duration::from_nanos(self.jitter_rng.below(tenth)) + penalty
        } else {
            let ns = u64::try_from(interval.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1);
            interval + Duration::from_nanos(self.jitter_rng.below(ns)) + penalty
        };
        self.timers.set(TimerKey::Dial(target as u32), now + delay);
    }

    /// An INFO on a leaf link. On a solicited link: the hub's first INFO
    /// (answered with CONNECT), then its connect-info INFO (registration),
    /// then updates. On an accepted link only the leaf's compression INFO
    /// (before its CONNECT) means anything.
    pub(crate) fn leaf_info(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        let Some(link) = self.conns.get(&conn).and_then(|c| c.leaf()) else {
            return;
        };
        if link.solicit.is_none() {
            self.leaf_hub_info(conn, json, now);
            return;
        }
        let stage = link.handshake;
        let Ok(info) = serde_json::from_slice::<LeafInfo>(json) else {
            self.close(conn, CloseReason::ProtocolViolation, true, true, now);
            return;
        };
        // A WebSocket remote learns the hub cluster's websocket URLs, a
        // plain one its leaf URLs (nats-server's `updateLeafNodeURLs`).
        let ws = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.transport.ws().is_some());
        let urls = if ws {
            info.ws_connect_urls.as_ref()
        } else {
            info.leafnode_urls.as_ref()
        };
        if let Some(urls) = urls {
            self.discovered_hubs(conn, urls);
        }
        match stage {
            Handshake::AwaitInfo => self.hub_info(conn, info, now),
            Handshake::AwaitConnectInfo if info.connect_info => {
                self.timers.cancel(TimerKey::LeafHandshake(conn));
                if self.hub_already_our_spoke(conn) {
                    self.leaf_loop(conn, now);
                    return;
                }
                self.adopt_hub_permissions(conn, &info);
                self.register_leaf(conn, now);
            }
            Handshake::AwaitConnectInfo
            | Handshake::AwaitSignature
            | Handshake::AwaitConnect
            | Handshake::Done => {}
        }
    }

    /// The hub's cluster told us its leaf URLs: the remote's candidates
    /// become those not configured, then the configured ones (nats-server's
    /// order); discovered URLs take the first configured URL's
    /// credentials.
    fn discovered_hubs(&mut self, conn: ConnId, urls: &[String]) {
        let Some(ri) = self
            .conns
            .get(&conn)
            .and_then(|c| c.leaf())
            .and_then(|l| l.remote)
        else {
            return;
        };
        let Some(target) = self.leafs.remotes.get(ri).copied().flatten() else {
            return;
        };
        let Some(remote) = self.options.leaf.as_ref().and_then(|l| l.remotes.get(ri)) else {
            return;
        };
        if remote.ignore_discovered {
            return;
        }
        let configured = &remote.urls;
        let Some(first) = configured.first() else {
            return;
        };
        let mut all: Vec<RouteAddr> = Vec::new();
        for u in urls {
            let Some(mut addr) = RouteAddr::parse(u) else {
                continue;
            };
            if configured
                .iter()
                .any(|c| c.host == addr.host && c.port == addr.port)
                || all
                    .iter()
                    .any(|c| c.host == addr.host && c.port == addr.port)
            {
                continue;
            }
            addr.user.clone_from(&first.user);
            addr.password.clone_from(&first.password);
            all.push(addr);
        }
        all.extend(configured.iter().cloned());
        self.solicitor.set_urls(target, all);
    }

    /// The hub's first INFO: refused when it is no leaf port (no
    /// `client_id`, or neither `leafnode_urls` nor `info_on_connect`, as
    /// 2.15.1 decides), else answered with our CONNECT.
    fn hub_info(&mut self, conn: ConnId, info: LeafInfo, now: Instant) {
        if info.client_id == 0 || (info.leafnode_urls.is_none() && !info.info_on_connect) {
            tracing::error!(
                "{} - attempted to connect to wrong port",
                self.conn_label(conn)
            );
            self.close(conn, CloseReason::WrongPort, false, true, now);
            return;
        }
        // TLS when the remote asks for it or the hub requires it (a plain
        // `nats://` URL upgrades, as nats-server's does), unless it is up
        // already (handshake_first). The CONNECT below goes out under it.
        if !self.leaf_tls_upgrade(conn, info.tls_required, now) {
            return;
        }
        if self.leaf_solicit_s2(conn, &info, now) {
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // A hub that takes no headers gets messages without them.
        c.headers = info.headers;
        let (peer, lid) = (c.peer, c.cid);
        let Some(link) = c.leaf_mut() else {
            return;
        };
        link.peer = LeafPeer {
            server_id: info.server_id.clone(),
            name: info.server_name.clone(),
            cluster: Bytes::copy_from_slice(info.cluster.as_bytes()),
            remote_account: String::new(),
        };
        link.info_on_connect = info.info_on_connect;
        let (account, remote) = (link.account, link.remote);
        let account = &self.accounts[account.0 as usize].name;
        tracing::info!("{peer} - lid:{lid} - Leafnode connection created for account: {account} ");
        let signs = remote
            .and_then(|ri| self.options.leaf.as_ref()?.remotes.get(ri))
            .is_some_and(|r| r.signs());
        match remote {
            Some(ri) if signs => {
                if let Some(link) = self.conns.get_mut(&conn).and_then(|c| c.leaf_mut()) {
                    link.handshake = Handshake::AwaitSignature;
                }
                self.actions.push_back(crate::Action::SignNonce {
                    conn,
                    remote: ri,
                    nonce: info.nonce.clone(),
                });
                self.timers
                    .set(TimerKey::LeafHandshake(conn), now + CONNECT_INFO_WAIT);
            }
            _ => self.send_leaf_connect(conn, None, now),
        }
    }

    /// S2 negotiation on the hub's first INFO (`engine/compress.rs`):
    /// true when the link now waits for the hub's compressed INFO, or was
    /// closed. The hub's next INFO comes back here as the first.
    fn leaf_solicit_s2(&mut self, conn: ConnId, info: &LeafInfo, now: Instant) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return true;
        };
        if c.s2.await_info {
            self.s2_settled(conn);
            return false;
        }
        if c.s2.negotiated() {
            return false;
        }
        let remote = c.leaf().and_then(|l| l.remote);
        // Over a WebSocket that compresses, S2 is not used: the link's
        // mode is `off` (nats-server's `negotiateLeafCompression`).
        if c.transport.ws().is_some_and(|w| w.compress()) {
            let off = crate::compression::Compression::default();
            self.s2_without(conn, &off, "off");
            return false;
        }
        let own = self.leaf_compression(remote);
        if !own.negotiates() {
            self.s2_without(conn, &own, &info.compression);
            return false;
        }
        let lid = c.cid;
        let ours = move |_: &mut Server, mode: &'static str| {
            format!("INFO {{\"server_id\":\"\",\"server_name\":\"\",\"version\":\"\",\"proto\":0,\"go\":\"\",\"host\":\"\",\"port\":0,\"headers\":false,\"max_payload\":0,\"client_id\":{lid},\"compression\":\"{mode}\"}}\r\n")
        };
        match self.s2_negotiate(conn, &own, &info.compression, true, ours, now) {
            Ok(started) => started,
            Err(text) => {
                tracing::error!("{} - {text}", self.conn_label(conn));
                self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
                true
            }
        }
    }

    /// The answer to [`crate::Action::SignNonce`] for leaf link `conn`:
    /// the signature (and JWT or NKey) goes into its CONNECT; an error
    /// (`Err` with the reason) closes the link, which is dialed again.
    /// An answer for a link that no longer waits for one is ignored.
    pub fn handle_signature(
        &mut self,
        conn: ConnId,
        signed: Result<crate::auth::NonceSignature, String>,
        now: Instant,
    ) {
        let waiting = self
            .conns
            .get(&conn)
            .and_then(|c| c.leaf())
            .is_some_and(|l| l.handshake == Handshake::AwaitSignature);
        if waiting {
            match signed {
                Ok(sig) => self.send_leaf_connect(conn, Some(&sig), now),
                Err(why) => {
                    tracing::error!("{} - Error signing the nonce: {why}", self.conn_label(conn));
                    self.close(conn, CloseReason::AuthenticationViolation, false, true, now);
                }
            }
        }
        self.schedule_flushes();
    }

    /// Writes our CONNECT on solicited link `conn` (with the nonce's
    /// signature, when the remote signs) and waits for the connect-info
    /// INFO (an older hub sends none: the link registers at once).
    fn send_leaf_connect(
        &mut self,
        conn: ConnId,
        sig: Option<&crate::auth::NonceSignature>,
        now: Instant,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(link) = c.leaf() else {
            return;
        };
        let Some(target) = link.solicit else {
            return;
        };
        let Some(remote) = link
            .remote
            .and_then(|ri| self.options.leaf.as_ref()?.remotes.get(ri))
        else {
            return;
        };
        let Some(addr) = self.solicitor.get(target).map(|t| t.addr().clone()) else {
            return;
        };
        let info_on_connect = link.info_on_connect;
        let account = &self.accounts[link.account.0 as usize].name;
        let compress_mode = c.s2.mode_str();
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        OwnLeafConnect {
            nkey: sig.and_then(|s| s.nkey.as_deref()),
            jwt: sig.and_then(|s| s.jwt.as_deref()),
            sig: sig.map(|s| s.sig.as_str()),
            user: addr.user.as_deref(),
            pass: addr.password.as_deref(),
            server_id: &self.info.server_id,
            name: &self.info.server_name,
            is_hub: remote.hub,
            cluster: self.leaf_cluster_name(),
            deny_pub: &remote.deny_imports,
            isolate: remote.request_isolation,
            remote_account: account,
            compress_mode,
        }
        .write(&mut out);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.out.push_slice(out.as_bytes());
        c.trace_out(format_args!("{}", out.trim_end()));
        self.scratch = out;
        if let Some(link) = c.leaf_mut() {
            link.handshake = Handshake::AwaitConnectInfo;
        }
        self.mark_dirty(conn);
        if info_on_connect {
            self.timers
                .set(TimerKey::LeafHandshake(conn), now + CONNECT_INFO_WAIT);
        } else {
            // An older hub sends no connect-info INFO.
            self.timers.cancel(TimerKey::LeafHandshake(conn));
            self.register_leaf(conn, now);
        }
    }

    /// Whether the hub we solicited on `conn` is already attached to us as
    /// a spoke in the same account (its cluster on a link we are hub of):
    /// linking both ways would be a loop, which nats-server refuses when
    /// the solicited link completes.
    fn hub_already_our_spoke(&self, conn: ConnId) -> bool {
        let Some(link) = self.conns.get(&conn).and_then(|c| c.leaf()) else {
            return false;
        };
        let (account, cluster) = (link.account, &link.peer.cluster);
        !cluster.is_empty()
            && self.leafs.links.iter().any(|id| {
                *id != conn
                    && self.conns.get(id).and_then(|c| c.leaf()).is_some_and(|l| {
                        l.hub_role && l.account == account && l.peer.cluster == *cluster
                    })
            })
    }

    /// The connect-info INFO's permissions of the hub user: what we may
    /// export (its publish permissions) and import (its subscribe
    /// permissions), with our remote's own denies kept on top.
    fn adopt_hub_permissions(&mut self, conn: ConnId, info: &LeafInfo) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(link) = c.leaf_mut() else {
            return;
        };
        let to_rule = |p: &super::info::PermList| Rule {
            allow: p
                .allow
                .as_ref()
                .map(|a| a.iter().map(|s| Entry::parse(s)).collect()),
            deny: p.deny.iter().flatten().map(|s| Entry::parse(s)).collect(),
        };
        let merge = |base: Option<Rule>, own: Option<Rule>| match (base, own) {
            (Some(mut b), Some(o)) => {
                b.deny.extend(o.deny);
                Some(b)
            }
            (b, o) => b.or(o),
        };
        if let Some(export) = &info.export {
            link.send = merge(Some(to_rule(export)), link.send.take());
        }
        if let Some(import) = &info.import {
            link.take = merge(Some(to_rule(import)), link.take.take());
        }
        link.peer.remote_account.clone_from(&info.remote_account);
    }

    /// The handshake timer of a solicited link: no INFO from the hub in
    /// `first_info_timeout` (closed as a read error, as nats-server's read
    /// deadline does), or no connect-info INFO in 2 s (nats-server's
    /// stale-link error).
    pub(crate) fn leaf_handshake_timer(&mut self, conn: ConnId, now: Instant) {
        let Some(stage) = self
            .conns
            .get(&conn)
            .and_then(|c| c.leaf())
            .filter(|_| self.conns.get(&conn).is_some_and(|c| !c.closed))
            .map(|l| l.handshake)
        else {
            return;
        };
        match stage {
            Handshake::AwaitInfo => self.close(conn, CloseReason::ReadError, false, true, now),
            Handshake::AwaitConnectInfo => {
                let text = "Stale Leaf Node Connection - Closing";
                self.refuse(conn, text, CloseReason::StaleConnection, now);
            }
            Handshake::AwaitSignature => {
                tracing::error!(
                    "{} - Error signing the nonce: no signature in time",
                    self.conn_label(conn)
                );
                self.close(conn, CloseReason::AuthenticationTimeout, false, true, now);
            }
            Handshake::AwaitConnect | Handshake::Done => {}
        }
    }
}
