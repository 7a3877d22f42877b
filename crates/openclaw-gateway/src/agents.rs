//! The gateway's agents: built from the config, rebuilt on hot reload, and
//! the runs they execute for `chat.send` / `agent`.
//!
//! Config read here (from the typed [`openclaw_config::Config`]):
//! - `models.providers.<id>` ([`ProviderConfig::from_config`]); keys come from
//!   `apiKey`, `apiKeyEnv` (looked up in the gateway's own environment) or
//!   `<stateDir>/credentials/<id>.key` (mode 0600);
//! - `agents.defaults.model` (`{primary, fallbacks}`),
//!   `agents.defaults.maxSteps`;
//! - the default agent `main` works in the instance's workspace;
//!   `agents.entries.<id>` adds agents (`workspace`, default
//!   `<stateDir>/workspace-<id>`; `model` overrides the default);
//! - `tools.exec.{enabled,timeoutMs,maxOutputBytes}`;
//! - the `browser` tool talks to this gateway's browser control service
//!   (base+2) with the token it was started with, when that service runs.
//!
//! Sessions live under `<stateDir>/agents/<agentId>/sessions/`. A run keeps
//! the agent it started with; a config change affects new runs only.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use openclaw_agent::{
    Agent, AgentEvent, AgentSpec, ApiKeySource, BrowserTool, CancellationToken, ClientSettings,
    ExecSettings, InstanceTools, KeyResolver, ModelClient, ModelSelection, ProviderConfig,
    RunStatus, RuntimeFacts, SessionStore,
};
use openclaw_instance::Instance;
use openclaw_protocol::chat::{AgentStreamEvent, ChatEvent, ChatMessage, RunError, RunOutcome};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::log::GatewayLog;
use openclaw_config::Config;

/// The id of the default agent.
pub const DEFAULT_AGENT: &str = "main";
/// Finished runs remembered for `agent.wait`.
const KEEP_FINISHED: usize = 256;

pub(crate) use crate::outbox::{ConnTx, Outgoing};

/// One agent as configured (built or not).
pub(crate) struct Slot {
    pub id: String,
    /// `agents.entries.<id>.name`, when set.
    pub name: Option<String>,
    pub workspace: PathBuf,
    pub model: Option<String>,
    pub fallbacks: Vec<String>,
    pub sessions: Arc<SessionStore>,
    /// The built agent, or why it cannot run (shown to the user).
    pub agent: Result<Arc<Agent>, String>,
}

pub(crate) struct ProviderInfo {
    pub id: String,
    pub api: Option<String>,
    pub base_url: Option<String>,
    pub key_source: String,
    pub models: Vec<String>,
    pub error: Option<String>,
}

pub(crate) struct AgentSet {
    pub slots: BTreeMap<String, Slot>,
    pub providers: Vec<ProviderInfo>,
}

impl AgentSet {
    pub fn slot(&self, id: Option<&str>) -> Result<&Slot, String> {
        let id = id.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_AGENT);
        self.slots.get(id).ok_or_else(|| {
            format!(
                "no agent '{id}' on this gateway (agents: {}); add it under agents.entries.{id}",
                self.slots.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

struct RunEntry {
    agent_id: String,
    session_key: String,
    started_at: u64,
    cancel: CancellationToken,
    text: String,
    done: watch::Sender<Option<RunOutcome>>,
}

#[derive(Default)]
struct Runs {
    by_id: HashMap<String, RunEntry>,
    finished: VecDeque<String>,
    idempotency: HashMap<String, String>,
}

type SubKey = (String, String);

pub(crate) struct AgentHub {
    instance: Instance,
    log: Arc<GatewayLog>,
    set: RwLock<Arc<AgentSet>>,
    /// The config sections the current set was built from.
    inputs: Mutex<Inputs>,
    /// Token of this gateway's browser control service; `None` when the
    /// service is off (then agents get no `browser` tool).
    browser_token: RwLock<Option<String>>,
    /// The rescue role's instance tools, given to the agents while
    /// `rescue.enabled` is set.
    instance_tools: Option<Arc<dyn InstanceTools>>,
    runs: Mutex<Runs>,
    subs: Mutex<HashMap<SubKey, Vec<(String, ConnTx)>>>,
    /// Connections that want `sessions.changed` for every session.
    watchers: Mutex<Vec<(String, ConnTx)>>,
    /// Cancelled by the shutdown drain (`drain.rs`) once its deadline has
    /// passed: every run's cancel token is a child of it.
    interrupt: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The config sections agents depend on.
#[derive(PartialEq)]
struct Inputs {
    models: Option<openclaw_config::Models>,
    agents: Option<openclaw_config::Agents>,
    tools: Option<openclaw_config::Tools>,
    /// `rescue.enabled` decides whether agents get the instance tools.
    rescue: bool,
}

fn inputs_of(config: &Config) -> Inputs {
    Inputs {
        models: config.models.clone(),
        agents: config.agents.clone(),
        tools: config.tools.clone(),
        rescue: rescue_enabled(config),
    }
}

fn rescue_enabled(config: &Config) -> bool {
    config.rescue.as_ref().is_some_and(|r| r.enabled())
}

impl AgentHub {
    pub fn new(
        instance: Instance,
        log: Arc<GatewayLog>,
        config: &Config,
        browser_token: Option<String>,
        instance_tools: Option<Arc<dyn InstanceTools>>,
    ) -> Self {
        let set = build(
            &instance,
            config,
            browser_token.as_deref(),
            instance_tools.as_ref(),
        );
        report(&log, &set, "agents configured");
        AgentHub {
            instance,
            log,
            set: RwLock::new(Arc::new(set)),
            inputs: Mutex::new(inputs_of(config)),
            browser_token: RwLock::new(browser_token),
            instance_tools,
            runs: Mutex::new(Runs::default()),
            subs: Mutex::new(HashMap::new()),
            watchers: Mutex::new(Vec::new()),
            interrupt: CancellationToken::new(),
        }
    }

    /// The shutdown-interrupt token. A channel that runs turns itself passes
    /// it to `Agent::run_turn_interruptible` (with a child as the cancel
    /// token); a result whose error kind is `openclaw_agent::INTERRUPTED`
    /// did not answer its inbound message, which must stay unhandled.
    pub fn interrupt_token(&self) -> CancellationToken {
        self.interrupt.clone()
    }

    /// Runs started here that have not finished yet.
    pub fn unfinished_runs(&self) -> usize {
        lock(&self.runs)
            .by_id
            .values()
            .filter(|e| e.done.borrow().is_none())
            .count()
    }

    pub fn current(&self) -> Arc<AgentSet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Rebuilds the agents if their part of the config changed.
    pub fn reload(&self, config: &Config) {
        let next = inputs_of(config);
        {
            let mut cur = lock(&self.inputs);
            if *cur == next {
                return;
            }
            *cur = next;
        }
        self.rebuild(
            config,
            "config reloaded: agents rebuilt (new turns use them)",
        );
    }

    fn rebuild(&self, config: &Config, why: &str) {
        let token = self
            .browser_token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let set = build(
            &self.instance,
            config,
            token.as_deref(),
            self.instance_tools.as_ref(),
        );
        report(&self.log, &set, why);
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }

    /// The gateway's credentials changed: the agents' `browser` tool uses
    /// the new token from the next turn (only if browser control runs).
    pub fn set_browser_token(&self, token: Option<String>, config: &Config) {
        {
            let mut cur = self
                .browser_token
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if cur.is_none() || *cur == token {
                return;
            }
            *cur = token.or_else(|| Some(String::new()));
        }
        self.rebuild(
            config,
            "gateway credentials changed: agents rebuilt with the new browser token",
        );
    }

    pub fn subscribe(&self, agent_id: &str, session_key: &str, conn_id: &str, tx: &ConnTx) {
        let mut subs = lock(&self.subs);
        let v = subs
            .entry((agent_id.to_string(), session_key.to_string()))
            .or_default();
        if !v.iter().any(|(c, _)| c == conn_id) {
            v.push((conn_id.to_string(), tx.clone()));
        }
    }

    /// Stops sending `conn_id` the events of one session.
    pub fn unsubscribe(&self, agent_id: &str, session_key: &str, conn_id: &str) {
        let mut subs = lock(&self.subs);
        let key = (agent_id.to_string(), session_key.to_string());
        if let Some(v) = subs.get_mut(&key) {
            v.retain(|(c, _)| c != conn_id);
            if v.is_empty() {
                subs.remove(&key);
            }
        }
    }

    /// `conn_id` gets `sessions.changed` for every session (the Control
    /// UI's `sessions.subscribe`).
    pub fn subscribe_changes(&self, conn_id: &str, tx: &ConnTx) {
        let mut w = lock(&self.watchers);
        if !w.iter().any(|(c, _)| c == conn_id) {
            w.push((conn_id.to_string(), tx.clone()));
        }
    }

    pub fn unsubscribe_changes(&self, conn_id: &str) {
        lock(&self.watchers).retain(|(c, _)| c != conn_id);
    }

    /// Tells `sessions.subscribe`rs that a session changed (a run started
    /// or ended, it was created, reset or deleted).
    pub fn session_changed(&self, agent_id: &str, session_key: &str, reason: &str) {
        let payload = json!({
            "sessionKey": openclaw_protocol::session_key::canonical(agent_id, session_key),
            "agentId": agent_id,
            "reason": reason,
            "ts": openclaw_agent::session::now_ms(),
        });
        lock(&self.watchers).retain(|(_, tx)| {
            tx.send(Outgoing::Event(
                openclaw_protocol::events::SESSIONS_CHANGED,
                payload.clone(),
            ))
            .is_ok()
        });
    }

    /// The unfinished runs of a session, with their text so far and start.
    pub fn in_flight(&self, agent_id: &str, session_key: &str) -> Vec<(String, String, u64)> {
        lock(&self.runs)
            .by_id
            .iter()
            .filter(|(_, e)| {
                e.agent_id == agent_id && e.session_key == session_key && e.done.borrow().is_none()
            })
            .map(|(id, e)| (id.clone(), e.text.clone(), e.started_at))
            .collect()
    }

    pub fn disconnect(&self, conn_id: &str) {
        let mut subs = lock(&self.subs);
        for v in subs.values_mut() {
            v.retain(|(c, _)| c != conn_id);
        }
        subs.retain(|_, v| !v.is_empty());
        drop(subs);
        self.unsubscribe_changes(conn_id);
    }

    fn emit(&self, agent_id: &str, session_key: &str, event: &'static str, payload: Value) {
        let mut subs = lock(&self.subs);
        if let Some(v) = subs.get_mut(&(agent_id.to_string(), session_key.to_string())) {
            v.retain(|(_, tx)| tx.send(Outgoing::Event(event, payload.clone())).is_ok());
        }
    }

    /// Answers a WebChat command (the rescue role's `/status main`, ...)
    /// without a model: the reply reaches the session's subscribers as a
    /// run of its own (`agent` lifecycle start, one `chat` final, lifecycle
    /// end), so WebChat shows it like an answer. Not recorded in the
    /// session's transcript.
    pub fn command_reply(&self, agent_id: &str, session_key: &str, run_id: &str, text: &str) {
        // Events name the session canonically (`agent:<id>:<key>`).
        let wire_key = openclaw_protocol::session_key::canonical(agent_id, session_key);
        let stream = |seq: u64, data: Value| {
            to_value(&AgentStreamEvent {
                run_id: run_id.to_string(),
                agent_id: agent_id.to_string(),
                session_key: wire_key.clone(),
                seq,
                stream: "lifecycle".into(),
                data,
            })
        };
        let (agent_ev, chat_ev) = (
            openclaw_protocol::events::AGENT,
            openclaw_protocol::events::CHAT,
        );
        self.emit(
            agent_id,
            session_key,
            agent_ev,
            stream(1, json!({"phase": "start", "command": true})),
        );
        let chat = ChatEvent {
            run_id: run_id.to_string(),
            agent_id: agent_id.to_string(),
            session_key: wire_key.clone(),
            seq: 2,
            state: "final".into(),
            delta: None,
            delta_text: None,
            message: Some(ChatMessage::assistant(text)),
            error_message: None,
            error_kind: None,
        };
        self.emit(agent_id, session_key, chat_ev, to_value(&chat));
        self.emit(
            agent_id,
            session_key,
            agent_ev,
            stream(3, json!({"phase": "end", "status": "ok", "command": true})),
        );
    }

    /// The run started earlier with this idempotency key, if any.
    pub fn idempotent(&self, key: Option<&str>) -> Option<(String, String, String)> {
        let key = key?;
        let runs = lock(&self.runs);
        let id = runs.idempotency.get(key)?;
        let e = runs.by_id.get(id)?;
        Some((id.clone(), e.agent_id.clone(), e.session_key.clone()))
    }

    pub fn is_running(&self, agent_id: &str, session_key: &str) -> bool {
        lock(&self.runs).by_id.values().any(|e| {
            e.agent_id == agent_id && e.session_key == session_key && e.done.borrow().is_none()
        })
    }

    /// Starts a turn in the background; returns its run id at once.
    /// `caller` is who the turn runs for, as the connection (WebChat:
    /// `operator.admin` makes it the owner) or the channel (the pipeline's
    /// owner rule) established it; owner-only tools refuse `None`.
    pub fn start_for(
        self: &Arc<Self>,
        agent: Arc<Agent>,
        session_key: String,
        message: String,
        idempotency_key: Option<String>,
        caller: Option<openclaw_agent::Caller>,
    ) -> String {
        // Upstream's clients use their idempotency key as the run id (the
        // Control UI matches events to the message it sent by it); any
        // other key gets a fresh id.
        let run_id = idempotency_key
            .as_deref()
            .filter(|k| usable_run_id(k) && !lock(&self.runs).by_id.contains_key(*k))
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let cancel = self.interrupt.child_token();
        let agent_id = agent.id().to_string();
        {
            let mut runs = lock(&self.runs);
            runs.by_id.insert(
                run_id.clone(),
                RunEntry {
                    agent_id: agent_id.clone(),
                    session_key: session_key.clone(),
                    started_at: openclaw_agent::session::now_ms(),
                    cancel: cancel.clone(),
                    text: String::new(),
                    done: watch::Sender::new(None),
                },
            );
            if let Some(k) = idempotency_key {
                runs.idempotency.insert(k, run_id.clone());
            }
        }
        self.log.info(&format!(
            "agent {agent_id}: run {run_id} started on session '{session_key}'"
        ));
        let hub = self.clone();
        let rid = run_id.clone();
        tokio::spawn(async move {
            hub.drive(agent, rid, session_key, caller, message, cancel)
                .await;
        });
        run_id
    }

    async fn drive(
        self: Arc<Self>,
        agent: Arc<Agent>,
        run_id: String,
        session_key: String,
        caller: Option<openclaw_agent::Caller>,
        message: String,
        cancel: CancellationToken,
    ) {
        let agent_id = agent.id().to_string();
        let (tx, mut rx) = mpsc::channel::<AgentEvent>(256);
        let turn = {
            let (agent, run_id, key) = (agent.clone(), run_id.clone(), session_key.clone());
            let interrupt = self.interrupt.clone();
            tokio::spawn(async move {
                agent
                    .run_turn_for(run_id, &key, caller, &message, tx, cancel, interrupt)
                    .await
            })
        };
        let mut seq: u64 = 0;
        let mut text = String::new();
        let mut error: Option<(String, String)> = None;
        // Events name the session canonically (`agent:<id>:<key>`).
        let wire_key = openclaw_protocol::session_key::canonical(&agent_id, &session_key);
        let chat = |seq: u64, state: &str, text: &str| ChatEvent {
            run_id: run_id.clone(),
            agent_id: agent_id.clone(),
            session_key: wire_key.clone(),
            seq,
            state: state.into(),
            delta: None,
            delta_text: None,
            message: Some(ChatMessage::assistant(text)),
            error_message: None,
            error_kind: None,
        };
        let stream = |seq: u64, stream: &str, data: Value| AgentStreamEvent {
            run_id: run_id.clone(),
            agent_id: agent_id.clone(),
            session_key: wire_key.clone(),
            seq,
            stream: stream.into(),
            data,
        };
        let (agent_ev, chat_ev) = (
            openclaw_protocol::events::AGENT,
            openclaw_protocol::events::CHAT,
        );
        while let Some(ev) = rx.recv().await {
            match ev {
                AgentEvent::RunStarted { session_id, .. } => {
                    self.session_changed(&agent_id, &session_key, "run.started");
                    seq += 1;
                    let e = stream(
                        seq,
                        "lifecycle",
                        json!({"phase": "start", "sessionId": session_id}),
                    );
                    self.emit(&agent_id, &session_key, agent_ev, to_value(&e));
                }
                AgentEvent::TextDelta { text: d } => {
                    text.push_str(&d);
                    if let Some(e) = lock(&self.runs).by_id.get_mut(&run_id) {
                        e.text.push_str(&d);
                    }
                    seq += 1;
                    let mut e = chat(seq, "delta", &text);
                    e.delta_text = Some(d.clone());
                    e.delta = Some(d);
                    self.emit(&agent_id, &session_key, chat_ev, to_value(&e));
                }
                AgentEvent::ToolCall { id, name, args } => {
                    self.log.info(&format!(
                        "agent {agent_id}: run {run_id} calls tool {name} {}",
                        openclaw_agent::excerpt(&args.to_string(), 200)
                    ));
                    seq += 1;
                    let e = stream(
                        seq,
                        "tool",
                        json!({"phase": "call", "toolCallId": id, "name": name, "args": args}),
                    );
                    self.emit(&agent_id, &session_key, agent_ev, to_value(&e));
                }
                AgentEvent::ToolResult {
                    id,
                    name,
                    ok,
                    output,
                } => {
                    if !ok {
                        self.log.warn(&format!(
                            "agent {agent_id}: run {run_id} tool {name} refused/failed: {}",
                            openclaw_agent::excerpt(&output, 300)
                        ));
                    }
                    seq += 1;
                    let e = stream(
                        seq,
                        "tool",
                        json!({"phase": "result", "toolCallId": id, "name": name, "ok": ok, "output": output}),
                    );
                    self.emit(&agent_id, &session_key, agent_ev, to_value(&e));
                }
                AgentEvent::Error { message, kind } => {
                    // Reported with the closing chat event.
                    self.log.warn(&format!(
                        "agent {agent_id}: run {run_id} failed ({kind}): {message}"
                    ));
                    error = Some((kind, message));
                }
                AgentEvent::RunFinished { status, .. } => {
                    let state = match status {
                        RunStatus::Ok => "final",
                        RunStatus::Aborted => "aborted",
                        RunStatus::Error => "error",
                    };
                    seq += 1;
                    let mut e = chat(seq, state, &text);
                    if let Some((kind, msg)) = &error {
                        e.error_kind = Some(kind.clone());
                        e.error_message = Some(msg.clone());
                    }
                    self.emit(&agent_id, &session_key, chat_ev, to_value(&e));
                    seq += 1;
                    let e = stream(seq, "lifecycle", json!({"phase": "end", "status": status}));
                    self.emit(&agent_id, &session_key, agent_ev, to_value(&e));
                }
            }
        }
        let outcome = match turn.await {
            Ok(r) => RunOutcome {
                run_id: run_id.clone(),
                status: match r.status {
                    RunStatus::Ok => "ok",
                    RunStatus::Aborted => "aborted",
                    RunStatus::Error => "error",
                }
                .into(),
                agent_id: agent_id.clone(),
                session_key: wire_key.clone(),
                text: r.text,
                error: r.error.map(|e| RunError {
                    kind: e.kind,
                    message: e.message,
                }),
                steps: r.steps,
            },
            Err(e) => RunOutcome {
                run_id: run_id.clone(),
                status: "error".into(),
                agent_id: agent_id.clone(),
                session_key: wire_key.clone(),
                text,
                error: Some(RunError {
                    kind: "internal".into(),
                    message: format!("the agent run task failed: {e}"),
                }),
                steps: 0,
            },
        };
        self.log.info(&format!(
            "agent {agent_id}: run {run_id} ended: {}",
            outcome.status
        ));
        self.session_changed(&agent_id, &session_key, "run.ended");
        let mut runs = lock(&self.runs);
        if let Some(e) = runs.by_id.get(&run_id) {
            e.done.send_replace(Some(outcome));
        }
        runs.finished.push_back(run_id);
        while runs.finished.len() > KEEP_FINISHED {
            if let Some(old) = runs.finished.pop_front() {
                runs.by_id.remove(&old);
                runs.idempotency.retain(|_, v| *v != old);
            }
        }
    }

    /// Cancels runs; returns the ids cancelled. With `run_id`, that run
    /// only (upstream's rule: a follow-up queued behind it keeps its turn),
    /// and `target`, when given, must be the session it belongs to; without
    /// `run_id`, every unfinished run of `target`. A run cancelled before it
    /// started still records its user message (`openclaw_agent`).
    pub fn abort(
        &self,
        run_id: Option<&str>,
        target: Option<(&str, &str)>,
    ) -> Result<Vec<String>, String> {
        let runs = lock(&self.runs);
        let mut out = Vec::new();
        match run_id {
            Some(id) => {
                let Some(e) = runs.by_id.get(id) else {
                    return Ok(out);
                };
                if let Some((a, k)) = target
                    && (e.agent_id != a || e.session_key != k)
                {
                    return Err(format!(
                        "runId {id} does not match sessionKey {} (it belongs to {})",
                        openclaw_protocol::session_key::canonical(a, k),
                        openclaw_protocol::session_key::canonical(&e.agent_id, &e.session_key)
                    ));
                }
                if e.done.borrow().is_none() && !e.cancel.is_cancelled() {
                    e.cancel.cancel();
                    out.push(id.to_string());
                }
            }
            None => {
                for (id, e) in &runs.by_id {
                    let hit = target.is_some_and(|(a, k)| e.agent_id == a && e.session_key == k);
                    if hit && e.done.borrow().is_none() && !e.cancel.is_cancelled() {
                        e.cancel.cancel();
                        out.push(id.clone());
                    }
                }
            }
        }
        if !out.is_empty() {
            self.log
                .info(&format!("aborting run(s) {}", out.join(", ")));
        }
        Ok(out)
    }

    /// Waits for a run's outcome (or `timeout` while it still runs).
    pub async fn wait(&self, run_id: &str, timeout: Duration) -> Result<RunOutcome, String> {
        let (mut rx, agent_id, key) = {
            let runs = lock(&self.runs);
            let e = runs
                .by_id
                .get(run_id)
                .ok_or_else(|| format!("unknown runId {run_id} (finished runs are remembered for the last {KEEP_FINISHED} runs)"))?;
            (
                e.done.subscribe(),
                e.agent_id.clone(),
                e.session_key.clone(),
            )
        };
        let got = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        if let Ok(Ok(v)) = got
            && let Some(o) = v.clone()
        {
            return Ok(o);
        }
        let text = lock(&self.runs)
            .by_id
            .get(run_id)
            .map(|e| e.text.clone())
            .unwrap_or_default();
        Ok(RunOutcome {
            run_id: run_id.to_string(),
            status: "timeout".into(),
            session_key: openclaw_protocol::session_key::canonical(&agent_id, &key),
            agent_id,
            text,
            error: None,
            steps: 0,
        })
    }
}

/// An idempotency key that can double as a run id (it ends up in logs and
/// transcripts): 1-128 of `[A-Za-z0-9._:-]`.
fn usable_run_id(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 128
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn report(log: &GatewayLog, set: &AgentSet, what: &str) {
    let parts: Vec<String> = set
        .slots
        .values()
        .map(|s| match &s.agent {
            Ok(a) => format!(
                "{} ({}, workspace {})",
                s.id,
                a.models()
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(" → "),
                s.workspace.display()
            ),
            Err(e) => format!("{} (not ready: {e})", s.id),
        })
        .collect();
    log.info(&format!("{what}: {}", parts.join("; ")));
}

fn model_of(v: Option<&openclaw_config::ModelSelection>) -> (Option<String>, Vec<String>) {
    v.map(|m| m.parts()).unwrap_or_default()
}

/// Builds every agent of the config. Never fails: what cannot be built
/// carries its reason. `instance_tools` are given to every agent while
/// `rescue.enabled` is set.
pub(crate) fn build(
    inst: &Instance,
    config: &Config,
    browser_token: Option<&str>,
    instance_tools: Option<&Arc<dyn InstanceTools>>,
) -> AgentSet {
    let instance_tools = instance_tools.filter(|_| rescue_enabled(config));
    let state_dir = inst.state_dir.value.clone();
    let mut providers = Vec::new();
    let mut configs = Vec::new();
    for (id, v) in config.providers() {
        let models = v.models.iter().flatten().map(|m| m.id.clone()).collect();
        match ProviderConfig::from_config(id, v) {
            Ok(p) => {
                providers.push(ProviderInfo {
                    id: id.clone(),
                    api: Some(p.api.as_str().into()),
                    base_url: Some(p.base_url.clone()),
                    key_source: key_source(&p, &state_dir),
                    models,
                    error: None,
                });
                configs.push(p);
            }
            Err(e) => providers.push(ProviderInfo {
                id: id.clone(),
                api: v.api.map(|a| match a {
                    openclaw_config::ProviderApi::OpenaiCompletions => "openai-completions".into(),
                    openclaw_config::ProviderApi::AnthropicMessages => "anthropic-messages".into(),
                }),
                base_url: v.base_url.clone(),
                key_source: "unknown".into(),
                models,
                error: Some(e),
            }),
        }
    }
    let (def_primary, def_fallbacks) = model_of(config.default_model());
    let max_steps = config
        .max_steps()
        .map(|n| n as usize)
        .unwrap_or(openclaw_agent::agent::DEFAULT_MAX_STEPS);
    let mut exec = ExecSettings::default();
    if let Some(e) = config.exec_tool() {
        exec.enabled = e.enabled.unwrap_or(false);
        if let Some(ms) = e.timeout_ms {
            exec.timeout = Duration::from_millis(ms);
        }
        if let Some(n) = e.max_output_bytes {
            exec.max_output_bytes = n as usize;
        }
    }
    let browser: Option<Arc<dyn BrowserTool>> = browser_token.map(|t| {
        Arc::new(GatewayBrowser::new(
            inst.ports.browser_control.value,
            t.to_string(),
        )) as Arc<dyn BrowserTool>
    });
    let env: openclaw_agent::provider::EnvLookup = Arc::new(|k: &str| std::env::var(k).ok());
    let client = ModelClient::new(KeyResolver::new(&state_dir, env), ClientSettings::default());

    // (id, workspace, model override)
    let mut wanted: BTreeMap<String, (PathBuf, Option<&openclaw_config::ModelSelection>)> =
        BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    wanted.insert(DEFAULT_AGENT.into(), (inst.workspace.value.clone(), None));
    {
        for (id, e) in config.agent_entries() {
            let ws = e
                .workspace
                .as_deref()
                .map(|w| inst.expand_home(w))
                .unwrap_or_else(|| {
                    if id == DEFAULT_AGENT {
                        inst.workspace.value.clone()
                    } else {
                        state_dir.join(format!("workspace-{id}"))
                    }
                });
            wanted.insert(id.clone(), (ws, e.model.as_ref()));
            if let Some(n) = e.name.as_ref().filter(|n| !n.trim().is_empty()) {
                names.insert(id.clone(), n.trim().to_string());
            }
        }
    }
    let facts = RuntimeFacts {
        profile: inst.profile.clone(),
        state_dir: state_dir.clone(),
    };
    let mut slots = BTreeMap::new();
    for (id, (workspace, model_override)) in wanted {
        let (primary, fallbacks) = match model_of(model_override) {
            (Some(p), f) => (Some(p), f),
            (None, _) => (def_primary.clone(), def_fallbacks.clone()),
        };
        let agent = match (&primary, &client) {
            (_, Err(e)) => Err(e.message.clone()),
            (None, _) => Err(format!(
                "no model configured for agent {id}: set agents.defaults.model.primary to \"<provider>/<model>\" and the provider under models.providers (e.g. `{}`)",
                inst.command("onboard --non-interactive --accept-risk --auth-choice openai-api-key --openai-api-key-file <path>")
            )),
            (Some(p), Ok(client)) => {
                let spec = AgentSpec {
                    id: id.clone(),
                    workspace: workspace.clone(),
                    model: ModelSelection {
                        primary: p.clone(),
                        fallbacks: fallbacks.clone(),
                    },
                    max_steps,
                    exec: exec.clone(),
                    max_tokens: None,
                };
                Agent::new(
                    spec,
                    facts.clone(),
                    configs.clone(),
                    client.clone(),
                    browser.clone(),
                )
                .map(|a| match instance_tools {
                    Some(t) => a.with_instance_tools(t.clone()),
                    None => a,
                })
                .map(Arc::new)
                .map_err(|e| e.to_string())
            }
        };
        // Same directory lock as the agent's own store.
        let sessions = Arc::new(SessionStore::new(&state_dir, &id));
        slots.insert(
            id.clone(),
            Slot {
                name: names.remove(&id),
                id,
                workspace,
                model: primary,
                fallbacks,
                sessions,
                agent,
            },
        );
    }
    AgentSet { slots, providers }
}

/// Where a provider's key comes from, for `models.list` (never the key).
pub(crate) fn key_source(p: &ProviderConfig, state_dir: &std::path::Path) -> String {
    match &p.api_key {
        ApiKeySource::Config(_) => format!("config models.providers.{}.apiKey", p.id),
        ApiKeySource::Env(v) => format!("env {v}"),
        ApiKeySource::CredentialsFile => format!(
            "file {}",
            openclaw_agent::provider::credentials_path(state_dir, &p.id).display()
        ),
        ApiKeySource::None => "none".into(),
    }
}

/// The `browser` tool: this instance's browser control service
/// (`http://127.0.0.1:<base+2>`, the gateway token).
struct GatewayBrowser {
    client: openclaw_browser::ControlClient,
    url: String,
}

impl GatewayBrowser {
    fn new(port: u16, token: String) -> Self {
        let url = format!("http://127.0.0.1:{port}");
        GatewayBrowser {
            client: openclaw_browser::ControlClient::new(url.clone(), token),
            url,
        }
    }

    fn fail(&self, e: openclaw_browser::ClientError) -> String {
        match e {
            openclaw_browser::ClientError::Unreachable { reason, .. } => format!(
                "this gateway's browser control service at {} is not reachable ({reason}); it runs inside the gateway when browser control is enabled",
                self.url
            ),
            other => other.to_string(),
        }
    }
}

/// The agent's browser may open http(s) pages only. The file tools are
/// confined to the workspace; a `file:` (or `view-source:`, `chrome:`, ...)
/// URL would read around that confinement.
fn agent_url_allowed(url: &str) -> Result<(), String> {
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s.trim().to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("http" | "https")) || url == "about:blank" {
        Ok(())
    } else {
        Err(format!(
            "the browser tool opens http(s) URLs only, not {url:?}: local schemes such as file: could read outside the workspace"
        ))
    }
}

impl BrowserTool for GatewayBrowser {
    fn open(&self, url: &str) -> BoxFuture<'_, Result<String, String>> {
        let url = url.to_string();
        Box::pin(async move {
            agent_url_allowed(&url)?;
            // Launch the instance's browser on first use (a no-op when it runs).
            self.client.start(None).await.map_err(|e| self.fail(e))?;
            let tab = self
                .client
                .open(None, &url)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(serde_json::to_string(&tab).unwrap_or_default())
        })
    }
    fn snapshot(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let s = self
                .client
                .snapshot(None, None)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(serde_json::to_string(&s).unwrap_or_default())
        })
    }
    fn act(&self, action: Value) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let req: openclaw_browser::ActRequest = serde_json::from_value(action)
                .map_err(|e| format!("browser act: invalid request ({e}); e.g. {{\"kind\":\"click\",\"ref\":\"e12\"}}"))?;
            let v = self
                .client
                .act(None, &req)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(v.to_string())
        })
    }
    fn screenshot(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let png = self
                .client
                .screenshot(None, None, false)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(format!("screenshot taken: PNG, {} bytes", png.len()))
        })
    }
}

#[cfg(test)]
mod url_tests {
    use super::agent_url_allowed;

    #[test]
    fn agent_browser_opens_web_pages_only() {
        for ok in [
            "http://127.0.0.1:1/x",
            "HTTPS://example.test/",
            "about:blank",
        ] {
            assert!(agent_url_allowed(ok).is_ok(), "{ok}");
        }
        for bad in [
            "file:///etc/passwd",
            "FILE:///home/u/.ssh/id_rsa",
            "view-source:http://x/",
            "chrome://settings",
            "javascript:alert(1)",
            "data:text/html,x",
            "no-scheme",
        ] {
            let e = agent_url_allowed(bad).unwrap_err();
            assert!(e.contains("http(s) URLs only"), "{bad}: {e}");
        }
    }
}

#[cfg(test)]
mod home_tests {
    use openclaw_instance::{ConfigFacts, Env, GlobalFlags};
    use serde_json::json;

    /// `~` in an agent entry's workspace means the instance's home root
    /// (OPENCLAW_HOME when set), like `agents.defaults.workspace` does.
    #[test]
    fn entry_workspaces_expand_against_the_instance_home() {
        let tmp = tempfile::tempdir().unwrap();
        let oc_home = tmp.path().join("oc-home");
        let env = Env::new(tmp.path().join("user-home"))
            .with("OPENCLAW_HOME", &oc_home.display().to_string());
        let flags = GlobalFlags {
            profile: Some("h".into()),
            dev: false,
        };
        let paths = openclaw_instance::resolve_paths(&flags, &env).unwrap();
        let inst =
            openclaw_instance::resolve(&paths, &ConfigFacts::default(), Some(20000)).unwrap();
        let parsed = json!({"agents": {"entries": {"helper": {"workspace": "~/helper-ws"}}}});
        let config = openclaw_config::validate_value(&parsed, std::path::Path::new("t.json"))
            .unwrap()
            .config;
        let set = super::build(&inst, &config, None, None);
        assert_eq!(set.slots["helper"].workspace, oc_home.join("helper-ws"));
    }
}
