//! `tls` blocks (`parseTLS`) and the file checks of `GenTLSConfig`, and
//! how a block becomes the engine's [`TlsSettings`].
//!
//! nats-server loads the certificate files while checking the config.
//! Here they are read through the [`super::ConfigSource`] and kept (PEM
//! text) for the engine; only their presence and PEM framing are checked
//! here (the engine's TLS builder does the real parsing, and the binary
//! runs it when it loads the config).

use super::context::{
    catch_one, or_return, timeout_seconds, want_array, want_map, want_str, Cx, Lt, Record, P,
};
use super::gofmt::{parse_duration, quote, GoDuration};
use super::value::{Kind, Map, Value};
use super::{ConfigSource, Diagnostic};
use crate::tls::{TlsSettings, DEFAULT_TIMEOUT};
use std::time::Duration;

/// A parsed `tls { ... }` block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsOpts {
    /// `cert_file`.
    pub cert_file: String,
    /// `key_file`.
    pub key_file: String,
    /// `ca_file`.
    pub ca_file: String,
    /// `insecure`.
    pub insecure: bool,
    /// `verify` (also set by `verify_and_map`).
    pub verify: bool,
    /// `verify_and_map`.
    pub map: bool,
    /// `verify_cert_and_check_known_urls`.
    pub check_known_urls: bool,
    /// `allow_insecure_cipher_suites`.
    pub allow_insecure_ciphers: bool,
    /// `cipher_suites` (names; empty: Go's defaults).
    pub cipher_suites: Vec<String>,
    /// `curve_preferences` (names; empty: Go's defaults).
    pub curve_preferences: Vec<String>,
    /// `timeout` in seconds (0: default).
    pub timeout: f64,
    /// `connection_rate_limit`.
    pub rate_limit: i64,
    /// `pinned_certs` (lower-cased hex SHA-256).
    pub pinned_certs: Vec<String>,
    /// `cert_store`.
    pub cert_store: String,
    /// `cert_match_by`.
    pub cert_match_by: String,
    /// `cert_match`.
    pub cert_match: String,
    /// `cert_match_skip_invalid`.
    pub cert_match_skip_invalid: bool,
    /// `ca_certs_match`.
    pub ca_certs_match: Vec<String>,
    /// `handshake_first` (`first`, `immediate`).
    pub handshake_first: bool,
    /// Fallback delay of `handshake_first: auto` or a duration.
    pub fallback_delay: GoDuration,
    /// `ocsp_peer` (as written).
    pub ocsp_peer: Option<Value>,
    /// `certs` / `certificates`: (cert_file, key_file) pairs.
    pub certificates: Vec<(String, String)>,
    /// `min_version` (`1.2` or `1.3`).
    pub min_version: String,
    /// The contents of `cert_file` (PEM), read while checking the block.
    pub cert_pem: String,
    /// The contents of `key_file` (PEM).
    pub key_pem: String,
    /// The contents of `ca_file` (PEM).
    pub ca_pem: String,
}

/// Go's `tls.CipherSuites()` and `tls.InsecureCipherSuites()` names, with
/// whether they are insecure (as the 2.15.1 binary classifies them).
const CIPHERS: &[(&str, bool)] = &[
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", true),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", true),
    ("TLS_RSA_WITH_RC4_128_SHA", true),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", true),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", true),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", true),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", true),
    ("TLS_AES_256_GCM_SHA384", false),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", true),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", true),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", true),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", true),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", true),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false),
    ("TLS_AES_128_GCM_SHA256", false),
    ("TLS_CHACHA20_POLY1305_SHA256", false),
];

const CURVES: &[&str] = &[
    "X25519",
    "CurveP256",
    "CurveP384",
    "CurveP521",
    "SecP384r1MLKEM1024",
    "SecP256r1MLKEM768",
    "X25519MLKEM768",
];

fn err(pos: &Value, msg: impl Into<String>) -> Result<TlsOpts, Diagnostic> {
    Err(Diagnostic::plain(Some(&pos.pos), msg))
}

/// A block's `tls` key: `parseTLS` then the file checks of
/// `GenTLSConfig` (reported at the key). `None`: an error was recorded.
pub(crate) fn tls_config(cx: &mut Cx, tk: &Value, client_ctx: bool) -> Option<TlsOpts> {
    let mut tc = parse_tls(cx, tk, client_ctx).record(cx)?;
    match gen_tls_check(cx.source, &mut tc) {
        Ok(()) => Some(tc),
        Err(e) => {
            cx.err(&tk.pos, e);
            None
        }
    }
}

/// A non-empty array of known names (`key`: `cipher_suites`,
/// `curve_preferences`); `lookup` finds a name, an unknown one is
/// `{unknown} {name}`.
fn known_names<T>(
    lt: &mut Lt,
    tk: &Value,
    key: &str,
    unknown: &str,
    lookup: impl Fn(&str) -> Option<T>,
) -> P<Result<Vec<T>, Diagnostic>> {
    let ra = want_array(tk)?;
    if ra.is_empty() {
        return Ok(Err(Diagnostic::plain(
            Some(&tk.pos),
            format!("error parsing tls config, '{key}' cannot be empty"),
        )));
    }
    let mut out = Vec::with_capacity(ra.len());
    for r in ra {
        let etk = lt.set(r);
        let name = want_str(etk)?;
        match lookup(name) {
            Some(t) => out.push(t),
            None => {
                return Ok(Err(Diagnostic::plain(
                    Some(&etk.pos),
                    format!("{unknown} {name}"),
                )))
            }
        }
    }
    Ok(Ok(out))
}

/// A string option that must not be empty (`cert_store`, `cert_match_by`,
/// `cert_match`).
fn non_empty<'v>(tk: &'v Value, key: &str) -> Result<&'v str, Diagnostic> {
    match tk.as_str() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Diagnostic::plain(
            Some(&tk.pos),
            format!("expected '{key}' to be a valid non-empty string"),
        )),
    }
}

/// `parseTLS`. `client_ctx`: a client-side block (client port, leafnode,
/// websocket, mqtt) where `verify_cert_and_check_known_urls` is refused.
fn parse_tls(cx: &mut Cx, v: &Value, client_ctx: bool) -> Result<TlsOpts, Diagnostic> {
    let mut lt = Lt::default();
    let r = parse_tls_inner(cx, v, client_ctx, &mut lt);
    catch_one(&lt, r)
}

fn parse_tls_inner(
    _cx: &mut Cx,
    v: &Value,
    client_ctx: bool,
    lt: &mut Lt,
) -> P<Result<TlsOpts, Diagnostic>> {
    let outer = lt.set(v);
    let tlsm = want_map(outer)?;
    let mut tc = TlsOpts::default();
    let mut insecure: Vec<&str> = Vec::new();
    let mut has_certs = false;
    for (mk, mv) in tlsm.iter() {
        let tk = lt.set(mv);
        let lk = mk.to_lowercase();
        match lk.as_str() {
            "cert_file" | "key_file" | "ca_file" => {
                let Some(s) = tk.as_str() else {
                    return Ok(err(
                        tk,
                        format!("error parsing tls config, expected '{lk}' to be filename"),
                    ));
                };
                match lk.as_str() {
                    "cert_file" => tc.cert_file = s.to_string(),
                    "key_file" => tc.key_file = s.to_string(),
                    _ => tc.ca_file = s.to_string(),
                }
            }
            "insecure"
            | "verify"
            | "verify_and_map"
            | "verify_cert_and_check_known_urls"
            | "allow_insecure_cipher_suites" => {
                let Some(b) = tk.as_bool() else {
                    return Ok(err(
                        tk,
                        format!("error parsing tls config, expected '{lk}' to be a boolean"),
                    ));
                };
                match lk.as_str() {
                    "insecure" => tc.insecure = b,
                    "verify" => tc.verify = b,
                    "verify_and_map" => {
                        if b {
                            tc.verify = true;
                        }
                        tc.map = b;
                    }
                    "verify_cert_and_check_known_urls" => {
                        if b && client_ctx {
                            return Ok(err(
                                tk,
                                "verify_cert_and_check_known_urls not supported in this context",
                            ));
                        }
                        if b {
                            tc.verify = true;
                        }
                        tc.check_known_urls = b;
                    }
                    _ => tc.allow_insecure_ciphers = b,
                }
            }
            "cipher_suites" => {
                let lookup = |name: &str| CIPHERS.iter().find(|(n, _)| *n == name).copied();
                let found = known_names(lt, tk, &lk, "unrecognized cipher", lookup)?;
                for (n, ins) in or_return!(found) {
                    tc.cipher_suites.push(n.to_string());
                    if ins {
                        insecure.push(n);
                    }
                }
            }
            "curve_preferences" => {
                let lookup = |name: &str| CURVES.iter().find(|c| **c == name).copied();
                let found = known_names(lt, tk, &lk, "unrecognized curve preference", lookup)?;
                let found = or_return!(found).into_iter().map(str::to_string);
                tc.curve_preferences.extend(found);
            }
            "timeout" => tc.timeout = or_return!(timeout_seconds(tk, "tls")),
            "connection_rate_limit" => {
                let Some(n) = tk.as_int() else {
                    return Ok(err(
                        tk,
                        "error parsing tls config, 'connection_rate_limit' wrong type",
                    ));
                };
                tc.rate_limit = n;
            }
            "pinned_certs" => {
                let Some(ra) = tk.as_array() else {
                    return Ok(err(tk, "error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"));
                };
                for r in ra {
                    let etk = lt.set(r);
                    let entry = want_str(etk)?.to_lowercase();
                    if entry.len() != 64 || !entry.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Ok(err(etk, format!("error parsing tls config, 'pinned_certs' key {entry} does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo")));
                    }
                    if !tc.pinned_certs.contains(&entry) {
                        tc.pinned_certs.push(entry);
                    }
                }
            }
            "cert_store" => {
                let s = or_return!(non_empty(tk, &lk)).to_lowercase();
                if s == "windowscurrentuser" || s == "windowslocalmachine" {
                    return Ok(err(
                        tk,
                        "cert_store not compatible with current operating system",
                    ));
                }
                return Ok(err(tk, "cert store type not implemented"));
            }
            "cert_match_by" | "cert_match" => {
                let s = or_return!(non_empty(tk, &lk)).to_string();
                if lk == "cert_match" {
                    tc.cert_match = s;
                } else if matches!(
                    s.to_lowercase().as_str(),
                    "subject" | "issuer" | "thumbprint"
                ) {
                    tc.cert_match_by = s;
                } else {
                    return Ok(err(tk, "cert match by type not implemented"));
                }
            }
            "ca_certs_match" => match &tk.kind {
                Kind::String(s) => tc.ca_certs_match.push(s.clone()),
                Kind::Array(a) => {
                    for e in a {
                        match e.as_str() {
                            Some(s) => tc.ca_certs_match.push(s.to_string()),
                            None => {
                                return Ok(err(tk, "error parsing ca_cert_match: unsupported type *conf.token where string is expected"))
                            }
                        }
                    }
                }
                Kind::Bool(_)
                | Kind::Integer(_)
                | Kind::Float(_)
                | Kind::Datetime(_)
                | Kind::Map(_) => {}
            },
            "handshake_first" | "first" | "immediate" => match &tk.kind {
                Kind::Bool(b) => tc.handshake_first = *b,
                Kind::String(s) => match s.to_lowercase().as_str() {
                    "true" | "on" => tc.handshake_first = true,
                    "false" | "off" => tc.handshake_first = false,
                    "auto" | "auto_fallback" => {
                        tc.handshake_first = true;
                        tc.fallback_delay = 50_000_000;
                    }
                    _ => match parse_duration(s) {
                        Ok(d) => {
                            tc.handshake_first = true;
                            tc.fallback_delay = d;
                        }
                        Err(_) => {
                            return Ok(err(
                                tk,
                                format!("field {}'s value {} is invalid", quote(mk), quote(s)),
                            ))
                        }
                    },
                },
                Kind::Integer(_)
                | Kind::Float(_)
                | Kind::Datetime(_)
                | Kind::Array(_)
                | Kind::Map(_) => {
                    return Ok(err(
                        tk,
                        format!(
                            "field {} should be a boolean or a string, got {}",
                            quote(mk),
                            tk.kind.go_type()
                        ),
                    ))
                }
            },
            "cert_match_skip_invalid" => {
                let Some(b) = tk.as_bool() else {
                    return Ok(err(
                        tk,
                        "expected 'cert_match_skip_invalid' to be a boolean",
                    ));
                };
                tc.cert_match_skip_invalid = b;
            }
            "ocsp_peer" => match &tk.kind {
                Kind::Bool(_) | Kind::Map(_) => tc.ocsp_peer = Some(tk.clone()),
                Kind::String(_)
                | Kind::Integer(_)
                | Kind::Float(_)
                | Kind::Datetime(_)
                | Kind::Array(_) => {
                    return Ok(err(
                        tk,
                        format!(
                            "error parsing ocsp peer config: unsupported type {}",
                            outer.kind.go_type()
                        ),
                    ))
                }
            },
            "certs" | "certificates" => {
                let Some(certs) = tk.as_array() else {
                    return Ok(err(
                        tk,
                        format!(
                            "error parsing certificates config: unsupported type {}",
                            outer.kind.go_type()
                        ),
                    ));
                };
                has_certs = !certs.is_empty();
                for c in certs {
                    let ctk = lt.set(c);
                    let Some(pair) = c.as_map() else {
                        return Ok(err(
                            ctk,
                            format!(
                                "error parsing certificates config: unsupported type {}",
                                c.kind.go_type()
                            ),
                        ));
                    };
                    let (mut cert, mut key) = (String::new(), String::new());
                    let mut last = ctk;
                    for (k, fv) in pair.iter() {
                        last = lt.set(fv);
                        let Some(file) = fv.as_str() else {
                            return Ok(err(
                                last,
                                format!(
                                    "error parsing certificates config: unsupported type {}",
                                    fv.kind.go_type()
                                ),
                            ));
                        };
                        match k {
                            "cert_file" => cert = file.to_string(),
                            "key_file" => key = file.to_string(),
                            _ => {
                                return Ok(err(
                                    last,
                                    format!(
                                        "error parsing tls certs config, unknown field {}",
                                        quote(k)
                                    ),
                                ))
                            }
                        }
                    }
                    if cert.is_empty() || key.is_empty() {
                        return Ok(err(last, "error parsing certificates config: both 'cert_file' and 'cert_key' options are required"));
                    }
                    tc.certificates.push((cert, key));
                }
            }
            "min_version" => {
                let r = match &tk.kind {
                    Kind::String(s) => match s.as_str() {
                        "1.2" | "1.3" => Ok(s.clone()),
                        "1.0" => Err("unsupported TLS version: TLS 1.0".to_string()),
                        "1.1" => Err("unsupported TLS version: TLS 1.1".to_string()),
                        _ => Err(format!("unknown version: {s}")),
                    },
                    Kind::Bool(_)
                    | Kind::Integer(_)
                    | Kind::Float(_)
                    | Kind::Datetime(_)
                    | Kind::Array(_)
                    | Kind::Map(_) => Err(format!("'min_version' wrong type: {}", tk.kind.go_v())),
                };
                match r {
                    Ok(s) => tc.min_version = s,
                    Err(e) => return Ok(err(tk, format!("error parsing tls config: {e}"))),
                }
            }
            _ => {
                return Ok(err(
                    tk,
                    format!("error parsing tls config, unknown field {}", quote(mk)),
                ))
            }
        }
    }
    if has_certs && !tc.cert_file.is_empty() {
        return Ok(err(
            outer,
            "error parsing tls config, cannot combine 'cert_file' option with 'certs' option",
        ));
    }
    if !tc.allow_insecure_ciphers && !insecure.is_empty() {
        return Ok(err(
            outer,
            format!(
                "insecure cipher suites configured without 'allow_insecure_cipher_suites' option set: {}",
                insecure.join(", ")
            ),
        ));
    }
    Ok(Ok(tc))
}

fn valid_base64(body: &str) -> bool {
    let clean: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.is_empty() || !clean.len().is_multiple_of(4) {
        return clean.is_empty();
    }
    let pad = clean.iter().rev().take_while(|&&b| b == b'=').count();
    pad <= 2
        && clean[..clean.len() - pad]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The types of the well-formed PEM blocks in `text` (Go's `pem.Decode`
/// loop, without decoding the DER).
fn pem_block_types(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("-----BEGIN ") {
        let after = &rest[i + 11..];
        let Some(j) = after.find("-----") else { break };
        let typ = &after[..j];
        let body_start = &after[j + 5..];
        let end_marker = format!("-----END {typ}-----");
        let Some(k) = body_start.find(&end_marker) else {
            rest = body_start;
            continue;
        };
        let body = &body_start[..k];
        // Optional "Key: value" headers, then a blank line.
        let body = if body.lines().skip(1).take(1).any(|l| l.contains(':')) {
            body.split_once("\n\n").map_or("", |(_, b)| b)
        } else {
            body
        };
        if !typ.contains('\n') && valid_base64(body) {
            out.push(typ.to_string());
        }
        rest = &body_start[k + end_marker.len()..];
    }
    out
}

fn check_key_pair(cert: &str, key: &str) -> Result<(), String> {
    let types = pem_block_types(cert);
    if !types.iter().any(|t| t == "CERTIFICATE") {
        if types.is_empty() {
            return Err("tls: failed to find any PEM data in certificate input".into());
        }
        if types.len() == 1 && types[0].ends_with("PRIVATE KEY") {
            return Err("tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".into());
        }
        return Err(format!("tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{}]", types.join(" ")));
    }
    let ktypes = pem_block_types(key);
    if !ktypes
        .iter()
        .any(|t| t == "PRIVATE KEY" || t.ends_with(" PRIVATE KEY"))
    {
        if ktypes.is_empty() {
            return Err("tls: failed to find any PEM data in key input".into());
        }
        if ktypes.len() == 1 && ktypes[0] == "CERTIFICATE" {
            return Err(
                "tls: found a certificate rather than a key in the PEM for the private key".into(),
            );
        }
        return Err(format!("tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{}]", ktypes.join(" ")));
    }
    Ok(())
}

/// The file checks of `GenTLSConfig`, keeping what was read in `tc`.
/// `Err` is the reason text (the caller positions it at the `tls` key).
fn gen_tls_check(source: &dyn ConfigSource, tc: &mut TlsOpts) -> Result<(), String> {
    if !tc.cert_file.is_empty() && tc.key_file.is_empty() {
        return Err("missing 'key_file' in TLS configuration".into());
    }
    if tc.cert_file.is_empty() && !tc.key_file.is_empty() {
        return Err("missing 'cert_file' in TLS configuration".into());
    }
    let load_pair = |cert: &str, key: &str| -> Result<(String, String), String> {
        let c = source.read_file(cert)?;
        let k = source.read_file(key)?;
        check_key_pair(&c, &k)?;
        Ok((c, k))
    };
    if !tc.cert_file.is_empty() {
        let (c, k) = load_pair(&tc.cert_file, &tc.key_file)
            .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?;
        tc.cert_pem = c;
        tc.key_pem = k;
    } else if !tc.certificates.is_empty() {
        let n = tc.certificates.len();
        for (i, (c, k)) in tc.certificates.iter().enumerate() {
            load_pair(c, k).map_err(|e| {
                format!(
                    "error parsing X509 certificate/key pair {}/{}: {e}",
                    i + 1,
                    n
                )
            })?;
        }
    }
    if !tc.ca_file.is_empty() {
        let ca = source.read_file(&tc.ca_file)?;
        if !pem_block_types(&ca).iter().any(|t| t == "CERTIFICATE") {
            return Err("failed to parse root ca certificate".into());
        }
        tc.ca_pem = ca;
    }
    Ok(())
}

/// What a `tls {}` block is for: nats-server gives each kind its own
/// defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsKind {
    /// The client port (the HTTPS monitor uses it too).
    Client,
    /// The leafnodes listener.
    LeafListener,
    /// A leaf remote: this side dials, as the TLS client.
    LeafRemote,
    /// Routes and gateways: each side is server and client.
    RouteOrGateway,
}

/// A `timeout` in seconds as a duration; 0 (unset) or less is
/// nats-server's `TLS_TIMEOUT` (also `DEFAULT_LEAF_TLS_TIMEOUT`, 2 s).
fn timeout(secs: f64) -> Duration {
    if secs > 0.0 && secs.is_finite() {
        Duration::from_secs_f64(secs.min(1e9))
    } else {
        DEFAULT_TIMEOUT
    }
}

/// The engine's settings for block `tc` of `kind`, as nats-server builds
/// its `tls.Config` (`GenTLSConfig`, then `getTLSConfig` for routes and
/// gateways): routes and gateways always verify the peer and never do
/// `handshake_first`; only the client port and the leaf listener fall
/// back; a peer's certificate is checked against `ca_file`, or else the
/// system `roots` (Go's nil pool).
pub(crate) fn settings(tc: &TlsOpts, kind: TlsKind, roots: &str) -> TlsSettings {
    let listener = matches!(kind, TlsKind::Client | TlsKind::LeafListener);
    let verify = tc.verify || kind == TlsKind::RouteOrGateway;
    let needs_roots = match kind {
        TlsKind::Client | TlsKind::LeafListener => verify,
        TlsKind::LeafRemote => !tc.insecure,
        TlsKind::RouteOrGateway => true,
    };
    let ca_pem = if !tc.ca_file.is_empty() {
        tc.ca_pem.clone()
    } else if needs_roots {
        roots.to_string()
    } else {
        String::new()
    };
    let handshake_first = tc.handshake_first && kind != TlsKind::RouteOrGateway;
    TlsSettings {
        cert_file: tc.cert_file.clone(),
        cert_pem: tc.cert_pem.clone(),
        key_file: tc.key_file.clone(),
        key_pem: tc.key_pem.clone(),
        ca_file: tc.ca_file.clone(),
        ca_pem,
        verify,
        map: tc.map,
        insecure: tc.insecure,
        cipher_suites: tc.cipher_suites.clone(),
        curve_preferences: tc.curve_preferences.clone(),
        min_version: tc.min_version.clone(),
        timeout: timeout(tc.timeout),
        handshake_first,
        // nats-server falls back only with a strictly positive delay.
        fallback: (listener && handshake_first && tc.fallback_delay > 0)
            .then(|| super::gofmt::to_std(tc.fallback_delay)),
        pinned_certs: tc.pinned_certs.clone(),
    }
}

/// The settings of a leaf remote with no `tls {}` whose URLs ask for TLS
/// (`tls://`, `wss://`): Go's zero `tls.Config` (TLS 1.2 or later, the
/// system roots) and the 2 s timeout.
pub(crate) fn default_remote(roots: &str) -> TlsSettings {
    TlsSettings {
        ca_pem: roots.to_string(),
        timeout: DEFAULT_TIMEOUT,
        ..TlsSettings::default()
    }
}

/// nats-server's `getDefaultAuthTimeout`: with TLS, the TLS timeout plus a
/// second; without, 2 s.
pub(crate) fn default_auth_timeout(tls: Option<&TlsSettings>) -> Duration {
    match tls {
        Some(t) => t.timeout + Duration::from_secs(1),
        None => crate::options::DEFAULT_AUTH_TIMEOUT,
    }
}

/// Whether some block of `c` may use TLS (so the system roots may be
/// needed).
pub(crate) fn any_tls(c: &super::ServerConfig) -> bool {
    let tls_url = |u: &super::gofmt::GoUrl| u.scheme == "tls" || u.scheme == "wss";
    c.tls.is_some()
        || c.cluster.tls.is_some()
        || c.gateway.tls.is_some()
        || c.gateway.gateways.iter().any(|g| g.tls.is_some())
        || c.leafnode.tls.is_some()
        // A remote without a block upgrades with the system roots when
        // its hub requires TLS.
        || !c.leafnode.remotes.is_empty()
        || c.leafnode
            .remotes
            .iter()
            .any(|r| r.tls.is_some() || r.urls.iter().any(tls_url))
}

/// The `--tls`, `--tlscert`, `--tlskey`, `--tlsverify` and `--tlscacert`
/// flags over the client TLS of `o` (the config file's, already applied
/// from `file`), as nats-server's `overrideTLS`: any of them replaces the
/// file's certificate, key, CA, verification, ciphers, curves, minimum
/// version and `insecure` with the flags' (both `--tlscert` and
/// `--tlskey` are required), keeping its `timeout`, `verify_and_map`,
/// `pinned_certs` and `handshake_first`; `--tls=false` turns client TLS
/// off. `Err` is the message nats-server exits with. The authorization
/// timeout follows, unless the file sets it (TLS timeout plus a second).
pub fn apply_tls_flags(
    flags: &crate::cli::Flags,
    file: Option<&super::Config>,
    o: &mut crate::Options,
    source: &dyn ConfigSource,
) -> Result<(), String> {
    let given = flags.tls.is_some()
        || flags.tls_cert.is_some()
        || flags.tls_key.is_some()
        || flags.tls_verify.is_some()
        || flags.tls_ca_cert.is_some();
    if !given {
        return Ok(());
    }
    if flags.tls == Some(false) {
        // Go visits `tls` first: the other flags are then ignored.
        o.tls = None;
    } else {
        let cert_file = flags.tls_cert.clone().unwrap_or_default();
        let key_file = flags.tls_key.clone().unwrap_or_default();
        if cert_file.is_empty() {
            return Err("TLS Server certificate must be present and valid".into());
        }
        if key_file.is_empty() {
            return Err("TLS Server private key must be present and valid".into());
        }
        let mut tc = TlsOpts {
            cert_file,
            key_file,
            ca_file: flags.tls_ca_cert.clone().unwrap_or_default(),
            verify: flags.tls_verify == Some(true),
            ..TlsOpts::default()
        };
        gen_tls_check(source, &mut tc)?;
        let roots = if tc.verify && tc.ca_file.is_empty() {
            source.system_roots()
        } else {
            String::new()
        };
        let mut s = settings(&tc, TlsKind::Client, &roots);
        if let Some(f) = o.tls.take() {
            s.timeout = f.timeout;
            s.map = f.map;
            s.pinned_certs = f.pinned_certs;
            s.handshake_first = f.handshake_first;
            s.fallback = f.fallback;
        }
        o.tls = Some(s);
    }
    if file.is_none_or(|c| c.opts.auth_timeout <= 0.0) {
        o.auth_timeout = default_auth_timeout(o.tls.as_ref());
    }
    Ok(())
}

/// The `tls {}` blocks of the ports canopy serves or dials, in file
/// order, with their dotted names (`tls`, `cluster.tls`,
/// `leafnodes.remotes.tls`, ...).
fn tls_blocks(tree: &Map) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (k, v) in tree.iter() {
        blocks_of(k, v, &mut out);
    }
    out
}

/// The `tls {}` blocks under top-level key `k`.
fn blocks_of<'v>(k: &str, v: &'v Value, out: &mut Vec<(String, &'v Value)>) {
    let lk = k.to_lowercase();
    match lk.as_str() {
        "tls" => out.push((k.to_string(), v)),
        "cluster" | "gateway" | "leafnodes" | "leaf" => {
            for (bk, bv) in v.as_map().into_iter().flat_map(|m| m.iter()) {
                let lbk = bk.to_lowercase();
                if lbk == "tls" {
                    out.push((format!("{k}.{bk}"), bv));
                }
                let list = match lk.as_str() {
                    "gateway" => lbk == "gateways",
                    "cluster" => false,
                    _ => lbk == "remotes",
                };
                if !list {
                    continue;
                }
                for e in bv.as_array().into_iter().flatten() {
                    for (ek, ev) in e.as_map().into_iter().flat_map(|m| m.iter()) {
                        if ek.eq_ignore_ascii_case("tls") {
                            out.push((format!("{k}.{bk}.{ek}"), ev));
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// A map's value for `key`, case-insensitively.
fn get_ci<'v>(m: &'v Map, key: &str) -> Option<&'v Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Whether `ocsp_peer` asks for checks (`true`, or a map with
/// `verify: true`).
fn ocsp_peer_on(v: &Value) -> bool {
    match &v.kind {
        Kind::Bool(b) => *b,
        Kind::Map(m) => get_ci(m, "verify").and_then(Value::as_bool) == Some(true),
        Kind::String(_)
        | Kind::Integer(_)
        | Kind::Float(_)
        | Kind::Datetime(_)
        | Kind::Array(_) => false,
    }
}

/// Whether top-level `ocsp` asks for stapling (anything but `false` or
/// `mode: never`).
fn ocsp_on(v: &Value) -> bool {
    match &v.kind {
        Kind::Bool(b) => *b,
        Kind::Map(m) => !get_ci(m, "mode")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("never")),
        Kind::String(_)
        | Kind::Integer(_)
        | Kind::Float(_)
        | Kind::Datetime(_)
        | Kind::Array(_) => false,
    }
}

/// The TLS keys canopy refuses to start with, because serving without
/// them would fail open, each as `file:line:col: block: key is not
/// supported by canopy`. (`cert_store` is refused by the parser already,
/// with nats-server's own message for a system without one.)
pub(crate) fn refusals(tree: &Map) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in tree.iter() {
        if k.eq_ignore_ascii_case("ocsp") && ocsp_on(v) {
            out.push(format!(
                "{}: {k}: OCSP stapling is not supported by canopy",
                v.pos
            ));
        }
        let mut blocks = Vec::new();
        blocks_of(k, v, &mut blocks);
        for (label, block) in blocks {
            for (bk, bv) in block.as_map().into_iter().flat_map(|m| m.iter()) {
                let refused = match bk.to_lowercase().as_str() {
                    "ocsp_peer" => ocsp_peer_on(bv),
                    "certs" | "certificates" => bv.as_array().is_some_and(|a| !a.is_empty()),
                    "verify_cert_and_check_known_urls" => bv.as_bool() == Some(true),
                    _ => false,
                };
                if refused {
                    out.push(format!(
                        "{}: {label}: {bk} is not supported by canopy",
                        bv.pos
                    ));
                }
            }
        }
    }
    out
}

/// TLS keys canopy ignores (named in the start-up warning): nats-server
/// uses the certificate-store matchers only with a `cert_store`, which it
/// refuses on this system too, and canopy has no TLS connection rate
/// limit.
const IGNORED_TLS_KEYS: &[&str] = &[
    "cert_match",
    "cert_match_by",
    "cert_match_skip_invalid",
    "ca_certs_match",
    "connection_rate_limit",
];

/// The ignored keys of the `tls {}` blocks in `tree`, for the start-up
/// warning (`cluster.tls.connection_rate_limit`).
pub(crate) fn ignored_tls_keys(tree: &Map) -> Vec<super::Unsupported> {
    let mut out = Vec::new();
    for (label, block) in tls_blocks(tree) {
        for (bk, bv) in block.as_map().into_iter().flat_map(|m| m.iter()) {
            if IGNORED_TLS_KEYS.contains(&bk.to_lowercase().as_str()) && !bv.used_variable {
                out.push(super::Unsupported {
                    key: format!("{label}.{bk}"),
                    pos: bv.pos.clone(),
                });
            }
        }
    }
    out
}
