//! `/routez` and the cluster parts of `/varz`: the registered routes and
//! the `cluster {}` configuration, with nats-server 2.15.1's field names,
//! order and omissions.
//!
//! nats-server lists one entry per pooled connection (three per peer by
//! default, plus pinned accounts); Canopy does not pool, so it lists one
//! route per peer, and its `/varz` says `"pool_size": -1` as nats-server
//! does with pooling switched off.

use super::connz::SubDetail;
use super::query::Query;
use super::timefmt::{go_duration, rfc3339_nano, uptime};
use super::Inspect;
use super::{go_float, now_text, pretty};
use crate::time::Instant;
use serde::Serialize;
use std::time::Duration;

/// What `/routez` shows for a route whose mode is not known yet (a peer
/// that predates compression).
const COMPRESSION: &str = "not supported";

/// Route pool size as `/varz` shows it: -1, pooling disabled.
const POOL_SIZE: i64 = -1;

/// nats-server's cluster TLS timeout default (seconds), shown even
/// without TLS.
const CLUSTER_TLS_TIMEOUT: f64 = 2.0;

/// A snapshot of one registered route.
#[derive(Clone, Debug)]
pub(crate) struct RouteInfoView {
    /// The connection (its `cid` is the `rid`).
    pub(crate) link: super::inspect::LinkSnapshot,
    pub(crate) remote_id: String,
    pub(crate) remote_name: String,
    pub(crate) did_solicit: bool,
    pub(crate) is_configured: bool,
    /// The peer's interest, by `account subject [queue]`.
    pub(crate) subs: Vec<SubDetail>,
}

/// The `cluster {}` configuration in use, for `/varz`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClusterView {
    pub(crate) name: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) auth_timeout: Duration,
    /// Configured route URLs as `host:port`.
    pub(crate) urls: Vec<String>,
}

/// `/varz` `cluster`: every field omitted when empty or zero, so an
/// unclustered server shows `{}`.
#[derive(Serialize, Default)]
pub(crate) struct ClusterVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(rename = "addr", skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(rename = "cluster_port", skip_serializing_if = "is_zero_u16")]
    port: u16,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    auth_timeout: serde_json::Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    tls_timeout: serde_json::Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pool_size: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_cert_not_after: String,
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

fn seconds(d: Duration) -> serde_json::Value {
    if d.is_zero() {
        serde_json::Value::Null
    } else {
        go_float(d.as_secs_f64())
    }
}

/// The `/varz` `cluster` object.
pub(crate) fn cluster_varz(server: &dyn Inspect) -> ClusterVarz {
    let Some(c) = server.cluster_view() else {
        return ClusterVarz::default();
    };
    let tls = super::tls::tls_varz(
        server
            .options()
            .cluster
            .as_ref()
            .and_then(|c| c.tls.as_ref()),
        true,
        CLUSTER_TLS_TIMEOUT,
    );
    ClusterVarz {
        name: c.name,
        host: c.host,
        port: c.port,
        auth_timeout: seconds(c.auth_timeout),
        urls: c.urls,
        tls_timeout: tls.timeout,
        tls_required: tls.required,
        tls_verify: tls.verify,
        pool_size: POOL_SIZE,
        tls_cert_not_after: tls.not_after,
    }
}

#[derive(Serialize)]
struct Routez<'a> {
    server_id: &'a str,
    server_name: &'a str,
    now: String,
    num_routes: usize,
    routes: Vec<Route>,
}

#[derive(Serialize)]
struct Route {
    rid: u64,
    remote_id: String,
    remote_name: String,
    did_solicit: bool,
    is_configured: bool,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    rtt: String,
    uptime: String,
    idle: String,
    pending_size: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail>>,
    compression: &'static str,
}

/// The RTT as nats-server's `getRTT` reports it: 0 (printed "0s") until
/// measured, truncated to whole microseconds between 1 µs and 1 ms.
pub(crate) fn rtt_shown(rtt: Option<Duration>) -> Duration {
    let rtt = rtt.unwrap_or_default();
    if rtt > Duration::from_micros(1) && rtt < Duration::from_millis(1) {
        Duration::from_micros(rtt.as_micros() as u64)
    } else {
        rtt
    }
}

/// Renders `/routez` (`subs=1` lists each route's interest by subject,
/// `subs=detail` in full), or the 400 message.
pub(crate) fn render(server: &dyn Inspect, q: &Query, now: Instant) -> Result<String, String> {
    let detail = q.get("subs") == "detail";
    let subs = if detail { false } else { q.bool("subs")? };
    let wall = |t: Instant| rfc3339_nano(server.monitor().wall(t));
    let routes: Vec<Route> = server
        .route_infos()
        .into_iter()
        .map(|r| Route {
            rid: r.link.cid,
            remote_id: r.remote_id,
            remote_name: r.remote_name,
            did_solicit: r.did_solicit,
            is_configured: r.is_configured,
            ip: r.link.ip,
            port: r.link.port,
            start: wall(r.link.start),
            last_activity: wall(r.link.last_activity),
            rtt: go_duration(rtt_shown(r.link.rtt)),
            uptime: uptime(now.saturating_since(r.link.start)),
            idle: uptime(now.saturating_since(r.link.last_activity)),
            pending_size: r.link.pending,
            in_msgs: r.link.stats.in_msgs,
            out_msgs: r.link.stats.out_msgs,
            in_bytes: r.link.stats.in_bytes,
            out_bytes: r.link.stats.out_bytes,
            subscriptions: r.subs.len(),
            subscriptions_list: (subs && !r.subs.is_empty())
                .then(|| r.subs.iter().map(|s| s.subject.clone()).collect()),
            subscriptions_list_detail: (detail && !r.subs.is_empty()).then(|| r.subs.clone()),
            compression: if r.link.compression.is_empty() {
                COMPRESSION
            } else {
                r.link.compression
            },
        })
        .collect();
    Ok(pretty(&Routez {
        server_id: server.server_id(),
        server_name: server.server_name(),
        now: now_text(server, now),
        num_routes: routes.len(),
        routes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_truncated_as_nats_server_does() {
        assert_eq!(go_duration(rtt_shown(None)), "0s");
        let ns = Duration::from_nanos;
        assert_eq!(go_duration(rtt_shown(Some(ns(291_223)))), "291µs");
        assert_eq!(go_duration(rtt_shown(Some(ns(1_000)))), "1µs");
        assert_eq!(go_duration(rtt_shown(Some(ns(999)))), "999ns");
        assert_eq!(go_duration(rtt_shown(Some(ns(1_234_567)))), "1.234567ms");
    }
}
