//! Back-pressure: a consumer that falls behind holds the producers that
//! feed it until it drains.
//!
//! The rule users rely on is nats-server's: a consumer that keeps reading
//! keeps its messages; producers are slowed before anyone is cut. When a
//! delivery leaves a consumer's pending bytes above half of max_pending
//! (the stall threshold, nats-server's `mp/2`), the producer of that
//! message is *held*: the driver is told to stop reading it
//! ([`Action::PauseReading`]) and the consumer records the hold. When the
//! consumer's pending bytes fall to the threshold or below (its socket
//! took them), or it closes, it lets go of every producer it holds; a
//! producer no consumer holds any more is resumed
//! ([`Action::ResumeReading`]). No fixed sleep decides anything.
//!
//! The consumer is cut only when it stops making progress for the write
//! deadline (`write_deadline`, 10 s by default) or when a delivery still
//! takes it past max_pending (reads already in flight when the hold began);
//! memory stays bounded by max_pending either way.
//!
//! A producer feeding a fast and a slow consumer at once is held all the
//! same, so the fast consumer waits too: nats-server stalls the producer,
//! not the delivery (`deliverMsg` stalls a client producer whenever the
//! destination is stalled). Publishers that feed no lagging consumer are
//! never held. Which kinds may be held is the kind's policy
//! ([`crate::conn::Policy::stallable`]): nats-server stalls only clients,
//! never routes.
//!
//! Each pause also carries a deadline (the write deadline from now): a
//! driver resumes by itself then, and a delivery that finds the consumer
//! still behind pauses the producer again.

use super::Server;
use crate::events::Action;
use crate::ids::ConnId;
use crate::time::Instant;

impl Server {
    /// The pending bytes above which a consumer holds its producers.
    pub(crate) fn stall_threshold(&self) -> usize {
        self.options.max_pending / 2
    }

    /// A delivery from `producer` left `consumer` with `pending` bytes:
    /// past the threshold, the consumer holds the producer.
    #[inline]
    pub(crate) fn hold_if_behind(
        &mut self,
        producer: ConnId,
        consumer: ConnId,
        pending: usize,
        now: Instant,
    ) {
        if pending > self.stall_threshold() && producer != consumer {
            self.hold(producer, consumer, now);
        }
    }

    /// `consumer` is past the threshold: it holds `producer`, if that one
    /// can be held.
    #[cold]
    fn hold(&mut self, producer: ConnId, consumer: ConnId, now: Instant) {
        let write_deadline = self.options.write_deadline;
        let Some(p) = self.conns.get(&producer) else {
            return;
        };
        if !p.policy().stallable || p.closed {
            return;
        }
        let newly_held = match self.conns.get_mut(&consumer) {
            Some(c) if !c.holding.contains(&producer) => {
                c.holding.push(producer);
                true
            }
            Some(_) => false,
            None => return,
        };
        let Some(p) = self.conns.get_mut(&producer) else {
            return;
        };
        if newly_held {
            p.held_by += 1;
            if p.held_by == 1 {
                self.stats.stalled_clients += 1;
            }
        }
        // Paused (again, if the last pause ran out while still held).
        if p.paused_until <= now {
            p.paused_until = now + write_deadline;
            self.actions.push_back(Action::PauseReading {
                conn: producer,
                until: p.paused_until,
            });
        }
    }

    /// `consumer` drained to the threshold (or closed): it lets go of
    /// every producer it held; those no one holds any more resume.
    pub(crate) fn release_held(&mut self, consumer: ConnId) {
        let Some(c) = self.conns.get_mut(&consumer) else {
            return;
        };
        if c.holding.is_empty() {
            return;
        }
        let held = std::mem::take(&mut c.holding);
        for producer in held {
            let Some(p) = self.conns.get_mut(&producer) else {
                continue;
            };
            p.held_by = p.held_by.saturating_sub(1);
            if p.held_by == 0 && !p.closed {
                p.paused_until = Instant::ZERO;
                self.actions
                    .push_back(Action::ResumeReading { conn: producer });
            }
        }
    }

    /// After bytes of `consumer` were written: releases its producers if
    /// it is no longer behind.
    pub(crate) fn release_if_drained(&mut self, consumer: ConnId) {
        let threshold = self.stall_threshold();
        if self
            .conns
            .get(&consumer)
            .is_some_and(|c| !c.holding.is_empty() && c.out.pending() <= threshold)
        {
            self.release_held(consumer);
        }
    }
}
