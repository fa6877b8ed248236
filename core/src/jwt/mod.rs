//! NATS JWTs (version 2, as the Go library nats-io/jwt writes them):
//! decoding with signature verification, typed operator, account and user
//! claims, and encoding (`encode.rs`) for tools and tests.
//!
//! A JWT is three base64url (unpadded) chunks, `header.payload.signature`.
//! The header names the type (`JWT`) and algorithm (`ed25519-nkey`; the old
//! `ed25519` of version 1); the payload holds the registered claims (`jti`,
//! `iat`, `iss`, `sub`, ...) and the NATS part under `nats`, whose `type`
//! says which kind of claims it is; the signature is Ed25519 by the key in
//! `iss` over `header.payload` (version 2) or the payload alone (version 1).
//!
//! Nothing here reads a clock: time checks take `now_unix` (seconds).
//!
//! JSON decoding follows Go's `encoding/json` where it is cheap to: unknown
//! fields are ignored, `null` counts as missing, and a missing number is 0
//! (so limits missing from a decoded JWT are 0, not the -1 "no limit" that
//! the `Default` of each type, like Go's `New...Claims`, starts with).

mod account;
mod encode;
mod operator;
mod user;

pub use account::{
    AccountClaims, AccountLimits, Export, ExportKind, Import, Offer, SigningKey, UserScope,
};
pub use encode::{creds_file, decorate_jwt, encode, public_of_any_seed, seed_from_raw};
pub use operator::OperatorClaims;
pub use user::{NatsLimits, Permissions, ResponsePermission, TimeRange, UserClaims};

use crate::nkey;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Deserialize;
use std::fmt;

/// The largest token the Go library decodes (1 MiB).
pub const MAX_TOKEN_SIZE: usize = 1024 * 1024;

/// "No limit" in limit fields.
pub const NO_LIMIT: i64 = -1;

/// A decoded (and signature-checked) JWT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// `jti`: the claims' id (see `encode` for how it is made).
    pub jti: String,
    /// `iat`: issued at, unix seconds.
    pub iat: i64,
    /// `iss`: the public key that signed it.
    pub iss: String,
    /// `sub`: the public key it is about.
    pub sub: String,
    /// `name`.
    pub name: String,
    /// `aud`: the audience (rarely set).
    pub aud: String,
    /// `exp`: expiry, unix seconds; 0 = never.
    pub exp: i64,
    /// `nbf`: not valid before, unix seconds; 0 = always valid.
    pub nbf: i64,
    /// `nats.issuer_account`: the account a user (or activation) belongs
    /// to when an account signing key issued it; empty otherwise.
    pub issuer_account: String,
    /// `nats.tags`.
    pub tags: Vec<String>,
    /// `nats.version`: 2 for current JWTs, 1 for old ones, 0 when absent.
    pub version: i64,
    /// The kind-specific part.
    pub body: Body,
}

/// The kind-specific part of a JWT, chosen by `nats.type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `operator`.
    Operator(OperatorClaims),
    /// `account`.
    Account(AccountClaims),
    /// `user`.
    User(UserClaims),
    /// Any other type (activation, authorization, generic), by name.
    Other(String),
}

impl Default for Body {
    fn default() -> Body {
        Body::Other(String::new())
    }
}

impl Body {
    /// The `nats.type` name of this kind.
    pub fn type_name(&self) -> &str {
        match self {
            Body::Operator(_) => "operator",
            Body::Account(_) => "account",
            Body::User(_) => "user",
            Body::Other(t) => t,
        }
    }
}

impl Claims {
    /// Past its `exp` (Go: `exp > 0 && now > exp`).
    pub fn expired(&self, now_unix: i64) -> bool {
        self.exp > 0 && now_unix > self.exp
    }

    /// Before its `nbf` (Go: `nbf > 0 && nbf > now`).
    pub fn not_yet_valid(&self, now_unix: i64) -> bool {
        self.nbf > 0 && self.nbf > now_unix
    }

    /// Issued by the key it is about.
    pub fn is_self_signed(&self) -> bool {
        self.iss == self.sub
    }

    /// Operator claims.
    pub fn is_operator(&self) -> bool {
        matches!(self.body, Body::Operator(_))
    }

    /// Account claims.
    pub fn is_account(&self) -> bool {
        matches!(self.body, Body::Account(_))
    }

    /// User claims.
    pub fn is_user(&self) -> bool {
        matches!(self.body, Body::User(_))
    }

    /// The operator part, if operator claims.
    pub fn operator(&self) -> Option<&OperatorClaims> {
        match &self.body {
            Body::Operator(o) => Some(o),
            Body::Account(_) | Body::User(_) | Body::Other(_) => None,
        }
    }

    /// The account part, if account claims.
    pub fn account(&self) -> Option<&AccountClaims> {
        match &self.body {
            Body::Account(a) => Some(a),
            Body::Operator(_) | Body::User(_) | Body::Other(_) => None,
        }
    }

    /// The user part, if user claims.
    pub fn user(&self) -> Option<&UserClaims> {
        match &self.body {
            Body::User(u) => Some(u),
            Body::Operator(_) | Body::Account(_) | Body::Other(_) => None,
        }
    }
}

/// Why a JWT was refused; `Display` is the Go library's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Larger than [`MAX_TOKEN_SIZE`].
    TooLarge(usize),
    /// Not three dot-separated chunks.
    Chunks,
    /// A chunk is not unpadded base64url.
    Base64,
    /// The header or claims are not the JSON expected (serde's reason).
    Json(String),
    /// The header's `typ` is not `JWT`.
    HeaderType(String),
    /// The header's `alg` is not `ed25519-nkey` (or `ed25519`).
    Algorithm(String),
    /// `nats.version` is newer than 2.
    NewerVersion,
    /// Server or cluster claims, which the library refuses.
    Unsupported(&'static str),
    /// The signature does not match (version 1 or 2 rule).
    Signature(u8),
    /// The issuer is not a kind of key allowed to sign this kind of claims.
    IssuerPrefix(&'static str),
    /// Encoding: the subject is empty.
    NoSubject,
    /// Encoding: the subject is not a key of the claims' kind.
    SubjectKind(&'static str),
    /// Encoding: the signer is not a valid seed.
    BadSeed,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::TooLarge(n) => write!(
                f,
                "token size {n} exceeds maximum of {MAX_TOKEN_SIZE} bytes: token too large"
            ),
            JwtError::Chunks => f.write_str("expected 3 chunks"),
            JwtError::Base64 => f.write_str("illegal base64 data"),
            JwtError::Json(e) => f.write_str(e),
            JwtError::HeaderType(t) => write!(f, "not supported type {t:?}"),
            JwtError::Algorithm(a) => write!(f, "unexpected {a:?} algorithm"),
            JwtError::NewerVersion => f.write_str("JWT was generated by a newer version "),
            JwtError::Unsupported(what) => write!(f, "{what} are not supported"),
            JwtError::Signature(v) => write!(f, "claim failed V{v} signature verification"),
            JwtError::IssuerPrefix(list) => {
                write!(f, "unable to validate expected prefixes - [{list}]")
            }
            JwtError::NoSubject => f.write_str("subject is not set"),
            JwtError::SubjectKind(what) => write!(f, "expected subject to be {what}"),
            JwtError::BadSeed => f.write_str("invalid seed"),
        }
    }
}

impl std::error::Error for JwtError {}

impl JwtError {
    /// The reason as static text (data-carrying variants lose the data).
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::TooLarge(_) => "token too large",
            JwtError::Chunks => "expected 3 chunks",
            JwtError::Base64 => "illegal base64 data",
            JwtError::Json(_) => "invalid claims",
            JwtError::HeaderType(_) => "not supported type",
            JwtError::Algorithm(_) => "unexpected algorithm",
            JwtError::NewerVersion => "JWT was generated by a newer version ",
            JwtError::Unsupported(_) => "claims are not supported",
            JwtError::Signature(1) => "claim failed V1 signature verification",
            JwtError::Signature(_) => "claim failed V2 signature verification",
            JwtError::IssuerPrefix(_) => "unable to validate expected prefixes",
            JwtError::NoSubject => "subject is not set",
            JwtError::SubjectKind(_) => "unexpected subject kind",
            JwtError::BadSeed => "invalid seed",
        }
    }
}

/// Decodes a JWT (bare, or the first `-----BEGIN ... JWT-----` block of a
/// decorated file), checks its header and its signature by `iss`, and the
/// issuer's kind for the claims' kind, as the Go library's `Decode` does.
/// Time is not checked (see [`Claims::expired`]).
pub fn decode(text: &str) -> Result<Claims, JwtError> {
    let token = undecorate(text);
    if token.len() > MAX_TOKEN_SIZE {
        return Err(JwtError::TooLarge(token.len()));
    }
    let chunks: Vec<&str> = token.split('.').collect();
    let [header, payload, sig] = chunks[..] else {
        return Err(JwtError::Chunks);
    };
    let alg = check_header(header)?;
    let data = b64(payload)?;
    let (claims, signed_v1) = parse_claims(&data, &alg)?;
    let sig = b64(sig)?;
    let signed: &str = if signed_v1 {
        payload
    } else {
        &token[..header.len() + payload.len() + 1]
    };
    if !verify(&claims.iss, signed.as_bytes(), &sig) {
        return Err(JwtError::Signature(if signed_v1 { 1 } else { 2 }));
    }
    if let Some((allowed, list)) = issuer_prefixes(&claims.body) {
        if !allowed
            .iter()
            .any(|&p| nkey::valid_public_key(&claims.iss, p))
        {
            return Err(JwtError::IssuerPrefix(list));
        }
    }
    Ok(claims)
}

/// The JWT inside a decorated file (the first non-empty line after a
/// `-----BEGIN` line), or the trimmed text itself.
pub fn undecorate(text: &str) -> &str {
    let mut lines = text.lines().map(str::trim);
    while let Some(l) = lines.next() {
        if l.starts_with("-----BEGIN") {
            if let Some(body) = lines.find(|l| !l.is_empty()) {
                return body;
            }
        }
    }
    text.trim()
}

/// The key kinds allowed to issue each kind of claims, and their names as
/// the Go library prints them; `None`: any issuer.
fn issuer_prefixes(body: &Body) -> Option<(&'static [u8], &'static str)> {
    match body {
        Body::Operator(_) => Some((&[nkey::PREFIX_OPERATOR], "operator")),
        Body::Account(_) => Some((
            &[nkey::PREFIX_ACCOUNT, nkey::PREFIX_OPERATOR],
            "account operator",
        )),
        Body::User(_) => Some((&[nkey::PREFIX_ACCOUNT], "account")),
        Body::Other(t) if t == "activation" => Some((
            &[nkey::PREFIX_ACCOUNT, nkey::PREFIX_OPERATOR],
            "account operator",
        )),
        Body::Other(_) => None,
    }
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    typ: String,
    #[serde(default)]
    alg: String,
}

/// Checks the header chunk; returns the algorithm, lowercased.
fn check_header(chunk: &str) -> Result<String, JwtError> {
    let h: Header = from_json(&b64(chunk)?)?;
    if !h.typ.eq_ignore_ascii_case("JWT") {
        return Err(JwtError::HeaderType(h.typ));
    }
    let alg = h.alg.to_ascii_lowercase();
    if alg != "ed25519" && alg != "ed25519-nkey" {
        return Err(JwtError::Algorithm(h.alg));
    }
    Ok(alg)
}

/// The registered claims, and the NATS part left as JSON until its type is
/// known. Version 1 JWTs kept `type`, `tags` and `issuer_account` at the
/// top level.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Registered {
    jti: String,
    iat: i64,
    iss: String,
    sub: String,
    name: String,
    aud: String,
    exp: i64,
    nbf: i64,
    #[serde(rename = "type")]
    v1_type: String,
    #[serde(rename = "tags")]
    v1_tags: Vec<String>,
    #[serde(rename = "issuer_account")]
    v1_issuer_account: String,
    nats: serde_json::Map<String, serde_json::Value>,
}

/// The fields every kind has under `nats`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Generic {
    #[serde(rename = "type")]
    kind: String,
    version: i64,
    tags: Vec<String>,
    issuer_account: String,
}

/// Parses the claims JSON; also says whether the signature covers the
/// payload alone (version 1 rule).
fn parse_claims(data: &[u8], alg: &str) -> Result<(Claims, bool), JwtError> {
    let mut value: serde_json::Value = from_json(data)?;
    strip_nulls(&mut value);
    let r: Registered = from_value(value)?;
    let nats = serde_json::Value::Object(r.nats);
    let g: Generic = from_value(nats.clone())?;
    let (kind, version, tags, issuer_account) = if r.v1_type.is_empty() {
        (g.kind, g.version, g.tags, g.issuer_account)
    } else {
        (r.v1_type, 1, r.v1_tags, r.v1_issuer_account)
    };
    if version > 2 {
        return Err(JwtError::NewerVersion);
    }
    let (body, v1) = match kind.as_str() {
        "operator" => (Body::Operator(from_value(nats)?), version <= 1),
        "account" => (Body::Account(from_value(nats)?), version <= 1),
        "user" => (Body::User(from_value(nats)?), version <= 1),
        "cluster" => return Err(JwtError::Unsupported("ClusterClaims")),
        "server" => return Err(JwtError::Unsupported("ServerClaims")),
        // Other kinds are checked the way Go's DecodeGeneric does: by the
        // header's algorithm.
        _ => (Body::Other(kind), alg == "ed25519"),
    };
    let claims = Claims {
        jti: r.jti,
        iat: r.iat,
        iss: r.iss,
        sub: r.sub,
        name: r.name,
        aud: r.aud,
        exp: r.exp,
        nbf: r.nbf,
        issuer_account,
        tags,
        version,
        body,
    };
    Ok((claims, v1))
}

/// Removes `null` members of objects, recursively: Go's decoder leaves a
/// field untouched for `null`, which is what a missing field does here.
fn strip_nulls(v: &mut serde_json::Value) {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
        m.values_mut().for_each(strip_nulls);
    } else if let Some(a) = v.as_array_mut() {
        a.iter_mut().for_each(strip_nulls);
    }
}

fn from_json<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T, JwtError> {
    serde_json::from_slice(data).map_err(|e| JwtError::Json(e.to_string()))
}

fn from_value<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, JwtError> {
    serde_json::from_value(v).map_err(|e| JwtError::Json(e.to_string()))
}

/// Verifies an Ed25519 signature by the public NKey `issuer` (any kind).
fn verify(issuer: &str, signed: &[u8], sig: &[u8]) -> bool {
    if !nkey::valid_any_public_key(issuer) {
        return false;
    }
    let Some(raw) = nkey::decode_nkeys(issuer) else {
        return false;
    };
    let Ok(key) = <[u8; 32]>::try_from(&raw[1..]) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    key.verify(signed, &sig).is_ok()
}

/// Unpadded base64url, strictly (Go's `RawURLEncoding`, which skips line
/// breaks): padding and the standard alphabet's `+` and `/` are refused,
/// and so is a lone trailing character.
fn b64(s: &str) -> Result<Vec<u8>, JwtError> {
    let text: String = s.chars().filter(|&c| c != '\r' && c != '\n').collect();
    let url_alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    if text.len() % 4 == 1 || !text.bytes().all(url_alphabet) {
        return Err(JwtError::Base64);
    }
    crate::auth::base64_decode(&text).ok_or(JwtError::Base64)
}

#[cfg(test)]
mod tests;
