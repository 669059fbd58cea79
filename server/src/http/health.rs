//! `/healthz` (the process answers), `/readyz` (the database answers) and
//! Prometheus `/metrics`.

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::ObservabilityState;

/// Holds its own state: nothing here needs the caller's credentials.
pub fn router() -> Router<ObservabilityState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

async fn ready(State(state): State<ObservabilityState>) -> impl IntoResponse {
    if state.db.ping().await {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "database unreachable", "error": "unavailable",
                "message": "the database is unreachable; evaluation goes on from memory, writes wait" })),
        )
    }
}

/// Prometheus text: the recorder's metrics, then the bundle presence gauge
/// (rendered from the live counts, so series at zero are gone). With
/// `DAYLIGHT_METRICS_TOKEN` set, only for `Authorization: Bearer <token>`.
async fn metrics(State(state): State<ObservabilityState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token {
        let given = crate::auth::bearer(&headers).unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            let mut response = ApiError::Unauthorized.into_response();
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    let mut body = state.metrics.render();
    state.presence.render(&mut body);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
