//! `gateway.reload.mode` on real loopback sockets: a config change to the
//! listeners or the services on them restarts the gateway in place
//! (`hybrid`), never letting go of the state dir; a config that cannot
//! start leaves the old gateway serving and says why; `off` only reports.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::free_port;
use openclaw_gateway::{BoundGateway, Gateway, GatewayError, GatewayOptions, ShutdownHandle};
use openclaw_instance::{ConfigFacts, Env, GlobalFlags, Instance, resolve, resolve_paths};
use openclaw_state::owner::{LockError, StateLock, read_owner};
use serde_json::{Value, json};

const TOKEN: &str = "reload-test-token-0123456789";
const GUARD: Duration = Duration::from_secs(20);

/// A base port with base+2 (browser control) and base+4 (canvas) free too.
fn free_base() -> u16 {
    for _ in 0..200 {
        let p = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 65000 && [p, p + 2, p + 4].iter().all(|q| port_free(*q)) {
            return p;
        }
    }
    panic!("no free base port");
}

fn port_free(p: u16) -> bool {
    TcpListener::bind(("127.0.0.1", p)).is_ok()
}

/// Profile `main` whose base port comes from `gateway.port` in its config
/// (so a config change can move it).
fn instance(home: &Path, port: u16) -> Instance {
    let env = Env::new(home);
    let flags = GlobalFlags {
        profile: Some("main".into()),
        ..GlobalFlags::default()
    };
    let paths = resolve_paths(&flags, &env).unwrap();
    let facts = ConfigFacts {
        gateway_port: Some(port),
        ..ConfigFacts::default()
    };
    resolve(&paths, &facts, None).unwrap()
}

fn options(inst: &Instance) -> GatewayOptions {
    let mut o = GatewayOptions::new(inst.clone(), "0.1.0-test");
    o.handle_signals = false;
    o.log_to_stderr = false;
    o.config_poll_interval = Duration::from_millis(50);
    o.drain_timeout = Duration::from_millis(500);
    o
}

struct Fixture {
    _tmp: tempfile::TempDir,
    inst: Instance,
}

impl Fixture {
    fn new(extra: Value) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let port = free_base();
        let inst = instance(tmp.path(), port);
        let mut cfg = json!({"gateway": {"port": port, "auth": {"mode": "token", "token": TOKEN}}});
        openclaw_gateway::merge_patch(&mut cfg, &extra);
        std::fs::create_dir_all(&inst.state_dir.value).unwrap();
        write(&inst.config_path.value, &cfg);
        Fixture { _tmp: tmp, inst }
    }

    fn state_dir(&self) -> &Path {
        &self.inst.state_dir.value
    }

    /// Edits the config file the way an editor or `config set` does.
    fn edit(&self, f: impl FnOnce(&mut Value)) {
        let path = &self.inst.config_path.value;
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        f(&mut v);
        write(path, &v);
    }
}

fn write(path: &Path, v: &Value) {
    openclaw_state::atomic_write(
        path,
        serde_json::to_string_pretty(v).unwrap().as_bytes(),
        0o600,
    )
    .unwrap();
}

struct Running {
    handle: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), GatewayError>>,
    log: std::path::PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    async fn stop(self) {
        self.handle.shutdown("test done");
        tokio::time::timeout(GUARD, self.task)
            .await
            .expect("gateway stops")
            .unwrap()
            .unwrap();
    }
}

fn start(bound: BoundGateway) -> Running {
    let handle = bound.shutdown_handle();
    let log = bound.log_path().unwrap();
    let task = tokio::spawn(bound.serve());
    Running { handle, task, log }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn client(port: u16) -> openclaw_client::Client {
    openclaw_client::connect(
        &format!("ws://127.0.0.1:{port}"),
        Some(TOKEN),
        &["operator.admin"],
    )
    .await
    .unwrap()
}

async fn health(port: u16) -> Value {
    let c = client(port).await;
    let h = c.call("health", json!({})).await.unwrap();
    c.close().await;
    h
}

/// `GET /` on the canvas port; the status (0 when nothing answers).
fn canvas_status(port: u16) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(GUARD)).unwrap();
    let _ = write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Tries to take the state dir's lock over and over while `f` runs; the
/// number of times it got it (must stay 0 while the gateway lives).
fn lock_attempts(
    dir: &Path,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let won = Arc::new(AtomicUsize::new(0));
    let (s, w, d) = (stop.clone(), won.clone(), dir.to_path_buf());
    let t = std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            match StateLock::acquire(&d) {
                Ok(l) => {
                    w.fetch_add(1, Ordering::SeqCst);
                    drop(l);
                }
                Err(LockError::Held { .. }) => {}
                Err(e) => panic!("{e}"),
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    (stop, won, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canvas_port_change_restarts_in_place_and_serves_the_new_port() {
    let f = Fixture::new(json!({}));
    let base = f.inst.ports.gateway.value;
    let old_canvas = base + 4;
    let g = start(Gateway::bind(options(&f.inst)).unwrap());
    assert_eq!(canvas_status(old_canvas), 200);
    let pid = read_owner(f.state_dir()).unwrap().pid;
    let mut watcher = client(base).await;
    let (stop, won, locker) = lock_attempts(f.state_dir());

    let new_canvas = free_port();
    f.edit(|v| v["canvasHost"] = json!({"port": new_canvas}));
    // Clients are told, with how long to wait.
    let ev = loop {
        let ev = tokio::time::timeout(GUARD, watcher.next_event())
            .await
            .expect("an event")
            .expect("open until shutdown");
        if ev.event == "shutdown" {
            break ev;
        }
    };
    assert!(
        ev.payload["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("canvas host port {old_canvas} -> {new_canvas}")),
        "{:?}",
        ev.payload
    );
    assert!(ev.payload["restartExpectedMs"].as_u64().unwrap() > 0);
    wait_until("the new canvas port", || canvas_status(new_canvas) == 200).await;
    assert_eq!(
        canvas_status(old_canvas),
        0,
        "the old canvas port is closed"
    );

    // Same process, same lock; the owner record lists the new listener.
    let rec = read_owner(f.state_dir()).unwrap();
    assert_eq!(rec.pid, pid);
    assert!(
        rec.listeners
            .iter()
            .any(|l| l.purpose == "canvas host" && l.port == new_canvas),
        "{rec:?}"
    );
    // The gateway port never moved: clients reconnect there.
    let h = health(base).await;
    assert_eq!(h["ok"], true);
    assert_eq!(h["configReload"]["mode"], "hybrid");
    assert!(h["configReload"].get("pending").is_none(), "{h}");
    stop.store(true, Ordering::SeqCst);
    locker.join().unwrap();
    assert_eq!(
        won.load(Ordering::SeqCst),
        0,
        "the state dir lock was free at some point"
    );
    let log = g.log();
    assert!(log.contains("restarted in place to apply"), "{log}");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_port_change_moves_every_derived_port() {
    let f = Fixture::new(json!({}));
    let base = f.inst.ports.gateway.value;
    let g = start(Gateway::bind(options(&f.inst)).unwrap());
    let next = free_base();
    f.edit(|v| v["gateway"]["port"] = json!(next));
    wait_until("the new base port", || {
        read_owner(f.state_dir()).is_some_and(|r| r.port == next)
    })
    .await;
    wait_until("the new canvas port", || canvas_status(next + 4) == 200).await;
    assert_eq!(health(next).await["ok"], true);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", base)).is_err(),
        "the old base port is closed"
    );
    let rec = read_owner(f.state_dir()).unwrap();
    let ports: Vec<u16> = rec.listeners.iter().map(|l| l.port).collect();
    assert_eq!(ports, vec![next, next + 2, next + 4], "{rec:?}");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_leaves_the_old_gateway_serving_and_says_why() {
    let f = Fixture::new(json!({}));
    let base = f.inst.ports.gateway.value;
    let g = start(Gateway::bind(options(&f.inst)).unwrap());
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    f.edit(|v| v["gateway"]["port"] = json!(taken));
    wait_until("the refusal in the log", || g.log().contains("not applied")).await;
    let log = g.log();
    assert!(
        log.contains(&format!(
            "port {taken} (gateway) on 127.0.0.1 is already in use"
        )),
        "{log}"
    );
    // Still serving, where it was, and `health` (hence `status`) says why.
    let h = health(base).await;
    let pending = h["configReload"]["pending"].as_str().unwrap_or_default();
    assert!(pending.contains(&format!("port {taken}")), "{h}");
    assert!(pending.contains("keeps serving"), "{h}");
    assert_eq!(canvas_status(base + 4), 200);
    assert_eq!(read_owner(f.state_dir()).unwrap().port, base);

    // Once the config asks for something possible, it applies.
    drop(squatter);
    let next = free_base();
    f.edit(|v| v["gateway"]["port"] = json!(next));
    wait_until("the move", || {
        read_owner(f.state_dir()).is_some_and(|r| r.port == next)
    })
    .await;
    let h = health(next).await;
    assert!(h["configReload"].get("pending").is_none(), "{h}");
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_change_on_the_same_port_rebinds_it() {
    let f = Fixture::new(json!({}));
    let base = f.inst.ports.gateway.value;
    let g = start(Gateway::bind(options(&f.inst)).unwrap());
    f.edit(|v| v["gateway"]["bind"] = json!("lan"));
    wait_until("the lan bind", || {
        read_owner(f.state_dir()).is_some_and(|r| r.bind_host.as_deref() == Some("0.0.0.0"))
    })
    .await;
    assert_eq!(health(base).await["ok"], true);
    let rec = read_owner(f.state_dir()).unwrap();
    let gw = &rec.listeners[0];
    assert_eq!((gw.port, gw.host.as_deref()), (base, Some("0.0.0.0")));
    assert!(
        g.log()
            .contains("restarted in place to apply: bind loopback (127.0.0.1) -> lan (0.0.0.0)"),
        "{}",
        g.log()
    );
    // Browser control stays on loopback whatever the bind.
    assert!(
        rec.listeners
            .iter()
            .any(|l| l.purpose == "browser control" && l.host.as_deref() == Some("127.0.0.1")),
        "{rec:?}"
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_off_only_reports_the_pending_restart() {
    let f = Fixture::new(json!({"gateway": {"reload": {"mode": "off"}}}));
    let base = f.inst.ports.gateway.value;
    let g = start(Gateway::bind(options(&f.inst)).unwrap());
    let new_canvas = free_port();
    f.edit(|v| v["canvasHost"] = json!({"port": new_canvas}));
    wait_until("the note in the log", || {
        g.log().contains("needs a restart")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(canvas_status(base + 4), 200, "still on the old port");
    assert_eq!(canvas_status(new_canvas), 0);
    let h = health(base).await;
    assert_eq!(h["configReload"]["mode"], "off");
    assert!(
        h["configReload"]["pending"]
            .as_str()
            .is_some_and(|p| p.contains("gateway restart")),
        "{h}"
    );
    assert!(!g.log().contains("restarted in place"));
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_changes_do_not_restart() {
    let f = Fixture::new(json!({}));
    let base = f.inst.ports.gateway.value;
    let g = start(Gateway::bind(options(&f.inst)).unwrap());
    let mut watcher = client(base).await;
    f.edit(|v| {
        v["logging"] = json!({"level": "debug"});
        v["gateway"]["controlUi"] = json!({"allowedOrigins": ["http://x.example"]});
    });
    // No shutdown event within many polls.
    let got = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            match watcher.next_event().await {
                Some(ev) if ev.event == "shutdown" => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    })
    .await;
    assert!(!matches!(got, Ok(true)), "restarted for a live change");
    assert!(!g.log().contains("restarted in place"));
    g.stop().await;
}

/// The bind-change path when the new address cannot be had after the old
/// socket let go of the port: the previous settings run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_change_that_cannot_bind_falls_back_to_the_previous_settings() {
    let f = Fixture::new(json!({}));
    let base = f.inst.ports.gateway.value;
    let g = start(Gateway::bind(options(&f.inst)).unwrap());
    // Someone holds the same port on another loopback address: 0.0.0.0
    // cannot be bound, 127.0.0.1 still can.
    let Ok(squatter) = TcpListener::bind(("127.0.0.2", base)) else {
        eprintln!("127.0.0.2 cannot be bound here; nothing to test");
        g.stop().await;
        return;
    };
    f.edit(|v| v["gateway"]["bind"] = json!("lan"));
    wait_until("the fallback", || {
        g.log()
            .contains("restarted in place to apply: back to the previous settings")
    })
    .await;
    let h = health(base).await;
    let pending = h["configReload"]["pending"].as_str().unwrap_or_default();
    assert!(pending.contains("already in use"), "{h}");
    let rec = read_owner(f.state_dir()).unwrap();
    assert_eq!(rec.bind_host.as_deref(), Some("127.0.0.1"));
    assert_eq!(canvas_status(base + 4), 200);
    // It does not keep retrying what just failed.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        g.log().matches("restarting this gateway in place").count(),
        1,
        "{}",
        g.log()
    );
    drop(squatter);
    g.stop().await;
}

/// Edits in a row, some landing while the gateway restarts: it ends up
/// running the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_edits_end_with_the_last_one() {
    let f = Fixture::new(json!({}));
    let g = start(Gateway::bind(options(&f.inst)).unwrap());
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    for (i, p) in ports.iter().enumerate() {
        f.edit(|v| v["canvasHost"] = json!({"port": p}));
        tokio::time::sleep(Duration::from_millis(40 * i as u64)).await;
    }
    let last = *ports.last().unwrap();
    wait_until("the last canvas port", || canvas_status(last) == 200).await;
    // And it stays there (no restart loop).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(canvas_status(last), 200);
    let rec = read_owner(f.state_dir()).unwrap();
    assert!(
        rec.listeners
            .iter()
            .any(|l| l.purpose == "canvas host" && l.port == last),
        "{rec:?}"
    );
    g.stop().await;
}

/// A gateway whose base port is pinned by `--port` cannot follow a
/// `gateway.port` edit: it keeps serving, and the log and
/// `health.configReload.pending` say what overrides it and how to fix it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_pinned_by_the_flag_is_reported_as_pending_not_applied() {
    let f = Fixture::new(json!({}));
    let base = f.inst.ports.gateway.value;
    // The same instance, its base port given by `--port`.
    let env = Env::new(f._tmp.path());
    let flags = GlobalFlags {
        profile: Some("main".into()),
        ..GlobalFlags::default()
    };
    let paths = resolve_paths(&flags, &env).unwrap();
    let facts = ConfigFacts {
        gateway_port: Some(base),
        ..ConfigFacts::default()
    };
    let pinned = resolve(&paths, &facts, Some(base)).unwrap();
    let g = start(Gateway::bind(options(&pinned)).unwrap());
    let next = free_base();
    f.edit(|v| v["gateway"]["port"] = json!(next));
    wait_until("the note in the log", || {
        g.log().contains("config change not applied")
    })
    .await;
    let log = g.log();
    assert!(
        log.contains(&format!(
            "gateway.port {next} is overridden by --port {base}"
        )),
        "{log}"
    );
    let h = health(base).await;
    let pending = h["configReload"]["pending"].as_str().unwrap_or_default();
    assert!(
        pending.contains(&format!(
            "gateway.port {next} is overridden by --port {base}"
        )) && pending.contains("openclaw --profile main gateway stop"),
        "{h}"
    );
    assert!(!log.contains("restarted in place"), "{log}");
    assert_eq!(read_owner(f.state_dir()).unwrap().port, base);
    // Back to the flag's port: nothing pending any more.
    f.edit(|v| v["gateway"]["port"] = json!(base));
    let mut cleared = false;
    for _ in 0..200 {
        if health(base).await["configReload"]["pending"].is_null() {
            cleared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cleared, "the pending note clears once the config agrees");
    g.stop().await;
}
