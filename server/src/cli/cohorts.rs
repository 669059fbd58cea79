//! `daylight cohorts`: named cohorts (`docs/cohorts.md`): their share per
//! environment, what references them, and raising a share (which moves
//! every referencing flag rollout and bundle canary at once).

use std::collections::BTreeMap;

use clap::Subcommand;

use super::client::Client;
use super::output::{table, Reply};
use crate::cohorts::{Cohort, Reference};
use crate::http::cohorts::{CohortItem, CohortList, CreateCohort, SetWeight};
use crate::writes::cohorts::Moved;

#[derive(Debug, Subcommand)]
pub enum CohortCmd {
    /// Every cohort, its share per environment and what references it.
    List,
    Get {
        key: String,
    },
    Create {
        key: String,
        #[arg(long, default_value = "")]
        name: String,
        /// The hash salt (default `cohort.KEY`).
        #[arg(long)]
        salt: Option<String>,
        /// The attribute bucketed (default `key`).
        #[arg(long)]
        bucket_by: Option<String>,
    },
    /// Sets the share of a cohort in one environment (0 to 100 percent):
    /// every flag rollout and bundle canary that references it moves with it.
    Set {
        key: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        percent: f64,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Deletes a cohort nothing references.
    Delete {
        key: String,
    },
}

fn percent(thousandths: u32) -> String {
    format!("{}%", f64::from(thousandths) / 1000.0)
}

fn shares(weights: &BTreeMap<String, u32>) -> String {
    weights
        .iter()
        .map(|(env, w)| format!("{env}={}", percent(*w)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn places(references: &[Reference]) -> String {
    references
        .iter()
        .map(|r| format!("{} {} ({}, {})", r.kind, r.key, r.environment, r.at))
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn run(c: &Client, cmd: CohortCmd) -> Result<Reply, String> {
    match cmd {
        CohortCmd::List => {
            let answer = c.get("/api/v1/cohorts").send().await?;
            Ok(Reply::new(answer, |list: CohortList| {
                table(
                    ["KEY", "SALT", "BUCKET BY", "SHARE", "REFERENCED BY"],
                    list.cohorts.into_iter().map(|item| {
                        [
                            item.cohort.key.clone(),
                            item.cohort.salt.clone(),
                            item.cohort.bucket_by.clone(),
                            shares(&item.cohort.weights),
                            places(&item.references),
                        ]
                    }),
                )
            }))
        }
        CohortCmd::Get { key } => Ok(Reply::record::<CohortItem>(
            c.get(&format!("/api/v1/cohorts/{key}")).send().await?,
        )),
        CohortCmd::Create {
            key,
            name,
            salt,
            bucket_by,
        } => {
            let body = CreateCohort {
                key,
                name,
                description: String::new(),
                salt,
                bucket_by,
                weights: BTreeMap::new(),
            };
            Ok(Reply::record::<Cohort>(
                c.post("/api/v1/cohorts").json(&body).send().await?,
            ))
        }
        CohortCmd::Set {
            key,
            env,
            percent: share,
            comment,
        } => {
            if !(0.0..=100.0).contains(&share) {
                return Err("--percent is between 0 and 100".into());
            }
            let body = SetWeight {
                weight: (share * 1000.0).round() as u32,
            };
            let answer = c
                .put(&format!("/api/v1/cohorts/{key}/environments/{env}"))
                .comment(&comment)
                .json(&body)
                .send()
                .await?;
            Ok(Reply::new(answer, |moved: Moved| {
                format!(
                    "cohort {} at {} in {env}; moved: {}",
                    moved.cohort.key,
                    percent(moved.cohort.weight(&env)),
                    if moved.moved.is_empty() {
                        "nothing references it there".to_owned()
                    } else {
                        places(&moved.moved)
                    }
                )
            }))
        }
        CohortCmd::Delete { key } => Ok(Reply::done(c.delete(&format!("/api/v1/cohorts/{key}")).send().await?)),
    }
}
