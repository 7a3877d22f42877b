//! RPC methods of agents and sessions: `chat.send|history|abort`, `agent`,
//! `agent.wait`, `sessions.list|preview|reset|delete`, `models.list`.
//! Payload shapes are documented in `openclaw_protocol::chat`.

use std::sync::Arc;
use std::time::Duration;

use openclaw_protocol::chat::{DEFAULT_SESSION_KEY, RunAccepted, SendParams};
use openclaw_protocol::{ErrorShape, Response, codes, methods};
use serde_json::{Value, json};

use crate::agents::{ConnTx, DEFAULT_AGENT, Outgoing};
use crate::server::Shared;

/// The connection a request came in on.
pub(crate) struct Conn {
    pub id: String,
    pub tx: ConnTx,
}

pub(crate) fn handles(method: &str) -> bool {
    matches!(
        method,
        methods::CHAT_SEND
            | methods::CHAT_HISTORY
            | methods::CHAT_ABORT
            | methods::AGENT
            | methods::AGENT_WAIT
            | methods::SESSIONS_LIST
            | methods::SESSIONS_PREVIEW
            | methods::SESSIONS_RESET
            | methods::SESSIONS_DELETE
            | methods::MODELS_LIST
    )
}

fn bad(msg: impl Into<String>) -> ErrorShape {
    ErrorShape::invalid_request(msg)
}

fn unavailable(msg: impl Into<String>) -> ErrorShape {
    ErrorShape::new(codes::UNAVAILABLE, msg)
}

fn str_param<'a>(p: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| p.get(*n).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// Answers the request, or returns `None` when the answer is sent later
/// through the connection's channel (`agent.wait`).
pub(crate) async fn dispatch(
    s: &Arc<Shared>,
    conn: &Conn,
    id: &str,
    method: &str,
    params: &Value,
) -> Option<Result<Value, ErrorShape>> {
    let hub = &s.agents;
    let set = hub.current();
    let agent_param = str_param(params, &["agentId"]);
    let r = match method {
        methods::CHAT_SEND | methods::AGENT => {
            let p: SendParams = match serde_json::from_value(params.clone()) {
                Ok(p) => p,
                Err(e) => {
                    return Some(Err(bad(format!(
                        "{method}: invalid params ({e}); expected {{message, sessionKey?, agentId?, idempotencyKey?}}"
                    ))));
                }
            };
            if p.message.trim().is_empty() {
                return Some(Err(bad(format!("{method}: message is empty"))));
            }
            let status = if method == methods::AGENT {
                "accepted"
            } else {
                "started"
            };
            if let Some((run_id, agent_id, session_key)) =
                hub.idempotent(p.idempotency_key.as_deref())
            {
                hub.subscribe(&agent_id, &session_key, &conn.id, &conn.tx);
                return Some(Ok(json!(RunAccepted {
                    run_id,
                    status: "in_flight".into(),
                    agent_id,
                    session_key,
                })));
            }
            let slot = match set.slot(p.agent_id.as_deref()) {
                Ok(s) => s,
                Err(e) => return Some(Err(bad(e))),
            };
            let agent = match &slot.agent {
                Ok(a) => a.clone(),
                Err(e) => return Some(Err(unavailable(format!("agent {}: {e}", slot.id)))),
            };
            let session_key = p
                .session_key
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| DEFAULT_SESSION_KEY.into());
            hub.subscribe(&slot.id, &session_key, &conn.id, &conn.tx);
            let run_id = hub.start(agent, session_key.clone(), p.message, p.idempotency_key);
            Ok(json!(RunAccepted {
                run_id,
                status: status.into(),
                agent_id: slot.id.clone(),
                session_key,
            }))
        }
        methods::AGENT_WAIT => {
            let Some(run_id) = str_param(params, &["runId"]).map(str::to_string) else {
                return Some(Err(bad("agent.wait needs params.runId")));
            };
            let timeout = Duration::from_millis(
                params
                    .get("timeoutMs")
                    .and_then(Value::as_u64)
                    .unwrap_or(30_000)
                    .min(24 * 3600 * 1000),
            );
            // Answer from a task so this connection keeps delivering events.
            let (hub, tx, id) = (s.agents.clone(), conn.tx.clone(), id.to_string());
            tokio::spawn(async move {
                let res = match hub.wait(&run_id, timeout).await {
                    Ok(o) => Response::ok(id, json!(o)),
                    Err(e) => Response::err(id, ErrorShape::new(codes::NOT_FOUND, e)),
                };
                let _ = tx.send(Outgoing::Res(res));
            });
            return None;
        }
        methods::CHAT_ABORT => {
            let run_id = str_param(params, &["runId"]);
            let key = str_param(params, &["sessionKey", "key"]);
            if run_id.is_none() && key.is_none() {
                return Some(Err(bad(
                    "chat.abort needs params.sessionKey or params.runId",
                )));
            }
            let agent_id = agent_param.unwrap_or(DEFAULT_AGENT);
            let aborted = hub.abort(run_id, key.map(|k| (agent_id, k)));
            Ok(json!({"ok": true, "aborted": aborted}))
        }
        methods::CHAT_HISTORY => {
            let key = str_param(params, &["sessionKey", "key"]).unwrap_or(DEFAULT_SESSION_KEY);
            let limit = params
                .get("limit")
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            let slot = match set.slot(agent_param) {
                Ok(s) => s,
                Err(e) => return Some(Err(bad(e))),
            };
            hub.subscribe(&slot.id, key, &conn.id, &conn.tx);
            let sessions = slot.sessions.clone();
            let key_owned = key.to_string();
            let got = tokio::task::spawn_blocking(move || {
                let summary = sessions.get(&key_owned)?;
                let recs = match &summary {
                    Some(_) => sessions.history(&key_owned, limit)?,
                    None => Vec::new(),
                };
                Ok::<_, openclaw_agent::session::SessionError>((summary, recs))
            })
            .await;
            match got {
                Ok(Ok((summary, recs))) => Ok(json!({
                    "agentId": slot.id,
                    "sessionKey": key,
                    "sessionId": summary.map(|s| s.entry.session_id),
                    "running": hub.is_running(&slot.id, key),
                    "messages": recs,
                })),
                Ok(Err(e)) => Err(unavailable(format!("cannot read session '{key}': {e}"))),
                Err(e) => Err(ErrorShape::new(codes::INTERNAL, e.to_string())),
            }
        }
        methods::SESSIONS_LIST => {
            let slot = match set.slot(agent_param) {
                Ok(s) => s,
                Err(e) => return Some(Err(bad(e))),
            };
            match slot.sessions.list() {
                Ok(list) => {
                    let sessions: Vec<Value> = list
                        .into_iter()
                        .map(|x| {
                            let running = hub.is_running(&slot.id, &x.key);
                            let mut v = json!(x);
                            v["running"] = json!(running);
                            v
                        })
                        .collect();
                    Ok(json!({
                        "agentId": slot.id,
                        "dir": slot.sessions.dir(),
                        "sessions": sessions,
                    }))
                }
                Err(e) => Err(unavailable(format!("cannot list sessions: {e}"))),
            }
        }
        methods::SESSIONS_PREVIEW | methods::SESSIONS_RESET | methods::SESSIONS_DELETE => {
            let Some(key) = str_param(params, &["key", "sessionKey"]) else {
                return Some(Err(bad(format!(
                    "{method} needs params.key (a session key)"
                ))));
            };
            let slot = match set.slot(agent_param) {
                Ok(s) => s,
                Err(e) => return Some(Err(bad(e))),
            };
            if method != methods::SESSIONS_PREVIEW && hub.is_running(&slot.id, key) {
                return Some(Err(ErrorShape::new(
                    codes::CONFLICT,
                    format!("session '{key}' has a run in progress; abort it first (chat.abort)"),
                )));
            }
            match method {
                methods::SESSIONS_PREVIEW => {
                    let n = params.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
                    match slot.sessions.preview(key, n) {
                        Ok(Some(p)) => Ok(json!(p)),
                        Ok(None) => Err(ErrorShape::new(
                            codes::NOT_FOUND,
                            format!("no session '{key}' for agent {}", slot.id),
                        )),
                        Err(e) => Err(unavailable(e.to_string())),
                    }
                }
                methods::SESSIONS_RESET => match slot.sessions.reset(key) {
                    Ok(sid) => {
                        s.log.info(&format!(
                            "agent {}: session '{key}' reset (new session {sid})",
                            slot.id
                        ));
                        Ok(json!({"ok": true, "key": key, "sessionId": sid}))
                    }
                    Err(e) => Err(unavailable(e.to_string())),
                },
                _ => match slot.sessions.delete(key) {
                    Ok(deleted) => {
                        s.log
                            .info(&format!("agent {}: session '{key}' deleted", slot.id));
                        Ok(json!({"ok": true, "key": key, "deleted": deleted}))
                    }
                    Err(e) => Err(unavailable(e.to_string())),
                },
            }
        }
        methods::MODELS_LIST => {
            let agents: Vec<Value> = set
                .slots
                .values()
                .map(|sl| {
                    json!({
                        "id": sl.id,
                        "workspace": sl.workspace,
                        "model": sl.model,
                        "fallbacks": sl.fallbacks,
                        "ready": sl.agent.is_ok(),
                        "error": sl.agent.as_ref().err(),
                    })
                })
                .collect();
            let providers: Vec<Value> = set
                .providers
                .iter()
                .map(|p| {
                    json!({
                        "id": p.id,
                        "api": p.api,
                        "baseUrl": p.base_url,
                        "keySource": p.key_source,
                        "models": p.models,
                        "error": p.error,
                    })
                })
                .collect();
            // Base URLs may carry userinfo credentials: redacted like config.get.
            Ok(openclaw_config::redact(&json!({
                "defaultAgent": DEFAULT_AGENT,
                "agents": agents,
                "providers": providers,
            })))
        }
        other => Err(ErrorShape::unknown_method(other)),
    };
    Some(r)
}
