//! Read-only views of cluster state: for the monitoring endpoints
//! (`/routez`, `/varz`), tests and the simulator's checkers. Nothing here
//! changes the engine; every list is sorted, so no map iteration order
//! reaches the caller.

use crate::engine::Server;
use crate::ids::ConnId;
use crate::monitor::connz::SubDetail;
use crate::monitor::routez::{ClusterView, RouteInfoView};
use std::sync::atomic::Ordering;

/// One interest entry a route peer announced: (account, subject, queue,
/// weight).
pub type RouteInterestEntry = (String, String, Option<String>, u32);

impl Server {
    /// Number of registered routes (`/varz` `routes` and `remotes`: one
    /// connection per peer).
    pub(crate) fn route_count(&self) -> usize {
        self.routes.by_id.len()
    }

    /// The interest this engine holds for the registered route to
    /// `peer_server_id` as sorted `(account, subject, queue, weight)`
    /// entries (weight: queue members behind the entry, 1 for plain
    /// interest); `None` when no such route is registered.
    pub fn route_interest(&self, peer_server_id: &str) -> Option<Vec<RouteInterestEntry>> {
        let conn = self.routes.by_id.get(peer_server_id)?;
        let link = self.conns.get(conn)?.route()?;
        let mut out: Vec<RouteInterestEntry> = link
            .subs
            .values()
            .map(|(acc, sub)| {
                (
                    self.accounts[acc.0 as usize].name.clone(),
                    String::from_utf8_lossy(&sub.subject).into_owned(),
                    sub.queue
                        .as_ref()
                        .map(|q| String::from_utf8_lossy(q).into_owned()),
                    sub.weight.load(Ordering::Relaxed),
                )
            })
            .collect();
        out.sort();
        Some(out)
    }
}

/// A registered route and how it came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RouteRegistration {
    /// The route connection (its id is the `rid`).
    pub(crate) conn: ConnId,
    /// We dialed this connection, or we dialed the peer too and our dial
    /// was dropped as a duplicate of this one (nats-server then marks the
    /// kept connection solicited as well).
    pub(crate) did_solicit: bool,
    /// The dial behind it was a configured (explicit) route.
    pub(crate) is_configured: bool,
}

impl Server {
    /// The registered routes, by connection id.
    pub(crate) fn route_registrations(&self) -> Vec<RouteRegistration> {
        let mut out: Vec<RouteRegistration> = self
            .routes
            .by_id
            .iter()
            .map(|(server_id, &conn)| {
                let own = self
                    .conns
                    .get(&conn)
                    .and_then(|c| c.route())
                    .and_then(|l| l.solicit)
                    .and_then(|i| self.solicitor.get(i));
                // Dials of ours dropped in favour of this connection.
                let mut dropped = self
                    .solicitor
                    .iter()
                    .map(|(_, t)| t)
                    .filter(|t| t.fast_redial && !t.is_self && &t.server_id == server_id);
                let did_solicit = own.is_some() || dropped.clone().next().is_some();
                let is_configured = own.is_some_and(|s| s.explicit) || dropped.any(|s| s.explicit);
                RouteRegistration {
                    conn,
                    did_solicit,
                    is_configured,
                }
            })
            .collect();
        out.sort_unstable_by_key(|r| r.conn);
        out
    }
}

impl Server {
    /// The registered routes in rid order.
    pub(crate) fn route_infos(&self) -> Vec<RouteInfoView> {
        self.route_registrations()
            .into_iter()
            .filter_map(|reg| {
                let c = self.conns.get(&reg.conn)?;
                let link = c.route()?;
                let remote = link.remote.as_ref();
                // BTreeMap: ordered by key.
                let subs = link
                    .subs
                    .iter()
                    .map(|(key, (_, s))| SubDetail::of(s, key, "", c.cid))
                    .collect();
                Some(RouteInfoView {
                    link: c.link_snapshot(),
                    remote_id: remote.map(|r| r.server_id.clone()).unwrap_or_default(),
                    remote_name: remote.map(|r| r.server_name.clone()).unwrap_or_default(),
                    did_solicit: reg.did_solicit,
                    is_configured: reg.is_configured,
                    subs,
                })
            })
            .collect()
    }

    /// The cluster configuration, when clustered.
    pub(crate) fn cluster_view(&self) -> Option<ClusterView> {
        let c = self.options.cluster.as_ref()?;
        Some(ClusterView {
            name: self.cluster_name().unwrap_or_default().to_string(),
            host: c.host.clone(),
            port: c.port,
            auth_timeout: c.auth_timeout,
            urls: c.routes.iter().map(|r| r.host_port()).collect(),
        })
    }
}
