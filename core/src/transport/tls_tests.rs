use super::*;
use crate::outbound::Outbound;
use crate::transport::{Layer, Transport};
use proptest::prelude::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and a server certificate for `localhost` and 127.0.0.1 it signed.
struct Pki {
    ca: CertificateDer<'static>,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let ca_issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("p");
    let cert = params.signed_by(&key, &ca_issuer).expect("signed");
    Pki {
        ca: ca.der().clone(),
        cert: cert.der().clone(),
        key: key.serialize_der(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(p: &Pki) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(p.key.clone()));
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![p.cert.clone()], key)
            .expect("server config"),
    )
}

fn client_config(ca: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("name")
}

/// One end of a connection: its transport, its outbound queue and the
/// plaintext it received.
struct End {
    t: Transport,
    out: Outbound,
    got: Vec<u8>,
    failed: Option<TransportError>,
}

impl End {
    fn new() -> Self {
        End {
            t: Transport::default(),
            out: Outbound::default(),
            got: Vec::new(),
            failed: None,
        }
    }

    /// Everything this end would write now.
    fn flush(&mut self) -> Vec<u8> {
        let mut dst = Vec::new();
        let n = self.t.take(&mut self.out, &mut dst).expect("take");
        let wire = dst.concat();
        assert_eq!(n, wire.len());
        self.t.written(n, &mut self.out);
        wire
    }

    /// Feeds `wire` in reads cut every `step` bytes.
    fn read(&mut self, wire: &[u8], step: usize) {
        for piece in wire.chunks(step.max(1)) {
            let d = self.t.decode(Bytes::copy_from_slice(piece));
            self.got.extend_from_slice(&d.plain);
            if d.failed.is_some() {
                self.failed = self.failed.or(d.failed);
            }
        }
    }
}

/// Pumps bytes both ways until neither end has anything to say.
fn pump(a: &mut End, b: &mut End, step: usize) {
    for _ in 0..64 {
        let ab = a.flush();
        b.read(&ab, step);
        let ba = b.flush();
        a.read(&ba, step);
        if ab.is_empty() && ba.is_empty() {
            return;
        }
    }
    panic!("the ends never went quiet");
}

/// A server that sent `INFO` in plaintext and then switched TLS on, and a
/// client that switched on at the exact byte after that INFO, which it
/// read in the same read as `trailing`.
fn handshake(step: usize, ca: &CertificateDer<'static>, p: &Pki) -> (End, End) {
    let mut server = End::new();
    server.out.push_slice(b"INFO {\"tls_required\":true}\r\n");
    let layer = TlsLayer::server(server_config(p)).expect("server");
    let d = server
        .t
        .push_inner(Layer::Tls(Box::new(layer)), Bytes::new(), &server.out);
    assert!(d.plain.is_empty() && d.failed.is_none());
    let info = server.flush();
    assert_eq!(info, b"INFO {\"tls_required\":true}\r\n");

    let mut client = End::new();
    let d = client.t.decode(Bytes::from(info));
    assert_eq!(&d.plain[..], b"INFO {\"tls_required\":true}\r\n");
    let layer = TlsLayer::client(client_config(ca), localhost()).expect("client");
    let d = client
        .t
        .push_inner(Layer::Tls(Box::new(layer)), Bytes::new(), &client.out);
    assert!(d.plain.is_empty());
    assert!(client.t.wants_write(), "the ClientHello goes out at once");
    // The CONNECT is queued under TLS before the handshake ends.
    client.out.push_slice(b"CONNECT {}\r\nPING\r\n");
    pump(&mut client, &mut server, step);
    (server, client)
}

#[test]
fn plaintext_crosses_after_the_handshake_at_every_read_size() {
    let p = pki();
    for step in [1, 2, 3, 7, 64, 1000, 1 << 20] {
        let (mut server, mut client) = handshake(step, &p.ca, &p);
        assert_eq!(server.failed, None, "step {step}");
        assert_eq!(server.got, b"CONNECT {}\r\nPING\r\n", "step {step}");
        assert!(!server.t.tls_handshaking() && !client.t.tls_handshaking());
        server.out.push_slice(b"PONG\r\n");
        pump(&mut server, &mut client, step);
        assert_eq!(client.got, b"PONG\r\n", "step {step}");
        // The plaintext counter drains to zero with the last wire byte.
        assert_eq!(client.out.pending(), 0);
        assert_eq!(server.out.pending(), 0);
        let (version, _) = server.t.tls().and_then(TlsLayer::negotiated).expect("done");
        assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
    }
}

#[test]
fn the_switch_happens_at_the_exact_byte_after_the_info() {
    // The dialer reads the INFO and the first bytes of something else in
    // one read: those bytes are the TLS layer's, not the parser's.
    let p = pki();
    let mut client = End::new();
    let d = client.t.decode(Bytes::from_static(b"INFO {}\r\n\x16\x03"));
    let mut data = d.plain;
    let mut parser = crate::proto::Parser::new();
    let limits = crate::proto::Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
        headers: false,
        dialect: crate::proto::Dialect::Client,
    };
    let op = parser.decode(&mut data, &limits).expect("parse");
    assert!(matches!(op, Some(crate::proto::ClientOp::Info(_))));
    assert_eq!(&data[..], b"\x16\x03");
    let layer = TlsLayer::client(client_config(&p.ca), localhost()).expect("client");
    let d = client
        .t
        .push_inner(Layer::Tls(Box::new(layer)), data, &client.out);
    // Half a record header: held by the layer, nothing for the parser.
    assert!(d.plain.is_empty() && d.failed.is_none());
}

#[test]
fn an_untrusted_certificate_fails_the_handshake_on_both_ends() {
    let p = pki();
    let other = pki();
    let (server, client) = handshake(5, &other.ca, &p);
    let failed = client.failed.expect("the client refuses the certificate");
    assert_eq!(failed.reason, CloseReason::TlsHandshakeError);
    assert_eq!(failed.ending, Ending::Flush);
    let why = client.t.tls().and_then(TlsLayer::error).expect("error");
    assert!(
        matches!(why, rustls::Error::InvalidCertificate(_)),
        "{why:?}"
    );
    // A certificate refused in the peer's first flight is a handshake
    // error, logged as such, not bytes that are not TLS.
    assert!(!client.t.tls().is_some_and(TlsLayer::not_tls));
    // The alert reached the server, which fails too.
    assert_eq!(
        server.failed.map(|f| f.reason),
        Some(CloseReason::TlsHandshakeError)
    );
    assert!(server.got.is_empty());
}

#[test]
fn a_plaintext_client_on_a_tls_port_fails_the_handshake() {
    let p = pki();
    let mut server = End::new();
    let layer = TlsLayer::server(server_config(&p)).expect("server");
    let _ = server
        .t
        .push_inner(Layer::Tls(Box::new(layer)), Bytes::new(), &server.out);
    server.read(b"CONNECT {\"verbose\":false}\r\nPING\r\n", 1 << 10);
    let failed = server.failed.expect("not a TLS record");
    assert_eq!(failed.reason, CloseReason::TlsHandshakeError);
    // Go answers bytes that are not TLS with no alert: nothing more is sent.
    assert_eq!(failed.ending, Ending::Silent);
    assert!(server.t.tls().is_some_and(TlsLayer::not_tls));
    assert!(server.got.is_empty());
    // Later reads give the same failure and nothing else.
    let d = server.t.decode(Bytes::from_static(b"PUB a 1\r\nx\r\n"));
    assert!(d.plain.is_empty());
    assert_eq!(d.failed, Some(failed));
}

#[test]
fn close_notify_ends_the_stream_cleanly() {
    let p = pki();
    let (mut server, mut client) = handshake(64, &p.ca, &p);
    server.out.push_slice(b"-ERR 'bye'\r\n");
    server.t.queue_goodbye();
    pump(&mut server, &mut client, 64);
    assert_eq!(client.got, b"-ERR 'bye'\r\n");
    // The close_notify ends the stream after the plaintext before it.
    assert_eq!(
        client.failed.map(|f| (f.kind, f.reason)),
        Some((ErrorKind::PeerClosed, CloseReason::ClientClosed))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// No input makes either role panic or hand the parser plaintext
    /// before a handshake.
    #[test]
    fn random_input_never_panics(
        reads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8),
        tls_header in any::<bool>(),
    ) {
        let p = pki_once();
        for role in 0..2 {
            let layer = if role == 0 {
                TlsLayer::server(server_config(p)).expect("server")
            } else {
                TlsLayer::client(client_config(&p.ca), localhost()).expect("client")
            };
            let mut t = Transport::default();
            let mut out = Outbound::default();
            let _ = t.push_inner(Layer::Tls(Box::new(layer)), Bytes::new(), &out);
            for (i, r) in reads.iter().enumerate() {
                let mut r = r.clone();
                if tls_header && i == 0 {
                    r.splice(0..0, [0x16, 0x03, 0x01]);
                }
                let d = t.decode(Bytes::from(r));
                prop_assert!(d.plain.is_empty());
                let mut dst = Vec::new();
                let _ = t.take(&mut out, &mut dst);
            }
        }
    }
}

/// One PKI for the property test's many cases.
fn pki_once() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(pki)
}
