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

use std::collections::BTreeMap;

use super::accounts::{parse_account_mappings, parse_accounts};
use super::auth::{admit_user, parse_authorization, parse_proxies, user_names};
use super::cluster::{parse_cluster, parse_gateway};
use super::context::*;
use super::gofmt::{format_duration, parse_duration, quote, GoDuration};
use super::jetstream::parse_jetstream;
use super::leafnode::parse_leaf_nodes;
use super::tls::tls_config;
use super::types::{ServerConfig, Unsupported};
use super::value::{Kind, Map, Value};
use super::websocket::{parse_mqtt, parse_websocket};
use super::{ConfigSource, Diagnostic};
use crate::nkey::{valid_public_key, PREFIX_OPERATOR};

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
    let mut unsupported = unsupported_keys(m);
    unsupported.extend(super::tls::ignored_tls_keys(m));
    Output {
        opts: o,
        errors: cx.errors,
        warnings: cx.warnings,
        unsupported,
    }
}

/// Top-level keys the engine implements (through [`crate::Options`]).
const SUPPORTED_TOP: &[&str] = &[
    "cluster",
    "gateway",
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
    "leafnodes",
    "leaf",
    "tls",
    "allow_non_tls",
    "https",
    "https_port",
    "ocsp",
    "websocket",
    "ws",
];

/// `websocket` keys the engine implements. The cookies carry JWTs and
/// credentials for operator mode, which the engine does not have yet.
const SUPPORTED_WEBSOCKET: &[&str] = &[
    "listen",
    "host",
    "net",
    "port",
    "advertise",
    "no_tls",
    "tls",
    "compression",
    "same_origin",
    "allowed_origins",
    "handshake_timeout",
    "authorization",
    "authentication",
    "no_auth_user",
    "headers",
];

/// `leafnodes` keys the engine implements.
const SUPPORTED_LEAF: &[&str] = &[
    "host",
    "port",
    "listen",
    "net",
    "advertise",
    "no_advertise",
    "authorization",
    "min_version",
    "isolate_leafnode_interest",
    "remotes",
    "reconnect",
    "reconnect_delay",
    "reconnect_interval",
    "compression",
    "dial_timeout",
    "write_deadline",
    "write_timeout",
    "tls",
];

/// Keys of a leaf remote the engine implements. `jetstream_cluster_migrate`
/// is accepted: it moves JetStream leaders, and without JetStream (whose
/// own key warns) there is nothing to move, as in nats-server.
const SUPPORTED_REMOTE: &[&str] = &[
    "jetstream_cluster_migrate",
    "url",
    "urls",
    "no_randomize",
    "dont_randomize",
    "account",
    "local",
    "hub",
    "deny_imports",
    "deny_import",
    "deny_exports",
    "deny_export",
    "request_isolation",
    "isolate_leafnode_interest",
    "isolate",
    "first_info_timeout",
    "disabled",
    "compression",
    "credentials",
    "creds",
    "nkey",
    "seed",
    "dial_timeout",
    "ignore_discovered_servers",
    "tls",
    "ws_compression",
    "websocket_compress",
    "websocket_compression",
    "ws_no_masking",
    "websocket_no_masking",
];

/// `cluster` keys the engine implements. `pool_size` is accepted: Canopy
/// never pools, and peers that do fall back to one connection (see
/// `crate::route`).
const SUPPORTED_CLUSTER: &[&str] = &[
    "name",
    "host",
    "port",
    "listen",
    "net",
    "routes",
    "advertise",
    "cluster_advertise",
    "no_advertise",
    "connect_retries",
    "authorization",
    "ping_interval",
    "pool_size",
    "compression",
    "tls",
];

/// `gateway` keys the engine implements.
const SUPPORTED_GATEWAY: &[&str] = &[
    "name",
    "host",
    "net",
    "listen",
    "port",
    "advertise",
    "cluster_advertise",
    "authorization",
    "connect_retries",
    "connect_backoff",
    "write_deadline",
    "write_timeout",
    "reject_unknown_cluster",
    "reject_unknown",
    "gateways",
    "tls",
];

/// Keys of a `gateway.gateways` entry the engine implements.
const SUPPORTED_REMOTE_GATEWAY: &[&str] = &["name", "url", "urls", "tls"];

/// `authorization` keys the engine implements.
const SUPPORTED_AUTH: &[&str] = &[
    "user", "username", "pass", "password", "token", "timeout", "users",
];

/// Keys of an account block the engine implements.
const SUPPORTED_ACCOUNT: &[&str] = &["users", "imports", "exports", "msg_trace", "trace_dest"];

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
            // Accounts with users, imports, exports and message tracing
            // work; what else an account holds does not yet (limits,
            // mappings, jetstream, ...).
            for (name, acc) in v.as_map().into_iter().flat_map(|am| am.iter()) {
                for (ak, av) in acc.as_map().into_iter().flat_map(|m| m.iter()) {
                    let lak = ak.to_lowercase();
                    if !SUPPORTED_ACCOUNT.contains(&lak.as_str()) && !av.used_variable {
                        out.push(Unsupported {
                            key: format!("{k}.{name}.{ak}"),
                            pos: av.pos.clone(),
                        });
                    }
                }
            }
        }
        if lk == "cluster" {
            if let Some(cm) = v.as_map() {
                for (ck, cv) in cm.iter() {
                    let lck = ck.to_lowercase();
                    if !SUPPORTED_CLUSTER.contains(&lck.as_str()) && !cv.used_variable {
                        out.push(Unsupported {
                            key: format!("{k}.{ck}"),
                            pos: cv.pos.clone(),
                        });
                    }
                }
            }
        }
        if lk == "leafnodes" || lk == "leaf" {
            leaf_unsupported(k, v, &mut out);
        }
        if lk == "gateway" {
            gateway_unsupported(k, v, &mut out);
        }
        if lk == "websocket" || lk == "ws" {
            for (wk, wv) in v.as_map().into_iter().flat_map(|m| m.iter()) {
                let key = wk.to_lowercase();
                if !SUPPORTED_WEBSOCKET.contains(&key.as_str()) && !wv.used_variable {
                    out.push(Unsupported {
                        key: format!("{k}.{wk}"),
                        pos: wv.pos.clone(),
                    });
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

/// The `leafnodes` keys (and keys of its remotes, named
/// `leafnodes.remotes.<key>`) the engine does not implement yet.
fn leaf_unsupported(k: &str, v: &Value, out: &mut Vec<Unsupported>) {
    let Some(lm) = v.as_map() else {
        return;
    };
    for (lk, lv) in lm.iter() {
        let key = lk.to_lowercase();
        if !SUPPORTED_LEAF.contains(&key.as_str()) && !lv.used_variable {
            out.push(Unsupported {
                key: format!("{k}.{lk}"),
                pos: lv.pos.clone(),
            });
        }
        if key != "remotes" {
            continue;
        }
        for remote in lv.as_array().into_iter().flatten() {
            for (rk, rv) in remote.as_map().into_iter().flat_map(|m| m.iter()) {
                let rkey = rk.to_lowercase();
                if !SUPPORTED_REMOTE.contains(&rkey.as_str()) && !rv.used_variable {
                    out.push(Unsupported {
                        key: format!("{k}.{lk}.{rk}"),
                        pos: rv.pos.clone(),
                    });
                }
            }
        }
    }
}

/// The `gateway` keys (and keys of its entries, named
/// `gateway.gateways.<key>`) the engine does not implement yet.
fn gateway_unsupported(k: &str, v: &Value, out: &mut Vec<Unsupported>) {
    let Some(gm) = v.as_map() else {
        return;
    };
    for (gk, gv) in gm.iter() {
        let key = gk.to_lowercase();
        if !SUPPORTED_GATEWAY.contains(&key.as_str()) && !gv.used_variable {
            out.push(Unsupported {
                key: format!("{k}.{gk}"),
                pos: gv.pos.clone(),
            });
        }
        if key != "gateways" {
            continue;
        }
        for entry in gv.as_array().into_iter().flatten() {
            for (ek, ev) in entry.as_map().into_iter().flat_map(|m| m.iter()) {
                let ekey = ek.to_lowercase();
                if !SUPPORTED_REMOTE_GATEWAY.contains(&ekey.as_str()) && !ev.used_variable {
                    out.push(Unsupported {
                        key: format!("{k}.{gk}.{ek}"),
                        pos: ev.pos.clone(),
                    });
                }
            }
        }
    }
}

fn process_line(o: &mut ServerConfig, k: &str, v: &Value, cx: &mut Cx, lt: &mut Lt) -> P<()> {
    let tk = lt.set(v);
    let lk = k.to_lowercase();
    match lk.as_str() {
        "listen" => set_listen(cx, tk, &mut o.host, &mut o.port),
        "client_advertise" => o.client_advertise = want_string(tk)?,
        "port" => o.port = want_int(tk)?,
        "server_name" => {
            if let Some(n) = spaceless_name(cx, tk, "server")? {
                o.server_name = n;
            }
        }
        "host" | "net" => o.host = want_string(tk)?,
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
        "default_sentinel" => o.default_sentinel = want_string(tk)?,
        "authorization" => process_authorization(o, tk, cx)?,
        "http" | "https" => {
            let port = if lk == "http" {
                &mut o.http_port
            } else {
                &mut o.https_port
            };
            set_listen(cx, tk, &mut o.http_host, port);
        }
        "http_port" | "monitor_port" => o.http_port = want_int(tk)?,
        "https_port" => o.https_port = want_int(tk)?,
        "http_base_path" => o.http_base_path = want_string(tk)?,
        "cluster" => parse_cluster(cx, tk, o),
        "gateway" => parse_gateway(cx, tk, o),
        "leaf" | "leafnodes" => parse_leaf_nodes(cx, tk, o),
        "store_dir" | "storedir" => {
            if !o.store_dir.is_empty() {
                cx.err(&tk.pos, "Duplicate 'store_dir' configuration");
                return Ok(());
            }
            o.store_dir = want_string(tk)?;
        }
        "jetstream" => {
            parse_jetstream(cx, tk, o)?.record(cx);
        }
        "logfile" | "log_file" => o.log_file = want_string(tk)?,
        "logfile_size_limit" | "log_size_limit" => o.log_size_limit = want_int(tk)?,
        "logfile_max_num" | "log_max_num" => o.log_max_files = want_int(tk)?,
        "syslog" => o.syslog = want_bool(tk)?,
        "remote_syslog" => o.remote_syslog = want_string(tk)?,
        "pidfile" | "pid_file" => o.pid_file = want_string(tk)?,
        "ports_file_dir" => o.ports_file_dir = want_string(tk)?,
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
        "tls" | "resolver_tls" => {
            if let Some(tc) = tls_config(cx, tk, true) {
                let slot = if lk == "tls" {
                    &mut o.tls
                } else {
                    &mut o.resolver_tls
                };
                *slot = Some(tc);
            }
        }
        "ocsp" => process_ocsp(o, tk, cx, lt)?,
        "allow_non_tls" => o.allow_non_tls = want_bool(tk)?,
        "write_deadline" => o.write_deadline = parse_duration_field(cx, "write_deadline", tk)?,
        "write_timeout" => o.write_timeout = parse_write_timeout(cx, tk)?,
        "lame_duck_duration" => match parse_duration_key(cx, tk, &lk)? {
            Some(d) if d < 30_000_000_000 => cx.err(
                &tk.pos,
                format!(
                    "invalid lame_duck_duration of {}, minimum is 30 seconds",
                    format_duration(d)
                ),
            ),
            Some(d) => o.lame_duck_duration = d,
            None => {}
        },
        "lame_duck_grace_period" => match parse_duration_key(cx, tk, &lk)? {
            Some(d) if d < 0 => cx.err(
                &tk.pos,
                "invalid lame_duck_grace_period, needs to be positive",
            ),
            Some(d) => o.lame_duck_grace_period = d,
            None => {}
        },
        "operator" | "operators" | "roots" | "root" | "root_operators" | "root_operator" => {
            process_operators(o, tk, cx)
        }
        "resolver" | "account_resolver" | "accounts_resolver" => process_resolver(o, tk, cx, lt)?,
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
                    Some(jwt) if !looks_like_jwt(jwt) => cx.err(&val.pos, "invalid account JWT"),
                    Some(jwt) => {
                        o.resolver_preload.insert(key.to_string(), jwt.to_string());
                    }
                }
            }
        }
        "resolver_pinned_accounts" => {
            if let Some(a) = parse_string_array(cx, &lk, tk, lt, tk) {
                o.resolver_pinned_accounts = a;
            }
        }
        "no_auth_user" => o.no_auth_user = want_string(tk)?,
        "system_account" | "system" => {}
        "no_system_account" | "no_system" | "no_sys_acc" => o.no_system_account = want_bool(tk)?,
        "no_header_support" => o.no_header_support = want_bool(tk)?,
        "trusted" | "trusted_keys" => {
            if let Some(keys) = parse_string_array(cx, "trusted", tk, lt, tk) {
                o.trusted_keys = keys;
            }
            let pos = lt.0.clone().unwrap_or_else(|| tk.pos.clone());
            for key in &o.trusted_keys {
                if !valid_public_key(key, PREFIX_OPERATOR) {
                    cx.err(
                        &pos,
                        format!(
                            "trust key {} required to be a valid public operator nkey",
                            quote(key)
                        ),
                    );
                }
            }
        }
        "connect_error_reports" => o.connect_error_reports = want_int(tk)?,
        "reconnect_error_reports" => o.reconnect_error_reports = want_int(tk)?,
        "websocket" | "ws" => parse_websocket(cx, tk, o),
        "mqtt" => parse_mqtt(cx, tk, o),
        "server_tags" => {
            for t in string_list(cx, tk, "tags") {
                push_tag(&mut o.tags, &t);
            }
        }
        "server_metadata" => string_map(cx, lt, tk, "error parsing metadata", &mut o.metadata)?,
        "feature_flags" => {
            let Some(mm) = tk.as_map() else {
                cx.errors
                    .push(unsupported_type(tk, "error parsing feature flags"));
                return Ok(());
            };
            for (mk, mv) in mm.iter() {
                let mv = lt.set(mv);
                let Some(b) = mv.as_bool() else {
                    cx.err(
                        &mv.pos,
                        format!(
                            "error parsing feature flag {}: expected bool, got {}",
                            quote(mk),
                            mv.kind.go_type()
                        ),
                    );
                    break;
                };
                o.feature_flags.insert(mk.to_string(), b);
            }
        }
        "default_js_domain" => {
            let what = "error default_js_domain config";
            string_map(cx, lt, tk, what, &mut o.js_default_domain)?;
        }
        "ocsp_cache" => match &tk.kind {
            Kind::Bool(_) | Kind::Map(_) => o.ocsp_cache = Some(tk.clone()),
            Kind::String(_)
            | Kind::Integer(_)
            | Kind::Float(_)
            | Kind::Datetime(_)
            | Kind::Array(_) => cx.errors.push(unsupported_type(tk, "error parsing tags")),
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

/// A duration string (`error parsing {key}: ...` otherwise). `None`: the
/// error was recorded.
fn parse_duration_key(cx: &mut Cx, tk: &Value, key: &str) -> P<Option<GoDuration>> {
    Ok(match parse_duration(want_str(tk)?) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.err(&tk.pos, format!("error parsing {key}: {e}"));
            None
        }
    })
}

/// A string or an array of strings, for `server_tags` and `operators`
/// (`error parsing {what}: ...`); the strings before a bad element are
/// kept.
fn string_list(cx: &mut Cx, tk: &Value, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    match &tk.kind {
        Kind::String(s) => out.push(s.clone()),
        Kind::Array(a) => {
            for e in a {
                let Some(s) = e.as_str() else {
                    cx.err(
                        &tk.pos,
                        format!("error parsing {what}: unsupported type *conf.token where string is expected"),
                    );
                    break;
                };
                out.push(s.to_string());
            }
        }
        Kind::Bool(_) | Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Map(_) => {
            cx.errors
                .push(unsupported_type(tk, &format!("error parsing {what}")));
        }
    }
    out
}

/// A map of strings into `out` (`server_metadata`, `default_js_domain`;
/// `{what}: unsupported type ...` when not a map).
fn string_map(
    cx: &mut Cx,
    lt: &mut Lt,
    tk: &Value,
    what: &str,
    out: &mut BTreeMap<String, String>,
) -> P<()> {
    let Some(m) = tk.as_map() else {
        cx.errors.push(unsupported_type(tk, what));
        return Ok(());
    };
    for (k, v) in m.iter() {
        out.insert(k.to_string(), want_string(lt.set(v))?);
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
    let auth = parse_authorization(cx, tk).ok_or_else(nil_panic)?;
    let Some(auth) = auth.record(cx) else {
        return Ok(());
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
    let mut unames = user_names(o);
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
                if !admit_user(cx, &mut unames, &u.username, "user", Some(&tk.pos)) {
                    return Ok(());
                }
            }
            o.users.extend(users.iter().cloned());
        }
    }
    for n in &auth.nkeys {
        if !admit_user(cx, &mut unames, &n.nkey, "nkey", Some(&tk.pos)) {
            return Ok(());
        }
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
            cx.errors
                .push(unsupported_type(tk, "error parsing ocsp config"));
        }
    }
    Ok(())
}

fn process_operators(o: &mut ServerConfig, tk: &Value, cx: &mut Cx) {
    let files = string_list(cx, tk, "operators");
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
        o.operator_jwts.push(text);
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
