//! Operator-mode fixtures: an operator with a system account, accounts and
//! users minted with `canopy_core::jwt` from a seeded random stream, their
//! files (the decorated operator JWT, `.creds`) in a temp folder, and the
//! config lines (`operator`, `system_account`, `resolver`,
//! `resolver_preload`) that both servers read.
//!
//! ```no_run
//! use canopy_tests::operator::{Operator, Resolver};
//! let mut op = Operator::new(7);
//! let acc = op.account("A");
//! let user = op.user(&acc, "alice", |_claims, _user| {});
//! let config = op.config_text(&Resolver::Memory);
//! # let _ = (user, config);
//! ```

use crate::TempDir;
use canopy_core::jwt::{
    creds_file, decorate_jwt, encode, public_of_any_seed, seed_from_raw, AccountClaims, Body,
    Claims, OperatorClaims, UserClaims,
};
use canopy_core::nkey::{PREFIX_ACCOUNT, PREFIX_OPERATOR, PREFIX_USER};
use canopy_core::rng::{Rng, Stream};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// A seed and its public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// The seed (`SO...`, `SA...`, `SU...`).
    pub seed: String,
    /// The public key (`O...`, `A...`, `U...`).
    pub public: String,
}

/// An account: its keys, its JWT (signed by the operator) and its claims.
#[derive(Clone, Debug)]
pub struct Account {
    /// The name in the JWT.
    pub name: String,
    /// The account's keys (the seed signs its users).
    pub keys: Keys,
    /// The account JWT.
    pub jwt: String,
    /// What went into the JWT.
    pub claims: AccountClaims,
}

/// A user: its JWT (signed by its account), seed and `.creds` file.
#[derive(Clone, Debug)]
pub struct User {
    /// The user's keys.
    pub keys: Keys,
    /// The user JWT.
    pub jwt: String,
    /// The `.creds` file text, as `nsc` writes it.
    pub creds: String,
    /// Where the `.creds` file was written.
    pub creds_path: PathBuf,
}

/// How the servers find account JWTs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolver {
    /// `resolver: MEMORY`, every account preloaded.
    Memory,
    /// `resolver: { type: full, dir }`, every account preloaded.
    Full {
        /// Where the server keeps the JWTs.
        dir: PathBuf,
    },
    /// `resolver: { type: cache, dir }`, every account preloaded.
    Cache {
        /// Where the server keeps the JWTs.
        dir: PathBuf,
    },
}

/// An operator, its system account and the accounts made so far.
#[derive(Debug)]
pub struct Operator {
    rng: Rng,
    /// The operator's keys.
    pub keys: Keys,
    /// The operator JWT.
    pub jwt: String,
    /// The system account.
    pub system: Account,
    /// Accounts made with [`Operator::account`], in order.
    pub accounts: Vec<Account>,
    /// `iat` of everything minted: a few seconds before now.
    pub iat: i64,
    dir: TempDir,
}

impl Operator {
    /// A new operator whose keys all come from `seed`, with a system
    /// account `SYS`; writes `operator.jwt` into a fresh temp folder.
    pub fn new(seed: u64) -> Operator {
        let mut seed32 = [0u8; 32];
        seed32[..8].copy_from_slice(&seed.to_le_bytes());
        let mut rng = Rng::derive(&seed32, Stream::Identity);
        let keys = new_keys(&mut rng, PREFIX_OPERATOR);
        let iat = unix_now() - 5;
        let system = mint_account(&keys, iat, &mut rng, "SYS", AccountClaims::default());
        let body = OperatorClaims {
            system_account: system.keys.public.clone(),
            ..OperatorClaims::default()
        };
        let jwt = sign(claims(&keys.public, "OP", iat, Body::Operator(body)), &keys);
        let dir = TempDir::new("operator");
        let op = Operator {
            rng,
            keys,
            jwt,
            system,
            accounts: Vec::new(),
            iat,
            dir,
        };
        let file = decorate_jwt(&op.jwt).expect("operator JWT decodes");
        std::fs::write(op.jwt_path(), file).expect("write operator.jwt");
        op
    }

    /// A new account with default (unlimited) claims.
    pub fn account(&mut self, name: &str) -> Account {
        self.account_with(name, |_| {})
    }

    /// A new account whose claims `edit` adjusts first.
    pub fn account_with(&mut self, name: &str, edit: impl FnOnce(&mut AccountClaims)) -> Account {
        let mut body = AccountClaims::default();
        edit(&mut body);
        let acc = mint_account(&self.keys, self.iat, &mut self.rng, name, body);
        self.accounts.push(acc.clone());
        acc
    }

    /// A new user of `account`; `edit` adjusts the registered claims (`exp`,
    /// `nbf`, `iat`, ...) and the user claims (permissions, bearer token,
    /// ...) before signing. Writes `<name>.creds` into the temp folder.
    pub fn user(
        &mut self,
        account: &Account,
        name: &str,
        edit: impl FnOnce(&mut Claims, &mut UserClaims),
    ) -> User {
        let keys = new_keys(&mut self.rng, PREFIX_USER);
        let mut registered = claims(&keys.public, name, self.iat, Body::Other(String::new()));
        let mut user = UserClaims::default();
        edit(&mut registered, &mut user);
        registered.body = Body::User(user);
        let jwt = sign(registered, &account.keys);
        let creds = creds_file(&jwt, &keys.seed);
        let creds_path = self.dir.path().join(format!("{name}.creds"));
        std::fs::write(&creds_path, &creds).expect("write .creds");
        User {
            keys,
            jwt,
            creds,
            creds_path,
        }
    }

    /// A user of the system account.
    pub fn system_user(&mut self, name: &str) -> User {
        let sys = self.system.clone();
        self.user(&sys, name, |_, _| {})
    }

    /// Where the decorated operator JWT is.
    pub fn jwt_path(&self) -> PathBuf {
        self.dir.path().join("operator.jwt")
    }

    /// The temp folder holding the files.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The config lines for operator mode with `resolver`, preloading the
    /// system account and every account made so far.
    pub fn config_text(&self, resolver: &Resolver) -> String {
        let resolver = match resolver {
            Resolver::Memory => "MEMORY".to_string(),
            Resolver::Full { dir } => format!("{{ type: full, dir: {:?} }}", dir.display()),
            Resolver::Cache { dir } => format!("{{ type: cache, dir: {:?} }}", dir.display()),
        };
        let mut text = format!(
            "operator: {:?}\nsystem_account: {}\nresolver: {resolver}\nresolver_preload: {{\n",
            self.jwt_path().display(),
            self.system.keys.public
        );
        for acc in std::iter::once(&self.system).chain(&self.accounts) {
            text.push_str(&format!("  {}: {}\n", acc.keys.public, acc.jwt));
        }
        text.push_str("}\n");
        text
    }
}

fn new_keys(rng: &mut Rng, prefix: u8) -> Keys {
    let mut raw = [0u8; 32];
    rng.fill(&mut raw);
    let seed = seed_from_raw(prefix, &raw);
    let public = public_of_any_seed(&seed).expect("a fresh seed is valid");
    Keys { seed, public }
}

fn mint_account(
    operator: &Keys,
    iat: i64,
    rng: &mut Rng,
    name: &str,
    body: AccountClaims,
) -> Account {
    let keys = new_keys(rng, PREFIX_ACCOUNT);
    let jwt = sign(
        claims(&keys.public, name, iat, Body::Account(body.clone())),
        operator,
    );
    Account {
        name: name.to_string(),
        keys,
        jwt,
        claims: body,
    }
}

fn claims(sub: &str, name: &str, iat: i64, body: Body) -> Claims {
    Claims {
        sub: sub.to_string(),
        name: name.to_string(),
        iat,
        body,
        ..Claims::default()
    }
}

fn sign(claims: Claims, signer: &Keys) -> String {
    encode(&claims, &signer.seed).expect("fixture claims encode")
}

/// Seconds since the epoch (the fixtures' `iat`; the tests use the clock,
/// the engine does not).
pub fn unix_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_secs()).expect("seconds fit")
}
