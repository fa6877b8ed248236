//! `authorization` blocks, users, permissions, auth callout, the simple
//! auth of websocket/mqtt and `proxies` (NKey checks: [`crate::nkey`]).

use super::context::{
    got_type, got_value, or_return, parse_string_array, timeout_seconds, want_bool, want_int,
    want_map, want_str, want_string, Cx, Lt, Record, P,
};
use super::gofmt::{parse_duration, quote, quote_list, GoDuration};
use super::types::ServerConfig;
use super::value::{Kind, Map, Pos, Value};
use super::Diagnostic;
use crate::nkey::{
    valid_any_public_key, valid_public_key, PREFIX_ACCOUNT, PREFIX_CURVE, PREFIX_USER,
};

/// Allow/deny subject lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectPermission {
    /// `allow` (or the old single-list style).
    pub allow: Option<Vec<String>>,
    /// `deny`.
    pub deny: Option<Vec<String>>,
}

/// `allow_responses`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Responses allowed per request.
    pub max_msgs: i64,
    /// How long the permission lasts.
    pub expires: GoDuration,
}

/// nats-server's defaults: one response within two minutes.
impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: 1,
            expires: 120_000_000_000,
        }
    }
}

/// A user's (or default) permissions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    /// `publish` / `pub` / `import`.
    pub publish: Option<SubjectPermission>,
    /// `subscribe` / `sub` / `export`.
    pub subscribe: Option<SubjectPermission>,
    /// `allow_responses`.
    pub response: Option<ResponsePermission>,
}

/// A user/password user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// `user`.
    pub username: String,
    /// `password` (plain or bcrypt).
    pub password: String,
    /// `permissions`.
    pub permissions: Option<Permissions>,
    /// `allowed_connection_types` (upper-cased).
    pub allowed_connection_types: Option<Vec<String>>,
    /// `proxy_required`.
    pub proxy_required: bool,
    /// Account (when defined inside `accounts`).
    pub account: Option<String>,
}

/// An NKey user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NkeyUser {
    /// Public user key.
    pub nkey: String,
    /// `permissions`.
    pub permissions: Option<Permissions>,
    /// `allowed_connection_types`.
    pub allowed_connection_types: Option<Vec<String>>,
    /// `proxy_required`.
    pub proxy_required: bool,
    /// Account (when defined inside `accounts`).
    pub account: Option<String>,
}

/// `authorization.auth_callout`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthCallout {
    /// `issuer` (account public key).
    pub issuer: String,
    /// `account` (default `$G`).
    pub account: String,
    /// `auth_users`.
    pub auth_users: Vec<String>,
    /// `xkey`.
    pub xkey: String,
    /// `allowed_accounts`.
    pub allowed_accounts: Vec<String>,
}

/// An `authorization` block as parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthorizationOpts {
    /// `user` / `username`.
    pub user: String,
    /// `pass` / `password`.
    pub pass: String,
    /// `token`.
    pub token: String,
    /// `timeout` in seconds.
    pub timeout: f64,
    /// `users` (`Some` as soon as the key is present).
    pub users: Option<Vec<User>>,
    /// NKey users from `users`.
    pub nkeys: Vec<NkeyUser>,
    /// `default_permissions` / `permissions`.
    pub default_permissions: Option<Permissions>,
    /// `auth_callout`.
    pub callout: Option<AuthCallout>,
    /// `proxy_required`.
    pub proxy_required: bool,
    /// `account` (leafnode authorization).
    pub account: String,
    /// `nkey` (leafnode authorization).
    pub nkey: String,
}

fn parse_timeout(cx: &mut Cx, tk: &Value, what: &str) -> Result<f64, Diagnostic> {
    let at = timeout_seconds(tk, what)?;
    if at > 60.0 {
        let reason = format!(
            "timeout of {} ({} seconds) is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example",
            tk.kind.go_v(),
            super::gofmt::format_float_f(at)
        );
        cx.warn_use(&tk.pos, "timeout", reason);
    }
    Ok(at)
}

/// The loop of the three authorization forms (`parseAuthorization`,
/// `parseSimpleAuth`, `parseLeafAuthorization`): `v` must be a map; the
/// user and password are kept, any other key (lower-cased, as written)
/// goes to `key`, whose error ends the block.
fn auth_keys(
    cx: &mut Cx,
    lt: &mut Lt,
    v: &Value,
    mut key: impl FnMut(
        &mut Cx,
        &mut AuthorizationOpts,
        &str,
        &str,
        &Value,
    ) -> P<Result<(), Diagnostic>>,
) -> P<Result<AuthorizationOpts, Diagnostic>> {
    let mut auth = AuthorizationOpts::default();
    let am = want_map(lt.set(v))?;
    for (mk, mv) in am.iter() {
        let tk = lt.set(mv);
        match mk.to_lowercase().as_str() {
            "user" | "username" => auth.user = want_string(tk)?,
            "pass" | "password" => auth.pass = want_string(tk)?,
            lk => {
                if let Err(e) = key(cx, &mut auth, lk, mk, tk)? {
                    return Ok(Err(e));
                }
            }
        }
    }
    Ok(Ok(auth))
}

/// Users without permissions of their own get `p`.
pub(crate) fn apply_default_permissions(
    users: &mut [User],
    nkeys: &mut [NkeyUser],
    p: &Option<Permissions>,
) {
    let Some(p) = p else { return };
    for u in users.iter_mut() {
        if u.permissions.is_none() {
            u.permissions = Some(p.clone());
        }
    }
    for u in nkeys.iter_mut() {
        if u.permissions.is_none() {
            u.permissions = Some(p.clone());
        }
    }
}

/// The names of the users and nkeys defined so far.
pub(crate) fn user_names(o: &ServerConfig) -> Vec<String> {
    let users = o.users.iter().map(|u| u.username.clone());
    users
        .chain(o.nkeys.iter().map(|n| n.nkey.clone()))
        .collect()
}

/// Takes `name` for a new user (`what`: `user`, `nkey`) unless it is
/// `taken` already: then `Duplicate {what} {name} detected` is recorded
/// at `pos` and the user is refused (`false`).
pub(crate) fn admit_user(
    cx: &mut Cx,
    taken: &mut Vec<String>,
    name: &str,
    what: &str,
    pos: Option<&Pos>,
) -> bool {
    if taken.iter().any(|t| t == name) {
        let reason = format!("Duplicate {what} {} detected", quote(name));
        cx.errors.push(Diagnostic::plain(pos, reason));
        return false;
    }
    taken.push(name.to_string());
    true
}

/// `parseAuthorization`. `None`: it panicked (Go returns nil, nil).
pub(crate) fn parse_authorization(
    cx: &mut Cx,
    v: &Value,
) -> Option<Result<AuthorizationOpts, Diagnostic>> {
    cx.guard(|cx, lt| {
        let r = auth_keys(cx, lt, v, |cx, auth, lk, mk, tk| {
            match lk {
                "token" => auth.token = want_string(tk)?,
                "timeout" => auth.timeout = or_return!(parse_timeout(cx, tk, "authorization")),
                "users" => {
                    if let Some(r) = parse_users(cx, tk, true).record(cx) {
                        (auth.nkeys, auth.users) =
                            r.map_or((Vec::new(), None), |(n, u)| (n, Some(u)));
                    }
                }
                "default_permission" | "default_permissions" | "permissions" => {
                    if let Some(p) = parse_user_permissions(cx, tk, true).record(cx) {
                        auth.default_permissions = p;
                    }
                }
                "auth_callout" | "auth_hook" => {
                    if let Some(c) = parse_auth_callout(cx, tk).record(cx) {
                        auth.callout = c;
                    }
                }
                "proxy_required" => auth.proxy_required = want_bool(tk)?,
                _ => cx.unknown(tk, mk),
            }
            Ok(Ok(()))
        })?;
        Ok(r.map(|mut auth| {
            let users = auth.users.as_deref_mut().unwrap_or_default();
            apply_default_permissions(users, &mut auth.nkeys, &auth.default_permissions);
            auth
        }))
    })
}

type UsersResult = Result<(Vec<NkeyUser>, Vec<User>), Diagnostic>;

/// `Expected {what} entry to be a map/struct, got {%v}` unless the array
/// element `e` (now the last value looked at) is a map.
pub(crate) fn entry_map<'v>(cx: &mut Cx, lt: &mut Lt, e: &'v Value, what: &str) -> Option<&'v Map> {
    let m = lt.set(e).as_map();
    if m.is_none() {
        cx.errors.push(got_value(
            e,
            &format!("Expected {what} entry to be a map/struct"),
        ));
    }
    m
}

/// `parseUsers`. `None`: it panicked.
pub(crate) fn parse_users(cx: &mut Cx, v: &Value, has_token: bool) -> Option<UsersResult> {
    cx.guard(|cx, lt| parse_users_inner(cx, v, has_token, lt))
}

fn parse_users_inner(cx: &mut Cx, v: &Value, has_token: bool, lt: &mut Lt) -> P<UsersResult> {
    let mut tk = v;
    if has_token {
        lt.set(v);
    }
    let Some(uv) = tk.as_array() else {
        return Ok(Err(Diagnostic::plain(
            has_token.then_some(&tk.pos),
            format!(
                "Expected users field to be an array, got {}",
                tk.kind.go_v()
            ),
        )));
    };
    let mut keys = Vec::new();
    let mut users = Vec::new();
    for u in uv {
        tk = u;
        let Some(um) = entry_map(cx, lt, u, "user") else {
            continue;
        };
        let mut user = User::default();
        let mut nkey = NkeyUser::default();
        let mut perms: Option<Permissions> = None;
        for (k, fv) in um.iter() {
            tk = lt.set(fv);
            match k.to_lowercase().as_str() {
                "nkey" => nkey.nkey = want_string(tk)?,
                "user" | "username" => user.username = want_string(tk)?,
                "pass" | "password" => user.password = want_string(tk)?,
                "permission" | "permissions" | "authorization" => {
                    if let Some(p) = parse_user_permissions(cx, tk, true).record(cx) {
                        perms = p;
                    }
                }
                "allowed_connection_types" | "connection_types" | "clients" => {
                    let cts = parse_allowed_connection_types(cx, tk, lt);
                    nkey.allowed_connection_types = cts.clone();
                    user.allowed_connection_types = cts;
                }
                "proxy_required" => {
                    let b = want_bool(tk)?;
                    nkey.proxy_required = b;
                    user.proxy_required = b;
                }
                _ => cx.unknown(tk, k),
            }
        }
        if perms.is_some() {
            if !nkey.nkey.is_empty() {
                nkey.permissions = perms;
            } else {
                user.permissions = perms;
            }
        }
        let refused = if nkey.nkey.is_empty() && user.username.is_empty() {
            "User entry requires a user"
        } else if nkey.nkey.is_empty() {
            users.push(user);
            continue;
        } else if !valid_public_key(&nkey.nkey, PREFIX_USER) {
            "Not a valid public nkey for a user"
        } else if !user.username.is_empty() || !user.password.is_empty() {
            "Nkey users do not take usernames or passwords"
        } else {
            keys.push(nkey);
            continue;
        };
        return Ok(Err(Diagnostic::plain(Some(&tk.pos), refused)));
    }
    Ok(Ok((keys, users)))
}

fn parse_allowed_connection_types(cx: &mut Cx, tk: &Value, lt: &mut Lt) -> Option<Vec<String>> {
    let cts = parse_string_array(cx, "allowed connection types", tk, lt, tk)?;
    let mut valid = Vec::new();
    let mut unknown = Vec::new();
    for c in cts {
        let c = c.to_uppercase();
        match c.as_str() {
            "STANDARD" | "WEBSOCKET" | "LEAFNODE" | "LEAFNODE_WS" | "MQTT" | "MQTT_WS"
            | "IN_PROCESS" => {
                if !valid.contains(&c) {
                    valid.push(c);
                }
            }
            _ => unknown.push(c),
        }
    }
    if !unknown.is_empty() {
        cx.err(
            &tk.pos,
            format!("invalid connection types {}", quote_list(&unknown)),
        );
    }
    Some(valid)
}

/// `parseUserPermissions`. `None`: it panicked.
pub(crate) fn parse_user_permissions(
    cx: &mut Cx,
    v: &Value,
    has_token: bool,
) -> Option<Result<Permissions, Diagnostic>> {
    cx.guard(|cx, lt| parse_user_permissions_inner(cx, v, has_token, lt))
}

fn parse_user_permissions_inner(
    cx: &mut Cx,
    v: &Value,
    has_token: bool,
    lt: &mut Lt,
) -> P<Result<Permissions, Diagnostic>> {
    let tk = v;
    if has_token {
        lt.set(v);
    }
    let Some(pm) = tk.as_map() else {
        return Ok(Err(Diagnostic::plain(
            has_token.then_some(&tk.pos),
            format!(
                "Expected permissions to be a map/struct, got {}",
                tk.kind.go_v()
            ),
        )));
    };
    let mut p = Permissions::default();
    for (k, fv) in pm.iter() {
        let tk = lt.set(fv);
        match k.to_lowercase().as_str() {
            "pub" | "publish" | "import" => {
                if let Some(sp) = parse_variable_permissions(cx, tk, false).record(cx) {
                    p.publish = sp.flatten();
                }
            }
            "sub" | "subscribe" | "export" => {
                if let Some(sp) = parse_variable_permissions(cx, tk, true).record(cx) {
                    p.subscribe = sp.flatten();
                }
            }
            "publish_allow_responses" | "allow_responses" => {
                match tk.as_bool() {
                    Some(true) => p.response = Some(ResponsePermission::default()),
                    Some(false) => {}
                    None => p.response = parse_allow_responses(cx, tk),
                }
                if p.response.is_some() {
                    let publish = p.publish.get_or_insert_with(SubjectPermission::default);
                    if publish.allow.is_none() {
                        publish.allow = Some(Vec::new());
                    }
                }
            }
            _ => cx.unknown_parsing(tk, k, "permissions"),
        }
    }
    Ok(Ok(p))
}

type SubjPermResult = Option<Result<Option<SubjectPermission>, Diagnostic>>;

/// `parseVariablePermissions`: `{allow, deny}` or the old style (a subject
/// or a list). Old-style errors carry no position, like the reference.
fn parse_variable_permissions(cx: &mut Cx, v: &Value, allow_queue: bool) -> SubjPermResult {
    let Some(m) = v.as_map() else {
        return Some(parse_perm_subjects(v, false, allow_queue)?.map(|s| {
            Some(SubjectPermission {
                allow: Some(s),
                deny: None,
            })
        }));
    };
    cx.guard(|cx, lt| {
        if m.is_empty() {
            return Ok(Ok(None));
        }
        let mut p = SubjectPermission::default();
        for (k, fv) in m.iter() {
            let tk = lt.set(fv);
            let slot = match k.to_lowercase().as_str() {
                "allow" => &mut p.allow,
                "deny" => &mut p.deny,
                _ => {
                    if !tk.used_variable {
                        cx.err(
                            &tk.pos,
                            format!(
                                "Unknown field name {} parsing subject permissions, only 'allow' or 'deny' are permitted",
                                quote(k)
                            ),
                        );
                    }
                    continue;
                }
            };
            if let Some(s) = parse_perm_subjects(tk, true, allow_queue).record(cx) {
                *slot = s;
            }
        }
        Ok(Ok(Some(p)))
    })
}

/// `parsePermSubjects`. `has_token`: whether the reference sees the value
/// as a token (with a position) or as a bare value.
pub(crate) fn parse_perm_subjects(
    v: &Value,
    has_token: bool,
    allow_queue: bool,
) -> Option<Result<Vec<String>, Diagnostic>> {
    let outer = has_token.then_some(&v.pos);
    let subjects: Vec<String> = match &v.kind {
        Kind::String(s) => vec![s.clone()],
        Kind::Array(a) => {
            let mut out = Vec::new();
            for e in a {
                match e.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => {
                        return Some(Err(Diagnostic::plain(
                            Some(&e.pos),
                            "Subject in permissions array cannot be cast to string",
                        )))
                    }
                }
            }
            out
        }
        Kind::Bool(_) | Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Map(_) => {
            return Some(Err(Diagnostic::plain(
                outer,
                format!(
                    "Expected subject permissions to be a subject, or array of subjects, got {}",
                    v.kind.go_type()
                ),
            )))
        }
    };
    if let Err(e) = check_perm_subject_array(&subjects, allow_queue) {
        return Some(Err(Diagnostic::plain(outer, e)));
    }
    Some(Ok(subjects))
}

/// nats-server's `IsValidSubject`.
pub(crate) fn is_valid_subject(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut sfwc = false;
    for t in s.split('.') {
        if t.is_empty() || sfwc {
            return false;
        }
        if t.len() > 1 {
            if t.contains(['\t', '\n', '\u{c}', '\r', ' ']) {
                return false;
            }
            continue;
        }
        match t.as_bytes()[0] {
            b'>' => sfwc = true,
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => return false,
            _ => {}
        }
    }
    true
}

/// `checkPermSubjectArray`.
pub(crate) fn check_perm_subject_array(sa: &[String], allow_queue: bool) -> Result<(), String> {
    for s in sa {
        if !is_valid_subject(s) {
            if !allow_queue {
                return Err(format!("subject {} is not a valid subject", quote(s)));
            }
            let elements: Vec<&str> = s.split_whitespace().collect();
            if elements.len() != 2 {
                return Err(format!("subject {} is not a valid subject", quote(s)));
            } else if !is_valid_subject(elements[0]) {
                return Err(format!(
                    "subject {} is not a valid subject",
                    quote(elements[0])
                ));
            } else if !is_valid_subject(elements[1]) {
                return Err(format!("queue {} is not a valid queue", quote(elements[1])));
            }
        }
    }
    Ok(())
}

fn parse_allow_responses(cx: &mut Cx, v: &Value) -> Option<ResponsePermission> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(pm) = tk.as_map() else {
            cx.err(
                &tk.pos,
                "error parsing response permissions, expected a boolean or a map",
            );
            return Ok(None);
        };
        let mut rp = ResponsePermission::default();
        for (k, fv) in pm.iter() {
            let tk = lt.set(fv);
            match k.to_lowercase().as_str() {
                "max" | "max_msgs" | "max_messages" | "max_responses" => {
                    let max = want_int(tk)?;
                    if max != 0 {
                        rp.max_msgs = max;
                    }
                }
                "expires" | "expiration" | "ttl" => match tk.as_str().map(parse_duration) {
                    Some(Ok(d)) => {
                        if d != 0 {
                            rp.expires = d;
                        }
                    }
                    Some(Err(e)) => {
                        cx.err(&tk.pos, format!("error parsing expires: {e}"));
                        return Ok(None);
                    }
                    None => {
                        cx.err(&tk.pos, "error parsing expires, not a duration string");
                        return Ok(None);
                    }
                },
                _ => cx.unknown_parsing(tk, k, "permissions"),
            }
        }
        Ok(Some(rp))
    })
    .flatten()
}

/// An auth callout key that must be a public key of the `prefix` kind
/// (`Expected callout {what}, got {key}` otherwise).
fn callout_key(tk: &Value, prefix: u8, what: &str) -> P<Result<String, Diagnostic>> {
    let key = want_string(tk)?;
    if valid_public_key(&key, prefix) {
        return Ok(Ok(key));
    }
    Ok(Err(Diagnostic::plain(
        Some(&tk.pos),
        format!("Expected callout {what}, got {}", quote(&key)),
    )))
}

/// An auth callout list of strings (`Expected {what} field to be an
/// array, got *conf.token` otherwise).
fn callout_list(lt: &mut Lt, tk: &Value, what: &str) -> P<Result<Vec<String>, Diagnostic>> {
    let Some(a) = tk.as_array() else {
        return Ok(Err(Diagnostic::plain(
            Some(&tk.pos),
            format!("Expected {what} field to be an array, got *conf.token"),
        )));
    };
    let mut out = Vec::with_capacity(a.len());
    for e in a {
        out.push(want_string(lt.set(e))?);
    }
    Ok(Ok(out))
}

fn parse_auth_callout(cx: &mut Cx, v: &Value) -> Option<Result<AuthCallout, Diagnostic>> {
    cx.guard(|cx, lt| {
        let mut tk = lt.set(v);
        let Some(pm) = tk.as_map() else {
            return Ok(Err(got_value(
                tk,
                "Expected authorization callout to be a map/struct",
            )));
        };
        let mut ac = AuthCallout::default();
        for (k, fv) in pm.iter() {
            tk = lt.set(fv);
            match k.to_lowercase().as_str() {
                "issuer" => {
                    let what = "user to be a valid public account nkey";
                    ac.issuer = or_return!(callout_key(tk, PREFIX_ACCOUNT, what)?);
                }
                "account" | "acc" => ac.account = want_string(tk)?,
                "auth_users" | "users" => {
                    ac.auth_users
                        .extend(or_return!(callout_list(lt, tk, "auth_users")?));
                }
                "xkey" | "key" => {
                    let what = "xkey to be a valid public xkey";
                    ac.xkey = or_return!(callout_key(tk, PREFIX_CURVE, what)?);
                }
                "allowed_accounts" => {
                    ac.allowed_accounts.extend(or_return!(callout_list(
                        lt,
                        tk,
                        "allowed accounts"
                    )?));
                }
                _ => cx.unknown_parsing(tk, k, "authorization callout"),
            }
        }
        if ac.account.is_empty() {
            ac.account = "$G".into();
        }
        let missing = if ac.issuer.is_empty() {
            "an issuer"
        } else if ac.auth_users.is_empty() {
            "authorized users"
        } else {
            return Ok(Ok(ac));
        };
        Ok(Err(Diagnostic::plain(
            Some(&tk.pos),
            format!("Authorization callouts require {missing} to be specified"),
        )))
    })
}

/// `parseSimpleAuth` (websocket, mqtt). `None`: it panicked.
pub(crate) fn parse_simple_auth(cx: &mut Cx, v: &Value) -> Option<AuthorizationOpts> {
    cx.guard(|cx, lt| {
        let r = auth_keys(cx, lt, v, |cx, auth, lk, mk, tk| {
            match lk {
                "token" => auth.token = want_string(tk)?,
                "timeout" => {
                    auth.timeout = match tk.kind {
                        Kind::Integer(n) => n as f64,
                        Kind::Float(x) => x,
                        Kind::String(_)
                        | Kind::Bool(_)
                        | Kind::Datetime(_)
                        | Kind::Array(_)
                        | Kind::Map(_) => 1.0,
                    }
                }
                _ => cx.unknown(tk, mk),
            }
            Ok(Ok(()))
        })?;
        // (The keys above never fail.)
        Ok(r.unwrap_or_default())
    })
}

type LeafAuthResult =
    Result<(AuthorizationOpts, Option<Vec<super::leafnode::LeafUser>>), Diagnostic>;

/// `parseLeafAuthorization`. `None`: it panicked.
pub(crate) fn parse_leaf_authorization(cx: &mut Cx, v: &Value) -> Option<LeafAuthResult> {
    cx.guard(|cx, lt| {
        let mut users = None;
        let r = auth_keys(cx, lt, v, |cx, auth, lk, mk, tk| {
            match lk {
                "nkey" => {
                    let nk = want_string(tk)?;
                    if !valid_public_key(&nk, PREFIX_USER) {
                        cx.err(
                            &tk.pos,
                            "Not a valid public nkey for leafnode authorization",
                        );
                    }
                    auth.nkey = nk;
                }
                "timeout" => {
                    auth.timeout = or_return!(parse_timeout(cx, tk, "leafnode authorization"));
                }
                "users" => {
                    if let Some(u) = super::leafnode::parse_leaf_users(cx, tk).record(cx) {
                        users = u;
                    }
                }
                "account" => auth.account = want_string(tk)?,
                "proxy_required" => auth.proxy_required = want_bool(tk)?,
                _ => cx.unknown(tk, mk),
            }
            Ok(Ok(()))
        })?;
        Ok(r.map(|auth| (auth, users)))
    })
}

/// `parseProxies`' `trusted` list. `None`: it panicked; `Some(None)`: an
/// error was recorded.
fn parse_trusted_proxies(cx: &mut Cx, v: &Value) -> Option<Option<Vec<String>>> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(ta) = tk.as_array() else {
            cx.errors.push(got_type(
                tk,
                "expected proxies' trusted field to be an array",
            ));
            return Ok(None);
        };
        let mut out = Vec::new();
        for t in ta {
            let t = lt.set(t);
            let Some(tm) = t.as_map() else {
                cx.errors.push(got_type(
                    t,
                    "expected proxies' trusted entry to be a map/struct",
                ));
                continue;
            };
            for (k, kv) in tm.iter() {
                let kv = lt.set(kv);
                match k.to_lowercase().as_str() {
                    "key" | "public_key" => {
                        let key = want_str(kv)?;
                        if !valid_any_public_key(key) {
                            cx.err(&kv.pos, format!("invalid proxy key {}", quote(key)));
                            continue;
                        }
                        out.push(key.to_string());
                    }
                    _ => cx.unknown(kv, k),
                }
            }
        }
        Ok(Some(out))
    })
}

/// `parseProxies`: the trusted proxy keys. `None`: it panicked;
/// `Some(None)`: an error was recorded.
pub(crate) fn parse_proxies(cx: &mut Cx, v: &Value) -> Option<Option<Vec<String>>> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(pm) = tk.as_map() else {
            cx.errors
                .push(got_type(tk, "expected proxies to be a map/struct"));
            return Ok(None);
        };
        let mut keys = Vec::new();
        for (mk, mv) in pm.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "trusted" => {
                    if let Some(Some(k)) = parse_trusted_proxies(cx, tk) {
                        keys = k;
                    }
                }
                _ => cx.unknown(tk, mk),
            }
        }
        Ok(Some(keys))
    })
}
