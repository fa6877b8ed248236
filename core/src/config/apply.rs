//! Copying the options the engine has onto [`crate::Options`].
//!
//! Zero values take nats-server's defaults (its `setBaselineOptions`).
//! Ports: a real port (1..=65535) is copied; `0` means the default client
//! port (4222) or "no monitoring" for `http_port`; `-1` (random) leaves
//! `port`/`http_port` at 0 for the caller to bind and resolve (read the raw
//! value from [`super::ServerConfig::port`] / `http_port`).

use std::time::Duration;

use super::gofmt::to_std;
use super::tls::{default_auth_timeout, default_remote, settings, TlsKind};
use super::types::ServerConfig;
use super::value::Kind;
use crate::compression::{Compression, Mode, S2Level};
use crate::options::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONTROL_LINE, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_PENDING,
    DEFAULT_PING_INTERVAL, DEFAULT_PING_MAX, DEFAULT_PORT, DEFAULT_WRITE_DEADLINE,
};
use crate::{ClientAuth, Options};

fn port(p: i64, zero: u16) -> u16 {
    match p {
        0 => zero,
        1..=65535 => p as u16,
        _ => 0,
    }
}

fn size(v: i64, default: usize) -> usize {
    match v {
        0 => default,
        v if v < 0 => 0,
        v => usize::try_from(v).unwrap_or(usize::MAX),
    }
}

/// A `compression` setting as the engine uses it: `on_mode` for `on`,
/// `default` when left out (nats-server: `s2_fast`/`accept` for routes,
/// `s2_auto` for leaf links).
fn compression(c: &super::cluster::CompressionOpts, on_mode: Mode, default: Mode) -> Compression {
    let rtts: Vec<Duration> = c
        .rtt_thresholds
        .iter()
        .map(|&d| if d <= 0 { Duration::ZERO } else { to_std(d) })
        .collect();
    Compression::from_config(&c.mode, &rtts, on_mode, default)
}

fn duration(d: i64, default: Duration) -> Duration {
    if d <= 0 {
        default
    } else {
        to_std(d)
    }
}

/// See the module docs. `roots`: the system roots, for `tls {}` blocks
/// that check peers and name no `ca_file`.
pub(crate) fn apply(c: &ServerConfig, roots: &str, o: &mut Options) {
    o.cluster = cluster(c, roots);
    o.leaf = leafnodes(c, roots);
    o.gateway = gateway(c, roots);
    o.tls = c.tls.as_ref().map(|t| settings(t, TlsKind::Client, roots));
    o.allow_non_tls = c.allow_non_tls;
    o.websocket = websocket(c, roots);
    if !c.server_name.is_empty() {
        o.server_name = c.server_name.clone();
    }
    o.host = if c.host.is_empty() {
        "0.0.0.0".to_string()
    } else {
        c.host.clone()
    };
    o.port = port(c.port, DEFAULT_PORT);
    o.max_payload = size(i64::from(c.max_payload), DEFAULT_MAX_PAYLOAD);
    o.max_pending = size(c.max_pending, DEFAULT_MAX_PENDING);
    o.max_control_line = size(i64::from(c.max_control_line), DEFAULT_MAX_CONTROL_LINE);
    o.max_connections = match c.max_conn {
        0 => Some(DEFAULT_MAX_CONNECTIONS),
        n if n < 0 => None,
        n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
    };
    o.max_subscriptions = usize::try_from(c.max_subs.max(0)).unwrap_or(usize::MAX);
    o.max_sub_tokens = c.max_sub_tokens;
    o.ping_interval = duration(c.ping_interval, DEFAULT_PING_INTERVAL);
    o.ping_max = match c.ping_max {
        0 => DEFAULT_PING_MAX,
        n => u32::try_from(n.max(0)).unwrap_or(u32::MAX),
    };
    o.write_deadline = duration(c.write_deadline, DEFAULT_WRITE_DEADLINE);
    o.lame_duck_duration = duration(
        c.lame_duck_duration,
        crate::options::DEFAULT_LAME_DUCK_DURATION,
    );
    o.lame_duck_grace_period = duration(
        c.lame_duck_grace_period,
        crate::options::DEFAULT_LAME_DUCK_GRACE_PERIOD,
    );
    o.auth_timeout = if c.auth_timeout > 0.0 && c.auth_timeout.is_finite() {
        Duration::from_secs_f64(c.auth_timeout.min(1e9))
    } else {
        default_auth_timeout(o.tls.as_ref())
    };
    o.auth = if !c.authorization.is_empty() {
        ClientAuth::Token(c.authorization.clone())
    } else if !c.username.is_empty() || !c.password.is_empty() {
        ClientAuth::UserPassword {
            user: c.username.clone(),
            password: c.password.clone(),
        }
    } else {
        ClientAuth::None
    };
    o.headers = !c.no_header_support;
    o.http_host = if c.http_host.is_empty() {
        o.host.clone()
    } else {
        c.http_host.clone()
    };
    o.http_port = port(c.http_port, 0);
    o.https_port = port(c.https_port, 0);
    o.http_base_path = c.http_base_path.clone();
    let account = |a: &Option<String>| {
        a.clone()
            .unwrap_or_else(|| crate::account::GLOBAL_ACCOUNT.to_string())
    };
    o.users = c
        .users
        .iter()
        .map(|u| {
            let entry = crate::auth::UserEntry {
                password: u.password.clone(),
                permissions: u.permissions.as_ref().map(permissions),
                account: account(&u.account),
            };
            (u.username.clone(), entry)
        })
        .collect();
    o.nkeys = c
        .nkeys
        .iter()
        .map(|n| {
            let entry = crate::auth::NkeyEntry {
                permissions: n.permissions.as_ref().map(permissions),
                account: account(&n.account),
            };
            (n.nkey.clone(), entry)
        })
        .collect();
    o.no_auth_user = (!c.no_auth_user.is_empty()).then(|| c.no_auth_user.clone());
    o.accounts = c.accounts.iter().map(|a| a.name.clone()).collect();
    o.msg_traces = c
        .accounts
        .iter()
        .filter(|a| !a.trace_dest.is_empty())
        .map(|a| {
            let trace = crate::options::AccountTrace {
                dest: a.trace_dest.clone(),
                sampling: u8::try_from(a.trace_sampling.clamp(0, 100)).unwrap_or(100),
            };
            (a.name.clone(), trace)
        })
        .collect();
    o.feature_flags = c.feature_flags.clone();
    o.trust = trust(c);
    let operator_system =
        crate::trust::operator_system_account(&c.operator_jwts).unwrap_or_default();
    o.system_account = if c.no_system_account {
        String::new()
    } else if !c.system_account.is_empty() {
        c.system_account.clone()
    } else if !operator_system.is_empty() {
        operator_system
    } else {
        "$SYS".to_string()
    };
    // Imports whose exporter exports a covering subject to the importer.
    o.imports = Vec::new();
    for a in &c.accounts {
        for i in &a.imports {
            let Some(exporter) = c.accounts.iter().find(|e| e.name == i.account) else {
                continue;
            };
            let allowed = exporter.exports.iter().any(|e| {
                e.service == i.service
                    && crate::subject::matches(e.subject.as_bytes(), i.subject.as_bytes())
                    && (e.accounts.is_empty() || e.accounts.contains(&a.name))
            });
            if allowed {
                o.imports.push(crate::options::AccountImport {
                    importer: a.name.clone(),
                    exporter: i.account.clone(),
                    subject: i.subject.clone(),
                    to: i.to.clone(),
                    prefix: i.prefix.clone(),
                    service: i.service,
                });
            }
        }
    }
}

/// Operator mode, when the config names an operator: its JWTs, the
/// resolver and the preloaded accounts. The driver adds the JWTs a
/// resolver directory holds.
fn trust(c: &ServerConfig) -> Option<crate::trust::TrustOptions> {
    use crate::trust::Resolver;
    if c.operator_jwts.is_empty() {
        return None;
    }
    let resolver = match c.resolver.as_ref().map(|v| &v.kind) {
        Some(Kind::Map(m)) => {
            let text = |k: &str| match m.get(k).map(|v| &v.kind) {
                Some(Kind::String(s)) => s.clone(),
                _ => String::new(),
            };
            let int = |k: &str| match m.get(k).map(|v| &v.kind) {
                Some(Kind::Integer(i)) => usize::try_from(*i).unwrap_or(0),
                _ => 0,
            };
            let dur = |k: &str, default: Duration| {
                super::gofmt::parse_duration(&text(k)).map_or(default, |d| duration(d, default))
            };
            let dir = text("dir");
            match text("type").to_uppercase().as_str() {
                "FULL" => Resolver::Full {
                    dir,
                    allow_delete: matches!(
                        m.get("allow_delete").map(|v| &v.kind),
                        Some(Kind::Bool(true))
                    ),
                    interval: dur("interval", Duration::from_secs(120)),
                    limit: match int("limit") {
                        0 => 1_000_000,
                        n => n,
                    },
                },
                "CACHE" => Resolver::Cache {
                    dir,
                    ttl: dur("ttl", Duration::from_secs(3600)),
                    limit: match int("limit") {
                        0 => 1000,
                        n => n,
                    },
                },
                _ => Resolver::Memory,
            }
        }
        _ => Resolver::Memory,
    };
    Some(crate::trust::TrustOptions {
        operators: c.operator_jwts.clone(),
        resolver,
        preload: c.resolver_preload.clone(),
        stored: Vec::new(),
    })
}

/// The engine's permission rules from the config's lists.
fn permissions(p: &super::Permissions) -> crate::perms::Permissions {
    let rule = |sp: &super::SubjectPermission| crate::perms::Rule {
        allow: sp
            .allow
            .as_ref()
            .map(|a| a.iter().map(|e| crate::perms::Entry::parse(e)).collect()),
        deny: sp
            .deny
            .iter()
            .flatten()
            .map(|e| crate::perms::Entry::parse(e))
            .collect(),
    };
    crate::perms::Permissions {
        publish: p.publish.as_ref().map(rule),
        subscribe: p.subscribe.as_ref().map(rule),
        responses: p.response.as_ref().map(|r| crate::perms::Responses {
            max: u64::try_from(r.max_msgs).unwrap_or(0),
            expires: super::gofmt::to_std(r.expires),
        }),
    }
}

/// The `cluster {}` block: clustering is on when it names a port (as in
/// nats-server, where routes without a cluster port are not solicited).
/// A port of `-1` is left at 0 for the caller to bind and resolve.
fn cluster(c: &ServerConfig, roots: &str) -> Option<crate::ClusterOptions> {
    let k = &c.cluster;
    if k.port == 0 {
        return None;
    }
    let routes = c
        .routes
        .iter()
        .filter_map(|u| {
            let mut addr = crate::route::RouteAddr::parse(&u.host)?;
            addr.user.clone_from(&u.user);
            addr.password.clone_from(&u.password);
            Some(addr)
        })
        .collect();
    let tls = k
        .tls
        .as_ref()
        .map(|t| settings(t, TlsKind::RouteOrGateway, roots));
    Some(crate::ClusterOptions {
        // A gateway's cluster takes the gateway's name.
        name: if k.name.is_empty() {
            c.gateway.name.clone()
        } else {
            k.name.clone()
        },
        host: if k.host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            k.host.clone()
        },
        port: port(k.port, 0),
        advertise: k.advertise.clone(),
        no_advertise: k.no_advertise,
        connect_retries: u32::try_from(k.connect_retries).unwrap_or(0),
        routes,
        credentials: (!k.username.is_empty()).then(|| (k.username.clone(), k.password.clone())),
        auth_timeout: if k.auth_timeout > 0.0 {
            Duration::from_secs_f64(k.auth_timeout)
        } else {
            default_auth_timeout(tls.as_ref())
        },
        ping_interval: duration(
            k.ping_interval,
            duration(c.ping_interval, DEFAULT_PING_INTERVAL),
        ),
        tls,
        compression: compression(&k.compression, Mode::Level(S2Level::Fast), Mode::Accept),
    })
}

/// The `websocket {}` block: on when it has a port. A port of `-1` is
/// left at 0 for the caller to bind and resolve.
fn websocket(c: &ServerConfig, roots: &str) -> Option<crate::WebsocketOptions> {
    let w = &c.websocket;
    if w.port == 0 {
        return None;
    }
    Some(crate::WebsocketOptions {
        host: if w.host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            w.host.clone()
        },
        port: port(w.port, 0),
        advertise: w.advertise.clone(),
        tls: w
            .tls
            .as_ref()
            .filter(|_| !w.no_tls)
            .map(|t| settings(t, TlsKind::Client, roots)),
        compression: w.compression,
        same_origin: w.same_origin,
        allowed_origins: w.allowed_origins.clone(),
        handshake_timeout: (w.handshake_timeout > 0).then(|| to_std(w.handshake_timeout)),
        credentials: (!w.username.is_empty()).then(|| (w.username.clone(), w.password.clone())),
        token: (!w.token.is_empty()).then(|| w.token.clone()),
        auth_timeout: (w.auth_timeout > 0.0).then(|| Duration::from_secs_f64(w.auth_timeout)),
        no_auth_user: w.no_auth_user.clone(),
        headers: w
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// The gateway port nats-server dials when a URL names none.
const DEFAULT_GATEWAY_PORT: u16 = 7222;

/// The `gateway {}` block: on when it names a gateway. A port of `-1` is
/// left at 0 for the caller to bind and resolve. The entry naming this
/// gateway itself is dropped (the seed's configs list every gateway on
/// every server).
fn gateway(c: &ServerConfig, roots: &str) -> Option<crate::GatewayOptions> {
    let g = &c.gateway;
    if g.name.is_empty() {
        return None;
    }
    let tls = g
        .tls
        .as_ref()
        .map(|t| settings(t, TlsKind::RouteOrGateway, roots));
    // nats-server's `newGateway`: an entry's own block (its timeout, or
    // the gateway's when unset) or a clone of the gateway's; the pinned
    // certificates checked are always the gateway's.
    let remote_tls = |r: &super::RemoteGatewayOpts| match (&r.tls, &tls) {
        (Some(own), gw) => {
            let mut s = settings(own, TlsKind::RouteOrGateway, roots);
            if own.timeout <= 0.0 {
                s.timeout = gw
                    .as_ref()
                    .map_or(crate::tls::DEFAULT_TIMEOUT, |g| g.timeout);
            }
            s.pinned_certs = gw
                .as_ref()
                .map(|g| g.pinned_certs.clone())
                .unwrap_or_default();
            // An entry without a certificate presents the gateway block's
            // (nats-server's default client certificate for gateways).
            if let Some(g) = gw.as_ref().filter(|_| s.cert_pem.is_empty()) {
                s.cert_file.clone_from(&g.cert_file);
                s.cert_pem.clone_from(&g.cert_pem);
                s.key_file.clone_from(&g.key_file);
                s.key_pem.clone_from(&g.key_pem);
            }
            Some(s)
        }
        (None, gw) => gw.clone(),
    };
    let urls = |r: &super::RemoteGatewayOpts| -> Vec<crate::route::RouteAddr> {
        r.urls
            .iter()
            .filter_map(|u| {
                let mut addr = crate::route::RouteAddr::parse(&u.host).or_else(|| {
                    crate::route::RouteAddr::parse(&format!("{}:{DEFAULT_GATEWAY_PORT}", u.host))
                })?;
                addr.user.clone_from(&u.user);
                addr.password.clone_from(&u.password);
                Some(addr)
            })
            .collect()
    };
    let gateways = g
        .gateways
        .iter()
        .filter(|r| r.name != g.name)
        .map(|r| crate::RemoteGatewayOptions {
            name: r.name.clone(),
            urls: urls(r),
            tls: remote_tls(r),
        })
        .collect();
    let self_entry = g
        .gateways
        .iter()
        .position(|r| r.name == g.name)
        .map(|i| (i, urls(&g.gateways[i])));
    Some(crate::GatewayOptions {
        name: g.name.clone(),
        host: if g.host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            g.host.clone()
        },
        port: port(g.port, 0),
        advertise: g.advertise.clone(),
        credentials: (!g.username.is_empty()).then(|| (g.username.clone(), g.password.clone())),
        auth_timeout: if g.auth_timeout > 0.0 && g.auth_timeout.is_finite() {
            Duration::from_secs_f64(g.auth_timeout.min(1e9))
        } else {
            default_auth_timeout(tls.as_ref())
        },
        connect_retries: u32::try_from(g.connect_retries.max(0)).unwrap_or(u32::MAX),
        reject_unknown: g.reject_unknown,
        gateways,
        self_entry,
        connect_backoff: g.connect_backoff,
        write_deadline: (g.write_deadline > 0).then(|| to_std(g.write_deadline)),
        write_timeout_close: g.write_timeout == super::types::WriteTimeoutPolicy::Close,
        tls,
    })
}

/// The leaf port nats-server dials when a remote URL names none.
const DEFAULT_LEAF_PORT: u16 = 7422;

/// The `leafnodes {}` block: on when it names a port (a listener) or has
/// remotes. A port of `-1` is left at 0 for the caller to bind and
/// resolve.
fn leafnodes(c: &ServerConfig, roots: &str) -> Option<crate::LeafOptions> {
    let l = &c.leafnode;
    if l.port == 0 && l.remotes.is_empty() {
        return None;
    }
    let tls = l
        .tls
        .as_ref()
        .map(|t| settings(t, TlsKind::LeafListener, roots));
    // A remote's own block; with none, URLs that ask for TLS get the
    // defaults (nats-server does TLS for `wss://`, and for any URL when
    // the hub's INFO requires it).
    let remote_tls = |r: &super::RemoteLeafOpts| match &r.tls {
        Some(t) => Some(settings(t, TlsKind::LeafRemote, roots)),
        None => r
            .urls
            .iter()
            .any(|u| u.scheme == "tls" || u.scheme == "wss")
            .then(|| default_remote(roots)),
    };
    let remotes = l
        .remotes
        .iter()
        .map(|r| crate::RemoteLeafOptions {
            urls: r
                .urls
                .iter()
                .filter_map(|u| {
                    // nats-server's defaults: 80 for ws://, 443 for wss://.
                    let default_port = match u.scheme.as_str() {
                        "ws" => 80,
                        "wss" => 443,
                        _ => DEFAULT_LEAF_PORT,
                    };
                    let mut addr = crate::route::RouteAddr::parse(&u.host).or_else(|| {
                        crate::route::RouteAddr::parse(&format!("{}:{default_port}", u.host))
                    })?;
                    addr.user.clone_from(&u.user);
                    addr.password.clone_from(&u.password);
                    Some(addr)
                })
                .collect(),
            no_randomize: r.no_randomize,
            account: r.local_account.clone(),
            hub: r.hub,
            deny_imports: r.deny_imports.clone(),
            deny_exports: r.deny_exports.clone(),
            request_isolation: r.request_isolation,
            isolate: r.local_isolation,
            first_info_timeout: duration(r.first_info_timeout, Duration::from_secs(1)),
            disabled: r.disabled,
            credentials: r.credentials.clone(),
            nkey: r.nkey.clone(),
            external_signer: false,
            name: r.name(false),
            safe_name: r.name(true),
            dial_timeout: (r.dial_timeout > 0).then(|| to_std(r.dial_timeout)),
            ignore_discovered: r.ignore_discovered_servers,
            tls: remote_tls(r),
            upgrade_ca_pem: if r.tls.is_none() {
                roots.to_string()
            } else {
                String::new()
            },
            compression: compression(&r.compression, Mode::Auto, Mode::Auto),
            websocket: r
                .urls
                .iter()
                .any(|u| u.scheme == "ws" || u.scheme == "wss")
                .then(|| crate::RemoteWebsocket {
                    compression: r.ws_compression,
                    no_masking: r.ws_no_masking,
                    paths: r.urls.iter().map(|u| u.path.clone()).collect(),
                }),
        })
        .collect();
    Some(crate::LeafOptions {
        host: if l.host.is_empty() {
            "0.0.0.0".to_string()
        } else {
            l.host.clone()
        },
        port: port(l.port, 0),
        advertise: l.advertise.clone(),
        no_advertise: l.no_advertise,
        credentials: (!l.username.is_empty()).then(|| (l.username.clone(), l.password.clone())),
        users: l
            .users
            .iter()
            .map(|u| crate::options::LeafUserOptions {
                user: u.username.clone(),
                password: u.password.clone(),
                account: u.account.clone().unwrap_or_default(),
            })
            .collect(),
        account: l.account.clone(),
        auth_timeout: if l.auth_timeout > 0.0 {
            Duration::from_secs_f64(l.auth_timeout)
        } else {
            default_auth_timeout(tls.as_ref())
        },
        min_version: l.min_version.clone(),
        isolate: l.isolate_leafnode_interest,
        remotes,
        reconnect: duration(l.reconnect_interval, Duration::from_secs(1)),
        nkey: l.nkey.clone(),
        dial_timeout: duration(l.dial_timeout, Duration::from_secs(1)),
        write_deadline: (l.write_deadline > 0).then(|| to_std(l.write_deadline)),
        write_timeout_close: l.write_timeout == super::types::WriteTimeoutPolicy::Close,
        tls,
        compression: compression(&l.compression, Mode::Auto, Mode::Auto),
    })
}
