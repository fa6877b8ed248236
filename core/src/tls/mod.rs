//! TLS for every connection kind: the settings of a `tls {}` block, the
//! rustls configurations the engine builds from them, and the engine's own
//! crypto provider.
//!
//! The engine takes certificates and keys as PEM text in its options (the
//! adapter, or the config reader through its `ConfigSource`, reads the
//! files). It builds rustls `ServerConfig`s and `ClientConfig`s from them
//! when it starts and on reload, so new connections take new
//! certificates. The TLS state machine itself is a transport layer
//! (`transport/tls.rs`).
//!
//! ## Randomness and determinism
//!
//! rustls draws randomness in two places: its provider's `secure_random`
//! (hello randoms, session ids, padding) and the key-exchange groups
//! (ephemeral key shares). The engine's provider ([`provider`]) takes both
//! from a ChaCha20 stream keyed from the engine seed (hashed with a purpose
//! tag, so it is independent of the engine's other streams): X25519 shares
//! are computed by x25519-dalek from that stream. The real server seeds the
//! engine from the OS, so the stream is a CSPRNG; the simulator seeds it
//! from the world seed, so a TLS world replays byte for byte.
//!
//! One source stays outside the engine's control: ring signs with ECDSA
//! and RSA-PSS keys using its own OS random source (a signature needs a
//! fresh nonce or salt, and ring takes no injected generator). Ed25519
//! signatures are deterministic, so the simulator uses Ed25519 certificates
//! and never reaches that source; the determinism check of the simulator's
//! TLS worlds proves it. P-256 and P-384 key exchange, offered after
//! X25519 as Go does, also use ring's generator; the simulator's peers
//! all offer X25519 first, so they never reach it either.

mod config;
mod map;
mod provider;
#[cfg(test)]
mod tests;

pub use config::{build, cert_not_after, spki_sha256, TlsConfig};
pub use map::{map_candidates, map_user, subject_matches, CertNames, DnMatch};
pub use provider::provider;
pub use provider::TlsClock;

use std::time::Duration;

/// One `tls {}` block as the engine uses it: files already read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `cert_file`, as configured (for messages and monitoring).
    pub cert_file: String,
    /// The certificate chain, PEM (empty: none).
    pub cert_pem: String,
    /// `key_file`, as configured.
    pub key_file: String,
    /// The private key, PEM (empty: none).
    pub key_pem: String,
    /// `ca_file`, as configured.
    pub ca_file: String,
    /// The CA certificates, PEM (empty: none; then peers' certificates are
    /// not checked against a root, since the engine has no system roots).
    pub ca_pem: String,
    /// `verify` (or `verify_and_map`): ask for and check the peer's
    /// certificate (servers); clients always check the server's.
    pub verify: bool,
    /// `verify_and_map`: the client certificate names the user.
    pub map: bool,
    /// `insecure`: a client skips checking the server's certificate.
    pub insecure: bool,
    /// `cipher_suites`, Go names (empty: the defaults).
    pub cipher_suites: Vec<String>,
    /// `curve_preferences`, Go names (empty: the defaults).
    pub curve_preferences: Vec<String>,
    /// `min_version`, `"1.2"` or `"1.3"` (empty: 1.2).
    pub min_version: String,
    /// `timeout`: how long a handshake may take.
    pub timeout: Duration,
    /// `handshake_first`: TLS before the INFO.
    pub handshake_first: bool,
    /// The fallback delay of `handshake_first` given as a duration (or
    /// `auto`): with no TLS record by then, the server sends its INFO and
    /// falls back to the usual INFO-then-TLS order.
    pub fallback: Option<Duration>,
    /// `pinned_certs`: lower-case hex SHA-256 of the peer certificate's
    /// DER SubjectPublicKeyInfo; when not empty, the peer's must be one.
    pub pinned_certs: Vec<String>,
}

/// The TLS handshake timeout nats-server uses when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
