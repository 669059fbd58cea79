//! Per-key request limits: a key over its budget gets 429 with
//! `Retry-After` (seconds) instead of taking the node down with it; open
//! streams per key; the origins browsers may call from; the sizes of what
//! clients and the admin API may send (`docs/reliability.md`, "Limits").

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foldhash::HashMap;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::{ApiError, ApiResult};

type KeyedLimiter<C> = RateLimiter<i64, DefaultKeyedStateStore<i64>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-key budgets on clock `C` (the monotonic clock; tests pass a fake one).
pub struct RateLimits<C: Clock = DefaultClock> {
    per_key: Option<KeyedLimiter<C>>,
    clock: C,
}

impl RateLimits {
    /// `per_second` requests per SDK key per node (a burst of one second's
    /// worth); 0 turns the limit off.
    pub fn new(per_second: u32) -> RateLimits {
        RateLimits::with_clock(per_second, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// [`RateLimits::new`] on `clock`.
    pub fn with_clock(per_second: u32, clock: C) -> RateLimits<C> {
        RateLimits {
            per_key: NonZeroU32::new(per_second)
                .map(|n| RateLimiter::new(Quota::per_second(n), DefaultKeyedStateStore::default(), clock.clone())),
            clock,
        }
    }

    /// `Err(wait)` when key `id` is over its budget.
    pub fn check(&self, id: i64) -> Result<(), Duration> {
        let Some(limiter) = &self.per_key else { return Ok(()) };
        limiter
            .check_key(&id)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// What SDK usage reports may cost (`POST /sdk/v1/usage` and stream `usage`
/// messages; `docs/usage-metrics.md`): reports per second per key, and the
/// distinct event names a key, and a flag in an environment, may add. Client
/// keys are public, and every new name is a new row per minute kept for the
/// usage retention; names over a cap are dropped (counted as `dropped`).
/// Counted per node.
pub struct UsageLimits {
    reports: RateLimits,
    max_events_per_key: usize,
    max_events_per_flag: usize,
    names: Mutex<EventNames>,
}

type Names = foldhash::HashSet<Box<str>>;

#[derive(Default)]
struct EventNames {
    /// Key id → the event names it reported.
    per_key: HashMap<i64, Names>,
    /// (environment, flag) → the event names attributed to it.
    per_flag: HashMap<(Box<str>, Box<str>), Names>,
}

impl UsageLimits {
    /// `reports_per_second` per key (0: no limit); at most
    /// `max_events_per_key` distinct event names per key and
    /// `max_events_per_flag` per flag and environment (0: no cap).
    pub fn new(reports_per_second: u32, max_events_per_key: usize, max_events_per_flag: usize) -> UsageLimits {
        UsageLimits {
            reports: RateLimits::new(reports_per_second),
            max_events_per_key,
            max_events_per_flag,
            names: Mutex::default(),
        }
    }

    /// `Err(wait)` when key `id` is over its report budget.
    pub fn check_report(&self, id: i64) -> Result<(), Duration> {
        self.reports.check(id)
    }

    /// Keeps the events (`(event, flag)` of each entry) whose names fit the
    /// caps, in order; returns how many were dropped. A name already known
    /// for the key and the flag always fits.
    pub fn admit_events<T>(
        &self,
        key: i64,
        environment: &str,
        entries: &mut Vec<T>,
        names: impl Fn(&T) -> (&str, &str),
    ) -> usize {
        if self.max_events_per_key == 0 && self.max_events_per_flag == 0 {
            return 0;
        }
        let before = entries.len();
        let mut guard = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let EventNames { per_key, per_flag } = &mut *guard;
        let of_key = per_key.entry(key).or_default();
        entries.retain(|entry| {
            let (event, flag) = names(entry);
            let of_flag = per_flag.entry((environment.into(), flag.into())).or_default();
            let key_knows = of_key.contains(event);
            let flag_knows = of_flag.contains(event);
            if (!key_knows && self.max_events_per_key > 0 && of_key.len() >= self.max_events_per_key)
                || (!flag_knows && self.max_events_per_flag > 0 && of_flag.len() >= self.max_events_per_flag)
            {
                return false;
            }
            if !key_knows {
                of_key.insert(event.into());
            }
            if !flag_knows {
                of_flag.insert(event.into());
            }
            true
        });
        before - entries.len()
    }
}

/// Open streams per SDK key on this node. A connection holds a
/// [`StreamPermit`] for its lifetime; dropping it frees the slot.
pub struct StreamCounts {
    max_per_key: usize,
    open: Arc<Mutex<HashMap<i64, usize>>>,
}

pub struct StreamPermit {
    key: i64,
    open: Arc<Mutex<HashMap<i64, usize>>>,
}

impl StreamCounts {
    /// `max_per_key` open streams per key; 0 turns the limit off.
    pub fn new(max_per_key: usize) -> StreamCounts {
        StreamCounts {
            max_per_key,
            open: Arc::default(),
        }
    }

    /// A slot for one more stream of key `id`, or `None` when it has
    /// `max_per_key` open already.
    pub fn acquire(&self, id: i64) -> Option<StreamPermit> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(id).or_default();
        if self.max_per_key > 0 && *count >= self.max_per_key {
            return None;
        }
        *count += 1;
        Some(StreamPermit {
            key: id,
            open: self.open.clone(),
        })
    }
}

impl StreamPermit {
    pub fn key(&self) -> i64 {
        self.key
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Wrong credentials on the admin API, per client address: up to
/// `per_minute` at once, then one more every `60 / per_minute` seconds.
/// Over that, the address gets 429 before its secret is digested or looked
/// up, so guessing costs the node nothing. Behind a proxy every client
/// shares the proxy's address: the budget is then the proxy's.
pub struct AuthFailures {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    /// Failures not yet forgiven (forgiven at `per_minute` per minute).
    count: f64,
    at: Instant,
}

/// Addresses remembered at most (the oldest forgiven ones go first).
const AUTH_FAILURE_ADDRESSES: usize = 10_000;

impl AuthFailures {
    /// 0 turns the limit off.
    pub fn new(per_minute: u32) -> AuthFailures {
        AuthFailures {
            per_minute,
            seen: Mutex::default(),
        }
    }

    fn rate(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    fn forgiven(&self, failures: Failures, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(failures.at).as_secs_f64();
        (failures.count - elapsed * self.rate()).max(0.0)
    }

    /// `Err(wait)` when `ip` has used up its wrong credentials.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let Some(failures) = seen.get(&ip) else { return Ok(()) };
        let over = self.forgiven(*failures, now) - f64::from(self.per_minute) + 1.0;
        if over <= 0.0 {
            return Ok(());
        }
        Err(Duration::from_secs_f64(over / self.rate()))
    }

    /// `ip` presented a secret that is no credential.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        if self.per_minute == 0 {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= AUTH_FAILURE_ADDRESSES && !seen.contains_key(&ip) {
            seen.retain(|_, failures| self.forgiven(*failures, now) > 0.0);
            if seen.len() >= AUTH_FAILURE_ADDRESSES {
                return;
            }
        }
        let count = seen.get(&ip).map_or(0.0, |failures| self.forgiven(*failures, now)) + 1.0;
        seen.insert(ip, Failures { count, at: now });
    }
}

/// The origins browsers may call from (`DAYLIGHT_ALLOWED_ORIGINS`): the
/// stream refuses other origins, and OFREP's CORS answers only these.
/// Empty (or `*`) allows any origin.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Lower-case `scheme://host[:port]`; `None` allows any.
    list: Option<Vec<String>>,
}

impl Origins {
    pub fn new(configured: &[String]) -> Origins {
        let list: Vec<String> = configured
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        Origins {
            list: (!list.is_empty() && !list.iter().any(|o| o == "*")).then_some(list),
        }
    }

    pub fn allows_any(&self) -> bool {
        self.list.is_none()
    }

    pub fn allows(&self, origin: &[u8]) -> bool {
        match &self.list {
            None => true,
            Some(list) => list.iter().any(|o| o.as_bytes().eq_ignore_ascii_case(origin)),
        }
    }
}

/// The longest flag, segment and environment key, in characters (what
/// LaunchDarkly and Unleash allow). Keep the `max_length` of the request
/// types in step: the OpenAPI document states these limits.
pub const KEY_CHARS: usize = 100;
/// The longest name (of a flag, segment, environment or SDK key).
pub const NAME_CHARS: usize = 200;
/// The longest description.
pub const DESCRIPTION_CHARS: usize = 2000;

/// The largest OFREP request body: a context within `ContextLimits` (64 KiB
/// of names and strings, 256 attributes) is far smaller even with every
/// character escaped, and a larger body is refused (413) before it is parsed.
pub const CONTEXT_BODY_BYTES: usize = 1024 * 1024;

/// A segment's or cohort's key: one or more of A-Z a-z 0-9 - _ . (`what`
/// names the kind in the message, e.g. "a segment").
pub fn check_key_shape(field: &str, key: &str, what: &str) -> ApiResult<()> {
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ApiError::invalid(
            field,
            format!("{what} key is one or more of A-Z a-z 0-9 - _ ."),
        ));
    }
    Ok(())
}

/// A 400 naming `field` when `value` has more than `max` characters.
pub fn check_length(field: &str, value: &str, max: usize) -> ApiResult<()> {
    // A string of at most `max` bytes has at most `max` characters.
    if value.len() <= max || value.chars().count() <= max {
        return Ok(());
    }
    Err(ApiError::invalid(field, format!("at most {max} characters")))
}

/// A client's context refused by the reader (`daylight::ContextLimits`): a
/// 400 naming `context.<attribute>`, or `context` for the whole.
pub fn context_error(e: daylight::ContextError) -> ApiError {
    let field = match e.attribute() {
        Some(attribute) => format!("context.{attribute}"),
        None => "context".to_owned(),
    };
    ApiError::invalid(field, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(check_length("name", &"é".repeat(NAME_CHARS), NAME_CHARS).is_ok());
        let err = check_length("name", &"e".repeat(NAME_CHARS + 1), NAME_CHARS).unwrap_err();
        assert!(matches!(err, ApiError::Invalid { field: Some(ref f), .. } if f == "name"));
    }

    #[test]
    fn streams_per_key_are_counted_until_dropped() {
        let counts = StreamCounts::new(2);
        let a = counts.acquire(1).unwrap();
        let _b = counts.acquire(1).unwrap();
        assert!(counts.acquire(1).is_none());
        assert!(counts.acquire(2).is_some(), "keys have separate limits");
        drop(a);
        assert!(counts.acquire(1).is_some());
        let unlimited = StreamCounts::new(0);
        let held: Vec<_> = (0..100).map(|_| unlimited.acquire(1).unwrap()).collect();
        assert_eq!(held.len(), 100);
    }

    #[test]
    fn origins_match_exactly_ignoring_case() {
        let origins = Origins::new(&["https://App.example.com/".into(), "http://localhost:3000".into()]);
        assert!(origins.allows(b"https://app.example.com"));
        assert!(origins.allows(b"http://localhost:3000"));
        assert!(!origins.allows(b"https://app.example.com.evil.net"));
        assert!(!origins.allows(b"http://localhost:3001"));
        assert!(!origins.allows_any());
        assert!(Origins::new(&[]).allows(b"https://anything"));
        assert!(Origins::new(&["*".into()]).allows_any());
    }

    #[test]
    fn event_names_are_capped_per_key_and_per_flag() {
        let limits = UsageLimits::new(0, 3, 2);
        let mut entries = vec![("a", "f"), ("b", "f"), ("c", "f"), ("a", "g"), ("c", "g"), ("d", "g")];
        // f takes a and b (c is over f's two); g takes a, then c (the key's
        // third); d is over the key's three.
        assert_eq!(limits.admit_events(1, "prod", &mut entries, |e| (e.0, e.1)), 2);
        assert_eq!(entries, vec![("a", "f"), ("b", "f"), ("a", "g"), ("c", "g")]);
        // Known names keep fitting; another key has its own budget but
        // shares the flag's.
        let mut again = vec![("a", "f"), ("b", "f"), ("c", "g")];
        assert_eq!(limits.admit_events(1, "prod", &mut again, |e| (e.0, e.1)), 0);
        let mut other = vec![("x", "f"), ("x", "h")];
        assert_eq!(limits.admit_events(2, "prod", &mut other, |e| (e.0, e.1)), 1);
        assert_eq!(other, vec![("x", "h")]);
        // Other environments have their own flags.
        let mut staging = vec![("z", "f")];
        assert_eq!(limits.admit_events(3, "staging", &mut staging, |e| (e.0, e.1)), 0);
        assert!(UsageLimits::new(1, 0, 0).check_report(1).is_ok());
    }

    #[test]
    fn a_key_over_its_budget_is_told_when_to_retry_and_refills() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limits = RateLimits::with_clock(2, clock.clone());
        // A burst of one second's worth, then a wait for the next slot.
        assert!(limits.check(1).is_ok());
        assert!(limits.check(1).is_ok());
        assert_eq!(limits.check(1), Err(Duration::from_millis(500)));
        assert!(limits.check(2).is_ok(), "keys have separate budgets");
        clock.advance(Duration::from_millis(200));
        assert_eq!(limits.check(1), Err(Duration::from_millis(300)), "still waiting");
        // One slot refills every 1/rate seconds.
        clock.advance(Duration::from_millis(300));
        assert!(limits.check(1).is_ok(), "refilled after the wait");
        assert!(limits.check(1).is_err(), "one slot, not the whole burst");
        clock.advance(Duration::from_secs(1));
        assert!(limits.check(1).is_ok());
        assert!(limits.check(1).is_ok());
        assert!(limits.check(1).is_err(), "the budget refills to the burst, no more");
        assert!(RateLimits::new(0).check(1).is_ok());
    }

    #[test]
    fn wrong_credentials_are_throttled_per_address_and_forgiven_over_time() {
        let failures = AuthFailures::new(60);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let start = Instant::now();
        for _ in 0..59 {
            failures.failed(a, start);
        }
        assert!(failures.check(a, start).is_ok(), "59 of 60");
        failures.failed(a, start);
        assert_eq!(
            failures.check(a, start),
            Err(Duration::from_secs(1)),
            "60 of 60: one forgiven per second"
        );
        assert!(failures.check(b, start).is_ok(), "addresses have separate budgets");
        assert!(failures.check(a, start + Duration::from_millis(500)).is_err());
        assert!(failures.check(a, start + Duration::from_secs(1)).is_ok());
        // All forgiven after a minute.
        let later = start + Duration::from_secs(60);
        for _ in 0..59 {
            failures.failed(a, later);
        }
        assert!(failures.check(a, later).is_ok());
        let off = AuthFailures::new(0);
        off.failed(a, start);
        assert!(off.check(a, start).is_ok());
    }
}
