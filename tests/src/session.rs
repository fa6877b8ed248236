//! Scripted raw-protocol sessions, run against two servers and compared.
//!
//! A [`Session`] is a server setup (command-line arguments, optional config
//! file) plus a list of [`Step`]s over numbered connections: open, send bytes,
//! synchronise with PING/PONG, wait for a given server line, wait for the
//! server to close, wait until quiet. Running it against a server records,
//! per connection, every byte the server sent and whether it closed the
//! connection. [`compare`] normalises both recordings (INFO fields that
//! legitimately differ are masked, server-initiated PINGs dropped unless the
//! session is about them, queue-member sids unified) and reports a line diff.
//!
//! Determinism: steps wait on protocol events, not on sleeps, wherever
//! possible. Every session ends with a barrier: two rounds of PING/PONG on
//! every connection the server has not closed, so all deliveries caused by
//! earlier input are in before the recording stops.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Impl, ServerBuilder};

/// How long a synchronising wait (PONG, INFO on open) may take before it is
/// recorded as a timeout. Generous: CI machines are small and busy.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// INFO keys whose values legitimately differ between servers or runs. Their
/// presence is still compared.
pub const MASKED_INFO_KEYS: &[&str] = &[
    "server_id",
    "server_name",
    "version",
    "git_commit",
    "go",
    "port",
    "client_id",
    "nonce",
    "xkey",
    "client_ip",
    "host",
];

/// One step of a session.
#[derive(Clone, Debug)]
pub enum Step {
    /// Open connection N and wait for the server's first line (its INFO).
    Open(usize),
    /// Open connection N to the route port (the session's config must
    /// have a `cluster` block) and wait for the route INFO.
    OpenRoute(usize),
    /// Send bytes on connection N.
    Send(usize, Vec<u8>),
    /// Send each chunk as its own write (TCP_NODELAY), pausing between them.
    SendChunks(usize, Vec<Vec<u8>>, Duration),
    /// Send `PING\r\n` on N and wait until every PING sent on N so far got its
    /// PONG (or the server closed N).
    Sync(usize),
    /// Wait until N received `count` server lines starting with `prefix`
    /// (or was closed), at most `timeout`.
    Expect {
        /// Connection.
        conn: usize,
        /// Start of the server line (e.g. `PING`, `-ERR 'Stale`).
        prefix: String,
        /// How many such lines.
        count: usize,
        /// Upper bound on the wait.
        timeout: Duration,
    },
    /// Wait until the server closes N, at most the given time.
    Eof(usize, Duration),
    /// Wait until N has received nothing for the given time (bounded).
    Quiet(usize, Duration),
    /// Sleep (only for timer behaviour that has no protocol event to wait on).
    Sleep(Duration),
    /// Shut down our side of connection N (the client goes away).
    Close(usize),
}

/// A scripted session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Unique name (also the test's name in reports).
    pub name: String,
    /// Extra command-line arguments for the server.
    pub args: Vec<String>,
    /// Config file contents, passed with `-c`.
    pub config: Option<String>,
    /// The script.
    pub steps: Vec<Step>,
    /// Keep server-initiated `PING` lines in the comparison (timer sessions);
    /// otherwise they are dropped, since a slow run may see the first
    /// server PING (~2 s after connect) and a fast one not.
    pub keep_server_pings: bool,
    /// Per connection, sids of queue-group members whose choice is random:
    /// they are all rendered as `<q>`.
    pub queue_sids: Vec<(usize, Vec<String>)>,
    /// Run the closing PING/PONG barrier (default true).
    pub final_barrier: bool,
    /// Connections opened to the route port: their INFO lines are shown
    /// but not compared (route INFOs differ in proto, pooling and
    /// compression fields).
    pub route_conns: Vec<usize>,
}

impl Session {
    /// A new empty session.
    pub fn new(name: &str) -> Session {
        Session {
            name: name.to_string(),
            args: Vec::new(),
            config: None,
            steps: Vec::new(),
            keep_server_pings: false,
            queue_sids: Vec::new(),
            final_barrier: true,
            route_conns: Vec::new(),
        }
    }

    /// Server command-line arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| (*s).to_string()));
        self
    }

    /// Server config file.
    pub fn config(mut self, text: &str) -> Self {
        self.config = Some(text.to_string());
        self
    }

    /// Open connection `c` (waits for INFO).
    pub fn open(mut self, c: usize) -> Self {
        self.steps.push(Step::Open(c));
        self
    }

    /// Open connection `c` to the route port (waits for its INFO).
    pub fn open_route(mut self, c: usize) -> Self {
        self.steps.push(Step::OpenRoute(c));
        self.route_conns.push(c);
        self
    }

    /// Send bytes on `c`.
    pub fn send(mut self, c: usize, data: impl AsRef<[u8]>) -> Self {
        self.steps.push(Step::Send(c, data.as_ref().to_vec()));
        self
    }

    /// Send chunks as separate writes, 20 ms apart.
    pub fn send_chunks(mut self, c: usize, chunks: &[&[u8]]) -> Self {
        self.steps.push(Step::SendChunks(
            c,
            chunks.iter().map(|c| c.to_vec()).collect(),
            Duration::from_millis(20),
        ));
        self
    }

    /// PING/PONG barrier on `c`.
    pub fn sync(mut self, c: usize) -> Self {
        self.steps.push(Step::Sync(c));
        self
    }

    /// Wait for `count` server lines starting with `prefix` on `c`.
    pub fn expect(mut self, c: usize, prefix: &str, count: usize, timeout: Duration) -> Self {
        self.steps.push(Step::Expect {
            conn: c,
            prefix: prefix.to_string(),
            count,
            timeout,
        });
        self
    }

    /// Wait for the server to close `c` (at most `timeout`).
    pub fn eof(mut self, c: usize, timeout: Duration) -> Self {
        self.steps.push(Step::Eof(c, timeout));
        self
    }

    /// Wait until `c` is quiet for `d`.
    pub fn quiet(mut self, c: usize, d: Duration) -> Self {
        self.steps.push(Step::Quiet(c, d));
        self
    }

    /// Sleep.
    pub fn sleep(mut self, d: Duration) -> Self {
        self.steps.push(Step::Sleep(d));
        self
    }

    /// Close our side of `c`.
    pub fn close(mut self, c: usize) -> Self {
        self.steps.push(Step::Close(c));
        self
    }

    /// Keep server PINGs in the comparison.
    pub fn keep_server_pings(mut self) -> Self {
        self.keep_server_pings = true;
        self
    }

    /// Render these sids of connection `c` as `<q>`.
    pub fn queue_sids(mut self, c: usize, sids: &[&str]) -> Self {
        self.queue_sids
            .push((c, sids.iter().map(|s| (*s).to_string()).collect()));
        self
    }

    /// Skip the closing barrier.
    pub fn no_final_barrier(mut self) -> Self {
        self.final_barrier = false;
        self
    }
}

/// What one connection received.
#[derive(Clone, Debug, Default)]
pub struct ConnOutput {
    /// Every byte the server sent.
    pub raw: Vec<u8>,
    /// The server closed the connection (EOF or reset) before the end.
    pub closed: bool,
    /// Waits that timed out, writes that failed to connect, ...
    pub events: Vec<String>,
}

/// What one run of a session against one server produced.
#[derive(Debug)]
pub struct SideOutput {
    /// Which server.
    pub imp: Impl,
    /// Per connection.
    pub conns: Vec<ConnOutput>,
    /// The end of the server's log (for failure reports).
    pub log_tail: String,
    /// Wall time of the script.
    pub elapsed: Duration,
}

#[derive(Default)]
struct RxState {
    buf: Vec<u8>,
    eof: bool,
    last_rx: Option<Instant>,
}

struct Rx {
    m: Mutex<RxState>,
    cv: Condvar,
}

impl Rx {
    /// Waits until `pred` holds or `timeout` passes; returns whether it held.
    fn wait(&self, timeout: Duration, mut pred: impl FnMut(&RxState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.m.lock().expect("rx");
        loop {
            if pred(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self.cv.wait_timeout(g, deadline - now).expect("rx").0;
        }
    }
}

/// Counts the PINGs a client sent (skipping PUB/HPUB payloads), so a sync
/// waits for all outstanding PONGs, not just its own.
#[derive(Default)]
struct ClientScan {
    pending: Vec<u8>,
    skip: usize,
    pings: usize,
}

impl ClientScan {
    fn feed(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.pending.len());
                self.pending.drain(..n);
                self.skip -= n;
                if self.skip > 0 {
                    return;
                }
                continue;
            }
            let Some(pos) = self.pending.iter().position(|&b| b == b'\n') else {
                return;
            };
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let line = line.to_ascii_uppercase();
            if line.starts_with(b"PING") {
                self.pings += 1;
            } else if line.starts_with(b"PUB") || line.starts_with(b"HPUB") {
                let text = String::from_utf8_lossy(&line);
                if let Some(n) = text
                    .split_ascii_whitespace()
                    .last()
                    .and_then(|t| t.parse::<usize>().ok())
                {
                    if text.split_ascii_whitespace().count() >= 3 {
                        self.skip = n + 2;
                    }
                }
            }
        }
    }
}

struct ConnRt {
    stream: Option<TcpStream>,
    rx: Arc<Rx>,
    scan: ClientScan,
    events: Vec<String>,
    reader: Option<thread::JoinHandle<()>>,
}

impl ConnRt {
    fn open(addr: &str) -> ConnRt {
        let rx = Arc::new(Rx {
            m: Mutex::new(RxState::default()),
            cv: Condvar::new(),
        });
        let mut events = Vec::new();
        let (stream, reader) = match TcpStream::connect(addr) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let mut r = s.try_clone().expect("clone stream");
                let rx2 = Arc::clone(&rx);
                let h = thread::spawn(move || {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let n = r.read(&mut buf);
                        let mut g = rx2.m.lock().expect("rx");
                        match n {
                            Ok(0) | Err(_) => {
                                g.eof = true;
                                drop(g);
                                rx2.cv.notify_all();
                                return;
                            }
                            Ok(n) => {
                                g.buf.extend_from_slice(&buf[..n]);
                                g.last_rx = Some(Instant::now());
                                drop(g);
                                rx2.cv.notify_all();
                            }
                        }
                    }
                });
                (Some(s), Some(h))
            }
            Err(e) => {
                events.push(format!("connect failed: {e}"));
                rx.m.lock().expect("rx").eof = true;
                (None, None)
            }
        };
        ConnRt {
            stream,
            rx,
            scan: ClientScan::default(),
            events,
            reader,
        }
    }

    fn write(&mut self, data: &[u8]) {
        self.scan.feed(data);
        if let Some(s) = &mut self.stream {
            // A server that already closed makes this fail; what it sent
            // before is recorded by the reader, and the close is compared.
            let _ = s.write_all(data);
        }
    }

    fn is_eof(&self) -> bool {
        self.rx.m.lock().expect("rx").eof
    }

    fn sync(&mut self) {
        if self.is_eof() {
            return;
        }
        self.write(b"PING\r\n");
        let want = self.scan.pings;
        let ok = self.rx.wait(SYNC_TIMEOUT, |st| {
            st.eof || count_units(&st.buf, "PONG") >= want
        });
        if !ok {
            self.events.push(format!(
                "timeout: no PONG for PING #{want} within {SYNC_TIMEOUT:?}"
            ));
        }
    }
}

/// A server line or message, as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A protocol line including its terminator.
    Line(Vec<u8>),
    /// `MSG`/`HMSG` control line (with terminator) and the payload plus its terminator.
    Msg(Vec<u8>, Vec<u8>),
    /// Trailing bytes that do not form a complete unit.
    Partial(Vec<u8>),
}

/// Splits server output into lines and messages.
pub fn parse_units(buf: &[u8]) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < buf.len() {
        let Some(nl) = buf[i..].iter().position(|&b| b == b'\n') else {
            out.push(Unit::Partial(buf[i..].to_vec()));
            break;
        };
        let line = &buf[i..i + nl + 1];
        let upper = line.to_ascii_uppercase();
        if upper.starts_with(b"MSG ") || upper.starts_with(b"HMSG ") {
            let text = String::from_utf8_lossy(line);
            let size = text
                .split_ascii_whitespace()
                .last()
                .and_then(|t| t.parse::<usize>().ok());
            if let Some(size) = size {
                let start = i + nl + 1;
                let end = start + size + 2;
                if end > buf.len() {
                    out.push(Unit::Partial(buf[i..].to_vec()));
                    break;
                }
                out.push(Unit::Msg(line.to_vec(), buf[start..end].to_vec()));
                i = end;
                continue;
            }
        }
        out.push(Unit::Line(line.to_vec()));
        i += nl + 1;
    }
    out
}

fn line_is(line: &[u8], word: &str) -> bool {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    l == word.as_bytes()
}

fn count_units(buf: &[u8], word: &str) -> usize {
    parse_units(buf)
        .iter()
        .filter(|u| matches!(u, Unit::Line(l) if line_is(l, word)))
        .count()
}

fn count_prefix(buf: &[u8], prefix: &str) -> usize {
    parse_units(buf)
        .iter()
        .filter(|u| match u {
            Unit::Line(l) => l.starts_with(prefix.as_bytes()),
            Unit::Msg(l, _) => l.starts_with(prefix.as_bytes()),
            Unit::Partial(_) => false,
        })
        .count()
}

/// Runs `session` against a fresh server of kind `imp`.
pub fn run_side(session: &Session, imp: Impl) -> SideOutput {
    let mut b = ServerBuilder::new(imp).args(session.args.iter().cloned());
    if let Some(c) = &session.config {
        b = b.config(c);
    }
    let server = b.start();
    let addr = server.addr();
    let started = Instant::now();
    let mut conns: Vec<Option<ConnRt>> = Vec::new();
    fn conn(conns: &mut [Option<ConnRt>], c: usize) -> &mut ConnRt {
        conns
            .get_mut(c)
            .and_then(Option::as_mut)
            .unwrap_or_else(|| panic!("connection {c} used before it was opened"))
    }
    for step in &session.steps {
        match step {
            Step::Open(c) | Step::OpenRoute(c) => {
                if conns.len() <= *c {
                    conns.resize_with(c + 1, || None);
                }
                let target = if matches!(step, Step::OpenRoute(_)) {
                    route_addr(&server)
                } else {
                    addr.clone()
                };
                let rt = ConnRt::open(&target);
                let ok = rt
                    .rx
                    .wait(SYNC_TIMEOUT, |st| st.eof || st.buf.contains(&b'\n'));
                let mut rt = rt;
                if !ok {
                    rt.events.push("timeout: no INFO after connect".into());
                }
                conns[*c] = Some(rt);
            }
            Step::Send(c, data) => conn(&mut conns, *c).write(data),
            Step::SendChunks(c, chunks, pause) => {
                let rt = conn(&mut conns, *c);
                for (i, ch) in chunks.iter().enumerate() {
                    if i > 0 {
                        thread::sleep(*pause);
                    }
                    rt.write(ch);
                }
            }
            Step::Sync(c) => conn(&mut conns, *c).sync(),
            Step::Expect {
                conn: c,
                prefix,
                count,
                timeout,
            } => {
                let rt = conn(&mut conns, *c);
                let ok = rt.rx.wait(*timeout, |st| {
                    st.eof || count_prefix(&st.buf, prefix) >= *count
                });
                if !ok {
                    rt.events.push(format!(
                        "timeout: fewer than {count} lines starting with {prefix:?} within {timeout:?}"
                    ));
                }
            }
            Step::Eof(c, timeout) => {
                let rt = conn(&mut conns, *c);
                if !rt.rx.wait(*timeout, |st| st.eof) {
                    rt.events
                        .push(format!("timeout: server did not close within {timeout:?}"));
                }
            }
            Step::Quiet(c, d) => {
                let rt = conn(&mut conns, *c);
                let since = Instant::now();
                let bound = *d + Duration::from_secs(5);
                loop {
                    let (eof, last) = {
                        let g = rt.rx.m.lock().expect("rx");
                        (g.eof, g.last_rx)
                    };
                    if eof {
                        break;
                    }
                    let quiet_since = last.map_or(since, |l| l.max(since));
                    let now = Instant::now();
                    if now.duration_since(quiet_since) >= *d {
                        break;
                    }
                    if now.duration_since(since) >= bound {
                        rt.events.push(format!("never quiet for {d:?}"));
                        break;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            }
            Step::Sleep(d) => thread::sleep(*d),
            Step::Close(c) => {
                let rt = conn(&mut conns, *c);
                if let Some(s) = rt.stream.take() {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
        }
    }
    if session.final_barrier {
        for _round in 0..2 {
            for rt in conns.iter_mut().flatten() {
                if rt.stream.is_some() {
                    rt.sync();
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let mut outs = Vec::new();
    for rt in conns.iter_mut() {
        let Some(rt) = rt else {
            outs.push(ConnOutput::default());
            continue;
        };
        let (raw, closed) = {
            let g = rt.rx.m.lock().expect("rx");
            (g.buf.clone(), g.eof && rt.stream.is_some())
        };
        if let Some(s) = rt.stream.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(h) = rt.reader.take() {
            let _ = h.join();
        }
        outs.push(ConnOutput {
            raw,
            closed,
            events: std::mem::take(&mut rt.events),
        });
    }
    SideOutput {
        imp,
        conns: outs,
        log_tail: server.log_tail(30),
        elapsed,
    }
}

/// `127.0.0.1:<route port>` from the server's `Listening for route
/// connections on 127.0.0.1:PORT` log line (waited for, briefly).
fn route_addr(server: &crate::Server) -> String {
    const LINE: &str = "Listening for route connections on 127.0.0.1:";
    let log = server.wait_for_log(LINE, SYNC_TIMEOUT);
    let port: String = log
        .split(LINE)
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    format!("127.0.0.1:{port}")
}

fn escape(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn render_info(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"INFO ")?;
    let (json, suffix) = if let Some(j) = rest.strip_suffix(b" \r\n") {
        (j, " \\r\\n")
    } else if let Some(j) = rest.strip_suffix(b"\r\n") {
        (j, "\\r\\n")
    } else {
        return None;
    };
    let mut v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let obj = v.as_object_mut()?;
    for k in MASKED_INFO_KEYS {
        if let Some(x) = obj.get_mut(*k) {
            *x = serde_json::Value::String("<masked>".into());
        }
    }
    // serde_json's map is ordered by key: the key set and values compare,
    // the servers' field order does not.
    Some(format!("INFO {v}{suffix}"))
}

/// Renders what a connection received as comparable lines.
pub fn normalize(session: &Session, conn: usize, out: &ConnOutput) -> Vec<String> {
    let qsids: &[String] = session
        .queue_sids
        .iter()
        .find(|(c, _)| *c == conn)
        .map_or(&[], |(_, s)| s.as_slice());
    let route = session.route_conns.contains(&conn);
    let mut lines = Vec::new();
    for u in parse_units(&out.raw) {
        match u {
            Unit::Line(l) => {
                if !session.keep_server_pings && line_is(&l, "PING") {
                    continue;
                }
                if route && l.starts_with(b"INFO ") {
                    lines.push("INFO <route INFO, not compared>".to_string());
                    continue;
                }
                lines.push(render_info(&l).unwrap_or_else(|| escape(&l)));
            }
            Unit::Msg(ctl, payload) => {
                let text = String::from_utf8_lossy(&ctl).into_owned();
                let mut toks: Vec<&str> = text.split_ascii_whitespace().collect();
                let mut changed = false;
                if toks.len() >= 3 && qsids.iter().any(|s| s == toks[2]) {
                    toks[2] = "<q>";
                    changed = true;
                }
                // Service-import replies are random `_R_.xxxxxx.yyyyyy`.
                for t in toks.iter_mut().skip(1) {
                    if is_service_reply(t) {
                        *t = "_R_.<masked>";
                        changed = true;
                    }
                }
                let ctl = if changed {
                    format!("{}\\r\\n", toks.join(" "))
                } else {
                    escape(&ctl)
                };
                if let Some(event) = mask_trace_event(&payload) {
                    // Its size moves with the masked values; its spacing
                    // (the double space of a server's own message) stays.
                    let ctl = ctl.trim_end_matches("\\r\\n");
                    let cut = ctl.rfind(' ').map_or(ctl.len(), |i| i + 1);
                    lines.push(format!("{}<size>\\r\\n {event}", &ctl[..cut]));
                    continue;
                }
                lines.push(format!("{ctl} {}", escape(&payload)));
            }
            Unit::Partial(p) => lines.push(format!("<partial> {}", escape(&p))),
        }
    }
    for e in &out.events {
        lines.push(format!("<{e}>"));
    }
    lines.push(if out.closed {
        "<closed by server>".to_string()
    } else {
        "<open>".to_string()
    });
    lines
}

/// A message-trace event (`{"server":{...},...,"events":[...]}`) with
/// what differs between servers and runs masked, the text otherwise kept
/// as sent (key order is part of the format): the server's id, name and
/// time, the system-message `seq`, each event's `ts`, and connection ids.
/// `None` for any other payload.
pub fn mask_trace_event(payload: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(payload).ok()?;
    // An event with `Content-Encoding` has a header block first.
    let (headers, text) = match text.split_once("\r\n\r\n") {
        Some((h, body)) if h.starts_with("NATS/1.0") => (&text[..h.len() + 4], body),
        _ => ("", text),
    };
    if !text.starts_with("{\"server\":{") || !text.contains("\"events\":[") {
        return None;
    }
    let mut out = text.to_string();
    for key in ["id", "time", "ts"] {
        out = mask_values(&out, &format!("\"{key}\":\""), |rest| rest.find('"'));
    }
    for key in ["seq", "cid"] {
        out = mask_values(&out, &format!("\"{key}\":"), |rest| {
            Some(
                rest.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len()),
            )
        });
    }
    // The server's own name (its id, when unnamed): the first `name`.
    let head = "{\"server\":{\"name\":\"";
    if let Some(end) = out[head.len()..].find('"') {
        out.replace_range(head.len()..head.len() + end, "<masked>");
    }
    Some(format!("{}{out}", headers.escape_default()))
}

/// `text` with the value after every `key` (up to where `end` says, in
/// the rest) replaced by `<masked>`.
fn mask_values(text: &str, key: &str, end: impl Fn(&str) -> Option<usize>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        let start = i + key.len();
        out.push_str(&rest[..start]);
        let Some(len) = end(&rest[start..]) else {
            rest = &rest[start..];
            continue;
        };
        out.push_str("<masked>");
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// `_R_.` followed by two tokens of six letters or digits.
fn is_service_reply(t: &str) -> bool {
    let Some(rest) = t.strip_prefix("_R_.") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    parts.len() == 2
        && parts
            .iter()
            .all(|p| p.len() == 6 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A line diff (LCS), `-` for `a` only, `+` for `b` only.
pub fn line_diff(a: &[String], b: &[String]) -> String {
    let (n, m) = (a.len(), b.len());
    if n * m > 4_000_000 {
        return format!("--- a ({n} lines)\n+++ b ({m} lines)\n(too long to diff)\n");
    }
    let mut l = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[i][j] = if a[i] == b[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push_str(&format!("    {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || l[i + 1][j] >= l[i][j + 1]) {
            out.push_str(&format!("  - {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("  + {}\n", b[j]));
            j += 1;
        }
    }
    out
}

fn describe_steps(s: &Session) -> String {
    let mut out = String::new();
    if !s.args.is_empty() {
        out.push_str(&format!("  args: {}\n", s.args.join(" ")));
    }
    if let Some(c) = &s.config {
        out.push_str(&format!("  config: {}\n", c.replace('\n', "\\n")));
    }
    for st in &s.steps {
        let line = match st {
            Step::Open(c) => format!("open {c}"),
            Step::OpenRoute(c) => format!("open {c} to the route port"),
            Step::Send(c, d) => {
                let e = escape(d);
                if e.len() > 200 {
                    format!("send {c} {}... ({} bytes)", &e[..200], d.len())
                } else {
                    format!("send {c} {e}")
                }
            }
            Step::SendChunks(c, ch, _) => format!(
                "send {c} in writes: {}",
                ch.iter().map(|x| escape(x)).collect::<Vec<_>>().join(" | ")
            ),
            Step::Sync(c) => format!("sync {c} (PING, wait PONG)"),
            Step::Expect {
                conn,
                prefix,
                count,
                timeout,
            } => format!("wait on {conn} for {count}x {prefix:?} (max {timeout:?})"),
            Step::Eof(c, t) => format!("wait for server to close {c} (max {t:?})"),
            Step::Quiet(c, d) => format!("wait until {c} quiet for {d:?}"),
            Step::Sleep(d) => format!("sleep {d:?}"),
            Step::Close(c) => format!("client closes {c}"),
        };
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn info_objects(out: &ConnOutput) -> Vec<serde_json::Map<String, serde_json::Value>> {
    parse_units(&out.raw)
        .into_iter()
        .filter_map(|u| match u {
            Unit::Line(l) => {
                let j = l.strip_prefix(b"INFO ")?;
                serde_json::from_slice::<serde_json::Value>(j.trim_ascii())
                    .ok()?
                    .as_object()
                    .cloned()
            }
            Unit::Msg(..) | Unit::Partial(_) => None,
        })
        .collect()
}

/// Key-level differences between the INFOs two servers sent on one connection.
fn info_diff(a: &ConnOutput, b: &ConnOutput, na: Impl, nb: Impl) -> String {
    let mut out = String::new();
    for (k, (ia, ib)) in info_objects(a)
        .iter()
        .zip(info_objects(b).iter())
        .enumerate()
    {
        let only_a: Vec<&String> = ia.keys().filter(|x| !ib.contains_key(*x)).collect();
        let only_b: Vec<&String> = ib.keys().filter(|x| !ia.contains_key(*x)).collect();
        let vals: Vec<String> = ia
            .iter()
            .filter(|(x, v)| {
                !MASKED_INFO_KEYS.contains(&x.as_str()) && ib.get(*x).is_some_and(|w| w != *v)
            })
            .map(|(x, v)| format!("{x}: {v} vs {}", ib[x]))
            .collect();
        if !only_a.is_empty() || !only_b.is_empty() || !vals.is_empty() {
            out.push_str(&format!(
                "  INFO #{k}: keys only from {na}: {only_a:?}; only from {nb}: {only_b:?}; values differ: {vals:?}\n"
            ));
        }
    }
    out
}

/// Compares two runs of `session`; `Err` holds a readable report.
pub fn compare(session: &Session, a: &SideOutput, b: &SideOutput) -> Result<(), String> {
    let n = a.conns.len().max(b.conns.len());
    let mut report = String::new();
    for c in 0..n {
        let empty = ConnOutput::default();
        let la = normalize(session, c, a.conns.get(c).unwrap_or(&empty));
        let lb = normalize(session, c, b.conns.get(c).unwrap_or(&empty));
        if la != lb {
            report.push_str(&format!(
                "connection {c}: (- {} / + {})\n{}{}",
                a.imp,
                b.imp,
                line_diff(&la, &lb),
                if session.route_conns.contains(&c) {
                    String::new()
                } else {
                    info_diff(
                        a.conns.get(c).unwrap_or(&empty),
                        b.conns.get(c).unwrap_or(&empty),
                        a.imp,
                        b.imp,
                    )
                }
            ));
        }
    }
    if report.is_empty() {
        return Ok(());
    }
    Err(format!(
        "session `{}` differs\nscript:\n{}{}{} log tail:\n{}\n",
        session.name,
        describe_steps(session),
        report,
        b.imp,
        b.log_tail
    ))
}

/// Result of one session in a differential run.
#[derive(Debug)]
pub struct Outcome {
    /// Session name.
    pub name: String,
    /// `Ok` or the report.
    pub result: Result<(), String>,
    /// Reference output (for golden files).
    pub reference: Option<SideOutput>,
    /// Wall time (both sides run concurrently).
    pub elapsed: Duration,
}

fn run_pair(s: &Session, a: Impl, b: Impl) -> Outcome {
    let started = Instant::now();
    let res = thread::scope(|sc| {
        let ha = sc.spawn(|| run_side(s, a));
        let hb = sc.spawn(|| run_side(s, b));
        (ha.join(), hb.join())
    });
    let (result, reference) = match res {
        (Ok(ra), Ok(rb)) => (compare(s, &ra, &rb), Some(ra)),
        (Err(e), _) => (
            Err(format!("{}: {a} side panicked: {}", s.name, panic_text(&e))),
            None,
        ),
        (_, Err(e)) => (
            Err(format!("{}: {b} side panicked: {}", s.name, panic_text(&e))),
            None,
        ),
    };
    Outcome {
        name: s.name.clone(),
        result,
        reference,
        elapsed: started.elapsed(),
    }
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "panic".into()
    }
}

/// Runs every session against `a` and `b` (each on fresh servers), `jobs`
/// sessions at a time; results come back in session order.
pub fn run_all(sessions: &[Session], a: Impl, b: Impl, jobs: usize) -> Vec<Outcome> {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Outcome>>> =
        Mutex::new((0..sessions.len()).map(|_| None).collect());
    thread::scope(|sc| {
        for _ in 0..jobs.max(1) {
            sc.spawn(|| loop {
                let i = {
                    let mut n = next.lock().expect("next");
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(s) = sessions.get(i) else {
                    return;
                };
                let o = run_pair(s, a, b);
                results.lock().expect("results")[i] = Some(o);
            });
        }
    });
    results
        .into_inner()
        .expect("results")
        .into_iter()
        .map(|o| o.expect("every session ran"))
        .collect()
}

/// A golden-file rendering of one run: per connection, the raw bytes received
/// (escaped, one server unit per line) and whether the server closed it.
pub fn golden_text(session: &Session, out: &SideOutput) -> String {
    let mut t = format!("# session {}\n# server: {}\n", session.name, out.imp);
    t.push_str("# script:\n");
    for l in describe_steps(session).lines() {
        t.push_str(&format!("#{l}\n"));
    }
    for (i, c) in out.conns.iter().enumerate() {
        t.push_str(&format!("== connection {i}\n"));
        for l in normalize(session, i, c) {
            t.push_str(&l);
            t.push('\n');
        }
    }
    t
}
