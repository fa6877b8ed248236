//! The seeded swarm in CI: 500 seeds with faults (split so the test
//! threads share them; each seed draws single server or 3-node cluster,
//! about half each) and the determinism check on 20 seeds. A failure
//! names the seed and the command that replays it.
//!
//! The same 500 seeds are the behaviour fixture: their trace hashes are
//! committed in `fixtures/trace_hashes.txt`, so a change that alters what
//! any engine does on the wire (or when) shows up here. A commit that
//! changes a hash on purpose says which observable behaviour changed and
//! why, and regenerates the file in the same commit:
//!
//! ```text
//! cargo run -p canopy-sim --release -- --start 200 --seeds 500 --hashes \
//!     | grep -v seeds > sim/tests/fixtures/trace_hashes.txt
//! ```

use canopy_sim::swarm::{self, RunReport, SwarmConfig};

/// Seeds 200..700: the mutation tests use 0..200 as their budget.
const FIRST: u64 = 200;
const PER_TEST: u64 = 125;

fn report(failures: &[RunReport]) -> String {
    let mut text = String::new();
    for r in failures {
        text.push_str(&format!("seed {} failed: {}\n", r.seed, r.summary));
        for v in r.violations.iter().take(5) {
            text.push_str(&format!("  {v}\n"));
        }
        text.push_str(&format!("  replay: {}\n", swarm::replay_command(r.seed)));
    }
    text
}

/// The committed trace hash of `seed`, if the fixture has it.
fn fixture_hash(seed: u64) -> Option<u64> {
    include_str!("fixtures/trace_hashes.txt")
        .lines()
        .filter_map(|line| {
            let (s, h) = line.split_once(' ')?;
            Some((s.parse::<u64>().ok()?, u64::from_str_radix(h, 16).ok()?))
        })
        .find(|&(s, _)| s == seed)
        .map(|(_, h)| h)
}

fn run_part(part: u64) {
    let start = FIRST + part * PER_TEST;
    let cfg = SwarmConfig::default();
    let reports: Vec<RunReport> = (start..start + PER_TEST)
        .map(|seed| swarm::run_seed(seed, &cfg))
        .collect();
    let failures: Vec<RunReport> = reports.iter().filter(|r| !r.passed()).cloned().collect();
    assert!(failures.is_empty(), "{}", report(&failures));
    let changed: Vec<String> = reports
        .iter()
        .filter_map(|r| match fixture_hash(r.seed) {
            Some(h) if h == r.trace_hash => None,
            Some(h) => Some(format!(
                "seed {}: trace hash {:016x}, fixture {h:016x}",
                r.seed, r.trace_hash
            )),
            None => Some(format!("seed {}: not in the fixture", r.seed)),
        })
        .collect();
    assert!(
        changed.is_empty(),
        "behaviour changed on {} of {} seeds (see this file's header):\n{}",
        changed.len(),
        reports.len(),
        changed.join("\n")
    );
}

#[test]
fn swarm_part_1() {
    run_part(0);
}

#[test]
fn swarm_part_2() {
    run_part(1);
}

#[test]
fn swarm_part_3() {
    run_part(2);
}

#[test]
fn swarm_part_4() {
    run_part(3);
}

#[test]
fn runs_are_deterministic() {
    let cfg = SwarmConfig::default();
    let mut hashes = Vec::new();
    for seed in 0..20 {
        match swarm::check_determinism(seed, &cfg) {
            Ok(hash) => hashes.push(hash),
            Err(e) => panic!("{e}\n  replay: {}", swarm::replay_command(seed)),
        }
    }
    // The hash covers the run: different seeds, different traces.
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 20, "distinct seeds gave equal trace hashes");
}

#[test]
fn a_run_without_faults_fires_none_and_passes() {
    let cfg = SwarmConfig {
        no_faults: true,
        ..SwarmConfig::default()
    };
    for seed in 0..10 {
        let r = swarm::run_seed(seed, &cfg);
        assert!(r.passed(), "{}", report(&[r]));
        assert_eq!(r.stats.faults_fired, 0);
    }
}

/// Seeds that once failed, replayed on every run (each names what it
/// found; sweeps of seeds 6000..66000 in release found them).
#[test]
fn regression_seeds() {
    let cfg = SwarmConfig::default();
    // 94: an echo=false publisher, the only local queue member, blocked
    // routing. 11605: a gossip-learned member was given up after a dial
    // outage. 20153: two members restarted and nobody introduced them.
    // 57081: INFOs about routes coming and going piled up past
    // max_pending at a slow reader.
    let failures: Vec<RunReport> = [94, 11605, 20153, 57081]
        .into_iter()
        .map(|seed| swarm::run_seed(seed, &cfg))
        .filter(|r| !r.passed())
        .collect();
    assert!(failures.is_empty(), "{}", report(&failures));
}
