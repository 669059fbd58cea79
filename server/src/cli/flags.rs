//! `daylight flags`: list, read and create flags; the kill switch; and two
//! edits of one environment's config (a percentage rollout, a rule).

use clap::Subcommand;
use daylight::model::{Clause, FlagConfig, Op, Rollout, Rule, Serve, WeightedVariation};
use serde_json::Value;

use super::client::{Answer, Client};
use super::output::{table, time, Reply};
use crate::http::flags::{bool_variations, CreateFlag, FlagList, ListQuery, Toggle};
use crate::store::flags::StoredFlag;

#[derive(Debug, Subcommand)]
pub enum FlagCmd {
    List {
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        query: Option<String>,
    },
    Get {
        key: String,
    },
    /// Creates a flag, off in every environment.
    Create {
        key: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Variations as a JSON array (default `[false, true]`).
        #[arg(long)]
        variations: Option<String>,
        /// Browsers (client keys) may see it.
        #[arg(long)]
        client_side: bool,
        /// Who answers for the flag (a person or team).
        #[arg(long)]
        owner: Option<String>,
        /// The date (YYYY-MM-DD) after which the flag should be gone.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Turns a flag on or off in one environment (the kill switch).
    Toggle {
        key: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Serves variation 1 to PERCENT of contexts (the rest get variation 0)
    /// when no rule matches. For a blue-green routing flag, whose new pool
    /// alternates, use `daylight routing release` instead.
    SetRollout {
        key: String,
        percent: f64,
        #[arg(long)]
        env: String,
        #[arg(long)]
        bucket_by: Option<String>,
        #[arg(long)]
        salt: Option<String>,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Adds a rule (or replaces the rule with the same --id).
    SetRule {
        key: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        attribute: String,
        #[arg(long, default_value = "in")]
        op: String,
        /// Comma-separated values (numbers and booleans are read as JSON).
        #[arg(long, value_delimiter = ',')]
        values: Vec<String>,
        #[arg(long)]
        case_insensitive: bool,
        #[arg(long)]
        negate: bool,
        /// The variation the rule serves.
        #[arg(long, default_value_t = 1)]
        serve: usize,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

pub async fn run(c: &Client, cmd: FlagCmd) -> Result<Reply, String> {
    match cmd {
        FlagCmd::List { tag, query } => {
            let filter = ListQuery {
                tag,
                q: query,
                archived: false,
            };
            let answer = c.get("/api/v1/flags").query(&filter).send().await?;
            Ok(Reply::new(answer, |list: FlagList| {
                table(
                    ["KEY", "NAME", "TAGS", "VERSION", "UPDATED"],
                    list.flags.into_iter().map(|f| {
                        [
                            f.flag.key,
                            f.flag.name,
                            f.flag.tags.join(","),
                            f.version.to_string(),
                            time(f.updated_at),
                        ]
                    }),
                )
            }))
        }
        FlagCmd::Get { key } => Ok(Reply::record::<StoredFlag>(
            c.get(&format!("/api/v1/flags/{key}")).send().await?,
        )),
        FlagCmd::Create {
            key,
            name,
            description,
            tags,
            variations,
            client_side,
            owner,
            expires,
        } => {
            let variations = match variations {
                Some(v) => serde_json::from_str(&v).map_err(|e| format!("--variations is not JSON: {e}"))?,
                None => bool_variations(),
            };
            let body = CreateFlag {
                key,
                name,
                description,
                tags,
                variations,
                client_side,
                owner,
                expires,
            };
            let answer = c.post("/api/v1/flags").json(&body).send().await?;
            Ok(Reply::record::<StoredFlag>(answer))
        }
        FlagCmd::Toggle {
            key,
            state,
            env,
            comment,
        } => {
            let body = Toggle {
                on: state == "on",
                comment: Some(comment),
            };
            let answer = c
                .post(&format!("/api/v1/flags/{key}/environments/{env}/toggle"))
                .json(&body)
                .send()
                .await?;
            Ok(Reply::record::<FlagConfig>(answer))
        }
        FlagCmd::SetRollout {
            key,
            percent,
            env,
            bucket_by,
            salt,
            comment,
        } => {
            if !(0.0..=100.0).contains(&percent) {
                return Err("PERCENT must be between 0 and 100".into());
            }
            let on = (percent * 1000.0).round() as u32;
            let answer = edit_config(c, &key, &env, &comment, |config| {
                config.fallthrough = Serve {
                    variation: None,
                    rollout: Some(Rollout {
                        variations: vec![
                            WeightedVariation {
                                variation: 0,
                                weight: 100_000 - on,
                            },
                            WeightedVariation {
                                variation: 1,
                                weight: on,
                            },
                        ],
                        bucket_by,
                        salt,
                        cohort: None,
                        cohort_in: None,
                        cohort_out: None,
                    }),
                };
            })
            .await?;
            Ok(Reply::record::<FlagConfig>(answer))
        }
        FlagCmd::SetRule {
            key,
            env,
            id,
            attribute,
            op,
            values,
            case_insensitive,
            negate,
            serve,
            comment,
        } => {
            // An operator this build does not know goes out as `unknown`; the
            // server refuses it and lists the operators.
            let op: Op = serde_json::from_value(Value::String(op)).unwrap_or(Op::Unknown);
            let rule = Rule {
                id,
                description: String::new(),
                clauses: vec![Clause {
                    attribute,
                    op,
                    values: values.iter().map(|v| parse_value(v)).collect(),
                    negate,
                    case_insensitive,
                }],
                serve: Serve::variation(serve),
            };
            let answer = edit_config(c, &key, &env, &comment, |config| {
                match config.rules.iter_mut().find(|r| r.id == rule.id) {
                    Some(existing) => *existing = rule,
                    None => config.rules.push(rule),
                }
            })
            .await?;
            Ok(Reply::record::<FlagConfig>(answer))
        }
    }
}

/// Read-modify-write of one environment's config, guarded by If-Match so a
/// concurrent edit fails instead of being overwritten.
async fn edit_config(
    c: &Client,
    key: &str,
    env: &str,
    comment: &str,
    edit: impl FnOnce(&mut FlagConfig),
) -> Result<Answer, String> {
    let path = format!("/api/v1/flags/{key}/environments/{env}");
    let current = c.get(&path).send().await?;
    let mut config: FlagConfig = current.parse()?;
    edit(&mut config);
    c.put(&path)
        .if_match(current.etag.as_deref().unwrap_or_default())
        .comment(comment)
        .json(&config)
        .send()
        .await
}

/// A rule value: numbers and booleans as JSON, anything else as a string.
fn parse_value(s: &str) -> Value {
    match serde_json::from_str::<Value>(s) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(s.to_owned()),
    }
}
