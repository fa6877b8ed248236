//! Lame duck mode under virtual time: INFO with `ldm` to protocol-1
//! clients, nothing during the grace period, then one close at a time at
//! most a second apart, then a shutdown request.

use crate::{Action, ConnId, Event, Instant, ListenerKind, Options, Server, TimerKey};
use bytes::Bytes;
use std::time::Duration;

fn connect(s: &mut Server, protocol: u8, now: Instant) -> ConnId {
    let id = s.handle_accept(
        ListenerKind::Client,
        "127.0.0.1:5000".parse().expect("addr"),
        now,
    );
    let hello = format!("CONNECT {{\"verbose\":false,\"protocol\":{protocol}}}\r\n");
    s.handle_read(id, Bytes::from(hello.into_bytes()), now);
    id
}

/// Takes everything queued for `id` as text.
fn output(s: &mut Server, id: ConnId, now: Instant) -> String {
    let mut chunks = Vec::new();
    let n = s.take_outbound(id, &mut chunks, now);
    s.handle_written(id, n, now);
    chunks.iter().map(|c| String::from_utf8_lossy(c)).collect()
}

#[test]
fn evicts_after_grace_then_asks_for_shutdown() {
    let t0 = Instant::from_nanos(1_000_000_000);
    let options = Options {
        lame_duck_duration: Duration::from_secs(30),
        lame_duck_grace_period: Duration::from_secs(1),
        ..Options::default()
    };
    let mut s = Server::without_system(options, [9; 32], t0);
    let a = connect(&mut s, 1, t0);
    let b = connect(&mut s, 1, t0);
    let c = connect(&mut s, 0, t0);
    for id in [a, b, c] {
        output(&mut s, id, t0);
    }
    while s.poll_action().is_some() {}
    s.enter_lame_duck(t0);
    assert!(output(&mut s, a, t0).contains(",\"ldm\":true,"));
    assert!(output(&mut s, b, t0).contains(",\"ldm\":true,"));
    assert_eq!(output(&mut s, c, t0), "", "protocol 0 gets no INFO");
    assert_eq!(
        s.poll_timeout(),
        Some((t0 + Duration::from_secs(1), TimerKey::LameDuck))
    );
    let mut closes = Vec::new();
    let mut now = t0;
    let mut shutdown = false;
    for _ in 0..10 {
        let Some((at, _)) = s.poll_timeout() else {
            break;
        };
        now = at;
        s.handle_timeout(now);
        while let Some(action) = s.poll_action() {
            if let Action::Close { conn, .. } = action {
                closes.push((conn, now));
                s.handle_closed(conn, now);
            }
        }
        while let Some(e) = s.poll_event() {
            shutdown |= e == Event::ShutdownRequested;
        }
        if shutdown {
            break;
        }
    }
    assert!(shutdown, "no shutdown request after evicting");
    let order: Vec<ConnId> = closes.iter().map(|(c, _)| *c).collect();
    assert_eq!(order, vec![a, b, c], "lowest cid first");
    assert_eq!(closes[0].1, t0 + Duration::from_secs(1));
    for pair in closes.windows(2) {
        let gap = pair[1].1.saturating_since(pair[0].1);
        assert!(
            gap >= Duration::from_millis(500) && gap <= Duration::from_secs(1),
            "gap {gap:?}"
        );
    }
    assert!(now <= t0 + Duration::from_secs(3));
}

#[test]
fn no_clients_means_shutdown_at_once() {
    let t0 = Instant::from_nanos(1);
    let mut s = Server::new(Options::default(), [1; 32], t0);
    s.enter_lame_duck(t0);
    assert_eq!(s.poll_event(), Some(Event::ShutdownRequested));
    s.enter_lame_duck(t0);
    assert_eq!(s.poll_event(), None, "a second signal does nothing");
}
