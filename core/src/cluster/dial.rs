//! Which routes this server dials and when, in the route's terms: the
//! configured ones (retried forever, 1 s apart), those learned by gossip
//! (retried `connect_retries` times), re-dials after a route closes, and
//! the changes a reload makes to the list. The solicitor
//! (`crate::solicit`) owns the targets and the backoff; this file adds
//! what only routes know.

use crate::conn::{Conn, ConnKind};
use crate::engine::Server;
use crate::events::{CloseReason, LinkKind, TimerKey};
use crate::ids::ConnId;
use crate::route::{RouteAddr, RouteInfo};
use crate::solicit::Target;
use crate::time::Instant;
use core::net::SocketAddr;

impl Server {
    /// After a reload: the configured routes `old` became those of the
    /// new options. Removed ones are closed and no longer dialed (nats-server
    /// closes them with `Route Removed`); added ones are dialed now. A new
    /// configured name is adopted.
    pub(crate) fn reload_cluster(&mut self, old: &[RouteAddr], now: Instant) {
        let Some(cluster) = self.options.cluster.clone() else {
            return;
        };
        if !cluster.name.is_empty() && cluster.name != self.info.cluster {
            self.info.cluster = cluster.name.clone();
            self.info.cluster_dynamic = false;
        }
        for i in 0..self.solicitor.len() {
            let Some(t) = self.solicitor.get_mut(i) else {
                continue;
            };
            let addr = t.addr();
            if t.kind != LinkKind::Route
                || !t.explicit
                || !old.contains(addr)
                || cluster.routes.contains(addr)
            {
                continue;
            }
            let conn = t.conn.take();
            t.done = true;
            t.explicit = false;
            self.timers.cancel(TimerKey::Dial(i as u32));
            if let Some(c) = conn {
                if !self.solicitor.cancel(c) {
                    self.close(c, CloseReason::RouteRemoved, true, true, now);
                }
            }
        }
        for addr in &cluster.routes {
            if old.contains(addr) {
                continue;
            }
            if let Some(i) = self.add_route_target(addr.clone(), true, String::new()) {
                self.dial_timer(i, now);
            }
        }
        self.schedule_flushes();
    }

    /// A route to dial: `explicit` when configured, with the peer's server
    /// id when gossip told it (else empty). Returns its target index.
    pub(crate) fn add_route_target(
        &mut self,
        addr: RouteAddr,
        explicit: bool,
        server_id: String,
    ) -> Option<usize> {
        self.solicitor
            .add(LinkKind::Route, vec![addr], explicit, server_id, None)
    }

    /// Whether a route target should be dialed now: not when already
    /// routed to that server over another connection.
    pub(crate) fn route_dial_wanted(&self, target: &Target) -> bool {
        target.server_id.is_empty() || !self.routes.by_id.contains_key(&target.server_id)
    }

    /// A route dial connected: the engine sends CONNECT and INFO on it.
    /// Returns whether the connection is kept.
    pub(crate) fn route_dialed(
        &mut self,
        conn: ConnId,
        target: usize,
        rid: u64,
        peer: SocketAddr,
        now: Instant,
    ) -> bool {
        let Some(addr) = self.solicitor.get(target).map(|t| t.addr().clone()) else {
            return false;
        };
        let link = crate::route::RouteLink {
            solicit: Some(target),
            ..Default::default()
        };
        let mut route = Conn::new(conn, rid, peer, ConnKind::Route(Box::new(link)), now);
        route.headers = true;
        route.connect_received = true;
        // nats-server's routes start TLS at once on both sides, before the
        // CONNECT and INFO.
        let tls_timer = self.route_tls(&mut route, Some(&addr.host), now);
        self.scratch.clear();
        crate::route::write_connect(
            &mut self.scratch,
            &self.info.server_id,
            &self.info.cluster,
            self.info.cluster_dynamic,
            addr.user
                .as_deref()
                .map(|u| (u, addr.password.as_deref().unwrap_or_default())),
            self.tls.route.asked(),
        );
        route.out.push_slice(self.scratch.as_bytes());
        // With compression to negotiate, our INFO waits for the peer's
        // (nats-server delays it so that it can name the link's mode).
        let own = self.route_compression();
        route.s2 = crate::engine::compress::S2Link::new(&own);
        if !own.negotiates() {
            self.scratch.clear();
            self.write_route_info("", false, own.info_field());
            route.out.push_slice(self.scratch.as_bytes());
        }
        self.conns.insert(conn, route);
        self.set_tls_timer(tls_timer);
        tracing::info!("{peer} - rid:{rid} - Route connection created");
        tracing::debug!("{peer} - rid:{rid} - Route connect msg sent");
        self.set_first_ping_timer(conn, now);
        self.mark_dirty(conn);
        true
    }

    /// A route dial failed (its `attempt`-th failure since the last
    /// success): logged as nats-server does, and retried.
    pub(crate) fn route_dial_failed(&mut self, target: usize, attempt: u32, now: Instant) {
        let Some(addr) = self.solicitor.get(target).map(|t| t.addr().host_port()) else {
            return;
        };
        // nats-server reports the first failure, then every 3600th, at
        // error level.
        if attempt % 3600 == 1 {
            tracing::error!("Error trying to connect to route (attempt {attempt}): {addr}");
        } else {
            tracing::debug!("Error trying to connect to route (attempt {attempt}): {addr}");
        }
        self.redial_route(target, false, now);
    }

    /// Schedules the next dial of route target `i` as the solicitor says
    /// (after a failed dial, or with `disconnected` after a registered
    /// route closed).
    pub(crate) fn redial_route(&mut self, i: usize, disconnected: bool, now: Instant) {
        let retries = self
            .options
            .cluster
            .as_ref()
            .map_or(0, |c| c.connect_retries);
        let Some(t) = self.solicitor.get(i) else {
            return;
        };
        let addr = t.addr().host_port();
        if disconnected && !t.is_self && !t.done && !self.solicitor.stopping {
            tracing::debug!("Attempting reconnect for solicited route \"nats://{addr}\"");
        }
        let was_done = t.done;
        match self
            .solicitor
            .retry_delay(i, disconnected, retries, &mut self.jitter_rng)
        {
            Some(delay) => self.timers.set(TimerKey::Dial(i as u32), now + delay),
            None => {
                if !was_done && self.solicitor.get(i).is_some_and(|t| t.done) {
                    tracing::debug!("Giving up on implicit route {addr}");
                }
            }
        }
    }

    /// A gossiped INFO about another member: dial it unless already routed
    /// to it or dialing it.
    pub(crate) fn gossiped_route(&mut self, info: RouteInfo, now: Instant) {
        if info.server_id == self.info.server_id || self.routes.by_id.contains_key(&info.server_id)
        {
            return;
        }
        let Some(mut addr) = RouteAddr::parse(&info.ip)
            .or_else(|| RouteAddr::parse(&format!("{}:{}", info.host, info.port)))
        else {
            return;
        };
        let known = self.solicitor.iter().find(|(_, t)| {
            t.kind == LinkKind::Route
                && (t.server_id == info.server_id || t.has_url(&addr.host, addr.port))
        });
        if let Some((i, _)) = known {
            let Some(t) = self.solicitor.get_mut(i) else {
                return;
            };
            if t.is_self || t.conn.is_some() || t.explicit {
                return;
            }
            t.done = false;
            t.attempts = 0;
            t.server_id = info.server_id.clone();
            self.dial_timer(i, now);
            return;
        }
        // Our cluster credentials, only when the peer asks for them.
        if let Some((u, p)) = self.cluster_credentials().filter(|_| info.auth_required) {
            addr.user = Some(u.clone());
            addr.password = Some(p.clone());
        }
        tracing::debug!("Connecting to implicit route {}", addr.host_port());
        if let Some(i) = self.add_route_target(addr, false, info.server_id) {
            self.dial_timer(i, now);
        }
    }
}
