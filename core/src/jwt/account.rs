//! Account claims (`nats.type` = `account`): limits, imports and exports,
//! signing keys (plain or scoped), revoked users and default permissions.

use super::user::{is_false, is_zero, NatsLimits, Permissions, UserClaims};
use super::NO_LIMIT;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// The NATS part of account claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountClaims {
    /// What the account takes from other accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<Import>,
    /// What the account offers other accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<Export>,
    /// Limits (always written, as Go does).
    #[serde(default = "AccountLimits::zero")]
    pub limits: AccountLimits,
    /// Account keys (`A...`) besides the account's own that may sign its
    /// users, each plain or with a user scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<SigningKey>,
    /// Revoked users: public key (or `*` for all) to unix seconds; user
    /// JWTs issued at or before that time are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revocations: BTreeMap<String, i64>,
    /// Permissions of users whose JWT sets none (always written, as Go
    /// does).
    #[serde(default)]
    pub default_permissions: Permissions,
    /// A description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A URL with more information.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub info_url: String,
}

impl Default for AccountClaims {
    /// As Go's `NewAccountClaims`: no limits.
    fn default() -> AccountClaims {
        AccountClaims {
            imports: Vec::new(),
            exports: Vec::new(),
            limits: AccountLimits::default(),
            signing_keys: Vec::new(),
            revocations: BTreeMap::new(),
            default_permissions: Permissions::default(),
            description: String::new(),
            info_url: String::new(),
        }
    }
}

impl AccountClaims {
    /// Whether a user JWT for `user_pub` issued at `iat` (unix seconds) is
    /// revoked: its key, or `*`, is listed with a time at or after `iat`
    /// (nats-server's rule).
    pub fn is_revoked(&self, user_pub: &str, iat: i64) -> bool {
        let at_or_after = |key: &str| self.revocations.get(key).is_some_and(|&t| t >= iat);
        at_or_after(user_pub) || at_or_after("*")
    }

    /// The signing key `public`, if the account lists it.
    pub fn signing_key(&self, public: &str) -> Option<&SigningKey> {
        self.signing_keys.iter().rev().find(|k| k.key() == public)
    }
}

/// Account limits (`nats.limits`); -1 is no limit. JetStream limits are
/// not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLimits {
    /// Subscriptions, bytes and payload size of the account.
    #[serde(flatten)]
    pub nats: NatsLimits,
    /// Most imports.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub imports: i64,
    /// Most exports.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exports: i64,
    /// Whether exports may use wildcards.
    #[serde(default, skip_serializing_if = "is_false")]
    pub wildcards: bool,
    /// Users may not be bearer tokens.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disallow_bearer: bool,
    /// Most client connections.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conn: i64,
    /// Most leaf node connections.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub leaf: i64,
}

impl Default for AccountLimits {
    /// As Go's `NewAccountClaims`: every limit -1, wildcard exports allowed.
    fn default() -> AccountLimits {
        AccountLimits {
            nats: NatsLimits::default(),
            imports: NO_LIMIT,
            exports: NO_LIMIT,
            wildcards: true,
            disallow_bearer: false,
            conn: NO_LIMIT,
            leaf: NO_LIMIT,
        }
    }
}

impl AccountLimits {
    /// All zero: what a JWT without `limits` decodes to, as in Go.
    pub fn zero() -> AccountLimits {
        AccountLimits {
            nats: NatsLimits::zero(),
            imports: 0,
            exports: 0,
            wildcards: false,
            disallow_bearer: false,
            conn: 0,
            leaf: 0,
        }
    }
}

/// Whether an import or export is of messages or of requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExportKind {
    /// Not set (invalid; omitted when encoding).
    #[default]
    Unknown,
    /// `stream`: messages flow to the importer.
    Stream,
    /// `service`: the importer sends requests.
    Service,
}

impl ExportKind {
    fn is_unknown(&self) -> bool {
        *self == ExportKind::Unknown
    }
}

impl Serialize for ExportKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            ExportKind::Stream => "stream",
            ExportKind::Service => "service",
            ExportKind::Unknown => "unknown",
        })
    }
}

impl<'de> Deserialize<'de> for ExportKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ExportKind, D::Error> {
        match String::deserialize(d)?.as_str() {
            "stream" => Ok(ExportKind::Stream),
            "service" => Ok(ExportKind::Service),
            other => Err(D::Error::custom(format!("unknown export type {other:?}"))),
        }
    }
}

/// What an import or export is about (fields of both in JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// A name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The subject (an import's is the exporter's subject).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Stream or service (`type`).
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "ExportKind::is_unknown"
    )]
    pub kind: ExportKind,
}

/// A stream or service taken from another account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// The name, the exporter's subject, and stream or service.
    #[serde(flatten)]
    pub offer: Offer,
    /// The exporting account's public key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
    /// An activation JWT, for exports that require one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// Deprecated local prefix (streams) or subject (services).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    /// The subject in the importing account (may use `$1`-style
    /// references to the subject's wildcards).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub local_subject: String,
    /// Share the requester's connection details with the service.
    #[serde(default, skip_serializing_if = "is_false")]
    pub share: bool,
    /// Let message traces cross into the exporter.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_trace: bool,
}

/// A stream or service offered to other accounts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// The name, the exported subject, and stream or service.
    #[serde(flatten)]
    pub offer: Offer,
    /// Importers need an activation token.
    #[serde(default, skip_serializing_if = "is_false")]
    pub token_req: bool,
    /// Revoked activations: account key (or `*`) to unix seconds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub revocations: BTreeMap<String, i64>,
    /// `Singleton` (default), `Stream` or `Chunked` responses.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response_type: String,
    /// How long a service waits for responses, in nanoseconds
    /// (`response_threshold`, a Go duration).
    #[serde(
        default,
        rename = "response_threshold",
        skip_serializing_if = "is_zero"
    )]
    pub response_threshold_ns: i64,
    /// The 1-based token of the subject that must be the importer's
    /// account key; 0: none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub account_token_position: u64,
    /// Listed for discovery.
    #[serde(default, skip_serializing_if = "is_false")]
    pub advertise: bool,
    /// Let message traces cross into importers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_trace: bool,
    /// A description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A URL with more information.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub info_url: String,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// A key that may sign the account's users: plain, or scoped (users it
/// signs get the scope's template instead of their own permissions). In
/// JSON a plain key is a string, a scope an object with `kind`
/// `user_scope`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningKey {
    /// A plain signing key.
    Key(String),
    /// A signing key with a user scope.
    Scoped(Box<UserScope>),
}

impl SigningKey {
    /// The public key.
    pub fn key(&self) -> &str {
        match self {
            SigningKey::Key(k) => k,
            SigningKey::Scoped(s) => &s.key,
        }
    }

    /// The scope, if any.
    pub fn scope(&self) -> Option<&UserScope> {
        match self {
            SigningKey::Key(_) => None,
            SigningKey::Scoped(s) => Some(s),
        }
    }
}

/// A scoped signing key: users it signs take `template`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserScope {
    /// The public key.
    #[serde(default)]
    pub key: String,
    /// A role name.
    #[serde(default)]
    pub role: String,
    /// The permissions and limits of users signed with it.
    #[serde(default)]
    pub template: UserClaims,
    /// A description.
    #[serde(default)]
    pub description: String,
}

impl Serialize for SigningKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SigningKey::Key(k) => s.serialize_str(k),
            SigningKey::Scoped(scope) => {
                #[derive(Serialize)]
                struct Tagged<'a> {
                    kind: &'static str,
                    #[serde(flatten)]
                    scope: &'a UserScope,
                }
                Tagged {
                    kind: "user_scope",
                    scope: scope.as_ref(),
                }
                .serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for SigningKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SigningKey, D::Error> {
        let mut v = serde_json::Value::deserialize(d)?;
        if let Some(k) = v.as_str() {
            return Ok(SigningKey::Key(k.to_string()));
        }
        let Some(obj) = v.as_object_mut() else {
            return Err(D::Error::custom("signing key is not a string or object"));
        };
        if obj.get("kind").and_then(|k| k.as_str()) != Some("user_scope") {
            return Err(D::Error::custom("unknown signing key scope"));
        }
        // Go starts a scope's template with no limits (-1) before decoding.
        let template = obj
            .entry("template")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(t) = template.as_object_mut() {
            for field in ["subs", "data", "payload"] {
                t.entry(field).or_insert(NO_LIMIT.into());
            }
        }
        serde_json::from_value(v)
            .map(|s| SigningKey::Scoped(Box::new(s)))
            .map_err(D::Error::custom)
    }
}
