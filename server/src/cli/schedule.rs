//! `daylight schedule`: turning a flag on or off at a given time.

use clap::Subcommand;

use super::client::Client;
use super::output::{table, time, Reply};
use crate::http::releases::{Filter, ScheduleRequest, ScheduledChangeList};
use crate::store::schedule::{Change, ScheduledChange};

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// Schedules turning a flag on or off at a time (RFC 3339).
    Create {
        flag: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        at: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    List {
        #[arg(long)]
        flag: Option<String>,
        #[arg(long)]
        env: Option<String>,
    },
    Cancel {
        id: i64,
    },
}

pub async fn run(c: &Client, cmd: ScheduleCmd) -> Result<Reply, String> {
    match cmd {
        ScheduleCmd::Create {
            flag,
            state,
            env,
            at,
            comment,
        } => {
            let body = ScheduleRequest {
                at,
                change: Change {
                    on: Some(state == "on"),
                    config: None,
                },
            };
            let answer = c
                .post(&format!("/api/v1/flags/{flag}/environments/{env}/scheduled-changes"))
                .comment(&comment)
                .json(&body)
                .send()
                .await?;
            Ok(Reply::record::<ScheduledChange>(answer))
        }
        ScheduleCmd::List { flag, env } => {
            let filter = Filter {
                flag,
                environment: env,
                state: None,
            };
            let answer = c.get("/api/v1/scheduled-changes").query(&filter).send().await?;
            Ok(Reply::new(answer, |list: ScheduledChangeList| {
                table(
                    ["ID", "FLAG", "ENVIRONMENT", "AT", "CHANGE", "STATE"],
                    list.changes.into_iter().map(|c| {
                        [
                            c.id.to_string(),
                            c.flag_key,
                            c.environment,
                            time(c.at),
                            describe(&c.change),
                            c.state,
                        ]
                    }),
                )
            }))
        }
        ScheduleCmd::Cancel { id } => Ok(Reply::record::<ScheduledChange>(
            c.delete(&format!("/api/v1/scheduled-changes/{id}")).send().await?,
        )),
    }
}

/// `on`, `off`, or `config` for a replaced config.
fn describe(change: &Change) -> String {
    match change.on {
        Some(true) => "on",
        Some(false) => "off",
        None => "config",
    }
    .to_owned()
}
