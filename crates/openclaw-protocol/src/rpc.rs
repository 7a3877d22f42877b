//! Params and results of the gateway's RPC methods (other than the agent
//! methods in [`crate::chat`]) and the payloads of the broadcast events.
//!
//! Params are lenient where the original is: every field is optional unless
//! the method cannot work without it, and unknown fields are ignored.
//! Results serialise to exactly the JSON the methods answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::PresenceEntry;

/// One listening socket of the gateway (`health`, `status`, `/readyz`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerInfo {
    /// What the port is for: `gateway`, `canvas host`, `browser control`.
    pub purpose: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigReloadInfo {
    /// Always `active`: the gateway polls its config file.
    pub hot_reload_status: String,
    /// `gateway.reload.mode`: `hybrid` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// A config change the running gateway has not applied: one whose
    /// restart failed (e.g. its new port is taken; the gateway keeps
    /// serving the previous settings), or one waiting for a manual restart
    /// (`mode: off`). Absent when the gateway runs what its config says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

/// `health` result and the `health` event payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthResult {
    pub ok: bool,
    pub ts: u64,
    pub duration_ms: u64,
    pub uptime_ms: u64,
    /// `null` for the default profile.
    pub profile: Option<String>,
    pub state_dir: String,
    pub config_reload: ConfigReloadInfo,
    pub listeners: Vec<ListenerInfo>,
    /// Open WebSocket connections.
    pub clients: usize,
    /// Connects refused for a wrong secret since start-up.
    #[serde(default)]
    pub auth_failures: u64,
    /// Unauthenticated connections closed to make room for newer ones
    /// since start-up (many: something holds pre-auth connections open).
    #[serde(default)]
    pub preauth_evictions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindInfo {
    /// `loopback`, `lan` or `custom`.
    pub mode: String,
    pub host: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortsInfo {
    pub gateway: u16,
    pub browser_control: u16,
    pub canvas: u16,
    /// `[first, last]`.
    pub cdp_range: [u16; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthModeInfo {
    /// `token`, `password` or `none` (never the secret).
    pub mode: String,
}

/// `status` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResult {
    pub profile: Option<String>,
    pub state_dir: String,
    pub config_path: String,
    pub workspace: String,
    pub version: String,
    pub pid: u32,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub uptime_ms: u64,
    pub bind: BindInfo,
    pub port: u16,
    pub listeners: Vec<ListenerInfo>,
    pub ports: PortsInfo,
    pub auth: AuthModeInfo,
    pub clients: usize,
    pub ready: bool,
    /// Every messaging channel account (as in `channels.status`).
    #[serde(default)]
    pub channels: serde_json::Value,
}

/// `gateway.identity.get` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityResult {
    /// Stable per state dir (a hash of its path).
    pub device_id: String,
    pub profile: Option<String>,
    pub state_dir: String,
    pub config_path: String,
    pub version: String,
}

/// `logs.tail` params: `lines` (or `limit`), 1..=1000, default 100.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsTailParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl LogsTailParams {
    pub const DEFAULT_LINES: usize = 100;
    pub const MAX_LINES: usize = 1000;

    /// The number of lines asked for, clamped to 1..=1000.
    pub fn count(&self) -> usize {
        self.lines
            .or(self.limit)
            .map(|n| n.clamp(1, Self::MAX_LINES as u64) as usize)
            .unwrap_or(Self::DEFAULT_LINES)
    }
}

/// `logs.tail` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsTailResult {
    /// The log file, `null` when the gateway logs to stderr only.
    pub file: Option<String>,
    pub lines: Vec<String>,
}

/// `config.get` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigGetResult {
    pub path: String,
    pub exists: bool,
    /// The file's text: admin connections only (it holds secrets).
    pub raw: Option<String>,
    /// `true` when a file exists but `raw` was withheld.
    pub raw_redacted: bool,
    /// The parsed config with secrets redacted (`null` when invalid).
    pub parsed: Value,
    /// SHA-256 hex of the file: the `baseHash` of the next write.
    pub hash: Option<String>,
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues: Option<Vec<String>>,
}

/// `config.set` / `config.apply` (`raw`) and `config.patch` (`patch` or
/// `raw`) params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigWriteParams {
    /// The whole config as JSON5 text (set/apply), or a merge patch as
    /// JSON5 text (patch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// An RFC 7396 merge patch (patch only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Value>,
    /// The `hash` from `config.get`; a stale one is refused (CONFLICT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_hash: Option<String>,
}

/// `config.set|apply|patch` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigWriteResult {
    pub ok: bool,
    pub path: String,
    pub hash: Option<String>,
    /// The written config, secrets redacted.
    pub config: Value,
    /// The change (port or bind) takes effect only after a restart.
    pub restart_required: bool,
}

/// `presence` event payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceEvent {
    pub presence: Vec<PresenceEntry>,
}

/// `/readyz` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyzBody {
    pub ready: bool,
    pub profile: Option<String>,
    pub state_dir: String,
    pub listeners: Vec<ListenerInfo>,
    pub uptime_ms: u64,
}

/// `browser.request` params: one request to the gateway's browser control
/// service. `GET` needs `operator.read`, anything else `operator.write`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BrowserRequestParams {
    /// `GET` (default) or `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// e.g. `/`, `/start`, `/tabs/open`; no query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Query parameters; strings, or other JSON values sent as their text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    /// Shorthand for `query.profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// JSON body (POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl BrowserRequestParams {
    /// The HTTP method, upper-cased; `GET` when absent.
    pub fn http_method(&self) -> String {
        self.method.as_deref().unwrap_or("GET").to_ascii_uppercase()
    }
}

/// `browser.request` result for a non-JSON answer (a PNG screenshot); a
/// JSON answer is returned as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserBinaryResult {
    pub content_type: String,
    /// Always `base64`.
    pub encoding: String,
    pub data: String,
}
