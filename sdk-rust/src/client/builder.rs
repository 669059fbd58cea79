//! [`ClientBuilder`]: the client's options, and starting it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::http::uri::{InvalidUri, Uri};
use tracing::warn;

use super::store::{ConnectionState, Replica, Store};
use super::stream::{self, StreamConfig};
use super::usage::Usage;
use super::{Client, Inner};
use crate::{Ruleset, RulesetDocument, ValidationError};

/// The path of the stream when a URL names only a host.
const STREAM_PATH: &str = "/sdk/v1/stream";

/// Options of a [`Client`]; see `docs/sdk-rust.md`.
#[must_use]
pub struct ClientBuilder {
    stream_url: Option<String>,
    server_key: String,
    init_timeout: Duration,
    bootstrap: Option<Bootstrap>,
    connect_timeout: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    unauthorized_retry: Duration,
    usage_interval: Duration,
    send_usage: bool,
    keep_document: bool,
}

enum Bootstrap {
    File(PathBuf),
    Document(Box<RulesetDocument>),
}

/// Why a client could not be started. (A server that cannot be reached is
/// not one: the client starts, serves defaults or bootstrap data, and keeps
/// trying.)
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("bootstrap file {}: {source}", path.display())]
    BootstrapRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bootstrap file {}: {source}", path.display())]
    BootstrapParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("bootstrap data: {0}")]
    BootstrapInvalid(#[from] ValidationError),
    #[error("stream URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("an offline client needs bootstrap data (`bootstrap_file` or `bootstrap`)")]
    NoData,
    #[error("a streaming client starts inside a tokio runtime")]
    NoRuntime,
}

impl ClientBuilder {
    pub(crate) fn new(stream_url: Option<String>, server_key: String) -> Self {
        ClientBuilder {
            stream_url,
            server_key,
            init_timeout: Duration::from_secs(5),
            bootstrap: None,
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            unauthorized_retry: Duration::from_secs(300),
            usage_interval: Duration::from_secs(10),
            send_usage: true,
            keep_document: false,
        }
    }

    /// How long [`build`](Self::build) waits for the first data (default
    /// 5 s). After it the client is returned anyway: evaluations return the
    /// caller's default with `ERROR`/`PROVIDER_NOT_READY` until data arrives.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// Starts from a `RulesetDocument` JSON file (`docs/flag-format.md`):
    /// the client is ready at once on it. With a stream URL the server's
    /// first snapshot replaces it; without one the client runs offline.
    pub fn bootstrap_file(mut self, path: impl AsRef<Path>) -> Self {
        self.bootstrap = Some(Bootstrap::File(path.as_ref().to_owned()));
        self
    }

    /// Like [`bootstrap_file`](Self::bootstrap_file), from a document.
    pub fn bootstrap(mut self, doc: RulesetDocument) -> Self {
        self.bootstrap = Some(Bootstrap::Document(Box::new(doc)));
        self
    }

    /// How long the TCP connect, the WebSocket upgrade and then the wait for
    /// `welcome` may each take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Reconnect back-off: the first delay and the cap (default 0.5 s and
    /// 30 s). Each delay doubles and is randomised between half and all of
    /// it; a connection that got in sync starts it over.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// The delay before retrying after the server refused the key (default
    /// 5 minutes), so a revoked key does not hammer the server.
    pub fn unauthorized_retry(mut self, delay: Duration) -> Self {
        self.unauthorized_retry = delay;
        self
    }

    /// How often evaluation counts and tracked events are sent to the
    /// server (default 10 s; also when the client closes). See
    /// `docs/usage-metrics.md`.
    pub fn usage_interval(mut self, interval: Duration) -> Self {
        self.usage_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Whether to count evaluations and send them, with tracked events, to
    /// the server (default true; an offline client never does).
    pub fn send_usage(mut self, send: bool) -> Self {
        self.send_usage = send;
        self
    }

    /// Whether to keep the `RulesetDocument` of the current data, for
    /// [`Client::document`] (default false: each change then copies the
    /// whole document). For tools that write the rules out, such as
    /// `daylight sync`.
    pub fn keep_document(mut self, keep: bool) -> Self {
        self.keep_document = keep;
        self
    }

    /// Starts the client and waits until it has flag data, at most the
    /// [`init_timeout`](Self::init_timeout); it also returns early when the
    /// server refuses the key or speaks no shared protocol version. Check
    /// [`Client::is_ready`] to know whether data arrived.
    pub async fn build(self) -> Result<Client, BuildError> {
        let timeout = self.init_timeout;
        let client = self.start()?;
        if !client.wait_ready(timeout).await {
            warn!(
                ?timeout,
                state = ?client.connection_state(),
                "no flag data yet: serving defaults until it arrives"
            );
        }
        Ok(client)
    }

    /// Starts the client and returns at once; see [`Client::wait_ready`].
    /// A streaming client must be started inside a tokio runtime (an offline
    /// one need not).
    pub fn start(self) -> Result<Client, BuildError> {
        let url = self.stream_url.as_deref().map(stream_url).transpose()?;
        let doc = match self.bootstrap {
            Some(Bootstrap::File(path)) => Some(read_bootstrap(path)?),
            Some(Bootstrap::Document(doc)) => Some(*doc),
            None if url.is_none() => return Err(BuildError::NoData),
            None => None,
        };
        let ruleset = doc.as_ref().map(Ruleset::compile).transpose()?;
        let state = if url.is_some() {
            ConnectionState::Connecting
        } else {
            ConnectionState::Offline
        };
        let mut store = Store::new(ruleset, state);
        if self.keep_document {
            store = store.keeping_document(doc.as_ref());
        }
        let store = Arc::new(store);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let usage = (url.is_some() && self.send_usage).then(|| Arc::new(Usage::default()));
        let task = match url {
            Some(url) => {
                let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
                let config = StreamConfig {
                    url,
                    key: self.server_key,
                    sdk: concat!("daylight-rust/", env!("CARGO_PKG_VERSION")).to_owned(),
                    connect_timeout: self.connect_timeout,
                    backoff_initial: self.backoff_initial,
                    backoff_max: self.backoff_max,
                    unauthorized_retry: self.unauthorized_retry,
                    usage: usage.clone(),
                    usage_interval: self.usage_interval,
                };
                let replica = Replica::new(store.clone(), doc.as_ref());
                Some(runtime.spawn(stream::run(replica, config, shutdown_rx)))
            }
            None => None,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                store,
                usage,
                shutdown,
                task: Mutex::new(task),
            }),
        })
    }
}

fn read_bootstrap(path: PathBuf) -> Result<RulesetDocument, BuildError> {
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) => return Err(BuildError::BootstrapRead { path, source }),
    };
    serde_json::from_str(&text).map_err(|source| BuildError::BootstrapParse { path, source })
}

/// Checks a stream URL: `ws://` or `wss://` (`http(s)://` is read as
/// `ws(s)://`); a URL naming only a host gets the stream's path.
fn stream_url(url: &str) -> Result<String, BuildError> {
    let invalid = |reason: &str| BuildError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected ws:// or wss://"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => return Err(invalid("expected ws:// or wss://")),
    };
    if scheme == "wss" && !cfg!(feature = "tls") {
        return Err(invalid("wss:// needs the `tls` feature of daylight-sdk"));
    }
    let parse = |url: &str| -> Result<Uri, BuildError> { url.parse().map_err(|e: InvalidUri| invalid(&e.to_string())) };
    let uri = parse(&format!("{scheme}://{rest}"))?;
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err(invalid("no host"));
    };
    let path = match uri.path() {
        "" | "/" => STREAM_PATH,
        path => path,
    };
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{scheme}://{authority}{path}{query}");
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls_are_normalised() {
        assert_eq!(
            stream_url("ws://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/sdk/v1/stream"
        );
        if cfg!(feature = "tls") {
            assert_eq!(
                stream_url("https://flags.example/").unwrap(),
                "wss://flags.example/sdk/v1/stream"
            );
        } else {
            assert!(stream_url("wss://flags.example").is_err());
        }
        assert_eq!(stream_url("ws://h/custom/path").unwrap(), "ws://h/custom/path");
        assert_eq!(stream_url("ws://h?x=1").unwrap(), "ws://h/sdk/v1/stream?x=1");
        assert!(stream_url("ftp://h").is_err());
        assert!(stream_url("h:80").is_err());
        assert!(stream_url("ws://").is_err());
    }
}
