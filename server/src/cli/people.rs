//! `daylight people`: invitations and accounts (admin). See docs/people.md.

use clap::Subcommand;

use super::client::Client;
use super::output::{maybe_time, table, time, Reply};
use crate::http::people::{AccountList, InvitationList, Invite, Invited, UpdateAccount};
use crate::store::people::Account;

#[derive(Debug, Subcommand)]
pub enum PeopleCmd {
    /// Invites a person by email; prints the code and the console link,
    /// shown this once (valid 7 days, once).
    Invite {
        email: String,
        /// `viewer`, `editor` or `admin`.
        #[arg(long)]
        role: String,
    },
    /// People's accounts.
    List,
    /// Invitations, accepted or not (codes are never listed).
    Invitations,
    /// Changes an account's role (from its next request).
    SetRole {
        id: i64,
        /// `viewer`, `editor` or `admin`.
        role: String,
    },
    /// Disables an account: its sessions end on every node.
    Disable { id: i64 },
    /// Enables a disabled account again.
    Enable { id: i64 },
}

pub async fn run(c: &Client, cmd: PeopleCmd) -> Result<Reply, String> {
    match cmd {
        PeopleCmd::Invite { email, role } => {
            let answer = c
                .post("/api/v1/invitations")
                .json(&Invite { email, role })
                .send()
                .await?;
            let base = c.base_url().to_owned();
            Ok(Reply::new(answer, move |invited: Invited| {
                let i = invited.invitation;
                format!(
                    "invited {} as {} (until {})\ncode: {}\nlink: {base}{}\n\
                     The code is shown only this once: send the link to the person.",
                    i.email,
                    i.role,
                    time(i.expires_at),
                    invited.code,
                    invited.link,
                )
            }))
        }
        PeopleCmd::List => {
            let answer = c.get("/api/v1/accounts").send().await?;
            Ok(Reply::new(answer, |list: AccountList| {
                table(
                    ["ID", "EMAIL", "NAME", "ROLE", "CREATED", "DISABLED"],
                    list.accounts.into_iter().map(|a| {
                        [
                            a.id.to_string(),
                            a.email,
                            a.name,
                            a.role,
                            time(a.created_at),
                            maybe_time(a.disabled_at),
                        ]
                    }),
                )
            }))
        }
        PeopleCmd::Invitations => {
            let answer = c.get("/api/v1/invitations").send().await?;
            Ok(Reply::new(answer, |list: InvitationList| {
                table(
                    ["ID", "EMAIL", "ROLE", "INVITED BY", "EXPIRES", "ACCEPTED"],
                    list.invitations.into_iter().map(|i| {
                        [
                            i.id.to_string(),
                            i.email,
                            i.role,
                            i.invited_by,
                            time(i.expires_at),
                            maybe_time(i.accepted_at),
                        ]
                    }),
                )
            }))
        }
        PeopleCmd::SetRole { id, role } => update(c, id, Some(role), None).await,
        PeopleCmd::Disable { id } => update(c, id, None, Some(true)).await,
        PeopleCmd::Enable { id } => update(c, id, None, Some(false)).await,
    }
}

async fn update(c: &Client, id: i64, role: Option<String>, disabled: Option<bool>) -> Result<Reply, String> {
    let answer = c
        .patch(&format!("/api/v1/accounts/{id}"))
        .json(&UpdateAccount { role, disabled })
        .send()
        .await?;
    Ok(Reply::record::<Account>(answer))
}
