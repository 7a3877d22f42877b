//! HTTP on the base port: `/healthz`, `/readyz`, the status page at `/`, and
//! the WebSocket upgrade (also at `/`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::server::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(shared)
}

async fn healthz() -> Response {
    axum::Json(json!({"ok": true, "status": "live"})).into_response()
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    let ready = s.ready.load(Ordering::Relaxed);
    let body = axum::Json(json!({
        "ready": ready,
        // Which instance this is, so a client whose token is refused can
        // still tell that it reached another instance's gateway.
        "profile": s.record.profile,
        "stateDir": s.record.state_dir,
        "listeners": s.record.listeners,
        "uptimeMs": s.uptime_ms(),
    }));
    if ready {
        body.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// Read buffer of one WebSocket connection.
const WS_READ_BUFFER: usize = 8 * 1024;

async fn root(
    State(s): State<Arc<Shared>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => {
            let max = s.opts.max_payload;
            // tungstenite zero-fills its read buffer up to this size before
            // every read: the 128 KiB default cost a 128 KiB memset per
            // socket read (8.5% of the gateway's CPU under `health` load).
            // Larger frames still arrive whole, in several reads.
            ws.max_message_size(max)
                .max_frame_size(max)
                .read_buffer_size(WS_READ_BUFFER)
                .on_upgrade(move |socket| crate::ws::handle(s, socket))
        }
        Err(_) => status_page(&s),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn status_page(s: &Shared) -> Response {
    let r = &s.record;
    let mut rows = vec![
        (
            "Profile",
            r.profile.clone().unwrap_or_else(|| "default".into()),
        ),
        ("State dir", r.state_dir.display().to_string()),
        ("Config", r.config_path.display().to_string()),
        ("Version", r.version.clone()),
        ("PID", r.pid.to_string()),
        ("Started", r.started_at.clone()),
        ("Uptime", format!("{} s", s.uptime_ms() / 1000)),
    ];
    for l in &r.listeners {
        rows.push(("Port", format!("{} ({})", l.port, l.purpose)));
    }
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>OpenClaw Gateway</title></head><body><h1>OpenClaw Gateway</h1><table>",
    );
    for (k, v) in rows {
        html.push_str(&format!(
            "<tr><th align=left>{}</th><td>{}</td></tr>",
            esc(k),
            esc(&v)
        ));
    }
    html.push_str("</table><p>WebSocket protocol on this port; <a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a></p></body></html>");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}
