//! Message tracing, the engine's part: reading a message's trace request
//! the same way for every connection kind, holding the one trace in
//! progress while the message goes out, and publishing its event when it
//! has gone everywhere. The events themselves and their JSON are the
//! router's (`router::trace`); each kind's code records its own ingress
//! and egress.

use super::{Ingress, Msg, Server};
use crate::account::AccountId;
use crate::ids::ConnId;
use crate::router::trace::headers::{self, TraceRequest};
use crate::router::trace::{MsgTrace, ServerFacts};
use crate::router::Origin;
use crate::time::Instant;
use bytes::Bytes;

/// What a message's headers ask of its delivery.
#[derive(Debug)]
pub(crate) enum TraceAsk {
    /// No trace: deliver as usual.
    None,
    /// Drop the message: a trace-only request that cannot be traced.
    Drop,
    /// Deliver as usual, with this message instead (its trace refused and
    /// its `Nats-Trace-Dest` rewritten to `trace disabled`).
    Disabled(Bytes, usize),
    /// Trace it: check that the sender may publish on the destination,
    /// then [`Server::start_trace`].
    Trace(TraceRequest),
}

/// The connection id the server's own publishes come from: no
/// connection has it, so nothing echoes or stalls on it.
pub(crate) const SERVER_PUBLISHER: ConnId = ConnId(u64::MAX);

impl Server {
    /// Reads the trace request of a message with `header_len` bytes of
    /// headers, as nats-server's `initMsgTrace` does for every kind: a
    /// `Nats-Trace-Origin-Account` header refuses the trace, and an
    /// invalid destination is logged and ignored (the message dropped if
    /// it was trace-only).
    ///
    /// A message that only a sampled `traceparent` asks to trace goes to
    /// the destination of the account's `msg_trace`, if it has one; when
    /// `sample` (a client's message), the account's sampling picks it, and
    /// one not picked goes on with its trace disabled, so no server after
    /// this one traces it either.
    pub(crate) fn ask_trace(
        &mut self,
        conn: ConnId,
        account: AccountId,
        sample: bool,
        header_len: usize,
        message: &Bytes,
    ) -> TraceAsk {
        if header_len == 0 {
            return TraceAsk::None;
        }
        let Some(mut request) = message.get(..header_len).and_then(headers::parse) else {
            return TraceAsk::None;
        };
        if request.origin_account {
            tracing::error!(
                "{} - Message tracing disabled because of header {:?}",
                self.conn_label(conn),
                String::from_utf8_lossy(headers::ORIGIN_ACCOUNT)
            );
            if request.only {
                return TraceAsk::Drop;
            }
            let (message, header_len) = headers::disable(message, header_len);
            return TraceAsk::Disabled(message, header_len);
        }
        if request.external {
            let name = &self.accounts[account.0 as usize].name;
            let Some(trace) = self.options.msg_traces.get(name) else {
                return TraceAsk::None;
            };
            let dest = Bytes::copy_from_slice(trace.dest.as_bytes());
            // nats-server's `rand.Int31n(100) <= sampling`; 0 and 100 are
            // always.
            let sampling = u64::from(trace.sampling);
            if sample && (1..100).contains(&sampling) && self.trace_rng.below(100) > sampling {
                let (message, header_len) = headers::disable(message, header_len);
                return TraceAsk::Disabled(message, header_len);
            }
            request.dest = dest;
        }
        if !crate::subject::is_valid_literal_subject(&request.dest) {
            tracing::error!(
                "{} - Destination {:?} is not valid, won't be able to trace events",
                self.conn_label(conn),
                String::from_utf8_lossy(&request.dest)
            );
            return if request.only {
                TraceAsk::Drop
            } else {
                TraceAsk::None
            };
        }
        TraceAsk::Trace(request)
    }

    /// Whether trace events may be published on `dest` in `account` at
    /// all: never on gateway-routed replies, nor on `$NRG.` outside the
    /// system account. The sender's own permissions are its kind's check.
    pub(crate) fn trace_dest_reserved(&self, account: AccountId, dest: &[u8]) -> bool {
        let system = self.accounts[account.0 as usize].name == self.options.system_account;
        dest.starts_with(b"$GNR.") || (dest.starts_with(b"$NRG.") && !system)
    }

    /// Starts the trace of the message now coming in: the kind's code
    /// built it with its ingress event.
    pub(crate) fn start_trace(&mut self, trace: MsgTrace) {
        self.msg_trace = Some(Box::new(trace));
    }

    /// The trace in progress, if the message going out is traced.
    pub(crate) fn tracing(&mut self) -> Option<&mut MsgTrace> {
        self.msg_trace.as_deref_mut()
    }

    /// How log lines name `conn`.
    pub(crate) fn conn_label(&self, conn: ConnId) -> String {
        self.conns
            .get(&conn)
            .map_or_else(|| conn.to_string(), |c| c.label())
    }

    /// Ends the trace in progress: publishes its event on its destination
    /// in `account`, as the server's own message (nats-server's internal
    /// account client: forwarded like a client's publish, with an empty
    /// reply that clients on this server see as a double space).
    #[inline]
    pub(crate) fn finish_trace(&mut self, account: AccountId, now: Instant) {
        if let Some(trace) = self.msg_trace.take() {
            self.publish_trace(&trace, account, now);
        }
    }

    /// Publishes the event of a finished trace.
    #[cold]
    fn publish_trace(&mut self, trace: &MsgTrace, account: AccountId, now: Instant) {
        self.system_seq += 1;
        let flags = self.options.feature_flags_shown();
        let name = if self.info.server_name.is_empty() {
            &self.info.server_id
        } else {
            &self.info.server_name
        };
        let facts = ServerFacts {
            name,
            host: &self.info.host,
            id: &self.info.server_id,
            cluster: self.cluster_name().unwrap_or_default(),
            version: &self.info.version,
            feature_flags: &flags,
            seq: self.system_seq,
            time: self.monitor.wall(now),
        };
        let (mut message, body) = trace.render(&facts);
        let header_len = message.len();
        message.extend_from_slice(&body);
        let message = Bytes::from(message);
        let empty = Bytes::new();
        let msg = Msg {
            subject: &trace.dest,
            reply: Some(&empty),
            header_len,
            message: &message,
        };
        let ingress = Ingress {
            origin: Origin::Client,
            conn: SERVER_PUBLISHER,
            named: b"",
            echo: true,
            origin_cluster: None,
            gateway_reply: false,
        };
        self.forward_message(&ingress, account, &msg, now);
    }
}
