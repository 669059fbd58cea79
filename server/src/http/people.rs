//! People: `/api/v1/session` (sign in, who am I, sign out),
//! `/api/v1/invitations` (an admin invites; the invited person accepts with
//! a name and a password) and `/api/v1/accounts` (an admin changes a role or
//! disables an account). See docs/people.md.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRef, Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{Extensions, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Body;
use crate::auth::session::{self, clear_cookie, cookie_secret, csrf_token, set_cookie};
use crate::auth::{digest, Admin, Credentials, EnvRoles, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AdminState;
use crate::store::people::{self as rows, Account, Invitation};
use crate::writes;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(sign_in, current, sign_out))
        .routes(routes!(list_invitations, invite))
        .routes(routes!(accept))
        .routes(routes!(list_accounts))
        .routes(routes!(update_account))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// The person signed in, and the token writes made with the session
/// cookie must carry in `X-CSRF-Token`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Where the person's role differs from `role`, e.g.
    /// `{"production": "viewer"}`.
    pub env_roles: EnvRoles,
    pub csrf_token: String,
}

/// Signs in with email and password: sets the `dl_session` cookie
/// (HttpOnly, SameSite=Strict). Wrong pairs count against the address's
/// budget of wrong credentials (429 over it).
#[utoipa::path(operation_id = "session_sign_in", post, path = "/api/v1/session", tag = "people", request_body = SignIn, security(()),
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn sign_in(
    State(state): State<AdminState>,
    State(creds): State<Credentials>,
    extensions: Extensions,
    Body(req): Body<SignIn>,
) -> ApiResult<impl IntoResponse> {
    let peer: Option<IpAddr> = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        creds
            .auth_failures
            .check(peer, Instant::now())
            .map_err(|wait| ApiError::TooManyRequests {
                message: "too many failed sign-ins from this address; try again later".into(),
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            })?;
    }
    let now = creds.clock.now_ms();
    let writer = state.writer("", "");
    let Some(secret) = writes::people::sign_in(&writer, &req.email, &req.password, now, creds.sessions.max_ms).await?
    else {
        if let Some(peer) = peer {
            creds.auth_failures.failed(peer, Instant::now());
        }
        return Err(ApiError::Unauthorized);
    };
    let info = session_info(&creds, &secret).await?;
    Ok(([(SET_COOKIE, set_cookie(&secret, &creds.sessions))], Json(info)))
}

/// The person of the request's session cookie (401 without a live one).
#[utoipa::path(operation_id = "session_current", get, path = "/api/v1/session", tag = "people",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
async fn current(State(creds): State<Credentials>, parts: Parts) -> ApiResult<Json<SessionInfo>> {
    session::person(&creds, &parts).await?.ok_or(ApiError::Unauthorized)?;
    let secret = cookie_secret(&parts.headers).ok_or(ApiError::Unauthorized)?;
    Ok(Json(session_info(&creds, secret).await?))
}

/// Signs out: the session ends on every node and the cookie is cleared.
#[utoipa::path(operation_id = "session_sign_out", delete, path = "/api/v1/session", tag = "people",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn sign_out(State(creds): State<Credentials>, parts: Parts) -> ApiResult<impl IntoResponse> {
    // Checks the CSRF token: another site cannot sign a person out.
    session::person(&creds, &parts).await?.ok_or(ApiError::Unauthorized)?;
    let secret = cookie_secret(&parts.headers).ok_or(ApiError::Unauthorized)?;
    rows::revoke_session(&creds.db, &digest(secret), creds.clock.now_ms()).await?;
    Ok((StatusCode::NO_CONTENT, [clear_cookie(&creds.sessions)]))
}

async fn session_info(creds: &Credentials, secret: &str) -> ApiResult<SessionInfo> {
    let now = creds.clock.now_ms();
    let live = rows::live_session(&creds.db, &digest(secret), now, now - creds.sessions.idle_ms)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(SessionInfo {
        email: live.email,
        name: live.name,
        role: Role::parse(&live.role).ok_or_else(|| ApiError::Internal(format!("bad role {}", live.role)))?,
        env_roles: crate::auth::parse_env_roles(&live.env_roles)?,
        csrf_token: csrf_token(secret),
    })
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Invite {
    pub email: String,
    /// `viewer`, `editor` or `admin`.
    pub role: String,
    /// Where the account's role will differ, e.g. `{"production": "viewer"}`
    /// (`viewer` or `editor`; not for an admin).
    #[serde(default)]
    pub env_roles: EnvRoles,
}

/// A new invitation. `code` is shown once: the person opens
/// `/#/accept/CODE` in the console (or posts it to
/// `/api/v1/invitations/accept`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Invited {
    pub invitation: Invitation,
    pub code: String,
    /// The console path that accepts it.
    pub link: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<Invitation>,
}

/// Invitations (admin); codes are never listed.
#[utoipa::path(operation_id = "invitations_list", get, path = "/api/v1/invitations", tag = "people",
    responses((status = 200, body = InvitationList), (status = 403, body = ErrorBody)))]
async fn list_invitations(State(state): State<AdminState>, admin: Admin) -> ApiResult<Json<InvitationList>> {
    admin.require(Role::Admin)?;
    Ok(Json(InvitationList {
        invitations: rows::list_invitations(&state.db).await?,
    }))
}

/// Invites a person by email with a role (admin); valid for 7 days, once.
#[utoipa::path(operation_id = "invitations_create", post, path = "/api/v1/invitations", tag = "people", request_body = Invite,
    responses((status = 201, body = Invited), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn invite(
    State(state): State<AdminState>,
    State(creds): State<Credentials>,
    admin: Admin,
    Body(req): Body<Invite>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Admin)?;
    let role = Role::parse(&req.role).ok_or_else(|| ApiError::invalid("role", "expected viewer, editor or admin"))?;
    let actor = admin.actor();
    let invited = writes::people::invite(
        &state.writer(&actor, ""),
        &req.email,
        role,
        &req.env_roles,
        creds.clock.now_ms(),
    )
    .await?;
    let link = format!("/#/accept/{}", invited.code);
    Ok((
        StatusCode::CREATED,
        Json(Invited {
            invitation: invited.invitation,
            code: invited.code,
            link,
        }),
    ))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Accept {
    /// The invitation's code.
    pub code: String,
    pub name: String,
    /// At least 12 characters.
    pub password: String,
    /// Only with the first-start setup link, whose invitation has no
    /// email: the first admin's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Accepts an invitation: the account is created with the invitation's
/// email and role, and the person is signed in (the session cookie is set).
#[utoipa::path(operation_id = "invitations_accept", post, path = "/api/v1/invitations/accept", tag = "people", request_body = Accept, security(()),
    responses((status = 201, body = SessionInfo), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn accept(
    State(state): State<AdminState>,
    State(creds): State<Credentials>,
    Body(req): Body<Accept>,
) -> ApiResult<impl IntoResponse> {
    let now = creds.clock.now_ms();
    let writer = state.writer("", "");
    let account =
        writes::people::accept(&writer, &req.code, &req.name, &req.password, req.email.as_deref(), now).await?;
    let secret = writes::people::sign_in(&writer, &account.email, &req.password, now, creds.sessions.max_ms)
        .await?
        .ok_or_else(|| ApiError::Internal("the new account cannot sign in".into()))?;
    let info = session_info(&creds, &secret).await?;
    Ok((
        StatusCode::CREATED,
        [(SET_COOKIE, set_cookie(&secret, &creds.sessions))],
        Json(info),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<Account>,
}

/// People's accounts (admin).
#[utoipa::path(operation_id = "accounts_list", get, path = "/api/v1/accounts", tag = "people",
    responses((status = 200, body = AccountList), (status = 403, body = ErrorBody)))]
async fn list_accounts(State(state): State<AdminState>, admin: Admin) -> ApiResult<Json<AccountList>> {
    admin.require(Role::Admin)?;
    Ok(Json(AccountList {
        accounts: rows::list_accounts(&state.db).await?,
    }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct UpdateAccount {
    /// `viewer`, `editor` or `admin`.
    pub role: Option<String>,
    /// Replaces the per-environment roles (`{}` removes them), e.g.
    /// `{"production": "viewer", "staging": "editor"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_roles: Option<EnvRoles>,
    /// Disabling ends the account's sessions on every node.
    pub disabled: Option<bool>,
}

/// Changes an account's role or per-environment roles, or disables it
/// (admin; not one's own).
#[utoipa::path(operation_id = "accounts_update", patch, path = "/api/v1/accounts/{id}", tag = "people",
    params(("id" = i64, Path)), request_body = UpdateAccount,
    responses((status = 200, body = Account), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_account(
    State(state): State<AdminState>,
    State(creds): State<Credentials>,
    admin: Admin,
    Path(id): Path<i64>,
    Body(req): Body<UpdateAccount>,
) -> ApiResult<Json<Account>> {
    admin.require(Role::Admin)?;
    let role = match req.role.as_deref() {
        Some(role) => {
            Some(Role::parse(role).ok_or_else(|| ApiError::invalid("role", "expected viewer, editor or admin"))?)
        }
        None => None,
    };
    let actor = admin.actor();
    let change = writes::people::AccountChange {
        role,
        env_roles: req.env_roles,
        disabled: req.disabled,
    };
    let account = writes::people::update_account(&state.writer(&actor, ""), id, change, creds.clock.now_ms()).await?;
    Ok(Json(account))
}
