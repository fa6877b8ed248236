//! An IO-free harness: one engine, scripted connections, virtual time.

use crate::{Action, ConnId, Instant, ListenerKind, Options, Server};
use bytes::Bytes;
use core::net::SocketAddr;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Drives one [`Server`] like a driver would, writing everything at once.
/// A socket that takes bytes faster than it writes them.
#[derive(Default)]
struct SlowSocket {
    taken: Vec<u8>,
    written: usize,
    msgs: usize,
}

pub(crate) struct Harness {
    pub(crate) server: Server,
    pub(crate) now: Instant,
    out: BTreeMap<ConnId, Vec<u8>>,
    closed: BTreeSet<ConnId>,
    /// When false, Flush actions are left untaken (a stalled socket).
    stalled: BTreeSet<ConnId>,
    /// Connections the engine paused, then resumed, in order.
    pub(crate) paused: Vec<ConnId>,
    pub(crate) resumed: Vec<ConnId>,
    /// What slow sockets took and wrote (`trickle`).
    slow: BTreeMap<ConnId, SlowSocket>,
    /// Why each closed connection closed.
    reasons: BTreeMap<ConnId, crate::CloseReason>,
    /// Until when a driver would not read each paused connection.
    pause_until: BTreeMap<ConnId, Instant>,
    /// Dials the engine asked for, in order.
    pub(crate) dials: Vec<(ConnId, String)>,
    /// How long each dial in `dials` may take.
    pub(crate) dial_timeouts: Vec<Duration>,
    /// Nonces the engine asked to have signed: (link, remote, nonce).
    pub(crate) signs: Vec<(ConnId, usize, String)>,
    /// Account JWTs the engine asked to have stored: (account, JWT).
    pub(crate) stored: Vec<(String, String)>,
}

impl Harness {
    pub(crate) fn new(options: Options) -> Self {
        Self::with_seed(options, [42; 32])
    }

    pub(crate) fn with_seed(options: Options, seed: [u8; 32]) -> Self {
        Self::of(Server::without_system(options, seed, Self::START))
    }

    /// A server with its system account's internal client, as
    /// [`Server::new`] makes it.
    pub(crate) fn with_system(options: Options) -> Self {
        Self::of(Server::new(options, [42; 32], Self::START))
    }

    /// When every harness starts.
    const START: Instant = Instant::from_nanos(1_000_000_000);

    fn of(server: Server) -> Self {
        let now = Self::START;
        Harness {
            server,
            now,
            out: BTreeMap::new(),
            closed: BTreeSet::new(),
            stalled: BTreeSet::new(),
            paused: Vec::new(),
            resumed: Vec::new(),
            slow: BTreeMap::new(),
            reasons: BTreeMap::new(),
            pause_until: BTreeMap::new(),
            dials: Vec::new(),
            signs: Vec::new(),
            stored: Vec::new(),
            dial_timeouts: Vec::new(),
        }
    }

    pub(crate) fn default_server() -> Self {
        Self::new(Options {
            host: "127.0.0.1".into(),
            port: 4222,
            ..Options::default()
        })
    }

    /// Accepts a connection and returns it; its INFO is left in the output.
    pub(crate) fn accept(&mut self) -> ConnId {
        let peer: SocketAddr = "127.0.0.1:50000".parse().expect("literal address");
        let id = self
            .server
            .handle_accept(ListenerKind::Client, peer, self.now);
        self.drain();
        id
    }

    /// Accepts a connection on the route port; its INFO is left in the
    /// output.
    pub(crate) fn accept_route(&mut self) -> ConnId {
        let peer: SocketAddr = "127.0.0.1:50001".parse().expect("literal address");
        let id = self
            .server
            .handle_accept(ListenerKind::Route, peer, self.now);
        self.drain();
        id
    }

    /// Accepts a connection on the leaf port; its INFO is left in the
    /// output.
    pub(crate) fn accept_leaf(&mut self) -> ConnId {
        let peer: SocketAddr = "127.0.0.1:50002".parse().expect("literal address");
        let id = self
            .server
            .handle_accept(ListenerKind::Leaf, peer, self.now);
        self.drain();
        id
    }

    /// Accepts a connection on the gateway port; its INFO is left in the
    /// output.
    pub(crate) fn accept_gateway(&mut self) -> ConnId {
        let peer: SocketAddr = "127.0.0.1:50003".parse().expect("literal address");
        let id = self
            .server
            .handle_accept(ListenerKind::Gateway, peer, self.now);
        self.drain();
        id
    }

    /// Completes the dial the engine asked for (`conn`).
    pub(crate) fn dialed(&mut self, conn: ConnId) {
        let peer: SocketAddr = "127.0.0.1:6222".parse().expect("literal address");
        self.server.handle_dialed(conn, peer, self.now);
        self.drain();
    }

    /// Accepts a connection and discards its INFO.
    pub(crate) fn client(&mut self) -> ConnId {
        let id = self.accept();
        let info = self.take(id);
        assert!(info.starts_with("INFO {"), "{info}");
        id
    }

    /// Accepts a connection and sends `connect` (the JSON), discarding output.
    pub(crate) fn connected(&mut self, connect: &str) -> ConnId {
        let id = self.client();
        self.send(id, &format!("CONNECT {connect}\r\n"));
        self.take(id);
        id
    }

    pub(crate) fn send(&mut self, conn: ConnId, data: &str) {
        self.send_bytes(conn, data.as_bytes());
    }

    pub(crate) fn send_bytes(&mut self, conn: ConnId, data: &[u8]) {
        self.server
            .handle_read(conn, Bytes::copy_from_slice(data), self.now);
        self.drain();
    }

    /// Stops (or restarts) taking this connection's outbound bytes.
    pub(crate) fn stall(&mut self, conn: ConnId, stalled: bool) {
        if stalled {
            self.stalled.insert(conn);
        } else {
            self.stalled.remove(&conn);
            self.flush(conn);
            self.drain();
        }
    }

    /// The consumer's socket takes at most `max` bytes now (a slow
    /// reader): the engine's queued bytes are taken, and at most `max` of
    /// those not yet written are reported written. Returns the `MSG`s
    /// that became complete on the peer's side.
    pub(crate) fn trickle(&mut self, conn: ConnId, max: usize) -> usize {
        let mut chunks = Vec::new();
        self.server.take_outbound(conn, &mut chunks, self.now);
        let slow = self.slow.entry(conn).or_default();
        for c in &chunks {
            slow.taken.extend_from_slice(c);
        }
        let written = (slow.taken.len() - slow.written).min(max);
        slow.written += written;
        let before = slow.msgs;
        slow.msgs = String::from_utf8_lossy(&slow.taken[..slow.written])
            .matches("MSG ")
            .count();
        let arrived = slow.msgs - before;
        self.server.handle_written(conn, written, self.now);
        self.drain();
        arrived
    }

    /// Takes `conn`'s queued bytes as a socket would, but reports none of
    /// them written (a peer that stopped reading).
    pub(crate) fn take_unwritten(&mut self, conn: ConnId) {
        let mut chunks = Vec::new();
        self.server.take_outbound(conn, &mut chunks, self.now);
    }

    /// Whether a driver would hold off reading `conn` now (paused, not
    /// resumed, the pause not yet over).
    pub(crate) fn is_paused(&self, conn: ConnId) -> bool {
        self.pause_until.get(&conn).is_some_and(|&t| t > self.now)
    }

    /// Why the engine closed `conn`, if it reported it.
    pub(crate) fn close_reason(&self, conn: ConnId) -> Option<crate::CloseReason> {
        self.reasons.get(&conn).copied()
    }

    /// Moves time forward by `d`, firing timers in order.
    pub(crate) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some((at, _)) = self.server.poll_timeout() {
            if at > end {
                break;
            }
            self.now = at.max(self.now);
            self.server.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.server.handle_timeout(self.now);
        self.drain();
    }

    /// Output received on `conn` since the last call.
    pub(crate) fn take(&mut self, conn: ConnId) -> String {
        String::from_utf8_lossy(&self.out.remove(&conn).unwrap_or_default()).into_owned()
    }

    /// Output received on `conn` since the last call, as raw bytes (TLS
    /// records are not text).
    pub(crate) fn take_bytes(&mut self, conn: ConnId) -> Vec<u8> {
        self.out.remove(&conn).unwrap_or_default()
    }

    /// Sends `data` on `conn`, which must then be closed; what the server
    /// wrote before closing it.
    pub(crate) fn send_closed(&mut self, conn: ConnId, data: &str) -> String {
        self.send(conn, data);
        assert!(self.is_closed(conn), "{conn:?} stays open after {data:?}");
        self.take(conn)
    }

    /// Whether the server closed `conn`.
    pub(crate) fn is_closed(&self, conn: ConnId) -> bool {
        self.closed.contains(&conn)
    }

    fn flush(&mut self, conn: ConnId) {
        let mut chunks = Vec::new();
        let n = self.server.take_outbound(conn, &mut chunks, self.now);
        let buf = self.out.entry(conn).or_default();
        for c in &chunks {
            buf.extend_from_slice(c);
        }
        self.server.handle_written(conn, n, self.now);
    }

    pub(crate) fn drain(&mut self) {
        while let Some(action) = self.server.poll_action() {
            match action {
                Action::Flush(conn) => {
                    if !self.stalled.contains(&conn) {
                        self.flush(conn);
                    }
                }
                Action::Close { conn, after_flush } => {
                    if after_flush {
                        self.flush(conn);
                    }
                    self.closed.insert(conn);
                    self.server.handle_closed(conn, self.now);
                }
                Action::PauseReading { conn, until } => {
                    self.paused.push(conn);
                    self.pause_until.insert(conn, until);
                }
                Action::ResumeReading { conn } => {
                    self.resumed.push(conn);
                    self.pause_until.remove(&conn);
                }
                Action::Dial {
                    conn,
                    addr,
                    timeout,
                    ..
                } => {
                    self.dials.push((conn, addr));
                    self.dial_timeouts.push(timeout);
                }
                Action::SignNonce {
                    conn,
                    remote,
                    nonce,
                } => self.signs.push((conn, remote, nonce)),
                Action::StoreAccountJwt { account, jwt } => self.stored.push((account, jwt)),
            }
        }
        while let Some(event) = self.server.poll_event() {
            if let crate::Event::ConnectionClosed { conn, reason } = event {
                self.reasons.insert(conn, reason);
            }
        }
    }
}

/// Parses the JSON of an `INFO {...} \r\n` line.
pub(crate) fn info_json(line: &str) -> serde_json::Value {
    let start = line.find('{').expect("INFO has JSON");
    let end = line.find("} \r\n").expect("INFO ends with space CRLF");
    serde_json::from_str(&line[start..=end]).expect("INFO JSON parses")
}
