//! The S2 layer: the framed stream nats-server compresses route and leaf
//! links with (klauspost/compress `s2.Writer` and `s2.Reader`).
//!
//! ## Wire format
//!
//! A stream is a sequence of chunks, each a type byte, a 3-byte
//! little-endian length and that many body bytes:
//!
//! - `0xff` stream identifier, body `S2sTwO` (or Snappy's `sNaPpY`);
//! - `0x00` compressed data: the masked CRC-32C of the uncompressed data
//!   (4 bytes LE), then one S2 block (a varint decoded length, then
//!   literals and copies, including S2's repeat-offset copies);
//! - `0x01` uncompressed data: the masked CRC-32C, then the data;
//! - `0xfe` padding and `0x80`–`0xfd` skippable chunks, ignored;
//! - `0x02`–`0x7f` reserved and unskippable: the stream is refused.
//!
//! The masked CRC is `((c >> 15) | (c << 17)) + 0xa282ead8` of the
//! Castagnoli CRC `c`.
//!
//! ## Write side
//!
//! nats-server compresses each flush with an `s2.Writer` reset onto a new
//! buffer (concurrency 1), so every flush is one complete stream: the
//! identifier chunk, then one chunk per block of at most 1 MiB of input
//! (Go's default block size). [`S2Level::Uncompressed`] writes only
//! uncompressed chunks. The other levels compress each block (fast,
//! better, best) and write it uncompressed when that does not pay, by Go's
//! rule: its block encoders give up (and the writer sends the block
//! uncompressed) on blocks under 32 bytes and when the compressed block,
//! not counting its length varint, would be longer than `n - n/32 - 9`
//! (fast), `n - n/32 - 6` (better) or `n - 5` (best) for an `n`-byte
//! block (the margins of the amd64 build, which nats-server releases use).
//!
//! Blocks are compressed from the queued chunks in place when a block lies
//! in one chunk and gathered into a reused buffer otherwise; uncompressed
//! chunks refer to large input chunks without copying them. Chunk headers
//! and compressed blocks go into one reused output buffer.
//!
//! ## Read side
//!
//! The reader accepts what Go's `s2.Reader` accepts: identifiers anywhere
//! (the first chunk must be one), both identifier kinds (after a Snappy
//! one, blocks above 64 KiB are refused, as Go does), padding and
//! skippable chunks (skipped as they arrive, never buffered), and CRCs are
//! checked. A chunk wholly inside one read is decoded from it in place; an
//! uncompressed chunk's data is handed on as a slice of the read when it is
//! the read's only plaintext.
//!
//! ## The block limit, and memory
//!
//! [`S2Layer::new`] takes `max_block`, the largest decoded chunk accepted.
//! The engine passes `max(max_payload + 4096, 1 MiB)`, at most 4 MiB:
//!
//! - 1 MiB at least, because that is the block size of every Go writer
//!   (and of ours), so every stream nats-server writes is read;
//! - `max_payload + 4096` above that, so that a peer writing a whole
//!   message (payload plus control line or headers) as one block is read
//!   too; a larger block cannot be one legal message;
//! - 4 MiB at most: S2's largest block, above which Go's reader refuses
//!   blocks as well.
//!
//! A chunk whose length field exceeds what a legal chunk of `max_block`
//! needs (the maximum encoded length of `max_block` bytes plus the CRC for
//! a compressed chunk, `max_block` plus the CRC for an uncompressed one)
//! fails with [`ErrorKind::TooLarge`] at its header, before any of its
//! body is kept; a compressed block announcing more than `max_block`
//! decoded bytes fails the same way before it is decoded. So the layer
//! never holds more than one partial chunk, below `max_block + 16` bytes
//! (users-voice row 16, CVE-2026-29785: a small chunk must not make the
//! reader allocate gigabytes).
//!
//! ## The plaintext budget of a call
//!
//! A read can hold many small chunks that each decode to `max_block`
//! bytes (repeat copies turn about 16 bytes into 1 MiB), so a 64 KiB read
//! could decode to gigabytes. [`S2Layer::decode`] therefore stops at the
//! first chunk boundary where the plaintext of the call has reached
//! `max_block` (the budget): one call returns less than `2 × max_block`
//! bytes (below the budget, plus one chunk of at most `max_block`), and
//! the buffer it is decoded into, which grows by doubling, stays below
//! `4 × max_block`. The rest of the call's input is kept, undecoded, and
//! [`S2Layer::has_pending`] says so; the engine calls
//! [`super::Transport::decode`] with an empty input, and parses what it
//! returns, while [`super::Transport::has_pending`] is true, and every such
//! call continues from what is kept, in order, with the same budget. A
//! call with pending input always decodes at least one chunk, so draining
//! ends.
//!
//! What is kept is the rest of the input of one call, so at most the read
//! the engine handed in (256 KiB at most); it is kept only at a chunk
//! boundary, never together with a partial chunk. Between calls
//! [`S2Layer::buffered`] is therefore at most the larger of the read size
//! and `max_block + 15`, below read size + `max_block` + 16, as long as
//! the engine drains the pending output before handing in the next read
//! (a read handed in earlier is decoded after what is kept, in order, but
//! adds to it).
//!
//! Failures are sticky and end the connection silently with
//! [`CloseReason::ReadError`], as nats-server closes on the read error its
//! `s2.Reader` returns.

use super::{Decoded, Ending, ErrorKind, TransportError};
use crate::events::CloseReason;
use bytes::{Buf, Bytes, BytesMut};
use minlz::s2::Encoder;

/// Compression level of the write side (nats-server's modes after
/// negotiation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S2Level {
    /// The framed stream with uncompressed chunks only (`s2_uncompressed`).
    Uncompressed,
    /// S2's default block encoder (`s2_fast`).
    Fast,
    /// S2's better encoder (`s2_better`).
    Better,
    /// S2's best encoder (`s2_best`): slowest, smallest.
    Best,
}

impl S2Level {
    /// The mode's name as nats-server spells it in INFO, CONNECT and
    /// `/routez` (`s2_uncompressed`, `s2_fast`, `s2_better`, `s2_best`).
    pub fn as_str(self) -> &'static str {
        match self {
            S2Level::Uncompressed => "s2_uncompressed",
            S2Level::Fast => "s2_fast",
            S2Level::Better => "s2_better",
            S2Level::Best => "s2_best",
        }
    }
}

/// One connection's S2 framed stream, both directions.
///
/// A small handle (its state is boxed), so [`super::Layer`] stays small.
pub struct S2Layer(Box<Inner>);

/// The layer's state.
struct Inner {
    /// The level later flushes use.
    level: S2Level,
    read: Reader,
    write: Writer,
}

impl std::fmt::Debug for S2Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S2Layer")
            .field("level", &self.0.level)
            .field("max_block", &self.0.read.max_block)
            .field("buffered", &self.buffered())
            .field("pending", &self.has_pending())
            .field("failed", &self.0.read.failed)
            .finish()
    }
}

impl S2Layer {
    /// A layer that writes at `level` and reads chunks decoding to at most
    /// `max_block` bytes (at most 4 MiB; larger values are lowered to it).
    /// The engine passes `max(max_payload + 4096, 1 MiB)` capped at 4 MiB;
    /// the module documentation says why.
    pub fn new(level: S2Level, max_block: usize) -> Self {
        let max_block = max_block.min(MAX_BLOCK);
        S2Layer(Box::new(Inner {
            level,
            read: Reader {
                max_block,
                max_compressed: max_encoded_len(max_block) + CRC_LEN,
                state: State::Header,
                header: [0; HEADER_LEN],
                header_len: 0,
                partial: BytesMut::new(),
                held: Bytes::new(),
                started: false,
                snappy: false,
                decoded: BytesMut::new(),
                piece: None,
                failed: None,
            },
            write: Writer {
                wire: BytesMut::new(),
                gather: Vec::new(),
                pieces: Vec::new(),
                encoder: Encoder::new(),
            },
        }))
    }

    /// The level of the write side.
    pub fn level(&self) -> S2Level {
        self.0.level
    }

    /// Changes the level of the write side: later flushes use it (`s2_auto`
    /// re-chooses the level on each PONG). Switching to another level
    /// drops the old encoder's tables (up to 4.5 MiB for best).
    pub fn set_level(&mut self, level: S2Level) {
        let inner = &mut *self.0;
        if level != inner.level {
            inner.write.encoder = Encoder::new();
        }
        inner.level = level;
    }

    /// Decodes the chunks `input` completes, after any input kept from an
    /// earlier call; keeps a partial chunk. Stops at the first chunk
    /// boundary where the plaintext of this call has reached `max_block`
    /// and keeps the rest of the input (then [`S2Layer::has_pending`] is
    /// true, and a later call, with an empty input, goes on from there).
    /// So a call returns less than `2 × max_block` bytes. The plaintext
    /// before a failure is returned with it.
    pub(crate) fn decode(&mut self, input: Bytes) -> Decoded {
        self.0.read.decode(input)
    }

    /// Whether input kept by a call that reached its plaintext budget is
    /// waiting to be decoded: call [`S2Layer::decode`] with an empty input
    /// (through [`super::Transport::decode`]) until it is false.
    pub(crate) fn has_pending(&self) -> bool {
        !self.0.read.held.is_empty()
    }

    /// Writes `input` (one flush) as one complete framed stream; nothing
    /// when `input` is empty.
    pub(crate) fn encode(
        &mut self,
        input: &[Bytes],
        out: &mut Vec<Bytes>,
    ) -> Result<(), TransportError> {
        let inner = &mut *self.0;
        inner.write.encode(inner.level, input, out);
        Ok(())
    }

    /// The layer never sends bytes of its own.
    pub(crate) fn wants_write(&self) -> bool {
        false
    }

    /// Input bytes held: a chunk not yet complete (below
    /// `max_block + 16`), or the rest of the input of a call that reached
    /// its plaintext budget (at most that read), never both; see the
    /// module documentation.
    pub(crate) fn buffered(&self) -> usize {
        let read = &self.0.read;
        read.header_len + read.partial.len() + read.held.len()
    }

    /// S2 has no goodbye of its own.
    pub(crate) fn queue_goodbye(&mut self) {}
}

/// Largest block S2 allows (Go's `maxBlockSize`).
const MAX_BLOCK: usize = 4 << 20;
/// Input bytes per written chunk (Go's `defaultBlockSize`).
const BLOCK_SIZE: usize = 1 << 20;
/// Largest decoded block after a Snappy identifier (Go's
/// `maxSnappyBlockSize`).
const MAX_SNAPPY_BLOCK: usize = 1 << 16;
/// Blocks shorter than this are written uncompressed (Go's
/// `minNonLiteralBlockSize`: its encoders do not try them).
const MIN_COMPRESS: usize = 32;
/// Input pieces at least this long are referred to by an uncompressed
/// chunk rather than copied into the output buffer.
const ZERO_COPY_MIN: usize = 2048;

/// The stream identifier chunk every written stream starts with.
const STREAM_ID: [u8; 10] = *b"\xff\x06\x00\x00S2sTwO";
/// Identifier body of an S2 stream.
const S2_MAGIC: &[u8] = b"S2sTwO";
/// Identifier body of a Snappy stream.
const SNAPPY_MAGIC: &[u8] = b"sNaPpY";

/// Chunk type byte plus the 3-byte length.
const HEADER_LEN: usize = 4;
/// The masked CRC at the start of a data chunk's body.
const CRC_LEN: usize = 4;

const CHUNK_COMPRESSED: u8 = 0x00;
const CHUNK_UNCOMPRESSED: u8 = 0x01;
const CHUNK_STREAM_ID: u8 = 0xff;

/// Where the reader is in the stream.
#[derive(Clone, Copy, Debug)]
enum State {
    /// Collecting a chunk header (`header_len` bytes of it so far).
    Header,
    /// Collecting the `len`-byte body of a chunk.
    Body { kind: Body, len: usize },
    /// Skipping `left` more bytes of a padding or skippable chunk.
    Skip { left: usize },
}

/// Chunks whose body is needed whole.
#[derive(Clone, Copy, Debug)]
enum Body {
    Compressed,
    Uncompressed,
    StreamId,
}

/// The read side.
struct Reader {
    /// Largest decoded chunk accepted.
    max_block: usize,
    /// Largest compressed chunk length field accepted.
    max_compressed: usize,
    state: State,
    /// The header being collected.
    header: [u8; HEADER_LEN],
    /// Bytes of `header` collected (below `HEADER_LEN` between calls).
    header_len: usize,
    /// The body of a chunk that spans reads, as far as it arrived.
    partial: BytesMut,
    /// Input not decoded yet because a call reached its plaintext budget;
    /// starts at a chunk boundary (then `header_len` is 0 and `partial`
    /// empty).
    held: Bytes,
    /// A stream identifier was read: data chunks may follow.
    started: bool,
    /// The latest identifier was Snappy's.
    snappy: bool,
    /// Plaintext of the current call, when it is not a single slice.
    decoded: BytesMut,
    /// The current call's only plaintext so far, a slice of the input
    /// (then `decoded` is empty).
    piece: Option<Bytes>,
    /// The first failure; returned by every later call.
    failed: Option<TransportError>,
}

impl Reader {
    fn decode(&mut self, input: Bytes) -> Decoded {
        if let Some(e) = self.failed {
            return Decoded {
                plain: Bytes::new(),
                failed: Some(e),
            };
        }
        let mut data = super::after_held(&mut self.held, input);
        let result = self.chunks(&mut data);
        let plain = match self.piece.take() {
            Some(piece) => piece,
            None => self.decoded.split().freeze(),
        };
        let failed = result.err();
        if failed.is_some() {
            self.failed = failed;
            // Nothing more is read: let the buffers go.
            self.partial = BytesMut::new();
            self.decoded = BytesMut::new();
        } else {
            // Empty unless the budget stopped the call.
            self.held = data;
        }
        Decoded { plain, failed }
    }

    /// Whether the plaintext of this call has reached the budget
    /// (`max_block`). Never true before the call produced something, so
    /// every call decodes at least one chunk.
    fn budget_spent(&self) -> bool {
        let out = self.piece.as_ref().map_or(0, Bytes::len) + self.decoded.len();
        out > 0 && out >= self.max_block
    }

    /// Runs `data` through the chunk state machine; leaves in `data` what
    /// follows the chunk boundary where the budget was reached.
    fn chunks(&mut self, data: &mut Bytes) -> Result<(), TransportError> {
        while !data.is_empty() {
            match self.state {
                State::Header => {
                    if self.header_len == 0 && self.budget_spent() {
                        return Ok(());
                    }
                    let n = (HEADER_LEN - self.header_len).min(data.len());
                    let at = self.header_len;
                    self.header[at..at + n].copy_from_slice(&data[..n]);
                    data.advance(n);
                    self.header_len += n;
                    if self.header_len == HEADER_LEN {
                        self.header_len = 0;
                        self.state = self.start_chunk()?;
                    }
                }
                State::Body { kind, len } => {
                    let chunk = if self.partial.is_empty() && data.len() >= len {
                        data.split_to(len)
                    } else {
                        let n = (len - self.partial.len()).min(data.len());
                        self.partial.extend_from_slice(&data[..n]);
                        data.advance(n);
                        if self.partial.len() < len {
                            continue;
                        }
                        self.partial.split().freeze()
                    };
                    self.state = State::Header;
                    self.chunk(kind, chunk)?;
                }
                State::Skip { left } => {
                    let n = left.min(data.len());
                    data.advance(n);
                    self.state = if n == left {
                        State::Header
                    } else {
                        State::Skip { left: left - n }
                    };
                }
            }
        }
        Ok(())
    }

    /// Checks a complete header; says what to do with the body.
    fn start_chunk(&mut self) -> Result<State, TransportError> {
        let [kind, a, b, c] = self.header;
        let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
        if !self.started && kind != CHUNK_STREAM_ID {
            return Err(malformed());
        }
        let body = |kind| Ok(State::Body { kind, len });
        match kind {
            CHUNK_COMPRESSED if len < CRC_LEN => Err(malformed()),
            CHUNK_COMPRESSED if len > self.max_compressed => Err(too_large()),
            CHUNK_COMPRESSED => body(Body::Compressed),
            CHUNK_UNCOMPRESSED if len < CRC_LEN => Err(malformed()),
            CHUNK_UNCOMPRESSED if len - CRC_LEN > self.max_block => Err(too_large()),
            CHUNK_UNCOMPRESSED if self.snappy && len - CRC_LEN > MAX_SNAPPY_BLOCK => {
                Err(malformed())
            }
            CHUNK_UNCOMPRESSED => body(Body::Uncompressed),
            CHUNK_STREAM_ID if len != S2_MAGIC.len() => Err(malformed()),
            CHUNK_STREAM_ID => body(Body::StreamId),
            // Reserved unskippable chunks.
            0x02..=0x7f => Err(malformed()),
            // Padding and reserved skippable chunks.
            _ if len == 0 => Ok(State::Header),
            _ => Ok(State::Skip { left: len }),
        }
    }

    /// Handles a complete chunk body.
    fn chunk(&mut self, kind: Body, chunk: Bytes) -> Result<(), TransportError> {
        match kind {
            Body::StreamId => {
                if chunk[..] == *S2_MAGIC {
                    self.snappy = false;
                } else if chunk[..] == *SNAPPY_MAGIC {
                    self.snappy = true;
                } else {
                    return Err(malformed());
                }
                self.started = true;
            }
            Body::Uncompressed => {
                let want = crc_field(&chunk);
                let data = chunk.slice(CRC_LEN..);
                if masked_crc(&data) != want {
                    return Err(malformed());
                }
                self.emit(data);
            }
            Body::Compressed => {
                let want = crc_field(&chunk);
                let block = &chunk[CRC_LEN..];
                let (n, _) = minlz::s2::decode_len(block).map_err(|_| malformed())?;
                if n > self.max_block {
                    return Err(too_large());
                }
                if self.snappy && n > MAX_SNAPPY_BLOCK {
                    return Err(malformed());
                }
                if let Some(piece) = self.piece.take() {
                    self.decoded.extend_from_slice(&piece);
                }
                let start = self.decoded.len();
                self.decoded.resize(start + n, 0);
                let dst = &mut self.decoded[start..];
                let ok = minlz::s2::decode_into(dst, block).is_ok_and(|m| m == n)
                    && masked_crc(dst) == want;
                if !ok {
                    self.decoded.truncate(start);
                    return Err(malformed());
                }
            }
        }
        Ok(())
    }

    /// Appends decoded data: kept as the slice it is while it is the only
    /// plaintext of the call.
    fn emit(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        if self.piece.is_none() && self.decoded.is_empty() {
            self.piece = Some(data);
            return;
        }
        if let Some(piece) = self.piece.take() {
            self.decoded.extend_from_slice(&piece);
        }
        self.decoded.extend_from_slice(&data);
    }
}

/// The read failures: nats-server closes on its reader's error.
fn malformed() -> TransportError {
    read_error(ErrorKind::Malformed)
}

fn too_large() -> TransportError {
    read_error(ErrorKind::TooLarge)
}

fn read_error(kind: ErrorKind) -> TransportError {
    TransportError {
        kind,
        ending: Ending::Silent,
        reason: CloseReason::ReadError,
    }
}

/// The CRC at the start of a data chunk body (at least `CRC_LEN` bytes,
/// checked at its header).
fn crc_field(chunk: &[u8]) -> u32 {
    match chunk {
        [a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// The write side.
struct Writer {
    /// Output being built: handed out (split off) at the end of a flush.
    wire: BytesMut,
    /// A block gathered from several input chunks.
    gather: Vec<u8>,
    /// The current block: (input chunk, start, end) of each piece.
    pieces: Vec<(usize, usize, usize)>,
    /// The block encoders' reused tables.
    encoder: Encoder,
}

impl Writer {
    fn encode(&mut self, level: S2Level, input: &[Bytes], out: &mut Vec<Bytes>) {
        let total: usize = input.iter().map(Bytes::len).sum();
        if total == 0 {
            return;
        }
        self.wire.extend_from_slice(&STREAM_ID);
        let (mut chunk, mut offset) = (0, 0);
        let mut left = total;
        while left > 0 {
            let n = left.min(BLOCK_SIZE);
            left -= n;
            self.pieces.clear();
            let mut need = n;
            while need > 0 {
                let Some(c) = input.get(chunk) else {
                    // Unreachable: `total` counts exactly these chunks.
                    return;
                };
                let take = (c.len() - offset).min(need);
                if take > 0 {
                    self.pieces.push((chunk, offset, offset + take));
                }
                offset += take;
                need -= take;
                if offset == c.len() {
                    chunk += 1;
                    offset = 0;
                }
            }
            self.block(level, input, n, out);
        }
        if !self.wire.is_empty() {
            out.push(self.wire.split().freeze());
        }
    }

    /// Writes one chunk for the `n`-byte block in `pieces`.
    fn block(&mut self, level: S2Level, input: &[Bytes], n: usize, out: &mut Vec<Bytes>) {
        let Writer {
            wire,
            gather,
            pieces,
            encoder,
        } = self;
        let piece = |&(c, s, e): &(usize, usize, usize)| &input[c][s..e];
        let compress: Option<BlockEncoder> = match level {
            S2Level::Uncompressed => None,
            S2Level::Fast => Some(Encoder::encode),
            S2Level::Better => Some(Encoder::encode_better),
            S2Level::Best => Some(Encoder::encode_best),
        };
        let crc = if let Some(compress) = compress.filter(|_| n >= MIN_COMPRESS) {
            let src: &[u8] = match pieces.as_slice() {
                [one] => piece(one),
                many => {
                    gather.clear();
                    for p in many {
                        gather.extend_from_slice(piece(p));
                    }
                    gather
                }
            };
            let crc = masked_crc(src);
            let encoded = compress(encoder, src);
            let body = encoded.len().saturating_sub(varint_len(n));
            if body <= worth_limit(level, n) {
                put_header(wire, CHUNK_COMPRESSED, CRC_LEN + encoded.len(), crc);
                wire.extend_from_slice(&encoded);
                return;
            }
            crc
        } else {
            let mut crc = Crc32c::new();
            for p in pieces.iter() {
                crc.update(piece(p));
            }
            crc.masked()
        };
        put_header(wire, CHUNK_UNCOMPRESSED, CRC_LEN + n, crc);
        for p in pieces.iter() {
            let data = piece(p);
            if data.len() >= ZERO_COPY_MIN {
                if !wire.is_empty() {
                    out.push(wire.split().freeze());
                }
                out.push(input[p.0].slice(p.1..p.2));
            } else {
                wire.extend_from_slice(data);
            }
        }
    }
}

/// One of minlz's block encoders (fast, better, best).
type BlockEncoder = fn(&mut Encoder, &[u8]) -> Vec<u8>;

/// Largest compressed block (without its length varint) Go's encoders
/// return for an `n`-byte block at `level`; above it they give up and the
/// writer sends the block uncompressed (amd64 margins).
fn worth_limit(level: S2Level, n: usize) -> usize {
    match level {
        S2Level::Uncompressed => 0,
        S2Level::Fast => n.saturating_sub(n / 32 + 9),
        S2Level::Better => n.saturating_sub(n / 32 + 6),
        S2Level::Best => n.saturating_sub(5),
    }
}

/// A chunk header and the CRC that starts the body.
fn put_header(wire: &mut BytesMut, kind: u8, len: usize, crc: u32) {
    let [a, b, c, _] = (len as u32).to_le_bytes();
    wire.extend_from_slice(&[kind, a, b, c]);
    wire.extend_from_slice(&crc.to_le_bytes());
}

/// Bytes of the varint that encodes `n`.
fn varint_len(n: usize) -> usize {
    let bits = usize::BITS - (n | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// Go's `MaxEncodedLen`: the longest block `n` bytes encode to (all
/// literals), with its length varint.
fn max_encoded_len(n: usize) -> usize {
    let varint = (usize::BITS - n.leading_zeros()) as usize / 7 + 1;
    let literal = match n {
        0 => 0,
        1..60 => 1,
        60..256 => 2,
        256..65536 => 3,
        65536..16777216 => 4,
        _ => 5,
    };
    n + varint + literal
}

/// The masked CRC-32C of `data`, as the framing format stores it.
fn masked_crc(data: &[u8]) -> u32 {
    let mut crc = Crc32c::new();
    crc.update(data);
    crc.masked()
}

/// CRC-32C (Castagnoli), fed in pieces: the `crc32c` crate, which uses
/// the CPU's CRC instruction where there is one (SSE4.2, as Go's does;
/// a software table was a third of a compressing link's CPU time).
struct Crc32c(u32);

impl Crc32c {
    fn new() -> Self {
        Crc32c(0)
    }

    fn update(&mut self, data: &[u8]) {
        self.0 = crc32c::crc32c_append(self.0, data);
    }

    /// The CRC, masked as the framing format stores it.
    fn masked(&self) -> u32 {
        self.0.rotate_right(15).wrapping_add(0xa282_ead8)
    }
}

#[cfg(test)]
#[path = "s2_tests.rs"]
mod tests;
