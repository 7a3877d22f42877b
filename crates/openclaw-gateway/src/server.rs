//! The running gateway: the serve loop and shutdown. The shared state is
//! [`crate::state::GatewayState`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use openclaw_protocol::ShutdownEvent;
use openclaw_state::owner::{OwnerRecord, StateLock};
use tokio::sync::{mpsc, watch};

use crate::GatewayError;
use crate::restart::{Held, Prepared, RestartRequest};

use crate::state::{GatewayState, StateParts};

pub(crate) struct BoundParts {
    pub state: StateParts,
    pub lock: StateLock,
    pub listeners: Vec<(String, TcpListener)>,
    pub restart_rx: mpsc::UnboundedReceiver<RestartRequest>,
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
    shared: Arc<GatewayState>,
    lock: StateLock,
    listeners: Vec<(String, TcpListener)>,
    shutdown_tx: Arc<watch::Sender<Option<ShutdownEvent>>>,
    /// SIGTERM/SIGINT streams, registered before "ready" is announced so a
    /// signal that arrives right after readiness is handled gracefully
    /// instead of killing the process with the default disposition.
    signals: Option<StopSignals>,
    /// Config changes that need a restart in place (`restart.rs`).
    restart_rx: Option<mpsc::UnboundedReceiver<RestartRequest>>,
}

impl BoundGateway {
    pub(crate) fn new(p: BoundParts) -> Self {
        let (shutdown_tx, _) = watch::channel(None);
        let shutdown_tx = Arc::new(shutdown_tx);
        let shared = GatewayState::new(p.state);
        // Inside a runtime (as under the CLI) the handlers go in now, before
        // the "ready" line below; `serve` registers them otherwise.
        let signals = (shared.options().handle_signals
            && tokio::runtime::Handle::try_current().is_ok())
        .then(StopSignals::register)
        .flatten();
        announce(&shared, &p.listeners, "ready");
        BoundGateway {
            shared,
            lock: p.lock,
            listeners: p.listeners,
            shutdown_tx,
            signals,
            restart_rx: Some(p.restart_rx),
        }
    }

    /// The bound base port.
    pub fn port(&self) -> u16 {
        self.shared.record().port
    }

    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::new(self.shared.bind().host(), self.shared.record().port)
    }

    pub fn owner_record(&self) -> &OwnerRecord {
        self.shared.record()
    }

    pub fn log_path(&self) -> Option<std::path::PathBuf> {
        self.shared.log().path().map(|p| p.to_path_buf())
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
    /// the owner record is removed and the lock released. A config change
    /// that needs a restart restarts the listeners and services in place
    /// (`restart.rs`): the lock is held throughout.
    pub async fn serve(mut self) -> Result<(), GatewayError> {
        // Stop signal: an explicit request or SIGTERM/SIGINT.
        let mut req_rx = self.shutdown_tx.subscribe();
        let signals = match self.signals.take() {
            Some(s) => Some(s),
            None if self.shared.options().handle_signals => StopSignals::register(),
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
        tokio::pin!(stop);
        let mut restarts = self
            .restart_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);

        loop {
            let held = crate::restart::hold(&self.listeners)?;
            let generation = Generation::start(self.shared.clone(), &mut self.listeners)?;
            // Serve until stopped, or until a restart could be prepared.
            let mut prepared = loop {
                tokio::select! {
                    ev = &mut stop => {
                        generation.stop(ev).await;
                        self.shared
                            .log()
                            .info("stopped; owner record removed, state dir released");
                        self.lock.release();
                        return Ok(());
                    }
                    Some(mut req) = restarts.recv() => {
                        // Several changes in a row: the latest config wins.
                        while let Ok(r) = restarts.try_recv() {
                            req = r;
                        }
                        if let Some(p) = self.prepare(&held, req) {
                            break p;
                        }
                    }
                }
            };
            let expected = restart_expected(&self.shared);
            generation
                .stop(ShutdownEvent {
                    reason: format!("restarting to apply a config change: {}", prepared.what),
                    restart_expected_ms: Some(expected),
                })
                .await;
            // The old sockets go (reused ones live on in `prepared`).
            drop(held);
            let mut fell_back = false;
            let listeners = match prepared.bind_rest() {
                Ok(l) => l,
                Err(e) => {
                    // A bind change: the old port was let go, but the new
                    // address could not be had. Run the previous settings
                    // again; if even that fails, give up (the service
                    // manager restarts us; the lock goes with the process).
                    let previous = self.shared.clone();
                    previous.restart_failed(&prepared.what, &e.to_string());
                    drop(prepared);
                    let again = RestartRequest {
                        config: previous.running_config().clone(),
                        what: "back to the previous settings".into(),
                    };
                    let Some(mut p) = self.prepare(&[], again) else {
                        return Err(e);
                    };
                    let l = p.bind_rest()?;
                    prepared = p;
                    fell_back = true;
                    l
                }
            };
            let pending = self.shared.reload_pending();
            self.switch(prepared, listeners, !fell_back)?;
            if let Some(p) = pending.filter(|p| !p.starts_with("restarting to apply")) {
                // The fallback generation carries the reason on.
                self.shared.set_reload_pending(p);
            }
        }
    }

    /// Builds what `req` needs while the current generation serves; `None`
    /// (logged, reported in `health`) when it cannot start.
    fn prepare(&self, held: &[Held], req: RestartRequest) -> Option<Prepared> {
        let what = req.what.clone();
        match crate::restart::prepare(
            self.shared.options(),
            &self.shared.auth(),
            self.shared.log(),
            held,
            req,
        ) {
            Ok(p) => Some(p),
            Err(why) => {
                self.shared.restart_failed(&what, &why);
                None
            }
        }
    }

    /// The next generation's state over `listeners`; the owner record is
    /// rewritten (same pid, new ports) before it serves.
    /// `recheck`: reload the config on the first poll (an edit made while
    /// restarting); not after falling back, which would only retry what
    /// just failed.
    fn switch(
        &mut self,
        prepared: Prepared,
        listeners: Vec<(String, TcpListener)>,
        recheck: bool,
    ) -> Result<(), GatewayError> {
        let old = self.shared.clone();
        let Prepared {
            next,
            services,
            config,
            what,
            ..
        } = prepared;
        let inst = &next.opts.instance;
        let mut record = OwnerRecord::for_current_process(
            inst.profile.clone(),
            inst.ports.gateway.value,
            inst.state_dir.value.clone(),
            inst.config_path.value.clone(),
            next.opts.version.clone(),
        );
        record.bind_host = Some(next.bind.host().to_string());
        record.start_flags = next.opts.start_flags.clone();
        record.listeners = crate::owner_listeners(&listeners);
        // Extra listeners of an embedder stay where they were.
        let leftovers = std::mem::take(&mut self.listeners);
        record.listeners.extend(
            old.record()
                .listeners
                .iter()
                .filter(|l| leftovers.iter().any(|(p, _)| *p == l.purpose))
                .cloned(),
        );
        if let Err(source) = self.lock.write_owner(&record) {
            return Err(GatewayError::Io {
                what: format!(
                    "cannot write owner record in {}",
                    inst.state_dir.value.display()
                ),
                source,
            });
        }
        let live = old.live_config();
        let shape = next.shape.clone();
        let state = GatewayState::new(StateParts {
            opts: next.opts,
            record,
            bind: next.bind,
            store: old.config_store().clone(),
            live,
            log: old.log().clone(),
            config,
            services,
            shape,
            restart_tx: old.restart_sender(),
        });
        state.channels().adopt_ledgers(old.channels());
        if recheck {
            state.recheck_config();
        }
        self.listeners = listeners;
        self.listeners.extend(leftovers);
        state
            .log()
            .info(&format!("restarted in place to apply: {what}"));
        announce(&state, &self.listeners, "ready");
        self.shared = state;
        Ok(())
    }
}

/// Logs every listener, then the "ready" line (the last start-up line).
fn announce(shared: &GatewayState, listeners: &[(String, TcpListener)], word: &str) {
    let inst = &shared.options().instance;
    for (purpose, l) in listeners.iter().skip(1) {
        if let Ok(a) = l.local_addr() {
            shared
                .log()
                .info(&format!("bound {purpose} listener on {a}"));
        }
    }
    let r = shared.record();
    shared.log().info(&format!(
        "{word}: listening on ws://{} ({}, state dir {}, config {}, pid {}, version {})",
        SocketAddr::new(shared.bind().host(), r.port),
        inst.label(),
        r.state_dir.display(),
        r.config_path.display(),
        r.pid,
        r.version
    ));
}

/// How long clients should expect a restart in place to take: the drain
/// when turns are running, plus a second to rebind and rebuild.
fn restart_expected(shared: &GatewayState) -> u64 {
    let drain = if shared.agents().unfinished_runs() > 0 {
        shared.options().drain_timeout.as_millis() as u64
    } else {
        0
    };
    drain + 1000
}

/// One run of the listeners and services over one [`GatewayState`]: what
/// `serve` starts, and stops on shutdown or before a restart in place.
struct Generation {
    shared: Arc<GatewayState>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    server_stop: tokio::sync::oneshot::Sender<()>,
    derived: crate::derived::Running,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Generation {
    /// Serves the gateway port (the first of `listeners`), the derived
    /// services (taken out of `listeners` by purpose), the channels and the
    /// background tasks.
    fn start(
        shared: Arc<GatewayState>,
        listeners: &mut Vec<(String, TcpListener)>,
    ) -> Result<Generation, GatewayError> {
        let (_, base) = listeners.remove(0);
        let listener =
            tokio::net::TcpListener::from_std(base).map_err(|source| GatewayError::Io {
                what: "cannot register the gateway listener".into(),
                source,
            })?;
        let app = crate::http::router(shared.clone());
        // The derived services, on the ports bound with the base port.
        let g = shared.clone();
        let derived = shared
            .derived()
            .spawn(listeners, shared.log(), move || g.guard().host_policy())?;
        // Messaging channels (Telegram), now that the gateway is ready.
        shared.channels().start();
        // Background: ticks, config polling, coalesced presence broadcasts.
        let tasks = vec![
            tokio::spawn(background(shared.clone())),
            tokio::spawn(shared.clone().presence_broadcaster()),
            tokio::spawn(shared.clone().memory_releaser()),
        ];
        let (server_stop, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
        // Pre-auth limits (connection count, bytes, time) and TCP_NODELAY.
        // The byte stream's deadline is a backstop behind the protocol's own
        // handshake timeout (which answers with a close frame), for
        // connections that never get that far (slow or idle HTTP).
        let listener = crate::guard::GuardedListener::new(
            listener,
            crate::guard::PreAuthLimits::for_handshake(shared.options().handshake_timeout),
            shared.guard().preauth_evictions.clone(),
        );
        let app = app.into_make_service_with_connect_info::<crate::guard::ConnInfo>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop_rx.await;
                })
                .await
        });
        Ok(Generation {
            shared,
            server,
            server_stop,
            derived,
            tasks,
        })
    }

    /// Stops this generation: not ready, turns drained (or interrupted),
    /// every connection told `ev` and closed, services, channels and
    /// browsers stopped. The lock and the owner record are the caller's.
    async fn stop(self, ev: ShutdownEvent) {
        let shared = self.shared;
        shared.log().info(&format!("shutting down: {}", ev.reason));
        shared.set_not_ready();
        // Turns in flight finish (or are interrupted) while clients still
        // receive their events.
        crate::drain::drain(
            shared.agents(),
            shared.log(),
            shared.options().drain_timeout,
        )
        .await;
        // Tell every connection; they send the event, close, and exit.
        shared.begin_shutdown(ev);
        let _ = self.server_stop.send(());
        for t in &self.tasks {
            t.abort();
        }
        shared.wait_idle(Duration::from_millis(500)).await;
        let _ = tokio::time::timeout(Duration::from_millis(300), self.server).await;
        self.derived.stop().await;
        shared.channels().shutdown().await;
        // No orphan browsers: stop (and reap) every one this gateway launched.
        shared.derived().shutdown(shared.log()).await;
    }
}

async fn background(shared: Arc<GatewayState>) {
    // Pairings made under a shared secret changed while the gateway was
    // down are void (the handshake refuses their tokens either way).
    {
        let s = shared.clone();
        let _ = tokio::task::spawn_blocking(move || s.void_stale_devices()).await;
    }
    let opts = shared.options();
    let mut tick = tokio::time::interval(opts.tick_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut poll = tokio::time::interval(opts.config_poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => shared.tick(),
            _ = poll.tick() => {
                let revoked = shared.devices().poll();
                if revoked > 0 {
                    shared.log().info(&format!(
                        "devices changed: closed {revoked} session(s) of revoked devices"
                    ));
                }
                if shared.config_changed_on_disk() {
                    let _guard = shared.config_write_lock().await;
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
