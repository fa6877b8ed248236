//! The WebSocket layer (RFC 6455, permessage-deflate of RFC 7692), as
//! nats-server 2.15.1 speaks it on its websocket port and on a leaf's
//! `ws://` remote.
//!
//! [`handshake`] has the HTTP upgrade, both roles, as pure functions. The
//! layer starts at the byte after the request (server) or after the 101
//! (client): [`WsLayer::new`] with the [`WsOptions`] the handshake agreed
//! ([`handshake::UpgradeRequest::server_options`],
//! [`handshake::Agreed::client_options`]), then
//! `Transport::push_inner(Layer::Ws(..), rest, out)`.
//!
//! ## Read side
//!
//! Frames are checked with nats-server's rules and texts ([`WsError`]).
//! Uncompressed data streams out as it arrives, unmasked (a frame of any
//! size is never held whole; unmasked frames come out as slices of the
//! read). A compressed message is inflated as its frames arrive, to at
//! most `max_message` bytes (nats-server's `max_payload`); its compressed
//! bytes may be at most eight times that, and 64 MiB. A ping is answered
//! with a pong (the latest only); a pong is ignored; a close frame is
//! echoed (status and body; no status, an empty close) and ends the
//! stream ([`ErrorKind::PeerClosed`], [`Ending::Flush`],
//! `ClientClosed`). What the layer holds between reads is at most a frame
//! header and a control frame's payload (14 + 125 bytes), or the rest of
//! a read that reached the plaintext budget (below).
//!
//! A frame that breaks a rule, a message above the limit and data that
//! does not inflate end the connection as nats-server's `read error`
//! does: [`Ending::Silent`] with `ReadError`. (nats-server queues a close
//! frame with status 1002 for the rule breaks, but its read error closes
//! without flushing, and 2.15.1 was never seen to send it.)
//!
//! ## The plaintext budget of a call
//!
//! Each compressed message inflates to at most `max_message`, but one
//! read can hold hundreds of small compressed messages (deflate reaches
//! about 1000:1: 64 KiB of zeros take under 100 bytes on the wire), so a
//! 256 KiB read could inflate to gigabytes. `WsLayer::decode` therefore
//! stops once the plaintext of the call has reached the budget,
//! `max(max_message, 64 KiB)`: it checks before each frame header and
//! each piece of a data frame's payload. Uncompressed data is cut to fill
//! the budget exactly (still as slices of the read); a compressed piece
//! inflates to at most the rest of its message. So one call returns less
//! than budget + `max_message` bytes (at most one message past the
//! budget; below twice the budget); the buffer it is inflated into grows
//! by doubling, so a call allocates about twice that at most (plus the
//! inflater's state, once).
//!
//! The rest of the call's input is kept undecoded (a slice of the read,
//! no copy), at a frame header or inside a data frame's payload, never
//! together with a partial header or control frame, and
//! `WsLayer::has_pending` says so. The engine calls
//! [`super::Transport::decode`] with an empty input, and parses what it
//! returns, while [`super::Transport::has_pending`] is true; each such call
//! goes on from what is kept, in order, with the same budget, and decodes
//! at least one byte, so draining ends. What is kept is at most the read
//! the engine handed in (256 KiB at most) as long as it drains before the
//! next read (a read handed in earlier is decoded after what is kept, in
//! order, but adds to it). Pings, pongs and close frames in the kept
//! input are handled when it is decoded: their pong or close echo is
//! queued then, and a failure there (a rule broken, the peer's close)
//! comes with the call that reaches it, after the plaintext before it.
//!
//! ## Write side
//!
//! Everything taken in one flush goes out as one binary message: one
//! frame (header plus the plaintext chunks as they are, no copy, when not
//! masking), or, for browsers (`frame_limit`), frames of at most 4096
//! bytes. With permessage-deflate a flush of more than 64 bytes is
//! compressed on its own (no context takeover) into one message with
//! RSV1, the sync-flush tail left off; browsers other than Safari get it
//! in 4096-byte fragments. A pong goes before the data, a close frame
//! after it; nothing may follow a close frame
//! ([`ErrorKind::WriteAfterClose`]). A client masks every frame with a
//! fresh key from a seeded generator.

mod deflate;
mod frame;
pub mod handshake;
#[cfg(test)]
mod tests;

pub use frame::WsError;

use super::{Decoded, Ending, ErrorKind, TransportError};
use crate::events::CloseReason;
use bytes::{Bytes, BytesMut};
use deflate::{Deflater, InflateError, Inflater};
use frame::{Parsed, Rules, MAX_CONTROL_PAYLOAD, MAX_HEADER};

/// Largest frame nats-server writes to a browser (`wsFrameSizeForBrowsers`).
pub const BROWSER_FRAME_SIZE: usize = 4096;

/// A flush of at most this many bytes is not compressed
/// (`wsCompressThreshold`).
pub const COMPRESS_THRESHOLD: usize = 64;

/// Upper bound of a compressed message's compressed bytes, whatever
/// `max_message` (`wsMaxMsgPayloadLimit`); below it, eight times
/// `max_message`.
pub const MAX_COMPRESSED_MESSAGE: usize = 64 * 1024 * 1024;

/// The sync-flush tail and final empty block nats-server appends before
/// inflating; it counts against the compressed bound.
const FINAL_BLOCK_LEN: u64 = 9;

/// The smallest plaintext budget of a decode call; the budget is
/// `max(max_message, MIN_READ_BUDGET)` (see the module documentation).
const MIN_READ_BUDGET: usize = 64 * 1024;

/// Which end of the connection the layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsRole {
    /// The accepting side (a websocket port).
    Server,
    /// The dialing side (a leaf's `ws://` remote).
    Client,
}

/// What the handshake agreed, and nats-server's per-peer frame choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsOptions {
    /// Which end this is.
    pub role: WsRole,
    /// permessage-deflate is on.
    pub compress: bool,
    /// Mask written frames (a client, unless no masking was agreed).
    pub mask: bool,
    /// Refuse unmasked frames (a server reading a peer that did not ask
    /// for no masking).
    pub require_masked: bool,
    /// Largest size a compressed message may inflate to (nats-server's
    /// `max_payload`).
    pub max_message: usize,
    /// Largest payload of a written frame, 0 for no limit (nats-server
    /// limits browsers to [`BROWSER_FRAME_SIZE`]).
    pub frame_limit: usize,
    /// Whether a compressed message may be split at `frame_limit` (not for
    /// Safari).
    pub fragment_compressed: bool,
}

/// Maps the reason nats-server closes a WebSocket connection for to the
/// status of its close frame (`wsEnqueueCloseMessage`); the body is the
/// reason's text. nats-server sends no close frame when it closes without
/// flushing (read and write errors, slow consumers, TLS failures).
pub fn close_status(reason: CloseReason) -> u16 {
    match reason {
        CloseReason::ClientClosed => 1000,
        CloseReason::AuthenticationTimeout
        | CloseReason::AuthenticationViolation
        | CloseReason::SlowConsumerPendingBytes
        | CloseReason::SlowConsumerWriteDeadline
        | CloseReason::MaxConnectionsExceeded
        | CloseReason::MaxControlLineExceeded
        | CloseReason::AuthenticationExpired
        | CloseReason::Revocation
        | CloseReason::MaxAccountConnectionsExceeded => 1008,
        CloseReason::TlsHandshakeError => 1015,
        CloseReason::ParseError
        | CloseReason::ProtocolViolation
        | CloseReason::BadClientProtocolVersion => 1002,
        CloseReason::MaxPayloadExceeded => 1009,
        CloseReason::WriteError
        | CloseReason::ReadError
        | CloseReason::StaleConnection
        | CloseReason::ServerShutdown => 1001,
        CloseReason::NoRespondersRequiresHeaders
        | CloseReason::DuplicateRoute
        | CloseReason::ClusterNameConflict
        | CloseReason::RouteRemoved
        | CloseReason::DuplicateRemoteLeafnode
        | CloseReason::ClusterNamesIdentical
        | CloseReason::WrongPort
        | CloseReason::WrongGateway => 1011,
    }
}

/// One connection's WebSocket framing, in either role.
pub struct WsLayer {
    opts: WsOptions,
    /// SplitMix64 state for masking keys.
    rng: u64,
    /// Bytes of a frame header split across reads.
    hdr: [u8; MAX_HEADER],
    hdr_len: usize,
    /// Where the reader is.
    state: ReadState,
    /// A control frame's payload, gathered.
    ctl: [u8; MAX_CONTROL_PAYLOAD],
    ctl_len: usize,
    /// A data message is open: its final frame has not come.
    in_message: bool,
    /// The data frame being read has FIN.
    frame_fin: bool,
    /// The message being read is compressed.
    compressed: bool,
    /// Compressed bytes of that message so far.
    compressed_in: u64,
    inflater: Option<Box<Inflater>>,
    /// Plaintext of the current read, when it is not one slice of it.
    decoded: BytesMut,
    /// Unmasked compressed bytes, before inflating.
    scratch: Vec<u8>,
    /// Input not read yet because a call reached its plaintext budget
    /// (the rest of that call's input, a slice of it); starts at a frame
    /// header or inside a data frame's payload, never with `hdr` or `ctl`
    /// partly filled.
    held: Bytes,
    failed: Option<TransportError>,
    error: Option<WsError>,
    /// A pong owed (payload of the latest ping).
    pong: Option<ControlPayload>,
    /// The close frame to send after the data of the next encode.
    close: Option<ControlPayload>,
    /// The close frame went out.
    close_sent: bool,
    /// Frame headers, control frames and masked copies, handed out as
    /// frozen slices (no allocation per flush once grown).
    wire: BytesMut,
    /// Compressed payloads.
    deflated: BytesMut,
    deflater: Option<Box<Deflater>>,
}

/// A control frame's payload, kept without allocating.
#[derive(Clone, Copy)]
struct ControlPayload {
    bytes: [u8; MAX_CONTROL_PAYLOAD],
    len: usize,
}

impl ControlPayload {
    fn new(parts: &[&[u8]]) -> Self {
        let mut p = ControlPayload {
            bytes: [0; MAX_CONTROL_PAYLOAD],
            len: 0,
        };
        for part in parts {
            let n = part.len().min(MAX_CONTROL_PAYLOAD - p.len);
            p.bytes[p.len..p.len + n].copy_from_slice(&part[..n]);
            p.len += n;
        }
        p
    }

    /// A close payload: the status, then `text` cut as nats-server cuts
    /// it (`wsCreateCloseMessage`: past 123 bytes, 120 and `...`).
    fn close(status: u16, text: &str) -> Self {
        let status = status.to_be_bytes();
        let body = text.as_bytes();
        if body.len() > MAX_CONTROL_PAYLOAD - 2 {
            Self::new(&[&status, &body[..MAX_CONTROL_PAYLOAD - 5], b"..."])
        } else {
            Self::new(&[&status, body])
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Where the reader is between bytes.
#[derive(Clone, Copy, Debug)]
enum ReadState {
    /// At a frame header (possibly partly in `hdr`).
    Header,
    /// In a data frame's payload.
    Data {
        rem: u64,
        key: Option<[u8; 4]>,
        key_pos: usize,
    },
    /// In a control frame's payload (gathered in `ctl`).
    Control {
        opcode: u8,
        rem: usize,
        key: Option<[u8; 4]>,
    },
}

/// Where the plaintext of the current read is.
#[derive(Clone, Copy)]
enum Out {
    /// Nothing yet.
    Empty,
    /// One range of the input (unmasked, uncompressed): no copy.
    Slice(usize, usize),
    /// In `decoded`.
    Buf,
}

impl std::fmt::Debug for WsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsLayer")
            .field("opts", &self.opts)
            .field("state", &self.state)
            .field("held", &self.held.len())
            .field("error", &self.error)
            .field("close_sent", &self.close_sent)
            .finish()
    }
}

impl WsLayer {
    /// A layer with the agreed options; `seed` drives the masking keys
    /// (draw it from the engine's seeded stream).
    pub fn new(opts: WsOptions, seed: u64) -> Self {
        WsLayer {
            opts,
            rng: seed,
            hdr: [0; MAX_HEADER],
            hdr_len: 0,
            state: ReadState::Header,
            ctl: [0; MAX_CONTROL_PAYLOAD],
            ctl_len: 0,
            in_message: false,
            frame_fin: false,
            compressed: false,
            compressed_in: 0,
            inflater: None,
            decoded: BytesMut::new(),
            scratch: Vec::new(),
            held: Bytes::new(),
            failed: None,
            error: None,
            pong: None,
            close: None,
            close_sent: false,
            wire: BytesMut::new(),
            deflated: BytesMut::new(),
            deflater: None,
        }
    }

    /// Whether permessage-deflate is on.
    pub fn compress(&self) -> bool {
        self.opts.compress
    }

    /// Which end this is.
    pub fn role(&self) -> WsRole {
        self.opts.role
    }

    /// The options the layer runs with.
    pub fn options(&self) -> &WsOptions {
        &self.opts
    }

    /// Why the read side failed (for nats-server's `read error: <text>`
    /// log line); `None` when it did not, or the peer closed.
    pub fn error(&self) -> Option<WsError> {
        self.error
    }

    /// Queues a close frame with `status` and `text` (see
    /// [`close_status`]) to follow the data of the next take. Only the
    /// first close frame queued is sent, as in nats-server (an echo of the
    /// peer's close wins over a later one).
    pub fn queue_close(&mut self, status: u16, text: &str) {
        if self.close.is_none() && !self.close_sent {
            self.close = Some(ControlPayload::close(status, text));
        }
    }

    /// Queues nats-server's close frame for closing for `reason`:
    /// [`close_status`] and the reason's text.
    pub fn queue_close_for(&mut self, reason: CloseReason) {
        self.queue_close(close_status(reason), reason.text());
    }

    /// Decodes the frames `input` brings, after any input kept from an
    /// earlier call. Stops once the plaintext of this call has reached
    /// the budget (`max(max_message, 64 KiB)`, see the module
    /// documentation) and keeps the rest of the input; then
    /// [`WsLayer::has_pending`] is true, and a later call (with an empty
    /// input) goes on from there. The plaintext before a failure is
    /// returned with it.
    pub(crate) fn decode(&mut self, input: Bytes) -> Decoded {
        if let Some(e) = self.failed {
            return Decoded {
                plain: Bytes::new(),
                failed: Some(e),
            };
        }
        let input = super::after_held(&mut self.held, input);
        let mut out = Out::Empty;
        let result = self.read(&input, &mut out);
        let plain = match out {
            Out::Empty => Bytes::new(),
            Out::Slice(s, e) => input.slice(s..e),
            Out::Buf => self.decoded.split().freeze(),
        };
        match result {
            Ok(stop) => {
                if stop < input.len() {
                    // The budget stopped the call: the rest waits, as a
                    // slice of the read (no copy).
                    self.held = input.slice(stop..);
                }
                Decoded {
                    plain,
                    failed: None,
                }
            }
            Err(e) => {
                self.failed = Some(e);
                // Nothing more is read: let the buffers go.
                self.decoded = BytesMut::new();
                self.scratch = Vec::new();
                self.inflater = None;
                Decoded {
                    plain,
                    failed: Some(e),
                }
            }
        }
    }

    /// Whether input kept by a call that reached its plaintext budget is
    /// waiting to be decoded: call [`WsLayer::decode`] with an empty input
    /// (through [`super::Transport::decode`]) until it is false.
    pub(crate) fn has_pending(&self) -> bool {
        !self.held.is_empty()
    }

    /// The plaintext budget of one decode call: `max(max_message,
    /// MIN_READ_BUDGET)`.
    fn budget(&self) -> usize {
        self.opts.max_message.max(MIN_READ_BUDGET)
    }

    /// Plaintext bytes of the current call so far.
    fn out_len(&self, out: &Out) -> usize {
        match *out {
            Out::Empty => 0,
            Out::Slice(a, b) => b - a,
            Out::Buf => self.decoded.len(),
        }
    }

    fn rules(&self) -> Rules {
        Rules {
            compress: self.opts.compress,
            require_masked: self.opts.require_masked,
            in_message: self.in_message,
        }
    }

    /// Runs `input` through the frame state machine; returns where it
    /// stopped: the input's length, or an earlier position (at a frame
    /// header or inside a data frame's payload) where the plaintext of the
    /// call reached the budget.
    fn read(&mut self, input: &Bytes, out: &mut Out) -> Result<usize, TransportError> {
        let mut pos = 0;
        let budget = self.budget();
        loop {
            match self.state {
                ReadState::Header => {
                    if pos == input.len() {
                        return Ok(pos);
                    }
                    // Spent only once this call put plaintext out, so
                    // past any header bytes kept from before: `hdr_len`
                    // is 0 and the rest of the input can be kept.
                    if self.out_len(out) >= budget {
                        return Ok(pos);
                    }
                    let rules = self.rules();
                    let (header, used) = if self.hdr_len == 0 {
                        match frame::parse(&input[pos..], rules) {
                            Parsed::Done(h, n) => (h, n),
                            Parsed::Bad(e) => return Err(self.fail(e)),
                            Parsed::NeedMore => {
                                // Shorter than a header: at most 13 bytes.
                                let rest = &input[pos..];
                                self.hdr[..rest.len()].copy_from_slice(rest);
                                self.hdr_len = rest.len();
                                return Ok(input.len());
                            }
                        }
                    } else {
                        let have = self.hdr_len;
                        let take = (MAX_HEADER - have).min(input.len() - pos);
                        self.hdr[have..have + take].copy_from_slice(&input[pos..pos + take]);
                        match frame::parse(&self.hdr[..have + take], rules) {
                            Parsed::Done(h, n) => {
                                self.hdr_len = 0;
                                (h, n - have)
                            }
                            Parsed::Bad(e) => return Err(self.fail(e)),
                            Parsed::NeedMore => {
                                // A full 14 bytes always parse: all of the
                                // input was taken.
                                self.hdr_len = have + take;
                                return Ok(input.len());
                            }
                        }
                    };
                    pos += used;
                    self.start_frame(header, input, out)?;
                }
                ReadState::Data { rem, key, key_pos } => {
                    if pos == input.len() {
                        return Ok(pos);
                    }
                    let spent = self.out_len(out);
                    if spent >= budget {
                        return Ok(pos);
                    }
                    let mut n = rem.min((input.len() - pos) as u64) as usize;
                    if !self.compressed {
                        // Uncompressed data fills the budget exactly; a
                        // compressed piece inflates to at most the rest of
                        // its message.
                        n = n.min(budget - spent);
                    }
                    let key_pos = self.data(input, pos, pos + n, key, key_pos, out)?;
                    pos += n;
                    let rem = rem - n as u64;
                    if rem == 0 {
                        self.state = ReadState::Header;
                        self.end_data_frame(input, out)?;
                    } else {
                        self.state = ReadState::Data { rem, key, key_pos };
                    }
                }
                // Entered only from a header within the budget; no
                // plaintext, so never stopped inside.
                ReadState::Control { opcode, rem, key } => {
                    if pos == input.len() {
                        return Ok(pos);
                    }
                    let n = rem.min(input.len() - pos);
                    self.ctl[self.ctl_len..self.ctl_len + n].copy_from_slice(&input[pos..pos + n]);
                    self.ctl_len += n;
                    pos += n;
                    if rem == n {
                        self.state = ReadState::Header;
                        self.control(opcode, key)?;
                    } else {
                        self.state = ReadState::Control {
                            opcode,
                            rem: rem - n,
                            key,
                        };
                    }
                }
            }
        }
    }

    fn start_frame(
        &mut self,
        h: frame::Header,
        input: &Bytes,
        out: &mut Out,
    ) -> Result<(), TransportError> {
        if h.is_control() {
            self.ctl_len = 0;
            if h.len == 0 {
                return self.control(h.opcode, h.key);
            }
            // Checked at the header: at most 125.
            self.state = ReadState::Control {
                opcode: h.opcode,
                rem: h.len as usize,
                key: h.key,
            };
            return Ok(());
        }
        if h.opcode != frame::OP_CONTINUATION {
            self.compressed = h.rsv1;
            if h.rsv1 {
                self.compressed_in = 0;
                self.inflater
                    .get_or_insert_with(|| Box::new(Inflater::new()))
                    .reset();
            }
        }
        self.in_message = !h.fin;
        self.frame_fin = h.fin;
        if h.len == 0 {
            return self.end_data_frame(input, out);
        }
        self.state = ReadState::Data {
            rem: h.len,
            key: h.key,
            key_pos: 0,
        };
        Ok(())
    }

    /// Handles payload bytes `start..end` of the input; returns the next
    /// masking key position.
    fn data(
        &mut self,
        input: &Bytes,
        start: usize,
        end: usize,
        key: Option<[u8; 4]>,
        key_pos: usize,
        out: &mut Out,
    ) -> Result<usize, TransportError> {
        let n = end - start;
        let next_pos = (key_pos + n) & 3;
        if !self.compressed {
            match key {
                Some(k) => {
                    self.out_buf(input, out);
                    let at = self.decoded.len();
                    self.decoded.extend_from_slice(&input[start..end]);
                    frame::mask(k, key_pos, &mut self.decoded[at..]);
                }
                None => self.out_slice(input, start, end, out),
            }
            return Ok(next_pos);
        }
        if self.compressed_in + n as u64 > self.compressed_limit() {
            return Err(self.fail(WsError::MaxPayload));
        }
        self.compressed_in += n as u64;
        self.out_buf(input, out);
        let piece: &[u8] = match key {
            Some(k) => {
                self.scratch.clear();
                self.scratch.extend_from_slice(&input[start..end]);
                frame::mask(k, key_pos, &mut self.scratch);
                &self.scratch
            }
            None => &input[start..end],
        };
        let limit = self.opts.max_message;
        let result = match self.inflater.as_mut() {
            Some(inf) => inf.feed(piece, &mut self.decoded, limit),
            // A compressed message always has its inflater.
            None => Ok(()),
        };
        result.map_err(|e| self.inflate_failed(e))?;
        Ok(next_pos)
    }

    /// A data frame ended: at the end of a compressed message, inflate
    /// the dropped tail.
    fn end_data_frame(&mut self, input: &Bytes, out: &mut Out) -> Result<(), TransportError> {
        if !(self.frame_fin && self.compressed) {
            return Ok(());
        }
        self.compressed = false;
        if self.compressed_in + FINAL_BLOCK_LEN > self.compressed_limit() {
            return Err(self.fail(WsError::MaxPayload));
        }
        self.out_buf(input, out);
        let limit = self.opts.max_message;
        let result = match self.inflater.as_mut() {
            Some(inf) => inf.finish(&mut self.decoded, limit),
            None => Ok(()),
        };
        result.map_err(|e| self.inflate_failed(e))
    }

    fn compressed_limit(&self) -> u64 {
        let limit = self
            .opts
            .max_message
            .saturating_mul(8)
            .min(MAX_COMPRESSED_MESSAGE);
        limit as u64
    }

    fn inflate_failed(&mut self, e: InflateError) -> TransportError {
        match e {
            InflateError::TooLarge => self.fail(WsError::MaxPayload),
            InflateError::Corrupt(at) => self.fail(WsError::CorruptInput(at)),
        }
    }

    /// A whole control frame is in `ctl`.
    fn control(&mut self, opcode: u8, key: Option<[u8; 4]>) -> Result<(), TransportError> {
        let len = self.ctl_len;
        if let Some(k) = key {
            frame::mask(k, 0, &mut self.ctl[..len]);
        }
        let payload = &self.ctl[..len];
        match opcode {
            frame::OP_PING => {
                self.pong = Some(ControlPayload::new(&[payload]));
                Ok(())
            }
            frame::OP_CLOSE => {
                if len == 1 {
                    return Err(self.fail(WsError::CloseOneByte));
                }
                let echo = if len == 0 {
                    // No status (1005): an empty close frame back.
                    ControlPayload::new(&[])
                } else {
                    let status = u16::from_be_bytes([payload[0], payload[1]]);
                    if !frame::valid_close_status(status) {
                        return Err(self.fail(WsError::InvalidCloseStatus(status)));
                    }
                    let body = &payload[2..];
                    if std::str::from_utf8(body).is_ok() {
                        ControlPayload::new(&[&status.to_be_bytes(), body])
                    } else {
                        ControlPayload::close(1007, "invalid utf8 body in close frame")
                    }
                };
                if self.close.is_none() && !self.close_sent {
                    self.close = Some(echo);
                }
                Err(TransportError {
                    kind: ErrorKind::PeerClosed,
                    ending: Ending::Flush,
                    reason: CloseReason::ClientClosed,
                })
            }
            // A pong (the header allows no other control opcode).
            _ => Ok(()),
        }
    }

    /// Records a read failure: nats-server's read error closes without
    /// flushing.
    fn fail(&mut self, e: WsError) -> TransportError {
        self.error = Some(e);
        let kind = if e == WsError::MaxPayload {
            ErrorKind::TooLarge
        } else {
            ErrorKind::Malformed
        };
        TransportError {
            kind,
            ending: Ending::Silent,
            reason: CloseReason::ReadError,
        }
    }

    /// Adds input bytes `start..end` to the plaintext, as a slice while
    /// it is one range.
    fn out_slice(&mut self, input: &Bytes, start: usize, end: usize, out: &mut Out) {
        *out = match *out {
            Out::Empty => Out::Slice(start, end),
            Out::Slice(a, b) if b == start => Out::Slice(a, end),
            Out::Slice(a, b) => {
                self.decoded.extend_from_slice(&input[a..b]);
                self.decoded.extend_from_slice(&input[start..end]);
                Out::Buf
            }
            Out::Buf => {
                self.decoded.extend_from_slice(&input[start..end]);
                Out::Buf
            }
        };
    }

    /// Moves the plaintext so far into `decoded`, before more is written
    /// there.
    fn out_buf(&mut self, input: &Bytes, out: &mut Out) {
        if let Out::Slice(a, b) = *out {
            self.decoded.extend_from_slice(&input[a..b]);
        }
        *out = Out::Buf;
    }

    pub(crate) fn encode(
        &mut self,
        input: &[Bytes],
        out: &mut Vec<Bytes>,
    ) -> Result<(), TransportError> {
        let total: usize = input.iter().map(Bytes::len).sum();
        if self.close_sent && total > 0 {
            return Err(TransportError {
                kind: ErrorKind::WriteAfterClose,
                ending: Ending::Silent,
                reason: CloseReason::WriteError,
            });
        }
        if let Some(p) = self.pong.take() {
            self.control_frame(frame::OP_PONG, p);
        }
        if total > 0 {
            if self.opts.compress && total > COMPRESS_THRESHOLD {
                self.compressed_message(input, out);
            } else if self.opts.frame_limit > 0 {
                self.limited_frames(input, out);
            } else {
                let mut cursor = Cursor::default();
                self.data_frame(input, &mut cursor, total, out);
            }
        }
        if !self.close_sent {
            if let Some(c) = self.close.take() {
                self.control_frame(frame::OP_CLOSE, c);
                self.close_sent = true;
            }
        }
        self.flush_wire(out);
        Ok(())
    }

    fn next_key(&mut self) -> [u8; 4] {
        // SplitMix64.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z as u32).to_le_bytes()
    }

    /// Writes a frame header into `wire`; returns the masking key used.
    fn header(
        &mut self,
        first: bool,
        fin: bool,
        compressed: bool,
        opcode: u8,
        len: usize,
    ) -> Option<[u8; 4]> {
        let key = self.opts.mask.then(|| self.next_key());
        let mut buf = [0u8; MAX_HEADER];
        let n = frame::encode(&mut buf, first, fin, compressed, opcode, len, key);
        self.wire.extend_from_slice(&buf[..n]);
        key
    }

    fn control_frame(&mut self, opcode: u8, payload: ControlPayload) {
        let key = self.header(true, true, false, opcode, payload.len);
        let at = self.wire.len();
        self.wire.extend_from_slice(payload.as_slice());
        if let Some(k) = key {
            frame::mask(k, 0, &mut self.wire[at..]);
        }
    }

    /// One binary frame of the next `len` bytes of `input`: the chunks as
    /// they are after the header, or a masked copy.
    fn data_frame(
        &mut self,
        input: &[Bytes],
        cursor: &mut Cursor,
        len: usize,
        out: &mut Vec<Bytes>,
    ) {
        let key = self.header(true, true, false, frame::OP_BINARY, len);
        match key {
            Some(k) => {
                let at = self.wire.len();
                cursor.take(input, len, |piece| self.wire.extend_from_slice(&piece));
                frame::mask(k, 0, &mut self.wire[at..]);
            }
            None => {
                self.flush_wire(out);
                cursor.take(input, len, |piece| out.push(piece));
            }
        }
    }

    /// Frames of at most `frame_limit` bytes, cut as nats-server cuts
    /// them: chunks are packed while they fit; one that does not fit
    /// starts a new frame and is split at the limit.
    fn limited_frames(&mut self, input: &[Bytes], out: &mut Vec<Bytes>) {
        let limit = self.opts.frame_limit;
        let mut cursor = Cursor::default();
        let mut open = 0;
        for chunk in input {
            let mut len = chunk.len();
            if open + len <= limit {
                open += len;
                continue;
            }
            while len > 0 {
                if open != 0 {
                    self.data_frame(input, &mut cursor, open, out);
                }
                open = len.min(limit);
                len -= open;
            }
        }
        if open > 0 {
            self.data_frame(input, &mut cursor, open, out);
        }
    }

    /// The flush as one compressed message (RSV1 on its first frame).
    fn compressed_message(&mut self, input: &[Bytes], out: &mut Vec<Bytes>) {
        let deflater = self
            .deflater
            .get_or_insert_with(|| Box::new(Deflater::new()));
        let size = deflater.message(input, &mut self.deflated);
        let limit = self.opts.frame_limit;
        let piece = if limit > 0 && self.opts.fragment_compressed && size > limit {
            limit
        } else {
            size
        };
        let mut done = 0;
        while done < size {
            let n = piece.min(size - done);
            let first = done == 0;
            let fin = done + n == size;
            let key = self.header(first, fin, true, frame::OP_BINARY, n);
            if let Some(k) = key {
                frame::mask(k, 0, &mut self.deflated[..n]);
            }
            self.flush_wire(out);
            out.push(self.deflated.split_to(n).freeze());
            done += n;
        }
    }

    fn flush_wire(&mut self, out: &mut Vec<Bytes>) {
        if !self.wire.is_empty() {
            out.push(self.wire.split().freeze());
        }
    }

    pub(crate) fn wants_write(&self) -> bool {
        self.pong.is_some() || (self.close.is_some() && !self.close_sent)
    }

    /// Input bytes held: a partial frame header and a control frame's
    /// payload (at most 14 + 125 bytes), or the rest of the input of a
    /// call that reached its plaintext budget (at most that input), never
    /// both.
    pub(crate) fn buffered(&self) -> usize {
        let ctl = match self.state {
            ReadState::Control { .. } => self.ctl_len,
            ReadState::Header | ReadState::Data { .. } => 0,
        };
        self.hdr_len + ctl + self.held.len()
    }

    /// Queues a close frame with status 1000 unless one is queued or sent
    /// ([`WsLayer::queue_close`] picks another).
    pub(crate) fn queue_goodbye(&mut self) {
        self.queue_close(1000, "");
    }

    /// Bytes the message being inflated came to so far (for tests).
    #[cfg(test)]
    pub(crate) fn inflated(&self) -> usize {
        self.inflater.as_ref().map_or(0, |i| i.inflated())
    }
}

/// A position in a list of chunks, handing out the next bytes as slices.
#[derive(Default)]
struct Cursor {
    chunk: usize,
    offset: usize,
}

impl Cursor {
    /// Calls `f` with the next `len` bytes, as slices of the chunks.
    fn take(&mut self, input: &[Bytes], mut len: usize, mut f: impl FnMut(Bytes)) {
        while len > 0 {
            let Some(c) = input.get(self.chunk) else {
                return;
            };
            let avail = c.len() - self.offset;
            if avail == 0 {
                self.chunk += 1;
                self.offset = 0;
                continue;
            }
            let n = avail.min(len);
            if n == c.len() {
                f(c.clone());
            } else {
                f(c.slice(self.offset..self.offset + n));
            }
            self.offset += n;
            len -= n;
            if self.offset == c.len() {
                self.chunk += 1;
                self.offset = 0;
            }
        }
    }
}
