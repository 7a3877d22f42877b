//! Shared helpers: temp homes, running the binary, free ports, gateway
//! children, file-tree snapshots.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

/// A temporary HOME for one test.
pub struct TestHome {
    dir: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        TestHome {
            dir: tempfile::Builder::new()
                .prefix("oc-home-")
                .tempdir()
                .expect("temp home"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `openclaw <args>` with a clean environment: only PATH and HOME.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .stdin(Stdio::null());
        c
    }

    /// Runs with extra env vars, bounded by a hang guard.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        run_bounded(c, Duration::from_secs(60))
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_env(args, &[])
    }

    pub fn ok_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run_env(args, env);
        expect_success(&format!("openclaw {args:?}"), &out).0
    }

    /// Runs, asserts success, parses stdout as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        self.json_env(args, &[])
    }

    pub fn json_env(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let s = self.ok_env(args, env);
        serde_json::from_str(&s)
            .unwrap_or_else(|e| panic!("openclaw {args:?}: not JSON ({e}): {s}"))
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts that `out` (of `what`) succeeded, quoting both streams if not;
/// returns (stdout, stderr).
pub fn expect_success(what: &str, out: &Output) -> (String, String) {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// Waits for a child with a hang guard (kills it and panics past `limit`).
pub fn run_bounded(mut c: Command, limit: Duration) -> Output {
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openclaw");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("openclaw did not finish within {limit:?}");
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A base port whose whole footprint (base ..= base+110) is free right now.
/// Picked from a per-process window so parallel tests rarely race.
pub fn free_base_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = 20000 + (std::process::id() % 200) as u16 * 150;
    for _ in 0..400 {
        let off = NEXT.fetch_add(150, Ordering::SeqCst);
        let base = seed.wrapping_add(off) % 40000 + 20000;
        if (base..=base + 110).all(|p| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok()) {
            return base;
        }
    }
    panic!("no free 111-port block found");
}

/// `openclaw --profile <profile> setup --port <port>`, asserting success.
pub fn setup(home: &TestHome, profile: &str, port: u16) {
    home.ok(&["--profile", profile, "setup", "--port", &port.to_string()]);
}

/// The gateway auth token in the config file at `config`.
pub fn token(config: &Path) -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(config).unwrap()).unwrap();
    v["gateway"]["auth"]["token"].as_str().unwrap().to_string()
}

/// Every file under `dir` with its size and mtime, sorted.
pub fn tree(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// Sends `sig` to `pid` (a negative pid names a process group).
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory preconditions; callers only name
    // processes (or groups) this test started.
    unsafe { libc::kill(pid, sig) };
}

/// Hang guard for a gateway child: becoming ready, and exiting once asked to.
pub const GATEWAY_GUARD: Duration = Duration::from_secs(30);

/// A running gateway child of this test (`openclaw ... gateway`).
///
/// On drop, if it still runs, it gets SIGTERM first (so it stops the
/// browsers it launched and removes its owner record), then SIGKILL if it
/// has not exited within [`GATEWAY_GUARD`]; it is always reaped.
pub struct GatewayChild {
    pub child: Child,
    /// The port the test expects it on (as passed to [`GatewayChild::start`]).
    pub port: u16,
}

impl GatewayChild {
    /// Starts `openclaw <args>` with extra `env` and waits (hang guard
    /// [`GATEWAY_GUARD`]) for the "ready: listening" line on stderr, then
    /// keeps draining stderr so the child never blocks on a full pipe.
    /// Panics with the stderr seen so far if it exits before ready.
    pub fn start(home: &TestHome, args: &[&str], env: &[(&str, &str)], port: u16) -> Self {
        let mut c = home.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn openclaw gateway");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut seen = String::new();
            let mut sent = false;
            loop {
                line.clear();
                if err.read_line(&mut line).unwrap_or(0) == 0 {
                    if !sent {
                        let _ = tx.send(Err(seen));
                    }
                    return;
                }
                if !sent {
                    seen.push_str(&line);
                    if line.contains("ready: listening") {
                        let _ = tx.send(Ok(()));
                        sent = true;
                    }
                }
            }
        });
        let mut gw = GatewayChild { child, port };
        match rx.recv_timeout(GATEWAY_GUARD) {
            Ok(Ok(())) => gw,
            Ok(Err(seen)) => {
                let st = gw.wait_exit();
                panic!("gateway {args:?} exited before ready ({st}): {seen}");
            }
            Err(_) => panic!("gateway {args:?} not ready within {GATEWAY_GUARD:?}"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait for the exit.
    pub fn term(&mut self) -> ExitStatus {
        signal(self.pid() as i32, libc::SIGTERM);
        self.wait_exit()
    }

    /// Waits (hang guard only) for the child to exit, e.g. after
    /// `gateway stop`; panics past [`GATEWAY_GUARD`].
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GATEWAY_GUARD;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "gateway did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for GatewayChild {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            signal(self.pid() as i32, libc::SIGTERM);
            let deadline = Instant::now() + GATEWAY_GUARD;
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Chromium the gateway would find: the first browser candidate on this
/// process's PATH (children get the same PATH). Panics naming what to
/// install when there is none: the browser tests need a real Chromium.
pub fn chromium_path() -> PathBuf {
    let path = std::env::var_os("PATH");
    openclaw_browser::launcher::find_executable(None, path.as_deref())
        .unwrap_or_else(|e| panic!("{e}: these tests need Debian's chromium (the CI has it)"))
}
