//! What the process asks of a running server (from signals), and how a
//! reload is applied.

use canopy_core::{Instant, Options, Server};

/// What the process asks of the running server (from signals).
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    /// Close every connection and return (SIGINT, SIGTERM).
    Shutdown,
    /// Stop accepting clients and evict them slowly (SIGUSR2).
    LameDuck,
    /// Apply re-read options (SIGHUP), or log why they could not be read.
    Reload(Box<Result<Reload, String>>),
}

/// Options re-read for a reload.
#[derive(Clone, Debug, PartialEq)]
pub struct Reload {
    /// The new options.
    pub options: Options,
    /// The client port was given as `-1` (random): keep the bound one.
    pub random_port: bool,
    /// Text after `Reloaded server configuration` (the digest), if any.
    pub suffix: String,
}

/// Applies a reload, logging as nats-server does.
pub(crate) fn reload_options(server: &mut Server, reload: Result<Reload, String>, now: Instant) {
    let reload = match reload {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("Failed to reload server configuration: {e}");
            return;
        }
    };
    let current = server.options().clone();
    let mut options = reload.options;
    if reload.random_port {
        options.port = current.port;
    }
    // A random gateway port (`-1`) stays the one bound at start.
    if let (Some(new), Some(old)) = (options.gateway.as_mut(), current.gateway.as_ref()) {
        if new.port == 0 {
            new.port = old.port;
        }
    }
    // The monitoring listeners are not re-bound on reload.
    options.http_host = current.http_host;
    options.http_port = current.http_port;
    options.https_port = current.https_port;
    options.https_port_configured = current.https_port_configured;
    match server.reload(options, now) {
        Ok(lines) => {
            for line in lines {
                tracing::info!("{line}");
            }
            tracing::info!("Reloaded server configuration{}", reload.suffix);
        }
        Err(e) => tracing::error!("Failed to reload server configuration: {e}"),
    }
}
