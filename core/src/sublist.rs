//! The per-account subject index: a token trie with a match cache.
//!
//! Each level maps literal tokens to child nodes and has at most one `*`
//! child and one `>` child, so a match walks only the branches a subject
//! can reach.
//!
//! The order of a result is nats-server's, because it is the order in
//! which one connection with several matching subscriptions receives the
//! message. nats-server's sublist walks each level `>` first, then the
//! subtree under `*`, then the literal's; at the last token the literal's
//! own subscriptions come before the `*`'s. So for `a.b`, `>` comes
//! first, then `*.b`, `a.>`, `a.b` and `a.*`. Queue groups are ordered by
//! where they are first met in that walk, their members in walk order; a
//! node's own subscriptions in the order they came (nats-server keeps
//! those in a Go map, in no fixed order). Matches are cached per subject,
//! and the cache is kept as nats-server keeps it: a new subscription is
//! appended to every cached result it matches (so it comes last until the
//! entry is dropped), a removed one drops the cached subjects its pattern
//! matches. No order depends on hashing.

use crate::ids::ConnId;
use crate::subject;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Most subjects kept in the match cache before it is cleared.
const CACHE_MAX: usize = 1024;

/// One subscription, shared by the index and the engine.
#[derive(Debug)]
pub struct Subscription {
    /// Engine-assigned unique, increasing number: identity and order.
    pub seq: u64,
    /// The owning connection.
    pub conn: ConnId,
    /// The client's subscription id.
    pub sid: Bytes,
    /// The subject pattern.
    pub subject: Bytes,
    /// The queue group, if any.
    pub queue: Option<Bytes>,
    /// Messages delivered so far.
    pub delivered: AtomicU64,
    /// Auto-unsubscribe after this many deliveries (0 = unlimited).
    pub max: AtomicU64,
    /// Queue members behind a route's queue interest (1 otherwise).
    pub weight: std::sync::atomic::AtomicU32,
}

impl Subscription {
    /// How many members this subscription stands for in interest counts:
    /// its announced weight for a queue subscription (at least 1), 1 for a
    /// plain one.
    pub fn members(&self) -> i64 {
        match self.queue {
            Some(_) => i64::from(self.weight.load(Ordering::Relaxed).max(1)),
            None => 1,
        }
    }
}

/// The subscriptions matching one subject, in nats-server's order (see
/// the module documentation).
#[derive(Clone, Debug, Default)]
pub struct Matches {
    /// Plain subscriptions.
    pub plain: Vec<Arc<Subscription>>,
    /// Queue groups, in the order they were first met.
    pub queues: Vec<QueueGroup>,
}

/// The members of one queue group that match a subject.
#[derive(Clone, Debug)]
pub struct QueueGroup {
    /// Group name.
    pub name: Bytes,
    /// Members, in match order.
    pub members: Vec<Arc<Subscription>>,
}

impl Matches {
    /// Adds `sub` at the end: a plain subscription after the others, a
    /// queue member after its group's (a new group after the others).
    fn push(&mut self, sub: Arc<Subscription>) {
        let Some(name) = sub.queue.clone() else {
            self.plain.push(sub);
            return;
        };
        match self.queues.iter_mut().find(|g| g.name == name) {
            Some(group) => group.members.push(sub),
            None => self.queues.push(QueueGroup {
                name,
                members: vec![sub],
            }),
        }
    }
}

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// One trie node: the subscriptions whose pattern ends here, and the next
/// level.
#[derive(Debug, Default)]
struct Node {
    plain: Vec<Arc<Subscription>>,
    queued: Vec<Arc<Subscription>>,
    next: Option<Box<Level>>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queued.is_empty() && self.next.is_none()
    }
}

/// The children of a node, by token.
#[derive(Debug)]
struct Level {
    literal: Map<Bytes, Node>,
    star: Option<Box<Node>>,
    full: Option<Box<Node>>,
}

impl Level {
    fn new(hasher: &ahash::RandomState) -> Self {
        Level {
            literal: HashMap::with_hasher(hasher.clone()),
            star: None,
            full: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.star.is_none() && self.full.is_none()
    }
}

/// The subject index of one account.
#[derive(Debug)]
pub struct Sublist {
    root: Level,
    count: usize,
    hasher: ahash::RandomState,
    cache: Map<Bytes, Arc<Matches>>,
    counters: IndexCounters,
}

/// What the index has done since it was created (`/subsz`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexCounters {
    /// Subscriptions inserted.
    pub inserts: u64,
    /// Subscriptions removed.
    pub removes: u64,
    /// Lookups ([`Sublist::matches`] calls).
    pub matches: u64,
    /// Lookups answered from the cache.
    pub cache_hits: u64,
    /// Most plain subscriptions plus queue groups one lookup matched.
    pub max_fanout: u64,
    /// Sum of the fanout of every lookup (for the average).
    pub total_fanout: u64,
}

impl Sublist {
    /// Creates an empty index whose maps hash with `hash_seed`.
    pub fn new(hash_seed: u64) -> Self {
        let hasher = ahash::RandomState::with_seeds(
            hash_seed,
            hash_seed.rotate_left(17),
            hash_seed.rotate_left(31),
            hash_seed.rotate_left(47),
        );
        Sublist {
            root: Level::new(&hasher),
            count: 0,
            cache: HashMap::with_hasher(hasher.clone()),
            hasher,
            counters: IndexCounters::default(),
        }
    }

    /// Adds a subscription (its subject must be valid).
    pub fn insert(&mut self, sub: Arc<Subscription>) {
        let pattern = sub.subject.clone();
        let added = sub.clone();
        let mut level = &mut self.root;
        let mut tokens = subject::tokens(&pattern).peekable();
        loop {
            // Splitting always yields at least one token; subjects are
            // validated before they get here.
            let Some(token) = tokens.next() else {
                return;
            };
            let node: &mut Node = match token {
                b"*" => level.star.get_or_insert_with(Box::default),
                b">" => level.full.get_or_insert_with(Box::default),
                _ => level.literal.entry(pattern.slice_ref(token)).or_default(),
            };
            if tokens.peek().is_none() {
                if sub.queue.is_some() {
                    node.queued.push(sub);
                } else {
                    node.plain.push(sub);
                }
                self.count += 1;
                self.counters.inserts += 1;
                break;
            }
            let hasher = &self.hasher;
            level = node
                .next
                .get_or_insert_with(|| Box::new(Level::new(hasher)));
        }
        self.add_to_cache(&pattern, &added);
    }

    /// Removes a subscription by `seq`; returns whether it was present.
    pub fn remove(&mut self, sub: &Subscription) -> bool {
        let tokens: Vec<&[u8]> = subject::tokens(&sub.subject).collect();
        let removed = remove_from(&mut self.root, &tokens, sub);
        if removed {
            self.count -= 1;
            self.counters.removes += 1;
            let pattern = sub.subject.clone();
            self.invalidate(&pattern);
        }
        removed
    }

    /// Every subscription matching the literal `subject`.
    pub fn matches(&mut self, subject: &[u8]) -> Arc<Matches> {
        self.counters.matches += 1;
        if let Some(m) = self.cache.get(subject) {
            self.counters.cache_hits += 1;
            let fanout = (m.plain.len() + m.queues.len()) as u64;
            self.counters.total_fanout += fanout;
            self.counters.max_fanout = self.counters.max_fanout.max(fanout);
            return m.clone();
        }
        // A subject with an empty token matches nothing (nats-server drops
        // such publishes even when pedantic only warns about them).
        if subject.is_empty() || subject::tokens(subject).any(<[u8]>::is_empty) {
            return Arc::new(Matches::default());
        }
        let tokens: Vec<&[u8]> = subject::tokens(subject).collect();
        let mut plain = Vec::new();
        let mut queued = Vec::new();
        collect(&self.root, &tokens, &mut plain, &mut queued);
        // Groups in the order first met; a name's slot found by a map
        // (nats-server searches its list), so many groups stay cheap.
        let mut slots: BTreeMap<Bytes, usize> = BTreeMap::new();
        let mut queues: Vec<QueueGroup> = Vec::new();
        for s in queued {
            let Some(name) = s.queue.clone() else {
                continue;
            };
            let slot = *slots.entry(name.clone()).or_insert_with(|| {
                queues.push(QueueGroup {
                    name,
                    members: Vec::new(),
                });
                queues.len() - 1
            });
            queues[slot].members.push(s);
        }
        let result = Arc::new(Matches { plain, queues });
        let fanout = (result.plain.len() + result.queues.len()) as u64;
        self.counters.total_fanout += fanout;
        self.counters.max_fanout = self.counters.max_fanout.max(fanout);
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache
            .insert(Bytes::copy_from_slice(subject), result.clone());
        result
    }

    /// Number of subscriptions.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Subjects in the match cache.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Lookups answered from the cache, and all lookups.
    pub fn cache_hits(&self) -> (u64, u64) {
        (self.counters.cache_hits, self.counters.matches)
    }

    /// Everything counted so far.
    pub fn counters(&self) -> IndexCounters {
        self.counters
    }

    /// Appends a new subscription to the cached results of the subjects
    /// its `pattern` matches, as nats-server does (rather than dropping
    /// them): it comes last there, wherever the walk would put it.
    fn add_to_cache(&mut self, pattern: &[u8], sub: &Arc<Subscription>) {
        // Each entry changes on its own: the map's order reaches nothing.
        for (subject, result) in self.cache.iter_mut() {
            if subject::matches(pattern, subject) {
                Arc::make_mut(result).push(sub.clone());
            }
        }
    }

    /// Drops the cached subjects `pattern` matches (their results change).
    fn invalidate(&mut self, pattern: &[u8]) {
        self.cache
            .retain(|subject, _| !subject::matches(pattern, subject));
    }
}

/// Walks `tokens` through `level`, gathering every subscription whose
/// pattern matches, in nats-server's order: `>` first; then, before the
/// last token, everything under `*` and then under the literal; at the
/// last token the literal's subscriptions and then the `*`'s.
fn collect(
    level: &Level,
    tokens: &[&[u8]],
    plain: &mut Vec<Arc<Subscription>>,
    queued: &mut Vec<Arc<Subscription>>,
) {
    let Some((first, rest)) = tokens.split_first() else {
        return;
    };
    let mut add = |node: &Node| {
        plain.extend(node.plain.iter().cloned());
        queued.extend(node.queued.iter().cloned());
    };
    // `>` matches one or more remaining tokens.
    if let Some(full) = &level.full {
        add(full);
    }
    let literal = level.literal.get(*first);
    let star = level.star.as_deref();
    if rest.is_empty() {
        for node in [literal, star].into_iter().flatten() {
            add(node);
        }
        return;
    }
    for node in [star, literal].into_iter().flatten() {
        if let Some(next) = &node.next {
            collect(next, rest, plain, queued);
        }
    }
}

/// Removes `sub` below `level` along `tokens`, pruning emptied nodes.
fn remove_from(level: &mut Level, tokens: &[&[u8]], sub: &Subscription) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return false;
    };
    let removed;
    let now_empty;
    match *first {
        b"*" | b">" => {
            let slot = if *first == b"*" {
                &mut level.star
            } else {
                &mut level.full
            };
            let Some(node) = slot.as_deref_mut() else {
                return false;
            };
            removed = remove_at(node, rest, sub);
            now_empty = node.is_empty();
            if now_empty {
                *slot = None;
            }
        }
        literal => {
            let Some(node) = level.literal.get_mut(literal) else {
                return false;
            };
            removed = remove_at(node, rest, sub);
            now_empty = node.is_empty();
            if now_empty {
                level.literal.remove(literal);
            }
        }
    }
    removed
}

fn remove_at(node: &mut Node, rest: &[&[u8]], sub: &Subscription) -> bool {
    if rest.is_empty() {
        let list = if sub.queue.is_some() {
            &mut node.queued
        } else {
            &mut node.plain
        };
        let before = list.len();
        list.retain(|s| s.seq != sub.seq);
        return list.len() != before;
    }
    let Some(next) = node.next.as_deref_mut() else {
        return false;
    };
    let removed = remove_from(next, rest, sub);
    if next.is_empty() {
        node.next = None;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sub(seq: u64, subject: &str, queue: Option<&str>) -> Arc<Subscription> {
        Arc::new(Subscription {
            seq,
            conn: ConnId(1),
            sid: Bytes::from(seq.to_string()),
            subject: Bytes::copy_from_slice(subject.as_bytes()),
            queue: queue.map(|q| Bytes::copy_from_slice(q.as_bytes())),
            delivered: AtomicU64::new(0),
            max: AtomicU64::new(0),
            weight: Default::default(),
        })
    }

    fn seqs(m: &Matches) -> (Vec<u64>, Vec<(String, Vec<u64>)>) {
        (
            m.plain.iter().map(|s| s.seq).collect(),
            m.queues
                .iter()
                .map(|g| {
                    (
                        String::from_utf8_lossy(&g.name).into_owned(),
                        g.members.iter().map(|s| s.seq).collect(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn wildcards_and_queues() {
        let mut l = Sublist::new(7);
        l.insert(sub(1, "a.b", None));
        l.insert(sub(2, "a.*", None));
        l.insert(sub(3, "a.>", None));
        l.insert(sub(4, ">", None));
        l.insert(sub(5, "a.b", Some("q")));
        l.insert(sub(6, "*.b", Some("q")));
        l.insert(sub(7, "a.b", Some("p")));
        // nats-server's order (module documentation): `>`, then `a.>`,
        // then `a.b`, then `a.*`; groups as first met (`*.b` before `a.b`).
        assert_eq!(
            seqs(&l.matches(b"a.b")),
            (
                vec![4, 3, 1, 2],
                vec![("q".into(), vec![6, 5]), ("p".into(), vec![7])]
            )
        );
        assert_eq!(
            seqs(&l.matches(b"a")).0,
            vec![4],
            "a.> needs a token after a"
        );
        assert_eq!(seqs(&l.matches(b"a.b.c")).0, vec![4, 3]);
        assert_eq!(seqs(&l.matches(b"a..b")).0, Vec::<u64>::new());
        assert_eq!(l.count(), 7);
    }

    fn subscribed(patterns: &[(&str, Option<&str>)]) -> Sublist {
        let mut l = Sublist::new(13);
        for (i, (p, q)) in patterns.iter().enumerate() {
            l.insert(sub(i as u64 + 1, p, *q));
        }
        l
    }

    /// The orders nats-server 2.15.1 delivered in, to one connection
    /// subscribed in sid order (sid = seq here), observed on a socket.
    #[test]
    fn match_order_is_nats_servers() {
        let mut l = subscribed(&[("a.*", None), ("a.>", None), (">", None), ("*.b", None)]);
        assert_eq!(seqs(&l.matches(b"a.b")).0, vec![3, 4, 2, 1]);
        let mut l = subscribed(&[
            ("a.*", None),
            ("a.>", None),
            (">", None),
            ("*.b", None),
            ("a.b", None),
        ]);
        assert_eq!(seqs(&l.matches(b"a.b")).0, vec![3, 4, 2, 5, 1]);
        let mut l = subscribed(&[
            ("a.b.c", None),
            ("a.*.c", None),
            ("*.b.c", None),
            ("*.*.c", None),
            ("a.b.*", None),
            ("a.*.*", None),
            ("*.b.*", None),
            ("*.*.*", None),
            ("a.b.>", None),
            ("a.>", None),
            ("*.>", None),
            (">", None),
            ("*.b.>", None),
        ]);
        assert_eq!(
            seqs(&l.matches(b"a.b.c")).0,
            vec![12, 11, 4, 8, 13, 3, 7, 10, 2, 6, 9, 1, 5]
        );
        // Plain first (the engine's fan-out), then groups as first met.
        let mut l = subscribed(&[
            ("a.b", Some("q1")),
            ("a.*", Some("q2")),
            (">", Some("q3")),
            ("a.b", None),
        ]);
        let (plain, groups) = seqs(&l.matches(b"a.b"));
        assert_eq!(plain, vec![4]);
        let names: Vec<String> = groups.into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["q3", "q1", "q2"]);
    }

    /// nats-server appends a new subscription to a cached result, and a
    /// removal drops the cached subjects its pattern matches.
    #[test]
    fn a_cached_result_gets_new_subscriptions_last() {
        let mut l = subscribed(&[("a.*", None)]);
        assert_eq!(seqs(&l.matches(b"a.b")).0, vec![1]);
        l.insert(sub(2, ">", None));
        l.insert(sub(3, "*.b", None));
        l.insert(sub(4, "a.b", None));
        assert_eq!(seqs(&l.matches(b"a.b")).0, vec![1, 2, 3, 4]);
        assert_eq!(seqs(&l.matches(b"x.b")).0, vec![2, 3], "not cached before");
        l.insert(sub(9, "x.y", None));
        assert!(l.remove(&sub(9, "x.y", None)));
        assert_eq!(seqs(&l.matches(b"a.b")).0, vec![1, 2, 3, 4], "unrelated");
        assert!(l.remove(&sub(4, "a.b", None)));
        assert_eq!(seqs(&l.matches(b"a.b")).0, vec![2, 3, 1], "walked again");
        l.insert(sub(5, "a.b", Some("g")));
        l.insert(sub(6, ">", Some("g")));
        l.insert(sub(7, ">", Some("h")));
        assert_eq!(
            seqs(&l.matches(b"a.b")).1,
            vec![("g".into(), vec![5, 6]), ("h".into(), vec![7])]
        );
    }

    #[test]
    fn remove_prunes_and_updates_the_cache() {
        let mut l = Sublist::new(1);
        let a = sub(1, "x.y.z", None);
        let b = sub(2, "x.y.z", None);
        l.insert(a.clone());
        l.insert(b.clone());
        assert_eq!(seqs(&l.matches(b"x.y.z")).0, vec![1, 2]);
        assert!(l.remove(&a));
        assert!(!l.remove(&a), "already gone");
        assert_eq!(seqs(&l.matches(b"x.y.z")).0, vec![2]);
        assert!(l.remove(&b));
        assert!(l.root.is_empty(), "emptied branches are pruned");
        assert_eq!(l.count(), 0);
        assert!(!l.remove(&sub(9, "never.there", None)));
    }

    #[test]
    fn unrelated_changes_keep_cached_results() {
        let mut l = Sublist::new(3);
        l.insert(sub(1, "a", None));
        let first = l.matches(b"a");
        l.insert(sub(2, "b", None));
        assert!(Arc::ptr_eq(&first, &l.matches(b"a")), "cache kept");
        l.insert(sub(3, "*", None));
        assert_eq!(seqs(&l.matches(b"a")).0, vec![1, 3], "cache dropped");
    }

    #[test]
    fn cache_hit_allocates_nothing() {
        let mut l = Sublist::new(5);
        l.insert(sub(1, "a.*", None));
        l.insert(sub(2, "a.b", Some("q")));
        let first = l.matches(b"a.b");
        let mut again = None;
        let info = allocation_counter::measure(|| {
            again = Some(l.matches(b"a.b"));
        });
        assert_eq!(info.count_total, 0, "a hit is a lookup and an Arc clone");
        assert!(Arc::ptr_eq(&first, &again.expect("matched")));
        assert_eq!(l.cache_hits(), (1, 2));
    }

    #[test]
    fn a_full_cache_is_cleared_and_results_stay_right() {
        let mut l = Sublist::new(9);
        l.insert(sub(1, "s.*", None));
        for i in 0..CACHE_MAX + 10 {
            let subject = format!("s.{i}");
            assert_eq!(seqs(&l.matches(subject.as_bytes())).0, vec![1]);
            assert!(l.cache_len() <= CACHE_MAX);
        }
        assert!(l.cache_len() < CACHE_MAX, "cleared once full");
        l.insert(sub(2, "s.3", None));
        // Not cached since the clear: walked, the literal before `*`.
        assert_eq!(seqs(&l.matches(b"s.3")).0, vec![2, 1]);
        assert_eq!(seqs(&l.matches(b"s.4")).0, vec![1]);
    }

    type Result = (Vec<u64>, Vec<(String, Vec<u64>)>);

    /// The reference model: a full scan sorted by nats-server's walk
    /// (a sort key per token), and a cache kept as nats-server keeps it.
    #[derive(Default)]
    struct Model {
        subs: BTreeMap<u64, Arc<Subscription>>,
        cache: BTreeMap<String, Result>,
    }

    impl Model {
        /// Per token of `pattern`: `>` 0; `*` 1 and a literal 2 before
        /// the subject's last token, the other way round at it.
        fn walk_key(pattern: &[u8], last: usize) -> Vec<u8> {
            subject::tokens(pattern)
                .enumerate()
                .map(|(i, t)| match t {
                    b">" => 0,
                    b"*" if i == last => 2,
                    b"*" => 1,
                    _ if i == last => 1,
                    _ => 2,
                })
                .collect()
        }

        fn walk(&self, subject: &str) -> Result {
            let last = subject.split('.').count() - 1;
            let mut found: Vec<&Arc<Subscription>> = self
                .subs
                .values()
                .filter(|s| subject::matches(&s.subject, subject.as_bytes()))
                .collect();
            found.sort_by_key(|s| (Self::walk_key(&s.subject, last), s.seq));
            let mut plain = vec![];
            let mut groups: Vec<(String, Vec<u64>)> = vec![];
            for s in found {
                push(&mut plain, &mut groups, s);
            }
            (plain, groups)
        }

        fn insert(&mut self, s: Arc<Subscription>) {
            for (subject, (plain, groups)) in self.cache.iter_mut() {
                if subject::matches(&s.subject, subject.as_bytes()) {
                    push(plain, groups, &s);
                }
            }
            self.subs.insert(s.seq, s);
        }

        fn remove(&mut self, s: &Subscription) {
            self.subs.remove(&s.seq);
            self.cache
                .retain(|subject, _| !subject::matches(&s.subject, subject.as_bytes()));
        }

        fn matches(&mut self, subject: &str) -> Result {
            if let Some(r) = self.cache.get(subject) {
                return r.clone();
            }
            let r = self.walk(subject);
            self.cache.insert(subject.to_string(), r.clone());
            r
        }
    }

    fn push(plain: &mut Vec<u64>, groups: &mut Vec<(String, Vec<u64>)>, s: &Subscription) {
        let Some(q) = &s.queue else {
            plain.push(s.seq);
            return;
        };
        let q = String::from_utf8_lossy(q).into_owned();
        match groups.iter_mut().find(|(n, _)| *n == q) {
            Some((_, members)) => members.push(s.seq),
            None => groups.push((q, vec![s.seq])),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<&'static str>, Option<&'static str>),
        Remove(usize),
        Match(Vec<&'static str>),
    }

    /// 1 to 4 tokens from a small alphabet; `>` only last.
    fn pattern() -> impl Strategy<Value = Vec<&'static str>> {
        (
            prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "*"]), 0..4),
            any::<bool>(),
        )
            .prop_map(|(mut toks, full)| {
                if full || toks.is_empty() {
                    toks.push(">");
                }
                toks
            })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (pattern(), prop::option::of(prop::sample::select(vec!["q1", "q2"])))
                .prop_map(|(p, q)| Op::Insert(p, q)),
            1 => any::<usize>().prop_map(Op::Remove),
            3 => prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..5)
                .prop_map(Op::Match),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]
        #[test]
        fn trie_agrees_with_a_full_scan(ops in prop::collection::vec(op(), 1..60)) {
            let mut trie = Sublist::new(11);
            let mut model = Model::default();
            let mut seq = 0;
            for op in ops {
                match op {
                    Op::Insert(p, q) => {
                        seq += 1;
                        let s = sub(seq, &p.join("."), q);
                        model.insert(s.clone());
                        trie.insert(s);
                    }
                    Op::Remove(i) => {
                        if let Some(s) = model.subs.values().nth(i % model.subs.len().max(1)).cloned() {
                            model.remove(&s);
                            prop_assert!(trie.remove(&s));
                        }
                    }
                    Op::Match(t) => {
                        let subject = t.join(".");
                        prop_assert_eq!(seqs(&trie.matches(subject.as_bytes())), model.matches(&subject));
                    }
                }
                prop_assert_eq!(trie.count(), model.subs.len());
            }
        }
    }
}
