//! `daylight export`, `daylight plan` and `daylight apply`: flags-as-code
//! files against a running server (docs/flags-as-code.md). Files are
//! checked offline (`daylight validate`'s checks) before anything is sent.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::Client;
use super::Remote;
use crate::flagfile::command::collect;
use crate::flagfile::plan::{render, Action, Plan, PlanItem};
use crate::flagfile::validate::parse;
use crate::flagfile::{validate_sources, FileFlag, FileSegment, FlagFile, FORMAT_VERSION};
use crate::http::environments::EnvironmentList;
use crate::http::flagfile::{ApplyRequest, Files};
use crate::http::flags::FlagList;
use crate::http::segments::SegmentList;
use crate::store::change_requests::ChangeRequest;
use crate::store::segments::StoredSegment;
use crate::writes::flagfile::{Applied, Expected, Written};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only these environments (repeatable; default all).
    #[arg(long = "env")]
    pub envs: Vec<String>,
    /// Write to FILE instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `yaml` (default) or `json`.
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: FileFormat,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Flag files or directories holding them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long)]
    pub env: String,
    /// `json`: the plan as the server sent it.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// Also write the plan (with the versions it read) to PLANFILE, for
    /// `daylight apply --plan`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Flag files or directories holding them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long)]
    pub env: String,
    /// A plan written by `daylight plan --out`: apply exactly it.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Why (e.g. the commit id); recorded in every audit entry.
    #[arg(long)]
    pub reason: String,
}

/// A plan as written by `plan --out`: the plan and a digest of the files it
/// was made from, so `apply` refuses files edited since.
#[derive(Debug, Serialize, Deserialize)]
struct PlanFile {
    files_digest: String,
    plan: Plan,
}

/// `daylight export`: 0 written, 1 error.
pub async fn export(remote: &Remote, args: &ExportArgs) -> i32 {
    let client = Client::new(&remote.url, remote.token.clone());
    match export_file(&client, &args.envs).await.and_then(|file| {
        let text = match args.format {
            FileFormat::Json => serde_json::to_string_pretty(&file)
                .map(|t| t + "\n")
                .map_err(|e| e.to_string())?,
            FileFormat::Yaml => serde_yaml_ng::to_string(&file).map_err(|e| e.to_string())?,
        };
        match &args.out {
            Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display())),
            None => {
                print!("{text}");
                Ok(())
            }
        }
    }) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("daylight export: {e}");
            1
        }
    }
}

/// Every flag (not archived) and segment of the environments, in the file
/// format, without the versions the server keeps. Returned as JSON so the
/// versions can be left out.
async fn export_file(c: &Client, only: &[String]) -> Result<Value, String> {
    let envs: EnvironmentList = c.get("/api/v1/environments").send().await?.parse()?;
    let known: Vec<String> = envs.environments.into_iter().map(|e| e.key).collect();
    for env in only {
        if !known.contains(env) {
            return Err(format!("unknown environment `{env}`"));
        }
    }
    let envs: Vec<String> = known
        .into_iter()
        .filter(|e| only.is_empty() || only.contains(e))
        .collect();
    let flags: FlagList = c.get("/api/v1/flags").send().await?.parse()?;
    let flags: Vec<FileFlag> = flags
        .flags
        .into_iter()
        .map(|stored| FileFlag {
            key: stored.flag.key,
            name: stored.flag.name,
            description: stored.flag.description,
            tags: stored.flag.tags,
            owner: stored.owner,
            expires: stored.expires,
            variations: stored.flag.variations,
            client_side: stored.flag.client_side,
            environments: stored
                .flag
                .environments
                .into_iter()
                .filter(|(env, _)| envs.contains(env))
                .collect(),
            manage: Default::default(),
        })
        .collect();
    let mut segments: std::collections::BTreeMap<String, FileSegment> = Default::default();
    for env in &envs {
        let list: SegmentList = c
            .get(&format!("/api/v1/environments/{env}/segments"))
            .send()
            .await?
            .parse()?;
        for item in list.segments {
            let key = item.summary.key;
            let stored: StoredSegment = c
                .get(&format!("/api/v1/environments/{env}/segments/{key}"))
                .send()
                .await?
                .parse()?;
            let entry = segments.entry(key.clone()).or_insert_with(|| FileSegment {
                key,
                name: stored.name.clone(),
                description: stored.description.clone(),
                environments: Default::default(),
            });
            entry.environments.insert(env.clone(), stored.rules);
        }
    }
    let file = FlagFile {
        version: FORMAT_VERSION,
        flags,
        segments: segments.into_values().collect(),
    };
    let mut value = serde_json::to_value(&file).map_err(|e| e.to_string())?;
    // The server owns config versions; a file carries none.
    for list in ["flags", "segments"] {
        for item in value[list].as_array_mut().into_iter().flatten() {
            for config in item["environments"]
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if let Some(config) = config.as_object_mut() {
                    config.remove("version");
                }
            }
        }
    }
    Ok(value)
}

/// Reads, checks and merges the files (validate's checks; problems are
/// printed). `Err` carries the exit code.
fn read_files(paths: &[PathBuf], command: &str) -> Result<Files, i32> {
    read_files_with_sources(paths, command).map(|(files, _)| files)
}

/// [`read_files`] and the file each flag key is in.
fn read_files_with_sources(paths: &[PathBuf], command: &str) -> Result<(Files, BTreeMap<String, String>), i32> {
    let mut sources = Vec::new();
    for path in paths {
        if let Err(e) = collect(path, &mut sources) {
            eprintln!("daylight {command}: {}: {e}", path.display());
            return Err(1);
        }
    }
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let problems = validate_sources(&sources, today);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("daylight {command}: the files are invalid; nothing was sent");
        return Err(1);
    }
    let mut files = Files::default();
    let mut of = BTreeMap::new();
    for source in &sources {
        let file = parse(source).map_err(|_| 1)?;
        for flag in &file.flags {
            of.insert(flag.key.clone(), source.name.clone());
        }
        files.flags.extend(file.flags);
        files.segments.extend(file.segments);
    }
    Ok((files, of))
}

fn files_digest(files: &Files) -> String {
    let text = serde_json::to_string(files).unwrap_or_default();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) async fn fetch_plan(c: &Client, env: &str, files: &Files) -> Result<Plan, String> {
    c.post(&format!("/api/v1/environments/{env}/flagfile/plan"))
        .json(files)
        .send()
        .await?
        .parse()
}

/// `daylight plan`: 0 nothing to do, 2 changes pending, 1 error.
pub async fn plan(remote: &Remote, args: &PlanArgs) -> i32 {
    let files = match read_files(&args.paths, "plan") {
        Ok(files) => files,
        Err(code) => return code,
    };
    let client = Client::new(&remote.url, remote.token.clone());
    let plan = match fetch_plan(&client, &args.env, &files).await {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("daylight plan: {e}");
            return 1;
        }
    };
    if let Some(out) = &args.out {
        let file = PlanFile {
            files_digest: files_digest(&files),
            plan: plan.clone(),
        };
        let text = serde_json::to_string_pretty(&file).unwrap_or_default();
        if let Err(e) = std::fs::write(out, text + "\n") {
            eprintln!("daylight plan: {}: {e}", out.display());
            return 1;
        }
    }
    match args.format {
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default()),
        PlanFormat::Text => print!("{}", render(&plan)),
    }
    if plan.has_changes() {
        2
    } else {
        0
    }
}

/// `daylight apply`: 0 applied (or nothing to do), 1 error or refused.
pub async fn apply(remote: &Remote, args: &ApplyArgs) -> i32 {
    let (files, sources) = match read_files_with_sources(&args.paths, "apply") {
        Ok(read) => read,
        Err(code) => return code,
    };
    let client = Client::new(&remote.url, remote.token.clone());
    let plan = match &args.plan {
        Some(path) => {
            let planned: PlanFile = match std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("daylight apply: {}: {e}", path.display());
                    return 1;
                }
            };
            if planned.plan.environment != args.env {
                eprintln!(
                    "daylight apply: the plan is for `{}`, not `{}`",
                    planned.plan.environment, args.env
                );
                return 1;
            }
            if planned.files_digest != files_digest(&files) {
                eprintln!("daylight apply: the files changed since the plan was made; plan again");
                return 1;
            }
            planned.plan
        }
        None => match fetch_plan(&client, &args.env, &files).await {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("daylight apply: {e}");
                return 1;
            }
        },
    };
    match post_apply(&client, &args.env, files, sources, &plan, &args.reason).await {
        Ok(applied) => {
            print!("{}", render(&applied.plan));
            print!("{}", outcome(&applied.plan, &applied.written, &applied.change_requests));
            0
        }
        Err(e) => {
            eprintln!("daylight apply: {e}");
            1
        }
    }
}

/// Applies `files` to `env` on the condition that the server still plans
/// what `plan` shows; the answer is what was applied.
pub(crate) async fn post_apply(
    c: &Client,
    env: &str,
    files: Files,
    sources: BTreeMap<String, String>,
    plan: &Plan,
    reason: &str,
) -> Result<Applied, String> {
    let request = ApplyRequest {
        files,
        sources,
        plan: plan.items.iter().map(Expected::from).collect(),
    };
    c.post(&format!("/api/v1/environments/{env}/flagfile/apply"))
        .comment(reason)
        .json(&request)
        .send()
        .await?
        .parse()
}

/// What an apply (or promotion, or import) did, after its plan: "Applied."
/// where it wrote everything; under approvals, what it wrote at once, the
/// change requests it proposed and those already open that carry the rest.
pub(crate) fn outcome(plan: &Plan, written: &[Written], proposed: &[ChangeRequest]) -> String {
    let waiting: Vec<&PlanItem> = plan.items.iter().filter(|i| i.change_request.is_some()).collect();
    if waiting.is_empty() && proposed.is_empty() {
        return if plan.has_changes() {
            "Applied.\n"
        } else {
            "Nothing to apply.\n"
        }
        .to_owned();
    }
    let env = &plan.environment;
    let mut out = String::new();
    if !written.is_empty() {
        out.push_str(&format!(
            "Written at once (nothing `{env}` serves changes until its requests apply):\n"
        ));
        for w in written {
            let what = if w.action == Action::Create {
                "created".to_owned()
            } else {
                w.fields.join(", ")
            };
            out.push_str(&format!("  {} {}: {what}\n", w.kind.as_str(), w.key));
        }
    }
    if !proposed.is_empty() {
        out.push_str(&format!(
            "`{env}` requires approvals: proposed {} change request(s), not applied yet:\n",
            proposed.len()
        ));
        for r in proposed {
            out.push_str(&format!("  #{}  {} {}\n", r.id, r.subject, r.key));
        }
    }
    let new: Vec<i64> = proposed.iter().map(|r| r.id).collect();
    let already: Vec<&&PlanItem> = waiting
        .iter()
        .filter(|i| i.change_request.is_some_and(|id| !new.contains(&id)))
        .collect();
    if !already.is_empty() {
        out.push_str("Already proposed, still open (not proposed again):\n");
        for i in already {
            let id = i.change_request.unwrap_or_default();
            out.push_str(&format!("  #{id}  {} {}\n", i.kind.as_str(), i.key));
        }
    }
    out.push_str("Once approved, apply each with `daylight change-requests apply ID`.\n");
    out
}
