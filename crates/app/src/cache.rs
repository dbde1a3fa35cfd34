//! A bounded per-process cache of folded aggregate state by stream, with the version it was
//! folded at, so a command need not read a stream whose state it has seen (ADR 0028).
//!
//! An entry may be stale: another process (or another handler) may have appended to its
//! stream since. A caller that decides on a cached state must therefore append with a guard on
//! that version (the stream's own `expected_version`, or a `StreamGuard` for a stream it only
//! read), and forget the entry when the append conflicts; the retry then reads afresh.
//!
//! Both rest on [`BoundedMap`], a string-keyed map of bounded size that the gRPC edge also
//! uses for the access tokens it has verified.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A folded state and the stream version it was folded at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cached<A> {
    pub state: A,
    pub version: u64,
}

/// A map of at most `capacity` entries (at least 2) keyed by string, in two generations: new
/// and used entries go to the young one; when it holds half the capacity it becomes the old
/// one and the old one is dropped. An entry used since the last turn survives it, so this
/// approximates LRU at O(1) per call. Shared by threads behind one mutex: every call is a
/// hash lookup or two, so the lock is held for well under a microsecond.
#[derive(Debug)]
pub struct BoundedMap<V> {
    generations: Mutex<Generations<V>>,
    capacity: usize,
}

#[derive(Debug)]
struct Generations<V> {
    young: HashMap<String, V>,
    old: HashMap<String, V>,
}

impl<V: Clone> BoundedMap<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            generations: Mutex::new(Generations { young: HashMap::new(), old: HashMap::new() }),
            capacity: capacity.max(2),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<V>> {
        // Every critical section leaves the maps whole, so a panic elsewhere cannot corrupt them.
        self.generations.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `key`, which counts as a use.
    pub fn get(&self, key: &str) -> Option<V> {
        let mut generations = self.lock();
        if let Some(value) = generations.young.get(key) {
            return Some(value.clone());
        }
        let value = generations.old.remove(key)?;
        generations.insert_young(key.to_owned(), value.clone(), self.capacity);
        Some(value)
    }

    /// Keeps `value` for `key`, unless `key` has an entry that `keep` says to keep.
    pub fn insert_unless(&self, key: &str, value: V, keep: impl FnOnce(&V) -> bool) {
        let mut generations = self.lock();
        if generations.young.get(key).or_else(|| generations.old.get(key)).is_some_and(keep) {
            return;
        }
        generations.old.remove(key);
        generations.insert_young(key.to_owned(), value, self.capacity);
    }

    pub fn insert(&self, key: &str, value: V) {
        self.insert_unless(key, value, |_| false);
    }

    pub fn remove(&self, key: &str) {
        let mut generations = self.lock();
        generations.young.remove(key);
        generations.old.remove(key);
    }

    pub fn len(&self) -> usize {
        let generations = self.lock();
        generations.young.len() + generations.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<V> Generations<V> {
    fn insert_young(&mut self, key: String, value: V, capacity: usize) {
        if self.young.len() >= capacity / 2 && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }
}

/// Folded states by stream id, each with the version it was folded at.
#[derive(Debug)]
pub(crate) struct StateCache<A> {
    states: BoundedMap<Cached<A>>,
}

impl<A: Clone> StateCache<A> {
    /// A cache of at most `capacity` entries (at least 2).
    pub(crate) fn new(capacity: usize) -> Self {
        Self { states: BoundedMap::new(capacity) }
    }

    pub(crate) fn get(&self, stream_id: &str) -> Option<Cached<A>> {
        self.states.get(stream_id)
    }

    /// Keeps `state` at `version` unless a later version is cached already (a slower reader
    /// must not put an older state back).
    pub(crate) fn put(&self, stream_id: &str, state: A, version: u64) {
        self.states.insert_unless(stream_id, Cached { state, version }, |known| known.version > version);
    }

    pub(crate) fn forget(&self, stream_id: &str) {
        self.states.remove(stream_id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = StateCache::new(10);
        for index in 0..1_000 {
            cache.put(&format!("account-{index}"), index, 1);
            assert!(cache.len() <= 10);
        }
        assert_eq!(cache.get("account-999").map(|c| c.state), Some(999));
        assert_eq!(cache.get("account-0"), None);
    }

    #[test]
    fn an_entry_in_use_survives_the_turn_of_generations() {
        let cache = StateCache::new(4);
        cache.put("account-hot", 0, 1);
        for index in 0..100 {
            cache.put(&format!("account-{index}"), index, 1);
            assert!(cache.get("account-hot").is_some(), "a used entry was evicted");
        }
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let cache = StateCache::new(10);
        cache.put("account-1", "closed", 2);
        cache.put("account-1", "open", 1);
        assert_eq!(cache.get("account-1"), Some(Cached { state: "closed", version: 2 }));
        cache.forget("account-1");
        assert_eq!(cache.get("account-1"), None);
    }
}
