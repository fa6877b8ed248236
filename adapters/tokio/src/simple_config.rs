//! A stand-in reader for the few config keys the engine has today, until
//! the full nats-server config parser lands in core (issue 3). It reads
//! `key: value`, `key = value` and `key value` lines, `#`/`//` comments and
//! one level of `authorization { ... }`; anything else is refused loudly.

use canopy_core::{ClientAuth, Options};
use std::time::Duration;

/// Settings read from the file that the binary (not the engine) uses.
#[derive(Debug, Default)]
pub struct FileSettings {
    /// `port` (may be -1).
    pub port: Option<i32>,
}

/// Applies the config text to `options`.
pub fn apply(text: &str, options: &mut Options) -> Result<FileSettings, String> {
    let mut settings = FileSettings::default();
    let mut block: Option<String> = None;
    let (mut user, mut pass, mut token) = (None, None, None);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let line = line
            .split("//")
            .next()
            .unwrap_or("")
            .trim()
            .trim_end_matches([';', ',']);
        if line.is_empty() {
            continue;
        }
        if line == "}" {
            block = None;
            continue;
        }
        let (key, value) =
            split_kv(line).ok_or_else(|| format!("line {}: cannot parse {line:?}", n + 1))?;
        let key = key.to_ascii_lowercase();
        if value == "{" {
            if key != "authorization" || block.is_some() {
                return Err(format!(
                    "line {}: block {key:?} is not supported yet",
                    n + 1
                ));
            }
            block = Some(key);
            continue;
        }
        let value = unquote(value);
        let at = |e: String| format!("line {}: {e}", n + 1);
        match (block.as_deref(), key.as_str()) {
            (Some(_), "user" | "username") => user = Some(value.to_string()),
            (Some(_), "pass" | "password") => pass = Some(value.to_string()),
            (Some(_), "token") => token = Some(value.to_string()),
            (Some(_), "timeout") => options.auth_timeout = duration(value).map_err(at)?,
            (None, "port") => {
                settings.port = Some(
                    value
                        .parse()
                        .map_err(|_| at(format!("bad port {value:?}")))?,
                )
            }
            (None, "host" | "net") => options.host = value.to_string(),
            (None, "server_name") => options.server_name = value.to_string(),
            (None, "max_payload") => options.max_payload = size(value).map_err(at)?,
            (None, "max_pending") => options.max_pending = size(value).map_err(at)?,
            (None, "max_control_line") => options.max_control_line = size(value).map_err(at)?,
            (None, "max_subscriptions" | "max_subs") => {
                options.max_subscriptions = size(value).map_err(at)?
            }
            (None, "max_connections" | "max_conn") => {
                let n = size(value).map_err(at)?;
                options.max_connections = if n == 0 { None } else { Some(n) };
            }
            (None, "ping_interval") => options.ping_interval = duration(value).map_err(at)?,
            (None, "ping_max") => options.ping_max = size(value).map_err(at)? as u32,
            (None, "write_deadline") => options.write_deadline = duration(value).map_err(at)?,
            (None, "lame_duck_duration") => {
                options.lame_duck_duration = duration(value).map_err(at)?
            }
            (None, "lame_duck_grace_period") => {
                options.lame_duck_grace_period = duration(value).map_err(at)?
            }
            (None, "debug" | "trace" | "logtime") => {}
            (_, other) => return Err(format!("line {}: unknown field {other:?}", n + 1)),
        }
    }
    if let Some(token) = token {
        options.auth = ClientAuth::Token(token);
    } else if let (Some(user), Some(password)) = (user, pass) {
        options.auth = ClientAuth::UserPassword { user, password };
    }
    Ok(settings)
}

fn split_kv(line: &str) -> Option<(&str, &str)> {
    let idx = line.find([':', '=', ' ', '\t', '{'])?;
    let key = line[..idx].trim();
    let rest = line[idx..].trim_start_matches([':', '=', ' ', '\t']).trim();
    let rest = if rest.is_empty() && line[idx..].starts_with('{') {
        "{"
    } else {
        rest
    };
    Some((key, rest))
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(v)
}

fn size(v: &str) -> Result<usize, String> {
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = v[digits.len()..].to_ascii_lowercase();
    let n: usize = digits.parse().map_err(|_| format!("bad number {v:?}"))?;
    let mult: usize = match suffix.as_str() {
        "" => 1,
        "k" => 1000,
        "kb" | "ki" | "kib" => 1024,
        "m" => 1_000_000,
        "mb" | "mi" | "mib" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" | "gi" | "gib" => 1 << 30,
        _ => return Err(format!("bad size suffix in {v:?}")),
    };
    Ok(n * mult)
}

fn duration(v: &str) -> Result<Duration, String> {
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(Duration::from_secs_f64(secs.max(0.0)));
    }
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("time: invalid duration {v:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("time: invalid duration {v:?}")),
    };
    Ok(Duration::from_secs_f64(secs.max(0.0)))
}
