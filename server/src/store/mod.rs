//! Reads and writes. Every write is one transaction that also appends to the
//! change log (one row per environment it touches, numbered per environment
//! without gaps) and to the audit log, so nothing is half-applied and SDK
//! streams can ask for "every change after version N".

pub mod bundles;
pub mod change_requests;
pub mod cohorts;
pub mod column;
pub mod credentials;
pub mod environments;
pub mod flagfile;
pub mod flags;
pub mod freezes;
pub mod people;
pub mod presence;
pub mod receipts;
pub mod releases;
pub mod retention;
pub mod schedule;
pub mod segments;
pub mod snapshot;
pub mod usage;
pub mod webhooks;

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use crate::db::{now_ms, Db};
use crate::error::ApiResult;

pub use crate::change::Change;

/// Appends one change for `environment` and returns its version.
pub(crate) async fn append_change(
    tx: &mut Transaction<'_, Any>,
    environment: &str,
    kind: &str,
    key: &str,
    doc: Option<String>,
) -> ApiResult<i64> {
    // The row lock taken by this UPDATE orders concurrent writers per
    // environment, so versions never interleave or skip.
    let version: i64 =
        sqlx::query_scalar("UPDATE environments SET version = version + 1 WHERE key = $1 RETURNING version")
            .bind(environment)
            .fetch_one(&mut **tx)
            .await?;
    sqlx::query(
        "INSERT INTO changes (environment, version, kind, key, doc, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(environment)
    .bind(version)
    .bind(kind)
    .bind(key)
    .bind(doc)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    if kind == "flag" {
        // "Config unchanged since" for the stale-flag report, which must not
        // depend on how much of the change log is kept.
        sqlx::query(
            "INSERT INTO flag_last_changes (environment, flag_key, at) VALUES ($1, $2, $3)
             ON CONFLICT (environment, flag_key) DO UPDATE SET at = excluded.at",
        )
        .bind(environment)
        .bind(key)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    }
    Ok(version)
}

/// What the audit log records of one write.
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub resource_kind: &'a str,
    pub resource_key: &'a str,
    pub environment: Option<&'a str>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub comment: &'a str,
    /// The write only turned flags off (it went through freezes).
    pub kill_switch: bool,
    /// The write appended a change to `environment` just before: the entry
    /// links to that change's propagation receipt (`change_version`).
    pub follows_change: bool,
}

pub(crate) async fn append_audit(tx: &mut Transaction<'_, Any>, e: AuditEntry<'_>) -> ApiResult<()> {
    sqlx::query(
        // A write that appended a change just before: its version links the
        // entry to the change's propagation receipt (`receipts`).
        "INSERT INTO audit_log (at, actor, action, resource_kind, resource_key, environment, before_doc, after_doc, comment, kill_switch, change_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                 CASE WHEN $11 <> 0 THEN (SELECT version FROM environments WHERE key = $6) END)",
    )
    .bind(now_ms())
    .bind(e.actor)
    .bind(e.action)
    .bind(e.resource_kind)
    .bind(e.resource_key)
    .bind(e.environment)
    .bind(e.before)
    .bind(e.after)
    .bind(e.comment)
    .bind(i64::from(e.kill_switch))
    .bind(i64::from(e.follows_change))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Locks the rows of `environments` (sorted, no duplicates) for the rest
/// of `tx`: writes to one environment queue here.
pub(crate) async fn lock_environments(tx: &mut Transaction<'_, Any>, sorted: &[String]) -> ApiResult<()> {
    for env in sorted {
        sqlx::query("UPDATE environments SET version = version WHERE key = $1")
            .bind(env)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Changes of `environment` after `after`, in order (at most `limit`).
pub async fn changes_after(db: &Db, environment: &str, after: i64, limit: i64) -> ApiResult<Vec<Change>> {
    fetch_changes(&db.pool, environment, after, limit).await
}

/// The same, read inside a transaction.
pub(crate) async fn changes_after_in(
    tx: &mut Transaction<'_, Any>,
    environment: &str,
    after: i64,
    limit: i64,
) -> ApiResult<Vec<Change>> {
    fetch_changes(&mut **tx, environment, after, limit).await
}

async fn fetch_changes<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    environment: &str,
    after: i64,
    limit: i64,
) -> ApiResult<Vec<Change>> {
    let rows = sqlx::query(
        "SELECT environment, version, kind, key, doc, created_at FROM changes
         WHERE environment = $1 AND version > $2 ORDER BY version LIMIT $3",
    )
    .bind(environment)
    .bind(after)
    .bind(limit)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            let doc: Option<String> = row.try_get("doc")?;
            Ok(Change {
                environment: row.try_get("environment")?,
                version: row.try_get("version")?,
                kind: row.try_get("kind")?,
                key: row.try_get("key")?,
                committed_at_ms: row.try_get("created_at")?,
                doc: doc
                    .map(|d| serde_json::from_str(&d))
                    .transpose()
                    .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?,
            })
        })
        .collect()
}

/// One audit-log row as the API returns it (read from `AUDIT_COLUMNS`).
#[derive(Debug, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub resource_kind: String,
    pub resource_key: String,
    pub environment: Option<String>,
    #[sqlx(rename = "before_doc", try_from = "column::LenientJson")]
    pub before: Option<serde_json::Value>,
    #[sqlx(rename = "after_doc", try_from = "column::LenientJson")]
    pub after: Option<serde_json::Value>,
    pub comment: String,
    /// Present (true) only when the write only turned flags off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[sqlx(try_from = "column::IntBool")]
    pub kill_switch: bool,
    /// The environment's ruleset version this write produced (flag, segment
    /// and bundle writes in one environment): its propagation receipt is
    /// `GET /api/v1/environments/{environment}/receipts/{change_version}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_version: Option<i64>,
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub resource_kind: Option<String>,
    pub resource_key: Option<String>,
    pub environment: Option<String>,
    /// Entries whose actor contains this, ignoring case ("editor" finds "editor person").
    pub actor: Option<String>,
    /// Only entries at or after this time (Unix ms).
    pub from: Option<i64>,
    /// Only entries before this time (Unix ms).
    pub to: Option<i64>,
    /// Only entries with an id below this (for paging backwards).
    pub before_id: Option<i64>,
    /// Only entries with an id above this (for following the log live).
    pub after_id: Option<i64>,
    pub limit: Option<i64>,
}

pub async fn audit(db: &Db, f: &AuditFilter) -> ApiResult<Vec<AuditRecord>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {AUDIT_COLUMNS}
         FROM audit_log
         WHERE ($1 IS NULL OR resource_kind = $1) AND ($2 IS NULL OR resource_key = $2)
           AND ($3 IS NULL OR environment = $3)
           AND ($4 IS NULL OR LOWER(actor) LIKE '%' || $4 || '%' ESCAPE '\\')
           AND ($5 IS NULL OR id < $5) AND ($6 IS NULL OR id > $6)
           AND ($8 IS NULL OR at >= $8) AND ($9 IS NULL OR at < $9)
         ORDER BY id DESC LIMIT $7"
    ))
    .bind(f.resource_kind.as_deref())
    .bind(f.resource_key.as_deref())
    .bind(f.environment.as_deref())
    .bind(f.actor.as_deref().map(like_pattern))
    .bind(f.before_id)
    .bind(f.after_id)
    .bind(f.limit.unwrap_or(100).clamp(1, 1000))
    .bind(f.from)
    .bind(f.to)
    .fetch_all(&db.pool)
    .await?)
}

/// `text`, lower-cased, with `LIKE`'s wildcards escaped (`\` is the escape).
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `audit_log` columns an [`AuditRecord`] is read from.
pub(crate) const AUDIT_COLUMNS: &str =
    "id, at, actor, action, resource_kind, resource_key, environment, before_doc, after_doc, comment, kill_switch, change_version";
