//! The hot path allocates per batch, never per message: publishing a
//! thousand messages to subscribers (plain, fan-out, queue) costs a bounded
//! number of allocations however many messages the batch holds.

use super::route_peer::{cluster, clustered, peer_info, route_connect};
use crate::{Action, ConnId, Instant, ListenerKind, Options, Server};
use bytes::Bytes;
use core::net::SocketAddr;

struct Rig {
    server: Server,
    now: Instant,
    chunks: Vec<Bytes>,
}

impl Rig {
    fn new() -> Self {
        let now = Instant::from_nanos(1_000_000_000);
        Rig {
            server: Server::new(Options::default(), [7; 32], now),
            now,
            chunks: Vec::with_capacity(1024),
        }
    }

    fn client(&mut self, subscribe: &str) -> ConnId {
        let peer: SocketAddr = "127.0.0.1:50000".parse().expect("literal address");
        let id = self
            .server
            .handle_accept(ListenerKind::Client, peer, self.now);
        let hello = format!("CONNECT {{\"verbose\":false}}\r\n{subscribe}");
        self.server
            .handle_read(id, Bytes::from(hello.into_bytes()), self.now);
        self.drive();
        id
    }

    /// Does what a driver does with every action, writing everything.
    fn drive(&mut self) -> usize {
        let mut written = 0;
        while let Some(action) = self.server.poll_action() {
            match action {
                Action::Flush(id) => {
                    self.chunks.clear();
                    let n = self.server.take_outbound(id, &mut self.chunks, self.now);
                    self.chunks.clear();
                    self.server.handle_written(id, n, self.now);
                    written += n;
                }
                Action::Close { .. }
                | Action::PauseReading { .. }
                | Action::ResumeReading { .. }
                | Action::Dial { .. }
                | Action::SignNonce { .. }
                | Action::StoreAccountJwt { .. } => {}
            }
        }
        while self.server.poll_event().is_some() {}
        written
    }
}

fn batch(count: usize, size: usize) -> Bytes {
    let mut v = Vec::new();
    for _ in 0..count {
        v.extend_from_slice(format!("PUB bench.x {size}\r\n").as_bytes());
        v.extend(std::iter::repeat_n(b'p', size));
        v.extend_from_slice(b"\r\n");
    }
    Bytes::from(v)
}

/// Allocations made by publishing `count` messages in one read.
fn allocations(subs: &[&str], count: usize, size: usize) -> (u64, usize) {
    let mut rig = Rig::new();
    for s in subs {
        rig.client(s);
    }
    let publisher = rig.client("");
    // Warm up: caches, buffers, the subject's match entry.
    for _ in 0..3 {
        rig.server
            .handle_read(publisher, batch(count, size), rig.now);
        rig.drive();
    }
    let input = batch(count, size);
    let mut written = 0;
    let info = allocation_counter::measure(|| {
        rig.server.handle_read(publisher, input.clone(), rig.now);
        written = rig.drive();
    });
    (info.count_total, written)
}

#[test]
fn publishing_allocates_per_batch_not_per_message() {
    let cases: [(&str, &[&str]); 4] = [
        ("1:1", &["SUB bench.x 1\r\n"]),
        ("wildcard", &["SUB bench.* 1\r\n"]),
        (
            "fan-out 1:4",
            &[
                "SUB bench.x 1\r\n",
                "SUB bench.x 1\r\n",
                "SUB bench.> 1\r\n",
                "SUB bench.x 1\r\n",
            ],
        ),
        (
            "queue of 4",
            &[
                "SUB bench.x q 1\r\n",
                "SUB bench.x q 1\r\n",
                "SUB bench.x q 1\r\n",
                "SUB bench.x q 1\r\n",
            ],
        ),
    ];
    for (name, subs) in cases {
        for size in [16, 1024] {
            let (small, w_small) = allocations(subs, 100, size);
            let (large, w_large) = allocations(subs, 1000, size);
            assert!(w_large > w_small * 9, "{name}: messages were not delivered");
            // Once warm the path allocates nothing per message (measured:
            // 0 for most cases, a handful of buffer growths for queues), so
            // ten times the messages stays within a small constant.
            assert!(
                large <= small + 16,
                "{name}, {size} B: {small} allocations for 100 messages, {large} for 1000"
            );
        }
    }
}

/// A clustered rig with one registered fake route.
fn route_rig() -> (Rig, ConnId) {
    let now = Instant::from_nanos(1_000_000_000);
    let options = clustered(cluster());
    let mut rig = Rig {
        server: Server::new(options, [7; 32], now),
        now,
        chunks: Vec::with_capacity(1024),
    };
    let peer: SocketAddr = "127.0.0.1:50001".parse().expect("literal address");
    let route = rig.server.handle_accept(ListenerKind::Route, peer, rig.now);
    let hello = route_connect("NPEER", "testc") + &peer_info("NPEER", 6223, "127.0.0.1:4223");
    rig.server
        .handle_read(route, Bytes::from(hello.into_bytes()), rig.now);
    rig.drive();
    (rig, route)
}

fn routed_batch(count: usize, size: usize, queue: bool) -> Bytes {
    let mut v = Vec::new();
    for _ in 0..count {
        if queue {
            v.extend_from_slice(format!("RMSG $G bench.x | q {size}\r\n").as_bytes());
        } else {
            v.extend_from_slice(format!("RMSG $G bench.x {size}\r\n").as_bytes());
        }
        v.extend(std::iter::repeat_n(b'p', size));
        v.extend_from_slice(b"\r\n");
    }
    Bytes::from(v)
}

/// Allocations of one read of `count` messages, both ways across a route:
/// a client publishing to the route's interest, and the route delivering
/// to local subscribers.
fn route_allocations(count: usize, queue: bool) -> (u64, u64) {
    let (mut rig, route) = route_rig();
    rig.client(if queue {
        "SUB bench.x q 1\r\n"
    } else {
        "SUB bench.x 1\r\n"
    });
    let interest: &'static [u8] = if queue {
        b"RS+ $G bench.x q 2\r\n"
    } else {
        b"RS+ $G bench.x\r\n"
    };
    rig.server
        .handle_read(route, Bytes::from_static(interest), rig.now);
    rig.drive();
    let publisher = rig.client("");
    for _ in 0..3 {
        rig.server.handle_read(publisher, batch(count, 16), rig.now);
        rig.server
            .handle_read(route, routed_batch(count, 16, queue), rig.now);
        rig.drive();
    }
    let out = batch(count, 16);
    let (mut w_out, mut w_in) = (0, 0);
    let to_route = allocation_counter::measure(|| {
        rig.server.handle_read(publisher, out.clone(), rig.now);
        w_out = rig.drive();
    });
    let inbound = routed_batch(count, 16, queue);
    let from_route = allocation_counter::measure(|| {
        rig.server.handle_read(route, inbound.clone(), rig.now);
        w_in = rig.drive();
    });
    // Every message was written: to the route (RMSG, and to the local
    // subscriber unless a local queue member took it), and to the client.
    assert!(w_out >= count * 20 && w_in >= count * 20, "{w_out} {w_in}");
    (to_route.count_total, from_route.count_total)
}

#[test]
fn routes_allocate_per_batch_not_per_message() {
    for queue in [false, true] {
        let (out_small, in_small) = route_allocations(100, queue);
        let (out_large, in_large) = route_allocations(1000, queue);
        assert!(
            out_large <= out_small + 16,
            "to the route (queue {queue}): {out_small} for 100, {out_large} for 1000"
        );
        assert!(
            in_large <= in_small + 16,
            "from the route (queue {queue}): {in_small} for 100, {in_large} for 1000"
        );
    }
}
