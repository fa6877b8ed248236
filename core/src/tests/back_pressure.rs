//! Back-pressure (`engine/stall.rs`): a lagging consumer holds the
//! producers feeding it until it drains; it is cut only when it makes no
//! progress for the write deadline or passes max_pending anyway.

use super::harness::Harness;
use super::route_peer::{cluster, clustered};
use crate::{CloseReason, ConnId, Options};
use std::time::Duration;

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;
const KIB: usize = 1024;

fn server() -> Harness {
    Harness::new(Options {
        max_pending: 100 * KIB,
        write_deadline: Duration::from_secs(2),
        ..Options::default()
    })
}

/// A subscriber on `subject` whose socket takes nothing (yet).
fn lagging(h: &mut Harness, subject: &str) -> ConnId {
    let sub = h.connected(QUIET);
    h.send(sub, &format!("SUB {subject} 1\r\nPING\r\n"));
    h.take(sub);
    h.stall(sub, true);
    sub
}

fn publish(h: &mut Harness, publisher: ConnId, subject: &str, n: usize) {
    let payload = "x".repeat(KIB);
    for _ in 0..n {
        h.send(publisher, &format!("PUB {subject} {KIB}\r\n{payload}\r\n"));
    }
}

fn msgs(out: &str) -> usize {
    out.matches("MSG ").count()
}

#[test]
fn a_lagging_consumer_holds_its_producer_until_it_drains() {
    let mut h = server();
    let sub = lagging(&mut h, "s");
    let publisher = h.connected(QUIET);
    publish(&mut h, publisher, "s", 40);
    assert!(h.paused.is_empty(), "40 KiB is under the threshold");
    publish(&mut h, publisher, "s", 20);
    assert_eq!(h.paused, [publisher], "held past half of max_pending");
    assert!(h.resumed.is_empty(), "still held while nothing drains");
    assert_eq!(h.server.stats().stalled_clients, 1);
    // More publishes while held do not pause it again.
    publish(&mut h, publisher, "s", 5);
    assert_eq!(h.paused, [publisher]);
    // The consumer's socket takes everything: the producer resumes.
    h.stall(sub, false);
    assert_eq!(h.resumed, [publisher]);
    assert_eq!(msgs(&h.take(sub)), 65, "every message delivered");
    assert!(!h.is_closed(sub));
    assert_eq!(h.server.stats().slow_consumers, 0);
}

#[test]
fn a_consumer_that_reads_slowly_keeps_every_message() {
    let mut h = server();
    let sub = lagging(&mut h, "s");
    let publisher = h.connected(QUIET);
    let mut got = 0;
    let mut sent = 0;
    // The publisher sends while it may; the consumer's socket takes 8 KiB
    // every 100 ms: far slower than the producer, but always progressing.
    for _ in 0..400 {
        // The driver reads the producer whenever the engine lets it.
        if !h.is_paused(publisher) {
            publish(&mut h, publisher, "s", 20);
            sent += 20;
        }
        got += h.trickle(sub, 8 * KIB);
        h.advance(Duration::from_millis(100));
    }
    // The reader catches up.
    got += h.trickle(sub, usize::MAX);
    assert!(
        !h.is_closed(sub),
        "a consumer that keeps reading is not cut"
    );
    assert_eq!(got, sent, "every message arrived");
    assert!(sent > 300, "the producer was not starved: {sent}");
    assert!(h.paused.len() > 5, "held and released many times");
}

#[test]
fn a_consumer_that_never_reads_is_cut_at_the_write_deadline_and_releases_its_producer() {
    let mut h = server();
    let sub = lagging(&mut h, "s");
    let publisher = h.connected(QUIET);
    publish(&mut h, publisher, "s", 60);
    assert_eq!(h.paused, [publisher]);
    // The socket accepted bytes once and never again.
    h.take_unwritten(sub);
    h.advance(Duration::from_millis(1900));
    assert!(!h.is_closed(sub));
    h.advance(Duration::from_millis(200));
    assert!(h.is_closed(sub), "no progress for the write deadline");
    assert_eq!(h.resumed, [publisher], "its producer goes on");
    assert_eq!(h.server.stats().slow_consumers, 1);
    assert_eq!(
        h.close_reason(sub),
        Some(CloseReason::SlowConsumerWriteDeadline)
    );
}

#[test]
fn max_pending_still_bounds_a_consumer_whose_producer_keeps_sending() {
    // A driver ignoring the pause (reads already in flight): the consumer
    // is cut at max_pending, memory stays bounded.
    let mut h = server();
    let sub = lagging(&mut h, "s");
    let publisher = h.connected(QUIET);
    publish(&mut h, publisher, "s", 150);
    assert!(h.is_closed(sub));
    assert_eq!(
        h.close_reason(sub),
        Some(CloseReason::SlowConsumerPendingBytes)
    );
    assert_eq!(h.resumed, [publisher], "the cut consumer lets go");
    assert!(!h.is_closed(publisher));
}

#[test]
fn a_producer_feeding_a_fast_and_a_slow_consumer_is_held() {
    let mut h = server();
    let slow = lagging(&mut h, "s");
    let fast = h.connected(QUIET);
    h.send(fast, "SUB s 1\r\nPING\r\n");
    h.take(fast);
    let publisher = h.connected(QUIET);
    publish(&mut h, publisher, "s", 60);
    assert_eq!(h.paused, [publisher], "nats-server stalls the producer");
    assert_eq!(msgs(&h.take(fast)), 60, "the fast one got what was sent");
    h.stall(slow, false);
    assert_eq!(h.resumed, [publisher]);
}

#[test]
fn other_publishers_are_not_held() {
    let mut h = server();
    let _slow = lagging(&mut h, "s");
    let other_sub = h.connected(QUIET);
    h.send(other_sub, "SUB t 1\r\nPING\r\n");
    h.take(other_sub);
    let publisher = h.connected(QUIET);
    let bystander = h.connected(QUIET);
    publish(&mut h, publisher, "s", 60);
    publish(&mut h, bystander, "t", 60);
    assert_eq!(h.paused, [publisher]);
    assert_eq!(msgs(&h.take(other_sub)), 60);
}

#[test]
fn a_producer_held_by_two_consumers_resumes_when_both_drained() {
    let mut h = server();
    let a = lagging(&mut h, "s");
    let b = lagging(&mut h, "s");
    let publisher = h.connected(QUIET);
    publish(&mut h, publisher, "s", 60);
    assert_eq!(h.paused, [publisher]);
    h.stall(a, false);
    assert!(h.resumed.is_empty(), "b still holds it");
    h.stall(b, false);
    assert_eq!(h.resumed, [publisher]);
}

#[test]
fn a_consumer_closing_releases_its_producer() {
    let mut h = server();
    let sub = lagging(&mut h, "s");
    let publisher = h.connected(QUIET);
    publish(&mut h, publisher, "s", 60);
    h.server.handle_closed(sub, h.now);
    h.drain();
    assert_eq!(h.resumed, [publisher]);
}

#[test]
fn routes_are_never_held() {
    // nats-server stalls only client producers.
    let mut h = Harness::new(Options {
        max_pending: 100 * KIB,
        ..clustered(cluster())
    });
    let sub = lagging(&mut h, "s");
    let r = h.fake_route_named("NPEER", "peer", 6223, "127.0.0.1:4223");
    let payload = "x".repeat(KIB);
    for _ in 0..60 {
        h.send(r, &format!("RMSG $G s {KIB}\r\n{payload}\r\n"));
    }
    assert!(h.paused.is_empty(), "{:?}", h.paused);
    assert!(!h.is_closed(sub));
}
