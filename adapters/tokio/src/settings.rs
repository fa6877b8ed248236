//! Everything the binary runs with: the config file, then the command-line
//! flags over it (flags win), as nats-server merges them. Loaded at start
//! and again on reload (SIGHUP).

use canopy_core::cli::Flags;
use canopy_core::{ClientAuth, Options};

/// Engine options plus what only the binary uses.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The engine's options.
    pub options: Options,
    /// Client port as given (`-1`: random); `None`: the default.
    pub port: Option<i32>,
    /// Monitoring port as given (`-1`: random); `None`: no monitoring.
    pub http_port: Option<i32>,
    /// `-D`.
    pub debug: bool,
    /// `-V`.
    pub trace: bool,
    /// `-l`.
    pub log_file: Option<String>,
    /// `-P`.
    pub pid_file: Option<String>,
    /// `--ports_file_dir`.
    pub ports_file_dir: Option<String>,
    /// Features asked for that canopy does not have yet, for start-up
    /// warnings.
    pub unsupported: Vec<&'static str>,
}

/// Reads the config file named by `flags` (if any) and applies the flags
/// over it. `Err` is the message nats-server would print.
pub fn load(flags: &Flags) -> Result<Settings, String> {
    let mut s = Settings::default();
    if let Some(path) = &flags.config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let file = crate::simple_config::apply(&text, &mut s.options)
            .map_err(|e| format!("{path}: {e}"))?;
        s.port = file.port;
    }
    if let Some(addr) = &flags.addr {
        s.options.host = addr.clone();
    }
    for (given, slot) in [
        (flags.port, &mut s.port),
        (flags.http_port, &mut s.http_port),
    ] {
        if let Some(port) = given {
            match i32::try_from(port) {
                Ok(p) if p <= i32::from(u16::MAX) => *slot = Some(p),
                _ => return Err(format!("invalid port {port}")),
            }
        }
    }
    if let Some(p) = s.port.filter(|&p| p > 0) {
        s.options.port = p as u16;
    }
    if let Some(name) = &flags.server_name {
        s.options.server_name = name.clone();
    }
    if let Some(token) = flags.auth.clone() {
        s.options.auth = ClientAuth::Token(token);
    } else if let (Some(user), Some(password)) = (flags.user.clone(), flags.pass.clone()) {
        s.options.auth = ClientAuth::UserPassword { user, password };
    }
    s.debug = flags.debug.unwrap_or(false);
    s.trace = flags.trace.unwrap_or(false);
    s.log_file = flags.log_file.clone();
    s.pid_file = flags.pid_file.clone();
    s.ports_file_dir = flags.ports_file_dir.clone();
    for (given, name) in [
        (flags.https_port.is_some(), "-ms/--https_port (monitoring)"),
        (flags.jetstream == Some(true), "-js/--jetstream (JetStream)"),
        (
            flags.tls.is_some() || flags.tls_cert.is_some(),
            "--tls (TLS)",
        ),
        (
            flags.routes.is_some() || flags.cluster.is_some(),
            "--routes/--cluster (clustering)",
        ),
        (
            flags.syslog == Some(true) || flags.remote_syslog.is_some(),
            "-s/-r (syslog)",
        ),
        (flags.profile.is_some(), "--profile"),
    ] {
        if given {
            s.unsupported.push(name);
        }
    }
    Ok(s)
}
