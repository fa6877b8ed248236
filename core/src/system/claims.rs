//! Account claims and the account resolver's subjects: subscribed here
//! so the counts and interest match nats-server, answered by the
//! operator-mode (JWT) code.

use crate::engine::Server;
use crate::events::TimerKey;
use crate::time::Instant;
use crate::trust::Resolver;
use bytes::Bytes;

/// Which claims subject a request came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClaimsSubject {
    /// `$SYS.ACCOUNT.*.CLAIMS.UPDATE` (nats-server's old update event).
    UpdateOld,
    /// `$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE`.
    Update,
    /// `$SYS.REQ.CLAIMS.UPDATE` (resolver).
    UpdateAny,
    /// `$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP` (resolver).
    Lookup,
    /// `$SYS.REQ.CLAIMS.PACK` (resolver).
    Pack,
    /// `$SYS.REQ.CLAIMS.LIST` (resolver).
    List,
    /// `$SYS.REQ.CLAIMS.DELETE` (resolver).
    Delete,
    /// The full resolver's inbox for the packs its sync asks for.
    PackReply,
}

impl ClaimsSubject {
    /// The subjects only a resolver subscribes to.
    pub(crate) const RESOLVER: [(ClaimsSubject, &'static str); 5] = [
        (ClaimsSubject::UpdateAny, "$SYS.REQ.CLAIMS.UPDATE"),
        (ClaimsSubject::Lookup, "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP"),
        (ClaimsSubject::Pack, "$SYS.REQ.CLAIMS.PACK"),
        (ClaimsSubject::List, "$SYS.REQ.CLAIMS.LIST"),
        (ClaimsSubject::Delete, "$SYS.REQ.CLAIMS.DELETE"),
    ];
}

impl Server {
    /// Whether the resolver's subjects are subscribed: operator mode with
    /// a `full` resolver (nats-server's `DirAccResolver`); without one,
    /// only the two `CLAIMS.UPDATE` subjects are.
    pub(crate) fn resolver_subjects(&self) -> bool {
        self.trust
            .as_ref()
            .is_some_and(|t| matches!(t.resolver, Resolver::Full { .. }))
    }

    /// A message on one of the claims subjects, answered as nats-server
    /// answers it: updates (kept when newer, applied to the account if
    /// it is in use), lookups, lists and packs of the full resolver.
    pub(crate) fn claims_request(
        &mut self,
        which: ClaimsSubject,
        subject: &[u8],
        reply: Option<&[u8]>,
        payload: &[u8],
        now: Instant,
    ) {
        // Resolvers that keep JWTs (full, cache) take every update;
        // otherwise only accounts in use are updated.
        let stores = self.trust.as_ref().is_some_and(|t| t.resolver.stores());
        let named = |i: usize| {
            std::str::from_utf8(subject)
                .ok()
                .and_then(|s| s.split('.').nth(i))
                .map(str::to_string)
        };
        let text = String::from_utf8_lossy(payload);
        match which {
            ClaimsSubject::Update | ClaimsSubject::UpdateOld => {
                let index = if which == ClaimsSubject::Update { 3 } else { 2 };
                let Some(key) = named(index) else {
                    return;
                };
                let answer = self.claims_update(Some(&key), &text, stores, now);
                self.claims_answer(reply, answer, now);
            }
            ClaimsSubject::UpdateAny => {
                let answer = self.claims_update(None, &text, true, now);
                self.claims_answer(reply, answer, now);
            }
            ClaimsSubject::Lookup => {
                let (Some(reply), Some(key)) = (reply, named(3)) else {
                    return;
                };
                let jwt = self
                    .trust
                    .as_ref()
                    .and_then(|t| t.account(&key))
                    .map(|a| a.jwt.clone().into_bytes())
                    .unwrap_or_default();
                self.claims_publish(reply, jwt, now);
            }
            ClaimsSubject::List => {
                let Some(reply) = reply else {
                    return;
                };
                let keys: Vec<&String> = self
                    .trust
                    .as_ref()
                    .map(|t| t.accounts.keys().collect())
                    .unwrap_or_default();
                let json = serde_json::to_string(&keys).unwrap_or_default();
                let body = self.envelope("data", &json, now);
                self.claims_publish(reply, body, now);
            }
            ClaimsSubject::PackReply => {
                // `key|jwt` lines, each kept if newer; an empty message
                // ends the pack.
                for line in text.lines() {
                    if let Some((_, jwt)) = line.split_once('|') {
                        let _ = self.update_account_jwt(jwt, now);
                    }
                }
            }
            ClaimsSubject::Pack => {
                // Every account as `key|jwt` lines, then the empty
                // message that ends a pack (the asker keeps what is
                // newer than its own); nothing but the end when the
                // asker's hash is ours.
                let Some(reply) = reply else {
                    return;
                };
                if payload == self.resolver_hash() {
                    self.claims_publish(reply, Vec::new(), now);
                    return;
                }
                let pack: Vec<String> = self
                    .trust
                    .as_ref()
                    .map(|t| {
                        t.accounts
                            .iter()
                            .map(|(k, a)| format!("{k}|{}", a.jwt))
                            .collect()
                    })
                    .unwrap_or_default();
                if !pack.is_empty() {
                    self.claims_publish(reply, pack.join("\n").into_bytes(), now);
                }
                self.claims_publish(reply, Vec::new(), now);
            }
            ClaimsSubject::Delete => {
                let allowed = self.trust.as_ref().is_some_and(|t| {
                    matches!(
                        t.resolver,
                        Resolver::Full {
                            allow_delete: true,
                            ..
                        }
                    )
                });
                let why = if allowed {
                    "account deletion is not supported by canopy"
                } else {
                    "delete must be enabled in server config"
                };
                let answer =
                    Answer::Failed(String::new(), "delete accounts request failed", why.into());
                self.claims_answer(reply, answer, now);
            }
        }
    }

    /// An account made after start (operator mode, its first user): the
    /// system's service imports into it, as nats-server registers them
    /// for every account.
    pub(crate) fn system_account_added(&mut self, account: crate::account::AccountId) {
        if self.system.account.is_none_or(|sys| sys == account) {
            return;
        }
        for s in super::subs::import_subs() {
            self.system_subscribe(account, s);
        }
    }

    /// A full resolver's inbox for pack replies
    /// (`$SYS._INBOX.<hash>.<8 random>`), made once at start; `None`
    /// without a full resolver.
    pub(crate) fn resolver_pack_inbox(&mut self, hash: &str) -> Option<String> {
        if !self.resolver_subjects() {
            return None;
        }
        let suffix = self.system_token(8);
        let inbox = format!("$SYS._INBOX.{hash}.{suffix}");
        if let Some(t) = self.trust.as_mut() {
            t.pack_inbox = inbox.clone();
        }
        Some(inbox)
    }

    /// Starts the full resolver's sync timer (the first round after one
    /// `interval`, as nats-server's ticker).
    pub(crate) fn start_resolver_sync(&mut self, now: Instant) {
        if let Some(every) = self.resolver_interval() {
            self.timers.set(TimerKey::ResolverSync, now + every);
        }
    }

    /// Asks the cluster for a pack of the accounts this server lacks
    /// (`$SYS.REQ.CLAIMS.PACK` with this store's hash; one server
    /// answers), then waits another `interval`.
    pub(crate) fn resolver_sync_timer(&mut self, now: Instant) {
        let Some(every) = self.resolver_interval() else {
            return;
        };
        self.timers.set(TimerKey::ResolverSync, now + every);
        let (Some(sys), Some(t)) = (self.system.account, self.trust.as_ref()) else {
            return;
        };
        let inbox = Bytes::from(t.pack_inbox.clone());
        let hash = self.resolver_hash();
        self.system_publish_with_reply(sys, b"$SYS.REQ.CLAIMS.PACK", Some(&inbox), hash, now);
    }

    /// The full resolver's sync interval.
    fn resolver_interval(&self) -> Option<std::time::Duration> {
        match self.trust.as_ref().map(|t| &t.resolver) {
            Some(Resolver::Full { interval, .. }) => Some(*interval),
            _ => None,
        }
    }

    /// nats-server's store hash: the XOR of every JWT's SHA-256.
    fn resolver_hash(&self) -> Vec<u8> {
        use sha2::Digest;
        let mut hash = [0u8; 32];
        for acc in self.trust.iter().flat_map(|t| t.accounts.values()) {
            let sum = sha2::Sha256::digest(acc.jwt.as_bytes());
            for (h, b) in hash.iter_mut().zip(sum.iter()) {
                *h ^= b;
            }
        }
        hash.to_vec()
    }

    /// An account JWT pushed for `key` (or for whatever account it names):
    /// nats-server's `DirAccResolver` keeps it (`store`), its
    /// `accountClaimUpdate` only applies it to an account in use.
    fn claims_update(
        &mut self,
        key: Option<&str>,
        text: &str,
        store: bool,
        now: Instant,
    ) -> Answer {
        let (verb, failed) = if store {
            ("jwt updated", "jwt update resulted in error")
        } else {
            ("jwt updated", "jwt update error")
        };
        let named = key.map(str::to_string);
        let fail = |key: Option<String>, why: String| {
            Answer::Failed(key.unwrap_or_else(|| "n/a".into()), failed, why)
        };
        if text.trim().is_empty() {
            return fail(named, "request body is empty".into());
        }
        let claims = match crate::jwt::decode(text) {
            Ok(c) if c.is_account() => c,
            Ok(_) => return fail(Some("n/a".into()), "not an account JWT".into()),
            Err(e) => return fail(Some("n/a".into()), e.to_string()),
        };
        if named.as_ref().is_some_and(|k| *k != claims.sub) {
            return fail(named, "subject does not match jwt content".into());
        }
        let key = claims.sub.clone();
        let in_use = self.accounts.iter().any(|a| a.name == key);
        if !store && !in_use {
            return Answer::Done(key, "jwt update skipped");
        }
        match self.update_account_jwt(text, now) {
            Ok(_) => Answer::Done(key, verb),
            Err(e) => fail(Some(key), e.to_string()),
        }
    }

    /// Replies to a claims request with nats-server's envelope:
    /// `{"server":{...},"data":{"account","code":200,"message"}}` or
    /// `"error":{"account","code":500,"description"}`.
    fn claims_answer(&mut self, reply: Option<&[u8]>, answer: Answer, now: Instant) {
        let Some(reply) = reply else {
            return;
        };
        let (key, json) = match answer {
            Answer::Done(account, message) => (
                "data",
                serde_json::json!({"account": account, "code": 200, "message": message}),
            ),
            Answer::Failed(account, message, why) => {
                let mut m =
                    serde_json::json!({"code": 500, "description": format!("{message} - {why}")});
                if !account.is_empty() {
                    m["account"] = account.into();
                }
                ("error", m)
            }
        };
        let body = self.envelope(key, &json.to_string(), now);
        self.claims_publish(reply, body, now);
    }

    /// Publishes `body` on `reply` from the system account.
    fn claims_publish(&mut self, reply: &[u8], body: Vec<u8>, now: Instant) {
        if let Some(sys) = self.system.account {
            self.system_publish(sys, reply, body, now);
        }
    }
}

/// How a claims request went.
enum Answer {
    /// Done: the account and the message.
    Done(String, &'static str),
    /// Failed: the account (empty: none), the message and the reason.
    Failed(String, &'static str, String),
}
