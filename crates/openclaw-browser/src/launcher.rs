//! Finding and launching Chromium/Chrome with a DevTools port.
//!
//! The browser runs in its own process group so that stopping it takes its
//! zygote/renderer/GPU children along; the group is signalled (TERM, then
//! KILL) on [`LaunchedBrowser::stop`], and killed on drop as a last resort.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cdp::{CdpHttp, VersionInfo};

/// Executable names tried on PATH, in order, when none is configured.
pub const CANDIDATES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
];

/// How many trailing stderr lines a launch failure quotes.
const STDERR_TAIL: usize = 15;

/// Progress of a launch, reported to the caller's callback.
#[derive(Debug, Clone)]
pub enum LaunchProgress {
    Spawned {
        pid: u32,
        executable: PathBuf,
        port: u16,
    },
    Waiting {
        port: u16,
        elapsed: Duration,
    },
    Ready {
        port: u16,
        elapsed: Duration,
        browser: String,
    },
}

pub type ProgressFn = Arc<dyn Fn(&LaunchProgress) + Send + Sync>;

/// What to launch.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub executable: PathBuf,
    pub port: u16,
    pub user_data_dir: PathBuf,
    pub headless: bool,
    pub no_sandbox: bool,
    /// Bound on waiting for the DevTools endpoint.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "no Chromium/Chrome found: tried {tried} on PATH; install chromium or set browser.executablePath"
    )]
    NotFound { tried: String },
    #[error(
        "browser.executablePath {0} does not exist or is not executable; fix the path or unset it to search PATH"
    )]
    BadExecutable(PathBuf),
    #[error("cannot create the browser profile directory {path}: {source}")]
    UserDataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {executable}: {source}")]
    Spawn {
        executable: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "failed to start Chrome CDP on port {port}: {executable} {what}.{tail}\nCheck that the binary runs (as root it needs browser.noSandbox: true) and that nothing else uses port {port}."
    )]
    NotReady {
        executable: PathBuf,
        port: u16,
        what: String,
        tail: String,
    },
}

/// Find the browser: the configured path, else the first candidate on PATH.
/// `path_var` is the PATH to search (passed in, so callers and tests control it).
pub fn find_executable(
    configured: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, LaunchError> {
    if let Some(p) = configured {
        return if is_executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(LaunchError::BadExecutable(p.to_path_buf()))
        };
    }
    if let Some(path) = path_var {
        for name in CANDIDATES {
            for dir in std::env::split_paths(path) {
                let cand = dir.join(name);
                if is_executable(&cand) {
                    return Ok(cand);
                }
            }
        }
    }
    Err(LaunchError::NotFound {
        tried: CANDIDATES.join(", "),
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Default headless choice: headless when there is no display.
pub fn default_headless(display: Option<&str>, wayland_display: Option<&str>) -> bool {
    display.is_none_or(str::is_empty) && wayland_display.is_none_or(str::is_empty)
}

/// The command-line flags for a launch (exposed for inspection and tests).
pub fn launch_args(spec: &LaunchSpec) -> Vec<String> {
    let mut args = vec![
        format!("--remote-debugging-port={}", spec.port),
        "--remote-debugging-address=127.0.0.1".to_string(),
        format!("--user-data-dir={}", spec.user_data_dir.display()),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-quic".into(),
        "--disable-dev-shm-usage".into(),
    ];
    if spec.headless {
        args.push("--headless=new".into());
        args.push("--disable-gpu".into());
    }
    if spec.no_sandbox {
        args.push("--no-sandbox".into());
    }
    args.push("about:blank".into());
    args
}

/// A browser process we started.
pub struct LaunchedBrowser {
    child: Option<Child>,
    pid: u32,
    pub port: u16,
    pub executable: PathBuf,
    pub user_data_dir: PathBuf,
    pub version: VersionInfo,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl std::fmt::Debug for LaunchedBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaunchedBrowser")
            .field("pid", &self.pid)
            .field("port", &self.port)
            .field("executable", &self.executable)
            .finish()
    }
}

fn signal_group(pid: u32, sig: libc::c_int) {
    // The child leads its own process group (pgid == pid).
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
    unsafe {
        libc::kill(-(pid as libc::pid_t), sig);
    }
}

/// Whether any process of group `pgid` is still alive (zombies, which hold
/// no resources and only wait to be reaped, do not count). Linux reads
/// /proc; elsewhere `kill(-pgid, 0)` answers (counting zombies too).
fn group_alive(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        openclaw_state::procfs::all()
            .iter()
            .any(|s| s.pgrp == pgid && s.state != "Z")
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: signal 0 only checks for existence; nothing is delivered.
        unsafe { libc::kill(-(pgid as libc::pid_t), 0) == 0 }
    }
}

fn tail_text(lines: &Mutex<VecDeque<String>>) -> String {
    let l = lines.lock().unwrap_or_else(|e| e.into_inner());
    if l.is_empty() {
        " It printed nothing on stderr.".to_string()
    } else {
        let mut s = format!(" Last {} line(s) of its stderr:", l.len());
        for line in l.iter() {
            s.push_str("\n  ");
            s.push_str(line);
        }
        s
    }
}

/// Launch and wait until `/json/version` answers on the port (bounded by
/// `spec.timeout`). On failure the process group is killed and reaped.
pub async fn launch(
    spec: &LaunchSpec,
    progress: Option<&ProgressFn>,
) -> Result<LaunchedBrowser, LaunchError> {
    // Under the state dir: private (0700), through the state crate.
    openclaw_state::create_private_dir_all(&spec.user_data_dir).map_err(|source| {
        LaunchError::UserDataDir {
            path: spec.user_data_dir.clone(),
            source,
        }
    })?;
    let mut cmd = Command::new(&spec.executable);
    cmd.args(launch_args(spec))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| LaunchError::Spawn {
        executable: spec.executable.clone(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    tracing::info!(pid, port = spec.port, executable = %spec.executable.display(), "launched browser");
    if let Some(p) = progress {
        p(&LaunchProgress::Spawned {
            pid,
            executable: spec.executable.clone(),
            port: spec.port,
        });
    }
    // Keep draining stderr for the browser's whole life (a full pipe would
    // block it), remembering the last lines for error messages.
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(err) = child.stderr.take() {
        let buf = stderr.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
                if b.len() == STDERR_TAIL {
                    b.pop_front();
                }
                b.push_back(line);
            }
        });
    }
    let mut browser = LaunchedBrowser {
        child: Some(child),
        pid,
        port: spec.port,
        executable: spec.executable.clone(),
        user_data_dir: spec.user_data_dir.clone(),
        version: VersionInfo {
            browser: String::new(),
            protocol_version: String::new(),
            user_agent: String::new(),
            web_socket_debugger_url: String::new(),
        },
        stderr,
    };
    let http = CdpHttp::new(&format!("http://127.0.0.1:{}", spec.port));
    let started = Instant::now();
    let mut last_report = Instant::now();
    let failure = loop {
        if let Ok(v) = http.version().await {
            if let Some(p) = progress {
                p(&LaunchProgress::Ready {
                    port: spec.port,
                    elapsed: started.elapsed(),
                    browser: v.browser.clone(),
                });
            }
            browser.version = v;
            return Ok(browser);
        }
        if let Some(child) = browser.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            break format!("exited ({status}) before its DevTools endpoint came up");
        }
        if started.elapsed() >= spec.timeout {
            break format!(
                "did not open its DevTools endpoint within {}s",
                spec.timeout.as_secs_f32()
            );
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            if let Some(p) = progress {
                p(&LaunchProgress::Waiting {
                    port: spec.port,
                    elapsed: started.elapsed(),
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    browser.stop().await;
    // Let the stderr reader pick up the last lines.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Err(LaunchError::NotReady {
        executable: spec.executable.clone(),
        port: spec.port,
        what: failure,
        tail: tail_text(&browser.stderr),
    })
}

impl LaunchedBrowser {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Is the main process still running?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stop the browser: SIGTERM to its process group, SIGKILL after a grace
    /// period, then reap the main process. Idempotent.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal_group(self.pid, libc::SIGTERM);
        match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(pid = self.pid, "browser ignored SIGTERM; killing");
                signal_group(self.pid, libc::SIGKILL);
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            }
        }
        // Whatever of the group is left (helpers that outlived the main
        // process), and wait until the kernel has finished them, so that once
        // the gateway has exited no browser process is alive.
        signal_group(self.pid, libc::SIGKILL);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while group_alive(self.pid) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if group_alive(self.pid) {
            tracing::warn!(
                pid = self.pid,
                "browser processes still exiting after SIGKILL"
            );
        }
        tracing::info!(pid = self.pid, port = self.port, "browser stopped");
    }
}

impl Drop for LaunchedBrowser {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(self.pid, libc::SIGKILL);
            let _ = child.start_kill();
            // Reap if it is already gone; otherwise tokio reaps orphaned
            // kill_on_drop children in the background.
            let _ = child.try_wait();
        }
    }
}
