//! `/api/v1/tokens`: admin tokens with roles, and `/api/v1/audit`.

use axum::extract::FromRef;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Body;
use crate::auth::{Admin, EnvRoles, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AdminState;
use crate::store::credentials::Credential;
use crate::store::AuditRecord;
use crate::store::{self, credentials, AuditFilter};
use crate::writes;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
        .routes(routes!(me))
        .routes(routes!(audit))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<Credential>,
}

/// Admin tokens (admin); secrets are never listed.
#[utoipa::path(operation_id = "tokens_list", get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AdminState>, admin: Admin) -> ApiResult<Json<TokenList>> {
    admin.require(Role::Admin)?;
    Ok(Json(TokenList {
        tokens: credentials::list_tokens(&state.db).await?,
    }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateToken {
    pub name: String,
    /// `viewer`, `editor` or `admin`.
    pub role: String,
    /// Where the token's role differs, e.g. `{"production": "viewer"}`
    /// (`viewer` or `editor`; not for an admin token).
    #[serde(default)]
    pub env_roles: EnvRoles,
}

/// Creates a token with a role; the response holds the secret, once.
#[utoipa::path(operation_id = "tokens_create", post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = Credential), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create(
    State(state): State<AdminState>,
    admin: Admin,
    Body(req): Body<CreateToken>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Admin)?;
    let role = Role::parse(&req.role).ok_or_else(|| ApiError::invalid("role", "expected viewer, editor or admin"))?;
    let actor = admin.actor();
    let token = writes::credentials::create_token(&state.writer(&actor, ""), &req.name, role, &req.env_roles).await?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[utoipa::path(operation_id = "tokens_revoke", delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke(State(state): State<AdminState>, admin: Admin, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    admin.require(Role::Admin)?;
    let actor = admin.actor();
    writes::credentials::revoke_token(&state.writer(&actor, ""), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub name: String,
    pub role: Role,
    /// Where the caller's role differs from `role`.
    pub env_roles: EnvRoles,
}

/// Who the token belongs to and what it may do (the console uses this).
#[utoipa::path(operation_id = "tokens_me", get, path = "/api/v1/me", tag = "tokens", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(admin: Admin) -> Json<Me> {
    Json(Me {
        name: admin.name,
        role: admin.role,
        env_roles: admin.env_roles,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditRecord>,
}

/// The audit log, newest first, with filters.
#[utoipa::path(operation_id = "tokens_audit", get, path = "/api/v1/audit", tag = "audit", params(AuditFilter),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody)))]
async fn audit(
    State(state): State<AdminState>,
    admin: Admin,
    Query(filter): Query<AuditFilter>,
) -> ApiResult<Json<AuditPage>> {
    admin.require(Role::Viewer)?;
    Ok(Json(AuditPage {
        entries: store::audit(&state.db, &filter).await?,
    }))
}
