//! The typed result of a config file: nats-server's `Options`, as the
//! file sets them. Fields keep Go's zero values when a key is absent
//! (nats-server applies defaults later; [`super::Config::apply_to`] does
//! the same for the engine options).

use std::collections::BTreeMap;

use super::accounts::{AccountOpts, MappingDest};
use super::auth::{AuthCallout, NkeyUser, User};
use super::cluster::{ClusterOpts, GatewayOpts};
pub use super::context::WriteTimeoutPolicy;
use super::gofmt::{GoDuration, GoUrl};
use super::jetstream::JetStreamOpts;
use super::leafnode::LeafNodeOpts;
use super::tls::TlsOpts;
use super::value::{Pos, Value};
use super::websocket::{MqttOpts, WebsocketOpts};

/// A config key whose feature Canopy does not implement yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// Dotted key path as written (`cluster`, `authorization.users`).
    pub key: String,
    /// Where it is.
    pub pos: Pos,
}

/// Every option a nats-server config file can set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerConfig {
    /// The config file path.
    pub config_file: String,
    /// `server_name`.
    pub server_name: String,
    /// `host` / `net` / host part of `listen`.
    pub host: String,
    /// `port` / port part of `listen` (-1: random, 0: default).
    pub port: i64,
    /// `client_advertise`.
    pub client_advertise: String,
    /// `debug`.
    pub debug: bool,
    /// `trace` (also set by `trace_verbose`, `trace_headers`).
    pub trace: bool,
    /// `trace_verbose`.
    pub trace_verbose: bool,
    /// `trace_headers`.
    pub trace_headers: bool,
    /// `logtime` (defaults to true when absent).
    pub logtime: Option<bool>,
    /// `logtime_utc`.
    pub logtime_utc: bool,
    /// `logfile` / `log_file`.
    pub log_file: String,
    /// `logfile_size_limit` / `log_size_limit`.
    pub log_size_limit: i64,
    /// `logfile_max_num` / `log_max_num`.
    pub log_max_files: i64,
    /// `syslog`.
    pub syslog: bool,
    /// `remote_syslog`.
    pub remote_syslog: String,
    /// `pidfile` / `pid_file`.
    pub pid_file: String,
    /// `ports_file_dir`.
    pub ports_file_dir: String,
    /// `prof_port`.
    pub prof_port: i64,
    /// `prof_block_rate`.
    pub prof_block_rate: i64,
    /// `http` host, `https` host.
    pub http_host: String,
    /// `http` port / `http_port` / `monitor_port`.
    pub http_port: i64,
    /// `https` port / `https_port`.
    pub https_port: i64,
    /// `http_base_path`.
    pub http_base_path: String,
    /// `max_connections` / `max_conn` (0 in the file means -1: refuse all).
    pub max_conn: i64,
    /// `max_payload`.
    pub max_payload: i32,
    /// `max_pending`.
    pub max_pending: i64,
    /// `max_control_line`.
    pub max_control_line: i32,
    /// `max_subscriptions` / `max_subs`.
    pub max_subs: i64,
    /// `max_sub_tokens` / `max_subscription_tokens`.
    pub max_sub_tokens: u8,
    /// `max_traced_msg_len`.
    pub max_traced_msg_len: i64,
    /// `max_closed_clients`.
    pub max_closed_clients: i64,
    /// `ping_interval` (Go nanoseconds).
    pub ping_interval: GoDuration,
    /// `ping_max`.
    pub ping_max: i64,
    /// `write_deadline`.
    pub write_deadline: GoDuration,
    /// `write_timeout`.
    pub write_timeout: WriteTimeoutPolicy,
    /// `lame_duck_duration`.
    pub lame_duck_duration: GoDuration,
    /// `lame_duck_grace_period`.
    pub lame_duck_grace_period: GoDuration,
    /// Whether an `authorization` block was present.
    pub auth_block_defined: bool,
    /// `authorization.user`.
    pub username: String,
    /// `authorization.password`.
    pub password: String,
    /// `authorization.token`.
    pub authorization: String,
    /// `authorization.timeout` in seconds.
    pub auth_timeout: f64,
    /// `authorization.proxy_required`.
    pub proxy_required: bool,
    /// `authorization.auth_callout`.
    pub auth_callout: Option<AuthCallout>,
    /// Users from `authorization.users` and `accounts.*.users`.
    pub users: Vec<User>,
    /// NKey users from the same places.
    pub nkeys: Vec<NkeyUser>,
    /// `accounts` (and `$G` when top-level `mappings` are present).
    pub accounts: Vec<AccountOpts>,
    /// Top-level `mappings` / `maps` (for the global account).
    pub mappings: Vec<(String, Vec<MappingDest>)>,
    /// `system_account` / `system`.
    pub system_account: String,
    /// `no_system_account` (aliases `no_system`, `no_sys_acc`).
    pub no_system_account: bool,
    /// `no_auth_user`.
    pub no_auth_user: String,
    /// `no_header_support`.
    pub no_header_support: bool,
    /// `disable_sublist_cache` / `no_sublist_cache`.
    pub no_sublist_cache: bool,
    /// `default_sentinel`.
    pub default_sentinel: String,
    /// `cluster`.
    pub cluster: ClusterOpts,
    /// `cluster.routes`.
    pub routes: Vec<GoUrl>,
    /// `gateway`.
    pub gateway: GatewayOpts,
    /// `leafnodes` / `leaf`.
    pub leafnode: LeafNodeOpts,
    /// `websocket` / `ws`.
    pub websocket: WebsocketOpts,
    /// `mqtt`.
    pub mqtt: MqttOpts,
    /// `jetstream` (recorded; Canopy has no JetStream).
    pub jetstream: JetStreamOpts,
    /// `store_dir` / `storedir` (or `jetstream.store_dir`).
    pub store_dir: String,
    /// Client `tls` block.
    pub tls: Option<TlsOpts>,
    /// `allow_non_tls`.
    pub allow_non_tls: bool,
    /// `ocsp` (as written).
    pub ocsp: Option<Value>,
    /// `ocsp_cache` (as written).
    pub ocsp_cache: Option<Value>,
    /// `operator` files or inline JWTs.
    pub operators: Vec<String>,
    /// The text of each operator JWT (`operators`, files read).
    pub operator_jwts: Vec<String>,
    /// `resolver` (as written).
    pub resolver: Option<Value>,
    /// `resolver_tls`.
    pub resolver_tls: Option<TlsOpts>,
    /// `resolver_preload`: account public key to JWT.
    pub resolver_preload: BTreeMap<String, String>,
    /// `resolver_pinned_accounts`.
    pub resolver_pinned_accounts: Vec<String>,
    /// `trusted` / `trusted_keys`.
    pub trusted_keys: Vec<String>,
    /// `connect_error_reports`.
    pub connect_error_reports: i64,
    /// `reconnect_error_reports`.
    pub reconnect_error_reports: i64,
    /// `server_tags`.
    pub tags: Vec<String>,
    /// `server_metadata`.
    pub metadata: BTreeMap<String, String>,
    /// `feature_flags`.
    pub feature_flags: BTreeMap<String, bool>,
    /// `default_js_domain`.
    pub js_default_domain: BTreeMap<String, String>,
    /// `proxy_protocol`.
    pub proxy_protocol: bool,
    /// `no_fast_producer_stall`.
    pub no_fast_producer_stall: bool,
    /// `proxies.trusted[].key`.
    pub proxies_trusted: Vec<String>,
}
