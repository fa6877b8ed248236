//! `authorization` blocks, users, permissions, auth callout, the simple
//! auth of websocket/mqtt, `proxies`, and NKey validation.

use super::gofmt::{parse_duration, quote, quote_list, GoDuration};
use super::process::{parse_string_array, want_bool, want_int, want_map, want_str, Cx, Lt, P};
use super::value::{Kind, Value};
use super::Diagnostic;

/// NKey prefix byte of operators ('O').
pub(crate) const PREFIX_OPERATOR: u8 = 14 << 3;
/// NKey prefix byte of accounts ('A').
pub(crate) const PREFIX_ACCOUNT: u8 = 0;
/// NKey prefix byte of users ('U').
pub(crate) const PREFIX_USER: u8 = 20 << 3;
/// NKey prefix byte of curve keys ('X').
pub(crate) const PREFIX_CURVE: u8 = 23 << 3;
const PREFIX_SEED: u8 = 18 << 3;
const PUBLIC_PREFIXES: &[u8] = &[14 << 3, 13 << 3, 2 << 3, 0, 20 << 3, 23 << 3];

/// Base32 (RFC 4648, no padding) decode + CRC check, like nkeys' decode.
fn nkey_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buf: u32 = 0;
    let mut bits = 0;
    let mut n = 0usize;
    for b in s.bytes() {
        if b == b'\r' || b == b'\n' {
            continue;
        }
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'2'..=b'7' => b - b'2' + 26,
            _ => return None,
        };
        n += 1;
        buf = (buf << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
        buf &= (1 << bits) - 1;
    }
    if matches!(n % 8, 1 | 3 | 6) {
        return None;
    }
    if out.len() < 4 {
        return None;
    }
    let (data, crc) = out.split_at(out.len() - 2);
    let want = u16::from_le_bytes([crc[0], crc[1]]);
    if crate::nkey::crc16(data) != want {
        return None;
    }
    Some(data.to_vec())
}

/// nkeys' `Decode(prefix, ...)` succeeds.
pub(crate) fn valid_public_key(s: &str, prefix: u8) -> bool {
    nkey_decode(s).is_some_and(|raw| raw[0] & 248 == prefix)
}

/// nkeys' `IsValidPublicKey` (any public prefix).
pub(crate) fn valid_any_public_key(s: &str) -> bool {
    nkey_decode(s).is_some_and(|raw| PUBLIC_PREFIXES.contains(&raw[0]))
}

/// nkeys' `DecodeSeed`: the public prefix of a seed.
pub(crate) fn seed_prefix(s: &str) -> Option<u8> {
    let raw = nkey_decode(s)?;
    if raw.len() < 2 || raw[0] & 248 != PREFIX_SEED {
        return None;
    }
    let b2 = (raw[0] & 7) << 5 | ((raw[1] & 248) >> 3);
    PUBLIC_PREFIXES.contains(&b2).then_some(b2)
}

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

fn parse_timeout(cx: &mut Cx, tk: &Value, what: &str) -> P<Result<f64, Diagnostic>> {
    let at = match &tk.kind {
        Kind::Integer(n) => *n as f64,
        Kind::Float(x) => *x,
        Kind::String(s) => match parse_duration(s) {
            Ok(d) => d as f64 / 1e9,
            Err(e) => {
                return Ok(Err(Diagnostic::plain(
                    Some(&tk.pos),
                    format!("error parsing {what} config, 'timeout' {e}"),
                )))
            }
        },
        Kind::Bool(_) | Kind::Datetime(_) | Kind::Array(_) | Kind::Map(_) => {
            return Ok(Err(Diagnostic::plain(
                Some(&tk.pos),
                format!("error parsing {what} config, 'timeout' wrong type"),
            )))
        }
    };
    if at > 60.0 {
        let reason = format!(
            "timeout of {} ({} seconds) is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example",
            tk.kind.go_v(),
            super::gofmt::format_float_f(at)
        );
        cx.warn_use(&tk.pos, "timeout", reason);
    }
    Ok(Ok(at))
}

/// `parseAuthorization`. `None`: it panicked (Go returns nil, nil).
pub(crate) fn parse_authorization(
    cx: &mut Cx,
    v: &Value,
) -> Option<Result<AuthorizationOpts, Diagnostic>> {
    let mut lt = Lt::default();
    let r = parse_authorization_inner(cx, v, &mut lt);
    cx.catch(&lt, r)
}

fn parse_authorization_inner(
    cx: &mut Cx,
    v: &Value,
    lt: &mut Lt,
) -> P<Result<AuthorizationOpts, Diagnostic>> {
    let mut auth = AuthorizationOpts::default();
    let am = want_map(lt.set(v))?;
    for (mk, mv) in am.iter() {
        let tk = lt.set(mv);
        match mk.to_lowercase().as_str() {
            "user" | "username" => auth.user = want_str(tk)?.to_string(),
            "pass" | "password" => auth.pass = want_str(tk)?.to_string(),
            "token" => auth.token = want_str(tk)?.to_string(),
            "timeout" => match parse_timeout(cx, tk, "authorization")? {
                Ok(t) => auth.timeout = t,
                Err(e) => return Ok(Err(e)),
            },
            "users" => match parse_users(cx, tk, true) {
                Some(Ok((nkeys, users))) => {
                    auth.users = Some(users);
                    auth.nkeys = nkeys;
                }
                Some(Err(e)) => cx.errors.push(e),
                None => {
                    auth.users = None;
                    auth.nkeys = Vec::new();
                }
            },
            "default_permission" | "default_permissions" | "permissions" => {
                match parse_user_permissions(cx, tk, true) {
                    Some(Ok(p)) => auth.default_permissions = Some(p),
                    Some(Err(e)) => cx.errors.push(e),
                    None => auth.default_permissions = None,
                }
            }
            "auth_callout" | "auth_hook" => match parse_auth_callout(cx, tk) {
                Some(Ok(c)) => auth.callout = Some(c),
                Some(Err(e)) => cx.errors.push(e),
                None => auth.callout = None,
            },
            "proxy_required" => auth.proxy_required = want_bool(tk)?,
            _ => cx.unknown(tk, mk),
        }
    }
    if let Some(dp) = &auth.default_permissions {
        if let Some(users) = &mut auth.users {
            for u in users.iter_mut() {
                if u.permissions.is_none() {
                    u.permissions = Some(dp.clone());
                }
            }
        }
        for n in auth.nkeys.iter_mut() {
            if n.permissions.is_none() {
                n.permissions = Some(dp.clone());
            }
        }
    }
    Ok(Ok(auth))
}

type UsersResult = Result<(Vec<NkeyUser>, Vec<User>), Diagnostic>;

/// `parseUsers`. `None`: it panicked.
pub(crate) fn parse_users(cx: &mut Cx, v: &Value, has_token: bool) -> Option<UsersResult> {
    let mut lt = Lt::default();
    let r = parse_users_inner(cx, v, has_token, &mut lt);
    cx.catch(&lt, r)
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
        tk = lt.set(u);
        let Some(um) = u.as_map() else {
            cx.err(
                &tk.pos,
                format!(
                    "Expected user entry to be a map/struct, got {}",
                    u.kind.go_v()
                ),
            );
            continue;
        };
        let mut user = User::default();
        let mut nkey = NkeyUser::default();
        let mut perms: Option<Permissions> = None;
        for (k, fv) in um.iter() {
            tk = lt.set(fv);
            match k.to_lowercase().as_str() {
                "nkey" => nkey.nkey = want_str(tk)?.to_string(),
                "user" | "username" => user.username = want_str(tk)?.to_string(),
                "pass" | "password" => user.password = want_str(tk)?.to_string(),
                "permission" | "permissions" | "authorization" => {
                    match parse_user_permissions(cx, tk, true) {
                        Some(Ok(p)) => perms = Some(p),
                        Some(Err(e)) => cx.errors.push(e),
                        None => perms = None,
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
        if nkey.nkey.is_empty() && user.username.is_empty() {
            return Ok(Err(Diagnostic::plain(
                Some(&tk.pos),
                "User entry requires a user",
            )));
        } else if !nkey.nkey.is_empty() {
            if !valid_public_key(&nkey.nkey, PREFIX_USER) {
                return Ok(Err(Diagnostic::plain(
                    Some(&tk.pos),
                    "Not a valid public nkey for a user",
                )));
            }
            if !user.username.is_empty() || !user.password.is_empty() {
                return Ok(Err(Diagnostic::plain(
                    Some(&tk.pos),
                    "Nkey users do not take usernames or passwords",
                )));
            }
            keys.push(nkey);
        } else {
            users.push(user);
        }
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
    let mut lt = Lt::default();
    let r = parse_user_permissions_inner(cx, v, has_token, &mut lt);
    cx.catch(&lt, r)
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
            "pub" | "publish" | "import" => match parse_variable_permissions(cx, tk, false) {
                Some(Ok(sp)) => p.publish = sp,
                Some(Err(e)) => cx.errors.push(e),
                None => p.publish = None,
            },
            "sub" | "subscribe" | "export" => match parse_variable_permissions(cx, tk, true) {
                Some(Ok(sp)) => p.subscribe = sp,
                Some(Err(e)) => cx.errors.push(e),
                None => p.subscribe = None,
            },
            "publish_allow_responses" | "allow_responses" => {
                let rp = ResponsePermission {
                    max_msgs: 1,
                    expires: 120_000_000_000,
                };
                match tk.as_bool() {
                    Some(true) => p.response = Some(rp),
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
            _ => {
                if !tk.used_variable {
                    cx.err(
                        &tk.pos,
                        format!("Unknown field {} parsing permissions", quote(k)),
                    );
                }
            }
        }
    }
    Ok(Ok(p))
}

type SubjPermResult = Option<Result<Option<SubjectPermission>, Diagnostic>>;

/// `parseVariablePermissions`: `{allow, deny}` or the old style (a subject
/// or a list). Old-style errors carry no position, like the reference.
fn parse_variable_permissions(cx: &mut Cx, v: &Value, allow_queue: bool) -> SubjPermResult {
    if let Some(m) = v.as_map() {
        let mut lt = Lt::default();
        let r = (|| -> P<Result<Option<SubjectPermission>, Diagnostic>> {
            if m.is_empty() {
                return Ok(Ok(None));
            }
            let mut p = SubjectPermission::default();
            for (k, fv) in m.iter() {
                let tk = lt.set(fv);
                match k.to_lowercase().as_str() {
                    "allow" => match parse_perm_subjects(cx, tk, true, allow_queue) {
                        Some(Ok(s)) => p.allow = Some(s),
                        Some(Err(e)) => cx.errors.push(e),
                        None => p.allow = None,
                    },
                    "deny" => match parse_perm_subjects(cx, tk, true, allow_queue) {
                        Some(Ok(s)) => p.deny = Some(s),
                        Some(Err(e)) => cx.errors.push(e),
                        None => p.deny = None,
                    },
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
                    }
                }
            }
            Ok(Ok(Some(p)))
        })();
        return cx.catch(&lt, r);
    }
    match parse_perm_subjects(cx, v, false, allow_queue)? {
        Ok(s) => Some(Ok(Some(SubjectPermission {
            allow: Some(s),
            deny: None,
        }))),
        Err(e) => Some(Err(e)),
    }
}

/// `parsePermSubjects`. `has_token`: whether the reference sees the value
/// as a token (with a position) or as a bare value.
pub(crate) fn parse_perm_subjects(
    _cx: &mut Cx,
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
    let mut lt = Lt::default();
    let r = (|| -> P<Option<ResponsePermission>> {
        let tk = lt.set(v);
        let Some(pm) = tk.as_map() else {
            cx.err(
                &tk.pos,
                "error parsing response permissions, expected a boolean or a map",
            );
            return Ok(None);
        };
        let mut rp = ResponsePermission {
            max_msgs: 1,
            expires: 120_000_000_000,
        };
        for (k, fv) in pm.iter() {
            let tk = lt.set(fv);
            match k.to_lowercase().as_str() {
                "max" | "max_msgs" | "max_messages" | "max_responses" => {
                    let max = want_int(tk)?;
                    if max != 0 {
                        rp.max_msgs = max;
                    }
                }
                "expires" | "expiration" | "ttl" => match tk.as_str() {
                    Some(wd) => match parse_duration(wd) {
                        Ok(d) => {
                            if d != 0 {
                                rp.expires = d;
                            }
                        }
                        Err(e) => {
                            cx.err(&tk.pos, format!("error parsing expires: {e}"));
                            return Ok(None);
                        }
                    },
                    None => {
                        cx.err(&tk.pos, "error parsing expires, not a duration string");
                        return Ok(None);
                    }
                },
                _ => {
                    if !tk.used_variable {
                        cx.err(
                            &tk.pos,
                            format!("Unknown field {} parsing permissions", quote(k)),
                        );
                    }
                }
            }
        }
        Ok(Some(rp))
    })();
    cx.catch(&lt, r).flatten()
}

fn parse_auth_callout(cx: &mut Cx, v: &Value) -> Option<Result<AuthCallout, Diagnostic>> {
    let mut lt = Lt::default();
    let r = (|| -> P<Result<AuthCallout, Diagnostic>> {
        let mut tk = lt.set(v);
        let Some(pm) = tk.as_map() else {
            return Ok(Err(Diagnostic::plain(
                Some(&tk.pos),
                format!(
                    "Expected authorization callout to be a map/struct, got {}",
                    tk.kind.go_v()
                ),
            )));
        };
        let mut ac = AuthCallout::default();
        for (k, fv) in pm.iter() {
            tk = lt.set(fv);
            match k.to_lowercase().as_str() {
                "issuer" => {
                    ac.issuer = want_str(tk)?.to_string();
                    if !valid_public_key(&ac.issuer, PREFIX_ACCOUNT) {
                        return Ok(Err(Diagnostic::plain(
                            Some(&tk.pos),
                            format!(
                                "Expected callout user to be a valid public account nkey, got {}",
                                quote(&ac.issuer)
                            ),
                        )));
                    }
                }
                "account" | "acc" => ac.account = want_str(tk)?.to_string(),
                "auth_users" | "users" => {
                    let Some(a) = tk.as_array() else {
                        return Ok(Err(Diagnostic::plain(
                            Some(&tk.pos),
                            "Expected auth_users field to be an array, got *conf.token",
                        )));
                    };
                    for e in a {
                        ac.auth_users.push(want_str(lt.set(e))?.to_string());
                    }
                }
                "xkey" | "key" => {
                    ac.xkey = want_str(tk)?.to_string();
                    if !valid_public_key(&ac.xkey, PREFIX_CURVE) {
                        return Ok(Err(Diagnostic::plain(
                            Some(&tk.pos),
                            format!(
                                "Expected callout xkey to be a valid public xkey, got {}",
                                quote(&ac.xkey)
                            ),
                        )));
                    }
                }
                "allowed_accounts" => {
                    let Some(a) = tk.as_array() else {
                        return Ok(Err(Diagnostic::plain(
                            Some(&tk.pos),
                            "Expected allowed accounts field to be an array, got *conf.token",
                        )));
                    };
                    for e in a {
                        ac.allowed_accounts.push(want_str(lt.set(e))?.to_string());
                    }
                }
                _ => {
                    if !tk.used_variable {
                        cx.err(
                            &tk.pos,
                            format!("Unknown field {} parsing authorization callout", quote(k)),
                        );
                    }
                }
            }
        }
        if ac.account.is_empty() {
            ac.account = "$G".into();
        }
        if ac.issuer.is_empty() {
            return Ok(Err(Diagnostic::plain(
                Some(&tk.pos),
                "Authorization callouts require an issuer to be specified",
            )));
        }
        if ac.auth_users.is_empty() {
            return Ok(Err(Diagnostic::plain(
                Some(&tk.pos),
                "Authorization callouts require authorized users to be specified",
            )));
        }
        Ok(Ok(ac))
    })();
    cx.catch(&lt, r)
}

/// `parseSimpleAuth` (websocket, mqtt). `None`: it panicked.
pub(crate) fn parse_simple_auth(cx: &mut Cx, v: &Value) -> Option<AuthorizationOpts> {
    let mut lt = Lt::default();
    let r = (|| -> P<AuthorizationOpts> {
        let mut auth = AuthorizationOpts::default();
        let am = want_map(lt.set(v))?;
        for (mk, mv) in am.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "user" | "username" => auth.user = want_str(tk)?.to_string(),
                "pass" | "password" => auth.pass = want_str(tk)?.to_string(),
                "token" => auth.token = want_str(tk)?.to_string(),
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
        }
        Ok(auth)
    })();
    cx.catch(&lt, r)
}

type LeafAuthResult =
    Result<(AuthorizationOpts, Option<Vec<super::leafnode::LeafUser>>), Diagnostic>;

/// `parseLeafAuthorization`. `None`: it panicked.
pub(crate) fn parse_leaf_authorization(cx: &mut Cx, v: &Value) -> Option<LeafAuthResult> {
    let mut lt = Lt::default();
    let r = (|| -> P<LeafAuthResult> {
        let mut auth = AuthorizationOpts::default();
        let mut users = None;
        let am = want_map(lt.set(v))?;
        for (mk, mv) in am.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "user" | "username" => auth.user = want_str(tk)?.to_string(),
                "pass" | "password" => auth.pass = want_str(tk)?.to_string(),
                "nkey" => {
                    let nk = want_str(tk)?;
                    if !valid_public_key(nk, PREFIX_USER) {
                        cx.err(
                            &tk.pos,
                            "Not a valid public nkey for leafnode authorization",
                        );
                    }
                    auth.nkey = nk.to_string();
                }
                "timeout" => match parse_timeout(cx, tk, "leafnode authorization")? {
                    Ok(t) => auth.timeout = t,
                    Err(e) => return Ok(Err(e)),
                },
                "users" => match super::leafnode::parse_leaf_users(cx, tk) {
                    Some(Ok(u)) => users = Some(u),
                    Some(Err(e)) => cx.errors.push(e),
                    None => users = None,
                },
                "account" => auth.account = want_str(tk)?.to_string(),
                "proxy_required" => auth.proxy_required = want_bool(tk)?,
                _ => cx.unknown(tk, mk),
            }
        }
        Ok(Ok((auth, users)))
    })();
    cx.catch(&lt, r)
}

/// `parseProxies`: the trusted proxy keys. `None`: it panicked;
/// `Some(None)`: an error was recorded.
pub(crate) fn parse_proxies(cx: &mut Cx, v: &Value) -> Option<Option<Vec<String>>> {
    let mut lt = Lt::default();
    let r = (|| -> P<Option<Vec<String>>> {
        let tk = lt.set(v);
        let Some(pm) = tk.as_map() else {
            cx.err(
                &tk.pos,
                format!(
                    "expected proxies to be a map/struct, got {}",
                    tk.kind.go_type()
                ),
            );
            return Ok(None);
        };
        let mut keys = Vec::new();
        for (mk, mv) in pm.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "trusted" => {
                    let mut lt2 = Lt::default();
                    let r2 = (|| -> P<Option<Vec<String>>> {
                        let tk = lt2.set(tk);
                        let Some(ta) = tk.as_array() else {
                            cx.err(
                                &tk.pos,
                                format!(
                                    "expected proxies' trusted field to be an array, got {}",
                                    tk.kind.go_type()
                                ),
                            );
                            return Ok(None);
                        };
                        let mut out = Vec::new();
                        for t in ta {
                            let t = lt2.set(t);
                            let Some(tm) = t.as_map() else {
                                cx.err(
                                    &t.pos,
                                    format!(
                                        "expected proxies' trusted entry to be a map/struct, got {}",
                                        t.kind.go_type()
                                    ),
                                );
                                continue;
                            };
                            for (k, kv) in tm.iter() {
                                let kv = lt2.set(kv);
                                match k.to_lowercase().as_str() {
                                    "key" | "public_key" => {
                                        let key = want_str(kv)?;
                                        if !valid_any_public_key(key) {
                                            cx.err(
                                                &kv.pos,
                                                format!("invalid proxy key {}", quote(key)),
                                            );
                                            continue;
                                        }
                                        out.push(key.to_string());
                                    }
                                    _ => cx.unknown(kv, k),
                                }
                            }
                        }
                        Ok(Some(out))
                    })();
                    if let Some(Some(k)) = cx.catch(&lt2, r2) {
                        keys = k;
                    }
                }
                _ => cx.unknown(tk, mk),
            }
        }
        Ok(Some(keys))
    })();
    cx.catch(&lt, r)
}
