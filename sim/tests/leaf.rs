//! Leaf-node topologies in CI (leaf mode, `SwarmConfig::leaf`): 300 seeds
//! with faults, split so the test threads share them. Each seed draws a hub
//! with two or three spokes, a daisy chain, a ring of remotes, a spoke
//! cluster, spokes with deny rules, a hub cluster with two spokes, a
//! redundant leaf pair or a split leaf cluster, from a stream the default
//! mode never reads, so the behaviour fixture of `swarm.rs` is untouched. A failure
//! names the seed and the command that replays it
//! (`cargo run -p canopy-sim --release -- --leaf --seed N`).
//!
//! These seeds also keep the leaf mutation tests' budget (leaf seeds
//! 0..100, `mutations.rs`) green without mutations.

use canopy_sim::swarm::{self, SwarmConfig, Topology};
use std::collections::BTreeMap;

const SEEDS: u64 = 300;
const PARTS: u64 = 4;

fn leaf() -> SwarmConfig {
    SwarmConfig {
        leaf: true,
        ..SwarmConfig::default()
    }
}

fn run_part(part: u64) {
    swarm::assert_part_passes(&leaf(), SEEDS, PARTS, part);
}

#[test]
fn leaf_swarm_part_1() {
    run_part(0);
}

#[test]
fn leaf_swarm_part_2() {
    run_part(1);
}

#[test]
fn leaf_swarm_part_3() {
    run_part(2);
}

#[test]
fn leaf_swarm_part_4() {
    run_part(3);
}

#[test]
fn leaf_runs_are_deterministic() {
    let cfg = leaf();
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

/// Every leaf topology, forced (in the shapes its seeds draw), without
/// faults: it passes, and messages cross its leaf links (except in the
/// ring, which may refuse all three of its links); in a hub cluster,
/// spokes' messages cross its route as `LMSG` with their origin.
#[test]
fn every_leaf_topology_carries_messages() {
    let mut crossed: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for name in [
        "hub2",
        "hub3",
        "chain",
        "triangle",
        "spoke-cluster",
        "deny",
        "hub-cluster",
        "redundant-pair",
        "leaf-cluster-split",
    ] {
        let cfg = SwarmConfig {
            leaf: true,
            no_faults: true,
            topology: Topology::parse(name),
            ..SwarmConfig::default()
        };
        for seed in 0..3 {
            let r = swarm::run_seed(seed, &cfg);
            assert!(r.passed(), "{}", swarm::failure_report(&[r], &cfg));
            assert_eq!(r.stats.faults_fired, 0);
            let n = crossed.entry(name).or_default();
            n.0 += r.checks.routed;
            n.1 += r.checks.leaf_origin_routed;
        }
    }
    for (topology, (n, with_origin)) in &crossed {
        if *topology != "triangle" {
            assert!(
                *n > 0,
                "no message crossed a link in {topology}: {crossed:?}"
            );
        }
        if *topology == "hub-cluster" {
            assert!(
                *with_origin > 0,
                "no LMSG with its origin crossed the hub cluster's route: {crossed:?}"
            );
        }
    }
}
