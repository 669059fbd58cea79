//! Staged rollouts (`/api/v1/.../releases`) and scheduled changes
//! (`/api/v1/.../scheduled-changes`). The scheduler moves plans on time;
//! people start, pause, resume, skip and roll back here.

use axum::extract::FromRef;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{etag, Body, Editing};
use crate::auth::{Admin, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::releases::plan::{Action, PlanSpec};
use crate::state::{AdminState, ReleaseState};
use crate::store::releases::{self, ReleasePlan};
use crate::store::schedule::{self, Change, ScheduledChange};
use crate::writes::releases::Outcome;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    ReleaseState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_for_flag, create))
        .routes(routes!(list_all))
        .routes(routes!(read))
        .routes(routes!(act))
        .routes(routes!(list_changes_for_flag, schedule_change))
        .routes(routes!(list_changes))
        .routes(routes!(cancel_change))
}

#[derive(Debug, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    pub flag: Option<String>,
    pub environment: Option<String>,
    /// e.g. `running`, `pending`.
    pub state: Option<String>,
}

/// Which release plans to list, a page at a time (`super::paging`).
#[derive(Debug, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlanFilter {
    pub flag: Option<String>,
    pub environment: Option<String>,
    /// e.g. `running`, `pending`.
    pub state: Option<String>,
    /// Only plans with an id below this: the next page is `before_id=`
    /// the previous page's `next_before_id`.
    pub before_id: Option<i64>,
    /// At most this many (1 to 500; 500 when unset).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PlanList {
    /// Newest first.
    pub plans: Vec<ReleasePlan>,
    /// Set when there are older plans: pass it as `before_id`.
    pub next_before_id: Option<i64>,
}

/// A page of release plans, newest first.
async fn plan_page(state: &ReleaseState, f: &PlanFilter) -> ApiResult<PlanList> {
    let size = super::paging::size(f.limit)?;
    let which = releases::Listing {
        flag: f.flag.as_deref(),
        environment: f.environment.as_deref(),
        state: f.state.as_deref(),
        before: f.before_id,
        limit: size + 1,
    };
    let mut plans = releases::list(&state.db, &which).await?;
    let next_before_id = super::paging::cut(&mut plans, size, |p| p.id);
    Ok(PlanList { plans, next_before_id })
}

/// Release plans of one flag in one environment, newest first, a page at a
/// time (`before_id`, `limit`; the `flag` and `environment` of the query are
/// the path's).
#[utoipa::path(operation_id = "releases_list_for_flag", get, path = "/api/v1/flags/{key}/environments/{env}/releases", tag = "releases",
    params(("key" = String, Path), ("env" = String, Path), PlanFilter),
    responses((status = 200, body = PlanList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_for_flag(
    State(state): State<ReleaseState>,
    admin: Admin,
    Path((key, env)): Path<(String, String)>,
    Query(f): Query<PlanFilter>,
) -> ApiResult<Json<PlanList>> {
    admin.require(Role::Viewer)?;
    let f = PlanFilter {
        flag: Some(key),
        environment: Some(env),
        ..f
    };
    Ok(Json(plan_page(&state, &f).await?))
}

/// Every release plan, newest first, filtered by flag, environment or
/// state, a page at a time (`before_id`, `limit`).
#[utoipa::path(operation_id = "releases_list", get, path = "/api/v1/releases", tag = "releases", params(PlanFilter),
    responses((status = 200, body = PlanList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_all(
    State(state): State<ReleaseState>,
    admin: Admin,
    Query(f): Query<PlanFilter>,
) -> ApiResult<Json<PlanList>> {
    admin.require(Role::Viewer)?;
    Ok(Json(plan_page(&state, &f).await?))
}

/// Creates a release plan (pending until started). One plan per flag and
/// environment may be in flight.
#[utoipa::path(operation_id = "releases_create", post, path = "/api/v1/flags/{key}/environments/{env}/releases", tag = "releases",
    request_body = PlanSpec,
    params(("key" = String, Path), ("env" = String, Path), ("X-Audit-Comment" = Option<String>, Header)),
    responses((status = 201, body = ReleasePlan), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(edit: Editing<Path<(String, String)>, Body<PlanSpec>>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path((key, env)),
        body: Body(spec),
        author,
        ..
    } = edit;
    let plan = crate::writes::releases::create(&author.writer(), &key, &env, spec).await?;
    Ok((StatusCode::CREATED, etag(plan.version), Json(plan)))
}

/// One release plan; its `ETag` is the version (optional `If-Match` on actions).
#[utoipa::path(operation_id = "releases_read", get, path = "/api/v1/releases/{id}", tag = "releases",
    params(("id" = i64, Path)),
    responses((status = 200, body = ReleasePlan), (status = 404, body = ErrorBody)))]
async fn read(State(state): State<ReleaseState>, admin: Admin, Path(id): Path<i64>) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Viewer)?;
    let plan = releases::get(&state.db, id).await?;
    Ok((etag(plan.version), Json(plan)))
}

/// What a person can do to a plan.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanCommand {
    Start,
    Pause,
    Resume,
    /// Move to the next stage now (or complete after the last).
    Skip,
    /// Restore what the flag served before the plan (one click).
    Rollback,
}

/// Starts, pauses, resumes, skips or rolls back a plan. `If-Match` is
/// optional (roll back must always work); with it a stale read gets 409.
#[utoipa::path(operation_id = "releases_act", post, path = "/api/v1/releases/{id}/{command}", tag = "releases",
    params(("id" = i64, Path), ("command" = inline(PlanCommand), Path), ("If-Match" = Option<String>, Header),
        ("X-Audit-Comment" = Option<String>, Header)),
    responses((status = 200, body = ReleasePlan), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn act(
    State(state): State<ReleaseState>,
    edit: Editing<Path<(i64, PlanCommand)>, (), Option<i64>>,
) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path((id, command)),
        expected,
        author,
        ..
    } = edit;
    let action = match command {
        PlanCommand::Start => Action::Start,
        PlanCommand::Pause => Action::Pause,
        PlanCommand::Resume => Action::Resume,
        PlanCommand::Skip => Action::Skip,
        PlanCommand::Rollback => Action::Rollback,
    };
    let now = state.clock.now_ms();
    // Holding or rolling back a plan only lowers exposure: it needs no
    // approval where the environment requires them (docs/people.md).
    let writer = crate::writes::Writer {
        approved: matches!(action, Action::Pause | Action::Rollback),
        ..author.writer()
    };
    match crate::writes::releases::act(&writer, id, action, expected, now).await? {
        Outcome::Applied(plan) => Ok((etag(plan.version), Json(plan))),
        Outcome::Lost => Err(ApiError::Conflict(format!(
            "release plan {id} moved meanwhile; reload and retry"
        ))),
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ScheduledChangeList {
    pub changes: Vec<ScheduledChange>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// When to apply it (RFC 3339). A time in the past applies at the next tick.
    pub at: String,
    pub change: Change,
}

/// Scheduled changes of one flag in one environment.
#[utoipa::path(operation_id = "schedule_list_for_flag", get, path = "/api/v1/flags/{key}/environments/{env}/scheduled-changes", tag = "releases",
    params(("key" = String, Path), ("env" = String, Path)),
    responses((status = 200, body = ScheduledChangeList), (status = 401, body = ErrorBody)))]
async fn list_changes_for_flag(
    State(state): State<ReleaseState>,
    admin: Admin,
    Path((key, env)): Path<(String, String)>,
) -> ApiResult<Json<ScheduledChangeList>> {
    admin.require(Role::Viewer)?;
    let changes = schedule::list(&state.db, Some(&key), Some(&env), None).await?;
    Ok(Json(ScheduledChangeList { changes }))
}

/// Schedules a change (turn on/off, or replace the config) of one flag in
/// one environment. It is checked now and applied once, at `at`.
#[utoipa::path(operation_id = "schedule_create", post, path = "/api/v1/flags/{key}/environments/{env}/scheduled-changes", tag = "releases",
    request_body = ScheduleRequest,
    params(("key" = String, Path), ("env" = String, Path), ("X-Audit-Comment" = Option<String>, Header)),
    responses((status = 201, body = ScheduledChange), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn schedule_change(edit: Editing<Path<(String, String)>, Body<ScheduleRequest>>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path((key, env)),
        body: Body(req),
        author,
        ..
    } = edit;
    let at = daylight::parse_rfc3339_ms(&req.at).ok_or_else(|| ApiError::invalid("at", "not an RFC 3339 time"))?;
    let change = crate::writes::schedule::create(&author.writer(), &key, &env, at, req.change).await?;
    Ok((StatusCode::CREATED, Json(change)))
}

/// Every scheduled change, by time, filtered by flag, environment or state.
#[utoipa::path(operation_id = "schedule_list", get, path = "/api/v1/scheduled-changes", tag = "releases", params(Filter),
    responses((status = 200, body = ScheduledChangeList), (status = 401, body = ErrorBody)))]
async fn list_changes(
    State(state): State<ReleaseState>,
    admin: Admin,
    Query(f): Query<Filter>,
) -> ApiResult<Json<ScheduledChangeList>> {
    admin.require(Role::Viewer)?;
    let changes = schedule::list(
        &state.db,
        f.flag.as_deref(),
        f.environment.as_deref(),
        f.state.as_deref(),
    )
    .await?;
    Ok(Json(ScheduledChangeList { changes }))
}

/// Cancels a pending scheduled change (409 once applied).
#[utoipa::path(operation_id = "schedule_cancel", delete, path = "/api/v1/scheduled-changes/{id}", tag = "releases",
    params(("id" = i64, Path)),
    responses((status = 200, body = ScheduledChange), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_change(edit: Editing<Path<i64>>) -> ApiResult<Json<ScheduledChange>> {
    let Editing {
        path: Path(id), author, ..
    } = edit;
    Ok(Json(crate::writes::schedule::cancel(&author.writer(), id).await?))
}
