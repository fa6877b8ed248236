//! Building rustls configurations from [`TlsSettings`].
//!
//! Errors use nats-server's wording where it has one (`error parsing X509
//! certificate/key pair: tls: ...`, `unrecognized cipher ...`), with the
//! configured file named after it, and say plainly when a value nats-server
//! accepts is one canopy refuses (CBC and RSA key exchange suites, P-521):
//! the engine never quietly runs with weaker or different settings than
//! the ones written.

use super::provider::TlsClock;
use super::TlsSettings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, CipherSuite, DigitallySignedStruct, DistinguishedName, InconsistentKeys,
    NamedGroup, RootCertStore, SignatureScheme, SupportedProtocolVersion,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The rustls configurations of one `tls {}` block.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// The settings it was built from.
    pub settings: TlsSettings,
    /// For accepting connections: present when the block has a
    /// certificate and key.
    pub server: Option<Arc<rustls::ServerConfig>>,
    /// For dialing.
    pub client: Arc<rustls::ClientConfig>,
}

/// Builds the configurations of `settings` with the engine's `provider`,
/// checking certificates' validity against `clock`. The error names the
/// value that cannot be honoured.
///
/// - `server` (with `cert_pem` and `key_pem`): asks for and checks a client
///   certificate against `ca_pem` when `verify` (an error without CA
///   certificates); no session cache and no tickets, so a handshake draws
///   nothing beyond the provider's stream.
/// - `client`: checks the server against `ca_pem` (none: every server is an
///   unknown issuer) unless `insecure` (then only the handshake signature
///   is checked); presents the certificate when there is one; no
///   resumption; SNI on.
/// - `pinned_certs`, when not empty, must hold the SPKI hash
///   ([`spki_sha256`]) of the peer's end-entity certificate, on both sides.
///   A server with pins but without `verify` still asks for (and requires)
///   a client certificate so the pin can be checked; its chain is not
///   checked.
pub fn build(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
    clock: &TlsClock,
) -> Result<TlsConfig, String> {
    let versions = versions(&settings.min_version)?;
    let provider = Arc::new(CryptoProvider {
        cipher_suites: cipher_suites(&settings.cipher_suites, provider)?,
        kx_groups: kx_groups(&settings.curve_preferences, provider)?,
        ..(**provider).clone()
    });
    let time = Arc::new(clock.clone());
    let roots = roots(settings)?;
    let pins = pins(&settings.pinned_certs);
    let key = certified_key(settings, &provider)?;
    let algorithms = provider.signature_verification_algorithms;

    let server = match &key {
        None => None,
        Some(key) => {
            let builder =
                rustls::ServerConfig::builder_with_details(provider.clone(), time.clone())
                    .with_protocol_versions(versions)
                    .map_err(|e| format!("tls: {e}"))?;
            let verifier = client_verifier(settings, &roots, &pins, &provider)?;
            let mut config = builder
                .with_client_cert_verifier(verifier)
                .with_cert_resolver(Arc::new(SingleCertAndKey::from(key.clone())));
            config.session_storage = Arc::new(NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
            // Go's server picks the suite by its own preference.
            config.ignore_client_order = true;
            Some(Arc::new(config))
        }
    };

    let inner = match (&roots, settings.insecure) {
        (Some(roots), false) => Some(
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| format!("tls: {e}"))?,
        ),
        _ => None,
    };
    let verifier = Arc::new(PeerVerifier {
        chain: match inner {
            Some(inner) => Chain::Server(inner),
            None if settings.insecure => Chain::Unchecked,
            None => Chain::NoRoots,
        },
        pins,
        algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_details(provider.clone(), time)
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut client = match key {
        Some(key) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key))),
        None => builder.with_no_client_auth(),
    };
    client.resumption = Resumption::disabled();
    client.enable_sni = true;

    Ok(TlsConfig {
        settings: settings.clone(),
        server,
        client: Arc::new(client),
    })
}

/// The lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of a
/// certificate: the form of `pinned_certs`. `None` when `cert_der` is not a
/// certificate.
pub fn spki_sha256(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let digest = Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The protocol versions of `min_version`.
fn versions(min_version: &str) -> Result<&'static [&'static SupportedProtocolVersion], String> {
    static BOTH: [&SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min_version {
        "" | "1.2" => Ok(&BOTH),
        "1.3" => Ok(&TLS13_ONLY),
        "1.0" | "1.1" => Err(format!(
            "error parsing tls config: unsupported TLS version: TLS {min_version}"
        )),
        other => Err(format!(
            "error parsing tls config: unknown version: {other}"
        )),
    }
}

/// The provider's suites narrowed to `names` (Go's names): every TLS 1.3
/// suite (Go ignores `cipher_suites` for TLS 1.3), then the named TLS 1.2
/// suites in the order given.
fn cipher_suites(
    names: &[String],
    provider: &CryptoProvider,
) -> Result<Vec<rustls::SupportedCipherSuite>, String> {
    if names.is_empty() {
        // Go's default preference, which a server applies over the
        // client's: AES-128-GCM, then AES-256-GCM, then ChaCha20 (ring
        // lists AES-256 first).
        let mut suites = provider.cipher_suites.clone();
        suites.sort_by_key(|s| go_rank(s.suite()));
        return Ok(suites);
    }
    let mut wanted = Vec::new();
    for name in names {
        let suite = suite_by_go_name(name)?;
        if !wanted.contains(&suite) {
            wanted.push(suite);
        }
    }
    let tls13 = provider
        .cipher_suites
        .iter()
        .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)));
    let tls12 = wanted.iter().filter_map(|want| {
        provider
            .cipher_suites
            .iter()
            .find(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)) && s.suite() == *want)
    });
    Ok(tls13.chain(tls12).copied().collect())
}

/// When the first certificate of `cert_pem` expires, in seconds since the
/// Unix epoch (`/varz` `tls_cert_not_after`).
pub fn cert_not_after(cert_pem: &str) -> Option<i64> {
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .next()?
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Where Go's default order puts a suite (lower first).
fn go_rank(suite: CipherSuite) -> u8 {
    let name = suite.as_str().unwrap_or_default();
    if name.contains("AES_128") {
        0
    } else if name.contains("AES_256") {
        1
    } else {
        2
    }
}

/// The rustls suite of a Go cipher suite name.
fn suite_by_go_name(name: &str) -> Result<CipherSuite, String> {
    let suite = match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" => CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        weak if weak.starts_with("TLS_RSA_")
            || weak.contains("_CBC_")
            || weak.contains("RC4")
            || weak.contains("3DES") =>
        {
            return Err(format!(
                "cipher suite {weak:?} is not supported by canopy's TLS (no CBC, RC4, 3DES \
                 or RSA key exchange suites); remove it from cipher_suites"
            ))
        }
        other => return Err(format!("unrecognized cipher {other}")),
    };
    Ok(suite)
}

/// The provider's key exchange groups in the order of `names` (Go's
/// names), or the provider's order when there are none.
fn kx_groups(
    names: &[String],
    provider: &CryptoProvider,
) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, String> {
    if names.is_empty() {
        return Ok(provider.kx_groups.clone());
    }
    let mut groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
    for name in names {
        let wanted = match name.as_str() {
            "X25519" => NamedGroup::X25519,
            "CurveP256" | "P256" => NamedGroup::secp256r1,
            "CurveP384" | "P384" => NamedGroup::secp384r1,
            "CurveP521" | "P521" | "X25519MLKEM768" | "SecP256r1MLKEM768"
            | "SecP384r1MLKEM1024" => {
                return Err(format!(
                    "curve {name:?} is not supported by canopy's TLS (X25519, CurveP256 and \
                     CurveP384 are); remove it from curve_preferences"
                ))
            }
            other => return Err(format!("unrecognized curve preference {other}")),
        };
        let Some(group) = provider.kx_groups.iter().find(|g| g.name() == wanted) else {
            return Err(format!(
                "curve {name:?} is not supported by canopy's TLS; remove it from \
                 curve_preferences"
            ));
        };
        if !groups.iter().any(|g| g.name() == wanted) {
            groups.push(*group);
        }
    }
    Ok(groups)
}

/// The `ca_pem` roots: `None` when there is no CA text.
fn roots(settings: &TlsSettings) -> Result<Option<Arc<RootCertStore>>, String> {
    if settings.ca_pem.trim().is_empty() {
        return Ok(None);
    }
    let bad = || {
        format!(
            "failed to parse root ca certificate{}",
            file_note("ca_file", &settings.ca_file)
        )
    };
    let certs = CertificateDer::pem_slice_iter(settings.ca_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad())?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad());
    }
    Ok(Some(Arc::new(roots)))
}

/// The `pinned_certs`, lower-cased.
fn pins(pinned: &[String]) -> Vec<String> {
    pinned
        .iter()
        .map(|p| p.trim().to_ascii_lowercase())
        .collect()
}

/// The certificate chain and key of `settings`, checked to belong
/// together: `None` when the block has neither.
fn certified_key(
    settings: &TlsSettings,
    provider: &CryptoProvider,
) -> Result<Option<Arc<CertifiedKey>>, String> {
    let has_cert = !settings.cert_pem.trim().is_empty();
    let has_key = !settings.key_pem.trim().is_empty();
    match (has_cert, has_key) {
        (false, false) if settings.cert_file.is_empty() && settings.key_file.is_empty() => {
            return Ok(None)
        }
        (false, _) if settings.cert_file.is_empty() => {
            return Err("missing 'cert_file' in TLS configuration".into())
        }
        (_, false) if settings.key_file.is_empty() => {
            return Err("missing 'key_file' in TLS configuration".into())
        }
        _ => {}
    }
    let cert_note = file_note("cert_file", &settings.cert_file);
    let key_note = file_note("key_file", &settings.key_file);
    let pair_err = |why: &str, note: &str| {
        format!("error parsing X509 certificate/key pair: tls: {why}{note}")
    };

    let chain = pem_chain(&settings.cert_pem).map_err(|why| pair_err(&why, &cert_note))?;
    if x509_parser::parse_x509_certificate(&chain[0]).is_err() {
        return Err(format!(
            "error parsing X509 certificate/key pair: x509: malformed certificate{cert_note}"
        ));
    }
    let key = pem_key(&settings.key_pem).map_err(|why| pair_err(&why, &key_note))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| pair_err(&format!("failed to parse private key: {e}"), &key_note))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(pair_err(
                "private key does not match public key",
                &files_note(&[
                    ("cert_file", &settings.cert_file),
                    ("key_file", &settings.key_file),
                ]),
            ))
        }
        Err(e) => {
            return Err(format!(
                "error parsing X509 certificate/key pair: {e}{cert_note}"
            ))
        }
    }
    Ok(Some(Arc::new(certified)))
}

/// The certificates of `cert_pem` (at least one), or why not, as Go's
/// `tls.X509KeyPair` says it.
fn pem_chain(cert_pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    match CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>() {
        Ok(chain) if !chain.is_empty() => Ok(chain),
        Ok(_) if PrivateKeyDer::from_pem_slice(cert_pem.as_bytes()).is_ok() => Err(
            "failed to find certificate PEM data in certificate input, but did find a private \
             key; PEM inputs may have been switched"
                .into(),
        ),
        Ok(_) => Err("failed to find any PEM data in certificate input".into()),
        Err(e) => Err(format!("malformed PEM data in certificate input: {e}")),
    }
}

/// The private key of `key_pem`, or why not, as Go's `tls.X509KeyPair`
/// says it.
fn pem_key(key_pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    match PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound)
            if CertificateDer::pem_slice_iter(key_pem.as_bytes()).any(|c| c.is_ok()) =>
        {
            Err("found a certificate rather than a key in the PEM for the private key".into())
        }
        Err(pem::Error::NoItemsFound) => Err("failed to find any PEM data in key input".into()),
        Err(e) => Err(format!("failed to parse private key: {e}")),
    }
}

/// ` (cert_file "x")`, or nothing when the file name is not known.
fn file_note(field: &str, file: &str) -> String {
    files_note(&[(field, file)])
}

/// ` (cert_file "x", key_file "y")`, leaving out unknown file names.
fn files_note(files: &[(&str, &str)]) -> String {
    let named: Vec<String> = files
        .iter()
        .filter(|(_, file)| !file.is_empty())
        .map(|(field, file)| format!("{field} {file:?}"))
        .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!(" ({})", named.join(", "))
    }
}

/// How a server checks client certificates.
fn client_verifier(
    settings: &TlsSettings,
    roots: &Option<Arc<RootCertStore>>,
    pins: &[String],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let algorithms = provider.signature_verification_algorithms;
    if settings.verify {
        let Some(roots) = roots else {
            return Err(
                "tls: verify needs ca_file (no CA certificates to verify client \
                        certificates against)"
                    .into(),
            );
        };
        let inner = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("tls: {e}"))?;
        if pins.is_empty() {
            return Ok(inner);
        }
        return Ok(Arc::new(PeerVerifier {
            chain: Chain::Client(inner),
            pins: pins.to_vec(),
            algorithms,
        }));
    }
    if pins.is_empty() {
        return Ok(Arc::new(rustls::server::NoClientAuth));
    }
    Ok(Arc::new(PeerVerifier {
        chain: Chain::Unchecked,
        pins: pins.to_vec(),
        algorithms,
    }))
}

/// How a [`PeerVerifier`] checks the peer's chain.
#[derive(Debug)]
enum Chain {
    /// A server's certificate, against the CA roots.
    Server(Arc<WebPkiServerVerifier>),
    /// A client's certificate, against the CA roots.
    Client(Arc<dyn ClientCertVerifier>),
    /// No CA roots: every server is an unknown issuer.
    NoRoots,
    /// Not at all (`insecure`, or pins alone).
    Unchecked,
}

/// Checks the peer's chain as [`Chain`] says, then its pin when there are
/// pins; the handshake signatures are always checked with the provider's
/// algorithms.
#[derive(Debug)]
struct PeerVerifier {
    chain: Chain,
    pins: Vec<String>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    fn check_pin(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self.pins.is_empty() {
            return Ok(());
        }
        let Some(hash) = spki_sha256(end_entity) else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ));
        };
        if self.pins.contains(&hash) {
            Ok(())
        } else {
            Err(rustls::Error::General(format!(
                "peer certificate is not pinned (SPKI SHA-256 {hash})"
            )))
        }
    }
}

/// The handshake signature checks both verifier traits share: with the
/// provider's algorithms, whatever the chain check.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.chain {
            Chain::Server(inner) => {
                inner.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                )?;
            }
            Chain::NoRoots => return Err(CertificateError::UnknownIssuer.into()),
            Chain::Client(_) | Chain::Unchecked => {}
        }
        self.check_pin(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match &self.chain {
            Chain::Client(inner) => inner.root_hint_subjects(),
            Chain::Server(_) | Chain::NoRoots | Chain::Unchecked => &[],
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match &self.chain {
            Chain::Client(inner) => {
                inner.verify_client_cert(end_entity, intermediates, now)?;
            }
            Chain::NoRoots => return Err(CertificateError::UnknownIssuer.into()),
            Chain::Server(_) | Chain::Unchecked => {}
        }
        self.check_pin(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    handshake_signatures!();
}
