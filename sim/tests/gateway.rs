//! Super-cluster topologies in CI (gateway mode, `SwarmConfig::gateway`):
//! 300 seeds with faults, split so the test threads share them. Each seed
//! draws three clusters of one to three nodes joined by gateways, as a
//! full mesh, a partial configuration that relies on gossip (with the
//! implicit-gateway race), with leaf nodes on both sides, or behind a
//! leaf daisy chain (users-voice 6), from a stream no other mode reads, so
//! the behaviour fixture of `swarm.rs` and the leaf seeds are untouched.
//! A failure names the seed and the command that replays it
//! (`cargo run -p canopy-sim --release -- --gateway --seed N`).
//!
//! These seeds also keep the gateway mutation tests' budget (gateway
//! seeds 0..GATEWAY_BUDGET, `mutations.rs`) green without mutations.

use canopy_core::{Instant, Options};
use canopy_sim::rng::{Purpose, SimRng};
use canopy_sim::supercluster::{super_options, SuperLeafs, SuperShape};
use canopy_sim::swarm::{self, SwarmConfig, Topology};
use canopy_sim::world::World;
use std::collections::BTreeMap;
use std::time::Duration;

const SEEDS: u64 = 300;
const PARTS: u64 = 4;

fn gateway() -> SwarmConfig {
    SwarmConfig {
        gateway: true,
        ..SwarmConfig::default()
    }
}

fn run_part(part: u64) {
    swarm::assert_part_passes(&gateway(), SEEDS, PARTS, part);
}

#[test]
fn gateway_swarm_part_1() {
    run_part(0);
}

#[test]
fn gateway_swarm_part_2() {
    run_part(1);
}

#[test]
fn gateway_swarm_part_3() {
    run_part(2);
}

#[test]
fn gateway_swarm_part_4() {
    run_part(3);
}

#[test]
fn gateway_runs_are_deterministic() {
    let cfg = gateway();
    let mut hashes = Vec::new();
    for seed in 0..8 {
        match swarm::check_determinism(seed, &cfg) {
            Ok(hash) => hashes.push(hash),
            Err(e) => panic!("{e}\n  replay: {}", swarm::replay_command_for(seed, &cfg)),
        }
    }
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 8, "distinct seeds gave equal trace hashes");
}

/// What a topology's runs verified, summed over its seeds.
#[derive(Debug, Default)]
struct Crossed {
    gateway: u64,
    mapped: u64,
    home: u64,
    calm: u64,
    calm_queues: u64,
    calm_replies: u64,
}

/// Every super-cluster topology, forced (in the shapes its seeds draw),
/// without faults: it passes, messages and mapped requests cross its
/// gateways and mapped replies come home, and after convergence the
/// probes and the traffic reach every subscriber, every queue group and
/// every requester end to end.
#[test]
fn every_gateway_topology_carries_messages_across_gateways() {
    let mut crossed: BTreeMap<&str, Crossed> = BTreeMap::new();
    for name in SuperShape::NAMES {
        let cfg = SwarmConfig {
            gateway: true,
            no_faults: true,
            topology: Topology::parse(name),
            ..SwarmConfig::default()
        };
        for seed in 0..3 {
            let r = swarm::run_seed(seed, &cfg);
            assert!(r.passed(), "{}", swarm::failure_report(&[r], &cfg));
            assert_eq!(r.stats.faults_fired, 0);
            assert!(r.summary.contains(name), "{name}: {}", r.summary);
            let c = &r.checks;
            let n = crossed.entry(name).or_default();
            n.gateway += c.gateway_routed;
            n.mapped += c.gateway_replies_mapped;
            n.home += c.gateway_replies_home;
            n.calm += c.calm_delivered;
            n.calm_queues += c.calm_queue_served;
            n.calm_replies += c.calm_replies;
        }
    }
    for (topology, n) in &crossed {
        let all = [
            n.gateway,
            n.mapped,
            n.home,
            n.calm,
            n.calm_queues,
            n.calm_replies,
        ];
        assert!(
            all.iter().all(|&x| x > 0),
            "{topology} left a gateway path unexercised: {crossed:?}"
        );
    }
}

/// A leaf hub that is a one-node gateway cluster (no `cluster {}` block)
/// names its gateway as its cluster on its leaf links, as nats-server does
/// (its cluster name defaults to the gateway name, and `init_gateways`
/// says so too).
#[test]
fn a_one_node_gateway_hub_announces_its_gateway_name_to_leafs() {
    let shape = SuperShape {
        sizes: [1, 1, 1],
        partial: None,
        leafs: SuperLeafs::Chain,
    };
    let mut options: Vec<Options> = (0..shape.nodes())
        .map(|_| Options {
            port: 4222,
            ..Options::default()
        })
        .collect();
    super_options(
        shape,
        &mut options,
        &mut SimRng::new(1, Purpose::Topology, 3),
    );
    let topology = Topology::Super(shape);
    let mut world = World::new(1, options, 50);
    world.clusters = topology.clusters();
    world.leaf_edges = topology.leaf_edges();
    world.set_gateways(shape.gateway_clusters());
    world.start();
    world.run_until(Instant::ZERO + Duration::from_secs(3));
    assert!(!world.failed(), "{:?}", world.checker.violations.first());
    assert!(
        world.gateway_mesh_complete(),
        "{:?}",
        world.gateway_mesh_diffs()
    );
}
