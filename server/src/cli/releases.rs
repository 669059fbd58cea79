//! `daylight releases` (alias `rollouts`): staged rollouts the server
//! advances on schedule, and the commands people give a running plan.

use clap::Subcommand;
use serde_json::Value;

use super::client::Client;
use super::output::{maybe_time, table, Reply};
use crate::http::releases::{PlanCommand, PlanFilter, PlanList};
use crate::releases::plan::{Guard, GuardAction, PlanSpec, Stage};
use crate::store::releases::ReleasePlan;

#[derive(Debug, Subcommand)]
pub enum ReleaseCmd {
    /// Creates a plan (pending until `start`), e.g.
    /// `releases create new-lobby --env production --stages 1,5,25,100 --hold 1h`.
    Create {
        flag: String,
        #[arg(long)]
        env: String,
        /// Percentages served the new variation, stage by stage.
        #[arg(long, value_delimiter = ',', required = true)]
        stages: Vec<f64>,
        /// How long each stage lasts (`90s`, `30m`, `2h`, `1d`); without it
        /// each stage waits for `skip`.
        #[arg(long)]
        hold: Option<String>,
        /// The variation being released.
        #[arg(long, default_value_t = 1)]
        variation: usize,
        /// The variation it replaces (default: what the fallthrough serves).
        #[arg(long)]
        from_variation: Option<usize>,
        #[arg(long)]
        bucket_by: Option<String>,
        /// Guard: the app-reported event to watch, e.g. `checkout_error`.
        #[arg(long)]
        guard_event: Option<String>,
        /// Guard: trip above this rate of events per evaluation.
        #[arg(long)]
        guard_max_rate: Option<f64>,
        /// Guard: trip when the new variation's rate is this many times the old one's.
        #[arg(long)]
        guard_max_ratio: Option<f64>,
        #[arg(long, value_parser = ["pause", "rollback"], default_value = "rollback")]
        guard_action: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    List {
        #[arg(long)]
        flag: Option<String>,
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        state: Option<String>,
        /// Only plans older than this id (the next page).
        #[arg(long)]
        before_id: Option<i64>,
        /// At most this many (1 to 500; 500 when not given).
        #[arg(long)]
        limit: Option<i64>,
    },
    Get {
        id: i64,
    },
    /// start | pause | resume | skip | rollback
    #[command(external_subcommand)]
    Act(Vec<String>),
}

pub async fn run(c: &Client, cmd: ReleaseCmd) -> Result<Reply, String> {
    match cmd {
        ReleaseCmd::Create {
            flag,
            env,
            stages,
            hold,
            variation,
            from_variation,
            bucket_by,
            guard_event,
            guard_max_rate,
            guard_max_ratio,
            guard_action,
            comment,
        } => {
            let hold_seconds = hold.as_deref().map(parse_duration).transpose()?;
            let stages = stages
                .iter()
                .map(|p| {
                    if !(0.0..=100.0).contains(p) {
                        return Err(format!("stage {p}%: percentages are 0..=100"));
                    }
                    Ok(Stage {
                        weight: Some((p * 1000.0).round() as u32),
                        segment: None,
                        hold_seconds,
                        start_at: None,
                    })
                })
                .collect::<Result<_, _>>()?;
            let guard = guard_event.map(|event| Guard {
                max_rate: guard_max_rate,
                max_ratio: guard_max_ratio,
                action: match guard_action.as_str() {
                    "pause" => GuardAction::Pause,
                    _ => GuardAction::Rollback,
                },
                ..Guard::new(event)
            });
            let spec = PlanSpec {
                variation,
                from_variation,
                bucket_by,
                salt: None,
                stages,
                guard,
            };
            let answer = c
                .post(&format!("/api/v1/flags/{flag}/environments/{env}/releases"))
                .comment(&comment)
                .json(&spec)
                .send()
                .await?;
            Ok(Reply::record::<ReleasePlan>(answer))
        }
        ReleaseCmd::List {
            flag,
            env,
            state,
            before_id,
            limit,
        } => {
            let filter = PlanFilter {
                flag,
                environment: env,
                state,
                before_id,
                limit,
            };
            let answer = c.get("/api/v1/releases").query(&filter).send().await?;
            Ok(Reply::new(answer, |list: PlanList| {
                let more = list
                    .next_before_id
                    .map(|id| format!("\nolder plans: --before-id {id}"))
                    .unwrap_or_default();
                let rows = table(
                    ["ID", "FLAG", "ENVIRONMENT", "STATE", "STAGE", "NEXT"],
                    list.plans.into_iter().map(|p| {
                        let stage = p
                            .progress
                            .stage
                            .map_or("-".to_owned(), |s| format!("{} of {}", s + 1, p.spec.stages.len()));
                        [
                            p.id.to_string(),
                            p.flag_key,
                            p.environment,
                            p.progress.state.as_str().to_owned(),
                            stage,
                            maybe_time(p.progress.next_at),
                        ]
                    }),
                );
                rows + &more
            }))
        }
        ReleaseCmd::Get { id } => Ok(Reply::record::<ReleasePlan>(
            c.get(&format!("/api/v1/releases/{id}")).send().await?,
        )),
        ReleaseCmd::Act(args) => {
            let (command, id, comment) = parse_act(&args)?;
            let answer = c
                .post(&format!("/api/v1/releases/{id}/{command}"))
                .comment(&comment)
                .send()
                .await?;
            Ok(Reply::record::<ReleasePlan>(answer))
        }
    }
}

/// `COMMAND ID [--comment TEXT]` to the command's path segment, the plan id
/// and the comment.
fn parse_act(args: &[String]) -> Result<(&str, i64, String), String> {
    let usage = "usage: releases (start|pause|resume|skip|rollback) ID [--comment TEXT]";
    let (command, id) = match args {
        [command, id, ..] => (command.as_str(), id),
        _ => return Err(usage.into()),
    };
    // The API's own list of commands.
    if serde_json::from_value::<PlanCommand>(Value::String(command.to_owned())).is_err() {
        return Err(format!("unknown command `{command}`; {usage}"));
    }
    let id: i64 = id.parse().map_err(|_| format!("`{id}` is not a plan id; {usage}"))?;
    let comment = match &args[2..] {
        [] => String::new(),
        [flag, text] if flag == "--comment" => text.clone(),
        _ => return Err(usage.into()),
    };
    Ok((command, id, comment))
}

/// `90s`, `30m`, `2h`, `1d` (or plain seconds) to seconds.
fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 30m, 2h, 1d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: use s, m, h or d")),
    };
    Ok(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_or_none() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("1d"), Ok(86_400));
        assert_eq!(parse_duration("15"), Ok(15));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn plan_commands_are_the_apis() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_act(&args(&["rollback", "3", "--comment", "bad"])),
            Ok(("rollback", 3, "bad".to_owned()))
        );
        assert!(parse_act(&args(&["jump", "3"]))
            .unwrap_err()
            .starts_with("unknown command `jump`"));
        assert!(parse_act(&args(&["start", "x"]))
            .unwrap_err()
            .starts_with("`x` is not a plan id"));
        assert!(parse_act(&args(&["start", "1", "--bogus"]))
            .unwrap_err()
            .starts_with("usage:"));
    }
}
