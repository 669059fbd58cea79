//! The HTTP surface: one router per resource, merged here, plus the layers
//! every request goes through (request ids, tracing, metrics, body limit,
//! JSON errors).
//!
//! Handlers take their area's narrow state (`crate::state`): `AdminState`,
//! `ReleaseState`, `KeyState`, `BundleState`, `SdkState`. Their routers are
//! still `Router<AppState>` because the credential extractors (`auth::Admin`,
//! `auth::SdkKey`) read `AppState`; a router whose handlers need no
//! credentials holds its own state (`health`) or none (`console`). OFREP,
//! routing and streams serve on `AppState` (see `crate::state`).

pub(crate) mod bundles;
pub(crate) mod change_requests;
pub(crate) mod cohorts;
mod console;
mod direct;
pub(crate) mod environments;
mod explain;
pub mod extract;
pub(crate) mod flagfile;
pub(crate) mod flags;
pub(crate) mod freezes;
mod health;
mod observe;
mod ofrep;
mod ofrep_bulk;
pub(crate) mod oidc;
pub mod origin;
mod paging;
pub(crate) mod people;
mod planned;
pub(crate) mod promote;
mod receipts;
pub(crate) mod releases;
mod route;
pub use route::RouteIds;
mod sdk;
pub(crate) mod segments;
mod served;
pub(crate) mod stream;
pub(crate) mod tokens;
mod usage;
mod webhooks;
pub mod workers;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::response::Response;

use axum::routing::get;
use axum::{Json, Router};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::{AppState, ObservabilityState};

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
        .merge(explain::router())
        .merge(flagfile::router())
        .merge(promote::router())
        .merge(segments::router())
        .merge(environments::router())
        .merge(tokens::router())
        .merge(people::router())
        .merge(oidc::router())
        .merge(freezes::router())
        .merge(change_requests::router())
        .merge(bundles::router())
        .merge(cohorts::router())
        .merge(releases::router())
        .merge(usage::router())
        .merge(receipts::router())
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
    const COMMON: [(&str, &str); 8] = [
        (
            "400",
            "The request is malformed or invalid (`field` names the offending part)",
        ),
        ("401", "Missing or unknown credentials"),
        ("403", "The token's role does not allow this"),
        ("404", "No such resource"),
        ("413", "The body is larger than the configured limit"),
        ("415", "The body is not JSON"),
        (
            "429",
            "Too many wrong credentials or failed sign-ins from this address; retry after `Retry-After`",
        ),
        ("503", "The database is unreachable; retry shortly"),
    ];
    // Writes may also meet a concurrent write (optimistic concurrency), or
    // an environment in a freeze window.
    const WRITE: [(&str, &str); 2] = [
        ("409", "A concurrent write changed it first, or it already exists"),
        (
            "423",
            "The environment is in a freeze window: only turning flags off goes through (`frozen`)",
        ),
    ];
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

/// The whole HTTP surface as one service. Routes first, each labelled with
/// its template for the metrics; the OFREP evaluations answered before them
/// (`direct`); then the layers every request goes through, wrapped around
/// both once (see `observe`).
pub fn router(
    state: AppState,
    max_body_bytes: usize,
) -> impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future = impl Send + 'static>
       + Clone
       + Send
       + Sync
       + 'static {
    let (admin, doc) = admin_api();
    let doc = Arc::new(doc);
    let routes = Router::new()
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
        .merge(health::router().with_state(ObservabilityState::from_ref(&state)))
        .merge(console::router())
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .layer(tower::layer::layer_fn(observe::Labelled))
        .with_state(state.clone());
    let routes = tower::ServiceBuilder::new()
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .service(routes);
    let trace = request_spans().then(|| {
        let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
        });
        // The same response type with or without the layer.
        tower::ServiceBuilder::new()
            .map_response(axum::response::IntoResponse::into_response)
            .layer(trace)
    });
    tower::ServiceBuilder::new()
        .layer(observe::Observe::layer(trace.is_some()))
        .option_layer(trace)
        .service(direct::Direct::new(state, routes))
}

/// Spans and request events are only built when INFO is enabled: with
/// `RUST_LOG=warn` the layer would do its work for nothing.
fn request_spans() -> bool {
    tracing::level_filters::LevelFilter::current() >= tracing::Level::INFO
}

/// What answers OFREP evaluations as they come off a connection
/// (`workers::serve`), ahead of [`router`]'s stack: only when there are no
/// request spans, which live in that stack.
pub fn evaluations(state: &AppState) -> Option<direct::Evaluations> {
    (!request_spans()).then(|| direct::Evaluations::new(state.clone()))
}

/// What an SDK key is told of a failed prerequisite: its key, to server
/// keys only. A client key is public, and the prerequisite may be a flag
/// that is not `client_side`. The one rule for OFREP metadata and the
/// stream's `values` alike.
pub(crate) fn disclosed_prerequisite<'a>(reason: &daylight::Reason<'a>, kind: crate::auth::KeyKind) -> Option<&'a str> {
    match *reason {
        daylight::Reason::PrerequisiteFailed { prerequisite_key } if kind == crate::auth::KeyKind::Server => {
            Some(prerequisite_key)
        }
        _ => None,
    }
}
