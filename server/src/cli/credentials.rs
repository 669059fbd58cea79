//! `daylight tokens` (admin tokens with roles) and `daylight keys` (SDK
//! keys of an environment): the credentials.

use clap::Subcommand;

use super::client::Client;
use super::output::{maybe_time, table, time, Reply};
use crate::http::environments::{CreateKey, KeyList};
use crate::http::tokens::{CreateToken, TokenList};
use crate::store::credentials::Credential;

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    List,
    Create {
        name: String,
        #[arg(long, value_parser = ["viewer", "editor", "admin"])]
        role: String,
        /// A role in one environment instead, `ENV=ROLE` (`viewer` or
        /// `editor`); repeat for several.
        #[arg(long = "env-role", value_name = "ENV=ROLE")]
        env_roles: Vec<String>,
    },
    Revoke {
        id: i64,
    },
}

pub async fn tokens(c: &Client, cmd: TokenCmd) -> Result<Reply, String> {
    match cmd {
        TokenCmd::List => {
            let answer = c.get("/api/v1/tokens").send().await?;
            Ok(Reply::new(answer, |list: TokenList| {
                credential_table("ROLE", list.tokens)
            }))
        }
        TokenCmd::Create { name, role, env_roles } => {
            let env_roles = super::people::parse_env_roles(&env_roles)?;
            let answer = c
                .post("/api/v1/tokens")
                .json(&CreateToken { name, role, env_roles })
                .send()
                .await?;
            Ok(Reply::record::<Credential>(answer))
        }
        TokenCmd::Revoke { id } => Ok(Reply::done(c.delete(&format!("/api/v1/tokens/{id}")).send().await?)),
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    List {
        #[arg(long)]
        env: String,
    },
    Create {
        #[arg(long)]
        env: String,
        #[arg(long, value_parser = ["server", "client"])]
        kind: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    Revoke {
        id: i64,
        #[arg(long)]
        env: String,
    },
}

pub async fn keys(c: &Client, cmd: KeyCmd) -> Result<Reply, String> {
    match cmd {
        KeyCmd::List { env } => {
            let answer = c.get(&format!("/api/v1/environments/{env}/keys")).send().await?;
            Ok(Reply::new(answer, |list: KeyList| credential_table("KIND", list.keys)))
        }
        KeyCmd::Create { env, kind, name } => {
            let answer = c
                .post(&format!("/api/v1/environments/{env}/keys"))
                .json(&CreateKey { kind, name })
                .send()
                .await?;
            Ok(Reply::record::<Credential>(answer))
        }
        KeyCmd::Revoke { id, env } => Ok(Reply::done(
            c.delete(&format!("/api/v1/environments/{env}/keys/{id}"))
                .send()
                .await?,
        )),
    }
}

/// Tokens or keys; `kind` names what their kind is (a role, or server/client).
fn credential_table(kind: &str, credentials: Vec<Credential>) -> String {
    table(
        ["ID", "NAME", kind, "HINT", "CREATED", "REVOKED"],
        credentials.into_iter().map(|c| {
            [
                c.id.to_string(),
                c.name,
                c.kind,
                c.hint,
                time(c.created_at),
                maybe_time(c.revoked_at),
            ]
        }),
    )
}
