//! `/api/v1/tokens`: admin tokens with roles, and `/api/v1/audit`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::extract::Body;
use crate::app::AppState;
use crate::auth::{Admin, Role};
use crate::error::{ApiError, ApiResult};
use crate::store::{self, credentials, AuditFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(create))
        .route("/api/v1/tokens/{id}", delete(revoke))
        .route("/api/v1/me", get(me))
        .route("/api/v1/audit", get(audit))
}

async fn list(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<Value>> {
    admin.require(Role::Admin)?;
    Ok(Json(json!({ "tokens": credentials::list_tokens(&state.db).await? })))
}

#[derive(Debug, Deserialize, Serialize)]
pub struct CreateToken {
    pub name: String,
    /// `viewer`, `editor` or `admin`.
    pub role: String,
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Body(req): Body<CreateToken>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Admin)?;
    let role = Role::parse(&req.role).ok_or_else(|| ApiError::invalid("role", "expected viewer, editor or admin"))?;
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "a token needs a name"));
    }
    Ok((
        StatusCode::CREATED,
        Json(credentials::create_token(&state.db, &req.name, role, &admin.actor()).await?),
    ))
}

async fn revoke(State(state): State<AppState>, admin: Admin, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    admin.require(Role::Admin)?;
    credentials::revoke_token(&state.db, id, &admin.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to and what it may do (the console uses this).
async fn me(admin: Admin) -> Json<Value> {
    Json(json!({ "name": admin.name, "role": admin.role }))
}

async fn audit(
    State(state): State<AppState>,
    admin: Admin,
    Query(filter): Query<AuditFilter>,
) -> ApiResult<Json<Value>> {
    admin.require(Role::Viewer)?;
    Ok(Json(json!({ "entries": store::audit(&state.db, &filter).await? })))
}
