//! The fake stream server shared by the `client_*` tests: a real WebSocket
//! listener on `127.0.0.1:0` whose connections the test drives message by
//! message, playing the server's side of `docs/protocol.md`.

#![allow(dead_code)] // each test binary uses a part of it

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use daylight::client::{Client, ClientBuilder};

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub const KEY: &str = "dl_server_test";

pub struct FakeServer {
    url: String,
    connections: mpsc::UnboundedReceiver<Conn>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A server that refuses every upgrade with `status`.
    pub async fn refusing_upgrades(status: StatusCode) -> Self {
        Self::start_with(Some(status)).await
    }

    #[allow(clippy::result_large_err)] // tungstenite's callback signature
    async fn start_with(refuse: Option<StatusCode>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (tx, connections) = mpsc::unbounded_channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let callback = move |_: &Request, response: Response| -> Result<Response, ErrorResponse> {
                    match refuse {
                        None => Ok(response),
                        Some(status) => {
                            let mut refusal = ErrorResponse::new(Some("refused".to_owned()));
                            *refusal.status_mut() = status;
                            Err(refusal)
                        }
                    }
                };
                if let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await {
                    let _ = tx.send(Conn { ws });
                }
            }
        });
        FakeServer {
            url,
            connections,
            accepted,
            task,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A builder for a client of this server, with fast back-off.
    pub fn client(&self) -> ClientBuilder {
        Client::builder(self.url(), KEY)
            .backoff(Duration::from_millis(20), Duration::from_millis(200))
            .init_timeout(PATIENCE)
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The next WebSocket connection.
    pub async fn next_conn(&mut self) -> Conn {
        tokio::time::timeout(PATIENCE, self.connections.recv())
            .await
            .expect("no connection from the client")
            .unwrap()
    }

    /// A connection, if one arrives within `wait`.
    pub async fn conn_within(&mut self, wait: Duration) -> Option<Conn> {
        tokio::time::timeout(wait, self.connections.recv()).await.ok().flatten()
    }

    /// Accepts a connection and brings it in sync with a snapshot:
    /// returns the connection and the client's `hello`.
    pub async fn sync_next(&mut self, version: u64, ruleset: Value) -> (Conn, Value) {
        let mut conn = self.next_conn().await;
        let hello = conn.hello().await;
        conn.welcome(15_000).await;
        conn.snapshot(version, ruleset).await;
        conn.synced(version).await;
        (conn, hello)
    }
}

/// One connection, seen from the server.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
}

impl Conn {
    /// The next JSON message from the client, if one arrives within `wait`;
    /// `None` too when the client closed.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()??;
            match frame {
                Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).unwrap()),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        self.recv_within(PATIENCE).await.expect("no message from the client")
    }

    pub async fn hello(&mut self) -> Value {
        let hello = self.recv().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        hello
    }

    /// Waits until the client closes the connection, ignoring its
    /// heartbeats and receipts; panics if it does not within `PATIENCE`.
    pub async fn expect_closed(&mut self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("the client did not close the connection"),
                Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => return,
                Ok(Some(Ok(Message::Text(text)))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    assert!(
                        message["type"] == "heartbeat" || message["type"] == "applied",
                        "unexpected {message}"
                    );
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.ws.send(Message::text(message.to_string())).await.unwrap();
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
    }

    pub async fn welcome(&mut self, heartbeat_ms: u64) {
        self.send(
            json!({"type": "welcome", "protocol": 1, "environment": "test", "kind": "server",
                         "heartbeat_ms": heartbeat_ms}),
        )
        .await;
    }

    pub async fn snapshot(&mut self, version: u64, mut ruleset: Value) {
        ruleset["version"] = json!(version);
        self.send(json!({"type": "snapshot", "version": version, "ruleset": ruleset}))
            .await;
    }

    pub async fn synced(&mut self, version: u64) {
        self.send(json!({"type": "synced", "version": version})).await;
    }

    pub async fn patch(&mut self, version: u64, kind: &str, key: &str, doc: Value) {
        self.send(json!({"type": "patch", "version": version, "kind": kind, "key": key, "doc": doc}))
            .await;
    }

    pub async fn error(&mut self, code: &str) {
        self.send(json!({"type": "error", "code": code, "message": "from the test"}))
            .await;
        let _ = self.ws.close(None).await;
    }

    /// Closes from the server's side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A boolean flag serving `variation` to everyone, or variation 1 to
/// contexts whose `game` is `omaha` when `omaha_rule` is set.
pub fn bool_flag(fallthrough: usize, omaha_rule: bool) -> Value {
    let rules = if omaha_rule {
        json!([{"id": "omaha", "clauses": [{"attribute": "game", "op": "in", "values": ["omaha"]}],
                "serve": {"variation": 1}}])
    } else {
        json!([])
    };
    json!({"variations": [false, true], "on": true, "off_variation": 0, "rules": rules,
           "fallthrough": {"variation": fallthrough}})
}

/// An environment with `new-lobby` (on for omaha players) and `theme`
/// (a string flag serving "dark").
pub fn lobby_ruleset() -> Value {
    json!({
        "environment": "test",
        "flags": {
            "new-lobby": bool_flag(0, true),
            "theme": {"variations": ["light", "dark"], "on": true, "fallthrough": {"variation": 1}}
        },
        "segments": {}
    })
}

/// Polls `condition` until it holds, at most `PATIENCE`.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
