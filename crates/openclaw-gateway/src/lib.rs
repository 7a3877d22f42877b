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
//! 4. create the canvas root, set up the derived services, open
//!    `<stateDir>/logs/gateway.log` (lines logged earlier reach it then),
//!    write the owner record, log "ready";
//! 5. serve until SIGTERM/SIGINT or [`ShutdownHandle::shutdown`], then stop
//!    every browser this gateway launched.
//!
//! [`Gateway::bind`] does 1–4 and returns a [`BoundGateway`]; its
//! [`BoundGateway::serve`] does 5. [`run`] does both.

mod agents;
mod alloc;
mod browser_rpc;
mod channels;
mod chat;
mod config_store;
mod control_ui;
pub mod derived;
pub mod devices;
mod drain;
pub mod guard;
mod handshake;
#[cfg(test)]
mod handshake_fuzz;
mod http;
pub mod log;
mod methods;
mod outbox;
mod presence;
mod restart;
mod server;
mod state;
mod ws;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openclaw_config::Config;
use openclaw_instance::Instance;
use openclaw_state::owner::{LockError, OwnerListener, OwnerRecord, StateLock, live_owner};

pub use config_store::{ConfigError, ConfigSnapshot, ConfigStore, merge_patch};
pub use log::GatewayLog;
pub use openclaw_config::{REDACTED, redact};
pub use server::ShutdownHandle;

/// Exit code: the state dir is owned by another gateway (EX_CONFIG; the
/// systemd unit does not restart on it).
pub const EXIT_STATE_DIR_OWNED: i32 = 78;
/// Exit code: a port is in use (EX_UNAVAILABLE).
pub const EXIT_PORT_IN_USE: i32 = 69;

/// Which address the gateway listens on, and how clients authenticate:
/// rules of the config, defined in `openclaw-config` and re-exported here.
pub use openclaw_config::{AuthConfig, GatewayBind as BindMode};

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

/// The rescue role's hooks (`openclaw-rescue`, supplied by the binary):
/// owner commands for the channels and WebChat, and the agent's instance
/// tools (offered while `rescue.enabled` is set). Each reads the
/// instance's config itself, so toggling the role needs no restart.
#[derive(Clone)]
pub struct RescueHooks {
    pub commands: Arc<dyn openclaw_channels::CommandRunner>,
    pub tools: Arc<dyn openclaw_agent::InstanceTools>,
    /// How a command message is written to a session transcript (a
    /// secret value in `/config ... set` redacted).
    pub shown: fn(&str) -> String,
}

impl std::fmt::Debug for RescueHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RescueHooks(..)")
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
    /// Also write the gateway's log lines to stderr, when no logging
    /// pipeline is installed ([`log::install`]; with one, its
    /// [`log::LogSetup::stderr`] decides).
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
    /// The CLI's start flags, written into the owner record for restarts.
    pub start_flags: Option<openclaw_state::owner::StartFlags>,
    /// How long turns in flight get to finish on shutdown (`drain.rs`).
    pub drain_timeout: Duration,
    /// The rescue role (owner commands, instance tools); `None`: none.
    pub rescue: Option<RescueHooks>,
    /// The service this gateway runs as (its unit, label or task, from the
    /// service file's environment), for hints about its `--port`.
    pub service: Option<String>,
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
            start_flags: None,
            drain_timeout: drain::DEFAULT_DRAIN,
            rescue: None,
            service: None,
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
    /// The state dir or config is not safe to use (owner, modes): see
    /// `openclaw_state::trust`.
    #[error("{why}; refusing to use it")]
    Untrusted { why: String, fix: String },
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
    /// What the shared secret may grant (`gateway.auth.scopes`).
    pub grant: openclaw_protocol::ScopeSet,
    pub port: Option<u16>,
    pub bind: Option<String>,
}

/// The config's live facts; auth per [`Config::auth`] unless overridden.
pub(crate) fn live_config(
    config: &Config,
    auth_override: Option<&AuthConfig>,
) -> Result<LiveConfig, String> {
    let auth = match auth_override {
        Some(a) => a.clone(),
        None => config.auth()?,
    };
    let grant = match config.auth_scopes() {
        Some(list) => openclaw_protocol::ScopeSet::from_strs(list.iter().map(|s| s.as_str())),
        None => openclaw_protocol::ScopeSet::all(),
    };
    Ok(LiveConfig {
        auth,
        grant,
        port: config.gateway_port(),
        bind: config.bind_setting().map(|b| b.as_str().to_string()),
    })
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

        // A state dir another user owns or can write to is refused before
        // anything in it is used (even the lock).
        let mut tighten = Vec::new();
        tighten.extend(trusted(openclaw_state::trust::Kind::StateDir, &state_dir)?);

        // 1. Ownership first.
        let mut lock = StateLock::acquire(&state_dir).map_err(|e| owned_error(e, inst))?;

        // 2. Config (refused, like the state dir, when others own or can
        //    write it; read access for others is taken away below).
        tighten.extend(trusted(
            openclaw_state::trust::Kind::Config,
            &inst.config_path.value,
        )?);
        let store = ConfigStore::new(&inst.config_path.value);
        let snapshot = store.load()?;
        if !snapshot.exists && !opts.allow_unconfigured {
            return Err(GatewayError::NotConfigured {
                config_path: inst.config_path.value.clone(),
                setup: inst.command("setup"),
            });
        }
        let mut live = live_config(&snapshot.config, opts.auth.as_ref()).map_err(|e| {
            GatewayError::Invalid(format!("{e} (in {})", inst.config_path.value.display()))
        })?;

        let bind = match &opts.bind {
            Some(b) => b.clone(),
            None => snapshot.config.bind().map_err(GatewayError::Invalid)?,
        };
        // Beyond loopback a missing auth is refused with what to set.
        check_auth(&bind, &live.auth)?;
        // On loopback, a config without `gateway.auth` is not "no auth": a token is
        // generated now and saved (as setup does) once every port is bound.
        let generated = (opts.auth.is_none() && snapshot.config.auth_unset())
            .then(openclaw_state::generate_token);
        if let Some(t) = &generated {
            live.auth = AuthConfig::Token(t.clone());
        }

        let plan = derived::plan(&opts, &snapshot.config, &live.auth)?;

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

        // 4. The state dir is ours and every port is bound: services, then
        //    the log file (the last step that can fail), owner record.
        log::on_config(&snapshot.parsed, &snapshot.config);
        if let AuthConfig::Token(t) | AuthConfig::Password(t) = &live.auth {
            openclaw_config::register_secrets([t.clone()]);
        }
        let log = Arc::new(GatewayLog::new(
            opts.log_to_stderr,
            opts.log_max_bytes,
            opts.log_keep,
        ));
        let services = derived::build(&plan, &opts, &log)?;
        let log_dir = openclaw_state::logs::log_dir(&state_dir);
        log.open_file(&log_dir).map_err(|source| GatewayError::Io {
            what: format!("cannot open log dir {}", log_dir.display()),
            source,
        })?;
        for (path, from, to) in tighten {
            match openclaw_state::trust::tighten(&path, to) {
                Ok(()) => log.warn(&format!(
                    "{} was readable by other users (mode {from:04o}): set it to {to:04o}",
                    path.display()
                )),
                Err(e) => log.warn(&format!(
                    "{} is readable by other users (mode {from:04o}) and could not be set to {to:04o}: {e}",
                    path.display()
                )),
            }
        }
        let mut config = snapshot.config.clone();
        if let Some(t) = &generated {
            let written = openclaw_state::ConfigStore::new(&inst.config_path.value)
                .update(None, |v: &mut serde_json::Value| -> Result<(), String> {
                    let unset = openclaw_config::validate_value(v, &inst.config_path.value)
                        .is_ok_and(|p| p.config.auth_unset());
                    if unset {
                        openclaw_config::set_path(
                            v,
                            "gateway.auth.mode",
                            serde_json::Value::from("token"),
                        )
                        .map_err(|e| e.to_string())?;
                        openclaw_config::set_path(
                            v,
                            "gateway.auth.token",
                            serde_json::Value::from(t.as_str()),
                        )
                        .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
                .map_err(|e| {
                    GatewayError::Invalid(format!("cannot save a generated gateway token: {e}"))
                })?;
            config = written.config.clone();
            live.auth = config.auth().map_err(GatewayError::Invalid)?;
            openclaw_config::register_secrets([t.clone()]);
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
        let mut record = OwnerRecord::for_current_process(
            inst.profile.clone(),
            actual_port,
            state_dir.clone(),
            inst.config_path.value.clone(),
            opts.version.clone(),
        );
        record.bind_host = Some(host.to_string());
        record.start_flags = opts.start_flags.clone();
        record.listeners = owner_listeners(&listeners);
        lock.write_owner(&record)
            .map_err(|source| GatewayError::Io {
                what: format!("cannot write owner record in {}", state_dir.display()),
                source,
            })?;
        let shape = restart::Shape::of(port, &bind, &plan);
        let (restart_tx, restart_rx) = tokio::sync::mpsc::unbounded_channel();
        let bound = server::BoundParts {
            state: state::StateParts {
                opts,
                record,
                bind,
                store,
                live,
                log,
                config,
                services,
                shape,
                restart_tx,
            },
            lock,
            listeners,
            restart_rx,
        };
        Ok(BoundGateway::new(bound))
    }
}

pub use server::BoundGateway;

/// The owner record's view of bound listeners.
pub(crate) fn owner_listeners(listeners: &[(String, TcpListener)]) -> Vec<OwnerListener> {
    listeners
        .iter()
        .map(|(purpose, l)| {
            let addr = l.local_addr().ok();
            OwnerListener {
                purpose: purpose.clone(),
                port: addr.map(|a| a.port()).unwrap_or(0),
                host: addr.map(|a| a.ip().to_string()),
            }
        })
        .collect()
}

/// Binds, logs readiness, serves until a signal or shutdown request.
pub async fn run(opts: GatewayOptions) -> Result<(), GatewayError> {
    let bound = Gateway::bind(opts)?;
    bound.serve().await
}

/// Applies `openclaw_state::trust` to `path`: a refusal is the error; a
/// path others can read comes back as (path, mode, wanted mode) to tighten
/// once start-up has succeeded.
pub(crate) fn trusted(
    kind: openclaw_state::trust::Kind,
    path: &std::path::Path,
) -> Result<Option<(PathBuf, u32, u32)>, GatewayError> {
    use openclaw_state::trust::{Judgement, check};
    match check(kind, path) {
        Ok(None) | Ok(Some(Judgement::Fine)) => Ok(None),
        Ok(Some(Judgement::Tighten { from, to })) => Ok(Some((path.to_path_buf(), from, to))),
        Ok(Some(Judgement::Refuse { why, fix })) => Err(GatewayError::Untrusted { why, fix }),
        Err(source) => Err(GatewayError::Io {
            what: format!("cannot stat {}", path.display()),
            source,
        }),
    }
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

/// Connections the kernel may hold completed but not yet accepted, per
/// listener (capped by `net.core.somaxconn`, 4096 on current kernels).
pub const LISTEN_BACKLOG: i32 = 4096;

/// `std` listens with a backlog of 128: when more clients than that connect
/// at once, the kernel drops their SYNs and each one retries a second later
/// (measured: 1000 clients at once gave 1406 listen overflows and the last
/// `health` answer 2.06 s after the first connect). Calling `listen` again
/// on a listening socket only changes its backlog (Linux, the BSDs, macOS).
fn widen_backlog(l: &TcpListener) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: listen(2) on a socket we own; it changes only its backlog.
        unsafe {
            libc::listen(l.as_raw_fd(), LISTEN_BACKLOG);
        }
    }
    #[cfg(not(unix))]
    let _ = l;
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
            widen_backlog(&l);
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
        // The rule itself is `Config::auth` (tested in openclaw-config);
        // here: live facts carry it, and an override wins.
        let c = |v: serde_json::Value| {
            openclaw_config::validate_value(&v, std::path::Path::new("t.json"))
                .unwrap()
                .config
        };
        assert!(live_config(&c(json!({"gateway": {"auth": {"mode": "password"}}})), None).is_err());
        let t = live_config(
            &c(json!({"gateway": {"auth": {"token": "t"}, "port": 5}})),
            None,
        )
        .unwrap();
        assert_eq!(t.auth, AuthConfig::Token("t".into()));
        assert_eq!(t.port, Some(5));
        let none = live_config(
            &c(json!({"gateway": {"auth": {"mode": "none"}, "bind": "lan"}})),
            None,
        )
        .unwrap();
        assert_eq!(none.auth, AuthConfig::None);
        assert_eq!(none.bind.as_deref(), Some("lan"));
        let over = AuthConfig::Token("o".into());
        let o = live_config(
            &c(json!({"gateway": {"auth": {"mode": "password"}}})),
            Some(&over),
        )
        .unwrap();
        assert_eq!(o.auth, over);
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
