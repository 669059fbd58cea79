//! `/api/v1/environments` and their SDK keys.

use axum::extract::FromRef;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AdminRole, Body, Editing};
use crate::auth::{Admin, KeyKind, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::limits::{check_length, KEY_CHARS, NAME_CHARS};
use crate::state::{AdminState, KeyState};
use crate::store::credentials::Credential;
use crate::store::environments::Environment;
use crate::store::{credentials, environments};
use crate::writes;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    KeyState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct EnvironmentList {
    pub environments: Vec<Environment>,
}

#[utoipa::path(operation_id = "environments_list", get, path = "/api/v1/environments", tag = "environments",
    responses((status = 200, body = EnvironmentList), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AdminState>, admin: Admin) -> ApiResult<Json<EnvironmentList>> {
    admin.require(Role::Viewer)?;
    Ok(Json(EnvironmentList {
        environments: environments::list(&state.db).await?,
    }))
}

#[utoipa::path(operation_id = "environments_read", get, path = "/api/v1/environments/{env}", tag = "environments", params(("env" = String, Path)),
    responses((status = 200, body = Environment), (status = 404, body = ErrorBody)))]
async fn read(State(state): State<AdminState>, admin: Admin, Path(env): Path<String>) -> ApiResult<Json<Environment>> {
    admin.require(Role::Viewer)?;
    Ok(Json(environments::get(&state.db, &env).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateEnvironment {
    #[schema(max_length = 100)]
    pub key: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: String,
}

/// Creates an environment (admin); existing flags are dark in it.
#[utoipa::path(operation_id = "environments_create", post, path = "/api/v1/environments", tag = "environments", request_body = CreateEnvironment,
    responses((status = 201, body = Environment), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(edit: Editing<(), Body<CreateEnvironment>, (), AdminRole>) -> ApiResult<impl IntoResponse> {
    let Editing {
        body: Body(req),
        author,
        ..
    } = edit;
    check_length("key", &req.key, KEY_CHARS)?;
    check_length("name", &req.name, NAME_CHARS)?;
    let env = writes::environments::create(&author.writer_without_comment(), &req.key, &req.name).await?;
    Ok((StatusCode::CREATED, Json(env)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<Credential>,
}

/// SDK keys of an environment (admin); secrets are never listed.
#[utoipa::path(operation_id = "environments_list_keys", get, path = "/api/v1/environments/{env}/keys", tag = "keys", params(("env" = String, Path)),
    responses((status = 200, body = KeyList), (status = 403, body = ErrorBody)))]
async fn list_keys(State(state): State<KeyState>, admin: Admin, Path(env): Path<String>) -> ApiResult<Json<KeyList>> {
    admin.require(Role::Admin)?;
    environments::get(&state.db, &env).await?;
    Ok(Json(KeyList {
        keys: credentials::list_keys(&state.db, &env).await?,
    }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateKey {
    /// `server` or `client`.
    pub kind: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: String,
}

/// Creates a server or client key; the response holds the secret, once.
#[utoipa::path(operation_id = "environments_create_key", post, path = "/api/v1/environments/{env}/keys", tag = "keys", request_body = CreateKey,
    params(("env" = String, Path)),
    responses((status = 201, body = Credential), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_key(edit: Editing<Path<String>, Body<CreateKey>, (), AdminRole>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path(env),
        body: Body(req),
        author,
        ..
    } = edit;
    let kind = KeyKind::parse(&req.kind).ok_or_else(|| ApiError::invalid("kind", "expected `server` or `client`"))?;
    check_length("name", &req.name, NAME_CHARS)?;
    let key = writes::credentials::create_key(&author.writer_without_comment(), &env, kind, &req.name).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

#[utoipa::path(operation_id = "environments_revoke_key", delete, path = "/api/v1/environments/{env}/keys/{id}", tag = "keys",
    params(("env" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_key(
    State(state): State<KeyState>,
    edit: Editing<Path<(String, i64)>, (), (), AdminRole>,
) -> ApiResult<StatusCode> {
    let Editing {
        path: Path((env, id)),
        author,
        ..
    } = edit;
    writes::credentials::revoke_key(&author.writer_without_comment(), &env, id).await?;
    // Its open streams end, on every node.
    state.keys.revoke(id);
    Ok(StatusCode::NO_CONTENT)
}
