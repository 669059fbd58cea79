//! Credential writes: admin tokens and SDK keys, created and revoked. The
//! secret is made here and returned once; only its digest and hint are
//! stored. They touch no ruleset, so no environment is locked or caught up.
//! Ending the streams of a revoked key is the caller's (`KeyCache::revoke`).

use super::Writer;
use crate::auth::{digest, hint, new_secret, EnvRoles, KeyKind, Role, BOOTSTRAP_TOKEN_NAME};
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::store::credentials::{self as rows, Credential, NewCredential};
use crate::store::environments;
use crate::store::{append_audit, AuditEntry};

/// A token with `role`, and `env_roles` where its role differs.
pub async fn create_token(w: &Writer<'_>, name: &str, role: Role, env_roles: &EnvRoles) -> ApiResult<Credential> {
    crate::auth::check_env_roles(w.db, "env_roles", role, env_roles).await?;
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name", "a token needs a name"));
    }
    if name.trim() == BOOTSTRAP_TOKEN_NAME {
        // A restart with a new DAYLIGHT_ADMIN_TOKEN revokes tokens of this name.
        return Err(ApiError::invalid(
            "name",
            "`bootstrap` is the name of the token DAYLIGHT_ADMIN_TOKEN sets; choose another",
        ));
    }
    let secret = new_secret(role.secret_prefix());
    let row = NewCredential {
        name,
        kind: role.as_str(),
        digest: &digest(&secret),
        hint: &hint(&secret),
        created_at: now_ms(),
    };
    let mut tx = w.begin().await?;
    let id = rows::insert_token(&mut *tx, &row).await?;
    rows::set_token_env_roles(&mut tx, id, env_roles).await?;
    let mut after = serde_json::json!({ "kind": row.kind });
    if !env_roles.is_empty() {
        after["env_roles"] = serde_json::json!(env_roles);
    }
    append_audit(
        &mut tx,
        AuditEntry {
            after: Some(after.to_string()),
            ..audit(w, "token.create", &id.to_string(), None, None)
        },
    )
    .await?;
    w.commit(tx, &[]).await?;
    Ok(Credential {
        env_roles: Some(env_roles.clone()),
        ..created(id, &row, None, secret)
    })
}

pub async fn revoke_token(w: &Writer<'_>, id: i64) -> ApiResult<()> {
    let mut tx = w.begin().await?;
    if !rows::revoke_token(&mut tx, id).await? {
        return Err(ApiError::NotFound(format!("active token {id}")));
    }
    append_audit(&mut tx, audit(w, "token.revoke", &id.to_string(), None, None)).await?;
    w.commit(tx, &[]).await
}

pub async fn create_key(w: &Writer<'_>, environment: &str, kind: KeyKind, name: &str) -> ApiResult<Credential> {
    environments::get(w.db, environment).await?;
    let secret = new_secret(match kind {
        KeyKind::Server => "dl_server",
        KeyKind::Client => "dl_client",
    });
    let row = NewCredential {
        name,
        kind: kind.as_str(),
        digest: &digest(&secret),
        hint: &hint(&secret),
        created_at: now_ms(),
    };
    let mut tx = w.begin().await?;
    let id = rows::insert_key(&mut tx, environment, &row).await?;
    append_audit(
        &mut tx,
        audit(w, "key.create", &id.to_string(), Some(environment), Some(row.kind)),
    )
    .await?;
    w.commit(tx, &[]).await?;
    Ok(created(id, &row, Some(environment), secret))
}

/// Revokes key `id` of `environment` (404 unless it is active there).
pub async fn revoke_key(w: &Writer<'_>, environment: &str, id: i64) -> ApiResult<()> {
    let mut tx = w.begin().await?;
    if rows::revoke_key(&mut tx, environment, id).await?.is_none() {
        return Err(ApiError::NotFound(format!("active key {id} in `{environment}`")));
    }
    append_audit(
        &mut tx,
        audit(w, "key.revoke", &id.to_string(), Some(environment), None),
    )
    .await?;
    w.commit(tx, &[]).await
}

fn created(id: i64, row: &NewCredential<'_>, environment: Option<&str>, secret: String) -> Credential {
    Credential {
        id,
        name: row.name.to_owned(),
        kind: row.kind.to_owned(),
        environment: environment.map(str::to_owned),
        hint: row.hint.to_owned(),
        created_at: row.created_at,
        revoked_at: None,
        env_roles: None,
        secret: Some(secret),
    }
}

/// The audit entry of a credential write (`token.*` or `key.*`), keyed by
/// the credential's id, with the role or key kind of a new one.
fn audit<'b>(
    w: &'b Writer<'_>,
    action: &'b str,
    id: &'b str,
    environment: Option<&'b str>,
    kind: Option<&str>,
) -> AuditEntry<'b> {
    let resource_kind = if action.starts_with("token") { "token" } else { "key" };
    AuditEntry {
        after: kind.map(|kind| serde_json::json!({ "kind": kind }).to_string()),
        ..w.audit(action, resource_kind, id, environment)
    }
}
