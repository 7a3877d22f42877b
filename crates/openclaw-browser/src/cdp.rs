//! A thin Chrome DevTools Protocol client.
//!
//! Why our own instead of `chromiumoxide` / `headless_chrome`: those crates
//! carry code-generated bindings for the whole protocol (tens of thousands of
//! generated lines, long compile times on a 2-core box), bring their own
//! browser-launching and runtime opinions (chromiumoxide's handler loop,
//! headless_chrome's blocking threads), and would still need wrapping to
//! fit our process-group launcher and loopback-only rules. We use about
//! fifteen commands (`Page.navigate`, `Page.captureScreenshot`,
//! `Page.getLayoutMetrics`, `Runtime.evaluate`, `Input.dispatch*`, ...), so
//! a JSON-RPC-over-WebSocket client of ~200 lines over `tokio-tungstenite`
//! plus the HTTP discovery endpoints via `reqwest` is smaller and clearer.
//!
//! [`CdpConnection`] correlates responses to requests by id, fans events
//! out over a broadcast channel, and bounds every call with a timeout.
//! [`CdpHttp`] speaks the `/json/*` discovery endpoints.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Default bound on a single CDP command.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// CDP-level failures.
#[derive(Debug, thiserror::Error)]
pub enum CdpError {
    #[error("cannot connect to the DevTools WebSocket {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("DevTools connection closed while waiting for {method}")]
    Closed { method: String },
    #[error("DevTools command {method} did not answer within {timeout:?}")]
    Timeout { method: String, timeout: Duration },
    #[error("DevTools command {method} failed: {message} (code {code})")]
    Protocol {
        method: String,
        code: i64,
        message: String,
    },
    #[error("DevTools HTTP endpoint {url} failed: {reason}")]
    Http { url: String, reason: String },
}

/// An event pushed by the browser (a message without an `id`).
#[derive(Debug, Clone)]
pub struct CdpEvent {
    pub method: String,
    pub params: Value,
    pub session_id: Option<String>,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, (i64, String)>>>>>;

/// One WebSocket connection to a DevTools target (browser or page).
pub struct CdpConnection {
    next_id: AtomicU64,
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    events: broadcast::Sender<CdpEvent>,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

impl Drop for CdpConnection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl CdpConnection {
    /// Connect to a `ws://` DevTools URL (from `/json/version` or `/json/list`).
    pub async fn connect(ws_url: &str) -> Result<Self, CdpError> {
        let connect = tokio_tungstenite::connect_async(ws_url);
        let (ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| CdpError::Connect {
                url: ws_url.to_string(),
                reason: "timed out after 10s".into(),
            })?
            .map_err(|e| CdpError::Connect {
                url: ws_url.to_string(),
                reason: e.to_string(),
            })?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let (events, _) = broadcast::channel(256);
        let reader = {
            let pending = pending.clone();
            let events = events.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    let text = match msg {
                        Message::Text(t) => t.to_string(),
                        Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                        Message::Close(_) => break,
                        _ => continue,
                    };
                    let Ok(v) = serde_json::from_str::<Value>(&text) else {
                        tracing::debug!("unparseable DevTools message");
                        continue;
                    };
                    if let Some(id) = v.get("id").and_then(Value::as_u64) {
                        if let Some(tx) = pending.lock().await.remove(&id) {
                            let r = match v.get("error") {
                                Some(e) => Err((
                                    e.get("code").and_then(Value::as_i64).unwrap_or(0),
                                    e.get("message")
                                        .and_then(Value::as_str)
                                        .unwrap_or("unknown error")
                                        .to_string(),
                                )),
                                None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                            };
                            let _ = tx.send(r);
                        }
                    } else if let Some(method) = v.get("method").and_then(Value::as_str) {
                        let _ = events.send(CdpEvent {
                            method: method.to_string(),
                            params: v.get("params").cloned().unwrap_or(Value::Null),
                            session_id: v
                                .get("sessionId")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                        });
                    }
                }
                // Fail everything still waiting: dropping the senders wakes them.
                pending.lock().await.clear();
            })
        };
        Ok(Self {
            next_id: AtomicU64::new(1),
            out,
            pending,
            events,
            reader,
            writer,
            timeout: DEFAULT_CALL_TIMEOUT,
        })
    }

    /// Change the per-call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Subscribe to events. Subscribe before sending the command whose
    /// events you wait for.
    pub fn events(&self) -> broadcast::Receiver<CdpEvent> {
        self.events.subscribe()
    }

    /// Send a command and wait (bounded) for its result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.call_in(None, method, params).await
    }

    /// Send a command to a flattened session (`Target.attachToTarget` with
    /// `flatten: true`) and wait for its result.
    pub async fn call_in(
        &self,
        session_id: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, CdpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id, tx);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session_id {
            msg["sessionId"] = json!(s);
        }
        if self
            .out
            .send(Message::Text(msg.to_string().into()))
            .is_err()
        {
            self.pending.lock().await.remove(&id);
            return Err(CdpError::Closed {
                method: method.into(),
            });
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Err(_) => {
                self.pending.lock().await.remove(&id);
                Err(CdpError::Timeout {
                    method: method.into(),
                    timeout: self.timeout,
                })
            }
            Ok(Err(_)) => Err(CdpError::Closed {
                method: method.into(),
            }),
            Ok(Ok(Err((code, message)))) => Err(CdpError::Protocol {
                method: method.into(),
                code,
                message,
            }),
            Ok(Ok(Ok(v))) => Ok(v),
        }
    }
}

/// `/json/version`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionInfo {
    #[serde(rename = "Browser", default)]
    pub browser: String,
    #[serde(rename = "Protocol-Version", default)]
    pub protocol_version: String,
    #[serde(rename = "User-Agent", default)]
    pub user_agent: String,
    #[serde(rename = "webSocketDebuggerUrl", default)]
    pub web_socket_debugger_url: String,
}

/// One entry of `/json/list` (and the answer of `/json/new`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetInfo {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub url: String,
    #[serde(rename = "webSocketDebuggerUrl", default)]
    pub web_socket_debugger_url: Option<String>,
}

/// Client of the DevTools HTTP discovery endpoints at `base`
/// (e.g. `http://127.0.0.1:18800`).
#[derive(Debug, Clone)]
pub struct CdpHttp {
    base: String,
    http: reqwest::Client,
}

impl CdpHttp {
    pub fn new(base: &str) -> Self {
        let http = crate::http_client_builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client with static settings");
        Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<T, CdpError> {
        let url = format!("{}{}", self.base, path);
        let err = |reason: String| CdpError::Http {
            url: url.clone(),
            reason,
        };
        let resp = self
            .http
            .request(method, &url)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| err(e.to_string()))?;
        if !status.is_success() {
            return Err(err(format!("HTTP {status}: {}", body.trim())));
        }
        serde_json::from_str(&body).map_err(|e| err(format!("unexpected answer ({e}): {body}")))
    }

    async fn get_text(&self, path: &str) -> Result<String, CdpError> {
        let url = format!("{}{}", self.base, path);
        let err = |reason: String| CdpError::Http {
            url: url.clone(),
            reason,
        };
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| err(e.to_string()))?;
        if !status.is_success() {
            return Err(err(format!("HTTP {status}: {}", body.trim())));
        }
        Ok(body)
    }

    pub async fn version(&self) -> Result<VersionInfo, CdpError> {
        self.get_json(reqwest::Method::GET, "/json/version").await
    }

    pub async fn list(&self) -> Result<Vec<TargetInfo>, CdpError> {
        self.get_json(reqwest::Method::GET, "/json/list").await
    }

    /// Open a new tab. Recent Chrome requires PUT for `/json/new`.
    pub async fn new_tab(&self, url: &str) -> Result<TargetInfo, CdpError> {
        let path = format!("/json/new?{}", encode_query_value(url));
        self.get_json(reqwest::Method::PUT, &path).await
    }

    pub async fn activate(&self, id: &str) -> Result<(), CdpError> {
        self.get_text(&format!("/json/activate/{}", encode_query_value(id)))
            .await
            .map(|_| ())
    }

    pub async fn close(&self, id: &str) -> Result<(), CdpError> {
        self.get_text(&format!("/json/close/{}", encode_query_value(id)))
            .await
            .map(|_| ())
    }
}

/// Percent-encode everything but unreserved characters, `:` and `/`
/// (Chrome unescapes the query of `/json/new?<url>` before using it).
fn encode_query_value(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b':')
        .remove(b'/');
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod encode_tests {
    use super::encode_query_value;

    #[test]
    fn query_values_keep_unreserved_colon_and_slash() {
        for (raw, want) in [
            (
                "https://example.com/a-b_c.d~e",
                "https://example.com/a-b_c.d~e",
            ),
            ("http://a/x?y=1&z=2#f", "http://a/x%3Fy%3D1%26z%3D2%23f"),
            ("a b+c%", "a%20b%2Bc%25"),
            ("é", "%C3%A9"),
            ("ABCDEF0123", "ABCDEF0123"),
        ] {
            assert_eq!(encode_query_value(raw), want, "{raw}");
        }
    }
}
