//! The per-account subject index: a token trie with a match cache.
//!
//! Each level maps literal tokens to child nodes and has at most one `*`
//! child and one `>` child, so a match walks only the branches a subject
//! can reach. Results are sorted (plain subscriptions and queue members by
//! `seq`, queue groups by name) so delivery order never depends on hashing.
//! Matches are cached per subject; an insert or remove drops only the
//! cached subjects its pattern matches.

use crate::ids::ConnId;
use crate::subject;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
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

/// The subscriptions matching one subject, sorted by `seq`.
#[derive(Debug, Default)]
pub struct Matches {
    /// Plain subscriptions.
    pub plain: Vec<Arc<Subscription>>,
    /// Queue groups, sorted by name.
    pub queues: Vec<QueueGroup>,
}

/// The members of one queue group that match a subject.
#[derive(Debug)]
pub struct QueueGroup {
    /// Group name.
    pub name: Bytes,
    /// Members sorted by `seq`.
    pub members: Vec<Arc<Subscription>>,
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
        self.invalidate(&pattern);
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
        plain.sort_unstable_by_key(|s| s.seq);
        let mut groups: BTreeMap<Bytes, Vec<Arc<Subscription>>> = BTreeMap::new();
        for s in queued {
            if let Some(q) = &s.queue {
                groups.entry(q.clone()).or_default().push(s);
            }
        }
        let queues = groups
            .into_iter()
            .map(|(name, mut members)| {
                members.sort_unstable_by_key(|s| s.seq);
                QueueGroup { name, members }
            })
            .collect();
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

    /// Drops the cached subjects `pattern` matches (their results change).
    fn invalidate(&mut self, pattern: &[u8]) {
        self.cache
            .retain(|subject, _| !subject::matches(pattern, subject));
    }
}

/// Walks `tokens` through `level`, gathering every subscription whose
/// pattern matches.
fn collect(
    level: &Level,
    tokens: &[&[u8]],
    plain: &mut Vec<Arc<Subscription>>,
    queued: &mut Vec<Arc<Subscription>>,
) {
    let Some((first, rest)) = tokens.split_first() else {
        return;
    };
    // `>` matches one or more remaining tokens.
    if let Some(full) = &level.full {
        plain.extend(full.plain.iter().cloned());
        queued.extend(full.queued.iter().cloned());
    }
    for node in [level.literal.get(*first), level.star.as_deref()]
        .into_iter()
        .flatten()
    {
        if rest.is_empty() {
            plain.extend(node.plain.iter().cloned());
            queued.extend(node.queued.iter().cloned());
        } else if let Some(next) = &node.next {
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
        assert_eq!(
            seqs(&l.matches(b"a.b")),
            (
                vec![1, 2, 3, 4],
                vec![("p".into(), vec![7]), ("q".into(), vec![5, 6])]
            )
        );
        assert_eq!(
            seqs(&l.matches(b"a")).0,
            vec![4],
            "a.> needs a token after a"
        );
        assert_eq!(seqs(&l.matches(b"a.b.c")).0, vec![3, 4]);
        assert_eq!(seqs(&l.matches(b"a..b")).0, Vec::<u64>::new());
        assert_eq!(l.count(), 7);
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
        assert_eq!(seqs(&l.matches(b"s.3")).0, vec![1, 2]);
        assert_eq!(seqs(&l.matches(b"s.4")).0, vec![1]);
    }

    /// The old full scan, as the reference model.
    fn naive(
        subs: &BTreeMap<u64, Arc<Subscription>>,
        subject: &str,
    ) -> (Vec<u64>, Vec<(String, Vec<u64>)>) {
        if subject.split('.').any(str::is_empty) {
            return (vec![], vec![]);
        }
        let mut plain = vec![];
        let mut groups: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for s in subs.values() {
            if subject::matches(&s.subject, subject.as_bytes()) {
                match &s.queue {
                    None => plain.push(s.seq),
                    Some(q) => groups
                        .entry(String::from_utf8_lossy(q).into_owned())
                        .or_default()
                        .push(s.seq),
                }
            }
        }
        (plain, groups.into_iter().collect())
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
            let mut model: BTreeMap<u64, Arc<Subscription>> = BTreeMap::new();
            let mut seq = 0;
            for op in ops {
                match op {
                    Op::Insert(p, q) => {
                        seq += 1;
                        let s = sub(seq, &p.join("."), q);
                        model.insert(seq, s.clone());
                        trie.insert(s);
                    }
                    Op::Remove(i) => {
                        if let Some(s) = model.values().nth(i % model.len().max(1)).cloned() {
                            model.remove(&s.seq);
                            prop_assert!(trie.remove(&s));
                        }
                    }
                    Op::Match(t) => {
                        let subject = t.join(".");
                        prop_assert_eq!(seqs(&trie.matches(subject.as_bytes())), naive(&model, &subject));
                    }
                }
                prop_assert_eq!(trie.count(), model.len());
            }
        }
    }
}
