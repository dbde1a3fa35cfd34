//! A person's rules, compiled once and kept while their [`RulesVersion`] stays the same.
//!
//! Every rule is compiled (up to two regular expressions of 256 KiB each), so compiling all of a
//! person's rules for every movement cost up to 500 compiles per movement. The version is one
//! cheap read of the ledger, which moves with every CategorizationRuleAdded the ledger projects;
//! so a new rule is used from the first movement after the ledger has it, as before.
//!
//! The cache is bounded by the number of compiled rules it holds; past [`MAX_CACHED_RULES`] the
//! person whose rules were used least recently is dropped (and compiled again when needed).

use cashflow_app::RulesVersion;
use cashflow_domain::UserId;
use cashflow_domain::rule::CompiledRule;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

/// Compiled rules kept at most: ten people at the cap of 500 rules, or many more with few.
pub const MAX_CACHED_RULES: usize = 5_000;

#[derive(Debug)]
pub struct RuleCache {
    state: Mutex<State>,
    max_rules: usize,
}

#[derive(Debug, Default)]
struct State {
    people: HashMap<UserId, Entry>,
    /// Each cached person by the tick of their last use, oldest first.
    by_use: BTreeMap<u64, UserId>,
    /// The sum of every entry's weight.
    rules: usize,
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    version: RulesVersion,
    rules: Arc<[CompiledRule]>,
    used: u64,
}

impl Entry {
    /// What the entry counts against the bound: its rules, and at least one.
    fn weight(&self) -> usize {
        self.rules.len().max(1)
    }
}

impl Default for RuleCache {
    fn default() -> Self {
        Self::new(MAX_CACHED_RULES)
    }
}

impl RuleCache {
    pub fn new(max_rules: usize) -> Self {
        Self { state: Mutex::new(State::default()), max_rules }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every method leaves the state whole before it could panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `owner`'s compiled rules, if cached at exactly `version`.
    pub fn get(&self, owner: UserId, version: RulesVersion) -> Option<Arc<[CompiledRule]>> {
        let mut state = self.state();
        state.tick += 1;
        let tick = state.tick;
        let entry = state.people.get_mut(&owner).filter(|e| e.version == version)?;
        let (previous, rules) = (entry.used, entry.rules.clone());
        entry.used = tick;
        state.by_use.remove(&previous);
        state.by_use.insert(tick, owner);
        Some(rules)
    }

    /// Keeps `rules` as `owner`'s at `version`, replacing older ones, then drops the least
    /// recently used people until the bound holds (never the one just kept).
    pub fn put(&self, owner: UserId, version: RulesVersion, rules: Arc<[CompiledRule]>) {
        let mut state = self.state();
        state.tick += 1;
        let used = state.tick;
        let entry = Entry { version, rules, used };
        state.rules += entry.weight();
        if let Some(old) = state.people.insert(owner, entry) {
            state.rules -= old.weight();
            state.by_use.remove(&old.used);
        }
        state.by_use.insert(used, owner);
        while state.rules > self.max_rules {
            let Some((&oldest, &person)) = state.by_use.first_key_value() else { break };
            if person == owner {
                break;
            }
            state.by_use.remove(&oldest);
            if let Some(dropped) = state.people.remove(&person) {
                state.rules -= dropped.weight();
            }
        }
    }

    /// How many people and compiled rules are cached.
    #[cfg(test)]
    pub fn size(&self) -> (usize, usize) {
        let state = self.state();
        (state.people.len(), state.rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cashflow_domain::CategoryId;
    use cashflow_domain::RuleId;
    use cashflow_domain::rule::{Criteria, Rule, TextPattern};

    fn rules(n: usize) -> Arc<[CompiledRule]> {
        let criteria = Criteria::new(TextPattern::parse("d", "shop").unwrap(), None, None, None, None).unwrap();
        (0..n)
            .map(|_| {
                let rule = Rule {
                    rule_id: RuleId::new(),
                    category_id: CategoryId::new(),
                    criteria: criteria.clone(),
                    priority: 0,
                };
                CompiledRule::new(rule).unwrap()
            })
            .collect()
    }

    fn version(count: u64, last_added: u64) -> RulesVersion {
        RulesVersion { count, last_added }
    }

    #[test]
    fn rules_are_answered_only_at_the_version_they_were_kept_at() {
        let cache = RuleCache::new(100);
        let owner = UserId::new();
        cache.put(owner, version(2, 7), rules(2));
        assert_eq!(cache.get(owner, version(2, 7)).map(|r| r.len()), Some(2));
        assert!(cache.get(owner, version(3, 9)).is_none(), "a rule was added since");
        assert!(cache.get(UserId::new(), version(2, 7)).is_none(), "another person's rules");
        cache.put(owner, version(3, 9), rules(3));
        assert_eq!(cache.size(), (1, 3), "the old version is replaced, not kept beside");
    }

    #[test]
    fn past_the_bound_the_least_recently_used_person_is_dropped() {
        let cache = RuleCache::new(10);
        let (ana, ben, cai) = (UserId::new(), UserId::new(), UserId::new());
        cache.put(ana, version(4, 1), rules(4));
        cache.put(ben, version(4, 2), rules(4));
        assert!(cache.get(ana, version(4, 1)).is_some());
        cache.put(cai, version(4, 3), rules(4));
        assert!(cache.get(ben, version(4, 2)).is_none(), "ben was used least recently");
        assert!(cache.get(ana, version(4, 1)).is_some());
        assert!(cache.get(cai, version(4, 3)).is_some());
        assert_eq!(cache.size(), (2, 8));
    }

    #[test]
    fn one_person_larger_than_the_bound_is_still_kept_alone() {
        let cache = RuleCache::new(3);
        let (ana, ben) = (UserId::new(), UserId::new());
        cache.put(ana, version(1, 1), rules(1));
        cache.put(ben, version(5, 2), rules(5));
        assert_eq!(cache.size(), (1, 5));
        assert!(cache.get(ben, version(5, 2)).is_some());
    }
}
