//! Links with layers below the protocol in CI: S2 compression on routes
//! and leaf links (`--s2`: each side's mode drawn per seed; without it the
//! engine's defaults, leaf links `s2_auto`, which `leaf.rs` runs) and leaf
//! links over WebSocket (`--ws`, with `--tls` wss). The world reads every
//! link through `canopy_sim::link_wire`: the upgrade, the frames, S2 from
//! the exact byte each side switches it on, and the modes each side names
//! checked against nats-server's selection table; every other checker
//! runs as in the plain modes. The layered links get faults of their own
//! (their first bytes read one at a time, resets within them) besides the
//! seed's.
//!
//! Seed counts keep this file near a minute of CI (debug, two cores). Release
//! runs of 500 seeds of each mode pass (`cargo run -p canopy-sim --release
//! -- --leaf --s2 --seeds 500`, and `--leaf --ws`, `--leaf --ws --tls`,
//! `--leaf --ws --s2`, `--s2`, `--gateway --s2`). The mutation that sends
//! the first compressed byte plain is in `mutations.rs`.

use canopy_sim::swarm::{self, SwarmConfig};

fn cfg(leaf: bool, s2: bool, ws: bool, tls: bool) -> SwarmConfig {
    SwarmConfig {
        leaf,
        s2,
        ws,
        tls,
        ..SwarmConfig::default()
    }
}

#[test]
fn leaf_s2_part_1() {
    swarm::assert_part_passes(&cfg(true, true, false, false), 40, 2, 0);
}

#[test]
fn leaf_s2_part_2() {
    swarm::assert_part_passes(&cfg(true, true, false, false), 40, 2, 1);
}

#[test]
fn leaf_ws() {
    swarm::assert_part_passes(&cfg(true, false, true, false), 30, 1, 0);
}

#[test]
fn leaf_ws_s2() {
    swarm::assert_part_passes(&cfg(true, true, true, false), 20, 1, 0);
}

#[test]
fn leaf_wss() {
    swarm::assert_part_passes(&cfg(true, false, true, true), 12, 1, 0);
}

#[test]
fn cluster_s2() {
    swarm::assert_part_passes(&cfg(false, true, false, false), 40, 1, 0);
}

/// The observer really reads the layers: S2 comes on in some link
/// directions of every layered mode, and leaf links upgrade to
/// WebSocket in `--ws`.
#[test]
fn layers_are_read() {
    for (c, ws) in [
        (cfg(true, false, false, false), false),
        (cfg(true, true, false, false), false),
        (cfg(true, false, true, false), true),
        (cfg(false, true, false, false), false),
    ] {
        let (mut s2_dirs, mut ws_links) = (0, 0);
        for seed in 0..4 {
            let r = swarm::run_seed(seed, &c);
            assert!(r.passed(), "{}", swarm::failure_report(&[r], &c));
            s2_dirs += r.stats.s2_directions;
            ws_links += r.stats.ws_links;
        }
        let mode = swarm::replay_command_for(0, &c);
        assert!(s2_dirs > 0, "no link direction compressed in {mode}");
        assert_eq!(ws_links > 0, ws, "{ws_links} WebSocket links in {mode}");
    }
}

/// A layered seed replays exactly, and its compression draws leave the
/// rest of the seed alone: the plain twin draws the same topology.
#[test]
fn layered_runs_are_deterministic() {
    for c in [
        cfg(true, true, false, false),
        cfg(true, false, true, false),
        cfg(false, true, false, false),
    ] {
        for seed in [3, 4] {
            if let Err(e) = swarm::check_determinism(seed, &c) {
                panic!("{e}\n  replay: {}", swarm::replay_command_for(seed, &c));
            }
            let plain = SwarmConfig {
                s2: false,
                ws: false,
                ..c.clone()
            };
            let (a, b) = (swarm::run_seed(seed, &c), swarm::run_seed(seed, &plain));
            let topology = |s: &str| s.split(" links[").next().unwrap_or_default().to_string();
            assert_eq!(topology(&a.summary), topology(&b.summary));
        }
    }
}
