//! Client models: scripted NATS clients that speak real client-protocol
//! bytes (CONNECT, SUB, UNSUB, PUB, HPUB, PING/PONG) and report what they
//! wrote and received as [`Note`]s for the checker.
//!
//! A model never touches the world: the world feeds it bytes and time, and
//! takes the bytes it wrote ([`ClientModel::take_output`]) and its notes.

use crate::parser::{OpParser, ServerOp};
use crate::rng::SimRng;
use bytes::{Bytes, BytesMut};
use canopy_core::Instant;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// The unique id a message carries at the start of its payload: `m<c>-<n>`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgKey {
    /// Index of the publishing client.
    pub client: u32,
    /// Its publish counter (never reset, across reconnects too).
    pub n: u64,
}

impl fmt::Display for MsgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}-{}", self.client, self.n)
    }
}

impl MsgKey {
    /// Parses `m<c>-<n>`.
    pub fn parse(s: &[u8]) -> Option<MsgKey> {
        let s = std::str::from_utf8(s.strip_prefix(b"m")?).ok()?;
        let (c, n) = s.split_once('-')?;
        Some(MsgKey {
            client: c.parse().ok()?,
            n: n.parse().ok()?,
        })
    }

    /// The id and the request it answers, from a payload
    /// `m<c>-<n>;[re=m<a>-<b>;]filler`.
    pub fn from_payload(payload: &[u8]) -> (Option<MsgKey>, Option<MsgKey>) {
        let mut parts = payload.splitn(3, |&b| b == b';');
        let key = parts.next().and_then(MsgKey::parse);
        let re = parts
            .next()
            .and_then(|p| p.strip_prefix(b"re="))
            .and_then(MsgKey::parse);
        (key, re)
    }
}

/// A subscription a client keeps (and restores after reconnecting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubSpec {
    /// Subject pattern.
    pub pattern: String,
    /// Queue group.
    pub queue: Option<String>,
    /// Reply to every message that carries a reply subject.
    pub respond: bool,
}

/// Autonomous publishing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishSpec {
    /// Subjects drawn from.
    pub subjects: Vec<String>,
    /// Pause between bursts.
    pub interval: (Duration, Duration),
    /// Messages per burst (written in one socket write).
    pub burst: (usize, usize),
    /// Share of messages sent as HPUB.
    pub header_percent: u64,
    /// Payload size range (the id is always included).
    pub payload: (usize, usize),
    /// Share of messages with a large payload (`big` bytes).
    pub big_percent: u64,
    /// Size of a large payload.
    pub big: usize,
}

/// Autonomous requests (PUB with a reply subject on the client's inbox).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// Service subjects drawn from.
    pub subjects: Vec<String>,
    /// Pause between requests.
    pub interval: (Duration, Duration),
}

/// What one client does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// Name (used in the inbox subject and CONNECT).
    pub name: String,
    /// CONNECT `echo`.
    pub echo: bool,
    /// Subscriptions made at start.
    pub subs: Vec<SubSpec>,
    /// Publishing, if any.
    pub publish: Option<PublishSpec>,
    /// Requests, if any.
    pub request: Option<RequestSpec>,
    /// Unsubscribe and resubscribe at random, this often.
    pub churn: Option<(Duration, Duration)>,
    /// Pause before reconnecting.
    pub backoff: (Duration, Duration),
}

impl ClientSpec {
    /// A client that does nothing until told (scenarios).
    pub fn scripted(name: &str) -> ClientSpec {
        ClientSpec {
            name: name.to_string(),
            echo: true,
            subs: Vec::new(),
            publish: None,
            request: None,
            churn: None,
            backoff: (Duration::from_millis(10), Duration::from_millis(50)),
        }
    }
}

/// What a client did or saw, for the checker. Offsets are the end of the
/// op in this connection's client-to-server byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A SUB was written.
    Sub {
        /// Subscription id.
        sid: u64,
        /// Pattern.
        pattern: String,
        /// Queue group.
        queue: Option<String>,
        /// Whether it answers requests.
        respond: bool,
        /// End offset.
        end: u64,
    },
    /// An UNSUB was written.
    Unsub {
        /// Subscription id.
        sid: u64,
        /// End offset.
        end: u64,
    },
    /// A PUB or HPUB was written.
    Pub {
        /// Message id.
        key: MsgKey,
        /// Subject.
        subject: String,
        /// Reply subject.
        reply: Option<String>,
        /// The request this answers.
        in_reply_to: Option<MsgKey>,
        /// End offset.
        end: u64,
    },
    /// A MSG or HMSG arrived.
    Delivery {
        /// Subscription id as sent by the server.
        sid: Bytes,
        /// Subject.
        subject: Bytes,
        /// Reply subject.
        reply: Option<Bytes>,
        /// Message id from the payload (None for a status message).
        key: Option<MsgKey>,
        /// A `503` no-responders status.
        no_responders: bool,
    },
    /// The server sent `-ERR`.
    ServerError(String),
    /// The server sent something unparseable.
    Bug(String),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    Down,
    Connecting,
    Ready,
}

/// One subscription the client wants, and its state on this connection.
#[derive(Clone, Debug)]
struct Wanted {
    spec: SubSpec,
    active: bool,
    sid: Option<u64>,
    /// The PONG number that confirms the SUB on this connection.
    confirm_at: Option<u64>,
}

/// A client.
#[derive(Debug)]
pub struct ClientModel {
    /// Index in the world.
    pub idx: usize,
    /// What it does.
    pub spec: ClientSpec,
    rng: SimRng,
    state: State,
    parser: OpParser,
    wanted: Vec<Wanted>,
    /// Every sid that answers requests (sids are never reused, and a
    /// request already on its way when the client unsubscribed is still
    /// answered).
    responder_sids: BTreeSet<u64>,
    next_sid: u64,
    next_msg: u64,
    next_req: u64,
    out: BytesMut,
    out_offset: u64,
    notes: Vec<Note>,
    pings_sent: u64,
    pongs: u64,
    /// Whether autonomous activity (publishing, requests, churn) runs.
    pub active: bool,
    next_pub: Option<Instant>,
    next_request: Option<Instant>,
    next_churn: Option<Instant>,
    /// Messages received (MSG/HMSG, status messages included).
    pub delivered: u64,
    /// Messages published (requests and replies included).
    pub published: u64,
    /// Connections made.
    pub connects: u64,
    /// `--operator` worlds: the user this client logs in as (signing the
    /// INFO's nonce).
    pub login: Option<crate::operator::Login>,
    /// `--operator` worlds: a rogue client tries one of these logins per
    /// connection (each must be refused).
    pub rogue_logins: Vec<crate::operator::Login>,
}

impl ClientModel {
    /// A disconnected client.
    pub fn new(idx: usize, spec: ClientSpec, rng: SimRng) -> ClientModel {
        let mut wanted: Vec<Wanted> = spec
            .subs
            .iter()
            .map(|s| Wanted {
                spec: s.clone(),
                active: true,
                sid: None,
                confirm_at: None,
            })
            .collect();
        if spec.request.is_some() {
            wanted.push(Wanted {
                spec: inbox_spec(&spec.name),
                active: true,
                sid: None,
                confirm_at: None,
            });
        }
        ClientModel {
            idx,
            spec,
            rng,
            state: State::Down,
            parser: OpParser::default(),
            wanted,
            responder_sids: BTreeSet::new(),
            next_sid: 1,
            next_msg: 0,
            next_req: 0,
            out: BytesMut::new(),
            out_offset: 0,
            notes: Vec::new(),
            pings_sent: 0,
            pongs: 0,
            active: true,
            next_pub: None,
            next_request: None,
            next_churn: None,
            delivered: 0,
            published: 0,
            connects: 0,
            login: None,
            rogue_logins: Vec::new(),
        }
    }

    /// The socket is being opened: start a new byte stream.
    pub fn on_connecting(&mut self) {
        self.state = State::Connecting;
        self.parser = OpParser::default();
        self.out.clear();
        self.out_offset = 0;
        self.pings_sent = 0;
        self.pongs = 0;
        for w in &mut self.wanted {
            w.sid = None;
            w.confirm_at = None;
        }
        self.connects += 1;
    }

    /// The connection is gone; returns when to reconnect.
    pub fn on_disconnect(&mut self, now: Instant) -> Instant {
        self.state = State::Down;
        self.out.clear();
        self.next_pub = None;
        self.next_request = None;
        self.next_churn = None;
        let (lo, hi) = self.spec.backoff;
        now + self.rng.duration(lo, hi)
    }

    /// Whether the client is down (waiting to reconnect).
    pub fn is_down(&self) -> bool {
        self.state == State::Down
    }

    /// Whether the handshake is done and every wanted subscription is
    /// confirmed by a PONG on this connection.
    pub fn is_settled(&self) -> bool {
        self.state == State::Ready
            && self
                .wanted
                .iter()
                .filter(|w| w.active)
                .all(|w| w.confirm_at.is_some_and(|p| p <= self.pongs))
    }

    /// PONGs received on this connection.
    pub fn pongs(&self) -> u64 {
        self.pongs
    }

    /// Bytes the client wrote since the last call.
    pub fn take_output(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            return None;
        }
        Some(self.out.split().freeze())
    }

    /// Notes since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// When the client next wants to act on its own.
    pub fn next_wake(&self) -> Option<Instant> {
        if self.state != State::Ready || !self.active {
            return None;
        }
        [self.next_pub, self.next_request, self.next_churn]
            .into_iter()
            .flatten()
            .min()
    }

    /// Bytes arrived from the server.
    pub fn on_data(&mut self, data: &[u8], now: Instant) {
        self.parser.feed(data);
        loop {
            match self.parser.next_op() {
                Ok(Some(op)) => self.on_op(op, now),
                Ok(None) => break,
                Err(e) => {
                    self.notes.push(Note::Bug(e));
                    // Drop the rest: the stream is unusable.
                    self.parser = OpParser::default();
                    break;
                }
            }
        }
    }

    /// Runs whatever autonomous activity is due.
    pub fn tick(&mut self, now: Instant) {
        if self.state != State::Ready || !self.active {
            return;
        }
        if self.next_pub.is_some_and(|t| t <= now) {
            if let Some(p) = self.spec.publish.clone() {
                let n = self.rng.range_usize(p.burst.0, p.burst.1);
                for _ in 0..n {
                    let subject = self.rng.pick(&p.subjects).clone();
                    let headers = self.rng.percent(p.header_percent);
                    let size = if self.rng.percent(p.big_percent) {
                        p.big
                    } else {
                        self.rng.range_usize(p.payload.0, p.payload.1)
                    };
                    self.publish(&subject, None, headers, size, None);
                }
                self.next_pub = Some(now + self.rng.duration(p.interval.0, p.interval.1));
            }
        }
        if self.next_request.is_some_and(|t| t <= now) {
            if let Some(r) = self.spec.request.clone() {
                let subject = self.rng.pick(&r.subjects).clone();
                self.request(&subject);
                self.next_request = Some(now + self.rng.duration(r.interval.0, r.interval.1));
            }
        }
        if self.next_churn.is_some_and(|t| t <= now) {
            if let Some((lo, hi)) = self.spec.churn {
                self.churn();
                self.next_churn = Some(now + self.rng.duration(lo, hi));
            }
        }
    }

    /// Adds a subscription (sent now if connected, else on connect).
    pub fn subscribe(&mut self, spec: SubSpec) {
        self.wanted.push(Wanted {
            spec,
            active: true,
            sid: None,
            confirm_at: None,
        });
        if self.state == State::Ready {
            let i = self.wanted.len() - 1;
            self.write_sub(i);
            self.ping();
        }
    }

    /// Removes the first active subscription on `pattern`; whether there
    /// was one.
    pub fn unsubscribe(&mut self, pattern: &str) -> bool {
        let Some(i) = self
            .wanted
            .iter()
            .position(|w| w.active && w.spec.pattern == pattern)
        else {
            return false;
        };
        self.deactivate(i);
        self.ping();
        true
    }

    /// Publishes one message with a fresh id; false if not connected.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: bool,
        size: usize,
        in_reply_to: Option<MsgKey>,
    ) -> bool {
        if self.state != State::Ready {
            return false;
        }
        let key = MsgKey {
            client: self.idx as u32,
            n: self.next_msg,
        };
        self.next_msg += 1;
        let mut payload = format!("{key};").into_bytes();
        if let Some(re) = in_reply_to {
            payload.extend_from_slice(format!("re={re};").as_bytes());
        }
        if payload.len() < size {
            // Payloads longer than the filler are cut to it.
            let n = (size - payload.len()).min(FILLER.len() - 26);
            let start = payload.len() % 26;
            payload.extend_from_slice(&FILLER[start..start + n]);
        }
        let reply_part = reply.map(|r| format!(" {r}")).unwrap_or_default();
        if headers {
            let hdr = format!("NATS/1.0\r\nSim-Id: {key}\r\n\r\n");
            let line = format!(
                "HPUB {subject}{reply_part} {} {}\r\n",
                hdr.len(),
                hdr.len() + payload.len()
            );
            self.write(line.as_bytes());
            self.write(hdr.as_bytes());
        } else {
            let line = format!("PUB {subject}{reply_part} {}\r\n", payload.len());
            self.write(line.as_bytes());
        }
        self.write(&payload);
        self.write(b"\r\n");
        self.published += 1;
        self.notes.push(Note::Pub {
            key,
            subject: subject.to_string(),
            reply: reply.map(str::to_string),
            in_reply_to,
            end: self.out_offset,
        });
        true
    }

    /// Sends a request on `subject` with a reply subject on the inbox
    /// (subscribing to the inbox first if needed); false if not connected.
    pub fn request(&mut self, subject: &str) -> bool {
        if self.state != State::Ready {
            return false;
        }
        let inbox = inbox_spec(&self.spec.name);
        if !self.wanted.iter().any(|w| w.active && w.spec == inbox) {
            self.subscribe(inbox);
        }
        let reply = format!("_INBOX.{}.{}", self.spec.name, self.next_req);
        self.next_req += 1;
        let size = self.rng.range_usize(8, 64);
        self.publish(subject, Some(&reply), false, size, None)
    }

    /// Sends a PING (each PONG confirms everything written before it).
    pub fn ping(&mut self) {
        if self.state != State::Ready {
            return;
        }
        self.write(b"PING\r\n");
        self.pings_sent += 1;
    }

    fn on_op(&mut self, op: ServerOp, now: Instant) {
        match op {
            ServerOp::Info(info) => {
                if self.state == State::Connecting {
                    let nonce = crate::operator::nonce_of(&info).unwrap_or_default();
                    self.handshake(now, &nonce);
                }
            }
            ServerOp::Ping => self.write(b"PONG\r\n"),
            ServerOp::Pong => self.pongs += 1,
            ServerOp::Ok => {}
            ServerOp::Err(text) => self.notes.push(Note::ServerError(text)),
            ServerOp::Msg(d) => {
                self.delivered += 1;
                let no_responders = d.header_len > 0 && d.headers().starts_with(b"NATS/1.0 503");
                let (key, _) = if no_responders {
                    (None, None)
                } else {
                    MsgKey::from_payload(d.payload())
                };
                let respond = std::str::from_utf8(&d.sid)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|sid| self.responder_sids.contains(&sid));
                if respond && !no_responders {
                    if let (Some(reply), Some(key)) = (&d.reply, key) {
                        let reply = String::from_utf8_lossy(reply).into_owned();
                        let size = self.rng.range_usize(16, 80);
                        self.publish(&reply, None, false, size, Some(key));
                    }
                }
                self.notes.push(Note::Delivery {
                    sid: d.sid,
                    subject: d.subject,
                    reply: d.reply,
                    key,
                    no_responders,
                });
            }
        }
    }

    fn handshake(&mut self, now: Instant, nonce: &str) {
        self.state = State::Ready;
        let login = if self.rogue_logins.is_empty() {
            self.login.clone()
        } else {
            Some(self.rng.pick(&self.rogue_logins).clone())
        };
        let login = login.map_or(String::new(), |l| {
            crate::operator::connect_fields(&l, nonce)
        });
        let connect = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\
\"no_responders\":true,\"protocol\":1,\"echo\":{},\"name\":\"{}\"{login}}}\r\n",
            self.spec.echo, self.spec.name
        );
        self.write(connect.as_bytes());
        for i in 0..self.wanted.len() {
            if self.wanted[i].active {
                self.write_sub(i);
            }
        }
        self.ping();
        if let Some(p) = &self.spec.publish {
            self.next_pub = Some(now + self.rng.duration(Duration::ZERO, p.interval.1));
        }
        if let Some(r) = &self.spec.request {
            self.next_request = Some(now + self.rng.duration(Duration::ZERO, r.interval.1));
        }
        if let Some((lo, hi)) = self.spec.churn {
            self.next_churn = Some(now + self.rng.duration(lo, hi));
        }
    }

    fn churn(&mut self) {
        let inbox = inbox_spec(&self.spec.name);
        let candidates: Vec<usize> = (0..self.wanted.len())
            .filter(|&i| self.wanted[i].spec != inbox)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let i = *self.rng.pick(&candidates);
        if self.wanted[i].active {
            self.deactivate(i);
        } else {
            self.wanted[i].active = true;
            self.write_sub(i);
        }
        self.ping();
    }

    fn deactivate(&mut self, i: usize) {
        self.wanted[i].active = false;
        self.wanted[i].confirm_at = None;
        if let Some(sid) = self.wanted[i].sid.take() {
            if self.state == State::Ready {
                self.write(format!("UNSUB {sid}\r\n").as_bytes());
                self.notes.push(Note::Unsub {
                    sid,
                    end: self.out_offset,
                });
            }
        }
    }

    fn write_sub(&mut self, i: usize) {
        let sid = self.next_sid;
        self.next_sid += 1;
        let w = &mut self.wanted[i];
        w.sid = Some(sid);
        // Confirmed by the PONG of the PING that follows.
        w.confirm_at = Some(self.pings_sent + 1);
        let line = match &w.spec.queue {
            Some(q) => format!("SUB {} {q} {sid}\r\n", w.spec.pattern),
            None => format!("SUB {} {sid}\r\n", w.spec.pattern),
        };
        let spec = w.spec.clone();
        if spec.respond {
            self.responder_sids.insert(sid);
        }
        self.write(line.as_bytes());
        self.notes.push(Note::Sub {
            sid,
            pattern: spec.pattern,
            queue: spec.queue,
            respond: spec.respond,
            end: self.out_offset,
        });
    }

    fn write(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
        self.out_offset += data.len() as u64;
    }
}

/// Payload filler: the alphabet, over and over.
static FILLER: [u8; 16 * 1024] = filler();

const fn filler() -> [u8; 16 * 1024] {
    let mut a = [0u8; 16 * 1024];
    let mut i = 0;
    while i < a.len() {
        a[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    a
}

/// The inbox subscription of client `name`.
pub fn inbox_spec(name: &str) -> SubSpec {
    SubSpec {
        pattern: format!("_INBOX.{name}.*"),
        queue: None,
        respond: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = MsgKey { client: 3, n: 17 };
        assert_eq!(MsgKey::parse(k.to_string().as_bytes()), Some(k));
        assert_eq!(
            MsgKey::from_payload(b"m3-17;re=m1-4;xyz"),
            (Some(k), Some(MsgKey { client: 1, n: 4 }))
        );
        assert_eq!(MsgKey::from_payload(b"m3-17;abc"), (Some(k), None));
        assert_eq!(MsgKey::from_payload(b"junk"), (None, None));
    }
}
