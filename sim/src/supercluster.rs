//! Gateway mode (`--gateway`, [`crate::swarm::SwarmConfig::gateway`]):
//! super-cluster topologies, their server options, the clients they pin
//! and their fault plans.
//!
//! Three clusters, `A`, `B` and `C`, of one to three nodes each (numbered
//! cluster by cluster: `A` first), routed within each cluster (the first
//! node has no routes, the others one to it), every node a gateway of its
//! cluster (the gateway name is the cluster name; a one-node cluster has
//! no `cluster {}` block). Node `i` listens for gateways on
//! `route_host(i):GATEWAY_PORT`. Each entry of a node's `gateways` list
//! names one node of the remote cluster or all of them. Leaf nodes, when
//! the shape has them, come after the clusters, named `n<i>` like every
//! node, each with one remote; every node of a hub's cluster listens for
//! leaf links.
//!
//! Shapes ([`SuperShape`], `--topology`):
//!
//! - `gw-mesh`: every node lists both other clusters;
//! - `gw-partial`: the nodes of `A` and `C` list only `B`, and those of
//!   `B` list both others or (half the time) nothing: `A` and `C` learn of
//!   each other by gossip, both at once when `B` comes up last (its nodes
//!   start up to 1.2 s late), the implicit-gateway race;
//! - `gw-leafs`: leaf node `L_A` on the first node of `A`, `L_B` on the
//!   first node of `B` (either gateway configuration);
//! - `gw-leaf-chain` (users-voice 6): `L2 -> L1 -> A =gw= B, C`, a leaf
//!   daisy chain whose hub is a gateway; a publisher on `L2` must reach
//!   queue members that exist only in `B` and `C`.
//!
//! Faults: everything the leaf mode draws (client faults, crashes, resets
//! at any byte, silent partitions, fragmentation, slow links, dial
//! failures and graceful shutdowns on routes, leaf links and gateway
//! links), plus resets of a node's gateway links and partitions between
//! two clusters (every gateway link between them reset or silenced, and
//! their dials refused, for a while).

use crate::client_model::{ClientSpec, RequestSpec, SubSpec};
use crate::faults::FaultPlan;
use crate::rng::{Purpose, SimRng};
use crate::swarm::{draw_options, draw_route_rules, SwarmConfig, Topology, LEAF_PORT};
use crate::workload;
use crate::world::{route_host, World, PROBE_PREFIX, ROUTE_PORT};
use canopy_core::{Instant, Options};
use std::time::Duration;

/// Gateway listen port of every simulated node.
pub const GATEWAY_PORT: u16 = 7222;

/// The gateway (and cluster) names of the three clusters.
pub const GATEWAY_NAMES: [&str; 3] = ["A", "B", "C"];

/// The queue group of the pinned clients.
pub const PINNED_GROUP: &str = "gq";

/// Whether a leaf hub may be a one-node gateway cluster (a gateway
/// without a `cluster {}` block), which announces its gateway name as its
/// cluster on leaf links, as nats-server does. (It was off while the
/// engine announced none; `--gateway --seed 4` found that.)
pub const ONE_NODE_LEAF_HUBS: bool = true;

/// Where leaf nodes attach to a super-cluster.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SuperLeafs {
    /// No leaf nodes.
    None,
    /// `L_A` is a spoke of the first node of `A`, `L_B` of the first node
    /// of `B`.
    Both,
    /// `L2 -> L1 -> A`: `L1` is a spoke of the first node of `A`, `L2` a
    /// spoke of `L1`.
    Chain,
}

/// The shape of a super-cluster topology.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SuperShape {
    /// Nodes in `A`, `B` and `C` (1 to 3 each).
    pub sizes: [usize; 3],
    /// `None`: every node lists both other clusters. `Some(b_lists)`: the
    /// nodes of `A` and `C` list only `B`, and `B`'s nodes list both
    /// others if `b_lists`, else nothing.
    pub partial: Option<bool>,
    /// The leaf nodes.
    pub leafs: SuperLeafs,
}

impl SuperShape {
    /// Draws a shape: a full mesh, a partial configuration, leafs on both
    /// sides or a leaf chain (a quarter each), cluster sizes 1 to 3.
    pub fn draw(rng: &mut SimRng) -> SuperShape {
        let kind = rng.below(4);
        let mut shape = SuperShape::of_kind(kind);
        shape.fill(rng);
        shape
    }

    /// The `kind`-th shape, before its sizes and configuration are drawn.
    fn of_kind(kind: u64) -> SuperShape {
        let (partial, leafs) = match kind {
            0 => (None, SuperLeafs::None),
            1 => (Some(false), SuperLeafs::None),
            2 => (None, SuperLeafs::Both),
            _ => (None, SuperLeafs::Chain),
        };
        SuperShape {
            sizes: [2, 2, 2],
            partial,
            leafs,
        }
    }

    /// Draws the sizes and gateway configuration of this kind of shape.
    ///
    /// Two constraints keep every drawn shape able to converge:
    ///
    /// - When `B`'s nodes list nothing, `B` has one node. Gossip reaches
    ///   a dialer only as its inbound side registers it (nats-server's
    ///   `gossipGatewaysToInboundGateway`), so with several `B` nodes `C`
    ///   may register at one that has not yet heard of `A` (it hears of it
    ///   over a route later, and tells no inbound link), and `A` and `C`
    ///   never meet, in nats-server too. With one `B` node, the second
    ///   registration always learns of the first.
    /// - While [`ONE_NODE_LEAF_HUBS`] is off, a cluster with a leaf hub
    ///   has at least two nodes (see there).
    pub fn fill(&mut self, rng: &mut SimRng) {
        for s in &mut self.sizes {
            *s = rng.range_usize(1, 3);
        }
        let partial = match (self.partial, self.leafs) {
            (Some(_), _) => true,
            (None, SuperLeafs::None) => false,
            (None, SuperLeafs::Both | SuperLeafs::Chain) => rng.percent(50),
        };
        self.partial = partial.then(|| rng.percent(50));
        if !ONE_NODE_LEAF_HUBS && self.leafs == SuperLeafs::Both && self.partial.is_some() {
            // `B` holds a leaf hub: it may not be the one-node `B` below.
            self.partial = Some(true);
        }
        if self.partial == Some(false) {
            self.sizes[1] = 1;
        }
        if !ONE_NODE_LEAF_HUBS {
            let hubs: &[usize] = match self.leafs {
                SuperLeafs::None => &[],
                SuperLeafs::Both => &[0, 1],
                SuperLeafs::Chain => &[0],
            };
            for &x in hubs {
                self.sizes[x] = self.sizes[x].max(2);
            }
        }
    }

    /// The `--topology` name of this kind of shape.
    pub fn name(self) -> &'static str {
        match (self.partial, self.leafs) {
            (None, SuperLeafs::None) => "gw-mesh",
            (Some(_), SuperLeafs::None) => "gw-partial",
            (_, SuperLeafs::Both) => "gw-leafs",
            (_, SuperLeafs::Chain) => "gw-leaf-chain",
        }
    }

    /// Parses a `--topology` name of gateway mode.
    pub fn parse(name: &str) -> Option<SuperShape> {
        let kind = match name {
            "gw-mesh" => 0,
            "gw-partial" => 1,
            "gw-leafs" => 2,
            "gw-leaf-chain" => 3,
            _ => return None,
        };
        Some(SuperShape::of_kind(kind))
    }

    /// The names of every kind of shape, in `--topology` form.
    pub const NAMES: [&'static str; 4] = ["gw-mesh", "gw-partial", "gw-leafs", "gw-leaf-chain"];

    /// The nodes of each gateway cluster (`A`, `B`, `C`).
    pub fn gateway_clusters(self) -> Vec<Vec<usize>> {
        let mut first = 0;
        self.sizes
            .iter()
            .map(|&n| {
                let members: Vec<usize> = (first..first + n).collect();
                first += n;
                members
            })
            .collect()
    }

    /// Nodes in the three clusters.
    fn gateway_nodes(self) -> usize {
        self.sizes.iter().sum()
    }

    /// The leaf nodes.
    pub fn leaf_nodes(self) -> Vec<usize> {
        let n = self.gateway_nodes();
        match self.leafs {
            SuperLeafs::None => Vec::new(),
            SuperLeafs::Both | SuperLeafs::Chain => vec![n, n + 1],
        }
    }

    /// Number of engines.
    pub fn nodes(self) -> usize {
        self.gateway_nodes() + self.leaf_nodes().len()
    }

    /// The groups of nodes that must end fully meshed by routes: the
    /// three clusters, and each leaf node alone.
    pub fn clusters(self) -> Vec<Vec<usize>> {
        let mut out = self.gateway_clusters();
        out.extend(self.leaf_nodes().into_iter().map(|l| vec![l]));
        out
    }

    /// The leaf remotes, as (dialer, the node it dials).
    pub fn leaf_edges(self) -> Vec<(usize, usize)> {
        let n = self.gateway_nodes();
        match self.leafs {
            SuperLeafs::None => Vec::new(),
            SuperLeafs::Both => vec![(n, 0), (n + 1, self.sizes[0])],
            SuperLeafs::Chain => vec![(n, 0), (n + 1, n)],
        }
    }

    /// The gateway cluster of `node` (None for a leaf node).
    pub fn cluster_of(self, node: usize) -> Option<usize> {
        self.gateway_clusters()
            .iter()
            .position(|c| c.contains(&node))
    }

    /// Every server-to-server link faults may hit: the leaf remotes (to
    /// every node of the hub's cluster), the routes, and every pair of
    /// nodes in different clusters (a gateway link may join them).
    pub fn links(self) -> Vec<(usize, usize)> {
        let mut links = Topology::Super(self).links();
        let clusters = self.gateway_clusters();
        for (x, cx) in clusters.iter().enumerate() {
            for cy in &clusters[x + 1..] {
                for &a in cx {
                    for &b in cy {
                        links.push((a, b));
                    }
                }
            }
        }
        links
    }
}

/// Makes `options` (one per node) the super-cluster `shape`: names,
/// routes within each cluster, a `gateway {}` block on every node of the
/// three clusters with the remotes its configuration lists (each naming
/// one node of the remote cluster or all of them), and the leaf blocks.
/// Draws each cluster's route ping interval, the gateways'
/// `connect_retries`, the URLs, and the leaf reconnect interval.
pub fn super_options(shape: SuperShape, options: &mut [Options], rng: &mut SimRng) {
    let clusters = shape.gateway_clusters();
    // An implicit gateway out of retries is forgotten unless an inbound
    // link from it is up, and only gossip brings it back: enough rounds
    // (a second apart) to outlast a partition, a crash or a dial fault.
    let retries = rng.range(8, 12) as u32;
    for (i, o) in options.iter_mut().enumerate() {
        o.host = format!("10.0.0.{}", i + 1);
        o.server_name = format!("n{i}");
    }
    for (x, members) in clusters.iter().enumerate() {
        let name = GATEWAY_NAMES[x];
        if members.len() > 1 {
            let ping = rng.duration(Duration::from_millis(300), Duration::from_secs(3));
            let first = members[0];
            for &i in members {
                let routes = crate::swarm::seed_routes(first, i);
                options[i].cluster = Some(canopy_core::ClusterOptions {
                    name: name.to_string(),
                    host: route_host(i),
                    port: ROUTE_PORT,
                    connect_retries: 10,
                    routes,
                    ping_interval: ping,
                    ..canopy_core::ClusterOptions::default()
                });
            }
        }
        for &i in members {
            let lists: Vec<usize> = match shape.partial {
                None => (0..3).filter(|&y| y != x).collect(),
                Some(b_lists) => match x {
                    1 if b_lists => vec![0, 2],
                    1 => Vec::new(),
                    _ => vec![1],
                },
            };
            let gateways = lists
                .into_iter()
                .map(|y| {
                    let targets: Vec<usize> = if rng.percent(50) {
                        vec![*rng.pick(&clusters[y])]
                    } else {
                        clusters[y].clone()
                    };
                    canopy_core::RemoteGatewayOptions {
                        name: GATEWAY_NAMES[y].to_string(),
                        urls: targets
                            .into_iter()
                            .filter_map(|t| {
                                canopy_core::route::RouteAddr::parse(&format!(
                                    "nats://{}:{GATEWAY_PORT}",
                                    route_host(t)
                                ))
                            })
                            .collect(),
                        ..canopy_core::RemoteGatewayOptions::default()
                    }
                })
                .collect();
            options[i].gateway = Some(canopy_core::GatewayOptions {
                name: name.to_string(),
                host: route_host(i),
                port: GATEWAY_PORT,
                auth_timeout: Duration::from_secs(2),
                connect_retries: retries,
                gateways,
                ..canopy_core::GatewayOptions::default()
            });
        }
    }
    let edges = shape.leaf_edges();
    if edges.is_empty() {
        return;
    }
    let reconnect = rng.duration(Duration::from_millis(100), Duration::from_millis(1000));
    let same =
        |a: usize, b: usize| a == b || clusters.iter().any(|c| c.contains(&a) && c.contains(&b));
    for (i, o) in options.iter_mut().enumerate() {
        let accepts = edges.iter().any(|&(_, t)| same(t, i));
        let remotes: Vec<canopy_core::RemoteLeafOptions> = edges
            .iter()
            .filter(|&&(d, _)| d == i)
            .map(|&(_, target)| {
                let url = format!("nats-leaf://{}:{LEAF_PORT}", route_host(target));
                canopy_core::RemoteLeafOptions {
                    urls: canopy_core::route::RouteAddr::parse(&url)
                        .into_iter()
                        .collect(),
                    ..canopy_core::RemoteLeafOptions::default()
                }
            })
            .collect();
        if !accepts && remotes.is_empty() {
            continue;
        }
        o.leaf = Some(canopy_core::LeafOptions {
            host: route_host(i),
            port: if accepts { LEAF_PORT } else { 0 },
            remotes,
            reconnect,
            ..canopy_core::LeafOptions::default()
        });
    }
}

/// Index of the workload stream the pinned clients are drawn from.
const PINNED_STREAM: u64 = 1 << 21;

/// The clients gateway mode pins to its nodes, with their homes, so that
/// messages, queue groups and requests cross gateways whatever the drawn
/// workload does (none churn):
///
/// - a publisher on a node of `A` (in `gw-leaf-chain` on `L2`, in
///   `gw-leafs` on `L_A` a third of the time);
/// - on a node of `B` and one of `C`, a subscriber that hears it plainly
///   and as a member of queue group `gq`; with 40 % also a member of `gq`
///   on a node of `A` (the publisher's cluster is preferred), never in the
///   leaf chain (its members are only across gateways);
/// - a requester on a node of `A` (or on `L_B`) and a responder on a node
///   of `C`, in queue group `workers` half the time.
pub fn pinned_clients(shape: SuperShape, rng: &mut SimRng) -> Vec<(ClientSpec, usize)> {
    let clusters = shape.gateway_clusters();
    let leafs = shape.leaf_nodes();
    let workload::PinnedTraffic {
        pattern,
        queue_pattern,
        publish,
    } = workload::pinned_traffic(rng, (40, 120));
    let client = |name: &str, plain: bool, member: bool| {
        let mut spec = ClientSpec::scripted(name);
        if plain {
            spec.subs.push(SubSpec {
                pattern: pattern.clone(),
                queue: None,
                respond: false,
            });
        }
        if member {
            spec.subs.push(SubSpec {
                pattern: queue_pattern.clone(),
                queue: Some(PINNED_GROUP.to_string()),
                respond: false,
            });
        }
        spec
    };
    let mut publisher = client("gw-pub", false, false);
    publisher.publish = Some(publish);
    let publisher_home = match shape.leafs {
        SuperLeafs::Chain => leafs[1],
        SuperLeafs::Both if rng.percent(33) => leafs[0],
        SuperLeafs::None | SuperLeafs::Both => *rng.pick(&clusters[0]),
    };
    let mut out = vec![
        (publisher, publisher_home),
        (client("gw-sub-b", true, true), *rng.pick(&clusters[1])),
        (client("gw-sub-c", true, true), *rng.pick(&clusters[2])),
    ];
    if shape.leafs != SuperLeafs::Chain && rng.percent(40) {
        out.push((client("gw-q-a", false, true), *rng.pick(&clusters[0])));
    }
    let mut requester = ClientSpec::scripted("gw-req");
    requester.request = Some(RequestSpec {
        subjects: workload::SERVICES.iter().map(|s| s.to_string()).collect(),
        interval: (Duration::from_millis(30), Duration::from_millis(250)),
    });
    let requester_home = if shape.leafs == SuperLeafs::Both && rng.percent(40) {
        leafs[1]
    } else {
        *rng.pick(&clusters[0])
    };
    out.push((requester, requester_home));
    let mut responder = ClientSpec::scripted("gw-resp");
    responder.subs.push(SubSpec {
        pattern: "svc.*".to_string(),
        queue: rng.percent(50).then(|| "workers".to_string()),
        respond: true,
    });
    out.push((responder, *rng.pick(&clusters[2])));
    // Probes: one client on a node of each cluster and on each leaf node,
    // publishing only once everything converged (World::calm).
    let mut probes: Vec<usize> = clusters.iter().map(|c| *rng.pick(c)).collect();
    probes.extend(leafs);
    for node in probes {
        out.push((ClientSpec::scripted(&format!("{PROBE_PREFIX}{node}")), node));
    }
    out
}

/// The world of a seed of gateway mode: a super-cluster drawn from its
/// own stream (with `--topology`, that kind, its sizes drawn), the nodes
/// of `B` started late in a partial configuration, the drawn workload on
/// random nodes plus the pinned clients, and the fault plan.
pub fn setup(seed: u64, cfg: &SwarmConfig) -> (World, FaultPlan, Instant, String) {
    let mut rng = SimRng::new(seed, Purpose::Topology, 3);
    let drawn = SuperShape::draw(&mut rng);
    let shape = match cfg.topology {
        Some(Topology::Super(mut forced)) => {
            forced.fill(&mut rng);
            forced
        }
        Some(_) | None => drawn,
    };
    let topology = Topology::Super(shape);
    let n = shape.nodes();
    let mut options: Vec<Options> = (0..n).map(|_| draw_options(&mut rng)).collect();
    let link_rules = draw_route_rules(&mut rng);
    super_options(shape, &mut options, &mut rng);
    let mut wl_rng = SimRng::new(seed, Purpose::Workload, 0);
    let wl = workload::draw(&mut wl_rng, 3, 6);
    let fault_start = Duration::from_millis(1200);
    let safety_end =
        Instant::ZERO + wl_rng.duration(Duration::from_secs(3), Duration::from_secs(6));

    let mut world = crate::swarm::new_world(seed, cfg, options.clone());
    world.route_rules = link_rules;
    world.clusters = topology.clusters();
    world.leaf_edges = topology.leaf_edges();
    world.set_gateways(shape.gateway_clusters());
    world.set_engine_setup(cfg.engine_setup.clone());
    // In a partial configuration `B` may come up last: `A` and `C` then
    // reach it at about the same time and learn of each other at once.
    let mut late = Vec::new();
    if shape.partial.is_some() && rng.percent(60) {
        let at = rng.duration(Duration::from_millis(200), Duration::from_millis(1200));
        for &b in &shape.gateway_clusters()[1] {
            world.start_later(b, Instant::ZERO + at);
            late.push(format!("n{b}@{:.2}s", at.as_secs_f64()));
        }
    }
    world.start();
    let mut homes: Vec<usize> = (0..wl.clients.len())
        .map(|_| rng.below(n as u64) as usize)
        .collect();
    let mut pin_rng = SimRng::new(seed, Purpose::Workload, PINNED_STREAM);
    let pinned = pinned_clients(shape, &mut pin_rng);
    let clients =
        crate::swarm::add_clients(&mut world, seed, &wl, &mut homes, pinned, &mut pin_rng);
    let mut fault_rng = SimRng::new(seed, Purpose::Faults, 0);
    let plan = if cfg.no_faults {
        FaultPlan::default()
    } else {
        FaultPlan::draw_super(
            &mut fault_rng,
            clients,
            n,
            &shape.links(),
            &shape.gateway_clusters(),
            Instant::ZERO + fault_start,
            safety_end,
        )
    };
    for &(at, fault) in &plan.faults {
        world.schedule_fault(at, fault);
    }
    let gateways: Vec<String> = options
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let g = o.gateway.as_ref()?;
            let lists: Vec<String> = g
                .gateways
                .iter()
                .map(|r| {
                    let urls: Vec<String> = r.urls.iter().map(|u| u.host_port()).collect();
                    format!("{}@{}", r.name, urls.join("|"))
                })
                .collect();
            Some(format!("{i}:{}[{}]", g.name, lists.join(",")))
        })
        .collect();
    let homes: Vec<String> = homes.iter().map(usize::to_string).collect();
    let late = if late.is_empty() {
        String::new()
    } else {
        format!(" late=[{}]", late.join(","))
    };
    let summary = format!(
        "gateway topology={} sizes={:?} partial={:?} leafs={:?} gateways=[{}]{late} homes=[{}] \
         clients={} safety={:.2}s faults=[{}] planned={}",
        shape.name(),
        shape.sizes,
        shape.partial,
        shape.leafs,
        gateways.join(" "),
        homes.join(","),
        clients,
        safety_end.as_nanos() as f64 / 1e9,
        plan.mix(),
        plan.faults.len()
    );
    (world, plan, safety_end, summary)
}
