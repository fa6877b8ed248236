//! Memory after churn (issue 13, point 5): what the engine keeps per
//! connection is released when the connection goes, and what it keeps
//! across connections is bounded. Cycles of 10,000 connections opened,
//! subscribed and closed leave the engine's retained state where the
//! first cycle started (the closed-connection records `/connz` shows are
//! bounded at nats-server's 10,000).

use super::harness::Harness;
use crate::monitor::MAX_CLOSED_CLIENTS;
use crate::ConnId;

const QUIET: &str = r#"{"verbose":false,"pedantic":false}"#;

/// What the engine holds that could grow with connections.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Retained {
    conns: usize,
    conns_capacity: usize,
    timers: usize,
    subscriptions: usize,
    interest: usize,
    holding: usize,
}

fn retained(h: &Harness) -> Retained {
    let s = &h.server;
    // Counted only: map order does not matter.
    #[allow(clippy::disallowed_methods)]
    let holding = s.conns.values().map(|c| c.holding.capacity()).sum();
    Retained {
        conns: s.conns.len(),
        conns_capacity: s.conns.capacity(),
        timers: s.timers.len(),
        subscriptions: s.subscription_count(),
        interest: s.routes.local.len(),
        holding,
    }
}

#[test]
fn churn_returns_the_engine_to_its_level() {
    let mut h = Harness::default_server();
    let keeper = h.connected(QUIET);
    h.send(keeper, "SUB keep 1\r\nPING\r\n");
    h.take(keeper);
    let before = retained(&h);
    for cycle in 0..3 {
        let conns: Vec<ConnId> = (0..10_000)
            .map(|i| {
                let c = h.connected(QUIET);
                h.send(c, &format!("SUB _INBOX.{cycle}.{i} 1\r\nPING\r\n"));
                h.take(c);
                c
            })
            .collect();
        assert_eq!(retained(&h).conns, before.conns + 10_000);
        for c in conns {
            h.server.handle_closed(c, h.now);
            h.drain();
        }
        let after = retained(&h);
        assert_eq!(after.conns, before.conns, "cycle {cycle}");
        assert_eq!(after.timers, before.timers, "cycle {cycle}: timers left");
        assert_eq!(after.subscriptions, before.subscriptions, "cycle {cycle}");
        assert_eq!(after.interest, before.interest, "cycle {cycle}");
        assert_eq!(after.holding, before.holding, "cycle {cycle}");
        assert!(
            after.conns_capacity <= 64.max(before.conns_capacity * 2),
            "cycle {cycle}: the connection table kept room for {} connections",
            after.conns_capacity
        );
        assert!(h.server.monitor.closed.len() <= MAX_CLOSED_CLIENTS);
    }
}
