//! Issue 17 (Low) against the real binary: planted symlinks under a state
//! dir, a state dir or config other users own or can write, and the CLI
//! handing credentials only to the instance's own, live gateway.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{GatewayChild, TestHome, free_base_port, setup, text};

const GUARD: Duration = Duration::from_secs(60);

fn state_dir(home: &TestHome, profile: &str) -> PathBuf {
    home.join(&format!(".openclaw-{profile}"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn log_of(home: &TestHome, profile: &str) -> String {
    std::fs::read_to_string(state_dir(home, profile).join("logs/gateway.log")).unwrap_or_default()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn planted_symlinks_in_the_state_dir_are_not_followed() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let sd = state_dir(&home, "main");
    let victim = home.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();

    // The log: a link at logs/gateway.log makes the start fail, naming it;
    // the target is neither appended to nor chmod-ed.
    std::fs::create_dir_all(sd.join("logs")).unwrap();
    let _ = std::fs::remove_file(sd.join("logs/gateway.log"));
    symlink(&victim, sd.join("logs/gateway.log")).unwrap();
    chmod(&victim, 0o644);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("gateway.log is a symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
    std::fs::remove_file(sd.join("logs/gateway.log")).unwrap();

    // The owner record: a link there is replaced by the real record, the
    // target keeps its content, and the CLI finds the gateway.
    symlink(&victim, sd.join("gateway.owner.json")).unwrap();
    let _g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        std::fs::symlink_metadata(sd.join("gateway.owner.json"))
            .unwrap()
            .is_file()
    );
    let st = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(st["gateway"]["state"], "running", "{st}");

    // The browser profile dir: a link at <stateDir>/browser is refused
    // before Chromium is started with it; nothing lands in its target.
    let elsewhere = home.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let _ = std::fs::remove_dir_all(sd.join("browser"));
    symlink(&elsewhere, sd.join("browser")).unwrap();
    let out = home.run(&["--profile", "main", "browser", "start"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn a_state_dir_or_config_others_can_write_is_refused_and_a_readable_config_is_tightened() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let sd = state_dir(&home, "main");
    let cfg = sd.join("openclaw.json");

    // A state dir anyone can write to: refused before it is used.
    chmod(&sd, 0o777);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("is writable by other users (mode 0777)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("chmod 700 {}", sd.display())),
        "{err}"
    );
    assert!(!sd.join("gateway.owner.json").exists());
    chmod(&sd, 0o700);

    // A config others can write: refused too.
    chmod(&cfg, 0o666);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is writable by other users (mode 0666)"),
        "{}",
        text(&out.stderr)
    );

    // A state dir or config others can only read: tightened, and said so.
    chmod(&cfg, 0o644);
    chmod(&sd, 0o755);
    let _g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    assert_eq!(mode(&cfg), 0o600);
    assert_eq!(mode(&sd), 0o700);
    let log = log_of(&home, "main");
    assert!(
        log.contains(&format!(
            "{} was readable by other users (mode 0644): set it to 0600",
            cfg.display()
        )),
        "{log}"
    );

    // On reload: a chmod is noticed and undone ...
    chmod(&cfg, 0o640);
    wait_for("the config tightened on reload", || mode(&cfg) == 0o600);
    wait_for("the reload logged", || {
        log_of(&home, "main").contains("(mode 0640): set it to 0600")
    });
    // ... and a change in a file others can write is not applied.
    chmod(&cfg, 0o666);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    v["gateway"]["auth"]["token"] = "planted-by-someone-else".into();
    std::fs::write(&cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    wait_for("the refusal logged", || {
        log_of(&home, "main").contains("config change not applied")
    });
    assert!(
        log_of(&home, "main").contains("is writable by other users (mode 0666)"),
        "{}",
        log_of(&home, "main")
    );
    assert_eq!(
        mode(&cfg),
        0o666,
        "a refused file is left for the user to check"
    );
    // The state dir is judged on reload too.
    chmod(&cfg, 0o600);
    chmod(&sd, 0o777);
    v["logging"] = serde_json::json!({"level": "debug"});
    std::fs::write(&cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let want = format!(
        "state dir {} is writable by other users (mode 0777)",
        sd.display()
    );
    wait_for("the state dir refusal logged", || {
        log_of(&home, "main").contains(&want)
    });
    chmod(&sd, 0o700);
}

/// As root (CI's containers): a state dir owned by another user is refused.
/// As anyone else the same rule is covered by `openclaw_state::trust`'s
/// table (an unprivileged test cannot make a directory another user's).
#[test]
fn a_state_dir_owned_by_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: chown to another user is impossible; the rule table covers it");
        return;
    }
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let sd = state_dir(&home, "main");
    let c = std::ffi::CString::new(sd.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; uid/gid 65534 (nobody).
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("belongs to uid 65534"), "{err}");
    assert!(err.contains("chown 0"), "{err}");
}

/// A process on 127.0.0.1:<port> that is not a gateway of ours: it records
/// every HTTP request head and every WebSocket message it receives, and
/// answers a WebSocket upgrade with a `connect.challenge` (so a client that
/// would send its credentials after the challenge does so here).
struct FakeListener {
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl FakeListener {
    fn start(port: u16) -> FakeListener {
        use futures_util::{SinkExt, StreamExt};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let l = rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("the fake listener takes the port");
        let rec = seen.clone();
        rt.spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                let rec = rec.clone();
                tokio::spawn(async move {
                    // Peek at the request head to tell HTTP from an upgrade.
                    let mut buf = vec![0u8; 4096];
                    let mut head = String::new();
                    for _ in 0..100 {
                        let n = s.peek(&mut buf).await.unwrap_or(0);
                        head = String::from_utf8_lossy(&buf[..n]).into_owned();
                        if head.contains("\r\n\r\n") || n == 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    rec.lock().unwrap().push(head.clone());
                    if !head.to_ascii_lowercase().contains("upgrade: websocket") {
                        use tokio::io::AsyncWriteExt;
                        let mut s = s;
                        let _ = s
                            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        return;
                    }
                    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                        return;
                    };
                    let challenge = r#"{"type":"event","event":"connect.challenge","payload":{"nonce":"n0","ts":1}}"#;
                    let _ = ws
                        .send(tokio_tungstenite::tungstenite::Message::Text(challenge.into()))
                        .await;
                    while let Ok(Some(Ok(m))) =
                        tokio::time::timeout(Duration::from_secs(5), ws.next()).await
                    {
                        rec.lock().unwrap().push(m.to_string());
                    }
                });
            }
        });
        FakeListener { seen, _rt: rt }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A live process that is not a gateway (to own a planted owner record).
struct Sleeper(std::process::Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_cli_sends_no_credentials_to_whatever_listens_on_the_instances_ports() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let sd = state_dir(&home, "main");
    let tok = crate::harness::token(&sd.join("openclaw.json"));
    let fake = FakeListener::start(base);
    let leaked = |f: &FakeListener| f.seen().iter().any(|s| s.contains(&tok));

    // The gateway is down (no owner record): nothing gets the token.
    let v = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(v["gateway"]["state"], "stopped", "{v}");
    assert!(
        v["gateway"]["portInUse"]
            .as_str()
            .is_some_and(|s| s.contains("no credentials were sent")),
        "{v}"
    );
    let human = home.ok(&["--profile", "main", "status"]);
    assert!(human.contains("not this instance's gateway"), "{human}");
    for args in [
        &["--profile", "main", "gateway", "probe"][..],
        &["--profile", "main", "health"][..],
        &["--profile", "main", "gateway", "call", "health"][..],
        &["--profile", "main", "agent", "--message", "hi"][..],
    ] {
        let out = home.run(args);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("credentials were not sent"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = home.run(&["--profile", "main", "dashboard", "--no-open"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(&tok), "{}", text(&out.stdout));
    assert!(!fake.seen().is_empty(), "the fake listener was reached");
    assert!(!leaked(&fake), "token sent to the fake: {:?}", fake.seen());

    // A live owner record whose pid does not hold the port (here: a
    // `sleep`, with the record planted): the challenge comes, the check
    // fails, `connect` (with the token) is never sent.
    let sleeper = Sleeper(
        std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap(),
    );
    let pid = sleeper.0.id();
    let browser_port = base + 2;
    let fake_browser = FakeListener::start(browser_port);
    let mut rec = openclaw_state::owner::OwnerRecord::for_current_process(
        Some("main".into()),
        base,
        sd.clone(),
        sd.join("openclaw.json"),
        "0.0.0".into(),
    );
    rec.pid = pid;
    rec.start_time = openclaw_state::owner::process_start_time(pid);
    rec.bind_host = Some("127.0.0.1".into());
    rec.listeners = vec![openclaw_state::owner::OwnerListener {
        purpose: "browser control".into(),
        port: browser_port,
        host: Some("127.0.0.1".into()),
    }];
    std::fs::write(
        sd.join("gateway.owner.json"),
        serde_json::to_vec(&rec).unwrap(),
    )
    .unwrap();
    assert!(openclaw_state::owner::live_owner(&sd).is_some());
    let before = fake.seen().len();
    let out = home.run(&["--profile", "main", "gateway", "call", "health"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("not held by the owner record's pid {pid}")),
        "{err}"
    );
    let after = fake.seen();
    assert!(
        after[before..]
            .iter()
            .any(|s| s.contains("Upgrade: websocket") || s.contains("upgrade: websocket")),
        "the client got as far as the challenge: {after:?}"
    );
    assert!(
        !after.iter().any(|s| s.contains("\"connect\"")),
        "a connect frame reached the fake: {after:?}"
    );
    let out = home.run(&["--profile", "main", "browser", "status"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the token was not sent"),
        "{}",
        text(&out.stderr)
    );
    assert!(fake_browser.seen().is_empty(), "{:?}", fake_browser.seen());
    assert!(!leaked(&fake) && !leaked(&fake_browser));
    drop(sleeper);
}
