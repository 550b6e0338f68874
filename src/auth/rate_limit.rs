//! In-memory limiter for failed login attempts (sliding window per key).
//!
//! Use two keys per attempt, [`email_key`] and [`ip_key`]: before verifying the
//! password call [`RateLimiter::check_many`] (429 with `Retry-After` on `Err`),
//! after a wrong password [`RateLimiter::record_failure`] for both keys, after
//! success [`RateLimiter::reset`] the email key. Time is passed in (`Instant`)
//! so tests need no sleeping. The state is per process: with several server
//! processes each enforces its own limit.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use thiserror::Error;

/// Default cap on tracked keys; beyond it expired keys are swept and then the
/// key with the oldest latest failure is evicted.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Too many recent failures for a key; retry after the given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("too many failed login attempts; try again in {} seconds", self.secs())]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header, rounded up, at least 1.
    pub fn secs(&self) -> u64 {
        let s = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        s.max(1)
    }
}

/// Counts failures per key within a sliding window. Thread-safe (`&self`).
#[derive(Debug)]
pub struct RateLimiter {
    max_failures: u32,
    window: Duration,
    max_keys: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Per key, the times of its most recent failures (at most `max_failures`).
    failures: HashMap<String, VecDeque<Instant>>,
    last_sweep: Option<Instant>,
}

impl RateLimiter {
    /// Allows at most `max_failures` failures per key within any `window`;
    /// tracks at most [`DEFAULT_MAX_KEYS`] keys. `max_failures` 0 is treated as 1.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self::with_max_keys(max_failures, window, DEFAULT_MAX_KEYS)
    }

    /// Like [`RateLimiter::new`] with an explicit cap on tracked keys (≥ 1).
    pub fn with_max_keys(max_failures: u32, window: Duration, max_keys: usize) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            max_keys: max_keys.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent even if a holder panicked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_live(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.window
    }

    /// `Ok` if `key` may attempt a login at `now`, else how long to wait.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), RetryAfter> {
        let inner = self.lock();
        let Some(times) = inner.failures.get(key) else {
            return Ok(());
        };
        let live: Vec<Instant> = times
            .iter()
            .copied()
            .filter(|t| self.is_live(*t, now))
            .collect();
        if live.len() < self.max_failures as usize {
            return Ok(());
        }
        // Blocked until the oldest failure that still counts leaves the window.
        let Some(&oldest_needed) = live.get(live.len() - self.max_failures as usize) else {
            return Ok(());
        };
        let wait = oldest_needed
            .checked_add(self.window)
            .map_or(self.window, |until| until.saturating_duration_since(now));
        Err(RetryAfter(wait))
    }

    /// Checks every key and reports the longest wait among the blocked ones.
    pub fn check_many(&self, keys: &[&str], now: Instant) -> Result<(), RetryAfter> {
        keys.iter()
            .filter_map(|k| self.check(k, now).err())
            .max_by_key(|r| r.0)
            .map_or(Ok(()), Err)
    }

    /// Records a failed attempt for `key` at `now`.
    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut inner = self.lock();
        let due = inner
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= self.window);
        if due || (inner.failures.len() >= self.max_keys && !inner.failures.contains_key(key)) {
            self.sweep(&mut inner, now);
        }
        if inner.failures.len() >= self.max_keys && !inner.failures.contains_key(key) {
            let oldest = inner
                .failures
                .iter()
                .min_by_key(|(_, times)| times.back().copied())
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                inner.failures.remove(&k);
            }
        }
        let cap = self.max_failures as usize;
        let times = inner.failures.entry(key.to_owned()).or_default();
        times.retain(|t| self.is_live(*t, now));
        times.push_back(now);
        while times.len() > cap {
            times.pop_front();
        }
    }

    /// Forgets all failures for `key` (after a successful login).
    pub fn reset(&self, key: &str) {
        self.lock().failures.remove(key);
    }

    /// Number of keys currently tracked (for metrics and tests).
    pub fn tracked_keys(&self) -> usize {
        self.lock().failures.len()
    }

    fn sweep(&self, inner: &mut Inner, now: Instant) {
        inner
            .failures
            .retain(|_, times| times.back().is_some_and(|t| self.is_live(*t, now)));
        inner.last_sweep = Some(now);
    }
}

/// The limiter key for an email: `email:<trimmed, lowercased>`.
pub fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

/// The limiter key for a client address: `ip:<addr>`. IPv4-mapped IPv6 counts
/// as IPv4, and IPv6 is keyed by its /64 prefix (one host usually owns a /64).
pub fn ip_key(addr: IpAddr) -> String {
    match addr.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("ip:{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn blocks_after_max_failures_until_window_passes() {
        let t0 = Instant::now();
        let rl = RateLimiter::new(3, 10 * MIN);
        for i in 0..3 {
            assert_eq!(rl.check("k", at(t0, i)), Ok(()));
            rl.record_failure("k", at(t0, i));
        }
        let err = rl.check("k", at(t0, 3)).unwrap_err();
        assert_eq!(err, RetryAfter(Duration::from_secs(597)));
        assert_eq!(err.secs(), 597);
        assert!(err.to_string().contains("597 seconds"));
        assert!(rl.check("k", at(t0, 599)).is_err());
        // The first failure leaves the window at t0+600.
        assert_eq!(rl.check("k", at(t0, 600)), Ok(()));
        assert_eq!(rl.check("other", at(t0, 3)), Ok(()));
    }

    #[test]
    fn window_slides() {
        let t0 = Instant::now();
        let rl = RateLimiter::new(2, MIN);
        rl.record_failure("k", at(t0, 0));
        rl.record_failure("k", at(t0, 50));
        assert!(rl.check("k", at(t0, 55)).is_err());
        assert_eq!(rl.check("k", at(t0, 60)), Ok(()));
        rl.record_failure("k", at(t0, 61));
        // Failures at 50 and 61 count; blocked until 50 + 60.
        assert_eq!(
            rl.check("k", at(t0, 62)),
            Err(RetryAfter(Duration::from_secs(48)))
        );
    }

    #[test]
    fn reset_clears_a_key() {
        let t0 = Instant::now();
        let rl = RateLimiter::new(1, MIN);
        rl.record_failure("email:a@b.c", t0);
        assert!(rl.check("email:a@b.c", t0).is_err());
        rl.reset("email:a@b.c");
        assert_eq!(rl.check("email:a@b.c", t0), Ok(()));
        assert_eq!(rl.tracked_keys(), 0);
    }

    #[test]
    fn check_many_reports_longest_wait() {
        let t0 = Instant::now();
        let rl = RateLimiter::new(1, MIN);
        rl.record_failure("a", at(t0, 0));
        rl.record_failure("b", at(t0, 30));
        assert_eq!(
            rl.check_many(&["a", "b", "c"], at(t0, 40)),
            Err(RetryAfter(Duration::from_secs(50)))
        );
        assert_eq!(rl.check_many(&["c"], at(t0, 40)), Ok(()));
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let rl = RateLimiter::with_max_keys(5, MIN, 10);
        for i in 0..100 {
            rl.record_failure(&format!("k{i}"), at(t0, i));
        }
        assert!(rl.tracked_keys() <= 10);
        // The newest keys survive eviction.
        rl.record_failure("k99", at(t0, 100));
        assert!(rl.check("k99", at(t0, 100)).is_ok());
        // Expired keys are swept once a window has passed.
        rl.record_failure("late", at(t0, 1000));
        assert_eq!(rl.tracked_keys(), 1);
        // Per-key history is capped at max_failures.
        for i in 0..50 {
            rl.record_failure("late", at(t0, 1000 + i));
        }
        assert_eq!(rl.lock().failures["late"].len(), 5);
    }

    #[test]
    fn sub_second_waits_round_up() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).secs(), 1);
        assert_eq!(RetryAfter(Duration::ZERO).secs(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(2001)).secs(), 3);
    }

    #[test]
    fn keys() {
        assert_eq!(email_key("  Alice@Example.COM "), "email:alice@example.com");
        assert_eq!(ip_key("203.0.113.7".parse().unwrap()), "ip:203.0.113.7");
        assert_eq!(
            ip_key("::ffff:203.0.113.7".parse().unwrap()),
            "ip:203.0.113.7"
        );
        assert_eq!(
            ip_key("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "ip:2001:db8:1:2::/64"
        );
    }
}
