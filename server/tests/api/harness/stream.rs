//! A WebSocket SDK connection for stream tests (`TestApp::stream`).

use serde_json::Value;

use super::{Reply, TestApp};

/// A WebSocket SDK connection for stream tests.
pub struct Stream {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl TestApp {
    /// Opens `/sdk/v1/stream` and sends `hello`.
    pub async fn stream(&self, hello: Value) -> Stream {
        let url = format!("{}/sdk/v1/stream", self.url.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the stream upgrades");
        let mut stream = Stream { ws };
        stream.send(hello).await;
        stream
    }

    /// Opens `/sdk/v1/stream` with extra upgrade headers (no hello sent);
    /// `Err` is the answer of a refused upgrade.
    pub async fn try_stream(&self, headers: &[(&str, &str)]) -> Result<Stream, Reply> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}/sdk/v1/stream", self.url.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("a valid URL");
        for (k, v) in headers {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("a header name"),
                v.parse().expect("a header value"),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Stream { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err(Reply {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body,
                })
            }
            Err(e) => panic!("the stream upgrade failed: {e}"),
        }
    }
}

impl Stream {
    /// Sends a text frame exactly as given.
    #[allow(dead_code)]
    pub async fn send_text(&mut self, text: String) {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .expect("send");
    }

    pub async fn send(&mut self, msg: Value) {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(msg.to_string()))
            .await
            .expect("send");
    }

    /// The next JSON message other than a heartbeat (fails after 5 s).
    pub async fn next(&mut self) -> Value {
        serde_json::from_str(&self.next_text().await).expect("JSON")
    }

    /// The next message other than a heartbeat, as the bytes it came in
    /// (fails after 5 s).
    pub async fn next_text(&mut self) -> String {
        use futures_util::StreamExt;
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message within 5 s")
                .expect("the stream is open")
                .expect("a valid frame");
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                let value: Value = serde_json::from_str(&text).expect("JSON");
                if value["type"] != "heartbeat" {
                    return text.as_str().to_owned();
                }
            }
        }
    }

    /// The next heartbeat (fails after 5 s).
    #[allow(dead_code)]
    pub async fn next_heartbeat(&mut self) -> Value {
        use futures_util::StreamExt;
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(5), self.ws.next())
                .await
                .expect("a heartbeat within 5 s")
                .expect("the stream is open")
                .expect("a valid frame");
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                let value: Value = serde_json::from_str(&text).expect("JSON");
                if value["type"] == "heartbeat" {
                    return value;
                }
            }
        }
    }

    /// The next message other than a heartbeat, or `None` once the server
    /// has closed the connection (fails after 5 s).
    pub async fn next_or_closed(&mut self) -> Option<Value> {
        use futures_util::StreamExt;
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message or a close within 5 s");
            match msg {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    if value["type"] != "heartbeat" {
                        return Some(value);
                    }
                }
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }
}
