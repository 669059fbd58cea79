//! Apps, their published bundle versions, and per-environment bundle configs.
//! A config change is a change-log entry (`kind = "bundle"`, `key` = app), so
//! it reaches every node and every stream like a flag change.

use serde::Serialize;
use sqlx::Row;

use super::{append_audit, append_change, AuditEntry, Writer};
use crate::bundles::{BundleConfig, Canary};
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    let row = sqlx::query("SELECT doc, version FROM bundle_configs WHERE app = $1 AND environment = $2")
        .bind(app)
        .bind(environment)
        .fetch_optional(&db.pool)
        .await?;
    let (mut config, version) = match row {
        Some(row) => {
            let doc: String = row.try_get("doc")?;
            let config: BundleConfig =
                serde_json::from_str(&doc).map_err(|e| ApiError::Internal(format!("stored bundle config: {e}")))?;
            (config, row.try_get("version")?)
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

/// Records `version` for `app` (creating the app on first publish) and makes
/// it live, or the canary, in `environment`.
pub async fn publish(w: &Writer<'_>, app: &str, environment: &str, req: &Publish) -> ApiResult<StoredBundleConfig> {
    if !valid_app_key(app) {
        return Err(ApiError::invalid("app", "an app key is 1–64 of A-Z a-z 0-9 - _ ."));
    }
    if req.version.trim().is_empty() || req.version.len() > 128 {
        return Err(ApiError::invalid("version", "a version is 1–128 characters"));
    }
    if let Some(p) = req.canary_percent {
        if !(0.0..=100.0).contains(&p) {
            return Err(ApiError::invalid("canary_percent", "between 0 and 100"));
        }
    }
    super::environments::get(w.db, environment).await?;
    let now = now_ms();
    let mut tx = w.db.pool.begin().await?;
    sqlx::query("INSERT INTO apps (key, name, created_at) VALUES ($1, $1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(app)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO bundle_versions (app, version, seq, published_at)
         SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3 FROM bundle_versions WHERE app = $1
         ON CONFLICT (app, version) DO NOTHING",
    )
    .bind(app)
    .bind(&req.version)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let before = get(w.db, app, environment).await?;
    let mut config = before.config.clone();
    match req.canary_percent {
        Some(percent) => {
            config.canary = Some(Canary {
                version: req.version.clone(),
                weight: (percent * 1000.0).round() as u32,
                segment: req.canary_segment.clone(),
                bucket_by: None,
            })
        }
        None => {
            config.live = Some(req.version.clone());
            config.canary = None;
        }
    }
    if let Some(min) = &req.min_supported {
        config.min_supported = Some(min.clone());
    }
    store(w, before, config, "bundle.publish").await
}

/// Replaces a config (`expected` from `If-Match`; 409 when stale).
pub async fn replace(
    w: &Writer<'_>,
    app: &str,
    environment: &str,
    expected: i64,
    config: BundleConfig,
) -> ApiResult<StoredBundleConfig> {
    let before = get(w.db, app, environment).await?;
    if before.version != expected {
        return Err(ApiError::Conflict(format!(
            "the bundle config of `{app}` in `{environment}` changed since you read it (you sent {expected}, it is at {}); reload and retry",
            before.version
        )));
    }
    store(w, before, config, "bundle.config").await
}

async fn store(
    w: &Writer<'_>,
    before: StoredBundleConfig,
    mut config: BundleConfig,
    action: &str,
) -> ApiResult<StoredBundleConfig> {
    let (app, environment) = (before.app.as_str(), before.environment.as_str());
    config.versions = before.config.versions.clone();
    let known = |field: &str, v: &Option<String>| match v {
        Some(v) if !config.versions.contains(v) => Err(ApiError::invalid(
            field,
            format!("`{v}` is not a published version of `{app}`"),
        )),
        _ => Ok(()),
    };
    known("live", &config.live)?;
    known("min_supported", &config.min_supported)?;
    known("canary.version", &config.canary.as_ref().map(|c| c.version.clone()))?;
    if config.canary.as_ref().is_some_and(|c| c.weight > 100_000) {
        return Err(ApiError::invalid(
            "canary.weight",
            "at most 100000 (thousandths of a percent)",
        ));
    }
    if config.reload.rate_per_second == 0 {
        return Err(ApiError::invalid("reload.rate_per_second", "at least 1"));
    }
    if !["next_navigation", "when_hidden"].contains(&config.reload.soft.as_str()) {
        return Err(ApiError::invalid("reload.soft", "`next_navigation` or `when_hidden`"));
    }
    if let Some(segment) = config.canary.as_ref().and_then(|c| c.segment.as_deref()) {
        if !super::segments::all_keys(w.db)
            .await?
            .contains(&(environment.to_owned(), segment.to_owned()))
        {
            return Err(ApiError::invalid(
                "canary.segment",
                format!("unknown segment `{segment}`"),
            ));
        }
    }
    let doc = serde_json::to_string(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    let version = before.version + 1;
    let mut tx = w.db.pool.begin().await?;
    let written = if before.version == 0 {
        sqlx::query(
            "INSERT INTO bundle_configs (app, environment, doc, version, updated_at) VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (app, environment) DO NOTHING",
        )
        .bind(app)
        .bind(environment)
        .bind(&doc)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
    } else {
        sqlx::query(
            "UPDATE bundle_configs SET doc = $1, version = $2, updated_at = $3 WHERE app = $4 AND environment = $5 AND version = $6",
        )
        .bind(&doc)
        .bind(version)
        .bind(now_ms())
        .bind(app)
        .bind(environment)
        .bind(before.version)
        .execute(&mut *tx)
        .await?
    };
    if written.rows_affected() == 0 {
        return Err(ApiError::Conflict(format!(
            "the bundle config of `{app}` in `{environment}` changed while you wrote it; retry"
        )));
    }
    append_change(&mut tx, environment, "bundle", app, Some(doc.clone())).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action,
            resource_kind: "bundle",
            resource_key: app,
            environment: Some(environment),
            before: serde_json::to_string(&before.config).ok(),
            after: Some(doc),
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    w.live.committed(w.db, &[environment.to_owned()]).await;
    Ok(StoredBundleConfig {
        app: app.to_owned(),
        environment: environment.to_owned(),
        config,
        version,
    })
}

/// Bundle configs of `environment` (for the live state).
pub async fn configs_of(db: &Db, environment: &str) -> ApiResult<Vec<(String, BundleConfig)>> {
    let rows = sqlx::query("SELECT app, doc FROM bundle_configs WHERE environment = $1")
        .bind(environment)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let doc: String = r.try_get("doc")?;
            let config = serde_json::from_str(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok((r.try_get("app")?, config))
        })
        .collect()
}
