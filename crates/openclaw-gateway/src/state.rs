//! The state every connection and RPC handler shares: one type, private
//! fields, narrow methods. Handlers get an `Arc<GatewayState>`; nothing
//! here knows about sockets, so every handler can be tested by building a
//! state ([`GatewayState::new`]) and calling it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openclaw_browser::BrowserControl;
use openclaw_protocol::rpc::{
    AuthModeInfo, BindInfo, ConfigReloadInfo, HealthResult, IdentityResult, ListenerInfo,
    PortsInfo, PresenceEvent, ReadyzBody, StatusResult,
};
use openclaw_protocol::{
    Features, HELLO_OK, HelloAuth, HelloOk, Policy, PresenceEntry, ServerInfo, ShutdownEvent,
    Snapshot, StateVersion, TickEvent, events,
};
use openclaw_state::owner::OwnerRecord;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::agents::AgentHub;
use crate::config_store::{ConfigSnapshot, ConfigStore};
use crate::handshake::Accepted;
use crate::log::GatewayLog;
use crate::outbox::Outbox;
use crate::presence::Presence;
use crate::{AuthConfig, BindMode, GatewayOptions, LiveConfig, live_config};

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What the config poll compares: content stamp, mode and owner (a chmod
/// is noticed too, and checked like a content change).
type Stamp = (SystemTime, u64, u32, u32);

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    openclaw_state::trust::stamp(path)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the state is built from.
pub(crate) struct StateParts {
    pub opts: GatewayOptions,
    pub record: OwnerRecord,
    pub bind: BindMode,
    pub store: ConfigStore,
    pub live: LiveConfig,
    pub log: Arc<GatewayLog>,
    /// The config as read at start-up (agents are built from it).
    pub config: openclaw_config::Config,
    pub services: crate::derived::Services,
    /// What the listeners and services were built from.
    pub shape: crate::restart::Shape,
    /// The serve loop's restart requests (`restart.rs`).
    pub restart_tx: tokio::sync::mpsc::UnboundedSender<crate::restart::RestartRequest>,
}

/// Counts a connection while it is alive (see [`GatewayState::connection`]).
pub(crate) struct ConnectionGuard(Arc<GatewayState>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
        self.0.released.notify_one();
    }
}

/// Least time between two returns of free heap memory to the OS.
const RELEASE_INTERVAL: Duration = Duration::from_secs(2);

pub(crate) struct GatewayState {
    opts: GatewayOptions,
    record: OwnerRecord,
    bind: BindMode,
    started: Instant,
    store: ConfigStore,
    config_write: tokio::sync::Mutex<()>,
    live: RwLock<LiveConfig>,
    /// (mtime, len, mode, uid) of the config file at the last (re)load.
    config_stamp: Mutex<Option<Stamp>>,
    log: Arc<GatewayLog>,
    shutdown: watch::Sender<Option<ShutdownEvent>>,
    /// The outbox of every connection past its handshake.
    conns: Mutex<HashMap<String, Arc<Outbox>>>,
    presence: Mutex<Presence>,
    /// Set when the presence list changed and is not broadcast yet.
    presence_dirty: Notify,
    health_version: AtomicU64,
    ready: AtomicBool,
    active: AtomicUsize,
    idle: Notify,
    /// A connection ended: its memory may go back to the OS.
    released: Notify,
    device_id: String,
    agents: Arc<AgentHub>,
    channels: Arc<crate::channels::ChannelHub>,
    /// Origin/Host policy, failed-auth limiter, credential epoch.
    guard: crate::guard::Guard,
    derived: crate::derived::Services,
    shape: crate::restart::Shape,
    restart_tx: tokio::sync::mpsc::UnboundedSender<crate::restart::RestartRequest>,
    /// A config change not applied (failed restart, or `mode: off`), for
    /// `health.configReload.pending`.
    reload_pending: Mutex<Option<String>>,
    /// `gateway.reload.mode` as last loaded.
    reload_mode: Mutex<openclaw_config::ReloadMode>,
    /// The config this generation was built from.
    running_config: openclaw_config::Config,
    /// Paired devices and the connections they authenticated.
    devices: crate::devices::DeviceHub,
    /// State the Control UI keeps on the gateway (its preferences).
    ui: crate::control_ui::UiState,
}

impl GatewayState {
    pub fn new(p: StateParts) -> Arc<GatewayState> {
        let host = hostname();
        let gateway_entry = PresenceEntry {
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
            ..Default::default()
        };
        let device_id = {
            use sha2::Digest;
            let d = sha2::Sha256::digest(p.record.state_dir.to_string_lossy().as_bytes());
            hex::encode(&d[..8])
        };
        let agents = Arc::new(AgentHub::new(
            p.opts.instance.clone(),
            p.log.clone(),
            &p.config,
            p.services.browser_token.clone(),
            p.opts.rescue.as_ref().map(|r| r.tools.clone()),
        ));
        let channels = crate::channels::ChannelHub::new(
            p.opts.instance.clone(),
            p.log.clone(),
            agents.clone(),
            p.opts.known_instances.clone(),
            &p.config,
        );
        // The rescue role's owner commands, on every channel.
        if let Some(r) = &p.opts.rescue {
            for name in crate::channels::CHANNELS {
                channels.set_command_runner(name, Some(r.commands.clone()));
            }
        }
        let guard =
            crate::guard::Guard::new(p.bind.host(), p.record.port, Some(host.clone()), &p.config);
        let devices = crate::devices::DeviceHub::new(&p.record.state_dir);
        let ui = crate::control_ui::UiState::new(&p.record.state_dir);
        Arc::new(GatewayState {
            devices,
            ui,
            guard,
            config_stamp: Mutex::new(stamp(p.store.path())),
            agents,
            channels,
            record: p.record,
            bind: p.bind,
            started: Instant::now(),
            store: p.store,
            config_write: tokio::sync::Mutex::new(()),
            live: RwLock::new(p.live),
            log: p.log,
            shutdown: watch::Sender::new(None),
            conns: Mutex::new(HashMap::new()),
            presence: Mutex::new(Presence::new(gateway_entry)),
            presence_dirty: Notify::new(),
            health_version: AtomicU64::new(1),
            ready: AtomicBool::new(true),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            released: Notify::new(),
            device_id,
            derived: p.services,
            shape: p.shape,
            restart_tx: p.restart_tx,
            reload_pending: Mutex::new(None),
            reload_mode: Mutex::new(p.config.reload_mode()),
            running_config: p.config,
            opts: p.opts,
        })
    }

    // ---- facts ----

    pub fn options(&self) -> &GatewayOptions {
        &self.opts
    }

    pub fn record(&self) -> &OwnerRecord {
        &self.record
    }

    pub fn bind(&self) -> &BindMode {
        &self.bind
    }

    pub fn log(&self) -> &Arc<GatewayLog> {
        &self.log
    }

    /// Origin/Host policy, failed-auth limiter, credential epoch.
    pub fn guard(&self) -> &crate::guard::Guard {
        &self.guard
    }

    /// Paired devices and the connections they authenticated.
    pub fn devices(&self) -> &crate::devices::DeviceHub {
        &self.devices
    }

    /// Control UI state (its preferences).
    pub fn ui(&self) -> &crate::control_ui::UiState {
        &self.ui
    }

    /// The config as it is on disk now (the default when it cannot be read).
    pub fn current_config(&self) -> openclaw_config::Config {
        self.store.load().map(|c| c.config).unwrap_or_default()
    }

    /// The messaging channels (Telegram, ...).
    pub fn channels(&self) -> &Arc<crate::channels::ChannelHub> {
        &self.channels
    }

    pub fn agents(&self) -> &Arc<AgentHub> {
        &self.agents
    }

    pub fn derived(&self) -> &crate::derived::Services {
        &self.derived
    }

    /// Browser control and its token, when it runs in this gateway.
    /// Browser control and the token it takes now (it follows the
    /// gateway's credentials).
    pub fn browser_control(&self) -> Option<(&Arc<BrowserControl>, String)> {
        self.derived.browser.as_ref().map(|c| (c, c.token()))
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The auth new connections must pass.
    pub fn auth(&self) -> AuthConfig {
        self.live_config().auth
    }

    /// Voids the devices paired automatically under a shared secret that
    /// is no longer the gateway's (upstream revokes such browser device
    /// tokens with the secret), and logs each.
    pub fn void_stale_devices(&self) {
        match self.devices().void_stale(&self.auth()) {
            Ok(gone) => {
                for d in gone {
                    self.log().warn(&format!(
                        "device {} ({}, {}) was paired automatically under a previous gateway secret: its pairing and device token are void; it pairs again by connecting with the current secret over direct loopback",
                        &d.device_id[..d.device_id.len().min(12)],
                        d.client_id,
                        d.platform
                    ));
                }
            }
            Err(e) => self.log().warn(&format!(
                "device store {}: {e} (pairings made under a previous gateway secret could not be voided; their device tokens are refused regardless)",
                self.devices().store().path().display()
            )),
        }
    }

    /// What the shared secret may grant now.
    pub fn grant(&self) -> openclaw_protocol::ScopeSet {
        self.live.read().unwrap_or_else(|e| e.into_inner()).grant
    }

    pub fn live_config(&self) -> LiveConfig {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn clients(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Stops answering `/readyz` as ready (shutdown has begun).
    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn listeners(&self) -> Vec<ListenerInfo> {
        self.record
            .listeners
            .iter()
            .map(|l| ListenerInfo {
                purpose: l.purpose.clone(),
                port: l.port,
                host: l.host.clone(),
            })
            .collect()
    }

    fn state_dir(&self) -> String {
        self.record.state_dir.display().to_string()
    }

    fn config_path(&self) -> String {
        self.record.config_path.display().to_string()
    }

    pub fn health(&self) -> HealthResult {
        HealthResult {
            ok: true,
            ts: now_ms(),
            duration_ms: 0,
            uptime_ms: self.uptime_ms(),
            profile: self.record.profile.clone(),
            state_dir: self.state_dir(),
            config_reload: ConfigReloadInfo {
                hot_reload_status: "active".into(),
                mode: Some(lock(&self.reload_mode).as_str().into()),
                pending: lock(&self.reload_pending).clone(),
            },
            listeners: self.listeners(),
            clients: self.clients(),
            auth_failures: self
                .guard
                .auth_failures
                .load(std::sync::atomic::Ordering::Relaxed),
            preauth_evictions: self
                .guard
                .preauth_evictions
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn status(&self) -> StatusResult {
        let inst = &self.opts.instance;
        let (lo, hi) = inst.ports.cdp_range.value;
        StatusResult {
            profile: self.record.profile.clone(),
            state_dir: self.state_dir(),
            config_path: self.config_path(),
            workspace: inst.workspace.value.display().to_string(),
            version: self.record.version.clone(),
            pid: self.record.pid,
            started_at: self.record.started_at.clone(),
            uptime_ms: self.uptime_ms(),
            bind: BindInfo {
                mode: self.bind.name().into(),
                host: self.bind.host().to_string(),
            },
            port: self.record.port,
            listeners: self.listeners(),
            ports: PortsInfo {
                gateway: self.record.port,
                browser_control: inst.ports.browser_control.value,
                canvas: inst.ports.canvas.value,
                cdp_range: [lo, hi],
            },
            auth: AuthModeInfo {
                mode: self.auth().mode().into(),
            },
            clients: self.clients(),
            ready: self.is_ready(),
            channels: self.channels.status()["channels"].clone(),
        }
    }

    pub fn identity(&self) -> IdentityResult {
        IdentityResult {
            device_id: self.device_id.clone(),
            profile: self.record.profile.clone(),
            state_dir: self.state_dir(),
            config_path: self.config_path(),
            version: self.record.version.clone(),
        }
    }

    pub fn readyz(&self) -> ReadyzBody {
        ReadyzBody {
            ready: self.is_ready(),
            profile: self.record.profile.clone(),
            state_dir: self.state_dir(),
            listeners: self.listeners(),
            uptime_ms: self.uptime_ms(),
        }
    }

    pub fn policy(&self) -> Policy {
        Policy {
            max_payload: self.opts.max_payload as u64,
            max_buffered_bytes: self.opts.max_buffered_bytes as u64,
            tick_interval_ms: self.opts.tick_interval.as_millis() as u64,
        }
    }

    /// The `hello-ok` payload for an accepted connection.
    pub fn hello_ok(&self, conn_id: &str, a: &Accepted) -> HelloOk {
        let (presence, presence_version) = {
            let p = lock(&self.presence);
            (p.list(now_ms()), p.version())
        };
        HelloOk {
            kind: HELLO_OK.into(),
            protocol: a.protocol,
            server: ServerInfo {
                version: self.record.version.clone(),
                conn_id: conn_id.to_string(),
            },
            features: Features {
                methods: crate::methods::names(),
                events: events::ALL.iter().map(|m| m.to_string()).collect(),
            },
            snapshot: Snapshot {
                presence,
                health: serde_json::to_value(self.health()).unwrap_or(Value::Null),
                state_version: StateVersion {
                    presence: presence_version,
                    health: self.health_version.load(Ordering::Relaxed),
                },
                uptime_ms: self.uptime_ms(),
                config_path: Some(self.config_path()),
                state_dir: Some(self.state_dir()),
                profile: self.record.profile.clone(),
            },
            auth: HelloAuth {
                method: Some(a.auth_method.into()),
                role: a.role.clone(),
                scopes: a.scopes.to_strings(),
                device_token: a.device_token.as_ref().map(|(t, _)| t.clone()),
                issued_at_ms: a.device_token.as_ref().map(|(_, at)| *at),
            },
            policy: self.policy(),
        }
    }

    // ---- connections and broadcasts ----

    /// Counts a new socket until the guard is dropped.
    pub fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        ConnectionGuard(self.clone())
    }

    /// A connection passed its handshake: it receives broadcasts from now
    /// on and joins presence (if its mode is listed there).
    pub fn join(&self, conn_id: &str, outbox: Arc<Outbox>, entry: PresenceEntry) {
        lock(&self.conns).insert(conn_id.to_string(), outbox);
        if lock(&self.presence).join(conn_id, entry) {
            self.presence_dirty.notify_one();
        }
    }

    /// The connection ended.
    pub fn leave(&self, conn_id: &str) {
        {
            let mut conns = lock(&self.conns);
            if let Some(ob) = conns.remove(conn_id) {
                ob.close();
            }
            if conns.is_empty() && conns.capacity() > 64 {
                *conns = HashMap::new();
            }
        }
        self.agents.disconnect(conn_id);
        self.devices.detach(conn_id);
        if lock(&self.presence).leave(conn_id) && !self.is_shutting_down() {
            self.presence_dirty.notify_one();
        }
    }

    /// Sends a state event (latest wins per connection) to every connection.
    /// Never waits: a connection whose queue would overflow is closed.
    pub fn broadcast<T: Serialize>(&self, event: &'static str, payload: &T) {
        let text: Arc<str> = match serde_json::to_string(payload) {
            Ok(t) => t.into(),
            Err(_) => return,
        };
        let conns = lock(&self.conns);
        for ob in conns.values() {
            let _ = ob.push_latest(event, text.clone());
        }
    }

    #[cfg(test)]
    pub fn presence_version(&self) -> u64 {
        lock(&self.presence).version()
    }

    /// `system-presence`: the list plus the open control-plane connections.
    pub fn presence_listing(&self) -> Vec<PresenceEntry> {
        lock(&self.presence).listing(now_ms())
    }

    /// Broadcasts `presence` whenever the list changed, at most once per
    /// [`crate::presence::MIN_BROADCAST_INTERVAL`]; changes in between are
    /// folded into the next broadcast. Runs for the life of the gateway.
    pub async fn presence_broadcaster(self: Arc<Self>) {
        loop {
            self.presence_dirty.notified().await;
            if self.is_shutting_down() {
                return;
            }
            let list = lock(&self.presence).list(now_ms());
            self.broadcast(events::PRESENCE, &PresenceEvent { presence: list });
            tokio::time::sleep(crate::presence::MIN_BROADCAST_INTERVAL).await;
        }
    }

    /// After connections end, hands the heap's free pages back to the OS
    /// (see [`crate::alloc`]), at most once per [`RELEASE_INTERVAL`].
    /// Runs for the life of the gateway.
    pub async fn memory_releaser(self: Arc<Self>) {
        loop {
            self.released.notified().await;
            tokio::time::sleep(RELEASE_INTERVAL).await;
            crate::alloc::release_free_memory();
        }
    }

    pub fn tick(&self) {
        self.broadcast(events::TICK, &TickEvent { ts: now_ms() });
    }

    // ---- shutdown ----

    pub fn subscribe_shutdown(&self) -> watch::Receiver<Option<ShutdownEvent>> {
        self.shutdown.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.borrow().is_some()
    }

    /// Not ready any more; every connection sends `shutdown` and closes.
    pub fn begin_shutdown(&self, ev: ShutdownEvent) {
        self.ready.store(false, Ordering::Relaxed);
        self.shutdown.send_replace(Some(ev));
    }

    /// Waits until every connection has ended, or `deadline` passed.
    pub async fn wait_idle(&self, deadline: Duration) {
        let deadline = tokio::time::sleep(deadline);
        tokio::pin!(deadline);
        loop {
            let idle = self.idle.notified();
            if self.active.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::select! {
                _ = idle => {}
                _ = &mut deadline => return,
            }
        }
    }

    // ---- config ----

    pub fn config_store(&self) -> &ConfigStore {
        &self.store
    }

    /// Serialises config writes (RPC and file reload).
    pub async fn config_write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.config_write.lock().await
    }

    /// Whether running `config` needs a restart: its listeners or the
    /// services on them differ from this generation's (`restart.rs`).
    pub fn needs_restart(&self, config: &openclaw_config::Config) -> bool {
        match crate::restart::next(&self.opts, config, &self.auth()) {
            Ok(n) => !self
                .shape
                .same_as(&n.shape, &self.derived.saved_cdp_ports()),
            Err(_) => true,
        }
    }

    /// The config this generation's listeners and services were built from.
    pub fn running_config(&self) -> &openclaw_config::Config {
        &self.running_config
    }

    pub fn restart_sender(
        &self,
    ) -> tokio::sync::mpsc::UnboundedSender<crate::restart::RestartRequest> {
        self.restart_tx.clone()
    }

    pub fn reload_pending(&self) -> Option<String> {
        lock(&self.reload_pending).clone()
    }

    pub fn set_reload_pending(&self, msg: String) {
        *lock(&self.reload_pending) = Some(msg);
    }

    /// A restart to apply a config change could not happen: the old
    /// generation keeps serving; the log and `health` say why.
    pub fn restart_failed(&self, what: &str, why: &str) {
        let msg = format!(
            "config change ({what}) not applied: {why}; this gateway keeps serving with its previous settings (fix the config, or free what it needs, then save the config again or run `{}`)",
            self.opts.instance.command("gateway restart")
        );
        self.log.error(&msg);
        *lock(&self.reload_pending) = Some(msg);
        self.health_version.fetch_add(1, Ordering::Relaxed);
        self.broadcast(events::HEALTH, &self.health());
    }

    /// After a reload: does the config ask for other listeners or services
    /// than this generation runs? Then restart in place (`hybrid`) or say
    /// so (`off`).
    fn consider_restart(&self, config: &openclaw_config::Config, auth: &AuthConfig) {
        let mode = config.reload_mode();
        *lock(&self.reload_mode) = mode;
        let next = match crate::restart::next(&self.opts, config, auth) {
            Ok(n) => n.shape,
            Err(why) => {
                self.restart_failed("the new config", &why);
                return;
            }
        };
        if self.shape.same_as(&next, &self.derived.saved_cdp_ports()) {
            // Nothing to restart for; but a gateway.port or gateway.bind
            // that a flag or the environment overrides is not applied
            // either: say so (logged once per change) instead of nothing.
            let note = crate::restart::overridden(&self.opts, config);
            let mut pending = lock(&self.reload_pending);
            if note != *pending {
                if let Some(n) = &note {
                    self.log.warn(&format!("config change not applied: {n}"));
                }
                *pending = note;
                drop(pending);
                self.health_version.fetch_add(1, Ordering::Relaxed);
                self.broadcast(events::HEALTH, &self.health());
            }
            return;
        }
        let what = crate::restart::describe(&self.shape, &next);
        match mode {
            openclaw_config::ReloadMode::Off => {
                let msg = format!(
                    "config change ({what}) needs a restart, and gateway.reload.mode is \"off\": it applies after `{}`",
                    self.opts.instance.command("gateway restart")
                );
                self.log.warn(&msg);
                *lock(&self.reload_pending) = Some(msg);
            }
            openclaw_config::ReloadMode::Hybrid => {
                self.log.info(&format!(
                    "config change ({what}) needs a restart: restarting this gateway in place (gateway.reload.mode hybrid)"
                ));
                *lock(&self.reload_pending) = Some(format!("restarting to apply: {what}"));
                let _ = self.restart_tx.send(crate::restart::RestartRequest {
                    config: config.clone(),
                    what,
                });
            }
        }
    }

    /// Makes the next config poll reload whatever is on disk (a generation
    /// started by a restart in place was built from the config that asked
    /// for it; a later edit must not go unnoticed).
    pub fn recheck_config(&self) {
        *lock(&self.config_stamp) = None;
    }

    pub fn config_changed_on_disk(&self) -> bool {
        *lock(&self.config_stamp) != stamp(self.store.path())
    }

    /// The start-up rule on a changed config file and the state dir
    /// (`openclaw_state::trust`): a change while either is another user's
    /// or writable by others is not applied (logged, the last good config
    /// stays); one that others can read is tightened (logged).
    fn config_trusted(&self) -> bool {
        use openclaw_state::trust::Kind;
        let state_dir = self.record.state_dir.clone();
        self.path_trusted(Kind::StateDir, &state_dir)
            && self.path_trusted(Kind::Config, self.store.path())
    }

    fn path_trusted(&self, kind: openclaw_state::trust::Kind, path: &std::path::Path) -> bool {
        match crate::trusted(kind, path) {
            Ok(None) => true,
            Ok(Some((path, from, to))) => {
                match openclaw_state::trust::tighten(&path, to) {
                    Ok(()) => self.log.warn(&format!(
                        "{} was readable by other users (mode {from:04o}): set it to {to:04o}",
                        path.display()
                    )),
                    Err(e) => self.log.warn(&format!(
                        "{} is readable by other users (mode {from:04o}) and could not be set to {to:04o}: {e}",
                        path.display()
                    )),
                }
                true
            }
            Err(crate::GatewayError::Untrusted { why, fix }) => {
                self.log.error(&format!(
                    "config change not applied: {why}; the running gateway keeps its previous settings. Fix: {fix}"
                ));
                false
            }
            Err(e) => {
                self.log.warn(&format!("config change not applied: {e}"));
                false
            }
        }
    }

    /// Re-reads the config after a change (on disk or by RPC): auth applies
    /// to new connections at once; port or bind changes need a restart.
    pub fn reload_config(&self, snapshot: Option<ConfigSnapshot>) {
        let mut stamp_now = stamp(self.store.path());
        if snapshot.is_none() {
            if !self.config_trusted() {
                *lock(&self.config_stamp) = stamp_now;
                return;
            }
            // A tightened mode is part of what was seen.
            stamp_now = stamp(self.store.path());
        }
        let snapshot = match snapshot {
            Some(s) => s,
            None => match self.store.load() {
                Ok(s) => s,
                Err(e) => {
                    self.log.warn(&format!(
                        "config changed but was not applied: {e}; fix the file (the running gateway keeps its previous settings)"
                    ));
                    *lock(&self.config_stamp) = stamp_now;
                    return;
                }
            },
        };
        *lock(&self.config_stamp) = stamp_now;
        crate::log::on_config(&snapshot.parsed, &snapshot.config);
        self.guard.reload(&snapshot.config);
        self.agents.reload(&snapshot.config);
        self.channels.reload(&snapshot.config);
        let mut next = match live_config(&snapshot.config, self.opts.auth.as_ref()) {
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
        if self.opts.auth.is_none() && snapshot.config.auth_unset() && live.auth != AuthConfig::None
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
        let auth = next.auth.clone();
        if *live == next {
            drop(live);
            self.consider_restart(&snapshot.config, &auth);
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
                .set_browser_token(crate::derived::token_of(&next.auth), &snapshot.config);
            self.guard.credentials_changed();
        } else if next.grant != live.grant {
            self.log.info(&format!(
                "config reloaded from {}: gateway.auth.scopes changed; open sessions are closed and reconnect with the new grant",
                self.store.path().display()
            ));
            self.guard.credentials_changed();
        }
        let secret_changed = next.auth != live.auth;
        *live = next;
        drop(live);
        if secret_changed {
            self.void_stale_devices();
        }
        self.consider_restart(&snapshot.config, &auth);
        self.health_version.fetch_add(1, Ordering::Relaxed);
        self.broadcast(events::HEALTH, &self.health());
    }
}

pub(crate) fn hostname() -> String {
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

/// A state over a temporary state dir, for handler tests (no sockets).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use openclaw_instance::{ConfigFacts, Env, GlobalFlags};

    pub struct TestState {
        pub state: Arc<GatewayState>,
        pub _dir: tempfile::TempDir,
    }

    /// A gateway state for profile `t` whose config file holds `config`.
    pub fn state_with(config: Value) -> TestState {
        state_with_rescue(config, None)
    }

    /// [`state_with`] with the rescue role's hooks.
    pub fn state_with_rescue(config: Value, rescue: Option<crate::RescueHooks>) -> TestState {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::new(dir.path());
        let flags = GlobalFlags {
            profile: Some("t".into()),
            dev: false,
        };
        let paths = openclaw_instance::resolve_paths(&flags, &env).unwrap();
        let inst =
            openclaw_instance::resolve(&paths, &ConfigFacts::default(), Some(20000)).unwrap();
        std::fs::create_dir_all(&inst.state_dir.value).unwrap();
        std::fs::write(
            &inst.config_path.value,
            serde_json::to_string_pretty(&config).unwrap(),
        )
        .unwrap();
        let store = ConfigStore::new(&inst.config_path.value);
        let config = store.load().unwrap().config;
        let live = live_config(&config, None).unwrap();
        let mut opts = GatewayOptions::new(inst.clone(), "0.0.0-test");
        opts.log_to_stderr = false;
        opts.derived_services = false;
        opts.rescue = rescue;
        let shape = crate::restart::next(&opts, &config, &live.auth)
            .unwrap()
            .shape;
        let record = OwnerRecord::for_current_process(
            inst.profile.clone(),
            20000,
            inst.state_dir.value.clone(),
            inst.config_path.value.clone(),
            opts.version.clone(),
        );
        let log = Arc::new(
            GatewayLog::open(&inst.state_dir.value.join("logs"), false, 1 << 20, 1).unwrap(),
        );
        let state = GatewayState::new(StateParts {
            opts,
            record,
            bind: BindMode::Loopback,
            store,
            live,
            log,
            config,
            services: crate::derived::Services::default(),
            shape,
            restart_tx: tokio::sync::mpsc::unbounded_channel().0,
        });
        TestState { state, _dir: dir }
    }

    pub fn state() -> TestState {
        state_with(serde_json::json!({"gateway": {"auth": {"token": "tok-123"}}}))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::state;
    use super::*;
    use crate::outbox::Item;

    fn entry(mode: &str) -> PresenceEntry {
        PresenceEntry {
            mode: mode.into(),
            ..PresenceEntry::default()
        }
    }

    #[tokio::test]
    async fn broadcasts_reach_every_joined_connection_and_never_wait() {
        let t = state();
        let s = &t.state;
        let a = Outbox::new(1 << 20);
        let slow = Outbox::new(200);
        s.join("a", a.clone(), entry("cli"));
        s.join("slow", slow.clone(), entry("cli"));
        for _ in 0..100 {
            s.broadcast("health", &s.health());
        }
        // The state event is coalesced to the latest; the small queue
        // overflowed on the first payload and is closed.
        assert!(matches!(
            a.next().await,
            Ok(Item::Event { name: "health", .. })
        ));
        assert!(matches!(
            slow.closed().await,
            crate::outbox::Closed::Overflow { .. }
        ));
        s.leave("a");
        s.leave("slow");
        assert_eq!(a.closed().await, crate::outbox::Closed::Gone);
    }

    #[tokio::test]
    async fn only_listed_clients_change_presence() {
        let t = state();
        let s = &t.state;
        let v = s.presence_version();
        for i in 0..50 {
            s.join(&format!("c{i}"), Outbox::new(1024), entry("cli"));
        }
        assert_eq!(s.presence_version(), v);
        let hello = s.hello_ok(
            "x",
            &Accepted {
                protocol: 4,
                scopes: openclaw_protocol::ScopeSet::from_strs(["operator.read"]),
                device_id: None,
                device_token: None,
                role: "operator".into(),
                auth_method: "token",
            },
        );
        assert_eq!(
            hello.snapshot.presence.len(),
            1,
            "cli clients are not listed"
        );
        assert_eq!(
            s.presence_listing().len(),
            51,
            "but system-presence shows them"
        );
        s.join("w", Outbox::new(1024), entry("webchat"));
        assert_eq!(s.presence_version(), v + 1);
        s.leave("w");
        assert_eq!(s.presence_version(), v + 2);
    }

    #[tokio::test]
    async fn presence_broadcasts_are_coalesced() {
        let t = state();
        let s = t.state.clone();
        let watcher = Outbox::new(1 << 20);
        s.join("watcher", watcher.clone(), entry("cli"));
        let task = tokio::spawn(s.clone().presence_broadcaster());
        for i in 0..100 {
            s.join(&format!("w{i}"), Outbox::new(1 << 16), entry("webchat"));
        }
        // One broadcast for the burst, with the whole list, however many
        // joined (a later one would replace it in the queue, never add).
        let Ok(Item::Event { name, payload }) = watcher.next().await else {
            panic!()
        };
        assert_eq!(name, "presence");
        let ev: PresenceEvent = serde_json::from_str(&payload).unwrap();
        assert_eq!(ev.presence.len(), 101);
        assert_eq!(watcher.queued_bytes(), 0, "nothing else queued");
        task.abort();
    }
}
