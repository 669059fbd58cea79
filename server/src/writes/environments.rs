//! Environment writes. A new environment sees existing flags dark until
//! they are configured there; nothing is copied.

use super::Writer;
use crate::error::{ApiError, ApiResult};
use crate::store::environments::{self as rows, Environment};
use crate::store::{append_audit, AuditEntry};

pub async fn create(w: &Writer<'_>, key: &str, name: &str) -> ApiResult<Environment> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ApiError::invalid(
            "key",
            "an environment key is one or more of a-z 0-9 -",
        ));
    }
    let env = Environment {
        key: key.to_owned(),
        name: if name.is_empty() { key } else { name }.to_owned(),
        version: 0,
    };
    let mut tx = w.begin().await?;
    rows::insert(&mut tx, &env).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            after: serde_json::to_string(&env).ok(),
            ..w.audit("environment.create", "environment", key, Some(key))
        },
    )
    .await?;
    w.commit(tx, std::slice::from_ref(&env.key)).await?;
    Ok(env)
}

/// Sets the approvals a change to a flag's config in `key` needs.
pub async fn set_approvals(w: &Writer<'_>, key: &str, required: i64) -> ApiResult<()> {
    let mut tx = w.begin().await?;
    if !rows::set_approvals_required(&mut tx, key, required).await? {
        return Err(ApiError::NotFound(format!("environment `{key}`")));
    }
    append_audit(
        &mut tx,
        AuditEntry {
            after: Some(serde_json::json!({ "approvals_required": required }).to_string()),
            ..w.audit("environment.approvals", "environment", key, Some(key))
        },
    )
    .await?;
    w.commit(tx, &[]).await
}
