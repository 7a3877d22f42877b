//! The methods OpenClaw's Control UI calls that are not part of our own
//! CLI/WebChat surface: agents, session rows and subscriptions, chat
//! start-up, models auth, system info, preferences, devices, and the valid
//! empty answers for features this gateway does not have
//! (`openclaw_protocol::control_ui::empty_answer`). Shapes are in
//! `openclaw_protocol::control_ui`.

use std::path::{Path, PathBuf};

use openclaw_agent::session::SessionSummary;
use openclaw_protocol::control_ui::{
    AgentIdentityResult, AgentModel, AgentRow, AgentsListResult, ChannelsPairingListResult,
    ChannelsStatusResult, ChatHistoryParams, ChatMetadataResult, ChatStartupResult,
    DevicePairChangeResult, DevicePairListResult, DevicePairParams, DiskRow, InFlightRun,
    KeySource, ModelRow, ModelsAuthStatusResult, PairedDeviceRow, PairingAccountRow,
    PairingRequestRow, PendingDeviceRow, PrefsGetParams, PrefsResult, PrefsSetParams,
    ProcessMemory, ProjectRow, ProjectsListResult, ProviderAuthRow, SessionDefaults,
    SessionEntryInfo, SessionKeyParams, SessionRow, SessionsCreateParams, SessionsCreateResult,
    SessionsDescribeResult, SessionsListParams, SessionsListResult, SessionsPatchParams,
    SessionsPatchResult, SystemInfoResult, account_selection, channel_label, empty_answer,
    messages_subscribed, messages_unsubscribed, no_pending_inputs, subscribed, thinking_off,
    transcript_message,
};
use openclaw_protocol::{ErrorShape, codes, session_key};
use serde_json::{Map, Value, json};

use crate::agents::{AgentHub, AgentSet, DEFAULT_AGENT, Slot};
use crate::methods::{Call, Reply};

fn bad(msg: impl Into<String>) -> ErrorShape {
    ErrorShape::invalid_request(msg)
}

fn unavailable(msg: impl Into<String>) -> ErrorShape {
    ErrorShape::new(codes::UNAVAILABLE, msg)
}

fn now_ms() -> u64 {
    openclaw_agent::session::now_ms()
}

/// Control UI state kept by the gateway: the user's UI preferences
/// (`users.prefs.*`, `<stateDir>/control-ui/prefs.json`).
pub(crate) struct UiState {
    prefs: PathBuf,
}

impl UiState {
    pub fn new(state_dir: &Path) -> Self {
        UiState {
            prefs: state_dir.join("control-ui/prefs.json"),
        }
    }
}

// ---------------------------------------------------------------- sessions

/// The session a request names: `agent:<id>:<key>` or a bare key of
/// `agentId` (default agent). A canonical key naming another agent than
/// `agentId` is an error.
pub(crate) fn resolve<'a>(
    set: &'a AgentSet,
    key: Option<&str>,
    agent: Option<&str>,
) -> Result<(&'a Slot, String), ErrorShape> {
    let key = key.filter(|k| !k.is_empty()).unwrap_or(DEFAULT_AGENT);
    let r = session_key::parse_client(key).map_err(bad)?;
    let agent = agent.filter(|a| !a.is_empty());
    if let (Some(a), Some(b)) = (r.agent, agent)
        && a != b
    {
        return Err(bad(format!(
            "session {key} belongs to agent {a}, not agentId {b}"
        )));
    }
    let slot = set.slot(r.agent.or(agent)).map_err(bad)?;
    Ok((slot, r.key.to_string()))
}

pub(crate) fn defaults(slot: &Slot) -> SessionDefaults {
    let (provider, model) = split_model(slot.model.as_deref());
    SessionDefaults {
        model_provider: provider,
        model,
        thinking_levels: thinking_off(),
        thinking_options: vec!["off".into()],
        thinking_default: "off".into(),
        model_selection_target: "session".into(),
    }
}

fn split_model(m: Option<&str>) -> (Option<String>, Option<String>) {
    match m.and_then(|m| m.split_once('/')) {
        Some((p, m)) => (Some(p.to_string()), Some(m.to_string())),
        None => (None, m.map(str::to_string)),
    }
}

/// One session as a row of `sessions.list`.
pub(crate) fn session_row(hub: &AgentHub, slot: &Slot, s: &SessionSummary) -> SessionRow {
    let runs: Vec<String> = hub
        .in_flight(&slot.id, &s.key)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    let running = !runs.is_empty();
    let (provider, model) = split_model(slot.model.as_deref());
    let is_main = s.key == DEFAULT_AGENT;
    let e = &s.entry;
    SessionRow {
        key: session_key::canonical(&slot.id, &s.key),
        session_id: e.session_id.clone(),
        agent_id: slot.id.clone(),
        kind: "direct".into(),
        classification: if is_main { "main" } else { "dashboard" }.into(),
        is_main,
        is_background: false,
        chat_type: "direct".into(),
        created_at: e.created_at,
        updated_at: e.updated_at,
        last_interaction_at: e.updated_at,
        derived_title: (!e.title.is_empty()).then(|| e.title.clone()),
        last_message_preview: (!e.preview.is_empty()).then(|| e.preview.clone()),
        status: if running { "running" } else { "done" }.into(),
        has_active_run: running,
        active_run_ids: runs,
        archived: false,
        pinned: false,
        unread: false,
        aborted_last_run: false,
        visibility: "shared".into(),
        model_provider: provider,
        model,
        thinking_levels: thinking_off(),
        thinking_options: vec!["off".into()],
        thinking_default: "off".into(),
        title: e.title.clone(),
        preview: e.preview.clone(),
        message_count: e.message_count,
        running,
    }
}

/// `sessions.list`: one agent's sessions (`agentId`), or every agent's,
/// most recently updated first.
pub(crate) async fn sessions_list(c: Call) -> Reply {
    Reply::of(sessions_list_result(&c))
}

fn sessions_list_result(c: &Call) -> Result<SessionsListResult, ErrorShape> {
    let p: SessionsListParams = c.params("{agentId?, limit?, spawnedBy?}")?;
    let hub = c.state.agents();
    let set = hub.current();
    let one = p.agent_id.as_deref().filter(|a| !a.is_empty());
    let main = set.slot(one).map_err(bad)?;
    let slots: Vec<&Slot> = match one {
        Some(_) => vec![main],
        None => set.slots.values().collect(),
    };
    let mut rows = Vec::new();
    // We spawn no sub-sessions: "sessions spawned by X" is always empty.
    if p.spawned_by.is_none() {
        for slot in &slots {
            let list = slot.sessions.list().map_err(|e| {
                unavailable(format!("cannot list sessions of agent {}: {e}", slot.id))
            })?;
            rows.extend(list.iter().map(|s| session_row(hub, slot, s)));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.updated_at));
    let total = rows.len();
    let limit = p.limit.unwrap_or(usize::MAX).max(1);
    rows.truncate(limit);
    let dir = main.sessions.dir().display().to_string();
    Ok(SessionsListResult {
        ts: now_ms(),
        path: if slots.len() == 1 {
            dir.clone()
        } else {
            "(multiple)".into()
        },
        count: rows.len(),
        total_count: total,
        limit_applied: p.limit.unwrap_or(total),
        next_offset: None,
        has_more: total > rows.len(),
        owners: Vec::new(),
        defaults: defaults(main),
        sessions: rows,
        agent_id: main.id.clone(),
        dir,
    })
}

fn describe(
    c: &Call,
    key: Option<&str>,
    agent: Option<&str>,
) -> Result<Option<SessionRow>, ErrorShape> {
    let hub = c.state.agents();
    let set = hub.current();
    let (slot, k) = resolve(&set, key, agent)?;
    let s = slot
        .sessions
        .get(&k)
        .map_err(|e| unavailable(format!("cannot read session '{k}': {e}")))?;
    Ok(s.map(|s| session_row(hub, slot, &s)))
}

/// `sessions.describe {key, agentId?}`: the row, or `null` before the
/// session exists.
pub(crate) async fn sessions_describe(c: Call) -> Reply {
    Reply::of((|| {
        let p: SessionKeyParams = c.params("{key, agentId?}")?;
        let Some(key) = p.key() else {
            return Err(bad("sessions.describe needs params.key (a session key)"));
        };
        Ok(SessionsDescribeResult {
            session: describe(&c, Some(key), p.agent_id.as_deref())?,
        })
    })())
}

/// `sessions.subscribe`: `sessions.changed` for every session.
pub(crate) async fn sessions_subscribe(c: Call) -> Reply {
    c.state.agents().subscribe_changes(&c.conn.id, &c.conn.tx);
    Reply::Now(Ok(subscribed(true)))
}

pub(crate) async fn sessions_unsubscribe(c: Call) -> Reply {
    c.state.agents().unsubscribe_changes(&c.conn.id);
    Reply::Now(Ok(subscribed(false)))
}

/// `sessions.messages.subscribe {key}`: this session's `chat`/`agent`
/// events. We have no approvals, so the replay is always empty.
pub(crate) async fn messages_subscribe(c: Call) -> Reply {
    Reply::of((|| {
        let p: SessionKeyParams = c.params("{key, agentId?}")?;
        let hub = c.state.agents();
        let set = hub.current();
        let (slot, k) = resolve(&set, p.key(), p.agent_id.as_deref())?;
        hub.subscribe(&slot.id, &k, &c.conn.id, &c.conn.tx);
        Ok(messages_subscribed(
            &session_key::canonical(&slot.id, &k),
            now_ms(),
        ))
    })())
}

pub(crate) async fn messages_unsubscribe(c: Call) -> Reply {
    Reply::of((|| {
        let p: SessionKeyParams = c.params("{key, agentId?}")?;
        let hub = c.state.agents();
        let set = hub.current();
        let (slot, k) = resolve(&set, p.key(), p.agent_id.as_deref())?;
        hub.unsubscribe(&slot.id, &k, &c.conn.id);
        Ok(messages_unsubscribed(&session_key::canonical(&slot.id, &k)))
    })())
}

/// `sessions.create {agentId?, key?, message?}`: a new session (key
/// `agent:<id>:dashboard:<uuid>` unless given), and a first turn when a
/// message is given.
pub(crate) async fn sessions_create(c: Call) -> Reply {
    let r = sessions_create_result(&c).await;
    Reply::of(r)
}

async fn sessions_create_result(c: &Call) -> Result<SessionsCreateResult, ErrorShape> {
    let p: SessionsCreateParams = c.params("{agentId?, key?, message?, idempotencyKey?}")?;
    let hub = c.state.agents().clone();
    let set = hub.current();
    let fresh = format!("dashboard:{}", uuid::Uuid::new_v4());
    let (slot, key) = resolve(
        &set,
        Some(p.key.as_deref().unwrap_or(&fresh)),
        p.agent_id.as_deref(),
    )?;
    if let Some(k) = p.key.as_deref()
        && slot
            .sessions
            .get(&key)
            .map_err(|e| unavailable(e.to_string()))?
            .is_some()
    {
        return Err(ErrorShape::new(
            codes::CONFLICT,
            format!("session {k} already exists"),
        ));
    }
    let store = slot.sessions.clone();
    let k = key.clone();
    let handle = tokio::task::spawn_blocking(move || store.open(&k))
        .await
        .map_err(|e| ErrorShape::new(codes::INTERNAL, e.to_string()))?
        .map_err(|e| unavailable(format!("cannot create session '{key}': {e}")))?;
    let summary = slot
        .sessions
        .get(&key)
        .map_err(|e| unavailable(e.to_string()))?;
    let mut out = SessionsCreateResult {
        ok: true,
        key: session_key::canonical(&slot.id, &key),
        session_id: handle.session_id.clone(),
        entry: SessionEntryInfo {
            session_id: handle.session_id,
            created_at: summary
                .as_ref()
                .map(|s| s.entry.created_at)
                .unwrap_or_else(now_ms),
            updated_at: summary
                .as_ref()
                .map(|s| s.entry.updated_at)
                .unwrap_or_else(now_ms),
        },
        run_started: false,
        run_id: None,
        status: None,
    };
    c.state
        .log()
        .info(&format!("agent {}: session '{key}' created", slot.id));
    hub.session_changed(&slot.id, &key, "created");
    if let Some(message) = p.message.filter(|m| !m.trim().is_empty()) {
        let agent = match &slot.agent {
            Ok(a) => a.clone(),
            Err(e) => return Err(unavailable(format!("agent {}: {e}", slot.id))),
        };
        hub.subscribe(&slot.id, &key, &c.conn.id, &c.conn.tx);
        let caller = crate::chat::webchat_caller(c, &key);
        let run_id = hub.start_for(agent, key.clone(), message, p.idempotency_key, Some(caller));
        out.run_started = true;
        out.run_id = Some(run_id);
        out.status = Some("started".into());
    }
    Ok(out)
}

/// `sessions.patch`: we keep no per-session UI state besides the
/// transcript, so only "mark as read" (which is always true here) is
/// accepted; any other change is refused by name rather than dropped.
pub(crate) async fn sessions_patch(c: Call) -> Reply {
    Reply::of((|| {
        let p: SessionsPatchParams = c.params("{key, agentId?, unread?}")?;
        let Some(key) = p.key.as_deref().filter(|k| !k.is_empty()) else {
            return Err(bad("sessions.patch needs params.key (a session key)"));
        };
        const ENVELOPE: [&str; 5] = [
            "expectedSessionId",
            "expectedLifecycleRevision",
            "expectedPermissionMode",
            "expectedMarkedUnreadAt",
            "sessionKey",
        ];
        let hub = c.state.agents();
        let set = hub.current();
        let (slot, k) = resolve(&set, Some(key), p.agent_id.as_deref())?;
        for (field, v) in &p.rest {
            // Choosing the agent's own model (or none) changes nothing.
            let same_model =
                field == "model" && (v.is_null() || v.as_str() == slot.model.as_deref());
            let fine = ENVELOPE.contains(&field.as_str())
                || (field == "unread" && *v == json!(false))
                || same_model;
            if !fine {
                return Err(bad(format!(
                    "sessions.patch: {field} is not supported by this gateway (it keeps no per-session settings besides the transcript)"
                )));
            }
        }
        let s = slot
            .sessions
            .get(&k)
            .map_err(|e| unavailable(e.to_string()))?
            .ok_or_else(|| ErrorShape::new(codes::NOT_FOUND, format!("no session {key}")))?;
        Ok(SessionsPatchResult {
            ok: true,
            path: slot.sessions.dir().display().to_string(),
            key: session_key::canonical(&slot.id, &k),
            entry: SessionEntryInfo {
                session_id: s.entry.session_id,
                created_at: s.entry.created_at,
                updated_at: s.entry.updated_at,
            },
        })
    })())
}

// -------------------------------------------------------------------- chat

/// How many of `sizes` (oldest first) to keep, from the newest back, so
/// their total stays within `budget`; the newest one always.
pub(crate) fn fit_tail(sizes: &[usize], budget: usize) -> usize {
    let mut used = 0usize;
    let mut kept = 0usize;
    for &n in sizes.iter().rev() {
        if kept > 0 && used + n > budget {
            break;
        }
        used += n;
        kept += 1;
    }
    kept
}

/// The history of a session in upstream's shape (`chat.startup` and
/// `chat.history`), plus its agent and whether a run is going. The
/// connection is subscribed to the session's events.
pub(crate) async fn history(
    c: &Call,
    p: &ChatHistoryParams,
) -> Result<(String, bool, ChatStartupResult), ErrorShape> {
    let hub = c.state.agents().clone();
    let set = hub.current();
    let key = p.session_key.as_deref().or(p.key.as_deref());
    let (slot, k) = resolve(&set, key, p.agent_id.as_deref())?;
    hub.subscribe(&slot.id, &k, &c.conn.id, &c.conn.tx);
    let limit = p.limit.map(|n| n as usize);
    let sessions = slot.sessions.clone();
    let kk = k.clone();
    let got = tokio::task::spawn_blocking(move || {
        let summary = sessions.get(&kk)?;
        let recs = match &summary {
            Some(_) => sessions.history(&kk, None)?,
            None => Vec::new(),
        };
        Ok::<_, openclaw_agent::session::SessionError>((summary, recs))
    })
    .await
    .map_err(|e| ErrorShape::new(codes::INTERNAL, e.to_string()))?
    .map_err(|e| unavailable(format!("cannot read session '{k}': {e}")))?;
    let (summary, recs) = got;
    let sid = summary
        .as_ref()
        .map(|s| s.entry.session_id.clone())
        .unwrap_or_default();
    let total = recs.len();
    let skip = limit.map(|n| total.saturating_sub(n)).unwrap_or(0);
    let mut messages: Vec<Value> = recs
        .iter()
        .enumerate()
        .skip(skip)
        .map(|(i, r)| {
            transcript_message(&serde_json::to_value(r).unwrap_or(Value::Null), &sid, i + 1)
        })
        .collect();
    let mut skip = skip;
    // The page target; the answer as a whole must still fit in one frame
    // (room left for the rest of the result).
    let frame = c.state.options().max_payload.saturating_sub(64 * 1024);
    let budget = p
        .max_bytes
        .map(|b| usize::try_from(b).unwrap_or(usize::MAX).min(frame))
        .unwrap_or(frame);
    let sizes: Vec<usize> = messages
        .iter()
        .map(|m| serde_json::to_vec(m).map(|v| v.len() + 1).unwrap_or(0))
        .collect();
    // Each size counts its separating comma; the brackets of the array add
    // one more byte than the commas of its last element leave out.
    let keep = fit_tail(&sizes, budget.saturating_sub(1));
    if keep < messages.len() {
        let drop = messages.len() - keep;
        messages.drain(..drop);
        skip += drop;
    }
    let runs = hub.in_flight(&slot.id, &k);
    let in_flight = runs.first().map(|(id, text, started)| InFlightRun {
        run_id: id.clone(),
        text: text.clone(),
        started_at: *started,
    });
    let row = summary.as_ref().map(|s| session_row(&hub, slot, s));
    Ok((
        slot.id.clone(),
        !runs.is_empty(),
        ChatStartupResult {
            session_key: session_key::canonical(&slot.id, &k),
            session_id: summary.map(|s| s.entry.session_id),
            messages,
            pending_inputs: no_pending_inputs(),
            has_more: skip > 0,
            total_messages: total,
            defaults: defaults(slot),
            session_info: row,
            thinking_level: "off".into(),
            in_flight_run: in_flight,
        },
    ))
}

/// `chat.startup {sessionKey, limit?, maxBytes?}`: the chat view's first read.
pub(crate) async fn chat_startup(c: Call) -> Reply {
    let p: ChatHistoryParams = match c.params("{sessionKey, limit?, maxBytes?}") {
        Ok(p) => p,
        Err(e) => return Reply::Now(Err(e)),
    };
    Reply::of(history(&c, &p).await.map(|(_, _, h)| h))
}

fn model_rows(set: &AgentSet, default: Option<&str>) -> Vec<ModelRow> {
    let mut rows = Vec::new();
    for p in &set.providers {
        for m in &p.models {
            let full = format!("{}/{m}", p.id);
            let mut tags = Vec::new();
            if default == Some(full.as_str()) {
                tags.push("default".to_string());
            }
            rows.push(ModelRow {
                id: m.clone(),
                name: m.clone(),
                provider: p.id.clone(),
                reasoning: false,
                tags,
                thinking_levels: thinking_off(),
                thinking_default: "off".into(),
                // Only the agent's model can be "chosen": this gateway
                // keeps no per-session model override.
                manual_selection_allowed: default == Some(full.as_str()),
                available: p.error.is_none(),
            });
        }
    }
    rows
}

/// The configured models, for `models.list`'s `models`.
pub(crate) fn models_of(set: &AgentSet) -> Vec<ModelRow> {
    let default = set.slot(None).ok().and_then(|s| s.model.clone());
    model_rows(set, default.as_deref())
}

/// `chat.metadata {agentId?, sessionKey?}`: the models the composer can
/// show (we offer no slash commands).
pub(crate) async fn chat_metadata(c: Call) -> Reply {
    Reply::of((|| {
        let p: SessionKeyParams = c.params("{agentId?, sessionKey?}")?;
        let set = c.state.agents().current();
        let (slot, _) = resolve(&set, p.key(), p.agent_id.as_deref())?;
        Ok(ChatMetadataResult {
            models: model_rows(&set, slot.model.as_deref()),
            commands: Vec::new(),
            account_selection: account_selection(),
            runtime_selection_locked: true,
        })
    })())
}

// ------------------------------------------------------------------ agents

fn agent_name(slot: &Slot) -> (String, &'static str) {
    match &slot.name {
        Some(n) => (n.clone(), "agent"),
        None if slot.id == DEFAULT_AGENT => ("Assistant".into(), "default"),
        None => (slot.id.clone(), "default"),
    }
}

/// `agents.list`.
pub(crate) async fn agents_list(c: Call) -> Reply {
    let set = c.state.agents().current();
    let agents = set
        .slots
        .values()
        .map(|s| AgentRow {
            id: s.id.clone(),
            kind: "agent".into(),
            name: Some(agent_name(s).0),
            workspace: s.workspace.display().to_string(),
            model: s.model.as_ref().map(|m| AgentModel {
                primary: m.clone(),
                fallbacks: s.fallbacks.clone(),
            }),
            thinking_levels: thinking_off(),
            thinking_options: vec!["off".into()],
            thinking_default: "off".into(),
            ready: s.agent.is_ok(),
            error: s.agent.as_ref().err().cloned(),
        })
        .collect();
    Reply::of(Ok(AgentsListResult {
        default_id: DEFAULT_AGENT.into(),
        main_key: DEFAULT_AGENT.into(),
        scope: "per-sender".into(),
        ownership: "sole".into(),
        selection_required: false,
        agents,
    }))
}

/// `agent.identity.get {agentId?}`.
pub(crate) async fn agent_identity(c: Call) -> Reply {
    Reply::of((|| {
        let p: SessionKeyParams = c.params("{agentId?}")?;
        let set = c.state.agents().current();
        let slot = set.slot(p.agent_id.as_deref()).map_err(bad)?;
        let (name, source) = agent_name(slot);
        let avatar = name
            .chars()
            .next()
            .map(|ch| ch.to_uppercase().collect::<String>())
            .unwrap_or_else(|| "A".into());
        Ok(AgentIdentityResult {
            agent_id: slot.id.clone(),
            name,
            name_source: source.into(),
            avatar,
        })
    })())
}

/// `models.authStatus`: where each provider's key comes from (never the
/// key).
pub(crate) async fn models_auth_status(c: Call) -> Reply {
    let set = c.state.agents().current();
    let providers = set
        .providers
        .iter()
        .map(|p| {
            let status = if p.error.is_some() {
                "missing"
            } else if p.key_source == "none" {
                "none"
            } else {
                "static"
            };
            ProviderAuthRow {
                provider: p.id.clone(),
                auth_provider: p.id.clone(),
                display_name: p.id.clone(),
                status: status.into(),
                profiles: Vec::new(),
                api_key: KeySource {
                    source: p.key_source.clone(),
                },
            }
        })
        .collect();
    Reply::of(Ok(ModelsAuthStatusResult {
        ts: now_ms(),
        providers,
        provider_capabilities: Vec::new(),
    }))
}

/// `projects.list`: each agent's workspace.
pub(crate) async fn projects_list(c: Call) -> Reply {
    let set = c.state.agents().current();
    let projects = set
        .slots
        .values()
        .map(|s| ProjectRow {
            id: format!("workspace:{}", s.id),
            display_name: s
                .workspace
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| s.id.clone()),
            repo_root: s.workspace.display().to_string(),
            source: "workspace".into(),
            agent_id: s.id.clone(),
        })
        .collect();
    Reply::of(Ok(ProjectsListResult {
        projects,
        recents: Vec::new(),
    }))
}

/// `environments.list`: this gateway's host is the one place sessions run.
pub(crate) async fn environments_list(_c: Call) -> Reply {
    Reply::Now(Ok(openclaw_protocol::control_ui::environments(
        &crate::state::hostname(),
        std::env::consts::OS,
    )))
}

// ------------------------------------------------------------------ system

/// `/proc` facts for `system.info` (Linux; zeros elsewhere).
fn meminfo() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kib("MemTotal:"), kib("MemAvailable:"))
}

fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect()
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn disk(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` is a writable
    // statvfs buffer; statvfs only writes into it.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the buffer.
    let st = unsafe { st.assume_init() };
    // The field types differ between platforms (u32 on some).
    #[allow(clippy::unnecessary_cast)]
    let (frsize, blocks, avail) = (st.f_frsize as u64, st.f_blocks as u64, st.f_bavail as u64);
    Some((blocks * frsize, avail * frsize))
}

fn os_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `system.info`: the gateway host and process.
pub(crate) async fn system_info(c: Call) -> Reply {
    let host = crate::state::hostname();
    let (total, free) = meminfo();
    let state_dir = c.state.record().state_dir.clone();
    let d = disk(&state_dir);
    let release = os_release();
    let os = std::env::consts::OS;
    Reply::of(Ok(SystemInfoResult {
        machine_name: host.clone(),
        hostname: host,
        platform: os.into(),
        os_label: if release.is_empty() {
            channel_label(os)
        } else {
            format!("{} {release}", channel_label(os))
        },
        release,
        node_version: String::new(),
        // Upstream reports Node's names for the CPU architecture.
        arch: match std::env::consts::ARCH {
            "x86_64" => "x64",
            "aarch64" => "arm64",
            "x86" => "ia32",
            a => a,
        }
        .into(),
        port: c.state.record().port,
        pid: std::process::id(),
        uptime_ms: c.state.uptime_ms(),
        cpu_count: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_average: loadavg(),
        memory_total_bytes: total,
        memory_free_bytes: free,
        process_memory: ProcessMemory {
            rss_bytes: rss_bytes(),
            heap_used_bytes: 0,
            heap_total_bytes: 0,
        },
        disks: d
            .map(|(t, a)| {
                vec![DiskRow {
                    path: state_dir.display().to_string(),
                    total_bytes: t,
                    available_bytes: a,
                }]
            })
            .unwrap_or_default(),
        disk_total_bytes: d.map(|(t, _)| t),
        disk_available_bytes: d.map(|(_, a)| a),
        disk_path: state_dir.display().to_string(),
    }))
}

/// `last-heartbeat`: we run no heartbeat, so there is none.
pub(crate) async fn last_heartbeat(_c: Call) -> Reply {
    Reply::Now(Ok(Value::Null))
}

/// `update.status`: this gateway does not update itself.
pub(crate) async fn update_status(_c: Call) -> Reply {
    Reply::Now(Ok(openclaw_protocol::control_ui::update_status()))
}

// ---------------------------------------------------------------- channels

/// `channels.status` in upstream's shape, from our channel hub's list.
pub(crate) fn channels_status(ours: &Value) -> ChannelsStatusResult {
    ChannelsStatusResult::from_ours(ours, now_ms())
}

/// `channels.pairing.list`: pending DM pairing requests of the configured
/// channels (`openclaw pairing list`), in upstream's shape.
pub(crate) async fn channels_pairing_list(c: Call) -> Reply {
    let config = c.state.current_config();
    let state_dir = c.state.record().state_dir.clone();
    let ch = config.channels.as_ref();
    let configured: Vec<&str> = [
        ("telegram", ch.is_some_and(|c| c.telegram.is_some())),
        ("irc", ch.is_some_and(|c| c.irc.is_some())),
        ("matrix", ch.is_some_and(|c| c.matrix.is_some())),
    ]
    .into_iter()
    .filter_map(|(n, on)| on.then_some(n))
    .collect();
    let owner = config
        .commands
        .as_ref()
        .and_then(|c| c.owner_allow_from.as_ref())
        .is_some_and(|o| !o.is_empty());
    let iso = |secs: u64| {
        openclaw_state::owner::rfc3339_utc(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        )
    };
    let now = now_ms() / 1000;
    let mut accounts = Vec::new();
    let mut requests = Vec::new();
    for name in configured {
        let label = channel_label(name);
        accounts.push(PairingAccountRow {
            channel: name.into(),
            channel_label: label.clone(),
            account_id: "default".into(),
            notify_supported: true,
        });
        let store = openclaw_channels::pairing::PairingStore::new(&state_dir, name, "default");
        let list = match store.list(now) {
            Ok(l) => l,
            Err(e) => return Reply::Now(Err(unavailable(e.to_string()))),
        };
        for r in list {
            requests.push(PairingRequestRow {
                request_id: r.code.clone(),
                channel: name.into(),
                channel_label: label.clone(),
                account_id: "default".into(),
                sender_label: r.sender_name.clone().unwrap_or_else(|| r.sender_id.clone()),
                sender_id: r.sender_id.clone(),
                created_at: iso(r.created_at),
                last_seen_at: iso(r.created_at),
                expires_at: iso(r.expires_at()),
                notify_supported: true,
            });
        }
    }
    Reply::of(Ok(ChannelsPairingListResult {
        accounts,
        requests,
        command_owner_configured: owner,
        limits: json!({
            "pendingPerAccount": openclaw_channels::pairing::MAX_PENDING,
            "ttlMs": openclaw_channels::pairing::CODE_TTL_SECS * 1000,
        }),
    }))
}

/// `exec.approvals.get`: exec is on or off here (`tools.exec.enabled`).
pub(crate) async fn exec_approvals_get(c: Call) -> Reply {
    let config = c.state.current_config();
    let on = config.exec_tool().and_then(|e| e.enabled).unwrap_or(false);
    let path = format!("{}#tools.exec", c.state.config_store().path().display());
    Reply::Now(Ok(openclaw_protocol::control_ui::exec_approvals(&path, on)))
}

/// `themes.list`: themes live in the Control UI itself.
pub(crate) async fn themes_list(_c: Call) -> Reply {
    Reply::Now(Ok(openclaw_protocol::control_ui::themes_list()))
}

/// `sessions.usage`: this gateway records no token usage.
pub(crate) async fn sessions_usage(c: Call) -> Reply {
    Reply::Now(Ok(openclaw_protocol::control_ui::sessions_usage(
        &c.params["startDate"],
        &c.params["endDate"],
        now_ms(),
    )))
}

// ------------------------------------------------------------------- prefs

/// Preference keys and values are small UI settings; bound them.
const MAX_PREF_KEYS: usize = 256;
const MAX_PREF_BYTES: usize = 64 * 1024;

/// `users.prefs.get {keys?}`.
pub(crate) async fn prefs_get(c: Call) -> Reply {
    Reply::of((|| {
        let p: PrefsGetParams = c.params("{keys?: [string]}")?;
        let all: Map<String, Value> = openclaw_state::read_json(&c.state.ui().prefs)
            .map_err(|e| unavailable(e.to_string()))?
            .unwrap_or_default();
        let entries: Map<String, Value> = match p.keys {
            Some(keys) => all.into_iter().filter(|(k, _)| keys.contains(k)).collect(),
            None => all,
        };
        Ok(PrefsResult {
            status: "ok".into(),
            entries: Some(entries),
        })
    })())
}

/// `users.prefs.set {entries, expectedEntries?}` (a `null` value removes
/// the key).
pub(crate) async fn prefs_set(c: Call) -> Reply {
    let p: PrefsSetParams = match c.params("{entries: {key: value}, expectedEntries?}") {
        Ok(p) => p,
        Err(e) => return Reply::Now(Err(e)),
    };
    let path = c.state.ui().prefs.clone();
    let r = tokio::task::spawn_blocking(move || {
        openclaw_state::update_json(&path, |all: &mut Map<String, Value>| {
            if let Some(exp) = &p.expected_entries {
                for (k, v) in exp {
                    if all.get(k).unwrap_or(&Value::Null) != v {
                        let mut seen = Map::new();
                        seen.insert(k.clone(), all.get(k).cloned().unwrap_or(Value::Null));
                        let conflict = PrefsResult {
                            status: "conflict".into(),
                            entries: Some(seen),
                        };
                        return (false, Ok(conflict));
                    }
                }
            }
            for (k, v) in p.entries {
                if v.is_null() {
                    all.remove(&k);
                } else {
                    all.insert(k, v);
                }
            }
            let size = serde_json::to_string(all).map(|s| s.len()).unwrap_or(0);
            if all.len() > MAX_PREF_KEYS || size > MAX_PREF_BYTES {
                return (false, Err(bad(format!("users.prefs.set: preferences are limited to {MAX_PREF_KEYS} keys and {MAX_PREF_BYTES} bytes"))));
            }
            let ok = PrefsResult {
                status: "ok".into(),
                entries: None,
            };
            (true, Ok(ok))
        })
    })
    .await;
    Reply::of(match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => Err(unavailable(e.to_string())),
        Err(e) => Err(ErrorShape::new(codes::INTERNAL, e.to_string())),
    })
}

// ----------------------------------------------------------------- devices

/// `device.pair.list`: pending requests and paired devices (a non-admin
/// device-token session sees only its own device, as upstream).
pub(crate) async fn device_pair_list(c: Call) -> Reply {
    let caller = rpc_caller(&c);
    Reply::of(
        c.state
            .devices()
            .store()
            .load()
            .map(|f| {
                pair_list(
                    &crate::devices::visible_to(&f, &caller),
                    &c.state.devices().connected(),
                )
            })
            .map_err(|e| unavailable(e.to_string())),
    )
}

fn rpc_caller(c: &Call) -> crate::devices::RpcCaller {
    crate::devices::RpcCaller {
        scopes: c.scopes,
        device_id: c.conn.device.clone(),
    }
}

pub(crate) fn pair_list(
    f: &crate::devices::DevicesFile,
    connected: &std::collections::HashSet<String>,
) -> DevicePairListResult {
    DevicePairListResult {
        pending: f
            .pending
            .values()
            .map(|r| PendingDeviceRow {
                request_id: r.request_id.clone(),
                device_id: r.device_id.clone(),
                public_key: r.public_key.clone(),
                client_id: r.client_id.clone(),
                client_mode: r.client_mode.clone(),
                platform: r.platform.clone(),
                role: r.role.clone(),
                scopes: r.scopes.clone(),
                reason: r.reason.clone(),
                remote_ip: r.remote_ip.clone(),
                ts: r.created_at_ms,
            })
            .collect(),
        paired: f
            .paired
            .values()
            .map(|p| PairedDeviceRow {
                device_id: p.device_id.clone(),
                public_key: p.public_key.clone(),
                client_id: p.client_id.clone(),
                client_mode: p.client_mode.clone(),
                platform: p.platform.clone(),
                role: p.role.clone(),
                roles: vec![p.role.clone()],
                scopes: p.scopes.clone(),
                approved_scopes: p.scopes.clone(),
                has_token: p.token_sha256.is_some(),
                tokens: p
                    .token_issued_at_ms
                    .filter(|_| p.token_sha256.is_some())
                    .map(|at| vec![json!({"role": p.role, "scopes": p.scopes, "createdAtMs": at})])
                    .unwrap_or_default(),
                connected: connected.contains(&p.device_id),
                created_at_ms: p.approved_at_ms,
                approved_at_ms: p.approved_at_ms,
                approved_via: if p.approved_by == "local" {
                    "silent"
                } else {
                    "manual"
                }
                .into(),
                approved_by: p.approved_by.clone(),
                last_seen_at_ms: p.last_seen_at_ms,
                remote_ip: p.last_seen_ip.clone(),
            })
            .collect(),
    }
}

/// `device.pair.approve {requestId}` / `reject` / `remove {deviceId}`,
/// by whole id, under upstream's rules (`devices::check_rpc`): an approval
/// grants only scopes the caller holds itself, and a non-admin device-token
/// session acts on its own device only.
pub(crate) async fn device_pair_change(c: Call) -> Reply {
    use crate::devices::RpcChange;
    let method = c.method;
    let p: DevicePairParams = match c.params("{requestId} or {deviceId}") {
        Ok(p) => p,
        Err(e) => return Reply::Now(Err(e)),
    };
    let store = c.state.devices().store().clone();
    let caller = rpc_caller(&c);
    // An approval over RPC rests on the shared secret (directly, or through
    // a device it paired): void when that secret changes.
    let binding = crate::devices::secret_binding(&c.state.auth());
    let r = tokio::task::spawn_blocking(move || {
        store.update(|f| {
            let now = crate::devices::now_ms();
            let request_id = p.request_id.as_deref().map(str::trim).unwrap_or_default();
            let device_id = p.device_id.as_deref().map(str::trim).unwrap_or_default();
            let change = match method {
                "device.pair.approve" => RpcChange::Approve { request_id },
                "device.pair.reject" => RpcChange::Reject { request_id },
                _ => RpcChange::Remove { device_id },
            };
            if let Err(e) = crate::devices::check_rpc(f, change, &caller) {
                return (false, Err(e));
            }
            let res = match change {
                RpcChange::Approve { request_id } => {
                    crate::devices::approve(f, request_id, now, "rpc", binding.clone()).map(|d| {
                        DevicePairChangeResult {
                            ok: true,
                            device_id: d.device_id,
                            request_id: Some(request_id.to_string()),
                            scopes: Some(d.scopes),
                        }
                    })
                }
                RpcChange::Reject { request_id } => {
                    crate::devices::reject(f, request_id).map(|r| DevicePairChangeResult {
                        ok: true,
                        device_id: r.device_id,
                        request_id: Some(r.request_id),
                        scopes: None,
                    })
                }
                RpcChange::Remove { device_id } => {
                    crate::devices::revoke(f, device_id).map(|d| DevicePairChangeResult {
                        ok: true,
                        device_id: d.device_id,
                        request_id: None,
                        scopes: None,
                    })
                }
            };
            match res {
                Ok(v) => (true, Ok(v)),
                Err(e) => (false, Err(ErrorShape::new(codes::NOT_FOUND, e.to_string()))),
            }
        })
    })
    .await;
    let out = match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => Err(unavailable(e.to_string())),
        Err(e) => Err(ErrorShape::new(codes::INTERNAL, e.to_string())),
    };
    match &out {
        Ok(done) => {
            c.state
                .log()
                .info(&format!("{method}: device {}", done.device_id));
            if let Ok(f) = c.state.devices().store().load() {
                c.state.devices().close_unpaired(&f);
            }
        }
        Err(e) => c
            .state
            .log()
            .warn(&format!("{method} refused: {}", e.message)),
    }
    Reply::of(out)
}

// ------------------------------------------------- agent-derived status

fn agent_param(c: &Call) -> Option<String> {
    c.params["agentId"]
        .as_str()
        .filter(|a| !a.is_empty())
        .map(str::to_string)
}

/// `skills.status {agentId?}`: the agent's skill inventory. This gateway
/// loads no skills, so the list is empty; the directories are the agent's.
pub(crate) async fn skills_status(c: Call) -> Reply {
    let set = c.state.agents().current();
    Reply::Now((|| {
        let slot = set.slot(agent_param(&c).as_deref()).map_err(bad)?;
        Ok(json!({
            "workspaceDir": slot.workspace.display().to_string(),
            "managedSkillsDir": slot.workspace.join("skills").display().to_string(),
            "agentId": slot.id,
            "skills": [],
        }))
    })())
}

/// `doctor.memory.status {agentId?}`: vector memory readiness. This gateway
/// has no vector memory or embeddings: not ready, never checked, and why.
pub(crate) async fn doctor_memory_status(c: Call) -> Reply {
    let set = c.state.agents().current();
    Reply::Now((|| {
        let slot = set.slot(agent_param(&c).as_deref()).map_err(bad)?;
        Ok(json!({
            "agentId": slot.id,
            "embedding": {
                "ok": false,
                "checked": false,
                "error": "this gateway keeps no vector memory (no embeddings to check)",
            },
        }))
    })())
}

/// `webSearch.status {agentId?}`: web search is not a tool of this
/// gateway: disabled, no providers, the route unavailable; the model is
/// the agent's.
pub(crate) async fn web_search_status(c: Call) -> Reply {
    let set = c.state.agents().current();
    Reply::Now((|| {
        let slot = set.slot(agent_param(&c).as_deref()).map_err(bad)?;
        let (provider, model) = split_model(slot.model.as_deref());
        Ok(json!({
            "enabled": false,
            "provider": null,
            "agentId": slot.id,
            "model": {
                "provider": provider.unwrap_or_else(|| "none".into()),
                "id": model.unwrap_or_else(|| "none".into()),
                "runtime": "unknown",
                "runtimeLabel": "Not resolved",
            },
            "route": {
                "kind": "unavailable",
                "label": "Web search is not available",
                "reason": "this gateway has no web search tool",
                "testable": false,
            },
            "providers": [],
        }))
    })())
}

/// `config.schema.lookup {path}`: one node of this gateway's config schema
/// (the one `config.schema` returns), shallow, with its children.
pub(crate) async fn config_schema_lookup(c: Call) -> Reply {
    let path = c.params["path"].as_str().unwrap_or("").trim().to_string();
    Reply::Now(if path.is_empty() || path.split('.').any(str::is_empty) {
        Err(bad(
            "config.schema.lookup needs params.path, a dotted config path (e.g. \"gateway.auth\")",
        ))
    } else {
        // A path outside our schema (another product's keys, e.g. upstream's
        // plugins.entries.*): this gateway keeps such keys in the file as
        // written, with a warning, and never reads them. Said so, with no
        // children, rather than an error the UI would keep retrying.
        Ok(
            schema_lookup(&openclaw_config::schema(), &path).unwrap_or_else(|| {
                json!({
                    "path": path,
                    "schema": {"description": "Not read by this gateway: kept in the config file as written, with a warning."},
                    "children": [],
                })
            }),
        )
    })
}

/// Follows `$ref` (`#/$defs/..`) and an optional's `anyOf [X, null]` to the
/// node that describes the value.
fn schema_node<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(r) = node["$ref"].as_str() {
            let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) else {
                return node;
            };
            node = target;
            continue;
        }
        let branches = node["anyOf"].as_array().or(node["oneOf"].as_array());
        if let Some(b) = branches {
            let real: Vec<&Value> = b.iter().filter(|x| x["type"] != "null").collect();
            if real.len() == 1 {
                node = real[0];
                continue;
            }
        }
        return node;
    }
    node
}

/// Keys of a schema node a lookup keeps (upstream's list).
const LOOKUP_KEYS: &[&str] = &[
    "title",
    "description",
    "type",
    "enum",
    "const",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "deprecated",
    "readOnly",
    "writeOnly",
];

fn shallow(node: &Value) -> Value {
    let mut out = Map::new();
    for k in LOOKUP_KEYS {
        if let Some(v) = node.get(*k) {
            out.insert((*k).to_string(), v.clone());
        }
    }
    if let Some(a) = node.get("additionalProperties").filter(|a| a.is_boolean()) {
        out.insert("additionalProperties".into(), a.clone());
    }
    Value::Object(out)
}

/// The lookup result for the dotted `path` in `root` (pure; `None` when the
/// schema has no such path).
pub(crate) fn schema_lookup(root: &Value, path: &str) -> Option<Value> {
    let mut node = schema_node(root, root);
    for seg in path.split('.') {
        if seg.is_empty() {
            return None;
        }
        let next = node["properties"]
            .get(seg)
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?;
        node = schema_node(root, next);
    }
    let required: Vec<&str> = node["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let children: Vec<Value> = node["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(k, v)| {
                    let child = schema_node(root, v);
                    let has_children = child["properties"]
                        .as_object()
                        .is_some_and(|p| !p.is_empty())
                        || child["additionalProperties"].is_object();
                    let mut row = json!({
                        "key": k,
                        "path": format!("{path}.{k}"),
                        "required": required.contains(&k.as_str()),
                        "hasChildren": has_children,
                    });
                    if let Some(t) = child.get("type").filter(|t| t.is_string() || t.is_array()) {
                        row["type"] = t.clone();
                    }
                    row
                })
                .collect()
        })
        .unwrap_or_default();
    Some(json!({"path": path, "schema": shallow(node), "children": children}))
}

// ------------------------------------------------------------------- empty

/// A Control UI method for a feature this gateway does not have: its valid
/// empty answer.
pub(crate) async fn empty(c: Call) -> Reply {
    Reply::Now(empty_answer(c.method, &c.params).ok_or_else(|| {
        ErrorShape::new(codes::INTERNAL, format!("no empty answer for {}", c.method))
    }))
}

#[cfg(test)]
mod tests {
    use crate::methods::tests::{call, call_on, conn};
    use crate::state::testing::state;
    use serde_json::json;

    #[tokio::test]
    async fn session_keys_resolve_in_either_form() {
        let t = state();
        for key in ["main", "agent:main:main"] {
            let r = call(&t, "sessions.describe", json!({"key": key}))
                .await
                .unwrap();
            assert_eq!(r, json!({"session": null}), "{key}");
        }
        let e = call(&t, "sessions.describe", json!({"key": "agent:ghost:main"}))
            .await
            .unwrap_err();
        assert!(e.message.contains("no agent 'ghost'"), "{e}");
        // A malformed canonical key is refused, not taken as a bare key.
        for bad in ["agent:main", "agent::main", "agent:main:"] {
            let e = call(&t, "sessions.describe", json!({"key": bad}))
                .await
                .unwrap_err();
            assert!(e.message.contains("malformed"), "{bad}: {e}");
            let e = call(&t, "chat.history", json!({"sessionKey": bad}))
                .await
                .unwrap_err();
            assert!(e.message.contains("malformed"), "{bad}: {e}");
        }
        let e = call(
            &t,
            "sessions.describe",
            json!({"key": "agent:main:x", "agentId": "other"}),
        )
        .await
        .unwrap_err();
        assert!(e.message.contains("belongs to agent main"), "{e}");
    }

    #[test]
    fn schema_lookup_walks_the_config_schema() {
        let root = openclaw_config::schema();
        let g = super::schema_lookup(&root, "gateway").unwrap();
        assert_eq!(g["path"], "gateway");
        let kids: Vec<&str> = g["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap())
            .collect();
        assert!(kids.contains(&"port") && kids.contains(&"auth"), "{kids:?}");
        let auth = g["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == "auth")
            .unwrap();
        assert_eq!(auth["path"], "gateway.auth");
        assert_eq!(auth["hasChildren"], true);
        let port = super::schema_lookup(&root, "gateway.port").unwrap();
        assert_eq!(port["schema"]["type"], "integer", "{port}");
        assert_eq!(port["children"], json!([]));
        assert!(super::schema_lookup(&root, "gateway.nope").is_none());
        assert!(super::schema_lookup(&root, "").is_none());
    }

    #[tokio::test]
    async fn agent_status_methods_answer_for_the_agent() {
        let t = state();
        let s = call(&t, "skills.status", json!({})).await.unwrap();
        assert_eq!(
            (s["agentId"].as_str(), s["skills"].clone()),
            (Some("main"), json!([]))
        );
        assert!(s["workspaceDir"].as_str().is_some_and(|w| !w.is_empty()));
        let m = call(&t, "doctor.memory.status", json!({})).await.unwrap();
        assert_eq!(m["embedding"]["ok"], false);
        let w = call(&t, "webSearch.status", json!({})).await.unwrap();
        assert_eq!(
            (w["enabled"].clone(), w["route"]["kind"].clone()),
            (json!(false), json!("unavailable"))
        );
        for method in ["skills.status", "doctor.memory.status", "webSearch.status"] {
            let e = call(&t, method, json!({"agentId": "ghost"}))
                .await
                .unwrap_err();
            assert!(e.message.contains("no agent 'ghost'"), "{method}: {e}");
        }
        let l = call(&t, "config.schema.lookup", json!({"path": "gateway"}))
            .await
            .unwrap();
        assert_eq!(l["path"], "gateway");
        let u = call(
            &t,
            "config.schema.lookup",
            json!({"path": "plugins.entries.x"}),
        )
        .await
        .unwrap();
        assert_eq!(u["children"], json!([]));
        assert!(
            u["schema"]["description"]
                .as_str()
                .unwrap()
                .contains("Not read")
        );
        for bad in ["", "gateway..port"] {
            let e = call(&t, "config.schema.lookup", json!({"path": bad}))
                .await
                .unwrap_err();
            assert_eq!(e.code, openclaw_protocol::codes::INVALID_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn fit_tail_keeps_the_newest_that_fit_and_at_least_one() {
        use super::fit_tail;
        assert_eq!(fit_tail(&[10, 10, 10], 25), 2);
        assert_eq!(fit_tail(&[10, 10, 10], 30), 3);
        assert_eq!(fit_tail(&[10, 10, 100], 25), 1, "one message may exceed");
        assert_eq!(fit_tail(&[], 5), 0);
    }

    #[tokio::test]
    async fn history_pages_honour_max_bytes() {
        use openclaw_agent::session::TranscriptRecord;
        let t = state();
        let set = t.state.agents().current();
        let slot = set.slot(None).unwrap();
        let h = slot.sessions.open("main").unwrap();
        for i in 0..5 {
            let rec = TranscriptRecord::User {
                run_id: format!("r{i}"),
                ts: 1,
                text: format!("message {i} {}", "x".repeat(300)),
            };
            slot.sessions.append(&h, &rec).unwrap();
        }
        for method in ["chat.history", "chat.startup"] {
            let all = call(&t, method, json!({"sessionKey": "main"}))
                .await
                .unwrap();
            let all = all.get("history").unwrap_or(&all).clone();
            assert_eq!(all["messages"].as_array().unwrap().len(), 5, "{method}");
            assert_eq!(all["hasMore"], false);
            // Room for two and a half messages: the newest two.
            let one = serde_json::to_vec(&all["messages"][4]).unwrap().len();
            let budget = one * 5 / 2;
            let page = call(
                &t,
                method,
                json!({"sessionKey": "main", "maxBytes": budget}),
            )
            .await
            .unwrap();
            let page = page.get("history").unwrap_or(&page).clone();
            let msgs = page["messages"].as_array().unwrap();
            assert_eq!(msgs.len(), 2, "{method}");
            assert!(
                serde_json::to_vec(msgs).unwrap().len() <= budget,
                "{method}"
            );
            assert_eq!(page["hasMore"], true, "{method}");
            assert!(
                msgs.last().unwrap().to_string().contains("message 4"),
                "the newest"
            );
            // Exactly the size of the newest two as an array: both; one
            // byte less: only the newest.
            let exact = serde_json::to_vec(msgs).unwrap().len();
            for (max, want) in [(exact, 2), (exact - 1, 1)] {
                let page = call(&t, method, json!({"sessionKey": "main", "maxBytes": max}))
                    .await
                    .unwrap();
                let page = page.get("history").unwrap_or(&page).clone();
                let got = page["messages"].as_array().unwrap();
                assert_eq!(got.len(), want, "{method} maxBytes {max}");
                assert!(serde_json::to_vec(got).unwrap().len() <= max, "{method}");
            }
            // A target smaller than one message still shows the newest.
            let one = call(&t, method, json!({"sessionKey": "main", "maxBytes": 1}))
                .await
                .unwrap();
            let one = one.get("history").unwrap_or(&one).clone();
            assert_eq!(one["messages"].as_array().unwrap().len(), 1, "{method}");
        }
    }

    #[tokio::test]
    async fn created_sessions_are_listed_and_described_canonically() {
        let t = state();
        let c = conn();
        let r = call_on(
            &t,
            &c,
            &["operator.write"],
            "sessions.create",
            json!({"agentId": "main"}),
        )
        .await
        .unwrap();
        let key = r["key"].as_str().unwrap().to_string();
        assert!(key.starts_with("agent:main:dashboard:"), "{key}");
        assert_eq!(r["runStarted"], false);
        let l = call(&t, "sessions.list", json!({"agentId": "main", "limit": 5}))
            .await
            .unwrap();
        assert_eq!(l["count"], 1);
        assert_eq!(l["sessions"][0]["key"], key);
        assert_eq!(l["sessions"][0]["status"], "done");
        assert_eq!(l["agentId"], "main");
        let d = call(&t, "sessions.describe", json!({"key": key}))
            .await
            .unwrap();
        assert_eq!(d["session"]["agentId"], "main");
        // Creating it again is a conflict; spawned sessions: none.
        let e = call(&t, "sessions.create", json!({"key": key}))
            .await
            .unwrap_err();
        assert_eq!(e.code, openclaw_protocol::codes::CONFLICT);
        let l = call(&t, "sessions.list", json!({"spawnedBy": key}))
            .await
            .unwrap();
        assert_eq!(l["sessions"], json!([]));
        // Marking read is fine; other patches are refused by name.
        call(
            &t,
            "sessions.patch",
            json!({"key": key, "unread": false, "expectedMarkedUnreadAt": null}),
        )
        .await
        .unwrap();
        let e = call(&t, "sessions.patch", json!({"key": key, "pinned": true}))
            .await
            .unwrap_err();
        assert!(e.message.contains("pinned is not supported"), "{e}");
    }

    #[tokio::test]
    async fn startup_agents_identity_and_prefs() {
        let t = state();
        let s = call(
            &t,
            "chat.startup",
            json!({"sessionKey": "agent:main:main", "limit": 80}),
        )
        .await
        .unwrap();
        assert_eq!(s["sessionKey"], "agent:main:main");
        assert_eq!(s["messages"], json!([]));
        assert_eq!(s["sessionInfo"], json!(null));
        assert_eq!(s["pendingInputs"], json!({"items": [], "total": 0}));
        let a = call(&t, "agents.list", json!({})).await.unwrap();
        assert_eq!(a["defaultId"], "main");
        assert_eq!(a["agents"][0]["id"], "main");
        let i = call(&t, "agent.identity.get", json!({"agentId": "main"}))
            .await
            .unwrap();
        assert_eq!(
            i,
            json!({"agentId": "main", "name": "Assistant", "nameSource": "default", "avatar": "A"})
        );
        let g = call(&t, "users.prefs.get", json!({"keys": ["ui.theme"]}))
            .await
            .unwrap();
        assert_eq!(g, json!({"status": "ok", "entries": {}}));
        let r = call(
            &t,
            "users.prefs.set",
            json!({"entries": {"ui.theme": "dash"}, "expectedEntries": {"ui.theme": null}}),
        )
        .await
        .unwrap();
        assert_eq!(r["status"], "ok");
        let r = call(
            &t,
            "users.prefs.set",
            json!({"entries": {"ui.theme": "x"}, "expectedEntries": {"ui.theme": null}}),
        )
        .await
        .unwrap();
        assert_eq!(r["status"], "conflict");
        let g = call(&t, "users.prefs.get", json!({})).await.unwrap();
        assert_eq!(g["entries"], json!({"ui.theme": "dash"}));
    }

    #[tokio::test]
    async fn a_pairing_approval_grants_only_scopes_the_approver_holds() {
        use crate::devices::{self, DeviceAuth, DeviceConnect};
        use openclaw_protocol::ScopeSet;
        let t = state();
        let c = DeviceConnect {
            device_id: "dev-1".into(),
            public_key: "pk".into(),
            client_id: "openclaw-control-ui".into(),
            client_mode: "webchat".into(),
            platform: "linux".into(),
            role: "operator".into(),
            requested: ScopeSet::from_strs(["operator.admin"]),
            auth: DeviceAuth::SharedSecret,
            local: false,
            remote_ip: Some("203.0.113.9".into()),
            grant: ScopeSet::all(),
            binding: None,
        };
        let store = t.state.devices().store().clone();
        let request = store
            .update(|f| {
                let d = devices::decide(f, &c);
                match devices::apply(f, &c, &d, devices::now_ms(), || "t".into()) {
                    devices::Applied::Pending { request_id } => (true, request_id),
                    other => panic!("{other:?}"),
                }
            })
            .unwrap();
        let l = call(&t, "device.pair.list", json!({})).await.unwrap();
        assert_eq!(l["pending"][0]["requestId"], request);
        assert_eq!(l["paired"], json!([]));
        let co = conn();
        let e = call_on(
            &t,
            &co,
            &["operator.pairing"],
            "device.pair.approve",
            json!({"requestId": request}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.detail_code(), Some("MISSING_SCOPE"), "{e}");
        // A prefix of the id is no way around the check: RPC takes whole ids.
        for prefix in [&request[..8], &request[..1], "dev"] {
            let e = call_on(
                &t,
                &co,
                &["operator.pairing"],
                "device.pair.approve",
                json!({"requestId": prefix}),
            )
            .await
            .unwrap_err();
            assert!(e.message.starts_with("unknown requestId"), "{prefix}: {e}");
        }
        assert!(store.load().unwrap().paired.is_empty(), "nothing approved");
        let r = call_on(
            &t,
            &co,
            &["operator.admin"],
            "device.pair.approve",
            json!({"requestId": request}),
        )
        .await
        .unwrap();
        assert_eq!(r["deviceId"], "dev-1");
        let l = call(&t, "device.pair.list", json!({})).await.unwrap();
        assert_eq!(l["paired"][0]["approvedVia"], "manual");
        assert_eq!(l["paired"][0]["approvedBy"], "rpc");
        assert_eq!(l["paired"][0]["connected"], false);
        let r = call(&t, "device.pair.remove", json!({"deviceId": "dev-1"}))
            .await
            .unwrap();
        assert_eq!(r["ok"], true);
        let e = call(&t, "device.pair.remove", json!({"deviceId": "dev-1"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, openclaw_protocol::codes::NOT_FOUND);
    }

    /// Upstream's device-management rule: a non-admin session that
    /// authenticated with a device token approves, rejects, removes and
    /// lists only its own device; an admin (or a shared-secret session,
    /// within its scopes) acts on any.
    #[tokio::test]
    async fn device_token_sessions_manage_only_their_own_device() {
        use crate::devices::{self, DeviceAuth, DeviceConnect};
        use openclaw_protocol::ScopeSet;
        let t = state();
        let store = t.state.devices().store().clone();
        let connect = |id: &str, local: bool| DeviceConnect {
            device_id: id.into(),
            public_key: format!("pk-{id}"),
            client_id: "openclaw-control-ui".into(),
            client_mode: "webchat".into(),
            platform: "linux".into(),
            role: "operator".into(),
            requested: ScopeSet::from_strs(["operator.read", "operator.pairing"]),
            auth: DeviceAuth::SharedSecret,
            local,
            remote_ip: None,
            grant: ScopeSet::all(),
            binding: None,
        };
        // Device "mine" is paired; "other" and a scope upgrade of "mine"
        // wait for approval.
        let (other, upgrade) = store
            .update(|f| {
                let mut run = |c: &DeviceConnect| {
                    let d = devices::decide(f, c);
                    devices::apply(f, c, &d, devices::now_ms(), || "t".into())
                };
                run(&connect("mine", true));
                let devices::Applied::Pending { request_id: other } = run(&connect("other", false))
                else {
                    panic!()
                };
                let mut up = connect("mine", false);
                up.requested = ScopeSet::from_strs(["operator.read", "operator.write"]);
                let devices::Applied::Pending {
                    request_id: upgrade,
                } = run(&up)
                else {
                    panic!()
                };
                (true, (other, upgrade))
            })
            .unwrap();
        let mut mine = conn();
        mine.device = Some("mine".into());
        let pairing = ["operator.read", "operator.write", "operator.pairing"];
        let l = call_on(&t, &mine, &pairing, "device.pair.list", json!({}))
            .await
            .unwrap();
        assert_eq!(l["pending"].as_array().unwrap().len(), 1, "{l}");
        assert_eq!(l["pending"][0]["requestId"], upgrade.as_str());
        assert_eq!(l["paired"].as_array().unwrap().len(), 1, "{l}");
        for (method, params) in [
            ("device.pair.approve", json!({"requestId": other})),
            ("device.pair.reject", json!({"requestId": other})),
            ("device.pair.remove", json!({"deviceId": "other"})),
        ] {
            let e = call_on(&t, &mine, &pairing, method, params)
                .await
                .unwrap_err();
            assert!(e.message.ends_with("denied"), "{method}: {e}");
        }
        // Its own request it may approve (within its own scopes).
        let r = call_on(
            &t,
            &mine,
            &pairing,
            "device.pair.approve",
            json!({"requestId": upgrade}),
        )
        .await
        .unwrap();
        assert_eq!(r["deviceId"], "mine");
        // An admin acts on any device.
        let mut admin = conn();
        admin.device = Some("mine".into());
        call_on(
            &t,
            &admin,
            &["operator.admin"],
            "device.pair.reject",
            json!({"requestId": other}),
        )
        .await
        .unwrap();
        assert!(store.load().unwrap().pending.is_empty());
    }

    #[tokio::test]
    async fn system_info_and_empty_answers() {
        let t = state();
        let s = call(&t, "system.info", json!({})).await.unwrap();
        assert_eq!(s["pid"], std::process::id());
        assert!(s["memoryTotalBytes"].as_u64().unwrap() > 0);
        assert_eq!(
            call(&t, "exec.approval.list", json!({})).await.unwrap(),
            json!([])
        );
        assert_eq!(
            call(&t, "question.list", json!({})).await.unwrap(),
            json!({"questions": []})
        );
        assert_eq!(
            call(&t, "last-heartbeat", json!({})).await.unwrap(),
            json!(null)
        );
    }
}
