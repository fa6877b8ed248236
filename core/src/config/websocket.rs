//! `websocket` and `mqtt` blocks.

use std::collections::BTreeMap;

use super::auth::parse_simple_auth;
use super::gofmt::{parse_duration, GoDuration};
use super::process::{
    nil_deref, parse_duration_field, parse_listen, parse_string_array, want_bool, want_int,
    want_str, Cx, Lt, P,
};
use super::tls::{gen_tls_check, parse_tls, TlsOpts};
use super::types::ServerConfig;
use super::value::{Kind, Value};
use super::Diagnostic;

/// The `websocket` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebsocketOpts {
    /// Listen host.
    pub host: String,
    /// Listen port (0: no websocket listener).
    pub port: i64,
    /// `advertise`.
    pub advertise: String,
    /// `no_tls`.
    pub no_tls: bool,
    /// `tls`.
    pub tls: Option<TlsOpts>,
    /// `same_origin`.
    pub same_origin: bool,
    /// `allowed_origins`.
    pub allowed_origins: Vec<String>,
    /// `handshake_timeout`.
    pub handshake_timeout: GoDuration,
    /// `compression`.
    pub compression: bool,
    /// `authorization.user`.
    pub username: String,
    /// `authorization.password`.
    pub password: String,
    /// `authorization.token`.
    pub token: String,
    /// `authorization.timeout`.
    pub auth_timeout: f64,
    /// `jwt_cookie`.
    pub jwt_cookie: String,
    /// `user_cookie`.
    pub user_cookie: String,
    /// `pass_cookie`.
    pub pass_cookie: String,
    /// `token_cookie`.
    pub token_cookie: String,
    /// `no_auth_user`.
    pub no_auth_user: String,
    /// `headers`.
    pub headers: BTreeMap<String, String>,
    /// `ping_interval`.
    pub ping_interval: GoDuration,
}

/// The `mqtt` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MqttOpts {
    /// Listen host.
    pub host: String,
    /// Listen port (0: no MQTT listener).
    pub port: i64,
    /// `tls`.
    pub tls: Option<TlsOpts>,
    /// `authorization.user`.
    pub username: String,
    /// `authorization.password`.
    pub password: String,
    /// `authorization.token`.
    pub token: String,
    /// `authorization.timeout`.
    pub auth_timeout: f64,
    /// `no_auth_user`.
    pub no_auth_user: String,
    /// `ack_wait`.
    pub ack_wait: GoDuration,
    /// `js_api_timeout`.
    pub js_api_timeout: GoDuration,
    /// `max_ack_pending`.
    pub max_ack_pending: u16,
    /// `js_domain`.
    pub js_domain: String,
    /// `stream_replicas`.
    pub stream_replicas: i64,
    /// `consumer_memory_storage`.
    pub consumer_memory_storage: bool,
    /// `consumer_inactive_threshold`.
    pub consumer_inactive_threshold: GoDuration,
    /// `reject_qos2_publish`.
    pub reject_qos2_publish: bool,
    /// `downgrade_qos2_subscribe`.
    pub downgrade_qos2_subscribe: bool,
}

/// `parseWebsocket`.
pub(crate) fn parse_websocket(cx: &mut Cx, v: &Value, o: &mut ServerConfig) {
    let mut lt = Lt::default();
    let r = parse_websocket_inner(cx, v, o, &mut lt);
    if let Some(Err(e)) = cx.catch(&lt, r) {
        cx.errors.push(e);
    }
}

fn parse_websocket_inner(
    cx: &mut Cx,
    v: &Value,
    o: &mut ServerConfig,
    lt: &mut Lt,
) -> P<Result<(), Diagnostic>> {
    let tk = lt.set(v);
    let Some(gm) = tk.as_map() else {
        return Ok(Err(Diagnostic::plain(
            Some(&tk.pos),
            format!("Expected websocket to be a map, got {}", tk.kind.go_type()),
        )));
    };
    let w = &mut o.websocket;
    for (mk, mv) in gm.iter() {
        let tk = lt.set(mv);
        match mk.to_lowercase().as_str() {
            "listen" => match parse_listen(tk) {
                Ok((h, p)) => {
                    w.host = h;
                    w.port = p;
                }
                Err(e) => cx.err(&tk.pos, e),
            },
            "port" => w.port = want_int(tk)?,
            "host" | "net" => w.host = want_str(tk)?.to_string(),
            "advertise" => w.advertise = want_str(tk)?.to_string(),
            "no_tls" => w.no_tls = want_bool(tk)?,
            "tls" => match parse_tls(cx, tk, true) {
                Ok(tc) => {
                    if let Err(e) = gen_tls_check(cx, &tc) {
                        cx.err(&tk.pos, e);
                        continue;
                    }
                    w.tls = Some(tc);
                }
                Err(e) => cx.errors.push(e),
            },
            "same_origin" => w.same_origin = want_bool(tk)?,
            "allowed_origins" | "allowed_origin" | "allow_origins" | "allow_origin" | "origins"
            | "origin" => {
                w.allowed_origins =
                    parse_string_array(cx, "allowed origins", tk, lt, tk).unwrap_or_default();
            }
            "handshake_timeout" => {
                w.handshake_timeout = match &tk.kind {
                    Kind::Integer(n) => n.wrapping_mul(1_000_000_000),
                    Kind::String(s) => match parse_duration(s) {
                        Ok(d) => d,
                        Err(e) => {
                            cx.err(&tk.pos, e);
                            continue;
                        }
                    },
                    Kind::Bool(_)
                    | Kind::Float(_)
                    | Kind::Datetime(_)
                    | Kind::Array(_)
                    | Kind::Map(_) => {
                        cx.err(
                            &tk.pos,
                            format!(
                                "error parsing handshake timeout: unsupported type {}",
                                tk.kind.go_type()
                            ),
                        );
                        0
                    }
                }
            }
            "compress" | "compression" => w.compression = want_bool(tk)?,
            "authorization" | "authentication" => {
                let Some(auth) = parse_simple_auth(cx, tk) else {
                    return nil_deref();
                };
                w.username = auth.user;
                w.password = auth.pass;
                w.token = auth.token;
                w.auth_timeout = auth.timeout;
            }
            "jwt_cookie" => w.jwt_cookie = want_str(tk)?.to_string(),
            "user_cookie" => w.user_cookie = want_str(tk)?.to_string(),
            "pass_cookie" => w.pass_cookie = want_str(tk)?.to_string(),
            "token_cookie" => w.token_cookie = want_str(tk)?.to_string(),
            "no_auth_user" => w.no_auth_user = want_str(tk)?.to_string(),
            "headers" => {
                let Some(m) = tk.as_map() else {
                    cx.err(
                        &tk.pos,
                        format!(
                            "error parsing headers: unsupported type {}",
                            tk.kind.go_type()
                        ),
                    );
                    continue;
                };
                w.headers.clear();
                for (key, val) in m.iter() {
                    let val = lt.set(val);
                    match val.as_str() {
                        Some(s) => {
                            w.headers.insert(key.to_string(), s.to_string());
                        }
                        None => cx.err(
                            &val.pos,
                            format!(
                                "error parsing header key {key}: unsupported type {}",
                                val.kind.go_type()
                            ),
                        ),
                    }
                }
            }
            "ping_interval" => w.ping_interval = parse_duration_field(cx, "ping_interval", tk)?,
            _ => cx.unknown(tk, mk),
        }
    }
    Ok(Ok(()))
}

/// `parseMQTT`.
pub(crate) fn parse_mqtt(cx: &mut Cx, v: &Value, o: &mut ServerConfig) {
    let mut lt = Lt::default();
    let r = parse_mqtt_inner(cx, v, o, &mut lt);
    if let Some(Err(e)) = cx.catch(&lt, r) {
        cx.errors.push(e);
    }
}

fn parse_mqtt_inner(
    cx: &mut Cx,
    v: &Value,
    o: &mut ServerConfig,
    lt: &mut Lt,
) -> P<Result<(), Diagnostic>> {
    let tk = lt.set(v);
    let Some(gm) = tk.as_map() else {
        return Ok(Err(Diagnostic::plain(
            Some(&tk.pos),
            format!("Expected mqtt to be a map, got {}", tk.kind.go_type()),
        )));
    };
    let m = &mut o.mqtt;
    for (mk, mv) in gm.iter() {
        let tk = lt.set(mv);
        match mk.to_lowercase().as_str() {
            "listen" => match parse_listen(tk) {
                Ok((h, p)) => {
                    m.host = h;
                    m.port = p;
                }
                Err(e) => cx.err(&tk.pos, e),
            },
            "port" => m.port = want_int(tk)?,
            "host" | "net" => m.host = want_str(tk)?.to_string(),
            "tls" => match parse_tls(cx, tk, true) {
                Ok(tc) => {
                    if let Err(e) = gen_tls_check(cx, &tc) {
                        cx.err(&tk.pos, e);
                        continue;
                    }
                    m.tls = Some(tc);
                }
                Err(e) => cx.errors.push(e),
            },
            "authorization" | "authentication" => {
                let Some(auth) = parse_simple_auth(cx, tk) else {
                    return nil_deref();
                };
                m.username = auth.user;
                m.password = auth.pass;
                m.token = auth.token;
                m.auth_timeout = auth.timeout;
            }
            "no_auth_user" => m.no_auth_user = want_str(tk)?.to_string(),
            "ack_wait" | "ackwait" => m.ack_wait = parse_duration_field(cx, "ack_wait", tk)?,
            "js_api_timeout" | "api_timeout" => {
                m.js_api_timeout = parse_duration_field(cx, "js_api_timeout", tk)?
            }
            "max_ack_pending" | "max_pending" | "max_inflight" => {
                let n = want_int(tk)?;
                if !(0..=0xFFFF).contains(&n) {
                    cx.err(
                        &tk.pos,
                        format!("invalid value {n}, should in [0..65535] range"),
                    );
                } else {
                    m.max_ack_pending = n as u16;
                }
            }
            "js_domain" => m.js_domain = want_str(tk)?.to_string(),
            "stream_replicas" => m.stream_replicas = want_int(tk)?,
            "consumer_replicas" => cx.warn_use(
                &tk.pos,
                mk,
                "consumer replicas setting ignored in this server version",
            ),
            "consumer_memory_storage" => m.consumer_memory_storage = want_bool(tk)?,
            "consumer_inactive_threshold" | "consumer_auto_cleanup" => {
                m.consumer_inactive_threshold =
                    parse_duration_field(cx, "consumer_inactive_threshold", tk)?
            }
            "reject_qos2_publish" => m.reject_qos2_publish = want_bool(tk)?,
            "downgrade_qos2_subscribe" => m.downgrade_qos2_subscribe = want_bool(tk)?,
            _ => cx.unknown(tk, mk),
        }
    }
    Ok(Ok(()))
}
