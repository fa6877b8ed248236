//! The observer of one direction of a link between engines, below the
//! protocol: what an engine writes to a route, leaf link or gateway,
//! decrypted (TLS worlds: by the reader's shadow), is taken apart as the
//! reading engine takes it apart, and checked as strictly as nats-server's
//! peer would read it:
//!
//! - a leaf link to a websocket port starts with the HTTP upgrade (the
//!   remote's `GET …/leafnode`, the hub's `101`); from the byte after it
//!   every byte must be a WebSocket frame with nats-server's rules
//!   (masked from the remote unless no masking was agreed, never from the
//!   hub, RSV1 only when permessage-deflate was agreed, nothing after a
//!   close frame); the payload is read through a shadow of the reader's
//!   own WebSocket layer (so unmasking, inflating and the reads ops
//!   complete in are the engine's), fed frame by frame;
//! - S2 comes on in each direction where the negotiation says, at the
//!   exact byte: the solicitor's stream right after its plaintext INFO that
//!   names its mode (on a WebSocket, after the frame that ends it), the
//!   acceptor's where it was when it read that INFO (the world marks that
//!   window: what it had written before that read, and what it wrote in
//!   it). From there every byte must belong to a valid S2 stream
//!   (identifier first, chunk types, lengths, CRCs, blocks that decode),
//!   decoded here independently of the engine (minlz); on a WebSocket the
//!   S2 stream carries the frames;
//! - the protocol inside is split into whole ops, each op's verb checked
//!   (a byte that starts no op, where S2 does not start either, is a
//!   violation), and handed to the [`RouteWire`] the checkers read.
//!
//! The modes each side announces and chooses are checked against
//! nats-server's selection table from both sides' settings
//! ([`Negotiation`]): the acceptor's first INFO names its configured
//! mode, the solicitor's INFO the mode it chose from it (`s2_auto` when
//! configured so), the acceptor's first compressed INFO the mode it chose
//! from the solicitor's, and both ends compress or neither does.
//!
//! It only observes: nothing here changes what any engine does.

use crate::route_wire::{RouteOp, RouteWire};
use bytes::Bytes;
use canopy_core::compression::{Compression, Mode, S2Level};
use canopy_core::outbound::Outbound;
use canopy_core::transport::{ErrorKind, Layer, Transport, WsLayer, WsOptions, WsRole};

/// The S2 stream identifier chunk every flush of a compressing engine
/// starts with.
pub const S2_STREAM_ID: &[u8; 10] = b"\xff\x06\x00\x00S2sTwO";
/// Largest block nats-server's writer (and the engine's) puts in a chunk.
const S2_BLOCK: usize = 1 << 20;
/// Largest chunk body accepted: a compressed 1 MiB block at its worst,
/// plus the CRC.
const S2_MAX_CHUNK: usize = S2_BLOCK + S2_BLOCK / 6 + 32 + 4;
/// Largest HTTP head of the upgrade.
const MAX_HEAD: usize = 64 * 1024;
/// Largest control line looked at before the op is called broken.
const MAX_LINE: usize = 1 << 20;

/// What the simulator configured for a link's two ends: dialer (the
/// solicitor, end 0) and acceptor (end 1).
#[derive(Clone, Debug, Default)]
pub struct LinkPlan {
    /// Leaf link (else a route or a gateway).
    pub leaf: bool,
    /// Compression settings of the dialer and the acceptor for the link's
    /// kind; `None` for a kind that never compresses (gateways).
    pub s2: Option<[Compression; 2]>,
    /// A leaf link to a websocket port: what the remote asks for and what
    /// the hub allows.
    pub ws: Option<WsPlan>,
    /// `max_payload` of each end (a compressed WebSocket message's bound).
    pub max_payload: [usize; 2],
    /// Node numbers of the ends (for messages).
    pub nodes: [usize; 2],
}

/// The WebSocket settings of a leaf link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WsPlan {
    /// The remote's `ws_compression`.
    pub ask_compress: bool,
    /// The remote's `ws_no_masking`.
    pub ask_no_masking: bool,
    /// The hub's `websocket { compression }`.
    pub hub_compress: bool,
}

/// What the upgrade agreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Agreed {
    compress: bool,
    no_masking: bool,
}

/// The negotiation of one link as both directions' observers see it.
#[derive(Debug, Default)]
pub struct Negotiation {
    plan: LinkPlan,
    /// The `compression` field of each side's first INFO (`Some(None)`:
    /// an INFO without one).
    first_info: [Option<Option<String>>; 2],
    /// The 101's agreement (from the request until the 101 is read).
    agreed: Option<Agreed>,
    /// The mode each side chose, once known.
    chosen: [Option<Mode>; 2],
}

impl Negotiation {
    /// The negotiation of a link configured as `plan`.
    pub fn new(plan: LinkPlan) -> Negotiation {
        Negotiation {
            plan,
            ..Negotiation::default()
        }
    }

    /// Whether the link is a WebSocket.
    pub fn ws(&self) -> bool {
        self.plan.ws.is_some()
    }

    /// Side `dir`'s settings as it negotiates with them: none for a kind
    /// that never compresses; `off` over a WebSocket that compresses
    /// (nats-server uses no S2 there).
    fn own(&self, dir: usize) -> Option<Compression> {
        let s2 = self.plan.s2.as_ref()?;
        if self.agreed.is_some_and(|a| a.compress) {
            return Some(Compression::default());
        }
        Some(s2[dir].clone())
    }

    /// The mode each side chose (`None` until known), for summaries.
    pub fn chosen(&self) -> [Option<Mode>; 2] {
        self.chosen
    }

    /// The solicitor's INFO that switched S2 on was read by the acceptor:
    /// the mode the acceptor must choose from it (a compressing one), or
    /// the violation when the table says it does not compress.
    pub fn acceptor_switch(&mut self) -> Result<Mode, String> {
        let [a, b] = self.plan.nodes;
        let Some(own) = self.own(1).filter(negotiates) else {
            return Err(format!(
                "S2: node {a} compresses its link to node {b}, whose settings do not negotiate \
                 compression"
            ));
        };
        let peer = self.first_info[0].clone().flatten().unwrap_or_default();
        let Some(theirs) = parse_mode(&peer) else {
            return Err(format!("S2: node {a} named an unknown mode {peer:?}"));
        };
        let chosen = select(own.mode, theirs);
        if !compresses(chosen) {
            return Err(format!(
                "S2: node {a} compresses its link to node {b}, but node {b} ({}) picks {} \
                 from its {peer:?}",
                own.mode.as_str(),
                chosen.as_str()
            ));
        }
        self.chosen[1] = Some(chosen);
        Ok(chosen)
    }
}

fn negotiates(c: &Compression) -> bool {
    !matches!(c.mode, Mode::Off | Mode::NotSupported)
}

fn compresses(m: Mode) -> bool {
    matches!(m, Mode::Level(_) | Mode::Auto)
}

/// A mode as a peer names it; `None` for a name nats-server refuses.
fn parse_mode(s: &str) -> Option<Mode> {
    Mode::from_wire(s)
}

/// nats-server's `selectCompressionMode`, written out from its table
/// (not the engine's code): the mode a side configured `own` picks when
/// the peer names `theirs`.
fn select(own: Mode, theirs: Mode) -> Mode {
    match (theirs, own) {
        (Mode::NotSupported, _) => Mode::NotSupported,
        (Mode::Off, _) => Mode::Off,
        (Mode::Accept, Mode::Accept) => Mode::Off,
        (Mode::Auto, Mode::Accept) => Mode::Level(S2Level::Fast),
        (Mode::Level(l), Mode::Accept) => Mode::Level(l),
        (Mode::Accept | Mode::Auto | Mode::Level(_), _) => own,
    }
}

/// The mode a side names in its INFO once it chose `chosen`: `s2_auto`
/// when configured so.
fn info_for(own: Mode, chosen: Mode) -> &'static str {
    if own == Mode::Auto {
        "s2_auto"
    } else {
        chosen.as_str()
    }
}

/// When S2 must start in this direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// It never does.
    Never,
    /// Right here: the INFO that switches it was the last op.
    AtOnce,
    /// Somewhere in `[from, to]` (post-TLS offsets; `None` until the
    /// world converted the mark: not reached yet).
    Window { from: Option<u64>, to: Option<u64> },
}

/// The WebSocket reader of one direction: the frame rules checked here,
/// the payload through a shadow of the reader's layer.
struct WsIn {
    shadow: Transport,
    /// Frames must be masked (the remote's, unless no masking).
    masked: bool,
    compress: bool,
    /// Payload bytes left in the current frame (`None`: at a frame start).
    left: Option<u64>,
    /// The current frame is a close frame.
    closing: bool,
    /// A fragmented message is open.
    in_message: bool,
    /// A close frame was read.
    closed: bool,
}

impl WsIn {
    fn new(dir: usize, agreed: Agreed, max_payload: usize) -> WsIn {
        let opts = if dir == 0 {
            WsOptions {
                role: WsRole::Server,
                compress: agreed.compress,
                mask: false,
                require_masked: !agreed.no_masking,
                max_message: max_payload,
                frame_limit: 0,
                fragment_compressed: true,
            }
        } else {
            WsOptions {
                role: WsRole::Client,
                compress: agreed.compress,
                mask: !agreed.no_masking,
                require_masked: false,
                max_message: max_payload,
                frame_limit: 0,
                fragment_compressed: true,
            }
        };
        let mut shadow = Transport::default();
        let _ = shadow.push_inner(
            Layer::Ws(Box::new(WsLayer::new(opts, 0))),
            Bytes::new(),
            &Outbound::default(),
        );
        WsIn {
            shadow,
            masked: dir == 0 && !agreed.no_masking,
            compress: agreed.compress,
            left: None,
            closing: false,
            in_message: false,
            closed: false,
        }
    }

    /// Parses a frame header at the start of `buf`: its length, or `None`
    /// until it is whole.
    fn header(&mut self, buf: &[u8]) -> Result<Option<usize>, String> {
        if self.closed {
            return Err(format!(
                "bytes after a WebSocket close frame: {:02x?}",
                &buf[..buf.len().min(8)]
            ));
        }
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let (fin, rsv1, opcode) = (b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0f);
        if b0 & 0x30 != 0 {
            return Err(format!("WebSocket frame with RSV2/RSV3 set: {b0:#04x}"));
        }
        let control = opcode >= 8;
        match opcode {
            0 if !self.in_message => {
                return Err("WebSocket continuation frame with no message open".into())
            }
            2 if self.in_message => {
                return Err("WebSocket data frame while a fragmented message is open".into())
            }
            0 | 2 | 8 | 9 | 10 => {}
            _ => return Err(format!("WebSocket frame with opcode {opcode}")),
        }
        if rsv1 && (!self.compress || control || opcode == 0) {
            return Err(format!(
                "WebSocket frame with RSV1 (compressed) where permessage-deflate allows none \
                 (agreed {}, opcode {opcode})",
                self.compress
            ));
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        if masked != self.masked {
            return Err(format!(
                "WebSocket frame {} where the agreement says {}",
                if masked { "masked" } else { "unmasked" },
                if self.masked { "masked" } else { "unmasked" }
            ));
        }
        let (len, at) = match b1 & 0x7f {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    (u64::from_be_bytes(a), 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if control && (!fin || len > 125) {
            return Err(format!(
                "WebSocket control frame (opcode {opcode}) not final or over 125 bytes"
            ));
        }
        if len > 64 << 20 {
            return Err(format!("WebSocket frame of {len} bytes"));
        }
        let end = at + if masked { 4 } else { 0 };
        if buf.len() < end {
            return Ok(None);
        }
        if !control {
            self.in_message = !fin;
        }
        self.closing = opcode == 8;
        self.left = Some(len);
        Ok(Some(end))
    }

    /// Hands `bytes` (header or payload) to the shadow; its plaintext.
    fn decode(&mut self, bytes: &[u8]) -> Result<Bytes, String> {
        let d = self.shadow.decode(Bytes::copy_from_slice(bytes));
        match d.failed {
            None => Ok(d.plain),
            Some(e) if e.kind == ErrorKind::PeerClosed => {
                self.closed = true;
                Ok(d.plain)
            }
            Some(e) => Err(format!(
                "the WebSocket reader's shadow refused the frames: {e:?}"
            )),
        }
    }
}

/// The S2 reader of one direction (minlz blocks, CRCs checked).
struct S2In {
    started: bool,
    /// The writer is configured `s2_uncompressed`: no compressed chunk.
    uncompressed_only: bool,
}

impl S2In {
    /// Decodes the complete chunks at the start of `src` into `out`;
    /// returns the bytes consumed.
    fn chunks(&mut self, src: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
        let mut at = 0;
        while src.len() - at >= 4 {
            let t = src[at];
            let len = usize::from(src[at + 1])
                | usize::from(src[at + 2]) << 8
                | usize::from(src[at + 3]) << 16;
            if len > S2_MAX_CHUNK {
                return Err(format!("S2 chunk of type {t:#04x} announcing {len} bytes"));
            }
            if !self.started && t != 0xff {
                return Err(format!(
                    "S2 stream that does not start with its identifier: {:02x?}",
                    &src[at..src.len().min(at + 10)]
                ));
            }
            if src.len() - at < 4 + len {
                break;
            }
            let body = &src[at + 4..at + 4 + len];
            match t {
                0xff if body == b"S2sTwO" => self.started = true,
                0xff => return Err(format!("S2 stream identifier {body:02x?}")),
                0x00 | 0x01 => {
                    if len < 4 {
                        return Err(format!("S2 data chunk of {len} bytes"));
                    }
                    let crc = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                    let data = if t == 0x00 {
                        if self.uncompressed_only {
                            return Err(
                                "a compressed S2 chunk from a writer configured s2_uncompressed"
                                    .into(),
                            );
                        }
                        minlz::decode(&body[4..])
                            .map_err(|e| format!("S2 block that does not decode: {e}"))?
                    } else {
                        body[4..].to_vec()
                    };
                    if data.len() > S2_BLOCK {
                        return Err(format!("S2 block of {} bytes", data.len()));
                    }
                    if minlz::crc::crc(&data) != crc {
                        return Err("S2 chunk with a wrong CRC".into());
                    }
                    out.extend_from_slice(&data);
                }
                0x02..=0x7f => return Err(format!("reserved S2 chunk type {t:#04x}")),
                // Padding and skippable chunks.
                _ => {}
            }
            at += 4 + len;
        }
        Ok(at)
    }
}

/// What one feed found that the world acts on.
#[derive(Debug, Default)]
pub struct Found {
    /// The solicitor's INFO that switches S2 on was read (direction 0).
    pub switch_info: bool,
    /// S2 started in this direction.
    pub s2_started: bool,
    /// The hub's 101 was read (direction 1): the link is a WebSocket.
    pub upgraded: bool,
    /// Violations.
    pub violations: Vec<String>,
}

/// The observer of one direction of a link (see the module docs).
pub struct LinkWire {
    /// 0: the dialer's writes; 1: the acceptor's.
    dir: usize,
    /// The protocol observer the checkers read.
    pub nats: RouteWire,
    /// Post-TLS bytes not yet consumed.
    raw: Vec<u8>,
    /// Post-TLS offset of `raw[0]`.
    pos: u64,
    /// In the HTTP head of the upgrade.
    http: bool,
    /// Frames follow the upgrade (the reader is made at the first one,
    /// when both sides of the agreement are known).
    framed: bool,
    ws: Option<WsIn>,
    s2: Option<S2In>,
    expect: Expect,
    /// S2-decoded bytes not yet read as frames (a WebSocket under S2).
    mid: Vec<u8>,
    /// Protocol bytes not yet a whole op.
    text: Vec<u8>,
    /// INFO ops seen.
    infos: u32,
    /// The next op must be the acceptor's compressed INFO.
    await_s2_info: bool,
    /// A violation was found: nothing more is read.
    dead: bool,
}

impl std::fmt::Debug for LinkWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkWire")
            .field("dir", &self.dir)
            .field("pos", &self.pos)
            .field("http", &self.http)
            .field("ws", &self.ws.is_some())
            .field("s2", &self.s2.is_some())
            .field("expect", &self.expect)
            .finish()
    }
}

impl LinkWire {
    /// The observer of direction `dir` (0: the dialer's writes) of a link
    /// whose protocol `nats` reads.
    pub fn new(dir: usize, nats: RouteWire, neg: &Negotiation) -> LinkWire {
        LinkWire {
            dir,
            nats,
            raw: Vec::new(),
            pos: 0,
            http: neg.ws(),
            framed: false,
            ws: None,
            s2: None,
            expect: Expect::Never,
            mid: Vec::new(),
            text: Vec::new(),
            infos: 0,
            await_s2_info: false,
            dead: false,
        }
    }

    /// Whether S2 is on in this direction.
    pub fn s2_on(&self) -> bool {
        self.s2.is_some()
    }

    /// The acceptor chose to compress (direction 1): S2 starts in a window
    /// the world marks with [`LinkWire::mark`].
    pub fn expect_window(&mut self) {
        if self.expect == Expect::Never && self.s2.is_none() {
            self.expect = Expect::Window {
                from: None,
                to: None,
            };
        }
    }

    /// The world converted a mark of the window to post-TLS offset `at`
    /// (`end`: the window's end, else its start).
    pub fn mark(&mut self, at: u64, end: bool) {
        if let Expect::Window { from, to } = &mut self.expect {
            if end {
                *to = Some(at);
            } else {
                *from = Some(at);
            }
        }
    }

    /// Feeds post-TLS bytes the reader read; complete ops of interest go to
    /// `out` with their stream offsets.
    pub fn feed(
        &mut self,
        data: &[u8],
        neg: &mut Negotiation,
        out: &mut Vec<(u64, RouteOp)>,
    ) -> Found {
        let mut found = Found::default();
        if self.dead {
            return found;
        }
        self.raw.extend_from_slice(data);
        let mut at = 0;
        if let Err(text) = self.run(&mut at, neg, out, &mut found) {
            self.dead = true;
            let [a, b] = neg.plan.nodes;
            let (w, r) = if self.dir == 0 { (a, b) } else { (b, a) };
            found.violations.push(format!(
                "node {w} wrote bytes node {r} cannot read on a {} link (byte {}): {text}",
                if neg.plan.leaf { "leaf" } else { "route" },
                self.pos + at as u64
            ));
        }
        self.raw.drain(..at.min(self.raw.len()));
        self.pos += at as u64;
        found
    }

    fn run(
        &mut self,
        at: &mut usize,
        neg: &mut Negotiation,
        out: &mut Vec<(u64, RouteOp)>,
        found: &mut Found,
    ) -> Result<(), String> {
        loop {
            if self.http {
                let rest = &self.raw[*at..];
                let Some(i) = memchr::memmem::find(rest, b"\r\n\r\n") else {
                    if rest.len() > MAX_HEAD {
                        return Err("an HTTP head of over 64 KiB".into());
                    }
                    return Ok(());
                };
                let head = String::from_utf8_lossy(&rest[..i]).into_owned();
                *at += i + 4;
                self.http = false;
                self.framed = true;
                self.upgrade(&head, neg)?;
                found.upgraded = self.dir == 1;
                continue;
            }
            if let Some(s2) = self.s2.as_mut() {
                // Everything from here is S2.
                let sink = if self.framed {
                    &mut self.mid
                } else {
                    &mut self.text
                };
                let n = s2.chunks(&self.raw[*at..], sink)?;
                *at += n;
                if self.framed {
                    let mut mid = std::mem::take(&mut self.mid);
                    let used = self.frames(&mid, neg, out, found)?;
                    mid.drain(..used);
                    self.mid = mid;
                } else {
                    self.ops(neg, out, found)?;
                }
                return Ok(());
            }
            let pos = self.pos + *at as u64;
            let rest = &self.raw[*at..];
            if rest.is_empty() {
                return Ok(());
            }
            // A unit boundary below the protocol (an op's start, or a
            // frame's): where S2 may start.
            let boundary = self.ws.as_ref().is_none_or(|w| w.left.is_none());
            if boundary {
                let due = match self.expect {
                    Expect::Never => None,
                    Expect::AtOnce => Some(true),
                    Expect::Window { from, to } => {
                        let started = from.is_some_and(|f| pos >= f);
                        let late = to.is_some_and(|t| pos >= t);
                        if rest[0] == 0xff && !started {
                            return Err(
                                "S2 starts before the acceptor read the INFO that switches it"
                                    .into(),
                            );
                        }
                        started.then_some(late)
                    }
                };
                let id_prefix = rest.len().min(S2_STREAM_ID.len());
                let looks_s2 = rest[..id_prefix] == S2_STREAM_ID[..id_prefix];
                match due {
                    Some(_) if looks_s2 => {
                        if id_prefix < S2_STREAM_ID.len() {
                            return Ok(());
                        }
                        if !self.text.is_empty() {
                            return Err(format!(
                                "S2 starts in the middle of an op: {:?} before it",
                                lossy(&self.text)
                            ));
                        }
                        // A side that chose s2_uncompressed for good (its
                        // own level, or an accepting side that follows
                        // it; s2_auto may change levels) writes no
                        // compressed chunk.
                        let own = neg.own(self.dir).map(|c| c.mode);
                        let fixed = own != Some(Mode::Auto);
                        let plain = Some(Mode::Level(S2Level::Uncompressed));
                        self.s2 = Some(S2In {
                            started: false,
                            uncompressed_only: fixed
                                && (own == plain || neg.chosen[self.dir] == plain),
                        });
                        self.await_s2_info = self.dir == 1;
                        found.s2_started = true;
                        continue;
                    }
                    Some(true) => {
                        return Err(format!(
                            "{:02x?} where S2 must have started (the negotiation switched it \
                             on{})",
                            &rest[..rest.len().min(10)],
                            if self.expect == Expect::AtOnce {
                                " right after this side's INFO"
                            } else {
                                " when this side read the solicitor's INFO"
                            }
                        ));
                    }
                    Some(false) => {}
                    None if looks_s2 && id_prefix == S2_STREAM_ID.len() => {
                        return Err("an S2 stream where the negotiation switched none on".into());
                    }
                    None => {}
                }
            }
            if self.framed {
                let used = {
                    let raw = std::mem::take(&mut self.raw);
                    let r = self.frame_step(&raw[*at..], neg, out, found);
                    self.raw = raw;
                    r?
                };
                if used == 0 {
                    return Ok(());
                }
                *at += used;
                continue;
            }
            // Plain below: one whole op at a time, so that S2 can start
            // after any of them.
            let Some(n) = op_len(&self.raw[*at..])? else {
                return Ok(());
            };
            let op = self.raw[*at..*at + n].to_vec();
            *at += n;
            self.op(&op, neg, out, found)?;
        }
    }

    /// The HTTP head of the upgrade: the remote's request (direction 0) or
    /// the hub's 101.
    fn upgrade(&mut self, head: &str, neg: &mut Negotiation) -> Result<(), String> {
        let Some(plan) = neg.plan.ws else {
            return Err("an HTTP head on a link that is no WebSocket".into());
        };
        let first = head.lines().next().unwrap_or_default();
        let has = |name: &str, value: &str| {
            head.lines().skip(1).any(|l| {
                l.split_once(':').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case(name)
                        && v.trim().to_ascii_lowercase().contains(value)
                })
            })
        };
        let compress = has("sec-websocket-extensions", "permessage-deflate");
        let no_masking = has("nats-no-masking", "true");
        if self.dir == 0 {
            if !(first.starts_with("GET ") && first.ends_with("/leafnode HTTP/1.1")) {
                return Err(format!("upgrade request line {first:?}"));
            }
            if !has("upgrade", "websocket") || !has("sec-websocket-key", "") {
                return Err(format!("upgrade request without its headers: {head:?}"));
            }
            if (compress, no_masking) != (plan.ask_compress, plan.ask_no_masking) {
                return Err(format!(
                    "upgrade request asks compression {compress} and no masking {no_masking}, \
                     the remote is configured {} and {}",
                    plan.ask_compress, plan.ask_no_masking
                ));
            }
            neg.agreed = Some(Agreed {
                compress: compress && plan.hub_compress,
                no_masking,
            });
        } else {
            if !first.starts_with("HTTP/1.1 101 ") {
                return Err(format!("upgrade answer {first:?}"));
            }
            let got = Agreed {
                compress,
                no_masking,
            };
            let want = Agreed {
                compress: plan.ask_compress && plan.hub_compress,
                no_masking: plan.ask_no_masking,
            };
            if got != want {
                return Err(format!(
                    "the 101 agrees {got:?}, the request and the hub's settings say {want:?}"
                ));
            }
            neg.agreed = Some(got);
        }
        Ok(())
    }

    /// One step of the frames at the start of `src`: a whole header, or
    /// payload bytes of the current frame. Returns the bytes used (0:
    /// more are needed).
    fn frame_step(
        &mut self,
        src: &[u8],
        neg: &mut Negotiation,
        out: &mut Vec<(u64, RouteOp)>,
        found: &mut Found,
    ) -> Result<usize, String> {
        if self.ws.is_none() {
            let agreed = neg.agreed.unwrap_or(Agreed {
                compress: false,
                no_masking: false,
            });
            let reader = 1 - self.dir;
            self.ws = Some(WsIn::new(self.dir, agreed, neg.plan.max_payload[reader]));
        }
        let Some(ws) = self.ws.as_mut() else {
            return Ok(0);
        };
        let (used, plain) = match ws.left {
            None => {
                let Some(n) = ws.header(src)? else {
                    return Ok(0);
                };
                let plain = ws.decode(&src[..n])?;
                if ws.left == Some(0) {
                    ws.left = None;
                }
                (n, plain)
            }
            Some(left) => {
                let n = (left as usize).min(src.len());
                let plain = ws.decode(&src[..n])?;
                ws.left = Some(left - n as u64).filter(|&l| l > 0);
                (n, plain)
            }
        };
        if ws.left.is_none() && ws.closing {
            ws.closed = true;
        }
        self.text.extend_from_slice(&plain);
        if self.expect == Expect::AtOnce && self.s2.is_none() && !self.text.is_empty() {
            return Err(format!(
                "plaintext {:?} after the INFO that switched S2 on",
                lossy(&self.text)
            ));
        }
        self.ops(neg, out, found)?;
        Ok(used)
    }

    /// Reads the frames at the start of `src` (S2-decoded); returns the
    /// bytes used.
    fn frames(
        &mut self,
        src: &[u8],
        neg: &mut Negotiation,
        out: &mut Vec<(u64, RouteOp)>,
        found: &mut Found,
    ) -> Result<usize, String> {
        let mut at = 0;
        while at < src.len() {
            let n = self.frame_step(&src[at..], neg, out, found)?;
            if n == 0 {
                break;
            }
            at += n;
        }
        Ok(at)
    }

    /// Hands the whole ops of `text` to the protocol observer.
    fn ops(
        &mut self,
        neg: &mut Negotiation,
        out: &mut Vec<(u64, RouteOp)>,
        found: &mut Found,
    ) -> Result<(), String> {
        let mut at = 0;
        let text = std::mem::take(&mut self.text);
        let r = loop {
            match op_len(&text[at..]) {
                Ok(Some(n)) => {
                    if let Err(e) = self.op(&text[at..at + n], neg, out, found) {
                        break Err(e);
                    }
                    at += n;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.text = text;
        self.text.drain(..at);
        r
    }

    /// One whole op: the negotiation's INFOs, then the protocol observer.
    fn op(
        &mut self,
        op: &[u8],
        neg: &mut Negotiation,
        out: &mut Vec<(u64, RouteOp)>,
        found: &mut Found,
    ) -> Result<(), String> {
        let info = op.len() >= 5 && op[..5].eq_ignore_ascii_case(b"INFO ");
        if self.expect == Expect::AtOnce && self.s2.is_none() {
            return Err(format!(
                "plaintext {:?} after the INFO that switched S2 on",
                lossy(op)
            ));
        }
        if self.await_s2_info {
            self.await_s2_info = false;
            if !info {
                return Err(format!(
                    "the first op after S2 started is {:?}, not the acceptor's INFO",
                    lossy(&op[..op.len().min(40)])
                ));
            }
            if let (Some(own), Some(chosen)) = (neg.own(1), neg.chosen[1]) {
                let got = compression_field(op);
                let want = info_for(own.mode, chosen);
                if got.as_deref() != Some(want) {
                    found
                        .violations
                        .push(self.says(neg, "compressed INFO", got, want));
                }
            }
        }
        if info {
            if self.infos == 0 {
                self.first_info(op, neg, found);
            }
            self.infos += 1;
        }
        self.nats.feed(op, out);
        Ok(())
    }

    /// A side's first INFO: its mode as the negotiation says.
    fn first_info(&mut self, op: &[u8], neg: &mut Negotiation, found: &mut Found) {
        let field = compression_field(op);
        neg.first_info[self.dir] = Some(field.clone());
        let Some(own) = neg.own(self.dir) else {
            return;
        };
        let ws_compress = neg.agreed.is_some_and(|a| a.compress);
        if self.dir == 1 {
            // The acceptor names its configured mode (none over a
            // WebSocket that compresses).
            let want = if ws_compress {
                None
            } else {
                (own.mode != Mode::NotSupported).then(|| own.mode.as_str())
            };
            if field.as_deref() != want {
                found.violations.push(self.says(
                    neg,
                    "first INFO",
                    field,
                    want.unwrap_or("<none>"),
                ));
            }
            return;
        }
        if !negotiates(&own) {
            let want = (own.mode != Mode::NotSupported).then(|| own.mode.as_str());
            if field.as_deref() != want {
                found
                    .violations
                    .push(self.says(neg, "INFO", field, want.unwrap_or("<none>")));
            }
            return;
        }
        let Some(peer) = neg.first_info[1].clone() else {
            let [a, b] = neg.plan.nodes;
            found.violations.push(format!(
                "S2: node {a} sent its INFO on its link to node {b} before node {b}'s INFO was read"
            ));
            return;
        };
        let peer = peer.unwrap_or_default();
        let Some(theirs) = parse_mode(&peer) else {
            return;
        };
        let chosen = select(own.mode, theirs);
        neg.chosen[0] = Some(chosen);
        let want = info_for(own.mode, chosen);
        if field.as_deref() != Some(want) {
            found.violations.push(self.says(neg, "INFO", field, want));
        }
        if compresses(chosen) {
            self.expect = Expect::AtOnce;
            found.switch_info = true;
        }
    }

    fn says(&self, neg: &Negotiation, what: &str, got: Option<String>, want: &str) -> String {
        let [a, b] = neg.plan.nodes;
        let (w, r) = if self.dir == 0 { (a, b) } else { (b, a) };
        let cfg = |d: usize| neg.own(d).map_or("-", |c| c.mode.as_str());
        format!(
            "S2: node {w}'s {what} on its {} link to node {r} names compression {got:?}, the \
             table says {want:?} (configured: dialer {}, acceptor {}; first INFOs {:?})",
            if neg.plan.leaf { "leaf" } else { "route" },
            cfg(0),
            cfg(1),
            neg.first_info
        )
    }
}

/// The `compression` string of an INFO line, if it has one.
fn compression_field(op: &[u8]) -> Option<String> {
    let key = b"\"compression\":";
    let i = memchr::memmem::find(op, key)? + key.len();
    let rest = op.get(i..)?;
    let start = rest.iter().position(|&b| b != b' ')?;
    let rest = rest[start..].strip_prefix(b"\"")?;
    let end = memchr::memchr(b'"', rest)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned()
}

/// The length of the whole op at the start of `buf`, `None` until it is
/// whole; an error when its first bytes start no op (a verb of letters,
/// `+` and `-`).
pub fn op_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let verb_end = buf
        .iter()
        .position(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(buf.len());
    let verb = &buf[..verb_end];
    let bad = verb
        .iter()
        .position(|&b| !(b.is_ascii_alphabetic() || b == b'+' || b == b'-'));
    if let Some(i) = bad {
        return Err(format!(
            "{:02x?} at an op boundary starts no protocol op (nor an S2 stream)",
            &buf[..buf.len().min(i + 8)]
        ));
    }
    if verb.len() > 8 {
        return Err(format!("no protocol op starts {:?}", lossy(verb)));
    }
    let Some(eol) = memchr::memmem::find(buf, b"\r\n") else {
        if buf.len() > MAX_LINE {
            return Err("a control line of over 1 MiB".into());
        }
        return Ok(None);
    };
    if verb_end < buf.len() && verb.is_empty() {
        return Err(format!("an empty verb: {:?}", lossy(&buf[..eol])));
    }
    let line_end = eol + 2;
    let payload = matches!(
        verb.to_ascii_uppercase().as_slice(),
        b"RMSG" | b"HMSG" | b"LMSG" | b"MSG" | b"PUB" | b"HPUB"
    );
    if !payload {
        return Ok(Some(line_end));
    }
    let size = buf[..eol]
        .split(|&b| b == b' ' || b == b'\t')
        .rfind(|t| !t.is_empty())
        .and_then(|t| std::str::from_utf8(t).ok()?.parse::<usize>().ok())
        .ok_or_else(|| format!("a message line without a size: {:?}", lossy(&buf[..eol])))?;
    let end = line_end + size + 2;
    if buf.len() < end {
        return Ok(None);
    }
    if &buf[end - 2..end] != b"\r\n" {
        return Err(format!(
            "a message whose payload does not end with CRLF: {:?}",
            lossy(&buf[..eol])
        ));
    }
    Ok(Some(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(mode: Mode) -> Compression {
        Compression::new(mode)
    }

    fn s2_stream(data: &[u8]) -> Vec<u8> {
        let mut out = S2_STREAM_ID.to_vec();
        let body_len = data.len() + 4;
        out.extend_from_slice(&[0x01, body_len as u8, (body_len >> 8) as u8, 0]);
        out.extend_from_slice(&minlz::crc::crc(data).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    fn route_neg(sol: Mode, acc: Mode) -> Negotiation {
        Negotiation::new(LinkPlan {
            leaf: false,
            s2: Some([c(sol), c(acc)]),
            ws: None,
            max_payload: [1 << 20; 2],
            nodes: [1, 0],
        })
    }

    #[test]
    fn the_table() {
        let fast = Mode::Level(S2Level::Fast);
        let best = Mode::Level(S2Level::Best);
        assert_eq!(select(Mode::Accept, Mode::NotSupported), Mode::NotSupported);
        assert_eq!(select(Mode::Accept, Mode::Accept), Mode::Off);
        assert_eq!(select(best, Mode::Accept), best);
        assert_eq!(select(Mode::Accept, Mode::Auto), fast);
        assert_eq!(select(fast, best), fast);
        assert_eq!(select(Mode::Accept, best), best);
        assert_eq!(select(Mode::Auto, Mode::Off), Mode::Off);
    }

    #[test]
    fn ops_split_and_bad_verbs_are_refused() {
        assert_eq!(op_len(b"PING\r\nPONG\r\n").unwrap(), Some(6));
        assert_eq!(op_len(b"RMSG $G a 5\r\nhello\r\n").unwrap(), Some(20));
        assert_eq!(op_len(b"RMSG $G a 5\r\nhel").unwrap(), None);
        assert_eq!(op_len(b"I").unwrap(), None);
        assert!(op_len(b"I\xff\x06").is_err());
        assert!(op_len(S2_STREAM_ID).is_err());
    }

    /// Both directions of a route that compresses, byte by byte and
    /// whole: the solicitor switches right after its INFO, the acceptor
    /// in its window; the late switch (its INFO's first byte plain) is
    /// refused.
    #[test]
    fn a_compressing_route_is_read_and_a_late_switch_is_caught() {
        let acc_info = b"INFO {\"server_id\":\"A\",\"compression\":\"accept\"}\r\n".to_vec();
        let sol_info = b"INFO {\"server_id\":\"S\",\"compression\":\"s2_fast\"}\r\n".to_vec();
        let mut sol_stream = b"CONNECT {}\r\n".to_vec();
        sol_stream.extend_from_slice(&sol_info);
        let sol_switch = sol_stream.len();
        sol_stream.extend_from_slice(&s2_stream(b"INFO {}\r\nRS+ $G a.b\r\n"));
        let compressed_info =
            b"INFO {\"server_id\":\"A\",\"compression\":\"s2_fast\"}\r\nRS+ $G c\r\n";
        for late in [false, true] {
            for bytewise in [false, true] {
                let mut neg = route_neg(Mode::Level(S2Level::Fast), Mode::Accept);
                let mut w0 = LinkWire::new(0, RouteWire::default(), &neg);
                let mut w1 = LinkWire::new(1, RouteWire::default(), &neg);
                let mut ops = Vec::new();
                let f = w1.feed(&acc_info, &mut neg, &mut ops);
                assert!(f.violations.is_empty(), "{:?}", f.violations);
                let mut switched = false;
                let pieces: Vec<&[u8]> = if bytewise {
                    sol_stream.chunks(1).collect()
                } else {
                    vec![&sol_stream[..]]
                };
                for p in pieces {
                    let f = w0.feed(p, &mut neg, &mut ops);
                    assert!(f.violations.is_empty(), "{:?}", f.violations);
                    switched |= f.switch_info;
                }
                assert!(switched && w0.s2_on());
                assert_eq!(ops.len(), 1);
                assert_eq!(neg.acceptor_switch().unwrap(), Mode::Level(S2Level::Fast));
                let mut acc_rest = Vec::new();
                if late {
                    acc_rest.push(b'I');
                    acc_rest.extend_from_slice(&s2_stream(&compressed_info[1..]));
                } else {
                    acc_rest.extend_from_slice(&s2_stream(compressed_info));
                }
                w1.expect_window();
                let from = acc_info.len() as u64;
                w1.mark(from, false);
                w1.mark(from + acc_rest.len() as u64, true);
                let mut bad = Vec::new();
                for p in acc_rest.chunks(if bytewise { 1 } else { 4096 }) {
                    bad.extend(w1.feed(p, &mut neg, &mut ops).violations);
                }
                assert_eq!(!bad.is_empty(), late, "{bad:?}");
                if !late {
                    assert!(w1.s2_on());
                    assert_eq!(ops.len(), 2);
                }
                let _ = sol_switch;
            }
        }
    }

    #[test]
    fn s2_where_none_was_negotiated_is_caught() {
        let mut neg = route_neg(Mode::Accept, Mode::Accept);
        let mut w1 = LinkWire::new(1, RouteWire::default(), &neg);
        let mut ops = Vec::new();
        let mut stream = b"INFO {\"compression\":\"accept\"}\r\n".to_vec();
        stream.extend_from_slice(&s2_stream(b"PING\r\n"));
        let f = w1.feed(&stream, &mut neg, &mut ops);
        assert_eq!(f.violations.len(), 1, "{:?}", f.violations);
    }
}
