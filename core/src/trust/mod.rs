//! Operator mode (decentralized authentication): the trusted operators,
//! the account resolver's JWTs, and the checks that turn a client's user
//! JWT into an account and its permissions, as nats-server 2.15.1 does.
//!
//! The engine reads no file: the driver hands in the operator JWTs, the
//! `resolver_preload` map and the JWTs a `full` or `cache` resolver found
//! in its directory at start ([`TrustOptions`]); the engine asks it to
//! store pushed updates with [`crate::Action::StoreAccountJwt`].

mod grant;
mod window;

pub use grant::{jwt_permissions, Asker, Grant, Refusal, CONNECTION_TYPES};
pub use window::{src_allows, times_allow};

use crate::jwt::{self, Body, Claims};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// What the operator-mode parts of a config say, with every file already
/// read by the driver.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustOptions {
    /// The operator JWTs (`operator`), as text.
    pub operators: Vec<String>,
    /// The account resolver.
    pub resolver: Resolver,
    /// `resolver_preload`: account public key to account JWT.
    pub preload: BTreeMap<String, String>,
    /// Account JWTs found in the resolver's directory at start.
    pub stored: Vec<String>,
}

/// The kinds of account resolver (`resolver`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resolver {
    /// `MEMORY`: only the preloaded accounts.
    #[default]
    Memory,
    /// `{ type: full, dir, allow_delete, interval, limit }`: every
    /// account, kept in a directory and synchronised between servers.
    Full {
        /// The directory, which the driver reads and writes.
        dir: String,
        /// `allow_delete`.
        allow_delete: bool,
        /// `interval`: how often servers compare their stores.
        interval: Duration,
        /// `limit`: the most accounts kept.
        limit: usize,
    },
    /// `{ type: cache, dir, ttl, limit }`: accounts looked up as needed.
    Cache {
        /// The directory.
        dir: String,
        /// `ttl`: how long an account is kept.
        ttl: Duration,
        /// `limit`.
        limit: usize,
    },
}

impl Resolver {
    /// Whether pushed account updates are kept (and stored by the driver).
    pub fn stores(&self) -> bool {
        !matches!(self, Resolver::Memory)
    }

    /// The resolver's directory, if it has one.
    pub fn dir(&self) -> Option<&str> {
        match self {
            Resolver::Memory => None,
            Resolver::Full { dir, .. } | Resolver::Cache { dir, .. } => Some(dir),
        }
    }
}

/// One account as its JWT says.
#[derive(Clone, Debug)]
pub struct AccountJwt {
    /// The JWT as it was given.
    pub jwt: String,
    /// The account's public key (`sub`).
    pub key: String,
    /// Who signed it (`iss`).
    pub issuer: String,
    /// `iat`, unix seconds.
    pub issued_at: i64,
    /// `exp`, unix seconds; 0: never.
    pub expires: i64,
    /// `name`.
    pub name: String,
    /// The account's claims.
    pub account: Arc<jwt::AccountClaims>,
}

impl AccountJwt {
    /// Whether the account JWT has expired at `now_unix`.
    pub fn expired(&self, now_unix: i64) -> bool {
        self.expires != 0 && self.expires <= now_unix
    }
}

/// Why an account JWT was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountRefusal {
    /// It does not decode or its signature is wrong.
    Invalid(String),
    /// It is not an account JWT.
    NotAccount,
    /// Its issuer is not a trusted operator or one of its signing keys.
    Untrusted,
    /// An older JWT than the one held.
    Older,
}

impl std::fmt::Display for AccountRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountRefusal::Invalid(e) => write!(f, "{e}"),
            AccountRefusal::NotAccount => f.write_str("not an account JWT"),
            AccountRefusal::Untrusted => f.write_str("account JWT not signed by trusted operator"),
            AccountRefusal::Older => f.write_str("jwt is older than the one held"),
        }
    }
}

/// The engine's operator-mode state.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// Public keys allowed to sign account JWTs: each operator's own key
    /// and its signing keys.
    issuers: BTreeSet<String>,
    /// The resolver kind.
    pub resolver: Resolver,
    /// Every account known, by public key.
    pub accounts: BTreeMap<String, AccountJwt>,
    /// A full resolver's inbox for pack replies (its sync).
    pub pack_inbox: String,
}

/// The system account the first operator JWT naming one names (the
/// default for `system_account` in operator mode).
pub fn operator_system_account(operator_jwts: &[String]) -> Option<String> {
    operator_jwts.iter().find_map(|text| {
        let claims = jwt::decode(text).ok()?;
        let op = claims.operator()?;
        (!op.system_account.is_empty()).then(|| op.system_account.clone())
    })
}

impl Trust {
    /// Builds the state from the options. Operator JWTs that do not
    /// verify are skipped (the config check refuses them earlier);
    /// account JWTs that do not verify are skipped too.
    pub fn new(opts: &TrustOptions) -> Trust {
        let mut t = Trust {
            resolver: opts.resolver.clone(),
            ..Trust::default()
        };
        for text in &opts.operators {
            let Ok(claims) = jwt::decode(text) else {
                continue;
            };
            if let Body::Operator(op) = &claims.body {
                // `strict_signing_key_usage`: only the signing keys sign
                // accounts, not the operator's identity key.
                if !op.strict_signing_key_usage {
                    t.issuers.insert(claims.sub.clone());
                }
                t.issuers.extend(op.signing_keys.iter().cloned());
            }
        }
        for text in opts.stored.iter().chain(opts.preload.values()) {
            let _ = t.update(text);
        }
        t
    }

    /// Whether `key` may sign account JWTs.
    pub fn trusts(&self, key: &str) -> bool {
        self.issuers.contains(key)
    }

    /// Decodes and checks an account JWT against the trusted operators.
    pub fn verify_account(&self, text: &str) -> Result<AccountJwt, AccountRefusal> {
        let claims = jwt::decode(text).map_err(|e| AccountRefusal::Invalid(e.to_string()))?;
        if !self.trusts(&claims.iss) && matches!(claims.body, Body::Account(_)) {
            return Err(AccountRefusal::Untrusted);
        }
        let Claims {
            sub,
            iss,
            iat,
            exp,
            name,
            body: Body::Account(account),
            ..
        } = claims
        else {
            return Err(AccountRefusal::NotAccount);
        };
        Ok(AccountJwt {
            jwt: text.trim().to_string(),
            key: sub,
            issuer: iss,
            issued_at: iat,
            expires: exp,
            name,
            account: Arc::new(account),
        })
    }

    /// Takes an account JWT (preloaded, stored or pushed): it replaces
    /// the one held unless it is older. Returns the account's public key.
    pub fn update(&mut self, text: &str) -> Result<String, AccountRefusal> {
        let acc = self.verify_account(text)?;
        let key = acc.key.clone();
        if let Some(held) = self.accounts.get(&key) {
            if held.issued_at > acc.issued_at {
                return Err(AccountRefusal::Older);
            }
        }
        self.accounts.insert(key.clone(), acc);
        Ok(key)
    }

    /// The account JWT for `key`, if known.
    pub fn account(&self, key: &str) -> Option<&AccountJwt> {
        self.accounts.get(key)
    }
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
