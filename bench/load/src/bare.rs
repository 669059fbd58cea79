//! `bare-server`: the floor. A minimal tokio + tokio-tungstenite broadcast
//! server speaking just enough of the protocol for `stream --bare`: it
//! answers a `hello` with `welcome` and `synced` (or `values` when the hello
//! has a context), and on `POST /broadcast` serialises one ~200-byte patch
//! once and hands it to every connection's own task through a broadcast
//! channel, which writes it. Same WebSocket buffer sizes as Daylight's
//! stream (4 KiB read, 4 KiB write), no TCP_NODELAY (axum::serve sets none).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[derive(Debug, Clone, clap::Args)]
pub struct BareArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// listen(2) backlog. 128 is what tokio's `TcpListener::bind` (and so
    /// Daylight's `axum::serve`) uses today.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub backlog: u32,
    /// Stop by itself after this many seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub max_seconds: u64,
}

struct State {
    version: AtomicU64,
    connections: AtomicUsize,
    tx: broadcast::Sender<Utf8Bytes>,
}

pub fn run(args: BareArgs) -> i32 {
    if !args.listen.ip().is_loopback() {
        eprintln!("bare-server: listen on a loopback address only");
        return 2;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let bound = (|| {
            let sock = if args.listen.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            sock.set_reuseaddr(true)?;
            sock.bind(args.listen)?;
            sock.listen(args.backlog)
        })();
        let listener = match bound {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bare-server: bind {}: {e}", args.listen);
                return 2;
            }
        };
        eprintln!("bare-server: listening on {} (pid {})", args.listen, std::process::id());
        let state = Arc::new(State {
            version: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            tx: broadcast::channel(4096).0,
        });
        let serve = async {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move { handle(sock, state).await });
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(args.max_seconds), serve).await;
        eprintln!("bare-server: --max-seconds reached, exiting");
        0
    })
}

fn patch(version: u64) -> String {
    let mut msg = format!(
        r#"{{"doc":{{"on":{},"variations":[false,true],"fallthrough":{{"variation":1}},"pad":""}},"key":"bench-flag","kind":"flag","type":"patch","version":{version}}}"#,
        version & 1 == 0
    );
    // Pad the string inside `doc` to about 200 bytes in all.
    let pad = 200usize.saturating_sub(msg.len());
    let at = msg.find(r#""pad":""#).unwrap() + 7;
    msg.insert_str(at, &"x".repeat(pad));
    msg
}

async fn handle(sock: TcpStream, state: Arc<State>) {
    let mut head = [0u8; 5];
    // Peek until we can tell an HTTP POST from a WebSocket upgrade (GET).
    for _ in 0..100 {
        match sock.peek(&mut head).await {
            Ok(n) if n >= 5 => break,
            Ok(0) | Err(_) => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    if &head[..4] == b"POST" {
        return http(sock, state).await;
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(sock, Some(config)).await else {
        return;
    };
    let hello = match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t,
        _ => return,
    };
    // Subscribe before reading the version, as Daylight does.
    let mut rx = state.tx.subscribe();
    let version = state.version.load(Ordering::SeqCst);
    let client = hello.as_str().contains("\"context\"");
    let welcome = format!(
        r#"{{"type":"welcome","protocol":1,"environment":"production","kind":"{}","heartbeat_ms":15000}}"#,
        if client { "client" } else { "server" }
    );
    let sync = if client {
        format!(r#"{{"type":"values","version":{version},"flags":{{}}}}"#)
    } else {
        format!(r#"{{"type":"synced","version":{version}}}"#)
    };
    if ws.send(Message::text(welcome)).await.is_err() || ws.send(Message::text(sync)).await.is_err() {
        return;
    }
    state.connections.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Ok(text) => if ws.send(Message::Text(text)).await.is_err() { break },
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            m = ws.next() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            }
        }
    }
    state.connections.fetch_sub(1, Ordering::Relaxed);
}

/// `POST /broadcast`: one new version to everyone; answers with it.
async fn http(mut sock: TcpStream, state: Arc<State>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 16 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
        .min(64 * 1024);
    while buf.len() < head_end + length {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let (status, body) = if head.starts_with("POST /broadcast ") {
        let version = state.version.fetch_add(1, Ordering::SeqCst) + 1;
        let sent = state.tx.send(Utf8Bytes::from(patch(version))).unwrap_or(0);
        (
            "200 OK",
            format!(
                r#"{{"version":{version},"receivers":{sent},"connections":{},"pid":{}}}"#,
                state.connections.load(Ordering::Relaxed),
                std::process::id()
            ),
        )
    } else {
        ("404 Not Found", r#"{"error":"not_found"}"#.to_string())
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn patch_is_about_200_bytes_and_scans() {
        let p = super::patch(7);
        assert!((195..=210).contains(&p.len()), "{}", p.len());
        assert_eq!(crate::util::scan(p.as_bytes()), (Some(&b"patch"[..]), Some(7)));
        serde_json::from_str::<serde_json::Value>(&p).unwrap();
    }
}
