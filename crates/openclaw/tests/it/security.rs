//! Issue 17 against the real binary: a web page in real headless Chromium
//! attacking gateways, DNS-rebinding Host names on every listener, and
//! unauthenticated memory exhaustion measured on the gateway process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{GatewayChild, TestHome, chromium_path, free_base_port, setup, token};

const GUARD: Duration = Duration::from_secs(60);

fn config_path(home: &TestHome, profile: &str) -> PathBuf {
    home.join(&format!(".openclaw-{profile}/openclaw.json"))
}

fn gateway_log(home: &TestHome, profile: &str) -> String {
    std::fs::read_to_string(home.join(&format!(".openclaw-{profile}/logs/gateway.log")))
        .unwrap_or_default()
}

/// A headless Chromium of this test, killed (whole process group) on drop.
struct Browser {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's process group.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn open_in_chromium(url: &str) -> Browser {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(chromium_path())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--no-first-run",
            "--disable-gpu",
            "--no-proxy-server",
            &format!("--user-data-dir={}", dir.path().display()),
            url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    Browser { child, _dir: dir }
}

/// A static web server on its own loopback port: `/` is `page`, and
/// `/report?<json>` records what the page found out.
fn serve_page(page: String) -> (u16, Arc<Mutex<Vec<Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let reports: Arc<Mutex<Vec<Value>>> = Arc::default();
    let r = reports.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut line = String::new();
            let mut rd = BufReader::new(s.try_clone().unwrap());
            if rd.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if rd.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let body = if let Some(q) = path.strip_prefix("/report?") {
                let json = percent_decode(q);
                if let Ok(v) = serde_json::from_str::<Value>(&json) {
                    r.lock().unwrap().push(v);
                }
                String::new()
            } else {
                page.clone()
            };
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, reports)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

const ATTACK_PAGE: &str = r#"<!doctype html><html><body><script>
function attack(name, port, token) {
  return new Promise(done => {
    const st = {name, opened: false, hello: false, patched: false, code: 0};
    let ws;
    try { ws = new WebSocket('ws://127.0.0.1:' + port + '/'); } catch (e) { st.err = String(e); return done(st); }
    ws.onopen = () => { st.opened = true; };
    ws.onmessage = ev => {
      const m = JSON.parse(ev.data);
      if (m.event === 'connect.challenge') {
        ws.send(JSON.stringify({type: 'req', id: 'c', method: 'connect', params: {
          minProtocol: 3, maxProtocol: 4,
          client: {id: 'evil-page', version: '1', platform: 'web', mode: 'webchat'},
          auth: token ? {token} : {}, role: 'operator', scopes: ['operator.admin']}}));
      } else if (m.id === 'c') {
        st.hello = !!m.ok;
        if (m.ok) ws.send(JSON.stringify({type: 'req', id: 'g', method: 'config.get', params: {}}));
        else ws.close();
      } else if (m.id === 'g' && m.ok) {
        ws.send(JSON.stringify({type: 'req', id: 'p', method: 'config.patch', params: {
          baseHash: m.payload.hash, patch: {tools: {exec: {enabled: true}}}}}));
      } else if (m.id === 'p') { st.patched = !!m.ok; ws.close(); }
    };
    ws.onclose = ev => { st.code = ev.code; done(st); };
  });
}
(async () => {
  for (const [name, port, token] of TARGETS) {
    const st = await attack(name, port, token);
    await fetch('/report?' + encodeURIComponent(JSON.stringify(st)));
  }
})();
</script></body></html>"#;

/// The attack of issue 17, in real Chromium: a page on another loopback
/// origin opens the gateway's WebSocket, connects asking for admin and
/// patches the config. Against a no-auth gateway and against a token
/// gateway whose token the page knows, the upgrade is refused and the
/// config stays byte for byte as it was.
#[test]
fn a_page_on_another_loopback_origin_cannot_drive_a_gateway_in_chromium() {
    let home = TestHome::new();
    let (open_base, tok_base) = (free_base_port(), free_base_port());
    setup(&home, "open", open_base);
    setup(&home, "tok", tok_base);
    home.ok(&["--profile", "open", "config", "unset", "gateway.auth.token"]);
    home.ok(&[
        "--profile",
        "open",
        "config",
        "set",
        "gateway.auth.mode",
        "none",
    ]);
    let tok = token(&config_path(&home, "tok"));
    let before: Vec<Vec<u8>> = ["open", "tok"]
        .iter()
        .map(|p| std::fs::read(config_path(&home, p)).unwrap())
        .collect();
    let _ga = GatewayChild::start(&home, &["--profile", "open", "gateway"], &[], open_base);
    let _gb = GatewayChild::start(&home, &["--profile", "tok", "gateway"], &[], tok_base);

    let targets =
        format!("const TARGETS = [['open', {open_base}, null], ['tok', {tok_base}, '{tok}']];");
    let page = ATTACK_PAGE.replacen("<script>", &format!("<script>{targets}"), 1);
    let (page_port, reports) = serve_page(page);
    let _browser = open_in_chromium(&format!("http://127.0.0.1:{page_port}/"));
    let deadline = Instant::now() + GUARD;
    while reports.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the page did not report within {GUARD:?}: {:?}",
            reports.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for r in reports.lock().unwrap().iter() {
        assert_eq!(r["opened"], false, "the upgrade was accepted: {r}");
        assert_eq!(r["hello"], false, "{r}");
        assert_eq!(r["patched"], false, "{r}");
    }
    for (i, p) in ["open", "tok"].iter().enumerate() {
        assert_eq!(
            std::fs::read(config_path(&home, p)).unwrap(),
            before[i],
            "{p}: config changed"
        );
        let log = gateway_log(&home, p);
        assert!(
            log.contains(&format!(
                "websocket upgrade refused: origin not allowed: http://127.0.0.1:{page_port}"
            )),
            "{p}: {log}"
        );
    }
    assert!(
        gateway_log(&home, "open").contains("gateway auth is off"),
        "mode none warns on start"
    );
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

/// DNS rebinding: a foreign name pointing at 127.0.0.1 reads nothing from
/// the gateway, the canvas host or browser control.
#[test]
fn foreign_host_names_are_refused_on_all_three_listeners() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let _g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    for (port, path) in [
        (base, "/readyz"),
        (base, "/"),
        (base + 4, "/"),
        (base + 2, "/"),
    ] {
        assert_eq!(
            http_status(port, path, &format!("rebind.example:{port}")),
            421,
            "port {port} {path}"
        );
        let ok = http_status(port, path, &format!("127.0.0.1:{port}"));
        assert_ne!(ok, 421, "port {port} {path}");
    }
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// 32 unauthenticated sockets each start a 24 MiB frame: the gateway's
/// peak RSS stays bounded (the pre-auth allowance is 64 KiB per
/// connection), and it keeps serving.
#[test]
fn unauthenticated_big_frames_cannot_grow_gateway_memory() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    let threads: Vec<_> = (0..32)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", base)).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                write!(
                    s,
                    "GET / HTTP/1.1\r\nHost: 127.0.0.1:{base}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                .unwrap();
                let len: u64 = 24 * 1024 * 1024;
                let mut hdr = vec![0x81u8, 0x80 | 127];
                hdr.extend_from_slice(&len.to_be_bytes());
                hdr.extend_from_slice(&[0, 0, 0, 0]);
                if s.write_all(&hdr).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 256 * 1024];
                let mut sent = 0u64;
                while sent < len {
                    match s.write(&chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => sent += n as u64,
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let peak_mib = vm_hwm_kib(g.pid()) / 1024;
    assert!(
        peak_mib < 100,
        "gateway peak RSS {peak_mib} MiB after 32 pre-auth sockets sent 24 MiB frames"
    );
    let v = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(v["gateway"]["state"], "running", "{v}");
}

/// `canvasHost.root` set to the home (which holds the state dir and its
/// token) is refused at start, and nothing is written into it.
#[test]
fn a_canvas_root_that_would_serve_the_state_dir_is_refused() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    home.ok(&["--profile", "main", "config", "set", "canvasHost.root", "~"]);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert!(!out.status.success());
    let err = crate::harness::text(&out.stderr);
    assert!(err.contains("canvasHost.root"), "{err}");
    assert!(err.contains("home directory"), "{err}");
    assert!(
        !home.join("index.html").exists(),
        "wrote into the refused root"
    );
}

/// `gateway --token-file F`: the token is enforced and never appears in
/// the process list.
#[test]
fn token_file_keeps_the_secret_out_of_argv() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let f = home.join("gw.token");
    std::fs::write(&f, "file-token-0123456789\n").unwrap();
    let g = GatewayChild::start(
        &home,
        &[
            "--profile",
            "main",
            "gateway",
            "--token-file",
            f.to_str().unwrap(),
        ],
        &[],
        base,
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", g.pid())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("file-token-0123456789"));
    // The config's token no longer opens it: the file's token is the one.
    let out = home.run(&["--profile", "main", "gateway", "call", "health"]);
    assert!(!out.status.success(), "config token accepted");
    assert!(
        crate::harness::text(&out.stderr).contains("mismatch"),
        "{}",
        crate::harness::text(&out.stderr)
    );
}
