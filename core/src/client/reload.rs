//! What a reload changes for clients already connected: each is checked
//! again against the new authorization, as nats-server 2.15.1 does.
//!
//! - A client whose user is gone from the configuration is closed
//!   silently (`/connz` reason "Client Closed").
//! - A client whose credentials no longer pass (a changed password or
//!   token) gets `-ERR 'Authorization Violation'` and is closed
//!   ("Authentication Failure"), with nats-server's error log line.
//! - A client that still passes takes the new permissions; each of its
//!   subscriptions they no longer allow is removed, with
//!   `-ERR 'Permissions Violation for Subscription to "s" (sid "1")'` and
//!   the `Removed sub ...` log line, in subscription order.

use crate::conn::ConnKind;
use crate::engine::Server;
use crate::events::CloseReason;
use crate::proto::ProtocolError;
use crate::sublist::Subscription;
use crate::time::Instant;
use std::sync::Arc;

impl Server {
    /// Re-checks every open client against the authorization in force
    /// (call after a reload replaced it).
    pub(crate) fn recheck_clients(&mut self, now: Instant) {
        for id in self.open_client_ids() {
            let Some(c) = self.conns.get(&id) else {
                continue;
            };
            let ConnKind::Client(cl) = &c.kind else {
                continue;
            };
            // Operator-mode clients follow their account's JWT instead.
            if cl.jwt.is_some() {
                continue;
            }
            let identity = self
                .client_authenticator(cl.websocket)
                .authenticate(&cl.opts, &cl.nonce);
            let account = identity
                .as_ref()
                .and_then(|i| self.accounts.iter().position(|a| a.name == i.account));
            let Some((identity, account)) = identity.zip(account) else {
                let name = cl
                    .opts
                    .user
                    .clone()
                    .or_else(|| cl.opts.nkey.clone())
                    .unwrap_or_default();
                let known = self.authenticator.users.contains_key(&name)
                    || self.authenticator.nkeys.contains_key(&name);
                let password_auth =
                    self.authenticator.users.is_empty() && self.authenticator.nkeys.is_empty();
                if known || password_auth {
                    tracing::error!(
                        "{} - cid:{} - authentication error - User \"{name}\"",
                        c.peer,
                        c.cid
                    );
                    self.fail_with(
                        id,
                        ProtocolError::AuthorizationViolation,
                        CloseReason::AuthenticationViolation,
                        now,
                    );
                } else {
                    self.close(id, CloseReason::ClientClosed, false, true, now);
                }
                continue;
            };
            if account != cl.account.0 as usize {
                // Moved to another account: its subscriptions would mean
                // other things there; it reconnects instead.
                self.close(id, CloseReason::ClientClosed, false, true, now);
                continue;
            }
            let user = identity.user.clone();
            let Some(cl) = self.conns.get_mut(&id).and_then(|c| c.client_mut()) else {
                continue;
            };
            cl.perms = identity.permissions;
            self.revoke_denied_subs(id, &user);
        }
    }

    /// Removes the subscriptions of client `conn` its (new) permissions
    /// deny, in subscription order.
    pub(super) fn revoke_denied_subs(&mut self, conn: crate::ids::ConnId, user: &str) {
        let Some(cl) = self.conns.get(&conn).and_then(|c| c.client()) else {
            return;
        };
        let Some(perms) = cl.perms.as_ref() else {
            return;
        };
        // Sorted below: map order never reaches the output.
        #[allow(clippy::disallowed_methods)]
        let mut revoked: Vec<Arc<Subscription>> = cl
            .subs
            .values()
            .filter(|s| !perms.can_subscribe(&s.subject, s.queue.as_deref()))
            .cloned()
            .collect();
        revoked.sort_unstable_by_key(|s| s.seq);
        for sub in revoked {
            self.revoke_sub(conn, &sub, user);
        }
    }

    /// Removes `sub` of client `conn`, which its new permissions deny.
    fn revoke_sub(&mut self, conn: crate::ids::ConnId, sub: &Arc<Subscription>, user: &str) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Client(cl) = &mut c.kind else {
            return;
        };
        if cl.subs.remove(&sub.sid).is_none() {
            return;
        }
        let account = cl.account;
        let what = crate::perms::subscribe_violation(&sub.subject, sub.queue.as_deref());
        let sid = String::from_utf8_lossy(&sub.sid);
        let removed = what.trim_start_matches("Permissions Violation for Subscription to ");
        tracing::info!(
            "Removed sub {removed} (sid \"{sid}\") for User \"{user}\" - not authorized"
        );
        c.out.push_err(&format!("{what} (sid \"{sid}\")"));
        self.mark_dirty(conn);
        self.unindex_sub(account, sub);
    }
}
