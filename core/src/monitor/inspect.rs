//! What monitoring may read: the [`Inspect`] API the engine implements
//! (`engine/inspect.rs`). Monitoring renders JSON from these views and
//! nothing else, so it depends on no engine internals.

use super::connz::{ConnInfo, SubDetail};
use super::gatewayz::{GatewayLinkInfo, GatewayView};
use super::routez::{ClusterView, RouteInfoView};
use super::MonitorState;
use crate::options::Options;
use crate::stats::ServerStats;
use crate::time::Instant;

/// What monitoring shows of any server-to-server connection (a route, a
/// gateway link): its number, peer address, times, round trip, pending
/// bytes and counters.
#[derive(Clone, Debug)]
pub(crate) struct LinkSnapshot {
    pub(crate) cid: u64,
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) start: Instant,
    pub(crate) last_activity: Instant,
    pub(crate) rtt: Option<std::time::Duration>,
    pub(crate) pending: usize,
    pub(crate) stats: crate::ConnStats,
    /// The link's compression mode (`engine/compress.rs`); empty when
    /// not negotiated.
    pub(crate) compression: &'static str,
}

/// Counters of the subject index for `/subsz`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SublistStats {
    pub(crate) cache: usize,
    pub(crate) inserts: u64,
    pub(crate) removes: u64,
    pub(crate) matches: u64,
    pub(crate) cache_hits: u64,
    pub(crate) max_fanout: u64,
    pub(crate) avg_fanout: f64,
}

/// The read-only views monitoring renders from.
pub(crate) trait Inspect {
    /// The `gateway {}` configuration, when this server is a gateway.
    fn gateway_view(&self) -> Option<GatewayView>;
    /// The registered gateway links: outbound ones by remote name, then
    /// inbound ones by connection.
    fn gateway_infos(&self) -> Vec<GatewayLinkInfo>;
    /// The server id.
    fn server_id(&self) -> &str;
    /// The server name.
    fn server_name(&self) -> &str;
    /// The build identifier.
    fn git_commit(&self) -> &str;
    /// The options the engine runs with.
    fn options(&self) -> &Options;
    /// Server-wide counters.
    fn stats(&self) -> ServerStats;
    /// When the engine started.
    fn start_time(&self) -> Instant;
    /// Open client connections.
    fn client_count(&self) -> usize;
    /// Subscriptions across all accounts.
    fn subscription_count(&self) -> usize;
    /// Registered routes.
    fn route_count(&self) -> usize;
    /// The `connect_urls` clients are told.
    fn connect_urls(&self) -> &[String];
    /// Monitoring's own state: wall clock, host facts, request counts,
    /// closed connections.
    fn monitor(&self) -> &MonitorState;
    /// Snapshots of the open client connections, by cid.
    fn open_conn_infos(&self) -> Vec<ConnInfo>;
    /// Every subscription, by connection then subscription order.
    fn subscription_details(&self) -> Vec<SubDetail>;
    /// Account names, as `/accountz` lists them.
    fn account_names(&self) -> Vec<String>;
    /// Connections and subscriptions of account `name`, if it exists.
    fn account_usage(&self, name: &str) -> Option<(usize, usize)>;
    /// Counters of the subject indexes.
    fn sublist_stats(&self) -> SublistStats;
    /// The registered routes in rid order.
    fn route_infos(&self) -> Vec<RouteInfoView>;
    /// The cluster configuration, when clustered.
    fn cluster_view(&self) -> Option<ClusterView>;
    /// The registered leaf links, by connection.
    fn leaf_infos(&self) -> Vec<crate::monitor::leafz::LeafInfoView>;
    /// The leaf listener, when there is one.
    fn leaf_view(&self) -> Option<crate::monitor::leafz::LeafView>;
}
