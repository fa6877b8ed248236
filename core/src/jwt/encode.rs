//! Writing JWTs the way the Go library (and so `nsc`) does, plus seeds and
//! the decorated text of `.creds` and JWT files.

use super::{decode, issuer_prefixes, AccountClaims, Body, Claims, JwtError, OperatorClaims};
use super::{UserClaims, MAX_TOKEN_SIZE};
use crate::auth::base64_url_encode;
use crate::nkey;
use ed25519_dalek::{Signer, SigningKey as Ed25519Key};
use serde::Serialize;
use sha2::{Digest, Sha512_256};

/// Encodes and signs `claims` with `signer_seed` (an `SO...`, `SA...` or
/// `SU...` seed), as the Go library's `Encode`: `iss` becomes the seed's
/// public key, `jti` the hash of the registered claims, `nats.version` 2;
/// `iat` is kept as given (the caller's clock). Imports and exports are
/// sorted by subject and signing keys by key, as Go does.
pub fn encode(claims: &Claims, signer_seed: &str) -> Result<String, JwtError> {
    let (prefix, key) = seed_key(signer_seed).ok_or(JwtError::BadSeed)?;
    let iss = nkey::encode_public(prefix, key.verifying_key().as_bytes());
    if claims.sub.is_empty() {
        return Err(JwtError::NoSubject);
    }
    check_subject(&claims.body, &claims.sub)?;
    if let Some((allowed, list)) = issuer_prefixes(&claims.body) {
        if !allowed.contains(&prefix) {
            return Err(JwtError::IssuerPrefix(list));
        }
    }
    let mut registered = Registered {
        aud: &claims.aud,
        exp: claims.exp,
        jti: String::new(),
        iat: claims.iat,
        iss: &iss,
        name: &claims.name,
        nbf: claims.nbf,
        sub: &claims.sub,
    };
    registered.jti = nkey::base32(&Sha512_256::digest(to_go_json(&registered)?.as_bytes()));
    let sorted;
    let body = match &claims.body {
        Body::Operator(o) => BodyRef::Operator(o),
        Body::Account(a) => {
            sorted = sorted_account(a);
            BodyRef::Account(&sorted)
        }
        Body::User(u) => BodyRef::User(u),
        Body::Other(_) => BodyRef::None {},
    };
    let payload = Payload {
        registered,
        nats: Nats {
            body,
            issuer_account: &claims.issuer_account,
            tags: &claims.tags,
            kind: claims.body.type_name(),
            version: 2,
        },
    };
    let header = base64_url_encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let signed = format!(
        "{header}.{}",
        base64_url_encode(to_go_json(&payload)?.as_bytes())
    );
    let sig = key.sign(signed.as_bytes()).to_bytes();
    let jwt = format!("{signed}.{}", base64_url_encode(&sig));
    if jwt.len() > MAX_TOKEN_SIZE {
        return Err(JwtError::TooLarge(jwt.len()));
    }
    Ok(jwt)
}

/// The seed text of 32 secret bytes for keys of `public_prefix`
/// ([`nkey::PREFIX_OPERATOR`], `PREFIX_ACCOUNT`, `PREFIX_USER`, ...).
pub fn seed_from_raw(public_prefix: u8, raw: &[u8; 32]) -> String {
    let mut bytes = vec![
        nkey::PREFIX_SEED | (public_prefix >> 5),
        (public_prefix & 31) << 3,
    ];
    bytes.extend_from_slice(raw);
    let crc = nkey::crc16(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    nkey::base32(&bytes)
}

/// The public key of any seed (operator, account, user, server, ...), or
/// `None` if it is not a valid seed (checked as the nkeys library does).
pub fn public_of_any_seed(seed: &str) -> Option<String> {
    let (prefix, key) = seed_key(seed)?;
    Some(nkey::encode_public(prefix, key.verifying_key().as_bytes()))
}

/// The text of a `.creds` file for a user JWT and its seed, exactly as
/// `nsc` writes it (Go's `FormatUserConfig`).
pub fn creds_file(user_jwt: &str, user_seed: &str) -> String {
    let seed = user_seed.trim();
    let kind = match seed.get(..2) {
        Some("SA") => "ACCOUNT",
        Some("SO") => "OPERATOR",
        _ => "USER",
    };
    format!(
        "{}************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN {kind} NKEY SEED-----\n{seed}\n------END {kind} NKEY SEED------\n\n\
         *************************************************************\n",
        frame_jwt("user", user_jwt)
    )
}

/// A JWT framed the way `nsc` writes JWT files (`-----BEGIN NATS OPERATOR
/// JWT-----` ...), the kind read from the (verified) JWT itself.
pub fn decorate_jwt(jwt: &str) -> Result<String, JwtError> {
    let claims = decode(jwt)?;
    Ok(frame_jwt(claims.body.type_name(), jwt.trim()))
}

fn frame_jwt(kind: &str, jwt: &str) -> String {
    let kind = kind.to_uppercase();
    format!("-----BEGIN NATS {kind} JWT-----\n{jwt}\n------END NATS {kind} JWT------\n\n")
}

/// The public prefix and signing key of a seed.
fn seed_key(seed: &str) -> Option<(u8, Ed25519Key)> {
    let prefix = nkey::seed_prefix(seed.trim())?;
    let raw = nkey::decode_nkeys(seed.trim())?;
    let secret: [u8; 32] = raw.get(2..)?.try_into().ok()?;
    Some((prefix, Ed25519Key::from_bytes(&secret)))
}

/// Go's `Encode` refuses a subject of the wrong kind.
fn check_subject(body: &Body, sub: &str) -> Result<(), JwtError> {
    let (prefix, what) = match body {
        Body::Operator(_) => (nkey::PREFIX_OPERATOR, "an operator public key"),
        Body::Account(_) => (nkey::PREFIX_ACCOUNT, "account public key"),
        Body::User(_) => (nkey::PREFIX_USER, "user public key"),
        Body::Other(_) => return Ok(()),
    };
    if nkey::valid_public_key(sub, prefix) {
        Ok(())
    } else {
        Err(JwtError::SubjectKind(what))
    }
}

fn sorted_account(a: &AccountClaims) -> AccountClaims {
    let mut a = a.clone();
    a.imports
        .sort_by(|x, y| x.offer.subject.cmp(&y.offer.subject));
    a.exports
        .sort_by(|x, y| x.offer.subject.cmp(&y.offer.subject));
    a.signing_keys.sort_by(|x, y| x.key().cmp(y.key()));
    a
}

/// JSON as Go's `json.Marshal` writes it: `<`, `>`, `&`, U+2028 and
/// U+2029 escaped (they only occur inside strings).
fn to_go_json<T: Serialize>(v: &T) -> Result<String, JwtError> {
    let s = serde_json::to_string(v).map_err(|e| JwtError::Json(e.to_string()))?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The registered claims in Go's field order (the `jti` hash depends on it).
#[derive(Serialize)]
struct Registered<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    aud: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    exp: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    jti: String,
    #[serde(skip_serializing_if = "is_zero")]
    iat: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    iss: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    nbf: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    sub: &'a str,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct Payload<'a> {
    #[serde(flatten)]
    registered: Registered<'a>,
    nats: Nats<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum BodyRef<'a> {
    Operator(&'a OperatorClaims),
    Account(&'a AccountClaims),
    User(&'a UserClaims),
    None {},
}

#[derive(Serialize)]
struct Nats<'a> {
    #[serde(flatten)]
    body: BodyRef<'a>,
    #[serde(skip_serializing_if = "str::is_empty")]
    issuer_account: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(rename = "type")]
    kind: &'a str,
    version: i64,
}
