//! The forwarding and propagation matrix of `docs/protocol-leaf-gateway.md`
//! section 3 as two `const` tables, the functions that decide a concrete
//! case from them, and the queue-group rule.
//!
//! Each cell names its source: the doc's table row (`doc:572` is line 572
//! of protocol-leaf-gateway.md) and the nats-server function that
//! implements it, read at commit 1787eee0 (2.15.0-dev, the snapshot the doc
//! was written from; these functions are the same in v2.14.5). Where the
//! doc and the source disagree, the cell follows the source and its comment
//! says so; "[V]" marks a disagreement also checked on the 2.15.1 binary.
//! The cells for today's engine (origins client, internal, route;
//! destinations clients, routes) match what the engine does now.

use super::{same_cluster, Dest, ImportLeg, LinkFacts, MsgFacts, Origin, SubFacts};

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

/// What one cell of the propagation table lets through: where a
/// subscription's interest (`RS+`, `LS+`, and their removals) is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spread {
    /// Nowhere.
    Never,
    /// Every subscription (permissions are checked by the caller).
    Always,
    /// Every subscription, except to a leaf link whose remote cluster is
    /// the subscription's origin leaf cluster.
    NotToOriginCluster,
    /// Only loop-detection subjects (`$LDS.`), and not to the origin leaf
    /// cluster.
    OnlyLoopDetection,
    /// Other leaf links: not the link the interest came from, not a link of
    /// the interest's origin cluster, not an isolated link.
    OtherLeafLinks,
    /// As [`Spread::OtherLeafLinks`], and only loop-detection subjects.
    OtherLeafLinksOnlyLoopDetection,
}

impl Spread {
    /// Whether this rule tells `sub`'s interest to the destination `link`.
    pub fn allows(self, sub: &SubFacts<'_>, link: &LinkFacts<'_>) -> bool {
        let echo_cluster = same_cluster(sub.origin_cluster, link.remote_cluster);
        let other_leaf = !link.is_sender && !echo_cluster && !link.isolated;
        match self {
            Spread::Never => false,
            Spread::Always => true,
            Spread::NotToOriginCluster => !echo_cluster,
            Spread::OnlyLoopDetection => sub.loop_detection && !echo_cluster,
            Spread::OtherLeafLinks => other_leaf,
            Spread::OtherLeafLinksOnlyLoopDetection => sub.loop_detection && other_leaf,
        }
    }
}

/// The propagation table: `PROPAGATION[from.index()][to.index()]` says
/// whether interest that came from `from` is told to `to`. Clients are
/// never told about interest.
///
/// The leaf cells are nats-server's updates (leafnode.go
/// updateLeafNodesEx and updateSmap). The first `LS+` set sent on a new
/// link (initLeafNodeSmapAndSendSubs) also includes, on a spoke link, the
/// interest learned from gateways; later gateway updates are not sent to
/// spokes. That initial-set quirk is not in this table.
pub const PROPAGATION: [[Spread; Dest::COUNT]; Origin::COUNT] = {
    use Spread::*;
    [
        // Client (doc:583; client.go processSubEx: updateRouteSubscriptionMap,
        // gatewayUpdateSubInterest, updateLeafNodes; updateSmap lets local
        // kinds through to spokes).
        [Never, Always, Always, Always, Always],
        // Internal: the interest imports need (not in the doc). The engine's
        // import_interest tells routes; in the source a stream import is a
        // shadow sub (client.go addShadowSub -> updateRemoteSubscription) and
        // the `_R_` response wildcard an internal sub that is forwarded
        // (accounts.go subscribeServiceImportResponse), both like a client.
        [Never, Always, Always, Always, Always],
        // Route (doc:584; route.go processRemoteSub: gatewayUpdateSubInterest
        // and updateLeafNodes; never back to routes).
        // - Hub-role links: the origin cluster of a routed `LS+` is not
        //   echoed. Isolation is not applied: updateLeafNodesEx skips only
        //   subs whose connection is a leaf link (doc 1.6 says "leaf-
        //   originated subs").
        // - Spoke links: doc:584 says "not spokes"; updateSmap still lets
        //   `$LDS.` through (doc:184 agrees).
        [Never, Never, Always, NotToOriginCluster, OnlyLoopDetection],
        // LeafHub: our spoke's interest (doc:585; leafnode.go processLeafSub
        // with !spoke: updateRouteSubscriptionMap, gatewayUpdateSubInterest,
        // updateLeafNodes; updateSmap lets hub-role leaf subs to spokes).
        [Never, Always, Always, OtherLeafLinks, OtherLeafLinks],
        // LeafSpoke: our hub's interest (doc:586; processLeafSub with spoke:
        // only updateLeafNodes).
        // - Spoke links: doc:586 says hub-role links only; updateSmap lets
        //   `$LDS.` through to other spokes. [V: of `LS+ $LDS.x` and `LS+ y`
        //   from one hub, only the first reached the other hub.]
        [
            Never,
            Never,
            Never,
            OtherLeafLinks,
            OtherLeafLinksOnlyLoopDetection,
        ],
        // Gateway: interest learned on an outbound link (doc:587;
        // gateway.go processGatewayRSub -> updateInterestForAccountOnGateway
        // -> updateLeafNodes only; a gateway sub has no origin cluster).
        // - Spoke links: doc:587 says hub-role links only; updateSmap lets
        //   `$LDS.` through.
        [Never, Never, Never, Always, OnlyLoopDetection],
    ]
};

/// The propagation cell for interest from `from` told to `to`.
pub const fn spread_rule(from: Origin, to: Dest) -> Spread {
    PROPAGATION[from.index()][to.index()]
}

/// Whether interest that came from `from`, described by `sub`, is told to
/// the destination `link` of kind `to`. The caller still checks
/// permissions and counts (first and last subscription per key).
///
/// Today's engine asks: a client's subscription, `(Client, Routes)`; an
/// import's standing interest, `(Internal, Routes)`; a route's `RS+`,
/// `(Route, Routes)` (always refused).
pub fn propagates(from: Origin, to: Dest, sub: &SubFacts<'_>, link: &LinkFacts<'_>) -> bool {
    spread_rule(from, to).allows(sub, link)
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

    fn isolated(cluster: &'static [u8]) -> LinkFacts<'static> {
        LinkFacts {
            isolated: true,
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

    // ---- propagation ----------------------------------------------------

    fn sub() -> SubFacts<'static> {
        SubFacts::new(b"orders.*")
    }

    fn lds() -> SubFacts<'static> {
        SubFacts::new(b"$LDS.Zx81kq0Yp2bN7sT4uVw3Ae")
    }

    fn spread(from: Origin, to: Dest, sub: SubFacts<'_>, link: LinkFacts<'_>) -> bool {
        propagates(from, to, &sub, &link)
    }

    /// Every interest shape against every destination shape, including
    /// the ones the conditional rules refuse.
    fn interest_cases() -> Vec<(SubFacts<'static>, LinkFacts<'static>)> {
        let subs = [
            sub(),
            lds(),
            sub().with_origin_cluster(LC),
            lds().with_origin_cluster(LC),
        ];
        let links = [link(), leaf(LC), the_sender(LX), isolated(LX)];
        pairs(&subs, &links)
    }

    fn tells_everything(from: Origin, to: Dest) {
        same_verdict(interest_cases(), true, |(s, l)| spread(from, to, s, l));
    }

    fn tells_nothing(from: Origin, to: Dest) {
        same_verdict(interest_cases(), false, |(s, l)| spread(from, to, s, l));
    }

    #[test]
    fn client_sub_to_clients_never() {
        tells_nothing(Client, Clients);
    }

    #[test]
    fn client_sub_to_routes_always() {
        tells_everything(Client, Routes);
    }

    #[test]
    fn client_sub_to_gateways_always() {
        tells_everything(Client, Gateways);
    }

    #[test]
    fn client_sub_to_leaf_hub_links_always() {
        tells_everything(Client, LeafHubLinks);
    }

    #[test]
    fn client_sub_to_leaf_spoke_links_always() {
        tells_everything(Client, LeafSpokeLinks);
    }

    #[test]
    fn internal_sub_to_clients_never() {
        tells_nothing(Internal, Clients);
    }

    #[test]
    fn internal_sub_to_routes_always() {
        tells_everything(Internal, Routes);
    }

    #[test]
    fn internal_sub_to_gateways_always() {
        tells_everything(Internal, Gateways);
    }

    #[test]
    fn internal_sub_to_leaf_hub_links_always() {
        tells_everything(Internal, LeafHubLinks);
    }

    #[test]
    fn internal_sub_to_leaf_spoke_links_always() {
        tells_everything(Internal, LeafSpokeLinks);
    }

    #[test]
    fn route_sub_to_clients_never() {
        tells_nothing(Route, Clients);
    }

    #[test]
    fn route_sub_to_routes_never() {
        tells_nothing(Route, Routes);
    }

    #[test]
    fn route_sub_to_gateways_always() {
        tells_everything(Route, Gateways);
    }

    #[test]
    fn route_sub_to_leaf_hub_links_not_to_origin_cluster() {
        let routed = sub().with_origin_cluster(LC);
        assert!(spread(Route, LeafHubLinks, sub(), leaf(LC)));
        assert!(spread(Route, LeafHubLinks, routed, isolated(LX)));
        assert!(!spread(Route, LeafHubLinks, routed, leaf(LC)));
    }

    #[test]
    fn route_sub_to_leaf_spoke_links_only_loop_detection() {
        assert!(!spread(Route, LeafSpokeLinks, sub(), leaf(HUB)));
        assert!(spread(Route, LeafSpokeLinks, lds(), leaf(HUB)));
        let echo = lds().with_origin_cluster(HUB);
        assert!(!spread(Route, LeafSpokeLinks, echo, leaf(HUB)));
        // Isolation filters only interest read on this server's leaf links.
        assert!(spread(Route, LeafSpokeLinks, lds(), isolated(HUB)));
    }

    #[test]
    fn leaf_hub_sub_to_clients_never() {
        tells_nothing(LeafHub, Clients);
    }

    #[test]
    fn leaf_hub_sub_to_routes_always() {
        tells_everything(LeafHub, Routes);
    }

    #[test]
    fn leaf_hub_sub_to_gateways_always() {
        tells_everything(LeafHub, Gateways);
    }

    #[test]
    fn leaf_hub_sub_to_leaf_hub_links_other_leaf_links() {
        let s = sub().with_origin_cluster(LC);
        assert!(spread(LeafHub, LeafHubLinks, s, leaf(LX)));
        assert!(!spread(LeafHub, LeafHubLinks, s, the_sender(LX)));
        assert!(!spread(LeafHub, LeafHubLinks, s, leaf(LC)));
        assert!(!spread(LeafHub, LeafHubLinks, s, isolated(LX)));
    }

    #[test]
    fn leaf_hub_sub_to_leaf_spoke_links_other_leaf_links() {
        let s = sub().with_origin_cluster(LC);
        assert!(spread(LeafHub, LeafSpokeLinks, s, leaf(HUB)));
        assert!(!spread(LeafHub, LeafSpokeLinks, s, leaf(LC)));
        assert!(!spread(LeafHub, LeafSpokeLinks, s, isolated(HUB)));
    }

    #[test]
    fn leaf_spoke_sub_to_clients_never() {
        tells_nothing(LeafSpoke, Clients);
    }

    #[test]
    fn leaf_spoke_sub_to_routes_never() {
        tells_nothing(LeafSpoke, Routes);
    }

    #[test]
    fn leaf_spoke_sub_to_gateways_never() {
        tells_nothing(LeafSpoke, Gateways);
    }

    #[test]
    fn leaf_spoke_sub_to_leaf_hub_links_other_leaf_links() {
        let s = sub().with_origin_cluster(HUB);
        assert!(spread(LeafSpoke, LeafHubLinks, s, leaf(LC)));
        assert!(!spread(LeafSpoke, LeafHubLinks, s, leaf(HUB)));
        assert!(!spread(LeafSpoke, LeafHubLinks, s, isolated(LC)));
    }

    #[test]
    fn leaf_spoke_sub_to_leaf_spoke_links_other_leaf_links_only_loop_detection() {
        let hub_lds = lds().with_origin_cluster(HUB);
        assert!(spread(LeafSpoke, LeafSpokeLinks, hub_lds, leaf(LX)));
        assert!(!spread(LeafSpoke, LeafSpokeLinks, sub(), leaf(LX)));
        assert!(!spread(LeafSpoke, LeafSpokeLinks, hub_lds, the_sender(LX)));
        assert!(!spread(LeafSpoke, LeafSpokeLinks, hub_lds, leaf(HUB)));
        assert!(!spread(LeafSpoke, LeafSpokeLinks, hub_lds, isolated(LX)));
    }

    #[test]
    fn gateway_sub_to_clients_never() {
        tells_nothing(Gateway, Clients);
    }

    #[test]
    fn gateway_sub_to_routes_never() {
        tells_nothing(Gateway, Routes);
    }

    #[test]
    fn gateway_sub_to_gateways_never() {
        tells_nothing(Gateway, Gateways);
    }

    #[test]
    fn gateway_sub_to_leaf_hub_links_always() {
        tells_everything(Gateway, LeafHubLinks);
    }

    #[test]
    fn gateway_sub_to_leaf_spoke_links_only_loop_detection() {
        assert!(!spread(Gateway, LeafSpokeLinks, sub(), leaf(HUB)));
        assert!(spread(Gateway, LeafSpokeLinks, lds(), leaf(HUB)));
        assert!(spread(Gateway, LeafSpokeLinks, lds(), isolated(HUB)));
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
    fn every_pair_has_a_cell_in_both_tables() {
        let mut cells = 0;
        for from in Origin::ALL {
            for to in Dest::ALL {
                assert_eq!(forward_rule(from, to), FORWARDING[from.index()][to.index()]);
                assert_eq!(spread_rule(from, to), PROPAGATION[from.index()][to.index()]);
                cells += 1;
            }
        }
        assert_eq!(cells, FORWARDING.len() * FORWARDING[0].len());
        assert_eq!(cells, PROPAGATION.len() * PROPAGATION[0].len());
    }
}
