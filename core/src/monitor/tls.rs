//! The TLS fields `/varz` shows for the client port and for the cluster,
//! gateway and leaf blocks.

use super::go_float;
use super::timefmt::rfc3339_nano;
use crate::tls::TlsSettings;

/// `tls_timeout`, `tls_required`, `tls_verify` and `tls_cert_not_after`
/// of one block.
pub(crate) struct TlsVarz {
    /// The block's timeout, or `default` seconds without a block.
    pub(crate) timeout: serde_json::Value,
    pub(crate) required: bool,
    pub(crate) verify: bool,
    /// Empty without a certificate (Go's `omitzero`).
    pub(crate) not_after: String,
}

/// The fields of `tls` (`None`: no TLS). `verify_always`: routes and
/// gateways, which nats-server shows as verifying whenever TLS is on.
pub(crate) fn tls_varz(tls: Option<&TlsSettings>, verify_always: bool, default: f64) -> TlsVarz {
    match tls {
        None => TlsVarz {
            timeout: go_float(default),
            required: false,
            verify: false,
            not_after: String::new(),
        },
        Some(t) => TlsVarz {
            timeout: go_float(t.timeout.as_secs_f64()),
            required: true,
            verify: verify_always || t.verify,
            not_after: crate::tls::cert_not_after(&t.cert_pem)
                .map(|s| rfc3339_nano(i128::from(s) * 1_000_000_000))
                .unwrap_or_default(),
        },
    }
}
