//! Timers: server PINGs, stale connections, auth timeout, write deadline.

use super::harness::Harness;
use crate::{ClientAuth, Options};
use std::time::Duration;

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

#[test]
fn c33_authentication_timeout() {
    let mut h = Harness::new(Options {
        auth: ClientAuth::Token("t".into()),
        auth_timeout: Duration::from_secs(1),
        ..Options::default()
    });
    let c = h.client();
    h.advance(Duration::from_millis(990));
    assert_eq!(h.take(c), "");
    h.advance(Duration::from_millis(20));
    assert_eq!(h.take(c), "-ERR 'Authentication Timeout'\r\n");
    assert!(h.is_closed(c));
}

#[test]
fn c44_stale_connection() {
    let mut h = Harness::new(Options {
        ping_interval: Duration::from_secs(1),
        ping_max: 2,
        ..Options::default()
    });
    let c = h.connected(QUIET);
    h.advance(Duration::from_millis(999));
    assert_eq!(h.take(c), "");
    h.advance(Duration::from_millis(201));
    assert_eq!(h.take(c), "PING\r\n");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(c), "PING\r\n");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(c), "-ERR 'Stale Connection'\r\n");
    assert!(h.is_closed(c));
    assert_eq!(h.server.stats().stale_connections, 1);
}

#[test]
fn c44_pong_keeps_connection_alive() {
    let mut h = Harness::new(Options {
        ping_interval: Duration::from_secs(1),
        ping_max: 2,
        ..Options::default()
    });
    let c = h.connected(QUIET);
    for _ in 0..10 {
        h.advance(Duration::from_secs(1));
        if h.take(c).contains("PING") {
            h.send(c, "PONG\r\n");
        }
    }
    assert!(!h.is_closed(c));
}

#[test]
fn c45_first_ping_about_two_seconds_after_connect() {
    let mut h = Harness::default_server();
    let c = h.connected(QUIET);
    h.advance(Duration::from_millis(1999));
    assert_eq!(h.take(c), "");
    h.advance(Duration::from_millis(402));
    assert_eq!(h.take(c), "PING\r\n");
    h.send(c, "PONG\r\n");
    // Then every ping_interval (2 minutes), skipped while the client is busy.
    h.advance(Duration::from_secs(60));
    h.send(c, "PING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
    h.advance(Duration::from_secs(61));
    assert_eq!(h.take(c), "");
    h.advance(Duration::from_secs(120));
    assert_eq!(h.take(c), "PING\r\n");
}

#[test]
fn write_deadline_closes_stuck_client() {
    let mut h = Harness::new(Options {
        write_deadline: Duration::from_secs(2),
        ..Options::default()
    });
    let sub = h.connected(QUIET);
    let publisher = h.connected(QUIET);
    h.send(sub, "SUB s 1\r\n");
    // The driver takes the bytes but the socket never reports progress.
    h.stall(sub, true);
    h.send(publisher, "PUB s 1\r\nx\r\n");
    let mut chunks = Vec::new();
    assert!(h.server.take_outbound(sub, &mut chunks, h.now) > 0);
    h.advance(Duration::from_millis(1900));
    assert!(!h.is_closed(sub));
    h.advance(Duration::from_millis(200));
    assert!(h.is_closed(sub));
    assert_eq!(h.server.stats().slow_consumers, 1);
}
