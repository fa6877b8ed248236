//! The driver side of each engine: starting, crashing, calling in with
//! panics caught, and carrying out its actions as a driver does.

use super::{Ev, World};
use crate::checker::IncId;
use crate::link::Dir;
use crate::rng::engine_seed;
use bytes::Bytes;
use canopy_core::{Action, ConnId, Event, Instant, Options, Server};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// How long an engine-closed connection may take to deliver its last bytes
/// before it is reset (the tokio driver's close flush limit).
pub(super) const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// One engine and its driver-side state.
pub struct Node {
    /// The running engine (None while crashed).
    pub server: Option<Server>,
    /// Incremented on every restart.
    pub gen: u32,
    /// The options every incarnation starts with.
    pub options: Options,
    pub(super) timer_at: Option<Instant>,
    pub(super) conns: BTreeMap<ConnId, u64>,
    pub(super) incs: BTreeMap<ConnId, IncId>,
    /// Route connections: engine connection -> (world connection, end).
    pub(super) peer_conns: BTreeMap<ConnId, (u64, usize)>,
    /// A graceful shutdown is under way (the route port refuses dials).
    pub(super) shutting_down: bool,
    /// The subscriptions this incarnation held at start: the system
    /// account's internal client's, the server's own (not the model's).
    pub(super) system_subs: usize,
    /// TLS worlds: the shadow of this incarnation's TLS.
    pub(super) shadow: Option<crate::tls::ShadowEngine>,
    /// TLS worlds: probe connections -> probe.
    pub(super) probe_conns: BTreeMap<ConnId, u64>,
    /// TLS worlds: connections watched until they close.
    pub(super) watch: BTreeMap<ConnId, super::tls::Watch>,
    /// TLS worlds: stalled handshakes: (world connection, stalled until).
    pub(super) stalls: BTreeMap<ConnId, (u64, Instant)>,
}

impl World {
    // ---- engines -------------------------------------------------------------

    /// Calls into engine `node`, catching panics (a panic is a violation and
    /// takes the engine down). None if the engine is down or panicked.
    pub(super) fn engine<R>(&mut self, node: usize, f: impl FnOnce(&mut Server) -> R) -> Option<R> {
        let server = self.nodes[node].server.as_mut()?;
        match catch_unwind(AssertUnwindSafe(|| f(server))) {
            Ok(r) => Some(r),
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".to_string());
                self.checker
                    .violation(format!("engine {node} panicked: {text}"));
                self.nodes[node].server = None;
                None
            }
        }
    }

    pub(super) fn start_engine(&mut self, node: usize) {
        let now = self.now();
        let n = &mut self.nodes[node];
        let seed = engine_seed(self.seed, node, n.gen);
        let mut server = Server::new(n.options.clone(), seed, now);
        if let Some(setup) = &self.engine_setup {
            setup(&mut server);
        }
        n.system_subs = server.subscription_count();
        n.server = Some(server);
        n.timer_at = None;
        n.conns.clear();
        n.incs.clear();
        n.peer_conns.clear();
        n.shutting_down = false;
        self.trace
            .record(now, "start", node as u64, u64::from(n.gen), &[]);
        self.tls_engine_started(node, &seed);
        self.operator_engine_started(node);
        self.after_engine(node);
    }

    pub(super) fn crash(&mut self, node: usize, down_for: Duration) -> bool {
        let now = self.now();
        if self.nodes[node].server.is_none() {
            return false;
        }
        self.stats.crashes += 1;
        self.step += 1;
        let n = &mut self.nodes[node];
        n.server = None;
        n.gen += 1;
        n.timer_at = None;
        let gen = n.gen;
        let ids: Vec<u64> = std::mem::take(&mut n.conns).into_values().collect();
        let routes: Vec<(u64, usize)> = std::mem::take(&mut n.peer_conns).into_values().collect();
        n.shutting_down = false;
        n.incs.clear();
        n.shadow = None;
        n.probe_conns.clear();
        n.watch.clear();
        n.stalls.clear();
        for (id, end) in routes {
            if let Some(conn) = self.peers.get_mut(&id) {
                conn.ends[end].open = false;
            }
            // The peer engine sees a reset.
            self.peer_reset(id);
        }
        for id in ids {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.engine_open = false;
                if let Some(inc) = conn.inc {
                    self.checker.engine_closed(inc, self.step);
                }
            }
            // The peer sees a reset.
            self.reset_conn(id);
        }
        self.schedule(now + down_for, Ev::EngineRestart { node, gen });
        true
    }

    /// Hands `data`, read from world connection `id`, to connection `e` of
    /// `node`'s engine as the next step (traced as `what`), then carries
    /// out what the engine did; returns the step and, on a TLS connection,
    /// the plaintext the engine decrypted (its shadow's).
    pub(super) fn feed_engine(
        &mut self,
        node: usize,
        e: ConnId,
        data: Bytes,
        now: Instant,
        what: &'static str,
        id: u64,
    ) -> (u64, Option<crate::tls::ShadowRead>) {
        let (step, read, _) = self.feed_engine_cut(node, e, data, now, what, id, &[]);
        (step, read)
    }

    /// [`World::feed_engine`], and, on a TLS connection, the plaintext
    /// the shadow had read so far at each offset of `cuts` (sorted) into
    /// `data` (the shadow reads the bytes in those pieces).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn feed_engine_cut(
        &mut self,
        node: usize,
        e: ConnId,
        data: Bytes,
        now: Instant,
        what: &'static str,
        id: u64,
        cuts: &[usize],
    ) -> (u64, Option<crate::tls::ShadowRead>, Vec<u64>) {
        self.step += 1;
        let step = self.step;
        self.trace.record(now, what, id, step, &[]);
        let shadowed = self.nodes[node].shadow.is_some();
        let kept = shadowed.then(|| data.clone());
        self.engine(node, |s| s.handle_read(e, data, now));
        let mut at_cuts = Vec::new();
        let read = kept.and_then(|data| {
            let mut pieces = Vec::new();
            let mut from = 0;
            for &c in cuts {
                let c = c.clamp(from, data.len());
                pieces.push(data.slice(from..c));
                from = c;
            }
            pieces.push(data.slice(from..));
            let mut whole: Option<crate::tls::ShadowRead> = None;
            let last = pieces.len() - 1;
            for (i, piece) in pieces.into_iter().enumerate() {
                let r = self.shadow_read(node, e, &piece)?;
                if i < last {
                    at_cuts.push(r.total);
                }
                whole = Some(match whole {
                    None => r,
                    Some(w) => {
                        let mut plain = w.plain.to_vec();
                        plain.extend_from_slice(&r.plain);
                        crate::tls::ShadowRead {
                            plain: Bytes::from(plain),
                            failed: w.failed.or(r.failed),
                            total: r.total,
                        }
                    }
                });
            }
            whole
        });
        self.after_engine(node);
        let Some(read) = read else {
            return (step, None, at_cuts);
        };
        if let Some(text) = &read.failed {
            // The engine failed there too, and closed the connection; a
            // shadow that fails alone has lost track of the engine.
            if self.engine_has(node, e) {
                self.checker.violation(format!(
                    "sim: the TLS shadow of node {node} {e} failed ({text}) where the engine \
                     went on"
                ));
            }
        }
        (step, Some(read), at_cuts)
    }

    /// Drains the engine's actions and events as a driver does, checks the
    /// outbound bound and re-arms its timer.
    pub(super) fn after_engine(&mut self, node: usize) {
        while let Some(Some(action)) = self.engine(node, |s| s.poll_action()) {
            self.do_action(node, action);
        }
        while let Some(Some(event)) = self.engine(node, |s| s.poll_event()) {
            match event {
                Event::ConnectionClosed { conn, reason } => {
                    if let Some(&inc) = self.nodes[node].incs.get(&conn) {
                        self.checker.close_reason(inc, reason);
                    }
                    if self.nodes[node].shadow.is_some() {
                        self.tls_closed(node, conn, reason);
                    }
                }
                Event::SlowConsumerDetected { .. } => self.stats.slow_consumers += 1,
                Event::ClientConnected { .. } | Event::ShutdownRequested => {}
            }
        }
        let Some(server) = self.nodes[node].server.as_ref() else {
            return;
        };
        let bound = server.options().max_pending + self.pending_slack;
        let mut worst = None;
        for &c in self.nodes[node]
            .conns
            .keys()
            .chain(self.nodes[node].peer_conns.keys())
        {
            let pending = server.conn_pending_bytes(c).unwrap_or(0);
            self.stats.max_pending_seen = self.stats.max_pending_seen.max(pending);
            if pending > bound {
                worst = Some((c, pending));
            }
        }
        let timeout = server.poll_timeout();
        if let Some((c, pending)) = worst {
            self.checker.violation(format!(
                "unbounded buffer: node {node} {c} has {pending} outbound bytes pending \
                 (max_pending + control-line slack = {bound})"
            ));
        }
        if let Some((at, _)) = timeout {
            let n = &mut self.nodes[node];
            if n.timer_at.is_none_or(|t| at < t) {
                n.timer_at = Some(at);
                let gen = n.gen;
                self.schedule(at, Ev::EngineTimer { node, gen });
            }
        }
    }

    pub(super) fn do_action(&mut self, node: usize, action: Action) {
        let now = self.now();
        match action {
            Action::Dial {
                conn, kind, addr, ..
            } => self.dial(node, conn, kind, &addr),
            // Remotes in the simulator sign with an NKey seed, if any (the
            // world has no files).
            Action::SignNonce {
                conn,
                remote,
                nonce,
            } => {
                let seed = self.nodes[node]
                    .options
                    .leaf
                    .as_ref()
                    .and_then(|l| l.remotes.get(remote))
                    .map(|r| r.nkey.clone())
                    .unwrap_or_default();
                let signed = canopy_core::auth::sign_with_seed(&seed, nonce.as_bytes());
                self.engine(node, |s| s.handle_signature(conn, signed, now));
            }
            // The simulator has no files: a resolver's store is its memory.
            Action::StoreAccountJwt { .. } => {}
            Action::Flush(c) if self.nodes[node].probe_conns.contains_key(&c) => {
                self.probe_flush(node, c, None);
            }
            Action::Close {
                conn: c,
                after_flush,
            } if self.nodes[node].probe_conns.contains_key(&c) => {
                self.probe_flush(node, c, Some(after_flush));
            }
            Action::Flush(c) if self.nodes[node].peer_conns.contains_key(&c) => {
                let (id, end) = self.nodes[node].peer_conns[&c];
                self.peer_flush(node, c, id, end);
                self.peer_pump(id, end);
            }
            Action::Close {
                conn: c,
                after_flush,
            } if self.nodes[node].peer_conns.contains_key(&c) => {
                let (id, end) = self.nodes[node].peer_conns[&c];
                self.peer_close(node, c, id, end, after_flush);
            }
            Action::ResumeReading { conn: c } if self.nodes[node].peer_conns.contains_key(&c) => {
                let (id, end) = self.nodes[node].peer_conns[&c];
                let p = 1 - end;
                if let Some(conn) = self.peers.get_mut(&id) {
                    conn.pipes[p].engine_paused_until = now;
                    let dir = if p == 0 { Dir::Up } else { Dir::Down };
                    self.schedule(now, Ev::ReadResume { conn: id, dir });
                }
            }
            Action::PauseReading { conn: c, until }
                if self.nodes[node].peer_conns.contains_key(&c) =>
            {
                let (id, end) = self.nodes[node].peer_conns[&c];
                self.stats.pauses += 1;
                let p = 1 - end;
                if let Some(conn) = self.peers.get_mut(&id) {
                    conn.pipes[p].engine_paused_until = until;
                    let dir = if p == 0 { Dir::Up } else { Dir::Down };
                    self.schedule(until, Ev::ReadResume { conn: id, dir });
                }
            }
            Action::Flush(c) => {
                let Some(&id) = self.nodes[node].conns.get(&c) else {
                    return;
                };
                self.take_outbound(node, c, id);
                self.pump(id, Dir::Down);
            }
            Action::Close {
                conn: c,
                after_flush,
            } => {
                let Some(id) = self.nodes[node].conns.remove(&c) else {
                    return;
                };
                self.stats.engine_closes += 1;
                if after_flush {
                    self.take_outbound(node, c, id);
                }
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.engine_open = false;
                    if !after_flush {
                        conn.down.discard_unsent();
                    }
                    conn.down.close_write();
                    if let Some(inc) = conn.inc {
                        self.checker.engine_closed(inc, self.step);
                    }
                }
                self.pump(id, Dir::Down);
                self.engine(node, |s| s.handle_closed(c, now));
                self.schedule(now + CLOSE_FLUSH_LIMIT, Ev::CloseDeadline(id));
                self.maybe_remove(id);
            }
            Action::ResumeReading { conn: c } => {
                let Some(&id) = self.nodes[node].conns.get(&c) else {
                    return;
                };
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.up.engine_paused_until = now;
                    self.schedule(
                        now,
                        Ev::ReadResume {
                            conn: id,
                            dir: Dir::Up,
                        },
                    );
                }
            }
            Action::PauseReading { conn: c, until } => {
                let Some(&id) = self.nodes[node].conns.get(&c) else {
                    return;
                };
                self.stats.pauses += 1;
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.up.engine_paused_until = until;
                    self.schedule(
                        until,
                        Ev::ReadResume {
                            conn: id,
                            dir: Dir::Up,
                        },
                    );
                }
            }
        }
    }

    pub(super) fn take_outbound(&mut self, node: usize, c: ConnId, id: u64) {
        let now = self.now();
        let mut chunks = std::mem::take(&mut self.scratch);
        self.engine(node, |s| s.take_outbound(c, &mut chunks, now));
        if self.tls.is_some() {
            for chunk in &chunks {
                self.check_client_written(node, id, chunk);
            }
        }
        if let Some(conn) = self.conns.get_mut(&id) {
            for chunk in chunks.drain(..) {
                conn.down.write(chunk);
            }
        }
        chunks.clear();
        self.scratch = chunks;
    }
}
