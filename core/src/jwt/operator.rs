//! Operator claims (`nats.type` = `operator`): the root of trust in
//! operator mode, self-signed, naming the keys that may sign accounts.

use super::user::is_false;
use serde::{Deserialize, Serialize};

/// The NATS part of operator claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorClaims {
    /// Operator keys (`O...`) besides the operator's own that may sign
    /// account JWTs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<String>,
    /// The system account's public key (`A...`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    /// Where account JWTs can be looked up (URL resolver).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_server_url: String,
    /// URLs of the operator's NATS servers (`nats://`, `tls://`, `ws://`,
    /// `wss://`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_service_urls: Vec<String>,
    /// The lowest server version (`major.minor.update`) that may trust it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub assert_server_version: String,
    /// The operator's own key may not sign accounts, only its signing
    /// keys may.
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict_signing_key_usage: bool,
}

impl OperatorClaims {
    /// Whether `issuer` may sign an account of this operator whose subject
    /// is `subject` (Go's `DidSign`).
    pub fn did_sign(&self, own_key: &str, issuer: &str, subject: &str) -> bool {
        if issuer == own_key {
            return !self.strict_signing_key_usage || subject == own_key;
        }
        self.signing_keys.iter().any(|k| k == issuer)
    }
}
