//! `/sdk/v1/`: what server-key SDKs read over HTTP: the whole ruleset of
//! their environment, and the change log after a version.

use axum::extract::FromRef;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{KeyKind, SdkKey};
use crate::error::{ApiError, ApiResult};
use crate::state::SdkState;
use crate::store;
use crate::store::snapshot::read as snapshot;

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SdkState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
{
    Router::new()
        .route("/sdk/v1/ruleset", get(ruleset))
        .route("/sdk/v1/changes", get(changes))
}

fn server_only(key: &SdkKey) -> ApiResult<()> {
    match key.kind {
        KeyKind::Server => Ok(()),
        KeyKind::Client => Err(ApiError::Forbidden(
            "client keys cannot read rules; use a server key".into(),
        )),
    }
}

/// The environment's ruleset, with an `ETag` (its environment and version:
/// every change bumps the version), so a poller that sends `If-None-Match`
/// gets a bodiless 304 while nothing changed (the PHP SDK's `HttpSnapshot`).
async fn ruleset(State(state): State<SdkState>, key: SdkKey, headers: HeaderMap) -> ApiResult<Response> {
    server_only(&key)?;
    let doc = snapshot(&state.db, &key.environment).await?;
    let etag = format!("\"{}-{}\"", doc.environment, doc.version);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag));
    let etag_header = [(header::ETAG, etag)];
    Ok(if unchanged {
        (StatusCode::NOT_MODIFIED, etag_header).into_response()
    } else {
        (etag_header, Json(doc)).into_response()
    })
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ChangesQuery {
    pub after: i64,
}

async fn changes(State(state): State<SdkState>, key: SdkKey, Query(q): Query<ChangesQuery>) -> ApiResult<Json<Value>> {
    server_only(&key)?;
    let changes = store::changes_after(&state.db, &key.environment, q.after, 1000).await?;
    // The log is compacted (`DAYLIGHT_CHANGE_LOG_KEEP`): when it no longer
    // holds the version after `after`, a partial answer would be a silent
    // gap. 410 tells the SDK to read the ruleset instead.
    let current = state.live.get(&key.environment).map_or(0, |r| r.version() as i64);
    let gap = match changes.first() {
        Some(first) => first.version != q.after.saturating_add(1),
        None => q.after < current,
    };
    if gap {
        return Err(ApiError::Gone(format!(
            "the change log no longer holds version {}; read /sdk/v1/ruleset",
            q.after.saturating_add(1)
        )));
    }
    Ok(Json(json!({ "changes": changes })))
}
