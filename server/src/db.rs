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
        use sqlx::{ConnectOptions, Connection};
        let Ok(mut conn) = self.pool.connect_options().connect().await else {
            return;
        };
        // Pool connections close on their own threads after `close` returns;
        // on a busy machine that has taken over 3 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        loop {
            // Answers the mode it is in: still `wal` while others are open.
            let mode: Result<String, _> = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
                .fetch_one(&mut conn)
                .await;
            match mode {
                Ok(mode) if mode.eq_ignore_ascii_case("delete") => break,
                Ok(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => {
                    tracing::warn!("the SQLite WAL file stays: the database is still open elsewhere");
                    break;
                }
            }
        }
        let _ = conn.close().await;
    }
}

/// Milliseconds since the Unix epoch, the time unit of every table.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
