//! One load-generating process: opens its share of the connections, then
//! records when each one receives each change. It talks to the parent
//! (`stream`) over stdin/stdout, one line per message:
//!
//! - out `READY {json}`: every connection is synced (or failed); connect stats.
//! - out `ALL k`: every live connection has change k (1-based).
//! - in `REPORT`: out `DATA k t1 t2 …` per change (CLOCK_MONOTONIC ns of
//!   receipt per connection, 0 when missing), then `END`.
//! - in `QUIT` or end of input: exit.
//!
//! A few tasks each drive many connections (`SelectAll`), and receiving
//! only scans a message for its top-level `type` and `version`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, SelectAll, SplitSink, StreamExt};
use futures_util::SinkExt;
use tokio::io::AsyncBufReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::util::{mono_ns, scan};

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Stream URLs (ws://IP:PORT/path), round-robin by global index.
    #[arg(long, value_delimiter = ',', required = true)]
    pub urls: Vec<String>,
    #[arg(long, default_value = "")]
    pub key: String,
    #[arg(long, default_value = "server")]
    pub kind: String,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=19_900))]
    pub connections: u32,
    /// Global index of this worker's first connection.
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    #[arg(long, default_value = "127.0.0.2-127.0.0.9")]
    pub source_ips: String,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub changes: u32,
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    #[arg(long, default_value_t = 8)]
    pub tasks: usize,
    /// SO_RCVBUF/SO_SNDBUF for client sockets (0: kernel default).
    #[arg(long, default_value_t = 0)]
    pub sock_buf: usize,
    /// Say `receipts` in the hello and acknowledge each change, as the SDKs do.
    #[arg(long)]
    pub receipts: bool,
    #[arg(long, default_value_t = 900)]
    pub max_seconds: u64,
}

type Ws = WebSocketStream<TcpStream>;

struct Shared {
    changes: usize,
    /// Receipt time per (connection, change), ns; 0 = not yet.
    recv: Vec<AtomicU64>,
    /// Connections that have change k (index k-1).
    got: Vec<AtomicUsize>,
    dropped: AtomicUsize,
    errors: AtomicUsize,
}

struct Connected {
    local: usize,
    ws: Ws,
    base: u64,
    heartbeat_ms: u64,
    connect_us: u64,
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20))
}

async fn connect_one(
    local: usize,
    url: &str,
    addr: SocketAddr,
    src: Ipv4Addr,
    hello: String,
    sock_buf: usize,
) -> Result<Connected, String> {
    let start = Instant::now();
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(|e| format!("socket: {e}"))?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    let one: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(format!("IP_BIND_ADDRESS_NO_PORT: {}", std::io::Error::last_os_error()));
    }
    if sock_buf > 0 {
        let _ = sock.set_recv_buffer_size(sock_buf);
        let _ = sock.set_send_buffer_size(sock_buf);
    }
    sock.bind(&SocketAddr::new(src.into(), 0).into())
        .map_err(|e| format!("bind {src}: {e}"))?;
    let std_stream: std::net::TcpStream = sock.into();
    let tcp = TcpSocket::from_std_stream(std_stream)
        .connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config()))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    ws.send(Message::text(hello)).await.map_err(|e| format!("hello: {e}"))?;
    let mut heartbeat_ms = 15_000;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .map_err(|_| "no synced/values within 60 s".to_string())?;
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(c))) => return Err(format!("closed during handshake: {c:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("closed during handshake".into()),
        };
        let (ty, version) = scan(text.as_bytes());
        match ty {
            Some(b"welcome") => {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    heartbeat_ms = v["heartbeat_ms"].as_u64().unwrap_or(heartbeat_ms);
                }
            }
            Some(b"synced") | Some(b"values") => {
                return Ok(Connected {
                    local,
                    ws,
                    base: version.unwrap_or(0),
                    heartbeat_ms,
                    connect_us: start.elapsed().as_micros() as u64,
                })
            }
            Some(b"error") => return Err(format!("server error: {text}")),
            _ => {}
        }
    }
}

pub fn run(args: WorkerArgs) -> i32 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let max = Duration::from_secs(args.max_seconds);
    rt.block_on(async move {
        match tokio::time::timeout(max, run_async(args)).await {
            Ok(code) => code,
            Err(_) => {
                eprintln!("worker: --max-seconds reached, exiting");
                3
            }
        }
    })
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

async fn run_async(args: WorkerArgs) -> i32 {
    let n = args.connections as usize;
    let k = args.changes as usize;
    let srcs = match crate::util::source_ips(&args.source_ips) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("worker: {e}");
            return 2;
        }
    };
    let mut targets = Vec::new();
    for u in &args.urls {
        match crate::util::loopback_addr(u) {
            Ok(a) => targets.push((u.clone(), a)),
            Err(e) => {
                eprintln!("worker: {e}");
                return 2;
            }
        }
    }
    let shared = Arc::new(Shared {
        changes: k,
        recv: (0..n * k).map(|_| AtomicU64::new(0)).collect(),
        got: (0..k).map(|_| AtomicUsize::new(0)).collect(),
        dropped: AtomicUsize::new(0),
        errors: AtomicUsize::new(0),
    });
    let tasks = args.tasks.clamp(1, 64).min(n);
    let per_task_conc = (args.connect_concurrency / tasks).max(1);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<(Vec<u64>, Vec<String>, usize)>();
    let started = Instant::now();
    for t in 0..tasks {
        let locals: Vec<usize> = (t..n).step_by(tasks).collect();
        let shared = shared.clone();
        let ready_tx = ready_tx.clone();
        let targets = targets.clone();
        let srcs = srcs.clone();
        let args = args.clone();
        tokio::spawn(async move {
            let results: Vec<Result<Connected, String>> = stream::iter(locals)
                .map(|local| {
                    let global = args.offset as usize + local;
                    let (url, addr) = &targets[global % targets.len()];
                    let src = srcs[global % srcs.len()];
                    let receipts = if args.receipts { r#","receipts":true"# } else { "" };
                    let hello = if args.kind == "client" {
                        format!(
                            r#"{{"type":"hello","protocols":[1],"key":"{}","sdk":"daylight-bench/0.1","context":{{"key":"ctx-{global}"}}{receipts}}}"#,
                            args.key
                        )
                    } else {
                        format!(
                            r#"{{"type":"hello","protocols":[1],"key":"{}","sdk":"daylight-bench/0.1"{receipts}}}"#,
                            args.key
                        )
                    };
                    let url = url.clone();
                    let addr = *addr;
                    async move { connect_one(local, &url, addr, src, hello, args.sock_buf).await }
                })
                .buffer_unordered(per_task_conc)
                .collect()
                .await;
            let mut times = Vec::new();
            let mut errors = Vec::new();
            let mut conns = Vec::new();
            let mut failed = 0;
            for r in results {
                match r {
                    Ok(c) => {
                        times.push(c.connect_us);
                        conns.push(c);
                    }
                    Err(e) => {
                        failed += 1;
                        if errors.len() < 5 {
                            errors.push(e);
                        }
                    }
                }
            }
            let _ = ready_tx.send((times, errors, failed));
            drive(conns, shared, args.receipts).await;
        });
    }
    drop(ready_tx);
    let mut times = Vec::with_capacity(n);
    let mut errors = Vec::new();
    let mut failed = 0;
    for _ in 0..tasks {
        let Some((t, e, f)) = ready_rx.recv().await else { break };
        times.extend(t);
        errors.extend(e);
        failed += f;
    }
    let connected = times.len();
    say(&format!(
        "READY {}",
        serde_json::json!({
            "connected": connected, "failed": failed, "errors": errors,
            "wall_ms": started.elapsed().as_secs_f64() * 1000.0, "connect_us": times,
        })
    ));
    // Tell the parent when every live connection has change k.
    let monitor = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut next = 0;
            while next < shared.changes {
                let got = shared.got[next].load(Ordering::Relaxed) + shared.dropped.load(Ordering::Relaxed);
                if got >= connected {
                    say(&format!("ALL {}", next + 1));
                    next += 1;
                    continue;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match line.trim() {
            "REPORT" => {
                let mut out = String::with_capacity(n * 20);
                for c in 0..k {
                    out.clear();
                    out.push_str(&format!("DATA {}", c + 1));
                    for i in 0..n {
                        out.push(' ');
                        out.push_str(&shared.recv[i * k + c].load(Ordering::Relaxed).to_string());
                    }
                    say(&out);
                }
                say(&format!(
                    "END {}",
                    serde_json::json!({
                        "dropped": shared.dropped.load(Ordering::Relaxed),
                        "errors": shared.errors.load(Ordering::Relaxed),
                    })
                ));
            }
            "QUIT" => break,
            _ => {}
        }
    }
    monitor.abort();
    0
}

/// Reads every connection of one task; sends the client heartbeats the
/// protocol asks for, spread over the interval.
async fn drive(conns: Vec<Connected>, shared: Arc<Shared>, receipts: bool) {
    let k = shared.changes;
    let heartbeat_ms = conns.iter().map(|c| c.heartbeat_ms).min().unwrap_or(15_000).max(200);
    let mut sinks: Vec<SplitSink<Ws, Message>> = Vec::with_capacity(conns.len());
    let mut reads = SelectAll::new();
    for (i, c) in conns.into_iter().enumerate() {
        let (sink, read) = c.ws.split();
        sinks.push(sink);
        let (local, base) = (c.local, c.base);
        // `None` once the stream ends, so a drop is counted.
        reads.push(
            read.map(move |m| (i, local, base, Some(m)))
                .chain(stream::iter(std::iter::once((i, local, base, None)))),
        );
    }
    let tick_ms = 100u64;
    let slices = (heartbeat_ms * 2 / 3 / tick_ms).max(1) as usize; // every 2/3 of the interval
    let per_tick = sinks.len().div_ceil(slices);
    let mut cursor = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let heartbeat = Message::text(r#"{"type":"heartbeat"}"#);
    loop {
        tokio::select! {
            item = reads.next() => {
                let Some((i, local, base, m)) = item else { return };
                match m {
                    Some(Ok(Message::Text(text))) => {
                        let now = mono_ns();
                        let (ty, version) = scan(text.as_bytes());
                        match (ty, version) {
                            (Some(b"patch") | Some(b"changed"), Some(v)) if v > base && ((v - base) as usize) <= k => {
                                let c = (v - base) as usize - 1;
                                let slot = &shared.recv[local * k + c];
                                if slot.load(Ordering::Relaxed) == 0 {
                                    slot.store(now, Ordering::Relaxed);
                                    shared.got[c].fetch_add(1, Ordering::Relaxed);
                                }
                                if receipts {
                                    let applied = format!(r#"{{"type":"applied","version":{v}}}"#);
                                    let _ = sinks[i].send(Message::text(applied)).await;
                                }
                            }
                            (Some(b"error"), _) => {
                                let before = shared.errors.fetch_add(1, Ordering::Relaxed);
                                if before < 3 {
                                    eprintln!("worker: server error: {text}");
                                }
                            }
                            _ => {}
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) => {}
                    None => { shared.dropped.fetch_add(1, Ordering::Relaxed); }
                }
            }
            _ = tick.tick() => {
                if sinks.is_empty() { continue; }
                for _ in 0..per_tick {
                    let len = sinks.len();
                    let s = &mut sinks[cursor % len];
                    cursor += 1;
                    let _ = s.send(heartbeat.clone()).await;
                }
            }
        }
    }
}
