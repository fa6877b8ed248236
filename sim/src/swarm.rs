//! Swarm runs: one seed draws a topology, server options, a workload and a
//! fault mix; the run has a safety phase with faults, then heals and must
//! converge within a bound.

use crate::checker::CheckStats;
use crate::client_model::{ClientSpec, SubSpec};
use crate::faults::FaultPlan;
use crate::link::{DirRules, LinkRules};
use crate::rng::{Purpose, SimRng};
pub use crate::supercluster::{SuperLeafs, SuperShape};
use crate::workload;
use crate::world::{route_host, EngineSetup, World, WorldStats, ROUTE_PORT};
use canopy_core::{Instant, Options};
use std::time::Duration;

/// The shape of the system under test. Gateways would add variants here.
///
/// The leaf topologies run only in leaf mode ([`SwarmConfig::leaf`]),
/// which draws them from a stream of its own: the seeds of the default
/// mode draw what they always drew. In every leaf topology node `i`
/// listens for leaf links on `route_host(i):LEAF_PORT` when it accepts
/// any, each remote names one URL, and each client's home is a random
/// node.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One server; every client connects to it.
    Single,
    /// Three servers in a full mesh of routes: node 0 has no configured
    /// routes, nodes 1 and 2 each have one to node 0 and find each other
    /// by gossip. Each client's home is a random node.
    Cluster3,
    /// A hub (node 0) and this many spokes, each with one remote to the
    /// hub. A remote may say `hub: true`, which makes the spoke the hub of
    /// its link.
    LeafHub(usize),
    /// A daisy chain: node 2 is a leaf of node 1, which is a leaf of the
    /// hub, node 0 (remotes 2 -> 1 -> 0, either may say `hub: true`).
    LeafChain,
    /// A ring of remotes 0 -> 1 -> 2 -> 0, the nodes started in a drawn
    /// order: loop detection must refuse the link that closes the ring
    /// (it may refuse more: each refused remote then waits 30 s).
    /// No node crashes here (a restarted node re-forms two links at once,
    /// and a ring formed all at once may carry traffic round before its
    /// loop-detection subject comes back, in nats-server too).
    LeafTriangle,
    /// A hub (node 0) and a leaf cluster of nodes 1 and 2 joined by a
    /// route; only node 1 has a remote to the hub. A spoke relays nothing
    /// between its hub and its routes, so node 2 and the hub never hear
    /// each other.
    LeafSpokeCluster,
    /// A hub (node 0) and two spokes whose remotes deny subjects both
    /// ways (`deny_exports`, `deny_imports`).
    LeafDeny,
    /// A hub that is a cluster: nodes 0 and 1 routed as cluster `hubc`,
    /// each listening for leaf links; spokes 2 and 3 each have one remote,
    /// to the hub node named here (different ones, or both the same). The
    /// hub cluster carries each spoke's interest and messages to the other
    /// hub node with their origin (`LS+`/`LMSG <origin>` on the route), and
    /// gossips its leaf URLs, so a spoke may come back on the other hub
    /// node. With `reversed`, node 3 has no remote: its hub node dials it
    /// with `hub: true` (node 3 listens, and, without a cluster or a
    /// remote, names no cluster).
    LeafHubCluster {
        /// The hub node spokes 2 and 3 are linked to.
        remotes: [usize; 2],
        /// Node 3's hub node dials it with `hub: true`.
        reversed: bool,
    },
    /// A redundant leaf pair (users-voice 1): nodes 2 and 3 routed as
    /// leaf cluster `lc`, both with a remote to the hub (node 0, or with
    /// `hub_cluster` the cluster `hubc` of nodes 0 and 1; `remotes` names
    /// the hub node each dials). Without a hub cluster node 1 is another
    /// spoke of node 0. What one of the pair publishes reaches the other
    /// over their route only (never back through the hub: cluster-wide no
    /// echo), and the hub once.
    LeafRedundantPair {
        /// Nodes 0 and 1 are the hub cluster.
        hub_cluster: bool,
        /// The hub node nodes 2 and 3 dial.
        remotes: [usize; 2],
    },
    /// A leaf cluster split from its hub (check 36, users-voice 2): nodes
    /// 2 and 3 routed as leaf cluster `lc`, only node 2 with a remote (to
    /// hub node `remote`; with `hub_cluster` nodes 0 and 1 are the hub
    /// cluster `hubc`, else node 1 is another spoke of node 0). A spoke
    /// does not relay: node 3 and the hub never hear each other, and a
    /// queue group with members on the hub and on node 2 is served once,
    /// by the member on the publisher's side.
    LeafClusterSplit {
        /// Nodes 0 and 1 are the hub cluster.
        hub_cluster: bool,
        /// The hub node node 2 dials.
        remote: usize,
    },
    /// A super-cluster (gateway mode, [`SwarmConfig::gateway`]): clusters
    /// `A`, `B` and `C` joined by gateways, with leaf nodes attached as
    /// the shape says (see [`crate::supercluster`]).
    Super(SuperShape),
}

/// Leaf listen port of every simulated node that accepts leaf links.
pub const LEAF_PORT: u16 = 7422;

/// Subjects leaf remotes draw their `deny_exports` and `deny_imports`
/// from (each covers some of [`workload::SUBJECTS`]).
const DENY: &[&str] = &["a.b", "a.*", "b.>", "c.>", "c.d.e", "*.c"];

impl Topology {
    /// Draws a topology: single server or 3-node cluster, half each.
    pub fn draw(rng: &mut SimRng) -> Topology {
        if rng.next_u64() & 1 == 0 {
            Topology::Single
        } else {
            Topology::Cluster3
        }
    }

    /// Draws a leaf topology (leaf mode): a hub with two or three spokes,
    /// a chain, a ring, a spoke cluster, spokes with deny rules, a hub
    /// cluster, a redundant leaf pair or a split leaf cluster (their
    /// shapes drawn by [`Topology::draw_shape`]).
    pub fn draw_leaf(rng: &mut SimRng) -> Topology {
        match rng.below(9) {
            0 => Topology::LeafHub(2),
            1 => Topology::LeafHub(3),
            2 => Topology::LeafChain,
            3 => Topology::LeafTriangle,
            4 => Topology::LeafSpokeCluster,
            5 => Topology::LeafDeny,
            6 => Topology::LeafHubCluster {
                remotes: [0, 1],
                reversed: false,
            },
            7 => Topology::LeafRedundantPair {
                hub_cluster: true,
                remotes: [0, 1],
            },
            _ => Topology::LeafClusterSplit {
                hub_cluster: true,
                remote: 0,
            },
        }
    }

    /// This topology with its shape drawn: which hub node each remote
    /// dials and whether the hub is a cluster (the other topologies have
    /// one shape).
    pub fn draw_shape(self, rng: &mut SimRng) -> Topology {
        // The hub node of a remote: node 0, or either of a hub cluster.
        let hub = |rng: &mut SimRng, cluster: bool| if cluster { rng.below(2) as usize } else { 0 };
        match self {
            Topology::LeafHubCluster { .. } => {
                let first = hub(rng, true);
                // Different hub nodes, or sometimes both the same.
                let second = if rng.percent(70) { 1 - first } else { first };
                Topology::LeafHubCluster {
                    remotes: [first, second],
                    reversed: rng.percent(25),
                }
            }
            Topology::LeafRedundantPair { .. } => {
                let hub_cluster = rng.percent(60);
                let remotes = [hub(rng, hub_cluster), hub(rng, hub_cluster)];
                Topology::LeafRedundantPair {
                    hub_cluster,
                    remotes,
                }
            }
            Topology::LeafClusterSplit { .. } => {
                let hub_cluster = rng.percent(60);
                Topology::LeafClusterSplit {
                    hub_cluster,
                    remote: hub(rng, hub_cluster),
                }
            }
            Topology::Single
            | Topology::Cluster3
            | Topology::LeafHub(_)
            | Topology::LeafChain
            | Topology::LeafTriangle
            | Topology::LeafSpokeCluster
            | Topology::LeafDeny
            | Topology::Super(_) => self,
        }
    }

    /// Whether nodes 0 and 1 are a hub cluster.
    fn hub_cluster(self) -> bool {
        match self {
            Topology::LeafHubCluster { .. } => true,
            Topology::LeafRedundantPair { hub_cluster, .. }
            | Topology::LeafClusterSplit { hub_cluster, .. } => hub_cluster,
            Topology::Single
            | Topology::Cluster3
            | Topology::LeafHub(_)
            | Topology::LeafChain
            | Topology::LeafTriangle
            | Topology::LeafSpokeCluster
            | Topology::LeafDeny
            | Topology::Super(_) => false,
        }
    }

    /// The name of the leaf-mode cluster whose first node is `first`.
    fn cluster_name(self, first: usize) -> &'static str {
        match (self, first) {
            (Topology::LeafSpokeCluster, _) => "leafc",
            (_, 0) => "hubc",
            _ => "lc",
        }
    }

    /// Whether this is a leaf topology.
    pub fn is_leaf(self) -> bool {
        !matches!(
            self,
            Topology::Single | Topology::Cluster3 | Topology::Super(_)
        )
    }

    /// Whether this is a super-cluster (gateway mode).
    pub fn is_super(self) -> bool {
        matches!(self, Topology::Super(_))
    }

    /// Number of engines.
    pub fn nodes(self) -> usize {
        match self {
            Topology::Single => 1,
            Topology::Super(shape) => shape.nodes(),
            Topology::LeafHub(spokes) => 1 + spokes,
            Topology::LeafHubCluster { .. }
            | Topology::LeafRedundantPair { .. }
            | Topology::LeafClusterSplit { .. } => 4,
            Topology::Cluster3
            | Topology::LeafChain
            | Topology::LeafTriangle
            | Topology::LeafSpokeCluster
            | Topology::LeafDeny => 3,
        }
    }

    /// The clusters: groups of nodes that must end fully meshed by routes.
    /// A super-cluster (gateways) lists one group per cluster; a leaf
    /// topology puts nodes without routes in groups of their own.
    pub fn clusters(self) -> Vec<Vec<usize>> {
        match self {
            Topology::Single => vec![vec![0]],
            Topology::Cluster3 => vec![vec![0, 1, 2]],
            Topology::LeafSpokeCluster => vec![vec![0], vec![1, 2]],
            Topology::LeafHubCluster { .. } => vec![vec![0, 1], vec![2], vec![3]],
            Topology::LeafRedundantPair { .. } | Topology::LeafClusterSplit { .. } => {
                if self.hub_cluster() {
                    vec![vec![0, 1], vec![2, 3]]
                } else {
                    vec![vec![0], vec![1], vec![2, 3]]
                }
            }
            Topology::LeafHub(_)
            | Topology::LeafChain
            | Topology::LeafTriangle
            | Topology::LeafDeny => (0..self.nodes()).map(|i| vec![i]).collect(),
            Topology::Super(shape) => shape.clusters(),
        }
    }

    /// The leaf remotes, as (dialer, the node it dials).
    pub fn leaf_edges(self) -> Vec<(usize, usize)> {
        match self {
            Topology::Single | Topology::Cluster3 => Vec::new(),
            Topology::Super(shape) => shape.leaf_edges(),
            Topology::LeafHub(spokes) => (1..=spokes).map(|i| (i, 0)).collect(),
            Topology::LeafChain => vec![(1, 0), (2, 1)],
            Topology::LeafTriangle => vec![(0, 1), (1, 2), (2, 0)],
            Topology::LeafSpokeCluster => vec![(1, 0)],
            Topology::LeafDeny => vec![(1, 0), (2, 0)],
            Topology::LeafHubCluster {
                remotes: [a, b],
                reversed,
            } => vec![(2, a), if reversed { (b, 3) } else { (3, b) }],
            Topology::LeafRedundantPair {
                hub_cluster,
                remotes: [a, b],
            } => {
                let mut edges = vec![(2, a), (3, b)];
                if !hub_cluster {
                    edges.insert(0, (1, 0));
                }
                edges
            }
            Topology::LeafClusterSplit {
                hub_cluster,
                remote,
            } => {
                let mut edges = vec![(2, remote)];
                if !hub_cluster {
                    edges.insert(0, (1, 0));
                }
                edges
            }
        }
    }

    /// Every server-to-server link faults may hit: the leaf remotes (and,
    /// into a hub cluster, to each of its nodes: a remote may come back on
    /// another), then the routes.
    pub fn links(self) -> Vec<(usize, usize)> {
        let clusters = self.clusters();
        let cluster_of = |n: usize| clusters.iter().find(|c| c.contains(&n));
        let mut links = Vec::new();
        for (a, t) in self.leaf_edges() {
            for &b in cluster_of(t).map_or(&[][..], Vec::as_slice) {
                if !links.contains(&(a, b)) {
                    links.push((a, b));
                }
            }
        }
        for c in &clusters {
            for (i, &a) in c.iter().enumerate() {
                for &b in &c[i + 1..] {
                    links.push((b, a));
                }
            }
        }
        links
    }

    /// The `--topology` name of this kind of topology.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Single => "single",
            Topology::Cluster3 => "cluster3",
            Topology::LeafHub(3) => "hub3",
            Topology::LeafHub(_) => "hub2",
            Topology::LeafChain => "chain",
            Topology::LeafTriangle => "triangle",
            Topology::LeafSpokeCluster => "spoke-cluster",
            Topology::LeafDeny => "deny",
            Topology::LeafHubCluster { .. } => "hub-cluster",
            Topology::LeafRedundantPair { .. } => "redundant-pair",
            Topology::LeafClusterSplit { .. } => "leaf-cluster-split",
            Topology::Super(shape) => shape.name(),
        }
    }

    /// Parses a `--topology` name.
    pub fn parse(name: &str) -> Option<Topology> {
        Some(match name {
            "single" => Topology::Single,
            "cluster3" => Topology::Cluster3,
            "hub2" => Topology::LeafHub(2),
            "hub3" => Topology::LeafHub(3),
            "chain" => Topology::LeafChain,
            "triangle" => Topology::LeafTriangle,
            "spoke-cluster" => Topology::LeafSpokeCluster,
            "deny" => Topology::LeafDeny,
            "hub-cluster" => Topology::LeafHubCluster {
                remotes: [0, 1],
                reversed: false,
            },
            "redundant-pair" => Topology::LeafRedundantPair {
                hub_cluster: true,
                remotes: [0, 1],
            },
            "leaf-cluster-split" => Topology::LeafClusterSplit {
                hub_cluster: true,
                remote: 0,
            },
            _ => return SuperShape::parse(name).map(Topology::Super),
        })
    }
}

/// Makes `options` (one per node) the leaf topology `topology`: every
/// node gets a name (`n<i>`, also the leaf cluster name of a node without
/// a cluster) and a `leafnodes` block, listening where some remote points
/// (on every node of a hub cluster), with its remotes; the nodes of each
/// cluster of [`Topology::clusters`] are routed (the spoke cluster as
/// `leafc`, a hub cluster as `hubc`, a leaf cluster as `lc`; the first
/// node has no routes, the others one to it). Draws the reconnect
/// interval, `hub: true` on some remotes of the hub and chain topologies,
/// the deny rules of `LeafDeny` and each cluster's route ping interval.
pub fn leaf_options(topology: Topology, options: &mut [Options], rng: &mut SimRng) {
    let edges = topology.leaf_edges();
    let clusters = topology.clusters();
    let same_cluster =
        |a: usize, b: usize| clusters.iter().any(|c| c.contains(&a) && c.contains(&b));
    let reconnect = rng.duration(Duration::from_millis(100), Duration::from_millis(1000));
    for (i, o) in options.iter_mut().enumerate() {
        o.host = format!("10.0.0.{}", i + 1);
        o.server_name = format!("n{i}");
        let accepts = edges.iter().any(|&(_, t)| same_cluster(t, i));
        let mut remotes = Vec::new();
        for &(_, target) in edges.iter().filter(|&&(d, _)| d == i) {
            let url = format!("nats-leaf://{}:{LEAF_PORT}", route_host(target));
            let mut remote = canopy_core::RemoteLeafOptions {
                urls: canopy_core::route::RouteAddr::parse(&url)
                    .into_iter()
                    .collect(),
                ..canopy_core::RemoteLeafOptions::default()
            };
            match topology {
                Topology::LeafHub(_) | Topology::LeafChain => remote.hub = rng.percent(20),
                // The hub node's remote to node 3.
                Topology::LeafHubCluster { reversed, .. } => remote.hub = reversed && i < 2,
                Topology::LeafDeny => {
                    let pick = |rng: &mut SimRng| -> Vec<String> {
                        let mut list: Vec<String> = (0..rng.range(1, 2))
                            .map(|_| rng.pick(DENY).to_string())
                            .collect();
                        list.sort();
                        list.dedup();
                        list
                    };
                    match rng.below(3) {
                        0 => remote.deny_exports = pick(rng),
                        1 => remote.deny_imports = pick(rng),
                        _ => {
                            remote.deny_exports = pick(rng);
                            remote.deny_imports = pick(rng);
                        }
                    }
                }
                Topology::Single
                | Topology::Cluster3
                | Topology::LeafTriangle
                | Topology::LeafSpokeCluster
                | Topology::LeafRedundantPair { .. }
                | Topology::LeafClusterSplit { .. }
                | Topology::Super(_) => {}
            }
            remotes.push(remote);
        }
        o.leaf = Some(canopy_core::LeafOptions {
            host: route_host(i),
            port: if accepts { LEAF_PORT } else { 0 },
            remotes,
            reconnect,
            ..canopy_core::LeafOptions::default()
        });
    }
    for members in clusters.iter().filter(|c| c.len() > 1) {
        let ping = rng.duration(Duration::from_millis(300), Duration::from_secs(3));
        let first = members[0];
        for &i in members {
            let routes = seed_routes(first, i);
            options[i].cluster = Some(canopy_core::ClusterOptions {
                name: topology.cluster_name(first).to_string(),
                host: route_host(i),
                port: ROUTE_PORT,
                connect_retries: 10,
                routes,
                ping_interval: ping,
                ..canopy_core::ClusterOptions::default()
            });
        }
    }
}

/// Makes `options` (one per node) a cluster: node `i` listens for routes
/// on `route_host(i):ROUTE_PORT`; every node but 0 has a route to node 0.
pub fn cluster_options(options: &mut [Options], rng: &mut SimRng) {
    let ping = rng.duration(Duration::from_millis(300), Duration::from_secs(3));
    let retries = rng.range(3, 10) as u32;
    for (i, o) in options.iter_mut().enumerate() {
        o.host = format!("10.0.0.{}", i + 1);
        let routes = if i == 0 {
            Vec::new()
        } else {
            let url = format!("nats-route://{}:{ROUTE_PORT}", route_host(0));
            canopy_core::route::RouteAddr::parse(&url)
                .into_iter()
                .collect()
        };
        o.cluster = Some(canopy_core::ClusterOptions {
            name: "sim".to_string(),
            host: route_host(i),
            port: ROUTE_PORT,
            connect_retries: retries,
            routes,
            ping_interval: ping,
            ..canopy_core::ClusterOptions::default()
        });
    }
}

/// Draws the base rules of route links.
pub fn draw_route_rules(rng: &mut SimRng) -> LinkRules {
    let mut d = DirRules {
        delay: rng.duration(Duration::from_micros(50), Duration::from_millis(5)),
        ..DirRules::default()
    };
    if rng.percent(30) {
        d.jitter = rng.duration(Duration::ZERO, Duration::from_millis(3));
    }
    if rng.percent(20) {
        d.max_piece = rng.range_usize(1, 200);
    }
    if rng.percent(20) {
        d.window = rng.range_usize(4096, 64 * 1024);
        d.read_size = rng.range_usize(512, 16 * 1024);
    }
    LinkRules { up: d, down: d }
}

/// How a swarm run is set up.
#[derive(Clone, Default)]
pub struct SwarmConfig {
    /// Whether faults are injected in the safety phase.
    pub no_faults: bool,
    /// Applied to every engine (mutation tests).
    pub engine_setup: Option<EngineSetup>,
    /// Keep the last this-many events as text (replay mode).
    pub ring: usize,
    /// Use this topology instead of drawing one (speed measurements).
    pub topology: Option<Topology>,
    /// Leaf mode: each seed draws a leaf topology (from a stream the
    /// default mode never reads) instead of single server or cluster.
    pub leaf: bool,
    /// Gateway mode: each seed draws a super-cluster topology (from a
    /// stream no other mode reads); see [`crate::supercluster`].
    pub gateway: bool,
    /// TLS on every client port, route, leaf link and gateway, with
    /// certificates and settings drawn from the seed (a stream no other
    /// draw reads: the rest of the seed is the plaintext seed's), TLS
    /// faults and TLS-first probes; see [`crate::tls`]. Combines with the
    /// default, leaf and gateway modes.
    pub tls: bool,
    /// Compression of routes and leaf links drawn per seed (a stream of
    /// its own, see [`crate::links`]); combines with every mode.
    pub s2: bool,
    /// Leaf remotes over WebSocket to their hub's websocket port (with
    /// `--tls`: wss); see [`crate::links`].
    pub ws: bool,
    /// Operator mode on every node, clients logging in with user JWTs
    /// of two or three accounts, and rogue logins (keys from a stream of
    /// their own); see [`crate::operator`]. The default mode only.
    pub operator: bool,
}

/// The world of a seed: `options` (one per node) with TLS when `cfg`
/// asks for it.
pub(crate) fn new_world(seed: u64, cfg: &SwarmConfig, mut options: Vec<Options>) -> World {
    let links = (cfg.s2 || cfg.ws)
        .then(|| crate::links::LinksPlan::draw(seed, cfg.s2, cfg.ws, &mut options));
    let plan = cfg
        .tls
        .then(|| crate::tls::TlsPlan::draw(seed, options.len()));
    if let Some(plan) = &plan {
        plan.apply(&mut options);
    }
    let mut world = World::new(seed, options, cfg.ring);
    if let Some(plan) = plan {
        world.enable_tls(plan, !cfg.no_faults);
    }
    if let Some(links) = links {
        world.enable_links(links, !cfg.no_faults);
    }
    world
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// Violations (empty: the seed passed).
    pub violations: Vec<String>,
    /// Hash of the full event trace.
    pub trace_hash: u64,
    /// Virtual time simulated.
    pub sim_time: Duration,
    /// World counters.
    pub stats: WorldStats,
    /// Checker counters.
    pub checks: CheckStats,
    /// One line describing the drawn run.
    pub summary: String,
    /// The last events (replay mode only).
    pub trace: Vec<String>,
}

impl RunReport {
    /// Whether the seed passed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Time after healing by which every client must be connected again with
/// its subscriptions confirmed.
pub const HEAL_BOUND: Duration = Duration::from_secs(10);

/// Time after activity stops by which nothing may be in flight.
pub const DRAIN_BOUND: Duration = Duration::from_secs(20);

/// Deliveries a run must have checked to count as having exercised anything.
pub const MIN_DELIVERIES: u64 = 3;

/// Draws the server options of one node.
pub fn draw_options(rng: &mut SimRng) -> Options {
    let mut o = Options {
        host: "127.0.0.1".to_string(),
        port: 4222,
        ..Options::default()
    };
    if rng.percent(40) {
        o.max_pending = rng.range_usize(16 * 1024, 128 * 1024);
    }
    if rng.percent(40) {
        o.write_deadline = rng.duration(Duration::from_millis(200), Duration::from_secs(3));
    }
    if rng.percent(50) {
        o.ping_interval = rng.duration(Duration::from_millis(500), Duration::from_secs(4));
        o.ping_max = rng.range(1, 3) as u32;
    }
    o
}

/// Runs one seed (in leaf mode, a leaf topology; in gateway mode, a
/// super-cluster).
pub fn run_seed(seed: u64, cfg: &SwarmConfig) -> RunReport {
    let (mut world, plan, safety_end, mut summary) = if cfg.gateway {
        crate::supercluster::setup(seed, cfg)
    } else if cfg.leaf {
        leaf_setup(seed, cfg)
    } else {
        setup(seed, cfg)
    };
    if let Some(links) = world.links_plan() {
        summary.push(' ');
        summary.push_str(links.describe());
    }
    if let Some(tls) = world.tls_plan() {
        summary.push(' ');
        summary.push_str(&tls.describe());
        // TLS-first probes while faults strike, done well before healing.
        let until = safety_end
            .saturating_since(Instant::ZERO)
            .saturating_sub(Duration::from_millis(300));
        world.plan_tls_probes(
            Instant::ZERO + Duration::from_millis(300),
            Instant::ZERO + until,
        );
    }
    drive(seed, world, &plan, safety_end, summary)
}

/// The world of a seed of the default mode: single server or 3-node
/// cluster, its clients, its fault plan, the end of its safety phase and
/// its summary line.
fn setup(seed: u64, cfg: &SwarmConfig) -> (World, FaultPlan, Instant, String) {
    let mut topo_rng = SimRng::new(seed, Purpose::Topology, 0);
    let drawn = Topology::draw(&mut topo_rng);
    let topology = cfg.topology.unwrap_or(drawn);
    let mut options: Vec<Options> = (0..topology.nodes())
        .map(|_| draw_options(&mut topo_rng))
        .collect();
    // Cluster draws come from their own stream: single-server seeds draw
    // what they always drew.
    let mut cluster_rng = SimRng::new(seed, Purpose::Topology, 1);
    let mut route_rules = LinkRules::default();
    if topology.nodes() > 1 {
        cluster_options(&mut options, &mut cluster_rng);
        route_rules = draw_route_rules(&mut cluster_rng);
    }
    let mut wl_rng = SimRng::new(seed, Purpose::Workload, 0);
    let wl = workload::draw(&mut wl_rng, 3, 6);
    let safety_end =
        Instant::ZERO + wl_rng.duration(Duration::from_secs(2), Duration::from_secs(6));

    let mut operator = cfg
        .operator
        .then(|| crate::operator::OperatorPlan::draw(seed));
    if let Some(plan) = &operator {
        plan.apply(&mut options);
    }
    let mut world = crate::swarm::new_world(seed, cfg, options.clone());
    world.route_rules = route_rules;
    world.clusters = topology.clusters();
    world.set_engine_setup(cfg.engine_setup.clone());
    if let Some(plan) = &operator {
        world.enable_operator(plan.system.clone());
    }
    world.start();
    let mut homes = Vec::new();
    for (i, spec) in wl.clients.iter().enumerate() {
        let rng = SimRng::new(seed, Purpose::Workload, 1 + i as u64);
        let home = cluster_rng.below(topology.nodes() as u64) as usize;
        homes.push(home);
        world.add_client_to(
            home,
            spec.clone(),
            rng,
            wl.links[i],
            Instant::ZERO + wl.start[i],
        );
    }
    let mut accounts = String::new();
    if let Some(plan) = operator.as_mut() {
        accounts = crate::operator::add_logins(
            &mut world,
            plan,
            seed,
            topology.nodes(),
            heard_pair(&wl.clients),
        );
    }
    let mut fault_rng = SimRng::new(seed, Purpose::Faults, 0);
    let plan = if cfg.no_faults {
        FaultPlan::default()
    } else {
        FaultPlan::draw(
            &mut fault_rng,
            wl.clients.len(),
            topology.nodes(),
            Instant::from_nanos(300_000_000),
            safety_end,
        )
    };
    for &(at, fault) in &plan.faults {
        world.schedule_fault(at, fault);
    }
    let homes: Vec<String> = homes.iter().map(usize::to_string).collect();
    let summary = format!(
        "topology={topology:?} homes=[{}]{accounts} clients={} safety={:.2}s max_pending={} \
         write_deadline={:?} ping={:?}x{} faults=[{}] planned={}",
        homes.join(","),
        wl.clients.len(),
        safety_end.as_nanos() as f64 / 1e9,
        options[0].max_pending,
        options[0].write_deadline,
        options[0].ping_interval,
        options[0].ping_max,
        plan.mix(),
        plan.faults.len()
    );
    (world, plan, safety_end, summary)
}

/// The world of a seed of leaf mode: a leaf topology drawn from its own
/// stream (with `--topology`, that one), the nodes of a ring started in a
/// drawn order, faults on the leaf links and routes as on routes, and
/// client faults as everywhere (no node crashes in a ring, and there the
/// faults start once the ring has formed and broken itself).
fn leaf_setup(seed: u64, cfg: &SwarmConfig) -> (World, FaultPlan, Instant, String) {
    let mut rng = SimRng::new(seed, Purpose::Topology, 2);
    let drawn = Topology::draw_leaf(&mut rng);
    let topology = cfg
        .topology
        .filter(|t| t.is_leaf())
        .unwrap_or(drawn)
        .draw_shape(&mut rng);
    let n = topology.nodes();
    let mut options: Vec<Options> = (0..n).map(|_| draw_options(&mut rng)).collect();
    let link_rules = draw_route_rules(&mut rng);
    leaf_options(topology, &mut options, &mut rng);
    let mut wl_rng = SimRng::new(seed, Purpose::Workload, 0);
    let wl = workload::draw(&mut wl_rng, 3, 6);
    let ring = topology == Topology::LeafTriangle;
    // A ring forms and breaks itself in its first second or so; its
    // faults start after that.
    let (fault_start, safety) = if ring {
        (Duration::from_millis(2500), (4, 8))
    } else {
        (Duration::from_millis(300), (2, 6))
    };
    let safety_end = Instant::ZERO
        + wl_rng.duration(Duration::from_secs(safety.0), Duration::from_secs(safety.1));

    let mut world = crate::swarm::new_world(seed, cfg, options.clone());
    world.route_rules = link_rules;
    world.clusters = topology.clusters();
    world.leaf_edges = topology.leaf_edges();
    world.leaf_ring = ring;
    world.set_engine_setup(cfg.engine_setup.clone());
    let mut order: Vec<usize> = (0..n).collect();
    if ring {
        // A drawn start order: the first node at once, the second soon
        // after, the third once the first two are linked.
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let second = rng.duration(Duration::ZERO, Duration::from_millis(300));
        let third = second + rng.duration(Duration::from_millis(400), Duration::from_millis(1200));
        world.start_later(order[1], Instant::ZERO + second);
        world.start_later(order[2], Instant::ZERO + third);
    }
    world.start();
    let mut homes: Vec<usize> = (0..wl.clients.len())
        .map(|_| rng.below(n as u64) as usize)
        .collect();
    // One subscriber that hears a publisher shares its home, so every run
    // has deliveries owed whatever the leaf links do (a ring may refuse
    // all three of its links, a spoke cluster's node 2 hears no hub).
    if let Some((sub, publisher)) = heard_pair(&wl.clients) {
        homes[sub] = homes[publisher];
    }
    // The clients a topology pins to its nodes, from a stream of their own.
    let mut pin_rng = SimRng::new(seed, Purpose::Workload, PINNED_STREAM);
    let pinned = pinned_clients(topology, &mut pin_rng);
    let clients = add_clients(&mut world, seed, &wl, &mut homes, pinned, &mut pin_rng);
    let mut fault_rng = SimRng::new(seed, Purpose::Faults, 0);
    let plan = if cfg.no_faults {
        FaultPlan::default()
    } else {
        FaultPlan::draw_leaf(
            &mut fault_rng,
            clients,
            n,
            &topology.links(),
            !ring,
            Instant::ZERO + fault_start,
            safety_end,
        )
    };
    for &(at, fault) in &plan.faults {
        world.schedule_fault(at, fault);
    }
    let homes: Vec<String> = homes.iter().map(usize::to_string).collect();
    let remotes: Vec<String> = options
        .iter()
        .enumerate()
        .flat_map(|(i, o)| {
            o.leaf.iter().flat_map(move |l| {
                l.remotes.iter().map(move |r| {
                    let mut text = format!(
                        "{i}->{}",
                        r.urls.first().map_or(String::new(), |u| u.host_port())
                    );
                    if r.hub {
                        text.push_str(" hub");
                    }
                    if !r.deny_exports.is_empty() {
                        text.push_str(&format!(" deny_exports={:?}", r.deny_exports));
                    }
                    if !r.deny_imports.is_empty() {
                        text.push_str(&format!(" deny_imports={:?}", r.deny_imports));
                    }
                    text
                })
            })
        })
        .collect();
    let started = if ring {
        format!(" start-order={order:?}")
    } else {
        String::new()
    };
    let summary = format!(
        "leaf topology={topology:?} remotes=[{}]{started} homes=[{}] clients={} safety={:.2}s \
         faults=[{}] planned={}",
        remotes.join("; "),
        homes.join(","),
        clients,
        safety_end.as_nanos() as f64 / 1e9,
        plan.mix(),
        plan.faults.len()
    );
    (world, plan, safety_end, summary)
}

/// Index of the workload stream the pinned clients' shapes are drawn from
/// (clients draw from streams `1 + i`).
const PINNED_STREAM: u64 = 1 << 20;

/// The queue group of the pinned clients.
const PINNED_GROUP: &str = "lg";

/// Adds the workload's clients (at `homes`) and the `pinned` ones (their
/// links and start times drawn from `pin_rng`, in order) to `world`, each
/// with its own stream; returns how many there are.
pub(crate) fn add_clients(
    world: &mut World,
    seed: u64,
    wl: &workload::Workload,
    homes: &mut Vec<usize>,
    pinned: Vec<(ClientSpec, usize)>,
    pin_rng: &mut SimRng,
) -> usize {
    let mut clients: Vec<(ClientSpec, LinkRules, Duration)> = wl
        .clients
        .iter()
        .enumerate()
        .map(|(i, spec)| (spec.clone(), wl.links[i], wl.start[i]))
        .collect();
    for (spec, home) in pinned {
        let rules = workload::draw_link(pin_rng);
        let start = pin_rng.duration(Duration::ZERO, Duration::from_millis(200));
        clients.push((spec, rules, start));
        homes.push(home);
    }
    for (i, (spec, rules, start)) in clients.iter().enumerate() {
        let client_rng = SimRng::new(seed, Purpose::Workload, 1 + i as u64);
        world.add_client_to(
            homes[i],
            spec.clone(),
            client_rng,
            *rules,
            Instant::ZERO + *start,
        );
    }
    clients.len()
}

/// The clients a leaf topology pins to its nodes, with their homes, so
/// that its paths carry traffic whatever the drawn workload does (none
/// churn, all hear themselves):
///
/// - hub cluster and redundant pair: a publisher on node 2; on node 3 and
///   on a hub node a plain subscriber that hears it and members of queue
///   group `lg` (two on node 3, one on the hub node; node 3 hears node 2
///   through the hub cluster, or over the pair's route);
/// - split leaf cluster: on a hub node, on node 2 and on node 3 a client
///   that publishes the subject and hears it plainly, the first two also
///   members of `lg` (each side's member serves its side; node 3's
///   messages reach node 2's member over the route, never the hub's).
fn pinned_clients(topology: Topology, rng: &mut SimRng) -> Vec<(ClientSpec, usize)> {
    let workload::PinnedTraffic {
        pattern,
        queue_pattern,
        publish,
    } = workload::pinned_traffic(rng, (60, 150));
    // `members`: subscriptions in `lg` (two on one client: the weight its
    // server announces changes as they come and go).
    let client = |name: &str, publishes: bool, plain: bool, members: usize| {
        let mut spec = ClientSpec::scripted(name);
        if plain {
            spec.subs.push(SubSpec {
                pattern: pattern.clone(),
                queue: None,
                respond: false,
            });
        }
        for _ in 0..members {
            spec.subs.push(SubSpec {
                pattern: queue_pattern.clone(),
                queue: Some(PINNED_GROUP.to_string()),
                respond: false,
            });
        }
        if publishes {
            spec.publish = Some(publish.clone());
        }
        spec
    };
    let hub = if topology.hub_cluster() {
        rng.below(2) as usize
    } else {
        0
    };
    match topology {
        Topology::LeafHubCluster { .. } | Topology::LeafRedundantPair { .. } => vec![
            (client("pin-pub2", true, false, 0), 2),
            (client("pin-sub3", false, true, 2), 3),
            (client("pin-subhub", false, true, 1), hub),
        ],
        Topology::LeafClusterSplit { .. } => vec![
            (client("pin-hub", true, true, 1), hub),
            (client("pin-2", true, true, 1), 2),
            (client("pin-3", true, true, 0), 3),
        ],
        Topology::Single
        | Topology::Cluster3
        | Topology::LeafHub(_)
        | Topology::LeafChain
        | Topology::LeafTriangle
        | Topology::LeafSpokeCluster
        | Topology::LeafDeny
        | Topology::Super(_) => Vec::new(),
    }
}

/// A (subscriber, publisher) pair of clients where a plain subscription
/// of the first, never churned, matches a subject the second publishes
/// (and echo lets it hear itself if it is the same client).
fn heard_pair(clients: &[crate::client_model::ClientSpec]) -> Option<(usize, usize)> {
    clients.iter().enumerate().find_map(|(c, client)| {
        if client.churn.is_some() {
            return None;
        }
        clients.iter().enumerate().find_map(|(p, publisher)| {
            let hears = (p != c || client.echo)
                && publisher.publish.as_ref().is_some_and(|spec| {
                    client.subs.iter().any(|s| {
                        s.queue.is_none()
                            && spec.subjects.iter().any(|x| {
                                canopy_core::subject::matches(s.pattern.as_bytes(), x.as_bytes())
                            })
                    })
                });
            hears.then_some((c, p))
        })
    })
}

/// Runs a set-up world: the safety phase with faults, healing, traffic
/// without faults, settling, and the checks at quiescence.
fn drive(
    seed: u64,
    mut world: World,
    plan: &FaultPlan,
    safety_end: Instant,
    summary: String,
) -> RunReport {
    let heal_publish = Duration::from_millis(1500);
    let settle = Duration::from_secs(1);
    world.run_until(safety_end);
    world.heal();
    // Healing: every client must be back, subscribed and confirmed within
    // the bound; then traffic runs fault-free for a while, stops, and
    // everything owed must arrive within the settle time.
    // In a cluster the route mesh must re-form and every route's interest
    // match the model within the same bound.
    let deadline = safety_end + HEAL_BOUND;
    while !world.failed() {
        let settled = world.all_settled()
            && world.mesh_complete()
            && world.route_interest_diffs().is_empty()
            && world.leaf_interest_diffs().is_empty()
            && world.gateways_converged();
        if settled {
            // Gateway mode: once it has stayed so, the end-to-end checks
            // start, with probes.
            let steady = |w: &World| {
                w.all_settled()
                    && w.mesh_complete()
                    && w.route_interest_diffs().is_empty()
                    && w.leaf_interest_diffs().is_empty()
                    && w.gateways_converged()
            };
            if !world.calm(deadline, steady) && !world.failed() {
                world.checker.violation(format!(
                    "not converged: the super-cluster's links did not stay up for {:?} within \
                     {HEAL_BOUND:?} after healing: {}",
                    crate::world::CALM_HOLD,
                    world.gateway_mesh_diffs().join("; ")
                ));
            }
            break;
        }
        if world.now() >= deadline {
            let mut why = world.route_interest_diffs();
            why.extend(world.leaf_interest_diffs());
            why.extend(world.gateway_mesh_diffs());
            why.extend(world.gateway_interest_diffs());
            why.truncate(3);
            world.checker.violation(format!(
                "not converged: {:?} after healing: clients settled {}, route mesh complete {}, \
                 {}",
                HEAL_BOUND,
                world.all_settled(),
                world.mesh_complete(),
                why.join("; ")
            ));
            break;
        }
        world.run_until(world.now() + Duration::from_millis(20));
    }
    world.run_until(world.now() + heal_publish);
    world.quiet();
    // Settling: everything in flight must drain, and every client be
    // connected and subscribed, within the bound.
    let deadline = world.now() + DRAIN_BOUND;
    world.run_until(world.now() + settle);
    loop {
        let quiescent = world.drained() && world.all_settled();
        if quiescent || world.failed() {
            break;
        }
        if world.now() >= deadline {
            world.checker.violation(format!(
                "not converged: traffic still in flight {DRAIN_BOUND:?} after activity stopped"
            ));
            break;
        }
        world.run_until(world.now() + Duration::from_millis(20));
    }
    if !world.failed() {
        world.convergence_check();
    }
    if !world.failed() {
        let checks = world.checker.stats;
        let owed = checks.owed_delivered + checks.queue_owed_delivered;
        if checks.deliveries < MIN_DELIVERIES || owed == 0 {
            world.checker.violation(format!(
                "run exercised nothing: {} deliveries, {owed} owed deliveries checked (minimum {} and 1)",
                checks.deliveries, MIN_DELIVERIES
            ));
        }
        if !plan.faults.is_empty() && world.stats.faults_fired == 0 {
            world.checker.violation(format!(
                "run exercised nothing: {} faults planned, none fired",
                plan.faults.len()
            ));
        }
    }
    let now = world.now();
    RunReport {
        seed,
        violations: world.checker.violations.clone(),
        trace_hash: world.trace.hash(),
        sim_time: now.saturating_since(Instant::ZERO),
        stats: world.stats,
        checks: world.checker.stats,
        summary,
        trace: world.trace.lines().cloned().collect(),
    }
}

/// Runs seeds `start..start + count`; returns the failing reports.
pub fn run_range(start: u64, count: u64, cfg: &SwarmConfig) -> Vec<RunReport> {
    (start..start + count)
        .map(|s| run_seed(s, cfg))
        .filter(|r| !r.passed())
        .collect()
}

/// The failures of a run of seeds as `cfg` ran them: each seed's summary,
/// its first violations and the command that replays it.
pub fn failure_report(failures: &[RunReport], cfg: &SwarmConfig) -> String {
    let mut text = String::new();
    for r in failures {
        text.push_str(&format!("seed {} failed: {}\n", r.seed, r.summary));
        for v in r.violations.iter().take(5) {
            text.push_str(&format!("  {v}\n"));
        }
        text.push_str(&format!("  replay: {}\n", replay_command_for(r.seed, cfg)));
    }
    text
}

/// The routes member `i` of a cluster seeded by member `first` dials: the
/// seed's route URL, none for the seed itself.
pub(crate) fn seed_routes(first: usize, i: usize) -> Vec<canopy_core::route::RouteAddr> {
    if i == first {
        return Vec::new();
    }
    let url = format!("nats-route://{}:{ROUTE_PORT}", route_host(first));
    canopy_core::route::RouteAddr::parse(&url)
        .into_iter()
        .collect()
}

/// Runs part `part` of `parts` equal parts of seeds `0..seeds` and panics
/// with the failures' report if any seed fails (the seed suites split
/// into parts so that a 2-core CI runs them side by side).
pub fn assert_part_passes(cfg: &SwarmConfig, seeds: u64, parts: u64, part: u64) {
    let per = seeds.div_ceil(parts);
    let start = part * per;
    let end = (start + per).min(seeds);
    let failures = run_range(start, end.saturating_sub(start), cfg);
    assert!(failures.is_empty(), "{}", failure_report(&failures, cfg));
}

/// Runs `seed` twice; the error names the two trace hashes if they differ.
pub fn check_determinism(seed: u64, cfg: &SwarmConfig) -> Result<u64, String> {
    let a = run_seed(seed, cfg);
    let b = run_seed(seed, cfg);
    if a.trace_hash != b.trace_hash || a.stats != b.stats {
        return Err(format!(
            "seed {seed} is not deterministic: trace hashes {:016x} and {:016x} ({} and {} events)",
            a.trace_hash, b.trace_hash, a.stats.events, b.stats.events
        ));
    }
    Ok(a.trace_hash)
}

/// The command that replays `seed`.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p canopy-sim --release -- --seed {seed}")
}

/// The command that replays `seed` as `cfg` runs it (leaf mode adds
/// `--leaf`, a forced topology `--topology`, a run without faults
/// `--no-faults`).
pub fn replay_command_for(seed: u64, cfg: &SwarmConfig) -> String {
    let mut command = if cfg.gateway {
        format!("cargo run -p canopy-sim --release -- --gateway --seed {seed}")
    } else if cfg.leaf {
        format!("cargo run -p canopy-sim --release -- --leaf --seed {seed}")
    } else {
        replay_command(seed)
    };
    if let Some(t) = cfg.topology {
        command.push_str(" --topology ");
        command.push_str(t.name());
    }
    if cfg.tls {
        command.push_str(" --tls");
    }
    if cfg.s2 {
        command.push_str(" --s2");
    }
    if cfg.ws {
        command.push_str(" --ws");
    }
    if cfg.operator {
        command.push_str(" --operator");
    }
    if cfg.no_faults {
        command.push_str(" --no-faults");
    }
    command
}
