//! `daylight import --from unleash|flagd FILE`: another tool's flags,
//! translated (`flagfile::import`) into the flags-as-code model, then
//! treated as files are: a dry run prints what maps and, with `--env`, the
//! server's plan; `--out` writes the translated file; `--apply` applies it
//! through the flags-as-code apply (conditional, audited, idempotent).
//! Exit codes: 0 done (or nothing to change), 2 a dry run with changes
//! pending, 1 error.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::client::Client;
use super::flagfile::{fetch_plan, outcome, post_apply, PlanFormat};
use super::Remote;
use crate::flagfile::import::{import, Imported, Tool};
use crate::flagfile::plan::render;
use crate::flagfile::FlagFile;
use crate::http::flagfile::Files;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tool whose file this is.
    #[arg(long = "from", value_enum)]
    pub from: Tool,
    /// Unleash's feature export or flagd's flag definitions (JSON).
    pub file: PathBuf,
    /// The environment the flags are for; with it, the server is asked what
    /// importing would change (or, with `--apply`, it is changed).
    #[arg(long)]
    pub env: Option<String>,
    /// Also write the translated flags file (`.json` as JSON, else YAML).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `json`: `{report, plan, applied}`.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// Apply the translation to `--env` (else a dry run).
    #[arg(long, requires_all = ["env", "reason"])]
    pub apply: bool,
    /// Why; recorded in every audit entry (with `--apply`).
    #[arg(long)]
    pub reason: Option<String>,
}

/// The environment a translation names when none is given.
const DEFAULT_ENV: &str = "production";

pub async fn run(remote: &Remote, args: &ImportArgs) -> i32 {
    match run_inner(remote, args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("daylight import: {e}");
            1
        }
    }
}

async fn run_inner(remote: &Remote, args: &ImportArgs) -> Result<i32, String> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let env = args.env.as_deref().unwrap_or(DEFAULT_ENV);
    let Imported { file, report } =
        import(args.from, &text, env).map_err(|e| format!("{}: {e}", args.file.display()))?;
    if let Some(out) = &args.out {
        let as_json = out.extension().is_some_and(|e| e == "json");
        std::fs::write(out, file_text(&file, as_json)?).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let mut plan = None;
    let mut applied = None;
    if let Some(env) = &args.env {
        let client = Client::new(&remote.url, remote.token.clone());
        let files = Files {
            flags: file.flags.clone(),
            segments: file.segments.clone(),
        };
        let planned = fetch_plan(&client, env, &files).await?;
        if args.apply {
            let reason = args.reason.as_deref().unwrap_or_default();
            // Imported flags declare no `manage`: no sources to record.
            applied = Some(post_apply(&client, env, files, Default::default(), &planned, reason).await?);
        }
        plan = Some(planned);
    }
    match args.format {
        PlanFormat::Json => {
            let out = json!({"report": report, "plan": plan, "applied": applied});
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        PlanFormat::Text => {
            print!("{report}");
            match (&plan, &applied) {
                (_, Some(applied)) => {
                    print!("{}", render(&applied.plan));
                    print!("{}", outcome(&applied.plan, &applied.written, &applied.change_requests));
                }
                (Some(plan), None) => print!("{}", render(plan)),
                _ => {}
            }
        }
    }
    Ok(match (plan, applied) {
        (Some(plan), None) if plan.has_changes() => 2,
        _ => 0,
    })
}

/// The translated file as written by `--out`: like `daylight export`, with
/// no config versions (the server owns them).
fn file_text(file: &FlagFile, as_json: bool) -> Result<String, String> {
    let mut value = serde_json::to_value(file).map_err(|e| e.to_string())?;
    for flag in value["flags"].as_array_mut().into_iter().flatten() {
        for config in flag["environments"]
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(config) = config.as_object_mut() {
                config.remove("version");
            }
        }
    }
    if as_json {
        Ok(serde_json::to_string_pretty(&value).map_err(|e| e.to_string())? + "\n")
    } else {
        serde_yaml_ng::to_string(&value).map_err(|e| e.to_string())
    }
}
