//! Telegram: long polling (`getUpdates`, 30 s) after `deleteWebhook`,
//! `getMe` at start, replies through `sendMessage` / `editMessageText`,
//! a typing action while the agent runs.
//!
//! States: `starting` → `running`; `unauthorized` when the token is
//! refused (401: the channel stops, the gateway keeps running); `conflict`
//! when Telegram answers 409 (another poller has the token; naming the
//! other instance on this host whose status file has the same token
//! fingerprint); `error` while retrying a transient failure.
//!
//! Every update goes through the channel [`Pipeline`] (see there): recorded
//! in the ledger before it is handled, the reply recorded before it is sent,
//! done after the last chunk. Updates of one chat are handled in order;
//! different chats run concurrently. What is Telegram's own is here: the
//! `getUpdates` offset (the ledger's `next_id`), parsing updates, `getMe`,
//! the typing action, streamed previews and HTML replies.

pub mod api;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use openclaw_config::channels::{Binding, Telegram};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::access::{Access, SenderMatch};
use crate::ledger::{Entry, Ledger};
use crate::pipeline::{
    ChatRules, Live, Pipeline, PipelineSettings, SendError, StatusCell, Transport, Turn, pause,
};
use crate::text::to_telegram_html;
use crate::token::{BotToken, short_fingerprint};
use crate::{
    AgentRunner, Channel, ChannelState, ChannelStatus, ChatKind, ConflictWith, Inbound,
    OtherInstances, account_dir,
};

pub use crate::pipeline::failure_text;
pub use api::{ApiError, BotApi, BotInfo};

pub const CHANNEL: &str = "telegram";

/// Everything a Telegram account needs, resolved from the config.
#[derive(Clone)]
pub struct TelegramSettings {
    pub account: String,
    pub state_dir: PathBuf,
    pub token: BotToken,
    pub config: Telegram,
    /// The initial `bindings` (the gateway changes them through [`Live`]).
    pub bindings: Vec<Binding>,
    /// Seconds a `getUpdates` long poll waits (30).
    pub poll_timeout: u64,
    /// Pause after a 409 or a transient error before polling again.
    pub retry_pause: Duration,
    /// The command that fixes a refused token, e.g. `openclaw --profile
    /// rescue config set channels.telegram.botToken <TOKEN>`.
    pub fix_token_command: String,
    /// The command prefix that selects this instance (`openclaw --profile
    /// rescue`): the pairing message names it.
    pub cli: String,
}

impl TelegramSettings {
    pub fn access(&self) -> Access {
        let ids = |v: &Option<Vec<openclaw_config::channels::SenderId>>| {
            v.iter().flatten().map(|s| s.as_str().to_string()).collect()
        };
        Access {
            dm_policy: self.config.dm_policy(),
            allow_from: ids(&self.config.allow_from),
            group_policy: self.config.group_policy(),
            group_allow_from: ids(&self.config.group_allow_from),
            matcher: SenderMatch::Exact,
        }
    }

    fn pipeline(&self) -> PipelineSettings {
        let config = self.config.clone();
        PipelineSettings {
            channel: CHANNEL,
            account: self.account.clone(),
            state_dir: self.state_dir.clone(),
            access: self.access(),
            chunk_limit: self.config.text_chunk_limit(),
            chat_rules: Arc::new(move |chat: &str| ChatRules {
                require_mention: config.require_mention(chat),
                allow_from: None,
            }),
            cli: self.cli.clone(),
        }
    }
}

pub struct TelegramChannel {
    s: TelegramSettings,
    api: BotApi,
    pipeline: Arc<Pipeline>,
    others: OtherInstances,
    status: StatusCell,
    bot: Arc<Mutex<Option<BotInfo>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ledger of an account (the gateway keeps it across channel restarts).
pub fn open_ledger(state_dir: &std::path::Path, account: &str) -> Result<Arc<Ledger>, String> {
    Ledger::open(&account_dir(state_dir, CHANNEL, account))
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

impl TelegramChannel {
    /// A channel with its own [`Live`] (`s.bindings`, no owners, no
    /// command runner).
    pub fn new(
        s: TelegramSettings,
        ledger: Arc<Ledger>,
        runner: Arc<dyn AgentRunner>,
        others: OtherInstances,
    ) -> Arc<TelegramChannel> {
        let live = Live::new(s.bindings.clone(), Vec::new());
        Self::with_live(s, ledger, runner, others, live)
    }

    /// A channel whose bindings, owners and command runner come from `live`
    /// (the gateway's, kept across restarts).
    pub fn with_live(
        s: TelegramSettings,
        ledger: Arc<Ledger>,
        runner: Arc<dyn AgentRunner>,
        others: OtherInstances,
        live: Arc<Live>,
    ) -> Arc<TelegramChannel> {
        let api = BotApi::new(s.config.api_root(), s.token.clone());
        let bot = Arc::new(Mutex::new(None));
        let transport = Arc::new(TelegramTransport {
            api: api.clone(),
            account: s.account.clone(),
            config: s.config.clone(),
            bot: bot.clone(),
            ledger: ledger.clone(),
        });
        let pipeline = Pipeline::new(s.pipeline(), ledger, runner, live, transport);
        let status = StatusCell::new(&s.state_dir, CHANNEL, &s.account);
        status.modify(|st| st.token_fingerprint = Some(short_fingerprint(&s.token.fingerprint())));
        Arc::new(TelegramChannel {
            s,
            api,
            pipeline,
            others,
            status,
            bot,
        })
    }

    fn set_state(&self, state: ChannelState, error: Option<String>, hint: Option<String>) {
        self.status.set_state(state, error, hint);
    }

    /// Another live instance on this host whose Telegram status carries our
    /// token fingerprint.
    fn find_conflict(&self) -> Option<ConflictWith> {
        let fp = self.status.get().token_fingerprint?;
        (self.others)().into_iter().find_map(|o| {
            if openclaw_state::same_dir(&o.state_dir, &self.s.state_dir) {
                return None;
            }
            let owner = openclaw_state::owner::live_owner(&o.state_dir)?;
            crate::read_statuses(&o.state_dir)
                .into_iter()
                .any(|st| {
                    st.channel == CHANNEL
                        && st.token_fingerprint.as_deref() == Some(fp.as_str())
                        && st.pid == owner.pid
                })
                .then(|| ConflictWith {
                    profile: o.profile.clone(),
                    state_dir: o.state_dir.clone(),
                })
        })
    }

    fn unauthorized(&self, e: &ApiError) {
        self.set_state(
            ChannelState::Unauthorized,
            Some(format!("Telegram refused the bot token ({e})")),
            Some(format!(
                "get a valid token from @BotFather and run `{}`",
                self.s.fix_token_command
            )),
        );
    }

    async fn start(self: &Arc<Self>, stop: &CancellationToken) -> bool {
        loop {
            let r = tokio::select! {
                _ = stop.cancelled() => return false,
                r = self.api.get_me() => r,
            };
            match r {
                Ok(info) => {
                    self.status.modify(|st| {
                        st.bot_username = Some(info.username.clone());
                        st.bot_id = Some(info.id);
                    });
                    *lock(&self.bot) = Some(info);
                    break;
                }
                Err(e) if matches!(e.code(), Some(401) | Some(404)) => {
                    self.unauthorized(&e);
                    return false;
                }
                Err(e) => {
                    self.set_state(ChannelState::Error, Some(e.to_string()), None);
                    let wait = e
                        .retry_after()
                        .map(Duration::from_secs)
                        .unwrap_or(self.s.retry_pause);
                    if !pause(stop, wait).await {
                        return false;
                    }
                }
            }
        }
        if let Err(e) = self.api.delete_webhook().await {
            if e.code() == Some(401) {
                self.unauthorized(&e);
                return false;
            }
            tracing::warn!("telegram: deleteWebhook failed ({e}); polling anyway");
        }
        true
    }

    async fn poll(self: Arc<Self>, stop: CancellationToken) {
        self.set_state(ChannelState::Starting, None, None);
        if !self.start(&stop).await {
            if stop.is_cancelled() {
                self.set_state(ChannelState::Stopped, None, None);
            }
            return;
        }
        // Resume what a previous run left unfinished (and sweep from now on).
        self.pipeline.start_sweeping(&stop);
        self.set_state(ChannelState::Running, None, None);
        let ledger = self.pipeline.ledger().clone();
        loop {
            let r = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.api.get_updates(ledger.next_id(), self.s.poll_timeout) => r,
            };
            match r {
                Ok(updates) => {
                    if self.status.get().state != ChannelState::Running {
                        self.set_state(ChannelState::Running, None, None);
                    }
                    if updates.is_empty() {
                        continue;
                    }
                    let batch = updates
                        .into_iter()
                        .filter_map(|u| {
                            let id = u.get("update_id")?.as_i64()?;
                            let chat = u
                                .pointer("/message/chat/id")
                                .map(|c| c.to_string())
                                .unwrap_or_default();
                            Some((id, chat, u))
                        })
                        .collect();
                    match self.pipeline.receive(batch, &stop) {
                        Ok(_) => self.status.touch(),
                        Err(e) => {
                            // Not recorded: not acknowledged either (next_id
                            // is unchanged), so Telegram sends them again.
                            self.set_state(
                                ChannelState::Error,
                                Some(format!("cannot record updates: {e}")),
                                None,
                            );
                            if !pause(&stop, self.s.retry_pause).await {
                                break;
                            }
                        }
                    }
                }
                Err(e) if e.code() == Some(409) => {
                    let other = self.find_conflict();
                    let hint = match &other {
                        Some(o) => format!(
                            "profile {} (state dir {}) polls with the same bot token; Telegram allows one poller per token: give each instance its own bot from @BotFather, or stop that gateway",
                            o.profile,
                            o.state_dir.display()
                        ),
                        None => "another process (not an instance on this host) polls with this bot token, or a webhook is set; give this instance its own bot token from @BotFather".into(),
                    };
                    self.status.modify(|st| st.conflict_with = other.clone());
                    if self.status.get().state != ChannelState::Conflict {
                        self.status.update(|st| {
                            st.state = ChannelState::Conflict;
                            st.last_error = Some(e.to_string());
                            st.hint = Some(hint.clone());
                            st.conflict_with = other;
                        });
                        tracing::warn!("telegram: conflict: {e}; {hint}");
                    }
                    if !pause(&stop, self.s.retry_pause).await {
                        break;
                    }
                }
                Err(e) if e.code() == Some(401) => {
                    self.unauthorized(&e);
                    return;
                }
                Err(e) => {
                    self.set_state(ChannelState::Error, Some(e.to_string()), None);
                    let wait = e
                        .retry_after()
                        .map(Duration::from_secs)
                        .unwrap_or(self.s.retry_pause);
                    if !pause(&stop, wait).await {
                        break;
                    }
                }
            }
        }
        self.set_state(ChannelState::Stopped, None, None);
    }
}

/// Telegram's side of the pipeline.
struct TelegramTransport {
    api: BotApi,
    account: String,
    config: Telegram,
    bot: Arc<Mutex<Option<BotInfo>>>,
    ledger: Arc<Ledger>,
}

impl TelegramTransport {
    /// The message in an update, and its `message_id`.
    fn inbound(&self, u: &Value) -> Option<(Inbound, i64)> {
        let m = u.get("message")?;
        let text = m.get("text")?.as_str()?;
        let from = m.get("from")?;
        if from.get("is_bot").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        let chat = m.get("chat")?;
        let kind = match chat.get("type").and_then(Value::as_str) {
            Some("private") => ChatKind::Direct,
            Some("group") | Some("supergroup") => ChatKind::Group,
            _ => return None,
        };
        let bot = lock(&self.bot).clone();
        let username = bot.as_ref().map(|b| b.username.to_ascii_lowercase());
        let mention = username
            .as_ref()
            .map(|u| format!("@{u}"))
            .filter(|m| text.to_ascii_lowercase().contains(m.as_str()));
        let reply_to_bot = m
            .pointer("/reply_to_message/from/id")
            .and_then(Value::as_i64)
            .zip(bot.as_ref().map(|b| b.id))
            .is_some_and(|(a, b)| a == b);
        let mut clean = text.to_string();
        if let Some(mn) = &mention {
            let lower = clean.to_ascii_lowercase();
            if let Some(p) = lower.find(mn.as_str()) {
                clean.replace_range(p..p + mn.len(), "");
            }
        }
        let name = from
            .get("username")
            .and_then(Value::as_str)
            .map(|u| format!("@{u}"))
            .or_else(|| {
                from.get("first_name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        Some((
            Inbound {
                channel: CHANNEL.into(),
                account: self.account.clone(),
                chat_id: chat.get("id")?.to_string(),
                chat_kind: kind,
                sender_id: from.get("id")?.to_string(),
                sender_name: name,
                text: clean.trim().to_string(),
                reply_to_bot,
                mentioned: mention.is_some(),
            },
            m.get("message_id").and_then(Value::as_i64).unwrap_or(0),
        ))
    }
}

impl Transport for TelegramTransport {
    fn parse(&self, payload: &Value) -> Option<Inbound> {
        self.inbound(payload).map(|(m, _)| m)
    }

    fn send<'a>(
        &'a self,
        _id: i64,
        e: &'a Entry,
        i: usize,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            // In groups the answer replies to the message it answers.
            let reply_to = self
                .inbound(&e.update)
                .filter(|(m, _)| m.chat_kind == ChatKind::Group)
                .map(|(_, mid)| mid);
            let plain = &e.chunks[i];
            let html = to_telegram_html(plain);
            let r = match (i, e.stream_message_id) {
                (0, Some(mid)) => self
                    .api
                    .edit_message(&e.chat_id, mid, plain, Some(&html))
                    .await
                    .map(|_| mid),
                _ => {
                    self.api
                        .send_message(&e.chat_id, plain, Some(&html), reply_to)
                        .await
                }
            };
            match r {
                Ok(_) => Ok(()),
                Err(err @ ApiError::Transport { .. }) => Err(SendError::Transient(err.to_string())),
                Err(err) => Err(SendError::Refused(format!("Telegram refused it: {err}"))),
            }
        })
    }

    fn turn(&self, id: i64, m: &Inbound) -> Turn {
        let typing = CancellationToken::new();
        {
            let (api, chat, t) = (self.api.clone(), m.chat_id.clone(), typing.clone());
            tokio::spawn(async move {
                loop {
                    let _ = api.typing(&chat).await;
                    tokio::select! {
                        _ = t.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(4)) => {}
                    }
                }
            });
        }
        let streaming = self.config.streaming() == openclaw_config::channels::Streaming::Partial;
        let (deltas, streamer) = if streaming {
            let (tx, rx) = mpsc::unbounded_channel::<String>();
            let (api, ledger) = (self.api.clone(), self.ledger.clone());
            let (chat, limit) = (m.chat_id.clone(), self.config.text_chunk_limit());
            (
                Some(tx),
                Some(tokio::spawn(stream(api, ledger, id, chat, limit, rx))),
            )
        } else {
            (None, None)
        };
        Turn {
            deltas,
            done: Some(Box::pin(async move {
                typing.cancel();
                if let Some(s) = streamer {
                    let _ = s.await;
                }
            })),
        }
    }
}

/// Shows the answer as it arrives: one message, edited at most once a
/// second (the final text is applied when the answer is sent: chunk 0
/// edits this message).
async fn stream(
    api: BotApi,
    ledger: Arc<Ledger>,
    id: i64,
    chat: String,
    limit: usize,
    mut rx: mpsc::UnboundedReceiver<String>,
) {
    let mut message: Option<i64> = ledger.get(id).and_then(|e| e.stream_message_id);
    let mut last_sent = String::new();
    let mut last_at: Option<Instant> = None;
    let mut latest: Option<String> = None;
    loop {
        let wait = last_at
            .map(|t| Duration::from_secs(1).saturating_sub(t.elapsed()))
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            got = rx.recv() => match got {
                Some(t) => latest = Some(t),
                None => return,
            },
            _ = tokio::time::sleep(wait), if latest.is_some() => {
                let text = latest.take().unwrap_or_default();
                let preview: String = text.chars().take(limit).collect();
                if preview.trim().is_empty() || preview == last_sent {
                    continue;
                }
                match message {
                    None => match api.send_message(&chat, &preview, None, None).await {
                        Ok(mid) => {
                            message = Some(mid);
                            let _ = ledger.streaming(id, mid);
                        }
                        Err(e) => tracing::warn!("telegram: streaming preview failed: {e}"),
                    },
                    Some(mid) => {
                        if let Err(e) = api.edit_message(&chat, mid, &preview, None).await {
                            tracing::warn!("telegram: streaming edit failed: {e}");
                        }
                    }
                }
                last_sent = preview;
                last_at = Some(Instant::now());
            }
        }
    }
}

impl Channel for TelegramChannel {
    fn name(&self) -> &'static str {
        CHANNEL
    }
    fn account(&self) -> &str {
        &self.s.account
    }
    fn status(&self) -> ChannelStatus {
        self.status.get()
    }
    fn run(self: Arc<Self>, stop: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(self.poll(stop))
    }
}
