//! Message payloads: filler bytes (`x` repeated, as every row had before
//! the S2 rows), or a compressible JSON-like document that varies from
//! message to message the way real telemetry does (the same keys and
//! shape, different ids, times and readings), so S2 shrinks it several-fold
//! without the trivial win of identical messages.

/// What a row's payload looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// `size` bytes of `x`.
    Filler,
    /// A JSON telemetry event of exactly `size` bytes, different for every
    /// sequence number ([`payload`]).
    Json,
}

/// Distinct JSON payloads a publisher cycles through. Their frames span
/// more than 1 MiB (S2's block) at 1 KiB, so a repeat never falls in the
/// block holding its earlier copy.
pub const JSON_VARIANTS: u64 = 2048;

/// The payload of message `seq`: `size` bytes.
pub fn payload(kind: Payload, seq: u64, size: usize) -> Vec<u8> {
    match kind {
        Payload::Filler => vec![b'x'; size],
        Payload::Json => json(seq % JSON_VARIANTS, size),
    }
}

/// SplitMix64: a small deterministic generator, so every run sends the
/// same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

const SITES: &[&str] = &[
    "plant-north-1",
    "plant-north-3",
    "plant-south-2",
    "depot-east-4",
    "depot-west-1",
];
const KINDS: &[&str] = &[
    "temperature",
    "pressure",
    "vibration",
    "current",
    "humidity",
    "flow",
];
const UNITS: &[&str] = &["C", "kPa", "mm/s", "A", "%RH", "l/min"];
const STATUS: &[&str] = &["ok", "ok", "ok", "warn", "degraded"];
const WORDS: &[&str] = &[
    "operator",
    "checked",
    "valve",
    "line",
    "restart",
    "after",
    "maintenance",
    "reading",
    "stable",
    "drift",
    "within",
    "tolerance",
    "shift",
    "handover",
    "sensor",
    "replaced",
    "calibration",
    "scheduled",
    "alarm",
    "cleared",
    "pump",
    "bearing",
    "noise",
    "filter",
];

/// A telemetry event as JSON, exactly `size` bytes (at least 2): an id,
/// a sequence number, a timestamp, the source, then readings until about
/// 96 bytes are left, then a free-text note filled to the size.
fn json(seq: u64, size: usize) -> Vec<u8> {
    let mut r = Rng(seq.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
    let mut s = format!(
        "{{\"id\":\"evt-{:016x}\",\"seq\":{seq},\"time\":\"2026-12-07T{:02}:{:02}:{:02}.{:06}Z\",\
         \"source\":{{\"site\":\"{}\",\"line\":{},\"device\":\"press-{:04x}\",\"firmware\":\"4.{}.{}\"}},\
         \"status\":\"{}\",\"readings\":[",
        r.next(),
        r.below(24),
        r.below(60),
        r.below(60),
        r.below(1_000_000),
        r.pick(SITES),
        1 + r.below(12),
        r.below(0x1_0000),
        r.below(4),
        r.below(40),
        r.pick(STATUS),
    );
    let mut first = true;
    while s.len() + 96 < size {
        let k = r.below(KINDS.len() as u64) as usize;
        s.push_str(&format!(
            "{}{{\"name\":\"{}\",\"unit\":\"{}\",\"value\":{}.{:02},\"quality\":{}}}",
            if first { "" } else { "," },
            KINDS[k],
            UNITS[k],
            r.below(2000),
            r.below(100),
            80 + r.below(21),
        ));
        first = false;
    }
    s.push_str("],\"note\":\"");
    while s.len() + 2 < size {
        s.push_str(r.pick(WORDS));
        s.push(' ');
    }
    let mut b = s.into_bytes();
    b.truncate(size.saturating_sub(2));
    b.extend_from_slice(b"\"}");
    b.truncate(size);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_payloads_have_the_size_and_differ() {
        for size in [16, 200, 1024, 4096] {
            for seq in 0..50 {
                assert_eq!(payload(Payload::Json, seq, size).len(), size);
            }
        }
        let a = payload(Payload::Json, 1, 1024);
        let b = payload(Payload::Json, 2, 1024);
        assert_ne!(a, b);
        assert_eq!(a, payload(Payload::Json, 1, 1024));
        assert_eq!(a, payload(Payload::Json, 1 + JSON_VARIANTS, 1024));
        let text = String::from_utf8(a).unwrap();
        assert!(text.starts_with("{\"id\":\"evt-"), "{text}");
        assert!(text.ends_with("\"}"), "{text}");
        assert_eq!(payload(Payload::Filler, 0, 3), b"xxx");
        let small = String::from_utf8(payload(Payload::Json, 5, 16)).unwrap();
        assert!(
            small.starts_with("{\"id\":\"evt-") && small.ends_with("\"}"),
            "{small}"
        );
    }
}
