//! Which routes this server dials and when: the configured ones (retried
//! forever, 1 s apart), those learned by gossip (retried
//! `connect_retries` times), re-dials after a route closes (with up to
//! 100 ms of seeded jitter), and the changes a reload makes to the list.

use crate::conn::{Conn, ConnKind};
use crate::engine::Server;
use crate::events::{Action, CloseReason, TimerKey};
use crate::ids::ConnId;
use crate::route::{RouteAddr, RouteInfo, Solicit};
use crate::time::Instant;
use core::net::SocketAddr;
use std::time::Duration;

/// Delay before re-dialing a route (nats-server's DEFAULT_ROUTE_RECONNECT).
const ROUTE_RECONNECT: Duration = Duration::from_secs(1);
/// Longest pause between dials of a known member learned by gossip.
const ROUTE_RECONNECT_MAX: Duration = Duration::from_secs(30);
/// How long a route dial may take (nats-server's DEFAULT_ROUTE_DIAL).
const ROUTE_DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Jitter added to a re-dial after a disconnect (up to 100 ms).
const RECONNECT_JITTER_NS: u64 = 100_000_000;

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
        for i in 0..self.routes.solicits.len() {
            let s = &self.routes.solicits[i];
            if !s.explicit || !old.contains(&s.addr) || cluster.routes.contains(&s.addr) {
                continue;
            }
            let conn = s.conn;
            let s = &mut self.routes.solicits[i];
            s.done = true;
            s.explicit = false;
            s.conn = None;
            self.timers.cancel(TimerKey::RouteConnect(i as u32));
            if let Some(c) = conn {
                if self.routes.dialing.remove(&c).is_none() {
                    self.close(c, CloseReason::RouteRemoved, true, true, now);
                }
            }
        }
        for addr in &cluster.routes {
            if old.contains(addr) {
                continue;
            }
            self.routes
                .solicits
                .push(Solicit::new(addr.clone(), true, String::new()));
            let i = self.routes.solicits.len() - 1;
            self.route_connect_timer(i, now);
        }
        self.schedule_flushes();
    }

    /// A dial asked for with [`Action::Dial`] succeeded: the connection is
    /// open and the engine sends CONNECT and INFO on it. `peer` is the
    /// remote address. Returns false when the engine no longer wants the
    /// connection (the route was removed meanwhile): close the socket.
    pub fn handle_dialed(&mut self, conn: ConnId, peer: SocketAddr, now: Instant) -> bool {
        let Some((idx, rid)) = self.routes.dialing.remove(&conn) else {
            return false;
        };
        let link = crate::route::RouteLink {
            solicit: Some(idx),
            ..Default::default()
        };
        let mut route = Conn::new(conn, rid, peer, ConnKind::Route(Box::new(link)), now);
        route.headers = true;
        route.connect_received = true;
        let addr = &self.routes.solicits[idx].addr;
        self.scratch.clear();
        crate::route::write_connect(
            &mut self.scratch,
            &self.info.server_id,
            &self.info.cluster,
            self.info.cluster_dynamic,
            addr.user
                .as_deref()
                .map(|u| (u, addr.password.as_deref().unwrap_or_default())),
        );
        route.out.push_slice(self.scratch.as_bytes());
        self.scratch.clear();
        self.write_route_info("", false);
        route.out.push_slice(self.scratch.as_bytes());
        self.conns.insert(conn, route);
        tracing::info!("{peer} - rid:{rid} - Route connection created");
        tracing::debug!("{peer} - rid:{rid} - Route connect msg sent");
        self.set_first_ping_timer(conn, now);
        self.mark_dirty(conn);
        self.schedule_flushes();
        true
    }

    /// A dial asked for with [`Action::Dial`] failed.
    pub fn handle_dial_failed(&mut self, conn: ConnId, now: Instant) {
        let Some((idx, _)) = self.routes.dialing.remove(&conn) else {
            return;
        };
        let s = &mut self.routes.solicits[idx];
        s.conn = None;
        // nats-server reports the first failure, then every 3600th, at
        // error level.
        let attempt = s.attempts + 1;
        if attempt % 3600 == 1 {
            tracing::error!(
                "Error trying to connect to route (attempt {attempt}): {}",
                s.addr.host_port()
            );
        } else {
            tracing::debug!(
                "Error trying to connect to route (attempt {attempt}): {}",
                s.addr.host_port()
            );
        }
        self.retry_solicit(idx, false, now);
    }

    /// The dial timer of solicit `idx` fired.
    pub(crate) fn route_connect_timer(&mut self, idx: usize, now: Instant) {
        let _ = now;
        if self.routes.stopping {
            return;
        }
        let Some(s) = self.routes.solicits.get(idx) else {
            return;
        };
        if s.is_self || s.done || s.conn.is_some() {
            return;
        }
        // Already routed to that server over another connection.
        if !s.server_id.is_empty() && self.routes.by_id.contains_key(&s.server_id) {
            return;
        }
        let addr = s.addr.host_port();
        // The dial takes its connection number now (a failed dial uses one
        // up too).
        let (id, rid) = self.reserve_conn(true);
        self.routes.solicits[idx].conn = Some(id);
        self.routes.dialing.insert(id, (idx, rid));
        tracing::debug!("Trying to connect to route on {addr}");
        self.actions.push_back(Action::Dial {
            conn: id,
            kind: crate::events::LinkKind::Route,
            addr,
            timeout: ROUTE_DIAL_TIMEOUT,
        });
    }

    /// Schedules the next dial of solicit `idx`: after a failed dial, 1 s
    /// later (a route learned by gossip gives up after `connect_retries`);
    /// after a registered route closed, at once for a learned route and
    /// after 1 s for a configured one, plus up to 100 ms of seeded jitter,
    /// as nats-server does.
    pub(crate) fn retry_solicit(&mut self, idx: usize, disconnected: bool, now: Instant) {
        if self.routes.stopping {
            return;
        }
        let retries = self
            .options
            .cluster
            .as_ref()
            .map_or(0, |c| c.connect_retries);
        let s = &mut self.routes.solicits[idx];
        if s.is_self || s.done {
            return;
        }
        let delay = if disconnected {
            s.attempts = 0;
            tracing::debug!(
                "Attempting reconnect for solicited route \"nats://{}\"",
                s.addr.host_port()
            );
            let base = if s.explicit && !s.fast_redial {
                ROUTE_RECONNECT
            } else {
                Duration::ZERO
            };
            s.fast_redial = false;
            base + Duration::from_nanos(self.jitter_rng.below(RECONNECT_JITTER_NS))
        } else {
            s.attempts = s.attempts.saturating_add(1);
            if !s.explicit && s.attempts > retries {
                if !s.was_registered {
                    s.done = true;
                    tracing::debug!("Giving up on implicit route {}", s.addr.host_port());
                    return;
                }
                // A member we were routed to before: nats-server gives up
                // here too, and the mesh then stays incomplete until some
                // route re-registers and gossips again (the simulator found
                // such a cluster after a 5 s dial outage). Canopy keeps
                // trying, backing off to one dial every 30 s.
                let over = (s.attempts - retries).min(6);
                let backoff = (ROUTE_RECONNECT * (1u32 << over)).min(ROUTE_RECONNECT_MAX);
                backoff + Duration::from_nanos(self.jitter_rng.below(RECONNECT_JITTER_NS))
            } else {
                ROUTE_RECONNECT
            }
        };
        self.timers
            .set(TimerKey::RouteConnect(idx as u32), now + delay);
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
        let known = self.routes.solicits.iter().position(|s| {
            s.server_id == info.server_id || (s.addr.host == addr.host && s.addr.port == addr.port)
        });
        if let Some(i) = known {
            let s = &mut self.routes.solicits[i];
            if s.is_self || s.conn.is_some() || s.explicit {
                return;
            }
            s.done = false;
            s.attempts = 0;
            s.server_id = info.server_id.clone();
            self.route_connect_timer(i, now);
            return;
        }
        // Our cluster credentials, only when the peer asks for them.
        if let Some((u, p)) = self.cluster_credentials().filter(|_| info.auth_required) {
            addr.user = Some(u.clone());
            addr.password = Some(p.clone());
        }
        tracing::debug!("Connecting to implicit route {}", addr.host_port());
        self.routes
            .solicits
            .push(Solicit::new(addr, false, info.server_id));
        let i = self.routes.solicits.len() - 1;
        self.route_connect_timer(i, now);
    }
}
