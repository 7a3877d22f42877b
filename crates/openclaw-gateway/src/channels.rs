//! The gateway's messaging channels (`openclaw-channels`): started once the
//! gateway is ready, stopped on shutdown, and on a config change only the
//! channel whose section changed is restarted (`channels.telegram`, ...).
//! `bindings` and `commands.ownerAllowFrom` reach running channels through
//! their [`Live`] without a restart, as does a [`CommandRunner`] set with
//! [`ChannelHub::set_command_runner`]. Agent turns run through the
//! [`AgentHub`], the same path as `chat.send`. `channels.status` answers
//! from here.
//!
//! Each channel runs in a task of its own: one that cannot start (no token,
//! token file refused, 401, 409) or fails later reports its state; the other
//! channels and the rest of the gateway keep running.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use openclaw_channels::irc::{self, IrcChannel, IrcSettings};
use openclaw_channels::ledger::Ledger;
use openclaw_channels::matrix::{self, MatrixChannel, MatrixSettings};
use openclaw_channels::telegram::{self, TelegramChannel, TelegramSettings};
use openclaw_channels::{
    AgentRunner, Channel, ChannelState, ChannelStatus, CommandRunner, DEFAULT_ACCOUNT, Live,
    OtherInstance, OtherInstances, RunFailure,
};
use openclaw_config::Config;
use openclaw_config::channels::{Binding, OwnerRef, TELEGRAM_TOKEN_ENV};
use openclaw_instance::Instance;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::KnownInstances;
use crate::agents::AgentHub;
use crate::log::GatewayLog;
use crate::outbox::{ConnTx, Item, Outbox};

struct Running {
    channel: Arc<dyn Channel>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// One channel (its default account).
struct Slot {
    name: &'static str,
    /// The channel's config section as last applied.
    input: Option<Value>,
    running: Option<Running>,
    /// Why the configured channel is not running (no token, ...).
    not_running: Option<ChannelStatus>,
    /// Kept across restarts of the channel (see `Ledger::claim`).
    ledger: Option<Arc<Ledger>>,
    /// Bindings, owners and the command runner; kept across restarts.
    live: Arc<Live>,
}

/// The channels the gateway runs, in `channels.status` order.
pub(crate) const CHANNELS: &[&str] = &[telegram::CHANNEL, irc::CHANNEL, matrix::CHANNEL];

pub(crate) struct ChannelHub {
    instance: Instance,
    log: Arc<GatewayLog>,
    agents: Arc<AgentHub>,
    others: OtherInstances,
    config_at_start: Config,
    slots: Mutex<Vec<Slot>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `channels.<name>` as last read; a change restarts that channel.
fn input_of(config: &Config, name: &str) -> Value {
    let Some(c) = config.channels.as_ref() else {
        return Value::Null;
    };
    match name {
        telegram::CHANNEL => serde_json::to_value(&c.telegram),
        irc::CHANNEL => serde_json::to_value(&c.irc),
        matrix::CHANNEL => serde_json::to_value(&c.matrix),
        _ => Ok(Value::Null),
    }
    .unwrap_or(Value::Null)
}

fn bindings_of(config: &Config) -> Vec<Binding> {
    config.bindings.clone().unwrap_or_default()
}

fn owners_of(config: &Config) -> Vec<OwnerRef> {
    config
        .commands
        .as_ref()
        .and_then(|c| c.owner_allow_from.clone())
        .unwrap_or_default()
}

/// A channel built from its section: `Ok(None)` when it has no section,
/// `Err` with the status that says why it cannot run.
type Built = Result<Option<Arc<dyn Channel>>, Box<ChannelStatus>>;

fn failed(
    name: &str,
    state: ChannelState,
    err: String,
    hint: Option<String>,
) -> Box<ChannelStatus> {
    let mut s = ChannelStatus::new(name, DEFAULT_ACCOUNT, state);
    s.last_error = Some(err);
    s.hint = hint;
    Box::new(s)
}

impl ChannelHub {
    pub fn new(
        instance: Instance,
        log: Arc<GatewayLog>,
        agents: Arc<AgentHub>,
        known: KnownInstances,
        config: &Config,
    ) -> Arc<ChannelHub> {
        let others: OtherInstances = Arc::new(move || {
            known
                .list()
                .into_iter()
                .map(|k| OtherInstance {
                    profile: k
                        .label
                        .strip_prefix("profile ")
                        .unwrap_or(&k.label)
                        .to_string(),
                    state_dir: k.state_dir,
                })
                .collect()
        });
        let slots = CHANNELS
            .iter()
            .map(|name| Slot {
                name,
                input: None,
                running: None,
                not_running: None,
                ledger: None,
                live: Live::new(bindings_of(config), owners_of(config)),
            })
            .collect();
        Arc::new(ChannelHub {
            instance,
            log,
            agents,
            others,
            config_at_start: config.clone(),
            slots: Mutex::new(slots),
        })
    }

    /// Takes over `previous`'s update ledgers (a restart in place): a reply
    /// the old channel is still sending stays claimed, so the new one does
    /// not send it again.
    pub fn adopt_ledgers(&self, previous: &ChannelHub) {
        let old = lock(&previous.slots);
        let mut new = lock(&self.slots);
        for slot in new.iter_mut() {
            if let Some(l) = old
                .iter()
                .find(|o| o.name == slot.name)
                .and_then(|o| o.ledger.clone())
            {
                slot.ledger = Some(l);
            }
        }
    }

    /// Starts the configured channels (call once the gateway is ready).
    pub fn start(self: &Arc<Self>) {
        let config = self.config_at_start.clone();
        let mut slots = lock(&self.slots);
        for slot in slots.iter_mut() {
            self.apply(slot, &config);
        }
    }

    /// Applies a reloaded config: bindings and owners go to every running
    /// channel as they are; a channel whose section changed is restarted,
    /// the others are left alone.
    pub fn reload(self: &Arc<Self>, config: &Config) {
        let mut slots = lock(&self.slots);
        for slot in slots.iter_mut() {
            slot.live.set_bindings(bindings_of(config));
            slot.live.set_owners(owners_of(config));
            if slot.input.as_ref() == Some(&input_of(config, slot.name)) {
                continue;
            }
            self.log.info(&format!(
                "config reloaded: channels.{0} changed, restarting the {0} channel",
                slot.name
            ));
            self.apply(slot, config);
        }
    }

    /// Sets (or with `None` removes) the owner-command runner of `channel`
    /// (`telegram`, `irc`, `matrix`); it applies at once, also to a running
    /// channel, and stays across restarts. Default: none.
    pub fn set_command_runner(&self, channel: &str, runner: Option<Arc<dyn CommandRunner>>) {
        let slots = lock(&self.slots);
        if let Some(slot) = slots.iter().find(|s| s.name == channel) {
            slot.live.set_commands(runner);
        }
    }

    /// (Re)starts `slot` from `config`.
    fn apply(self: &Arc<Self>, slot: &mut Slot, config: &Config) {
        slot.input = Some(input_of(config, slot.name));
        // The old transport ends; in-flight replies finish and the shared
        // ledger keeps the new one from redoing them.
        let previous = slot.running.take().map(|r| {
            r.stop.cancel();
            r.task
        });
        slot.not_running = None;
        let built = match slot.name {
            telegram::CHANNEL => self.telegram(slot, config),
            irc::CHANNEL => self.irc(slot, config),
            matrix::CHANNEL => self.matrix(slot, config),
            _ => Ok(None),
        };
        let channel = match built {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(st) => {
                slot.not_running = Some(*st);
                return;
            }
        };
        let stop = CancellationToken::new();
        let run = channel.clone().run(stop.clone());
        let task = tokio::spawn(async move {
            if let Some(prev) = previous {
                // One login at a time: the old connection is gone (IRC QUIT
                // sent, the Telegram long poll dropped) before the new one
                // takes the same nick or token.
                let _ = tokio::time::timeout(Duration::from_secs(5), prev).await;
            }
            run.await
        });
        slot.running = Some(Running {
            channel,
            stop,
            task,
        });
    }

    /// The slot's ledger, opened once.
    fn ledger(&self, slot: &mut Slot) -> Result<Arc<Ledger>, Box<ChannelStatus>> {
        if let Some(l) = &slot.ledger {
            return Ok(l.clone());
        }
        let dir = openclaw_channels::account_dir(
            &self.instance.state_dir.value,
            slot.name,
            DEFAULT_ACCOUNT,
        );
        match Ledger::open(&dir) {
            Ok(l) => {
                let l = Arc::new(l);
                slot.ledger = Some(l.clone());
                Ok(l)
            }
            Err(e) => {
                let e = e.to_string();
                self.log.warn(&format!(
                    "{}: cannot open the update ledger: {e}",
                    slot.name
                ));
                Err(failed(slot.name, ChannelState::Error, e, None))
            }
        }
    }

    fn runner(&self) -> Arc<dyn AgentRunner> {
        Arc::new(HubRunner(self.agents.clone()))
    }

    fn telegram(self: &Arc<Self>, slot: &mut Slot, config: &Config) -> Built {
        let Some(cfg) = config
            .channels
            .as_ref()
            .and_then(|c| c.telegram.as_ref())
            .map(|t| t.0.clone())
        else {
            return Ok(None);
        };
        let name = telegram::CHANNEL;
        if !cfg.enabled() {
            return Err(Box::new(ChannelStatus::new(
                name,
                DEFAULT_ACCOUNT,
                ChannelState::Disabled,
            )));
        }
        let env = std::env::var(TELEGRAM_TOKEN_ENV).ok();
        let set_token = self
            .instance
            .command("config set channels.telegram.botToken <TOKEN>");
        let token = match openclaw_channels::token::resolve(
            &cfg,
            &self.instance.home,
            env.as_deref(),
        ) {
            Ok(Some(t)) => t,
            Ok(None) => {
                let e = format!(
                    "channels.telegram has no bot token (botToken, tokenFile or {TELEGRAM_TOKEN_ENV})"
                );
                self.log.warn(&format!("telegram: {e}"));
                return Err(failed(
                    name,
                    ChannelState::Unauthorized,
                    e,
                    Some(format!("run `{set_token}`")),
                ));
            }
            Err(e) => {
                self.log.warn(&format!("telegram: {e}"));
                return Err(failed(name, ChannelState::Error, e, None));
            }
        };
        let ledger = self.ledger(slot)?;
        let settings = TelegramSettings {
            account: DEFAULT_ACCOUNT.into(),
            state_dir: self.instance.state_dir.value.clone(),
            token,
            config: cfg,
            bindings: bindings_of(config),
            poll_timeout: 30,
            retry_pause: Duration::from_secs(3),
            fix_token_command: set_token,
            cli: self.instance.cli_prefix(),
        };
        let ch = TelegramChannel::with_live(
            settings,
            ledger,
            self.runner(),
            self.others.clone(),
            slot.live.clone(),
        );
        self.log.info("telegram: channel started (long polling)");
        Ok(Some(ch))
    }

    fn irc(self: &Arc<Self>, slot: &mut Slot, config: &Config) -> Built {
        let Some(cfg) = config
            .channels
            .as_ref()
            .and_then(|c| c.irc.as_ref())
            .map(|t| t.0.clone())
        else {
            return Ok(None);
        };
        let name = irc::CHANNEL;
        if !cfg.enabled() {
            return Err(Box::new(ChannelStatus::new(
                name,
                DEFAULT_ACCOUNT,
                ChannelState::Disabled,
            )));
        }
        let server = format!("{}:{}", cfg.host, cfg.port());
        let settings = IrcSettings::new(
            DEFAULT_ACCOUNT,
            &self.instance.state_dir.value,
            cfg,
            &self.instance.home,
            &self.instance.cli_prefix(),
        )
        .map_err(|e| {
            self.log.warn(&format!("irc: {e}"));
            failed(name, ChannelState::Error, e, None)
        })?;
        let ledger = self.ledger(slot)?;
        let ch = IrcChannel::new(settings, ledger, self.runner(), slot.live.clone());
        self.log
            .info(&format!("irc: channel started (connecting to {server})"));
        Ok(Some(ch))
    }

    fn matrix(self: &Arc<Self>, slot: &mut Slot, config: &Config) -> Built {
        let Some(cfg) = config
            .channels
            .as_ref()
            .and_then(|c| c.matrix.as_ref())
            .map(|t| t.0.clone())
        else {
            return Ok(None);
        };
        let name = matrix::CHANNEL;
        if !cfg.enabled() {
            return Err(Box::new(ChannelStatus::new(
                name,
                DEFAULT_ACCOUNT,
                ChannelState::Disabled,
            )));
        }
        let homeserver = cfg.homeserver.clone();
        let settings = MatrixSettings::new(
            DEFAULT_ACCOUNT,
            &self.instance.state_dir.value,
            cfg,
            &self.instance.home,
            &self.instance.cli_prefix(),
        )
        .map_err(|e| {
            self.log.warn(&format!("matrix: {e}"));
            failed(name, ChannelState::Error, e, None)
        })?;
        let ledger = self.ledger(slot)?;
        let ch = MatrixChannel::new(settings, ledger, self.runner(), slot.live.clone());
        self.log.info(&format!(
            "matrix: channel started (syncing with {homeserver})"
        ));
        Ok(Some(ch))
    }

    /// Stops every channel (long polls and connections are dropped at once).
    pub async fn shutdown(&self) {
        let running: Vec<Running> = lock(&self.slots)
            .iter_mut()
            .filter_map(|s| s.running.take())
            .collect();
        for r in &running {
            r.stop.cancel();
        }
        for r in running {
            let _ = tokio::time::timeout(Duration::from_secs(2), r.task).await;
        }
    }

    /// `channels.status`.
    pub fn status(&self) -> Value {
        let slots = lock(&self.slots);
        let mut list = Vec::new();
        for s in slots.iter() {
            if let Some(r) = &s.running {
                list.push(r.channel.status());
            }
            if let Some(st) = &s.not_running {
                list.push(st.clone());
            }
        }
        json!({"channels": list})
    }
}

/// Agent turns for channels, through the same hub as `chat.send`.
/// Unsent bytes a channel run's event queue may hold (it is drained as the
/// run streams, so this is only reached if the forwarder stalls).
const CHANNEL_OUTBOX_LIMIT: usize = 16 * 1024 * 1024;

struct HubRunner(Arc<AgentHub>);

impl AgentRunner for HubRunner {
    fn run(
        &self,
        agent_id: String,
        session_key: String,
        text: String,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        self.turn(None, agent_id, session_key, text, deltas)
    }

    /// The pipeline's sender and owner rule become the turn's caller.
    fn run_for(
        &self,
        sender: String,
        owner: bool,
        agent_id: String,
        session_key: String,
        text: String,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        let caller = openclaw_agent::Caller { id: sender, owner };
        self.turn(Some(caller), agent_id, session_key, text, deltas)
    }
}

impl HubRunner {
    fn turn(
        &self,
        caller: Option<openclaw_agent::Caller>,
        agent_id: String,
        session_key: String,
        text: String,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        let hub = self.0.clone();
        Box::pin(async move {
            let unavailable = |message: String| RunFailure {
                kind: "unavailable".into(),
                message,
            };
            let set = hub.current();
            let slot = set.slot(Some(&agent_id)).map_err(unavailable)?;
            let agent = slot
                .agent
                .clone()
                .map_err(|e| unavailable(format!("agent {}: {e}", slot.id)))?;
            let conn_id = format!("channel:{}", uuid::Uuid::new_v4());
            // The run's events reach this task through an outbox like a
            // connection's; it is drained as fast as the run produces.
            let outbox = Outbox::new(CHANNEL_OUTBOX_LIMIT);
            if deltas.is_some() {
                hub.subscribe(
                    &slot.id,
                    &session_key,
                    &conn_id,
                    &ConnTx::new(outbox.clone()),
                );
            }
            let run_id = hub.start_for(agent, session_key, text, None, caller);
            let forward = deltas.map(|d| {
                let run_id = run_id.clone();
                let outbox = outbox.clone();
                tokio::spawn(async move {
                    while let Ok(item) = outbox.next().await {
                        let Item::Event { name, payload } = item else {
                            continue;
                        };
                        if name != openclaw_protocol::events::CHAT {
                            continue;
                        }
                        let Ok(p) = serde_json::from_str::<Value>(&payload) else {
                            continue;
                        };
                        if p["runId"] == run_id.as_str()
                            && p["state"] == "delta"
                            && let Some(t) = p.pointer("/message/text").and_then(Value::as_str)
                        {
                            let _ = d.send(t.to_string());
                        }
                    }
                })
            });
            let outcome = hub.wait(&run_id, Duration::from_secs(24 * 3600)).await;
            hub.disconnect(&conn_id);
            if let Some(f) = forward {
                f.abort();
            }
            // Cut off by the shutdown drain (`drain.rs`): the turn ran under
            // the hub's interrupt token. Also a turn that ended aborted
            // once that token fired (it may have stopped before its
            // transcript opened, so without the `interrupted` record).
            let interrupted = |o: &openclaw_protocol::chat::RunOutcome| {
                o.error
                    .as_ref()
                    .is_some_and(|e| e.kind == openclaw_agent::INTERRUPTED)
                    || (o.status == "aborted" && hub.interrupt_token().is_cancelled())
            };
            match outcome {
                Ok(o) if o.status == "ok" => Ok(o.text),
                Ok(o) if interrupted(&o) => Err(RunFailure {
                    kind: RunFailure::INTERRUPTED.into(),
                    message: "the gateway shut down before the turn finished".into(),
                }),
                Ok(o) => Err(match o.error {
                    Some(e) => RunFailure {
                        kind: e.kind,
                        message: e.message,
                    },
                    None => RunFailure {
                        kind: o.status.clone(),
                        message: format!("the run ended: {}", o.status),
                    },
                }),
                Err(e) => Err(RunFailure {
                    kind: "internal".into(),
                    message: e,
                }),
            }
        })
    }
}
