//! `canopy`: a NATS server that takes nats-server's command line.

use canopy_core::options::VERSION;
use canopy_core::{ClientAuth, Options};
use canopy_tokio::{driver, logging::NatsFormat};
use std::process::ExitCode;
use tracing::Level;

/// Command-line settings that are not engine options.
#[derive(Debug, Default)]
struct Cli {
    port: Option<i32>,
    debug: bool,
    trace: bool,
    log_file: Option<String>,
    pid_file: Option<String>,
    ports_file_dir: Option<String>,
    user: Option<String>,
    pass: Option<String>,
    token: Option<String>,
    config: Option<String>,
}

const USAGE: &str = "Usage: canopy [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1 for random)
    -n, --name, --server_name <name> Server name (default: auto)
    -P, --pid <file>                 File to store PID
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -DV                              Debug and trace

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
";

fn flag_error(flag: &str) -> ExitCode {
    eprintln!("flag provided but not defined: -{flag}\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut options = Options::default();
    let mut cli = Cli::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(stripped) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            eprintln!("canopy: unexpected argument {arg:?}\n{USAGE}");
            return ExitCode::from(2);
        };
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (stripped, None),
        };
        const VALUE_FLAGS: &[&str] = &[
            "a",
            "addr",
            "net",
            "p",
            "port",
            "n",
            "name",
            "server_name",
            "P",
            "pid",
            "ports_file_dir",
            "l",
            "log",
            "user",
            "pass",
            "auth",
            "c",
            "config",
        ];
        let is_bool = matches!(
            name,
            "D" | "debug" | "V" | "trace" | "DV" | "VV" | "DVV" | "h" | "help" | "v" | "version"
        );
        if !is_bool && !VALUE_FLAGS.contains(&name) {
            return flag_error(name);
        }
        let value = if is_bool {
            inline.unwrap_or_default()
        } else if let Some(v) = inline {
            v
        } else if i < args.len() {
            i += 1;
            args[i - 1].clone()
        } else {
            eprintln!("flag needs an argument: -{name}\n{USAGE}");
            return ExitCode::from(2);
        };
        match name {
            "a" | "addr" | "net" => options.host = value,
            "p" | "port" => match value.parse::<i32>() {
                Ok(p) => cli.port = Some(p),
                Err(_) => {
                    eprintln!("invalid value {value:?} for flag -{name}: parse error\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "n" | "name" | "server_name" => options.server_name = value,
            "P" | "pid" => cli.pid_file = Some(value),
            "ports_file_dir" => cli.ports_file_dir = Some(value),
            "l" | "log" => cli.log_file = Some(value),
            "D" | "debug" => cli.debug = value != "false",
            "V" | "trace" | "VV" => cli.trace = value != "false",
            "DV" | "DVV" => {
                cli.debug = true;
                cli.trace = true;
            }
            "user" => cli.user = Some(value),
            "pass" => cli.pass = Some(value),
            "auth" => cli.token = Some(value),
            "c" | "config" => cli.config = Some(value),
            "h" | "help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "v" | "version" => {
                println!(
                    "canopy: v{} (nats-server v{VERSION} compatible)",
                    env!("CARGO_PKG_VERSION")
                );
                return ExitCode::SUCCESS;
            }
            other => return flag_error(other),
        }
    }
    if let Some(path) = cli.config.clone() {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("nats-server: {path}: {e}");
                return ExitCode::from(1);
            }
        };
        match canopy_tokio::simple_config::apply(&text, &mut options) {
            Ok(file) => {
                if cli.port.is_none() {
                    cli.port = file.port;
                }
            }
            Err(e) => {
                eprintln!("nats-server: {path}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if let Some(token) = cli.token.clone() {
        options.auth = ClientAuth::Token(token);
    } else if let (Some(user), Some(password)) = (cli.user.clone(), cli.pass.clone()) {
        options.auth = ClientAuth::UserPassword { user, password };
    }
    init_logging(&cli);
    let runtime = match build_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("canopy: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve(options, cli))
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

fn init_logging(cli: &Cli) {
    let level = if cli.trace {
        Level::TRACE
    } else if cli.debug {
        Level::DEBUG
    } else {
        Level::INFO
    };
    let builder = tracing_subscriber::fmt()
        .event_format(NatsFormat::new())
        .with_max_level(level);
    let file = cli.log_file.as_ref().and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    match file {
        Some(f) => builder.with_writer(std::sync::Mutex::new(f)).init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
}

async fn serve(mut options: Options, cli: Cli) -> ExitCode {
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
    tracing::info!("Starting nats-server");
    tracing::info!(
        "  Version:  {VERSION} (canopy {})",
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!(
        "Listening for client connections on {}:{}",
        options.host,
        bound
    );
    if let Some(path) = &cli.pid_file {
        if let Err(e) = std::fs::write(path, pid.to_string()) {
            tracing::error!("Could not write pidfile: {e}");
        }
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
        let body = format!("{{\"nats\":[\"nats://{host}:{bound}\"]}}");
        if let Err(e) = std::fs::write(path, body) {
            tracing::error!("Could not write ports file: {e}");
        }
    }
    tracing::info!("Server is ready");
    driver::run(options, listener, shutdown_signal()).await;
    tracing::info!("Server Exiting..");
    if let Some(path) = &ports_file {
        let _ = std::fs::remove_file(path);
    }
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("Trapped \"terminated\" signal"),
        _ = int.recv() => tracing::info!("Trapped \"interrupt\" signal"),
    }
}
