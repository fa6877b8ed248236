//! nats-server configuration files: lexer, parser, typed options and
//! validation, behaving like nats-server 2.15.1 (`-c FILE`, `-t`).
//!
//! The engine never touches the file system or the environment: the
//! caller injects both through [`ConfigSource`]. [`MemorySource`] serves
//! tests and embedders.
//!
//! # Flow
//!
//! ```text
//! load(path, source)
//!   ├─ parser::parse_file   lexical rules, `$VAR`, env fallback, include
//!   │                       Err -> ConfigError::Parse   (one message)
//!   └─ process              typed ServerConfig, like opts.go
//!                           errors   -> ConfigError::Invalid
//!                           warnings -> Config::warnings
//! Config::validate()        the checks nats-server makes when the server
//!                           is created (not part of `-t`)
//! Config::apply_to(&mut Options)
//! ```
//!
//! # Printing like nats-server
//!
//! * Any `Err(e)`: print `nats-server: {e}` (the text of `e` already
//!   ends with a newline when it is a list of diagnostics) and exit 1.
//! * `-t` with `Ok(c)`: if `c.warnings` is not empty, warnings are fatal:
//!   print `nats-server: {c.warnings_text()}` and exit 1. Otherwise print
//!   `nats-server: configuration file {path} is valid (sha256:{hex})`
//!   where `hex` is the SHA-256 of [`Config::digest_input`].
//! * Without `-t`: print [`Config::warnings_text`] to stderr as is, then
//!   run [`Config::validate`] (`nats-server: {e}`, exit 1 on error).
//!
//! The reference iterates Go maps, so with several errors its order is
//! random; here diagnostics come in source order.

use std::collections::BTreeMap;
use std::fmt;

pub mod gofmt;
pub mod lexer;
pub mod parser;
pub mod value;

mod accounts;
mod apply;
mod auth;
mod cluster;
mod context;
mod jetstream;
pub(crate) mod leafnode;
mod listener;
mod process;
mod tls;
mod types;
mod validate;
mod websocket;

#[cfg(test)]
mod tests;

pub use accounts::{AccountOpts, ExportOpts, ImportOpts, MappingDest};
pub use auth::{AuthCallout, AuthorizationOpts, NkeyUser, Permissions, SubjectPermission, User};
pub use cluster::{ClusterOpts, CompressionOpts, GatewayOpts, RemoteGatewayOpts};
pub use jetstream::JetStreamOpts;
pub use leafnode::{LeafNodeOpts, LeafProxyOpts, LeafUser, RemoteLeafOpts};
pub use tls::TlsOpts;
pub use types::{ServerConfig, Unsupported, WriteTimeoutPolicy};
pub use value::{Kind, Map, Pos, Value};
pub use websocket::{MqttOpts, WebsocketOpts};

/// File reads and environment lookups, injected by the caller.
pub trait ConfigSource {
    /// Reads a whole file. On failure return the text Go's `os.ReadFile`
    /// error prints, e.g. `open a.conf: no such file or directory`.
    fn read_file(&self, path: &str) -> Result<String, String>;
    /// Looks up an environment variable.
    fn env(&self, name: &str) -> Option<String>;
    /// The operating system's trusted root certificates, PEM (empty: none
    /// known). A `tls {}` block that must check a peer's certificate and
    /// names no `ca_file` checks it against these, as Go does.
    fn system_roots(&self) -> String {
        String::new()
    }
}

/// An in-memory [`ConfigSource`] (files by exact path, environment).
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    files: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    roots: String,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    pub fn with_file(mut self, path: &str, text: &str) -> Self {
        self.files.insert(path.to_string(), text.to_string());
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets the system roots ([`ConfigSource::system_roots`]).
    pub fn with_system_roots(mut self, pem: &str) -> Self {
        self.roots = pem.to_string();
        self
    }
}

impl ConfigSource for MemorySource {
    fn read_file(&self, path: &str) -> Result<String, String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| format!("open {path}: no such file or directory"))
    }

    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    fn system_roots(&self) -> String {
        self.roots.clone()
    }
}

/// How a diagnostic is worded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiagKind {
    /// `file:line:col: reason` (or just `reason` without a position).
    Plain,
    /// `file:line:col: unknown field "name"`.
    UnknownField(String),
    /// `file:line:col: invalid use of field "name": reason`.
    InvalidUse(String),
}

/// One configuration error or warning, worded like nats-server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where, when the reference reports a position.
    pub pos: Option<Pos>,
    /// Shape of the message.
    pub kind: DiagKind,
    /// The reason text (empty for unknown fields).
    pub reason: String,
}

impl Diagnostic {
    pub(crate) fn plain(pos: Option<&Pos>, reason: impl Into<String>) -> Self {
        Diagnostic {
            pos: pos.cloned(),
            kind: DiagKind::Plain,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pos = match &self.pos {
            Some(p) => p.to_string(),
            None => String::from(":0:0"),
        };
        match &self.kind {
            DiagKind::Plain => match &self.pos {
                Some(p) => write!(f, "{}: {}", p, self.reason),
                None => f.write_str(&self.reason),
            },
            DiagKind::UnknownField(name) => {
                write!(f, "{}: unknown field {}", pos, gofmt::quote(name))
            }
            DiagKind::InvalidUse(name) => write!(
                f,
                "{}: invalid use of field {}: {}",
                pos,
                gofmt::quote(name),
                self.reason
            ),
        }
    }
}

/// Why a configuration was rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigError {
    /// The file could not be read or parsed (syntax, include, variable):
    /// a single message, no trailing newline.
    Parse(String),
    /// The file parsed but some options are wrong. Printed as warnings
    /// then errors, one per line, each followed by a newline.
    Invalid {
        /// Hard errors (never empty).
        errors: Vec<Diagnostic>,
        /// Warnings reported alongside.
        warnings: Vec<Diagnostic>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Parse(m) => f.write_str(m),
            ConfigError::Invalid { errors, warnings } => {
                for w in warnings {
                    writeln!(f, "{w}")?;
                }
                for e in errors {
                    writeln!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

/// A configuration that parsed and passed option processing.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The typed options.
    pub opts: ServerConfig,
    /// Warnings (fatal under `-t`, printed otherwise).
    pub warnings: Vec<Diagnostic>,
    /// Keys present in the file that Canopy does not implement yet.
    pub unsupported: Vec<Unsupported>,
    /// The parsed tree.
    pub tree: Map,
    /// The system roots ([`ConfigSource::system_roots`]), read when some
    /// `tls {}` block may need them (empty otherwise).
    pub system_roots: String,
}

impl Config {
    /// The bytes whose SHA-256 nats-server prints as the config digest:
    /// Go's `json.Encoder` output for the parsed tree (with its newline).
    pub fn digest_input(&self) -> String {
        let mut out = String::new();
        value::to_go_json(&self.tree, &mut out);
        out.push('\n');
        out
    }

    /// The warnings as nats-server prints them: one per line, each ending
    /// with a newline.
    pub fn warnings_text(&self) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&w.to_string());
            out.push('\n');
        }
        out
    }

    /// The checks nats-server makes when it creates the server (after the
    /// config file was accepted; `-t` does not run them). `Err` holds the
    /// message printed after `nats-server: `.
    pub fn validate(&self) -> Result<(), String> {
        validate::validate(&self.opts)
    }

    /// nats-server accepts any client port in the file and fails only when
    /// it listens: for a port outside `-1..=65535` this is the fatal log
    /// text it prints (`[FTL] ...`) before exiting.
    pub fn listen_error(&self) -> Option<String> {
        let o = &self.opts;
        if (-1..=65535).contains(&o.port) {
            return None;
        }
        let host = if o.host.is_empty() {
            "0.0.0.0"
        } else {
            &o.host
        };
        Some(format!(
            "Error listening on port: {host}:{}, \"listen tcp: address {}: invalid port\"",
            o.port, o.port
        ))
    }

    /// Copies the options the engine has onto `o` (server name, host,
    /// port, limits, ping, write deadline, `authorization` user/password/
    /// token/timeout, headers, monitoring host/port/base path), with
    /// nats-server's defaults for zero values. Apply the file first, then
    /// the command-line flags (flags win). A real port (1..=65535) is
    /// copied; `0` means the default client port (4222) or, for
    /// `http_port`, no monitoring; `-1` (random) and out-of-range ports
    /// leave `port`/`http_port` at 0: check [`Config::listen_error`] and
    /// bind `-1` yourself, reading the raw [`ServerConfig::port`] /
    /// [`ServerConfig::http_port`].
    ///
    /// `tls {}` blocks become [`crate::tls::TlsSettings`] with the files
    /// already read (see [`crate::Options::tls`] and the `tls` fields of the
    /// cluster, leaf and gateway options for what each kind gets).
    pub fn apply_to(&self, o: &mut crate::Options) {
        apply::apply(&self.opts, &self.system_roots, o);
    }

    /// Why the TLS of this configuration cannot be served by canopy: the
    /// first key that asks for something canopy lacks and whose absence
    /// would fail open (OCSP, several certificates, checking peers against
    /// known URLs), as `file:line:col: block: key is not supported by
    /// canopy`. nats-server accepts these files; canopy refuses to start.
    pub fn tls_refusal(&self) -> Option<String> {
        tls::refusals(&self.tree).into_iter().next()
    }
}

pub use tls::apply_tls_flags;

/// Reads, parses and processes the config file at `path`.
pub fn load(path: &str, source: &dyn ConfigSource) -> Result<Config, ConfigError> {
    let tree = parser::parse_file(path, source).map_err(ConfigError::Parse)?;
    finish(path, tree, source)
}

/// Like [`load`] for text that did not come from a file (positions name
/// an empty file, like nats-server's `ProcessConfigString`).
pub fn load_str(text: &str, source: &dyn ConfigSource) -> Result<Config, ConfigError> {
    let tree = parser::parse_str(text, source).map_err(ConfigError::Parse)?;
    finish("", tree, source)
}

fn finish(path: &str, tree: Map, source: &dyn ConfigSource) -> Result<Config, ConfigError> {
    let out = process::process(path, &tree, source);
    if !out.errors.is_empty() {
        return Err(ConfigError::Invalid {
            errors: out.errors,
            warnings: out.warnings,
        });
    }
    let system_roots = if tls::any_tls(&out.opts) {
        source.system_roots()
    } else {
        String::new()
    };
    Ok(Config {
        opts: out.opts,
        warnings: out.warnings,
        unsupported: out.unsupported,
        tree,
        system_roots,
    })
}
