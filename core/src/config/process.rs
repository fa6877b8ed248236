//! Option processing: the parsed tree into [`ServerConfig`], collecting
//! errors and warnings worded like nats-server's `opts.go`.
//!
//! nats-server reads values with Go type assertions (`v.(int64)`); a wrong
//! type panics, and a deferred handler turns the panic into an error at
//! the last value it looked at, abandoning the rest of that block. Here a
//! type assertion returns [`Panic`], `?` unwinds to the same handler
//! ([`Cx::catch`]) and the same message comes out. Functions that return a
//! nil result after such a panic return `None`; callers that dereference
//! it produce Go's nil-pointer error, as the reference does.

use super::accounts::{parse_account_mappings, parse_accounts};
use super::auth::{parse_authorization, parse_proxies, valid_public_key, PREFIX_OPERATOR};
use super::cluster::{parse_cluster, parse_gateway};
use super::gofmt::{format_duration, parse_duration, quote, GoDuration};
use super::jetstream::parse_jetstream;
use super::leafnode::parse_leaf_nodes;
use super::tls::{gen_tls_check, parse_tls};
use super::types::{ServerConfig, Unsupported, WriteTimeoutPolicy};
use super::value::{Kind, Map, Pos, Value};
use super::websocket::{parse_mqtt, parse_websocket};
use super::{ConfigSource, DiagKind, Diagnostic};

/// A Go runtime panic on its way to the nearest deferred handler.
#[derive(Debug)]
pub(crate) struct Panic(pub String);

/// Result of code that may "panic" like the reference.
pub(crate) type P<T> = Result<T, Panic>;

/// Go's message for using the nil result of a function that panicked.
pub(crate) const NIL_DEREF: &str =
    "runtime error: invalid memory address or nil pointer dereference";

pub(crate) fn nil_deref<T>() -> P<T> {
    Err(Panic(NIL_DEREF.into()))
}

/// The last value looked at (Go's `lt` token), for panic positions.
#[derive(Default)]
pub(crate) struct Lt(pub Option<Pos>);

impl Lt {
    /// Go's `unwrapValue(v, &lt)`.
    pub fn set<'v>(&mut self, v: &'v Value) -> &'v Value {
        self.0 = Some(v.pos.clone());
        v
    }
}

fn conversion(v: &Value, want: &str) -> Panic {
    Panic(format!(
        "interface conversion: interface {{}} is {}, not {}",
        v.kind.go_type(),
        want
    ))
}

/// `v.(string)`.
pub(crate) fn want_str(v: &Value) -> P<&str> {
    v.as_str().ok_or_else(|| conversion(v, "string"))
}

/// `v.(int64)`.
pub(crate) fn want_int(v: &Value) -> P<i64> {
    v.as_int().ok_or_else(|| conversion(v, "int64"))
}

/// `v.(bool)`.
pub(crate) fn want_bool(v: &Value) -> P<bool> {
    v.as_bool().ok_or_else(|| conversion(v, "bool"))
}

/// `v.(map[string]any)`.
pub(crate) fn want_map(v: &Value) -> P<&Map> {
    v.as_map()
        .ok_or_else(|| conversion(v, "map[string]interface {}"))
}

/// `v.([]any)`.
pub(crate) fn want_array(v: &Value) -> P<&[Value]> {
    v.as_array().ok_or_else(|| conversion(v, "[]interface {}"))
}

/// Error and warning collector.
pub(crate) struct Cx<'a> {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub source: &'a dyn ConfigSource,
}

impl Cx<'_> {
    /// `configErr{tk, reason}`.
    pub fn err(&mut self, pos: &Pos, reason: impl Into<String>) {
        self.errors.push(Diagnostic::plain(Some(pos), reason));
    }

    /// An error without a position.
    pub fn err_plain(&mut self, reason: impl Into<String>) {
        self.errors.push(Diagnostic::plain(None, reason));
    }

    /// `unknownConfigFieldErr`, unless the key was used as a variable.
    pub fn unknown(&mut self, v: &Value, field: &str) {
        if !v.used_variable {
            self.errors.push(Diagnostic {
                pos: Some(v.pos.clone()),
                kind: DiagKind::UnknownField(field.to_string()),
                reason: String::new(),
            });
        }
    }

    /// `configWarningErr` (a warning).
    pub fn warn_use(&mut self, pos: &Pos, field: &str, reason: impl Into<String>) {
        self.warnings.push(Diagnostic {
            pos: Some(pos.clone()),
            kind: DiagKind::InvalidUse(field.to_string()),
            reason: reason.into(),
        });
    }

    /// A plain `configErr` appended to the warnings.
    pub fn warn(&mut self, pos: Option<&Pos>, reason: impl Into<String>) {
        self.warnings.push(Diagnostic::plain(pos, reason));
    }

    /// Go's `defer convertPanicToErrorList(&lt, errors)`.
    pub fn catch<T>(&mut self, lt: &Lt, r: P<T>) -> Option<T> {
        match r {
            Ok(t) => Some(t),
            Err(Panic(msg)) => {
                match &lt.0 {
                    Some(p) => self.err(p, msg),
                    None => self.err_plain(format!("encountered panic without a token {msg}")),
                }
                None
            }
        }
    }
}

/// Go's `defer convertPanicToError(&lt, &err)`: the panic becomes the
/// function's error.
pub(crate) fn catch_one<T>(lt: &Lt, r: P<Result<T, Diagnostic>>) -> Result<T, Diagnostic> {
    match r {
        Ok(x) => x,
        Err(Panic(msg)) => Err(Diagnostic::plain(lt.0.as_ref(), msg)),
    }
}

/// nats-server's `parseDuration`: a duration string, or (with a warning)
/// a number of seconds.
pub(crate) fn parse_duration_field(cx: &mut Cx, field: &str, v: &Value) -> P<GoDuration> {
    if let Some(s) = v.as_str() {
        return Ok(match parse_duration(s) {
            Ok(d) => d,
            Err(e) => {
                cx.err(&v.pos, format!("error parsing {field}: {e}"));
                0
            }
        });
    }
    cx.warn_use(
        &v.pos,
        field,
        format!("{field} should be converted to a duration"),
    );
    Ok(want_int(v)?.wrapping_mul(1_000_000_000))
}

/// `write_timeout` values.
pub(crate) fn parse_write_timeout(cx: &mut Cx, v: &Value) -> P<WriteTimeoutPolicy> {
    Ok(match want_str(v)? {
        "default" => WriteTimeoutPolicy::Default,
        "close" => WriteTimeoutPolicy::Close,
        "retry" => WriteTimeoutPolicy::Retry,
        _ => {
            cx.err(
                &v.pos,
                "write_timeout must be 'default', 'close' or 'retry'",
            );
            WriteTimeoutPolicy::Default
        }
    })
}

/// Go's `net.SplitHostPort`.
pub(crate) fn split_host_port(hp: &str) -> Option<(String, String)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 == hp.len() || end + 1 != i {
            return None;
        }
        host = hp[1..end].to_string();
        j = 1;
        k = end + 1;
    } else {
        host = hp[..i].to_string();
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, hp[i + 1..].to_string()))
}

/// nats-server's `parseListen`: a port, or `host:port`.
pub(crate) fn parse_listen(v: &Value) -> Result<(String, i64), String> {
    match &v.kind {
        Kind::Integer(n) => Ok((String::new(), *n)),
        Kind::String(s) => {
            let (host, port) = split_host_port(s)
                .ok_or_else(|| format!("could not parse address string {}", quote(s)))?;
            let port: i64 = port
                .parse()
                .map_err(|_| format!("could not parse port {}", quote(&port)))?;
            Ok((host, port))
        }
        Kind::Bool(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) | Kind::Map(_) => Err(
            format!("expected port or host:port, got {}", v.kind.go_type()),
        ),
    }
}

/// `parseStringArray`: a string or an array of strings.
pub(crate) fn parse_string_array(
    cx: &mut Cx,
    field: &str,
    tk: &Value,
    lt: &mut Lt,
    v: &Value,
) -> Option<Vec<String>> {
    match &v.kind {
        Kind::String(s) => Some(vec![s.clone()]),
        Kind::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for e in a {
                let e = lt.set(e);
                match e.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => cx.err(
                        &e.pos,
                        format!(
                            "error parsing {field}: unsupported type in array {}",
                            e.kind.go_type()
                        ),
                    ),
                }
            }
            Some(out)
        }
        Kind::Bool(_) | Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Map(_) => {
            cx.err(
                &tk.pos,
                format!(
                    "error parsing {field}: unsupported type {}",
                    v.kind.go_type()
                ),
            );
            None
        }
    }
}

/// What processing produced.
pub(crate) struct Output {
    pub opts: ServerConfig,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub unsupported: Vec<Unsupported>,
}

/// Processes a parsed config tree like nats-server's `processConfigFile`.
pub(crate) fn process(path: &str, m: &Map, source: &dyn ConfigSource) -> Output {
    let mut cx = Cx {
        errors: Vec::new(),
        warnings: Vec::new(),
        source,
    };
    let mut o = ServerConfig {
        config_file: path.to_string(),
        ..ServerConfig::default()
    };
    if m.is_empty() {
        cx.warn(None, format!("{path}: config has no values or is empty"));
    }
    // The system account is looked up first (exact key names).
    let sys = m.get("system_account").or_else(|| m.get("system"));
    if let Some(v) = sys {
        match v.as_str() {
            Some(s) => o.system_account = s.to_string(),
            None => cx.err(&v.pos, "system account name must be a string"),
        }
    }
    for (k, v) in m.iter() {
        let mut lt = Lt::default();
        let r = process_line(&mut o, k, v, &mut cx, &mut lt);
        cx.catch(&lt, r);
    }
    if let Some(ac) = &o.auth_callout {
        for acc in &ac.allowed_accounts {
            if !o.accounts.iter().any(|a| a.name == *acc) {
                cx.err_plain(format!(
                    "auth_callout allowed account {} not found in configured accounts",
                    quote(acc)
                ));
            }
        }
    }
    let unsupported = unsupported_keys(m);
    Output {
        opts: o,
        errors: cx.errors,
        warnings: cx.warnings,
        unsupported,
    }
}

/// Top-level keys the engine implements (through [`crate::Options`]).
const SUPPORTED_TOP: &[&str] = &[
    "listen",
    "host",
    "net",
    "port",
    "server_name",
    "max_payload",
    "max_pending",
    "max_control_line",
    "max_connections",
    "max_conn",
    "max_subscriptions",
    "max_subs",
    "ping_interval",
    "ping_max",
    "write_deadline",
    "no_header_support",
    "http",
    "http_port",
    "monitor_port",
    "http_base_path",
    "authorization",
    "max_sub_tokens",
    "max_subscription_tokens",
    "lame_duck_duration",
    "lame_duck_grace_period",
    "debug",
    "trace",
    "logfile",
    "log_file",
    "pidfile",
    "pid_file",
    "ports_file_dir",
    "no_auth_user",
    "accounts",
];

/// `authorization` keys the engine implements.
const SUPPORTED_AUTH: &[&str] = &[
    "user", "username", "pass", "password", "token", "timeout", "users",
];

fn unsupported_keys(m: &Map) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for (k, v) in m.iter() {
        let lk = k.to_lowercase();
        if v.used_variable && !SUPPORTED_TOP.contains(&lk.as_str()) {
            // Only used as a variable: not an option at all.
            continue;
        }
        if !SUPPORTED_TOP.contains(&lk.as_str()) {
            out.push(Unsupported {
                key: k.to_string(),
                pos: v.pos.clone(),
            });
            continue;
        }
        if lk == "accounts" {
            // Accounts with users work; what else an account holds does not
            // yet (imports, exports, limits, mappings, jetstream, ...).
            for (name, acc) in v.as_map().into_iter().flat_map(|am| am.iter()) {
                for (ak, av) in acc.as_map().into_iter().flat_map(|m| m.iter()) {
                    let lak = ak.to_lowercase();
                    if lak != "users" && !av.used_variable {
                        out.push(Unsupported {
                            key: format!("{k}.{name}.{ak}"),
                            pos: av.pos.clone(),
                        });
                    }
                }
            }
        }
        if lk == "authorization" {
            if let Some(am) = v.as_map() {
                for (ak, av) in am.iter() {
                    if !SUPPORTED_AUTH.contains(&ak.to_lowercase().as_str()) && !av.used_variable {
                        out.push(Unsupported {
                            key: format!("{k}.{ak}"),
                            pos: av.pos.clone(),
                        });
                    }
                }
            }
        }
    }
    out
}

fn process_line(o: &mut ServerConfig, k: &str, v: &Value, cx: &mut Cx, lt: &mut Lt) -> P<()> {
    let tk = lt.set(v);
    let lk = k.to_lowercase();
    match lk.as_str() {
        "listen" => match parse_listen(tk) {
            Ok((h, p)) => {
                o.host = h;
                o.port = p;
            }
            Err(e) => cx.err(&tk.pos, e),
        },
        "client_advertise" => o.client_advertise = want_str(tk)?.to_string(),
        "port" => o.port = want_int(tk)?,
        "server_name" => {
            let sn = want_str(tk)?;
            if sn.contains(' ') {
                cx.err(&tk.pos, "server name cannot contain spaces");
                return Ok(());
            }
            o.server_name = sn.to_string();
        }
        "host" | "net" => o.host = want_str(tk)?.to_string(),
        "debug" => o.debug = want_bool(tk)?,
        "trace" => o.trace = want_bool(tk)?,
        "trace_verbose" => {
            o.trace_verbose = want_bool(tk)?;
            o.trace = o.trace_verbose;
        }
        "trace_headers" => {
            o.trace_headers = want_bool(tk)?;
            o.trace = o.trace_headers;
        }
        "logtime" => o.logtime = Some(want_bool(tk)?),
        "logtime_utc" => o.logtime_utc = want_bool(tk)?,
        "mappings" | "maps" => {
            if let Some(maps) = parse_account_mappings(cx, tk) {
                o.mappings = maps;
            }
        }
        "disable_sublist_cache" | "no_sublist_cache" => o.no_sublist_cache = want_bool(tk)?,
        "accounts" => parse_accounts(cx, tk, o),
        "default_sentinel" => o.default_sentinel = want_str(tk)?.to_string(),
        "authorization" => process_authorization(o, tk, cx)?,
        "http" | "https" => match parse_listen(tk) {
            Ok((h, p)) => {
                o.http_host = h;
                if lk == "http" {
                    o.http_port = p;
                } else {
                    o.https_port = p;
                }
            }
            Err(e) => cx.err(&tk.pos, e),
        },
        "http_port" | "monitor_port" => o.http_port = want_int(tk)?,
        "https_port" => o.https_port = want_int(tk)?,
        "http_base_path" => o.http_base_path = want_str(tk)?.to_string(),
        "cluster" => parse_cluster(cx, tk, o),
        "gateway" => parse_gateway(cx, tk, o),
        "leaf" | "leafnodes" => parse_leaf_nodes(cx, tk, o),
        "store_dir" | "storedir" => {
            if !o.store_dir.is_empty() {
                cx.err(&tk.pos, "Duplicate 'store_dir' configuration");
                return Ok(());
            }
            o.store_dir = want_str(tk)?.to_string();
        }
        "jetstream" => {
            if let Err(e) = parse_jetstream(cx, tk, o)? {
                cx.errors.push(e);
            }
        }
        "logfile" | "log_file" => o.log_file = want_str(tk)?.to_string(),
        "logfile_size_limit" | "log_size_limit" => o.log_size_limit = want_int(tk)?,
        "logfile_max_num" | "log_max_num" => o.log_max_files = want_int(tk)?,
        "syslog" => o.syslog = want_bool(tk)?,
        "remote_syslog" => o.remote_syslog = want_str(tk)?.to_string(),
        "pidfile" | "pid_file" => o.pid_file = want_str(tk)?.to_string(),
        "ports_file_dir" => o.ports_file_dir = want_str(tk)?.to_string(),
        "prof_port" => o.prof_port = want_int(tk)?,
        "prof_block_rate" => o.prof_block_rate = want_int(tk)?,
        "max_control_line" | "max_payload" => {
            let n = want_int(tk)?;
            if n > i64::from(i32::MAX) {
                cx.err(&tk.pos, format!("{k} value is too big"));
                return Ok(());
            }
            // Go converts with int32(n): wraps.
            if lk == "max_payload" {
                o.max_payload = n as i32;
            } else {
                o.max_control_line = n as i32;
            }
        }
        "max_pending" => o.max_pending = want_int(tk)?,
        "proxy_protocol" => o.proxy_protocol = want_bool(tk)?,
        "max_connections" | "max_conn" => {
            o.max_conn = want_int(tk)?;
            if o.max_conn == 0 {
                o.max_conn = -1;
            }
        }
        "max_traced_msg_len" => o.max_traced_msg_len = want_int(tk)?,
        "max_subscriptions" | "max_subs" => o.max_subs = want_int(tk)?,
        "max_sub_tokens" | "max_subscription_tokens" => {
            let n = want_int(tk)?;
            if n > 255 {
                cx.err(&tk.pos, format!("{k} value is too big"));
            } else if n <= 0 {
                cx.err(&tk.pos, format!("{k} value can not be negative"));
            } else {
                o.max_sub_tokens = n as u8;
            }
        }
        "ping_interval" => o.ping_interval = parse_duration_field(cx, "ping_interval", tk)?,
        "ping_max" => o.ping_max = want_int(tk)?,
        "tls" => match parse_tls(cx, tk, true) {
            Ok(tc) => {
                if let Err(e) = gen_tls_check(cx, &tc) {
                    cx.err(&tk.pos, e);
                    return Ok(());
                }
                o.tls = Some(tc);
            }
            Err(e) => cx.errors.push(e),
        },
        "ocsp" => process_ocsp(o, tk, cx, lt)?,
        "allow_non_tls" => o.allow_non_tls = want_bool(tk)?,
        "write_deadline" => o.write_deadline = parse_duration_field(cx, "write_deadline", tk)?,
        "write_timeout" => o.write_timeout = parse_write_timeout(cx, tk)?,
        "lame_duck_duration" => {
            let s = want_str(tk)?;
            match parse_duration(s) {
                Err(e) => cx.err(&tk.pos, format!("error parsing lame_duck_duration: {e}")),
                Ok(d) if d < 30_000_000_000 => cx.err(
                    &tk.pos,
                    format!(
                        "invalid lame_duck_duration of {}, minimum is 30 seconds",
                        format_duration(d)
                    ),
                ),
                Ok(d) => o.lame_duck_duration = d,
            }
        }
        "lame_duck_grace_period" => {
            let s = want_str(tk)?;
            match parse_duration(s) {
                Err(e) => cx.err(
                    &tk.pos,
                    format!("error parsing lame_duck_grace_period: {e}"),
                ),
                Ok(d) if d < 0 => cx.err(
                    &tk.pos,
                    "invalid lame_duck_grace_period, needs to be positive",
                ),
                Ok(d) => o.lame_duck_grace_period = d,
            }
        }
        "operator" | "operators" | "roots" | "root" | "root_operators" | "root_operator" => {
            process_operators(o, tk, cx)
        }
        "resolver" | "account_resolver" | "accounts_resolver" => process_resolver(o, tk, cx, lt)?,
        "resolver_tls" => match parse_tls(cx, tk, true) {
            Ok(tc) => {
                if let Err(e) = gen_tls_check(cx, &tc) {
                    cx.err(&tk.pos, e);
                    return Ok(());
                }
                o.resolver_tls = Some(tc);
            }
            Err(e) => cx.errors.push(e),
        },
        "resolver_preload" => {
            let Some(pm) = tk.as_map() else {
                cx.err(
                    &tk.pos,
                    "preload should be a map of account_public_key:account_jwt",
                );
                return Ok(());
            };
            for (key, val) in pm.iter() {
                let val = lt.set(val);
                match val.as_str() {
                    None => cx.err(&val.pos, "preload map value should be a string JWT"),
                    Some(jwt) => {
                        if !looks_like_jwt(jwt) {
                            cx.err(&val.pos, "invalid account JWT");
                            continue;
                        }
                        o.resolver_preload.insert(key.to_string(), jwt.to_string());
                    }
                }
            }
        }
        "resolver_pinned_accounts" => match &tk.kind {
            Kind::String(s) => o.resolver_pinned_accounts = vec![s.clone()],
            Kind::Array(a) => {
                o.resolver_pinned_accounts.clear();
                for e in a {
                    let e = lt.set(e);
                    match e.as_str() {
                        Some(s) => o.resolver_pinned_accounts.push(s.to_string()),
                        None => cx.err(
                            &e.pos,
                            format!(
                                "error parsing resolver_pinned_accounts: unsupported type in array {}",
                                e.kind.go_type()
                            ),
                        ),
                    }
                }
            }
            Kind::Bool(_)
            | Kind::Integer(_)
            | Kind::Float(_)
            | Kind::Datetime(_)
            | Kind::Map(_) => {
                cx.err(
                    &tk.pos,
                    format!(
                        "error parsing resolver_pinned_accounts: unsupported type {}",
                        tk.kind.go_type()
                    ),
                );
            }
        },
        "no_auth_user" => o.no_auth_user = want_str(tk)?.to_string(),
        "system_account" | "system" => {}
        "no_system_account" | "no_system" | "no_sys_acc" => o.no_system_account = want_bool(tk)?,
        "no_header_support" => o.no_header_support = want_bool(tk)?,
        "trusted" | "trusted_keys" => {
            match &tk.kind {
                Kind::String(s) => o.trusted_keys = vec![s.clone()],
                Kind::Array(a) => {
                    let mut keys = Vec::new();
                    for e in a {
                        let e = lt.set(e);
                        match e.as_str() {
                            Some(s) => keys.push(s.to_string()),
                            None => cx.err(
                                &e.pos,
                                format!(
                                    "error parsing trusted: unsupported type in array {}",
                                    e.kind.go_type()
                                ),
                            ),
                        }
                    }
                    o.trusted_keys = keys;
                }
                Kind::Bool(_)
                | Kind::Integer(_)
                | Kind::Float(_)
                | Kind::Datetime(_)
                | Kind::Map(_) => cx.err(
                    &tk.pos,
                    format!(
                        "error parsing trusted: unsupported type {}",
                        tk.kind.go_type()
                    ),
                ),
            }
            let pos = lt.0.clone().unwrap_or_else(|| tk.pos.clone());
            for key in o.trusted_keys.clone() {
                if !valid_public_key(&key, PREFIX_OPERATOR) {
                    cx.err(
                        &pos,
                        format!(
                            "trust key {} required to be a valid public operator nkey",
                            quote(&key)
                        ),
                    );
                }
            }
        }
        "connect_error_reports" => o.connect_error_reports = want_int(tk)?,
        "reconnect_error_reports" => o.reconnect_error_reports = want_int(tk)?,
        "websocket" | "ws" => parse_websocket(cx, tk, o),
        "mqtt" => parse_mqtt(cx, tk, o),
        "server_tags" => match &tk.kind {
            Kind::String(s) => push_tag(&mut o.tags, s),
            Kind::Array(a) => {
                for e in a {
                    match e.as_str() {
                        Some(s) => push_tag(&mut o.tags, s),
                        None => {
                            cx.err(
                                &tk.pos,
                                "error parsing tags: unsupported type *conf.token where string is expected",
                            );
                            break;
                        }
                    }
                }
            }
            Kind::Bool(_)
            | Kind::Integer(_)
            | Kind::Float(_)
            | Kind::Datetime(_)
            | Kind::Map(_) => {
                cx.err(
                    &tk.pos,
                    format!("error parsing tags: unsupported type {}", tk.kind.go_type()),
                );
            }
        },
        "server_metadata" => {
            let Some(mm) = tk.as_map() else {
                cx.err(
                    &tk.pos,
                    format!(
                        "error parsing metadata: unsupported type {}",
                        tk.kind.go_type()
                    ),
                );
                return Ok(());
            };
            for (mk, mv) in mm.iter() {
                let mv = lt.set(mv);
                o.metadata.insert(mk.to_string(), want_str(mv)?.to_string());
            }
        }
        "feature_flags" => {
            let Some(mm) = tk.as_map() else {
                cx.err(
                    &tk.pos,
                    format!(
                        "error parsing feature flags: unsupported type {}",
                        tk.kind.go_type()
                    ),
                );
                return Ok(());
            };
            for (mk, mv) in mm.iter() {
                let mv = lt.set(mv);
                match mv.as_bool() {
                    Some(b) => {
                        o.feature_flags.insert(mk.to_string(), b);
                    }
                    None => {
                        cx.err(
                            &mv.pos,
                            format!(
                                "error parsing feature flag {}: expected bool, got {}",
                                quote(mk),
                                mv.kind.go_type()
                            ),
                        );
                        break;
                    }
                }
            }
        }
        "default_js_domain" => {
            let Some(mm) = tk.as_map() else {
                cx.err(
                    &tk.pos,
                    format!(
                        "error default_js_domain config: unsupported type {}",
                        tk.kind.go_type()
                    ),
                );
                return Ok(());
            };
            for (mk, mv) in mm.iter() {
                let mv = lt.set(mv);
                o.js_default_domain
                    .insert(mk.to_string(), want_str(mv)?.to_string());
            }
        }
        "ocsp_cache" => match &tk.kind {
            Kind::Bool(_) | Kind::Map(_) => o.ocsp_cache = Some(tk.clone()),
            Kind::String(_)
            | Kind::Integer(_)
            | Kind::Float(_)
            | Kind::Datetime(_)
            | Kind::Array(_) => {
                cx.err(
                    &tk.pos,
                    format!("error parsing tags: unsupported type {}", tk.kind.go_type()),
                );
            }
        },
        "no_fast_producer_stall" => o.no_fast_producer_stall = want_bool(tk)?,
        "max_closed_clients" => o.max_closed_clients = want_int(tk)?,
        "proxies" => {
            if let Some(Some(keys)) = parse_proxies(cx, tk) {
                o.proxies_trusted = keys;
            }
        }
        _ => cx.unknown(tk, k),
    }
    Ok(())
}

fn push_tag(tags: &mut Vec<String>, t: &str) {
    // jwt.TagList.Add: lower-cased, trimmed, no duplicates.
    let t = t.trim().to_lowercase();
    if !t.is_empty() && !tags.contains(&t) {
        tags.push(t);
    }
}

/// Shape check of an account JWT (three base64url segments).
fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts.iter().take(2).all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

fn process_authorization(o: &mut ServerConfig, tk: &Value, cx: &mut Cx) -> P<()> {
    let Some(auth) = parse_authorization(cx, tk) else {
        return nil_deref();
    };
    let auth = match auth {
        Ok(a) => a,
        Err(e) => {
            cx.errors.push(e);
            return Ok(());
        }
    };
    o.auth_block_defined = true;
    o.username = auth.user.clone();
    o.password = auth.pass.clone();
    o.proxy_required = auth.proxy_required;
    o.authorization = auth.token.clone();
    o.auth_timeout = auth.timeout;
    o.auth_callout = auth.callout.clone();
    if (!auth.user.is_empty() || !auth.pass.is_empty()) && !auth.token.is_empty() {
        cx.err(&tk.pos, "Cannot have a user/pass and token");
        return Ok(());
    }
    let mut unames: Vec<String> = o
        .users
        .iter()
        .map(|u| u.username.clone())
        .chain(o.nkeys.iter().map(|n| n.nkey.clone()))
        .collect();
    if auth.users.is_some() || !unames.is_empty() {
        if !auth.user.is_empty() {
            cx.err(&tk.pos, "Can not have a single user/pass and a users array");
            return Ok(());
        }
        if !auth.token.is_empty() {
            cx.err(&tk.pos, "Can not have a token and a users array");
            return Ok(());
        }
        if let Some(users) = &auth.users {
            for u in users {
                if unames.contains(&u.username) {
                    cx.err(
                        &tk.pos,
                        format!("Duplicate user {} detected", quote(&u.username)),
                    );
                    return Ok(());
                }
                unames.push(u.username.clone());
            }
            o.users.extend(users.iter().cloned());
        }
    }
    for n in &auth.nkeys {
        if unames.contains(&n.nkey) {
            cx.err(
                &tk.pos,
                format!("Duplicate nkey {} detected", quote(&n.nkey)),
            );
            return Ok(());
        }
        unames.push(n.nkey.clone());
    }
    o.nkeys.extend(auth.nkeys.iter().cloned());
    Ok(())
}

fn process_ocsp(o: &mut ServerConfig, tk: &Value, cx: &mut Cx, lt: &mut Lt) -> P<()> {
    match &tk.kind {
        Kind::Bool(_) => o.ocsp = Some(tk.clone()),
        Kind::Map(m) => {
            for (kk, kv) in m.iter() {
                let kv = lt.set(kv);
                match kk {
                    "mode" => {
                        let mode = want_str(kv)?.to_lowercase();
                        if !matches!(mode.as_str(), "always" | "must" | "never" | "auto") {
                            cx.err(
                                &kv.pos,
                                "error parsing ocsp config: unsupported ocsp mode string",
                            );
                        }
                    }
                    "urls" => {
                        // Go asserts []string, which a parsed array never is.
                        return Err(conversion(kv, "[]string"));
                    }
                    "url" => {
                        want_str(kv)?;
                    }
                    _ => {
                        cx.err(
                            &kv.pos,
                            "error parsing ocsp config: unsupported field string",
                        );
                        return Ok(());
                    }
                }
            }
            o.ocsp = Some(tk.clone());
        }
        Kind::String(_)
        | Kind::Integer(_)
        | Kind::Float(_)
        | Kind::Datetime(_)
        | Kind::Array(_) => {
            cx.err(
                &tk.pos,
                format!(
                    "error parsing ocsp config: unsupported type {}",
                    tk.kind.go_type()
                ),
            );
        }
    }
    Ok(())
}

fn process_operators(o: &mut ServerConfig, tk: &Value, cx: &mut Cx) {
    let mut files = Vec::new();
    match &tk.kind {
        Kind::String(s) => files.push(s.clone()),
        Kind::Array(a) => {
            for e in a {
                match e.as_str() {
                    Some(s) => files.push(s.to_string()),
                    None => {
                        cx.err(
                            &tk.pos,
                            "error parsing operators: unsupported type *conf.token where string is expected",
                        );
                        break;
                    }
                }
            }
        }
        Kind::Bool(_) | Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Map(_) => {
            cx.err(
                &tk.pos,
                format!(
                    "error parsing operators: unsupported type {}",
                    tk.kind.go_type()
                ),
            );
        }
    }
    for f in files {
        // An inline JWT, or a file holding one.
        let text = if looks_like_jwt(f.trim()) {
            f.clone()
        } else {
            match cx.source.read_file(&f) {
                Ok(t) => t,
                Err(e) => {
                    cx.err(&tk.pos, format!("error parsing operator JWT: {e}"));
                    continue;
                }
            }
        };
        if let Err(e) = crate::auth::verify_jwt(&text) {
            if e == "claim failed V2 signature verification" {
                cx.err(&tk.pos, format!("error parsing operator JWT: {e}"));
                continue;
            }
        }
        o.operators.push(f);
    }
}

fn process_resolver(o: &mut ServerConfig, tk: &Value, cx: &mut Cx, lt: &mut Lt) -> P<()> {
    match &tk.kind {
        Kind::String(s) => {
            let u = s.to_uppercase();
            let ok = u.contains("MEM") || u.contains("URL");
            if !ok {
                cx.err(
                    &tk.pos,
                    "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])",
                );
                return Ok(());
            }
            o.resolver = Some(tk.clone());
        }
        Kind::Map(m) => {
            let mut dir = String::new();
            let mut typ = String::new();
            let mut del = false;
            let mut hdel_set = false;
            let mut ttl: GoDuration = 0;
            let mut sync: GoDuration = 0;
            let mut err: Option<String> = None;
            if let Some(v) = m.get("dir") {
                dir = want_str(lt.set(v))?.to_string();
            }
            if let Some(v) = m.get("type") {
                typ = want_str(lt.set(v))?.to_string();
            }
            if let Some(v) = m.get("allow_delete") {
                del = want_bool(lt.set(v))?;
            }
            if let Some(v) = m.get("hard_delete") {
                hdel_set = true;
                want_bool(lt.set(v))?;
            }
            if let Some(v) = m.get("limit") {
                want_int(lt.set(v))?;
            }
            if let Some(v) = m.get("ttl") {
                match parse_duration(want_str(lt.set(v))?) {
                    Ok(d) => ttl = d,
                    Err(e) => err = Some(e),
                }
            }
            if err.is_none() {
                if let Some(v) = m.get("interval") {
                    match parse_duration(want_str(lt.set(v))?) {
                        Ok(d) => sync = d,
                        Err(e) => err = Some(e),
                    }
                }
            }
            if err.is_none() {
                if let Some(v) = m.get("timeout") {
                    if let Err(e) = parse_duration(want_str(lt.set(v))?) {
                        err = Some(e);
                    }
                }
            }
            if let Some(e) = err {
                cx.err(&tk.pos, e);
                return Ok(());
            }
            let check_dir = |cx: &mut Cx| {
                if dir.is_empty() {
                    cx.err(
                        &tk.pos,
                        "dir has no value and needs to point to a directory",
                    );
                }
            };
            let mut known = true;
            match typ.to_uppercase().as_str() {
                "CACHE" => {
                    check_dir(cx);
                    if sync != 0 {
                        cx.err(&tk.pos, "CACHE does not accept sync");
                    }
                    if del {
                        cx.err(&tk.pos, "CACHE does not accept allow_delete");
                    }
                    if hdel_set {
                        cx.err(&tk.pos, "CACHE does not accept hard_delete");
                    }
                }
                "FULL" => {
                    check_dir(cx);
                    if ttl != 0 {
                        cx.err(&tk.pos, "FULL does not accept ttl");
                    }
                    if hdel_set && !del {
                        cx.err(&tk.pos, "hard_delete has no effect without delete");
                    }
                }
                "MEM" | "MEMORY" => {}
                _ => known = false,
            }
            if !known {
                cx.err(
                    &tk.pos,
                    "error parsing account resolver, should be MEM or  URL(\"url\") or a map containing dir and type state=[FULL|CACHE])",
                );
                return Ok(());
            }
            if dir.is_empty() && matches!(typ.to_uppercase().as_str(), "CACHE" | "FULL") {
                // The reference then tries to create the directory "".
                cx.err(&tk.pos, "mkdir : no such file or directory");
                return Ok(());
            }
            o.resolver = Some(tk.clone());
        }
        Kind::Bool(_) | Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) => {
            cx.err(
                &tk.pos,
                format!(
                    "error parsing operator resolver, wrong type {}",
                    tk.kind.go_type()
                ),
            );
        }
    }
    Ok(())
}
