//! Random flag and segment changes through the admin API, each sent to a
//! random node (another one when that node is down). The writer keeps a
//! rough model of what exists so most changes are valid; the server's
//! answer is what counts, and the database is the truth at the end.

mod segments;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, IteratorRandom, SliceRandom};
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const ENV: &str = "production";
const MAX_FLAGS: usize = 36;
const MAX_SEGMENTS: usize = 8;

/// The context keys the contexts (and segments, targets) use.
pub fn context_keys() -> Vec<String> {
    (0..24).map(|i| format!("u-{i}")).collect()
}

/// The contexts every SDK is checked on: every attribute the clauses use.
pub fn contexts() -> Vec<Value> {
    let countries = ["AU", "NZ", "US", "GB"];
    let plans = ["free", "pro", "team"];
    context_keys()
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let mut ctx = json!({
                "key": key,
                "country": countries[i % 4],
                "plan": plans[i % 3],
                "appVersion": format!("1.{}.{}", i % 4, i % 3),
                "age": 18 + (i * 7) % 50,
                "email": if i % 2 == 0 { format!("{key}@example.com") } else { format!("{key}@mail.test") },
                "groups": if i % 5 == 0 { json!(["beta", "staff"]) } else { json!(["beta"]) },
            });
            if i % 6 == 5 {
                // Some contexts miss attributes, which never match.
                ctx.as_object_mut().unwrap().remove("plan");
            }
            ctx
        })
        .collect()
}

#[derive(Default)]
pub struct Counts {
    /// Changes the server accepted (2xx).
    pub applied: AtomicU64,
    /// Refused with a 4xx (a cycle, a segment in use, a stale `If-Match`…).
    pub refused: AtomicU64,
    /// No answer (the node died mid-request) or a 5xx: outcome unknown.
    pub failed: AtomicU64,
    /// Why changes were refused or failed: status and message (names
    /// blanked) → count.
    pub reasons: Mutex<BTreeMap<String, u64>>,
}

/// A message with the names between backticks blanked, so refusals group.
fn reason_of(status: u16, message: &str) -> String {
    let mut out = format!("{status} ");
    let mut quoted = false;
    for c in message.chars() {
        match c {
            '`' => {
                quoted = !quoted;
                if quoted {
                    out.push('_');
                }
            }
            c if !quoted && !c.is_ascii_digit() => out.push(c),
            _ => {}
        }
    }
    out.chars().take(60).collect()
}

/// What the writers believe exists: flag key → number of variations;
/// segment keys.
#[derive(Default)]
struct Model {
    flags: BTreeMap<String, usize>,
    /// The prerequisites each flag was last given (to try cycles).
    prerequisites: BTreeMap<String, String>,
    segments: Vec<String>,
    next_flag: usize,
    next_segment: usize,
}

pub struct Writer {
    http: reqwest::Client,
    nodes: Vec<String>,
    token: String,
    model: Arc<Mutex<Model>>,
    pub counts: Arc<Counts>,
}

impl Clone for Writer {
    fn clone(&self) -> Self {
        Writer {
            http: self.http.clone(),
            nodes: self.nodes.clone(),
            token: self.token.clone(),
            model: self.model.clone(),
            counts: self.counts.clone(),
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub body: Value,
}

impl Writer {
    pub fn new(nodes: Vec<String>, token: &str) -> Writer {
        Writer {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
            nodes,
            token: token.to_owned(),
            model: Arc::default(),
            counts: Arc::default(),
        }
    }

    /// One request to a random node; a node that does not answer is
    /// replaced by another for up to ~20 s. `Err` when no node answered or
    /// the answer was lost (the write may or may not have happened).
    pub async fn request(
        &self,
        rng: &mut StdRng,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply, String> {
        let mut last = String::new();
        for attempt in 0..80 {
            let node = self.nodes.choose(rng).expect("nodes");
            let mut req = self
                .http
                .request(method.clone(), format!("{node}{path}"))
                .bearer_auth(&self.token);
            if let Some(body) = body {
                req = req.json(body);
            }
            if let Some(tag) = if_match {
                req = req.header("if-match", tag);
            }
            // Archiving or deleting a flag still served needs its key typed
            // back and a comment, as an operator would give them.
            if let Some(key) = path.strip_prefix("/api/v1/flags/").filter(|k| !k.contains('/')) {
                req = req.header("x-confirm", key).header("x-audit-comment", "chaos");
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let etag = resp
                        .headers()
                        .get("etag")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let text = resp
                        .text()
                        .await
                        .map_err(|e| format!("{method} {path}: body lost: {e}"))?;
                    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    if status.is_server_error() && method == Method::GET && attempt < 79 {
                        // A node whose database connection broke: try another.
                        last = format!("{status}: {body}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    return Ok(Reply { status, etag, body });
                }
                // Nothing was sent: safe to try elsewhere.
                Err(e) if e.is_connect() => {
                    last = e.to_string();
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(format!("{method} {path}: {e}")),
            }
        }
        Err(format!("{method} {path}: no node answered ({last})"))
    }

    pub async fn get(&self, rng: &mut StdRng, path: &str) -> Result<Reply, String> {
        self.request(rng, Method::GET, path, None, None).await
    }

    /// Counts the outcome of a write.
    fn count(&self, reply: &Result<Reply, String>) -> bool {
        match reply {
            Ok(r) if r.status.is_success() => {
                self.counts.applied.fetch_add(1, Ordering::Relaxed);
                true
            }
            Ok(r) => {
                let counter = if r.status.is_client_error() {
                    &self.counts.refused
                } else {
                    &self.counts.failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let reason = reason_of(r.status.as_u16(), r.body["message"].as_str().unwrap_or_default());
                *self.counts.reasons.lock().unwrap().entry(reason).or_default() += 1;
                false
            }
            Err(e) => {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                let reason = e.split(": ").skip(1).collect::<Vec<_>>().join(": ");
                *self
                    .counts
                    .reasons
                    .lock()
                    .unwrap()
                    .entry(reason_of(0, &reason))
                    .or_default() += 1;
                false
            }
        }
    }

    /// Makes one random change attempt.
    pub async fn random_change(&self, rng: &mut StdRng) {
        let (n_flags, n_segments) = {
            let m = self.model.lock().unwrap();
            (m.flags.len(), m.segments.len())
        };
        let roll = rng.random_range(0..100);
        match roll {
            _ if n_flags < 6 || (roll < 8 && n_flags < MAX_FLAGS) => self.create_flag(rng).await,
            _ if n_segments < 2 || (roll < 12 && n_segments < MAX_SEGMENTS) => self.create_segment(rng).await,
            0..=39 => self.put_config(rng).await,
            40..=59 => self.toggle(rng).await,
            60..=67 => self.patch_flag(rng).await,
            68..=71 => self.delete_flag(rng).await,
            72..=83 => self.patch_segment(rng).await,
            84..=93 => self.replace_segment_keys(rng).await,
            _ => self.delete_segment(rng).await,
        }
    }

    fn pick_flag(&self, rng: &mut StdRng) -> Option<(String, usize)> {
        let m = self.model.lock().unwrap();
        m.flags.iter().choose(rng).map(|(k, n)| (k.clone(), *n))
    }

    fn pick_segment(&self, rng: &mut StdRng) -> Option<String> {
        self.model.lock().unwrap().segments.choose(rng).cloned()
    }

    async fn create_flag(&self, rng: &mut StdRng) {
        let key = {
            let mut m = self.model.lock().unwrap();
            m.next_flag += 1;
            format!("f-{}", m.next_flag)
        };
        let variations = match rng.random_range(0..4) {
            0 => json!([false, true]),
            1 => json!(["red", "green", "blue"]),
            2 => json!([1, 2.5, 10]),
            _ => json!([{ "layout": "grid" }, { "layout": "list", "size": 2 }]),
        };
        let n = variations.as_array().map_or(2, Vec::len);
        let body = json!({ "key": key, "variations": variations, "client_side": rng.random_bool(0.5) });
        let reply = self
            .request(rng, Method::POST, "/api/v1/flags", Some(&body), None)
            .await;
        let created = self.count(&reply);
        // A create whose answer was lost may have happened: remember it
        // either way (a later 404 forgets it).
        if created || reply.is_err() || reply.as_ref().is_ok_and(|r| r.status == StatusCode::CONFLICT) {
            self.model.lock().unwrap().flags.insert(key, n);
        }
    }

    fn random_clause(&self, rng: &mut StdRng) -> Value {
        let segment = self.pick_segment(rng);
        let negate = rng.random_bool(0.15);
        match rng.random_range(0..8) {
            0 => {
                let all = ["AU", "NZ", "US", "GB"];
                let n = rng.random_range(1..=2);
                let values: Vec<&str> = all.choose_multiple(rng, n).copied().collect();
                json!({ "attribute": "country", "op": "in", "values": values, "negate": negate })
            }
            1 => json!({ "attribute": "plan", "op": "in", "values": ["pro"], "negate": negate }),
            2 => json!({ "attribute": "appVersion", "op": "semver_gt", "values": ["1.1.0"] }),
            3 => json!({ "attribute": "age", "op": "gte", "values": [rng.random_range(20..60)] }),
            4 => {
                json!({ "attribute": "email", "op": "ends_with", "values": ["@EXAMPLE.com"], "case_insensitive": true })
            }
            5 => json!({ "attribute": "groups", "op": "in", "values": ["staff"] }),
            _ => match segment {
                Some(s) => json!({ "attribute": "key", "op": "in_segment", "values": [s], "negate": negate }),
                None => json!({ "attribute": "key", "op": "starts_with", "values": ["u-1"] }),
            },
        }
    }

    fn random_serve(rng: &mut StdRng, n: usize) -> Value {
        if rng.random_bool(0.3) {
            let first = rng.random_range(0..n);
            let second = (first + 1) % n;
            let w = rng.random_range(0..=100_000);
            let mut rollout = json!({ "variations": [
                { "variation": first, "weight": w }, { "variation": second, "weight": 100_000 - w }
            ] });
            if rng.random_bool(0.3) {
                rollout["bucket_by"] = json!("country");
            }
            json!({ "rollout": rollout })
        } else {
            json!({ "variation": rng.random_range(0..n) })
        }
    }

    async fn put_config(&self, rng: &mut StdRng) {
        let Some((key, n)) = self.pick_flag(rng) else { return };
        let mut rules = Vec::new();
        for i in 0..rng.random_range(0..4) {
            let clauses: Vec<Value> = (0..rng.random_range(1..=2)).map(|_| self.random_clause(rng)).collect();
            rules.push(json!({ "id": format!("r{i}"), "clauses": clauses, "serve": Self::random_serve(rng, n) }));
        }
        let mut prerequisites = Vec::new();
        if rng.random_bool(0.4) {
            // Half the time a flag that needs this one: a cycle, which the
            // server must refuse whichever node the two writes go through.
            let dependent = {
                let m = self.model.lock().unwrap();
                m.prerequisites
                    .iter()
                    .filter(|(_, pre)| **pre == key)
                    .map(|(k, _)| k.clone())
                    .choose(rng)
                    .and_then(|k| m.flags.get(&k).map(|n| (k, *n)))
            };
            let pre = dependent
                .filter(|_| rng.random_bool(0.5))
                .or_else(|| self.pick_flag(rng).filter(|(k, _)| *k != key));
            if let Some((pre, pre_n)) = pre {
                prerequisites.push(json!({ "flag": pre, "variation": rng.random_range(0..pre_n) }));
            }
        }
        let named = prerequisites
            .first()
            .and_then(|p| p["flag"].as_str())
            .map(str::to_owned);
        let keys = context_keys();
        let targets: Vec<Value> = if rng.random_bool(0.3) {
            let values: Vec<&String> = keys.choose_multiple(rng, 3).collect();
            vec![json!({ "variation": rng.random_range(0..n), "values": values })]
        } else {
            vec![]
        };
        let config = json!({
            "on": rng.random_bool(0.7),
            "off_variation": rng.random_range(0..n),
            "prerequisites": prerequisites,
            "targets": targets,
            "rules": rules,
            "fallthrough": Self::random_serve(rng, n),
        });
        let written = self.write_config(rng, &key, &config, named.clone()).await;
        // Now and then close the loop at once, through whichever node comes
        // up (one that may not have heard of the first write yet): the
        // server must refuse the cycle.
        if let (true, Some(pre)) = (written, named) {
            if rng.random_bool(0.3) {
                let n_pre = self.model.lock().unwrap().flags.get(&pre).copied().unwrap_or(2);
                let cycle = json!({
                    "on": true, "off_variation": 0, "targets": [], "rules": [],
                    "prerequisites": [{ "flag": key, "variation": rng.random_range(0..n) }],
                    "fallthrough": { "variation": rng.random_range(0..n_pre) },
                });
                self.write_config(rng, &pre, &cycle, Some(key.clone())).await;
            }
        }
    }

    /// Replaces `key`'s config (read-modify-write: a stale `If-Match`, from
    /// another writer or a lost answer, is read again). True when written.
    async fn write_config(&self, rng: &mut StdRng, key: &str, config: &Value, named: Option<String>) -> bool {
        let path = format!("/api/v1/flags/{key}/environments/{ENV}");
        for _ in 0..3 {
            let current = match self.get(rng, &path).await {
                Ok(r) if r.status == StatusCode::NOT_FOUND => {
                    self.model.lock().unwrap().flags.remove(key);
                    return false;
                }
                Ok(r) if r.status.is_success() => r,
                _ => return false,
            };
            let tag = current.etag.unwrap_or_default();
            let reply = self.request(rng, Method::PUT, &path, Some(config), Some(&tag)).await;
            let stale = reply.as_ref().is_ok_and(|r| {
                r.status == StatusCode::CONFLICT
                    && r.body["message"].as_str().is_some_and(|m| m.contains("since you read"))
            });
            if self.count(&reply) {
                let mut m = self.model.lock().unwrap();
                match &named {
                    Some(pre) => m.prerequisites.insert(key.to_owned(), pre.clone()),
                    None => m.prerequisites.remove(key),
                };
                return true;
            }
            if !stale {
                return false;
            }
        }
        false
    }

    async fn toggle(&self, rng: &mut StdRng) {
        let Some((key, _)) = self.pick_flag(rng) else { return };
        let body = json!({ "on": rng.random_bool(0.5) });
        let path = format!("/api/v1/flags/{key}/environments/{ENV}/toggle");
        let reply = self.request(rng, Method::POST, &path, Some(&body), None).await;
        self.forget_flag_if_gone(&key, &reply);
        self.count(&reply);
    }

    fn forget_flag_if_gone(&self, key: &str, reply: &Result<Reply, String>) {
        if reply.as_ref().is_ok_and(|r| r.status == StatusCode::NOT_FOUND) {
            self.model.lock().unwrap().flags.remove(key);
        }
    }

    async fn patch_flag(&self, rng: &mut StdRng) {
        let Some((key, _)) = self.pick_flag(rng) else { return };
        let path = format!("/api/v1/flags/{key}");
        let Ok(current) = self.get(rng, &path).await else {
            return;
        };
        if !current.status.is_success() {
            self.forget_flag_if_gone(&key, &Ok(current));
            return;
        }
        let body = match rng.random_range(0..10) {
            0..=4 => json!({ "client_side": rng.random_bool(0.5) }),
            5..=8 => {
                // Same type and count, new order: every served value moves.
                let mut variations = current.body["variations"].as_array().cloned().unwrap_or_default();
                variations.shuffle(rng);
                json!({ "variations": variations })
            }
            // Archived flags leave the SDKs; unarchived ones come back.
            _ => json!({ "archived": !current.body["archived"].as_bool().unwrap_or(false) }),
        };
        let tag = current.etag.unwrap_or_default();
        let reply = self.request(rng, Method::PATCH, &path, Some(&body), Some(&tag)).await;
        self.count(&reply);
    }

    async fn delete_flag(&self, rng: &mut StdRng) {
        if self.model.lock().unwrap().flags.len() <= 8 {
            return;
        }
        let Some((key, _)) = self.pick_flag(rng) else { return };
        let reply = self
            .request(rng, Method::DELETE, &format!("/api/v1/flags/{key}"), None, None)
            .await;
        if self.count(&reply) || reply.as_ref().is_ok_and(|r| r.status == StatusCode::NOT_FOUND) {
            self.model.lock().unwrap().flags.remove(&key);
        }
    }

    /// Creates a server key for the SDKs.
    pub async fn server_key(&self, rng: &mut StdRng) -> Result<String, String> {
        let r = self
            .request(
                rng,
                Method::POST,
                &format!("/api/v1/environments/{ENV}/keys"),
                Some(&json!({ "kind": "server" })),
                None,
            )
            .await?;
        r.body["secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no key: {}", r.body))
    }

    /// The environment as the database has it (`/sdk/v1/ruleset` reads the
    /// database, not the node's memory).
    pub async fn truth(&self, rng: &mut StdRng, server_key: &str) -> Result<daylight::RulesetDocument, String> {
        for _ in 0..40 {
            let node = self.nodes.choose(rng).expect("nodes");
            let resp = self
                .http
                .get(format!("{node}/sdk/v1/ruleset"))
                .bearer_auth(server_key)
                .send()
                .await;
            if let Ok(resp) = resp {
                if resp.status().is_success() {
                    return resp.json().await.map_err(|e| format!("the ruleset: {e}"));
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err("no node served the ruleset".into())
    }
}
