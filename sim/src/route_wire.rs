//! The simulator's reader of route and leaf-link traffic. The world feeds
//! it every byte an engine writes on a route connection or a leaf link, in
//! order, and learns which
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
//! Leaf-link ops carry no account and no sid ([`RouteWire::leaf`]), and
//! the reader keeps the cluster name the writer announced in its first
//! `INFO` or `CONNECT`.
//!
//! Interest and messages on `$SYS.` subjects are the servers' own (the
//! system account's internal client: its subscriptions, events and
//! statsz heartbeats), not the workload's: the reader passes over them.
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
        /// The gateway-routed prefix of the subject
        /// (`_GR_.<cluster>.<server>.`), when it has one: a reply on its
        /// way back to the server that prefixed it.
        subject_gr: Option<String>,
        /// The gateway-routed prefix of the reply subject, when it has
        /// one: the sender mapped a reply to come back to it.
        reply_gr: Option<String>,
    },
}

/// Length of a gateway-routed prefix: `_GR_.` and two six-character
/// hashes, each followed by a dot.
pub const GR_PREFIX_LEN: usize = 5 + 6 + 1 + 6 + 1;

/// The gateway-routed prefix of `subject` (`_GR_.<6>.<6>.`), if it starts
/// with one followed by a subject.
pub fn gr_prefix(subject: &[u8]) -> Option<String> {
    let ok = subject.len() > GR_PREFIX_LEN
        && subject.starts_with(b"_GR_.")
        && subject[5 + 6] == b'.'
        && subject[GR_PREFIX_LEN - 1] == b'.';
    ok.then(|| text(&subject[..GR_PREFIX_LEN]))
}

/// Resumable parser of one direction of a route connection or a leaf link.
#[derive(Debug, Default)]
pub struct RouteWire {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Set when the stream is not route (or leaf) protocol (parsing stops).
    pub broken: Option<String>,
    /// A leaf link: ops carry no account (and no origin).
    leaf: bool,
    /// On a leaf link, the cluster name of the writer's first
    /// `INFO`/`CONNECT` (`""` when it named none), once seen: the name the
    /// reading engine keeps as the link's remote cluster, which the
    /// matrix's "not to the origin cluster" cells compare.
    pub cluster: Option<String>,
    /// The writer dialed the leaf link: its cluster is in its CONNECT
    /// only (an INFO it sends first names its compression mode).
    dialer: bool,
}

impl RouteWire {
    /// A reader of a leaf link: `LS+ <subject>[ <queue> <weight>]`,
    /// `LS- <subject>[ <queue>]`, `LMSG <subject> [...] <size>` and `HMSG
    /// <subject> [...] <hdr> <total>`, with no account and no sid.
    pub fn leaf() -> RouteWire {
        RouteWire {
            leaf: true,
            ..RouteWire::default()
        }
    }

    /// [`RouteWire::leaf`] for the dialer's writes: the cluster name comes
    /// from its CONNECT (nats-server's hub reads it there; the INFO a
    /// compressing remote sends first carries none).
    pub fn leaf_dialer() -> RouteWire {
        RouteWire {
            leaf: true,
            dialer: true,
            ..RouteWire::default()
        }
    }

    /// Feeds bytes written on the link; appends `(end offset, op)` for every
    /// complete op of interest.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<(u64, RouteOp)>) {
        if self.broken.is_some() {
            return;
        }
        self.buf.extend_from_slice(data);
        let what = if self.leaf { "leaf" } else { "route" };
        let mut at = 0;
        while let Some(i) = memchr::memmem::find(&self.buf[at..], b"\r\n") {
            let line = &self.buf[at..at + i];
            let mut toks = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|t| !t.is_empty());
            let verb = toks.next().unwrap_or_default();
            let toks: Vec<&[u8]> = toks.collect();
            let line_end = at + i + 2;
            let message = match verb {
                b"LMSG" | b"HMSG" => true,
                b"RMSG" => !self.leaf,
                _ => false,
            };
            let interest = match verb {
                b"LS+" | b"LS-" => true,
                b"RS+" | b"RS-" => !self.leaf,
                _ => false,
            };
            if message {
                // A route's LMSG: `LMSG <origin> <account> <subject> [..]
                // <hdr> <size>`, always with the header size. A leaf's
                // has neither origin nor account.
                let origin = (!self.leaf && verb == b"LMSG").then(|| toks.first().map(|o| text(o)));
                let skip = if self.leaf {
                    0
                } else {
                    1 + usize::from(origin.is_some())
                };
                let headers = if self.leaf {
                    verb == b"HMSG"
                } else {
                    verb != b"RMSG"
                };
                let toks: &[&[u8]] = toks.get(skip..).unwrap_or_default();
                let n = toks.len();
                let fixed = if headers { 2 } else { 1 };
                if n < 1 + fixed {
                    self.broken = Some(format!(
                        "short {what} message line: {}",
                        String::from_utf8_lossy(line)
                    ));
                    return;
                }
                let size = toks.last().and_then(|t| parse_usize(t));
                let hdr = if headers {
                    parse_usize(toks[n - 2])
                } else {
                    Some(0)
                };
                let (Some(size), Some(hdr)) = (size, hdr) else {
                    self.broken = Some(format!(
                        "bad {what} message line: {}",
                        String::from_utf8_lossy(line)
                    ));
                    return;
                };
                let end = line_end + size + 2;
                if self.buf.len() < end {
                    break;
                }
                if is_system(toks[0]) {
                    at = end;
                    continue;
                }
                // Between the subject and the size(s): reply and queues.
                let mid = &toks[1..n - fixed];
                let (reply, queues): (Option<&[u8]>, Vec<String>) = match mid.first().copied() {
                    Some(b"+") => (
                        mid.get(1).copied(),
                        mid[2.min(mid.len())..].iter().map(|q| text(q)).collect(),
                    ),
                    Some(b"|") => (None, mid[1..].iter().map(|q| text(q)).collect()),
                    Some(r) => (Some(r), Vec::new()),
                    None => (None, Vec::new()),
                };
                let payload = &self.buf[line_end + hdr.min(size)..line_end + size];
                let (key, _) = MsgKey::from_payload(payload);
                let op = RouteOp::Msg {
                    key,
                    queues,
                    origin: origin.flatten(),
                    subject_gr: gr_prefix(toks[0]),
                    reply_gr: reply.and_then(gr_prefix),
                };
                out.push((self.base + end as u64, op));
                at = end;
            } else if interest {
                // `LS+`/`LS-` on a route start with the origin cluster, then
                // the account; a leaf's have neither.
                let leafy = verb.starts_with(b"L") && !self.leaf;
                let skip = if self.leaf { 0 } else { 1 + usize::from(leafy) };
                if toks.len() < 1 + skip {
                    at = line_end;
                    continue;
                }
                let origin = leafy.then(|| text(toks[0]));
                let account = (!self.leaf).then(|| toks[skip - 1]);
                let toks = &toks[skip..];
                if is_system(toks[0]) {
                    at = line_end;
                    continue;
                }
                // An operator world's account (a public key, never `$...`):
                // its subjects in the account's part of the model's space.
                let subject = match account {
                    Some(a) if !a.starts_with(b"$") => {
                        crate::operator::in_account(&text(a), &text(toks[0]))
                    }
                    _ => text(toks[0]),
                };
                let queue = toks.get(1).map(|q| text(q));
                let op = if verb.ends_with(b"+") {
                    RouteOp::Sub {
                        subject,
                        queue,
                        weight: toks
                            .get(2)
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
            } else if self.leaf && matches!(verb, b"RS+" | b"RS-" | b"RMSG") {
                self.broken = Some(format!(
                    "route op on a leaf link: {}",
                    String::from_utf8_lossy(line)
                ));
                return;
            } else {
                let named = match verb {
                    b"CONNECT" => true,
                    b"INFO" => !self.dialer,
                    _ => false,
                };
                if self.leaf && named && self.cluster.is_none() {
                    self.cluster = Some(json_string(line, b"\"cluster\":").unwrap_or_default());
                }
                at = line_end;
            }
        }
        self.buf.drain(..at);
        self.base += at as u64;
    }
}

/// The JSON string value after `key` in `line` (no escapes expected in the
/// names the simulator gives).
fn json_string(line: &[u8], key: &[u8]) -> Option<String> {
    let i = memchr::memmem::find(line, key)? + key.len();
    let rest = line.get(i..)?.strip_prefix(b"\"")?;
    let end = memchr::memchr(b'"', rest)?;
    Some(text(&rest[..end]))
}

/// A subject of the servers' own system traffic.
fn is_system(subject: &[u8]) -> bool {
    subject.starts_with(b"$SYS.")
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
                subject_gr: None,
                reply_gr: None,
            }
        );
        assert_eq!(
            whole[2].1,
            RouteOp::Msg {
                key: Some(MsgKey { client: 0, n: 9 }),
                queues: vec![],
                origin: None,
                subject_gr: None,
                reply_gr: None,
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
                    subject_gr: None,
                    reply_gr: None,
                },
                RouteOp::Msg {
                    key: Some(MsgKey { client: 0, n: 9 }),
                    queues: vec![],
                    origin: Some("n2".into()),
                    subject_gr: None,
                    reply_gr: None,
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

    #[test]
    fn ops_offsets_and_cluster_survive_any_split() {
        let stream: &[u8] = b"CONNECT {\"server_id\":\"X\",\"cluster\":\"leafc\",\"headers\":true}\r\nLS+ $LDS.abc\r\nLS+ a.* q1 3\r\nLMSG a.b + _INBOX.x.1 q1 q2 5\r\nm1-2;\r\nHMSG a.c 12 17\r\nNATS/1.0\r\n\r\nm0-9;\r\nLMSG a.d | q1 5\r\nm1-3;\r\nLS- a.b\r\nPING\r\n";
        let mut whole = Vec::new();
        let mut w = RouteWire::leaf();
        w.feed(stream, &mut whole);
        assert_eq!(w.cluster.as_deref(), Some("leafc"));
        assert_eq!(whole.len(), 6);
        assert_eq!(
            whole[1].1,
            RouteOp::Sub {
                subject: "a.*".into(),
                queue: Some("q1".into()),
                weight: 3,
                origin: None,
            }
        );
        assert_eq!(
            whole[2].1,
            RouteOp::Msg {
                key: Some(MsgKey { client: 1, n: 2 }),
                queues: vec!["q1".into(), "q2".into()],
                origin: None,
                subject_gr: None,
                reply_gr: None,
            }
        );
        assert_eq!(
            whole[3].1,
            RouteOp::Msg {
                key: Some(MsgKey { client: 0, n: 9 }),
                queues: vec![],
                origin: None,
                subject_gr: None,
                reply_gr: None,
            }
        );
        assert_eq!(
            whole[4].1,
            RouteOp::Msg {
                key: Some(MsgKey { client: 1, n: 3 }),
                queues: vec!["q1".into()],
                origin: None,
                subject_gr: None,
                reply_gr: None,
            }
        );
        assert_eq!(whole[5].0 as usize, stream.len() - 6);
        let mut bytewise = Vec::new();
        let mut w = RouteWire::leaf();
        for b in stream {
            w.feed(std::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(whole, bytewise);
        assert_eq!(w.cluster.as_deref(), Some("leafc"));
    }

    #[test]
    fn an_info_without_cluster_names_the_empty_cluster() {
        let mut w = RouteWire::leaf();
        w.feed(b"INFO {\"server_id\":\"H\"} \r\n", &mut Vec::new());
        assert_eq!(w.cluster.as_deref(), Some(""));
    }

    #[test]
    fn gateway_routed_prefixes_are_reported() {
        let stream: &[u8] = b"RMSG $G svc.0 _GR_.jZ6RvV.ng9pVj._INBOX.c3.8 5\r\nm3-4;\r\nRMSG $G _GR_.jZ6RvV.ng9pVj._INBOX.c3.8 + r q 5\r\nm1-1;\r\nRMSG $G _GR_.x 5\r\nm1-2;\r\n";
        let mut ops = Vec::new();
        RouteWire::default().feed(stream, &mut ops);
        let grs: Vec<(Option<String>, Option<String>)> = ops
            .iter()
            .map(|(_, op)| match op {
                RouteOp::Msg {
                    subject_gr,
                    reply_gr,
                    ..
                } => (subject_gr.clone(), reply_gr.clone()),
                RouteOp::Sub { .. } | RouteOp::Unsub { .. } => (None, None),
            })
            .collect();
        let p = Some("_GR_.jZ6RvV.ng9pVj.".to_string());
        assert_eq!(grs, [(None, p.clone()), (p, None), (None, None)]);
    }
}
