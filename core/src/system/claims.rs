//! Account claims and the account resolver's subjects: subscribed here
//! so the counts and interest match nats-server, answered by the
//! operator-mode (JWT) code.

use crate::engine::Server;
use crate::time::Instant;

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
    /// Whether the resolver's subjects are subscribed (operator mode with
    /// a full or cache resolver); without one, nats-server subscribes to
    /// the two `CLAIMS.UPDATE` subjects instead.
    pub(crate) fn resolver_subjects(&self) -> bool {
        false
    }

    /// A message on one of the claims subjects.
    pub(crate) fn claims_request(
        &mut self,
        which: ClaimsSubject,
        subject: &[u8],
        reply: Option<&[u8]>,
        payload: &[u8],
        now: Instant,
    ) {
        let _ = (which, subject, reply, payload, now);
    }
}
