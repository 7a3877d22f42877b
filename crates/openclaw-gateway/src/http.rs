//! HTTP on the base port: `/healthz`, `/readyz`, the WebChat / control page
//! at `/`, and
//! the WebSocket upgrade (also at `/`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::state::GatewayState;

pub(crate) fn router(shared: Arc<GatewayState>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(shared)
}

async fn healthz() -> Response {
    axum::Json(json!({"ok": true, "status": "live"})).into_response()
}

async fn readyz(State(s): State<Arc<GatewayState>>) -> Response {
    // Which instance this is, so a client whose token is refused can still
    // tell that it reached another instance's gateway.
    let body = s.readyz();
    let ready = body.ready;
    let body = axum::Json(body);
    if ready {
        body.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// Read buffer of one WebSocket connection.
const WS_READ_BUFFER: usize = 8 * 1024;

async fn root(
    State(s): State<Arc<GatewayState>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => {
            let max = s.options().max_payload;
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

/// The WebChat / control page: one self-contained file (no CDN, no build
/// step). The server fills in which instance this is (no secrets); the
/// rest comes over the WebSocket after the token handshake.
const INDEX_HTML: &str = include_str!("ui/index.html");

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn status_page(s: &GatewayState) -> Response {
    let r = s.record();
    let mut rows = vec![
        (
            "Profile",
            r.profile.clone().unwrap_or_else(|| "default".into()),
        ),
        ("State dir", r.state_dir.display().to_string()),
        ("Config", r.config_path.display().to_string()),
        ("Version", r.version.clone()),
    ];
    for l in &r.listeners {
        rows.push(("Port", format!("{} ({})", l.port, l.purpose)));
    }
    let dl: String = rows
        .iter()
        .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(v)))
        .collect();
    let html = INDEX_HTML.replacen("<!--INSTANCE-->", &dl, 1);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}
