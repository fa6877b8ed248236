//! `/connz`: open and closed client connections, sorted and paged as
//! nats-server does.

use super::query::Query;
use super::timefmt::{go_duration, rfc3339_nano, uptime};
use super::Inspect;
use super::{now_text, pretty};
use crate::time::Instant;
use serde::Serialize;
use std::time::Duration;

/// A snapshot of one client connection, open or closed.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    pub(crate) cid: u64,
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) start: Instant,
    pub(crate) last_activity: Instant,
    pub(crate) stop: Option<Instant>,
    pub(crate) reason: Option<&'static str>,
    pub(crate) rtt: Option<Duration>,
    pub(crate) pending_bytes: usize,
    pub(crate) in_msgs: u64,
    pub(crate) out_msgs: u64,
    pub(crate) in_bytes: u64,
    pub(crate) out_bytes: u64,
    pub(crate) name: String,
    pub(crate) lang: String,
    pub(crate) version: String,
    pub(crate) user: String,
    pub(crate) account: String,
    pub(crate) subs: Vec<SubDetail>,
    /// TLS facts of an open connection whose handshake ended.
    pub(crate) tls: Option<crate::engine::tls::TlsSnapshot>,
}

/// One subscription as `subscriptions_list_detail` and `/subsz` show it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SubDetail {
    /// Shown for closed connections and in `/subsz`, not for open ones.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) account_tag: String,
    pub(crate) subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) qgroup: String,
    pub(crate) sid: String,
    pub(crate) msgs: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) max: u64,
    pub(crate) cid: u64,
}

impl SubDetail {
    /// The view of subscription `s` under `sid`, on connection `cid`, in
    /// `account` (empty where it is not shown).
    pub(crate) fn of(
        s: &crate::sublist::Subscription,
        sid: &[u8],
        account: &str,
        cid: u64,
    ) -> Self {
        use std::sync::atomic::Ordering;
        SubDetail {
            account: account.to_string(),
            account_tag: account.to_string(),
            subject: String::from_utf8_lossy(&s.subject).into_owned(),
            qgroup: s
                .queue
                .as_ref()
                .map(|q| String::from_utf8_lossy(q).into_owned())
                .unwrap_or_default(),
            sid: String::from_utf8_lossy(sid).into_owned(),
            msgs: s.delivered.load(Ordering::Relaxed),
            max: s.max.load(Ordering::Relaxed),
            cid,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct Connz<'a> {
    server_id: &'a str,
    now: String,
    num_connections: usize,
    total: usize,
    offset: usize,
    limit: usize,
    connections: Vec<Conn>,
}

#[derive(Serialize)]
struct Conn {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    kind_type: &'static str,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "String::is_empty")]
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
    #[serde(skip_serializing_if = "String::is_empty")]
    lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_cipher_suite: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_peer_certs: Vec<PeerCert>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_first: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    authorized_user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name_tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail>>,
}

/// One `tls_peer_certs` entry.
#[derive(Serialize)]
struct PeerCert {
    #[serde(skip_serializing_if = "String::is_empty")]
    subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    spki_sha256: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    cert_sha256: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Closed,
    Any,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    Cid,
    Start,
    Subs,
    Pending,
    MsgsTo,
    MsgsFrom,
    BytesTo,
    BytesFrom,
    Last,
    Idle,
    Uptime,
    Stop,
    Reason,
    Rtt,
}

fn parse_sort(s: &str) -> Result<Sort, String> {
    Ok(match s {
        "" | "cid" => Sort::Cid,
        "start" => Sort::Start,
        "subs" => Sort::Subs,
        "pending" => Sort::Pending,
        "msgs_to" => Sort::MsgsTo,
        "msgs_from" => Sort::MsgsFrom,
        "bytes_to" => Sort::BytesTo,
        "bytes_from" => Sort::BytesFrom,
        "last" => Sort::Last,
        "idle" => Sort::Idle,
        "uptime" => Sort::Uptime,
        "stop" => Sort::Stop,
        "reason" => Sort::Reason,
        "rtt" => Sort::Rtt,
        other => return Err(format!("invalid sorting option: {other}")),
    })
}

/// Renders `/connz` for the query, or the 400 message.
pub(crate) fn render(server: &dyn Inspect, q: &Query, now: Instant) -> Result<String, String> {
    let sort = parse_sort(q.get("sort"))?;
    let auth = q.bool("auth")?;
    let subs_detail = q.get("subs") == "detail";
    let subs = if subs_detail { false } else { q.bool("subs")? };
    let offset = q.int("offset")?.max(0) as usize;
    let mut limit = q.int("limit")?;
    if limit <= 0 {
        limit = 1024;
    }
    let cid = q.uint("cid")?;
    let state = match q.get("state") {
        "" | "open" => State::Open,
        "closed" => State::Closed,
        "any" | "all" => State::Any,
        other => return Err(format!("Error decoding state for {other}")),
    };
    if state == State::Open && matches!(sort, Sort::Stop | Sort::Reason) {
        let name = if sort == Sort::Stop { "stop" } else { "reason" };
        return Err(format!("sort by {name} only valid on closed connections"));
    }
    let user = q.get("user");
    let acc = q.get("acc");
    let mut list: Vec<ConnInfo> = Vec::new();
    if matches!(state, State::Open | State::Any) {
        list.extend(server.open_conn_infos());
    }
    if matches!(state, State::Closed | State::Any) {
        list.extend(server.monitor().closed.iter().cloned());
    }
    if cid > 0 {
        list.retain(|c| c.cid == cid);
    }
    if !user.is_empty() {
        list.retain(|c| c.user == user);
    }
    if !acc.is_empty() {
        list.retain(|c| c.account == acc);
    }
    let end = |c: &ConnInfo| c.stop.unwrap_or(now);
    match sort {
        Sort::Cid => list.sort_by_key(|c| c.cid),
        Sort::Start => list.sort_by_key(|c| (c.start, c.cid)),
        Sort::Subs => list.sort_by_key(|c| (std::cmp::Reverse(c.subs.len()), c.cid)),
        Sort::Pending => list.sort_by_key(|c| (std::cmp::Reverse(c.pending_bytes), c.cid)),
        Sort::MsgsTo => list.sort_by_key(|c| (std::cmp::Reverse(c.out_msgs), c.cid)),
        Sort::MsgsFrom => list.sort_by_key(|c| (std::cmp::Reverse(c.in_msgs), c.cid)),
        Sort::BytesTo => list.sort_by_key(|c| (std::cmp::Reverse(c.out_bytes), c.cid)),
        Sort::BytesFrom => list.sort_by_key(|c| (std::cmp::Reverse(c.in_bytes), c.cid)),
        Sort::Last => list.sort_by_key(|c| (std::cmp::Reverse(c.last_activity), c.cid)),
        Sort::Idle => list.sort_by_key(|c| {
            (
                std::cmp::Reverse(end(c).saturating_since(c.last_activity)),
                c.cid,
            )
        }),
        Sort::Uptime => {
            list.sort_by_key(|c| (std::cmp::Reverse(end(c).saturating_since(c.start)), c.cid))
        }
        Sort::Stop => list.sort_by_key(|c| (std::cmp::Reverse(c.stop), c.cid)),
        Sort::Reason => list.sort_by_key(|c| (c.reason, c.cid)),
        Sort::Rtt => list.sort_by_key(|c| (std::cmp::Reverse(c.rtt), c.cid)),
    }
    let total = list.len();
    let page: Vec<Conn> = list
        .into_iter()
        .skip(offset)
        .take(limit as usize)
        .map(|c| {
            let stop_at = end(&c);
            Conn {
                cid: c.cid,
                kind: "Client",
                kind_type: "nats",
                ip: c.ip,
                port: c.port,
                start: rfc3339_nano(server.monitor().wall(c.start)),
                last_activity: rfc3339_nano(server.monitor().wall(c.last_activity)),
                stop: c.stop.map(|s| rfc3339_nano(server.monitor().wall(s))),
                reason: c.reason,
                rtt: c.rtt.map(go_duration).unwrap_or_default(),
                uptime: uptime(stop_at.saturating_since(c.start)),
                idle: uptime(stop_at.saturating_since(c.last_activity)),
                pending_bytes: c.pending_bytes,
                in_msgs: c.in_msgs,
                out_msgs: c.out_msgs,
                in_bytes: c.in_bytes,
                out_bytes: c.out_bytes,
                subscriptions: c.subs.len(),
                name: c.name,
                lang: c.lang,
                version: c.version,
                tls_version: c
                    .tls
                    .as_ref()
                    .map(|t| t.version.clone())
                    .unwrap_or_default(),
                tls_cipher_suite: c.tls.as_ref().map(|t| t.cipher.clone()).unwrap_or_default(),
                // nats-server shows peer certificates with `auth` only.
                tls_peer_certs: c
                    .tls
                    .as_ref()
                    .and_then(|t| t.peer.clone())
                    .filter(|_| auth)
                    .map(|(subject, spki_sha256, cert_sha256)| {
                        vec![PeerCert {
                            subject,
                            spki_sha256,
                            cert_sha256,
                        }]
                    })
                    .unwrap_or_default(),
                tls_first: c.tls.as_ref().is_some_and(|t| t.first),
                authorized_user: if auth { c.user } else { String::new() },
                account: if auth && c.account != crate::account::GLOBAL_ACCOUNT {
                    c.account.clone()
                } else {
                    String::new()
                },
                name_tag: if auth { c.account } else { String::new() },
                subscriptions_list: (subs && !c.subs.is_empty())
                    .then(|| c.subs.iter().map(|s| s.subject.clone()).collect()),
                subscriptions_list_detail: (subs_detail && !c.subs.is_empty()).then(|| {
                    let closed = c.stop.is_some();
                    c.subs
                        .into_iter()
                        .map(|mut d| {
                            if !closed {
                                d.account.clear();
                                d.account_tag.clear();
                            }
                            d
                        })
                        .collect()
                }),
            }
        })
        .collect();
    Ok(pretty(&Connz {
        server_id: server.server_id(),
        now: now_text(server, now),
        num_connections: page.len(),
        total,
        offset,
        limit: limit as usize,
        connections: page,
    }))
}
