//! Deliberately broken behaviours for checker-sensitivity tests.
//!
//! Compiled only with the `mutations` cargo feature (off by default): the
//! simulator switches one of these on and must then find a failing seed,
//! which proves its checkers can see that class of bug. Without the feature
//! the struct does not exist and every hook in the engine is `false`, so a
//! release build carries none of this.

/// Which deliberate bugs are switched on. All off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mutations {
    /// Deliver a queue-group message to two members instead of one.
    pub queue_two_members: bool,
    /// Deliver every message twice to plain wildcard subscriptions.
    pub plain_wildcard_twice: bool,
    /// Never close a client as a slow consumer for exceeding max_pending.
    pub ignore_max_pending: bool,
    /// Drop a PUB/HPUB whose bytes arrived split across two reads.
    pub drop_split_pub: bool,
    /// Acknowledge UNSUB but keep the subscription.
    pub forget_unsub: bool,
    /// Deliver a client's own messages to it even with `"echo":false`.
    pub ignore_echo: bool,
    /// Never send `RS-` to routes when local interest ends.
    pub forget_rs_minus: bool,
    /// Forward a message received from a route to the other routes.
    pub forward_routed_to_routes: bool,
    /// Send a queue message to a route even when a local member took it.
    pub queue_local_and_remote: bool,
    /// A spoke tells its hub the interest it learned from its routes.
    pub leaf_spoke_relays: bool,
    /// Never act on `LS-` from a leaf link.
    pub forget_ls_minus: bool,
    /// Send messages on subjects a remote's `deny_exports` names.
    pub ignore_deny_exports: bool,
    /// Take our own loop-detection subject back without refusing it.
    pub skip_leaf_loop_check: bool,
    /// Forward a message that came from a gateway to other gateways.
    pub gateway_multi_hop: bool,
    /// Send replies across gateways without the `_GR_.` prefix.
    pub skip_gateway_reply_map: bool,
    /// Name each queue group to every cluster that has a member.
    pub gateway_queue_everywhere: bool,
    /// The client port sends its INFO but never switches TLS on, so
    /// plaintext flows on a TLS port.
    pub tls_plaintext_after_info: bool,
    /// The accepting side of an S2 negotiation switches its writes to S2
    /// one byte late: the first byte of its compressed INFO goes out
    /// plain.
    pub s2_switch_late: bool,
    /// A client's user JWT is accepted whatever the signature of the
    /// nonce it sent (the check in `Trust::authenticate` is skipped).
    pub jwt_unsigned_accepted: bool,
}

impl Mutations {
    /// The names accepted by [`Mutations::by_name`], one per field.
    pub const NAMES: [&'static str; 6] = [
        "queue_two_members",
        "plain_wildcard_twice",
        "ignore_max_pending",
        "drop_split_pub",
        "forget_unsub",
        "ignore_echo",
    ];

    /// Mutations of the route protocol (caught by cluster topologies).
    pub const ROUTE_NAMES: [&'static str; 3] = [
        "forget_rs_minus",
        "forward_routed_to_routes",
        "queue_local_and_remote",
    ];

    /// Mutations of the leaf protocol (caught by leaf topologies).
    pub const LEAF_NAMES: [&'static str; 4] = [
        "leaf_spoke_relays",
        "forget_ls_minus",
        "ignore_deny_exports",
        "skip_leaf_loop_check",
    ];

    /// Mutations of the gateway protocol (caught by super-cluster
    /// topologies).
    pub const GATEWAY_NAMES: [&'static str; 3] = [
        "gateway_multi_hop",
        "skip_gateway_reply_map",
        "gateway_queue_everywhere",
    ];

    /// Mutations of TLS (caught by TLS worlds, `--tls`).
    pub const TLS_NAMES: [&'static str; 1] = ["tls_plaintext_after_info"];
    /// Mutations of S2 and WebSocket links (caught by `--s2`/`--ws`
    /// worlds).
    pub const LINK_NAMES: [&'static str; 1] = ["s2_switch_late"];
    /// Mutations of operator mode (caught by `--operator` worlds).
    pub const OPERATOR_NAMES: [&'static str; 1] = ["jwt_unsigned_accepted"];

    /// The mutation set with only the named bug switched on.
    pub fn by_name(name: &str) -> Option<Mutations> {
        let mut m = Mutations::default();
        match name {
            "queue_two_members" => m.queue_two_members = true,
            "plain_wildcard_twice" => m.plain_wildcard_twice = true,
            "ignore_max_pending" => m.ignore_max_pending = true,
            "drop_split_pub" => m.drop_split_pub = true,
            "forget_unsub" => m.forget_unsub = true,
            "ignore_echo" => m.ignore_echo = true,
            "forget_rs_minus" => m.forget_rs_minus = true,
            "forward_routed_to_routes" => m.forward_routed_to_routes = true,
            "queue_local_and_remote" => m.queue_local_and_remote = true,
            "leaf_spoke_relays" => m.leaf_spoke_relays = true,
            "forget_ls_minus" => m.forget_ls_minus = true,
            "ignore_deny_exports" => m.ignore_deny_exports = true,
            "skip_leaf_loop_check" => m.skip_leaf_loop_check = true,
            "gateway_multi_hop" => m.gateway_multi_hop = true,
            "skip_gateway_reply_map" => m.skip_gateway_reply_map = true,
            "gateway_queue_everywhere" => m.gateway_queue_everywhere = true,
            "tls_plaintext_after_info" => m.tls_plaintext_after_info = true,
            "s2_switch_late" => m.s2_switch_late = true,
            "jwt_unsigned_accepted" => m.jwt_unsigned_accepted = true,
            _ => return None,
        }
        Some(m)
    }
}
