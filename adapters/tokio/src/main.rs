//! `canopy`: a NATS server that takes nats-server's command line.
//!
//! # Choosing the runtime
//!
//! The command line is nats-server's and nothing else, so the async
//! runtime is chosen by environment variable, like the worker count:
//!
//! - `CANOPY_RUNTIME=tokio` (the default, also when unset or empty): the
//!   engine runs on canopy-tokio's runtime;
//! - `CANOPY_RUNTIME=smol`: on canopy-smol's (async-io and
//!   async-executor; async-std users take this one);
//! - any other value is refused at start (exit code 1).
//!
//! `CANOPY_WORKER_THREADS=N` (N > 1) runs N threads instead of one, on
//! either runtime. The driver loop, the signals (a thread of their own)
//! and the log lines are the same on both.

use canopy_core::cli;
use canopy_core::cli::Flags;
use canopy_core::options::VERSION;
use canopy_core::ListenerKind;
use canopy_tokio::logging::{LogTarget, NatsFormat};
use canopy_tokio::settings::{self, Settings};
use std::process::ExitCode;
use tracing::Level;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags = match cli::parse(&args) {
        Ok(f) => f,
        Err(exit) => {
            print!("{}", exit.stdout);
            eprint!("{}", exit.stderr);
            return ExitCode::from(exit.code);
        }
    };
    if let Some(value) = &flags.signal {
        let result = canopy_tokio::signal::send(&cli::parse_signal(value));
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("nats-server: {e}");
                ExitCode::from(1)
            }
        };
    }
    if flags.test_config {
        let path = flags.config.clone().unwrap_or_default();
        let (text, code) = settings::test_config(&path);
        eprint!("{text}");
        return ExitCode::from(code);
    }
    let runtime = match RuntimeChoice::from_env() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("canopy: {e}");
            return ExitCode::from(1);
        }
    };
    let settings = match settings::load(&flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nats-server: {e}");
            return ExitCode::from(1);
        }
    };
    // Config warnings go to stderr as nats-server prints them.
    eprint!("{}", settings.warnings);
    let log = init_logging(&settings);
    for name in &settings.unsupported {
        tracing::warn!("{name}: not supported by canopy yet; ignored");
    }
    if let Some(e) = &settings.listen_error {
        if flags.port.is_none() {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    }
    serve(settings, flags, log, runtime)
}

/// The async runtime the engine runs on (`CANOPY_RUNTIME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuntimeChoice {
    Tokio,
    Smol,
}

impl RuntimeChoice {
    fn from_env() -> Result<RuntimeChoice, String> {
        let value = std::env::var("CANOPY_RUNTIME").unwrap_or_default();
        match value.trim() {
            "" | "tokio" => Ok(RuntimeChoice::Tokio),
            "smol" => Ok(RuntimeChoice::Smol),
            other => Err(format!(
                "CANOPY_RUNTIME={other:?}: expected \"tokio\" or \"smol\""
            )),
        }
    }
}

/// Threads to run: one by default (the engine is single-threaded; see
/// `canopy_tokio::serve` for why one is fastest on small machines).
fn worker_threads() -> usize {
    std::env::var("CANOPY_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
}

fn init_logging(cli: &Settings) -> LogTarget {
    // As nats-server: -D adds debug lines, -V adds trace lines; each
    // without the other (-V alone prints no debug lines).
    let (debug, trace) = (cli.debug, cli.trace);
    let target = match &cli.log_file {
        Some(path) => LogTarget::file(path).unwrap_or_else(|e| {
            eprintln!("nats-server: cannot open log file {path}: {e}");
            LogTarget::stderr()
        }),
        None => LogTarget::stderr(),
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    // The hint keeps disabled levels free: without it every trace! and
    // enabled! check in the hot path would ask this filter.
    let most = if trace {
        Level::TRACE
    } else if debug {
        Level::DEBUG
    } else {
        Level::INFO
    };
    let shown = tracing_subscriber::filter::FilterFn::new(move |meta| match *meta.level() {
        Level::TRACE => trace,
        Level::DEBUG => debug,
        _ => true,
    })
    .with_max_level_hint(most);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(NatsFormat::new())
                .with_writer(target.clone())
                .with_filter(shown),
        )
        .init();
    target
}

/// Binds the listeners, writes the pid and ports files, logs as
/// nats-server does, and runs the engine on `runtime` until it exits.
fn serve(cli: Settings, flags: Flags, log: LogTarget, runtime: RuntimeChoice) -> ExitCode {
    let mut options = cli.options.clone();
    let (control_tx, control_rx) = async_channel::unbounded();
    // Before anything listens: a signal that arrives early must not take
    // the default action (SIGHUP and SIGUSR1/2 would end the process).
    if let Err(e) = canopy_tokio::signal::trap(log, flags, control_tx) {
        tracing::error!("cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let port = cli.port.unwrap_or(i32::from(options.port));
    let listener = match canopy_driver::bind(&options.host, port_or_any(port)) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                "Error listening on port: {}:{}, \"{}\"",
                options.host,
                port,
                e
            );
            return ExitCode::from(1);
        }
    };
    let bound = listener
        .local_addr()
        .map_or(port_or_any(port), |a| a.port());
    options.port = bound;
    let mut listeners = vec![(ListenerKind::Client, listener)];
    let pid = std::process::id();
    // The pid file comes before any "Listening" line, as in nats-server:
    // whoever waits for that line may read it at once.
    if let Some(path) = &cli.pid_file {
        if let Err(e) = std::fs::write(path, pid.to_string()) {
            tracing::error!("Could not write pidfile: {e}");
        }
    }
    tracing::info!("Starting nats-server");
    tracing::info!(
        "  Version:  {VERSION} (canopy {})",
        env!("CARGO_PKG_VERSION")
    );
    if let Some((path, digest)) = &cli.config_digest {
        tracing::info!("Using configuration file: {path} (sha256:{digest})");
    }
    // nats-server's StartMonitoring: HTTP or HTTPS, not both, and HTTPS
    // needs the client TLS (its certificate).
    let monitor = match (
        cli.http_port.filter(|&p| p != 0),
        cli.https_port.filter(|&p| p != 0),
    ) {
        (Some(http), Some(https)) => Err(format!(
            "can't specify both HTTP ({http}) and HTTPs ({https}) ports"
        )),
        (Some(http), None) => Ok(Some((ListenerKind::Monitor, "http", http))),
        (None, Some(_)) if options.tls.is_none() => {
            Err("TLS cert and key required for HTTPS".into())
        }
        (None, Some(https)) => Ok(Some((ListenerKind::Https, "https", https))),
        (None, None) => Ok(None),
    };
    let monitor = match monitor {
        Ok(m) => m,
        Err(why) => {
            tracing::error!("Can't start monitoring: {why}");
            return ExitCode::from(1);
        }
    };
    if let Some((kind, scheme, given)) = monitor {
        options.http_host = cli
            .http_host
            .clone()
            .unwrap_or_else(|| options.host.clone());
        let port = port_or_any(given);
        match canopy_driver::bind(&options.http_host, port) {
            Ok(l) => {
                let bound = l.local_addr().map_or(port, |a| a.port());
                if kind == ListenerKind::Https {
                    (options.https_port, options.https_port_configured) = (bound, given);
                } else {
                    (options.http_port, options.http_port_configured) = (bound, given);
                }
                tracing::info!("Starting {scheme} monitor on {}:{bound}", options.http_host);
                listeners.push((kind, l));
            }
            Err(e) => {
                tracing::error!(
                    "Error listening on port: {}:{}, \"{}\"",
                    options.http_host,
                    given,
                    e
                );
                return ExitCode::from(1);
            }
        }
    }
    if let (Some(cluster), Some(port)) = (options.cluster.as_mut(), cli.cluster_port) {
        let want = port_or_any(port);
        match canopy_driver::bind(&cluster.host, want) {
            Ok(l) => {
                cluster.port = l.local_addr().map_or(want, |a| a.port());
                listeners.push((ListenerKind::Route, l));
            }
            Err(e) => {
                tracing::error!(
                    "Error listening on port: {}:{}, \"{}\"",
                    cluster.host,
                    port,
                    e
                );
                return ExitCode::from(1);
            }
        }
    }
    if let (Some(leaf), Some(port)) = (options.leaf.as_mut(), cli.leaf_port) {
        let want = port_or_any(port);
        match canopy_driver::bind(&leaf.host, want) {
            Ok(l) => {
                leaf.port = l.local_addr().map_or(want, |a| a.port());
                listeners.push((ListenerKind::Leaf, l));
            }
            Err(e) => {
                tracing::error!("Error listening on port: {}:{}, \"{}\"", leaf.host, port, e);
                return ExitCode::from(1);
            }
        }
    }
    if let (Some(gw), Some(port)) = (options.gateway.as_mut(), cli.gateway_port) {
        let want = port_or_any(port);
        match canopy_driver::bind(&gw.host, want) {
            Ok(l) => {
                gw.port = l.local_addr().map_or(want, |a| a.port());
                listeners.push((ListenerKind::Gateway, l));
            }
            Err(e) => {
                tracing::error!("Error listening on port: {}:{}, \"{}\"", gw.host, port, e);
                return ExitCode::from(1);
            }
        }
    }
    if let Some(ws) = options.websocket.as_mut() {
        let want = ws.port;
        match canopy_driver::bind(&ws.host, want) {
            Ok(l) => {
                ws.port = l.local_addr().map_or(want, |a| a.port());
                listeners.push((ListenerKind::Websocket, l));
            }
            Err(e) => {
                tracing::error!("Error listening on port: {}:{}, \"{}\"", ws.host, want, e);
                return ExitCode::from(1);
            }
        }
    }
    if let Some(gw) = options.gateway.as_ref() {
        tracing::info!("Gateway name is {}", gw.name);
        tracing::info!(
            "Listening for gateways connections on {}:{}",
            gw.host,
            gw.port
        );
        tracing::info!(
            "Address for gateway {:?} is {}",
            gw.name,
            canopy_core::gateway_url(gw)
        );
    }
    if let Some(ws) = options.websocket.as_ref() {
        let scheme = if ws.tls.is_some() { "wss" } else { "ws" };
        tracing::info!(
            "Listening for websocket clients on {scheme}://{}:{}",
            ws.host,
            ws.port
        );
        if ws.tls.is_none() {
            tracing::warn!("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
        }
    }
    if let Some(l) = options.leaf.as_ref().filter(|l| l.port != 0) {
        tracing::info!(
            "Listening for leafnode connections on {}:{}",
            l.host,
            l.port
        );
    }
    tracing::info!(
        "Listening for client connections on {}:{}",
        options.host,
        bound
    );
    if let Some(tls) = &options.tls {
        // "TLS Handshake First" without a fallback always requires the
        // handshake, which overrides `allow_non_tls`.
        let first_only = tls.handshake_first && tls.fallback.is_none();
        if options.allow_non_tls && !first_only {
            tracing::info!("TLS available for client connections");
        } else {
            tracing::info!("TLS required for client connections");
        }
        if first_only {
            tracing::warn!(
                "Clients that are not using \"TLS Handshake First\" option will fail to connect"
            );
        }
    }
    if let Some(c) = &options.cluster {
        tracing::info!("Listening for route connections on {}:{}", c.host, c.port);
    }
    let ports_file = cli
        .ports_file_dir
        .as_ref()
        .map(|dir| format!("{dir}/nats-server_{pid}.ports"));
    if let Some(path) = &ports_file {
        let host = if options.host == "0.0.0.0" {
            "127.0.0.1"
        } else {
            options.host.as_str()
        };
        let nats = if options.tls.is_some() && !options.allow_non_tls {
            "tls"
        } else {
            "nats"
        };
        let mut body = format!("{{\"nats\":[\"{nats}://{host}:{bound}\"]");
        if options.http_port != 0 {
            body.push_str(&format!(
                ",\"monitoring\":[\"http://{host}:{}\"]",
                options.http_port
            ));
        } else if options.https_port != 0 {
            body.push_str(&format!(
                ",\"monitoring\":[\"https://{host}:{}\"]",
                options.https_port
            ));
        }
        if let Some(c) = &options.cluster {
            let chost = if c.host == "0.0.0.0" {
                "127.0.0.1"
            } else {
                c.host.as_str()
            };
            let scheme = if c.tls.is_some() { "tls" } else { "nats" };
            body.push_str(&format!(",\"cluster\":[\"{scheme}://{chost}:{}\"]", c.port));
        }
        if let Some(ws) = options.websocket.as_ref() {
            let whost = if ws.host == "0.0.0.0" {
                "127.0.0.1"
            } else {
                ws.host.as_str()
            };
            let scheme = if ws.tls.is_some() { "wss" } else { "ws" };
            body.push_str(&format!(
                ",\"websocket\":[\"{scheme}://{whost}:{}\"]",
                ws.port
            ));
        }
        if let Some(g) = options.gateway.as_ref().filter(|g| g.port != 0) {
            let ghost = if g.host == "0.0.0.0" {
                "127.0.0.1"
            } else {
                g.host.as_str()
            };
            body.push_str(&format!(",\"gateway\":[\"nats://{ghost}:{}\"]", g.port));
        }
        if let Some(l) = options.leaf.as_ref().filter(|l| l.port != 0) {
            let lhost = if l.host == "0.0.0.0" {
                "127.0.0.1"
            } else {
                l.host.as_str()
            };
            body.push_str(&format!(",\"leafnode\":[\"nats://{lhost}:{}\"]", l.port));
        }
        body.push('}');
        if let Err(e) = std::fs::write(path, body) {
            tracing::error!("Could not write ports file: {e}");
        }
    }
    check_leaf_credentials(&options);
    tracing::info!("Server is ready");
    let setup = canopy_driver::Setup {
        options,
        listeners,
        control: control_rx,
    };
    let ran = match runtime {
        RuntimeChoice::Tokio => canopy_tokio::serve(worker_threads(), setup),
        RuntimeChoice::Smol => canopy_smol::serve(worker_threads(), setup),
    };
    if let Err(e) = ran {
        tracing::error!("cannot start the {runtime:?} runtime: {e}");
        return ExitCode::from(1);
    }
    tracing::info!("Server Exiting..");
    if let Some(path) = &ports_file {
        let _ = std::fs::remove_file(path);
    }
    ExitCode::SUCCESS
}

/// A port as given (negative: any) as the port to bind (0: any).
fn port_or_any(port: i32) -> u16 {
    if port < 0 {
        0
    } else {
        port as u16
    }
}

/// Reads each leaf remote's credentials file once at start and logs what
/// is wrong with it, as nats-server does (the remote is dialed anyway; the
/// file is read again at every connect).
fn check_leaf_credentials(options: &canopy_core::Options) {
    let Some(leaf) = &options.leaf else {
        return;
    };
    for r in leaf.remotes.iter().filter(|r| !r.credentials.is_empty()) {
        let creds = &r.credentials;
        match std::fs::read_to_string(creds) {
            Err(e) => {
                tracing::error!("Error reading LeafNode Remote Credentials file {creds:?}: {e}");
            }
            Ok(text) => {
                if let Err(what) = canopy_core::auth::check_creds(&text) {
                    tracing::error!("LeafNode Remote Credentials file {creds:?} {what}");
                }
            }
        }
    }
}
