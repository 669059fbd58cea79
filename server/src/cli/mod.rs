//! The client subcommands for people and deploy scripts: they call the admin
//! API with a token, print a table or `field: value` lines with readable
//! times, or the API's JSON as sent with `--json`, and exit non-zero on
//! failure.
//!
//! One module per resource, each with its clap subcommands and a `run`.
//! Requests and answers are the HTTP handlers' own types, so a change to the
//! API breaks the CLI when it is compiled rather than when it runs.
//!
//! - `client`: the HTTP client (base URL, token, error display);
//! - `output`: tables, records, times, and `--json`;
//! - `flagfile`: `export`, `plan` and `apply` of flags-as-code files, with
//!   exit codes of their own;
//! - `promote`: flags' config copied between environments.
//! - `import`: `daylight import --from unleash|flagd`, translated into a
//!   flags-as-code file and planned or applied like one.

mod approvals;
mod bundles;
mod change_requests;
mod client;
mod cohorts;
mod credentials;
mod environments;
pub mod flagfile;
mod flags;
mod freezes;
pub mod import;
mod output;
mod people;
pub mod promote;
mod proposals;
mod releases;
mod routing;
mod schedule;
mod segments;

use clap::{Args, Subcommand};

use self::approvals::ApprovalCmd;
use self::bundles::BundleCmd;
use self::change_requests::ChangeRequestCmd;
use self::client::Client;
use self::cohorts::CohortCmd;
use self::credentials::{KeyCmd, TokenCmd};
use self::environments::EnvCmd;
use self::flags::FlagCmd;
use self::freezes::FreezeCmd;
use self::output::Reply;
use self::people::PeopleCmd;
use self::releases::ReleaseCmd;
use self::routing::RoutingCmd;
use self::schedule::ScheduleCmd;
use self::segments::SegmentCmd;

#[derive(Debug, Args)]
pub struct Remote {
    /// Base URL of the Daylight server.
    #[arg(long, env = "DAYLIGHT_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// Admin token.
    #[arg(long, env = "DAYLIGHT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Environments.
    #[command(subcommand)]
    Envs(EnvCmd),
    /// Flags.
    #[command(subcommand)]
    Flags(FlagCmd),
    /// Segments (cohorts).
    #[command(subcommand)]
    Segments(SegmentCmd),
    /// Named cohorts: one share per environment that flag rollouts, bundle
    /// canaries and routing flags reference.
    #[command(subcommand)]
    Cohorts(CohortCmd),
    /// Admin tokens.
    #[command(subcommand)]
    Tokens(TokenCmd),
    /// SDK keys.
    #[command(subcommand)]
    Keys(KeyCmd),
    /// Browser bundle versions (stale single-page apps reload).
    #[command(subcommand)]
    Bundles(BundleCmd),
    /// Staged rollouts: release plans advanced by the server on schedule.
    #[command(subcommand, alias = "rollouts")]
    Releases(ReleaseCmd),
    /// Flag changes applied at a given time.
    #[command(subcommand)]
    Schedule(ScheduleCmd),
    /// Load-balancer routing flags: blue-green releases.
    #[command(subcommand)]
    Routing(RoutingCmd),
    /// People's accounts and invitations (admin).
    #[command(subcommand)]
    People(PeopleCmd),
    /// Freeze windows: times an environment takes no changes but the kill switch.
    #[command(subcommand)]
    Freezes(FreezeCmd),
    /// How many approvals a flag change needs in an environment.
    #[command(subcommand)]
    Approvals(ApprovalCmd),
    /// Four-eyes changes (flags, segments, bundles, release plans): propose, review, apply.
    #[command(subcommand)]
    ChangeRequests(ChangeRequestCmd),
}

/// Runs one client command; returns the process exit code.
pub async fn run(remote: Remote, command: Command) -> i32 {
    let client = Client::new(&remote.url, remote.token);
    let printed = match execute(&client, command).await {
        Ok(reply) => reply.print(remote.json),
        Err(message) => Err(message),
    };
    match printed {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

async fn execute(c: &Client, command: Command) -> Result<Reply, String> {
    match command {
        Command::Envs(cmd) => environments::run(c, cmd).await,
        Command::Flags(cmd) => flags::run(c, cmd).await,
        Command::Segments(cmd) => segments::run(c, cmd).await,
        Command::Cohorts(cmd) => cohorts::run(c, cmd).await,
        Command::Tokens(cmd) => credentials::tokens(c, cmd).await,
        Command::Keys(cmd) => credentials::keys(c, cmd).await,
        Command::Bundles(cmd) => bundles::run(c, cmd).await,
        Command::Releases(cmd) => releases::run(c, cmd).await,
        Command::Schedule(cmd) => schedule::run(c, cmd).await,
        Command::Routing(cmd) => routing::run(c, cmd).await,
        Command::People(cmd) => people::run(c, cmd).await,
        Command::Freezes(cmd) => freezes::run(c, cmd).await,
        Command::Approvals(cmd) => approvals::run(c, cmd).await,
        Command::ChangeRequests(cmd) => change_requests::run(c, cmd).await,
    }
}
