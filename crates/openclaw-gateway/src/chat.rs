//! RPC methods of agents and sessions: `chat.send|history|abort`, `agent`,
//! `agent.wait`, `sessions.list|preview|reset|delete`, `models.list`.
//! Payload shapes are documented in `openclaw_protocol::chat`.

use std::time::Duration;

use openclaw_protocol::chat::{
    AbortResult, AgentInfo, DEFAULT_SESSION_KEY, DeleteResult, HistoryResult, ModelsListResult,
    ProviderInfo, ResetResult, RunAccepted, SendParams, SessionParams, WaitParams,
};
use openclaw_protocol::{ErrorShape, Response, codes, methods, session_key};
use serde_json::Value;

use crate::agents::{ConnTx, Outgoing};
use crate::control_ui::resolve;
use crate::methods::{Call, Reply};
use openclaw_protocol::control_ui::ChatHistoryParams;

/// The connection a request came in on.
#[derive(Clone)]
pub(crate) struct Conn {
    pub id: String,
    pub tx: ConnTx,
    /// The device this connection authenticated as with its device token
    /// (`None` for the shared secret, even with a device identity).
    pub device: Option<String>,
}

fn bad(msg: impl Into<String>) -> ErrorShape {
    ErrorShape::invalid_request(msg)
}

fn unavailable(msg: impl Into<String>) -> ErrorShape {
    ErrorShape::new(codes::UNAVAILABLE, msg)
}

/// The `model` of a transcript's answer to a rescue command: the command
/// engine, not a model.
const COMMAND_MODEL: &str = "openclaw/rescue-command";

const SESSION_PARAMS: &str = "{sessionKey | key, agentId?, runId?, limit?, maxBytes?}";

/// `chat.send` and `agent`: start a run, answer at once.
pub(crate) async fn send(c: Call) -> Reply {
    if let Some(r) = command(&c) {
        return r;
    }
    Reply::of(send_result(&c))
}

/// WebChat counts as a channel: a `chat.send` whose text is one of the
/// rescue role's commands is answered by the command engine, without a
/// model, as a run of chat events on the session. The connection is the
/// owner when it holds `operator.admin`; `None` when the text is not a
/// command (or the role is off).
fn command(c: &Call) -> Option<Reply> {
    if c.method != methods::CHAT_SEND {
        return None;
    }
    let hooks = c.state.options().rescue.as_ref()?;
    let p: SendParams = c.params("{message, sessionKey?}").ok()?;
    if !p.message.trim_start().starts_with('/') {
        return None;
    }
    // The session as the agent methods resolve it (a bare key or the
    // canonical `agent:<id>:<key>` the Control UI sends).
    let set = c.state.agents().current();
    let asked = p
        .session_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .unwrap_or(DEFAULT_SESSION_KEY);
    let (agent_id, session_key, sessions) = match resolve(&set, Some(asked), p.agent_id.as_deref())
    {
        Ok((slot, key)) => (slot.id.clone(), key, slot.sessions.clone()),
        Err(e) => return Some(Reply::Now(Err(e))),
    };
    let inbound = openclaw_channels::Inbound {
        channel: "webchat".into(),
        account: openclaw_channels::DEFAULT_ACCOUNT.into(),
        chat_id: session_key.clone(),
        chat_kind: openclaw_channels::ChatKind::Direct,
        sender_id: session_key.clone(),
        sender_name: None,
        text: p.message.clone(),
        reply_to_bot: false,
        mentioned: false,
    };
    let owner = c.scopes.allows(openclaw_protocol::Scope::Admin);
    let reply = hooks.commands.run(&inbound, owner)?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let hub = c.state.agents().clone();
    hub.subscribe(&agent_id, &session_key, &c.conn.id, &c.conn.tx);
    // The answer first, so the client knows the run id before its events.
    let accepted = RunAccepted {
        run_id: run_id.clone(),
        status: "started".into(),
        agent_id: agent_id.clone(),
        session_key: session_key::canonical(&agent_id, &session_key),
    };
    let res = match serde_json::to_value(accepted) {
        Ok(v) => Response::ok(c.id.clone(), v),
        Err(e) => Response::err(
            c.id.clone(),
            ErrorShape::new(codes::INTERNAL, e.to_string()),
        ),
    };
    let _ = c.conn.tx.send(Outgoing::Res(res));
    c.state.log().info(&format!(
        "webchat: command on session '{session_key}' (run {run_id})"
    ));
    // The exchange goes into the session's transcript like a turn: the
    // command (as the audit shows it: no secret) before it runs, its reply
    // after, so `chat.history` and a reload of the Control UI show it.
    let asked_text = (hooks.shown)(&p.message);
    let log = c.state.log().clone();
    let session_key_for_reply = session_key.clone();
    let record = move |rec: openclaw_agent::session::TranscriptRecord| {
        let (sessions, key, log) = (sessions.clone(), session_key.clone(), log.clone());
        async move {
            let done = tokio::task::spawn_blocking(move || {
                let h = sessions.open(&key)?;
                sessions.append(&h, &rec)
            })
            .await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log.warn(&format!(
                    "webchat: command not recorded in the transcript: {e}"
                )),
                Err(e) => log.warn(&format!(
                    "webchat: command not recorded in the transcript: {e}"
                )),
            }
        }
    };
    tokio::spawn(async move {
        use openclaw_agent::session::{TranscriptRecord, now_ms};
        record(TranscriptRecord::User {
            run_id: run_id.clone(),
            ts: now_ms(),
            text: asked_text,
        })
        .await;
        let text = reply.await;
        record(TranscriptRecord::Assistant {
            run_id: run_id.clone(),
            ts: now_ms(),
            model: COMMAND_MODEL.into(),
            text: text.clone(),
            tool_calls: Vec::new(),
            stop_reason: Some("stop".into()),
            aborted: false,
            incomplete: false,
        })
        .await;
        hub.command_reply(&agent_id, &session_key_for_reply, &run_id, &text);
    });
    Some(Reply::Later)
}

fn send_result(c: &Call) -> Result<RunAccepted, ErrorShape> {
    let method = c.method;
    let p: SendParams = c.params("{message, sessionKey?, agentId?, idempotencyKey?}")?;
    if p.message.trim().is_empty() {
        return Err(bad(format!("{method}: message is empty")));
    }
    let status = if method == methods::AGENT {
        "accepted"
    } else {
        "started"
    };
    let hub = c.state.agents();
    if let Some((run_id, agent_id, session_key)) = hub.idempotent(p.idempotency_key.as_deref()) {
        hub.subscribe(&agent_id, &session_key, &c.conn.id, &c.conn.tx);
        return Ok(RunAccepted {
            run_id,
            status: "in_flight".into(),
            session_key: session_key::canonical(&agent_id, &session_key),
            agent_id,
        });
    }
    let set = hub.current();
    let asked = p
        .session_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .unwrap_or(DEFAULT_SESSION_KEY);
    let (slot, session_key) = resolve(&set, Some(asked), p.agent_id.as_deref())?;
    let agent = match &slot.agent {
        Ok(a) => a.clone(),
        Err(e) => return Err(unavailable(format!("agent {}: {e}", slot.id))),
    };
    hub.subscribe(&slot.id, &session_key, &c.conn.id, &c.conn.tx);
    let caller = webchat_caller(c, &session_key);
    let run_id = hub.start_for(
        agent,
        session_key.clone(),
        p.message,
        p.idempotency_key,
        Some(caller),
    );
    Ok(RunAccepted {
        run_id,
        status: status.into(),
        agent_id: slot.id.clone(),
        session_key: session_key::canonical(&slot.id, &session_key),
    })
}

/// Who a WebChat turn runs for: the session, owned by the connection when
/// it holds `operator.admin` (the same rule as WebChat's commands).
pub(crate) fn webchat_caller(c: &Call, session_key: &str) -> openclaw_agent::Caller {
    openclaw_agent::Caller {
        id: format!("webchat:{session_key}"),
        owner: c.scopes.allows(openclaw_protocol::Scope::Admin),
    }
}

/// `agent.wait`: answered from a task through the connection's outbox, so
/// the connection keeps delivering events while it waits.
pub(crate) async fn wait(c: Call) -> Reply {
    let p: WaitParams = match c.params("{runId, timeoutMs?}") {
        Ok(p) => p,
        Err(e) => return Reply::Now(Err(e)),
    };
    let Some(run_id) = p.run_id.clone().filter(|r| !r.is_empty()) else {
        return Reply::Now(Err(bad("agent.wait needs params.runId")));
    };
    let timeout = Duration::from_millis(p.timeout_ms());
    let (hub, tx, id) = (c.state.agents().clone(), c.conn.tx.clone(), c.id.clone());
    tokio::spawn(async move {
        let res = match hub.wait(&run_id, timeout).await {
            Ok(o) => match serde_json::to_value(o) {
                Ok(v) => Response::ok(id, v),
                Err(e) => Response::err(id, ErrorShape::new(codes::INTERNAL, e.to_string())),
            },
            Err(e) => Response::err(id, ErrorShape::new(codes::NOT_FOUND, e)),
        };
        let _ = tx.send(Outgoing::Res(res));
    });
    Reply::Later
}

pub(crate) async fn abort(c: Call) -> Reply {
    Reply::of(abort_result(&c))
}

fn abort_result(c: &Call) -> Result<AbortResult, ErrorShape> {
    let p: SessionParams = c.params(SESSION_PARAMS)?;
    let (run_id, key) = (p.run(), p.session());
    if run_id.is_none() && key.is_none() {
        return Err(bad("chat.abort needs params.sessionKey or params.runId"));
    }
    let target = match key {
        Some(k) => {
            let set = c.state.agents().current();
            let (slot, k) = resolve(&set, Some(k), p.agent())?;
            Some((slot.id.clone(), k))
        }
        None => None,
    };
    let aborted = c
        .state
        .agents()
        .abort(
            run_id,
            target.as_ref().map(|(a, k)| (a.as_str(), k.as_str())),
        )
        .map_err(bad)?;
    Ok(AbortResult { ok: true, aborted })
}

pub(crate) async fn history(c: Call) -> Reply {
    let p: ChatHistoryParams = match c.params(SESSION_PARAMS) {
        Ok(p) => p,
        Err(e) => return Reply::Now(Err(e)),
    };
    Reply::of(
        crate::control_ui::history(&c, &p)
            .await
            .map(|(agent_id, running, history)| HistoryResult {
                agent_id,
                running,
                history,
            }),
    )
}

/// `sessions.preview`, `sessions.reset`, `sessions.delete`.
pub(crate) async fn session_change(c: Call) -> Reply {
    match session_change_result(&c) {
        Ok(v) => Reply::Now(Ok(v)),
        Err(e) => Reply::Now(Err(e)),
    }
}

fn session_change_result(c: &Call) -> Result<Value, ErrorShape> {
    let method = c.method;
    let p: SessionParams = c.params(SESSION_PARAMS)?;
    let Some(key) = p.key_first() else {
        return Err(bad(format!("{method} needs params.key (a session key)")));
    };
    let hub = c.state.agents();
    let set = hub.current();
    let wire = key.to_string();
    let (slot, key) = resolve(&set, Some(&wire), p.agent())?;
    let key = key.as_str();
    if method != methods::SESSIONS_PREVIEW && hub.is_running(&slot.id, key) {
        return Err(ErrorShape::new(
            codes::CONFLICT,
            format!("session '{key}' has a run in progress; abort it first (chat.abort)"),
        ));
    }
    let log = c.state.log();
    let encode = |v: Result<Value, serde_json::Error>| {
        v.map_err(|e| ErrorShape::new(codes::INTERNAL, e.to_string()))
    };
    match method {
        methods::SESSIONS_PREVIEW => {
            let n = p.limit.unwrap_or(10) as usize;
            match slot.sessions.preview(key, n) {
                Ok(Some(pv)) => encode(serde_json::to_value(pv)),
                Ok(None) => Err(ErrorShape::new(
                    codes::NOT_FOUND,
                    format!("no session '{key}' for agent {}", slot.id),
                )),
                Err(e) => Err(unavailable(e.to_string())),
            }
        }
        methods::SESSIONS_RESET => {
            let sid = slot
                .sessions
                .reset(key)
                .map_err(|e| unavailable(e.to_string()))?;
            log.info(&format!(
                "agent {}: session '{key}' reset (new session {sid})",
                slot.id
            ));
            hub.session_changed(&slot.id, key, "reset");
            encode(serde_json::to_value(ResetResult {
                ok: true,
                key: session_key::canonical(&slot.id, key),
                session_id: sid,
            }))
        }
        _ => {
            let deleted = slot
                .sessions
                .delete(key)
                .map_err(|e| unavailable(e.to_string()))?;
            log.info(&format!("agent {}: session '{key}' deleted", slot.id));
            hub.session_changed(&slot.id, key, "deleted");
            encode(serde_json::to_value(DeleteResult {
                ok: true,
                key: session_key::canonical(&slot.id, key),
                deleted,
            }))
        }
    }
}

pub(crate) async fn models_list(c: Call) -> Reply {
    let set = c.state.agents().current();
    let agents = set
        .slots
        .values()
        .map(|sl| AgentInfo {
            id: sl.id.clone(),
            workspace: sl.workspace.display().to_string(),
            model: sl.model.clone(),
            fallbacks: sl.fallbacks.clone(),
            ready: sl.agent.is_ok(),
            error: sl.agent.as_ref().err().cloned(),
        })
        .collect();
    let providers = set
        .providers
        .iter()
        .map(|p| ProviderInfo {
            id: p.id.clone(),
            api: p.api.clone(),
            base_url: p.base_url.clone(),
            key_source: p.key_source.clone(),
            models: p.models.clone(),
            error: p.error.clone(),
        })
        .collect();
    let result = ModelsListResult {
        default_agent: crate::agents::DEFAULT_AGENT.into(),
        agents,
        providers,
        models: crate::control_ui::models_of(&set),
        account_selection: openclaw_protocol::control_ui::account_selection(),
    };
    // Base URLs may carry userinfo credentials: redacted like config.get.
    Reply::of(Ok(openclaw_config::redact(
        &serde_json::to_value(result).unwrap_or_default(),
    )))
}

#[cfg(test)]
mod tests {
    use crate::methods::tests::{call, call_on, conn};
    use crate::outbox::Item;
    use crate::state::testing::state;
    use openclaw_protocol::chat::{HistoryResult, ModelsListResult};
    use openclaw_protocol::control_ui::SessionsListResult;
    use openclaw_protocol::{Frame, Request, codes};
    use serde_json::json;

    #[tokio::test]
    async fn send_checks_its_params_and_the_agent() {
        let t = state();
        for method in ["chat.send", "agent"] {
            let e = call(&t, method, json!({"message": "  "}))
                .await
                .unwrap_err();
            assert_eq!(e.message, format!("{method}: message is empty"));
            let e = call(&t, method, json!({})).await.unwrap_err();
            assert!(
                e.message.starts_with(&format!("{method}: invalid params")),
                "{e}"
            );
            // No model is configured in the test state.
            let e = call(&t, method, json!({"message": "hi"}))
                .await
                .unwrap_err();
            assert_eq!(e.code, codes::UNAVAILABLE);
            assert!(e.message.contains("no model configured"), "{e}");
            let e = call(&t, method, json!({"message": "hi", "agentId": "ghost"}))
                .await
                .unwrap_err();
            assert_eq!(e.code, codes::INVALID_REQUEST);
            assert!(e.message.contains("no agent 'ghost'"), "{e}");
        }
    }

    /// Answers `/status <x>` (owners) or refuses it; ignores other text.
    struct Commands;

    impl openclaw_channels::CommandRunner for Commands {
        fn run(
            &self,
            msg: &openclaw_channels::Inbound,
            is_owner: bool,
        ) -> Option<futures_util::future::BoxFuture<'static, String>> {
            if !msg.text.starts_with("/status") {
                return None;
            }
            let reply = format!(
                "{} {} {}: {}",
                msg.channel,
                msg.sender_id,
                if is_owner { "owner" } else { "not owner" },
                msg.text
            );
            Some(Box::pin(async move { reply }))
        }
    }

    struct NoTools;

    impl openclaw_agent::InstanceTools for NoTools {
        fn call(
            &self,
            _: &str,
            _: serde_json::Value,
            _: &str,
            _: Option<&openclaw_agent::Caller>,
        ) -> futures_util::future::BoxFuture<'static, Result<String, String>> {
            Box::pin(async { Err("none".to_string()) })
        }
    }

    async fn frames(c: &crate::chat::Conn, n: usize) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for _ in 0..n {
            let item =
                tokio::time::timeout(std::time::Duration::from_secs(5), c.tx.outbox().next())
                    .await
                    .unwrap_or_else(|_| panic!("no frame in time after {out:?}"))
                    .expect("open");
            out.push(match item {
                Item::Text(t) => serde_json::from_str(&t).unwrap(),
                Item::Event { name, payload } => {
                    json!({"event": name, "payload": serde_json::from_str::<serde_json::Value>(&payload).unwrap()})
                }
            });
        }
        out
    }

    /// WebChat counts as a channel: a command in `chat.send` is answered
    /// by the command engine as chat events, without a model (none is
    /// configured here), the answer to the request first.
    #[tokio::test]
    async fn a_webchat_command_is_answered_without_a_model() {
        let t = crate::state::testing::state_with_rescue(
            json!({"gateway": {"auth": {"token": "tok-123"}}}),
            Some(crate::RescueHooks {
                commands: std::sync::Arc::new(Commands),
                tools: std::sync::Arc::new(NoTools),
                shown: |t| t.replace("s3cret", "<redacted>"),
            }),
        );
        for (scopes, who) in [
            (
                &["operator.read", "operator.write", "operator.admin"][..],
                "owner",
            ),
            (&["operator.read", "operator.write"][..], "not owner"),
        ] {
            let c = crate::chat::Conn {
                id: format!("conn-{who}"),
                ..conn()
            };
            let req = Request {
                id: "s1".into(),
                method: "chat.send".into(),
                params: json!({"message": "/status main", "sessionKey": "ops"}),
            };
            let now =
                crate::methods::dispatch(&t.state, &c, crate::methods::tests::scopes(scopes), req)
                    .await;
            assert!(now.is_none(), "answered through the outbox");
            let f = frames(&c, 4).await;
            assert_eq!(f[0]["id"], "s1");
            let run = f[0]["payload"]["runId"].as_str().unwrap().to_string();
            assert_eq!(f[0]["payload"]["sessionKey"], "agent:main:ops");
            assert_eq!(f[1]["event"], "agent");
            assert_eq!(f[1]["payload"]["data"]["phase"], "start");
            assert_eq!(f[2]["event"], "chat");
            assert_eq!(f[2]["payload"]["runId"], run.as_str());
            assert_eq!(f[2]["payload"]["state"], "final");
            assert_eq!(
                f[2]["payload"]["message"]["text"],
                format!("webchat ops {who}: /status main")
            );
            assert_eq!(f[3]["payload"]["data"]["phase"], "end");
        }
        // Both exchanges are in the session's transcript, the command as
        // the hook shows it (its secret redacted).
        let req = Request {
            id: "s2".into(),
            method: "chat.send".into(),
            params: json!({"message": "/status s3cret", "sessionKey": "ops"}),
        };
        let c = conn();
        let admin =
            crate::methods::tests::scopes(&["operator.read", "operator.write", "operator.admin"]);
        assert!(
            crate::methods::dispatch(&t.state, &c, admin, req)
                .await
                .is_none()
        );
        let f = frames(&c, 4).await;
        assert_eq!(f[3]["payload"]["data"]["phase"], "end");
        let set = t.state.agents().current();
        let sessions = &set.slots["main"].sessions;
        let h = sessions.open("ops").unwrap();
        let recs = openclaw_agent::session::read_transcript(&h.path).unwrap();
        let texts: Vec<(String, String)> = recs
            .iter()
            .filter_map(|r| match r {
                openclaw_agent::TranscriptRecord::User { text, .. } => {
                    Some(("user".into(), text.clone()))
                }
                openclaw_agent::TranscriptRecord::Assistant { text, model, .. } => {
                    assert_eq!(model, crate::chat::COMMAND_MODEL);
                    Some(("assistant".into(), text.clone()))
                }
                _ => None,
            })
            .collect();
        let pair = |u: &str, a: &str| {
            [
                ("user".to_string(), u.to_string()),
                ("assistant".to_string(), a.to_string()),
            ]
        };
        let mut want = Vec::new();
        want.extend(pair("/status main", "webchat ops owner: /status main"));
        want.extend(pair("/status main", "webchat ops not owner: /status main"));
        want.extend(pair(
            "/status <redacted>",
            "webchat ops owner: /status s3cret",
        ));
        assert_eq!(texts, want);
        // Anything else still goes to the agent (none is configured).
        let e = call(&t, "chat.send", json!({"message": "hello"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, codes::UNAVAILABLE);
    }

    #[tokio::test]
    async fn wait_answers_later_through_the_outbox() {
        let t = state();
        let c = conn();
        let e = call_on(&t, &c, &["operator.read"], "agent.wait", json!({}))
            .await
            .unwrap_err();
        assert_eq!(e.message, "agent.wait needs params.runId");
        let req = Request {
            id: "w1".into(),
            method: "agent.wait".into(),
            params: json!({"runId": "nope", "timeoutMs": 10}),
        };
        let now = crate::methods::dispatch(
            &t.state,
            &c,
            crate::methods::tests::scopes(&["operator.read"]),
            req,
        )
        .await;
        assert!(now.is_none(), "answered later");
        let Ok(Item::Text(text)) = c.tx.outbox().next().await else {
            panic!("a response")
        };
        let Frame::Res(res) = serde_json::from_str(&text).unwrap() else {
            panic!("{text}")
        };
        assert_eq!(res.id, "w1");
        assert_eq!(res.into_result().unwrap_err().code, codes::NOT_FOUND);
    }

    #[tokio::test]
    async fn abort_history_and_sessions() {
        let t = state();
        let e = call(&t, "chat.abort", json!({"sessionKey": ""}))
            .await
            .unwrap_err();
        assert_eq!(
            e.message,
            "chat.abort needs params.sessionKey or params.runId"
        );
        let r = call(&t, "chat.abort", json!({"key": "main"}))
            .await
            .unwrap();
        assert_eq!(r, json!({"ok": true, "aborted": []}));

        let h: HistoryResult =
            serde_json::from_value(call(&t, "chat.history", json!({})).await.unwrap()).unwrap();
        assert_eq!(
            (h.agent_id.as_str(), h.history.session_key.as_str()),
            ("main", "agent:main:main")
        );
        assert_eq!(
            (h.history.session_id, h.running, h.history.messages.len()),
            (None, false, 0)
        );

        let l: SessionsListResult =
            serde_json::from_value(call(&t, "sessions.list", json!({})).await.unwrap()).unwrap();
        assert_eq!(l.agent_id, "main");
        assert!(l.sessions.is_empty());
        assert!(l.dir.ends_with("sessions"), "{}", l.dir);

        let e = call(&t, "sessions.preview", json!({})).await.unwrap_err();
        assert_eq!(
            e.message,
            "sessions.preview needs params.key (a session key)"
        );
        let e = call(&t, "sessions.preview", json!({"key": "nope"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, codes::NOT_FOUND);
        let e = call(&t, "sessions.list", json!({"agentId": "ghost"}))
            .await
            .unwrap_err();
        assert!(e.message.contains("no agent 'ghost'"), "{e}");
        let d = call(&t, "sessions.delete", json!({"key": "nope"}))
            .await
            .unwrap();
        assert_eq!(
            d,
            json!({"ok": true, "key": "agent:main:nope", "deleted": false})
        );
    }

    #[tokio::test]
    async fn models_list_names_the_default_agent_and_why_it_is_not_ready() {
        let t = state();
        let m: ModelsListResult =
            serde_json::from_value(call(&t, "models.list", json!({})).await.unwrap()).unwrap();
        assert_eq!(m.default_agent, "main");
        assert_eq!(m.agents.len(), 1);
        assert!(!m.agents[0].ready);
        assert!(
            m.agents[0]
                .error
                .as_deref()
                .unwrap()
                .contains("no model configured")
        );
        assert!(m.providers.is_empty());
    }
}
