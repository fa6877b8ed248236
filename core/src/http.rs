//! The HTTP kind: a monitoring request is a connection of the engine.
//! Requests are read with the codec and answered by `monitor`, which
//! renders from the engine's read-only views.

use crate::conn::ConnKind;
use crate::engine::Server;
use crate::events::Action;
use crate::ids::ConnId;
use crate::monitor;
use crate::time::Instant;

impl Server {
    /// Registers an HTTP connection accepted on the monitoring port.
    pub(crate) fn accept_http(&mut self, peer: core::net::SocketAddr, now: Instant) -> ConnId {
        let conn = self.new_conn(peer, ConnKind::Http(Box::default()), now);
        let id = conn.id;
        self.conns.insert(id, conn);
        id
    }

    /// Registers a connection accepted on the https monitoring port: the
    /// client port's certificate, TLS from the first byte.
    pub(crate) fn accept_https(&mut self, peer: core::net::SocketAddr, now: Instant) -> ConnId {
        let mut conn = self.new_conn(peer, ConnKind::Http(Box::default()), now);
        let id = conn.id;
        // HTTPS has no INFO: TLS from the first byte. Without a client
        // certificate to serve, the connection fails closed.
        let timer = match self.tls.client.config() {
            Some(config) => crate::engine::tls::accept_first(&mut conn, config, now),
            None => crate::engine::tls::fail_closed(&mut conn, now),
        };
        self.conns.insert(id, conn);
        self.set_tls_timer(timer);
        id
    }

    /// Registers a connection accepted on the websocket port: HTTP until
    /// its upgrade (`engine/websocket.rs`).
    pub(crate) fn accept_websocket(&mut self, peer: core::net::SocketAddr, now: Instant) -> ConnId {
        let conn = self.new_conn(peer, ConnKind::Http(Box::default()), now);
        self.websocket_accepted(conn, now)
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
                Ok(req) => {
                    let base = &self.options.http_base_path;
                    if let Some(endpoint) = monitor::endpoint(base, &req.path) {
                        self.monitor.count_request(endpoint);
                    }
                    monitor::answer(&*self, &req, now)
                }
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
