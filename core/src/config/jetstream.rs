//! The `jetstream` block. Canopy has no JetStream: the block is parsed and
//! checked like nats-server does, and recorded.

use super::context::{
    got_type, or_return, parse_duration_field, want_bool, want_int, want_str, want_string, Cx, Lt,
    P,
};
use super::gofmt::{parse_duration, quote, GoDuration};
use super::types::ServerConfig;
use super::value::{Kind, Value};
use super::Diagnostic;

/// `jetstream` settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JetStreamOpts {
    /// Whether JetStream is enabled by the file.
    pub enabled: bool,
    /// `strict` (false sets NoJetStreamStrict).
    pub strict: Option<bool>,
    /// `sync_interval` (`always` sets `sync_always`).
    pub sync_interval: GoDuration,
    /// `sync_interval: always`.
    pub sync_always: bool,
    /// `max_memory_store`.
    pub max_memory: Option<i64>,
    /// `max_file_store`.
    pub max_store: Option<i64>,
    /// `domain`.
    pub domain: String,
    /// `key` / `encryption_key`.
    pub key: String,
    /// `prev_key`.
    pub prev_key: String,
    /// `cipher` (`chachapoly` or `aes`).
    pub cipher: String,
    /// `extension_hint`.
    pub extension_hint: String,
    /// `unique_tag` (lower-cased).
    pub unique_tag: String,
    /// `limits` (as written).
    pub limits: Option<Value>,
    /// `tpm` (as written).
    pub tpm: Option<Value>,
    /// `max_outstanding_catchup`.
    pub max_catchup: i64,
    /// `max_buffered_size`.
    pub max_buffered_size: i64,
    /// `max_buffered_msgs`.
    pub max_buffered_msgs: i64,
    /// `request_queue_limit`.
    pub request_queue_limit: i64,
    /// `info_queue_limit`.
    pub info_queue_limit: i64,
    /// `meta_compact`.
    pub meta_compact: u64,
    /// `meta_compact_size`.
    pub meta_compact_size: u64,
    /// `meta_compact_sync`.
    pub meta_compact_sync: bool,
    /// `max_concurrent_io`.
    pub max_concurrent_io: i64,
}

/// Go's `%s` of a non-string value (`%!s(int64=5)`).
pub(crate) fn go_s(v: &Value) -> String {
    match &v.kind {
        Kind::String(s) => s.clone(),
        Kind::Bool(b) => format!("%!s(bool={b})"),
        Kind::Integer(i) => format!("%!s(int64={i})"),
        Kind::Float(_) => format!("%!s(float64={})", v.kind.go_v()),
        Kind::Datetime(_) | Kind::Array(_) | Kind::Map(_) => v.kind.go_v(),
    }
}

/// `getStorageSize`.
pub(crate) fn storage_size(v: &Value) -> Result<i64, String> {
    match &v.kind {
        Kind::Integer(n) => Ok(*n),
        Kind::String(s) => {
            if s.is_empty() {
                return Ok(0);
            }
            let (prefix, suffix) = s.split_at(s.len() - 1);
            let num: i64 = prefix.parse().map_err(|e: std::num::ParseIntError| {
                let why = if matches!(
                    e.kind(),
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
                ) {
                    "value out of range"
                } else {
                    "invalid syntax"
                };
                format!("strconv.ParseInt: parsing {}: {why}", quote(prefix))
            })?;
            let shift = match suffix {
                "K" => 10,
                "M" => 20,
                "G" => 30,
                "T" => 40,
                _ => return Err("sizes defined as strings must end in K, M, G, T".into()),
            };
            Ok(num.wrapping_shl(shift))
        }
        Kind::Bool(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) | Kind::Map(_) => {
            Err("must be int64 or string".into())
        }
    }
}

fn cipher(v: &Value) -> P<Result<String, Diagnostic>> {
    let s = want_str(v)?;
    Ok(match s.to_lowercase().as_str() {
        "chacha" | "chachapoly" => Ok("chachapoly".into()),
        "aes" => Ok("aes".into()),
        _ => Err(Diagnostic::plain(
            Some(&v.pos),
            format!("Unknown cipher type: {}", quote(s)),
        )),
    })
}

fn err(v: &Value, msg: impl Into<String>) -> P<Result<(), Diagnostic>> {
    Ok(Err(Diagnostic::plain(Some(&v.pos), msg)))
}

/// `Expected {what} for {key}, got {%v}`, at `tk`.
pub(crate) fn expected_for(tk: &Value, what: &str, key: &str) -> Diagnostic {
    Diagnostic::plain(
        Some(&tk.pos),
        format!("Expected {what} for {}, got {}", quote(key), tk.kind.go_v()),
    )
}

/// A `jetstream` value that is not a map: a bool, or `enabled` /
/// `disabled`. `Err`: the reason text. (A map enables JetStream unless it
/// says otherwise.)
pub(crate) fn jetstream_switch(v: &Value) -> Result<bool, String> {
    match &v.kind {
        Kind::Bool(b) => Ok(*b),
        Kind::String(s) => match s.to_lowercase().as_str() {
            "enabled" | "enable" => Ok(true),
            "disabled" | "disable" => Ok(false),
            _ => Err(format!(
                "Expected 'enabled' or 'disabled' for string value, got '{s}'"
            )),
        },
        Kind::Map(_) => Ok(true),
        Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) => Err(format!(
            "Expected map, bool or string to define JetStream, got {}",
            v.kind.go_type()
        )),
    }
}

/// `parseJetStream`: has no panic handler of its own, so a type error
/// lands on the top-level `jetstream` key.
pub(crate) fn parse_jetstream(
    cx: &mut Cx,
    v: &Value,
    o: &mut ServerConfig,
) -> P<Result<(), Diagnostic>> {
    let mut lt = Lt::default();
    let tk = lt.set(v);
    let Some(m) = tk.as_map() else {
        match jetstream_switch(tk) {
            Ok(b) => o.jetstream.enabled = b,
            Err(e) => return err(tk, e),
        }
        return Ok(Ok(()));
    };
    let mut do_enable = true;
    for (mk, mv) in m.iter() {
        let tk = lt.set(mv);
        let js = &mut o.jetstream;
        match mk.to_lowercase().as_str() {
            "strict" => match tk.as_bool() {
                Some(b) => js.strict = Some(b),
                None => {
                    return err(
                        tk,
                        format!(
                            "Expected 'true' or 'false' for bool value, got '{}'",
                            go_s(tk)
                        ),
                    )
                }
            },
            "store" | "store_dir" | "storedir" => {
                if !o.store_dir.is_empty() {
                    return err(tk, "Duplicate 'store_dir' configuration");
                }
                o.store_dir = want_string(tk)?;
            }
            "sync" | "sync_interval" => {
                if tk
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case("always"))
                {
                    js.sync_interval = 120_000_000_000;
                    js.sync_always = true;
                } else {
                    js.sync_interval = parse_duration_field(cx, mk, tk)?;
                }
            }
            lk @ ("max_memory_store"
            | "max_mem_store"
            | "max_mem"
            | "max_file_store"
            | "max_file"
            | "max_outstanding_catchup"
            | "max_buffered_size"
            | "meta_compact_size") => {
                let name = match lk {
                    "max_memory_store" | "max_mem_store" | "max_mem" => "max_mem_store",
                    "max_file_store" | "max_file" => "max_file_store",
                    other => other,
                };
                let size = match storage_size(tk) {
                    Ok(size) => size,
                    Err(e) => return err(tk, format!("{name} {e}")),
                };
                match name {
                    "max_mem_store" => js.max_memory = Some(size),
                    "max_file_store" => js.max_store = Some(size),
                    "max_outstanding_catchup" => js.max_catchup = size,
                    "max_buffered_size" => js.max_buffered_size = size,
                    _ => match u64::try_from(size) {
                        Ok(size) => js.meta_compact_size = size,
                        Err(_) => return Ok(Err(expected_for(tk, "an absolute size", mk))),
                    },
                }
            }
            "domain" => js.domain = want_string(tk)?,
            "enable" | "enabled" => do_enable = want_bool(tk)?,
            "key" | "ek" | "encryption_key" => js.key = want_string(tk)?,
            "prev_key" | "prev_ek" | "prev_encryption_key" => js.prev_key = want_string(tk)?,
            "cipher" => js.cipher = or_return!(cipher(tk)?),
            "extension_hint" => js.extension_hint = want_string(tk)?,
            "limits" => {
                or_return!(parse_limits(cx, tk)?);
                js.limits = Some(tk.clone());
            }
            "tpm" => {
                or_return!(parse_tpm(cx, tk)?);
                js.tpm = Some(tk.clone());
            }
            "unique_tag" => js.unique_tag = want_str(tk)?.trim().to_lowercase(),
            lk @ ("max_buffered_msgs" | "request_queue_limit" | "info_queue_limit") => {
                let Some(n) = tk.as_int() else {
                    return Ok(Err(expected_for(tk, "a parseable size", mk)));
                };
                match lk {
                    "max_buffered_msgs" => js.max_buffered_msgs = n,
                    "request_queue_limit" => js.request_queue_limit = n,
                    _ => js.info_queue_limit = n,
                }
            }
            "meta_compact" => match tk.as_int().map(u64::try_from) {
                Some(Ok(n)) => js.meta_compact = n,
                _ => return Ok(Err(expected_for(tk, "an absolute size", mk))),
            },
            "meta_compact_sync" => js.meta_compact_sync = want_bool(tk)?,
            "max_concurrent_io" => match tk.as_int() {
                Some(n) if (4..=8192).contains(&n) => js.max_concurrent_io = n,
                _ => {
                    return err(
                        tk,
                        format!(
                            "Expected an absolute size for {} between 4 and 8192, got {}",
                            quote(mk),
                            tk.kind.go_v()
                        ),
                    )
                }
            },
            _ => cx.unknown(tk, mk),
        }
    }
    o.jetstream.enabled = do_enable;
    Ok(Ok(()))
}

/// A map that `jetstream.limits` and `jetstream.tpm` require; each key
/// (lower-cased, as written) with its value goes to `key`.
fn js_sub_map(
    cx: &mut Cx,
    v: &Value,
    mut key: impl FnMut(&mut Cx, &str, &str, &Value) -> P<Result<(), Diagnostic>>,
) -> P<Result<(), Diagnostic>> {
    let Some(m) = v.as_map() else {
        return Ok(Err(got_type(v, "Expected a map to define JetStreamLimits")));
    };
    for (mk, mv) in m.iter() {
        or_return!(key(cx, &mk.to_lowercase(), mk, mv)?);
    }
    Ok(Ok(()))
}

/// A duration string whose parse error is recorded without a position.
fn duration_or_err(cx: &mut Cx, v: &Value) -> P<()> {
    if let Err(e) = parse_duration(want_str(v)?) {
        cx.err_plain(e);
    }
    Ok(())
}

fn parse_limits(cx: &mut Cx, v: &Value) -> P<Result<(), Diagnostic>> {
    js_sub_map(cx, v, |cx, lk, mk, mv| {
        match lk {
            "max_ack_pending" | "max_ha_assets" | "max_request_batch" => {
                want_int(mv)?;
            }
            "duplicate_window" => duration_or_err(cx, mv)?,
            "batch" => {
                let Some(b) = mv.as_map() else {
                    return Ok(Err(got_type(mv, "Expected a map to define batch limits")));
                };
                for (bk, bv) in b.iter() {
                    match bk.to_lowercase().as_str() {
                        "max_inflight_per_stream" | "max_inflight_total" | "max_msgs" => {
                            want_int(bv)?;
                        }
                        "timeout" => duration_or_err(cx, bv)?,
                        _ => cx.unknown(bv, bk),
                    }
                }
            }
            _ => cx.unknown(mv, mk),
        }
        Ok(Ok(()))
    })
}

fn parse_tpm(cx: &mut Cx, v: &Value) -> P<Result<(), Diagnostic>> {
    js_sub_map(cx, v, |cx, lk, mk, mv| {
        match lk {
            "keys_file" | "encryption_password" | "srk_password" => {
                want_str(mv)?;
            }
            "pcr" => {
                want_int(mv)?;
            }
            "cipher" => {
                or_return!(cipher(mv)?);
            }
            _ => cx.unknown(mv, mk),
        }
        Ok(Ok(()))
    })
}
