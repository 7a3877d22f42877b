//! Client of the browser control service, for the CLI and the gateway's
//! `browser.request` method.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::control::{
    ActRequest, BrowserStatus, NavigateRequest, OpenRequest, ScreenshotRequest, Snapshot,
    SnapshotRequest, Tab, TargetRequest,
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the browser control service at {url}: {reason}. Is the gateway for this profile running?"
    )]
    Unreachable { url: String, reason: String },
    #[error("browser control service refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    #[error("unexpected answer from the browser control service at {url}: {reason}")]
    BadAnswer { url: String, reason: String },
}

impl ClientError {
    /// The HTTP status, when the service answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client bound to one control service (`http://127.0.0.1:<base+2>`).
#[derive(Debug, Clone)]
pub struct ControlClient {
    base_url: String,
    token: String,
    http: reqwest::Client,
}

impl ControlClient {
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        let http = crate::http_client_builder()
            .no_proxy()
            // Launching a browser can take a while; this is only a hang guard.
            .timeout(Duration::from_secs(120))
            .build()
            .expect("reqwest client with static settings");
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            token: token.into(),
            http,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn url(&self, path: &str, profile: Option<&str>) -> String {
        let mut u = format!("{}{}", self.base_url, path);
        if let Some(p) = profile {
            // Profile names are [a-z0-9-]; anything else is sent escaped and refused by the server.
            let enc: String = p
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b == b'-' {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            u.push_str("?profile=");
            u.push_str(&enc);
        }
        u
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        profile: Option<&str>,
        body: Option<Value>,
    ) -> Result<reqwest::Response, ClientError> {
        let url = self.url(path, profile);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(text);
        Err(ClientError::Refused {
            status: status.as_u16(),
            message,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        profile: Option<&str>,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let url = self.url(path, profile);
        let resp = self.send(method, path, profile, body).await?;
        let text = resp.text().await.map_err(|e| ClientError::BadAnswer {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| ClientError::BadAnswer {
            url,
            reason: format!("{e}: {text}"),
        })
    }

    fn body<T: Serialize>(v: &T) -> Option<Value> {
        serde_json::to_value(v).ok()
    }

    /// Generic forwarder (used by the gateway's `browser.request`):
    /// `method` is GET or POST, `path` one of the service's paths.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        profile: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let m = if method.eq_ignore_ascii_case("GET") {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        self.json(m, path, profile, body).await
    }

    pub async fn status(&self, profile: Option<&str>) -> Result<BrowserStatus, ClientError> {
        self.json(reqwest::Method::GET, "/", profile, None).await
    }
    pub async fn start(&self, profile: Option<&str>) -> Result<BrowserStatus, ClientError> {
        self.json(reqwest::Method::POST, "/start", profile, None)
            .await
    }
    pub async fn stop(&self, profile: Option<&str>) -> Result<BrowserStatus, ClientError> {
        self.json(reqwest::Method::POST, "/stop", profile, None)
            .await
    }
    pub async fn tabs(&self, profile: Option<&str>) -> Result<Vec<Tab>, ClientError> {
        let v: Value = self
            .json(reqwest::Method::GET, "/tabs", profile, None)
            .await?;
        serde_json::from_value(v.get("tabs").cloned().unwrap_or(Value::Null)).map_err(|e| {
            ClientError::BadAnswer {
                url: self.url("/tabs", profile),
                reason: e.to_string(),
            }
        })
    }
    pub async fn open(&self, profile: Option<&str>, url: &str) -> Result<Tab, ClientError> {
        let b = Self::body(&OpenRequest { url: url.into() });
        self.json(reqwest::Method::POST, "/tabs/open", profile, b)
            .await
    }
    pub async fn focus(&self, profile: Option<&str>, target_id: &str) -> Result<(), ClientError> {
        let b = Self::body(&TargetRequest {
            target_id: target_id.into(),
        });
        self.json::<Value>(reqwest::Method::POST, "/tabs/focus", profile, b)
            .await
            .map(|_| ())
    }
    pub async fn close(&self, profile: Option<&str>, target_id: &str) -> Result<(), ClientError> {
        let b = Self::body(&TargetRequest {
            target_id: target_id.into(),
        });
        self.json::<Value>(reqwest::Method::POST, "/tabs/close", profile, b)
            .await
            .map(|_| ())
    }
    pub async fn navigate(
        &self,
        profile: Option<&str>,
        url: &str,
        target_id: Option<&str>,
    ) -> Result<Tab, ClientError> {
        let b = Self::body(&NavigateRequest {
            url: url.into(),
            target_id: target_id.map(str::to_string),
        });
        self.json(reqwest::Method::POST, "/navigate", profile, b)
            .await
    }
    /// PNG bytes.
    pub async fn screenshot(
        &self,
        profile: Option<&str>,
        target_id: Option<&str>,
        full_page: bool,
    ) -> Result<Vec<u8>, ClientError> {
        let b = Self::body(&ScreenshotRequest {
            target_id: target_id.map(str::to_string),
            full_page,
        });
        let url = self.url("/screenshot", profile);
        let resp = self
            .send(reqwest::Method::POST, "/screenshot", profile, b)
            .await?;
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ClientError::BadAnswer {
                url,
                reason: e.to_string(),
            })
    }
    pub async fn snapshot(
        &self,
        profile: Option<&str>,
        target_id: Option<&str>,
    ) -> Result<Snapshot, ClientError> {
        let b = Self::body(&SnapshotRequest {
            target_id: target_id.map(str::to_string),
        });
        self.json(reqwest::Method::POST, "/snapshot", profile, b)
            .await
    }
    pub async fn act(&self, profile: Option<&str>, req: &ActRequest) -> Result<Value, ClientError> {
        self.json(reqwest::Method::POST, "/act", profile, Self::body(req))
            .await
    }
}
