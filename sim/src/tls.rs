//! TLS worlds (`--tls`, [`crate::swarm::SwarmConfig::tls`]): every engine
//! speaks TLS on its client port and on its routes, leaf links and
//! gateways, with Ed25519 certificates drawn from the world seed.
//!
//! - [`Pki`]: a CA and one certificate per node, whose names are every
//!   host the simulator dials (`n<i>`, `localhost`, `127.0.0.1`,
//!   `10.0.0.<i+1>`, `10.1.0.<i+1>`), with fixed validity and serial
//!   numbers: no randomness and no clock. Ed25519 signatures are
//!   deterministic, and ring's ECDSA and RSA-PSS signers draw from the OS
//!   (see `canopy_core::tls`), so TLS worlds use nothing else.
//! - [`TlsPlan`]: what a seed draws (TLS first on the client port, its
//!   fallback, TLS first on leaf links, handshake timeout, mutual TLS on
//!   routes and gateways) and how it becomes the engines' options.
//! - [`ClientTls`]: the TLS of a simulated client (rustls, with a provider
//!   seeded from the world seed): INFO in plaintext then TLS, or TLS first.
//! - [`Shadow`]: how the simulator reads what engines send each other
//!   without weakening their TLS. An engine's TLS draws every random byte
//!   from one stream keyed by its seed (`canopy_core::tls::provider`), and
//!   the simulator knows that seed: a shadow engine ([`ShadowEngine`]) is
//!   a second rustls endpoint per engine connection, built from the same
//!   options with a provider of the same seed, created and fed the same
//!   bytes in the same order as the engine's own. It draws what the engine
//!   drew, derives the keys the engine derived, and so decrypts what the
//!   engine decrypts: the wire observers read plaintext and every route,
//!   leaf and gateway check runs unchanged. A shadow that fails where the
//!   engine goes on is reported (the simulator lost track).
//! - [`RecordCheck`]: the plaintext-on-TLS checker. After the switch every
//!   byte an engine writes on a TLS link must be TLS record framing
//!   (content type 0x14..=0x17, version 3.x, a sane length): a `MSG `,
//!   `PUB `, `-ERR` or any other plaintext there is a violation.

use crate::rng::{stream_key, Purpose, SimRng};
use bytes::Bytes;
use canopy_core::tls::{TlsClock, TlsConfig, TlsSettings};
use canopy_core::{ConnId, Instant, LinkKind, ListenerKind, Options};
use rustls::pki_types::ServerName;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// The virtual wall clock at virtual time zero, in seconds since the Unix
/// epoch (2025-06-15): inside every certificate's validity.
pub const WALL_BASE_SECS: u64 = 1_750_000_000;

/// The virtual wall clock at `now`, in nanoseconds since the Unix epoch.
pub fn wall_nanos(now: Instant) -> i128 {
    i128::from(WALL_BASE_SECS) * 1_000_000_000 + i128::from(now.as_nanos())
}

/// The virtual wall clock at `now`, in seconds since the Unix epoch.
pub fn wall_secs(now: Instant) -> u64 {
    WALL_BASE_SECS + now.as_nanos() / 1_000_000_000
}

/// The PKCS#8 v1 prefix of an Ed25519 private key; the 32-byte secret
/// follows (RFC 8410).
const PKCS8_ED25519: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A certificate and its key, PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// The PKCS#8 private key.
    pub key: String,
}

/// The certificates of a TLS world.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca: String,
    /// Node `i`'s certificate and key.
    pub nodes: Vec<Pem>,
}

/// The Ed25519 key `index` of world `seed`.
fn key_pair(seed: u64, index: u64) -> rcgen::KeyPair {
    let secret = stream_key(seed, Purpose::Tls, 1_000_000 + index);
    let der = [PKCS8_ED25519.as_slice(), secret.as_slice()].concat();
    rcgen::KeyPair::try_from(der.as_slice()).expect("an Ed25519 PKCS#8 key")
}

/// Fixed validity (2024 to 2034) and serial number: nothing drawn, no
/// clock read.
fn fixed(params: &mut rcgen::CertificateParams, serial: u64, name: &str) {
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2034, 1, 1);
    params.serial_number = Some(rcgen::SerialNumber::from(serial));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
}

impl Pki {
    /// The CA and `nodes` node certificates of world `seed`.
    pub fn new(seed: u64, nodes: usize) -> Pki {
        let ca_key = key_pair(seed, 0);
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        fixed(&mut ca_params, 1, "canopy-sim CA");
        let ca = ca_params
            .self_signed(&ca_key)
            .expect("CA certificate")
            .pem();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let nodes = (0..nodes)
            .map(|i| {
                let key = key_pair(seed, 1 + i as u64);
                let names = vec![
                    format!("n{i}"),
                    "localhost".to_string(),
                    "127.0.0.1".to_string(),
                    format!("10.0.0.{}", i + 1),
                    format!("10.1.0.{}", i + 1),
                ];
                let mut params = rcgen::CertificateParams::new(names).expect("node parameters");
                fixed(&mut params, 100 + i as u64, &format!("n{i}"));
                let cert = params.signed_by(&key, &issuer).expect("node certificate");
                Pem {
                    cert: cert.pem(),
                    key: key.serialize_pem(),
                }
            })
            .collect();
        Pki { ca, nodes }
    }
}

/// What a TLS world draws (from its own stream: the other draws of the
/// seed are those of the same seed without TLS).
#[derive(Clone, Debug)]
pub struct TlsPlan {
    /// The certificates.
    pub pki: Pki,
    /// The client port says `handshake_first` (TLS before the INFO).
    pub client_first: bool,
    /// With `client_first`: the fallback delay (clients that wait for the
    /// INFO get it then, and start TLS after it).
    pub fallback: Option<Duration>,
    /// Leaf links say `handshake_first` (hub and remotes alike).
    pub leaf_first: bool,
    /// Every block's handshake timeout.
    pub timeout: Duration,
    /// Routes and gateways ask for and check the peer's certificate.
    pub verify_links: bool,
}

/// Engine issues TLS worlds found, now fixed and checked like any other
/// violation: a plaintext PING before the INFO on a `handshake_first`
/// port with a fallback (`--gateway --tls --seed 98`), and a stalled
/// handshake closed as `Stale Connection` because the ping timer ran
/// during it (`--tls --seed 356`, `604`, `971`, `1568`; `--gateway --tls
/// --seed 4`, `82`). nats-server starts pinging after the handshake.
pub const FOUND_ISSUES: [&str; 2] = [
    "plaintext PING before the INFO on a handshake_first port with a fallback",
    "a stalled TLS handshake closed as Stale Connection (the ping timer ran during it)",
];

impl TlsPlan {
    /// Draws the plan of world `seed` with `nodes` engines. Fallbacks
    /// reach past the first PING ([`FOUND_ISSUES`]).
    pub fn draw(seed: u64, nodes: usize) -> TlsPlan {
        let mut rng = SimRng::new(seed, Purpose::Tls, 0);
        let client_first = rng.percent(30);
        let fallback = (client_first && rng.percent(50))
            .then(|| rng.duration(Duration::from_millis(100), Duration::from_millis(600)));
        TlsPlan {
            pki: Pki::new(seed, nodes),
            client_first,
            fallback,
            leaf_first: rng.percent(30),
            timeout: rng.duration(Duration::from_millis(500), Duration::from_secs(2)),
            verify_links: rng.percent(50),
        }
    }

    /// Node `node`'s block: its certificate, the CA, the timeout.
    pub fn settings(&self, node: usize) -> TlsSettings {
        let pem = &self.pki.nodes[node];
        TlsSettings {
            cert_file: format!("n{node}.pem"),
            cert_pem: pem.cert.clone(),
            key_file: format!("n{node}-key.pem"),
            key_pem: pem.key.clone(),
            ca_file: "ca.pem".to_string(),
            ca_pem: self.pki.ca.clone(),
            timeout: self.timeout,
            ..TlsSettings::default()
        }
    }

    /// TLS on every listener and every dialed link of `options` (one per
    /// node).
    pub fn apply(&self, options: &mut [Options]) {
        for (i, o) in options.iter_mut().enumerate() {
            let base = self.settings(i);
            o.tls = Some(TlsSettings {
                handshake_first: self.client_first,
                fallback: self.fallback,
                ..base.clone()
            });
            let link = TlsSettings {
                verify: self.verify_links,
                ..base.clone()
            };
            if let Some(c) = o.cluster.as_mut() {
                c.tls = Some(link.clone());
            }
            if let Some(g) = o.gateway.as_mut() {
                g.tls = Some(link.clone());
            }
            if let Some(l) = o.leaf.as_mut() {
                let leaf = TlsSettings {
                    handshake_first: self.leaf_first,
                    ..base.clone()
                };
                l.tls = Some(leaf.clone());
                for r in &mut l.remotes {
                    r.tls = Some(leaf.clone());
                }
            }
            if let Some(w) = o.websocket.as_mut() {
                // wss: TLS, then the upgrade; the upgrade's own timeout
                // leaves the TLS one to fire first.
                w.tls = Some(base.clone());
                let wait = w.handshake_timeout.unwrap_or(Duration::from_secs(2));
                w.handshake_timeout = Some(wait.max(self.timeout + Duration::from_secs(1)));
            }
        }
    }

    /// One line for the run's summary.
    pub fn describe(&self) -> String {
        format!(
            "tls[client_first={} fallback={:?} leaf_first={} timeout={:?} verify_links={}]",
            self.client_first, self.fallback, self.leaf_first, self.timeout, self.verify_links,
        )
    }
}

/// The configurations the simulated clients use: the CA, no certificate,
/// randomness from one stream of the world seed.
pub struct ClientSide {
    clock: TlsClock,
    config: Arc<rustls::ClientConfig>,
}

impl ClientSide {
    /// The clients' side of world `seed` with `plan`.
    pub fn new(seed: u64, plan: &TlsPlan) -> ClientSide {
        let provider = canopy_core::tls::provider(&stream_key(seed, Purpose::Tls, 1));
        let clock = TlsClock::default();
        let settings = TlsSettings {
            ca_pem: plan.pki.ca.clone(),
            ..TlsSettings::default()
        };
        let built = canopy_core::tls::build(&settings, &provider, &clock)
            .expect("the clients' TLS configuration");
        ClientSide {
            clock,
            config: built.client,
        }
    }

    /// A client's TLS towards `host` (TLS first, or after the INFO).
    pub fn connect(&self, host: &str, first: bool, now: Instant) -> ClientTls {
        self.clock.set(wall_secs(now));
        ClientTls {
            conn: None,
            config: self.config.clone(),
            name: server_name(host),
            first,
            info: Vec::new(),
            held: Vec::new(),
            clock: self.clock.clone(),
        }
    }
}

fn server_name(host: &str) -> ServerName<'static> {
    ServerName::try_from(host.to_string()).expect("a valid server name")
}

/// Reads `data` into `conn` and moves the plaintext it decrypted to
/// `plain`.
fn read_records(
    conn: &mut rustls::Connection,
    data: &[u8],
    plain: &mut Vec<u8>,
) -> Result<(), String> {
    let mut rest = data;
    while !rest.is_empty() {
        match conn.read_tls(&mut rest) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("read_tls: {e}")),
        }
        conn.process_new_packets().map_err(|e| e.to_string())?;
        let mut buf = [0u8; 16 * 1024];
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => plain.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }
    Ok(())
}

/// The TLS of one simulated client connection (or of a probe).
pub struct ClientTls {
    conn: Option<rustls::Connection>,
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    first: bool,
    /// The plaintext INFO read so far (INFO then TLS).
    info: Vec<u8>,
    /// Plaintext written before TLS started.
    held: Vec<u8>,
    clock: TlsClock,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("first", &self.first)
            .field("started", &self.conn.is_some())
            .finish()
    }
}

impl ClientTls {
    /// Whether the client starts TLS at once.
    pub fn first(&self) -> bool {
        self.first
    }

    /// Whether the handshake has ended.
    pub fn up(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.is_handshaking())
    }

    /// Starts TLS (the ClientHello is queued); plaintext written before
    /// follows the handshake.
    pub fn start(&mut self, now: Instant) {
        if self.conn.is_some() {
            return;
        }
        self.clock.set(wall_secs(now));
        let mut conn: rustls::Connection =
            rustls::ClientConnection::new(self.config.clone(), self.name.clone())
                .expect("a client connection")
                .into();
        conn.set_buffer_limit(None);
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            let _ = std::io::Write::write_all(&mut conn.writer(), &held);
        }
        self.conn = Some(conn);
    }

    /// Bytes from the server; the plaintext for the client. An error: the
    /// TLS of this connection failed.
    pub fn on_wire(&mut self, data: &[u8], now: Instant) -> Result<Vec<u8>, String> {
        self.clock.set(wall_secs(now));
        let mut plain = Vec::new();
        let mut rest = data;
        if self.conn.is_none() {
            if self.first {
                return Err(format!(
                    "{} bytes before the ClientHello: {:?}",
                    data.len(),
                    lossy(data)
                ));
            }
            self.info.extend_from_slice(rest);
            rest = &[];
            let Some(i) = memchr::memmem::find(&self.info, b"\r\n") else {
                if self.info.len() > 64 * 1024 {
                    return Err("no INFO line".to_string());
                }
                return Ok(plain);
            };
            let line_end = i + 2;
            let line = &self.info[..line_end];
            if !line.starts_with(b"INFO ") {
                return Err(format!(
                    "plaintext before TLS is not an INFO: {:?}",
                    lossy(line)
                ));
            }
            if memchr::memmem::find(line, b"\"tls_required\":true").is_none() {
                return Err(format!("INFO without tls_required: {:?}", lossy(line)));
            }
            plain.extend_from_slice(line);
            let after = self.info.split_off(line_end);
            self.start(now);
            if let Some(conn) = self.conn.as_mut() {
                read_records(conn, &after, &mut plain)?;
            }
        }
        if let Some(conn) = self.conn.as_mut() {
            read_records(conn, rest, &mut plain)?;
        }
        Ok(plain)
    }

    /// Plaintext the client writes.
    pub fn write_plain(&mut self, data: &[u8]) {
        match self.conn.as_mut() {
            Some(conn) => {
                let _ = std::io::Write::write_all(&mut conn.writer(), data);
            }
            None => self.held.extend_from_slice(data),
        }
    }

    /// The bytes to put on the wire now.
    pub fn take_wire(&mut self) -> Option<Bytes> {
        let conn = self.conn.as_mut()?;
        let mut wire = Vec::new();
        while conn.wants_write() {
            match conn.write_tls(&mut wire) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        (!wire.is_empty()).then(|| Bytes::from(wire))
    }
}

/// Printable bytes, for messages.
pub fn lossy(data: &[u8]) -> String {
    let n = data.len().min(60);
    String::from_utf8_lossy(&data[..n]).into_owned()
}

/// Checks that a stream an engine writes on a TLS link is TLS records
/// after the switch (one plaintext INFO line first, if the peer gets its
/// INFO before TLS).
#[derive(Clone, Debug)]
pub struct RecordCheck {
    stage: Stage,
    offset: u64,
}

#[derive(Clone, Debug)]
enum Stage {
    Info(Vec<u8>),
    Header([u8; 5], usize),
    Body(usize),
    Broken,
}

/// The largest TLS record length accepted (TLS 1.3's ciphertext bound).
const MAX_RECORD: usize = 16_384 + 256;

impl RecordCheck {
    /// A check of a stream that starts with a plaintext INFO line
    /// (`info_first`) or with TLS.
    pub fn new(info_first: bool) -> RecordCheck {
        RecordCheck {
            stage: if info_first {
                Stage::Info(Vec::new())
            } else {
                Stage::Header([0; 5], 0)
            },
            offset: 0,
        }
    }

    /// Feeds bytes written; the first problem found (once).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        let mut i = 0;
        while i < data.len() {
            match &mut self.stage {
                Stage::Broken => return Ok(()),
                Stage::Info(line) => {
                    let rest = &data[i..];
                    match memchr::memmem::find(rest, b"\n") {
                        Some(j) => {
                            line.extend_from_slice(&rest[..=j]);
                            i += j + 1;
                            if !line.starts_with(b"INFO ") {
                                let text = format!(
                                    "plaintext {:?} where the INFO before TLS belongs",
                                    lossy(line)
                                );
                                self.stage = Stage::Broken;
                                return Err(text);
                            }
                            self.stage = Stage::Header([0; 5], 0);
                        }
                        None => {
                            line.extend_from_slice(rest);
                            i = data.len();
                        }
                    }
                }
                Stage::Header(h, n) => {
                    h[*n] = data[i];
                    *n += 1;
                    i += 1;
                    if *n == 5 {
                        let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
                        let framed =
                            (0x14..=0x17).contains(&h[0]) && h[1] == 3 && len <= MAX_RECORD;
                        if !framed {
                            let start = i.saturating_sub(5);
                            let text = describe(&data[start..], self.offset + start as u64);
                            self.stage = Stage::Broken;
                            return Err(text);
                        }
                        self.stage = if len == 0 {
                            Stage::Header([0; 5], 0)
                        } else {
                            Stage::Body(len)
                        };
                    }
                }
                Stage::Body(left) => {
                    let take = (*left).min(data.len() - i);
                    *left -= take;
                    i += take;
                    if *left == 0 {
                        self.stage = Stage::Header([0; 5], 0);
                    }
                }
            }
        }
        self.offset += data.len() as u64;
        Ok(())
    }
}

/// What non-record bytes at `offset` look like.
fn describe(data: &[u8], offset: u64) -> String {
    const VERBS: [&[u8]; 12] = [
        b"MSG ", b"HMSG ", b"PUB ", b"HPUB ", b"RMSG ", b"LMSG ", b"RS+", b"LS+", b"-ERR", b"INFO",
        b"PING", b"PONG",
    ];
    let verb = VERBS
        .iter()
        .find(|v| memchr::memmem::find(data, v).is_some())
        .map(|v| String::from_utf8_lossy(v).trim().to_string());
    match verb {
        Some(v) => format!(
            "plaintext NATS ({v}) at byte {offset} after the TLS switch: {:?}",
            lossy(data)
        ),
        None => format!(
            "bytes that are no TLS record at byte {offset} after the TLS switch: {:02x?}",
            &data[..data.len().min(16)]
        ),
    }
}

/// One engine connection's shadow (see the module docs).
pub struct Shadow {
    state: ShadowState,
    plain: u64,
}

enum ShadowState {
    /// A leaf remote that starts TLS after the hub's INFO.
    AwaitInfo {
        buf: Vec<u8>,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    },
    Tls(Box<rustls::Connection>),
    Dead,
}

/// What a shadow read: the plaintext the engine got from the same bytes
/// (an INFO before TLS included), and the error that ended it, if it
/// ended now.
pub struct ShadowRead {
    /// Plaintext.
    pub plain: Bytes,
    /// The shadow failed on these bytes.
    pub failed: Option<String>,
    /// Plaintext bytes read on the connection so far, these included.
    pub total: u64,
}

impl Shadow {
    fn tls(conn: rustls::Connection) -> Shadow {
        Shadow {
            state: ShadowState::Tls(Box::new(conn)),
            plain: 0,
        }
    }

    /// Plaintext bytes read so far.
    pub fn plain_total(&self) -> u64 {
        self.plain
    }

    /// Feeds the bytes the engine just read.
    pub fn feed(&mut self, data: &[u8]) -> ShadowRead {
        let mut plain = Vec::new();
        let mut rest: Vec<u8> = Vec::new();
        let mut failed = None;
        if let ShadowState::AwaitInfo { buf, config, name } = &mut self.state {
            buf.extend_from_slice(data);
            if let Some(i) = memchr::memmem::find(buf, b"\r\n") {
                rest = buf.split_off(i + 2);
                plain.extend_from_slice(buf);
                // The engine starts its client here: so does the shadow,
                // drawing what it draws.
                match rustls::ClientConnection::new(config.clone(), name.clone()) {
                    Ok(c) => self.state = ShadowState::Tls(Box::new(c.into())),
                    Err(e) => {
                        failed = Some(e.to_string());
                        self.state = ShadowState::Dead;
                    }
                }
            }
        } else {
            rest = data.to_vec();
        }
        if let ShadowState::Tls(conn) = &mut self.state {
            if let Err(e) = read_records(conn, &rest, &mut plain) {
                failed = Some(e);
                self.state = ShadowState::Dead;
            } else {
                // Its own handshake output goes nowhere.
                let mut sink = Vec::new();
                while conn.wants_write() {
                    match conn.write_tls(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => sink.clear(),
                    }
                }
            }
        }
        self.plain += plain.len() as u64;
        ShadowRead {
            plain: Bytes::from(plain),
            failed,
            total: self.plain,
        }
    }
}

/// The shadows of one engine incarnation.
pub struct ShadowEngine {
    clock: TlsClock,
    client: Option<TlsConfig>,
    route: Option<TlsConfig>,
    leaf: Option<TlsConfig>,
    remote: Option<TlsConfig>,
    gateway: Option<TlsConfig>,
    websocket: Option<TlsConfig>,
    leaf_first: bool,
    conns: BTreeMap<ConnId, Shadow>,
}

impl ShadowEngine {
    /// The shadow of an engine started with `options` and `seed`.
    pub fn new(options: &Options, seed: &[u8; 32], now: Instant) -> ShadowEngine {
        let provider = canopy_core::tls::provider(seed);
        let clock = TlsClock::default();
        clock.set(wall_secs(now));
        let build = |s: Option<&TlsSettings>| {
            s.map(|s| canopy_core::tls::build(s, &provider, &clock).expect("a shadow TLS config"))
        };
        let leaf = options.leaf.as_ref();
        let remote = leaf.and_then(|l| l.remotes.iter().find_map(|r| r.tls.as_ref()));
        ShadowEngine {
            client: build(options.tls.as_ref()),
            route: build(options.cluster.as_ref().and_then(|c| c.tls.as_ref())),
            leaf: build(leaf.and_then(|l| l.tls.as_ref())),
            remote: build(remote),
            gateway: build(options.gateway.as_ref().and_then(|g| g.tls.as_ref())),
            websocket: build(options.websocket.as_ref().and_then(|w| w.tls.as_ref())),
            leaf_first: remote.is_some_and(|r| r.handshake_first),
            clock,
            conns: BTreeMap::new(),
        }
    }

    /// The engine accepted `conn` on `listener`: its server side, from the
    /// first byte read.
    pub fn accepted(&mut self, conn: ConnId, listener: ListenerKind) {
        let config = match listener {
            ListenerKind::Client => &self.client,
            ListenerKind::Route => &self.route,
            ListenerKind::Leaf => &self.leaf,
            ListenerKind::Gateway => &self.gateway,
            ListenerKind::Websocket => &self.websocket,
            ListenerKind::Monitor | ListenerKind::Https => &None,
        };
        let Some(server) = config.as_ref().and_then(|c| c.server.clone()) else {
            return;
        };
        if let Ok(c) = rustls::ServerConnection::new(server) {
            self.conns.insert(conn, Shadow::tls(c.into()));
        }
    }

    /// The engine's dial `conn` of `kind` to `host` connected (call right
    /// after `handle_dialed`: a route's or gateway's ClientHello, or a TLS
    /// first leaf's, was drawn in it). A leaf remote dialing a websocket
    /// port (`ws`) starts TLS at once, before its upgrade.
    pub fn dialed(&mut self, conn: ConnId, kind: LinkKind, host: &str, ws: bool, now: Instant) {
        self.clock.set(wall_secs(now));
        let config = match kind {
            LinkKind::Route => &self.route,
            LinkKind::Gateway => &self.gateway,
            LinkKind::Leaf => &self.remote,
        };
        let Some(config) = config.as_ref().map(|c| c.client.clone()) else {
            return;
        };
        let name = server_name(host.trim_start_matches('[').trim_end_matches(']'));
        if kind == LinkKind::Leaf && !self.leaf_first && !ws {
            self.conns.insert(
                conn,
                Shadow {
                    state: ShadowState::AwaitInfo {
                        buf: Vec::new(),
                        config,
                        name,
                    },
                    plain: 0,
                },
            );
            return;
        }
        if let Ok(c) = rustls::ClientConnection::new(config, name) {
            self.conns.insert(conn, Shadow::tls(c.into()));
        }
    }

    /// Feeds what the engine read on `conn`; None when `conn` has no TLS.
    pub fn read(&mut self, conn: ConnId, data: &[u8], now: Instant) -> Option<ShadowRead> {
        self.clock.set(wall_secs(now));
        let shadow = self.conns.get_mut(&conn)?;
        if matches!(shadow.state, ShadowState::Dead) {
            return Some(ShadowRead {
                plain: Bytes::new(),
                failed: None,
                total: shadow.plain,
            });
        }
        Some(shadow.feed(data))
    }

    /// Plaintext bytes the engine read on `conn` so far, if it has TLS.
    pub fn plain_total(&self, conn: ConnId) -> Option<u64> {
        self.conns.get(&conn).map(Shadow::plain_total)
    }

    /// Forgets `conn` (closed).
    pub fn forget(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }
}
