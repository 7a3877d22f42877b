//! The browser control service: an HTTP API (loopback only, gateway token
//! required) over the browsers of each browser profile.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::cdp::{CdpConnection, CdpError, CdpHttp, TargetInfo};
use crate::launcher::{self, LaunchError, LaunchSpec, LaunchedBrowser, ProgressFn};
use crate::ports::allocate_cdp_port;
use crate::profiles::{
    DEFAULT_COLOR, DEFAULT_PROFILE, ProfileConfig, http_base_of_cdp_url, port_of_cdp_url,
    validate_profile_name,
};

/// Persists a newly allocated CDP port to config: `(profile, port)`.
pub type PersistPortFn = Arc<dyn Fn(&str, u16) -> Result<(), String> + Send + Sync>;

const SNAPSHOT_JS: &str = include_str!("js/snapshot.js");
/// Bound on waiting for a page load after navigation.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// Everything the control service needs; the gateway fills it from config.
#[derive(Clone)]
pub struct BrowserOptions {
    /// The instance's state dir; user-data dirs go under `<state_dir>/browser/<profile>/user-data`.
    pub state_dir: PathBuf,
    /// Inclusive CDP port range to allocate from.
    pub cdp_range: (u16, u16),
    /// `browser.profiles`; `openclaw` is added implicitly when absent.
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// `browser.executablePath`.
    pub executable_path: Option<PathBuf>,
    /// `browser.headless`; `None` = headless when there is no display.
    pub headless: Option<bool>,
    /// `browser.noSandbox`.
    pub no_sandbox: bool,
    /// The gateway token every request must carry as `Authorization: Bearer`.
    pub token: String,
    /// Called when a profile gets a newly allocated CDP port.
    pub persist_port: Option<PersistPortFn>,
    /// Launch progress callback.
    pub on_progress: Option<ProgressFn>,
    /// Bound on waiting for a launched browser's DevTools endpoint.
    pub launch_timeout: Duration,
    /// PATH to search for the browser; `None` = this process's PATH.
    pub search_path: Option<OsString>,
}

impl BrowserOptions {
    pub fn new(
        state_dir: impl Into<PathBuf>,
        cdp_range: (u16, u16),
        token: impl Into<String>,
    ) -> Self {
        Self {
            state_dir: state_dir.into(),
            cdp_range,
            profiles: BTreeMap::new(),
            executable_path: None,
            headless: None,
            no_sandbox: false,
            token: token.into(),
            persist_port: None,
            on_progress: None,
            launch_timeout: Duration::from_secs(30),
            search_path: None,
        }
    }
}

/// Errors of the control service; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("missing or wrong gateway token: send `Authorization: Bearer <gateway.auth.token>`")]
    Unauthorized,
    #[error(
        "unknown browser profile {name:?}; known profiles: {known}. Add it under browser.profiles.{name}"
    )]
    UnknownProfile { name: String, known: String },
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "the browser of profile {0:?} is not running; start it first (`openclaw browser start --browser-profile {0}` or POST /start)"
    )]
    NotRunning(String),
    #[error(
        "no free CDP port for profile {profile:?} in {lo}-{hi}: all are configured for other profiles or held by other processes; free one or set browser.profiles.{profile}.cdpPort"
    )]
    NoFreePort { profile: String, lo: u16, hi: u16 },
    #[error(
        "CDP port {port} of profile {profile:?} is already in use by another process; stop that process or change browser.profiles.{profile}.cdpPort"
    )]
    PortInUse { profile: String, port: u16 },
    #[error(
        "cannot attach to the browser of profile {profile:?} at {url}: {reason}. Is that browser running with --remote-debugging-port?"
    )]
    Attach {
        profile: String,
        url: String,
        reason: String,
    },
    #[error("no tab {0:?}; list tabs with GET /tabs")]
    TargetNotFound(String),
    #[error("the browser of this profile has no open tab; open one with POST /tabs/open")]
    NoTab,
    #[error(
        "no element with ref {0:?} on the page; take a fresh snapshot (POST /snapshot) and use one of its refs"
    )]
    RefNotFound(String),
    #[error("navigation to {url} failed: {reason}")]
    Navigation { url: String, reason: String },
    #[error("page script failed: {0}")]
    Script(String),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    Cdp(#[from] CdpError),
    #[error("{0}")]
    Io(String),
}

impl BrowserError {
    pub fn status(&self) -> StatusCode {
        use BrowserError::*;
        match self {
            Unauthorized => StatusCode::UNAUTHORIZED,
            UnknownProfile { .. } | TargetNotFound(_) | RefNotFound(_) => StatusCode::NOT_FOUND,
            BadRequest(_) | InvalidConfig(_) => StatusCode::BAD_REQUEST,
            NotRunning(_) | NoTab | PortInUse { .. } => StatusCode::CONFLICT,
            NoFreePort { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Attach { .. } | Navigation { .. } | Cdp(_) | Script(_) => StatusCode::BAD_GATEWAY,
            Launch(_) | Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for BrowserError {
    fn into_response(self) -> Response {
        let status = self.status();
        (status, axum::Json(json!({"error": self.to_string()}))).into_response()
    }
}

type R<T> = Result<T, BrowserError>;

/// `GET /` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BrowserStatus {
    pub profile: String,
    pub running: bool,
    /// We launched (and own) the process.
    pub launched: bool,
    /// Attached to a browser someone else runs (`cdpUrl`).
    pub attached: bool,
    pub pid: Option<u32>,
    pub cdp_port: Option<u16>,
    pub cdp_url: Option<String>,
    /// e.g. "Chrome" (from /json/version), when running.
    pub browser: Option<String>,
    pub browser_version: Option<String>,
    pub headless: bool,
    pub executable_path: Option<String>,
    pub user_data_dir: Option<String>,
    pub color: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A tab (page target).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tab {
    pub target_id: String,
    pub title: String,
    pub url: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl From<TargetInfo> for Tab {
    fn from(t: TargetInfo) -> Self {
        Tab {
            target_id: t.id,
            title: t.title,
            url: t.url,
            kind: t.kind,
        }
    }
}

/// One interactive element in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotElement {
    #[serde(rename = "ref")]
    pub reference: String,
    pub role: String,
    pub name: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// `POST /snapshot` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    #[serde(default)]
    pub target_id: String,
    pub url: String,
    pub title: String,
    pub text: String,
    pub elements: Vec<SnapshotElement>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenRequest {
    pub url: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetRequest {
    pub target_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NavigateRequest {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScreenshotRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    #[serde(default)]
    pub full_page: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActKind {
    #[default]
    Click,
    Type,
    Press,
    Scroll,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActRequest {
    /// Element ref from a snapshot; required for click and type.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub kind: ActKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Scroll amount in CSS pixels when no ref is given (default: most of a screen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_y: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ProfileQuery {
    profile: Option<String>,
}

struct ProfileState {
    config: ProfileConfig,
    launched: Option<LaunchedBrowser>,
    attached: bool,
    warnings: Vec<String>,
}

impl ProfileState {
    fn new(config: ProfileConfig) -> Self {
        ProfileState {
            config,
            launched: None,
            attached: false,
            warnings: vec![],
        }
    }

    /// The CDP port this profile has pinned (explicit `cdpPort`, an assigned
    /// one, or the port of its `cdpUrl`).
    fn pinned_port(&self) -> Option<u16> {
        self.config
            .cdp_port
            .or_else(|| self.config.cdp_url.as_deref().and_then(port_of_cdp_url))
    }
}

/// The control service. Create with [`BrowserControl::new`], mount
/// [`BrowserControl::router`], call [`BrowserControl::shutdown`] on stop.
/// Dropping it kills any browser it launched.
pub struct BrowserControl {
    opts: BrowserOptions,
    headless: bool,
    /// One lock per profile (the set is fixed at construction), so a slow
    /// launch or stop of one profile never blocks requests for another.
    profiles: BTreeMap<String, Mutex<ProfileState>>,
    /// CDP ports pinned per profile, read when allocating a port for
    /// another profile. A separate short lock: allocation must not wait on
    /// (or deadlock with) another profile's lock.
    pinned: std::sync::Mutex<BTreeMap<String, u16>>,
    /// The token requests must carry; replaced when the gateway's
    /// credentials change ([`BrowserControl::set_token`]).
    token: std::sync::RwLock<String>,
}

impl BrowserControl {
    /// Replaces the token at once: the old one stops working, the new one
    /// works from the next request. An empty token refuses every request.
    pub fn set_token(&self, token: &str) {
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = token.to_string();
    }

    /// The token requests must carry now.
    pub fn token(&self) -> String {
        self.token.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Validate the options (token, profile names) and build the service.
    pub fn new(opts: BrowserOptions) -> R<Arc<Self>> {
        if opts.token.is_empty() {
            return Err(BrowserError::InvalidConfig(
                "the browser control service needs the gateway token (gateway.auth.token); none is configured".into(),
            ));
        }
        let (lo, hi) = opts.cdp_range;
        if lo == 0 || lo > hi {
            return Err(BrowserError::InvalidConfig(format!(
                "invalid CDP port range {lo}-{hi}; check browser.cdpPortRangeStart"
            )));
        }
        let mut profiles = BTreeMap::new();
        for (name, cfg) in &opts.profiles {
            validate_profile_name(name).map_err(BrowserError::InvalidConfig)?;
            if let Some(url) = &cfg.cdp_url
                && http_base_of_cdp_url(url).is_none()
            {
                return Err(BrowserError::InvalidConfig(format!(
                    "browser.profiles.{name}.cdpUrl {url:?} is not an http(s):// or ws(s):// URL"
                )));
            }
            profiles.insert(name.clone(), ProfileState::new(cfg.clone()));
        }
        profiles
            .entry(DEFAULT_PROFILE.to_string())
            .or_insert_with(|| ProfileState::new(ProfileConfig::default()));
        let pinned = profiles
            .iter()
            .filter_map(|(n, st)| Some((n.clone(), st.pinned_port()?)))
            .collect();
        let headless = opts.headless.unwrap_or_else(|| {
            launcher::default_headless(
                std::env::var("DISPLAY").ok().as_deref(),
                std::env::var("WAYLAND_DISPLAY").ok().as_deref(),
            )
        });
        Ok(Arc::new(Self {
            token: std::sync::RwLock::new(opts.token.clone()),
            opts,
            headless,
            profiles: profiles
                .into_iter()
                .map(|(n, st)| (n, Mutex::new(st)))
                .collect(),
            pinned: std::sync::Mutex::new(pinned),
        }))
    }

    /// The HTTP API. Bind it with [`bind_loopback`] only.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(h_status))
            .route("/start", post(h_start))
            .route("/stop", post(h_stop))
            .route("/tabs", get(h_tabs))
            .route("/tabs/open", post(h_open))
            .route("/tabs/focus", post(h_focus))
            .route("/tabs/close", post(h_close))
            .route("/navigate", post(h_navigate))
            .route("/screenshot", post(h_screenshot))
            .route("/snapshot", post(h_snapshot))
            .route("/act", post(h_act))
            .layer(middleware::from_fn_with_state(self.clone(), require_token))
            .with_state(self.clone())
    }

    /// Serve on `listener` (which must be bound to a loopback address) until
    /// `shutdown` resolves, then stop every browser this service launched.
    pub async fn serve(
        self: &Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::other(format!(
                "refusing to serve browser control on {addr}: it must be bound to 127.0.0.1 only"
            )));
        }
        let r = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        self.shutdown().await;
        r
    }

    /// Stop every browser this service launched and detach from attached ones.
    pub async fn shutdown(&self) {
        for (name, st) in &self.profiles {
            let mut st = st.lock().await;
            if let Some(mut b) = st.launched.take() {
                tracing::info!(profile = %name, pid = b.pid(), "stopping browser at shutdown");
                b.stop().await;
            }
            st.attached = false;
        }
    }

    /// Pids of the browsers this service launched and still runs.
    pub async fn launched_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for st in self.profiles.values() {
            if let Some(b) = st.lock().await.launched.as_mut()
                && b.is_running()
            {
                pids.push(b.pid());
            }
        }
        pids
    }

    fn check_token(&self, headers: &HeaderMap) -> bool {
        let Some(v) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let Ok(v) = v.to_str() else { return false };
        let Some(tok) = v.strip_prefix("Bearer ") else {
            return false;
        };
        let want = self.token.read().unwrap_or_else(|e| e.into_inner());
        !want.is_empty() && openclaw_state::secret_eq(tok.trim(), &want)
    }

    fn profile(&self, name: &str) -> R<&Mutex<ProfileState>> {
        self.profiles
            .get(name)
            .ok_or_else(|| BrowserError::UnknownProfile {
                name: name.to_string(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    fn pinned(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u16>> {
        self.pinned.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn user_data_dir(&self, profile: &str) -> PathBuf {
        self.opts
            .state_dir
            .join("browser")
            .join(profile)
            .join("user-data")
    }

    /// Ports configured (or already assigned) for profiles other than `except`.
    fn taken_ports(&self, except: &str) -> Vec<u16> {
        self.pinned()
            .iter()
            .filter(|(n, _)| n.as_str() != except)
            .map(|(_, p)| *p)
            .collect()
    }

    /// Status of one profile.
    pub async fn status(&self, profile: &str) -> R<BrowserStatus> {
        let mut guard = self.profile(profile)?.lock().await;
        let st = &mut *guard;
        let taken = self.taken_ports(profile);
        if let Some(b) = st.launched.as_mut()
            && !b.is_running()
        {
            st.warnings
                .push(format!("the browser (pid {}) exited on its own", b.pid()));
            st.launched = None;
        }
        let color = st
            .config
            .color
            .clone()
            .unwrap_or_else(|| DEFAULT_COLOR.into());
        let mut s = BrowserStatus {
            profile: profile.to_string(),
            running: false,
            launched: false,
            attached: false,
            pid: None,
            cdp_port: None,
            cdp_url: None,
            browser: None,
            browser_version: None,
            headless: self.headless,
            executable_path: None,
            user_data_dir: None,
            color,
            warnings: st.warnings.clone(),
        };
        let endpoint: Option<String>;
        if let Some(url) = &st.config.cdp_url {
            s.cdp_url = Some(url.clone());
            s.cdp_port = port_of_cdp_url(url);
            s.attached = st.attached;
            endpoint = st.attached.then(|| http_base_of_cdp_url(url)).flatten();
        } else {
            let port = match (&st.launched, st.config.cdp_port) {
                (Some(b), _) => Some(b.port),
                (None, Some(p)) => Some(p),
                // Not yet assigned: show what a start would pick now.
                (None, None) => allocate_cdp_port(self.opts.cdp_range, &taken),
            };
            s.cdp_port = port;
            s.cdp_url = port.map(|p| format!("http://127.0.0.1:{p}"));
            s.user_data_dir = Some(self.user_data_dir(profile).display().to_string());
            s.executable_path = launcher::find_executable(
                self.opts.executable_path.as_deref(),
                self.search_path().as_deref(),
            )
            .ok()
            .map(|p| p.display().to_string());
            if let Some(b) = &st.launched {
                s.launched = true;
                s.pid = Some(b.pid());
                s.executable_path = Some(b.executable.display().to_string());
            }
            endpoint = st
                .launched
                .as_ref()
                .map(|b| format!("http://127.0.0.1:{}", b.port));
        }
        drop(guard);
        if let Some(base) = endpoint {
            match CdpHttp::new(&base).version().await {
                Ok(v) => {
                    s.running = true;
                    let (name, ver) = v.browser.split_once('/').unwrap_or((&v.browser, ""));
                    s.browser = Some(name.to_string());
                    s.browser_version = (!ver.is_empty()).then(|| ver.to_string());
                }
                Err(e) => s
                    .warnings
                    .push(format!("DevTools endpoint not answering: {e}")),
            }
        }
        Ok(s)
    }

    fn search_path(&self) -> Option<OsString> {
        self.opts
            .search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
    }

    /// Start (launch, or attach for `cdpUrl` profiles). Idempotent.
    pub async fn start(&self, profile: &str) -> R<BrowserStatus> {
        {
            let mut guard = self.profile(profile)?.lock().await;
            let st = &mut *guard;
            st.warnings.clear();
            if let Some(url) = st.config.cdp_url.clone() {
                // Attach only: never launch anything for a remote profile.
                let base = http_base_of_cdp_url(&url).unwrap_or_default();
                CdpHttp::new(&base)
                    .version()
                    .await
                    .map_err(|e| BrowserError::Attach {
                        profile: profile.to_string(),
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                st.attached = true;
            } else if st.launched.as_mut().is_some_and(|b| b.is_running()) {
                // Already running.
            } else {
                st.launched = None;
                let (port, fresh) = match st.config.cdp_port {
                    Some(p) => {
                        if !crate::ports::port_is_free(p) {
                            return Err(BrowserError::PortInUse {
                                profile: profile.to_string(),
                                port: p,
                            });
                        }
                        (p, false)
                    }
                    None => {
                        // Choose and reserve under the short lock, so two
                        // profiles starting at once never pick the same port.
                        let (lo, hi) = self.opts.cdp_range;
                        let mut pinned = self.pinned();
                        let taken: Vec<u16> = pinned
                            .iter()
                            .filter(|(n, _)| n.as_str() != profile)
                            .map(|(_, p)| *p)
                            .collect();
                        let p = allocate_cdp_port((lo, hi), &taken).ok_or_else(|| {
                            BrowserError::NoFreePort {
                                profile: profile.to_string(),
                                lo,
                                hi,
                            }
                        })?;
                        pinned.insert(profile.to_string(), p);
                        (p, true)
                    }
                };
                let executable = launcher::find_executable(
                    self.opts.executable_path.as_deref(),
                    self.search_path().as_deref(),
                )?;
                // Each directory on the way is a real one under the state
                // dir: a planted symlink would send Chromium's profile (its
                // cookies, its writes) elsewhere.
                let user_data_dir = match openclaw_state::private_dir_beneath(
                    &self.opts.state_dir,
                    &["browser", profile, "user-data"],
                ) {
                    Ok(d) => d,
                    Err(source) => {
                        if fresh {
                            self.pinned().remove(profile);
                        }
                        return Err(LaunchError::UserDataDir {
                            path: self.user_data_dir(profile),
                            source,
                        }
                        .into());
                    }
                };
                debug_assert_eq!(user_data_dir, self.user_data_dir(profile));
                let spec = LaunchSpec {
                    executable,
                    port,
                    user_data_dir,
                    headless: self.headless,
                    no_sandbox: self.opts.no_sandbox,
                    timeout: self.opts.launch_timeout,
                };
                let b = match launcher::launch(&spec, self.opts.on_progress.as_ref()).await {
                    Ok(b) => b,
                    Err(e) => {
                        if fresh {
                            self.pinned().remove(profile);
                        }
                        return Err(e.into());
                    }
                };
                st.launched = Some(b);
                if fresh {
                    st.config.cdp_port = Some(port);
                    if let Some(persist) = &self.opts.persist_port
                        && let Err(e) = persist(profile, port)
                    {
                        tracing::warn!(profile, port, error = %e, "could not persist CDP port");
                        st.warnings.push(format!(
                            "CDP port {port} is in use for this run but could not be saved to config: {e}"
                        ));
                    }
                }
            }
        }
        self.status(profile).await
    }

    /// Stop the profile's browser if we launched it; detach if attached.
    pub async fn stop(&self, profile: &str) -> R<BrowserStatus> {
        {
            let mut guard = self.profile(profile)?.lock().await;
            let st = &mut *guard;
            if let Some(mut b) = st.launched.take() {
                b.stop().await;
            }
            st.attached = false;
            st.warnings.clear();
        }
        self.status(profile).await
    }

    /// The DevTools HTTP endpoint of a running profile.
    async fn endpoint(&self, profile: &str) -> R<CdpHttp> {
        let mut guard = self.profile(profile)?.lock().await;
        let st = &mut *guard;
        if st.attached
            && let Some(base) = st.config.cdp_url.as_deref().and_then(http_base_of_cdp_url)
        {
            return Ok(CdpHttp::new(&base));
        }
        if !st.launched.as_mut().is_some_and(|b| b.is_running()) {
            return Err(BrowserError::NotRunning(profile.to_string()));
        }
        let port = st.launched.as_ref().map(|b| b.port).unwrap_or_default();
        Ok(CdpHttp::new(&format!("http://127.0.0.1:{port}")))
    }

    pub async fn tabs(&self, profile: &str) -> R<Vec<Tab>> {
        let http = self.endpoint(profile).await?;
        Ok(page_targets(&http)
            .await?
            .into_iter()
            .map(Tab::from)
            .collect())
    }

    pub async fn open(&self, profile: &str, url: &str) -> R<Tab> {
        let url = &navigable_url(url)?;
        let http = self.endpoint(profile).await?;
        let t = http.new_tab("about:blank").await?;
        let id = t.id.clone();
        self.navigate_target(&http, &t, url).await?;
        let t = find_target(&http, Some(&id)).await?;
        Ok(t.into())
    }

    pub async fn focus(&self, profile: &str, target_id: &str) -> R<()> {
        let http = self.endpoint(profile).await?;
        find_target(&http, Some(target_id)).await?;
        http.activate(target_id).await?;
        Ok(())
    }

    pub async fn close(&self, profile: &str, target_id: &str) -> R<()> {
        let http = self.endpoint(profile).await?;
        find_target(&http, Some(target_id)).await?;
        http.close(target_id).await?;
        Ok(())
    }

    pub async fn navigate(&self, profile: &str, url: &str, target_id: Option<&str>) -> R<Tab> {
        let url = &navigable_url(url)?;
        let http = self.endpoint(profile).await?;
        let t = find_target(&http, target_id).await?;
        let id = t.id.clone();
        self.navigate_target(&http, &t, url).await?;
        Ok(find_target(&http, Some(&id)).await?.into())
    }

    async fn navigate_target(&self, _http: &CdpHttp, t: &TargetInfo, url: &str) -> R<()> {
        let conn = connect_page(t).await?;
        let mut events = conn.events();
        conn.call("Page.enable", json!({})).await?;
        let r = conn.call("Page.navigate", json!({"url": url})).await?;
        if let Some(err) = r.get("errorText").and_then(Value::as_str)
            && !err.is_empty()
        {
            return Err(BrowserError::Navigation {
                url: url.to_string(),
                reason: err.to_string(),
            });
        }
        if r.get("loaderId").and_then(Value::as_str).is_some() {
            let wait = async {
                loop {
                    match events.recv().await {
                        Ok(ev) if ev.method == "Page.loadEventFired" => return,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    }
                }
            };
            if tokio::time::timeout(LOAD_TIMEOUT, wait).await.is_err() {
                tracing::warn!(url, "page did not finish loading within {LOAD_TIMEOUT:?}");
            }
        }
        Ok(())
    }

    pub async fn screenshot(&self, profile: &str, req: &ScreenshotRequest) -> R<Vec<u8>> {
        let http = self.endpoint(profile).await?;
        let t = find_target(&http, req.target_id.as_deref()).await?;
        let conn = connect_page(&t).await?;
        let params = if req.full_page {
            let m = conn.call("Page.getLayoutMetrics", json!({})).await?;
            let size = m
                .get("cssContentSize")
                .or_else(|| m.get("contentSize"))
                .cloned()
                .unwrap_or(Value::Null);
            let w = size.get("width").and_then(Value::as_f64).unwrap_or(800.0);
            let h = size.get("height").and_then(Value::as_f64).unwrap_or(600.0);
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": w.ceil(), "height": h.ceil(), "scale": 1}
            })
        } else {
            json!({"format": "png"})
        };
        let r = conn.call("Page.captureScreenshot", params).await?;
        let data = r.get("data").and_then(Value::as_str).ok_or_else(|| {
            BrowserError::Script("Page.captureScreenshot returned no data".into())
        })?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| BrowserError::Script(format!("screenshot data is not base64: {e}")))
    }

    pub async fn snapshot(&self, profile: &str, target_id: Option<&str>) -> R<Snapshot> {
        let http = self.endpoint(profile).await?;
        let t = find_target(&http, target_id).await?;
        let conn = connect_page(&t).await?;
        let v = evaluate(&conn, SNAPSHOT_JS).await?;
        let s = v
            .as_str()
            .ok_or_else(|| BrowserError::Script("snapshot script returned no text".into()))?;
        let mut snap: Snapshot = serde_json::from_str(s)
            .map_err(|e| BrowserError::Script(format!("snapshot script returned bad JSON: {e}")))?;
        snap.target_id = t.id;
        Ok(snap)
    }

    pub async fn act(&self, profile: &str, req: &ActRequest) -> R<Value> {
        let http = self.endpoint(profile).await?;
        let t = find_target(&http, req.target_id.as_deref()).await?;
        let conn = connect_page(&t).await?;
        if let Some(r) = &req.reference {
            check_ref(r)?;
        }
        let need_ref = || {
            req.reference.clone().ok_or_else(|| {
                BrowserError::BadRequest(format!(
                    "act {:?} needs a \"ref\" from a snapshot",
                    req.kind
                ))
            })
        };
        match req.kind {
            ActKind::Click => {
                let r = need_ref()?;
                let (x, y) = element_center(&conn, &r).await?;
                for (ty, count) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 1)] {
                    conn.call(
                        "Input.dispatchMouseEvent",
                        json!({"type": ty, "x": x, "y": y, "button": "left", "clickCount": count}),
                    )
                    .await?;
                }
            }
            ActKind::Type => {
                let r = need_ref()?;
                let text = req.text.clone().ok_or_else(|| {
                    BrowserError::BadRequest("act \"type\" needs \"text\"".into())
                })?;
                focus_ref(&conn, &r).await?;
                conn.call("Input.insertText", json!({"text": text})).await?;
            }
            ActKind::Press => {
                let key = req.key.clone().ok_or_else(|| {
                    BrowserError::BadRequest("act \"press\" needs \"key\" (e.g. \"Enter\")".into())
                })?;
                if let Some(r) = &req.reference {
                    focus_ref(&conn, r).await?;
                }
                let (code, vk, text) = key_info(&key);
                let mut down = json!({"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk});
                if let Some(t) = &text {
                    down["text"] = json!(t);
                }
                conn.call("Input.dispatchKeyEvent", down).await?;
                conn.call(
                    "Input.dispatchKeyEvent",
                    json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk}),
                )
                .await?;
            }
            ActKind::Scroll => {
                let expr = match &req.reference {
                    Some(r) => format!(
                        "(() => {{ const el = document.querySelector('[data-openclaw-ref=\"{r}\"]'); if (!el) return false; el.scrollIntoView({{block: 'center'}}); return true; }})()"
                    ),
                    None => {
                        let dy = req.delta_y.unwrap_or(f64::NAN);
                        let dy = if dy.is_finite() {
                            dy.to_string()
                        } else {
                            "window.innerHeight * 0.8".into()
                        };
                        format!("(() => {{ window.scrollBy(0, {dy}); return true; }})()")
                    }
                };
                if evaluate(&conn, &expr).await? != Value::Bool(true) {
                    return Err(BrowserError::RefNotFound(
                        req.reference.clone().unwrap_or_default(),
                    ));
                }
            }
        }
        let url = evaluate(&conn, "location.href")
            .await
            .unwrap_or(Value::Null);
        Ok(
            json!({"ok": true, "kind": req.kind, "ref": req.reference, "targetId": t.id, "url": url}),
        )
    }
}

/// The URL to navigate to, if its scheme is allowed: `http`, `https`, or
/// exactly `about:blank`. Parsed with a WHATWG URL parser (the `url` crate,
/// as the browser parses it: tabs and newlines inside the scheme are
/// dropped, so `java\tscript:` is `javascript:`), and the parser's
/// serialization is what gets navigated, so the check and the browser never
/// disagree. `file:`, `chrome:`, `view-source:`, `data:`, `javascript:` and
/// every other scheme are refused: they read local files and the browser's
/// own state, or run script.
pub fn navigable_url(url: &str) -> R<String> {
    let t = url.trim();
    if t.is_empty() {
        return Err(BrowserError::BadRequest("\"url\" is empty".into()));
    }
    let parsed = match url::Url::parse(t) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(BrowserError::BadRequest(format!(
                "{url:?} is not an absolute URL; include the scheme, e.g. http://{t}"
            )));
        }
        Err(e) => {
            return Err(BrowserError::BadRequest(format!(
                "{url:?} is not a valid URL: {e}"
            )));
        }
    };
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(parsed.to_string()),
        // `about:blank`, with a fragment if any (`about:blank#marker`).
        "about" if parsed.path() == "blank" && parsed.query().is_none() => Ok(parsed.to_string()),
        "javascript" => Err(BrowserError::BadRequest(
            "javascript: URLs are not navigable; use act or snapshot instead".into(),
        )),
        other => Err(BrowserError::BadRequest(format!(
            "{other}: URLs are not navigable: browser control opens only http, https and about:blank"
        ))),
    }
}

fn check_ref(r: &str) -> R<()> {
    let ok = r.len() > 1
        && r.len() < 16
        && r.starts_with('e')
        && r[1..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(BrowserError::BadRequest(format!(
            "{r:?} is not an element ref; refs look like \"e12\" and come from POST /snapshot"
        )))
    }
}

async fn page_targets(http: &CdpHttp) -> R<Vec<TargetInfo>> {
    Ok(http
        .list()
        .await?
        .into_iter()
        .filter(|t| t.kind == "page")
        .collect())
}

/// The tab `id`, or the most recently used page when `id` is `None`.
async fn find_target(http: &CdpHttp, id: Option<&str>) -> R<TargetInfo> {
    let pages = page_targets(http).await?;
    match id {
        Some(id) => pages
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| BrowserError::TargetNotFound(id.to_string())),
        None => pages.into_iter().next().ok_or(BrowserError::NoTab),
    }
}

async fn connect_page(t: &TargetInfo) -> R<CdpConnection> {
    let ws = t.web_socket_debugger_url.as_deref().ok_or_else(|| {
        BrowserError::Script(format!(
            "tab {} has no DevTools WebSocket (another debugger may be attached)",
            t.id
        ))
    })?;
    Ok(CdpConnection::connect(ws).await?)
}

async fn evaluate(conn: &CdpConnection, expr: &str) -> R<Value> {
    let r = conn
        .call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        )
        .await?;
    if let Some(ex) = r.get("exceptionDetails") {
        let msg = ex
            .pointer("/exception/description")
            .or_else(|| ex.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("exception");
        return Err(BrowserError::Script(msg.to_string()));
    }
    Ok(r.pointer("/result/value").cloned().unwrap_or(Value::Null))
}

async fn element_center(conn: &CdpConnection, r: &str) -> R<(f64, f64)> {
    let expr = format!(
        "(() => {{ const el = document.querySelector('[data-openclaw-ref=\"{r}\"]'); if (!el) return null; \
         el.scrollIntoView({{block: 'center', inline: 'center'}}); const b = el.getBoundingClientRect(); \
         return [b.left + b.width / 2, b.top + b.height / 2]; }})()"
    );
    let v = evaluate(conn, &expr).await?;
    match (
        v.get(0).and_then(Value::as_f64),
        v.get(1).and_then(Value::as_f64),
    ) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err(BrowserError::RefNotFound(r.to_string())),
    }
}

async fn focus_ref(conn: &CdpConnection, r: &str) -> R<()> {
    let expr = format!(
        "(() => {{ const el = document.querySelector('[data-openclaw-ref=\"{r}\"]'); if (!el) return false; \
         el.scrollIntoView({{block: 'center'}}); el.focus(); return true; }})()"
    );
    if evaluate(conn, &expr).await? == Value::Bool(true) {
        Ok(())
    } else {
        Err(BrowserError::RefNotFound(r.to_string()))
    }
}

/// DOM `code`, Windows virtual key code and the text a key produces.
fn key_info(key: &str) -> (String, i64, Option<String>) {
    match key {
        "Enter" => ("Enter".into(), 13, Some("\r".into())),
        "Tab" => ("Tab".into(), 9, None),
        "Escape" => ("Escape".into(), 27, None),
        "Backspace" => ("Backspace".into(), 8, None),
        "Delete" => ("Delete".into(), 46, None),
        "ArrowLeft" => ("ArrowLeft".into(), 37, None),
        "ArrowUp" => ("ArrowUp".into(), 38, None),
        "ArrowRight" => ("ArrowRight".into(), 39, None),
        "ArrowDown" => ("ArrowDown".into(), 40, None),
        "Home" => ("Home".into(), 36, None),
        "End" => ("End".into(), 35, None),
        "PageUp" => ("PageUp".into(), 33, None),
        "PageDown" => ("PageDown".into(), 34, None),
        " " | "Space" => ("Space".into(), 32, Some(" ".into())),
        k if k.chars().count() == 1 => {
            let c = k.chars().next().unwrap_or(' ');
            let up = c.to_ascii_uppercase();
            let code = if c.is_ascii_alphabetic() {
                format!("Key{up}")
            } else if c.is_ascii_digit() {
                format!("Digit{c}")
            } else {
                String::new()
            };
            (code, up as i64, Some(k.to_string()))
        }
        k => (k.to_string(), 0, None),
    }
}

async fn require_token(
    State(svc): State<Arc<BrowserControl>>,
    req: Request,
    next: Next,
) -> Response {
    if svc.check_token(req.headers()) {
        next.run(req).await
    } else {
        BrowserError::Unauthorized.into_response()
    }
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(b: &Bytes) -> R<T> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(b).map_err(|e| BrowserError::BadRequest(format!("bad JSON body: {e}")))
}

fn profile_of(q: &ProfileQuery) -> String {
    q.profile
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
}

type S = State<Arc<BrowserControl>>;
type Q = Query<ProfileQuery>;

async fn h_status(State(s): S, Query(q): Q) -> R<axum::Json<BrowserStatus>> {
    Ok(axum::Json(s.status(&profile_of(&q)).await?))
}
async fn h_start(State(s): S, Query(q): Q) -> R<axum::Json<BrowserStatus>> {
    Ok(axum::Json(s.start(&profile_of(&q)).await?))
}
async fn h_stop(State(s): S, Query(q): Q) -> R<axum::Json<BrowserStatus>> {
    Ok(axum::Json(s.stop(&profile_of(&q)).await?))
}
async fn h_tabs(State(s): S, Query(q): Q) -> R<axum::Json<Value>> {
    let tabs = s.tabs(&profile_of(&q)).await?;
    Ok(axum::Json(json!({"tabs": tabs})))
}
async fn h_open(State(s): S, Query(q): Q, b: Bytes) -> R<axum::Json<Tab>> {
    let req: OpenRequest = parse_body(&b)?;
    Ok(axum::Json(s.open(&profile_of(&q), &req.url).await?))
}
async fn h_focus(State(s): S, Query(q): Q, b: Bytes) -> R<axum::Json<Value>> {
    let req: TargetRequest = parse_body(&b)?;
    s.focus(&profile_of(&q), &req.target_id).await?;
    Ok(axum::Json(json!({"ok": true, "targetId": req.target_id})))
}
async fn h_close(State(s): S, Query(q): Q, b: Bytes) -> R<axum::Json<Value>> {
    let req: TargetRequest = parse_body(&b)?;
    s.close(&profile_of(&q), &req.target_id).await?;
    Ok(axum::Json(json!({"ok": true, "targetId": req.target_id})))
}
async fn h_navigate(State(s): S, Query(q): Q, b: Bytes) -> R<axum::Json<Tab>> {
    let req: NavigateRequest = parse_body(&b)?;
    Ok(axum::Json(
        s.navigate(&profile_of(&q), &req.url, req.target_id.as_deref())
            .await?,
    ))
}
async fn h_screenshot(State(s): S, Query(q): Q, b: Bytes) -> R<Response> {
    let req: ScreenshotRequest = parse_body(&b)?;
    let png = s.screenshot(&profile_of(&q), &req).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}
async fn h_snapshot(State(s): S, Query(q): Q, b: Bytes) -> R<axum::Json<Snapshot>> {
    let req: SnapshotRequest = parse_body(&b)?;
    Ok(axum::Json(
        s.snapshot(&profile_of(&q), req.target_id.as_deref())
            .await?,
    ))
}
async fn h_act(State(s): S, Query(q): Q, b: Bytes) -> R<axum::Json<Value>> {
    let req: ActRequest = parse_body(&b)?;
    Ok(axum::Json(s.act(&profile_of(&q), &req).await?))
}

/// Bind the control service on 127.0.0.1:`port` (0 = any free port).
pub async fn bind_loopback(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)).await
}

/// Bind on `addr`, refusing anything that is not a loopback address: the
/// control service drives a browser and must never be reachable off-host.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "refusing to bind the browser control service on {addr}: it is loopback-only (127.0.0.1); the gateway's bind setting does not apply to it"
            ),
        ));
    }
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot bind the browser control service on {addr}: {e}"),
        )
    })
}

#[cfg(test)]
mod url_tests {
    use super::navigable_url;

    #[test]
    fn scheme_allowlist() {
        for ok in [
            "http://127.0.0.1:8080/x",
            "https://example.com",
            "HTTP://Example.com/",
            "about:blank",
            "about:blank#marker",
        ] {
            assert!(navigable_url(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            navigable_url(" HTTP://Example.com").unwrap(),
            "http://example.com/"
        );
        for bad in [
            "file:///etc/passwd",
            "chrome://settings",
            "view-source:https://example.com",
            "data:text/html,hi",
            "javascript:alert(1)",
            "java\tscript:alert(1)",
            "jav\nascript:alert(1)",
            "about:version",
            "about:blank?x",
            "ws://127.0.0.1/",
            "example.com",
            "",
        ] {
            assert!(navigable_url(bad).is_err(), "{bad:?}");
        }
    }
}
