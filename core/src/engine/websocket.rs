//! WebSocket connections, both ends of the HTTP upgrade:
//!
//! - the **websocket port** (`websocket {}`): TLS first unless `no_tls`,
//!   then the upgrade request under the `handshake_timeout`; the path
//!   makes the connection a client, or a leaf link (`…/leafnode`, when
//!   the server has a leaf port), whose INFO is the first frame;
//! - a **leaf remote with `ws://`/`wss://` URLs**: the dialer sends the
//!   upgrade request (after TLS for `wss://`) and reads the 101 before
//!   the hub's INFO, under the remote's `first_info_timeout`.
//!
//! The HTTP exchange is plaintext for the layers below it; the WebSocket
//! layer (`transport/ws`) goes on at the byte after the request or the
//! 101, and the connection then runs the kind's usual code. S2 may still
//! be negotiated above a WebSocket unless permessage-deflate was agreed
//! (`engine/compress.rs`).

use super::Server;
use crate::events::{CloseReason, TimerKey};
use crate::ids::ConnId;
use crate::time::Instant;
use crate::transport::ws_handshake::{self as ws, HandshakeError, WsKind};
use crate::transport::Layer;
use crate::transport::WsLayer;
use bytes::{Bytes, BytesMut};

/// The most bytes of an HTTP head (request or response) held before the
/// upgrade is refused.
const MAX_HEAD: usize = 64 * 1024;

/// Where a connection is in the WebSocket upgrade.
#[derive(Debug, Default)]
pub(crate) enum WsStage {
    /// Not a WebSocket, or the upgrade is over.
    #[default]
    Off,
    /// The websocket port: reading the upgrade request.
    AwaitRequest { buf: BytesMut },
    /// A leaf remote: the request went out, reading the 101.
    AwaitResponse {
        key: String,
        compress: bool,
        no_masking: bool,
        buf: BytesMut,
    },
}

impl WsStage {
    /// Whether reads are HTTP, not yet frames.
    pub(crate) fn upgrading(&self) -> bool {
        !matches!(self, WsStage::Off)
    }
}

impl Server {
    /// A connection accepted on the websocket port (an HTTP connection
    /// until its upgrade, `http.rs`): TLS first when the block has it,
    /// then the upgrade request, which must come within
    /// `handshake_timeout`.
    pub(crate) fn websocket_accepted(&mut self, mut c: crate::conn::Conn, now: Instant) -> ConnId {
        let id = c.id;
        c.ws = WsStage::AwaitRequest {
            buf: BytesMut::new(),
        };
        let timer = match (&self.tls.websocket, self.tls.websocket.config()) {
            (_, Some(config)) => crate::engine::tls::accept_first(&mut c, config, now),
            (built, None) if built.asked() => crate::engine::tls::fail_closed(&mut c, now),
            _ => None,
        };
        self.conns.insert(id, c);
        self.set_tls_timer(timer);
        let wait = self
            .options
            .websocket
            .as_ref()
            .and_then(|w| w.handshake_timeout)
            .unwrap_or(std::time::Duration::from_secs(2));
        self.timers.set(TimerKey::WsHandshake(id), now + wait);
        id
    }

    /// The upgrade did not finish in time: the connection is dropped (Go's
    /// HTTP server closes it without an answer).
    pub(crate) fn ws_handshake_timer(&mut self, conn: ConnId, now: Instant) {
        let upgrading = self.conns.get(&conn).is_some_and(|c| c.ws.upgrading());
        if upgrading {
            tracing::debug!("{} - websocket handshake timeout", self.conn_label(conn));
            self.close(conn, CloseReason::ReadError, false, true, now);
        }
    }

    /// Plaintext read while upgrading. Returns what follows the HTTP head
    /// once the WebSocket layer is on, decoded by it (frames from a hub
    /// that sent them with its 101), for the NATS parser.
    pub(crate) fn ws_read(&mut self, conn: ConnId, data: &[u8], now: Instant) -> Option<Bytes> {
        let c = self.conns.get_mut(&conn)?;
        match &mut c.ws {
            WsStage::Off => None,
            WsStage::AwaitRequest { buf } => {
                buf.extend_from_slice(data);
                self.ws_request(conn, now);
                None
            }
            WsStage::AwaitResponse { buf, .. } => {
                buf.extend_from_slice(data);
                self.ws_response(conn, now)
            }
        }
    }

    /// The websocket port's side: answers a complete request.
    fn ws_request(&mut self, conn: ConnId, now: Instant) {
        loop {
            let Some(c) = self.conns.get(&conn) else {
                return;
            };
            let WsStage::AwaitRequest { buf } = &c.ws else {
                return;
            };
            let parsed = ws::parse_request(buf, false);
            let len = buf.len();
            match parsed {
                Ok(None) if len > MAX_HEAD => {
                    self.close(conn, CloseReason::ReadError, false, true, now);
                    return;
                }
                Ok(None) => return,
                Err(e) => {
                    if !self.ws_refuse(conn, &e, now) {
                        return;
                    }
                }
                Ok(Some((req, n))) => {
                    if n < len {
                        let e = HandshakeError::data_before_handshake(n);
                        self.ws_refuse(conn, &e, now);
                        return;
                    }
                    let tls = self.tls.websocket.asked();
                    let (same_origin, allowed) = self
                        .options
                        .websocket
                        .as_ref()
                        .map(|w| (w.same_origin, w.allowed_origins.clone()))
                        .unwrap_or_default();
                    if let Err(e) = ws::check_origin(&req, same_origin, &allowed, tls) {
                        if !self.ws_refuse(conn, &e, now) {
                            return;
                        }
                        continue;
                    }
                    self.ws_upgraded(conn, &req, now);
                    return;
                }
            }
        }
    }

    /// Answers a refused request as nats-server does. True when the
    /// connection stays open for the next request (HTTP keep-alive).
    fn ws_refuse(&mut self, conn: ConnId, e: &HandshakeError, now: Instant) -> bool {
        if e.logged {
            tracing::error!(
                "{} - websocket handshake error: {}",
                self.conn_label(conn),
                e.text
            );
        } else {
            tracing::debug!(
                "{} - websocket request refused: {}",
                self.conn_label(conn),
                e.text
            );
        }
        let date = crate::monitor::timefmt::http_date(self.monitor.wall(now));
        let answer = ws::error_response(e, &date);
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        c.out.push_slice(&answer);
        if e.keep_alive && !e.is_silent() {
            if let WsStage::AwaitRequest { buf } = &mut c.ws {
                let _ = buf.split_to(e.consumed.min(buf.len()));
            }
            self.mark_dirty(conn);
            return true;
        }
        let flush = !answer.is_empty();
        self.mark_dirty(conn);
        self.close(conn, CloseReason::ReadError, flush, true, now);
        false
    }

    /// A request passed: the 101, the WebSocket layer, then the kind's
    /// own start (its INFO goes out as the first frame).
    fn ws_upgraded(&mut self, conn: ConnId, req: &ws::UpgradeRequest, now: Instant) {
        let Some(wo) = self.options.websocket.clone() else {
            return;
        };
        let opts = req.server_options(wo.compression, self.options.max_payload);
        let seed = self.ws_seed();
        self.timers.cancel(TimerKey::WsHandshake(conn));
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        c.ws = WsStage::Off;
        let answer = ws::response_101(&req.key, opts.compress, req.no_masking, &wo.headers);
        c.out.push_slice(&answer);
        let _ = c.transport.push_inner(
            Layer::Ws(Box::new(WsLayer::new(opts, seed))),
            Bytes::new(),
            &c.out,
        );
        match req.kind {
            WsKind::Leaf if self.options.leaf.as_ref().is_some_and(|l| l.port != 0) => {
                c.cid = self.next_cid();
                self.start_leaf_hub(c, Some(opts.compress), now);
            }
            WsKind::Leaf | WsKind::Mqtt => {
                tracing::error!("Not configured to accept leaf node connections");
                let id = c.id;
                self.conns.insert(id, c);
                self.mark_dirty(id);
                self.close(id, CloseReason::ProtocolViolation, true, true, now);
            }
            WsKind::Client => {
                c.cid = self.next_cid();
                self.start_client(c, true, now);
            }
        }
        self.schedule_flushes();
    }

    /// A seed for a WebSocket layer's masking keys, from the engine's
    /// seeded stream.
    fn ws_seed(&mut self) -> u64 {
        let mut raw = [0u8; 8];
        self.leaf_rng.fill(&mut raw);
        u64::from_le_bytes(raw)
    }

    /// A solicited leaf link to a `ws://`/`wss://` remote connected (and,
    /// for `wss://`, TLS is on): sends the upgrade request and waits for
    /// the 101.
    pub(crate) fn ws_solicit(
        &mut self,
        conn: ConnId,
        host_port: &str,
        path: &str,
        compress: bool,
        no_masking: bool,
    ) {
        let mut raw = [0u8; 16];
        self.leaf_rng.fill(&mut raw);
        let key = ws::client_key(raw);
        let request =
            ws::client_request(host_port, &ws::leaf_path(path), &key, compress, no_masking);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.out.push_slice(&request);
        c.ws = WsStage::AwaitResponse {
            key,
            compress,
            no_masking,
            buf: BytesMut::new(),
        };
        self.mark_dirty(conn);
    }

    /// The dialing side: reads the 101 and switches the layer on.
    fn ws_response(&mut self, conn: ConnId, now: Instant) -> Option<Bytes> {
        let c = self.conns.get_mut(&conn)?;
        let WsStage::AwaitResponse {
            key,
            compress,
            no_masking,
            buf,
        } = &mut c.ws
        else {
            return None;
        };
        match ws::parse_response(buf, key, *compress, *no_masking) {
            Ok(None) if buf.len() > MAX_HEAD => {
                self.close(conn, CloseReason::ReadError, false, true, now);
                None
            }
            Ok(None) => None,
            Err(text) => {
                tracing::error!(
                    "{} - Error soliciting websocket connection: {text}",
                    self.conn_label(conn)
                );
                self.close(conn, CloseReason::ReadError, false, true, now);
                None
            }
            Ok(Some((agreed, n))) => {
                let rest = buf.split_off(n).freeze();
                c.ws = WsStage::Off;
                tracing::debug!(
                    "{} - Leafnode compression={} masking={}",
                    c.cid,
                    agreed.compress,
                    !agreed.no_masking
                );
                let opts = agreed.client_options(self.options.max_payload);
                let seed = self.ws_seed();
                let c = self.conns.get_mut(&conn)?;
                let d = c.transport.push_inner(
                    Layer::Ws(Box::new(WsLayer::new(opts, seed))),
                    rest,
                    &c.out,
                );
                if let Some(failure) = d.failed {
                    self.read_nats(conn, d.plain, now);
                    self.transport_failed(conn, failure, now);
                    return None;
                }
                Some(d.plain)
            }
        }
    }
}
