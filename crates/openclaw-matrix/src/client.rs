//! HTTP calls against a homeserver. The access token travels only in the
//! `Authorization` header, never in a URL, so no error or log line built
//! from a URL can leak it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::sync::SyncResponse;

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The homeserver answered with a Matrix error (`errcode`, `error`).
    #[error("{method} {path}: HTTP {status} {errcode}: {message}")]
    Api {
        method: String,
        path: String,
        status: u16,
        errcode: String,
        message: String,
    },
    /// Still rate limited after every retry.
    #[error("{method} {path}: rate limited (429) after {retries} retries")]
    RateLimited {
        method: String,
        path: String,
        retries: u32,
    },
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },
    #[error("{0}")]
    Config(String),
}

impl MatrixError {
    /// The Matrix `errcode` (`M_FORBIDDEN`, `M_UNKNOWN_TOKEN`, ...), if any.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            MatrixError::Api { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    /// The token is no longer valid: log in again (or tell the owner).
    pub fn is_unknown_token(&self) -> bool {
        self.errcode() == Some("M_UNKNOWN_TOKEN") || self.errcode() == Some("M_MISSING_TOKEN")
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Login {
    pub access_token: String,
    pub user_id: String,
    #[serde(default)]
    pub device_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WhoAmI {
    pub user_id: String,
    #[serde(default)]
    pub device_id: Option<String>,
}

/// A deterministic transaction id for the `part`-th message sent in answer
/// to `key` (for example an inbound event id). The homeserver treats a
/// repeated (access token, txn id) as the same request and returns the
/// original event id, so a retry — in this process or after a restart with
/// the same token — never posts twice.
pub fn txn_id(key: &str, part: usize) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("oc{}.{part}", &hex::encode(digest)[..32])
}

/// A client for one account. Cheap to clone.
#[derive(Clone)]
pub struct MatrixClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    max_retries: u32,
    max_retry_wait: Duration,
    rate_limited: Arc<AtomicU64>,
}

impl fmt::Debug for MatrixClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatrixClient")
            .field("homeserver", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl MatrixClient {
    /// `homeserver` is the base URL (`https://matrix.example.org`).
    pub fn new(homeserver: &str) -> Result<MatrixClient, MatrixError> {
        let base = homeserver.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(MatrixError::Config(format!(
                "homeserver {base:?} is not an http(s) URL"
            )));
        }
        let http = crate::http_client_builder()
            .connect_timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| MatrixError::Config(format!("HTTP client: {e}")))?;
        Ok(MatrixClient {
            http,
            base,
            token: None,
            max_retries: 8,
            max_retry_wait: Duration::from_secs(120),
            rate_limited: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn homeserver(&self) -> &str {
        &self.base
    }

    /// How many 429 answers this client (and its clones) waited out.
    pub fn rate_limited_count(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// Sends one request; on 429 waits `retry_after_ms` (body) or
    /// `Retry-After` (header, seconds) and tries again, up to `max_retries`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, MatrixError> {
        let mut url = format!("{}{path}", self.base);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&encode(v));
        }
        let err_transport = |message: String| MatrixError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            message,
        };
        let mut retries = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url).timeout(timeout);
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| err_transport(e.without_url().to_string()))?;
            let status = resp.status();
            let header_wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = resp
                .text()
                .await
                .map_err(|e| err_transport(e.without_url().to_string()))?;
            let value: Value = if text.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&text).unwrap_or_else(
                    |_| json!({ "error": text.chars().take(200).collect::<String>() }),
                )
            };
            if status.is_success() {
                return Ok(value);
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                if retries >= self.max_retries {
                    return Err(MatrixError::RateLimited {
                        method: method.to_string(),
                        path: path.to_string(),
                        retries,
                    });
                }
                let wait = value
                    .get("retry_after_ms")
                    .and_then(Value::as_u64)
                    .map(Duration::from_millis)
                    .or(header_wait)
                    .unwrap_or(Duration::from_secs(1))
                    .min(self.max_retry_wait);
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%path, ?wait, "matrix: rate limited; waiting as told");
                tokio::time::sleep(wait).await;
                retries += 1;
                continue;
            }
            return Err(MatrixError::Api {
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                errcode: value
                    .get("errcode")
                    .and_then(Value::as_str)
                    .unwrap_or("M_UNKNOWN")
                    .to_string(),
                message: value
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }

    const T: Duration = Duration::from_secs(60);

    /// Password login; the client keeps the returned token.
    pub async fn login_password(
        &mut self,
        user: &str,
        password: &str,
        device_name: Option<&str>,
    ) -> Result<Login, MatrixError> {
        let mut body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password,
        });
        if let Some(name) = device_name {
            body["initial_device_display_name"] = json!(name);
        }
        let saved = self.token.take();
        let result = self
            .call(
                Method::POST,
                "/_matrix/client/v3/login",
                &[],
                Some(&body),
                Self::T,
            )
            .await;
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                self.token = saved;
                return Err(e);
            }
        };
        let login: Login = serde_json::from_value(value).map_err(|e| MatrixError::Transport {
            method: "POST".into(),
            path: "/_matrix/client/v3/login".into(),
            message: format!("unexpected answer: {e}"),
        })?;
        self.token = Some(login.access_token.clone());
        Ok(login)
    }

    pub async fn whoami(&self) -> Result<WhoAmI, MatrixError> {
        let path = "/_matrix/client/v3/account/whoami";
        let v = self.call(Method::GET, path, &[], None, Self::T).await?;
        decode(v, "GET", path)
    }

    /// One `/sync`: long-polls up to `timeout` for news after `since`.
    /// `filter` is a filter id or inline JSON filter.
    pub async fn sync(
        &self,
        since: Option<&str>,
        timeout: Duration,
        filter: Option<&str>,
    ) -> Result<SyncResponse, MatrixError> {
        let path = "/_matrix/client/v3/sync";
        let mut query = vec![("timeout", timeout.as_millis().to_string())];
        if let Some(s) = since {
            query.push(("since", s.to_string()));
        }
        if let Some(f) = filter {
            query.push(("filter", f.to_string()));
        }
        let v = self
            .call(
                Method::GET,
                path,
                &query,
                None,
                timeout + Duration::from_secs(30),
            )
            .await?;
        decode(v, "GET", path)
    }

    /// Joins a room by id or alias; returns the room id.
    pub async fn join(&self, room: &str) -> Result<String, MatrixError> {
        let path = format!("/_matrix/client/v3/join/{}", encode(room));
        let v = self
            .call(Method::POST, &path, &[], Some(&json!({})), Self::T)
            .await?;
        Ok(v.get("room_id")
            .and_then(Value::as_str)
            .unwrap_or(room)
            .to_string())
    }

    pub async fn leave(&self, room_id: &str) -> Result<(), MatrixError> {
        let path = format!("/_matrix/client/v3/rooms/{}/leave", encode(room_id));
        self.call(Method::POST, &path, &[], Some(&json!({})), Self::T)
            .await?;
        Ok(())
    }

    /// The user ids of the room's joined members.
    pub async fn joined_members(&self, room_id: &str) -> Result<Vec<String>, MatrixError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/joined_members",
            encode(room_id)
        );
        let v = self.call(Method::GET, &path, &[], None, Self::T).await?;
        Ok(v.get("joined")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// The content of a state event, `None` when the room has none.
    pub async fn state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<Value>, MatrixError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{}/{}",
            encode(room_id),
            encode(event_type),
            encode(state_key)
        );
        match self.call(Method::GET, &path, &[], None, Self::T).await {
            Ok(v) => Ok(Some(v)),
            Err(MatrixError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Resolves `#alias:server` to a room id through the homeserver's
    /// directory.
    pub async fn resolve_alias(&self, alias: &str) -> Result<String, MatrixError> {
        let path = format!("/_matrix/client/v3/directory/room/{}", encode(alias));
        let v = self.call(Method::GET, &path, &[], None, Self::T).await?;
        v.get("room_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| MatrixError::Transport {
                method: "GET".into(),
                path,
                message: "answer without room_id".into(),
            })
    }

    /// `PUT /rooms/{id}/send/{type}/{txnId}`; returns the event id. The same
    /// `txn_id` with the same token returns the first event's id instead of
    /// posting again.
    pub async fn send_event(
        &self,
        room_id: &str,
        event_type: &str,
        txn_id: &str,
        content: &Value,
    ) -> Result<String, MatrixError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/{}/{}",
            encode(room_id),
            encode(event_type),
            encode(txn_id)
        );
        let v = self
            .call(Method::PUT, &path, &[], Some(content), Self::T)
            .await?;
        Ok(v.get("event_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    /// A plain-text `m.text` message.
    pub async fn send_text(
        &self,
        room_id: &str,
        txn_id: &str,
        body: &str,
    ) -> Result<String, MatrixError> {
        self.send_event(
            room_id,
            "m.room.message",
            txn_id,
            &json!({ "msgtype": "m.text", "body": body }),
        )
        .await
    }

    /// An `m.notice` (bots' status messages; clients do not answer them).
    pub async fn send_notice(
        &self,
        room_id: &str,
        txn_id: &str,
        body: &str,
    ) -> Result<String, MatrixError> {
        self.send_event(
            room_id,
            "m.room.message",
            txn_id,
            &json!({ "msgtype": "m.notice", "body": body }),
        )
        .await
    }

    /// Creates a room (`POST /createRoom` with the given body); returns its id.
    pub async fn create_room(&self, body: &Value) -> Result<String, MatrixError> {
        let path = "/_matrix/client/v3/createRoom";
        let v = self
            .call(Method::POST, path, &[], Some(body), Self::T)
            .await?;
        Ok(v.get("room_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    pub async fn invite(&self, room_id: &str, user_id: &str) -> Result<(), MatrixError> {
        let path = format!("/_matrix/client/v3/rooms/{}/invite", encode(room_id));
        self.call(
            Method::POST,
            &path,
            &[],
            Some(&json!({ "user_id": user_id })),
            Self::T,
        )
        .await?;
        Ok(())
    }

    /// Any call this crate does not wrap (admin APIs in tests, ...).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, MatrixError> {
        self.call(method, path, &[], body, Self::T).await
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    v: Value,
    method: &str,
    path: &str,
) -> Result<T, MatrixError> {
    serde_json::from_value(v).map_err(|e| MatrixError::Transport {
        method: method.into(),
        path: path.into(),
        message: format!("unexpected answer: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_ids_are_deterministic_distinct_and_url_safe() {
        let a = txn_id("$event:server", 0);
        assert_eq!(a, txn_id("$event:server", 0));
        assert_ne!(a, txn_id("$event:server", 1));
        assert_ne!(a, txn_id("$other:server", 0));
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'),
            "{a}"
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("!abc:example.org"), "%21abc%3Aexample.org");
        assert_eq!(encode("#room/x"), "%23room%2Fx");
    }

    #[test]
    fn debug_hides_the_token_and_bad_urls_are_refused() {
        let c = MatrixClient::new("http://127.0.0.1:1/")
            .unwrap()
            .with_token("syt_secret");
        assert!(!format!("{c:?}").contains("syt_secret"));
        assert_eq!(c.homeserver(), "http://127.0.0.1:1");
        assert!(MatrixClient::new("matrix.org").is_err());
    }
}
