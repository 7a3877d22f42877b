//! A thin Bot API client over `reqwest` (JSON POST to
//! `<apiRoot>/bot<TOKEN>/<method>`), with the error answers Telegram gives:
//! `{"ok":false,"error_code":N,"description":"...","parameters":{"retry_after":S}}`.
//!
//! Errors never contain the token: reqwest errors are stripped of their URL
//! and every message goes through [`crate::token::redact`].

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::token::{BotToken, redact};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Telegram answered `ok: false`.
    #[error("Telegram {method}: {code} {description}")]
    Api {
        method: String,
        code: u16,
        description: String,
        retry_after: Option<u64>,
    },
    /// No answer (connect error, timeout, bad body).
    #[error("Telegram {method}: {message}")]
    Transport { method: String, message: String },
}

impl ApiError {
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiError::Api { code, .. } => Some(*code),
            ApiError::Transport { .. } => None,
        }
    }
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Api { retry_after, .. } => *retry_after,
            ApiError::Transport { .. } => None,
        }
    }
    /// Telegram refused the message's formatting.
    pub fn is_entity_error(&self) -> bool {
        matches!(self, ApiError::Api { code: 400, description, .. }
            if description.contains("can't parse entities") || description.contains("unsupported start tag") || description.contains("Can't find end"))
    }
    /// An edit that changed nothing.
    pub fn is_not_modified(&self) -> bool {
        matches!(self, ApiError::Api { code: 400, description, .. } if description.contains("message is not modified"))
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

/// `getMe`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotInfo {
    pub id: i64,
    pub username: String,
}

#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    root: String,
    token: BotToken,
}

impl BotApi {
    pub fn new(api_root: &str, token: BotToken) -> BotApi {
        let http = crate::http_client_builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("a reqwest client with the ring TLS provider builds");
        BotApi {
            http,
            root: api_root.trim_end_matches('/').to_string(),
            token,
        }
    }

    pub fn token(&self) -> &BotToken {
        &self.token
    }

    /// Calls `method` with a JSON body; `timeout` bounds the whole request.
    pub async fn call(
        &self,
        method: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<Value, ApiError> {
        let url = format!("{}/bot{}/{method}", self.root, self.token.expose());
        let transport = |e: reqwest::Error| ApiError::Transport {
            method: method.into(),
            message: redact(&e.without_url().to_string(), self.token.expose()),
        };
        let resp = self
            .http
            .post(url)
            .timeout(timeout)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport)?;
        let env: Envelope = serde_json::from_slice(&bytes).map_err(|_| ApiError::Transport {
            method: method.into(),
            message: format!("HTTP {status} with a body that is not a Bot API answer"),
        })?;
        if env.ok {
            return Ok(env.result);
        }
        Err(ApiError::Api {
            method: method.into(),
            code: env.error_code.unwrap_or(status),
            description: redact(
                env.description.as_deref().unwrap_or(""),
                self.token.expose(),
            ),
            retry_after: env
                .parameters
                .as_ref()
                .and_then(|p| p.get("retry_after"))
                .and_then(Value::as_u64),
        })
    }

    /// `call` that waits out 429 `retry_after` (up to `tries` times).
    pub async fn call_retrying(&self, method: &str, body: Value) -> Result<Value, ApiError> {
        let mut tries = 0;
        loop {
            match self
                .call(method, body.clone(), Duration::from_secs(30))
                .await
            {
                Err(e) if e.code() == Some(429) && tries < 5 => {
                    tries += 1;
                    let wait = e.retry_after().unwrap_or(1).min(300);
                    tracing::warn!("telegram {method}: rate limited, retrying after {wait}s");
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                r => return r,
            }
        }
    }

    pub async fn get_me(&self) -> Result<BotInfo, ApiError> {
        let v = self
            .call("getMe", json!({}), Duration::from_secs(30))
            .await?;
        Ok(BotInfo {
            id: v.get("id").and_then(Value::as_i64).unwrap_or(0),
            username: v
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }

    pub async fn delete_webhook(&self) -> Result<(), ApiError> {
        self.call_retrying("deleteWebhook", json!({"drop_pending_updates": false}))
            .await
            .map(|_| ())
    }

    /// Long poll: waits up to `timeout` seconds for updates from `offset`.
    pub async fn get_updates(&self, offset: i64, timeout: u64) -> Result<Vec<Value>, ApiError> {
        let v = self
            .call(
                "getUpdates",
                json!({"offset": offset, "timeout": timeout, "allowed_updates": ["message"]}),
                Duration::from_secs(timeout + 15),
            )
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Sends `text` as HTML (`html` given) or plain text. When Telegram
    /// refuses the entities, sends `plain` instead. Returns the message id.
    pub async fn send_message(
        &self,
        chat_id: &str,
        plain: &str,
        html: Option<&str>,
        reply_to: Option<i64>,
    ) -> Result<i64, ApiError> {
        let mut body = json!({"chat_id": chat_id, "text": html.unwrap_or(plain)});
        if html.is_some() {
            body["parse_mode"] = json!("HTML");
        }
        if let Some(r) = reply_to {
            body["reply_parameters"] =
                json!({"message_id": r, "allow_sending_without_reply": true});
        }
        let r = match self.call_retrying("sendMessage", body.clone()).await {
            Err(e) if html.is_some() && e.is_entity_error() => {
                tracing::warn!("telegram sendMessage: HTML refused ({e}); sending plain text");
                body["text"] = json!(plain);
                body.as_object_mut().map(|o| o.remove("parse_mode"));
                self.call_retrying("sendMessage", body).await
            }
            r => r,
        }?;
        Ok(r.get("message_id").and_then(Value::as_i64).unwrap_or(0))
    }

    pub async fn edit_message(
        &self,
        chat_id: &str,
        message_id: i64,
        plain: &str,
        html: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut body =
            json!({"chat_id": chat_id, "message_id": message_id, "text": html.unwrap_or(plain)});
        if html.is_some() {
            body["parse_mode"] = json!("HTML");
        }
        let r = match self.call_retrying("editMessageText", body.clone()).await {
            Err(e) if html.is_some() && e.is_entity_error() => {
                body["text"] = json!(plain);
                body.as_object_mut().map(|o| o.remove("parse_mode"));
                self.call_retrying("editMessageText", body).await
            }
            r => r,
        };
        match r {
            Err(e) if e.is_not_modified() => Ok(()),
            r => r.map(|_| ()),
        }
    }

    pub async fn typing(&self, chat_id: &str) -> Result<(), ApiError> {
        self.call(
            "sendChatAction",
            json!({"chat_id": chat_id, "action": "typing"}),
            Duration::from_secs(10),
        )
        .await
        .map(|_| ())
    }
}
