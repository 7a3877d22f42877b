//! Security checks of the gateway library on real loopback sockets: browser
//! origins and Host names, failed-auth lockout, credential rotation,
//! missing auth, pre-auth limits. (docs/security.md lists which test proves
//! which check.)

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Served, free_port, profile_instance, test_options, write_config};
use futures_util::{SinkExt, StreamExt};
use openclaw_gateway::{Gateway, GatewayOptions};
use openclaw_instance::Instance;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "sec-test-token-0123456789abcdef";
const GUARD: Duration = Duration::from_secs(10);

fn options(inst: &Instance) -> GatewayOptions {
    let mut o = test_options(inst);
    o.handshake_timeout = Duration::from_millis(2000);
    o
}

struct Fixture {
    _tmp: tempfile::TempDir,
    inst: Instance,
}

fn fixture(config: Value) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let inst = profile_instance(tmp.path(), "main", free_port());
    write_config(&inst, &config);
    Fixture { _tmp: tmp, inst }
}

fn token_config() -> Value {
    json!({"gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": TOKEN}}})
}

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket with extra request headers; `Err(status)` when the
/// upgrade is refused.
async fn open(url: &str, headers: &[(&str, &str)]) -> Result<RawWs, u16> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("unexpected websocket error: {e}"),
    }
}

async fn recv(ws: &mut RawWs) -> Result<Value, (u16, String)> {
    loop {
        let msg = tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("frame within guard");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(Some(f)))) => {
                return Err((u16::from(f.code), f.reason.to_string()));
            }
            Some(Ok(Message::Close(None))) | None => return Err((1005, String::new())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err((0, e.to_string())),
        }
    }
}

async fn send(ws: &mut RawWs, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

fn connect_req(auth: Value, scopes: &[&str]) -> Value {
    json!({"type":"req","id":"c1","method":"connect","params":{
        "minProtocol":3,"maxProtocol":4,
        "client":{"id":"sec-test","version":"1","platform":"linux","mode":"cli"},
        "auth":auth,"role":"operator","scopes":scopes}})
}

/// Challenge, connect; the connect response.
async fn connect(ws: &mut RawWs, auth: Value) -> Value {
    let ch = recv(ws).await.unwrap();
    assert_eq!(ch["event"], "connect.challenge");
    send(ws, connect_req(auth, &["operator.admin"])).await;
    recv(ws).await.unwrap()
}

/// A raw HTTP/1.1 GET with the given Host; the status code.
fn http_status(port: u16, path: &str, host: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {out:?}"))
}

// ---- browser origins ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_is_refused_at_the_upgrade_even_with_the_token() {
    let f = fixture(token_config());
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let other = format!("http://127.0.0.1:{}", free_port());
    for origin in [other.as_str(), "http://evil.example", "null"] {
        assert_eq!(
            open(&g.url(), &[("Origin", origin)]).await.err(),
            Some(403),
            "{origin}"
        );
    }
    // Origin and Host both the attacker's (the rebinding shape).
    assert_eq!(
        open(
            &g.url(),
            &[("Origin", "http://evil.example"), ("Host", "evil.example")]
        )
        .await
        .err(),
        Some(421)
    );
    // The gateway's own page, and non-browser clients, connect.
    let own = format!("http://127.0.0.1:{}", g.port);
    let localhost = format!("http://localhost:{}", g.port);
    for headers in [
        vec![("Origin", own.as_str())],
        vec![("Origin", localhost.as_str())],
        vec![],
    ] {
        let mut ws = open(&g.url(), &headers).await.unwrap();
        let res = connect(&mut ws, json!({"token": TOKEN})).await;
        assert_eq!(res["ok"], true, "{headers:?}: {res}");
    }
    assert!(
        g.log()
            .contains("websocket upgrade refused: origin not allowed")
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_from_config_apply_and_reload() {
    let f = fixture(token_config());
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let ui = format!("http://127.0.0.1:{}", free_port());
    assert_eq!(open(&g.url(), &[("Origin", &ui)]).await.err(), Some(403));
    let mut cfg = token_config();
    cfg["gateway"]["controlUi"] = json!({"allowedOrigins": [ui]});
    write_config(&f.inst, &cfg);
    let deadline = Instant::now() + GUARD;
    loop {
        match open(&g.url(), &[("Origin", &ui)]).await {
            Ok(mut ws) => {
                assert_eq!(connect(&mut ws, json!({"token": TOKEN})).await["ok"], true);
                break;
            }
            Err(403) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(s) => panic!("allowed origin still refused: {s}"),
        }
    }
    g.stop().await;
}

// ---- Host (DNS rebinding) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_names_are_refused_on_http() {
    let f = fixture(token_config());
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let p = g.port;
    for path in ["/", "/readyz", "/healthz"] {
        assert_eq!(
            http_status(p, path, &format!("evil.example:{p}")),
            421,
            "{path}"
        );
        assert_eq!(
            http_status(p, path, &format!("127.0.0.1:{p}")),
            200,
            "{path}"
        );
        assert_eq!(
            http_status(p, path, &format!("localhost:{p}")),
            200,
            "{path}"
        );
    }
    g.stop().await;
}

// ---- missing auth ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_without_auth_gets_a_generated_token_not_an_open_gateway() {
    let f = fixture(json!({"gateway": {"mode": "local", "bind": "loopback"}}));
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(&f.inst.config_path.value).unwrap()).unwrap();
    let token = on_disk["gateway"]["auth"]["token"]
        .as_str()
        .expect("a token was saved")
        .to_string();
    assert_eq!(on_disk["gateway"]["auth"]["mode"], "token");
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let res = connect(&mut ws, json!({})).await;
    assert_eq!(res["ok"], false, "no secret, no entry: {res}");
    let mut ws = open(&g.url(), &[]).await.unwrap();
    assert_eq!(connect(&mut ws, json!({"token": token})).await["ok"], true);
    assert!(!g.log().contains(&token), "the token is never logged");
    // Deleting gateway.auth later does not switch auth off.
    write_config(&f.inst, &json!({"gateway": {"mode": "local"}}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ws = open(&g.url(), &[]).await.unwrap();
    assert_eq!(connect(&mut ws, json!({})).await["ok"], false);
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_mode_none_warns_on_start() {
    let f = fixture(json!({"gateway": {"mode": "local", "auth": {"mode": "none"}}}));
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    assert!(
        g.log().contains("gateway auth is off"),
        "warning missing: {}",
        g.log()
    );
    g.stop().await;
}

// ---- failed auth ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secrets_are_logged_counted_and_locked_out() {
    let mut cfg = token_config();
    cfg["gateway"]["auth"]["rateLimit"] =
        json!({"maxAttempts": 3, "windowMs": 60000, "lockoutMs": 300000});
    let f = fixture(cfg);
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let origin = format!("http://127.0.0.1:{}", g.port);
    // A browser page (same-origin even) guessing: limited on loopback.
    for i in 0..3 {
        let mut ws = open(&g.url(), &[("Origin", &origin)]).await.unwrap();
        let res = connect(&mut ws, json!({"token": format!("guess-{i}")})).await;
        assert_eq!(
            res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH",
            "{res}"
        );
    }
    // Now even the right token from that origin waits out the lockout.
    let mut ws = open(&g.url(), &[("Origin", &origin)]).await.unwrap();
    let res = connect(&mut ws, json!({"token": TOKEN})).await;
    assert_eq!(
        res["error"]["details"]["code"], "AUTH_RATE_LIMITED",
        "{res}"
    );
    assert!(res["error"]["details"]["retryAfterMs"].as_u64().unwrap() > 0);
    // The local CLI (no Origin) is not locked out by the page's failures.
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let res = connect(&mut ws, json!({"token": TOKEN})).await;
    assert_eq!(res["ok"], true, "{res}");
    send(
        &mut ws,
        json!({"type":"req","id":"h","method":"health","params":{}}),
    )
    .await;
    let h = loop {
        let f = recv(&mut ws).await.unwrap();
        if f["id"] == "h" {
            break f;
        }
    };
    assert_eq!(h["payload"]["authFailures"], 3, "{h}");
    let log = g.log();
    assert_eq!(
        log.matches("auth failed: remote 127.0.0.1").count(),
        3,
        "{log}"
    );
    assert!(log.contains(&format!("origin {origin}")));
    assert!(log.contains("client \"sec-test\""));
    assert!(log.contains("locked out for 300s"));
    assert!(!log.contains("guess-"), "secrets tried are never logged");
    g.stop().await;
}

// ---- credential rotation ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_the_old_token_are_closed_when_it_changes() {
    let f = fixture(token_config());
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let mut old = open(&g.url(), &[]).await.unwrap();
    assert_eq!(connect(&mut old, json!({"token": TOKEN})).await["ok"], true);
    let mut cfg = token_config();
    cfg["gateway"]["auth"]["token"] = json!("the-rotated-token-of-another-length");
    write_config(&f.inst, &cfg);
    let closed = loop {
        match recv(&mut old).await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(closed.0, 1008, "{closed:?}");
    assert!(closed.1.contains("credentials changed"), "{closed:?}");
    let mut ws = open(&g.url(), &[]).await.unwrap();
    assert_eq!(connect(&mut ws, json!({"token": TOKEN})).await["ok"], false);
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let res = connect(
        &mut ws,
        json!({"token": "the-rotated-token-of-another-length"}),
    )
    .await;
    assert_eq!(res["ok"], true);
    g.stop().await;
}

// ---- pre-auth limits ----

/// Upgrades a raw TCP socket by hand and starts one text frame that claims
/// `len` bytes; returns the socket.
fn raw_upgrade(port: u16) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    s.set_write_timeout(Some(GUARD)).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    // Read the 101 response headers.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Streams a 24 MiB masked text frame; returns how many payload bytes the
/// gateway took before it cut the connection.
fn send_big_frame(mut s: std::net::TcpStream) -> usize {
    let len: u64 = 24 * 1024 * 1024;
    let mut hdr = vec![0x81u8, 0x80 | 127];
    hdr.extend_from_slice(&len.to_be_bytes());
    hdr.extend_from_slice(&[0, 0, 0, 0]); // mask key 0: payload as is
    if s.write_all(&hdr).is_err() {
        return 0;
    }
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    while (sent as u64) < len {
        match s.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_big_frames_are_cut_off_at_64_kib() {
    let f = fixture(token_config());
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let port = g.port;
    let sent = tokio::task::spawn_blocking(move || {
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let s = raw_upgrade(port);
                std::thread::spawn(move || send_big_frame(s))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    // Each connection was cut off long before its 24 MiB: what it could
    // still write is the 64 KiB allowance plus the kernel's socket buffers.
    for n in &sent {
        assert!(*n < 12 * 1024 * 1024, "a pre-auth socket sent {n} bytes");
    }
    // The gateway still serves.
    let mut ws = open(&g.url(), &[]).await.unwrap();
    assert_eq!(connect(&mut ws, json!({"token": TOKEN})).await["ok"], true);
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_connect_frame_gets_close_1009() {
    let f = fixture(token_config());
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let ch = recv(&mut ws).await.unwrap();
    assert_eq!(ch["event"], "connect.challenge");
    let mut req = connect_req(json!({"token": TOKEN}), &["operator.admin"]);
    req["params"]["client"]["padding"] = json!("p".repeat(100 * 1024));
    let _ = ws.send(Message::Text(req.to_string().into())).await;
    let closed = recv(&mut ws).await.unwrap_err();
    assert!(
        closed.0 == 1009 || closed.0 == 0,
        "expected a too-big close, got {closed:?}"
    );
    // After auth, large frames are fine (up to maxPayload).
    let mut ws = open(&g.url(), &[]).await.unwrap();
    assert_eq!(connect(&mut ws, json!({"token": TOKEN})).await["ok"], true);
    send(
        &mut ws,
        json!({"type":"req","id":"big","method":"health","params":{"pad": "q".repeat(200 * 1024)}}),
    )
    .await;
    let res = loop {
        let f = recv(&mut ws).await.unwrap();
        if f["id"] == "big" {
            break f;
        }
    };
    assert_eq!(res["ok"], true);
    g.stop().await;
}

// ---- config writes and reads ----

async fn call(ws: &mut RawWs, id: &str, method: &str, params: Value) -> Value {
    send(
        ws,
        json!({"type":"req","id":id,"method":method,"params":params}),
    )
    .await;
    loop {
        let f = recv(ws).await.unwrap();
        if f["type"] == "res" && f["id"] == id {
            return f;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_executable_path_change_reports_restart_required() {
    // Browser control running (base+2 free), reload mode off so the change
    // is reported and not applied (tests/reload.rs covers the restart).
    let tmp = tempfile::tempdir().unwrap();
    let port = (0..200)
        .map(|_| free_port())
        .find(|p| *p < 65000 && TcpListener::bind(("127.0.0.1", p + 2)).is_ok())
        .expect("a base port with base+2 free");
    let inst = profile_instance(tmp.path(), "main", port);
    let mut cfg = token_config();
    cfg["gateway"]["reload"] = json!({"mode": "off"});
    write_config(&inst, &cfg);
    let f = Fixture { _tmp: tmp, inst };
    let mut o = options(&f.inst);
    o.derived_services = true;
    o.skip_canvas_host = true;
    let g = Served::serve(Gateway::bind(o).unwrap());
    let mut ws = open(&g.url(), &[]).await.unwrap();
    assert_eq!(connect(&mut ws, json!({"token": TOKEN})).await["ok"], true);
    let got = call(&mut ws, "g", "config.get", json!({})).await;
    let hash = got["payload"]["hash"].clone();
    let res = call(
        &mut ws,
        "p",
        "config.patch",
        json!({"baseHash": hash, "patch": {"browser": {"executablePath": "/opt/other/chrome"}}}),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["restartRequired"], true, "{res}");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_scope_sees_no_userinfo_or_header_credentials() {
    let mut cfg = token_config();
    cfg["models"] = json!({"providers": {"corp": {
        "api": "openai-completions",
        "baseUrl": "https://svc:hunter2@llm.example/v1",
        "headers": {"Authorization": "Bearer sk-corp-secret"},
        "models": [{"id": "m"}]
    }}});
    let f = fixture(cfg);
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let mut ws = open(&g.url(), &[]).await.unwrap();
    let ch = recv(&mut ws).await.unwrap();
    assert_eq!(ch["event"], "connect.challenge");
    send(
        &mut ws,
        connect_req(json!({"token": TOKEN}), &["operator.read"]),
    )
    .await;
    assert_eq!(recv(&mut ws).await.unwrap()["ok"], true);
    for method in ["config.get", "models.list"] {
        let res = call(&mut ws, method, method, json!({})).await;
        let text = res.to_string();
        assert_eq!(res["ok"], true, "{text}");
        assert!(!text.contains("hunter2"), "{method}: {text}");
        assert!(!text.contains("sk-corp-secret"), "{method}: {text}");
    }
    g.stop().await;
}
