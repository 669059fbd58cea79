//! One change-log row, the unit that store writes, `live` applies and
//! streams send.

use serde::Serialize;

/// One change-log row: the new state of one flag or segment in one
/// environment (`doc` is `None` when it was removed).
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub environment: String,
    pub version: i64,
    pub kind: String,
    pub key: String,
    pub doc: Option<serde_json::Value>,
    /// When the writer committed it (ms since the epoch); for receipts.
    #[serde(skip)]
    pub committed_at_ms: i64,
}
