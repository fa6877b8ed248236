//! Read-only views of gateway state, for monitoring (`/gatewayz`,
//! `/varz`).

use super::OutAccount;
use crate::engine::Server;
use crate::monitor::connz::SubDetail;
use crate::monitor::gatewayz::{GatewayAccountView, GatewayLinkInfo, GatewayView, InterestMode};

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
        self.gateway_infos()
            .into_iter()
            .map(|l| GatewayLinkView {
                name: l.gateway,
                outbound: l.outbound,
                cid: l.link.cid,
                peer: crate::route::join_host_port(&l.link.ip, l.link.port),
                server_id: l.server_id,
                stats: l.link.stats,
            })
            .collect()
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

/// `host:port` (or `[v6]:port`) split; a missing or bad port is
/// `default_port`, as nats-server's `parseHostPort` does.
fn split_host_port(hp: &str, default_port: u16) -> (String, u16) {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':').unwrap_or("")),
            None => (rest, ""),
        }
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, p),
            _ => (hp, ""),
        }
    };
    (
        host.to_string(),
        port.parse()
            .ok()
            .filter(|p| *p != 0)
            .unwrap_or(default_port),
    )
}

impl Server {
    /// The `gateway {}` configuration in use, when this server is a
    /// gateway: configured gateways in configuration order, each with
    /// every URL known for it.
    pub(crate) fn gateway_view(&self) -> Option<GatewayView> {
        if !self.gateways_on() {
            return None;
        }
        let g = self.options.gateway.as_ref()?;
        let (info_host, info_port) = split_host_port(&super::gateway_url(g), g.port);
        let mut gateways: Vec<(String, Vec<String>)> = g
            .gateways
            .iter()
            .map(|r| {
                let urls = match self.gateways.remotes.get(&r.name) {
                    Some(remote) => remote.urls.clone(),
                    None => r.urls.iter().map(|u| u.host_port()).collect(),
                };
                (r.name.clone(), urls)
            })
            .collect();
        // The config's entry for this gateway itself, where it stood.
        if let Some((at, urls)) = &g.self_entry {
            let urls = urls.iter().map(|u| u.host_port()).collect();
            gateways.insert((*at).min(gateways.len()), (g.name.clone(), urls));
        }
        Some(GatewayView {
            name: self.gateways.name.clone(),
            host: g.host.clone(),
            port: g.port,
            info_host,
            info_port,
            auth_timeout: g.auth_timeout,
            advertise: g.advertise.clone(),
            connect_retries: g.connect_retries,
            reject_unknown: g.reject_unknown,
            gateways,
        })
    }

    /// Snapshots of the registered gateway links: outbound ones by remote
    /// name, then inbound ones by connection.
    pub(crate) fn gateway_infos(&self) -> Vec<GatewayLinkInfo> {
        let ids = self
            .gateways
            .outbound
            .values()
            .chain(self.gateways.inbound.iter());
        ids.filter_map(|id| {
            let c = self.conns.get(id)?;
            let l = c.gateway()?;
            let (configured, accounts) = if l.outbound {
                let configured = self
                    .gateways
                    .remotes
                    .get(&l.name)
                    .is_some_and(|r| r.explicit);
                (configured, self.outbound_accounts(l, c.cid))
            } else {
                (false, self.inbound_accounts(l))
            };
            Some(GatewayLinkInfo {
                gateway: l.name.clone(),
                outbound: l.outbound,
                configured,
                link: c.link_snapshot(),
                subscriptions: if l.outbound { l.subs.len() } else { 0 },
                server_id: l.server_id.clone(),
                accounts,
            })
        })
        .collect()
    }

    /// What an outbound link knows of each account at the peer (nats-server's
    /// `outsim`): an account the peer told `A-` is optimistic with nothing
    /// more, as nats-server's empty entry shows.
    fn outbound_accounts(&self, l: &super::GatewayLink, cid: u64) -> Vec<GatewayAccountView> {
        l.accounts
            .iter()
            .map(|(acc, state)| {
                let name = self.accounts[acc.0 as usize].name.clone();
                match state {
                    OutAccount::NoInterest => GatewayAccountView {
                        name,
                        mode: InterestMode::Optimistic,
                        no_interest: 0,
                        qsubs: 0,
                        subs: Vec::new(),
                    },
                    OutAccount::Interest {
                        only,
                        no_interest,
                        qsubs,
                    } => GatewayAccountView {
                        name,
                        mode: if *only {
                            InterestMode::InterestOnly
                        } else {
                            InterestMode::Optimistic
                        },
                        no_interest: no_interest.len(),
                        qsubs: *qsubs,
                        // BTreeMap: ordered by key. nats-server's gateway
                        // subscriptions have no sid.
                        subs: l
                            .subs
                            .values()
                            .filter(|(a, _)| a == acc)
                            .map(|(_, s)| SubDetail::of(s, b"", "", cid))
                            .collect(),
                    },
                }
            })
            .collect()
    }

    /// What an inbound link was told of each account (nats-server's
    /// `insim`): every account is switched to interest-only when the link
    /// registers; an account it was told `A-` for is optimistic, as
    /// nats-server's empty entry shows.
    fn inbound_accounts(&self, l: &super::GatewayLink) -> Vec<GatewayAccountView> {
        let view = |name: &str, mode| GatewayAccountView {
            name: name.to_string(),
            mode,
            no_interest: 0,
            qsubs: 0,
            subs: Vec::new(),
        };
        let mut out: Vec<GatewayAccountView> = self
            .accounts
            .iter()
            .map(|a| {
                if l.no_interest.contains(a.name.as_bytes()) {
                    view(&a.name, InterestMode::Optimistic)
                } else {
                    view(&a.name, InterestMode::InterestOnly)
                }
            })
            .collect();
        for name in &l.no_interest {
            if self.account_by_name(name).is_none() {
                out.push(view(
                    &String::from_utf8_lossy(name),
                    InterestMode::Optimistic,
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn host_port_split_as_nats_server() {
        assert_eq!(
            split_host_port("127.0.0.1:7222", 1),
            ("127.0.0.1".into(), 7222)
        );
        assert_eq!(split_host_port("[::1]:7222", 1), ("::1".into(), 7222));
        assert_eq!(
            split_host_port("gw.example.com", 7222),
            ("gw.example.com".into(), 7222)
        );
        assert_eq!(split_host_port("h:x", 9), ("h".into(), 9));
    }
}
