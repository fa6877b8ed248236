//! Everything the binary runs with: the config file, then the command-line
//! flags over it (flags win), as nats-server merges them. Loaded at start
//! and again on reload (SIGHUP).

use canopy_core::cli::Flags;
use canopy_core::config::gofmt::{quote, GoUrl};
use canopy_core::config::{self, ConfigSource};
use canopy_core::tls::{TlsClock, TlsSettings};
use canopy_core::{ClientAuth, Options};
use sha2::{Digest, Sha256};

/// Files and environment for the config reader, from the real system.
pub struct FsSource;

impl ConfigSource for FsSource {
    fn read_file(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| {
            // Go's os.ReadFile wording.
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "no such file or directory".to_string()
            } else if e.kind() == std::io::ErrorKind::PermissionDenied {
                "permission denied".to_string()
            } else {
                e.to_string()
            };
            format!("open {path}: {why}")
        })
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    /// The system's trusted roots, found as Go's `crypto/x509` finds them
    /// on Unix: `SSL_CERT_FILE` or the first bundle file that exists, else
    /// the certificates in `SSL_CERT_DIR` (or the usual directories).
    fn system_roots(&self) -> String {
        const FILES: [&str; 7] = [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/ssl/ca-bundle.pem",
            "/etc/pki/tls/cacert.pem",
            "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
            "/etc/ssl/cert.pem",
            "/usr/local/etc/openssl/cert.pem",
        ];
        let file = std::env::var("SSL_CERT_FILE").ok();
        for path in file.iter().map(String::as_str).chain(FILES) {
            if let Ok(text) = std::fs::read_to_string(path) {
                return text;
            }
        }
        let dirs = std::env::var("SSL_CERT_DIR")
            .unwrap_or_else(|_| "/etc/ssl/certs:/etc/pki/tls/certs".to_string());
        let mut out = String::new();
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    if text.contains("-----BEGIN CERTIFICATE-----") {
                        out.push_str(&text);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }
}

/// The outcome of `-t`: the text for stderr and the exit code.
pub fn test_config(path: &str) -> (String, u8) {
    match config::load(path, &FsSource) {
        // Printed with Go's Fprintln: a list of diagnostics (which ends in
        // a newline already) gets a blank line after it.
        Err(e) => (format!("nats-server: {e}\n"), 1),
        Ok(c) if !c.warnings.is_empty() => (format!("nats-server: {}\n", c.warnings_text()), 1),
        Ok(c) => {
            let mut options = Options::default();
            c.apply_to(&mut options);
            match c.tls_refusal().map_or_else(|| check_tls(&options), Err) {
                Err(why) => (format!("nats-server: {why}\n"), 1),
                Ok(()) => (
                    format!(
                        "nats-server: configuration file {path} is valid (sha256:{})\n",
                        digest(&c)
                    ),
                    0,
                ),
            }
        }
    }
}

/// Builds every `tls {}` of `options` as the engine will (nats-server
/// loads its certificates while reading the config): `Err` names the
/// block and why it cannot be served.
pub fn check_tls(options: &Options) -> Result<(), String> {
    let mut blocks: Vec<(String, &TlsSettings)> = Vec::new();
    blocks.extend(options.tls.iter().map(|t| ("tls".to_string(), t)));
    if let Some(c) = &options.cluster {
        blocks.extend(c.tls.iter().map(|t| ("cluster.tls".to_string(), t)));
    }
    if let Some(l) = &options.leaf {
        blocks.extend(l.tls.iter().map(|t| ("leafnodes.tls".to_string(), t)));
        for (i, r) in l.remotes.iter().enumerate() {
            let label = format!("leafnodes.remotes[{}].tls", i + 1);
            blocks.extend(r.tls.iter().map(|t| (label.clone(), t)));
        }
    }
    if let Some(g) = &options.gateway {
        blocks.extend(g.tls.iter().map(|t| ("gateway.tls".to_string(), t)));
        for r in &g.gateways {
            let label = format!("gateway.gateways[{}].tls", r.name);
            blocks.extend(r.tls.iter().map(|t| (label.clone(), t)));
        }
    }
    if blocks.is_empty() {
        return Ok(());
    }
    let provider = canopy_core::tls::provider(&[0; 32]);
    let clock = TlsClock::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    clock.set(now);
    for (label, settings) in blocks {
        if let Err(e) = canopy_core::tls::build(settings, &provider, &clock) {
            return Err(format!("{label}: {e}"));
        }
    }
    Ok(())
}

/// The SHA-256 nats-server prints for a configuration.
fn digest(c: &config::Config) -> String {
    let hash = Sha256::digest(c.digest_input().as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Engine options plus what only the binary uses.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The engine's options.
    pub options: Options,
    /// Client port as given (`-1`: random); `None`: the default.
    pub port: Option<i32>,
    /// Monitoring port as given (`-1`: random); `None`: no monitoring.
    pub http_port: Option<i32>,
    /// HTTPS monitoring port as given (`-1`: random); `None`: none.
    pub https_port: Option<i32>,
    /// Route port as given (`-1`: random); `None`: not clustered.
    pub cluster_port: Option<i32>,
    /// Leaf port as given (`-1`: random); `None`: no leaf listener.
    pub leaf_port: Option<i32>,
    /// Gateway port as given (`-1`: random); `None`: no gateway.
    pub gateway_port: Option<i32>,
    /// Monitoring host from the file (`http: host:port`); otherwise the
    /// client host.
    pub http_host: Option<String>,
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
    pub unsupported: Vec<String>,
    /// Config-file warnings, printed at start-up as nats-server does.
    pub warnings: String,
    /// The config file and its digest, for the start-up and reload lines.
    pub config_digest: Option<(String, String)>,
    /// A client port the file names that cannot be listened on: the
    /// fatal log line nats-server prints when it tries.
    pub listen_error: Option<String>,
}

/// Reads the config file named by `flags` (if any) and applies the flags
/// over it. `Err` is the message nats-server would print.
pub fn load(flags: &Flags) -> Result<Settings, String> {
    let mut s = Settings::default();
    let mut file = None;
    if let Some(path) = &flags.config {
        let c = config::load(path, &FsSource).map_err(|e| e.to_string())?;
        c.validate()?;
        if let Some(why) = c.tls_refusal() {
            return Err(why);
        }
        if let Some(why) = url_resolver_refusal(&c) {
            return Err(format!("{path}: {why}"));
        }
        c.apply_to(&mut s.options);
        read_resolver_dir(&mut s.options)?;
        let o = &c.opts;
        if o.port != 0 {
            s.port = i32::try_from(o.port).ok();
        }
        if o.http_port != 0 {
            s.http_port = i32::try_from(o.http_port).ok();
        }
        if o.https_port != 0 {
            s.https_port = i32::try_from(o.https_port).ok();
        }
        if o.cluster.port != 0 {
            s.cluster_port = i32::try_from(o.cluster.port).ok();
        }
        if o.leafnode.port != 0 {
            s.leaf_port = i32::try_from(o.leafnode.port).ok();
        }
        if o.gateway.port != 0 && !o.gateway.name.is_empty() {
            s.gateway_port = i32::try_from(o.gateway.port).ok();
        }
        if !o.http_host.is_empty() {
            s.http_host = Some(o.http_host.clone());
        }
        s.debug = o.debug;
        s.trace = o.trace;
        s.log_file = (!o.log_file.is_empty()).then(|| o.log_file.clone());
        s.pid_file = (!o.pid_file.is_empty()).then(|| o.pid_file.clone());
        s.ports_file_dir = (!o.ports_file_dir.is_empty()).then(|| o.ports_file_dir.clone());
        s.warnings = c.warnings_text();
        s.listen_error = c.listen_error();
        for u in &c.unsupported {
            s.unsupported
                .push(format!("{} ({u_pos})", u.key, u_pos = u.pos));
        }
        s.config_digest = Some((path.clone(), digest(&c)));
        file = Some(c);
    }
    if let Some(addr) = &flags.addr {
        s.options.host = addr.clone();
    }
    for (given, slot) in [
        (flags.port, &mut s.port),
        (flags.http_port, &mut s.http_port),
        (flags.https_port, &mut s.https_port),
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
    apply_cluster_flags(flags, &mut s)?;
    if let Some(d) = flags.debug {
        s.debug = d;
    }
    if let Some(t) = flags.trace {
        s.trace = t;
    }
    for (given, slot) in [
        (&flags.log_file, &mut s.log_file),
        (&flags.pid_file, &mut s.pid_file),
        (&flags.ports_file_dir, &mut s.ports_file_dir),
    ] {
        if given.is_some() {
            slot.clone_from(given);
        }
    }
    config::apply_tls_flags(flags, file.as_ref(), &mut s.options, &FsSource)?;
    check_tls(&s.options)?;
    for (given, name) in [
        (flags.jetstream == Some(true), "-js/--jetstream (JetStream)"),
        (
            flags.syslog == Some(true) || flags.remote_syslog.is_some(),
            "-s/-r (syslog)",
        ),
        (flags.profile.is_some(), "--profile"),
    ] {
        if given {
            s.unsupported.push(name.to_string());
        }
    }
    Ok(s)
}

/// `--cluster`, `--routes`, `--cluster_name`, `--cluster_advertise`,
/// `--no_advertise`, `--connect_retries`: over the config file's cluster.
fn apply_cluster_flags(flags: &Flags, s: &mut Settings) -> Result<(), String> {
    let any = flags.cluster.is_some()
        || flags.routes.is_some()
        || flags.cluster_name.is_some()
        || flags.cluster_advertise.is_some()
        || flags.no_advertise.is_some()
        || flags.connect_retries.is_some();
    if !any {
        return Ok(());
    }
    let mut c = s.options.cluster.take().unwrap_or_default();
    if let Some(url) = &flags.cluster {
        // nats-server: url.Parse, then net.SplitHostPort of its host.
        let parsed = GoUrl::parse(url).map_err(|e| format!("parse {}: {e}", quote(url.trim())))?;
        let (host, port) = match parsed.host.rsplit_once(':') {
            Some((h, p)) if !parsed.host.is_empty() => (h.to_string(), p.to_string()),
            _ if parsed.host.is_empty() => return Err("missing port in address".into()),
            _ => return Err(format!("address {}: missing port in address", parsed.host)),
        };
        let port: i32 = port.parse().map_err(|_| format!("invalid port {port}"))?;
        if !(-1..=i32::from(u16::MAX)).contains(&port) {
            return Err(format!("invalid port {port}"));
        }
        c.host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if c.host.is_empty() {
            c.host = "0.0.0.0".to_string();
        }
        s.cluster_port = Some(port);
        c.port = if port > 0 { port as u16 } else { 0 };
    }
    if let Some(routes) = &flags.routes {
        c.routes = routes
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .filter_map(canopy_core::route::RouteAddr::parse)
            .collect();
    }
    if let Some(name) = &flags.cluster_name {
        c.name = name.clone();
    }
    if let Some(a) = &flags.cluster_advertise {
        c.advertise = a.clone();
    }
    if let Some(b) = flags.no_advertise {
        c.no_advertise = b;
    }
    if let Some(n) = flags.connect_retries {
        c.connect_retries = u32::try_from(n).unwrap_or(0);
    }
    // As in nats-server, routes are solicited only with a cluster port.
    if s.cluster_port.is_none() && !c.routes.is_empty() {
        return Err("solicited routes require cluster capabilities, e.g. --cluster".into());
    }
    if s.cluster_port.is_some() {
        s.options.cluster = Some(c);
    }
    Ok(())
}

/// A `URL(...)` account resolver: the engine makes no HTTP requests, so
/// canopy refuses it at start rather than run without the accounts it
/// would fetch.
fn url_resolver_refusal(c: &config::Config) -> Option<String> {
    let value = c.opts.resolver.as_ref()?;
    let canopy_core::config::Kind::String(text) = &value.kind else {
        return None;
    };
    text.to_uppercase().contains("URL").then(|| {
        "resolver: URL(...) account resolvers are not supported by canopy (it makes no \
         outbound HTTP requests); use MEMORY with resolver_preload, or { type: full, dir: ... }"
            .to_string()
    })
}

/// Operator mode with a `full` or `cache` resolver: makes its directory
/// (as nats-server does) and hands the engine every account JWT in it
/// (`<dir>/<account>.jwt`).
pub fn read_resolver_dir(options: &mut canopy_core::Options) -> Result<(), String> {
    let Some(trust) = options.trust.as_mut() else {
        return Ok(());
    };
    let Some(dir) = trust.resolver.dir().map(str::to_string) else {
        return Ok(());
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("open {dir}: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jwt"))
        .collect();
    names.sort();
    for p in names {
        if let Ok(text) = std::fs::read_to_string(&p) {
            trust.stored.push(text);
        }
    }
    Ok(())
}
