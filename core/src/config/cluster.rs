//! `cluster` and `gateway` blocks, compression settings and URL lists.

use super::auth::{
    check_perm_subject_array, entry_map, parse_user_permissions, Permissions, SubjectPermission,
};
use super::context::{
    catch_one, nil_panic, parse_duration_field, parse_string_array, parse_write_timeout,
    spaceless_name, want_array, want_bool, want_int, want_str, want_string, Cx, Lt, Record, P,
};
use super::gofmt::{format_duration, parse_duration, quote, GoDuration, GoUrl};
use super::listener::{listener_key, route_authorization};
use super::tls::{tls_config, TlsOpts};
use super::types::{ServerConfig, WriteTimeoutPolicy};
use super::value::{Kind, Value};
use super::Diagnostic;

/// Compression settings of routes and leafnodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompressionOpts {
    /// Mode as written (`off`, `accept`, `s2_auto`, ...; empty: default).
    pub mode: String,
    /// `rtt_thresholds` for `s2_auto`.
    pub rtt_thresholds: Vec<GoDuration>,
}

/// Route permissions (`cluster.permissions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutePermissions {
    /// `import` (what we subscribe to on routes).
    pub import: Option<SubjectPermission>,
    /// `export` (what routes may subscribe to).
    pub export: Option<SubjectPermission>,
}

/// The `cluster` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterOpts {
    /// `name`.
    pub name: String,
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: i64,
    /// `authorization.user`.
    pub username: String,
    /// `authorization.password`.
    pub password: String,
    /// `authorization.timeout`.
    pub auth_timeout: f64,
    /// `tls`.
    pub tls: Option<TlsOpts>,
    /// `advertise` / `cluster_advertise`.
    pub advertise: String,
    /// `no_advertise`.
    pub no_advertise: bool,
    /// `connect_retries`.
    pub connect_retries: i64,
    /// `connect_backoff`.
    pub connect_backoff: bool,
    /// `permissions`.
    pub permissions: Option<RoutePermissions>,
    /// `pool_size`.
    pub pool_size: i64,
    /// `accounts` (pinned accounts).
    pub pinned_accounts: Vec<String>,
    /// `compression`.
    pub compression: CompressionOpts,
    /// `ping_interval`.
    pub ping_interval: GoDuration,
    /// `ping_max`.
    pub ping_max: i64,
    /// `write_deadline`.
    pub write_deadline: GoDuration,
    /// `write_timeout`.
    pub write_timeout: WriteTimeoutPolicy,
}

/// An entry of `gateway.gateways`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteGatewayOpts {
    /// `name`.
    pub name: String,
    /// `url` / `urls`.
    pub urls: Vec<GoUrl>,
    /// `tls`.
    pub tls: Option<TlsOpts>,
}

/// The `gateway` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatewayOpts {
    /// `name`.
    pub name: String,
    /// Listen host.
    pub host: String,
    /// Listen port.
    pub port: i64,
    /// `authorization.user`.
    pub username: String,
    /// `authorization.password`.
    pub password: String,
    /// `authorization.timeout`.
    pub auth_timeout: f64,
    /// `tls`.
    pub tls: Option<TlsOpts>,
    /// `advertise`.
    pub advertise: String,
    /// `connect_retries`.
    pub connect_retries: i64,
    /// `connect_backoff`.
    pub connect_backoff: bool,
    /// `gateways`.
    pub gateways: Vec<RemoteGatewayOpts>,
    /// `reject_unknown_cluster` / `reject_unknown`.
    pub reject_unknown: bool,
    /// `write_deadline`.
    pub write_deadline: GoDuration,
    /// `write_timeout`.
    pub write_timeout: WriteTimeoutPolicy,
}

/// `parseURL`.
pub(crate) fn parse_url(u: &str, typ: &str) -> Result<GoUrl, String> {
    GoUrl::parse(u).map_err(|_| format!("error parsing {typ} url [{}]", quote(u.trim())))
}

/// `parseURLs`: a list of URL strings; duplicates are warnings. `None`:
/// errors were recorded.
pub(crate) fn parse_urls(cx: &mut Cx, a: &[Value], typ: &str) -> Option<Vec<GoUrl>> {
    let mut lt = Lt::default();
    let mut urls = Vec::new();
    let mut errors = Vec::new();
    let r = (|| -> P<()> {
        let mut seen: Vec<String> = Vec::new();
        for u in a {
            let tk = lt.set(u);
            let s = want_str(tk)?;
            if seen.iter().any(|x| x == s) {
                cx.warn_use(&tk.pos, s, format!("Duplicate {typ} entry detected"));
                continue;
            }
            seen.push(s.to_string());
            match parse_url(s, typ) {
                Ok(url) => urls.push(url),
                Err(e) => errors.push(Diagnostic::plain(Some(&tk.pos), e)),
            }
        }
        Ok(())
    })();
    if let Err(p) = r {
        errors.push(Diagnostic::plain(lt.0.as_ref(), p.0));
    }
    if errors.is_empty() {
        return Some(urls);
    }
    cx.errors.extend(errors);
    None
}

/// `parseCompression`.
pub(crate) fn parse_compression(
    c: &mut CompressionOpts,
    on_mode: &str,
    tk: &Value,
    mk: &str,
) -> Result<(), Diagnostic> {
    let mut lt = Lt::default();
    let r = (|| -> P<Result<(), Diagnostic>> {
        match &tk.kind {
            Kind::String(s) => c.mode = s.clone(),
            Kind::Bool(b) => c.mode = if *b { on_mode.into() } else { "off".into() },
            Kind::Map(m) => {
                for (k, v) in m.iter() {
                    let ftk = lt.set(v);
                    match k.to_lowercase().as_str() {
                        "mode" => c.mode = want_str(ftk)?.to_string(),
                        "rtt_thresholds" | "thresholds" | "rtts" | "rtt" => {
                            for iv in want_array(ftk)? {
                                let s = want_str(lt.set(iv))?;
                                match parse_duration(s) {
                                    Ok(d) => c.rtt_thresholds.push(d),
                                    Err(e) => return Ok(Err(Diagnostic::plain(Some(&ftk.pos), e))),
                                }
                            }
                        }
                        _ => {
                            if !ftk.used_variable {
                                return Ok(Err(Diagnostic::plain(
                                    Some(&ftk.pos),
                                    format!("unknown field {}", quote(k)),
                                )));
                            }
                        }
                    }
                }
            }
            Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) => {
                return Ok(Err(Diagnostic::plain(
                    Some(&tk.pos),
                    format!(
                        "field {} should be a boolean or a structure, got {}",
                        quote(mk),
                        tk.kind.go_type()
                    ),
                )))
            }
        }
        Ok(Ok(()))
    })();
    catch_one(&lt, r)
}

/// `validateAndNormalizeCompressionOption` (at server creation).
pub(crate) fn validate_compression(c: &CompressionOpts, on_mode: &str) -> Result<(), String> {
    let mut m = c.mode.to_lowercase();
    if matches!(m.as_str(), "on" | "enabled" | "true") {
        m = on_mode.to_string();
    }
    match m.as_str() {
        "not supported" | "not_supported" | "disabled" | "off" | "false" | "accept" | "fast"
        | "s2_fast" | "better" | "s2_better" | "best" | "s2_best" => Ok(()),
        "auto" | "s2_auto" => {
            if c.rtt_thresholds.is_empty() {
                return Ok(());
            }
            let list = format!(
                "[{}]",
                c.rtt_thresholds
                    .iter()
                    .map(|d| format_duration(*d))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let mut rtts: Vec<GoDuration> = Vec::new();
            for &n in &c.rtt_thresholds {
                let n = n.max(0);
                if !rtts.is_empty() && n != 0 && rtts.iter().any(|&v| n < v) {
                    return Err(format!(
                        "RTT threshold values {list} should be in ascending order"
                    ));
                }
                rtts.push(n);
            }
            while rtts.last() == Some(&0) {
                rtts.pop();
            }
            if rtts.len() > 4 {
                return Err(format!(
                    "compression mode {} should have no more than 4 RTT thresholds: {list}",
                    quote(&c.mode)
                ));
            } else if rtts.is_empty() {
                return Err(format!(
                    "compression mode {} requires at least one RTT threshold",
                    quote(&c.mode)
                ));
            }
            Ok(())
        }
        _ => Err(format!("unsupported compression mode {}", quote(&c.mode))),
    }
}

/// `checkClusterPermissionSubjects`.
pub(crate) fn check_cluster_permission_subjects(p: &Permissions) -> Result<(), String> {
    let check = |sp: &Option<SubjectPermission>, a: &str, d: &str| -> Result<(), String> {
        if let Some(sp) = sp {
            if let Some(allow) = &sp.allow {
                check_perm_subject_array(allow, false).map_err(|e| format!("{a}: {e}"))?;
            }
            if let Some(deny) = &sp.deny {
                check_perm_subject_array(deny, false).map_err(|e| format!("{d}: {e}"))?;
            }
        }
        Ok(())
    };
    check(&p.publish, "cluster import allow", "cluster import deny")?;
    check(&p.subscribe, "cluster export allow", "cluster export deny")
}

fn route_permissions(p: &Permissions) -> RoutePermissions {
    RoutePermissions {
        import: p.publish.clone(),
        export: p.subscribe.clone(),
    }
}

/// `parseCluster`.
pub(crate) fn parse_cluster(cx: &mut Cx, v: &Value, o: &mut ServerConfig) {
    cx.map_block(v, "Expected map to define cluster", |cx, lt, cm| {
        for (mk, mv) in cm.iter() {
            let tk = lt.set(mv);
            let c = &mut o.cluster;
            match mk.to_lowercase().as_str() {
                "name" => {
                    if let Some(n) = spaceless_name(cx, tk, "cluster")? {
                        c.name = n;
                    }
                }
                "authorization" => {
                    let Some(auth) = route_authorization(cx, tk, "Cluster", c)? else {
                        continue;
                    };
                    if let Some(dp) = &auth.default_permissions {
                        if let Err(e) = check_cluster_permission_subjects(dp) {
                            cx.err(&tk.pos, e);
                            continue;
                        }
                        cx.warn_use(
                            &tk.pos,
                            mk,
                            "setting \"permissions\" within cluster authorization block is deprecated",
                        );
                        if c.permissions.is_none() {
                            c.permissions = Some(route_permissions(dp));
                        }
                    }
                }
                "routes" => {
                    let ra = want_array(tk)?;
                    if let Some(routes) = parse_urls(cx, ra, "route") {
                        o.routes = routes;
                    }
                }
                "cluster_advertise" | "advertise" => c.advertise = want_string(tk)?,
                "no_advertise" => c.no_advertise = want_bool(tk)?,
                "connect_retries" => c.connect_retries = want_int(tk)?,
                "connect_backoff" => c.connect_backoff = want_bool(tk)?,
                "permissions" => {
                    let perms = parse_user_permissions(cx, tk, false).ok_or_else(nil_panic)?;
                    let Some(perms) = perms.record(cx) else {
                        continue;
                    };
                    if perms.response.is_some() {
                        cx.err(
                            &tk.pos,
                            "Cluster permissions do not support dynamic responses",
                        );
                        continue;
                    }
                    if let Err(e) = check_cluster_permission_subjects(&perms) {
                        cx.err(&tk.pos, e);
                        continue;
                    }
                    c.permissions = Some(route_permissions(&perms));
                }
                "pool_size" => c.pool_size = want_int(tk)?,
                "accounts" => {
                    c.pinned_accounts =
                        parse_string_array(cx, "accounts", tk, lt, tk).unwrap_or_default();
                }
                "compression" => {
                    parse_compression(&mut c.compression, "s2_fast", tk, mk).record(cx);
                }
                "ping_interval" => {
                    c.ping_interval = parse_duration_field(cx, "ping_interval", tk)?;
                    if c.ping_interval > 30_000_000_000 {
                        cx.warn(
                            Some(&tk.pos),
                            "Cluster 'ping_interval' will reset to 30s which is the max for routes",
                        );
                    }
                }
                "ping_max" => c.ping_max = want_int(tk)?,
                "write_deadline" => {
                    c.write_deadline = parse_duration_field(cx, "write_deadline", tk)?
                }
                "write_timeout" => c.write_timeout = parse_write_timeout(cx, tk)?,
                _ => listener_key(cx, mk, tk, c, false)?,
            }
        }
        Ok(Ok(()))
    });
}

/// `parseGateway`.
pub(crate) fn parse_gateway(cx: &mut Cx, v: &Value, o: &mut ServerConfig) {
    cx.map_block(v, "Expected gateway to be a map", |cx, lt, gm| {
        let g = &mut o.gateway;
        for (mk, mv) in gm.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "name" => {
                    if let Some(n) = spaceless_name(cx, tk, "gateway")? {
                        g.name = n;
                    }
                }
                "authorization" => {
                    route_authorization(cx, tk, "Gateway", g)?;
                }
                "advertise" => g.advertise = want_string(tk)?,
                "connect_retries" => g.connect_retries = want_int(tk)?,
                "connect_backoff" => g.connect_backoff = want_bool(tk)?,
                "gateways" => match parse_gateways(cx, tk) {
                    Some(Err(e)) => return Ok(Err(e)),
                    r => g.gateways = r.and_then(Result::ok).unwrap_or_default(),
                },
                "reject_unknown" | "reject_unknown_cluster" => g.reject_unknown = want_bool(tk)?,
                "write_deadline" => {
                    g.write_deadline = parse_duration_field(cx, "write_deadline", tk)?
                }
                "write_timeout" => g.write_timeout = parse_write_timeout(cx, tk)?,
                _ => listener_key(cx, mk, tk, g, false)?,
            }
        }
        Ok(Ok(()))
    });
}

fn parse_gateways(cx: &mut Cx, v: &Value) -> Option<Result<Vec<RemoteGatewayOpts>, Diagnostic>> {
    cx.guard(|cx, lt| {
        // The reference passes the bare value here: no position.
        let Some(ga) = v.as_array() else {
            return Ok(Err(Diagnostic::plain(
                None,
                format!(
                    "Expected gateways field to be an array, got {}",
                    v.kind.go_type()
                ),
            )));
        };
        let mut gateways = Vec::new();
        for g in ga {
            let Some(gm) = entry_map(cx, lt, g, "gateway") else {
                continue;
            };
            let mut gw = RemoteGatewayOpts::default();
            for (k, fv) in gm.iter() {
                let tk = lt.set(fv);
                match k.to_lowercase().as_str() {
                    "name" => gw.name = want_string(tk)?,
                    "tls" => {
                        if let Some(tc) = tls_config(cx, tk, false) {
                            gw.tls = Some(tc);
                        }
                    }
                    "url" => match parse_url(want_str(tk)?, "gateway") {
                        Ok(u) => gw.urls.push(u),
                        Err(e) => cx.err(&tk.pos, e),
                    },
                    "urls" => {
                        if let Some(urls) = parse_urls(cx, want_array(tk)?, "gateway") {
                            gw.urls = urls;
                        }
                    }
                    _ => cx.unknown(tk, k),
                }
            }
            gateways.push(gw);
        }
        Ok(Ok(gateways))
    })
}
