//! A bounded per-process cache of folded aggregate state by stream, with the version it was
//! folded at, so a command need not read a stream whose state it has seen (ADR 0028).
//!
//! An entry may be stale: another process (or another handler) may have appended to its
//! stream since. A caller that decides on a cached state must therefore append with a guard on
//! that version (the stream's own `expected_version`, or a `StreamGuard` for a stream it only
//! read), and forget the entry when the append conflicts; the retry then reads afresh.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A folded state and the stream version it was folded at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cached<A> {
    pub state: A,
    pub version: u64,
}

/// At most `capacity` entries, in two generations: new and used entries go to the young one;
/// when it holds half the capacity it becomes the old one and the old one is dropped. An
/// entry used since the last turn survives it, so this approximates LRU at O(1) per call.
#[derive(Debug)]
pub(crate) struct StateCache<A> {
    generations: Mutex<Generations<A>>,
    capacity: usize,
}

#[derive(Debug)]
struct Generations<A> {
    young: HashMap<String, Cached<A>>,
    old: HashMap<String, Cached<A>>,
}

impl<A: Clone> StateCache<A> {
    /// A cache of at most `capacity` entries (at least 2).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            generations: Mutex::new(Generations { young: HashMap::new(), old: HashMap::new() }),
            capacity: capacity.max(2),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<A>> {
        // Every critical section leaves the maps whole, so a panic elsewhere cannot corrupt them.
        self.generations.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, stream_id: &str) -> Option<Cached<A>> {
        let mut generations = self.lock();
        if let Some(cached) = generations.young.get(stream_id) {
            return Some(cached.clone());
        }
        let cached = generations.old.remove(stream_id)?;
        generations.insert_young(stream_id.to_owned(), cached.clone(), self.capacity);
        Some(cached)
    }

    /// Keeps `state` at `version` unless a later version is cached already (a slower reader
    /// must not put an older state back).
    pub(crate) fn put(&self, stream_id: &str, state: A, version: u64) {
        let mut generations = self.lock();
        let known = generations.young.get(stream_id).or_else(|| generations.old.get(stream_id)).map(|c| c.version);
        if known.is_some_and(|known| known > version) {
            return;
        }
        generations.old.remove(stream_id);
        generations.insert_young(stream_id.to_owned(), Cached { state, version }, self.capacity);
    }

    pub(crate) fn forget(&self, stream_id: &str) {
        let mut generations = self.lock();
        generations.young.remove(stream_id);
        generations.old.remove(stream_id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let generations = self.lock();
        generations.young.len() + generations.old.len()
    }
}

impl<A> Generations<A> {
    fn insert_young(&mut self, stream_id: String, cached: Cached<A>, capacity: usize) {
        if self.young.len() >= capacity / 2 && !self.young.contains_key(&stream_id) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(stream_id, cached);
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
