//! What differs per connection kind as policy: the one table.
//!
//! Every rule the engine applies to a connection because of its kind, and
//! not because of its state, is a field here: how its bytes are parsed and
//! bounded, whether its first op must be CONNECT, how it is PINGed,
//! whether its outbound bytes are bounded like a consumer's, whether it
//! counts against `max_connections`, whether it takes a nats-server
//! connection number, and whether `/connz?state=closed` remembers it.
//! Adding a kind (leaf, gateway) is adding a row.

use super::ConnKind;
use crate::options::{Options, FIRST_PING_INTERVAL};
use crate::proto::{Dialect, Limits};
use std::time::Duration;

/// Routes may carry any payload a peer's clients may publish (the largest
/// max_payload nats-server accepts).
pub(crate) const ROUTE_MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// Routes get 16 times the client control-line limit, as in nats-server.
pub(crate) const ROUTE_CONTROL_LINE_FACTOR: usize = 16;
/// First PING on a route (nats-server's firstPingInterval for routes).
const ROUTE_FIRST_PING: Duration = Duration::from_secs(1);
/// Longest PING interval on a route.
const ROUTE_PING_MAX: Duration = Duration::from_secs(30);
/// Longest PING interval on a gateway (nats-server's gwMaxPingInterval).
const GATEWAY_PING_MAX: Duration = Duration::from_secs(15);

/// The rules of one connection kind.
#[derive(Debug)]
pub(crate) struct Policy {
    /// What nats-server calls its connection number in log lines
    /// (`cid`, `rid`; HTTP connections have none).
    pub(crate) tag: &'static str,
    /// What nats-server calls the kind in TLS log lines (`TLS route
    /// handshake error`); empty for clients (`TLS handshake error`).
    pub(crate) tls_name: &'static str,
    /// How the engine reads its bytes: a NATS dialect, or HTTP.
    pub(crate) reading: Reading,
    /// When the first op must be CONNECT (nats-server refuses any other
    /// first byte with an authorization violation).
    pub(crate) connect_first: ConnectFirst,
    /// How the server PINGs it.
    pub(crate) ping: PingRule,
    /// Outbound bytes bounded by max_pending and the write deadline; a
    /// connection past them is closed as a slow consumer. (nats-server
    /// sets no pending limit on routes; Canopy bounds every buffer.)
    pub(crate) bounded: bool,
    /// Counts against `max_connections` (and is a client for lame duck
    /// mode, `/connz` and account usage).
    pub(crate) counts_as_client: bool,
    /// Takes a number from nats-server's connection counter (`cid`,
    /// `rid`): every kind nats-server models as a client.
    pub(crate) takes_cid: bool,
    /// Its reads are paused while a consumer it feeds is behind
    /// (`engine/stall.rs`); nats-server stalls only client producers.
    pub(crate) stallable: bool,
}

/// How a kind's bytes are read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// NATS protocol ops in this dialect.
    Nats(Dialect),
    /// HTTP/1.1 requests (monitoring).
    Http,
}

/// When the first op must be CONNECT.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ConnectFirst {
    /// Never required.
    Never,
    /// When the server requires authentication (a client).
    WhenAuthRequired,
    /// Always (a route port).
    Always,
}

/// How the server PINGs a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum PingRule {
    /// Never (HTTP).
    Never,
    /// Every `ping_interval`, skipped while the peer was recently active
    /// (clients: nats-server's optimisation).
    UnlessActive,
    /// Every cluster ping interval, whatever the traffic (routes, as
    /// nats-server sends them).
    Always,
    /// Every `ping_interval`, whatever the traffic (leaf links; the
    /// first after about a second, as for routes).
    Link,
    /// Every `ping_interval` capped at 15 s, whatever the traffic
    /// (gateways, as nats-server pings them; the first after about a
    /// second).
    Gateway,
}

const CLIENT: Policy = Policy {
    tag: "cid",
    tls_name: "",
    reading: Reading::Nats(Dialect::Client),
    connect_first: ConnectFirst::WhenAuthRequired,
    ping: PingRule::UnlessActive,
    bounded: true,
    counts_as_client: true,
    takes_cid: true,
    stallable: true,
};

const ROUTE: Policy = Policy {
    tag: "rid",
    tls_name: "route ",
    reading: Reading::Nats(Dialect::Route),
    connect_first: ConnectFirst::Always,
    ping: PingRule::Always,
    bounded: true,
    counts_as_client: false,
    takes_cid: true,
    stallable: false,
};

const LEAF: Policy = Policy {
    tag: "lid",
    tls_name: "leafnode ",
    reading: Reading::Nats(Dialect::Leaf),
    connect_first: ConnectFirst::Always,
    ping: PingRule::Link,
    bounded: true,
    counts_as_client: false,
    takes_cid: true,
    stallable: false,
};

const GATEWAY: Policy = Policy {
    tag: "gid",
    tls_name: "gateway ",
    reading: Reading::Nats(Dialect::Gateway),
    connect_first: ConnectFirst::Always,
    ping: PingRule::Gateway,
    bounded: true,
    counts_as_client: false,
    takes_cid: true,
    stallable: false,
};

const HTTP: Policy = Policy {
    tag: "http",
    tls_name: "",
    reading: Reading::Http,
    connect_first: ConnectFirst::Never,
    ping: PingRule::Never,
    bounded: false,
    counts_as_client: false,
    takes_cid: false,
    stallable: false,
};

/// The policy of `kind`.
pub(crate) fn of(kind: &ConnKind) -> &'static Policy {
    match kind {
        ConnKind::Client(_) => &CLIENT,
        ConnKind::Route(_) => &ROUTE,
        ConnKind::Leaf(_) => &LEAF,
        ConnKind::Gateway(_) => &GATEWAY,
        ConnKind::Http(_) => &HTTP,
    }
}

impl Policy {
    /// Parser limits for a connection of this kind; `headers` is what the
    /// peer negotiated.
    pub(crate) fn limits(&self, options: &Options, headers: bool) -> Limits {
        match self.reading {
            Reading::Nats(d @ (Dialect::Route | Dialect::Gateway)) => Limits {
                dialect: d,
                max_control_line: options.max_control_line * ROUTE_CONTROL_LINE_FACTOR,
                max_payload: ROUTE_MAX_PAYLOAD,
                headers: true,
            },
            Reading::Nats(dialect) => Limits {
                dialect,
                max_control_line: options.max_control_line,
                max_payload: options.max_payload,
                headers,
            },
            Reading::Http => Limits {
                dialect: Dialect::Client,
                max_control_line: 0,
                max_payload: 0,
                headers: false,
            },
        }
    }

    /// Whether the first op must be CONNECT, given whether the server
    /// requires authentication of clients.
    pub(crate) fn requires_connect_first(&self, auth_required: bool) -> bool {
        match self.connect_first {
            ConnectFirst::Never => false,
            ConnectFirst::WhenAuthRequired => auth_required,
            ConnectFirst::Always => true,
        }
    }

    /// The write deadline of this kind: leaf links may have their own
    /// (`leafnodes { write_deadline }`).
    pub(crate) fn write_deadline(&self, options: &Options) -> Duration {
        match self.ping {
            PingRule::Link => options
                .leaf
                .as_ref()
                .and_then(|l| l.write_deadline)
                .unwrap_or(options.write_deadline),
            PingRule::Gateway => options
                .gateway
                .as_ref()
                .and_then(|g| g.write_deadline)
                .unwrap_or(options.write_deadline),
            PingRule::Always | PingRule::UnlessActive | PingRule::Never => options.write_deadline,
        }
    }

    /// Whether the write deadline starts again whenever bytes go out (it
    /// then fires only when nothing went out for its length): every kind,
    /// except leaf links under `write_timeout: close`, which must finish
    /// a flush within it.
    pub(crate) fn write_deadline_restarts(&self, options: &Options) -> bool {
        match self.ping {
            PingRule::Link => !options.leaf.as_ref().is_some_and(|l| l.write_timeout_close),
            PingRule::Gateway => !options
                .gateway
                .as_ref()
                .is_some_and(|g| g.write_timeout_close),
            PingRule::Always | PingRule::UnlessActive | PingRule::Never => true,
        }
    }

    /// The PING interval for this kind.
    pub(crate) fn ping_interval(&self, options: &Options) -> Duration {
        match self.ping {
            PingRule::Always => options
                .cluster
                .as_ref()
                .map_or(options.ping_interval, |c| c.ping_interval)
                .min(ROUTE_PING_MAX),
            PingRule::Gateway => options.ping_interval.min(GATEWAY_PING_MAX),
            PingRule::UnlessActive | PingRule::Link | PingRule::Never => options.ping_interval,
        }
    }

    /// The first PING comes sooner: at most 2 s for clients, 1 s for
    /// routes (nats-server's firstPingInterval), before jitter.
    pub(crate) fn first_ping(&self, options: &Options) -> Duration {
        let cap = match self.ping {
            PingRule::Always | PingRule::Link | PingRule::Gateway => ROUTE_FIRST_PING,
            PingRule::UnlessActive | PingRule::Never => FIRST_PING_INTERVAL,
        };
        self.ping_interval(options).min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{ClientState, HttpState};
    use crate::route::RouteLink;

    fn kinds() -> [ConnKind; 3] {
        [
            ConnKind::Client(Box::new(ClientState::new(
                crate::account::AccountId(0),
                ahash::RandomState::with_seeds(1, 2, 3, 4),
            ))),
            ConnKind::Route(Box::<RouteLink>::default()),
            ConnKind::Http(Box::<HttpState>::default()),
        ]
    }

    #[test]
    fn every_kind_has_its_row() {
        let tags: Vec<&str> = kinds().iter().map(|k| of(k).tag).collect();
        assert_eq!(tags, ["cid", "rid", "http"]);
    }

    #[test]
    fn route_limits_are_sixteen_times_and_64_mib() {
        let o = Options::default();
        let route = of(&kinds()[1]).limits(&o, false);
        assert_eq!(route.dialect, Dialect::Route);
        assert_eq!(route.max_control_line, o.max_control_line * 16);
        assert_eq!(route.max_payload, 64 * 1024 * 1024);
        assert!(route.headers);
        let client = of(&kinds()[0]).limits(&o, false);
        assert_eq!(client.max_payload, o.max_payload);
        assert!(!client.headers);
    }

    #[test]
    fn connect_first_only_routes_always() {
        let [c, r, h] = kinds();
        assert!(!of(&c).requires_connect_first(false));
        assert!(of(&c).requires_connect_first(true));
        assert!(of(&r).requires_connect_first(false));
        assert!(!of(&h).requires_connect_first(true));
    }

    #[test]
    fn first_pings() {
        let o = Options::default();
        let [c, r, _] = kinds();
        assert_eq!(of(&c).first_ping(&o), Duration::from_secs(2));
        assert_eq!(of(&r).first_ping(&o), Duration::from_secs(1));
    }
}
