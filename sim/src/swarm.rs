//! Swarm runs: one seed draws a topology, server options, a workload and a
//! fault mix; the run has a safety phase with faults, then heals and must
//! converge within a bound.

use crate::checker::CheckStats;
use crate::faults::FaultPlan;
use crate::link::{DirRules, LinkRules};
use crate::rng::{Purpose, SimRng};
use crate::workload;
use crate::world::{route_host, EngineSetup, World, WorldStats, ROUTE_PORT};
use canopy_core::{Instant, Options};
use std::time::Duration;

/// The shape of the system under test. Leaf nodes and gateways would add
/// variants here.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One server; every client connects to it.
    Single,
    /// Three servers in a full mesh of routes: node 0 has no configured
    /// routes, nodes 1 and 2 each have one to node 0 and find each other
    /// by gossip. Each client's home is a random node.
    Cluster3,
}

impl Topology {
    /// Draws a topology: single server or 3-node cluster, half each.
    pub fn draw(rng: &mut SimRng) -> Topology {
        if rng.next_u64() & 1 == 0 {
            Topology::Single
        } else {
            Topology::Cluster3
        }
    }

    /// Number of engines.
    pub fn nodes(self) -> usize {
        match self {
            Topology::Single => 1,
            Topology::Cluster3 => 3,
        }
    }

    /// The clusters: groups of nodes that must end fully meshed by routes.
    /// A super-cluster (gateways) lists one group per cluster; a leaf
    /// topology adds nodes in groups of their own.
    pub fn clusters(self) -> Vec<Vec<usize>> {
        match self {
            Topology::Single => vec![vec![0]],
            Topology::Cluster3 => vec![vec![0, 1, 2]],
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

/// Runs one seed.
pub fn run_seed(seed: u64, cfg: &SwarmConfig) -> RunReport {
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
    let heal_publish = Duration::from_millis(1500);
    let settle = Duration::from_secs(1);

    let mut world = World::new(seed, options.clone(), cfg.ring);
    world.route_rules = route_rules;
    world.clusters = topology.clusters();
    world.set_engine_setup(cfg.engine_setup.clone());
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
        "topology={topology:?} homes=[{}] clients={} safety={:.2}s max_pending={} write_deadline={:?} \
         ping={:?}x{} faults=[{}] planned={}",
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

    world.run_until(safety_end);
    world.heal();
    // Healing: every client must be back, subscribed and confirmed within
    // the bound; then traffic runs fault-free for a while, stops, and
    // everything owed must arrive within the settle time.
    // In a cluster the route mesh must re-form and every route's interest
    // match the model within the same bound.
    let deadline = safety_end + HEAL_BOUND;
    while !world.failed() {
        let settled =
            world.all_settled() && world.mesh_complete() && world.route_interest_diffs().is_empty();
        if settled {
            break;
        }
        if world.now() >= deadline {
            let mut why = world.route_interest_diffs();
            why.truncate(2);
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
