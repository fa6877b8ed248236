//! What faults do to the world (the faults themselves are data, in
//! `crate::faults`), and the direct interventions scenarios use.

use super::{Ev, World};
use crate::faults::Fault;
use crate::link::{Dir, LinkRules};
use std::time::Duration;
/// A reset armed on an idle stream fires after this long anyway.
const RESET_IDLE_LIMIT: Duration = Duration::from_secs(1);
/// A node that shuts down gracefully is gone this long after it began.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

impl World {
    // ---- faults ----------------------------------------------------------------

    /// The connection of client `c` if it is past the handshake.
    pub(super) fn live_conn(&self, c: usize) -> Option<u64> {
        let id = self.client_conn.get(c).copied().flatten()?;
        let conn = self.conns.get(&id)?;
        (conn.engine_open && conn.client_open).then_some(id)
    }

    /// Changes the link rules of client `c`'s connection for `dur`, then
    /// restores them; false if the client has no live connection.
    fn bend_rules(
        &mut self,
        c: usize,
        dur: Duration,
        change: impl FnOnce(&mut super::conn::Conn),
    ) -> bool {
        let Some(id) = self.live_conn(c) else {
            return false;
        };
        if let Some(conn) = self.conns.get_mut(&id) {
            change(conn);
        }
        let now = self.now();
        self.schedule(now + dur, Ev::RestoreRules(id));
        true
    }

    /// Changes the rules of the live link (a route or a leaf link) between
    /// `a` and `b` for `dur`.
    fn bend_route(
        &mut self,
        a: usize,
        b: usize,
        dur: Duration,
        change: impl FnOnce(&mut LinkRules),
    ) -> bool {
        let Some(id) = self.live_link(a, b) else {
            return false;
        };
        let Some(kind) = self.peers.get(&id).map(|c| c.kind) else {
            return false;
        };
        let mut rules = self.link_rules(kind);
        change(&mut rules);
        self.set_peer_rules(id, rules);
        let now = self.now();
        self.schedule(now + dur, Ev::RestoreRules(id));
        true
    }

    /// Shuts node `node` down gracefully: the engine closes everything
    /// after flushing; it is gone after a short grace and restarts after
    /// `down_for`. False if it is down already.
    pub fn shutdown_node(&mut self, node: usize, down_for: Duration) -> bool {
        let now = self.now();
        if self.nodes[node].server.is_none() || self.nodes[node].shutting_down {
            return false;
        }
        self.stats.shutdowns += 1;
        self.nodes[node].shutting_down = true;
        self.step += 1;
        self.engine(node, |s| s.shutdown(now));
        self.after_engine(node);
        let gen = self.nodes[node].gen;
        self.schedule(
            now + SHUTDOWN_GRACE,
            Ev::EngineStop {
                node,
                gen,
                down_for,
            },
        );
        true
    }

    /// Crashes node `node` now (scenarios); it restarts after `down_for`.
    pub fn crash_node(&mut self, node: usize, down_for: Duration) -> bool {
        self.crash(node, down_for)
    }

    /// Resets the route connection between nodes `a` and `b` now
    /// (scenarios); false if there is none.
    pub fn reset_route(&mut self, a: usize, b: usize) -> bool {
        let Some(id) = self.live_route(a, b) else {
            return false;
        };
        self.stats.resets += 1;
        self.peer_reset(id);
        true
    }

    /// Applies a fault now; false if it has no target at the moment.
    pub fn apply_fault(&mut self, fault: Fault) -> bool {
        let now = self.now();
        match fault {
            Fault::Crash { node, down_for } => self.crash(node, down_for),
            Fault::Shutdown { node, down_for } => self.shutdown_node(node, down_for),
            Fault::DialFail { node, dur } => {
                self.dial_block[node] = self.dial_block[node].max(now + dur);
                true
            }
            Fault::RouteReset {
                a,
                b,
                dir,
                after_bytes,
            } => {
                let Some(id) = self.live_link(a, b) else {
                    return false;
                };
                if let Some(conn) = self.peers.get_mut(&id) {
                    let pipe = &mut conn.pipes[dir as usize];
                    pipe.reset_after = Some(pipe.read + after_bytes);
                }
                self.schedule(now + RESET_IDLE_LIMIT, Ev::ResetNow(id));
                true
            }
            Fault::GatewayReset {
                node,
                pick,
                dir,
                after_bytes,
            } => self.gateway_reset(node, pick, dir, after_bytes),
            Fault::ClusterPartition { x, y, dur, silent } => {
                self.cluster_partition(x, y, dur, silent)
            }
            Fault::RoutePartition { a, b, dur } => {
                let Some(id) = self.live_link(a, b) else {
                    return false;
                };
                if let Some(conn) = self.peers.get_mut(&id) {
                    for p in &mut conn.pipes {
                        p.hold_until = now + dur;
                    }
                }
                self.schedule(now + dur, Ev::Pump(id));
                true
            }
            Fault::RouteFragment {
                a,
                b,
                dur,
                max_piece,
            } => self.bend_route(a, b, dur, |rules| {
                rules.up.max_piece = max_piece;
                rules.down.max_piece = max_piece;
            }),
            Fault::RouteSlow {
                a,
                b,
                extra_delay,
                bytes_per_ms,
                dur,
            } => self.bend_route(a, b, dur, |rules| {
                rules.up.delay += extra_delay;
                rules.up.bytes_per_ms = bytes_per_ms;
            }),
            Fault::Reset {
                client,
                dir,
                after_bytes,
            } => {
                let Some(id) = self.live_conn(client) else {
                    return false;
                };
                let Some(conn) = self.conns.get_mut(&id) else {
                    return false;
                };
                let pipe = conn.pipe(dir);
                pipe.reset_after = Some(pipe.read + after_bytes);
                self.schedule(now + RESET_IDLE_LIMIT, Ev::ResetNow(id));
                true
            }
            Fault::Stall { client, dur } => {
                let Some(id) = self.live_conn(client) else {
                    return false;
                };
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.down.paused_until = conn.down.paused_until.max(now + dur);
                }
                self.schedule(
                    now + dur,
                    Ev::ReadResume {
                        conn: id,
                        dir: Dir::Down,
                    },
                );
                true
            }
            Fault::ClientClose { client } => {
                let Some(id) = self.live_conn(client) else {
                    return false;
                };
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.up.close_write();
                }
                self.pump(id, Dir::Up);
                self.end_client_side(id);
                true
            }
            Fault::Partition { client, dur } => {
                let Some(id) = self.live_conn(client) else {
                    return false;
                };
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.up.hold_until = now + dur;
                    conn.down.hold_until = now + dur;
                }
                self.schedule(now + dur, Ev::Pump(id));
                true
            }
            Fault::Fragment {
                client,
                dur,
                max_piece,
            } => self.bend_rules(client, dur, |conn| {
                conn.up.rules.max_piece = max_piece;
                conn.down.rules.max_piece = max_piece;
            }),
            Fault::SlowReader {
                client,
                bytes_per_ms,
                dur,
            } => self.bend_rules(client, dur, |conn| {
                conn.down.rules.read_bytes_per_ms = bytes_per_ms;
            }),
            Fault::Slow {
                client,
                dir,
                extra_delay,
                bytes_per_ms,
                dur,
            } => self.bend_rules(client, dur, |conn| {
                let rules = &mut conn.pipe(dir).rules;
                rules.delay += extra_delay;
                rules.bytes_per_ms = bytes_per_ms;
            }),
        }
    }

    /// Resets client `c`'s connection now (scenarios); false if it has none.
    pub fn reset_client(&mut self, c: usize) -> bool {
        let Some(id) = self.client_conn[c] else {
            return false;
        };
        self.stats.resets += 1;
        self.reset_conn(id);
        true
    }

    /// Sets the link rules of client `c`, for its current connection and
    /// the next ones.
    pub fn set_link(&mut self, c: usize, rules: LinkRules) {
        self.links[c] = rules;
        if let Some(conn) = self.client_conn[c].and_then(|id| self.conns.get_mut(&id)) {
            conn.up.rules = rules.up;
            conn.down.rules = rules.down;
        }
    }

    /// Why the engine closed client `c`'s connections, oldest first.
    pub fn close_reasons(&self, c: usize) -> Vec<canopy_core::CloseReason> {
        self.checker
            .incs
            .iter()
            .filter(|i| i.client == c)
            .filter_map(|i| i.reason)
            .collect()
    }
}
