//! `/leafz` and the leaf parts of `/varz`: the registered leaf links, in
//! both roles, with nats-server 2.15.1's field names and order.

use super::query::Query;
use super::timefmt::go_duration;
use super::Inspect;
use super::{go_float, now_text, pretty};
use crate::time::Instant;
use serde::Serialize;
use std::time::Duration;

/// What `/leafz` shows for a link whose mode is not known yet.
const COMPRESSION: &str = "off";

/// nats-server's leafnode TLS timeout default (seconds), shown even
/// without TLS.
const LEAF_TLS_TIMEOUT: f64 = 2.0;

/// A snapshot of one registered leaf link.
#[derive(Clone, Debug)]
pub(crate) struct LeafInfoView {
    pub(crate) lid: u64,
    /// The peer's server name.
    pub(crate) name: String,
    /// This server is the spoke of the link.
    pub(crate) is_spoke: bool,
    /// The local account it is bound to.
    pub(crate) account: String,
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) rtt: Option<Duration>,
    pub(crate) in_msgs: u64,
    pub(crate) out_msgs: u64,
    pub(crate) in_bytes: u64,
    pub(crate) out_bytes: u64,
    /// The subjects of the peer's interest (`LS+`), sorted.
    pub(crate) subs: Vec<String>,
    /// The link's compression mode (nats-server's `compression`).
    pub(crate) compression: &'static str,
    /// The link runs over a WebSocket.
    pub(crate) websocket: bool,
}

/// The `leafnodes {}` listener in use, for `/varz`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LeafView {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) auth_timeout: Duration,
}

/// `/varz` `leaf`: `{}` without a leaf listener.
#[derive(Serialize, Default)]
pub(crate) struct LeafVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(skip_serializing_if = "is_zero")]
    port: u16,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    auth_timeout: serde_json::Value,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    tls_timeout: serde_json::Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_cert_not_after: String,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// The `/varz` `leaf` object.
pub(crate) fn leaf_varz(server: &dyn Inspect) -> LeafVarz {
    let Some(l) = server.leaf_view() else {
        return LeafVarz::default();
    };
    let tls = super::tls::tls_varz(
        server.options().leaf.as_ref().and_then(|l| l.tls.as_ref()),
        false,
        LEAF_TLS_TIMEOUT,
    );
    LeafVarz {
        host: l.host,
        port: l.port,
        auth_timeout: go_float(l.auth_timeout.as_secs_f64()),
        tls_timeout: tls.timeout,
        tls_required: tls.required,
        tls_verify: tls.verify,
        tls_cert_not_after: tls.not_after,
    }
}

#[derive(Serialize)]
struct Leafz<'a> {
    server_id: &'a str,
    now: String,
    leafnodes: usize,
    leafs: Vec<Leaf>,
}

#[derive(Serialize)]
struct Leaf {
    id: u64,
    name: String,
    is_spoke: bool,
    account: String,
    ip: String,
    port: u16,
    rtt: String,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    compression: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    websocket: bool,
}

/// Renders `/leafz` (`subs=1` lists each link's interest; `acc=` keeps
/// the links of one account), or the 400 message.
pub(crate) fn render(server: &dyn Inspect, q: &Query, now: Instant) -> Result<String, String> {
    let subs = q.bool("subs")?;
    let acc = q.get("acc");
    let leafs: Vec<Leaf> = server
        .leaf_infos()
        .into_iter()
        .filter(|l| acc.is_empty() || l.account == acc)
        .map(|l| Leaf {
            id: l.lid,
            name: l.name,
            is_spoke: l.is_spoke,
            account: l.account,
            ip: l.ip,
            port: l.port,
            rtt: go_duration(super::routez::rtt_shown(l.rtt)),
            in_msgs: l.in_msgs,
            out_msgs: l.out_msgs,
            in_bytes: l.in_bytes,
            out_bytes: l.out_bytes,
            subscriptions: l.subs.len(),
            subscriptions_list: (subs && !l.subs.is_empty()).then_some(l.subs),
            compression: if l.compression.is_empty() {
                COMPRESSION
            } else {
                l.compression
            },
            websocket: l.websocket,
        })
        .collect();
    Ok(pretty(&Leafz {
        server_id: server.server_id(),
        now: now_text(server, now),
        leafnodes: leafs.len(),
        leafs,
    }))
}
