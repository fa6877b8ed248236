//! Checker sensitivity: with each deliberate engine bug switched on (the
//! `mutations` feature of canopy-core, enabled for this crate's tests),
//! the swarm must find a failing seed within the budget; with none, the
//! same budget must pass. The budget mixes topologies (about half the
//! seeds are 3-node clusters), so the route mutations
//! (`Mutations::ROUTE_NAMES`) are caught by the same seeds. The leaf
//! mutations (`Mutations::LEAF_NAMES`) are caught in leaf mode, within
//! leaf seeds 0..LEAF_BUDGET (which `leaf.rs` runs green without
//! mutations, among its 300).

use canopy_core::Mutations;
use canopy_core::Server;
use canopy_sim::swarm::{self, SwarmConfig};
use std::sync::Arc;

/// Seeds 0..BUDGET.
const BUDGET: u64 = 200;

/// Leaf-mode seeds 0..LEAF_BUDGET.
const LEAF_BUDGET: u64 = 100;

fn config(m: Mutations) -> SwarmConfig {
    SwarmConfig {
        engine_setup: Some(Arc::new(move |s: &mut Server| s.set_mutations(m))),
        ..SwarmConfig::default()
    }
}

/// Runs seeds in order until one fails; panics if none does.
fn caught(name: &str) {
    caught_in(
        name,
        config(Mutations::by_name(name).expect("known mutation")),
        BUDGET,
    );
}

/// [`caught`], in leaf mode.
fn caught_leaf(name: &str) {
    let cfg = SwarmConfig {
        leaf: true,
        ..config(Mutations::by_name(name).expect("known mutation"))
    };
    caught_in(name, cfg, LEAF_BUDGET);
}

fn caught_in(name: &str, cfg: SwarmConfig, budget: u64) {
    for seed in 0..budget {
        let r = swarm::run_seed(seed, &cfg);
        if !r.passed() {
            println!(
                "mutation {name} caught by seed {seed}: {}",
                r.violations.first().map_or("", String::as_str)
            );
            return;
        }
    }
    panic!(
        "mutation {name} survived {budget} seeds{}",
        if cfg.leaf { " (leaf mode)" } else { "" }
    );
}

#[test]
fn every_mutation_has_a_test() {
    for name in Mutations::NAMES {
        assert!(Mutations::by_name(name).is_some());
    }
    assert_eq!(Mutations::NAMES.len(), 6);
    for name in Mutations::ROUTE_NAMES {
        assert!(Mutations::by_name(name).is_some());
    }
    assert_eq!(Mutations::ROUTE_NAMES.len(), 3);
    for name in Mutations::LEAF_NAMES {
        assert!(Mutations::by_name(name).is_some());
    }
    assert_eq!(Mutations::LEAF_NAMES.len(), 4);
}

#[test]
fn queue_two_members_is_caught() {
    caught("queue_two_members");
}

#[test]
fn plain_wildcard_twice_is_caught() {
    caught("plain_wildcard_twice");
}

#[test]
fn ignore_max_pending_is_caught() {
    caught("ignore_max_pending");
}

#[test]
fn drop_split_pub_is_caught() {
    caught("drop_split_pub");
}

#[test]
fn forget_unsub_is_caught() {
    caught("forget_unsub");
}

#[test]
fn ignore_echo_is_caught() {
    caught("ignore_echo");
}

#[test]
fn forget_rs_minus_is_caught() {
    caught("forget_rs_minus");
}

#[test]
fn forward_routed_to_routes_is_caught() {
    caught("forward_routed_to_routes");
}

#[test]
fn queue_local_and_remote_is_caught() {
    caught("queue_local_and_remote");
}

/// A spoke cluster: node 1 must not tell its hub what node 2's clients
/// want (caught by the leaf interest check after healing).
#[test]
fn leaf_spoke_relays_is_caught() {
    caught_leaf("leaf_spoke_relays");
}

/// `LS-` ignored: messages keep crossing a leaf link without interest.
#[test]
fn forget_ls_minus_is_caught() {
    caught_leaf("forget_ls_minus");
}

/// Messages on subjects a remote denies cross its link.
#[test]
fn ignore_deny_exports_is_caught() {
    caught_leaf("ignore_deny_exports");
}

/// A ring of remotes is not refused: messages go round it.
#[test]
fn skip_leaf_loop_check_is_caught() {
    caught_leaf("skip_leaf_loop_check");
}

fn clean(part: u64) {
    let per = BUDGET / 4;
    let cfg = config(Mutations::default());
    let failures = swarm::run_range(part * per, per, &cfg);
    let seeds: Vec<String> = failures
        .iter()
        .map(|r| format!("{}: {:?}", r.seed, r.violations.first()))
        .collect();
    assert!(failures.is_empty(), "clean engine failed: {seeds:?}");
}

#[test]
fn budget_is_green_without_mutations_1() {
    clean(0);
}

#[test]
fn budget_is_green_without_mutations_2() {
    clean(1);
}

#[test]
fn budget_is_green_without_mutations_3() {
    clean(2);
}

#[test]
fn budget_is_green_without_mutations_4() {
    clean(3);
}
