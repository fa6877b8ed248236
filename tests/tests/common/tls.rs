//! What the TLS suites (`tls_client.rs`, `tls_links.rs`) share: their
//! certificates, and the client helpers both use. Included by path
//! (`#[path = "common/tls.rs"] mod tls;`), so the other suites do not
//! build rcgen.
//!
//! The certificates are made at run time with rcgen and written as PEM
//! files into a temp dir (removed on drop):
//!
//! * `ca`: the trusted CA;
//! * `server`: `localhost` and IP `127.0.0.1`, signed by `ca`, good for
//!   server and client authentication (routes, gateways and leafs present
//!   it from both ends);
//! * `client`: subject `O=Canopy, CN=alice` (RFC 4514: `CN=alice,O=Canopy`)
//!   and email SAN `alice@example.com`, signed by `ca`;
//! * `other_ca`: an unrelated CA, and `rogue_server`/`rogue_client`, the
//!   same names as `server`/`client` but signed by `other_ca` (the
//!   "untrusted" cases).
//!
//! Keys are ECDSA P-256, which Go, rustls and OpenSSL all take.
#![allow(dead_code)]

use async_nats::{Message, Subscriber};
use canopy_tests::TempDir;
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::timeout;

/// A certificate and its key, as files, plus the certificate's DER.
#[derive(Debug)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: Vec<u8>,
}

impl Pair {
    /// `cert_file: "…"\n key_file: "…"` for a `tls {}` block.
    pub fn conf(&self) -> String {
        format!(
            "cert_file: \"{}\"\n    key_file: \"{}\"",
            self.cert.display(),
            self.key.display()
        )
    }
}

/// Everything the TLS tests need, in one temp dir.
#[derive(Debug)]
pub struct Certs {
    dir: TempDir,
    /// The trusted CA's certificate (PEM file) and DER.
    pub ca: PathBuf,
    pub ca_der: Vec<u8>,
    /// An unrelated CA's certificate (PEM file).
    pub other_ca: PathBuf,
    pub other_ca_der: Vec<u8>,
    pub server: Pair,
    pub client: Pair,
    pub rogue_server: Pair,
    pub rogue_client: Pair,
}

/// The subject of the client certificate as nats-server prints it (RFC
/// 4514, most specific first).
pub const CLIENT_DN: &str = "CN=alice,O=Canopy";
/// The client certificate's email SAN.
pub const CLIENT_EMAIL: &str = "alice@example.com";

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Canopy Tests");
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

fn server_params() -> CertificateParams {
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
    p.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Canopy");
    dn.push(DnType::CommonName, "localhost");
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p
}

fn client_params() -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("client params");
    p.subject_alt_names.push(SanType::Rfc822Name(
        CLIENT_EMAIL.try_into().expect("an IA5 email"),
    ));
    // Encoded O first, then CN: RFC 4514 (and Go's String()) print the
    // last RDN first, `CN=alice,O=Canopy`.
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Canopy");
    dn.push(DnType::CommonName, "alice");
    p.distinguished_name = dn;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write PEM");
    p
}

fn issue(dir: &Path, name: &str, params: &CertificateParams, issuer: &Issuer<'_, KeyPair>) -> Pair {
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("sign");
    Pair {
        cert: write(dir, &format!("{name}.pem"), &cert.pem()),
        key: write(dir, &format!("{name}-key.pem"), &key.serialize_pem()),
        der: cert.der().to_vec(),
    }
}

/// A self-signed CA named `name`: its issuer, PEM file and DER.
fn make_ca(dir: &Path, file: &str, name: &str) -> (Issuer<'static, KeyPair>, PathBuf, Vec<u8>) {
    let key = KeyPair::generate().expect("CA key");
    let params = ca_params(name);
    let cert = params.self_signed(&key).expect("CA cert");
    let path = write(dir, &format!("{file}.pem"), &cert.pem());
    (Issuer::new(params, key), path, cert.der().to_vec())
}

impl Certs {
    /// Makes every certificate and writes the files.
    pub fn new() -> Certs {
        let dir = TempDir::new("certs");
        let d = dir.path().to_path_buf();
        let (issuer, ca, ca_der) = make_ca(&d, "ca", "Canopy Test CA");
        let (other, other_ca, other_ca_der) = make_ca(&d, "other-ca", "Unrelated CA");

        Certs {
            server: issue(&d, "server", &server_params(), &issuer),
            client: issue(&d, "client", &client_params(), &issuer),
            rogue_server: issue(&d, "rogue-server", &server_params(), &other),
            rogue_client: issue(&d, "rogue-client", &client_params(), &other),
            ca,
            ca_der,
            other_ca,
            other_ca_der,
            dir,
        }
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `tls { cert_file, key_file }` lines of the server certificate with
    /// `extra` lines (e.g. `ca_file`, `verify`) appended.
    pub fn server_tls(&self, extra: &str) -> String {
        format!("tls {{\n    {}\n    {extra}\n  }}", self.server.conf())
    }

    /// `ca_file: "…"` of the trusted CA.
    pub fn ca_conf(&self) -> String {
        format!("ca_file: \"{}\"", self.ca.display())
    }

    /// `ca_file: "…"` of the unrelated CA.
    pub fn other_ca_conf(&self) -> String {
        format!("ca_file: \"{}\"", self.other_ca.display())
    }
}

// ---- clients -----------------------------------------------------------------

/// Upper bound on any single wait for a message.
const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing more arrives" is watched for.
pub const QUIET: Duration = Duration::from_millis(300);

/// The next message, or a panic after a few seconds.
pub async fn next(sub: &mut Subscriber) -> Message {
    timeout(WAIT, sub.next())
        .await
        .expect("timed out waiting for a message")
        .expect("subscription ended early")
}

/// Asserts nothing more arrives within [`QUIET`].
pub async fn assert_no_more(sub: &mut Subscriber, what: &str) {
    if let Ok(Some(m)) = timeout(QUIET, sub.next()).await {
        panic!(
            "{what}: unexpected message on {}: {:?}",
            m.subject, m.payload
        );
    }
}

/// A payload of `len` bytes starting with `tag`, larger than a TLS
/// record (16 KiB) when `len` is, so it spans several.
pub fn big(tag: &str, len: usize) -> bytes::Bytes {
    let mut v = tag.as_bytes().to_vec();
    v.extend((0..len).map(|i| (i % 251) as u8));
    v.into()
}
