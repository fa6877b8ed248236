//! Operators, accounts and users made in the test, from a seeded
//! generator (never fixed keys from a public source), for the trust and
//! engine tests.

use super::{Resolver, TrustOptions};
use crate::jwt::{self, AccountClaims, Body, Claims, UserClaims};
use crate::nkey::{PREFIX_ACCOUNT, PREFIX_OPERATOR, PREFIX_USER};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seed and its public key.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) seed: String,
    pub(crate) public: String,
}

/// An operator with one account (and its signing key), a system account,
/// and a generator for more keys.
pub(crate) struct Chain {
    rng: ChaCha8Rng,
    pub(crate) now: i64,
    pub(crate) op: Keys,
    pub(crate) op_jwt: String,
    pub(crate) acc: Keys,
    pub(crate) acc_signer: Keys,
    pub(crate) sys: Keys,
}

impl Chain {
    /// A chain drawn from `seed`, whose JWTs are issued an hour before
    /// `now` (unix seconds).
    pub(crate) fn new(seed: u64, now: i64) -> Chain {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let op = keys(&mut rng, PREFIX_OPERATOR);
        let acc = keys(&mut rng, PREFIX_ACCOUNT);
        let acc_signer = keys(&mut rng, PREFIX_ACCOUNT);
        let sys = keys(&mut rng, PREFIX_ACCOUNT);
        let mut c = Chain {
            rng,
            now,
            op_jwt: String::new(),
            op,
            acc,
            acc_signer,
            sys,
        };
        let mut claims = c.claims(&c.op.public.clone(), Body::Operator(Default::default()));
        if let Body::Operator(o) = &mut claims.body {
            o.system_account = c.sys.public.clone();
        }
        c.op_jwt = jwt::encode(&claims, &c.op.seed).expect("operator jwt");
        c
    }

    /// New keys of a kind.
    pub(crate) fn keys(&mut self, prefix: u8) -> Keys {
        keys(&mut self.rng, prefix)
    }

    /// Claims about `sub`, issued an hour ago.
    pub(crate) fn claims(&self, sub: &str, body: Body) -> Claims {
        Claims {
            sub: sub.to_string(),
            name: "test".into(),
            iat: self.now - 3600,
            body,
            ..Claims::default()
        }
    }

    /// The account JWT of `acc` (with its signing key), shaped by `f`,
    /// signed by the operator.
    pub(crate) fn account_jwt(&self, f: impl FnOnce(&mut Claims, &mut AccountClaims)) -> String {
        self.account_jwt_of(&self.acc.public.clone(), f)
    }

    /// An account JWT for any account key, shaped by `f`.
    pub(crate) fn account_jwt_of(
        &self,
        key: &str,
        f: impl FnOnce(&mut Claims, &mut AccountClaims),
    ) -> String {
        let mut a = AccountClaims::default();
        if key == self.acc.public {
            a.signing_keys
                .push(jwt::SigningKey::Key(self.acc_signer.public.clone()));
        }
        let mut c = self.claims(key, Body::Account(AccountClaims::default()));
        f(&mut c, &mut a);
        c.body = Body::Account(a);
        jwt::encode(&c, &self.op.seed).expect("account jwt")
    }

    /// A new user of `acc` signed by the account itself, shaped by `f`:
    /// its keys and JWT.
    pub(crate) fn user(&mut self, f: impl FnOnce(&mut Claims, &mut UserClaims)) -> (Keys, String) {
        let signer = self.acc.seed.clone();
        self.user_signed_by(&signer, f)
    }

    /// A new user signed by `signer_seed`, shaped by `f`.
    pub(crate) fn user_signed_by(
        &mut self,
        signer_seed: &str,
        f: impl FnOnce(&mut Claims, &mut UserClaims),
    ) -> (Keys, String) {
        let k = self.keys(PREFIX_USER);
        let mut u = UserClaims::default();
        let mut c = self.claims(&k.public, Body::User(UserClaims::default()));
        f(&mut c, &mut u);
        c.body = Body::User(u);
        let jwt = jwt::encode(&c, signer_seed).expect("user jwt");
        (k, jwt)
    }

    /// Trust options: the operator, a memory resolver, and the account
    /// and system account preloaded.
    pub(crate) fn options(&self, account_jwt: &str) -> TrustOptions {
        let mut preload = std::collections::BTreeMap::new();
        preload.insert(self.acc.public.clone(), account_jwt.to_string());
        preload.insert(
            self.sys.public.clone(),
            self.account_jwt_of(&self.sys.public.clone(), |_, _| {}),
        );
        TrustOptions {
            operators: vec![self.op_jwt.clone()],
            resolver: Resolver::Memory,
            preload,
            stored: Vec::new(),
        }
    }
}

/// New keys of a kind from `rng`.
pub(crate) fn keys(rng: &mut ChaCha8Rng, prefix: u8) -> Keys {
    let mut raw = [0u8; 32];
    rng.fill_bytes(&mut raw);
    let seed = jwt::seed_from_raw(prefix, &raw);
    let public = jwt::public_of_any_seed(&seed).expect("a valid seed");
    Keys { seed, public }
}
