//! The network task: one WebSocket at a time to `/sdk/v1/stream`, the
//! handshake, heartbeats, and reconnects with back-off (`docs/protocol.md`).
//!
//! [`run`] loops over connections; [`connect`] runs one of them until it
//! ends, and the way it ended ([`End`]) decides how long to wait before the
//! next. The data itself goes through the [`Replica`], which decides whether
//! a patch left a gap.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{debug, error, info, warn};

use super::backoff::Backoff;
use super::store::{ConnectionState, PatchOutcome, Replica};
use super::usage::Usage;
use crate::protocol::{ClientMessage, ServerMessage, PROTOCOLS};
use std::sync::Arc;

/// Used when `welcome` does not say (the protocol's usual interval).
const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(15_000);
/// The connection is dead after this many heartbeat intervals of silence.
const DEAD_AFTER_INTERVALS: u32 = 3;
/// The largest message read: a snapshot of a big environment is one message.
const MAX_MESSAGE_SIZE: usize = 256 << 20;
/// How long a close frame may take to leave before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the network task needs to know (from [`super::ClientBuilder`]).
#[derive(Clone)]
pub(crate) struct StreamConfig {
    pub url: String,
    pub key: String,
    pub sdk: String,
    pub connect_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub unauthorized_retry: Duration,
    /// Counts to report (`None`: usage reporting is off).
    pub usage: Option<Arc<Usage>>,
    pub usage_interval: Duration,
}

impl std::fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("StreamConfig")
            .field("url", &self.url)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// How one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Reconnect after the back-off; `synced` says the connection got in
    /// sync, which restarts the back-off from its shortest delay.
    Retry { synced: bool },
    /// The key was refused: retry after the long `unauthorized_retry`.
    Unauthorized,
    /// Never retry (no shared protocol, or not a server key).
    Stop,
    /// The client is closing.
    Shutdown,
}

/// Runs connections until the client closes or the server says stop.
pub(crate) async fn run(mut replica: Replica, config: StreamConfig, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
    while !*shutdown.borrow_and_update() {
        replica.store().set_state(ConnectionState::Connecting);
        let (state, delay) = match connect(&mut replica, &config, &mut shutdown).await {
            End::Shutdown => break,
            End::Stop => {
                replica.store().set_state(ConnectionState::Stopped);
                return;
            }
            End::Unauthorized => (ConnectionState::Unauthorized, config.unauthorized_retry),
            End::Retry { synced } => {
                if synced {
                    backoff.reset();
                }
                (ConnectionState::Disconnected, backoff.next_delay())
            }
        };
        replica.store().set_state(state);
        debug!(?delay, resume = ?replica.resume_version(), "reconnecting after a delay");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => break,
        }
    }
    replica.store().set_state(ConnectionState::Closed);
}

/// What woke the connection loop.
enum Event {
    Shutdown,
    Frame(Option<Result<Message, tungstenite::Error>>),
    Silence,
    Tick,
    Usage,
}

/// One connection, from the upgrade to its end.
async fn connect(replica: &mut Replica, config: &StreamConfig, shutdown: &mut watch::Receiver<bool>) -> End {
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE));
    let upgrade = tokio::time::timeout(
        config.connect_timeout,
        tokio_tungstenite::connect_async_with_config(config.url.as_str(), Some(ws_config), true),
    );
    let socket = tokio::select! {
        result = upgrade => match result {
            Ok(Ok((socket, _response))) => socket,
            Ok(Err(tungstenite::Error::Http(response))) if matches!(response.status().as_u16(), 401 | 403) => {
                error!(url = %config.url, status = %response.status(), "the server refused the key");
                return End::Unauthorized;
            }
            Ok(Err(e)) => {
                warn!(url = %config.url, error = %e, "cannot connect to the flag stream");
                return End::Retry { synced: false };
            }
            Err(_) => {
                warn!(url = %config.url, timeout = ?config.connect_timeout, "connecting to the flag stream timed out");
                return End::Retry { synced: false };
            }
        },
        _ = shutdown.changed() => return End::Shutdown,
    };
    let (mut sink, mut frames) = socket.split();
    let hello = ClientMessage::Hello {
        protocols: PROTOCOLS.to_vec(),
        key: Some(config.key.clone()),
        sdk: Some(config.sdk.clone()),
        version: replica.resume_version(),
        context: None,
        bundle: None,
        receipts: true,
    };
    if let Err(e) = sink.send(Message::text(hello.to_json())).await {
        warn!(error = %e, "the flag stream closed during the handshake");
        return End::Retry { synced: false };
    }

    let mut session = Session {
        heartbeat: None,
        synced: false,
        receipt: None,
    };
    let mut ticker: Option<Interval> = None;
    let mut usage_ticker: Option<Interval> = None;
    let mut last_heard = Instant::now();
    let end = loop {
        // Before `welcome` the connect timeout applies; then three intervals.
        let silence = session
            .heartbeat
            .map_or(config.connect_timeout, |h| h * DEAD_AFTER_INTERVALS);
        let event = tokio::select! {
            _ = shutdown.changed() => Event::Shutdown,
            frame = frames.next() => Event::Frame(frame),
            _ = tokio::time::sleep_until(last_heard + silence) => Event::Silence,
            _ = tick(&mut ticker) => Event::Tick,
            _ = tick(&mut usage_ticker) => Event::Usage,
        };
        let end = match event {
            Event::Shutdown => {
                // Counts since the last report go out before the close.
                if session.heartbeat.is_some() {
                    let _ = send_usage(&mut sink, config, CLOSE_TIMEOUT).await;
                }
                Some(End::Shutdown)
            }
            Event::Usage => match send_usage(&mut sink, config, silence).await {
                Ok(()) => None,
                Err(e) => {
                    warn!(error = %e, "cannot send usage counts: reconnecting");
                    Some(session.retry())
                }
            },
            Event::Silence => {
                warn!(?silence, "heard nothing from the flag stream: reconnecting");
                Some(session.retry())
            }
            Event::Tick => {
                // A server that stops reading must not stall this loop.
                let heartbeat = Message::text(ClientMessage::Heartbeat.to_json());
                match tokio::time::timeout(silence, sink.send(heartbeat)).await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => {
                        warn!(error = %e, "cannot send a heartbeat: reconnecting");
                        Some(session.retry())
                    }
                    Err(_) => {
                        warn!(?silence, "the flag stream takes no heartbeat: reconnecting");
                        Some(session.retry())
                    }
                }
            }
            Event::Frame(frame) => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => session.handle(&text, replica),
                    Some(Ok(Message::Close(frame))) => {
                        info!(?frame, "the server closed the flag stream: reconnecting");
                        Some(session.retry())
                    }
                    // Pings are answered by tungstenite; binary frames are not ours.
                    Some(Ok(_)) => None,
                    Some(Err(e)) => {
                        warn!(error = %e, "the flag stream failed: reconnecting");
                        Some(session.retry())
                    }
                    None => {
                        info!("the flag stream ended: reconnecting");
                        Some(session.retry())
                    }
                }
            }
        };
        if let Some(end) = end {
            break end;
        }
        // The receipt for what was just applied, so the server can tell
        // an operator that this SDK has the change.
        if let Some(version) = session.receipt.take() {
            let receipt = Message::text(ClientMessage::Applied { version }.to_json());
            match tokio::time::timeout(silence, sink.send(receipt)).await {
                Ok(Ok(())) => {}
                _ => {
                    warn!("cannot send a receipt: reconnecting");
                    break session.retry();
                }
            }
        }
        if let (None, Some(interval)) = (&ticker, session.heartbeat) {
            let mut t = tokio::time::interval_at(Instant::now() + interval, interval);
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticker = Some(t);
            if config.usage.is_some() {
                let mut t = tokio::time::interval_at(Instant::now() + config.usage_interval, config.usage_interval);
                t.set_missed_tick_behavior(MissedTickBehavior::Delay);
                usage_ticker = Some(t);
            }
        }
    };
    // Best effort: the server may already be gone.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(None))).await;
    if end == End::Shutdown {
        // The server reads in order: once it ends the connection, what was
        // sent before the close (the last usage report) has been handled.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(frame)) = frames.next().await {
                if matches!(frame, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    end
}

/// Sends the usage counts since the last report; on failure they are kept
/// for the next connection.
async fn send_usage<S>(sink: &mut S, config: &StreamConfig, timeout: Duration) -> Result<(), String>
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let Some(usage) = &config.usage else {
        return Ok(());
    };
    let mut reports = usage.take().into_iter();
    while let Some(report) = reports.next() {
        let sent = tokio::time::timeout(timeout, sink.send(Message::text(report.to_json()))).await;
        let error = match sent {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        usage.restore(std::iter::once(report).chain(reports).collect());
        return Err(error);
    }
    Ok(())
}

/// The next tick of a timer, or never before it is set (after `welcome`).
async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(ticker) => drop(ticker.tick().await),
        None => std::future::pending().await,
    }
}

/// What one connection has learnt so far.
struct Session {
    /// The server's heartbeat interval, known from `welcome`.
    heartbeat: Option<Duration>,
    /// `synced` arrived: the data is up to date.
    synced: bool,
    /// A version applied and not yet acknowledged to the server.
    receipt: Option<u64>,
}

impl Session {
    fn retry(&self) -> End {
        End::Retry { synced: self.synced }
    }

    /// Handles one text message; `Some` ends the connection.
    fn handle(&mut self, text: &str, replica: &mut Replica) -> Option<End> {
        let message = match serde_json::from_str::<ServerMessage>(text) {
            Ok(message) => message,
            Err(e) => {
                warn!(error = %e, "ignoring a message this SDK cannot read");
                return None;
            }
        };
        match message {
            ServerMessage::Welcome {
                protocol,
                environment,
                kind,
                heartbeat_ms,
            } => {
                if !PROTOCOLS.contains(&protocol) {
                    error!(
                        protocol,
                        "the server chose a protocol this SDK did not offer: reconnecting"
                    );
                    return Some(self.retry());
                }
                if let Some(kind) = kind.filter(|k| k != "server") {
                    error!(
                        kind,
                        "the key is not a server key: daylight::client needs a server key; stopping"
                    );
                    return Some(End::Stop);
                }
                let heartbeat = heartbeat_ms
                    .filter(|ms| *ms > 0)
                    .map_or(DEFAULT_HEARTBEAT, Duration::from_millis);
                self.heartbeat = Some(heartbeat);
                info!(environment, ?heartbeat, "connected to the flag stream");
                None
            }
            ServerMessage::Snapshot { version, ruleset } => match replica.apply_snapshot(version, ruleset) {
                Ok(()) => None,
                Err(e) => {
                    error!(version, error = %e, "cannot use the server's snapshot: keeping the last known flags");
                    Some(self.retry())
                }
            },
            ServerMessage::Synced { version } => match replica.server_version() {
                Some(have) if have == version => {
                    self.synced = true;
                    self.receipt = Some(version);
                    replica.store().set_state(ConnectionState::Synced);
                    info!(version, "flags in sync");
                    None
                }
                Some(have) if have < version => {
                    info!(have, version, "missed changes before `synced`: resuming");
                    Some(self.retry())
                }
                have => {
                    // The server is behind what we have (or sent no data):
                    // start over from a snapshot.
                    warn!(
                        ?have,
                        version, "`synced` does not match the data received: asking for a snapshot"
                    );
                    replica.forget_version();
                    Some(self.retry())
                }
            },
            ServerMessage::Patch {
                version,
                kind,
                key,
                doc,
            } => match replica.apply_patch(version, &kind, &key, doc) {
                PatchOutcome::Applied => {
                    debug!(version, kind, key, "applied a patch");
                    self.receipt = Some(version);
                    None
                }
                PatchOutcome::Stale => {
                    debug!(version, kind, key, "ignoring a patch already applied");
                    None
                }
                PatchOutcome::Gap => {
                    let have = replica.resume_version();
                    info!(?have, version, "missed a change: reconnecting to resume");
                    Some(self.retry())
                }
            },
            ServerMessage::Heartbeat { version } => {
                let behind = self.synced && version.is_some_and(|v| replica.server_version().is_some_and(|h| h < v));
                if behind {
                    info!(have = ?replica.server_version(), version, "a heartbeat shows a missed change: resuming");
                    return Some(self.retry());
                }
                None
            }
            ServerMessage::Error { code, message, .. } => match code.as_str() {
                "unauthorized" => {
                    error!(message, "the server refused the key; retrying after a long back-off");
                    Some(End::Unauthorized)
                }
                "unsupported_protocol" => {
                    error!(message, "the server and this SDK share no protocol version: stopping");
                    Some(End::Stop)
                }
                // bad_message, slow_consumer, shutting_down and codes this
                // SDK does not know: reconnect with back-off and resume.
                _ => {
                    warn!(code, message, "the server sent an error: reconnecting");
                    Some(self.retry())
                }
            },
            // Client-key messages never reach a server-key stream; a kind
            // this SDK does not know is ignored.
            ServerMessage::Values { .. }
            | ServerMessage::Changed { .. }
            | ServerMessage::Bundle { .. }
            | ServerMessage::Unknown => None,
        }
    }
}

/// Feeds server frames, in order, to a fresh replica exactly as a
/// connection does ([`Session::handle`]); a frame that ends the connection
/// starts a new session on the same replica, like a reconnect. Returns the
/// ruleset the SDK ends up with. For fuzzing and protocol tests.
#[doc(hidden)]
pub fn replay_server_frames<'a>(frames: impl IntoIterator<Item = &'a str>) -> Option<std::sync::Arc<crate::Ruleset>> {
    use super::store::Store;
    let store = std::sync::Arc::new(Store::new(None, ConnectionState::Connecting));
    let mut replica = Replica::new(store.clone(), None);
    let mut session = Session {
        heartbeat: None,
        synced: false,
        receipt: None,
    };
    for frame in frames {
        if session.handle(frame, &mut replica).is_some() {
            session = Session {
                heartbeat: None,
                synced: false,
                receipt: None,
            };
        }
    }
    store.load_full()
}
