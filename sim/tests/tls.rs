//! TLS worlds in CI (`SwarmConfig::tls`, `--tls`): every engine speaks TLS
//! on its client port, routes, leaf links and gateways with Ed25519
//! certificates drawn from the seed; the simulated clients speak TLS; the
//! world reads what engines send each other through shadows of their TLS;
//! TLS faults (handshakes read a byte at a time, resets mid-handshake,
//! stalled handshakes that the engine must close as `TLS Handshake
//! Failure`, probes that get TLS first wrong) join the seed's; and no
//! engine may write anything but TLS records after the switch. Every
//! other checker runs as in the plaintext modes.
//!
//! Seed counts keep each test under about 15 s in debug on one core: 60
//! default-mode seeds (single server or 3-node cluster) in three parts,
//! 30 leaf-mode seeds in two, 6 gateway-mode seeds. Release runs of 600
//! seeds of each mode pass (`cargo run -p canopy-sim --release -- --tls
//! --seeds 600`, with `--leaf` or `--gateway`). The determinism checks
//! run two seeds of each mode twice; the mutation that switches TLS off
//! on the client port is in `mutations.rs`.

use canopy_sim::swarm::{self, SwarmConfig};

fn tls(leaf: bool, gateway: bool) -> SwarmConfig {
    SwarmConfig {
        tls: true,
        leaf,
        gateway,
        ..SwarmConfig::default()
    }
}

#[test]
fn tls_swarm_part_1() {
    swarm::assert_part_passes(&tls(false, false), 60, 3, 0);
}

#[test]
fn tls_swarm_part_2() {
    swarm::assert_part_passes(&tls(false, false), 60, 3, 1);
}

#[test]
fn tls_swarm_part_3() {
    swarm::assert_part_passes(&tls(false, false), 60, 3, 2);
}

#[test]
fn tls_leaf_part_1() {
    swarm::assert_part_passes(&tls(true, false), 30, 2, 0);
}

#[test]
fn tls_leaf_part_2() {
    swarm::assert_part_passes(&tls(true, false), 30, 2, 1);
}

#[test]
fn tls_gateway() {
    swarm::assert_part_passes(&tls(false, true), 6, 1, 0);
}

/// The same TLS seed twice gives the same trace (every random byte of
/// every handshake, the engines' and the clients', comes from the seed),
/// in each mode; and a TLS world's trace is not its plaintext twin's.
#[test]
fn tls_runs_are_deterministic() {
    for cfg in [tls(false, false), tls(true, false), tls(false, true)] {
        for seed in [1, 2] {
            let hash = match swarm::check_determinism(seed, &cfg) {
                Ok(hash) => hash,
                Err(e) => panic!("{e}\n  replay: {}", swarm::replay_command_for(seed, &cfg)),
            };
            let plain = SwarmConfig {
                tls: false,
                ..cfg.clone()
            };
            let r = swarm::run_seed(seed, &plain);
            assert_ne!(
                r.trace_hash, hash,
                "seed {seed}: the TLS world's trace equals the plaintext world's"
            );
        }
    }
}

/// The bytes on a TLS world's links are TLS records, not NATS: the
/// replayed trace of a TLS seed shows record headers where a plaintext
/// seed shows protocol lines.
#[test]
fn tls_worlds_put_records_on_the_wire() {
    let cfg = SwarmConfig {
        ring: 5000,
        no_faults: true,
        ..tls(false, false)
    };
    let r = swarm::run_seed(3, &cfg);
    assert!(
        r.passed(),
        "{}",
        swarm::failure_report(std::slice::from_ref(&r), &cfg)
    );
    let arrivals: Vec<&String> = r
        .trace
        .iter()
        .filter(|l| l.contains("arrive") && l.contains(" B \""))
        .collect();
    assert!(!arrivals.is_empty());
    for line in arrivals {
        for verb in ["\"PUB ", "\"MSG ", "\"RMSG ", "\"SUB "] {
            assert!(!line.contains(verb), "plaintext on a TLS link: {line}");
        }
    }
}
