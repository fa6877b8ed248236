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
//!   smaller budget depending on how well its data compresses.
//!   nats-server does not hide this either: its TLS writer reports
//!   plaintext, so for a TLS client the two agree exactly.
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
//! makes it panic.

mod error;
mod ledger;

pub use error::{Ending, ErrorKind, TransportError};
pub use ledger::WireLedger;

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
/// Variants to come, in the order they usually stack (each an own module
/// under `transport/`): `Tls` (rustls' buffered API: `read_tls`,
/// `process_new_packets`, `reader` for decode; `writer`, `write_tls` for
/// encode; its handshake bytes are its own output), `WebSocket` (framing,
/// masking, permessage-deflate; pongs and close frames are its own output)
/// and `S2` (the framed stream of section 1.13). Each variant adds one arm
/// to each method below and its own split-read tests.
#[derive(Debug)]
#[non_exhaustive]
pub enum Layer {}

// Until the first layer lands, `Layer` has no values, so the arguments of
// its methods are never read.
#[allow(unused_variables, clippy::ptr_arg)]
impl Layer {
    /// Decodes bytes from the outer side into bytes for the inner side
    /// (possibly none). A partial unit stays buffered, bounded. Bytes
    /// decoded before a failure are returned with it.
    fn decode(&mut self, input: Bytes) -> Decoded {
        match *self {}
    }

    /// Encodes `input` (inner side) onto `out` (outer side), with any bytes
    /// the layer sends on its own placed where its format needs them.
    fn encode(&mut self, input: &[Bytes], out: &mut Vec<Bytes>) -> Result<(), TransportError> {
        match *self {}
    }

    /// Whether the layer has bytes of its own to send.
    fn wants_write(&self) -> bool {
        match *self {}
    }

    /// Input bytes held while waiting for the rest of a unit.
    fn buffered(&self) -> usize {
        match *self {}
    }

    /// Queues the layer's goodbye, to follow the data of the next encode.
    fn queue_goodbye(&mut self) {
        match *self {}
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
    /// `wire` itself (no copy). Decoding an empty read is harmless.
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
        self.decode_from(0, wire)
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

    /// Asks every layer to end its stream properly (a TLS close_notify, a
    /// WebSocket close frame) after the data of the next take. Call when
    /// closing a connection after flushing, before the last take; without
    /// layers it does nothing.
    pub fn queue_goodbye(&mut self) {
        for slot in &mut self.layers {
            slot.layer.queue_goodbye();
        }
    }

    /// Runs `data` through the layers from `first` inward.
    fn decode_from(&mut self, first: usize, mut data: Bytes) -> Decoded {
        let mut failed = None;
        for slot in &mut self.layers[first..] {
            let d = slot.layer.decode(data);
            data = d.plain;
            // An inner layer fails inside bytes the outer ones decoded
            // before they failed: its failure comes first in the stream.
            if d.failed.is_some() {
                failed = d.failed;
            }
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
            let on = self
                .layers
                .iter()
                .take_while(|s| s.write_from <= pos)
                .count();
            let seg_end = self.layers.get(on).map_or(end, |s| s.write_from.min(end));
            let seg_len = (seg_end - pos) as usize;
            cut(plain, &mut chunk, seg_len, segment);
            let own = self.layers[..on].iter().any(|s| s.layer.wants_write());
            if seg_len > 0 || own {
                for slot in self.layers[..on].iter_mut().rev() {
                    next.clear();
                    slot.layer.encode(segment, next)?;
                    std::mem::swap(segment, next);
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
            let switch_due = self.layers.get(on).is_some_and(|s| s.write_from <= end);
            if pos == end && !switch_due {
                break;
            }
        }
        plain.clear();
        Ok(wire_total)
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
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
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
    }
}
