//! `/api/v1/environments/{env}/segments`: cohorts, including bulk key lists.

use axum::extract::{Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::{Json, Router};
use daylight::model::SegmentRule;
use daylight::SegmentRules;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::extract::{etag, parse_json, read_body, Body, Comment, IfMatch};
use crate::app::AppState;
use crate::auth::{Admin, Role};
use crate::error::{ApiError, ApiResult};
use crate::store::segments::{self, SegmentSummary, StoredSegment};
use crate::store::Writer;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/environments/{env}/segments", get(list).post(create))
        .route(
            "/api/v1/environments/{env}/segments/{key}",
            get(read).patch(update).delete(remove),
        )
        .route(
            "/api/v1/environments/{env}/segments/{key}/included",
            put(replace_included),
        )
        .route(
            "/api/v1/environments/{env}/segments/{key}/excluded",
            put(replace_excluded),
        )
}

async fn list(State(state): State<AppState>, admin: Admin, Path(env): Path<String>) -> ApiResult<Json<Value>> {
    admin.require(Role::Viewer)?;
    crate::store::environments::get(&state.db, &env).await?;
    let in_use = state.live.get(&env);
    let summaries: Vec<Value> = segments::list(&state.db, &env)
        .await?
        .into_iter()
        .map(|s| {
            let used = in_use
                .as_ref()
                .is_some_and(|r| r.segments_in_use().contains(s.key.as_str()));
            let summary = SegmentSummary {
                included_count: s.rules.included.len(),
                excluded_count: s.rules.excluded.len(),
                rule_count: s.rules.rules.len(),
                version: s.rules.version,
                key: s.key,
                name: s.name,
                description: s.description,
            };
            let mut v = serde_json::to_value(summary).unwrap_or_default();
            v["in_use"] = json!(used);
            v
        })
        .collect();
    Ok(Json(json!({ "segments": summaries })))
}

#[derive(Debug, Deserialize, Serialize)]
pub struct CreateSegment {
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub included: Vec<String>,
    #[serde(default)]
    pub excluded: Vec<String>,
    #[serde(default)]
    pub rules: Vec<SegmentRule>,
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(env): Path<String>,
    Comment(comment): Comment,
    Body(req): Body<CreateSegment>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Editor)?;
    if req.key.is_empty() || !req.key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ApiError::invalid(
            "key",
            "a segment key is one or more of A-Z a-z 0-9 - _ .",
        ));
    }
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
    let actor = admin.actor();
    let stored = segments::create(
        &Writer {
            db: &state.db,
            live: &state.live,
            actor: &actor,
            comment: &comment,
        },
        segment,
    )
    .await?;
    Ok((StatusCode::CREATED, etag(stored.rules.version as i64), Json(stored)))
}

async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path((env, key)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Viewer)?;
    let stored = segments::get(&state.db, &env, &key).await?;
    Ok((etag(stored.rules.version as i64), Json(stored)))
}

#[derive(Debug, Deserialize, Serialize, Default)]
pub struct UpdateSegment {
    pub name: Option<String>,
    pub description: Option<String>,
    pub included: Option<Vec<String>>,
    pub excluded: Option<Vec<String>>,
    pub rules: Option<Vec<SegmentRule>>,
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path((env, key)): Path<(String, String)>,
    if_match: IfMatch,
    Comment(comment): Comment,
    Body(req): Body<UpdateSegment>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Editor)?;
    let expected = if_match.required()?;
    let actor = admin.actor();
    let stored = segments::update(
        &Writer {
            db: &state.db,
            live: &state.live,
            actor: &actor,
            comment: &comment,
        },
        &env,
        &key,
        Some(expected),
        "segment.update",
        |s| {
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
        },
    )
    .await?;
    Ok((etag(stored.rules.version as i64), Json(stored)))
}

async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Path((env, key)): Path<(String, String)>,
    Comment(comment): Comment,
) -> ApiResult<StatusCode> {
    admin.require(Role::Editor)?;
    let actor = admin.actor();
    segments::delete(
        &Writer {
            db: &state.db,
            live: &state.live,
            actor: &actor,
            comment: &comment,
        },
        &env,
        &key,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A key list: a JSON array of strings, or text with one key per line.
async fn key_list(req: Request, state: &AppState) -> ApiResult<Vec<String>> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = read_body(req, state).await?;
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
    Ok(keys)
}

async fn replace_keys(
    state: AppState,
    admin: Admin,
    (env, key): (String, String),
    expected: Option<i64>,
    comment: String,
    req: Request,
    included: bool,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Editor)?;
    let keys = key_list(req, &state).await?;
    let actor = admin.actor();
    let action = if included {
        "segment.included"
    } else {
        "segment.excluded"
    };
    let stored = segments::update(
        &Writer {
            db: &state.db,
            live: &state.live,
            actor: &actor,
            comment: &comment,
        },
        &env,
        &key,
        expected,
        action,
        |s| {
            if included {
                s.rules.included = keys;
            } else {
                s.rules.excluded = keys;
            }
            Ok(())
        },
    )
    .await?;
    let summary = json!({
        "key": stored.key,
        "version": stored.rules.version,
        "included_count": stored.rules.included.len(),
        "excluded_count": stored.rules.excluded.len(),
    });
    Ok((etag(stored.rules.version as i64), Json(summary)))
}

/// Replaces the included keys (bulk upload; 100,000 keys is fine).
async fn replace_included(
    State(state): State<AppState>,
    admin: Admin,
    Path((env, key)): Path<(String, String)>,
    IfMatch(expected): IfMatch,
    Comment(comment): Comment,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    replace_keys(state, admin, (env, key), expected, comment, req, true).await
}

async fn replace_excluded(
    State(state): State<AppState>,
    admin: Admin,
    Path((env, key)): Path<(String, String)>,
    IfMatch(expected): IfMatch,
    Comment(comment): Comment,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    replace_keys(state, admin, (env, key), expected, comment, req, false).await
}
