//! Limits: payload, control line, subscriptions, connections, slow consumers.

use super::harness::{info_json, Harness};
use crate::Options;

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

#[test]
fn c21_max_payload_checked_before_payload() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.send(c, "PUB foo 2000000\r\n");
    assert_eq!(h.take(c), "-ERR 'Maximum Payload Violation'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c22_configured_max_payload() {
    let mut h = Harness::new(Options {
        max_payload: 1024,
        ..Options::default()
    });
    let c = h.accept();
    assert_eq!(info_json(&h.take(c))["max_payload"], 1024);
    h.send(c, "PUB foo.x 1024\r\n");
    assert_eq!(h.take(c), "");
    let c = h.client();
    h.send(c, "PUB foo.x 1025\r\n");
    assert_eq!(h.take(c), "-ERR 'Maximum Payload Violation'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c23_max_control_line() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    // A 4094-byte argument is accepted.
    let subject = "a".repeat(4094 - 2);
    h.send(c, &format!("SUB {subject} 1\r\nPUB {subject} 1\r\nx\r\n"));
    let out = h.take(c);
    assert!(
        out.starts_with(&format!("MSG {subject} 1 1\r\n")),
        "{}",
        &out[..40.min(out.len())]
    );
    // A 4100-byte line is refused, even before its newline arrives.
    let c = h.connected(QUIET);
    h.send(c, &format!("PUB {} 1", "b".repeat(4100)));
    assert_eq!(h.take(c), "-ERR 'maximum control line exceeded'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c41_max_subscriptions() {
    let mut h = Harness::new(Options {
        max_subscriptions: 2,
        ..Options::default()
    });
    let c = h.connected(QUIET);
    h.send(c, "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n");
    assert_eq!(
        h.take(c),
        "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n"
    );
    assert!(!h.is_closed(c));
}

#[test]
fn c43_max_connections() {
    let mut h = Harness::new(Options {
        max_connections: Some(3),
        ..Options::default()
    });
    let conns: Vec<_> = (0..3).map(|_| h.client()).collect();
    let fourth = h.accept();
    let out = h.take(fourth);
    assert!(out.starts_with("INFO {"));
    assert!(
        out.ends_with("} \r\n-ERR 'maximum connections exceeded'\r\n"),
        "{out}"
    );
    assert!(h.is_closed(fourth));
    assert!(conns.iter().all(|c| !h.is_closed(*c)));
    // A slot frees up when a client leaves.
    h.server.handle_closed(conns[0], h.now);
    h.drain();
    let fifth = h.client();
    assert!(!h.is_closed(fifth));
}

#[test]
fn c46_slow_consumer_closed_without_error() {
    let mut h = Harness::new(Options {
        max_pending: 100 * 1024,
        ..Options::default()
    });
    let sub = h.connected(QUIET);
    let publisher = h.connected(QUIET);
    h.send(sub, "SUB s 1\r\nPING\r\n");
    h.take(sub);
    h.stall(sub, true);
    let payload = "x".repeat(1024);
    for _ in 0..150 {
        h.send(publisher, &format!("PUB s 1024\r\n{payload}\r\n"));
    }
    assert!(h.is_closed(sub));
    assert_eq!(h.take(sub), "", "nothing flushed, no -ERR");
    assert!(!h.is_closed(publisher));
    assert_eq!(h.server.stats().slow_consumers, 1);
    // The producer was asked to pause while the consumer was above 75 %.
    assert!(h.paused.contains(&publisher));
}
