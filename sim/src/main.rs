//! The simulator's command line.
//!
//! ```text
//! cargo run -p canopy-sim --release -- --seeds 1000            # seeds 0..1000
//! cargo run -p canopy-sim --release -- --seeds 1000 --start 5000
//! cargo run -p canopy-sim --release -- --seed 42               # replay one, with a trace
//! cargo run -p canopy-sim --release -- --seeds 50 --check-determinism
//! cargo run -p canopy-sim --release -- --start 200 --seeds 500 --hashes  # the behaviour fixture
//! cargo run -p canopy-sim --release -- --leaf --seeds 1000     # leaf topologies
//! cargo run -p canopy-sim --release -- --leaf --seed 42        # replay a leaf seed
//! cargo run -p canopy-sim --release -- --gateway --seeds 300   # super-clusters
//! cargo run -p canopy-sim --release -- --gateway --seed 42     # replay a gateway seed
//! cargo run -p canopy-sim --release -- --tls --seeds 200         # the same worlds over TLS
//! cargo run -p canopy-sim --release -- --leaf --tls --seeds 100  # leaf topologies over TLS
//! cargo run -p canopy-sim --release -- --gateway --tls --seed 7  # super-clusters over TLS
//! cargo run -p canopy-sim --release -- --leaf --s2 --seeds 300    # compression modes drawn
//! cargo run -p canopy-sim --release -- --s2 --seeds 300           # ... on cluster routes
//! cargo run -p canopy-sim --release -- --leaf --ws --seeds 300    # leaf links over WebSocket
//! cargo run -p canopy-sim --release -- --leaf --ws --tls --seed 7 # ... over wss
//! cargo run -p canopy-sim --release -- --operator --seeds 300     # JWT logins, accounts
//! ```
//!
//! `--operator` runs the default mode's worlds in operator mode (see
//! `canopy_sim::operator`): one operator, a system account and two or
//! three accounts preloaded on every node, clients logging in with user
//! JWTs (isolated by account), and rogue logins that must be refused.
//!
//! `--tls` combines with every mode: each engine gets TLS on its client
//! port, routes, leaf links and gateways, with Ed25519 certificates drawn
//! from the seed (every host the simulator dials in their names), TLS
//! first on the client port (sometimes with a fallback) and on leaf links
//! drawn per seed, and the handshake timeout drawn. The simulated clients
//! speak TLS (seeded too), and the world reads what engines send each
//! other through shadows of their TLS (`canopy_sim::tls`), so every
//! checker runs unchanged. TLS faults join the seed's: handshakes read a
//! byte at a time, resets mid-handshake, handshakes stalled past the
//! timeout (closed as `TLS Handshake Failure`, dialers retry), and probes
//! that get TLS first wrong at a client or leaf port (they must fail with
//! no plaintext past the INFO). After the switch no engine may write a
//! byte that is not a TLS record (the plaintext-on-TLS checker). A TLS
//! seed replays as exactly as any other (`--tls --check-determinism`).
//!
//! Links between engines are read below the protocol in every mode
//! (`canopy_sim::link_wire`), after the reader's TLS: the WebSocket upgrade
//! and frames, and S2 from the exact byte each side switches it on (the
//! solicitor right after its INFO naming its mode, the acceptor where it
//! read that INFO); after the switch every byte must belong to a valid S2
//! stream, after the upgrade to a valid frame, and the modes both sides
//! name must follow nats-server's selection table from both settings.
//! Leaf links negotiate `s2_auto` by default, so `--leaf` reads S2
//! already. `--s2` draws each node's route, leaf-port and remote
//! compression (off, accept, s2_uncompressed, s2_fast, s2_better, s2_best,
//! s2_auto, sometimes with its own RTT thresholds) from a stream of its
//! own, so the rest of the seed is its plain twin's; gateways never
//! compress. `--ws` gives every node with a leaf port a websocket port
//! (`no_tls`, or TLS with `--tls`) with permessage-deflate drawn, and
//! puts most remotes on it with `ws_compression` and `ws_no_masking`
//! drawn. Both combine with `--leaf`, `--gateway`, `--tls` and the
//! default mode; their new links with a layer are sometimes read a byte at
//! a time at first or reset within their first bytes (mid-frame,
//! mid-chunk), besides the seed's faults.

use canopy_sim::swarm::{self, RunReport, SwarmConfig};
use std::process::ExitCode;
use std::time::Duration;

/// The build's commit, when the build exported it (as the engine does).
const COMMIT: &str = match option_env!("CANOPY_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

const USAGE: &str = "usage: canopy-sim [--seeds N] [--start S] [--seed S] [--check-determinism] \
[--no-faults] [--leaf | --gateway] [--tls] [--s2] [--ws] [--operator] [--topology single|cluster3|hub2|hub3|chain|triangle|\
spoke-cluster|deny|hub-cluster|redundant-pair|leaf-cluster-split|gw-mesh|gw-partial|gw-leafs|\
gw-leaf-chain] [--verbose] [--trace EVENTS] [--mutation NAME] [--hashes]";

struct Args {
    seeds: u64,
    start: u64,
    replay: Option<u64>,
    determinism: bool,
    /// Print `seed hash` lines (the behaviour fixture) instead of a summary.
    hashes: bool,
    verbose: bool,
    ring: usize,
    cfg: SwarmConfig,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        seeds: 100,
        start: 0,
        replay: None,
        determinism: false,
        hashes: false,
        verbose: false,
        ring: 50,
        cfg: SwarmConfig::default(),
    };
    // madsim-style variables, overridden by flags.
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(v) = env("SIM_SEED") {
        a.replay = Some(v.parse().map_err(|e| format!("SIM_SEED: {e}"))?);
    }
    if let Some(v) = env("SIM_RUNS") {
        a.seeds = v.parse().map_err(|e| format!("SIM_RUNS: {e}"))?;
    }
    a.determinism = env("SIM_CHECK_DETERMINISM").is_some_and(|v| v != "0");
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, flag: &str| -> Result<u64, String> {
        v.ok_or_else(|| format!("{flag} needs a value"))?
            .parse()
            .map_err(|e| format!("{flag}: {e}"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seeds" => a.seeds = num(it.next(), "--seeds")?,
            "--start" => a.start = num(it.next(), "--start")?,
            "--seed" => a.replay = Some(num(it.next(), "--seed")?),
            "--check-determinism" => a.determinism = true,
            "--hashes" => a.hashes = true,
            "--no-faults" => a.cfg.no_faults = true,
            "--leaf" => a.cfg.leaf = true,
            "--gateway" => a.cfg.gateway = true,
            "--tls" => a.cfg.tls = true,
            "--s2" => a.cfg.s2 = true,
            "--ws" => a.cfg.ws = true,
            "--operator" => a.cfg.operator = true,
            "--topology" => {
                let t = it.next().as_deref().and_then(swarm::Topology::parse);
                let Some(t) = t else {
                    return Err("--topology needs single, cluster3, or (with --leaf) hub2, \
                                hub3, chain, triangle, spoke-cluster, deny, hub-cluster, \
                                redundant-pair or leaf-cluster-split, or (with --gateway) \
                                gw-mesh, gw-partial, gw-leafs or gw-leaf-chain"
                        .to_string());
                };
                a.cfg.topology = Some(t);
            }
            "--verbose" | "-v" => a.verbose = true,
            "--trace" => a.ring = num(it.next(), "--trace")? as usize,
            "--mutation" => {
                let name = it.next().ok_or("--mutation needs a name")?;
                a.cfg.engine_setup = Some(mutation(&name)?);
            }
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.cfg.leaf && a.cfg.gateway {
        return Err("--leaf and --gateway are separate modes".to_string());
    }
    if a.cfg.operator && (a.cfg.leaf || a.cfg.gateway) {
        return Err(
            "--operator runs the default mode's worlds (single server, cluster)".to_string(),
        );
    }
    if let Some(t) = a.cfg.topology {
        let wanted = (t.is_leaf(), t.is_super());
        if wanted != (a.cfg.leaf, a.cfg.gateway) {
            let mode = match wanted {
                (true, _) => "--leaf",
                (_, true) => "--gateway",
                _ => "neither --leaf nor --gateway",
            };
            return Err(format!("--topology {} needs {mode}", t.name()));
        }
    }
    Ok(a)
}

#[cfg(feature = "mutations")]
fn mutation(name: &str) -> Result<canopy_sim::world::EngineSetup, String> {
    use canopy_core::Mutations;
    let m = Mutations::by_name(name).ok_or_else(|| {
        format!(
            "unknown mutation {name}; known: {}",
            Mutations::NAMES
                .iter()
                .chain(&Mutations::ROUTE_NAMES)
                .chain(&Mutations::LEAF_NAMES)
                .chain(&Mutations::GATEWAY_NAMES)
                .chain(&Mutations::TLS_NAMES)
                .chain(&Mutations::LINK_NAMES)
                .chain(&Mutations::OPERATOR_NAMES)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    Ok(std::sync::Arc::new(move |s: &mut canopy_core::Server| {
        s.set_mutations(m)
    }))
}

#[cfg(not(feature = "mutations"))]
fn mutation(_name: &str) -> Result<canopy_sim::world::EngineSetup, String> {
    Err("built without mutations: add --features mutations".to_string())
}

fn print_failure(r: &RunReport, cfg: &SwarmConfig) {
    println!("FAIL seed={} commit={} {}", r.seed, COMMIT, r.summary);
    for v in r.violations.iter().take(10) {
        println!("  violation: {v}");
    }
    if r.violations.len() > 10 {
        println!("  ... {} more", r.violations.len() - 10);
    }
    println!("  replay: {}", swarm::replay_command_for(r.seed, cfg));
}

fn print_stats(r: &RunReport) {
    let s = &r.stats;
    let c = &r.checks;
    println!(
        "  sim {:.2}s, {} events; faults fired {} {:?}; resets {} crashes {} slow consumers {} \
         engine closes {} pauses {} max pending {} B",
        r.sim_time.as_secs_f64(),
        s.events,
        s.faults_fired,
        s.faults_by_kind,
        s.resets,
        s.crashes,
        s.slow_consumers,
        s.engine_closes,
        s.pauses,
        s.max_pending_seen
    );
    println!(
        "  published {} deliveries {} owed-checked {} queue-owed-checked {} replies-checked {} \
         no-responders {}; bytes up {} down {}",
        c.published,
        c.deliveries,
        c.owed_delivered,
        c.queue_owed_delivered,
        c.replies_checked,
        c.no_responders,
        s.bytes_up,
        s.bytes_down
    );
    if s.route_accepts > 0 || s.dial_failures > 0 {
        println!(
            "  links (routes, leafs): {} accepted, {} dials failed, {} shutdowns; {} messages across \
             ({} as LMSG with their leaf cluster on a route), {} forwards owed-checked; {} bytes \
             between engines",
            s.route_accepts,
            s.dial_failures,
            s.shutdowns,
            c.routed,
            c.leaf_origin_routed,
            c.route_owed_sent,
            s.bytes_routed
        );
    }
    if s.s2_directions > 0 || s.ws_links > 0 {
        println!(
            "  link layers: S2 on in {} link directions, {} leaf links over WebSocket",
            s.s2_directions, s.ws_links
        );
    }
    if s.rogue_refusals > 0 {
        println!("  operator: {} rogue logins refused", s.rogue_refusals);
    }
    print_gateway_stats(r);
}

/// The gateway counters of a run (gateway mode).
fn print_gateway_stats(r: &RunReport) {
    let c = &r.checks;
    if c.gateway_routed == 0 {
        return;
    }
    println!(
        "  gateways: {} messages across, {} requests mapped (_GR_.), {} recent-reply checks, \
         {} mapped replies home; after convergence {} deliveries, {} queue groups served, \
         {} replies checked end to end",
        c.gateway_routed,
        c.gateway_replies_mapped,
        c.gateway_recent_checked,
        c.gateway_replies_home,
        c.calm_delivered,
        c.calm_queue_served,
        c.calm_replies
    );
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(seed) = args.replay {
        let mut cfg = args.cfg.clone();
        cfg.ring = args.ring;
        let r = swarm::run_seed(seed, &cfg);
        println!("seed={seed} {}", r.summary);
        print_stats(&r);
        println!("  trace hash {:016x}", r.trace_hash);
        if r.passed() {
            println!("PASS seed={seed}");
            return ExitCode::SUCCESS;
        }
        println!("last {} events:", r.trace.len());
        for line in &r.trace {
            println!("  {line}");
        }
        print_failure(&r, &cfg);
        return ExitCode::FAILURE;
    }
    // The real clock measures the simulator's speed only; runs never see it.
    #[allow(clippy::disallowed_methods)]
    let wall = std::time::Instant::now();
    let mut sim = Duration::ZERO;
    let mut failed = 0u64;
    for seed in args.start..args.start + args.seeds {
        let r = swarm::run_seed(seed, &args.cfg);
        sim += r.sim_time;
        if args.hashes {
            println!("{seed} {:016x}", r.trace_hash);
        }
        if args.verbose {
            println!(
                "seed={seed} {} -> {}",
                r.summary,
                if r.passed() { "ok" } else { "FAIL" }
            );
            print_stats(&r);
        }
        if !r.passed() {
            failed += 1;
            print_failure(&r, &args.cfg);
        }
        if args.determinism {
            let again = swarm::run_seed(seed, &args.cfg);
            sim += again.sim_time;
            if again.trace_hash != r.trace_hash || again.stats != r.stats {
                failed += 1;
                println!(
                    "NONDETERMINISTIC seed={seed}: trace hashes {:016x} and {:016x}",
                    r.trace_hash, again.trace_hash
                );
                println!("  replay: {}", swarm::replay_command_for(seed, &args.cfg));
            }
        }
    }
    let secs = wall.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{} seeds ({}..{}), {} failed, {:.1} s wall, {:.1} seeds/s, {:.0} simulated seconds per wall second",
        args.seeds,
        args.start,
        args.start + args.seeds,
        failed,
        secs,
        args.seeds as f64 / secs,
        sim.as_secs_f64() / secs
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
