//! Per-key request limits: a key over its budget gets 429 with
//! `Retry-After` (seconds) instead of taking the node down with it.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

pub struct RateLimits {
    per_key: Option<DefaultKeyedRateLimiter<i64>>,
}

impl RateLimits {
    /// `per_second` requests per SDK key per node (a burst of one second's
    /// worth); 0 turns the limit off.
    pub fn new(per_second: u32) -> RateLimits {
        RateLimits {
            per_key: NonZeroU32::new(per_second).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_second(n))),
        }
    }

    /// `Err(wait)` when key `id` is over its budget.
    pub fn check(&self, id: i64) -> Result<(), Duration> {
        let Some(limiter) = &self.per_key else { return Ok(()) };
        limiter
            .check_key(&id)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_budget_is_told_when_to_retry() {
        let limits = RateLimits::new(2);
        assert!(limits.check(1).is_ok());
        assert!(limits.check(1).is_ok());
        let wait = limits.check(1).unwrap_err();
        assert!(wait <= Duration::from_secs(1));
        assert!(limits.check(2).is_ok(), "keys have separate budgets");
        assert!(RateLimits::new(0).check(1).is_ok());
    }
}
