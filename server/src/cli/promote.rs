//! `daylight promote FLAG… --from E --to E`: shows what copying the flags'
//! chosen parts from one environment to another would change, and applies
//! exactly that with `--yes` or when asked (docs/flags-as-code.md,
//! "Promotion").

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;

use super::client::Client;
use super::flagfile::outcome;
use super::Remote;
use crate::flagfile::plan::render;
use crate::http::promote::PromoteApply;
use crate::writes::flagfile::Expected;
use crate::writes::promote::{Part, Promote, Promotion};

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The flags' keys.
    #[arg(required = true)]
    pub flags: Vec<String>,
    /// The environment copied from.
    #[arg(long)]
    pub from: String,
    /// The environment copied to.
    #[arg(long)]
    pub to: String,
    /// The parts copied, comma-separated (default: rules, fallthrough,
    /// targets, prerequisites).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub parts: Vec<Part>,
    /// Why; recorded in every audit entry.
    #[arg(long)]
    pub reason: Option<String>,
    /// Apply without asking.
    #[arg(long)]
    pub yes: bool,
}

/// `daylight promote`: 0 applied or nothing to do, 2 changes shown and not
/// applied, 1 error or refused.
pub async fn run(remote: &Remote, args: &PromoteArgs) -> i32 {
    let client = Client::new(&remote.url, remote.token.clone());
    let request = Promote {
        from: args.from.clone(),
        flags: args.flags.clone(),
        parts: args.parts.clone(),
    };
    let shown: Promotion = match client
        .post(&format!("/api/v1/environments/{}/promote/plan", args.to))
        .json(&request)
        .send()
        .await
        .and_then(|a| a.parse())
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("daylight promote: {e}");
            return 1;
        }
    };
    print!("{}", heading(&shown));
    print!("{}", render(&shown.plan));
    if !shown.plan.has_changes() {
        return 0;
    }
    if !args.yes && !confirmed(&args.to) {
        println!("Not applied (run with --yes to apply).");
        return 2;
    }
    let body = PromoteApply {
        promote: request,
        plan: shown.plan.items.iter().map(Expected::from).collect(),
        from_segments: shown.from_segments,
    };
    let mut call = client
        .post(&format!("/api/v1/environments/{}/promote/apply", args.to))
        .json(&body);
    if let Some(reason) = &args.reason {
        call = call.comment(reason);
    }
    match call.send().await.and_then(|a| a.parse::<Promotion>()) {
        Ok(done) => {
            print!("{}", outcome(&done.plan, &done.written, &done.change_requests));
            0
        }
        Err(e) => {
            eprintln!("daylight promote: {e}");
            1
        }
    }
}

fn heading(p: &Promotion) -> String {
    let parts: Vec<String> = p
        .parts
        .iter()
        .map(|part| {
            serde_json::to_value(part)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    format!(
        "Promote from `{}` to `{}` ({}):\n",
        p.from,
        p.plan.environment,
        parts.join(", ")
    )
}

/// Asks on a terminal; anywhere else (a script, CI, output piped) the
/// answer is no.
fn confirmed(to: &str) -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return false;
    }
    print!("Apply these changes to `{to}`? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}
