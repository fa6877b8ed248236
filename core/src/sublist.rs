//! The per-account subject index with a match cache.
//!
//! This first version matches by scanning every subscription and caches the
//! result per subject (the cache is cleared on any change); a token trie
//! replaces the scan later without changing this API.

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

/// The subject index of one account.
#[derive(Debug)]
pub struct Sublist {
    subs: BTreeMap<u64, Arc<Subscription>>,
    cache: HashMap<Bytes, Arc<Matches>, ahash::RandomState>,
}

impl Sublist {
    /// Creates an empty index whose cache hashes with `hash_seed`.
    pub fn new(hash_seed: u64) -> Self {
        Sublist {
            subs: BTreeMap::new(),
            cache: HashMap::with_hasher(ahash::RandomState::with_seeds(
                hash_seed,
                hash_seed.rotate_left(17),
                hash_seed.rotate_left(31),
                hash_seed.rotate_left(47),
            )),
        }
    }

    /// Adds a subscription.
    pub fn insert(&mut self, sub: Arc<Subscription>) {
        self.subs.insert(sub.seq, sub);
        self.cache.clear();
    }

    /// Removes a subscription by `seq`; returns whether it was present.
    pub fn remove(&mut self, sub: &Subscription) -> bool {
        let removed = self.subs.remove(&sub.seq).is_some();
        if removed {
            self.cache.clear();
        }
        removed
    }

    /// Every subscription matching the literal `subject`.
    pub fn matches(&mut self, subject: &[u8]) -> Arc<Matches> {
        if let Some(m) = self.cache.get(subject) {
            return m.clone();
        }
        // A subject with an empty token matches nothing (nats-server drops
        // such publishes even when pedantic only warns about them).
        if subject.is_empty() || subject::tokens(subject).any(<[u8]>::is_empty) {
            return Arc::new(Matches::default());
        }
        let mut result = Matches::default();
        let mut groups: BTreeMap<Bytes, Vec<Arc<Subscription>>> = BTreeMap::new();
        for sub in self.subs.values() {
            if !subject::matches(&sub.subject, subject) {
                continue;
            }
            match &sub.queue {
                None => result.plain.push(sub.clone()),
                Some(q) => groups.entry(q.clone()).or_default().push(sub.clone()),
            }
        }
        result.queues = groups
            .into_iter()
            .map(|(name, members)| QueueGroup { name, members })
            .collect();
        let result = Arc::new(result);
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache
            .insert(Bytes::copy_from_slice(subject), result.clone());
        result
    }

    /// Number of subscriptions.
    pub fn count(&self) -> usize {
        self.subs.len()
    }
}
