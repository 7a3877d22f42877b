//! End-to-end tests against real Chromium, real loopback sockets and the
//! real canvas host. Ports are chosen at test time. Every wait is bounded.

use std::collections::BTreeMap;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openclaw_browser::cdp::CdpConnection;
use openclaw_browser::control::ScreenshotRequest;
use openclaw_browser::{
    ActKind, ActRequest, BrowserControl, BrowserOptions, ControlClient, ProfileConfig,
    bind_loopback, port_is_free,
};
use serde_json::{Value, json};

const TOKEN: &str = "test-gateway-token-0123456789";

fn free_window(n: u16) -> (u16, u16) {
    for _ in 0..100 {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        if let Some(end) = p.checked_add(n - 1)
            && (p..=end).all(port_is_free)
        {
            return (p, end);
        }
    }
    panic!("no window of {n} free ports");
}

/// Pids of live (non-zombie) processes whose command line contains `needle`.
fn pids_with_arg(needle: &str) -> Vec<u32> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Pids of browser main processes started by this test process with a
/// DevTools port in `lo..=hi`.
fn browsers_in_range(lo: u16, hi: u16) -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut out = vec![];
    for p in lo..=hi {
        for pid in pids_with_arg(&format!("--remote-debugging-port={p}\0")) {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_string));
            if ppid.as_deref() == Some(me.as_str()) {
                out.push(pid);
            }
        }
    }
    out
}

fn pid_alive(pid: u32) -> bool {
    // A zombie is dead for our purposes; a reaped pid has no /proc entry.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn wait_until<F: FnMut() -> bool>(what: &str, limit: Duration, mut f: F) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "PNG too short: {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "first chunk is not IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (w, h)
}

struct Served {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve_control(svc: &Arc<BrowserControl>) -> Served {
    let listener = bind_loopback(0).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = svc.clone();
    let task = tokio::spawn(async move {
        svc.serve(listener, async move {
            let _ = rx.await;
        })
        .await
    });
    Served {
        base,
        stop: Some(tx),
        task,
    }
}

async fn serve_canvas(root: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = openclaw_canvas::CanvasOptions {
        root: root.to_path_buf(),
        live_reload: true,
    };
    tokio::spawn(async move {
        openclaw_canvas::serve(listener, opts, async move {
            let _ = rx.await;
        })
        .await
    });
    (base, tx)
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Canvas test</title></head>
<body style="margin:0">
<h1>Hello canvas</h1>
<p id="out">not clicked</p>
<button id="btn" onclick="window.clicks=(window.clicks||0)+1;document.getElementById('out').textContent='clicked '+window.clicks">Click me</button>
<input id="name" placeholder="Your name" onkeydown="if(event.key==='Enter'){document.getElementById('out').textContent='entered '+this.value}">
<a href="/page2.html">Second page</a>
<div style="height:3000px">tall</div>
<p>bottom</p>
</body></html>
"#;

async fn page_conn(cdp_port: u16, url_prefix: &str) -> CdpConnection {
    let http = openclaw_browser::cdp::CdpHttp::new(&format!("http://127.0.0.1:{cdp_port}"));
    let t = http
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.kind == "page" && t.url.starts_with(url_prefix))
        .expect("canvas tab");
    CdpConnection::connect(t.web_socket_debugger_url.as_deref().unwrap())
        .await
        .unwrap()
}

async fn eval(conn: &CdpConnection, expr: &str) -> Option<Value> {
    let r = conn
        .call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        )
        .await
        .ok()?;
    r.pointer("/result/value").cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_service_drives_real_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let root = dir.path().join("canvas");
    openclaw_canvas::ensure_root(&root).unwrap();
    std::fs::write(root.join("index.html"), PAGE).unwrap();
    std::fs::write(
        root.join("page2.html"),
        "<html><head><title>Second</title></head><body>second page</body></html>",
    )
    .unwrap();
    let (canvas, _canvas_stop) = serve_canvas(&root).await;

    // The lowest CDP port in the range is held by someone else.
    let (lo, hi) = free_window(10);
    let held = StdListener::bind(("127.0.0.1", lo)).unwrap();

    let persisted: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    let progress: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut opts = BrowserOptions::new(&state_dir, (lo, hi), TOKEN);
    opts.headless = Some(true);
    opts.no_sandbox = true;
    opts.profiles = BTreeMap::from([(
        "work".to_string(),
        ProfileConfig {
            cdp_port: Some(lo + 1),
            cdp_url: None,
            color: Some("#0066CC".into()),
        },
    )]);
    {
        let persisted = persisted.clone();
        opts.persist_port = Some(Arc::new(move |profile: &str, port: u16| {
            persisted.lock().unwrap().push((profile.to_string(), port));
            Ok(())
        }));
        let progress = progress.clone();
        opts.on_progress = Some(Arc::new(move |p: &openclaw_browser::LaunchProgress| {
            progress.lock().unwrap().push(format!("{p:?}"));
        }));
    }
    let svc = BrowserControl::new(opts).unwrap();
    let mut served = serve_control(&svc).await;
    let client = ControlClient::new(&served.base, TOKEN);

    // --- auth ---------------------------------------------------------------
    for bad in [
        ControlClient::new(&served.base, "wrong"),
        ControlClient::new(&served.base, &TOKEN[..TOKEN.len() - 1]),
        ControlClient::new(&served.base, format!("{TOKEN}x")),
        ControlClient::new(&served.base, ""),
    ] {
        let e = bad.status(None).await.unwrap_err();
        assert_eq!(e.status(), Some(401), "{e}");
        let e = bad.start(None).await.unwrap_err();
        assert_eq!(e.status(), Some(401), "{e}");
    }
    let raw = openclaw_browser::http_client_builder()
        .no_proxy()
        .build()
        .unwrap();
    let r = raw.get(format!("{}/", served.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = raw
        .get(format!("{}/tabs", served.base))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "token without the Bearer scheme");
    assert!(
        svc.launched_pids().await.is_empty(),
        "unauthorized start launched something"
    );

    // --- status before start; unknown profile --------------------------------
    let st = client.status(None).await.unwrap();
    assert_eq!(st.profile, "openclaw");
    assert!(!st.running);
    assert_eq!(st.pid, None);
    // lo is held by a stranger, lo+1 configured for "work": lo+2 is next.
    assert_eq!(st.cdp_port, Some(lo + 2));
    assert!(st.headless);
    let e = client.status(Some("nope")).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("work"), "{e}");
    let e = client.tabs(None).await.unwrap_err();
    assert_eq!(e.status(), Some(409), "{e}");

    // --- start ---------------------------------------------------------------
    let st = client.start(None).await.unwrap();
    assert!(st.running && st.launched && !st.attached, "{st:?}");
    assert_eq!(st.cdp_port, Some(lo + 2));
    assert_eq!(st.browser.as_deref(), Some("Chrome"), "{st:?}");
    assert!(
        st.browser_version
            .as_deref()
            .is_some_and(|v| v.contains('.'))
    );
    let pid = st.pid.unwrap();
    assert!(pid_alive(pid));
    assert_eq!(
        *persisted.lock().unwrap(),
        vec![("openclaw".to_string(), lo + 2)]
    );
    assert!(
        progress
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("Spawned"))
    );
    assert!(
        progress
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("Ready"))
    );
    // The stranger still holds its port, untouched.
    assert_eq!(held.local_addr().unwrap().port(), lo);
    // The user-data dir lives under the state dir, private.
    let udd = state_dir.join("browser/openclaw/user-data");
    assert!(udd.is_dir());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&udd).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Starting again is idempotent.
    assert_eq!(client.start(None).await.unwrap().pid, Some(pid));

    // --- tabs / open / screenshot ----------------------------------------------
    let page_url = format!("{canvas}/");
    let tab = client.open(None, &page_url).await.unwrap();
    assert_eq!(tab.url, page_url);
    assert_eq!(tab.title, "Canvas test");
    let tabs = client.tabs(None).await.unwrap();
    assert!(tabs.iter().any(|t| t.target_id == tab.target_id));

    let png = client
        .screenshot(None, Some(&tab.target_id), false)
        .await
        .unwrap();
    let (w, h) = png_size(&png);
    assert!(w > 100 && h > 100, "{w}x{h}");
    let full = svc
        .screenshot(
            "openclaw",
            &ScreenshotRequest {
                target_id: Some(tab.target_id.clone()),
                full_page: true,
            },
        )
        .await
        .unwrap();
    let (fw, fh) = png_size(&full);
    assert!(
        fh >= 3000 && fh > h,
        "full page {fw}x{fh} vs viewport {w}x{h}"
    );

    // --- snapshot / act ----------------------------------------------------------
    let snap = client.snapshot(None, Some(&tab.target_id)).await.unwrap();
    assert!(snap.text.contains("Hello canvas"), "{}", snap.text);
    assert!(snap.text.contains("not clicked"));
    let button = snap
        .elements
        .iter()
        .find(|e| e.role == "button" && e.name == "Click me")
        .expect("button in snapshot")
        .clone();
    let input = snap
        .elements
        .iter()
        .find(|e| e.role == "textbox" && e.name == "Your name")
        .expect("input in snapshot")
        .clone();
    let link = snap
        .elements
        .iter()
        .find(|e| e.role == "link")
        .expect("link in snapshot");
    assert_eq!(
        link.href.as_deref(),
        Some(format!("{canvas}/page2.html").as_str())
    );
    // Refs are stable across snapshots.
    let again = client.snapshot(None, Some(&tab.target_id)).await.unwrap();
    assert!(
        again
            .elements
            .iter()
            .any(|e| e.reference == button.reference && e.name == "Click me")
    );

    let act = |kind, r: Option<&str>, text: Option<&str>, key: Option<&str>| ActRequest {
        reference: r.map(str::to_string),
        kind,
        text: text.map(str::to_string),
        key: key.map(str::to_string),
        delta_y: None,
        target_id: Some(tab.target_id.clone()),
    };
    client
        .act(
            None,
            &act(ActKind::Click, Some(&button.reference), None, None),
        )
        .await
        .unwrap();
    let snap = client.snapshot(None, Some(&tab.target_id)).await.unwrap();
    assert!(snap.text.contains("clicked 1"), "{}", snap.text);

    client
        .act(
            None,
            &act(ActKind::Type, Some(&input.reference), Some("Ada"), None),
        )
        .await
        .unwrap();
    let snap = client.snapshot(None, Some(&tab.target_id)).await.unwrap();
    let typed = snap
        .elements
        .iter()
        .find(|e| e.reference == input.reference)
        .unwrap();
    assert_eq!(typed.value.as_deref(), Some("Ada"));
    client
        .act(
            None,
            &act(ActKind::Press, Some(&input.reference), None, Some("Enter")),
        )
        .await
        .unwrap();
    let snap = client.snapshot(None, Some(&tab.target_id)).await.unwrap();
    assert!(snap.text.contains("entered Ada"), "{}", snap.text);

    let conn = page_conn(lo + 2, &page_url).await;
    assert_eq!(eval(&conn, "window.scrollY").await, Some(json!(0)));
    client
        .act(None, &act(ActKind::Scroll, None, None, None))
        .await
        .unwrap();
    let y = eval(&conn, "window.scrollY")
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(y > 0.0, "scroll did not move the page");

    let e = client
        .act(None, &act(ActKind::Click, Some("e999999"), None, None))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let e = client
        .act(
            None,
            &act(ActKind::Click, Some("x'); alert(1); ('"), None, None),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");

    // --- live reload through the canvas host, observed via CDP ----------------------
    assert_eq!(eval(&conn, "window.__marker = 42").await, Some(json!(42)));
    std::fs::write(
        root.join("index.html"),
        PAGE.replace("Hello canvas", "Version 2"),
    )
    .unwrap();
    let start = Instant::now();
    loop {
        let v = eval(
            &conn,
            "window.__marker === undefined && document.body.innerText.includes('Version 2')",
        )
        .await;
        if v == Some(json!(true)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "page did not reload after the edit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(conn);

    // --- navigate / focus / close ------------------------------------------------
    let nav = client
        .navigate(None, &format!("{canvas}/page2.html"), Some(&tab.target_id))
        .await
        .unwrap();
    assert_eq!(nav.title, "Second");
    let snap = client.snapshot(None, Some(&tab.target_id)).await.unwrap();
    assert!(snap.text.contains("second page"));
    let e = client.navigate(None, "not a url", None).await.unwrap_err();
    assert_eq!(e.status(), Some(400));

    let other = client.open(None, "about:blank").await.unwrap();
    client.focus(None, &other.target_id).await.unwrap();
    let n = client.tabs(None).await.unwrap().len();
    client.close(None, &other.target_id).await.unwrap();
    let start = Instant::now();
    loop {
        let tabs = client.tabs(None).await.unwrap();
        if tabs.len() == n - 1 && !tabs.iter().any(|t| t.target_id == other.target_id) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "tab not closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e = client.close(None, "no-such-target").await.unwrap_err();
    assert_eq!(e.status(), Some(404));

    // --- stop leaves nothing behind ------------------------------------------------
    let udd_s = udd.display().to_string();
    assert!(
        !pids_with_arg(&udd_s).is_empty(),
        "browser processes not found by user-data dir"
    );
    let st = client.stop(None).await.unwrap();
    assert!(!st.running && st.pid.is_none());
    assert!(!pid_alive(pid), "browser pid {pid} still alive after stop");
    wait_until(
        "no process using the user-data dir",
        Duration::from_secs(10),
        || pids_with_arg(&udd_s).is_empty(),
    )
    .await;

    // --- two profiles, then service shutdown stops both ---------------------------
    let st = client.start(Some("work")).await.unwrap();
    assert_eq!(st.cdp_port, Some(lo + 1));
    assert_eq!(st.color, "#0066CC");
    let work_pid = st.pid.unwrap();
    let st = client.start(None).await.unwrap();
    // The default profile keeps the port it was given (and persisted).
    assert_eq!(st.cdp_port, Some(lo + 2));
    let main_pid = st.pid.unwrap();
    assert_eq!(persisted.lock().unwrap().len(), 1, "port persisted once");
    let mut pids = svc.launched_pids().await;
    pids.sort();
    let mut want = vec![work_pid, main_pid];
    want.sort();
    assert_eq!(pids, want);

    served.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), &mut served.task)
        .await
        .expect("serve did not return after shutdown")
        .unwrap()
        .unwrap();
    for p in [work_pid, main_pid] {
        assert!(!pid_alive(p), "browser pid {p} survived shutdown");
    }
    let browser_dir = state_dir.join("browser").display().to_string();
    wait_until("no browser process left", Duration::from_secs(10), || {
        pids_with_arg(&browser_dir).is_empty()
    })
    .await;
    drop(held);
}

/// A Chromium the test itself runs, in its own process group.
struct ExternalChromium {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl ExternalChromium {
    fn start(port: u16) -> Self {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--user-data-dir={}", dir.path().display()),
                &format!("--remote-debugging-port={port}"),
                "--remote-debugging-address=127.0.0.1",
                "about:blank",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromium on PATH");
        Self { child, _dir: dir }
    }
}

impl Drop for ExternalChromium {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group of our own child (started
        // with process_group(0)); no memory is involved.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdp_url_profile_attaches_and_never_launches() {
    let (lo, hi) = free_window(10);
    let ext = ExternalChromium::start(lo);
    let ext_pid = ext.child.id();
    let http = openclaw_browser::cdp::CdpHttp::new(&format!("http://127.0.0.1:{lo}"));
    let start = Instant::now();
    while http.version().await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "test Chromium did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let persisted: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    let mut opts = BrowserOptions::new(&state_dir, (lo, hi), TOKEN);
    opts.headless = Some(true);
    opts.no_sandbox = true;
    opts.profiles = BTreeMap::from([(
        "remote".to_string(),
        ProfileConfig {
            cdp_port: None,
            cdp_url: Some(format!("http://127.0.0.1:{lo}")),
            color: None,
        },
    )]);
    {
        let persisted = persisted.clone();
        opts.persist_port = Some(Arc::new(move |profile: &str, port: u16| {
            persisted.lock().unwrap().push((profile.to_string(), port));
            Ok(())
        }));
    }
    let svc = BrowserControl::new(opts).unwrap();
    let served = serve_control(&svc).await;
    let client = ControlClient::new(&served.base, TOKEN);

    let st = client.start(Some("remote")).await.unwrap();
    assert!(st.running && st.attached && !st.launched, "{st:?}");
    assert_eq!(st.pid, None);
    assert_eq!(st.cdp_port, Some(lo));
    assert_eq!(
        st.cdp_url.as_deref(),
        Some(format!("http://127.0.0.1:{lo}").as_str())
    );
    assert!(svc.launched_pids().await.is_empty());
    assert!(persisted.lock().unwrap().is_empty());
    assert!(
        !state_dir.join("browser/remote").exists(),
        "a user-data dir was made for a remote profile"
    );
    assert!(pids_with_arg(&state_dir.display().to_string()).is_empty());
    // The only browser on a port of this range is the test's own.
    assert_eq!(browsers_in_range(lo, hi), vec![ext_pid]);

    // It really drives the attached browser (an http page: data: URLs are
    // not navigable since issue 17).
    let page_root = dir.path().join("page");
    openclaw_canvas::ensure_root(&page_root).unwrap();
    std::fs::write(
        page_root.join("index.html"),
        "<html><head><title>attached</title></head><body><p>hi</p></body></html>",
    )
    .unwrap();
    let (page, _page_stop) = serve_canvas(&page_root).await;
    let tab = client
        .open(Some("remote"), &format!("{page}/"))
        .await
        .unwrap();
    assert_eq!(tab.title, "attached");
    assert!(
        http.list()
            .await
            .unwrap()
            .iter()
            .any(|t| t.id == tab.target_id)
    );
    let snap = client
        .snapshot(Some("remote"), Some(&tab.target_id))
        .await
        .unwrap();
    assert!(snap.text.contains("hi"));

    // Stop detaches; the browser belongs to someone else and keeps running.
    let st = client.stop(Some("remote")).await.unwrap();
    assert!(!st.running && !st.attached);
    assert!(pid_alive(ext_pid));
    assert!(http.version().await.is_ok());
    let e = client.tabs(Some("remote")).await.unwrap_err();
    assert_eq!(e.status(), Some(409));

    // The default profile skips the remote profile's port.
    let st = client.start(None).await.unwrap();
    assert_eq!(st.cdp_port, Some(lo + 1));
    let pid = st.pid.unwrap();
    assert_eq!(
        *persisted.lock().unwrap(),
        vec![("openclaw".to_string(), lo + 1)]
    );
    let mut both = browsers_in_range(lo, hi);
    both.sort();
    let mut want = vec![ext_pid, pid];
    want.sort();
    assert_eq!(both, want, "the count check must see launched browsers");

    // Dropping the service without shutdown() still kills what it launched.
    drop(served);
    drop(client);
    drop(svc);
    wait_until(
        "launched browser to die on drop",
        Duration::from_secs(15),
        || !pid_alive(pid),
    )
    .await;
    let browser_dir = state_dir.join("browser").display().to_string();
    wait_until("no browser process left", Duration::from_secs(10), || {
        pids_with_arg(&browser_dir).is_empty()
    })
    .await;
    assert!(pid_alive(ext_pid), "the attached browser must survive");
    drop(ext);
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[tokio::test]
async fn launch_failures_name_binary_port_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let (lo, hi) = free_window(5);

    // A "browser" that complains and exits.
    let crash = script(
        dir.path(),
        "crashing-browser",
        "echo 'line one' >&2\necho 'FATAL: cannot open display' >&2\nexit 3",
    );
    let mut opts = BrowserOptions::new(dir.path().join("state"), (lo, hi), TOKEN);
    opts.executable_path = Some(crash.clone());
    opts.headless = Some(true);
    let svc = BrowserControl::new(opts).unwrap();
    let e = svc.start("openclaw").await.unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.status(), 500);
    assert!(msg.contains(&crash.display().to_string()), "{msg}");
    assert!(msg.contains(&lo.to_string()), "{msg}");
    assert!(msg.contains("FATAL: cannot open display"), "{msg}");
    assert!(msg.contains("exited"), "{msg}");

    // A "browser" that never opens its port: bounded wait, then killed.
    let pidfile = dir.path().join("hang.pid");
    let hang = script(
        dir.path(),
        "hanging-browser",
        &format!(
            "echo $$ > {}\necho 'starting up' >&2\nexec sleep 300",
            pidfile.display()
        ),
    );
    let mut opts = BrowserOptions::new(dir.path().join("state2"), (lo, hi), TOKEN);
    opts.executable_path = Some(hang.clone());
    opts.launch_timeout = Duration::from_secs(2);
    let svc = BrowserControl::new(opts).unwrap();
    let e = svc.start("openclaw").await.unwrap_err().to_string();
    assert!(
        e.contains("did not open its DevTools endpoint within 2s"),
        "{e}"
    );
    assert!(e.contains("starting up"), "{e}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!pid_alive(pid), "hung launcher {pid} was left running");

    // Missing configured binary.
    let mut opts = BrowserOptions::new(dir.path().join("state3"), (lo, hi), TOKEN);
    opts.executable_path = Some(dir.path().join("no-such-chrome"));
    let svc = BrowserControl::new(opts).unwrap();
    let e = svc.start("openclaw").await.unwrap_err().to_string();
    assert!(
        e.contains("no-such-chrome") && e.contains("executablePath"),
        "{e}"
    );

    // Nothing on an empty PATH.
    let mut opts = BrowserOptions::new(dir.path().join("state4"), (lo, hi), TOKEN);
    opts.search_path = Some(dir.path().join("empty").into_os_string());
    let svc = BrowserControl::new(opts).unwrap();
    let e = svc.start("openclaw").await.unwrap_err().to_string();
    assert!(
        e.contains("chromium") && e.contains("executablePath"),
        "{e}"
    );
}

#[tokio::test]
async fn explicit_port_held_by_someone_else_is_not_fought_over() {
    let dir = tempfile::tempdir().unwrap();
    let (lo, hi) = free_window(5);
    let held = StdListener::bind(("127.0.0.1", lo + 3)).unwrap();
    let mut opts = BrowserOptions::new(dir.path().join("state"), (lo, hi), TOKEN);
    opts.profiles = BTreeMap::from([(
        "pinned".to_string(),
        ProfileConfig {
            cdp_port: Some(lo + 3),
            ..Default::default()
        },
    )]);
    let svc = BrowserControl::new(opts).unwrap();
    let e = svc.start("pinned").await.unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e.to_string().contains(&(lo + 3).to_string()), "{e}");
    assert!(svc.launched_pids().await.is_empty());
    drop(held);
}

#[tokio::test]
async fn config_and_binding_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    // Non-loopback binds are refused outright.
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let e = openclaw_browser::bind(addr.parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("loopback"), "{e}");
    }
    let l = openclaw_browser::bind("[::1]:0".parse().unwrap()).await;
    // ::1 may be unavailable in some sandboxes; when it binds, it is allowed.
    if let Ok(l) = l {
        assert!(l.local_addr().unwrap().ip().is_loopback());
    }
    // serve() refuses a listener someone bound on all interfaces.
    let svc = BrowserControl::new(BrowserOptions::new(dir.path(), (20000, 20099), TOKEN)).unwrap();
    let wide = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let e = svc.serve(wide, async {}).await.unwrap_err();
    assert!(e.to_string().contains("127.0.0.1"), "{e}");

    // Empty token, bad profile names, bad cdpUrl.
    assert!(BrowserControl::new(BrowserOptions::new(dir.path(), (20000, 20099), "")).is_err());
    for bad in ["Work", "-x", "a_b"] {
        let mut o = BrowserOptions::new(dir.path(), (20000, 20099), TOKEN);
        o.profiles.insert(bad.into(), ProfileConfig::default());
        let e = BrowserControl::new(o)
            .err()
            .expect("bad name accepted")
            .to_string();
        assert!(e.contains(bad), "{e}");
    }
    let mut o = BrowserOptions::new(dir.path(), (20000, 20099), TOKEN);
    o.profiles.insert(
        "r".into(),
        ProfileConfig {
            cdp_url: Some("localhost:9222".into()),
            ..Default::default()
        },
    );
    assert!(BrowserControl::new(o).is_err());
}

/// One profile's slow launch holds only that profile: status of another
/// profile answers while the launch is still waiting, and the two never
/// pick the same CDP port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_launch_does_not_block_other_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let (lo, hi) = free_window(5);
    let started = dir.path().join("started");
    let hang = script(
        dir.path(),
        "hanging-browser",
        &format!("touch {}\nexec sleep 300", started.display()),
    );
    let mut opts = BrowserOptions::new(dir.path().join("state"), (lo, hi), TOKEN);
    opts.executable_path = Some(hang);
    opts.launch_timeout = Duration::from_secs(20);
    opts.profiles = BTreeMap::from([("other".to_string(), ProfileConfig::default())]);
    let svc = BrowserControl::new(opts).unwrap();

    let launching = {
        let svc = svc.clone();
        tokio::spawn(async move { svc.start("openclaw").await })
    };
    // Wait until the launch is really under way (the fake browser ran).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(std::time::Instant::now() < deadline, "launch never began");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other = svc.status("other").await.unwrap();
    assert!(
        !launching.is_finished(),
        "the hanging launch should still be waiting"
    );
    assert!(!other.running);
    // The port other would take is not the one being launched on.
    let launching_port = lo; // the first free port of the window
    assert_ne!(other.cdp_port, Some(launching_port), "{other:?}");
    launching.abort();
    svc.shutdown().await;
}

/// Every navigating path refuses schemes other than http, https and
/// about:blank, including a `javascript:` with a TAB inside the scheme; the
/// refusal comes before any browser is touched, and the browser never holds
/// such a page. Token rotation: the old token stops working at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_http_https_and_about_blank_are_navigable_and_the_token_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("canvas");
    openclaw_canvas::ensure_root(&root).unwrap();
    std::fs::write(root.join("index.html"), PAGE).unwrap();
    let (canvas, _canvas_stop) = serve_canvas(&root).await;
    let (lo, hi) = free_window(10);
    let mut opts = BrowserOptions::new(dir.path().join("state"), (lo, hi), TOKEN);
    opts.headless = Some(true);
    opts.no_sandbox = true;
    let svc = BrowserControl::new(opts).unwrap();
    let mut served = serve_control(&svc).await;
    let client = ControlClient::new(&served.base, TOKEN);
    let bad = [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "chrome://version",
        "view-source:http://127.0.0.1/",
        "data:text/html,<script>alert(1)</script>",
        "javascript:alert(1)",
        "java\tscript:alert(1)",
        " javascript:alert(1)",
        "about:version",
        "blob:http://127.0.0.1/x",
    ];
    for url in bad {
        let e = client.open(None, url).await.unwrap_err();
        assert_eq!(e.status(), Some(400), "{url:?}: {e}");
        let e = client.navigate(None, url, None).await.unwrap_err();
        assert_eq!(e.status(), Some(400), "{url:?}: {e}");
    }
    assert!(
        svc.launched_pids().await.is_empty(),
        "a refused URL launched a browser"
    );
    client.start(None).await.unwrap();
    let tab = client.open(None, &format!("{canvas}/")).await.unwrap();
    assert!(tab.url.starts_with(&canvas), "{tab:?}");
    for url in bad {
        let e = client
            .navigate(None, url, Some(&tab.target_id))
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(400), "{url:?}: {e}");
    }
    client.open(None, "about:blank").await.unwrap();
    for t in client.tabs(None).await.unwrap() {
        assert!(
            t.url.starts_with("http://") || t.url == "about:blank",
            "the browser holds {:?}",
            t.url
        );
    }
    // Rotation: the new token works and the old one is refused at once.
    svc.set_token("rotated-token-abcdef");
    let e = client.status(None).await.unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    ControlClient::new(&served.base, "rotated-token-abcdef")
        .status(None)
        .await
        .unwrap();
    svc.set_token("");
    let e = ControlClient::new(&served.base, "")
        .status(None)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401), "an empty token is never accepted");
    if let Some(tx) = served.stop.take() {
        let _ = tx.send(());
    }
    let _ = (&mut served.task).await;
}
