//! A small TCP load balancer between the SDKs and the nodes, which the test
//! uses to break connections: each front port forwards to its own node, or
//! to the next one up when that node is down (as a load balancer would), and
//! on command cuts connections (both sockets closed) or stalls them (bytes
//! stop flowing, the sockets stay open: only heartbeats can tell).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::seq::IteratorRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a stalled connection stays open before the proxy drops it
/// (long after the SDK's heartbeat deadline).
const STALL_LIMIT: Duration = Duration::from_secs(20);

struct Conn {
    cut: watch::Sender<bool>,
    stalled: Arc<AtomicBool>,
}

#[derive(Default)]
pub struct ProxyStats {
    /// SDK connections accepted.
    pub accepted: AtomicU64,
    /// Accepted, but no node answered.
    pub refused: AtomicU64,
    pub cut: AtomicU64,
    pub stalled: AtomicU64,
}

pub struct Proxy {
    /// The port SDKs use for each front.
    pub fronts: Vec<u16>,
    conns: Arc<Mutex<HashMap<u64, Conn>>>,
    pub stats: Arc<ProxyStats>,
}

impl Proxy {
    /// One front per backend port; front `i` prefers backend `i`.
    pub async fn start(backends: Vec<u16>) -> Proxy {
        let conns: Arc<Mutex<HashMap<u64, Conn>>> = Arc::default();
        let stats = Arc::new(ProxyStats::default());
        let next_id = Arc::new(AtomicU64::new(0));
        let mut fronts = Vec::new();
        for i in 0..backends.len() {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a proxy port");
            fronts.push(listener.local_addr().expect("an address").port());
            let order: Vec<u16> = (0..backends.len())
                .map(|k| backends[(i + k) % backends.len()])
                .collect();
            let (conns, stats, next_id) = (conns.clone(), stats.clone(), next_id.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    stats.accepted.fetch_add(1, Ordering::Relaxed);
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve(id, client, order.clone(), conns.clone(), stats.clone()));
                }
            });
        }
        Proxy { fronts, conns, stats }
    }

    pub fn open_connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// Closes `share` (0..=1) of the open connections, chosen at random.
    pub fn cut(&self, share: f64) -> usize {
        let conns = self.conns.lock().unwrap();
        let n = ((conns.len() as f64) * share).ceil() as usize;
        let chosen = conns.values().choose_multiple(&mut rand::rng(), n);
        for c in &chosen {
            c.cut.send_replace(true);
        }
        self.stats.cut.fetch_add(chosen.len() as u64, Ordering::Relaxed);
        chosen.len()
    }

    /// Stops forwarding on `n` open connections, chosen at random.
    pub fn stall(&self, n: usize) -> usize {
        let conns = self.conns.lock().unwrap();
        let chosen = conns
            .values()
            .filter(|c| !c.stalled.load(Ordering::Relaxed))
            .choose_multiple(&mut rand::rng(), n);
        for c in &chosen {
            c.stalled.store(true, Ordering::Relaxed);
        }
        self.stats.stalled.fetch_add(chosen.len() as u64, Ordering::Relaxed);
        chosen.len()
    }
}

async fn serve(
    id: u64,
    client: TcpStream,
    order: Vec<u16>,
    conns: Arc<Mutex<HashMap<u64, Conn>>>,
    stats: Arc<ProxyStats>,
) {
    let mut upstream = None;
    for port in order {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(("127.0.0.1", port))).await {
            upstream = Some(s);
            break;
        }
    }
    let Some(upstream) = upstream else {
        stats.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (cut_tx, cut_rx) = watch::channel(false);
    let stalled = Arc::new(AtomicBool::new(false));
    conns.lock().unwrap().insert(
        id,
        Conn {
            cut: cut_tx,
            stalled: stalled.clone(),
        },
    );
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    // Either direction ending ends both: the sockets close on drop.
    tokio::select! {
        _ = pump(cr, uw, cut_rx.clone(), stalled.clone()) => {}
        _ = pump(ur, cw, cut_rx, stalled) => {}
    }
    conns.lock().unwrap().remove(&id);
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut cut: watch::Receiver<bool>,
    stalled: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = cut.wait_for(|c| *c) => return,
        };
        if stalled.load(Ordering::Relaxed) {
            // Hold the bytes; the peer decides the connection is dead.
            let _ = tokio::time::timeout(STALL_LIMIT, cut.wait_for(|c| *c)).await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
