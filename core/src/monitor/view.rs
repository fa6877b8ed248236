//! What monitoring reads from the engine: connection snapshots,
//! subscription details, account usage, index counters.

use super::connz::{ConnInfo, SubDetail};
use crate::account::Account;
use crate::conn::{Conn, ConnKind};
use crate::engine::Server;
use crate::events::{Action, CloseReason};
use crate::ids::ConnId;
use crate::time::Instant;
use std::sync::atomic::Ordering;

/// Counters of the subject index for `/subsz`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SublistStats {
    pub(crate) cache: usize,
    pub(crate) inserts: u64,
    pub(crate) removes: u64,
    pub(crate) matches: u64,
    pub(crate) cache_hits: u64,
    pub(crate) max_fanout: u64,
    pub(crate) avg_fanout: f64,
}

/// A snapshot of client `c`; `closed` gives the stop time and reason.
/// `None` for a connection that is not a client.
pub(crate) fn conn_info(
    c: &Conn,
    accounts: &[Account],
    closed: Option<(Instant, CloseReason)>,
) -> Option<ConnInfo> {
    let cl = c.client()?;
    let account = accounts
        .get(cl.account.0 as usize)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    // Sorted by seq right below: map order never reaches the output.
    #[allow(clippy::disallowed_methods)]
    let mut subs: Vec<_> = cl.subs.values().cloned().collect();
    subs.sort_unstable_by_key(|s| s.seq);
    let subs = subs
        .iter()
        .map(|s| SubDetail {
            account: account.clone(),
            account_tag: account.clone(),
            subject: String::from_utf8_lossy(&s.subject).into_owned(),
            qgroup: s
                .queue
                .as_ref()
                .map(|q| String::from_utf8_lossy(q).into_owned())
                .unwrap_or_default(),
            sid: String::from_utf8_lossy(&s.sid).into_owned(),
            msgs: s.delivered.load(Ordering::Relaxed),
            max: s.max.load(Ordering::Relaxed),
            cid: c.cid,
        })
        .collect();
    Some(ConnInfo {
        cid: c.cid,
        ip: c.peer.ip().to_string(),
        port: c.peer.port(),
        start: c.start,
        last_activity: c.last_activity,
        stop: closed.map(|(t, _)| t),
        reason: closed.map(|(_, r)| r.text()),
        rtt: c.ping.rtt,
        pending_bytes: if closed.is_some() { 0 } else { c.out.pending() },
        in_msgs: c.stats.in_msgs,
        out_msgs: c.stats.out_msgs,
        in_bytes: c.stats.in_bytes,
        out_bytes: c.stats.out_bytes,
        name: cl.opts.name.clone().unwrap_or_default(),
        lang: cl.opts.lang.clone().unwrap_or_default(),
        version: cl.opts.version.clone().unwrap_or_default(),
        user: cl.opts.user.clone().unwrap_or_default(),
        account,
        subs,
    })
}

impl Server {
    /// Snapshots of the open client connections, by cid.
    pub(crate) fn open_conn_infos(&self) -> Vec<ConnInfo> {
        // Sorted right below: map order never reaches the output.
        #[allow(clippy::disallowed_methods)]
        let mut ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.closed && c.counted)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.iter()
            .filter_map(|id| self.conns.get(id))
            .filter_map(|c| conn_info(c, &self.accounts, None))
            .collect()
    }

    /// Every subscription, by connection then subscription order.
    pub(crate) fn subscription_details(&self) -> Vec<SubDetail> {
        self.open_conn_infos()
            .into_iter()
            .flat_map(|c| c.subs)
            .collect()
    }

    /// Account names, as `/accountz` lists them.
    pub(crate) fn account_names(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.name.clone()).collect()
    }

    /// Connections and subscriptions of account `name`, if it exists.
    pub(crate) fn account_usage(&self, name: &str) -> Option<(usize, usize)> {
        let idx = self.accounts.iter().position(|a| a.name == name)?;
        // A count: order does not matter.
        #[allow(clippy::disallowed_methods)]
        let conns = self
            .conns
            .values()
            .filter(|c| {
                !c.closed && c.counted && c.client().is_some_and(|cl| cl.account.0 as usize == idx)
            })
            .count();
        Some((conns, self.accounts[idx].sublist.count()))
    }

    /// Counters for `/subsz`.
    pub(crate) fn sublist_stats(&self) -> SublistStats {
        let mut sum = crate::sublist::IndexCounters::default();
        let mut cache = 0;
        for a in &self.accounts {
            let c = a.sublist.counters();
            sum.inserts += c.inserts;
            sum.removes += c.removes;
            sum.matches += c.matches;
            sum.cache_hits += c.cache_hits;
            sum.total_fanout += c.total_fanout;
            sum.max_fanout = sum.max_fanout.max(c.max_fanout);
            cache += a.sublist.cache_len();
        }
        SublistStats {
            cache,
            inserts: sum.inserts,
            removes: sum.removes,
            matches: sum.matches,
            cache_hits: sum.cache_hits,
            max_fanout: sum.max_fanout,
            avg_fanout: if sum.matches == 0 {
                0.0
            } else {
                sum.total_fanout as f64 / sum.matches as f64
            },
        }
    }

    /// Registers an HTTP connection accepted on the monitoring port.
    pub(crate) fn accept_http(&mut self, peer: core::net::SocketAddr, now: Instant) -> ConnId {
        let conn = self.new_conn(peer, ConnKind::Http(Box::default()), now);
        let id = conn.id;
        self.conns.insert(id, conn);
        id
    }

    /// Reads HTTP requests from a monitoring connection and answers each.
    pub(crate) fn read_http(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        let Some(h) = c.http_mut() else {
            return;
        };
        h.codec.feed(data);
        loop {
            let Some(h) = self.conns.get_mut(&conn).and_then(|c| c.http_mut()) else {
                return;
            };
            let Some(next) = h.codec.next_request() else {
                break;
            };
            let (bytes, close) = match next {
                Ok(req) => super::answer(self, &req, now),
                Err(refusal) => (refusal.response(), true),
            };
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            c.out.push_slice(&bytes);
            if close {
                c.closed = true;
                self.actions.push_back(Action::Close {
                    conn,
                    after_flush: true,
                });
                return;
            }
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.out.queued() > 0 {
            self.actions.push_back(Action::Flush(conn));
        }
    }
}
