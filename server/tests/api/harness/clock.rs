//! Time for tests that drive the scheduler: a server on a manual clock,
//! and times as the API takes them.

use std::sync::Arc;

use daylight_server::clock::{Clock, ManualClock};

use super::{spawn_app_clocked, Backend, TestApp};

pub const HOUR: i64 = 3_600_000;

/// Where the clock of [`clocked`] starts, in milliseconds since the epoch.
pub const CLOCK_START: i64 = 1_800_000_000_000;

/// A server on `backend` whose scheduler reads the returned clock (at
/// [`CLOCK_START`], moved by the test) and runs only when the test ticks it
/// ([`spawn_app_clocked`]).
pub async fn clocked(backend: Backend) -> (Arc<ManualClock>, TestApp) {
    let clock = Arc::new(ManualClock::new(CLOCK_START));
    let app = spawn_app_clocked(backend, Some(clock.clone() as Arc<dyn Clock>)).await;
    (clock, app)
}

/// A time in milliseconds since the epoch as RFC 3339, as the API takes it.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}
