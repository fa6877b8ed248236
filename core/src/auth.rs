//! Client authentication as nats-server does it in config-file mode:
//! token, a single user, a users list (plain or bcrypt passwords), NKey
//! users signing the server's nonce, and `no_auth_user`; plus the outbound
//! side of `.creds` files (a JWT and a seed that signs a nonce), which leaf
//! remotes use. Secrets are compared in constant time.

use crate::info::ConnectOptions;
use crate::nkey;
use crate::perms::Permissions;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::collections::BTreeMap;

/// Who a client turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// User name or NKey (empty for token and anonymous clients).
    pub user: String,
    /// The account the client is bound to.
    pub account: String,
    /// Its permissions, if restricted.
    pub permissions: Option<Permissions>,
}

/// A user of a users list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserEntry {
    /// Password: plain, or a bcrypt hash (`$2a$...`).
    pub password: String,
    /// Permissions, if restricted.
    pub permissions: Option<Permissions>,
    /// The account (`$G` unless the user is defined in an account).
    pub account: String,
}

/// An NKey user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NkeyEntry {
    /// Permissions, if restricted.
    pub permissions: Option<Permissions>,
    /// The account.
    pub account: String,
}

/// Every configured way in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authenticator {
    /// `authorization { token }` / `--auth`.
    pub token: Option<String>,
    /// `authorization { user, password }` / `--user --pass`.
    pub single: Option<(String, String)>,
    /// Users by name.
    pub users: BTreeMap<String, UserEntry>,
    /// NKey users by public key.
    pub nkeys: BTreeMap<String, NkeyEntry>,
    /// The user (or NKey) anonymous clients become.
    pub no_auth_user: Option<String>,
    /// Operator mode: every client presents a user JWT (checked by
    /// [`crate::trust::Trust`], not here).
    pub operator: bool,
}

impl Authenticator {
    /// Whether clients must authenticate (INFO `auth_required`).
    pub fn required(&self) -> bool {
        self.operator
            || self.token.is_some()
            || self.single.is_some()
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
    }

    /// Whether INFO must carry a nonce (NKey users exist).
    pub fn needs_nonce(&self) -> bool {
        self.operator || !self.nkeys.is_empty()
    }

    /// The identity for a CONNECT, in nats-server's lookup order: NKey
    /// users, the users list, the token, the single user; `no_auth_user`
    /// for a CONNECT that carries no credentials. `None`: refused.
    pub fn authenticate(&self, opts: &ConnectOptions, nonce: &str) -> Option<Identity> {
        if !self.required() {
            return Some(Identity {
                user: String::new(),
                account: crate::account::GLOBAL_ACCOUNT.to_string(),
                permissions: None,
            });
        }
        let none = |s: &Option<String>| s.as_deref().is_none_or(str::is_empty);
        let anonymous =
            none(&opts.user) && none(&opts.pass) && none(&opts.auth_token) && none(&opts.nkey);
        if anonymous {
            if let Some(name) = &self.no_auth_user {
                if let Some(u) = self.users.get(name) {
                    return Some(Identity {
                        user: name.clone(),
                        account: u.account.clone(),
                        permissions: u.permissions.clone(),
                    });
                }
                if let Some(n) = self.nkeys.get(name) {
                    return Some(Identity {
                        user: name.clone(),
                        account: n.account.clone(),
                        permissions: n.permissions.clone(),
                    });
                }
            }
        }
        if let Some(key) = opts.nkey.as_deref().filter(|k| !k.is_empty()) {
            if !self.nkeys.is_empty() {
                let entry = self.nkeys.get(key)?;
                let sig = opts.sig.as_deref()?;
                if !verify_nonce(key, nonce.as_bytes(), sig) {
                    return None;
                }
                return Some(Identity {
                    user: key.to_string(),
                    account: entry.account.clone(),
                    permissions: entry.permissions.clone(),
                });
            }
        }
        if !self.users.is_empty() {
            let name = opts.user.as_deref().unwrap_or_default();
            let entry = self.users.get(name)?;
            if !password_matches(&entry.password, opts.pass.as_deref().unwrap_or_default()) {
                return None;
            }
            return Some(Identity {
                user: name.to_string(),
                account: entry.account.clone(),
                permissions: entry.permissions.clone(),
            });
        }
        if let Some(token) = &self.token {
            let given = opts.auth_token.as_deref().unwrap_or_default();
            return password_matches(token, given).then(|| Identity {
                user: String::new(),
                account: crate::account::GLOBAL_ACCOUNT.to_string(),
                permissions: None,
            });
        }
        if let Some((user, pass)) = &self.single {
            let ok = constant_time_eq(
                user.as_bytes(),
                opts.user.as_deref().unwrap_or_default().as_bytes(),
            ) && password_matches(pass, opts.pass.as_deref().unwrap_or_default());
            return ok.then(|| Identity {
                user: user.clone(),
                account: crate::account::GLOBAL_ACCOUNT.to_string(),
                permissions: None,
            });
        }
        None
    }
}

/// Compares a configured secret with a given one: bcrypt when the stored
/// value is a bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$`), otherwise a
/// constant-time comparison.
pub fn password_matches(stored: &str, given: &str) -> bool {
    if is_bcrypt(stored) {
        return bcrypt_verify(given.as_bytes(), stored);
    }
    constant_time_eq(stored.as_bytes(), given.as_bytes())
}

/// Equal bytes, in time that depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 60
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
}

/// bcrypt's own base64 alphabet.
const BCRYPT_ALPHABET: &[u8; 64] =
    b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn bcrypt_b64_decode(s: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::with_capacity(out_len);
    for &c in s {
        let v = BCRYPT_ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out.truncate(out_len);
    (out.len() == out_len).then_some(out)
}

fn bcrypt_b64_encode(data: &[u8]) -> String {
    nkey::encode_bits(data, BCRYPT_ALPHABET)
}

/// Verifies `password` against a 60-character bcrypt hash.
fn bcrypt_verify(password: &[u8], hash: &str) -> bool {
    let h = hash.as_bytes();
    let Ok(cost) = std::str::from_utf8(&h[4..6]).unwrap_or("x").parse::<u32>() else {
        return false;
    };
    if !(4..=31).contains(&cost) || h[6] != b'$' {
        return false;
    }
    let Some(salt) = bcrypt_b64_decode(&h[7..29], 16) else {
        return false;
    };
    // The key: the password with its NUL, at most 72 bytes.
    let mut key: Vec<u8> = password.iter().copied().take(71).collect();
    key.push(0);
    let Ok(salt16): Result<[u8; 16], _> = salt.try_into() else {
        return false;
    };
    let mut state = blowfish::Blowfish::<byteorder::BE>::bc_init_state();
    state.salted_expand_key(&salt16, &key);
    for _ in 0..(1u64 << cost) {
        state.bc_expand_key(&key);
        state.bc_expand_key(&salt16);
    }
    let mut ctext = [
        0x4f72_7068u32,
        0x6561_6e42,
        0x6568_6f6c,
        0x6465_7253,
        0x6372_7944,
        0x6f75_6274,
    ];
    for i in (0..6).step_by(2) {
        for _ in 0..64 {
            let [l, r] = state.bc_encrypt([ctext[i], ctext[i + 1]]);
            ctext[i] = l;
            ctext[i + 1] = r;
        }
    }
    let mut raw = Vec::with_capacity(24);
    for w in ctext {
        raw.extend_from_slice(&w.to_be_bytes());
    }
    let expect = bcrypt_b64_encode(&raw[..23]);
    constant_time_eq(expect.as_bytes(), &h[29..])
}

/// Decodes base64 (URL or standard alphabet, padding optional).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

/// Encodes base64 with the URL alphabet and no padding (how NATS clients
/// send nonce signatures).
pub fn base64_url_encode(data: &[u8]) -> String {
    nkey::encode_bits(
        data,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    )
}

/// Encodes base64 with the standard alphabet and padding (Go's JSON form
/// of a `[]byte`, and what some clients send as a nonce signature).
pub fn base64_std_encode(data: &[u8]) -> String {
    let mut out = nkey::encode_bits(
        data,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    );
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Whether `sig` (base64) is the Ed25519 signature of `nonce` by the NKey
/// user `public` (`U...`).
pub fn verify_nonce(public: &str, nonce: &[u8], sig: &str) -> bool {
    let Some(raw) = nkey::decode(public) else {
        return false;
    };
    if raw.len() != 33 || raw[0] != nkey::PREFIX_USER {
        return false;
    }
    let Ok(key_bytes): Result<[u8; 32], _> = raw[1..].try_into() else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key_bytes) else {
        return false;
    };
    let Some(sig) = base64_decode(sig) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&sig) else {
        return false;
    };
    key.verify(nonce, &sig).is_ok()
}

/// A `.creds` file: the user JWT and the NKey seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    /// The JWT (sent as `jwt` in CONNECT).
    pub jwt: String,
    /// The seed (`SU...`), which signs nonces.
    pub seed: String,
}

/// Parses a `.creds` file: the first `-----BEGIN ...-----` block is the
/// JWT, the second the seed.
pub fn parse_creds(text: &str) -> Option<Creds> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("-----BEGIN") && line.ends_with("-----") {
            let body = lines.by_ref().find(|l| !l.is_empty())?;
            blocks.push(body.to_string());
        }
    }
    let mut it = blocks.into_iter();
    Some(Creds {
        jwt: it.next()?,
        seed: it.next()?,
    })
}

/// What is wrong with a leaf remote's `.creds` file text, in nats-server's
/// start-up words (`malformed`, `has malformed seed`, `has malformed user
/// jwt`), or `Ok` when it can sign. The remote still dials either way.
pub fn check_creds(text: &str) -> Result<(), &'static str> {
    let creds = parse_creds(text).ok_or("malformed")?;
    public_of_seed(&creds.seed).ok_or("has malformed seed")?;
    verify_jwt(&creds.jwt).map_err(|_| "has malformed user jwt")
}

/// Signs a nonce with an NKey seed (`SU...`): the `sig` a client (or a
/// leaf remote) sends.
pub fn sign_nonce(seed: &str, nonce: &[u8]) -> Option<String> {
    let raw = nkey::decode(seed)?;
    // Seed: 2 prefix bytes (seed prefix and the public prefix) + 32 bytes.
    if raw.len() != 34 || raw[0] & 0xf8 != nkey::PREFIX_SEED {
        return None;
    }
    let secret: [u8; 32] = raw[2..].try_into().ok()?;
    let key = SigningKey::from_bytes(&secret);
    Some(base64_url_encode(&key.sign(nonce).to_bytes()))
}

/// What a leaf remote puts in its CONNECT to prove who it is: a user JWT
/// (from a credentials file or the embedder), or an NKey public key, and
/// the nonce's signature (base64url without padding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonceSignature {
    /// The user JWT, when signing with credentials.
    pub jwt: Option<String>,
    /// The NKey public key (`U...`), when signing with a bare seed.
    pub nkey: Option<String>,
    /// The signature of the nonce.
    pub sig: String,
}

/// Signs `nonce` with the seed of a `.creds` file's text, as nats-server
/// does for a remote's `credentials`; `Err` has its log text.
pub fn sign_with_creds(text: &str, nonce: &[u8]) -> Result<NonceSignature, String> {
    let creds = parse_creds(text).ok_or("Credentials file malformed")?;
    let sig = sign_nonce(&creds.seed, nonce).ok_or("Credentials file has malformed seed")?;
    Ok(NonceSignature {
        jwt: Some(creds.jwt),
        nkey: None,
        sig,
    })
}

/// Signs `nonce` with a user seed, as nats-server does for a remote's
/// `nkey`; `Err` has its log text.
pub fn sign_with_seed(seed: &str, nonce: &[u8]) -> Result<NonceSignature, String> {
    let sig = sign_nonce(seed, nonce).ok_or("Remote nkey has malformed seed")?;
    let public = public_of_seed(seed).ok_or("Remote nkey has malformed seed")?;
    Ok(NonceSignature {
        jwt: None,
        nkey: Some(public),
        sig,
    })
}

/// The public key (`U...`) of a user seed.
pub fn public_of_seed(seed: &str) -> Option<String> {
    let raw = nkey::decode(seed)?;
    if raw.len() != 34 || raw[0] & 0xf8 != nkey::PREFIX_SEED {
        return None;
    }
    let public_prefix = (raw[0] & 0x07) << 5 | (raw[1] & 0xf8) >> 3;
    let secret: [u8; 32] = raw[2..].try_into().ok()?;
    let key = SigningKey::from_bytes(&secret);
    Some(nkey::encode_public(
        public_prefix,
        key.verifying_key().as_bytes(),
    ))
}

/// Checks a JWT as the NATS JWT library does before trusting any claim
/// (header, claims, the Ed25519 signature by the key in `iss`; see
/// [`crate::jwt::decode`]). `Err` is the library's reason text.
pub fn verify_jwt(jwt: &str) -> Result<(), &'static str> {
    crate::jwt::decode(jwt).map(|_| ()).map_err(|e| e.reason())
}

/// Encodes a user seed from 32 secret bytes (for tests and tools).
pub fn encode_user_seed(secret: &[u8; 32]) -> String {
    let p1 = nkey::PREFIX_SEED | (nkey::PREFIX_USER >> 5);
    let p2 = (nkey::PREFIX_USER & 31) << 3;
    let mut raw = vec![p1, p2];
    raw.extend_from_slice(secret);
    let crc = nkey::crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    nkey::base32(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(json: &str) -> ConnectOptions {
        ConnectOptions::default()
            .overlay(json.as_bytes())
            .expect("valid CONNECT")
    }

    #[test]
    fn bcrypt_hashes_verify() {
        // Made with Python's bcrypt: hashpw(b"secret", b"$2a$04$abcdefghijklmnopqrstuu").
        let h = "$2a$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW";
        assert!(password_matches(h, "secret"));
        assert!(!password_matches(h, "Secret"));
        assert!(!password_matches(h, ""));
        assert!(password_matches("plain", "plain"));
        assert!(!password_matches("plain", "plain2"));
    }

    #[test]
    fn nkey_nonce_signatures() {
        let seed = encode_user_seed(&[7u8; 32]);
        assert!(seed.starts_with("SU"), "{seed}");
        let public = public_of_seed(&seed).expect("public key");
        assert!(public.starts_with('U') && public.len() == 56, "{public}");
        let sig = sign_nonce(&seed, b"nonce-123").expect("sig");
        assert!(verify_nonce(&public, b"nonce-123", &sig));
        assert!(!verify_nonce(&public, b"nonce-124", &sig));
        // Standard base64 with padding is accepted too.
        let std_sig = sig.replace('-', "+").replace('_', "/") + "==";
        assert!(verify_nonce(&public, b"nonce-123", &std_sig));
        let other = public_of_seed(&encode_user_seed(&[8u8; 32])).expect("other");
        assert!(!verify_nonce(&other, b"nonce-123", &sig));
    }

    #[test]
    fn jwt_signatures() {
        // An operator-style self-signed JWT made with the seed helpers.
        let secret = [4u8; 32];
        let key = SigningKey::from_bytes(&secret);
        let issuer = nkey::encode_public(14 << 3, key.verifying_key().as_bytes());
        let header = base64_url_encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let payload =
            base64_url_encode(format!(r#"{{"iss":"{issuer}","sub":"{issuer}"}}"#).as_bytes());
        let sig = base64_url_encode(
            &key.sign(format!("{header}.{payload}").as_bytes())
                .to_bytes(),
        );
        let jwt = format!("{header}.{payload}.{sig}");
        assert_eq!(verify_jwt(&jwt), Ok(()));
        let decorated = format!(
            "-----BEGIN NATS OPERATOR JWT-----\n{jwt}\n------END NATS OPERATOR JWT------\n"
        );
        assert_eq!(verify_jwt(&decorated), Ok(()));
        let other = base64_url_encode(format!(r#"{{"iss":"{issuer}","sub":"x"}}"#).as_bytes());
        assert_eq!(
            verify_jwt(&format!("{header}.{other}.{sig}")),
            Err("claim failed V2 signature verification")
        );
    }

    #[test]
    fn creds_files() {
        let seed = encode_user_seed(&[1u8; 32]);
        let text = format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAi.payload.sig\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n\n-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        let c = parse_creds(&text).expect("creds");
        assert_eq!(c.jwt, "eyJ0eXAi.payload.sig");
        assert_eq!(c.seed, seed);
        assert!(parse_creds("nothing here").is_none());
    }

    #[test]
    fn lookup_order_and_no_auth_user() {
        let seed = encode_user_seed(&[3u8; 32]);
        let public = public_of_seed(&seed).expect("public");
        let mut a = Authenticator::default();
        a.users.insert(
            "alice".into(),
            UserEntry {
                password: "pw".into(),
                permissions: None,
                account: "A".into(),
            },
        );
        a.nkeys.insert(
            public.clone(),
            NkeyEntry {
                permissions: None,
                account: "B".into(),
            },
        );
        assert!(a.required() && a.needs_nonce());
        let id = a
            .authenticate(&connect(r#"{"user":"alice","pass":"pw"}"#), "n")
            .expect("alice");
        assert_eq!(id.account, "A");
        assert!(a
            .authenticate(&connect(r#"{"user":"alice","pass":"no"}"#), "n")
            .is_none());
        let sig = sign_nonce(&seed, b"abc").expect("sig");
        let id = a
            .authenticate(
                &connect(&format!(r#"{{"nkey":"{public}","sig":"{sig}"}}"#)),
                "abc",
            )
            .expect("nkey user");
        assert_eq!(
            (id.user.as_str(), id.account.as_str()),
            (public.as_str(), "B")
        );
        assert!(a
            .authenticate(
                &connect(&format!(r#"{{"nkey":"{public}","sig":"{sig}"}}"#)),
                "other"
            )
            .is_none());
        assert!(
            a.authenticate(&connect("{}"), "n").is_none(),
            "anonymous refused"
        );
        a.no_auth_user = Some("alice".into());
        assert_eq!(
            a.authenticate(&connect("{}"), "n")
                .expect("no_auth_user")
                .user,
            "alice"
        );
    }

    #[test]
    fn token_and_single_user() {
        let token = Authenticator {
            token: Some("s3cr3t".into()),
            ..Default::default()
        };
        assert!(token
            .authenticate(&connect(r#"{"auth_token":"s3cr3t"}"#), "")
            .is_some());
        assert!(token
            .authenticate(&connect(r#"{"auth_token":"nope"}"#), "")
            .is_none());
        let single = Authenticator {
            single: Some(("u".into(), "p".into())),
            ..Default::default()
        };
        assert!(single
            .authenticate(&connect(r#"{"user":"u","pass":"p"}"#), "")
            .is_some());
        assert!(single
            .authenticate(&connect(r#"{"user":"u","pass":"x"}"#), "")
            .is_none());
        assert!(Authenticator::default()
            .authenticate(&connect("{}"), "")
            .is_some());
    }
}
