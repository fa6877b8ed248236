//! The engine: one [`Server`] owns every connection, the accounts and their
//! subject indexes, the timers and the outbound queues.
//!
//! See the crate documentation for the run loop the driver follows.

use crate::account::{Account, AccountId, GLOBAL_ACCOUNT};
use crate::conn::policy::Reading;
use crate::conn::{Conn, ConnKind, ConnStats};
use crate::events::{Action, CloseReason, Event, TimerKey};
use crate::ids::ConnId;
use crate::info::ServerInfo;
use crate::monitor::{HostStats, MonitorState};
use crate::nkey;
use crate::options::{Options, VERSION};
use crate::proto::parser::ParseError;
use crate::proto::{ClientOp, ProtocolError};
use crate::rng::{Rng, Stream};
use crate::time::Instant;
use crate::timers::Timers;
use crate::transport::Layer;
use bytes::Bytes;
use core::net::SocketAddr;
use std::collections::{HashMap, VecDeque};

/// The kinds of listener a driver accepts connections on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    /// The client port.
    Client,
    /// The HTTP monitoring port.
    Monitor,
    /// The cluster (route) port.
    Route,
    /// The leaf node port.
    Leaf,
    /// The gateway port.
    Gateway,
    /// The HTTPS monitoring port (`https_port`): TLS with the client
    /// port's certificate, then the monitoring endpoints.
    Https,
    /// The websocket port: an HTTP upgrade (after TLS unless `no_tls`),
    /// then a client, or a leaf node on the `/leafnode` path.
    Websocket,
}

/// Letters of rewritten service-import replies and generated cluster
/// names.
pub(crate) const ALPHANUMERIC: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Smallest and largest read the engine asks for (see [`Server::read_cap`]).
const READ_CAP_MIN: usize = 4096;
const READ_CAP_MAX: usize = 256 * 1024;

// Deliberate bugs for the simulator's checker-sensitivity tests: compiled
// only with the `mutations` feature; without it `mutated!` is `false`.
#[cfg(feature = "mutations")]
#[path = "mutations.rs"]
pub mod mutations;
#[cfg(feature = "mutations")]
pub use mutations::Mutations;

mod accounts;
mod close;
pub(crate) mod compress;
mod deliver;
mod dial;
mod inspect;
mod lame_duck;
mod ping;
mod stall;
pub(crate) mod tls;
mod trace;
pub(crate) mod websocket;

use crate::cluster::Routes;
use crate::router::imports::ImportRoute;
pub use crate::stats::ServerStats;
pub(crate) use deliver::{Ingress, Msg};
use lame_duck::LameDuck;
pub(crate) use trace::TraceAsk;

/// The NATS server engine. Pure: bytes and time in, actions out.
#[derive(Debug)]
pub struct Server {
    pub(crate) options: Options,
    pub(crate) info: ServerInfo,
    pub(crate) queue_rng: Rng,
    /// The router's local fan-out plan of the message being delivered
    /// (reused: no allocation per message).
    pub(crate) picks: Vec<crate::router::fanout::Pick>,
    /// The trace of the message going out, when it asked for one
    /// (`Nats-Trace-Dest`; see `engine/trace.rs`).
    pub(crate) msg_trace: Option<Box<crate::router::trace::MsgTrace>>,
    /// The number of the server's last system message (trace events).
    pub(crate) system_seq: u64,
    /// Which `traceparent` messages an account's `msg_trace` samples.
    pub(crate) trace_rng: Rng,
    /// Nonces for NKey authentication (the identity stream, continued).
    pub(crate) nonce_rng: Rng,
    pub(crate) authenticator: crate::auth::Authenticator,
    /// Operator mode: the trusted operators and the resolver's accounts.
    pub(crate) trust: Option<Box<crate::trust::Trust>>,
    /// Operator mode: the accounts whose JWT imports are registered.
    pub(crate) jwt_registered: std::collections::BTreeSet<AccountId>,
    /// Websocket clients' own, when the websocket block overrides.
    pub(crate) ws_authenticator: Option<crate::auth::Authenticator>,
    /// Stream and service imports between accounts.
    pub(crate) imports: Vec<ImportRoute>,
    /// Rewritten service-import replies: `_R_...` -> (importer, reply).
    pub(crate) service_replies: std::collections::BTreeMap<Bytes, (AccountId, Bytes, Instant)>,
    pub(crate) reply_rng: Rng,
    /// The second token of this server's `_R_.` replies.
    pub(crate) reply_prefix: [u8; 6],
    pub(crate) jitter_rng: Rng,
    pub(crate) hasher: ahash::RandomState,
    pub(crate) conns: HashMap<ConnId, Conn, ahash::RandomState>,
    pub(crate) next_conn: u64,
    /// nats-server's connection counter: the `cid` of the next connection
    /// of a kind that takes one.
    pub(crate) next_cid: u64,
    pub(crate) client_count: usize,
    pub(crate) accounts: Vec<Account>,
    pub(crate) next_sub_seq: u64,
    pub(crate) timers: Timers,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) dirty: Vec<ConnId>,
    pub(crate) scratch: String,
    pub(crate) stats: ServerStats,
    pub(crate) start: Instant,
    pub(crate) monitor: MonitorState,
    pub(crate) lame_duck: Option<LameDuck>,
    /// Cluster state: routes and their interest.
    pub(crate) routes: Routes,
    /// Leaf links and what they were told.
    pub(crate) leafs: crate::leaf::Leafs,
    /// Gateway links, their interest and the `_GR_.` reply state.
    pub(crate) gateways: crate::gateway::Gateways,
    /// TLS configurations, built from the options at start and reload.
    pub(crate) tls: tls::TlsContexts,
    /// Leaf nonces and loop-detection subjects.
    pub(crate) leaf_rng: Rng,
    /// Leaf remote URL shuffles.
    pub(crate) dials_rng: Rng,
    /// What to dial and when, for every kind of link.
    pub(crate) solicitor: crate::solicit::Solicitor,
    /// Connections whose outbound bytes passed max_pending outside a
    /// delivery, closed at the end of the current input.
    pub(crate) overflowed: Vec<ConnId>,
    /// Route nonces and generated cluster names.
    pub(crate) route_rng: Rng,
    /// The system account's internal client (`system/`).
    pub(crate) system: crate::system::System,
    #[cfg(feature = "mutations")]
    pub(crate) mutations: Mutations,
}

impl Server {
    /// Creates an engine. `seed` drives every random choice (server id,
    /// queue member choice, jitter); `now` is the engine's start time.
    pub fn new(options: Options, seed: [u8; 32], now: Instant) -> Server {
        let mut server = Server::without_system(options, seed, now);
        server.init_system(now);
        server
    }

    /// An engine without the system account's internal client
    /// (`system/`): no system subscriptions, events or statsz. For the
    /// engine tests of other features, whose exact outputs predate it.
    pub(crate) fn without_system(options: Options, seed: [u8; 32], now: Instant) -> Server {
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
            auth_required: options.authenticator().required(),
            no_auth_user: options.no_auth_user.is_some(),
            max_payload: options.max_payload,
            tls: crate::info::ClientTlsInfo::of(&options),
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
        let ws_authenticator = options.websocket_authenticator();
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
        let tls = tls::TlsContexts::new(&options, &seed);
        let trust = options
            .trust
            .as_ref()
            .map(|t| Box::new(crate::trust::Trust::new(t)));
        let mut server = Server {
            tls,
            options,
            info,
            queue_rng: Rng::derive(&seed, Stream::QueueChoice),
            picks: Vec::new(),
            msg_trace: None,
            system_seq: 0,
            trace_rng: Rng::derive(&seed, Stream::TraceSampling),
            nonce_rng: identity,
            authenticator,
            trust,
            jwt_registered: Default::default(),
            ws_authenticator,
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
            leafs: Default::default(),
            gateways: Default::default(),
            leaf_rng: Rng::derive(&seed, Stream::Leaf),
            dials_rng: Rng::derive(&seed, Stream::Dials),
            solicitor: Default::default(),
            overflowed: Vec::new(),
            route_rng: Rng::derive(&seed, Stream::Shuffle),
            system: crate::system::System::new(&seed),
            #[cfg(feature = "mutations")]
            mutations: Mutations::default(),
        };
        server.init_gateways(now);
        server.init_cluster(now);
        server.init_leafs(now);
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
        self.sync_tls_clock(now);
    }

    /// Tells rustls the wall-clock time at `now`, for certificate validity.
    pub(crate) fn sync_tls_clock(&self, now: Instant) {
        let unix = self.monitor.wall_offset + i128::from(now.as_nanos());
        self.tls
            .clock
            .set(u64::try_from(unix / 1_000_000_000).unwrap_or(0));
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
            ListenerKind::Https => self.accept_https(peer, now),
            ListenerKind::Route => self.accept_route(peer, now),
            ListenerKind::Leaf => self.accept_leaf(peer, now),
            ListenerKind::Websocket => self.accept_websocket(peer, now),
            ListenerKind::Gateway => {
                self.gateways.now = now;
                self.accept_gateway(peer, now)
            }
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
        self.gateways.now = now;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        let reading = c.policy().reading;
        let upgrading = c.ws.upgrading();
        let decoded = if c.tls.before_handshake_end() {
            self.sync_tls_clock(now);
            let decoded = self.tls_decode(conn, data, now);
            // A handshake that ended in this read: its INFO (TLS first)
            // goes out before any answer to what follows it.
            self.tls_after_read(conn);
            decoded
        } else {
            // Plaintext, or TLS settled: straight through the layers.
            c.transport.decode(data)
        };
        if upgrading {
            // The HTTP of a WebSocket upgrade; what follows the 101 (frames
            // a hub sent with it) goes to the parser.
            if let Some(plain) = self.ws_read(conn, &decoded.plain, now) {
                self.read_nats(conn, plain, now);
            }
        } else {
            match reading {
                Reading::Http => self.read_http(conn, &decoded.plain, now),
                Reading::Nats(_) => self.read_nats(conn, decoded.plain, now),
            }
        }
        if let Some(failure) = decoded.failed {
            self.transport_failed(conn, failure, now);
        }
        // A layer that stopped at its output budget (S2 against a
        // decompression bomb) hands out the rest of the read a budget at a
        // time, each parsed before the next is decoded.
        while let Some(c) = self.conns.get_mut(&conn) {
            if c.closed || !c.transport.has_pending() {
                if c.transport.wants_write() {
                    self.mark_dirty(conn);
                }
                break;
            }
            let more = c.transport.decode(Bytes::new());
            self.read_nats(conn, more.plain, now);
            if let Some(failure) = more.failed {
                self.transport_failed(conn, failure, now);
            }
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
        let had_in_flight = c.transport.wire_in_flight() > 0;
        let n = match c.transport.take(&mut c.out, dst) {
            Ok(n) => n,
            Err(failure) => {
                self.close(conn, failure.reason, false, true, now);
                return 0;
            }
        };
        if n > 0 && !had_in_flight && !c.closed && c.policy().bounded {
            let deadline = c.policy().write_deadline(&self.options);
            self.timers
                .set(TimerKey::WriteDeadline(conn), now + deadline);
        }
        n
    }

    /// Reports that `n` bytes taken from `conn` reached the socket.
    pub fn handle_written(&mut self, conn: ConnId, n: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.transport.written(n, &mut c.out);
        if c.closed || !c.policy().bounded {
            return;
        }
        self.release_if_drained(conn);
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.transport.wire_in_flight() == 0 {
            self.timers.cancel(TimerKey::WriteDeadline(conn));
        } else if n > 0 && c.policy().write_deadline_restarts(&self.options) {
            let deadline = c.policy().write_deadline(&self.options);
            self.timers
                .set(TimerKey::WriteDeadline(conn), now + deadline);
        }
    }

    /// Reports that the socket of `conn` is gone (peer closed, read or write
    /// error, or the driver finished an [`Action::Close`]). The engine
    /// forgets the connection; its id is never reused.
    pub fn handle_closed(&mut self, conn: ConnId, now: Instant) {
        self.gateways.now = now;
        if let Some(c) = self.conns.get(&conn) {
            if !c.closed {
                // A socket that ends mid-handshake is a handshake error
                // (nats-server: `TLS handshake error: EOF`).
                let reason = if matches!(c.tls, tls::TlsStage::Handshake { .. }) {
                    let typ = c.policy().tls_name;
                    tracing::error!("{} - TLS {typ}handshake error: EOF", self.conn_label(conn));
                    CloseReason::TlsHandshakeError
                } else {
                    CloseReason::ClientClosed
                };
                self.close(conn, reason, false, false, now);
            }
        }
        self.conns.remove(&conn);
        // A table grown for a burst of connections gives the room back
        // once most of them are gone (after a mass reconnect, say).
        let room = self.conns.capacity();
        if room > 64 && self.conns.len() * 4 < room {
            self.conns.shrink_to(self.conns.len() * 2);
        }
        self.close_overflowed(now);
        self.schedule_flushes();
    }

    /// Fires every timer due at or before `now`. Calling it early or twice
    /// is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.gateways.now = now;
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                TimerKey::Ping(conn) => self.ping_timer(conn, now),
                TimerKey::AuthTimeout(conn) => {
                    self.fail(conn, ProtocolError::AuthenticationTimeout, now);
                }
                TimerKey::AuthExpiry(conn) => self.fail(conn, ProtocolError::UserAuthExpired, now),
                TimerKey::ResolverSync => self.resolver_sync_timer(now),
                TimerKey::AccountExpiry(account) => self.jwt_account_expired(account, now),
                TimerKey::LameDuck => self.lame_duck_timer(now),
                TimerKey::Dial(i) => self.dial_timer(i as usize, now),
                TimerKey::LeafHandshake(conn) => self.leaf_handshake_timer(conn, now),
                TimerKey::TlsHandshake(conn) => self.tls_handshake_timer(conn, now),
                TimerKey::TlsFallback(conn) => self.tls_fallback_timer(conn, now),
                TimerKey::WsHandshake(conn) => self.ws_handshake_timer(conn, now),
                TimerKey::Statsz => self.statsz_timer(now),
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

    pub(crate) fn open_client_ids(&self) -> Vec<ConnId> {
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
        self.solicitor.stopping = true;
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
        let cid = if takes_cid { self.next_cid() } else { 0 };
        (id, cid)
    }

    /// The next nats-server connection number (also for a websocket
    /// connection, which takes one when its upgrade makes it a client or
    /// a leaf link).
    pub(crate) fn next_cid(&mut self) -> u64 {
        self.next_cid += 1;
        self.next_cid - 1
    }

    /// Parses a NATS-protocol read (any dialect) and processes its ops.
    pub(crate) fn read_nats(&mut self, conn: ConnId, mut data: Bytes, now: Instant) {
        // With no_auth_user the INFO says no auth is required, and a client
        // may start with any op (telnet style), as nats-server allows.
        let auth_required = self.info.clients_must_authenticate();
        // Mutation hook: whether the next op began in an earlier read.
        #[cfg(feature = "mutations")]
        let mut split_op = self.conns.get(&conn).is_some_and(|c| !c.parser.is_idle());
        // A layer switched on in this read that failed on its first bytes:
        // the plaintext before the failure is processed first.
        let mut failed = None;
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
                    // A link negotiating S2 may get the peer's INFO
                    // first (`engine/compress.rs`).
                    let s2_info = c.s2.pending && !c.s2.negotiated() && (b == b'I' || b == b'i');
                    if b != b'C' && b != b'c' && !s2_info {
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
                    // An op that switched a layer on: the rest of this
                    // read is the new layer's (switched by the op's own
                    // code, as a dialer's TLS is, or returned here).
                    let switched = self.process_op(conn, op, now);
                    if let Some((on, first)) = self.tls.switched_in_op.take() {
                        if let Some(c) = self.conns.get_mut(&on).filter(|_| on == conn) {
                            if !data.is_empty() {
                                let rest = std::mem::take(&mut data);
                                let d = c.transport.decode_from_layer(first, rest);
                                data = d.plain;
                                failed = failed.or(d.failed);
                            }
                        }
                    }
                    if let Some(layer) = switched {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            let rest = std::mem::take(&mut data);
                            let decoded = c.transport.push_inner(layer, rest, &c.out);
                            data = decoded.plain;
                            failed = failed.or(decoded.failed);
                        }
                    }
                }
                Ok(None) => {
                    if let Some(failure) = failed {
                        self.transport_failed(conn, failure, now);
                    }
                    return;
                }
                Err(ParseError::Protocol(e)) => {
                    if e == ProtocolError::MaxPayload {
                        // The headers of the refused message, if this read
                        // brought them, may ask for a trace of the refusal.
                        self.trace_oversized(conn, now);
                    }
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

    /// Interest of `origin` (`from`: the route or leaf link it was read
    /// on) in (`account`, `subject`, `queue`) changed by `delta` members:
    /// told where the propagation matrix lets it go, to gateways (counted
    /// cluster-wide) and to leaf links. Routes are told by their own code,
    /// which counts what each route heard.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn interest_changed(
        &mut self,
        origin: crate::router::Origin,
        from: Option<ConnId>,
        account: crate::account::AccountId,
        subject: &Bytes,
        queue: Option<&Bytes>,
        delta: i64,
        origin_cluster: Option<&[u8]>,
    ) {
        self.gateway_interest(origin, account, subject, queue, delta);
        self.leaf_interest(origin, from, account, subject, queue, delta, origin_cluster);
    }

    /// Dispatches one parsed op to the code of the connection's kind.
    /// Returns the layer the op switched on, if it did: the rest of the
    /// read is that layer's (TLS after INFO, S2 after INFO; no op switches
    /// one yet).
    pub(crate) fn process_op(&mut self, conn: ConnId, op: ClientOp, now: Instant) -> Option<Layer> {
        match self.conns.get(&conn).map(|c| &c.kind) {
            Some(ConnKind::Client(_)) => self.process_client_op(conn, op, now),
            Some(ConnKind::Route(_)) => self.process_route_op(conn, op, now),
            Some(ConnKind::Leaf(_)) => self.process_leaf_op(conn, op, now),
            Some(ConnKind::Gateway(_)) => self.process_gateway_op(conn, op, now),
            // HTTP bytes never reach the NATS parser.
            Some(ConnKind::Http(_)) | None => {}
        }
        None
    }

    /// The nats-server connection number of `conn` (0 if unknown), for
    /// log lines.
    pub(crate) fn cid(&self, conn: ConnId) -> u64 {
        self.conns.get(&conn).map_or(0, |c| c.cid)
    }

    // ---- CONNECT ----------------------------------------------------------

    // ---- PUB / delivery ---------------------------------------------------

    // ---- SUB / UNSUB ------------------------------------------------------

    // ---- PING / PONG ------------------------------------------------------

    // ---- helpers ----------------------------------------------------------
}
