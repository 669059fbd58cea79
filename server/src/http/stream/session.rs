//! One WebSocket connection: the hello and `welcome`, the one loop that
//! serves it (socket, change broadcast, heartbeat, revocations, the node
//! stopping, the writes in its [`Outbox`]), and how it ends (`error`, then
//! a close frame). What it serves after `welcome` is the key kind's
//! business: [`Rules`] for server keys, [`Values`] for client keys.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use daylight::protocol::ServerMessage;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant, Interval};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, Utf8Bytes};

use super::outbox::Outbox;
use super::rules::Rules;
use super::upgrade::Socket;
use super::values::Values;
use super::{admit, report_usage, stopped, ticker, Refused, PROTOCOLS};
use crate::auth::{KeyKind, SdkKey};
use crate::error::ApiError;
use crate::frames::{self, ClientFrame};
use crate::limits::StreamPermit;
use crate::live::Applied;
use crate::receipts::Receipt;
use crate::state::AppState;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the last frames (`error`, close) may take to go out.
const CLOSING_WAIT: Duration = Duration::from_secs(2);

/// Why the server ends a connection: the protocol's error code and message.
pub struct Close {
    code: &'static str,
    message: String,
}

pub fn close(code: &'static str, message: impl Into<String>) -> Close {
    Close {
        code,
        message: message.into(),
    }
}

/// The SDK went away (or stopped talking): nothing to tell it.
fn gone() -> Close {
    close("gone", "")
}

pub fn slow_consumer() -> Close {
    close("slow_consumer", "too far behind; reconnect with your version")
}

pub fn shutting_down() -> Close {
    close("shutting_down", "the server is stopping")
}

fn revoked() -> Close {
    close("revoked", "this key was revoked")
}

/// What a failed read tells the SDK: an oversized message gets `too_large`
/// (and a close, rather than a reset), a broken frame `bad_message`; a
/// dropped connection nothing.
fn read_error(error: tungstenite::Error) -> Close {
    match error {
        tungstenite::Error::Capacity(e) => close("too_large", e.to_string()),
        tungstenite::Error::Protocol(e) => close("bad_message", e.to_string()),
        tungstenite::Error::Utf8(e) => close("bad_message", e),
        _ => gone(),
    }
}

/// The WebSocket close code after an `error` of `code`.
fn close_code(code: &str) -> u16 {
    match code {
        "unauthorized" | "revoked" | "unsupported_protocol" | "bad_message" => 1008,
        "too_large" => 1009,
        "shutting_down" => 1001,
        _ => 1013,
    }
}

pub struct Connection {
    out: Outbox,
    incoming: SplitStream<Socket>,
    pub state: AppState,
    stopping: watch::Receiver<bool>,
}

/// An SDK's session after a successful hello: what its loop waits on
/// besides the socket.
struct Session {
    key: SdkKey,
    /// Kept for the heartbeat re-check of the key.
    secret: String,
    changes: broadcast::Receiver<Arc<Applied>>,
    revocations: broadcast::Receiver<i64>,
    heartbeat: Duration,
    tick: Interval,
    /// When the SDK last sent anything.
    last_heard: Instant,
    /// The SDK sends `applied` receipts.
    receipts: bool,
    /// Changes sent and not yet acknowledged, oldest first (bounded: an SDK
    /// that stops acknowledging counts as not yet, not as memory).
    unacknowledged: VecDeque<Arc<Receipt>>,
}

/// How many unacknowledged changes a connection remembers.
const UNACKNOWLEDGED: usize = 64;

/// What the loop acts on.
enum Event {
    /// A change was applied (to any environment), or the broadcast lagged.
    Change(Result<Arc<Applied>, RecvError>),
    /// A text message from the SDK.
    Text(Utf8Bytes),
    /// Time to send a heartbeat.
    Heartbeat,
    /// The reload pacer let a bundle notice go.
    Paced,
}

/// A paced bundle notice waiting for its turn.
pub type Paced = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What a session serves after `welcome`, by key kind. `Values` (a
/// context, the bundle handshake) is boxed: server-key connections, most of
/// them, do not carry its size.
enum Serving {
    Rules(Rules),
    Values(Box<Values>),
}

impl Session {
    /// Counts this connection into a change of its environment; true when
    /// its SDK is to acknowledge it.
    fn reached(&mut self, applied: &Applied) -> bool {
        let Some(receipt) = applied
            .receipt
            .as_ref()
            .filter(|_| applied.environment == *self.key.environment)
        else {
            return false;
        };
        receipt.reached(self.receipts);
        if self.receipts {
            if self.unacknowledged.len() == UNACKNOWLEDGED {
                self.unacknowledged.pop_front();
            }
            self.unacknowledged.push_back(receipt.clone());
        }
        self.receipts
    }

    /// The change just counted in changed nothing this connection shows:
    /// it has the change without a message to acknowledge.
    fn unchanged(&mut self) {
        if let Some(receipt) = self.unacknowledged.pop_back() {
            receipt.acknowledged(crate::db::now_ms());
        }
    }

    /// The SDK has applied `version`, and so every change up to it.
    fn acknowledged(&mut self, version: u64) {
        let now = crate::db::now_ms();
        while let Some(receipt) = self.unacknowledged.front().filter(|r| r.version <= version) {
            receipt.acknowledged(now);
            self.unacknowledged.pop_front();
        }
    }
}

impl Connection {
    pub fn new(
        out: Outbox,
        incoming: SplitStream<Socket>,
        state: AppState,
        stopping: watch::Receiver<bool>,
    ) -> Connection {
        Connection {
            out,
            incoming,
            state,
            stopping,
        }
    }

    /// Queues a serialised message; the connection's loop writes it.
    pub fn send(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Close> {
        self.out.push(Message::Text(text.into())).map_err(|_| slow_consumer())
    }

    pub fn send_message(&mut self, message: &ServerMessage) -> Result<(), Close> {
        self.send(message.to_json())
    }

    /// The most this stream may queue (a resume must fit in it).
    pub fn max_queued_bytes(&self) -> usize {
        self.out.max_bytes()
    }

    /// Sends the `error` message and a close frame, giving them
    /// [`CLOSING_WAIT`] to go out.
    pub async fn close(&mut self, reason: Close) {
        if reason.code == "gone" {
            return;
        }
        metrics::counter!("daylight_stream_closed_total", "code" => reason.code).increment(1);
        if reason.code == "slow_consumer" {
            // What it could not read: it resumes from its version instead.
            self.out.clear();
        }
        let error = ServerMessage::Error {
            code: reason.code.to_owned(),
            supported: (reason.code == "unsupported_protocol").then(|| PROTOCOLS.to_vec()),
            message: reason.message,
        };
        let frame = Message::Close(Some(CloseFrame {
            code: close_code(reason.code).into(),
            reason: Utf8Bytes::from_static(""),
        }));
        if self.send_message(&error).is_ok() && self.out.push(frame).is_ok() {
            let _ = timeout(CLOSING_WAIT, self.out.write()).await;
        }
    }

    /// The hello, `welcome`, then the session until it ends.
    pub async fn run(&mut self, header_key: Option<String>, admitted: Option<StreamPermit>) -> Result<(), Close> {
        let first = tokio::select! {
            first = timeout(HELLO_TIMEOUT, self.incoming.next()) => first,
            _ = stopped(&mut self.stopping) => return Err(shutting_down()),
        };
        let hello = match first {
            Ok(Some(Ok(Message::Text(text)))) => frames::parse_hello(&text).map_err(|e| close("bad_message", e))?,
            Ok(Some(Ok(_))) => return Err(close("bad_message", "expected a hello text message")),
            Ok(Some(Err(e))) => return Err(read_error(e)),
            Ok(None) => return Err(gone()),
            Err(_) => return Err(close("bad_message", "no hello within 10 seconds")),
        };
        let secret = hello
            .key
            .clone()
            .or(header_key)
            .ok_or_else(|| close("unauthorized", "hello needs a key"))?;
        let key = self
            .state
            .keys
            .lookup(&self.state.db, &secret)
            .await
            .map_err(|_| close("unauthorized", "unknown or revoked key"))?;
        // Held until the connection ends.
        let _permit = match admitted.filter(|p| p.key() == key.id) {
            Some(permit) => permit,
            None => admit(&self.state, &key).map_err(Refused::into_close)?,
        };
        let protocol = frames::negotiate(&hello.protocols).ok_or_else(|| {
            close(
                "unsupported_protocol",
                format!("this server speaks protocols {PROTOCOLS:?}"),
            )
        })?;
        // Subscribe before reading any state, so no change falls in between.
        let changes = self.state.live.subscribe();
        let revocations = self.state.keys.revocations();
        let heartbeat = self.state.stream.heartbeat;
        self.send_message(&ServerMessage::Welcome {
            protocol,
            environment: key.environment.to_string(),
            kind: Some(key.kind.as_str().to_owned()),
            heartbeat_ms: Some(heartbeat.as_millis() as u64),
        })?;
        metrics::counter!("daylight_stream_sessions_total", "kind" => key.kind.as_str()).increment(1);
        let mut session = Session {
            key,
            secret,
            changes,
            revocations,
            heartbeat,
            tick: ticker(heartbeat),
            last_heard: Instant::now(),
            receipts: hello.receipts,
            unacknowledged: VecDeque::new(),
        };
        let environment = &session.key.environment;
        // After `welcome`, so an SDK holding the wrong kind of key learns
        // which kind it has (and stops) instead of retrying.
        let serving = match session.key.kind {
            KeyKind::Server => Serving::Rules(Rules::start(self, environment, hello.version).await?),
            KeyKind::Client => {
                let context = hello
                    .context
                    .ok_or_else(|| close("bad_message", "a client key's hello needs a context"))?;
                Serving::Values(Box::new(Values::start(self, environment, &context, hello.bundle)?))
            }
        };
        self.serve(&mut session, serving).await
    }

    /// The session's one loop: each event goes to what the key kind
    /// serves; heartbeats and usage reports are the same for both.
    async fn serve(&mut self, session: &mut Session, mut serving: Serving) -> Result<(), Close> {
        loop {
            let paced = match &mut serving {
                Serving::Rules(_) => None,
                Serving::Values(values) => values.bundle_notice(self)?,
            };
            match self.next_event(session, paced).await? {
                Event::Change(change) => {
                    let awaited = change.as_ref().is_ok_and(|applied| session.reached(applied));
                    match &mut serving {
                        Serving::Rules(rules) => rules.changed(self, change).await?,
                        Serving::Values(values) => {
                            let before = values.messages();
                            values.changed(self, change)?;
                            // Nothing to send: the page's values already are
                            // what this change makes them.
                            if awaited && values.messages() == before {
                                session.unchanged();
                            }
                        }
                    }
                }
                Event::Text(text) => {
                    // Types this server does not know are ignored, malformed
                    // frames not.
                    match frames::parse_client_frame(&text).map_err(|e| close("bad_message", e))? {
                        ClientFrame::Identify(context) => {
                            // Server keys have no context to change.
                            if let Serving::Values(values) = &mut serving {
                                values.identify(self, context)?;
                            }
                        }
                        ClientFrame::Usage => report_usage(&self.state, &session.key, &text).await,
                        ClientFrame::Applied(version) => session.acknowledged(version),
                        ClientFrame::Other => {}
                    }
                }
                Event::Heartbeat => {
                    let version = match &serving {
                        Serving::Rules(rules) => rules.version(),
                        Serving::Values(values) => values.version(),
                    };
                    self.send_message(&ServerMessage::Heartbeat { version: Some(version) })?;
                }
                Event::Paced => {
                    if let Serving::Values(values) = &mut serving {
                        values.paced(self)?;
                    }
                }
            }
        }
    }

    /// Waits for the next thing the loop acts on, meanwhile writing what is
    /// queued. Ends the session when the SDK stalls, goes silent for three
    /// heartbeats, closes, or its key is revoked.
    async fn next_event(&mut self, session: &mut Session, mut paced: Option<&mut Paced>) -> Result<Event, Close> {
        loop {
            let stalled_at = self.out.stalled_at();
            tokio::select! {
                written = self.out.write(), if stalled_at.is_some() => written.map_err(|_| gone())?,
                _ = sleep_until(stalled_at.unwrap_or_else(Instant::now)), if stalled_at.is_some() => {
                    return Err(slow_consumer());
                }
                _ = async { paced.as_mut().expect("guarded").await }, if paced.is_some() => return Ok(Event::Paced),
                _ = stopped(&mut self.stopping) => return Err(shutting_down()),
                change = session.changes.recv() => return Ok(Event::Change(change)),
                revocation = session.revocations.recv() => match revocation {
                    Ok(id) if id == session.key.id => return Err(revoked()),
                    Ok(_) | Err(RecvError::Closed) => {}
                    // Missed some: ask the cache.
                    Err(RecvError::Lagged(_)) => self.check_key(session).await?,
                },
                incoming = self.incoming.next() => {
                    session.last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => return Ok(Event::Text(text)),
                        Some(Err(e)) => return Err(read_error(e)),
                        Some(Ok(Message::Close(_))) | None => return Err(gone()),
                        // Binary frames are not JSON text.
                        Some(Ok(Message::Binary(_))) => return Err(close("bad_message", "expected JSON text messages")),
                        Some(Ok(_)) => {}
                    }
                }
                _ = session.tick.tick() => {
                    if session.last_heard.elapsed() > session.heartbeat * 3 {
                        return Err(gone());
                    }
                    // The safety net under revocation notices (a lost Redis
                    // message): the key cache re-reads a key at least every
                    // 30 s, in the background.
                    self.check_key(session).await?;
                    return Ok(Event::Heartbeat);
                }
            }
        }
    }

    /// Ends the session if its key is no longer valid. When the database
    /// cannot say, the key stays valid (streams go on through an outage).
    async fn check_key(&self, session: &Session) -> Result<(), Close> {
        match self
            .state
            .keys
            .lookup_without_waiting(&self.state.db, &session.secret)
            .await
        {
            Err(ApiError::Unauthorized) => Err(revoked()),
            _ => Ok(()),
        }
    }
}
