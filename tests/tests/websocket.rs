//! WebSocket, over real sockets, written test-first: nats-server 2.15.1
//! defines what is right, and the same scenarios run against canopy once
//! its engine speaks WebSocket (until then the canopy variants fail).
//!
//! Every scenario runs once per implementation pair, in a module named
//! after it (`all_nats_server`, `a_canopy_b_nats_server`,
//! `a_nats_server_b_canopy`, `all_canopy`, `all_canopy_smol`). For leafs
//! over WebSocket `a` is the hub and `b` the leaf; checks of one server at
//! a time (clients, handshakes, monitoring) run on `a` and on `b`.
//!
//! What nats-server 2.15.1 did, and these tests hold both servers to:
//!
//! * clients: async-nats over `ws://` (and `wss://` with the test CA)
//!   exchanges messages, 200 KiB payloads, headers and requests with a
//!   plain client on the NATS port;
//! * a valid upgrade (the RFC 6455 sample key) gets exactly
//!   `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection:
//!   Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n`,
//!   then one unmasked binary frame (`0x82`) holding the INFO line, whose
//!   `port` is the WebSocket port. `Nats-No-Masking: true` in the request
//!   is echoed as the last header (and the server then takes unmasked
//!   frames); with `compression: true` and a `permessage-deflate` offer,
//!   `Sec-WebSocket-Extensions: permessage-deflate;
//!   server_no_context_takeover; client_no_context_takeover` comes after
//!   the accept key and frames of 64 bytes or more have RSV1 (`0xc2`);
//! * a frame carrying `CONNECT`/`PING` gets `82 06 "PONG\r\n"`; a ping
//!   frame `hi` gets `8a 02 "hi"`; a close frame (1000, `bye`) is echoed
//!   as is (`88 05 03 e8 "bye"`) and the connection closed;
//! * an unmasked frame without `Nats-No-Masking` closes the connection
//!   with no close frame (logged `read error: mask bit missing`);
//! * refused upgrades get Go's `http.Error` response, and the connection
//!   stays open (`Date` masked here):
//!   `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain;
//!   charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options:
//!   nosniff\r\nDate: …\r\nContent-Length: 12\r\n\r\nBad Request\n` for a
//!   bad `Sec-WebSocket-Version` (logged `invalid version`) and a missing
//!   key (`key missing`), and the same with `405 Method Not Allowed` and
//!   body `Method Not Allowed\n` (length 19) for a POST;
//! * `/varz` has `"websocket":{"host":…,"port":…,"no_tls":true}` plus
//!   `"compression":true` when set; the ports file lists
//!   `"websocket":["ws://127.0.0.1:<port>"]`;
//! * leafs over WebSocket (hub: `websocket {}` plus a `leafnodes` port)
//!   link and carry traffic; both `/leafz` show `"websocket":true`. The
//!   `compression` field: `s2_uncompressed` both sides by default (S2
//!   wraps the WebSocket frames), `off` both sides with `ws_compression`
//!   when the hub's `websocket` has `compression: true` (permessage-deflate
//!   replaces S2), but `s2_uncompressed` when the hub does not offer
//!   deflate (the leaf silently goes without it), and `off` with the
//!   remote's `compression: off`;
//! * on the wire (through `common/relay.rs`): the leaf sends `GET
//!   /leafnode HTTP/1.1` with `Sec-WebSocket-Version: 13`, plus
//!   `Nats-No-Masking: true` when asked, which the 101 echoes, and then
//!   sends unmasked frames (check 43); with `ws_compression` both heads
//!   carry the permessage-deflate extension with both no-context-takeover
//!   parameters and frames have RSV1 (check 44); by default, after the
//!   101 and one INFO frame each way, both directions are an S2 stream
//!   wrapping the frames (check 45); a remote URL with a path
//!   `/some/path` asks for `GET /some/path/leafnode`.

mod common;
#[path = "common/relay.rs"]
mod relay;
#[path = "common/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, HeaderMap};
use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use common::{connect, rt, sync, WAIT};
use relay::{each, logs, monitor, Dir, Relay, WsFrame};
use serde_json::{json, Value};
use tls::{next, Certs};
use tokio::time::timeout;

/// How long a link may take to form.
const LINK: Duration = Duration::from_secs(10);
/// How long a monitoring field or the wire may take to settle.
const SETTLE: Duration = Duration::from_secs(3);
/// The RFC 6455 sample key and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The extension both sides name when permessage-deflate is agreed.
const DEFLATE: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

// ---- servers -----------------------------------------------------------------

/// A server with a `websocket { host, port, <ws> }` block and `rest`, and a
/// monitoring port: (server, websocket port, monitoring port).
fn start_ws(imp: Impl, ws: &str, rest: &str, args: &[&str]) -> (Server, u16, u16) {
    let (port, http) = (free_port(), free_port());
    let srv = ServerBuilder::new(imp)
        .config(&format!(
            "websocket {{\n  host: 127.0.0.1\n  port: {port}\n  {ws}\n}}\n{rest}\n"
        ))
        .args(["-m".to_string(), http.to_string()])
        .args(args.iter().copied())
        .start();
    // The websocket listener may come up a moment after the client port.
    let deadline = Instant::now() + SETTLE;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{imp}: nothing listens on the websocket port {port}\n{}",
            srv.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (srv, port, http)
}

// ---- clients -----------------------------------------------------------------

/// Headers cross between `x` and `y` both ways.
async fn headers_both_ways(label: &str, x: &Client, y: &Client) {
    for (p, s, dir) in [(x, y, "x -> y"), (y, x, "y -> x")] {
        let mut sub = s.subscribe("hdr").await.expect("subscribe");
        sync(s).await;
        let mut h = HeaderMap::new();
        h.insert("X-Canopy", "ws-test");
        h.append("X-Multi", "one");
        h.append("X-Multi", "two");
        p.publish_with_headers("hdr", h, "with headers".into())
            .await
            .expect("publish");
        p.flush().await.expect("flush");
        let m = next(&mut sub).await;
        let got = m.headers.expect("headers");
        assert_eq!(
            got.get("X-Canopy").map(|v| v.as_str()),
            Some("ws-test"),
            "{label}: {dir}"
        );
        let multi: Vec<&str> = got.get_all("X-Multi").map(|v| v.as_str()).collect();
        assert_eq!(multi, ["one", "two"], "{label}: {dir}");
        assert_eq!(m.payload, "with headers", "{label}: {dir}");
    }
}

/// A ws client and a plain client of one server, and two ws clients:
/// traffic both ways (`relay::exchange`) and headers.
async fn ws_and_plain(label: &str, srv: &Server, ws_url: &str, opts: &dyn Fn() -> ConnectOptions) {
    let connect_ws = || async {
        timeout(WAIT, opts().connect(ws_url))
            .await
            .unwrap_or_else(|_| panic!("{label}: connect to {ws_url} timed out"))
            .unwrap_or_else(|e| panic!("{label}: connect to {ws_url} failed: {e}"))
    };
    let ws = connect_ws().await;
    let plain = connect(&srv.url()).await;
    let show = || logs(&[("server", srv)]);
    relay::exchange(&format!("{label}: ws/plain"), &ws, &plain, LINK, &show).await;
    headers_both_ways(&format!("{label}: ws/plain"), &ws, &plain).await;
    let ws2 = connect_ws().await;
    relay::exchange(&format!("{label}: ws/ws"), &ws, &ws2, LINK, &show).await;
    headers_both_ways(&format!("{label}: ws/ws"), &ws, &ws2).await;
}

/// async-nats over `ws://`, with and without `compression: true` on the
/// server (async-nats offers no permessage-deflate, so the latter shows a
/// server that may compress serving a client that does not).
fn ws_clients(a: Impl, b: Impl) {
    for imp in each(a, b) {
        for ws in ["no_tls: true", "no_tls: true\n  compression: true"] {
            let (srv, port, _) = start_ws(imp, ws, "", &[]);
            let label = format!("{imp} ws clients ({})", ws.replace('\n', ","));
            rt().block_on(ws_and_plain(
                &label,
                &srv,
                &format!("ws://127.0.0.1:{port}"),
                &ConnectOptions::new,
            ));
        }
    }
}

/// async-nats over `wss://`, trusting the test CA.
fn wss_clients(a: Impl, b: Impl) {
    let certs = Certs::new();
    for imp in each(a, b) {
        let (srv, port, _) = start_ws(imp, &certs.server_tls(""), "", &[]);
        rt().block_on(ws_and_plain(
            &format!("{imp} wss clients"),
            &srv,
            &format!("wss://127.0.0.1:{port}"),
            &|| ConnectOptions::new().add_root_certificates(certs.ca.clone()),
        ));
    }
}

// ---- raw handshakes ----------------------------------------------------------

/// An upgrade request: `method path`, the usual headers but `version`
/// (None: left out) and `key` (None: left out), then `extra` header lines.
fn request(
    port: u16,
    method: &str,
    path: &str,
    version: Option<&str>,
    key: Option<&str>,
    extra: &str,
) -> String {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    );
    if let Some(k) = key {
        r.push_str(&format!("Sec-WebSocket-Key: {k}\r\n"));
    }
    if let Some(v) = version {
        r.push_str(&format!("Sec-WebSocket-Version: {v}\r\n"));
    }
    r.push_str(extra);
    r.push_str("\r\n");
    r
}

/// A raw connection to `port` that sent `req`.
fn raw(port: u16, req: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    s.write_all(req.as_bytes()).expect("request");
    s
}

/// Reads until `buf` holds what `done` wants (it returns the length), or
/// panics with what came.
fn read_until(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> Option<usize>,
) -> Vec<u8> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(n) = done(buf) {
            return buf.drain(..n).collect();
        }
        match s.read(&mut chunk) {
            Ok(0) => panic!("closed early; got {:?}", String::from_utf8_lossy(buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("read: {e}; got {:?}", String::from_utf8_lossy(buf)),
        }
    }
}

/// The HTTP head (with its blank line) and the `Content-Length` body.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let head = read_until(s, buf, |b| {
        b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
    });
    let head = String::from_utf8(head).expect("UTF-8 head");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().expect("length"));
    let body = read_until(s, buf, |b| (b.len() >= len).then_some(len));
    head + &String::from_utf8(body).expect("UTF-8 body")
}

/// The next whole frame.
fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> WsFrame {
    let raw = read_until(s, buf, |b| relay::ws_frame(b).map(|(_, n)| n));
    relay::ws_frame(&raw).expect("frame").0
}

/// A client frame: FIN, opcode `op`, masked when `mask`.
fn frame(op: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut f = vec![0x80 | op];
    let m = if mask { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | u8::try_from(n).expect("fits")),
        n => {
            f.push(m | 126);
            f.extend_from_slice(&u16::try_from(n).expect("fits").to_be_bytes());
        }
    }
    let key = [0x37, 0xfa, 0x21, 0x3d];
    if mask {
        f.extend_from_slice(&key);
    }
    f.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| if mask { b ^ key[i % 4] } else { *b }),
    );
    f
}

/// Replaces the `Date:` value with `<date>` after checking it is an
/// IMF-fixdate (`Mon, 07 Dec 2026 20:52:25 GMT`).
fn mask_date(resp: &str) -> String {
    resp.split("\r\n")
        .map(|l| match l.strip_prefix("Date: ") {
            Some(d) => {
                assert!(
                    d.len() == 29 && d.ends_with(" GMT") && d.as_bytes()[3] == b',',
                    "Date {d:?}"
                );
                "Date: <date>".to_string()
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

const CONNECT_PING: &[u8] = b"CONNECT {\"verbose\":false}\r\nPING\r\n";

/// Sends CONNECT and PING in one frame (masked when `mask`) and asserts
/// the answer is one plain binary frame `PONG\r\n` (under 64 bytes, so
/// never compressed).
fn assert_pong(s: &mut TcpStream, buf: &mut Vec<u8>, mask: bool, what: &str) {
    s.write_all(&frame(0x2, CONNECT_PING, mask)).expect("write");
    let pong = read_frame(s, buf);
    assert_eq!(
        (pong.first, pong.payload.as_slice()),
        (0x82, &b"PONG\r\n"[..]),
        "{what}"
    );
}

/// The 101 head nats-server sends, with the extension and no-masking
/// lines when agreed.
fn switching(deflate: bool, no_masking: bool) -> String {
    let mut h = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {ACCEPT}\r\n"
    );
    if deflate {
        h.push_str(&format!("Sec-WebSocket-Extensions: {DEFLATE}\r\n"));
    }
    if no_masking {
        h.push_str("Nats-No-Masking: true\r\n");
    }
    h + "\r\n"
}

/// A valid upgrade: the exact 101, an INFO frame naming the ws port,
/// then CONNECT/PING → PONG, ping → pong, close → the same close and the
/// end of the connection. With `Nats-No-Masking: true` the same, with
/// the header echoed and unmasked client frames.
fn handshake_valid(a: Impl, b: Impl) {
    for imp in each(a, b) {
        let (_srv, port, _) = start_ws(imp, "no_tls: true", "", &[]);
        for no_masking in [false, true] {
            let extra = if no_masking {
                "Nats-No-Masking: true\r\n"
            } else {
                ""
            };
            let what = format!("{imp}, no-masking {no_masking}");
            let mut s = raw(
                port,
                &request(port, "GET", "/", Some("13"), Some(KEY), extra),
            );
            let mut buf = Vec::new();
            let head = read_response(&mut s, &mut buf);
            assert_eq!(head, switching(false, no_masking), "{what}");
            let info = read_frame(&mut s, &mut buf);
            assert_eq!(
                (info.first, info.masked),
                (0x82, false),
                "{what}: INFO frame"
            );
            let text = String::from_utf8(info.payload).expect("INFO text");
            assert!(
                text.starts_with("INFO {") && text.ends_with("} \r\n"),
                "{what}: {text:?}"
            );
            let v: Value = serde_json::from_str(&text[5..text.len() - 3]).expect("INFO JSON");
            assert_eq!(v["port"], port, "{what}: INFO port is the ws port: {text}");
            assert_eq!(v["headers"], true, "{what}: {text}");
            let mask = !no_masking;
            assert_pong(&mut s, &mut buf, mask, &what);
            s.write_all(&frame(0x9, b"hi", mask)).expect("write");
            let p = read_frame(&mut s, &mut buf);
            assert_eq!(
                (p.first, p.masked, p.payload.as_slice()),
                (0x8a, false, &b"hi"[..]),
                "{what}"
            );
            s.write_all(&frame(0x8, b"\x03\xe8bye", mask))
                .expect("write");
            let c = read_frame(&mut s, &mut buf);
            assert_eq!(
                (c.first, c.payload.as_slice()),
                (0x88, &b"\x03\xe8bye"[..]),
                "{what}: the close echoed"
            );
            assert_closed(&mut s, buf, &what);
        }
    }
}

/// What comes until the connection ends (a reset counts as the end),
/// after what `buf` already holds; panics if it stays open.
fn read_to_close(s: &mut TcpStream, mut buf: Vec<u8>, what: &str) -> Vec<u8> {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{what}: not closed: {e}; got {buf:02x?} {rest:02x?}"),
    }
    buf.extend_from_slice(&rest);
    buf
}

/// Asserts nothing more comes and the connection ends.
fn assert_closed(s: &mut TcpStream, buf: Vec<u8>, what: &str) {
    let rest = read_to_close(s, buf, what);
    assert!(
        rest.is_empty(),
        "{what}: bytes before the close: {rest:02x?}"
    );
}

/// With `compression: true` a permessage-deflate offer is agreed: the
/// extension line in the 101, the INFO frame with RSV1, and a PONG (under
/// 64 bytes) sent plain. Without the offer, no extension and a plain
/// INFO frame.
fn handshake_deflate(a: Impl, b: Impl) {
    for imp in each(a, b) {
        let (_srv, port, _) = start_ws(imp, "no_tls: true\n  compression: true", "", &[]);
        for offer in [true, false] {
            let what = format!("{imp}, deflate offered {offer}");
            let extra = if offer {
                "Sec-WebSocket-Extensions: permessage-deflate\r\n"
            } else {
                ""
            };
            let mut s = raw(
                port,
                &request(port, "GET", "/", Some("13"), Some(KEY), extra),
            );
            let mut buf = Vec::new();
            assert_eq!(
                read_response(&mut s, &mut buf),
                switching(offer, false),
                "{what}"
            );
            let info = read_frame(&mut s, &mut buf);
            assert_eq!(
                info.first,
                if offer { 0xc2 } else { 0x82 },
                "{what}: INFO frame"
            );
            assert_eq!(
                info.payload.starts_with(b"INFO {"),
                !offer,
                "{what}: INFO frame"
            );
            assert_pong(&mut s, &mut buf, true, &what);
        }
    }
}

/// An unmasked frame from a client that did not ask for no-masking: the
/// connection ends. nats-server queues a close frame (1002, `mask bit
/// missing`) and closes at once, so whether that frame gets out first is
/// a race (seen both ways): either is right, anything else is not.
fn handshake_unmasked_frame(a: Impl, b: Impl) {
    for imp in each(a, b) {
        let (_srv, port, _) = start_ws(imp, "no_tls: true", "", &[]);
        let mut s = raw(port, &request(port, "GET", "/", Some("13"), Some(KEY), ""));
        let mut buf = Vec::new();
        read_response(&mut s, &mut buf);
        read_frame(&mut s, &mut buf);
        s.write_all(&frame(0x2, CONNECT_PING, false))
            .expect("write");
        let buf = read_to_close(&mut s, buf, &format!("{imp}: unmasked frame"));
        let close: &[u8] = b"\x88\x12\x03\xeamask bit missing";
        assert!(
            buf.is_empty() || buf == close,
            "{imp}: unmasked frame: before the end {buf:02x?}, expected nothing or {close:02x?}"
        );
    }
}

/// Refused upgrades get Go's `http.Error` bytes (`Date` masked).
fn handshake_refused(a: Impl, b: Impl) {
    let bad = |code: &str, text: &str| {
        format!(
            "HTTP/1.1 {code} {text}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Sec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\nDate: <date>\r\n\
             Content-Length: {}\r\n\r\n{text}\n",
            text.len() + 1
        )
    };
    for imp in each(a, b) {
        let (_srv, port, _) = start_ws(imp, "no_tls: true", "", &[]);
        for (what, req, want) in [
            (
                "Sec-WebSocket-Version: 12",
                request(port, "GET", "/", Some("12"), Some(KEY), ""),
                bad("400", "Bad Request"),
            ),
            (
                "no Sec-WebSocket-Key",
                request(port, "GET", "/", Some("13"), None, ""),
                bad("400", "Bad Request"),
            ),
            (
                "POST",
                request(port, "POST", "/", Some("13"), Some(KEY), ""),
                bad("405", "Method Not Allowed"),
            ),
        ] {
            let mut s = raw(port, &req);
            let mut buf = Vec::new();
            let resp = read_response(&mut s, &mut buf);
            assert_eq!(mask_date(&resp), want, "{imp}: {what}");
        }
    }
}

// ---- monitoring --------------------------------------------------------------

/// `/varz` `websocket` and the ports file's `websocket` URL.
fn ws_monitoring(a: Impl, b: Impl) {
    for imp in each(a, b) {
        for (ws, extra) in [
            ("no_tls: true", json!({})),
            (
                "no_tls: true\n  compression: true",
                json!({"compression": true}),
            ),
        ] {
            let (srv, port, http) = start_ws(imp, ws, "", &["--ports_file_dir", "."]);
            let mut want = json!({"host": "127.0.0.1", "port": port, "no_tls": true});
            for (k, v) in extra.as_object().expect("object") {
                want[k] = v.clone();
            }
            let varz = monitor(http, "/varz");
            assert_eq!(
                varz["websocket"], want,
                "{imp}: /varz websocket with {ws:?}"
            );
            let deadline = Instant::now() + SETTLE;
            let ports = loop {
                let found = std::fs::read_dir(srv.dir())
                    .expect("server dir")
                    .filter_map(Result::ok)
                    .find(|e| e.file_name().to_string_lossy().ends_with(".ports"))
                    .and_then(|e| std::fs::read_to_string(e.path()).ok())
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok());
                match found {
                    Some(v) if v.get("websocket").is_some() => break v,
                    _ if Instant::now() >= deadline => {
                        panic!("{imp}: no ports file with websocket ({found:?})")
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            };
            assert_eq!(
                ports["websocket"],
                json!([format!("ws://127.0.0.1:{port}")]),
                "{imp}: ports file {ports}"
            );
            assert_eq!(
                ports["nats"],
                json!([srv.url()]),
                "{imp}: ports file {ports}"
            );
        }
    }
}

// ---- leaf nodes over WebSocket -----------------------------------------------

/// A hub (`a`) with `websocket { no_tls, <hub_ws> }` and a leafnodes port,
/// and a leaf (`b`) whose remote dials `ws://127.0.0.1:<port><path>`
/// (through a relay when asked) with `remote` lines; traffic both ways.
/// (hub, leaf, hub monitoring port, leaf monitoring port, relay).
struct WsLeaf {
    hub: Server,
    leaf: Server,
    hub_http: u16,
    leaf_http: u16,
    relay: Option<Relay>,
}

fn ws_leaf(a: Impl, b: Impl, hub_ws: &str, remote: &str, path: &str, relay: bool) -> WsLeaf {
    let lport = free_port();
    let (hub, wport, hub_http) = start_ws(
        a,
        &format!("no_tls: true\n  {hub_ws}"),
        &format!("server_name: HUB\nleafnodes {{\n  host: 127.0.0.1\n  port: {lport}\n}}"),
        &[],
    );
    let relay = relay.then(|| Relay::start(wport));
    let dial = relay.as_ref().map_or(wport, Relay::port);
    let leaf_http = free_port();
    let leaf = ServerBuilder::new(b)
        .config(&format!(
            "server_name: LEAF\nleafnodes {{\n  remotes = [\n    {{\n      urls: [\"ws://127.0.0.1:{dial}{path}\"]\n      \
             {remote}\n    }}\n  ]\n}}\n"
        ))
        .args(["-m".to_string(), leaf_http.to_string()])
        .start();
    let label = format!("ws leaf: hub {a} ({hub_ws:?}), leaf {b} ({remote:?}, path {path:?})");
    let show = || logs(&[("hub", &hub), ("leaf", &leaf)]);
    rt().block_on(async {
        let (hc, lc) = (connect(&hub.url()).await, connect(&leaf.url()).await);
        relay::exchange(&label, &hc, &lc, LINK, &show).await;
    });
    WsLeaf {
        hub,
        leaf,
        hub_http,
        leaf_http,
        relay,
    }
}

/// Both `/leafz` list the one link as a WebSocket one, with `compression`
/// `want` on each side.
fn assert_leafz(l: &WsLeaf, want: &str) {
    for (who, http) in [("hub", l.hub_http), ("leaf", l.leaf_http)] {
        let deadline = Instant::now() + SETTLE;
        loop {
            let lz = monitor(http, "/leafz");
            let leafs = lz["leafs"].as_array().cloned().unwrap_or_default();
            let ok = leafs.len() == 1
                && leafs[0]["websocket"] == true
                && leafs[0]["compression"].as_str().is_some_and(|got| {
                    // `s2_auto` picks s2_fast when the handshake took over
                    // 10 ms (a loaded machine): the same configuration.
                    got == want || (want == "s2_uncompressed" && got == "s2_fast")
                });
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{who} ({}): /leafz {lz:#}, expected one websocket leaf with compression {want:?}",
                if who == "hub" {
                    l.hub.imp()
                } else {
                    l.leaf.imp()
                }
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Declares ws leaf scenarios: name, the hub's `websocket` extra lines,
/// the remote's lines, both sides' `/leafz` compression.
macro_rules! ws_leaf_modes {
    ($($name:ident: $hub_ws:literal, $remote:literal => $want:literal;)*) => {
        $(
            #[doc = concat!("Hub websocket `", $hub_ws, "`, remote `", $remote,
                "`: both `/leafz` say `", $want, "`.")]
            fn $name(a: Impl, b: Impl) {
                let l = ws_leaf(a, b, $hub_ws, $remote, "", false);
                assert_leafz(&l, $want);
            }
        )*
    };
}

ws_leaf_modes! {
    ws_leaf_plain: "", "" => "s2_uncompressed";
    ws_leaf_ws_compression: "compression: true", "ws_compression: true" => "off";
    ws_leaf_ws_compression_not_offered: "", "ws_compression: true" => "s2_uncompressed";
    ws_leaf_no_masking: "", "ws_no_masking: true" => "s2_uncompressed";
    ws_leaf_both: "compression: true", "ws_compression: true\n      ws_no_masking: true" => "off";
    ws_leaf_compression_off: "", "compression: off" => "off";
}

/// The header lines of an HTTP head (without the request or status line).
fn header_lines(head: &str) -> Vec<&str> {
    head.split("\r\n").skip(1).collect()
}

/// The leaf's request head, the hub's 101 head and each side's bytes
/// after them, once every byte seen parses (as whole frames, or as whole
/// S2 chunks after the first frame when `s2`).
fn wire(r: &Relay, s2: bool) -> [(String, Vec<u8>); 2] {
    let settled = |b: &[u8]| {
        relay::split_http_head(b).is_some_and(|(_, rest)| {
            let (frames, left) = relay::ws_frames(rest);
            if s2 {
                relay::ws_frame(rest).is_some_and(|(_, n)| relay::is_s2_stream(&rest[n..]))
            } else {
                !frames.is_empty() && left.is_empty()
            }
        })
    };
    for dir in [Dir::Up, Dir::Down] {
        let ok = r.wait_for(0, dir, SETTLE, settled);
        let b = r.bytes(0, dir);
        assert!(
            ok,
            "{dir:?}: the bytes do not settle: {:?}",
            String::from_utf8_lossy(&b[..b.len().min(600)])
        );
    }
    [Dir::Up, Dir::Down].map(|dir| {
        let b = r.bytes(0, dir);
        let (head, rest) = relay::split_http_head(&b).expect("head");
        (head, rest.to_vec())
    })
}

/// The value of header `name` (any case, as HTTP allows: a Go leaf sends
/// `Sec-Websocket-Extensions`) in an HTTP head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    header_lines(head).into_iter().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Asserts the leaf's request: `GET <path> HTTP/1.1`, version 13, a key,
/// the upgrade headers, `Nats-No-Masking: true` exactly when `no_masking`,
/// the deflate offer exactly when `deflate`.
fn assert_request(head: &str, path: &str, no_masking: bool, deflate: bool) {
    let first = head.lines().next().unwrap_or_default();
    assert_eq!(first, format!("GET {path} HTTP/1.1"), "request: {head}");
    for (name, value) in [
        ("Sec-WebSocket-Version", "13"),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
    ] {
        assert_eq!(header(head, name), Some(value), "request {name}: {head}");
    }
    assert!(
        header(head, "Sec-WebSocket-Key").is_some_and(|k| k.len() == 24 && k.ends_with("==")),
        "request key: {head}"
    );
    assert!(header(head, "Host").is_some(), "request host: {head}");
    assert_eq!(
        header(head, "Nats-No-Masking"),
        no_masking.then_some("true"),
        "request: {head}"
    );
    assert_eq!(
        header(head, "Sec-WebSocket-Extensions"),
        deflate.then_some(DEFLATE),
        "request: {head}"
    );
}

/// Asserts the hub's 101 in nats-server's header order (the accept value
/// is the leaf's random key's).
fn assert_switching(head: &str, no_masking: bool, deflate: bool) {
    let want = switching(deflate, no_masking);
    let masked: Vec<String> = head
        .split("\r\n")
        .map(|l| match l.strip_prefix("Sec-WebSocket-Accept: ") {
            Some(v) if v.len() == 28 => format!("Sec-WebSocket-Accept: {ACCEPT}"),
            _ => l.to_string(),
        })
        .collect();
    assert_eq!(masked.join("\r\n") + "\r\n\r\n", want, "101: {head}");
}

/// Check 43: `ws_no_masking` (S2 off, so every frame shows): the request
/// asks for no masking, the 101 echoes it, and every leaf frame is
/// unmasked; the first is the CONNECT. Without `ws_no_masking`, no header
/// and every leaf frame masked.
fn ws_leaf_wire_masking(a: Impl, b: Impl) {
    for no_masking in [true, false] {
        let remote = if no_masking {
            "compression: off\n      ws_no_masking: true"
        } else {
            "compression: off"
        };
        let l = ws_leaf(a, b, "", remote, "", true);
        let r = l.relay.as_ref().expect("relay");
        let [(req, up), (resp, down)] = wire(r, false);
        assert_request(&req, "/leafnode", no_masking, false);
        assert_switching(&resp, no_masking, false);
        let (leaf_frames, _) = relay::ws_frames(&up);
        assert!(
            leaf_frames
                .iter()
                .all(|f| f.masked != no_masking && f.first == 0x82),
            "no-masking {no_masking}: leaf frames {:?}",
            leaf_frames
                .iter()
                .map(|f| (f.first, f.masked))
                .collect::<Vec<_>>()
        );
        assert!(
            leaf_frames[0].payload.starts_with(b"CONNECT {"),
            "the leaf's first frame"
        );
        let (hub_frames, _) = relay::ws_frames(&down);
        assert!(
            hub_frames.iter().all(|f| !f.masked && f.first == 0x82),
            "hub frames"
        );
        assert!(
            hub_frames[0].payload.starts_with(b"INFO {"),
            "the hub's first frame"
        );
    }
}

/// Check 44: `ws_compression` against a hub with `compression: true`:
/// both heads carry the extension with both no-context-takeover
/// parameters, the first frame each way (INFO, CONNECT) has RSV1, and
/// there is no S2.
fn ws_leaf_wire_deflate(a: Impl, b: Impl) {
    let l = ws_leaf(a, b, "compression: true", "ws_compression: true", "", true);
    assert_leafz(&l, "off");
    let r = l.relay.as_ref().expect("relay");
    let [(req, up), (resp, down)] = wire(r, false);
    assert_request(&req, "/leafnode", false, true);
    assert_switching(&resp, false, true);
    for (bytes, who) in [(&up, "leaf"), (&down, "hub")] {
        let (frames, _) = relay::ws_frames(bytes);
        assert_eq!(frames[0].first, 0xc2, "{who}: first frame");
        assert!(
            frames.iter().all(|f| f.first == 0x82 || f.first == 0xc2),
            "{who}: frames {:?}",
            frames.iter().map(|f| f.first).collect::<Vec<_>>()
        );
    }
}

/// Check 45: at default settings, after the 101 one plain INFO frame each
/// way (the leaf's says `s2_auto`), then an S2 stream wrapping the frames.
fn ws_leaf_wire_s2(a: Impl, b: Impl) {
    let l = ws_leaf(a, b, "", "", "", true);
    let r = l.relay.as_ref().expect("relay");
    let [(req, up), (resp, down)] = wire(r, true);
    assert_request(&req, "/leafnode", false, false);
    assert_switching(&resp, false, false);
    for (bytes, who, masked) in [(&up, "leaf", true), (&down, "hub", false)] {
        let (f, n) = relay::ws_frame(bytes).expect("a frame");
        assert_eq!((f.first, f.masked), (0x82, masked), "{who}: first frame");
        let text = String::from_utf8_lossy(&f.payload).into_owned();
        assert!(text.starts_with("INFO {"), "{who}: {text}");
        let info: Value = serde_json::from_str(text[5..].trim_end())
            .unwrap_or_else(|e| panic!("{who}: {e}: {text}"));
        assert_eq!(info["compression"], "s2_auto", "{who}: {text}");
        assert!(
            bytes[n..].starts_with(&relay::S2_MAGIC),
            "{who}: after the INFO frame {:02x?}",
            &bytes[n..bytes.len().min(n + 16)]
        );
    }
}

/// Users-voice 15: a remote URL with a path asks for `<path>/leafnode`,
/// and the link works.
fn ws_leaf_url_path(a: Impl, b: Impl) {
    let l = ws_leaf(a, b, "", "compression: off", "/some/path", true);
    let r = l.relay.as_ref().expect("relay");
    let [(req, _), (resp, _)] = wire(r, false);
    assert_request(&req, "/some/path/leafnode", false, false);
    assert_switching(&resp, false, false);
    assert_leafz(&l, "off");
}

canopy_tests::per_pair! {
    ws_clients,
    wss_clients,
    handshake_valid,
    handshake_deflate,
    handshake_unmasked_frame,
    handshake_refused,
    ws_monitoring,
    ws_leaf_plain,
    ws_leaf_ws_compression,
    ws_leaf_ws_compression_not_offered,
    ws_leaf_no_masking,
    ws_leaf_both,
    ws_leaf_compression_off,
    ws_leaf_wire_masking,
    ws_leaf_wire_deflate,
    ws_leaf_wire_s2,
    ws_leaf_url_path,
}
