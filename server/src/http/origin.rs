//! Browser origins: with `DAYLIGHT_ALLOWED_ORIGINS` set, a request whose
//! `Origin` is not on the list gets 403 before anything is evaluated or held
//! open (CORS alone would only stop the page from reading an answer the
//! server had already computed). Requests without `Origin` (server SDKs,
//! curl) are not browsers' and pass.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::ORIGIN;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready};

use crate::error::ApiError;
use crate::limits::Origins;

/// `Err(403)` when the request comes from a browser origin outside the list.
pub fn check_origin(origins: &Origins, headers: &HeaderMap) -> Result<(), ApiError> {
    if origins.allows_any() {
        return Ok(());
    }
    match headers.get(ORIGIN) {
        Some(origin) if !origins.allows(origin.as_bytes()) => Err(ApiError::Forbidden(
            "this origin is not allowed (DAYLIGHT_ALLOWED_ORIGINS)".into(),
        )),
        _ => Ok(()),
    }
}

/// [`check_origin`] as a layer, outside the CORS layer so that preflights
/// (which CORS answers itself) are refused too.
pub fn guard<S>(origins: Arc<Origins>) -> impl tower::Layer<S, Service = OriginGuard<S>> + Clone {
    tower::layer::layer_fn(move |inner| OriginGuard {
        origins: origins.clone(),
        inner,
    })
}

#[derive(Clone)]
pub struct OriginGuard<S> {
    origins: Arc<Origins>,
    inner: S,
}

impl<S> tower::Service<Request> for OriginGuard<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match check_origin(&self.origins, req.headers()) {
            Ok(()) => Either::Right(self.inner.call(req)),
            Err(refused) => Either::Left(futures_util::future::ready(Ok(refused.into_response()))),
        }
    }
}
