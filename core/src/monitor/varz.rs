//! `/varz`: the server's configuration and counters.

use super::routez::{cluster_varz, ClusterVarz};
use super::timefmt::{rfc3339_nano, uptime};
use super::Inspect;
use super::{go_float, now_text, pretty};
use crate::time::Instant;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize, Default)]
struct Empty {}

#[derive(Serialize)]
struct KindStats {
    clients: u64,
    routes: u64,
    gateways: u64,
    leafs: u64,
}

/// Waits on disk IO (JetStream storage): none without JetStream. The
/// times are Go durations (nanoseconds).
#[derive(Serialize, Default)]
struct DiskIoWaitStats {
    waiters: u64,
    waits: u64,
    wait_time: u64,
    max_wait_time: u64,
}

#[derive(Serialize)]
struct Varz<'a> {
    server_id: &'a str,
    server_name: &'a str,
    version: &'a str,
    proto: u32,
    git_commit: &'a str,
    go: &'a str,
    host: &'a str,
    port: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    connect_urls: &'a [String],
    max_connections: usize,
    ping_interval: u128,
    ping_max: u32,
    http_host: &'a str,
    http_port: i64,
    http_base_path: &'a str,
    https_port: i64,
    auth_timeout: serde_json::Value,
    max_control_line: usize,
    max_payload: usize,
    max_pending: usize,
    cluster: ClusterVarz,
    gateway: super::gatewayz::GatewayVarz,
    leaf: super::leafz::LeafVarz,
    mqtt: Empty,
    websocket: WebsocketVarz,
    jetstream: Empty,
    tls_timeout: serde_json::Value,
    write_deadline: u128,
    start: String,
    now: String,
    uptime: String,
    mem: u64,
    cores: u32,
    gomaxprocs: u32,
    cpu: serde_json::Value,
    connections: usize,
    total_connections: u64,
    routes: usize,
    remotes: usize,
    leafnodes: usize,
    in_msgs: u64,
    in_bytes: u64,
    in_client_msgs: u64,
    in_client_bytes: u64,
    out_msgs: u64,
    out_bytes: u64,
    out_client_msgs: u64,
    out_client_bytes: u64,
    slow_consumers: u64,
    stale_connections: u64,
    stalled_clients: u64,
    subscriptions: usize,
    http_req_stats: BTreeMap<String, u64>,
    config_load_time: String,
    config_digest: &'a str,
    feature_flags: BTreeMap<&'static str, bool>,
    #[serde(skip_serializing_if = "str::is_empty")]
    system_account: &'a str,
    slow_consumer_stats: KindStats,
    stale_connection_stats: KindStats,
    disk_io_wait_stats: DiskIoWaitStats,
}

/// Renders `/varz`.
pub(crate) fn render(server: &dyn Inspect, now: Instant) -> String {
    let o = server.options();
    let stats = server.stats();
    let start = rfc3339_nano(server.monitor().wall(server.start_time()));
    let host = server.monitor().host;
    let routes = server.route_count();
    let tls = super::tls::tls_varz(o.tls.as_ref(), false, 2.0);
    pretty(&Varz {
        server_id: server.server_id(),
        server_name: server.server_name(),
        version: crate::options::VERSION,
        proto: 1,
        git_commit: server.git_commit(),
        go: "rust",
        host: &o.host,
        port: o.port,
        // nats-server's `info.AuthRequired`: users of accounts count too.
        auth_required: o.authenticator().required(),
        // nats-server: required unless `allow_non_tls`.
        tls_required: tls.required && !o.allow_non_tls,
        tls_verify: tls.verify,
        connect_urls: server.connect_urls(),
        max_connections: o.max_connections.unwrap_or(0),
        ping_interval: o.ping_interval.as_nanos(),
        ping_max: o.ping_max,
        http_host: &o.http_host,
        http_port: if o.http_port_configured != 0 {
            i64::from(o.http_port_configured)
        } else {
            i64::from(o.http_port)
        },
        http_base_path: &o.http_base_path,
        https_port: if o.https_port_configured != 0 {
            i64::from(o.https_port_configured)
        } else {
            i64::from(o.https_port)
        },
        auth_timeout: go_float(o.auth_timeout.as_secs_f64()),
        max_control_line: o.max_control_line,
        max_payload: o.max_payload,
        max_pending: o.max_pending,
        cluster: cluster_varz(server),
        gateway: super::gatewayz::gateway_varz(server),
        leaf: super::leafz::leaf_varz(server),
        mqtt: Empty {},
        websocket: websocket_varz(server.options()),
        jetstream: Empty {},
        tls_timeout: tls.timeout,
        write_deadline: o.write_deadline.as_nanos(),
        start: start.clone(),
        now: now_text(server, now),
        uptime: uptime(now.saturating_since(server.start_time())),
        mem: host.mem,
        cores: host.cores,
        gomaxprocs: host.cores,
        cpu: go_float(host.cpu),
        connections: server.client_count(),
        total_connections: stats.total_connections,
        routes,
        remotes: routes,
        leafnodes: server.leaf_infos().len(),
        in_msgs: stats.in_msgs,
        in_bytes: stats.in_bytes,
        in_client_msgs: stats.in_msgs,
        in_client_bytes: stats.in_bytes,
        out_msgs: stats.out_msgs,
        out_bytes: stats.out_bytes,
        out_client_msgs: stats.out_msgs,
        out_client_bytes: stats.out_bytes,
        slow_consumers: stats.slow_consumers,
        stale_connections: stats.stale_connections,
        stalled_clients: stats.stalled_clients,
        subscriptions: server.subscription_count(),
        http_req_stats: server.monitor().req_stats.clone(),
        config_load_time: start,
        config_digest: "",
        feature_flags: o.feature_flags_shown().into_iter().collect(),
        system_account: &o.system_account,
        slow_consumer_stats: KindStats {
            clients: stats.slow_consumers,
            routes: 0,
            gateways: 0,
            leafs: 0,
        },
        stale_connection_stats: KindStats {
            clients: stats.stale_connections,
            routes: 0,
            gateways: 0,
            leafs: 0,
        },
        disk_io_wait_stats: DiskIoWaitStats::default(),
    })
}

/// `/varz` `websocket`: the block's settings, each left out when unset
/// (nats-server's `WebsocketOptsVarz`).
#[derive(Serialize, Default)]
struct WebsocketVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(skip_serializing_if = "is_zero")]
    port: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    advertise: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    no_auth_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    handshake_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_timeout: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    no_tls: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    same_origin: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_origins: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    compression: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_cert_not_after: String,
}

fn is_zero(p: &u16) -> bool {
    *p == 0
}

fn websocket_varz(o: &crate::Options) -> WebsocketVarz {
    let Some(w) = o.websocket.as_ref() else {
        return WebsocketVarz::default();
    };
    let tls = super::tls::tls_varz(w.tls.as_ref(), false, 0.0);
    WebsocketVarz {
        host: w.host.clone(),
        port: w.port,
        advertise: w.advertise.clone(),
        no_auth_user: w.no_auth_user.clone(),
        handshake_timeout: w.handshake_timeout.map(|d| d.as_nanos() as u64),
        auth_timeout: w.auth_timeout.map(|d| go_float(d.as_secs_f64())),
        no_tls: w.tls.is_none(),
        same_origin: w.same_origin,
        allowed_origins: w.allowed_origins.clone(),
        compression: w.compression,
        tls_cert_not_after: tls.not_after,
    }
}
