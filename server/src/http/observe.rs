//! What every request goes through besides its handler: a request id, the
//! JSON error shape for framework rejections, and the request metrics, in
//! one layer.
//!
//! These wrap the router once (`super::router`), not each route: axum clones
//! a route's whole layer stack on every request, so per-route layers cost an
//! allocation each. The one per-route piece is `RouteLabel`, because the
//! matched route template is only known after routing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Gives the request an `x-request-id` (the caller's, or a new one) and the
/// response the same; records the request metrics; and gives framework
/// rejections (a bad path parameter, a wrong method, a malformed query:
/// plain text from axum) the JSON error shape of everything else. A tower
/// layer rather than `middleware::from_fn`, which boxes a clone of the whole
/// router per request; one layer rather than tower-http's two request-id
/// layers, which also store the id in the request's extensions (a map
/// allocated per request) where nothing reads it. Applied with
/// `Observe::layer`.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    /// Whether the request span (`TraceLayer`, only with INFO on) reads the
    /// id from the request; otherwise it goes on the response only.
    id_in_request: bool,
}

impl<S> Observe<S> {
    pub fn layer(id_in_request: bool) -> impl tower::Layer<S, Service = Observe<S>> + Clone {
        tower::layer::layer_fn(move |inner| Observe { inner, id_in_request })
    }
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let request_id = match req.headers().get(X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = new_request_id();
                if self.id_in_request {
                    req.headers_mut().insert(X_REQUEST_ID, id.clone());
                }
                id
            }
        };
        // An evaluation's route is known from its path (`super::direct`
        // answers it before the router, which would label it).
        let route = super::ofrep::evaluation(req.method(), req.uri().path()).map(|e| e.route());
        ObserveFuture {
            start: Instant::now(),
            request_id: Some(request_id),
            method: method_label(req.method()),
            route,
            step: Step::Handler {
                inner: self.inner.call(req),
            },
        }
    }
}

pin_project_lite::pin_project! {
    pub struct ObserveFuture<F> {
        start: Instant,
        request_id: Option<HeaderValue>,
        method: metrics::SharedString,
        route: Option<&'static str>,
        #[pin]
        step: Step<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StepProj]
    enum Step<F> {
        Handler { #[pin] inner: F },
        // Rare: a plain-text 4xx whose body is read and rewritten as JSON.
        Rewrite { inner: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, std::convert::Infallible>>,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let this = self.as_mut().project();
            let response = match this.step.project() {
                StepProj::Handler { inner } => {
                    let Ok(response) = std::task::ready!(inner.poll(cx));
                    if needs_json(&response) {
                        let rewrite = Box::pin(json_errors(response));
                        self.as_mut().project().step.set(Step::Rewrite { inner: rewrite });
                        continue;
                    }
                    response
                }
                StepProj::Rewrite { inner } => std::task::ready!(inner.as_mut().poll(cx)),
            };
            let this = self.as_mut().project();
            let mut response = response;
            let route = match this.route {
                Some(route) => route,
                None => response.extensions().get::<RouteLabel>().map_or("unmatched", |r| r.0),
            };
            if let Some(id) = this.request_id.take() {
                finish(&mut response, id, route, this.method, *this.start);
            }
            return Poll::Ready(Ok(response));
        }
    }
}

/// The request's own `x-request-id`, or a new one.
pub(super) fn request_id(headers: &axum::http::HeaderMap) -> HeaderValue {
    match headers.get(X_REQUEST_ID) {
        Some(id) => id.clone(),
        None => new_request_id(),
    }
}

/// The method label of every evaluation.
pub(super) const POST: metrics::SharedString = metrics::SharedString::const_str("POST");

/// What every answer gets on its way out: the request id (unless the
/// handler set one) and the request metrics.
pub(super) fn finish(
    response: &mut Response,
    request_id: HeaderValue,
    route: &'static str,
    method: &metrics::SharedString,
    start: Instant,
) {
    response.headers_mut().entry(X_REQUEST_ID).or_insert(request_id);
    record(route, method, response.status(), start.elapsed().as_secs_f64());
}

type Labels = (&'static str, metrics::SharedString, u16);

/// Counts a request and records its duration. Each worker thread keeps the
/// handles of its last combination: a busy node answers one route with 200
/// again and again, and then skips the shared map's lock and hash.
fn record(route: &'static str, method: &metrics::SharedString, status: axum::http::StatusCode, seconds: f64) {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(Labels, (metrics::Counter, metrics::Histogram))>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        let same = |labels: &Labels| labels.0 == route && labels.1 == *method && labels.2 == status.as_u16();
        let (_, (count, duration)) = match last {
            Some(kept) if same(&kept.0) => kept,
            _ => last.insert((
                (route, method.clone(), status.as_u16()),
                handles(route, method.clone(), status),
            )),
        };
        count.increment(1);
        duration.record(seconds);
    });
}

/// The request counter and latency histogram for one route, method and
/// status. Registering a metric with labels built at run time allocates its
/// key on every call; the handles are looked up once per combination (a
/// bounded set: routes x methods x statuses).
fn handles(
    route: &'static str,
    method: metrics::SharedString,
    status: axum::http::StatusCode,
) -> (metrics::Counter, metrics::Histogram) {
    use std::sync::{OnceLock, RwLock};
    type Handles = foldhash::HashMap<Labels, (metrics::Counter, metrics::Histogram)>;
    static HANDLES: OnceLock<RwLock<Handles>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    let id = (route, method, status.as_u16());
    if let Some(found) = handles.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return found.clone();
    }
    let (route, method, _) = id.clone();
    let status = status_label(status);
    let made = (
        metrics::counter!("daylight_http_requests_total", "route" => route, "method" => method, "status" => status),
        metrics::histogram!("daylight_http_request_duration_seconds", "route" => route),
    );
    handles
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(id)
        .or_insert(made)
        .clone()
}

/// A client error that is not JSON (nor a bodiless 304).
fn needs_json(response: &Response) -> bool {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    status.is_client_error() && !is_json && status != axum::http::StatusCode::NOT_MODIFIED
}

async fn json_errors(response: Response) -> Response {
    let status = response.status();
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
    if let Some(label) = parts.extensions.get::<RouteLabel>() {
        out.extensions_mut().insert(*label);
    }
    out
}

/// The matched route template, carried on the response to `observe`.
#[derive(Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// Per-route service that labels the response with its route template.
/// Applied with `tower::layer::layer_fn(Labelled)`.
#[derive(Clone)]
pub struct Labelled<S>(pub S);

impl<S> tower::Service<Request> for Labelled<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = LabelledFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let label = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |p| intern(p.as_str()));
        LabelledFuture {
            inner: self.0.call(req),
            label: RouteLabel(label),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct LabelledFuture<F> {
        #[pin]
        inner: F,
        label: RouteLabel,
    }
}

impl<F, E> Future for LabelledFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let label = *this.label;
        this.inner.poll(cx).map_ok(|mut response| {
            response.extensions_mut().insert(label);
            response
        })
    }
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

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An `x-request-id` value shaped like a UUID v4, from the thread-local RNG:
/// tower-http's `MakeRequestUuid` asks the kernel (`getrandom`) on every
/// request. Written into one buffer, two hex digits at a time from a
/// table; no formatting machinery.
fn new_request_id() -> HeaderValue {
    use rand::{Rng, SeedableRng};
    // Ids only correlate logs: a fast generator per thread, seeded from
    // the OS, is enough (the ChaCha one cost ~700 instructions an id).
    thread_local! {
        static RNG: std::cell::RefCell<rand::rngs::SmallRng> =
            std::cell::RefCell::new(rand::rngs::SmallRng::from_os_rng());
    }
    /// The two hex digits of every byte value.
    const PAIRS: [[u8; 2]; 256] = {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0; 2]; 256];
        let mut byte = 0;
        while byte < 256 {
            pairs[byte] = [HEX[byte >> 4], HEX[byte & 0xF]];
            byte += 1;
        }
        pairs
    };
    // A version 4 UUID: the version and variant bits set, the rest random.
    let bits: u128 = RNG.with_borrow_mut(|rng| rng.random::<u128>()) & 0xFFFF_FFFF_FFFF_4FFF_BFFF_FFFF_FFFF_FFFF
        | 0x4000_8000_0000_0000_0000;
    let mut id = [b'-'; 36];
    // Where each byte's two digits go: the dashes sit at 8, 13, 18 and 23.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    for (byte, at) in bits.to_be_bytes().into_iter().zip(AT) {
        let [high, low] = PAIRS[usize::from(byte)];
        (id[at], id[at + 1]) = (high, low);
    }
    HeaderValue::from_bytes(&id).expect("hex digits and dashes are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuid_v4() {
        let (a, b) = (new_request_id(), new_request_id());
        let a = a.to_str().expect("ascii");
        assert_ne!(a, b.to_str().unwrap());
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{a}"
        );
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{a}");
        assert_eq!(&groups[2][..1], "4", "version nibble in {a}");
        assert!(
            matches!(&groups[3][..1], "8" | "9" | "a" | "b"),
            "variant nibble in {a}"
        );
        // Lower-case digits, and every digit but the version's is random:
        // it takes more than one value over 64 ids.
        let ids: Vec<Vec<u8>> = (0..64).map(|_| new_request_id().as_bytes().to_vec()).collect();
        for at in 0..36 {
            let seen: std::collections::BTreeSet<u8> = ids.iter().map(|id| id[at]).collect();
            match at {
                8 | 13 | 18 | 23 => assert_eq!(seen, [b'-'].into()),
                14 => assert_eq!(seen, [b'4'].into()),
                _ => assert!(
                    seen.len() > 1 && seen.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                    "position {at}: {seen:?}"
                ),
            }
        }
    }
}
