//! The `accounts` block (users, imports, exports, mappings, limits,
//! JetStream, message tracing) and top-level `mappings`.

use super::auth::{
    admit_user, apply_default_permissions, is_valid_subject, parse_user_permissions, parse_users,
    user_names, NkeyUser, Permissions, User,
};
use super::context::{
    got_type, got_value, want_array, want_bool, want_int, want_map, want_str, want_string, Cx, Lt,
    Record, P,
};
use super::gofmt::{parse_duration, quote, GoDuration};
use super::jetstream::{expected_for, jetstream_switch};
use super::types::ServerConfig;
use super::value::{Kind, Map, Value};
use super::Diagnostic;
use crate::nkey::{valid_public_key, PREFIX_ACCOUNT};

/// One destination of a subject mapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappingDest {
    /// `destination` subject.
    pub subject: String,
    /// `weight` in percent (100 for a plain string mapping).
    pub weight: u8,
    /// `cluster`.
    pub cluster: String,
}

/// A stream or service export.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportOpts {
    /// Exported subject.
    pub subject: String,
    /// Whether it is a service (else a stream).
    pub service: bool,
    /// `accounts` allowed to import (empty: public).
    pub accounts: Vec<String>,
    /// `response_type` (`singleton`, `stream`, `chunked`).
    pub response_type: String,
    /// `response_threshold`.
    pub response_threshold: GoDuration,
    /// `latency` subject and sampling.
    pub latency: Option<(String, i64)>,
    /// `account_token_position`.
    pub account_token_position: i64,
    /// `allow_trace`.
    pub allow_trace: bool,
}

/// A stream or service import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOpts {
    /// Exporting account.
    pub account: String,
    /// Imported subject.
    pub subject: String,
    /// Whether it is a service (else a stream).
    pub service: bool,
    /// `to`.
    pub to: String,
    /// `prefix` (streams).
    pub prefix: String,
    /// `share` (services).
    pub share: bool,
    /// `allow_trace` (streams).
    pub allow_trace: bool,
}

/// Account limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// `max_connections`.
    pub max_connections: i64,
    /// `max_subscriptions`.
    pub max_subscriptions: i64,
    /// `max_payload`.
    pub max_payload: i64,
    /// `max_leafnodes`.
    pub max_leafnodes: i64,
}

/// One account of the `accounts` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountOpts {
    /// Name.
    pub name: String,
    /// `nkey` (account public key).
    pub nkey: String,
    /// `jetstream` (as written).
    pub jetstream: Option<Value>,
    /// `default_permissions`.
    pub default_permissions: Option<Permissions>,
    /// `mappings`.
    pub mappings: Vec<(String, Vec<MappingDest>)>,
    /// `limits`.
    pub limits: Option<AccountLimits>,
    /// `exports`.
    pub exports: Vec<ExportOpts>,
    /// `imports`.
    pub imports: Vec<ImportOpts>,
    /// `msg_trace` destination.
    pub trace_dest: String,
    /// `msg_trace` sampling.
    pub trace_sampling: i64,
}

/// `parseAccounts`.
pub(crate) fn parse_accounts(cx: &mut Cx, v: &Value, o: &mut ServerConfig) {
    cx.guard(|cx, lt| parse_accounts_inner(cx, v, o, lt));
}

fn parse_accounts_inner(cx: &mut Cx, v: &Value, o: &mut ServerConfig, lt: &mut Lt) -> P<()> {
    let top = lt.set(v);
    match &top.kind {
        Kind::Array(names) => {
            let mut seen: Vec<String> = Vec::new();
            for n in names {
                let ntk = lt.set(n);
                let ns = want_str(ntk)?;
                if ns == "$G" {
                    cx.err(&ntk.pos, format!("{} is a Reserved Account", quote(ns)));
                    continue;
                }
                if seen.iter().any(|s| s == ns) {
                    cx.err(&ntk.pos, format!("Duplicate Account Entry: {ns}"));
                    continue;
                }
                o.accounts.push(AccountOpts {
                    name: ns.to_string(),
                    ..AccountOpts::default()
                });
                seen.push(ns.to_string());
            }
        }
        Kind::Map(m) => {
            let mut uorn = user_names(o);
            for (aname, amv) in m.iter() {
                let tk = lt.set(amv);
                if tk.used_variable {
                    continue;
                }
                let Some(am) = amv.as_map() else {
                    cx.err(&tk.pos, "Expected map entries for accounts");
                    continue;
                };
                if aname == "$G" {
                    cx.err(&tk.pos, format!("{} is a Reserved Account", quote(aname)));
                    continue;
                }
                let mut acc = AccountOpts {
                    name: aname.to_string(),
                    ..AccountOpts::default()
                };
                let mut users: Vec<User> = Vec::new();
                let mut nkeys: Vec<NkeyUser> = Vec::new();
                let mut users_pos = None;
                let idx = o.accounts.len();
                o.accounts.push(acc.clone());
                for (k, fv) in am.iter() {
                    let tk = lt.set(fv);
                    match k.to_lowercase().as_str() {
                        "nkey" => {
                            match fv.as_str() {
                                Some(nk) if valid_public_key(nk, PREFIX_ACCOUNT) => {
                                    acc.nkey = nk.to_string()
                                }
                                _ => cx.err(
                                    &tk.pos,
                                    format!(
                                        "Not a valid public nkey for an account: {}",
                                        match fv.as_str() {
                                            Some(s) => quote(s),
                                            None => format!(
                                                "%!q({}={})",
                                                fv.kind.go_type(),
                                                fv.kind.go_v()
                                            ),
                                        }
                                    ),
                                ),
                            }
                        }
                        "imports" => {
                            if let Some(Some(i)) = parse_imports(cx, tk).record(cx) {
                                acc.imports.extend(i);
                            }
                        }
                        "exports" => {
                            if let Some(Some(e)) = parse_exports(cx, tk).record(cx) {
                                acc.exports.extend(e);
                            }
                        }
                        "jetstream" => {
                            if let Some(Some(())) = parse_jetstream_for_account(cx, fv).record(cx) {
                                acc.jetstream = Some(fv.clone());
                            }
                        }
                        "users" => {
                            users_pos = Some(tk.pos.clone());
                            if let Some(r) = parse_users(cx, fv, false).record(cx) {
                                (nkeys, users) = r.unwrap_or_default();
                            }
                        }
                        "default_permissions" => {
                            if let Some(p) = parse_user_permissions(cx, tk, true).record(cx) {
                                acc.default_permissions = p;
                            }
                        }
                        "mappings" | "maps" => {
                            if let Some(maps) = parse_account_mappings(cx, tk) {
                                acc.mappings = maps;
                            }
                        }
                        "limits" => {
                            if let Some(Some(l)) = parse_account_limits(cx, tk).record(cx) {
                                acc.limits = Some(l);
                            }
                        }
                        "msg_trace" | "trace_dest" => {
                            if let Err(e) = parse_msg_trace(tk, k, &mut acc)? {
                                cx.errors.push(e);
                                continue;
                            }
                            if !acc.trace_dest.is_empty() && acc.trace_sampling == 0 {
                                acc.trace_sampling = 100;
                            } else if acc.trace_sampling > 0 && acc.trace_dest.is_empty() {
                                cx.warn(
                                    Some(&tk.pos),
                                    "Trace destination sampling ignored since no destination was set",
                                );
                                acc.trace_sampling = 0;
                            }
                        }
                        _ => cx.unknown(tk, k),
                    }
                    o.accounts[idx] = acc.clone();
                }
                o.accounts[idx] = acc.clone();
                if !nkeys.is_empty() || !users.is_empty() {
                    if !o.username.is_empty() {
                        cx.errors.push(Diagnostic::plain(
                            users_pos.as_ref(),
                            "Can not have a single user/pass and accounts",
                        ));
                        continue;
                    }
                    if !o.authorization.is_empty() {
                        cx.errors.push(Diagnostic::plain(
                            users_pos.as_ref(),
                            "Can not have a token and accounts",
                        ));
                        continue;
                    }
                }
                apply_default_permissions(&mut users, &mut nkeys, &acc.default_permissions);
                let (pos, account) = (users_pos.as_ref(), Some(aname.to_string()));
                for mut n in nkeys {
                    if admit_user(cx, &mut uorn, &n.nkey, "nkey", pos) {
                        n.account = account.clone();
                        o.nkeys.push(n);
                    }
                }
                for mut u in users {
                    if admit_user(cx, &mut uorn, &u.username, "user", pos) {
                        u.account = account.clone();
                        o.users.push(u);
                    }
                }
            }
        }
        Kind::String(_) | Kind::Bool(_) | Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) => {
        }
    }
    // Imports and exports are resolved once every account is known, and
    // only when nothing failed so far.
    if !cx.errors.is_empty() {
        return Ok(());
    }
    resolve_imports_exports(cx, &top.pos, o);
    Ok(())
}

/// Export authorization as the reference stores it.
struct ExportAuth {
    /// Approved importing accounts (empty: public).
    approved: Vec<String>,
    account_pos: usize,
}

fn check_auth(ea: &Option<ExportAuth>, importer: &str, tokens: Option<&[&str]>) -> bool {
    let Some(ea) = ea else { return true };
    if ea.approved.is_empty() && ea.account_pos == 0 {
        return true;
    }
    if ea.account_pos > 0 {
        let Some(t) = tokens else { return false };
        return ea.account_pos <= t.len() && t[ea.account_pos - 1] == importer;
    }
    ea.approved.iter().any(|a| a == importer)
}

/// `isSubsetMatch`: whether the (import) `tokens` fall under the export
/// subject `test`.
fn is_subset_match(tokens: &[&str], test: &str) -> bool {
    let tts: Vec<&str> = test.split('.').collect();
    for (i, t2) in tts.iter().enumerate() {
        if i >= tokens.len() {
            return false;
        }
        if t2.is_empty() {
            return false;
        }
        if *t2 == ">" {
            return true;
        }
        let t1 = tokens[i];
        if t1.is_empty() || t1 == ">" {
            return false;
        }
        if t1 == "*" {
            if *t2 != "*" {
                return false;
            }
            continue;
        }
        if !t2.starts_with('*') && t1 != *t2 {
            return false;
        }
    }
    tokens.len() == tts.len()
}

/// `checkStreamExportApproved` / `checkServiceExportApproved`.
fn export_approved(
    exports: &[(String, Option<ExportAuth>)],
    importer: &str,
    subject: &str,
) -> bool {
    if let Some((_, ea)) = exports.iter().rev().find(|(s, _)| s == subject) {
        return check_auth(ea, importer, None);
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (subj, ea) in exports {
        if is_subset_match(&tokens, subj) {
            return check_auth(ea, importer, Some(&tokens));
        }
    }
    false
}

fn resolve_imports_exports(cx: &mut Cx, pos: &super::value::Pos, o: &ServerConfig) {
    let names: Vec<&str> = o.accounts.iter().map(|a| a.name.as_str()).collect();
    // account name -> (stream exports, service exports)
    type Exports = Vec<(String, Option<ExportAuth>)>;
    let mut table: Vec<(&str, Exports, Exports)> = o
        .accounts
        .iter()
        .map(|a| (a.name.as_str(), Vec::new(), Vec::new()))
        .collect();
    for service in [false, true] {
        let kind = if service { "service" } else { "stream" };
        for (ai, acc) in o.accounts.iter().enumerate() {
            for e in acc.exports.iter().filter(|e| e.service == service) {
                let mut approved = Vec::new();
                for an in &e.accounts {
                    if !names.contains(&an.as_str()) {
                        cx.err(
                            pos,
                            format!("{} account not defined for {kind} export", quote(an)),
                        );
                        continue;
                    }
                    approved.push(an.clone());
                }
                let tpos = usize::try_from(e.account_token_position.max(0)).unwrap_or(0);
                if tpos > 0 {
                    let tokens: Vec<&str> = e.subject.split('.').collect();
                    if tokens.len() < tpos || tokens[tpos - 1] != "*" {
                        cx.err(
                            pos,
                            format!(
                                "Error adding {kind} export {}: sublist: invalid subject",
                                quote(&e.subject)
                            ),
                        );
                        continue;
                    }
                }
                let ea = (!approved.is_empty() || tpos > 0).then_some(ExportAuth {
                    approved,
                    account_pos: tpos,
                });
                let list = if service {
                    &mut table[ai].2
                } else {
                    &mut table[ai].1
                };
                list.retain(|(s, _)| *s != e.subject);
                list.push((e.subject.clone(), ea));
                if service && e.latency.is_some() && o.no_system_account {
                    cx.err(
                        pos,
                        format!(
                            "Error adding service latency sampling for {}: system account not setup",
                            quote(&e.subject)
                        ),
                    );
                }
            }
        }
    }
    for service in [false, true] {
        let kind = if service { "service" } else { "stream" };
        for acc in &o.accounts {
            for i in acc.imports.iter().filter(|i| i.service == service) {
                let Some((_, streams, services)) = table.iter().find(|(n, _, _)| *n == i.account)
                else {
                    cx.err(
                        pos,
                        format!(
                            "{} account not defined for {kind} import",
                            quote(&i.account)
                        ),
                    );
                    continue;
                };
                let fail = |cx: &mut Cx, why: &str| {
                    cx.err(
                        pos,
                        format!("Error adding {kind} import {}: {why}", quote(&i.subject)),
                    );
                };
                if service {
                    if !is_valid_subject(&i.subject) || !is_valid_subject(&i.to) {
                        fail(cx, "sublist: invalid subject");
                        continue;
                    }
                    if services.is_empty() || !export_approved(services, &acc.name, &i.subject) {
                        fail(cx, "service import not authorized");
                    }
                } else {
                    if streams.is_empty()
                        || !is_valid_subject(&i.subject)
                        || !export_approved(streams, &acc.name, &i.subject)
                    {
                        fail(cx, "stream import not authorized");
                        continue;
                    }
                    if !i.prefix.is_empty() && i.prefix.split('.').any(|t| t == "*" || t == ">") {
                        fail(cx, "stream import prefix can not contain wildcard tokens");
                    }
                }
            }
        }
    }
}

fn parse_jetstream_for_account(cx: &mut Cx, v: &Value) -> Option<Result<(), Diagnostic>> {
    cx.guard(|cx, lt| {
        let Some(m) = v.as_map() else {
            // The reference passes the bare value: no position.
            return Ok(jetstream_switch(v)
                .map(drop)
                .map_err(|e| Diagnostic::plain(None, e)));
        };
        for (mk, mv) in m.iter() {
            let tk = lt.set(mv);
            let wanted = match mk.to_lowercase().as_str() {
                "max_memory"
                | "max_mem"
                | "mem"
                | "memory"
                | "max_store"
                | "max_file"
                | "max_disk"
                | "store"
                | "disk"
                | "max_streams"
                | "streams"
                | "max_consumers"
                | "consumers"
                | "mem_max_stream_bytes"
                | "memory_max_stream_bytes"
                | "disk_max_stream_bytes"
                | "store_max_stream_bytes"
                | "max_ack_pending" => tk.as_int().is_none().then_some("a parseable size"),
                "max_bytes_required" | "max_stream_bytes" | "max_bytes" => {
                    tk.as_bool().is_none().then_some("a parseable bool")
                }
                "cluster_traffic" => match tk.as_str() {
                    Some("system" | "" | "owner") => None,
                    Some(_) => Some("'system' or 'owner' string value"),
                    None => Some("either 'system' or 'owner' string value"),
                },
                _ => {
                    cx.unknown(tk, mk);
                    None
                }
            };
            if let Some(what) = wanted {
                return Ok(Err(expected_for(tk, what, mk)));
            }
        }
        Ok(Ok(()))
    })
}

fn parse_imports(cx: &mut Cx, v: &Value) -> Option<Result<Vec<ImportOpts>, Diagnostic>> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(ims) = tk.as_array() else {
            return Ok(Err(got_type(tk, "Imports should be an array")));
        };
        let mut out: Vec<ImportOpts> = Vec::new();
        for e in ims {
            let Some(Some(Some(imp))) = parse_import(cx, e).record(cx) else {
                continue;
            };
            if imp.service {
                if let Some(dup) = out
                    .iter()
                    .find(|d| d.service && d.to == imp.to && d.account == imp.account)
                {
                    let etk = lt.set(e);
                    cx.err(
                        &etk.pos,
                        format!(
                            "Duplicate service import subject {}, previously used in import for account {}, subject {}",
                            quote(&imp.to),
                            quote(&dup.account),
                            quote(&dup.subject)
                        ),
                    );
                    continue;
                }
            }
            out.push(imp);
        }
        Ok(Ok(out))
    })
}

fn parse_exports(cx: &mut Cx, v: &Value) -> Option<Result<Vec<ExportOpts>, Diagnostic>> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(exs) = tk.as_array() else {
            return Ok(Err(got_type(tk, "Exports should be an array")));
        };
        let mut out = Vec::new();
        for e in exs {
            if let Some(Some(Some(x))) = parse_export(cx, e).record(cx) {
                out.push(x);
            }
        }
        Ok(Ok(out))
    })
}

/// `parseAccount`: `{account, subject}` of an import.
fn parse_account_ref(cx: &mut Cx, m: &Map) -> (String, String) {
    cx.guard(|cx, lt| {
        let (mut account, mut subject) = (String::new(), String::new());
        for (mk, mv) in m.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "account" => account = want_string(tk)?,
                "subject" => subject = want_string(tk)?,
                _ => cx.unknown(tk, mk),
            }
        }
        Ok((account, subject))
    })
    .unwrap_or_default()
}

fn parse_import(cx: &mut Cx, v: &Value) -> Option<Result<Option<ImportOpts>, Diagnostic>> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(vv) = tk.as_map() else {
            return Ok(Err(got_type(
                tk,
                "Import Items should be a map with type entry",
            )));
        };
        let mut cur: Option<ImportOpts> = None;
        let (mut pre, mut to, mut share) = (String::new(), String::new(), false);
        let mut atrc: Option<(bool, super::value::Pos)> = None;
        for (mk, mv) in vv.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "stream" | "service" => {
                    let is_service = mk.eq_ignore_ascii_case("service");
                    if let Some(c) = &cur {
                        if c.service != is_service {
                            cx.err(
                                &tk.pos,
                                if is_service {
                                    "Detected service but already saw a stream"
                                } else {
                                    "Detected stream but already saw a service"
                                },
                            );
                            continue;
                        }
                    }
                    if is_service {
                        if let Some((_, p)) = &atrc {
                            cx.err(p, "Detected allow_trace directive on a non-stream");
                            continue;
                        }
                    }
                    let Some(ac) = tk.as_map() else {
                        cx.err(
                            &tk.pos,
                            format!(
                                "{} entry should be an account map, got {}",
                                if is_service { "Service" } else { "Stream" },
                                tk.kind.go_type()
                            ),
                        );
                        continue;
                    };
                    let (account, subject) = parse_account_ref(cx, ac);
                    if account.is_empty() || subject.is_empty() {
                        cx.err(&tk.pos, "Expect an account name and a subject");
                        continue;
                    }
                    let mut imp = ImportOpts {
                        to: if is_service && to.is_empty() {
                            subject.clone()
                        } else {
                            to.clone()
                        },
                        account,
                        subject,
                        service: is_service,
                        prefix: if is_service {
                            String::new()
                        } else {
                            pre.clone()
                        },
                        share: is_service && share,
                        allow_trace: false,
                    };
                    if let Some((b, _)) = &atrc {
                        imp.allow_trace = *b;
                    }
                    cur = Some(imp);
                }
                "prefix" => {
                    pre = want_str(tk)?.to_string();
                    if let Some(c) = cur.as_mut().filter(|c| !c.service) {
                        c.prefix = pre.clone();
                    }
                }
                "to" => {
                    to = want_str(tk)?.to_string();
                    if let Some(c) = cur.as_mut() {
                        c.to = to.clone();
                        if !c.service && !c.prefix.is_empty() {
                            cx.err(
                                &tk.pos,
                                "Stream import can not have a 'prefix' and a 'to' property",
                            );
                            continue;
                        }
                    }
                }
                "share" => {
                    share = want_bool(tk)?;
                    if let Some(c) = cur.as_mut().filter(|c| c.service) {
                        c.share = share;
                    }
                }
                "allow_trace" => {
                    if cur.as_ref().is_some_and(|c| c.service) {
                        cx.err(&tk.pos, "Detected allow_trace directive on a non-stream");
                        continue;
                    }
                    let b = want_bool(tk)?;
                    atrc = Some((b, tk.pos.clone()));
                    if let Some(c) = cur.as_mut() {
                        c.allow_trace = b;
                    }
                }
                _ => cx.unknown(tk, mk),
            }
        }
        Ok(Ok(cur))
    })
}

fn parse_export(cx: &mut Cx, v: &Value) -> Option<Result<Option<ExportOpts>, Diagnostic>> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(vv) = tk.as_map() else {
            return Ok(Err(got_type(tk, "Export Items should be a map with type entry")));
        };
        let mut cur: Option<ExportOpts> = None;
        let mut accounts: Option<Vec<String>> = None;
        let mut rt: Option<String> = None;
        let mut rt_pos = None;
        let mut lat: Option<(String, i64)> = None;
        let mut lat_pos = None;
        let mut thresh: Option<GoDuration> = None;
        let mut atrc: Option<bool> = None;
        let mut atrc_pos = None;
        let mut tpos: i64 = 0;
        for (mk, mv) in vv.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "stream" => {
                    if cur.as_ref().is_some_and(|c| c.service) {
                        cx.err(
                            &tk.pos,
                            format!(
                                "Detected stream {} but already saw a service",
                                quote(&tk.kind.go_v())
                            ),
                        );
                        continue;
                    }
                    if let Some(p) = &rt_pos {
                        cx.err(p, "Detected response directive on non-service");
                        continue;
                    }
                    if let Some(p) = &lat_pos {
                        cx.err(p, "Detected latency directive on non-service");
                        continue;
                    }
                    if let Some(p) = &atrc_pos {
                        cx.err(p, "Detected allow_trace directive on non-service");
                        continue;
                    }
                    let Some(s) = tk.as_str() else {
                        cx.errors.push(got_type(tk, "Expected stream name to be string"));
                        continue;
                    };
                    cur = Some(ExportOpts {
                        subject: s.to_string(),
                        accounts: accounts.clone().unwrap_or_default(),
                        ..ExportOpts::default()
                    });
                }
                "service" => {
                    if cur.as_ref().is_some_and(|c| !c.service) {
                        cx.err(
                            &tk.pos,
                            format!(
                                "Detected service {} but already saw a stream",
                                quote(&tk.kind.go_v())
                            ),
                        );
                        continue;
                    }
                    let Some(s) = tk.as_str() else {
                        cx.errors.push(got_type(tk, "Expected service name to be string"));
                        continue;
                    };
                    cur = Some(ExportOpts {
                        subject: s.to_string(),
                        service: true,
                        accounts: accounts.clone().unwrap_or_default(),
                        response_type: rt.clone().unwrap_or_default(),
                        latency: lat.clone(),
                        response_threshold: thresh.unwrap_or(0),
                        allow_trace: atrc.unwrap_or(false),
                        ..ExportOpts::default()
                    });
                }
                "response" | "response_type" => {
                    if rt_pos.is_some() {
                        cx.err(&tk.pos, "Duplicate response type definition");
                        continue;
                    }
                    rt_pos = Some(tk.pos.clone());
                    let Some(s) = tk.as_str() else {
                        cx.errors.push(got_type(tk, "Expected response type to be string"));
                        continue;
                    };
                    let t = match s.to_lowercase().as_str() {
                        "single" | "singleton" => "singleton",
                        "stream" => "stream",
                        "chunk" | "chunked" => "chunked",
                        _ => {
                            cx.err(&tk.pos, format!("Unknown response type: {}", quote(s)));
                            continue;
                        }
                    };
                    rt = Some(t.to_string());
                    if let Some(c) = cur.as_mut() {
                        if c.service {
                            c.response_type = t.to_string();
                        } else {
                            cx.err(&tk.pos, "Detected response directive on non-service");
                        }
                    }
                }
                "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                    if thresh.is_some() {
                        cx.err(&tk.pos, "Duplicate response threshold detected");
                        continue;
                    }
                    thresh = Some(0);
                    let Some(s) = tk.as_str() else {
                        cx.errors.push(got_type(tk, "Expected response threshold to be a parseable time duration"));
                        continue;
                    };
                    let Ok(d) = parse_duration(s) else {
                        cx.err(
                            &tk.pos,
                            format!(
                                "Expected response threshold to be a parseable time duration, got {}",
                                quote(s)
                            ),
                        );
                        continue;
                    };
                    thresh = Some(d);
                    if let Some(c) = cur.as_mut() {
                        if c.service {
                            c.response_threshold = d;
                        } else {
                            cx.err(&tk.pos, "Detected response directive on non-service");
                        }
                    }
                }
                "accounts" => {
                    let mut list = accounts.take().unwrap_or_default();
                    for e in want_array(tk)? {
                        list.push(want_str(lt.set(e))?.to_string());
                    }
                    if let Some(c) = cur.as_mut() {
                        c.accounts = list.clone();
                    }
                    accounts = Some(list);
                }
                "latency" => {
                    lat_pos = Some(tk.pos.clone());
                    let l = match parse_service_latency(tk) {
                        Ok(l) => l,
                        Err(e) => {
                            cx.errors.push(e);
                            continue;
                        }
                    };
                    lat = Some(l.clone());
                    if let Some(c) = cur.as_mut() {
                        if !c.service {
                            cx.err(&tk.pos, "Detected latency directive on non-service");
                            continue;
                        }
                        c.latency = Some(l);
                    }
                }
                "account_token_position" => tpos = want_int(tk)?,
                "allow_trace" => {
                    atrc_pos = Some(tk.pos.clone());
                    let b = want_bool(tk)?;
                    atrc = Some(b);
                    if let Some(c) = cur.as_mut() {
                        if !c.service {
                            cx.err(&tk.pos, "Detected allow_trace directive on non-service");
                            continue;
                        }
                        c.allow_trace = b;
                    }
                }
                _ => cx.unknown(tk, mk),
            }
        }
        if let Some(c) = cur.as_mut() {
            c.account_token_position = tpos;
        }
        Ok(Ok(cur))
    })
}

fn parse_service_latency(root: &Value) -> Result<(String, i64), Diagnostic> {
    if let Some(s) = root.as_str() {
        return Ok((s.to_string(), 100));
    }
    let Some(m) = root.as_map() else {
        return Err(Diagnostic::plain(
            Some(&root.pos),
            format!(
                "Expected latency entry to be a map/struct or string, got {}",
                root.kind.go_type()
            ),
        ));
    };
    let mut sampling = 100;
    if let Some(v) = m.get("sampling") {
        let mut header = false;
        let sample: i64 = match &v.kind {
            Kind::Integer(n) => *n,
            Kind::String(s) => {
                if s.trim().eq_ignore_ascii_case("headers") {
                    header = true;
                    0
                } else {
                    let t = s.strip_suffix('%').unwrap_or(s);
                    t.parse::<i64>().map_err(|_| {
                        Diagnostic::plain(
                            Some(&v.pos),
                            format!(
                                "Failed to parse latency sample: strconv.Atoi: parsing {}: invalid syntax",
                                quote(t)
                            ),
                        )
                    })?
                }
            }
            Kind::Bool(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) | Kind::Map(_) => {
                return Err(Diagnostic::plain(
                    Some(&v.pos),
                    format!(
                        "Expected latency sample to be a string or map/struct, got {}",
                        v.kind.go_type()
                    ),
                ))
            }
        };
        if !header && !(1..=100).contains(&sample) {
            return Err(Diagnostic::plain(
                Some(&v.pos),
                "bad sampling percentage, should be 1-100",
            ));
        }
        sampling = sample;
    }
    let Some(v) = m.get("subject") else {
        return Err(Diagnostic::plain(
            Some(&root.pos),
            "Latency subject required, but missing",
        ));
    };
    let Some(s) = v.as_str() else {
        return Err(Diagnostic::plain(
            Some(&v.pos),
            "Expected latency subject to be a string, got string",
        ));
    };
    Ok((s.to_string(), sampling))
}

fn parse_map_dest(cx: &mut Cx, v: &Value) -> Option<MappingDest> {
    let Some(m) = v.as_map() else {
        cx.err(&v.pos, "Expected an entry for the mapping destination");
        return None;
    };
    // A failed string assertion is reported here, not as a panic.
    let string = |cx: &mut Cx, fv: &Value| match want_string(fv) {
        Ok(s) => Some(s),
        Err(p) => {
            cx.err(&fv.pos, p.0);
            None
        }
    };
    let mut d = MappingDest::default();
    let mut sw = false;
    for (k, fv) in m.iter() {
        match k.to_lowercase().as_str() {
            "dest" | "destination" => d.subject = string(cx, fv)?,
            "weight" => {
                let w: i64 = match &fv.kind {
                    Kind::String(s) => {
                        let ws = s.strip_suffix('%').unwrap_or(s);
                        match ws.parse::<i64>() {
                            Ok(n) => n,
                            Err(_) => {
                                cx.err(
                                    &fv.pos,
                                    format!("Invalid weight {} for mapping destination", quote(ws)),
                                );
                                return None;
                            }
                        }
                    }
                    Kind::Integer(n) => *n,
                    Kind::Bool(_)
                    | Kind::Float(_)
                    | Kind::Datetime(_)
                    | Kind::Array(_)
                    | Kind::Map(_) => {
                        cx.err(
                            &fv.pos,
                            format!("Unknown entry type for weight of {}\n", fv.kind.go_v()),
                        );
                        return None;
                    }
                };
                if !(0..=100).contains(&w) {
                    cx.err(
                        &fv.pos,
                        format!("Invalid weight {w} for mapping destination"),
                    );
                    return None;
                }
                d.weight = w as u8;
                sw = true;
            }
            "cluster" => d.cluster = string(cx, fv)?,
            _ => {
                cx.err(
                    &fv.pos,
                    format!("Unknown field {} for mapping destination", quote(k)),
                );
                return None;
            }
        }
    }
    if !sw {
        cx.err(
            &v.pos,
            format!(
                "Missing weight for mapping destination {}",
                quote(&d.subject)
            ),
        );
        return None;
    }
    Some(d)
}

type Mappings = Vec<(String, Vec<MappingDest>)>;

/// `parseAccountMappings` (account and top-level `mappings`).
pub(crate) fn parse_account_mappings(cx: &mut Cx, v: &Value) -> Option<Mappings> {
    cx.guard(|cx, lt| {
        let top = lt.set(v);
        let am = want_map(top)?;
        let mut out = Vec::new();
        for (subj, mv) in am.iter() {
            if !is_valid_subject(subj) {
                cx.err(
                    &top.pos,
                    format!("Subject {} is not a valid subject", quote(subj)),
                );
                continue;
            }
            let tk = lt.set(mv);
            match &tk.kind {
                Kind::String(s) => out.push((
                    subj.to_string(),
                    vec![MappingDest {
                        subject: s.clone(),
                        weight: 100,
                        cluster: String::new(),
                    }],
                )),
                Kind::Array(a) => {
                    let mut dests = Vec::new();
                    for e in a {
                        lt.set(e);
                        if let Some(d) = parse_map_dest(cx, e) {
                            dests.push(d);
                        }
                    }
                    let total: u32 = dests.iter().map(|d| u32::from(d.weight)).sum();
                    if total > 100 {
                        cx.err(
                            &tk.pos,
                            format!(
                                "Error adding mapping for {} : total weight needs to be <= 100",
                                quote(subj)
                            ),
                        );
                        continue;
                    }
                    out.push((subj.to_string(), dests));
                }
                Kind::Bool(_)
                | Kind::Integer(_)
                | Kind::Float(_)
                | Kind::Datetime(_)
                | Kind::Map(_) => {
                    if let Some(d) = parse_map_dest(cx, tk) {
                        out.push((subj.to_string(), vec![d]));
                    }
                }
            }
        }
        Ok(out)
    })
}

fn parse_account_limits(cx: &mut Cx, v: &Value) -> Option<Result<AccountLimits, Diagnostic>> {
    cx.guard(|cx, lt| {
        let tk = lt.set(v);
        let Some(am) = tk.as_map() else {
            return Ok(Err(got_value(
                tk,
                "Expected account limits to be a map/struct",
            )));
        };
        let mut l = AccountLimits::default();
        for (k, fv) in am.iter() {
            let tk = lt.set(fv);
            match k.to_lowercase().as_str() {
                "max_connections" | "max_conn" => l.max_connections = want_int(tk)?,
                "max_subscriptions" | "max_subs" => l.max_subscriptions = want_int(tk)?,
                "max_payload" | "max_pay" => l.max_payload = want_int(tk)?,
                "max_leafnodes" | "max_leafs" => l.max_leafnodes = want_int(tk)?,
                _ => cx.unknown_parsing(tk, k, "account limits"),
            }
        }
        Ok(Ok(l))
    })
}

fn valid_publish_subject(s: &str) -> bool {
    is_valid_subject(s) && s.split('.').all(|t| t != "*" && t != ">")
}

fn parse_msg_trace(v: &Value, top_key: &str, acc: &mut AccountOpts) -> P<Result<(), Diagnostic>> {
    let dest = |acc: &mut AccountOpts, tk: &Value, k: &str| -> Result<(), Diagnostic> {
        let Some(td) = tk.as_str() else {
            return Err(Diagnostic::plain(
                Some(&tk.pos),
                format!(
                    "Field {} should be a string, got {}",
                    quote(k),
                    tk.kind.go_type()
                ),
            ));
        };
        if !valid_publish_subject(td) {
            return Err(Diagnostic::plain(
                Some(&tk.pos),
                format!("Trace destination {} is not valid", quote(td)),
            ));
        }
        acc.trace_dest = td.to_string();
        Ok(())
    };
    let sampling = |acc: &mut AccountOpts, tk: &Value, n: i64| -> Result<(), Diagnostic> {
        if n <= 0 || n > 100 {
            return Err(Diagnostic::plain(
                Some(&tk.pos),
                format!("Ttrace destination sampling value {n} is invalid, needs to be [1..100]"),
            ));
        }
        acc.trace_sampling = n;
        Ok(())
    };
    Ok(match &v.kind {
        Kind::String(_) => dest(acc, v, top_key),
        Kind::Map(m) => {
            for (k, fv) in m.iter() {
                let r = match k.to_lowercase().as_str() {
                    "dest" => dest(acc, fv, k),
                    "sampling" => match &fv.kind {
                        Kind::Integer(n) => sampling(acc, fv, *n),
                        Kind::String(s) => {
                            let t = s.strip_suffix('%').unwrap_or(s);
                            match t.parse::<i64>() {
                                Ok(n) => sampling(acc, fv, n),
                                Err(_) => Err(Diagnostic::plain(
                                    Some(&fv.pos),
                                    format!(
                                        "Invalid trace destination sampling value {}",
                                        quote(s)
                                    ),
                                )),
                            }
                        }
                        Kind::Bool(_)
                        | Kind::Float(_)
                        | Kind::Datetime(_)
                        | Kind::Array(_)
                        | Kind::Map(_) => Err(Diagnostic::plain(
                            Some(&fv.pos),
                            format!(
                                "Trace destination sampling field {} should be an integer or a percentage, got {}",
                                quote(k),
                                fv.kind.go_type()
                            ),
                        )),
                    },
                    _ => {
                        if fv.used_variable {
                            Ok(())
                        } else {
                            Err(Diagnostic::plain(
                                Some(&fv.pos),
                                format!(
                                    "Unknown field {} parsing account message trace map/struct {}",
                                    quote(k),
                                    quote(top_key)
                                ),
                            ))
                        }
                    }
                };
                if let Err(e) = r {
                    return Ok(Err(e));
                }
            }
            Ok(())
        }
        Kind::Bool(_) | Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) => {
            Err(Diagnostic::plain(
                Some(&v.pos),
                format!(
                    "Expected account message trace {} to be a string or a map/struct, got {}",
                    quote(top_key),
                    v.kind.go_type()
                ),
            ))
        }
    })
}
