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
//! canopy-bench compare --s2 s2_fast --server canopy=LEAF:PORT+HUB:PORT \
//!     --monitor canopy=LEAF:MPORT+HUB:MPORT --server nats-server=... \
//!     --monitor nats-server=...
//! canopy-bench wire --link IMPL,MODE,LEAF,HUB,RELAY,HUB_LEAF_PORT,LEAF_MON+HUB_MON \
//!     --link ... [--rounds 3] [--quick] [--only ...]
//! ```
//!
//! `compare` runs every row against every server in the same process,
//! alternating the order each round so drift on a shared machine falls on
//! both alike, and prints medians and the ratio of the first server to the
//! second. With `--tls-ca` the servers require TLS on their client port
//! and only the TLS rows run; with `--s2 MODE` the servers are leaf/hub
//! pairs whose link was configured with `compression: MODE`, only the S2
//! rows run, and each pair's `/leafz` (the `--monitor` ports) must report
//! MODE on both sides (`s2_uncompressed` for `s2_auto`, as on loopback)
//! before anything is measured; without either, only the others.
//!
//! `wire` counts the bytes a leaf link carries per message: each
//! `--link` is a leaf whose remote dials RELAY (a relay this command
//! runs, which dials the hub's leaf port and counts what it copies) and
//! the hub; a link of IMPL configured with `compression: MODE` on both
//! sides. It prints bytes per message for each mode and implementation
//! (the first IMPL against the second) and how much smaller each mode is
//! than the same implementation's `off`.

mod payload;
mod s2;
mod scenario;
mod wire;

use payload::Payload;
use scenario::{median, pubsub, request_reply, PubSub};
use std::process::ExitCode;
use wire::{set_tls_ca, tls_params};

/// One row of the table.
#[derive(Clone, Debug)]
enum Row {
    Throughput(&'static str, PubSub),
    Latency(&'static str, usize, usize, Payload),
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

/// Rows named this way need a leaf and its hub whose link compresses
/// (`LEAF+HUB` addresses, with `--s2 MODE` and `--monitor`): as the leaf
/// rows, over a link configured with `compression: MODE` on both sides.
const S2: &str = "S2";

fn rows(args: &Args) -> Vec<Row> {
    let mut all = all_rows(args.quick);
    let paired = args.servers.iter().any(|(_, a)| a.contains('+'));
    let topology = match (paired, args.leaf, args.gateway) {
        (false, _, _) if args.tls_ca.is_some() => TLS,
        (false, _, _) => "",
        (true, _, _) if args.s2.is_some() => S2,
        (true, true, _) => LEAF,
        (true, false, true) => GATEWAY,
        (true, false, false) => CROSS_NODE,
    };
    all.retain(|r| match r {
        Row::Throughput(name, _) | Row::Latency(name, ..) => {
            let prefix = [CROSS_NODE, LEAF, GATEWAY, TLS, S2]
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
        payload: Payload::Filler,
    };
    let json = |size, count: u64| PubSub {
        subscribers: 1,
        queue: false,
        size,
        count: count / scale,
        payload: Payload::Json,
    };
    let rr = 20_000 / scale as usize;
    vec![
        Row::Throughput("pub/sub 1:1, 16 B", ps(1, false, 16, 2_000_000)),
        Row::Throughput("fan-out 1:4, 16 B", ps(4, false, 16, 1_000_000)),
        Row::Throughput("queue group of 4, 16 B", ps(4, true, 16, 2_000_000)),
        Row::Throughput("pub/sub 1:1, 1 KiB", ps(1, false, 1024, 400_000)),
        Row::Latency("request/reply, 16 B", rr, 16, Payload::Filler),
        Row::Throughput("cross-node pub/sub 1:1, 16 B", ps(1, false, 16, 1_000_000)),
        Row::Throughput("leaf→hub pub/sub 1:1, 16 B", ps(1, false, 16, 1_000_000)),
        Row::Latency(
            "leaf request/reply across the link, 16 B",
            rr,
            16,
            Payload::Filler,
        ),
        Row::Throughput(
            "gateway pub/sub 1:1 across clusters, 16 B",
            ps(1, false, 16, 1_000_000),
        ),
        Row::Latency(
            "gateway request/reply across clusters, 16 B",
            rr,
            16,
            Payload::Filler,
        ),
        Row::Throughput("TLS pub/sub 1:1, 16 B", ps(1, false, 16, 2_000_000)),
        Row::Throughput("TLS pub/sub 1:1, 1 KiB", ps(1, false, 1024, 400_000)),
        Row::Throughput("S2 leaf→hub pub/sub 1:1, 16 B", ps(1, false, 16, 1_000_000)),
        Row::Throughput("S2 leaf→hub pub/sub 1:1, 1 KiB JSON", json(1024, 200_000)),
        Row::Latency(
            "S2 leaf request/reply across the link, 16 B",
            rr,
            16,
            Payload::Filler,
        ),
        Row::Latency(
            "S2 leaf request/reply across the link, 1 KiB JSON",
            rr,
            1024,
            Payload::Json,
        ),
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
    /// Paired addresses are a leaf and its hub whose link was configured
    /// with this compression mode.
    s2: Option<String>,
    /// Monitoring ports (`LEAF+HUB`) of the servers named.
    monitors: Vec<(String, String)>,
    /// `wire`: the leaf links to count.
    links: Vec<Link>,
}

/// One leaf link of `wire` (see the module documentation).
#[derive(Clone, Debug)]
struct Link {
    imp: String,
    mode: String,
    leaf: String,
    hub: String,
    relay: String,
    hub_leaf: String,
    monitors: String,
}

impl Link {
    fn parse(spec: &str) -> Result<Link, String> {
        let f: Vec<&str> = spec.split(',').collect();
        let [imp, mode, leaf, hub, relay, hub_leaf, monitors] = f[..] else {
            return Err(format!(
                "--link needs IMPL,MODE,LEAF,HUB,RELAY,HUB_LEAF_PORT,LEAF_MON+HUB_MON, not {spec}"
            ));
        };
        Ok(Link {
            imp: imp.into(),
            mode: mode.into(),
            leaf: leaf.into(),
            hub: hub.into(),
            relay: relay.into(),
            hub_leaf: hub_leaf.into(),
            monitors: monitors.into(),
        })
    }
}

/// What `/leafz` reports for a link configured with `mode` on both sides:
/// the mode, except `s2_auto`, which both servers report as the level it
/// chose, `s2_uncompressed` at loopback round trips (below 10 ms).
fn leafz_mode(mode: &str) -> &str {
    if mode == "s2_auto" {
        "s2_uncompressed"
    } else {
        mode
    }
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
        s2: None,
        monitors: Vec::new(),
        links: Vec::new(),
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
            "--s2" => args.s2 = Some(it.next().ok_or("--s2 needs a compression mode")?),
            "--monitor" => {
                let v = it.next().ok_or("--monitor needs NAME=LEAF_MON+HUB_MON")?;
                let (name, addr) = v
                    .split_once('=')
                    .ok_or("--monitor needs NAME=LEAF_MON+HUB_MON")?;
                args.monitors.push((name.to_string(), addr.to_string()));
            }
            "--link" => args
                .links
                .push(Link::parse(&it.next().ok_or("--link needs a link")?)?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.servers.is_empty() && args.links.is_empty() {
        return Err("give --addr, --server or --link".into());
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
        "wire" => runtime.block_on(wire_table(&args)),
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
        Row::Latency(name, count, size, kind) => request_reply(addr, run, *count, *size, *kind)
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
    if let Some(mode) = &args.s2 {
        for (name, _) in [a, b] {
            let mon = args
                .monitors
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| format!("--s2 needs --monitor {name}=LEAF_MON+HUB_MON"))?;
            s2::check_compression(name, &mon.1, leafz_mode(mode)).await?;
        }
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

/// `wire`: the bytes each `--link` carries from leaf to hub per message,
/// for every mode and load, the first implementation against the second.
async fn wire_table(args: &Args) -> Result<(), String> {
    use s2::{Pace, WireLoad};
    let scale = if args.quick { 10 } else { 1 };
    let loads = [
        (
            "1 KiB JSON, bursts",
            WireLoad {
                size: 1024,
                kind: Payload::Json,
                pace: Pace::Bursts,
                count: 10_000 / scale,
            },
        ),
        (
            "1 KiB JSON, one message per flush",
            WireLoad {
                size: 1024,
                kind: Payload::Json,
                pace: Pace::OnePerFlush,
                count: 2_000 / scale,
            },
        ),
        (
            "16 B JSON, bursts",
            WireLoad {
                size: 16,
                kind: Payload::Json,
                pace: Pace::Bursts,
                count: 50_000 / scale,
            },
        ),
        (
            "16 B JSON, one message per flush",
            WireLoad {
                size: 16,
                kind: Payload::Json,
                pace: Pace::OnePerFlush,
                count: 2_000 / scale,
            },
        ),
    ];
    let mut imps: Vec<&str> = Vec::new();
    let mut modes: Vec<&str> = Vec::new();
    for l in &args.links {
        if !imps.contains(&l.imp.as_str()) {
            imps.push(&l.imp);
        }
        if !modes.contains(&l.mode.as_str()) {
            modes.push(&l.mode);
        }
    }
    if imps.len() != 2 {
        return Err("wire needs links of exactly two implementations".into());
    }
    let link = |imp: &str, mode: &str| -> Result<usize, String> {
        args.links
            .iter()
            .position(|l| l.imp == imp && l.mode == mode)
            .ok_or_else(|| format!("no --link for {imp} with {mode}"))
    };
    // (load, mode, label)
    let only = args.only.as_ref().map(|o| o.to_lowercase());
    let mut rows = Vec::new();
    for (li, (load, _)) in loads.iter().enumerate() {
        for mode in &modes {
            let label = format!("S2 wire {load}, {mode}");
            let wanted = match &only {
                Some(o) => label.to_lowercase().contains(o.as_str()),
                None => true,
            };
            if wanted {
                rows.push((li, *mode, label));
            }
        }
    }
    if rows.is_empty() {
        println!("(no row of this table matches --only)");
        return Ok(());
    }
    let mut counts = Vec::new();
    for l in &args.links {
        counts.push(
            s2::relay(&l.relay, &l.hub_leaf)
                .await
                .map_err(|e| format!("relay on {}: {e}", l.relay))?,
        );
    }
    for l in &args.links {
        let name = format!("{} {}", l.imp, l.mode);
        s2::check_compression(&name, &l.monitors, leafz_mode(&l.mode)).await?;
    }
    // samples[row][imp] = bytes per message, every round; flushes[row][imp]
    // = messages per S2 stream.
    let mut samples: Vec<[Vec<f64>; 2]> = rows.iter().map(|_| [vec![], vec![]]).collect();
    let mut flushes: Vec<[Vec<f64>; 2]> = rows.iter().map(|_| [vec![], vec![]]).collect();
    let mut run = 0u64;
    for round in 0..args.rounds {
        for (r, (li, mode, label)) in rows.iter().enumerate() {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for s in order {
                run += 1;
                let i = link(imps[s], mode)?;
                let l = &args.links[i];
                let w = &loads[*li].1;
                let leaf_mon = l.monitors.split_once('+').map_or("", |m| m.0);
                let before = if round == 0 {
                    s2::leafz(leaf_mon).await.ok()
                } else {
                    None
                };
                let (bytes, streams) = s2::wire_bytes(&l.leaf, &l.hub, &counts[i], run, w)
                    .await
                    .map_err(|e| format!("{label} on {}: {e}", l.imp))?;
                let per = bytes as f64 / w.count as f64;
                if let Some(before) = before {
                    // What /leafz counts, beside what crossed the wire.
                    let after = s2::leafz(leaf_mon).await.map_err(|e| e.to_string())?;
                    let grew = |a: &[u64], b: &[u64]| match (a.first(), b.first()) {
                        (Some(x), Some(y)) => format!("{:.1}", (x - y) as f64 / w.count as f64),
                        _ => "?".into(),
                    };
                    eprintln!(
                        "{label}, {}: relay {per:.1} B/msg; the leaf's /leafz out_bytes grew {} per msg",
                        l.imp,
                        grew(&after.out_bytes, &before.out_bytes),
                    );
                }
                samples[r][s].push(per);
                if streams > 0 {
                    flushes[r][s].push(w.count as f64 / streams as f64);
                }
            }
        }
        eprintln!("round {} of {} done", round + 1, args.rounds);
    }
    let med = |r: usize, s: usize| median(&samples[r][s]);
    let off = |li: usize, s: usize| -> Option<f64> {
        rows.iter()
            .position(|(l, m, _)| *l == li && *m == "off")
            .map(|r| med(r, s))
    };
    let per_flush = |r: usize, s: usize| {
        if flushes[r][s].is_empty() {
            "-".to_string()
        } else {
            format!("{:.1}", median(&flushes[r][s]))
        }
    };
    println!(
        "| row (bytes per message, leaf→hub, lower is better) | {a} | {b} | ratio {a}/{b} | {a}: off/this | {b}: off/this | {a}: msgs/flush | {b}: msgs/flush |",
        a = imps[0],
        b = imps[1]
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (r, (li, _, label)) in rows.iter().enumerate() {
        let (x, y) = (med(r, 0), med(r, 1));
        let shrink =
            |s: usize, v: f64| off(*li, s).map_or("-".to_string(), |o| format!("{:.2}x", o / v));
        println!(
            "| {label} | {x:.1} | {y:.1} | {:.2}x | {} | {} | {} | {} |",
            x / y,
            shrink(0, x),
            shrink(1, y),
            per_flush(r, 0),
            per_flush(r, 1),
        );
    }
    println!();
    println!(
        "rounds: {}, each row median of the rounds; counted by a relay between leaf and hub; \
         msgs/flush is messages per S2 stream (nats-server starts one per flush; - for off)",
        args.rounds
    );
    Ok(())
}
