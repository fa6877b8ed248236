//! Server-wide counters, kept by the engine and shown by monitoring.

/// Server-wide counters (the `/varz` numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Messages received from clients.
    pub in_msgs: u64,
    /// Payload bytes received from clients.
    pub in_bytes: u64,
    /// Messages delivered to clients.
    pub out_msgs: u64,
    /// Payload bytes delivered to clients.
    pub out_bytes: u64,
    /// Clients closed as slow consumers.
    pub slow_consumers: u64,
    /// Connections closed as stale.
    pub stale_connections: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Producers paused because a consumer fell behind.
    pub stalled_clients: u64,
}
