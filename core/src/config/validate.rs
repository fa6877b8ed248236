//! The checks nats-server makes when it creates the server
//! (`setBaselineOptions` + `validateOptions` + account setup), which `-t`
//! does not run. Each returns the first error, worded like the reference.

use super::auth::{check_perm_subject_array, Permissions};
use super::cluster::{check_cluster_permission_subjects, validate_compression};
use super::gofmt::{format_duration, quote, quote_list};
use super::leafnode::{check_leaf_min_version, is_ws_url, validate_leaf_auth, validate_leaf_proxy};
use super::types::ServerConfig;
use crate::nkey::{valid_public_key, PREFIX_ACCOUNT};

const DEFAULT_LAME_DUCK: i64 = 120_000_000_000;
const DEFAULT_LAME_DUCK_GRACE: i64 = 10_000_000_000;
const DEFAULT_MAX_PAYLOAD: i64 = 1024 * 1024;
const DEFAULT_MAX_PENDING: i64 = 64 * 1024 * 1024;

fn validate_permission_subjects(p: &Option<Permissions>) -> Result<(), String> {
    let Some(p) = p else { return Ok(()) };
    if let Some(pp) = &p.publish {
        if let Some(a) = &pp.allow {
            check_perm_subject_array(a, false).map_err(|e| format!("publish allow: {e}"))?;
        }
        if let Some(d) = &pp.deny {
            check_perm_subject_array(d, false).map_err(|e| format!("publish deny: {e}"))?;
        }
    }
    if let Some(sp) = &p.subscribe {
        if let Some(a) = &sp.allow {
            check_perm_subject_array(a, true).map_err(|e| format!("subscribe allow: {e}"))?;
        }
        if let Some(d) = &sp.deny {
            check_perm_subject_array(d, true).map_err(|e| format!("subscribe deny: {e}"))?;
        }
    }
    Ok(())
}

fn validate_no_auth_user(o: &ServerConfig, user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Ok(());
    }
    if !o.operators.is_empty() {
        return Err("no_auth_user not compatible with Trusted Operator".into());
    }
    if o.users.is_empty() && o.nkeys.is_empty() {
        return Err(format!(
            "no_auth_user: \"{user}\" present, but users/nkeys are not defined"
        ));
    }
    if o.users.iter().any(|u| u.username == user) || o.nkeys.iter().any(|n| n.nkey == user) {
        return Ok(());
    }
    Err(format!(
        "no_auth_user: \"{user}\" not present as user or nkey in authorization block or account configuration"
    ))
}

fn validate_leaf_node(o: &ServerConfig) -> Result<(), String> {
    let l = &o.leafnode;
    validate_leaf_auth(l)?;
    let mut names: Vec<String> = Vec::new();
    for r in &l.remotes {
        check_perm_subject_array(&r.deny_imports, false)
            .map_err(|e| format!("invalid deny_imports for remote {}: {e}", r.name(true)))?;
        check_perm_subject_array(&r.deny_exports, false)
            .map_err(|e| format!("invalid deny_exports for remote {}: {e}", r.name(true)))?;
        let rn = r.name(false);
        if names.contains(&rn) {
            return Err(format!("duplicate remote {}", r.name(true)));
        }
        names.push(rn);
    }
    if o.operators.is_empty() {
        let mut acc_names: Vec<&str> = o.accounts.iter().map(|a| a.name.as_str()).collect();
        acc_names.push("$G");
        acc_names.push("");
        if o.system_account.is_empty() && !o.no_system_account {
            acc_names.push("$SYS");
        }
        let check = |name: &str, what: &str| -> Result<(), String> {
            if acc_names.contains(&name) {
                Ok(())
            } else {
                Err(format!(
                    "cannot find local account {} specified in leafnode {what}",
                    quote(name)
                ))
            }
        };
        check(&l.account, "authorization")?;
        for u in &l.users {
            if let Some(a) = &u.account {
                check(a, "authorization")?;
            }
        }
        for r in &l.remotes {
            let acc = if r.local_account.is_empty() {
                "$G"
            } else {
                r.local_account.as_str()
            };
            check(acc, "remote")?;
        }
    } else {
        if !l.users.is_empty() {
            return Err("operator mode does not allow specifying users in leafnode config".into());
        }
        for r in &l.remotes {
            if !valid_public_key(&r.local_account, PREFIX_ACCOUNT) {
                return Err("operator mode requires account nkeys in remotes. Please add an `account` key to each remote in your `leafnodes` section, to assign it to an account. Each account value should be a 56 character public key, starting with the letter 'A'".into());
            }
        }
        if l.port != 0 && !l.account.is_empty() && !valid_public_key(&l.account, PREFIX_ACCOUNT) {
            return Err("operator mode and non account nkeys are incompatible".into());
        }
    }
    if !l.compression.mode.is_empty() {
        validate_compression(&l.compression, "s2_auto")?;
    }
    for r in &l.remotes {
        validate_leaf_proxy(r)?;
        if r.urls.len() >= 2 {
            let first = is_ws_url(&r.urls[0]);
            if r.urls[1..].iter().any(|u| is_ws_url(u) != first) {
                let list: Vec<String> = r.urls.iter().map(|u| u.redacted()).collect();
                return Err(format!(
                    "remote leaf node configuration cannot have a mix of websocket and non-websocket urls: {}",
                    quote_list(&list)
                ));
            }
        }
        if !r.compression.mode.is_empty() {
            validate_compression(&r.compression, "s2_auto")?;
        }
    }
    if l.port == 0 {
        return Ok(());
    }
    if !l.min_version.is_empty() {
        check_leaf_min_version(&l.min_version)?;
    }
    if o.gateway.name.is_empty() && o.gateway.port == 0 {
        return Ok(());
    }
    if o.system_account.is_empty() {
        return Err("leaf nodes and gateways (both being defined) require a system account to also be configured".into());
    }
    Ok(())
}

fn validate_auth(o: &ServerConfig) -> Result<(), String> {
    for u in &o.users {
        validate_permission_subjects(&u.permissions)
            .map_err(|e| format!("invalid permissions for user {}: {e}", quote(&u.username)))?;
    }
    for n in &o.nkeys {
        validate_permission_subjects(&n.permissions)
            .map_err(|e| format!("invalid permissions for nkey {}: {e}", quote(&n.nkey)))?;
    }
    validate_no_auth_user(o, &o.no_auth_user)
}

fn validate_gateway(o: &ServerConfig) -> Result<(), String> {
    let g = &o.gateway;
    if g.name.is_empty() && g.port == 0 {
        return Ok(());
    }
    if g.name.is_empty() {
        return Err("gateway has no name".into());
    }
    if g.name.contains(' ') {
        return Err("gateway name cannot contain spaces".into());
    }
    if g.port == 0 {
        return Err(format!(
            "gateway {} has no port specified (select -1 for random port)",
            quote(&g.name)
        ));
    }
    for (i, r) in g.gateways.iter().enumerate() {
        if r.name.is_empty() {
            return Err(format!("gateway in the list {i} has no name"));
        }
        if r.urls.is_empty() {
            return Err(format!("gateway {} has no URL", quote(&r.name)));
        }
    }
    Ok(())
}

fn validate_cluster(o: &ServerConfig) -> Result<(), String> {
    let c = &o.cluster;
    if c.name.contains(' ') {
        return Err("cluster name cannot contain spaces".into());
    }
    if let Some(p) = &c.permissions {
        let perms = Permissions {
            publish: p.import.clone(),
            subscribe: p.export.clone(),
            response: None,
        };
        check_cluster_permission_subjects(&perms)?;
    }
    let cluster_on = c.port != 0;
    if !c.compression.mode.is_empty() {
        validate_compression(&c.compression, "s2_fast")?;
    }
    if !o.gateway.name.is_empty() && o.gateway.name != c.name && !c.name.is_empty() {
        return Err("cluster name conflicts between cluster and gateway definitions".into());
    }
    let pool = if cluster_on && c.pool_size == 0 {
        3
    } else {
        c.pool_size
    };
    let mut pinned = c.pinned_accounts.clone();
    if cluster_on && pool > 0 {
        // The baseline pins the system account too.
        let sys = if !o.system_account.is_empty() {
            o.system_account.clone()
        } else if !o.no_system_account {
            "$SYS".to_string()
        } else {
            String::new()
        };
        if !sys.is_empty() && !pinned.contains(&sys) {
            pinned.push(sys);
        }
    }
    if !c.pinned_accounts.is_empty() {
        if pool < 0 {
            return Err("pool_size cannot be negative if pinned accounts are specified".into());
        }
        let mut seen: Vec<&str> = Vec::new();
        for a in &pinned {
            if seen.contains(&a.as_str()) {
                return Err(format!(
                    "found duplicate account name {} in pinned accounts list {}",
                    quote(a),
                    quote_list(&pinned)
                ));
            }
            seen.push(a);
        }
    }
    Ok(())
}

fn validate_mqtt(o: &ServerConfig) -> Result<(), String> {
    let m = &o.mqtt;
    if m.port == 0 {
        return Ok(());
    }
    if o.server_name.is_empty() && (o.cluster.port != 0 || o.gateway.port != 0) {
        return Err("mqtt requires server name to be explicitly set".into());
    }
    validate_no_auth_user(o, &m.no_auth_user)?;
    if !o.users.is_empty() || !o.nkeys.is_empty() {
        if !m.username.is_empty() {
            return Err(
                "mqtt authentication username not compatible with presence of users/nkeys".into(),
            );
        }
        if !m.token.is_empty() {
            return Err(
                "mqtt authentication token not compatible with presence of users/nkeys".into(),
            );
        }
    }
    if m.ack_wait < 0 {
        return Err("ack wait must be a positive value".into());
    }
    if m.js_api_timeout < 0 {
        return Err("JS API timeout must be a positive value".into());
    }
    if !o.jetstream.enabled
        && o.cluster.port == 0
        && o.gateway.port == 0
        && o.leafnode.port == 0
        && o.leafnode.remotes.is_empty()
    {
        return Err("mqtt requires JetStream to be enabled if running in standalone mode".into());
    }
    Ok(())
}

fn validate_websocket(o: &ServerConfig) -> Result<(), String> {
    let w = &o.websocket;
    if w.port == 0 {
        return Ok(());
    }
    if w.tls.is_none() && !w.no_tls {
        return Err("websocket requires TLS configuration".into());
    }
    for ao in &w.allowed_origins {
        let u = super::gofmt::GoUrl::parse(ao)
            .map_err(|e| format!("unable to parse allowed origin: parse {}: {e}", quote(ao)))?;
        if u.scheme != "http" && u.scheme != "https" {
            return Err(format!("unable to parse allowed origin {}: allowed origins must be absolute URLs with http or https scheme", quote(ao)));
        }
        if u.host.is_empty() {
            return Err(format!(
                "unable to parse allowed origin {}: host is required",
                quote(ao)
            ));
        }
    }
    validate_no_auth_user(o, &w.no_auth_user)?;
    if !o.users.is_empty() || !o.nkeys.is_empty() {
        if !w.username.is_empty() {
            return Err(
                "websocket authentication username not compatible with presence of users/nkeys"
                    .into(),
            );
        }
        if !w.token.is_empty() {
            return Err(
                "websocket authentication token not compatible with presence of users/nkeys".into(),
            );
        }
    }
    Ok(())
}

/// Runs the server-creation checks on (file + flag) options.
pub(crate) fn validate(o: &ServerConfig) -> Result<(), String> {
    let ldd = if o.lame_duck_duration == 0 {
        DEFAULT_LAME_DUCK
    } else {
        o.lame_duck_duration
    };
    let ldg = if o.lame_duck_grace_period == 0 {
        DEFAULT_LAME_DUCK_GRACE
    } else {
        o.lame_duck_grace_period
    };
    if ldd > 0 && ldg >= ldd {
        return Err(format!(
            "lame duck grace period ({}) should be strictly lower than lame duck duration ({})",
            format_duration(ldg),
            format_duration(ldd)
        ));
    }
    let mp = if o.max_payload == 0 {
        DEFAULT_MAX_PAYLOAD
    } else {
        i64::from(o.max_payload)
    };
    let mpend = if o.max_pending == 0 {
        DEFAULT_MAX_PENDING
    } else {
        o.max_pending
    };
    if mp > mpend {
        return Err(format!(
            "max_payload ({mp}) cannot be higher than max_pending ({mpend})"
        ));
    }
    if o.server_name.contains(' ') {
        return Err("server name cannot contain spaces".into());
    }
    validate_trusted_operators(o)?;
    validate_leaf_node(o)?;
    validate_auth(o)?;
    validate_gateway(o)?;
    validate_cluster(o)?;
    validate_mqtt(o)?;
    validate_websocket(o)?;
    // Account setup: the system account must exist.
    if !o.system_account.is_empty()
        && o.operators.is_empty()
        && o.system_account != "$G"
        && o.system_account != "$SYS"
        && !o.accounts.iter().any(|a| a.name == o.system_account)
    {
        return Err("error resolving system account: account missing".into());
    }
    validate_operator_system_account(o)
}

/// nats-server's `validateTrustedOperators`: operator mode takes its
/// accounts and users from JWTs only. Without a `resolver` nats-server
/// would fetch accounts from the operator's account server URL, which
/// canopy does not do (it refuses URL resolvers the same way).
fn validate_trusted_operators(o: &ServerConfig) -> Result<(), String> {
    if o.operators.is_empty() {
        return Ok(());
    }
    if o.resolver.is_none() {
        return Err(
            "operator mode without a `resolver` fetches accounts from the operator's \
                    account server URL, which canopy does not do (it makes no outbound HTTP \
                    requests); use resolver: MEMORY with resolver_preload, or \
                    { type: full, dir: ... }"
                .into(),
        );
    }
    if !o.accounts.is_empty() {
        return Err("operators do not allow Accounts to be configured directly".into());
    }
    if !o.users.is_empty() || !o.nkeys.is_empty() {
        return Err("operators do not allow users to be configured directly".into());
    }
    if !o.trusted_keys.is_empty() {
        return Err("conflicting options for 'TrustedKeys' and 'TrustedOperators'".into());
    }
    for text in &o.operator_jwts {
        let Some(claims) = crate::jwt::decode(text).ok() else {
            continue;
        };
        let named = claims
            .operator()
            .map_or("", |op| op.system_account.as_str());
        if !o.system_account.is_empty() && !named.is_empty() && named != o.system_account {
            return Err("system_account in config and operator JWT must be identical".into());
        }
    }
    Ok(())
}

/// Operator mode: the system account (named, or the operator's) must be
/// an account key, and a memory resolver must have it preloaded, as
/// nats-server resolves it at start.
fn validate_operator_system_account(o: &ServerConfig) -> Result<(), String> {
    if o.operators.is_empty() || o.no_system_account {
        return Ok(());
    }
    let Some(sys) = Some(o.system_account.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| crate::trust::operator_system_account(&o.operator_jwts))
    else {
        let nats_based = matches!(
            o.resolver.as_ref().map(|v| &v.kind),
            Some(super::value::Kind::Map(_))
        );
        if nats_based {
            return Err(
                "using nats based account resolver - the system account needs to be \
                        specified in configuration or the operator jwt"
                    .into(),
            );
        }
        return Ok(());
    };
    if !valid_public_key(&sys, PREFIX_ACCOUNT) {
        return Err("error resolving system account: will only fetch valid account keys".into());
    }
    let memory = matches!(
        o.resolver.as_ref().map(|v| &v.kind),
        Some(super::value::Kind::String(s)) if s.to_uppercase().contains("MEM")
    );
    if memory && !o.resolver_preload.contains_key(&sys) {
        return Err("error resolving system account: account missing".into());
    }
    Ok(())
}
