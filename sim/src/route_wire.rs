//! The simulator's reader of route traffic. The world feeds it every byte
//! an engine writes on a route connection, in order, and learns which
//! interest (`RS+`/`RS-`) and which messages (`RMSG`/`HMSG`, by the id in
//! their payload) cross the link, and at which stream offset each op ends.
//! When the peer engine reads past that offset, the op was processed there
//! (the same bookkeeping as client ops), which lets the checker know what
//! each engine knew and received, and when.
//!
//! Interest and messages a hub holds for its leaf clusters cross routes
//! with their origin cluster: `LS+ <origin> <account> <subject>[ <queue>
//! <weight>]`, `LS- <origin> <account> <subject>[ <queue>]` and `LMSG
//! <origin> <account> <subject> [...] <hdr> <size>`; the origin is
//! reported with the op.
//!
//! It only observes: the engine's own parser is what the peer runs.

use crate::client_model::MsgKey;

/// One route op the checker cares about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteOp {
    /// `RS+ <account> <subject>[ <queue> <weight>]` (or a route's `LS+`
    /// with its origin; a leaf link's `LS+`).
    Sub {
        /// Subject pattern.
        subject: String,
        /// Queue group.
        queue: Option<String>,
        /// Member count (1 for plain interest).
        weight: u32,
        /// The leaf cluster of a route's `LS+` (None: `RS+`, or a leaf
        /// link's `LS+`).
        origin: Option<String>,
    },
    /// `RS- <account> <subject>[ <queue>]` (or a route's `LS-` with its
    /// origin; a leaf link's `LS-`).
    Unsub {
        /// Subject pattern.
        subject: String,
        /// Queue group.
        queue: Option<String>,
        /// The leaf cluster of a route's `LS-`.
        origin: Option<String>,
    },
    /// `RMSG`/`HMSG` (or a route's `LMSG` with its origin; a leaf link's
    /// `LMSG`/`HMSG`).
    Msg {
        /// The message id from the payload (None: not a simulator message).
        key: Option<MsgKey>,
        /// Queue groups the sender named.
        queues: Vec<String>,
        /// The leaf cluster a route's `LMSG` names.
        origin: Option<String>,
    },
}

/// Resumable parser of one direction of a route connection.
#[derive(Debug, Default)]
pub struct RouteWire {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Set when the stream is not route protocol (parsing stops).
    pub broken: Option<String>,
}

impl RouteWire {
    /// Feeds bytes written on the link; appends `(end offset, op)` for every
    /// complete op of interest.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<(u64, RouteOp)>) {
        if self.broken.is_some() {
            return;
        }
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while let Some(i) = memchr::memmem::find(&self.buf[at..], b"\r\n") {
            let line = &self.buf[at..at + i];
            let mut toks = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|t| !t.is_empty());
            let verb = toks.next().unwrap_or_default();
            let toks: Vec<&[u8]> = toks.collect();
            let line_end = at + i + 2;
            match verb {
                b"RMSG" | b"HMSG" | b"LMSG" => {
                    // A route's LMSG: `LMSG <origin> <account> <subject> [..]
                    // <hdr> <size>`, always with the header size.
                    let origin = (verb == b"LMSG").then(|| toks.first().map(|o| text(o)));
                    let toks: &[&[u8]] = if origin.is_some() {
                        toks.get(1..).unwrap_or_default()
                    } else {
                        &toks
                    };
                    let headers = verb != b"RMSG";
                    let n = toks.len();
                    let size = toks.last().and_then(|t| parse_usize(t));
                    let hdr = if headers {
                        n.checked_sub(2).and_then(|k| parse_usize(toks[k]))
                    } else {
                        Some(0)
                    };
                    let fixed = if headers { 2 } else { 1 };
                    let (Some(size), Some(hdr)) = (size, hdr) else {
                        self.broken = Some(format!(
                            "bad route message line: {}",
                            String::from_utf8_lossy(line)
                        ));
                        return;
                    };
                    if n < 2 + fixed {
                        self.broken = Some("short route message line".to_string());
                        return;
                    }
                    let end = line_end + size + 2;
                    if self.buf.len() < end {
                        break;
                    }
                    // Between the subject and the size(s): reply and queues.
                    let mid = &toks[2..n - fixed];
                    let queues: Vec<String> = match mid.first().copied() {
                        Some(b"+") => mid[2.min(mid.len())..].iter().map(|q| text(q)).collect(),
                        Some(b"|") => mid[1..].iter().map(|q| text(q)).collect(),
                        _ => Vec::new(),
                    };
                    let payload = &self.buf[line_end + hdr.min(size)..line_end + size];
                    let (key, _) = MsgKey::from_payload(payload);
                    let op = RouteOp::Msg {
                        key,
                        queues,
                        origin: origin.flatten(),
                    };
                    out.push((self.base + end as u64, op));
                    at = end;
                }
                b"RS+" | b"RS-" | b"LS+" | b"LS-" => {
                    // `LS+`/`LS-` on a route start with the origin cluster.
                    let leafy = verb.starts_with(b"L");
                    let skip = usize::from(leafy);
                    if toks.len() < 2 + skip {
                        at = line_end;
                        continue;
                    }
                    let origin = leafy.then(|| text(toks[0]));
                    let toks = &toks[skip..];
                    let subject = text(toks[1]);
                    let queue = toks.get(2).map(|q| text(q));
                    let op = if verb.ends_with(b"+") {
                        RouteOp::Sub {
                            subject,
                            queue,
                            weight: toks
                                .get(3)
                                .and_then(|w| parse_usize(w))
                                .map_or(1, |w| w as u32),
                            origin,
                        }
                    } else {
                        RouteOp::Unsub {
                            subject,
                            queue,
                            origin,
                        }
                    };
                    out.push((self.base + line_end as u64, op));
                    at = line_end;
                }
                _ => at = line_end,
            }
        }
        self.buf.drain(..at);
        self.base += at as u64;
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse_usize(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_and_offsets_survive_any_split() {
        let stream: &[u8] = b"INFO {}\r\nRS+ $G a.* q1 3\r\nRMSG $G a.b + _INBOX.x.1 q1 q2 5\r\nm1-2;\r\nHMSG $G a.c 12 17\r\nNATS/1.0\r\n\r\nm0-9;\r\nRS- $G a.b\r\nPING\r\n";
        let mut whole = Vec::new();
        RouteWire::default().feed(stream, &mut whole);
        assert_eq!(whole.len(), 4);
        assert_eq!(
            whole[1].1,
            RouteOp::Msg {
                key: Some(MsgKey { client: 1, n: 2 }),
                queues: vec!["q1".into(), "q2".into()],
                origin: None,
            }
        );
        assert_eq!(
            whole[2].1,
            RouteOp::Msg {
                key: Some(MsgKey { client: 0, n: 9 }),
                queues: vec![],
                origin: None,
            }
        );
        assert_eq!(whole[3].0 as usize, stream.len() - 6);
        let mut bytewise = Vec::new();
        let mut w = RouteWire::default();
        for b in stream {
            w.feed(std::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(whole, bytewise);
    }

    #[test]
    fn leaf_ops_on_a_route_carry_their_origin() {
        let stream: &[u8] = b"LS+ lc $G a.* q1 3\r\nLMSG lc $G a.b | q1 0 5\r\nm1-2;\r\nLMSG n2 $G a.c + _INBOX.x 12 17\r\nNATS/1.0\r\n\r\nm0-9;\r\nLS- lc $G a.* q1\r\nLS+ n2 $G x.y\r\n";
        let mut whole = Vec::new();
        RouteWire::default().feed(stream, &mut whole);
        let ops: Vec<RouteOp> = whole.iter().map(|(_, op)| op.clone()).collect();
        let lc = Some("lc".to_string());
        assert_eq!(
            ops,
            [
                RouteOp::Sub {
                    subject: "a.*".into(),
                    queue: Some("q1".into()),
                    weight: 3,
                    origin: lc.clone(),
                },
                RouteOp::Msg {
                    key: Some(MsgKey { client: 1, n: 2 }),
                    queues: vec!["q1".into()],
                    origin: lc.clone(),
                },
                RouteOp::Msg {
                    key: Some(MsgKey { client: 0, n: 9 }),
                    queues: vec![],
                    origin: Some("n2".into()),
                },
                RouteOp::Unsub {
                    subject: "a.*".into(),
                    queue: Some("q1".into()),
                    origin: lc,
                },
                RouteOp::Sub {
                    subject: "x.y".into(),
                    queue: None,
                    weight: 1,
                    origin: Some("n2".into()),
                },
            ]
        );
        let mut bytewise = Vec::new();
        let mut w = RouteWire::default();
        for b in stream {
            w.feed(std::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(whole, bytewise);
    }
}
