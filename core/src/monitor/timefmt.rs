//! Time and duration texts as nats-server's monitoring prints them (Go's
//! formats), computed from wall-clock nanoseconds the driver supplies.

use std::time::Duration;

/// Civil date of a day count since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn split(unix_nanos: i128) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = unix_nanos.div_euclid(1_000_000_000) as i64;
    let nanos = unix_nanos.rem_euclid(1_000_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil(days);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, nanos)
}

/// Go's `time.RFC3339Nano` in UTC: `2026-11-23T07:55:50.52023933Z`
/// (trailing zeros of the fraction dropped, no fraction when zero).
pub fn rfc3339_nano(unix_nanos: i128) -> String {
    let (y, mo, d, h, mi, s, n) = split(unix_nanos);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if n > 0 {
        let frac = format!("{n:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The HTTP `Date` header: `Mon, 23 Nov 2026 07:56:11 GMT`.
pub fn http_date(unix_nanos: i128) -> String {
    let (y, mo, d, h, mi, s, _) = split(unix_nanos);
    let days = unix_nanos.div_euclid(86_400_000_000_000) as i64;
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{weekday}, {d:02} {month} {y:04} {h:02}:{mi:02}:{s:02} GMT")
}

/// nats-server's uptime text: whole seconds as `1y2d3h4m5s`, leading zero
/// units dropped (`0s`, `26s`, `1m0s`).
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    let years = days / 365;
    if years > 0 {
        format!(
            "{years}y{}d{}h{}m{}s",
            days % 365,
            hours % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{days}d{}h{}m{}s", hours % 24, mins % 60, secs % 60)
    } else if hours > 0 {
        format!("{hours}h{}m{}s", mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{mins}m{}s", secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// Go's `time.Duration.String()`: `0s`, `507µs`, `1.234567ms`, `2m3.5s`
/// (the config module's implementation, for a std `Duration`).
pub fn go_duration(d: Duration) -> String {
    crate::config::gofmt::format_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        // 2026-11-23T07:55:50.52023933Z, observed in nats-server's /varz.
        let t: i128 = 1_795_420_550_520_239_330;
        assert_eq!(rfc3339_nano(t), "2026-11-23T07:55:50.52023933Z");
        assert_eq!(http_date(t), "Mon, 23 Nov 2026 07:55:50 GMT");
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(507_000)), "507µs");
        assert_eq!(go_duration(Duration::from_nanos(1_234_567)), "1.234567ms");
        assert_eq!(go_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(go_duration(Duration::from_secs(123)), "2m3s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_nanos(999)), "999ns");
        assert_eq!(uptime(Duration::from_millis(900)), "0s");
        assert_eq!(uptime(Duration::from_secs(60)), "1m0s");
        assert_eq!(uptime(Duration::from_secs(90_061)), "1d1h1m1s");
        assert_eq!(uptime(Duration::from_secs(366 * 86_400)), "1y1d0h0m0s");
    }
}
