//! Server options: the typed result of the command line and the config file.
//!
//! Defaults are nats-server 2.15.1's. The adapter resolves listen ports
//! (`-1` means random) before it hands options to the engine, so
//! [`Options::port`] is the port clients really reach.

use std::time::Duration;

/// Default client port.
pub const DEFAULT_PORT: u16 = 4222;
/// Default max_payload (1 MiB).
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Default max_pending (64 MiB).
pub const DEFAULT_MAX_PENDING: usize = 64 * 1024 * 1024;
/// Default max_control_line for clients.
pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
/// Default max_connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;
/// Default ping interval.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(120);
/// Default max outstanding pings.
pub const DEFAULT_PING_MAX: u32 = 2;
/// Default auth timeout.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Default write deadline.
pub const DEFAULT_WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Cap on the first PING after CONNECT (nats-server's firstPingInterval).
pub const FIRST_PING_INTERVAL: Duration = Duration::from_secs(2);
/// Default lame duck duration: clients are evicted over this time.
pub const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(120);
/// Default lame duck grace period before the first eviction.
pub const DEFAULT_LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// The version string reported in INFO and `-v`.
pub const VERSION: &str = "2.15.1";

/// An account's `msg_trace { dest, sampling }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountTrace {
    /// The subject trace events go to.
    pub dest: String,
    /// The percentage of client messages traced (1 to 100).
    pub sampling: u8,
}

/// Simple (pre-accounts) client authentication.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No authentication required.
    #[default]
    None,
    /// A single token (`--auth`, `authorization { token }`).
    Token(String),
    /// A single user and password (`--user/--pass`, `authorization { user, password }`).
    UserPassword {
        /// User name.
        user: String,
        /// Password (plain text).
        password: String,
    },
}

/// One account importing a stream or service another account exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountImport {
    /// The importing account.
    pub importer: String,
    /// The exporting account.
    pub exporter: String,
    /// The subject in the exporter's namespace.
    pub subject: String,
    /// `to`: the subject in the importer's namespace (empty: the same).
    pub to: String,
    /// `prefix` (streams): prepended with a dot in the importer.
    pub prefix: String,
    /// A service (requests flow importer -> exporter) rather than a stream.
    pub service: bool,
}

/// The `cluster {}` block (and `--cluster`, `--routes`, ...), resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Cluster name (empty: generated, as nats-server's dynamic names).
    pub name: String,
    /// Route listen host.
    pub host: String,
    /// Route listen port, already resolved if it was -1 (0: no listener).
    pub port: u16,
    /// `advertise`: the `host:port` other servers should dial.
    pub advertise: String,
    /// `no_advertise`: do not tell clients about other servers' URLs.
    pub no_advertise: bool,
    /// Dial attempts for a route learned by gossip (0: one attempt).
    pub connect_retries: u32,
    /// Routes to solicit, in configuration order.
    pub routes: Vec<crate::route::RouteAddr>,
    /// Credentials route peers must present (`authorization`).
    pub credentials: Option<(String, String)>,
    /// Time a route peer has to send CONNECT.
    pub auth_timeout: Duration,
    /// PING interval on routes (capped at 30 s, as nats-server does).
    pub ping_interval: Duration,
    /// `cluster.tls`: TLS on routes, both roles (`None`: plaintext). As
    /// nats-server, `verify` is always on, `ca_pem` is the `ca_file` or
    /// else the system roots, and `handshake_first` is off.
    pub tls: Option<crate::tls::TlsSettings>,
    /// `compression` on routes (default `accept`, as nats-server's).
    pub compression: crate::compression::Compression,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            tls: None,
            compression: crate::compression::Compression::new(crate::compression::Mode::Accept),
            name: String::new(),
            host: "0.0.0.0".to_string(),
            port: 0,
            advertise: String::new(),
            no_advertise: false,
            connect_retries: 0,
            routes: Vec::new(),
            credentials: None,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            ping_interval: DEFAULT_PING_INTERVAL,
        }
    }
}

/// The `leafnodes {}` block, resolved: the accepting side (a listener
/// when `port` is set) and the remotes this server solicits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafOptions {
    /// Leaf listen host.
    pub host: String,
    /// Leaf listen port, already resolved if it was -1 (0: no listener).
    pub port: u16,
    /// `advertise`: the `host:port` put in `leafnode_urls` instead.
    pub advertise: String,
    /// `no_advertise`: not told to the leafs of cluster peers.
    pub no_advertise: bool,
    /// `authorization { user, password }`: the one user leafs may connect
    /// as (with `account`, the account it binds to).
    pub credentials: Option<(String, String)>,
    /// `authorization { users [...] }`: user, password and account.
    pub users: Vec<LeafUserOptions>,
    /// `authorization { account }`: where a leaf binds when it gives no
    /// credentials (and the single user binds), `$G` when empty.
    pub account: String,
    /// Time a leaf has to send CONNECT.
    pub auth_timeout: Duration,
    /// `min_version`: leafs below it are refused (empty: none).
    pub min_version: String,
    /// `isolate_leafnode_interest`: other leafs' interest is not told to
    /// the leafs of this listener.
    pub isolate: bool,
    /// `remotes`, in configuration order.
    pub remotes: Vec<RemoteLeafOptions>,
    /// `reconnect`: pause between attempts of a remote.
    pub reconnect: Duration,
    /// `authorization { nkey }`: the one NKey leafs may connect as (with
    /// a signature of the nonce), bound to `account`.
    pub nkey: String,
    /// `dial_timeout`: how long a remote's dial may take (1 s).
    pub dial_timeout: Duration,
    /// `write_deadline` of leaf links (the server's when `None`).
    pub write_deadline: Option<Duration>,
    /// `write_timeout: close`: a leaf link whose flush does not finish
    /// within the write deadline is closed even while bytes still go out.
    /// The default (`retry`, nats-server's for leaf links) closes it only
    /// when nothing at all went out for the deadline.
    pub write_timeout_close: bool,
    /// `leafnodes.tls`: TLS on accepted leaf links (`handshake_first` and
    /// `fallback` as for clients).
    pub tls: Option<crate::tls::TlsSettings>,
    /// `compression` on accepted leaf links (default `s2_auto`).
    pub compression: crate::compression::Compression,
}

/// One user of `leafnodes.authorization.users`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeafUserOptions {
    /// User name.
    pub user: String,
    /// Password (plain or bcrypt).
    pub password: String,
    /// Account it binds to (`$G` when empty).
    pub account: String,
}

/// One entry of `leafnodes.remotes`, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteLeafOptions {
    /// The hub's URLs (`nats-leaf://`, `nats://`, `tls://`; user and
    /// password in the URL are the credentials sent).
    pub urls: Vec<crate::route::RouteAddr>,
    /// `no_randomize`: dial the URLs in the order given.
    pub no_randomize: bool,
    /// The local account the link binds to (`$G` when empty).
    pub account: String,
    /// `hub: true`: this side is the hub of the link.
    pub hub: bool,
    /// `deny_imports`: subjects never taken from the hub.
    pub deny_imports: Vec<String>,
    /// `deny_exports`: subjects never sent to the hub.
    pub deny_exports: Vec<String>,
    /// `request_isolation`: ask the hub not to send other leafs' interest.
    pub request_isolation: bool,
    /// `isolate_leafnode_interest`: other leafs' interest is not told to
    /// this link.
    pub isolate: bool,
    /// `first_info_timeout`: how long to wait for the hub's INFO.
    pub first_info_timeout: Duration,
    /// `disabled`: configured but never dialed.
    pub disabled: bool,
    /// `credentials`: a `.creds` file whose JWT is sent and whose seed
    /// signs the hub's nonce (read by the driver, not the engine).
    pub credentials: String,
    /// `nkey`: a user seed that signs the hub's nonce.
    pub nkey: String,
    /// The embedder signs the nonce itself ([`crate::Action::SignNonce`]
    /// is answered by its own code; nats-server's `SignatureCB`).
    pub external_signer: bool,
    /// nats-server's name of the remote (`urls=[...], account="..."` and
    /// its credentials or nkey): a reload matches remotes by it.
    pub name: String,
    /// The name with the nkey redacted, for log lines.
    pub safe_name: String,
    /// `dial_timeout` of this remote (the leafnodes one when `None`).
    pub dial_timeout: Option<Duration>,
    /// `ignore_discovered_servers`: dial only the configured URLs.
    pub ignore_discovered: bool,
    /// The remote's `tls` block (or the defaults, system roots and 2 s,
    /// for a `tls://` or `wss://` URL): TLS when dialing it. A hub whose
    /// INFO requires TLS gets it with the defaults when this is `None`.
    /// `ca_pem` is the `ca_file` or else the system roots (unless
    /// `insecure`); `handshake_first`: TLS before the hub's INFO.
    pub tls: Option<crate::tls::TlsSettings>,
    /// The CA certificates (PEM: the system roots) a remote without a
    /// `tls` block checks its hub against when the hub's INFO requires
    /// TLS, as nats-server's default upgrade does.
    pub upgrade_ca_pem: String,
    /// `compression` on this link (default `s2_auto`, as nats-server's).
    pub compression: crate::compression::Compression,
    /// `ws://`/`wss://` URLs: the link runs over WebSocket.
    pub websocket: Option<RemoteWebsocket>,
}

/// The WebSocket settings of a leaf remote whose URLs are `ws://` or
/// `wss://`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteWebsocket {
    /// `ws_compression`: ask for permessage-deflate (then no S2).
    pub compression: bool,
    /// `ws_no_masking`: ask the hub to let our frames go unmasked.
    pub no_masking: bool,
    /// Each configured URL's path (the upgrade asks for
    /// `<path>/leafnode`), by URL index.
    pub paths: Vec<String>,
}

impl Default for LeafOptions {
    fn default() -> Self {
        LeafOptions {
            tls: None,
            compression: crate::compression::Compression::new(crate::compression::Mode::Auto),
            host: "0.0.0.0".to_string(),
            port: 0,
            advertise: String::new(),
            no_advertise: false,
            credentials: None,
            users: Vec::new(),
            account: String::new(),
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            min_version: String::new(),
            isolate: false,
            remotes: Vec::new(),
            reconnect: Duration::from_secs(1),
            nkey: String::new(),
            dial_timeout: Duration::from_secs(1),
            write_deadline: None,
            write_timeout_close: false,
        }
    }
}

impl RemoteLeafOptions {
    /// Whether CONNECT waits for a signature of the hub's nonce.
    pub fn signs(&self) -> bool {
        self.external_signer || !self.credentials.is_empty() || !self.nkey.is_empty()
    }
}

impl Default for RemoteLeafOptions {
    fn default() -> Self {
        RemoteLeafOptions {
            upgrade_ca_pem: String::new(),
            compression: crate::compression::Compression::new(crate::compression::Mode::Auto),
            websocket: None,
            tls: None,
            urls: Vec::new(),
            no_randomize: false,
            account: String::new(),
            hub: false,
            deny_imports: Vec::new(),
            deny_exports: Vec::new(),
            request_isolation: false,
            isolate: false,
            first_info_timeout: Duration::from_secs(1),
            disabled: false,
            credentials: String::new(),
            nkey: String::new(),
            external_signer: false,
            name: String::new(),
            safe_name: String::new(),
            dial_timeout: None,
            ignore_discovered: false,
        }
    }
}

/// Everything the engine needs to know about its configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Server name (defaults to the server id when empty).
    pub server_name: String,
    /// Client listen host as shown in INFO.
    pub host: String,
    /// Client listen port as shown in INFO (already resolved if it was -1).
    pub port: u16,
    /// Maximum payload size in bytes.
    pub max_payload: usize,
    /// Maximum outbound bytes pending per client before it is a slow consumer.
    pub max_pending: usize,
    /// Maximum control line length for clients.
    pub max_control_line: usize,
    /// Maximum number of client connections (`None` refuses all: config `0`).
    pub max_connections: Option<usize>,
    /// Maximum subscriptions per connection (0 = unlimited).
    pub max_subscriptions: usize,
    /// Most tokens a subscription subject may have (0 = unlimited).
    pub max_sub_tokens: u8,
    /// Interval between server PINGs.
    pub ping_interval: Duration,
    /// Outstanding PINGs allowed before 'Stale Connection'.
    pub ping_max: u32,
    /// Time allowed for CONNECT when auth is required.
    pub auth_timeout: Duration,
    /// Time a write may make no progress before the client is closed.
    pub write_deadline: Duration,
    /// Client authentication (token or single user).
    pub auth: ClientAuth,
    /// Users of `authorization { users }` and of accounts, by name.
    pub users: std::collections::BTreeMap<String, crate::auth::UserEntry>,
    /// NKey users, by public key.
    pub nkeys: std::collections::BTreeMap<String, crate::auth::NkeyEntry>,
    /// `no_auth_user`.
    pub no_auth_user: Option<String>,
    /// Accounts besides `$G`, in configuration order.
    pub accounts: Vec<String>,
    /// Stream and service imports whose export allows them.
    pub imports: Vec<AccountImport>,
    /// Accounts' `msg_trace` settings, by account name: where a message
    /// that a sampled W3C `traceparent` header (and no `Nats-Trace-Dest`)
    /// asks to trace sends its events.
    pub msg_traces: std::collections::BTreeMap<String, AccountTrace>,
    /// The system account (`system_account`, `$SYS` by default; empty
    /// with `no_system_account`).
    pub system_account: String,
    /// `feature_flags` from the config file as given, unknown names too
    /// (`/varz` shows the known ones; a reload may not change them).
    pub feature_flags: std::collections::BTreeMap<String, bool>,
    /// Whether the server supports headers (`no_header_support` turns it off).
    pub headers: bool,
    /// Monitoring listen host (`http: host:port`, `-m` uses `host`).
    pub http_host: String,
    /// Monitoring port (0: no monitoring), already resolved if it was -1.
    pub http_port: u16,
    /// Prefix of every monitoring path (`http_base_path`).
    pub http_base_path: String,
    /// The monitoring port as configured (`-1` when random), which is what
    /// nats-server's `/varz` shows.
    pub http_port_configured: i32,
    /// HTTPS monitoring port (`https_port`, `https`, `-ms`; 0: none),
    /// already resolved if it was -1. Its connections
    /// (`ListenerKind::Https`) use the client [`Options::tls`] without
    /// asking for client certificates, as nats-server's.
    pub https_port: u16,
    /// The HTTPS monitoring port as configured (`-1` when random), which is
    /// what nats-server's `/varz` shows.
    pub https_port_configured: i32,
    /// Lame duck mode evicts clients over this time (`lame_duck_duration`).
    pub lame_duck_duration: Duration,
    /// Lame duck mode waits this long before evicting
    /// (`lame_duck_grace_period`).
    pub lame_duck_grace_period: Duration,
    /// Clustering (routes), when configured.
    pub cluster: Option<ClusterOptions>,
    /// The `leafnodes {}` block, when it has a port or remotes.
    pub leaf: Option<LeafOptions>,
    /// The `gateway {}` block, when it names a gateway.
    pub gateway: Option<GatewayOptions>,
    /// Top-level `tls` (or the `--tls*` flags): TLS on the client port
    /// (and the https monitor). `handshake_first` with `fallback` `None`:
    /// TLS before the INFO for every client; with a delay, a client that
    /// sends nothing by then gets the INFO first.
    pub tls: Option<crate::tls::TlsSettings>,
    /// `allow_non_tls`: clients may skip TLS on a TLS client port.
    pub allow_non_tls: bool,
    /// The `websocket {}` block, when it has a port.
    pub websocket: Option<WebsocketOptions>,
    /// Operator mode (`operator`, `resolver`, `resolver_preload`): users
    /// authenticate with JWTs of accounts the operators signed.
    pub trust: Option<crate::trust::TrustOptions>,
}

/// The `websocket {}` block, resolved: a listener for WebSocket clients
/// (browsers, nats.js) and leaf nodes (the `/leafnode` path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebsocketOptions {
    /// Listen host.
    pub host: String,
    /// Listen port, already resolved if it was -1.
    pub port: u16,
    /// `advertise`: the `host:port` clients are told to use.
    pub advertise: String,
    /// `tls`: TLS before the HTTP upgrade (`None` with `no_tls`).
    pub tls: Option<crate::tls::TlsSettings>,
    /// `compression`: permessage-deflate when the client offers it.
    pub compression: bool,
    /// `same_origin`: the `Origin` must be this server's host.
    pub same_origin: bool,
    /// `allowed_origins`: the origins (`scheme://host[:port]`) accepted.
    pub allowed_origins: Vec<String>,
    /// `handshake_timeout`: time for the HTTP upgrade (and TLS); 2 s
    /// when `None` (not configured).
    pub handshake_timeout: Option<Duration>,
    /// `authorization { user, password }` of websocket clients.
    pub credentials: Option<(String, String)>,
    /// `authorization { token }` of websocket clients.
    pub token: Option<String>,
    /// `authorization { timeout }` (the server's when `None`).
    pub auth_timeout: Option<Duration>,
    /// `no_auth_user` of websocket clients.
    pub no_auth_user: String,
    /// `headers`: extra headers of the 101 response, in name order.
    pub headers: Vec<(String, String)>,
}

impl Default for WebsocketOptions {
    fn default() -> Self {
        WebsocketOptions {
            host: "0.0.0.0".to_string(),
            port: 0,
            advertise: String::new(),
            tls: None,
            compression: false,
            same_origin: false,
            allowed_origins: Vec::new(),
            handshake_timeout: None,
            credentials: None,
            token: None,
            auth_timeout: None,
            no_auth_user: String::new(),
            headers: Vec::new(),
        }
    }
}

/// The `gateway {}` block, resolved: this server's cluster as one
/// gateway of a super-cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayOptions {
    /// `name`: this cluster's gateway name (its cluster name too).
    pub name: String,
    /// Gateway listen host.
    pub host: String,
    /// Gateway listen port, already resolved if it was -1.
    pub port: u16,
    /// `advertise`: the `host:port` told to other gateways instead.
    pub advertise: String,
    /// `authorization { user, password }`: what inbound gateways must
    /// send, and what our outbound ones send when their URL has none.
    pub credentials: Option<(String, String)>,
    /// `authorization { timeout }`: time an inbound gateway has to send
    /// CONNECT.
    pub auth_timeout: Duration,
    /// `connect_retries`: failed rounds an implicit gateway gets before it
    /// is forgotten (0: one round).
    pub connect_retries: u32,
    /// `reject_unknown_cluster`: inbound gateways not in `gateways` are
    /// refused, and gossip of unknown ones is ignored.
    pub reject_unknown: bool,
    /// `gateways`, in configuration order, without this gateway's own
    /// entry.
    pub gateways: Vec<RemoteGatewayOptions>,
    /// This gateway's own entry in `gateways`, if the config has one: its
    /// position there and its URLs (never dialed; `/varz` lists it).
    pub self_entry: Option<(usize, Vec<crate::route::RouteAddr>)>,
    /// `connect_backoff`: failed dials of a gateway wait twice as long
    /// each time, up to 30 s, instead of 1 s.
    pub connect_backoff: bool,
    /// `write_deadline` of gateway links (the server's when `None`).
    pub write_deadline: Option<Duration>,
    /// `write_timeout: close`: a gateway link whose flush does not finish
    /// within the write deadline is closed even while bytes still go out
    /// (the default, `retry`, closes it only when nothing went out).
    pub write_timeout_close: bool,
    /// `gateway.tls`: TLS on gateway links, both roles (also dials to
    /// gateways learned by gossip). As for routes: `verify` always on,
    /// `ca_pem` the `ca_file` or the system roots, no `handshake_first`.
    pub tls: Option<crate::tls::TlsSettings>,
}

/// One entry of `gateway.gateways`, resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteGatewayOptions {
    /// The remote cluster's gateway name.
    pub name: String,
    /// Where its servers' gateway ports are.
    pub urls: Vec<crate::route::RouteAddr>,
    /// TLS dialing this gateway, resolved by the config reader as
    /// nats-server's `newGateway` does: the entry's own `tls` block (its
    /// timeout, or the gateway block's when unset) or else the gateway
    /// block's; `pinned_certs` always the gateway block's. `None`: the
    /// gateway block's (plaintext when it has none either).
    pub tls: Option<crate::tls::TlsSettings>,
}

/// The feature flags nats-server 2.15.1 knows, with their defaults, in
/// the order it prints them (a Go map: by key).
const FEATURE_FLAGS: [(&str, bool); 4] = [
    ("js_ack_fc_v2", false),
    ("js_api_reply_v2", false),
    ("js_raft_delete_range", true),
    ("js_snapshot_sources", false),
];

impl Options {
    /// The feature flags as `/varz` and system messages show them: the
    /// ones nats-server knows, by name, a configured value replacing the
    /// default; names it does not know are not shown.
    pub(crate) fn feature_flags_shown(&self) -> [(&'static str, bool); 4] {
        FEATURE_FLAGS
            .map(|(name, default)| (name, *self.feature_flags.get(name).unwrap_or(&default)))
    }

    /// Every configured way in, for [`crate::auth::Authenticator`].
    pub fn authenticator(&self) -> crate::auth::Authenticator {
        let (token, single) = match &self.auth {
            ClientAuth::None => (None, None),
            ClientAuth::Token(t) => (Some(t.clone()), None),
            ClientAuth::UserPassword { user, password } => {
                (None, Some((user.clone(), password.clone())))
            }
        };
        crate::auth::Authenticator {
            token,
            single,
            users: self.users.clone(),
            nkeys: self.nkeys.clone(),
            no_auth_user: self.no_auth_user.clone(),
            operator: self.trust.is_some(),
        }
    }

    /// How websocket clients authenticate when the `websocket` block has
    /// its own `authorization` or `no_auth_user` (nats-server's
    /// `authOverride`): its user, password, token and `no_auth_user`
    /// replace the server's, the users and NKeys stay. `None`: as other
    /// clients.
    pub fn websocket_authenticator(&self) -> Option<crate::auth::Authenticator> {
        let w = self.websocket.as_ref()?;
        if w.credentials.is_none() && w.token.is_none() && w.no_auth_user.is_empty() {
            return None;
        }
        Some(crate::auth::Authenticator {
            token: w.token.clone(),
            single: w.credentials.clone(),
            users: self.users.clone(),
            nkeys: self.nkeys.clone(),
            no_auth_user: (!w.no_auth_user.is_empty()).then(|| w.no_auth_user.clone()),
            operator: self.trust.is_some(),
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: None,
            allow_non_tls: false,
            websocket: None,
            server_name: String::new(),
            host: "0.0.0.0".to_string(),
            port: DEFAULT_PORT,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_pending: DEFAULT_MAX_PENDING,
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            max_subscriptions: 0,
            max_sub_tokens: 0,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_max: DEFAULT_PING_MAX,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            write_deadline: DEFAULT_WRITE_DEADLINE,
            auth: ClientAuth::None,
            users: Default::default(),
            nkeys: Default::default(),
            no_auth_user: None,
            accounts: Vec::new(),
            imports: Vec::new(),
            msg_traces: std::collections::BTreeMap::new(),
            system_account: "$SYS".to_string(),
            feature_flags: Default::default(),
            headers: true,
            http_host: "0.0.0.0".to_string(),
            http_port: 0,
            http_base_path: String::new(),
            http_port_configured: 0,
            https_port: 0,
            https_port_configured: 0,
            lame_duck_duration: DEFAULT_LAME_DUCK_DURATION,
            lame_duck_grace_period: DEFAULT_LAME_DUCK_GRACE_PERIOD,
            cluster: None,
            leaf: None,
            gateway: None,
            trust: None,
        }
    }
}
