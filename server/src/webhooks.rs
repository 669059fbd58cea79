//! The webhook dispatcher: a task on every node that tails the audit log
//! into deliveries (`store::webhooks::enqueue`) and sends the due ones it
//! can claim, signed with HMAC-SHA256, retrying failures with exponential
//! back-off up to a bounded number of attempts. Design and receiver-side
//! checks: `docs/webhooks.md`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
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
    pub destinations: Arc<Destinations>,
}

/// Where webhooks may deliver: public addresses, and the networks of
/// `DAYLIGHT_WEBHOOK_ALLOWED_NETWORKS`. Loopback, private, link-local and
/// other non-public addresses are refused by default: an admin's webhook
/// must not turn the delivery log (which shows each answer's status) into a
/// scanner of the network Daylight runs in.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    allowed: Vec<IpNet>,
}

impl Destinations {
    pub fn new(allowed: Vec<IpNet>) -> Destinations {
        Destinations { allowed }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        // `::ffff:127.0.0.1` is 127.0.0.1.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Checks the host of `url`: an address as is (the `url` crate has
    /// already read decimal and hex forms such as `2130706433` as
    /// 127.0.0.1), a name by every address it resolves to now. A name that
    /// does not resolve passes here; the delivery resolves it again.
    pub async fn check(&self, url: &url::Url) -> Result<(), String> {
        let refused = |ip: IpAddr| {
            format!("{ip} is not a public address (allow its network with DAYLIGHT_WEBHOOK_ALLOWED_NETWORKS)")
        };
        let port = url.port_or_known_default().unwrap_or(80);
        match url.host() {
            Some(url::Host::Ipv4(ip)) if !self.permits(ip.into()) => Err(refused(ip.into())),
            Some(url::Host::Ipv6(ip)) if !self.permits(ip.into()) => Err(refused(ip.into())),
            Some(url::Host::Domain(name)) => match tokio::net::lookup_host((name, port)).await {
                Ok(mut addrs) => match addrs.find(|a| !self.permits(a.ip())) {
                    Some(a) => Err(format!("{name} resolves to {}", refused(a.ip()))),
                    None => Ok(()),
                },
                Err(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// Globally reachable (std's `IpAddr::is_global` is not stable yet).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            // NAT64 (64:ff9b::/96) carries an IPv4 address.
            if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b] = ip.segments();
                return is_public(IpAddr::V4(Ipv4Addr::from((u32::from(a) << 16) | u32::from(b))));
            }
            !(ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && ip.segments()[1] == 0x0db8)) // documentation
        }
    }
}

/// Resolves webhook hosts for the HTTP client and drops the addresses
/// [`Destinations`] refuses, so the address connected to is the address
/// checked (a name cannot be re-pointed at a private address in between).
struct CheckedResolver(Arc<Destinations>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let destinations = self.0.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| destinations.permits(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `url` with its user name and password replaced by `***`, for the audit
/// log, which every viewer reads.
pub fn redact_userinfo(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("***");
            let _ = parsed.set_password(parsed.password().map(|_| "***"));
            parsed.into()
        }
        _ => url.to_owned(),
    }
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
            .dns_resolver(Arc::new(CheckedResolver(settings.destinations.clone())))
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
        Ok(Some((url, secret))) => match destination(&settings.destinations, &url).await {
            Ok(()) => send(http, &url, &secret, &c).await,
            // Refused for good: retrying would not make it public.
            Err(why) => Err((None, why, false)),
        },
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

/// Checked again at each delivery: a name may resolve elsewhere by now, and
/// the allowed networks may have changed since the webhook was made.
async fn destination(destinations: &Destinations, url: &str) -> Result<(), String> {
    let url = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    destinations.check(&url).await
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
        // Without the URL, which may hold a password.
        Err(e) => Err((None, error_chain(&e.without_url()), true)),
    }
}

/// An error and its causes (reqwest's own message alone says only "error
/// sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
    fn only_public_destinations_unless_allowed() {
        let none = Destinations::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!none.permits(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "64:ff9b::5db8:d822",
        ] {
            assert!(none.permits(ip.parse().unwrap()), "{ip}");
        }
        let loopback = Destinations::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(loopback.permits("127.0.0.1".parse().unwrap()));
        assert!(loopback.permits("::ffff:127.0.0.2".parse().unwrap()));
        assert!(!loopback.permits("::1".parse().unwrap()));
        assert!(!loopback.permits("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(
            redact_userinfo("http://bot:s3cret@hooks.example/x?y=1"),
            "http://***:***@hooks.example/x?y=1"
        );
        assert_eq!(
            redact_userinfo("http://token@hooks.example/"),
            "http://***@hooks.example/"
        );
        assert_eq!(redact_userinfo("http://hooks.example/x"), "http://hooks.example/x");
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
