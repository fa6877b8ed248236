//! The resumable, zero-copy client protocol parser.
//!
//! [`Parser::decode`] consumes a `Bytes` read chunk and returns one op at a
//! time. An op that lies wholly inside the chunk is returned as slices of it
//! (no copy); an op that spans reads is gathered once into the parser's own
//! buffer, with the whole payload reserved as soon as its size is known.
//! Limits are checked on the control line, before waiting for a payload,
//! and on a partial line, so an endless line is stopped early.
//!
//! nats-server's parser is a byte-by-byte state machine: it refuses a
//! byte that cannot continue an op name the moment it reads it, newline
//! or not. [`op_prefix`] gives this line-based parser the same verdicts,
//! on a partial line as on a whole one, so 150 NUL bytes or a TLS
//! ClientHello on a plaintext port get `-ERR 'Unknown Protocol
//! Operation'` and a close at once, not a wait for a newline that never
//! comes.

use super::{ClientOp, ProtocolError};
use bytes::{Buf, Bytes, BytesMut};

/// Limits the parser enforces before waiting for a payload.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest argument part of a control line.
    pub max_control_line: usize,
    /// Largest PUB/HPUB payload.
    pub max_payload: usize,
    /// Whether HPUB is allowed (the client negotiated headers).
    pub headers: bool,
    /// Which ops the peer may send.
    pub dialect: Dialect,
}

/// The op vocabulary of a connection kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG.
    Client,
    /// A route: RS+, RS-, RMSG and HMSG instead of SUB, UNSUB, PUB and
    /// HPUB.
    Route,
    /// A leaf link: LS+, LS-, LMSG and HMSG (no account, no sid) instead
    /// of SUB, UNSUB, PUB and HPUB.
    Leaf,
    /// A gateway link: a route's RS+, RS-, RMSG and HMSG (no origin
    /// cluster), and A+/A- (account interest).
    Gateway,
}

/// Why parsing stopped for good. After an error the parser is poisoned and
/// returns the same error again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Send `-ERR '<text>'` and close.
    Protocol(ProtocolError),
    /// Close without any `-ERR` (bad argument counts or sizes, HPUB without
    /// headers, header size above total size).
    SilentClose,
}

/// A control line parsed, waiting for its payload.
#[derive(Debug)]
struct PendingPub {
    /// The account of a routed message; `Some(empty)` for a leaf's
    /// message, which names none.
    account: Option<Bytes>,
    /// The leaf cluster of a route's `LMSG`.
    origin: Option<Bytes>,
    /// The queue groups of a routed message (space separated).
    queues: Bytes,
    subject: Bytes,
    reply: Option<Bytes>,
    header_len: Option<usize>,
    size: usize,
}

/// The parser state of one connection.
#[derive(Debug, Default)]
pub struct Parser {
    acc: BytesMut,
    pending: Option<PendingPub>,
    failed: Option<ParseError>,
    /// Argument spans of route ops, kept to reuse their allocation.
    spans: Vec<(usize, usize)>,
    /// An `HPUB` refused for its size, for its trace event: its subject,
    /// header size, total size, and as much of its header block as came
    /// with it (see [`Parser::take_oversized`]).
    oversized: Option<(Bytes, usize, usize, Bytes)>,
}

impl Parser {
    /// Creates a parser at the start of an op.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// The subject, declared total size, and as much of the header block
    /// as came in the same read, of the `HPUB` the last `Maximum Payload
    /// Violation` refused: those headers may ask for a trace event of the
    /// refusal.
    pub fn take_oversized(&mut self) -> Option<(Bytes, usize, Bytes)> {
        self.oversized
            .take()
            .map(|(subject, _, total, headers)| (subject, total, headers))
    }

    /// Whether the parser is between ops with nothing buffered.
    pub fn is_idle(&self) -> bool {
        self.acc.is_empty() && self.pending.is_none() && self.failed.is_none()
    }

    /// Consumes bytes from `input` and returns the next complete op,
    /// `Ok(None)` when `input` is exhausted (partial bytes are kept), or an
    /// error.
    pub fn decode(
        &mut self,
        input: &mut Bytes,
        limits: &Limits,
    ) -> Result<Option<ClientOp>, ParseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = self.decode_inner(input, limits);
        if let Err(e) = result {
            if let Some((_, hdr, _, headers)) = &mut self.oversized {
                *headers = input.slice(..(*hdr).min(input.len()));
            }
            self.failed = Some(e);
            input.clear();
        }
        result
    }

    fn decode_inner(
        &mut self,
        input: &mut Bytes,
        limits: &Limits,
    ) -> Result<Option<ClientOp>, ParseError> {
        if self.pending.is_some() {
            return self.payload(input);
        }
        let line = match memchr::memchr(b'\n', input) {
            Some(i) if self.acc.is_empty() => input.split_to(i + 1),
            Some(i) => {
                self.acc.extend_from_slice(&input[..=i]);
                input.advance(i + 1);
                self.acc.split().freeze()
            }
            None => {
                self.acc.extend_from_slice(input);
                input.clear();
                return self.partial(limits);
            }
        };
        match self.line(line, limits)? {
            Some(op) => Ok(Some(op)),
            None => self.payload(input),
        }
    }

    /// Checks the start of a line that has no newline yet (kept in
    /// `self.acc`): bytes no op can begin with fail now, as in
    /// nats-server; the ignored rest of a PING, PONG or +OK is dropped
    /// (nats-server skips it, however long); an op with arguments is held
    /// to the control-line limit.
    fn partial(&mut self, limits: &Limits) -> Result<Option<ClientOp>, ParseError> {
        match op_prefix(&self.acc, limits.dialect) {
            OpPrefix::Invalid => Err(ParseError::Protocol(ProtocolError::UnknownOperation)),
            OpPrefix::Ignored(name_len) => {
                self.acc.truncate(name_len);
                Ok(None)
            }
            OpPrefix::Args(name_len) => {
                check_partial(&self.acc, name_len, limits)?;
                Ok(None)
            }
            OpPrefix::Partial => Ok(None),
        }
    }

    /// Parses one control line (ending in `\n`). Returns `None` when a
    /// payload must follow (kept in `self.pending`).
    fn line(&mut self, line: Bytes, limits: &Limits) -> Result<Option<ClientOp>, ParseError> {
        // A whole line always resolves: its newline ends any op name.
        let name_len = match op_prefix(&line, limits.dialect) {
            OpPrefix::Args(name_len) => name_len,
            OpPrefix::Ignored(_) => {
                return Ok(Some(match line[1].to_ascii_uppercase() {
                    b'I' => ClientOp::Ping,
                    b'O' if line[0] == b'+' => ClientOp::Ok,
                    _ => ClientOp::Pong,
                }));
            }
            OpPrefix::Partial | OpPrefix::Invalid => return UNKNOWN,
        };
        let mut end = line.len() - 1;
        if end > 0 && line[end - 1] == b'\r' {
            end -= 1;
        }
        let text = line.slice(..end);
        let name_len = name_len.min(text.len());
        let op = &text[..name_len];
        // The arguments start after the op's whitespace; CONNECT and INFO
        // may be glued to their JSON, which then starts right after the
        // name (nats-server measures the control line from there too).
        let rest = text.slice(skip_ws(&text, name_len)..);
        if rest.len() > limits.max_control_line {
            return Err(ParseError::Protocol(ProtocolError::MaxControlLine));
        }
        if eq_ci(op, b"CONNECT") {
            return Ok(Some(ClientOp::Connect(rest)));
        }
        if eq_ci(op, b"INFO") {
            return Ok(Some(ClientOp::Info(rest)));
        }
        if eq_ci(op, b"-ERR") {
            return Ok(Some(ClientOp::Err(rest)));
        }
        if limits.dialect != Dialect::Client {
            return self.route_line(op, rest, limits);
        }
        let kind = if eq_ci(op, b"PUB") {
            Kind::Pub
        } else if eq_ci(op, b"HPUB") {
            Kind::HPub
        } else if eq_ci(op, b"SUB") {
            Kind::Sub
        } else if eq_ci(op, b"UNSUB") {
            Kind::Unsub
        } else {
            return UNKNOWN;
        };
        let mut arg_buf: [Bytes; MAX_ARGS + 1] = Default::default();
        let args = split_args(&rest, &mut arg_buf);
        match kind {
            Kind::Pub => {
                let (subject, reply, size) = match args {
                    [s, n] => (s.clone(), None, n),
                    [s, r, n] => (s.clone(), Some(r.clone()), n),
                    _ => return SILENT,
                };
                let size = parse_size(size).ok_or(ParseError::SilentClose)?;
                if size > limits.max_payload {
                    return Err(ParseError::Protocol(ProtocolError::MaxPayload));
                }
                self.pending = Some(PendingPub {
                    origin: None,
                    account: None,
                    queues: Bytes::new(),
                    subject,
                    reply,
                    header_len: None,
                    size,
                });
                Ok(None)
            }
            Kind::HPub => {
                if !limits.headers {
                    return SILENT;
                }
                let (subject, reply, hdr, total) = match args {
                    [s, h, t] => (s.clone(), None, h, t),
                    [s, r, h, t] => (s.clone(), Some(r.clone()), h, t),
                    _ => return SILENT,
                };
                let hdr = parse_size(hdr).ok_or(ParseError::SilentClose)?;
                let total = parse_size(total).ok_or(ParseError::SilentClose)?;
                if hdr > total {
                    return SILENT;
                }
                if total > limits.max_payload {
                    self.oversized = Some((subject, hdr, total, Bytes::new()));
                    return Err(ParseError::Protocol(ProtocolError::MaxPayload));
                }
                self.pending = Some(PendingPub {
                    origin: None,
                    account: None,
                    queues: Bytes::new(),
                    subject,
                    reply,
                    header_len: Some(hdr),
                    size: total,
                });
                Ok(None)
            }
            Kind::Sub => match args {
                [s, sid] => Ok(Some(ClientOp::Sub {
                    subject: s.clone(),
                    queue: None,
                    sid: sid.clone(),
                })),
                [s, q, sid] => Ok(Some(ClientOp::Sub {
                    subject: s.clone(),
                    queue: Some(q.clone()),
                    sid: sid.clone(),
                })),
                _ => SILENT,
            },
            Kind::Unsub => match args {
                [sid] => Ok(Some(ClientOp::Unsub {
                    sid: sid.clone(),
                    max: None,
                })),
                // nats-server reads a malformed max as -1: unsubscribe now.
                [sid, max] => Ok(Some(ClientOp::Unsub {
                    sid: sid.clone(),
                    max: Some(parse_size(max).map_or(0, |m| m as u64)),
                })),
                _ => SILENT,
            },
        }
    }

    /// Parses the argument part of a route op (`RS+`, `RS-`, `RMSG`,
    /// `HMSG`) or a leaf op (`LS+`, `LS-`, `LMSG`, `HMSG`). Malformed
    /// arguments close the link silently.
    fn route_line(
        &mut self,
        op: &[u8],
        rest: Bytes,
        limits: &Limits,
    ) -> Result<Option<ClientOp>, ParseError> {
        let mut spans = std::mem::take(&mut self.spans);
        arg_spans(&rest, &mut spans);
        let result = self.route_args(op, &rest, &spans, limits);
        self.spans = spans;
        result
    }

    fn route_args(
        &mut self,
        op: &[u8],
        rest: &Bytes,
        spans: &[(usize, usize)],
        limits: &Limits,
    ) -> Result<Option<ClientOp>, ParseError> {
        if limits.dialect == Dialect::Leaf {
            return self.leaf_args(op, rest, spans, limits);
        }
        if limits.dialect == Dialect::Gateway {
            let account = |plus| match spans {
                [a] => Ok(Some(if plus {
                    ClientOp::AccountSub(rest.slice(a.0..a.1))
                } else {
                    ClientOp::AccountUnsub(rest.slice(a.0..a.1))
                })),
                _ => Err(ParseError::SilentClose),
            };
            if eq_ci(op, b"A+") {
                return account(true);
            }
            if eq_ci(op, b"A-") {
                return account(false);
            }
            if eq_ci(op, b"LS+") || eq_ci(op, b"LS-") || eq_ci(op, b"LMSG") {
                return Err(ParseError::Protocol(ProtocolError::UnknownOperation));
            }
        }
        // `LS+`, `LS-` and `LMSG` on a route start with the origin cluster.
        let leafy = eq_ci(op, b"LS+") || eq_ci(op, b"LS-") || eq_ci(op, b"LMSG");
        let (origin, spans) = match (leafy, spans.split_first()) {
            (true, Some((o, rest_spans))) => (Some(rest.slice(o.0..o.1)), rest_spans),
            (true, None) => return SILENT,
            (false, _) => (None, spans),
        };
        let arg = |i: usize| rest.slice(spans[i].0..spans[i].1);
        if eq_ci(op, b"RS+") || eq_ci(op, b"LS+") {
            let (queue, weight) = match spans.len() {
                2 => (None, 1),
                3 => (Some(arg(2)), 1),
                4 => {
                    let w = parse_size(&arg(3)).ok_or(ParseError::SilentClose)?;
                    (Some(arg(2)), u32::try_from(w).unwrap_or(u32::MAX))
                }
                _ => return SILENT,
            };
            return Ok(Some(ClientOp::RouteSub {
                origin,
                account: arg(0),
                subject: arg(1),
                queue,
                weight,
            }));
        }
        if eq_ci(op, b"RS-") || eq_ci(op, b"LS-") {
            let queue = match spans.len() {
                2 => None,
                3 | 4 => Some(arg(2)),
                _ => return SILENT,
            };
            return Ok(Some(ClientOp::RouteUnsub {
                origin,
                account: arg(0),
                subject: arg(1),
                queue,
            }));
        }
        if eq_ci(op, b"LMSG") {
            let Some(first) = spans.first() else {
                return SILENT;
            };
            let account = rest.slice(first.0..first.1);
            return self.msg_args(rest, &spans[1..], Some(account), origin, true, limits);
        }
        let headers = if eq_ci(op, b"RMSG") {
            false
        } else if eq_ci(op, b"HMSG") {
            true
        } else {
            return Err(ParseError::Protocol(ProtocolError::UnknownOperation));
        };
        if spans.is_empty() {
            return SILENT;
        }
        self.msg_args(rest, &spans[1..], Some(arg(0)), None, headers, limits)
    }

    /// `LS+ <subject> [<queue> <weight>]`, `LS- <subject> [<queue>]`,
    /// `LMSG`/`HMSG <subject> [reply | + reply queues.. | '|' queues..]
    /// sizes` from a leaf link.
    fn leaf_args(
        &mut self,
        op: &[u8],
        rest: &Bytes,
        spans: &[(usize, usize)],
        limits: &Limits,
    ) -> Result<Option<ClientOp>, ParseError> {
        let arg = |i: usize| rest.slice(spans[i].0..spans[i].1);
        if eq_ci(op, b"LS+") {
            let (queue, weight) = match spans.len() {
                1 => (None, 1),
                3 => {
                    let w = parse_size(&arg(2)).ok_or(ParseError::SilentClose)?;
                    (Some(arg(1)), u32::try_from(w).unwrap_or(u32::MAX))
                }
                _ => return SILENT,
            };
            return Ok(Some(ClientOp::LeafSub {
                subject: arg(0),
                queue,
                weight,
            }));
        }
        if eq_ci(op, b"LS-") {
            let queue = match spans.len() {
                1 => None,
                2 | 3 => Some(arg(1)),
                _ => return SILENT,
            };
            return Ok(Some(ClientOp::LeafUnsub {
                subject: arg(0),
                queue,
            }));
        }
        let headers = if eq_ci(op, b"LMSG") {
            false
        } else if eq_ci(op, b"HMSG") {
            true
        } else {
            return Err(ParseError::Protocol(ProtocolError::UnknownOperation));
        };
        self.msg_args(rest, spans, None, None, headers, limits)
    }

    /// The arguments of a routed or leaf message after its account (a
    /// route's, already taken as `account`; a route's `LMSG` also has its
    /// `origin`): `subject [reply | + reply queues.. | '|' queues..] [hdr]
    /// size`.
    fn msg_args(
        &mut self,
        rest: &Bytes,
        spans: &[(usize, usize)],
        account: Option<Bytes>,
        origin: Option<Bytes>,
        headers: bool,
        limits: &Limits,
    ) -> Result<Option<ClientOp>, ParseError> {
        let arg = |i: usize| rest.slice(spans[i].0..spans[i].1);
        let sizes = if headers { 2 } else { 1 };
        if spans.len() < 1 + sizes {
            return SILENT;
        }
        let middle = &spans[1..spans.len() - sizes];
        let (reply, queues) = match middle {
            [] => (None, Bytes::new()),
            [r] => (Some(rest.slice(r.0..r.1)), Bytes::new()),
            [m, r, qs @ ..] if &rest[m.0..m.1] == b"+" => {
                let queues = match (qs.first(), qs.last()) {
                    (Some(first), Some(last)) => rest.slice(first.0..last.1),
                    _ => Bytes::new(),
                };
                (Some(rest.slice(r.0..r.1)), queues)
            }
            [m, first, qs @ ..] if &rest[m.0..m.1] == b"|" => {
                let end = qs.last().unwrap_or(first).1;
                (None, rest.slice(first.0..end))
            }
            _ => return SILENT,
        };
        let n = spans.len();
        let total = parse_size(&arg(n - 1)).ok_or(ParseError::SilentClose)?;
        let header_len = if headers {
            let h = parse_size(&arg(n - 2)).ok_or(ParseError::SilentClose)?;
            if h > total {
                return SILENT;
            }
            Some(h)
        } else {
            None
        };
        if total > limits.max_payload {
            return Err(ParseError::Protocol(ProtocolError::MaxPayload));
        }
        self.pending = Some(PendingPub {
            origin,
            account: Some(account.unwrap_or_default()),
            queues,
            subject: arg(0),
            reply,
            header_len,
            size: total,
        });
        Ok(None)
    }

    /// Gathers the payload of `self.pending` plus its CRLF.
    fn payload(&mut self, input: &mut Bytes) -> Result<Option<ClientOp>, ParseError> {
        let Some(p) = self.pending.as_ref() else {
            return Ok(None);
        };
        let need = p.size + 2;
        let frame = if self.acc.is_empty() && input.len() >= need {
            input.split_to(need)
        } else {
            if self.acc.is_empty() {
                self.acc.reserve(need);
            }
            let take = (need - self.acc.len()).min(input.len());
            self.acc.extend_from_slice(&input[..take]);
            input.advance(take);
            if self.acc.len() < need {
                return Ok(None);
            }
            self.acc.split().freeze()
        };
        let Some(p) = self.pending.take() else {
            return Ok(None);
        };
        if frame[p.size] != b'\r' || frame[p.size + 1] != b'\n' {
            return Err(ParseError::Protocol(ProtocolError::UnknownOperation));
        }
        let message = frame.slice(..p.size);
        if let Some(account) = p.account {
            if account.is_empty() {
                return Ok(Some(ClientOp::LeafMsg {
                    subject: p.subject,
                    reply: p.reply,
                    queues: p.queues,
                    header_len: p.header_len.unwrap_or(0),
                    message,
                }));
            }
            return Ok(Some(ClientOp::RouteMsg {
                origin: p.origin,
                account,
                subject: p.subject,
                reply: p.reply,
                queues: p.queues,
                header_len: p.header_len.unwrap_or(0),
                message,
            }));
        }
        Ok(Some(match p.header_len {
            None => ClientOp::Pub {
                subject: p.subject,
                reply: p.reply,
                payload: message,
            },
            Some(header_len) => ClientOp::HPub {
                subject: p.subject,
                reply: p.reply,
                header_len,
                message,
            },
        }))
    }
}

/// The answer to bytes no op begins with. A constant, not a local: a
/// local `Result` that is not returned must be dropped, and that drop
/// glue, when the optimiser leaves it out of line, costs a call on every
/// op of the hot path.
const UNKNOWN: Result<Option<ClientOp>, ParseError> =
    Err(ParseError::Protocol(ProtocolError::UnknownOperation));
/// The answer to an op whose arguments close the link silently (a
/// constant for the reason [`UNKNOWN`] is one).
const SILENT: Result<Option<ClientOp>, ParseError> = Err(ParseError::SilentClose);

/// What may follow an op's name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// PING, PONG, +OK: anything up to the newline, ignored.
    Ignored,
    /// CONNECT, INFO: the JSON, glued on or after whitespace.
    Glued,
    /// Every other op: a space or tab, then the arguments.
    Spaced,
}

/// The op names nats-server's parser accepts from a client (upper case;
/// matched case-insensitively), and from a route too. `HMSG` is among
/// them: nats-server refuses it from a client only at its newline.
const CLIENT_OPS: &[(&[u8], Tail)] = &[
    (b"PUB", Tail::Spaced),
    (b"HPUB", Tail::Spaced),
    (b"SUB", Tail::Spaced),
    (b"UNSUB", Tail::Spaced),
    (b"PING", Tail::Ignored),
    (b"PONG", Tail::Ignored),
    (b"CONNECT", Tail::Glued),
    (b"INFO", Tail::Glued),
    (b"+OK", Tail::Ignored),
    (b"-ERR", Tail::Spaced),
    (b"HMSG", Tail::Spaced),
];

/// The op names nats-server's parser accepts from a route besides the
/// client's (its leaf-node and account ops among them: it reads those
/// from a route too).
const ROUTE_ONLY_OPS: &[(&[u8], Tail)] = &[
    (b"RMSG", Tail::Spaced),
    (b"RS+", Tail::Spaced),
    (b"RS-", Tail::Spaced),
    (b"LS+", Tail::Spaced),
    (b"LS-", Tail::Spaced),
    (b"LMSG", Tail::Spaced),
    (b"A+", Tail::Spaced),
    (b"A-", Tail::Spaced),
];

/// The op names nats-server's parser accepts from a leaf link besides the
/// client's.
const LEAF_ONLY_OPS: &[(&[u8], Tail)] = &[
    (b"LS+", Tail::Spaced),
    (b"LS-", Tail::Spaced),
    (b"LMSG", Tail::Spaced),
];

/// How far the first bytes of a line get in the op grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpPrefix {
    /// The start of some op name (or a name still waiting for its space).
    Partial,
    /// PING, PONG or +OK, whose name is this long: the rest is ignored.
    Ignored(usize),
    /// An op that takes arguments (or JSON), whose name is this long.
    Args(usize),
    /// No op begins this way: `-ERR 'Unknown Protocol Operation'`.
    Invalid,
}

/// Where `bytes`, the start of a line (with its newline if it has one),
/// stands in the op grammar of `dialect`. No op name is a prefix of
/// another, so at most one op matches in full.
fn op_prefix(bytes: &[u8], dialect: Dialect) -> OpPrefix {
    // The ops of the message path, as clients and servers write them,
    // before the table (which gives the same verdicts for these).
    match (bytes, dialect) {
        ([b'P', b'U', b'B', b' ' | b'\t', ..], _) | ([b'S', b'U', b'B', b' ' | b'\t', ..], _) => {
            return OpPrefix::Args(3)
        }
        ([b'H', b'P', b'U', b'B', b' ' | b'\t', ..], _)
        | ([b'R', b'M', b'S', b'G', b' ' | b'\t', ..], Dialect::Route | Dialect::Gateway)
        | (
            [b'H', b'M', b'S', b'G', b' ' | b'\t', ..],
            Dialect::Route | Dialect::Leaf | Dialect::Gateway,
        )
        | ([b'L', b'M', b'S', b'G', b' ' | b'\t', ..], Dialect::Leaf) => return OpPrefix::Args(4),
        _ => {}
    }
    op_prefix_by_table(bytes, dialect)
}

/// [`op_prefix`] by the op tables alone.
fn op_prefix_by_table(bytes: &[u8], dialect: Dialect) -> OpPrefix {
    let route_ops = match dialect {
        Dialect::Client => &[][..],
        Dialect::Route | Dialect::Gateway => ROUTE_ONLY_OPS,
        Dialect::Leaf => LEAF_ONLY_OPS,
    };
    let mut verdict = OpPrefix::Invalid;
    for &(name, tail) in CLIENT_OPS.iter().chain(route_ops) {
        let n = name.len().min(bytes.len());
        if !bytes[..n].eq_ignore_ascii_case(&name[..n]) {
            continue;
        }
        let next = bytes.get(name.len());
        match (tail, next) {
            (_, None) if bytes.len() < name.len() => verdict = OpPrefix::Partial,
            (Tail::Ignored, _) => return OpPrefix::Ignored(name.len()),
            (Tail::Glued, _) | (Tail::Spaced, Some(b' ' | b'\t')) => {
                return OpPrefix::Args(name.len());
            }
            (Tail::Spaced, None) => verdict = OpPrefix::Partial,
            (Tail::Spaced, Some(_)) => {}
        }
    }
    verdict
}

#[derive(Clone, Copy)]
enum Kind {
    Pub,
    HPub,
    Sub,
    Unsub,
}

/// Stops a line that grows past the control-line limit before its
/// newline: its arguments start after the op name (`name_len` bytes) and
/// the whitespace that follows.
fn check_partial(partial: &[u8], name_len: usize, limits: &Limits) -> Result<(), ParseError> {
    if partial.len() <= limits.max_control_line {
        return Ok(());
    }
    let start = skip_ws(partial, name_len.min(partial.len()));
    let mut arg_len = partial.len().saturating_sub(start);
    if partial.last() == Some(&b'\r') {
        arg_len = arg_len.saturating_sub(1);
    }
    if arg_len > limits.max_control_line {
        return Err(ParseError::Protocol(ProtocolError::MaxControlLine));
    }
    Ok(())
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && matches!(s[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// Most arguments any client op takes (HPUB with a reply subject).
const MAX_ARGS: usize = 4;

/// Splits `rest` into its whitespace-separated arguments as zero-copy
/// slices stored in `buf`; more than [`MAX_ARGS`] arguments yield a slice
/// of `MAX_ARGS + 1`, which no op accepts.
fn split_args<'a>(rest: &Bytes, buf: &'a mut [Bytes; MAX_ARGS + 1]) -> &'a [Bytes] {
    let mut n = 0;
    let mut i = 0;
    while i < rest.len() && n < buf.len() {
        i = skip_ws(rest, i);
        let start = i;
        while i < rest.len() && !matches!(rest[i], b' ' | b'\t') {
            i += 1;
        }
        if i > start {
            buf[n] = rest.slice(start..i);
            n += 1;
        }
    }
    &buf[..n]
}

/// The `(start, end)` of each whitespace-separated argument of `rest`
/// (route ops: any number of queue names).
fn arg_spans(rest: &[u8], spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    let mut i = 0;
    while i < rest.len() {
        i = skip_ws(rest, i);
        let start = i;
        while i < rest.len() && !matches!(rest[i], b' ' | b'\t') {
            i += 1;
        }
        if i > start {
            spans.push((start, i));
        }
    }
}

fn parse_size(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 18 {
        return None;
    }
    let mut n: usize = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as usize;
    }
    Some(n)
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The fast path for the message ops gives the tables' verdicts.
        #[test]
        fn op_fast_path_agrees_with_the_tables(
            head in proptest::sample::select(vec!["PUB", "SUB", "HPUB", "RMSG", "HMSG", "PUBX", "pub", "RS+", "MSG"]),
            sep in proptest::sample::select(vec![" ", "\t", "", "x", "\r\n"]),
            tail in "[a-z ]{0,4}",
        ) {
            let line = format!("{head}{sep}{tail}");
            for dialect in [Dialect::Client, Dialect::Route, Dialect::Leaf] {
                proptest::prop_assert_eq!(
                    op_prefix(line.as_bytes(), dialect),
                    op_prefix_by_table(line.as_bytes(), dialect),
                    "{:?} {:?}", line, dialect
                );
            }
        }
    }

    use super::*;

    const LIMITS: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
        headers: true,
        dialect: Dialect::Client,
    };

    const ROUTE: Limits = Limits {
        dialect: Dialect::Route,
        ..LIMITS
    };

    fn route_ops(data: &[u8]) -> Result<Vec<ClientOp>, ParseError> {
        let mut p = Parser::new();
        let mut input = Bytes::copy_from_slice(data);
        let mut ops = Vec::new();
        while let Some(op) = p.decode(&mut input, &ROUTE)? {
            ops.push(op);
        }
        Ok(ops)
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn leaf_ops(data: &[u8]) -> Result<Vec<ClientOp>, ParseError> {
        let limits = Limits {
            dialect: Dialect::Leaf,
            ..ROUTE
        };
        let mut p = Parser::new();
        let mut input = Bytes::copy_from_slice(data);
        let mut ops = Vec::new();
        while let Some(op) = p.decode(&mut input, &limits)? {
            ops.push(op);
        }
        Ok(ops)
    }

    #[test]
    fn leaf_ops_have_no_account_and_no_sid() {
        let ops = leaf_ops(
            b"LS+ foo\r\nls+ bar q 3\r\nLS- bar q\r\nLMSG s + r q1 q2 1\r\nx\r\nHMSG s 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                ClientOp::LeafSub {
                    subject: b("foo"),
                    queue: None,
                    weight: 1
                },
                ClientOp::LeafSub {
                    subject: b("bar"),
                    queue: Some(b("q")),
                    weight: 3
                },
                ClientOp::LeafUnsub {
                    subject: b("bar"),
                    queue: Some(b("q"))
                },
                ClientOp::LeafMsg {
                    subject: b("s"),
                    reply: Some(b("r")),
                    queues: b("q1 q2"),
                    header_len: 0,
                    message: b("x")
                },
                ClientOp::LeafMsg {
                    subject: b("s"),
                    reply: None,
                    queues: Bytes::new(),
                    header_len: 12,
                    message: b("NATS/1.0\r\n\r\nhi")
                },
            ]
        );
        // Two arguments to LS+ are a parse error; RMSG is not a leaf op.
        assert_eq!(leaf_ops(b"LS+ foo bar\r\n"), Err(ParseError::SilentClose));
        assert_eq!(
            leaf_ops(b"RMSG $G s 1\r\nx\r\n"),
            Err(ParseError::Protocol(ProtocolError::UnknownOperation))
        );
    }

    #[test]
    fn route_leaf_ops_carry_their_origin_cluster() {
        let ops = route_ops(
            b"LS+ LC APP t.l1\r\nLS+ LC APP w q 2\r\nLS- LC APP t.l1\r\nLMSG LC APP t.l1 r 0 2\r\nhi\r\n",
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                ClientOp::RouteSub {
                    origin: Some(b("LC")),
                    account: b("APP"),
                    subject: b("t.l1"),
                    queue: None,
                    weight: 1
                },
                ClientOp::RouteSub {
                    origin: Some(b("LC")),
                    account: b("APP"),
                    subject: b("w"),
                    queue: Some(b("q")),
                    weight: 2
                },
                ClientOp::RouteUnsub {
                    origin: Some(b("LC")),
                    account: b("APP"),
                    subject: b("t.l1"),
                    queue: None
                },
                ClientOp::RouteMsg {
                    origin: Some(b("LC")),
                    account: b("APP"),
                    subject: b("t.l1"),
                    reply: Some(b("r")),
                    queues: Bytes::new(),
                    header_len: 0,
                    message: b("hi")
                },
            ]
        );
    }

    #[test]
    fn route_interest_ops() {
        let ops = route_ops(b"RS+ $G foo\r\nRS+ $G bar grp 3\r\nRS- $G bar grp\r\nRS- $G foo\r\n")
            .unwrap();
        assert_eq!(
            ops,
            vec![
                ClientOp::RouteSub {
                    origin: None,
                    account: b("$G"),
                    subject: b("foo"),
                    queue: None,
                    weight: 1
                },
                ClientOp::RouteSub {
                    origin: None,
                    account: b("$G"),
                    subject: b("bar"),
                    queue: Some(b("grp")),
                    weight: 3
                },
                ClientOp::RouteUnsub {
                    origin: None,
                    account: b("$G"),
                    subject: b("bar"),
                    queue: Some(b("grp"))
                },
                ClientOp::RouteUnsub {
                    origin: None,
                    account: b("$G"),
                    subject: b("foo"),
                    queue: None
                },
            ]
        );
    }

    #[test]
    fn routed_messages_in_every_form() {
        let msg = |reply: Option<&str>, queues: &str, header_len: usize, message: &str| {
            ClientOp::RouteMsg {
                origin: None,
                account: b("$G"),
                subject: b("s"),
                reply: reply.map(b),
                queues: b(queues),
                header_len,
                message: b(message),
            }
        };
        let cases: [(&[u8], ClientOp); 6] = [
            (b"RMSG $G s 3\r\nabc\r\n", msg(None, "", 0, "abc")),
            (
                b"RMSG $G s r.1 3\r\nabc\r\n",
                msg(Some("r.1"), "", 0, "abc"),
            ),
            (
                b"RMSG $G s + rr q1 q2 1\r\nx\r\n",
                msg(Some("rr"), "q1 q2", 0, "x"),
            ),
            (b"RMSG $G s | qq 1\r\nx\r\n", msg(None, "qq", 0, "x")),
            (
                b"HMSG $G s r.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                msg(Some("r.2"), "", 12, "NATS/1.0\r\n\r\nhi"),
            ),
            (
                b"HMSG $G s | a b 12 12\r\nNATS/1.0\r\n\r\n\r\n",
                msg(None, "a b", 12, "NATS/1.0\r\n\r\n"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                route_ops(input).unwrap(),
                vec![want],
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn malformed_route_ops_close_silently() {
        for input in [
            &b"RS+ $G\r\n"[..],
            b"RS+ $G a q x\r\n",
            b"RMSG $G\r\n",
            b"RMSG $G s a b 3\r\n",
            b"HMSG $G s 5 3\r\n",
        ] {
            assert_eq!(
                route_ops(input).unwrap_err(),
                ParseError::SilentClose,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            route_ops(b"PUB a 1\r\nx\r\n").unwrap_err(),
            ParseError::Protocol(ProtocolError::UnknownOperation)
        );
    }

    fn all(p: &mut Parser, data: &[u8]) -> Result<Vec<ClientOp>, ParseError> {
        let mut input = Bytes::copy_from_slice(data);
        let mut ops = Vec::new();
        while let Some(op) = p.decode(&mut input, &LIMITS)? {
            ops.push(op);
        }
        Ok(ops)
    }

    #[test]
    fn whole_op_is_zero_copy() {
        let mut p = Parser::new();
        let mut input = Bytes::from_static(b"PUB a 3\r\nabc\r\n");
        let op = p.decode(&mut input, &LIMITS).unwrap().unwrap();
        let ClientOp::Pub { payload, .. } = op else {
            panic!("not a PUB")
        };
        assert_eq!(&payload[..], b"abc");
        assert!(input.is_empty());
    }

    #[test]
    fn split_pub_is_gathered() {
        let mut p = Parser::new();
        let mut ops = Vec::new();
        for part in [&b"PU"[..], b"B sp 5\r\nhel", b"lo\r", b"\n"] {
            ops.extend(all(&mut p, part).unwrap());
        }
        assert_eq!(
            ops,
            vec![ClientOp::Pub {
                subject: Bytes::from_static(b"sp"),
                reply: None,
                payload: Bytes::from_static(b"hello"),
            }]
        );
        assert!(p.is_idle());
    }

    #[test]
    fn errors_are_sticky() {
        let mut p = Parser::new();
        let e = all(&mut p, b"FOO\r\n").unwrap_err();
        assert_eq!(e, ParseError::Protocol(ProtocolError::UnknownOperation));
        assert_eq!(all(&mut p, b"PING\r\n").unwrap_err(), e);
    }

    const UNKNOWN: ParseError = ParseError::Protocol(ProtocolError::UnknownOperation);

    /// What nats-server 2.15.1 answered on a raw socket, no newline sent:
    /// a refused byte closes at once, a possible op start waits.
    #[test]
    fn bytes_no_op_begins_with_fail_without_a_newline() {
        for refused in [
            &b"\x00"[..],
            &[0u8; 150],
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
            b"GET / HTTP/1.1",
            b"X",
            b"M",
            b"MSG",
            b"R",
            b"A",
            b"L",
            b" ",
            b"\t",
            b"\r",
            b"\n",
            b"PUX",
            b"PUBX",
            b"HX",
            b"INFX",
            b"P\n",
            b"PUB\n",
            b"PUB\r",
            b"PIN\n",
            b"-ERR\n",
            b"CONNECT {}\r\nX",
        ] {
            let mut p = Parser::new();
            assert_eq!(
                all(&mut p, refused).unwrap_err(),
                UNKNOWN,
                "{:?}",
                refused.escape_ascii().to_string()
            );
        }
        for waits in [
            &b"P"[..],
            b"pu",
            b"PUB",
            b"PUB ",
            b"HPUB\t",
            b"H",
            b"HMSG ",
            b"sub",
            b"UNSU",
            b"C",
            b"CONNECT",
            b"CONNECTx",
            b"INFO",
            b"INFOx",
            b"+",
            b"+OK",
            b"-ERR",
            b"-err ",
            b"PING",
            b"PONG xyz",
        ] {
            let mut p = Parser::new();
            assert_eq!(
                all(&mut p, waits),
                Ok(vec![]),
                "{:?}",
                waits.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn a_refused_byte_fails_in_a_later_read_too() {
        let mut p = Parser::new();
        assert_eq!(all(&mut p, b"CONN"), Ok(vec![]));
        assert_eq!(all(&mut p, b"EX").unwrap_err(), UNKNOWN);
        let mut p = Parser::new();
        assert_eq!(all(&mut p, b"PING\r\nSU"), Ok(vec![ClientOp::Ping]));
        assert_eq!(all(&mut p, b"X").unwrap_err(), UNKNOWN);
    }

    #[test]
    fn the_route_dialect_has_its_own_op_starts() {
        let mut input = Bytes::from_static(b"RS+ $G a\r\nLS+ x\r\n");
        let mut p = Parser::new();
        assert!(matches!(
            p.decode(&mut input, &ROUTE),
            Ok(Some(ClientOp::RouteSub { .. }))
        ));
        for waits in [
            &b"R"[..],
            b"RM",
            b"RS",
            b"RS-",
            b"L",
            b"LMSG ",
            b"A+",
            b"A- ",
        ] {
            let mut input = Bytes::copy_from_slice(waits);
            assert_eq!(Parser::new().decode(&mut input, &ROUTE), Ok(None));
        }
        for refused in [&b"M"[..], b"MX", b"RX", b"AX", b"\x00"] {
            let mut input = Bytes::copy_from_slice(refused);
            assert_eq!(Parser::new().decode(&mut input, &ROUTE), Err(UNKNOWN));
        }
    }

    /// nats-server skips whatever follows PING, PONG or +OK up to the
    /// newline, however long, and holds nothing of it.
    #[test]
    fn ping_junk_is_dropped_not_limited() {
        let mut p = Parser::new();
        let junk = vec![b'x'; 3 * 4096];
        assert_eq!(all(&mut p, b"PING "), Ok(vec![]));
        for _ in 0..10 {
            assert_eq!(all(&mut p, &junk), Ok(vec![]));
        }
        assert!(p.acc.len() <= 4, "junk kept: {}", p.acc.len());
        assert_eq!(all(&mut p, b"\r\n"), Ok(vec![ClientOp::Ping]));
        let mut line = b"+OK ".to_vec();
        line.extend_from_slice(&junk);
        line.extend_from_slice(b"\r\nPONG");
        line.extend_from_slice(&junk);
        line.extend_from_slice(b"\n");
        assert_eq!(all(&mut p, &line), Ok(vec![ClientOp::Ok, ClientOp::Pong]));
    }

    /// CONNECT and INFO glued to their argument: the control line is
    /// measured from right after the name, as nats-server does.
    #[test]
    fn glued_arguments_count_against_the_control_line() {
        let limit = ParseError::Protocol(ProtocolError::MaxControlLine);
        for op in ["INFO", "CONNECT", "INFO \t"] {
            let mut ok = op.as_bytes().to_vec();
            ok.extend_from_slice(&[b'x'; 4096]);
            let mut over = ok.clone();
            over.push(b'x');
            ok.extend_from_slice(b"\r\n");
            assert!(all(&mut Parser::new(), &ok).is_ok(), "{op}");
            assert_eq!(
                all(&mut Parser::new(), &over).unwrap_err(),
                limit,
                "{op} partial"
            );
            over.extend_from_slice(b"\r\n");
            assert_eq!(all(&mut Parser::new(), &over).unwrap_err(), limit, "{op}");
        }
    }

    #[test]
    fn bad_arguments_close_silently() {
        for input in [
            &b"PUB foo\r\n"[..],
            b"PUB foo abc\r\n",
            b"PUB s -1\r\n",
            b"SUB a\r\n",
        ] {
            assert_eq!(
                all(&mut Parser::new(), input).unwrap_err(),
                ParseError::SilentClose
            );
        }
    }
}
