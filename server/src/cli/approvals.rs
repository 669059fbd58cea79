//! `daylight approvals`: how many approvals a change to a flag's config
//! needs in an environment (0: changes apply directly). See docs/people.md.

use clap::Subcommand;

use super::client::Client;
use super::output::Reply;
use crate::http::change_requests::Approvals;

#[derive(Debug, Subcommand)]
pub enum ApprovalCmd {
    /// Sets the number (admin); above 0, changes go through change requests.
    Set {
        #[arg(long)]
        env: String,
        required: i64,
    },
    Show {
        #[arg(long)]
        env: String,
    },
}

pub async fn run(c: &Client, cmd: ApprovalCmd) -> Result<Reply, String> {
    let answer = match cmd {
        ApprovalCmd::Set { env, required } => {
            c.put(&format!("/api/v1/environments/{env}/approvals"))
                .json(&Approvals { required })
                .send()
                .await?
        }
        ApprovalCmd::Show { env } => c.get(&format!("/api/v1/environments/{env}/approvals")).send().await?,
    };
    Ok(Reply::record::<Approvals>(answer))
}
