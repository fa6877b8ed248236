//! Leaf node links, both roles: the hub side (accepting on the leaf port,
//! checking CONNECT, binding the link to an account) and the soliciting
//! side (`leafnodes.remotes`, in `dial.rs`). Interest on the link (`LS+`,
//! `LS-`, loop detection) lives in `interest.rs`, messages (`LMSG`) in
//! `forward.rs`, the wire formats in `info.rs`.
//!
//! Compression and TLS come later: Canopy's hub INFO says
//! `"compression":"off"` and its CONNECT `"compress_mode":"off"`, which
//! keeps a default-configured nats-server peer plain in either role.

mod dial;
mod forward;
pub(crate) mod info;
mod inspect;
mod interest;
pub(crate) mod reload;

use crate::account::{AccountId, GLOBAL_ACCOUNT};
use crate::conn::ConnKind;
use crate::engine::{Msg, Server};
use crate::events::{CloseReason, TimerKey};
use crate::ids::ConnId;
use crate::info::ConnectOptions;
use crate::perms::{Entry, Rule};
use crate::proto::{ClientOp, ProtocolError};
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use core::net::SocketAddr;
use info::{write_leaf_info, LeafConnect, LeafInfo, LeafInfoExtra};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How long a hub or leaf waits before re-dialing after a loop, a
/// permission violation or a same-cluster refusal (nats-server's
/// `leafNodeReconnectAfterPermViolation` and kin).
pub(crate) const LOOP_DELAY: Duration = Duration::from_secs(30);

/// The engine's leaf state.
#[derive(Debug, Default)]
pub(crate) struct Leafs {
    /// Registered leaf links, in connection order.
    pub(crate) links: BTreeSet<ConnId>,
    /// Each account's loop-detection subject (`$LDS.<nuid>`), made when
    /// the account's first leaf link registers.
    pub(crate) lds: BTreeMap<AccountId, Bytes>,
    /// Solicitor target of each remote (`None`: disabled or no URL).
    pub(crate) remotes: Vec<Option<usize>>,
    /// Re-dial delays owed by remotes (a loop or same-cluster refusal):
    /// solicitor target -> extra delay before the next dial.
    pub(crate) penalty: BTreeMap<usize, Duration>,
    /// The `leafnode_urls` accepted links were last told.
    pub(crate) advertised: Vec<String>,
    /// Reused by forwarding: (link, queue group) targets of one message.
    pub(crate) targets: Vec<(ConnId, Option<Bytes>)>,
    /// While many subscriptions go at once (a closing connection): what
    /// each touched (link, subject, queue) had been told before, so that
    /// each is told its end state once.
    pub(crate) batch: Option<BTreeMap<TellKey, u32>>,
}

/// One thing a link was told: (link, subject, queue).
pub(crate) type TellKey = (ConnId, Bytes, Option<Bytes>);

/// Where a solicited link is in its handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Waiting for the hub's first INFO (soliciting side).
    #[default]
    AwaitInfo,
    /// The hub's INFO came: waiting for the nonce's signature
    /// ([`crate::Action::SignNonce`]) to send CONNECT.
    AwaitSignature,
    /// CONNECT sent, waiting for the connect-info INFO.
    AwaitConnectInfo,
    /// Accepted: waiting for the peer's CONNECT.
    AwaitConnect,
    /// Registered: interest and messages flow.
    Done,
}

/// Who is at the other end of a leaf link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LeafPeer {
    pub(crate) server_id: String,
    pub(crate) name: String,
    /// Its cluster name (its server name when it has no cluster), as
    /// bytes: every message from the link carries it.
    pub(crate) cluster: Bytes,
    /// The account it binds the link to on its side.
    pub(crate) remote_account: String,
}

/// What only a leaf link has.
#[derive(Debug, Default)]
pub(crate) struct LeafLink {
    /// The solicitor target this link was dialed for (soliciting side).
    pub(crate) solicit: Option<usize>,
    /// Index of its `leafnodes.remotes` entry (soliciting side).
    pub(crate) remote: Option<usize>,
    /// This server is the hub of the link: the peer is our spoke. By
    /// default the accepting side; `hub: true` on a remote reverses it.
    pub(crate) hub_role: bool,
    /// The local account the link is bound to.
    pub(crate) account: AccountId,
    pub(crate) handshake: Handshake,
    /// The nonce of our first INFO (hub side).
    pub(crate) nonce: String,
    /// The hub answers our CONNECT with a connect-info INFO (soliciting
    /// side).
    pub(crate) info_on_connect: bool,
    pub(crate) peer: LeafPeer,
    /// Interest from other leaf links is not told to it.
    pub(crate) isolated: bool,
    /// What the peer told us (`LS+`), by `subject[ queue]`.
    pub(crate) subs: BTreeMap<Bytes, Arc<Subscription>>,
    /// What we told the peer: (subject, queue) -> members.
    pub(crate) told: BTreeMap<(Bytes, Option<Bytes>), u32>,
    /// Subjects we may send to the peer (`deny_exports`, the peer's
    /// `deny_pub`, the bound user's permissions).
    pub(crate) send: Option<Rule>,
    /// Subjects we take from the peer and ask it for (`deny_imports`).
    pub(crate) take: Option<Rule>,
}

impl LeafLink {
    /// Whether registration finished.
    pub(crate) fn registered(&self) -> bool {
        self.handshake == Handshake::Done
    }

    /// The matrix's row for what comes in on this link.
    pub(crate) fn origin(&self) -> crate::router::Origin {
        if self.hub_role {
            crate::router::Origin::LeafHub
        } else {
            crate::router::Origin::LeafSpoke
        }
    }

    /// The matrix's column for what goes out on this link.
    pub(crate) fn dest(&self) -> crate::router::Dest {
        if self.hub_role {
            crate::router::Dest::LeafHubLinks
        } else {
            crate::router::Dest::LeafSpokeLinks
        }
    }
}

/// Whether `rule` lets `subject` through (no rule: everything).
pub(crate) fn rule_allows(rule: Option<&Rule>, subject: &[u8]) -> bool {
    rule.is_none_or(|r| r.allows(subject))
}

/// A rule that denies `deny` on top of `base`.
pub(crate) fn with_denies(base: Option<Rule>, deny: &[String]) -> Option<Rule> {
    if deny.is_empty() {
        return base;
    }
    let mut rule = base.unwrap_or_default();
    rule.deny.extend(deny.iter().map(|d| Entry::parse(d)));
    Some(rule)
}

impl Server {
    /// How many leaf links are registered (both roles).
    pub fn leaf_count(&self) -> usize {
        self.leafs.links.len()
    }

    /// The cluster name this server gives leafs, in its CONNECT and hub
    /// INFO: its cluster's (a gateway's, without a cluster block);
    /// without a cluster, its server name when it has remotes (nats-server's stable name for a soliciting server), else
    /// none.
    pub(crate) fn leaf_cluster_name(&self) -> &str {
        match self.cluster_name() {
            Some(c) if !c.is_empty() => c,
            // A gateway is a cluster of one: its name is the cluster's.
            _ if self.gateways_on() => &self.info.cluster,
            _ if self
                .options
                .leaf
                .as_ref()
                .is_some_and(|l| !l.remotes.is_empty()) =>
            {
                &self.info.server_name
            }
            _ => "",
        }
    }

    /// The leaf listener's host and port, as INFO shows them.
    fn leaf_listen(&self) -> (&str, u16) {
        self.options
            .leaf
            .as_ref()
            .map_or(("", 0), |l| (l.host.as_str(), l.port))
    }

    /// The `leafnode_urls` a hub gives its leafs: its own URL, then those
    /// its cluster peers gossiped.
    fn leafnode_urls(&self) -> Vec<String> {
        let mut urls = self.own_leaf_urls();
        for u in self.route_leaf_urls() {
            if !urls.contains(&u) {
                urls.push(u);
            }
        }
        urls
    }

    /// This server's leaf URL as route INFO gossips it: none with
    /// `no_advertise`.
    pub(crate) fn gossiped_leaf_urls(&self) -> Vec<String> {
        if self.options.leaf.as_ref().is_some_and(|l| l.no_advertise) {
            return Vec::new();
        }
        self.own_leaf_urls()
    }

    /// The set of leaf URLs may have changed (a route came or went): if
    /// it did, every accepted leaf link gets an INFO with the new list (no
    /// `client_id`, no nonce), as nats-server sends it.
    pub(crate) fn leaf_urls_changed(&mut self) {
        if self.options.leaf.as_ref().is_none_or(|l| l.port == 0) {
            return;
        }
        let urls = self.leafnode_urls();
        if urls == self.leafs.advertised {
            return;
        }
        self.leafs.advertised.clone_from(&urls);
        let accepted: Vec<ConnId> = self
            .leafs
            .links
            .iter()
            .copied()
            .filter(|id| {
                self.conns
                    .get(id)
                    .and_then(|c| c.leaf())
                    .is_some_and(|l| l.solicit.is_none())
            })
            .collect();
        if accepted.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        write_leaf_info(
            &self.info,
            &LeafInfoExtra {
                cluster: self.leaf_cluster_name(),
                leafnode_urls: &urls,
                listen: self.leaf_listen(),
                tls: self.leaf_tls_flags(),
                ..LeafInfoExtra::default()
            },
            &mut out,
        );
        for id in accepted {
            if let Some(c) = self.conns.get_mut(&id) {
                c.out.push_slice(out.as_bytes());
                c.schedule_flush(&mut self.dirty);
            }
        }
        self.scratch = out;
    }

    /// This server's own leaf URL: the advertised address or the
    /// listener's.
    fn own_leaf_urls(&self) -> Vec<String> {
        let Some(l) = self.options.leaf.as_ref().filter(|l| l.port != 0) else {
            return Vec::new();
        };
        if !l.advertise.is_empty() {
            return vec![l.advertise.clone()];
        }
        let host = if l.host == "0.0.0.0" || l.host == "::" || l.host.is_empty() {
            "127.0.0.1"
        } else {
            l.host.as_str()
        };
        vec![crate::route::join_host_port(host, l.port)]
    }

    /// The compression settings of a leaf link: the remote's (`Some`:
    /// its index) on a solicited link, the leafnodes block's on an
    /// accepted one.
    pub(crate) fn leaf_compression(
        &self,
        remote: Option<usize>,
    ) -> crate::compression::Compression {
        let Some(leaf) = self.options.leaf.as_ref() else {
            return crate::compression::Compression::default();
        };
        match remote {
            Some(ri) => leaf
                .remotes
                .get(ri)
                .map(|r| r.compression.clone())
                .unwrap_or_default(),
            None => leaf.compression.clone(),
        }
    }

    /// The hub's INFO that answers a leaf's compression INFO: the first
    /// INFO again, naming `mode`.
    fn leaf_compression_info(&mut self, conn: ConnId, mode: &'static str) -> String {
        let (lid, nonce) = self
            .conns
            .get(&conn)
            .map(|c| (c.cid, c.leaf().map(|l| l.nonce.clone()).unwrap_or_default()))
            .unwrap_or_default();
        let mut out = String::new();
        self.write_first_leaf_info(lid, &nonce, Some(mode), &mut out);
        out
    }

    /// The hub's first INFO on link `lid` (and its answer to a
    /// compression INFO): nonce, leaf URLs, TLS flags, `compression`.
    fn write_first_leaf_info(
        &self,
        lid: u64,
        nonce: &str,
        compression: Option<&str>,
        out: &mut String,
    ) {
        let urls = self.leafnode_urls();
        write_leaf_info(
            &self.info,
            &LeafInfoExtra {
                client_id: lid,
                nonce: Some(nonce),
                cluster: self.leaf_cluster_name(),
                leafnode_urls: &urls,
                listen: self.leaf_listen(),
                tls: self.leaf_tls_flags(),
                compression,
                ..LeafInfoExtra::default()
            },
            out,
        );
    }

    /// A leaf's INFO before its CONNECT on an accepted link: its
    /// compression mode, which the hub answers (`engine/compress.rs`).
    /// Only the first is negotiated on; the CONNECT must follow.
    pub(crate) fn leaf_hub_info(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.s2.negotiated() || c.connect_received {
            return;
        }
        let Ok(info) = serde_json::from_slice::<LeafInfo>(json) else {
            self.close(conn, CloseReason::ProtocolViolation, true, true, now);
            return;
        };
        let own = self.leaf_compression(None);
        if !own.negotiates() {
            self.s2_without(conn, &own, &info.compression);
            return;
        }
        let answer = |s: &mut Server, mode: &'static str| s.leaf_compression_info(conn, mode);
        match self.s2_negotiate(conn, &own, &info.compression, false, answer, now) {
            // The hub waits for the CONNECT, not another INFO.
            Ok(_) => self.s2_settled(conn),
            Err(text) => {
                tracing::error!("{} - {text}", self.conn_label(conn));
                self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
            }
        }
    }

    /// The leaf port's `tls_required` and `tls_verify`, for its INFO.
    fn leaf_tls_flags(&self) -> (bool, bool) {
        let verify = self.tls.leaf.config().is_some_and(|c| c.settings.verify);
        (self.tls.leaf.asked(), verify)
    }

    /// Registers a connection accepted on the leaf port and sends the
    /// first INFO (with a nonce, `info_on_connect` and `leafnode_urls`).
    pub(crate) fn accept_leaf(&mut self, peer: SocketAddr, now: Instant) -> ConnId {
        let c = self.new_conn(peer, ConnKind::Leaf(Box::default()), now);
        self.start_leaf_hub(c, None, now)
    }

    /// Starts the hub side of a leaf link on `c`: its first INFO (after
    /// or before TLS as the leafnodes block says, unless it came through
    /// the websocket port: `websocket` is then whether permessage-deflate
    /// was agreed, and the INFO names no S2 mode when it was).
    pub(crate) fn start_leaf_hub(
        &mut self,
        mut c: crate::conn::Conn,
        websocket: Option<bool>,
        now: Instant,
    ) -> ConnId {
        let peer = c.peer;
        let mut raw = [0u8; 11];
        self.leaf_rng.fill(&mut raw);
        let nonce = crate::auth::base64_url_encode(&raw);
        let link = LeafLink {
            hub_role: true,
            handshake: Handshake::AwaitConnect,
            nonce: nonce.clone(),
            ..LeafLink::default()
        };
        c.kind = ConnKind::Leaf(Box::new(link));
        let (id, lid) = (c.id, c.cid);
        c.headers = true;
        // S2 is not used over a websocket that compresses (nats-server).
        let own = if websocket == Some(true) {
            crate::compression::Compression::default()
        } else {
            self.leaf_compression(None)
        };
        c.s2 = crate::engine::compress::S2Link::new(&own);
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        // A websocket that compresses names no S2 mode.
        let mode = own.info_field().filter(|_| websocket != Some(true));
        self.write_first_leaf_info(lid, &nonce, mode, &mut out);
        // INFO then TLS, or TLS first (with its fallback), as the
        // leafnodes block's tls says (a websocket has its own).
        let tls_timer = match (&self.tls.leaf, self.tls.leaf.config()) {
            _ if websocket.is_some() => {
                c.out.push_slice(out.as_bytes());
                None
            }
            (_, Some(config)) => {
                crate::engine::tls::accept(&mut c, config, out.as_bytes(), false, now)
            }
            (built, None) if built.asked() => crate::engine::tls::fail_closed(&mut c, now),
            _ => {
                c.out.push_slice(out.as_bytes());
                None
            }
        };
        c.trace_out(format_args!("{}", out.trim_end()));
        self.scratch = out;
        self.conns.insert(id, c);
        self.set_tls_timer(tls_timer);
        // nats-server's line ends with a space (its connection name, still
        // empty here).
        tracing::info!("{peer} - lid:{lid} - Leafnode connection created ");
        let timeout = self
            .options
            .leaf
            .as_ref()
            .map_or(self.options.auth_timeout, |l| l.auth_timeout);
        self.timers.set(TimerKey::AuthTimeout(id), now + timeout);
        self.mark_dirty(id);
        self.schedule_flushes();
        id
    }

    /// Dispatches one op read on a leaf link.
    pub(crate) fn process_leaf_op(&mut self, conn: ConnId, op: ClientOp, now: Instant) {
        let Some(link) = self.conns.get(&conn).and_then(|c| c.leaf()) else {
            return;
        };
        let stage = link.handshake;
        let registered = link.registered();
        if tracing::enabled!(tracing::Level::TRACE) {
            if let Some(c) = self.conns.get(&conn) {
                trace_leaf_op(c, &op);
            }
        }
        match op {
            ClientOp::Connect(json) => {
                if stage == Handshake::AwaitConnect {
                    self.leaf_connect(conn, &json, now);
                }
            }
            ClientOp::Info(json) => self.leaf_info(conn, &json, now),
            ClientOp::Ping => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.out.push_slice(b"PONG\r\n");
                    self.mark_dirty(conn);
                }
            }
            ClientOp::Pong => self.process_pong(conn, now),
            ClientOp::Ok => {}
            ClientOp::Err(text) => self.leaf_error(conn, &text, now),
            ClientOp::LeafSub {
                subject,
                queue,
                weight,
            } if registered => self.leaf_sub(conn, subject, queue, weight, now),
            ClientOp::LeafUnsub { subject, queue } if registered => {
                self.leaf_unsub(conn, &subject, queue.as_deref());
            }
            ClientOp::LeafMsg {
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
                self.leaf_msg(conn, &queues, &msg, now);
            }
            // Interest or messages before registration: nats-server refuses
            // any op but CONNECT first (the parser's connect-first rule
            // covers the hub side); a solicited link ignores them.
            ClientOp::LeafSub { .. } | ClientOp::LeafUnsub { .. } | ClientOp::LeafMsg { .. } => {}
            ClientOp::Pub { .. }
            | ClientOp::HPub { .. }
            | ClientOp::Sub { .. }
            | ClientOp::Unsub { .. }
            | ClientOp::RouteSub { .. }
            | ClientOp::RouteUnsub { .. }
            | ClientOp::RouteMsg { .. }
            | ClientOp::AccountSub(_)
            | ClientOp::AccountUnsub(_) => {
                self.fail(conn, ProtocolError::UnknownOperation, now);
            }
        }
    }

    /// CONNECT on an accepted leaf link: nats-server's checks in its
    /// order (credentials, a client or gateway on the leaf port, the
    /// cluster name, the minimum version), then the account binding, the
    /// connect-info INFO and our interest.
    fn leaf_connect(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        self.timers.cancel(TimerKey::AuthTimeout(conn));
        let Ok(connect) = serde_json::from_slice::<LeafConnect>(json) else {
            self.close(conn, CloseReason::ProtocolViolation, true, true, now);
            return;
        };
        let nonce = self
            .conns
            .get(&conn)
            .and_then(|c| c.leaf())
            .map(|l| l.nonce.clone())
            .unwrap_or_default();
        let Some((account, perms)) = self.leaf_binding(conn, &connect, &nonce, now) else {
            let user = connect.user.as_deref().unwrap_or_default();
            tracing::error!(
                "{} - authentication error - User {:?}",
                self.conn_label(conn),
                user
            );
            self.fail(conn, ProtocolError::AuthorizationViolation, now);
            return;
        };
        if connect.lang.is_some() {
            let text = "attempted to connect to leaf node port";
            self.refuse(conn, text, CloseReason::ProtocolViolation, now);
            return;
        }
        if connect.cluster.contains(' ') {
            let text = "cluster name cannot contain spaces";
            self.refuse(conn, text, CloseReason::ProtocolViolation, now);
            return;
        }
        let own_cluster = self.leaf_cluster_name();
        if !own_cluster.is_empty() && connect.cluster == own_cluster {
            tracing::error!(
                "{} - remote leafnode has same cluster name - Account:{}",
                self.conn_label(conn),
                self.accounts[account.0 as usize].name
            );
            let text = "remote leafnode has same cluster name";
            self.refuse(conn, text, CloseReason::ClusterNamesIdentical, now);
            return;
        }
        if let Some(gw) = connect.gateway.as_ref().filter(|g| !g.is_empty()) {
            let text = format!("Rejecting connection from gateway \"{gw}\" on the leafnode port");
            tracing::error!("{} - {text}", self.conn_label(conn));
            self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
            return;
        }
        let min = self
            .options
            .leaf
            .as_ref()
            .map(|l| l.min_version.clone())
            .unwrap_or_default();
        let too_old = !min.is_empty() && version_below(&connect.version, &min);
        if self.conns.get(&conn).is_some_and(|c| c.s2.mode.is_none()) {
            // No compression INFO came first: the leaf's CONNECT names
            // the link's mode ("not supported" when it names none).
            if let Some(c) = self.conns.get_mut(&conn) {
                c.s2.pending = false;
                c.ping.outstanding = 0;
                c.s2.mode = Some(
                    crate::compression::Mode::from_wire(&connect.compress_mode)
                        .unwrap_or(crate::compression::Mode::Off),
                );
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.connect_received = true;
        c.headers = connect.headers;
        let Some(link) = c.leaf_mut() else {
            return;
        };
        link.account = account;
        link.hub_role = !connect.is_hub;
        link.peer = LeafPeer {
            server_id: connect.server_id.clone(),
            name: connect.name.clone(),
            cluster: Bytes::copy_from_slice(connect.cluster.as_bytes()),
            remote_account: connect.remote_account.clone(),
        };
        let isolate = self.options.leaf.as_ref().is_some_and(|l| l.isolate);
        link.isolated = isolate || connect.isolate;
        // The bound user's permissions, mirrored: what the leaf may publish
        // is what we take from it; what it may subscribe to is what we
        // send it, less its deny_imports.
        let (send, take) = match &perms {
            Some(p) => (p.subscribe.clone(), p.publish.clone()),
            None => (None, None),
        };
        link.send = with_denies(send, &connect.deny_pub);
        link.take = take;
        self.send_connect_info(conn, perms.as_ref());
        if too_old {
            let text = format!("connection rejected since minimum version required is {min:?}");
            self.refuse(conn, &text, CloseReason::ProtocolViolation, now);
            return;
        }
        self.replace_duplicate_leaf(conn, now);
        self.register_leaf(conn, now);
    }

    /// The account (and user permissions) a leaf's CONNECT binds to, in
    /// nats-server's order: the leaf authorization's single user, its NKey,
    /// its users list, then the server's client authentication; a server with
    /// no authentication binds to the leaf authorization's account.
    /// `None`: refused.
    fn leaf_binding(
        &mut self,
        conn: ConnId,
        connect: &LeafConnect,
        nonce: &str,
        now: Instant,
    ) -> Option<(AccountId, Option<crate::perms::Permissions>)> {
        let leaf = self.options.leaf.as_ref();
        let default_account = leaf
            .map(|l| l.account.as_str())
            .filter(|a| !a.is_empty())
            .unwrap_or(GLOBAL_ACCOUNT);
        let user = connect.user.as_deref().unwrap_or_default();
        let pass = connect.pass.as_deref().unwrap_or_default();
        if let Some((u, p)) = leaf.and_then(|l| l.credentials.as_ref()) {
            let ok = user == u && crate::auth::password_matches(p, pass);
            return ok
                .then(|| self.account_by_name(default_account.as_bytes()))
                .flatten()
                .map(|a| (a, None));
        }
        if let Some(key) = leaf.map(|l| l.nkey.as_str()).filter(|k| !k.is_empty()) {
            let ok = connect.nkey.as_deref() == Some(key)
                && connect
                    .sig
                    .as_deref()
                    .is_some_and(|sig| crate::auth::verify_nonce(key, nonce.as_bytes(), sig));
            return ok
                .then(|| self.account_by_name(default_account.as_bytes()))
                .flatten()
                .map(|a| (a, None));
        }
        if let Some(users) = leaf.map(|l| &l.users).filter(|u| !u.is_empty()) {
            let entry = users.iter().find(|e| e.user == user)?;
            if !crate::auth::password_matches(&entry.password, pass) {
                return None;
            }
            let acc = if entry.account.is_empty() {
                GLOBAL_ACCOUNT
            } else {
                &entry.account
            };
            return self.account_by_name(acc.as_bytes()).map(|a| (a, None));
        }
        if self.trust.is_some() {
            return self.leaf_jwt_binding(conn, connect, nonce, now);
        }
        if !self.authenticator.required() {
            return self
                .account_by_name(default_account.as_bytes())
                .map(|a| (a, None));
        }
        let opts = ConnectOptions {
            user: connect.user.clone(),
            pass: connect.pass.clone(),
            auth_token: connect.auth_token.clone(),
            nkey: connect.nkey.clone(),
            sig: connect.sig.clone(),
            jwt: connect.jwt.clone(),
            ..ConnectOptions::default()
        };
        let identity = self.authenticator.authenticate(&opts, nonce)?;
        let account = self.account_by_name(identity.account.as_bytes())?;
        Some((account, identity.permissions))
    }

    /// Operator mode: a leaf proves a user JWT (its remote's `.creds`)
    /// and is bound to that user's account, with the user's permissions,
    /// as nats-server binds it. `None`: refused.
    fn leaf_jwt_binding(
        &mut self,
        conn: ConnId,
        connect: &LeafConnect,
        nonce: &str,
        now: Instant,
    ) -> Option<(AccountId, Option<crate::perms::Permissions>)> {
        let now_unix = self.wall_unix(now);
        let c = self.conns.get(&conn)?;
        let asker = crate::trust::Asker {
            jwt: connect.jwt.as_deref(),
            sig: connect.sig.as_deref(),
            nonce,
            conn_type: if c.transport.ws().is_some() {
                "LEAFNODE_WS"
            } else {
                "LEAFNODE"
            },
            ip: Some(c.peer.ip()),
            now_unix,
            #[cfg(feature = "mutations")]
            skip_nonce_check: false,
        };
        let grant = match self.trust.as_ref()?.authenticate(&asker) {
            Ok(g) => g,
            Err(why) => {
                tracing::debug!("{} - {}", self.conn_label(conn), why.text());
                return None;
            }
        };
        let account = self.jwt_account(&grant.account, now)?;
        // The account's leaf limit (`limits.leaf`), counted before this
        // link as nats-server counts it.
        let max = self
            .trust
            .as_ref()
            .and_then(|t| t.account(&grant.account))
            .and_then(|a| usize::try_from(a.account.limits.leaf).ok());
        if let Some(max) = max {
            // Sorted iteration is not needed: only a count.
            #[allow(clippy::disallowed_methods)]
            let links = self
                .conns
                .values()
                .filter(|c| c.id != conn && !c.closed)
                .filter(|c| c.leaf().is_some_and(|l| l.account == account && l.hub_role))
                .count();
            if links >= max {
                self.fail(conn, ProtocolError::MaxAccountConnections, now);
                return None;
            }
        }
        Some((account, grant.permissions))
    }

    /// Writes the connect-info INFO on an accepted link: the bound account
    /// and the bound user's permissions.
    fn send_connect_info(&mut self, conn: ConnId, perms: Option<&crate::perms::Permissions>) {
        let urls = self.leafnode_urls();
        let (host, port) = self.leaf_listen();
        let host = host.to_string();
        let cluster = self.leaf_cluster_name().to_string();
        let tls = self.leaf_tls_flags();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(link) = c.leaf() else {
            return;
        };
        let account = &self.accounts[link.account.0 as usize].name;
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        write_leaf_info(
            &self.info,
            &LeafInfoExtra {
                client_id: c.cid,
                nonce: None,
                cluster: &cluster,
                remote_account: Some(account),
                import: perms.and_then(|p| p.subscribe.as_ref()),
                export: perms.and_then(|p| p.publish.as_ref()),
                leafnode_urls: &urls,
                listen: (&host, port),
                tls,
                compression: None,
            },
            &mut out,
        );
        c.out.push_slice(out.as_bytes());
        c.trace_out(format_args!("{}", out.trim_end()));
        self.scratch = out;
        self.mark_dirty(conn);
    }

    /// A second link from the same remote server (same name, cluster,
    /// bound account and non-empty remote account) replaces the first,
    /// which is told so and closed, as nats-server does.
    fn replace_duplicate_leaf(&mut self, conn: ConnId, now: Instant) {
        let Some(new) = self.conns.get(&conn).and_then(|c| c.leaf()) else {
            return;
        };
        if new.peer.remote_account.is_empty() {
            return;
        }
        let same = |l: &LeafLink| {
            l.peer.name == new.peer.name
                && l.peer.cluster == new.peer.cluster
                && l.account == new.account
                && l.peer.remote_account == new.peer.remote_account
        };
        let old: Vec<ConnId> = self
            .leafs
            .links
            .iter()
            .copied()
            .filter(|id| *id != conn)
            .filter(|id| self.conns.get(id).and_then(|c| c.leaf()).is_some_and(&same))
            .collect();
        for id in old {
            tracing::warn!(
                "{} - Replacing connection from same server",
                self.conn_label(id)
            );
            let reason = CloseReason::DuplicateRemoteLeafnode;
            self.refuse(id, reason.text(), reason, now);
        }
    }

    /// The handshake is done: the link joins the registered ones, learns
    /// the account's loop-detection subject, gets our interest, and is
    /// PINGed.
    pub(crate) fn register_leaf(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        let Some(link) = c.leaf_mut() else {
            return;
        };
        link.handshake = Handshake::Done;
        let account = link.account;
        self.leafs.links.insert(conn);
        self.loop_subject(account);
        self.send_initial_interest(conn);
        self.set_first_ping_timer(conn, now);
        self.mark_dirty(conn);
    }

    /// The account's loop-detection subject, `$LDS.` and 22 letters made
    /// from the leaf stream the first time it is asked for.
    pub(crate) fn loop_subject(&mut self, account: AccountId) -> Bytes {
        if let Some(s) = self.leafs.lds.get(&account) {
            return s.clone();
        }
        let mut s = b"$LDS.".to_vec();
        for _ in 0..22 {
            let i = self
                .leaf_rng
                .below(crate::engine::ALPHANUMERIC.len() as u64) as usize;
            s.push(crate::engine::ALPHANUMERIC[i]);
        }
        let s = Bytes::from(s);
        self.leafs.lds.insert(account, s.clone());
        s
    }

    /// `-ERR` from the peer: logged as nats-server logs it, remembered for
    /// the re-dial delay (a loop or a same-cluster refusal waits 30 s),
    /// and the link is closed.
    fn leaf_error(&mut self, conn: ConnId, text: &[u8], now: Instant) {
        let text = String::from_utf8_lossy(text);
        let text = text.trim().trim_start_matches('\'').trim_end_matches('\'');
        let label = self.conn_label(conn);
        tracing::error!("{label} - Leafnode Error '{text}'");
        let solicit = self
            .conns
            .get(&conn)
            .and_then(|c| c.leaf())
            .and_then(|l| l.solicit);
        if let Some(target) = solicit {
            if text.contains("Loop detected") {
                tracing::error!("{label} - {text}");
                self.leafs.penalty.insert(target, LOOP_DELAY);
            } else if text.contains("same cluster name") {
                tracing::error!(
                    "{label} - Leafnode connection dropped with same cluster name error. \
                     Delaying attempt to reconnect for {}s",
                    LOOP_DELAY.as_secs()
                );
                self.leafs.penalty.insert(target, LOOP_DELAY);
            } else if text.contains("Permissions Violation") {
                self.leafs.penalty.insert(target, LOOP_DELAY);
            }
        }
        self.close(conn, CloseReason::ParseError, true, true, now);
    }

    /// A leaf link closed: its interest leaves the account, the other
    /// links are told, and a solicited link is dialed again.
    pub(crate) fn leaf_closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let peer = c.peer;
        let lid = c.cid;
        let Some(link) = c.leaf_mut() else {
            return;
        };
        let name = link.peer.name.clone();
        let was_registered = link.registered();
        link.handshake = Handshake::AwaitInfo;
        let solicit = link.solicit;
        let account = link.account;
        let subs = std::mem::take(&mut link.subs);
        let origin = link.origin();
        let cluster = link.peer.cluster.clone();
        link.told.clear();
        if name.is_empty() {
            tracing::info!("{peer} - lid:{lid} - Leafnode connection closed: {reason}");
        } else {
            tracing::info!(
                "{peer} - lid:{lid} - Leafnode connection closed: {reason} - Remote: {name}"
            );
        }
        self.leafs.links.remove(&conn);
        let mut subs: Vec<Arc<Subscription>> = subs.into_values().collect();
        subs.sort_unstable_by_key(|s| s.seq);
        self.begin_leaf_batch();
        for sub in subs {
            self.accounts[account.0 as usize].leaf.remove(&sub);
            if was_registered {
                let link = interest::LinkInterest {
                    origin,
                    conn,
                    account,
                    cluster: &cluster,
                };
                self.link_interest(&link, &sub.subject, sub.queue.as_ref(), -sub.members());
            }
        }
        self.end_leaf_batch();
        if let Some(target) = solicit {
            self.redial_leaf(target, true, now);
        }
    }
}

/// The `<<-` trace lines of an op a leaf link sent, as nats-server writes
/// them (the op's arguments, then a message's payload).
fn trace_leaf_op(c: &crate::conn::Conn, op: &ClientOp) {
    use crate::conn::Text;
    match op {
        ClientOp::Connect(json) => c.trace_in(format_args!("CONNECT {}", Text(json))),
        ClientOp::Info(json) => c.trace_in(format_args!("INFO {}", Text(json))),
        ClientOp::LeafSub {
            subject,
            queue: Some(q),
            weight,
        } => c.trace_in(format_args!("LS+ {} {} {weight}", Text(subject), Text(q))),
        ClientOp::LeafSub { subject, .. } => c.trace_in(format_args!("LS+ {}", Text(subject))),
        ClientOp::LeafUnsub {
            subject,
            queue: Some(q),
        } => c.trace_in(format_args!("LS- {} {}", Text(subject), Text(q))),
        ClientOp::LeafUnsub { subject, .. } => c.trace_in(format_args!("LS- {}", Text(subject))),
        ClientOp::LeafMsg {
            subject,
            reply,
            queues,
            header_len,
            message,
        } => c.trace_msg_in(
            "LMSG",
            None,
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
        | ClientOp::RouteSub { .. }
        | ClientOp::RouteUnsub { .. }
        | ClientOp::RouteMsg { .. }
        | ClientOp::AccountSub(_)
        | ClientOp::AccountUnsub(_) => {}
    }
}

/// Whether `version` is below `min` (anything that is not a version is
/// below).
fn version_below(version: &str, min: &str) -> bool {
    use crate::config::leafnode::semver;
    match (semver(version), semver(min)) {
        (Some(v), Some(m)) => v < m,
        (None, Some(_)) => true,
        (_, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number() {
        assert!(version_below("2.7.9", "2.8.0"));
        assert!(!version_below("2.10.0", "2.8.0"));
        assert!(!version_below("2.8.0", "2.8.0"));
        assert!(version_below("", "2.8.0"));
        assert!(!version_below("2.15.1-beta", "2.8.0"));
    }

    #[test]
    fn rules_deny_over_allow() {
        let rule = with_denies(None, &["secret.>".to_string()]);
        assert!(rule_allows(rule.as_ref(), b"public.x"));
        assert!(!rule_allows(rule.as_ref(), b"secret.x"));
        assert!(rule_allows(None, b"anything"));
    }
}
