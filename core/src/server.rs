//! The engine: one [`Server`] owns every connection, the accounts and their
//! subject indexes, the timers and the outbound queues.
//!
//! See the crate documentation for the run loop the driver follows.

use crate::account::{Account, AccountId, GLOBAL_ACCOUNT};
use crate::conn::policy::{PingRule, Reading};
use crate::conn::{ClientState, Conn, ConnKind, ConnStats};
use crate::events::{Action, CloseReason, Event, TimerKey};
use crate::ids::ConnId;
use crate::info::{ClientInfoExtra, ServerInfo};
use crate::monitor::view::conn_info;
use crate::monitor::{HostStats, MonitorState};
use crate::nkey;
use crate::options::{Options, VERSION};
use crate::proto::parser::ParseError;
use crate::proto::{ClientOp, ProtocolError};
use crate::rng::{Rng, Stream};
use crate::subject;
use crate::sublist::{Matches, Subscription};
use crate::time::Instant;
use crate::timers::Timers;
use bytes::Bytes;
use core::net::SocketAddr;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The kinds of listener a driver accepts connections on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    /// The client port.
    Client,
    /// The HTTP monitoring port.
    Monitor,
    /// The cluster (route) port.
    Route,
}

/// Server-wide counters (the `/varz` numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Messages received from clients.
    pub in_msgs: u64,
    /// Payload bytes received from clients.
    pub in_bytes: u64,
    /// Messages delivered to clients.
    pub out_msgs: u64,
    /// Payload bytes delivered to clients.
    pub out_bytes: u64,
    /// Clients closed as slow consumers.
    pub slow_consumers: u64,
    /// Connections closed as stale.
    pub stale_connections: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Producers paused because a consumer fell behind.
    pub stalled_clients: u64,
}

/// Letters of rewritten service-import replies and generated cluster
/// names.
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// How long a rewritten service-import reply waits for its answer.
const SERVICE_REPLY_TTL: Duration = Duration::from_secs(120);

/// One import, resolved to account ids.
#[derive(Debug)]
struct ImportRoute {
    exporter: AccountId,
    importer: AccountId,
    /// The subject in the exporter's namespace.
    subject: Bytes,
    /// The subject in the importer's namespace, when renamed.
    to: Bytes,
    /// Stream prefix in the importer.
    prefix: Bytes,
    service: bool,
}

impl ImportRoute {
    /// The importer's name for an exporter-side subject (streams).
    fn to_importer(&self, subject: &[u8]) -> Bytes {
        if !self.prefix.is_empty() {
            let mut v = self.prefix.to_vec();
            v.push(b'.');
            v.extend_from_slice(subject);
            return Bytes::from(v);
        }
        if !self.to.is_empty() && subject::is_valid_literal_subject(&self.subject) {
            return self.to.clone();
        }
        Bytes::copy_from_slice(subject)
    }

    /// The importer-side pattern a service request is published on.
    fn importer_pattern(&self) -> &Bytes {
        if self.to.is_empty() {
            &self.subject
        } else {
            &self.to
        }
    }

    /// The exporter's name for an importer-side request subject.
    fn to_exporter(&self, subject: &[u8]) -> Bytes {
        if !self.to.is_empty() && subject::is_valid_literal_subject(&self.subject) {
            return self.subject.clone();
        }
        Bytes::copy_from_slice(subject)
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

/// Lame duck mode in progress.
#[derive(Debug)]
struct LameDuck {
    /// Clients still to close, highest cid first (popped from the back).
    clients: Vec<ConnId>,
    /// Pause between closes (a random point between half and all of it).
    interval: Duration,
    /// Clients closed per step.
    batch: usize,
    /// Whether the grace period is over.
    closing: bool,
}

/// Smallest and largest read the engine asks for (see [`Server::read_cap`]).
const READ_CAP_MIN: usize = 4096;
const READ_CAP_MAX: usize = 256 * 1024;

/// A fast-producer stall lasts this long (nats-server stalls 2 to 10 ms).
const STALL_DURATION: Duration = Duration::from_millis(5);

// Deliberate bugs for the simulator's checker-sensitivity tests: compiled
// only with the `mutations` feature; without it `mutated!` is `false`.
#[cfg(feature = "mutations")]
#[path = "mutations.rs"]
pub mod mutations;
#[cfg(feature = "mutations")]
pub use mutations::Mutations;

/// Whether the deliberate bug `$field` is switched on (always `false`
/// without the `mutations` feature).
macro_rules! mutated {
    ($server:expr, $field:ident) => {{
        #[cfg(feature = "mutations")]
        let on = $server.mutations.$field;
        #[cfg(not(feature = "mutations"))]
        let on = false;
        on
    }};
}

mod inspect;
mod route_dial;
mod route_forward;
mod route_interest;
mod routes;
use routes::Routes;

/// The NATS server engine. Pure: bytes and time in, actions out.
#[derive(Debug)]
pub struct Server {
    pub(crate) options: Options,
    pub(crate) info: ServerInfo,
    queue_rng: Rng,
    /// Nonces for NKey authentication (the identity stream, continued).
    nonce_rng: Rng,
    pub(crate) authenticator: crate::auth::Authenticator,
    /// Stream and service imports between accounts.
    imports: Vec<ImportRoute>,
    /// Rewritten service-import replies: `_R_...` -> (importer, reply).
    service_replies: std::collections::BTreeMap<Bytes, (AccountId, Bytes, Instant)>,
    reply_rng: Rng,
    /// The second token of this server's `_R_.` replies.
    reply_prefix: [u8; 6],
    jitter_rng: Rng,
    hasher: ahash::RandomState,
    pub(crate) conns: HashMap<ConnId, Conn, ahash::RandomState>,
    next_conn: u64,
    /// nats-server's connection counter: the `cid` of the next connection
    /// of a kind that takes one.
    next_cid: u64,
    pub(crate) client_count: usize,
    pub(crate) accounts: Vec<Account>,
    next_sub_seq: u64,
    timers: Timers,
    pub(crate) actions: VecDeque<Action>,
    events: VecDeque<Event>,
    dirty: Vec<ConnId>,
    scratch: String,
    pub(crate) stats: ServerStats,
    start: Instant,
    pub(crate) monitor: MonitorState,
    lame_duck: Option<LameDuck>,
    /// Cluster state: routes, their interest, dialing.
    routes: Routes,
    /// Connections whose outbound bytes passed max_pending outside a
    /// delivery, closed at the end of the current input.
    overflowed: Vec<ConnId>,
    /// Route nonces and generated cluster names.
    route_rng: Rng,
    #[cfg(feature = "mutations")]
    mutations: Mutations,
}

impl Server {
    /// Creates an engine. `seed` drives every random choice (server id,
    /// queue member choice, jitter); `now` is the engine's start time.
    pub fn new(options: Options, seed: [u8; 32], now: Instant) -> Server {
        let mut identity = Rng::derive(&seed, Stream::Identity);
        let mut key = [0u8; 32];
        identity.fill(&mut key);
        let server_id = nkey::encode_public(nkey::PREFIX_SERVER, &key);
        identity.fill(&mut key);
        let xkey = nkey::encode_public(nkey::PREFIX_CURVE, &key);
        let mut hashing = Rng::derive(&seed, Stream::Hashing);
        let hasher = ahash::RandomState::with_seeds(
            hashing.next_u64(),
            hashing.next_u64(),
            hashing.next_u64(),
            hashing.next_u64(),
        );
        let server_name = if options.server_name.is_empty() {
            server_id.clone()
        } else {
            options.server_name.clone()
        };
        let info = ServerInfo {
            server_id,
            server_name,
            version: VERSION.to_string(),
            git_commit: option_env!("CANOPY_GIT_COMMIT")
                .unwrap_or("canopy")
                .to_string(),
            toolchain: "rust".to_string(),
            host: options.host.clone(),
            port: options.port,
            headers: options.headers,
            // With no_auth_user, clients are told no auth is required
            // (though credentials, when given, are still checked).
            auth_required: options.authenticator().required() && options.no_auth_user.is_none(),
            max_payload: options.max_payload,
            connect_urls: Vec::new(),
            cluster: String::new(),
            cluster_dynamic: false,
            xkey,
        };
        let mut accounts = vec![Account::new(GLOBAL_ACCOUNT, hashing.next_u64())];
        for name in &options.accounts {
            if name != GLOBAL_ACCOUNT {
                accounts.push(Account::new(name, hashing.next_u64()));
            }
        }
        // The system account exists even when no config names it.
        let sys = &options.system_account;
        if !sys.is_empty() && !accounts.iter().any(|a| &a.name == sys) {
            accounts.push(Account::new(sys, hashing.next_u64()));
        }
        let authenticator = options.authenticator();
        let id_of = |name: &str| {
            accounts
                .iter()
                .position(|a| a.name == name)
                .map(|i| AccountId(i as u32))
        };
        let imports = options
            .imports
            .iter()
            .filter_map(|i| {
                Some(ImportRoute {
                    exporter: id_of(&i.exporter)?,
                    importer: id_of(&i.importer)?,
                    subject: Bytes::copy_from_slice(i.subject.as_bytes()),
                    to: Bytes::copy_from_slice(i.to.as_bytes()),
                    prefix: Bytes::copy_from_slice(i.prefix.as_bytes()),
                    service: i.service,
                })
            })
            .collect();
        let mut reply_rng = Rng::derive(&seed, Stream::Replies);
        let mut reply_prefix = [0u8; 6];
        for b in &mut reply_prefix {
            *b = ALPHANUMERIC[reply_rng.below(ALPHANUMERIC.len() as u64) as usize];
        }
        let mut server = Server {
            options,
            info,
            queue_rng: Rng::derive(&seed, Stream::QueueChoice),
            nonce_rng: identity,
            authenticator,
            imports,
            service_replies: Default::default(),
            reply_rng,
            reply_prefix,
            jitter_rng: Rng::derive(&seed, Stream::Jitter),
            conns: HashMap::with_hasher(hasher.clone()),
            hasher,
            next_conn: 1,
            next_cid: 1,
            client_count: 0,
            accounts,
            next_sub_seq: 1,
            timers: Timers::default(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            dirty: Vec::new(),
            scratch: String::new(),
            stats: ServerStats::default(),
            start: now,
            monitor: MonitorState::default(),
            lame_duck: None,
            routes: Routes::default(),
            overflowed: Vec::new(),
            route_rng: Rng::derive(&seed, Stream::Shuffle),
            #[cfg(feature = "mutations")]
            mutations: Mutations::default(),
        };
        server.init_cluster(now);
        server
    }

    /// Switches deliberate bugs on or off (checker-sensitivity tests only).
    #[cfg(feature = "mutations")]
    pub fn set_mutations(&mut self, mutations: Mutations) {
        self.mutations = mutations;
    }

    /// Tells the engine the wall-clock time (nanoseconds since the Unix
    /// epoch) at engine instant `now`, for the timestamps monitoring shows.
    /// Call once at start; calling again corrects drift.
    pub fn handle_wall_clock(&mut self, unix_nanos: i128, now: Instant) {
        self.monitor.wall_offset = unix_nanos - i128::from(now.as_nanos());
    }

    /// Process facts for `/varz` (memory, CPU, cores) that only the driver
    /// can measure.
    pub fn set_host_stats(&mut self, stats: HostStats) {
        self.monitor.host = stats;
    }

    /// The build identifier shown as `git_commit`.
    pub fn git_commit(&self) -> &str {
        &self.info.git_commit
    }

    /// The options the engine runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The server id (`N...`).
    pub fn server_id(&self) -> &str {
        &self.info.server_id
    }

    /// The server name.
    pub fn server_name(&self) -> &str {
        &self.info.server_name
    }

    /// Server-wide counters.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// When the engine started.
    pub fn start_time(&self) -> Instant {
        self.start
    }

    /// Number of open client connections.
    pub fn client_count(&self) -> usize {
        self.client_count
    }

    /// Number of subscriptions across all accounts.
    pub fn subscription_count(&self) -> usize {
        self.accounts.iter().map(|a| a.sublist.count()).sum()
    }

    /// When a connection was accepted, if it is known.
    pub fn conn_start(&self, conn: ConnId) -> Option<Instant> {
        self.conns.get(&conn).map(|c| c.start)
    }

    /// Counters of one connection, if it is known.
    pub fn conn_stats(&self, conn: ConnId) -> Option<ConnStats> {
        self.conns.get(&conn).map(|c| c.stats)
    }

    /// Outbound bytes of a connection that are queued or taken but not yet
    /// reported written (what max_pending limits), if it is known.
    pub fn conn_pending_bytes(&self, conn: ConnId) -> Option<usize> {
        self.conns.get(&conn).map(|c| c.out.pending())
    }

    /// Registers a connection accepted on a listener and queues its INFO.
    /// Call when the socket is accepted; drain actions afterwards.
    pub fn handle_accept(&mut self, kind: ListenerKind, peer: SocketAddr, now: Instant) -> ConnId {
        match kind {
            ListenerKind::Client => self.accept_client(peer, now),
            ListenerKind::Monitor => self.accept_http(peer, now),
            ListenerKind::Route => self.accept_route(peer, now),
        }
    }

    /// The most bytes to hand the engine in one [`Server::handle_read`] of
    /// `conn`. The engine handles a whole read before any flush, so one
    /// huge read of publishes could push a fast subscriber past
    /// max_pending; an eighth of it (between 4 KiB and 256 KiB) keeps a
    /// read well inside. Drivers size their read buffers to this.
    pub fn read_cap(&self, conn: ConnId) -> usize {
        let _ = conn;
        (self.options.max_pending / 8).clamp(READ_CAP_MIN, READ_CAP_MAX)
    }

    /// Feeds bytes read from `conn`. Call for every read, in order, each
    /// at most [`Server::read_cap`] bytes.
    pub fn handle_read(&mut self, conn: ConnId, data: Bytes, now: Instant) {
        match self.conns.get(&conn).map(|c| c.policy().reading) {
            None => return,
            Some(Reading::Http) => self.read_http(conn, &data, now),
            Some(Reading::Nats(_)) => self.read_nats(conn, data, now),
        }
        self.close_overflowed(now);
        self.schedule_flushes();
    }

    /// Moves the bytes queued for `conn` into `dst` for writing and returns
    /// how many bytes were moved. Call on [`Action::Flush`] and before
    /// closing on [`Action::Close`] with `after_flush`.
    pub fn take_outbound(&mut self, conn: ConnId, dst: &mut Vec<Bytes>, now: Instant) -> usize {
        let Some(c) = self.conns.get_mut(&conn) else {
            return 0;
        };
        let had_in_flight = c.out.in_flight() > 0;
        let n = c.out.take(dst);
        if n > 0 && !had_in_flight && !c.closed && c.policy().bounded {
            self.timers.set(
                TimerKey::WriteDeadline(conn),
                now + self.options.write_deadline,
            );
        }
        n
    }

    /// Reports that `n` bytes taken from `conn` reached the socket.
    pub fn handle_written(&mut self, conn: ConnId, n: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.out.written(n);
        if c.closed || !c.policy().bounded {
            return;
        }
        if c.out.in_flight() == 0 {
            self.timers.cancel(TimerKey::WriteDeadline(conn));
        } else if n > 0 {
            self.timers.set(
                TimerKey::WriteDeadline(conn),
                now + self.options.write_deadline,
            );
        }
    }

    /// Reports that the socket of `conn` is gone (peer closed, read or write
    /// error, or the driver finished an [`Action::Close`]). The engine
    /// forgets the connection; its id is never reused.
    pub fn handle_closed(&mut self, conn: ConnId, now: Instant) {
        if let Some(c) = self.conns.get(&conn) {
            if !c.closed {
                self.close(conn, CloseReason::ClientClosed, false, false, now);
            }
        }
        self.conns.remove(&conn);
        self.close_overflowed(now);
        self.schedule_flushes();
    }

    /// Fires every timer due at or before `now`. Calling it early or twice
    /// is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                TimerKey::Ping(conn) => self.ping_timer(conn, now),
                TimerKey::AuthTimeout(conn) => {
                    self.fail(conn, ProtocolError::AuthenticationTimeout, now);
                }
                TimerKey::LameDuck => self.lame_duck_timer(now),
                TimerKey::RouteConnect(i) => self.route_connect_timer(i as usize, now),
                TimerKey::WriteDeadline(conn) => {
                    let open = self.conns.get(&conn).is_some_and(|c| !c.closed);
                    if open {
                        self.slow_consumer(conn, CloseReason::SlowConsumerWriteDeadline, now);
                    }
                }
            }
        }
        self.close_overflowed(now);
        self.schedule_flushes();
    }

    /// Carries a message published in `account` across accounts: streams
    /// it exports to their importers, service requests it imports to their
    /// exporter (with the reply rewritten to `_R_...`), and responses to
    /// such rewritten replies back to the requester. Returns deliveries.
    ///
    /// A message that came from a route (`from_route`) is the publishing
    /// server's to map for services: here it only feeds streams and
    /// responses. A service request mapped here also goes to the routes
    /// with interest in the exporter (its responders may be elsewhere).
    fn cross_accounts(
        &mut self,
        conn: ConnId,
        account: AccountId,
        msg: &Msg<'_>,
        from_route: bool,
        now: Instant,
    ) -> usize {
        let mut delivered = 0;
        // A response to a rewritten reply: back to the importer, once.
        if msg.subject.starts_with(b"_R_.") {
            if let Some((importer, reply, _)) = self.service_replies.remove(msg.subject) {
                let fwd = Msg {
                    subject: &reply,
                    reply: None,
                    header_len: msg.header_len,
                    message: msg.message,
                };
                let matches = self.accounts[importer.0 as usize].sublist.matches(&reply);
                delivered += self.deliver_matches(conn, true, &matches, &fwd, None, now);
            }
        }
        // (target account, subject there, whether a service request)
        let mut hops: Vec<(AccountId, Bytes, bool)> = Vec::new();
        for route in &self.imports {
            if !route.service
                && route.exporter == account
                && subject::matches(&route.subject, msg.subject)
            {
                hops.push((route.importer, route.to_importer(msg.subject), false));
            } else if route.service
                && !from_route
                && route.importer == account
                && subject::matches(route.importer_pattern(), msg.subject)
            {
                hops.push((route.exporter, route.to_exporter(msg.subject), true));
            }
        }
        for (target, subject, service) in hops {
            let reply = msg.reply.cloned();
            let reply = match reply {
                Some(original) if service => {
                    let mapped = self.new_service_reply();
                    // Unanswered requests expire (nats-server's default
                    // response threshold, 2 minutes): the map stays bounded.
                    if self.service_replies.len() >= 64 {
                        self.service_replies
                            .retain(|_, (_, _, at)| now.saturating_since(*at) < SERVICE_REPLY_TTL);
                    }
                    self.service_replies
                        .insert(mapped.clone(), (account, original, now));
                    Some(mapped)
                }
                other => other,
            };
            let fwd = Msg {
                subject: &subject,
                reply: reply.as_ref(),
                header_len: msg.header_len,
                message: msg.message,
            };
            let matches = self.accounts[target.0 as usize].sublist.matches(&subject);
            delivered += self.deliver_matches(conn, true, &matches, &fwd, None, now);
            if service {
                delivered += self.send_to_routes(target, &fwd, now);
            }
        }
        delivered
    }

    /// `_R_.`, this server's six-character reply prefix, and six random
    /// letters and digits. The prefix is this server's own, so a cluster
    /// routes responses back here (see `route_interest.rs`).
    fn new_service_reply(&mut self) -> Bytes {
        let mut out = b"_R_.".to_vec();
        out.extend_from_slice(&self.reply_prefix);
        out.push(b'.');
        for _ in 0..6 {
            out.push(ALPHANUMERIC[self.reply_rng.below(ALPHANUMERIC.len() as u64) as usize]);
        }
        Bytes::from(out)
    }

    /// Enters lame duck mode (SIGUSR2): the driver has stopped accepting
    /// clients; every client that said `"protocol":1` gets an INFO with
    /// `"ldm":true`, and after the
    /// grace period clients are closed one by one, spread over the lame
    /// duck duration (at most a second apart), as nats-server does. Then
    /// [`Event::ShutdownRequested`]. With no clients it asks for shutdown at
    /// once. Calling it again is harmless.
    pub fn enter_lame_duck(&mut self, now: Instant) {
        if self.lame_duck.is_some() {
            return;
        }
        tracing::info!("Entering lame duck mode, stop accepting new clients");
        let mut clients = self.open_client_ids();
        if clients.is_empty() {
            self.lame_duck = Some(LameDuck {
                clients,
                interval: Duration::ZERO,
                batch: 1,
                closing: false,
            });
            self.events.push_back(Event::ShutdownRequested);
            return;
        }
        let grace = self.options.lame_duck_grace_period;
        let mut spread = self.options.lame_duck_duration.saturating_sub(grace);
        if spread.is_zero() {
            spread = Duration::from_secs(1);
        }
        let n = clients.len() as u64;
        let mut interval = Duration::from_nanos((spread.as_nanos() as u64) / n);
        let mut batch = 1;
        if interval.is_zero() {
            interval = Duration::from_nanos(1);
            batch = (n / (spread.as_nanos() as u64).max(1)).max(1) as usize;
        } else if interval > Duration::from_secs(1) {
            interval = Duration::from_secs(1);
        }
        for &id in &clients {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            // Only clients that take asynchronous INFO (protocol 1) hear it.
            if c.client().is_none_or(|cl| cl.opts.protocol < 1) {
                continue;
            }
            let ip = c.peer.ip().to_string();
            self.scratch.clear();
            self.info.write_client_info(
                &ClientInfoExtra {
                    client_id: c.cid,
                    client_ip: &ip,
                    ldm: true,
                    ..Default::default()
                },
                &mut self.scratch,
            );
            c.out.push_slice(self.scratch.as_bytes());
            self.mark_dirty(id);
        }
        clients.reverse(); // popped from the back: lowest cid first
        self.lame_duck = Some(LameDuck {
            clients,
            interval,
            batch,
            closing: false,
        });
        self.timers.set(TimerKey::LameDuck, now + grace);
        self.close_overflowed(now);
        self.schedule_flushes();
    }

    /// Whether lame duck mode has begun.
    pub fn in_lame_duck_mode(&self) -> bool {
        self.lame_duck.is_some()
    }

    fn lame_duck_timer(&mut self, now: Instant) {
        let Some(ld) = self.lame_duck.as_mut() else {
            return;
        };
        if !ld.closing {
            ld.closing = true;
            tracing::info!("Closing existing clients");
        }
        let batch = ld.batch;
        let interval = ld.interval;
        let mut closed = 0;
        while closed < batch {
            let Some(id) = self.lame_duck.as_mut().and_then(|ld| ld.clients.pop()) else {
                break;
            };
            if self.conns.get(&id).is_some_and(|c| !c.closed) {
                self.close(id, CloseReason::ServerShutdown, true, true, now);
                closed += 1;
            }
        }
        if self
            .lame_duck
            .as_ref()
            .is_some_and(|ld| ld.clients.is_empty())
        {
            self.events.push_back(Event::ShutdownRequested);
            return;
        }
        // A random pause between half the interval and the interval.
        let ns = interval.as_nanos() as u64;
        let pause = (ns / 2).max(self.jitter_rng.below(ns.max(1)));
        self.timers
            .set(TimerKey::LameDuck, now + Duration::from_nanos(pause));
    }

    /// The first server PING: sooner than the interval (the kind's
    /// policy: at most 2 s for clients, 1 s for routes) plus up to 20%
    /// jitter. Set at accept and again at a client's CONNECT, as
    /// nats-server does.
    pub(crate) fn set_first_ping_timer(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let first = c.policy().first_ping(&self.options);
        let jitter_ns = self.jitter_rng.below((first.as_nanos() / 5) as u64);
        self.timers.set(
            TimerKey::Ping(conn),
            now + first + Duration::from_nanos(jitter_ns),
        );
    }

    fn open_client_ids(&self) -> Vec<ConnId> {
        // Sorted below, so the map's iteration order never reaches output.
        #[allow(clippy::disallowed_methods)]
        let mut ids: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| !c.closed && c.counted)
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Closes every connection (server shutdown), in connection order.
    pub fn shutdown(&mut self, now: Instant) {
        self.routes.stopping = true;
        // Sorted below, so the map's iteration order never reaches output.
        #[allow(clippy::disallowed_methods)]
        let mut ids: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| !c.closed)
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            self.close(id, CloseReason::ServerShutdown, true, true, now);
        }
    }

    /// The next action for the driver, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest timer deadline and its name. Re-read after every
    /// `handle_*` call.
    pub fn poll_timeout(&self) -> Option<(Instant, TimerKey)> {
        self.timers.next()
    }

    /// The next event for logs and metrics, if any. Drain regularly: events
    /// are kept until taken.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- accept and read -------------------------------------------------

    /// A new connection of `kind`: the next engine id, and the next
    /// nats-server connection number if the kind takes one.
    pub(crate) fn new_conn(&mut self, peer: SocketAddr, kind: ConnKind, now: Instant) -> Conn {
        let (id, cid) = self.reserve_conn(crate::conn::policy::of(&kind).takes_cid);
        Conn::new(id, cid, peer, kind, now)
    }

    /// The next engine connection id and, when `takes_cid`, the next
    /// nats-server connection number (0 otherwise). A dial reserves both
    /// when it starts, so a route keeps the number of its dial.
    pub(crate) fn reserve_conn(&mut self, takes_cid: bool) -> (ConnId, u64) {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let cid = if takes_cid {
            self.next_cid += 1;
            self.next_cid - 1
        } else {
            0
        };
        (id, cid)
    }

    fn accept_client(&mut self, peer: SocketAddr, now: Instant) -> ConnId {
        self.stats.total_connections += 1;
        let mut state = ClientState::new(AccountId(0), self.hasher.clone());
        // With no_auth_user, a client that never sends CONNECT (telnet
        // style) is that user from the start, as in nats-server.
        if self.authenticator.no_auth_user.is_some() {
            if let Some(id) = self
                .authenticator
                .authenticate(&crate::info::ConnectOptions::default(), "")
            {
                if let Some(idx) = self.accounts.iter().position(|a| a.name == id.account) {
                    state.account = AccountId(idx as u32);
                    state.perms = id.permissions;
                }
            }
        }
        if self.authenticator.needs_nonce() {
            // 11 random bytes, 15 characters of URL base64, as nats-server.
            let mut raw = [0u8; 11];
            self.nonce_rng.fill(&mut raw);
            state.nonce = crate::auth::base64_url_encode(&raw);
        }
        let mut client = self.new_conn(peer, ConnKind::Client(Box::new(state)), now);
        let (id, cid) = (client.id, client.cid);
        self.scratch.clear();
        let ip = peer.ip().to_string();
        let nonce = client.client().map_or("", |c| c.nonce.as_str());
        self.info.write_client_info(
            &ClientInfoExtra {
                client_id: cid,
                client_ip: &ip,
                nonce: (!nonce.is_empty()).then_some(nonce),
                ..Default::default()
            },
            &mut self.scratch,
        );
        client.out.push_slice(self.scratch.as_bytes());
        let over_limit = client.policy().counts_as_client
            && match self.options.max_connections {
                None => true,
                Some(max) => self.client_count >= max,
            };
        self.conns.insert(id, client);
        tracing::debug!("{peer} - cid:{cid} - Client connection created");
        self.events.push_back(Event::ClientConnected { conn: id });
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
            if self.authenticator.required() {
                self.timers
                    .set(TimerKey::AuthTimeout(id), now + self.options.auth_timeout);
            }
        }
        self.mark_dirty(id);
        self.schedule_flushes();
        id
    }

    /// Parses a NATS-protocol read (any dialect) and processes its ops.
    fn read_nats(&mut self, conn: ConnId, mut data: Bytes, now: Instant) {
        // With no_auth_user the INFO says no auth is required, and a client
        // may start with any op (telnet style), as nats-server allows.
        let auth_required = self.info.auth_required;
        // Mutation hook: whether the next op began in an earlier read.
        #[cfg(feature = "mutations")]
        let mut split_op = self.conns.get(&conn).is_some_and(|c| !c.parser.is_idle());
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.closed {
                return;
            }
            c.last_in = now;
            c.last_activity = now;
            let policy = c.policy();
            // Before CONNECT on a server that requires auth (and on the
            // route port), the first op must be CONNECT: nats-server
            // rejects any other first byte.
            if policy.requires_connect_first(auth_required)
                && !c.connect_received
                && c.parser.is_idle()
            {
                if let Some(&b) = data.first() {
                    if b != b'C' && b != b'c' {
                        self.fail(conn, ProtocolError::AuthorizationViolation, now);
                        return;
                    }
                }
            }
            let limits = policy.limits(&self.options, c.headers);
            match c.parser.decode(&mut data, &limits) {
                #[cfg(feature = "mutations")]
                Ok(Some(ClientOp::Pub { .. } | ClientOp::HPub { .. }))
                    if split_op && mutated!(self, drop_split_pub) =>
                {
                    split_op = false;
                }
                Ok(Some(op)) => {
                    #[cfg(feature = "mutations")]
                    {
                        split_op = false;
                    }
                    self.process_op(conn, op, now);
                }
                Ok(None) => return,
                Err(ParseError::Protocol(e)) => {
                    self.fail(conn, e, now);
                    return;
                }
                Err(ParseError::SilentClose) => {
                    tracing::debug!(
                        "cid:{} - closing after a protocol violation",
                        self.cid(conn)
                    );
                    self.close(conn, CloseReason::ProtocolViolation, true, true, now);
                    return;
                }
            }
        }
    }

    /// Dispatches one parsed op to the code of the connection's kind.
    fn process_op(&mut self, conn: ConnId, op: ClientOp, now: Instant) {
        match self.conns.get(&conn).map(|c| &c.kind) {
            Some(ConnKind::Client(_)) => self.process_client_op(conn, op, now),
            Some(ConnKind::Route(_)) => self.process_route_op(conn, op, now),
            // HTTP bytes never reach the NATS parser.
            Some(ConnKind::Http(_)) | None => {}
        }
    }

    /// The nats-server connection number of `conn` (0 if unknown), for
    /// log lines.
    pub(crate) fn cid(&self, conn: ConnId) -> u64 {
        self.conns.get(&conn).map_or(0, |c| c.cid)
    }

    fn process_client_op(&mut self, conn: ConnId, op: ClientOp, now: Instant) {
        // A client that starts without CONNECT under no_auth_user is that
        // user (see accept_client): its first op ends the auth timeout.
        if self.authenticator.no_auth_user.is_some()
            && !matches!(op, ClientOp::Connect(_))
            && self.conns.get(&conn).is_some_and(|c| !c.connect_received)
        {
            self.timers.cancel(TimerKey::AuthTimeout(conn));
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
            ClientOp::RouteSub { .. } | ClientOp::RouteUnsub { .. } | ClientOp::RouteMsg { .. } => {
                self.fail(conn, ProtocolError::UnknownOperation, now);
            }
            ClientOp::Err(_) => {
                tracing::debug!("cid:{} - client sent -ERR, closing", self.cid(conn));
                self.close(conn, CloseReason::ParseError, true, true, now);
            }
        }
    }

    // ---- CONNECT ----------------------------------------------------------

    fn process_connect(&mut self, conn: ConnId, json: &[u8], now: Instant) {
        let server_headers = self.options.headers;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        let Some(opts) = cl.opts.overlay(json) else {
            tracing::debug!("cid:{} - malformed CONNECT, closing", c.cid);
            self.close(conn, CloseReason::ParseError, true, true, now);
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
        let c = &self.conns[&conn];
        let Some(cl) = c.client() else {
            return;
        };
        let identity = self.authenticator.authenticate(&cl.opts, &cl.nonce);
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
        }
        if first_connect && self.conns.get(&conn).is_some_and(|c| c.counted) {
            self.set_first_ping_timer(conn, now);
        }
        self.ok(conn);
    }

    // ---- PUB / delivery ---------------------------------------------------

    fn process_pub(
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
        c.stats.in_msgs += 1;
        c.stats.in_bytes += message.len() as u64;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += message.len() as u64;
        if cl.perms.as_ref().is_some_and(|p| !p.can_publish(&subject))
            && !take_response_permission(&mut cl.responses, &subject, now)
        {
            // Refused: -ERR, the message is dropped, the connection stays.
            let text = crate::perms::publish_violation(&subject);
            tracing::debug!("{} - cid:{} - {}", c.peer, c.cid, text);
            c.out.push_err(&text);
            self.mark_dirty(conn);
            return;
        }
        // `_R_.` replies are the server's own (service imports): refused.
        if let Some(r) = reply.as_ref().filter(|r| r.starts_with(b"_R_.")) {
            let text = crate::perms::reserved_reply_violation(r);
            c.out.push_err(&text);
            self.mark_dirty(conn);
            return;
        }
        if cl.opts.pedantic && !subject::is_valid_literal_subject(&subject) {
            c.out.push_err(ProtocolError::InvalidPublishSubject.text());
        }
        if cl.opts.verbose {
            c.out.push_slice(b"+OK\r\n");
        }
        let account = cl.account;
        let echo = cl.opts.echo || mutated!(self, ignore_echo);
        let no_responders = cl.opts.no_responders && c.headers;
        self.mark_dirty(conn);
        let msg = Msg {
            subject: &subject,
            reply: reply.as_ref(),
            header_len,
            message: &message,
        };
        let matches = self.accounts[account.0 as usize].sublist.matches(&subject);
        let mut delivered = self.deliver_matches(conn, echo, &matches, &msg, None, now);
        delivered += self.send_to_routes(account, &msg, now);
        if !self.imports.is_empty() || !self.service_replies.is_empty() {
            delivered += self.cross_accounts(conn, account, &msg, false, now);
        }
        if delivered == 0 && no_responders {
            if let Some(reply) = reply.as_ref() {
                self.no_responders(conn, account, &subject, reply, now);
            }
        }
    }

    /// Delivers to every plain match and one member of each queue group
    /// (only the groups named in `groups`, when given: a routed message);
    /// returns the number of deliveries.
    fn deliver_matches(
        &mut self,
        publisher: ConnId,
        echo: bool,
        matches: &Matches,
        msg: &Msg<'_>,
        groups: Option<&Bytes>,
        now: Instant,
    ) -> usize {
        let mut delivered = 0;
        // A client's publish in a cluster: note which queue groups were
        // served here, so the routes serve only the others.
        let track = groups.is_none() && !self.routes.by_id.is_empty();
        if track {
            self.routes.served.clear();
        }
        for sub in &matches.plain {
            if !echo && sub.conn == publisher {
                continue;
            }
            if self.deliver(publisher, sub, msg, now) {
                delivered += 1;
                if mutated!(self, plain_wildcard_twice)
                    && sub.subject.iter().any(|&b| b == b'*' || b == b'>')
                {
                    self.deliver(publisher, sub, msg, now);
                }
            }
        }
        for group in &matches.queues {
            let n = group.members.len();
            if n == 0 || groups.is_some_and(|g| !names_group(g, &group.name)) {
                continue;
            }
            let start = self.queue_rng.below(n as u64) as usize;
            for i in 0..n {
                let sub = &group.members[(start + i) % n];
                if !echo && sub.conn == publisher {
                    continue;
                }
                if self.deliver(publisher, sub, msg, now) {
                    delivered += 1;
                    if track {
                        self.routes.served.push(group.name.clone());
                    }
                    if mutated!(self, queue_two_members) && n > 1 {
                        let other = &group.members[(start + i + 1) % n];
                        self.deliver(publisher, other, msg, now);
                    }
                    break;
                }
            }
        }
        delivered
    }

    /// Queues one message for one subscription. Returns false when the
    /// subscription can no longer receive (closed connection, max reached).
    fn deliver(
        &mut self,
        publisher: ConnId,
        sub: &Arc<Subscription>,
        msg: &Msg<'_>,
        now: Instant,
    ) -> bool {
        let max_pending = self.options.max_pending;
        let Some(c) = self.conns.get_mut(&sub.conn) else {
            return false;
        };
        // Local subscriptions are clients'.
        let ConnKind::Client(cl) = &mut c.kind else {
            return false;
        };
        if c.closed {
            return false;
        }
        // A wildcard or queue subscription the deny list let through must
        // still not receive what the deny list names (nats-server's
        // delivery-time deny filter).
        // Only clients with permissions pay for the subject scan.
        if let Some(p) = &cl.perms {
            let broad = sub.queue.is_some() || sub.subject.iter().any(|&b| b == b'*' || b == b'>');
            if broad && p.delivery_denied(msg.subject) {
                return false;
            }
        }
        if let (Some(reply), Some(r)) = (msg.reply, cl.perms.as_ref().and_then(|p| p.responses)) {
            cl.responses.insert(reply.clone(), (r.max, now + r.expires));
        }
        let max = sub.max.load(Ordering::Relaxed);
        let delivered = sub.delivered.load(Ordering::Relaxed) + 1;
        if max > 0 && delivered > max {
            return false;
        }
        sub.delivered.store(delivered, Ordering::Relaxed);
        let with_headers = msg.header_len > 0 && c.headers;
        let body = if msg.header_len > 0 && !c.headers {
            msg.message.slice(msg.header_len.min(msg.message.len())..)
        } else {
            msg.message.clone()
        };
        let out = &mut c.out;
        out.push_slice(if with_headers { b"HMSG " } else { b"MSG " });
        out.push_slice(msg.subject);
        out.push_slice(b" ");
        out.push_slice(&sub.sid);
        out.push_slice(b" ");
        if let Some(reply) = msg.reply {
            out.push_slice(reply);
            out.push_slice(b" ");
        }
        if with_headers {
            out.push_decimal(msg.header_len as u64);
            out.push_slice(b" ");
        }
        out.push_decimal(body.len() as u64);
        out.push_slice(b"\r\n");
        out.push_payload(&body);
        out.push_slice(b"\r\n");
        c.stats.out_msgs += 1;
        c.stats.out_bytes += body.len() as u64;
        c.last_activity = now;
        self.stats.out_msgs += 1;
        self.stats.out_bytes += body.len() as u64;
        let pending = c.out.pending();
        let target = sub.conn;
        if pending > max_pending && !mutated!(self, ignore_max_pending) {
            self.slow_consumer(target, CloseReason::SlowConsumerPendingBytes, now);
            return true;
        }
        self.mark_dirty(target);
        // nats-server stalls producers once a consumer is half way there.
        if pending > max_pending / 2 && publisher != target {
            self.stall(publisher, now);
        }
        if max > 0 && delivered == max {
            self.remove_sub(target, &sub.sid);
        }
        true
    }

    /// Counts, reports and closes a slow consumer: one whose outbound bytes
    /// passed max_pending (`SlowConsumerPendingBytes`) or whose write
    /// deadline passed (`SlowConsumerWriteDeadline`); the reason picks
    /// nats-server's log line.
    fn slow_consumer(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        if reason == CloseReason::SlowConsumerWriteDeadline {
            tracing::info!("{} - Slow Consumer Detected: WriteDeadline exceeded", conn);
        } else if let Some(c) = self.conns.get(&conn) {
            tracing::info!(
                "{} - {} - Slow Consumer Detected: MaxPending of {} Exceeded",
                c.peer,
                conn,
                self.options.max_pending
            );
        }
        self.stats.slow_consumers += 1;
        self.events.push_back(Event::SlowConsumerDetected { conn });
        self.close(conn, reason, false, true, now);
    }

    /// Closes the connections [`Server::mark_dirty`] found past
    /// max_pending.
    fn close_overflowed(&mut self, now: Instant) {
        while let Some(conn) = self.overflowed.pop() {
            if self.conns.get(&conn).is_some_and(|c| !c.closed) {
                self.slow_consumer(conn, CloseReason::SlowConsumerPendingBytes, now);
            }
        }
    }

    fn stall(&mut self, publisher: ConnId, now: Instant) {
        if let Some(p) = self.conns.get_mut(&publisher) {
            if p.paused_until <= now {
                p.paused_until = now + STALL_DURATION;
                self.stats.stalled_clients += 1;
                self.actions.push_back(Action::PauseReading {
                    conn: publisher,
                    until: p.paused_until,
                });
            }
        }
    }

    fn no_responders(
        &mut self,
        conn: ConnId,
        account: AccountId,
        subject: &Bytes,
        reply: &Bytes,
        now: Instant,
    ) {
        let matches = self.accounts[account.0 as usize].sublist.matches(reply);
        let Some(sub) = matches.plain.iter().find(|s| s.conn == conn).cloned() else {
            return;
        };
        let mut status = Vec::with_capacity(32 + subject.len());
        status.extend_from_slice(b"NATS/1.0 503\r\nNats-Subject: ");
        status.extend_from_slice(subject);
        status.extend_from_slice(b"\r\n\r\n");
        let status = Bytes::from(status);
        let msg = Msg {
            subject: reply,
            reply: None,
            header_len: status.len(),
            message: &status,
        };
        self.deliver(conn, &sub, &msg, now);
    }

    // ---- SUB / UNSUB ------------------------------------------------------

    fn process_sub(&mut self, conn: ConnId, subject: Bytes, queue: Option<Bytes>, sid: Bytes) {
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
        if max_subs > 0 && cl.subs.len() >= max_subs {
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
        self.local_interest(account, &sub.subject, sub.queue.as_ref(), true);
        self.ok(conn);
    }

    fn process_unsub(&mut self, conn: ConnId, sid: Bytes, max: Option<u64>) {
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

    fn remove_sub(&mut self, conn: ConnId, sid: &[u8]) {
        let Some(cl) = self.conns.get_mut(&conn).and_then(|c| c.client_mut()) else {
            return;
        };
        if let Some(sub) = cl.subs.remove(sid) {
            let account = cl.account;
            self.accounts[account.0 as usize].sublist.remove(&sub);
            self.local_interest(account, &sub.subject, sub.queue.as_ref(), false);
        }
    }

    // ---- PING / PONG ------------------------------------------------------

    fn process_ping(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        c.out.push_slice(b"PONG\r\n");
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
    pub(crate) fn send_async_info(&mut self) {
        for id in self.open_client_ids() {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            let ConnKind::Client(cl) = &c.kind else {
                continue;
            };
            if cl.opts.protocol < 1 || !cl.first_pong_sent {
                continue;
            }
            let ip = c.peer.ip().to_string();
            self.scratch.clear();
            self.info.write_client_info(
                &ClientInfoExtra {
                    client_id: c.cid,
                    client_ip: &ip,
                    ..Default::default()
                },
                &mut self.scratch,
            );
            c.out.push_slice(self.scratch.as_bytes());
            self.mark_dirty(id);
        }
    }

    /// A PONG (client or route): the outstanding PINGs are answered and
    /// the round trip is measured.
    fn process_pong(&mut self, conn: ConnId, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.ping.outstanding = 0;
            if let Some(sent) = c.ping.rtt_start.take() {
                c.ping.rtt = Some(now.saturating_since(sent));
                c.ping.rtt_known = true;
            }
        }
    }

    fn ping_timer(&mut self, conn: ConnId, now: Instant) {
        let ping_max = self.options.ping_max;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        let policy = c.policy();
        let interval = policy.ping_interval(&self.options);
        // Clients that were recently active skip the PING; routes always
        // get one, as nats-server sends them.
        let recently_active =
            policy.ping == PingRule::UnlessActive && now.saturating_since(c.last_in) < interval;
        if policy.ping == PingRule::Never {
            return;
        }
        if !recently_active || !c.ping.rtt_known {
            if c.ping.outstanding + 1 > ping_max {
                tracing::debug!("cid:{} - Stale Client Connection - Closing", c.cid);
                self.stats.stale_connections += 1;
                self.fail_with(
                    conn,
                    ProtocolError::StaleConnection,
                    CloseReason::StaleConnection,
                    now,
                );
                return;
            }
            c.ping.outstanding += 1;
            c.ping.rtt_start = Some(now);
            c.out.push_slice(b"PING\r\n");
            self.mark_dirty(conn);
        }
        self.timers.set(TimerKey::Ping(conn), now + interval);
    }

    // ---- helpers ----------------------------------------------------------

    fn ok(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.client().is_some_and(|cl| cl.opts.verbose) {
                c.out.push_slice(b"+OK\r\n");
                self.mark_dirty(conn);
            }
        }
    }

    /// Sends `-ERR` and, for closing errors, closes after flushing.
    fn fail(&mut self, conn: ConnId, err: ProtocolError, now: Instant) {
        let reason = match err {
            ProtocolError::UnknownOperation => CloseReason::ParseError,
            ProtocolError::AuthorizationViolation => CloseReason::AuthenticationViolation,
            ProtocolError::AuthenticationTimeout => CloseReason::AuthenticationTimeout,
            ProtocolError::MaxPayload => CloseReason::MaxPayloadExceeded,
            ProtocolError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            ProtocolError::MaxConnections => CloseReason::MaxConnectionsExceeded,
            ProtocolError::StaleConnection => CloseReason::StaleConnection,
            ProtocolError::InvalidClientProtocol => CloseReason::BadClientProtocolVersion,
            ProtocolError::NoRespondersRequiresHeaders => CloseReason::NoRespondersRequiresHeaders,
            ProtocolError::ClientOnRoutePort => CloseReason::ProtocolViolation,
            ProtocolError::MaxSubscriptions
            | ProtocolError::InvalidSubject
            | ProtocolError::InvalidPublishSubject => CloseReason::ProtocolViolation,
        };
        self.fail_with(conn, err, reason, now);
    }

    fn fail_with(&mut self, conn: ConnId, err: ProtocolError, reason: CloseReason, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        c.out.push_err(err.text());
        self.mark_dirty(conn);
        if err.closes() {
            self.close(conn, reason, true, true, now);
        }
    }

    /// Marks `conn` closed: its subscriptions leave the index and its timers
    /// stop. With `emit`, the driver is told to close the socket.
    fn close(&mut self, conn: ConnId, reason: CloseReason, flush: bool, emit: bool, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        c.closed = true;
        if !flush {
            c.out.clear();
        }
        if c.counted {
            c.counted = false;
            self.client_count -= 1;
        }
        match &c.kind {
            ConnKind::Client(_) => self.client_closed(conn, reason, now),
            ConnKind::Route(_) => self.route_closed(conn, reason, now),
            ConnKind::Http(_) => {}
        }
        if let Some(c) = self.conns.get(&conn) {
            tracing::trace!("cid:{} - {} connection closed", c.cid, c.policy().name);
        }
        self.timers.cancel(TimerKey::Ping(conn));
        self.timers.cancel(TimerKey::AuthTimeout(conn));
        self.timers.cancel(TimerKey::WriteDeadline(conn));
        self.events
            .push_back(Event::ConnectionClosed { conn, reason });
        if emit {
            self.actions.push_back(Action::Close {
                conn,
                after_flush: flush,
            });
        }
    }

    /// The client part of closing: remembered for `/connz?state=closed`,
    /// its subscriptions leave the index.
    fn client_closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
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
        for sub in subs {
            self.accounts[account.0 as usize].sublist.remove(&sub);
            self.local_interest(account, &sub.subject, sub.queue.as_ref(), false);
        }
    }

    /// Schedules a flush of `conn`. Every write to a connection ends here,
    /// so this is where outbound bytes past max_pending are noticed (writes
    /// other than deliveries: INFO, interest, gossip); those connections
    /// are closed as slow consumers at the end of the input.
    fn mark_dirty(&mut self, conn: ConnId) {
        let max_pending = self.options.max_pending;
        let unbounded = mutated!(self, ignore_max_pending);
        if let Some(c) = self.conns.get_mut(&conn) {
            if !unbounded && !c.closed && c.out.pending() > max_pending {
                self.overflowed.push(conn);
            }
            if !c.flush_scheduled {
                c.flush_scheduled = true;
                self.dirty.push(conn);
            }
        }
    }

    /// Turns the connections touched by the last input into Flush actions,
    /// in the order they were touched.
    fn schedule_flushes(&mut self) {
        for conn in self.dirty.drain(..) {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.flush_scheduled = false;
                if !c.closed && c.out.queued() > 0 {
                    self.actions.push_back(Action::Flush(conn));
                }
            }
        }
    }
}

/// Whether the space-separated queue list `groups` names `name`.
fn names_group(groups: &[u8], name: &[u8]) -> bool {
    groups
        .split(|&b| b == b' ' || b == b'\t')
        .any(|g| g == name)
}

/// A message being delivered: borrowed pieces of the published message.
struct Msg<'a> {
    subject: &'a [u8],
    reply: Option<&'a Bytes>,
    header_len: usize,
    message: &'a Bytes,
}
