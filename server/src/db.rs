//! The database pool (SQLite or PostgreSQL through sqlx's `Any` driver, so
//! one set of queries serves both) and the migrations in `migrations/`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL {url:?}: use sqlite://FILE or postgres://...").into(),
            ));
        };
        let url = match backend {
            // Create the file on first start.
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5));
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the writer; the busy timeout makes
            // concurrent writers wait instead of failing.
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(options).await?;
        let db = Db { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))
    }

    /// Whether the database answers within a second (readiness probes
    /// time out quickly; the pool would wait its whole acquire timeout).
    pub async fn ping(&self) -> bool {
        tokio::time::timeout(Duration::from_secs(1), sqlx::query("SELECT 1").execute(&self.pool))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Db {
    /// Closes the pool at a stop. SQLite folds the WAL into the database
    /// file and removes it only when the last connection closes, which pool
    /// connections closing side by side can each miss. So one more
    /// connection switches the file back to a rollback journal, which
    /// removes the WAL, once it is the only one left (the next start sets
    /// WAL again).
    pub async fn close(&self) {
        self.pool.close().await;
        if self.backend != Backend::Sqlite {
            return;
        }
        // Until every other connection is closed SQLite refuses the switch
        // as busy, so it is retried. A pool connection returned while the
        // pool was closing can land in its idle queue after `close` emptied
        // it, and stay open: each try closes the pool again, which closes
        // such stragglers. Pool connections also close on their own threads
        // after `close` returns; on a busy machine that has taken over 3 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        loop {
            self.pool.close().await;
            match self.leave_wal().await {
                Ok(mode) if mode.eq_ignore_ascii_case("delete") => break,
                _ if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(mode) => {
                    tracing::warn!(%mode, "the SQLite WAL file stays: the database is still open elsewhere");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the SQLite WAL file stays");
                    break;
                }
            }
        }
    }

    /// One try at switching SQLite back to a rollback journal: the mode it
    /// is in afterwards.
    async fn leave_wal(&self) -> Result<String, sqlx::Error> {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = self.pool.connect_options().connect().await?;
        conn.execute("PRAGMA busy_timeout = 100").await?;
        let mode = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
            .fetch_one(&mut conn)
            .await;
        let _ = conn.close().await;
        mode
    }
}

/// Milliseconds since the Unix epoch, the time unit of every table.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{ConnectOptions, Connection};

    /// A connection still open when the pool closes (as a pool connection
    /// closing on its own thread is) makes SQLite refuse the switch as
    /// busy; the close waits for it and still removes the WAL file.
    #[tokio::test]
    async fn close_removes_the_wal_file_once_the_last_other_connection_closes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.db");
        let db = Db::connect(&format!("sqlite://{}", file.display())).await.unwrap();
        sqlx::query("CREATE TABLE t (x BIGINT)")
            .execute(&db.pool)
            .await
            .unwrap();
        let wal = dir.path().join("d.db-wal");
        assert!(wal.exists(), "the pool runs in WAL mode");

        let mut other = db.pool.connect_options().connect().await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM t").execute(&mut other).await.unwrap();
        let pool = db.pool.clone();
        let close = tokio::spawn(async move { db.close().await });
        // The other connection closes a while after the pool has: the
        // close's first tries find it open.
        while !pool.is_closed() {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        other.close().await.unwrap();
        close.await.unwrap();
        assert!(!wal.exists(), "the close removed the WAL file");
    }
}
