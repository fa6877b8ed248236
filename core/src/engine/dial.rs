//! Outbound connections at the endpoint: the driver's dial results and
//! the dial timers, handed to the solicitor and to the code of the link's
//! kind.

use super::Server;
use crate::events::{Action, LinkKind};
use crate::ids::ConnId;
use crate::solicit;
use crate::time::Instant;
use core::net::SocketAddr;

impl Server {
    /// A dial asked for with [`Action::Dial`] succeeded: the connection is
    /// open and the engine starts its handshake. `peer` is the remote
    /// address. Returns false when the engine no longer wants the
    /// connection (its target was removed meanwhile): close the socket,
    /// without calling [`Server::handle_closed`].
    pub fn handle_dialed(&mut self, conn: ConnId, peer: SocketAddr, now: Instant) -> bool {
        let Some((target, cid)) = self.solicitor.dialed(conn) else {
            return false;
        };
        let Some(kind) = self.solicitor.get(target).map(|t| t.kind) else {
            return false;
        };
        let kept = match kind {
            LinkKind::Route => self.route_dialed(conn, target, cid, peer, now),
            LinkKind::Leaf => self.leaf_dialed(conn, target, cid, peer, now),
            LinkKind::Gateway => self.gateway_dialed(conn, target, cid, peer, now),
        };
        self.schedule_flushes();
        kept
    }

    /// A dial asked for with [`Action::Dial`] failed or timed out.
    pub fn handle_dial_failed(&mut self, conn: ConnId, now: Instant) {
        let Some((target, attempt)) = self.solicitor.failed(conn) else {
            return;
        };
        let Some(kind) = self.solicitor.get(target).map(|t| t.kind) else {
            return;
        };
        match kind {
            LinkKind::Route => self.route_dial_failed(target, attempt, now),
            LinkKind::Leaf => self.leaf_dial_failed(target, attempt, now),
            LinkKind::Gateway => self.gateway_dial_failed(target, attempt, now),
        }
        self.schedule_flushes();
    }

    /// The dial timer of target `i` fired: dial it if the solicitor and
    /// the link's kind still want it.
    pub(crate) fn dial_timer(&mut self, i: usize, now: Instant) {
        let _ = now;
        let Ok(target) = self.solicitor.wants_dial(i) else {
            return;
        };
        let kind = target.kind;
        let wanted = match kind {
            LinkKind::Route => self.route_dial_wanted(target),
            LinkKind::Leaf | LinkKind::Gateway => true,
        };
        if !wanted {
            return;
        }
        // The dial takes its connection number now (a failed dial uses one
        // up too).
        let (id, cid) = self.reserve_conn(true);
        let Ok(addr) = self.solicitor.start(i, id, cid) else {
            return;
        };
        let addr = addr.host_port();
        match kind {
            LinkKind::Leaf => {
                tracing::debug!("Trying to connect as leafnode to remote server on {addr:?}");
            }
            LinkKind::Route | LinkKind::Gateway => {
                tracing::debug!("Trying to connect to {} on {addr}", kind.name());
            }
        }
        let timeout = match kind {
            LinkKind::Route | LinkKind::Gateway => solicit::backoff(kind).dial_timeout,
            LinkKind::Leaf => self.leaf_dial_timeout(i),
        };
        self.actions.push_back(Action::Dial {
            conn: id,
            kind,
            addr,
            timeout,
        });
    }
}
