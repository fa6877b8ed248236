//! Simulated TCP connections between clients and engines: connecting,
//! accepting, moving bytes through the pipes, reads on both sides, and the
//! two sides closing.

use super::{ops_through, read_cap};
use super::{Ev, World};
use crate::checker::{IncId, OpRef, Processed};
use crate::client_model::Note;
use crate::link::{Dir, Pipe};
use crate::rng::{Purpose, SimRng};
use bytes::Bytes;
use canopy_core::{ConnId, Instant, ListenerKind};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// One simulated TCP connection between a client and an engine.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) client: usize,
    pub(super) node: usize,
    pub(super) gen: u32,
    pub(super) engine: Option<ConnId>,
    pub(super) engine_open: bool,
    pub(super) client_open: bool,
    pub(super) inc: Option<IncId>,
    pub(super) up: Pipe,
    pub(super) down: Pipe,
    /// Client ops not yet handed to the engine: (end offset, op).
    pub(super) ops: VecDeque<(u64, OpRef)>,
    /// Bytes the client had written when activity stopped: the engine must
    /// have read at least these by the end.
    pub(super) quiet_written: u64,
    /// When a slow reader's next read is already scheduled.
    pub(super) slow_read_at: Option<Instant>,
    pub(super) rng: SimRng,
    /// TLS worlds: the client's TLS.
    pub(super) tls: Option<crate::tls::ClientTls>,
    /// TLS worlds: the plaintext-on-TLS check of what the engine writes.
    pub(super) check: Option<crate::tls::RecordCheck>,
    /// TLS worlds: the handshake stalls until then (the engine must
    /// close the connection before).
    pub(super) stall: Option<Instant>,
}

impl Conn {
    pub(super) fn pipe(&mut self, dir: Dir) -> &mut Pipe {
        match dir {
            Dir::Up => &mut self.up,
            Dir::Down => &mut self.down,
        }
    }
}

impl World {
    // ---- connections ---------------------------------------------------------

    pub(super) fn connect(&mut self, c: usize) {
        let now = self.now();
        let node = self.client_home[c];
        let id = self.next_conn;
        self.next_conn += 1;
        let rules = self.links[c];
        let conn = Conn {
            client: c,
            node,
            gen: self.nodes[node].gen,
            engine: None,
            engine_open: false,
            client_open: true,
            inc: None,
            up: Pipe::new(rules.up),
            down: Pipe::new(rules.down),
            ops: VecDeque::new(),
            quiet_written: 0,
            slow_read_at: None,
            rng: SimRng::new(self.seed, Purpose::Link, id),
            tls: None,
            check: None,
            stall: None,
        };
        self.conns.insert(id, conn);
        if let Some(super::tls::NewClientTls {
            tls,
            check,
            stall,
            split,
            reset,
        }) = self.tls_client_conn(node, rules.up.delay)
        {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.tls = Some(tls);
                conn.check = Some(check);
                conn.up.split_until = split;
                conn.down.split_until = split;
                if let Some(at) = reset {
                    // Both ways at once would race; the drawn offset says
                    // which (odd: the server's bytes).
                    if at % 2 == 0 {
                        conn.up.reset_after = Some(at);
                    } else {
                        conn.down.reset_after = Some(at);
                    }
                }
                if let Some(until) = stall {
                    conn.stall = Some(until);
                    conn.up.hold_until = until;
                }
            }
            if let Some(until) = stall {
                self.schedule(until, Ev::Pump(id));
            }
        }
        self.clients[c].on_connecting();
        self.client_conn[c] = Some(id);
        self.trace.record(now, "connect", c as u64, id, &[]);
        self.schedule(now + rules.up.delay, Ev::Accept(id));
    }

    pub(super) fn accept(&mut self, id: u64) {
        let now = self.now();
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if !conn.client_open {
            self.conns.remove(&id);
            return;
        }
        let (c, node, gen) = (conn.client, conn.node, conn.gen);
        let up = self.nodes[node].server.is_some()
            && self.nodes[node].gen == gen
            && !self.nodes[node].shutting_down;
        if !up {
            self.stats.refused += 1;
            self.end_client_side(id);
            self.conns.remove(&id);
            return;
        }
        self.step += 1;
        let peer = SocketAddr::from((
            [10, 0, (c / 250) as u8, (c % 250) as u8 + 1],
            40_000 + (id % 20_000) as u16,
        ));
        let Some(e) = self.engine(node, |s| s.handle_accept(ListenerKind::Client, peer, now))
        else {
            return;
        };
        self.stats.accepts += 1;
        self.shadow_accepted(node, e, ListenerKind::Client);
        let echo = self.clients[c].spec.echo;
        let inc = self.checker.open_inc(c, node, gen, echo);
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.engine = Some(e);
            conn.engine_open = true;
            conn.inc = Some(inc);
        }
        self.nodes[node].conns.insert(e, id);
        self.nodes[node].incs.insert(e, inc);
        let mut stall = None;
        if let Some(conn) = self.conns.get_mut(&id) {
            stall = conn.stall;
            // A TLS-first client sends its ClientHello at once.
            if let Some(tls) = conn.tls.as_mut().filter(|t| t.first()) {
                tls.start(now);
            }
        }
        if let Some(at) = stall {
            self.watch_stall(node, e, id, at);
        }
        self.client_tls_flush(id);
        self.after_engine(node);
    }

    pub(super) fn arrive(&mut self, id: u64, dir: Dir, data: Option<Bytes>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let open = match dir {
            Dir::Up => conn.engine_open,
            Dir::Down => conn.client_open,
        };
        if !open {
            return;
        }
        if let Some(d) = &data {
            match dir {
                Dir::Up => self.stats.bytes_up += d.len() as u64,
                Dir::Down => self.stats.bytes_down += d.len() as u64,
            }
        }
        conn.pipe(dir).arrive(data);
        match dir {
            Dir::Up => self.engine_read(id),
            Dir::Down => self.client_read(id),
        }
    }

    /// Moves unsent bytes onto the wire; for the engine's direction, reports
    /// what the socket accepted with `handle_written`.
    pub(super) fn pump(&mut self, id: u64, dir: Dir) {
        let now = self.now();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let pipe = match dir {
            Dir::Up => &mut conn.up,
            Dir::Down => &mut conn.down,
        };
        let accepted = pipe.pump(now, &mut conn.rng, &mut self.arrivals);
        let engine_side = (conn.node, conn.engine, conn.engine_open);
        let mut arrivals = std::mem::take(&mut self.arrivals);
        for (at, data) in arrivals.drain(..) {
            self.schedule(
                at,
                Ev::Arrive {
                    conn: id,
                    dir,
                    data,
                },
            );
        }
        self.arrivals = arrivals;
        if let (Dir::Down, (node, Some(e), true)) = (dir, engine_side) {
            if accepted > 0 {
                self.engine(node, |s| s.handle_written(e, accepted, now));
            }
        }
    }

    /// Pumps both directions of `id` (after a partition) and lets the
    /// engine act on what its socket accepted.
    pub(super) fn pump_both(&mut self, id: u64) {
        let Some(node) = self.conns.get(&id).map(|c| c.node) else {
            return;
        };
        self.pump(id, Dir::Up);
        self.pump(id, Dir::Down);
        self.after_engine(node);
    }

    /// Feeds the engine what it may read now, one read at a time, and
    /// records which client ops each read completed.
    pub(super) fn engine_read(&mut self, id: u64) {
        let now = self.now();
        let mut done: Vec<(u64, OpRef)> = Vec::new();
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if !conn.engine_open {
                return;
            }
            let cap = read_cap(&self.nodes, conn.node, conn.engine);
            let Some((data, reset)) = conn.up.read(now, cap) else {
                break;
            };
            let tls = conn.tls.is_some();
            // Over TLS the ops are matched after the read (the engine may
            // close the connection, and the world forget it, in it).
            let mut ops = std::collections::VecDeque::new();
            if tls {
                ops = std::mem::take(&mut conn.ops);
            } else {
                let end = conn.up.read;
                ops_through(&mut conn.ops, end, &mut done);
            }
            let (node, e) = (conn.node, conn.engine);
            let Some(e) = e else {
                return;
            };
            let (step, read) = self.feed_engine(node, e, data, now, "read", id);
            if tls {
                // An op is processed once the record holding its last
                // byte is: the shadow counts the plaintext.
                let end = read.map_or(0, |r| r.total);
                ops_through(&mut ops, end, &mut done);
                if let Some(conn) = self.conns.get_mut(&id) {
                    let newer = std::mem::replace(&mut conn.ops, ops);
                    conn.ops.extend(newer);
                }
            }
            if !done.is_empty() {
                self.checker.note_step(step, now);
            }
            let open = self.conns.get(&id).is_some_and(|c| c.engine_open);
            for (offset, op) in done.drain(..) {
                self.checker
                    .processed(op, Processed::in_read(open, step, offset));
            }
            self.pump(id, Dir::Up);
            if reset {
                self.stats.resets += 1;
                self.reset_conn(id);
                return;
            }
        }
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if conn.engine_open && conn.up.at_eof(now) {
            self.end_engine_side(id);
        }
    }

    /// Feeds the client what it may read now.
    pub(super) fn client_read(&mut self, id: u64) {
        let now = self.now();
        let mut node = None;
        while let Some(conn) = self.conns.get_mut(&id) {
            if !conn.client_open {
                break;
            }
            let Some((data, reset)) = conn.down.read(now, usize::MAX) else {
                if let Some(at) = conn.down.resume_at(now) {
                    let due = conn.slow_read_at.is_some_and(|t| t >= now && t <= at);
                    if conn.down.rules.read_bytes_per_ms > 0 && !due {
                        conn.slow_read_at = Some(at);
                        self.schedule(
                            at,
                            Ev::ReadResume {
                                conn: id,
                                dir: Dir::Down,
                            },
                        );
                    }
                }
                break;
            };
            node = Some(conn.node);
            let c = conn.client;
            let data = match conn.tls.as_mut().map(|t| t.on_wire(&data, now)) {
                None => data,
                Some(Ok(plain)) => Bytes::from(plain),
                Some(Err(text)) => {
                    self.checker
                        .violation(format!("TLS: client {c} failed: {text}"));
                    self.stats.resets += 1;
                    self.reset_conn(id);
                    break;
                }
            };
            self.client_tls_flush(id);
            self.clients[c].on_data(&data, now);
            self.flush_client(c);
            self.pump(id, Dir::Down);
            if reset {
                self.stats.resets += 1;
                self.reset_conn(id);
                break;
            }
        }
        if let Some(node) = node {
            self.after_engine(node);
        }
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if conn.client_open && conn.down.at_eof(now) {
            self.end_client_side(id);
        }
    }

    /// Sends what client `c` wrote and hands its notes to the checker.
    pub(super) fn flush_client(&mut self, c: usize) {
        let notes = self.clients[c].take_notes();
        let notes = self.operator_notes(c, notes);
        let output = self.clients[c].take_output();
        let now = self.now();
        let Some(id) = self.client_conn[c] else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(inc) = conn.inc else {
            if !notes.is_empty() {
                self.checker.violation(format!(
                    "model: client {c} acted before its socket was accepted"
                ));
            }
            return;
        };
        for note in notes {
            match note {
                Note::Sub {
                    sid,
                    pattern,
                    queue,
                    respond,
                    end,
                } => {
                    let s = self.checker.sub_written(inc, sid, &pattern, queue, respond);
                    conn.ops.push_back((end, OpRef::Sub(s)));
                }
                Note::Unsub { sid, end } => {
                    if let Some(s) = self.checker.unsub_written(inc, sid) {
                        conn.ops.push_back((end, OpRef::Unsub(s)));
                    }
                }
                Note::Pub {
                    key,
                    subject,
                    reply,
                    in_reply_to,
                    end,
                } => {
                    let m = self
                        .checker
                        .pub_written(inc, key, &subject, reply, in_reply_to, now);
                    conn.ops.push_back((end, OpRef::Pub(m)));
                }
                Note::Delivery {
                    sid,
                    subject,
                    reply,
                    key,
                    no_responders,
                } => {
                    if no_responders {
                        self.checker.no_responders(inc, &subject);
                    } else if let Some(key) = key {
                        self.checker
                            .delivered(inc, &sid, &subject, reply.as_deref(), key);
                        if let Some(log) = self.delivery_log.as_mut() {
                            log.push((c, key));
                        }
                    } else {
                        self.checker.violation(format!(
                            "client {c} got a message without an id on {}",
                            String::from_utf8_lossy(&subject)
                        ));
                    }
                }
                Note::ServerError(text) => {
                    // The only -ERR a correct client may see here: it stopped
                    // answering PINGs (stalled or partitioned).
                    if text != "Stale Connection" {
                        self.checker
                            .violation(format!("client {c} got -ERR '{text}' for valid input"));
                    }
                }
                Note::Bug(text) => {
                    self.checker
                        .violation(format!("client {c} could not parse the server: {text}"));
                }
            }
        }
        if let Some(data) = output {
            match conn.tls.as_mut() {
                Some(tls) => {
                    tls.write_plain(&data);
                    self.client_tls_flush(id);
                }
                None => {
                    conn.up.write(data);
                    self.pump(id, Dir::Up);
                }
            }
        }
        if let Some(t) = self.clients[c].next_wake() {
            if self.client_wake[c].is_none_or(|w| t < w) {
                self.client_wake[c] = Some(t);
                self.schedule(t, Ev::ClientWake(c));
            }
        }
    }

    /// The client's side of `id` is gone: it reconnects after a backoff.
    pub(super) fn end_client_side(&mut self, id: u64) {
        let now = self.now();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !conn.client_open {
            return;
        }
        conn.client_open = false;
        let c = conn.client;
        if let Some(inc) = conn.inc {
            self.checker.client_ended(inc);
        }
        if self.client_conn[c] == Some(id) {
            self.client_conn[c] = None;
            self.client_wake[c] = None;
            let at = self.clients[c].on_disconnect(now);
            self.trace.record(now, "disconnect", c as u64, id, &[]);
            self.schedule(at, Ev::Reconnect(c));
        }
        self.maybe_remove(id);
    }

    /// The engine's side of `id` saw the end of stream: tell the engine.
    pub(super) fn end_engine_side(&mut self, id: u64) {
        let now = self.now();
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !conn.engine_open {
            return;
        }
        conn.engine_open = false;
        let (node, e, inc) = (conn.node, conn.engine, conn.inc);
        self.step += 1;
        if let Some(inc) = inc {
            self.checker.engine_closed(inc, self.step);
        }
        if let Some(e) = e {
            self.nodes[node].conns.remove(&e);
            self.tls_world_closed(node, e);
            self.engine(node, |s| s.handle_closed(e, now));
            self.after_engine(node);
        }
        self.maybe_remove(id);
    }

    /// Both sides see the connection die at once (RST).
    pub(super) fn reset_conn(&mut self, id: u64) {
        self.end_engine_side(id);
        self.end_client_side(id);
        self.conns.remove(&id);
    }

    pub(super) fn maybe_remove(&mut self, id: u64) {
        if self
            .conns
            .get(&id)
            .is_some_and(|c| !c.engine_open && !c.client_open)
        {
            self.conns.remove(&id);
        }
    }
}
