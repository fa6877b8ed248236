//! Statsz: the server's statistics message (`$SYS.REQ.SERVER.PING`'s
//! answer and the `$SYS.SERVER.<id>.STATSZ` heartbeat). nats-server
//! sends the first heartbeat 250 ms after start and doubles the interval
//! up to 10 s; a standalone server (no cluster, gateway or leaf port)
//! sends it only when someone besides itself listens.

use crate::engine::Server;
use crate::events::TimerKey;
use crate::monitor::{Inspect, MsgBytes};
use crate::time::Instant;
use serde::Serialize;
use std::time::Duration;

/// The first heartbeat's delay (nats-server's starting `cstatsz`).
pub(crate) const STATSZ_FIRST: Duration = Duration::from_millis(250);
/// The steady interval (nats-server's `statsHBInterval`).
pub(crate) const STATSZ_EVERY: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct RouteStat {
    rid: u64,
    name: String,
    sent: MsgBytes,
    received: MsgBytes,
    pending: usize,
}

#[derive(Serialize)]
struct Statsz {
    start: String,
    mem: u64,
    cores: u32,
    cpu: serde_json::Value,
    connections: usize,
    total_connections: u64,
    active_accounts: usize,
    subscriptions: usize,
    sent: MsgBytes,
    sent_to_clients: MsgBytes,
    received: MsgBytes,
    received_from_clients: MsgBytes,
    slow_consumers: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteStat>,
    active_servers: usize,
    gomaxprocs: u32,
}

impl Server {
    /// Arms the first heartbeat.
    pub(super) fn start_statsz_timer(&mut self, now: Instant) {
        self.system.statsz_every = STATSZ_FIRST;
        self.timers.set(TimerKey::Statsz, now + STATSZ_FIRST);
    }

    /// The heartbeat timer: publishes `$SYS.SERVER.<id>.STATSZ` and
    /// re-arms at twice the interval, up to [`STATSZ_EVERY`].
    pub(crate) fn statsz_timer(&mut self, now: Instant) {
        let Some(account) = self.system.account else {
            return;
        };
        let every = (self.system.statsz_every * 2).min(STATSZ_EVERY);
        self.system.statsz_every = every;
        self.timers.set(TimerKey::Statsz, now + every);
        let subject = format!("$SYS.SERVER.{}.STATSZ", self.info.server_id);
        let linked = self.options.cluster.is_some()
            || self.options.gateway.is_some()
            || self.options.leaf.is_some();
        if !linked && !self.someone_listens(account, subject.as_bytes()) {
            return;
        }
        let body = self.statsz_message(now);
        self.system_publish(account, subject.as_bytes(), body, now);
    }

    /// Whether a subscription other than the system's own matches.
    fn someone_listens(&mut self, account: crate::account::AccountId, subject: &[u8]) -> bool {
        let m = self.accounts[account.0 as usize].sublist.matches(subject);
        m.plain.iter().any(|s| s.conn != super::SYSTEM_CONN) || !m.queues.is_empty()
    }

    /// `{"server":{...},"statsz":{...}}`.
    pub(crate) fn statsz_message(&mut self, now: Instant) -> Vec<u8> {
        let stats = self.stats;
        let host = self.monitor.host;
        let routes: Vec<RouteStat> = self
            .route_infos()
            .into_iter()
            .map(|r| RouteStat {
                rid: r.link.cid,
                name: r.remote_name,
                sent: MsgBytes {
                    msgs: r.link.stats.out_msgs,
                    bytes: r.link.stats.out_bytes,
                },
                received: MsgBytes {
                    msgs: r.link.stats.in_msgs,
                    bytes: r.link.stats.in_bytes,
                },
                pending: r.link.pending,
            })
            .collect();
        let active_accounts = (0..self.accounts.len())
            .filter(|&i| self.clients_in(crate::account::AccountId(i as u32)) > 0)
            .count();
        let statsz = Statsz {
            start: crate::monitor::timefmt::rfc3339_nano(self.monitor.wall(self.start)),
            mem: host.mem,
            cores: host.cores,
            cpu: crate::monitor::go_float(host.cpu),
            connections: self.client_count,
            total_connections: stats.total_connections,
            active_accounts,
            subscriptions: Inspect::subscription_count(self),
            sent: MsgBytes {
                msgs: stats.out_msgs,
                bytes: stats.out_bytes,
            },
            sent_to_clients: MsgBytes {
                msgs: stats.out_msgs,
                bytes: stats.out_bytes,
            },
            received: MsgBytes {
                msgs: stats.in_msgs,
                bytes: stats.in_bytes,
            },
            received_from_clients: MsgBytes {
                msgs: stats.in_msgs,
                bytes: stats.in_bytes,
            },
            slow_consumers: stats.slow_consumers,
            active_servers: 1 + routes.len(),
            routes,
            gomaxprocs: host.cores.max(1),
        };
        let json = serde_json::to_string(&statsz).unwrap_or_default();
        self.envelope("statsz", &json, now)
    }
}
