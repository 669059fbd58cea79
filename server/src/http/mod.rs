//! The HTTP surface: one router per resource, merged here, plus the layers
//! every request goes through (request ids, tracing, metrics, body limit,
//! JSON errors).

mod bundles;
mod console;
mod environments;
pub mod extract;
mod flags;
mod health;
mod ofrep;
mod releases;
mod route;
mod sdk;
mod segments;
mod stream;
mod tokens;
mod usage;
mod webhooks;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
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
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(flags::router())
        .merge(segments::router())
        .merge(environments::router())
        .merge(tokens::router())
        .merge(bundles::router())
        .merge(releases::router())
        .merge(usage::router())
        .merge(webhooks::router())
        .split_for_parts();
    let mut doc = doc;
    add_common_errors(&mut doc);
    (router, doc)
}

/// Answers every operation may give besides its own: bad input, missing
/// credentials, a role too weak, an unknown resource, a body too large, the
/// database unreachable. Documented once here rather than on each route.
fn add_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    const COMMON: [(&str, &str); 7] = [
        (
            "400",
            "The request is malformed or invalid (`field` names the offending part)",
        ),
        ("401", "Missing or unknown credentials"),
        ("403", "The token's role does not allow this"),
        ("404", "No such resource"),
        ("413", "The body is larger than the configured limit"),
        ("415", "The body is not JSON"),
        ("503", "The database is unreachable; retry shortly"),
    ];
    // Writes may also meet a concurrent write (optimistic concurrency).
    const WRITE: [(&str, &str); 1] = [("409", "A concurrent write changed it first, or it already exists")];
    for item in doc.paths.paths.values_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.delete, true),
            (&mut item.patch, true),
        ];
        for (operation, write) in operations {
            let Some(operation) = operation else { continue };
            let extra: &[(&str, &str)] = if write { &WRITE } else { &[] };
            for &(status, description) in COMMON.iter().chain(extra) {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(description)
                                .content(
                                    "application/json",
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                                        .build(),
                                )
                                .build(),
                        )
                    });
            }
        }
    }
}

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let (admin, doc) = admin_api();
    let doc = Arc::new(doc);
    let mut router = Router::new()
        .merge(admin)
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .merge(ofrep::router(state.origins.clone()))
        .merge(route::router())
        .merge(sdk::router())
        .merge(usage::sdk_router())
        .merge(stream::router())
        .merge(health::router())
        .merge(console::router())
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(max_body_bytes));
    // Spans and request events are only built when INFO is enabled: with
    // `RUST_LOG=warn` the layer would do its work for nothing.
    if tracing::level_filters::LevelFilter::current() >= tracing::Level::INFO {
        router = router.layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
        }));
    }
    router = router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(FastRequestId));
    router.with_state(state)
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
        .map_or("unmatched", |p| intern(p.as_str()));
    let method = method_label(req.method());
    let response = next.run(req).await;
    let status = status_label(response.status());
    metrics::counter!("daylight_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("daylight_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Route templates as `&'static str` labels, so recording a metric allocates
/// nothing. The set is bounded: one entry per route of the router.
fn intern(route: &str) -> &'static str {
    use std::sync::{OnceLock, RwLock};
    static ROUTES: OnceLock<RwLock<foldhash::HashMap<String, &'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(found) = routes.read().unwrap_or_else(|e| e.into_inner()).get(route) {
        return found;
    }
    let mut write = routes.write().unwrap_or_else(|e| e.into_inner());
    write
        .entry(route.to_owned())
        .or_insert_with(|| Box::leak(route.to_owned().into_boxed_str()))
}

fn method_label(method: &axum::http::Method) -> metrics::SharedString {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    const NAMES: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    match known.iter().position(|m| m == method) {
        Some(i) => metrics::SharedString::const_str(NAMES[i]),
        None => metrics::SharedString::from(method.to_string()),
    }
}

fn status_label(status: axum::http::StatusCode) -> metrics::SharedString {
    let name = match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        412 => "412",
        413 => "413",
        415 => "415",
        428 => "428",
        500 => "500",
        503 => "503",
        other => return metrics::SharedString::from(other.to_string()),
    };
    metrics::SharedString::const_str(name)
}

/// `x-request-id` values shaped like UUID v4, from the thread-local RNG:
/// tower-http's `MakeRequestUuid` asks the kernel (`getrandom`) on every
/// request.
#[derive(Clone, Copy, Default)]
struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        use rand::Rng;
        let bits: u128 =
            rand::rng().random::<u128>() & 0xFFFF_FFFF_FFFF_4FFF_BFFF_FFFF_FFFF_FFFF | 0x4000_8000_0000_0000_0000;
        let hex = format!("{bits:032x}");
        let id = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        axum::http::HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}
