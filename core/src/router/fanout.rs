//! Fan-out as values: which of this server's subscriptions one message
//! goes to ([`plan`]), and which routes it goes to, naming which queue
//! groups each should serve ([`plan_remote`]).
//!
//! The router decides; the engine writes. [`plan`] says whether a
//! message reaches local subscribers (then every plain subscription gets
//! it) and turns its queue groups into [`Pick`]s: for each group the
//! message may serve (the matrix's queue rule) the member to try first,
//! drawn from the queue-choice stream. The engine then writes
//! each pick, trying a group's next members in turn when one cannot take
//! the message (closed, at its max, denied by permissions, or the
//! publisher itself without echo): those are facts of the destination,
//! not of the route the message took.

use super::{may_forward, serves_group, Dest, LinkFacts, MsgFacts, Origin};
use crate::ids::ConnId;
use crate::rng::Rng;
use crate::sublist::{Matches, Subscription};
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// One queue group a message serves locally, by index into the
/// [`Matches`] it was planned from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pick {
    /// Index of the queue group in `matches.queues`.
    pub(crate) group: usize,
    /// The member tried first.
    pub(crate) start: usize,
}

/// Plans the local delivery of a message from `origin`. Returns whether
/// it reaches local subscribers at all; when it does, every plain
/// subscription gets it, and `picks` (cleared first) names the queue
/// groups it serves, each with the member to try first. `named` is the
/// queue list the message carries (empty for a client's publish and an
/// import's hop, which choose groups themselves). Draws one number from
/// `queue_rng` per group served, in group order.
#[inline]
pub(crate) fn plan(
    origin: Origin,
    msg: &MsgFacts<'_>,
    matches: &Matches,
    named: &[u8],
    queue_rng: &mut Rng,
    picks: &mut Vec<Pick>,
) -> bool {
    picks.clear();
    if !may_forward(origin, Dest::Clients, msg, &LinkFacts::default()) {
        return false;
    }
    for (group, members) in matches.queues.iter().enumerate() {
        let n = members.members.len();
        if n == 0 || !serves_group(origin, msg, named, &members.name) {
            continue;
        }
        let start = queue_rng.below(n as u64) as usize;
        picks.push(Pick { group, start });
    }
    true
}

/// Plans which routes a message goes to, into `targets` (cleared first)
/// as (route connection, queue group it should serve): every route with
/// plain interest, and for each queue group not in `served` (the groups
/// the local delivery served) one member behind a route, drawn from
/// `queue_rng` weighted by the members each route announced. A message
/// that came from a link (`named` is `Some`: a spoke's `LMSG`) serves only
/// the groups it names, none when it names none, as nats-server's
/// `processMsgResults` filters them. Counts the message on each picked
/// interest entry (`/routez` `msgs`).
pub(crate) fn plan_remote(
    remote: &Matches,
    served: &[Bytes],
    named: Option<&[u8]>,
    queue_rng: &mut Rng,
    targets: &mut Vec<(ConnId, Option<Bytes>)>,
) {
    targets.clear();
    for sub in &remote.plain {
        count_forward(sub);
        targets.push((sub.conn, None));
    }
    for group in &remote.queues {
        if served.contains(&group.name)
            || named.is_some_and(|n| !super::names_group(n, &group.name))
        {
            continue;
        }
        let weight = |s: &Subscription| u64::from(s.weight.load(Ordering::Relaxed).max(1));
        let total: u64 = group.members.iter().map(|s| weight(s)).sum();
        if total == 0 {
            continue;
        }
        let mut pick = queue_rng.below(total);
        for sub in &group.members {
            let w = weight(sub);
            if pick < w {
                count_forward(sub);
                targets.push((sub.conn, Some(group.name.clone())));
                break;
            }
            pick -= w;
        }
    }
}

/// Counts a message forwarded for a route's interest entry.
fn count_forward(sub: &Subscription) {
    let n = sub.delivered.load(Ordering::Relaxed);
    sub.delivered.store(n + 1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ConnId;
    use crate::rng::Stream;
    use crate::sublist::{QueueGroup, Subscription};
    use bytes::Bytes;
    use std::sync::Arc;

    fn sub(seq: u64, queue: Option<&str>) -> Arc<Subscription> {
        Arc::new(Subscription {
            seq,
            conn: ConnId(seq),
            sid: Bytes::from(seq.to_string()),
            subject: Bytes::from_static(b"a.b"),
            queue: queue.map(|q| Bytes::copy_from_slice(q.as_bytes())),
            delivered: Default::default(),
            max: Default::default(),
            weight: std::sync::atomic::AtomicU32::new(1),
        })
    }

    fn matches() -> Matches {
        Matches {
            plain: vec![sub(1, None), sub(2, None)],
            queues: vec![
                QueueGroup {
                    name: Bytes::from_static(b"q1"),
                    members: vec![sub(3, Some("q1")), sub(4, Some("q1"))],
                },
                QueueGroup {
                    name: Bytes::from_static(b"q2"),
                    members: vec![sub(5, Some("q2"))],
                },
            ],
        }
    }

    fn planned(origin: Origin, named: &[u8]) -> (bool, Vec<Pick>) {
        let mut rng = Rng::derive(&[7; 32], Stream::QueueChoice);
        let mut picks = Vec::new();
        let local = plan(
            origin,
            &MsgFacts::new(b"a.b"),
            &matches(),
            named,
            &mut rng,
            &mut picks,
        );
        (local, picks)
    }

    fn groups(picks: &[Pick]) -> Vec<usize> {
        picks.iter().map(|p| p.group).collect()
    }

    #[test]
    fn a_client_publish_reaches_every_plain_sub_and_every_group() {
        let (local, picks) = planned(Origin::Client, b"");
        assert!(local);
        assert_eq!(groups(&picks), [0, 1]);
    }

    #[test]
    fn a_routed_message_serves_only_the_groups_it_names() {
        assert_eq!(groups(&planned(Origin::Route, b"q2").1), [1]);
        assert_eq!(groups(&planned(Origin::Route, b"q1 q2").1), [0, 1]);
        assert_eq!(planned(Origin::Route, b""), (true, vec![]));
    }

    #[test]
    fn starts_come_from_the_queue_stream_in_group_order() {
        let (_, picks) = planned(Origin::Client, b"");
        let mut rng = Rng::derive(&[7; 32], Stream::QueueChoice);
        let first = rng.below(2) as usize;
        assert_eq!(
            picks[0],
            Pick {
                group: 0,
                start: first
            }
        );
        assert_eq!(picks[1], Pick { group: 1, start: 0 });
    }

    #[test]
    fn every_origin_reaches_local_clients() {
        for origin in Origin::ALL {
            assert!(planned(origin, b"q1").0, "{origin:?}");
        }
    }

    #[test]
    fn routes_get_plain_interest_and_groups_not_served_here() {
        let mut rng = Rng::derive(&[7; 32], Stream::QueueChoice);
        let mut targets = Vec::new();
        let m = matches();
        plan_remote(
            &m,
            &[Bytes::from_static(b"q2")],
            None,
            &mut rng,
            &mut targets,
        );
        let conns: Vec<(u64, Option<&[u8]>)> =
            targets.iter().map(|(c, q)| (c.0, q.as_deref())).collect();
        assert_eq!(conns[..2], [(1, None), (2, None)]);
        assert_eq!(conns.len(), 3, "q1 once, q2 served here: {conns:?}");
        assert!(matches!(conns[2], (3 | 4, Some(b"q1"))));
        assert_eq!(m.plain[0].delivered.load(Ordering::Relaxed), 1, "counted");
    }

    #[test]
    fn a_route_member_is_picked_by_the_weight_it_announced() {
        let heavy = sub(9, Some("g"));
        heavy.weight.store(9, Ordering::Relaxed);
        let m = Matches {
            plain: Vec::new(),
            queues: vec![QueueGroup {
                name: Bytes::from_static(b"g"),
                members: vec![sub(1, Some("g")), heavy],
            }],
        };
        let mut rng = Rng::derive(&[3; 32], Stream::QueueChoice);
        let mut targets = Vec::new();
        let mut to_heavy = 0;
        for _ in 0..1000 {
            plan_remote(&m, &[], None, &mut rng, &mut targets);
            assert_eq!(targets.len(), 1);
            to_heavy += usize::from(targets[0].0 == ConnId(9));
        }
        assert!((850..=950).contains(&to_heavy), "{to_heavy} of 1000");
    }
}
