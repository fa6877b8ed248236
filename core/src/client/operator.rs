//! Clients in operator mode: the user JWT of a CONNECT checked by
//! [`crate::trust::Trust`], the account it binds the client to, the
//! account's connection limit, the user's limits, the expiry timer, and
//! what an account update does to clients already connected (revoked
//! users closed, default permissions replaced), as nats-server 2.15.1.

use crate::account::AccountId;
use crate::auth::Identity;
use crate::conn::ConnKind;
use crate::engine::Server;
use crate::events::TimerKey;
use crate::ids::ConnId;
use crate::proto::ProtocolError;
use crate::time::Instant;
use crate::trust::{Asker, Grant};
use std::time::Duration;

/// What a client's user JWT granted, kept for its lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JwtUser {
    /// The user's public key.
    pub(crate) user: String,
    /// The user JWT's `iat` (revocations compare with it).
    pub(crate) issued_at: i64,
    /// Whether its permissions are the account's defaults.
    pub(crate) default_permissions: bool,
    /// The most subscriptions; `None`: the server's limit.
    pub(crate) max_subs: Option<usize>,
    /// The largest payload; `None`: the server's limit.
    pub(crate) max_payload: Option<usize>,
}

impl Server {
    /// Operator mode: the identity a client's CONNECT proves with its user
    /// JWT, and what the JWT grants. `None`: refused (every refusal is an
    /// `Authorization Violation`; the reason goes to the debug log).
    pub(crate) fn jwt_client_identity(
        &mut self,
        conn: ConnId,
        now: Instant,
    ) -> Option<(Identity, Box<JwtUser>, Option<i64>)> {
        let now_unix = self.wall_unix(now);
        let trust = self.trust.as_ref()?;
        let c = self.conns.get(&conn)?;
        let cl = c.client()?;
        let asker = Asker {
            jwt: cl.opts.jwt.as_deref(),
            sig: cl.opts.sig.as_deref(),
            nonce: &cl.nonce,
            conn_type: if cl.websocket {
                "WEBSOCKET"
            } else {
                "STANDARD"
            },
            ip: Some(c.peer.ip()),
            now_unix,
            #[cfg(feature = "mutations")]
            skip_nonce_check: mutated!(self, jwt_unsigned_accepted),
        };
        let grant = match trust.authenticate(&asker) {
            Ok(g) => g,
            Err(why) => {
                tracing::debug!("{} - cid:{} - {}", c.peer, c.cid, why.text());
                return None;
            }
        };
        self.jwt_account(&grant.account, now)?;
        Some(split_grant(grant))
    }

    /// After a JWT client was bound to `account`: refuses it over the
    /// account's connection limit (`false`), else starts its expiry timer.
    pub(crate) fn jwt_client_admitted(
        &mut self,
        conn: ConnId,
        account: AccountId,
        ends_at: Option<i64>,
        now: Instant,
    ) -> bool {
        if let Some(max) = self.account_connection_limit(account) {
            let others = self
                .jwt_clients_in(account)
                .filter(|&id| id != conn)
                .count();
            if others >= max {
                self.fail(conn, ProtocolError::MaxAccountConnections, now);
                return false;
            }
        }
        if let Some(end) = ends_at {
            let left = u64::try_from(end - self.wall_unix(now)).unwrap_or(0);
            self.timers
                .set(TimerKey::AuthExpiry(conn), now + Duration::from_secs(left));
        }
        true
    }

    /// Re-checks the clients of `account` after its JWT changed: revoked
    /// users (and bearer users the account now refuses) are closed, users
    /// on the account's default permissions take the new ones and lose
    /// the subscriptions those deny.
    pub(crate) fn jwt_account_changed(&mut self, account: AccountId, now: Instant) {
        let Some(claims) = self
            .trust
            .as_ref()
            .and_then(|t| t.account(&self.accounts[account.0 as usize].name))
            .map(|a| a.account.clone())
        else {
            return;
        };
        let defaults = crate::trust::jwt_permissions(&claims.default_permissions);
        let ids: Vec<ConnId> = self.jwt_clients_in(account).collect();
        for id in ids {
            let Some(cl) = self.conns.get_mut(&id).and_then(|c| c.client_mut()) else {
                continue;
            };
            let Some(user) = cl.jwt.as_ref() else {
                continue;
            };
            if claims.is_revoked(&user.user, user.issued_at) {
                self.fail(id, ProtocolError::UserAuthRevoked, now);
                continue;
            }
            if !user.default_permissions {
                continue;
            }
            let name = user.user.clone();
            cl.perms = defaults.clone();
            self.revoke_denied_subs(id, &name);
        }
    }

    /// `account`'s JWT expired: its clients get `Account Authentication
    /// Expired` and are closed (a newer JWT that came since moved the
    /// timer, so this one is stale unless the account is expired now).
    pub(crate) fn jwt_account_expired(&mut self, account: AccountId, now: Instant) {
        let now_unix = self.wall_unix(now);
        let expired = self.trust.as_ref().is_some_and(|t| {
            t.account(&self.accounts[account.0 as usize].name)
                .is_some_and(|a| a.expired(now_unix))
        });
        if !expired {
            return;
        }
        let ids: Vec<ConnId> = self.jwt_clients_in(account).collect();
        for id in ids {
            self.fail(id, ProtocolError::AccountAuthExpired, now);
        }
    }

    /// The open clients bound to `account`, in connection order.
    fn jwt_clients_in(&self, account: AccountId) -> impl Iterator<Item = ConnId> + '_ {
        self.open_client_ids().into_iter().filter(move |id| {
            self.conns.get(id).is_some_and(
                |c| matches!(&c.kind, ConnKind::Client(cl) if cl.account == account && !c.closed),
            )
        })
    }
}

/// The identity, the state kept and the end of a grant.
fn split_grant(g: Grant) -> (Identity, Box<JwtUser>, Option<i64>) {
    let identity = Identity {
        user: g.user.clone(),
        account: g.account,
        permissions: g.permissions,
    };
    let user = Box::new(JwtUser {
        user: g.user,
        issued_at: g.issued_at,
        default_permissions: g.default_permissions,
        max_subs: g.max_subs,
        max_payload: g.max_payload,
    });
    (identity, user, g.ends_at)
}
