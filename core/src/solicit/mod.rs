//! The one machine that owns outbound connections: what to dial, when,
//! and what to do after a dial fails or a dialed link goes away.
//!
//! Every kind of link the engine dials (routes now; leaf remotes and
//! gateways next) is a [`Target`] here: one or more URLs (rotated on every
//! attempt, shuffled once when the target is added unless asked not to),
//! whether it was configured or learned, its failed attempts, and the
//! connection dialing or serving it. The [`Solicitor`] decides:
//!
//! - whether a target's dial timer may start a dial ([`Solicitor::start`]);
//! - how long to wait before the next attempt ([`Solicitor::retry_delay`]):
//!   the kind's reconnect interval after a failed dial, `connect_retries`
//!   for learned targets, exponential backoff to a ceiling for members
//!   that were once connected, and seeded jitter after a disconnect;
//! - which dial a finished or failed connection belonged to.
//!
//! It never touches connections or timers: the engine asks it and carries
//! out the answer (an [`crate::Action::Dial`], a `TimerKey::Dial` timer).

use crate::events::LinkKind;
use crate::ids::ConnId;
use crate::rng::Rng;
use crate::route::RouteAddr;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a kind of link is dialed and re-dialed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// Pause between attempts (nats-server's DEFAULT_ROUTE_RECONNECT).
    pub(crate) reconnect: Duration,
    /// Longest pause for a member that was once connected.
    pub(crate) max: Duration,
    /// How long one dial may take (nats-server's DEFAULT_ROUTE_DIAL).
    pub(crate) dial_timeout: Duration,
    /// Most jitter added to a re-dial after a disconnect.
    pub(crate) jitter: Duration,
}

/// The dialing rules of `kind`.
pub(crate) fn backoff(kind: LinkKind) -> Backoff {
    match kind {
        // Leaf remotes are re-dialed by `leaf/dial.rs` with their own
        // interval; the dial timeout is nats-server's.
        LinkKind::Route | LinkKind::Leaf | LinkKind::Gateway => Backoff {
            reconnect: Duration::from_secs(1),
            max: Duration::from_secs(30),
            dial_timeout: Duration::from_secs(1),
            jitter: Duration::from_millis(100),
        },
    }
}

/// Something to dial.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// What the link is for.
    pub(crate) kind: LinkKind,
    /// Where it may be reached; at least one.
    urls: Vec<RouteAddr>,
    /// The URL the current (or last) attempt used.
    current: usize,
    /// Configured (retried forever) rather than learned.
    pub(crate) explicit: bool,
    /// Failed attempts since the last success.
    pub(crate) attempts: u32,
    /// The connection currently dialing or open for it.
    pub(crate) conn: Option<ConnId>,
    /// The target turned out to be this server: never dialed again.
    pub(crate) is_self: bool,
    /// Given up (learned, out of retries) or removed.
    pub(crate) done: bool,
    /// The server id at the other end, once known.
    pub(crate) server_id: String,
    /// This dial was dropped as a duplicate of a connection the peer made:
    /// when that one closes, re-dial without the usual wait.
    pub(crate) fast_redial: bool,
    /// A link dialed for this target registered once: the peer is a known
    /// member, never given up on.
    pub(crate) was_registered: bool,
}

/// Why a target's timer does not start a dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoDial {
    /// The engine is shutting down.
    Stopping,
    /// No such target.
    Unknown,
    /// Self, given up, or already dialing or connected.
    NotWanted,
}

/// All outbound targets and the dials in progress.
#[derive(Debug, Default)]
pub(crate) struct Solicitor {
    targets: Vec<Target>,
    /// Dials in progress: connection -> (target, its `cid`).
    dialing: BTreeMap<ConnId, (usize, u64)>,
    /// Shutting down: nothing is dialed again.
    pub(crate) stopping: bool,
}

impl Solicitor {
    /// Adds a target with `urls` (at least one; none adds nothing and
    /// returns `None`). With `shuffle`, the URLs are put in a random order
    /// once (nats-server randomizes leaf remote URLs unless told not to).
    pub(crate) fn add(
        &mut self,
        kind: LinkKind,
        mut urls: Vec<RouteAddr>,
        explicit: bool,
        server_id: String,
        shuffle: Option<&mut Rng>,
    ) -> Option<usize> {
        if urls.is_empty() {
            return None;
        }
        if let Some(rng) = shuffle {
            // Fisher-Yates from the back.
            for i in (1..urls.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                urls.swap(i, j);
            }
        }
        self.targets.push(Target {
            kind,
            urls,
            current: 0,
            explicit,
            attempts: 0,
            conn: None,
            is_self: false,
            done: false,
            server_id,
            fast_redial: false,
            was_registered: false,
        });
        Some(self.targets.len() - 1)
    }

    /// Target `i`, if it exists.
    pub(crate) fn get(&self, i: usize) -> Option<&Target> {
        self.targets.get(i)
    }

    /// Target `i`, if it exists.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Target> {
        self.targets.get_mut(i)
    }

    /// Every target with its index, in the order they were added.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Target)> + Clone {
        self.targets.iter().enumerate()
    }

    /// How many targets there are.
    pub(crate) fn len(&self) -> usize {
        self.targets.len()
    }

    /// Replaces target `i`'s URLs (a leaf hub's gossip), keeping the one
    /// in use current when it is still in the list. An empty list changes
    /// nothing.
    pub(crate) fn set_urls(&mut self, i: usize, urls: Vec<RouteAddr>) {
        let Some(t) = self.targets.get_mut(i) else {
            return;
        };
        if urls.is_empty() || urls == t.urls {
            return;
        }
        let now = &t.urls[t.current];
        t.current = urls
            .iter()
            .position(|u| u.host == now.host && u.port == now.port)
            .unwrap_or(0);
        t.urls = urls;
    }

    /// Target `i`'s timer fired: if it should be dialed, records the dial
    /// as connection `conn` (numbered `cid`), moves on to its next URL,
    /// and returns the URL to dial. The caller has checked what only its
    /// kind knows (already linked to that server over another connection).
    pub(crate) fn start(&mut self, i: usize, conn: ConnId, cid: u64) -> Result<&RouteAddr, NoDial> {
        if self.stopping {
            return Err(NoDial::Stopping);
        }
        let Some(t) = self.targets.get_mut(i) else {
            return Err(NoDial::Unknown);
        };
        if t.is_self || t.done || t.conn.is_some() {
            return Err(NoDial::NotWanted);
        }
        t.conn = Some(conn);
        self.dialing.insert(conn, (i, cid));
        Ok(&t.urls[t.current])
    }

    /// Whether target `i` would start a dial now (see [`Solicitor::start`]).
    pub(crate) fn wants_dial(&self, i: usize) -> Result<&Target, NoDial> {
        if self.stopping {
            return Err(NoDial::Stopping);
        }
        let t = self.targets.get(i).ok_or(NoDial::Unknown)?;
        if t.is_self || t.done || t.conn.is_some() {
            return Err(NoDial::NotWanted);
        }
        Ok(t)
    }

    /// A dial finished, connected: its target and `cid`, if it is still
    /// wanted (a reload may have removed it meanwhile).
    pub(crate) fn dialed(&mut self, conn: ConnId) -> Option<(usize, u64)> {
        self.dialing.remove(&conn)
    }

    /// A dial failed: its target (no longer dialing) and which attempt
    /// that was (1 for the first failure since the last success).
    pub(crate) fn failed(&mut self, conn: ConnId) -> Option<(usize, u32)> {
        let (i, _) = self.dialing.remove(&conn)?;
        let t = self.targets.get_mut(i)?;
        t.conn = None;
        t.current = (t.current + 1) % t.urls.len();
        Some((i, t.attempts + 1))
    }

    /// Forgets a dial in progress; whether there was one (its socket, if
    /// it ever connects, is refused by [`Solicitor::dialed`]).
    pub(crate) fn cancel(&mut self, conn: ConnId) -> bool {
        self.dialing.remove(&conn).is_some()
    }

    /// When to dial target `i` again, or `None` to stop: after a failed
    /// attempt (`disconnected` false) the kind's reconnect interval, a
    /// learned target giving up after `retries` failures unless it was
    /// connected once (then backing off exponentially to the ceiling);
    /// after a connected link went away (`disconnected`), at once for a
    /// learned target and after the interval for a configured one, plus
    /// seeded jitter, as nats-server does.
    pub(crate) fn retry_delay(
        &mut self,
        i: usize,
        disconnected: bool,
        retries: u32,
        jitter: &mut Rng,
    ) -> Option<Duration> {
        if self.stopping {
            return None;
        }
        let t = self.targets.get_mut(i)?;
        if t.is_self || t.done {
            return None;
        }
        let rules = backoff(t.kind);
        let jitter_ns = rules.jitter.as_nanos() as u64;
        if disconnected {
            t.attempts = 0;
            let base = if t.explicit && !t.fast_redial {
                rules.reconnect
            } else {
                Duration::ZERO
            };
            t.fast_redial = false;
            return Some(base + Duration::from_nanos(jitter.below(jitter_ns)));
        }
        t.attempts = t.attempts.saturating_add(1);
        if t.explicit || t.attempts <= retries {
            return Some(rules.reconnect);
        }
        if !t.was_registered {
            t.done = true;
            return None;
        }
        // A member we were linked to before: nats-server gives up here too,
        // and a cluster mesh then stays incomplete until some route
        // re-registers and gossips again (the simulator found such a
        // cluster after a 5 s dial outage). Canopy keeps trying, backing
        // off to one dial per ceiling.
        let over = (t.attempts - retries).min(6);
        let pause = (rules.reconnect * (1u32 << over)).min(rules.max);
        Some(pause + Duration::from_nanos(jitter.below(jitter_ns)))
    }
}

impl Target {
    /// The URL of the current (or last) attempt.
    pub(crate) fn addr(&self) -> &RouteAddr {
        &self.urls[self.current]
    }

    /// Whether `host:port` is one of this target's URLs.
    pub(crate) fn has_url(&self, host: &str, port: u16) -> bool {
        self.urls.iter().any(|u| u.host == host && u.port == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn url(port: u16) -> RouteAddr {
        RouteAddr::parse(&format!("nats://127.0.0.1:{port}")).expect("literal")
    }

    fn jitter() -> Rng {
        Rng::derive(&[9; 32], Stream::Jitter)
    }

    fn one(explicit: bool) -> (Solicitor, usize) {
        let mut s = Solicitor::default();
        let i = s
            .add(LinkKind::Route, vec![url(1)], explicit, String::new(), None)
            .expect("one url");
        (s, i)
    }

    #[test]
    fn a_target_needs_a_url() {
        let mut s = Solicitor::default();
        assert_eq!(
            s.add(LinkKind::Route, vec![], true, String::new(), None),
            None
        );
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_dialing_target_is_not_dialed_twice() {
        let (mut s, i) = one(true);
        assert_eq!(s.start(i, ConnId(5), 5).map(|u| u.port), Ok(1));
        assert_eq!(s.start(i, ConnId(6), 6).err(), Some(NoDial::NotWanted));
        assert_eq!(s.dialed(ConnId(5)), Some((i, 5)));
        assert_eq!(s.dialed(ConnId(5)), None, "a dial completes once");
    }

    #[test]
    fn stopping_dials_nothing_and_retries_nothing() {
        let (mut s, i) = one(true);
        s.stopping = true;
        assert_eq!(s.start(i, ConnId(1), 1).err(), Some(NoDial::Stopping));
        assert_eq!(s.retry_delay(i, false, 0, &mut jitter()), None);
    }

    #[test]
    fn configured_targets_retry_every_second_forever() {
        let (mut s, i) = one(true);
        for attempt in 1..=10 {
            s.start(i, ConnId(attempt), attempt).expect("wanted");
            assert_eq!(s.failed(ConnId(attempt)), Some((i, attempt as u32)));
            assert_eq!(
                s.retry_delay(i, false, 0, &mut jitter()),
                Some(Duration::from_secs(1))
            );
        }
    }

    #[test]
    fn learned_targets_give_up_after_connect_retries() {
        let (mut s, i) = one(false);
        for _ in 0..2 {
            assert_eq!(
                s.retry_delay(i, false, 2, &mut jitter()),
                Some(Duration::from_secs(1))
            );
        }
        assert_eq!(s.retry_delay(i, false, 2, &mut jitter()), None);
        assert!(s.get(i).expect("exists").done);
        assert_eq!(s.start(i, ConnId(1), 1).err(), Some(NoDial::NotWanted));
    }

    #[test]
    fn known_members_back_off_to_the_ceiling_and_never_give_up() {
        let (mut s, i) = one(false);
        s.get_mut(i).expect("exists").was_registered = true;
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            let d = s
                .retry_delay(i, false, 0, &mut jitter())
                .expect("never gives up");
            assert!(
                d >= last || d >= Duration::from_secs(30),
                "{d:?} after {last:?}"
            );
            assert!(d <= Duration::from_secs(30) + Duration::from_millis(100));
            last = d;
        }
        assert!(last >= Duration::from_secs(30));
    }

    #[test]
    fn after_a_disconnect_learned_targets_redial_at_once_with_jitter() {
        let (mut s, i) = one(false);
        let d = s.retry_delay(i, true, 0, &mut jitter()).expect("redial");
        assert!(d < Duration::from_millis(100), "{d:?}");
        let (mut s, i) = one(true);
        let d = s.retry_delay(i, true, 0, &mut jitter()).expect("redial");
        assert!(d >= Duration::from_secs(1) && d < Duration::from_millis(1100));
        s.get_mut(i).expect("exists").fast_redial = true;
        let d = s.retry_delay(i, true, 0, &mut jitter()).expect("redial");
        assert!(d < Duration::from_millis(100), "fast redial: {d:?}");
    }

    #[test]
    fn urls_rotate_on_every_failed_attempt() {
        let mut s = Solicitor::default();
        let i = s
            .add(
                LinkKind::Route,
                vec![url(1), url(2), url(3)],
                true,
                String::new(),
                None,
            )
            .expect("urls");
        let mut ports = Vec::new();
        for n in 0..6u64 {
            ports.push(s.start(i, ConnId(n), n).expect("wanted").port);
            s.failed(ConnId(n));
        }
        assert_eq!(ports, [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn shuffling_is_seeded_and_keeps_every_url() {
        let urls: Vec<RouteAddr> = (1..=8).map(url).collect();
        let order = |seed: u8| {
            let mut s = Solicitor::default();
            let mut rng = Rng::derive(&[seed; 32], Stream::Dials);
            let i = s
                .add(
                    LinkKind::Route,
                    urls.clone(),
                    true,
                    String::new(),
                    Some(&mut rng),
                )
                .expect("urls");
            let t = s.get(i).expect("exists");
            t.urls.iter().map(|u| u.port).collect::<Vec<_>>()
        };
        assert_eq!(order(1), order(1), "same seed, same order");
        let mut sorted = order(1);
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=8).collect::<Vec<u16>>());
        assert!(
            (2..10).any(|seed| order(seed) != order(1)),
            "order depends on the seed"
        );
    }

    #[test]
    fn a_cancelled_dial_is_refused_when_it_connects() {
        let (mut s, i) = one(true);
        s.start(i, ConnId(3), 3).expect("wanted");
        assert!(s.cancel(ConnId(3)));
        assert_eq!(s.dialed(ConnId(3)), None);
        assert!(!s.cancel(ConnId(3)));
    }
}
