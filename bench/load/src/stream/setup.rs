//! The admin API calls that prepare a run: the flag (serving `true` when
//! on, for client keys), the extra flags and the SDK key.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Kind, StreamArgs};

pub(super) struct Api {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) token: String,
}

impl Api {
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }
}

pub(super) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

pub(super) fn trim_base(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    format!("http://{}", rest.split('/').next().unwrap_or(rest))
}

/// Creates the flag (if missing) and a key; returns (key secret, flag is on).
pub(super) async fn setup(api: &Api, args: &StreamArgs, flag: &str) -> Result<(String, bool), String> {
    let client = args.kind == Kind::Client;
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/flags",
            Some(json!({ "key": flag, "name": flag, "client_side": client, "description": "daylight-bench stream propagation" })),
        )
        .await?;
    match status {
        201 => {}
        409 => {
            let (_, f) = api
                .call(reqwest::Method::GET, &format!("/api/v1/flags/{flag}"), None)
                .await?;
            if client && f["client_side"] != json!(true) {
                return Err(format!(
                    "flag `{flag}` exists and is not client_side; pass another --flag"
                ));
            }
        }
        _ => return Err(format!("creating flag `{flag}`: HTTP {status}: {body}")),
    }
    for i in 0..args.extra_flags {
        let extra = format!("bench-extra-{i}");
        let (status, body) = api
            .call(
                reqwest::Method::POST,
                "/api/v1/flags",
                Some(json!({ "key": extra, "client_side": client, "description": "daylight-bench extra flag" })),
            )
            .await?;
        if status != 201 && status != 409 {
            return Err(format!("creating flag `{extra}`: HTTP {status}: {body}"));
        }
        let (status, body) = api
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/flags/{extra}/environments/{}/toggle", args.env),
                Some(json!({ "on": true })),
            )
            .await?;
        if status != 200 {
            return Err(format!("turning `{extra}` on: HTTP {status}: {body}"));
        }
    }
    let (status, cfg) = api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/flags/{flag}/environments/{}", args.env),
            None,
        )
        .await?;
    if status != 200 {
        return Err(format!("reading flag `{flag}` in `{}`: HTTP {status}: {cfg}", args.env));
    }
    let on = cfg["on"].as_bool().unwrap_or(false);
    if client && cfg["fallthrough"]["variation"] != json!(1) {
        // A new flag serves variation 0 both off and on: a toggle would not
        // change any browser's value, and a client-key stream sends nothing
        // when nothing changed. Serve `true` when on.
        serve_true_when_on(api, flag, &args.env).await?;
    }
    let key = match &args.key {
        Some(k) => k.clone(),
        None => {
            let kind = if client { "client" } else { "server" };
            let (status, body) = api
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/environments/{}/keys", args.env),
                    Some(json!({ "kind": kind, "name": "daylight-bench" })),
                )
                .await?;
            if status != 201 && status != 200 {
                return Err(format!("creating a {kind} key: HTTP {status}: {body}"));
            }
            body["secret"]
                .as_str()
                .ok_or_else(|| format!("no `secret` in {body}"))?
                .to_owned()
        }
    };
    Ok((key, on))
}

/// Sets the flag's fallthrough to variation 1 (`PUT` with `If-Match`).
async fn serve_true_when_on(api: &Api, flag: &str, env: &str) -> Result<(), String> {
    let url = format!("{}/api/v1/flags/{flag}/environments/{env}", api.base);
    let resp = api
        .http
        .get(&url)
        .bearer_auth(&api.token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or("no ETag on the flag config")?;
    let mut cfg: Value = resp.json().await.map_err(|e| e.to_string())?;
    cfg["fallthrough"] = json!({ "variation": 1 });
    let resp = api
        .http
        .put(&url)
        .bearer_auth(&api.token)
        .header(reqwest::header::IF_MATCH, etag)
        .json(&cfg)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        let status = resp.status();
        return Err(format!(
            "setting `{flag}` to serve true: HTTP {status}: {}",
            resp.text().await.unwrap_or_default()
        ));
    }
    Ok(())
}
