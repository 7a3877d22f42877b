//! Wire types of the OpenClaw gateway protocol (WebSocket, one JSON object per
//! text frame). This crate is the only place these shapes are defined; the
//! gateway and the client both use it.
//!
//! Frames are `{"type":"req"|"res"|"event", ...}`. The handshake is: server
//! sends event `connect.challenge`, client's first request is `connect`,
//! server answers `res` with a [`HelloOk`] payload or an [`ErrorShape`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod chat;
pub mod control_ui;
pub mod device;
pub mod rpc;
mod scopes;
pub mod session_key;
pub use device::ConnectDevice;
pub use scopes::{Scope, ScopeSet};

/// Lowest protocol version this implementation serves.
pub const PROTOCOL_MIN: u32 = 3;
/// Highest (and preferred) protocol version this implementation serves.
pub const PROTOCOL_MAX: u32 = 4;

/// Picks the version to speak with a client announcing `client_min..=client_max`:
/// the highest version in both ranges, or `None` when they do not overlap.
pub fn negotiate(client_min: u32, client_max: u32) -> Option<u32> {
    let hi = client_max.min(PROTOCOL_MAX);
    let lo = client_min.max(PROTOCOL_MIN);
    (lo <= hi).then_some(hi)
}

/// Top-level error codes (`error.code`).
pub mod codes {
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_PAIRED: &str = "NOT_PAIRED";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    pub const CONFLICT: &str = "CONFLICT";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const INTERNAL: &str = "INTERNAL";
}

/// Detail codes (`error.details.code`).
pub mod detail_codes {
    pub const AUTH_TOKEN_MISMATCH: &str = "AUTH_TOKEN_MISMATCH";
    pub const AUTH_PASSWORD_MISMATCH: &str = "AUTH_PASSWORD_MISMATCH";
    pub const PROTOCOL_MISMATCH: &str = "PROTOCOL_MISMATCH";
    pub const MISSING_SCOPE: &str = "MISSING_SCOPE";
    pub const DEVICE_IDENTITY_REQUIRED: &str = "DEVICE_IDENTITY_REQUIRED";
    pub const CONFIG_HASH_MISMATCH: &str = "CONFIG_HASH_MISMATCH";
    pub const CONFIG_INVALID: &str = "CONFIG_INVALID";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const AUTH_RATE_LIMITED: &str = "AUTH_RATE_LIMITED";
    pub const AUTH_DEVICE_TOKEN_MISMATCH: &str = "AUTH_DEVICE_TOKEN_MISMATCH";
    pub const DEVICE_AUTH_DEVICE_ID_MISMATCH: &str = "DEVICE_AUTH_DEVICE_ID_MISMATCH";
    pub const DEVICE_AUTH_SIGNATURE_EXPIRED: &str = "DEVICE_AUTH_SIGNATURE_EXPIRED";
    pub const DEVICE_AUTH_NONCE_REQUIRED: &str = "DEVICE_AUTH_NONCE_REQUIRED";
    pub const DEVICE_AUTH_NONCE_MISMATCH: &str = "DEVICE_AUTH_NONCE_MISMATCH";
    pub const DEVICE_AUTH_SIGNATURE_INVALID: &str = "DEVICE_AUTH_SIGNATURE_INVALID";
    pub const DEVICE_AUTH_PUBLIC_KEY_INVALID: &str = "DEVICE_AUTH_PUBLIC_KEY_INVALID";
    pub const PAIRING_REQUIRED: &str = "PAIRING_REQUIRED";
}

/// WebSocket close codes the gateway uses.
pub mod close_codes {
    /// Normal closure (the session is done).
    pub const NORMAL: u16 = 1000;
    /// Going away: the gateway is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error (protocol version mismatch).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Policy violation (bad auth, handshake violated, a client that does
    /// not read its events: see [`crate::SLOW_CONSUMER_REASON`]).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Message too big.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Unsupported data (a binary frame).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Invalid frame payload data: a text frame that is not UTF-8, or not JSON.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Service restart: the gateway is shutting down an open session.
    pub const SERVICE_RESTART: u16 = 1012;
}

/// Close reason (prefix) for a connection closed because its unsent
/// frames passed `policy.maxBufferedBytes`.
pub const SLOW_CONSUMER_REASON: &str = "slow consumer: unsent frames passed maxBufferedBytes";

/// Method names served by the gateway.
pub mod methods {
    pub const CONNECT: &str = "connect";
    pub const HEALTH: &str = "health";
    pub const STATUS: &str = "status";
    pub const GATEWAY_IDENTITY_GET: &str = "gateway.identity.get";
    pub const CONFIG_GET: &str = "config.get";
    pub const CONFIG_SET: &str = "config.set";
    pub const CONFIG_PATCH: &str = "config.patch";
    pub const CONFIG_APPLY: &str = "config.apply";
    pub const CONFIG_SCHEMA: &str = "config.schema";
    pub const LOGS_TAIL: &str = "logs.tail";
    pub const SYSTEM_PRESENCE: &str = "system-presence";
    /// Start an agent turn; see [`crate::chat`].
    pub const CHAT_SEND: &str = "chat.send";
    pub const CHAT_HISTORY: &str = "chat.history";
    pub const CHAT_ABORT: &str = "chat.abort";
    pub const AGENT: &str = "agent";
    pub const AGENT_WAIT: &str = "agent.wait";
    pub const SESSIONS_LIST: &str = "sessions.list";
    pub const SESSIONS_PREVIEW: &str = "sessions.preview";
    pub const SESSIONS_RESET: &str = "sessions.reset";
    pub const SESSIONS_DELETE: &str = "sessions.delete";
    pub const MODELS_LIST: &str = "models.list";
    /// Forward one request to the browser control service; see
    /// [`crate::rpc::BrowserRequestParams`].
    pub const BROWSER_REQUEST: &str = "browser.request";
    /// Every messaging channel account: state, bot, last update, last error.
    pub const CHANNELS_STATUS: &str = "channels.status";
    // The gateway's method table (name, required scope, handler) is the one
    // list of served methods; it lives with the handlers in the gateway.
}

/// Event names emitted by the gateway.
pub mod events {
    pub const CONNECT_CHALLENGE: &str = "connect.challenge";
    pub const TICK: &str = "tick";
    pub const HEALTH: &str = "health";
    pub const PRESENCE: &str = "presence";
    pub const SHUTDOWN: &str = "shutdown";
    /// Chat stream of one run: [`crate::chat::ChatEvent`].
    pub const CHAT: &str = "chat";
    /// Tool calls and lifecycle of one run: [`crate::chat::AgentStreamEvent`].
    pub const AGENT: &str = "agent";
    /// A session changed (run started/ended, created, reset, deleted):
    /// `{sessionKey, agentId, reason, ts}`, to `sessions.subscribe`rs.
    pub const SESSIONS_CHANGED: &str = "sessions.changed";
    pub const ALL: &[&str] = &[
        CONNECT_CHALLENGE,
        AGENT,
        CHAT,
        SESSIONS_CHANGED,
        PRESENCE,
        TICK,
        SHUTDOWN,
        HEALTH,
    ];
}

/// One protocol frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Frame {
    Req(Request),
    Res(Response),
    Event(EventFrame),
}

impl Frame {
    /// Serialises to the JSON text of one frame.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("frames always serialise")
    }
}

/// `{"type":"req","id","method","params"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
}

/// `{"type":"res","id","ok","payload"|"error"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorShape>,
}

impl Response {
    pub fn ok(id: impl Into<String>, payload: Value) -> Self {
        Response {
            id: id.into(),
            ok: true,
            payload: Some(payload),
            error: None,
        }
    }

    pub fn err(id: impl Into<String>, error: ErrorShape) -> Self {
        Response {
            id: id.into(),
            ok: false,
            payload: None,
            error: Some(error),
        }
    }

    /// The payload on success, the error otherwise.
    pub fn into_result(self) -> Result<Value, ErrorShape> {
        if self.ok {
            Ok(self.payload.unwrap_or(Value::Null))
        } else {
            Err(self.error.unwrap_or_else(|| {
                ErrorShape::new(codes::INTERNAL, "error response without an error body")
            }))
        }
    }
}

/// `{"type":"event","event","payload","seq"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFrame {
    pub event: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// The error body of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ErrorShape {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ErrorShape {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorShape {
            code: code.to_string(),
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `details.code`, when present.
    pub fn detail_code(&self) -> Option<&str> {
        self.details.as_ref()?.get("code")?.as_str()
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_REQUEST, message)
    }

    /// The answer to a wrong token (observed: INVALID_REQUEST / AUTH_TOKEN_MISMATCH).
    pub fn token_mismatch() -> Self {
        Self::new(
            codes::INVALID_REQUEST,
            "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)",
        )
        .with_details(serde_json::json!({
            "code": detail_codes::AUTH_TOKEN_MISMATCH,
            "authReason": "token_mismatch",
            "canRetryWithDeviceToken": false,
            "recommendedNextStep": "update_auth_credentials",
        }))
    }

    /// The answer while a client is locked out after too many failed
    /// authentications (upstream's shape).
    pub fn auth_rate_limited(retry_after_ms: u64) -> Self {
        Self::new(
            codes::INVALID_REQUEST,
            "unauthorized: too many failed authentication attempts (retry later)",
        )
        .with_details(serde_json::json!({
            "code": detail_codes::AUTH_RATE_LIMITED,
            "authReason": "rate_limited",
            "retryable": true,
            "retryAfterMs": retry_after_ms,
            "recommendedNextStep": "wait_then_retry",
        }))
    }

    /// The answer to a wrong password.
    pub fn password_mismatch() -> Self {
        Self::new(
            codes::INVALID_REQUEST,
            "unauthorized: gateway password mismatch (use this gateway's gateway.auth.password)",
        )
        .with_details(serde_json::json!({
            "code": detail_codes::AUTH_PASSWORD_MISMATCH,
            "authReason": "password_mismatch",
            "canRetryWithDeviceToken": false,
            "recommendedNextStep": "update_auth_credentials",
        }))
    }

    /// The answer to a connect without credentials (observed: NOT_PAIRED).
    pub fn device_identity_required() -> Self {
        Self::new(codes::NOT_PAIRED, "device identity required")
            .with_details(serde_json::json!({"code": detail_codes::DEVICE_IDENTITY_REQUIRED}))
    }

    /// The answer to a non-overlapping protocol range.
    pub fn protocol_mismatch(client_min: u32, client_max: u32) -> Self {
        Self::new(codes::INVALID_REQUEST, "protocol mismatch").with_details(serde_json::json!({
            "code": detail_codes::PROTOCOL_MISMATCH,
            "clientMinProtocol": client_min,
            "clientMaxProtocol": client_max,
            "expectedProtocol": PROTOCOL_MAX,
            "minimumProbeProtocol": PROTOCOL_MIN,
        }))
    }

    /// The answer to a first request other than `connect` (no details).
    pub fn first_request_not_connect() -> Self {
        Self::new(
            codes::INVALID_REQUEST,
            "invalid handshake: first request must be connect",
        )
    }

    pub fn missing_scope(scope: Scope) -> Self {
        Self::new(
            codes::FORBIDDEN,
            format!("missing scope: {}", scope.as_str()),
        )
        .with_details(serde_json::json!({
            "code": detail_codes::MISSING_SCOPE,
            "missingScope": scope.as_str(),
            "requiredScopes": [scope.as_str()],
        }))
    }

    pub fn unknown_method(method: &str) -> Self {
        Self::new(codes::INVALID_REQUEST, format!("unknown method: {method}"))
    }

    /// A config write based on a stale hash.
    pub fn config_conflict(base_hash: &str, current_hash: &str) -> Self {
        Self::new(
            codes::CONFLICT,
            "config changed since it was read (baseHash is stale): run config.get again and reapply the change",
        )
        .with_details(serde_json::json!({
            "code": detail_codes::CONFIG_HASH_MISMATCH,
            "baseHash": base_hash,
            "currentHash": current_hash,
        }))
    }
}

/// Payload of `connect.challenge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectChallenge {
    pub nonce: String,
    pub ts: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

/// Identity of a connecting client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Anything else the client sent (deviceFamily, displayName, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Credentials carried by `connect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectAuth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A device token from an earlier `hello-ok.auth.deviceToken`; only
    /// valid together with the `device` it was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

/// Params of the `connect` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectParams {
    pub min_protocol: u32,
    pub max_protocol: u32,
    #[serde(default)]
    pub client: ClientInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub auth: ConnectAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The client's signed device identity (see [`device`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<ConnectDevice>,
}

/// Payload of a successful `connect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloOk {
    /// Always `"hello-ok"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub protocol: u32,
    pub server: ServerInfo,
    pub features: Features,
    pub snapshot: Snapshot,
    pub auth: HelloAuth,
    pub policy: Policy,
}

pub const HELLO_OK: &str = "hello-ok";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub version: String,
    pub conn_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Features {
    pub methods: Vec<String>,
    pub events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StateVersion {
    pub presence: u64,
    pub health: u64,
}

/// State sent with `hello-ok`. `configPath`, `stateDir` and `profile` are our
/// addition (absent from the original), so clients can check which instance
/// answered; they are optional when reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub presence: Vec<PresenceEntry>,
    pub health: Value,
    pub state_version: StateVersion,
    pub uptime_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// `null` for the default profile.
    #[serde(default)]
    pub profile: Option<String>,
}

/// One entry of `system-presence` / the `presence` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PresenceEntry {
    #[serde(default)]
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    #[serde(default)]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default)]
    pub ts: u64,
    /// The connecting client's `client.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The verified device the connection speaks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// What the connection was granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelloAuth {
    /// `token`, `password`, `device-token` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub role: String,
    /// What this connection was granted (not what it asked for).
    pub scopes: Vec<String>,
    /// A device token for the connecting device, issued when it was
    /// paired (or re-issued); present it as `auth.deviceToken` with the
    /// same `device` to reconnect without the shared secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// When `deviceToken` was issued (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub max_payload: u64,
    pub max_buffered_bytes: u64,
    pub tick_interval_ms: u64,
}

/// Payload of the `shutdown` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownEvent {
    pub reason: String,
    /// `None` when no restart is expected.
    #[serde(default)]
    pub restart_expected_ms: Option<u64>,
}

/// Payload of the `tick` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickEvent {
    pub ts: u64,
}

#[cfg(test)]
mod tests;
