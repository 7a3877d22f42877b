//! The services the gateway runs on ports derived from its base port:
//!
//! - the canvas host (`canvasHost.port`, default base+4) on the gateway's
//!   bind address, serving `canvasHost.root` (default `<workspace>/canvas`)
//!   with live reload (see `openclaw_canvas`);
//! - the browser control service (base+2) on 127.0.0.1 only, whatever
//!   `gateway.bind` says, guarded by the gateway token (see
//!   `openclaw_browser`).
//!
//! [`plan`] reads the config before any port is bound and says which
//! listeners to bind; [`build`] creates the services once every port is ours;
//! [`Services::spawn`] serves them next to the base port and
//! [`Services::shutdown`] stops every browser this gateway launched.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::path::PathBuf;

use openclaw_instance::Instance;
use std::sync::Arc;

use openclaw_browser::{BrowserControl, BrowserOptions, LaunchProgress, ProfileConfig};
use openclaw_canvas::CanvasOptions;
use serde_json::Value;

use crate::log::GatewayLog;
use crate::{AuthConfig, GatewayError, GatewayOptions, ListenerSpec};

/// Owner-record purpose of the canvas host listener.
pub const CANVAS_PURPOSE: &str = "canvas host";
/// Owner-record purpose of the browser control listener.
pub const BROWSER_PURPOSE: &str = "browser control";

/// What the config asks for, decided before any port is bound.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub canvas: Option<CanvasPlan>,
    pub browser: Option<BrowserPlan>,
    /// Why a service is off, for the log.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct CanvasPlan {
    pub port: u16,
    pub root: PathBuf,
    pub live_reload: bool,
}

#[derive(Clone)]
pub(crate) struct BrowserPlan {
    pub port: u16,
    pub token: String,
    pub cdp_range: (u16, u16),
    pub profiles: BTreeMap<String, ProfileConfig>,
    pub executable_path: Option<PathBuf>,
    pub headless: Option<bool>,
    pub no_sandbox: bool,
    /// Set when `--no-sandbox` was chosen for the user rather than by config.
    pub no_sandbox_reason: Option<String>,
}

impl std::fmt::Debug for BrowserPlan {
    // Never print the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserPlan")
            .field("port", &self.port)
            .field("cdp_range", &self.cdp_range)
            .field("profiles", &self.profiles)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// The listeners to bind, in order, with the hosts they must use.
    pub fn listeners(&self) -> Vec<ListenerSpec> {
        let mut v = Vec::new();
        if let Some(b) = &self.browser {
            v.push(ListenerSpec {
                purpose: BROWSER_PURPOSE.into(),
                port: b.port,
                // Loopback always: the control service drives a browser.
                host: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            });
        }
        if let Some(c) = &self.canvas {
            v.push(ListenerSpec {
                purpose: CANVAS_PURPOSE.into(),
                port: c.port,
                host: None,
            });
        }
        v
    }
}

fn expand_path(inst: &Instance, raw: &str) -> PathBuf {
    let p = inst.expand_home(raw);
    if p.is_absolute() {
        p
    } else {
        // Relative paths are relative to the config file, not the cwd of
        // whoever started the gateway.
        let config_path = &inst.config_path.value;
        config_path.parent().map(|d| d.join(&p)).unwrap_or(p)
    }
}

#[cfg(unix)]
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(not(unix))]
fn running_as_root() -> bool {
    false
}

/// The canvas host serves its root to anyone who can reach the port,
/// without auth: it must not be a system directory or the home itself, nor
/// contain the state dir (tokens, credentials) or the config.
pub(crate) fn check_canvas_root(
    root: &Path,
    state_dir: &Path,
    config_path: &Path,
    home: &Path,
) -> Result<(), String> {
    // Compare what the paths really are (symlinks resolved) when they exist.
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (root, state_dir, config_path, home) =
        (real(root), real(state_dir), real(config_path), real(home));
    const SYSTEM: [&str; 17] = [
        "/", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/var", "/boot", "/dev", "/proc",
        "/sys", "/opt", "/root", "/home", "/tmp", "/run",
    ];
    if SYSTEM.iter().any(|s| root == Path::new(s)) {
        return Err("is a system directory".into());
    }
    if root == home {
        return Err("is the home directory".into());
    }
    if state_dir.starts_with(&root) {
        return Err(format!(
            "contains the state dir {} (its tokens and credentials would be served without auth)",
            state_dir.display()
        ));
    }
    if config_path.starts_with(&root) {
        return Err(format!(
            "contains the config {} (its secrets would be served without auth)",
            config_path.display()
        ));
    }
    Ok(())
}

/// Reads `canvasHost.*` and `browser.*` and decides what to bind.
pub(crate) fn plan(
    opts: &GatewayOptions,
    config: &openclaw_config::Config,
    auth: &AuthConfig,
) -> Result<Plan, GatewayError> {
    let mut notes = Vec::new();
    if !opts.derived_services {
        return Ok(Plan {
            canvas: None,
            browser: None,
            notes,
        });
    }
    let inst = &opts.instance;

    let ch = config.canvas_host.clone().unwrap_or_default();
    let canvas = if opts.skip_canvas_host {
        notes.push("canvas host disabled by OPENCLAW_SKIP_CANVAS_HOST".into());
        None
    } else if ch.enabled == Some(false) {
        notes.push("canvas host disabled (canvasHost.enabled is false)".into());
        None
    } else {
        let root = ch
            .root
            .as_deref()
            .map(|r| expand_path(inst, r))
            .unwrap_or_else(|| inst.workspace.value.join("canvas"));
        check_canvas_root(&root, &inst.state_dir.value, &inst.config_path.value, &inst.home)
            .map_err(|why| {
                GatewayError::Invalid(format!(
                    "canvasHost.root {}: {why}; point it at a directory of pages only (default <workspace>/canvas), e.g. `{}`",
                    root.display(),
                    inst.command("config unset canvasHost.root")
                ))
            })?;
        Some(CanvasPlan {
            port: ch.port.map(|p| p.get()).unwrap_or(inst.ports.canvas.value),
            root,
            live_reload: ch.live_reload.unwrap_or(true),
        })
    };

    let b = config.browser.clone().unwrap_or_default();
    let browser = if b.enabled == Some(false) {
        notes.push("browser control disabled (browser.enabled is false)".into());
        None
    } else {
        match auth {
            AuthConfig::Token(token) => {
                let profiles = b
                    .profiles
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, p)| {
                        (
                            name,
                            ProfileConfig {
                                cdp_port: p.cdp_port.map(|x| x.get()),
                                cdp_url: p.cdp_url,
                                color: p.color,
                            },
                        )
                    })
                    .collect();
                let (no_sandbox, no_sandbox_reason) = match b.no_sandbox {
                    Some(v) => (v, None),
                    None if running_as_root() => (
                        true,
                        Some(
                            "running as root and browser.noSandbox is unset: launching Chromium with --no-sandbox, because Chromium refuses to start as root with its sandbox on; run the gateway as an unprivileged user to keep the sandbox (or set browser.noSandbox explicitly)"
                                .to_string(),
                        ),
                    ),
                    None => (false, None),
                };
                Some(BrowserPlan {
                    port: inst.ports.browser_control.value,
                    token: token.clone(),
                    cdp_range: inst.ports.cdp_range.value,
                    profiles,
                    executable_path: b.executable_path.as_deref().map(|p| expand_path(inst, p)),
                    headless: b.headless,
                    no_sandbox,
                    no_sandbox_reason,
                })
            }
            other => {
                notes.push(format!(
                    "browser control disabled: it needs the gateway token, and gateway auth is {:?}; set gateway.auth.token (or browser.enabled: false to silence this)",
                    other.mode()
                ));
                None
            }
        }
    };
    Ok(Plan {
        canvas,
        browser,
        notes,
    })
}

/// The built services, shared with connections (for `browser.request`).
#[derive(Default)]
pub(crate) struct Services {
    pub canvas: Option<axum::Router>,
    pub browser: Option<Arc<BrowserControl>>,
    pub browser_token: Option<String>,
    /// CDP ports browser control chose and saved to the config
    /// (`browser.profiles.<name>.cdpPort`): the reload that follows is no
    /// reason to restart (see `restart::Shape::without_saved_ports`).
    pub saved_cdp: Arc<std::sync::Mutex<BTreeMap<String, u16>>>,
}

impl Services {
    pub fn saved_cdp_ports(&self) -> BTreeMap<String, u16> {
        self.saved_cdp
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Builds the services of `plan` (after every port is bound): creates the
/// canvas root with a starter page, starts its watcher, and sets up browser
/// control with the config-persisting port callback.
pub(crate) fn build(
    plan: &Plan,
    opts: &GatewayOptions,
    log: &Arc<GatewayLog>,
) -> Result<Services, GatewayError> {
    let mut s = Services::default();
    for n in &plan.notes {
        log.info(n);
    }
    if let Some(c) = &plan.canvas {
        openclaw_canvas::ensure_root(&c.root).map_err(|e| GatewayError::Invalid(e.to_string()))?;
        let router = openclaw_canvas::router(CanvasOptions {
            root: c.root.clone(),
            live_reload: c.live_reload,
        })
        .map_err(|e| GatewayError::Invalid(e.to_string()))?;
        log.info(&format!(
            "canvas host serves {} (live reload {})",
            c.root.display(),
            if c.live_reload { "on" } else { "off" }
        ));
        s.canvas = Some(router);
    }
    if let Some(b) = &plan.browser {
        if let Some(why) = &b.no_sandbox_reason {
            log.warn(why);
        }
        let inst = &opts.instance;
        let mut bo =
            BrowserOptions::new(inst.state_dir.value.clone(), b.cdp_range, b.token.clone());
        bo.profiles = b.profiles.clone();
        bo.executable_path = b.executable_path.clone();
        bo.headless = b.headless;
        bo.no_sandbox = b.no_sandbox;
        let store = openclaw_state::ConfigStore::new(inst.config_path.value.clone());
        let plog = log.clone();
        let saved = s.saved_cdp.clone();
        bo.persist_port = Some(Arc::new(move |profile: &str, port: u16| {
            let key = format!("browser.profiles.{profile}.cdpPort");
            // Noted before the write, so the reload it causes knows it.
            saved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(profile.to_string(), port);
            store
                .update(None, |v| {
                    openclaw_config::set_path(v, &key, Value::from(port)).map_err(|e| e.to_string())
                })
                .map(|_| {
                    plog.info(&format!(
                        "browser profile {profile}: CDP port {port} saved to config ({key})"
                    ));
                })
                .map_err(|e| e.to_string())
        }));
        let plog = log.clone();
        bo.on_progress = Some(Arc::new(move |p: &LaunchProgress| {
            plog.info(&format!("browser: {}", describe_progress(p)));
        }));
        let control = BrowserControl::new(bo).map_err(|e| GatewayError::Invalid(e.to_string()))?;
        log.info(&format!(
            "browser control: CDP ports {}-{}, user data under {}",
            b.cdp_range.0,
            b.cdp_range.1,
            inst.state_dir.value.join("browser").display()
        ));
        s.browser = Some(control);
        s.browser_token = Some(b.token.clone());
    }
    Ok(s)
}

fn describe_progress(p: &LaunchProgress) -> String {
    match p {
        LaunchProgress::Spawned {
            pid,
            executable,
            port,
        } => format!(
            "launched {} (pid {pid}), waiting for DevTools on 127.0.0.1:{port}",
            executable.display()
        ),
        LaunchProgress::Waiting { port, elapsed } => format!(
            "still waiting for DevTools on 127.0.0.1:{port} ({:.1}s)",
            elapsed.as_secs_f32()
        ),
        LaunchProgress::Ready {
            port,
            elapsed,
            browser,
        } => format!(
            "{browser} ready on 127.0.0.1:{port} after {:.1}s",
            elapsed.as_secs_f32()
        ),
    }
}

/// The token browser control accepts under `auth` (none unless token auth).
pub(crate) fn token_of(auth: &AuthConfig) -> Option<String> {
    match auth {
        AuthConfig::Token(t) => Some(t.clone()),
        _ => None,
    }
}

/// Running derived servers; stop with [`Running::stop`].
pub(crate) struct Running {
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Services {
    /// The gateway's credentials changed: browser control takes the new
    /// token at once (no token: it refuses every request).
    pub fn set_token(&self, token: Option<String>) {
        if let Some(b) = &self.browser {
            b.set_token(token.as_deref().unwrap_or(""));
        }
    }

    /// Serves canvas and browser control on their listeners (taken out of
    /// `listeners` by purpose).
    pub fn spawn(
        &self,
        listeners: &mut Vec<(String, TcpListener)>,
        log: &Arc<GatewayLog>,
        gateway_hosts: impl Fn() -> crate::guard::HostPolicy + Send + Sync + 'static,
    ) -> Result<Running, GatewayError> {
        let mut running = Running {
            stop: Vec::new(),
            tasks: Vec::new(),
        };
        let mut take = |purpose: &str| -> Result<Option<tokio::net::TcpListener>, GatewayError> {
            let Some(i) = listeners.iter().position(|(p, _)| p == purpose) else {
                return Ok(None);
            };
            let (_, l) = listeners.remove(i);
            tokio::net::TcpListener::from_std(l)
                .map(Some)
                .map_err(|source| GatewayError::Io {
                    what: format!("cannot register the {purpose} listener"),
                    source,
                })
        };
        let mut servers: Vec<(String, tokio::net::TcpListener, axum::Router)> = Vec::new();
        if let Some(router) = &self.canvas
            && let Some(l) = take(CANVAS_PURPOSE)?
        {
            // The canvas answers to the gateway's names (DNS rebinding).
            let router = crate::guard::with_host_check(router.clone(), gateway_hosts);
            servers.push((CANVAS_PURPOSE.into(), l, router));
        }
        if let Some(control) = &self.browser
            && let Some(l) = take(BROWSER_PURPOSE)?
        {
            let addr = l.local_addr().map_err(|source| GatewayError::Io {
                what: "cannot read the browser control address".into(),
                source,
            })?;
            if !addr.ip().is_loopback() {
                return Err(GatewayError::Invalid(format!(
                    "refusing to serve browser control on {addr}: it must listen on 127.0.0.1 only"
                )));
            }
            let router = crate::guard::with_host_check(control.router(), move || {
                crate::guard::HostPolicy::loopback(addr.port())
            });
            servers.push((BROWSER_PURPOSE.into(), l, router));
        }
        for (purpose, listener, router) in servers {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let log = log.clone();
            running.stop.push(tx);
            running.tasks.push(tokio::spawn(async move {
                let r = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
                if let Err(e) = r {
                    log.warn(&format!("{purpose} server stopped with an error: {e}"));
                }
            }));
        }
        Ok(running)
    }

    /// Stops every browser this gateway launched (and waits for them).
    pub async fn shutdown(&self, log: &GatewayLog) {
        if let Some(b) = &self.browser {
            let pids = b.launched_pids().await;
            b.shutdown().await;
            if !pids.is_empty() {
                log.info(&format!("stopped browsers {pids:?}"));
            }
        }
    }
}

impl Running {
    /// Stops accepting on the derived ports (bounded wait for open requests).
    pub async fn stop(self) {
        for tx in self.stop {
            let _ = tx.send(());
        }
        for t in self.tasks {
            // Live-reload sockets stay open until their clients go: give open
            // requests a moment, then cut the rest.
            let abort = t.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_millis(300), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

#[cfg(test)]
mod canvas_root_tests {
    use super::check_canvas_root;

    use std::path::Path;

    #[test]
    fn canvas_root_may_not_expose_secrets_or_the_system() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let sd = home.join(".openclaw-main");
        let cfg = sd.join("openclaw.json");
        std::fs::create_dir_all(&sd).unwrap();
        let ok = home.join(".openclaw/workspace/canvas");
        assert!(check_canvas_root(&ok, &sd, &cfg, &home).is_ok());
        for bad in [
            Path::new("/"),
            Path::new("/etc"),
            Path::new("/usr"),
            &home,
            &sd,
        ] {
            assert!(check_canvas_root(bad, &sd, &cfg, &home).is_err(), "{bad:?}");
        }
        // A config kept outside the state dir is protected too.
        let cfg2 = home.join("conf/openclaw.json");
        assert!(check_canvas_root(&home.join("conf"), &sd, &cfg2, &home).is_err());
        // A symlink to the home is the home.
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&home, &link).unwrap();
        assert!(check_canvas_root(&link, &sd, &cfg, &home).is_err());
    }
}
