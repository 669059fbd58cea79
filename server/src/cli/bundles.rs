//! `daylight bundles`: publish a browser bundle version (live or canary) and
//! see which versions connected browsers run.

use clap::Subcommand;

use super::client::Client;
use super::output::Reply;
use crate::http::bundles::BundleStatus;
use crate::store::bundles::{Publish, StoredBundleConfig};

#[derive(Debug, Subcommand)]
pub enum BundleCmd {
    /// Publishes a bundle version: live for everyone, or a canary.
    Publish {
        app: String,
        version: String,
        #[arg(long)]
        env: String,
        /// Serve it to this percentage of contexts only.
        #[arg(long)]
        canary: Option<f64>,
        /// Contexts in this segment always get the canary.
        #[arg(long)]
        canary_segment: Option<String>,
        /// Serve it to this named cohort (its share moves with the cohort).
        #[arg(long, conflicts_with = "canary")]
        canary_cohort: Option<String>,
        /// Older versions must reload now.
        #[arg(long)]
        min_supported: Option<String>,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Versions, live and canary, and connected browsers per version.
    Status {
        app: String,
        #[arg(long)]
        env: String,
    },
}

pub async fn run(c: &Client, cmd: BundleCmd) -> Result<Reply, String> {
    match cmd {
        BundleCmd::Publish {
            app,
            version,
            env,
            canary,
            canary_segment,
            canary_cohort,
            min_supported,
            comment,
        } => {
            let body = Publish {
                version,
                canary_percent: canary,
                canary_segment,
                canary_cohort,
                min_supported,
            };
            let answer = c
                .post(&format!("/api/v1/environments/{env}/apps/{app}/publish"))
                .comment(&comment)
                .json(&body)
                .send()
                .await?;
            Ok(Reply::record::<StoredBundleConfig>(answer))
        }
        BundleCmd::Status { app, env } => Ok(Reply::record::<BundleStatus>(
            c.get(&format!("/api/v1/environments/{env}/apps/{app}/status"))
                .send()
                .await?,
        )),
    }
}
