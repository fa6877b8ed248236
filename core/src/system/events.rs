//! The system account's events about clients: `$SYS.ACCOUNT.<acc>.CONNECT`
//! when a client has authenticated, `$SYS.ACCOUNT.<acc>.DISCONNECT` when
//! it closes, each after `$SYS.ACCOUNT.<acc>.SERVER.CONNS` (the account's
//! connection count), with nats-server's JSON.

use crate::account::AccountId;
use crate::engine::Server;
use crate::events::CloseReason;
use crate::ids::ConnId;
use crate::monitor::connz::ConnInfo;
use crate::monitor::timefmt::rfc3339_nano;
use crate::monitor::{AccountStat, MsgBytes, Traffic};
use crate::time::Instant;
use serde::Serialize;

/// nats-server's `ClientInfo` in events.
#[derive(Serialize)]
struct ClientInfo<'a> {
    start: String,
    host: &'a str,
    id: u64,
    acc: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    user: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    lang: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    ver: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    name_tag: &'a str,
    kind: &'a str,
    client_type: &'a str,
}

impl Server {
    /// An event id: 22 base-62 characters, like nats-server's nuid.
    fn event_id(&mut self) -> String {
        self.system_token(22)
    }

    /// `len` base-62 characters from the system's seeded stream (event
    /// ids, inbox names).
    pub(crate) fn system_token(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| {
                let i = self.system.rng.below(62) as usize;
                char::from(crate::engine::ALPHANUMERIC[i])
            })
            .collect()
    }

    /// A client authenticated: `CONNECT` event in its account.
    pub(crate) fn system_client_connected(&mut self, conn: ConnId, first: bool, now: Instant) {
        if first {
            self.client_event(conn, None, now);
        }
    }

    /// A client closes: `DISCONNECT` event, if its `CONNECT` went out.
    pub(crate) fn system_client_closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        self.client_event(conn, Some(reason), now);
    }

    fn client_event(&mut self, conn: ConnId, closed: Option<CloseReason>, now: Instant) {
        let Some(sys) = self.system.account else {
            return;
        };
        if closed.is_some() && !self.system.announced.remove(&conn) {
            return;
        }
        let Some(info) = self.conns.get(&conn).and_then(|c| {
            crate::client::inspect::conn_info(c, &self.accounts, closed.map(|r| (now, r)))
        }) else {
            return;
        };
        let Some(account) = self.account_by_name(info.account.as_bytes()) else {
            return;
        };
        if closed.is_none() {
            self.system.announced.insert(conn);
        }
        let conns = self.account_conns_json(account, now);
        let subject = format!("$SYS.ACCOUNT.{}.SERVER.CONNS", info.account);
        self.system_publish(sys, subject.as_bytes(), conns.into_bytes(), now);
        let body = self.client_event_json(&info, closed, now);
        let what = if closed.is_some() {
            "DISCONNECT"
        } else {
            "CONNECT"
        };
        let subject = format!("$SYS.ACCOUNT.{}.{what}", info.account);
        self.system_publish(sys, subject.as_bytes(), body, now);
    }

    fn client_event_json(
        &mut self,
        info: &ConnInfo,
        closed: Option<CloseReason>,
        now: Instant,
    ) -> Vec<u8> {
        let id = self.event_id();
        let timestamp = rfc3339_nano(self.monitor.wall(now));
        let server = serde_json::to_string(&self.server_facts(now)).unwrap_or_default();
        let client = ClientInfo {
            start: rfc3339_nano(self.monitor.wall(info.start)),
            host: &info.ip,
            id: info.cid,
            acc: &info.account,
            user: &info.user,
            name: &info.name,
            lang: &info.lang,
            ver: &info.version,
            rtt: closed.and(info.rtt).map(|d| d.as_nanos() as u64),
            stop: closed.map(|_| rfc3339_nano(self.monitor.wall(now))),
            name_tag: &info.account,
            kind: "Client",
            client_type: "nats",
        };
        let client = serde_json::to_string(&client).unwrap_or_default();
        let mut out = match closed {
            None => format!(
                "{{\"type\":\"io.nats.server.advisory.v1.client_connect\",\"id\":\"{id}\",\"timestamp\":\"{timestamp}\",\"server\":{server},\"client\":{client}"
            ),
            Some(reason) => {
                let sent = serde_json::to_string(&MsgBytes {
                    msgs: info.out_msgs,
                    bytes: info.out_bytes,
                })
                .unwrap_or_default();
                let received = serde_json::to_string(&MsgBytes {
                    msgs: info.in_msgs,
                    bytes: info.in_bytes,
                })
                .unwrap_or_default();
                let reason = serde_json::to_string(reason.text()).unwrap_or_default();
                format!(
                    "{{\"type\":\"io.nats.server.advisory.v1.client_disconnect\",\"id\":\"{id}\",\"timestamp\":\"{timestamp}\",\"server\":{server},\"client\":{client},\"sent\":{sent},\"received\":{received},\"reason\":{reason}"
                )
            }
        };
        out.push('}');
        out.into_bytes()
    }

    /// `$SYS.ACCOUNT.<acc>.SERVER.CONNS`'s body (and `CONNS`' answer): a
    /// closing client no longer counts.
    pub(crate) fn account_conns_json(&mut self, account: AccountId, now: Instant) -> String {
        let id = self.event_id();
        let timestamp = rfc3339_nano(self.monitor.wall(now));
        let server = serde_json::to_string(&self.server_facts(now)).unwrap_or_default();
        let conns = self.clients_in(account);
        let name = self.accounts[account.0 as usize].name.clone();
        let stats = self.stats;
        let body = AccountStat {
            acc: name.clone(),
            name,
            conns,
            leafnodes: 0,
            total_conns: conns,
            num_subscriptions: self.accounts[account.0 as usize].sublist.count(),
            sent: Traffic::total(stats.out_msgs, stats.out_bytes),
            received: Traffic::total(stats.in_msgs, stats.in_bytes),
            slow_consumers: stats.slow_consumers,
        };
        let body = serde_json::to_string(&body).unwrap_or_default();
        // `{"type","id","timestamp","server",` then the account's fields.
        format!(
            "{{\"type\":\"io.nats.server.advisory.v1.account_connections\",\"id\":\"{id}\",\"timestamp\":\"{timestamp}\",\"server\":{server},{}",
            body.strip_prefix('{').unwrap_or(&body)
        )
    }
}
