//! SDK keys: the key a request carries, and the cache that confirms it
//! without a database query or a digest.

use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use foldhash::HashMap;
use tokio::sync::{broadcast, mpsc};

use super::{digest, other_kind, sdk_secret, Credentials, KeyKind, OtherKind};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::store::credentials;

/// An SDK key: which environment, and what it may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkKey {
    /// The key's row id (rate limits count per key).
    pub id: i64,
    /// Shared, so handing a cached key to a request allocates nothing.
    pub environment: Arc<str>,
    pub kind: KeyKind,
}

/// SDK keys already seen, so evaluation requests neither query the database
/// nor compute a SHA-256 digest. Entries are found by a keyed 64-bit hash of
/// the secret (the seed is random per process) and then confirmed by
/// comparing the secret in constant time. Misses fall through to the
/// database. Entries expire after `KEY_CACHE_TTL`, so a key revoked through
/// another node stops working here too; a revocation through this node (or
/// announced by another over the fan-out) removes the entry at once.
///
/// Revocations are also broadcast to this node's open streams, which end
/// when their key is revoked.
pub struct KeyCache {
    hasher: foldhash::fast::RandomState,
    keys: std::sync::RwLock<HashMap<u64, Cached>>,
    /// Ids of keys found revoked, for the streams.
    revoked: broadcast::Sender<i64>,
    /// Where revocations through this node go for the other nodes (set
    /// once by the fan-out).
    announce: OnceLock<mpsc::UnboundedSender<i64>>,
}

impl Default for KeyCache {
    fn default() -> KeyCache {
        KeyCache {
            hasher: Default::default(),
            keys: Default::default(),
            revoked: broadcast::channel(64).0,
            announce: OnceLock::new(),
        }
    }
}

struct Cached {
    secret: Box<str>,
    /// The stored digest, which revocation goes by.
    digest: String,
    key: SdkKey,
    at: Instant,
}

const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

impl KeyCache {
    /// Key `id` was revoked through this node: forget it, end its streams,
    /// and tell the other nodes.
    pub fn revoke(&self, id: i64) {
        self.forget_revoked(id);
        if let Some(announce) = self.announce.get() {
            let _ = announce.send(id);
        }
    }

    /// Key `id` was revoked (here or on another node): forget it and end its
    /// streams on this node.
    pub fn forget_revoked(&self, id: i64) {
        self.write().retain(|_, cached| cached.key.id != id);
        let _ = self.revoked.send(id);
    }

    /// Ids of revoked keys, as they are revoked.
    pub fn revocations(&self) -> broadcast::Receiver<i64> {
        self.revoked.subscribe()
    }

    /// Where to send the ids of keys revoked through this node (the
    /// fan-out tells the other nodes).
    pub fn announce_revocations_to(&self, tx: mpsc::UnboundedSender<i64>) {
        let _ = self.announce.set(tx);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Cached>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u64, Cached>> {
        self.keys.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached key for `secret` and when it was read from the database.
    /// Compared in constant time by `constant_time_eq`, a machine word at a
    /// time: `subtle`'s byte-by-byte compare was two thirds of the key
    /// check of every evaluation (docs/benchmarks.md, "Sixteenth session").
    fn cached(&self, slot: u64, secret: &str) -> Option<(SdkKey, Instant)> {
        let keys = self.read();
        let cached = keys.get(&slot)?;
        constant_time_eq::constant_time_eq(cached.secret.as_bytes(), secret.as_bytes())
            .then(|| (cached.key.clone(), cached.at))
    }

    /// The key a secret belongs to when the cache knows it and the entry is
    /// fresh: what nearly every evaluation finds, without waiting (the
    /// rest go through [`KeyCache::lookup`]).
    pub fn fresh(&self, secret: &str) -> Option<SdkKey> {
        let (key, at) = self.cached(self.hasher.hash_one(secret), secret)?;
        (at.elapsed() < KEY_CACHE_TTL).then_some(key)
    }

    /// The key a secret belongs to (cached), or `Unauthorized`.
    pub async fn lookup(&self, db: &Db, secret: &str) -> ApiResult<SdkKey> {
        let slot = self.hasher.hash_one(secret);
        match self.cached(slot, secret) {
            Some((key, at)) if at.elapsed() < KEY_CACHE_TTL => Ok(key),
            // Boxed: the database query's future is large, and without the
            // box every evaluation's future carries room for it (and moves
            // it) although nearly every lookup is a hit.
            cached => Box::pin(self.fetch(db, slot, secret.into(), cached.map(|(key, _)| key))).await,
        }
    }

    /// Like `lookup`, but once a key is known it never waits for the
    /// database: an expired entry is served as is while a background task
    /// refreshes it (a revoked key then stops working). For the routing
    /// endpoint, which sits in front of every page view.
    pub async fn lookup_without_waiting(self: &Arc<Self>, db: &Db, secret: &str) -> ApiResult<SdkKey> {
        let slot = self.hasher.hash_one(secret);
        match self.cached(slot, secret) {
            None => Box::pin(self.fetch(db, slot, secret.into(), None)).await,
            Some((key, at)) if at.elapsed() < KEY_CACHE_TTL => Ok(key),
            Some((key, _)) => {
                // Looks fresh again until the refresh lands: one refresh, not one per request.
                if let Some(entry) = self.write().get_mut(&slot) {
                    entry.at = Instant::now();
                }
                let (keys, db) = (self.clone(), db.clone());
                let known = key.clone();
                let secret: Box<str> = secret.into();
                tokio::spawn(async move {
                    let _ = keys.fetch(&db, slot, secret, Some(known)).await;
                });
                Ok(key)
            }
        }
    }

    /// Reads the key from the database and caches it; when the database is
    /// down, evaluation goes on with `known`.
    async fn fetch(&self, db: &Db, slot: u64, secret: Box<str>, known: Option<SdkKey>) -> ApiResult<SdkKey> {
        let digest = digest(&secret);
        let row = match credentials::active_key(db, &digest).await {
            Ok(row) => row,
            Err(e) => return known.ok_or(e),
        };
        let Some(row) = row else {
            // Only this secret's own entry (one revoked elsewhere) goes; an
            // unknown secret must not cost a scan of the cache.
            {
                let mut keys = self.write();
                if keys.get(&slot).is_some_and(|cached| cached.digest == digest) {
                    if let Some(gone) = keys.remove(&slot) {
                        // Its streams on this node end too.
                        let _ = self.revoked.send(gone.key.id);
                    }
                }
            }
            return Err(other_kind(db, OtherKind::AdminToken, &digest).await);
        };
        let key = SdkKey {
            id: row.id,
            environment: row.environment.into(),
            kind: KeyKind::parse(&row.kind).ok_or_else(|| ApiError::Internal(format!("bad key kind {}", row.kind)))?,
        };
        let cached = Cached {
            secret,
            digest,
            key: key.clone(),
            at: Instant::now(),
        };
        self.write().insert(slot, cached);
        Ok(key)
    }
}

/// Accepts `Authorization: Bearer KEY` or `X-API-Key: KEY` (OFREP allows both).
impl<S: Send + Sync> FromRequestParts<S> for SdkKey
where
    Credentials: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<SdkKey> {
        let Credentials { db, keys, .. } = Credentials::from_ref(state);
        SdkKey::of(&db, &keys, &parts.headers).await
    }
}

impl SdkKey {
    /// The key a request carries as `Authorization: Bearer KEY` or
    /// `X-API-Key: KEY`, or `Unauthorized`.
    pub async fn of(db: &Db, keys: &KeyCache, headers: &HeaderMap) -> ApiResult<SdkKey> {
        keys.lookup(db, sdk_secret(headers).ok_or(ApiError::Unauthorized)?)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::state::AppState;

    async fn state() -> (AppState, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}/daylight.db", dir.path().display());
        let app = crate::Application::build(crate::Settings::for_tests(url, "dl_admin_unit_test_bootstrap_token"))
            .await
            .expect("the app builds");
        (app.state().clone(), dir)
    }

    async fn insert_key(state: &AppState, secret: &str) {
        sqlx::query(
            "INSERT INTO sdk_keys (environment, kind, name, key_hash, hint, created_at) VALUES ('production', 'server', 'k', $1, 'h', 0)",
        )
        .bind(digest(secret))
        .execute(&state.db.pool)
        .await
        .expect("insert a key");
    }

    /// Makes every cached entry look older than the TTL.
    async fn expire(cache: &KeyCache) {
        let old = Instant::now()
            .checked_sub(KEY_CACHE_TTL + Duration::from_secs(1))
            .expect("the clock is past the TTL");
        for entry in cache.write().values_mut() {
            entry.at = old;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_key_is_served_at_once_and_refreshed_in_the_background() {
        let (state, _dir) = state().await;
        insert_key(&state, "dl_server_a").await;
        let key = state
            .keys
            .lookup_without_waiting(&state.db, "dl_server_a")
            .await
            .unwrap();
        assert_eq!((&*key.environment, key.kind), ("production", KeyKind::Server));

        // Revoked in the database: still known until the entry expires, then
        // served once more while the refresh learns of the revocation.
        sqlx::query("UPDATE sdk_keys SET revoked_at = 1")
            .execute(&state.db.pool)
            .await
            .unwrap();
        assert!(state
            .keys
            .lookup_without_waiting(&state.db, "dl_server_a")
            .await
            .is_ok());
        expire(&state.keys).await;
        assert!(state
            .keys
            .lookup_without_waiting(&state.db, "dl_server_a")
            .await
            .is_ok());
        let deadline = Instant::now() + Duration::from_secs(5);
        while state
            .keys
            .lookup_without_waiting(&state.db, "dl_server_a")
            .await
            .is_ok()
        {
            assert!(Instant::now() < deadline, "the refresh never saw the revocation");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refresh_that_finds_a_key_revoked_tells_the_streams() {
        // The safety net under lost revocation notices: streams re-check
        // their key at each heartbeat, and the refresh announces it.
        let (state, _dir) = state().await;
        insert_key(&state, "dl_server_c").await;
        let key = state
            .keys
            .lookup_without_waiting(&state.db, "dl_server_c")
            .await
            .unwrap();
        let mut revocations = state.keys.revocations();
        sqlx::query("UPDATE sdk_keys SET revoked_at = 1")
            .execute(&state.db.pool)
            .await
            .unwrap();
        expire(&state.keys).await;
        assert!(state
            .keys
            .lookup_without_waiting(&state.db, "dl_server_c")
            .await
            .is_ok());
        let revoked = tokio::time::timeout(Duration::from_secs(5), revocations.recv())
            .await
            .expect("a revocation within 5 s");
        assert_eq!(revoked.unwrap(), key.id);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_the_database_gone_a_known_key_keeps_working_without_waiting() {
        use futures_util::FutureExt;
        let (state, _dir) = state().await;
        insert_key(&state, "dl_server_b").await;
        state
            .keys
            .lookup_without_waiting(&state.db, "dl_server_b")
            .await
            .unwrap();
        // The database stops answering: every connection is taken, so a
        // query would wait for one.
        let mut taken = Vec::new();
        for _ in 0..state.db.pool.options().get_max_connections() {
            taken.push(state.db.pool.acquire().await.expect("a connection"));
        }
        expire(&state.keys).await;
        for _ in 0..3 {
            // Answered at the first poll: nothing was awaited, the database
            // least of all (no clock involved).
            let answer = state
                .keys
                .lookup_without_waiting(&state.db, "dl_server_b")
                .now_or_never()
                .expect("answered without waiting for the database");
            assert!(answer.is_ok());
            expire(&state.keys).await;
        }
        drop(taken);
        state.db.pool.close().await;
        // A key never seen cannot be checked: unavailable, not unauthorized.
        let err = state
            .keys
            .lookup_without_waiting(&state.db, "dl_server_new")
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Unavailable(_)), "{err:?}");
    }
}
