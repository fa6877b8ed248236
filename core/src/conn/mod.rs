//! Connections: what every connection has ([`Conn`]), and what only one
//! kind has ([`ConnKind`]).
//!
//! Every socket the engine knows is a `Conn` in one map, whatever its
//! kind: clients, routes, and HTTP monitoring requests (leaf nodes and
//! gateways will be two more variants). What differs per kind as policy,
//! not as state, is in one table: [`policy`]. State that only one kind
//! has lives only in that kind's variant, and only that kind's code reads
//! it (`client/`, `cluster/`, `monitor/`).

pub(crate) mod policy;
mod trace;

use crate::account::AccountId;
use crate::ids::ConnId;
use crate::info::ConnectOptions;
use crate::monitor::http::Codec;
use crate::outbound::Outbound;
use crate::proto::Parser;
use crate::route::RouteLink;
use crate::sublist::Subscription;
use crate::time::Instant;
use crate::transport::Transport;
use bytes::Bytes;
use core::net::SocketAddr;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use policy::Policy;
pub(crate) use trace::Text;

/// Per-connection message counters (the `/connz` numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Messages received from the peer.
    pub in_msgs: u64,
    /// Payload bytes received from the peer.
    pub in_bytes: u64,
    /// Messages delivered to the peer.
    pub out_msgs: u64,
    /// Payload bytes delivered to the peer.
    pub out_bytes: u64,
}

/// One connection of any kind.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The engine's handle, unique among all connections.
    pub(crate) id: ConnId,
    /// The number nats-server shows for it (`cid`, `rid`, INFO
    /// `client_id`): counted only over kinds that take one (see
    /// [`Policy::takes_cid`]), so HTTP requests leave no gaps.
    pub(crate) cid: u64,
    pub(crate) peer: SocketAddr,
    /// The layers between the wire and the parser and outbound queue.
    pub(crate) transport: Transport,
    pub(crate) parser: Parser,
    /// Outbound plaintext: queued, or taken and not yet written. This is
    /// what the slow-consumer rule measures ([`Outbound::pending`]); the
    /// transport turns it into wire bytes, which `handle_written` counts.
    pub(crate) out: Outbound,
    pub(crate) ping: PingState,
    /// The peer's CONNECT arrived and was accepted (or this side dialed
    /// and sent its own): ops other than CONNECT may follow.
    pub(crate) connect_received: bool,
    /// Whether messages to this peer may carry headers.
    pub(crate) headers: bool,
    /// Whether this connection counts against max_connections.
    pub(crate) counted: bool,
    pub(crate) closed: bool,
    pub(crate) flush_scheduled: bool,
    /// When the driver may read this connection again on its own (a
    /// pause asked for while a consumer holds it; see `engine/stall.rs`).
    pub(crate) paused_until: Instant,
    /// Consumers holding this connection's reads (it produced for them
    /// while they were behind).
    pub(crate) held_by: u32,
    /// Producers this connection holds while it is behind.
    pub(crate) holding: Vec<ConnId>,
    pub(crate) stats: ConnStats,
    pub(crate) start: Instant,
    /// Last read from the peer.
    pub(crate) last_in: Instant,
    /// Last read from or delivery to the peer (`/connz` last_activity).
    pub(crate) last_activity: Instant,
    /// Where the connection is in TLS (`engine/tls.rs`).
    pub(crate) tls: crate::engine::tls::TlsStage,
    /// Where a route or leaf link is in S2 negotiation
    /// (`engine/compress.rs`).
    pub(crate) s2: crate::engine::compress::S2Link,
    /// Where the connection is in a WebSocket upgrade
    /// (`engine/websocket.rs`).
    pub(crate) ws: crate::engine::websocket::WsStage,
    /// What only this connection's kind has.
    pub(crate) kind: ConnKind,
}

/// The kind of a connection, with the state only that kind has.
#[derive(Debug)]
pub(crate) enum ConnKind {
    /// A client on the client port.
    Client(Box<ClientState>),
    /// A cluster route, accepted or dialed.
    Route(Box<RouteLink>),
    /// A leaf node link, accepted or dialed.
    Leaf(Box<crate::leaf::LeafLink>),
    /// A gateway link to another cluster, inbound or outbound.
    Gateway(Box<crate::gateway::GatewayLink>),
    /// An HTTP request on the monitoring port.
    Http(Box<HttpState>),
}

/// PING/PONG bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct PingState {
    /// PINGs sent and not yet answered.
    pub(crate) outstanding: u32,
    /// When the PING being timed was sent.
    pub(crate) rtt_start: Option<Instant>,
    /// Whether a PONG has been measured yet.
    pub(crate) rtt_known: bool,
    /// Last measured round trip.
    pub(crate) rtt: Option<Duration>,
}

/// What only a client connection has.
#[derive(Debug)]
pub(crate) struct ClientState {
    pub(crate) account: AccountId,
    pub(crate) opts: ConnectOptions,
    pub(crate) subs: HashMap<Bytes, Arc<Subscription>, ahash::RandomState>,
    pub(crate) first_pong_sent: bool,
    /// It came through the websocket port.
    pub(crate) websocket: bool,
    /// The nonce sent in INFO (NKey authentication), or empty.
    pub(crate) nonce: String,
    /// The authenticated user's permissions, if restricted.
    pub(crate) perms: Option<crate::perms::Permissions>,
    /// Reply subjects this client may answer (`allow_responses`): replies
    /// left and when the permission ends.
    pub(crate) responses: BTreeMap<Bytes, (u64, Instant)>,
    /// Operator mode: what the client's user JWT granted.
    pub(crate) jwt: Option<Box<crate::client::JwtUser>>,
}

/// What only an HTTP monitoring connection has.
#[derive(Debug, Default)]
pub(crate) struct HttpState {
    pub(crate) codec: Codec,
}

impl Conn {
    /// Puts this connection on the list of those to flush at the end of
    /// the current input, once.
    #[inline]
    pub(crate) fn schedule_flush(&mut self, dirty: &mut Vec<ConnId>) {
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            dirty.push(self.id);
        }
    }

    /// A new connection of `kind`, accepted or dialed at `now`.
    pub(crate) fn new(
        id: ConnId,
        cid: u64,
        peer: SocketAddr,
        kind: ConnKind,
        now: Instant,
    ) -> Self {
        Conn {
            id,
            cid,
            peer,
            transport: Transport::default(),
            parser: Parser::new(),
            out: Outbound::default(),
            ping: PingState::default(),
            connect_received: false,
            headers: false,
            counted: false,
            closed: false,
            flush_scheduled: false,
            paused_until: Instant::ZERO,
            held_by: 0,
            holding: Vec::new(),
            stats: ConnStats::default(),
            start: now,
            last_in: now,
            last_activity: now,
            tls: Default::default(),
            s2: Default::default(),
            ws: Default::default(),
            kind,
        }
    }

    /// What monitoring shows of this connection as a link.
    pub(crate) fn link_snapshot(&self) -> crate::monitor::inspect::LinkSnapshot {
        crate::monitor::inspect::LinkSnapshot {
            cid: self.cid,
            ip: self.peer.ip().to_string(),
            port: self.peer.port(),
            start: self.start,
            last_activity: self.last_activity,
            rtt: self.ping.rtt,
            compression: self.s2.mode_str(),
            pending: self.out.pending(),
            stats: self.stats,
        }
    }

    /// The policy of this connection's kind.
    pub(crate) fn policy(&self) -> &'static Policy {
        policy::of(&self.kind)
    }

    /// The client state, for client code.
    pub(crate) fn client(&self) -> Option<&ClientState> {
        match &self.kind {
            ConnKind::Client(c) => Some(c),
            ConnKind::Route(_) | ConnKind::Leaf(_) | ConnKind::Gateway(_) | ConnKind::Http(_) => {
                None
            }
        }
    }

    /// The client state, for client code.
    pub(crate) fn client_mut(&mut self) -> Option<&mut ClientState> {
        match &mut self.kind {
            ConnKind::Client(c) => Some(c),
            ConnKind::Route(_) | ConnKind::Leaf(_) | ConnKind::Gateway(_) | ConnKind::Http(_) => {
                None
            }
        }
    }

    /// The route state, for cluster code.
    pub(crate) fn route(&self) -> Option<&RouteLink> {
        match &self.kind {
            ConnKind::Route(r) => Some(r),
            ConnKind::Client(_) | ConnKind::Leaf(_) | ConnKind::Gateway(_) | ConnKind::Http(_) => {
                None
            }
        }
    }

    /// The route state, for cluster code.
    pub(crate) fn route_mut(&mut self) -> Option<&mut RouteLink> {
        match &mut self.kind {
            ConnKind::Route(r) => Some(r),
            ConnKind::Client(_) | ConnKind::Leaf(_) | ConnKind::Gateway(_) | ConnKind::Http(_) => {
                None
            }
        }
    }

    /// The leaf link state, for leaf code.
    pub(crate) fn leaf(&self) -> Option<&crate::leaf::LeafLink> {
        match &self.kind {
            ConnKind::Leaf(l) => Some(l),
            ConnKind::Client(_) | ConnKind::Route(_) | ConnKind::Gateway(_) | ConnKind::Http(_) => {
                None
            }
        }
    }

    /// The leaf link state, for leaf code.
    pub(crate) fn leaf_mut(&mut self) -> Option<&mut crate::leaf::LeafLink> {
        match &mut self.kind {
            ConnKind::Leaf(l) => Some(l),
            ConnKind::Client(_) | ConnKind::Route(_) | ConnKind::Gateway(_) | ConnKind::Http(_) => {
                None
            }
        }
    }

    /// The gateway link state, for gateway code.
    pub(crate) fn gateway(&self) -> Option<&crate::gateway::GatewayLink> {
        match &self.kind {
            ConnKind::Gateway(g) => Some(g),
            ConnKind::Client(_) | ConnKind::Route(_) | ConnKind::Leaf(_) | ConnKind::Http(_) => {
                None
            }
        }
    }

    /// The gateway link state, for gateway code.
    pub(crate) fn gateway_mut(&mut self) -> Option<&mut crate::gateway::GatewayLink> {
        match &mut self.kind {
            ConnKind::Gateway(g) => Some(g),
            ConnKind::Client(_) | ConnKind::Route(_) | ConnKind::Leaf(_) | ConnKind::Http(_) => {
                None
            }
        }
    }

    /// The HTTP state, for monitoring code.
    pub(crate) fn http_mut(&mut self) -> Option<&mut HttpState> {
        match &mut self.kind {
            ConnKind::Http(h) => Some(h),
            ConnKind::Client(_) | ConnKind::Route(_) | ConnKind::Leaf(_) | ConnKind::Gateway(_) => {
                None
            }
        }
    }
}

impl ClientState {
    /// A client in `account` before its CONNECT.
    pub(crate) fn new(account: AccountId, hasher: ahash::RandomState) -> Self {
        ClientState {
            account,
            opts: ConnectOptions::default(),
            subs: HashMap::with_hasher(hasher),
            first_pong_sent: false,
            websocket: false,
            nonce: String::new(),
            perms: None,
            responses: BTreeMap::new(),
            jwt: None,
        }
    }
}
