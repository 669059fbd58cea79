//! The webhook dispatcher: a task on every node that tails the audit log
//! into deliveries (`store::webhooks::enqueue`) and sends the due ones it
//! can claim, signed with HMAC-SHA256, retrying failures with exponential
//! back-off up to a bounded number of attempts. Design and receiver-side
//! checks: `docs/webhooks.md`.

use std::time::Duration;

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::{now_ms, Db};
use crate::store::webhooks::{self, Claimed, Outcome};

pub const SIGNATURE_HEADER: &str = "x-daylight-signature";
pub const TIMESTAMP_HEADER: &str = "x-daylight-timestamp";

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// How often a node scans the audit log and looks for due deliveries.
    pub poll: Duration,
    /// Attempts before a delivery is marked `failed`.
    pub max_attempts: i64,
    /// The first retry delay; it doubles with each attempt (capped at an hour).
    pub retry_base: Duration,
    /// Per request.
    pub timeout: Duration,
}

/// Deliveries sent at once by one node.
const CONCURRENCY: usize = 8;
const BATCH: i64 = 32;
const MAX_RETRY_DELAY_MS: i64 = 3_600_000;

/// `sha256=<hex>` of HMAC-SHA256(secret, body).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The delay before attempt `attempts + 1`, after `attempts` failed.
pub fn retry_delay_ms(base: Duration, attempts: i64) -> i64 {
    let base = base.as_millis() as i64;
    let shift = (attempts - 1).clamp(0, 30) as u32;
    base.saturating_mul(1i64 << shift).min(MAX_RETRY_DELAY_MS)
}

pub fn spawn(db: Db, settings: WebhookSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(http) => http,
            Err(e) => {
                tracing::error!(error = %e, "webhooks disabled: cannot build an HTTP client");
                return;
            }
        };
        let mut cursor = webhooks::delivered_up_to(&db).await.unwrap_or(0);
        let mut tick = tokio::time::interval(settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match webhooks::enqueue(&db, cursor).await {
                Ok(next) => cursor = next,
                Err(e) => tracing::warn!(error = %e, "webhooks: cannot scan the audit log"),
            }
            let lease = (settings.timeout.as_millis() as i64) + 5_000;
            let claimed = match webhooks::claim(&db, BATCH, lease).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot claim deliveries");
                    continue;
                }
            };
            futures_util::stream::iter(claimed)
                .for_each_concurrent(CONCURRENCY, |c| deliver(&db, &http, &settings, c))
                .await;
        }
    })
}

async fn deliver(db: &Db, http: &reqwest::Client, settings: &WebhookSettings, c: Claimed) {
    let attempts = c.attempts + 1;
    let outcome = match webhooks::target(db, c.webhook_id).await {
        Ok(Some((url, secret))) => send(http, &url, &secret, &c).await,
        Ok(None) => Err((None, "the webhook was deleted".to_owned(), false)),
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: cannot read a webhook");
            return; // the lease runs out and the delivery is tried again
        }
    };
    let outcome = match outcome {
        Ok(code) => {
            metrics::counter!("daylight_webhook_deliveries_total", "result" => "delivered").increment(1);
            Outcome {
                response_code: Some(code),
                error: None,
                retry_at: None,
            }
        }
        Err((code, error, retry)) => {
            let give_up = !retry || attempts >= settings.max_attempts;
            metrics::counter!("daylight_webhook_deliveries_total", "result" => if give_up { "failed" } else { "retry" })
                .increment(1);
            tracing::info!(delivery = c.id, attempts, error, "webhook delivery failed");
            Outcome {
                response_code: code,
                error: Some(error),
                retry_at: (!give_up).then(|| now_ms() + retry_delay_ms(settings.retry_base, attempts)),
            }
        }
    };
    if let Err(e) = webhooks::record_attempt(db, c.id, attempts, &outcome).await {
        tracing::warn!(error = %e, "webhooks: cannot record a delivery attempt");
    }
}

/// One POST; `Err((status, error, retry?))`.
async fn send(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    c: &Claimed,
) -> Result<i64, (Option<i64>, String, bool)> {
    let body = c.payload.clone().into_bytes();
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("daylight-webhooks/", env!("CARGO_PKG_VERSION")))
        .header(SIGNATURE_HEADER, signature(secret, &body))
        .header(TIMESTAMP_HEADER, now_ms().to_string())
        .header("x-daylight-event", &c.event)
        .header("x-daylight-delivery", c.id.to_string())
        .body(body)
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Ok(r.status().as_u16() as i64),
        Ok(r) => Err((
            Some(r.status().as_u16() as i64),
            format!("the receiver answered {}", r.status()),
            true,
        )),
        Err(e) => Err((None, e.to_string(), true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        let base = Duration::from_millis(1000);
        assert_eq!(retry_delay_ms(base, 1), 1000);
        assert_eq!(retry_delay_ms(base, 2), 2000);
        assert_eq!(retry_delay_ms(base, 4), 8000);
        assert_eq!(retry_delay_ms(base, 40), MAX_RETRY_DELAY_MS);
    }
}
