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
    let g = shared.clone();
    let r = Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(shared);
    crate::guard::with_host_check(r, move || g.guard().host_policy())
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
    conn: Option<axum::Extension<axum::extract::ConnectInfo<crate::guard::ConnInfo>>>,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => {
            // A web page may not drive the gateway: check its Origin.
            let origin = headers
                .get(header::ORIGIN)
                .map(|v| v.to_str().unwrap_or("\u{0}").to_string());
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            if let Err(why) = s
                .guard()
                .host_policy()
                .allows_origin(origin.as_deref(), host)
            {
                s.guard()
                    .origin_refusals
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let remote = conn.as_ref().map(|c| c.0.0.remote.to_string());
                s.log().warn(&format!(
                    "websocket upgrade refused: {why} (remote {})",
                    remote.as_deref().unwrap_or("unknown")
                ));
                return (StatusCode::FORBIDDEN, format!("{why}\n")).into_response();
            }
            let conn = conn.map(|c| c.0.0);
            let proxied = crate::guard::PROXY_HEADERS
                .iter()
                .any(|h| headers.contains_key(*h));
            let max = s.options().max_payload;
            // tungstenite zero-fills its read buffer up to this size before
            // every read: the 128 KiB default cost a 128 KiB memset per
            // socket read (8.5% of the gateway's CPU under `health` load).
            // Larger frames still arrive whole, in several reads.
            ws.max_message_size(max)
                .max_frame_size(max)
                .read_buffer_size(WS_READ_BUFFER)
                .on_upgrade(move |socket| crate::ws::handle(s, socket, conn, origin, proxied))
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
