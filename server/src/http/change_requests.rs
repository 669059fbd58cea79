//! `/api/v1/change-requests`: four-eyes changes where an environment
//! requires approvals (a flag's config, a segment's keys and rules, an app's
//! bundle config or a publish, a release plan's start, resume or skip),
//! optionally scheduled (`apply_at`), and `/api/v1/environments/{env}/approvals`
//! (how many). See docs/people.md.

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{parse_json, Body};
use crate::auth::{Admin, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AdminState;
use crate::store::bundles::Publish;
use crate::store::change_requests::{self as rows, ChangeRequest, Review};
use crate::store::environments;
use crate::store::flags::{self, config_for};
use crate::writes::change_requests::{self as requests, Proposed, Subject};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, open))
        .routes(routes!(read, revise))
        .routes(routes!(review))
        .routes(routes!(apply))
        .routes(routes!(read_approvals, set_approvals))
}

/// A proposal names exactly one of `flag`, `segment`, `app` or `release`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct Proposal {
    /// A flag: `config` is its whole config in the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// A segment: `config` is its `included` and `excluded` keys and `rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// An app's bundle: `config` is its whole bundle config, or `publish`
    /// what `POST …/apps/{app}/publish` takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// A release plan (its id): `config` is `{"command": "start"}`,
    /// `"resume"` or `"skip"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<i64>,
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<Publish>,
    #[serde(default)]
    pub comment: String,
    /// The version of what it changes that the proposer read (a flag's, a
    /// segment's, an app's bundle config's, a release plan's): 409 when it
    /// has moved since, so a request never silently undoes a newer change.
    /// Without it, the request is against the version current now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_version: Option<i64>,
    /// When to apply it (RFC 3339, in the future): the server applies it
    /// then if it is approved by then, and marks it `expired` otherwise.
    /// Without it, someone applies it once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_at: Option<String>,
}

/// Reads an `apply_at` time (RFC 3339) as Unix ms.
fn apply_at(at: Option<&str>) -> ApiResult<Option<i64>> {
    at.map(|at| daylight::parse_rfc3339_ms(at).ok_or_else(|| ApiError::invalid("apply_at", "not an RFC 3339 time")))
        .transpose()
}

/// Reads a proposed document as `subject`'s: errors name the field under
/// `config`, unknown fields included.
fn proposed(subject: Subject, config: Value) -> ApiResult<Proposed> {
    let bytes = serde_json::to_vec(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    let under_config = |e: ApiError| match e {
        ApiError::Invalid { code, message, field } => ApiError::Invalid {
            code,
            message,
            field: Some(match field.as_deref() {
                None | Some("") => "config".into(),
                Some(f) => format!("config.{f}"),
            }),
        },
        e => e,
    };
    match subject {
        Subject::Flag => parse_json(&bytes).map(Proposed::Flag),
        Subject::Segment => parse_json(&bytes).map(Proposed::Segment),
        Subject::Bundle => parse_json(&bytes).map(Proposed::Bundle),
        Subject::Release => parse_json(&bytes).map(Proposed::Release),
    }
    .map_err(under_config)
}

/// Proposes a change in one environment (editor there): a flag's config, a
/// segment's keys and rules, an app's bundle config or a publish, a release
/// plan's start, resume or skip; with `apply_at`, scheduled.
#[utoipa::path(operation_id = "change_requests_open", post, path = "/api/v1/change-requests", tag = "change requests",
    request_body = Proposal, responses((status = 201, body = ChangeRequest), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn open(
    State(state): State<AdminState>,
    admin: Admin,
    Body(req): Body<Proposal>,
) -> ApiResult<impl IntoResponse> {
    admin.require_somewhere(Role::Editor)?;
    let actor = admin.actor();
    let w = state.writer(&actor, "").by(&admin);
    let (subject, key) = match (req.flag, req.segment, req.app, req.release) {
        (Some(key), None, None, None) => (Subject::Flag, key),
        (None, Some(key), None, None) => (Subject::Segment, key),
        (None, None, Some(key), None) => (Subject::Bundle, key),
        (None, None, None, Some(id)) => (Subject::Release, id.to_string()),
        _ => {
            return Err(ApiError::invalid(
                "flag",
                "name exactly one of `flag`, `segment`, `app` or `release`",
            ))
        }
    };
    let apply_at = apply_at(req.apply_at.as_deref())?;
    let proposal = match (subject, req.config, req.publish) {
        (_, Some(config), None) => proposed(subject, config)?,
        (Subject::Bundle, None, Some(publish)) => {
            let (_, config) = crate::writes::bundles::published(&w, &key, &req.environment, &publish).await?;
            Proposed::Bundle(config)
        }
        (_, None, None) => return Err(ApiError::invalid("config", "say what to propose: the whole config")),
        _ => {
            return Err(ApiError::invalid(
                "publish",
                "`publish` goes with `app`, instead of `config`",
            ))
        }
    };
    let request = requests::open(
        &w,
        &key,
        &req.environment,
        proposal,
        &req.comment,
        apply_at,
        req.base_version,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open`, `applied`, `rejected`, `expired`, `failed`.
    pub state: Option<String>,
    /// Only requests with an id below this: the next page is
    /// `before_id=` the previous page's `next_before_id`.
    pub before_id: Option<i64>,
    /// At most this many (1 to 500; 500 when unset).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestList {
    /// Newest first.
    pub change_requests: Vec<ChangeRequest>,
    /// Set when there are older requests: pass it as `before_id`.
    pub next_before_id: Option<i64>,
}

/// Change requests, newest first (an inbox: `?state=open`), a page at a
/// time (`limit`, `before_id`).
#[utoipa::path(operation_id = "change_requests_list", get, path = "/api/v1/change-requests", tag = "change requests",
    params(ListQuery), responses((status = 200, body = RequestList), (status = 400, body = ErrorBody)))]
async fn list(
    State(state): State<AdminState>,
    _admin: Admin,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<RequestList>> {
    let size = super::paging::size(q.limit)?;
    let mut change_requests = rows::list(&state.db, q.state.as_deref(), q.before_id, size + 1).await?;
    let next_before_id = super::paging::cut(&mut change_requests, size, |r| r.id);
    Ok(Json(RequestList {
        change_requests,
        next_before_id,
    }))
}

/// One request with what a reviewer needs: the current config next to the
/// proposed one, the reviews, and who approved the current revision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    #[serde(flatten)]
    pub request: ChangeRequest,
    /// The subject's document in the environment now (a flag's config, a
    /// segment's keys and rules, an app's bundle config, a release plan's
    /// progress).
    #[schema(value_type = Object)]
    pub current: Option<serde_json::Value>,
    /// The subject's version now: when it differs from `base_version`, the
    /// request can no longer apply.
    pub current_version: Option<i64>,
    pub reviews: Vec<Review>,
    /// People other than the author who approved the current revision.
    pub approved_by: Vec<String>,
    pub approvals_required: i64,
}

#[utoipa::path(operation_id = "change_requests_read", get, path = "/api/v1/change-requests/{id}", tag = "change requests",
    params(("id" = i64, Path)), responses((status = 200, body = RequestView), (status = 404, body = ErrorBody)))]
async fn read(State(state): State<AdminState>, _admin: Admin, Path(id): Path<i64>) -> ApiResult<Json<RequestView>> {
    let request = rows::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("change request {id}")))?;
    let reviews = rows::reviews(&state.db, id).await?;
    let (db, key, env) = (&state.db, request.key.as_str(), request.environment.as_str());
    // The subject now (none when it is gone): its document and version.
    let current = match requests::subject_of(&request)? {
        Subject::Flag => flags::get(db, key)
            .await
            .ok()
            .map(|s| (serde_json::to_value(config_for(&s.flag, env)), s.version)),
        Subject::Segment => crate::store::segments::get(db, env, key).await.ok().map(|s| {
            let version = s.rules.version as i64;
            (serde_json::to_value(s.rules), version)
        }),
        Subject::Bundle => crate::store::bundles::get(db, key, env)
            .await
            .ok()
            .map(|b| (serde_json::to_value(&b.config), b.version)),
        Subject::Release => match key.parse::<i64>() {
            Ok(id) => crate::store::releases::get(db, id)
                .await
                .ok()
                .map(|p| (serde_json::to_value(&p.progress), p.version)),
            Err(_) => None,
        },
    };
    Ok(Json(RequestView {
        current: current.as_ref().and_then(|(doc, _)| doc.as_ref().ok().cloned()),
        current_version: current.map(|(_, version)| version),
        approved_by: requests::approvals(&request, &reviews),
        approvals_required: environments::approvals_required(&state.db.pool, &request.environment).await?,
        reviews,
        request,
    }))
}

/// A new revision replaces the proposal (when `config` is given), the
/// comment and the time: leaving `apply_at` out unschedules the request.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct Revision {
    /// The whole document proposed instead, of the request's subject
    /// (left out: the current proposal stays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Left out: the current comment stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When to apply it (RFC 3339, in the future); see `Proposal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_at: Option<String>,
}

/// The author edits an open request (its proposal, comment or time): a new
/// revision, and approvals of the earlier one no longer count.
#[utoipa::path(operation_id = "change_requests_revise", put, path = "/api/v1/change-requests/{id}", tag = "change requests",
    params(("id" = i64, Path)), request_body = Revision,
    responses((status = 200, body = ChangeRequest), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revise(
    State(state): State<AdminState>,
    admin: Admin,
    Path(id): Path<i64>,
    Body(req): Body<Revision>,
) -> ApiResult<Json<ChangeRequest>> {
    admin.require_somewhere(Role::Editor)?;
    let request = rows::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("change request {id}")))?;
    let subject = requests::subject_of(&request)?;
    let proposal = req.config.map(|config| proposed(subject, config)).transpose()?;
    let apply_at = apply_at(req.apply_at.as_deref())?;
    let actor = admin.actor();
    let w = state.writer(&actor, "").by(&admin);
    Ok(Json(
        requests::revise(&w, id, proposal, req.comment.as_deref(), apply_at).await?,
    ))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ReviewRequest {
    /// `approve`, `reject` or `comment`.
    pub verdict: String,
    #[serde(default)]
    pub comment: String,
}

/// Approves, rejects or comments on the current revision (editor; authors
/// cannot approve their own).
#[utoipa::path(operation_id = "change_requests_review", post, path = "/api/v1/change-requests/{id}/reviews", tag = "change requests",
    params(("id" = i64, Path)), request_body = ReviewRequest,
    responses((status = 200, body = ChangeRequest), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn review(
    State(state): State<AdminState>,
    admin: Admin,
    Path(id): Path<i64>,
    Body(req): Body<ReviewRequest>,
) -> ApiResult<Json<ChangeRequest>> {
    admin.require_somewhere(Role::Editor)?;
    let actor = admin.actor();
    Ok(Json(
        requests::review(&state.writer(&actor, "").by(&admin), id, &req.verdict, &req.comment).await?,
    ))
}

/// Applies an approved request onto the version it was proposed against
/// (409 when it lacks approvals, the subject changed since, or it is
/// scheduled: the server applies those at their time), once.
#[utoipa::path(operation_id = "change_requests_apply", post, path = "/api/v1/change-requests/{id}/apply", tag = "change requests",
    params(("id" = i64, Path)), responses((status = 200, body = ChangeRequest), (status = 409, body = ErrorBody)))]
async fn apply(State(state): State<AdminState>, admin: Admin, Path(id): Path<i64>) -> ApiResult<Json<ChangeRequest>> {
    admin.require_somewhere(Role::Editor)?;
    let actor = admin.actor();
    Ok(Json(requests::apply(&state.writer(&actor, "").by(&admin), id).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Approvals {
    /// Approvals a change here (a flag's config, a segment, a bundle, a
    /// release plan's start, resume or skip) needs (0: direct).
    pub required: i64,
}

#[utoipa::path(operation_id = "environments_read_approvals", get, path = "/api/v1/environments/{env}/approvals", tag = "environments",
    params(("env" = String, Path)), responses((status = 200, body = Approvals), (status = 404, body = ErrorBody)))]
async fn read_approvals(
    State(state): State<AdminState>,
    _admin: Admin,
    Path(env): Path<String>,
) -> ApiResult<Json<Approvals>> {
    Ok(Json(Approvals {
        required: environments::approvals_required(&state.db.pool, &env).await?,
    }))
}

/// Sets how many approvals changes in the environment need (admin).
#[utoipa::path(operation_id = "environments_set_approvals", put, path = "/api/v1/environments/{env}/approvals", tag = "environments",
    params(("env" = String, Path)), request_body = Approvals,
    responses((status = 200, body = Approvals), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_approvals(
    State(state): State<AdminState>,
    admin: Admin,
    Path(env): Path<String>,
    Body(req): Body<Approvals>,
) -> ApiResult<Json<Approvals>> {
    admin.require(Role::Admin)?;
    if !(0..=10).contains(&req.required) {
        return Err(ApiError::invalid("required", "between 0 (direct changes) and 10"));
    }
    let actor = admin.actor();
    crate::writes::environments::set_approvals(&state.writer(&actor, ""), &env, req.required).await?;
    Ok(Json(req))
}
