//! `/api/v1/environments` and their SDK keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::extract::Body;
use crate::app::AppState;
use crate::auth::{Admin, KeyKind, Role};
use crate::error::{ApiError, ApiResult};
use crate::store::{credentials, environments};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/environments", get(list).post(create))
        .route("/api/v1/environments/{env}", get(read))
        .route("/api/v1/environments/{env}/keys", get(list_keys).post(create_key))
        .route("/api/v1/environments/{env}/keys/{id}", delete(revoke_key))
}

async fn list(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<Value>> {
    admin.require(Role::Viewer)?;
    Ok(Json(json!({ "environments": environments::list(&state.db).await? })))
}

async fn read(State(state): State<AppState>, admin: Admin, Path(env): Path<String>) -> ApiResult<Json<Value>> {
    admin.require(Role::Viewer)?;
    Ok(Json(json!(environments::get(&state.db, &env).await?)))
}

#[derive(Debug, Deserialize, Serialize)]
pub struct CreateEnvironment {
    pub key: String,
    #[serde(default)]
    pub name: String,
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Body(req): Body<CreateEnvironment>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Admin)?;
    if req.key.is_empty()
        || !req
            .key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ApiError::invalid(
            "key",
            "an environment key is one or more of a-z 0-9 -",
        ));
    }
    let name = if req.name.is_empty() { req.key.clone() } else { req.name };
    let env = environments::create(&state.db, &req.key, &name, &admin.actor()).await?;
    state.live.committed(&state.db, std::slice::from_ref(&env.key)).await;
    Ok((StatusCode::CREATED, Json(env)))
}

async fn list_keys(State(state): State<AppState>, admin: Admin, Path(env): Path<String>) -> ApiResult<Json<Value>> {
    admin.require(Role::Admin)?;
    environments::get(&state.db, &env).await?;
    Ok(Json(json!({ "keys": credentials::list_keys(&state.db, &env).await? })))
}

#[derive(Debug, Deserialize, Serialize)]
pub struct CreateKey {
    /// `server` or `client`.
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

async fn create_key(
    State(state): State<AppState>,
    admin: Admin,
    Path(env): Path<String>,
    Body(req): Body<CreateKey>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Admin)?;
    let kind = KeyKind::parse(&req.kind).ok_or_else(|| ApiError::invalid("kind", "expected `server` or `client`"))?;
    let key = credentials::create_key(&state.db, &env, kind, &req.name, &admin.actor()).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

async fn revoke_key(
    State(state): State<AppState>,
    admin: Admin,
    Path((env, id)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    admin.require(Role::Admin)?;
    let digest = credentials::revoke_key(&state.db, &env, id, &admin.actor()).await?;
    state.keys.forget(&digest).await;
    Ok(StatusCode::NO_CONTENT)
}
