//! The OFREP evaluation endpoints, answered before the router.
//!
//! On a busy node nearly every request is an evaluation, and axum's routing
//! spent about two fifths of such a request's instructions: matching the
//! path, storing the captured parameter and the matched path in the
//! request, and cloning the route's boxed service with its layers
//! (docs/benchmarks.md, "Seventh session"). So a POST to one of the two
//! evaluation paths goes straight to [`ofrep::evaluate`] with the CORS
//! headers the OFREP routes' layer gives it; every other request, including
//! the other methods on those paths (preflights, 405s), goes to the router.
//! The router's two evaluation routes call the same function, so the answer
//! is the same either way.
//!
//! Two places do this. Where connections are served by `super::workers`
//! and no request span is wanted (below INFO), [`Evaluations::observed`]
//! takes the request as hyper hands it over, before the tower stack, and
//! does what `super::observe` does for every other request (request id,
//! metrics): that skips the stack's glue, layers and boxed body, about a
//! tenth of a small evaluation (docs/benchmarks.md, "Sixteenth session").
//! Otherwise [`Direct`] does it inside the stack, under `observe` and the
//! request span.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ORIGIN, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::future::{Either, NeverError};
use futures_util::FutureExt;
use tower::Service;

use super::{observe, ofrep};
use crate::limits::Origins;
use crate::state::AppState;

/// Evaluations first, then `router` for everything else.
#[derive(Clone)]
pub struct Direct<R> {
    evaluations: Evaluations,
    router: R,
}

impl<R> Direct<R> {
    pub fn new(state: AppState, router: R) -> Self {
        Direct {
            evaluations: Evaluations(state),
            router,
        }
    }
}

impl<R> Service<Request> for Direct<R>
where
    R: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<NeverError<Answering<Body>>, R::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // `Evaluations` is always ready.
        self.router.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match ofrep::evaluation(req.method(), req.uri().path()) {
            Some(asked) => Either::Left(answer(&self.evaluations.0, req, asked).never_error()),
            None => Either::Right(self.router.call(req)),
        }
    }
}

/// Answers the requests `ofrep::evaluation` recognises (`super::observe`
/// labels them with their route template for the request metrics).
/// Browser origins outside the allowed list get 403, as on the OFREP routes.
#[derive(Clone)]
pub struct Evaluations(AppState);

impl Evaluations {
    pub fn new(state: AppState) -> Self {
        Evaluations(state)
    }

    /// Answers an evaluation request as hyper hands it over, with what
    /// `super::observe` gives every other request: the request id on the
    /// answer and the request metrics. Its answers are JSON, so none needs
    /// `observe`'s rewrite of plain-text errors.
    /// `asked` is what `ofrep::evaluation` found for the request.
    pub fn observed<B>(&self, asked: ofrep::Evaluation, req: axum::http::Request<B>) -> Observed<B> {
        Observed {
            start: Instant::now(),
            request_id: Some(observe::request_id(req.headers())),
            route: asked.route(),
            answering: answer(&self.0, req, asked),
        }
    }
}

/// The future of [`Evaluations::observed`].
pub struct Observed<B> {
    start: Instant,
    /// `None` once answered.
    request_id: Option<HeaderValue>,
    route: &'static str,
    answering: Answering<B>,
}

impl<B> Future for Observed<B>
where
    B: axum::body::HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut response = ready!(Pin::new(&mut this.answering).poll(cx));
        if let Some(id) = this.request_id.take() {
            observe::finish(&mut response, id, this.route, &observe::POST, this.start);
        }
        Poll::Ready(Ok(response))
    }
}

/// What the OFREP routes' layers and handler give a POST: the origin
/// check, the evaluation and the CORS headers.
fn answer<B>(state: &AppState, req: axum::http::Request<B>, asked: ofrep::Evaluation) -> Answering<B> {
    let cors = Cors::of(&state.origins, req.headers().get(ORIGIN));
    let evaluating = match super::origin::check_origin(&state.origins, req.headers()) {
        Ok(()) => ofrep::evaluate(state.clone(), req, asked),
        Err(refused) => ofrep::Evaluating::Answered(Some(refused.into_response())),
    };
    Answering {
        evaluating,
        cors: Some(cors),
    }
}

/// The future of [`answer`].
pub struct Answering<B> {
    evaluating: ofrep::Evaluating<B>,
    /// `None` once added to the answer.
    cors: Option<Cors>,
}

impl<B> Future for Answering<B>
where
    B: axum::body::HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = &mut *self;
        let mut response = ready!(Pin::new(&mut this.evaluating).poll(cx));
        if let Some(cors) = this.cors.take() {
            cors.add_to(response.headers_mut());
        }
        Poll::Ready(response)
    }
}

/// The headers `ofrep::cors`'s layer adds to a request that is no
/// preflight (preflights go to the router, through that layer): the allowed
/// origin (`*`, or the request's own when it is allowed), `Vary: Origin`
/// when the answer depends on it, and the headers a browser may read.
/// Written here rather than through `tower_http::cors`, which builds a
/// header map per request: a tenth of a small evaluation's instructions
/// (docs/benchmarks.md, "Fifteenth session"). Settled from the request
/// before the evaluation, so the answer's future keeps two small values.
/// The test below holds the two to the same headers.
struct Cors {
    allow_origin: Option<HeaderValue>,
    vary: bool,
}

impl Cors {
    fn of(origins: &Origins, origin: Option<&HeaderValue>) -> Cors {
        if origins.allows_any() {
            Cors {
                allow_origin: Some(HeaderValue::from_static("*")),
                vary: false,
            }
        } else {
            Cors {
                allow_origin: origin.filter(|o| origins.allows(o.as_bytes())).cloned(),
                vary: true,
            }
        }
    }

    fn add_to(self, headers: &mut HeaderMap) {
        if self.vary {
            headers.append(VARY, HeaderValue::from_static("origin"));
        }
        if let Some(origin) = self.allow_origin {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("etag,retry-after"),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Method;
    use tower::{Layer, ServiceExt};

    use super::*;

    /// What `ofrep::cors`'s layer adds to a POST's answer.
    async fn by_the_layer(origins: &Arc<Origins>, origin: Option<&str>) -> HeaderMap {
        let answer =
            tower::service_fn(|_: Request| async { Ok::<_, std::convert::Infallible>(Response::new(Body::empty())) });
        let mut req = Request::builder().method(Method::POST).uri("/ofrep/v1/evaluate/flags");
        if let Some(origin) = origin {
            req = req.header(ORIGIN, origin);
        }
        let response = ofrep::cors(origins.clone())
            .layer(answer)
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.headers().clone()
    }

    #[tokio::test]
    async fn the_direct_path_adds_the_headers_the_cors_layer_does() {
        let any = Arc::new(Origins::new(&[]));
        let listed = Arc::new(Origins::new(&["https://shop.example".to_owned()]));
        for origins in [&any, &listed] {
            for origin in [None, Some("https://shop.example"), Some("https://other.example")] {
                let mut direct = HeaderMap::new();
                let value = origin.map(|o| HeaderValue::from_str(o).unwrap());
                Cors::of(origins, value.as_ref()).add_to(&mut direct);
                let layer = by_the_layer(origins, origin).await;
                let sorted = |h: &HeaderMap| {
                    let mut all: Vec<(String, Vec<u8>)> =
                        h.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
                    all.sort();
                    all
                };
                assert_eq!(
                    sorted(&direct),
                    sorted(&layer),
                    "any origin: {}, origin {origin:?}",
                    origins.allows_any()
                );
                assert!(!direct.is_empty());
            }
        }
    }

    const TOKEN: &str = "dl_admin_direct_unit_test_bootstrap";

    async fn send(
        service: impl Service<Request, Response = Response, Error = Infallible>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (axum::http::StatusCode, HeaderMap, Bytes) {
        let mut req = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let answer = service
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let (parts, body) = answer.into_parts();
        (
            parts.status,
            parts.headers,
            axum::body::to_bytes(body, 1 << 20).await.unwrap(),
        )
    }

    /// Evaluations answered at the connection (`Evaluations::observed`,
    /// below INFO) get what the stack gives them under `observe` with
    /// request spans (`Direct`): the same status, body and headers.
    #[tokio::test]
    async fn evaluations_at_the_connection_are_answered_as_in_the_stack() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/daylight.db", dir.path().display());
        let app = crate::Application::build(crate::Settings::for_tests(url, TOKEN))
            .await
            .unwrap();
        let state = app.state().clone();
        let stack = super::super::router(state.clone(), 1 << 20);
        let admin = format!("Bearer {TOKEN}");
        let admin = [("authorization", admin.as_str()), ("content-type", "application/json")];
        let created = send(stack.clone(), Method::POST, "/api/v1/flags", &admin, r#"{"key":"f"}"#).await;
        assert_eq!(created.0, 201, "{:?}", created.2);
        let key = send(
            stack.clone(),
            Method::POST,
            "/api/v1/environments/production/keys",
            &admin,
            r#"{"kind":"server"}"#,
        )
        .await;
        let key: serde_json::Value = serde_json::from_slice(&key.2).unwrap();
        let bearer = format!("Bearer {}", key["secret"].as_str().unwrap());

        let context = r#"{"context":{"targetingKey":"u1","game":"omaha"}}"#;
        let with_key = [("authorization", bearer.as_str()), ("origin", "https://shop.example")];
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, u16);
        let cases: [Case; 6] = [
            ("/ofrep/v1/evaluate/flags/f", &with_key, context, 200),
            ("/ofrep/v1/evaluate/flags", &with_key, context, 200),
            ("/ofrep/v1/evaluate/flags/missing", &with_key, context, 404),
            ("/ofrep/v1/evaluate/flags/f", &with_key, "{not json", 400),
            ("/ofrep/v1/evaluate/flags/f", &[], context, 401),
            (
                "/ofrep/v1/evaluate/flags/f",
                &[("authorization", bearer.as_str()), ("x-request-id", "trace-7")],
                "{}",
                200,
            ),
        ];
        let evaluations = Evaluations::new(state.clone());
        for (path, headers, body, status) in cases {
            let asked = ofrep::evaluation(&Method::POST, path).unwrap();
            let at_connection = tower::service_fn(|req: Request| evaluations.observed(asked, req));
            let (a, b) = (
                send(at_connection, Method::POST, path, headers, body).await,
                send(stack.clone(), Method::POST, path, headers, body).await,
            );
            assert_eq!((a.0.as_u16(), &a.2), (status, &b.2), "{path} {body}");
            assert_eq!(b.0.as_u16(), status, "{path} {body}");
            let names = |h: &HeaderMap| {
                let mut all: Vec<(String, Vec<u8>)> = h
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                    .filter(|(k, _)| k != "x-request-id")
                    .collect();
                all.sort();
                all
            };
            assert_eq!(names(&a.1), names(&b.1), "{path} {body}");
            let ids = (&a.1["x-request-id"], &b.1["x-request-id"]);
            if headers.iter().any(|(name, _)| *name == "x-request-id") {
                assert_eq!((ids.0.as_bytes(), ids.1.as_bytes()), (&b"trace-7"[..], &b"trace-7"[..]));
            } else {
                assert_eq!((ids.0.len(), ids.1.len()), (36, 36), "new ids on {path}");
            }
        }
    }
}
