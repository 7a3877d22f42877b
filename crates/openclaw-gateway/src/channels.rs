//! The gateway's messaging channels (`openclaw-channels`): started once the
//! gateway is ready, stopped on shutdown, and on a config change only the
//! channel whose section changed is restarted (`channels.telegram`, or
//! `bindings`, which routes it). Agent turns run through the [`AgentHub`],
//! the same path as `chat.send`. `channels.status` answers from here.
//!
//! A channel that cannot start (no token, token file refused, 401, 409)
//! reports its state; the rest of the gateway keeps running.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use openclaw_channels::ledger::Ledger;
use openclaw_channels::telegram::{self, TelegramChannel, TelegramSettings};
use openclaw_channels::{
    AgentRunner, Channel, ChannelState, ChannelStatus, CommandRunner, DEFAULT_ACCOUNT,
    OtherInstance, OtherInstances, OwnerCommands, RunFailure,
};
use openclaw_config::Config;
use openclaw_config::channels::{Binding, TELEGRAM_TOKEN_ENV, Telegram};
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

#[derive(Default)]
struct Inner {
    /// `channels.telegram` and `bindings` as last applied.
    input: Option<Value>,
    running: Option<Running>,
    /// Why the configured channel is not running (no token, ...).
    not_running: Option<ChannelStatus>,
    /// Kept across restarts of the channel (see `Ledger::claim`).
    ledger: Option<Arc<Ledger>>,
}

pub(crate) struct ChannelHub {
    instance: Instance,
    log: Arc<GatewayLog>,
    agents: Arc<AgentHub>,
    others: OtherInstances,
    /// The rescue role's owner commands, offered to every channel.
    commands: Option<Arc<dyn CommandRunner>>,
    config_at_start: Config,
    inner: Mutex<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn telegram_of(config: &Config) -> Option<Telegram> {
    config
        .channels
        .as_ref()
        .and_then(|c| c.telegram.as_ref())
        .map(|t| t.0.clone())
}

/// What the Telegram channel is built from; a change restarts it
/// (`commands`: who the owners are).
fn input_of(config: &Config) -> Value {
    json!({
        "telegram": serde_json::to_value(telegram_of(config)).unwrap_or(Value::Null),
        "bindings": serde_json::to_value(&config.bindings).unwrap_or(Value::Null),
        "commands": serde_json::to_value(&config.commands).unwrap_or(Value::Null),
    })
}

/// `commands.ownerAllowFrom` as `<channel>:<senderId>`.
fn owners_of(config: &Config) -> Vec<String> {
    config
        .commands
        .as_ref()
        .and_then(|c| c.owner_allow_from.as_ref())
        .map(|o| o.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default()
}

impl ChannelHub {
    pub fn new(
        instance: Instance,
        log: Arc<GatewayLog>,
        agents: Arc<AgentHub>,
        known: KnownInstances,
        config: &Config,
        commands: Option<Arc<dyn CommandRunner>>,
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
        Arc::new(ChannelHub {
            instance,
            log,
            agents,
            others,
            commands,
            config_at_start: config.clone(),
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Starts the configured channels (call once the gateway is ready).
    pub fn start(self: &Arc<Self>) {
        let config = self.config_at_start.clone();
        self.apply(&config);
    }

    /// Restarts the Telegram channel if its config (or `bindings`) changed.
    pub fn reload(self: &Arc<Self>, config: &Config) {
        if lock(&self.inner).input.as_ref() == Some(&input_of(config)) {
            return;
        }
        self.log
            .info("config reloaded: channels.telegram, bindings or commands changed, restarting the telegram channel");
        self.apply(config);
    }

    fn apply(self: &Arc<Self>, config: &Config) {
        let mut inner = lock(&self.inner);
        inner.input = Some(input_of(config));
        if let Some(r) = inner.running.take() {
            r.stop.cancel();
            // The old poller ends its long poll; in-flight replies finish
            // and the shared ledger keeps the new one from redoing them.
        }
        inner.not_running = None;
        let Some(cfg) = telegram_of(config) else {
            return;
        };
        let status = |state, err: String, hint: Option<String>| {
            let mut s = ChannelStatus::new(telegram::CHANNEL, DEFAULT_ACCOUNT, state);
            s.last_error = Some(err);
            s.hint = hint;
            s
        };
        if !cfg.enabled() {
            inner.not_running = Some(ChannelStatus::new(
                telegram::CHANNEL,
                DEFAULT_ACCOUNT,
                ChannelState::Disabled,
            ));
            return;
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
                inner.not_running = Some(status(
                    ChannelState::Unauthorized,
                    e,
                    Some(format!("run `{set_token}`")),
                ));
                return;
            }
            Err(e) => {
                self.log.warn(&format!("telegram: {e}"));
                inner.not_running = Some(status(ChannelState::Error, e, None));
                return;
            }
        };
        let state_dir = self.instance.state_dir.value.clone();
        let ledger = match &inner.ledger {
            Some(l) => l.clone(),
            None => match telegram::open_ledger(&state_dir, DEFAULT_ACCOUNT) {
                Ok(l) => {
                    inner.ledger = Some(l.clone());
                    l
                }
                Err(e) => {
                    self.log
                        .warn(&format!("telegram: cannot open the update ledger: {e}"));
                    inner.not_running = Some(status(ChannelState::Error, e, None));
                    return;
                }
            },
        };
        let bindings: Vec<Binding> = config.bindings.clone().unwrap_or_default();
        let settings = TelegramSettings {
            account: DEFAULT_ACCOUNT.into(),
            state_dir,
            token,
            config: cfg,
            bindings,
            poll_timeout: 30,
            retry_pause: Duration::from_secs(3),
            fix_token_command: set_token,
        };
        let runner = Arc::new(HubRunner(self.agents.clone()));
        let commands = self.commands.clone().map(|runner| OwnerCommands {
            runner,
            owners: owners_of(config),
        });
        let ch =
            TelegramChannel::with_commands(settings, ledger, runner, self.others.clone(), commands);
        let stop = CancellationToken::new();
        let task = tokio::spawn(ch.clone().run(stop.clone()));
        self.log.info("telegram: channel started (long polling)");
        inner.running = Some(Running {
            channel: ch,
            stop,
            task,
        });
    }

    /// Stops every channel (the long poll is dropped at once).
    pub async fn shutdown(&self) {
        let r = lock(&self.inner).running.take();
        if let Some(r) = r {
            r.stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), r.task).await;
        }
    }

    /// `channels.status`.
    pub fn status(&self) -> Value {
        let inner = lock(&self.inner);
        let mut list = Vec::new();
        if let Some(r) = &inner.running {
            list.push(r.channel.status());
        }
        if let Some(s) = &inner.not_running {
            list.push(s.clone());
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
            let run_id = hub.start(agent, session_key, text, None);
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
            match outcome {
                Ok(o) if o.status == "ok" => Ok(o.text),
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
