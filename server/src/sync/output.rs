//! Where `daylight sync` writes: files replaced by an atomic rename, and a
//! Redis hash. Each write is skipped when its etag is already there.

use std::io::Write;
use std::path::{Path, PathBuf};

use daylight::RulesetDocument;
use redis::aio::MultiplexedConnection;
use sha2::{Digest, Sha256};
use tracing::info;

use super::{php, SyncArgs};

/// One version of the document, serialised once for every output.
pub struct Snapshot {
    pub environment: String,
    pub version: u64,
    /// `VERSION-HASH`: changes whenever the content does.
    pub etag: String,
    pub json: Vec<u8>,
    value: serde_json::Value,
}

impl Snapshot {
    pub fn of(doc: &RulesetDocument) -> Snapshot {
        // A document of plain data always serialises.
        let value = serde_json::to_value(doc).unwrap_or_default();
        let json = serde_json::to_vec(&value).unwrap_or_default();
        let hash = hex::encode(Sha256::digest(&json));
        Snapshot {
            environment: doc.environment.clone(),
            version: doc.version,
            etag: format!("{}-{}", doc.version, &hash[..12]),
            json,
            value,
        }
    }

    pub fn php(&self) -> String {
        php::snapshot(&self.value, &self.etag)
    }
}

pub struct Outputs {
    php: Option<PathBuf>,
    json: Option<PathBuf>,
    redis: Option<(MultiplexedConnection, Option<String>)>,
    /// The etag last written everywhere.
    written: Option<String>,
}

impl Outputs {
    pub async fn open(args: &SyncArgs) -> Result<Outputs, String> {
        for path in args.php_file.iter().chain(&args.json_file) {
            let dir = parent(path);
            if !dir.is_dir() {
                return Err(format!("{}: no such directory", dir.display()));
            }
        }
        let redis = match &args.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| format!("--redis-url {url}: {e}"))?;
                let connection = client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))?;
                Some((connection, args.redis_key.clone()))
            }
            None => None,
        };
        // An unchanged file from an earlier run is not written again.
        let written = args.php_file.as_deref().and_then(php_etag);
        Ok(Outputs {
            php: args.php_file.clone(),
            json: args.json_file.clone(),
            redis,
            written,
        })
    }

    pub async fn write(&mut self, snapshot: &Snapshot) -> Result<(), String> {
        if self.written.as_deref() == Some(snapshot.etag.as_str()) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        if let Some(path) = &self.php {
            replace(path, snapshot.php().as_bytes())?;
        }
        if let Some(path) = &self.json {
            replace(path, &snapshot.json)?;
        }
        if let Some((connection, key)) = &mut self.redis {
            let key = key
                .clone()
                .unwrap_or_else(|| format!("daylight:snapshot:{}", snapshot.environment));
            // One HSET: a reader never sees the etag of one version with
            // the document of another.
            redis::cmd("HSET")
                .arg(&key)
                .arg("etag")
                .arg(&snapshot.etag)
                .arg("json")
                .arg(&snapshot.json)
                .exec_async(connection)
                .await
                .map_err(|e| format!("cannot write the snapshot to Redis key {key}: {e}"))?;
        }
        info!(
            environment = %snapshot.environment,
            version = snapshot.version,
            etag = %snapshot.etag,
            micros = started.elapsed().as_micros() as u64,
            "applied version {}",
            snapshot.version
        );
        self.written = Some(snapshot.etag.clone());
        Ok(())
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The etag on the first line of an existing `.php` snapshot.
fn php_etag(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let line = text.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let rest = line.strip_prefix(&format!("<?php /* daylight-snapshot {} ", php::FORMAT))?;
    Some(rest.strip_suffix(" */")?.to_owned())
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over
/// `path`: a reader opens the old file or the new one, never half of one.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = parent(path).join(format!(".{name}.tmp-{}", std::process::id()));
    // No fsync: readers only need the rename to be atomic, and it would
    // cost tens of milliseconds of the second a change has to reach PHP.
    let written = std::fs::File::create(&tmp).and_then(|mut file| file.write_all(bytes));
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}
