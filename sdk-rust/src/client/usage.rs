//! Usage counts the client reports to the server: evaluations per flag and
//! variation, and app events (`Client::track`) tagged with the variation
//! the context is served. Counts accumulate in memory and the network task
//! sends them as `usage` messages every interval (and when the client
//! closes); while disconnected they wait for the next connection.
//!
//! Memory is bounded: one counter per (flag, variation) evaluated (flags
//! come from the server's ruleset, so their number is the server's), and at
//! most [`MAX_EVENT_ENTRIES`] distinct (event, flag, variation) between two
//! reports; events beyond that are dropped and logged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use serde::Serialize;

/// Distinct (event, flag, variation) entries held between two reports.
pub(crate) const MAX_EVENT_ENTRIES: usize = 10_000;
/// The size a `usage` message stays under (the server reads client
/// messages of up to 64 KiB), and a bound on an entry's bytes besides its
/// strings (field names, numbers, JSON escapes of a short key aside).
const MAX_MESSAGE_BYTES: usize = 48 * 1024;
const ENTRY_OVERHEAD: usize = 80;

#[derive(Default)]
pub(crate) struct Usage {
    /// Flag → one counter per variation index (foldhash: the lookup is on
    /// every evaluation).
    evaluations: RwLock<foldhash::HashMap<Box<str>, Box<[AtomicU64]>>>,
    events: Mutex<Events>,
}

#[derive(Default)]
struct Events {
    counts: HashMap<(Box<str>, Box<str>, usize), u64>,
    dropped: u64,
}

/// One `usage` message.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Report {
    #[serde(rename = "type")]
    kind: &'static str,
    pub evaluations: Vec<EvaluationCount>,
    pub events: Vec<EventCount>,
}

#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct EvaluationCount {
    pub flag: Box<str>,
    pub variation: usize,
    pub count: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct EventCount {
    pub event: Box<str>,
    pub flag: Box<str>,
    pub variation: usize,
    pub count: u64,
}

impl Report {
    fn new() -> Report {
        Report {
            kind: "usage",
            ..Report::default()
        }
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("usage reports always serialise")
    }

    fn is_empty(&self) -> bool {
        self.evaluations.is_empty() && self.events.is_empty()
    }
}

impl Usage {
    /// Counts one evaluation that served `variation` (`None`, an error or
    /// the caller's default, is not counted). After the first evaluation of
    /// a flag this takes a read lock and an atomic add: no allocation.
    pub(crate) fn count(&self, flag: &str, variation: Option<usize>) {
        if let Some(variation) = variation {
            self.add(flag, variation, 1);
        }
    }

    fn add(&self, flag: &str, variation: usize, n: u64) {
        {
            let map = self.evaluations.read().unwrap_or_else(|e| e.into_inner());
            if let Some(counter) = map.get(flag).and_then(|c| c.get(variation)) {
                counter.fetch_add(n, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self.evaluations.write().unwrap_or_else(|e| e.into_inner());
        let counters = map.entry(flag.into()).or_insert_with(|| new_counters(variation + 1));
        if counters.len() <= variation {
            // The flag gained variations: grow, keeping the counts.
            let grown = new_counters(variation + 1);
            for (new, old) in grown.iter().zip(counters.iter()) {
                new.store(old.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            *counters = grown;
        }
        counters[variation].fetch_add(n, Ordering::Relaxed);
    }

    /// The flags evaluated through this client so far.
    pub(crate) fn evaluated_flags(&self) -> Vec<Box<str>> {
        let map = self.evaluations.read().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }

    /// Counts `event` once for each (flag, variation) served.
    pub(crate) fn track<'a>(&self, event: &str, served: impl IntoIterator<Item = (&'a str, usize)>) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        for (flag, variation) in served {
            let key = (Box::<str>::from(event), Box::<str>::from(flag), variation);
            let full = events.counts.len() >= MAX_EVENT_ENTRIES;
            match events.counts.get_mut(&key) {
                Some(count) => *count += 1,
                None if full => events.dropped += 1,
                None => {
                    events.counts.insert(key, 1);
                }
            }
        }
    }

    /// Takes the counts since the last call, as messages under
    /// `MAX_MESSAGE_BYTES` (empty when there is nothing to send).
    pub(crate) fn take(&self) -> Vec<Report> {
        let mut evaluations = Vec::new();
        {
            let map = self.evaluations.read().unwrap_or_else(|e| e.into_inner());
            for (flag, counters) in map.iter() {
                for (variation, counter) in counters.iter().enumerate() {
                    let count = counter.swap(0, Ordering::Relaxed);
                    if count > 0 {
                        evaluations.push(EvaluationCount {
                            flag: flag.clone(),
                            variation,
                            count,
                        });
                    }
                }
            }
        }
        let events: Vec<EventCount> = {
            let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
            if events.dropped > 0 {
                tracing::warn!(
                    dropped = events.dropped,
                    "too many distinct events between two usage reports: some were not counted"
                );
                events.dropped = 0;
            }
            std::mem::take(&mut events.counts)
                .into_iter()
                .map(|((event, flag, variation), count)| EventCount {
                    event,
                    flag,
                    variation,
                    count,
                })
                .collect()
        };
        // Messages stay under the server's limit for client messages (64 KiB).
        let mut reports = Vec::new();
        let mut report = Report::new();
        let mut size = 0;
        for e in evaluations {
            let n = e.flag.len() + ENTRY_OVERHEAD;
            if size + n > MAX_MESSAGE_BYTES {
                reports.push(std::mem::replace(&mut report, Report::new()));
                size = 0;
            }
            size += n;
            report.evaluations.push(e);
        }
        for e in events {
            let n = e.flag.len() + e.event.len() + ENTRY_OVERHEAD;
            if size + n > MAX_MESSAGE_BYTES {
                reports.push(std::mem::replace(&mut report, Report::new()));
                size = 0;
            }
            size += n;
            report.events.push(e);
        }
        if !report.is_empty() {
            reports.push(report);
        }
        reports
    }

    /// Gives back counts that could not be sent, for the next report.
    pub(crate) fn restore(&self, reports: Vec<Report>) {
        for report in reports {
            for e in report.evaluations {
                self.add(&e.flag, e.variation, e.count);
            }
            let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
            for e in report.events {
                *events.counts.entry((e.event, e.flag, e.variation)).or_insert(0) += e.count;
            }
        }
    }
}

fn new_counters(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_drain_and_come_back() {
        let usage = Usage::default();
        for _ in 0..3 {
            usage.count("a", Some(1));
        }
        usage.count("a", Some(0));
        usage.count("a", None);
        usage.count("b", Some(4));
        usage.track("err", [("a", 1), ("b", 4)]);
        usage.track("err", [("a", 1)]);
        let reports = usage.take();
        assert_eq!(reports.len(), 1);
        let mut evals: Vec<_> = reports[0]
            .evaluations
            .iter()
            .map(|e| (e.flag.to_string(), e.variation, e.count))
            .collect();
        evals.sort();
        assert_eq!(evals, [("a".into(), 0, 1), ("a".into(), 1, 3), ("b".into(), 4, 1)]);
        let mut events: Vec<_> = reports[0]
            .events
            .iter()
            .map(|e| (e.flag.to_string(), e.variation, e.count))
            .collect();
        events.sort();
        assert_eq!(events, [("a".into(), 1, 2), ("b".into(), 4, 1)]);
        assert!(usage.take().is_empty(), "taking drains");
        usage.restore(reports);
        let again = usage.take();
        let total: u64 = again[0].evaluations.iter().map(|e| e.count).sum();
        assert_eq!(total, 5);
        assert_eq!(again[0].events.iter().map(|e| e.count).sum::<u64>(), 3);
        assert!(again[0].to_json().starts_with(r#"{"type":"usage","#));
    }

    #[test]
    fn event_entries_are_bounded() {
        let usage = Usage::default();
        for i in 0..MAX_EVENT_ENTRIES + 10 {
            usage.track("e", [("f", i)]);
        }
        let reports = usage.take();
        let n: usize = reports.iter().map(|r| r.events.len()).sum();
        assert_eq!(n, MAX_EVENT_ENTRIES);
        assert!(reports.len() > 1, "sent in chunks");
        assert!(reports.iter().all(|r| r.to_json().len() < 64 * 1024));
    }
}
