//! `/gatewayz` and the gateway part of `/varz`: the registered gateway
//! links, both ways, and the `gateway {}` configuration, with nats-server
//! 2.15.1's field names, order and omissions.
//!
//! nats-server keeps the accounts of a link in Go maps (`outsim`,
//! `insim`), so it lists them in no fixed order; Canopy lists them in
//! account order. It also lists a peer's subscriptions in the order of
//! its subject index; Canopy by `account subject[ queue]`.

use super::connz::SubDetail;
use super::query::Query;
use super::timefmt::{go_duration, rfc3339_nano, uptime};
use super::Inspect;
use super::{go_float, now_text, pretty};
use crate::time::Instant;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// nats-server's `gatewayMaxRUnsubBeforeSwitch`: `RS-` an account may
/// get in optimistic mode before it is switched to interest-only, shown
/// on every account.
const INTEREST_ONLY_THRESHOLD: u32 = 1000;

/// nats-server's gateway TLS timeout default (seconds), shown even
/// without TLS.
const GATEWAY_TLS_TIMEOUT: f64 = 2.0;

/// An account's interest mode on a gateway link (nats-server's
/// `GatewayInterestMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InterestMode {
    /// Messages go unless the peer said it has no interest.
    Optimistic,
    /// Only subjects the peer announced get messages.
    InterestOnly,
}

impl InterestMode {
    fn text(self) -> &'static str {
        match self {
            InterestMode::Optimistic => "Optimistic",
            InterestMode::InterestOnly => "Interest-Only",
        }
    }
}

/// One account of a gateway link, as its `accounts` entry shows it.
#[derive(Clone, Debug)]
pub(crate) struct GatewayAccountView {
    pub(crate) name: String,
    pub(crate) mode: InterestMode,
    /// Subjects the peer said it has no interest in (optimistic mode).
    pub(crate) no_interest: usize,
    /// Queue subscriptions the peer announced.
    pub(crate) qsubs: u32,
    /// The peer's announced interest in the account (outbound links).
    pub(crate) subs: Vec<SubDetail>,
}

/// A snapshot of one registered gateway link.
#[derive(Clone, Debug)]
pub(crate) struct GatewayLinkInfo {
    /// The remote cluster's gateway name.
    pub(crate) gateway: String,
    /// This server dialed it.
    pub(crate) outbound: bool,
    /// Dialed for a configured (not learned) gateway.
    pub(crate) configured: bool,
    /// The connection.
    pub(crate) link: super::inspect::LinkSnapshot,
    /// Subscriptions the peer announced on the link (0 inbound).
    pub(crate) subscriptions: usize,
    /// The peer's server id.
    pub(crate) server_id: String,
    /// Its accounts, in account order.
    pub(crate) accounts: Vec<GatewayAccountView>,
}

/// The `gateway {}` configuration in use, for `/varz` and the head of
/// `/gatewayz`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GatewayView {
    pub(crate) name: String,
    /// The listen host and port.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The host and port told to other gateways (advertised, or the
    /// listener's).
    pub(crate) info_host: String,
    pub(crate) info_port: u16,
    pub(crate) auth_timeout: Duration,
    pub(crate) advertise: String,
    pub(crate) connect_retries: u32,
    pub(crate) reject_unknown: bool,
    /// Configured gateways in configuration order, with every URL known
    /// for each (`host:port`).
    pub(crate) gateways: Vec<(String, Vec<String>)>,
}

/// `/varz` `gateway`: `{}` without gateways.
#[derive(Serialize, Default)]
pub(crate) struct GatewayVarz {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(skip_serializing_if = "is_zero_u16")]
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
    advertise: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    connect_retries: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gateways: Vec<RemoteGatewayVarz>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reject_unknown: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_cert_not_after: String,
}

#[derive(Serialize)]
struct RemoteGatewayVarz {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// The `/varz` `gateway` object.
pub(crate) fn gateway_varz(server: &dyn Inspect) -> GatewayVarz {
    let Some(g) = server.gateway_view() else {
        return GatewayVarz::default();
    };
    let tls = super::tls::tls_varz(
        server
            .options()
            .gateway
            .as_ref()
            .and_then(|g| g.tls.as_ref()),
        true,
        GATEWAY_TLS_TIMEOUT,
    );
    GatewayVarz {
        name: g.name,
        host: g.host,
        port: g.port,
        auth_timeout: if g.auth_timeout.is_zero() {
            serde_json::Value::Null
        } else {
            go_float(g.auth_timeout.as_secs_f64())
        },
        tls_timeout: tls.timeout,
        tls_required: tls.required,
        tls_verify: tls.verify,
        advertise: g.advertise,
        connect_retries: g.connect_retries,
        gateways: g
            .gateways
            .into_iter()
            .map(|(name, urls)| RemoteGatewayVarz { name, urls })
            .collect(),
        reject_unknown: g.reject_unknown,
        tls_cert_not_after: tls.not_after,
    }
}

#[derive(Serialize)]
struct Gatewayz<'a> {
    server_id: &'a str,
    now: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(skip_serializing_if = "is_zero_u16")]
    port: u16,
    /// `null` when `gw_name` names a gateway without an outbound link.
    outbound_gateways: Option<BTreeMap<String, RemoteGatewayz>>,
    inbound_gateways: BTreeMap<String, Vec<RemoteGatewayz>>,
}

#[derive(Serialize)]
struct RemoteGatewayz {
    configured: bool,
    connection: GatewayConn,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<AccountGatewayz>,
}

/// nats-server's `ConnInfo` as it is filled for a gateway link.
#[derive(Serialize)]
struct GatewayConn {
    cid: u64,
    kind: &'static str,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    rtt: String,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: usize,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
}

#[derive(Serialize)]
struct AccountGatewayz {
    name: String,
    interest_mode: &'static str,
    #[serde(skip_serializing_if = "is_zero_usize")]
    no_interest_count: usize,
    #[serde(skip_serializing_if = "is_zero_u32")]
    interest_only_threshold: u32,
    #[serde(skip_serializing_if = "is_zero_usize")]
    num_subs: usize,
    #[serde(skip_serializing_if = "is_zero_u32")]
    num_queue_subs: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list_detail: Vec<SubDetail>,
}

/// What the query asks for.
struct Filter<'q> {
    /// `gw_name`: only links to that gateway.
    gateway: &'q str,
    /// `accs` (or `acc_name`): each link's accounts.
    accounts: bool,
    /// `acc_name`: only that account.
    account: &'q str,
    /// `subs=1`: each account's subjects.
    subs: bool,
    /// `subs=detail`: each account's subscriptions in full.
    detail: bool,
}

fn account_entry(a: GatewayAccountView, f: &Filter<'_>) -> AccountGatewayz {
    let num_subs = a.subs.len();
    let (list, detail) = if f.detail {
        (Vec::new(), a.subs)
    } else if f.subs {
        (a.subs.into_iter().map(|s| s.subject).collect(), Vec::new())
    } else {
        (Vec::new(), Vec::new())
    };
    AccountGatewayz {
        name: a.name,
        interest_mode: a.mode.text(),
        no_interest_count: a.no_interest,
        interest_only_threshold: INTEREST_ONLY_THRESHOLD,
        num_subs,
        num_queue_subs: a.qsubs,
        subscriptions_list: list,
        subscriptions_list_detail: detail,
    }
}

fn entry(server: &dyn Inspect, l: GatewayLinkInfo, f: &Filter<'_>, now: Instant) -> RemoteGatewayz {
    let wall = |t: Instant| rfc3339_nano(server.monitor().wall(t));
    let accounts = if f.accounts {
        l.accounts
            .into_iter()
            .filter(|a| f.account.is_empty() || a.name == f.account)
            .map(|a| account_entry(a, f))
            .collect()
    } else {
        Vec::new()
    };
    RemoteGatewayz {
        configured: l.configured,
        connection: GatewayConn {
            cid: l.link.cid,
            kind: "Gateway",
            ip: l.link.ip,
            port: l.link.port,
            start: wall(l.link.start),
            last_activity: wall(l.link.last_activity),
            rtt: go_duration(super::routez::rtt_shown(l.link.rtt)),
            uptime: uptime(now.saturating_since(l.link.start)),
            idle: uptime(now.saturating_since(l.link.last_activity)),
            pending_bytes: l.link.pending,
            in_msgs: l.link.stats.in_msgs,
            out_msgs: l.link.stats.out_msgs,
            in_bytes: l.link.stats.in_bytes,
            out_bytes: l.link.stats.out_bytes,
            subscriptions: l.subscriptions,
            name: l.server_id,
        },
        accounts,
    }
}

/// Renders `/gatewayz` (`gw_name=` keeps the links to one gateway;
/// `accs=1` lists each link's accounts, `acc_name=` only one of them;
/// `subs=1` or `subs=detail` each account's interest), or the 400
/// message.
pub(crate) fn render(server: &dyn Inspect, q: &Query, now: Instant) -> Result<String, String> {
    let detail = q.get("subs").eq_ignore_ascii_case("detail");
    let subs = if detail { false } else { q.bool("subs")? };
    let account = q.get("acc_name");
    let accounts = q.bool("accs")? || !account.is_empty();
    let f = Filter {
        gateway: q.get("gw_name"),
        accounts,
        account,
        subs,
        detail,
    };
    let mut out = Gatewayz {
        server_id: server.server_id(),
        now: now_text(server, now),
        name: String::new(),
        host: String::new(),
        port: 0,
        outbound_gateways: Some(BTreeMap::new()),
        inbound_gateways: BTreeMap::new(),
    };
    let Some(g) = server.gateway_view() else {
        return Ok(pretty(&out));
    };
    out.name = g.name;
    out.host = g.info_host;
    out.port = g.info_port;
    let mut outbound = BTreeMap::new();
    for l in server.gateway_infos() {
        if !f.gateway.is_empty() && l.gateway != f.gateway {
            continue;
        }
        if l.outbound {
            outbound.insert(l.gateway.clone(), entry(server, l, &f, now));
        } else {
            out.inbound_gateways
                .entry(l.gateway.clone())
                .or_default()
                .push(entry(server, l, &f, now));
        }
    }
    // nats-server answers `null` for a `gw_name` it has no outbound link
    // to.
    out.outbound_gateways = (f.gateway.is_empty() || !outbound.is_empty()).then_some(outbound);
    Ok(pretty(&out))
}
