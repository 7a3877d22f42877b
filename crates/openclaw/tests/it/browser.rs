//! Issue 4 acceptance against the real binary and real Chromium: the
//! gateway's derived services (canvas host, loopback-only browser control),
//! `openclaw browser ...`, CDP port allocation per instance, attach-only
//! `cdpUrl` profiles, live reload observed through CDP, and no orphan
//! browsers after SIGTERM.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openclaw_browser::cdp::{CdpConnection, CdpHttp};
use serde_json::{Value, json};

use crate::harness::{
    GatewayChild, TestHome, chromium_path, free_base_port, free_port, setup, signal, text, token,
    tree,
};

const GUARD: Duration = Duration::from_secs(30);

fn config(home: &TestHome, profile: &str) -> Value {
    let p = home.join(&format!(".openclaw-{profile}/openclaw.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The instance's ports as `openclaw status --json` resolves them.
struct Ports {
    browser_control: u16,
    canvas: u16,
    cdp: (u16, u16),
}

fn ports(home: &TestHome, profile: &str) -> Ports {
    let v = home.json(&["--profile", profile, "status", "--json"]);
    let p = &v["configuredPorts"];
    let n = |x: &Value| x.as_u64().unwrap() as u16;
    Ports {
        browser_control: n(&p["browserControl"]),
        canvas: n(&p["canvas"]),
        cdp: (n(&p["cdpRange"][0]), n(&p["cdpRange"][1])),
    }
}

fn browser(home: &TestHome, profile: &str, args: &[&str]) -> Value {
    let mut a = vec!["--profile", profile, "browser"];
    a.extend_from_slice(args);
    a.push("--json");
    home.json(&a)
}

fn owner(home: &TestHome, profile: &str) -> Value {
    let p = home.join(&format!(".openclaw-{profile}/gateway.owner.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// A valid PNG: signature, then an IHDR chunk with a non-zero size.
fn assert_png(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "PNG too short: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk is IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(w > 0 && h > 0, "IHDR size {w}x{h}");
    (w, h)
}

/// Every live (non-zombie) process as (pid, ppid, pgrp), from /proc.
fn live_processes() -> Vec<(u32, u32, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[0] != "Z" {
            let (Ok(ppid), Ok(pgrp)) = (f[1].parse(), f[2].parse()) else {
                continue;
            };
            out.push((pid, ppid, pgrp));
        }
    }
    out
}

/// Live (non-zombie) processes whose process group is `pgid`.
fn live_in_group(pgid: u32) -> Vec<u32> {
    live_processes()
        .into_iter()
        .filter(|&(_, _, g)| g == pgid)
        .map(|(pid, _, _)| pid)
        .collect()
}

/// Live child processes of `ppid`.
fn children_of(ppid: u32) -> Vec<u32> {
    live_processes()
        .into_iter()
        .filter(|&(_, p, _)| p == ppid)
        .map(|(pid, _, _)| pid)
        .collect()
}

/// Raw HTTP/1.1 GET (the path is sent exactly as given, no normalisation).
fn http_get(port: u16, path: &str, auth: Option<&str>) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(t) = auth {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let code = head
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u16>()
        .unwrap();
    (code, buf[head_end + 4..].to_vec())
}

/// This host's non-loopback IPv4 addresses (`ip -4 -o addr`).
fn host_ipv4s() -> Vec<Ipv4Addr> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            it.position(|w| w == "inet")?;
            it.next()?.split('/').next()?.parse::<Ipv4Addr>().ok()
        })
        .filter(|ip| !ip.is_loopback())
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn two_gateways_run_their_own_browsers_in_their_own_ranges_and_sigterm_leaves_none() {
    let home = TestHome::new();
    let main_base = free_base_port();
    let rescue_base = free_base_port();
    setup(&home, "main", main_base);
    setup(&home, "rescue", rescue_base);
    let mp = ports(&home, "main");
    let rp = ports(&home, "rescue");

    // Not running yet: exit 3 with the exact start command.
    let out = home.run(&["--profile", "rescue", "browser", "status"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("hint: openclaw --profile rescue gateway"),
        "{}",
        text(&out.stderr)
    );

    let mut gm = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], main_base);
    let mut gr = GatewayChild::start(&home, &["--profile", "rescue", "gateway"], &[], rescue_base);

    // The owner record lists every listener; browser control on loopback.
    for (p, ports, base) in [("main", &mp, main_base), ("rescue", &rp, rescue_base)] {
        let o = owner(&home, p);
        let ls = o["listeners"].as_array().unwrap();
        let find = |purpose: &str| ls.iter().find(|l| l["purpose"] == purpose).cloned();
        assert_eq!(find("gateway").unwrap()["port"], base);
        let bc = find("browser control").expect("browser control listener");
        assert_eq!(bc["port"], ports.browser_control);
        assert_eq!(bc["host"], "127.0.0.1");
        assert_eq!(find("canvas host").unwrap()["port"], ports.canvas);
    }
    // `openclaw status` shows them.
    let st = home.ok(&["--profile", "rescue", "status"]);
    assert!(
        st.contains(&format!(
            "browser control on 127.0.0.1:{}",
            rp.browser_control
        )) && st.contains(&format!("canvas host on 127.0.0.1:{}", rp.canvas)),
        "{st}"
    );

    // Rescue: not running, and its own CDP port from its own range.
    let s = browser(&home, "rescue", &["status"]);
    assert_eq!(s["running"], false, "{s}");
    assert_eq!(s["profile"], "openclaw");
    assert_eq!(s["cdpPort"], rp.cdp.0, "{s}");
    let plain = home.ok(&["--profile", "rescue", "browser", "status"]);
    for field in [
        "profile: openclaw",
        "running: false",
        &format!("cdpPort: {}", rp.cdp.0),
        &format!("cdpUrl: http://127.0.0.1:{}", rp.cdp.0),
        "headless: true",
    ] {
        assert!(plain.contains(field), "missing {field:?} in:\n{plain}");
    }

    // Start both at once.
    let (sm, sr) = std::thread::scope(|sc| {
        let a = sc.spawn(|| browser(&home, "main", &["start"]));
        let b = sc.spawn(|| browser(&home, "rescue", &["start"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    for (s, p) in [(&sm, &mp), (&sr, &rp)] {
        assert_eq!(s["running"], true, "{s}");
        assert_eq!(s["launched"], true, "{s}");
        let port = s["cdpPort"].as_u64().unwrap() as u16;
        assert!(
            (p.cdp.0..=p.cdp.1).contains(&port),
            "{port} not in {:?}",
            p.cdp
        );
        assert!(s["browser"].as_str().is_some_and(|b| !b.is_empty()), "{s}");
    }
    assert_ne!(sm["cdpPort"], sr["cdpPort"]);
    assert_ne!(sm["pid"], sr["pid"]);
    // The allocation was saved to each instance's own config.
    assert_eq!(
        config(&home, "main")["browser"]["profiles"]["openclaw"]["cdpPort"],
        sm["cdpPort"]
    );
    assert_eq!(
        config(&home, "rescue")["browser"]["profiles"]["openclaw"]["cdpPort"],
        sr["cdpPort"]
    );
    let plain = home.ok(&["--profile", "main", "browser", "status"]);
    assert!(
        plain.contains("running: true") && plain.contains(&format!("pid: {}", sm["pid"])),
        "{plain}"
    );

    // Each browser opens its own instance's canvas and screenshots it.
    let tmp = tempfile::tempdir().unwrap();
    for (p, ports) in [("main", &mp), ("rescue", &rp)] {
        let url = format!("http://127.0.0.1:{}/", ports.canvas);
        let tab = browser(&home, p, &["open", &url]);
        assert_eq!(tab["url"], url, "{tab}");
        assert_eq!(tab["title"], "OpenClaw canvas", "{tab}");
        let out = tmp.path().join(format!("{p}.png"));
        let r = browser(
            &home,
            p,
            &["screenshot", "--out", out.to_str().unwrap(), "--full-page"],
        );
        assert_eq!(r["path"], out.to_str().unwrap());
        assert_png(&std::fs::read(&out).unwrap());
        let snap = browser(&home, p, &["snapshot"]);
        assert!(
            snap["text"].as_str().unwrap().contains("OpenClaw canvas"),
            "{snap}"
        );
    }

    // browser.request through the gateway protocol: GET needs read, POST write.
    let tok = token(&home.join(".openclaw-main/openclaw.json"));
    rt().block_on(async {
        let url = format!("ws://127.0.0.1:{main_base}");
        let ro = openclaw_client::connect(&url, Some(&tok), &["operator.read"])
            .await
            .unwrap();
        assert!(
            ro.hello()
                .features
                .methods
                .iter()
                .any(|m| m == "browser.request")
        );
        let st = ro
            .call(
                "browser.request",
                json!({"method": "GET", "path": "/", "query": {"profile": "openclaw"}}),
            )
            .await
            .unwrap();
        assert_eq!(st["running"], true);
        assert_eq!(st["cdpPort"], sm["cdpPort"]);
        let e = ro
            .call(
                "browser.request",
                json!({"method": "POST", "path": "/stop"}),
            )
            .await
            .unwrap_err();
        assert_eq!(e.detail_code(), Some("MISSING_SCOPE"), "{e:?}");
        ro.close().await;
        let rw = openclaw_client::connect(&url, Some(&tok), &["operator.write"])
            .await
            .unwrap();
        let shot = rw
            .call(
                "browser.request",
                json!({"method": "POST", "path": "/screenshot", "body": {}}),
            )
            .await
            .unwrap();
        assert_eq!(shot["contentType"], "image/png");
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert_png(&png);
        rw.close().await;
    });

    // SIGTERM: every browser (and its helpers) is gone with the gateway.
    let pids = [
        sm["pid"].as_u64().unwrap() as u32,
        sr["pid"].as_u64().unwrap() as u32,
    ];
    for pid in pids {
        assert!(
            !live_in_group(pid).is_empty(),
            "browser {pid} should be running"
        );
    }
    assert!(gm.term().success());
    assert!(gr.term().success());
    for pid in pids {
        assert_eq!(
            live_in_group(pid),
            Vec::<u32>::new(),
            "browser group {pid} left behind"
        );
    }
}

#[test]
fn held_cdp_port_is_skipped_and_canvas_edits_reload_the_open_page() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let p = ports(&home, "main");
    // Something else holds the first port of the range.
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, p.cdp.0)).unwrap();
    let mut gw = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);

    let s = browser(&home, "main", &["status"]);
    assert_eq!(s["cdpPort"], p.cdp.0 + 1, "{s}");
    let s = browser(&home, "main", &["start"]);
    assert_eq!(s["running"], true, "{s}");
    assert_eq!(s["cdpPort"], p.cdp.0 + 1, "{s}");
    // Not fought over: still ours.
    assert_eq!(holder.local_addr().unwrap().port(), p.cdp.0);
    assert_eq!(
        config(&home, "main")["browser"]["profiles"]["openclaw"]["cdpPort"],
        p.cdp.0 + 1
    );

    // Live reload: open the canvas, mark the page, edit a file, watch the
    // page come back fresh through CDP.
    let url = format!("http://127.0.0.1:{}/", p.canvas);
    let tab = browser(&home, "main", &["open", &url]);
    let target_id = tab["targetId"].as_str().unwrap().to_string();
    let root = home.join(".openclaw/workspace-main/canvas");
    assert!(
        root.join("index.html").is_file(),
        "starter page in {root:?}"
    );
    let cdp_port = p.cdp.0 + 1;
    rt().block_on(async {
        let http = CdpHttp::new(&format!("http://127.0.0.1:{cdp_port}"));
        let t = http
            .list()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.id == target_id)
            .expect("the opened tab");
        let conn = CdpConnection::connect(t.web_socket_debugger_url.as_deref().unwrap())
            .await
            .unwrap();
        let eval = |expr: &'static str| {
            let conn = &conn;
            async move {
                conn.call(
                    "Runtime.evaluate",
                    json!({"expression": expr, "returnByValue": true}),
                )
                .await
                .unwrap()["result"]["value"]
                    .clone()
            }
        };
        // The reload socket must be connected before the edit.
        let deadline = Instant::now() + GUARD;
        while eval("document.querySelector('script[data-openclaw-live-reload]') !== null").await
            != json!(true)
        {
            assert!(Instant::now() < deadline, "no live-reload script injected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eval("window.__openclawMarker = 42").await;
        let edit = || {
            std::fs::write(
                root.join("index.html"),
                "<!doctype html><html><head><title>edited canvas</title></head><body><p>v2</p></body></html>",
            )
            .unwrap()
        };
        edit();
        let deadline = Instant::now() + GUARD;
        let mut last_edit = Instant::now();
        loop {
            // The page's reload socket may connect just after the first
            // edit; edit again now and then until the reload is seen.
            if last_edit.elapsed() > Duration::from_secs(1) {
                edit();
                last_edit = Instant::now();
            }
            let title = eval("document.title").await;
            let marker = eval("typeof window.__openclawMarker").await;
            if title == json!("edited canvas") {
                assert_eq!(marker, json!("undefined"), "page was reloaded, not patched");
                break;
            }
            assert!(Instant::now() < deadline, "page did not reload (title {title})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    let pid = s["pid"].as_u64().unwrap() as u32;
    assert!(gw.term().success());
    assert_eq!(live_in_group(pid), Vec::<u32>::new());
    drop(holder);
}

/// A browser the test runs itself (its own process group), killed on drop.
struct OwnChromium {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for OwnChromium {
    fn drop(&mut self) {
        signal(-(self.child.id() as i32), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

#[test]
fn cdp_url_profile_attaches_to_a_running_chromium_and_never_launches() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(chromium_path())
        .args([
            &format!("--remote-debugging-port={port}"),
            "--remote-debugging-address=127.0.0.1",
            &format!("--user-data-dir={}", dir.path().display()),
            "--headless=new",
            "--no-sandbox",
            "--no-first-run",
            "--disable-gpu",
            "about:blank",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let own = OwnChromium { child, _dir: dir };
    rt().block_on(async {
        let http = CdpHttp::new(&format!("http://127.0.0.1:{port}"));
        let deadline = Instant::now() + GUARD;
        while http.version().await.is_err() {
            assert!(Instant::now() < deadline, "test Chromium did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    home.ok(&[
        "--profile",
        "main",
        "config",
        "set",
        "browser.profiles.remote.cdpUrl",
        &format!("http://127.0.0.1:{port}"),
    ]);
    let gw = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);

    let s = browser(&home, "main", &["start", "--browser-profile", "remote"]);
    assert_eq!(s["running"], true, "{s}");
    assert_eq!(s["attached"], true, "{s}");
    assert_eq!(s["launched"], false, "{s}");
    assert_eq!(s["cdpPort"], port, "{s}");
    assert!(s["pid"].is_null(), "{s}");
    let tab = browser(
        &home,
        "main",
        &[
            "open",
            "about:blank#attached",
            "--browser-profile",
            "remote",
        ],
    );
    let tabs = browser(&home, "main", &["tabs", "--browser-profile", "remote"]);
    assert!(
        tabs["tabs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["targetId"] == tab["targetId"]),
        "{tabs}"
    );
    // The tab lives in the test's Chromium.
    let listed = rt().block_on(CdpHttp::new(&format!("http://127.0.0.1:{port}")).list());
    assert!(listed.unwrap().iter().any(|t| t.id == tab["targetId"]));
    // The gateway started no process at all.
    assert_eq!(children_of(gw.pid()), Vec::<u32>::new());
    // The default profile was not started either.
    assert_eq!(browser(&home, "main", &["status"])["running"], false);

    // Stopping detaches; the test's browser keeps running.
    let s = browser(&home, "main", &["stop", "--browser-profile", "remote"]);
    assert_eq!(s["attached"], false, "{s}");
    drop(gw);
    assert!(
        !live_in_group(own.child.id()).is_empty(),
        "attached browser was killed"
    );
}

#[test]
fn canvas_refuses_traversal_and_browser_control_is_loopback_only_with_token() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let p = ports(&home, "main");
    let root = home.join(".openclaw/workspace-main/canvas");
    let _gw = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);

    // The canvas serves its root...
    let (code, body) = http_get(p.canvas, "/index.html", None);
    assert_eq!(code, 200);
    assert!(text(&body).contains("OpenClaw canvas"));
    // ...and nothing outside it: a secret next to the state dir, via every
    // spelling of "..", and through a symlink planted in the root.
    std::os::unix::fs::symlink(home.join(".openclaw-main"), root.join("escape")).unwrap();
    for path in [
        "/../.openclaw-main/openclaw.json",
        "/../../.openclaw-main/openclaw.json",
        "/%2e%2e/%2e%2e/.openclaw-main/openclaw.json",
        "/..%2f..%2f.openclaw-main%2fopenclaw.json",
        "/%2E%2E%2F%2E%2E%2F.openclaw-main%2Fopenclaw.json",
        "/..%5c..%5c.openclaw-main%5copenclaw.json",
        "/x/../../../.openclaw-main/openclaw.json",
        "/escape/openclaw.json",
        "/%00/../openclaw.json",
        "//etc/passwd",
        "/../../../../../../etc/passwd",
    ] {
        let (code, body) = http_get(p.canvas, path, None);
        assert!(
            code == 403 || code == 404,
            "{path}: HTTP {code} {}",
            text(&body)
        );
        assert!(
            !text(&body).contains("\"token\""),
            "{path} leaked the config"
        );
    }

    // Browser control: loopback only.
    let o = owner(&home, "main");
    let bc = o["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["purpose"] == "browser control")
        .cloned()
        .unwrap();
    assert_eq!(bc["host"], "127.0.0.1");
    assert_eq!(bc["port"], p.browser_control);
    for ip in host_ipv4s() {
        // Our own host's address: connecting to it stays on this machine.
        let addr = SocketAddr::new(IpAddr::V4(ip), p.browser_control);
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
            "browser control reachable on {addr}"
        );
    }
    // Token required.
    let tok = token(&home.join(".openclaw-main/openclaw.json"));
    assert_eq!(http_get(p.browser_control, "/", None).0, 401);
    assert_eq!(
        http_get(p.browser_control, "/", Some("not-the-token")).0,
        401
    );
    let (code, body) = http_get(p.browser_control, "/", Some(&tok));
    assert_eq!(code, 200, "{}", text(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["profile"], "openclaw");
}

#[test]
fn a_taken_canvas_port_fails_start_naming_it_and_skip_env_disables_canvas() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let p = ports(&home, "main");
    let state = home.join(".openclaw-main");
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, p.canvas)).unwrap();
    let before = tree(&state);
    let workspace_before = tree(&home.join(".openclaw"));

    let started = Instant::now();
    let out = home.run(&["--profile", "main", "gateway"]);
    let took = started.elapsed();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(
        err.contains(&format!("port {}", p.canvas)) && err.contains("canvas"),
        "{err}"
    );
    eprintln!("taken canvas port: gateway exited after {took:?}");
    assert_eq!(tree(&state), before, "state dir changed");
    assert_eq!(
        tree(&home.join(".openclaw")),
        workspace_before,
        "workspace changed"
    );

    // OPENCLAW_SKIP_CANVAS_HOST=1: no canvas host, so the held port is no obstacle.
    let gw = GatewayChild::start(
        &home,
        &["--profile", "main", "gateway"],
        &[("OPENCLAW_SKIP_CANVAS_HOST", "1")],
        base,
    );
    let o = owner(&home, "main");
    let purposes: Vec<&str> = o["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, ["gateway", "browser control"]);
    drop(gw);
    drop(holder);

    // canvasHost.enabled false / browser.enabled false turn them off too.
    home.ok(&[
        "--profile",
        "main",
        "config",
        "set",
        "canvasHost.enabled",
        "false",
    ]);
    home.ok(&[
        "--profile",
        "main",
        "config",
        "set",
        "browser.enabled",
        "false",
    ]);
    let _gw = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    let o = owner(&home, "main");
    assert_eq!(o["listeners"].as_array().unwrap().len(), 1, "{o}");
    let out = home.run(&["--profile", "main", "browser", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("browser control is not running in this gateway"),
        "{}",
        text(&out.stderr)
    );
}
