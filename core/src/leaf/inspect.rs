//! The leaf links' read-only views for monitoring (`/leafz`, `/varz`).

use crate::engine::Server;
use crate::monitor::leafz::{LeafInfoView, LeafView};

impl Server {
    /// Snapshots of the registered leaf links, by connection.
    pub(crate) fn leaf_infos(&self) -> Vec<LeafInfoView> {
        self.leafs
            .links
            .iter()
            .filter_map(|id| {
                let c = self.conns.get(id)?;
                let l = c.leaf()?;
                let mut subs: Vec<String> = l
                    .subs
                    .values()
                    .map(|s| String::from_utf8_lossy(&s.subject).into_owned())
                    .collect();
                subs.sort();
                Some(LeafInfoView {
                    lid: c.cid,
                    name: l.peer.name.clone(),
                    is_spoke: !l.hub_role,
                    account: self.accounts[l.account.0 as usize].name.clone(),
                    ip: c.peer.ip().to_string(),
                    port: c.peer.port(),
                    rtt: c.ping.rtt,
                    in_msgs: c.stats.in_msgs,
                    out_msgs: c.stats.out_msgs,
                    in_bytes: c.stats.in_bytes,
                    out_bytes: c.stats.out_bytes,
                    subs,
                    compression: c.s2.mode_str(),
                    websocket: c.transport.ws().is_some(),
                })
            })
            .collect()
    }

    /// The leaf listener in use, when there is one.
    pub(crate) fn leaf_view(&self) -> Option<LeafView> {
        let l = self.options.leaf.as_ref().filter(|l| l.port != 0)?;
        Some(LeafView {
            host: l.host.clone(),
            port: l.port,
            auth_timeout: l.auth_timeout,
        })
    }
}
