//! The engine's read-only views for monitoring: what
//! [`crate::monitor::Inspect`] promises, answered from the engine's state.
//! Every list is sorted, so no map iteration order reaches the output.

use super::Server;
use crate::client::inspect::conn_info;
use crate::ids::ConnId;
use crate::monitor::connz::{ConnInfo, SubDetail};
use crate::monitor::inspect::{Inspect, SublistStats};
use crate::monitor::routez::{ClusterView, RouteInfoView};
use crate::monitor::MonitorState;
use crate::options::Options;
use crate::stats::ServerStats;
use crate::time::Instant;

impl Server {
    /// Snapshots of the open client connections, by cid.
    pub(crate) fn open_conn_infos(&self) -> Vec<ConnInfo> {
        // Sorted right below: map order never reaches the output.
        #[allow(clippy::disallowed_methods)]
        let mut ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.closed && c.counted)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.iter()
            .filter_map(|id| self.conns.get(id))
            .filter_map(|c| conn_info(c, &self.accounts, None))
            .collect()
    }

    /// Every subscription, by connection then subscription order.
    pub(crate) fn subscription_details(&self) -> Vec<SubDetail> {
        self.open_conn_infos()
            .into_iter()
            .flat_map(|c| c.subs)
            .collect()
    }

    /// Account names, as `/accountz` lists them.
    pub(crate) fn account_names(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.name.clone()).collect()
    }

    /// Connections and subscriptions of account `name`, if it exists.
    pub(crate) fn account_usage(&self, name: &str) -> Option<(usize, usize)> {
        let idx = self.accounts.iter().position(|a| a.name == name)?;
        let conns = self.clients_in(crate::account::AccountId(idx as u32));
        Some((conns, self.accounts[idx].sublist.count()))
    }

    /// Counters for `/subsz`.
    pub(crate) fn sublist_stats(&self) -> SublistStats {
        let mut sum = crate::sublist::IndexCounters::default();
        let mut cache = 0;
        for a in &self.accounts {
            let c = a.sublist.counters();
            sum.inserts += c.inserts;
            sum.removes += c.removes;
            sum.matches += c.matches;
            sum.cache_hits += c.cache_hits;
            sum.total_fanout += c.total_fanout;
            sum.max_fanout = sum.max_fanout.max(c.max_fanout);
            cache += a.sublist.cache_len();
        }
        SublistStats {
            cache,
            inserts: sum.inserts,
            removes: sum.removes,
            matches: sum.matches,
            cache_hits: sum.cache_hits,
            max_fanout: sum.max_fanout,
            avg_fanout: if sum.matches == 0 {
                0.0
            } else {
                sum.total_fanout as f64 / sum.matches as f64
            },
        }
    }
}

impl Inspect for Server {
    fn gateway_view(&self) -> Option<crate::monitor::gatewayz::GatewayView> {
        Server::gateway_view(self)
    }

    fn gateway_infos(&self) -> Vec<crate::monitor::gatewayz::GatewayLinkInfo> {
        Server::gateway_infos(self)
    }

    fn server_id(&self) -> &str {
        Server::server_id(self)
    }

    fn server_name(&self) -> &str {
        Server::server_name(self)
    }

    fn git_commit(&self) -> &str {
        Server::git_commit(self)
    }

    fn options(&self) -> &Options {
        Server::options(self)
    }

    fn stats(&self) -> ServerStats {
        Server::stats(self)
    }

    fn start_time(&self) -> Instant {
        Server::start_time(self)
    }

    fn client_count(&self) -> usize {
        Server::client_count(self)
    }

    fn subscription_count(&self) -> usize {
        Server::subscription_count(self)
    }

    fn route_count(&self) -> usize {
        Server::route_count(self)
    }

    fn connect_urls(&self) -> &[String] {
        &self.info.connect_urls
    }

    fn monitor(&self) -> &MonitorState {
        &self.monitor
    }

    fn open_conn_infos(&self) -> Vec<ConnInfo> {
        Server::open_conn_infos(self)
    }

    fn subscription_details(&self) -> Vec<SubDetail> {
        Server::subscription_details(self)
    }

    fn account_names(&self) -> Vec<String> {
        Server::account_names(self)
    }

    fn account_usage(&self, name: &str) -> Option<(usize, usize)> {
        Server::account_usage(self, name)
    }

    fn sublist_stats(&self) -> SublistStats {
        Server::sublist_stats(self)
    }

    fn route_infos(&self) -> Vec<RouteInfoView> {
        Server::route_infos(self)
    }

    fn cluster_view(&self) -> Option<ClusterView> {
        Server::cluster_view(self)
    }

    fn leaf_infos(&self) -> Vec<crate::monitor::leafz::LeafInfoView> {
        Server::leaf_infos(self)
    }

    fn leaf_view(&self) -> Option<crate::monitor::leafz::LeafView> {
        Server::leaf_view(self)
    }
}
