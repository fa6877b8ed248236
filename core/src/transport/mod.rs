//! Sans-IO layers between the wire and the parser and outbound queue.
//!
//! Every connection has one [`Transport`]: an ordered chain of [`Layer`]s,
//! outermost (nearest the wire) first, as in `[tls, websocket, s2]`. Most
//! connections have no layer at all, and then the transport costs nothing:
//! a read is handed to the parser as the same `Bytes`, and the outbound
//! queue's chunks go to the driver as they are.
//!
//! ## Read side
//!
//! [`Transport::decode`] takes the bytes of one socket read and returns the
//! plaintext they decode to (possibly empty, when a layer is waiting for
//! the rest of a record or frame). The engine parses ops from that.
//!
//! ## The switch at an exact byte
//!
//! A layer is switched on by an op in the plaintext (S2 after an INFO, TLS
//! after the INFO that asks for it, WebSocket after the upgrade request).
//! Everything after that op, including the rest of the read that held it,
//! belongs to the new layer. When the parser returns the switching op, the
//! bytes it has not consumed yet are exactly that rest (already decoded by
//! the layers that were on); the engine hands them to
//! [`Transport::push_inner`] and keeps parsing what it returns. New layers
//! go innermost: each layer switched on later wraps the bytes inside the
//! earlier ones (nats-server: S2 wraps already framed WebSocket bytes).
//!
//! The same call places the switch in the outbound stream: plaintext
//! already queued at that moment is sent under the old chain, plaintext
//! queued afterwards under the new one. So the engine queues first what
//! must go out before the switch (the INFO that announces TLS goes out in
//! plaintext; a soliciting route sends its INFO before compressing) and
//! what must go out after it second (an accepting route queues its INFO
//! after switching, so it is compressed).
//!
//! ## Write side and the two counters
//!
//! The outbound queue ([`Outbound`]) holds plaintext. [`Transport::take`]
//! takes all of it, encodes it through the chain (adding bytes the layers
//! send on their own: handshake messages, pongs, close frames) and hands
//! the driver wire chunks. Two counters follow those bytes, in different
//! units:
//!
//! - **Wire bytes**: bytes that reach the socket, after every layer.
//!   [`Transport::take`] returns them and `handle_written(n)` reports them;
//!   [`Transport::wire_in_flight`] is what the write deadline waits on.
//! - **Pending bytes** (the slow-consumer measure): plaintext the peer has
//!   not yet received, that is plaintext still queued plus plaintext taken
//!   but not yet written, counted in **plaintext** bytes. This is
//!   [`Outbound::pending`]: [`Transport::written`] turns written wire
//!   bytes back into plaintext bytes ([`WireLedger`]) and reports those to
//!   the queue. Plaintext because `max_pending` is a budget of message
//!   bytes set by the user, the check runs when a message is queued (before
//!   any layer saw it), and a compressed link must not get a larger or
//!   smaller budget depending on how well its data compresses. For TLS
//!   this is also what nats-server counts (Go's TLS connection takes and
//!   reports plaintext).
//!
//! Without layers both counters are the same number.
//!
//! ## Failures
//!
//! A layer that cannot go on (bad frame, corrupt chunk, TLS alert, peer's
//! close frame) returns a [`TransportError`]. It is sticky: later reads
//! return it again. Its [`Ending`] says how nats-server ends such a
//! connection: silently, after flushing what the layers queued for the
//! peer, or after an `-ERR` line. A layer never buffers more than a bounded
//! amount of undecodable input ([`Transport::buffered`]), and no input
//! makes it panic. Bytes a layer sends on its own are bounded by the
//! layer too (a pong answers only the latest ping), since they are not in
//! the outbound queue and `max_pending` does not see them.
//!
//! ## How the engine drives it
//!
//! 1. On a read: `let d = transport.decode(read)`, then parse `d.plain`
//!    op by op as before. Then, while [`Transport::has_pending`], call
//!    `transport.decode(Bytes::new())` and parse its plaintext the same
//!    way (a layer stops at a plaintext budget per call: S2, whose small
//!    chunks can decode to much more than the read), before the next read.
//! 2. When processing an op switches a layer on: take the unparsed rest
//!    of the current plaintext, `let d = transport.push_inner(layer, rest,
//!    &out)`, and go on parsing `d.plain`. Queue before this call what
//!    must still go out under the old chain, after it what must not.
//! 3. When the plaintext of a read is parsed: if a `failed` was returned,
//!    end the connection as its [`Ending`] says; if
//!    [`Transport::wants_write`], schedule a flush even when the queue is
//!    empty.
//! 4. On a flush: `transport.take(&mut out, dst)` instead of
//!    `out.take(dst)`; its count (wire bytes) is what the driver reports.
//!    On a close after flushing, call [`Transport::queue_goodbye`] first.
//! 5. On `handle_written(n)`: `transport.written(n, &mut out)`; run the
//!    write deadline on [`Transport::wire_in_flight`].
//! 6. The slow-consumer rule keeps reading [`Outbound::pending`].

mod error;
#[cfg(test)]
mod framed;
mod ledger;
mod s2;
mod tls;
mod ws;

pub use error::{Ending, ErrorKind, TransportError};
pub use ledger::WireLedger;
pub use s2::{S2Layer, S2Level};
pub use tls::TlsLayer;
pub use ws::{
    close_status, handshake as ws_handshake, WsError, WsLayer, WsOptions, WsRole,
    BROWSER_FRAME_SIZE, COMPRESS_THRESHOLD, MAX_COMPRESSED_MESSAGE,
};

use crate::outbound::Outbound;
use bytes::Bytes;

/// Most layers one connection can stack: TLS, WebSocket, S2, with room to
/// spare. More is an engine bug (a layer switched on twice).
pub const MAX_LAYERS: usize = 4;

/// The transport chain of one connection.
///
/// Create it with [`Transport::default`] (plaintext). Call
/// [`Transport::decode`] for every read, [`Transport::push_inner`] when an
/// op switches a layer on, [`Transport::take`] when flushing and
/// [`Transport::written`] when the driver reports progress.
#[derive(Debug, Default)]
pub struct Transport {
    /// The chain, outermost (nearest the wire) first.
    layers: Vec<Slot>,
    /// Wire batches handed out and not yet written.
    ledger: WireLedger,
    /// Plaintext bytes taken from the outbound queue so far: the position
    /// in the outbound plaintext stream where the next take starts.
    plain_taken: u64,
    /// The first read-side failure; every later read returns it.
    read_failed: Option<TransportError>,
    /// A failure of a layer outside one that still holds input from
    /// before it (S2 at its plaintext budget): returned once that input is
    /// decoded.
    deferred_failure: Option<TransportError>,
    /// The first write-side failure; every later take returns it.
    write_failed: Option<TransportError>,
    /// Reused lists for the layered write path.
    scratch: Scratch,
}

/// A layer and where its write side begins.
#[derive(Debug)]
struct Slot {
    layer: Layer,
    /// Position in the outbound plaintext stream from which this layer
    /// encodes: what was queued before the switch goes out without it.
    write_from: u64,
}

/// Chunk lists reused across takes, so a layered take allocates only what
/// its layers do.
#[derive(Debug, Default)]
struct Scratch {
    /// Plaintext taken from the queue.
    plain: Vec<Bytes>,
    /// The segment being encoded, then its encoding.
    segment: Vec<Bytes>,
    /// A layer's output.
    next: Vec<Bytes>,
}

/// One layer of a connection's chain. Enum dispatch keeps the chain free of
/// boxes and makes every place that handles layers name each kind.
///
/// Variants, in the order they usually stack (each an own module under
/// `transport/`): `Tls` (rustls' buffered API: `read_tls`,
/// `process_new_packets`, `reader` for decode; `writer`, `write_tls` for
/// encode; its handshake bytes are its own output) and `S2` (the framed
/// stream of section 1.13, see [`S2Layer`]). To come: `WebSocket`
/// (framing, masking, permessage-deflate; pongs and close frames are its
/// own output). Each variant adds one arm to each method below and its own
/// split-read tests.
#[derive(Debug)]
#[non_exhaustive]
pub enum Layer {
    /// TLS (rustls), either role.
    Tls(Box<TlsLayer>),
    /// S2 compression (nats-server's route and leaf `compression`); a
    /// small handle, its state is boxed.
    S2(S2Layer),
    /// WebSocket framing, either role.
    Ws(Box<WsLayer>),
    /// A toy length-prefixed framing that changes sizes, for tests.
    #[cfg(test)]
    Framed(framed::Framed),
}

impl Layer {
    /// Decodes bytes from the outer side into bytes for the inner side
    /// (possibly none). A partial unit stays buffered, bounded. Bytes
    /// decoded before a failure are returned with it.
    fn decode(&mut self, input: Bytes) -> Decoded {
        match *self {
            Layer::Tls(ref mut l) => l.decode(input),
            Layer::S2(ref mut l) => l.decode(input),
            Layer::Ws(ref mut l) => l.decode(input),
            #[cfg(test)]
            Layer::Framed(ref mut l) => l.decode(input),
        }
    }

    /// Encodes `input` (inner side) onto `out` (outer side), with any bytes
    /// the layer sends on its own placed where its format needs them.
    fn encode(&mut self, input: &[Bytes], out: &mut Vec<Bytes>) -> Result<(), TransportError> {
        match *self {
            Layer::Tls(ref mut l) => l.encode(input, out),
            Layer::S2(ref mut l) => l.encode(input, out),
            Layer::Ws(ref mut l) => l.encode(input, out),
            #[cfg(test)]
            Layer::Framed(ref mut l) => l.encode(input, out),
        }
    }

    /// Whether the layer has bytes of its own to send.
    fn wants_write(&self) -> bool {
        match *self {
            Layer::Tls(ref l) => l.wants_write(),
            Layer::S2(ref l) => l.wants_write(),
            Layer::Ws(ref l) => l.wants_write(),
            #[cfg(test)]
            Layer::Framed(ref l) => l.wants_write(),
        }
    }

    /// Input bytes held while waiting for the rest of a unit.
    fn buffered(&self) -> usize {
        match *self {
            Layer::Tls(ref l) => l.buffered(),
            Layer::S2(ref l) => l.buffered(),
            Layer::Ws(ref l) => l.buffered(),
            #[cfg(test)]
            Layer::Framed(ref l) => l.buffered(),
        }
    }

    /// Whether the layer has decoded output pending that a decode of an
    /// empty input returns (S2 and WebSocket stop at a plaintext budget
    /// per call).
    fn has_pending(&self) -> bool {
        match *self {
            Layer::S2(ref l) => l.has_pending(),
            Layer::Ws(ref l) => l.has_pending(),
            Layer::Tls(_) => false,
            #[cfg(test)]
            Layer::Framed(_) => false,
        }
    }

    /// Queues the layer's goodbye, to follow the data of the next encode.
    fn queue_goodbye(&mut self) {
        match *self {
            Layer::Tls(ref mut l) => l.queue_goodbye(),
            Layer::S2(ref mut l) => l.queue_goodbye(),
            Layer::Ws(ref mut l) => l.queue_goodbye(),
            #[cfg(test)]
            Layer::Framed(ref mut l) => l.queue_goodbye(),
        }
    }
}

/// The plaintext of one read, and the failure that ended it, if any.
#[derive(Debug)]
#[must_use]
pub struct Decoded {
    /// Plaintext for the parser: the read itself when there are no layers.
    pub plain: Bytes,
    /// A layer failed after `plain`. Parse `plain` first (nats-server
    /// processes what it read before the error), then end the connection
    /// as the error says. Later reads return the same failure and nothing
    /// else.
    pub failed: Option<TransportError>,
}

impl Transport {
    /// Whether the chain has no layer (the connection is plaintext).
    pub fn is_plain(&self) -> bool {
        self.layers.is_empty()
    }

    /// Decodes the bytes of one socket read into plaintext for the parser.
    /// Call for every read, in order. Without layers the plaintext is
    /// `wire` itself (no copy). Decoding an empty read is harmless, and is
    /// how output a layer holds back is taken ([`Transport::has_pending`]).
    pub fn decode(&mut self, wire: Bytes) -> Decoded {
        if let Some(e) = self.read_failed {
            return Decoded {
                plain: Bytes::new(),
                failed: Some(e),
            };
        }
        if self.layers.is_empty() {
            return Decoded {
                plain: wire,
                failed: None,
            };
        }
        // Draining (empty input): start at the innermost layer that holds
        // input, so an outer one (S2 around WebSocket frames) does not
        // hand it another budget's worth while it still holds the last.
        let first = if wire.is_empty() {
            self.layers
                .iter()
                .rposition(|s| s.layer.has_pending())
                .unwrap_or(0)
        } else {
            0
        };
        self.decode_from(first, wire)
    }

    /// Switches `layer` on as the new innermost layer, at an exact byte.
    ///
    /// Call right after processing the op that switches it on, with `rest`
    /// the bytes of the current read the parser has not consumed (already
    /// decoded by the outer layers; empty if the op ended the read).
    /// Returns `rest` decoded by the new layer: parse that instead of
    /// `rest`. Later reads pass through it as well.
    ///
    /// On the write side the layer starts after what `out` holds now:
    /// plaintext queued before this call goes out under the old chain,
    /// plaintext queued after it under the new one.
    pub fn push_inner(&mut self, layer: Layer, rest: Bytes, out: &Outbound) -> Decoded {
        // The engine switches each layer on once per connection.
        debug_assert!(self.layers.len() < MAX_LAYERS, "a layer switched on twice");
        let queued_end = self.plain_taken + out.queued() as u64;
        // A layer switched on later never starts writing before an earlier
        // one (only a cleared queue could make the sum go back).
        let write_from = self
            .layers
            .last()
            .map_or(queued_end, |s| s.write_from.max(queued_end));
        self.layers.push(Slot { layer, write_from });
        if let Some(e) = self.read_failed {
            return Decoded {
                plain: Bytes::new(),
                failed: Some(e),
            };
        }
        self.decode_from(self.layers.len() - 1, rest)
    }

    /// Switches `layer` on at `index` of the chain (0: outermost), outside
    /// the layers from `index` inward: for the bytes of later reads, and
    /// for plaintext queued in `out` after this call. Unlike
    /// [`Transport::push_inner`], the rest of the current read does not
    /// pass through it (it was decoded by the inner layers already); the
    /// caller parses it as it is, as nats-server does when S2 starts
    /// under an already framed WebSocket (its S2 stream carries the
    /// frames).
    pub fn insert(&mut self, index: usize, layer: Layer, out: &Outbound) {
        debug_assert!(self.layers.len() < MAX_LAYERS, "a layer switched on twice");
        let write_from = self.plain_taken + out.queued() as u64;
        let index = index.min(self.layers.len());
        self.layers.insert(index, Slot { layer, write_from });
    }

    /// Takes everything queued in `out`, encodes it, and appends the wire
    /// chunks to `dst`; returns the number of wire bytes appended (what the
    /// driver will report with `handle_written`). Call on a flush, also
    /// when `out` is empty but [`Transport::wants_write`] is true. Without
    /// layers this is [`Outbound::take`].
    ///
    /// The plaintext stays pending in `out` until [`Transport::written`]
    /// credits it. An error appends nothing and means nothing more can be
    /// written: close the connection without flushing.
    pub fn take(
        &mut self,
        out: &mut Outbound,
        dst: &mut Vec<Bytes>,
    ) -> Result<usize, TransportError> {
        if let Some(e) = self.write_failed {
            return Err(e);
        }
        if self.layers.is_empty() {
            let n = out.take(dst);
            self.plain_taken += n as u64;
            self.ledger.push_identity(n);
            return Ok(n);
        }
        let before = dst.len();
        let result = self.take_layered(out, dst);
        if let Err(e) = result {
            self.write_failed = Some(e);
            self.scratch = Scratch::default();
            dst.truncate(before);
        }
        result
    }

    /// Records that `n` wire bytes handed out by [`Transport::take`] reached
    /// the socket; credits the plaintext they delivered to `out` (which
    /// lowers [`Outbound::pending`]) and returns that plaintext count.
    pub fn written(&mut self, n: usize, out: &mut Outbound) -> usize {
        let plain = self.ledger.written(n);
        out.written(plain);
        plain
    }

    /// Wire bytes handed to the driver and not yet reported written. The
    /// write deadline runs while this is above zero (the plaintext in
    /// flight can be zero while a layer's own bytes are still unwritten).
    pub fn wire_in_flight(&self) -> usize {
        self.ledger.wire_in_flight()
    }

    /// Plaintext bytes taken from the queue that the peer has not yet
    /// received (in wire bytes not yet written, or held by a layer). Equal
    /// to [`Outbound::in_flight`] of the connection's queue.
    pub fn plain_in_flight(&self) -> usize {
        self.ledger.plain_in_flight()
    }

    /// Whether a layer has bytes of its own to send (a handshake message, a
    /// pong). Check after [`Transport::decode`] and
    /// [`Transport::push_inner`]: a flush is needed even if the outbound
    /// queue is empty.
    pub fn wants_write(&self) -> bool {
        self.layers.iter().any(|s| s.layer.wants_write())
    }

    /// Input bytes the layers hold while waiting for the rest of a record,
    /// frame or chunk. Each layer bounds its share.
    pub fn buffered(&self) -> usize {
        self.layers.iter().map(|s| s.layer.buffered()).sum()
    }

    /// Whether a layer has decoded output pending without new input: S2
    /// and WebSocket stop decoding a read once a call has produced a
    /// budget of plaintext (a decompression bomb must not decode all at
    /// once) and keep the rest of the read. After parsing the plaintext of a read,
    /// the engine calls `decode(Bytes::new())` and parses the result,
    /// repeatedly, while this is true, before handing in the next read
    /// (each such call decodes at least one more chunk, so it ends).
    pub fn has_pending(&self) -> bool {
        self.layers.iter().any(|s| s.layer.has_pending())
    }

    /// Asks every layer to end its stream properly (a TLS close_notify, a
    /// WebSocket close frame) after the data of the next take. Call when
    /// closing a connection after flushing, before the last take; without
    /// layers it does nothing.
    pub fn queue_goodbye(&mut self) {
        for slot in &mut self.layers {
            slot.layer.queue_goodbye();
        }
    }

    /// The TLS layer, if the connection has one.
    pub fn tls(&self) -> Option<&TlsLayer> {
        self.layers.iter().find_map(|s| match s.layer {
            Layer::Tls(ref t) => Some(&**t),
            Layer::S2(_) | Layer::Ws(_) => None,
            #[cfg(test)]
            Layer::Framed(_) => None,
        })
    }

    /// The S2 compression layer, if the connection has one.
    pub fn s2(&self) -> Option<&S2Layer> {
        self.layers.iter().find_map(|s| match s.layer {
            Layer::S2(ref l) => Some(l),
            Layer::Tls(_) | Layer::Ws(_) => None,
            #[cfg(test)]
            Layer::Framed(_) => None,
        })
    }

    /// The S2 compression layer, mutably (to change its level).
    pub fn s2_mut(&mut self) -> Option<&mut S2Layer> {
        self.layers.iter_mut().find_map(|s| match s.layer {
            Layer::S2(ref mut l) => Some(l),
            Layer::Tls(_) | Layer::Ws(_) => None,
            #[cfg(test)]
            Layer::Framed(_) => None,
        })
    }

    /// The WebSocket layer, if the connection has one.
    pub fn ws(&self) -> Option<&WsLayer> {
        self.layers.iter().find_map(|s| match s.layer {
            Layer::Ws(ref l) => Some(&**l),
            Layer::Tls(_) | Layer::S2(_) => None,
            #[cfg(test)]
            Layer::Framed(_) => None,
        })
    }

    /// Where the WebSocket layer is in the chain, if there is one.
    pub fn ws_index(&self) -> Option<usize> {
        self.layers
            .iter()
            .position(|s| matches!(s.layer, Layer::Ws(_)))
    }

    /// The WebSocket layer, mutably (to choose its close frame).
    pub fn ws_mut(&mut self) -> Option<&mut WsLayer> {
        self.layers.iter_mut().find_map(|s| match s.layer {
            Layer::Ws(ref mut l) => Some(&mut **l),
            Layer::Tls(_) | Layer::S2(_) => None,
            #[cfg(test)]
            Layer::Framed(_) => None,
        })
    }

    /// Whether a TLS layer is on and still in its handshake.
    pub fn tls_handshaking(&self) -> bool {
        self.tls().is_some_and(TlsLayer::is_handshaking)
    }

    /// How many layers are on.
    pub fn layers(&self) -> usize {
        self.layers.len()
    }

    /// Decodes `data` (already decoded by the first `first` layers)
    /// through the layers from `first` inward: the rest of a read after
    /// the op that switched layer `first` on with [`Transport::push_inner`]
    /// and no rest.
    pub fn decode_from_layer(&mut self, first: usize, data: Bytes) -> Decoded {
        if let Some(e) = self.read_failed {
            return Decoded {
                plain: Bytes::new(),
                failed: Some(e),
            };
        }
        self.decode_from(first.min(self.layers.len()), data)
    }

    /// Runs `data` through the layers from `first` inward.
    fn decode_from(&mut self, first: usize, mut data: Bytes) -> Decoded {
        let mut failed = None;
        let mut failed_at = first;
        for (i, slot) in self.layers.iter_mut().enumerate().skip(first) {
            let d = slot.layer.decode(data);
            data = d.plain;
            // An inner layer fails inside bytes the outer ones decoded
            // before they failed: its failure comes first in the stream.
            if d.failed.is_some() {
                failed = d.failed;
                failed_at = i;
            }
        }
        // A layer inside the failed one still holds input from before the
        // failure (S2 stopped at its plaintext budget): the failure waits
        // until that input is decoded by the empty decodes that follow.
        let inside = self.layers.get(failed_at + 1..).unwrap_or_default();
        if failed.is_some() && inside.iter().any(|s| s.layer.has_pending()) {
            self.deferred_failure = failed.take();
        }
        if failed.is_none() && !self.has_pending() {
            failed = self.deferred_failure.take();
        }
        if failed.is_some() {
            self.read_failed = failed;
        }
        Decoded {
            plain: data,
            failed,
        }
    }

    /// The write path with layers: the taken plaintext is cut where layers
    /// switch on, and each segment is encoded by the layers on for it.
    fn take_layered(
        &mut self,
        out: &mut Outbound,
        dst: &mut Vec<Bytes>,
    ) -> Result<usize, TransportError> {
        let Scratch {
            plain,
            segment,
            next,
        } = &mut self.scratch;
        let n = out.take(plain);
        let end = self.plain_taken + n as u64;
        let mut pos = self.plain_taken;
        self.plain_taken = end;
        let mut chunk = 0;
        let mut wire_total = 0;
        loop {
            // The layers on for the segment from `pos` (those switched on
            // at or before it; one inserted outside another may switch on
            // later), and where the next one switches on.
            let next_switch = self
                .layers
                .iter()
                .map(|s| s.write_from)
                .filter(|&w| w > pos)
                .min();
            let seg_end = next_switch.map_or(end, |w| w.min(end));
            let seg_len = (seg_end - pos) as usize;
            cut(plain, &mut chunk, seg_len, segment);
            let own = self
                .layers
                .iter()
                .any(|s| s.write_from <= pos && s.layer.wants_write());
            if seg_len > 0 || own {
                let mut on = 0;
                for slot in self.layers.iter_mut().rev().filter(|s| s.write_from <= pos) {
                    next.clear();
                    slot.layer.encode(segment, next)?;
                    std::mem::swap(segment, next);
                    on += 1;
                }
                let wire: usize = segment.iter().map(Bytes::len).sum();
                if on == 0 {
                    self.ledger.push_identity(wire);
                } else {
                    self.ledger.push(wire, seg_len);
                }
                wire_total += wire;
                dst.append(segment);
            }
            pos = seg_end;
            // A layer switching on exactly at the end still gets its turn
            // (with no plaintext) to send its own bytes.
            let switch_due = next_switch.is_some_and(|w| w <= end);
            if pos == end && !switch_due {
                break;
            }
        }
        plain.clear();
        Ok(wire_total)
    }
}

/// The input of a decode for a layer that stops at a plaintext budget
/// (S2, WebSocket): what it held back from earlier reads, then `input`
/// (a read handed in before the held input was drained follows it). No
/// copy unless both are non-empty.
fn after_held(held: &mut Bytes, input: Bytes) -> Bytes {
    if held.is_empty() {
        input
    } else if input.is_empty() {
        std::mem::take(held)
    } else {
        let mut joined = bytes::BytesMut::with_capacity(held.len() + input.len());
        joined.extend_from_slice(held);
        joined.extend_from_slice(&input);
        *held = Bytes::new();
        joined.freeze()
    }
}

/// Moves the next `len` bytes of `chunks` (from chunk `*at` on) into
/// `segment`, splitting a chunk where the segment ends (no copy).
fn cut(chunks: &mut [Bytes], at: &mut usize, mut len: usize, segment: &mut Vec<Bytes>) {
    segment.clear();
    while len > 0 {
        let Some(c) = chunks.get_mut(*at) else {
            // Unreachable: segments cover exactly the bytes taken.
            return;
        };
        if c.len() <= len {
            len -= c.len();
            segment.push(std::mem::take(c));
            *at += 1;
        } else {
            segment.push(c.split_to(len));
            len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::framed::{self, Framed, DATA, HEADER, PING, PONG};
    use super::*;
    use crate::proto::{ClientOp, Limits, Parser};
    use proptest::prelude::*;

    const LIMITS: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
        headers: false,
        dialect: crate::proto::Dialect::Client,
    };

    fn toy(max_frame: usize) -> Layer {
        Layer::Framed(Framed::new(max_frame))
    }

    /// A connection that switched a toy layer (64-byte frames) on with
    /// `before` already queued.
    fn switched_after(before: &[u8]) -> (Transport, Outbound) {
        let mut t = Transport::default();
        let mut out = Outbound::default();
        out.push_slice(before);
        assert_eq!(t.push_inner(toy(64), Bytes::new(), &out).failed, None);
        (t, out)
    }

    /// Takes everything queued: the wire bytes and the count `take` gave.
    fn take_all(t: &mut Transport, out: &mut Outbound) -> (Vec<u8>, usize) {
        let mut dst = Vec::new();
        let n = t.take(out, &mut dst).expect("no failure");
        (dst.concat(), n)
    }

    /// `stream` cut into reads at `cuts` (sorted, clamped).
    fn reads(stream: &[u8], cuts: &[usize]) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
            let end = end.clamp(start, stream.len());
            out.push(Bytes::copy_from_slice(&stream[start..end]));
            start = end;
        }
        out
    }

    /// Does what the engine's read loop does: decode each read, parse ops,
    /// and switch a toy layer on after every `INFO` (frames of `max_frame`
    /// bytes), handing it the rest of the read.
    fn engine_reads(reads: Vec<Bytes>, max_frame: usize) -> (Vec<ClientOp>, Transport) {
        let mut t = Transport::default();
        let out = Outbound::default();
        let mut parser = Parser::new();
        let mut ops = Vec::new();
        for read in reads {
            let d = t.decode(read);
            assert_eq!(d.failed, None);
            let mut data = d.plain;
            while let Some(op) = parser.decode(&mut data, &LIMITS).expect("valid stream") {
                let switch = matches!(op, ClientOp::Info(_));
                ops.push(op);
                if switch {
                    let rest = std::mem::take(&mut data);
                    let d = t.push_inner(toy(max_frame), rest, &out);
                    assert_eq!(d.failed, None);
                    data = d.plain;
                }
            }
        }
        (ops, t)
    }

    fn ping_info_pub_ping() -> Vec<ClientOp> {
        vec![
            ClientOp::Ping,
            ClientOp::Info(Bytes::from_static(b"{}")),
            ClientOp::Pub {
                subject: Bytes::from_static(b"a"),
                reply: None,
                payload: Bytes::from_static(b"hi"),
            },
            ClientOp::Ping,
        ]
    }

    /// Plain `PING` and `INFO`, then `PUB` and `PING` in toy frames.
    fn switched_stream(max_frame: usize) -> Vec<u8> {
        let mut s = b"PING\r\nINFO {}\r\n".to_vec();
        s.extend(framed::frame_all(
            DATA,
            b"PUB a 2\r\nhi\r\nPING\r\n",
            max_frame,
        ));
        s
    }

    #[test]
    fn plaintext_read_is_the_same_bytes() {
        let mut t = Transport::default();
        let wire = Bytes::from(b"PUB a 5\r\nhello\r\n".to_vec());
        let d = t.decode(wire.clone());
        assert_eq!(d.failed, None);
        assert_eq!(d.plain.as_ptr(), wire.as_ptr());
        assert_eq!(d.plain.len(), wire.len());
        assert!(t.is_plain());
        assert_eq!(t.buffered(), 0);
        assert!(!t.wants_write());
    }

    #[test]
    fn plaintext_write_is_the_queued_chunks() {
        let mut t = Transport::default();
        let mut out = Outbound::default();
        let big = Bytes::from(vec![b'x'; 5000]);
        out.push_slice(b"MSG a 1 5000\r\n");
        out.push_payload(&big);
        out.push_slice(b"\r\n");
        let mut dst = Vec::new();
        let n = t.take(&mut out, &mut dst).expect("plaintext never fails");
        assert_eq!(n, 14 + 5000 + 2);
        assert!(dst.iter().any(|c| c.as_ptr() == big.as_ptr()));
        assert_eq!((t.wire_in_flight(), out.pending()), (n, n));
        assert_eq!(t.written(10, &mut out), 10);
        assert_eq!(out.pending(), n - 10);
        assert_eq!(t.written(n - 10, &mut out), n - 10);
        assert_eq!((t.wire_in_flight(), out.pending()), (0, 0));
    }

    #[test]
    fn plaintext_path_does_not_allocate() {
        let mut t = Transport::default();
        let mut out = Outbound::default();
        let mut dst = Vec::with_capacity(8);
        let read = Bytes::from(b"PING\r\n".to_vec());
        let mut round = |t: &mut Transport, out: &mut Outbound| {
            let d = t.decode(read.clone());
            assert!(d.failed.is_none() && d.plain.as_ptr() == read.as_ptr());
            out.push_slice(b"PONG\r\n");
            let n = t.take(out, &mut dst).expect("plaintext never fails");
            assert_eq!(t.written(n, out), n);
            dst.clear();
        };
        // The first round sets up the queue's line buffer.
        round(&mut t, &mut out);
        let info = allocation_counter::measure(|| {
            for _ in 0..100 {
                round(&mut t, &mut out);
            }
        });
        assert_eq!(info.count_total, 0);
    }

    #[test]
    fn two_switches_in_one_take_nest_in_order() {
        let (mut t, mut out) = switched_after(b"INFO {}\r\n");
        out.push_slice(b"X");
        assert_eq!(t.push_inner(toy(64), Bytes::new(), &out).failed, None);
        out.push_slice(b"Y");
        let (wire, n) = take_all(&mut t, &mut out);
        let mut want = b"INFO {}\r\n".to_vec();
        want.extend(framed::frame_all(DATA, b"X", 64));
        let inner = framed::frame_all(DATA, b"Y", 64);
        want.extend(framed::frame_all(DATA, &inner, 64));
        assert_eq!(wire, want);
        assert_eq!((n, out.pending()), (want.len(), 9 + 2));
        assert_eq!(t.written(n - 1, &mut out), 9 + 1);
        assert_eq!(t.written(1, &mut out), 1);
        assert_eq!(out.pending(), 0);
    }

    #[test]
    fn the_switch_holds_at_every_split_point() {
        for max_frame in [1, 3, 64] {
            let stream = switched_stream(max_frame);
            for cut in 0..=stream.len() {
                let (ops, t) = engine_reads(reads(&stream, &[cut]), max_frame);
                assert_eq!(
                    ops,
                    ping_info_pub_ping(),
                    "max_frame {max_frame}, cut at {cut}"
                );
                assert_eq!(t.buffered(), 0);
            }
            let bytes = (1..stream.len()).collect::<Vec<_>>();
            let (ops, _) = engine_reads(reads(&stream, &bytes), max_frame);
            assert_eq!(ops, ping_info_pub_ping(), "one byte a read");
        }
    }

    #[test]
    fn a_layer_switched_on_later_goes_inside() {
        // INFO switches the outer toy on; inside it a second INFO switches
        // an inner toy on, whose frames are carried in the outer frames.
        let inner = framed::frame_all(DATA, b"PUB a 2\r\nhi\r\nPING\r\n", 5);
        let mut middle = b"INFO {}\r\n".to_vec();
        middle.extend(inner);
        let mut stream = b"PING\r\nINFO {}\r\n".to_vec();
        stream.extend(framed::frame_all(DATA, &middle, 7));
        let mut want = ping_info_pub_ping();
        want.insert(2, ClientOp::Info(Bytes::from_static(b"{}")));
        for cut in 0..=stream.len() {
            let (ops, t) = engine_reads(reads(&stream, &[cut]), 7);
            assert_eq!(ops, want, "cut at {cut}");
            assert_eq!(t.layers.len(), 2);
        }
    }

    #[test]
    fn queued_plaintext_goes_out_under_the_old_chain() {
        // A client port asking for TLS: INFO is queued, then the layer
        // switches on; what follows is inside it.
        let (mut t, mut out) = switched_after(b"INFO {}\r\n");
        out.push_slice(b"PONG\r\n");
        let (wire, n) = take_all(&mut t, &mut out);
        let mut want = b"INFO {}\r\n".to_vec();
        want.extend(framed::frame_all(DATA, b"PONG\r\n", 64));
        assert_eq!((wire, n), (want.clone(), want.len()));
        // An accepting route: the layer switches on first, its INFO is
        // queued after and goes out inside it.
        let (mut t, mut out) = switched_after(b"");
        out.push_slice(b"INFO {}\r\n");
        let (wire, _) = take_all(&mut t, &mut out);
        assert_eq!(wire, framed::frame_all(DATA, b"INFO {}\r\n", 64));
    }

    #[test]
    fn bytes_in_flight_at_the_switch_stay_plain() {
        let mut t = Transport::default();
        let mut out = Outbound::default();
        out.push_slice(b"INFO {}\r\n");
        let mut dst = Vec::new();
        assert_eq!(t.take(&mut out, &mut dst), Ok(9));
        assert_eq!(t.push_inner(toy(64), Bytes::new(), &out).failed, None);
        out.push_slice(b"PING\r\n");
        let n = t.take(&mut out, &mut dst).expect("no failure");
        assert_eq!(n, HEADER + 6);
        assert_eq!(out.pending(), 9 + 6);
        assert_eq!(t.written(9, &mut out), 9);
        assert_eq!(t.written(HEADER + 5, &mut out), 5);
        assert_eq!(out.pending(), 1);
        assert_eq!(t.written(1, &mut out), 1);
        assert_eq!((out.pending(), t.wire_in_flight()), (0, 0));
    }

    #[test]
    fn own_bytes_are_sent_and_weigh_nothing_in_pending() {
        let mut t = Transport::default();
        let mut out = Outbound::default();
        let d = t.push_inner(
            toy(64),
            Bytes::from(framed::frame_all(PING, b"x", 64)),
            &out,
        );
        assert!(d.plain.is_empty() && d.failed.is_none());
        assert!(t.wants_write());
        let mut dst = Vec::new();
        let n = t.take(&mut out, &mut dst).expect("no failure");
        assert_eq!(dst.concat(), framed::frame_all(PONG, b"x", 64));
        assert_eq!(
            (n, t.wire_in_flight(), out.pending()),
            (HEADER + 1, HEADER + 1, 0)
        );
        assert_eq!(t.written(n, &mut out), 0);
        assert_eq!(t.wire_in_flight(), 0);
    }

    #[test]
    fn a_failure_keeps_what_came_before_it_and_sticks() {
        let mut t = Transport::default();
        let out = Outbound::default();
        let mut rest = framed::frame_all(DATA, b"PING\r\n", 64);
        rest.extend_from_slice(&[DATA, 0xff, 0xff]);
        let d = t.push_inner(toy(64), Bytes::from(rest), &out);
        assert_eq!(&d.plain[..], b"PING\r\n");
        let e = d.failed.expect("frame above 64");
        assert_eq!((e.kind, e.ending), (ErrorKind::TooLarge, Ending::Silent));
        let again = t.decode(Bytes::from(framed::frame_all(DATA, b"PONG\r\n", 64)));
        assert!(again.plain.is_empty());
        assert_eq!(again.failed, Some(e));
    }

    #[test]
    fn undecodable_input_stays_bounded() {
        let max_frame = 32;
        let mut t = Transport::default();
        let out = Outbound::default();
        assert_eq!(
            t.push_inner(toy(max_frame), Bytes::new(), &out).failed,
            None
        );
        // A frame that never completes: one byte a read.
        let mut stream = vec![DATA, 0, max_frame as u8];
        stream.extend(std::iter::repeat_n(b'x', max_frame - 1));
        for b in stream {
            let d = t.decode(Bytes::copy_from_slice(&[b]));
            assert!(d.plain.is_empty() && d.failed.is_none());
            assert!(t.buffered() < HEADER + max_frame);
        }
        // A frame announcing more than the limit is refused at its header,
        // before any of it is kept.
        let mut t = Transport::default();
        assert_eq!(
            t.push_inner(toy(max_frame), Bytes::new(), &out).failed,
            None
        );
        let d = t.decode(Bytes::from_static(&[DATA, 0xff, 0xff, b'x', b'x']));
        assert_eq!(d.failed.map(|e| e.kind), Some(ErrorKind::TooLarge));
        assert!(t.buffered() <= HEADER + 2);
    }

    #[test]
    fn goodbye_follows_the_last_data() {
        let (mut t, mut out) = switched_after(b"");
        out.push_slice(b"-ERR 'x'\r\n");
        t.queue_goodbye();
        assert!(t.wants_write());
        let (wire, _) = take_all(&mut t, &mut out);
        let mut want = framed::frame_all(DATA, b"-ERR 'x'\r\n", 64);
        want.extend_from_slice(&[framed::CLOSE, 0, 0]);
        assert_eq!(wire, want);
        assert!(!t.wants_write());
        out.push_slice(b"PING\r\n");
        let mut dst = Vec::new();
        let e = t.take(&mut out, &mut dst).expect_err("after goodbye");
        assert_eq!(e.kind, ErrorKind::WriteAfterClose);
        assert!(dst.is_empty());
        assert_eq!(t.take(&mut out, &mut dst), Err(e));
    }

    /// One step of a write-side run.
    #[derive(Clone, Debug)]
    enum Step {
        /// Queue this many plaintext bytes.
        Queue(usize),
        /// Switch a toy layer on (once; later ones are ignored).
        Switch,
        /// Take what is queued.
        Take,
        /// The socket accepts this many of the wire bytes in flight.
        Write(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1usize..200).prop_map(Step::Queue),
            Just(Step::Switch),
            Just(Step::Take),
            (0usize..300).prop_map(Step::Write),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any split of a plaintext byte stream into reads decodes to the
        /// stream.
        #[test]
        fn plaintext_any_split_decodes_to_the_stream(
            stream in prop::collection::vec(any::<u8>(), 0..300),
            mut cuts in prop::collection::vec(0usize..300, 0..20),
        ) {
            cuts.sort_unstable();
            let mut t = Transport::default();
            let mut decoded = Vec::new();
            for read in reads(&stream, &cuts) {
                let d = t.decode(read.clone());
                prop_assert_eq!(d.failed, None);
                prop_assert_eq!(d.plain.as_ptr(), read.as_ptr());
                decoded.extend_from_slice(&d.plain);
            }
            prop_assert_eq!(decoded, stream);
        }

        /// The switched stream, delivered in any reads, gives the same ops.
        #[test]
        fn the_switch_holds_for_any_reads(
            max_frame in 1usize..16,
            mut cuts in prop::collection::vec(0usize..120, 0..30),
        ) {
            cuts.sort_unstable();
            let stream = switched_stream(max_frame);
            let (ops, _) = engine_reads(reads(&stream, &cuts), max_frame);
            prop_assert_eq!(ops, ping_info_pub_ping());
        }

        /// Queue, switch, take and partial writes in any order: pending
        /// (plaintext) is queued plus taken-but-unwritten plaintext, falls
        /// to zero exactly when every wire byte is reported written, and
        /// the wire is the plaintext before the switch followed by the
        /// frames of the plaintext after it.
        #[test]
        fn pending_is_plaintext_and_ends_with_the_last_wire_byte(
            steps in prop::collection::vec(step(), 0..60),
            max_frame in 1usize..50,
        ) {
            let mut t = Transport::default();
            let mut out = Outbound::default();
            let mut plain = Vec::new();
            let mut switch_at = None;
            let mut wire = Vec::new();
            let mut dst = Vec::new();
            let mut written = 0;
            let mut credited = 0;
            let finish = [Step::Take, Step::Write(usize::MAX)];
            for s in steps.iter().chain(finish.iter()) {
                match *s {
                    Step::Queue(n) => {
                        let start = plain.len();
                        plain.extend((start..start + n).map(|i| i as u8));
                        out.push_slice(&plain[start..]);
                    }
                    Step::Switch if switch_at.is_none() => {
                        switch_at = Some(plain.len());
                        let d = t.push_inner(toy(max_frame), Bytes::new(), &out);
                        prop_assert!(d.plain.is_empty() && d.failed.is_none());
                    }
                    Step::Switch => {}
                    Step::Take => {
                        let n = t.take(&mut out, &mut dst).expect("toy encodes anything");
                        let got: usize = dst.iter().map(Bytes::len).sum();
                        prop_assert_eq!(n, got);
                        wire.extend(dst.drain(..).flat_map(|c| c.to_vec()));
                    }
                    Step::Write(n) => {
                        let n = n.min(wire.len() - written);
                        written += n;
                        credited += t.written(n, &mut out);
                    }
                }
                prop_assert_eq!(out.in_flight(), t.plain_in_flight());
                prop_assert_eq!(out.pending(), out.queued() + t.plain_in_flight());
                prop_assert_eq!(t.wire_in_flight(), wire.len() - written);
                prop_assert_eq!(out.pending() + credited, plain.len());
                prop_assert_eq!(out.pending() == 0, out.queued() == 0 && t.wire_in_flight() == 0);
            }
            prop_assert_eq!(out.pending(), 0);
            // Before the switch the wire is the plaintext itself.
            let split = switch_at.unwrap_or(plain.len());
            prop_assert_eq!(&wire[..split], &plain[..split]);
            // The framed part decodes back to the plaintext after the switch.
            let mut peer = Framed::new(max_frame);
            let d = peer.decode(Bytes::copy_from_slice(&wire[split..]));
            prop_assert_eq!(d.failed, None);
            prop_assert_eq!(&d.plain[..], &plain[split..]);
        }
    }
}
