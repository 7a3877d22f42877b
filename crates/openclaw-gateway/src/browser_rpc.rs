//! Gateway method `browser.request`: forwards one request to this gateway's
//! browser control service, in-process (through the same router the
//! loopback port serves, with the gateway token), so the answer and its
//! errors are exactly what `openclaw browser ...` sees.
//!
//! Params ([`BrowserRequestParams`]): `method` (`GET` default, or `POST`),
//! `path` (e.g. `/`, `/start`, `/tabs/open`), `query` (object, e.g.
//! `{"profile": "work"}`) and/or `profile`, `body` (JSON, for POST). GET
//! needs `operator.read`; anything else changes a browser and needs
//! `operator.write`.
//!
//! A JSON answer is returned as is; a PNG (screenshot) comes back as a
//! [`BrowserBinaryResult`] `{"contentType": "image/png", "encoding":
//! "base64", "data": "..."}`.

use axum::body::Body;
use axum::http::{Request as HttpRequest, header};
use base64::Engine;
use openclaw_protocol::rpc::{BrowserBinaryResult, BrowserRequestParams};
use openclaw_protocol::{ErrorShape, Scope, codes};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::methods::{Call, Reply};

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

pub(crate) async fn request(c: Call) -> Reply {
    match call(&c).await {
        Ok(v) => Reply::Now(Ok(v)),
        Err(e) => Reply::Now(Err(e)),
    }
}

async fn call(c: &Call) -> Result<Value, ErrorShape> {
    let params: BrowserRequestParams = c.params("{method?, path, query?, profile?, body?}")?;
    let method = params.http_method();
    let need = if method == "GET" {
        Scope::Read
    } else {
        Scope::Write
    };
    if !c.scopes.allows(need) {
        return Err(ErrorShape::missing_scope(need));
    }
    if method != "GET" && method != "POST" {
        return Err(ErrorShape::invalid_request(format!(
            "browser.request: method {method:?} is not supported; use GET or POST"
        )));
    }
    let path = params.path.as_deref().ok_or_else(|| {
        ErrorShape::invalid_request(
            "browser.request needs params.path (e.g. \"/\" for status, \"/start\", \"/tabs\")",
        )
    })?;
    if !path.starts_with('/') || path.contains(['?', '#']) {
        return Err(ErrorShape::invalid_request(format!(
            "browser.request: path {path:?} must start with '/' and carry no query; put query parameters in params.query"
        )));
    }
    let Some((control, token)) = c.state.browser_control() else {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            "browser control is not running in this gateway (browser.enabled is false, or gateway auth has no token); see the gateway log",
        ));
    };

    let mut query: Vec<(String, String)> = Vec::new();
    if let Some(q) = &params.query {
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
    if let Some(p) = params.profile.as_deref()
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
    let body = match &params.body {
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
    serde_json::to_value(BrowserBinaryResult {
        content_type: ctype,
        encoding: "base64".into(),
        data: base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
    .map_err(|e| ErrorShape::new(codes::INTERNAL, e.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::methods::tests::{call, call_on, conn};
    use crate::state::testing::state;
    use openclaw_protocol::{ErrorShape, Scope, codes};
    use serde_json::json;

    #[tokio::test]
    async fn scopes_follow_the_forwarded_method() {
        let t = state();
        let c = conn();
        let e = call_on(
            &t,
            &c,
            &["operator.read"],
            "browser.request",
            json!({"method": "post", "path": "/start"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e, ErrorShape::missing_scope(Scope::Write));
        // GET passes the scope check with read; this gateway has no browser.
        let e = call_on(
            &t,
            &c,
            &["operator.read"],
            "browser.request",
            json!({"path": "/"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, codes::UNAVAILABLE);
        assert!(e.message.contains("browser control is not running"), "{e}");
    }

    #[tokio::test]
    async fn params_are_checked_before_anything_runs() {
        let t = state();
        for (params, want) in [
            (json!({}), "browser.request needs params.path"),
            (json!({"path": "tabs"}), "must start with '/'"),
            (json!({"path": "/tabs?x=1"}), "carry no query"),
            (json!({"path": "/", "method": "DELETE"}), "is not supported"),
            (json!({"path": 5}), "browser.request: invalid params"),
        ] {
            let e = call(&t, "browser.request", params.clone())
                .await
                .unwrap_err();
            assert_eq!(e.code, codes::INVALID_REQUEST, "{params}");
            assert!(e.message.contains(want), "{params}: {e}");
        }
    }
}
