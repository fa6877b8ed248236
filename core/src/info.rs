//! The INFO the server sends and the CONNECT a client sends.
//!
//! INFO is written by hand in nats-server's field order (the Go struct's),
//! with fields omitted when empty as Go's `omitempty` does, so a byte diff
//! against the reference stays small.

use serde::Deserialize;
use std::fmt::Write as _;

/// Fields of the INFO line that are the same for every client.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// Server id (nkey-style `N...`).
    pub server_id: String,
    /// Server name (defaults to the id).
    pub server_name: String,
    /// Protocol-compatibility version reported to clients.
    pub version: String,
    /// Build identifier.
    pub git_commit: String,
    /// Toolchain identifier (the `go` field).
    pub toolchain: String,
    /// Client listen host.
    pub host: String,
    /// Client listen port.
    pub port: u16,
    /// Whether headers are supported.
    pub headers: bool,
    /// Whether any client authentication is configured (nats-server's
    /// `auth_required`; see `no_auth_user` for the INFO on accept).
    pub auth_required: bool,
    /// Whether `no_auth_user` is set: a client may then go without
    /// credentials, and the INFO sent on accept leaves `auth_required`
    /// out (every later INFO has it, as nats-server's do).
    pub no_auth_user: bool,
    /// Effective max payload.
    pub max_payload: usize,
    /// Cluster client URLs (empty until a route registers).
    pub connect_urls: Vec<String>,
    /// Cluster name, when clustered: configured, generated, or adopted from
    /// a peer (the one place the engine keeps it).
    pub cluster: String,
    /// Whether the cluster name was generated.
    pub cluster_dynamic: bool,
    /// Curve key (`xkey`).
    pub xkey: String,
}

/// Per-connection additions to INFO.
#[derive(Clone, Debug, Default)]
pub struct ClientInfoExtra<'a> {
    /// `client_id`.
    pub client_id: u64,
    /// `client_ip`.
    pub client_ip: &'a str,
    /// `nonce`, when nkey auth is configured.
    pub nonce: Option<&'a str>,
    /// Set on the INFO that follows the first PONG.
    pub connect_info: bool,
    /// The bound account, with `connect_info`.
    pub remote_account: Option<&'a str>,
    /// Lame-duck mode notice.
    pub ldm: bool,
    /// The INFO sent on accept.
    pub on_accept: bool,
}

impl ServerInfo {
    /// Whether a client must send CONNECT (with credentials) first.
    pub fn clients_must_authenticate(&self) -> bool {
        self.auth_required && !self.no_auth_user
    }

    /// Writes `INFO {...} \r\n` (with nats-server's space before CRLF) to `out`.
    pub fn write_client_info(&self, extra: &ClientInfoExtra<'_>, out: &mut String) {
        out.push_str("INFO {");
        push_str_field(out, "server_id", &self.server_id, true);
        push_str_field(out, "server_name", &self.server_name, false);
        push_str_field(out, "version", &self.version, false);
        let _ = write!(out, ",\"proto\":1");
        push_str_field(out, "git_commit", &self.git_commit, false);
        push_str_field(out, "go", &self.toolchain, false);
        push_str_field(out, "host", &self.host, false);
        let _ = write!(out, ",\"port\":{}", self.port);
        let _ = write!(out, ",\"headers\":{}", self.headers);
        if self.auth_required && !(extra.on_accept && self.no_auth_user) {
            out.push_str(",\"auth_required\":true");
        }
        let _ = write!(out, ",\"max_payload\":{}", self.max_payload);
        if extra.client_id != 0 {
            let _ = write!(out, ",\"client_id\":{}", extra.client_id);
        }
        if !extra.client_ip.is_empty() {
            push_str_field(out, "client_ip", extra.client_ip, false);
        }
        if let Some(nonce) = extra.nonce {
            push_str_field(out, "nonce", nonce, false);
        }
        if !self.cluster.is_empty() {
            push_str_field(out, "cluster", &self.cluster, false);
            if self.cluster_dynamic {
                out.push_str(",\"cluster_dynamic\":true");
            }
        }
        push_url_list(out, "connect_urls", &self.connect_urls);
        if extra.ldm {
            out.push_str(",\"ldm\":true");
        }
        if extra.connect_info {
            out.push_str(",\"connect_info\":true");
        }
        if let Some(acc) = extra.remote_account {
            push_str_field(out, "remote_account", acc, false);
        }
        out.push_str(",\"api_lvl\":5");
        if !self.xkey.is_empty() {
            push_str_field(out, "xkey", &self.xkey, false);
        }
        out.push_str("} \r\n");
    }
}

/// `,"key":["a","b"]`, or nothing for an empty list (Go's `omitempty`).
pub(crate) fn push_url_list(out: &mut String, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":[");
    for (i, u) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, u);
    }
    out.push(']');
}

fn push_str_field(out: &mut String, key: &str, value: &str, first: bool) {
    if !first {
        out.push(',');
    }
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
    push_json_string(out, value);
}

/// Appends `s` as a JSON string literal, escaped as Go's `encoding/json`
/// does by default: HTML-safe (`<`, `>`, `&`), and U+2028/U+2029.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go 1.22+ writes these two as short escapes too.
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The options a client sends in CONNECT. Missing keys take nats-server's
/// defaults: verbose, pedantic and echo on.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ConnectOptions {
    /// `+OK` after every accepted op.
    pub verbose: bool,
    /// Strict subject checks on PUB.
    pub pedantic: bool,
    /// Client asks for TLS.
    pub tls_required: bool,
    /// Token.
    pub auth_token: Option<String>,
    /// User name.
    pub user: Option<String>,
    /// Password.
    pub pass: Option<String>,
    /// Client name.
    pub name: Option<String>,
    /// Client library language.
    pub lang: Option<String>,
    /// Client library version.
    pub version: Option<String>,
    /// Protocol level (0 or 1).
    pub protocol: i64,
    /// Receive own publishes.
    pub echo: bool,
    /// Nonce signature (nkeys).
    pub sig: Option<String>,
    /// User JWT.
    pub jwt: Option<String>,
    /// NKey public key.
    pub nkey: Option<String>,
    /// Header support.
    pub headers: bool,
    /// No-responders status messages.
    pub no_responders: bool,
    /// Account requested (always refused).
    pub account: Option<String>,
    /// New account requested (always refused).
    pub new_account: Option<bool>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            verbose: true,
            pedantic: true,
            tls_required: false,
            auth_token: None,
            user: None,
            pass: None,
            name: None,
            lang: None,
            version: None,
            protocol: 0,
            echo: true,
            sig: None,
            jwt: None,
            nkey: None,
            headers: false,
            no_responders: false,
            account: None,
            new_account: None,
        }
    }
}

impl ConnectOptions {
    /// Overlays the CONNECT JSON on `self` (a second CONNECT overlays the
    /// first, as nats-server does). Returns `None` for malformed JSON.
    pub fn overlay(&self, json: &[u8]) -> Option<ConnectOptions> {
        let value: serde_json::Value = serde_json::from_slice(json).ok()?;
        let obj = value.as_object()?;
        let mut base = serde_json::to_value(SerializableConnect::from(self)).ok()?;
        let base_obj = base.as_object_mut()?;
        for (k, v) in obj {
            base_obj.insert(k.clone(), v.clone());
        }
        serde_json::from_value(base).ok()
    }
}

/// Mirror used to re-serialise the current options for overlaying.
#[derive(serde::Serialize)]
struct SerializableConnect<'a> {
    verbose: bool,
    pedantic: bool,
    tls_required: bool,
    auth_token: &'a Option<String>,
    user: &'a Option<String>,
    pass: &'a Option<String>,
    name: &'a Option<String>,
    lang: &'a Option<String>,
    version: &'a Option<String>,
    protocol: i64,
    echo: bool,
    sig: &'a Option<String>,
    jwt: &'a Option<String>,
    nkey: &'a Option<String>,
    headers: bool,
    no_responders: bool,
    account: &'a Option<String>,
    new_account: &'a Option<bool>,
}

impl<'a> From<&'a ConnectOptions> for SerializableConnect<'a> {
    fn from(c: &'a ConnectOptions) -> Self {
        SerializableConnect {
            verbose: c.verbose,
            pedantic: c.pedantic,
            tls_required: c.tls_required,
            auth_token: &c.auth_token,
            user: &c.user,
            pass: &c.pass,
            name: &c.name,
            lang: &c.lang,
            version: &c.version,
            protocol: c.protocol,
            echo: c.echo,
            sig: &c.sig,
            jwt: &c.jwt,
            nkey: &c.nkey,
            headers: c.headers,
            no_responders: c.no_responders,
            account: &c.account,
            new_account: &c.new_account,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_defaults_are_verbose_pedantic_echo() {
        let c = ConnectOptions::default().overlay(b"{}").unwrap();
        assert!(c.verbose && c.pedantic && c.echo);
        assert!(!c.headers);
        let c = c.overlay(br#"{"verbose":false,"headers":true}"#).unwrap();
        assert!(!c.verbose && c.pedantic && c.headers);
        let c = c.overlay(br#"{"echo":false}"#).unwrap();
        assert!(!c.verbose && !c.echo && c.headers);
    }

    #[test]
    fn malformed_connect_is_none() {
        assert!(ConnectOptions::default().overlay(b"{").is_none());
        assert!(ConnectOptions::default().overlay(b"[]").is_none());
        assert!(ConnectOptions::default()
            .overlay(br#"{"verbose":"yes"}"#)
            .is_none());
    }

    #[test]
    fn info_has_space_before_crlf_and_fields() {
        let info = ServerInfo {
            server_id: "NABC".into(),
            server_name: "n1".into(),
            version: "2.15.1".into(),
            git_commit: "abc".into(),
            toolchain: "rust".into(),
            host: "127.0.0.1".into(),
            port: 4222,
            headers: true,
            auth_required: false,
            no_auth_user: false,
            max_payload: 1024,
            connect_urls: vec![],
            cluster: String::new(),
            cluster_dynamic: false,
            xkey: String::new(),
        };
        let mut s = String::new();
        info.write_client_info(
            &ClientInfoExtra {
                client_id: 5,
                client_ip: "127.0.0.1",
                ..Default::default()
            },
            &mut s,
        );
        assert!(s.starts_with("INFO {\"server_id\":\"NABC\""));
        assert!(s.ends_with("} \r\n"));
        let json: serde_json::Value = serde_json::from_str(&s[5..s.len() - 3]).unwrap();
        assert_eq!(json["proto"], 1);
        assert_eq!(json["max_payload"], 1024);
        assert_eq!(json["client_id"], 5);
        assert_eq!(json["headers"], true);
    }
}
