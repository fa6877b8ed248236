//! The HTTP monitoring port (`-m`, `http_port`): another kind of
//! connection of the engine, so the simulator can query it too. A small
//! HTTP/1.1 codec reads requests; each endpoint renders JSON from the
//! engine's own state with nats-server 2.15.1's field names and types.

pub mod http;
pub mod query;
pub mod timefmt;

pub(crate) mod connz;
pub(crate) mod gatewayz;
pub(crate) mod leafz;
pub(crate) mod routez;
mod tls;
mod varz;

pub(crate) mod inspect;

use crate::time::Instant;
use http::{Body, Request};
pub(crate) use inspect::Inspect;
use query::Query;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

pub(crate) use connz::ConnInfo;

/// Closed connections remembered for `/connz?state=closed`.
pub const MAX_CLOSED_CLIENTS: usize = 10_000;

/// Process facts only the driver knows, for `/varz`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostStats {
    /// Resident memory in bytes.
    pub mem: u64,
    /// CPU use in percent.
    pub cpu: f64,
    /// CPU cores.
    pub cores: u32,
}

/// Monitoring state kept by the engine.
#[derive(Debug, Default)]
pub(crate) struct MonitorState {
    pub(crate) req_stats: BTreeMap<String, u64>,
    pub(crate) closed: VecDeque<ConnInfo>,
    /// Wall-clock nanoseconds minus engine nanoseconds.
    pub(crate) wall_offset: i128,
    pub(crate) host: HostStats,
}

impl MonitorState {
    /// Wall-clock nanoseconds at engine instant `t`.
    pub(crate) fn wall(&self, t: Instant) -> i128 {
        self.wall_offset + i128::from(t.as_nanos())
    }

    /// Counts a request to `endpoint` (`/varz` `http_req_stats`).
    pub(crate) fn count_request(&mut self, endpoint: &str) {
        *self.req_stats.entry(endpoint.to_string()).or_insert(0) += 1;
    }

    /// Remembers a closed client, dropping the oldest beyond the limit.
    pub(crate) fn remember_closed(&mut self, info: ConnInfo) {
        if self.closed.len() == MAX_CLOSED_CLIENTS {
            self.closed.pop_front();
        }
        self.closed.push_back(info);
    }
}

/// The endpoint `path` names under the base path, if it is one
/// (counted in `/varz` `http_req_stats` before it is answered).
pub(crate) fn endpoint(base_path: &str, path: &str) -> Option<&'static str> {
    let base = base_path.trim_end_matches('/');
    let path = path.strip_prefix(base)?;
    let path = if path.is_empty() { "/" } else { path };
    ENDPOINTS.iter().copied().find(|&e| e == path)
}

/// Every endpoint monitoring serves.
const ENDPOINTS: [&str; 11] = [
    "/",
    "/varz",
    "/connz",
    "/routez",
    "/gatewayz",
    "/leafz",
    "/subsz",
    "/subscriptionsz",
    "/accountz",
    "/accstatz",
    "/healthz",
];

/// Answers one request.
pub(crate) fn respond(server: &dyn Inspect, req: &Request, now: Instant) -> Body {
    let base = server.options().http_base_path.trim_end_matches('/');
    let Some(endpoint) = endpoint(&server.options().http_base_path, &req.path) else {
        return Body::NotFound;
    };
    let q = Query::parse(&req.query);
    let result = match endpoint {
        "/" => return Body::Html(index(base)),
        "/varz" => Ok(varz::render(server, now)),
        "/connz" => connz::render(server, &q, now),
        "/subsz" | "/subscriptionsz" => subsz(server, &q, now),
        "/healthz" => return healthz(&q),
        "/accountz" => accountz(server, &q, now),
        "/accstatz" => Ok(accstatz(server, now)),
        "/routez" => routez::render(server, &q, now),
        "/gatewayz" => gatewayz::render(server, &q, now),
        "/leafz" => leafz::render(server, &q, now),
        _ => return Body::NotFound,
    };
    match result {
        Ok(json) => Body::Json(json),
        Err(msg) => Body::Error(400, msg),
    }
}

/// A float as Go's encoder prints it: whole values without a fraction
/// (`2`, not `2.0`).
pub(crate) fn go_float(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

/// `/healthz`: always healthy without JetStream, but the parameter
/// checks nats-server makes still refuse (400, JSON body).
fn healthz(q: &Query) -> Body {
    #[derive(Serialize)]
    struct Health<'a> {
        status: &'a str,
        error: &'a str,
    }
    let refuse = |error: &str| {
        let body = serde_json::to_string(&Health {
            status: "error",
            error,
        });
        Body::JsonStatus(400, body.unwrap_or_default())
    };
    if !q.get("consumer").is_empty() && q.get("stream").is_empty() {
        return refuse("\"stream\" must not be empty when checking consumer health");
    }
    if !q.get("stream").is_empty() && q.get("account").is_empty() {
        return refuse("\"account\" must not be empty when checking stream health");
    }
    Body::Json("{\"status\":\"ok\"}".into())
}

/// Go's `json.MarshalIndent(v, "", "  ")`.
pub(crate) fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into())
}

fn now_text(server: &dyn Inspect, now: Instant) -> String {
    timefmt::rfc3339_nano(server.monitor().wall(now))
}

#[derive(Serialize)]
struct Subsz<'a> {
    server_id: &'a str,
    now: String,
    #[serde(flatten)]
    stats: IndexStats,
    total: usize,
    offset: usize,
    limit: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions_list: Vec<connz::SubDetail>,
}

fn subsz(server: &dyn Inspect, q: &Query, now: Instant) -> Result<String, String> {
    let subs = q.bool("subs")?;
    let offset = q.int("offset")?.max(0) as usize;
    let mut limit = q.int("limit")?;
    if limit <= 0 {
        limit = 1024;
    }
    let test = q.get("test");
    if !test.is_empty() && !crate::subject::is_valid_literal_subject(test.as_bytes()) {
        return Err(format!(
            "invalid test subject, must be valid publish subject: {test}"
        ));
    }
    let stats = server.sublist_stats();
    let mut list = Vec::new();
    if subs {
        for detail in server.subscription_details() {
            if test.is_empty()
                || crate::subject::matches(detail.subject.as_bytes(), test.as_bytes())
            {
                list.push(detail);
            }
        }
    }
    let total = list.len();
    let list: Vec<_> = list.into_iter().skip(offset).take(limit as usize).collect();
    Ok(pretty(&Subsz {
        server_id: server.server_id(),
        now: now_text(server, now),
        stats: IndexStats::new(server.subscription_count(), &stats),
        total,
        offset,
        limit: limit as usize,
        subscriptions_list: list,
    }))
}

#[derive(Serialize)]
struct Accountz<'a> {
    server_id: &'a str,
    now: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    system_account: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_detail: Option<AccountDetail>,
}

#[derive(Serialize)]
struct AccountDetail {
    account_name: String,
    update_time: String,
    expired: bool,
    complete: bool,
    jetstream_enabled: bool,
    leafnode_connections: u32,
    client_connections: usize,
    subscriptions: usize,
    name_tag: String,
    sublist_stats: IndexStats,
}

/// The subject index counters, as `/subsz` and `sublist_stats` show them.
#[derive(Serialize)]
struct IndexStats {
    num_subscriptions: usize,
    num_cache: usize,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    cache_hit_rate: serde_json::Value,
    max_fanout: u64,
    avg_fanout: serde_json::Value,
}

impl IndexStats {
    fn new(subscriptions: usize, st: &inspect::SublistStats) -> Self {
        IndexStats {
            num_subscriptions: subscriptions,
            num_cache: st.cache,
            num_inserts: st.inserts,
            num_removes: st.removes,
            num_matches: st.matches,
            cache_hit_rate: go_float(if st.matches == 0 {
                0.0
            } else {
                st.cache_hits as f64 / st.matches as f64
            }),
            max_fanout: st.max_fanout,
            avg_fanout: go_float(st.avg_fanout),
        }
    }
}

fn accountz(server: &dyn Inspect, q: &Query, now: Instant) -> Result<String, String> {
    let acc = q.get("acc");
    let mut out = Accountz {
        server_id: server.server_id(),
        now: now_text(server, now),
        system_account: &server.options().system_account,
        accounts: Vec::new(),
        account_detail: None,
    };
    if acc.is_empty() {
        out.accounts = server.account_names();
        return Ok(pretty(&out));
    }
    let Some((conns, subs)) = server.account_usage(acc) else {
        return Err(format!("Account {acc} does not exist"));
    };
    out.account_detail = Some(AccountDetail {
        account_name: acc.to_string(),
        update_time: timefmt::rfc3339_nano(server.monitor().wall(server.start_time())),
        expired: false,
        complete: true,
        jetstream_enabled: false,
        leafnode_connections: 0,
        client_connections: conns,
        subscriptions: subs,
        name_tag: acc.to_string(),
        sublist_stats: IndexStats::new(subs, &server.sublist_stats()),
    });
    Ok(pretty(&out))
}

#[derive(Serialize)]
struct Accstatz<'a> {
    server_id: &'a str,
    now: String,
    account_statz: Vec<AccountStat>,
}

/// A message and byte count (nats-server's `DataStats`' parts).
#[derive(Serialize)]
pub(crate) struct MsgBytes {
    pub(crate) msgs: u64,
    pub(crate) bytes: u64,
}

/// Traffic of an account, with its per-kind parts.
#[derive(Serialize)]
pub(crate) struct Traffic {
    pub(crate) msgs: u64,
    pub(crate) bytes: u64,
    pub(crate) gateways: MsgBytes,
    pub(crate) routes: MsgBytes,
    pub(crate) leafs: MsgBytes,
}

impl Traffic {
    /// `msgs` and `bytes` in all, none counted per kind.
    pub(crate) fn total(msgs: u64, bytes: u64) -> Traffic {
        let zero = || MsgBytes { msgs: 0, bytes: 0 };
        Traffic {
            msgs,
            bytes,
            gateways: zero(),
            routes: zero(),
            leafs: zero(),
        }
    }
}

/// One account's statistics (`/accstatz`, and the system account's
/// `SERVER.CONNS` events).
#[derive(Serialize)]
pub(crate) struct AccountStat {
    pub(crate) acc: String,
    pub(crate) name: String,
    pub(crate) conns: usize,
    pub(crate) leafnodes: u32,
    pub(crate) total_conns: usize,
    pub(crate) num_subscriptions: usize,
    pub(crate) sent: Traffic,
    pub(crate) received: Traffic,
    pub(crate) slow_consumers: u64,
}

fn accstatz(server: &dyn Inspect, now: Instant) -> String {
    let traffic = Traffic::total;
    let stats = server.stats();
    let mut list = Vec::new();
    for name in server.account_names() {
        let Some((conns, subs)) = server.account_usage(&name) else {
            continue;
        };
        // Only accounts with connections, as nats-server lists by default.
        if conns == 0 {
            continue;
        }
        list.push(AccountStat {
            acc: name.clone(),
            name,
            conns,
            leafnodes: 0,
            total_conns: conns,
            num_subscriptions: subs,
            sent: traffic(stats.out_msgs, stats.out_bytes),
            received: traffic(stats.in_msgs, stats.in_bytes),
            slow_consumers: stats.slow_consumers,
        });
    }
    pretty(&Accstatz {
        server_id: server.server_id(),
        now: now_text(server, now),
        account_statz: list,
    })
}

fn index(base: &str) -> String {
    let mut links = String::new();
    for (path, what) in [
        ("varz", "General"),
        ("connz", "Connections"),
        ("routez", "Routes"),
        ("gatewayz", "Gateways"),
        ("leafz", "Leaf Nodes"),
        ("subsz", "Subscriptions"),
        ("accountz", "Accounts"),
        ("accstatz", "Account Stats"),
        ("healthz", "Health"),
    ] {
        links.push_str(&format!("    <a href=\"{base}/{path}\">{what}</a><br/>\n"));
    }
    format!(
        "<html lang=\"en\">\n  <head><title>canopy monitoring</title></head>\n  <body>\n    <h1>canopy</h1>\n{links}  </body>\n</html>\n"
    )
}

/// The request a monitor connection made, answered: the response bytes
/// and whether to close after them.
pub(crate) fn answer(server: &dyn Inspect, req: &Request, now: Instant) -> (Vec<u8>, bool) {
    let body = respond(server, req, now);
    let bytes = http::response(req, &body, server.monitor().wall(now));
    (bytes, !req.keep_alive)
}
