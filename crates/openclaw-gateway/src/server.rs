//! The running gateway: shared state, the serve loop and shutdown.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openclaw_protocol::{PresenceEntry, ShutdownEvent};
use openclaw_state::owner::{OwnerRecord, StateLock};
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast, watch};

use crate::config_store::{ConfigSnapshot, ConfigStore};
use crate::log::GatewayLog;
use crate::{BindMode, GatewayError, GatewayOptions, LiveConfig, live_config};

pub(crate) struct BoundParts {
    pub opts: GatewayOptions,
    pub lock: StateLock,
    pub record: OwnerRecord,
    pub listeners: Vec<(String, TcpListener)>,
    pub store: ConfigStore,
    pub live: LiveConfig,
    pub bind: BindMode,
    pub log: Arc<GatewayLog>,
    /// The config as read at start-up (agents are built from it).
    pub parsed: Value,
    pub services: crate::derived::Services,
}

/// An event fanned out to every connected client.
#[derive(Clone, Debug)]
pub(crate) struct Broadcast {
    pub event: &'static str,
    pub payload: Arc<Value>,
}

/// Everything connections share.
pub(crate) struct Shared {
    pub opts: GatewayOptions,
    pub record: OwnerRecord,
    pub bind: BindMode,
    pub started: Instant,
    pub store: ConfigStore,
    pub config_write: tokio::sync::Mutex<()>,
    pub live: RwLock<LiveConfig>,
    /// (mtime, len) of the config file at the last (re)load.
    pub config_stamp: Mutex<Option<(SystemTime, u64)>>,
    pub log: Arc<GatewayLog>,
    pub events: broadcast::Sender<Broadcast>,
    pub shutdown: watch::Sender<Option<ShutdownEvent>>,
    pub clients: Mutex<BTreeMap<String, PresenceEntry>>,
    pub presence_version: AtomicU64,
    pub health_version: AtomicU64,
    pub ready: AtomicBool,
    pub active: AtomicUsize,
    pub idle: Notify,
    pub self_presence: PresenceEntry,
    pub device_id: String,
    pub agents: Arc<crate::agents::AgentHub>,
    /// Canvas host and browser control (see [`crate::derived`]).
    pub derived: crate::derived::Services,
    /// Origin/Host policy, failed-auth limiter, credential epoch.
    pub guard: crate::guard::Guard,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Shared {
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn presence(&self) -> Vec<PresenceEntry> {
        let mut v = vec![PresenceEntry {
            ts: now_ms(),
            ..self.self_presence.clone()
        }];
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        v.extend(clients.values().cloned());
        v
    }

    pub fn health(&self) -> Value {
        json!({
            "ok": true,
            "ts": now_ms(),
            "durationMs": 0,
            "uptimeMs": self.uptime_ms(),
            "profile": self.record.profile,
            "stateDir": self.record.state_dir,
            "configReload": {"hotReloadStatus": "active"},
            "listeners": self.record.listeners,
            "clients": self.active.load(Ordering::Relaxed),
            "authFailures": self.guard.auth_failures.load(Ordering::Relaxed),
        })
    }

    pub fn status(&self) -> Value {
        let inst = &self.opts.instance;
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        json!({
            "profile": self.record.profile,
            "stateDir": self.record.state_dir,
            "configPath": self.record.config_path,
            "workspace": inst.workspace.value,
            "version": self.record.version,
            "pid": self.record.pid,
            "startedAt": self.record.started_at,
            "uptimeMs": self.uptime_ms(),
            "bind": {"mode": self.bind.name(), "host": self.bind.host().to_string()},
            "port": self.record.port,
            "listeners": self.record.listeners,
            "ports": {
                "gateway": self.record.port,
                "browserControl": inst.ports.browser_control.value,
                "canvas": inst.ports.canvas.value,
                "cdpRange": [inst.ports.cdp_range.value.0, inst.ports.cdp_range.value.1],
            },
            "auth": {"mode": live.auth.mode()},
            "clients": self.active.load(Ordering::Relaxed),
            "ready": self.ready.load(Ordering::Relaxed),
        })
    }

    pub fn broadcast(&self, event: &'static str, payload: Value) {
        let _ = self.events.send(Broadcast {
            event,
            payload: Arc::new(payload),
        });
    }

    pub fn presence_changed(&self) {
        self.presence_version.fetch_add(1, Ordering::Relaxed);
        let list = serde_json::to_value(self.presence()).unwrap_or(Value::Null);
        self.broadcast(
            openclaw_protocol::events::PRESENCE,
            json!({"presence": list}),
        );
    }

    /// Re-reads the config after a change (on disk or by RPC): auth applies
    /// to new connections at once; port or bind changes need a restart.
    pub fn reload_config(&self, snapshot: Option<ConfigSnapshot>) {
        let stamp_now = stamp(self.store.path());
        let snapshot = match snapshot {
            Some(s) => s,
            None => match self.store.load() {
                Ok(s) => s,
                Err(e) => {
                    self.log.warn(&format!(
                        "config changed but was not applied: {e}; fix the file (the running gateway keeps its previous settings)"
                    ));
                    *self.config_stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp_now;
                    return;
                }
            },
        };
        *self.config_stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp_now;
        self.guard.reload(&snapshot.parsed);
        self.agents.reload(&snapshot.parsed);
        let mut next = match live_config(&snapshot.parsed, self.opts.auth.as_ref()) {
            Ok(n) => n,
            Err(e) => {
                self.log.warn(&format!(
                    "config changed but its gateway settings were not applied: {e} in {}; the running gateway keeps its previous auth and settings",
                    self.store.path().display()
                ));
                return;
            }
        };
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        if self.opts.auth.is_none()
            && crate::needs_generated_token(&snapshot.parsed)
            && live.auth != crate::AuthConfig::None
        {
            // Deleting gateway.auth never switches auth off.
            self.log.warn(
                "gateway.auth was removed from the config: the running gateway keeps its previous auth (set gateway.auth.mode to \"none\" explicitly to turn it off on loopback)",
            );
            next.auth = live.auth.clone();
        }
        if let Err(e) = crate::check_auth(&self.bind, &next.auth) {
            // Fail closed: never drop auth on a gateway reachable beyond loopback.
            self.log.warn(&format!(
                "config change to gateway auth not applied: {e}; the running gateway keeps its previous auth"
            ));
            next.auth = live.auth.clone();
        }
        if *live == next {
            return;
        }
        if next.auth != live.auth {
            self.log.info(&format!(
                "config reloaded from {}: gateway auth ({}) applies at once; sessions opened with the old credentials are closed",
                self.store.path().display(),
                next.auth.mode()
            ));
            self.derived.set_token(crate::derived::token_of(&next.auth));
            self.agents
                .set_browser_token(crate::derived::token_of(&next.auth), &snapshot.parsed);
            self.guard.credentials_changed();
        }
        let restart = self.opts.instance.command("gateway restart");
        let path = self.store.path().display();
        if next.port != live.port && next.port.is_some_and(|p| p != self.record.port) {
            self.log.warn(&format!(
                "gateway.port changed to {} in {path}: this gateway keeps serving on {} until restarted (`{restart}`)",
                next.port.unwrap_or(0),
                self.record.port
            ));
        }
        if next.bind != live.bind && self.opts.bind.is_none() {
            self.log.warn(&format!(
                "gateway.bind changed to {:?} in {path}: restart the gateway to apply it (`{restart}`)",
                next.bind.as_deref().unwrap_or("loopback"),
            ));
        }
        *live = next;
        drop(live);
        self.health_version.fetch_add(1, Ordering::Relaxed);
        self.broadcast(openclaw_protocol::events::HEALTH, self.health());
    }

    fn config_changed_on_disk(&self) -> bool {
        let now = stamp(self.store.path());
        *self.config_stamp.lock().unwrap_or_else(|e| e.into_inner()) != now
    }
}

/// Stops a running gateway from another task (tests, the CLI).
#[derive(Clone)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<Option<ShutdownEvent>>>,
}

impl ShutdownHandle {
    /// Asks the gateway to stop: clients get a `shutdown` event with `reason`.
    pub fn shutdown(&self, reason: &str) {
        self.tx.send_if_modified(|cur| {
            if cur.is_some() {
                return false;
            }
            *cur = Some(ShutdownEvent {
                reason: reason.to_string(),
                restart_expected_ms: None,
            });
            true
        });
    }
}

/// A gateway that owns its state dir and has bound every listener.
pub struct BoundGateway {
    shared: Arc<Shared>,
    lock: StateLock,
    listeners: Vec<(String, TcpListener)>,
    shutdown_tx: Arc<watch::Sender<Option<ShutdownEvent>>>,
    /// SIGTERM/SIGINT streams, registered before "ready" is announced so a
    /// signal that arrives right after readiness is handled gracefully
    /// instead of killing the process with the default disposition.
    signals: Option<StopSignals>,
}

impl BoundGateway {
    pub(crate) fn new(p: BoundParts) -> Self {
        let (events, _) = broadcast::channel(64);
        let (shutdown_tx, _) = watch::channel(None);
        let shutdown_tx = Arc::new(shutdown_tx);
        let host = hostname();
        let self_presence = PresenceEntry {
            host: host.clone(),
            ip: Some(p.bind.host().to_string()),
            version: p.opts.version.clone(),
            platform: std::env::consts::OS.to_string(),
            device_family: None,
            mode: "gateway".into(),
            reason: Some("self".into()),
            instance_id: Some(uuid::Uuid::new_v4().to_string()),
            text: Some(format!(
                "Gateway: {host} · app {} · mode gateway · reason self",
                p.opts.version
            )),
            ts: now_ms(),
        };
        let device_id = {
            use sha2::Digest;
            let d = sha2::Sha256::digest(p.record.state_dir.to_string_lossy().as_bytes());
            hex::encode(&d[..8])
        };
        let stamp_now = stamp(p.store.path());
        let agents = Arc::new(crate::agents::AgentHub::new(
            p.opts.instance.clone(),
            p.log.clone(),
            &p.parsed,
            p.services.browser_token.clone(),
        ));
        let guard =
            crate::guard::Guard::new(p.bind.host(), p.record.port, Some(host.clone()), &p.parsed);
        let shared = Arc::new(Shared {
            agents,
            record: p.record,
            bind: p.bind,
            started: Instant::now(),
            store: p.store,
            config_write: tokio::sync::Mutex::new(()),
            live: RwLock::new(p.live),
            config_stamp: Mutex::new(stamp_now),
            log: p.log,
            events,
            shutdown: watch::Sender::new(None),
            clients: Mutex::new(BTreeMap::new()),
            presence_version: AtomicU64::new(1),
            health_version: AtomicU64::new(1),
            ready: AtomicBool::new(true),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            self_presence,
            device_id,
            derived: p.services,
            guard,
            opts: p.opts,
        });
        // Inside a runtime (as under the CLI) the handlers go in now, before
        // the "ready" line below; `serve` registers them otherwise.
        let signals = (shared.opts.handle_signals && tokio::runtime::Handle::try_current().is_ok())
            .then(StopSignals::register)
            .flatten();
        let inst = &shared.opts.instance;
        // Every start-up line comes before "ready", which is the last one.
        for (purpose, l) in p.listeners.iter().skip(1) {
            if let Ok(a) = l.local_addr() {
                shared.log.info(&format!("bound {purpose} listener on {a}"));
            }
        }
        shared.log.info(&format!(
            "ready: listening on ws://{} ({}, state dir {}, config {}, pid {}, version {})",
            SocketAddr::new(shared.bind.host(), shared.record.port),
            inst.label(),
            shared.record.state_dir.display(),
            shared.record.config_path.display(),
            shared.record.pid,
            shared.record.version
        ));
        BoundGateway {
            shared,
            lock: p.lock,
            listeners: p.listeners,
            shutdown_tx,
            signals,
        }
    }

    /// The bound base port.
    pub fn port(&self) -> u16 {
        self.shared.record.port
    }

    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::new(self.shared.bind.host(), self.shared.record.port)
    }

    pub fn owner_record(&self) -> &OwnerRecord {
        &self.shared.record
    }

    pub fn log_path(&self) -> Option<std::path::PathBuf> {
        self.shared.log.path().map(|p| p.to_path_buf())
    }

    /// Hands the bound socket of an extra listener to the service that asked
    /// for it.
    pub fn take_listener(&mut self, purpose: &str) -> Option<TcpListener> {
        let i = self
            .listeners
            .iter()
            .skip(1)
            .position(|(p, _)| p == purpose)?;
        Some(self.listeners.remove(i + 1).1)
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            tx: self.shutdown_tx.clone(),
        }
    }

    /// Serves until SIGTERM/SIGINT (when enabled) or a shutdown request. On
    /// the way out every client gets a `shutdown` event and a close frame,
    /// the owner record is removed and the lock released.
    pub async fn serve(mut self) -> Result<(), GatewayError> {
        let shared = self.shared.clone();
        let (_, base) = self.listeners.remove(0);
        let listener =
            tokio::net::TcpListener::from_std(base).map_err(|source| GatewayError::Io {
                what: "cannot register the gateway listener".into(),
                source,
            })?;
        let app = crate::http::router(shared.clone());

        // Stop signal: an explicit request or SIGTERM/SIGINT.
        let mut req_rx = self.shutdown_tx.subscribe();
        let signals = match self.signals.take() {
            Some(s) => Some(s),
            None if shared.opts.handle_signals => StopSignals::register(),
            None => None,
        };
        let stop = async move {
            let requested = async {
                loop {
                    if let Some(ev) = req_rx.borrow_and_update().clone() {
                        return ev;
                    }
                    if req_rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            };
            match signals {
                Some(mut sig) => tokio::select! {
                    ev = requested => ev,
                    name = sig.recv() => ShutdownEvent { reason: format!("signal {name}"), restart_expected_ms: None },
                },
                None => requested.await,
            }
        };

        // The derived services, on the ports bound with the base port.
        let g = shared.clone();
        let derived = shared
            .derived
            .spawn(&mut self.listeners, &shared.log, move || {
                g.guard.host_policy()
            })?;

        // Background: ticks and config polling.
        let bg = tokio::spawn(background(shared.clone()));

        let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
        // Pre-auth limits (connection count, bytes, time) and TCP_NODELAY.
        // The byte stream's deadline is a backstop behind the protocol's own
        // handshake timeout (which answers with a close frame), for
        // connections that never get that far (slow or idle HTTP).
        let listener = crate::guard::GuardedListener::new(
            listener,
            crate::guard::PREAUTH_MAX_CONNECTIONS,
            shared.opts.handshake_timeout * 2 + Duration::from_secs(1),
        );
        let app = app.into_make_service_with_connect_info::<crate::guard::ConnInfo>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop_rx.await;
                })
                .await
        });

        let ev = stop.await;
        shared.log.info(&format!("shutting down: {}", ev.reason));
        shared.ready.store(false, Ordering::Relaxed);
        // Tell every connection; they send the event, close, and exit.
        shared.shutdown.send_replace(Some(ev));
        let _ = server_stop_tx.send(());
        bg.abort();
        let deadline = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(deadline);
        loop {
            let idle = shared.idle.notified();
            if shared.active.load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::select! {
                _ = idle => {}
                _ = &mut deadline => break,
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(300), server).await;
        derived.stop().await;
        // No orphan browsers: stop (and reap) every one this gateway launched.
        shared.derived.shutdown(&shared.log).await;
        shared
            .log
            .info("stopped; owner record removed, state dir released");
        self.lock.release();
        Ok(())
    }
}

async fn background(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.opts.tick_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut poll = tokio::time::interval(shared.opts.config_poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                shared.broadcast(openclaw_protocol::events::TICK, json!({"ts": now_ms()}));
            }
            _ = poll.tick() => {
                if shared.config_changed_on_disk() {
                    let _guard = shared.config_write.lock().await;
                    shared.reload_config(None);
                }
            }
        }
    }
}

/// The OS stop signals: SIGTERM and SIGINT (Ctrl-C elsewhere).
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers; must run inside a tokio runtime. `None` when
    /// the OS refuses (then only an explicit shutdown request stops us).
    fn register() -> Option<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Some(StopSignals {
                term: signal(SignalKind::terminate()).ok()?,
                int: signal(SignalKind::interrupt()).ok()?,
            })
        }
        #[cfg(not(unix))]
        {
            Some(StopSignals {})
        }
    }

    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}

fn hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: buf is valid for its length; gethostname NUL-terminates on success.
        let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if r == 0 {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "localhost".to_string()
}
