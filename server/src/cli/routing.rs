//! `daylight routing release FLAG --to POOL --percent P`: the step of a
//! blue-green release that a person must not get wrong. Whatever order the
//! flag's variations are in and whichever pool served the last release, it
//! makes POOL (named by its value) the target of the rollout, the other pool
//! the off variation and the rest of the rollout (the fallback), and points
//! the staff rule at POOL. One read, one conditional write (`If-Match`), so
//! one audit entry, and a concurrent edit fails instead of being overwritten.

use clap::Subcommand;
use daylight::model::{FlagConfig, Rollout, Serve, WeightedVariation};
use serde_json::Value;

use super::client::Client;
use super::output::Reply;
use crate::store::flags::{config_for, StoredFlag};

#[derive(Debug, Subcommand)]
pub enum RoutingCmd {
    /// Sends PERCENT of users to the pool TO (the new release) and everyone
    /// else, and the flag's off variation, to the other pool; the rules named
    /// by --rule (default `staff`) serve TO. Repeat it to raise the
    /// percentage (raising keeps everyone already on TO).
    Release {
        /// The routing flag (a string flag whose variations name pools).
        flag: String,
        /// The pool that runs the new release: a variation's value.
        #[arg(long)]
        to: String,
        /// Needed only when the flag has more than two pools: the pool
        /// everyone else stays on.
        #[arg(long)]
        from: Option<String>,
        /// Users (by the rollout's bucketing) sent to TO, 0 to 100.
        #[arg(long)]
        percent: f64,
        #[arg(long)]
        env: String,
        /// A rule that follows the release (serves TO); repeatable.
        #[arg(long = "rule", default_value = "staff")]
        rules: Vec<String>,
        /// A rule left as it is although it serves the other pool; repeatable.
        #[arg(long = "keep")]
        keep: Vec<String>,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Ends a release once POOL serves everyone and the old pool is
    /// drained: POOL becomes the off variation too, so the kill switch can no
    /// longer send traffic to the old pool (stopped or being upgraded).
    /// Refused while POOL does not serve everyone yet.
    Finish {
        flag: String,
        /// The pool that now serves everyone.
        #[arg(long)]
        on: String,
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

/// Makes `on` the only pool served: the fallthrough and the off variation.
/// Refused unless the fallthrough already serves `on` to everyone.
pub fn finish(variations: &[Value], config: &mut FlagConfig, on: &str) -> Result<(), String> {
    let pool = pool_index(variations, on, "--on")?;
    let everyone = match (&config.fallthrough.variation, &config.fallthrough.rollout) {
        (Some(v), _) => *v == pool,
        (None, Some(r)) => r.variations.iter().all(|w| w.variation == pool || w.weight == 0),
        (None, None) => false,
    };
    if !config.on || !everyone {
        return Err(format!(
            "`{on}` does not serve everyone yet: raise it first \
             (`daylight routing release FLAG --to {on} --percent 100`)"
        ));
    }
    config.fallthrough = Serve::variation(pool);
    config.off_variation = Some(pool);
    Ok(())
}

/// What a release asks for, checked against the flag.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    pub to: &'a str,
    pub from: Option<&'a str>,
    pub percent: f64,
    pub rules: &'a [String],
    pub keep: &'a [String],
}

/// The variation whose value is the string `name`, exactly one.
fn pool_index(variations: &[Value], name: &str, option: &str) -> Result<usize, String> {
    let pools: Vec<&str> = variations.iter().filter_map(Value::as_str).collect();
    if pools.len() != variations.len() {
        return Err("the flag does not serve strings: its variations must name pools".into());
    }
    let found: Vec<usize> = (0..pools.len()).filter(|&i| pools[i] == name).collect();
    match found[..] {
        [one] => Ok(one),
        [] => Err(format!(
            "{option} `{name}` is none of the flag's pools ({}); name a pool by its value",
            pools.join(", ")
        )),
        _ => Err(format!(
            "{option} `{name}` names several variations: the flag is ambiguous"
        )),
    }
}

impl Release<'_> {
    /// Applies the release to `config`; returns (target, fallback) indexes.
    pub fn apply(&self, variations: &[Value], config: &mut FlagConfig) -> Result<(usize, usize), String> {
        if !self.percent.is_finite() || !(0.0..=100.0).contains(&self.percent) {
            return Err("--percent must be between 0 and 100".into());
        }
        let to = pool_index(variations, self.to, "--to")?;
        let from = match (self.from, variations.len()) {
            (Some(from), _) => pool_index(variations, from, "--from")?,
            (None, 2) => 1 - to,
            (None, n) => {
                return Err(format!(
                    "the flag has {n} pools: say with --from which one everyone else stays on"
                ))
            }
        };
        if from == to {
            return Err("--to and --from name the same pool".into());
        }
        for id in self.rules.iter().chain(self.keep) {
            if !config.rules.iter().any(|r| &r.id == id) {
                return Err(format!(
                    "no rule `{id}` in this environment (create it with `daylight flags set-rule`, \
                     or leave it out with --rule/--keep)"
                ));
            }
        }
        if let Some(both) = self.rules.iter().find(|id| self.keep.contains(id)) {
            return Err(format!("rule `{both}` is named by both --rule and --keep"));
        }
        // A rule left out that sends people to the old release is a mistake
        // or a choice: the person must say which.
        let old = config
            .rules
            .iter()
            .find(|r| !self.rules.contains(&r.id) && !self.keep.contains(&r.id) && r.serve.variation == Some(from));
        if let Some(rule) = old {
            return Err(format!(
                "rule `{}` serves `{}`, the pool being replaced: move it to `{}` with --rule {} or leave it with --keep {}",
                rule.id, variations[from].as_str().unwrap_or_default(), self.to, rule.id, rule.id
            ));
        }
        for rule in config.rules.iter_mut().filter(|r| self.rules.contains(&r.id)) {
            rule.serve = Serve::variation(to);
        }
        let on = (self.percent * 1000.0).round() as u32;
        // Keep the bucketing of the rollout in place (its salt and attribute).
        let (bucket_by, salt) = match config.fallthrough.rollout.take() {
            Some(r) => (r.bucket_by, r.salt),
            None => (None, None),
        };
        config.on = true;
        config.off_variation = Some(from);
        // The target last: raising its weight only moves users onto it.
        config.fallthrough = Serve {
            variation: None,
            rollout: Some(Rollout {
                variations: vec![
                    WeightedVariation {
                        variation: from,
                        weight: 100_000 - on,
                    },
                    WeightedVariation {
                        variation: to,
                        weight: on,
                    },
                ],
                bucket_by,
                salt,
                cohort: None,
                cohort_in: None,
                cohort_out: None,
            }),
        };
        Ok((to, from))
    }
}

pub async fn run(c: &Client, cmd: RoutingCmd) -> Result<Reply, String> {
    match cmd {
        RoutingCmd::Release {
            flag,
            to,
            from,
            percent,
            env,
            rules,
            keep,
            comment,
        } => {
            let release = Release {
                to: &to,
                from: from.as_deref(),
                percent,
                rules: &rules,
                keep: &keep,
            };
            let mut fallback = String::new();
            let answer = edit(c, &flag, &env, |variations, config| {
                let (_, other) = release.apply(variations, config)?;
                fallback = variations[other].as_str().unwrap_or_default().to_owned();
                Ok(if comment.is_empty() {
                    format!("release: {to} at {percent}%, the rest on {fallback}")
                } else {
                    comment.clone()
                })
            })
            .await?;
            let rules = rules.join(", ");
            let next = if percent >= 100.0 {
                format!(
                    "nginx: {to} serves everyone: set the map's `default` to {to}, reload, watch {fallback} \
                     drain, then `daylight routing finish {flag} --on {to}`"
                )
            } else {
                format!("nginx: keep the map's `default` on {fallback} until {to} serves everyone")
            };
            Ok(Reply::new(answer, move |config: FlagConfig| {
                format!(
                    "{flag} in {env}: {percent}% on {to} (new release), the rest and the off switch on {fallback}; \
                     rules on {to}: {rules}\nversion: {}\n{next}",
                    config.version
                )
            }))
        }
        RoutingCmd::Finish { flag, on, env, comment } => {
            let answer = edit(c, &flag, &env, |variations, config| {
                finish(variations, config, &on)?;
                Ok(if comment.is_empty() {
                    format!("release finished: everyone on {on}")
                } else {
                    comment.clone()
                })
            })
            .await?;
            Ok(Reply::new(answer, move |config: FlagConfig| {
                format!(
                    "{flag} in {env}: everyone and the off switch on {on}\nversion: {}\n\
                     nginx: the map's `default` should be {on}",
                    config.version
                )
            }))
        }
    }
}

/// Reads the flag, lets `change` edit one environment's config (it returns
/// the audit comment), and writes it back conditionally on the version read.
async fn edit(
    c: &Client,
    flag: &str,
    env: &str,
    change: impl FnOnce(&[Value], &mut FlagConfig) -> Result<String, String>,
) -> Result<super::client::Answer, String> {
    let path = format!("/api/v1/flags/{flag}");
    let current = c.get(&path).send().await?;
    let stored: StoredFlag = current.parse()?;
    if !stored.flag.environments.contains_key(env) {
        return Err(format!("flag `{flag}` has no config in environment `{env}`"));
    }
    let mut config = config_for(&stored.flag, env);
    let comment = change(&stored.flag.variations, &mut config)?;
    c.put(&format!("{path}/environments/{env}"))
        .if_match(current.etag.as_deref().unwrap_or_default())
        .comment(&comment)
        .json(&config)
        .send()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use daylight::model::{Clause, Op, Rule};
    use serde_json::json;

    fn rule(id: &str, serve: usize) -> Rule {
        Rule {
            id: id.into(),
            description: String::new(),
            clauses: vec![Clause {
                attribute: "key".into(),
                op: Op::InSegment,
                values: vec![json!("staff")],
                negate: false,
                case_insensitive: false,
            }],
            serve: Serve::variation(serve),
        }
    }

    fn weights(config: &FlagConfig) -> Vec<(usize, u32)> {
        let rollout = config.fallthrough.rollout.as_ref().expect("a rollout");
        rollout.variations.iter().map(|w| (w.variation, w.weight)).collect()
    }

    const STAFF: &[String] = &[];

    #[test]
    fn the_named_pool_is_the_target_whatever_the_order() {
        let variations = [json!("blue"), json!("green")];
        let staff = vec!["staff".to_owned()];
        let release = |to, percent| Release {
            to,
            from: None,
            percent,
            rules: &staff,
            keep: STAFF,
        };
        // The first release: green is new.
        let mut config = FlagConfig::dark(0);
        config.rules.push(rule("staff", 1));
        release("green", 5.0).apply(&variations, &mut config).unwrap();
        assert_eq!(weights(&config), [(0, 95_000), (1, 5_000)]);
        assert_eq!((config.on, config.off_variation), (true, Some(0)));
        // The next: blue is new; off, fallback and staff follow.
        release("blue", 5.0).apply(&variations, &mut config).unwrap();
        assert_eq!(weights(&config), [(1, 95_000), (0, 5_000)]);
        assert_eq!(config.off_variation, Some(1));
        assert_eq!(config.rules[0].serve.variation, Some(0));
    }

    #[test]
    fn ambiguous_or_wrong_forms_are_refused() {
        let two = [json!("blue"), json!("green")];
        let three = [json!("blue"), json!("green"), json!("red")];
        let staff = vec!["staff".to_owned()];
        let vip = vec!["vip".to_owned()];
        let mut config = FlagConfig::dark(0);
        config.rules.push(rule("staff", 1));
        let base = Release {
            to: "blue",
            from: None,
            percent: 5.0,
            rules: &staff,
            keep: STAFF,
        };
        let err = |r: Release<'_>, variations: &[Value], config: &FlagConfig| {
            r.apply(variations, &mut config.clone()).unwrap_err()
        };
        let cases: [(Release<'_>, &[Value], &str); 8] = [
            (Release { to: "1", ..base }, &two, "none of the flag's pools"),
            (base, &three, "--from"),
            (
                Release {
                    from: Some("blue"),
                    ..base
                },
                &two,
                "same pool",
            ),
            (Release { percent: 101.0, ..base }, &two, "--percent"),
            (
                Release {
                    percent: f64::NAN,
                    ..base
                },
                &two,
                "--percent",
            ),
            (Release { rules: &vip, ..base }, &two, "no rule `vip`"),
            (base, &[json!("blue"), json!(true)], "strings"),
            (base, &[json!("blue"), json!("blue")], "ambiguous"),
        ];
        for (release, variations, says) in cases {
            let e = err(release, variations, &config);
            assert!(e.contains(says), "{release:?}: {e}");
        }
        // A rule left out that serves the pool being replaced.
        config.rules.push(rule("beta", 1));
        assert!(err(base, &two, &config).contains("rule `beta`"));
        let keep = vec!["beta".to_owned()];
        Release { keep: &keep, ..base }.apply(&two, &mut config).unwrap();
        assert_eq!(config.rules[1].serve.variation, Some(1), "kept as it was");
        // Finish: only once the pool serves everyone.
        let mut config = FlagConfig::dark(0);
        config.rules.push(rule("staff", 1));
        let green = Release { to: "green", ..base };
        Release { percent: 5.0, ..green }.apply(&two, &mut config).unwrap();
        assert!(finish(&two, &mut config.clone(), "green")
            .unwrap_err()
            .contains("does not serve everyone"));
        Release {
            percent: 100.0,
            ..green
        }
        .apply(&two, &mut config)
        .unwrap();
        finish(&two, &mut config, "green").unwrap();
        assert_eq!((config.off_variation, config.fallthrough.variation), (Some(1), Some(1)));
        // Three pools with --from.
        let mut config = FlagConfig::dark(0);
        config.rules.push(rule("staff", 1));
        Release {
            from: Some("red"),
            ..base
        }
        .apply(&three, &mut config)
        .unwrap();
        assert_eq!(weights(&config), [(2, 95_000), (0, 5_000)]);
    }
}
