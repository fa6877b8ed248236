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

    /// `<<- [RMSG acc subj ...]` (or `LMSG`, `HMSG`) and its payload: a
    /// message a route, leaf or gateway peer sent. `verb` is the op for a
    /// message without headers, `head` what comes before the subject (an
    /// account, or nothing), `queues` the queue list after `|` or `+
    /// reply`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn trace_msg_in(
        &self,
        verb: &str,
        head: Option<&[u8]>,
        subject: &[u8],
        reply: Option<&[u8]>,
        queues: &[u8],
        header_len: usize,
        message: &[u8],
    ) {
        let head = head.map(|h| format!("{} ", Text(h))).unwrap_or_default();
        let args = match (reply, queues.is_empty()) {
            (Some(r), true) => format!(" {}", Text(r)),
            (Some(r), false) => format!(" + {} {}", Text(r), Text(queues)),
            (None, false) => format!(" | {}", Text(queues)),
            (None, true) => String::new(),
        };
        if header_len > 0 {
            self.trace_in(format_args!(
                "HMSG {head}{}{args} {header_len} {}",
                Text(subject),
                message.len()
            ));
        } else {
            self.trace_in(format_args!(
                "{verb} {head}{}{args} {}",
                Text(subject),
                message.len()
            ));
        }
        self.trace_payload_in(message);
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
