//! Accounts that come from JWTs (operator mode): made when a user of
//! theirs first connects, with the imports their JWT declares (checked
//! against the exporter's JWT), their limits, and updates pushed through
//! the system account.

use crate::account::{Account, AccountId};
use crate::engine::Server;
use crate::events::{Action, TimerKey};
use crate::jwt::{AccountClaims, ExportKind, Import};
use crate::router::imports::ImportRoute;
use crate::subject;
use crate::time::Instant;
use crate::trust::AccountRefusal;
use bytes::Bytes;
use std::time::Duration;

impl Server {
    /// The wall clock at `now`, in unix seconds.
    pub(crate) fn wall_unix(&self, now: Instant) -> i64 {
        i64::try_from(self.monitor.wall(now).div_euclid(1_000_000_000)).unwrap_or(i64::MAX)
    }

    /// The engine's account for the account public key `key`, made (with
    /// its imports) the first time; `None` when the resolver does not
    /// know it.
    pub(crate) fn jwt_account(&mut self, key: &str, now: Instant) -> Option<AccountId> {
        if let Some(i) = self.accounts.iter().position(|a| a.name == key) {
            let id = AccountId(i as u32);
            if !self.jwt_registered.contains(&id) {
                self.jwt_registered.insert(id);
                self.register_jwt_imports(id, now);
                self.watch_account_expiry(id, now);
            }
            return Some(id);
        }
        self.trust.as_ref()?.account(key)?;
        let seed = self.hasher.hash_one(key);
        self.accounts.push(Account::new(key, seed));
        let id = AccountId((self.accounts.len() - 1) as u32);
        self.system_account_added(id);
        self.jwt_registered.insert(id);
        self.register_jwt_imports(id, now);
        self.watch_account_expiry(id, now);
        Some(id)
    }

    /// The account a route names: a known one, or in operator mode one
    /// the resolver knows, made now (nats-server's `LookupAccount`
    /// fetches it the same way, so a peer's interest and messages in an
    /// account none of our clients used yet are kept, not dropped).
    pub(crate) fn routed_account(&mut self, name: &[u8], now: Instant) -> Option<AccountId> {
        if let Some(id) = self.account_by_name(name) {
            return Some(id);
        }
        self.trust.as_ref()?;
        self.jwt_account(std::str::from_utf8(name).ok()?, now)
    }

    /// Sets (or clears) the timer for when `account`'s JWT expires.
    fn watch_account_expiry(&mut self, account: AccountId, now: Instant) {
        let name = &self.accounts[account.0 as usize].name;
        let expires = self
            .trust
            .as_ref()
            .and_then(|t| t.account(name))
            .map_or(0, |a| a.expires);
        if expires == 0 {
            self.timers.cancel(TimerKey::AccountExpiry(account));
            return;
        }
        let left = u64::try_from(expires - self.wall_unix(now)).unwrap_or(0);
        self.timers.set(
            TimerKey::AccountExpiry(account),
            now + Duration::from_secs(left),
        );
    }

    /// The account's connection limit (`limits.conn`), if it has one.
    pub(crate) fn account_connection_limit(&self, account: AccountId) -> Option<usize> {
        let name = &self.accounts.get(account.0 as usize)?.name;
        let acc = self.trust.as_ref()?.account(name)?;
        usize::try_from(acc.account.limits.conn).ok()
    }

    /// Takes an account JWT pushed through the system account (or found
    /// by a lookup): kept by the resolver, stored by the driver for
    /// resolvers with a directory, and applied to the account if it is
    /// in use. Returns the account's key.
    pub(crate) fn update_account_jwt(
        &mut self,
        jwt: &str,
        now: Instant,
    ) -> Result<String, AccountRefusal> {
        let trust = self.trust.as_mut().ok_or(AccountRefusal::Untrusted)?;
        let key = trust.update(jwt)?;
        if trust.resolver.stores() {
            self.actions.push_back(Action::StoreAccountJwt {
                account: key.clone(),
                jwt: jwt.trim().to_string(),
            });
        }
        if let Some(i) = self.accounts.iter().position(|a| a.name == key) {
            let id = AccountId(i as u32);
            if self.jwt_registered.contains(&id) {
                self.imports.retain(|r| r.importer != id);
                self.register_jwt_imports(id, now);
                self.watch_account_expiry(id, now);
            }
            self.jwt_account_changed(id, now);
        }
        Ok(key)
    }

    /// Adds the imports `importer`'s JWT declares whose exporter is known
    /// and exports them (an export that requires a token needs the
    /// import's activation token, issued by the exporter for the
    /// importer).
    fn register_jwt_imports(&mut self, importer: AccountId, now: Instant) {
        let Some(trust) = self.trust.as_ref() else {
            return;
        };
        let name = self.accounts[importer.0 as usize].name.clone();
        let Some(acc) = trust.account(&name) else {
            return;
        };
        let imports: Vec<Import> = acc.account.imports.clone();
        for imp in imports {
            let Some(exporter) = self.trust.as_ref().and_then(|t| t.account(&imp.account)) else {
                continue;
            };
            if !exports(&exporter.account, &imp, &name) {
                tracing::debug!(
                    "import of {:?} from {} into {name} not exported",
                    imp.offer.subject,
                    imp.account
                );
                continue;
            }
            let exporter_key = exporter.key.clone();
            let Some(exporter) = self.jwt_account(&exporter_key, now) else {
                continue;
            };
            // nats-server's reading of the import: `local_subject` names
            // it in the importer; without one, a stream's legacy `to` is
            // a prefix, and a service is published on `subject` and
            // delivered on `to` (when set) in the exporter.
            let service = imp.offer.kind == ExportKind::Service;
            let subject = &imp.offer.subject;
            let (exported, local, prefix) = match (service, imp.local_subject.is_empty()) {
                (_, false) => (subject, &imp.local_subject, ""),
                (true, true) if !imp.to.is_empty() => (&imp.to, subject, ""),
                (true, true) => (subject, subject, ""),
                (false, true) => (subject, subject, imp.to.as_str()),
            };
            let to = if local == exported {
                ""
            } else {
                local.as_str()
            };
            self.imports.push(ImportRoute {
                exporter,
                importer,
                subject: Bytes::from(exported.clone()),
                to: Bytes::copy_from_slice(to.as_bytes()),
                prefix: Bytes::copy_from_slice(prefix.as_bytes()),
                service,
            });
        }
    }
}

/// Whether `exporter` exports what `imp` imports to the account
/// `importer`: an export of the same kind whose subject covers the
/// import's, public or with an activation token naming the importer.
fn exports(exporter: &AccountClaims, imp: &Import, importer: &str) -> bool {
    exporter.exports.iter().any(|e| {
        e.offer.kind == imp.offer.kind
            && subject::matches(e.offer.subject.as_bytes(), imp.offer.subject.as_bytes())
            && (!e.token_req || activation_allows(&imp.token, importer, &imp.account))
    })
}

/// Whether an activation token allows `importer` to import from
/// `exporter`: a verified activation JWT the exporter (or one of its
/// signing keys, naming it as `issuer_account`) issued to the importer.
fn activation_allows(token: &str, importer: &str, exporter: &str) -> bool {
    let Ok(claims) = crate::jwt::decode(token) else {
        return false;
    };
    claims.body.type_name() == "activation"
        && claims.sub == importer
        && (claims.iss == exporter || claims.issuer_account == exporter)
}
