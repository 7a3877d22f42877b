//! The running gateway: the serve loop and shutdown. The shared state is
//! [`crate::state::GatewayState`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use openclaw_protocol::ShutdownEvent;
use openclaw_state::owner::{OwnerRecord, StateLock};
use tokio::sync::watch;

use crate::GatewayError;
use crate::state::{GatewayState, StateParts};

pub(crate) struct BoundParts {
    pub state: StateParts,
    pub lock: StateLock,
    pub listeners: Vec<(String, TcpListener)>,
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
        let inst = &shared.options().instance;
        // Every start-up line comes before "ready", which is the last one.
        for (purpose, l) in p.listeners.iter().skip(1) {
            if let Ok(a) = l.local_addr() {
                shared
                    .log()
                    .info(&format!("bound {purpose} listener on {a}"));
            }
        }
        let r = shared.record();
        shared.log().info(&format!(
            "ready: listening on ws://{} ({}, state dir {}, config {}, pid {}, version {})",
            SocketAddr::new(shared.bind().host(), r.port),
            inst.label(),
            r.state_dir.display(),
            r.config_path.display(),
            r.pid,
            r.version
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
            None if shared.options().handle_signals => StopSignals::register(),
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
            .derived()
            .spawn(&mut self.listeners, shared.log(), move || {
                g.guard().host_policy()
            })?;

        // Messaging channels (Telegram), now that the gateway is ready.
        shared.channels().start();
        // Background: ticks, config polling, coalesced presence broadcasts.
        let bg = tokio::spawn(background(shared.clone()));
        let presence = tokio::spawn(shared.clone().presence_broadcaster());
        let releaser = tokio::spawn(shared.clone().memory_releaser());

        let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
        // Pre-auth limits (connection count, bytes, time) and TCP_NODELAY.
        // The byte stream's deadline is a backstop behind the protocol's own
        // handshake timeout (which answers with a close frame), for
        // connections that never get that far (slow or idle HTTP).
        let listener = crate::guard::GuardedListener::new(
            listener,
            crate::guard::PREAUTH_MAX_CONNECTIONS,
            shared.options().handshake_timeout * 2 + Duration::from_secs(1),
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
        let _ = server_stop_tx.send(());
        bg.abort();
        presence.abort();
        releaser.abort();
        shared.wait_idle(Duration::from_millis(500)).await;
        let _ = tokio::time::timeout(Duration::from_millis(300), server).await;
        derived.stop().await;
        shared.channels().shutdown().await;
        // No orphan browsers: stop (and reap) every one this gateway launched.
        shared.derived().shutdown(shared.log()).await;
        shared
            .log()
            .info("stopped; owner record removed, state dir released");
        self.lock.release();
        Ok(())
    }
}

async fn background(shared: Arc<GatewayState>) {
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
