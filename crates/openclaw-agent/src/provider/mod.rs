//! Model providers: one HTTP client speaking OpenAI Chat Completions and
//! Anthropic Messages with streaming, retries and clear errors.

mod anthropic;
mod config;
mod openai;
mod sse;

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use config::{
    Api, ApiKeySource, EnvLookup, KeyOrigin, KeyResolver, ModelRef, ProviderConfig, ResolvedKey,
    Secret, credentials_path,
};
pub use sse::{SseDecoder, SseEvent};

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// Parsed JSON arguments. If the model sent arguments that are not valid
    /// JSON they are kept verbatim as a JSON string.
    pub arguments: Value,
}

/// Provider-neutral conversation message.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    User {
        text: String,
    },
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
    },
    ToolResult {
        call_id: String,
        name: String,
        output: String,
        is_error: bool,
    },
}

/// A tool offered to the model; `parameters` is a JSON Schema object.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    /// Anthropic requires it (default 4096); OpenAI omits it when `None`.
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// What a model stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    TextDelta(String),
    ToolCall(ToolCall),
    Done {
        stop_reason: String,
        usage: Option<Usage>,
    },
}

/// Error classes; they drive retries, fallbacks and what the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Key rejected (401/403). No fallback.
    Auth,
    /// 429 after bounded retries.
    RateLimited,
    /// 5xx after bounded retries, or a provider-side error event.
    Server,
    /// Other 4xx: the request was refused.
    BadRequest,
    /// Connect / first byte / idle stream timeout.
    Timeout,
    /// Cannot connect, or the connection broke.
    Network,
    /// Bad JSON, or the stream ended without its end marker.
    MalformedStream,
    /// Missing key, unknown provider, bad model ref.
    Config,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Server => "server",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::MalformedStream => "malformed_stream",
            ErrorKind::Config => "config",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub provider: String,
    pub kind: ErrorKind,
    pub status: Option<u16>,
    /// Full user-facing message (names the provider, says what to do).
    pub message: String,
}

impl ProviderError {
    pub fn new(provider: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            provider: provider.to_string(),
            kind,
            status: None,
            message: message.into(),
        }
    }
    fn with_status(mut self, s: u16) -> Self {
        self.status = Some(s);
        self
    }
}

/// Decoder-level error (provider id is added by the stream).
#[derive(Debug)]
pub(crate) struct DecodeError {
    kind: ErrorKind,
    message: String,
}

impl DecodeError {
    fn malformed(message: String) -> Self {
        DecodeError {
            kind: ErrorKind::MalformedStream,
            message,
        }
    }
}

pub(crate) trait Decoder: Send {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ModelEvent>) -> Result<(), DecodeError>;
    fn is_complete(&self) -> bool;
    fn end_marker(&self) -> &'static str;
}

pub(crate) fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// Timeouts for provider requests.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// TCP/TLS connect.
    pub connect: Duration,
    /// From sending the request until response headers arrive.
    pub response: Duration,
    /// Longest silence allowed between two chunks of a streaming body.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            response: Duration::from_secs(120),
            idle: Duration::from_secs(120),
        }
    }
}

/// Bounded retries for 429 and 5xx.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff for 5xx / 429 without `retry-after`; doubles each time.
    pub base_backoff: Duration,
    /// Longest single wait. A `retry-after` longer than this is not waited
    /// for: the request fails at once with a message saying so.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
}

pub type ModelStream = Pin<Box<dyn Stream<Item = Result<ModelEvent, ProviderError>> + Send>>;

/// A `reqwest` client builder with the TLS provider installed (see
/// `openclaw_http`).
pub use openclaw_http::client_builder as http_client_builder;

/// The HTTP client for all providers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ModelClient {
    http: reqwest::Client,
    keys: KeyResolver,
    settings: ClientSettings,
}

impl ModelClient {
    pub fn new(keys: KeyResolver, settings: ClientSettings) -> Result<Self, ProviderError> {
        let http = http_client_builder()
            .connect_timeout(settings.timeouts.connect)
            .user_agent(concat!("openclaw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ProviderError::new(
                    "-",
                    ErrorKind::Config,
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        Ok(ModelClient {
            http,
            keys,
            settings,
        })
    }

    pub fn keys(&self) -> &KeyResolver {
        &self.keys
    }

    /// Send `req` to `provider` and return the event stream. Retries 429/5xx
    /// (bounded) before any byte of the answer has been seen; errors after
    /// that arrive as an `Err` item in the stream, which then ends.
    pub async fn stream(
        &self,
        provider: &ProviderConfig,
        req: &ModelRequest,
    ) -> Result<ModelStream, ProviderError> {
        let key = self.keys.resolve(provider)?;
        let url = provider.endpoint();
        let body = match provider.api {
            Api::OpenAiCompletions => openai::request_body(req),
            Api::AnthropicMessages => anthropic::request_body(req),
        };
        let pid = provider.id.as_str();
        let retry = &self.settings.retry;
        let mut attempt: u32 = 0;
        loop {
            let rb = self
                .http
                .post(&url)
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .json(&body);
            let rb = authorize(rb, provider, &key)?;
            let resp = match tokio::time::timeout(self.settings.timeouts.response, rb.send()).await
            {
                Err(_) => {
                    return Err(ProviderError::new(
                        pid,
                        ErrorKind::Timeout,
                        format!(
                            "provider {pid} did not answer within {}s ({url}); check that the server is up and responsive",
                            self.settings.timeouts.response.as_secs_f64()
                        ),
                    ));
                }
                Ok(Err(e)) => return Err(send_error(pid, &url, &e)),
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            if status.is_success() {
                tracing::debug!(provider = pid, %url, "model stream opened");
                let decoder: Box<dyn Decoder> = match provider.api {
                    Api::OpenAiCompletions => Box::<openai::OpenAiDecoder>::default(),
                    Api::AnthropicMessages => Box::<anthropic::AnthropicDecoder>::default(),
                };
                return Ok(event_stream(
                    pid.to_string(),
                    resp.bytes_stream().boxed(),
                    decoder,
                    self.settings.timeouts.idle,
                ));
            }
            let code = status.as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let text = body_excerpt(resp).await;
            match code {
                401 | 403 => {
                    return Err(ProviderError::new(
                        pid,
                        ErrorKind::Auth,
                        format!(
                            "provider {pid} rejected the API key (HTTP {code}; key from: {}). Fix the key there and try again. Provider said: {text}",
                            key.origin
                        ),
                    )
                    .with_status(code));
                }
                429 | 500..=599 => {
                    let is_429 = code == 429;
                    if attempt >= retry.max_retries {
                        let msg = if is_429 {
                            format!(
                                "provider {pid} is rate limiting requests (HTTP 429) and still was after {} retries; wait a while and try again, or configure a fallback model. Provider said: {text}",
                                retry.max_retries
                            )
                        } else {
                            format!(
                                "provider {pid} failed with HTTP {code} after {} attempts; the service may be down, try again later. Provider said: {text}",
                                attempt + 1
                            )
                        };
                        let kind = if is_429 {
                            ErrorKind::RateLimited
                        } else {
                            ErrorKind::Server
                        };
                        return Err(ProviderError::new(pid, kind, msg).with_status(code));
                    }
                    let backoff = retry.base_backoff.saturating_mul(1u32 << attempt.min(16));
                    let wait = retry_after.unwrap_or(backoff);
                    if wait > retry.max_wait {
                        let kind = if is_429 {
                            ErrorKind::RateLimited
                        } else {
                            ErrorKind::Server
                        };
                        return Err(ProviderError::new(
                            pid,
                            kind,
                            format!(
                                "provider {pid} answered HTTP {code} and asks to retry after {}s, longer than the {}s we wait; try again later",
                                wait.as_secs(),
                                retry.max_wait.as_secs()
                            ),
                        )
                        .with_status(code));
                    }
                    tracing::warn!(
                        provider = pid,
                        status = code,
                        wait_ms = wait.as_millis() as u64,
                        attempt = attempt + 1,
                        "provider asked us to back off; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => {
                    return Err(ProviderError::new(
                        pid,
                        ErrorKind::BadRequest,
                        format!(
                            "provider {pid} refused the request with HTTP {code} ({url}); check the model name and provider settings. Provider said: {text}"
                        ),
                    )
                    .with_status(code));
                }
            }
        }
    }
}

impl ModelClient {
    /// One `GET` of the provider's model listing (`models_endpoint`), with
    /// the same key and headers as a chat request: the check that a key or
    /// a base URL works before it is saved. Returns the model ids in the
    /// order listed. No retries: a 429 or 5xx is reported as it came.
    ///
    /// Wire formats: OpenAI (and Ollama, vLLM, LM Studio)
    /// `{"object":"list","data":[{"id":"gpt-4o","object":"model",...}]}`;
    /// Anthropic `{"data":[{"type":"model","id":"claude-...",...}],
    /// "has_more":false,...}`.
    pub async fn list_models(
        &self,
        provider: &ProviderConfig,
    ) -> Result<Vec<String>, ProviderError> {
        let key = self.keys.resolve(provider)?;
        let url = provider.models_endpoint();
        let pid = provider.id.as_str();
        let rb = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json");
        let rb = authorize(rb, provider, &key)?;
        let resp = match tokio::time::timeout(self.settings.timeouts.response, rb.send()).await {
            Err(_) => {
                return Err(ProviderError::new(
                    pid,
                    ErrorKind::Timeout,
                    format!(
                        "provider {pid} did not answer within {}s ({url}); check that the server is up and responsive",
                        self.settings.timeouts.response.as_secs_f64()
                    ),
                ));
            }
            Ok(Err(e)) => return Err(send_error(pid, &url, &e)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let code = status.as_u16();
        if !status.is_success() {
            let text = body_excerpt(resp).await;
            let (kind, msg) = match code {
                401 | 403 => (
                    ErrorKind::Auth,
                    format!(
                        "provider {pid} rejected the API key (HTTP {code}; key from: {}). Provider said: {text}",
                        key.origin
                    ),
                ),
                404 => (
                    ErrorKind::BadRequest,
                    format!(
                        "provider {pid} has no model listing at {url} (HTTP 404); check the base URL (OpenAI-compatible servers usually end in /v1). Provider said: {text}"
                    ),
                ),
                429 => (
                    ErrorKind::RateLimited,
                    format!(
                        "provider {pid} is rate limiting requests (HTTP 429). Provider said: {text}"
                    ),
                ),
                500..=599 => (
                    ErrorKind::Server,
                    format!(
                        "provider {pid} failed with HTTP {code} ({url}). Provider said: {text}"
                    ),
                ),
                _ => (
                    ErrorKind::BadRequest,
                    format!(
                        "provider {pid} refused the model listing with HTTP {code} ({url}). Provider said: {text}"
                    ),
                ),
            };
            return Err(ProviderError::new(pid, kind, msg).with_status(code));
        }
        let body = tokio::time::timeout(self.settings.timeouts.response, resp.bytes())
            .await
            .map_err(|_| {
                ProviderError::new(
                    pid,
                    ErrorKind::Timeout,
                    format!("provider {pid} stopped sending its model listing ({url})"),
                )
            })?
            .map_err(|e| send_error(pid, &url, &e))?;
        parse_model_list(&body).ok_or_else(|| {
            ProviderError::new(
                pid,
                ErrorKind::MalformedStream,
                format!(
                    "provider {pid} answered {url} with something that is not a model listing (expected {{\"data\": [{{\"id\": ...}}]}}): {}",
                    crate::excerpt(&String::from_utf8_lossy(&body), 200)
                ),
            )
        })
    }
}

/// The ids of a model listing (`data[].id`, OpenAI and Anthropic alike).
pub fn parse_model_list(body: &[u8]) -> Option<Vec<String>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let data = v.get("data")?.as_array()?;
    Some(
        data.iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
    )
}

/// Adds the provider's auth headers: `Authorization: Bearer` (OpenAI) or
/// `x-api-key` plus `anthropic-version` (Anthropic), marked sensitive.
fn authorize(
    mut rb: reqwest::RequestBuilder,
    provider: &ProviderConfig,
    key: &ResolvedKey,
) -> Result<reqwest::RequestBuilder, ProviderError> {
    let pid = provider.id.as_str();
    match (provider.api, &key.key) {
        (Api::OpenAiCompletions, Some(k)) => {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", k.expose()))
                .map_err(|_| bad_key_chars(pid, &key.origin))?;
            v.set_sensitive(true);
            rb = rb.header(reqwest::header::AUTHORIZATION, v);
        }
        (Api::AnthropicMessages, k) => {
            rb = rb.header("anthropic-version", anthropic::ANTHROPIC_VERSION);
            if let Some(k) = k {
                let mut v = reqwest::header::HeaderValue::from_str(k.expose())
                    .map_err(|_| bad_key_chars(pid, &key.origin))?;
                v.set_sensitive(true);
                rb = rb.header("x-api-key", v);
            }
        }
        (Api::OpenAiCompletions, None) => {}
    }
    Ok(rb)
}

fn bad_key_chars(pid: &str, origin: &KeyOrigin) -> ProviderError {
    ProviderError::new(
        pid,
        ErrorKind::Config,
        format!(
            "the API key for provider {pid} (from {origin}) contains characters not allowed in an HTTP header; re-enter it"
        ),
    )
}

fn send_error(pid: &str, url: &str, e: &reqwest::Error) -> ProviderError {
    // reqwest errors can carry the URL but never headers, so no key leaks.
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    if e.is_timeout() {
        ProviderError::new(
            pid,
            ErrorKind::Timeout,
            format!("timed out connecting to provider {pid} at {url}: {detail}"),
        )
    } else {
        ProviderError::new(
            pid,
            ErrorKind::Network,
            format!(
                "cannot reach provider {pid} at {url}: {detail}; check models.providers.{pid}.baseUrl and that the server is running"
            ),
        )
    }
}

async fn body_excerpt(resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut s = resp.bytes_stream();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout(Duration::from_secs(5), s.next()).await {
        body.extend_from_slice(&chunk);
        if body.len() > 4096 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    if let Ok(v) = serde_json::from_str::<Value>(&text)
        && let Some(m) = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .and_then(Value::as_str)
    {
        return crate::excerpt(m, 200);
    }
    if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        crate::excerpt(&text, 200)
    }
}

/// `retry-after`: delta-seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

struct StreamState {
    provider: String,
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    sse: SseDecoder,
    decoder: Box<dyn Decoder>,
    pending: VecDeque<ModelEvent>,
    idle: Duration,
    finished: bool,
    /// An error to report after the events decoded before it.
    deferred: Option<ProviderError>,
}

impl StreamState {
    fn fail(&mut self, kind: ErrorKind, message: String) {
        self.finished = true;
        self.deferred = Some(ProviderError::new(&self.provider, kind, message));
    }

    fn decode(&mut self, evs: Vec<SseEvent>) {
        let mut out = Vec::new();
        for ev in evs {
            if let Err(e) = self.decoder.on_event(ev, &mut out) {
                let p = self.provider.clone();
                self.fail(
                    e.kind,
                    format!("provider {p} sent a bad stream: {}", e.message),
                );
                break;
            }
        }
        self.pending.extend(out);
    }
}

fn event_stream(
    provider: String,
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    decoder: Box<dyn Decoder>,
    idle: Duration,
) -> ModelStream {
    let st = StreamState {
        provider,
        body,
        sse: SseDecoder::default(),
        decoder,
        pending: VecDeque::new(),
        idle,
        finished: false,
        deferred: None,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(ev) = st.pending.pop_front() {
                return Some((Ok(ev), st));
            }
            if let Some(e) = st.deferred.take() {
                return Some((Err(e), st));
            }
            if st.finished || st.decoder.is_complete() {
                return None;
            }
            let p = st.provider.clone();
            match tokio::time::timeout(st.idle, st.body.next()).await {
                Err(_) => {
                    let secs = st.idle.as_secs_f64();
                    st.fail(
                        ErrorKind::Timeout,
                        format!("provider {p} stopped sending data for {secs}s in the middle of an answer; try again"),
                    );
                }
                Ok(Some(Ok(bytes))) => {
                    let evs = st.sse.feed(&bytes);
                    st.decode(evs);
                }
                Ok(Some(Err(e))) => {
                    st.fail(
                        ErrorKind::MalformedStream,
                        format!("the connection to provider {p} broke in the middle of an answer ({e}); try again"),
                    );
                }
                Ok(None) => {
                    let tail: Vec<SseEvent> = st.sse.finish().into_iter().collect();
                    st.decode(tail);
                    if !st.finished && !st.decoder.is_complete() {
                        let marker = st.decoder.end_marker();
                        st.fail(
                            ErrorKind::MalformedStream,
                            format!("provider {p} ended the stream without `{marker}`: the answer is incomplete; try again"),
                        );
                    }
                    st.finished = true;
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(10));
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(100));
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(90) && d <= Duration::from_secs(100),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    fn run<D: Decoder>(mut d: D, sse: &str) -> Result<Vec<ModelEvent>, DecodeError> {
        let mut dec = SseDecoder::default();
        let mut out = Vec::new();
        for ev in dec.feed(sse.as_bytes()) {
            d.on_event(ev, &mut out)?;
        }
        assert!(d.is_complete());
        Ok(out)
    }

    #[test]
    fn openai_tool_call_fragments_accumulate() {
        let sse = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"write\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"path\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"a.txt\\\"}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
            "data: [DONE]\n\n"
        );
        let evs = run(openai::OpenAiDecoder::default(), sse).unwrap();
        assert_eq!(
            evs,
            vec![
                ModelEvent::TextDelta("Hi".into()),
                ModelEvent::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "write".into(),
                    arguments: serde_json::json!({"path": "a.txt"})
                }),
                ModelEvent::Done {
                    stop_reason: "tool_calls".into(),
                    usage: Some(Usage {
                        input_tokens: Some(3),
                        output_tokens: Some(4)
                    })
                }
            ]
        );
    }

    #[test]
    fn anthropic_tool_use_and_text() {
        let sse = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"read\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \\\"a\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\".txt\\\"}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
        let evs = run(anthropic::AnthropicDecoder::default(), sse).unwrap();
        assert_eq!(evs[0], ModelEvent::TextDelta("Let me".into()));
        assert_eq!(
            evs[1],
            ModelEvent::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "read".into(),
                arguments: serde_json::json!({"path": "a.txt"})
            })
        );
        assert_eq!(
            evs[2],
            ModelEvent::Done {
                stop_reason: "tool_use".into(),
                usage: Some(Usage {
                    input_tokens: Some(5),
                    output_tokens: Some(9)
                })
            }
        );
    }

    #[test]
    fn anthropic_error_event_is_an_error() {
        let mut d = anthropic::AnthropicDecoder::default();
        let mut out = Vec::new();
        let e = d
            .on_event(
                SseEvent {
                    event: Some("error".into()),
                    data: "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}".into(),
                },
                &mut out,
            )
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(e.message.contains("Overloaded"));
    }

    #[test]
    fn anthropic_history_merges_tool_results_into_user_turns() {
        let req = ModelRequest {
            model: "m".into(),
            system: "sys".into(),
            messages: vec![
                ChatMessage::User { text: "hi".into() },
                ChatMessage::Assistant {
                    text: String::new(),
                    tool_calls: vec![
                        ToolCall {
                            id: "a".into(),
                            name: "read".into(),
                            arguments: serde_json::json!({"path":"x"}),
                        },
                        ToolCall {
                            id: "b".into(),
                            name: "list".into(),
                            arguments: serde_json::json!({}),
                        },
                    ],
                },
                ChatMessage::ToolResult {
                    call_id: "a".into(),
                    name: "read".into(),
                    output: "1".into(),
                    is_error: false,
                },
                ChatMessage::ToolResult {
                    call_id: "b".into(),
                    name: "list".into(),
                    output: "2".into(),
                    is_error: true,
                },
            ],
            tools: vec![],
            max_tokens: None,
        };
        let b = anthropic::request_body(&req);
        let msgs = b["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[1]["content"].as_array().unwrap().len(), 2);
        assert_eq!(msgs[2]["role"], "user");
        assert_eq!(msgs[2]["content"][1]["is_error"], true);
        assert_eq!(b["system"], "sys");
        assert_eq!(b["max_tokens"], 4096);

        let o = openai::request_body(&req);
        let om = o["messages"].as_array().unwrap();
        assert_eq!(om[0]["role"], "system");
        assert_eq!(
            om[2]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"x\"}"
        );
        assert_eq!(om[3]["role"], "tool");
        assert_eq!(om[3]["tool_call_id"], "a");
    }
}
