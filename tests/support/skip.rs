//! Skipping a Rust test (or part of one) whose service is missing: the one
//! helper every Rust suite uses, included with `#[path]` by
//! `server/tests/api/harness/mod.rs` and `tests/chaos/tests/chaos.rs`.
//!
//! A skipped test still ends `ok` in cargo's output, so a skip is never only
//! a message: it fails under `DAYLIGHT_REQUIRE_SERVICES=1` (CI), and
//! otherwise is appended to the file `DAYLIGHT_SKIP_LOG` names, which
//! `scripts/test.sh` counts and lists in its summary.

use std::io::Write;

/// Records that the running test skips (all or, when `reason` says so, part
/// of it) because of `reason`; panics instead under
/// `DAYLIGHT_REQUIRE_SERVICES=1`. The test's name is its thread's (libtest
/// names each test's thread after it).
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = format!("{}::{}", env!("CARGO_CRATE_NAME"), thread.name().unwrap_or("?"));
    assert!(
        std::env::var("DAYLIGHT_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{test} cannot run: {reason}; under DAYLIGHT_REQUIRE_SERVICES=1 a skip is a failure"
    );
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(path) = std::env::var_os("DAYLIGHT_SKIP_LOG") {
        // One write of one line in append mode: lines from tests running in
        // parallel (threads or processes) do not interleave.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut log| log.write_all(format!("{test}: {reason}\n").as_bytes()))
            .unwrap_or_else(|e| panic!("cannot append to DAYLIGHT_SKIP_LOG {}: {e}", path.display()));
    }
}
