//! `daylight change-requests`: four-eyes changes to a flag's config, a
//! segment, an app's bundle or a release plan's step where an environment
//! requires approvals: propose (now or for a time, `--at`), review, apply.
//! See docs/people.md.

use std::io::Read;

use clap::{Args, Subcommand};
use daylight::model::FlagConfig;
use serde_json::Value;

use super::client::Client;
use super::output::{record, table, time, Reply};
use super::proposals;
use crate::http::change_requests::{ListQuery, Proposal, RequestList, RequestView, ReviewRequest, Revision};
use crate::store::bundles::Publish;
use crate::store::change_requests::ChangeRequest;
use crate::writes::releases::{Step, StepCommand};

#[derive(Debug, Subcommand)]
pub enum ChangeRequestCmd {
    /// Change requests, newest first.
    List {
        /// `open`, `applied`, `rejected`, `expired` or `failed`.
        #[arg(long)]
        state: Option<String>,
        /// Only requests older than this id (the next page).
        #[arg(long)]
        before_id: Option<i64>,
        /// At most this many (1 to 500; 500 when not given).
        #[arg(long)]
        limit: Option<i64>,
    },
    /// One request: the current config against the proposed one, the
    /// reviews, and who approved it.
    Show { id: i64 },
    /// Proposes a change in one environment. A flag's config: the whole
    /// config as JSON (`--config FILE.json`, or `-` for stdin), or the
    /// current one turned `--on` or `--off`. A segment (`--segment KEY`):
    /// its keys and rules (`--config FILE`, JSON or YAML), or the current
    /// ones with `--included`/`--excluded` files of keys. An app's bundle
    /// (`--app APP`): `--publish VERSION` (with `--canary …` as `bundles
    /// publish` takes them) or the whole bundle config (`--config FILE`).
    Open(Box<OpenArgs>),
    /// Proposes a command for a release plan (`start`, `resume` or `skip`)
    /// where its environment requires approvals.
    Release {
        /// The plan's id.
        plan: i64,
        #[arg(value_enum)]
        command: ReleaseCommand,
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "")]
        comment: String,
        /// Apply it at this time (RFC 3339) if approved by then.
        #[arg(long)]
        at: Option<String>,
    },
    /// The author sets when an open request applies (`--at`), or clears it
    /// (`--by-hand`): a new revision, so approvals must be given again.
    Schedule {
        id: i64,
        #[arg(long, required_unless_present = "by_hand", conflicts_with = "by_hand")]
        at: Option<String>,
        #[arg(long)]
        by_hand: bool,
    },
    /// Approves the current revision (not one's own request).
    Approve {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Rejects the request, which closes it.
    Reject {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Comments without a verdict.
    Comment { id: i64, text: String },
    /// Applies an approved request onto the version it was proposed against.
    Apply { id: i64 },
}

// What `open` proposes (boxed: by far the largest of the commands).
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The flag (none with `--segment` or `--app`).
    #[arg(required_unless_present_any = ["segment", "app"], conflicts_with_all = ["segment", "app"])]
    flag: Option<String>,
    #[arg(long, conflicts_with = "app")]
    segment: Option<String>,
    #[arg(long)]
    app: Option<String>,
    #[arg(long)]
    env: String,
    #[arg(long, conflicts_with_all = ["on", "off", "included", "excluded", "publish"])]
    config: Option<String>,
    #[arg(long, conflicts_with = "off")]
    on: bool,
    #[arg(long)]
    off: bool,
    /// A segment's included keys, one a line.
    #[arg(long, requires = "segment")]
    included: Option<std::path::PathBuf>,
    /// A segment's excluded keys, one a line.
    #[arg(long, requires = "segment")]
    excluded: Option<std::path::PathBuf>,
    /// Publish this bundle version: live, or a canary with `--canary`.
    #[arg(long, requires = "app")]
    publish: Option<String>,
    #[arg(long, requires = "publish")]
    canary: Option<f64>,
    #[arg(long, requires = "publish")]
    canary_segment: Option<String>,
    #[arg(long, requires = "publish", conflicts_with = "canary")]
    canary_cohort: Option<String>,
    #[arg(long, requires = "publish")]
    min_supported: Option<String>,
    #[arg(long, default_value = "")]
    comment: String,
    /// Apply it at this time (RFC 3339) if approved by then; it
    /// expires otherwise.
    #[arg(long)]
    at: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReleaseCommand {
    Start,
    Resume,
    Skip,
}

pub async fn run(c: &Client, cmd: ChangeRequestCmd) -> Result<Reply, String> {
    match cmd {
        ChangeRequestCmd::List {
            state,
            before_id,
            limit,
        } => {
            let answer = c
                .get("/api/v1/change-requests")
                .query(&ListQuery {
                    state,
                    before_id,
                    limit,
                })
                .send()
                .await?;
            Ok(Reply::new(answer, |list: RequestList| {
                let more = list
                    .next_before_id
                    .map(|id| format!("\nolder requests: --before-id {id}"))
                    .unwrap_or_default();
                let rows = table(
                    [
                        "ID",
                        "KEY",
                        "ENVIRONMENT",
                        "STATE",
                        "REVISION",
                        "AUTHOR",
                        "UPDATED",
                        "CHANGES",
                    ],
                    list.change_requests.into_iter().map(|r| {
                        [
                            r.id.to_string(),
                            r.key,
                            r.environment,
                            r.state,
                            r.revision.to_string(),
                            r.author,
                            time(r.updated_at),
                            r.subject,
                        ]
                    }),
                );
                rows + &more
            }))
        }
        ChangeRequestCmd::Show { id } => {
            let answer = c.get(&format!("/api/v1/change-requests/{id}")).send().await?;
            Ok(Reply::new(answer, show))
        }
        ChangeRequestCmd::Open(args) => {
            let OpenArgs {
                flag,
                segment,
                app,
                env,
                config,
                on,
                off,
                included,
                excluded,
                publish,
                canary,
                canary_segment,
                canary_cohort,
                min_supported,
                comment,
                at,
            } = *args;
            let mut body = Proposal {
                environment: env,
                comment,
                apply_at: at,
                ..Proposal::default()
            };
            let bundle_args = publish.is_some()
                || canary.is_some()
                || canary_segment.is_some()
                || canary_cohort.is_some()
                || min_supported.is_some();
            if segment.is_none() && (included.is_some() || excluded.is_some()) {
                return Err("--included and --excluded are for a segment (--segment KEY)".into());
            }
            if app.is_none() && bundle_args {
                return Err("--publish and the canary options are for an app's bundle (--app APP)".into());
            }
            if let Some(key) = segment {
                if on || off {
                    return Err("--on and --off are for a flag".into());
                }
                let rules = proposals::segment(
                    c,
                    &body.environment,
                    &key,
                    config.as_deref(),
                    included.as_deref(),
                    excluded.as_deref(),
                )
                .await?;
                (body.segment, body.config) = (Some(key), Some(rules));
            } else if let Some(key) = app {
                if on || off {
                    return Err("--on and --off are for a flag".into());
                }
                let publish = publish.map(|version| Publish {
                    version,
                    canary_percent: canary,
                    canary_segment,
                    canary_cohort,
                    min_supported,
                });
                (body.config, body.publish) = proposals::bundle(config.as_deref(), publish)?;
                body.app = Some(key);
            } else {
                let flag = flag.ok_or("name a flag, or --segment or --app")?;
                let config: FlagConfig = match config {
                    Some(source) => read_config(&source)?,
                    None if on || off => {
                        let path = format!("/api/v1/flags/{flag}/environments/{}", body.environment);
                        let mut current: FlagConfig = c.get(&path).send().await?.parse()?;
                        current.on = on;
                        current
                    }
                    None => return Err("say what to propose for the flag: --config FILE, --on or --off".into()),
                };
                body.config = Some(serde_json::to_value(config).map_err(|e| e.to_string())?);
                body.flag = Some(flag);
            }
            let answer = c.post("/api/v1/change-requests").json(&body).send().await?;
            Ok(Reply::record::<ChangeRequest>(answer))
        }
        ChangeRequestCmd::Release {
            plan,
            command,
            env,
            comment,
            at,
        } => {
            let step = Step {
                command: match command {
                    ReleaseCommand::Start => StepCommand::Start,
                    ReleaseCommand::Resume => StepCommand::Resume,
                    ReleaseCommand::Skip => StepCommand::Skip,
                },
            };
            let body = Proposal {
                release: Some(plan),
                environment: env,
                config: Some(serde_json::to_value(step).map_err(|e| e.to_string())?),
                comment,
                apply_at: at,
                ..Proposal::default()
            };
            let answer = c.post("/api/v1/change-requests").json(&body).send().await?;
            Ok(Reply::record::<ChangeRequest>(answer))
        }
        ChangeRequestCmd::Schedule { id, at, by_hand: _ } => {
            let body = Revision {
                apply_at: at,
                ..Revision::default()
            };
            let answer = c
                .put(&format!("/api/v1/change-requests/{id}"))
                .json(&body)
                .send()
                .await?;
            Ok(Reply::record::<ChangeRequest>(answer))
        }
        ChangeRequestCmd::Approve { id, comment } => review(c, id, "approve", comment).await,
        ChangeRequestCmd::Reject { id, comment } => review(c, id, "reject", comment).await,
        ChangeRequestCmd::Comment { id, text } => review(c, id, "comment", text).await,
        ChangeRequestCmd::Apply { id } => Ok(Reply::record::<ChangeRequest>(
            c.post(&format!("/api/v1/change-requests/{id}/apply")).send().await?,
        )),
    }
}

async fn review(c: &Client, id: i64, verdict: &str, comment: String) -> Result<Reply, String> {
    let body = ReviewRequest {
        verdict: verdict.to_owned(),
        comment,
    };
    let answer = c
        .post(&format!("/api/v1/change-requests/{id}/reviews"))
        .json(&body)
        .send()
        .await?;
    Ok(Reply::record::<ChangeRequest>(answer))
}

/// A file's text, or stdin's for `-`.
pub(super) fn read_source(source: &str) -> Result<String, String> {
    if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(source).map_err(|e| format!("cannot read {source}: {e}"))
    }
}

/// A flag config from a JSON file, or from stdin for `-`.
fn read_config(source: &str) -> Result<FlagConfig, String> {
    let text = read_source(source)?;
    serde_json::from_str(&text).map_err(|e| format!("{source} is not a flag config: {e}"))
}

/// The request's fields, the config change as a diff, the approvals and
/// the reviews.
fn show(view: RequestView) -> String {
    let r = &view.request;
    let mut out = record(&serde_json::json!({
        "id": r.id,
        "subject": r.subject,
        "key": r.key,
        "environment": r.environment,
        "state": r.state,
        "author": r.author,
        "comment": r.comment,
        "revision": r.revision,
        "base_version": r.base_version,
        "current_version": view.current_version,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "settled_by": r.settled_by,
        "settled_at": r.settled_at,
        "apply_at": r.apply_at,
        "failure": r.failure,
    }));
    let approved_by = if view.approved_by.is_empty() {
        "nobody".to_owned()
    } else {
        view.approved_by.join(", ")
    };
    out.push_str(&format!(
        "\napprovals: {} of {} required (approved by {approved_by})",
        view.approved_by.len(),
        view.approvals_required
    ));
    if view.current_version.is_some_and(|v| v != r.base_version) && r.state == "open" {
        out.push_str(&format!(
            "\nthe {} changed since: this request can no longer apply",
            r.subject
        ));
    }
    if let (Some(at), "open") = (r.apply_at, r.state.as_str()) {
        out.push_str(&format!("\nscheduled: applies at {} if approved by then", time(at)));
    }
    out.push_str("\n\nconfig (- current, + proposed):\n");
    out.push_str(&diff(&pretty(view.current.as_ref()), &pretty(r.config.as_ref())));
    out.push_str("\n\nreviews:");
    if view.reviews.is_empty() {
        out.push_str(" none");
    }
    for review in &view.reviews {
        out.push_str(&format!(
            "\n  {}  {}  {} (revision {})",
            time(review.at),
            review.reviewer,
            review.verdict,
            review.revision
        ));
        if !review.comment.is_empty() {
            out.push_str(&format!(": {}", review.comment));
        }
    }
    out
}

fn pretty(value: Option<&Value>) -> String {
    value.map_or_else(
        || "null".to_owned(),
        |v| serde_json::to_string_pretty(v).unwrap_or_default(),
    )
}

/// A line diff: `  ` for lines both share, `- ` for lines only in `old`,
/// `+ ` for lines only in `new` (longest common subsequence).
fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut lines) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push(format!("  {}", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(format!("- {}", a[i]));
            i += 1;
        } else {
            lines.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_marks_removed_and_added_lines() {
        let old = "{\n  \"on\": false,\n  \"off_variation\": 0\n}";
        let new = "{\n  \"on\": true,\n  \"off_variation\": 0\n}";
        assert_eq!(
            diff(old, new),
            "  {\n-   \"on\": false,\n+   \"on\": true,\n    \"off_variation\": 0\n  }"
        );
        assert_eq!(diff("null", "1"), "- null\n+ 1");
        assert_eq!(diff("a\nb", "a\nb"), "  a\n  b");
    }
}
