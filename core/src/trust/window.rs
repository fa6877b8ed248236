//! Where and when a user JWT may connect: its `src` networks and its
//! `times` windows, checked as nats-server's `validateSrc` and
//! `validateTimes` check them.

use core::net::IpAddr;

/// Whether a client at `ip` is inside one of the `src` networks (CIDRs).
/// No networks: anywhere. An entry that is not a CIDR refuses, as in
/// nats-server (such a JWT is invalid).
pub fn src_allows(src: &[String], ip: Option<IpAddr>) -> bool {
    if src.is_empty() {
        return true;
    }
    let Some(ip) = ip else {
        return false;
    };
    for cidr in src {
        match parse_cidr(cidr.trim()) {
            None => return false,
            Some((net, bits)) if contains(net, bits, ip) => return true,
            Some(_) => {}
        }
    }
    false
}

/// Whether `now_unix` (seconds) falls in one of the `times` windows
/// (`"HH:MM:SS"` start and end, a window whose end is before its start
/// crossing midnight), and for how many seconds from now the latest
/// matching window still lasts. No windows: always, `Some(0)`. `None`:
/// refused (outside every window, or a time that does not parse).
///
/// The times are UTC: the engine has no time-zone database, so a
/// `times_location` other than UTC (or empty, nats-server's local zone,
/// which is UTC on the servers this runs on) refuses rather than guess.
pub fn times_allow(times: &[(String, String)], location: &str, now_unix: i64) -> Option<i64> {
    if times.is_empty() {
        return Some(0);
    }
    if !matches!(location, "" | "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT") {
        return None;
    }
    let day = now_unix.div_euclid(86_400) * 86_400;
    let mut best: Option<i64> = None;
    for (start, end) in times {
        let start = day + parse_clock(start)?;
        let end = day + parse_clock(end)?;
        if let Some(left) = window_left(start, end, now_unix) {
            if best.is_none_or(|b| left > b) {
                best = Some(left);
            }
        }
    }
    best
}

/// Seconds left in the window `start..end` (today's clock times) at
/// `now`, if inside it.
fn window_left(start: i64, end: i64, now: i64) -> Option<i64> {
    if start < now && end > now {
        return Some(end - now);
    }
    if start > end {
        // Crossing midnight: still inside this morning's end ...
        if end > now {
            return Some(end - now);
        }
        // ... or after tonight's start.
        let end = end + 86_400;
        if start < now && end > now {
            return Some(end - now);
        }
    }
    None
}

/// `HH:MM:SS` as seconds after midnight.
fn parse_clock(text: &str) -> Option<i64> {
    let mut parts = text.split(':');
    let mut field = |max: i64| -> Option<i64> {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: i64 = p.parse().ok()?;
        (v <= max).then_some(v)
    };
    let (h, m, s) = (field(23)?, field(59)?, field(59)?);
    if parts.next().is_some() {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

/// A CIDR: the network address and its prefix length.
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bits: u8 = bits.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

/// Whether `ip` is in `net/bits` (an IPv4 client also matches an
/// IPv4-mapped IPv6 form, and the other way round, as Go's `net` does).
fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    let as_v4 = |a: IpAddr| match a {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(v) => v.to_ipv4_mapped(),
    };
    match (as_v4(net), as_v4(ip)) {
        (Some(n), Some(i)) if net.is_ipv4() => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        _ => match (net, ip) {
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn src_networks() {
        let ip = |t: &str| Some(t.parse::<IpAddr>().unwrap());
        assert!(src_allows(&[], None));
        assert!(!src_allows(&s(&["127.0.0.0/8"]), None));
        assert!(src_allows(&s(&["127.0.0.0/8"]), ip("127.0.0.1")));
        assert!(!src_allows(&s(&["10.0.0.0/8"]), ip("127.0.0.1")));
        assert!(src_allows(
            &s(&["10.0.0.0/8", "127.0.0.1/32"]),
            ip("127.0.0.1")
        ));
        assert!(src_allows(&s(&["0.0.0.0/0"]), ip("192.168.1.1")));
        assert!(src_allows(&s(&["::1/128"]), ip("::1")));
        assert!(!src_allows(&s(&["::1/128"]), ip("127.0.0.1")));
        // A bad entry refuses, even before a matching one.
        assert!(!src_allows(
            &s(&["nonsense", "127.0.0.0/8"]),
            ip("127.0.0.1")
        ));
        assert!(!src_allows(&s(&["127.0.0.0/33"]), ip("127.0.0.1")));
    }

    #[test]
    fn time_windows() {
        let w = |a: &str, b: &str| (a.to_string(), b.to_string());
        // 1970-01-02 13:00:00 UTC.
        let now = 86_400 + 13 * 3600;
        assert_eq!(times_allow(&[], "", now), Some(0));
        assert_eq!(
            times_allow(&[w("11:00:00", "22:00:00")], "", now),
            Some(9 * 3600)
        );
        assert_eq!(times_allow(&[w("14:00:00", "22:00:00")], "", now), None);
        // Crossing midnight, before and after it.
        assert_eq!(
            times_allow(&[w("22:00:00", "14:00:00")], "", now),
            Some(3600)
        );
        assert_eq!(
            times_allow(&[w("12:00:00", "06:00:00")], "UTC", now),
            Some(17 * 3600)
        );
        // The longest window wins.
        assert_eq!(
            times_allow(
                &[w("12:00:00", "14:00:00"), w("10:00:00", "20:00:00")],
                "",
                now
            ),
            Some(7 * 3600)
        );
        assert_eq!(times_allow(&[w("1:00:00", "22:00:00")], "", now), None);
        assert_eq!(
            times_allow(&[w("11:00:00", "22:00:00")], "Europe/Paris", now),
            None
        );
    }
}
