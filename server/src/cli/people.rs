//! `daylight people`: invitations and accounts (admin). See docs/people.md.

use clap::Subcommand;

use super::client::Client;
use super::output::{maybe_time, table, time, Reply};
use crate::auth::{EnvRoles, Role};
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
        /// A role in one environment instead, `ENV=ROLE` (`viewer` or
        /// `editor`); repeat for several.
        #[arg(long = "env-role", value_name = "ENV=ROLE")]
        env_roles: Vec<String>,
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
    /// Replaces an account's per-environment roles, e.g.
    /// `env-roles 2 production=viewer staging=editor`; none removes them.
    EnvRoles {
        id: i64,
        #[arg(value_name = "ENV=ROLE")]
        roles: Vec<String>,
    },
    /// Disables an account: its sessions end on every node.
    Disable { id: i64 },
    /// Enables a disabled account again.
    Enable { id: i64 },
}

pub async fn run(c: &Client, cmd: PeopleCmd) -> Result<Reply, String> {
    match cmd {
        PeopleCmd::Invite { email, role, env_roles } => {
            let env_roles = parse_env_roles(&env_roles)?;
            let answer = c
                .post("/api/v1/invitations")
                .json(&Invite { email, role, env_roles })
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
                    ["ID", "EMAIL", "NAME", "ROLE", "CREATED", "DISABLED", "PER ENVIRONMENT"],
                    list.accounts.into_iter().map(|a| {
                        [
                            a.id.to_string(),
                            a.email,
                            a.name,
                            a.role,
                            time(a.created_at),
                            maybe_time(a.disabled_at),
                            show_env_roles(&a.env_roles),
                        ]
                    }),
                )
            }))
        }
        PeopleCmd::Invitations => {
            let answer = c.get("/api/v1/invitations").send().await?;
            Ok(Reply::new(answer, |list: InvitationList| {
                table(
                    [
                        "ID",
                        "EMAIL",
                        "ROLE",
                        "INVITED BY",
                        "EXPIRES",
                        "ACCEPTED",
                        "PER ENVIRONMENT",
                    ],
                    list.invitations.into_iter().map(|i| {
                        [
                            i.id.to_string(),
                            i.email,
                            i.role,
                            i.invited_by,
                            time(i.expires_at),
                            maybe_time(i.accepted_at),
                            show_env_roles(&i.env_roles),
                        ]
                    }),
                )
            }))
        }
        PeopleCmd::SetRole { id, role } => update(c, id, change(Some(role), None, None)).await,
        PeopleCmd::EnvRoles { id, roles } => update(c, id, change(None, Some(parse_env_roles(&roles)?), None)).await,
        PeopleCmd::Disable { id } => update(c, id, change(None, None, Some(true))).await,
        PeopleCmd::Enable { id } => update(c, id, change(None, None, Some(false))).await,
    }
}

fn change(role: Option<String>, env_roles: Option<EnvRoles>, disabled: Option<bool>) -> UpdateAccount {
    UpdateAccount {
        role,
        env_roles,
        disabled,
    }
}

async fn update(c: &Client, id: i64, change: UpdateAccount) -> Result<Reply, String> {
    let answer = c.patch(&format!("/api/v1/accounts/{id}")).json(&change).send().await?;
    Ok(Reply::record::<Account>(answer))
}

/// `ENV=ROLE` arguments; the server checks the roles and environments.
pub(super) fn parse_env_roles(items: &[String]) -> Result<EnvRoles, String> {
    items
        .iter()
        .map(|item| {
            let (env, role) = item
                .split_once('=')
                .ok_or(format!("`{item}` is not ENV=ROLE, e.g. production=viewer"))?;
            let role = Role::parse(role.trim()).ok_or(format!("`{role}` in `{item}` is not viewer or editor"))?;
            Ok((env.trim().to_owned(), role))
        })
        .collect()
}

/// `production=viewer staging=editor`, or `-` without any.
fn show_env_roles(env_roles: &EnvRoles) -> String {
    if env_roles.is_empty() {
        return "-".into();
    }
    let pairs: Vec<String> = env_roles
        .iter()
        .map(|(env, role)| format!("{env}={}", role.as_str()))
        .collect();
    pairs.join(" ")
}
