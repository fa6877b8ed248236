//! `canopy`: a NATS server that takes nats-server's command line.

use canopy_core::cli;
use canopy_core::cli::Flags;
use canopy_core::options::VERSION;
use canopy_tokio::driver::{self, Control, Reload};
use canopy_tokio::logging::{LogTarget, NatsFormat};
use canopy_tokio::settings::{self, Settings};
use std::process::ExitCode;
use tokio::sync::mpsc::UnboundedSender;
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
    let runtime = match build_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("canopy: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve(settings, flags, log))
}

/// The runtime: one thread by default. The engine is single-threaded, so
/// extra workers only move socket reads to other cores at the price of a
/// cross-thread wakeup per message batch; on small machines one thread is
/// faster in every benchmark row (BENCHMARKS.md). `CANOPY_WORKER_THREADS=N`
/// (N > 1) selects a multi-threaded runtime with N workers.
fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::env::var("CANOPY_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1);
    if workers > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}

fn init_logging(cli: &Settings) -> LogTarget {
    let level = if cli.trace {
        Level::TRACE
    } else if cli.debug {
        Level::DEBUG
    } else {
        Level::INFO
    };
    let target = match &cli.log_file {
        Some(path) => LogTarget::file(path).unwrap_or_else(|e| {
            eprintln!("nats-server: cannot open log file {path}: {e}");
            LogTarget::stderr()
        }),
        None => LogTarget::stderr(),
    };
    tracing_subscriber::fmt()
        .event_format(NatsFormat::new())
        .with_max_level(level)
        .with_writer(target.clone())
        .init();
    target
}

async fn serve(cli: Settings, flags: Flags, log: LogTarget) -> ExitCode {
    let mut options = cli.options.clone();
    // Before anything listens: a signal that arrives early must not take
    // the default action (SIGHUP and SIGUSR1/2 would end the process).
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let port = cli.port.unwrap_or(i32::from(options.port));
    let (listener, bound) = match driver::bind(&options, port).await {
        Ok(x) => x,
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
    options.port = bound;
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
    let mut monitor = None;
    if let Some(http_port) = cli.http_port.filter(|&p| p != 0) {
        options.http_host = cli
            .http_host
            .clone()
            .unwrap_or_else(|| options.host.clone());
        options.http_port_configured = http_port;
        let port = if http_port < 0 { 0 } else { http_port as u16 };
        match tokio::net::TcpListener::bind((options.http_host.as_str(), port)).await {
            Ok(l) => {
                options.http_port = l.local_addr().map(|a| a.port()).unwrap_or(port);
                tracing::info!(
                    "Starting http monitor on {}:{}",
                    options.http_host,
                    options.http_port
                );
                monitor = Some(l);
            }
            Err(e) => {
                tracing::error!(
                    "Error listening on port: {}:{}, \"{}\"",
                    options.http_host,
                    http_port,
                    e
                );
                return ExitCode::from(1);
            }
        }
    }
    let mut routes = None;
    if let (Some(cluster), Some(port)) = (options.cluster.as_mut(), cli.cluster_port) {
        let want = if port < 0 { 0 } else { port as u16 };
        match tokio::net::TcpListener::bind((cluster.host.as_str(), want)).await {
            Ok(l) => {
                cluster.port = l.local_addr().map(|a| a.port()).unwrap_or(want);
                routes = Some(l);
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
    tracing::info!(
        "Listening for client connections on {}:{}",
        options.host,
        bound
    );
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
        let mut body = format!("{{\"nats\":[\"nats://{host}:{bound}\"]");
        if options.http_port != 0 {
            body.push_str(&format!(
                ",\"monitoring\":[\"http://{host}:{}\"]",
                options.http_port
            ));
        }
        body.push('}');
        if let Err(e) = std::fs::write(path, body) {
            tracing::error!("Could not write ports file: {e}");
        }
    }
    tracing::info!("Server is ready");
    let (control_tx, control_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(handle_signals(signals, log, flags, control_tx));
    driver::run(options, listener, monitor, routes, control_rx).await;
    tracing::info!("Server Exiting..");
    if let Some(path) = &ports_file {
        let _ = std::fs::remove_file(path);
    }
    ExitCode::SUCCESS
}

/// The signals the server handles, installed before it listens.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    usr2: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Turns process signals into driver controls: SIGINT and SIGTERM stop
/// the server, SIGUSR2 starts lame duck mode, SIGUSR1 reopens the log file.
async fn handle_signals(
    signals: Signals,
    log: LogTarget,
    flags: Flags,
    control: UnboundedSender<Control>,
) {
    let Signals {
        mut term,
        mut int,
        mut usr1,
        mut usr2,
        mut hup,
    } = signals;
    loop {
        let ctl = tokio::select! {
            _ = term.recv() => {
                tracing::info!("Trapped \"terminated\" signal");
                Control::Shutdown
            }
            _ = int.recv() => {
                tracing::info!("Trapped \"interrupt\" signal");
                Control::Shutdown
            }
            _ = hup.recv() => {
                tracing::info!("Trapped \"hangup\" signal");
                let reload = settings::load(&flags).map(|s| Reload {
                    random_port: s.port.is_some_and(|p| p < 0),
                    suffix: s
                        .config_digest
                        .map(|(_, d)| format!(" (sha256:{d})"))
                        .unwrap_or_default(),
                    options: s.options,
                });
                Control::Reload(Box::new(reload))
            }
            _ = usr2.recv() => {
                tracing::info!("Trapped \"user defined signal 2\" signal");
                Control::LameDuck
            }
            _ = usr1.recv() => {
                tracing::info!("Trapped \"user defined signal 1\" signal");
                if log.is_file() {
                    match log.reopen() {
                        Ok(()) => tracing::info!("File log re-opened"),
                        Err(e) => tracing::error!("Failed to re-open log file: {e}"),
                    }
                }
                continue;
            }
        };
        if control.send(ctl).is_err() {
            return;
        }
    }
}
