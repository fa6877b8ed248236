//! Read-only views of cluster state for tests and the simulator's
//! checkers. Nothing here changes the engine; every list is sorted, so no
//! map iteration order reaches the caller.

use super::Server;
use crate::ids::ConnId;
use std::sync::atomic::Ordering;

/// One interest entry a route peer announced: (account, subject, queue,
/// weight).
pub type RouteInterestEntry = (String, String, Option<String>, u32);

impl Server {
    /// The connection registered as the route to `peer_server_id`.
    pub fn route_conn(&self, peer_server_id: &str) -> Option<ConnId> {
        self.routes.by_id.get(peer_server_id).copied()
    }

    /// The interest this engine holds for the registered route to
    /// `peer_server_id` as sorted `(account, subject, queue, weight)`
    /// entries (weight: queue members behind the entry, 1 for plain
    /// interest); `None` when no such route is registered.
    pub fn route_interest(&self, peer_server_id: &str) -> Option<Vec<RouteInterestEntry>> {
        let conn = self.routes.by_id.get(peer_server_id)?;
        let link = self.conns.get(conn)?.route.as_ref()?;
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
