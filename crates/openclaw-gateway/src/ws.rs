//! One WebSocket connection: challenge, `connect` handshake (decided by
//! [`crate::handshake`]), then requests (answered through
//! [`crate::methods`]) and events until either side closes, the client
//! falls too far behind ([`crate::outbox`]) or the gateway shuts down.
//!
//! After `hello-ok` every frame to the client goes through the
//! connection's outbox; this task is its only writer and gives events
//! their `seq`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use openclaw_protocol::{
    ConnectChallenge, EventFrame, Frame, SLOW_CONSUMER_REASON, close_codes, events,
};
use serde_json::Value;

use crate::chat::Conn;
use crate::devices::{self, Decision};
use crate::handshake::{self, Accepted, ConnectInput, ConnectRequest, Rejection, Step};
use crate::outbox::{Closed, ConnTx, Outbox};
use crate::state::{GatewayState, now_ms};

/// How long a connection closed for falling behind gets to take its close
/// frame (it has to read what the socket already holds first).
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(10);

async fn send_text(socket: &mut WebSocket, text: String) -> bool {
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn send_frame(socket: &mut WebSocket, frame: &Frame) -> bool {
    send_text(socket, frame.to_text()).await
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

async fn reject(socket: &mut WebSocket, r: Rejection, conn: Option<&crate::guard::ConnInfo>) {
    if let Some(res) = r.response {
        send_frame(socket, &Frame::Res(*res)).await;
    }
    close(socket, r.close_code, &r.close_reason).await;
    linger(conn);
}

/// After our close frame for a misbehaving client: the socket gets a
/// lingering close when it is dropped ([`crate::guard::ConnBudget::drain`]),
/// so the close frame reaches a client that is still sending.
fn linger(conn: Option<&crate::guard::ConnInfo>) {
    if let Some(c) = conn {
        c.budget.drain();
    }
}

/// What the first client frame was.
enum First {
    Text(String),
    /// Not a usable frame: close with this code and reason.
    Bad(u16, String),
    Gone,
}

/// Close code and reason for a frame that could not be read, or `None`
/// when the peer is simply gone (nothing to tell it).
fn read_error_close(
    e: axum::Error,
    conn: Option<&crate::guard::ConnInfo>,
) -> Option<(u16, String)> {
    use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
    if conn.is_some_and(|c| c.budget.exceeded()) {
        return Some((
            close_codes::MESSAGE_TOO_BIG,
            "message too big: at most 64 KiB before connect".into(),
        ));
    }
    let inner = e.into_inner();
    let e = inner.downcast_ref::<WsError>()?;
    match e {
        WsError::Utf8(_) => Some((
            close_codes::INVALID_PAYLOAD,
            "invalid UTF-8 in a text frame".into(),
        )),
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some((
            close_codes::MESSAGE_TOO_BIG,
            format!("message too big: {size} bytes (at most {max_size})"),
        )),
        WsError::Capacity(c) => Some((close_codes::MESSAGE_TOO_BIG, c.to_string())),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(p) => Some((close_codes::PROTOCOL_ERROR, format!("protocol error: {p}"))),
        WsError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Some((
            close_codes::POLICY_VIOLATION,
            "handshake timeout: not authenticated in time".into(),
        )),
        _ => None,
    }
}

async fn first_text(socket: &mut WebSocket, conn: Option<&crate::guard::ConnInfo>) -> First {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) => return First::Text(t.to_string()),
            Some(Ok(Message::Binary(_))) => {
                return First::Bad(
                    close_codes::UNSUPPORTED_DATA,
                    "binary frames are not supported: send a connect request as a JSON text frame"
                        .into(),
                );
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Err(e)) => {
                return match read_error_close(e, conn) {
                    Some((code, reason)) => First::Bad(code, reason),
                    None => First::Gone,
                };
            }
            Some(Ok(Message::Close(_))) => {
                finish_close(socket).await;
                return First::Gone;
            }
            None => return First::Gone,
        }
    }
}

/// The client sent a close frame: one more read lets tungstenite send its
/// queued answer (the echoed close, or 1002 for a close frame with a code
/// no endpoint may send) before the connection is dropped.
async fn finish_close(socket: &mut WebSocket) {
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.recv()).await;
}

pub(crate) async fn handle(
    s: Arc<GatewayState>,
    mut socket: WebSocket,
    conn_info: Option<crate::guard::ConnInfo>,
    origin: Option<String>,
    proxied: bool,
) {
    let _counted = s.connection();
    let mut shutdown_rx = s.subscribe_shutdown();
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

    let timeout = s.options().handshake_timeout;
    let first = tokio::select! {
        r = tokio::time::timeout(timeout, first_text(&mut socket, conn_info.as_ref())) => r,
        _ = shutdown_rx.changed() => {
            close(&mut socket, close_codes::GOING_AWAY, "gateway shutting down").await;
            return;
        }
    };
    let text = match first {
        // No connect within the handshake timeout (the original closes
        // 1000, which reads as "done"; this says what happened).
        Err(_) => {
            let reason = format!(
                "handshake timeout: no connect request within {} ms",
                timeout.as_millis()
            );
            close(&mut socket, close_codes::POLICY_VIOLATION, &reason).await;
            linger(conn_info.as_ref());
            return;
        }
        Ok(First::Bad(code, reason)) => {
            close(&mut socket, code, &reason).await;
            linger(conn_info.as_ref());
            return;
        }
        Ok(First::Gone) => return,
        Ok(First::Text(t)) => t,
    };
    let request = match handshake::read_connect(&text) {
        Ok(r) => r,
        Err(r) => return reject(&mut socket, r, conn_info.as_ref()).await,
    };
    drop(text);
    // Sessions end when the credentials they used change.
    let mut epoch_rx = s.guard().auth_epoch.subscribe();
    let auth = s.auth();
    let fail_key = conn_info
        .as_ref()
        .and_then(|c| s.guard().failure_key(c.remote.ip(), origin.as_deref()));
    if let Some(k) = &fail_key
        && let Err(wait) = s.guard().locked_out(k)
    {
        let e = openclaw_protocol::ErrorShape::auth_rate_limited(wait.as_millis() as u64);
        let reason = e.message.clone();
        send_frame(
            &mut socket,
            &Frame::Res(openclaw_protocol::Response::err(request.id.clone(), e)),
        )
        .await;
        close(&mut socket, close_codes::POLICY_VIOLATION, &reason).await;
        linger(conn_info.as_ref());
        return;
    }
    let remote = conn_info.as_ref().map(|c| c.remote.ip());
    let input = ConnectInput {
        auth: &auth,
        grant: s.grant(),
        request: &request,
        nonce: &challenge.nonce,
        now_ms: now_ms(),
        local: crate::guard::is_direct_local(remote, origin.as_deref(), proxied),
        remote_ip: remote.map(|ip| ip.to_string()),
    };
    let mut paired = false;
    let decided = match handshake::decide(&input) {
        Ok(Step::Done(a)) => Ok(a),
        Ok(Step::Pair {
            device,
            partial,
            fallback_error,
        }) => {
            paired = true;
            settle_device(&s, &request, *device, partial, fallback_error).await
        }
        Err(r) => Err(r),
    };
    let accepted = match decided {
        Ok(a) => a,
        Err(r) => {
            if let Some(code) = &r.wrong_secret {
                // A wrong secret (not a missing one) counts; never log the secret.
                let lockout = s.guard().record_failure(fail_key.clone());
                s.log().warn(&format!(
                    "auth failed: remote {}, origin {}, client {:?} ({code}){}",
                    conn_info
                        .as_ref()
                        .map(|c| c.remote.to_string())
                        .unwrap_or_else(|| "unknown".into()),
                    origin.as_deref().unwrap_or("none"),
                    request.params.client.id,
                    match lockout {
                        Some(d) => format!("; locked out for {}s", d.as_secs()),
                        None => String::new(),
                    }
                ));
            }
            return reject(&mut socket, r, conn_info.as_ref()).await;
        }
    };
    s.guard().record_success(fail_key.as_ref());
    if let Some(c) = &conn_info {
        c.budget.authenticated();
    }
    // No `mark_unchanged` here: `epoch_rx` was subscribed before `auth`
    // was read, so a credential change during the decision (a device
    // store write can take a while) still closes this session.

    // From here on the outbox collects everything for this client; it is
    // drained only after hello-ok is written, so hello-ok comes first.
    let conn_id = uuid::Uuid::new_v4().to_string();
    let outbox = Outbox::new(s.options().max_buffered_bytes);
    // A revocation of this device closes the session. One that landed
    // between the decision above and this attach is caught by attach's
    // re-check: the connection is refused, never left open unrevoked.
    if paired
        && let Some(dev) = &accepted.device_id
        && !s.devices().attach(&conn_id, dev, outbox.clone())
    {
        let e = openclaw_protocol::ErrorShape::device_token_mismatch();
        send_frame(
            &mut socket,
            &Frame::Res(openclaw_protocol::Response::err(request.id.clone(), e)),
        )
        .await;
        close(
            &mut socket,
            close_codes::POLICY_VIOLATION,
            "device revoked while connecting",
        )
        .await;
        linger(conn_info.as_ref());
        return;
    }
    let mut entry = crate::presence::entry_for(&request.params.client, &conn_id, now_ms());
    entry.client_id = Some(request.params.client.id.clone());
    entry.device_id = accepted.device_id.clone();
    entry.roles = vec![accepted.role.clone()];
    entry.scopes = accepted.scopes.to_strings();
    s.join(&conn_id, outbox.clone(), entry);
    let hello = s.hello_ok(&conn_id, &accepted);
    let hello = serde_json::to_value(&hello).unwrap_or(Value::Null);
    let ok = send_frame(
        &mut socket,
        &Frame::Res(openclaw_protocol::Response::ok(request.id.clone(), hello)),
    )
    .await;
    let client_label = format!(
        "{} ({})",
        request.params.client.id, request.params.client.mode
    );
    drop(request);
    if ok {
        let conn = Conn {
            id: conn_id.clone(),
            tx: ConnTx::new(outbox.clone()),
            device: accepted
                .device_id
                .clone()
                .filter(|_| accepted.auth_method == "device-token"),
        };
        serve(
            &s,
            &mut socket,
            Ends {
                shutdown: &mut shutdown_rx,
                epoch: &mut epoch_rx,
                info: conn_info.as_ref(),
            },
            &conn,
            &outbox,
            accepted.scopes,
            &client_label,
        )
        .await;
    }
    s.leave(&conn_id);
}

/// Requests and events until the connection ends.
/// What ends a session from the gateway's side: shutdown, or a change of
/// the credentials it authenticated with.
struct Ends<'a> {
    shutdown: &'a mut tokio::sync::watch::Receiver<Option<openclaw_protocol::ShutdownEvent>>,
    epoch: &'a mut tokio::sync::watch::Receiver<u64>,
    /// The socket's guard (a lingering close after a close frame).
    info: Option<&'a crate::guard::ConnInfo>,
}

async fn serve(
    s: &Arc<GatewayState>,
    socket: &mut WebSocket,
    ends: Ends<'_>,
    conn: &Conn,
    outbox: &Arc<Outbox>,
    scopes: openclaw_protocol::ScopeSet,
    client: &str,
) {
    let Ends {
        shutdown: shutdown_rx,
        epoch: epoch_rx,
        info,
    } = ends;
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            next = outbox.next() => match next {
                Ok(item) => {
                    if item.is_event() {
                        seq += 1;
                    }
                    let text = item.render(seq);
                    drop(item);
                    // A client that does not read blocks this write; the
                    // outbox overflowing meanwhile ends the wait.
                    tokio::select! {
                        sent = send_text(socket, text) => if !sent { return },
                        c = outbox.closed() => return slow_close(s, socket, c, &conn.id, client).await,
                    }
                }
                Err(c) => return slow_close(s, socket, c, &conn.id, client).await,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let req = match serde_json::from_str::<Frame>(t.as_str()) {
                        Ok(Frame::Req(r)) => r,
                        Ok(_) => continue,
                        Err(e) => {
                            let (code, reason) = frame_error_close(&e);
                            close(socket, code, &reason).await;
                            linger(info);
                            return;
                        }
                    };
                    drop(t);
                    if let Some(res) = crate::methods::dispatch(s, conn, scopes, req).await {
                        // Overflow shows up on the next turn through `next`.
                        let _ = outbox.push_text(Frame::Res(res).to_text());
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    close(socket, close_codes::UNSUPPORTED_DATA, "binary frames are not supported: send JSON text frames").await;
                    linger(info);
                    return;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Err(e)) => {
                    if let Some((code, reason)) = read_error_close(e, None) {
                        close(socket, code, &reason).await;
                        linger(info);
                    }
                    return;
                }
                Some(Ok(Message::Close(_))) => {
                    finish_close(socket).await;
                    return;
                }
                None => return,
            },
            Ok(()) = epoch_rx.changed() => {
                close(socket, close_codes::POLICY_VIOLATION, "gateway credentials changed: reconnect with the new credentials").await;
                linger(info);
                return;
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
                    send_frame(socket, &frame).await;
                }
                close(socket, close_codes::SERVICE_RESTART, "gateway shutting down").await;
                return;
            }
        }
    }
}

/// Close code and reason for a text frame that is not a frame of the
/// protocol: not JSON at all (1007), or JSON of the wrong shape (1008).
fn frame_error_close(e: &serde_json::Error) -> (u16, String) {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            (close_codes::INVALID_PAYLOAD, format!("invalid JSON: {e}"))
        }
        Category::Data => (
            close_codes::POLICY_VIOLATION,
            format!("invalid frame: {e} (expected {{type, id, method, params}})"),
        ),
    }
}

/// The outbox overflowed (or was closed under us): say why and go.
async fn slow_close(
    s: &GatewayState,
    socket: &mut WebSocket,
    closed: Closed,
    conn_id: &str,
    client: &str,
) {
    let (queued, limit) = match closed {
        Closed::Overflow { queued, limit } => (queued, limit),
        Closed::Revoked => {
            s.log().info(&format!(
                "closing connection {conn_id} from {client}: its device was revoked"
            ));
            let _ = tokio::time::timeout(
                SLOW_CLOSE_GRACE,
                close(
                    socket,
                    close_codes::POLICY_VIOLATION,
                    "device pairing revoked: pair the device again",
                ),
            )
            .await;
            return;
        }
        Closed::Gone => return,
    };
    s.log().warn(&format!(
        "closing connection {conn_id} from {client}: it does not read its frames ({queued} unsent bytes would pass maxBufferedBytes {limit})"
    ));
    let reason = format!("{SLOW_CONSUMER_REASON} ({limit})");
    let _ = tokio::time::timeout(
        SLOW_CLOSE_GRACE,
        close(socket, close_codes::POLICY_VIOLATION, &reason),
    )
    .await;
}

/// Settles a verified device with the device store (one locked
/// read-modify-write): paired, pending, or refused.
async fn settle_device(
    s: &Arc<GatewayState>,
    request: &ConnectRequest,
    device: devices::DeviceConnect,
    partial: Accepted,
    fallback_error: Option<openclaw_protocol::ErrorShape>,
) -> Result<Accepted, Rejection> {
    let store = s.devices().store().clone();
    let dev = device.clone();
    let settled = tokio::task::spawn_blocking(move || {
        store.update(|f| {
            let d = devices::decide(f, &dev);
            if let Decision::Refuse(_) = d {
                return (false, (d, None));
            }
            let a = devices::apply(
                f,
                &dev,
                &d,
                devices::now_ms(),
                openclaw_state::generate_token,
            );
            (true, (d, Some(a)))
        })
    })
    .await;
    let (decision, applied) = match settled {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            s.log().warn(&format!(
                "device store {}: {e}",
                s.devices().store().path().display()
            ));
            (
                Decision::Pending(openclaw_protocol::device::PairingReason::NotPaired),
                None,
            )
        }
        Err(e) => {
            s.log().warn(&format!("device store task failed: {e}"));
            (
                Decision::Pending(openclaw_protocol::device::PairingReason::NotPaired),
                None,
            )
        }
    };
    let short = &device.device_id[..device.device_id.len().min(12)];
    match (&decision, &applied) {
        (Decision::Pending(reason), Some(devices::Applied::Pending { request_id })) => {
            s.log().warn(&format!(
                "device {short} ({}, {}) asks to pair ({}) from {}: approve with `{}`",
                device.client_id,
                device.platform,
                reason.as_str(),
                device.remote_ip.as_deref().unwrap_or("unknown"),
                s.options()
                    .instance
                    .command(&format!("devices approve {request_id}"))
            ));
        }
        (Decision::Accept { pair: true, .. }, _) => {
            s.log().info(&format!(
                "device {short} ({}, {}) paired automatically (direct loopback with the gateway secret): {}",
                device.client_id,
                device.platform,
                device.requested.to_strings().join(" ")
            ));
        }
        _ => {}
    }
    handshake::finish_pairing(&request.id, partial, fallback_error, &decision, applied)
}
