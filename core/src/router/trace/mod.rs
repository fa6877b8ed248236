//! Message tracing (nats-server 2.11+): a message whose headers carry
//! `Nats-Trace-Dest` makes every server it crosses publish one event to
//! that subject, saying how the message came in (`in`), and where it went
//! (`eg`, one per delivery or forward), with any account hops (`se`,
//! `si`) between. With `Nats-Trace-Only` the events are made but no
//! client gets the message; servers still forward it, and the next one
//! reads the header and holds its own delivery back.
//!
//! This module owns the request (its [`headers`]), the events of one
//! server's hop ([`MsgTrace`]) and their JSON ([`MsgTrace::render`]), in
//! nats-server's key order and Go's escaping. Each connection kind's code
//! records its own ingress and egress events; the engine starts a trace
//! when a message comes in and publishes the event when the message has
//! gone everywhere it goes.

pub(crate) mod headers;

use crate::info::push_json_string;
use bytes::Bytes;
use headers::{Encoding, TraceRequest};
use std::fmt::Write as _;

/// nats-server's connection kind numbers, as events report them (gateway
/// 2 and leaf 4 arrive with those kinds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum TraceKind {
    /// A client (0).
    #[default]
    Client = 0,
    /// A route (1).
    Router = 1,
}

/// The egress errors nats-server reports (`errMsgTrace*`).
pub(crate) mod egress_error {
    /// The publisher is the subscriber and asked for no echo.
    pub(crate) const NO_ECHO: &str = "Not delivered because of no echo";
    /// The subscriber's permissions deny the subject.
    pub(crate) const SUB_DENY: &str = "Not delivered because subscription denies this subject";
    /// The subscription reached its auto-unsubscribe limit.
    pub(crate) const AUTO_UNSUB: &str = "Not delivered because auto-unsubscribe exceeded";
    /// The subscriber's connection is closed.
    pub(crate) const CLIENT_CLOSED: &str = "Not delivered because client is closed";
    /// Trace-only, to a server that would deliver it anyway.
    pub(crate) const ONLY_NO_SUPPORT: &str =
        "Not delivered because remote does not support message tracing";
    /// Delivered to a server that sends no event.
    pub(crate) const NO_SUPPORT: &str =
        "Message delivered but remote does not support message tracing so no trace event generated from there";
}

/// One event of a server's hop.
#[derive(Clone, Debug)]
enum Event {
    /// How the message came in.
    In {
        ts: i128,
        kind: TraceKind,
        cid: u64,
        name: String,
        acc: String,
        subj: Bytes,
        error: Option<String>,
    },
    /// A stream export carried it into account `acc` as `to`.
    StreamExport { ts: i128, acc: String, to: Bytes },
    /// A service import carried it into account `acc` from `from` to `to`.
    ServiceImport {
        ts: i128,
        acc: String,
        from: Bytes,
        to: Bytes,
    },
    /// Where it went.
    Eg(Egress),
}

/// One delivery or forward (`eg`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Egress {
    /// When (wall-clock nanoseconds).
    pub(crate) ts: i128,
    /// The destination's kind.
    pub(crate) kind: TraceKind,
    /// Its connection number.
    pub(crate) cid: u64,
    /// Its name: the client's CONNECT name, the route's server name.
    pub(crate) name: String,
    /// The hop number given to a server link.
    pub(crate) hop: String,
    /// The subscriber's account, when not the ingress account.
    pub(crate) acc: String,
    /// The client subscription's subject.
    pub(crate) sub: Bytes,
    /// The client subscription's queue group.
    pub(crate) queue: Bytes,
    /// Why it was not delivered (or what to expect of it).
    pub(crate) error: Option<&'static str>,
}

/// What the event's `server` object says about this server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerFacts<'a> {
    /// `server_name`, or the id when none is set.
    pub(crate) name: &'a str,
    /// The client listen host.
    pub(crate) host: &'a str,
    /// The server id.
    pub(crate) id: &'a str,
    /// The cluster name (empty when not clustered).
    pub(crate) cluster: &'a str,
    /// The version reported.
    pub(crate) version: &'a str,
    /// The feature flags, sorted by name.
    pub(crate) feature_flags: &'a [(&'a str, bool)],
    /// The number of this system message (shared with every other).
    pub(crate) seq: u64,
    /// When it is sent (wall-clock nanoseconds).
    pub(crate) time: i128,
}

/// One server's record of a traced message: what it was asked, and the
/// events so far.
#[derive(Clone, Debug)]
pub(crate) struct MsgTrace {
    /// Where the events go.
    pub(crate) dest: Bytes,
    /// No delivery to clients.
    pub(crate) only: bool,
    /// The hop id this server was reached by (empty at the first server).
    hop: Bytes,
    /// How many server links it was forwarded to.
    hops: u32,
    /// The request's headers, sorted.
    header: Vec<(Bytes, Vec<Bytes>)>,
    /// Header plus payload size, as received here.
    msgsize: usize,
    encoding: Encoding,
    /// The ingress account's name (egress `acc` is given when it differs).
    account: String,
    events: Vec<Event>,
}

/// Who a message came in from, for the `in` event.
#[derive(Clone, Debug)]
pub(crate) struct Ingress<'a> {
    /// When (wall-clock nanoseconds).
    pub(crate) ts: i128,
    /// The sender's kind.
    pub(crate) kind: TraceKind,
    /// Its connection number.
    pub(crate) cid: u64,
    /// Its name (the client's CONNECT name, the route's server name).
    pub(crate) name: &'a str,
    /// The account the message is in.
    pub(crate) account: &'a str,
    /// The subject as received.
    pub(crate) subject: &'a Bytes,
}

impl MsgTrace {
    /// Starts the record of a message of `msgsize` bytes (header and
    /// payload) that asked for `request`, with its `in` event. A client's
    /// `Nats-Trace-Hop` is not a hop (only other servers number hops).
    pub(crate) fn new(request: TraceRequest, msgsize: usize, ingress: &Ingress<'_>) -> MsgTrace {
        let hop = if ingress.kind == TraceKind::Client {
            Bytes::new()
        } else {
            request.hop
        };
        MsgTrace {
            dest: request.dest,
            only: request.only,
            hop,
            hops: 0,
            header: request.header,
            msgsize,
            encoding: request.encoding,
            account: ingress.account.to_string(),
            events: vec![Event::In {
                ts: ingress.ts,
                kind: ingress.kind,
                cid: ingress.cid,
                name: ingress.name.to_string(),
                acc: ingress.account.to_string(),
                subj: ingress.subject.clone(),
                error: None,
            }],
        }
    }

    /// Sets the `in` event's error: processing stopped there.
    pub(crate) fn ingress_error(&mut self, text: String) {
        if let Some(Event::In { error, .. }) = self.events.first_mut() {
            *error = Some(text);
        }
    }

    /// The hop id of the next server link this message goes out on
    /// (`1`, `2`, ... at the first server; `1.1` behind hop `1`).
    pub(crate) fn next_hop(&mut self) -> String {
        self.hops += 1;
        if self.hop.is_empty() {
            self.hops.to_string()
        } else {
            format!("{}.{}", String::from_utf8_lossy(&self.hop), self.hops)
        }
    }

    /// Records a delivery or forward. `acc` is dropped when it is the
    /// ingress account.
    pub(crate) fn egress(&mut self, mut e: Egress) {
        if e.acc == self.account {
            e.acc.clear();
        }
        self.events.push(Event::Eg(e));
    }

    /// Records a stream export into `acc`, delivered there as `to`.
    pub(crate) fn stream_export(&mut self, ts: i128, acc: &str, to: Bytes) {
        self.events.push(Event::StreamExport {
            ts,
            acc: acc.to_string(),
            to,
        });
    }

    /// Records a service import into `acc`, from `from` to `to`.
    pub(crate) fn service_import(&mut self, ts: i128, acc: &str, from: Bytes, to: Bytes) {
        self.events.push(Event::ServiceImport {
            ts,
            acc: acc.to_string(),
            from,
            to,
        });
    }

    /// The event message: its header block (empty for none) and body, as
    /// `Accept-Encoding` asked.
    pub(crate) fn render(&self, server: &ServerFacts<'_>) -> (Vec<u8>, Vec<u8>) {
        let json = self.json(server);
        match self.encoding {
            Encoding::None => (Vec::new(), json.into_bytes()),
            Encoding::Gzip => {
                use std::io::Write as _;
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                // Writing into a Vec cannot fail.
                let _ = gz.write_all(json.as_bytes());
                let body = gz.finish().unwrap_or_default();
                (b"NATS/1.0\r\nContent-Encoding: gzip\r\n\r\n".to_vec(), body)
            }
            Encoding::Identity => (
                b"NATS/1.0\r\nContent-Encoding: identity\r\n\r\n".to_vec(),
                json.into_bytes(),
            ),
        }
    }

    /// The event as nats-server's `MsgTraceEvent` marshals it.
    fn json(&self, s: &ServerFacts<'_>) -> String {
        let mut o = String::with_capacity(512);
        o.push_str("{\"server\":{\"name\":");
        push_json_string(&mut o, s.name);
        o.push_str(",\"host\":");
        push_json_string(&mut o, s.host);
        o.push_str(",\"id\":");
        push_json_string(&mut o, s.id);
        if !s.cluster.is_empty() {
            o.push_str(",\"cluster\":");
            push_json_string(&mut o, s.cluster);
        }
        o.push_str(",\"ver\":");
        push_json_string(&mut o, s.version);
        // `tags` (omitted when empty) comes here once Canopy has server tags.
        if !s.feature_flags.is_empty() {
            o.push_str(",\"feature_flags\":{");
            push_joined(&mut o, s.feature_flags, |o, (name, on)| {
                push_json_string(o, name);
                let _ = write!(o, ":{on}");
            });
            o.push('}');
        }
        let _ = write!(o, ",\"jetstream\":false,\"flags\":0,\"seq\":{}", s.seq);
        o.push_str(",\"time\":\"");
        o.push_str(&crate::monitor::timefmt::rfc3339_nano(s.time));
        o.push_str("\"},\"request\":{");
        if !self.header.is_empty() {
            o.push_str("\"header\":{");
            push_joined(&mut o, &self.header, |o, (k, values)| {
                push_bytes(o, k);
                o.push_str(":[");
                push_joined(o, values, |o, v| push_bytes(o, v));
                o.push(']');
            });
            o.push('}');
        }
        if self.msgsize > 0 {
            if !self.header.is_empty() {
                o.push(',');
            }
            let _ = write!(o, "\"msgsize\":{}", self.msgsize);
        }
        o.push('}');
        if self.hops > 0 {
            let _ = write!(o, ",\"hops\":{}", self.hops);
        }
        o.push_str(",\"events\":[");
        push_joined(&mut o, &self.events, push_event);
        o.push_str("]}");
        o
    }
}

/// Appends one event object.
fn push_event(o: &mut String, e: &Event) {
    let head = |o: &mut String, ty: &str, ts: i128| {
        let _ = write!(o, "{{\"type\":\"{ty}\",\"ts\":\"");
        o.push_str(&crate::monitor::timefmt::rfc3339_nano(ts));
        o.push('"');
    };
    match e {
        Event::In {
            ts,
            kind,
            cid,
            name,
            acc,
            subj,
            error,
        } => {
            head(o, "in", *ts);
            let _ = write!(o, ",\"kind\":{},\"cid\":{cid}", *kind as u8);
            field(o, "name", name);
            o.push_str(",\"acc\":");
            push_json_string(o, acc);
            o.push_str(",\"subj\":");
            push_bytes(o, subj);
            if let Some(err) = error {
                field(o, "error", err);
            }
        }
        Event::StreamExport { ts, acc, to } => {
            head(o, "se", *ts);
            o.push_str(",\"acc\":");
            push_json_string(o, acc);
            o.push_str(",\"to\":");
            push_bytes(o, to);
        }
        Event::ServiceImport { ts, acc, from, to } => {
            head(o, "si", *ts);
            o.push_str(",\"acc\":");
            push_json_string(o, acc);
            o.push_str(",\"from\":");
            push_bytes(o, from);
            o.push_str(",\"to\":");
            push_bytes(o, to);
        }
        Event::Eg(e) => {
            head(o, "eg", e.ts);
            let _ = write!(o, ",\"kind\":{},\"cid\":{}", e.kind as u8, e.cid);
            field(o, "name", &e.name);
            field(o, "hop", &e.hop);
            field(o, "acc", &e.acc);
            if !e.sub.is_empty() {
                o.push_str(",\"sub\":");
                push_bytes(o, &e.sub);
            }
            if !e.queue.is_empty() {
                o.push_str(",\"queue\":");
                push_bytes(o, &e.queue);
            }
            if let Some(err) = e.error {
                field(o, "error", err);
            }
        }
    }
    o.push('}');
}

/// Appends each of `items` with `each`, separated by commas.
fn push_joined<'i, T: 'i>(
    o: &mut String,
    items: impl IntoIterator<Item = &'i T>,
    mut each: impl FnMut(&mut String, &'i T),
) {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        each(o, item);
    }
}

/// Appends `,"key":"value"` unless `value` is empty (Go's `omitempty`).
fn field(o: &mut String, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let _ = write!(o, ",\"{key}\":");
    push_json_string(o, value);
}

/// Appends bytes as a JSON string (invalid UTF-8 as U+FFFD, as Go does).
fn push_bytes(o: &mut String, b: &[u8]) {
    push_json_string(o, &String::from_utf8_lossy(b));
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: [(&str, bool); 2] = [("js_ack_fc_v2", false), ("js_raft_delete_range", true)];

    fn facts() -> ServerFacts<'static> {
        ServerFacts {
            name: "S1",
            host: "127.0.0.1",
            id: "NID",
            cluster: "",
            version: "2.15.1",
            feature_flags: &FLAGS,
            seq: 12,
            time: 1_000_000_000,
        }
    }

    fn trace(block: &str, kind: TraceKind) -> MsgTrace {
        let request = headers::parse(block.as_bytes()).unwrap();
        let subject = Bytes::from_static(b"foo");
        MsgTrace::new(
            request,
            block.len() + 5,
            &Ingress {
                ts: 1_500_000_000,
                kind,
                cid: 8,
                name: "pubber",
                account: "$G",
                subject: &subject,
            },
        )
    }

    #[test]
    fn a_single_server_event_is_nats_servers_json() {
        let mut t = trace("NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nX-Custom: a\r\nX-Custom: b\r\nA-First: z\r\n\r\n", TraceKind::Client);
        t.egress(Egress {
            ts: 1_500_000_100,
            kind: TraceKind::Client,
            cid: 7,
            name: "subber".into(),
            acc: "$G".into(),
            sub: Bytes::from_static(b"foo.>"),
            ..Egress::default()
        });
        let (hdr, body) = t.render(&facts());
        assert!(hdr.is_empty());
        assert_eq!(
            String::from_utf8(body).unwrap(),
            concat!(
                r#"{"server":{"name":"S1","host":"127.0.0.1","id":"NID","ver":"2.15.1","feature_flags":{"js_ack_fc_v2":false,"js_raft_delete_range":true},"jetstream":false,"flags":0,"seq":12,"time":"1970-01-01T00:00:01Z"},"#,
                r#""request":{"header":{"A-First":["z"],"Nats-Trace-Dest":["trace.dest"],"X-Custom":["a","b"]},"msgsize":84},"#,
                r#""events":[{"type":"in","ts":"1970-01-01T00:00:01.5Z","kind":0,"cid":8,"name":"pubber","acc":"$G","subj":"foo"},"#,
                r#"{"type":"eg","ts":"1970-01-01T00:00:01.5000001Z","kind":0,"cid":7,"name":"subber","sub":"foo.\u003e"}]}"#
            )
        );
    }

    #[test]
    fn hops_number_server_links_under_the_hop_that_came_in() {
        let mut first = trace(
            "NATS/1.0\r\nNats-Trace-Dest: t\r\nNats-Trace-Hop: 9\r\n\r\n",
            TraceKind::Client,
        );
        assert_eq!(first.next_hop(), "1", "a client's hop header is not a hop");
        assert_eq!(first.next_hop(), "2");
        let mut routed = trace(
            "NATS/1.0\r\nNats-Trace-Dest: t\r\nNats-Trace-Hop: 1\r\n\r\n",
            TraceKind::Router,
        );
        assert_eq!(routed.next_hop(), "1.1");
        routed.egress(Egress {
            kind: TraceKind::Router,
            cid: 3,
            name: "B".into(),
            hop: "1.1".into(),
            error: Some(egress_error::NO_SUPPORT),
            ..Egress::default()
        });
        routed.ingress_error("Permissions Violation for Publish to \"foo\"".into());
        let json = String::from_utf8(routed.render(&facts()).1).unwrap();
        assert!(json.contains(r#""hops":1,"events""#), "{json}");
        assert!(json.contains(r#""kind":1,"cid":8,"name":"pubber","acc":"$G","subj":"foo","error":"Permissions Violation for Publish to \"foo\""}"#), "{json}");
        assert!(json.contains(r#"{"type":"eg","ts":"1970-01-01T00:00:00Z","kind":1,"cid":3,"name":"B","hop":"1.1","error":"Message delivered"#), "{json}");
    }

    #[test]
    fn accept_encoding_compresses_or_labels_the_event() {
        let t = trace(
            "NATS/1.0\r\nNats-Trace-Dest: t\r\nAccept-Encoding: gzip\r\n\r\n",
            TraceKind::Client,
        );
        let (hdr, body) = t.render(&facts());
        assert_eq!(hdr, b"NATS/1.0\r\nContent-Encoding: gzip\r\n\r\n");
        let mut json = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut json)
            .unwrap();
        assert!(json.starts_with("{\"server\":"), "{json}");
        let t = trace(
            "NATS/1.0\r\nNats-Trace-Dest: t\r\nAccept-Encoding: br\r\n\r\n",
            TraceKind::Client,
        );
        let (hdr, body) = t.render(&facts());
        assert_eq!(hdr, b"NATS/1.0\r\nContent-Encoding: identity\r\n\r\n");
        assert!(body.starts_with(b"{\"server\":"));
    }
}
