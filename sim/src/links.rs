//! `--s2` and `--ws` worlds: compression and WebSocket settings of the
//! links between engines, drawn per seed from a stream of their own (so
//! the rest of a seed is its plain twin's), and the faults of the links
//! that have a layer below the protocol.
//!
//! - `--s2`: each node's `cluster { compression }`, `leafnodes {
//!   compression }` and each remote's `compression`, one of `off`,
//!   `accept`, `s2_uncompressed`, `s2_fast`, `s2_better`, `s2_best` and
//!   `s2_auto` (sometimes with RTT thresholds of its own). Gateways never
//!   compress. Without `--s2` the engine's defaults stand (leaf links
//!   `s2_auto`, routes `accept`).
//! - `--ws`: every node with a leaf port gets `websocket { no_tls }` on
//!   [`WS_PORT`] (over TLS in `--tls` worlds) with `compression` drawn,
//!   and most leaf remotes dial it (`ws://`) with `ws_compression` and
//!   `ws_no_masking` drawn.
//!
//! The world reads those links through [`crate::link_wire`]. New links
//! with a layer (S2 possible, or a WebSocket) may, while faults are on,
//! be read a byte at a time for their first bytes (the upgrade, the
//! negotiation, the first frames and chunks) or reset at a drawn byte of
//! them (mid-frame, mid-chunk), besides the seed's own link faults.

use crate::rng::{Purpose, SimRng};
use crate::world::route_host;
use canopy_core::compression::{Compression, Mode, S2Level};
use canopy_core::Options;
use std::time::Duration;

/// Websocket port of every node that accepts leaf links (`--ws`).
pub const WS_PORT: u16 = 8443;

/// Percent of new layered links read a byte at a time at first.
const SPLIT_PERCENT: u64 = 8;
/// Percent of new layered links reset within their first bytes.
const RESET_PERCENT: u64 = 5;
/// Bytes read one at a time at the start of a split link.
const SPLIT_BYTES: u64 = 3000;

/// The link settings of a world and the draws of its link faults.
pub struct LinksPlan {
    /// Compression drawn (`--s2`).
    pub s2: bool,
    /// Leaf remotes over WebSocket (`--ws`).
    pub ws: bool,
    /// Layered links get faults (the seed's faults are on).
    pub faults: bool,
    rng: SimRng,
    summary: String,
}

impl std::fmt::Debug for LinksPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

/// Draws one side's compression.
fn draw_compression(rng: &mut SimRng) -> Compression {
    let mode = match rng.below(7) {
        0 => Mode::Off,
        1 => Mode::Accept,
        2 => Mode::Level(S2Level::Uncompressed),
        3 => Mode::Level(S2Level::Fast),
        4 => Mode::Level(S2Level::Better),
        5 => Mode::Level(S2Level::Best),
        _ => Mode::Auto,
    };
    if mode == Mode::Auto && rng.percent(40) {
        // Thresholds around the virtual round trips a link sees.
        let ms = [0u64, 1, 2, 5, 10, 20];
        let n = rng.range(1, 4) as usize;
        let mut t: Vec<Duration> = (0..n)
            .map(|_| Duration::from_millis(*rng.pick(&ms)))
            .collect();
        t.sort();
        return Compression::from_config("s2_auto", &t, Mode::Auto, Mode::Auto);
    }
    Compression::new(mode)
}

fn short(c: &Compression) -> String {
    let name = c.mode.as_str().trim_start_matches("s2_");
    if c.mode == Mode::Auto && c.rtt_thresholds != canopy_core::compression::DEFAULT_RTT_THRESHOLDS
    {
        let t: Vec<String> = c
            .rtt_thresholds
            .iter()
            .map(|d| d.as_millis().to_string())
            .collect();
        return format!("{name}[{}]", t.join(","));
    }
    name.to_string()
}

impl LinksPlan {
    /// Draws the settings of `options` (one per node) for seed `seed`
    /// and applies them.
    pub fn draw(seed: u64, s2: bool, ws: bool, options: &mut [Options]) -> LinksPlan {
        let mut rng = SimRng::new(seed, Purpose::Links, 0);
        let mut parts = Vec::new();
        if s2 {
            for (i, o) in options.iter_mut().enumerate() {
                let mut text = Vec::new();
                if let Some(c) = o.cluster.as_mut() {
                    c.compression = draw_compression(&mut rng);
                    text.push(format!("route={}", short(&c.compression)));
                }
                if let Some(l) = o.leaf.as_mut() {
                    l.compression = draw_compression(&mut rng);
                    if l.port != 0 {
                        text.push(format!("leaf={}", short(&l.compression)));
                    }
                    for (k, r) in l.remotes.iter_mut().enumerate() {
                        r.compression = draw_compression(&mut rng);
                        text.push(format!("remote{k}={}", short(&r.compression)));
                    }
                }
                if !text.is_empty() {
                    parts.push(format!("{i}:{}", text.join(",")));
                }
            }
        }
        if ws {
            let hubs: Vec<(String, bool)> = options
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let port = o.leaf.as_ref().is_some_and(|l| l.port != 0);
                    (route_host(i), port)
                })
                .collect();
            for (i, o) in options.iter_mut().enumerate() {
                if hubs[i].1 {
                    let compression = rng.percent(50);
                    o.websocket = Some(canopy_core::WebsocketOptions {
                        host: route_host(i),
                        port: WS_PORT,
                        compression,
                        ..canopy_core::WebsocketOptions::default()
                    });
                    parts.push(format!(
                        "{i}:ws{}",
                        if compression { "+deflate" } else { "" }
                    ));
                }
                let Some(l) = o.leaf.as_mut() else {
                    continue;
                };
                for (k, r) in l.remotes.iter_mut().enumerate() {
                    let hub = r
                        .urls
                        .first()
                        .and_then(|u| hubs.iter().find(|(h, port)| *port && *h == u.host));
                    let Some((host, _)) = hub else {
                        continue;
                    };
                    if !rng.percent(80) {
                        continue;
                    }
                    let url = format!("ws://{host}:{WS_PORT}");
                    r.urls = canopy_core::route::RouteAddr::parse(&url)
                        .into_iter()
                        .collect();
                    let w = canopy_core::RemoteWebsocket {
                        compression: rng.percent(50),
                        no_masking: rng.percent(50),
                        paths: vec![String::new()],
                    };
                    parts.push(format!(
                        "{i}:remote{k}=ws{}{}",
                        if w.compression { "+deflate" } else { "" },
                        if w.no_masking { "+nomask" } else { "" }
                    ));
                    r.websocket = Some(w);
                }
            }
        }
        LinksPlan {
            s2,
            ws,
            faults: false,
            rng: SimRng::new(seed, Purpose::Links, 1),
            summary: format!("links[{}]", parts.join(" ")),
        }
    }

    /// One line for the run's summary.
    pub fn describe(&self) -> &str {
        &self.summary
    }

    /// The faults of a new link with a layer: bytes read one at a time
    /// at its start (both ways), and a reset (pipe, byte).
    pub fn conn_faults(&mut self) -> (u64, Option<(usize, u64)>) {
        let split = if self.rng.percent(SPLIT_PERCENT) {
            SPLIT_BYTES
        } else {
            0
        };
        let reset = self
            .rng
            .percent(RESET_PERCENT)
            .then(|| (self.rng.below(2) as usize, self.rng.range(1, 1200)));
        (split, reset)
    }
}
