//! S2 compression modes of route and leaf links: what a side is
//! configured with, how nats-server picks the mode of one link from its
//! own and the peer's, and `s2_auto`'s round-trip rule.
//!
//! Compression is asymmetric: each side compresses its own writes at the
//! level it chose. The choice (nats-server's `selectCompressionMode`):
//!
//! | peer said \ own | `accept` | `s2_*` (and `s2_auto`) |
//! |---|---|---|
//! | nothing / `not supported` | not supported | not supported |
//! | `off` | off | off |
//! | `accept` | off | own |
//! | `s2_auto` | `s2_fast` | own |
//! | another `s2_*` | the peer's | own |
//!
//! A chosen `s2_auto` becomes a level from the round trip measured so
//! far, and is chosen again on every PONG ([`Compression::auto_level`]).
//! Gateways never compress.

pub use crate::transport::S2Level;
use std::time::Duration;

/// A configured compression mode (`compression: <mode>` of `cluster`,
/// `leafnodes` or a leaf remote), normalized as nats-server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `not supported`: behave as a server that predates compression (no
    /// `compression` field in INFO).
    NotSupported,
    /// `off` (also `disabled`, `false`).
    Off,
    /// `accept`: never start compression, follow a peer that does.
    Accept,
    /// `s2_auto`: a level chosen from the link's round trip.
    Auto,
    /// A fixed level.
    Level(S2Level),
}

impl Mode {
    /// The name nats-server uses for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::NotSupported => "not supported",
            Mode::Off => "off",
            Mode::Accept => "accept",
            Mode::Auto => "s2_auto",
            Mode::Level(l) => l.as_str(),
        }
    }

    /// Reads a mode as a peer writes it in INFO or CONNECT. `None` for
    /// a name nats-server does not know either.
    pub fn from_wire(s: &str) -> Option<Mode> {
        Some(match s {
            "" | "not supported" => Mode::NotSupported,
            "off" => Mode::Off,
            "accept" => Mode::Accept,
            "s2_auto" => Mode::Auto,
            "s2_uncompressed" => Mode::Level(S2Level::Uncompressed),
            "s2_fast" => Mode::Level(S2Level::Fast),
            "s2_better" => Mode::Level(S2Level::Better),
            "s2_best" => Mode::Level(S2Level::Best),
            _ => return None,
        })
    }
}

/// nats-server's default `s2_auto` thresholds: up to 10 ms uncompressed,
/// up to 50 ms fast, up to 100 ms better, above that best.
pub const DEFAULT_RTT_THRESHOLDS: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(100),
];

/// One side's compression settings for a kind of link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compression {
    /// The configured mode.
    pub mode: Mode,
    /// `s2_auto`'s thresholds (at most four; a zero disables a level).
    pub rtt_thresholds: Vec<Duration>,
}

impl Default for Compression {
    /// Off: what a link without settings does.
    fn default() -> Self {
        Compression {
            mode: Mode::Off,
            rtt_thresholds: Vec::new(),
        }
    }
}

impl Compression {
    /// A fixed mode (thresholds only matter for `s2_auto`).
    pub fn new(mode: Mode) -> Self {
        let rtt_thresholds = if mode == Mode::Auto {
            DEFAULT_RTT_THRESHOLDS.to_vec()
        } else {
            Vec::new()
        };
        Compression {
            mode,
            rtt_thresholds,
        }
    }

    /// Normalizes a configured mode as nats-server's
    /// `validateAndNormalizeCompressionOption` does: `on_mode` for
    /// `on`/`enabled`/`true`, `default` when the mode is left out.
    /// Unknown names were refused when the configuration was checked;
    /// here they fall back to `default`.
    pub fn from_config(mode: &str, thresholds: &[Duration], on_mode: Mode, default: Mode) -> Self {
        let lower = mode.to_lowercase();
        let mode = match lower.as_str() {
            "" => default,
            "on" | "enabled" | "true" => on_mode,
            "not supported" | "not_supported" => Mode::NotSupported,
            "disabled" | "off" | "false" => Mode::Off,
            "accept" => Mode::Accept,
            "auto" | "s2_auto" => Mode::Auto,
            "uncompressed" | "s2_uncompressed" => Mode::Level(S2Level::Uncompressed),
            "fast" | "s2_fast" => Mode::Level(S2Level::Fast),
            "better" | "s2_better" => Mode::Level(S2Level::Better),
            "best" | "s2_best" => Mode::Level(S2Level::Best),
            _ => default,
        };
        let mut c = Compression::new(mode);
        if mode == Mode::Auto && !thresholds.is_empty() {
            // Negative values count as 0; trailing zeros are dropped.
            let mut rtts = thresholds.to_vec();
            while rtts.last() == Some(&Duration::ZERO) {
                rtts.pop();
            }
            if !rtts.is_empty() {
                rtts.truncate(4);
                c.rtt_thresholds = rtts;
            }
        }
        c
    }

    /// Whether this side negotiates compression at all (nats-server's
    /// `needsCompression`): everything but `off` and `not supported`.
    pub fn negotiates(&self) -> bool {
        !matches!(self.mode, Mode::Off | Mode::NotSupported)
    }

    /// The `compression` field of this side's first INFO, or `None` when
    /// it has none (`not supported`).
    pub fn info_field(&self) -> Option<&'static str> {
        (self.mode != Mode::NotSupported).then(|| self.mode.as_str())
    }

    /// The mode of one link, from our settings and what the peer said
    /// (`peer`: its INFO `compression`). Call only when
    /// [`Compression::negotiates`]. The result is never `Accept`; it is
    /// `Auto` when the level is to come from the round trip. An unknown
    /// name is nats-server's error text.
    pub fn select(&self, peer: &str) -> Result<Mode, String> {
        let Some(theirs) = Mode::from_wire(peer) else {
            return Err(format!("unsupported route compression mode {peer:?}"));
        };
        Ok(match theirs {
            Mode::NotSupported => Mode::NotSupported,
            Mode::Off => Mode::Off,
            Mode::Accept if self.mode == Mode::Accept => Mode::Off,
            Mode::Accept => self.mode,
            Mode::Auto if self.mode == Mode::Accept => Mode::Level(S2Level::Fast),
            Mode::Auto | Mode::Level(_) if self.mode == Mode::Accept => theirs,
            Mode::Auto | Mode::Level(_) => self.mode,
        })
    }

    /// The level `s2_auto` picks for a round trip of `rtt` (nats-server's
    /// `selectS2AutoModeBasedOnRTT`): the first threshold at or above it
    /// gives uncompressed, fast, better, best by position; above all of
    /// them, best with three or more thresholds, else the last one's.
    pub fn auto_level(&self, rtt: Duration) -> S2Level {
        let t = if self.rtt_thresholds.is_empty() {
            &DEFAULT_RTT_THRESHOLDS[..]
        } else {
            &self.rtt_thresholds[..]
        };
        let idx = match t.iter().position(|d| rtt <= *d) {
            Some(i) => i,
            None if t.len() >= 3 => 3,
            None => t.len().saturating_sub(1),
        };
        match idx {
            0 => S2Level::Uncompressed,
            1 => S2Level::Fast,
            2 => S2Level::Better,
            _ => S2Level::Best,
        }
    }

    /// What this side says in the INFO it sends once compressing (and
    /// what `/routez` and `/leafz` keep showing as configured): `s2_auto`
    /// when configured auto, else the chosen level.
    pub fn info_for(&self, chosen: Mode) -> &'static str {
        if self.mode == Mode::Auto {
            Mode::Auto.as_str()
        } else {
            chosen.as_str()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(mode: &str) -> Compression {
        Compression::from_config(mode, &[], Mode::Level(S2Level::Fast), Mode::Accept)
    }

    #[test]
    fn selection_follows_nats_servers_table() {
        let fast = Mode::Level(S2Level::Fast);
        let better = Mode::Level(S2Level::Better);
        let best = Mode::Level(S2Level::Best);
        assert_eq!(c("accept").select("").unwrap(), Mode::NotSupported);
        assert_eq!(
            c("s2_best").select("not supported").unwrap(),
            Mode::NotSupported
        );
        assert_eq!(c("accept").select("off").unwrap(), Mode::Off);
        assert_eq!(c("s2_best").select("off").unwrap(), Mode::Off);
        assert_eq!(c("accept").select("accept").unwrap(), Mode::Off);
        assert_eq!(c("s2_best").select("accept").unwrap(), best);
        assert_eq!(c("s2_auto").select("accept").unwrap(), Mode::Auto);
        assert_eq!(c("accept").select("s2_auto").unwrap(), fast);
        assert_eq!(c("accept").select("s2_better").unwrap(), better);
        assert_eq!(c("s2_fast").select("s2_best").unwrap(), fast);
        assert_eq!(
            c("accept").select("zip").unwrap_err(),
            "unsupported route compression mode \"zip\""
        );
    }

    #[test]
    fn auto_levels_by_round_trip() {
        let auto = c("s2_auto");
        let ms = Duration::from_millis;
        assert_eq!(auto.auto_level(ms(1)), S2Level::Uncompressed);
        assert_eq!(auto.auto_level(ms(10)), S2Level::Uncompressed);
        assert_eq!(auto.auto_level(ms(11)), S2Level::Fast);
        assert_eq!(auto.auto_level(ms(100)), S2Level::Better);
        assert_eq!(auto.auto_level(ms(101)), S2Level::Best);
        // [0, 0, 20]: better up to 20 ms, best above (three thresholds).
        let skip =
            Compression::from_config("s2_auto", &[ms(0), ms(0), ms(20)], Mode::Auto, Mode::Auto);
        assert_eq!(skip.auto_level(ms(5)), S2Level::Better);
        assert_eq!(skip.auto_level(ms(30)), S2Level::Best);
        // Two thresholds: above both, the last one's level.
        let two = Compression::from_config("s2_auto", &[ms(5), ms(10)], Mode::Auto, Mode::Auto);
        assert_eq!(two.auto_level(ms(50)), S2Level::Fast);
    }

    #[test]
    fn configured_names_normalize() {
        assert_eq!(c("").mode, Mode::Accept);
        assert_eq!(c("on").mode, Mode::Level(S2Level::Fast));
        assert_eq!(c("Disabled").mode, Mode::Off);
        assert_eq!(c("better").mode, Mode::Level(S2Level::Better));
        assert_eq!(c("not_supported").info_field(), None);
        assert_eq!(c("s2_auto").info_field(), Some("s2_auto"));
        assert!(!c("off").negotiates() && c("accept").negotiates());
        assert_eq!(c("s2_auto").info_for(Mode::Level(S2Level::Fast)), "s2_auto");
        assert_eq!(c("accept").info_for(Mode::Level(S2Level::Best)), "s2_best");
    }
}
