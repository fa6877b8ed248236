//! nats-server's command line, parsed the way Go's `flag` package parses
//! it (`-x` and `--x` alike, `-x=v` and `-x v` for valued flags, booleans
//! only as `-x` or `-x=false`, parsing stops at the first non-flag word),
//! with nats-server 2.15.1's messages and exit codes.
//!
//! Pure: arguments in, [`Flags`] or a [`CliExit`] (what to print and the
//! exit code) out. The adapter prints, signals and serves.

/// Flags given on the command line; `None` means "not given", so the
/// config file's value (or the default) stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-a/--addr/--net`.
    pub addr: Option<String>,
    /// `-p/--port` (`-1`: random).
    pub port: Option<i64>,
    /// `-n/--name/--server_name`.
    pub server_name: Option<String>,
    /// `-P/--pid`.
    pub pid_file: Option<String>,
    /// `-m/--http_port`.
    pub http_port: Option<i64>,
    /// `-ms/--https_port`.
    pub https_port: Option<i64>,
    /// `-c/--config`.
    pub config: Option<String>,
    /// `-t`: check the configuration and exit.
    pub test_config: bool,
    /// `-sl/--signal <cmd>[=<pid|pidfile>]`.
    pub signal: Option<String>,
    /// `--client_advertise`.
    pub client_advertise: Option<String>,
    /// `--ports_file_dir`.
    pub ports_file_dir: Option<String>,
    /// `-l/--log`.
    pub log_file: Option<String>,
    /// `-T/--logtime`.
    pub logtime: Option<bool>,
    /// `--logtime_utc`.
    pub logtime_utc: Option<bool>,
    /// `-s/--syslog`.
    pub syslog: Option<bool>,
    /// `-r/--remote_syslog`.
    pub remote_syslog: Option<String>,
    /// `-D/--debug` (also set by `-DV`, `-DVV`).
    pub debug: Option<bool>,
    /// `-V/--trace` (also set by `-VV`, `-DV`, `-DVV`).
    pub trace: Option<bool>,
    /// `-VV`, `-DVV`: trace the system account too.
    pub trace_verbose: Option<bool>,
    /// `--log_size_limit`.
    pub log_size_limit: Option<i64>,
    /// `--max_traced_msg_len`.
    pub max_traced_msg_len: Option<i64>,
    /// `-js/--jetstream`.
    pub jetstream: Option<bool>,
    /// `-sd/--store_dir`.
    pub store_dir: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--pass`.
    pub pass: Option<String>,
    /// `--auth`.
    pub auth: Option<String>,
    /// `--tls`.
    pub tls: Option<bool>,
    /// `--tlscert`.
    pub tls_cert: Option<String>,
    /// `--tlskey`.
    pub tls_key: Option<String>,
    /// `--tlsverify`.
    pub tls_verify: Option<bool>,
    /// `--tlscacert`.
    pub tls_ca_cert: Option<String>,
    /// `--routes`.
    pub routes: Option<String>,
    /// `--cluster` / `--cluster_listen`.
    pub cluster: Option<String>,
    /// `--cluster_name`.
    pub cluster_name: Option<String>,
    /// `--no_advertise`.
    pub no_advertise: Option<bool>,
    /// `--cluster_advertise`.
    pub cluster_advertise: Option<String>,
    /// `--connect_retries`.
    pub connect_retries: Option<i64>,
    /// `--profile`.
    pub profile: Option<i64>,
}

/// The command line ended the program before serving: print these and
/// exit with `code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliExit {
    /// Text for standard output.
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
    /// Process exit code.
    pub code: u8,
}

/// The version line `-v` prints: nats-server's, so scripts that read the
/// version keep working, then Canopy's own.
pub fn version_line() -> String {
    format!(
        "nats-server: v{} (canopy v{})",
        crate::options::VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Flags, CliExit> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        i += 1;
        let body = if let Some(rest) = arg.strip_prefix("--") {
            if rest.is_empty() {
                break; // "--" ends the flags
            }
            rest
        } else {
            &arg[1..]
        };
        if body.starts_with('-') || body.starts_with('=') {
            return Err(usage_error(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(target) = lookup(name) else {
            return Err(usage_error(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        if let Target::Bool(set) = target {
            let value = inline.unwrap_or("true");
            let Some(b) = go_parse_bool(value) else {
                return Err(usage_error(format!(
                    "invalid boolean value {value:?} for -{name}: parse error"
                )));
            };
            set(&mut p, b);
            continue;
        }
        let value = match inline {
            Some(v) => v.to_string(),
            None => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => return Err(usage_error(format!("flag needs an argument: -{name}"))),
            },
        };
        match target {
            Target::Int(slot) => {
                let Some(n) = go_parse_int(&value) else {
                    return Err(usage_error(format!(
                        "invalid value {value:?} for flag -{name}: parse error"
                    )));
                };
                *slot(&mut p.flags) = Some(n);
            }
            Target::Str(slot) => *slot(&mut p.flags) = Some(value),
            Target::Bool(_) => {}
        }
    }
    let text = |stdout: String| CliExit {
        stdout,
        stderr: String::new(),
        code: 0,
    };
    if p.version {
        return Err(text(format!("{}\n", version_line())));
    }
    if p.help {
        return Err(text(format!("{}\n", usage())));
    }
    if p.help_tls {
        return Err(text(format!("{TLS_USAGE}\n")));
    }
    if let Some(command) = args.get(i) {
        return Err(match command.as_str() {
            "version" => text(format!("{}\n", version_line())),
            "help" => text(format!("{}\n", usage())),
            other => CliExit {
                stdout: String::new(),
                stderr: format!("nats-server: unrecognized command: {other:?}\n"),
                code: 1,
            },
        });
    }
    if p.flags.test_config && p.flags.config.is_none() {
        return Err(CliExit {
            stdout: String::new(),
            stderr: "nats-server: must specify [-c, --config] option to check configuration file syntax\n".to_string(),
            code: 1,
        });
    }
    Ok(p.flags)
}

/// The usage text (`-h`).
pub fn usage() -> String {
    format!("\n{USAGE}")
}

/// A parse error: the message on stderr, the usage on stdout, exit 0 (as
/// nats-server 2.15.1 does).
fn usage_error(message: String) -> CliExit {
    CliExit {
        stdout: format!("{}\n", usage()),
        stderr: format!("{message}\n"),
        code: 0,
    }
}

/// Go's `strconv.ParseBool`.
pub fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, `0x`/`0o`/`0b`
/// prefixes, a leading `0` for octal, `_` between digits.
pub fn go_parse_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.is_empty() {
        return None;
    }
    // Underscores: only between digits, or right after a base prefix.
    let bytes = digits.as_bytes();
    for (k, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let prev_ok = if k == 0 {
                prefixed
            } else {
                bytes[k - 1] != b'_'
            };
            if !prev_ok || k + 1 == bytes.len() {
                return None;
            }
        }
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            Some((magnitude as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Where a flag's value goes, by the flag's type.
#[derive(Clone, Copy)]
enum Target {
    Bool(fn(&mut Parsed, bool)),
    Int(fn(&mut Flags) -> &mut Option<i64>),
    Str(fn(&mut Flags) -> &mut Option<String>),
}

/// Flags plus the switches that end the program before serving.
#[derive(Default)]
struct Parsed {
    flags: Flags,
    help: bool,
    help_tls: bool,
    version: bool,
}

fn lookup(name: &str) -> Option<Target> {
    use Target::{Bool, Int, Str};
    Some(match name {
        "a" | "addr" | "net" => Str(|f| &mut f.addr),
        "p" | "port" => Int(|f| &mut f.port),
        "n" | "name" | "server_name" => Str(|f| &mut f.server_name),
        "P" | "pid" => Str(|f| &mut f.pid_file),
        "m" | "http_port" => Int(|f| &mut f.http_port),
        "ms" | "https_port" => Int(|f| &mut f.https_port),
        "c" | "config" => Str(|f| &mut f.config),
        "t" => Bool(|p, b| p.flags.test_config = b),
        "sl" | "signal" => Str(|f| &mut f.signal),
        "client_advertise" => Str(|f| &mut f.client_advertise),
        "ports_file_dir" => Str(|f| &mut f.ports_file_dir),
        "l" | "log" => Str(|f| &mut f.log_file),
        "T" | "logtime" => Bool(|p, b| p.flags.logtime = Some(b)),
        "logtime_utc" => Bool(|p, b| p.flags.logtime_utc = Some(b)),
        "s" | "syslog" => Bool(|p, b| p.flags.syslog = Some(b)),
        "r" | "remote_syslog" => Str(|f| &mut f.remote_syslog),
        "D" | "debug" => Bool(|p, b| p.flags.debug = Some(b)),
        "V" | "trace" => Bool(|p, b| p.flags.trace = Some(b)),
        "VV" => Bool(|p, b| {
            p.flags.trace = Some(b);
            p.flags.trace_verbose = Some(b);
        }),
        "DV" => Bool(|p, b| {
            p.flags.debug = Some(b);
            p.flags.trace = Some(b);
        }),
        "DVV" => Bool(|p, b| {
            p.flags.debug = Some(b);
            p.flags.trace = Some(b);
            p.flags.trace_verbose = Some(b);
        }),
        "log_size_limit" => Int(|f| &mut f.log_size_limit),
        "max_traced_msg_len" => Int(|f| &mut f.max_traced_msg_len),
        "js" | "jetstream" => Bool(|p, b| p.flags.jetstream = Some(b)),
        "sd" | "store_dir" => Str(|f| &mut f.store_dir),
        "user" => Str(|f| &mut f.user),
        "pass" => Str(|f| &mut f.pass),
        "auth" => Str(|f| &mut f.auth),
        "tls" => Bool(|p, b| p.flags.tls = Some(b)),
        "tlscert" => Str(|f| &mut f.tls_cert),
        "tlskey" => Str(|f| &mut f.tls_key),
        "tlsverify" => Bool(|p, b| p.flags.tls_verify = Some(b)),
        "tlscacert" => Str(|f| &mut f.tls_ca_cert),
        "routes" => Str(|f| &mut f.routes),
        "cluster" | "cluster_listen" => Str(|f| &mut f.cluster),
        "cluster_name" => Str(|f| &mut f.cluster_name),
        "no_advertise" => Bool(|p, b| p.flags.no_advertise = Some(b)),
        "cluster_advertise" => Str(|f| &mut f.cluster_advertise),
        "connect_retries" => Int(|f| &mut f.connect_retries),
        "profile" => Int(|f| &mut f.profile),
        "h" | "help" => Bool(|p, b| p.help = b),
        "help_tls" => Bool(|p, b| p.help_tls = b),
        "v" | "version" => Bool(|p, b| p.version = b),
        _ => return None,
    })
}

/// What `--signal` asks for: the command word and its target. The word is
/// checked with [`SignalCommand::from_name`] only after the target is
/// resolved, in nats-server's order of errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalRequest {
    /// The command word as given.
    pub command: String,
    /// A pid or a pid file path; `None`: find the one running server.
    pub target: Option<String>,
}

/// The signals `--signal` can send, and the POSIX signal of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalCommand {
    /// Lame duck mode (SIGUSR2).
    Ldm,
    /// Kill (SIGKILL).
    Stop,
    /// Graceful shutdown (SIGINT).
    Quit,
    /// Graceful shutdown (SIGTERM).
    Term,
    /// Reopen the log file (SIGUSR1).
    Reopen,
    /// Reload the configuration (SIGHUP).
    Reload,
}

impl SignalCommand {
    /// The POSIX signal name without `SIG`.
    pub fn signal_name(self) -> &'static str {
        match self {
            SignalCommand::Ldm => "USR2",
            SignalCommand::Stop => "KILL",
            SignalCommand::Quit => "INT",
            SignalCommand::Term => "TERM",
            SignalCommand::Reopen => "USR1",
            SignalCommand::Reload => "HUP",
        }
    }

    /// The command word.
    pub fn name(self) -> &'static str {
        match self {
            SignalCommand::Ldm => "ldm",
            SignalCommand::Stop => "stop",
            SignalCommand::Quit => "quit",
            SignalCommand::Term => "term",
            SignalCommand::Reopen => "reopen",
            SignalCommand::Reload => "reload",
        }
    }
}

/// Splits `--signal`'s value: `cmd` or `cmd=pid|pidfile`.
pub fn parse_signal(value: &str) -> SignalRequest {
    match value.split_once('=') {
        Some((c, t)) => SignalRequest {
            command: c.to_string(),
            target: Some(t.to_string()),
        },
        None => SignalRequest {
            command: value.to_string(),
            target: None,
        },
    }
}

impl SignalCommand {
    /// The command for a word, or nats-server's refusal.
    pub fn from_name(name: &str) -> Result<SignalCommand, String> {
        Ok(match name {
            "ldm" => SignalCommand::Ldm,
            "stop" => SignalCommand::Stop,
            "quit" => SignalCommand::Quit,
            "term" => SignalCommand::Term,
            "reopen" => SignalCommand::Reopen,
            "reload" => SignalCommand::Reload,
            other => return Err(format!("unknown signal {other:?}")),
        })
    }
}

const USAGE: &str = "Usage: canopy [options]   (nats-server 2.15.1's command line)

Server Options:
    -a, --addr, --net <host>         Listen on this host (default: 0.0.0.0)
    -p, --port <port>                Client port (default: 4222, -1 for a random port)
    -n, --name, --server_name <name> Server name (default: the server id)
    -P, --pid <file>                 Write the process id to this file
    -m, --http_port <port>           HTTP monitoring port
    -ms,--https_port <port>          HTTPS monitoring port
    -c, --config <file>              Configuration file
    -t                               Check the configuration file and exit
    -sl,--signal <signal>[=<pid>]    Signal a running server (ldm, stop, quit, term, reopen, reload);
                                     <pid> is a process id or a pid file path
        --client_advertise <string>  Client URL advertised to other servers
        --ports_file_dir <dir>       Write <dir>/nats-server_<pid>.ports with the listen URLs

Logging Options:
    -l, --log <file>                 Log to this file
    -T, --logtime                    Timestamps on log lines (default: true)
        --logtime_utc                Timestamps in UTC (default: false)
    -s, --syslog                     Log to syslog
    -r, --remote_syslog <addr>       Remote syslog address (udp://localhost:514)
    -D, --debug                      Debug output
    -V, --trace                      Trace the protocol
    -VV                              Verbose trace (system account too)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace
        --log_size_limit <limit>     Rotate the log file at this size
        --max_traced_msg_len <len>   Longest message payload shown in traces

JetStream Options:
    -js, --jetstream                 JetStream (not supported by canopy)
    -sd, --store_dir <dir>           JetStream storage directory

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Token required for connections

TLS Options:
        --tls                        TLS without client verification
        --tlscert <file>             Server certificate
        --tlskey <file>              Server certificate key
        --tlsverify                  TLS with client certificate verification
        --tlscacert <file>           CA for client certificates

Cluster Options:
        --routes <url,url>           Routes to solicit
        --cluster <url>              Cluster listen URL
        --cluster_listen <url>       Same as --cluster
        --cluster_name <string>      Cluster name
        --no_advertise <bool>        Do not advertise cluster URLs to clients
        --cluster_advertise <string> Cluster URL advertised to other servers
        --connect_retries <number>   Connect retries for implicit routes

Profiling Options:
        --profile <port>             Profiling HTTP port

Common Options:
    -h, --help                       This message
    -v, --version                    The version
        --help_tls                   TLS help
";

const TLS_USAGE: &str = "TLS Options:
    --tls                  Enable TLS without verifying clients
    --tlscert <file>       Server certificate (PEM)
    --tlskey <file>        Private key of the server certificate (PEM)
    --tlsverify            Enable TLS and verify client certificates
    --tlscacert <file>     CA certificates for verifying clients (PEM)
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn err(s: &str) -> CliExit {
        parse(&args(s)).expect_err(s)
    }

    #[test]
    fn go_flag_forms() {
        let f = parse(&args("-p 1 --addr=127.0.0.1 -n=x --DV -m 8222 -c f.conf")).unwrap();
        assert_eq!(f.port, Some(1));
        assert_eq!(f.addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(f.server_name.as_deref(), Some("x"));
        assert_eq!((f.debug, f.trace), (Some(true), Some(true)));
        assert_eq!(f.http_port, Some(8222));
        assert_eq!(f.config.as_deref(), Some("f.conf"));
        let f = parse(&args("-D=false -T=0 --port=-1")).unwrap();
        assert_eq!(f.debug, Some(false));
        assert_eq!(f.logtime, Some(false));
        assert_eq!(f.port, Some(-1));
    }

    #[test]
    fn errors_as_nats_server() {
        // Observed from nats-server 2.15.1: message on stderr, usage on
        // stdout, exit code 0.
        let e = err("-badflag");
        assert_eq!(e.stderr, "flag provided but not defined: -badflag\n");
        assert!(e.stdout.starts_with("\nUsage: "));
        assert_eq!(e.code, 0);
        assert_eq!(err("-p").stderr, "flag needs an argument: -p\n");
        assert_eq!(err("--routes").stderr, "flag needs an argument: -routes\n");
        assert_eq!(
            err("-p x").stderr,
            "invalid value \"x\" for flag -p: parse error\n"
        );
        assert_eq!(
            err("-D=maybe").stderr,
            "invalid boolean value \"maybe\" for -D: parse error\n"
        );
        assert_eq!(err("---x").stderr, "bad flag syntax: ---x\n");
        assert_eq!(err("-=x").stderr, "bad flag syntax: -=x\n");
        let e = err("foo");
        assert_eq!(e.stderr, "nats-server: unrecognized command: \"foo\"\n");
        assert_eq!(e.code, 1);
        // A bool flag does not take the next word: it becomes a command.
        assert_eq!(
            err("-D false").stderr,
            "nats-server: unrecognized command: \"false\"\n"
        );
        assert_eq!(
            err("-- -p 1").stderr,
            "nats-server: unrecognized command: \"-p\"\n"
        );
        let e = err("-t");
        assert_eq!(
            e.stderr,
            "nats-server: must specify [-c, --config] option to check configuration file syntax\n"
        );
        assert_eq!(e.code, 1);
    }

    #[test]
    fn version_and_help() {
        for a in ["-v", "--version", "version", "-v extra", "-D=false -v"] {
            let e = err(a);
            assert!(
                e.stdout.starts_with("nats-server: v2.15.1 (canopy v"),
                "{a}"
            );
            assert_eq!(e.code, 0);
        }
        for a in ["-h", "help"] {
            let e = err(a);
            assert!(e.stdout.contains("Usage: "), "{a}");
            assert_eq!(e.code, 0);
        }
        // `-h=false` serves.
        assert!(parse(&args("-h=false")).is_ok());
    }

    #[test]
    fn go_integers() {
        for (s, v) in [
            ("0x10", 16),
            ("1_0", 10),
            ("+5", 5),
            ("-1", -1),
            ("010", 8),
            ("0b11", 3),
            ("0o17", 15),
            ("0", 0),
            ("0x_1", 1),
        ] {
            assert_eq!(go_parse_int(s), Some(v), "{s}");
        }
        for s in [
            "",
            "x",
            "1__0",
            "_1",
            "1_",
            "0x",
            "08",
            "99999999999999999999",
            "1.5",
        ] {
            assert_eq!(go_parse_int(s), None, "{s}");
        }
        assert_eq!(go_parse_int("-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn signals() {
        assert_eq!(
            parse_signal("reload=/tmp/x.pid"),
            SignalRequest {
                command: "reload".into(),
                target: Some("/tmp/x.pid".into())
            }
        );
        assert_eq!(parse_signal("ldm").target, None);
        assert_eq!(
            SignalCommand::from_name("ldm").map(SignalCommand::signal_name),
            Ok("USR2")
        );
        assert_eq!(
            SignalCommand::from_name("bogus"),
            Err("unknown signal \"bogus\"".into())
        );
    }
}
