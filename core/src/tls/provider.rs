//! The engine's crypto provider: ring's algorithms with randomness from the
//! engine seed (see the module docs of `tls`).

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::pki_types::UnixTime;
use rustls::{Error, NamedGroup, PeerMisbehaved};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The purpose tag hashed with the engine seed to key the TLS stream, so it
/// is independent of every other stream drawn from the same seed.
const PURPOSE: &[u8] = b"canopy tls";

/// The wall clock rustls checks certificate validity against: the engine
/// sets it from its wall-clock input.
///
/// While it is unset (zero) it reports no time at all, so rustls fails the
/// handshake with `FailedToGetCurrentTime` instead of checking certificates
/// against 1970: a missing wall clock is an engine bug that should show.
#[derive(Clone, Debug, Default)]
pub struct TlsClock(Arc<AtomicU64>);

impl TlsClock {
    /// Sets the time, in seconds since the Unix epoch.
    pub fn set(&self, unix_secs: u64) {
        self.0.store(unix_secs, Ordering::Relaxed);
    }

    /// The time last set, in seconds since the Unix epoch (0: never set).
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl rustls::time_provider::TimeProvider for TlsClock {
    fn current_time(&self) -> Option<UnixTime> {
        match self.get() {
            0 => None,
            secs => Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                secs,
            ))),
        }
    }
}

/// The crypto provider of an engine seeded with `seed`: ring's cipher
/// suites, signature verification and key loading; every random byte rustls
/// asks for, and every X25519 ephemeral secret, drawn from one ChaCha20
/// stream keyed by SHA-256(`seed` || "canopy tls"). Key exchange groups:
/// X25519 (x25519-dalek on that stream), then ring's P-256 and P-384.
///
/// rustls wants `&'static` references for the random source and the
/// groups, so each call leaks one small allocation (the stream and its
/// lock, a few hundred bytes). The engine calls this once when it starts
/// and once per configuration reload, so the leak is bounded by the number
/// of reloads; it is not called per connection.
pub fn provider(seed: &[u8; 32]) -> Arc<CryptoProvider> {
    let mut hasher = Sha256::new();
    hasher.update(seed);
    hasher.update(PURPOSE);
    let key: [u8; 32] = hasher.finalize().into();
    let stream: &'static SeededStream = Box::leak(Box::new(SeededStream {
        rng: Mutex::new(ChaCha20Rng::from_seed(key)),
    }));
    let base = rustls::crypto::ring::default_provider();
    Arc::new(CryptoProvider {
        kx_groups: vec![
            stream as &'static dyn SupportedKxGroup,
            rustls::crypto::ring::kx_group::SECP256R1,
            rustls::crypto::ring::kx_group::SECP384R1,
        ],
        secure_random: stream,
        ..base
    })
}

/// The seeded ChaCha20 stream: rustls's random source and the X25519 group.
struct SeededStream {
    rng: Mutex<ChaCha20Rng>,
}

impl SeededStream {
    fn fill_bytes(&self, buf: &mut [u8]) {
        // A poisoned lock only means another thread panicked while drawing;
        // the stream itself is still a valid stream.
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rng.fill_bytes(buf);
    }
}

impl std::fmt::Debug for SeededStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the stream's state: it is key material.
        f.write_str("X25519 (seeded)")
    }
}

impl SecureRandom for SeededStream {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        self.fill_bytes(buf);
        Ok(())
    }
}

impl SupportedKxGroup for SeededStream {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut bytes = [0u8; 32];
        self.fill_bytes(&mut bytes);
        let secret = x25519_dalek::StaticSecret::from(bytes);
        bytes.fill(0);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// One X25519 exchange under way: the ephemeral secret (zeroed on drop by
/// x25519-dalek) and its public share.
struct X25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: x25519_dalek::PublicKey,
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        let peer: [u8; 32] = peer_pub_key
            .try_into()
            .map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        // A low-order peer share gives an all-zero secret; ring refuses it
        // and so does this group (RFC 7748 section 6.1).
        if !shared.was_contributory() {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}
