//! The client kind: accepting a client, its CONNECT, PUB/HPUB, SUB,
//! UNSUB and PING, the asynchronous INFO it may be sent, and what closing
//! it undoes. Only this file reads a client's own state.

mod deliver;
pub(crate) mod inspect;
mod operator;
mod reload;

pub(crate) use operator::JwtUser;

use crate::account::AccountId;
use crate::conn::{ClientState, Conn, ConnKind, Text};
use crate::engine::TraceAsk;
use crate::engine::{Ingress, Msg, Server};
use crate::events::{CloseReason, Event, TimerKey};
use crate::gateway::GR_PREFIX;
use crate::ids::ConnId;
use crate::info::ClientInfoExtra;
use crate::proto::{ClientOp, ProtocolError};
use crate::router::trace::{self, MsgTrace, TraceKind};
use crate::router::Origin;
use crate::subject;
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use core::net::SocketAddr;
use inspect::conn_info;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Server {
    /// With `verify_and_map`, the user the client's certificate names
    /// (its emails, DNS names, URIs, then subject, as nats-server tries
    /// them), whatever the CONNECT says: `Some(None)` when it names no
    /// configured user or there is no certificate. `None` without
    /// `verify_and_map`.
    fn tls_mapped_identity(&self, c: &crate::conn::Conn) -> Option<Option<crate::auth::Identity>> {
        let config = self.tls.client.config()?;
        if !config.settings.map {
            return None;
        }
        let Some(cert) = c.transport.tls().and_then(|t| t.peer_certificate()) else {
            return Some(None);
        };
        let names: Vec<&String> = self.authenticator.users.keys().collect();
        let found = crate::tls::map_user(cert, &names, true).and_then(|i| {
            let name = names.get(i)?;
            let u = self.authenticator.users.get(*name)?;
            Some(crate::auth::Identity {
                user: (*name).clone(),
                account: u.account.clone(),
                permissions: u.permissions.clone(),
            })
        });
        Some(found)
    }

    pub(crate) fn accept_client(&mut self, peer: SocketAddr, now: Instant) -> ConnId {
        let state = ClientState::new(AccountId(0), self.hasher.clone());
        let client = self.new_conn(peer, ConnKind::Client(Box::new(state)), now);
        self.start_client(client, false, now)
    }

    /// Starts a client connection: its INFO (and TLS on the client port,
    /// unless it came through the websocket port, whose TLS is its own),
    /// its timers, and its place among the connections.
    pub(crate) fn start_client(
        &mut self,
        mut client: Conn,
        websocket: bool,
        now: Instant,
    ) -> ConnId {
        self.stats.total_connections += 1;
        let peer = client.peer;
        let mut state = ClientState::new(AccountId(0), self.hasher.clone());
        let auth = self.client_authenticator(websocket);
        // With no_auth_user, a client that never sends CONNECT (telnet
        // style) is that user from the start, as in nats-server.
        if auth.no_auth_user.is_some() {
            if let Some(id) = auth.authenticate(&crate::info::ConnectOptions::default(), "") {
                if let Some(idx) = self.accounts.iter().position(|a| a.name == id.account) {
                    state.account = AccountId(idx as u32);
                    state.perms = id.permissions;
                }
            }
        }
        let (needs_nonce, required) = (auth.needs_nonce(), auth.required());
        if needs_nonce {
            // 11 random bytes, 15 characters of URL base64, as nats-server.
            let mut raw = [0u8; 11];
            self.nonce_rng.fill(&mut raw);
            state.nonce = crate::auth::base64_url_encode(&raw);
        }
        state.websocket = websocket;
        client.kind = ConnKind::Client(Box::new(state));
        let (id, cid) = (client.id, client.cid);
        self.scratch.clear();
        let ip = peer.ip().to_string();
        let nonce = client.client().map_or("", |c| c.nonce.as_str());
        self.info.write_client_info(
            &ClientInfoExtra {
                client_id: cid,
                client_ip: &ip,
                nonce: (!nonce.is_empty()).then_some(nonce),
                on_accept: true,
                websocket: crate::info::WebsocketListen::of(&self.options).filter(|_| websocket),
                ..Default::default()
            },
            &mut self.scratch,
        );
        let over_limit = client.policy().counts_as_client
            && match self.options.max_connections {
                None => true,
                Some(max) => self.client_count >= max,
            };
        // nats-server refuses a connection over the limit right after its
        // INFO, before any TLS.
        let tls_timer = match (&self.tls.client, self.tls.client.config()) {
            _ if websocket => {
                client.out.push_slice(self.scratch.as_bytes());
                None
            }
            (_, Some(config)) if !over_limit && !mutated!(self, tls_plaintext_after_info) => {
                crate::engine::tls::accept(
                    &mut client,
                    config,
                    self.scratch.as_bytes(),
                    self.options.allow_non_tls,
                    now,
                )
            }
            (built, None) if built.asked() => crate::engine::tls::fail_closed(&mut client, now),
            _ => {
                client.out.push_slice(self.scratch.as_bytes());
                None
            }
        };
        self.conns.insert(id, client);
        tracing::debug!("{peer} - cid:{cid} - Client connection created");
        self.events.push_back(Event::ClientConnected { conn: id });
        self.set_tls_timer(tls_timer);
        if over_limit {
            self.fail_with(
                id,
                ProtocolError::MaxConnections,
                CloseReason::MaxConnectionsExceeded,
                now,
            );
        } else {
            if let Some(c) = self.conns.get_mut(&id) {
                c.counted = true;
            }
            self.client_count += 1;
            self.set_first_ping_timer(id, now);
            if required {
                // A websocket block may set its own timeout.
                let timeout = self
                    .options
                    .websocket
                    .as_ref()
                    .filter(|_| websocket)
                    .and_then(|w| w.auth_timeout)
                    .unwrap_or(self.options.auth_timeout);
                self.timers.set(TimerKey::AuthTimeout(id), now + timeout);
            }
        }
        self.mark_dirty(id);
        self.schedule_flushes();
        id
    }

    /// How a client authenticates: websocket clients by the websocket
    /// block's override, when it has one.
    pub(crate) fn client_authenticator(&self, websocket: bool) -> &crate::auth::Authenticator {
        match &self.ws_authenticator {
            Some(ws) if websocket => ws,
            _ => &self.authenticator,
        }
    }

    pub(crate) fn process_client_op(&mut self, conn: ConnId, op: ClientOp, now: Instant) {
        // A client that starts without CONNECT under no_auth_user is that
        // user (see accept_client): its first op ends the auth timeout.
        // (Checked cheaply first: this runs for every op.)
        let any_no_auth_user = self.authenticator.no_auth_user.is_some()
            || self
                .ws_authenticator
                .as_ref()
                .is_some_and(|a| a.no_auth_user.is_some());
        if any_no_auth_user
            && !matches!(op, ClientOp::Connect(_))
            && self.conns.get(&conn).is_some_and(|c| {
                !c.connect_received
                    && self
                        .client_authenticator(c.client().is_some_and(|cl| cl.websocket))
                        .no_auth_user
                        .is_some()
            })
        {
            self.timers.cancel(TimerKey::AuthTimeout(conn));
        }
        if tracing::enabled!(tracing::Level::TRACE) {
            if let Some(c) = self.conns.get(&conn) {
                trace_client_op(c, &op);
            }
        }
        match op {
            ClientOp::Connect(json) => self.process_connect(conn, &json, now),
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => self.process_pub(conn, subject, reply, 0, payload, now),
            ClientOp::HPub {
                subject,
                reply,
                header_len,
                message,
            } => self.process_pub(conn, subject, reply, header_len, message, now),
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => self.process_sub(conn, subject, queue, sid),
            ClientOp::Unsub { sid, max } => self.process_unsub(conn, sid, max),
            ClientOp::Ping => self.process_ping(conn),
            ClientOp::Pong => self.process_pong(conn, now),
            ClientOp::Info(_) | ClientOp::Ok => {}
            // The parser yields route ops only on route connections.
            ClientOp::RouteSub { .. }
            | ClientOp::RouteUnsub { .. }
            | ClientOp::RouteMsg { .. }
            | ClientOp::LeafSub { .. }
            | ClientOp::LeafUnsub { .. }
            | ClientOp::LeafMsg { .. }
            | ClientOp::AccountSub(_)
            | ClientOp::AccountUnsub(_) => {
                self.fail(conn, ProtocolError::UnknownOperation, now);
            }
            ClientOp::Err(_) => {
                tracing::debug!("cid:{} - client sent -ERR, closing", self.cid(conn));
                self.close(conn, CloseReason::ParseError, true, true, now);
            }
        }
    }

    pub(crate) fn process_connect(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        let server_headers = self.options.headers;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        let Some(opts) = cl.opts.overlay(json) else {
            tracing::debug!("cid:{} - malformed CONNECT, closing", c.cid);
            self.close(conn, CloseReason::ProtocolViolation, true, true, now);
            return;
        };
        cl.opts = opts;
        // nats-server's first RTT sample: INFO sent at accept, CONNECT back;
        // the first PING timer starts over from here.
        let first_connect = !c.connect_received;
        if first_connect && c.ping.rtt.is_none() {
            c.ping.rtt = Some(now.saturating_since(c.start));
        }
        c.connect_received = true;
        c.headers = server_headers && cl.opts.headers;
        self.timers.cancel(TimerKey::AuthTimeout(conn));
        let mapped = self.tls_mapped_identity(&self.conns[&conn]);
        let mut jwt_user = None;
        let identity = match mapped {
            Some(mapped) => mapped,
            None if self.trust.is_some() => {
                self.jwt_client_identity(conn, now).map(|(id, user, ends)| {
                    jwt_user = Some((user, ends));
                    id
                })
            }
            None => {
                let Some(cl) = self.conns[&conn].client() else {
                    return;
                };
                self.client_authenticator(cl.websocket)
                    .authenticate(&cl.opts, &cl.nonce)
            }
        };
        let c = &self.conns[&conn];
        let Some(cl) = c.client() else {
            return;
        };
        let account = identity
            .as_ref()
            .and_then(|id| self.accounts.iter().position(|a| a.name == id.account));
        if identity.is_none()
            || account.is_none()
            || cl.opts.account.is_some()
            || cl.opts.new_account.is_some()
        {
            self.fail_with(
                conn,
                ProtocolError::AuthorizationViolation,
                CloseReason::AuthenticationViolation,
                now,
            );
            return;
        }
        if !(0..=1).contains(&cl.opts.protocol) {
            self.fail_with(
                conn,
                ProtocolError::InvalidClientProtocol,
                CloseReason::BadClientProtocolVersion,
                now,
            );
            return;
        }
        if cl.opts.no_responders && !c.headers {
            self.fail_with(
                conn,
                ProtocolError::NoRespondersRequiresHeaders,
                CloseReason::NoRespondersRequiresHeaders,
                now,
            );
            return;
        }
        if let (Some(cl), Some(id), Some(idx)) = (
            self.conns.get_mut(&conn).and_then(|c| c.client_mut()),
            identity,
            account,
        ) {
            cl.account = AccountId(idx as u32);
            cl.perms = id.permissions;
            if let Some((user, ends)) = jwt_user {
                cl.jwt = Some(user);
                if !self.jwt_client_admitted(conn, AccountId(idx as u32), ends, now) {
                    return;
                }
            }
        }
        if first_connect && self.conns.get(&conn).is_some_and(|c| c.counted) {
            self.set_first_ping_timer(conn, now);
        }
        self.ok(conn);
        self.system_client_connected(conn, first_connect, now);
    }

    pub(crate) fn process_pub(
        &mut self,
        conn: ConnId,
        subject: Bytes,
        reply: Option<Bytes>,
        header_len: usize,
        message: Bytes,
        now: Instant,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        // A user JWT's payload limit, below the server's.
        if let Some(user) = &cl.jwt {
            if user.max_payload.is_some_and(|max| message.len() > max) {
                self.fail(conn, ProtocolError::MaxPayload, now);
                return;
            }
        }
        c.stats.in_msgs += 1;
        c.stats.in_bytes += message.len() as u64;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += message.len() as u64;
        let account = cl.account;
        // Only a message whose headers name a trace header can ask for a
        // trace; the others keep the connection they were looked up with.
        let may_trace = header_len > 0
            && message
                .get(..header_len)
                .is_some_and(crate::router::trace::headers::may_trace);
        let (c, header_len, message) = if may_trace {
            let size = message.len();
            let Some((header_len, message)) =
                self.trace_publish(conn, &subject, header_len, message, size, now)
            else {
                return;
            };
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            (c, header_len, message)
        } else {
            (c, header_len, message)
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        // `_GR_.` subjects are the servers' own (gateway replies).
        let reserved = subject.len() > GR_PREFIX.len() && subject.starts_with(GR_PREFIX);
        let refused = if reserved
            || cl.perms.as_ref().is_some_and(|p| !p.can_publish(&subject))
                && !take_response_permission(&mut cl.responses, &subject, now)
        {
            // Refused: -ERR, the message is dropped, the connection stays.
            let text = crate::perms::publish_violation(&subject);
            tracing::debug!("{} - cid:{} - {}", c.peer, c.cid, text);
            Some(text)
        } else {
            // `_R_.` and `_GR_.` replies are the servers' own (service
            // imports, gateway replies): refused.
            reply
                .as_ref()
                .filter(|r| {
                    r.starts_with(b"_R_.")
                        || (r.len() > GR_PREFIX.len() && r.starts_with(GR_PREFIX))
                })
                .map(|r| crate::perms::reserved_reply_violation(r))
        };
        if let Some(text) = refused {
            c.out.push_err(&text);
            self.mark_dirty(conn);
            if let Some(t) = self.tracing() {
                t.ingress_error(text);
                self.finish_trace(account, now);
            }
            return;
        }
        if cl.opts.pedantic && !subject::is_valid_literal_subject(&subject) {
            c.out.push_err(ProtocolError::InvalidPublishSubject.text());
        }
        if cl.opts.verbose {
            c.out.push_slice(b"+OK\r\n");
        }
        let echo = cl.opts.echo || mutated!(self, ignore_echo);
        let no_responders = cl.opts.no_responders && c.headers;
        self.mark_dirty(conn);
        let msg = Msg {
            subject: &subject,
            reply: reply.as_ref(),
            header_len,
            message: &message,
        };
        // An answer to a `_GR_.` reply this client was handed stripped goes
        // back on the full subject, to the cluster that asked.
        if !self.gateways.replies.is_empty() {
            if let Some(full) = self.mapped_reply(conn, &subject, now) {
                self.send_mapped_reply(conn, account, &full, &msg, now);
                self.finish_trace(account, now);
                return;
            }
        }
        let ingress = Ingress {
            origin: Origin::Client,
            conn,
            named: b"",
            echo,
            origin_cluster: None,
            gateway_reply: false,
        };
        let delivered = self.forward_message(&ingress, account, &msg, now);
        self.finish_trace(account, now);
        if delivered == 0 && no_responders {
            if let Some(reply) = reply.as_ref() {
                self.no_responders(conn, account, &subject, reply, now);
            }
        }
    }

    /// A client's `HPUB` refused for its size (`Maximum Payload
    /// Violation`, the connection about to close): when the rest of the
    /// read holds its headers and they ask for a trace, the event goes out
    /// with the ingress error nats-server gives, before the close.
    pub(crate) fn trace_oversized(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &c.kind else {
            return;
        };
        let account = cl.account;
        let Some((subject, size, block)) = c.parser.take_oversized() else {
            return;
        };
        if block.is_empty() {
            return;
        }
        if self
            .trace_publish(conn, &subject, block.len(), block, size, now)
            .is_some()
        {
            if let Some(t) = self.tracing() {
                t.ingress_error("maximum payload exceeded".to_string());
            }
            self.finish_trace(account, now);
        }
    }

    /// Reads a client's publish for a trace request (`Nats-Trace-Dest`)
    /// and starts its trace. Returns the message to deliver (rewritten
    /// when the trace is refused), or `None` to drop it: trace-only and
    /// not traceable, or a destination the client may not publish on
    /// (`-ERR`, as nats-server answers). `msgsize` is the size the event
    /// reports (the message's, or a refused one's declared size).
    fn trace_publish(
        &mut self,
        conn: ConnId,
        subject: &Bytes,
        header_len: usize,
        message: Bytes,
        msgsize: usize,
        now: Instant,
    ) -> Option<(usize, Bytes)> {
        // Off the hot path: only headers that name a trace header get here.
        let Some(ConnKind::Client(cl)) = self.conns.get(&conn).map(|c| &c.kind) else {
            return None;
        };
        let account = cl.account;
        let request = match self.ask_trace(conn, account, true, header_len, &message) {
            TraceAsk::None => return Some((header_len, message)),
            TraceAsk::Drop => return None,
            TraceAsk::Disabled(message, header_len) => return Some((header_len, message)),
            TraceAsk::Trace(request) => request,
        };
        let ts = self.monitor.wall(now);
        let c = self.conns.get(&conn)?;
        let ConnKind::Client(cl) = &c.kind else {
            return None;
        };
        let denied = cl
            .perms
            .as_ref()
            .is_some_and(|p| !p.can_publish(&request.dest));
        if denied || self.trace_dest_reserved(account, &request.dest) {
            let c = self.conns.get_mut(&conn)?;
            let text = crate::perms::publish_violation(&request.dest);
            tracing::debug!("{} - {}", c.label(), text);
            c.out.push_err(&text);
            self.mark_dirty(conn);
            return None;
        }
        let ingress = trace::Ingress {
            ts,
            kind: TraceKind::Client,
            cid: c.cid,
            name: cl.opts.name.as_deref().unwrap_or_default(),
            account: &self.accounts[account.0 as usize].name,
            subject,
        };
        let trace = MsgTrace::new(request, msgsize, &ingress);
        self.start_trace(trace);
        Some((header_len, message))
    }

    pub(crate) fn process_sub(
        &mut self,
        conn: ConnId,
        subject: Bytes,
        queue: Option<Bytes>,
        sid: Bytes,
    ) {
        let max_subs = self.options.max_subscriptions;
        let max_tokens = self.options.max_sub_tokens;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        // nats-server's order: permissions, token count, subscription count.
        if cl
            .perms
            .as_ref()
            .is_some_and(|p| !p.can_subscribe(&subject, queue.as_deref()))
        {
            let text = crate::perms::subscribe_violation(&subject, queue.as_deref());
            tracing::debug!("{} - cid:{} - {}", c.peer, c.cid, text);
            c.out.push_err(&text);
            self.mark_dirty(conn);
            return;
        }
        if max_tokens > 0 && subject::tokens(&subject).count() > usize::from(max_tokens) {
            c.out.push_err(&crate::perms::too_many_tokens(&subject));
            self.mark_dirty(conn);
            return;
        }
        let jwt_max = cl.jwt.as_ref().and_then(|j| j.max_subs);
        if (max_subs > 0 && cl.subs.len() >= max_subs)
            || jwt_max.is_some_and(|m| cl.subs.len() >= m)
        {
            c.out.push_err(ProtocolError::MaxSubscriptions.text());
            self.mark_dirty(conn);
            return;
        }
        if cl.subs.contains_key(&sid) {
            self.ok(conn);
            return;
        }
        let queue_ok = queue
            .as_ref()
            .is_none_or(|q| subject::is_valid_queue_name(q));
        if !subject::is_valid_subject(&subject) || !queue_ok {
            c.out.push_err(ProtocolError::InvalidSubject.text());
            self.mark_dirty(conn);
            return;
        }
        let sub = Arc::new(Subscription {
            seq: self.next_sub_seq,
            conn,
            sid: sid.clone(),
            subject,
            queue,
            delivered: Default::default(),
            max: Default::default(),
            weight: std::sync::atomic::AtomicU32::new(1),
        });
        self.next_sub_seq += 1;
        cl.subs.insert(sid, sub.clone());
        let account = cl.account;
        self.accounts[account.0 as usize]
            .sublist
            .insert(sub.clone());
        self.local_interest(
            Origin::Client,
            account,
            &sub.subject,
            sub.queue.as_ref(),
            true,
        );
        self.ok(conn);
    }

    pub(crate) fn process_unsub(&mut self, conn: ConnId, sid: Bytes, max: Option<u64>) {
        if mutated!(self, forget_unsub) {
            self.ok(conn);
            return;
        }
        let Some(cl) = self.conns.get_mut(&conn).and_then(|c| c.client_mut()) else {
            return;
        };
        if let Some(sub) = cl.subs.get(&sid) {
            let max = max.unwrap_or(0);
            if max > 0 && max > sub.delivered.load(Ordering::Relaxed) {
                sub.max.store(max, Ordering::Relaxed);
            } else {
                self.remove_sub(conn, &sid);
            }
        }
        self.ok(conn);
    }

    pub(crate) fn remove_sub(&mut self, conn: ConnId, sid: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        if let Some(sub) = cl.subs.remove(sid) {
            let account = cl.account;
            c.trace_change(format_args!("DELSUB {}", Text(sid)));
            self.unindex_sub(account, &sub);
        }
    }

    /// Takes a client's subscription out of its account's index and out
    /// of the interest routes were told.
    pub(crate) fn unindex_sub(&mut self, account: AccountId, sub: &Arc<Subscription>) {
        self.accounts[account.0 as usize].sublist.remove(sub);
        self.local_interest(
            Origin::Client,
            account,
            &sub.subject,
            sub.queue.as_ref(),
            false,
        );
    }

    pub(crate) fn process_ping(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.out.push_slice(b"PONG\r\n");
        c.trace_out(format_args!("PONG"));
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        if c.connect_received && cl.opts.protocol >= 1 && !cl.first_pong_sent {
            cl.first_pong_sent = true;
            self.scratch.clear();
            let ip = c.peer.ip().to_string();
            let account = &self.accounts[cl.account.0 as usize].name;
            self.info.write_client_info(
                &ClientInfoExtra {
                    client_id: c.cid,
                    client_ip: &ip,
                    connect_info: true,
                    remote_account: Some(account),
                    websocket: crate::info::WebsocketListen::of(&self.options)
                        .filter(|_| cl.websocket),
                    ..Default::default()
                },
                &mut self.scratch,
            );
            c.out.push_slice(self.scratch.as_bytes());
        }
        self.mark_dirty(conn);
    }

    /// Sends the current INFO (new `connect_urls`) to every client that
    /// takes asynchronous INFO and has had its first PONG, as nats-server.
    pub(crate) fn send_connect_urls(&mut self) {
        let clients = self.open_client_ids();
        self.send_async_info(&clients, true, false);
    }

    /// Sends the current INFO to those of `clients` that said
    /// `"protocol":1` (and, with `after_first_pong`, have had their first
    /// PONG); `ldm` marks lame duck mode.
    pub(crate) fn send_async_info(
        &mut self,
        clients: &[ConnId],
        after_first_pong: bool,
        ldm: bool,
    ) {
        for &id in clients {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            let ConnKind::Client(cl) = &c.kind else {
                continue;
            };
            if cl.opts.protocol < 1 || (after_first_pong && !cl.first_pong_sent) {
                continue;
            }
            let ip = c.peer.ip().to_string();
            self.scratch.clear();
            self.info.write_client_info(
                &ClientInfoExtra {
                    client_id: c.cid,
                    client_ip: &ip,
                    ldm,
                    websocket: crate::info::WebsocketListen::of(&self.options)
                        .filter(|_| cl.websocket),
                    ..Default::default()
                },
                &mut self.scratch,
            );
            c.out.push_slice(self.scratch.as_bytes());
            self.mark_dirty(id);
        }
    }

    /// The client part of closing: remembered for `/connz?state=closed`,
    /// its subscriptions leave the index.
    pub(crate) fn client_closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        self.system_client_closed(conn, reason, now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(info) = conn_info(c, &self.accounts, Some((now, reason))) {
            self.monitor.remember_closed(info);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        let account = cl.account;
        let mut subs: Vec<Arc<Subscription>> = cl.subs.drain().map(|(_, s)| s).collect();
        subs.sort_unstable_by_key(|s| s.seq);
        tracing::debug!(
            "{} - cid:{} - Client connection closed: {}",
            c.peer,
            c.cid,
            reason
        );
        for sub in &subs {
            c.trace_change(format_args!("DELSUB {}", Text(&sub.sid)));
        }
        self.begin_leaf_batch();
        for sub in subs {
            self.unindex_sub(account, &sub);
        }
        self.end_leaf_batch();
    }

    pub(crate) fn ok(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.client().is_some_and(|cl| cl.opts.verbose) {
                c.out.push_slice(b"+OK\r\n");
                self.mark_dirty(conn);
            }
        }
    }
}

/// Uses up one reply to `subject` under `allow_responses`, if one is left
/// and unexpired.
fn take_response_permission(
    responses: &mut std::collections::BTreeMap<Bytes, (u64, Instant)>,
    subject: &[u8],
    now: Instant,
) -> bool {
    let Some((left, until)) = responses.get_mut(subject) else {
        return false;
    };
    if now > *until || *left == 0 {
        responses.remove(subject);
        return false;
    }
    *left -= 1;
    if *left == 0 {
        responses.remove(subject);
    }
    true
}

/// The `<<-` trace lines of an op a client sent, as nats-server writes
/// them (the op's arguments, then the payload of a PUB or HPUB).
fn trace_client_op(c: &crate::conn::Conn, op: &ClientOp) {
    let reply = |r: &Option<Bytes>| {
        r.as_ref()
            .map(|r| format!(" {}", Text(r)))
            .unwrap_or_default()
    };
    match op {
        ClientOp::Connect(json) => c.trace_in(format_args!("CONNECT {}", Text(json))),
        ClientOp::Pub {
            subject,
            reply: r,
            payload,
        } => {
            c.trace_in(format_args!(
                "PUB {}{} {}",
                Text(subject),
                reply(r),
                payload.len()
            ));
            c.trace_payload_in(payload);
        }
        ClientOp::HPub {
            subject,
            reply: r,
            header_len,
            message,
        } => {
            c.trace_in(format_args!(
                "HPUB {}{} {header_len} {}",
                Text(subject),
                reply(r),
                message.len()
            ));
            c.trace_payload_in(message);
        }
        ClientOp::Sub {
            subject,
            queue,
            sid,
        } => c.trace_in(format_args!(
            "SUB {}{} {}",
            Text(subject),
            reply(queue),
            Text(sid)
        )),
        ClientOp::Unsub { sid, max } => match max {
            Some(max) => c.trace_in(format_args!("UNSUB {} {max}", Text(sid))),
            None => c.trace_in(format_args!("UNSUB {}", Text(sid))),
        },
        ClientOp::Ping => c.trace_in(format_args!("PING")),
        ClientOp::Pong => c.trace_in(format_args!("PONG")),
        ClientOp::Info(_)
        | ClientOp::Ok
        | ClientOp::Err(_)
        | ClientOp::RouteSub { .. }
        | ClientOp::RouteUnsub { .. }
        | ClientOp::RouteMsg { .. }
        | ClientOp::LeafSub { .. }
        | ClientOp::LeafUnsub { .. }
        | ClientOp::LeafMsg { .. }
        | ClientOp::AccountSub(_)
        | ClientOp::AccountUnsub(_) => {}
    }
}
