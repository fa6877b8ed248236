//! S2 compression on route and leaf links: the negotiation both kinds
//! share, as nats-server runs it, and `s2_auto`'s level changes. The
//! modes and the choice are `crate::compression`; the framed stream is
//! the transport layer (`transport/s2.rs`).
//!
//! ## The exchange (both kinds)
//!
//! A side whose settings negotiate (anything but `off`/`not supported`)
//! waits for the peer's first INFO and picks the link's mode from its
//! `compression` field. When that mode compresses:
//!
//! - the **soliciting** side sends an INFO naming its mode in plaintext,
//!   then switches both directions to S2 at once: the rest of the read
//!   that held the peer's INFO is already compressed;
//! - the **accepting** side switches both directions at the exact byte
//!   after the solicitor's INFO and answers with its own INFO, the first
//!   compressed bytes it sends.
//!
//! Each side then carries on with the peer's next INFO as if it were the
//! first (registration, CONNECT for a leaf). Until the exchange is over
//! no PING goes out (nats-server too): a plaintext PING could meet a
//! reader that already switched.

use super::Server;
use crate::compression::{Compression, Mode};
use crate::ids::ConnId;
use crate::time::Instant;
use crate::transport::{Layer, S2Layer};
use std::time::Duration;

/// Where a route or leaf link is in S2 negotiation.
#[derive(Debug, Default)]
pub(crate) struct S2Link {
    /// Negotiation is not over: no PING may go out.
    pub(crate) pending: bool,
    /// S2 is on and the peer's compressed INFO has not come yet: that
    /// INFO is handled as the first.
    pub(crate) await_info: bool,
    /// The link's mode as `/routez` and `/leafz` show it (`None` until
    /// known).
    pub(crate) mode: Option<Mode>,
    /// `s2_auto`: the settings the level is chosen again from on PONG.
    pub(crate) auto: Option<Box<Compression>>,
}

impl S2Link {
    /// A link whose side negotiates (`own`): nothing but the exchange
    /// until it is over.
    pub(crate) fn new(own: &Compression) -> Self {
        S2Link {
            pending: own.negotiates(),
            ..S2Link::default()
        }
    }

    /// The peer's first INFO (or a leaf's CONNECT) settled the link's
    /// mode (nats-server's `compressionNegotiated`).
    pub(crate) fn negotiated(&self) -> bool {
        self.mode.is_some()
    }

    /// The mode name for monitoring.
    pub(crate) fn mode_str(&self) -> &'static str {
        self.mode.map_or("", Mode::as_str)
    }
}

/// The largest decoded S2 chunk a link accepts: a message at
/// `max_payload` plus its control line, and never below the 1 MiB blocks
/// nats-server's writer makes (a flush of many small messages fills whole
/// blocks whatever `max_payload` is), nor above S2's 4 MiB block limit.
pub(crate) fn max_block(max_payload: usize) -> usize {
    (max_payload + crate::options::DEFAULT_MAX_CONTROL_LINE).clamp(1 << 20, 4 << 20)
}

impl Server {
    /// The peer's first INFO on a link whose side negotiates (`own`),
    /// with the peer's `compression` field: picks the link's mode and,
    /// when it compresses, sends our INFO (built by `info` from the mode
    /// to name) and switches S2 on as the module doc says. Returns
    /// `Ok(true)` when S2 started: the caller waits for the peer's next
    /// INFO. `Err` is nats-server's text for a mode it does not know.
    pub(crate) fn s2_negotiate(
        &mut self,
        conn: ConnId,
        own: &Compression,
        peer: &str,
        solicited: bool,
        info: impl FnOnce(&mut Server, &'static str) -> String,
        now: Instant,
    ) -> Result<bool, String> {
        let mut mode = own.select(peer)?;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(false);
        };
        if mode == Mode::Auto {
            // The round trip so far: from the connection's start to this
            // INFO (nats-server's `computeRTT(c.start)`).
            let rtt = c.ping.rtt.unwrap_or_else(|| now.saturating_since(c.start));
            mode = Mode::Level(own.auto_level(rtt));
        }
        c.s2.mode = Some(mode);
        c.s2.auto = (own.mode == Mode::Auto).then(|| Box::new(own.clone()));
        let Mode::Level(level) = mode else {
            c.s2.pending = false;
            c.ping.outstanding = 0;
            c.s2.auto = None;
            return Ok(false);
        };
        let text = info(self, own.info_for(mode));
        let layer = Layer::S2(S2Layer::new(level, max_block(self.options.max_payload)));
        // Mutation hook: the accepting side's first compressed byte goes
        // out plain.
        let late = !solicited && mutated!(self, s2_switch_late);
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(false);
        };
        if solicited {
            c.out.push_slice(text.as_bytes());
        }
        if late {
            c.out
                .push_slice(text.as_bytes().get(..1).unwrap_or_default());
        }
        match c.transport.ws_index() {
            // Over a WebSocket, S2 carries the frames (nats-server
            // compresses the framed bytes): it goes on outside the
            // WebSocket layer, from the next read.
            Some(ws) => c.transport.insert(ws, layer, &c.out),
            None => {
                // The rest of the read that held the peer's INFO goes
                // through the new layer (see `read_nats`).
                self.tls.switched_in_op = Some((conn, c.transport.layers()));
                let _ = c.transport.push_inner(layer, bytes::Bytes::new(), &c.out);
            }
        }
        if !solicited {
            let from = usize::from(late);
            c.out
                .push_slice(text.as_bytes().get(from..).unwrap_or_default());
        }
        c.trace_out(format_args!("{}", text.trim_end()));
        c.s2.await_info = true;
        self.mark_dirty(conn);
        Ok(true)
    }

    /// A link whose side does not negotiate learned the peer's mode
    /// (`peer`: its INFO `compression` or CONNECT `compress_mode`): the
    /// link shows `not supported` when the peer said nothing or we are
    /// configured so, else `off`.
    pub(crate) fn s2_without(&mut self, conn: ConnId, own: &Compression, peer: &str) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.s2.pending = false;
            c.ping.outstanding = 0;
            c.s2.mode = Some(if peer.is_empty() || own.mode == Mode::NotSupported {
                Mode::NotSupported
            } else {
                Mode::Off
            });
        }
    }

    /// The peer's compressed INFO came: the exchange is over.
    pub(crate) fn s2_settled(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.s2.pending = false;
            c.ping.outstanding = 0;
            c.s2.await_info = false;
        }
    }

    /// `s2_auto` on a compressing link chooses its level again from the
    /// round trip a PONG measured (nats-server's
    /// `updateS2AutoCompressionLevel`); later flushes use it.
    pub(crate) fn s2_auto_pong(&mut self, conn: ConnId, rtt: Duration) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(auto) = c.s2.auto.as_deref() else {
            return;
        };
        let level = auto.auto_level(rtt);
        if c.s2.mode != Some(Mode::Level(level)) {
            if let Some(layer) = c.transport.s2_mut() {
                layer.set_level(level);
                c.s2.mode = Some(Mode::Level(level));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoded_chunk_bound() {
        assert_eq!(
            max_block(1 << 20),
            (1 << 20) + crate::options::DEFAULT_MAX_CONTROL_LINE
        );
        assert_eq!(max_block(1024), 1 << 20);
        assert_eq!(max_block(64 << 20), 4 << 20);
    }
}
