//! Gateway method `browser.request`: forwards one request to this gateway's
//! browser control service, in-process (through the same router the
//! loopback port serves, with the gateway token), so the answer and its
//! errors are exactly what `openclaw browser ...` sees.
//!
//! Params: `method` (`GET` default, or `POST`), `path` (e.g. `/`, `/start`,
//! `/tabs/open`), `query` (object, e.g. `{"profile": "work"}`) and/or
//! `profile`, `body` (JSON, for POST). GET needs `operator.read`; anything
//! else changes a browser and needs `operator.write`.
//!
//! A JSON answer is returned as is; a PNG (screenshot) comes back as
//! `{"contentType": "image/png", "encoding": "base64", "data": "..."}`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request as HttpRequest, header};
use base64::Engine;
use openclaw_protocol::{ErrorShape, Request, Response, Scope, ScopeSet, codes};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::server::Shared;

pub(crate) const METHOD: &str = "browser.request";

/// Largest control-service answer relayed (full-page screenshots can be big).
const MAX_ANSWER: usize = 32 * 1024 * 1024;

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) async fn handle(s: &Arc<Shared>, scopes: &ScopeSet, req: Request) -> Response {
    let id = req.id.clone();
    match call(s, scopes, &req.params).await {
        Ok(v) => Response::ok(id, v),
        Err(e) => Response::err(id, e),
    }
}

async fn call(s: &Arc<Shared>, scopes: &ScopeSet, params: &Value) -> Result<Value, ErrorShape> {
    let method = params
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let need = if method == "GET" {
        Scope::Read
    } else {
        Scope::Write
    };
    if !scopes.allows(need) {
        return Err(ErrorShape::missing_scope(need));
    }
    if method != "GET" && method != "POST" {
        return Err(ErrorShape::invalid_request(format!(
            "browser.request: method {method:?} is not supported; use GET or POST"
        )));
    }
    let path = params.get("path").and_then(Value::as_str).ok_or_else(|| {
        ErrorShape::invalid_request(
            "browser.request needs params.path (e.g. \"/\" for status, \"/start\", \"/tabs\")",
        )
    })?;
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(ErrorShape::invalid_request(format!(
            "browser.request: path {path:?} must start with '/' and carry no query; put query parameters in params.query"
        )));
    }
    // The current token (it follows the gateway's credentials).
    let (Some(control), Some(token)) = (
        &s.derived.browser,
        s.derived.browser.as_ref().map(|b| b.token()),
    ) else {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            "browser control is not running in this gateway (browser.enabled is false, or gateway auth has no token); see the gateway log",
        ));
    };

    let mut query: Vec<(String, String)> = Vec::new();
    if let Some(q) = params.get("query") {
        let Some(obj) = q.as_object() else {
            return Err(ErrorShape::invalid_request(
                "browser.request: params.query must be an object of strings",
            ));
        };
        for (k, v) in obj {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            query.push((k.clone(), v));
        }
    }
    if let Some(p) = params.get("profile").and_then(Value::as_str)
        && !query.iter().any(|(k, _)| k == "profile")
    {
        query.push(("profile".into(), p.to_string()));
    }
    let mut uri = path.to_string();
    if !query.is_empty() {
        let qs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect();
        uri.push('?');
        uri.push_str(&qs.join("&"));
    }
    let body = match params.get("body") {
        None | Some(Value::Null) => Body::empty(),
        Some(b) => Body::from(b.to_string()),
    };
    let http_req = HttpRequest::builder()
        .method(method.as_str())
        .uri(&uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| ErrorShape::invalid_request(format!("browser.request: {e}")))?;
    let resp =
        control.router().oneshot(http_req).await.map_err(|e| {
            ErrorShape::new(codes::INTERNAL, format!("browser control failed: {e}"))
        })?;
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER)
        .await
        .map_err(|e| {
            ErrorShape::new(
                codes::INTERNAL,
                format!("browser control answer unreadable: {e}"),
            )
        })?;
    if !status.is_success() {
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        let code = match status.as_u16() {
            404 => codes::NOT_FOUND,
            409 => codes::CONFLICT,
            400..=499 => codes::INVALID_REQUEST,
            _ => codes::UNAVAILABLE,
        };
        return Err(ErrorShape::new(code, message).with_details(json!({"status": status.as_u16()})));
    }
    if ctype.starts_with("application/json") {
        return serde_json::from_slice(&bytes).map_err(|e| {
            ErrorShape::new(
                codes::INTERNAL,
                format!("browser control answered invalid JSON: {e}"),
            )
        });
    }
    Ok(json!({
        "contentType": ctype,
        "encoding": "base64",
        "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
    }))
}
