//! A fake route peer for engine tests: the cluster the tests use, and the
//! bytes a non-pooling nats-server-like peer sends when it connects.

use super::harness::Harness;
use crate::{ClusterOptions, ConnId, Options};

/// The tests' cluster: `testc`, routes on 127.0.0.1:6222.
pub(crate) fn cluster() -> ClusterOptions {
    ClusterOptions {
        name: "testc".into(),
        host: "127.0.0.1".into(),
        port: 6222,
        ..Default::default()
    }
}

/// Clients on 127.0.0.1:4222, clustered with `cluster`.
pub(crate) fn clustered(cluster: ClusterOptions) -> Options {
    Options {
        host: "127.0.0.1".into(),
        port: 4222,
        cluster: Some(cluster),
        ..Options::default()
    }
}

/// A route CONNECT as nats-server sends it (its `name` is its server id).
pub(crate) fn route_connect(id: &str, cluster: &str) -> String {
    format!(
        "CONNECT {{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"{id}\",\"cluster\":\"{cluster}\"}}\r\n"
    )
}

/// The route INFO of a peer that does not pool, named `name`.
pub(crate) fn peer_info_named(id: &str, name: &str, port: u16, client_url: &str) -> String {
    format!(
        "INFO {{\"server_id\":\"{id}\",\"server_name\":\"{name}\",\"version\":\"2.15.1\",\"proto\":3,\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\"max_payload\":1048576,\"cluster\":\"testc\",\"connect_urls\":[\"{client_url}\"]}}\r\n"
    )
}

/// The route INFO of a peer that does not pool, named after its id.
pub(crate) fn peer_info(id: &str, port: u16, client_url: &str) -> String {
    peer_info_named(id, id, port, client_url)
}

/// What a peer sends on a route it dialed: CONNECT, its INFO, and PING.
pub(crate) fn peer_hello(id: &str, port: u16, client_url: &str) -> String {
    format!(
        "{}{}PING\r\n",
        route_connect(id, "testc"),
        peer_info(id, port, client_url)
    )
}

impl Harness {
    /// Accepts a connection on the route port and discards its INFO.
    pub(crate) fn route(&mut self) -> ConnId {
        let r = self.accept_route();
        let info = self.take(r);
        assert!(info.starts_with("INFO {"), "{info}");
        r
    }

    /// A fake peer dials our route port and sends CONNECT, INFO and PING;
    /// returns the registered route with its output (INFO, RS+ snapshot,
    /// PONG) taken.
    pub(crate) fn fake_route_named(
        &mut self,
        id: &str,
        name: &str,
        port: u16,
        client_url: &str,
    ) -> ConnId {
        let r = self.route();
        self.send(
            r,
            &format!(
                "{}{}PING\r\n",
                route_connect(id, "testc"),
                peer_info_named(id, name, port, client_url)
            ),
        );
        let out = self.take(r);
        assert!(out.ends_with("PONG\r\n"), "{out}");
        assert!(!self.is_closed(r));
        r
    }
}
