//! Who a strategy lets in (everyone, a percentage, listed ids or
//! addresses) and what it serves there, as a Daylight rollout.

use daylight::model::{Clause, Op, Rollout, Serve, WeightedVariation};
use serde_json::Value;

use super::constraints::attribute;
use super::{Feature, Strategy};
use crate::flagfile::import::{split_total, Notes};

/// Who a strategy lets in, before its constraints: everyone (`percent` =
/// 100000), or a percentage bucketed by an attribute, or the contexts an
/// extra clause matches (`userWithId`, `remoteAddress`).
#[derive(Debug, Clone)]
pub(super) struct Share {
    pub(super) percent: u32,
    pub(super) bucket_by: Option<String>,
    pub(super) salt: String,
    pub(super) clause: Option<Clause>,
}

pub(super) fn strategy_share(s: &Strategy, label: &str, notes: &mut Notes) -> Option<Share> {
    let param = |name: &str| -> Option<String> {
        s.parameters.get(name).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let everyone = Share {
        percent: 100_000,
        bucket_by: None,
        salt: String::new(),
        clause: None,
    };
    let list = |name: &str| -> Vec<Value> {
        param(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| Value::String(v.to_owned()))
            .collect()
    };
    let percentage = |name: &str, stickiness: Option<String>, notes: &mut Notes| -> Option<Share> {
        let text = param(name).unwrap_or_else(|| "100".to_owned());
        let Some(p) = text.trim().parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p)) else {
            notes.unmapped(format!("{label}: `{name}` is not a percentage: {text:?}"));
            return None;
        };
        let percent = (p * 1000.0).round() as u32;
        let bucket_by = match stickiness.as_deref() {
            None | Some("" | "default" | "userId") => {
                if matches!(stickiness.as_deref(), None | Some("" | "default")) && percent > 0 && percent < 100_000 {
                    notes.approximate(format!(
                        "{label}: default stickiness is the user id here; Unleash falls back to the session id, then random"
                    ));
                }
                "key".to_owned()
            }
            Some("random") if percent > 0 && percent < 100_000 => {
                notes.unmapped(format!(
                    "{label}: random stickiness (a new draw per request) has no Daylight equivalent"
                ));
                return None;
            }
            Some("random") => "key".to_owned(),
            Some(field) => attribute(field),
        };
        if percent > 0 && percent < 100_000 {
            notes.approximate(format!(
                "{label}: {p}% rollout: same share, different contexts (Unleash and Daylight hash differently)"
            ));
        }
        Some(Share {
            percent,
            bucket_by: Some(bucket_by),
            salt: param("groupId").unwrap_or_default(),
            clause: None,
        })
    };
    match s.name.as_str() {
        "default" => Some(everyone),
        "userWithId" => Some(Share {
            clause: Some(Clause {
                attribute: "key".to_owned(),
                op: Op::In,
                values: list("userIds"),
                negate: false,
                case_insensitive: false,
            }),
            ..everyone
        }),
        "remoteAddress" => {
            let ips = list("IPs");
            if ips.iter().any(|ip| ip.as_str().is_some_and(|ip| ip.contains('/'))) {
                notes.unmapped(format!("{label}: CIDR ranges have no Daylight operator"));
                return None;
            }
            Some(Share {
                clause: Some(Clause {
                    attribute: "remoteAddress".to_owned(),
                    op: Op::In,
                    values: ips,
                    negate: false,
                    case_insensitive: false,
                }),
                ..everyone
            })
        }
        "flexibleRollout" => percentage("rollout", param("stickiness"), notes),
        "gradualRolloutUserId" => percentage("percentage", Some("userId".to_owned()), notes),
        "gradualRolloutSessionId" => percentage("percentage", Some("sessionId".to_owned()), notes),
        "gradualRolloutRandom" => percentage("percentage", Some("random".to_owned()), notes),
        other => {
            notes.unmapped(format!(
                "{label}: strategy `{other}` has no Daylight equivalent (custom or host-based)"
            ));
            None
        }
    }
}

/// `split` (variation index, relative weight) within a strategy's share:
/// the contexts outside the share get variation 0 ("off"/"disabled"),
/// placed first so a context missing the bucketing attribute is out.
pub(super) fn weighted(
    split: &[(usize, u64)],
    share: &Share,
    feature: &Feature,
    stickiness: Option<&str>,
) -> Option<Serve> {
    let live: Vec<(usize, u64)> = split.iter().copied().filter(|(_, w)| *w > 0).collect();
    if live.is_empty() {
        return None;
    }
    if share.percent == 100_000 && live.len() == 1 {
        return Some(Serve::variation(live[0].0));
    }
    let mut variations = Vec::new();
    if share.percent < 100_000 {
        variations.push(WeightedVariation {
            variation: 0,
            weight: 100_000 - share.percent,
        });
    }
    let inside = split_total(&live.iter().map(|(_, w)| *w).collect::<Vec<_>>(), share.percent)?;
    for ((index, _), weight) in live.iter().zip(inside) {
        variations.push(WeightedVariation {
            variation: *index,
            weight,
        });
    }
    let bucket_by = match (live.len() > 1, stickiness) {
        (true, Some(field)) if !matches!(field, "default" | "userId" | "random") => attribute(field),
        _ => share.bucket_by.clone().unwrap_or_else(|| "key".to_owned()),
    };
    let salt = if share.salt.is_empty() {
        feature.name.clone()
    } else {
        share.salt.clone()
    };
    Some(Serve {
        variation: None,
        rollout: Some(Rollout {
            variations,
            bucket_by: (bucket_by != "key").then_some(bucket_by),
            salt: (salt != feature.name).then_some(salt),
            cohort: None,
            cohort_in: None,
            cohort_out: None,
        }),
    })
}
