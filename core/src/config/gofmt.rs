//! Small re-implementations of the Go standard library behaviour that
//! nats-server's config messages depend on: `strconv.Quote`, float and
//! duration formatting, `time.ParseDuration`, `net/url.Parse` (enough to
//! know whether a URL parses and to print it back) and `path/filepath`
//! joining.

use std::time::Duration;

/// Go's `strconv.Quote` (`%q` of a string).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') || not_printable(c) => {
                let n = c as u32;
                if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Format (Cf) and private-use (Co) characters, which Go's
/// `unicode.IsPrint` rejects.
fn not_printable(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
        | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

/// Go's `%q` of a string slice: `["a" "b"]`.
pub fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| quote(s.as_ref())).collect();
    format!("[{}]", parts.join(" "))
}

/// The `time` package's private quoting (used in duration errors).
pub fn time_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if (c as u32) >= 0x80 || c < ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Splits the shortest round-trip decimal digits of a finite, non-zero
/// `x` into (negative, digits, exponent) where `|x| = 0.d1d2... * 10^dp`
/// is expressed as `d1.d2... * 10^exp`.
fn shortest_digits(x: f64) -> (bool, String, i32) {
    let s = format!("{:e}", x.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (x.is_sign_negative(), digits, exp)
}

fn go_exp_form(neg: bool, digits: &str, exp: i32, two_digit_exp: bool) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let (first, rest) = digits.split_at(1.min(digits.len()));
    out.push_str(first);
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if two_digit_exp && e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

fn special_float(x: f64) -> Option<String> {
    if x.is_nan() {
        Some("NaN".into())
    } else if x.is_infinite() {
        Some(if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(x, 'g', -1, 64)`).
pub fn format_float_v(x: f64) -> String {
    if let Some(s) = special_float(x) {
        return s;
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = shortest_digits(x);
    if !(-4..6).contains(&exp) {
        return go_exp_form(neg, &digits, exp, true);
    }
    // Plain decimal form with exactly the shortest digits.
    format!("{x}")
}

/// Go's `%f` of a float64 (6 decimals).
pub fn format_float_f(x: f64) -> String {
    if let Some(s) = special_float(x) {
        return s;
    }
    format!("{x:.6}")
}

/// Go's `encoding/json` rendering of a float64.
pub fn format_float_json(x: f64) -> String {
    if !x.is_finite() {
        // json.Marshal fails on these; nats-server would fail the digest.
        return "null".into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let (neg, digits, exp) = shortest_digits(x);
        return go_exp_form(neg, &digits, exp, false);
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    format!("{x}")
}

/// A Go `time.Duration`: signed nanoseconds.
pub type GoDuration = i64;

/// Converts a non-negative Go duration into a std `Duration` (negative
/// values become zero).
pub fn to_std(d: GoDuration) -> Duration {
    Duration::from_nanos(d.max(0) as u64)
}

fn leading_int(s: &[u8]) -> Option<(u64, usize)> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > (1u64 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > 1u64 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, i))
}

fn leading_fraction(s: &[u8]) -> (u64, f64, usize) {
    let mut x: u64 = 0;
    let mut scale = 1.0;
    let mut overflow = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if !overflow {
            if x > ((1u64 << 63) - 1) / 10 {
                overflow = true;
            } else {
                let y = x * 10 + u64::from(s[i] - b'0');
                if y > 1u64 << 63 {
                    overflow = true;
                } else {
                    x = y;
                    scale *= 10.0;
                }
            }
        }
        i += 1;
    }
    (x, scale, i)
}

/// Go's `time.ParseDuration`, with its exact error texts.
pub fn parse_duration(orig: &str) -> Result<GoDuration, String> {
    let invalid = || format!("time: invalid duration {}", time_quote(orig));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let pl = s.len();
        let (v, n) = leading_int(s).ok_or_else(invalid)?;
        s = &s[n..];
        let pre = pl != s.len();
        let mut post = false;
        let (mut f, mut scale) = (0u64, 1.0f64);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let (ff, sc, n) = leading_fraction(s);
            f = ff;
            scale = sc;
            post = n > 0;
            s = &s[n..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let mut i = 0;
        while i < s.len() && !(s[i] == b'.' || s[i].is_ascii_digit()) {
            i += 1;
        }
        if i == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                time_quote(orig)
            ));
        }
        let u = &s[..i];
        s = &s[i..];
        let unit: u64 = match u {
            b"ns" => 1,
            b"us" => 1_000,
            b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    time_quote(&String::from_utf8_lossy(u)),
                    time_quote(orig)
                ))
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        let mut v = v * unit;
        if f > 0 {
            v = v.wrapping_add((f as f64 * (unit as f64 / scale)) as u64);
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        d = d.wrapping_add(v);
        if d > 1u64 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > (1u64 << 63) - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

fn fmt_frac(buf: &mut Vec<u8>, v: u64, prec: usize) -> u64 {
    // Writes (reversed) ".fraction" without trailing zeros.
    let mut v = v;
    let mut print = false;
    for _ in 0..prec {
        let digit = v % 10;
        print = print || digit != 0;
        if print {
            buf.push(digit as u8 + b'0');
        }
        v /= 10;
    }
    if print {
        buf.push(b'.');
    }
    v
}

fn fmt_int(buf: &mut Vec<u8>, v: u64) {
    let mut v = v;
    if v == 0 {
        buf.push(b'0');
    } else {
        while v > 0 {
            buf.push((v % 10) as u8 + b'0');
            v /= 10;
        }
    }
}

/// Go's `time.Duration.String()` (`%v` of a duration).
pub fn format_duration(d: GoDuration) -> String {
    // Built reversed, then flipped.
    let mut buf: Vec<u8> = Vec::with_capacity(32);
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    if u < 1_000_000_000 {
        let prec;
        buf.push(b's');
        if u == 0 {
            return "0s".into();
        } else if u < 1_000 {
            prec = 0;
            buf.push(b'n');
        } else if u < 1_000_000 {
            prec = 3;
            // "µ" reversed byte-wise.
            buf.push(0xb5);
            buf.push(0xc2);
        } else {
            prec = 6;
            buf.push(b'm');
        }
        u = fmt_frac(&mut buf, u, prec);
        fmt_int(&mut buf, u);
    } else {
        buf.push(b's');
        u = fmt_frac(&mut buf, u, 9);
        fmt_int(&mut buf, u % 60);
        u /= 60;
        if u > 0 {
            buf.push(b'm');
            fmt_int(&mut buf, u % 60);
            u /= 60;
            if u > 0 {
                buf.push(b'h');
                fmt_int(&mut buf, u);
            }
        }
    }
    if neg {
        buf.push(b'-');
    }
    buf.reverse();
    String::from_utf8_lossy(&buf).into_owned()
}

/// A URL as Go's `net/url` parses it (the parts nats-server uses).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoUrl {
    /// Lower-cased scheme (`nats`, `nats-leaf`, `ws`, ...).
    pub scheme: String,
    /// Opaque part (`scheme:opaque`), when there is no `//`.
    pub opaque: String,
    /// User name from the userinfo, if any.
    pub user: Option<String>,
    /// Password from the userinfo, if any.
    pub password: Option<String>,
    /// `host[:port]` as written.
    pub host: String,
    /// Path (unescaped).
    pub path: String,
    /// Raw query, without `?`.
    pub raw_query: String,
    /// Whether a lone trailing `?` was present.
    pub force_query: bool,
    /// Fragment, without `#`.
    pub fragment: Option<String>,
    /// The text as given (after trimming), for display.
    pub raw: String,
}

/// The value of a hexadecimal digit.
pub(crate) fn unhex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn unescape(s: &str) -> Result<String, ()> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(unhex),
                b.get(i + 2).copied().and_then(unhex),
            ) else {
                return Err(());
            };
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn valid_optional_port(port: &str) -> bool {
    if port.is_empty() {
        return true;
    }
    let Some(rest) = port.strip_prefix(':') else {
        return false;
    };
    rest.bytes().all(|b| b.is_ascii_digit())
}

fn valid_userinfo(s: &str) -> bool {
    s.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b':'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b'@'
            )
            || b >= 0x80
    })
}

impl GoUrl {
    /// Go's `url.Parse` (after `strings.TrimSpace`, as nats-server's
    /// `parseURL` does). `Err` when Go would fail.
    pub fn parse(input: &str) -> Result<GoUrl, String> {
        let raw = input.trim();
        let mut url = GoUrl {
            raw: raw.to_string(),
            ..GoUrl::default()
        };
        let (u, frag) = match raw.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (raw, None),
        };
        if u.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err("net/url: invalid control character in URL".into());
        }
        if u == "*" {
            url.path = "*".into();
            return Ok(url);
        }
        // getScheme
        let mut rest = u;
        for (i, c) in u.bytes().enumerate() {
            if c.is_ascii_alphabetic() {
                continue;
            }
            if c.is_ascii_digit() || c == b'+' || c == b'-' || c == b'.' {
                if i == 0 {
                    break;
                }
                continue;
            }
            if c == b':' {
                if i == 0 {
                    return Err("missing protocol scheme".into());
                }
                url.scheme = u[..i].to_ascii_lowercase();
                rest = &u[i + 1..];
            }
            break;
        }
        let mut rest = rest.to_string();
        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            url.force_query = true;
            rest.pop();
        } else if let Some((r, q)) = rest.clone().split_once('?') {
            rest = r.to_string();
            url.raw_query = q.to_string();
        }
        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                url.opaque = rest;
                url.fragment = frag.map(|f| f.to_string());
                return Ok(url);
            }
            let segment = rest.split('/').next().unwrap_or("");
            if segment.contains(':') {
                return Err("first path segment in URL cannot contain colon".into());
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let mut authority = rest[2..].to_string();
            rest = String::new();
            if let Some(i) = authority.find('/') {
                rest = authority[i..].to_string();
                authority.truncate(i);
            }
            let (userinfo, host) = match authority.rfind('@') {
                Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
                None => (None, authority.as_str()),
            };
            if host.starts_with('[') {
                let Some(i) = host.rfind(']') else {
                    return Err("missing ']' in host".into());
                };
                if !valid_optional_port(&host[i + 1..]) {
                    return Err("invalid port after host".into());
                }
            } else if let Some(i) = host.rfind(':') {
                if !valid_optional_port(&host[i..]) {
                    return Err(format!("invalid port {} after host", quote(&host[i..])));
                }
            }
            url.host = unescape(host).map_err(|()| "invalid URL escape".to_string())?;
            if let Some(ui) = userinfo {
                if !valid_userinfo(ui) {
                    return Err("net/url: invalid userinfo".into());
                }
                match ui.split_once(':') {
                    Some((user, pass)) => {
                        url.user = Some(unescape(user).map_err(|()| "invalid escape")?);
                        url.password = Some(unescape(pass).map_err(|()| "invalid escape")?);
                    }
                    None => url.user = Some(unescape(ui).map_err(|()| "invalid escape")?),
                }
            }
        }
        url.path = unescape(&rest).map_err(|()| "invalid URL escape".to_string())?;
        if let Some(f) = frag {
            url.fragment = Some(unescape(f).map_err(|()| "invalid URL escape".to_string())?);
        }
        Ok(url)
    }

    /// The URL as Go's `String()` prints it (approximately: the input
    /// with the scheme lower-cased).
    pub fn to_go_string(&self) -> String {
        self.render(false)
    }

    /// Go's `Redacted()`: the password replaced with `xxxxx`.
    pub fn redacted(&self) -> String {
        self.render(true)
    }

    fn render(&self, redact: bool) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    out.push_str("//");
                }
                if let Some(u) = &self.user {
                    out.push_str(u);
                    if let Some(p) = &self.password {
                        out.push(':');
                        out.push_str(if redact { "xxxxx" } else { p });
                    }
                    out.push('@');
                }
                out.push_str(&self.host);
            }
            if !self.path.is_empty() && !self.path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            out.push_str(&self.path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if let Some(f) = &self.fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }

    /// The host without the port.
    pub fn hostname(&self) -> &str {
        let h = self.host.as_str();
        if let Some(rest) = h.strip_prefix('[') {
            return rest.split(']').next().unwrap_or("");
        }
        match h.rfind(':') {
            Some(i) => &h[..i],
            None => h,
        }
    }

    /// The port, if any.
    pub fn port(&self) -> Option<&str> {
        let h = self.host.as_str();
        let after = match h.rfind(']') {
            Some(i) => &h[i + 1..],
            None => h,
        };
        after.rfind(':').map(|i| &after[i + 1..])
    }
}

/// Go's `filepath.Clean`.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// Go's `filepath.Join` of two elements.
pub fn join_path(dir: &str, file: &str) -> String {
    match (dir.is_empty(), file.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean_path(file),
        (false, true) => clean_path(dir),
        (false, false) => clean_path(&format!("{dir}/{file}")),
    }
}

/// Go's `filepath.Dir`.
pub fn dir_path(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean_path(&p[..=i]),
        None => ".".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("-2s"), Ok(-2_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(
            parse_duration("abc"),
            Err("time: invalid duration \"abc\"".into())
        );
        assert_eq!(
            parse_duration("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            parse_duration("5x"),
            Err("time: unknown unit \"x\" in duration \"5x\"".into())
        );
        assert_eq!(
            parse_duration(""),
            Err("time: invalid duration \"\"".into())
        );
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(10_000_000_000), "10s");
        assert_eq!(format_duration(90_000_000_000), "1m30s");
        assert_eq!(format_duration(120_000_000_000), "2m0s");
        assert_eq!(format_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(500_000_000), "500ms");
        assert_eq!(format_duration(1_500), "1.5µs");
        assert_eq!(format_duration(10), "10ns");
        assert_eq!(format_duration(-10_000_000_000), "-10s");
    }

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float_v(1.5), "1.5");
        assert_eq!(format_float_v(100000.0), "100000");
        assert_eq!(format_float_v(1e6), "1e+06");
        assert_eq!(format_float_v(0.0001), "0.0001");
        assert_eq!(format_float_v(0.00001), "1e-05");
        assert_eq!(format_float_f(120.0), "120.000000");
        assert_eq!(format_float_json(1.5), "1.5");
        assert_eq!(format_float_json(1e21), "1e+21");
        assert_eq!(format_float_json(1e-7), "1e-7");
    }

    #[test]
    fn quoting_like_go() {
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(quote("\u{0}"), "\"\\x00\"");
        assert_eq!(quote_list(&["a", "b"]), "[\"a\" \"b\"]");
    }

    #[test]
    fn urls_parse_like_go() {
        assert!(GoUrl::parse("nats://a:1").is_ok());
        assert!(GoUrl::parse("127.0.0.1:4222").is_err());
        assert!(GoUrl::parse("localhost:4222").is_ok()); // scheme "localhost"
        assert!(GoUrl::parse("nats://a:b:c").is_err());
        assert!(GoUrl::parse(":foo").is_err());
        let u = GoUrl::parse("NATS://u:p@h:4222/x").unwrap();
        assert_eq!(u.scheme, "nats");
        assert_eq!(u.user.as_deref(), Some("u"));
        assert_eq!(u.hostname(), "h");
        assert_eq!(u.port(), Some("4222"));
        assert_eq!(u.to_go_string(), "nats://u:p@h:4222/x");
        assert_eq!(u.redacted(), "nats://u:xxxxx@h:4222/x");
    }

    #[test]
    fn paths_like_go() {
        assert_eq!(join_path(".", "a.conf"), "a.conf");
        assert_eq!(join_path("/etc/nats", "../x.conf"), "/etc/x.conf");
        assert_eq!(join_path(".", "/abs/x.conf"), "abs/x.conf");
        assert_eq!(dir_path("conf/a.conf"), "conf");
        assert_eq!(dir_path("a.conf"), ".");
        assert_eq!(dir_path("/a.conf"), "/");
    }
}
