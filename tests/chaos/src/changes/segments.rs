//! The writer's segment changes: create, patch, replace the keys, delete.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{context_keys, Reply, Writer, ENV};

impl Writer {
    fn random_keys(rng: &mut StdRng, max: usize) -> Vec<String> {
        let keys = context_keys();
        let n = rng.random_range(0..=max);
        keys.choose_multiple(rng, n).cloned().collect()
    }

    fn random_segment_rules(&self, rng: &mut StdRng) -> Value {
        if rng.random_bool(0.5) {
            json!([])
        } else {
            // `in_segment` is not allowed inside a segment.
            let mut clause = self.random_clause(rng);
            if clause["op"] == "in_segment" {
                clause = json!({ "attribute": "country", "op": "in", "values": ["NZ"] });
            }
            json!([{ "id": "s0", "clauses": [clause] }])
        }
    }

    pub(super) async fn create_segment(&self, rng: &mut StdRng) {
        let key = {
            let mut m = self.model.lock().unwrap();
            m.next_segment += 1;
            format!("s-{}", m.next_segment)
        };
        let body = json!({
            "key": key,
            "included": Self::random_keys(rng, 6),
            "excluded": Self::random_keys(rng, 3),
            "rules": self.random_segment_rules(rng),
        });
        let path = format!("/api/v1/environments/{ENV}/segments");
        let reply = self.request(rng, Method::POST, &path, Some(&body), None).await;
        let created = self.count(&reply);
        if created || reply.is_err() || reply.as_ref().is_ok_and(|r| r.status == StatusCode::CONFLICT) {
            self.model.lock().unwrap().segments.push(key);
        }
    }

    fn forget_segment_if_gone(&self, key: &str, reply: &Result<Reply, String>) {
        if reply.as_ref().is_ok_and(|r| r.status == StatusCode::NOT_FOUND) {
            self.model.lock().unwrap().segments.retain(|s| s != key);
        }
    }

    pub(super) async fn patch_segment(&self, rng: &mut StdRng) {
        let Some(key) = self.pick_segment(rng) else { return };
        let path = format!("/api/v1/environments/{ENV}/segments/{key}");
        let Ok(current) = self.get(rng, &path).await else {
            return;
        };
        if !current.status.is_success() {
            self.forget_segment_if_gone(&key, &Ok(current));
            return;
        }
        let body = match rng.random_range(0..3) {
            0 => json!({ "included": Self::random_keys(rng, 8) }),
            1 => json!({ "excluded": Self::random_keys(rng, 4) }),
            _ => json!({ "rules": self.random_segment_rules(rng) }),
        };
        let tag = current.etag.unwrap_or_default();
        let reply = self.request(rng, Method::PATCH, &path, Some(&body), Some(&tag)).await;
        self.count(&reply);
    }

    pub(super) async fn replace_segment_keys(&self, rng: &mut StdRng) {
        let Some(key) = self.pick_segment(rng) else { return };
        let list = if rng.random_bool(0.7) { "included" } else { "excluded" };
        let path = format!("/api/v1/environments/{ENV}/segments/{key}/{list}");
        let body = json!(Self::random_keys(rng, 10));
        let reply = self.request(rng, Method::PUT, &path, Some(&body), None).await;
        self.forget_segment_if_gone(&key, &reply);
        self.count(&reply);
    }

    pub(super) async fn delete_segment(&self, rng: &mut StdRng) {
        if self.model.lock().unwrap().segments.len() <= 3 {
            return;
        }
        let Some(key) = self.pick_segment(rng) else { return };
        let path = format!("/api/v1/environments/{ENV}/segments/{key}");
        let reply = self.request(rng, Method::DELETE, &path, None, None).await;
        if self.count(&reply) || reply.as_ref().is_ok_and(|r| r.status == StatusCode::NOT_FOUND) {
            self.model.lock().unwrap().segments.retain(|s| s != &key);
        }
    }
}
