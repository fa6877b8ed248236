//! A user JWT in a CONNECT (a client's or a leaf's) turned into what it
//! grants, in the order nats-server 2.15.1 checks it.

use super::{window, Trust};
use crate::jwt::{self, Body, UserClaims};
use crate::perms::{Entry, Permissions, Responses, Rule};
use core::net::IpAddr;
use std::time::Duration;

/// What a verified user JWT grants a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The user's public key (`sub`).
    pub user: String,
    /// The user JWT's `name`.
    pub name: String,
    /// The account's public key.
    pub account: String,
    /// The user's permissions (the account's default permissions when the
    /// JWT has none); `None`: unrestricted.
    pub permissions: Option<Permissions>,
    /// Whether the permissions are the account's defaults (they follow
    /// account updates).
    pub default_permissions: bool,
    /// The most subscriptions (user and account limits); `None`: the
    /// server's.
    pub max_subs: Option<usize>,
    /// The largest payload (user and account limits); `None`: the
    /// server's.
    pub max_payload: Option<usize>,
    /// When the grant ends (unix seconds: the JWT's expiry or the end of
    /// its connect-time window); `None`: never.
    pub ends_at: Option<i64>,
    /// The user JWT's `iat`, for revocations.
    pub issued_at: i64,
    /// The tags of the user JWT.
    pub tags: Vec<String>,
}

/// Why a user JWT was refused; every refusal is `Authorization
/// Violation` on the wire, the text is nats-server's log line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No JWT in CONNECT.
    Missing,
    /// It does not decode, verify, or is not a user JWT.
    Invalid,
    /// Expired, not yet valid, or otherwise blocking.
    NoLongerValid,
    /// Its account is unknown to the resolver.
    UnknownAccount,
    /// Its account's JWT is not signed by a trusted operator.
    UntrustedAccount,
    /// Its issuer is not the account or one of its signing keys.
    UnknownIssuer,
    /// A scoped signing key's rules are broken.
    Scope,
    /// The account JWT has expired.
    AccountExpired,
    /// A bearer token where the account refuses them.
    BearerRefused,
    /// Not allowed over this kind of connection.
    ConnectionType,
    /// No signature of the nonce.
    SignatureMissing,
    /// The signature does not verify.
    SignatureInvalid,
    /// The user was revoked.
    Revoked,
    /// Not from one of its `src` networks.
    Source,
    /// Outside its connect times.
    Times,
}

impl Refusal {
    /// nats-server's log line for this refusal.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::Missing => "Authentication requires a user JWT",
            Refusal::Invalid => "User JWT not valid",
            Refusal::NoLongerValid => "User JWT no longer valid",
            Refusal::UnknownAccount => "Account JWT lookup error",
            Refusal::UntrustedAccount => "Account JWT not signed by trusted operator",
            Refusal::UnknownIssuer => "User JWT issuer is not known",
            Refusal::Scope => "User JWT is not valid",
            Refusal::AccountExpired => "Account JWT has expired",
            Refusal::BearerRefused => "Account does not allow bearer tokens",
            Refusal::ConnectionType => "Connection type not allowed",
            Refusal::SignatureMissing => "Signature missing",
            Refusal::SignatureInvalid => "Signature not verified",
            Refusal::Revoked => "User authentication revoked",
            Refusal::Source => "Bad src Ip",
            Refusal::Times => "Outside connect times",
        }
    }
}

/// The connection types a user JWT may name (`allowed_connection_types`).
pub const CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

/// What the engine knows of the connection asking.
#[derive(Copy, Clone, Debug)]
pub struct Asker<'a> {
    /// The CONNECT's `jwt`.
    pub jwt: Option<&'a str>,
    /// The CONNECT's `sig`.
    pub sig: Option<&'a str>,
    /// The nonce the server sent.
    pub nonce: &'a str,
    /// Its connection type (one of [`CONNECTION_TYPES`]).
    pub conn_type: &'static str,
    /// The peer's address.
    pub ip: Option<IpAddr>,
    /// The wall clock, unix seconds.
    pub now_unix: i64,
    /// The `jwt_unsigned_accepted` mutation: the nonce's signature is
    /// not checked.
    #[cfg(feature = "mutations")]
    pub skip_nonce_check: bool,
}

impl Trust {
    /// Checks a user JWT as nats-server does, in its order: decode and
    /// validate, the account, the issuer (and a scoped key's template),
    /// the account's expiry and bearer rule, connection types, the
    /// nonce's signature (unless a bearer token), revocation, `src`,
    /// `times`.
    pub fn authenticate(&self, a: &Asker<'_>) -> Result<Grant, Refusal> {
        let text = a.jwt.filter(|j| !j.is_empty()).ok_or(Refusal::Missing)?;
        let claims = jwt::decode(text).map_err(|_| Refusal::Invalid)?;
        let Body::User(mut user) = claims.body.clone() else {
            return Err(Refusal::Invalid);
        };
        if claims.expired(a.now_unix) || claims.not_yet_valid(a.now_unix) {
            return Err(Refusal::NoLongerValid);
        }
        let issuer = if claims.issuer_account.is_empty() {
            claims.iss.as_str()
        } else {
            claims.issuer_account.as_str()
        };
        let acc = self.account(issuer).ok_or(Refusal::UnknownAccount)?;
        if !self.trusts(&acc.issuer) {
            return Err(Refusal::UntrustedAccount);
        }
        if claims.iss != acc.key {
            let key = acc
                .account
                .signing_key(&claims.iss)
                .ok_or(Refusal::UnknownIssuer)?;
            if let Some(scope) = key.scope() {
                // A scoped key's users carry nothing of their own: they
                // take the scope's template.
                if !user.has_empty_permissions() {
                    return Err(Refusal::Scope);
                }
                user = scope.template.clone();
            }
        }
        if acc.expired(a.now_unix) {
            return Err(Refusal::AccountExpired);
        }
        if user.bearer_token && acc.account.limits.disallow_bearer {
            return Err(Refusal::BearerRefused);
        }
        if !connection_type_allowed(&user.allowed_connection_types, a.conn_type) {
            return Err(Refusal::ConnectionType);
        }
        if !user.bearer_token {
            let sig = a
                .sig
                .filter(|s| !s.is_empty())
                .ok_or(Refusal::SignatureMissing)?;
            #[cfg(feature = "mutations")]
            let skip = a.skip_nonce_check;
            #[cfg(not(feature = "mutations"))]
            let skip = false;
            if !skip && !crate::auth::verify_nonce(&claims.sub, a.nonce.as_bytes(), sig) {
                return Err(Refusal::SignatureInvalid);
            }
        }
        if acc.account.is_revoked(&claims.sub, claims.iat) {
            return Err(Refusal::Revoked);
        }
        if !window::src_allows(&user.src, a.ip) {
            return Err(Refusal::Source);
        }
        let times: Vec<(String, String)> = user
            .times
            .iter()
            .map(|t| (t.start.clone(), t.end.clone()))
            .collect();
        let valid_for =
            window::times_allow(&times, &user.times_location, a.now_unix).ok_or(Refusal::Times)?;
        let window_end = (valid_for > 0).then(|| a.now_unix + valid_for);
        let jwt_end = (claims.exp > 0).then_some(claims.exp);
        let ends_at = match (window_end, jwt_end) {
            (Some(w), Some(j)) => Some(w.min(j)),
            (w, j) => w.or(j),
        };
        let own = user_permissions(&user);
        let default_permissions = own.is_none();
        let permissions = own.or_else(|| jwt_permissions(&acc.account.default_permissions));
        let limits = &acc.account.limits;
        Ok(Grant {
            user: claims.sub.clone(),
            name: claims.name.clone(),
            account: acc.key.clone(),
            permissions,
            default_permissions,
            max_subs: tighter(user.limits.subs, limits.nats.subs),
            max_payload: tighter(user.limits.payload, limits.nats.payload),
            ends_at,
            issued_at: claims.iat,
            tags: claims.tags.clone(),
        })
    }
}

/// The smaller of two JWT limits (-1, or any negative: none).
fn tighter(a: i64, b: i64) -> Option<usize> {
    let lim = |v: i64| usize::try_from(v).ok();
    match (lim(a), lim(b)) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// nats-server's rule: an empty list allows every type; types this
/// server does not know are dropped, and a list of only unknown types
/// refuses.
fn connection_type_allowed(types: &[String], conn_type: &str) -> bool {
    if types.is_empty() {
        return true;
    }
    let known: Vec<String> = types
        .iter()
        .map(|t| t.to_ascii_uppercase())
        .filter(|t| CONNECTION_TYPES.contains(&t.as_str()))
        .collect();
    !known.is_empty() && known.iter().any(|t| t == conn_type)
}

/// A user JWT's own permissions, `None` when it sets none.
fn user_permissions(u: &UserClaims) -> Option<Permissions> {
    jwt_permissions(&u.permissions)
}

/// Permissions from a JWT's `pub`/`sub`/`resp` (nats-server's
/// `buildPermissionsFromJwt`): `None` when none is set; a response
/// permission turns publishing off unless allowed explicitly.
pub fn jwt_permissions(p: &jwt::Permissions) -> Option<Permissions> {
    let rule = |allow: &[String], deny: &[String]| -> Option<Rule> {
        if allow.is_empty() && deny.is_empty() {
            return None;
        }
        let entries = |v: &[String]| v.iter().map(|e| Entry::parse(e)).collect::<Vec<_>>();
        Some(Rule {
            allow: (!allow.is_empty()).then(|| entries(allow)),
            deny: entries(deny),
        })
    };
    let mut publish = rule(&p.pub_allow, &p.pub_deny);
    let subscribe = rule(&p.sub_allow, &p.sub_deny);
    let responses = p.resp.as_ref().map(|r| {
        let publish = publish.get_or_insert_with(Rule::default);
        if publish.allow.is_none() {
            publish.allow = Some(Vec::new());
        }
        Responses {
            max: u64::try_from(r.max).ok().filter(|&m| m > 0).unwrap_or(1),
            expires: u64::try_from(r.ttl_ns)
                .ok()
                .filter(|&t| t > 0)
                .map_or(Duration::from_secs(120), Duration::from_nanos),
        }
    });
    if publish.is_none() && subscribe.is_none() && responses.is_none() {
        return None;
    }
    Some(Permissions {
        publish,
        subscribe,
        responses,
    })
}
