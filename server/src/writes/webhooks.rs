//! Webhook writes: create (validated: where it may deliver, its secret, its
//! filters) and delete. They touch no ruleset, so no environment is locked
//! or caught up; the dispatcher (`crate::webhooks`) reads the rows.

use super::Writer;
use crate::auth::new_secret;
use crate::error::{ApiError, ApiResult};
use crate::store::webhooks::{self as rows, NewWebhook, Webhook};
use crate::store::{append_audit, environments, AuditEntry};
use crate::webhooks::{redact_userinfo, Destinations};

/// A webhook as asked for.
pub struct CreateWebhook<'a> {
    /// Where deliveries are POSTed (`http://` only).
    pub url: &'a str,
    /// The signing secret (16 to 256 characters); generated when `None`.
    pub secret: Option<&'a str>,
    pub events: &'a [String],
    pub environments: &'a [String],
    pub description: &'a str,
}

/// Creates a webhook; the result holds its secret, once. It receives the
/// audit entries written from now on, its own creation included.
pub async fn create(w: &Writer<'_>, destinations: &Destinations, req: CreateWebhook<'_>) -> ApiResult<Webhook> {
    let url = url::Url::parse(req.url).map_err(|e| ApiError::invalid("url", format!("not a URL: {e}")))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(ApiError::invalid(
                "url",
                "https:// receivers are not supported by this build; use http:// (e.g. through a local TLS proxy)",
            ))
        }
        _ => return Err(ApiError::invalid("url", "expected an http:// URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid("url", "no host"));
    }
    destinations
        .check(&url)
        .await
        .map_err(|why| ApiError::invalid("url", why))?;
    let secret = match req.secret {
        Some(s) if s.len() < 16 || s.len() > 256 => {
            return Err(ApiError::invalid("secret", "a secret is 16 to 256 characters"))
        }
        Some(s) => s.to_owned(),
        None => new_secret("dl_whsec"),
    };
    for (i, e) in req.events.iter().enumerate() {
        let body = e.strip_suffix('*').unwrap_or(e);
        let ok = e.len() <= 100
            && !e.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !ok {
            return Err(ApiError::invalid(
                format!("events[{i}]"),
                "an action such as `flag.on`, or a prefix ending in `*` such as `flag.*`",
            ));
        }
    }
    for (i, env) in req.environments.iter().enumerate() {
        if environments::get(w.db, env).await.is_err() {
            return Err(ApiError::invalid(
                format!("environments[{i}]"),
                format!("no environment `{env}`"),
            ));
        }
    }
    let mut tx = w.begin().await?;
    let id = rows::insert(
        &mut tx,
        &NewWebhook {
            url: url.as_str(),
            secret: &secret,
            events: req.events,
            environments: req.environments,
            description: req.description,
        },
    )
    .await?;
    let shown = serde_json::json!({
        "id": id,
        "url": redact_userinfo(url.as_str()),
        "events": req.events,
        "environments": req.environments,
    });
    append_audit(
        &mut tx,
        AuditEntry {
            after: Some(shown.to_string()),
            ..w.audit("webhook.create", "webhook", &id.to_string(), None)
        },
    )
    .await?;
    let hook = rows::get_with_secret(&mut tx, id).await?;
    w.commit(tx, &[]).await?;
    Ok(hook)
}

/// Deletes a webhook and its delivery log; pending deliveries are dropped.
pub async fn delete(w: &Writer<'_>, id: i64) -> ApiResult<()> {
    let mut tx = w.begin().await?;
    if !rows::delete(&mut tx, id).await? {
        return Err(ApiError::NotFound(format!("webhook {id}")));
    }
    append_audit(&mut tx, w.audit("webhook.delete", "webhook", &id.to_string(), None)).await?;
    w.commit(tx, &[]).await
}
