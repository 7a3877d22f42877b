//! What is running: the live owner of a state dir and a quick health probe.
//!
//! Running state comes from the state dir's owner record, checked for
//! liveness (pid alive and the same process start time), never from
//! "something answers on the port". The health probe is a plain HTTP/1.1
//! `GET /healthz` on 127.0.0.1 with short timeouts.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde::Serialize;

/// The result of probing `GET /healthz`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Answered 200 with `"ok":true`.
    pub ok: bool,
    /// What happened, e.g. `live` or `connection refused`.
    pub detail: String,
}

/// Probes `http://127.0.0.1:<port>/healthz` (loopback only).
pub fn probe_health(port: u16, timeout: Duration) -> Health {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let fail = |detail: String| Health { ok: false, detail };
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("no answer on {addr}: {e}")),
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    if let Err(e) = s.write_all(req.as_bytes()) {
        return fail(format!("cannot send the request to {addr}: {e}"));
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 64 * 1024 {
                    break;
                }
            }
            Err(e) if buf.is_empty() => return fail(format!("no response from {addr}: {e}")),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let Some(status_line) = text.lines().next() else {
        return fail(format!("empty response from {addr}"));
    };
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    let body_json = body
        .find('{')
        .and_then(|i| body.rfind('}').map(|j| &body[i..=j]))
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
    match (code, body_json) {
        ("200", Some(v)) if v["ok"] == true => Health {
            ok: true,
            detail: v["status"].as_str().unwrap_or("ok").to_string(),
        },
        ("200", _) => fail(format!(
            "{addr} answered 200 but not with a gateway health body"
        )),
        (c, _) => fail(format!("{addr} answered HTTP {c}")),
    }
}

/// A gateway found running for a state dir.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Running {
    pub pid: u32,
    pub port: u16,
    pub version: String,
    pub started_at: String,
    pub uptime_seconds: Option<u64>,
    pub profile: Option<String>,
}

/// Whether a gateway runs for `state_dir`: `Some(Some(owner))` running,
/// `Some(None)` stopped, `None` unknown.
///
/// This build cannot tell yet: the state dir's owner record arrives with the
/// gateway (`openclaw_state::owner`), and the port alone is not evidence of
/// which instance runs there.
pub fn running(state_dir: &std::path::Path) -> Option<Option<Running>> {
    let _ = state_dir;
    None
}
