//! The method table: every RPC method this gateway serves, with the scope
//! it requires and its handler. Dispatch, the scope check and
//! `hello-ok.features.methods` all read [`METHODS`]; adding a method is one
//! entry here plus its handler function.
//!
//! A handler gets a [`Call`] (the state, the calling connection, its
//! scopes, the request id and raw params) and returns a [`Reply`]. Params
//! and results are the typed structs of `openclaw_protocol::rpc` and
//! `openclaw_protocol::chat`. Handlers never touch a socket, so they are
//! tested by calling them on a `GatewayState` built in the test.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use openclaw_config::redact;
use openclaw_protocol::rpc::{
    ConfigGetResult, ConfigWriteParams, ConfigWriteResult, LogsTailParams, LogsTailResult,
};
use openclaw_protocol::{
    ErrorShape, Request, Response, Scope, ScopeSet, codes, detail_codes, methods,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::chat::Conn;
use crate::config_store::{ConfigError, merge_patch};
use crate::state::GatewayState;

/// One request, as a handler sees it.
pub(crate) struct Call {
    pub state: Arc<GatewayState>,
    pub conn: Conn,
    pub scopes: ScopeSet,
    pub id: String,
    /// The table's name of the method (one handler may serve several).
    pub method: &'static str,
    pub params: Value,
}

impl Call {
    /// The params as `P`, or an INVALID_REQUEST naming the method and what
    /// it expects. Absent params read as `{}`.
    pub fn params<P: DeserializeOwned>(&self, expected: &str) -> Result<P, ErrorShape> {
        let v = match &self.params {
            Value::Null => Value::Object(Default::default()),
            v => v.clone(),
        };
        serde_json::from_value(v).map_err(|e| {
            ErrorShape::invalid_request(format!(
                "{}: invalid params ({e}); expected {expected}",
                self.method
            ))
        })
    }
}

/// A handler's answer.
pub(crate) enum Reply {
    /// Answer now.
    Now(Result<Value, ErrorShape>),
    /// The handler answers later through the connection's outbox
    /// (`agent.wait`).
    Later,
}

impl Reply {
    pub fn of<T: Serialize>(r: Result<T, ErrorShape>) -> Reply {
        Reply::Now(r.and_then(|t| {
            serde_json::to_value(t).map_err(|e| {
                ErrorShape::new(codes::INTERNAL, format!("cannot encode the result: {e}"))
            })
        }))
    }
}

pub(crate) type Handler = fn(Call) -> BoxFuture<'static, Reply>;

pub(crate) struct Method {
    pub name: &'static str,
    pub scope: Scope,
    pub handler: Handler,
}

use crate::{browser_rpc, chat, control_ui};

/// Every method served, in the order `hello-ok` lists them.
pub(crate) static METHODS: &[Method] = &[
    Method {
        name: methods::HEALTH,
        scope: Scope::Read,
        handler: |c| Box::pin(health(c)),
    },
    Method {
        name: methods::STATUS,
        scope: Scope::Read,
        handler: |c| Box::pin(status(c)),
    },
    Method {
        name: methods::CHANNELS_STATUS,
        scope: Scope::Read,
        handler: |c| Box::pin(channels_status(c)),
    },
    Method {
        name: methods::GATEWAY_IDENTITY_GET,
        scope: Scope::Read,
        handler: |c| Box::pin(identity(c)),
    },
    Method {
        name: methods::CONFIG_GET,
        scope: Scope::Read,
        handler: |c| Box::pin(config_get(c)),
    },
    Method {
        name: methods::CONFIG_SET,
        scope: Scope::Admin,
        handler: |c| Box::pin(config_write(c)),
    },
    Method {
        name: methods::CONFIG_PATCH,
        scope: Scope::Admin,
        handler: |c| Box::pin(config_write(c)),
    },
    Method {
        name: methods::CONFIG_APPLY,
        scope: Scope::Admin,
        handler: |c| Box::pin(config_write(c)),
    },
    Method {
        name: methods::CONFIG_SCHEMA,
        scope: Scope::Read,
        handler: |c| Box::pin(config_schema(c)),
    },
    Method {
        name: methods::LOGS_TAIL,
        scope: Scope::Read,
        handler: |c| Box::pin(logs_tail(c)),
    },
    Method {
        name: methods::SYSTEM_PRESENCE,
        scope: Scope::Read,
        handler: |c| Box::pin(system_presence(c)),
    },
    Method {
        name: methods::CHAT_SEND,
        scope: Scope::Write,
        handler: |c| Box::pin(chat::send(c)),
    },
    Method {
        name: methods::CHAT_HISTORY,
        scope: Scope::Read,
        handler: |c| Box::pin(chat::history(c)),
    },
    Method {
        name: methods::CHAT_ABORT,
        scope: Scope::Write,
        handler: |c| Box::pin(chat::abort(c)),
    },
    Method {
        name: methods::AGENT,
        scope: Scope::Write,
        handler: |c| Box::pin(chat::send(c)),
    },
    Method {
        name: methods::AGENT_WAIT,
        scope: Scope::Read,
        handler: |c| Box::pin(chat::wait(c)),
    },
    Method {
        name: methods::SESSIONS_LIST,
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::sessions_list(c)),
    },
    Method {
        name: methods::SESSIONS_PREVIEW,
        scope: Scope::Read,
        handler: |c| Box::pin(chat::session_change(c)),
    },
    Method {
        name: methods::SESSIONS_RESET,
        scope: Scope::Write,
        handler: |c| Box::pin(chat::session_change(c)),
    },
    Method {
        name: methods::SESSIONS_DELETE,
        scope: Scope::Write,
        handler: |c| Box::pin(chat::session_change(c)),
    },
    Method {
        name: methods::MODELS_LIST,
        scope: Scope::Read,
        handler: |c| Box::pin(chat::models_list(c)),
    },
    // ---- OpenClaw's Control UI (control_ui.rs) ----
    Method {
        name: "agents.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::agents_list(c)),
    },
    Method {
        name: "agent.identity.get",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::agent_identity(c)),
    },
    Method {
        name: "sessions.subscribe",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::sessions_subscribe(c)),
    },
    Method {
        name: "sessions.unsubscribe",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::sessions_unsubscribe(c)),
    },
    Method {
        name: "sessions.messages.subscribe",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::messages_subscribe(c)),
    },
    Method {
        name: "sessions.messages.unsubscribe",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::messages_unsubscribe(c)),
    },
    Method {
        name: "sessions.describe",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::sessions_describe(c)),
    },
    Method {
        name: "sessions.create",
        scope: Scope::Write,
        handler: |c| Box::pin(control_ui::sessions_create(c)),
    },
    Method {
        name: "sessions.patch",
        scope: Scope::Write,
        handler: |c| Box::pin(control_ui::sessions_patch(c)),
    },
    Method {
        name: "chat.startup",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::chat_startup(c)),
    },
    Method {
        name: "chat.metadata",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::chat_metadata(c)),
    },
    Method {
        name: "models.authStatus",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::models_auth_status(c)),
    },
    Method {
        name: "system.info",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::system_info(c)),
    },
    Method {
        name: "last-heartbeat",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::last_heartbeat(c)),
    },
    Method {
        name: "users.prefs.get",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::prefs_get(c)),
    },
    Method {
        name: "users.prefs.set",
        scope: Scope::Write,
        handler: |c| Box::pin(control_ui::prefs_set(c)),
    },
    Method {
        name: "projects.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::projects_list(c)),
    },
    Method {
        name: "environments.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::environments_list(c)),
    },
    Method {
        name: "update.status",
        scope: Scope::Admin,
        handler: |c| Box::pin(control_ui::update_status(c)),
    },
    Method {
        name: "device.pair.list",
        scope: Scope::Pairing,
        handler: |c| Box::pin(control_ui::device_pair_list(c)),
    },
    Method {
        name: "device.pair.approve",
        scope: Scope::Pairing,
        handler: |c| Box::pin(control_ui::device_pair_change(c)),
    },
    Method {
        name: "device.pair.reject",
        scope: Scope::Pairing,
        handler: |c| Box::pin(control_ui::device_pair_change(c)),
    },
    Method {
        name: "device.pair.remove",
        scope: Scope::Pairing,
        handler: |c| Box::pin(control_ui::device_pair_change(c)),
    },
    Method {
        name: "channels.pairing.list",
        scope: Scope::Pairing,
        handler: |c| Box::pin(control_ui::channels_pairing_list(c)),
    },
    Method {
        name: "exec.approvals.get",
        scope: Scope::Admin,
        handler: |c| Box::pin(control_ui::exec_approvals_get(c)),
    },
    Method {
        name: "themes.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::themes_list(c)),
    },
    Method {
        name: "sessions.usage",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::sessions_usage(c)),
    },
    // Features this gateway does not have: their valid empty answers
    // (openclaw_protocol::control_ui::empty_answer; scopes as upstream).
    Method {
        name: "exec.approval.list",
        scope: Scope::Approvals,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "plugin.approval.list",
        scope: Scope::Approvals,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "openclaw.approval.list",
        scope: Scope::Approvals,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "question.list",
        scope: Scope::Questions,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "cron.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "cron.status",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "plugins.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "plugins.controlUi.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "progressCard.get",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "tasks.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "taskSuggestions.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "board.get",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "mentions.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "sessions.groups.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "sessions.groups.defaults",
        scope: Scope::Write,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "sessions.branches.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "sessions.catalog.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "sessions.companion.state",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "session.discussion.info",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "sessions.github.options",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "session.members.listEvidence",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "sessions.viewers.set",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "sessions.observer.visibility",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "controlUi.sessionPullRequests.subscribe",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "node.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "talk.catalog",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "usage.status",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "tools.github.status",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "approval.history",
        scope: Scope::Approvals,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "exec.approval.grants.list",
        scope: Scope::Approvals,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "cron.runs",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "skills.library.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "plugins.catalog.browse",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    Method {
        name: "worktrees.list",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::empty(c)),
    },
    // Answered from what this gateway has (its agents, its config schema).
    Method {
        name: "skills.status",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::skills_status(c)),
    },
    Method {
        name: "doctor.memory.status",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::doctor_memory_status(c)),
    },
    Method {
        name: "webSearch.status",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::web_search_status(c)),
    },
    Method {
        name: "config.schema.lookup",
        scope: Scope::Read,
        handler: |c| Box::pin(control_ui::config_schema_lookup(c)),
    },
    // Read is the least it needs; anything but GET also needs write (checked
    // by the handler, since it depends on the forwarded HTTP method).
    Method {
        name: methods::BROWSER_REQUEST,
        scope: Scope::Read,
        handler: |c| Box::pin(browser_rpc::request(c)),
    },
];

pub(crate) fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// The scope `name` requires. A method this gateway does not serve needs
/// `operator.admin` (observed: an unknown method with only read scope is
/// answered FORBIDDEN before "unknown method").
pub(crate) fn required_scope(name: &str) -> Scope {
    find(name).map(|m| m.scope).unwrap_or(Scope::Admin)
}

/// `hello-ok.features.methods`.
pub(crate) fn names() -> Vec<String> {
    METHODS.iter().map(|m| m.name.to_string()).collect()
}

/// Answers one request after the handshake: scope check, then the handler.
/// `None` when the handler answers later through the outbox.
pub(crate) async fn dispatch(
    state: &Arc<GatewayState>,
    conn: &Conn,
    scopes: ScopeSet,
    req: Request,
) -> Option<Response> {
    let need = required_scope(&req.method);
    if !scopes.allows(need) {
        return Some(Response::err(req.id, ErrorShape::missing_scope(need)));
    }
    let Some(m) = find(&req.method) else {
        let e = if req.method == methods::CONNECT {
            ErrorShape::invalid_request(
                "already connected: connect is only valid as the first request",
            )
        } else {
            ErrorShape::unknown_method(&req.method)
        };
        return Some(Response::err(req.id, e));
    };
    let call = Call {
        state: state.clone(),
        conn: conn.clone(),
        scopes,
        id: req.id.clone(),
        method: m.name,
        params: req.params,
    };
    match (m.handler)(call).await {
        Reply::Now(Ok(v)) => Some(Response::ok(req.id, v)),
        Reply::Now(Err(e)) => Some(Response::err(req.id, e)),
        Reply::Later => None,
    }
}

// ---- handlers: gateway and config ----

async fn health(c: Call) -> Reply {
    Reply::of(Ok(c.state.health()))
}

async fn status(c: Call) -> Reply {
    Reply::of(Ok(c.state.status()))
}

async fn channels_status(c: Call) -> Reply {
    Reply::of(Ok(control_ui::channels_status(
        &c.state.channels().status(),
    )))
}

async fn identity(c: Call) -> Reply {
    Reply::of(Ok(c.state.identity()))
}

async fn system_presence(c: Call) -> Reply {
    Reply::of(Ok(c.state.presence_listing()))
}

async fn config_schema(_c: Call) -> Reply {
    Reply::Now(Ok(openclaw_config::schema()))
}

async fn logs_tail(c: Call) -> Reply {
    let p: LogsTailParams = match c.params("{lines?: 1..1000}") {
        Ok(p) => p,
        Err(e) => return Reply::Now(Err(e)),
    };
    let log = c.state.log();
    Reply::of(Ok(LogsTailResult {
        file: log.path().map(|p| p.display().to_string()),
        lines: log.tail(p.count()),
    }))
}

async fn config_get(c: Call) -> Reply {
    Reply::of(config_get_result(&c.state, c.scopes))
}

fn config_get_result(s: &GatewayState, scopes: ScopeSet) -> Result<ConfigGetResult, ErrorShape> {
    let admin = scopes.allows(Scope::Admin);
    match s.config_store().load() {
        Ok(snap) => Ok(ConfigGetResult {
            path: snap.path.display().to_string(),
            exists: snap.exists,
            // The raw text holds secrets: only admin connections get it.
            raw: if admin { snap.raw } else { None },
            raw_redacted: !admin && snap.exists,
            parsed: redact(&snap.parsed),
            hash: snap.hash,
            valid: true,
            issues: None,
        }),
        Err(ConfigError::Parse { path, message }) => {
            let raw = std::fs::read_to_string(&path).ok();
            Ok(ConfigGetResult {
                path: path.display().to_string(),
                exists: true,
                hash: raw
                    .as_ref()
                    .map(|r| crate::config_store::hash_bytes(r.as_bytes())),
                raw: if admin { raw } else { None },
                raw_redacted: !admin,
                parsed: Value::Null,
                valid: false,
                issues: Some(vec![message]),
            })
        }
        Err(e) => Err(ErrorShape::new(codes::UNAVAILABLE, e.to_string())),
    }
}

/// `config.set` / `config.apply` (whole file) and `config.patch` (merge).
async fn config_write(c: Call) -> Reply {
    Reply::of(config_write_result(&c).await)
}

async fn config_write_result(c: &Call) -> Result<ConfigWriteResult, ErrorShape> {
    let method = c.method;
    let p: ConfigWriteParams = c.params("{raw | patch, baseHash}")?;
    enum Op {
        Raw(String),
        Patch(Value),
    }
    let op = if method == methods::CONFIG_PATCH {
        match (p.patch, p.raw) {
            (Some(patch), _) if patch.is_object() => Op::Patch(patch),
            // The same depth-checked JSON5 reader as the config file: a
            // deeply nested `raw` must not overflow the stack.
            (_, Some(raw)) => match openclaw_config::parse_syntax(
                &raw,
                std::path::Path::new("config.patch params.raw"),
            ) {
                Ok(patch) if patch.is_object() => Op::Patch(patch),
                Ok(_) => {
                    return Err(ErrorShape::invalid_request(
                        "config.patch: raw must be a JSON5 object (a merge patch)",
                    ));
                }
                Err(e) => return Err(ErrorShape::invalid_request(e.to_string())),
            },
            _ => {
                return Err(ErrorShape::invalid_request(
                    "config.patch needs params.patch (an object, RFC 7396 merge patch) or params.raw, and params.baseHash from config.get",
                ));
            }
        }
    } else {
        match p.raw {
            Some(raw) => Op::Raw(raw),
            None => {
                return Err(ErrorShape::invalid_request(format!(
                    "{method} needs params.raw (the whole config as JSON5 text) and params.baseHash from config.get"
                )));
            }
        }
    };
    let s = &c.state;
    let _guard = s.config_write_lock().await;
    let store = s.config_store().clone();
    let base_hash = p.base_hash;
    let result = tokio::task::spawn_blocking(move || match op {
        Op::Raw(raw) => store.replace_raw(base_hash.as_deref(), &raw),
        Op::Patch(patch) => store.update(base_hash.as_deref(), |v| {
            merge_patch(v, &patch);
            Ok(())
        }),
    })
    .await
    .map_err(|e| ErrorShape::new(codes::INTERNAL, format!("config write task failed: {e}")))?;
    let snap = result.map_err(|e| match e {
        ConfigError::Conflict { base, current } => ErrorShape::config_conflict(&base, &current),
        ConfigError::BaseHashRequired { .. } => ErrorShape::invalid_request(e.to_string()),
        ConfigError::Invalid(_) | ConfigError::Parse { .. } => {
            ErrorShape::invalid_request(e.to_string())
                .with_details(json!({"code": detail_codes::CONFIG_INVALID}))
        }
        other => ErrorShape::new(codes::UNAVAILABLE, other.to_string()),
    })?;
    s.log().info(&format!(
        "config written by {method} to {}",
        snap.path.display()
    ));
    let result = ConfigWriteResult {
        ok: true,
        path: snap.path.display().to_string(),
        hash: snap.hash.clone(),
        config: redact(&snap.parsed),
        restart_required: s.needs_restart(&snap.config),
    };
    s.reload_config(Some(snap));
    Ok(result)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::outbox::{ConnTx, Outbox};
    use crate::state::testing::{TestState, state};
    use openclaw_protocol::rpc::{HealthResult, IdentityResult, StatusResult};

    pub fn conn() -> Conn {
        Conn {
            id: "conn-1".into(),
            tx: ConnTx::new(Outbox::new(1 << 20)),
            device: None,
        }
    }

    pub fn scopes(s: &[&str]) -> ScopeSet {
        ScopeSet::from_strs(s.iter().copied())
    }

    /// Calls `method` with `params` as a connection with `scope`.
    pub async fn call_on(
        t: &TestState,
        conn: &Conn,
        scope: &[&str],
        method: &str,
        params: Value,
    ) -> Result<Value, ErrorShape> {
        let req = Request {
            id: "r1".into(),
            method: method.into(),
            params,
        };
        dispatch(&t.state, conn, scopes(scope), req)
            .await
            .expect("answered now")
            .into_result()
    }

    pub async fn call(t: &TestState, method: &str, params: Value) -> Result<Value, ErrorShape> {
        call_on(t, &conn(), &["operator.admin"], method, params).await
    }

    #[test]
    fn every_method_has_one_entry_and_a_scope() {
        let mut seen = std::collections::BTreeSet::new();
        for m in METHODS {
            assert!(seen.insert(m.name), "{} twice", m.name);
            assert_eq!(required_scope(m.name), m.scope);
        }
        assert!(find(methods::CONNECT).is_none(), "connect is the handshake");
        // The scopes as observed from the original.
        for (name, scope) in [
            ("health", Scope::Read),
            ("gateway.identity.get", Scope::Read),
            ("status", Scope::Read),
            ("config.get", Scope::Read),
            ("config.schema", Scope::Read),
            ("logs.tail", Scope::Read),
            ("system-presence", Scope::Read),
            ("config.set", Scope::Admin),
            ("config.patch", Scope::Admin),
            ("config.apply", Scope::Admin),
            ("chat.send", Scope::Write),
            ("agent", Scope::Write),
            ("chat.history", Scope::Read),
            ("sessions.reset", Scope::Write),
            ("no.such.method", Scope::Admin),
            ("connect", Scope::Admin),
            // Upstream's scopes for the Control UI's methods.
            ("exec.approval.list", Scope::Approvals),
            ("plugin.approval.list", Scope::Approvals),
            ("question.list", Scope::Questions),
            ("device.pair.list", Scope::Pairing),
            ("device.pair.approve", Scope::Pairing),
            ("channels.pairing.list", Scope::Pairing),
            ("update.status", Scope::Admin),
            ("exec.approvals.get", Scope::Admin),
            ("sessions.create", Scope::Write),
            ("users.prefs.set", Scope::Write),
            ("chat.startup", Scope::Read),
            ("agents.list", Scope::Read),
        ] {
            assert_eq!(required_scope(name), scope, "{name}");
        }
    }

    /// Every method with a stock empty answer is in the table once (the
    /// table holds its scope) and answers exactly that; upstream's scopes
    /// for the Control UI methods added last.
    #[tokio::test]
    async fn empty_methods_are_in_the_table_and_answer_their_empty_shape() {
        let t = state();
        for name in openclaw_protocol::control_ui::EMPTY_METHODS {
            assert_eq!(
                METHODS.iter().filter(|m| m.name == *name).count(),
                1,
                "{name} must be in the method table once"
            );
            let want = openclaw_protocol::control_ui::empty_answer(name, &json!({})).unwrap();
            assert_eq!(call(&t, name, json!({})).await.unwrap(), want, "{name}");
        }
        for (name, scope) in [
            ("approval.history", Scope::Approvals),
            ("exec.approval.grants.list", Scope::Approvals),
            ("cron.runs", Scope::Read),
            ("cron.list", Scope::Read),
            ("skills.status", Scope::Read),
            ("skills.library.list", Scope::Read),
            ("plugins.catalog.browse", Scope::Read),
            ("config.schema.lookup", Scope::Read),
            ("doctor.memory.status", Scope::Read),
            ("webSearch.status", Scope::Read),
            ("worktrees.list", Scope::Read),
        ] {
            assert_eq!(required_scope(name), scope, "{name}");
        }
    }

    #[test]
    fn features_methods_is_the_table() {
        let t = state();
        let hello = t.state.hello_ok(
            "c",
            &crate::handshake::Accepted {
                protocol: 4,
                scopes: scopes(&["operator.read"]),
                role: "operator".into(),
                auth_method: "token",
                device_id: None,
                device_token: None,
            },
        );
        let table: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        assert_eq!(hello.features.methods, table);
    }

    #[tokio::test]
    async fn the_scope_check_comes_from_the_table() {
        let t = state();
        let c = conn();
        for m in METHODS {
            let narrower: &[&str] = match m.scope {
                Scope::Read => continue,
                Scope::Write | Scope::Talk => &["operator.read"],
                Scope::Admin => &["operator.write", "operator.pairing", "operator.approvals"],
                Scope::Approvals | Scope::Questions | Scope::Pairing | Scope::TalkSecrets => {
                    &["operator.read", "operator.write"]
                }
            };
            let e = call_on(&t, &c, narrower, m.name, json!({}))
                .await
                .unwrap_err();
            assert_eq!(e, ErrorShape::missing_scope(m.scope), "{}", m.name);
        }
        let e = call_on(&t, &c, &["operator.read"], "no.such", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e, ErrorShape::missing_scope(Scope::Admin));
        let e = call(&t, "no.such", json!({})).await.unwrap_err();
        assert_eq!(e, ErrorShape::unknown_method("no.such"));
        let e = call(&t, "connect", json!({})).await.unwrap_err();
        assert!(e.message.starts_with("already connected"), "{e}");
    }

    #[tokio::test]
    async fn health_status_identity() {
        let t = state();
        let h: HealthResult =
            serde_json::from_value(call(&t, "health", Value::Null).await.unwrap()).unwrap();
        assert!(h.ok);
        assert_eq!(h.profile.as_deref(), Some("t"));
        let s: StatusResult =
            serde_json::from_value(call(&t, "status", json!({})).await.unwrap()).unwrap();
        assert_eq!(s.auth.mode, "token");
        assert_eq!(s.pid, std::process::id());
        assert_eq!(s.ports.gateway, 20000);
        let i: IdentityResult =
            serde_json::from_value(call(&t, "gateway.identity.get", json!({})).await.unwrap())
                .unwrap();
        assert_eq!(i.device_id.len(), 16);
        let all = serde_json::to_string(&(h, s, i)).unwrap();
        assert!(!all.contains("tok-123"), "no secret in {all}");
    }

    #[tokio::test]
    async fn logs_tail_reads_the_log_and_checks_params() {
        let t = state();
        t.state.log().info("hello from the test");
        let r: LogsTailResult =
            serde_json::from_value(call(&t, "logs.tail", json!({"lines": 5})).await.unwrap())
                .unwrap();
        assert!(
            r.lines.iter().any(|l| l.contains("hello from the test")),
            "{r:?}"
        );
        assert!(r.file.unwrap().ends_with("gateway.log"));
        let e = call(&t, "logs.tail", json!({"lines": "many"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, codes::INVALID_REQUEST);
        assert!(e.message.starts_with("logs.tail: invalid params"), "{e}");
    }

    #[tokio::test]
    async fn config_get_redacts_for_readers() {
        let t = state();
        let c = conn();
        let r: ConfigGetResult = serde_json::from_value(
            call_on(&t, &c, &["operator.read"], "config.get", json!({}))
                .await
                .unwrap(),
        )
        .unwrap();
        assert!(r.exists && r.valid && r.raw_redacted && r.raw.is_none());
        assert_eq!(r.parsed["gateway"]["auth"]["token"], crate::REDACTED);
        let r: ConfigGetResult =
            serde_json::from_value(call(&t, "config.get", json!({})).await.unwrap()).unwrap();
        assert!(r.raw.unwrap().contains("tok-123"), "admin sees the file");
        assert_eq!(r.hash.unwrap().len(), 64);
    }

    #[tokio::test]
    async fn config_patch_is_compare_and_swap() {
        let t = state();
        let hash = call(&t, "config.get", json!({})).await.unwrap()["hash"].clone();
        let e = call(&t, "config.patch", json!({"patch": {"x": 1}}))
            .await
            .unwrap_err();
        assert_eq!(e.code, codes::INVALID_REQUEST, "{e}");
        let e = call(
            &t,
            "config.patch",
            json!({"patch": {"x": 1}, "baseHash": "0".repeat(64)}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.detail_code(), Some(detail_codes::CONFIG_HASH_MISMATCH));
        let r: ConfigWriteResult = serde_json::from_value(
            call(
                &t,
                "config.patch",
                json!({"patch": {"gateway": {"port": 20000}}, "baseHash": hash}),
            )
            .await
            .unwrap(),
        )
        .unwrap();
        assert!(r.ok && !r.restart_required);
        assert_eq!(r.config["gateway"]["port"], 20000);
        assert_eq!(r.config["gateway"]["auth"]["token"], crate::REDACTED);
        let e = call(&t, "config.set", json!({})).await.unwrap_err();
        assert!(e.message.starts_with("config.set needs params.raw"), "{e}");
        let e = call(&t, "config.patch", json!({"raw": "[1]"}))
            .await
            .unwrap_err();
        assert!(e.message.contains("JSON5 object"), "{e}");
        // Nesting far past the config's depth limit is refused, not
        // recursed into (a stack overflow would take the gateway down).
        let deep = "[".repeat(200_000);
        let e = call(&t, "config.patch", json!({"raw": deep, "baseHash": hash}))
            .await
            .unwrap_err();
        assert!(e.message.contains("nested more than"), "{e}");
    }

    #[tokio::test]
    async fn system_presence_and_schema() {
        let t = state();
        let p = call(&t, "system-presence", json!({})).await.unwrap();
        assert_eq!(p[0]["mode"], "gateway");
        assert_eq!(
            call(&t, "config.schema", json!({})).await.unwrap(),
            openclaw_config::schema()
        );
    }
}
