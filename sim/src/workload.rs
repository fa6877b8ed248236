//! The seeded workload: which clients exist, what they publish, subscribe
//! to, request and answer, and the base shape of their links.

use crate::client_model::{ClientSpec, PublishSpec, RequestSpec, SubSpec};
use crate::link::{DirRules, LinkRules};
use crate::rng::SimRng;
use canopy_core::subject;
use std::time::Duration;

/// Literal subjects publishers draw from.
pub const SUBJECTS: &[&str] = &["a.b", "a.c", "b.b", "b.c", "c.d.e", "c.d.f"];
/// Patterns plain subscribers draw from (literal and wildcard).
pub const PATTERNS: &[&str] = &[
    "a.b", "a.c", "b.b", "c.d.e", "a.*", "*.b", "c.>", "c.*.e", ">", "b.*",
];
/// Patterns queue members draw from.
pub const QUEUE_PATTERNS: &[&str] = &["a.b", "a.*", "*.b", "c.>"];
/// Queue group names.
pub const QUEUES: &[&str] = &["q1", "q2"];
/// Service subjects for request/reply.
pub const SERVICES: &[&str] = &["svc.0", "svc.1"];
/// Size of a large payload (above the engine's copy threshold).
pub const BIG_PAYLOAD: usize = 5000;

/// The workload of one run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// One spec per client.
    pub clients: Vec<ClientSpec>,
    /// Base link rules per client.
    pub links: Vec<LinkRules>,
    /// When each client first connects.
    pub start: Vec<Duration>,
}

/// Draws the workload from `rng` (clients in `min..=max`).
pub fn draw(rng: &mut SimRng, min: usize, max: usize) -> Workload {
    let n = rng.range_usize(min, max);
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        clients.push(draw_client(rng, i));
    }
    // A quarter of the runs have one heavy producer.
    if rng.percent(25) {
        let i = rng.below(n as u64) as usize;
        clients[i].publish = Some(draw_publish(rng, true));
    }
    // At least one publisher and one plain subscriber, so every run has
    // something to check.
    if !clients.iter().any(|c| c.publish.is_some()) {
        let i = rng.below(n as u64) as usize;
        clients[i].publish = Some(draw_publish(rng, false));
    }
    // Some plain subscription must hear some publisher: churn may
    // unsubscribe and echo=false hides a client's own messages, so neither
    // counts.
    let heard = clients.iter().enumerate().any(|(c, client)| {
        client.churn.is_none()
            && client.subs.iter().any(|s| {
                s.queue.is_none()
                    && clients.iter().enumerate().any(|(p, publisher)| {
                        (p != c || client.echo)
                            && publisher.publish.as_ref().is_some_and(|spec| {
                                spec.subjects
                                    .iter()
                                    .any(|x| subject::matches(s.pattern.as_bytes(), x.as_bytes()))
                            })
                    })
            })
    });
    if !heard {
        // A plain subscriber on another client for one published subject.
        let p = clients
            .iter()
            .position(|c| c.publish.is_some())
            .unwrap_or(0);
        let i = (p + 1 + rng.below(n as u64 - 1) as usize) % n;
        let subjects = clients[p]
            .publish
            .as_ref()
            .map(|spec| spec.subjects.clone())
            .unwrap_or_default();
        let subject = rng.pick(&subjects).clone();
        clients[i].churn = None;
        clients[i].subs.push(SubSpec {
            pattern: subject,
            queue: None,
            respond: false,
        });
    }
    let links = (0..n).map(|_| draw_link(rng)).collect();
    let start = (0..n)
        .map(|_| rng.duration(Duration::ZERO, Duration::from_millis(200)))
        .collect();
    Workload {
        clients,
        links,
        start,
    }
}

fn draw_client(rng: &mut SimRng, i: usize) -> ClientSpec {
    let mut subs = Vec::new();
    if rng.percent(70) {
        for _ in 0..rng.range(1, 3) {
            subs.push(SubSpec {
                pattern: rng.pick(PATTERNS).to_string(),
                queue: None,
                respond: false,
            });
        }
    }
    if rng.percent(35) {
        subs.push(SubSpec {
            pattern: rng.pick(QUEUE_PATTERNS).to_string(),
            queue: Some(rng.pick(QUEUES).to_string()),
            respond: false,
        });
    }
    if rng.percent(30) {
        let pattern = if rng.percent(50) {
            "svc.*".to_string()
        } else {
            rng.pick(SERVICES).to_string()
        };
        subs.push(SubSpec {
            pattern,
            queue: rng.percent(50).then(|| "workers".to_string()),
            respond: true,
        });
    }
    let publish = rng.percent(50).then(|| draw_publish(rng, false));
    let request = rng.percent(30).then(|| RequestSpec {
        subjects: SERVICES.iter().map(|s| s.to_string()).collect(),
        interval: (Duration::from_millis(20), Duration::from_millis(300)),
    });
    let churn = (!subs.is_empty() && rng.percent(30)).then(|| {
        (
            Duration::from_millis(100),
            Duration::from_millis(rng.range(300, 1500)),
        )
    });
    ClientSpec {
        name: format!("c{i}"),
        echo: !rng.percent(20),
        subs,
        publish,
        request,
        churn,
        backoff: (Duration::from_millis(10), Duration::from_millis(400)),
    }
}

fn draw_publish(rng: &mut SimRng, heavy: bool) -> PublishSpec {
    let k = rng.range_usize(1, SUBJECTS.len());
    let mut subjects: Vec<String> = Vec::new();
    for _ in 0..k {
        subjects.push(rng.pick(SUBJECTS).to_string());
    }
    if heavy {
        // A heavy producer (about 100 KB/s): enough volume to fill windows
        // and max_pending behind a slow or stalled consumer.
        let lo = rng.range(6, 12);
        return PublishSpec {
            subjects,
            interval: (
                Duration::from_millis(lo),
                Duration::from_millis(lo + rng.range(2, 8)),
            ),
            burst: (1, rng.range_usize(2, 3)),
            header_percent: *rng.pick(&[0, 20]),
            payload: (200, rng.range_usize(700, 1200)),
            big_percent: 0,
            big: BIG_PAYLOAD,
        };
    }
    let lo = rng.range(5, 40);
    let small = rng.range_usize(12, 200);
    PublishSpec {
        subjects,
        interval: (
            Duration::from_millis(lo),
            Duration::from_millis(lo + rng.range(10, 150)),
        ),
        burst: (1, rng.range_usize(1, 6)),
        header_percent: *rng.pick(&[0, 0, 20, 50]),
        payload: (0, if rng.percent(20) { 2000 } else { small }),
        big_percent: *rng.pick(&[0, 0, 1, 3]),
        big: BIG_PAYLOAD,
    }
}

fn draw_dir(rng: &mut SimRng) -> DirRules {
    DirRules {
        delay: rng.duration(Duration::from_micros(20), Duration::from_millis(5)),
        jitter: if rng.percent(40) {
            rng.duration(Duration::ZERO, Duration::from_millis(2))
        } else {
            Duration::ZERO
        },
        bytes_per_ms: if rng.percent(60) {
            0
        } else {
            rng.range(2_000, 20_000)
        },
        // Arbitrary split points everywhere; tiny pieces come from the
        // fragment fault, in short windows (they cost an event per piece).
        max_piece: match rng.below(20) {
            0..=7 => usize::MAX,
            8..=16 => rng.range_usize(64, 1500),
            _ => rng.range_usize(8, 64),
        },
        window: *rng.pick(&[1024, 4096, 16_384, 65_536, 262_144]),
        read_size: *rng.pick(&[512, 4096, 65_536]),
        read_bytes_per_ms: 0,
    }
}

/// The traffic a topology's pinned clients share: one subject published
/// every `lo`..`lo`+40..150 ms (`lo` drawn from `lo_range`, in ms), a
/// pattern that hears it plainly, and the queue pattern that hears it
/// (or the subject itself).
pub struct PinnedTraffic {
    /// A subscription pattern matching the subject.
    pub pattern: String,
    /// The queue-group pattern matching the subject.
    pub queue_pattern: String,
    /// The publisher's spec (the one subject).
    pub publish: PublishSpec,
}

/// Draws the [`PinnedTraffic`] of a topology's pinned clients.
pub fn pinned_traffic(rng: &mut SimRng, lo_range: (u64, u64)) -> PinnedTraffic {
    let subject = rng.pick(SUBJECTS).to_string();
    let heard: Vec<&str> = PATTERNS
        .iter()
        .copied()
        .filter(|p| subject::matches(p.as_bytes(), subject.as_bytes()))
        .collect();
    let pattern = rng.pick(&heard).to_string();
    let queue_pattern = QUEUE_PATTERNS
        .iter()
        .copied()
        .find(|p| subject::matches(p.as_bytes(), subject.as_bytes()))
        .unwrap_or(&subject)
        .to_string();
    let lo = rng.range(lo_range.0, lo_range.1);
    let publish = PublishSpec {
        subjects: vec![subject],
        interval: (
            Duration::from_millis(lo),
            Duration::from_millis(lo + rng.range(40, 150)),
        ),
        burst: (1, 2),
        header_percent: 20,
        payload: (0, 200),
        big_percent: 0,
        big: BIG_PAYLOAD,
    };
    PinnedTraffic {
        pattern,
        queue_pattern,
        publish,
    }
}

/// Draws the base rules of one client's link.
pub fn draw_link(rng: &mut SimRng) -> LinkRules {
    LinkRules {
        up: draw_dir(rng),
        down: draw_dir(rng),
    }
}
