//! The client's own snapshot for monitoring (`/connz`).

use crate::account::{Account, AccountId};
use crate::conn::Conn;
use crate::engine::Server;
use crate::events::CloseReason;
use crate::monitor::connz::{ConnInfo, SubDetail};
use crate::time::Instant;

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
        .map(|s| SubDetail::of(s, &s.sid, &account, c.cid))
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
        tls: if closed.is_some() {
            None
        } else {
            crate::engine::tls::snapshot(c)
        },
    })
}

impl Server {
    /// Subscriptions of open clients, in every account (what a model of
    /// the clients counts; [`Server::subscription_count`] adds the
    /// internal ones, which in operator mode come with each account).
    pub fn client_subscription_count(&self) -> usize {
        // A sum: order does not matter.
        #[allow(clippy::disallowed_methods)]
        self.conns
            .values()
            .filter(|c| !c.closed)
            .filter_map(|c| c.client())
            .map(|cl| cl.subs.len())
            .sum()
    }

    /// Open clients bound to `account`.
    pub(crate) fn clients_in(&self, account: AccountId) -> usize {
        // A count: order does not matter.
        #[allow(clippy::disallowed_methods)]
        self.conns
            .values()
            .filter(|c| {
                !c.closed && c.counted && c.client().is_some_and(|cl| cl.account == account)
            })
            .count()
    }
}

impl Server {
    /// Every open client's subscriptions in `account`, clients in
    /// connection order and each client's in subscription order (what a
    /// new leaf link is told first).
    pub(crate) fn client_subs_of(
        &self,
        account: AccountId,
    ) -> Vec<std::sync::Arc<crate::sublist::Subscription>> {
        // Sorted below, so the map's iteration order never reaches output.
        #[allow(clippy::disallowed_methods)]
        let mut clients: Vec<&Conn> = self
            .conns
            .values()
            .filter(|c| !c.closed && c.client().is_some_and(|cl| cl.account == account))
            .collect();
        clients.sort_unstable_by_key(|c| c.id);
        let mut out = Vec::new();
        for c in clients {
            let Some(cl) = c.client() else {
                continue;
            };
            // Sorted by seq right below: map order never reaches the output.
            #[allow(clippy::disallowed_methods)]
            let mut subs: Vec<_> = cl.subs.values().cloned().collect();
            subs.sort_unstable_by_key(|s| s.seq);
            out.extend(subs);
        }
        out
    }
}
