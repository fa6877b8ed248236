//! Where TLS starts and ends on a connection, for every kind: the
//! configurations built from the options, the accepting side's three
//! orders (INFO then TLS; TLS first; TLS first with a timed fallback, and
//! the `allow_non_tls` sniff), the dialing side's upgrade, and the
//! handshake timer. The TLS state machine itself is the transport layer
//! (`transport/tls.rs`).

use super::Server;
use crate::conn::Conn;
use crate::events::{CloseReason, TimerKey};
use crate::ids::ConnId;
use crate::options::Options;
use crate::time::Instant;
use crate::tls::{TlsClock, TlsConfig, TlsSettings};
use crate::transport::{Decoded, Layer, TlsLayer};
use bytes::Bytes;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use std::sync::Arc;

/// The byte every TLS handshake record starts with.
const HANDSHAKE_RECORD: u8 = 0x16;

/// The TLS configurations of one engine, rebuilt on reload (new
/// connections take the new certificates; open ones keep theirs).
#[derive(Debug)]
pub(crate) struct TlsContexts {
    provider: Arc<CryptoProvider>,
    /// The wall clock rustls checks certificates against.
    pub(crate) clock: TlsClock,
    /// Client port (also the https monitor's certificate).
    pub(crate) client: Built,
    /// The websocket port (TLS before the upgrade).
    pub(crate) websocket: Built,
    /// Routes, both roles.
    pub(crate) route: Built,
    /// Accepted leaf links.
    pub(crate) leaf: Built,
    /// Solicited leaf links, by remote index.
    pub(crate) leaf_remotes: Vec<Built>,
    /// What a remote without a `tls` block upgrades with when its hub
    /// requires TLS (the defaults, checking the system roots), by index.
    pub(crate) leaf_upgrades: Vec<Built>,
    /// Gateways, both roles.
    pub(crate) gateway: Built,
    /// Gateway entries with their own `tls` block, by name.
    pub(crate) gateway_remotes: Vec<(String, Built)>,
    /// Set when TLS was switched on by an op's own code (a dialer
    /// answering the peer's INFO): the connection and the index of the
    /// new layer, so the read loop passes the rest of the read through
    /// it. Kept here so the loop needs no lookup per op; a switch outside
    /// any read (TLS first on dial) leaves nothing behind.
    pub(crate) switched_in_op: Option<(ConnId, usize)>,
}

/// One block's configurations: none configured, built, or refused (the
/// connections it would serve fail closed).
#[derive(Debug, Default)]
pub(crate) enum Built {
    /// No TLS asked for.
    #[default]
    Off,
    /// Ready.
    On(Arc<TlsConfig>),
    /// Asked for but could not be built: why.
    Failed,
}

impl Built {
    fn of(
        settings: Option<&TlsSettings>,
        provider: &Arc<CryptoProvider>,
        clock: &TlsClock,
    ) -> Self {
        match settings {
            None => Built::Off,
            Some(s) => match crate::tls::build(s, provider, clock) {
                Ok(c) => Built::On(Arc::new(c)),
                Err(e) => {
                    tracing::error!("TLS configuration error: {e}");
                    Built::Failed
                }
            },
        }
    }

    /// The configuration, when TLS is on.
    pub(crate) fn config(&self) -> Option<&Arc<TlsConfig>> {
        match self {
            Built::On(c) => Some(c),
            Built::Off | Built::Failed => None,
        }
    }

    /// Whether TLS was asked for (built or not).
    pub(crate) fn asked(&self) -> bool {
        !matches!(self, Built::Off)
    }
}

impl TlsContexts {
    /// Builds every block of `options` with a provider seeded by `seed`.
    pub(crate) fn new(options: &Options, seed: &[u8; 32]) -> Self {
        let mut t = TlsContexts {
            provider: crate::tls::provider(seed),
            clock: TlsClock::default(),
            client: Built::Off,
            websocket: Built::Off,
            route: Built::Off,
            leaf: Built::Off,
            leaf_remotes: Vec::new(),
            leaf_upgrades: Vec::new(),
            gateway: Built::Off,
            gateway_remotes: Vec::new(),
            switched_in_op: None,
        };
        t.rebuild(options);
        t
    }

    /// Rebuilds every block from `options` (start and reload).
    pub(crate) fn rebuild(&mut self, options: &Options) {
        // Nothing asks for TLS: skip building (and keep the hot path's
        // engines free of rustls state).
        let p = &self.provider;
        let k = &self.clock;
        self.client = Built::of(options.tls.as_ref(), p, k);
        self.websocket = Built::of(
            options.websocket.as_ref().and_then(|w| w.tls.as_ref()),
            p,
            k,
        );
        self.route = Built::of(options.cluster.as_ref().and_then(|c| c.tls.as_ref()), p, k);
        let leaf = options.leaf.as_ref();
        self.leaf = Built::of(leaf.and_then(|l| l.tls.as_ref()), p, k);
        self.leaf_remotes = leaf
            .map(|l| {
                l.remotes
                    .iter()
                    .map(|r| Built::of(r.tls.as_ref(), p, k))
                    .collect()
            })
            .unwrap_or_default();
        self.leaf_upgrades = leaf
            .map(|l| {
                l.remotes
                    .iter()
                    .map(|r| match r.tls {
                        Some(_) => Built::Off,
                        None => Built::of(Some(&upgrade_settings(&r.upgrade_ca_pem)), p, k),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let gw = options.gateway.as_ref();
        self.gateway = Built::of(gw.and_then(|g| g.tls.as_ref()), p, k);
        self.gateway_remotes = gw
            .map(|g| {
                g.gateways
                    .iter()
                    .filter_map(|r| Some((r.name.clone(), Built::of(Some(r.tls.as_ref()?), p, k))))
                    .collect()
            })
            .unwrap_or_default();
    }
}

/// The settings of nats-server's default upgrade: TLS defaults, the
/// hub's certificate checked against `ca_pem` (the system roots).
fn upgrade_settings(ca_pem: &str) -> TlsSettings {
    TlsSettings {
        ca_file: "system roots".into(),
        ca_pem: ca_pem.to_string(),
        timeout: crate::tls::DEFAULT_TIMEOUT,
        ..TlsSettings::default()
    }
}

/// Where a connection is in TLS.
#[derive(Debug, Default)]
pub(crate) enum TlsStage {
    /// No TLS (plaintext), or TLS up and checked.
    #[default]
    Off,
    /// TLS first with a fallback: waiting for the peer's first bytes
    /// before the timer. The INFO to send (after the handshake, or at
    /// the fallback).
    AwaitFirst { config: Arc<TlsConfig>, info: Bytes },
    /// `allow_non_tls`: the INFO is out; the first byte read says whether
    /// the client starts TLS.
    Sniff { config: Arc<TlsConfig> },
    /// The handshake is under way; the INFO to queue when it ends (TLS
    /// first), if any.
    Handshake { info_after: Option<Bytes> },
    /// The handshake ended; `first` when TLS came before the INFO.
    Up { first: bool },
}

impl TlsStage {
    /// Whether TLS is still being settled (waiting for the first bytes,
    /// sniffing, or in the handshake).
    pub(crate) fn before_handshake_end(&self) -> bool {
        match self {
            TlsStage::AwaitFirst { .. } | TlsStage::Sniff { .. } | TlsStage::Handshake { .. } => {
                true
            }
            TlsStage::Off | TlsStage::Up { .. } => false,
        }
    }
}

/// A connection's TLS as `/connz` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsSnapshot {
    /// `tls_version`: `1.2`, `1.3`.
    pub(crate) version: String,
    /// `tls_cipher_suite`, Go's name.
    pub(crate) cipher: String,
    /// `tls_peer_certs`: (subject, SPKI SHA-256, certificate SHA-256) of
    /// the peer's end-entity certificate.
    pub(crate) peer: Option<(String, String, String)>,
    /// `tls_first`.
    pub(crate) first: bool,
}

/// The TLS facts of an open connection whose handshake ended.
pub(crate) fn snapshot(c: &Conn) -> Option<TlsSnapshot> {
    let TlsStage::Up { first } = c.tls else {
        return None;
    };
    let tls = c.transport.tls()?;
    let (version, suite) = tls.negotiated()?;
    let version = if version == rustls::ProtocolVersion::TLSv1_3 {
        "1.3".to_string()
    } else if version == rustls::ProtocolVersion::TLSv1_2 {
        "1.2".to_string()
    } else {
        format!("{version:?}")
    };
    // rustls names TLS 1.3 suites `TLS13_…`; Go names them `TLS_…`.
    let name = suite.suite().as_str().unwrap_or_default();
    let cipher = name
        .strip_prefix("TLS13_")
        .map_or_else(|| name.to_string(), |rest| format!("TLS_{rest}"));
    let peer = tls.peer_certificate().map(|der| {
        use sha2::Digest;
        let subject = crate::tls::CertNames::parse(der)
            .map(|n| n.subject)
            .unwrap_or_default();
        let spki = crate::tls::spki_sha256(der).unwrap_or_default();
        let cert: String = sha2::Sha256::digest(der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (subject, spki, cert)
    });
    Some(TlsSnapshot {
        version,
        cipher,
        peer,
        first,
    })
}

/// What the accepting side does with its INFO under `config`: queue it
/// now or keep it for after the handshake, and switch TLS on as the
/// settings say. Returns the timer to set.
pub(crate) fn accept(
    c: &mut Conn,
    config: &Arc<TlsConfig>,
    info: &[u8],
    allow_non_tls: bool,
    now: Instant,
) -> Option<(TimerKey, Instant)> {
    let s = &config.settings;
    if s.handshake_first {
        if let Some(delay) = s.fallback {
            c.tls = TlsStage::AwaitFirst {
                config: config.clone(),
                info: Bytes::copy_from_slice(info),
            };
            return Some((TimerKey::TlsFallback(c.id), now + delay));
        }
        return switch_server(
            c,
            config,
            Bytes::new(),
            Some(Bytes::copy_from_slice(info)),
            now,
        )
        .1;
    }
    c.out.push_slice(info);
    if allow_non_tls {
        c.tls = TlsStage::Sniff {
            config: config.clone(),
        };
        return None;
    }
    switch_server(c, config, Bytes::new(), None, now).1
}

/// A connection whose TLS block could not be built: closed on the
/// handshake timer's first tick (fail closed, never plaintext).
pub(crate) fn fail_closed(c: &mut Conn, now: Instant) -> Option<(TimerKey, Instant)> {
    c.tls = TlsStage::Handshake { info_after: None };
    Some((TimerKey::TlsHandshake(c.id), now))
}

/// TLS first on an accepted link, whatever its block says about
/// `handshake_first` (routes and gateways always start TLS at once).
pub(crate) fn accept_first(
    c: &mut Conn,
    config: &Arc<TlsConfig>,
    now: Instant,
) -> Option<(TimerKey, Instant)> {
    switch_server(c, config, Bytes::new(), None, now).1
}

/// Switches the server side of TLS on with `rest` as its first input.
fn switch_server(
    c: &mut Conn,
    config: &Arc<TlsConfig>,
    rest: Bytes,
    info_after: Option<Bytes>,
    now: Instant,
) -> (Decoded, Option<(TimerKey, Instant)>) {
    let layer = config
        .server
        .clone()
        .ok_or(rustls::Error::General("no certificate".into()))
        .and_then(TlsLayer::server);
    match layer {
        Ok(layer) => {
            c.tls = TlsStage::Handshake { info_after };
            let d = c
                .transport
                .push_inner(Layer::Tls(Box::new(layer)), rest, &c.out);
            let deadline = now + config.settings.timeout;
            (d, Some((TimerKey::TlsHandshake(c.id), deadline)))
        }
        Err(e) => {
            tracing::error!("TLS setup error: {e}");
            c.tls = TlsStage::Handshake { info_after: None };
            // Fails closed on the timer's first tick.
            (
                Decoded {
                    plain: Bytes::new(),
                    failed: None,
                },
                Some((TimerKey::TlsHandshake(c.id), now)),
            )
        }
    }
}

/// Switches the dialing side of TLS on for `c` (not yet registered, or
/// registered: the caller sets the returned timer). `None`: TLS cannot
/// start for this host, and the timer that would fail the connection is
/// due at once.
pub(crate) fn dial(
    c: &mut Conn,
    config: &Arc<TlsConfig>,
    host: &str,
    now: Instant,
) -> Option<(TimerKey, Instant)> {
    let layer = server_name(host)
        .ok_or_else(|| rustls::Error::General(format!("invalid server name {host:?}")))
        .and_then(|name| TlsLayer::client(config.client.clone(), name));
    c.tls = TlsStage::Handshake { info_after: None };
    match layer {
        Ok(layer) => {
            let _ = c
                .transport
                .push_inner(Layer::Tls(Box::new(layer)), Bytes::new(), &c.out);
            Some((TimerKey::TlsHandshake(c.id), now + config.settings.timeout))
        }
        Err(e) => {
            tracing::error!("cid:{} - TLS setup error: {e}", c.cid);
            // Fails closed on the timer's first tick.
            Some((TimerKey::TlsHandshake(c.id), now))
        }
    }
}

/// The server name a dialer checks the peer's certificate against: the
/// host of the URL it dialed.
fn server_name(host: &str) -> Option<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).ok()
}

impl Server {
    /// Decodes a read, first settling an accepting connection's TLS
    /// choice: the peer's first bytes start TLS first (before the
    /// fallback), or say whether an `allow_non_tls` client starts TLS.
    pub(crate) fn tls_decode(&mut self, conn: ConnId, data: Bytes, now: Instant) -> Decoded {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Decoded {
                plain: Bytes::new(),
                failed: None,
            };
        };
        let (config, info_after) = match &c.tls {
            TlsStage::AwaitFirst { config, info } if !data.is_empty() => {
                (config.clone(), Some(info.clone()))
            }
            TlsStage::Sniff { config } if !data.is_empty() => {
                if data[0] != HANDSHAKE_RECORD {
                    c.tls = TlsStage::Off;
                    return c.transport.decode(data);
                }
                (config.clone(), None)
            }
            TlsStage::Off
            | TlsStage::AwaitFirst { .. }
            | TlsStage::Sniff { .. }
            | TlsStage::Handshake { .. }
            | TlsStage::Up { .. } => return c.transport.decode(data),
        };
        self.timers.cancel(TimerKey::TlsFallback(conn));
        let (d, timer) = switch_server(c, &config, data, info_after, now);
        if let Some((key, at)) = timer {
            self.timers.set(key, at);
        }
        d
    }

    /// Switches the dialing side of TLS on now, checking the peer's
    /// certificate against `host`. Call before queuing what must go out
    /// encrypted (the CONNECT); bytes of the current read after the op
    /// being processed go through the new layer. Returns false (and
    /// closes the connection) when TLS cannot start.
    pub(crate) fn tls_dial(
        &mut self,
        conn: ConnId,
        config: &Arc<TlsConfig>,
        host: &str,
        now: Instant,
    ) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        self.tls.switched_in_op = Some((conn, c.transport.layers()));
        let timer = dial(c, config, host, now);
        self.set_tls_timer(timer);
        self.mark_dirty(conn);
        timer.is_some()
    }

    /// After a read: a handshake that just ended cancels its timer and
    /// sends the INFO kept for after it.
    pub(crate) fn tls_after_read(&mut self, conn: ConnId) {
        let done = self.conns.get(&conn).is_some_and(|c| {
            !c.closed
                && matches!(c.tls, TlsStage::Handshake { .. })
                && !c.transport.tls_handshaking()
        });
        if !done {
            return;
        }
        let label = self.conn_label(conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let TlsStage::Handshake { info_after } =
            std::mem::replace(&mut c.tls, TlsStage::Up { first: false })
        else {
            return;
        };
        c.tls = TlsStage::Up {
            first: info_after.is_some(),
        };
        if let Some((v, suite)) = c.transport.tls().and_then(TlsLayer::negotiated) {
            tracing::debug!("{label} - TLS handshake complete");
            tracing::debug!(
                "{label} - TLS version {v:?}, cipher suite {:?}",
                suite.suite()
            );
        }
        self.timers.cancel(TimerKey::TlsHandshake(conn));
        if let Some(info) = info_after {
            c.out.push_slice(&info);
            self.mark_dirty(conn);
        }
    }

    /// The handshake timer: a handshake still under way ends the
    /// connection (nats-server: `TLS handshake timeout`).
    pub(crate) fn tls_handshake_timer(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.closed || !matches!(c.tls, TlsStage::Handshake { .. }) {
            return;
        }
        tracing::debug!("{} - TLS handshake timeout", self.conn_label(conn));
        self.close(conn, CloseReason::TlsHandshakeError, false, true, now);
    }

    /// The TLS-first fallback timer: the client sent nothing, so it gets
    /// the INFO and the usual INFO-then-TLS order.
    pub(crate) fn tls_fallback_timer(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        let TlsStage::AwaitFirst { config, info } = std::mem::take(&mut c.tls) else {
            return;
        };
        c.out.push_slice(&info);
        let (_, timer) = switch_server(c, &config, Bytes::new(), None, now);
        if let Some((key, at)) = timer {
            self.timers.set(key, at);
        }
        self.mark_dirty(conn);
    }

    /// Sets the timer [`accept`] asked for.
    pub(crate) fn set_tls_timer(&mut self, timer: Option<(TimerKey, Instant)>) {
        if let Some((key, at)) = timer {
            self.timers.set(key, at);
        }
    }
}
