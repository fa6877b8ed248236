//! TLS through the engine, for every connection kind: where TLS starts
//! (at the exact byte after the INFO, before it, after a fallback delay,
//! or on the first byte's say), the handshake timer, certificate checks
//! and `verify_and_map`. The peer is a real rustls connection pumped
//! through the harness, byte for byte when asked; what is plaintext on
//! the wire is checked as literal bytes.

use super::harness::{info_json, Harness};
use super::route_peer::{cluster, clustered};
use crate::auth::UserEntry;
use crate::perms::{Entry, Permissions, Rule};
use crate::route::RouteAddr;
use crate::tls::TlsSettings;
use crate::{CloseReason, ClusterOptions, ConnId, Options, RemoteLeafOptions};
use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The wall clock the engines run at (inside every certificate's
/// validity: rcgen's default is 1975 to 4096).
const UNIX_NANOS: i128 = 1_750_000_000 * 1_000_000_000;
/// The handshake timeout of every block here.
const TIMEOUT: Duration = Duration::from_secs(2);
const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n";
/// The first byte of a TLS handshake record.
const HANDSHAKE: u8 = 0x16;

// ---- certificates -----------------------------------------------------------

/// A certificate (DER and PEM) and its key (PKCS#8 DER and PEM).
struct Pem {
    cert: String,
    der: Vec<u8>,
    key: String,
    key_der: Vec<u8>,
}

/// `ca` signed `server` (localhost, 127.0.0.1), `alice` (email
/// alice@example.com, CN alice) and `bob` (email bob@example.com, CN
/// bob); `other_ca` signed `rogue` (alice's names, the wrong issuer).
struct Pki {
    ca: Pem,
    server: Pem,
    alice: Pem,
    bob: Pem,
    other_ca: Pem,
    rogue: Pem,
}

fn pem(cert: &rcgen::Certificate, key: &KeyPair) -> Pem {
    Pem {
        cert: cert.pem(),
        der: cert.der().to_vec(),
        key: key.serialize_pem(),
        key_der: key.serialize_der(),
    }
}

fn new_ca(name: &str) -> (Pem, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("ca key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("ca cert");
    (pem(&cert, &key), Issuer::new(params, key))
}

fn user_cert(name: &str, issuer: &Issuer<'static, KeyPair>) -> Pem {
    let key = KeyPair::generate().expect("user key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("user params");
    params.subject_alt_names = vec![SanType::Rfc822Name(
        format!("{name}@example.com").try_into().expect("email"),
    )];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    pem(&params.signed_by(&key, issuer).expect("user cert"), &key)
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let (ca, issuer) = new_ca("Canopy Test CA");
        let (other_ca, other) = new_ca("Other CA");
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params");
        let server = pem(&params.signed_by(&key, &issuer).expect("server"), &key);
        Pki {
            alice: user_cert("alice", &issuer),
            bob: user_cert("bob", &issuer),
            rogue: user_cert("alice", &other),
            ca,
            server,
            other_ca,
        }
    })
}

/// The engine's `tls {}` block: the server certificate, the CA when
/// `verify`.
fn settings(verify: bool) -> TlsSettings {
    let p = pki();
    TlsSettings {
        cert_file: "server.pem".into(),
        cert_pem: p.server.cert.clone(),
        key_file: "server-key.pem".into(),
        key_pem: p.server.key.clone(),
        ca_file: "ca.pem".into(),
        ca_pem: p.ca.cert.clone(),
        verify,
        timeout: TIMEOUT,
        ..TlsSettings::default()
    }
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn key_of(p: &Pem) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(p.key_der.clone()))
}

/// A peer's client side: trusts `ca`, presents `cert` when given.
fn client_config(ca: &Pem, cert: Option<&Pem>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.der.clone()))
        .expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    Arc::new(match cert {
        Some(c) => builder
            .with_client_auth_cert(vec![CertificateDer::from(c.der.clone())], key_of(c))
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    })
}

/// A peer's server side with the server certificate; asks for a client
/// certificate from the CA when `verify`.
fn server_config(verify: bool) -> Arc<rustls::ServerConfig> {
    let p = pki();
    let builder = rustls::ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = if verify {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(p.ca.der.clone()))
            .expect("root");
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), ring())
                .build()
                .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(
        builder
            .with_single_cert(
                vec![CertificateDer::from(p.server.der.clone())],
                key_of(&p.server),
            )
            .expect("server config"),
    )
}

/// The usual client: trusts the CA, no certificate.
fn trusting_client() -> Peer {
    Peer::client(client_config(&pki().ca, None))
}

// ---- the peer ---------------------------------------------------------------

/// The far end of one engine connection: a rustls connection whose
/// records are pumped through the harness.
struct Peer {
    tls: rustls::Connection,
    /// Plaintext decrypted from what the engine sent.
    plain: Vec<u8>,
    /// The first error the peer's rustls reported.
    error: Option<rustls::Error>,
    /// Feed the engine one byte per read.
    one_byte: bool,
}

impl Peer {
    fn client(config: Arc<rustls::ClientConfig>) -> Self {
        let name = ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(config, name).expect("client connection");
        Self::wrap(conn.into())
    }

    fn server(config: Arc<rustls::ServerConfig>) -> Self {
        let conn = rustls::ServerConnection::new(config).expect("server connection");
        Self::wrap(conn.into())
    }

    fn wrap(tls: rustls::Connection) -> Self {
        Peer {
            tls,
            plain: Vec::new(),
            error: None,
            one_byte: false,
        }
    }

    fn one_byte(mut self) -> Self {
        self.one_byte = true;
        self
    }

    /// The TLS bytes the peer has to send now (its ClientHello first).
    fn wire(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut out).expect("peer write_tls");
        }
        out
    }

    /// Takes in bytes the engine sent.
    fn receive(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.error.is_none() {
            match self.tls.read_tls(&mut data) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => panic!("peer read_tls: {e}"),
            }
            if let Err(e) = self.tls.process_new_packets() {
                self.error = Some(e);
                break;
            }
            let mut buf = [0u8; 4096];
            loop {
                match self.tls.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => self.plain.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
    }

    /// Feeds `data` to the engine, in 1-byte reads when asked.
    fn feed(&self, h: &mut Harness, conn: ConnId, data: &[u8]) {
        if self.one_byte {
            for b in data {
                h.send_bytes(conn, std::slice::from_ref(b));
            }
        } else {
            h.send_bytes(conn, data);
        }
    }

    /// Moves records both ways until neither side has more to say.
    fn pump(&mut self, h: &mut Harness, conn: ConnId) {
        for _ in 0..100 {
            let from_engine = h.take_bytes(conn);
            self.receive(&from_engine);
            let to_engine = self.wire();
            if !to_engine.is_empty() && !h.is_closed(conn) {
                self.feed(h, conn, &to_engine);
            } else if from_engine.is_empty() {
                return;
            }
        }
        panic!("the pump did not settle");
    }

    /// Writes plaintext (sent encrypted on the next pump); a peer whose
    /// TLS failed writes nothing.
    fn write(&mut self, data: &str) {
        let written = self.tls.writer().write_all(data.as_bytes());
        assert!(
            written.is_ok() || self.error.is_some(),
            "peer write: {written:?}"
        );
    }

    /// The plaintext received since the last call.
    fn take(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.plain)).expect("UTF-8 plaintext")
    }

    fn handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }
}

/// An engine at a wall-clock time inside the certificates' validity.
fn engine(options: Options) -> Harness {
    let mut h = Harness::new(options);
    let now = h.now;
    h.server.handle_wall_clock(UNIX_NANOS, now);
    h
}

fn client_port(tls: TlsSettings) -> Options {
    Options {
        host: "127.0.0.1".into(),
        port: 4222,
        tls: Some(tls),
        ..Options::default()
    }
}

/// Whether `bytes` is a whole number of TLS records (any content type).
fn only_records(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 5 || !(20..=23).contains(&rest[0]) || rest[1] != 3 {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if rest.len() < 5 + len {
            return false;
        }
        rest = &rest[5 + len..];
    }
    true
}

/// Whether `bytes` starts with a ClientHello record.
fn is_client_hello(bytes: &[u8]) -> bool {
    bytes.len() > 5 && bytes[0] == HANDSHAKE && bytes[1] == 3 && bytes[5] == 1
}

/// Takes the INFO an accept queued: exactly one line, nothing after it.
fn take_info(h: &mut Harness, conn: ConnId) -> serde_json::Value {
    let out = h.take_bytes(conn);
    let text = std::str::from_utf8(&out).expect("the INFO is plaintext");
    assert!(text.starts_with("INFO {"), "{text:?}");
    assert!(text.ends_with("} \r\n"), "{text:?}");
    assert_eq!(text.matches("\r\n").count(), 1, "one line only: {text:?}");
    info_json(text)
}

/// Handshakes `peer` with `conn`, then CONNECT and PING over TLS: PONG.
fn handshake_and_ping(h: &mut Harness, conn: ConnId, peer: &mut Peer) {
    peer.pump(h, conn);
    assert!(peer.error.is_none(), "{:?}", peer.error);
    assert!(!peer.handshaking());
    assert!(!h.is_closed(conn), "{:?}", h.close_reason(conn));
    let _ = peer.take();
    peer.write(QUIET);
    peer.pump(h, conn);
    assert_eq!(peer.take(), "PONG\r\n");
}

/// What the engine sent first on the link it dialed (`conn`) is exactly
/// a ClientHello (no plaintext before or after it); `peer`, the server
/// side, completes the handshake.
fn answer_hello(h: &mut Harness, conn: ConnId, mut peer: Peer) -> Peer {
    let hello = h.take_bytes(conn);
    assert!(is_client_hello(&hello), "{hello:?}");
    assert!(only_records(&hello), "{hello:?}");
    peer.receive(&hello);
    peer.pump(h, conn);
    assert!(peer.error.is_none(), "{:?}", peer.error);
    assert!(!peer.handshaking());
    assert!(!h.is_closed(conn), "{:?}", h.close_reason(conn));
    peer
}

/// Handshakes `peer` with `conn` and sends `data` over TLS: the engine
/// refuses the handshake (closed, TLS Handshake Failure) and `data` gets
/// no answer.
fn refused(h: &mut Harness, conn: ConnId, mut peer: Peer, data: &str) -> Peer {
    peer.pump(h, conn);
    peer.write(data);
    peer.pump(h, conn);
    assert!(h.is_closed(conn));
    assert_eq!(h.close_reason(conn), Some(CloseReason::TlsHandshakeError));
    assert_eq!(peer.take(), "", "no answer");
    peer
}

// ---- 1, 2: the client port, INFO then TLS ----------------------------------

fn info_then_tls(verify: bool, one_byte: bool) {
    let mut h = engine(client_port(settings(verify)));
    let c = h.accept();
    let info = take_info(&mut h, c);
    assert_eq!(info["tls_required"], true);
    if verify {
        assert_eq!(info["tls_verify"], true);
    } else {
        assert!(info.get("tls_verify").is_none(), "{info}");
    }
    assert!(info.get("tls_available").is_none(), "{info}");
    // The server speaks no more until the ClientHello.
    h.advance(Duration::from_millis(100));
    assert!(h.take_bytes(c).is_empty());
    let cert = verify.then_some(&pki().alice);
    let mut peer = Peer::client(client_config(&pki().ca, cert));
    if one_byte {
        peer = peer.one_byte();
    }
    let hello = peer.wire();
    assert!(is_client_hello(&hello));
    peer.feed(&mut h, c, &hello);
    let answer = h.take_bytes(c);
    assert_eq!(answer[0], HANDSHAKE, "the ServerHello");
    assert!(only_records(&answer), "{answer:?}");
    peer.receive(&answer);
    handshake_and_ping(&mut h, c, &mut peer);
}

#[test]
fn client_port_sends_info_then_handshakes() {
    info_then_tls(false, false);
}

#[test]
fn client_port_handshake_in_one_byte_reads() {
    info_then_tls(false, true);
}

#[test]
fn client_port_with_verify_says_tls_verify() {
    info_then_tls(true, false);
    info_then_tls(true, true);
}

#[test]
fn engine_output_is_encrypted_after_the_info() {
    let mut h = engine(client_port(settings(false)));
    let c = h.accept();
    take_info(&mut h, c);
    let mut peer = trusting_client();
    peer.pump(&mut h, c);
    peer.write("CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPUB a 5\r\nhello\r\nPING\r\n");
    let wire = peer.wire();
    h.send_bytes(c, &wire);
    let out = h.take_bytes(c);
    assert!(only_records(&out), "{out:?}");
    assert!(!out.windows(5).any(|w| w == b"hello"), "plaintext leaked");
    assert!(!out.windows(4).any(|w| w == b"PONG"), "plaintext leaked");
    peer.receive(&out);
    assert_eq!(peer.take(), "MSG a 1 5\r\nhello\r\nPONG\r\n");
}

#[test]
fn plaintext_after_the_info_is_not_nats() {
    let mut h = engine(client_port(settings(false)));
    let c = h.accept();
    take_info(&mut h, c);
    h.send(c, "CONNECT {}\r\nPING\r\n");
    no_plaintext_answer(&mut h, c);
}

/// `conn` got at most a TLS alert back, and is closed for a failed
/// handshake.
fn no_plaintext_answer(h: &mut Harness, conn: ConnId) {
    let out = h.take_bytes(conn);
    assert!(!out.windows(4).any(|w| w == b"PONG"), "{out:?}");
    assert!(only_records(&out), "{out:?}");
    assert!(out.is_empty() || out[0] == 0x15, "{out:?}");
    assert!(h.is_closed(conn));
    assert_eq!(h.close_reason(conn), Some(CloseReason::TlsHandshakeError));
}

#[test]
fn plaintext_one_byte_at_a_time_is_not_nats_either() {
    let mut h = engine(client_port(settings(false)));
    let c = h.accept();
    take_info(&mut h, c);
    for b in b"PING\r\n" {
        if h.is_closed(c) {
            break;
        }
        h.send_bytes(c, std::slice::from_ref(b));
    }
    no_plaintext_answer(&mut h, c);
}

// ---- 3, 4: handshake_first, with and without the fallback ------------------

#[test]
fn handshake_first_sends_the_info_encrypted_after_the_handshake() {
    let mut h = engine(client_port(TlsSettings {
        handshake_first: true,
        ..settings(false)
    }));
    let c = h.accept();
    assert!(h.take_bytes(c).is_empty(), "no plaintext INFO");
    let mut peer = trusting_client().one_byte();
    peer.pump(&mut h, c);
    assert!(!peer.handshaking());
    let first = peer.take();
    assert!(first.starts_with("INFO {"), "{first:?}");
    assert_eq!(first.matches("\r\n").count(), 1, "{first:?}");
    assert_eq!(info_json(&first)["tls_required"], true);
    peer.write(QUIET);
    peer.pump(&mut h, c);
    assert_eq!(peer.take(), "PONG\r\n");
}

fn with_fallback() -> Options {
    client_port(TlsSettings {
        handshake_first: true,
        fallback: Some(Duration::from_millis(50)),
        ..settings(false)
    })
}

#[test]
fn handshake_first_falls_back_to_a_plaintext_info() {
    let mut h = engine(with_fallback());
    let c = h.accept();
    assert!(h.take_bytes(c).is_empty());
    h.advance(Duration::from_millis(49));
    assert!(h.take_bytes(c).is_empty(), "not before the delay");
    h.advance(Duration::from_millis(1));
    let info = take_info(&mut h, c);
    assert_eq!(info["tls_required"], true);
    let mut peer = trusting_client();
    handshake_and_ping(&mut h, c, &mut peer);
    // The INFO came once, in plaintext.
    assert!(peer.plain.is_empty());
}

#[test]
fn a_client_hello_before_the_fallback_gets_the_info_encrypted() {
    let mut h = engine(with_fallback());
    let c = h.accept();
    h.advance(Duration::from_millis(10));
    assert!(h.take_bytes(c).is_empty());
    let mut peer = trusting_client();
    peer.pump(&mut h, c);
    let first = peer.take();
    assert!(first.starts_with("INFO {"), "{first:?}");
    // The fallback timer is off: nothing in plaintext later.
    h.advance(Duration::from_millis(100));
    let later = h.take_bytes(c);
    assert!(only_records(&later), "{later:?}");
    peer.receive(&later);
    assert_eq!(peer.take(), "");
    peer.write(QUIET);
    peer.pump(&mut h, c);
    assert_eq!(peer.take(), "PONG\r\n");
}

// ---- 5: the handshake timer -------------------------------------------------

fn times_out(options: Options, send: &[u8]) {
    let mut h = engine(options);
    let c = h.accept();
    h.take_bytes(c);
    if !send.is_empty() {
        h.send_bytes(c, send);
    }
    h.advance(TIMEOUT - Duration::from_millis(1));
    assert!(!h.is_closed(c), "closed before the timeout");
    h.advance(Duration::from_millis(1));
    assert!(h.is_closed(c), "open after the timeout");
    assert_eq!(h.close_reason(c), Some(CloseReason::TlsHandshakeError));
    let out = h.take_bytes(c);
    assert!(only_records(&out), "{out:?}");
}

#[test]
fn a_silent_client_is_closed_at_the_handshake_timeout() {
    times_out(client_port(settings(false)), b"");
}

#[test]
fn half_a_client_hello_is_closed_at_the_handshake_timeout() {
    let hello = trusting_client().wire();
    times_out(client_port(settings(false)), &hello[..hello.len() / 2]);
}

#[test]
fn handshake_first_silent_client_is_closed_at_the_timeout() {
    let options = client_port(TlsSettings {
        handshake_first: true,
        ..settings(false)
    });
    times_out(options, b"");
}

// ---- 6, 7: certificates -----------------------------------------------------

#[test]
fn a_client_that_distrusts_the_server_fails_alone() {
    let mut h = engine(client_port(settings(false)));
    let bad = h.accept();
    take_info(&mut h, bad);
    let good = h.accept();
    take_info(&mut h, good);
    let mut distrusting = Peer::client(client_config(&pki().other_ca, None));
    distrusting.pump(&mut h, bad);
    assert!(
        matches!(
            distrusting.error,
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{:?}",
        distrusting.error
    );
    assert!(h.is_closed(bad));
    assert_eq!(h.close_reason(bad), Some(CloseReason::TlsHandshakeError));
    assert!(!h.is_closed(good));
    handshake_and_ping(&mut h, good, &mut trusting_client());
    // And one accepted after it.
    let third = h.accept();
    take_info(&mut h, third);
    handshake_and_ping(&mut h, third, &mut trusting_client());
}

#[test]
fn verify_refuses_a_client_without_a_certificate() {
    let mut h = engine(client_port(settings(true)));
    let c = h.accept();
    take_info(&mut h, c);
    let peer = refused(&mut h, c, trusting_client(), QUIET);
    assert!(peer.error.is_some(), "the client got the server's alert");
}

#[test]
fn verify_refuses_a_certificate_from_another_ca() {
    let mut h = engine(client_port(settings(true)));
    let c = h.accept();
    take_info(&mut h, c);
    let rogue = Peer::client(client_config(&pki().ca, Some(&pki().rogue)));
    refused(&mut h, c, rogue, QUIET);
}

#[test]
fn verify_accepts_a_client_with_a_certificate() {
    let mut h = engine(client_port(settings(true)));
    let c = h.accept();
    take_info(&mut h, c);
    let mut peer = Peer::client(client_config(&pki().ca, Some(&pki().alice))).one_byte();
    handshake_and_ping(&mut h, c, &mut peer);
}

/// A server with `verify_and_map` and one user, alice@example.com, who
/// may publish to `allowed.>` only.
fn mapping_server() -> Harness {
    let mut options = client_port(TlsSettings {
        map: true,
        ..settings(true)
    });
    options.users.insert(
        "alice@example.com".into(),
        UserEntry {
            password: String::new(),
            permissions: Some(Permissions {
                publish: Some(Rule {
                    allow: Some(vec![Entry::parse("allowed.>")]),
                    deny: Vec::new(),
                }),
                subscribe: None,
                responses: None,
            }),
            account: "$G".into(),
        },
    );
    engine(options)
}

#[test]
fn verify_and_map_makes_the_certificate_the_user() {
    let mut h = mapping_server();
    let c = h.accept();
    let info = take_info(&mut h, c);
    assert_eq!(info["tls_verify"], true);
    let mut peer = Peer::client(client_config(&pki().ca, Some(&pki().alice)));
    // No user or password in the CONNECT: the certificate names the user.
    handshake_and_ping(&mut h, c, &mut peer);
    peer.write("SUB allowed.x 1\r\nPUB allowed.x 2\r\nhi\r\nPING\r\n");
    peer.pump(&mut h, c);
    assert_eq!(peer.take(), "MSG allowed.x 1 2\r\nhi\r\nPONG\r\n");
    peer.write("PUB denied.x 2\r\nhi\r\nPING\r\n");
    peer.pump(&mut h, c);
    assert_eq!(
        peer.take(),
        "-ERR 'Permissions Violation for Publish to \"denied.x\"'\r\nPONG\r\n"
    );
    assert!(!h.is_closed(c));
}

#[test]
fn verify_and_map_refuses_a_certificate_that_names_no_user() {
    let mut h = mapping_server();
    let c = h.accept();
    take_info(&mut h, c);
    let mut peer = Peer::client(client_config(&pki().ca, Some(&pki().bob)));
    peer.pump(&mut h, c);
    assert!(peer.error.is_none(), "{:?}", peer.error);
    // bob's CONNECT names alice: the certificate wins.
    peer.write("CONNECT {\"verbose\":false,\"user\":\"alice@example.com\"}\r\nPING\r\n");
    peer.pump(&mut h, c);
    assert_eq!(peer.take(), "-ERR 'Authorization Violation'\r\n");
    assert!(h.is_closed(c));
    assert_eq!(
        h.close_reason(c),
        Some(CloseReason::AuthenticationViolation)
    );
}

// ---- 8: allow_non_tls -------------------------------------------------------

fn optional_tls() -> Harness {
    engine(Options {
        allow_non_tls: true,
        ..client_port(settings(false))
    })
}

#[test]
fn allow_non_tls_offers_tls() {
    let mut h = optional_tls();
    let c = h.accept();
    let info = take_info(&mut h, c);
    assert_eq!(info["tls_available"], true);
    assert!(info.get("tls_required").is_none(), "{info}");
}

#[test]
fn allow_non_tls_takes_a_plaintext_client() {
    let mut h = optional_tls();
    let c = h.accept();
    take_info(&mut h, c);
    h.send(c, QUIET);
    assert_eq!(h.take_bytes(c), b"PONG\r\n");
    h.send(c, "SUB a 1\r\nPUB a 2\r\nhi\r\n");
    assert_eq!(h.take(c), "MSG a 1 2\r\nhi\r\n");
}

#[test]
fn allow_non_tls_takes_a_tls_client() {
    let mut h = optional_tls();
    let c = h.accept();
    take_info(&mut h, c);
    handshake_and_ping(&mut h, c, &mut trusting_client());
    // And byte by byte: the sniff sees the 0x16 alone.
    let c = h.accept();
    take_info(&mut h, c);
    handshake_and_ping(&mut h, c, &mut trusting_client().one_byte());
}

// ---- 9: routes --------------------------------------------------------------

fn tls_cluster() -> ClusterOptions {
    ClusterOptions {
        tls: Some(settings(true)),
        ..cluster()
    }
}

#[test]
fn an_accepted_route_starts_tls_at_once() {
    let mut h = engine(clustered(tls_cluster()));
    let r = h.accept_route();
    assert!(h.take_bytes(r).is_empty(), "no plaintext INFO");
    let mut peer = Peer::client(client_config(&pki().ca, Some(&pki().server))).one_byte();
    peer.pump(&mut h, r);
    assert!(peer.error.is_none(), "{:?}", peer.error);
    assert!(!peer.handshaking());
    let info = peer.take();
    assert!(info.starts_with("INFO {"), "{info:?}");
    let json = info_json(&info);
    assert_eq!(json["cluster"], "testc");
}

#[test]
fn an_accepted_route_says_tls_required_in_its_info() {
    // nats-server's route INFO: TLSRequired and TLSVerify are both
    // `opts.Cluster.TLSConfig != nil`.
    let mut h = engine(clustered(tls_cluster()));
    let r = h.accept_route();
    let mut peer = Peer::client(client_config(&pki().ca, Some(&pki().server)));
    peer.pump(&mut h, r);
    let json = info_json(&peer.take());
    assert_eq!(json["tls_required"], true, "{json}");
    assert_eq!(json["tls_verify"], true, "{json}");
}

#[test]
fn an_accepted_route_without_a_certificate_is_refused() {
    let mut h = engine(clustered(tls_cluster()));
    let r = h.accept_route();
    refused(&mut h, r, trusting_client(), "PING\r\n");
}

#[test]
fn a_dialed_route_sends_a_client_hello_first() {
    let mut h = engine(clustered(ClusterOptions {
        routes: vec![RouteAddr::parse("nats-route://127.0.0.1:7777").expect("url")],
        ..tls_cluster()
    }));
    h.advance(Duration::ZERO);
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let d = h.dials[0].0;
    h.dialed(d);
    // No plaintext CONNECT: the handshake, then the CONNECT encrypted.
    let mut peer = answer_hello(&mut h, d, Peer::server(server_config(true)));
    let out = peer.take();
    assert!(out.starts_with("CONNECT {"), "{out:?}");
}

// ---- 10: leaf nodes ---------------------------------------------------------

use super::leaf::LEAF_CONNECT;
const HUB_INFO: &str = "INFO {\"server_id\":\"NHUB\",\"server_name\":\"HUB\",\"version\":\"2.15.1\",\"proto\":3,\"headers\":true,\"tls_required\":true,\"max_payload\":1048576,\"client_id\":5,\"compression\":\"off\",\"api_lvl\":5,\"info_on_connect\":true,\"leafnode_urls\":[\"127.0.0.1:7422\"]} \r\n";

#[test]
fn a_tls_hub_sends_info_then_handshakes() {
    let mut o = super::leaf::hub_options();
    if let Some(l) = o.leaf.as_mut() {
        l.tls = Some(settings(false));
    }
    let mut h = engine(o);
    let l = h.accept_leaf();
    let info = take_info(&mut h, l);
    assert_eq!(info["tls_required"], true, "{info}");
    let mut peer = trusting_client().one_byte();
    peer.pump(&mut h, l);
    assert!(!peer.handshaking());
    assert_eq!(peer.take(), "");
    peer.write(&format!("{LEAF_CONNECT}\r\n"));
    peer.pump(&mut h, l);
    let out = peer.take();
    assert!(out.contains("\"connect_info\":true"), "{out:?}");
}

fn spoke(tls: TlsSettings) -> (Harness, ConnId) {
    let remote = RemoteLeafOptions {
        tls: Some(tls),
        ..super::leaf::remote("nats-leaf://127.0.0.1:7422")
    };
    let mut h = engine(super::leaf::spoke_options(remote));
    h.advance(Duration::ZERO);
    assert_eq!(h.dials.len(), 1, "{:?}", h.dials);
    let d = h.dials[0].0;
    h.dialed(d);
    (h, d)
}

/// A remote's block: trusts the CA, no certificate.
fn remote_tls(handshake_first: bool) -> TlsSettings {
    TlsSettings {
        ca_file: "ca.pem".into(),
        ca_pem: pki().ca.cert.clone(),
        timeout: TIMEOUT,
        handshake_first,
        ..TlsSettings::default()
    }
}

#[test]
fn a_handshake_first_remote_sends_its_client_hello_on_dial() {
    let (mut h, d) = spoke(remote_tls(true));
    // TLS switched on at dial, outside any read, leaves no pending switch
    // behind for another connection's read. (The simulator's TLS leaf
    // worlds found TLS clients' bytes decoded twice after such a dial.)
    let c = h.accept();
    h.take(c);
    h.send(c, "CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(h.take(c), "PONG\r\n");
    let mut peer = answer_hello(&mut h, d, Peer::server(server_config(false)));
    assert_eq!(peer.take(), "", "the spoke waits for the hub's INFO");
    peer.write(HUB_INFO);
    peer.pump(&mut h, d);
    let out = peer.take();
    assert!(out.starts_with("CONNECT {"), "{out:?}");
}

#[test]
fn a_remote_with_tls_upgrades_after_the_hub_info() {
    let (mut h, d) = spoke(remote_tls(false));
    assert!(h.take_bytes(d).is_empty(), "waits for the hub's INFO");
    h.send(d, HUB_INFO);
    // A ClientHello and no plaintext CONNECT.
    let peer = Peer::server(server_config(false)).one_byte();
    let mut peer = answer_hello(&mut h, d, peer);
    let out = peer.take();
    assert!(out.starts_with("CONNECT {"), "{out:?}");
}

// ---- 11: gateways -----------------------------------------------------------

/// The INFO a nats-server of cluster `B` sends on its gateway port.
const B_INFO: &str = "INFO {\"server_id\":\"NBSERVER\",\"server_name\":\"B1\",\"version\":\"2.15.1\",\"proto\":3,\"host\":\"127.0.0.1\",\"port\":7223,\"headers\":true,\"tls_required\":true,\"max_payload\":1048576,\"gateway\":\"B\",\"gateway_urls\":[\"127.0.0.1:7223\"],\"gateway_url\":\"127.0.0.1:7223\",\"gateway_nrp\":true,\"gateway_iom\":true}\r\n";

fn gateway_a() -> Harness {
    let mut o = super::gateway::gateway_options(vec![super::gateway::remote("B", 7223)]);
    if let Some(g) = o.gateway.as_mut() {
        g.tls = Some(settings(true));
    }
    engine(o)
}

#[test]
fn an_accepted_gateway_starts_tls_at_once() {
    let mut h = gateway_a();
    let g = h.accept_gateway();
    assert!(h.take_bytes(g).is_empty(), "no plaintext INFO");
    let mut peer = Peer::client(client_config(&pki().ca, Some(&pki().server)));
    peer.pump(&mut h, g);
    assert!(peer.error.is_none(), "{:?}", peer.error);
    assert!(!peer.handshaking());
    let info = peer.take();
    assert!(info.starts_with("INFO {"), "{info:?}");
    assert!(info.contains("\"gateway\":\"A\""), "{info:?}");
}

#[test]
fn a_dialed_gateway_starts_tls_at_once() {
    let mut h = gateway_a();
    h.advance(Duration::from_millis(1000));
    let (d, _) = h
        .dials
        .iter()
        .find(|(_, a)| a == "127.0.0.1:7223")
        .cloned()
        .expect("a dial of B");
    h.dialed(d);
    let mut peer = answer_hello(&mut h, d, Peer::server(server_config(true)));
    // B's INFO over TLS: the CONNECT comes back encrypted.
    assert_eq!(peer.take(), "", "the dialer waits for B's INFO");
    peer.write(B_INFO);
    peer.pump(&mut h, d);
    let out = peer.take();
    assert!(out.starts_with("CONNECT {"), "{out:?}");
    assert!(out.contains("\"gateway\":\"A\""), "{out:?}");
}

// ---- 12: random input -------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever follows the INFO on a TLS port, with or without a real
    /// ClientHello before it and in any read sizes, the engine neither
    /// panics nor writes anything but TLS records.
    #[test]
    fn random_bytes_after_the_info_stay_tls(
        hello_first in any::<bool>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..600),
        step in 1usize..40,
    ) {
        let mut h = engine(client_port(settings(false)));
        let c = h.accept();
        take_info(&mut h, c);
        let mut input = Vec::new();
        if hello_first {
            input = trusting_client().wire();
        }
        input.extend_from_slice(&garbage);
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            if h.is_closed(c) {
                break;
            }
            h.send_bytes(c, chunk);
            out.extend(h.take_bytes(c));
        }
        h.advance(TIMEOUT);
        out.extend(h.take_bytes(c));
        prop_assert!(only_records(&out), "{:?}", out);
        prop_assert!(h.is_closed(c));
        prop_assert_eq!(h.close_reason(c), Some(CloseReason::TlsHandshakeError));
    }
}
