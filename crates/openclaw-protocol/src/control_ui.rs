//! Wire shapes of the methods OpenClaw's Control UI calls on its home,
//! chat, sessions, agents, channels, models and settings views.
//!
//! Shapes follow upstream's protocol schemas (the TypeBox schemas shipped
//! in the original package's `dist`, and its answers recorded against the
//! real UI). Where this gateway has the feature, the answer carries real
//! data; where it does not (cron, approvals, questions, plugins, tasks,
//! boards, talk), the answer is the valid empty one from [`empty_answer`],
//! so the UI shows "nothing here" instead of an error. Answers may carry
//! fields of our own besides upstream's (upstream's clients ignore fields
//! they do not know); they never lack a field upstream's schema requires.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Method names of the Control UI surface (besides those in
/// [`crate::methods`]).
pub mod methods {
    pub const AGENTS_LIST: &str = "agents.list";
    pub const AGENT_IDENTITY_GET: &str = "agent.identity.get";
    pub const SESSIONS_SUBSCRIBE: &str = "sessions.subscribe";
    pub const SESSIONS_UNSUBSCRIBE: &str = "sessions.unsubscribe";
    pub const SESSIONS_MESSAGES_SUBSCRIBE: &str = "sessions.messages.subscribe";
    pub const SESSIONS_MESSAGES_UNSUBSCRIBE: &str = "sessions.messages.unsubscribe";
    pub const SESSIONS_DESCRIBE: &str = "sessions.describe";
    pub const SESSIONS_CREATE: &str = "sessions.create";
    pub const SESSIONS_PATCH: &str = "sessions.patch";
    pub const CHAT_STARTUP: &str = "chat.startup";
    pub const CHAT_METADATA: &str = "chat.metadata";
    pub const MODELS_AUTH_STATUS: &str = "models.authStatus";
    pub const SYSTEM_INFO: &str = "system.info";
    pub const LAST_HEARTBEAT: &str = "last-heartbeat";
    pub const USERS_PREFS_GET: &str = "users.prefs.get";
    pub const USERS_PREFS_SET: &str = "users.prefs.set";
    pub const PROJECTS_LIST: &str = "projects.list";
    pub const ENVIRONMENTS_LIST: &str = "environments.list";
    pub const DEVICE_PAIR_LIST: &str = "device.pair.list";
    pub const DEVICE_PAIR_APPROVE: &str = "device.pair.approve";
    pub const DEVICE_PAIR_REJECT: &str = "device.pair.reject";
    pub const DEVICE_PAIR_REMOVE: &str = "device.pair.remove";
    pub const UPDATE_STATUS: &str = "update.status";
}

/// One row of `sessions.list` / `sessions.describe` (upstream's session
/// row, plus our own `title`, `preview`, `messageCount` and `running`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    /// Canonical `agent:<agentId>:<key>`.
    pub key: String,
    pub session_id: String,
    pub agent_id: String,
    /// `direct`.
    pub kind: String,
    /// `main` for an agent's main session, `dashboard` for the others.
    pub classification: String,
    pub is_main: bool,
    pub is_background: bool,
    pub chat_type: String,
    pub created_at: u64,
    pub updated_at: u64,
    pub last_interaction_at: u64,
    /// The first user message (shortened), or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_preview: Option<String>,
    /// `running` while a run is in progress, else `done`.
    pub status: String,
    pub has_active_run: bool,
    pub active_run_ids: Vec<String>,
    pub archived: bool,
    pub pinned: bool,
    pub unread: bool,
    pub aborted_last_run: bool,
    pub visibility: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub thinking_levels: Vec<Value>,
    pub thinking_options: Vec<String>,
    pub thinking_default: String,
    // ---- ours ----
    pub title: String,
    pub preview: String,
    pub message_count: u64,
    pub running: bool,
}

/// `thinkingLevels` of a model without reasoning controls.
pub fn thinking_off() -> Vec<Value> {
    vec![json!({"id": "off", "label": "off"})]
}

/// `defaults` of `sessions.list` / `chat.startup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub thinking_levels: Vec<Value>,
    pub thinking_options: Vec<String>,
    pub thinking_default: String,
    pub model_selection_target: String,
}

/// `sessions.list` (upstream's result plus our `agentId` and `dir`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsListResult {
    pub ts: u64,
    /// The sessions directory (of the one agent listed), or `(multiple)`.
    pub path: String,
    pub count: usize,
    pub total_count: usize,
    pub limit_applied: usize,
    pub next_offset: Option<usize>,
    pub has_more: bool,
    pub owners: Vec<Value>,
    pub defaults: SessionDefaults,
    pub sessions: Vec<SessionRow>,
    /// The agent asked for (or the default agent).
    pub agent_id: String,
    /// Its sessions directory.
    pub dir: String,
}

/// Params of `sessions.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Only sessions spawned by this one (we spawn none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned_by: Option<String>,
    /// `configuredAgentsOnly`: sessions of configured agents only (always
    /// true here: there are no others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_agents_only: Option<bool>,
}

/// `sessions.describe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionsDescribeResult {
    pub session: Option<SessionRow>,
}

/// One agent of `agents.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRow {
    pub id: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub workspace: String,
    /// Absent without a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<AgentModel>,
    pub thinking_levels: Vec<Value>,
    pub thinking_options: Vec<String>,
    pub thinking_default: String,
    // ---- ours ----
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `{primary, fallbacks}` of an agent (`provider/model` each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentModel {
    pub primary: String,
    pub fallbacks: Vec<String>,
}

/// `agents.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentsListResult {
    pub default_id: String,
    pub main_key: String,
    pub scope: String,
    pub ownership: String,
    pub selection_required: bool,
    pub agents: Vec<AgentRow>,
}

/// `agent.identity.get`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentIdentityResult {
    pub agent_id: String,
    pub name: String,
    /// `agent` (configured `name`) or `default`.
    pub name_source: String,
    pub avatar: String,
}

/// One model of `models.list`'s `models` / `chat.metadata`'s `models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRow {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub reasoning: bool,
    pub tags: Vec<String>,
    pub thinking_levels: Vec<Value>,
    pub thinking_default: String,
    pub manual_selection_allowed: bool,
    pub available: bool,
}

/// One provider of `models.authStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAuthRow {
    pub provider: String,
    pub auth_provider: String,
    pub display_name: String,
    /// `static` (a key is configured), `missing` or `none` (no auth).
    pub status: String,
    pub profiles: Vec<Value>,
    /// Where the key comes from (never the key).
    pub api_key: KeySource,
}

/// `{source}` of a provider's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySource {
    pub source: String,
}

/// `models.authStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelsAuthStatusResult {
    pub ts: u64,
    pub providers: Vec<ProviderAuthRow>,
    pub provider_capabilities: Vec<Value>,
}

/// `chat.startup` (and, with `cursor`, its delta form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatStartupResult {
    pub session_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Upstream's message shape (see [`transcript_message`]).
    pub messages: Vec<Value>,
    pub pending_inputs: Value,
    pub has_more: bool,
    pub total_messages: usize,
    pub defaults: SessionDefaults,
    pub session_info: Option<SessionRow>,
    pub thinking_level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_run: Option<InFlightRun>,
}

/// The run going on in a session (`inFlightRun`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlightRun {
    pub run_id: String,
    /// The answer so far.
    pub text: String,
    pub started_at: u64,
}

/// `chat.metadata`: the models the composer offers (no slash commands
/// here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMetadataResult {
    pub models: Vec<ModelRow>,
    pub commands: Vec<Value>,
    pub account_selection: Value,
    /// A session's model cannot be changed on this gateway.
    pub runtime_selection_locked: bool,
}

/// `accountSelection` of `models.list` / `chat.metadata`: automatic (one
/// key per provider).
pub fn account_selection() -> Value {
    json!({"kind": "automatic", "label": "Automatic account selection"})
}

/// `{sessionId, createdAt, updatedAt}` of `sessions.create` /
/// `sessions.patch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEntryInfo {
    pub session_id: String,
    pub created_at: u64,
    pub updated_at: u64,
}

/// `sessions.create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsCreateResult {
    pub ok: bool,
    /// Canonical key of the new session.
    pub key: String,
    pub session_id: String,
    pub entry: SessionEntryInfo,
    /// A first message started a run.
    pub run_started: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `sessions.patch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionsPatchResult {
    pub ok: bool,
    /// The sessions directory.
    pub path: String,
    pub key: String,
    pub entry: SessionEntryInfo,
}

/// `sessions.subscribe` / `sessions.unsubscribe`.
pub fn subscribed(on: bool) -> Value {
    json!({"subscribed": on})
}

/// `sessions.messages.subscribe`: no approvals here, so nothing to replay.
pub fn messages_subscribed(key: &str, now_ms: u64) -> Value {
    json!({"subscribed": true, "key": key,
        "approvalReplay": {"sessionKey": key, "updatedAtMs": now_ms, "approvals": [], "truncated": false}})
}

/// `sessions.messages.unsubscribe`.
pub fn messages_unsubscribed(key: &str) -> Value {
    json!({"subscribed": false, "key": key})
}

/// One project of `projects.list` (an agent's workspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRow {
    pub id: String,
    pub display_name: String,
    pub repo_root: String,
    pub source: String,
    pub agent_id: String,
}

/// `projects.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectsListResult {
    pub projects: Vec<ProjectRow>,
    pub recents: Vec<Value>,
}

/// `environments.list`: the gateway's own host is the one environment.
pub fn environments(host: &str, platform: &str) -> Value {
    json!({"environments": [{
        "id": "gateway", "type": "local", "label": format!("Gateway local ({host})"),
        "status": "available", "platform": platform, "sessionHost": true,
    }]})
}

/// `update.status`: this gateway does not update itself (whoever installed
/// it does), so no update is known and none is scheduled.
pub fn update_status() -> Value {
    json!({
        "sentinel": null,
        "updateAvailable": null,
        "effectiveChannel": "stable",
        "schedule": {"channel": "stable", "autoEnabled": false, "install": {"kind": "package"}},
    })
}

/// `exec.approvals.get`: no per-command approvals here; exec is on or off
/// (`tools.exec.enabled`), which `resolvedDefaults.security` says.
pub fn exec_approvals(path: &str, exec_enabled: bool) -> Value {
    json!({
        "path": path,
        "exists": false,
        "file": {"version": 1, "defaults": {}, "agents": {}},
        "hash": "",
        "resolvedDefaults": {
            "security": if exec_enabled { "full" } else { "deny" },
            "ask": "off", "askFallback": "deny", "autoAllowSkills": false,
        },
    })
}

/// `themes.list`: themes live in the Control UI itself; the gateway keeps
/// none, so the UI's default is current.
pub fn themes_list() -> Value {
    let claw = json!({"id": "claw", "name": "Claw", "description": "The Control UI's default theme.",
        "source": "builtin", "modes": ["light", "dark"]});
    json!({
        "current": {"id": "claw", "mode": "system", "scope": "profile", "overrides": {}},
        "theme": claw,
        "themes": [claw],
    })
}

/// `sessions.usage`: no token usage is recorded here, so every total is
/// zero and no session has usage.
pub fn sessions_usage(start_date: &Value, end_date: &Value, now_ms: u64) -> Value {
    let zero = json!({"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 0,
        "totalCost": 0, "inputCost": 0, "outputCost": 0, "cacheReadCost": 0, "cacheWriteCost": 0,
        "missingCostEntries": 0});
    json!({
        "updatedAt": now_ms,
        "startDate": start_date,
        "endDate": end_date,
        "sessions": [],
        "totals": zero,
        "aggregates": {
            "sessionCount": 0,
            "messages": {"total": 0, "user": 0, "assistant": 0, "toolCalls": 0, "toolResults": 0, "errors": 0},
            "tools": {"totalCalls": 0, "uniqueTools": 0, "tools": []},
            "byModel": [], "byProvider": [], "byAgent": [], "byChannel": [], "byCreator": [],
            "costDaily": [], "dailyLatency": [], "modelDaily": [], "daily": [],
        },
        "creatorOptions": [],
        "cacheStatus": {"status": "fresh", "cachedFiles": 0, "pendingFiles": 0, "staleFiles": 0},
    })
}

/// `users.prefs.get` / `users.prefs.set`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefsResult {
    /// `ok`, or `conflict` when `expectedEntries` did not match.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Map<String, Value>>,
}

/// `device.pair.approve|reject|remove`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairChangeResult {
    pub ok: bool,
    pub device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The approved scopes (approve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// One channel account of `channels.pairing.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingAccountRow {
    pub channel: String,
    pub channel_label: String,
    pub account_id: String,
    pub notify_supported: bool,
}

/// One pending DM pairing request of `channels.pairing.list` (the code is
/// the request id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingRequestRow {
    pub request_id: String,
    pub channel: String,
    pub channel_label: String,
    pub account_id: String,
    pub sender_id: String,
    pub sender_label: String,
    /// RFC 3339.
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub notify_supported: bool,
}

/// `channels.pairing.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelsPairingListResult {
    pub accounts: Vec<PairingAccountRow>,
    pub requests: Vec<PairingRequestRow>,
    pub command_owner_configured: bool,
    /// `{pendingPerAccount, ttlMs}`.
    pub limits: Value,
}

/// `Telegram` for `telegram`.
pub fn channel_label(id: &str) -> String {
    let mut c = id.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// `pendingInputs` with nothing queued.
pub fn no_pending_inputs() -> Value {
    json!({"items": [], "total": 0})
}

/// `system.info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemInfoResult {
    pub machine_name: String,
    pub hostname: String,
    pub platform: String,
    pub release: String,
    pub arch: String,
    pub os_label: String,
    /// Upstream's Node.js version field: empty (no Node.js runtime here).
    pub node_version: String,
    pub port: u16,
    pub pid: u32,
    pub uptime_ms: u64,
    pub cpu_count: usize,
    pub load_average: Vec<f64>,
    pub memory_total_bytes: u64,
    pub memory_free_bytes: u64,
    pub process_memory: ProcessMemory,
    pub disks: Vec<DiskRow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_available_bytes: Option<u64>,
    pub disk_path: String,
}

/// `processMemory` of `system.info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessMemory {
    pub rss_bytes: u64,
    /// Upstream's JavaScript heap: 0 here.
    pub heap_used_bytes: u64,
    pub heap_total_bytes: u64,
}

/// One volume of `system.info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskRow {
    pub path: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// `channels.status` (upstream's shape; `channelAccounts.<id>[]` also
/// carry our channel status fields: `channel`, `account`, `state`, `hint`,
/// ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelsStatusResult {
    pub ts: u64,
    pub channel_order: Vec<String>,
    pub channel_labels: Map<String, Value>,
    pub channel_detail_labels: Map<String, Value>,
    pub channel_meta: Vec<Value>,
    pub channels: Map<String, Value>,
    pub channel_accounts: Map<String, Value>,
    pub channel_default_account_id: Map<String, Value>,
    pub status_issues: Vec<Value>,
}

impl ChannelsStatusResult {
    /// Upstream's shape from our channel list (`{"channels":
    /// [ChannelStatus]}`): one entry per channel, its accounts under
    /// `channelAccounts` (each also carrying our status fields).
    pub fn from_ours(ours: &Value, now_ms: u64) -> Self {
        let mut r = ChannelsStatusResult {
            ts: now_ms,
            channel_order: Vec::new(),
            channel_labels: Map::new(),
            channel_detail_labels: Map::new(),
            channel_meta: Vec::new(),
            channels: Map::new(),
            channel_accounts: Map::new(),
            channel_default_account_id: Map::new(),
            status_issues: Vec::new(),
        };
        for st in ours["channels"].as_array().into_iter().flatten() {
            let Some(id) = st["channel"].as_str() else {
                continue;
            };
            let account = st["account"].as_str().unwrap_or("default");
            let state = st["state"].as_str().unwrap_or("unknown");
            let running = state == "running";
            let last_error = st["lastError"].as_str();
            let mut entry = match st {
                Value::Object(o) => o.clone(),
                _ => Map::new(),
            };
            entry.insert("accountId".into(), json!(account));
            entry.insert("enabled".into(), json!(true));
            entry.insert("configured".into(), json!(true));
            entry.insert("running".into(), json!(running));
            entry.insert("connected".into(), json!(running));
            entry.insert("lastError".into(), json!(last_error));
            entry.insert("healthState".into(), json!(state));
            if !r.channel_order.iter().any(|c| c == id) {
                let label = channel_label(id);
                r.channel_order.push(id.to_string());
                r.channel_labels.insert(id.into(), json!(label));
                r.channel_detail_labels.insert(id.into(), json!(label));
                r.channel_meta
                    .push(json!({"id": id, "label": label, "detailLabel": label}));
                r.channel_default_account_id
                    .insert(id.into(), json!(account));
                r.channels.insert(
                    id.into(),
                    json!({"configured": true, "running": running, "lastError": last_error}),
                );
            }
            if let Some(msg) = last_error {
                r.status_issues.push(json!({
                    "channel": id, "accountId": account,
                    "kind": if state == "unauthorized" { "auth" } else { "runtime" },
                    "message": msg,
                }));
            }
            if let Value::Array(list) = r
                .channel_accounts
                .entry(id.to_string())
                .or_insert_with(|| json!([]))
            {
                list.push(Value::Object(entry));
            }
        }
        r
    }
}

/// One device of `device.pair.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDeviceRow {
    pub device_id: String,
    pub public_key: String,
    pub client_id: String,
    pub client_mode: String,
    pub platform: String,
    pub role: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub approved_scopes: Vec<String>,
    pub has_token: bool,
    /// `[{role, scopes, createdAtMs}]`: the device's token (never the
    /// token itself).
    pub tokens: Vec<Value>,
    /// A session of this device is open now.
    pub connected: bool,
    pub created_at_ms: u64,
    pub approved_at_ms: u64,
    /// `silent` (approved automatically on loopback) or `manual`.
    pub approved_via: String,
    pub approved_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
}

/// One pending request of `device.pair.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingDeviceRow {
    pub request_id: String,
    pub device_id: String,
    pub public_key: String,
    pub client_id: String,
    pub client_mode: String,
    pub platform: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    pub ts: u64,
}

/// `device.pair.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevicePairListResult {
    pub pending: Vec<PendingDeviceRow>,
    pub paired: Vec<PairedDeviceRow>,
}

/// Params naming a pending request or a device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePairParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// Upstream's message shape for one transcript record of ours (`role`,
/// `content`, `timestamp`, `__openclaw.{id, seq}`), merged into the record
/// itself so our own fields (`type`, `text`, ...) stay. `seq` is the
/// record's 1-based position in the session.
pub fn transcript_message(record: &Value, session_id: &str, seq: usize) -> Value {
    let mut m = match record {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    let text = record["text"].as_str().unwrap_or_default().to_string();
    let ts = record["ts"].as_u64().unwrap_or_default();
    let kind = record["type"].as_str().unwrap_or_default();
    let mut meta = json!({"id": format!("{session_id}:{seq}"), "seq": seq});
    if let Some(r) = record["runId"].as_str() {
        meta["runId"] = json!(r);
    }
    match kind {
        "user" => {
            m.insert("role".into(), json!("user"));
            m.insert("content".into(), json!(text));
            // Upstream's clients match the message they sent by it.
            if let Some(r) = record["runId"].as_str() {
                let key = format!("{r}:user");
                m.insert("idempotencyKey".into(), json!(key));
                meta["idempotencyKey"] = json!(key);
            }
        }
        "assistant" => {
            let mut content = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            for c in record["toolCalls"].as_array().into_iter().flatten() {
                content.push(json!({"type": "toolCall", "id": c["id"], "name": c["name"], "arguments": c["args"]}));
            }
            m.insert("role".into(), json!("assistant"));
            m.insert("content".into(), Value::Array(content));
            if let Some((provider, model)) =
                record["model"].as_str().and_then(|s| s.split_once('/'))
            {
                m.insert("provider".into(), json!(provider));
                m.insert("model".into(), json!(model));
            }
            let stop = if record["aborted"] == true {
                "aborted"
            } else if record["incomplete"] == true {
                "error"
            } else {
                record["stopReason"].as_str().unwrap_or("stop")
            };
            m.insert("stopReason".into(), json!(stop));
        }
        "tool_result" => {
            m.insert("role".into(), json!("toolResult"));
            m.insert("toolCallId".into(), record["id"].clone());
            m.insert("toolName".into(), record["name"].clone());
            m.insert(
                "content".into(),
                json!([{"type": "text", "text": record["output"].as_str().unwrap_or_default()}]),
            );
            m.insert("isError".into(), json!(record["ok"] != true));
        }
        "error" => {
            m.insert("role".into(), json!("assistant"));
            m.insert("content".into(), json!([]));
            m.insert("stopReason".into(), json!("error"));
            m.insert("errorMessage".into(), record["message"].clone());
        }
        _ => {}
    }
    m.insert("timestamp".into(), json!(ts));
    m.insert("__openclaw".into(), meta);
    Value::Object(m)
}

/// The valid empty answer to a Control UI method this gateway has no
/// feature for (`None` for any other method). `params` are the request's
/// (some answers echo a key).
pub fn empty_answer(method: &str, params: &Value) -> Option<Value> {
    let session_key = params["sessionKey"].clone();
    Some(match method {
        // Approvals, questions.
        "exec.approval.list" | "plugin.approval.list" | "openclaw.approval.list" => json!([]),
        "question.list" => json!({"questions": []}),
        // Automations.
        "approval.history" => json!({"items": []}),
        "exec.approval.grants.list" => json!({"grants": []}),
        // Automations. The job list's revision is constant: there are no
        // jobs to change (the UI reloads when it differs between pages).
        "cron.list" => {
            json!({"jobs": [], "total": 0, "offset": 0, "limit": params["limit"].as_u64().unwrap_or(50), "hasMore": false, "nextOffset": null, "snapshotRevision": "empty"})
        }
        "cron.status" => {
            json!({"enabled": false, "triggersEnabled": false, "jobs": 0, "nextWakeAtMs": null})
        }
        "cron.runs" => {
            json!({"entries": [], "total": 0, "offset": 0, "limit": params["limit"].as_u64().unwrap_or(50), "hasMore": false, "nextOffset": null})
        }
        // Skills, plugins, worktrees.
        "skills.library.list" => {
            json!({"entries": [], "profileId": null, "multipleProfiles": false,
            "defaultTarget": "unavailable", "canManageWorkspace": false, "defaultSelectionLimit": 64})
        }
        "plugins.catalog.browse" => json!({"items": []}),
        "worktrees.list" => json!({"worktrees": []}),
        // Plugins.
        "plugins.list" => json!({"plugins": [], "diagnostics": [], "mutationAllowed": false}),
        "plugins.controlUi.list" => json!({"revision": "0", "plugins": [], "diagnostics": []}),
        // Chat side panels.
        "progressCard.get" => json!({"card": null}),
        "tasks.list" => json!({"tasks": []}),
        "taskSuggestions.list" => json!({"suggestions": []}),
        "board.get" => json!({"sessionKey": session_key, "revision": 0, "tabs": [], "widgets": []}),
        "mentions.list" => json!({"gatewayInstanceId": "", "revision": 0, "items": []}),
        "sessions.groups.list" => json!({"groups": [], "sectionOrder": []}),
        "sessions.groups.defaults" => json!({"defaults": []}),
        "sessions.branches.list" => json!({"branches": []}),
        "sessions.catalog.list" => json!({"catalogs": []}),
        "sessions.companion.state" => json!({"exchanges": []}),
        "session.discussion.info" => json!({"state": "none"}),
        "sessions.github.options" => json!({
            "personal": {"state": "disconnected", "generation": null, "account": null,
                         "accessExpiresAtMs": null, "refreshState": "not_applicable", "pending": null},
            "shared": null, "pendingPersonal": null, "latestShared": null}),
        "session.members.listEvidence" => json!({
            "sessionKey": session_key, "owner": null, "members": [], "identities": [],
            "role": "admin", "allowedVisibilities": ["shared"]}),
        "sessions.viewers.set" => {
            json!({"sessionKeys": params["sessionKeys"].as_array().cloned().unwrap_or_default()})
        }
        "sessions.observer.visibility" => json!({"ok": true}),
        "controlUi.sessionPullRequests.subscribe" => json!({"subscribed": false}),
        "node.list" => json!({"ts": 0, "nodes": []}),
        "talk.catalog" => json!({"modes": [], "transports": [], "brains": [],
            "speech": {"providers": []}, "transcription": {"ready": false, "providers": []},
            "realtime": {"ready": false, "providers": []}}),
        "usage.status" => json!({"updatedAt": 0, "providers": []}),
        "tools.github.status" => {
            let none = json!({"source": "system-detected", "credentialKind": "native",
                "credentialState": "unavailable", "account": null,
                "gitAuthor": {"name": null, "email": null}, "evidence": "none",
                "accessExpiresAtMs": null, "refreshState": "not_applicable",
                "oauthScopes": [], "repositoryGrants": "unknown"});
            let scope = params["selectedScope"].as_str().unwrap_or("system");
            json!({"agentId": params["agentId"], "selectedScope": scope,
                "selected": {"scope": scope, "configured": false, "identity": none},
                "effective": none})
        }
        _ => return None,
    })
}

/// Methods answered by [`empty_answer`]. Their scopes live in the one
/// method table (the gateway's `methods::METHODS`), not here.
pub const EMPTY_METHODS: &[&str] = &[
    "exec.approval.list",
    "plugin.approval.list",
    "openclaw.approval.list",
    "question.list",
    "cron.list",
    "cron.status",
    "plugins.list",
    "plugins.controlUi.list",
    "progressCard.get",
    "tasks.list",
    "taskSuggestions.list",
    "board.get",
    "mentions.list",
    "sessions.groups.list",
    "sessions.groups.defaults",
    "sessions.branches.list",
    "sessions.catalog.list",
    "sessions.companion.state",
    "session.discussion.info",
    "sessions.github.options",
    "session.members.listEvidence",
    "sessions.viewers.set",
    "sessions.observer.visibility",
    "controlUi.sessionPullRequests.subscribe",
    "node.list",
    "talk.catalog",
    "usage.status",
    "tools.github.status",
    "approval.history",
    "exec.approval.grants.list",
    "cron.runs",
    "skills.library.list",
    "plugins.catalog.browse",
    "worktrees.list",
];

// ---- params of the Control UI's requests ----

/// Params naming one session: `{key | sessionKey, agentId?}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionKeyParams {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub session_key: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
}

impl SessionKeyParams {
    pub fn key(&self) -> Option<&str> {
        self.key
            .as_deref()
            .or(self.session_key.as_deref())
            .filter(|k| !k.is_empty())
    }
}

/// `sessions.create {agentId?, key?, message?, idempotencyKey?}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionsCreateParams {
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// `sessions.patch {key, agentId?, ...changes}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionsPatchParams {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `chat.history` / `chat.startup` {sessionKey | key, agentId?, limit?, maxBytes?}.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChatHistoryParams {
    #[serde(default)]
    pub session_key: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub limit: Option<u64>,
    /// A page target in bytes (upstream's `maxBytes`): the newest messages
    /// whose encoded size fits, at least one; capped by the gateway's
    /// largest frame.
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

/// `users.prefs.get {keys?}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PrefsGetParams {
    #[serde(default)]
    pub keys: Option<Vec<String>>,
}

/// `users.prefs.set {entries, expectedEntries?}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PrefsSetParams {
    #[serde(default)]
    pub entries: Map<String, Value>,
    /// Compare-and-set: each key's current value must be this (`null` =
    /// absent).
    #[serde(default)]
    pub expected_entries: Option<Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_empty_method_has_an_answer() {
        for m in EMPTY_METHODS {
            assert!(empty_answer(m, &json!({})).is_some(), "{m}");
        }
        assert!(empty_answer("no.such", &json!({})).is_none());
        assert_eq!(
            empty_answer("board.get", &json!({"sessionKey": "agent:main:main"})).unwrap()["sessionKey"],
            "agent:main:main"
        );
    }

    #[test]
    fn channel_status_in_upstreams_shape_keeps_ours() {
        let ours = json!({"channels": [{"channel": "telegram", "account": "default", "state": "unauthorized",
            "lastError": "401", "hint": "fix the token", "pid": 1}]});
        let r = ChannelsStatusResult::from_ours(&ours, 5);
        assert_eq!(r.channel_order, ["telegram"]);
        assert_eq!(r.channel_labels["telegram"], "Telegram");
        let a = &r.channel_accounts["telegram"][0];
        assert_eq!(
            (a["accountId"].as_str(), a["running"].as_bool()),
            (Some("default"), Some(false))
        );
        assert_eq!(a["hint"], "fix the token", "our fields stay");
        assert_eq!(r.status_issues[0]["kind"], "auth");
        let empty = ChannelsStatusResult::from_ours(&json!({"channels": []}), 5);
        assert!(empty.channels.is_empty() && empty.channel_accounts.is_empty());
    }

    #[test]
    fn transcript_records_read_as_upstream_messages() {
        let user = transcript_message(
            &json!({"type": "user", "runId": "r1", "ts": 5, "text": "hi"}),
            "s",
            1,
        );
        assert_eq!(user["role"], "user");
        assert_eq!(user["content"], "hi");
        assert_eq!(user["text"], "hi", "our fields stay");
        assert_eq!(user["idempotencyKey"], "r1:user");
        assert_eq!(user["__openclaw"]["seq"], 1);
        let a = transcript_message(
            &json!({"type": "assistant", "runId": "r1", "ts": 6, "model": "oai/m", "text": "yo",
                    "toolCalls": [{"id": "t1", "name": "exec", "args": {"cmd": "ls"}}], "aborted": true}),
            "s",
            2,
        );
        assert_eq!(a["role"], "assistant");
        assert_eq!(a["content"][0], json!({"type": "text", "text": "yo"}));
        assert_eq!(a["content"][1]["type"], "toolCall");
        assert_eq!(
            (a["provider"].as_str(), a["model"].as_str()),
            (Some("oai"), Some("m"))
        );
        assert_eq!(a["stopReason"], "aborted");
        let t = transcript_message(
            &json!({"type": "tool_result", "runId": "r1", "ts": 7, "id": "t1", "name": "exec", "ok": false, "output": "no"}),
            "s",
            3,
        );
        assert_eq!(
            (t["role"].as_str(), t["isError"].as_bool()),
            (Some("toolResult"), Some(true))
        );
    }
}
