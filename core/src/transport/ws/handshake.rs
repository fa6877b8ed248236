//! The HTTP upgrade that starts a WebSocket connection, both roles, as
//! pure functions: nothing here keeps state between calls.
//!
//! ## Server role (a websocket port)
//!
//! nats-server answers upgrades with Go's `net/http` server, so a request
//! can be refused at three levels, each with its own bytes (captured from
//! nats-server 2.15.1):
//!
//! 1. Go's HTTP server, before nats-server sees the request (a malformed
//!    request line or header, no `Host` in HTTP/1.1, HTTP/2 and later):
//!    `HTTP/1.1 400 Bad Request[: detail]`, `Connection: close`, no
//!    `Date`, and the connection closes. nats-server logs nothing.
//! 2. Go's `ServeMux`: a request for `*` (400, or 200 for `OPTIONS *`) and
//!    a path that is not clean (`//leafnode`, `/a/../b`: a 307 redirect to
//!    the clean path).
//! 3. nats-server's upgrade handler (`wsUpgrade`): `http.Error` with
//!    `Sec-Websocket-Version: 13`, logged as `<addr> - websocket handshake
//!    error: <text>`.
//!
//! Answers of levels 2 and 3 are ordinary HTTP responses: on HTTP/1.1 the
//! connection stays open for another request unless the client asked to
//! close ([`HandshakeError::keep_alive`]); they carry a `Date` header, so
//! [`error_response`] takes the date (see `monitor::timefmt::http_date`).
//!
//! The engine's order, as nats-server's: [`parse_request`] (levels 1 to 3
//! up to the version check), [`check_origin`], then bytes that came after
//! the request ([`HandshakeError::data_before_handshake`]), then, for a
//! leaf path on a server without a leaf port, a silent close (nats-server
//! logs `Not configured to accept leaf node connections`). Then
//! [`response_101`], and the WebSocket layer on at the byte after the
//! request.
//!
//! ## Client role (a soliciting leaf with a `ws://` remote)
//!
//! [`client_request`] writes the request Go's HTTP client writes for
//! nats-server; [`parse_response`] checks the answer as
//! `leafNodeSolicitWSConnection` does and tells what was agreed.

use super::WsOptions;
use crate::auth::base64_std_encode;
use sha1::{Digest, Sha1};

/// Most bytes of a request head (request line and headers) the server
/// role reads before refusing with `431 Request Header Fields Too Large`.
///
/// Go's HTTP server allows 1 MiB + 4 KiB; 64 KiB is four times what
/// nginx or Node.js let through, so any request that crossed a proxy
/// fits, while a connection that never finishes its head holds (and
/// rescans) at most 64 KiB.
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Most bytes of a response head the client role reads (Go sets no
/// bound).
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// RFC 6455's GUID for `Sec-WebSocket-Accept`.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The extension offer and answer nats-server uses.
const PMC_VALUE: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// What an upgrade request asks to become, from its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsKind {
    /// A NATS client (any path not below).
    Client,
    /// A leaf node (path ends with `/leafnode`).
    Leaf,
    /// An MQTT client (path ends with `/mqtt`).
    Mqtt,
}

/// An upgrade request that passed nats-server's checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request path as sent, without the query.
    pub path: String,
    /// What the path asks for.
    pub kind: WsKind,
    /// The host asked for (`Host` header, or the host of an absolute
    /// request URI), as sent.
    pub host: String,
    /// `Origin`, else `Sec-WebSocket-Origin`, if present and not empty.
    pub origin: Option<String>,
    /// `Sec-WebSocket-Key` (base64 of 16 bytes).
    pub key: String,
    /// The client offered permessage-deflate. nats-server accepts any
    /// offer (whatever its parameters) when its `compression` is on, and
    /// answers with both no-context-takeover parameters.
    pub compress_offered: bool,
    /// `Nats-No-Masking: true` was sent. nats-server honours it for every
    /// kind: the peer's frames are then read unmasked.
    pub no_masking: bool,
    /// The cookies, in order (Go's `Request.Cookies`: malformed ones are
    /// left out, quotes around values removed). nats-server reads its
    /// `jwt_cookie`, `user_cookie`, `pass_cookie`, `token_cookie` from
    /// these for clients and MQTT, not leafs.
    pub cookies: Vec<(String, String)>,
    /// `User-Agent`, if sent.
    pub user_agent: Option<String>,
    /// The first `X-Forwarded-For` value, if sent (nats-server uses it as
    /// the client IP when it parses as an IP address).
    pub forwarded_for: Option<String>,
    /// How an HTTP answer to this request is shaped (an origin refusal).
    pub style: HttpStyle,
}

impl UpgradeRequest {
    /// Whether nats-server takes the peer for a browser (`User-Agent`
    /// starting with `Mozilla/`, for clients and MQTT): it then writes
    /// frames of at most [`super::BROWSER_FRAME_SIZE`] bytes.
    pub fn is_browser(&self) -> bool {
        self.kind != WsKind::Leaf
            && self
                .user_agent
                .as_deref()
                .is_some_and(|ua| ua.starts_with("Mozilla/"))
    }

    /// Whether nats-server takes the browser for Safari (`Version/` and
    /// `Safari/` in `User-Agent`), which gets compressed messages in one
    /// frame whatever their size.
    pub fn is_safari(&self) -> bool {
        self.is_browser()
            && self
                .user_agent
                .as_deref()
                .is_some_and(|ua| ua.contains("Version/") && ua.contains("Safari/"))
    }

    /// The frame options nats-server uses for this peer, given whether
    /// the server's `compression` is on and the largest message it takes
    /// (its `max_payload`).
    pub fn server_options(&self, compression: bool, max_message: usize) -> WsOptions {
        let compress = compression && self.compress_offered;
        let browser = self.is_browser();
        WsOptions {
            role: super::WsRole::Server,
            compress,
            mask: false,
            require_masked: !self.no_masking,
            max_message,
            frame_limit: if browser {
                super::BROWSER_FRAME_SIZE
            } else {
                0
            },
            fragment_compressed: !(compress && self.is_safari()),
        }
    }
}

/// The shape of an HTTP answer to a request, as Go's server decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpStyle {
    /// The request was HTTP/1.1 or later: the status line says
    /// `HTTP/1.1`, else `HTTP/1.0`.
    pub http11: bool,
    /// The connection stays open after the answer (HTTP/1.1 without
    /// `Connection: close`; HTTP/1.0 with `Connection: keep-alive`).
    pub keep_alive: bool,
}

impl HttpStyle {
    /// The `Connection` header Go's server adds after `Content-Length`.
    fn connection(self) -> Option<&'static str> {
        match (self.http11, self.keep_alive) {
            (true, false) => Some("close"),
            (false, true) => Some("keep-alive"),
            (true, true) | (false, false) => None,
        }
    }

    fn version(self) -> &'static str {
        if self.http11 {
            "HTTP/1.1"
        } else {
            "HTTP/1.0"
        }
    }
}

/// An upgrade request that is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeError {
    /// The HTTP status of the answer (0 when there is none).
    pub status: u16,
    /// Why: nats-server's text for its log line when [`Self::logged`],
    /// else Go's reason (for debug logs).
    pub text: String,
    /// nats-server logs it (`<addr> - websocket handshake error: <text>`,
    /// at error level): the upgrade handler's refusals.
    pub logged: bool,
    /// The connection stays open after the answer: the next request
    /// starts at byte [`Self::consumed`].
    pub keep_alive: bool,
    /// Bytes of the refused request head.
    pub consumed: usize,
    answer: Answer,
    style: HttpStyle,
}

/// Which code writes the answer, and what it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    /// Go's HTTP server: `HTTP/1.1 <line>`, `Content-Type`,
    /// `Connection: close`, then `body`.
    Server { line: String, body: String },
    /// Go's `ServeMux` for the request URI `*`: 200 for `OPTIONS`,
    /// else 400, no body.
    Star { options: bool },
    /// Go's `ServeMux` for a path that is not clean.
    Redirect { location: String, method: Method },
    /// nats-server's `wsReturnHTTPError` (`http.Error`).
    Upgrade,
    /// The connection is closed without an answer.
    Silent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Other,
}

impl HandshakeError {
    /// Bytes followed the request in what was read before the answer:
    /// nats-server logs `client sent data before handshake is complete`
    /// and closes without answering. `consumed` is the request's length.
    pub fn data_before_handshake(consumed: usize) -> Self {
        HandshakeError {
            status: 400,
            text: "client sent data before handshake is complete".into(),
            logged: true,
            keep_alive: false,
            consumed,
            answer: Answer::Silent,
            style: HttpStyle {
                http11: true,
                keep_alive: false,
            },
        }
    }

    /// Whether nothing is written before closing.
    pub fn is_silent(&self) -> bool {
        self.answer == Answer::Silent
    }

    /// Go's HTTP server refusing a request it cannot read.
    fn server(status: u16, why: &str, detail: Option<&str>, consumed: usize) -> Self {
        let reason = status_text(status);
        let line = match detail {
            Some(d) => format!("{status} {reason}: {d}"),
            None => format!("{status} {reason}"),
        };
        HandshakeError {
            status,
            text: why.into(),
            logged: false,
            keep_alive: false,
            consumed,
            answer: Answer::Server {
                body: line.clone(),
                line,
            },
            style: HttpStyle {
                http11: true,
                keep_alive: false,
            },
        }
    }

    fn plain(why: &str, consumed: usize) -> Self {
        Self::server(400, why, None, consumed)
    }

    fn upgrade(status: u16, text: impl Into<String>, style: HttpStyle, consumed: usize) -> Self {
        HandshakeError {
            status,
            text: text.into(),
            logged: true,
            keep_alive: style.keep_alive,
            consumed,
            answer: Answer::Upgrade,
            style,
        }
    }
}

/// The bytes nats-server (through Go's HTTP server) writes for a refused
/// request; empty when it closes without answering. `date` is the
/// `Date` header's value (`Mon, 07 Dec 2026 20:48:52 GMT`), used by the
/// answers that carry one.
pub fn error_response(err: &HandshakeError, date: &str) -> Vec<u8> {
    let style = err.style;
    let mut out = String::with_capacity(256);
    let status_line = |out: &mut String| {
        out.push_str(style.version());
        out.push(' ');
        out.push_str(&err.status.to_string());
        out.push(' ');
        out.push_str(status_text(err.status));
        out.push_str("\r\n");
    };
    let tail = |out: &mut String, length: Option<usize>| {
        out.push_str("Date: ");
        out.push_str(date);
        out.push_str("\r\n");
        if let Some(n) = length {
            out.push_str("Content-Length: ");
            out.push_str(&n.to_string());
            out.push_str("\r\n");
        }
    };
    match err.answer {
        Answer::Silent => return Vec::new(),
        Answer::Server { ref line, ref body } => {
            out.push_str("HTTP/1.1 ");
            out.push_str(line);
            out.push_str(
                "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n",
            );
            out.push_str(body);
        }
        Answer::Upgrade => {
            let body = status_text(err.status);
            status_line(&mut out);
            out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
            out.push_str("Sec-Websocket-Version: 13\r\n");
            out.push_str("X-Content-Type-Options: nosniff\r\n");
            tail(&mut out, Some(body.len() + 1));
            push_connection(&mut out, style.connection());
            out.push_str("\r\n");
            out.push_str(body);
            out.push('\n');
        }
        Answer::Star { options: true } => {
            status_line(&mut out);
            out.push_str("Content-Length: 0\r\n");
            tail(&mut out, None);
            push_connection(&mut out, style.connection());
            out.push_str("\r\n");
        }
        Answer::Star { options: false } => {
            status_line(&mut out);
            // The mux sets `Connection: close` itself on HTTP/1.1.
            if style.http11 {
                out.push_str("Connection: close\r\n");
            }
            tail(&mut out, Some(0));
            if !style.http11 {
                push_connection(&mut out, style.connection());
            }
            out.push_str("\r\n");
        }
        Answer::Redirect {
            ref location,
            method,
        } => {
            status_line(&mut out);
            if method != Method::Other {
                out.push_str("Content-Type: text/html; charset=utf-8\r\n");
            }
            out.push_str("Location: ");
            out.push_str(location);
            out.push_str("\r\n");
            let body = format!(
                "<a href=\"{}\">{}</a>.\n\n",
                html_escape(location),
                status_text(err.status)
            );
            match method {
                Method::Get => tail(&mut out, Some(body.len())),
                Method::Head => tail(&mut out, None),
                Method::Other => tail(&mut out, Some(0)),
            }
            push_connection(&mut out, style.connection());
            out.push_str("\r\n");
            if method == Method::Get {
                out.push_str(&body);
            }
        }
    }
    out.into_bytes()
}

fn push_connection(out: &mut String, value: Option<&str>) {
    if let Some(v) = value {
        out.push_str("Connection: ");
        out.push_str(v);
        out.push_str("\r\n");
    }
}

/// Go's `http.StatusText` for the statuses answered here.
fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Go's `html.EscapeString` as `http.Redirect` uses it.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

/// One header as read: the name lowercased, the value trimmed, and
/// whether the name had a space in it (which Go reads, then refuses).
struct Field {
    name: String,
    value: String,
    spaced: bool,
}

/// Header lookups with Go's `http.Header` semantics (case-insensitive
/// names, several values per name).
struct Fields(Vec<Field>);

impl Fields {
    /// All values of `name` (lowercase), in order.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |f| f.name == name)
            .map(|f| f.value.as_str())
    }

    /// `Header.Get`: the first value, or "".
    fn get<'a>(&'a self, name: &'a str) -> &'a str {
        self.all(name).next().unwrap_or("")
    }

    /// `wsHeaderContains`: a comma-separated token equal to `token`
    /// (ignoring case) in any value.
    fn contains_token(&self, name: &str, token: &str) -> bool {
        self.all(name).any(|v| has_token(v, token))
    }
}

fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
}

/// A line of an HTTP head: its bytes without the line end, and where the
/// next line starts. Go's reader takes `\n` and `\r\n` as line ends.
fn next_line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let nl = memchr::memchr(b'\n', buf.get(from..)?)? + from;
    let mut line = &buf[from..nl];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    Some((line, nl + 1))
}

/// The header lines of a head, read as Go's `textproto` reads them.
enum Head {
    /// The blank line has not come yet; all complete lines are valid.
    Partial,
    /// The headers, and the offset after the blank line.
    Done(Fields, usize),
    /// A malformed line.
    Bad,
}

fn read_fields(buf: &[u8], mut at: usize) -> Head {
    let mut fields: Vec<Field> = Vec::new();
    let mut first = true;
    // A line and its continuation lines, joined.
    let mut pending: Option<String> = None;
    loop {
        let Some((line, next)) = next_line(buf, at) else {
            return Head::Partial;
        };
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if continuation && first {
            return Head::Bad;
        }
        first = false;
        if continuation {
            if let Some(p) = pending.as_mut() {
                p.push(' ');
                p.push_str(&String::from_utf8_lossy(trim(line)));
            }
            at = next;
            continue;
        }
        if let Some(p) = pending.take() {
            match field(p.as_bytes()) {
                Some(Some(f)) => fields.push(f),
                Some(None) => {}
                None => return Head::Bad,
            }
        }
        if line.is_empty() {
            return Head::Done(Fields(fields), next);
        }
        pending = Some(String::from_utf8_lossy(trim(line)).into_owned());
        at = next;
    }
}

/// Splits `name: value`. `None`: malformed; `Some(None)`: an empty name,
/// skipped as Go does.
fn field(kv: &[u8]) -> Option<Option<Field>> {
    let colon = memchr::memchr(b':', kv)?;
    let (name, value) = (&kv[..colon], &kv[colon + 1..]);
    let mut spaced = false;
    for &c in name {
        if c == b' ' {
            spaced = true;
        } else if !is_token(c) {
            return None;
        }
    }
    if !value.iter().all(|&c| valid_value_byte(c)) {
        return None;
    }
    if name.is_empty() {
        return Some(None);
    }
    Some(Some(Field {
        name: String::from_utf8_lossy(name).to_ascii_lowercase(),
        value: String::from_utf8_lossy(trim(value)).into_owned(),
        spaced,
    }))
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// An RFC 7230 token character.
fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// A byte Go allows in a header value: visible ASCII, space, tab and
/// anything above 0x7f.
fn valid_value_byte(c: u8) -> bool {
    c == b'\t' || (0x20..0x7f).contains(&c) || c >= 0x80
}

/// Go's `httpguts.ValidHostHeader`.
fn valid_host_header(h: &str) -> bool {
    h.bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&c))
}

/// The parts of a request URI (or an origin) Go's `url.ParseRequestURI`
/// gives.
struct Uri {
    /// Lowercased scheme ("" for a path).
    scheme: String,
    /// Host and port of an absolute URI ("" otherwise).
    host: String,
    /// The path as sent (escaped).
    path: String,
    /// The query without `?`.
    query: String,
}

/// Go's `url.ParseRequestURI`, for the cases a request line or an
/// `Origin` header meets; the error is Go's text after `parse "...": `.
fn parse_uri(raw: &str) -> Result<Uri, String> {
    if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw.is_empty() {
        return Err("empty url".into());
    }
    let mut uri = Uri {
        scheme: String::new(),
        host: String::new(),
        path: String::new(),
        query: String::new(),
    };
    if raw == "*" {
        uri.path = "*".into();
        return Ok(uri);
    }
    let mut rest = raw;
    // A scheme: a letter, then letters, digits, `+`, `-`, `.`, then `:`.
    for (i, c) in raw.bytes().enumerate() {
        if c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || b"+-.".contains(&c))) {
            continue;
        }
        if c == b':' {
            if i == 0 {
                return Err("missing protocol scheme".into());
            }
            uri.scheme = raw[..i].to_ascii_lowercase();
            rest = &raw[i + 1..];
        }
        break;
    }
    if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        uri.query = q.into();
    }
    if !rest.starts_with('/') {
        if !uri.scheme.is_empty() {
            // An opaque URI (`mailto:x`): no host, no path.
            return Ok(uri);
        }
        return Err("invalid URI for request".into());
    }
    if !uri.scheme.is_empty() && rest.starts_with("//") {
        let auth_end = rest[2..].find('/').map_or(rest.len(), |i| i + 2);
        let authority = &rest[2..auth_end];
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        check_host(host)?;
        uri.host = host.into();
        rest = &rest[auth_end..];
    }
    check_escapes(rest)?;
    uri.path = rest.into();
    Ok(uri)
}

/// The port of a URI host must be digits (Go's `validOptionalPort`).
fn check_host(host: &str) -> Result<(), String> {
    let after = match host.rfind(']') {
        Some(i) if host.starts_with('[') => &host[i + 1..],
        Some(_) | None => host.rfind(':').map_or("", |i| &host[i..]),
    };
    if let Some(port) = after.strip_prefix(':') {
        if !port.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("invalid port {after:?} after host"));
        }
    } else if !after.is_empty() {
        return Err(format!("invalid port {after:?} after host"));
    }
    if let Some(c) = host
        .chars()
        .find(|&c| c == ' ' || c == '<' || c == '>' || c == '"')
    {
        return Err(format!(
            "invalid character {:?} in host name",
            c.to_string()
        ));
    }
    Ok(())
}

/// Every `%` starts two hex digits (Go's `unescape`).
fn check_escapes(path: &str) -> Result<(), String> {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() >= i + 3 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                let end = (i + 3).min(b.len());
                return Err(format!(
                    "invalid URL escape {:?}",
                    String::from_utf8_lossy(&b[i..end])
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Go's `path.Clean` on a rooted path.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(p.len());
    for s in &parts {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `ServeMux`'s `cleanPath`: rooted, cleaned, a trailing slash kept.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return "/".into();
    }
    let rooted;
    let p = if p.starts_with('/') {
        p
    } else {
        rooted = format!("/{p}");
        &rooted
    };
    let mut np = clean(p);
    if p.ends_with('/') && np != "/" {
        np.push('/');
    }
    np
}

/// Go's `HTTP/x.y` parse: `(major, minor)`.
fn http_version(v: &str) -> Option<(u8, u8)> {
    let b = v.as_bytes();
    if b.len() != 8 || !v.starts_with("HTTP/") || b[6] != b'.' {
        return None;
    }
    if !b[5].is_ascii_digit() || !b[7].is_ascii_digit() {
        return None;
    }
    Some((b[5] - b'0', b[7] - b'0'))
}

/// Strict standard base64 of exactly 16 bytes, as Go's
/// `base64.StdEncoding.DecodeString` accepts it (padding required).
fn is_key_of_16_bytes(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b[22..] == *b"=="
        && b[..22]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// Reads an upgrade request from the start of `buf` (everything the peer
/// sent so far) with nats-server's checks in its order, up to and
/// including `Sec-WebSocket-Version` (see [`check_origin`] for the next).
///
/// `Ok(None)`: the head is not complete yet, and its complete lines are
/// valid (Go refuses a malformed request line before the rest comes).
/// `Ok(Some((req, n)))`: the request, `n` bytes long; bytes after it are
/// the peer's (see [`HandshakeError::data_before_handshake`]).
/// `mqtt_enabled`: the server has an MQTT port (else `/mqtt` paths get
/// nats-server's 404, checked before everything else it checks).
pub fn parse_request(
    buf: &[u8],
    mqtt_enabled: bool,
) -> Result<Option<(UpgradeRequest, usize)>, HandshakeError> {
    let window = &buf[..buf.len().min(MAX_REQUEST_HEAD)];
    let too_large = || HandshakeError::server(431, "request header too large", None, window.len());
    let Some((line, after_line)) = next_line(window, 0) else {
        return if buf.len() > MAX_REQUEST_HEAD {
            Err(too_large())
        } else {
            Ok(None)
        };
    };
    // The request line, checked as soon as it is complete.
    let line = String::from_utf8_lossy(line);
    let Some((method, rest)) = line.split_once(' ') else {
        return Err(HandshakeError::plain("malformed HTTP request", after_line));
    };
    let Some((target, proto)) = rest.split_once(' ') else {
        return Err(HandshakeError::plain("malformed HTTP request", after_line));
    };
    if method.is_empty() || !method.bytes().all(is_token) {
        return Err(HandshakeError::plain("invalid method", after_line));
    }
    let Some((major, minor)) = http_version(proto) else {
        return Err(HandshakeError::plain("malformed HTTP version", after_line));
    };
    let connect = method == "CONNECT";
    let uri = if connect && !target.starts_with('/') {
        parse_uri(&format!("http://{target}"))
    } else {
        parse_uri(target)
    };
    let uri = match uri {
        Ok(u) => u,
        Err(e) => return Err(HandshakeError::plain(&e, after_line)),
    };
    let (fields, end) = match read_fields(window, after_line) {
        Head::Partial if buf.len() > MAX_REQUEST_HEAD => return Err(too_large()),
        Head::Partial => return Ok(None),
        Head::Bad => {
            return Err(HandshakeError::plain(
                "malformed MIME header line",
                window.len(),
            ))
        }
        Head::Done(f, end) => (f, end),
    };
    let hosts = fields.all("host").count();
    if hosts > 1 {
        return Err(HandshakeError::plain("too many Host headers", end));
    }
    let http11 = (major, minor) >= (1, 1);
    if http11 && fields.all("transfer-encoding").next().is_some() {
        let te: Vec<&str> = fields.all("transfer-encoding").collect();
        if te.len() != 1 || !te[0].eq_ignore_ascii_case("chunked") {
            let mut e = HandshakeError::server(501, "unsupported transfer encoding", None, end);
            e.answer = Answer::Server {
                line: "501 Not Implemented".into(),
                body: "Unsupported transfer encoding".into(),
            };
            return Err(e);
        }
    }
    let chunked = http11 && fields.all("transfer-encoding").next().is_some();
    let mut body = chunked;
    if !chunked {
        let mut lengths = fields.all("content-length");
        if let Some(first) = lengths.next() {
            if lengths.any(|l| l != first) {
                return Err(HandshakeError::plain(
                    "multiple Content-Length headers",
                    end,
                ));
            }
            if first.is_empty() || !first.bytes().all(|c| c.is_ascii_digit()) {
                return Err(HandshakeError::plain("bad Content-Length", end));
            }
            body = first.bytes().any(|c| c != b'0');
        }
    }
    let h2_preface = method == "PRI" && target == "*" && proto == "HTTP/2.0" && fields.0.is_empty();
    if major != 1 && !h2_preface {
        return Err(HandshakeError::server(
            505,
            "unsupported protocol version",
            Some("unsupported protocol version"),
            end,
        ));
    }
    if http11 && hosts == 0 && !connect && !h2_preface {
        let why = "missing required Host header";
        return Err(HandshakeError::server(400, why, Some(why), end));
    }
    if hosts == 1 && !valid_host_header(fields.get("host")) {
        let why = "malformed Host header";
        return Err(HandshakeError::server(400, why, Some(why), end));
    }
    if fields.0.iter().any(|f| f.spaced) {
        let why = "invalid header name";
        return Err(HandshakeError::server(400, why, Some(why), end));
    }
    // How Go's server ends an ordinary answer to this request.
    let first_conn = fields.get("connection");
    let keep_alive = if http11 {
        !fields.contains_token("connection", "close") && !h2_preface
    } else {
        has_token(first_conn, "keep-alive")
    };
    // A body announced with the request is not skipped: close instead.
    let style = HttpStyle {
        http11,
        keep_alive: keep_alive && !body,
    };
    let mux = |answer: Answer, status: u16, why: &str| HandshakeError {
        status,
        text: why.into(),
        logged: false,
        keep_alive: style.keep_alive,
        consumed: end,
        answer,
        style,
    };
    let method_kind = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    if target == "*" {
        if method == "OPTIONS" {
            return Err(mux(Answer::Star { options: true }, 200, "OPTIONS *"));
        }
        let mut e = mux(Answer::Star { options: false }, 400, "request URI *");
        if http11 {
            e.keep_alive = false;
        }
        return Err(e);
    }
    if !connect {
        let cleaned = clean_path(&uri.path);
        if cleaned != uri.path {
            let mut location = String::new();
            for c in cleaned.bytes() {
                if c >= 0x80 {
                    location.push_str(&format!("%{c:02x}"));
                } else {
                    location.push(char::from(c));
                }
            }
            if !uri.query.is_empty() {
                location.push('?');
                location.push_str(&uri.query);
            }
            let answer = Answer::Redirect {
                location,
                method: method_kind,
            };
            return Err(mux(answer, 307, "path not clean"));
        }
    }
    // nats-server's `wsUpgrade`.
    let kind = if uri.path.ends_with("/leafnode") {
        WsKind::Leaf
    } else if uri.path.ends_with("/mqtt") {
        WsKind::Mqtt
    } else {
        WsKind::Client
    };
    let refuse = |status: u16, text: &str| Err(HandshakeError::upgrade(status, text, style, end));
    if kind == WsKind::Mqtt && !mqtt_enabled {
        return refuse(404, "mqtt websocket endpoint not enabled");
    }
    if method != "GET" {
        return refuse(405, "request method must be GET");
    }
    let host = if uri.host.is_empty() {
        fields.get("host").to_string()
    } else {
        uri.host.clone()
    };
    if host.is_empty() {
        return refuse(400, "'Host' missing in request");
    }
    if !fields.contains_token("upgrade", "websocket") {
        return refuse(400, "invalid value for header 'Upgrade'");
    }
    if !fields.contains_token("connection", "Upgrade") {
        return refuse(400, "invalid value for header 'Connection'");
    }
    let key = fields.get("sec-websocket-key");
    if key.is_empty() {
        return refuse(400, "key missing");
    }
    if !is_key_of_16_bytes(key) {
        return refuse(400, "invalid websocket key");
    }
    if !fields.contains_token("sec-websocket-version", "13") {
        return refuse(400, "invalid version");
    }
    let origin = match fields.get("origin") {
        "" => fields.get("sec-websocket-origin"),
        o => o,
    };
    let optional = |name: &str| fields.all(name).next().map(str::to_string);
    let req = UpgradeRequest {
        path: uri.path,
        kind,
        host,
        origin: (!origin.is_empty()).then(|| origin.to_string()),
        key: key.to_string(),
        compress_offered: deflate_offered(fields.all("sec-websocket-extensions")).0,
        no_masking: fields.get("nats-no-masking") == "true",
        cookies: cookies(fields.all("cookie")),
        user_agent: optional("user-agent"),
        forwarded_for: optional("x-forwarded-for"),
        style,
    };
    Ok(Some((req, end)))
}

/// nats-server's `wsPMCExtensionSupport`: whether some extension of the
/// list names permessage-deflate, and whether both no-context-takeover
/// parameters follow it.
fn deflate_offered<'a>(values: impl Iterator<Item = &'a str>) -> (bool, bool) {
    for list in values {
        for ext in list.split(',') {
            let params: Vec<&str> = ext
                .trim_matches([' ', '\t'])
                .split(';')
                .map(|p| p.trim_matches([' ', '\t']))
                .collect();
            for (i, p) in params.iter().enumerate() {
                if p.eq_ignore_ascii_case("permessage-deflate") {
                    let rest = &params[i + 1..];
                    let has = |name: &str| rest.iter().any(|p| p.eq_ignore_ascii_case(name));
                    return (
                        true,
                        has("server_no_context_takeover") && has("client_no_context_takeover"),
                    );
                }
            }
        }
    }
    (false, false)
}

/// Go's `readCookies` with no filter.
fn cookies<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in lines {
        for part in line.split(';') {
            let part = part.trim_matches([' ', '\t']);
            if part.is_empty() {
                continue;
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = name.trim_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(is_token) {
                continue;
            }
            let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(v) if value.len() > 1 => v,
                Some(_) | None => value,
            };
            let valid = value
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b';' && b != b'\\');
            if valid {
                out.push((name.to_string(), value.to_string()));
            }
        }
    }
    out
}

/// nats-server's origin check (`checkOrigin`), after [`parse_request`]:
/// with `same_origin` the `Origin` must name the request's own scheme
/// (`https` when the listener is TLS), host and port; with `allowed`
/// (the `allowed_origins` URLs) it must match one's scheme, host and
/// port. A request without `Origin` passes. A refusal is a 403 with
/// nats-server's text (`origin not allowed: not same origin`); its
/// [`HandshakeError::consumed`] is 0 (the request's length is what
/// [`parse_request`] returned).
pub fn check_origin(
    req: &UpgradeRequest,
    same_origin: bool,
    allowed: &[String],
    listener_tls: bool,
) -> Result<(), HandshakeError> {
    if !same_origin && allowed.is_empty() {
        return Ok(());
    }
    let Some(origin) = req.origin.as_deref() else {
        return Ok(());
    };
    let refuse = |why: String| {
        HandshakeError::upgrade(403, format!("origin not allowed: {why}"), req.style, 0)
    };
    let u = parse_uri(origin).map_err(|e| refuse(format!("parse {origin:?}: {e}")))?;
    let (oh, op) = host_and_port(u.scheme == "https", &u.host).map_err(refuse)?;
    if same_origin {
        let (rh, rp) = host_and_port(listener_tls, &req.host).map_err(refuse)?;
        let rs = if listener_tls { "https" } else { "http" };
        if oh != rh || op != rp || !u.scheme.eq_ignore_ascii_case(rs) {
            return Err(refuse("not same origin".into()));
        }
    }
    if !allowed.is_empty() {
        let ok = allowed.iter().any(|a| {
            let Ok(au) = parse_uri(a) else {
                return false;
            };
            let Ok((ah, ap)) = host_and_port(au.scheme == "https", &au.host) else {
                return false;
            };
            ah == oh && au.scheme == u.scheme && ap == op
        });
        if !ok {
            return Err(refuse("not in the allowed list".into()));
        }
    }
    Ok(())
}

/// nats-server's `wsGetHostAndPort`: Go's `net.SplitHostPort`, with the
/// scheme's default port when there is none; the host lowercased.
fn host_and_port(tls: bool, hostport: &str) -> Result<(String, String), String> {
    let fail = |why: &str| Err(format!("address {hostport}: {why}"));
    let default = || {
        let port = if tls { "443" } else { "80" };
        Ok((hostport.to_ascii_lowercase(), port.to_string()))
    };
    let Some(i) = hostport.rfind(':') else {
        return default();
    };
    let (host, j, k);
    if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return fail("missing ']' in address");
        };
        if end + 1 == hostport.len() {
            return default();
        }
        if end + 1 != i {
            if hostport.as_bytes()[end + 1] == b':' {
                return fail("too many colons in address");
            }
            return default();
        }
        host = &hostport[1..end];
        (j, k) = (1, end + 1);
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return fail("too many colons in address");
        }
        (j, k) = (0, 0);
    }
    if hostport[j..].contains('[') {
        return fail("unexpected '[' in address");
    }
    if hostport[k..].contains(']') {
        return fail("unexpected ']' in address");
    }
    Ok((host.to_ascii_lowercase(), hostport[i + 1..].to_string()))
}

/// `Sec-WebSocket-Accept` for `key`: base64 of the SHA-1 of the key and
/// RFC 6455's GUID.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID);
    base64_std_encode(&h.finalize())
}

/// nats-server's `101 Switching Protocols`, header order and all:
/// `Upgrade`, `Connection`, `Sec-WebSocket-Accept`, then permessage-deflate
/// with both no-context-takeover parameters when agreed, `Nats-No-Masking:
/// true` when the peer asked for it, then `extra_headers` (the websocket
/// block's `headers`, written as given; an MQTT upgrade puts
/// `Sec-Websocket-Protocol: mqtt` first).
pub fn response_101(
    key: &str,
    compress: bool,
    no_masking: bool,
    extra_headers: &[(String, String)],
) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.push_str(&accept_key(key));
    out.push_str("\r\n");
    if compress {
        out.push_str("Sec-WebSocket-Extensions: ");
        out.push_str(PMC_VALUE);
        out.push_str("\r\n");
    }
    if no_masking {
        out.push_str("Nats-No-Masking: true\r\n");
    }
    for (k, v) in extra_headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The `Sec-WebSocket-Key` for 16 random bytes (the engine draws them
/// from its seeded stream).
pub fn client_key(bytes: [u8; 16]) -> String {
    base64_std_encode(&bytes)
}

/// The request path of a leaf's `ws://` remote: the URL's path with
/// `leafnode` joined to it (`/leafnode`, `/some/path/leafnode`), as
/// nats-server builds it.
pub fn leaf_path(url_path: &str) -> String {
    let cur = url_path.strip_prefix('/').unwrap_or(url_path);
    if cur.is_empty() {
        return "/leafnode".into();
    }
    clean(&format!("/{cur}/leafnode"))
}

/// The upgrade request a soliciting nats-server leaf writes (Go's HTTP
/// client: `Host`, `User-Agent`, then the other headers sorted by name).
/// `host` is the URL's host and port as written, `path` from
/// [`leaf_path`], `key` from [`client_key`].
pub fn client_request(
    host: &str,
    path: &str,
    key: &str,
    compress: bool,
    no_masking: bool,
) -> Vec<u8> {
    let mut out = String::with_capacity(320);
    out.push_str("GET ");
    out.push_str(path);
    out.push_str(" HTTP/1.1\r\nHost: ");
    out.push_str(host);
    out.push_str("\r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\n");
    if no_masking {
        out.push_str("Nats-No-Masking: true\r\n");
    }
    out.push_str("Sec-WebSocket-Key: ");
    out.push_str(key);
    out.push_str("\r\nSec-WebSocket-Version: 13\r\n");
    if compress {
        // Added through `Header.Add`, so Go writes the name canonicalized
        // (`Websocket`) and sorts it after the two above.
        out.push_str("Sec-Websocket-Extensions: ");
        out.push_str(PMC_VALUE);
        out.push_str("\r\n");
    }
    out.push_str("Upgrade: websocket\r\n\r\n");
    out.into_bytes()
}

/// What a server agreed to, from its 101.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreed {
    /// permessage-deflate is on both ways.
    pub compress: bool,
    /// The client may send unmasked frames.
    pub no_masking: bool,
}

impl Agreed {
    /// The frame options of the soliciting side: it masks unless the
    /// server agreed to no masking, reads unmasked frames, and inflates
    /// messages of at most `max_message` bytes.
    pub fn client_options(self, max_message: usize) -> WsOptions {
        WsOptions {
            role: super::WsRole::Client,
            compress: self.compress,
            mask: !self.no_masking,
            require_masked: false,
            max_message,
            frame_limit: 0,
            fragment_compressed: true,
        }
    }
}

/// Reads the server's answer to [`client_request`] from the start of
/// `buf`, with a soliciting nats-server's checks. `Ok(None)` until the
/// head is complete; `Ok(Some((agreed, n)))`: the response is `n` bytes
/// long, and what follows is WebSocket frames. Errors carry nats-server's
/// text (`invalid websocket connection`, `compression negotiation
/// error`, or Go's for a malformed response).
pub fn parse_response(
    buf: &[u8],
    key: &str,
    asked_compress: bool,
    asked_no_masking: bool,
) -> Result<Option<(Agreed, usize)>, String> {
    let window = &buf[..buf.len().min(MAX_RESPONSE_HEAD)];
    let Some((line, after)) = next_line(window, 0) else {
        return if buf.len() > MAX_RESPONSE_HEAD {
            Err("websocket handshake response too large".into())
        } else {
            Ok(None)
        };
    };
    let line = String::from_utf8_lossy(line);
    let Some((proto, status)) = line.split_once(' ') else {
        return Err(format!("malformed HTTP response {line:?}"));
    };
    let status = status.trim_start_matches(' ');
    let code = status.split_once(' ').map_or(status, |(c, _)| c);
    if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("malformed HTTP status code {code:?}"));
    }
    if http_version(proto).is_none() {
        return Err(format!("malformed HTTP version {proto:?}"));
    }
    let (fields, end) = match read_fields(window, after) {
        Head::Partial if buf.len() > MAX_RESPONSE_HEAD => {
            return Err("websocket handshake response too large".into())
        }
        Head::Partial => return Ok(None),
        Head::Bad => return Err("malformed MIME header line".into()),
        Head::Done(f, end) => (f, end),
    };
    if code != "101"
        || !fields.get("upgrade").eq_ignore_ascii_case("websocket")
        || !fields.get("connection").eq_ignore_ascii_case("upgrade")
        || fields.get("sec-websocket-accept") != accept_key(key)
    {
        return Err("invalid websocket connection".into());
    }
    let mut compress = false;
    if asked_compress {
        let (offered, no_context) = deflate_offered(fields.all("sec-websocket-extensions"));
        if offered && !no_context {
            return Err("compression negotiation error".into());
        }
        compress = offered;
    }
    let no_masking = asked_no_masking && fields.get("nats-no-masking") == "true";
    Ok(Some((
        Agreed {
            compress,
            no_masking,
        },
        end,
    )))
}
