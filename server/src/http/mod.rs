//! The HTTP surface: one router per resource, merged here, plus the layers
//! every request goes through (request ids, tracing, metrics, body limit,
//! JSON errors).

mod bundles;
mod environments;
pub mod extract;
mod flags;
mod health;
mod ofrep;
mod sdk;
mod segments;
mod stream;
mod tokens;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::ApiError;

/// The admin API's OpenAPI document: built from the same route list that
/// serves the API (`utoipa_axum::routes!`), so the two cannot drift apart.
#[derive(OpenApi)]
#[openapi(
    info(title = "Daylight admin API", description = "Flags, segments, environments, keys, tokens and the audit log. \
        Writes that replace a document need `If-Match` with the version you read (409 when stale). \
        Errors are `{\"error\", \"message\", \"field\"}`. OFREP lives under /ofrep/v1/ (its own spec)."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The admin API routes and their OpenAPI document.
pub fn admin_api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(flags::router())
        .merge(segments::router())
        .merge(environments::router())
        .merge(tokens::router())
        .merge(bundles::router())
        .split_for_parts()
}

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let (admin, doc) = admin_api();
    let doc = Arc::new(doc);
    Router::new()
        .merge(admin)
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .merge(ofrep::router())
        .merge(sdk::router())
        .merge(stream::router())
        .merge(health::router())
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Framework rejections (a bad path parameter, a wrong method, a malformed
/// query) come as plain text; clients get the same JSON error shape as for
/// everything else.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() || is_json || status == axum::http::StatusCode::NOT_MODIFIED {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    let code = match status.as_u16() {
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "too_large",
        415 => "unsupported_media_type",
        _ => "bad_request",
    };
    let body = serde_json::json!({ "error": code, "message": if message.is_empty() { status.to_string() } else { message }, "field": null });
    let mut out = (status, axum::Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("daylight_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("daylight_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}
