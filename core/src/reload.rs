//! Configuration reload (SIGHUP): which options may change on a running
//! server, the refusal for those that may not, and the `Reloaded: ...`
//! lines, all in nats-server 2.15.1's order and words.

use crate::engine::Server;
use crate::monitor::timefmt::go_duration;
use crate::options::{ClientAuth, ClusterOptions, LeafOptions, Options};
use crate::time::Instant;
use crate::tls::TlsSettings;
use std::time::Duration;

impl Server {
    /// Replaces the options with `new` if every change can be made on a
    /// running server. Returns the `Reloaded: ...` lines to log, in
    /// nats-server's order, or the refusal (`config reload not supported
    /// for Port: old=4222, new=4223`) with nothing changed.
    pub fn reload(&mut self, new: Options, now: Instant) -> Result<Vec<String>, String> {
        let mut new = new;
        if let (Some(n), Some(o)) = (new.cluster.as_mut(), self.options.cluster.as_ref()) {
            if n.port == 0 {
                n.port = o.port; // `-1`: the port bound at start
            }
        }
        if let (Some(n), Some(o)) = (new.leaf.as_mut(), self.options.leaf.as_ref()) {
            if n.port == 0 {
                n.port = o.port;
            }
        }
        let lines = reload_plan(&self.options, &new)?;
        let old_leaf = self.options.leaf.clone();
        let old_routes = self
            .options
            .cluster
            .as_ref()
            .map(|c| c.routes.clone())
            .unwrap_or_default();
        self.info.max_payload = new.max_payload;
        self.authenticator = new.authenticator();
        self.ws_authenticator = new.websocket_authenticator();
        self.info.auth_required = self.authenticator.required();
        self.info.tls = crate::info::ClientTlsInfo::of(&new);
        self.tls.rebuild(&new);
        self.info.no_auth_user = new.no_auth_user.is_some();
        let preload: Vec<String> = new
            .trust
            .as_ref()
            .map(|t| t.preload.values().cloned().collect())
            .unwrap_or_default();
        self.options = new;
        // Changed preloads apply as account updates (newer JWTs only).
        for jwt in preload {
            let held = self
                .trust
                .as_ref()
                .is_some_and(|t| t.accounts.values().any(|a| a.jwt == jwt.trim()));
            if !held {
                let _ = self.update_account_jwt(&jwt, now);
            }
        }
        self.recheck_clients(now);
        self.reload_cluster(&old_routes, now);
        self.reload_leafs(old_leaf.as_ref(), now);
        self.close_overflowed(now);
        self.schedule_flushes();
        Ok(lines)
    }
}

/// Operator mode on reload, as nats-server: no moving to or from an
/// account resolver, no other operators or resolver kind; preloads may
/// change (applied by [`Server::reload`]).
fn trust_plan(
    old: Option<&crate::trust::TrustOptions>,
    new: Option<&crate::trust::TrustOptions>,
) -> Result<(), String> {
    match (old, new) {
        (None, None) => Ok(()),
        (Some(_), None) | (None, Some(_)) => {
            Err("config reload does not support moving to or from an account resolver".into())
        }
        (Some(o), Some(n)) if o.operators != n.operators => {
            Err("config reload not supported for TrustedOperators".into())
        }
        (Some(o), Some(n))
            if std::mem::discriminant(&o.resolver) != std::mem::discriminant(&n.resolver)
                || o.resolver.dir() != n.resolver.dir() =>
        {
            Err("config reload not supported for AccountResolver".into())
        }
        (Some(_), Some(_)) => Ok(()),
    }
}

/// The lines a reload from `old` to `new` logs, or its refusal. Fields are
/// visited in the order of nats-server's `Options` struct, so the first
/// refusal is the one it reports.
pub fn reload_plan(old: &Options, new: &Options) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let refuse = |field: &str, o: &dyn std::fmt::Display, n: &dyn std::fmt::Display| {
        Err(format!(
            "config reload not supported for {field}: old={o}, new={n}"
        ))
    };
    if old.server_name != new.server_name {
        return refuse("ServerName", &old.server_name, &new.server_name);
    }
    if old.host != new.host {
        return refuse("Host", &old.host, &new.host);
    }
    if old.port != new.port && new.port != 0 {
        return refuse("Port", &old.port, &new.port);
    }
    if old.headers != new.headers {
        return refuse("NoHeaderSupport", &!old.headers, &!new.headers);
    }
    if old.max_connections != new.max_connections {
        lines.push(format!(
            "Reloaded: max_connections = {}",
            new.max_connections.unwrap_or(0)
        ));
    }
    if old.max_subscriptions != new.max_subscriptions {
        return refuse("MaxSubs", &old.max_subscriptions, &new.max_subscriptions);
    }
    // Users and accounts always count as changed in nats-server.
    lines.push("Reloaded: authorization users".into());
    lines.push("Reloaded: accounts".into());
    let (old_user, old_pass, old_token) = auth_parts(&old.auth);
    let (new_user, new_pass, new_token) = auth_parts(&new.auth);
    if old_user != new_user {
        lines.push("Reloaded: authorization username".into());
    }
    if old_pass != new_pass {
        lines.push("Reloaded: authorization password".into());
    }
    if old_token != new_token {
        lines.push("Reloaded: authorization token".into());
    }
    if old.ping_interval != new.ping_interval {
        lines.push(format!(
            "Reloaded: ping_interval = {}",
            go_duration(new.ping_interval)
        ));
    }
    if old.ping_max != new.ping_max {
        lines.push(format!("Reloaded: ping_max = {}", new.ping_max));
    }
    if old.http_host != new.http_host {
        return refuse("HTTPHost", &old.http_host, &new.http_host);
    }
    if old.http_port != new.http_port {
        return refuse("HTTPPort", &old.http_port, &new.http_port);
    }
    if old.http_base_path != new.http_base_path {
        return refuse("HTTPBasePath", &old.http_base_path, &new.http_base_path);
    }
    if old.https_port != new.https_port {
        return refuse("HTTPSPort", &old.https_port, &new.https_port);
    }
    if old.auth_timeout != new.auth_timeout {
        lines.push(format!(
            "Reloaded: authorization timeout = {}",
            go_seconds(new.auth_timeout)
        ));
    }
    if old.max_control_line != new.max_control_line {
        lines.push(format!(
            "Reloaded: max_control_line = {}",
            new.max_control_line
        ));
    }
    if old.max_payload != new.max_payload {
        lines.push(format!("Reloaded: max_payload = {}", new.max_payload));
    }
    if old.max_pending != new.max_pending {
        return refuse("MaxPending", &old.max_pending, &new.max_pending);
    }
    // Clustering can be neither turned on nor moved on a running server.
    let host = |c: &Option<ClusterOptions>| c.as_ref().map_or(String::new(), |c| c.host.clone());
    let port = |c: &Option<ClusterOptions>| c.as_ref().map_or(0, |c| c.port);
    if host(&old.cluster) != host(&new.cluster) {
        return refuse("cluster host", &host(&old.cluster), &host(&new.cluster));
    }
    if port(&old.cluster) != port(&new.cluster) {
        return refuse("cluster port", &port(&old.cluster), &port(&new.cluster));
    }
    let without_routes = |c: &Option<ClusterOptions>| {
        c.clone().map(|mut c| {
            c.routes.clear();
            c
        })
    };
    // A block with a `ca_file` never compares equal in nats-server (Go's
    // certificate pool holds functions), so it always counts as changed.
    let cluster_ca = |c: &Option<ClusterOptions>| {
        c.as_ref()
            .and_then(|c| c.tls.as_ref())
            .is_some_and(|t| !t.ca_file.is_empty())
    };
    if without_routes(&old.cluster) != without_routes(&new.cluster)
        || (cluster_ca(&old.cluster) && cluster_ca(&new.cluster))
    {
        lines.push("Reloaded: cluster".into());
    }
    let routes =
        |c: &Option<ClusterOptions>| c.as_ref().map(|c| c.routes.clone()).unwrap_or_default();
    if routes(&old.cluster) != routes(&new.cluster) {
        lines.push("Reloaded: cluster routes".into());
    }
    // nats-server refuses any change of the gateway block but its TLS
    // configuration and pinned certificates (its TLS timeout and
    // `verify_and_map` may not change).
    if gateway_sans_tls(&old.gateway) != gateway_sans_tls(&new.gateway) {
        let show = |g: &Option<crate::GatewayOptions>| match g {
            Some(g) => format!("{{{} {} {}}}", g.name, g.host, g.port),
            None => "{ 0}".to_string(),
        };
        return refuse("Gateway", &show(&old.gateway), &show(&new.gateway));
    }
    let mut leaf_lines =
        crate::leaf::reload::leaf_reload_plan(old.leaf.as_ref(), new.leaf.as_ref())
            .and_then(|lines| leaf_tls_plan(old.leaf.as_ref(), new.leaf.as_ref(), lines))
            .map_err(|e| format!("config reload not supported for LeafNode: {e}"))?;
    client_tls_plan(old, new, &mut lines)?;
    if old.allow_non_tls != new.allow_non_tls {
        return refuse("AllowNonTLS", &old.allow_non_tls, &new.allow_non_tls);
    }
    if old.write_deadline != new.write_deadline {
        lines.push(format!(
            "Reloaded: write_deadline = {}",
            go_duration(new.write_deadline)
        ));
    }
    if old.lame_duck_duration != new.lame_duck_duration {
        return refuse(
            "LameDuckDuration",
            &go_duration(old.lame_duck_duration),
            &go_duration(new.lame_duck_duration),
        );
    }
    if old.lame_duck_grace_period != new.lame_duck_grace_period {
        return refuse(
            "LameDuckGracePeriod",
            &go_duration(old.lame_duck_grace_period),
            &go_duration(new.lame_duck_grace_period),
        );
    }
    trust_plan(old.trust.as_ref(), new.trust.as_ref())?;
    if old.feature_flags != new.feature_flags {
        return refuse(
            "FeatureFlags",
            &go_bool_map(&old.feature_flags),
            &go_bool_map(&new.feature_flags),
        );
    }
    lines.append(&mut leaf_lines);
    Ok(lines)
}

/// A TLS timeout as nats-server keeps it when a block has none: 2 s.
fn tls_timeout(t: Option<&TlsSettings>) -> Duration {
    t.map_or(crate::tls::DEFAULT_TIMEOUT, |t| t.timeout)
}

/// The part of a `tls {}` block nats-server keeps in its `tls.Config`
/// (compared whole on reload); the rest are options of their own.
fn tls_config_part(t: &TlsSettings) -> TlsSettings {
    TlsSettings {
        timeout: Duration::ZERO,
        map: false,
        pinned_certs: Vec::new(),
        handshake_first: false,
        fallback: None,
        ..t.clone()
    }
}

/// Pinned certificates as a set (their order does not matter).
fn pinned(t: Option<&TlsSettings>) -> std::collections::BTreeSet<String> {
    t.map(|t| t.pinned_certs.iter().cloned().collect())
        .unwrap_or_default()
}

/// The client `tls {}` (and `--tls*`) fields, in nats-server's `Options`
/// order: `TLSTimeout`, `TLSMap` (refused), `TLSConfig`,
/// `TLSPinnedCerts`, `TLSHandshakeFirst`, `TLSHandshakeFirstFallback`.
fn client_tls_plan(old: &Options, new: &Options, lines: &mut Vec<String>) -> Result<(), String> {
    let (o, n) = (old.tls.as_ref(), new.tls.as_ref());
    if tls_timeout(o) != tls_timeout(n) {
        lines.push(format!(
            "Reloaded: tls timeout = {}",
            go_seconds(tls_timeout(n))
        ));
    }
    let map = |t: Option<&TlsSettings>| t.is_some_and(|t| t.map);
    if map(o) != map(n) {
        return Err(format!(
            "config reload not supported for TLSMap: old={}, new={}",
            map(o),
            map(n)
        ));
    }
    let with_ca = |t: Option<&TlsSettings>| t.is_some_and(|t| !t.ca_file.is_empty());
    if o.map(tls_config_part) != n.map(tls_config_part) || (with_ca(o) && with_ca(n)) {
        let state = if n.is_some() { "enabled" } else { "disabled" };
        lines.push(format!("Reloaded: tls = {state}"));
    }
    if pinned(o) != pinned(n) {
        lines.push(format!("Reloaded: {} pinned_certs", pinned(n).len()));
    }
    let first = |t: Option<&TlsSettings>| t.is_some_and(|t| t.handshake_first);
    if first(o) != first(n) {
        lines.push(format!(
            "Reloaded: Client TLS handshake first: {}",
            first(n)
        ));
    }
    let fallback = |t: Option<&TlsSettings>| t.and_then(|t| t.fallback).unwrap_or_default();
    if fallback(o) != fallback(n) {
        lines.push(format!(
            "Reloaded: Client TLS handshake first fallback delay: {}",
            go_duration(fallback(n))
        ));
    }
    Ok(())
}

/// The leafnodes TLS checks after [`crate::leaf::reload::leaf_reload_plan`]
/// accepted the rest (`lines` are its lines): the listener's `TLSTimeout`,
/// `TLSMap` and `TLSPinnedCerts` and a kept remote's `TLSTimeout` may not
/// change; its certificates and `handshake_first` may, and the latter is
/// logged (first the listener's, then each remote's).
fn leaf_tls_plan(
    old: Option<&LeafOptions>,
    new: Option<&LeafOptions>,
    lines: Vec<String>,
) -> Result<Vec<String>, String> {
    let field = |name: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
        Err(format!("field {name:?}: old={a}, new={b}"))
    };
    let (o, n) = (
        old.and_then(|l| l.tls.as_ref()),
        new.and_then(|l| l.tls.as_ref()),
    );
    if tls_timeout(o) != tls_timeout(n) {
        return field(
            "TLSTimeout",
            &go_seconds(tls_timeout(o)),
            &go_seconds(tls_timeout(n)),
        );
    }
    let map = |t: Option<&TlsSettings>| t.is_some_and(|t| t.map);
    if map(o) != map(n) {
        return field("TLSMap", &map(o), &map(n));
    }
    if pinned(o) != pinned(n) {
        // Go's `%v` of a map[string]struct{}.
        let show = |t: Option<&TlsSettings>| {
            let keys: Vec<String> = pinned(t).iter().map(|k| format!("{k}:{{}}")).collect();
            format!("map[{}]", keys.join(" "))
        };
        return field("TLSPinnedCerts", &show(o), &show(n));
    }
    let mut out = Vec::new();
    let first = |t: Option<&TlsSettings>| t.is_some_and(|t| t.handshake_first);
    let fallback = |t: Option<&TlsSettings>| t.and_then(|t| t.fallback).unwrap_or_default();
    if first(o) != first(n) || fallback(o) != fallback(n) {
        out.push(format!(
            "Reloaded: LeafNode TLS HandshakeFirst value is: {}",
            first(n)
        ));
        out.push(format!(
            "Reloaded: LeafNode TLS HandshakeFirstFallback value is: {}",
            go_duration(fallback(n))
        ));
    }
    let remotes = |l: Option<&LeafOptions>| l.map(|l| l.remotes.clone()).unwrap_or_default();
    let new_remotes = remotes(new);
    for r in remotes(old) {
        let Some(x) = new_remotes.iter().find(|x| x.name == r.name) else {
            continue;
        };
        // A remote without a block has no timeout in nats-server.
        let secs = |t: &Option<TlsSettings>| t.as_ref().map_or(0.0, |t| t.timeout.as_secs_f64());
        if secs(&r.tls) != secs(&x.tls) {
            return Err(format!(
                "remote {}: field \"TLSTimeout\": old={}, new={}",
                x.safe_name,
                crate::config::gofmt::format_float_v(secs(&r.tls)),
                crate::config::gofmt::format_float_v(secs(&x.tls))
            ));
        }
        let first = |t: &Option<TlsSettings>| t.as_ref().is_some_and(|t| t.handshake_first);
        if first(&r.tls) != first(&x.tls) {
            out.push(format!(
                "Reloaded: LeafNode Remote {} TLS HandshakeFirst value is: {}",
                x.safe_name,
                first(&x.tls)
            ));
        }
    }
    out.extend(lines);
    Ok(out)
}

/// The gateway block as nats-server compares it on reload: without its
/// TLS configuration and pinned certificates (its entries' TLS may
/// change too), but with its TLS timeout and `verify_and_map`.
fn gateway_sans_tls(g: &Option<crate::GatewayOptions>) -> Option<crate::GatewayOptions> {
    g.clone().map(|mut g| {
        g.tls = Some(TlsSettings {
            timeout: tls_timeout(g.tls.as_ref()),
            map: g.tls.as_ref().is_some_and(|t| t.map),
            ..TlsSettings::default()
        });
        for r in &mut g.gateways {
            r.tls = None;
        }
        g
    })
}

/// A `map[string]bool` as Go's `%v` prints it: `map[a:true b:false]`.
fn go_bool_map(m: &std::collections::BTreeMap<String, bool>) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", items.join(" "))
}

fn auth_parts(a: &ClientAuth) -> (&str, &str, &str) {
    match a {
        ClientAuth::None => ("", "", ""),
        ClientAuth::Token(t) => ("", "", t),
        ClientAuth::UserPassword { user, password } => (user, password, ""),
    }
}

/// A number of seconds as Go's `%v` of a float64 prints it (`2`, `0.5`).
fn go_seconds(d: Duration) -> String {
    crate::config::gofmt::format_float_v(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Observed from nats-server 2.15.1 on SIGHUP.
    #[test]
    fn feature_flags_may_not_change() {
        let mut old = Options::default();
        old.feature_flags.insert("js_ack_fc_v2".into(), true);
        old.feature_flags.insert("zzz_unknown".into(), true);
        let mut new = Options::default();
        new.feature_flags.insert("js_ack_fc_v2".into(), false);
        assert_eq!(
            reload_plan(&old, &new).unwrap_err(),
            "config reload not supported for FeatureFlags: old=map[js_ack_fc_v2:true zzz_unknown:true], new=map[js_ack_fc_v2:false]"
        );
        assert!(reload_plan(&old, &old.clone()).is_ok());
    }

    #[test]
    fn reloadable_changes_log_in_nats_server_order() {
        let old = Options::default();
        let new = Options {
            max_payload: 2000,
            ..Options::default()
        };
        // Observed from nats-server 2.15.1 on SIGHUP.
        assert_eq!(
            reload_plan(&old, &new).unwrap(),
            vec![
                "Reloaded: authorization users",
                "Reloaded: accounts",
                "Reloaded: max_payload = 2000"
            ]
        );
        let new = Options {
            ping_interval: Duration::from_secs(30),
            write_deadline: Duration::from_millis(2500),
            auth_timeout: Duration::from_millis(500),
            ..Options::default()
        };
        assert_eq!(
            reload_plan(&old, &new).unwrap()[2..],
            [
                "Reloaded: ping_interval = 30s",
                "Reloaded: authorization timeout = 0.5",
                "Reloaded: write_deadline = 2.5s"
            ]
        );
    }

    #[test]
    fn refusals_name_the_first_field() {
        let old = Options {
            port: 14298,
            ..Options::default()
        };
        let new = Options {
            port: 14297,
            max_pending: 1,
            ..Options::default()
        };
        // Observed from nats-server 2.15.1.
        assert_eq!(
            reload_plan(&old, &new).unwrap_err(),
            "config reload not supported for Port: old=14298, new=14297"
        );
        let new = Options {
            port: 14298,
            max_pending: 1,
            ..Options::default()
        };
        assert_eq!(
            reload_plan(&old, &new).unwrap_err(),
            "config reload not supported for MaxPending: old=67108864, new=1"
        );
    }
}
