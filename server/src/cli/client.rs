//! The HTTP client every command shares: base URL, bearer token, JSON
//! bodies, and API errors as one line (`404 flag `x` not found`).

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

/// An API answer: the JSON as the server sent it (`Null` when empty) and
/// its ETag.
pub struct Answer {
    pub etag: Option<String>,
    pub json: Value,
}

impl Answer {
    /// The body as the server's own response type.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        T::deserialize(&self.json).map_err(|e| format!("unexpected answer from the server: {e}"))
    }
}

/// One request being built; [`Call::send`] sends it.
pub struct Call<'a> {
    client: &'a Client,
    request: reqwest::RequestBuilder,
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> Client {
        Client {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            token,
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Call<'_> {
        self.call(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> Call<'_> {
        self.call(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Call<'_> {
        self.call(Method::DELETE, path)
    }

    /// The server's base URL, without a trailing slash (console links).
    pub fn base_url(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    fn call(&self, method: Method, path: &str) -> Call<'_> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url.trim_end_matches('/')));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Call { client: self, request }
    }
}

impl Call<'_> {
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.request = self.request.json(body);
        self
    }

    /// Query parameters from the handler's own query type (`None` fields
    /// are left out).
    pub fn query(mut self, query: &impl Serialize) -> Self {
        self.request = self.request.query(query);
        self
    }

    /// Recorded in the audit log; an empty comment sends no header.
    pub fn comment(self, comment: &str) -> Self {
        self.header("x-audit-comment", comment)
    }

    /// The version the change was based on; the server refuses a stale one.
    pub fn if_match(self, etag: &str) -> Self {
        self.header("if-match", etag)
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.request = self.request.header(name, value);
        }
        self
    }

    /// Sends the request; a non-2xx answer becomes its status, the API's
    /// message and the field it names.
    pub async fn send(self) -> Result<Answer, String> {
        let url = &self.client.url;
        let resp = self
            .request
            .send()
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.map_err(|e| e.to_string())?;
        let json: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(Answer { etag, json });
        }
        let message = json["message"]
            .as_str()
            .unwrap_or(status.canonical_reason().unwrap_or("error"));
        let field = json["field"]
            .as_str()
            .map(|f| format!(" (field {f})"))
            .unwrap_or_default();
        let hint = if status == StatusCode::CONFLICT {
            " [409 conflict]"
        } else {
            ""
        };
        Err(format!("{} {message}{field}{hint}", status.as_u16()))
    }
}
