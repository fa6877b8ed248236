//! The reference model and the checkers.
//!
//! The model records every connection incarnation, every SUB/UNSUB/PUB a
//! client wrote, and when the engine processed it: the world knows the byte
//! offset at which each op ends, and which engine step ([`Pos`]) handed those
//! bytes to the engine. A single engine processes inputs one at a time, so
//! these positions totally order subscribing, unsubscribing, publishing and
//! closing. From that order the model derives, per message:
//!
//! - the subscriptions that *may* receive it (present in the engine's index
//!   when it was processed): anything else is an unexpected delivery;
//! - the ones that *must* (present for sure, and whose connection never
//!   broke afterwards): checked at quiescence ([`Checker::final_check`]);
//! - per queue group: at most one delivery, always; exactly one when every
//!   member that might have been chosen stayed connected.
//!
//! Deliveries are checked as they arrive (no duplicates, matching subject,
//! echo, ordering against SUB/UNSUB, no-responders only without interest).

use crate::client_model::MsgKey;
use canopy_core::router::{self, Dest, LinkFacts, MsgFacts, Origin, SubFacts};
use canopy_core::{subject, CloseReason, Instant, LinkKind};
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod gateway;
use gateway::Mapping;
pub use gateway::RoutedMsg;

/// A connection incarnation (one TCP connection of one client).
pub type IncId = usize;
/// A subscription on one incarnation.
pub type SubId = usize;
/// A published message.
pub type MsgId = usize;

/// When the engine processed an op: the engine input step, and the op's end
/// offset in its connection's stream (ops of one read share a step).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Engine input counter.
    pub step: u64,
    /// End offset of the op in its connection's client-to-server stream.
    pub offset: u64,
}

/// Whether and when the engine processed an op.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Processed {
    /// Not handed to the engine (yet).
    Pending,
    /// Processed at this position.
    At(Pos),
    /// Handed over in a read during which the connection closed: maybe.
    Uncertain,
}

impl Processed {
    /// An op that ended at `offset` of the read handed over as `step`:
    /// processed there if the connection was still `open` after the read,
    /// otherwise maybe.
    pub fn in_read(open: bool, step: u64, offset: u64) -> Processed {
        if open {
            Processed::At(Pos { step, offset })
        } else {
            Processed::Uncertain
        }
    }
}

/// An op whose processing the world reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpRef {
    /// A SUB.
    Sub(SubId),
    /// An UNSUB.
    Unsub(SubId),
    /// A PUB or HPUB.
    Pub(MsgId),
}

/// One connection incarnation.
#[derive(Clone, Debug)]
pub struct IncRec {
    /// Client index.
    pub client: usize,
    /// Engine node.
    pub node: usize,
    /// Engine generation (incremented by every restart).
    pub gen: u32,
    /// CONNECT echo.
    pub echo: bool,
    /// Engine step at which the engine side closed.
    pub closed_step: Option<u64>,
    /// Whether either side has closed.
    pub ended: bool,
    /// Why the engine closed it, if it said.
    pub reason: Option<CloseReason>,
}

#[derive(Clone, Debug)]
struct SubRec {
    inc: IncId,
    sid: u64,
    pattern: u32,
    queue: Option<String>,
    respond: bool,
    sub: Processed,
    unsub: Option<Processed>,
}

#[derive(Clone, Debug)]
struct MsgRec {
    key: MsgKey,
    publisher: IncId,
    subject: u32,
    reply: Option<String>,
    processed: Processed,
    deliveries: Vec<SubId>,
    groups: Vec<String>,
    replies: Vec<MsgId>,
    /// The request this message answers.
    in_reply_to: Option<MsgId>,
    written_at: Instant,
    /// Where the message arrived over routes.
    routed: Vec<Routed>,
}

/// One direction of a route connection (`from` writes, `to` reads).
pub type LinkId = usize;

/// One direction of a route connection between two engine incarnations.
#[derive(Clone, Debug)]
pub struct LinkRec {
    /// Writing engine (node, generation).
    pub from: (usize, u32),
    /// Reading engine (node, generation).
    pub to: (usize, u32),
    /// What kind of link it is.
    pub kind: LinkKind,
    /// Whether the connection closed (at either end) at any time.
    pub closed: bool,
    /// Interest `to` holds for this link: (pattern, queue, origin) ->
    /// intervals [added, removed) of processing positions.
    interest: BTreeMap<InterestKey, Spans>,
    /// The interest `to` holds now: (pattern, queue, origin) -> weight (1
    /// for plain interest), as the processed `RS+`/`LS+` and removals left
    /// it.
    current: BTreeMap<InterestKey, u32>,
    /// Leaf links: `from` is the hub of the connection (by default the
    /// accepting end; a remote's `hub: true` makes the dialer the hub).
    pub from_hub: bool,
    /// Leaf links: the cluster name `from` announced in its first INFO or
    /// CONNECT, which `to` keeps as the link's remote cluster.
    pub cluster: String,
    /// Leaf links: subjects `from` never sends this way (the dialer's
    /// `deny_exports`; the acceptor's copy of the dialer's `deny_imports`).
    pub send_deny: Vec<String>,
    /// Leaf links: subjects whose interest `from` never tells this way
    /// (the dialer's `deny_imports`).
    pub take_deny: Vec<String>,
    /// `to` processed the first `LS+` of this direction, sent as soon as
    /// `from` registered the link.
    pub registered: bool,
    /// Gateway links: `from` dialed the connection, so this direction is
    /// its outbound link (messages); the other carries interest.
    pub outbound: bool,
}

/// Intervals [added, removed) of processing positions.
type Spans = Vec<(Pos, Option<Pos>)>;

/// One piece of interest a link carries: (pattern, queue, origin), the
/// origin being the leaf cluster a route's `LS+` names (None for `RS+`
/// and on leaf links). A route keys `RS+ a` and `LS+ lc a` apart.
type InterestKey = (u32, Option<String>, Option<String>);

/// Where a message was processed: engine (node, generation), position,
/// the queue groups a link named (None: at its own server, every group),
/// the link it arrived on (None: published there), the leaf cluster it
/// entered from (a leaf link's cluster, or the origin a route's `LMSG`
/// named) and whether it is a mapped reply delivered there stripped.
type Place<'a> = (
    (usize, u32),
    Pos,
    Option<&'a [String]>,
    Option<LinkId>,
    Option<&'a [u8]>,
    bool,
);

/// A message's arrival at an engine over a route.
#[derive(Clone, Debug)]
struct Routed {
    link: LinkId,
    processed: Processed,
    queues: Vec<String>,
    /// The leaf cluster a route's `LMSG` named.
    origin: Option<String>,
    /// This copy descends from a spoke's queue fallback to its hub (see
    /// [`Checker::routed`]).
    fallback: bool,
    /// The gateway-routed prefix its subject carried on the wire (a
    /// mapped reply on its way home).
    subject_gr: Option<String>,
    /// The gateway-routed prefix its reply carried on the wire.
    reply_gr: Option<String>,
    /// When the reader processed it.
    time: Instant,
}

/// Counts of what the checkers verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Messages written by clients.
    pub published: u64,
    /// Deliveries checked on arrival.
    pub deliveries: u64,
    /// (message, subscription) pairs owed and found delivered.
    pub owed_delivered: u64,
    /// (message, queue group) pairs owed and found delivered once.
    pub queue_owed_delivered: u64,
    /// Requests answered end to end on stable paths.
    pub replies_checked: u64,
    /// No-responders statuses received (and verified).
    pub no_responders: u64,
    /// Messages that crossed a route (RMSG/HMSG processed by the peer).
    pub routed: u64,
    /// (message, link) pairs the sender owed a route (its interest was
    /// known on a stable link) and sent.
    pub route_owed_sent: u64,
    /// Messages that crossed a route as `LMSG` with their leaf cluster.
    pub leaf_origin_routed: u64,
    /// Messages that crossed a gateway.
    pub gateway_routed: u64,
    /// Requests that crossed a gateway with their reply mapped (`_GR_.`).
    pub gateway_replies_mapped: u64,
    /// Mapped replies (`_GR_.` subjects) that crossed a gateway home.
    pub gateway_replies_home: u64,
    /// Requests checked to have crossed a gateway mapped because their
    /// reply subscription was recent.
    pub gateway_recent_checked: u64,
    /// After the super-cluster converged: (message, subscription) pairs
    /// owed anywhere and delivered.
    pub calm_delivered: u64,
    /// After convergence: (message, queue group) pairs owed and served
    /// once.
    pub calm_queue_served: u64,
    /// After convergence: requests answered end to end across servers.
    pub calm_replies: u64,
    /// Mapped replies delivered under their `_GR_.` subject where they
    /// passed as ordinary messages (a leaf's answer at its hub's cluster).
    pub raw_gr_deliveries: u64,
}

/// The reference model plus every violation found so far.
#[derive(Debug, Default)]
pub struct Checker {
    /// Every incarnation, by id.
    pub incs: Vec<IncRec>,
    subs: Vec<SubRec>,
    msgs: Vec<MsgRec>,
    subs_by_engine: BTreeMap<(usize, u32), Vec<SubId>>,
    sub_by_sid: BTreeMap<(IncId, u64), SubId>,
    msg_by_key: BTreeMap<MsgKey, MsgId>,
    msg_by_reply: BTreeMap<String, MsgId>,
    interned: BTreeMap<String, u32>,
    names: Vec<String>,
    match_cache: BTreeMap<(u32, u32), bool>,
    /// Route link directions, by id.
    pub links: Vec<LinkRec>,
    /// Each engine incarnation's own loop-detection subject (interned),
    /// learned from the first `$LDS.` `LS+` it sent on a leaf link.
    lds: BTreeMap<(usize, u32), u32>,
    /// Leaf links whose first `$LDS.` was seen.
    lds_links: Vec<LinkId>,
    /// Gateway mode: the gateway cluster of each node (None: not a
    /// gateway; empty outside gateway mode).
    gateway_cluster: Vec<Option<usize>>,
    /// The engine whose `_GR_.` prefix each prefix is, learned from the
    /// replies it mapped on its gateway links.
    gr_owner: BTreeMap<String, (usize, u32)>,
    /// (step, time) of every engine read that processed ops, in order.
    step_times: Vec<(u64, Instant)>,
    /// The step at which the super-cluster was seen converged after
    /// healing (gateway mode).
    calm_step: Option<u64>,
    /// Deliveries of mapped replies under their `_GR_.` subject:
    /// (message, subscription).
    raw_gr: Vec<(MsgId, SubId)>,
    /// Violations found, in order.
    pub violations: Vec<String>,
    /// What was verified.
    pub stats: CheckStats,
}

impl Checker {
    /// Gateway mode: node `i` is a gateway of cluster `of[i]` (None: not a
    /// gateway).
    pub fn set_gateway_clusters(&mut self, of: Vec<Option<usize>>) {
        self.gateway_cluster = of;
    }

    /// Records a new incarnation (the engine accepted a client's socket).
    pub fn open_inc(&mut self, client: usize, node: usize, gen: u32, echo: bool) -> IncId {
        self.incs.push(IncRec {
            client,
            node,
            gen,
            echo,
            closed_step: None,
            ended: false,
            reason: None,
        });
        self.incs.len() - 1
    }

    /// The engine side of `inc` closed during `step`.
    pub fn engine_closed(&mut self, inc: IncId, step: u64) {
        let rec = &mut self.incs[inc];
        if rec.closed_step.is_none() {
            rec.closed_step = Some(step);
        }
        rec.ended = true;
    }

    /// The engine said why it closed `inc`.
    pub fn close_reason(&mut self, inc: IncId, reason: CloseReason) {
        self.incs[inc].reason.get_or_insert(reason);
    }

    /// The client side of `inc` is gone.
    pub fn client_ended(&mut self, inc: IncId) {
        self.incs[inc].ended = true;
    }

    /// A SUB was written on `inc`.
    pub fn sub_written(
        &mut self,
        inc: IncId,
        sid: u64,
        pattern: &str,
        queue: Option<String>,
        respond: bool,
    ) -> SubId {
        let pattern = self.intern(pattern);
        let id = self.subs.len();
        self.subs.push(SubRec {
            inc,
            sid,
            pattern,
            queue,
            respond,
            sub: Processed::Pending,
            unsub: None,
        });
        if self.sub_by_sid.insert((inc, sid), id).is_some() {
            self.violation(format!("model: sid {sid} reused on incarnation {inc}"));
        }
        let rec = &self.incs[inc];
        self.subs_by_engine
            .entry((rec.node, rec.gen))
            .or_default()
            .push(id);
        id
    }

    /// An UNSUB was written on `inc`.
    pub fn unsub_written(&mut self, inc: IncId, sid: u64) -> Option<SubId> {
        let id = *self.sub_by_sid.get(&(inc, sid))?;
        self.subs[id].unsub = Some(Processed::Pending);
        Some(id)
    }

    /// A PUB/HPUB was written on `inc`.
    pub fn pub_written(
        &mut self,
        inc: IncId,
        key: MsgKey,
        subject: &str,
        reply: Option<String>,
        in_reply_to: Option<MsgKey>,
        now: Instant,
    ) -> MsgId {
        let id = self.msgs.len();
        let subject = self.intern(subject);
        if let Some(r) = &reply {
            self.msg_by_reply.insert(r.clone(), id);
        }
        let request = in_reply_to.and_then(|k| self.msg_by_key.get(&k).copied());
        if let Some(req) = request {
            self.msgs[req].replies.push(id);
        }
        self.msgs.push(MsgRec {
            key,
            publisher: inc,
            subject,
            reply,
            processed: Processed::Pending,
            deliveries: Vec::new(),
            groups: Vec::new(),
            replies: Vec::new(),
            in_reply_to: request,
            written_at: now,
            routed: Vec::new(),
        });
        if self.msg_by_key.insert(key, id).is_some() {
            self.violation(format!("model: message id {key} reused"));
        }
        self.stats.published += 1;
        id
    }

    /// The world handed an op's last byte to the engine.
    pub fn processed(&mut self, op: OpRef, p: Processed) {
        match op {
            OpRef::Sub(id) => self.subs[id].sub = p,
            OpRef::Unsub(id) => self.subs[id].unsub = Some(p),
            OpRef::Pub(id) => self.msgs[id].processed = p,
        }
    }

    /// A route connection between `from` and `to` (node, generation)
    /// carries a direction `from` -> `to`. Open both directions of a
    /// connection one after the other (`from` -> `to` first): each is the
    /// other's partner.
    pub fn open_link(&mut self, from: (usize, u32), to: (usize, u32), kind: LinkKind) -> LinkId {
        self.links.push(LinkRec {
            from,
            to,
            kind,
            closed: false,
            interest: BTreeMap::new(),
            current: BTreeMap::new(),
            from_hub: false,
            cluster: String::new(),
            send_deny: Vec::new(),
            take_deny: Vec::new(),
            registered: false,
            outbound: false,
        });
        self.links.len() - 1
    }

    /// Leaf facts of `link`: whether its writer is the connection's hub,
    /// the subjects its writer never sends on it, and those whose interest
    /// it never tells on it.
    pub fn leaf_link(
        &mut self,
        link: LinkId,
        from_hub: bool,
        send_deny: Vec<String>,
        take_deny: Vec<String>,
    ) {
        let rec = &mut self.links[link];
        rec.from_hub = from_hub;
        rec.send_deny = send_deny;
        rec.take_deny = take_deny;
    }

    /// The writer of leaf `link` announced `cluster` as its cluster name.
    pub fn link_cluster(&mut self, link: LinkId, cluster: &str) {
        let rec = &mut self.links[link];
        if rec.cluster != cluster {
            rec.cluster = cluster.to_string();
        }
    }

    /// The route connection of `link` closed (at either end).
    pub fn link_closed(&mut self, link: LinkId) {
        self.links[link].closed = true;
    }

    /// The reading engine of `link` processed an `RS+`/`LS+` with
    /// `weight` (0: an `RS-`/`LS-`) at `p`; `origin` is the leaf cluster a
    /// route's `LS+`/`LS-` names.
    pub fn route_interest(
        &mut self,
        link: LinkId,
        subject: &str,
        queue: Option<String>,
        origin: Option<String>,
        weight: u32,
        p: Processed,
    ) {
        let Processed::At(pos) = p else {
            // Only on a connection that closed in that read: never stable.
            return;
        };
        let added = weight > 0;
        let pattern = self.intern(subject);
        let rec = &mut self.links[link];
        if rec.kind == LinkKind::Gateway && rec.outbound {
            let (from, to) = (rec.from.0, rec.to.0);
            self.violation(format!(
                "node {from} told interest in {subject} on its outbound gateway link to node \
                 {to} (interest goes only from the inbound side)"
            ));
            return;
        }
        if added {
            rec.current
                .insert((pattern, queue.clone(), origin.clone()), weight);
            if rec.kind == LinkKind::Leaf {
                // The first LS+ a server writes on a link comes as it
                // registers it; the first `$LDS.` is its own
                // loop-detection subject (a gateway's `_GR_.>` may come
                // first).
                rec.registered = true;
                if subject.starts_with("$LDS.") && !self.lds_links.contains(&link) {
                    self.lds_links.push(link);
                    self.lds.entry(rec.from).or_insert(pattern);
                }
            }
        } else {
            rec.current
                .remove(&(pattern, queue.clone(), origin.clone()));
        }
        let spans = self.links[link]
            .interest
            .entry((pattern, queue, origin))
            .or_default();
        let open = spans.last().is_some_and(|&(_, end)| end.is_none());
        match (added, open) {
            (true, false) => spans.push((pos, None)),
            (false, true) => {
                if let Some(last) = spans.last_mut() {
                    last.1 = Some(pos);
                }
            }
            _ => {}
        }
    }

    /// The reading engine of `link` processed an `RMSG`/`HMSG` carrying
    /// `key` (if the payload had one) and naming `queues`; `origin` is the
    /// leaf cluster a route's `LMSG` named.
    pub fn routed(
        &mut self,
        link: LinkId,
        key: Option<MsgKey>,
        queues: Vec<String>,
        origin: Option<String>,
        p: Processed,
    ) {
        let msg = RoutedMsg {
            key,
            queues,
            origin,
            subject_gr: None,
            reply_gr: None,
        };
        self.routed_msg(link, msg, p, Instant::ZERO);
    }

    /// [`Checker::routed`] with the gateway facts of the op
    /// ([`RoutedMsg`]), processed by the reader at `now`.
    pub fn routed_msg(&mut self, link: LinkId, op: RoutedMsg, p: Processed, now: Instant) {
        let RoutedMsg {
            key,
            queues,
            origin,
            subject_gr,
            reply_gr,
        } = op;
        self.stats.routed += 1;
        if origin.is_some() {
            self.stats.leaf_origin_routed += 1;
        }
        let Some(key) = key else {
            self.violation(format!(
                "a routed message on link {link} carries no message id"
            ));
            return;
        };
        let Some(&m) = self.msg_by_key.get(&key) else {
            self.violation(format!("routed message {key} was never published"));
            return;
        };
        if self.links[link].kind == LinkKind::Gateway {
            self.gateway_hop(link, m, subject_gr.as_deref(), reply_gr.as_deref(), p);
        } else if let Some(prefix) = &subject_gr {
            self.gr_subject_on_link(link, m, prefix);
        }
        // A mapped reply's subject as it crossed (`_GR_.` prefix kept).
        let wire_subject = subject_gr.as_ref().map(|prefix| {
            let full = format!("{prefix}{}", self.names[self.msgs[m].subject as usize]);
            self.intern(&full)
        });
        let mut cache = std::mem::take(&mut self.match_cache);
        let rec = &self.links[link];
        let (from, to, kind) = (rec.from, rec.to, rec.kind);
        let leaf = kind == LinkKind::Leaf;
        let msg = &self.msgs[m];
        let publisher = &self.incs[msg.publisher];
        let home = (publisher.node, publisher.gen);
        let published_at_from = home == from;
        let subject = self.names[msg.subject as usize].as_str();
        let mut found = Vec::new();
        // The hop rule: the sender must hold the message from an origin the
        // forwarding matrix lets reach this kind of link (published there
        // by a client, or arrived there over a link whose kind may pass it
        // on), with the leaf facts: the cluster it entered from, whether
        // this link is the one it came in on, the remote cluster of this
        // link. With routes only, that is the one-hop rule. A leaf link
        // may also carry a member of a group the message names where plain
        // interest may not (`for_queue`).
        let dest = dest_of(rec);
        let remote_cluster = leaf.then(|| self.links[partner(link)].cluster.as_bytes());
        let allowed = |origin: Origin,
                       origin_cluster: Option<&[u8]>,
                       is_sender: bool,
                       gateway_reply: bool| {
            let mut facts = MsgFacts::new(subject.as_bytes());
            if let Some(c) = origin_cluster {
                facts = facts.with_origin_cluster(c);
            }
            if gateway_reply {
                facts = facts.with_gateway_reply();
            }
            let lf = LinkFacts {
                remote_cluster,
                is_sender,
                isolated: false,
                for_queue: false,
            };
            router::may_forward(origin, dest, &facts, &lf)
                || (leaf
                    && !queues.is_empty()
                    && router::may_forward(
                        origin,
                        dest,
                        &facts,
                        &LinkFacts {
                            for_queue: true,
                            ..lf
                        },
                    ))
        };
        let mut may = published_at_from && allowed(Origin::Client, None, false, false);
        // Where `from` processed the message (None: not known for sure).
        let mut held_at = if published_at_from {
            match msg.processed {
                Processed::At(p) => Some(p),
                Processed::Pending | Processed::Uncertain => None,
            }
        } else {
            None
        };
        // The leaf cluster the message entered `from`'s cluster from (None:
        // published there, or from a leaf link that named no cluster), and
        // the queue groups it reached `from` naming.
        let mut entered: Option<&str> = None;
        let mut named_in: Vec<&str> = Vec::new();
        let mut held_from_route = false;
        // A mapped reply passes its servers in two forms: with its `_GR_.`
        // subject (until it is stripped) and without; each copy descends
        // from an arrival of its own form, or the stripped one from the
        // arrival its sender stripped.
        let same_form = |r: &Routed| {
            if subject_gr.is_some() {
                r.subject_gr.is_some()
            } else {
                self.stripped_form(msg, r)
            }
        };
        for r in msg
            .routed
            .iter()
            .filter(|r| self.links[r.link].to == from && same_form(r))
        {
            let a = &self.links[r.link];
            let cluster = arrival_cluster(a, r);
            // A `_GR_.` reply that reached its cluster is delivered there
            // stripped, as a gateway reply.
            let gr = r.subject_gr.is_some() && self.gr_cluster_of(r) == self.cluster_of(from.0);
            may |= allowed(origin_of(a), cluster, r.link == partner(link), gr);
            if let (None, Processed::At(p)) = (held_at, r.processed) {
                held_at = Some(p);
            }
            if entered.is_none() {
                entered = cluster
                    .filter(|c| !c.is_empty())
                    .and_then(|c| std::str::from_utf8(c).ok());
            }
            named_in.extend(r.queues.iter().map(String::as_str));
            held_from_route |= a.kind == LinkKind::Route;
        }
        // A route carries a message from a leaf cluster as `LMSG <origin>`
        // naming that cluster, and any other as `RMSG` (cluster-wide no
        // echo rests on it).
        if kind == LinkKind::Route && may && origin.as_deref() != entered {
            found.push(format!(
                "{key} crossed the route from node {} to node {} with origin {origin:?}, but it \
                 entered node {}'s cluster from leaf cluster {entered:?}",
                from.0, to.0, from.0
            ));
        }
        // A server chooses queue groups only for a message published there;
        // one that reached it over a link serves only the groups named.
        if !published_at_from {
            for q in queues.iter().filter(|q| !named_in.contains(&q.as_str())) {
                found.push(format!(
                    "node {} named queue group {q} on {key} to node {}, but the message reached \
                     it naming only {named_in:?}",
                    from.0, to.0
                ));
            }
        }
        if !may {
            found.push(format!(
                "hop rule broken: {key} published on node {} (gen {}) reached node {} over \
                 a {} from node {} (gen {}), which may not forward it there",
                publisher.node,
                publisher.gen,
                to.0,
                kind.name(),
                from.0,
                from.1
            ));
        }
        if published_at_from && msg.processed == Processed::Pending {
            found.push(format!(
                "node {} sent {key} over a route before receiving it",
                from.0
            ));
        }
        // A spoke that got the message over a route naming a queue group
        // with no member left there passes it to a member behind its hub
        // (the matrix's queue cell, nats-server's `rsub` fallback): its
        // hub, which may have had it from the publisher's server already,
        // then gets a second copy, and so may what it passes that copy on
        // to. Only such copies may reach a server twice.
        let fallback = !published_at_from
            && ((leaf && !rec.from_hub && held_from_route)
                || msg
                    .routed
                    .iter()
                    .any(|r| self.links[r.link].to == from && r.fallback));
        // A mapped reply may pass a server on its way to the one it names
        // and come back to it stripped.
        let twice = msg.routed.iter().any(|r| {
            self.links[r.link].to == to
                && !(fallback || r.fallback)
                && r.subject_gr.is_some() == subject_gr.is_some()
        });
        if twice {
            found.push(format!(
                "{key} reached node {} (gen {}) twice over server links",
                to.0, to.1
            ));
        }
        // A mapped reply is not delivered where it was published: it goes
        // home to the server that mapped it, which sends it on stripped,
        // back to its publisher's cluster too.
        let mapped = msg
            .routed
            .iter()
            .any(|r| self.links[r.link].from == home && r.subject_gr.is_some());
        if to == home && !mapped {
            found.push(format!(
                "{key} came back over a {} from node {} to node {}, where it was published",
                kind.name(),
                from.0,
                to.0
            ));
        }
        if leaf || (kind == LinkKind::Gateway && subject_gr.is_none()) {
            if let Some(d) = rec.send_deny.iter().find(|d| denies(d, subject)) {
                found.push(format!(
                    "{key} on {subject} crossed the leaf link from node {} to node {}, which \
                     node {}'s rules deny ({d})",
                    from.0, to.0, from.0
                ));
            }
            // The sender must have held interest in it from this link's
            // peer when it processed the message: plain interest, or a
            // named group's. A mapped reply crosses under its wire
            // subject.
            let wire = wire_subject.unwrap_or(msg.subject);
            if let Some(at) = held_at {
                let back = &self.links[partner(link)];
                let wanted = back.interest.iter().any(|((pattern, queue, _), spans)| {
                    let named = match queue {
                        None => true,
                        Some(q) => queues.iter().any(|x| x == q),
                    };
                    named
                        && spans
                            .iter()
                            .any(|&(start, end)| start < at && end.is_none_or(|e| e > at))
                        && cached_match(&mut cache, &self.names, *pattern, wire)
                });
                if !wanted {
                    let what = if leaf { "leaf link" } else { "gateway link" };
                    found.push(format!(
                        "{key} on {subject} was sent over the {what} from node {} to node {} \
                         without interest from node {} when node {} processed it",
                        from.0, to.0, to.0, from.0
                    ));
                }
            }
        }
        self.match_cache = cache;
        self.violations.extend(found);
        self.msgs[m].routed.push(Routed {
            link,
            processed: p,
            queues,
            origin,
            fallback,
            subject_gr,
            reply_gr,
            time: now,
        });
    }

    /// A MSG/HMSG with an id arrived on `inc`; checks it on the spot.
    pub fn delivered(
        &mut self,
        inc: IncId,
        sid: &[u8],
        subject_got: &[u8],
        reply_got: Option<&[u8]>,
        key: MsgKey,
    ) {
        self.stats.deliveries += 1;
        let Some(s) = parse_sid(sid).and_then(|sid| self.sub_by_sid.get(&(inc, sid)).copied())
        else {
            let sid = String::from_utf8_lossy(sid).into_owned();
            self.violation(format!(
                "delivery of {key} on sid {sid} that incarnation {inc} never subscribed"
            ));
            return;
        };
        let Some(&m) = self.msg_by_key.get(&key) else {
            self.violation(format!("delivery of unknown message id {key}"));
            return;
        };
        if self.raw_gr_delivery(s, m, subject_got) {
            return;
        }
        let mut found = Vec::new();
        let (sub, msg) = (&self.subs[s], &self.msgs[m]);
        let subject = &self.names[msg.subject as usize];
        let pattern = &self.names[sub.pattern as usize];
        let here = format!(
            "{key} on {subject} to client {} sid {} ({pattern}{})",
            self.incs[inc].client,
            sub.sid,
            sub.queue
                .as_ref()
                .map(|q| format!(" queue {q}"))
                .unwrap_or_default()
        );
        if subject.as_bytes() != subject_got {
            let got = String::from_utf8_lossy(subject_got);
            found.push(format!("subject altered: {here} arrived as {got}"));
        }
        if msg.reply.as_deref().map(str::as_bytes) != reply_got {
            found.push(format!("reply subject altered: {here}"));
        }
        if !cached_match(&mut self.match_cache, &self.names, sub.pattern, msg.subject) {
            found.push(format!("delivered to a non-matching subscription: {here}"));
        }
        if msg.deliveries.contains(&s) {
            found.push(format!("duplicate delivery: {here}"));
        }
        if let Some(q) = &sub.queue {
            if msg.groups.contains(q) {
                found.push(format!("second delivery to one queue group: {here}"));
            }
        }
        let publisher = &self.incs[msg.publisher];
        let home = (publisher.node, publisher.gen);
        // A mapped reply goes home to the server that mapped it, which
        // may send it back stripped, to its publisher too (the echo rule
        // holds only where a client published).
        let mapped = msg
            .routed
            .iter()
            .any(|r| self.links[r.link].from == home && r.subject_gr.is_some());
        if msg.publisher == inc && !publisher.echo && !mapped {
            found.push(format!(
                "echo: own message delivered despite echo=false: {here}"
            ));
        }
        let sub_inc = &self.incs[sub.inc];
        let sub_engine = (sub_inc.node, sub_inc.gen);
        let mut processed = msg.processed;
        if publisher.node != sub_inc.node || mapped {
            // Over a route: the position at which this engine processed the
            // RMSG orders it against the SUB and UNSUB. A mapped reply
            // that passed this server on its way to another is delivered
            // from the copy that came back stripped.
            let all: Vec<&Routed> = msg
                .routed
                .iter()
                .filter(|r| self.links[r.link].to == sub_engine)
                .collect();
            let stripped: Vec<&Routed> = all
                .iter()
                .copied()
                .filter(|r| self.stripped_form(msg, r))
                .collect();
            let arrivals = if stripped.is_empty() { all } else { stripped };
            if arrivals.is_empty() {
                found.push(format!(
                    "delivered on node {} which never received it over a route: {here}",
                    sub_inc.node
                ));
            }
            if let Some(q) = &sub.queue {
                if !arrivals.iter().any(|r| r.queues.contains(q)) {
                    found.push(format!(
                        "queue delivery for a group the route did not name: {here}"
                    ));
                }
            }
            processed = arrivals
                .iter()
                .map(|r| r.processed)
                .find(|p| *p == Processed::Uncertain)
                .or_else(|| arrivals.first().map(|r| r.processed))
                .unwrap_or(Processed::Uncertain);
        } else if (publisher.node, publisher.gen) != sub_engine {
            found.push(format!("delivered across engine incarnations: {here}"));
        }
        match processed {
            Processed::Pending => found.push(format!(
                "delivered a message the engine never received: {here}"
            )),
            Processed::Uncertain => {}
            Processed::At(b) => {
                if let Processed::At(a) = sub.sub {
                    if b < a {
                        found.push(format!(
                            "delivered a message published before the SUB was processed: {here}"
                        ));
                    }
                }
                if let Some(Processed::At(u)) = sub.unsub {
                    if b > u {
                        found.push(format!(
                            "delivered a message published after the UNSUB was processed: {here}"
                        ));
                    }
                }
            }
        }
        self.violations.extend(found);
        let queue = self.subs[s].queue.clone();
        let msg = &mut self.msgs[m];
        msg.deliveries.push(s);
        if let Some(q) = queue {
            msg.groups.push(q);
        }
    }

    /// A no-responders status arrived on `inc` for the request whose reply
    /// subject is `reply`: valid only if nothing could have received it.
    pub fn no_responders(&mut self, inc: IncId, reply: &[u8]) {
        self.stats.no_responders += 1;
        let reply = String::from_utf8_lossy(reply).into_owned();
        let Some(&m) = self.msg_by_reply.get(&reply) else {
            self.violation(format!(
                "no-responders status for unknown reply subject {reply}"
            ));
            return;
        };
        let msg = &self.msgs[m];
        if msg.publisher != inc {
            self.violation(format!(
                "no-responders status for {} went to another connection",
                msg.key
            ));
            return;
        }
        let Processed::At(b) = msg.processed else {
            return;
        };
        let publisher = &self.incs[msg.publisher];
        let Some(subs) = self.subs_by_engine.get(&(publisher.node, publisher.gen)) else {
            return;
        };
        let subject = msg.subject;
        let mut cache = std::mem::take(&mut self.match_cache);
        let found = subs.iter().copied().find(|&s| {
            let sub = &self.subs[s];
            (publisher.echo || sub.inc != msg.publisher)
                && self.present(s, b, true)
                && cached_match(&mut cache, &self.names, sub.pattern, subject)
        });
        self.match_cache = cache;
        if let Some(s) = found {
            let sub = &self.subs[s];
            let text = format!(
                "no-responders status for {} on {} while client {} sid {} ({}) was subscribed",
                msg.key,
                self.names[subject as usize],
                self.incs[sub.inc].client,
                sub.sid,
                self.names[sub.pattern as usize]
            );
            self.violation(text);
        }
    }

    /// At quiescence: every owed delivery happened, every queue group that
    /// had only stable members got the message once, every request on a
    /// stable path was answered. In a cluster, also: a message went over
    /// every stable route whose interest its server knew when it processed
    /// the message, and at the far end every owed delivery happened.
    pub fn final_check(&mut self) {
        let mut found = Vec::new();
        let mut cache = std::mem::take(&mut self.match_cache);
        // Interest a server holds arrived on the links it reads.
        let mut links_to: BTreeMap<(usize, u32), Vec<LinkId>> = BTreeMap::new();
        for (l, rec) in self.links.iter().enumerate() {
            links_to.entry(rec.to).or_default().push(l);
        }
        for msg in &self.msgs {
            let Processed::At(b) = msg.processed else {
                continue;
            };
            let publisher = &self.incs[msg.publisher];
            let home = (publisher.node, publisher.gen);
            // Where the message was processed: its own server, then every
            // server that processed it from a route (queue groups limited to
            // those the route named). A reply its server mapped (or may
            // have) owes nothing there; a mapped reply owes only where it
            // is delivered stripped (the server it names), where it
            // serves every group.
            let mut places: Vec<Place<'_>> = Vec::new();
            if self.reply_mapping(msg) == Mapping::No {
                places.push((home, b, None, None, None, false));
            }
            for r in &msg.routed {
                if let Processed::At(p) = r.processed {
                    let link = &self.links[r.link];
                    let cluster = arrival_cluster(link, r);
                    if r.subject_gr.is_some() {
                        if self.gr_owner_of(r) == Some(link.to) {
                            places.push((link.to, p, None, Some(r.link), cluster, true));
                        }
                        continue;
                    }
                    places.push((link.to, p, Some(&r.queues), Some(r.link), cluster, false));
                }
            }
            for (engine, at, named, arrival, origin_cluster, gateway_reply) in places {
                let subs = self
                    .subs_by_engine
                    .get(&engine)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                // Queue group -> whether every maybe-chosen member stayed up.
                let mut groups: BTreeMap<&str, bool> = BTreeMap::new();
                for &s in subs {
                    let sub = &self.subs[s];
                    // The publisher's own echo=false membership serves
                    // nothing: the group is owed to a route.
                    if sub.inc == msg.publisher && !publisher.echo {
                        continue;
                    }
                    if !self.present(s, at, false)
                        || !cached_match(&mut cache, &self.names, sub.pattern, msg.subject)
                    {
                        continue;
                    }
                    let stable = self.present(s, at, true) && !self.incs[sub.inc].ended;
                    match &sub.queue {
                        None if stable => {
                            if msg.deliveries.contains(&s) {
                                self.stats.owed_delivered += 1;
                            } else {
                                found.push(format!(
                                    "missing delivery: {} on {} (published by client {} on node \
                                     {}) never reached client {} sid {} ({}) on node {}, both \
                                     connections stable",
                                    msg.key,
                                    self.names[msg.subject as usize],
                                    publisher.client,
                                    publisher.node,
                                    self.incs[sub.inc].client,
                                    sub.sid,
                                    self.names[sub.pattern as usize],
                                    engine.0
                                ));
                            }
                        }
                        None => {}
                        Some(q) => {
                            if named.is_some_and(|n| !n.iter().any(|x| x == q)) {
                                continue;
                            }
                            let all = groups.entry(q.as_str()).or_insert(true);
                            *all &= stable;
                        }
                    }
                }
                // Groups with a possibly-present member here: served here,
                // owed to no link.
                let local_groups: Vec<&str> = groups.keys().copied().collect();
                for (q, all_stable) in groups {
                    if !all_stable {
                        continue;
                    }
                    if msg.groups.iter().any(|g| g == q) {
                        self.stats.queue_owed_delivered += 1;
                        // Local first: with every member here stable, a
                        // member here took it.
                        let served_at = msg.deliveries.iter().find_map(|&d| {
                            let sub = &self.subs[d];
                            let inc = &self.incs[sub.inc];
                            (sub.queue.as_deref() == Some(q)).then_some((inc.node, inc.gen))
                        });
                        if let Some(other) = served_at.filter(|&e| e != engine) {
                            found.push(format!(
                                "queue group {q} got {} on {} on node {} although node {} \
                                 processed it with every member there stable",
                                msg.key, self.names[msg.subject as usize], other.0, engine.0
                            ));
                        }
                    } else {
                        found.push(format!(
                            "missing queue delivery: {} on {} never reached group {q} on node {}, \
                             all members stable",
                            msg.key, self.names[msg.subject as usize], engine.0
                        ));
                    }
                }
                // Forwarding: every stable link whose plain interest matched
                // when the message was processed here, and that the
                // forwarding matrix and the link's deny rules let it reach,
                // got it; a queue group with no member here and interest
                // only on stable links was named on one of them. Routes are
                // owed queue groups where they are owed plain messages (from
                // the publisher's server and, at a hub, from its spokes: the
                // engine passes a routed group to no other route); leaf
                // links by the matrix's queue cells. With the origin leaf
                // cluster the message entered from.
                let origin = arrival.map_or(Origin::Client, |a| origin_of(&self.links[a]));
                let subject = self.names[msg.subject as usize].as_str();
                let mut facts = MsgFacts::new(subject.as_bytes());
                if let Some(c) = origin_cluster {
                    facts = facts.with_origin_cluster(c);
                }
                if gateway_reply {
                    facts = facts.with_gateway_reply();
                }
                let mut queue_links: BTreeMap<&str, bool> = BTreeMap::new();
                // Groups a stable route held a member of in this cluster
                // (interest of its own, not a leaf cluster's) where routes
                // take queue groups: such a group is served in the cluster,
                // never behind a leaf link.
                let mut cluster_groups: Vec<&str> = Vec::new();
                for &l in links_to.get(&engine).map(Vec::as_slice).unwrap_or_default() {
                    if arrival == Some(l) {
                        // Never back where it came from.
                        continue;
                    }
                    let link = &self.links[l];
                    // Messages go back over the other direction of the same
                    // connection.
                    let out = partner(l);
                    let out_rec = &self.links[out];
                    let leaf = link.kind == LinkKind::Leaf;
                    let lf = LinkFacts {
                        remote_cluster: leaf.then_some(link.cluster.as_bytes()),
                        is_sender: false,
                        isolated: false,
                        for_queue: false,
                    };
                    let open = !out_rec.send_deny.iter().any(|d| denies(d, subject));
                    let plain_ok =
                        open && router::may_forward(origin, dest_of(out_rec), &facts, &lf);
                    let queue_ok = open
                        && if leaf {
                            router::may_forward(
                                origin,
                                dest_of(out_rec),
                                &facts,
                                &LinkFacts {
                                    for_queue: true,
                                    ..lf
                                },
                            )
                        } else {
                            router::may_forward(origin, dest_of(out_rec), &facts, &lf)
                        };
                    let mut plain = false;
                    for ((pattern, queue, from_leaf), spans) in &link.interest {
                        let held = spans
                            .iter()
                            .any(|&(start, end)| start < at && end.is_none_or(|e| e > at));
                        if !held || !cached_match(&mut cache, &self.names, *pattern, msg.subject) {
                            continue;
                        }
                        match queue {
                            None => plain = true,
                            Some(q) => {
                                if !queue_ok || named.is_some_and(|n| !n.iter().any(|x| x == q)) {
                                    continue;
                                }
                                let all = queue_links.entry(q.as_str()).or_insert(true);
                                *all &= !link.closed;
                                if link.kind == LinkKind::Route
                                    && from_leaf.is_none()
                                    && !link.closed
                                {
                                    cluster_groups.push(q.as_str());
                                }
                            }
                        }
                    }
                    if plain && plain_ok && !link.closed {
                        if msg.routed.iter().any(|r| r.link == out) {
                            self.stats.route_owed_sent += 1;
                        } else {
                            found.push(format!(
                                "missing {} forward: {} on {} (processed by node {}) never \
                                 reached node {} although the link was stable and its interest \
                                 known",
                                link.kind.name(),
                                msg.key,
                                subject,
                                engine.0,
                                link.from.0
                            ));
                        }
                    }
                }
                for q in cluster_groups {
                    let behind_leaf = msg.routed.iter().find(|r| {
                        let out = &self.links[r.link];
                        out.from == engine
                            && out.kind == LinkKind::Leaf
                            && r.queues.iter().any(|x| x == q)
                    });
                    if let Some(r) = behind_leaf {
                        found.push(format!(
                            "queue group {q} of {} on {} went from node {} over a leaf link to \
                             node {} although a member in its cluster was known over a stable \
                             route",
                            msg.key, subject, engine.0, self.links[r.link].to.0
                        ));
                    }
                }
                for (q, all_stable) in queue_links {
                    if !all_stable || local_groups.contains(&q) {
                        continue;
                    }
                    let named_out = msg.routed.iter().any(|r| {
                        self.links[r.link].from == engine && r.queues.iter().any(|x| x == q)
                    });
                    if !named_out {
                        found.push(format!(
                            "missing queue forward: {} on {} (processed by node {}) was not sent \
                             to any link for group {q} although no member was here and every \
                             link with its interest was stable",
                            msg.key, subject, engine.0
                        ));
                    }
                }
            }
            // Request/reply end to end (responder on the requester's node;
            // across nodes the reply is a routed message checked above).
            if msg.reply.is_some() && !publisher.ended {
                for &s in &msg.deliveries {
                    let sub = &self.subs[s];
                    if !sub.respond
                        || self.incs[sub.inc].ended
                        || self.incs[sub.inc].node != publisher.node
                    {
                        continue;
                    }
                    let replies: Vec<&MsgRec> = msg
                        .replies
                        .iter()
                        .map(|&r| &self.msgs[r])
                        .filter(|r| r.publisher == sub.inc)
                        .collect();
                    let answered = replies.iter().any(|r| {
                        r.deliveries
                            .iter()
                            .any(|&d| self.subs[d].inc == msg.publisher)
                    });
                    if answered {
                        self.stats.replies_checked += 1;
                    } else {
                        found.push(format!(
                            "reply lost: request {} (client {}) reached responder client {} \
                             ({} replies written), no reply arrived; both stable",
                            msg.key,
                            publisher.client,
                            self.incs[sub.inc].client,
                            replies.len()
                        ));
                    }
                }
            }
        }
        self.match_cache = cache;
        for v in found {
            self.violation(v);
        }
        if self.calm_step.is_some() {
            self.calm_check();
        }
    }

    /// The interest the model says `(node, gen)` announces to its routes:
    /// sorted (subject, queue, weight), weight = the number of local
    /// subscriptions for a queue group, 1 for plain interest.
    pub fn expected_route_interest(
        &self,
        node: usize,
        gen: u32,
    ) -> Vec<(String, Option<String>, u32)> {
        let mut counts: BTreeMap<(String, Option<String>), u32> = BTreeMap::new();
        for &s in self.subs_by_engine.get(&(node, gen)).into_iter().flatten() {
            let sub = &self.subs[s];
            if self.incs[sub.inc].ended
                || !matches!(sub.sub, Processed::At(_))
                || matches!(sub.unsub, Some(Processed::At(_)))
            {
                continue;
            }
            let key = (self.names[sub.pattern as usize].clone(), sub.queue.clone());
            *counts.entry(key).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((subject, queue), n)| {
                let w = if queue.is_some() { n } else { 1 };
                (subject, queue, w)
            })
            .collect()
    }

    /// The interest the writer of leaf `link` should have told on it, by
    /// the propagation matrix: (subject, queue) -> weight (1 for plain
    /// interest, the member count for a queue group). Its sources are the
    /// writer's own clients' subscriptions and its loop-detection subject
    /// (row `Client`), and the interest it holds from its open routes (row
    /// `Route`) and open leaf links (row `LeafHub` or `LeafSpoke` by its
    /// role there, with that link's cluster as origin), each let through
    /// to this link (column `LeafHubLinks` or `LeafSpokeLinks` by the
    /// writer's role, the peer's cluster as remote cluster, no echo to
    /// the link it came from) and past the writer's `deny_imports`.
    pub fn expected_leaf_interest(&self, link: LinkId) -> BTreeMap<(String, Option<String>), u32> {
        let out = &self.links[link];
        let back = partner(link);
        let from = out.from;
        let dest = dest_of(out);
        let remote = self.links[back].cluster.as_bytes();
        // (origin, origin cluster, source link, subject, queue, weight)
        type Source<'a> = (
            Origin,
            Option<&'a [u8]>,
            Option<LinkId>,
            String,
            Option<String>,
            u32,
        );
        let mut sources: Vec<Source<'_>> = Vec::new();
        for (subject, queue, w) in self.expected_route_interest(from.0, from.1) {
            sources.push((Origin::Client, None, None, subject, queue, w));
        }
        if let Some(&lds) = self.lds.get(&from) {
            let lds = self.names[lds as usize].clone();
            sources.push((Origin::Client, None, None, lds, None, 1));
        }
        // A gateway takes the answers to requests that crossed gateways
        // from its leaf links.
        if self.is_gateway(from.0) {
            sources.push((Origin::Internal, None, None, "_GR_.>".to_string(), None, 1));
        }
        for (x, rec) in self.links.iter().enumerate() {
            if rec.to != from || rec.closed {
                continue;
            }
            let leaf = rec.kind == LinkKind::Leaf;
            // Literal subjects the writer may not send there: a spoke
            // ignores that interest.
            let send_deny = &self.links[partner(x)].send_deny;
            for ((pattern, queue, from_leaf), &w) in &rec.current {
                // A leaf link's interest comes from its cluster; a route's
                // `LS+` names the leaf cluster it came from.
                let cluster = if leaf {
                    Some(rec.cluster.as_bytes())
                } else {
                    from_leaf.as_deref().map(str::as_bytes)
                };
                let subject = self.names[*pattern as usize].as_str();
                let literal = !subject.contains(['*', '>']);
                if leaf
                    && literal
                    && !always_told(subject)
                    && send_deny.iter().any(|d| denies(d, subject))
                {
                    continue;
                }
                sources.push((
                    origin_of(rec),
                    cluster,
                    Some(x),
                    subject.to_string(),
                    queue.clone(),
                    w,
                ));
            }
        }
        let mut want: BTreeMap<(String, Option<String>), u32> = BTreeMap::new();
        for (origin, cluster, source, subject, queue, w) in sources {
            let facts = SubFacts {
                loop_detection: subject.starts_with("$LDS."),
                origin_cluster: cluster,
            };
            let lf = LinkFacts {
                remote_cluster: Some(remote),
                is_sender: source == Some(back),
                isolated: false,
                for_queue: false,
            };
            if !router::propagates(origin, dest, &facts, &lf) {
                continue;
            }
            if !always_told(&subject) && out.take_deny.iter().any(|d| denies(d, &subject)) {
                continue;
            }
            let plain = queue.is_none();
            let entry = want.entry((subject, queue)).or_default();
            *entry = if plain { 1 } else { *entry + w };
        }
        want
    }

    /// What the reader of `link` holds from it now, as
    /// [`Checker::expected_leaf_interest`] says it.
    pub fn held_interest(&self, link: LinkId) -> BTreeMap<(String, Option<String>), u32> {
        self.links[link]
            .current
            .iter()
            .map(|((p, q, _), &w)| ((self.names[*p as usize].clone(), q.clone()), w))
            .collect()
    }

    /// The leaf clusters' interest the model says `(node, gen)` announces
    /// to its routes (`LS+ <origin> <account> ...`): what each open leaf
    /// link told it whose row may reach routes by the propagation matrix
    /// (its spokes', `LeafHub`; never its hub's), keyed by that link's
    /// cluster: (origin, subject, queue) -> weight (1 for plain interest,
    /// the members summed over the cluster's links for a queue group).
    pub fn expected_route_leaf_interest(
        &self,
        node: usize,
        gen: u32,
    ) -> BTreeMap<(String, String, Option<String>), u32> {
        let mut want: BTreeMap<(String, String, Option<String>), u32> = BTreeMap::new();
        for (x, rec) in self.links.iter().enumerate() {
            if rec.to != (node, gen) || rec.closed || rec.kind != LinkKind::Leaf {
                continue;
            }
            let send_deny = &self.links[partner(x)].send_deny;
            for ((pattern, queue, _), &w) in &rec.current {
                let subject = self.names[*pattern as usize].as_str();
                let literal = !subject.contains(['*', '>']);
                if literal && !always_told(subject) && send_deny.iter().any(|d| denies(d, subject))
                {
                    continue;
                }
                let facts = SubFacts {
                    loop_detection: subject.starts_with("$LDS."),
                    origin_cluster: Some(rec.cluster.as_bytes()),
                };
                if !router::propagates(origin_of(rec), Dest::Routes, &facts, &LinkFacts::default())
                {
                    continue;
                }
                let entry = want
                    .entry((rec.cluster.clone(), subject.to_string(), queue.clone()))
                    .or_default();
                *entry = if queue.is_some() { *entry + w } else { 1 };
            }
        }
        want
    }

    /// What the reader of route `link` holds from it now, by origin (None:
    /// `RS+`, else the leaf cluster of an `LS+`): (origin, subject, queue)
    /// -> weight.
    pub fn held_route_interest(
        &self,
        link: LinkId,
    ) -> BTreeMap<(Option<String>, String, Option<String>), u32> {
        self.links[link]
            .current
            .iter()
            .map(|((p, q, o), &w)| ((o.clone(), self.names[*p as usize].clone(), q.clone()), w))
            .collect()
    }

    /// Subscriptions the model says `(node, gen)`'s index holds, and its
    /// open client connections.
    pub fn expected_interest(&self, node: usize, gen: u32) -> (usize, usize) {
        let subs = self.subs_by_engine.get(&(node, gen)).map_or(0, |subs| {
            subs.iter()
                .filter(|&&s| {
                    let sub = &self.subs[s];
                    !self.incs[sub.inc].ended
                        && matches!(sub.sub, Processed::At(_))
                        && !matches!(sub.unsub, Some(Processed::At(_)))
                })
                .count()
        });
        let conns = self
            .incs
            .iter()
            .filter(|i| i.node == node && i.gen == gen && i.closed_step.is_none())
            .count();
        (subs, conns)
    }

    /// A summary of a message for failure reports.
    pub fn describe(&self, key: MsgKey) -> String {
        let Some(&m) = self.msg_by_key.get(&key) else {
            return format!("{key}: unknown");
        };
        let msg = &self.msgs[m];
        let mut s = format!(
            "{key}: subject {} written at {:.6}s by incarnation {} processed {:?}; delivered to subs",
            self.names[msg.subject as usize],
            msg.written_at.as_nanos() as f64 / 1e9,
            msg.publisher,
            msg.processed
        );
        for &d in &msg.deliveries {
            let _ = write!(s, " {}/{}", self.subs[d].inc, self.subs[d].sid);
        }
        s
    }

    /// Records a violation.
    pub fn violation(&mut self, text: String) {
        self.violations.push(text);
    }

    /// Whether `s` is in its engine's index when an op at `b` is processed:
    /// for sure (`definite`) or possibly.
    fn present(&self, s: SubId, b: Pos, definite: bool) -> bool {
        let sub = &self.subs[s];
        match sub.sub {
            Processed::At(a) if a < b => {}
            Processed::At(_) | Processed::Pending | Processed::Uncertain => return false,
        }
        if let Some(Processed::At(u)) = sub.unsub {
            if u < b {
                return false;
            }
        }
        match self.incs[sub.inc].closed_step {
            None => true,
            Some(c) if definite => c > b.step,
            Some(c) => c >= b.step,
        }
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.interned.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_string());
        self.interned.insert(s.to_string(), id);
        id
    }
}

/// The other direction of link `l`'s connection (links are opened in
/// pairs).
fn partner(l: LinkId) -> LinkId {
    l ^ 1
}

/// `subject::matches` on interned strings, memoised.
fn cached_match(
    cache: &mut BTreeMap<(u32, u32), bool>,
    names: &[String],
    pattern: u32,
    subject: u32,
) -> bool {
    *cache.entry((pattern, subject)).or_insert_with(|| {
        subject::matches(
            names[pattern as usize].as_bytes(),
            names[subject as usize].as_bytes(),
        )
    })
}

fn parse_sid(sid: &[u8]) -> Option<u64> {
    std::str::from_utf8(sid).ok()?.parse().ok()
}

/// The matrix row, at its reader, of what arrived over `link`: a route's,
/// or for a leaf link the reader's role: `LeafHub` where the reader is the
/// hub (the writer is its spoke), `LeafSpoke` where it is the spoke.
fn origin_of(link: &LinkRec) -> Origin {
    match link.kind {
        LinkKind::Route => Origin::Route,
        LinkKind::Gateway => Origin::Gateway,
        LinkKind::Leaf if link.from_hub => Origin::LeafSpoke,
        LinkKind::Leaf => Origin::LeafHub,
    }
}

/// The leaf cluster a message that arrived over `link` (as `r`) entered
/// from: a leaf link's remote cluster, or the origin of a route's `LMSG`.
fn arrival_cluster<'a>(link: &'a LinkRec, r: &'a Routed) -> Option<&'a [u8]> {
    match link.kind {
        LinkKind::Leaf => Some(link.cluster.as_bytes()),
        LinkKind::Route => r.origin.as_deref().map(str::as_bytes),
        LinkKind::Gateway => None,
    }
}

/// The matrix column, at its writer, of `link`: routes, or for a leaf
/// link the writer's role (`LeafHubLinks` where the writer is the hub).
fn dest_of(link: &LinkRec) -> Dest {
    match link.kind {
        LinkKind::Route => Dest::Routes,
        LinkKind::Gateway => Dest::Gateways,
        LinkKind::Leaf if link.from_hub => Dest::LeafHubLinks,
        LinkKind::Leaf => Dest::LeafSpokeLinks,
    }
}

/// Whether the deny entry `deny` covers `subject` (a literal subject, or a
/// subscription's pattern), as the engine's permission rules decide.
fn denies(deny: &str, subject: &str) -> bool {
    subject::matches(deny.as_bytes(), subject.as_bytes())
}

/// Whether `subject` is told on a leaf link whatever its rules (loop
/// detection and gateway replies).
fn always_told(subject: &str) -> bool {
    ["$LDS.", "_GR_.", "$GR."]
        .iter()
        .any(|p| subject.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> MsgKey {
        MsgKey { client: 0, n }
    }

    fn at(step: u64) -> Processed {
        Processed::At(Pos { step, offset: 0 })
    }

    /// A publisher (inc 0) and a subscriber (inc 1) on `pattern`,
    /// subscribed at step 1.
    fn setup(pattern: &str) -> (Checker, SubId) {
        let mut c = Checker::default();
        c.open_inc(0, 0, 0, true);
        c.open_inc(1, 0, 0, true);
        let s = c.sub_written(1, 1, pattern, None, false);
        c.processed(OpRef::Sub(s), at(1));
        (c, s)
    }

    #[test]
    fn owed_message_missing_only_on_a_stable_path() {
        let (mut c, _) = setup("a.*");
        let m = c.pub_written(0, key(0), "a.b", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(2));
        c.final_check();
        assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
        assert!(c.violations[0].starts_with("missing delivery"));

        let (mut c, _) = setup("a.*");
        let m = c.pub_written(0, key(0), "a.b", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(2));
        c.engine_closed(1, 3);
        c.final_check();
        assert!(c.violations.is_empty(), "{:?}", c.violations);
    }

    #[test]
    fn duplicates_and_non_matching_deliveries_are_violations() {
        let (mut c, _) = setup("a.*");
        let m = c.pub_written(0, key(0), "a.b", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(2));
        c.delivered(1, b"1", b"a.b", None, key(0));
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        c.delivered(1, b"1", b"a.b", None, key(0));
        assert!(c.violations[0].starts_with("duplicate delivery"));

        let (mut c, _) = setup("x.*");
        let m = c.pub_written(0, key(0), "a.b", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(2));
        c.delivered(1, b"1", b"a.b", None, key(0));
        assert!(c.violations[0].starts_with("delivered to a non-matching"));
    }

    #[test]
    fn delivery_after_unsubscribe_is_a_violation() {
        let (mut c, s) = setup("a.b");
        c.unsub_written(1, 1);
        c.processed(OpRef::Unsub(s), at(2));
        let m = c.pub_written(0, key(0), "a.b", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(3));
        c.delivered(1, b"1", b"a.b", None, key(0));
        assert!(
            c.violations[0].contains("after the UNSUB"),
            "{:?}",
            c.violations
        );
    }

    /// Client 0 requests `svc` with reply `_INBOX.r.0` (processed at
    /// `processed`) and the engine answers with a no-responders status.
    fn request_answered_no_responders(c: &mut Checker, processed: Processed) {
        let m = c.pub_written(
            0,
            key(0),
            "svc",
            Some("_INBOX.r.0".into()),
            None,
            Instant::ZERO,
        );
        c.processed(OpRef::Pub(m), processed);
        c.no_responders(0, b"_INBOX.r.0");
    }

    #[test]
    fn no_responders_only_without_interest() {
        let (mut c, _) = setup("svc");
        let inbox = c.sub_written(0, 9, "_INBOX.r.*", None, false);
        c.processed(OpRef::Sub(inbox), at(1));
        request_answered_no_responders(&mut c, at(2));
        assert!(
            c.violations[0].starts_with("no-responders status"),
            "{:?}",
            c.violations
        );

        // With the responder gone before the request, the status is right.
        let (mut c, _) = setup("svc");
        c.engine_closed(1, 2);
        request_answered_no_responders(&mut c, at(3));
        assert!(c.violations.is_empty(), "{:?}", c.violations);
    }

    /// Hub node 0, spoke node 1 (it dialed), node 1 routed to node 2; a
    /// message published on the hub, where node 1 asked for `a.b`.
    fn spoke_with_route() -> (Checker, [LinkId; 4]) {
        let mut c = Checker::default();
        c.open_inc(0, 0, 0, true);
        let up = c.open_link((1, 0), (0, 0), LinkKind::Leaf);
        let down = c.open_link((0, 0), (1, 0), LinkKind::Leaf);
        c.leaf_link(up, false, Vec::new(), Vec::new());
        c.leaf_link(down, true, Vec::new(), Vec::new());
        let r12 = c.open_link((1, 0), (2, 0), LinkKind::Route);
        let r21 = c.open_link((2, 0), (1, 0), LinkKind::Route);
        c.route_interest(up, "a.b", None, None, 1, at(1));
        let m = c.pub_written(0, key(0), "a.b", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(2));
        (c, [up, down, r12, r21])
    }

    #[test]
    fn a_spoke_passes_nothing_from_its_hub_to_its_routes() {
        let (mut c, [_, down, r12, _]) = spoke_with_route();
        c.routed(down, Some(key(0)), Vec::new(), None, at(3));
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        c.routed(r12, Some(key(0)), Vec::new(), None, at(4));
        assert!(
            c.violations[0].starts_with("hop rule broken"),
            "{:?}",
            c.violations
        );
    }

    #[test]
    fn leaf_messages_need_interest_and_respect_denies() {
        let (mut c, [up, down, _, _]) = spoke_with_route();
        c.route_interest(up, "a.b", None, None, 0, at(1));
        c.routed(down, Some(key(0)), Vec::new(), None, at(3));
        assert!(
            c.violations[0].contains("without interest"),
            "{:?}",
            c.violations
        );
        let (mut c, [_, down, _, _]) = spoke_with_route();
        c.leaf_link(down, true, vec!["a.*".into()], Vec::new());
        c.routed(down, Some(key(0)), Vec::new(), None, at(3));
        assert!(c.violations[0].contains("deny"), "{:?}", c.violations);
    }

    #[test]
    fn leaf_interest_follows_the_roles() {
        // The spoke (node 1) tells its hub its client's interest and its
        // own loop-detection subject, not what its route told it; the hub
        // tells its spoke its own.
        let mut c = Checker::default();
        let up = c.open_link((1, 0), (0, 0), LinkKind::Leaf);
        let down = c.open_link((0, 0), (1, 0), LinkKind::Leaf);
        c.leaf_link(up, false, Vec::new(), Vec::new());
        c.leaf_link(down, true, Vec::new(), Vec::new());
        let _ = c.open_link((1, 0), (2, 0), LinkKind::Route);
        let r21 = c.open_link((2, 0), (1, 0), LinkKind::Route);
        c.route_interest(up, "$LDS.spoke", None, None, 1, at(1));
        c.route_interest(down, "$LDS.hub", None, None, 1, at(1));
        c.open_inc(0, 1, 0, true);
        let s = c.sub_written(0, 1, "x.y", None, false);
        c.processed(OpRef::Sub(s), at(5));
        c.route_interest(r21, "z.*", None, None, 1, at(6));
        let keys = |c: &Checker, l| -> Vec<String> {
            c.expected_leaf_interest(l)
                .into_keys()
                .map(|k| k.0)
                .collect()
        };
        assert_eq!(keys(&c, up), ["$LDS.spoke", "x.y"]);
        assert_eq!(keys(&c, down), ["$LDS.hub"]);
    }

    /// A hub cluster: hub nodes 0 and 1 routed; node 2 (leaf cluster
    /// `lc`) is a spoke of node 0, node 3 (also `lc`) one of node 1. A
    /// message published on node 2 has reached node 0.
    fn hub_cluster() -> (Checker, [LinkId; 6]) {
        let mut c = Checker::default();
        c.open_inc(0, 2, 0, true);
        let spoke = |c: &mut Checker, spoke: usize, hub: usize| {
            let up = c.open_link((spoke, 0), (hub, 0), LinkKind::Leaf);
            let down = c.open_link((hub, 0), (spoke, 0), LinkKind::Leaf);
            c.leaf_link(up, false, Vec::new(), Vec::new());
            c.leaf_link(down, true, Vec::new(), Vec::new());
            c.link_cluster(up, "lc");
            (up, down)
        };
        let (up20, down02) = spoke(&mut c, 2, 0);
        let (up31, down13) = spoke(&mut c, 3, 1);
        let r01 = c.open_link((0, 0), (1, 0), LinkKind::Route);
        let r10 = c.open_link((1, 0), (0, 0), LinkKind::Route);
        c.route_interest(up20, "a.b", None, None, 1, at(1));
        c.route_interest(down02, "a.b", None, None, 1, at(1));
        c.route_interest(up31, "a.b", None, None, 1, at(1));
        c.route_interest(r10, "a.b", None, None, 1, at(1));
        let m = c.pub_written(0, key(0), "a.b", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(2));
        c.routed(up20, Some(key(0)), Vec::new(), None, at(3));
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        (c, [up20, up31, down13, r01, r10, m])
    }

    #[test]
    fn a_route_carries_a_leaf_message_with_its_cluster() {
        let (mut c, [_, _, _, r01, ..]) = hub_cluster();
        c.routed(r01, Some(key(0)), Vec::new(), Some("lc".into()), at(4));
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        assert_eq!(c.stats.leaf_origin_routed, 1);
        let (mut c, [_, _, _, r01, ..]) = hub_cluster();
        c.routed(r01, Some(key(0)), Vec::new(), None, at(4));
        assert!(
            c.violations[0].contains("with origin None"),
            "{:?}",
            c.violations
        );
    }

    #[test]
    fn no_leaf_link_of_the_origin_cluster_gets_it_back() {
        // Node 1 had it from node 0 as `LMSG lc`: node 3 is of cluster
        // `lc` too, so node 1 may not pass it there.
        let (mut c, [_, _, down13, r01, ..]) = hub_cluster();
        c.routed(r01, Some(key(0)), Vec::new(), Some("lc".into()), at(4));
        c.routed(down13, Some(key(0)), Vec::new(), None, at(5));
        assert!(
            c.violations[0].starts_with("hop rule broken"),
            "{:?}",
            c.violations
        );
    }

    #[test]
    fn a_server_names_only_the_queue_groups_it_may_choose() {
        // Node 2's LMSG named no group: node 0 may not pick one for the
        // route.
        let (mut c, [_, _, _, r01, ..]) = hub_cluster();
        c.routed(
            r01,
            Some(key(0)),
            vec!["g".into()],
            Some("lc".into()),
            at(4),
        );
        assert!(
            c.violations[0].contains("named queue group g"),
            "{:?}",
            c.violations
        );
    }

    #[test]
    fn a_hub_announces_its_spokes_interest_by_cluster() {
        let (mut c, [up20, ..]) = hub_cluster();
        c.route_interest(up20, "q.*", Some("g".into()), None, 2, at(6));
        // A second spoke of node 0 from the same cluster adds its members.
        let up40 = c.open_link((4, 0), (0, 0), LinkKind::Leaf);
        let down04 = c.open_link((0, 0), (4, 0), LinkKind::Leaf);
        c.leaf_link(up40, false, Vec::new(), Vec::new());
        c.leaf_link(down04, true, Vec::new(), Vec::new());
        c.link_cluster(up40, "lc");
        c.route_interest(up40, "q.*", Some("g".into()), None, 3, at(7));
        let want: Vec<_> = c.expected_route_leaf_interest(0, 0).into_iter().collect();
        assert_eq!(
            want,
            [
                (("lc".to_string(), "a.b".to_string(), None), 1),
                (
                    ("lc".to_string(), "q.*".to_string(), Some("g".to_string())),
                    5
                ),
            ]
        );
        // A hub's interest, told to its spoke, is not its spoke's to
        // announce: nothing from node 1's spoke link.
        assert!(c.expected_route_leaf_interest(3, 0).is_empty());
    }

    #[test]
    fn queue_group_gets_one_copy() {
        let mut c = Checker::default();
        c.open_inc(0, 0, 0, true);
        c.open_inc(1, 0, 0, true);
        c.open_inc(2, 0, 0, true);
        for inc in [1, 2] {
            let s = c.sub_written(inc, 1, "q.*", Some("g".into()), false);
            c.processed(OpRef::Sub(s), at(1));
        }
        let m = c.pub_written(0, key(0), "q.x", None, None, Instant::ZERO);
        c.processed(OpRef::Pub(m), at(2));
        c.final_check();
        assert!(c.violations[0].starts_with("missing queue delivery"));
        c.violations.clear();
        c.delivered(1, b"1", b"q.x", None, key(0));
        c.delivered(2, b"1", b"q.x", None, key(0));
        assert!(c.violations[0].starts_with("second delivery to one queue group"));
    }
}
