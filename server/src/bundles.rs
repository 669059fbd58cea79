//! Client-bundle version negotiation: which bundle version a browser should
//! run, and whether the one it runs is current, merely behind, or too old.
//!
//! Per app and environment a [`BundleConfig`] names the live version, an
//! optional canary (a share of contexts, bucketed by the same formula as flag
//! rollouts, or a segment), the minimum supported version and the reload
//! policy. Versions compare by SemVer when both parse, else by publish order.

use std::cmp::Ordering;

use daylight::{Context, Ruleset};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The bundle settings of one app in one environment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct BundleConfig {
    /// The version everyone not in the canary should run.
    pub live: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// Older versions are `unsupported` (reload now, within the jitter window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_supported: Option<String>,
    #[serde(default)]
    pub reload: ReloadPolicy,
    /// Every published version, oldest first (maintained by the server).
    #[serde(default)]
    pub versions: Vec<String>,
}

/// A version served to part of the audience before everyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Canary {
    pub version: String,
    /// Share of contexts in thousandths of a percent (10% = 10000).
    #[serde(default)]
    pub weight: u32,
    /// Contexts in this segment always get the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// The attribute to bucket by (default `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
    /// The hash salt (default `<app>.bundle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// The named cohort that owns this canary: the server writes `weight`,
    /// `salt` and `bucket_by` from it (`docs/cohorts.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReloadPolicy {
    /// When an `update_available` tab reloads: `next_navigation` or `when_hidden`.
    #[serde(default = "default_soft")]
    pub soft: String,
    /// `unsupported` tabs reload at a moment spread over this window (ms).
    #[serde(default = "default_jitter")]
    pub jitter_ms: u64,
    /// At most this many reload notices per second per server node.
    #[serde(default = "default_rate")]
    pub rate_per_second: u32,
}

fn default_soft() -> String {
    "next_navigation".into()
}
fn default_jitter() -> u64 {
    60_000
}
fn default_rate() -> u32 {
    50
}

impl Default for ReloadPolicy {
    fn default() -> Self {
        ReloadPolicy {
            soft: default_soft(),
            jitter_ms: default_jitter(),
            rate_per_second: default_rate(),
        }
    }
}

/// What a browser running `running` should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Current,
    /// Reload softly (next navigation, or when hidden).
    UpdateAvailable,
    /// Reload now, within the jitter window.
    Unsupported,
}

impl Status {
    /// Its name on the wire (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::UpdateAvailable => "update_available",
            Status::Unsupported => "unsupported",
        }
    }
}

/// The canary bucket salt for an app: `<app>.bundle`.
pub fn canary_salt(app: &str) -> String {
    format!("{app}.bundle")
}

impl BundleConfig {
    /// The version `ctx` should run, if any is live.
    pub fn target(&self, app: &str, ctx: &Context, rules: Option<&Ruleset>) -> Option<&str> {
        if let Some(canary) = &self.canary {
            let in_segment = canary
                .segment
                .as_deref()
                .zip(rules)
                .is_some_and(|(segment, rules)| rules.in_segment(segment, ctx));
            let bucket_by = canary.bucket_by.as_deref().unwrap_or("key");
            let salt = match &canary.salt {
                Some(salt) => std::borrow::Cow::Borrowed(salt.as_str()),
                None => std::borrow::Cow::Owned(canary_salt(app)),
            };
            let in_share = match daylight::bucket::context_bucket(&salt, ctx, bucket_by) {
                Some(bucket) => bucket < canary.weight,
                // A cohort's canary reads a missing value as flag rollouts
                // do (bucket 0), so it agrees with the cohort's flags.
                None => canary.cohort.is_some() && canary.weight > 0,
            };
            if in_segment || in_share {
                return Some(&canary.version);
            }
        }
        self.live.as_deref()
    }

    /// Compares two versions: SemVer when both parse, else publish order
    /// (unknown versions sort before known ones).
    pub fn compare(&self, a: &str, b: &str) -> Ordering {
        if let (Ok(x), Ok(y)) = (semver::Version::parse(a), semver::Version::parse(b)) {
            return x.cmp_precedence(&y);
        }
        let seq = |v: &str| self.versions.iter().position(|known| known == v);
        seq(a).cmp(&seq(b))
    }

    /// The status of a browser running `running` whose target is `target`.
    pub fn status(&self, running: &str, target: Option<&str>) -> Status {
        let Some(target) = target else { return Status::Current };
        if running == target {
            return Status::Current;
        }
        if let Some(min) = &self.min_supported {
            if self.compare(running, min) == Ordering::Less {
                return Status::Unsupported;
            }
        }
        Status::UpdateAvailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BundleConfig {
        BundleConfig {
            live: Some("1.0.1".into()),
            min_supported: Some("1.0.1".into()),
            versions: vec!["1.0.0".into(), "1.0.1".into(), "1.1.0".into()],
            ..Default::default()
        }
    }

    #[test]
    fn statuses_follow_live_and_min_supported() {
        let c = config();
        assert_eq!(c.status("1.0.1", Some("1.0.1")), Status::Current);
        assert_eq!(c.status("1.0.0", Some("1.0.1")), Status::Unsupported);
        let soft = BundleConfig {
            min_supported: Some("1.0.0".into()),
            ..config()
        };
        assert_eq!(soft.status("1.0.0", Some("1.0.1")), Status::UpdateAvailable);
        // A canary rolled back: its users move back softly.
        assert_eq!(soft.status("1.1.0", Some("1.0.1")), Status::UpdateAvailable);
        assert_eq!(soft.status("1.0.0", None), Status::Current);
    }

    #[test]
    fn non_semver_versions_compare_by_publish_order() {
        let c = BundleConfig {
            versions: vec!["build-b".into(), "build-a".into()],
            min_supported: Some("build-a".into()),
            live: Some("build-a".into()),
            ..Default::default()
        };
        assert_eq!(c.compare("build-b", "build-a"), Ordering::Less);
        assert_eq!(c.status("build-b", Some("build-a")), Status::Unsupported);
        assert_eq!(
            c.compare("1.10.0", "1.9.0"),
            Ordering::Greater,
            "SemVer, not text order"
        );
    }

    #[test]
    fn the_canary_takes_the_contexts_the_formula_predicts() {
        let c = BundleConfig {
            canary: Some(Canary {
                version: "1.1.0".into(),
                weight: 50_000,
                segment: None,
                bucket_by: None,
                salt: None,
                cohort: None,
            }),
            ..config()
        };
        let mut on_canary = 0;
        for i in 0..200 {
            let key = format!("ctx-{i}");
            let expected = daylight::bucket::bucket_of("web.bundle", &key) < 50_000;
            let target = c.target("web", &Context::new(key), None);
            assert_eq!(target == Some("1.1.0"), expected);
            on_canary += usize::from(expected);
        }
        assert!((70..130).contains(&on_canary), "{on_canary} of 200 on the canary");
    }
}

/// The presence label of pages running a version that was never published
/// (or has been removed): made-up versions from public client keys never
/// become labels of their own.
pub const OTHER_VERSION: &str = "other";

/// Connected browsers per (environment, app, running version) on this node,
/// for the status API and the `daylight_bundle_clients` gauge. Only apps that
/// have bundle settings are counted, and only their published versions have
/// a label of their own (others count as [`OTHER_VERSION`]), so the label set
/// is bounded by what admins publish. Entries go when their count reaches
/// zero, and the gauge is rendered from this map at each scrape
/// ([`Presence::render`]), so a version nobody runs any more leaves
/// `/metrics`. Other nodes learn these counts through the database
/// (`store::presence`, written by a task `app` starts).
pub struct Presence {
    counts: std::sync::Mutex<std::collections::BTreeMap<(String, String, String), i64>>,
    /// The counts changed since the presence task last wrote them.
    changed: std::sync::atomic::AtomicBool,
    /// This node's name in `bundle_presence`.
    node: String,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            counts: Default::default(),
            changed: Default::default(),
            node: format!("{:016x}", rand::random::<u64>()),
        }
    }
}

/// Removes its browser from the count when the connection ends.
pub struct Present {
    presence: std::sync::Arc<Presence>,
    key: (String, String, String),
}

impl Presence {
    /// Counts a page of `app` running `version` until the returned guard
    /// drops; `None` (not counted) when `app` has no bundle settings in
    /// `environment`.
    pub fn join(
        self: &std::sync::Arc<Self>,
        live: &crate::live::Live,
        environment: &str,
        app: &str,
        version: &str,
    ) -> Option<Present> {
        let config = live.bundle(environment, app)?;
        let label = if config.versions.iter().any(|v| v == version) {
            version
        } else {
            OTHER_VERSION
        };
        let key = (environment.to_owned(), app.to_owned(), label.to_owned());
        self.add(&key, 1);
        Some(Present {
            presence: self.clone(),
            key,
        })
    }

    fn add(&self, key: &(String, String, String), delta: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(key.clone()).or_default();
        *n += delta;
        if *n <= 0 {
            counts.remove(key);
        }
        self.changed.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// This node's name in the stored counts.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Every count, when they changed since the last call (for the task
    /// that stores them); `None` when they did not.
    pub fn take_changed(&self) -> Option<Vec<crate::store::presence::Count>> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if !self.changed.swap(false, std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        Some(counts.iter().map(|(k, n)| (k.clone(), *n)).collect())
    }

    /// Marks the counts as not yet stored (a write failed).
    pub fn retry(&self) {
        self.changed.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Connected browsers of `app` in `environment`, by running version.
    pub fn counts(&self, environment: &str, app: &str) -> Vec<(String, i64)> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .iter()
            .filter(|((e, a, _), _)| e == environment && a == app)
            .map(|((_, _, v), n)| (v.clone(), *n))
            .collect()
    }

    /// Appends the `daylight_bundle_clients` gauge in Prometheus text format:
    /// one series per (environment, app, version) with pages connected now.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# TYPE daylight_bundle_clients gauge\n");
        for ((environment, app, version), n) in counts.iter() {
            let _ = writeln!(
                out,
                "daylight_bundle_clients{{environment=\"{}\",app=\"{}\",version=\"{}\"}} {n}",
                escape_label(environment),
                escape_label(app),
                escape_label(version)
            );
        }
    }
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Drop for Present {
    fn drop(&mut self) {
        self.presence.add(&self.key, -1);
    }
}

type Limiter = governor::DefaultDirectRateLimiter;
/// Per (environment, app): the rate it was built for, and the limiter.
type LimiterMap = std::collections::HashMap<(String, String), (u32, std::sync::Arc<Limiter>)>;

/// Reload notices per (environment, app) go through a rate limiter, so one
/// publish never sends every tab to the CDN in the same second.
#[derive(Default)]
pub struct Pacers {
    limiters: std::sync::Mutex<LimiterMap>,
}

impl Pacers {
    /// A future that resolves when the next notice for `app` may go out.
    pub fn wait(
        &self,
        environment: &str,
        app: &str,
        rate_per_second: u32,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        let rate = std::num::NonZeroU32::new(rate_per_second.max(1)).expect("at least 1");
        let limiter = {
            let mut map = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
            let entry = map.entry((environment.to_owned(), app.to_owned())).or_insert_with(|| {
                (
                    0,
                    std::sync::Arc::new(Limiter::direct(governor::Quota::per_second(rate))),
                )
            });
            if entry.0 != rate.get() {
                *entry = (
                    rate.get(),
                    std::sync::Arc::new(Limiter::direct(governor::Quota::per_second(rate))),
                );
            }
            entry.1.clone()
        };
        Box::pin(async move { limiter.until_ready().await })
    }
}
