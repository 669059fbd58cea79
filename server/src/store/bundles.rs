//! Apps, their published bundle versions, and per-environment bundle configs.
//! A config change is a change-log entry (`kind = "bundle"`, `key` = app), so
//! it reaches every node and every stream like a flag change.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::bundles::BundleConfig;
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct StoredBundleConfig {
    pub app: String,
    pub environment: String,
    #[serde(flatten)]
    pub config: BundleConfig,
    /// Send back in `If-Match`.
    pub version: i64,
}

/// What `publish` does.
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub version: String,
    /// Serve the new version to this percentage of contexts only (a canary);
    /// without it the version goes live for everyone.
    pub canary_percent: Option<f64>,
    /// Contexts in this segment always get the canary.
    pub canary_segment: Option<String>,
    /// Serve the new version to this named cohort (`docs/cohorts.md`)
    /// instead of a percentage: its share per environment, its salt and
    /// `bucket_by`, moved with it.
    pub canary_cohort: Option<String>,
    /// Older versions become `unsupported`.
    pub min_supported: Option<String>,
}

pub fn valid_app_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 64 && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

pub async fn get(db: &Db, app: &str, environment: &str) -> ApiResult<StoredBundleConfig> {
    super::environments::get(db, environment).await?;
    let known: Option<String> = sqlx::query_scalar("SELECT key FROM apps WHERE key = $1")
        .bind(app)
        .fetch_optional(&db.pool)
        .await?;
    if known.is_none() {
        return Err(ApiError::NotFound(format!("app `{app}`")));
    }
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT doc, version FROM bundle_configs WHERE app = $1 AND environment = $2")
            .bind(app)
            .bind(environment)
            .fetch_optional(&db.pool)
            .await?;
    let (mut config, version) = match row {
        Some((doc, version)) => {
            let config: BundleConfig =
                serde_json::from_str(&doc).map_err(|e| ApiError::Internal(format!("stored bundle config: {e}")))?;
            (config, version)
        }
        None => (BundleConfig::default(), 0),
    };
    config.versions = versions(db, app).await?;
    Ok(StoredBundleConfig {
        app: app.to_owned(),
        environment: environment.to_owned(),
        config,
        version,
    })
}

async fn versions(db: &Db, app: &str) -> ApiResult<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT version FROM bundle_versions WHERE app = $1 ORDER BY seq")
            .bind(app)
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Every app with its published versions.
pub async fn list_apps(db: &Db) -> ApiResult<Vec<(String, Vec<String>)>> {
    let apps: Vec<String> = sqlx::query_scalar("SELECT key FROM apps ORDER BY key")
        .fetch_all(&db.pool)
        .await?;
    let mut out = Vec::with_capacity(apps.len());
    for app in apps {
        let v = versions(db, &app).await?;
        out.push((app, v));
    }
    Ok(out)
}

/// Records `version` of `app`, creating the app on its first publish (a
/// version published again keeps its place in the order).
pub async fn record_version(tx: &mut Transaction<'_, Any>, app: &str, version: &str) -> ApiResult<()> {
    let now = now_ms();
    sqlx::query("INSERT INTO apps (key, name, created_at) VALUES ($1, $1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(app)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO bundle_versions (app, version, seq, published_at)
         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3 FROM bundle_versions WHERE app = $1
         ON CONFLICT (app, version) DO NOTHING",
    )
    .bind(app)
    .bind(version)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the config of `app` in `environment` if it is still at
/// `read_version` (0: none yet); `false` when someone wrote in between.
pub async fn write_config_if(
    tx: &mut Transaction<'_, Any>,
    app: &str,
    environment: &str,
    doc: &str,
    read_version: i64,
) -> ApiResult<bool> {
    let written = if read_version == 0 {
        sqlx::query(
            "INSERT INTO bundle_configs (app, environment, doc, version, updated_at) VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (app, environment) DO NOTHING",
        )
        .bind(app)
        .bind(environment)
        .bind(doc)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?
    } else {
        sqlx::query(
            "UPDATE bundle_configs SET doc = $1, version = $2, updated_at = $3 WHERE app = $4 AND environment = $5 AND version = $6",
        )
        .bind(doc)
        .bind(read_version + 1)
        .bind(now_ms())
        .bind(app)
        .bind(environment)
        .bind(read_version)
        .execute(&mut **tx)
        .await?
    };
    Ok(written.rows_affected() > 0)
}

/// Bundle configs of `environment` (for the live state).
pub async fn configs_of(db: &Db, environment: &str) -> ApiResult<Vec<(String, BundleConfig)>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT app, doc FROM bundle_configs WHERE environment = $1")
        .bind(environment)
        .fetch_all(&db.pool)
        .await?;
    rows.into_iter()
        .map(|(app, doc)| {
            let config = serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((app, config))
        })
        .collect()
}

/// Every stored bundle config: (app, environment, config, version), for
/// the cohorts that canaries reference.
pub async fn all_configs(db: &Db) -> ApiResult<Vec<(String, String, BundleConfig, i64)>> {
    let rows: Vec<(String, String, String, i64)> =
        sqlx::query_as("SELECT app, environment, doc, version FROM bundle_configs ORDER BY app, environment")
            .fetch_all(&db.pool)
            .await?;
    rows.into_iter()
        .map(|(app, env, doc, version)| {
            let config = serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((app, env, config, version))
        })
        .collect()
}
