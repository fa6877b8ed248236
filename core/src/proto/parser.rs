//! The resumable, zero-copy client protocol parser.
//!
//! [`Parser::decode`] consumes a `Bytes` read chunk and returns one op at a
//! time. An op that lies wholly inside the chunk is returned as slices of it
//! (no copy); an op that spans reads is gathered once into the parser's own
//! buffer, with the whole payload reserved as soon as its size is known.
//! Limits are checked on the control line, before waiting for a payload,
//! and on a partial line, so an endless line is stopped early.

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
    /// The account of a routed message.
    account: Option<Bytes>,
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
}

impl Parser {
    /// Creates a parser at the start of an op.
    pub fn new() -> Parser {
        Parser::default()
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
        let line = if self.acc.is_empty() {
            match memchr::memchr(b'\n', input) {
                Some(i) => input.split_to(i + 1),
                None => {
                    check_partial(input, limits)?;
                    self.acc.extend_from_slice(input);
                    input.clear();
                    return Ok(None);
                }
            }
        } else {
            match memchr::memchr(b'\n', input) {
                Some(i) => {
                    self.acc.extend_from_slice(&input[..=i]);
                    input.advance(i + 1);
                    self.acc.split().freeze()
                }
                None => {
                    self.acc.extend_from_slice(input);
                    input.clear();
                    check_partial(&self.acc, limits)?;
                    return Ok(None);
                }
            }
        };
        match self.line(line, limits)? {
            Some(op) => Ok(Some(op)),
            None => self.payload(input),
        }
    }

    /// Parses one control line (ending in `\n`). Returns `None` when a
    /// payload must follow (kept in `self.pending`).
    fn line(&mut self, line: Bytes, limits: &Limits) -> Result<Option<ClientOp>, ParseError> {
        let mut end = line.len() - 1;
        if end > 0 && line[end - 1] == b'\r' {
            end -= 1;
        }
        let text = line.slice(..end);
        let op_len = text
            .iter()
            .position(|&b| matches!(b, b' ' | b'\t'))
            .unwrap_or(text.len());
        let op = &text[..op_len];
        let unknown = Err(ParseError::Protocol(ProtocolError::UnknownOperation));
        if starts_with_ci(op, b"PING") {
            return Ok(Some(ClientOp::Ping));
        }
        if starts_with_ci(op, b"PONG") {
            return Ok(Some(ClientOp::Pong));
        }
        if starts_with_ci(op, b"+OK") {
            return Ok(Some(ClientOp::Ok));
        }
        let rest_start = skip_ws(&text, op_len);
        let rest = text.slice(rest_start..);
        if rest.len() > limits.max_control_line {
            return Err(ParseError::Protocol(ProtocolError::MaxControlLine));
        }
        // CONNECT and INFO may be glued to their JSON.
        if starts_with_ci(&text, b"CONNECT") {
            let start = skip_ws(&text, 7);
            return Ok(Some(ClientOp::Connect(text.slice(start..))));
        }
        if starts_with_ci(&text, b"INFO") {
            let start = skip_ws(&text, 4);
            return Ok(Some(ClientOp::Info(text.slice(start..))));
        }
        if eq_ci(op, b"-ERR") {
            return Ok(Some(ClientOp::Err(rest)));
        }
        if limits.dialect == Dialect::Route {
            if op_len == text.len() {
                return unknown;
            }
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
            return unknown;
        };
        if op_len == text.len() {
            // The op name must be followed by whitespace and arguments.
            return unknown;
        }
        let mut arg_buf: [Bytes; MAX_ARGS + 1] = Default::default();
        let args = split_args(&rest, &mut arg_buf);
        let silent = Err(ParseError::SilentClose);
        match kind {
            Kind::Pub => {
                let (subject, reply, size) = match args {
                    [s, n] => (s.clone(), None, n),
                    [s, r, n] => (s.clone(), Some(r.clone()), n),
                    _ => return silent,
                };
                let size = parse_size(size).ok_or(ParseError::SilentClose)?;
                if size > limits.max_payload {
                    return Err(ParseError::Protocol(ProtocolError::MaxPayload));
                }
                self.pending = Some(PendingPub {
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
                    return silent;
                }
                let (subject, reply, hdr, total) = match args {
                    [s, h, t] => (s.clone(), None, h, t),
                    [s, r, h, t] => (s.clone(), Some(r.clone()), h, t),
                    _ => return silent,
                };
                let hdr = parse_size(hdr).ok_or(ParseError::SilentClose)?;
                let total = parse_size(total).ok_or(ParseError::SilentClose)?;
                if hdr > total {
                    return silent;
                }
                if total > limits.max_payload {
                    return Err(ParseError::Protocol(ProtocolError::MaxPayload));
                }
                self.pending = Some(PendingPub {
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
                _ => silent,
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
                _ => silent,
            },
        }
    }

    /// Parses the argument part of a route op: `RS+`, `RS-`, `RMSG`,
    /// `HMSG`. Malformed arguments close the route silently.
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
        let silent = Err(ParseError::SilentClose);
        let arg = |i: usize| rest.slice(spans[i].0..spans[i].1);
        if eq_ci(op, b"RS+") {
            let (queue, weight) = match spans.len() {
                2 => (None, 1),
                3 => (Some(arg(2)), 1),
                4 => {
                    let w = parse_size(&arg(3)).ok_or(ParseError::SilentClose)?;
                    (Some(arg(2)), u32::try_from(w).unwrap_or(u32::MAX))
                }
                _ => return silent,
            };
            return Ok(Some(ClientOp::RouteSub {
                account: arg(0),
                subject: arg(1),
                queue,
                weight,
            }));
        }
        if eq_ci(op, b"RS-") {
            let queue = match spans.len() {
                2 => None,
                3 | 4 => Some(arg(2)),
                _ => return silent,
            };
            return Ok(Some(ClientOp::RouteUnsub {
                account: arg(0),
                subject: arg(1),
                queue,
            }));
        }
        let headers = if eq_ci(op, b"RMSG") {
            false
        } else if eq_ci(op, b"HMSG") {
            true
        } else {
            return Err(ParseError::Protocol(ProtocolError::UnknownOperation));
        };
        // account subject [reply | + reply queues.. | '|' queues..] sizes
        let sizes = if headers { 2 } else { 1 };
        if spans.len() < 2 + sizes {
            return silent;
        }
        let middle = &spans[2..spans.len() - sizes];
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
            _ => return silent,
        };
        let n = spans.len();
        let total = parse_size(&arg(n - 1)).ok_or(ParseError::SilentClose)?;
        let header_len = if headers {
            let h = parse_size(&arg(n - 2)).ok_or(ParseError::SilentClose)?;
            if h > total {
                return silent;
            }
            Some(h)
        } else {
            None
        };
        if total > limits.max_payload {
            return Err(ParseError::Protocol(ProtocolError::MaxPayload));
        }
        self.pending = Some(PendingPub {
            account: Some(arg(0)),
            queues,
            subject: arg(1),
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
            return Ok(Some(ClientOp::RouteMsg {
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

#[derive(Clone, Copy)]
enum Kind {
    Pub,
    HPub,
    Sub,
    Unsub,
}

/// Stops a line that grows past the control-line limit before its newline.
fn check_partial(partial: &[u8], limits: &Limits) -> Result<(), ParseError> {
    if partial.len() <= limits.max_control_line {
        return Ok(());
    }
    let op_len = partial
        .iter()
        .position(|&b| matches!(b, b' ' | b'\t'))
        .unwrap_or(partial.len());
    let start = skip_ws(partial, op_len);
    let mut arg_len = partial.len() - start;
    if partial.last() == Some(&b'\r') {
        arg_len -= 1;
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

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn route_interest_ops() {
        let ops = route_ops(b"RS+ $G foo\r\nRS+ $G bar grp 3\r\nRS- $G bar grp\r\nRS- $G foo\r\n")
            .unwrap();
        assert_eq!(
            ops,
            vec![
                ClientOp::RouteSub {
                    account: b("$G"),
                    subject: b("foo"),
                    queue: None,
                    weight: 1
                },
                ClientOp::RouteSub {
                    account: b("$G"),
                    subject: b("bar"),
                    queue: Some(b("grp")),
                    weight: 3
                },
                ClientOp::RouteUnsub {
                    account: b("$G"),
                    subject: b("bar"),
                    queue: Some(b("grp"))
                },
                ClientOp::RouteUnsub {
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
