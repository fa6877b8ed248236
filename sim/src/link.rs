//! Simulated TCP: one [`Pipe`] per direction of a connection, shaped by
//! per-direction [`DirRules`].
//!
//! Inside one connection bytes are never lost or reordered; faults act on
//! whole streams. A pipe models the writer's unsent buffer, the bytes on the
//! wire and the reader's unread bytes. The receive window bounds the bytes on
//! the wire plus the unread ones, so a reader that stops reading (a stall)
//! stops the writer: for the engine, `handle_written` is no longer reported
//! and its slow-consumer and write-deadline logic run as on a real socket.

use crate::rng::SimRng;
use bytes::{Bytes, BytesMut};
use canopy_core::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// The shaping of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirRules {
    /// One-way latency.
    pub delay: Duration,
    /// Extra random latency per write, up to this much (order is kept).
    pub jitter: Duration,
    /// Bandwidth in bytes per millisecond (0: unlimited).
    pub bytes_per_ms: u64,
    /// Largest piece a write arrives in; pieces are cut at random points
    /// (`usize::MAX`: each write arrives whole; 1: byte by byte).
    pub max_piece: usize,
    /// Receive window: bytes on the wire plus bytes not yet read.
    pub window: usize,
    /// Largest single read the receiver makes.
    pub read_size: usize,
    /// How fast the receiving application reads, in bytes per millisecond
    /// (0: as fast as bytes arrive). A slow reader lets the window fill.
    pub read_bytes_per_ms: u64,
}

impl Default for DirRules {
    fn default() -> Self {
        DirRules {
            delay: Duration::from_micros(100),
            jitter: Duration::ZERO,
            bytes_per_ms: 0,
            max_piece: usize::MAX,
            window: 256 * 1024,
            read_size: 64 * 1024,
            read_bytes_per_ms: 0,
        }
    }
}

/// The rules of both directions of a client's path to a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkRules {
    /// Client to server.
    pub up: DirRules,
    /// Server to client.
    pub down: DirRules,
}

/// Which way bytes flow.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// Something scheduled to reach the reader: bytes, or the end of stream.
pub type Arrival = (Instant, Option<Bytes>);

/// One direction of a connection.
#[derive(Debug)]
pub struct Pipe {
    /// Current shaping.
    pub rules: DirRules,
    send_buf: VecDeque<Bytes>,
    send_len: usize,
    fin_queued: bool,
    fin_sent: bool,
    on_wire: usize,
    wire_free_at: Instant,
    last_arrival: Instant,
    inbox: VecDeque<Bytes>,
    inbox_len: usize,
    fin_received: bool,
    /// Bytes the writer has written.
    pub written: u64,
    /// Bytes the reader has read.
    pub read: u64,
    /// Reset the connection once the reader would read past this offset.
    pub reset_after: Option<u64>,
    /// The reader reads one byte at a time below this offset (a TLS
    /// handshake split to single bytes; 0: never).
    pub split_until: u64,
    /// Nothing leaves the writer before this (a partition: bytes queue up
    /// unsent, as behind a dead path; the world pumps again at this time).
    pub hold_until: Instant,
    /// The reader does not read before this (a slow reader busy with
    /// what it read, or a stall).
    pub paused_until: Instant,
    /// The engine paused reading this pipe until this (a consumer it feeds
    /// is behind); a resume sets it back to now.
    pub engine_paused_until: Instant,
}

impl Pipe {
    /// An empty pipe with `rules`.
    pub fn new(rules: DirRules) -> Pipe {
        Pipe {
            rules,
            send_buf: VecDeque::new(),
            send_len: 0,
            fin_queued: false,
            fin_sent: false,
            on_wire: 0,
            wire_free_at: Instant::ZERO,
            last_arrival: Instant::ZERO,
            inbox: VecDeque::new(),
            inbox_len: 0,
            fin_received: false,
            written: 0,
            read: 0,
            reset_after: None,
            split_until: 0,
            hold_until: Instant::ZERO,
            paused_until: Instant::ZERO,
            engine_paused_until: Instant::ZERO,
        }
    }

    /// The writer hands bytes to its socket.
    pub fn write(&mut self, data: Bytes) {
        if data.is_empty() || self.fin_queued {
            return;
        }
        self.written += data.len() as u64;
        self.send_len += data.len();
        self.send_buf.push_back(data);
    }

    /// The writer closes its side: the end of stream follows the bytes
    /// already written.
    pub fn close_write(&mut self) {
        self.fin_queued = true;
    }

    /// Whether the writer has closed its side.
    pub fn write_closed(&self) -> bool {
        self.fin_queued
    }

    /// Drops bytes the writer wrote that are not on the wire yet (a close
    /// without flush).
    pub fn discard_unsent(&mut self) {
        self.written -= self.send_len as u64;
        self.send_buf.clear();
        self.send_len = 0;
    }

    /// Bytes written but not yet on the wire.
    pub fn unsent(&self) -> usize {
        self.send_len
    }

    /// Whether nothing is unsent, on the wire or unread.
    pub fn is_empty(&self) -> bool {
        self.send_len == 0 && self.on_wire == 0 && self.inbox_len == 0
    }

    /// Moves as many unsent bytes onto the wire as the window allows and
    /// appends their arrivals (cut into pieces) to `out`. Returns the
    /// number of bytes that left the writer (what a socket write returns).
    pub fn pump(&mut self, now: Instant, rng: &mut SimRng, out: &mut Vec<Arrival>) -> usize {
        if now < self.hold_until {
            return 0;
        }
        let mut accepted = 0;
        while let Some(front) = self.send_buf.front_mut() {
            let room = self
                .rules
                .window
                .saturating_sub(self.on_wire + self.inbox_len);
            if room == 0 {
                break;
            }
            let data = if front.len() <= room {
                // The loop condition saw a front element.
                self.send_buf.pop_front().unwrap_or_default()
            } else {
                front.split_to(room)
            };
            let n = data.len();
            self.send_len -= n;
            self.on_wire += n;
            accepted += n;
            let depart = now.max(self.wire_free_at);
            let tx = (n as u64 * 1_000_000)
                .checked_div(self.rules.bytes_per_ms)
                .map_or(Duration::ZERO, Duration::from_nanos);
            self.wire_free_at = depart + tx;
            let jitter = if self.rules.jitter.is_zero() {
                Duration::ZERO
            } else {
                rng.duration(Duration::ZERO, self.rules.jitter)
            };
            let at = (self.wire_free_at + self.rules.delay + jitter).max(self.last_arrival);
            self.last_arrival = at;
            let mut rest = data;
            while !rest.is_empty() {
                let piece = if self.rules.max_piece >= rest.len() {
                    rest.len()
                } else {
                    rng.range_usize(1, self.rules.max_piece)
                };
                out.push((at, Some(rest.split_to(piece))));
            }
        }
        if self.fin_queued && !self.fin_sent && self.send_buf.is_empty() {
            self.fin_sent = true;
            let at = (now + self.rules.delay).max(self.last_arrival);
            self.last_arrival = at;
            out.push((at, None));
        }
        accepted
    }

    /// Bytes (or the end of stream) reach the reader's socket.
    pub fn arrive(&mut self, data: Option<Bytes>) {
        match data {
            Some(data) => {
                self.on_wire -= data.len();
                self.inbox_len += data.len();
                self.inbox.push_back(data);
            }
            None => self.fin_received = true,
        }
    }

    /// One read of up to `read_size` (and `max`) bytes, unless paused or
    /// empty. The flag says the connection resets right after these bytes.
    pub fn read(&mut self, now: Instant, max: usize) -> Option<(Bytes, bool)> {
        if self.paused_until > now || self.engine_paused_until > now || self.inbox_len == 0 {
            return None;
        }
        let mut limit = self.rules.read_size.min(max).max(1);
        if self.rules.read_bytes_per_ms > 0 {
            // A slow reader takes small bites (20 ms worth).
            limit = limit.min((self.rules.read_bytes_per_ms * 20) as usize);
        }
        if self.read < self.split_until {
            limit = 1;
        }
        let mut reset = false;
        if let Some(at) = self.reset_after {
            let left = at.saturating_sub(self.read) as usize;
            if left <= limit {
                limit = left;
                reset = true;
            }
        }
        let data = self.take_inbox(limit);
        self.read += data.len() as u64;
        // A slow application is busy with these bytes for a while.
        if let Some(busy) =
            (data.len() as u64 * 1_000_000).checked_div(self.rules.read_bytes_per_ms)
        {
            self.paused_until = now + Duration::from_nanos(busy);
        }
        Some((data, reset))
    }

    /// When a paused reader with unread bytes (or an unseen end of stream)
    /// may read again.
    pub fn resume_at(&self, now: Instant) -> Option<Instant> {
        let until = self.paused_until.max(self.engine_paused_until);
        (until > now && (self.inbox_len > 0 || self.fin_received)).then_some(until)
    }

    /// Whether the reader has read everything and the writer closed.
    pub fn at_eof(&self, now: Instant) -> bool {
        self.fin_received
            && self.inbox_len == 0
            && self.paused_until <= now
            && self.engine_paused_until <= now
    }

    fn take_inbox(&mut self, limit: usize) -> Bytes {
        let Some(front) = self.inbox.front_mut() else {
            return Bytes::new();
        };
        if front.len() >= limit {
            let data = front.split_to(limit);
            if front.is_empty() {
                self.inbox.pop_front();
            }
            self.inbox_len -= data.len();
            return data;
        }
        let mut buf = BytesMut::with_capacity(limit.min(self.inbox_len));
        while let Some(front) = self.inbox.front_mut() {
            let want = limit - buf.len();
            if want == 0 {
                break;
            }
            if front.len() <= want {
                buf.extend_from_slice(front);
                self.inbox.pop_front();
            } else {
                buf.extend_from_slice(&front.split_to(want));
            }
        }
        self.inbox_len -= buf.len();
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    #[test]
    fn window_bounds_the_writer_and_order_is_kept() {
        let mut rng = SimRng::new(1, Purpose::Link, 0);
        let mut p = Pipe::new(DirRules {
            max_piece: 3,
            window: 10,
            read_size: 4,
            ..DirRules::default()
        });
        p.write(Bytes::from_static(b"hello world, this is a test"));
        let mut out = Vec::new();
        let now = Instant::from_nanos(1);
        assert_eq!(p.pump(now, &mut rng, &mut out), 10);
        assert_eq!(p.pump(now, &mut rng, &mut out), 0);
        let mut got = Vec::new();
        loop {
            for (_, data) in out.drain(..) {
                p.arrive(data);
            }
            while let Some((data, reset)) = p.read(now, usize::MAX) {
                assert!(!reset);
                assert!(data.len() <= 4);
                got.extend_from_slice(&data);
            }
            if p.pump(now, &mut rng, &mut out) == 0 && out.is_empty() {
                break;
            }
        }
        assert_eq!(got, b"hello world, this is a test");
        assert!(p.is_empty());
    }

    #[test]
    fn reset_cuts_at_the_byte() {
        let mut rng = SimRng::new(1, Purpose::Link, 0);
        let mut p = Pipe::new(DirRules::default());
        p.write(Bytes::from_static(b"abcdef"));
        p.reset_after = Some(2);
        let mut out = Vec::new();
        p.pump(Instant::ZERO, &mut rng, &mut out);
        for (_, d) in out {
            p.arrive(d);
        }
        assert_eq!(
            p.read(Instant::ZERO, usize::MAX),
            Some((Bytes::from_static(b"ab"), true))
        );
    }
}
