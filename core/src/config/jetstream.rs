//! The `jetstream` block. Canopy has no JetStream: the block is parsed and
//! checked like nats-server does, and recorded.

use super::gofmt::{parse_duration, quote, GoDuration};
use super::process::{parse_duration_field, want_bool, want_int, want_str, Cx, Lt, P};
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

/// `parseJetStream`: has no panic handler of its own, so a type error
/// lands on the top-level `jetstream` key.
pub(crate) fn parse_jetstream(
    cx: &mut Cx,
    v: &Value,
    o: &mut ServerConfig,
) -> P<Result<(), Diagnostic>> {
    let mut lt = Lt::default();
    let tk = lt.set(v);
    match &tk.kind {
        Kind::Bool(b) => o.jetstream.enabled = *b,
        Kind::String(s) => match s.to_lowercase().as_str() {
            "enabled" | "enable" => o.jetstream.enabled = true,
            "disabled" | "disable" => o.jetstream.enabled = false,
            _ => {
                return err(
                    tk,
                    format!("Expected 'enabled' or 'disabled' for string value, got '{s}'"),
                )
            }
        },
        Kind::Map(m) => {
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
                        o.store_dir = want_str(tk)?.to_string();
                    }
                    "sync" | "sync_interval" => {
                        if tk
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case("always"))
                        {
                            js.sync_interval = 120_000_000_000;
                            js.sync_always = true;
                        } else {
                            let d = parse_duration_field(cx, mk, tk)?;
                            o.jetstream.sync_interval = d;
                        }
                    }
                    "max_memory_store" | "max_mem_store" | "max_mem" => match storage_size(tk) {
                        Ok(s) => js.max_memory = Some(s),
                        Err(e) => return err(tk, format!("max_mem_store {e}")),
                    },
                    "max_file_store" | "max_file" => match storage_size(tk) {
                        Ok(s) => js.max_store = Some(s),
                        Err(e) => return err(tk, format!("max_file_store {e}")),
                    },
                    "domain" => js.domain = want_str(tk)?.to_string(),
                    "enable" | "enabled" => do_enable = want_bool(tk)?,
                    "key" | "ek" | "encryption_key" => js.key = want_str(tk)?.to_string(),
                    "prev_key" | "prev_ek" | "prev_encryption_key" => {
                        js.prev_key = want_str(tk)?.to_string()
                    }
                    "cipher" => match cipher(tk)? {
                        Ok(c) => js.cipher = c,
                        Err(e) => return Ok(Err(e)),
                    },
                    "extension_hint" => js.extension_hint = want_str(tk)?.to_string(),
                    "limits" => {
                        if let Err(e) = parse_limits(cx, tk)? {
                            return Ok(Err(e));
                        }
                        o.jetstream.limits = Some(tk.clone());
                    }
                    "tpm" => {
                        if let Err(e) = parse_tpm(cx, tk)? {
                            return Ok(Err(e));
                        }
                        o.jetstream.tpm = Some(tk.clone());
                    }
                    "unique_tag" => js.unique_tag = want_str(tk)?.trim().to_lowercase(),
                    "max_outstanding_catchup" | "max_buffered_size" | "meta_compact_size" => {
                        let lk = mk.to_lowercase();
                        let s = match storage_size(tk) {
                            Ok(s) => s,
                            Err(e) => return err(tk, format!("{lk} {e}")),
                        };
                        match lk.as_str() {
                            "max_outstanding_catchup" => js.max_catchup = s,
                            "max_buffered_size" => js.max_buffered_size = s,
                            _ => {
                                if s < 0 {
                                    return err(
                                        tk,
                                        format!(
                                            "Expected an absolute size for {}, got {}",
                                            quote(mk),
                                            tk.kind.go_v()
                                        ),
                                    );
                                }
                                js.meta_compact_size = s as u64;
                            }
                        }
                    }
                    "max_buffered_msgs" | "request_queue_limit" | "info_queue_limit" => {
                        let Some(n) = tk.as_int() else {
                            return err(
                                tk,
                                format!(
                                    "Expected a parseable size for {}, got {}",
                                    quote(mk),
                                    tk.kind.go_v()
                                ),
                            );
                        };
                        match mk.to_lowercase().as_str() {
                            "max_buffered_msgs" => js.max_buffered_msgs = n,
                            "request_queue_limit" => js.request_queue_limit = n,
                            _ => js.info_queue_limit = n,
                        }
                    }
                    "meta_compact" => match tk.as_int() {
                        Some(n) if n >= 0 => js.meta_compact = n as u64,
                        _ => {
                            return err(
                                tk,
                                format!(
                                    "Expected an absolute size for {}, got {}",
                                    quote(mk),
                                    tk.kind.go_v()
                                ),
                            )
                        }
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
        }
        Kind::Integer(_) | Kind::Float(_) | Kind::Datetime(_) | Kind::Array(_) => {
            return err(
                tk,
                format!(
                    "Expected map, bool or string to define JetStream, got {}",
                    tk.kind.go_type()
                ),
            )
        }
    }
    Ok(Ok(()))
}

fn parse_limits(cx: &mut Cx, v: &Value) -> P<Result<(), Diagnostic>> {
    let Some(m) = v.as_map() else {
        return err(
            v,
            format!(
                "Expected a map to define JetStreamLimits, got {}",
                v.kind.go_type()
            ),
        );
    };
    for (mk, mv) in m.iter() {
        match mk.to_lowercase().as_str() {
            "max_ack_pending" | "max_ha_assets" | "max_request_batch" => {
                want_int(mv)?;
            }
            "duplicate_window" => {
                if let Err(e) = parse_duration(want_str(mv)?) {
                    cx.err_plain(e);
                }
            }
            "batch" => {
                let Some(b) = mv.as_map() else {
                    return err(
                        mv,
                        format!(
                            "Expected a map to define batch limits, got {}",
                            mv.kind.go_type()
                        ),
                    );
                };
                for (bk, bv) in b.iter() {
                    match bk.to_lowercase().as_str() {
                        "max_inflight_per_stream" | "max_inflight_total" | "max_msgs" => {
                            want_int(bv)?;
                        }
                        "timeout" => {
                            if let Err(e) = parse_duration(want_str(bv)?) {
                                cx.err_plain(e);
                            }
                        }
                        _ => cx.unknown(bv, bk),
                    }
                }
            }
            _ => cx.unknown(mv, mk),
        }
    }
    Ok(Ok(()))
}

fn parse_tpm(cx: &mut Cx, v: &Value) -> P<Result<(), Diagnostic>> {
    let Some(m) = v.as_map() else {
        return err(
            v,
            format!(
                "Expected a map to define JetStreamLimits, got {}",
                v.kind.go_type()
            ),
        );
    };
    for (mk, mv) in m.iter() {
        match mk.to_lowercase().as_str() {
            "keys_file" | "encryption_password" | "srk_password" => {
                want_str(mv)?;
            }
            "pcr" => {
                want_int(mv)?;
            }
            "cipher" => {
                if let Err(e) = cipher(mv)? {
                    return Ok(Err(e));
                }
            }
            _ => cx.unknown(mv, mk),
        }
    }
    Ok(Ok(()))
}
