//! One WebSocket connection: challenge, `connect` handshake, then requests
//! and events until either side closes or the gateway shuts down.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use openclaw_protocol::{
    ConnectChallenge, ConnectParams, ErrorShape, EventFrame, Features, Frame, HELLO_OK, HelloAuth,
    HelloOk, Policy, PresenceEntry, Request, Response, ScopeSet, ServerInfo, Snapshot,
    StateVersion, close_codes, codes, detail_codes, events, methods, negotiate, required_scope,
};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::AuthConfig;
use crate::config_store::{ConfigError, merge_patch};
use crate::server::{Shared, now_ms};
use openclaw_config::redact;

/// Decrements the connection count when the connection task ends.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

async fn send_frame(socket: &mut WebSocket, frame: &Frame) -> bool {
    socket
        .send(Message::Text(frame.to_text().into()))
        .await
        .is_ok()
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    // A close reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason[..end].into(),
        })))
        .await;
}

/// What the first client frame was.
enum First {
    Text(String),
    Garbage,
    Gone,
}

/// Closes with "message too big" when the pre-auth byte allowance ran out.
async fn close_preauth(socket: &mut WebSocket, conn: Option<&crate::guard::ConnInfo>) {
    if conn.is_some_and(|c| c.budget.exceeded()) {
        close(
            socket,
            close_codes::MESSAGE_TOO_BIG,
            "message too big: at most 64 KiB before connect",
        )
        .await;
    }
}

async fn first_text(socket: &mut WebSocket) -> First {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) => return First::Text(t.to_string()),
            Some(Ok(Message::Binary(_))) => return First::Garbage,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return First::Gone,
        }
    }
}

pub(crate) async fn handle(
    s: Arc<Shared>,
    mut socket: WebSocket,
    conn_info: Option<crate::guard::ConnInfo>,
    origin: Option<String>,
) {
    s.active.fetch_add(1, Ordering::AcqRel);
    let _guard = ActiveGuard(s.clone());
    let mut shutdown_rx = s.shutdown.subscribe();
    if shutdown_rx.borrow().is_some() {
        close(
            &mut socket,
            close_codes::GOING_AWAY,
            "gateway shutting down",
        )
        .await;
        return;
    }

    let challenge = ConnectChallenge {
        nonce: uuid::Uuid::new_v4().to_string(),
        ts: now_ms(),
        capabilities: Vec::new(),
    };
    let frame = Frame::Event(EventFrame {
        event: events::CONNECT_CHALLENGE.into(),
        payload: serde_json::to_value(&challenge).unwrap_or(Value::Null),
        seq: None,
    });
    if !send_frame(&mut socket, &frame).await {
        return;
    }

    let first = tokio::select! {
        r = tokio::time::timeout(s.opts.handshake_timeout, first_text(&mut socket)) => r,
        _ = shutdown_rx.changed() => {
            close(&mut socket, close_codes::GOING_AWAY, "gateway shutting down").await;
            return;
        }
    };
    let text = match first {
        Err(_) => {
            // No connect within the handshake timeout (observed: close 1000).
            close(&mut socket, close_codes::NORMAL, "").await;
            return;
        }
        Ok(First::Gone) => {
            close_preauth(&mut socket, conn_info.as_ref()).await;
            return;
        }
        Ok(First::Garbage) => {
            close(&mut socket, close_codes::NORMAL, "").await;
            return;
        }
        Ok(First::Text(t)) => t,
    };
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        // Not JSON (observed: close 1000, no answer).
        close(&mut socket, close_codes::NORMAL, "").await;
        return;
    };
    let req = match serde_json::from_value::<Frame>(value) {
        Ok(Frame::Req(r)) => r,
        _ => {
            let e = ErrorShape::first_request_not_connect();
            close(&mut socket, close_codes::POLICY_VIOLATION, &e.message).await;
            return;
        }
    };
    if req.method != methods::CONNECT {
        let e = ErrorShape::first_request_not_connect();
        let reason = e.message.clone();
        send_frame(&mut socket, &Frame::Res(Response::err(req.id, e))).await;
        close(&mut socket, close_codes::POLICY_VIOLATION, &reason).await;
        return;
    }
    let params: ConnectParams = match serde_json::from_value(req.params.clone()) {
        Ok(p) => p,
        Err(e) => {
            let e = ErrorShape::invalid_request(format!(
                "invalid connect params: {e} (expected minProtocol, maxProtocol, client, auth, role, scopes)"
            ));
            let reason = e.message.clone();
            send_frame(&mut socket, &Frame::Res(Response::err(req.id, e))).await;
            close(&mut socket, close_codes::POLICY_VIOLATION, &reason).await;
            return;
        }
    };
    let Some(protocol) = negotiate(params.min_protocol, params.max_protocol) else {
        let e = ErrorShape::protocol_mismatch(params.min_protocol, params.max_protocol);
        send_frame(&mut socket, &Frame::Res(Response::err(req.id, e))).await;
        close(
            &mut socket,
            close_codes::PROTOCOL_ERROR,
            "protocol mismatch",
        )
        .await;
        return;
    };
    // Sessions end when the credentials they used change.
    let mut epoch_rx = s.guard.auth_epoch.subscribe();
    let auth = s
        .live
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .auth
        .clone();
    let fail_key = conn_info
        .as_ref()
        .and_then(|c| s.guard.failure_key(c.remote.ip(), origin.as_deref()));
    if let Some(k) = &fail_key
        && let Err(wait) = s.guard.locked_out(k)
    {
        let e = ErrorShape::auth_rate_limited(wait.as_millis() as u64);
        let reason = e.message.clone();
        send_frame(&mut socket, &Frame::Res(Response::err(req.id, e))).await;
        close(&mut socket, close_codes::POLICY_VIOLATION, &reason).await;
        return;
    }
    let auth_err = match (&auth, &params.auth.token, &params.auth.password) {
        (AuthConfig::None, _, _) => None,
        (AuthConfig::Token(_), None, None) | (AuthConfig::Password(_), None, None) => {
            Some(ErrorShape::device_identity_required())
        }
        (AuthConfig::Token(want), Some(got), _) => {
            (!openclaw_state::secret_eq(got, want)).then(ErrorShape::token_mismatch)
        }
        (AuthConfig::Token(_), None, Some(_)) => Some(ErrorShape::token_mismatch()),
        (AuthConfig::Password(want), _, Some(got)) => {
            (!openclaw_state::secret_eq(got, want)).then(ErrorShape::password_mismatch)
        }
        (AuthConfig::Password(_), Some(_), None) => Some(ErrorShape::password_mismatch()),
    };
    if let Some(e) = &auth_err
        && (params.auth.token.is_some() || params.auth.password.is_some())
    {
        // A wrong secret (not a missing one) counts; never log the secret.
        let lockout = s.guard.record_failure(fail_key.clone());
        s.log.warn(&format!(
            "auth failed: remote {}, origin {}, client {:?} ({}){}",
            conn_info
                .as_ref()
                .map(|c| c.remote.to_string())
                .unwrap_or_else(|| "unknown".into()),
            origin.as_deref().unwrap_or("none"),
            params.client.id,
            e.details
                .as_ref()
                .and_then(|d| d.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("unauthorized"),
            match lockout {
                Some(d) => format!("; locked out for {}s", d.as_secs()),
                None => String::new(),
            }
        ));
    }
    if let Some(e) = auth_err {
        let reason = e.message.clone();
        send_frame(&mut socket, &Frame::Res(Response::err(req.id, e))).await;
        close(&mut socket, close_codes::POLICY_VIOLATION, &reason).await;
        return;
    }

    s.guard.record_success(fail_key.as_ref());
    if let Some(c) = &conn_info {
        c.budget.authenticated();
    }
    epoch_rx.mark_unchanged();

    let mut scopes = ScopeSet::from_strs(params.scopes.iter().map(String::as_str));
    if scopes.is_empty() {
        scopes = ScopeSet::from_strs(["operator.read"]);
    }
    let conn_id = uuid::Uuid::new_v4().to_string();
    let role = params.role.clone().unwrap_or_else(|| "operator".into());
    let hello = HelloOk {
        kind: HELLO_OK.into(),
        protocol,
        server: ServerInfo {
            version: s.record.version.clone(),
            conn_id: conn_id.clone(),
        },
        features: Features {
            methods: methods::ALL
                .iter()
                .chain([crate::browser_rpc::METHOD].iter())
                .map(|m| m.to_string())
                .collect(),
            events: events::ALL.iter().map(|m| m.to_string()).collect(),
        },
        snapshot: Snapshot {
            presence: s.presence(),
            health: s.health(),
            state_version: StateVersion {
                presence: s.presence_version.load(Ordering::Relaxed),
                health: s.health_version.load(Ordering::Relaxed),
            },
            uptime_ms: s.uptime_ms(),
            config_path: Some(s.record.config_path.display().to_string()),
            state_dir: Some(s.record.state_dir.display().to_string()),
            profile: s.record.profile.clone(),
        },
        auth: HelloAuth {
            method: Some(auth.mode().into()),
            role,
            scopes: scopes.to_strings(),
        },
        policy: Policy {
            max_payload: s.opts.max_payload as u64,
            max_buffered_bytes: s.opts.max_buffered_bytes as u64,
            tick_interval_ms: s.opts.tick_interval.as_millis() as u64,
        },
    };
    let hello = serde_json::to_value(&hello).unwrap_or(Value::Null);
    if !send_frame(&mut socket, &Frame::Res(Response::ok(req.id, hello))).await {
        return;
    }

    let mut events_rx = s.events.subscribe();
    {
        let c = &params.client;
        let entry = PresenceEntry {
            host: if c.id.is_empty() {
                "client".into()
            } else {
                c.id.clone()
            },
            ip: None,
            version: c.version.clone(),
            platform: c.platform.clone(),
            device_family: None,
            mode: c.mode.clone(),
            reason: Some("connect".into()),
            instance_id: Some(conn_id.clone()),
            text: None,
            ts: now_ms(),
        };
        s.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn_id.clone(), entry);
        s.presence_changed();
    }

    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
    let conn = crate::chat::Conn {
        id: conn_id.clone(),
        tx: conn_tx,
    };
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            Some(out) = conn_rx.recv() => {
                if matches!(out, crate::agents::Outgoing::Event(..)) {
                    seq += 1;
                }
                if !send_frame(&mut socket, &out.into_frame(seq)).await {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let frame = match serde_json::from_str::<Frame>(t.as_str()) {
                        Ok(Frame::Req(r)) => r,
                        Ok(_) => continue,
                        Err(_) => {
                            close(&mut socket, close_codes::NORMAL, "").await;
                            break;
                        }
                    };
                    let Some(res) = dispatch(&s, &scopes, &conn, frame).await else {
                        continue;
                    };
                    if !send_frame(&mut socket, &Frame::Res(res)).await {
                        break;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    close(&mut socket, 1003, "binary frames are not supported: send JSON text frames").await;
                    break;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Err(e)) => {
                    let msg = e.to_string();
                    if msg.contains("too long") || msg.contains("too big") || msg.contains("Space limit") {
                        close(&mut socket, close_codes::MESSAGE_TOO_BIG, "message too big").await;
                    }
                    break;
                }
                Some(Ok(Message::Close(_))) | None => break,
            },
            ev = events_rx.recv() => match ev {
                Ok(b) => {
                    seq += 1;
                    let frame = Frame::Event(EventFrame {
                        event: b.event.into(),
                        payload: (*b.payload).clone(),
                        seq: Some(seq),
                    });
                    if !send_frame(&mut socket, &frame).await {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            Ok(()) = epoch_rx.changed() => {
                close(&mut socket, close_codes::POLICY_VIOLATION, "gateway credentials changed: reconnect with the new credentials").await;
                break;
            }
            _ = shutdown_rx.changed() => {
                let ev = shutdown_rx.borrow().clone();
                if let Some(ev) = ev {
                    seq += 1;
                    let frame = Frame::Event(EventFrame {
                        event: events::SHUTDOWN.into(),
                        payload: serde_json::to_value(&ev).unwrap_or(Value::Null),
                        seq: Some(seq),
                    });
                    send_frame(&mut socket, &frame).await;
                }
                close(&mut socket, 1012, "gateway shutting down").await;
                break;
            }
        }
    }

    s.agents.disconnect(&conn_id);
    s.clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&conn_id);
    if s.shutdown.borrow().is_none() {
        s.presence_changed();
    }
}

async fn dispatch(
    s: &Arc<Shared>,
    scopes: &ScopeSet,
    conn: &crate::chat::Conn,
    req: Request,
) -> Option<Response> {
    // Its scope depends on the forwarded HTTP method (read for GET, write otherwise).
    if req.method == crate::browser_rpc::METHOD {
        return Some(crate::browser_rpc::handle(s, scopes, req).await);
    }
    let need = required_scope(&req.method);
    if !scopes.allows(need) {
        return Some(Response::err(req.id, ErrorShape::missing_scope(need)));
    }
    let result = match req.method.as_str() {
        m if crate::chat::handles(m) => {
            crate::chat::dispatch(s, conn, &req.id, m, &req.params).await?
        }
        methods::HEALTH => Ok(s.health()),
        methods::STATUS => Ok(s.status()),
        methods::GATEWAY_IDENTITY_GET => Ok(json!({
            "deviceId": s.device_id,
            "profile": s.record.profile,
            "stateDir": s.record.state_dir,
            "configPath": s.record.config_path,
            "version": s.record.version,
        })),
        methods::SYSTEM_PRESENCE => Ok(serde_json::to_value(s.presence()).unwrap_or(Value::Null)),
        methods::CONFIG_GET => config_get(s, scopes),
        methods::CONFIG_SCHEMA => Ok(openclaw_config::schema()),
        methods::LOGS_TAIL => {
            let n = req
                .params
                .get("lines")
                .or_else(|| req.params.get("limit"))
                .and_then(Value::as_u64)
                .unwrap_or(100)
                .clamp(1, 1000) as usize;
            Ok(json!({
                "file": s.log.path(),
                "lines": s.log.tail(n),
            }))
        }
        methods::CONFIG_SET | methods::CONFIG_APPLY | methods::CONFIG_PATCH => {
            config_write(s, &req.method, &req.params).await
        }
        methods::CONNECT => Err(ErrorShape::invalid_request(
            "already connected: connect is only valid as the first request",
        )),
        other => Err(ErrorShape::unknown_method(other)),
    };
    Some(match result {
        Ok(v) => Response::ok(req.id, v),
        Err(e) => Response::err(req.id, e),
    })
}

fn config_get(s: &Shared, scopes: &ScopeSet) -> Result<Value, ErrorShape> {
    let admin = scopes.allows(openclaw_protocol::Scope::Admin);
    match s.store.load() {
        Ok(snap) => Ok(json!({
            "path": snap.path,
            "exists": snap.exists,
            // The raw text holds secrets: only admin connections get it.
            "raw": if admin { snap.raw.map(Value::String).unwrap_or(Value::Null) } else { Value::Null },
            "rawRedacted": !admin && snap.exists,
            "parsed": redact(&snap.parsed),
            "hash": snap.hash,
            "valid": true,
        })),
        Err(ConfigError::Parse { path, message }) => {
            let raw = std::fs::read_to_string(&path).ok();
            Ok(json!({
                "path": path,
                "exists": true,
                "raw": if admin { raw.clone().map(Value::String).unwrap_or(Value::Null) } else { Value::Null },
                "rawRedacted": !admin,
                "parsed": Value::Null,
                "hash": raw.map(|r| crate::config_store::hash_bytes(r.as_bytes())),
                "valid": false,
                "issues": [message],
            }))
        }
        Err(e) => Err(ErrorShape::new(codes::UNAVAILABLE, e.to_string())),
    }
}

async fn config_write(s: &Arc<Shared>, method: &str, params: &Value) -> Result<Value, ErrorShape> {
    let base_hash = params
        .get("baseHash")
        .and_then(Value::as_str)
        .map(str::to_string);
    enum Op {
        Raw(String),
        Patch(Value),
    }
    let op = if method == methods::CONFIG_PATCH {
        match (
            params.get("patch"),
            params.get("raw").and_then(Value::as_str),
        ) {
            (Some(p), _) if p.is_object() => Op::Patch(p.clone()),
            (_, Some(raw)) => match json5::from_str::<Value>(raw) {
                Ok(p) if p.is_object() => Op::Patch(p),
                _ => {
                    return Err(ErrorShape::invalid_request(
                        "config.patch: raw must be a JSON5 object (a merge patch)",
                    ));
                }
            },
            _ => {
                return Err(ErrorShape::invalid_request(
                    "config.patch needs params.patch (an object, RFC 7396 merge patch) or params.raw, and params.baseHash from config.get",
                ));
            }
        }
    } else {
        match params.get("raw").and_then(Value::as_str) {
            Some(raw) => Op::Raw(raw.to_string()),
            None => {
                return Err(ErrorShape::invalid_request(format!(
                    "{method} needs params.raw (the whole config as JSON5 text) and params.baseHash from config.get"
                )));
            }
        }
    };
    let _guard = s.config_write.lock().await;
    let store = s.store.clone();
    let before = s.live.read().unwrap_or_else(|e| e.into_inner()).clone();
    let before_parsed = s.store.load().map(|c| c.parsed).unwrap_or(Value::Null);
    let result = tokio::task::spawn_blocking(move || match op {
        Op::Raw(raw) => store.replace_raw(base_hash.as_deref(), &raw),
        Op::Patch(p) => store.update(base_hash.as_deref(), |v| {
            merge_patch(v, &p);
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
    s.log.info(&format!(
        "config written by {method} to {}",
        snap.path.display()
    ));
    let restart_required =
        crate::live_config(&snap.parsed, s.opts.auth.as_ref()).is_ok_and(|after| {
            crate::restart_needed(&before, &after, s.record.port, s.opts.bind.is_some())
        }) || crate::derived::restart_needed(&before_parsed, &snap.parsed);
    let hash = snap.hash.clone();
    let path = snap.path.clone();
    let parsed = redact(&snap.parsed);
    s.reload_config(Some(snap));
    Ok(json!({
        "ok": true,
        "path": path,
        "hash": hash,
        "config": parsed,
        "restartRequired": restart_required,
    }))
}
