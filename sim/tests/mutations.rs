//! Checker sensitivity: with each deliberate engine bug switched on (the
//! `mutations` feature of canopy-core, enabled for this crate's tests),
//! the swarm must find a failing seed within the budget; with none, the
//! same budget must pass. The budget mixes topologies (about half the
//! seeds are 3-node clusters), so the route mutations
//! (`Mutations::ROUTE_NAMES`) are caught by the same seeds. The leaf
//! mutations (`Mutations::LEAF_NAMES`) are caught in leaf mode, within
//! leaf seeds 0..LEAF_BUDGET (which `leaf.rs` runs green without
//! mutations, among its 300); a leaf seed counts only if it passes
//! without the mutation, so that an engine bug a leaf topology finds
//! cannot stand in for the mutation. The hub-cluster and split-leaf-
//! cluster topologies, forced, catch a route mutation and a leaf one.
//! The gateway mutations (`Mutations::GATEWAY_NAMES`) are caught in
//! gateway mode, within gateway seeds 0..GATEWAY_BUDGET (which
//! `gateway.rs` runs green without mutations, among its 300), by a seed
//! that passes without the mutation. The TLS mutations
//! (`Mutations::TLS_NAMES`) are caught in TLS worlds (`--tls`), within
//! TLS seeds 0..TLS_BUDGET (which `tls.rs` runs green without mutations),
//! by the plaintext-on-TLS checker, in a default-mode and a leaf-mode
//! world. The link-layer mutations (`Mutations::LINK_NAMES`) are caught by
//! the link observer (`canopy_sim::link_wire`) in leaf mode, whose links
//! negotiate S2 by default, and over WebSocket (`--ws`), within a few
//! seeds that pass without them. The operator mutation
//! (`Mutations::OPERATOR_NAMES`) is caught by the rogue logins of
//! `--operator` worlds within a few seeds that pass without it.

use canopy_core::Mutations;
use canopy_core::Server;
use canopy_sim::swarm::{self, SwarmConfig, Topology};
use std::sync::Arc;

/// Seeds 0..BUDGET.
const BUDGET: u64 = 200;

/// Leaf-mode seeds 0..LEAF_BUDGET.
const LEAF_BUDGET: u64 = 100;

/// Gateway-mode seeds 0..GATEWAY_BUDGET.
const GATEWAY_BUDGET: u64 = 50;

/// TLS seeds 0..TLS_BUDGET.
const TLS_BUDGET: u64 = 5;

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

/// [`caught`], in leaf mode (with `topology` forced, if given), by a seed
/// that passes without the mutation.
fn caught_leaf_in(name: &str, topology: Option<&str>, budget: u64) {
    let cfg = SwarmConfig {
        leaf: true,
        topology: topology.map(|t| Topology::parse(t).expect("known topology")),
        ..config(Mutations::by_name(name).expect("known mutation"))
    };
    caught_in(name, cfg, budget);
}

/// [`caught_leaf_in`], the topologies drawn.
fn caught_leaf(name: &str) {
    caught_leaf_in(name, None, LEAF_BUDGET);
}

/// [`caught`], in gateway mode, by a seed that passes without the
/// mutation.
fn caught_gateway(name: &str) {
    let cfg = SwarmConfig {
        gateway: true,
        ..config(Mutations::by_name(name).expect("known mutation"))
    };
    caught_in(name, cfg, GATEWAY_BUDGET);
}

/// Runs seeds in order until one fails (in leaf mode: and passes without
/// the mutation); panics if none does.
fn caught_in(name: &str, cfg: SwarmConfig, budget: u64) {
    let clean = SwarmConfig {
        engine_setup: None,
        ..cfg.clone()
    };
    for seed in 0..budget {
        let r = swarm::run_seed(seed, &cfg);
        let needs_clean = cfg.leaf || cfg.gateway || cfg.tls;
        if !r.passed() && (!needs_clean || swarm::run_seed(seed, &clean).passed()) {
            let replay = swarm::replay_command_for(seed, &cfg).replacen(
                "--release --",
                "--release --features mutations --",
                1,
            );
            println!(
                "mutation {name} caught by seed {seed} ({replay} --mutation {name}): {}",
                r.violations.first().map_or("", String::as_str)
            );
            return;
        }
    }
    let mode = if cfg.tls {
        " (TLS world)"
    } else if cfg.leaf {
        " (leaf mode)"
    } else if cfg.gateway {
        " (gateway mode)"
    } else {
        ""
    };
    panic!("mutation {name} survived {budget} seeds{mode}");
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
    for name in Mutations::GATEWAY_NAMES {
        assert!(Mutations::by_name(name).is_some());
    }
    assert_eq!(Mutations::GATEWAY_NAMES.len(), 3);
    for name in Mutations::TLS_NAMES {
        assert!(Mutations::by_name(name).is_some());
    }
    assert_eq!(Mutations::TLS_NAMES.len(), 1);
    for name in Mutations::LINK_NAMES {
        assert!(Mutations::by_name(name).is_some());
    }
    assert_eq!(Mutations::LINK_NAMES.len(), 1);
    for name in Mutations::OPERATOR_NAMES {
        assert!(Mutations::by_name(name).is_some());
    }
    assert_eq!(Mutations::OPERATOR_NAMES.len(), 1);
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

/// A split leaf cluster: node 2 must not tell its hub what node 3's
/// clients want (spokes do not relay; caught by the leaf interest check
/// after healing).
#[test]
fn leaf_spoke_relays_is_caught_by_a_split_leaf_cluster() {
    caught_leaf_in("leaf_spoke_relays", Some("leaf-cluster-split"), 20);
}

/// A hub cluster: a hub node whose own member took a queue message must
/// not send it to the other hub node for the same group too (caught as a
/// second delivery to one queue group).
#[test]
fn queue_local_and_remote_is_caught_by_a_hub_cluster() {
    caught_leaf_in("queue_local_and_remote", Some("hub-cluster"), 20);
}

/// A request whose reply subscription is younger than two seconds crosses
/// a gateway with its reply unmapped (caught by the `_GR_.` check on the
/// gateway wire).
#[test]
fn skip_gateway_reply_map_is_caught() {
    caught_gateway("skip_gateway_reply_map");
}

/// A queue group is named to every cluster with a member (caught as a
/// second delivery to one queue group, super-cluster wide).
#[test]
fn gateway_queue_everywhere_is_caught() {
    caught_gateway("gateway_queue_everywhere");
}

/// A message from a gateway is passed to another gateway (caught by the
/// hop rule: the gateway row of the matrix lets only `_GR_.` replies on;
/// the checker's unit test `gateway_messages_go_one_hop_with_interest_
/// and_outbound_only` shows it).
#[test]
fn gateway_multi_hop_is_caught() {
    caught_gateway("gateway_multi_hop");
}

/// [`caught`], in TLS worlds (leaf mode too with `leaf`), by a seed that
/// passes without the mutation.
fn caught_tls(name: &str, leaf: bool) {
    let cfg = SwarmConfig {
        tls: true,
        leaf,
        ..config(Mutations::by_name(name).expect("known mutation"))
    };
    caught_in(name, cfg, TLS_BUDGET);
}

/// The client port sends its INFO and never starts TLS: a TLS client's
/// ClientHello gets a plaintext `-ERR`, a TLS-first client a plaintext
/// INFO (caught by the plaintext-on-TLS checker).
#[test]
fn tls_plaintext_after_info_is_caught() {
    caught_tls("tls_plaintext_after_info", false);
}

/// The same in leaf topologies over TLS.
#[test]
fn tls_plaintext_after_info_is_caught_in_leaf_mode() {
    caught_tls("tls_plaintext_after_info", true);
}

/// Link-mode seeds 0..LINK_BUDGET.
const LINK_BUDGET: u64 = 5;

/// The accepting side of a compressing link sends the first byte of its
/// compressed INFO plain: a byte that starts no op and no S2 stream where
/// the acceptor must have switched (leaf links negotiate `s2_auto` by
/// default, so every accepted leaf link compresses).
#[test]
fn s2_switch_late_is_caught_in_leaf_mode() {
    caught_leaf_in("s2_switch_late", None, LINK_BUDGET);
}

/// The same with compression drawn (`--s2`) and leaf links over
/// WebSocket (`--ws`), where the stray byte is a frame of its own and S2
/// then starts in the middle of the INFO.
#[test]
fn s2_switch_late_is_caught_with_drawn_modes_over_websocket() {
    let cfg = SwarmConfig {
        leaf: true,
        s2: true,
        ws: true,
        ..config(Mutations::by_name("s2_switch_late").expect("known mutation"))
    };
    caught_in("s2_switch_late", cfg, LINK_BUDGET);
}

/// Operator-mode seeds 0..OPERATOR_BUDGET.
const OPERATOR_BUDGET: u64 = 5;

/// A user JWT is accepted whatever the nonce's signature: a rogue client
/// that signs something else is admitted (its PONG, or a message on its
/// `>`), within a few operator seeds that pass without the mutation.
#[test]
fn jwt_unsigned_accepted_is_caught_in_operator_worlds() {
    let cfg = SwarmConfig {
        operator: true,
        ..config(Mutations::by_name("jwt_unsigned_accepted").expect("known mutation"))
    };
    let clean = SwarmConfig {
        engine_setup: None,
        ..cfg.clone()
    };
    for seed in 0..OPERATOR_BUDGET {
        assert!(
            swarm::run_seed(seed, &clean).passed(),
            "operator seed {seed} fails without mutations"
        );
    }
    caught_in("jwt_unsigned_accepted", cfg, OPERATOR_BUDGET);
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
