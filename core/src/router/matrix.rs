//! The forwarding matrix of `docs/protocol-leaf-gateway.md` section 3 as a
//! `const` table, the function that decides a concrete case from it, and
//! the queue-group rule.
//!
//! Each cell names its source: the doc's table row (`doc:572` is line 572
//! of protocol-leaf-gateway.md) and the nats-server function that
//! implements it, read at commit 1787eee0 (2.15.0-dev, the snapshot the doc
//! was written from; these functions are the same in v2.14.5). Where the
//! doc and the source disagree, the cell follows the source and its comment
//! says so; "[V]" marks a disagreement also checked on the 2.15.1 binary.
//! The cells for today's engine (origins client, internal, route;
//! destinations clients, routes) match what the engine does now.

use super::{same_cluster, Dest, ImportLeg, LinkFacts, MsgFacts, Origin};

/// What one cell of the forwarding matrix lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    /// Nothing.
    Never,
    /// Every message (interest, permissions and echo are checked by the
    /// caller).
    Always,
    /// Only a service request an import carried into the exporting account
    /// ([`ImportLeg::Request`]).
    OnlyServiceRequests,
    /// Every message except a stream import's hop into the importing
    /// account (each server applies stream imports for itself).
    NotStreamImports,
    /// Only a gateway reply delivered here stripped
    /// ([`MsgFacts::gateway_reply`]), or a member of a queue group the
    /// message names when no local member can take it
    /// ([`LinkFacts::for_queue`]).
    OnlyGatewayRepliesOrQueues,
    /// Only a gateway reply delivered here stripped, whose stripped subject
    /// is not a service reply (`_R_.`).
    OnlyGatewayRepliesNotServiceReplies,
    /// Every message, except to a leaf link whose remote cluster is the
    /// leaf cluster the message entered from ("cluster-wide no echo").
    NotToOriginCluster,
    /// As [`Forward::NotToOriginCluster`], and never back on the link the
    /// message came in on ("no echo" for leafs).
    NotToSenderNorOriginCluster,
    /// Only a service reply (`_R_.`), or a member of a queue group the
    /// message names; and, as [`Forward::NotToOriginCluster`], not to the
    /// origin leaf cluster.
    OnlyServiceRepliesOrQueuesNotToOriginCluster,
}

impl Forward {
    /// Whether this rule lets `msg` through to the destination `link`.
    pub fn allows(self, msg: &MsgFacts<'_>, link: &LinkFacts<'_>) -> bool {
        let echo_cluster = same_cluster(msg.origin_cluster, link.remote_cluster);
        match self {
            Forward::Never => false,
            Forward::Always => true,
            Forward::OnlyServiceRequests => msg.import == ImportLeg::Request,
            Forward::NotStreamImports => msg.import != ImportLeg::Stream,
            Forward::OnlyGatewayRepliesOrQueues => msg.gateway_reply || link.for_queue,
            Forward::OnlyGatewayRepliesNotServiceReplies => msg.gateway_reply && !msg.service_reply,
            Forward::NotToOriginCluster => !echo_cluster,
            Forward::NotToSenderNorOriginCluster => !link.is_sender && !echo_cluster,
            Forward::OnlyServiceRepliesOrQueuesNotToOriginCluster => {
                (msg.service_reply || link.for_queue) && !echo_cluster
            }
        }
    }
}

/// The forwarding matrix: `FORWARDING[from.index()][to.index()]` says
/// whether a message that came from `from` may be sent to `to`.
///
/// Columns: clients, routes, gateways, hub-role leaf links, spoke links.
pub const FORWARDING: [[Forward; Dest::COUNT]; Origin::COUNT] = {
    use Forward::*;
    [
        // Client (doc:572; client.go processInboundClientMsg ->
        // processMsgResults, then sendMsgToGateways).
        [Always, Always, Always, Always, Always],
        // Internal: an import's hop. doc:572 says "yes" to all.
        // - Clients: the engine's cross_accounts delivers every hop locally.
        // - Routes: the engine sends only service requests (cross_accounts
        //   `if service`). The source also forwards responses
        //   (processServiceImport: a client-carried response goes to route
        //   subs, a route-carried one with pmrAllowSendFromRouteToRoute);
        //   stream hops reach only local shadow subs (processMsgResults
        //   `sub.im`), as here.
        // - Gateways: source, processServiceImport calls sendMsgToGateways
        //   for requests and responses; a stream hop is local only.
        // - Leaf links: source, processMsgResults with the client carrier
        //   (leaf subs get shadow subs too, leafnode.go processLeafSub).
        [
            Always,
            OnlyServiceRequests,
            NotStreamImports,
            Always,
            Always,
        ],
        // Route (doc:573; route.go processInboundRoutedMsg ->
        // processMsgResults with pmrNoFlag; no sendMsgToGateways).
        // - Routes: plain subs only with pmrAllowSendFromRouteToRoute, set by
        //   gateway.go handleGatewayReply for a `_GR_` reply a route brought.
        //   The doc omits that processMsgResults (src == ROUTER) may pick a
        //   routed member of a named group as `rsub` when no local member
        //   takes it: a queue member can be on another route.
        // - Gateways: doc:573 says "no". The source's handleGatewayReply
        //   re-sends a stripped `_GR_` reply to gateways unless it is `_R_.`.
        // - Hub-role leaf links: `sub.client.isHubLeafNode()`, then the
        //   cluster-wide no echo on `c.pa.origin` (sendToRoutesOrLeafs).
        // - Spoke links: plain subs only `isServiceReply(c.pa.subject)`. The
        //   doc omits that a named group's member on a spoke link can be the
        //   route message's `rsub` (no spoke check for queue subs); the
        //   origin-cluster check applies to both.
        [
            Always,
            OnlyGatewayRepliesOrQueues,
            OnlyGatewayRepliesNotServiceReplies,
            NotToOriginCluster,
            OnlyServiceRepliesOrQueuesNotToOriginCluster,
        ],
        // LeafHub: from our spoke (doc:575; leafnode.go processInboundLeafMsg
        // -> processMsgResults, then sendMsgToGateways with checkLeafQF).
        // - Routes: `c.kind != ROUTER && !c.isSpokeLeafNode()`, as `LMSG`.
        // - Leaf links: `c != sub.client`, then no echo to the sender's
        //   cluster. doc:575 says spoke links get "yes"; the source's
        //   origin-cluster check covers every leaf destination, spokes too.
        [
            Always,
            Always,
            Always,
            NotToSenderNorOriginCluster,
            NotToOriginCluster,
        ],
        // LeafSpoke: from our hub (doc:576, doc:273; same functions).
        // - Routes: never, plain (`!c.isSpokeLeafNode()`) or queue
        //   (processMsgResults skips ROUTER qsubs for a spoke source).
        // - Spoke links: doc:576 says "yes, other spokes"; the source also
        //   applies the origin-cluster check (our hub's cluster). [V: an LMSG
        //   from hub cluster HA reached a sibling spoke link to cluster HB,
        //   and not one whose hub also called its cluster HA.]
        [
            Always,
            Never,
            Always,
            NotToOriginCluster,
            NotToSenderNorOriginCluster,
        ],
        // Gateway (doc:574; gateway.go processInboundGatewayMsg ->
        // processMsgResults with pmrNoFlag; leafOrigin is empty, so no
        // cluster check).
        // - Gateways: doc:574 says "no (no multi-hop)". The source's
        //   handleGatewayReply re-sends a stripped `_GR_` reply to gateways
        //   unless it is `_R_.` (doc section 2.6 says so too).
        [
            Always,
            Always,
            OnlyGatewayRepliesNotServiceReplies,
            Always,
            Always,
        ],
    ]
};

/// The forwarding cell for messages from `from` to `to`.
pub const fn forward_rule(from: Origin, to: Dest) -> Forward {
    FORWARDING[from.index()][to.index()]
}

/// Whether a message that came from `from`, described by `msg`, may be
/// sent to the destination `link` of kind `to`. The caller still checks
/// interest, permissions and echo.
///
/// Today's engine asks: a client's publish, `(Client, Clients)` and
/// `(Client, Routes)`; a routed message, `(Route, Clients)` and
/// `(Route, Routes)` (always refused: the engine sends no gateway replies);
/// an import's hop, `(Internal, Clients)` and `(Internal, Routes)` with the
/// hop's [`ImportLeg`].
pub fn may_forward(from: Origin, to: Dest, msg: &MsgFacts<'_>, link: &LinkFacts<'_>) -> bool {
    forward_rule(from, to).allows(msg, link)
}

/// Whether a message that came from `from` may be given to a member of
/// queue group `group` here. `named` is the queue list the message carried
/// (the names after `|` or `+ <reply>`, space- or tab-separated; empty
/// when it carried none).
///
/// A client's publish, and an import's hop, choose among all groups. A
/// message from a route, leaf or gateway reaches only the groups it names
/// (doc:578; client.go processMsgResults `qf`), so one without a list
/// reaches no queue subscriber. A gateway reply delivered here stripped
/// with no list reaches every group (handleGatewayReply passes
/// pmrIgnoreEmptyQueueFilter).
///
/// Two source details are not modelled: nats-server also ignores an empty
/// list for a leaf message whose subject an account mapping rewrote, and
/// for an import's hop it keeps filtering by the carrier's non-empty list;
/// the engine has neither.
pub fn serves_group(from: Origin, msg: &MsgFacts<'_>, named: &[u8], group: &[u8]) -> bool {
    match from {
        Origin::Client | Origin::Internal => true,
        Origin::Route | Origin::LeafHub | Origin::LeafSpoke | Origin::Gateway => {
            if queue_names(named).next().is_none() {
                msg.gateway_reply
            } else {
                names_group(named, group)
            }
        }
    }
}

/// Whether the queue list `named` (space- or tab-separated) names `group`.
pub fn names_group(named: &[u8], group: &[u8]) -> bool {
    queue_names(named).any(|name| name == group)
}

/// The names in a queue list, skipping empty ones.
fn queue_names(named: &[u8]) -> impl Iterator<Item = &[u8]> {
    named
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dest::*;
    use Origin::*;

    // ---- facts ----------------------------------------------------------

    const HUB: &[u8] = b"HUB";
    const LC: &[u8] = b"LC";
    const LX: &[u8] = b"LX";

    fn plain() -> MsgFacts<'static> {
        MsgFacts::new(b"orders.new")
    }

    fn service_reply() -> MsgFacts<'static> {
        MsgFacts::new(b"_R_.ab12Cd.x9Yz01")
    }

    /// A `_GR_` reply addressed here, delivered with its stripped subject.
    fn gr_reply() -> MsgFacts<'static> {
        MsgFacts::new(b"_INBOX.a").with_gateway_reply()
    }

    /// The same, for a reply to a service request (stripped to `_R_.`).
    fn gr_service_reply() -> MsgFacts<'static> {
        MsgFacts::new(b"_R_.ab12Cd.x").with_gateway_reply()
    }

    fn from_leaf(cluster: &'static [u8]) -> MsgFacts<'static> {
        plain().with_origin_cluster(cluster)
    }

    fn imported(leg: ImportLeg) -> MsgFacts<'static> {
        plain().with_import(leg)
    }

    fn link() -> LinkFacts<'static> {
        LinkFacts::default()
    }

    fn leaf(cluster: &'static [u8]) -> LinkFacts<'static> {
        LinkFacts {
            remote_cluster: Some(cluster),
            ..link()
        }
    }

    fn the_sender(cluster: &'static [u8]) -> LinkFacts<'static> {
        LinkFacts {
            is_sender: true,
            ..leaf(cluster)
        }
    }

    fn queue_member(link: LinkFacts<'static>) -> LinkFacts<'static> {
        LinkFacts {
            for_queue: true,
            ..link
        }
    }

    fn fwd(from: Origin, to: Dest, msg: MsgFacts<'_>, link: LinkFacts<'_>) -> bool {
        may_forward(from, to, &msg, &link)
    }

    /// Every message shape against every destination shape, including the
    /// ones the conditional rules refuse.
    fn message_cases() -> Vec<(MsgFacts<'static>, LinkFacts<'static>)> {
        let msgs = [
            plain(),
            service_reply(),
            gr_reply(),
            gr_service_reply(),
            from_leaf(LC),
            imported(ImportLeg::Stream),
            imported(ImportLeg::Request),
            imported(ImportLeg::Response),
        ];
        let links = [
            link(),
            leaf(LC),
            the_sender(LC),
            queue_member(link()),
            queue_member(leaf(LC)),
        ];
        pairs(&msgs, &links)
    }

    /// Every `(x, y)` with `x` from `xs` and `y` from `ys`.
    fn pairs<X: Copy, Y: Copy>(xs: &[X], ys: &[Y]) -> Vec<(X, Y)> {
        xs.iter()
            .flat_map(|&x| ys.iter().map(move |&y| (x, y)))
            .collect()
    }

    /// Asserts that `decide` gives `verdict` for every one of `cases`.
    fn same_verdict<C: Copy + std::fmt::Debug>(
        cases: Vec<C>,
        verdict: bool,
        decide: impl Fn(C) -> bool,
    ) {
        let odd = cases.into_iter().find(|&c| decide(c) != verdict);
        assert!(odd.is_none(), "not {verdict} for {odd:?}");
    }

    fn forwards_everything(from: Origin, to: Dest) {
        same_verdict(message_cases(), true, |(m, l)| fwd(from, to, m, l));
    }

    fn forwards_nothing(from: Origin, to: Dest) {
        same_verdict(message_cases(), false, |(m, l)| fwd(from, to, m, l));
    }

    // ---- forwarding: client ---------------------------------------------

    #[test]
    fn client_to_clients_always() {
        forwards_everything(Client, Clients);
    }

    #[test]
    fn client_to_routes_always() {
        forwards_everything(Client, Routes);
    }

    #[test]
    fn client_to_gateways_always() {
        forwards_everything(Client, Gateways);
    }

    #[test]
    fn client_to_leaf_hub_links_always() {
        forwards_everything(Client, LeafHubLinks);
    }

    #[test]
    fn client_to_leaf_spoke_links_always() {
        forwards_everything(Client, LeafSpokeLinks);
    }

    // ---- forwarding: internal (imports) ---------------------------------

    #[test]
    fn internal_to_clients_always() {
        forwards_everything(Internal, Clients);
    }

    #[test]
    fn internal_to_routes_only_service_requests() {
        assert!(fwd(Internal, Routes, imported(ImportLeg::Request), link()));
        assert!(!fwd(Internal, Routes, imported(ImportLeg::Stream), link()));
        assert!(!fwd(
            Internal,
            Routes,
            imported(ImportLeg::Response),
            link()
        ));
    }

    #[test]
    fn internal_to_gateways_not_stream_imports() {
        assert!(fwd(
            Internal,
            Gateways,
            imported(ImportLeg::Request),
            link()
        ));
        assert!(fwd(
            Internal,
            Gateways,
            imported(ImportLeg::Response),
            link()
        ));
        assert!(!fwd(
            Internal,
            Gateways,
            imported(ImportLeg::Stream),
            link()
        ));
    }

    #[test]
    fn internal_to_leaf_hub_links_always() {
        forwards_everything(Internal, LeafHubLinks);
    }

    #[test]
    fn internal_to_leaf_spoke_links_always() {
        forwards_everything(Internal, LeafSpokeLinks);
    }

    // ---- forwarding: route ----------------------------------------------

    #[test]
    fn route_to_clients_always() {
        forwards_everything(Route, Clients);
    }

    #[test]
    fn route_to_routes_never_except_gateway_replies_and_queue_members() {
        assert!(!fwd(Route, Routes, plain(), link()));
        assert!(!fwd(Route, Routes, service_reply(), link()));
        assert!(fwd(Route, Routes, gr_reply(), link()));
        assert!(fwd(Route, Routes, plain(), queue_member(link())));
    }

    #[test]
    fn route_to_gateways_never_except_gateway_replies_not_service_replies() {
        assert!(!fwd(Route, Gateways, plain(), link()));
        assert!(!fwd(Route, Gateways, plain(), queue_member(link())));
        assert!(fwd(Route, Gateways, gr_reply(), link()));
        assert!(!fwd(Route, Gateways, gr_service_reply(), link()));
    }

    #[test]
    fn route_to_leaf_hub_links_not_to_origin_cluster() {
        assert!(fwd(Route, LeafHubLinks, plain(), leaf(LC)));
        assert!(fwd(Route, LeafHubLinks, from_leaf(LC), leaf(LX)));
        assert!(!fwd(Route, LeafHubLinks, from_leaf(LC), leaf(LC)));
        // A leaf link never sends a routed message: not checked.
        assert!(fwd(Route, LeafHubLinks, plain(), the_sender(LX)));
    }

    #[test]
    fn route_to_leaf_spoke_links_only_service_replies_or_queues_not_to_origin_cluster() {
        assert!(!fwd(Route, LeafSpokeLinks, plain(), leaf(HUB)));
        assert!(fwd(Route, LeafSpokeLinks, service_reply(), leaf(HUB)));
        assert!(fwd(Route, LeafSpokeLinks, plain(), queue_member(leaf(HUB))));
        let echo = service_reply().with_origin_cluster(HUB);
        assert!(!fwd(Route, LeafSpokeLinks, echo, leaf(HUB)));
    }

    // ---- forwarding: hub-role leaf link (from our spoke) ----------------

    #[test]
    fn leaf_hub_to_clients_always() {
        forwards_everything(LeafHub, Clients);
    }

    #[test]
    fn leaf_hub_to_routes_always() {
        forwards_everything(LeafHub, Routes);
    }

    #[test]
    fn leaf_hub_to_gateways_always() {
        forwards_everything(LeafHub, Gateways);
    }

    #[test]
    fn leaf_hub_to_leaf_hub_links_not_to_sender_nor_origin_cluster() {
        let msg = from_leaf(LC);
        assert!(fwd(LeafHub, LeafHubLinks, msg, leaf(LX)));
        assert!(!fwd(LeafHub, LeafHubLinks, msg, leaf(LC)));
        assert!(!fwd(LeafHub, LeafHubLinks, plain(), the_sender(LX)));
    }

    #[test]
    fn leaf_hub_to_leaf_spoke_links_not_to_origin_cluster() {
        let msg = from_leaf(LC);
        assert!(fwd(LeafHub, LeafSpokeLinks, msg, leaf(HUB)));
        assert!(!fwd(LeafHub, LeafSpokeLinks, msg, leaf(LC)));
        // A spoke link never sends a hub-role link's message: not checked.
        assert!(fwd(LeafHub, LeafSpokeLinks, plain(), the_sender(LX)));
    }

    // ---- forwarding: spoke link (from our hub) --------------------------

    #[test]
    fn leaf_spoke_to_clients_always() {
        forwards_everything(LeafSpoke, Clients);
    }

    #[test]
    fn leaf_spoke_to_routes_never() {
        forwards_nothing(LeafSpoke, Routes);
    }

    #[test]
    fn leaf_spoke_to_gateways_always() {
        forwards_everything(LeafSpoke, Gateways);
    }

    #[test]
    fn leaf_spoke_to_leaf_hub_links_not_to_origin_cluster() {
        let msg = from_leaf(HUB);
        assert!(fwd(LeafSpoke, LeafHubLinks, msg, leaf(LC)));
        assert!(!fwd(LeafSpoke, LeafHubLinks, msg, leaf(HUB)));
        // A hub-role link never sends a spoke link's message: not checked.
        assert!(fwd(LeafSpoke, LeafHubLinks, plain(), the_sender(LX)));
    }

    #[test]
    fn leaf_spoke_to_leaf_spoke_links_not_to_sender_nor_origin_cluster() {
        let msg = from_leaf(HUB);
        assert!(fwd(LeafSpoke, LeafSpokeLinks, msg, leaf(LX)));
        assert!(!fwd(LeafSpoke, LeafSpokeLinks, msg, leaf(HUB)));
        assert!(!fwd(LeafSpoke, LeafSpokeLinks, plain(), the_sender(LX)));
    }

    // ---- forwarding: gateway --------------------------------------------

    #[test]
    fn gateway_to_clients_always() {
        forwards_everything(Gateway, Clients);
    }

    #[test]
    fn gateway_to_routes_always() {
        forwards_everything(Gateway, Routes);
    }

    #[test]
    fn gateway_to_gateways_never_except_gateway_replies_not_service_replies() {
        assert!(!fwd(Gateway, Gateways, plain(), link()));
        assert!(!fwd(Gateway, Gateways, service_reply(), link()));
        assert!(fwd(Gateway, Gateways, gr_reply(), link()));
        assert!(!fwd(Gateway, Gateways, gr_service_reply(), link()));
    }

    #[test]
    fn gateway_to_leaf_hub_links_always() {
        forwards_everything(Gateway, LeafHubLinks);
    }

    #[test]
    fn gateway_to_leaf_spoke_links_always() {
        forwards_everything(Gateway, LeafSpokeLinks);
    }

    // ---- queue groups ---------------------------------------------------

    #[test]
    fn client_publish_chooses_its_groups() {
        assert!(serves_group(Client, &plain(), b"", b"workers"));
        assert!(serves_group(Client, &plain(), b"others", b"workers"));
    }

    #[test]
    fn import_hop_chooses_its_groups() {
        let hop = imported(ImportLeg::Stream);
        assert!(serves_group(Internal, &hop, b"", b"workers"));
    }

    #[test]
    fn remote_messages_serve_only_named_groups() {
        for from in [Route, LeafHub, LeafSpoke, Gateway] {
            assert!(
                serves_group(from, &plain(), b"a workers", b"workers"),
                "{from:?}"
            );
            assert!(
                !serves_group(from, &plain(), b"a b", b"workers"),
                "{from:?}"
            );
            assert!(!serves_group(from, &plain(), b"", b"workers"), "{from:?}");
        }
    }

    #[test]
    fn gateway_reply_without_names_serves_every_group() {
        let reply = gr_reply();
        assert!(serves_group(Gateway, &reply, b"", b"workers"));
        assert!(serves_group(Route, &reply, b" ", b"workers"));
        assert!(!serves_group(Gateway, &reply, b"others", b"workers"));
    }

    #[test]
    fn queue_lists_split_on_spaces_and_tabs() {
        assert!(names_group(b"a\tworkers  b", b"workers"));
        assert!(!names_group(b"workersx work", b"workers"));
        assert!(!names_group(b"a  b", b""));
    }

    // ---- the tables -----------------------------------------------------

    #[test]
    fn every_pair_has_a_cell() {
        let mut cells = 0;
        for from in Origin::ALL {
            for to in Dest::ALL {
                assert_eq!(forward_rule(from, to), FORWARDING[from.index()][to.index()]);
                cells += 1;
            }
        }
        assert_eq!(cells, FORWARDING.len() * FORWARDING[0].len());
    }
}
