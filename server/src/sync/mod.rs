//! `daylight sync`: keeps one environment's ruleset in local files (and
//! optionally Redis) for apps that cannot hold a stream, such as PHP under
//! PHP-FPM (`docs/sdk-php.md`). It runs the Rust SDK's streaming client
//! (resume after a reconnect, back-off) and writes the whole document again
//! after every change, replacing each file by an atomic rename.

mod output;
pub mod php;
mod usage;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use daylight::client::{Client, ConnectionState};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::broadcast::error::RecvError;
use tracing::info;
use tracing_subscriber::EnvFilter;

use output::{Outputs, Snapshot};

/// The options of `daylight sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The environment's server key.
    #[arg(long, env = "DAYLIGHT_KEY", hide_env_values = true)]
    pub key: String,
    /// Write the snapshot as a PHP file (what the PHP SDK reads best).
    #[arg(long, value_name = "FILE")]
    pub php_file: Option<PathBuf>,
    /// Write the snapshot as a `RulesetDocument` JSON file.
    #[arg(long, value_name = "FILE")]
    pub json_file: Option<PathBuf>,
    /// Also keep the snapshot in Redis, for hosts that share one copy.
    #[arg(long, env = "DAYLIGHT_SYNC_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// The Redis key (a hash with `etag` and `json`); default
    /// `daylight:snapshot:ENVIRONMENT`.
    #[arg(long, value_name = "KEY")]
    pub redis_key: Option<String>,
    /// A directory where the PHP SDK spools evaluation counts
    /// (`DAYLIGHT_USAGE_SPOOL`): they are sent to the usage metrics.
    #[arg(long, value_name = "DIR")]
    pub usage_spool: Option<PathBuf>,
    /// How often spooled counts are sent (seconds).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub usage_interval: f64,
    /// How long to wait for the first snapshot before giving up (seconds).
    #[arg(long, default_value_t = 15.0, value_name = "SECONDS")]
    pub start_timeout: f64,
}

/// Runs until SIGTERM or SIGINT; returns the exit code.
pub async fn run(url: &str, args: SyncArgs) -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    match sync(url, args).await {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("daylight sync: {message}");
            1
        }
    }
}

async fn sync(url: &str, args: SyncArgs) -> Result<(), String> {
    if args.php_file.is_none() && args.json_file.is_none() && args.redis_url.is_none() {
        return Err("nothing to write: give --php-file, --json-file or --redis-url".to_owned());
    }
    if let Some(dir) = args.usage_spool.as_ref().filter(|dir| !dir.is_dir()) {
        return Err(format!("--usage-spool {}: no such directory", dir.display()));
    }
    let mut outputs = Outputs::open(&args).await?;
    let client = Client::builder(url, &args.key)
        .keep_document(true)
        .send_usage(false)
        .backoff(Duration::from_millis(200), Duration::from_secs(10))
        .start()
        .map_err(|e| e.to_string())?;
    let mut changes = client.subscribe();
    started(&client, url, Duration::from_secs_f64(args.start_timeout.max(0.0))).await?;

    let shipper = args.usage_spool.clone().map(|dir| {
        let interval = Duration::from_secs_f64(args.usage_interval.max(0.01));
        tokio::spawn(usage::Shipper::new(dir, url, &args.key).run(interval))
    });

    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        // Every change, and after a lag the latest state: the document is
        // written whole, so writing the newest one catches up.
        if let Some(doc) = client.document() {
            outputs.write(&Snapshot::of(&doc)).await?;
        }
        tokio::select! {
            event = changes.recv() => match event {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Err("the stream client stopped".to_owned()),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    info!("stopping");
    if let Some(shipper) = shipper {
        // Spooled counts stay on disk for the next start.
        shipper.abort();
    }
    client.close().await;
    Ok(())
}

/// Waits for the first snapshot; fails at once on a refused key, or when
/// the server cannot be reached, so a wrong key or URL never looks like a
/// sync that works.
async fn started(client: &Client, url: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if client.is_ready() {
            return Ok(());
        }
        match client.connection_state() {
            ConnectionState::Unauthorized => {
                return Err(format!(
                    "the server at {url} refused the key (401/403): give an environment's server key (--key or DAYLIGHT_KEY)"
                ))
            }
            ConnectionState::Stopped => {
                return Err(format!(
                    "the server at {url} does not stream to this key: a server key is needed (not a client key), \
                     and a server that speaks this version's protocol"
                ))
            }
            ConnectionState::Disconnected => {
                return Err(format!(
                    "cannot reach the flag stream at {url} (is the URL right and the server up?)"
                ))
            }
            _ if Instant::now() >= deadline => {
                return Err(format!("no snapshot from {url} within {timeout:?}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
