//! Limits that keep one client from starving the others: per-key token buckets for request
//! rates, and the answer a refused call gets (`RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo`).
//!
//! The buckets live in this process (ADR 0006): with several API replicas a client gets each
//! replica's allowance. That bounds abuse well enough until a shared limiter is needed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests a key may send at once after being idle.
    pub burst: u32,
    /// Requests per minute a key may send on average.
    pub per_minute: u32,
}

impl RateLimit {
    pub const fn new(burst: u32, per_minute: u32) -> Self {
        Self { burst, per_minute }
    }
}

/// Every limit of the API, with defaults generous enough for any honest client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per user, on LedgerService (`CASHFLOW_RATE_LIMIT_COMMANDS`).
    pub commands: RateLimit,
    /// Per user, on QueryService and AuditService (`CASHFLOW_RATE_LIMIT_QUERIES`).
    pub queries: RateLimit,
    /// Per account (normalised email) on Login (`CASHFLOW_RATE_LIMIT_LOGIN`).
    pub login: RateLimit,
    /// Per client address (an IPv6 /64) on Login and Register together
    /// (`CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS`).
    pub login_address: RateLimit,
    /// Largest request message (`CASHFLOW_MAX_MESSAGE_BYTES`).
    pub max_message_bytes: usize,
    /// Longest a call may run (`CASHFLOW_CALL_TIMEOUT_SECS`).
    pub call_timeout: Duration,
    /// Calls in flight on one connection (`CASHFLOW_MAX_CONCURRENT_CALLS`).
    pub max_concurrent_calls: usize,
}

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            commands: RateLimit::new(500, 6_000),
            queries: RateLimit::new(1_000, 12_000),
            login: RateLimit::new(10, 10),
            login_address: RateLimit::new(30, 30),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            call_timeout: Duration::from_secs(120),
            max_concurrent_calls: 256,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets, and every key once in the order the sweep visits them.
#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    ring: VecDeque<K>,
}

/// Token buckets by key. Each check also looks at the [`SWEEP_STEP`] keys longest unvisited
/// and forgets those whose bucket has refilled (a full bucket is what a new key gets, so
/// forgetting it changes no answer). A check adds at most one key and sweeps several, so
/// memory follows the keys active within about one refill period, and no check does more
/// than a few steps however many keys there are.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: RateLimit,
    buckets: Mutex<Buckets<K>>,
}

/// Keys looked at per check by the sweep.
const SWEEP_STEP: usize = 4;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(limit: RateLimit) -> Self {
        Self { limit, buckets: Mutex::new(Buckets { map: HashMap::new(), ring: VecDeque::new() }) }
    }

    fn per_second(&self) -> f64 {
        f64::from(self.limit.per_minute) / 60.0
    }

    /// Spends one request of `key`'s allowance, or answers how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.check_counting(key, now).0
    }

    /// [`Self::check_at`], and how many buckets it examined.
    fn check_counting(&self, key: &K, now: Instant) -> (Result<(), Duration>, usize) {
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.per_second();
        let refilled =
            |bucket: &Bucket| bucket.tokens + now.saturating_duration_since(bucket.updated).as_secs_f64() * rate;
        // A panic elsewhere while holding the lock leaves the counts usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let Buckets { map, ring } = &mut *buckets;
        let mut examined = 1;
        for _ in 0..SWEEP_STEP.min(ring.len()) {
            let Some(candidate) = ring.pop_front() else { break };
            examined += 1;
            if map.get(&candidate).is_none_or(|bucket| refilled(bucket) >= burst) {
                map.remove(&candidate);
            } else {
                ring.push_back(candidate);
            }
        }
        let bucket = match map.entry(key.clone()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                ring.push_back(key.clone());
                entry.insert(Bucket { tokens: burst, updated: now })
            }
        };
        bucket.tokens = refilled(bucket).min(burst);
        bucket.updated = now;
        let answer = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else if rate > 0.0 {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate).max(Duration::from_millis(1)))
        } else {
            Err(Duration::from_secs(3600))
        };
        (answer, examined)
    }
}

impl<K> RateLimiter<K> {
    /// Keys held.
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `RESOURCE_EXHAUSTED` telling the client when to retry.
pub fn exhausted(retry_after: Duration) -> Status {
    exhausted_because("rate limit exceeded", retry_after)
}

/// `RESOURCE_EXHAUSTED` saying `what` ran out and when to retry.
pub fn exhausted_because(what: &str, retry_after: Duration) -> Status {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("{what}; retry in {seconds} s"),
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::new(RateLimit::new(3, 60));
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(&"alice", start).is_ok());
        }
        let wait = limiter.check_at(&"alice", start).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        // Another key has its own bucket.
        assert!(limiter.check_at(&"bob", start).is_ok());
        // One request per second comes back.
        assert!(limiter.check_at(&"alice", start + Duration::from_millis(1_001)).is_ok());
        assert!(limiter.check_at(&"alice", start + Duration::from_millis(1_002)).is_err());
        // Idle long enough, the bucket is full again but never above the burst.
        let later = start + Duration::from_secs(600);
        for _ in 0..3 {
            assert!(limiter.check_at(&"alice", later).is_ok());
        }
        assert!(limiter.check_at(&"alice", later).is_err());
    }

    #[test]
    fn exhausted_carries_retry_info() {
        let status = exhausted(Duration::from_millis(1_500));
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_details_retry_info().expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(1_500)));
        assert!(status.message().contains("2 s"), "{}", status.message());
    }

    #[test]
    fn a_check_examines_a_few_buckets_however_many_keys_are_held() {
        let limiter = RateLimiter::new(RateLimit::new(1, 60));
        let start = Instant::now();
        // 50,000 keys, each with its allowance spent: none may be forgotten yet.
        for key in 0..50_000usize {
            let _ = limiter.check_at(&key, start);
        }
        let most = (0..1_000usize)
            .map(|n| limiter.check_counting(&(100_000 + n), start + Duration::from_millis(n as u64)).1)
            .max()
            .unwrap();
        assert!(most <= SWEEP_STEP + 1, "one check examined {most} buckets");
        assert_eq!(limiter.len(), 51_000, "no bucket with its allowance spent is forgotten");
    }

    #[test]
    fn idle_keys_are_forgotten_a_few_per_check() {
        let limiter = RateLimiter::new(RateLimit::new(1, 60));
        let start = Instant::now();
        for key in 0..10_000usize {
            let _ = limiter.check_at(&key, start);
        }
        assert_eq!(limiter.len(), 10_000, "spent buckets are kept");
        // A minute on, every bucket has refilled: each check forgets a few, one key stays busy.
        let later = start + Duration::from_secs(60);
        for _ in 0..10_000 / (SWEEP_STEP - 1) + 1 {
            let _ = limiter.check_at(&usize::MAX, later);
        }
        assert_eq!(limiter.len(), 1);
        // Forgetting a refilled bucket changes no answer: the busy key is still limited.
        assert!(limiter.check_at(&usize::MAX, later).is_err());
    }
}
