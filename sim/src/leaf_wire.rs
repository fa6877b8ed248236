//! The simulator's reader of leaf-link traffic, the leaf twin of
//! [`crate::route_wire`]. The world feeds it every byte an engine writes
//! on a leaf link, in order, and learns which interest (`LS+`/`LS-`) and
//! which messages (`LMSG`/`HMSG`, by the id in their payload) cross the
//! link, at which stream offset each op ends, and the cluster name the
//! writer announced (its first `INFO` or `CONNECT`): that is the name the
//! reading engine keeps as the link's remote cluster, which the
//! forwarding matrix's "not to the origin cluster" cells compare.
//!
//! Leaf ops carry no account and no sid:
//! `LS+ <subject>[ <queue> <weight>]`, `LS- <subject>[ <queue>]`,
//! `LMSG <subject> [reply | + reply q1.. | | q1..] <size>` and
//! `HMSG <subject> [...] <hdr> <total>`.
//!
//! It only observes: the engine's own parser is what the peer runs.

use crate::client_model::MsgKey;
use crate::route_wire::RouteOp;

/// Resumable parser of one direction of a leaf link.
#[derive(Debug, Default)]
pub struct LeafWire {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Set when the stream is not leaf protocol (parsing stops).
    pub broken: Option<String>,
    /// The cluster name of the writer's first `INFO`/`CONNECT` (`""` when
    /// it named none), once seen.
    pub cluster: Option<String>,
}

impl LeafWire {
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
                b"LMSG" | b"HMSG" => {
                    let headers = verb == b"HMSG";
                    let n = toks.len();
                    let fixed = if headers { 2 } else { 1 };
                    if n < 1 + fixed {
                        self.broken = Some(format!(
                            "short leaf message line: {}",
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
                            "bad leaf message line: {}",
                            String::from_utf8_lossy(line)
                        ));
                        return;
                    };
                    let end = line_end + size + 2;
                    if self.buf.len() < end {
                        break;
                    }
                    // Between the subject and the size(s): reply and queues.
                    let mid = &toks[1..n - fixed];
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
                        origin: None,
                    };
                    out.push((self.base + end as u64, op));
                    at = end;
                }
                b"LS+" if !toks.is_empty() => {
                    let op = RouteOp::Sub {
                        subject: text(toks[0]),
                        queue: toks.get(1).map(|q| text(q)),
                        weight: toks
                            .get(2)
                            .and_then(|w| parse_usize(w))
                            .map_or(1, |w| w as u32),
                        origin: None,
                    };
                    out.push((self.base + line_end as u64, op));
                    at = line_end;
                }
                b"LS-" if !toks.is_empty() => {
                    let op = RouteOp::Unsub {
                        subject: text(toks[0]),
                        queue: toks.get(1).map(|q| text(q)),
                        origin: None,
                    };
                    out.push((self.base + line_end as u64, op));
                    at = line_end;
                }
                b"INFO" | b"CONNECT" => {
                    if self.cluster.is_none() {
                        self.cluster = Some(json_string(line, b"\"cluster\":").unwrap_or_default());
                    }
                    at = line_end;
                }
                b"RS+" | b"RS-" | b"RMSG" => {
                    self.broken = Some(format!(
                        "route op on a leaf link: {}",
                        String::from_utf8_lossy(line)
                    ));
                    return;
                }
                _ => at = line_end,
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
    fn ops_offsets_and_cluster_survive_any_split() {
        let stream: &[u8] = b"CONNECT {\"server_id\":\"X\",\"cluster\":\"leafc\",\"headers\":true}\r\nLS+ $LDS.abc\r\nLS+ a.* q1 3\r\nLMSG a.b + _INBOX.x.1 q1 q2 5\r\nm1-2;\r\nHMSG a.c 12 17\r\nNATS/1.0\r\n\r\nm0-9;\r\nLMSG a.d | q1 5\r\nm1-3;\r\nLS- a.b\r\nPING\r\n";
        let mut whole = Vec::new();
        let mut w = LeafWire::default();
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
            }
        );
        assert_eq!(
            whole[3].1,
            RouteOp::Msg {
                key: Some(MsgKey { client: 0, n: 9 }),
                queues: vec![],
                origin: None,
            }
        );
        assert_eq!(
            whole[4].1,
            RouteOp::Msg {
                key: Some(MsgKey { client: 1, n: 3 }),
                queues: vec!["q1".into()],
                origin: None,
            }
        );
        assert_eq!(whole[5].0 as usize, stream.len() - 6);
        let mut bytewise = Vec::new();
        let mut w = LeafWire::default();
        for b in stream {
            w.feed(std::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(whole, bytewise);
        assert_eq!(w.cluster.as_deref(), Some("leafc"));
    }

    #[test]
    fn an_info_without_cluster_names_the_empty_cluster() {
        let mut w = LeafWire::default();
        w.feed(b"INFO {\"server_id\":\"H\"} \r\n", &mut Vec::new());
        assert_eq!(w.cluster.as_deref(), Some(""));
    }
}
