//! `/api/v1/environments/{env}/freezes`: freeze windows, in which the
//! environment takes no changes but the kill switch (docs/people.md).

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Body;
use crate::auth::{Admin, Role};
use crate::error::{ApiResult, ErrorBody};
use crate::freeze::Schedule;
use crate::state::AdminState;
use crate::store::freezes::{self, FreezeWindow};
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
        .routes(routes!(delete))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListedWindow {
    #[serde(flatten)]
    pub window: FreezeWindow,
    /// Whether the window holds now: writes to the environment are refused
    /// (423 `frozen`) except turning flags off.
    pub active: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FreezeList {
    pub windows: Vec<ListedWindow>,
    /// Whether any window holds now.
    pub frozen: bool,
}

/// An environment's freeze windows, and whether one holds now (the console
/// shows it before anyone starts editing).
#[utoipa::path(operation_id = "freezes_list", get, path = "/api/v1/environments/{env}/freezes", tag = "environments",
    params(("env" = String, Path)), responses((status = 200, body = FreezeList), (status = 404, body = ErrorBody)))]
async fn list(State(state): State<AdminState>, _admin: Admin, Path(env): Path<String>) -> ApiResult<Json<FreezeList>> {
    crate::store::environments::get(&state.db, &env).await?;
    let now = state.clock.now_ms();
    let windows: Vec<ListedWindow> = freezes::of(&state.db.pool, &env)
        .await?
        .into_iter()
        .map(|window| ListedWindow {
            active: window.schedule.compile().is_ok_and(|w| w.covers(now)),
            window,
        })
        .collect();
    Ok(Json(FreezeList {
        frozen: windows.iter().any(|w| w.active),
        windows,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewWindow {
    pub name: String,
    /// `{"kind": "once", "starts_at", "ends_at"}` or `{"kind": "weekly",
    /// "days": ["fri"], "start": "18:00", "minutes": 240, "time_zone":
    /// "Europe/Paris"}` (the `Schedule` schema; documented as an object
    /// here, which generators of test requests handle better than its
    /// `oneOf`).
    #[schema(value_type = Object)]
    pub schedule: Schedule,
}

/// Adds a freeze window (admin).
#[utoipa::path(operation_id = "freezes_create", post, path = "/api/v1/environments/{env}/freezes", tag = "environments",
    params(("env" = String, Path)), request_body = NewWindow,
    responses((status = 201, body = FreezeWindow), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create(
    State(state): State<AdminState>,
    admin: Admin,
    Path(env): Path<String>,
    Body(req): Body<NewWindow>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Admin)?;
    let actor = admin.actor();
    let window = writes::freezes::create(&state.writer(&actor, ""), &env, &req.name, req.schedule).await?;
    Ok((StatusCode::CREATED, Json(window)))
}

/// Removes a freeze window (admin).
#[utoipa::path(operation_id = "freezes_delete", delete, path = "/api/v1/environments/{env}/freezes/{id}", tag = "environments",
    params(("env" = String, Path), ("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete(
    State(state): State<AdminState>,
    admin: Admin,
    Path((env, id)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    admin.require(Role::Admin)?;
    let actor = admin.actor();
    writes::freezes::delete(&state.writer(&actor, ""), &env, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
