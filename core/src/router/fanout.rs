//! Local fan-out as a value: which of this server's subscriptions one
//! message goes to.
//!
//! The router decides; the engine writes. [`plan`] turns a message's
//! matches into [`Pick`]s: every plain subscription, and for each queue
//! group the message may serve (the matrix's queue rule) the member to
//! try first, drawn from the queue-choice stream. The engine then writes
//! each pick, trying a group's next members in turn when one cannot take
//! the message (closed, at its max, denied by permissions, or the
//! publisher itself without echo): those are facts of the destination,
//! not of the route the message took.

use super::{may_forward, serves_group, Dest, LinkFacts, MsgFacts, Origin};
use crate::rng::Rng;
use crate::sublist::Matches;

/// One local delivery decision, by index into the [`Matches`] it was
/// planned from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pick {
    /// `matches.plain[i]`.
    Plain(usize),
    /// One member of `matches.queues[group]`, trying from `start` on.
    Group {
        /// Index of the queue group.
        group: usize,
        /// The member tried first.
        start: usize,
    },
}

/// Plans the local delivery of a message from `origin` into `picks`
/// (cleared first). `named` is the queue list the message carries (empty
/// for a client's publish and an import's hop, which choose groups
/// themselves). Draws one number from `queue_rng` per group served, in
/// group order.
pub(crate) fn plan(
    origin: Origin,
    msg: &MsgFacts<'_>,
    matches: &Matches,
    named: &[u8],
    queue_rng: &mut Rng,
    picks: &mut Vec<Pick>,
) {
    picks.clear();
    if !may_forward(origin, Dest::Clients, msg, &LinkFacts::default()) {
        return;
    }
    picks.extend((0..matches.plain.len()).map(Pick::Plain));
    for (group, members) in matches.queues.iter().enumerate() {
        let n = members.members.len();
        if n == 0 || !serves_group(origin, msg, named, &members.name) {
            continue;
        }
        let start = queue_rng.below(n as u64) as usize;
        picks.push(Pick::Group { group, start });
    }
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

    fn planned(origin: Origin, named: &[u8]) -> Vec<Pick> {
        let mut rng = Rng::derive(&[7; 32], Stream::QueueChoice);
        let mut picks = Vec::new();
        plan(
            origin,
            &MsgFacts::new(b"a.b"),
            &matches(),
            named,
            &mut rng,
            &mut picks,
        );
        picks
    }

    fn groups(picks: &[Pick]) -> Vec<usize> {
        picks
            .iter()
            .filter_map(|p| match p {
                Pick::Group { group, .. } => Some(*group),
                Pick::Plain(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_client_publish_reaches_every_plain_sub_and_every_group() {
        let picks = planned(Origin::Client, b"");
        assert_eq!(picks[..2], [Pick::Plain(0), Pick::Plain(1)]);
        assert_eq!(groups(&picks), [0, 1]);
    }

    #[test]
    fn a_routed_message_serves_only_the_groups_it_names() {
        assert_eq!(groups(&planned(Origin::Route, b"q2")), [1]);
        assert_eq!(groups(&planned(Origin::Route, b"q1 q2")), [0, 1]);
        let none = planned(Origin::Route, b"");
        assert_eq!(none, [Pick::Plain(0), Pick::Plain(1)]);
    }

    #[test]
    fn starts_come_from_the_queue_stream_in_group_order() {
        let picks = planned(Origin::Client, b"");
        let mut rng = Rng::derive(&[7; 32], Stream::QueueChoice);
        let first = rng.below(2) as usize;
        assert_eq!(
            picks[2],
            Pick::Group {
                group: 0,
                start: first
            }
        );
        assert_eq!(picks[3], Pick::Group { group: 1, start: 0 });
    }

    #[test]
    fn every_origin_reaches_local_clients() {
        for origin in Origin::ALL {
            assert!(!planned(origin, b"q1").is_empty(), "{origin:?}");
        }
    }
}
