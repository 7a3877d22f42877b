//! The OpenClaw gateway daemon: one process per instance, owning its state
//! dir, serving the WebSocket protocol and a little HTTP on its base port.
//!
//! Start-up order (every step before "ready" can fail without touching the
//! state dir):
//! 1. lock the state dir ([`openclaw_state::owner::StateLock`]) — a second
//!    gateway on the same dir fails here at once (exit 78);
//! 2. read the config (auth, bind mode);
//! 3. bind the base port, the derived services' ports (browser control on
//!    base+2, always 127.0.0.1; canvas host on `canvasHost.port` or base+4,
//!    on the gateway's bind — see [`derived`]) and every extra listener, no
//!    retry — a port in use fails at once naming the port, its purpose and,
//!    when another openclaw instance holds it, that instance (exit 69);
//! 4. open `<stateDir>/logs/gateway.log`, create the canvas root, set up
//!    the derived services, write the owner record, log "ready";
//! 5. serve until SIGTERM/SIGINT or [`ShutdownHandle::shutdown`], then stop
//!    every browser this gateway launched.
//!
//! [`Gateway::bind`] does 1–4 and returns a [`BoundGateway`]; its
//! [`BoundGateway::serve`] does 5. [`run`] does both.

mod agents;
mod browser_rpc;
mod chat;
mod config_store;
pub mod derived;
pub mod guard;
mod http;
mod log;
mod server;
mod ws;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openclaw_instance::Instance;
use openclaw_state::owner::{LockError, OwnerListener, OwnerRecord, StateLock, live_owner};
use serde_json::Value;

pub use config_store::{ConfigError, ConfigSnapshot, ConfigStore, get_path, merge_patch};
pub use log::GatewayLog;
pub use openclaw_config::{REDACTED, redact};
pub use server::ShutdownHandle;

/// Exit code: the state dir is owned by another gateway (EX_CONFIG; the
/// systemd unit does not restart on it).
pub const EXIT_STATE_DIR_OWNED: i32 = 78;
/// Exit code: a port is in use (EX_UNAVAILABLE).
pub const EXIT_PORT_IN_USE: i32 = 69;

/// Which address the gateway listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindMode {
    /// 127.0.0.1 only.
    Loopback,
    /// All IPv4 interfaces (0.0.0.0). Needs auth.
    Lan,
    /// One given address. Needs auth unless it is a loopback address.
    Custom(IpAddr),
}

impl BindMode {
    pub fn host(&self) -> IpAddr {
        match self {
            BindMode::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
            BindMode::Lan => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            BindMode::Custom(ip) => *ip,
        }
    }

    pub fn is_loopback(&self) -> bool {
        self.host().is_loopback()
    }

    pub fn name(&self) -> &'static str {
        match self {
            BindMode::Loopback => "loopback",
            BindMode::Lan => "lan",
            BindMode::Custom(_) => "custom",
        }
    }
}

/// How clients authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthConfig {
    Token(String),
    Password(String),
    None,
}

impl AuthConfig {
    pub fn mode(&self) -> &'static str {
        match self {
            AuthConfig::Token(_) => "token",
            AuthConfig::Password(_) => "password",
            AuthConfig::None => "none",
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthConfig::{}", self.mode())
    }
}

/// A listener a later service (canvas, browser control, ...) needs bound
/// before the gateway announces readiness. The gateway binds it, reports
/// conflicts like its own port, records it in the owner record, and hands the
/// bound socket over through [`BoundGateway::take_listener`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// e.g. `canvas host`.
    pub purpose: String,
    pub port: u16,
    /// `None` = the gateway's bind host.
    pub host: Option<IpAddr>,
}

/// Another instance on this host, whose owner record is checked when a port
/// is in use (so the error can name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownInstance {
    /// e.g. `profile main`.
    pub label: String,
    pub state_dir: PathBuf,
    /// The exact command that stops it, e.g. `openclaw --profile main
    /// gateway stop` (with the env prefix for a custom state dir).
    pub stop_command: String,
}

/// Where the other instances on this host come from. Asked only when a port
/// is taken, so a normal start does no host-wide discovery.
#[derive(Clone)]
pub struct KnownInstances(Arc<dyn Fn() -> Vec<KnownInstance> + Send + Sync>);

impl KnownInstances {
    pub fn new(f: impl Fn() -> Vec<KnownInstance> + Send + Sync + 'static) -> Self {
        KnownInstances(Arc::new(f))
    }

    fn list(&self) -> Vec<KnownInstance> {
        (self.0)()
    }
}

impl Default for KnownInstances {
    fn default() -> Self {
        KnownInstances::new(Vec::new)
    }
}

impl std::fmt::Debug for KnownInstances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KnownInstances(..)")
    }
}

#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The resolved instance: profile, state dir, config path, ports.
    pub instance: Instance,
    /// `None` = `gateway.bind` from config, else loopback.
    pub bind: Option<BindMode>,
    /// `None` = `gateway.auth` from config. A token given here (e.g.
    /// `--token`) wins over the config.
    pub auth: Option<AuthConfig>,
    pub version: String,
    /// Serve without a config file (otherwise refused with the setup command).
    pub allow_unconfigured: bool,
    pub extra_listeners: Vec<ListenerSpec>,
    pub known_instances: KnownInstances,
    /// Close a connection that has not sent `connect` within this time.
    pub handshake_timeout: Duration,
    pub tick_interval: Duration,
    /// Largest accepted WebSocket message.
    pub max_payload: usize,
    pub max_buffered_bytes: usize,
    /// How often the config file is checked for changes.
    pub config_poll_interval: Duration,
    /// Also write log lines to stderr.
    pub log_to_stderr: bool,
    /// Stop on SIGTERM / SIGINT.
    pub handle_signals: bool,
    /// Log rotation: size of one file and number of old files kept.
    pub log_max_bytes: u64,
    pub log_keep: u32,
    /// Run the canvas host and browser control (default on). Embedders and
    /// tests that only need the protocol turn it off.
    pub derived_services: bool,
    /// `OPENCLAW_SKIP_CANVAS_HOST=1` (read by the CLI): no canvas host.
    pub skip_canvas_host: bool,
}

impl GatewayOptions {
    pub fn new(instance: Instance, version: impl Into<String>) -> Self {
        GatewayOptions {
            instance,
            bind: None,
            auth: None,
            version: version.into(),
            allow_unconfigured: false,
            extra_listeners: Vec::new(),
            known_instances: KnownInstances::default(),
            handshake_timeout: Duration::from_secs(15),
            tick_interval: Duration::from_secs(30),
            max_payload: 25 * 1024 * 1024,
            max_buffered_bytes: 50 * 1024 * 1024,
            config_poll_interval: Duration::from_secs(1),
            log_to_stderr: true,
            handle_signals: true,
            log_max_bytes: log::DEFAULT_MAX_BYTES,
            log_keep: log::DEFAULT_KEEP,
            derived_services: true,
            skip_canvas_host: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{message}")]
    StateDirOwned {
        message: String,
        owner: Option<Box<OwnerRecord>>,
    },
    #[error("{message}")]
    PortInUse {
        port: u16,
        purpose: String,
        message: String,
    },
    #[error(
        "no config at {}: run `{setup}` first, or start with --allow-unconfigured",
        config_path.display()
    )]
    NotConfigured { config_path: PathBuf, setup: String },
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error(
        "refusing to bind {host} ({mode}) without auth: anyone on the network could control this gateway; set gateway.auth.token (or pass --token), or bind loopback"
    )]
    UnsafeBind { host: IpAddr, mode: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl GatewayError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            GatewayError::StateDirOwned { .. } => EXIT_STATE_DIR_OWNED,
            GatewayError::PortInUse { .. } => EXIT_PORT_IN_USE,
            _ => 1,
        }
    }
}

/// Config facts the gateway uses, re-read when the file changes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveConfig {
    pub auth: AuthConfig,
    pub port: Option<u16>,
    pub bind: Option<String>,
}

/// The config's live facts; auth per [`auth_from_config`] unless overridden.
pub(crate) fn live_config(
    parsed: &Value,
    auth_override: Option<&AuthConfig>,
) -> Result<LiveConfig, String> {
    let s = |p: &str| {
        get_path(parsed, p)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let auth = match auth_override {
        Some(a) => a.clone(),
        None => auth_from_config(parsed)?,
    };
    Ok(LiveConfig {
        auth,
        port: get_path(parsed, "gateway.port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok()),
        bind: s("gateway.bind"),
    })
}

/// The auth a config asks for: the rule the gateway enforces, and the one
/// clients use to pick their credentials. Fails closed: an auth mode whose
/// secret is missing, or a secret that is not a non-empty string, is an
/// error, never "no auth".
pub fn auth_from_config(parsed: &Value) -> Result<AuthConfig, String> {
    let secret = |key: &str| -> Result<Option<String>, String> {
        match get_path(parsed, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(t)) if !t.is_empty() => Ok(Some(t.clone())),
            Some(_) => Err(format!("{key} must be a non-empty string")),
        }
    };
    let token = secret("gateway.auth.token")?;
    let password = secret("gateway.auth.password")?;
    Ok(
        match get_path(parsed, "gateway.auth.mode").and_then(Value::as_str) {
            Some("none") => AuthConfig::None,
            Some("password") => {
                AuthConfig::Password(password.ok_or(
                    "gateway.auth.mode is \"password\" but gateway.auth.password is not set",
                )?)
            }
            Some("token") => AuthConfig::Token(
                token.ok_or("gateway.auth.mode is \"token\" but gateway.auth.token is not set")?,
            ),
            _ => match (token, password) {
                (Some(t), _) => AuthConfig::Token(t),
                (None, Some(p)) => AuthConfig::Password(p),
                (None, None) => AuthConfig::None,
            },
        },
    )
}

/// Whether a config leaves auth unset (no `gateway.auth` secret and no
/// explicit `mode: "none"`): then the gateway generates a token.
pub(crate) fn needs_generated_token(parsed: &Value) -> bool {
    matches!(auth_from_config(parsed), Ok(AuthConfig::None))
        && get_path(parsed, "gateway.auth.mode").and_then(Value::as_str) != Some("none")
}

/// A gateway bound beyond loopback must have auth: checked at start-up and
/// on every config reload.
pub(crate) fn check_auth(bind: &BindMode, auth: &AuthConfig) -> Result<(), GatewayError> {
    if !bind.is_loopback() && *auth == AuthConfig::None {
        return Err(GatewayError::UnsafeBind {
            host: bind.host(),
            mode: bind.name(),
        });
    }
    Ok(())
}

/// Whether a config change needs a restart to take effect: the port moved
/// away from the one we serve on, or the bind changed (unless `--bind`
/// pins it).
pub(crate) fn restart_needed(
    before: &LiveConfig,
    after: &LiveConfig,
    serving_port: u16,
    bind_pinned: bool,
) -> bool {
    (after.port != before.port && after.port.is_some_and(|p| p != serving_port))
        || (after.bind != before.bind && !bind_pinned)
}

fn bind_mode_from_config(parsed: &Value) -> Result<BindMode, GatewayError> {
    let s = |p: &str| get_path(parsed, p).and_then(Value::as_str);
    match s("gateway.bind") {
        None | Some("loopback") => Ok(BindMode::Loopback),
        Some("lan") => Ok(BindMode::Lan),
        Some("custom") => {
            let host = s("gateway.customBindHost").ok_or_else(|| {
                GatewayError::Invalid(
                    "gateway.bind is custom but gateway.customBindHost is not set: set it to an IP address".into(),
                )
            })?;
            host.parse().map(BindMode::Custom).map_err(|_| {
                GatewayError::Invalid(format!(
                    "gateway.customBindHost {host:?} is not an IP address"
                ))
            })
        }
        Some(other) => Err(GatewayError::Invalid(format!(
            "gateway.bind {other:?} is not supported here: use loopback, lan or custom"
        ))),
    }
}

pub struct Gateway;

impl Gateway {
    /// Takes the state dir, reads the config, binds every listener, writes
    /// the owner record. On error nothing in the state dir has changed.
    pub fn bind(opts: GatewayOptions) -> Result<BoundGateway, GatewayError> {
        let inst = &opts.instance;
        let state_dir = inst.state_dir.value.clone();

        // 0. Nothing to serve and nowhere to serve it from: refuse before the
        //    lock would create the state dir.
        if !opts.allow_unconfigured && !state_dir.exists() && !inst.config_path.value.exists() {
            return Err(GatewayError::NotConfigured {
                config_path: inst.config_path.value.clone(),
                setup: inst.command("setup"),
            });
        }

        // 1. Ownership first.
        let mut lock = StateLock::acquire(&state_dir).map_err(|e| owned_error(e, inst))?;

        // 2. Config.
        let store = ConfigStore::new(&inst.config_path.value);
        let snapshot = store.load()?;
        if !snapshot.exists && !opts.allow_unconfigured {
            return Err(GatewayError::NotConfigured {
                config_path: inst.config_path.value.clone(),
                setup: inst.command("setup"),
            });
        }
        let mut live = live_config(&snapshot.parsed, opts.auth.as_ref()).map_err(|e| {
            GatewayError::Invalid(format!("{e} (in {})", inst.config_path.value.display()))
        })?;

        let bind = match &opts.bind {
            Some(b) => b.clone(),
            None => bind_mode_from_config(&snapshot.parsed)?,
        };
        // Beyond loopback a missing auth is refused with what to set.
        check_auth(&bind, &live.auth)?;
        // On loopback, a config without `gateway.auth` is not "no auth": a token is
        // generated now and saved (as setup does) once every port is bound.
        let generated = (opts.auth.is_none() && needs_generated_token(&snapshot.parsed))
            .then(openclaw_state::generate_token);
        if let Some(t) = &generated {
            live.auth = AuthConfig::Token(t.clone());
        }

        let plan = derived::plan(&opts, &snapshot.parsed, &live.auth)?;

        // 3. Ports, no retry.
        let port = inst.ports.gateway.value;
        let host = bind.host();
        let mut listeners = Vec::with_capacity(3 + opts.extra_listeners.len());
        listeners.push((
            "gateway".to_string(),
            bind_port(host, port, "gateway", &opts, inst)?,
        ));
        for spec in plan.listeners().iter().chain(&opts.extra_listeners) {
            let l = bind_port(
                spec.host.unwrap_or(host),
                spec.port,
                &spec.purpose,
                &opts,
                inst,
            )?;
            listeners.push((spec.purpose.clone(), l));
        }
        let actual_port = listeners[0]
            .1
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(port);

        // 4. The state dir is ours and every port is bound: log, owner record.
        let log = GatewayLog::open(
            &state_dir.join("logs"),
            opts.log_to_stderr,
            opts.log_max_bytes,
            opts.log_keep,
        )
        .map_err(|source| GatewayError::Io {
            what: format!("cannot open log dir {}", state_dir.join("logs").display()),
            source,
        })?;
        let log = Arc::new(log);
        let mut parsed = snapshot.parsed.clone();
        if let Some(t) = &generated {
            let written = openclaw_state::ConfigStore::new(&inst.config_path.value)
                .update(None, |v: &mut Value| -> Result<(), String> {
                    if needs_generated_token(v) {
                        openclaw_config::set_path(v, "gateway.auth.mode", Value::from("token"))
                            .map_err(|e| e.to_string())?;
                        openclaw_config::set_path(v, "gateway.auth.token", Value::from(t.as_str()))
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
                .map_err(|e| {
                    GatewayError::Invalid(format!("cannot save a generated gateway token: {e}"))
                })?;
            parsed = written.value.clone();
            live.auth = auth_from_config(&parsed).map_err(GatewayError::Invalid)?;
            log.info(&format!(
                "gateway.auth was not set: generated a token and saved it to {} (gateway.auth.token; clients on this host read it from there)",
                inst.config_path.value.display()
            ));
        }
        if live.auth == AuthConfig::None {
            log.warn(
                "gateway auth is off (gateway.auth.mode is \"none\"): any local process can control this gateway; set gateway.auth.mode to \"token\" unless this is a throwaway test setup",
            );
        }
        let services = derived::build(&plan, &opts, &log)?;
        let mut record = OwnerRecord::for_current_process(
            inst.profile.clone(),
            actual_port,
            state_dir.clone(),
            inst.config_path.value.clone(),
            opts.version.clone(),
        );
        record.bind_host = Some(host.to_string());
        record.listeners = listeners
            .iter()
            .map(|(purpose, l)| {
                let addr = l.local_addr().ok();
                OwnerListener {
                    purpose: purpose.clone(),
                    port: addr.map(|a| a.port()).unwrap_or(0),
                    host: addr.map(|a| a.ip().to_string()),
                }
            })
            .collect();
        lock.write_owner(&record)
            .map_err(|source| GatewayError::Io {
                what: format!("cannot write owner record in {}", state_dir.display()),
                source,
            })?;
        let bound = server::BoundParts {
            opts,
            lock,
            record,
            listeners,
            store,
            live,
            bind,
            log,
            services,
            parsed,
        };
        Ok(BoundGateway::new(bound))
    }
}

pub use server::BoundGateway;

/// Binds, logs readiness, serves until a signal or shutdown request.
pub async fn run(opts: GatewayOptions) -> Result<(), GatewayError> {
    let bound = Gateway::bind(opts)?;
    bound.serve().await
}

fn owned_error(e: LockError, inst: &Instance) -> GatewayError {
    match e {
        LockError::Held { state_dir, owner } => {
            let message = match &owner {
                Some(o) => {
                    // The contested state dir is ours, so our own command
                    // reaches its owner (stop goes by the state dir's owner record).
                    let stop = inst.command("gateway stop");
                    format!(
                        "state dir {} is already owned by another gateway: pid {} ({}, port {}, config {}) since {}.\nOnly one gateway may use a state dir. Stop it with `{stop}` (or `kill {}`), or give this gateway its own state dir (--profile <name> or OPENCLAW_STATE_DIR).",
                        state_dir.display(),
                        o.pid,
                        o.profile_label(),
                        o.port,
                        o.config_path.display(),
                        o.started_at,
                        o.pid
                    )
                }
                None => format!(
                    "state dir {} is locked by another gateway that is still starting (no owner record yet). Only one gateway may use a state dir; check with `{}`.",
                    state_dir.display(),
                    inst.command("gateway status")
                ),
            };
            GatewayError::StateDirOwned { message, owner }
        }
        LockError::Io { state_dir, source } => GatewayError::Io {
            what: format!("cannot lock state dir {}", state_dir.display()),
            source,
        },
    }
}

fn bind_port(
    host: IpAddr,
    port: u16,
    purpose: &str,
    opts: &GatewayOptions,
    inst: &Instance,
) -> Result<TcpListener, GatewayError> {
    let addr = SocketAddr::new(host, port);
    match TcpListener::bind(addr) {
        Ok(l) => {
            l.set_nonblocking(true).map_err(|source| GatewayError::Io {
                what: format!("cannot configure listener on {addr}"),
                source,
            })?;
            Ok(l)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let holder = opts
                .known_instances
                .list()
                .into_iter()
                .filter(|k| k.state_dir != inst.state_dir.value)
                .find_map(|k| {
                    let o = live_owner(&k.state_dir)?;
                    let holds = o.port == port || o.listeners.iter().any(|l| l.port == port);
                    holds.then_some((k, o))
                });
            let who = match holder {
                Some((k, o)) => format!(
                    "It is held by another openclaw gateway: {} (state dir {}, pid {}, port {}). Stop it with `{}` or choose another port with --port.",
                    k.label,
                    o.state_dir.display(),
                    o.pid,
                    o.port,
                    k.stop_command,
                ),
                None => "It is held by another process (not a known openclaw instance); find it with `ss -ltnp` or `lsof -i :PORT`, or choose another port with --port.".replace("PORT", &port.to_string()),
            };
            Err(GatewayError::PortInUse {
                port,
                purpose: purpose.to_string(),
                message: format!("port {port} ({purpose}) on {host} is already in use. {who}"),
            })
        }
        Err(source) => Err(GatewayError::Io {
            what: format!("cannot bind {purpose} port {addr}"),
            source,
        }),
    }
}

#[cfg(test)]
mod auth_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn live_config_fails_closed() {
        let bad = [
            json!({"gateway": {"auth": {"mode": "password"}}}),
            json!({"gateway": {"auth": {"mode": "token", "token": ""}}}),
            json!({"gateway": {"auth": {"token": 123}}}),
            json!({"gateway": {"auth": {"mode": "token", "password": "p"}}}),
        ];
        for v in bad {
            assert!(live_config(&v, None).is_err(), "{v}");
        }
        let t = live_config(&json!({"gateway": {"auth": {"token": "t"}}}), None).unwrap();
        assert_eq!(t.auth, AuthConfig::Token("t".into()));
        let none = live_config(&json!({"gateway": {"auth": {"mode": "none"}}}), None).unwrap();
        assert_eq!(none.auth, AuthConfig::None);
    }

    #[test]
    fn beyond_loopback_needs_auth() {
        assert!(check_auth(&BindMode::Loopback, &AuthConfig::None).is_ok());
        assert!(check_auth(&BindMode::Lan, &AuthConfig::Token("t".into())).is_ok());
        assert!(matches!(
            check_auth(&BindMode::Lan, &AuthConfig::None),
            Err(GatewayError::UnsafeBind { .. })
        ));
    }
}
