//! `websocket` and `mqtt` blocks.

use std::collections::BTreeMap;

use super::context::{
    parse_duration_field, parse_string_array, unsupported_type, want_bool, want_int, want_string,
    Cx,
};
use super::gofmt::{parse_duration, GoDuration};
use super::listener::listener_key;
use super::tls::TlsOpts;
use super::types::ServerConfig;
use super::value::{Kind, Value};

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
    cx.map_block(v, "Expected websocket to be a map", |cx, lt, gm| {
        let w = &mut o.websocket;
        for (mk, mv) in gm.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "advertise" => w.advertise = want_string(tk)?,
                "no_tls" => w.no_tls = want_bool(tk)?,
                "same_origin" => w.same_origin = want_bool(tk)?,
                "allowed_origins" | "allowed_origin" | "allow_origins" | "allow_origin"
                | "origins" | "origin" => {
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
                            cx.errors
                                .push(unsupported_type(tk, "error parsing handshake timeout"));
                            0
                        }
                    }
                }
                "compress" | "compression" => w.compression = want_bool(tk)?,
                "jwt_cookie" => w.jwt_cookie = want_string(tk)?,
                "user_cookie" => w.user_cookie = want_string(tk)?,
                "pass_cookie" => w.pass_cookie = want_string(tk)?,
                "token_cookie" => w.token_cookie = want_string(tk)?,
                "headers" => {
                    let Some(m) = tk.as_map() else {
                        cx.errors
                            .push(unsupported_type(tk, "error parsing headers"));
                        continue;
                    };
                    w.headers.clear();
                    for (key, val) in m.iter() {
                        let val = lt.set(val);
                        match val.as_str() {
                            Some(s) => {
                                w.headers.insert(key.to_string(), s.to_string());
                            }
                            None => cx.errors.push(unsupported_type(
                                val,
                                &format!("error parsing header key {key}"),
                            )),
                        }
                    }
                }
                "ping_interval" => w.ping_interval = parse_duration_field(cx, "ping_interval", tk)?,
                _ => listener_key(cx, mk, tk, w, true)?,
            }
        }
        Ok(Ok(()))
    });
}

/// `parseMQTT`.
pub(crate) fn parse_mqtt(cx: &mut Cx, v: &Value, o: &mut ServerConfig) {
    cx.map_block(v, "Expected mqtt to be a map", |cx, lt, gm| {
        let m = &mut o.mqtt;
        for (mk, mv) in gm.iter() {
            let tk = lt.set(mv);
            match mk.to_lowercase().as_str() {
                "ack_wait" | "ackwait" => m.ack_wait = parse_duration_field(cx, "ack_wait", tk)?,
                "js_api_timeout" | "api_timeout" => {
                    m.js_api_timeout = parse_duration_field(cx, "js_api_timeout", tk)?
                }
                "max_ack_pending" | "max_pending" | "max_inflight" => {
                    let n = want_int(tk)?;
                    match u16::try_from(n) {
                        Ok(n) => m.max_ack_pending = n,
                        Err(_) => cx.err(
                            &tk.pos,
                            format!("invalid value {n}, should in [0..65535] range"),
                        ),
                    }
                }
                "js_domain" => m.js_domain = want_string(tk)?,
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
                _ => listener_key(cx, mk, tk, m, true)?,
            }
        }
        Ok(Ok(()))
    });
}
