//! Building rustls configurations from [`TlsSettings`].

use super::provider::TlsClock;
use super::TlsSettings;
use rustls::crypto::CryptoProvider;
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
pub fn build(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
    clock: &TlsClock,
) -> Result<TlsConfig, String> {
    let _ = (settings, provider, clock);
    Err("TLS is not built yet".into())
}
