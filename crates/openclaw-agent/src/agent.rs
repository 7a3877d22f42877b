//! The agent: system prompt, tool loop and the turn API the gateway calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::provider::{
    ChatMessage, ErrorKind, ModelClient, ModelEvent, ModelRef, ModelRequest, ModelStream,
    ProviderConfig, ProviderError, ToolCall,
};
use crate::session::{RecordedToolCall, SessionHandle, SessionStore, TranscriptRecord, now_ms};
use crate::tools::{BrowserTool, Caller, ExecSettings, Toolbox, read_beneath};

/// Workspace files that make up the system prompt, in this order.
pub const BOOTSTRAP_FILES: [&str; 4] = ["AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md"];
/// Most characters taken from one bootstrap file.
pub const BOOTSTRAP_FILE_CAP: usize = 20_000;
/// Default bound on model calls per turn.
pub const DEFAULT_MAX_STEPS: usize = 8;

/// `agents.defaults.model` / `agents.entries.<id>.model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSelection {
    /// `"<provider>/<model>"`
    pub primary: String,
    /// Tried in order when the previous one fails with anything but an
    /// auth error, before any output was produced.
    pub fallbacks: Vec<String>,
}

/// Everything that defines one agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    pub id: String,
    pub workspace: PathBuf,
    pub model: ModelSelection,
    pub max_steps: usize,
    pub exec: ExecSettings,
    /// Passed as `max_tokens` (Anthropic default 4096 when `None`).
    pub max_tokens: Option<u32>,
}

impl AgentSpec {
    pub fn new(
        id: impl Into<String>,
        workspace: impl Into<PathBuf>,
        primary: impl Into<String>,
    ) -> Self {
        AgentSpec {
            id: id.into(),
            workspace: workspace.into(),
            model: ModelSelection {
                primary: primary.into(),
                fallbacks: Vec::new(),
            },
            max_steps: DEFAULT_MAX_STEPS,
            exec: ExecSettings::default(),
            max_tokens: None,
        }
    }
}

/// Facts about the gateway instance that go into the system prompt.
#[derive(Debug, Clone)]
pub struct RuntimeFacts {
    /// `None` for the default instance.
    pub profile: Option<String>,
    pub state_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent {agent}: {message}")]
    Config { agent: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Ok,
    Aborted,
    Error,
}

/// Streamed to the gateway during a turn. Serialized with a `type` tag
/// (`run_started`, `text_delta`, ...) and camelCase fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    #[serde(rename_all = "camelCase")]
    RunStarted {
        run_id: String,
        agent_id: String,
        session_key: String,
        session_id: String,
    },
    TextDelta {
        text: String,
    },
    ToolCall {
        id: String,
        name: String,
        args: Value,
    },
    ToolResult {
        id: String,
        name: String,
        ok: bool,
        output: String,
    },
    /// `kind`: one of the provider error kinds (`auth`, `rate_limited`,
    /// `server`, `bad_request`, `timeout`, `network`, `malformed_stream`,
    /// `config`) or `step_limit`, `session`.
    Error {
        message: String,
        kind: String,
    },
    #[serde(rename_all = "camelCase")]
    RunFinished {
        run_id: String,
        status: RunStatus,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnError {
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnResult {
    pub run_id: String,
    /// Empty if the session could not be opened.
    pub session_id: String,
    pub status: RunStatus,
    /// All assistant text streamed in this turn.
    pub text: String,
    pub error: Option<TurnError>,
    /// Model calls made.
    pub steps: usize,
}

/// A configured agent. Share it behind an `Arc`; turns on different session
/// keys run concurrently, turns on the same key are serialized.
pub struct Agent {
    spec: AgentSpec,
    facts: RuntimeFacts,
    models: Vec<ModelRef>,
    providers: HashMap<String, ProviderConfig>,
    client: ModelClient,
    sessions: SessionStore,
    toolbox: Toolbox,
    turn_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("id", &self.spec.id)
            .field("workspace", &self.spec.workspace)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Validates the model refs against `providers` and prepares the
    /// workspace (created if missing) and session store.
    pub fn new(
        spec: AgentSpec,
        facts: RuntimeFacts,
        providers: Vec<ProviderConfig>,
        client: ModelClient,
        browser: Option<Arc<dyn BrowserTool>>,
    ) -> Result<Self, AgentError> {
        let cfg = |message: String| AgentError::Config {
            agent: spec.id.clone(),
            message,
        };
        if spec.id.is_empty()
            || !spec
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(cfg(format!(
                "agent id '{}' must be non-empty and use only letters, digits, '-' and '_'",
                spec.id
            )));
        }
        let providers: HashMap<String, ProviderConfig> =
            providers.into_iter().map(|p| (p.id.clone(), p)).collect();
        let mut models = Vec::new();
        for r in std::iter::once(&spec.model.primary).chain(spec.model.fallbacks.iter()) {
            let m = ModelRef::parse(r).map_err(cfg)?;
            if !providers.contains_key(&m.provider) {
                let mut known: Vec<&str> = providers.keys().map(String::as_str).collect();
                known.sort();
                return Err(cfg(format!(
                    "model '{r}' names provider '{}', which is not configured under models.providers (configured: {})",
                    m.provider,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            models.push(m);
        }
        if spec.max_steps == 0 {
            return Err(cfg("max_steps must be at least 1".into()));
        }
        std::fs::create_dir_all(&spec.workspace).map_err(|e| {
            cfg(format!(
                "cannot create workspace {}: {e}",
                spec.workspace.display()
            ))
        })?;
        let toolbox = Toolbox::new(&spec.id, &spec.workspace, spec.exec.clone(), browser);
        let sessions = SessionStore::new(&facts.state_dir, &spec.id);
        Ok(Agent {
            spec,
            facts,
            models,
            providers,
            client,
            sessions,
            toolbox,
            turn_locks: Mutex::new(HashMap::new()),
        })
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }
    pub fn workspace(&self) -> &Path {
        &self.spec.workspace
    }
    /// Primary first, then fallbacks.
    pub fn models(&self) -> &[ModelRef] {
        &self.models
    }
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }
    pub fn toolbox(&self) -> &Toolbox {
        &self.toolbox
    }

    /// This agent with the instance tools of a rescue instance (see
    /// [`crate::tools::InstanceTools`]).
    pub fn with_instance_tools(mut self, tools: Arc<dyn crate::tools::InstanceTools>) -> Self {
        self.toolbox = self.toolbox.with_instance_tools(tools);
        self
    }

    /// The system prompt for a turn starting at `now`.
    pub fn system_prompt(&self, now: SystemTime) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "You are the agent \"{}\" of an OpenClaw gateway. Answer the user; use tools when they help.\n\n",
            self.spec.id
        ));
        s.push_str("## Runtime\n");
        s.push_str(&format!("- Agent id: {}\n", self.spec.id));
        s.push_str(&format!(
            "- Workspace: {} (file tools take paths relative to it; nothing outside it is reachable)\n",
            self.spec.workspace.display()
        ));
        s.push_str(&format!("- Date (UTC): {}\n", utc_date(now)));
        s.push_str(&format!(
            "- Gateway instance: {}\n",
            match &self.facts.profile {
                Some(p) => format!("profile \"{p}\""),
                None => "default (no profile)".into(),
            }
        ));
        s.push_str(&format!(
            "- State dir: {}\n",
            self.facts.state_dir.display()
        ));
        let names: Vec<String> = self
            .toolbox
            .specs()
            .into_iter()
            .map(|t| {
                if t.name == "exec" && !self.spec.exec.enabled {
                    "exec (disabled)".to_string()
                } else {
                    t.name
                }
            })
            .collect();
        s.push_str(&format!("- Tools: {}\n", names.join(", ")));
        if self.toolbox.has_instance_tools() {
            s.push_str(
                "\n## Rescue\nThis gateway is a rescue instance: the instance_* tools inspect and repair the other OpenClaw instances on this host (name them by profile). Diagnose with instance_status, instance_logs and instance_doctor first. Changes (instance_config_patch, instance_restart) are not carried out by the tool: it answers with a confirmation code, and the owner must send /confirm <code> in this chat. Tell the owner the exact code and what it will do.\n",
            );
        }
        let mut files = String::new();
        for name in BOOTSTRAP_FILES {
            let Ok(bytes) = read_beneath(&self.spec.workspace, name) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            let total = text.chars().count();
            files.push_str(&format!("\n### {name}\n"));
            if total > BOOTSTRAP_FILE_CAP {
                files.extend(text.chars().take(BOOTSTRAP_FILE_CAP));
                files.push_str(&format!(
                    "\n[{name} truncated: {BOOTSTRAP_FILE_CAP} of {total} characters]\n"
                ));
            } else {
                files.push_str(text.trim_end());
                files.push('\n');
            }
        }
        if !files.is_empty() {
            s.push_str("\n## Workspace files\n");
            s.push_str(&files);
        }
        s
    }

    fn turn_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.turn_locks.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key.to_string()).or_default().clone()
    }

    async fn open_stream(
        &self,
        base: &ModelRequest,
    ) -> Result<(ModelRef, ModelStream), ProviderError> {
        let mut last = None;
        for (i, m) in self.models.iter().enumerate() {
            let p = &self.providers[&m.provider];
            let mut req = base.clone();
            req.model = m.model.clone();
            match self.client.stream(p, &req).await {
                Ok(s) => return Ok((m.clone(), s)),
                Err(e) if e.kind == ErrorKind::Auth => return Err(e),
                Err(e) => {
                    if let Some(next) = self.models.get(i + 1) {
                        tracing::warn!(agent = %self.spec.id, model = %m, fallback = %next, error = %e, "model failed; trying fallback");
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.expect("at least one model"))
    }

    /// Run one turn: record the user message, call the model, run tools
    /// until a final answer (or the step limit), streaming events.
    /// Cancelling `cancel` stops promptly and records the partial answer.
    pub async fn run_turn(
        &self,
        session_key: &str,
        user_message: &str,
        events: mpsc::Sender<AgentEvent>,
        cancel: CancellationToken,
    ) -> TurnResult {
        let run_id = uuid::Uuid::new_v4().to_string();
        self.run_turn_as(run_id, session_key, user_message, events, cancel)
            .await
    }

    /// [`Agent::run_turn`] with a run id chosen by the caller (the gateway
    /// answers `chat.send` with the run id before the turn starts).
    pub async fn run_turn_as(
        &self,
        run_id: String,
        session_key: &str,
        user_message: &str,
        events: mpsc::Sender<AgentEvent>,
        cancel: CancellationToken,
    ) -> TurnResult {
        self.run_turn_interruptible(
            run_id,
            session_key,
            user_message,
            events,
            cancel,
            CancellationToken::new(),
        )
        .await
    }

    /// [`Agent::run_turn_as`] that knows why it may be cancelled: when
    /// `interrupt` is cancelled (the gateway shuts down) and the turn is cut
    /// off, the transcript gets an `error` record of kind
    /// [`INTERRUPTED`] after the partial answer, and the result carries
    /// that error, so a caller answering a channel message knows the
    /// message was not answered. `cancel` must be cancelled too (e.g. a
    /// child of `interrupt`).
    pub async fn run_turn_interruptible(
        &self,
        run_id: String,
        session_key: &str,
        user_message: &str,
        events: mpsc::Sender<AgentEvent>,
        cancel: CancellationToken,
        interrupt: CancellationToken,
    ) -> TurnResult {
        self.run_turn_for(
            run_id,
            session_key,
            None,
            user_message,
            events,
            cancel,
            interrupt,
        )
        .await
    }

    /// [`Agent::run_turn_interruptible`] for a caller (who the turn runs
    /// for, as whoever started it established it: the instance tools act
    /// only for an owner; `None` is nobody's).
    #[allow(clippy::too_many_arguments)]
    pub async fn run_turn_for(
        &self,
        run_id: String,
        session_key: &str,
        caller: Option<Caller>,
        user_message: &str,
        events: mpsc::Sender<AgentEvent>,
        cancel: CancellationToken,
        interrupt: CancellationToken,
    ) -> TurnResult {
        let mut t = Turn {
            agent: self,
            run_id: run_id.clone(),
            events,
            text: String::new(),
            steps: 0,
            handle: None,
            interrupt,
        };
        let lock = self.turn_lock(session_key);
        let _guard = tokio::select! {
            g = lock.lock() => g,
            _ = cancel.cancelled() => {
                // Stopped while queued behind another turn of this session.
                // The message was accepted, so it is not lost: once the
                // session is free it is recorded with an empty, aborted
                // answer (the model is not called). A gateway shutdown is
                // different: the caller keeps the message unanswered and
                // resumes it after the restart.
                if t.interrupt.is_cancelled() {
                    return t.finish(RunStatus::Aborted, None).await;
                }
                let interrupt = t.interrupt.clone();
                let _g = tokio::select! {
                    g = lock.lock() => g,
                    _ = interrupt.cancelled() => return t.finish(RunStatus::Aborted, None).await,
                };
                return self.record_unstarted(t, session_key, user_message).await;
            }
        };
        let h = match self.sessions.open(session_key) {
            Ok(h) => h,
            Err(e) => {
                return t
                    .fail(
                        "session",
                        format!("cannot open session '{session_key}': {e}"),
                    )
                    .await;
            }
        };
        t.handle = Some(h.clone());
        t.emit(AgentEvent::RunStarted {
            run_id: run_id.clone(),
            agent_id: self.spec.id.clone(),
            session_key: session_key.to_string(),
            session_id: h.session_id.clone(),
        })
        .await;
        let history = match self.sessions.history(session_key, None) {
            Ok(h) => h,
            Err(e) => {
                return t
                    .fail(
                        "session",
                        format!("cannot read session '{session_key}': {e}"),
                    )
                    .await;
            }
        };
        if let Err(e) = t.record(TranscriptRecord::User {
            run_id: run_id.clone(),
            ts: now_ms(),
            text: user_message.to_string(),
        }) {
            return t.fail("session", e).await;
        }
        let mut messages = transcript_to_messages(&history);
        messages.push(ChatMessage::User {
            text: user_message.to_string(),
        });
        let base = ModelRequest {
            model: String::new(),
            system: self.system_prompt(SystemTime::now()),
            messages: Vec::new(),
            tools: self.toolbox.specs(),
            max_tokens: self.spec.max_tokens,
        };

        loop {
            if t.steps >= self.spec.max_steps {
                let msg = format!(
                    "stopped after {} model steps without a final answer (the tool-step limit); ask again with a narrower request, or raise the agent's step limit",
                    self.spec.max_steps
                );
                return t.fail("step_limit", msg).await;
            }
            t.steps += 1;
            let mut req = base.clone();
            req.messages = messages.clone();
            let opened = tokio::select! {
                r = self.open_stream(&req) => r,
                _ = cancel.cancelled() => return t.finish(RunStatus::Aborted, None).await,
            };
            let (model, mut stream) = match opened {
                Ok(x) => x,
                Err(e) => return t.fail(e.kind.as_str(), e.message).await,
            };
            let mut text = String::new();
            let mut calls: Vec<ToolCall> = Vec::new();
            let mut stop: Option<String> = None;
            loop {
                let next = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {
                        drop(stream);
                        if let Err(e) = t.record_assistant(&model, &text, &[], None, true, false) {
                            return t.fail("session", e).await;
                        }
                        return t.finish(RunStatus::Aborted, None).await;
                    }
                    n = stream.next() => n,
                };
                match next {
                    Some(Ok(ModelEvent::TextDelta(d))) => {
                        text.push_str(&d);
                        t.text.push_str(&d);
                        t.emit(AgentEvent::TextDelta { text: d }).await;
                    }
                    Some(Ok(ModelEvent::ToolCall(c))) => calls.push(c),
                    Some(Ok(ModelEvent::Done { stop_reason, .. })) => stop = Some(stop_reason),
                    Some(Err(e)) => {
                        if !text.is_empty()
                            && let Err(se) =
                                t.record_assistant(&model, &text, &[], None, false, true)
                        {
                            return t.fail("session", se).await;
                        }
                        return t.fail(e.kind.as_str(), e.message).await;
                    }
                    None => break,
                }
            }
            if stop.is_none() {
                return t
                    .fail(
                        ErrorKind::MalformedStream.as_str(),
                        format!(
                            "provider {} ended the answer without a stop reason",
                            model.provider
                        ),
                    )
                    .await;
            }
            if let Err(e) = t.record_assistant(&model, &text, &calls, stop.clone(), false, false) {
                return t.fail("session", e).await;
            }
            messages.push(ChatMessage::Assistant {
                text,
                tool_calls: calls.clone(),
            });
            if calls.is_empty() {
                return t.finish(RunStatus::Ok, None).await;
            }
            for c in calls {
                t.emit(AgentEvent::ToolCall {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    args: c.arguments.clone(),
                })
                .await;
                let out = self
                    .toolbox
                    .call_in(session_key, caller.as_ref(), &c.name, &c.arguments, &cancel)
                    .await;
                if let Err(e) = t.record(TranscriptRecord::ToolResult {
                    run_id: run_id.clone(),
                    ts: now_ms(),
                    id: c.id.clone(),
                    name: c.name.clone(),
                    ok: out.ok,
                    output: out.output.clone(),
                }) {
                    return t.fail("session", e).await;
                }
                t.emit(AgentEvent::ToolResult {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    ok: out.ok,
                    output: out.output.clone(),
                })
                .await;
                messages.push(ChatMessage::ToolResult {
                    call_id: c.id,
                    name: c.name,
                    output: out.output,
                    is_error: !out.ok,
                });
                if cancel.is_cancelled() {
                    return t.finish(RunStatus::Aborted, None).await;
                }
            }
        }
    }
}

impl Agent {
    /// A turn stopped before it started: its user message and an empty
    /// aborted answer go into the transcript (the caller holds the
    /// session's turn lock).
    async fn record_unstarted(
        &self,
        mut t: Turn<'_>,
        session_key: &str,
        user_message: &str,
    ) -> TurnResult {
        let h = match self.sessions.open(session_key) {
            Ok(h) => h,
            Err(e) => {
                return t
                    .fail(
                        "session",
                        format!("cannot open session '{session_key}': {e}"),
                    )
                    .await;
            }
        };
        t.handle = Some(h.clone());
        t.emit(AgentEvent::RunStarted {
            run_id: t.run_id.clone(),
            agent_id: self.spec.id.clone(),
            session_key: session_key.to_string(),
            session_id: h.session_id.clone(),
        })
        .await;
        if let Err(e) = t.record(TranscriptRecord::User {
            run_id: t.run_id.clone(),
            ts: now_ms(),
            text: user_message.to_string(),
        }) {
            return t.fail("session", e).await;
        }
        let model = self.models[0].clone();
        if let Err(e) = t.record_assistant(&model, "", &[], None, true, false) {
            return t.fail("session", e).await;
        }
        t.finish(RunStatus::Aborted, None).await
    }
}

/// Free-function form of [`Agent::run_turn`].
pub async fn run_turn(
    agent: &Agent,
    session_key: &str,
    user_message: &str,
    events: mpsc::Sender<AgentEvent>,
    cancel: CancellationToken,
) -> TurnResult {
    agent
        .run_turn(session_key, user_message, events, cancel)
        .await
}

struct Turn<'a> {
    agent: &'a Agent,
    run_id: String,
    events: mpsc::Sender<AgentEvent>,
    text: String,
    steps: usize,
    handle: Option<SessionHandle>,
    /// Cancelled when the gateway shuts down (see [`INTERRUPTED`]).
    interrupt: CancellationToken,
}

/// Error kind of a turn cut off by a gateway shutdown: recorded in the
/// transcript and returned in [`TurnResult::error`].
pub const INTERRUPTED: &str = "interrupted";

impl Turn<'_> {
    async fn emit(&self, ev: AgentEvent) {
        // A gone receiver (client disconnected) does not stop the turn.
        let _ = self.events.send(ev).await;
    }

    fn record(&self, rec: TranscriptRecord) -> Result<(), String> {
        let Some(h) = &self.handle else {
            return Ok(());
        };
        self.agent
            .sessions
            .append(h, &rec)
            .map_err(|e| format!("cannot write the session transcript: {e}"))
    }

    fn record_assistant(
        &self,
        model: &ModelRef,
        text: &str,
        calls: &[ToolCall],
        stop_reason: Option<String>,
        aborted: bool,
        incomplete: bool,
    ) -> Result<(), String> {
        self.record(TranscriptRecord::Assistant {
            run_id: self.run_id.clone(),
            ts: now_ms(),
            model: model.to_string(),
            text: text.to_string(),
            tool_calls: calls
                .iter()
                .map(|c| RecordedToolCall {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    args: c.arguments.clone(),
                })
                .collect(),
            stop_reason,
            aborted,
            incomplete,
        })
    }

    async fn fail(&mut self, kind: &str, message: String) -> TurnResult {
        tracing::warn!(agent = %self.agent.spec.id, run = %self.run_id, kind, %message, "agent turn failed");
        if let Err(e) = self.record(TranscriptRecord::Error {
            run_id: self.run_id.clone(),
            ts: now_ms(),
            kind: kind.to_string(),
            message: message.clone(),
        }) {
            tracing::error!(agent = %self.agent.spec.id, error = %e, "could not record the error in the transcript");
        }
        self.emit(AgentEvent::Error {
            message: message.clone(),
            kind: kind.to_string(),
        })
        .await;
        let err = TurnError {
            kind: kind.to_string(),
            message,
        };
        self.finish(RunStatus::Error, Some(err)).await
    }

    async fn finish(&mut self, status: RunStatus, mut error: Option<TurnError>) -> TurnResult {
        if status == RunStatus::Aborted && self.interrupt.is_cancelled() && self.handle.is_some() {
            let message =
                "the gateway shut down before this turn finished; the answer above is partial"
                    .to_string();
            if let Err(e) = self.record(TranscriptRecord::Error {
                run_id: self.run_id.clone(),
                ts: now_ms(),
                kind: INTERRUPTED.into(),
                message: message.clone(),
            }) {
                tracing::error!(agent = %self.agent.spec.id, error = %e, "could not record the interruption in the transcript");
            }
            error = Some(TurnError {
                kind: INTERRUPTED.into(),
                message,
            });
        }
        self.emit(AgentEvent::RunFinished {
            run_id: self.run_id.clone(),
            status,
        })
        .await;
        TurnResult {
            run_id: self.run_id.clone(),
            session_id: self
                .handle
                .as_ref()
                .map(|h| h.session_id.clone())
                .unwrap_or_default(),
            status,
            text: std::mem::take(&mut self.text),
            error,
            steps: self.steps,
        }
    }
}

/// Rebuild the model conversation from a transcript. Tool calls without a
/// recorded result (an aborted or failed run) get a synthetic error result,
/// and results without a matching call are dropped, so every provider
/// accepts the history.
pub fn transcript_to_messages(recs: &[TranscriptRecord]) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    let mut open: Vec<(String, String)> = Vec::new();
    fn close(out: &mut Vec<ChatMessage>, open: &mut Vec<(String, String)>) {
        for (id, name) in open.drain(..) {
            out.push(ChatMessage::ToolResult {
                call_id: id,
                name,
                output: "this tool call did not complete (the run was aborted or failed)".into(),
                is_error: true,
            });
        }
    }
    for r in recs {
        match r {
            TranscriptRecord::User { text, .. } => {
                close(&mut out, &mut open);
                out.push(ChatMessage::User { text: text.clone() });
            }
            TranscriptRecord::Assistant {
                text, tool_calls, ..
            } => {
                close(&mut out, &mut open);
                if text.is_empty() && tool_calls.is_empty() {
                    continue;
                }
                open = tool_calls
                    .iter()
                    .map(|c| (c.id.clone(), c.name.clone()))
                    .collect();
                out.push(ChatMessage::Assistant {
                    text: text.clone(),
                    tool_calls: tool_calls
                        .iter()
                        .map(|c| ToolCall {
                            id: c.id.clone(),
                            name: c.name.clone(),
                            arguments: c.args.clone(),
                        })
                        .collect(),
                });
            }
            TranscriptRecord::ToolResult {
                id,
                name,
                ok,
                output,
                ..
            } => {
                if let Some(pos) = open.iter().position(|(oid, _)| oid == id) {
                    open.remove(pos);
                    out.push(ChatMessage::ToolResult {
                        call_id: id.clone(),
                        name: name.clone(),
                        output: output.clone(),
                        is_error: !ok,
                    });
                }
            }
            TranscriptRecord::Error { .. } | TranscriptRecord::Session { .. } => {}
        }
    }
    close(&mut out, &mut open);
    out
}

/// `YYYY-MM-DD` (UTC) for `t`.
pub fn utc_date(t: SystemTime) -> String {
    let days = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil-from-days (proleptic Gregorian), after H. Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01");
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29"
        );
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(1_767_225_599)),
            "2025-12-31"
        );
    }

    #[test]
    fn unfinished_tool_calls_get_synthetic_results() {
        let recs = vec![
            TranscriptRecord::User {
                run_id: "r".into(),
                ts: 0,
                text: "hi".into(),
            },
            TranscriptRecord::Assistant {
                run_id: "r".into(),
                ts: 0,
                model: "p/m".into(),
                text: String::new(),
                tool_calls: vec![RecordedToolCall {
                    id: "c1".into(),
                    name: "read".into(),
                    args: serde_json::json!({}),
                }],
                stop_reason: None,
                aborted: false,
                incomplete: false,
            },
            TranscriptRecord::ToolResult {
                run_id: "r".into(),
                ts: 0,
                id: "zz".into(),
                name: "x".into(),
                ok: true,
                output: "orphan".into(),
            },
            TranscriptRecord::Error {
                run_id: "r".into(),
                ts: 0,
                kind: "server".into(),
                message: "boom".into(),
            },
            TranscriptRecord::User {
                run_id: "r2".into(),
                ts: 0,
                text: "again".into(),
            },
        ];
        let m = transcript_to_messages(&recs);
        assert_eq!(m.len(), 4);
        assert!(
            matches!(&m[2], ChatMessage::ToolResult { call_id, is_error: true, .. } if call_id == "c1")
        );
        assert!(matches!(&m[3], ChatMessage::User { text } if text == "again"));
    }
}
