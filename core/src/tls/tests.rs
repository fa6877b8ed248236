//! Full in-memory handshakes between the configurations [`build`] makes,
//! the determinism of the seeded provider, and nats-server's
//! `verify_and_map` names.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, SanType,
    PKCS_ED25519,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};
use std::sync::Arc;

const NOW: u64 = 1_750_000_000;

/// A certificate and its key, PEM, and the certificate's DER.
struct Pem {
    cert: String,
    key: String,
    der: Vec<u8>,
}

/// A CA and the certificates it signed.
struct Pki {
    ca: Pem,
    server: Pem,
    client: Pem,
}

fn key_pair(ed25519: bool) -> KeyPair {
    if ed25519 {
        KeyPair::generate_for(&PKCS_ED25519).expect("ed25519 key")
    } else {
        KeyPair::generate().expect("p256 key")
    }
}

/// A CA named `ca_name`, a server certificate for localhost and 127.0.0.1,
/// and a client certificate with SANs and a CN/O/OU subject.
fn new_pki(ca_name: &str, ed25519: bool) -> Pki {
    let ca_key = key_pair(ed25519);
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
    let ca = Pem {
        cert: ca_cert.pem(),
        key: ca_key.serialize_pem(),
        der: ca_cert.der().to_vec(),
    };
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = key_pair(ed25519);
    let mut server_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params");
    server_params
        .distinguished_name
        .push(DnType::CommonName, "server");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server cert");

    let client_key = key_pair(ed25519);
    let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    client_params.subject_alt_names = vec![
        SanType::URI("spiffe://example.org/alice".try_into().expect("uri")),
        SanType::DnsName("alice.example.org".try_into().expect("dns")),
        SanType::Rfc822Name("alice@example.org".try_into().expect("email")),
    ];
    // rcgen starts with a CN; a fresh name keeps the order below.
    let dn = &mut client_params.distinguished_name;
    *dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Acme, Inc.");
    dn.push(DnType::OrganizationalUnitName, "eng");
    dn.push(DnType::CommonName, "alice");
    let client_cert = client_params
        .signed_by(&client_key, &issuer)
        .expect("client cert");

    Pki {
        ca,
        server: Pem {
            cert: server_cert.pem(),
            key: server_key.serialize_pem(),
            der: server_cert.der().to_vec(),
        },
        client: Pem {
            cert: client_cert.pem(),
            key: client_key.serialize_pem(),
            der: client_cert.der().to_vec(),
        },
    }
}

fn settings(cert: Option<&Pem>, ca: Option<&Pem>) -> TlsSettings {
    let mut s = TlsSettings::default();
    if let Some(cert) = cert {
        s.cert_file = "cert.pem".into();
        s.cert_pem = cert.cert.clone();
        s.key_file = "key.pem".into();
        s.key_pem = cert.key.clone();
    }
    if let Some(ca) = ca {
        s.ca_file = "ca.pem".into();
        s.ca_pem = ca.cert.clone();
    }
    s
}

fn clock() -> TlsClock {
    let clock = TlsClock::default();
    clock.set(NOW);
    clock
}

fn configs(
    server: &TlsSettings,
    client: &TlsSettings,
    seed: u8,
) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let provider = provider(&[seed; 32]);
    let clock = clock();
    let server = build(server, &provider, &clock)
        .expect("server settings build")
        .server
        .expect("a server config");
    let client = build(client, &provider, &clock)
        .expect("client settings build")
        .client;
    (server, client)
}

/// What one handshake did: its outcome and every byte each side sent.
struct Run {
    result: Result<(), String>,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// Runs a handshake to `name`, then one message each way.
fn handshake(
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    name: &str,
) -> Run {
    let name = ServerName::try_from(name.to_string()).expect("server name");
    let mut c = ClientConnection::new(client, name).expect("client connection");
    let mut s = ServerConnection::new(server).expect("server connection");
    let mut run = Run {
        result: Ok(()),
        to_server: Vec::new(),
        to_client: Vec::new(),
    };
    let mut sent_data = false;
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("client write");
        }
        run.to_server.extend_from_slice(&buf);
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("server read");
        }
        if let Err(e) = s.process_new_packets() {
            run.result = Err(format!("server: {e}"));
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("server write");
        }
        run.to_client.extend_from_slice(&buf);
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("client read");
        }
        if let Err(e) = c.process_new_packets() {
            if run.result.is_ok() {
                run.result = Err(format!("client: {e}"));
            }
        }
        if run.result.is_err() {
            return run;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            if sent_data {
                return run;
            }
            use std::io::Write;
            c.writer().write_all(b"PING\r\n").expect("client data");
            s.writer().write_all(b"PONG\r\n").expect("server data");
            sent_data = true;
        }
    }
    run.result = Err("handshake did not finish".into());
    run
}

fn run(server: &TlsSettings, client: &TlsSettings) -> Result<(), String> {
    let (s, c) = configs(server, client, 1);
    handshake(s, c, "localhost").result
}

#[test]
fn succeeds_with_the_ca() {
    let pki = new_pki("ca", false);
    let server = settings(Some(&pki.server), None);
    let client = settings(None, Some(&pki.ca));
    assert_eq!(run(&server, &client), Ok(()));
    // By IP address too: the certificate names 127.0.0.1.
    let (s, c) = configs(&server, &client, 1);
    assert_eq!(handshake(s, c, "127.0.0.1").result, Ok(()));
    // And not by a name the certificate does not hold.
    let (s, c) = configs(&server, &client, 1);
    let err = handshake(s, c, "example.com")
        .result
        .expect_err("wrong name");
    assert!(err.contains("client:"), "{err}");
}

#[test]
fn fails_with_the_wrong_ca_unless_insecure() {
    let pki = new_pki("ca", false);
    let foreign = new_pki("other ca", false);
    let server = settings(Some(&pki.server), None);
    let mut client = settings(None, Some(&foreign.ca));
    let err = run(&server, &client).expect_err("wrong CA");
    assert!(err.contains("UnknownIssuer"), "{err}");
    client.insecure = true;
    assert_eq!(run(&server, &client), Ok(()));
}

#[test]
fn without_a_ca_every_server_is_unknown() {
    let pki = new_pki("ca", false);
    let server = settings(Some(&pki.server), None);
    let client = settings(None, None);
    let err = run(&server, &client).expect_err("no CA");
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn verify_requires_a_client_certificate() {
    let pki = new_pki("ca", false);
    let mut server = settings(Some(&pki.server), Some(&pki.ca));
    server.verify = true;
    let without = settings(None, Some(&pki.ca));
    let err = run(&server, &without).expect_err("no client cert");
    assert!(err.contains("server:"), "{err}");
    let with = settings(Some(&pki.client), Some(&pki.ca));
    assert_eq!(run(&server, &with), Ok(()));
    // A client certificate from another CA is refused.
    let foreign = new_pki("other ca", false);
    let mut stranger = settings(Some(&foreign.client), Some(&pki.ca));
    stranger.ca_pem = pki.ca.cert.clone();
    let err = run(&server, &stranger).expect_err("foreign client cert");
    assert!(err.contains("server:"), "{err}");
}

#[test]
fn verify_needs_a_ca() {
    let pki = new_pki("ca", false);
    let mut server = settings(Some(&pki.server), None);
    server.verify = true;
    let err = build(&server, &provider(&[0; 32]), &clock()).expect_err("verify without CA");
    assert_eq!(
        err,
        "tls: verify needs ca_file (no CA certificates to verify client certificates against)"
    );
}

#[test]
fn pins_are_checked_on_both_sides() {
    let pki = new_pki("ca", false);
    let server_pin = spki_sha256(&pki.server.der).expect("server spki");
    let client_pin = spki_sha256(&pki.client.der).expect("client spki");
    assert_eq!(server_pin.len(), 64);
    assert_ne!(server_pin, client_pin);

    // The client pins the server.
    let server = settings(Some(&pki.server), None);
    let mut client = settings(None, Some(&pki.ca));
    client.pinned_certs = vec![server_pin.to_uppercase()];
    assert_eq!(run(&server, &client), Ok(()));
    client.pinned_certs = vec![client_pin.clone()];
    let err = run(&server, &client).expect_err("server not pinned");
    assert!(err.contains("not pinned"), "{err}");

    // The server pins the client.
    let mut server = settings(Some(&pki.server), Some(&pki.ca));
    server.verify = true;
    server.pinned_certs = vec![client_pin.clone()];
    let client = settings(Some(&pki.client), Some(&pki.ca));
    assert_eq!(run(&server, &client), Ok(()));
    server.pinned_certs = vec![server_pin];
    let err = run(&server, &client).expect_err("client not pinned");
    assert!(
        err.contains("server: ") && err.contains("not pinned"),
        "{err}"
    );

    // Pins without verify still ask for the client's certificate.
    server.verify = false;
    server.pinned_certs = vec![client_pin];
    assert_eq!(run(&server, &client), Ok(()));
    let err = run(&server, &settings(None, Some(&pki.ca))).expect_err("no client cert");
    assert!(err.contains("server:"), "{err}");
}

#[test]
fn cipher_suites_curves_and_versions() {
    let pki = new_pki("ca", false);
    let p = provider(&[0; 32]);
    let c = clock();
    let mut s = settings(Some(&pki.server), None);

    s.cipher_suites = vec![
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into(),
        "BOGUS".into(),
    ];
    assert_eq!(build(&s, &p, &c).unwrap_err(), "unrecognized cipher BOGUS");
    s.cipher_suites = vec!["TLS_RSA_WITH_AES_128_CBC_SHA".into()];
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "cipher suite \"TLS_RSA_WITH_AES_128_CBC_SHA\" is not supported by canopy's TLS (no \
         CBC, RC4, 3DES or RSA key exchange suites); remove it from cipher_suites"
    );
    s.cipher_suites = vec!["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA".into()];
    assert!(build(&s, &p, &c)
        .unwrap_err()
        .contains("\"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA\" is not supported"));
    s.cipher_suites = vec![
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305".into(),
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into(),
    ];
    let config = build(&s, &p, &c).expect("good suites");
    let suites: Vec<_> = config
        .client
        .crypto_provider()
        .cipher_suites
        .iter()
        .map(|s| s.suite())
        .collect();
    assert_eq!(
        suites,
        vec![
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ]
    );
    s.cipher_suites.clear();

    s.curve_preferences = vec!["CurveP384".into(), "X25519".into(), "CurveP521".into()];
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "curve \"CurveP521\" is not supported by canopy's TLS (X25519, CurveP256 and CurveP384 \
         are); remove it from curve_preferences"
    );
    s.curve_preferences = vec!["Curve25519".into()];
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "unrecognized curve preference Curve25519"
    );
    s.curve_preferences = vec!["CurveP384".into(), "X25519".into(), "P256".into()];
    let config = build(&s, &p, &c).expect("good curves");
    let groups: Vec<_> = config
        .client
        .crypto_provider()
        .kx_groups
        .iter()
        .map(|g| g.name())
        .collect();
    assert_eq!(
        groups,
        vec![
            rustls::NamedGroup::secp384r1,
            rustls::NamedGroup::X25519,
            rustls::NamedGroup::secp256r1
        ]
    );
    s.curve_preferences.clear();

    s.min_version = "1.1".into();
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "error parsing tls config: unsupported TLS version: TLS 1.1"
    );
    s.min_version = "2".into();
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "error parsing tls config: unknown version: 2"
    );
}

/// A client of `provider` that speaks only TLS 1.2.
fn tls12_client(ca: &Pem, seed: u8) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca.der.clone()))
        .expect("root");
    let mut config =
        rustls::ClientConfig::builder_with_details(provider(&[seed; 32]), Arc::new(clock()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .expect("tls 1.2")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

#[test]
fn min_version_1_3_refuses_a_tls12_client() {
    let pki = new_pki("ca", false);
    let mut server = settings(Some(&pki.server), None);
    let (s, _) = configs(&server, &settings(None, Some(&pki.ca)), 1);
    assert_eq!(
        handshake(s, tls12_client(&pki.ca, 1), "localhost").result,
        Ok(())
    );
    server.min_version = "1.3".into();
    let (s, _) = configs(&server, &settings(None, Some(&pki.ca)), 1);
    let err = handshake(s, tls12_client(&pki.ca, 1), "localhost")
        .result
        .expect_err("1.2 client");
    assert!(err.contains("server:"), "{err}");
}

#[test]
fn an_unset_clock_fails_the_handshake() {
    let pki = new_pki("ca", false);
    let p = provider(&[3; 32]);
    let unset = TlsClock::default();
    let server = build(&settings(Some(&pki.server), None), &p, &unset)
        .expect("server")
        .server
        .expect("server config");
    let client = build(&settings(None, Some(&pki.ca)), &p, &unset)
        .expect("client")
        .client;
    let err = handshake(server, client, "localhost")
        .result
        .expect_err("no clock");
    assert!(
        err.contains("FailedToGetCurrentTime") || err.contains("time"),
        "{err}"
    );
}

#[test]
fn bad_pem_names_the_file() {
    let pki = new_pki("ca", false);
    let foreign = new_pki("other", false);
    let p = provider(&[0; 32]);
    let c = clock();
    let mut s = settings(Some(&pki.server), None);
    s.cert_pem = "garbage".into();
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "error parsing X509 certificate/key pair: tls: failed to find any PEM data in \
         certificate input (cert_file \"cert.pem\")"
    );
    let mut s = settings(Some(&pki.server), None);
    s.key_pem = pki.server.cert.clone();
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "error parsing X509 certificate/key pair: tls: found a certificate rather than a key \
         in the PEM for the private key (key_file \"key.pem\")"
    );
    let mut s = settings(Some(&pki.server), None);
    s.key_pem = foreign.server.key.clone();
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "error parsing X509 certificate/key pair: tls: private key does not match public key \
         (cert_file \"cert.pem\", key_file \"key.pem\")"
    );
    let mut s = settings(Some(&pki.server), None);
    s.cert_pem = pki.server.key.clone();
    assert!(build(&s, &p, &c)
        .unwrap_err()
        .contains("but did find a private key; PEM inputs may have been switched"));
    let mut s = settings(None, Some(&pki.ca));
    s.ca_pem = "nothing here".into();
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "failed to parse root ca certificate (ca_file \"ca.pem\")"
    );
    let s = TlsSettings {
        key_file: "key.pem".into(),
        key_pem: pki.server.key.clone(),
        ..TlsSettings::default()
    };
    assert_eq!(
        build(&s, &p, &c).unwrap_err(),
        "missing 'cert_file' in TLS configuration"
    );
}

/// A handshake between Ed25519 peers whose providers have seed `seed`:
/// TLS 1.3 with a client certificate, or TLS 1.2 without one.
fn deterministic_run(pki: &Pki, seed: u8, tls12: bool) -> Run {
    let mut server = settings(Some(&pki.server), Some(&pki.ca));
    let mut client = settings(Some(&pki.client), Some(&pki.ca));
    client.min_version = "1.3".into();
    server.verify = !tls12;
    let (s, c) = configs(&server, &client, seed);
    let c = if tls12 {
        tls12_client(&pki.ca, seed)
    } else {
        c
    };
    handshake(s, c, "localhost")
}

#[test]
fn same_seed_same_bytes() {
    let pki = new_pki("ca", true);
    for tls12 in [false, true] {
        let a = deterministic_run(&pki, 7, tls12);
        let b = deterministic_run(&pki, 7, tls12);
        let other = deterministic_run(&pki, 8, tls12);
        assert_eq!(a.result, Ok(()), "tls12 {tls12}");
        assert_eq!(other.result, Ok(()), "tls12 {tls12}");
        assert!(a.to_server.len() > 200 && a.to_client.len() > 200);
        assert!(
            a.to_server == b.to_server,
            "client bytes differ, tls12 {tls12}"
        );
        assert!(
            a.to_client == b.to_client,
            "server bytes differ, tls12 {tls12}"
        );
        assert!(a.to_server != other.to_server, "tls12 {tls12}");
        assert!(a.to_client != other.to_client, "tls12 {tls12}");
    }
}

#[test]
fn provider_stream_depends_on_the_seed_only() {
    let draw = |seed: u8| {
        let p = provider(&[seed; 32]);
        let mut buf = [0u8; 48];
        p.secure_random.fill(&mut buf).expect("fill");
        let kx = p.kx_groups[0].start().expect("x25519");
        (buf, kx.pub_key().to_vec())
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1).0, draw(2).0);
    assert_ne!(draw(1).1, draw(2).1);
    let p = provider(&[1; 32]);
    let names: Vec<_> = p.kx_groups.iter().map(|g| g.name()).collect();
    assert_eq!(
        names,
        vec![
            rustls::NamedGroup::X25519,
            rustls::NamedGroup::secp256r1,
            rustls::NamedGroup::secp384r1
        ]
    );
    // The seeded X25519 agrees with itself and refuses a bad share.
    let a = p.kx_groups[0].start().expect("a");
    let b = p.kx_groups[0].start().expect("b");
    let b_pub = b.pub_key().to_vec();
    let a_pub = a.pub_key().to_vec();
    let ab = a.complete(&b_pub).expect("ab");
    let ba = b.complete(&a_pub).expect("ba");
    assert_eq!(ab.secret_bytes(), ba.secret_bytes());
    let c = p.kx_groups[0].start().expect("c");
    assert!(c.complete(&[0u8; 32]).is_err());
    let d = p.kx_groups[0].start().expect("d");
    assert!(d.complete(&[1u8; 31]).is_err());
}

#[test]
fn map_candidates_of_the_client_certificate() {
    let pki = new_pki("ca", false);
    assert_eq!(
        map_candidates(&pki.client.der),
        vec![
            "alice@example.org",
            "alice.example.org",
            "spiffe://example.org/alice",
            "CN=alice,OU=eng,O=Acme\\, Inc.",
        ]
    );
    let users = ["bob", "CN=alice,OU=eng,O=Acme\\, Inc.", "alice.example.org"];
    assert_eq!(map_user(&pki.client.der, &users, true), Some(2));
    let users = ["bob", "O=Acme\\2C Inc., OU=eng, CN=alice"];
    assert_eq!(map_user(&pki.client.der, &users, true), Some(1));
    assert_eq!(map_user(&pki.client.der, &users, false), None);
    assert_eq!(
        subject_matches(&pki.client.der, "cn=alice,ou=eng,o=Acme\\, Inc."),
        DnMatch::Exact
    );
    assert_eq!(
        subject_matches(&pki.client.der, "CN=alice,OU=eng,O=Acme Inc."),
        DnMatch::No
    );
    assert!(map_candidates(b"not a certificate").is_empty());
    assert_eq!(map_user(b"junk", &["x"], true), None);
}

// A test-only DER writer, for subjects rcgen cannot write (several values
// of one type, multi-valued RDNs).

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut bytes = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            bytes.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        bytes.reverse();
        body.extend(bytes);
    }
    tlv(0x06, &body)
}

fn attr_oid(kind: &str) -> Vec<u8> {
    match kind {
        "CN" => oid(&[2, 5, 4, 3]),
        "C" => oid(&[2, 5, 4, 6]),
        "L" => oid(&[2, 5, 4, 7]),
        "ST" => oid(&[2, 5, 4, 8]),
        "O" => oid(&[2, 5, 4, 10]),
        "OU" => oid(&[2, 5, 4, 11]),
        "DC" => oid(&[0, 9, 2342, 19200300, 100, 1, 25]),
        "E" => oid(&[1, 2, 840, 113549, 1, 9, 1]),
        other => panic!("no OID for {other}"),
    }
}

/// A Name from RDNs in certificate order, each a list of (type, value).
fn name(rdns: &[&[(&str, &str)]]) -> Vec<u8> {
    let mut seq = Vec::new();
    for rdn in rdns {
        let mut set = Vec::new();
        for (kind, value) in *rdn {
            let tag = if matches!(*kind, "DC" | "E") {
                0x16
            } else {
                0x0c
            };
            let atv = [attr_oid(kind), tlv(tag, value.as_bytes())].concat();
            set.extend(tlv(0x30, &atv));
        }
        seq.extend(tlv(0x31, &set));
    }
    tlv(0x30, &seq)
}

/// A certificate (unsigned: nothing here checks signatures) with `subject`.
fn cert_with_subject(subject: &[&[(&str, &str)]]) -> Vec<u8> {
    let ed25519 = tlv(0x30, &oid(&[1, 3, 101, 112]));
    let validity = [tlv(0x17, b"200101000000Z"), tlv(0x17, b"400101000000Z")].concat();
    let spki = [ed25519.clone(), tlv(0x03, &[0u8; 33])].concat();
    let tbs = [
        tlv(0xa0, &tlv(0x02, &[2])),
        tlv(0x02, &[1]),
        ed25519.clone(),
        name(&[&[("CN", "issuer")]]),
        tlv(0x30, &validity),
        name(subject),
        tlv(0x30, &spki),
    ]
    .concat();
    let signature = tlv(0x03, &[0u8; 65]);
    tlv(0x30, &[tlv(0x30, &tbs), ed25519, signature].concat())
}

/// A certificate with a subject written as OpenSSL's `-subj` takes it
/// (`/C=US/O=x+DC=y`; values without `/`, `+` or `=`).
fn cert(subject: &str) -> Vec<u8> {
    let rdns: Vec<Vec<(&str, &str)>> = subject
        .trim_start_matches('/')
        .split('/')
        .map(|rdn| {
            rdn.split('+')
                .map(|atv| atv.split_once('=').expect("type=value"))
                .collect()
        })
        .collect();
    let rdns: Vec<&[(&str, &str)]> = rdns.iter().map(Vec::as_slice).collect();
    cert_with_subject(&rdns)
}

// The subjects and user names of nats-server's TestTLSClientAuthWithRDNSequence
// (test/tls_test.go), with the outcomes it asserts.

#[test]
fn nats_rdn_sequence_full_and_reordered() {
    let a = cert("/C=US/ST=CA/L=Los Angeles/O=NATS/OU=NATS/CN=localhost/DC=foo1/DC=foo2");
    assert_eq!(
        map_candidates(&a),
        vec![
            "CN=localhost,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US,DC=foo1,DC=foo2",
            "CN=localhost,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US",
        ]
    );
    for user in [
        "CN=localhost,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US,DC=foo1,DC=foo2",
        "DC=foo2,DC=foo1,CN=localhost,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US",
        "DC=foo2, DC=foo1, CN=localhost, OU=NATS, O=NATS, L=Los Angeles, ST=CA, C=US",
    ] {
        assert_eq!(map_user(&a, &[user], true), Some(0), "{user}");
    }
    assert_eq!(
        subject_matches(
            &a,
            "DC=foo2, DC=foo1, CN=localhost, OU=NATS, O=NATS, L=Los Angeles, ST=CA, C=US"
        ),
        DnMatch::Exact
    );

    // The same with DC=foo3/DC=foo4: only the user without DCs matches.
    let c = cert("/C=US/ST=CA/L=Los Angeles/O=NATS/OU=NATS/CN=localhost/DC=foo3/DC=foo4");
    let users = [
        "DC=foo2,DC=foo1,CN=localhost,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US",
        "CN=localhost,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US,DC=foo1,DC=foo2",
        "CN=localhost,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US",
    ];
    assert_eq!(map_user(&c, &users, true), Some(2));
    assert_eq!(map_user(&c, &users[..2], true), None);

    // The user in the certificate's own
    // order wins over one matching the string with DCs.
    let d = cert("/C=US/ST=CA/L=Los Angeles/OU=NATS/O=NATS/CN=*.example.com/DC=example/DC=com");
    let users = [
        "CN=*.example.com,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US,DC=example,DC=com",
        "DC=com,DC=example,CN=*.example.com,O=NATS,OU=NATS,L=Los Angeles,ST=CA,C=US",
        "CN=*.example.com,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US",
    ];
    assert_eq!(map_user(&d, &users, true), Some(1));
    assert_eq!(subject_matches(&d, users[0]), DnMatch::Reordered);
    // Without DN matching (routes, leafnodes) the string with DCs is first.
    assert_eq!(map_user(&d, &users, false), Some(0));
}

#[test]
fn nats_rdn_sequence_repeated_and_multi_valued() {
    let e = cert("/CN=John Doe/CN=123456/CN=jdoe/OU=Users/OU=Organic Units/DC=acme/DC=com");
    // Go keeps the last CN and joins the OUs in one RDN.
    assert_eq!(
        map_candidates(&e),
        vec![
            "CN=jdoe,OU=Users+OU=Organic Units,DC=acme,DC=com",
            "CN=jdoe,OU=Users+OU=Organic Units",
        ]
    );
    assert_eq!(
        subject_matches(
            &e,
            "DC=com,DC=acme,OU=Organic Units,OU=Users,CN=jdoe,CN=123456,CN=John Doe"
        ),
        DnMatch::Exact
    );

    // A multi-valued RDN.
    let f = cert("/DC=org/DC=OpenSSL/DC=DEV+O=users/CN=John Doe");
    assert_eq!(
        map_candidates(&f),
        vec![
            "CN=John Doe,O=users,DC=org,DC=OpenSSL,DC=DEV",
            "CN=John Doe,O=users",
        ]
    );
    for (user, expected) in [
        (
            "CN=John Doe,DC=DEV+O=users,DC=OpenSSL,DC=org",
            DnMatch::Exact,
        ),
        (
            "CN=John Doe,O=users+DC=DEV,DC=OpenSSL,DC=org",
            DnMatch::Exact,
        ),
        (
            "DC=org,DC=OpenSSL,O=users+DC=DEV,CN=John Doe",
            DnMatch::Reordered,
        ),
        ("CN=John Doe,DC=DEV,DC=OpenSSL,DC=org", DnMatch::No),
        ("DC=org,DC=OpenSSL,O=users,CN=John Doe", DnMatch::No),
        ("DC=OpenSSL, DC=org, O=users, CN=John Doe", DnMatch::No),
    ] {
        assert_eq!(subject_matches(&f, user), expected, "{user}");
        assert_eq!(
            map_user(&f, &[user], true).is_some(),
            expected != DnMatch::No,
            "{user}"
        );
    }
}

#[test]
fn subject_strings_follow_go() {
    // Escaping as Go's RDNSequence.String: specials, a leading '#', spaces
    // at either end.
    let cert = cert_with_subject(&[&[("O", "#1 a+b")], &[("CN", " x;y<z> \"q\" ")]]);
    assert_eq!(
        map_candidates(&cert),
        vec!["CN=\\ x\\;y\\<z\\> \\\"q\\\"\\ ,O=\\#1 a\\+b"]
    );
    // An emailAddress is left out of Go's string and stops DN matching.
    let cert = cert_with_subject(&[&[("CN", "carol")], &[("E", "carol@example.org")]]);
    assert_eq!(map_candidates(&cert), vec!["CN=carol"]);
    assert_eq!(
        subject_matches(&cert, "E=carol@example.org,CN=carol"),
        DnMatch::No
    );
    assert_eq!(map_user(&cert, &["CN=carol"], true), Some(0));
    // User names nats-server's DN parser refuses never match as DNs.
    let cert = cert_with_subject(&[&[("CN", "dave")]]);
    for user in ["dave", "CN=#6461", "=dave", "CN=da\\zz"] {
        assert_eq!(subject_matches(&cert, user), DnMatch::No, "{user}");
    }
    assert_eq!(subject_matches(&cert, "cn=d\\61ve "), DnMatch::Exact);
}

#[test]
fn map_never_panics_on_truncations() {
    let pki = new_pki("ca", false);
    let der = &pki.client.der;
    for end in 0..der.len() {
        let _ = map_candidates(&der[..end]);
        let _ = map_user(&der[..end], &["CN=alice"], true);
    }
    for user in [
        "\\",
        "CN=\\",
        "CN=\\4",
        "+",
        ",",
        "=",
        "CN=a+",
        "  ",
        "\\\\=\\\\",
    ] {
        let _ = subject_matches(der, user);
    }
}

#[test]
fn the_server_picks_aes_128_first_as_go_does() {
    // A rustls client lists AES-256 first; nats-server (Go) picks
    // AES-128-GCM by its own preference, and so does canopy.
    let pki = new_pki("ca", false);
    let server = settings(Some(&pki.server), None);
    let (s, _) = configs(&server, &settings(None, Some(&pki.ca)), 1);
    // A stock rustls client (ring's order: AES-256 first).
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(pki.ca.der.clone()))
        .expect("root");
    let c = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let name = ServerName::try_from("localhost".to_string()).expect("server name");
    let mut c = ClientConnection::new(c, name).expect("client connection");
    let mut s = ServerConnection::new(s).expect("server connection");
    for _ in 0..10 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("client write");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("server read");
        }
        s.process_new_packets().expect("server");
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("server write");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("client read");
        }
        c.process_new_packets().expect("client");
    }
    let suite = s.negotiated_cipher_suite().expect("negotiated").suite();
    assert_eq!(suite, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
}
