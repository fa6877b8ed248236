//! User claims (`nats.type` = `user`): permissions, connection limits and
//! the bearer-token flag; the same shape is an account's default
//! permissions (the permission part) and a scoped signing key's template.

use serde::{Deserialize, Deserializer, Serialize};

/// Publish/subscribe permissions and the response permission. In JSON:
/// `pub: {allow, deny}`, `sub: {allow, deny}`, `resp: {max, ttl}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WirePermissions", into = "WirePermissions")]
pub struct Permissions {
    /// Subjects the user may publish to (empty: all, unless denied).
    pub pub_allow: Vec<String>,
    /// Subjects the user may not publish to.
    pub pub_deny: Vec<String>,
    /// Subjects (optionally `subject queue`) the user may subscribe to.
    pub sub_allow: Vec<String>,
    /// Subjects the user may not subscribe to.
    pub sub_deny: Vec<String>,
    /// Publishing to reply subjects of received requests.
    pub resp: Option<ResponsePermission>,
}

/// Allows publishing to the reply subjects of requests the user received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponsePermission {
    /// How many responses each request allows (`max`).
    #[serde(default)]
    pub max: i64,
    /// For how long, in nanoseconds (`ttl`, a Go duration).
    #[serde(default, rename = "ttl")]
    pub ttl_ns: i64,
}

/// A daily window in which the user may connect (`HH:MM:SS` each).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Start of the window.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub start: String,
    /// End of the window.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub end: String,
}

/// The NATS part of user claims (also a scoped signing key's template,
/// Go's `UserPermissionLimits`). The user's account is
/// [`Claims::issuer_account`](super::Claims::issuer_account) when a signing
/// key issued it, else the issuer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    /// What the user may publish and subscribe to.
    #[serde(flatten)]
    pub permissions: Permissions,
    /// Client addresses (CIDRs) allowed to connect (`src`); empty: any.
    /// Decoded from a JSON array or a comma-separated string.
    #[serde(
        default,
        deserialize_with = "cidr_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub src: Vec<String>,
    /// Daily windows for connecting (`times`); empty: any time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<TimeRange>,
    /// The IANA zone of `times` (`times_location`); empty: the server's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub times_location: String,
    /// Subscriptions, bytes and payload size of the user.
    #[serde(flatten)]
    pub limits: NatsLimits,
    /// The JWT alone is enough: no nonce signature needed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bearer_token: bool,
    /// Only through a proxy (`proxy_required`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub proxy_required: bool,
    /// Connection types allowed (`STANDARD`, `WEBSOCKET`, `LEAFNODE`,
    /// `MQTT`, ...); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_connection_types: Vec<String>,
}

impl Default for UserClaims {
    /// As Go's `NewUserClaims`: no permissions, no limits (-1).
    fn default() -> UserClaims {
        UserClaims {
            permissions: Permissions::default(),
            src: Vec::new(),
            times: Vec::new(),
            times_location: String::new(),
            limits: NatsLimits::default(),
            bearer_token: false,
            proxy_required: false,
            allowed_connection_types: Vec::new(),
        }
    }
}

impl UserClaims {
    /// Go's `HasEmptyPermissions`: nothing set at all (all zero), which a
    /// user issued by a scoped signing key must be.
    pub fn has_empty_permissions(&self) -> bool {
        *self
            == UserClaims {
                limits: NatsLimits::zero(),
                ..UserClaims::default()
            }
    }
}

/// Subscription, data and payload limits (Go's `NatsLimits`); -1: no
/// limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatsLimits {
    /// Most subscriptions.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub subs: i64,
    /// Most bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub data: i64,
    /// Largest payload.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub payload: i64,
}

impl Default for NatsLimits {
    /// No limits (-1), as Go's constructors set them.
    fn default() -> NatsLimits {
        NatsLimits {
            subs: super::NO_LIMIT,
            data: super::NO_LIMIT,
            payload: super::NO_LIMIT,
        }
    }
}

impl NatsLimits {
    /// All zero: what a JWT without these fields decodes to, as in Go.
    pub fn zero() -> NatsLimits {
        NatsLimits {
            subs: 0,
            data: 0,
            payload: 0,
        }
    }
}

/// One direction of [`Permissions`] as JSON.
#[derive(Clone, Default, Serialize, Deserialize)]
struct WirePermission {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deny: Vec<String>,
}

/// [`Permissions`] as JSON; `pub` and `sub` are always written (Go's
/// `omitempty` does not drop structs).
#[derive(Clone, Default, Serialize, Deserialize)]
struct WirePermissions {
    #[serde(default, rename = "pub")]
    publish: WirePermission,
    #[serde(default, rename = "sub")]
    subscribe: WirePermission,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resp: Option<ResponsePermission>,
}

impl From<WirePermissions> for Permissions {
    fn from(w: WirePermissions) -> Permissions {
        Permissions {
            pub_allow: w.publish.allow,
            pub_deny: w.publish.deny,
            sub_allow: w.subscribe.allow,
            sub_deny: w.subscribe.deny,
            resp: w.resp,
        }
    }
}

impl From<Permissions> for WirePermissions {
    fn from(p: Permissions) -> WirePermissions {
        WirePermissions {
            publish: WirePermission {
                allow: p.pub_allow,
                deny: p.pub_deny,
            },
            subscribe: WirePermission {
                allow: p.sub_allow,
                deny: p.sub_deny,
            },
            resp: p.resp,
        }
    }
}

/// Go's `CIDRList`: a JSON array as is, or a comma-separated string split,
/// trimmed, lowercased and deduplicated.
fn cidr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Shape::deserialize(d)? {
        Shape::List(l) => l,
        Shape::Text(t) => {
            let mut out: Vec<String> = Vec::new();
            for part in t.to_lowercase().split(',') {
                let part = part.trim().to_string();
                if !part.is_empty() && !out.contains(&part) {
                    out.push(part);
                }
            }
            out
        }
    })
}

pub(super) fn is_zero(n: &i64) -> bool {
    *n == 0
}

pub(super) fn is_false(b: &bool) -> bool {
    !*b
}
