//! Read-only views of gateway state, for monitoring (`/gatewayz`,
//! `/varz`).

use crate::engine::Server;

/// One gateway link as `/gatewayz` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayLinkView {
    /// The remote cluster's gateway name.
    pub name: String,
    /// Outbound (dialed by us) or inbound.
    pub outbound: bool,
    /// The connection number (`cid`).
    pub cid: u64,
    /// The peer's address.
    pub peer: String,
    /// The peer's server id.
    pub server_id: String,
    /// Messages and bytes in and out.
    pub stats: crate::ConnStats,
}

impl Server {
    /// This server's gateway name, when it is a gateway.
    pub fn gateway_name(&self) -> Option<&str> {
        self.gateways_on().then_some(self.gateways.name.as_str())
    }

    /// Registered gateway links: outbound ones by remote name, then
    /// inbound ones in connection order.
    pub fn gateway_links(&self) -> Vec<GatewayLinkView> {
        let mut out = Vec::new();
        let ids = self
            .gateways
            .outbound
            .values()
            .chain(self.gateways.inbound.iter());
        for id in ids {
            let Some(c) = self.conns.get(id) else {
                continue;
            };
            let Some(l) = c.gateway() else {
                continue;
            };
            out.push(GatewayLinkView {
                name: l.name.clone(),
                outbound: l.outbound,
                cid: c.cid,
                peer: c.peer.to_string(),
                server_id: l.server_id.clone(),
                stats: c.stats,
            });
        }
        out
    }

    /// The interest gateway peers announced in `account` (what a new leaf
    /// link is told first, where this server is its hub): outbound links
    /// by remote name, each link's by key.
    pub(crate) fn gateway_subs_of(
        &self,
        account: crate::account::AccountId,
    ) -> Vec<(
        crate::ids::ConnId,
        std::sync::Arc<crate::sublist::Subscription>,
    )> {
        let mut out = Vec::new();
        for &id in self.gateways.outbound.values() {
            let Some(l) = self.conns.get(&id).and_then(|c| c.gateway()) else {
                continue;
            };
            out.extend(
                l.subs
                    .values()
                    .filter(|(a, _)| *a == account)
                    .map(|(_, s)| (id, s.clone())),
            );
        }
        out
    }
}
