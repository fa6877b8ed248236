//! Message tracing (`Nats-Trace-Dest`): the events one engine publishes,
//! checked against what nats-server 2.15.1 sends for the same session
//! (captured with raw sockets; the byte-level notes are in the module
//! docs of `router::trace`).

use super::harness::Harness;
use super::route_peer::{cluster, clustered};
use crate::auth::UserEntry;
use crate::perms::{Entry, Permissions, Rule};
use crate::{ConnId, Options};
use serde_json::Value;

const TRACE_DEST: &str = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\n\r\n";

fn named(h: &mut Harness, name: &str) -> ConnId {
    h.connected(&format!(
        r#"{{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"name":"{name}"}}"#
    ))
}

/// A publisher, a subscriber on `foo` (sid 7) and a tracer on
/// `trace.dest` (sid 1), with their output taken.
fn trio(h: &mut Harness) -> (ConnId, ConnId, ConnId) {
    let tracer = named(h, "tracer");
    h.send(tracer, "SUB trace.dest 1\r\nPING\r\n");
    let sub = named(h, "subber");
    h.send(sub, "SUB foo 7\r\nPING\r\n");
    let publisher = named(h, "pubber");
    h.send(publisher, "PING\r\n");
    for c in [tracer, sub, publisher] {
        h.take(c);
    }
    (publisher, sub, tracer)
}

fn hpub(subject: &str, headers: &str, payload: &str) -> String {
    format!(
        "HPUB {subject} {} {}\r\n{headers}{payload}\r\n",
        headers.len(),
        headers.len() + payload.len()
    )
}

/// The trace events in `out` (a tracer's output): the JSON of each
/// `MSG trace.dest` with the MSG line's spacing checked.
fn events(out: &str, double_space: bool) -> Vec<Value> {
    raw_events(out, double_space)
        .iter()
        .map(|body| serde_json::from_str(body).expect("event JSON"))
        .collect()
}

/// The JSON texts of the trace events in `out`.
fn raw_events(out: &str, double_space: bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = out;
    while let Some(i) = rest.find("MSG trace.dest 1 ") {
        let line_end = i + rest[i..].find("\r\n").unwrap();
        let line = &rest[i..line_end];
        assert_eq!(
            line.contains("1  "),
            double_space,
            "the server's own event has an empty reply: {line:?}"
        );
        let size: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
        let body = &rest[line_end + 2..line_end + 2 + size];
        found.push(body.to_string());
        rest = &rest[line_end + 2 + size..];
    }
    found
}

/// Every key of a JSON text, in the order written (serde_json's `Value`
/// sorts them, and nats-server's order is part of the format).
fn key_order(raw: &str) -> Vec<String> {
    let b = raw.as_bytes();
    let (mut keys, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        i += 1;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        let text = &raw[start..i.min(raw.len())];
        i += 1;
        if b.get(i) == Some(&b':') {
            keys.push(text.to_string());
        }
    }
    keys
}

#[test]
fn a_traced_message_is_delivered_unchanged_and_its_event_published() {
    let mut h = Harness::default_server();
    let (publisher, sub, tracer) = trio(&mut h);
    let headers = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nX-Custom: a\r\nX-Custom: b\r\nA-First: z\r\n\r\n";
    let publish = format!(
        "HPUB foo my.reply {} {}\r\n{headers}hello\r\n",
        headers.len(),
        headers.len() + 5
    );
    h.send(publisher, &publish);
    assert_eq!(
        h.take(sub),
        format!("HMSG foo 7 my.reply 79 84\r\n{headers}hello\r\n")
    );
    let out = h.take(tracer);
    let ev = events(&out, true);
    assert_eq!(ev.len(), 1, "{out}");
    let e = &ev[0];
    // nats-server's keys, in its order (captured from 2.15.1).
    let order = [
        "server",
        "name",
        "host",
        "id",
        "ver",
        "feature_flags",
        "js_ack_fc_v2",
        "js_api_reply_v2",
        "js_raft_delete_range",
        "js_snapshot_sources",
        "jetstream",
        "flags",
        "seq",
        "time",
        "request",
        "header",
        "A-First",
        "Nats-Trace-Dest",
        "X-Custom",
        "msgsize",
        "events",
        "type",
        "ts",
        "kind",
        "cid",
        "name",
        "acc",
        "subj",
        "type",
        "ts",
        "kind",
        "cid",
        "name",
        "sub",
    ];
    assert_eq!(key_order(&raw_events(&out, true)[0]), order, "{out}");
    assert_eq!(
        e["request"],
        serde_json::json!({"header":{"A-First":["z"],"Nats-Trace-Dest":["trace.dest"],"X-Custom":["a","b"]},"msgsize":84})
    );
    let events = e["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{e}");
    assert_eq!(events[0]["type"], "in");
    assert_eq!(events[0]["kind"], 0);
    assert_eq!(events[0]["name"], "pubber");
    assert_eq!(events[0]["acc"], "$G");
    assert_eq!(events[0]["subj"], "foo");
    assert_eq!(events[1]["name"], "subber");
    assert_eq!(events[1]["sub"], "foo");
    // The raw text keeps Go's escaping and key order.
    assert!(out.contains(r#""events":[{"type":"in","ts":""#), "{out}");
}

#[test]
fn trace_only_records_the_delivery_without_making_it() {
    let mut h = Harness::default_server();
    let (publisher, sub, tracer) = trio(&mut h);
    h.send(sub, "SUB foo grp 8\r\n");
    h.send(
        publisher,
        &hpub(
            "foo",
            "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Only: On\r\n\r\n",
            "hello",
        ),
    );
    assert_eq!(h.take(sub), "", "trace-only is not delivered");
    let ev = events(&h.take(tracer), true);
    let egress: Vec<(&Value, &Value)> = ev[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|e| (&e["sub"], &e["queue"]))
        .collect();
    assert_eq!(
        egress,
        [
            (&Value::from("foo"), &Value::Null),
            (&Value::from("foo"), &Value::from("grp"))
        ]
    );
    // Not trace-only: delivered, no error.
    h.send(
        publisher,
        &hpub(
            "foo",
            "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Only: yes\r\n\r\n",
            "hi",
        ),
    );
    assert_eq!(h.take(sub).matches("HMSG foo").count(), 2);
}

#[test]
fn refused_deliveries_say_why() {
    let mut h = Harness::default_server();
    let (_, _, tracer) = trio(&mut h);
    let noecho = h.connected(r#"{"verbose":false,"headers":true,"echo":false,"name":"noecho"}"#);
    h.send(noecho, "SUB foo 1\r\nSUB once 2\r\nUNSUB 2 1\r\n");
    h.send(noecho, &hpub("foo", TRACE_DEST, "x"));
    let ev = events(&h.take(tracer), true);
    let errors: Vec<&Value> = ev[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["error"])
        .collect();
    assert!(
        errors.contains(&&Value::from("Not delivered because of no echo")),
        "{ev:?}"
    );
    // The publisher's no-echo egress names it; the other sub has none.
    assert_eq!(errors.iter().filter(|e| !e.is_null()).count(), 1);
}

#[test]
fn no_subscribers_leaves_only_the_ingress() {
    let mut h = Harness::default_server();
    let (publisher, _, tracer) = trio(&mut h);
    h.send(publisher, &hpub("nobody.here", TRACE_DEST, "hello"));
    let ev = events(&h.take(tracer), true);
    assert_eq!(ev[0]["events"].as_array().unwrap().len(), 1);
    assert_eq!(ev[0]["request"]["msgsize"], 46);
}

#[test]
fn what_is_not_traced_is_delivered_and_what_cannot_be_is_dropped() {
    let mut h = Harness::default_server();
    let (publisher, sub, tracer) = trio(&mut h);
    for (headers, delivered) in [
        ("NATS/1.0\r\nNats-Trace-Dest: trace.*\r\n\r\n", true),
        ("NATS/1.0\r\nNats-Trace-Dest: trace.*\r\nNats-Trace-Only: true\r\n\r\n", false),
        ("NATS/1.0\r\nNats-Trace-Dest: trace disabled\r\nNats-Trace-Only: true\r\n\r\n", true),
        ("NATS/1.0\r\nnats-trace-dest: trace.dest\r\n\r\n", true),
        ("NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Origin-Account: X\r\nNats-Trace-Only: 1\r\n\r\n", false),
    ] {
        h.send(publisher, &hpub("foo", headers, "x"));
        assert_eq!(!h.take(sub).is_empty(), delivered, "{headers:?}");
    }
    assert_eq!(h.take(tracer), "", "none of them is traced");
    // The origin-account header disables the trace in the delivered copy.
    h.send(
        publisher,
        &hpub(
            "foo",
            "NATS/1.0\r\nNats-Trace-Origin-Account: X\r\nNats-Trace-Dest: trace.dest\r\n\r\n",
            "x",
        ),
    );
    assert!(h.take(sub).contains(
        "NATS/1.0\r\nNats-Trace-Origin-Account: X\r\nNats-Trace-Dest: trace disabled\r\n\r\nx"
    ),);
}

#[test]
fn a_destination_the_publisher_may_not_use_is_refused_and_dropped() {
    let mut o = Options::default();
    let perms = Permissions {
        publish: Some(Rule {
            allow: None,
            deny: vec![Entry::parse("trace.dest")],
        }),
        subscribe: None,
        responses: None,
    };
    o.users.insert(
        "u".into(),
        UserEntry {
            password: "p".into(),
            permissions: Some(perms),
            account: "$G".into(),
        },
    );
    let mut h = Harness::new(o);
    let sub = h.connected(r#"{"verbose":false,"headers":true,"user":"u","pass":"p"}"#);
    h.send(sub, "SUB foo 1\r\nPING\r\n");
    h.take(sub);
    let publisher = h.connected(r#"{"verbose":false,"headers":true,"user":"u","pass":"p"}"#);
    h.send(publisher, &hpub("foo", TRACE_DEST, "x"));
    assert_eq!(
        h.take(publisher),
        "-ERR 'Permissions Violation for Publish to \"trace.dest\"'\r\n"
    );
    assert_eq!(h.take(sub), "", "dropped");
}

/// A cluster server with a route from a fake peer that has interest in
/// `foo`, plus the local trio.
fn clustered_trio(proto: u32) -> (Harness, ConnId, ConnId, ConnId, ConnId) {
    let mut h = Harness::new(clustered(cluster()));
    let r = h.route();
    h.send(
        r,
        &format!(
            "{}{}PING\r\n",
            super::route_peer::route_connect("PEER", "testc"),
            super::route_peer::peer_info_named("PEER", "B", 16222, "127.0.0.1:14222")
                .replace("\"proto\":3", &format!("\"proto\":{proto}"))
        ),
    );
    h.send(r, "RS+ $G foo\r\n");
    h.take(r);
    let (p, s, t) = trio(&mut h);
    h.take(r);
    (h, r, p, s, t)
}

#[test]
fn a_route_gets_the_hop_header_and_the_event_counts_the_hop() {
    let (mut h, route, publisher, _, tracer) = clustered_trio(3);
    h.send(publisher, &hpub("foo", TRACE_DEST, "hello"));
    assert_eq!(
        h.take(route),
        "HMSG $G foo 60 65\r\nNATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Hop: 1\r\n\r\nhello\r\n"
    );
    let out = h.take(tracer);
    let ev = events(&out, true);
    assert_eq!(ev[0]["hops"], 1);
    let eg = &ev[0]["events"].as_array().unwrap();
    let route_eg = eg.iter().find(|e| e["kind"] == 1).expect("route egress");
    let keys = key_order(&raw_events(&out, true)[0]);
    let tail: Vec<&str> = keys
        .iter()
        .rev()
        .take(6)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(tail, ["type", "ts", "kind", "cid", "name", "hop"]);
    let hops_at = keys.iter().position(|k| k == "hops").unwrap();
    assert_eq!(
        keys[hops_at - 1],
        "msgsize",
        "hops comes between request and events"
    );
    assert_eq!(keys[hops_at + 1], "events");
    assert_eq!(route_eg["name"], "B");
    assert_eq!(route_eg["hop"], "1");
}

/// `HMSG $G foo` from a route peer with `headers` and `payload`.
fn routed_hmsg(headers: &str, payload: &str) -> String {
    format!(
        "HMSG $G foo {} {}\r\n{headers}{payload}\r\n",
        headers.len(),
        headers.len() + payload.len()
    )
}

#[test]
fn a_routed_trace_only_message_is_traced_here_and_not_delivered() {
    let (mut h, route, _, sub, tracer) = clustered_trio(3);
    let headers = "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Only: true\r\nNats-Trace-Hop: 1\r\n\r\n";
    h.send(route, &routed_hmsg(headers, "hello"));
    assert_eq!(h.take(sub), "");
    let ev = events(&h.take(tracer), true);
    let e = &ev[0];
    assert_eq!(e["request"]["msgsize"], 88);
    let events = e["events"].as_array().unwrap();
    assert_eq!(events[0]["kind"], 1);
    assert_eq!(events[0]["name"], "B");
    assert_eq!(events[1]["name"], "subber");
    assert!(e.get("hops").is_none(), "one hop: routes never re-forward");
    // The event goes to the route too when the peer has interest, as an
    // RMSG with no reply.
    h.send(route, "RS+ $G trace.dest\r\n");
    h.send(route, &routed_hmsg(headers, "hello"));
    let out = h.take(route);
    assert!(out.starts_with("RMSG $G trace.dest "), "{out}");
    assert!(!out.contains("trace.dest  "), "{out}");
}

/// The route egress event of the one trace event in `out`.
fn route_egress(out: &str) -> Value {
    let ev = events(out, true);
    let found = ev[0]["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["kind"] == 1).cloned());
    found.expect("a route egress")
}

#[test]
fn a_peer_that_cannot_trace_gets_no_trace_only_message() {
    let (mut h, route, publisher, _, tracer) = clustered_trio(2);
    h.send(
        publisher,
        &hpub(
            "foo",
            "NATS/1.0\r\nNats-Trace-Dest: trace.dest\r\nNats-Trace-Only: true\r\n\r\n",
            "x",
        ),
    );
    assert_eq!(h.take(route), "");
    let eg = route_egress(&h.take(tracer));
    assert_eq!(
        eg["error"],
        "Not delivered because remote does not support message tracing"
    );
    h.send(publisher, &hpub("foo", TRACE_DEST, "x"));
    assert!(h.take(route).starts_with("HMSG $G foo "));
    let eg = route_egress(&h.take(tracer));
    assert_eq!(
        eg["error"],
        "Message delivered but remote does not support message tracing so no trace event generated from there"
    );
}

#[test]
fn an_unsampled_traceparent_goes_on_with_its_trace_disabled() {
    let mut o = Options::default();
    o.msg_traces.insert(
        "$G".into(),
        crate::options::AccountTrace {
            dest: "acc.trace".into(),
            sampling: 1,
        },
    );
    let mut h = Harness::new(o);
    let (publisher, sub, _) = trio(&mut h);
    let tracer = named(&mut h, "acc");
    h.send(tracer, "SUB acc.trace 1\r\nPING\r\n");
    h.take(tracer);
    let parent =
        "NATS/1.0\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n";
    let mut disabled = 0;
    for _ in 0..50 {
        h.send(publisher, &hpub("foo", parent, "x"));
        let got = h.take(sub);
        assert!(got.starts_with("HMSG foo 7 "), "{got}");
        disabled += usize::from(got.contains("Nats-Trace-Dest: trace disabled\r\n\r\nx"));
    }
    let traced = h.take(tracer).matches("MSG acc.trace").count();
    assert_eq!(traced + disabled, 50, "each is traced or disabled");
    assert!(disabled >= 40, "1% sampling: {disabled} of 50 disabled");
}
