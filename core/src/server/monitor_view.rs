//! Read-only facts about the cluster state for the monitoring endpoints
//! (`/routez`, `/varz`), which live outside this module. Nothing here
//! changes the engine; lists are sorted, so no map order leaks out.

use super::Server;
use crate::ids::ConnId;

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
                    .and_then(|c| c.route.as_ref())
                    .and_then(|l| l.solicit)
                    .and_then(|i| self.routes.solicits.get(i));
                // Dials of ours dropped in favour of this connection.
                let mut dropped = self
                    .routes
                    .solicits
                    .iter()
                    .filter(|s| s.fast_redial && !s.is_self && &s.server_id == server_id);
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
