//! Imports between accounts: streams to their importers, service
//! requests to their exporter with the reply rewritten to `_R_...`, and
//! the responses back.

use crate::account::AccountId;
use crate::engine::{Ingress, Msg, Server, ALPHANUMERIC};
use crate::ids::ConnId;
use crate::router::trace::headers as trace_headers;
use crate::router::{may_forward, Dest, ImportLeg, LinkFacts, MsgFacts, Origin};
use crate::subject;
use crate::time::Instant;
use bytes::Bytes;
use std::time::Duration;

/// How long a rewritten service-import reply waits for its answer.
const SERVICE_REPLY_TTL: Duration = Duration::from_secs(120);

/// One import, resolved to account ids.
#[derive(Debug)]
pub(crate) struct ImportRoute {
    pub(crate) exporter: AccountId,
    pub(crate) importer: AccountId,
    /// The subject in the exporter's namespace.
    pub(crate) subject: Bytes,
    /// The subject in the importer's namespace, when renamed.
    pub(crate) to: Bytes,
    /// Stream prefix in the importer.
    pub(crate) prefix: Bytes,
    pub(crate) service: bool,
}

impl ImportRoute {
    /// The importer's name for an exporter-side subject (streams).
    pub(crate) fn to_importer(&self, subject: &[u8]) -> Bytes {
        if !self.prefix.is_empty() {
            let mut v = self.prefix.to_vec();
            v.push(b'.');
            v.extend_from_slice(subject);
            return Bytes::from(v);
        }
        if !self.to.is_empty() && subject::is_valid_literal_subject(&self.subject) {
            return self.to.clone();
        }
        Bytes::copy_from_slice(subject)
    }

    /// The importer-side pattern a service request is published on.
    pub(crate) fn importer_pattern(&self) -> &Bytes {
        if self.to.is_empty() {
            &self.subject
        } else {
            &self.to
        }
    }

    /// The exporter's name for an importer-side request subject.
    pub(crate) fn to_exporter(&self, subject: &[u8]) -> Bytes {
        if !self.to.is_empty() && subject::is_valid_literal_subject(&self.subject) {
            return self.subject.clone();
        }
        Bytes::copy_from_slice(subject)
    }
}

impl Server {
    /// Carries a message published in `account` across accounts: streams
    /// it exports to their importers, service requests it imports to their
    /// exporter (with the reply rewritten to `_R_...`), and responses to
    /// such rewritten replies back to the requester. Returns deliveries.
    ///
    /// Only the server a client published on (or the hub its spoke sent
    /// the request up to) maps service requests: a message from any other
    /// origin only feeds streams and responses here. Each hop is forwarded as the matrix says for
    /// [`Origin::Internal`]: a service request mapped here also goes to the
    /// routes with interest in the exporter (its responders may be
    /// elsewhere); stream hops and responses stay local.
    pub(crate) fn cross_accounts(
        &mut self,
        origin: Origin,
        conn: ConnId,
        account: AccountId,
        msg: &Msg<'_>,
        now: Instant,
    ) -> usize {
        // A client's request, or one a spoke sent up (its own server had
        // no such import), is mapped here.
        let maps_services = matches!(origin, Origin::Client | Origin::LeafHub);
        // Each hop is a message of this server's own.
        let internal = Ingress {
            origin: Origin::Internal,
            conn,
            named: b"",
            echo: true,
            origin_cluster: None,
            gateway_reply: false,
        };
        let mut delivered = 0;
        // A response to a rewritten reply: back to the importer, once.
        if msg.subject.starts_with(b"_R_.") {
            if let Some((importer, reply, _)) = self.service_replies.remove(msg.subject) {
                let fwd = Msg {
                    subject: &reply,
                    reply: None,
                    header_len: msg.header_len,
                    message: msg.message,
                };
                let matches = self.accounts[importer.0 as usize].sublist.matches(&reply);
                delivered += self.deliver_matches(&internal, &matches, &fwd, now);
                if !self.leafs.links.is_empty() {
                    delivered += self.send_to_leafs(&internal, importer, &fwd, now);
                }
            }
        }
        // (target account, subject there, whether a service request)
        let mut hops: Vec<(AccountId, Bytes, bool)> = Vec::new();
        for route in &self.imports {
            if !route.service
                && route.exporter == account
                && subject::matches(&route.subject, msg.subject)
            {
                hops.push((route.importer, route.to_importer(msg.subject), false));
            } else if route.service
                && maps_services
                && route.importer == account
                && subject::matches(route.importer_pattern(), msg.subject)
            {
                hops.push((route.exporter, route.to_exporter(msg.subject), true));
            }
        }
        for (target, subject, service) in hops {
            // A traced message notes the hop; the delivery behind it is not
            // traced (Canopy has no `allow_trace` yet): a trace-only message
            // stops here, and a service request goes on with its trace
            // disabled, so no server behind it traces it either.
            let mut paused = None;
            let mut untraced = None;
            if let Some(t) = self.msg_trace.as_deref_mut() {
                let ts = self.monitor.wall(now);
                if service {
                    let exporter = &self.accounts[target.0 as usize].name;
                    t.service_import(
                        ts,
                        exporter,
                        Bytes::copy_from_slice(msg.subject),
                        subject.clone(),
                    );
                } else {
                    let importer = &self.accounts[target.0 as usize].name;
                    t.stream_export(ts, importer, subject.clone());
                }
                if t.only {
                    continue;
                }
                paused = self.msg_trace.take();
                if service {
                    untraced = Some(trace_headers::disable(msg.message, msg.header_len));
                }
            }
            let hop = msg.or_rewritten(&untraced);
            let reply = msg.reply.cloned();
            let reply = match reply {
                Some(original) if service => {
                    let mapped = self.new_service_reply();
                    // Unanswered requests expire (nats-server's default
                    // response threshold, 2 minutes): the map stays bounded.
                    if self.service_replies.len() >= 64 {
                        self.service_replies
                            .retain(|_, (_, _, at)| now.saturating_since(*at) < SERVICE_REPLY_TTL);
                    }
                    self.service_replies
                        .insert(mapped.clone(), (account, original, now));
                    Some(mapped)
                }
                other => other,
            };
            let fwd = Msg {
                subject: &subject,
                reply: reply.as_ref(),
                header_len: hop.header_len,
                message: hop.message,
            };
            let matches = self.accounts[target.0 as usize].sublist.matches(&subject);
            delivered += self.deliver_matches(&internal, &matches, &fwd, now);
            if !self.leafs.links.is_empty() {
                delivered += self.send_to_leafs(&internal, target, &fwd, now);
            }
            let leg = if service {
                ImportLeg::Request
            } else {
                ImportLeg::Stream
            };
            let facts = MsgFacts::new(&subject).with_import(leg);
            if may_forward(
                Origin::Internal,
                Dest::Routes,
                &facts,
                &LinkFacts::default(),
            ) {
                delivered += self.send_to_routes(conn, target, &fwd, None, now);
            }
            if paused.is_some() {
                self.msg_trace = paused;
            }
        }
        delivered
    }

    /// `_R_.`, this server's six-character reply prefix, and six random
    /// letters and digits. The prefix is this server's own, so a cluster
    /// routes responses back here (see `route_interest.rs`).
    pub(crate) fn new_service_reply(&mut self) -> Bytes {
        let mut out = b"_R_.".to_vec();
        out.extend_from_slice(&self.reply_prefix);
        out.push(b'.');
        for _ in 0..6 {
            out.push(ALPHANUMERIC[self.reply_rng.below(ALPHANUMERIC.len() as u64) as usize]);
        }
        Bytes::from(out)
    }
}
