//! A small sans-IO HTTP/1.1 server codec for the monitoring port: requests
//! in (any method, keep-alive, bounded size), responses out in the shape
//! Go's `net/http` gives them (nats-server's monitor runs on it).

use super::timefmt::http_date;

/// Largest request head accepted (Go's default `MaxHeaderBytes` plus its
/// 4 KiB slack).
pub const MAX_HEAD: usize = 1 << 20;

/// One parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`, `HEAD`, `POST`, ...).
    pub method: String,
    /// The path, percent-decoding left to the query parser.
    pub path: String,
    /// The raw query string (after `?`), possibly empty.
    pub query: String,
    /// Whether the request line said `HTTP/1.0`.
    pub http10: bool,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Whether the client asked for `Connection: close` explicitly.
    pub close_requested: bool,
}

/// A request the codec refuses; the connection closes after the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unparseable request line or header.
    BadRequest,
    /// HTTP/1.1 without `Host`.
    MissingHost,
    /// Head larger than [`MAX_HEAD`].
    TooLarge,
}

impl Refusal {
    /// The complete response bytes, as Go's server writes them.
    pub fn response(self) -> Vec<u8> {
        let (status, body) = match self {
            Refusal::BadRequest => ("400 Bad Request", "400 Bad Request"),
            Refusal::MissingHost => (
                "400 Bad Request: missing required Host header",
                "400 Bad Request: missing required Host header",
            ),
            Refusal::TooLarge => (
                "431 Request Header Fields Too Large",
                "431 Request Header Fields Too Large",
            ),
        };
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{body}"
        )
        .into_bytes()
    }
}

/// Incremental request reader for one connection.
#[derive(Debug, Default)]
pub struct Codec {
    buf: Vec<u8>,
    /// Body bytes still to skip from the previous request.
    skip: usize,
}

impl Codec {
    /// Appends bytes read from the socket.
    pub fn feed(&mut self, data: &[u8]) {
        let mut data = data;
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete request, if one is buffered.
    pub fn next_request(&mut self) -> Option<Result<Request, Refusal>> {
        let end = find_head_end(&self.buf);
        let Some((head_len, total)) = end else {
            if self.buf.len() > MAX_HEAD {
                return Some(Err(Refusal::TooLarge));
            }
            return None;
        };
        if head_len > MAX_HEAD {
            return Some(Err(Refusal::TooLarge));
        }
        let head = String::from_utf8_lossy(&self.buf[..head_len]).into_owned();
        let parsed = parse_head(&head);
        let rest = self.buf.split_off(total);
        self.buf = rest;
        let (req, body) = match parsed {
            Ok(x) => x,
            Err(r) => return Some(Err(r)),
        };
        let n = body.min(self.buf.len());
        self.buf.drain(..n);
        self.skip = body - n;
        Some(Ok(req))
    }
}

/// Where the head ends: (length without the blank line, length with it).
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\n', &buf[i..]) {
        let nl = i + p;
        // "\n\n" or "\n\r\n" ends the head.
        if buf.get(nl + 1) == Some(&b'\n') {
            return Some((nl, nl + 2));
        }
        if buf.get(nl + 1) == Some(&b'\r') && buf.get(nl + 2) == Some(&b'\n') {
            return Some((nl, nl + 3));
        }
        i = nl + 1;
    }
    None
}

/// The request and the length of its body.
fn parse_head(head: &str) -> Result<(Request, usize), Refusal> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or(Refusal::BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(Refusal::BadRequest),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) || target.is_empty() {
        return Err(Refusal::BadRequest);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let mut host = false;
    let mut connection = String::new();
    let mut body = 0usize;
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let (name, value) = l.split_once(':').ok_or(Refusal::BadRequest)?;
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "host" => host = true,
            "connection" => connection = value.to_ascii_lowercase(),
            "content-length" => body = value.parse().map_err(|_| Refusal::BadRequest)?,
            "transfer-encoding" => return Err(Refusal::BadRequest),
            _ => {}
        }
    }
    if !http10 && !host {
        return Err(Refusal::MissingHost);
    }
    let close_requested = connection == "close";
    let keep_alive = if http10 {
        connection == "keep-alive"
    } else {
        !close_requested
    };
    Ok((
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            http10,
            keep_alive,
            close_requested,
        },
        body,
    ))
}

/// What an endpoint answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// 200 with JSON.
    Json(String),
    /// An error status with a JSON body (`/healthz` refusals).
    JsonStatus(u16, String),
    /// 200 with HTML (the index).
    Html(String),
    /// An error status with a plain-text message (`http.Error`).
    Error(u16, String),
    /// 404 for an unknown path.
    NotFound,
}

/// Writes the complete response for `req`.
pub fn response(req: &Request, body: &Body, unix_nanos: i128) -> Vec<u8> {
    let proto = if req.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let date = http_date(unix_nanos);
    let (status, headers, text): (String, Vec<(&str, String)>, &str) = match body {
        Body::Json(j) => (
            "200 OK".into(),
            vec![
                ("Access-Control-Allow-Origin", "*".into()),
                ("Content-Type", "application/json".into()),
                ("Date", date),
                ("Content-Length", j.len().to_string()),
            ],
            j,
        ),
        Body::JsonStatus(code, j) => (
            format!("{code} {}", reason_phrase(*code)),
            vec![
                ("Access-Control-Allow-Origin", "*".into()),
                ("Content-Type", "application/json".into()),
                ("Date", date),
                ("Content-Length", j.len().to_string()),
            ],
            j,
        ),
        Body::Html(h) => (
            "200 OK".into(),
            vec![
                ("Content-Type", "text/html; charset=utf-8".into()),
                ("Date", date),
                ("Content-Length", h.len().to_string()),
            ],
            h,
        ),
        Body::Error(code, msg) => (
            format!("{code} {}", reason_phrase(*code)),
            vec![
                ("Date", date),
                ("Content-Length", msg.len().to_string()),
                ("Content-Type", "text/plain; charset=utf-8".into()),
            ],
            msg,
        ),
        Body::NotFound => (
            "404 Not Found".into(),
            vec![
                ("Content-Type", "text/plain; charset=utf-8".into()),
                ("X-Content-Type-Options", "nosniff".into()),
                ("Date", date),
                ("Content-Length", "19".into()),
            ],
            "404 page not found\n",
        ),
    };
    let mut out = format!("{proto} {status}\r\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&value);
        out.push_str("\r\n");
    }
    if req.http10 && req.keep_alive {
        out.push_str("Connection: keep-alive\r\n");
    } else if req.close_requested {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    if req.method != "HEAD" {
        out.push_str(text);
    }
    out.into_bytes()
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(codec: &mut Codec) -> Request {
        codec
            .next_request()
            .expect("a request")
            .expect("well formed")
    }

    #[test]
    fn partial_and_pipelined_requests() {
        let mut c = Codec::default();
        c.feed(b"GET /varz HTTP/1.1\r\nHo");
        assert!(c.next_request().is_none());
        c.feed(b"st: x\r\n\r\nGET /connz?sort=cid HTTP/1.1\r\nHost: x\r\n\r\n");
        let a = one(&mut c);
        assert_eq!((a.path.as_str(), a.keep_alive), ("/varz", true));
        let b = one(&mut c);
        assert_eq!((b.path.as_str(), b.query.as_str()), ("/connz", "sort=cid"));
        assert!(c.next_request().is_none());
    }

    #[test]
    fn bodies_are_skipped_even_across_reads() {
        let mut c = Codec::default();
        c.feed(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab");
        assert_eq!(one(&mut c).method, "POST");
        c.feed(b"cdeGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(one(&mut c).path, "/");
    }

    #[test]
    fn refusals() {
        for (input, want) in [
            (&b"garbage\r\n\r\n"[..], Refusal::BadRequest),
            (b"GET /healthz HTTP/1.1\r\n\r\n", Refusal::MissingHost),
            (b"GET /x HTTP/2.0\r\nHost: x\r\n\r\n", Refusal::BadRequest),
            (b"GET /x HTTP/1.1\r\nno colon\r\n\r\n", Refusal::BadRequest),
        ] {
            let mut c = Codec::default();
            c.feed(input);
            assert_eq!(
                c.next_request(),
                Some(Err(want)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let mut c = Codec::default();
        c.feed(&vec![b'a'; MAX_HEAD + 1]);
        assert_eq!(c.next_request(), Some(Err(Refusal::TooLarge)));
        // Observed from nats-server 2.15.1.
        assert_eq!(
            Refusal::MissingHost.response(),
            b"HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header".to_vec()
        );
    }

    #[test]
    fn http10_closes_unless_asked() {
        let mut c = Codec::default();
        c.feed(b"GET /healthz HTTP/1.0\r\n\r\n");
        let r = one(&mut c);
        assert!(r.http10 && !r.keep_alive);
        let out = response(&r, &Body::Json("{}".into()), 0);
        assert!(out.starts_with(b"HTTP/1.0 200 OK\r\nAccess-Control-Allow-Origin: *\r\n"));
    }

    #[test]
    fn shapes_as_observed() {
        let mut c = Codec::default();
        c.feed(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let head = one(&mut c);
        let t = 1_795_420_571_000_000_000;
        let out = response(&head, &Body::Json("{\"status\":\"ok\"}".into()), t);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nContent-Type: application/json\r\nDate: Mon, 23 Nov 2026 07:56:11 GMT\r\nContent-Length: 15\r\n\r\n"
        );
        let mut c = Codec::default();
        c.feed(b"GET /connz?sort=bogus HTTP/1.1\r\nHost: x\r\n\r\n");
        let get = one(&mut c);
        let out = response(
            &get,
            &Body::Error(400, "invalid sorting option: bogus".into()),
            t,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 400 Bad Request\r\nDate: Mon, 23 Nov 2026 07:56:11 GMT\r\nContent-Length: 29\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ninvalid sorting option: bogus"
        );
        let out = response(&get, &Body::NotFound, t);
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("Content-Length: 19\r\n\r\n404 page not found\n"));
    }
}
