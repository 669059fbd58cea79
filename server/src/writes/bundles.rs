//! Bundle writes: publish a version (live or canary) and replace a config.
//! A config change is a change-log entry (`kind = "bundle"`, `key` = app),
//! so it reaches every node and every stream like a flag change. Where the
//! environment requires approvals, a config changes only through an
//! approved change request ([`prepare`] and [`write`] let one apply it).

use sqlx::{Any, Transaction};

use super::Writer;
use crate::bundles::{BundleConfig, Canary};
use crate::error::{ApiError, ApiResult};
use crate::store::bundles::{self as rows, get, valid_app_key, Publish, StoredBundleConfig};
use crate::store::{append_audit, append_change, cohorts, environments, segments, AuditEntry};

/// Records `version` for `app` (creating the app on first publish) and makes
/// it live, or the canary, in `environment`.
pub async fn publish(w: &Writer<'_>, app: &str, environment: &str, req: &Publish) -> ApiResult<StoredBundleConfig> {
    let (before, config) = published(w, app, environment, req).await?;
    store(w, before, config, "bundle.publish").await
}

/// What publishing makes of the config of `app` in `environment`: the
/// config now, and the one after. The version is recorded for the app
/// (a known version changes nothing that is served).
pub async fn published(
    w: &Writer<'_>,
    app: &str,
    environment: &str,
    req: &Publish,
) -> ApiResult<(StoredBundleConfig, BundleConfig)> {
    if !valid_app_key(app) {
        return Err(ApiError::invalid("app", "an app key is 1–64 of A-Z a-z 0-9 - _ ."));
    }
    if req.version.trim().is_empty() || req.version.len() > 128 {
        return Err(ApiError::invalid("version", "a version is 1–128 characters"));
    }
    if req.canary_percent.is_some() && req.canary_cohort.is_some() {
        return Err(ApiError::invalid(
            "canary_cohort",
            "a canary takes either `canary_percent` or `canary_cohort`, not both",
        ));
    }
    if let Some(p) = req.canary_percent {
        if !(0.0..=100.0).contains(&p) {
            return Err(ApiError::invalid("canary_percent", "between 0 and 100"));
        }
    }
    environments::get(w.db, environment).await?;
    w.may_edit(environment)?;
    let mut tx = w.begin().await?;
    rows::record_version(&mut tx, app, &req.version).await?;
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
                salt: None,
                cohort: None,
            })
        }
        None if req.canary_cohort.is_some() => {
            config.canary = Some(Canary {
                version: req.version.clone(),
                weight: 0,
                segment: req.canary_segment.clone(),
                bucket_by: None,
                salt: None,
                cohort: req.canary_cohort.clone(),
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
    Ok((before, config))
}

/// Replaces a config (`expected` from `If-Match`; 409 when stale).
pub async fn replace(
    w: &Writer<'_>,
    app: &str,
    environment: &str,
    expected: i64,
    config: BundleConfig,
) -> ApiResult<StoredBundleConfig> {
    w.may_edit(environment)?;
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
    config: BundleConfig,
    action: &str,
) -> ApiResult<StoredBundleConfig> {
    let pending = prepare(w, before, config).await?;
    let mut tx = w.begin().await?;
    write(&mut tx, w, &pending, action).await?;
    w.commit(tx, std::slice::from_ref(&pending.before.environment)).await?;
    Ok(pending.after())
}

/// A config checked, not yet written.
pub struct PendingConfig {
    pub before: StoredBundleConfig,
    pub config: BundleConfig,
    doc: String,
}

impl PendingConfig {
    /// The stored config once written.
    pub fn after(self) -> StoredBundleConfig {
        StoredBundleConfig {
            version: self.before.version + 1,
            app: self.before.app,
            environment: self.before.environment,
            config: self.config,
        }
    }
}

/// Checks `config` as the next config after `before` (versions published,
/// weights, reload policy, segments).
pub async fn prepare(w: &Writer<'_>, before: StoredBundleConfig, mut config: BundleConfig) -> ApiResult<PendingConfig> {
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
        if !segments::all_keys(w.db)
            .await?
            .contains(&(environment.to_owned(), segment.to_owned()))
        {
            return Err(ApiError::invalid(
                "canary.segment",
                format!("unknown segment `{segment}`"),
            ));
        }
    }
    crate::cohorts::own_canary(environment, &mut config, &cohorts::all(w.db).await?)?;
    let doc = serde_json::to_string(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(PendingConfig { before, config, doc })
}

/// Writes a checked config in `tx` (the caller commits): where approvals
/// are required only with them, and only if the config is still at the
/// version read (409 otherwise).
pub async fn write(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    pending: &PendingConfig,
    action: &str,
) -> ApiResult<()> {
    let (app, environment) = (pending.before.app.as_str(), pending.before.environment.as_str());
    // The environment's row first (it checks the role there): the
    // transaction holds the write lock before it reads (SQLite cannot turn
    // a read into a write after another connection's commit), and the
    // write is ordered with cohort writes.
    w.lock_rows(tx, &[environment.to_owned()]).await?;
    w.check_approvals(tx, environment, "").await?;
    let config = &pending.config;
    if config.canary.as_ref().is_some_and(|c| c.cohort.is_some()) {
        // The cohort read by `prepare` still holds.
        let mut check = config.clone();
        crate::cohorts::own_canary(environment, &mut check, &cohorts::all_in(tx).await?)
            .ok()
            .filter(|()| check == *config)
            .ok_or_else(|| {
                ApiError::Conflict(format!(
                    "the cohort the canary of `{app}` references changed while it was written; retry"
                ))
            })?;
    }
    if !rows::write_config_if(tx, app, environment, &pending.doc, pending.before.version).await? {
        return Err(ApiError::Conflict(format!(
            "the bundle config of `{app}` in `{environment}` changed while you wrote it; retry"
        )));
    }
    append_change(tx, environment, "bundle", app, Some(pending.doc.clone())).await?;
    append_audit(
        tx,
        AuditEntry {
            before: serde_json::to_string(&pending.before.config).ok(),
            after: Some(pending.doc.clone()),
            ..w.audit(action, "bundle", app, Some(environment))
        },
    )
    .await?;
    Ok(())
}
