//! What is running: the live owner of a state dir and a quick health probe.
//!
//! Running state comes from the state dir's owner record, checked for
//! liveness (pid alive and the same process start time), never from
//! "something answers on the port". The health probe is a plain HTTP/1.1
//! `GET /healthz` on 127.0.0.1 with short timeouts.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openclaw_state::owner::OwnerRecord;

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

/// The request of a health probe.
fn healthz_request(port: u16) -> String {
    format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    )
}

/// At most this much of a response is read.
const MAX_RESPONSE: usize = 64 * 1024;

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
    if let Err(e) = s.write_all(healthz_request(port).as_bytes()) {
        return fail(format!("cannot send the request to {addr}: {e}"));
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_RESPONSE {
                    break;
                }
            }
            Err(e) if buf.is_empty() => return fail(format!("no response from {addr}: {e}")),
            Err(_) => break,
        }
    }
    health_from_response(addr, &buf)
}

/// Probes every port in `ports` at once; each answer must come within
/// `deadline` of the start (one deadline for all, so a hung gateway costs
/// `deadline` once, not once per instance). Results are in `ports` order.
pub fn probe_health_all(ports: &[u16], deadline: Duration) -> Vec<Health> {
    if ports.is_empty() {
        return Vec::new();
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        // No runtime (out of file descriptors?): one at a time instead.
        Err(_) => return ports.iter().map(|p| probe_health(*p, deadline)).collect(),
    };
    rt.block_on(async {
        let until = tokio::time::Instant::now() + deadline;
        let probes: Vec<_> = ports
            .iter()
            .map(|&port| {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                (
                    addr,
                    tokio::spawn(tokio::time::timeout_at(until, probe_async(addr))),
                )
            })
            .collect();
        let mut out = Vec::with_capacity(probes.len());
        for (addr, p) in probes {
            out.push(match p.await {
                Ok(Ok(h)) => h,
                Ok(Err(_)) => Health {
                    ok: false,
                    detail: format!("no answer on {addr} within {} ms", deadline.as_millis()),
                },
                Err(e) => Health {
                    ok: false,
                    detail: format!("probe of {addr} failed: {e}"),
                },
            });
        }
        out
    })
}

async fn probe_async(addr: SocketAddr) -> Health {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fail = |detail: String| Health { ok: false, detail };
    let mut s = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return fail(format!("no answer on {addr}: {e}")),
    };
    if let Err(e) = s.write_all(healthz_request(addr.port()).as_bytes()).await {
        return fail(format!("cannot send the request to {addr}: {e}"));
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_RESPONSE {
                    break;
                }
            }
            Err(e) if buf.is_empty() => return fail(format!("no response from {addr}: {e}")),
            Err(_) => break,
        }
    }
    health_from_response(addr, &buf)
}

/// What a `/healthz` response says.
fn health_from_response(addr: SocketAddr, buf: &[u8]) -> Health {
    let fail = |detail: String| Health { ok: false, detail };
    let text = String::from_utf8_lossy(buf);
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

/// A gateway found running for a state dir, from its live owner record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Running {
    pub pid: u32,
    pub port: u16,
    pub version: String,
    pub started_at: String,
    pub uptime_seconds: Option<u64>,
    pub profile: Option<String>,
    /// Every port the gateway bound (base port first).
    pub listeners: Vec<openclaw_state::owner::OwnerListener>,
}

impl Running {
    pub fn from_owner(o: &OwnerRecord) -> Running {
        Running {
            pid: o.pid,
            port: o.port,
            version: o.version.clone(),
            started_at: o.started_at.clone(),
            uptime_seconds: uptime_seconds(&o.started_at),
            profile: o.profile.clone(),
            listeners: o.listeners.clone(),
        }
    }
}

/// The live owner of `state_dir` as a [`Running`].
pub fn running(state_dir: &Path) -> Option<Running> {
    openclaw_state::owner::live_owner(state_dir).map(|o| Running::from_owner(&o))
}

/// Seconds since an RFC 3339 UTC time as the owner record writes it
/// (`2026-11-21T14:14:25.825Z`); `None` when it cannot be parsed.
pub fn uptime_seconds(started_at: &str) -> Option<u64> {
    let started = parse_rfc3339_utc(started_at)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(now.saturating_sub(started))
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` → seconds since the Unix epoch.
fn parse_rfc3339_utc(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_owner_record_time_format() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2026-11-21T14:14:25.825Z"),
            Some(1_795_270_465)
        );
        assert_eq!(parse_rfc3339_utc("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(parse_rfc3339_utc("yesterday"), None);
        assert_eq!(parse_rfc3339_utc("2026-13-01T00:00:00Z"), None);
    }

    /// A listener that accepts and then never answers.
    fn silent_listener() -> (std::net::TcpListener, u16) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    /// A listener that answers every request with `response`, `n` times.
    fn answering(response: &'static str, n: usize) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for _ in 0..n {
                let Ok((mut s, _)) = l.accept() else { return };
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b);
                let _ = s.write_all(response.as_bytes());
            }
        });
        port
    }

    #[test]
    fn parallel_probes_keep_order_and_share_one_deadline() {
        let ok = answering(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"ok\":true,\"status\":\"live\"}",
            1,
        );
        let not_found = answering("HTTP/1.1 404 Not Found\r\n\r\n", 1);
        // Accepted by the kernel, never answered: several of them cost one
        // deadline together (no timing assertion; the result says why).
        let (_hold, hung) = silent_listener();
        let refused = {
            let (l, p) = silent_listener();
            drop(l);
            p
        };
        let h = probe_health_all(
            &[ok, hung, not_found, refused, hung, hung],
            Duration::from_millis(300),
        );
        assert_eq!(h.len(), 6);
        assert!(h[0].ok && h[0].detail == "live", "{:?}", h[0]);
        assert!(
            !h[1].ok && h[1].detail.contains("within 300 ms"),
            "{:?}",
            h[1]
        );
        assert!(!h[2].ok && h[2].detail.contains("HTTP 404"), "{:?}", h[2]);
        assert!(
            !h[3].ok && h[3].detail.starts_with("no answer on"),
            "{:?}",
            h[3]
        );
        assert!(h[4].detail.contains("within 300 ms") && h[5].detail.contains("within 300 ms"));
        assert!(probe_health_all(&[], Duration::from_millis(1)).is_empty());
    }

    #[test]
    fn a_record_written_now_has_no_uptime_yet() {
        let now = openclaw_state::owner::rfc3339_utc(SystemTime::now());
        assert!(uptime_seconds(&now).is_some_and(|s| s <= 1));
    }
}
