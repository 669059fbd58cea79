//! Propagation receipts: per change, how many SDK connections this node had
//! when the change reached them, how many said they applied it, and how long
//! that took from the commit (`docs/protocol.md`, "Receipts").
//!
//! Memory only: `live` makes a [`Receipt`] per applied change, each stream
//! counts itself into it, and `store::receipts` writes this node's figures
//! for the admin API to add up across nodes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// How many recent changes a node keeps figures for (older receipts stop
/// counting acknowledgements; their last figures stay in the database).
const RECENT: usize = 1024;
/// Latencies are kept to three significant digits, up to an hour.
const MAX_MS: u64 = 3_600_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MS, 3).expect("static bounds are valid")
}

/// One change's figures on this node.
pub struct Receipt {
    pub environment: String,
    pub version: u64,
    /// When the writer committed the change (ms since the epoch, from the
    /// change log).
    pub committed_at_ms: i64,
    /// Streams of the environment the change reached.
    connected: AtomicU32,
    /// Of those, the streams whose SDK sends receipts.
    expecting: AtomicU32,
    acknowledged: AtomicU32,
    latencies: Mutex<Histogram<u64>>,
    /// Changed since the last flush.
    dirty: AtomicBool,
}

impl Receipt {
    pub fn new(environment: &str, version: u64, committed_at_ms: i64) -> Receipt {
        Receipt {
            environment: environment.to_owned(),
            version,
            committed_at_ms,
            connected: AtomicU32::new(0),
            expecting: AtomicU32::new(0),
            acknowledged: AtomicU32::new(0),
            latencies: Mutex::new(histogram()),
            dirty: AtomicBool::new(true),
        }
    }

    /// A stream had this change when it was applied; `acks` says whether
    /// its SDK will send a receipt.
    pub fn reached(&self, acks: bool) {
        self.connected.fetch_add(1, Ordering::Relaxed);
        if acks {
            self.expecting.fetch_add(1, Ordering::Relaxed);
        }
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// A stream's SDK acknowledged the change at `now_ms`.
    pub fn acknowledged(&self, now_ms: i64) {
        let took = (now_ms - self.committed_at_ms).clamp(1, MAX_MS as i64) as u64;
        self.acknowledged.fetch_add(1, Ordering::Relaxed);
        self.latencies.lock().expect("never poisoned").saturating_record(took);
        self.dirty.store(true, Ordering::Relaxed);
        metrics::histogram!("daylight_change_receipt_seconds").record(took as f64 / 1000.0);
    }

    /// This node's figures, for the database.
    pub fn figures(&self) -> Figures {
        let latencies = self.latencies.lock().expect("never poisoned");
        Figures {
            connected: self.connected.load(Ordering::Relaxed),
            expecting: self.expecting.load(Ordering::Relaxed),
            acknowledged: self.acknowledged.load(Ordering::Relaxed),
            latencies: latencies
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        }
    }
}

/// One node's figures for one change, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    pub connected: u32,
    pub expecting: u32,
    pub acknowledged: u32,
    /// (milliseconds, how many receipts took that long).
    pub latencies: Vec<(u64, u64)>,
}

/// A change's figures added up across nodes: what the admin API answers.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Summary {
    pub environment: String,
    pub version: u64,
    /// When the change was committed (ms since the epoch).
    pub committed_at_ms: i64,
    /// SDK connections (app servers and pages) the change reached.
    pub connected: u32,
    /// Of those, how many said they applied it.
    pub acknowledged: u32,
    /// Connections whose SDK sends receipts and has not acknowledged yet.
    pub not_yet: u32,
    /// Connections whose SDK sends no receipts (older SDKs).
    pub unknown: u32,
    /// Time from commit to acknowledgement, in ms (absent before the first).
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

impl Summary {
    /// Adds up the figures of every node for one change.
    pub fn of(environment: &str, version: u64, committed_at_ms: i64, nodes: &[Figures]) -> Summary {
        let mut all = histogram();
        let (mut connected, mut expecting, mut acknowledged) = (0, 0, 0);
        for node in nodes {
            connected += node.connected;
            expecting += node.expecting;
            acknowledged += node.acknowledged;
            for &(ms, count) in &node.latencies {
                let _ = all.record_n(ms.clamp(1, MAX_MS), count);
            }
        }
        let seen = !all.is_empty();
        Summary {
            environment: environment.to_owned(),
            version,
            committed_at_ms,
            connected,
            acknowledged,
            not_yet: expecting.saturating_sub(acknowledged),
            unknown: connected.saturating_sub(expecting),
            p50_ms: seen.then(|| all.value_at_quantile(0.5)),
            p99_ms: seen.then(|| all.value_at_quantile(0.99)),
            max_ms: seen.then(|| all.max()),
        }
    }
}

/// The receipts of this node's recent changes.
#[derive(Default)]
pub struct Receipts {
    recent: Mutex<VecDeque<Arc<Receipt>>>,
}

impl Receipts {
    pub fn track(&self, receipt: Arc<Receipt>) {
        let mut recent = self.recent.lock().expect("never poisoned");
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(receipt);
    }

    /// The receipts that changed since the last call.
    pub fn take_dirty(&self) -> Vec<Arc<Receipt>> {
        let recent = self.recent.lock().expect("never poisoned");
        recent
            .iter()
            .filter(|r| r.dirty.swap(false, Ordering::Relaxed))
            .cloned()
            .collect()
    }

    /// Marks receipts to be written again (a flush failed).
    pub fn retry(&self, receipts: &[Arc<Receipt>]) {
        for r in receipts {
            r.dirty.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_add_up_across_nodes() {
        let a = Receipt::new("production", 4, 1_000);
        a.reached(true);
        a.reached(true);
        a.reached(false);
        a.acknowledged(1_010);
        let b = Receipt::new("production", 4, 1_000);
        b.reached(true);
        b.acknowledged(1_200);
        let summary = Summary::of("production", 4, 1_000, &[a.figures(), b.figures()]);
        assert_eq!(summary.connected, 4);
        assert_eq!(summary.acknowledged, 2);
        assert_eq!(summary.not_yet, 1);
        assert_eq!(summary.unknown, 1);
        assert_eq!(summary.p50_ms, Some(10));
        assert_eq!(summary.max_ms, Some(200));
    }

    #[test]
    fn only_changed_receipts_are_flushed_again() {
        let receipts = Receipts::default();
        let r = Arc::new(Receipt::new("e", 1, 0));
        receipts.track(r.clone());
        assert_eq!(receipts.take_dirty().len(), 1);
        assert!(receipts.take_dirty().is_empty());
        r.reached(false);
        assert_eq!(receipts.take_dirty().len(), 1);
    }
}
