//! Credentials: admin tokens (roles) for the admin API, SDK keys (server or client, per environment)
//! for evaluation and streaming. Only SHA-256 digests are stored; secrets are high-entropy random
//! strings, so a fast digest is enough. The key cache confirms a secret by a constant-time comparison.

mod keys;
pub mod oidc;
pub mod session;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::store::credentials::{self, NewCredential};

pub use keys::{KeyCache, SdkKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// The prefix of a generated token with this role, so a pasted token
    /// says what it may do (`dl_admin_` only for admins).
    pub fn secret_prefix(self) -> &'static str {
        match self {
            Role::Viewer => "dl_viewer",
            Role::Editor => "dl_editor",
            Role::Admin => "dl_admin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Full rules, local evaluation (app servers).
    Server,
    /// Evaluated values of `client_side` flags only (browsers; public).
    Client,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Server => "server",
            KeyKind::Client => "client",
        }
    }
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "server" => Some(KeyKind::Server),
            "client" => Some(KeyKind::Client),
            _ => None,
        }
    }
}

/// Per-environment role overrides: environment key → role. An account, an
/// invitation or a token with an override in an environment has that role
/// there instead of its own (an editor who is a viewer in production, a
/// viewer who is an editor in staging). Only `viewer` and `editor`: an
/// admin's role holds in every environment, and what only admins do
/// (environments, keys, tokens, people) is not per environment.
pub type EnvRoles = std::collections::BTreeMap<String, Role>;

/// Checks overrides someone asks for: only `viewer` or `editor`, on a
/// viewer's or an editor's role, in environments that exist. `field` names
/// the member of the request they came in.
pub async fn check_env_roles(db: &Db, field: &str, role: Role, env_roles: &EnvRoles) -> ApiResult<()> {
    if role == Role::Admin && !env_roles.is_empty() {
        return Err(ApiError::invalid(
            field,
            "an admin has the admin role in every environment; give per-environment roles to viewers and editors",
        ));
    }
    for (env, env_role) in env_roles {
        if *env_role == Role::Admin {
            return Err(ApiError::invalid(
                format!("{field}.{env}"),
                "a per-environment role is viewer or editor",
            ));
        }
        if crate::store::environments::get(db, env).await.is_err() {
            return Err(ApiError::invalid(
                format!("{field}.{env}"),
                format!("there is no environment `{env}`"),
            ));
        }
    }
    Ok(())
}

/// Reads the `env_roles` column (a JSON object; empty when unset).
pub fn parse_env_roles(text: &str) -> ApiResult<EnvRoles> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("bad env_roles {text}: {e}")))
}

/// The `env_roles` column's text.
pub fn env_roles_text(env_roles: &EnvRoles) -> String {
    serde_json::to_string(env_roles).expect("a map of strings serialises")
}

/// A new random secret with a readable prefix, e.g. `dl_admin_3f9c…`.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// What may be shown of a secret after creation: the prefix of a generated
/// secret and the last four characters. A configured secret (the bootstrap
/// admin token) may have any shape, so of it only the last four show.
pub fn hint(secret: &str) -> String {
    const GENERATED: &[&str] = &[
        "dl_admin",
        "dl_editor",
        "dl_viewer",
        "dl_server",
        "dl_client",
        "dl_whsec",
    ];
    let tail = secret.char_indices().rev().nth(3).map_or("", |(at, _)| &secret[at..]);
    let head = secret
        .rsplit_once('_')
        .map(|(head, _)| head)
        .filter(|head| GENERATED.contains(head))
        .unwrap_or("");
    format!("{head}_…{tail}")
}

/// The shortest bootstrap admin token `DAYLIGHT_ADMIN_TOKEN` may set (a
/// generated secret has 57 characters).
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// The name of the admin token that `DAYLIGHT_ADMIN_TOKEN` sets (or the
/// first start generates); reserved, so no other token takes it.
pub const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap";

/// The credential of `Authorization: Bearer …`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// The SDK key a request carries: `Authorization: Bearer KEY` or
/// `X-API-Key: KEY` (OFREP allows both).
pub(crate) fn sdk_secret(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
}

/// The caller of an admin API request.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The token's name, or the person's email.
    pub name: String,
    pub role: Role,
    /// The person's display name, for a console session (`None`: a token).
    pub person: Option<String>,
    /// Where the caller's role differs from `role` (never for an admin).
    pub env_roles: EnvRoles,
}

impl Admin {
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role; your token has {}",
                role.as_str(),
                self.role.as_str()
            )))
        }
    }

    /// The caller's role in one environment: the override there, if any.
    pub fn role_in(&self, environment: &str) -> Role {
        match self.role {
            Role::Admin => Role::Admin,
            role => self.env_roles.get(environment).copied().unwrap_or(role),
        }
    }

    /// The highest role the caller has in any environment: what a write
    /// whose environment is known only later needs at least.
    pub fn highest_role(&self) -> Role {
        self.env_roles.values().copied().fold(self.role, Role::max)
    }

    /// Refuses (403, naming the role and the environment) unless the caller
    /// has `role` in `environment`.
    pub fn require_in(&self, environment: &str, role: Role) -> ApiResult<()> {
        let has = self.role_in(environment);
        if has >= role {
            Ok(())
        } else {
            Err(ApiError::ForbiddenIn {
                role,
                environment: environment.to_owned(),
                has,
            })
        }
    }

    /// Refuses unless the caller has `role` in at least one environment
    /// (the write names its environments later; each is checked then).
    pub fn require_somewhere(&self, role: Role) -> ApiResult<()> {
        if self.highest_role() >= role {
            Ok(())
        } else {
            self.require(role)
        }
    }

    /// The name the audit log records: `person:EMAIL` or `token:NAME`.
    pub fn actor(&self) -> String {
        match self.person {
            Some(_) => format!("person:{}", self.name),
            None => format!("token:{}", self.name),
        }
    }
}

/// What checking a credential needs: the database, the SDK key cache and
/// the wrong-credential budget. Any state it can be taken from
/// (`FromRef`) can extract [`Admin`] and [`SdkKey`].
#[derive(Clone)]
pub struct Credentials {
    pub db: Db,
    pub keys: Arc<KeyCache>,
    pub auth_failures: Arc<crate::limits::AuthFailures>,
    /// Session expiry is timed by it (a manual clock in tests).
    pub clock: Arc<dyn crate::clock::Clock>,
    pub sessions: session::SessionPolicy,
    /// The OpenID provider, when one is set up.
    pub oidc: Option<Arc<oidc::Oidc>>,
}

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    Credentials: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Admin> {
        let state = Credentials::from_ref(state);
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let token = bearer(&parts.headers);
        if token.is_none() && session::cookie_secret(&parts.headers).is_none() {
            // No credential at all costs nothing: a plain 401.
            return Err(ApiError::Unauthorized);
        }
        if let Some(peer) = peer {
            state
                .auth_failures
                .check(peer, Instant::now())
                .map_err(|wait| ApiError::TooManyRequests {
                    message: "too many wrong credentials from this address; try again later".into(),
                    retry_after_secs: wait.as_secs_f64().ceil() as u64,
                })?;
        }
        let Some(secret) = token else {
            // No token: a person's console session. An unknown session
            // cookie is a wrong credential too.
            return match session::person(&state, parts).await {
                Ok(Some(person)) => Ok(person),
                Ok(None) => Err(ApiError::Unauthorized),
                Err(e) => {
                    if let (Some(peer), ApiError::Unauthorized) = (peer, &e) {
                        state.auth_failures.failed(peer, Instant::now());
                    }
                    Err(e)
                }
            };
        };
        let digest = digest(secret);
        let Some(token) = credentials::active_token(&state.db, &digest).await? else {
            let refused = other_kind(&state.db, OtherKind::SdkKey, &digest).await;
            if let (Some(peer), ApiError::Unauthorized) = (peer, &refused) {
                state.auth_failures.failed(peer, Instant::now());
            }
            return Err(refused);
        };
        Ok(Admin {
            role: Role::parse(&token.role).ok_or_else(|| ApiError::Internal(format!("bad role {}", token.role)))?,
            env_roles: parse_env_roles(&token.env_roles)?,
            name: token.name,
            person: None,
        })
    }
}

/// The kind of credential a refused secret may be instead.
pub(crate) enum OtherKind {
    AdminToken,
    SdkKey,
}

/// Why a secret that is not the credential asked for is refused: 403 when
/// it is a valid credential of the other kind (an admin token as an SDK key,
/// an SDK key on the admin API), 401 otherwise (docs/api.md). Only unknown
/// secrets pay for this second query.
pub(crate) async fn other_kind(db: &crate::db::Db, kind: OtherKind, digest: &str) -> ApiError {
    let (found, message) = match kind {
        OtherKind::AdminToken => (
            credentials::is_active_token(db, digest).await,
            "this is an admin token; evaluation and streams need a server or client key",
        ),
        OtherKind::SdkKey => (
            credentials::is_active_key(db, digest).await,
            "this is an SDK key; the admin API needs an admin token",
        ),
    };
    match found {
        Ok(true) => ApiError::Forbidden(message.into()),
        _ => ApiError::Unauthorized,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "DAYLIGHT_ADMIN_TOKEN is too short: an admin token needs at least {MIN_ADMIN_TOKEN_CHARS} characters \
         (leave it unset to get a setup link for the first admin's account)"
    )]
    TooShort,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Makes sure someone can administer the server: the configured admin
/// token, or (on a fresh install, no token and no account) a one-time
/// setup code for the first admin's account, returned to be shown as a
/// link (`/#/setup/CODE`, an admin invitation without an email). A
/// configured token replaces the previous bootstrap token: after
/// `DAYLIGHT_ADMIN_TOKEN` changes, the old value no longer works.
pub async fn bootstrap_admin(db: &crate::db::Db, configured: Option<&str>) -> Result<Option<String>, BootstrapError> {
    let now = crate::db::now_ms();
    // An empty value (`DAYLIGHT_ADMIN_TOKEN=` in a compose file) is unset.
    if let Some(secret) = configured.filter(|s| !s.is_empty()) {
        if secret.trim().chars().count() < MIN_ADMIN_TOKEN_CHARS {
            return Err(BootstrapError::TooShort);
        }
        let digest = digest(secret);
        let token = NewCredential {
            name: BOOTSTRAP_TOKEN_NAME,
            kind: Role::Admin.as_str(),
            digest: &digest,
            hint: &hint(secret),
            created_at: now,
        };
        credentials::replace_named_token(db, &token).await?;
        return Ok(None);
    }
    if credentials::count_tokens(db).await? > 0 || crate::store::people::count_accounts(db).await? > 0 {
        return Ok(None);
    }
    // Each start without anyone to sign in makes a new link; earlier
    // unused ones stop working.
    let code = new_secret("dl_setup");
    crate::store::people::replace_setup_invitation(db, &digest(&code), now, now + crate::writes::people::INVITATION_MS)
        .await?;
    Ok(Some(code))
}
