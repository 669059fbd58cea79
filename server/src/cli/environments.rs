//! `daylight envs`: list and create environments.

use clap::Subcommand;

use super::client::Client;
use super::output::{table, Reply};
use crate::http::environments::{CreateEnvironment, EnvironmentList};
use crate::store::environments::Environment;

#[derive(Debug, Subcommand)]
pub enum EnvCmd {
    List,
    Create {
        key: String,
        #[arg(long, default_value = "")]
        name: String,
    },
}

pub async fn run(c: &Client, cmd: EnvCmd) -> Result<Reply, String> {
    match cmd {
        EnvCmd::List => {
            let answer = c.get("/api/v1/environments").send().await?;
            Ok(Reply::new(answer, |list: EnvironmentList| {
                table(
                    ["KEY", "NAME", "VERSION"],
                    list.environments
                        .into_iter()
                        .map(|e| [e.key, e.name, e.version.to_string()]),
                )
            }))
        }
        EnvCmd::Create { key, name } => {
            let body = CreateEnvironment { key, name };
            let answer = c.post("/api/v1/environments").json(&body).send().await?;
            Ok(Reply::record::<Environment>(answer))
        }
    }
}
