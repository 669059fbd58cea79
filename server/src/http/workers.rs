//! Serving connections on a thread per core.
//!
//! One task accepts connections and hands them out in turn to worker
//! threads, each running its own single-threaded tokio runtime (the model of
//! actix-web and nginx). A connection then lives on one thread: its requests
//! cause no work stealing and no cross-thread wake-ups, which under tokio's
//! multi-threaded scheduler cost about a fifth of the CPU of a small OFREP
//! request (docs/benchmarks.md, "Fourth session").
//!
//! Handlers may open sockets (a PostgreSQL connection in the pool, say) on
//! their worker's runtime, and other threads then use them. So a stop drains
//! the connections first and keeps the workers' runtimes turning until the
//! returned [`Parked`] is dropped, after the server's last writes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::direct::{Evaluations, Observed};

/// How long a stop waits for requests in flight before dropping them.
const DRAIN: Duration = Duration::from_secs(10);

/// Keeps the worker threads' runtimes alive; dropping it ends them (and any
/// task still on them, such as an upgraded WebSocket).
pub struct Parked {
    _exit: Vec<oneshot::Sender<()>>,
}

/// Serves `service` on `listener` with `threads` worker threads until
/// `shutdown` resolves, then waits for the workers to drain their
/// connections. With `evaluations`, OFREP evaluation requests are answered
/// by it as they come off the connection (`super::direct`), and never
/// reach `service`.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    evaluations: Option<Evaluations>,
    threads: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<Parked>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let mut workers = Vec::new();
    let mut exits = Vec::new();
    let mut drained = Vec::new();
    for index in 0..threads.max(1) {
        let (conns, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        let service = service.clone();
        let evaluations = evaluations.clone();
        std::thread::Builder::new()
            .name(format!("daylight-http-{index}"))
            .spawn(move || worker(service, evaluations, rx, done_tx, exit_rx))?;
        workers.push(conns);
        exits.push(exit_tx);
        drained.push(done_rx);
    }

    tokio::pin!(shutdown);
    let mut next = 0;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let Ok(mut stream) = stream.into_std() else { continue };
                // A worker that is gone (its thread panicked) gets no more
                // connections; the others go on.
                for _ in 0..workers.len() {
                    next = (next + 1) % workers.len();
                    match workers[next].send(stream) {
                        Ok(()) => break,
                        Err(mpsc::error::SendError(back)) => stream = back,
                    }
                }
            }
            // Out of file descriptors and the like: wait instead of spinning
            // (as axum::serve does); a reset before accept is no error.
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    drop(listener);
    drop(workers);
    for done in drained {
        let _ = done.await;
    }
    Ok(Parked { _exit: exits })
}

fn worker<S>(
    service: S,
    evaluations: Option<Evaluations>,
    mut conns: mpsc::UnboundedReceiver<std::net::TcpStream>,
    drained: oneshot::Sender<()>,
    exit: oneshot::Receiver<()>,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start an HTTP worker thread");
            return;
        }
    };
    runtime.block_on(async move {
        let graceful = GracefulShutdown::new();
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http2().enable_connect_protocol();
        while let Some(stream) = conns.recv().await {
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                continue;
            };
            // A stream push is one small write, which Nagle's algorithm would
            // hold back while an earlier one is still unacknowledged.
            let _ = stream.set_nodelay(true);
            let front = Front {
                evaluations: evaluations.clone(),
                router: TowerToHyperService::new(WithPeer {
                    inner: service.clone(),
                    peer: stream.peer_addr().ok(),
                }),
            };
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), front)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
            });
        }
        if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still in flight after {DRAIN:?}; dropping them");
        }
        let _ = drained.send(());
        let _ = exit.await;
    });
}

/// A connection's service: evaluations to `evaluations` when there is one,
/// everything else to the tower stack.
struct Front<S> {
    evaluations: Option<Evaluations>,
    router: TowerToHyperService<WithPeer<S>>,
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for Front<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Observed<Incoming>, TowerToHyperServiceFuture<WithPeer<S>, hyper::Request<Incoming>>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let asked = self
            .evaluations
            .as_ref()
            .and_then(|_| super::ofrep::evaluation(req.method(), req.uri().path()));
        match (&self.evaluations, asked) {
            (Some(evaluations), Some(asked)) => Either::Left(evaluations.observed(asked, req)),
            _ => Either::Right(self.router.call(req)),
        }
    }
}

/// Hands hyper's request to the tower stack with axum's body type, and
/// with the peer's address for the admin API, which throttles wrong
/// credentials per address (other requests skip the extension map's
/// allocation).
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: Option<SocketAddr>,
}

impl<S> tower::Service<hyper::Request<Incoming>> for WithPeer<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: hyper::Request<Incoming>) -> S::Future {
        let mut req = req.map(Body::new);
        if let Some(peer) = self.peer.filter(|_| req.uri().path().starts_with("/api/")) {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        self.inner.call(req)
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    async fn start(
        threads: usize,
    ) -> (
        String,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<Parked>>,
    ) {
        let app = axum::Router::new()
            .route(
                "/thread",
                get(|| async { std::thread::current().name().unwrap_or_default().to_owned() }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, app, None, threads, async move {
            let _ = stopped.await;
        }));
        (url, stop, served)
    }

    fn client() -> reqwest::Client {
        // A new connection for every request.
        reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
    }

    #[tokio::test]
    async fn connections_are_dealt_out_to_every_worker_in_turn() {
        let (url, _stop, _served) = start(2).await;
        let mut names = Vec::new();
        for _ in 0..4 {
            names.push(
                client()
                    .get(format!("{url}/thread"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(
            names,
            [
                "daylight-http-1",
                "daylight-http-0",
                "daylight-http-1",
                "daylight-http-0"
            ]
        );
    }

    #[tokio::test]
    async fn a_stop_lets_requests_in_flight_finish_and_refuses_new_connections() {
        let (url, stop, served) = start(2).await;
        let slow = tokio::spawn(client().get(format!("{url}/slow")).send());
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        // `serve` returns once the slow request is answered: ending the
        // workers right away must not cut it off.
        drop(served.await.unwrap().unwrap());
        let answer = slow.await.unwrap().unwrap();
        assert_eq!(answer.text().await.unwrap(), "done");
        assert!(client().get(format!("{url}/thread")).send().await.is_err());
    }
}
