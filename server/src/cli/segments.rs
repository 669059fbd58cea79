//! `daylight segments`: cohorts of one environment, and uploading their keys.

use clap::Subcommand;

use super::client::Client;
use super::output::{table, Reply};
use crate::http::segments::{CreateSegment, KeysReplaced, SegmentList};
use crate::store::segments::StoredSegment;

#[derive(Debug, Subcommand)]
pub enum SegmentCmd {
    List {
        #[arg(long)]
        env: String,
    },
    Get {
        key: String,
        #[arg(long)]
        env: String,
    },
    Create {
        key: String,
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Replaces the included keys with a file of keys, one per line.
    Upload {
        key: String,
        file: std::path::PathBuf,
        #[arg(long)]
        env: String,
    },
}

pub async fn run(c: &Client, cmd: SegmentCmd) -> Result<Reply, String> {
    match cmd {
        SegmentCmd::List { env } => {
            let answer = c.get(&format!("/api/v1/environments/{env}/segments")).send().await?;
            Ok(Reply::new(answer, |list: SegmentList| {
                table(
                    ["KEY", "NAME", "INCLUDED", "EXCLUDED", "RULES", "VERSION", "IN USE"],
                    list.segments.into_iter().map(|s| {
                        let summary = s.summary;
                        [
                            summary.key,
                            summary.name,
                            summary.included_count.to_string(),
                            summary.excluded_count.to_string(),
                            summary.rule_count.to_string(),
                            summary.version.to_string(),
                            if s.in_use { "yes" } else { "no" }.to_owned(),
                        ]
                    }),
                )
            }))
        }
        SegmentCmd::Get { key, env } => Ok(Reply::record::<StoredSegment>(
            c.get(&format!("/api/v1/environments/{env}/segments/{key}"))
                .send()
                .await?,
        )),
        SegmentCmd::Create { key, env, name } => {
            let body = CreateSegment {
                key,
                name,
                description: String::new(),
                included: Vec::new(),
                excluded: Vec::new(),
                rules: Vec::new(),
            };
            let answer = c
                .post(&format!("/api/v1/environments/{env}/segments"))
                .json(&body)
                .send()
                .await?;
            Ok(Reply::record::<StoredSegment>(answer))
        }
        SegmentCmd::Upload { key, file, env } => {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let keys: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let answer = c
                .put(&format!("/api/v1/environments/{env}/segments/{key}/included"))
                .json(&keys)
                .send()
                .await?;
            Ok(Reply::record::<KeysReplaced>(answer))
        }
    }
}
