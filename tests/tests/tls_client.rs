//! TLS for clients and the monitoring port, over real sockets: async-nats,
//! nats-py and raw TCP against a server with a `tls {}` block, the same
//! assertions against nats-server 2.15.1 (`nats_server::…`) and canopy
//! (`canopy::…` on tokio, `canopy_smol::…` on smol).
//!
//! Certificates are made at run time (`common/tls.rs`): a CA, a server
//! certificate for `localhost` and 127.0.0.1, a client certificate
//! `CN=alice,O=Canopy` with email SAN `alice@example.com`, and the same
//! names signed by an unrelated CA for the untrusted cases.
//!
//! What nats-server 2.15.1 does, and these tests hold both servers to:
//!
//! * a TLS-required server sends its plain INFO (`"tls_required":true`)
//!   and then expects a TLS ClientHello: a client that answers with
//!   `CONNECT` gets nothing more, the connection is closed without an
//!   `-ERR` (nats-server logs, at debug level, `TLS handshake error: tls:
//!   first record does not look like a TLS handshake` and `Client
//!   connection closed: TLS Handshake Failure`);
//! * `verify: true` refuses a client without a certificate or with one
//!   from another CA during the handshake (logged at error level: `TLS
//!   handshake error: tls: client didn't provide a certificate`, `… x509:
//!   certificate signed by unknown authority (CN=alice,O=Canopy …)`);
//! * `verify_and_map: true` names the user by the certificate's email SAN
//!   first, then by its subject DN, matched without regard to RDN order
//!   (`CN=alice,O=Canopy` and `O=Canopy,CN=alice` both map, `CN=alice`
//!   does not); an unmapped certificate gets `-ERR 'Authorization
//!   Violation'` (logged `authentication error`);
//! * `handshake_first: true` sends no INFO before the TLS handshake, so a
//!   plain client gets nothing at all; `handshake_first: "300ms"` sends
//!   the INFO to a client that stayed silent that long, and then takes the
//!   usual INFO-then-TLS upgrade;
//! * `https_port` serves the monitoring endpoints over TLS with the
//!   client `tls {}` block's certificate; a plain HTTP request there gets
//!   Go's `HTTP/1.0 400 Bad Request` ("Client sent an HTTP request to an
//!   HTTPS server.").

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, ConnectErrorKind, ConnectOptions, Event};
use canopy_tests::{free_port, Impl, Server, ServerBuilder};
use common::{rt, sync, WAIT};
use tls::{assert_no_more, next, Certs, Pair, CLIENT_DN, CLIENT_EMAIL};
use tokio::time::timeout;

// ---- servers -----------------------------------------------------------------

/// A server whose client `tls {}` block is the server certificate plus
/// `tls_extra` lines, with `rest` (whole lines) after it.
fn start_tls(imp: Impl, certs: &Certs, tls_extra: &str, rest: &str) -> Server {
    ServerBuilder::new(imp)
        .config(&format!("{}\n{rest}\n", certs.server_tls(tls_extra)))
        .start()
}

fn tls_url(s: &Server) -> String {
    format!("tls://127.0.0.1:{}", s.port())
}

fn log_of(s: &Server) -> String {
    format!("--- {} log:\n{}", s.imp(), s.log_tail(30))
}

// ---- clients -----------------------------------------------------------------

/// Options trusting the test CA and requiring TLS.
fn trusting(certs: &Certs) -> ConnectOptions {
    ConnectOptions::new()
        .add_root_certificates(certs.ca.clone())
        .require_tls(true)
}

fn presenting(opts: ConnectOptions, pair: &Pair) -> ConnectOptions {
    opts.add_client_certificate(pair.cert.clone(), pair.key.clone())
}

async fn try_connect(
    opts: ConnectOptions,
    url: &str,
) -> Result<Client, (ConnectErrorKind, String)> {
    match timeout(WAIT, opts.connect(url)).await {
        Err(_) => Err((ConnectErrorKind::TimedOut, "timed out".into())),
        Ok(Err(e)) => Err((e.kind(), e.to_string())),
        Ok(Ok(c)) => Ok(c),
    }
}

async fn connect_ok(opts: ConnectOptions, url: &str, srv: &Server, what: &str) -> Client {
    match try_connect(opts, url).await {
        Ok(c) => c,
        Err((kind, e)) => panic!(
            "{}: {what}: connect to {url} failed ({kind:?}): {e}\n{}",
            srv.imp(),
            log_of(srv)
        ),
    }
}

/// Asserts the connection is refused: the connect fails, or (a server
/// refusing after the handshake completed on the client's side) the first
/// round trip does. Returns what the client saw.
async fn refused(opts: ConnectOptions, url: &str, srv: &Server, what: &str) -> String {
    match try_connect(opts, url).await {
        Err((kind, e)) => format!("{kind:?}: {e}"),
        Ok(c) => match timeout(WAIT, c.flush()).await {
            Ok(Ok(())) => panic!(
                "{}: {what}: the connection to {url} was accepted\n{}",
                srv.imp(),
                log_of(srv)
            ),
            Ok(Err(e)) => format!("flush: {e}"),
            Err(_) => "flush timed out".into(),
        },
    }
}

/// A payload spanning several TLS records.
fn big(tag: &str) -> bytes::Bytes {
    tls::big(tag, 200_000)
}

/// Pub/sub from `p` to `s` (may be the same client) and request/reply
/// answered by `s`, every count exact, one payload spanning several TLS
/// records each way.
async fn round_trips(p: &Client, s: &Client, tag: &str) {
    let mut sub = s.subscribe(format!("{tag}.>")).await.expect("subscribe");
    sync(s).await;
    for i in 0..5 {
        p.publish(format!("{tag}.{i}"), format!("m{i}").into())
            .await
            .expect("publish");
    }
    p.publish(format!("{tag}.big"), big(tag))
        .await
        .expect("publish big");
    p.flush().await.expect("flush");
    for i in 0..5 {
        let m = next(&mut sub).await;
        assert_eq!(m.subject.as_str(), format!("{tag}.{i}"));
        assert_eq!(m.payload, format!("m{i}"));
    }
    let m = next(&mut sub).await;
    assert_eq!(m.subject.as_str(), format!("{tag}.big"));
    assert_eq!(m.payload, big(tag), "the large payload arrived intact");

    let mut svc = s.subscribe(format!("svc.{tag}")).await.expect("svc");
    sync(s).await;
    let answerer = s.clone();
    let task = tokio::spawn(async move {
        for _ in 0..4 {
            let m = next(&mut svc).await;
            let mut answer = b"re:".to_vec();
            answer.extend_from_slice(&m.payload);
            answerer
                .publish(m.reply.expect("a reply subject"), answer.into())
                .await
                .expect("answer");
        }
        answerer.flush().await.expect("answer flush");
    });
    for i in 0..3 {
        let r = timeout(
            WAIT,
            p.request(format!("svc.{tag}"), format!("q{i}").into()),
        )
        .await
        .expect("request timed out")
        .expect("request failed");
        assert_eq!(r.payload, format!("re:q{i}"));
    }
    let r = timeout(WAIT, p.request(format!("svc.{tag}"), big(tag)))
        .await
        .expect("big request timed out")
        .expect("big request failed");
    assert_eq!(r.payload.len(), big(tag).len() + 3);
    assert!(r.payload.starts_with(b"re:") && r.payload[3..] == big(tag)[..]);
    task.await.expect("answerer");
    assert_no_more(&mut sub, tag).await;
}

// ---- raw TCP -----------------------------------------------------------------

fn raw(s: &Server) -> TcpStream {
    let t = s.connect();
    t.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    t
}

/// Reads until the server closes the connection (panics after the read
/// timeout: a server that keeps the connection is a failure).
fn read_to_close(r: &mut impl Read, srv: &Server, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!(
                "{}: {what}: the server kept the connection open ({e}); got {:?}\n{}",
                srv.imp(),
                String::from_utf8_lossy(&got),
                log_of(srv)
            ),
        }
    }
}

/// Sends CONNECT and PING in plain text on `w` and asserts the server
/// answers nothing on `r` (the same socket) before it closes it.
fn plain_connect_gets_nothing(w: &mut TcpStream, r: &mut impl Read, srv: &Server, what: &str) {
    w.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
        .expect("CONNECT written");
    let got = read_to_close(r, srv, what);
    assert!(
        got.is_empty(),
        "{}: {what}: the server answered {:?}",
        srv.imp(),
        String::from_utf8_lossy(&got)
    );
}

/// The JSON of an `INFO {...}` line.
fn info_json(line: &str) -> serde_json::Value {
    let body = line
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("not an INFO line: {line:?}"));
    serde_json::from_str(body.trim()).expect("INFO JSON")
}

// ---- nats-py -----------------------------------------------------------------

/// Runs tests/python/tls_client.py with `args` after the URL and CA.
fn nats_py(srv: &Server, url: &str, ca: &std::path::Path, args: &[&str]) -> String {
    let script = canopy_tests::workspace_root().join("tests/python/tls_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(url)
        .arg(ca)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 and run `bash scripts/provision.sh`")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{}: nats-py {args:?} to {url} failed ({}):\n{text}\n{}",
        srv.imp(),
        out.status,
        log_of(srv)
    );
    text
}

fn pem_args(p: &Pair) -> [String; 4] {
    [
        "--cert".into(),
        p.cert.display().to_string(),
        "--key".into(),
        p.key.display().to_string(),
    ]
}

// ---- HTTPS -------------------------------------------------------------------

/// One HTTPS GET of `path` from 127.0.0.1:`port`, trusting the CA whose
/// certificate is `ca_der`: (status, body), or the TLS error.
fn https_get(port: u16, path: &str, ca_der: &[u8]) -> Result<(u16, String), String> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .expect("CA certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").expect("an IP server name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client connection");
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // HTTP/1.0: the body is the rest of the stream, never chunked.
    write!(tls, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    if let Err(e) = tls.read_to_end(&mut raw) {
        // Without a close_notify the end is an unexpected EOF: the
        // response is whole when its head arrived.
        if raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(format!("read: {e}"));
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP head")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_string()))
}

// ---- scenarios ---------------------------------------------------------------

/// `tls { cert_file, key_file }`: async-nats clients trusting the CA
/// connect with `nats://` and `require_tls`, and with a `tls://` URL; the
/// INFO says `tls_required`; pub/sub between them and request/reply work,
/// large payloads included. A client trusting only another CA is refused
/// with a TLS error.
fn client_pub_sub_request(imp: Impl) {
    let certs = Certs::new();
    let srv = start_tls(imp, &certs, "", "");
    rt().block_on(async {
        let a = connect_ok(trusting(&certs), &srv.url(), &srv, "nats:// + require_tls").await;
        let b = connect_ok(
            ConnectOptions::new().add_root_certificates(certs.ca.clone()),
            &tls_url(&srv),
            &srv,
            "tls:// URL",
        )
        .await;
        for c in [&a, &b] {
            assert!(c.server_info().tls_required, "{imp}: INFO tls_required");
        }
        round_trips(&a, &a, "self").await;
        round_trips(&a, &b, "ab").await;
        round_trips(&b, &a, "ba").await;

        let why = refused(
            ConnectOptions::new()
                .add_root_certificates(certs.other_ca.clone())
                .require_tls(true),
            &srv.url(),
            &srv,
            "a client trusting another CA",
        )
        .await;
        assert!(
            why.contains("invalid peer certificate: UnknownIssuer"),
            "{imp}: untrusted server: {why}"
        );
    });
}

/// nats-py with an `ssl.SSLContext` trusting the CA: pub/sub and
/// request/reply; with a context trusting another CA it is refused.
fn nats_py_client(imp: Impl) {
    let certs = Certs::new();
    let srv = start_tls(imp, &certs, "", "");
    nats_py(&srv, &tls_url(&srv), &certs.ca, &[]);
    nats_py(&srv, &srv.url(), &certs.ca, &[]);
    let out = nats_py(&srv, &srv.url(), &certs.other_ca, &["--expect-failure"]);
    assert!(out.contains("CERTIFICATE_VERIFY_FAILED"), "{imp}: {out}");
}

/// A plaintext client of a TLS-required server reads the plain INFO
/// (`tls_required: true`), sends CONNECT and PING, and gets nothing back:
/// the server closes the connection without a PONG or an `-ERR`.
fn plaintext_client_is_dropped(imp: Impl) {
    let certs = Certs::new();
    let srv = start_tls(imp, &certs, "", "");
    let mut t = raw(&srv);
    let mut r = BufReader::new(t.try_clone().expect("clone"));
    let mut line = String::new();
    r.read_line(&mut line).expect("INFO");
    let info = info_json(&line);
    assert_eq!(info["tls_required"], true, "{imp}: {line}");
    plain_connect_gets_nothing(&mut t, &mut r, &srv, "plaintext CONNECT after the INFO");
}

/// `verify: true` with the CA: a client without a certificate, or with
/// one from another CA, is refused; with the CA's client certificate it
/// works (async-nats and nats-py).
fn client_cert_verify(imp: Impl) {
    let certs = Certs::new();
    let srv = start_tls(
        imp,
        &certs,
        &format!("{}\n    verify: true", certs.ca_conf()),
        "",
    );
    rt().block_on(async {
        let none = refused(trusting(&certs), &srv.url(), &srv, "no client certificate").await;
        let rogue = refused(
            presenting(trusting(&certs), &certs.rogue_client),
            &srv.url(),
            &srv,
            "a client certificate from another CA",
        )
        .await;
        // The TLS alerts the client gets (TLS 1.3): certificate_required
        // and unknown_ca.
        assert!(
            none.contains("CertificateRequired"),
            "{imp}: no certificate: {none}"
        );
        assert!(
            rogue.contains("UnknownCA"),
            "{imp}: untrusted certificate: {rogue}"
        );
        let c = connect_ok(
            presenting(trusting(&certs), &certs.client),
            &srv.url(),
            &srv,
            "the CA's client certificate",
        )
        .await;
        round_trips(&c, &c, "verified").await;
    });
    nats_py(
        &srv,
        &tls_url(&srv),
        &certs.ca,
        &pem_args(&certs.client).each_ref().map(String::as_str),
    );
    nats_py(&srv, &tls_url(&srv), &certs.ca, &["--expect-failure"]);
    if imp == Impl::NatsServer {
        let log = srv.log();
        for want in [
            "TLS handshake error: tls: client didn't provide a certificate",
            "x509: certificate signed by unknown authority (CN=alice,O=Canopy",
        ] {
            assert!(log.contains(want), "{imp}: no {want:?} in\n{log}");
        }
    }
}

/// Collects the server errors a client is told about.
fn error_sink(opts: ConnectOptions) -> (ConnectOptions, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&errors);
    let opts = opts.event_callback(move |e| {
        let sink = Arc::clone(&sink);
        async move {
            if let Event::ServerError(e) = e {
                sink.lock().expect("errors").push(e.to_string());
            }
        }
    });
    (opts, errors)
}

/// `verify_and_map: true` with the user named by the certificate's email
/// SAN: the certificate logs in as alice and her permissions hold (a
/// publish outside them is refused with a permissions violation, one
/// inside is delivered); no certificate, or alice's names signed by
/// another CA, are refused. A server whose only user is someone else
/// refuses alice's certificate with an authorization violation.
fn verify_and_map_email(imp: Impl) {
    let certs = Certs::new();
    let map = format!("{}\n    verify_and_map: true", certs.ca_conf());
    let srv = start_tls(
        imp,
        &certs,
        &map,
        &format!(
            "authorization {{\n  users = [\n    {{user: \"{CLIENT_EMAIL}\", permissions: {{\n      \
             publish: {{allow: [\"alice.>\", \"_INBOX.>\"]}}\n      subscribe: {{allow: [\">\"]}}\n    }}}}\n  ]\n}}"
        ),
    );
    rt().block_on(async {
        let (opts, errors) = error_sink(presenting(trusting(&certs), &certs.client));
        let c = connect_ok(opts, &srv.url(), &srv, "alice's certificate").await;
        let mut alice = c.subscribe("alice.>").await.expect("subscribe");
        let mut bob = c.subscribe("bob.>").await.expect("subscribe");
        sync(&c).await;
        c.publish("bob.x", "denied".into()).await.expect("publish");
        c.publish("alice.y", "allowed".into())
            .await
            .expect("publish");
        sync(&c).await;
        let m = next(&mut alice).await;
        assert_eq!(
            (m.subject.as_str(), &m.payload[..]),
            ("alice.y", &b"allowed"[..])
        );
        assert_no_more(&mut bob, "bob.> (alice may not publish there)").await;
        assert_no_more(&mut alice, "alice.>").await;
        let errs = errors.lock().expect("errors").clone();
        assert!(
            errs.iter().any(|e| e
                .to_lowercase()
                .contains("permissions violation for publish to \"bob.x\"")),
            "{imp}: no publish permissions violation for bob.x: {errs:?}\n{}",
            log_of(&srv)
        );

        refused(trusting(&certs), &srv.url(), &srv, "no client certificate").await;
        refused(
            presenting(trusting(&certs), &certs.rogue_client),
            &srv.url(),
            &srv,
            "alice's names from another CA",
        )
        .await;
    });

    let other = start_tls(
        imp,
        &certs,
        &map,
        "authorization {\n  users = [ {user: \"bob@example.com\"} ]\n}",
    );
    rt().block_on(async {
        let why = refused(
            presenting(trusting(&certs), &certs.client),
            &other.url(),
            &other,
            "a certificate mapping to no user",
        )
        .await;
        assert!(
            why.starts_with("AuthorizationViolation"),
            "{imp}: unmapped certificate: {why}"
        );
    });
    if imp == Impl::NatsServer {
        other.wait_for_log("authentication error", WAIT);
    }
}

/// `verify_and_map: true` with users named by the subject DN: the RFC 4514
/// form `CN=alice,O=Canopy` maps, as does the same RDNs in the other
/// order; a DN with only the CN does not.
fn verify_and_map_dn(imp: Impl) {
    let certs = Certs::new();
    let map = format!("{}\n    verify_and_map: true", certs.ca_conf());
    for (user, ok) in [
        (CLIENT_DN, true),
        ("O=Canopy,CN=alice", true),
        ("CN=alice", false),
    ] {
        let srv = start_tls(
            imp,
            &certs,
            &map,
            &format!(
                "authorization {{\n  users = [ {{user: \"{user}\", permissions: {{publish: \
                 {{deny: [\"secret.>\"]}}}}}} ]\n}}"
            ),
        );
        rt().block_on(async {
            let opts = presenting(trusting(&certs), &certs.client);
            if ok {
                let (opts, errors) = error_sink(opts);
                let c = connect_ok(opts, &srv.url(), &srv, user).await;
                round_trips(&c, &c, "dn").await;
                // The mapped user's permissions apply.
                let mut s = c.subscribe("secret.>").await.expect("subscribe");
                sync(&c).await;
                c.publish("secret.x", "no".into()).await.expect("publish");
                sync(&c).await;
                assert_no_more(&mut s, "secret.> (denied to the mapped user)").await;
                let errs = errors.lock().expect("errors").clone();
                assert!(
                    errs.iter()
                        .any(|e| e.to_lowercase().contains("permissions violation")),
                    "{imp}: {user}: no permissions violation: {errs:?}"
                );
            } else {
                let why = refused(opts, &srv.url(), &srv, user).await;
                assert!(
                    why.starts_with("AuthorizationViolation"),
                    "{imp}: {user}: {why}"
                );
            }
        });
    }
}

/// `handshake_first: true`: async-nats with `tls_first()` and nats-py with
/// `tls_handshake_first` work; a plain client that sends CONNECT gets no
/// INFO and no answer, only the close.
fn handshake_first(imp: Impl) {
    let certs = Certs::new();
    let srv = start_tls(imp, &certs, "handshake_first: true", "");
    rt().block_on(async {
        let c = connect_ok(trusting(&certs).tls_first(), &srv.url(), &srv, "tls_first").await;
        assert!(c.server_info().tls_required, "{imp}: INFO tls_required");
        round_trips(&c, &c, "first").await;
    });
    nats_py(&srv, &tls_url(&srv), &certs.ca, &["--handshake-first"]);
    let mut t = raw(&srv);
    let mut r = t.try_clone().expect("clone");
    plain_connect_gets_nothing(&mut t, &mut r, &srv, "plain CONNECT to handshake_first");
}

/// `handshake_first: "300ms"`: a client that starts TLS at once is served
/// TLS-first; a client that waits for the INFO gets it once the fallback
/// delay passed and upgrades as usual (async-nats, nats-py, and a raw
/// socket that reads the INFO without having sent anything).
fn handshake_first_fallback(imp: Impl) {
    let certs = Certs::new();
    let srv = start_tls(imp, &certs, "handshake_first: \"300ms\"", "");
    rt().block_on(async {
        let first = connect_ok(trusting(&certs).tls_first(), &srv.url(), &srv, "tls_first").await;
        let usual = connect_ok(trusting(&certs), &srv.url(), &srv, "INFO first").await;
        round_trips(&first, &usual, "fallback1").await;
        round_trips(&usual, &first, "fallback2").await;
    });
    nats_py(&srv, &srv.url(), &certs.ca, &[]);
    nats_py(&srv, &srv.url(), &certs.ca, &["--handshake-first"]);
    let t = raw(&srv);
    let mut line = String::new();
    BufReader::new(t)
        .read_line(&mut line)
        .expect("INFO after the fallback");
    assert_eq!(info_json(&line)["tls_required"], true, "{imp}: {line}");
}

/// `https_port` with the client `tls {}` block: `/varz` over HTTPS,
/// trusting the CA, names the port and says TLS is required; a client
/// trusting another CA fails the handshake; plain HTTP there gets no
/// monitoring data.
fn https_monitoring(imp: Impl) {
    let certs = Certs::new();
    let https = free_port();
    let srv = start_tls(imp, &certs, "", &format!("https_port: {https}"));
    let (status, body) = https_get(https, "/varz", &certs.ca_der)
        .unwrap_or_else(|e| panic!("{imp}: GET /varz over HTTPS: {e}\n{}", log_of(&srv)));
    assert_eq!(status, 200, "{imp}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("varz JSON");
    assert_eq!(v["https_port"], https, "{imp}");
    assert_eq!(v["tls_required"], true, "{imp}");
    assert_eq!(v["port"], srv.port(), "{imp}");

    let e = https_get(https, "/varz", &certs.other_ca_der)
        .expect_err("an untrusted server certificate");
    assert!(
        e.contains("UnknownIssuer") || e.contains("invalid peer certificate"),
        "{imp}: {e}"
    );

    let mut t = TcpStream::connect(("127.0.0.1", https)).expect("connect");
    t.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    t.write_all(b"GET /varz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("GET");
    let got = String::from_utf8_lossy(&read_to_close(&mut t, &srv, "plain HTTP")).into_owned();
    assert!(
        !got.contains("server_id")
            && !got.starts_with("HTTP/1.1 200")
            && !got.starts_with("HTTP/1.0 200"),
        "{imp}: plain HTTP on the HTTPS port got {got:?}"
    );
}

/// SIGHUP reloads the certificate files for new connections (nats-server
/// re-reads them on reload); a connection made before keeps its session.
fn reload_picks_up_new_certificates(imp: Impl) {
    let certs = Certs::new();
    // The server's own copies of its files, so the test can replace them.
    let cert = certs.dir().join("live.pem");
    let key = certs.dir().join("live-key.pem");
    std::fs::copy(&certs.server.cert, &cert).expect("copy cert");
    std::fs::copy(&certs.server.key, &key).expect("copy key");
    let srv = ServerBuilder::new(imp)
        .config(&format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n",
            cert.display(),
            key.display()
        ))
        .start();
    rt().block_on(async {
        let before = connect_ok(trusting(&certs), &srv.url(), &srv, "before reload").await;
        std::fs::copy(&certs.rogue_server.cert, &cert).expect("swap cert");
        std::fs::copy(&certs.rogue_server.key, &key).expect("swap key");
        let out = Command::new(imp.bin())
            .args(["--signal", &format!("reload={}", srv.pid())])
            .output()
            .expect("signal");
        assert_eq!(out.status.code(), Some(0), "{imp}: {out:?}");
        srv.wait_for_log("Reloaded server configuration", WAIT);
        // New connections get the new certificate...
        let after = connect_ok(
            ConnectOptions::new()
                .add_root_certificates(certs.other_ca.clone())
                .require_tls(true),
            &srv.url(),
            &srv,
            "trusting the new CA after reload",
        )
        .await;
        let why = refused(trusting(&certs), &srv.url(), &srv, "trusting the old CA").await;
        assert!(why.contains("UnknownIssuer"), "{imp}: {why}");
        // ...and the connection made before still works, both ways.
        round_trips(&before, &after, "reload").await;
    });
}

canopy_tests::against_both! {
    client_pub_sub_request,
    nats_py_client,
    plaintext_client_is_dropped,
    client_cert_verify,
    verify_and_map_email,
    verify_and_map_dn,
    handshake_first,
    handshake_first_fallback,
    https_monitoring,
    reload_picks_up_new_certificates,
}
