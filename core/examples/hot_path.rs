//! The engine's hot path alone, no sockets: one publisher, N subscribers
//! on `foo`, 200,000 small messages in batches of 100: `PUB`; `HPUB` with
//! a one-line header when a second argument is given; `HPUB` with a
//! message id and a content type when that argument is `H`. For exact
//! before/after comparisons on a noisy machine, count instructions:
//!
//! ```text
//! cargo build --release --example hot_path -p canopy-core
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/hot_path 4
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/hot_path 1 h
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/hot_path 1 H
//! ```

use bytes::Bytes;
use canopy_core::{Action, Instant, ListenerKind, Options, Server};

/// Writes everything the engine queued, as a driver would.
fn drain(s: &mut Server, now: Instant) {
    while let Some(a) = s.poll_action() {
        if let Action::Flush(c) = a {
            let mut chunks = Vec::new();
            let n = s.take_outbound(c, &mut chunks, now);
            s.handle_written(c, n, now);
        }
    }
    while s.poll_event().is_some() {}
}

fn main() {
    let subs: usize = std::env::args().nth(1).map_or(1, |a| a.parse().unwrap());
    let mode = std::env::args().nth(2).unwrap_or_default();
    let hdr = !mode.is_empty();
    let big = mode == "H";
    let now = Instant::from_nanos(1_000_000_000);
    let mut s = Server::new(Options::default(), [1; 32], now);
    let peer = "127.0.0.1:5000".parse().unwrap();
    let p = s.handle_accept(ListenerKind::Client, peer, now);
    s.handle_read(
        p,
        Bytes::from_static(b"CONNECT {\"verbose\":false,\"headers\":true}\r\n"),
        now,
    );
    for i in 0..subs {
        let c = s.handle_accept(ListenerKind::Client, peer, now);
        s.handle_read(
            c,
            Bytes::from(format!(
                "CONNECT {{\"verbose\":false,\"headers\":true}}\r\nSUB foo {i}\r\n"
            )),
            now,
        );
    }
    drain(&mut s, now);
    let mut batch = Vec::new();
    for _ in 0..100 {
        if big {
            let h = "NATS/1.0\r\nNats-Msg-Id: 0123456789abcdef0123456789abcdef\r\nContent-Type: application/json\r\n\r\n";
            batch.extend_from_slice(
                format!(
                    "HPUB foo {} {}\r\n{h}0123456789abcdef\r\n",
                    h.len(),
                    h.len() + 16
                )
                .as_bytes(),
            );
        } else if hdr {
            batch.extend_from_slice(
                b"HPUB foo 18 34\r\nNATS/1.0\r\nA: b\r\n\r\n0123456789abcdef\r\n",
            );
        } else {
            batch.extend_from_slice(b"PUB foo 16\r\n0123456789abcdef\r\n");
        }
    }
    let batch = Bytes::from(batch);
    for _ in 0..2000 {
        s.handle_read(p, batch.clone(), now);
        drain(&mut s, now);
    }
}
