//! The INFO the server sends and the CONNECT a client sends.
//!
//! INFO is written by hand in nats-server's field order (the Go struct's),
//! with fields omitted when empty as Go's `omitempty` does, so a byte diff
//! against the reference stays small.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
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
    /// The client port's TLS as INFO tells it.
    pub tls: ClientTlsInfo,
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

/// The client port's TLS in INFO: `tls_required`, `tls_verify`,
/// `tls_available`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientTlsInfo {
    /// TLS is required (configured, without `allow_non_tls`).
    pub required: bool,
    /// Clients must present a certificate.
    pub verify: bool,
    /// TLS is offered but optional (`allow_non_tls`).
    pub available: bool,
}

impl ClientTlsInfo {
    /// What the options say.
    pub fn of(options: &crate::Options) -> Self {
        match &options.tls {
            None => ClientTlsInfo::default(),
            Some(t) => ClientTlsInfo {
                required: !options.allow_non_tls,
                verify: t.verify,
                available: options.allow_non_tls,
            },
        }
    }
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
    /// A client of the websocket port: the INFO names that port (its
    /// host, port and TLS) and no client URLs, as nats-server's.
    pub websocket: Option<WebsocketListen<'a>>,
}

/// The websocket listener a websocket client's INFO names.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebsocketListen<'a> {
    /// Listen host.
    pub host: &'a str,
    /// Listen port.
    pub port: u16,
    /// TLS on the port (`tls_required` and `tls_available`).
    pub tls: bool,
    /// The block has its own authorization: `auth_required` whatever
    /// the server's.
    pub auth: bool,
}

impl<'a> WebsocketListen<'a> {
    /// The listener of `options.websocket`, if any.
    pub fn of(options: &'a crate::Options) -> Option<Self> {
        let w = options.websocket.as_ref()?;
        Some(WebsocketListen {
            host: &w.host,
            port: w.port,
            tls: w.tls.is_some(),
            auth: w.credentials.is_some() || w.token.is_some() || !w.no_auth_user.is_empty(),
        })
    }
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
        let (host, port, tls_required, tls_available) = match extra.websocket {
            Some(w) => (w.host, w.port, w.tls, w.tls),
            None => (
                self.host.as_str(),
                self.port,
                self.tls.required,
                self.tls.available,
            ),
        };
        push_str_field(out, "host", host, false);
        let _ = write!(out, ",\"port\":{port}");
        let _ = write!(out, ",\"headers\":{}", self.headers);
        let ws_auth = extra.websocket.is_some_and(|w| w.auth);
        if (self.auth_required || ws_auth) && !(extra.on_accept && self.no_auth_user) {
            out.push_str(",\"auth_required\":true");
        }
        if tls_required {
            out.push_str(",\"tls_required\":true");
        }
        if self.tls.verify {
            out.push_str(",\"tls_verify\":true");
        }
        if tls_available {
            out.push_str(",\"tls_available\":true");
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
        if extra.websocket.is_none() {
            push_url_list(out, "connect_urls", &self.connect_urls);
        }
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
/// defaults: verbose, pedantic and echo on. As in nats-server's Go struct,
/// an empty string or a `false` `new_account` is the same as none.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// The deepest nesting nats-server's JSON decoder takes (Go's
/// `encoding/json` limit): a CONNECT nested deeper is refused.
pub const MAX_JSON_DEPTH: usize = 10_000;

impl ConnectOptions {
    /// Overlays the CONNECT JSON on `self` (a second CONNECT overlays the
    /// first, as nats-server does). Returns `None` where nats-server's Go
    /// decoder fails: malformed JSON, nesting deeper than
    /// [`MAX_JSON_DEPTH`], a known key with a value of the wrong type, or
    /// anything but an object or `null` at the top.
    ///
    /// Decoded as Go decodes into nats-server's struct: keys match their
    /// field case-insensitively (Unicode simple folding), the last of
    /// repeated keys wins, `null` leaves a field as it was, strings with
    /// invalid UTF-8 or lone surrogates get U+FFFD, unknown keys are
    /// skipped whatever their value. Nothing recurses on the input's
    /// nesting (unknown values are skipped by serde_json's iterative
    /// skipper), so no input can exhaust the stack.
    pub fn overlay(&self, json: &[u8]) -> Option<ConnectOptions> {
        if nesting_exceeds(json, MAX_JSON_DEPTH) {
            return None;
        }
        let mut next = self.clone();
        let mut de = serde_json::Deserializer::from_slice(json);
        Overlay(&mut next).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(next)
    }
}

/// Whether `json` nests arrays and objects deeper than `max` (outside
/// strings; a scan, so that malformed input is harmless).
fn nesting_exceeds(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                (false, _) => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Decodes one CONNECT object onto the options it holds.
struct Overlay<'a>(&'a mut ConnectOptions);

impl<'de> DeserializeSeed<'de> for Overlay<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Overlay<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a CONNECT object")
    }

    /// `CONNECT null`: Go leaves the struct as it was.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let o = self.0;
        while let Some(key) = map.next_key::<GoString>()? {
            match fold(&key.0).as_str() {
                "verbose" => set(&mut o.verbose, map.next_value()?),
                "pedantic" => set(&mut o.pedantic, map.next_value()?),
                "tls_required" => set(&mut o.tls_required, map.next_value()?),
                "echo" => set(&mut o.echo, map.next_value()?),
                "headers" => set(&mut o.headers, map.next_value()?),
                "no_responders" => set(&mut o.no_responders, map.next_value()?),
                "protocol" => set(&mut o.protocol, map.next_value()?),
                "new_account" => {
                    if let Some(b) = map.next_value::<Option<bool>>()? {
                        o.new_account = b.then_some(true);
                    }
                }
                "auth_token" => set_str(&mut o.auth_token, map.next_value()?),
                "user" => set_str(&mut o.user, map.next_value()?),
                "pass" => set_str(&mut o.pass, map.next_value()?),
                "name" => set_str(&mut o.name, map.next_value()?),
                "lang" => set_str(&mut o.lang, map.next_value()?),
                "version" => set_str(&mut o.version, map.next_value()?),
                "sig" => set_str(&mut o.sig, map.next_value()?),
                "jwt" => set_str(&mut o.jwt, map.next_value()?),
                "nkey" => set_str(&mut o.nkey, map.next_value()?),
                "account" => set_str(&mut o.account, map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A JSON `null` leaves the field alone; a value replaces it.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// As [`set`], an empty string being no string (Go cannot tell them apart).
fn set_str(field: &mut Option<String>, value: Option<GoString>) {
    if let Some(GoString(s)) = value {
        *field = (!s.is_empty()).then_some(s);
    }
}

/// A key as Go's decoder compares it with a field name: ASCII letters in
/// lower case, and the two non-ASCII letters that fold onto ASCII ones
/// (`ſ` onto `s`, the Kelvin sign onto `k`).
fn fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A JSON string decoded as Go decodes it (see [`go_string`]).
struct GoString(String);

impl<'de> de::Deserialize<'de> for GoString {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_bytes(GoStringVisitor)
    }
}

struct GoStringVisitor;

impl Visitor<'_> for GoStringVisitor {
    type Value = GoString;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<GoString, E> {
        Ok(GoString(go_string(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoString, E> {
        Ok(GoString(v.to_string()))
    }
}

/// The bytes of a JSON string (escapes resolved, as serde_json hands them
/// over without checking UTF-8) as Go's decoder makes a string of them:
/// each byte that is not part of valid UTF-8 becomes U+FFFD, and so does
/// a lone surrogate escape (which arrives as the three bytes of its WTF-8
/// form).
fn go_string(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{fffd}');
                let surrogate = matches!(rest, [0xed, 0xa0..=0xbf, 0x80..=0xbf, ..]);
                bytes = &rest[if surrogate { 3 } else { 1 }..];
            }
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

    /// `{"x":` then `depth - 1` nested arrays: `depth` levels in all.
    fn nested(depth: usize) -> Vec<u8> {
        let inner = depth - 1;
        let mut j = b"{\"x\":".to_vec();
        j.extend(std::iter::repeat_n(b'[', inner));
        j.extend(std::iter::repeat_n(b']', inner));
        j.extend_from_slice(b",\"verbose\":false}");
        j
    }

    /// nats-server 2.15.1 takes a CONNECT nested 10,000 levels deep and
    /// refuses 10,001 (Go's decoder limit); nothing deeper can exhaust
    /// the stack, on a test thread's small stack too.
    #[test]
    fn deep_connect_to_go_limit_and_no_further() {
        let base = ConnectOptions::default();
        for depth in [2, 129, 2_000, MAX_JSON_DEPTH] {
            let c = base.overlay(&nested(depth));
            assert!(c.is_some_and(|c| !c.verbose), "{depth} levels");
        }
        for depth in [MAX_JSON_DEPTH + 1, 100_000, 1_000_000] {
            assert_eq!(base.overlay(&nested(depth)), None, "{depth} levels");
        }
        let mut objects = Vec::new();
        for _ in 0..MAX_JSON_DEPTH - 1 {
            objects.extend_from_slice(b"{\"a\":");
        }
        objects.push(b'1');
        objects.extend(std::iter::repeat_n(b'}', MAX_JSON_DEPTH - 1));
        let mut json = b"{\"x\":".to_vec();
        json.extend_from_slice(&objects);
        json.push(b'}');
        assert!(base.overlay(&json).is_some(), "objects, 10,000 levels");
        // Brackets in strings do not count; a deep known value is a type
        // error, not a walk.
        let s = format!("{{\"name\":\"{}\"}}", "[".repeat(20_000));
        assert!(base.overlay(s.as_bytes()).is_some());
        let mut v = b"{\"verbose\":".to_vec();
        v.extend(std::iter::repeat_n(b'[', 9_000));
        v.extend(std::iter::repeat_n(b']', 9_000));
        v.push(b'}');
        assert_eq!(base.overlay(&v), None);
        // Malformed, unbalanced and truncated nesting: refused, no panic.
        for bad in [&b"[[[[["[..], b"]]]]", b"{\"x\":[[[}", br#"{"x":"\"}"#] {
            assert_eq!(base.overlay(bad), None);
        }
    }

    /// Where nats-server's Go decoder and a strict decoder part ways
    /// (each observed against 2.15.1 on a socket).
    #[test]
    fn connect_decodes_as_go_does() {
        let base = ConnectOptions::default();
        let o = |json: &str| base.overlay(json.as_bytes());
        // Keys fold case (and ſ, K), as Go's field matching does.
        assert!(!o(r#"{"VERBOSE":false}"#).unwrap().verbose);
        assert!(!o(r#"{"Verbose":false}"#).unwrap().verbose);
        assert_eq!(o(r#"{"\u017fig":"x"}"#).unwrap().sig.as_deref(), Some("x"));
        assert_eq!(
            o(r#"{"n\u212aey":"k"}"#).unwrap().nkey.as_deref(),
            Some("k")
        );
        assert!(!o(r#"{"\u0076erbose":false}"#).unwrap().verbose);
        // null leaves a field alone; `CONNECT null` changes nothing.
        assert!(o(r#"{"verbose":null}"#).unwrap().verbose);
        assert_eq!(o(r#"{"protocol":null}"#).unwrap().protocol, 0);
        assert_eq!(o("null"), Some(base.clone()));
        // The last of repeated keys wins.
        assert!(o(r#"{"verbose":false,"verbose":true}"#).unwrap().verbose);
        // Go's zero values are no value.
        assert_eq!(o(r#"{"account":""}"#).unwrap().account, None);
        assert_eq!(o(r#"{"new_account":false}"#).unwrap().new_account, None);
        assert_eq!(
            o(r#"{"new_account":true}"#).unwrap().new_account,
            Some(true)
        );
        assert_eq!(
            o(r#"{"account":"A"}"#).unwrap().account.as_deref(),
            Some("A")
        );
        // Strings Go repairs rather than refuses.
        let name = |json: &[u8]| base.overlay(json).unwrap().name.unwrap();
        assert_eq!(name(br#"{"name":"\ud800x"}"#), "\u{fffd}x");
        assert_eq!(name(b"{\"name\":\"a\xffb\"}"), "a\u{fffd}b");
        assert_eq!(name(b"{\"name\":\"\xe2\x82x\"}"), "\u{fffd}\u{fffd}x");
        assert_eq!(name(br#"{"name":"\ud83d\ude00"}"#), "\u{1f600}");
        // And what Go refuses too.
        for bad in [
            r#""x""#,
            "[]",
            "{}{}",
            r#"{"verbose":false,}"#,
            r#"{"verbose":"false"}"#,
            r#"{"verbose":0}"#,
            r#"{"protocol":1.0}"#,
            r#"{"protocol":1e0}"#,
            r#"{"protocol":"1"}"#,
            r#"{"protocol":99999999999999999999}"#,
            r#"{"lang":5}"#,
            r#"{"name":["a"]}"#,
            r#"{"verbose":false} x"#,
        ] {
            assert_eq!(o(bad), None, "{bad}");
        }
        assert!(o("{\"verbose\":false}\t ").is_some());
        assert_eq!(o(r#"{"protocol":-1}"#).unwrap().protocol, -1);
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
            tls: Default::default(),
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
