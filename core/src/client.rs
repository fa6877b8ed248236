//! The state of one client connection inside the engine.

use crate::account::AccountId;
use crate::ids::ConnId;
use crate::info::ConnectOptions;
use crate::outbound::Outbound;
use crate::proto::Parser;
use crate::sublist::Subscription;
use crate::time::Instant;
use bytes::Bytes;
use core::net::SocketAddr;
use std::collections::HashMap;
use std::sync::Arc;

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

/// One client connection.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: ConnId,
    pub(crate) peer: SocketAddr,
    pub(crate) account: AccountId,
    pub(crate) parser: Parser,
    pub(crate) opts: ConnectOptions,
    /// Headers negotiated (server supports them and the client asked).
    pub(crate) headers: bool,
    pub(crate) connect_received: bool,
    /// Whether this connection counts against max_connections.
    pub(crate) counted: bool,
    pub(crate) closed: bool,
    pub(crate) subs: HashMap<Bytes, Arc<Subscription>, ahash::RandomState>,
    pub(crate) out: Outbound,
    pub(crate) pings_out: u32,
    pub(crate) rtt_start: Option<Instant>,
    pub(crate) rtt_known: bool,
    pub(crate) last_in: Instant,
    pub(crate) first_pong_sent: bool,
    pub(crate) flush_scheduled: bool,
    pub(crate) paused_until: Instant,
    pub(crate) stats: ConnStats,
    pub(crate) start: Instant,
    /// Last read from or delivery to this client (`/connz` last_activity).
    pub(crate) last_activity: Instant,
    /// Last measured PING round trip.
    pub(crate) rtt: Option<std::time::Duration>,
    /// The nonce sent in INFO (NKey authentication), or empty.
    pub(crate) nonce: String,
    /// The authenticated user's permissions, if restricted.
    pub(crate) perms: Option<crate::perms::Permissions>,
    /// Reply subjects this client may answer (`allow_responses`): replies
    /// left and when the permission ends.
    pub(crate) responses: std::collections::BTreeMap<Bytes, (u64, Instant)>,
    /// The route state, for a route connection.
    pub(crate) route: Option<Box<crate::route::RouteLink>>,
}

impl Client {
    pub(crate) fn new(
        id: ConnId,
        peer: SocketAddr,
        account: AccountId,
        hasher: ahash::RandomState,
        now: Instant,
    ) -> Self {
        Client {
            id,
            peer,
            account,
            parser: Parser::new(),
            opts: ConnectOptions::default(),
            headers: false,
            connect_received: false,
            counted: false,
            closed: false,
            subs: HashMap::with_hasher(hasher),
            out: Outbound::default(),
            pings_out: 0,
            rtt_start: None,
            rtt_known: false,
            last_in: now,
            first_pong_sent: false,
            flush_scheduled: false,
            paused_until: Instant::ZERO,
            stats: ConnStats::default(),
            start: now,
            last_activity: now,
            rtt: None,
            nonce: String::new(),
            perms: None,
            responses: Default::default(),
            route: None,
        }
    }

    /// Queues `-ERR '<text>'\r\n`.
    pub(crate) fn push_err(&mut self, text: &str) {
        self.out.push_slice(b"-ERR '");
        self.out.push_slice(text.as_bytes());
        self.out.push_slice(b"'\r\n");
    }
}
