//! Exponential backoff: the delay after `n` consecutive failures.
//!
//! Used per key by the work queue (client-go's
//! `ItemExponentialFailureRateLimiter`) and per watch by the watcher. No
//! jitter: one server has no herd of replicas to spread out, and a
//! deterministic delay is what the tests pin down.

use std::time::Duration;

/// `base · 2^(failures-1)`, capped at `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max }
    }

    /// The wait after `failures` consecutive failures (0 and 1 both give
    /// the base delay).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

impl Default for Backoff {
    /// Controllers retry a failed key after 100ms, then 200ms, … up to 5s:
    /// quick enough that a transient storage error is invisible to a
    /// client waiting on a condition, slow enough that a persistent one
    /// does not spin.
    fn default() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(75));
        let got: Vec<u128> = (0..7).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(got, [10, 10, 20, 40, 75, 75, 75]);
        // No overflow however long the failures last.
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(75));
    }
}
