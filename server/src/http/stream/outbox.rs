//! What one stream has yet to write to its SDK.
//!
//! A connection queues its messages here and writes them from the same loop
//! that reads the change broadcast and the socket, so an SDK that stops
//! reading never stops the server from reading (its heartbeats, the
//! broadcast). The queue is bounded in bytes, not messages (one segment
//! patch can be megabytes), and a write that makes no progress for the
//! write timeout gives up on the SDK.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::time::Instant;

pub struct Outbox {
    sink: SplitSink<WebSocket, Message>,
    queue: VecDeque<Message>,
    queued_bytes: usize,
    max_bytes: usize,
    write_timeout: Duration,
    /// While something waits to be written: when the writer last made
    /// progress (or the first message was queued).
    waiting_since: Option<Instant>,
}

/// The queue holds `max_bytes` already: the SDK does not keep up.
#[derive(Debug)]
pub struct Full;

impl Outbox {
    pub fn new(sink: SplitSink<WebSocket, Message>, max_bytes: usize, write_timeout: Duration) -> Outbox {
        Outbox {
            sink,
            queue: VecDeque::new(),
            queued_bytes: 0,
            max_bytes,
            write_timeout,
            waiting_since: None,
        }
    }

    /// Queues `message`, unless the queue already holds `max_bytes` (one
    /// message may overshoot: a snapshot larger than the bound still goes
    /// out to an SDK that keeps up).
    pub fn push(&mut self, message: Message) -> Result<(), Full> {
        if self.queued_bytes >= self.max_bytes {
            return Err(Full);
        }
        self.queued_bytes += size(&message);
        self.queue.push_back(message);
        self.waiting_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// The most a stream may queue.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// When the pending write counts as stalled, if anything is pending.
    pub fn stalled_at(&self) -> Option<Instant> {
        self.waiting_since.map(|since| since + self.write_timeout)
    }

    /// Writes everything queued, then flushes: a batch (a catch-up and its
    /// `synced`) goes out in one write. Cancel-safe: a message leaves the
    /// queue only once the socket has taken it.
    pub async fn write(&mut self) -> Result<(), axum::Error> {
        while let Some(message) = self.queue.front().cloned() {
            self.sink.feed(message).await?;
            if let Some(written) = self.queue.pop_front() {
                self.queued_bytes -= size(&written);
            }
            self.waiting_since = Some(Instant::now());
        }
        self.sink.flush().await?;
        self.waiting_since = None;
        Ok(())
    }

    /// Drops what has not been written yet (the SDK resumes from its version).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.queued_bytes = 0;
    }
}

fn size(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
        Message::Close(_) => 2,
    }
}
