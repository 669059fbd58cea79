//! The OFREP evaluation endpoints, answered before the router.
//!
//! On a busy node nearly every request is an evaluation, and axum's routing
//! spent about two fifths of such a request's instructions: matching the
//! path, storing the captured parameter and the matched path in the
//! request, and cloning the route's boxed service with its layers
//! (docs/benchmarks.md, "Seventh session"). So a POST to one of the two
//! evaluation paths goes straight to [`ofrep::evaluate`] behind the same CORS
//! layer the OFREP routes have; every other request, including the other
//! methods on those paths (preflights, 405s), goes to the router. The router's
//! two evaluation routes call the same function, so the answer is the same
//! either way.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use tower::{Layer, Service};
use tower_http::cors::{self, Cors};

use super::observe::RouteLabel;
use super::ofrep;
use crate::state::AppState;

/// Evaluations first, then `router` for everything else.
#[derive(Clone)]
pub struct Direct<R> {
    evaluations: Cors<Evaluations>,
    router: R,
}

impl<R> Direct<R> {
    pub fn new(state: AppState, router: R) -> Self {
        let cors = ofrep::cors(state.origins.clone());
        Direct {
            evaluations: cors.layer(Evaluations(state)),
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
    type Future = Either<cors::ResponseFuture<EvaluationFuture>, R::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // `Evaluations` is always ready.
        self.router.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if ofrep::evaluation(req.method(), req.uri().path()).is_some() {
            Either::Left(self.evaluations.call(req))
        } else {
            Either::Right(self.router.call(req))
        }
    }
}

type EvaluationFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Answers the requests `ofrep::evaluation` recognises, labelled with their
/// route template for the request metrics (as the router's routes are).
/// Browser origins outside the allowed list get 403, as on the OFREP routes.
/// Holds `AppState` itself, one clone per evaluation (see `crate::state`).
#[derive(Clone)]
struct Evaluations(AppState);

impl Service<Request> for Evaluations {
    type Response = Response;
    type Error = Infallible;
    type Future = EvaluationFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let state = self.0.clone();
        Box::pin(async move {
            let label = ofrep::evaluation(req.method(), req.uri().path()).map(|e| RouteLabel(e.route()));
            let mut response = match super::origin::check_origin(&state.origins, req.headers()) {
                Ok(()) => ofrep::evaluate(state, req).await,
                Err(refused) => refused.into_response(),
            };
            if let Some(label) = label {
                response.extensions_mut().insert(label);
            }
            Ok(response)
        })
    }
}
