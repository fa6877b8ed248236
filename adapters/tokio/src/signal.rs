//! Signals: [`trap`] turns the ones a running server gets into driver
//! controls; [`send`] is `canopy --signal <cmd>[=<pid|pidfile>]`, which
//! sends a running server the signal for a command, with nats-server
//! 2.15.1's messages.

use crate::logging::LogTarget;
use crate::settings;
use canopy_core::cli::{Flags, SignalCommand, SignalRequest};
use canopy_driver::{Control, Reload};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

/// Traps SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 from now on and
/// handles them on a thread of their own, so they work the same on every
/// runtime: SIGINT and SIGTERM stop the server, SIGHUP re-reads the
/// settings (`flags` and the config file) for a reload, SIGUSR2 starts
/// lame duck mode, SIGUSR1 reopens the log file.
pub fn trap(
    log: LogTarget,
    flags: Flags,
    control: async_channel::Sender<Control>,
) -> std::io::Result<()> {
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2])?;
    std::thread::Builder::new()
        .name("canopy-signals".to_string())
        .spawn(move || {
            for signal in signals.forever() {
                let Some(ctl) = handle(signal, &log, &flags) else {
                    continue;
                };
                if control.send_blocking(ctl).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Logs a trapped signal as nats-server does; what the server must do.
fn handle(signal: i32, log: &LogTarget, flags: &Flags) -> Option<Control> {
    match signal {
        SIGTERM => {
            tracing::info!("Trapped \"terminated\" signal");
            Some(Control::Shutdown)
        }
        SIGINT => {
            tracing::info!("Trapped \"interrupt\" signal");
            Some(Control::Shutdown)
        }
        SIGHUP => {
            tracing::info!("Trapped \"hangup\" signal");
            let reload = settings::load(flags).map(|s| Reload {
                random_port: s.port.is_some_and(|p| p < 0),
                suffix: s
                    .config_digest
                    .map(|(_, d)| format!(" (sha256:{d})"))
                    .unwrap_or_default(),
                options: s.options,
            });
            Some(Control::Reload(Box::new(reload)))
        }
        SIGUSR2 => {
            tracing::info!("Trapped \"user defined signal 2\" signal");
            Some(Control::LameDuck)
        }
        SIGUSR1 => {
            tracing::info!("Trapped \"user defined signal 1\" signal");
            if log.is_file() {
                match log.reopen() {
                    Ok(()) => tracing::info!("File log re-opened"),
                    Err(e) => tracing::error!("Failed to re-open log file: {e}"),
                }
            }
            None
        }
        _ => None,
    }
}

/// Sends the signal; `Err` is the message for stderr (exit code 1).
pub fn send(request: &SignalRequest) -> Result<(), String> {
    let pid = match &request.target {
        Some(target) => resolve_pid(target)?,
        None => find_running()?,
    };
    let command = SignalCommand::from_name(&request.command)?;
    let signal = match command {
        SignalCommand::Ldm => Signal::SIGUSR2,
        SignalCommand::Stop => Signal::SIGKILL,
        SignalCommand::Quit => Signal::SIGINT,
        SignalCommand::Term => Signal::SIGTERM,
        SignalCommand::Reopen => Signal::SIGUSR1,
        SignalCommand::Reload => Signal::SIGHUP,
    };
    kill(Pid::from_raw(pid), signal).map_err(|e| {
        // Go's texts for the two errors kill(2) gives in practice.
        let text = if e == nix::errno::Errno::ESRCH {
            "no such process".to_string()
        } else if e == nix::errno::Errno::EPERM {
            "operation not permitted".to_string()
        } else {
            e.desc().to_ascii_lowercase()
        };
        format!("\nsignal {:?} {pid}: {text}", command.name())
    })
}

/// A pid, or the content of a pid file (exactly digits, as nats-server
/// writes it: a trailing newline makes it invalid there too).
fn resolve_pid(target: &str) -> Result<i32, String> {
    if let Ok(pid) = target.parse::<i32>() {
        return Ok(pid);
    }
    let text = std::fs::read_to_string(target).unwrap_or_else(|_| target.to_string());
    text.parse::<i32>()
        .map_err(|_| format!("invalid pid: {text}"))
}

/// The one other `canopy` process on this machine.
fn find_running() -> Result<i32, String> {
    let me = std::process::id() as i32;
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim_end() == "canopy")
                .unwrap_or(false)
        })
        .collect();
    pids.sort_unstable();
    match pids.as_slice() {
        [] => Err("no canopy processes running".to_string()),
        [pid] => Ok(*pid),
        many => Err(format!(
            "multiple canopy processes running:\n{}",
            many.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}
