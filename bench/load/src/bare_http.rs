//! `bare-http`: the floor for small OFREP requests. A hyper HTTP/1 server
//! on Daylight's serving model (one accepting task, connections handed in
//! turn to worker threads with a single-threaded tokio runtime each,
//! TCP_NODELAY) that does no work: it reads the request body to its end
//! and answers with fixed bytes, with the headers an OFREP answer carries.
//! A POST to a path ending in `/flags` gets the bulk answer, any other
//! request the single-flag one (`bench/ofrep/run.sh` gives it the answers
//! Daylight gave, so the bytes on the wire are the same).
//!
//! What it measures: the requests per second of the HTTP stack itself on
//! this machine, which no server built on it can beat. Set beside Unleash
//! Edge's, it says how far any speed-up over Edge can go.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, ETAG};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

#[derive(Debug, Clone, clap::Args)]
pub struct BareHttpArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub listen: SocketAddr,
    /// The body answered to a POST whose path ends in `/flags`.
    #[arg(long)]
    pub bulk: PathBuf,
    /// The body answered to every other request.
    #[arg(long)]
    pub single: PathBuf,
    /// Worker threads (default: one per CPU, as Daylight).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Stop by itself after this many seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub max_seconds: u64,
}

#[derive(Clone)]
struct Answers {
    bulk: Bytes,
    single: Bytes,
}

pub fn run(args: BareHttpArgs) -> i32 {
    if !args.listen.ip().is_loopback() {
        eprintln!("bare-http: listen on a loopback address only");
        return 2;
    }
    let answers = match (std::fs::read(&args.bulk), std::fs::read(&args.single)) {
        (Ok(bulk), Ok(single)) => Answers {
            bulk: bulk.into(),
            single: single.into(),
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("bare-http: read the answers: {e}");
            return 2;
        }
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let mut workers = Vec::new();
    for _ in 0..threads {
        let (tx, rx) = mpsc::unbounded_channel();
        let answers = answers.clone();
        std::thread::spawn(move || worker(rx, answers));
        workers.push(tx);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bare-http: bind {}: {e}", args.listen);
                return 2;
            }
        };
        eprintln!("bare-http: listening on {} (pid {})", args.listen, std::process::id());
        let accept = async {
            let mut next = 0;
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let Ok(stream) = stream.into_std() else { continue };
                next = (next + 1) % workers.len();
                let _ = workers[next].send(stream);
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(args.max_seconds), accept).await;
        eprintln!("bare-http: --max-seconds reached, exiting");
        0
    })
}

fn worker(mut conns: mpsc::UnboundedReceiver<std::net::TcpStream>, answers: Answers) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        while let Some(stream) = conns.recv().await {
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let answers = answers.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(req, answers.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

async fn answer(req: Request<Incoming>, answers: Answers) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let bulk = req.uri().path().ends_with("/flags");
    // Daylight reads the whole context before it evaluates; so does the floor.
    let _ = req.into_body().collect().await?;
    let body = if bulk { answers.bulk } else { answers.single };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ETAG, HeaderValue::from_static("\"0123456789abcdef\""));
    Ok(response)
}
