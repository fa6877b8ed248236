//! The `leafnodes` block: the accepting side and the `remotes`.

use super::auth::{entry_map, parse_leaf_authorization, parse_perm_subjects};
use super::cluster::{parse_compression, parse_url, parse_urls, CompressionOpts};
use super::context::{
    got_type, got_value, nil_panic, parse_duration_field, parse_write_timeout, want_bool, want_str,
    want_string, Cx, Lt, Record, P,
};
use super::gofmt::{join_path, quote, quote_list, GoDuration, GoUrl};
use super::listener::listener_key;
use super::tls::{tls_config, TlsOpts};
use super::types::{ServerConfig, WriteTimeoutPolicy};
use super::value::{Kind, Value};
use super::Diagnostic;
use crate::nkey::{seed_prefix, PREFIX_USER};

/// A user of `leafnodes.authorization.users`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeafUser {
    /// `user`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `account` to bind to.
    pub account: Option<String>,
    /// `proxy_required`.
    pub proxy_required: bool,
}

/// `remotes[].proxy` (HTTP CONNECT tunnel for ws remotes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeafProxyOpts {
    /// `url`.
    pub url: String,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `timeout`.
    pub timeout: GoDuration,
}

/// One entry of `leafnodes.remotes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteLeafOpts {
    /// `no_randomize` / `dont_randomize`.
    pub no_randomize: bool,
    /// `url` / `urls`.
    pub urls: Vec<GoUrl>,
    /// `account` / `local` (empty: `$G`).
    pub local_account: String,
    /// `credentials` / `creds` (path, `~` and `$VAR` expanded).
    pub credentials: String,
    /// `nkey` / `seed`.
    pub nkey: String,
    /// `tls`.
    pub tls: Option<TlsOpts>,
    /// TLS handshake timeout in seconds (2 when a tls block has none).
    pub tls_timeout: f64,
    /// `tls.handshake_first`.
    pub tls_handshake_first: bool,
    /// `hub`.
    pub hub: bool,
    /// `deny_imports`.
    pub deny_imports: Vec<String>,
    /// `deny_exports`.
    pub deny_exports: Vec<String>,
    /// `ws_compression` (and aliases).
    pub ws_compression: bool,
    /// `ws_no_masking`.
    pub ws_no_masking: bool,
    /// `jetstream_cluster_migrate`.
    pub js_cluster_migrate: bool,
    /// `jetstream_cluster_migrate.leader_migrate_delay`.
    pub js_cluster_migrate_delay: GoDuration,
    /// `isolate_leafnode_interest` / `isolate`.
    pub local_isolation: bool,
    /// `request_isolation`.
    pub request_isolation: bool,
    /// `compression`.
    pub compression: CompressionOpts,
    /// `first_info_timeout`.
    pub first_info_timeout: GoDuration,
    /// `dial_timeout`.
    pub dial_timeout: GoDuration,
    /// `disabled`.
    pub disabled: bool,
    /// `proxy`.
    pub proxy: LeafProxyOpts,
    /// `ignore_discovered_servers`.
    pub ignore_discovered_servers: bool,
}

impl RemoteLeafOpts {
    /// nats-server's remote name: `urls=[...], account="..."[, credentials=...]`.
    pub fn name(&self, redacted: bool) -> String {
        let acc = if self.local_account.is_empty() {
            "$G"
        } else {
            &self.local_account
        };
        let optional = if !self.credentials.is_empty() {
            format!(", credentials={}", quote(&self.credentials))
        } else if !self.nkey.is_empty() {
            if redacted {
                ", nkey=\"[REDACTED]\"".to_string()
            } else {
                format!(", nkey={}", quote(&self.nkey))
            }
        } else {
            String::new()
        };
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|u| {
                if redacted {
                    u.redacted()
                } else {
                    u.to_go_string()
                }
            })
            .collect();
        format!(
            "urls={}, account={}{}",
            quote_list(&urls),
            quote(acc),
            optional
        )
    }
}

/// The `leafnodes` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeafNodeOpts {
    /// Listen host.
    pub host: String,
    /// Listen port (0: no leafnode listener).
    pub port: i64,
    /// `authorization.user`.
    pub username: String,
    /// `authorization.password`.
    pub password: String,
    /// `authorization.proxy_required`.
    pub proxy_required: bool,
    /// `authorization.timeout`.
    pub auth_timeout: f64,
    /// `authorization.account`.
    pub account: String,
    /// `authorization.users`.
    pub users: Vec<LeafUser>,
    /// `authorization.nkey`.
    pub nkey: String,
    /// `remotes`.
    pub remotes: Vec<RemoteLeafOpts>,
    /// `reconnect` (and aliases).
    pub reconnect_interval: GoDuration,
    /// `dial_timeout`.
    pub dial_timeout: GoDuration,
    /// `tls`.
    pub tls: Option<TlsOpts>,
    /// `advertise`.
    pub advertise: String,
    /// `no_advertise`.
    pub no_advertise: bool,
    /// `min_version`.
    pub min_version: String,
    /// `compression`.
    pub compression: CompressionOpts,
    /// `isolate_leafnode_interest`.
    pub isolate_leafnode_interest: bool,
    /// `write_deadline`.
    pub write_deadline: GoDuration,
    /// `write_timeout`.
    pub write_timeout: WriteTimeoutPolicy,
}

/// A semantic version's `(major, minor, patch)`, as nats-server's
/// `min_version` check parses it; `None` when it is not one.
pub(crate) fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let core_end = v.find(['-', '+']).unwrap_or(v.len());
    let (core, rest) = v.split_at(core_end);
    let nums: Vec<&str> = core.split('.').collect();
    if nums.len() != 3 {
        return None;
    }
    let mut out = [0u64; 3];
    for (i, n) in nums.iter().enumerate() {
        if n.is_empty()
            || !n.bytes().all(|b| b.is_ascii_digit())
            || (n.len() > 1 && n.starts_with('0'))
        {
            return None;
        }
        out[i] = n.parse().ok()?;
    }
    let ok_ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let (pre, build) = match rest.split_once('+') {
        Some((p, b)) => (p, Some(b)),
        None => (rest, None),
    };
    if let Some(p) = pre.strip_prefix('-') {
        if !p.split('.').all(ok_ident) {
            return None;
        }
    } else if !pre.is_empty() {
        return None;
    }
    if let Some(b) = build {
        if !b.split('.').all(ok_ident) {
            return None;
        }
    }
    Some((out[0], out[1], out[2]))
}

/// `checkLeafMinVersionConfig`.
pub(crate) fn check_leaf_min_version(v: &str) -> Result<(), String> {
    match semver(v) {
        None => Err("invalid leafnode's minimum version: invalid semver".into()),
        Some(ver) if ver >= (2, 8, 0) => Ok(()),
        Some(_) => Err("the minimum version should be at least 2.8.0".into()),
    }
}

/// `validateLeafNodeAuthOptions`.
pub(crate) fn validate_leaf_auth(l: &LeafNodeOpts) -> Result<(), String> {
    if l.users.is_empty() {
        return Ok(());
    }
    if !l.username.is_empty() {
        return Err("can not have a single user/pass and a users array".into());
    }
    if !l.nkey.is_empty() {
        return Err("can not have a single nkey and a users array".into());
    }
    let mut seen: Vec<&str> = Vec::new();
    for u in &l.users {
        if seen.contains(&u.username.as_str()) {
            return Err(format!(
                "duplicate user {} detected in leafnode authorization",
                quote(&u.username)
            ));
        }
        seen.push(&u.username);
    }
    Ok(())
}

/// `parseLeafNodes`.
pub(crate) fn parse_leaf_nodes(cx: &mut Cx, v: &Value, o: &mut ServerConfig) {
    cx.map_block(v, "Expected map to define a leafnode", |cx, lt, cm| {
        let l = &mut o.leafnode;
        for (mk, mv) in cm.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "authorization" => {
                    let auth = parse_leaf_authorization(cx, tk).ok_or_else(nil_panic)?;
                    let Some((auth, users)) = auth.record(cx) else {
                        continue;
                    };
                    l.username = auth.user;
                    l.password = auth.pass;
                    l.proxy_required = auth.proxy_required;
                    l.auth_timeout = auth.timeout;
                    l.account = auth.account;
                    l.users = users.unwrap_or_default();
                    l.nkey = auth.nkey;
                    if let Err(e) = validate_leaf_auth(l) {
                        cx.err(&tk.pos, e);
                    }
                }
                "remotes" => {
                    if let Some(r) = parse_remote_leaf_nodes(cx, tk).record(cx) {
                        l.remotes = r.unwrap_or_default();
                    }
                }
                "reconnect" | "reconnect_delay" | "reconnect_interval" => {
                    l.reconnect_interval = parse_duration_field(cx, "reconnect", tk)?
                }
                "dial_timeout" => l.dial_timeout = parse_duration_field(cx, "dial_timeout", tk)?,
                "leafnode_advertise" | "advertise" => l.advertise = want_string(tk)?,
                "no_advertise" => l.no_advertise = want_bool(tk)?,
                "min_version" | "minimum_version" => {
                    let version = want_str(tk)?;
                    match check_leaf_min_version(version) {
                        Ok(()) => l.min_version = version.to_string(),
                        Err(e) => cx.err(&tk.pos, e),
                    }
                }
                "compression" => {
                    parse_compression(&mut l.compression, "s2_auto", tk, mk).record(cx);
                }
                "isolate_leafnode_interest" | "isolate" => {
                    l.isolate_leafnode_interest = want_bool(tk)?
                }
                "write_deadline" => {
                    l.write_deadline = parse_duration_field(cx, "write_deadline", tk)?
                }
                "write_timeout" => l.write_timeout = parse_write_timeout(cx, tk)?,
                _ => listener_key(cx, mk, tk, l, true)?,
            }
        }
        Ok(Ok(()))
    });
}

/// `parseLeafUsers`. `None`: it panicked.
pub(crate) fn parse_leaf_users(
    cx: &mut Cx,
    v: &Value,
) -> Option<Result<Vec<LeafUser>, Diagnostic>> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(uv) = tk.as_array() else {
            return Ok(Err(got_value(tk, "Expected users field to be an array")));
        };
        let mut users = Vec::new();
        for u in uv {
            let Some(um) = entry_map(cx, lt, u, "user") else {
                continue;
            };
            let mut user = LeafUser::default();
            for (k, fv) in um.iter() {
                let tk = lt.set(fv);
                match k.to_lowercase().as_str() {
                    "user" | "username" => user.username = want_string(tk)?,
                    "pass" | "password" => user.password = want_string(tk)?,
                    "account" => user.account = Some(want_string(tk)?),
                    "proxy_required" => user.proxy_required = want_bool(tk)?,
                    _ => cx.unknown(tk, k),
                }
            }
            users.push(user);
        }
        Ok(Ok(users))
    })
}

/// Go's `os.ExpandEnv`.
fn expand_env(cx: &Cx, s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut j = 0;
    let special =
        |c: u8| matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || c.is_ascii_digit();
    let alnum = |c: u8| c == b'_' || c.is_ascii_alphanumeric();
    while j < b.len() {
        if b[j] == b'$' && j + 1 < b.len() {
            out.extend_from_slice(&b[i..j]);
            let rest = &b[j + 1..];
            let (name, w): (&[u8], usize) = if rest[0] == b'{' {
                if rest.len() > 2 && special(rest[1]) && rest[2] == b'}' {
                    (&rest[1..2], 3)
                } else {
                    match rest.iter().skip(1).position(|&c| c == b'}') {
                        Some(0) => (&[], 2),
                        Some(p) => (&rest[1..p + 1], p + 2),
                        None => (&[], 1),
                    }
                }
            } else if special(rest[0]) {
                (&rest[0..1], 1)
            } else {
                let n = rest.iter().take_while(|&&c| alnum(c)).count();
                (&rest[..n], n)
            };
            if name.is_empty() && w > 0 {
                // Bad syntax: eaten.
            } else if name.is_empty() {
                out.push(b'$');
            } else {
                let key = String::from_utf8_lossy(name);
                out.extend_from_slice(cx.source.env(&key).unwrap_or_default().as_bytes());
            }
            j += w;
            i = j + 1;
        }
        j += 1;
    }
    out.extend_from_slice(&b[i.min(b.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// nats-server's `expandPath` (`$VAR` and a leading `~`).
fn expand_path(cx: &Cx, p: &str) -> Result<String, String> {
    let p = expand_env(cx, p);
    let Some(rest) = p.strip_prefix('~') else {
        return Ok(p);
    };
    let home = cx.source.env("HOME").unwrap_or_default();
    if home.is_empty() {
        return Err("failed to get home dir, require $HOME".into());
    }
    Ok(join_path(&home, rest))
}

/// Whether the URL scheme is `ws` or `wss` (any case, any suffix).
pub(crate) fn is_ws_url(u: &GoUrl) -> bool {
    u.scheme.to_lowercase().starts_with("ws")
}

/// `validateLeafNodeProxyOptions`: `Err` or warnings.
pub(crate) fn validate_leaf_proxy(r: &RemoteLeafOpts) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if r.proxy.url.is_empty() {
        return Ok(warnings);
    }
    let u = GoUrl::parse(&r.proxy.url).map_err(|e| {
        format!(
            "invalid proxy URL: parse {}: {e}",
            quote(r.proxy.url.trim())
        )
    })?;
    if u.scheme != "http" && u.scheme != "https" {
        return Err(format!(
            "proxy URL scheme must be http or https, got: {}",
            u.scheme
        ));
    }
    if u.host.is_empty() {
        return Err("proxy URL must specify a host".into());
    }
    if r.proxy.timeout < 0 {
        return Err("proxy timeout must be >= 0".into());
    }
    if r.proxy.username.is_empty() != r.proxy.password.is_empty() {
        return Err("proxy username and password must both be specified or both be empty".into());
    }
    if !r.urls.is_empty() {
        let mut has_ws = false;
        let mut has_other = false;
        for u in &r.urls {
            if u.scheme == "ws" || u.scheme == "wss" {
                has_ws = true;
                if u.scheme == "wss" && r.tls.is_none() {
                    return Err(format!("proxy is configured but remote URL {} requires TLS and no TLS configuration is provided. When using proxy with TLS endpoints, ensure TLS is properly configured for the leafnode remote", u.to_go_string()));
                }
            } else {
                has_other = true;
            }
        }
        if !has_ws {
            warnings.push("proxy configuration will be ignored: proxy settings only apply to WebSocket connections (ws:// or wss://), but all configured URLs use TCP connections (nats://)".to_string());
        } else if has_other {
            warnings.push("proxy configuration will only be used for WebSocket URLs: proxy settings do not apply to TCP connections (nats://)".to_string());
        }
    }
    Ok(warnings)
}

type RemotesResult = Result<Vec<RemoteLeafOpts>, Diagnostic>;

const CREDS_AND_NKEY: &str = "Remote leafnode can not have both creds and nkey defined";

fn parse_remote_leaf_nodes(cx: &mut Cx, v: &Value) -> Option<RemotesResult> {
    cx.guard(|cx, lt| parse_remotes_inner(cx, v, lt))
}

fn parse_remotes_inner(cx: &mut Cx, v: &Value, lt: &mut Lt) -> P<RemotesResult> {
    let tk = lt.set(v);
    let Some(ra) = tk.as_array() else {
        return Ok(Err(got_type(tk, "Expected remotes field to be an array")));
    };
    let mut names: Vec<String> = Vec::new();
    let mut remotes = Vec::new();
    for r in ra {
        let mut tk = r;
        let Some(rm) = entry_map(cx, lt, r, "remote leafnode") else {
            continue;
        };
        let mut remote = RemoteLeafOpts::default();
        let mut proxy_pos = None;
        for (k, fv) in rm.iter() {
            tk = lt.set(fv);
            match k.to_lowercase().as_str() {
                "no_randomize" | "dont_randomize" => remote.no_randomize = want_bool(tk)?,
                "url" | "urls" => match &tk.kind {
                    Kind::Array(a) => {
                        if let Some(urls) = parse_urls(cx, a, "leafnode") {
                            remote.urls = urls;
                        }
                    }
                    Kind::String(s) => match parse_url(s, "leafnode") {
                        Ok(u) => remote.urls.push(u),
                        Err(e) => cx.err(&tk.pos, e),
                    },
                    Kind::Bool(_)
                    | Kind::Integer(_)
                    | Kind::Float(_)
                    | Kind::Datetime(_)
                    | Kind::Map(_) => cx.errors.push(got_value(
                        tk,
                        "Expected remote leafnode url to be an array or string",
                    )),
                },
                "account" | "local" => remote.local_account = want_string(tk)?,
                "creds" | "credentials" => match expand_path(cx, want_str(tk)?) {
                    Err(e) => cx.err(&tk.pos, e),
                    Ok(_) if !remote.nkey.is_empty() => cx.err(&tk.pos, CREDS_AND_NKEY),
                    Ok(p) => remote.credentials = p,
                },
                "nkey" | "seed" => {
                    let nk = want_str(tk)?;
                    if seed_prefix(nk) != Some(PREFIX_USER) {
                        cx.err(
                            &tk.pos,
                            format!("Remote leafnode nkey is not a valid seed: {}", quote(nk)),
                        );
                    } else if !remote.credentials.is_empty() {
                        cx.err(&tk.pos, CREDS_AND_NKEY);
                    } else {
                        remote.nkey = nk.to_string();
                    }
                }
                "tls" => {
                    if let Some(tc) = tls_config(cx, tk, true) {
                        remote.tls_timeout = if tc.timeout > 0.0 { tc.timeout } else { 2.0 };
                        remote.tls_handshake_first = tc.handshake_first;
                        remote.tls = Some(tc);
                    }
                }
                "hub" => remote.hub = want_bool(tk)?,
                lk @ ("deny_imports" | "deny_import" | "deny_exports" | "deny_export") => {
                    if let Some(s) = parse_perm_subjects(tk, true, false).record(cx) {
                        let s = s.unwrap_or_default();
                        if lk.starts_with("deny_import") {
                            remote.deny_imports = s;
                        } else {
                            remote.deny_exports = s;
                        }
                    }
                }
                "ws_compress"
                | "ws_compression"
                | "websocket_compress"
                | "websocket_compression" => remote.ws_compression = want_bool(tk)?,
                "ws_no_masking" | "websocket_no_masking" => remote.ws_no_masking = want_bool(tk)?,
                "jetstream_cluster_migrate" | "js_cluster_migrate" => match &tk.kind {
                    Kind::Bool(b) => remote.js_cluster_migrate = *b,
                    Kind::Map(m) => {
                        remote.js_cluster_migrate = true;
                        if let Some(d) = m.get("leader_migrate_delay") {
                            remote.js_cluster_migrate_delay =
                                parse_duration_field(cx, "leader_migrate_delay", d)?;
                        }
                    }
                    Kind::String(_)
                    | Kind::Integer(_)
                    | Kind::Float(_)
                    | Kind::Datetime(_)
                    | Kind::Array(_) => cx.err_plain(format!(
                        "Expected boolean or map for jetstream_cluster_migrate, got {}",
                        tk.kind.go_type()
                    )),
                },
                "isolate_leafnode_interest" | "isolate" => remote.local_isolation = want_bool(tk)?,
                "request_isolation" => remote.request_isolation = want_bool(tk)?,
                "compression" => {
                    parse_compression(&mut remote.compression, "s2_auto", tk, k).record(cx);
                }
                "first_info_timeout" => {
                    remote.first_info_timeout = parse_duration_field(cx, k, tk)?
                }
                "dial_timeout" => remote.dial_timeout = parse_duration_field(cx, k, tk)?,
                "disabled" => remote.disabled = want_bool(tk)?,
                "proxy" => {
                    let Some(pm) = tk.as_map() else {
                        cx.errors.push(got_type(tk, "Expected proxy to be a map"));
                        continue;
                    };
                    proxy_pos = Some(tk.pos.clone());
                    for (pk, pv) in pm.iter() {
                        let ptk = lt.set(pv);
                        tk = ptk;
                        match pk.to_lowercase().as_str() {
                            "url" => remote.proxy.url = want_string(ptk)?,
                            "username" => remote.proxy.username = want_string(ptk)?,
                            "password" => remote.proxy.password = want_string(ptk)?,
                            "timeout" => {
                                remote.proxy.timeout =
                                    parse_duration_field(cx, "proxy timeout", ptk)?
                            }
                            _ => cx.unknown(ptk, pk),
                        }
                    }
                }
                "ignore_discovered_servers" => remote.ignore_discovered_servers = want_bool(tk)?,
                _ => cx.unknown(tk, k),
            }
        }
        // (The 2.15.1 binary does not report the proxy warnings here.)
        if let Err(e) = validate_leaf_proxy(&remote) {
            cx.errors.push(Diagnostic::plain(proxy_pos.as_ref(), e));
            continue;
        }
        let rn = remote.name(false);
        if names.contains(&rn) {
            cx.err(&tk.pos, format!("duplicate remote {}", remote.name(true)));
            continue;
        }
        names.push(rn);
        remotes.push(remote);
    }
    Ok(Ok(remotes))
}
