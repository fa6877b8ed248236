//! The world's side of gateway mode: which nodes form which gateway
//! cluster, the faults that hit gateway links and whole clusters, and the
//! convergence checks after healing (every node holds an outbound link
//! to every other cluster, and every gateway link's interest equals what
//! the model says its acceptor's cluster wants).

use super::{Ev, World};
use crate::link::Dir;
use canopy_core::{Instant, LinkKind};
use std::time::Duration;

/// A reset armed on an idle gateway link fires after this long anyway.
const RESET_IDLE_LIMIT: Duration = Duration::from_secs(1);

/// How long the super-cluster's links must stay up after it converged
/// before the end-to-end checks start.
pub const CALM_HOLD: Duration = Duration::from_millis(300);

impl World {
    /// Gateway mode: the nodes of each gateway cluster (index = the
    /// cluster: `A`, `B`, `C`). The checker learns each node's cluster.
    pub fn set_gateways(&mut self, clusters: Vec<Vec<usize>>) {
        let mut of = vec![None; self.nodes.len()];
        for (x, members) in clusters.iter().enumerate() {
            for &n in members {
                if let Some(slot) = of.get_mut(n) {
                    *slot = Some(x);
                }
            }
        }
        self.checker.set_gateway_clusters(of);
        self.gateways = clusters;
    }

    /// The gateway cluster of `node`, if it is a gateway.
    pub(super) fn gateway_cluster_of(&self, node: usize) -> Option<usize> {
        self.gateways.iter().position(|c| c.contains(&node))
    }

    /// Whether a cluster partition refuses gateway dials between `a` and
    /// `b` now.
    pub(super) fn gateway_blocked(&self, a: usize, b: usize) -> bool {
        let now = self.now();
        let (Some(x), Some(y)) = (self.gateway_cluster_of(a), self.gateway_cluster_of(b)) else {
            return false;
        };
        self.gateway_block
            .iter()
            .any(|&(p, q, until)| until > now && ((p, q) == (x, y) || (p, q) == (y, x)))
    }

    /// The live gateway connections with an end on `node`, in id order.
    fn gateway_conns_of(&self, node: usize) -> Vec<u64> {
        self.peers
            .iter()
            .filter(|(_, c)| {
                c.kind == LinkKind::Gateway
                    && c.ends[0].open
                    && c.ends[1].open
                    && (c.ends[0].node == node || c.ends[1].node == node)
            })
            .map(|(&id, _)| id)
            .collect()
    }

    /// Arms a reset on the `pick`-th live gateway link of `node` (see
    /// [`crate::faults::Fault::GatewayReset`]); false if it has none.
    pub(super) fn gateway_reset(&mut self, node: usize, pick: u64, dir: Dir, after: u64) -> bool {
        let ids = self.gateway_conns_of(node);
        if ids.is_empty() {
            return false;
        }
        let id = ids[(pick % ids.len() as u64) as usize];
        if let Some(conn) = self.peers.get_mut(&id) {
            let pipe = &mut conn.pipes[dir as usize];
            pipe.reset_after = Some(pipe.read + after);
        }
        let now = self.now();
        self.schedule(now + RESET_IDLE_LIMIT, Ev::ResetNow(id));
        true
    }

    /// Gateway clusters `x` and `y` lose each other for `dur` (see
    /// [`crate::faults::Fault::ClusterPartition`]).
    pub(super) fn cluster_partition(
        &mut self,
        x: usize,
        y: usize,
        dur: Duration,
        silent: bool,
    ) -> bool {
        let (Some(cx), Some(cy)) = (self.gateways.get(x), self.gateways.get(y)) else {
            return false;
        };
        let now = self.now();
        let between = |a: usize, b: usize| {
            (cx.contains(&a) && cy.contains(&b)) || (cx.contains(&b) && cy.contains(&a))
        };
        let ids: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, c)| {
                c.kind == LinkKind::Gateway
                    && c.ends[0].open
                    && c.ends[1].open
                    && between(c.ends[0].node, c.ends[1].node)
            })
            .map(|(&id, _)| id)
            .collect();
        self.gateway_block.push((x, y, now + dur));
        for id in ids {
            if silent {
                if let Some(conn) = self.peers.get_mut(&id) {
                    for p in &mut conn.pipes {
                        p.hold_until = now + dur;
                    }
                }
                self.schedule(now + dur, Ev::Pump(id));
            } else {
                self.stats.resets += 1;
                self.peer_reset(id);
            }
        }
        true
    }

    /// Whether every running gateway holds a registered outbound link to
    /// every other gateway cluster (true outside gateway mode).
    pub fn gateway_mesh_complete(&self) -> bool {
        self.gateway_mesh_diffs().is_empty()
    }

    /// The gateways that lack an outbound link to some cluster, as text.
    pub fn gateway_mesh_diffs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (x, members) in self.gateways.iter().enumerate() {
            for &n in members {
                let Some(server) = self.nodes[n].server.as_ref() else {
                    out.push(format!("gateway node {n} is down"));
                    continue;
                };
                let links = server.gateway_links();
                for (y, _) in self.gateways.iter().enumerate() {
                    if y == x {
                        continue;
                    }
                    let name = crate::supercluster::GATEWAY_NAMES[y];
                    let outbound = links
                        .iter()
                        .filter(|l| l.outbound && l.name == name)
                        .count();
                    if outbound != 1 {
                        out.push(format!(
                            "node {n} has {outbound} outbound gateway links to cluster {name}, \
                             want 1"
                        ));
                    }
                }
            }
        }
        out
    }

    /// Differences between the interest each open gateway connection's
    /// acceptor told its dialer (`RS+` minus `RS-`, as the dialer
    /// processed them) and what the model says its cluster wants
    /// ([`crate::checker::Checker::expected_gateway_interest`]). Empty:
    /// converged.
    pub fn gateway_interest_diffs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for conn in self.peers.values() {
            if conn.kind != LinkKind::Gateway || !(conn.ends[0].open && conn.ends[1].open) {
                continue;
            }
            let Some(back) = conn.links[1] else {
                continue;
            };
            let want = self.checker.expected_gateway_interest(back);
            let got = self.checker.held_interest(back);
            if want != got {
                let rec = &self.checker.links[back];
                out.push(format!(
                    "gateway interest differs: node {} told node {} {got:?}, its cluster wants \
                     {want:?}",
                    rec.from.0, rec.to.0
                ));
            }
        }
        out
    }

    /// Whether the super-cluster has converged: every gateway meshed,
    /// every gateway link's interest equal to the model, and no server
    /// link half closed (an engine may still count a link its peer
    /// closed). True outside gateway mode.
    pub fn gateways_converged(&self) -> bool {
        self.gateways_linked() && self.gateway_interest_diffs().is_empty()
    }

    /// Whether every gateway is meshed and no server link is half closed
    /// (true outside gateway mode).
    fn gateways_linked(&self) -> bool {
        if self.gateways.is_empty() {
            return true;
        }
        let half_closed = self
            .peers
            .values()
            .any(|c| c.ends[0].open != c.ends[1].open);
        !half_closed && self.gateway_mesh_complete()
    }

    /// Gateway mode, once everything converged after healing: waits until
    /// the links stay up for [`CALM_HOLD`] from a moment when `settled`
    /// (everything converged) held: every mesh complete, no server link
    /// half closed, none closing (a link that went stale during a
    /// partition may be dropped just after healing). At most until
    /// `deadline`. The checker's end-to-end rules then hold from that
    /// moment (everything converged, and the links stayed up), and each
    /// probe client (`gw-probe-*`) publishes once on every subject of the
    /// workload. Returns false if it did not settle by `deadline`.
    pub fn calm(&mut self, deadline: Instant, settled: impl Fn(&World) -> bool) -> bool {
        if self.gateways.is_empty() {
            return true;
        }
        // (start of the hold, link closes then, the step then)
        let mut hold: Option<(Instant, u64, u64)> = None;
        loop {
            if self.failed() {
                return false;
            }
            let links_up = self.mesh_complete() && self.gateways_linked();
            hold = match hold {
                Some((_, closes, _)) if closes != self.link_closes || !links_up => None,
                None if settled(self) => Some((self.now(), self.link_closes, self.step)),
                other => other,
            };
            if let Some((start, _, step)) = hold {
                if self.now() >= start + CALM_HOLD {
                    // Interest converged at the start of the hold.
                    self.checker.mark_calm(step);
                    break;
                }
            }
            if self.now() >= deadline {
                return false;
            }
            self.run_until(self.now() + Duration::from_millis(20));
        }
        let probes: Vec<usize> = (0..self.clients.len())
            .filter(|&c| self.clients[c].spec.name.starts_with(PROBE_PREFIX))
            .collect();
        for c in probes {
            self.with_client(c, |model, _| {
                for subject in crate::workload::SUBJECTS {
                    model.publish(subject, None, false, 16, None);
                }
            });
        }
        true
    }
}

/// The name prefix of the probe clients gateway mode pins to its nodes.
pub const PROBE_PREFIX: &str = "gw-probe-";
