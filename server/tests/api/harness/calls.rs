//! `TestApp`'s calls: requests as the bootstrap admin or another token,
//! and the flag, key, token, change-request, audit and OFREP helpers built
//! on them.

use reqwest::Method;
use serde_json::Value;

use super::{Reply, TestApp, ADMIN};

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply { status, headers, body }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// Sends only the head of a POST declaring a `content_length` body and
    /// returns the raw answer: for limits answered from the declared length,
    /// before any of the body is sent (a client still sending would see the
    /// connection closed under it).
    #[allow(dead_code)]
    pub async fn post_head_only(&self, path: &str, token: &str, content_length: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.url.trim_start_matches("http://");
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("the server accepts");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: {content_length}\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.expect("the head is sent");
        // Reads until the answer's own Content-Length is in, or the
        // connection closes.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        let read = async {
            loop {
                let n = conn.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&answer);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok());
                    if length.is_some_and(|length| body.len() >= length) {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, Some(ADMIN), None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(ADMIN), Some(body), &[]).await
    }

    /// A call with `token` instead of the admin's.
    pub async fn call_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request(method, path, Some(token), body, &[]).await
    }

    /// A new editor token named `name` (another person, for four eyes).
    pub async fn editor_token(&self, name: &str) -> String {
        self.post("/api/v1/tokens", serde_json::json!({ "name": name, "role": "editor" }))
            .await
            .expect(201)
            .body["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `token` (another editor than the author) approves change request
    /// `id` and applies it.
    pub async fn approve_and_apply(&self, token: &str, id: i64) {
        for (step, body) in [
            ("reviews", Some(serde_json::json!({ "verdict": "approve" }))),
            ("apply", None),
        ] {
            self.call_as(
                token,
                Method::POST,
                &format!("/api/v1/change-requests/{id}/{step}"),
                body,
            )
            .await
            .expect(200);
        }
    }

    /// How many audit entries there are, and each environment's change-log
    /// head: equal before and after a call that wrote nothing.
    pub async fn history(&self) -> (usize, Vec<i64>) {
        let audit = self.get("/api/v1/audit?limit=1000").await.expect(200).body;
        let envs = self.get("/api/v1/environments").await.expect(200).body;
        let heads = envs["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_i64().unwrap())
            .collect();
        (audit["entries"].as_array().unwrap().len(), heads)
    }

    /// The actions of the audit entries `query` selects (`resource_kind=…`),
    /// oldest first.
    pub async fn audit_actions(&self, query: &str) -> Vec<String> {
        let log = self.get(&format!("/api/v1/audit?{query}")).await.expect(200).body;
        let mut actions: Vec<String> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        actions.reverse();
        actions
    }

    /// Changes in `env` need `n` approvals from now on.
    pub async fn require_approvals(&self, env: &str, n: i64) {
        self.request(
            Method::PUT,
            &format!("/api/v1/environments/{env}/approvals"),
            Some(ADMIN),
            Some(serde_json::json!({ "required": n })),
            &[],
        )
        .await
        .expect(200);
    }

    pub async fn put_if_match(&self, path: &str, etag: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(ADMIN), Some(body), &[("if-match", etag)])
            .await
    }

    /// Creates a flag with the admin token and returns its body.
    pub async fn create_flag(&self, body: Value) -> Value {
        self.post("/api/v1/flags", body).await.expect(201).body
    }

    /// Read-modify-write of a flag's config in `env`.
    pub async fn edit_config(&self, key: &str, env: &str, edit: impl FnOnce(&mut Value)) -> Reply {
        let path = format!("/api/v1/flags/{key}/environments/{env}");
        let current = self.get(&path).await.expect(200);
        let mut config = current.body.clone();
        edit(&mut config);
        self.put_if_match(&path, &current.etag(), config).await
    }

    pub async fn toggle(&self, key: &str, env: &str, on: bool) -> Reply {
        self.post(
            &format!("/api/v1/flags/{key}/environments/{env}/toggle"),
            serde_json::json!({ "on": on }),
        )
        .await
    }

    /// The ids of a list read a page at a time: `path` (with its query and
    /// a `limit`), then again with `before_id` set to each page's
    /// `next_before_id`, which must be the page's last id, until there is
    /// none. No page may hold more than `limit` of `field`.
    #[allow(dead_code)]
    pub async fn read_pages(&self, path: &str, field: &str, limit: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        let mut next = path.to_owned();
        loop {
            let page = self.get(&next).await.expect(200).body;
            let rows = page[field].as_array().expect("a list");
            assert!(rows.len() <= limit, "{page}");
            ids.extend(rows.iter().map(|r| r["id"].as_i64().expect("an id")));
            match page["next_before_id"].as_i64() {
                Some(before) => {
                    assert_eq!(Some(&before), ids.last(), "{page}");
                    next = format!("{path}&before_id={before}");
                }
                None => return ids,
            }
        }
    }

    /// Creates an SDK key and returns its secret.
    pub async fn sdk_key(&self, env: &str, kind: &str) -> String {
        self.sdk_key_with_id(env, kind).await.1
    }

    /// Creates an SDK key and returns its id and secret.
    pub async fn sdk_key_with_id(&self, env: &str, kind: &str) -> (i64, String) {
        let r = self
            .post(
                &format!("/api/v1/environments/{env}/keys"),
                serde_json::json!({ "kind": kind }),
            )
            .await
            .expect(201);
        (
            r.body["id"].as_i64().expect("an id"),
            r.body["secret"].as_str().expect("a secret").to_owned(),
        )
    }

    /// Revokes SDK key `id` of `env`.
    #[allow(dead_code)]
    pub async fn revoke_key(&self, env: &str, id: i64) {
        self.request(
            Method::DELETE,
            &format!("/api/v1/environments/{env}/keys/{id}"),
            Some(ADMIN),
            None,
            &[],
        )
        .await
        .expect(204);
    }

    /// Creates an admin token with `role` and returns its secret.
    pub async fn token(&self, role: &str) -> String {
        let r = self
            .post(
                "/api/v1/tokens",
                serde_json::json!({ "name": format!("{role}-test"), "role": role }),
            )
            .await
            .expect(201);
        r.body["secret"].as_str().expect("a secret").to_owned()
    }

    /// An OFREP evaluation with SDK key `key`: of `flag`, or without one
    /// the bulk evaluation.
    pub async fn ofrep(&self, key: &str, flag: Option<&str>, body: Value) -> Reply {
        self.ofrep_with(key, flag, body, &[]).await
    }

    /// [`TestApp::ofrep`] with `headers` (a browser's `Origin`, an ETag…).
    pub async fn ofrep_with(&self, key: &str, flag: Option<&str>, body: Value, headers: &[(&str, &str)]) -> Reply {
        let path = match flag {
            Some(flag) => format!("/ofrep/v1/evaluate/flags/{flag}"),
            None => "/ofrep/v1/evaluate/flags".to_owned(),
        };
        self.request(Method::POST, &path, Some(key), Some(body), headers).await
    }

    /// A browser's CORS preflight from `origin` of a POST to `path` with
    /// `Authorization` and `Content-Type`.
    pub async fn preflight(&self, path: &str, origin: &str) -> Reply {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization,content-type"),
        ];
        self.request(Method::OPTIONS, path, None, None, &headers).await
    }
}
