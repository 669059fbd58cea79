//! What one stream has yet to write to its SDK.
//!
//! A connection queues its messages here and writes them from the same loop
//! that reads the change broadcast and the socket, so an SDK that stops
//! reading never stops the server from reading (its heartbeats, the
//! broadcast). The queue is bounded in bytes, not messages (one segment
//! patch can be megabytes), and a write that makes no progress for the
//! write timeout gives up on the SDK.
//!
//! A text message longer than [`FRAME`] goes out as several frames of at
//! most that size (a fragmented message, RFC 6455 §5.4, which every
//! WebSocket client reassembles): tungstenite's out buffer keeps the
//! capacity of the largest frame it ever wrote, so one 10 KB `values`
//! message would otherwise cost every idle connection 10 KB for its life.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::time::Instant;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::{Bytes, Message};

use super::upgrade::Socket;

/// The largest frame a stream writes (bytes of payload).
pub const FRAME: usize = 1024;

pub struct Outbox {
    sink: SplitSink<Socket, Message>,
    queue: VecDeque<Message>,
    /// Bytes of the front message already written, as frames.
    sent: usize,
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
    pub fn new(sink: SplitSink<Socket, Message>, max_bytes: usize, write_timeout: Duration) -> Outbox {
        Outbox {
            sink,
            queue: VecDeque::new(),
            sent: 0,
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
    /// `synced`) goes out in one write. Cancel-safe: a message (or a frame
    /// of one) leaves the queue only once the socket has taken it.
    pub async fn write(&mut self) -> Result<(), tungstenite::Error> {
        while let Some(message) = self.queue.front().cloned() {
            match message {
                Message::Text(text) if text.len() > FRAME => {
                    let bytes = Bytes::from(text.clone());
                    while self.sent < text.len() {
                        let end = frame_end(&text, self.sent);
                        let opcode = if self.sent == 0 { Data::Text } else { Data::Continue };
                        let frame =
                            Frame::message(bytes.slice(self.sent..end), OpCode::Data(opcode), end == text.len());
                        self.sink.feed(Message::Frame(frame)).await?;
                        self.sent = end;
                        self.waiting_since = Some(Instant::now());
                    }
                }
                message => self.sink.feed(message).await?,
            }
            self.sent = 0;
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
        // A message half written as frames must be finished first, or the
        // next message would land inside it.
        let started = (self.sent > 0).then(|| self.queue.pop_front()).flatten();
        self.queue.clear();
        self.queued_bytes = 0;
        if let Some(message) = started {
            self.queued_bytes = size(&message);
            self.queue.push_back(message);
        }
    }
}

/// Where the frame that starts at `start` ends: at most [`FRAME`] bytes on,
/// on a character boundary (so every frame is valid UTF-8 on its own, for
/// clients that check frame by frame).
fn frame_end(text: &str, start: usize) -> usize {
    let mut end = (start + FRAME).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn size(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
        Message::Close(_) => 2,
        Message::Frame(frame) => frame.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_end_on_character_boundaries_and_cover_the_text() {
        // Two-byte characters after one ASCII byte: FRAME falls mid-character.
        let text = format!("a{}", "é".repeat(FRAME));
        let mut start = 0;
        let mut frames = Vec::new();
        while start < text.len() {
            let end = frame_end(&text, start);
            assert!(end > start && end - start <= FRAME);
            frames.push(&text[start..end]);
            start = end;
        }
        assert_eq!(frames.concat(), text);
        assert_eq!(
            frames.iter().map(|f| f.len()).collect::<Vec<_>>(),
            [FRAME - 1, FRAME, 2]
        );
    }
}
