//! `canopy-bench`: load for any NATS server, and a side-by-side comparison.
//!
//! ```text
//! canopy-bench run --addr 127.0.0.1:4222 [--quick] [--only "1 KiB"]
//! canopy-bench compare --server canopy=127.0.0.1:4222 \
//!     --server nats-server=127.0.0.1:4223 [--rounds 5] [--quick]
//! canopy-bench compare --leaf --server canopy=LEAF:PORT+HUB:PORT \
//!     --server nats-server=LEAF:PORT+HUB:PORT
//! canopy-bench compare --gateway --server canopy=A:PORT+B:PORT \
//!     --server nats-server=A:PORT+B:PORT
//! canopy-bench compare --tls-ca ca.pem --server canopy=127.0.0.1:4443 \
//!     --server nats-server=127.0.0.1:4444
//! ```
//!
//! `compare` runs every row against every server in the same process,
//! alternating the order each round so drift on a shared machine falls on
//! both alike, and prints medians and the ratio of the first server to the
//! second. With `--tls-ca` the servers require TLS on their client port
//! and only the TLS rows run; without it, only the others.

mod scenario;
mod wire;

use scenario::{median, pubsub, request_reply, PubSub};
use std::process::ExitCode;
use wire::{set_tls_ca, tls_params};

/// One row of the table.
#[derive(Clone, Debug)]
enum Row {
    Throughput(&'static str, PubSub),
    Latency(&'static str, usize, usize),
}

/// Rows named this way need two servers of one cluster (`PUB+SUB`
/// addresses); the others run against one server.
const CROSS_NODE: &str = "cross-node";

/// Rows named this way need a leaf and its hub (`LEAF+HUB` addresses,
/// with `--leaf`): the publisher or requester on the leaf, the subscriber
/// or replier on the hub.
const LEAF: &str = "leaf";

/// Rows named this way need servers of two clusters joined by gateways
/// (`A+B` addresses, with `--gateway`): the publisher or requester in
/// cluster A, the subscriber or replier in cluster B.
const GATEWAY: &str = "gateway";

/// Rows named this way need servers that require TLS on their client
/// port (with `--tls-ca`, the CA their certificates chain to).
const TLS: &str = "TLS";

fn rows(args: &Args) -> Vec<Row> {
    let mut all = all_rows(args.quick);
    let paired = args.servers.iter().any(|(_, a)| a.contains('+'));
    let topology = match (paired, args.leaf, args.gateway) {
        (false, _, _) if args.tls_ca.is_some() => TLS,
        (false, _, _) => "",
        (true, true, _) => LEAF,
        (true, false, true) => GATEWAY,
        (true, false, false) => CROSS_NODE,
    };
    all.retain(|r| match r {
        Row::Throughput(name, _) | Row::Latency(name, ..) => {
            let prefix = [CROSS_NODE, LEAF, GATEWAY, TLS]
                .into_iter()
                .find(|p| name.starts_with(p))
                .unwrap_or("");
            prefix == topology
        }
    });
    if let Some(only) = &args.only {
        let only = only.to_lowercase();
        all.retain(|r| match r {
            Row::Throughput(name, _) | Row::Latency(name, ..) => {
                name.to_lowercase().contains(only.as_str())
            }
        });
    }
    all
}

fn all_rows(quick: bool) -> Vec<Row> {
    let scale = if quick { 10 } else { 1 };
    let ps = |subscribers, queue, size, count: u64| PubSub {
        subscribers,
        queue,
        size,
        count: count / scale,
    };
    vec![
        Row::Throughput("pub/sub 1:1, 16 B", ps(1, false, 16, 2_000_000)),
        Row::Throughput("fan-out 1:4, 16 B", ps(4, false, 16, 1_000_000)),
        Row::Throughput("queue group of 4, 16 B", ps(4, true, 16, 2_000_000)),
        Row::Throughput("pub/sub 1:1, 1 KiB", ps(1, false, 1024, 400_000)),
        Row::Latency("request/reply, 16 B", 20_000 / scale as usize, 16),
        Row::Throughput("cross-node pub/sub 1:1, 16 B", ps(1, false, 16, 1_000_000)),
        Row::Throughput("leaf→hub pub/sub 1:1, 16 B", ps(1, false, 16, 1_000_000)),
        Row::Latency(
            "leaf request/reply across the link, 16 B",
            20_000 / scale as usize,
            16,
        ),
        Row::Throughput(
            "gateway pub/sub 1:1 across clusters, 16 B",
            ps(1, false, 16, 1_000_000),
        ),
        Row::Latency(
            "gateway request/reply across clusters, 16 B",
            20_000 / scale as usize,
            16,
        ),
        Row::Throughput("TLS pub/sub 1:1, 16 B", ps(1, false, 16, 2_000_000)),
        Row::Throughput("TLS pub/sub 1:1, 1 KiB", ps(1, false, 1024, 400_000)),
    ]
}

struct Args {
    command: String,
    servers: Vec<(String, String)>,
    rounds: usize,
    quick: bool,
    only: Option<String>,
    /// Paired addresses are a leaf and its hub, not two cluster nodes.
    leaf: bool,
    /// Paired addresses are servers of two gateway-joined clusters.
    gateway: bool,
    /// The servers require TLS; this PEM file holds the CA to trust.
    tls_ca: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or("usage: canopy-bench run|compare ...")?;
    let mut args = Args {
        command,
        servers: Vec::new(),
        rounds: 5,
        quick: false,
        only: None,
        leaf: false,
        gateway: false,
        tls_ca: None,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--addr" => {
                let addr = it.next().ok_or("--addr needs host:port")?;
                args.servers.push((addr.clone(), addr));
            }
            "--server" => {
                let v = it.next().ok_or("--server needs NAME=host:port")?;
                let (name, addr) = v.split_once('=').ok_or("--server needs NAME=host:port")?;
                args.servers.push((name.to_string(), addr.to_string()));
            }
            "--rounds" => {
                args.rounds = it
                    .next()
                    .and_then(|r| r.parse().ok())
                    .filter(|&r| r > 0)
                    .ok_or("--rounds needs a positive number")?;
            }
            "--quick" => args.quick = true,
            "--leaf" => args.leaf = true,
            "--gateway" => args.gateway = true,
            "--tls-ca" => args.tls_ca = Some(it.next().ok_or("--tls-ca needs a PEM file")?),
            "--only" => args.only = Some(it.next().ok_or("--only needs part of a row name")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.servers.is_empty() {
        return Err("give --addr or --server".into());
    }
    if let Some(ca) = &args.tls_ca {
        set_tls_ca(ca)?;
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("canopy-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match args.command.as_str() {
        "run" => runtime.block_on(run_once(&args)),
        "compare" => runtime.block_on(compare(&args)),
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("canopy-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One measurement of a row: msgs/s, or (p50, p99) in microseconds.
#[derive(Clone, Copy, Debug)]
enum Sample {
    Rate(f64),
    Lat(f64, f64),
}

async fn measure(addr: &str, run: u64, row: &Row) -> Result<Sample, String> {
    match row {
        Row::Throughput(name, w) => pubsub(addr, run, w)
            .await
            .map(Sample::Rate)
            .map_err(|e| format!("{name} on {addr}: {e}")),
        Row::Latency(name, count, size) => request_reply(addr, run, *count, *size)
            .await
            .map(|l| Sample::Lat(l.p50_us, l.p99_us))
            .map_err(|e| format!("{name} on {addr}: {e}")),
    }
}

async fn run_once(args: &Args) -> Result<(), String> {
    let mut run = 0;
    for (name, addr) in &args.servers {
        for row in rows(args) {
            run += 1;
            match (measure(addr, run, &row).await?, &row) {
                (Sample::Rate(r), Row::Throughput(label, _)) => {
                    println!("{name}\t{label}\t{:.0} msgs/s", r)
                }
                (Sample::Lat(p50, p99), Row::Latency(label, ..)) => {
                    println!("{name}\t{label}\tp50 {p50:.1} us\tp99 {p99:.1} us")
                }
                _ => unreachable!("sample kind follows the row"),
            }
        }
    }
    Ok(())
}

async fn compare(args: &Args) -> Result<(), String> {
    if args.servers.len() != 2 {
        return Err("compare needs exactly two --server".into());
    }
    let (a, b) = (&args.servers[0], &args.servers[1]);
    let rows = rows(args);
    if rows.is_empty() {
        println!("(no row of this table matches --only)");
        return Ok(());
    }
    if args.tls_ca.is_some() {
        for (name, addr) in [a, b] {
            match tls_params(addr).await {
                Ok(Some(p)) => eprintln!("{name}: {p}"),
                Ok(None) => return Err(format!("{name} at {addr} does not require TLS")),
                Err(e) => return Err(format!("{name} at {addr}: {e}")),
            }
        }
    }
    // samples[row][server] = every round's sample.
    let mut samples: Vec<[Vec<Sample>; 2]> = rows.iter().map(|_| [vec![], vec![]]).collect();
    let mut run = 0u64;
    for round in 0..args.rounds {
        for (r, row) in rows.iter().enumerate() {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for s in order {
                run += 1;
                let addr = if s == 0 { &a.1 } else { &b.1 };
                samples[r][s].push(measure(addr, run, row).await?);
            }
        }
        eprintln!("round {} of {} done", round + 1, args.rounds);
    }
    println!("| row | {} | {} | ratio {}/{} |", a.0, b.0, a.0, b.0);
    println!("|---|---:|---:|---:|");
    for (r, row) in rows.iter().enumerate() {
        let rates = |s: usize| -> Vec<f64> {
            samples[r][s]
                .iter()
                .filter_map(|x| match x {
                    Sample::Rate(v) => Some(*v),
                    Sample::Lat(..) => None,
                })
                .collect()
        };
        let lat = |s: usize, p99: bool| -> Vec<f64> {
            samples[r][s]
                .iter()
                .filter_map(|x| match x {
                    Sample::Lat(p50, p99v) => Some(if p99 { *p99v } else { *p50 }),
                    Sample::Rate(_) => None,
                })
                .collect()
        };
        match row {
            Row::Throughput(label, _) => {
                let (x, y) = (median(&rates(0)), median(&rates(1)));
                println!(
                    "| {label} (msgs/s, higher is better) | {:.0} | {:.0} | {:.2}x |",
                    x,
                    y,
                    x / y
                );
            }
            Row::Latency(label, ..) => {
                for (p, name) in [(false, "p50"), (true, "p99")] {
                    let (x, y) = (median(&lat(0, p)), median(&lat(1, p)));
                    println!(
                        "| {label} {name} (us, lower is better) | {:.1} | {:.1} | {:.2}x |",
                        x,
                        y,
                        x / y
                    );
                }
            }
        }
    }
    println!();
    println!("rounds: {}, each row median of the rounds", args.rounds);
    Ok(())
}
