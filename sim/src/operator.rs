//! `--operator` worlds: every node runs in operator mode, trusting one
//! operator, with a system account and two or three accounts preloaded in
//! a memory resolver (the same JWTs on every node), and the virtual wall
//! clock told to every engine incarnation at its start.
//!
//! Every key comes from the seed (a stream no other mode reads, so the
//! rest of the seed is its plain twin's): no fixed keys. The workload's
//! clients log in with user JWTs of the accounts, signing the INFO's
//! nonce; a few rogue clients try logins the servers must refuse (a
//! wrong nonce signature, an expired user JWT, a user of an account
//! another operator signed).
//!
//! The checker keeps one subject space: the world names every subject a
//! client of account `A...` writes or reads `A....<subject>`, and route
//! interest of account `A...` the same way, so the reference model
//! matches within an account only, and a delivery across accounts is a
//! violation (checked directly too).

use crate::client_model::{ClientSpec, SubSpec};
use crate::rng::{stream_key, Purpose, SimRng};
use canopy_core::jwt::{self, AccountClaims, Body, Claims, UserClaims};
use canopy_core::nkey::{PREFIX_ACCOUNT, PREFIX_OPERATOR, PREFIX_USER};
use canopy_core::trust::{Resolver, TrustOptions};
use canopy_core::Instant;
use canopy_core::Options;
use std::collections::BTreeMap;
use std::time::Duration;

/// A user's credentials: its JWT and the seed that signs the nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The user JWT.
    pub jwt: String,
    /// The user's seed (`SU...`).
    pub seed: String,
    /// Sign something other than the nonce (a rogue login).
    pub wrong_sig: bool,
}

/// What a rogue login gets wrong.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rogue {
    /// The nonce's signature is not the nonce's.
    WrongSig,
    /// The user JWT expired before the world began.
    Expired,
    /// The user's account was signed by an operator no node trusts.
    Foreign,
}

/// The rogue kinds, in the order a rogue client's logins list them.
pub const ROGUES: [Rogue; 3] = [Rogue::WrongSig, Rogue::Expired, Rogue::Foreign];

/// A seed and its public key.
#[derive(Clone, Debug)]
struct Keys {
    seed: String,
    public: String,
}

/// The operator, its accounts and a way to mint users, drawn from a seed.
#[derive(Clone, Debug)]
pub struct OperatorPlan {
    seed: u64,
    next_key: u64,
    /// Unix seconds the JWTs are issued at (an hour before the world).
    iat: i64,
    operator: Keys,
    operator_jwt: String,
    /// The system account's public key.
    pub system: String,
    /// The workload's accounts' public keys.
    pub accounts: Vec<String>,
    account_keys: Vec<Keys>,
    preload: BTreeMap<String, String>,
}

/// Index of the first key stream (clients' and rogues' users come after).
const KEY_STREAM: u64 = 1 << 24;

impl OperatorPlan {
    /// An operator with a system account and two or three accounts.
    pub fn draw(seed: u64) -> OperatorPlan {
        let count = 2 + (stream_key(seed, Purpose::Operator, 0)[0] % 2) as usize;
        let wall = (crate::tls::WALL_BASE_SECS) as i64;
        let mut plan = OperatorPlan {
            seed,
            next_key: KEY_STREAM,
            iat: wall - 3600,
            operator: Keys {
                seed: String::new(),
                public: String::new(),
            },
            operator_jwt: String::new(),
            system: String::new(),
            accounts: Vec::new(),
            account_keys: Vec::new(),
            preload: BTreeMap::new(),
        };
        plan.operator = plan.keys(PREFIX_OPERATOR);
        let sys = plan.keys(PREFIX_ACCOUNT);
        plan.system = sys.public.clone();
        let mut claims = plan.claims(&plan.operator.public, "sim-operator");
        claims.body = Body::Operator(jwt::OperatorClaims {
            system_account: sys.public.clone(),
            ..Default::default()
        });
        plan.operator_jwt = jwt::encode(&claims, &plan.operator.seed).unwrap_or_default();
        let op_seed = plan.operator.seed.clone();
        let sys_jwt = plan.account_jwt(&sys.public, "SYS", &op_seed);
        plan.preload.insert(sys.public.clone(), sys_jwt);
        for i in 0..count {
            let k = plan.keys(PREFIX_ACCOUNT);
            let jwt = plan.account_jwt(&k.public, &format!("acc{i}"), &op_seed);
            plan.preload.insert(k.public.clone(), jwt);
            plan.accounts.push(k.public.clone());
            plan.account_keys.push(k);
        }
        plan
    }

    /// Puts every node in operator mode with the plan's JWTs.
    pub fn apply(&self, options: &mut [Options]) {
        for o in options {
            o.trust = Some(TrustOptions {
                operators: vec![self.operator_jwt.clone()],
                resolver: Resolver::Memory,
                preload: self.preload.clone(),
                stored: Vec::new(),
            });
            o.system_account = self.system.clone();
        }
    }

    /// A new user of account `account` (an index into `accounts`).
    pub fn user(&mut self, account: usize) -> Login {
        let signer = self.account_keys[account].seed.clone();
        self.user_signed_by(&signer, 0)
    }

    /// The logins a rogue client tries, one per [`ROGUES`] kind.
    pub fn rogue_logins(&mut self) -> Vec<Login> {
        ROGUES.iter().map(|&r| self.rogue(r)).collect()
    }

    /// One rogue login of kind `r`.
    pub fn rogue(&mut self, r: Rogue) -> Login {
        match r {
            Rogue::WrongSig => {
                let signer = self.account_keys[0].seed.clone();
                Login {
                    wrong_sig: true,
                    ..self.user_signed_by(&signer, 0)
                }
            }
            Rogue::Expired => {
                let signer = self.account_keys[0].seed.clone();
                // Expired a minute before the world began.
                let exp = self.iat + 3600 - 60;
                self.user_signed_by(&signer, exp)
            }
            Rogue::Foreign => {
                let other = self.keys(PREFIX_OPERATOR);
                let account = self.keys(PREFIX_ACCOUNT);
                // Signed by the other operator; no node has it either.
                let _ = self.account_jwt(&account.public, "foreign", &other.seed);
                self.user_signed_by(&account.seed, 0)
            }
        }
    }

    /// A short text for the run's summary line.
    pub fn describe(&self) -> String {
        format!("operator accounts={}", self.accounts.len())
    }

    /// The seed's next key of a kind.
    fn keys(&mut self, prefix: u8) -> Keys {
        let raw = stream_key(self.seed, Purpose::Operator, self.next_key);
        self.next_key += 1;
        let seed = jwt::seed_from_raw(prefix, &raw);
        let public = jwt::public_of_any_seed(&seed).unwrap_or_default();
        Keys { seed, public }
    }

    fn claims(&self, sub: &str, name: &str) -> Claims {
        Claims {
            sub: sub.to_string(),
            name: name.to_string(),
            iat: self.iat,
            ..Claims::default()
        }
    }

    fn account_jwt(&self, key: &str, name: &str, signer: &str) -> String {
        let mut c = self.claims(key, name);
        c.body = Body::Account(AccountClaims::default());
        jwt::encode(&c, signer).unwrap_or_default()
    }

    /// A new user signed by `signer` (an account seed), expiring at `exp`
    /// (0: never).
    fn user_signed_by(&mut self, signer: &str, exp: i64) -> Login {
        let k = self.keys(PREFIX_USER);
        let mut c = self.claims(&k.public, "sim-user");
        c.exp = exp;
        c.body = Body::User(UserClaims::default());
        Login {
            jwt: jwt::encode(&c, signer).unwrap_or_default(),
            seed: k.seed,
            wrong_sig: false,
        }
    }
}

/// Index of the operator stream the clients' accounts and the rogues are
/// drawn from.
const DRAW_STREAM: u64 = 1;

/// Gives every client of `world` (the workload's, already added) a user
/// of an account drawn for it, and adds one or two rogue clients at
/// random nodes of `nodes`; the subscriber of `heard` (a pair of a
/// subscriber and a publisher it hears) gets its publisher's account.
/// Returns the summary's text.
pub fn add_logins(
    world: &mut crate::world::World,
    plan: &mut OperatorPlan,
    seed: u64,
    nodes: usize,
    heard: Option<(usize, usize)>,
) -> String {
    let mut rng = SimRng::new(seed, Purpose::Operator, DRAW_STREAM);
    let clients = world.clients.len();
    let mut accounts: Vec<usize> = (0..clients)
        .map(|_| rng.below(plan.accounts.len() as u64) as usize)
        .collect();
    // A subscriber that hears a publisher shares its account, so every
    // run has deliveries owed.
    if let Some((sub, publisher)) = heard {
        accounts[sub] = accounts[publisher];
    }
    let mut drawn = Vec::with_capacity(clients);
    for (c, &account) in accounts.iter().enumerate() {
        world.clients[c].login = Some(plan.user(account));
        world.set_client_account(c, &plan.accounts[account]);
        drawn.push(account.to_string());
    }
    let rogues = rng.range(1, 2) as usize;
    for r in 0..rogues {
        let mut spec = ClientSpec::scripted(&format!("rogue{r}"));
        spec.subs.push(SubSpec {
            pattern: ">".to_string(),
            queue: None,
            respond: false,
        });
        spec.backoff = (Duration::from_millis(150), Duration::from_millis(600));
        let home = rng.below(nodes as u64) as usize;
        let client_rng = SimRng::new(seed, Purpose::Operator, DRAW_STREAM + 1 + r as u64);
        let rules = crate::workload::draw_link(&mut rng);
        let start = rng.duration(Duration::ZERO, Duration::from_millis(500));
        let idx = world.clients.len();
        world.add_client_to(home, spec, client_rng, rules, Instant::ZERO + start);
        world.clients[idx].rogue_logins = plan.rogue_logins();
        world.set_rogue(idx);
    }
    format!(
        " {} client-accounts=[{}] rogues={rogues}",
        plan.describe(),
        drawn.join(",")
    )
}

/// The CONNECT fields that log in with `login` given the INFO's `nonce`:
/// `,"jwt":"...","sig":"..."`.
pub fn connect_fields(login: &Login, nonce: &str) -> String {
    let signed = if login.wrong_sig {
        format!("{nonce}-not-the-nonce")
    } else {
        nonce.to_string()
    };
    let sig = canopy_core::auth::sign_nonce(&login.seed, signed.as_bytes()).unwrap_or_default();
    format!(",\"jwt\":\"{}\",\"sig\":\"{sig}\"", login.jwt)
}

/// The `nonce` of an INFO line's JSON, if it has one.
pub fn nonce_of(info: &[u8]) -> Option<String> {
    let key = b"\"nonce\":\"";
    let i = memchr::memmem::find(info, key)? + key.len();
    let rest = &info[i..];
    let end = memchr::memchr(b'"', rest)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// `subject` in account `account`'s part of the checker's subject space.
pub fn in_account(account: &str, subject: &str) -> String {
    format!("{account}.{subject}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_the_seeds() {
        let a = OperatorPlan::draw(5);
        let b = OperatorPlan::draw(5);
        assert_eq!(a.accounts, b.accounts);
        assert_eq!(a.preload, b.preload);
        assert!(a.accounts.len() >= 2);
        assert!(a.accounts.iter().all(|k| k.starts_with('A')));
        assert_ne!(OperatorPlan::draw(6).accounts, a.accounts);
    }

    #[test]
    fn nonce_is_read_from_info() {
        let info = br#"{"server_id":"X","nonce":"abc-DEF_1","auth_required":true}"#;
        assert_eq!(nonce_of(info).as_deref(), Some("abc-DEF_1"));
        assert_eq!(nonce_of(b"{}"), None);
    }
}
