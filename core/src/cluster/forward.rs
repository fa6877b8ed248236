//! Messages across routes, one hop: a client's message goes to each route
//! with interest once (`RMSG`/`HMSG`, naming the queue groups that route
//! should serve), and a routed message goes to local subscribers only.

use crate::account::AccountId;
use crate::engine::TraceAsk;
use crate::engine::{Ingress, Msg, Server};
use crate::events::CloseReason;
use crate::ids::ConnId;
use crate::route::MSG_TRACE_PROTO;
use crate::router::fanout;
use crate::router::trace::headers::{set_header, HOP};
use crate::router::trace::{self, egress_error, Egress, MsgTrace, TraceKind};
use crate::router::Origin;
use crate::sublist::Matches;
use crate::time::Instant;
use bytes::Bytes;

/// One route a message goes to: the connection, the (route, queue
/// group) targets naming the groups it should serve, and the leaf cluster
/// the message entered from.
#[derive(Clone, Copy)]
pub(crate) struct Routed<'a> {
    pub(crate) conn: ConnId,
    pub(crate) targets: &'a [(ConnId, Option<Bytes>)],
    pub(crate) origin_cluster: Option<&'a [u8]>,
}

impl Server {
    /// Sends a message published here (by a client, or a service request
    /// mapped here) to the routes with interest in it; returns the number
    /// of routes sent to.
    pub(crate) fn send_to_routes(
        &mut self,
        publisher: ConnId,
        account: AccountId,
        msg: &Msg<'_>,
        from_link: Option<(&[u8], &[u8])>,
        now: Instant,
    ) -> usize {
        if self.routes.by_id.is_empty() {
            return 0;
        }
        let remote = self.accounts[account.0 as usize]
            .remote
            .matches(msg.subject);
        if remote.plain.is_empty() && remote.queues.is_empty() {
            return 0;
        }
        self.forward_to_routes(publisher, account, &remote, msg, from_link, now)
    }

    /// Sends a client's message to the routes with interest: once per
    /// route, naming the queue groups that route should serve: those the
    /// local delivery just before did not serve (`routes.served`; a group
    /// whose only local member is the publisher without echo is not
    /// served). Returns the number of routes sent to.
    pub(crate) fn forward_to_routes(
        &mut self,
        publisher: ConnId,
        account: AccountId,
        remote: &Matches,
        msg: &Msg<'_>,
        from_link: Option<(&[u8], &[u8])>,
        now: Instant,
    ) -> usize {
        let origin_cluster = from_link.map(|(cluster, _)| cluster);
        let named = from_link.map(|(_, named)| named);
        let mut targets = std::mem::take(&mut self.routes.targets);
        let serve_all = mutated!(self, queue_local_and_remote);
        let served: &[Bytes] = if serve_all { &[] } else { &self.routes.served };
        fanout::plan_remote(remote, served, named, &mut self.queue_rng, &mut targets);
        // Groups a route serves are not served behind leaf links too.
        for (_, group) in &targets {
            if let Some(g) = group {
                self.routes.served.push(g.clone());
            }
        }
        // One message per route: targets grouped by connection (in
        // connection order, so the output is deterministic).
        targets.sort_by_key(|(conn, _)| *conn);
        let mut sent = 0;
        let mut i = 0;
        while i < targets.len() {
            let conn = targets[i].0;
            let mut j = i;
            while j < targets.len() && targets[j].0 == conn {
                j += 1;
            }
            let to = Routed {
                conn,
                targets: &targets[i..j],
                origin_cluster,
            };
            if self.send_routed(publisher, &to, account, msg, now) {
                sent += 1;
            }
            i = j;
        }
        targets.clear();
        self.routes.targets = targets;
        sent
    }

    /// Writes `RMSG`/`HMSG` to one route, or `LMSG <origin>` for a
    /// message from a leaf cluster to a peer that takes its origin;
    /// `to.targets` name its queue groups.
    pub(crate) fn send_routed(
        &mut self,
        publisher: ConnId,
        to: &Routed<'_>,
        account: AccountId,
        msg: &Msg<'_>,
        now: Instant,
    ) -> bool {
        let Routed {
            conn,
            targets,
            origin_cluster,
        } = *to;
        let max_pending = self.options.max_pending;
        let name = &self.accounts[account.0 as usize].name;
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let Some(link) = c.route().filter(|l| l.registered && !c.closed) else {
            return false;
        };
        // A traced message carries its hop number to the next server; one
        // that cannot trace gets no trace-only message.
        let mut traced = None;
        if let Some(t) = self.msg_trace.as_deref_mut() {
            let remote = link.remote.as_ref();
            let supported = remote.is_some_and(|r| r.proto >= MSG_TRACE_PROTO);
            let hop = t.next_hop();
            let mut e = Egress {
                ts: self.monitor.wall(now),
                kind: TraceKind::Router,
                cid: c.cid,
                name: remote.map(|r| r.server_name.clone()).unwrap_or_default(),
                hop: hop.clone(),
                ..Egress::default()
            };
            if !supported {
                e.error = Some(if t.only {
                    egress_error::ONLY_NO_SUPPORT
                } else {
                    egress_error::NO_SUPPORT
                });
            }
            let only = t.only;
            t.egress(e);
            if only && !supported {
                return false;
            }
            traced = Some(set_header(msg.message, msg.header_len, HOP, hop.as_bytes()));
        }
        let msg = msg.or_rewritten(&traced);
        // The server's own messages have an empty reply: none on a route.
        let reply = msg.reply.filter(|r| !r.is_empty());
        let lnoc = link.remote.as_ref().is_some_and(|r| r.lnoc);
        let origin = origin_cluster.filter(|o| lnoc && !o.is_empty());
        let out = &mut c.out;
        let headers = msg.header_len > 0;
        match origin {
            Some(o) => {
                out.push_slice(b"LMSG ");
                out.push_slice(o);
                out.push_slice(b" ");
            }
            None => out.push_slice(if headers { b"HMSG " } else { b"RMSG " }),
        }
        out.push_slice(name.as_bytes());
        out.push_slice(b" ");
        out.push_slice(msg.subject);
        out.push_slice(b" ");
        out.push_routed_rest(
            reply.map(|r| &r[..]),
            targets.iter().filter_map(|(_, q)| q.as_ref()),
            msg.header_len,
            origin.is_some(),
            msg.message,
        );
        c.stats.out_msgs += 1;
        c.stats.out_bytes += msg.message.len() as u64;
        c.last_activity = now;
        let pending = c.out.pending();
        // A route is bounded like a client: past max_pending it is closed
        // (and re-dialed). nats-server sets no pending limit on routes and
        // relies on the write deadline; Canopy keeps every buffer bounded
        // (the simulator checks it), at the price of a reconnect.
        if pending > max_pending {
            self.slow_consumer(conn, CloseReason::SlowConsumerPendingBytes, now);
            return true;
        }
        // Under max_pending here: only the flush is left of `mark_dirty`.
        c.schedule_flush(&mut self.dirty);
        // A route that falls behind holds the client feeding it, as
        // nats-server stalls a producer on any lagging destination.
        self.hold_if_behind(publisher, conn, pending, now);
        true
    }

    /// Reads a routed message for a trace request and starts its trace
    /// (the route's server name as the ingress name, the hop it was given
    /// upstream as this server's hop). Returns what to do with the message
    /// (`None` once the trace is started: deliver it).
    fn trace_routed(
        &mut self,
        conn: ConnId,
        account: AccountId,
        msg: &Msg<'_>,
        now: Instant,
    ) -> TraceAsk {
        let request = match self.ask_trace(conn, account, false, msg.header_len, msg.message) {
            TraceAsk::Trace(request) => request,
            other @ (TraceAsk::None | TraceAsk::Drop | TraceAsk::Disabled(..)) => return other,
        };
        if self.trace_dest_reserved(account, &request.dest) {
            tracing::error!(
                "{} - Publish Violation - Subject {:?}",
                self.conn_label(conn),
                String::from_utf8_lossy(&request.dest)
            );
            return TraceAsk::Drop;
        }
        let ts = self.monitor.wall(now);
        let Some(c) = self.conns.get(&conn) else {
            return TraceAsk::Drop;
        };
        let name = c
            .route()
            .and_then(|l| l.remote.as_ref())
            .map(|r| r.server_name.as_str())
            .unwrap_or_default();
        let subject = Bytes::copy_from_slice(msg.subject);
        let ingress = trace::Ingress {
            ts,
            kind: TraceKind::Router,
            cid: c.cid,
            name,
            account: &self.accounts[account.0 as usize].name,
            subject: &subject,
        };
        let trace = MsgTrace::new(request, msg.message.len(), &ingress);
        self.start_trace(trace);
        TraceAsk::None
    }

    /// A message from a route: to local subscribers only (one hop), and to
    /// one local member of each queue group the route named.
    pub(crate) fn route_msg(
        &mut self,
        conn: ConnId,
        origin_cluster: Option<&[u8]>,
        account: &[u8],
        queues: &Bytes,
        msg: &Msg<'_>,
        now: Instant,
    ) {
        let Some(acc) = self.routed_account(account, now) else {
            tracing::debug!(
                "rid:{} - Unknown account {:?} for routed message",
                conn.0,
                String::from_utf8_lossy(account)
            );
            return;
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.in_msgs += 1;
            c.stats.in_bytes += msg.message.len() as u64;
        }
        self.stats.in_msgs += 1;
        self.stats.in_bytes += msg.message.len() as u64;
        // A `_GR_.` reply a cluster peer's gateway brought here.
        if self.routed_reply(Origin::Route, conn, account, queues, msg, now) {
            return;
        }
        let rewritten = match self.trace_routed(conn, acc, msg, now) {
            TraceAsk::Drop => return,
            TraceAsk::Disabled(message, header_len) => Some((message, header_len)),
            TraceAsk::None | TraceAsk::Trace(_) => None,
        };
        let msg = &msg.or_rewritten(&rewritten);
        let ingress = Ingress {
            origin: Origin::Route,
            conn,
            named: queues,
            echo: true,
            origin_cluster,
            gateway_reply: false,
        };
        self.forward_message(&ingress, acc, msg, now);
        self.finish_trace(acc, now);
        if mutated!(self, forward_routed_to_routes) && !self.routes.by_id.is_empty() {
            let remote = self.accounts[acc.0 as usize].remote.matches(msg.subject);
            let others = Matches {
                plain: remote
                    .plain
                    .iter()
                    .filter(|s| s.conn != conn)
                    .cloned()
                    .collect(),
                queues: Vec::new(),
            };
            self.routes.served.clear();
            let from_link = origin_cluster.map(|c| (c, &b""[..]));
            self.forward_to_routes(conn, acc, &others, msg, from_link, now);
        }
    }

    /// Writes a message to one route as it came, subject and reply
    /// unchanged (a `_GR_.` reply for that route's server).
    pub(crate) fn send_raw_to_route(
        &mut self,
        route: ConnId,
        account: &[u8],
        msg: &Msg<'_>,
        now: Instant,
    ) {
        let Some(c) = self.conns.get_mut(&route) else {
            return;
        };
        if c.closed || !c.route().is_some_and(|l| l.registered) {
            return;
        }
        let out = &mut c.out;
        out.push_slice(if msg.header_len > 0 {
            b"HMSG "
        } else {
            b"RMSG "
        });
        out.push_slice(account);
        out.push_slice(b" ");
        out.push_slice(msg.subject);
        out.push_slice(b" ");
        out.push_routed_rest(
            msg.reply.filter(|r| !r.is_empty()).map(|r| &r[..]),
            std::iter::empty(),
            msg.header_len,
            false,
            msg.message,
        );
        c.stats.out_msgs += 1;
        c.stats.out_bytes += msg.message.len() as u64;
        c.last_activity = now;
        self.mark_dirty(route);
    }
}
