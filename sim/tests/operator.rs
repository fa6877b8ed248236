//! Operator worlds in CI (`SwarmConfig::operator`, `--operator`): every
//! node trusts one operator drawn from the seed, with a system account
//! and two or three accounts preloaded in a memory resolver; clients log
//! in with user JWTs of those accounts (signing the INFO's nonce), their
//! subjects isolated by account; rogue clients' logins (a wrong nonce
//! signature, an expired user JWT, a user of an account another operator
//! signed) must be refused with `-ERR 'Authorization Violation'` and a
//! close, never a PONG or a message. Every other checker runs as in the
//! default mode.
//!
//! 60 seeds in two parts and the determinism check of two seeds: the file
//! runs in about 25 s in debug; release runs of 1300 seeds pass
//! (`cargo run -p canopy-sim --release -- --operator --seeds 1300`). The
//! mutation that skips the nonce's signature is in `mutations.rs`.

use canopy_sim::swarm::{self, SwarmConfig};

fn operator() -> SwarmConfig {
    SwarmConfig {
        operator: true,
        ..SwarmConfig::default()
    }
}

#[test]
fn operator_swarm_part_1() {
    swarm::assert_part_passes(&operator(), 60, 2, 0);
}

#[test]
fn operator_swarm_part_2() {
    swarm::assert_part_passes(&operator(), 60, 2, 1);
}

/// Rogue logins happen and are refused.
#[test]
fn rogue_logins_are_refused() {
    let r = swarm::run_seed(3, &operator());
    assert!(r.passed(), "{:?}", r.violations);
    assert!(r.stats.rogue_refusals > 0, "{}", r.summary);
}

#[test]
fn operator_worlds_replay_exactly() {
    for seed in [4, 11] {
        swarm::check_determinism(seed, &operator()).unwrap();
    }
}
