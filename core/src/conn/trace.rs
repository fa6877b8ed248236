//! Protocol trace lines (`-V`, `trace: true`), worded as nats-server
//! writes them: `<<-` what the peer sent, `->>` what the server sent,
//! `<->` what changed in between, each prefixed with the peer and the
//! connection number (`cid:5`, `rid:7`). Formatting happens only when
//! trace logging is on.

use super::Conn;
use std::fmt;

impl Conn {
    /// `127.0.0.1:5555 - cid:5`: how log lines name this connection.
    pub(crate) fn label(&self) -> String {
        format!("{} - {}:{}", self.peer, self.policy().tag, self.cid)
    }

    /// `<<- [OP ARGS]`: an op the peer sent.
    pub(crate) fn trace_in(&self, op: fmt::Arguments<'_>) {
        tracing::trace!(
            "{} - {}:{} - <<- [{op}]",
            self.peer,
            self.policy().tag,
            self.cid
        );
    }

    /// `->> [OP ARGS]`: an op the server sent.
    pub(crate) fn trace_out(&self, op: fmt::Arguments<'_>) {
        tracing::trace!(
            "{} - {}:{} - ->> [{op}]",
            self.peer,
            self.policy().tag,
            self.cid
        );
    }

    /// `<-> [OP ARGS]`: a change the server made on its own (`DELSUB`).
    pub(crate) fn trace_change(&self, op: fmt::Arguments<'_>) {
        tracing::trace!(
            "{} - {}:{} - <-> [{op}]",
            self.peer,
            self.policy().tag,
            self.cid
        );
    }

    /// `<<- MSG_PAYLOAD: ["..."]`: the payload of a PUB or HPUB.
    pub(crate) fn trace_payload_in(&self, payload: &[u8]) {
        tracing::trace!(
            "{} - {}:{} - <<- MSG_PAYLOAD: [{}]",
            self.peer,
            self.policy().tag,
            self.cid,
            GoQuoted(payload)
        );
    }

    /// `->> MSG_PAYLOAD: ["..."]`: the payload of a MSG or HMSG.
    pub(crate) fn trace_payload_out(&self, payload: &[u8]) {
        tracing::trace!(
            "{} - {}:{} - ->> MSG_PAYLOAD: [{}]",
            self.peer,
            self.policy().tag,
            self.cid,
            GoQuoted(payload)
        );
    }
}

/// Bytes as Go's `%q` prints them, formatted lazily.
pub(crate) struct GoQuoted<'a>(pub(crate) &'a [u8]);

impl fmt::Display for GoQuoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::config::gofmt::quote(&String::from_utf8_lossy(
            self.0,
        )))
    }
}

/// Bytes as text, for op arguments (subjects, sids, JSON).
pub(crate) struct Text<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.0))
    }
}
