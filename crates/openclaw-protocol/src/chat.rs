//! Agent runs over the protocol: `chat.*`, `agent`, `agent.wait`,
//! `sessions.*`, `models.list`, and the `chat` / `agent` events.
//!
//! # Starting a run
//! `chat.send {sessionKey?, message, agentId?, idempotencyKey?}` (scope
//! write) answers at once with [`RunAccepted`] `{runId, status:"started",
//! agentId, sessionKey}`; the turn then runs in the gateway. `agent
//! {message, agentId?, sessionKey?, idempotencyKey?}` does the same (its
//! `status` is `"accepted"`). `sessionKey` defaults to `"main"`, `agentId` to
//! the default agent. A repeated `idempotencyKey` returns the first run's id.
//!
//! # Events of a run
//! Sent to the connection that started the run and to every connection
//! subscribed to the same `(agentId, sessionKey)` (a connection subscribes by
//! calling `chat.send`, `agent`, `chat.history`, `chat.startup` or
//! `sessions.messages.subscribe` on it). `sessionKey` in answers and events
//! is canonical: `agent:<agentId>:<key>` ([`crate::session_key`]); requests
//! may name a session either way. Every payload
//! carries `runId`, `agentId`, `sessionKey` and `seq` (1, 2, 3 ... per run,
//! shared by both event kinds, so a client can order and de-duplicate them).
//!
//! `chat` ([`ChatEvent`]):
//! - `state:"delta"`: `delta` is the new text; `message` is
//!   `{role:"assistant", text, content:[{type:"text", text}]}` with the text
//!   of the run so far;
//! - `state:"final"`: `message` holds the whole answer of the run;
//! - `state:"aborted"`: `message` holds the partial answer (also recorded in
//!   the transcript with `aborted:true`);
//! - `state:"error"`: `errorMessage` (says which provider failed and how to
//!   fix it) and `errorKind` (`auth`, `rate_limited`, `server`, `bad_request`,
//!   `timeout`, `network`, `malformed_stream`, `config`, `step_limit`,
//!   `session`); `message` holds any partial answer.
//!
//! Exactly one of final/aborted/error ends every run.
//!
//! `agent` ([`AgentStreamEvent`]):
//! - `stream:"lifecycle"`, `data:{phase:"start", sessionId}` then
//!   `data:{phase:"end", status:"ok"|"aborted"|"error"}`;
//! - `stream:"tool"`, `data:{phase:"call", toolCallId, name, args}` and
//!   `data:{phase:"result", toolCallId, name, ok, output}`.
//!
//! # Waiting and reading
//! - `agent.wait {runId, timeoutMs?}` → [`RunOutcome`] (`status:"timeout"`
//!   if the run is still going when `timeoutMs` (default 30000) passes).
//! - `chat.history {sessionKey, agentId?, limit?}` → [`HistoryResult`]:
//!   `{agentId, sessionKey, sessionId, running, messages}` where each
//!   message is a transcript record with upstream's `role`, `content`,
//!   `timestamp` and `__openclaw` added.
//! - `chat.abort {sessionKey | runId, agentId?}` → `{ok, aborted:[runId]}`.
//! - `sessions.list {agentId?}` →
//!   [`crate::control_ui::SessionsListResult`] (upstream's rows with our
//!   `title`, `preview`, `messageCount`, `running`);
//!   `sessions.preview {key, agentId?, limit?}`; `sessions.reset {key}` →
//!   `{key, sessionId}` (new id); `sessions.delete {key}` → `{key, deleted}`.
//! - `models.list` → `{defaultAgent, agents:[{id, workspace, model,
//!   fallbacks, ready, error?}], providers:[{id, api, baseUrl, keySource,
//!   models}]}`; `keySource` says where the key comes from, never the key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default session key when a request names none.
pub const DEFAULT_SESSION_KEY: &str = "main";

/// `chat.send` / `agent` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// The immediate answer to `chat.send` / `agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunAccepted {
    pub run_id: String,
    /// `started` (chat.send) or `accepted` (agent).
    pub status: String,
    pub agent_id: String,
    pub session_key: String,
}

/// `{role, text, content:[{type:"text", text}], timestamp}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub text: String,
    pub content: Vec<Value>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub timestamp: u64,
}

impl ChatMessage {
    pub fn assistant(text: &str) -> Self {
        ChatMessage {
            role: "assistant".into(),
            text: text.to_string(),
            content: vec![serde_json::json!({"type": "text", "text": text})],
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }
}

/// `chat` event payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatEvent {
    pub run_id: String,
    pub agent_id: String,
    pub session_key: String,
    pub seq: u64,
    /// `delta` | `final` | `aborted` | `error`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<String>,
    /// The same new text under upstream's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
}

/// `agent` event payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStreamEvent {
    pub run_id: String,
    pub agent_id: String,
    pub session_key: String,
    pub seq: u64,
    /// `tool` | `lifecycle`.
    pub stream: String,
    pub data: Value,
}

/// `agent.wait` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOutcome {
    pub run_id: String,
    /// `ok` | `aborted` | `error` | `timeout` (still running).
    pub status: String,
    pub agent_id: String,
    pub session_key: String,
    /// The assistant text of the run (so far, for `timeout`).
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    #[serde(default)]
    pub steps: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunError {
    pub kind: String,
    pub message: String,
}

/// `agent.wait` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Default 30000, at most a day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl WaitParams {
    pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
    pub const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
            .unwrap_or(Self::DEFAULT_TIMEOUT_MS)
            .min(Self::MAX_TIMEOUT_MS)
    }
}

/// Params naming a session: `chat.history`, `chat.abort`, `sessions.*`.
/// `sessionKey` and `key` are synonyms; empty strings count as absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// `chat.abort`: abort this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `chat.history`: last N records; `sessions.preview`: default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

impl SessionParams {
    /// `sessionKey`, else `key`.
    pub fn session(&self) -> Option<&str> {
        non_empty(&self.session_key).or_else(|| non_empty(&self.key))
    }

    /// `key`, else `sessionKey` (the `sessions.*` spelling first).
    pub fn key_first(&self) -> Option<&str> {
        non_empty(&self.key).or_else(|| non_empty(&self.session_key))
    }

    pub fn agent(&self) -> Option<&str> {
        non_empty(&self.agent_id)
    }

    pub fn run(&self) -> Option<&str> {
        non_empty(&self.run_id)
    }
}

/// `chat.abort` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbortResult {
    pub ok: bool,
    /// The run ids that were cancelled.
    pub aborted: Vec<String>,
}

/// `chat.history` result: upstream's history (the same as
/// [`crate::control_ui::ChatStartupResult`]: canonical `sessionKey`,
/// messages in upstream's shape with our transcript fields kept, `defaults`,
/// `sessionInfo`, `inFlightRun`) plus our `agentId` and `running`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryResult {
    pub agent_id: String,
    pub running: bool,
    #[serde(flatten)]
    pub history: crate::control_ui::ChatStartupResult,
}

/// `sessions.reset` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetResult {
    pub ok: bool,
    pub key: String,
    /// The new session id.
    pub session_id: String,
}

/// `sessions.delete` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteResult {
    pub ok: bool,
    pub key: String,
    pub deleted: bool,
}

/// One agent of `models.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: String,
    pub workspace: String,
    pub model: Option<String>,
    pub fallbacks: Vec<String>,
    pub ready: bool,
    /// Why the agent cannot run.
    pub error: Option<String>,
}

/// One provider of `models.list`; `keySource` says where the key comes
/// from, never the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub id: String,
    pub api: Option<String>,
    pub base_url: Option<String>,
    pub key_source: String,
    pub models: Vec<String>,
    pub error: Option<String>,
}

/// `models.list` result: ours (`defaultAgent`, `agents`, `providers`) and
/// upstream's (`models`, `accountSelection`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelsListResult {
    pub default_agent: String,
    pub agents: Vec<AgentInfo>,
    pub providers: Vec<ProviderInfo>,
    /// Every configured model (upstream's `view: "configured"`).
    #[serde(default)]
    pub models: Vec<crate::control_ui::ModelRow>,
    #[serde(default)]
    pub account_selection: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_event_shape() {
        let e = ChatEvent {
            run_id: "r".into(),
            agent_id: "main".into(),
            session_key: "main".into(),
            seq: 2,
            state: "delta".into(),
            delta: Some("lo".into()),
            delta_text: Some("lo".into()),
            message: Some(ChatMessage {
                timestamp: 7,
                ..ChatMessage::assistant("hello")
            }),
            error_message: None,
            error_kind: None,
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"runId":"r","agentId":"main","sessionKey":"main","seq":2,"state":"delta","delta":"lo","deltaText":"lo",
                   "message":{"role":"assistant","text":"hello","content":[{"type":"text","text":"hello"}],"timestamp":7}})
        );
    }
}
