//! Ships the evaluation counts PHP spools (`Daylight\Usage\UsageSpool`:
//! one usage report per line in `DIR/usage.jsonl`) to `POST /sdk/v1/usage`.
//!
//! Each round renames `usage.jsonl` aside and sends the files renamed in the
//! round before: a PHP request that opened the old name just before the
//! rename has long finished its one-line append by then. A file is deleted
//! once the server accepted it, so counts survive an outage and a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use tracing::{debug, warn};

const SPOOL: &str = "usage.jsonl";
const ASIDE: &str = ".sending";
/// The server's limit on entries per report.
const MAX_ENTRIES: usize = 10_000;

#[derive(Deserialize)]
struct Report {
    #[serde(default)]
    evaluations: Vec<Evaluation>,
}

#[derive(Deserialize)]
struct Evaluation {
    flag: String,
    variation: u64,
    count: u64,
}

pub struct Shipper {
    dir: PathBuf,
    endpoint: String,
    key: String,
    http: reqwest::Client,
}

impl Shipper {
    pub fn new(dir: PathBuf, base_url: &str, key: &str) -> Shipper {
        Shipper {
            dir,
            endpoint: format!("{}/sdk/v1/usage", base_url.trim_end_matches('/')),
            key: key.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Ships a round every `interval`, forever.
    pub async fn run(self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        loop {
            ticks.tick().await;
            self.round().await;
        }
    }

    /// Sends what was set aside last round, then sets the spool aside.
    pub async fn round(&self) {
        let mut aside = match self.aside_files() {
            Ok(files) => files,
            Err(e) => return warn!(dir = %self.dir.display(), error = %e, "cannot read the usage spool"),
        };
        aside.sort();
        if !aside.is_empty() {
            self.send(&aside).await;
        }
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let spool = self.dir.join(SPOOL);
        match std::fs::rename(&spool, self.dir.join(format!("usage-{stamp}{ASIDE}"))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!(file = %spool.display(), error = %e, "cannot set the usage spool aside"),
        }
    }

    fn aside_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(ASIDE)) {
                files.push(path);
            }
        }
        Ok(files)
    }

    async fn send(&self, files: &[PathBuf]) {
        let counts = sum(files);
        let entries: Vec<_> = counts
            .into_iter()
            .map(|((flag, variation), count)| json!({ "flag": flag, "variation": variation, "count": count }))
            .collect();
        for chunk in entries.chunks(MAX_ENTRIES) {
            let sent = self
                .http
                .post(&self.endpoint)
                .bearer_auth(&self.key)
                .json(&json!({ "evaluations": chunk }))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            if let Err(e) = sent {
                // Kept for the next round (a chunk already accepted may be
                // counted twice; rare, and only after a partial failure).
                return warn!(error = %e, "cannot send usage counts: retrying next round");
            }
        }
        debug!(entries = entries.len(), "sent usage counts");
        for file in files {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// The counts of every line of `files`, summed per (flag, variation).
/// Unreadable lines (a torn write, a foreign file) are skipped.
fn sum(files: &[PathBuf]) -> BTreeMap<(String, u64), u64> {
    let mut counts = BTreeMap::new();
    for file in files {
        let text = read(file);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Report>(line) {
                Ok(report) => {
                    for e in report.evaluations.into_iter().filter(|e| e.count > 0) {
                        *counts.entry((e.flag, e.variation)).or_insert(0) += e.count;
                    }
                }
                Err(e) => warn!(file = %file.display(), error = %e, "skipping an unreadable usage line"),
            }
        }
    }
    counts
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_summed_per_flag_and_variation() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("usage-1.sending");
        let b = dir.path().join("usage-2.sending");
        std::fs::write(
            &a,
            "{\"evaluations\":[{\"flag\":\"x\",\"variation\":1,\"count\":2}]}\n{\"evaluations\":[{\"flag\":\"x\",\"variation\":1,\"count\":3},{\"flag\":\"y\",\"variation\":0,\"count\":1}]}\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "{\"evaluations\":[{\"flag\":\"x\",\"variation\":0,\"count\":4}]}\n{\"evalu",
        )
        .unwrap();
        let counts = sum(&[a, b]);
        let expected: BTreeMap<(String, u64), u64> = [
            (("x".to_owned(), 0), 4),
            (("x".to_owned(), 1), 5),
            (("y".to_owned(), 0), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(counts, expected);
    }
}
