//! The router's rules: who may forward a message to whom, where a new
//! subscription's interest is told, and which queue groups a message may
//! serve.
//!
//! A server can hold five kinds of peers at once: its own clients, routes
//! to the rest of its cluster, gateways to other clusters, and leaf links
//! on which it is either the hub or the spoke. Which of them may pass a
//! message (or interest) on to which is one matrix, the one in
//! `docs/protocol-leaf-gateway.md` section 3, checked against nats-server's
//! source. This module keeps that matrix as two `const` tables
//! ([`FORWARDING`], [`PROPAGATION`]) and decides concrete cases with pure
//! functions ([`may_forward`], [`propagates`], [`serves_group`]).
//!
//! The router returns verdicts; the engine writes the bytes. The verdicts
//! answer "may this kind of peer ever get it from that kind of peer"; the
//! engine still checks, per destination, what the table does not: interest
//! (does the destination want the subject), permissions and
//! `deny_imports`/`deny_exports`, the publisher's `echo`, which member of a
//! queue group is picked, and the message's wire form (`RMSG`, `LMSG`
//! with its origin cluster, `MSG`).
//!
//! Two steps happen before the matrix and are not in it:
//! - a `_GR_.`/`$GR.` subject from a route or gateway is triaged first
//!   (section 2.6): dropped if its cluster hash is not ours; sent raw over
//!   the one route its server hash names, when a gateway brought it for a
//!   cluster peer; otherwise stripped and decided here with
//!   [`MsgFacts::gateway_reply`] set;
//! - an import moves a message into another account, and the hop is
//!   decided here with [`Origin::Internal`] and its [`ImportLeg`].
//!
//! Every type is `Copy` and every function is allocation-free and total:
//! no input can make them panic.

pub(crate) mod fanout;
pub(crate) mod imports;
mod matrix;
pub(crate) mod trace;

pub use matrix::{
    forward_rule, may_forward, names_group, propagates, serves_group, spread_rule, Forward, Spread,
    FORWARDING, PROPAGATION,
};

/// Where a message, or a subscription's interest, came from: the rows of
/// the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Origin {
    /// A client connection of this server (nats-server's CLIENT, and its
    /// internal SYSTEM, JETSTREAM and ACCOUNT clients, which forward the
    /// same way).
    Client = 0,
    /// This server itself, moving a message between accounts through an
    /// import (the message's [`ImportLeg`] says which hop), or holding the
    /// interest an import needs (the stream's subject in the exporting
    /// account, `_R_.<prefix>.>` for service responses).
    ///
    /// The leaf and gateway cells describe an import applied to a message
    /// published on this server. nats-server forwards an import applied to
    /// a message that arrived on a route, leaf or gateway by that carrier's
    /// row (its `processServiceImport` calls `processMsgResults` with the
    /// carrying connection); revisit those cells when leafs and gateways
    /// arrive in the engine.
    Internal = 1,
    /// A route: another server of this cluster (`RS+`, `RMSG`, and `LS+`/
    /// `LMSG` for interest and messages a route's server got from a leaf).
    Route = 2,
    /// A leaf link on which this server is the hub (nats-server's
    /// `isHubLeafNode`): by default a link this server accepted, so the
    /// message or `LS+` came up from one of our spokes. A remote with
    /// `hub: true` reverses the roles.
    LeafHub = 3,
    /// A leaf link on which this server is the spoke (nats-server's
    /// `isSpokeLeafNode`): by default a link this server solicited, so the
    /// message or `LS+` came down from our hub.
    LeafSpoke = 4,
    /// A gateway to another cluster: a message read on an inbound gateway
    /// link, or interest (`RS+`) read on an outbound one.
    Gateway = 5,
}

impl Origin {
    /// How many kinds of origin there are (the matrix's rows).
    pub const COUNT: usize = 6;

    /// Every origin, in table order: `Origin::ALL[o.index()] == o`.
    pub const ALL: [Origin; Origin::COUNT] = [
        Origin::Client,
        Origin::Internal,
        Origin::Route,
        Origin::LeafHub,
        Origin::LeafSpoke,
        Origin::Gateway,
    ];

    /// This origin's row in [`FORWARDING`] and [`PROPAGATION`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Where a message, or interest, may go: the columns of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Dest {
    /// This server's client connections (and its internal subscribers).
    /// Interest is never told to clients.
    Clients = 0,
    /// Routes to the other servers of this cluster.
    Routes = 1,
    /// Gateways: messages go out on outbound gateway links, interest
    /// (`RS+`) on inbound ones.
    Gateways = 2,
    /// Leaf links on which this server is the hub (nats-server's
    /// `isHubLeafNode`; by default the ones it accepted): toward our
    /// spokes.
    LeafHubLinks = 3,
    /// Leaf links on which this server is the spoke (nats-server's
    /// `isSpokeLeafNode`; by default the ones it solicited): toward our
    /// hub.
    LeafSpokeLinks = 4,
}

impl Dest {
    /// How many kinds of destination there are (the matrix's columns).
    pub const COUNT: usize = 5;

    /// Every destination, in table order: `Dest::ALL[d.index()] == d`.
    pub const ALL: [Dest; Dest::COUNT] = [
        Dest::Clients,
        Dest::Routes,
        Dest::Gateways,
        Dest::LeafHubLinks,
        Dest::LeafSpokeLinks,
    ];

    /// This destination's column in [`FORWARDING`] and [`PROPAGATION`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Which hop of an import moved a message into the account it is being
/// delivered in. Only [`Origin::Internal`] messages have one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImportLeg {
    /// Not moved by an import.
    #[default]
    NotImported,
    /// A stream export's message, delivered to the importing account's
    /// subscribers.
    Stream,
    /// A service request, carried into the exporting account (its reply,
    /// if any, rewritten to `_R_.…`).
    Request,
    /// The response to a rewritten service request, carried back to the
    /// importing account on its original reply subject.
    Response,
}

/// What the matrix needs to know about a message. Build it with
/// [`MsgFacts::new`] and the `with_*` methods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgFacts<'a> {
    /// The subject, as subscribers here see it, starts with `_R_.`: a
    /// response to a service request some server rewrote.
    pub service_reply: bool,
    /// The message arrived with a `_GR_.` (or old `$GR.`) subject naming
    /// this cluster, on a server with gateways, and is being delivered here
    /// with the prefix stripped (nats-server's `handleGatewayReply` taking
    /// it). Always false on a server without gateways.
    pub gateway_reply: bool,
    /// The leaf cluster the message entered this cluster from: the sending
    /// leaf link's remote cluster, or the origin of an `LMSG` read on a
    /// route. `None` (or empty) for anything else.
    pub origin_cluster: Option<&'a [u8]>,
    /// The import hop that moved it, for [`Origin::Internal`].
    pub import: ImportLeg,
}

impl<'a> MsgFacts<'a> {
    /// Facts of a message on `subject` (as subscribers see it): not a
    /// gateway reply, from no leaf cluster, not imported.
    pub fn new(subject: &[u8]) -> MsgFacts<'a> {
        MsgFacts {
            service_reply: is_service_reply(subject),
            ..MsgFacts::default()
        }
    }

    /// The same facts, for a `_GR_.` reply addressed to this cluster and
    /// delivered here stripped (see [`MsgFacts::gateway_reply`]).
    pub const fn with_gateway_reply(self) -> MsgFacts<'a> {
        MsgFacts {
            gateway_reply: true,
            ..self
        }
    }

    /// The same facts, for a message that entered from leaf cluster
    /// `cluster`.
    pub const fn with_origin_cluster(self, cluster: &'a [u8]) -> MsgFacts<'a> {
        MsgFacts {
            origin_cluster: Some(cluster),
            ..self
        }
    }

    /// The same facts, for a message moved by import hop `leg`.
    pub const fn with_import(self, leg: ImportLeg) -> MsgFacts<'a> {
        MsgFacts {
            import: leg,
            ..self
        }
    }
}

/// What the propagation table needs to know about a subscription whose
/// interest is being told. Build it with [`SubFacts::new`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubFacts<'a> {
    /// The subject starts with `$LDS.`: a leaf loop-detection subject,
    /// relayed where other interest is not (section 1.7).
    pub loop_detection: bool,
    /// The leaf cluster the interest came from: the leaf link's remote
    /// cluster for an `LS+` read on a leaf link, the origin of an `LS+`
    /// read on a route. `None` (or empty) for anything else.
    pub origin_cluster: Option<&'a [u8]>,
}

impl<'a> SubFacts<'a> {
    /// Facts of a subscription on `subject`, from no leaf cluster.
    pub fn new(subject: &[u8]) -> SubFacts<'a> {
        SubFacts {
            loop_detection: subject.starts_with(LOOP_DETECTION_PREFIX),
            origin_cluster: None,
        }
    }

    /// The same facts, for interest that came from leaf cluster `cluster`.
    pub const fn with_origin_cluster(self, cluster: &'a [u8]) -> SubFacts<'a> {
        SubFacts {
            origin_cluster: Some(cluster),
            ..self
        }
    }
}

/// What the matrix needs to know about one destination connection.
/// Fields that do not apply to the destination's kind stay at their
/// defaults (`None`, `false`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkFacts<'a> {
    /// The destination leaf link's remote cluster (the peer's cluster
    /// name as its CONNECT or INFO gave it).
    pub remote_cluster: Option<&'a [u8]>,
    /// The destination is the connection the message or interest came in
    /// on (leafs are "no echo").
    pub is_sender: bool,
    /// The destination leaf link is isolated (`isolate_leafnode_interest`,
    /// or the peer's `request_isolation`): no interest from other leaf
    /// links goes to it.
    pub isolated: bool,
    /// The destination is considered for a member of a queue group the
    /// message may serve (see [`serves_group`]), not for plain interest.
    /// Only forwarding asks it.
    pub for_queue: bool,
}

/// The prefix of the reply subjects service imports rewrite to (nats-server
/// `replyPrefix`).
pub const SERVICE_REPLY_PREFIX: &[u8] = b"_R_.";

/// The prefix of leaf loop-detection subjects (nats-server
/// `leafNodeLoopDetectionSubjectPrefix`).
pub const LOOP_DETECTION_PREFIX: &[u8] = b"$LDS.";

/// Whether a peer told `old` members of some interest must hear that it
/// now has `new`: a plain subject when it comes or goes (`+` on the
/// first, `-` on the last), a queue group on every change of its total
/// (the weight `RS+`/`LS+` carry).
pub fn interest_changed(queue: bool, old: u32, new: u32) -> bool {
    if queue {
        new != old
    } else {
        (old == 0) != (new == 0)
    }
}

/// Whether `subject` is a service-import reply (`_R_.…`), as nats-server's
/// `isServiceReply` decides it.
pub fn is_service_reply(subject: &[u8]) -> bool {
    subject.starts_with(SERVICE_REPLY_PREFIX)
}

/// Whether the origin leaf cluster (of a message, or of interest) is the
/// destination link's remote cluster. An empty or missing name matches nothing (nats-server
/// compares only a non-empty origin).
fn same_cluster(origin: Option<&[u8]>, remote: Option<&[u8]>) -> bool {
    match (origin, remote) {
        (Some(o), Some(r)) => !o.is_empty() && o == r,
        (Some(_), None) | (None, Some(_)) | (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_and_dest_indexes_are_their_table_positions() {
        for (i, o) in Origin::ALL.iter().enumerate() {
            assert_eq!(o.index(), i, "{o:?}");
        }
        for (i, d) in Dest::ALL.iter().enumerate() {
            assert_eq!(d.index(), i, "{d:?}");
        }
    }

    #[test]
    fn message_facts_read_the_subject_prefixes() {
        assert!(MsgFacts::new(b"_R_.abc.x").service_reply);
        assert!(!MsgFacts::new(b"_R_").service_reply);
        assert!(!MsgFacts::new(b"foo._R_.x").service_reply);
        assert!(SubFacts::new(b"$LDS.xyz").loop_detection);
        assert!(!SubFacts::new(b"$LDSx").loop_detection);
    }

    #[test]
    fn clusters_match_only_when_named_and_equal() {
        assert!(same_cluster(Some(b"LC"), Some(b"LC")));
        assert!(!same_cluster(Some(b"LC"), Some(b"OTHER")));
        assert!(!same_cluster(Some(b""), Some(b"")));
        assert!(!same_cluster(None, Some(b"LC")));
        assert!(!same_cluster(Some(b"LC"), None));
        assert!(!same_cluster(None, None));
    }
}
