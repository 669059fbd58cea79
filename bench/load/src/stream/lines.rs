//! What worker processes print (`READY`, `ALL`, `DATA`, `END`) and the
//! figures the report makes of their times.

use serde_json::{json, Value};

use crate::util::pct;

pub(super) enum Line {
    Ready(Value),
    All(usize),
    /// Worker, change, receipt times in the worker's connection order.
    Data(usize, usize, Vec<u64>),
    End(Value),
    Closed(usize),
}

pub(super) fn parse_line(worker: usize, line: &str) -> Option<Line> {
    let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
    match tag {
        "READY" => Some(Line::Ready(serde_json::from_str(rest).ok()?)),
        "ALL" => Some(Line::All(rest.trim().parse().ok()?)),
        "DATA" => {
            let mut it = rest.split(' ');
            let k = it.next()?.parse().ok()?;
            Some(Line::Data(worker, k, it.filter_map(|t| t.parse().ok()).collect()))
        }
        "END" => Some(Line::End(serde_json::from_str(rest).unwrap_or(Value::Null))),
        _ => None,
    }
}

pub(super) struct Stats {
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
}

pub(super) fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    Stats {
        p50: pct(&v, 50.0),
        p99: pct(&v, 99.0),
        max: v.last().copied().unwrap_or(f64::NAN),
    }
}

pub(super) fn r1(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 100.0).round() / 100.0)
    } else {
        Value::Null
    }
}
