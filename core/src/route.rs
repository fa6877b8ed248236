//! Cluster routes: the INFO and CONNECT of the route protocol and the state
//! of one route connection.
//!
//! ## Interoperating with nats-server 2.15's pooling
//!
//! nats-server 2.10+ opens a pool of connections per peer (three by
//! default) and dedicated connections for pinned accounts. Canopy does not
//! pool: its route INFO carries no `route_pool_size`, which nats-server
//! reads as a peer that predates pooling. (A server
//! with leaf nodes also says `lnoc`/`lnocu`: it carries leaf interest and
//! messages with their origin cluster; a peer without them hears leaf
//! interest as plain `RS+`.) It then keeps one connection to Canopy carrying every account,
//! with the account named in every `RS+`, `RS-`, `RMSG` and `HMSG`, and
//! compresses it when the two sides' `compression` settings agree
//! (`engine/compress.rs`). Its attempts to open a pinned `$SYS` connection
//! to a non-pooling peer are refused (by either side) and do no harm: a
//! route INFO that names a `route_account` or a non-zero
//! `route_pool_idx` is closed as a duplicate. One connection per peer is
//! simple, keeps message order per account, and is what the mixed-cluster
//! tests in `tests/tests/cluster.rs` exercise.

use bytes::Bytes;
use serde::Deserialize;
use std::fmt::Write as _;

use crate::info::{push_json_string, push_url_list};

/// The route protocol version Canopy advertises: 3, account-aware RS+ and
/// RMSG (2) and message tracing (3: a `Nats-Trace-Only` message is not
/// delivered to clients, and each server sends its own trace event).
pub const ROUTE_PROTO: u32 = 3;

/// The route protocol version from which a peer traces messages
/// (nats-server's `MsgTraceProto`).
pub const MSG_TRACE_PROTO: i64 = 3;

/// The INFO a route peer sends (the fields Canopy reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RouteInfo {
    /// The peer's server id.
    pub server_id: String,
    /// The peer's server name.
    pub server_name: String,
    /// Route listen host.
    pub host: String,
    /// Route listen port.
    pub port: u16,
    /// Where to dial the peer's route port (`nats-route://host:port/`), set
    /// when it advertises or when an INFO is gossiped.
    pub ip: String,
    /// The cluster name.
    pub cluster: String,
    /// Whether the name was generated.
    pub cluster_dynamic: bool,
    /// The peer's client URLs.
    pub connect_urls: Vec<String>,
    /// Whether the peer's route port requires credentials.
    pub auth_required: bool,
    /// This connection's index in the peer's pool.
    pub route_pool_idx: i64,
    /// The account a dedicated connection is for.
    pub route_account: String,
    /// The route protocol version: 3 and up trace messages.
    pub proto: i64,
    /// The peer takes `LS+`/`LMSG` with the leaf cluster a subscription
    /// or message came from (nats-server's "leaf node origin cluster").
    pub lnoc: bool,
    /// The peer sends and takes `LS-` with that origin too.
    pub lnocu: bool,
    /// The peer's leaf URLs (its leaf listener, unless `no_advertise`),
    /// gossiped to the leafs of the whole cluster.
    pub leafnode_urls: Vec<String>,
    /// The peer's gateway URL, when it is a gateway: one of our cluster's.
    pub gateway_url: String,
    /// The peer's compression mode (empty: it predates compression).
    pub compression: String,
}

/// The CONNECT a soliciting route sends (the fields Canopy reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RouteConnect {
    /// Set by clients only: a client that dialed the route port.
    pub lang: Option<String>,
    /// Route credentials.
    pub user: Option<String>,
    /// Route credentials.
    pub pass: Option<String>,
    /// Its cluster name.
    pub cluster: String,
    /// Whether that name was generated.
    pub cluster_dynamic: bool,
    /// Set by gateways that dialed the route port.
    pub gateway: Option<String>,
}

/// Fields of Canopy's own route INFO.
#[derive(Clone, Debug, Default)]
pub struct OwnRouteInfo<'a> {
    /// Server id.
    pub server_id: &'a str,
    /// Server name.
    pub server_name: &'a str,
    /// Version string.
    pub version: &'a str,
    /// Route listen host.
    pub host: &'a str,
    /// Route listen port.
    pub port: u16,
    /// Max payload.
    pub max_payload: usize,
    /// Nonce (sent, never signed for routes).
    pub nonce: &'a str,
    /// Cluster name.
    pub cluster: &'a str,
    /// Whether it was generated.
    pub cluster_dynamic: bool,
    /// Client URLs of this server.
    pub connect_urls: &'a [String],
    /// The `compression` field (none: left out).
    pub compression: Option<&'a str>,
    /// Whether route credentials are required.
    pub auth_required: bool,
    /// Routes use TLS (`tls_required` and `tls_verify`, as nats-server
    /// sets both for a cluster tls block).
    pub tls: bool,
    /// `nats-route://host:port/` for gossip, when set.
    pub ip: &'a str,
    /// This server carries leaf interest and messages with their origin
    /// cluster (`lnoc`, `lnocu`): said when leaf nodes are configured.
    pub lnoc: bool,
    /// This server's leaf URLs, for the leafs of its cluster peers.
    pub leafnode_urls: &'a [String],
    /// This server's gateway URL (`host:port`), for the gateway INFO of
    /// its cluster peers; empty without gateways.
    pub gateway_url: &'a str,
}

impl OwnRouteInfo<'_> {
    /// Writes `INFO {...}` and CRLF (a trailing space before the CRLF as
    /// nats-server does on the INFO sent at accept).
    pub fn write(&self, out: &mut String, trailing_space: bool) {
        out.push_str("INFO {\"server_id\":");
        push_json_string(out, self.server_id);
        out.push_str(",\"server_name\":");
        push_json_string(out, self.server_name);
        out.push_str(",\"version\":");
        push_json_string(out, self.version);
        let _ = write!(out, ",\"proto\":{ROUTE_PROTO},\"go\":\"rust\",\"host\":");
        push_json_string(out, self.host);
        let _ = write!(out, ",\"port\":{},\"headers\":true", self.port);
        if self.auth_required {
            out.push_str(",\"auth_required\":true");
        }
        if self.tls {
            out.push_str(",\"tls_required\":true,\"tls_verify\":true");
        }
        let _ = write!(out, ",\"max_payload\":{}", self.max_payload);
        if !self.ip.is_empty() {
            out.push_str(",\"ip\":");
            push_json_string(out, self.ip);
        }
        if !self.nonce.is_empty() {
            out.push_str(",\"nonce\":");
            push_json_string(out, self.nonce);
        }
        out.push_str(",\"cluster\":");
        push_json_string(out, self.cluster);
        if self.cluster_dynamic {
            out.push_str(",\"cluster_dynamic\":true");
        }
        push_url_list(out, "connect_urls", self.connect_urls);
        if let Some(mode) = self.compression {
            out.push_str(",\"compression\":");
            push_json_string(out, mode);
        }
        if self.lnoc {
            out.push_str(",\"lnoc\":true,\"lnocu\":true");
        }
        push_url_list(out, "leafnode_urls", self.leafnode_urls);
        if !self.gateway_url.is_empty() {
            out.push_str(",\"gateway_url\":");
            push_json_string(out, self.gateway_url);
        }
        out.push('}');
        if trailing_space {
            out.push(' ');
        }
        out.push_str("\r\n");
    }
}

/// Writes a route CONNECT.
pub fn write_connect(
    out: &mut String,
    server_id: &str,
    cluster: &str,
    cluster_dynamic: bool,
    credentials: Option<(&str, &str)>,
    tls: bool,
) {
    out.push_str("CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false");
    if let Some((user, pass)) = credentials {
        out.push_str(",\"user\":");
        push_json_string(out, user);
        out.push_str(",\"pass\":");
        push_json_string(out, pass);
    }
    let _ = write!(out, ",\"tls_required\":{tls},\"headers\":true,\"name\":");
    push_json_string(out, server_id);
    out.push_str(",\"cluster\":");
    push_json_string(out, cluster);
    if cluster_dynamic {
        out.push_str(",\"cluster_dynamic\":true");
    }
    out.push_str("}\r\n");
}

/// A route address to dial, parsed from `nats-route://[user:pass@]host:port`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteAddr {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Credentials from the URL.
    pub user: Option<String>,
    /// Credentials from the URL.
    pub password: Option<String>,
}

impl RouteAddr {
    /// Parses a route URL (`nats-route://`, `nats://` or a bare
    /// `host:port`); `None` when it has no usable host and port.
    pub fn parse(url: &str) -> Option<RouteAddr> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.trim_end_matches('/');
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (host, port) = hostport.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().ok()?;
        if host.is_empty() || port == 0 {
            return None;
        }
        let (user, password) = match auth {
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(a.to_string()), None),
            },
            None => (None, None),
        };
        Some(RouteAddr {
            host: host.to_string(),
            port,
            user,
            password,
        })
    }

    /// `host:port`, for dialing and comparing.
    pub fn host_port(&self) -> String {
        join_host_port(&self.host, self.port)
    }
}

/// `host:port`, with an IPv6 host in brackets (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The route side of a connection (absent for clients).
#[derive(Debug, Default)]
pub(crate) struct RouteLink {
    /// The solicit entry this connection was dialed for.
    pub(crate) solicit: Option<usize>,
    /// The peer's INFO, once received.
    pub(crate) remote: Option<RouteInfo>,
    /// Registered as the one route to its server.
    pub(crate) registered: bool,
    /// The leaf cluster each of the peer's `LS+` came from, by the same
    /// key as `subs`.
    pub(crate) origins: std::collections::BTreeMap<Bytes, Bytes>,
    /// The peer's interest (`RS+`), by `account subject [queue]`.
    pub(crate) subs: std::collections::BTreeMap<
        Bytes,
        (
            crate::account::AccountId,
            std::sync::Arc<crate::sublist::Subscription>,
        ),
    >,
}

/// A route Canopy dials: configured (explicit, retried forever) or learned
/// by gossip (implicit, retried `connect_retries` times).
/// The key of a route's interest: `account subject [queue]`.
pub(crate) fn interest_key(account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Bytes {
    let mut k =
        Vec::with_capacity(account.len() + subject.len() + 2 + queue.map_or(0, <[u8]>::len));
    k.extend_from_slice(account);
    k.push(b' ');
    k.extend_from_slice(subject);
    if let Some(q) = queue {
        k.push(b' ');
        k.extend_from_slice(q);
    }
    Bytes::from(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_urls_parse_with_credentials() {
        let a = RouteAddr::parse("nats-route://ruser:T0pS3cr3t@127.0.0.1:6222").unwrap();
        assert_eq!(a.host_port(), "127.0.0.1:6222");
        assert_eq!(a.user.as_deref(), Some("ruser"));
        assert_eq!(a.password.as_deref(), Some("T0pS3cr3t"));
        let b = RouteAddr::parse("nats-route://127.0.0.1:6222/").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.user), ("127.0.0.1", 6222, None));
        assert_eq!(RouteAddr::parse("nats://h:1").unwrap().host_port(), "h:1");
        assert!(RouteAddr::parse("nats://nohost").is_none());
        assert!(RouteAddr::parse("nats://h:0").is_none());
    }

    #[test]
    fn own_info_and_connect_shapes() {
        let mut s = String::new();
        OwnRouteInfo {
            server_id: "NID",
            server_name: "a",
            version: "2.15.1",
            host: "127.0.0.1",
            port: 6222,
            max_payload: 1024,
            cluster: "c",
            connect_urls: &["127.0.0.1:4222".to_string()],
            ..Default::default()
        }
        .write(&mut s, true);
        assert_eq!(
            s,
            "INFO {\"server_id\":\"NID\",\"server_name\":\"a\",\"version\":\"2.15.1\",\"proto\":3,\"go\":\"rust\",\"host\":\"127.0.0.1\",\"port\":6222,\"headers\":true,\"max_payload\":1024,\"cluster\":\"c\",\"connect_urls\":[\"127.0.0.1:4222\"]} \r\n"
        );
        let info: RouteInfo = serde_json::from_str(&s[5..s.len() - 3]).unwrap();
        assert_eq!(info.server_id, "NID");
        assert!(!s.contains("route_pool_size"), "{s}");
        s.clear();
        write_connect(&mut s, "NID", "c", false, Some(("u", "p")), false);
        assert_eq!(
            s,
            "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"u\",\"pass\":\"p\",\"tls_required\":false,\"headers\":true,\"name\":\"NID\",\"cluster\":\"c\"}\r\n"
        );
    }
}
