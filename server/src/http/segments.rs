//! `/api/v1/environments/{env}/segments`: cohorts, including bulk key lists.

use axum::extract::FromRef;
use axum::extract::{Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use daylight::model::SegmentRule;
use daylight::SegmentRules;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{etag, parse_json, read_body, Body, Editing};
use crate::auth::{Admin, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::limits::{check_length, DESCRIPTION_CHARS, KEY_CHARS, NAME_CHARS};
use crate::state::{AdminState, BodyLimit};
use crate::store::segments::{self, SegmentSummary, StoredSegment};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(replace_included))
        .routes(routes!(replace_excluded))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct SegmentList {
    pub segments: Vec<SegmentListItem>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct SegmentListItem {
    #[serde(flatten)]
    pub summary: SegmentSummary,
    /// Whether a flag rule refers to it (then it cannot be deleted).
    pub in_use: bool,
}

/// Segments of an environment, with sizes instead of their key lists.
#[utoipa::path(operation_id = "segments_list", get, path = "/api/v1/environments/{env}/segments", tag = "segments", params(("env" = String, Path)),
    responses((status = 200, body = SegmentList), (status = 404, body = ErrorBody)))]
async fn list(State(state): State<AdminState>, admin: Admin, Path(env): Path<String>) -> ApiResult<Json<SegmentList>> {
    admin.require(Role::Viewer)?;
    crate::store::environments::get(&state.db, &env).await?;
    let in_use = state.live.get(&env);
    let segments = segments::list(&state.db, &env)
        .await?
        .into_iter()
        .map(|s| SegmentListItem {
            in_use: in_use
                .as_ref()
                .is_some_and(|r| r.segments_in_use().contains(s.key.as_str())),
            summary: SegmentSummary {
                included_count: s.rules.included.len(),
                excluded_count: s.rules.excluded.len(),
                rule_count: s.rules.rules.len(),
                version: s.rules.version,
                key: s.key,
                name: s.name,
                description: s.description,
            },
        })
        .collect();
    Ok(Json(SegmentList { segments }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateSegment {
    #[schema(max_length = 100)]
    pub key: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    #[serde(default)]
    pub included: Vec<String>,
    #[serde(default)]
    pub excluded: Vec<String>,
    #[serde(default)]
    pub rules: Vec<SegmentRule>,
}

#[utoipa::path(operation_id = "segments_create", post, path = "/api/v1/environments/{env}/segments", tag = "segments", request_body = CreateSegment,
    params(("env" = String, Path)),
    responses((status = 201, body = StoredSegment), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(edit: Editing<Path<String>, Body<CreateSegment>>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path(env),
        body: Body(req),
        author,
        ..
    } = edit;
    check_length("key", &req.key, KEY_CHARS)?;
    check_length("name", &req.name, NAME_CHARS)?;
    check_length("description", &req.description, DESCRIPTION_CHARS)?;
    crate::limits::check_key_shape("key", &req.key, "a segment")?;
    let segment = StoredSegment {
        environment: env,
        name: if req.name.is_empty() { req.key.clone() } else { req.name },
        key: req.key,
        description: req.description,
        rules: SegmentRules {
            included: req.included,
            excluded: req.excluded,
            rules: req.rules,
            version: 0,
        },
        created_at: 0,
        updated_at: 0,
    };
    let stored = crate::writes::segments::create(&author.writer(), segment).await?;
    Ok((StatusCode::CREATED, etag(stored.rules.version as i64), Json(stored)))
}

#[utoipa::path(operation_id = "segments_read", get, path = "/api/v1/environments/{env}/segments/{key}", tag = "segments",
    params(("env" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = StoredSegment), (status = 404, body = ErrorBody)))]
async fn read(
    State(state): State<AdminState>,
    admin: Admin,
    Path((env, key)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Viewer)?;
    let stored = segments::get(&state.db, &env, &key).await?;
    Ok((etag(stored.rules.version as i64), Json(stored)))
}

#[derive(Debug, Deserialize, Serialize, Default, ToSchema)]
pub struct UpdateSegment {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    pub included: Option<Vec<String>>,
    pub excluded: Option<Vec<String>>,
    pub rules: Option<Vec<SegmentRule>>,
}

/// Edits a segment; needs `If-Match`.
#[utoipa::path(operation_id = "segments_update", patch, path = "/api/v1/environments/{env}/segments/{key}", tag = "segments", request_body = UpdateSegment,
    params(("env" = String, Path), ("key" = String, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = StoredSegment), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn update(edit: Editing<Path<(String, String)>, Body<UpdateSegment>, i64>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path((env, key)),
        body: Body(req),
        expected,
        author,
        ..
    } = edit;
    if let Some(name) = &req.name {
        check_length("name", name, NAME_CHARS)?;
    }
    if let Some(description) = &req.description {
        check_length("description", description, DESCRIPTION_CHARS)?;
    }
    let stored = crate::writes::segments::update(&author.writer(), &env, &key, Some(expected), "segment.update", |s| {
        if let Some(v) = req.name {
            s.name = v;
        }
        if let Some(v) = req.description {
            s.description = v;
        }
        if let Some(v) = req.included {
            s.rules.included = v;
        }
        if let Some(v) = req.excluded {
            s.rules.excluded = v;
        }
        if let Some(v) = req.rules {
            s.rules.rules = v;
        }
        Ok(())
    })
    .await?;
    Ok((etag(stored.rules.version as i64), Json(stored)))
}

/// Deletes a segment no flag uses.
#[utoipa::path(operation_id = "segments_remove", delete, path = "/api/v1/environments/{env}/segments/{key}", tag = "segments",
    params(("env" = String, Path), ("key" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove(edit: Editing<Path<(String, String)>>) -> ApiResult<StatusCode> {
    let Editing {
        path: Path((env, key)),
        author,
        ..
    } = edit;
    crate::writes::segments::delete(&author.writer(), &env, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct KeysReplaced {
    pub key: String,
    pub version: u64,
    pub included_count: usize,
    pub excluded_count: usize,
}

/// A key list: a JSON array of strings, or text with one key per line.
async fn key_list(req: Request, limit: BodyLimit) -> ApiResult<Vec<String>> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = read_body(req.into_body(), limit).await?;
    let keys: Vec<String> = if is_json {
        parse_json(&bytes)?
    } else {
        std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::bad_request("bad_body", "the key list is not UTF-8 text"))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    if let Some(i) = keys.iter().position(String::is_empty) {
        return Err(ApiError::invalid(format!("[{i}]"), "a key cannot be empty"));
    }
    // A key listed twice (after trimming, for text) is kept once, first place.
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    let mut keys = keys;
    keys.retain(|k| seen.insert(k.clone()));
    Ok(keys)
}

/// The key list is read after the role check (`Editing` hands over the
/// request as it is), so a viewer's upload is refused before it is read.
async fn replace_keys(
    limit: BodyLimit,
    edit: Editing<Path<(String, String)>, Request, Option<i64>>,
    included: bool,
) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path((env, key)),
        body: req,
        expected,
        author,
        ..
    } = edit;
    let keys = key_list(req, limit).await?;
    let action = if included {
        "segment.included"
    } else {
        "segment.excluded"
    };
    let stored = crate::writes::segments::update(&author.writer(), &env, &key, expected, action, |s| {
        if included {
            s.rules.included = keys;
        } else {
            s.rules.excluded = keys;
        }
        Ok(())
    })
    .await?;
    let summary = KeysReplaced {
        version: stored.rules.version,
        included_count: stored.rules.included.len(),
        excluded_count: stored.rules.excluded.len(),
        key: stored.key,
    };
    Ok((etag(stored.rules.version as i64), Json(summary)))
}

/// Replaces the included keys (bulk upload; 100,000 keys is fine): a JSON
/// array of strings, or text with one key per line.
#[utoipa::path(operation_id = "segments_replace_included", put, path = "/api/v1/environments/{env}/segments/{key}/included", tag = "segments",
    request_body(content = Vec<String>, content_type = "application/json"),
    params(("env" = String, Path), ("key" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = KeysReplaced), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn replace_included(
    State(limit): State<BodyLimit>,
    edit: Editing<Path<(String, String)>, Request, Option<i64>>,
) -> ApiResult<impl IntoResponse> {
    replace_keys(limit, edit, true).await
}

/// Replaces the excluded keys (same body as `included`).
#[utoipa::path(operation_id = "segments_replace_excluded", put, path = "/api/v1/environments/{env}/segments/{key}/excluded", tag = "segments",
    request_body(content = Vec<String>, content_type = "application/json"),
    params(("env" = String, Path), ("key" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = KeysReplaced), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn replace_excluded(
    State(limit): State<BodyLimit>,
    edit: Editing<Path<(String, String)>, Request, Option<i64>>,
) -> ApiResult<impl IntoResponse> {
    replace_keys(limit, edit, false).await
}
