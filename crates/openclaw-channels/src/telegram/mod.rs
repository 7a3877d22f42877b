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
//! Every update goes through the [`Ledger`] (see there): recorded before it
//! is handled, the reply recorded before it is sent, done after the last
//! chunk. Updates of one chat are handled in order; different chats run
//! concurrently.

pub mod api;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use openclaw_config::channels::{Binding, Telegram};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::access::{Access, Decision, decide};
use crate::ledger::{Ledger, Stage};
use crate::pairing::{PairingStore, RequestOutcome, code_message};
use crate::text::{chunk, to_telegram_html};
use crate::token::{BotToken, short_fingerprint};
use crate::{
    AgentRunner, Channel, ChannelState, ChannelStatus, ChatKind, ConflictWith, Inbound,
    OtherInstances, OwnerCommands, RunFailure, account_dir, now_rfc3339, unix_now,
};

pub use api::{ApiError, BotApi, BotInfo};

pub const CHANNEL: &str = "telegram";

/// Everything a Telegram account needs, resolved from the config.
#[derive(Clone)]
pub struct TelegramSettings {
    pub account: String,
    pub state_dir: PathBuf,
    pub token: BotToken,
    pub config: Telegram,
    pub bindings: Vec<Binding>,
    /// Seconds a `getUpdates` long poll waits (30).
    pub poll_timeout: u64,
    /// Pause after a 409 or a transient error before polling again.
    pub retry_pause: Duration,
    /// The command that fixes a refused token, e.g. `openclaw --profile
    /// rescue config set channels.telegram.botToken <TOKEN>`.
    pub fix_token_command: String,
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
        }
    }
}

pub struct TelegramChannel {
    s: TelegramSettings,
    api: BotApi,
    ledger: Arc<Ledger>,
    pairing: PairingStore,
    runner: Arc<dyn AgentRunner>,
    others: OtherInstances,
    /// Owner commands, consulted for DMs before access control.
    commands: Option<OwnerCommands>,
    status: Mutex<ChannelStatus>,
    bot: Mutex<Option<BotInfo>>,
    chats: Mutex<HashMap<String, mpsc::UnboundedSender<i64>>>,
    last_status_write: Mutex<Option<Instant>>,
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

/// What the sender reads when the agent could not answer.
pub fn failure_text(f: &RunFailure) -> String {
    let why = match f.kind.as_str() {
        "auth" => "the model provider refused this assistant's credentials",
        "rate_limited" => "the model provider is rate-limiting this assistant",
        "unavailable" => "no working model is configured for this assistant",
        "timeout" => "the model took too long to answer",
        _ => "the model failed to answer",
    };
    format!("Sorry, I couldn't answer that: {why}. Please try again later.")
}

impl TelegramChannel {
    pub fn new(
        s: TelegramSettings,
        ledger: Arc<Ledger>,
        runner: Arc<dyn AgentRunner>,
        others: OtherInstances,
    ) -> Arc<TelegramChannel> {
        Self::with_commands(s, ledger, runner, others, None)
    }

    /// [`TelegramChannel::new`] with owner commands (see
    /// [`crate::CommandRunner`]).
    pub fn with_commands(
        s: TelegramSettings,
        ledger: Arc<Ledger>,
        runner: Arc<dyn AgentRunner>,
        others: OtherInstances,
        commands: Option<OwnerCommands>,
    ) -> Arc<TelegramChannel> {
        let api = BotApi::new(s.config.api_root(), s.token.clone());
        let pairing = PairingStore::new(&s.state_dir, CHANNEL, &s.account);
        let mut st = ChannelStatus::new(CHANNEL, &s.account, ChannelState::Starting);
        st.token_fingerprint = Some(short_fingerprint(&s.token.fingerprint()));
        Arc::new(TelegramChannel {
            s,
            api,
            ledger,
            pairing,
            runner,
            others,
            commands,
            status: Mutex::new(st),
            bot: Mutex::new(None),
            chats: Mutex::new(HashMap::new()),
            last_status_write: Mutex::new(None),
        })
    }

    fn dir(&self) -> PathBuf {
        account_dir(&self.s.state_dir, CHANNEL, &self.s.account)
    }

    fn write_status(&self, st: &ChannelStatus) {
        if let Err(e) = openclaw_state::write_json(&self.dir().join("status.json"), st) {
            tracing::warn!("telegram: cannot write status: {e}");
        }
        *lock(&self.last_status_write) = Some(Instant::now());
    }

    fn set_state(&self, state: ChannelState, error: Option<String>, hint: Option<String>) {
        let st = {
            let mut st = lock(&self.status);
            let changed = st.state != state || st.last_error != error;
            st.state = state;
            st.last_error = error.clone();
            st.hint = hint;
            if state != ChannelState::Conflict {
                st.conflict_with = None;
            }
            if !changed {
                return;
            }
            st.clone()
        };
        match (&error, state) {
            (Some(e), _) => tracing::warn!("telegram: {}: {e}", state.as_str()),
            (None, _) => tracing::info!("telegram: {}", state.as_str()),
        }
        self.write_status(&st);
    }

    /// Another live instance on this host whose Telegram status carries our
    /// token fingerprint.
    fn find_conflict(&self) -> Option<ConflictWith> {
        let fp = lock(&self.status).token_fingerprint.clone()?;
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

    async fn pause(&self, stop: &CancellationToken, d: Duration) -> bool {
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    async fn start(self: &Arc<Self>, stop: &CancellationToken) -> bool {
        loop {
            let r = tokio::select! {
                _ = stop.cancelled() => return false,
                r = self.api.get_me() => r,
            };
            match r {
                Ok(info) => {
                    {
                        let mut st = lock(&self.status);
                        st.bot_username = Some(info.username.clone());
                        st.bot_id = Some(info.id);
                    }
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
                    if !self.pause(stop, wait).await {
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
        // Resume what a previous run left unfinished.
        for (id, e) in self.ledger.unfinished() {
            self.dispatch(id, e.chat_id.clone(), &stop);
        }
        self.set_state(ChannelState::Running, None, None);
        loop {
            let r = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.api.get_updates(self.ledger.next_id(), self.s.poll_timeout) => r,
            };
            match r {
                Ok(updates) => {
                    if lock(&self.status).state != ChannelState::Running {
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
                    match self.ledger.receive(batch) {
                        Ok(fresh) => {
                            self.touch();
                            for (id, u) in fresh {
                                let chat = u
                                    .pointer("/message/chat/id")
                                    .map(|c| c.to_string())
                                    .unwrap_or_default();
                                self.dispatch(id, chat, &stop);
                            }
                        }
                        Err(e) => {
                            // Not recorded: not acknowledged either (next_id
                            // is unchanged), so Telegram sends them again.
                            self.set_state(
                                ChannelState::Error,
                                Some(format!("cannot record updates: {e}")),
                                None,
                            );
                            if !self.pause(&stop, self.s.retry_pause).await {
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
                    {
                        let mut st = lock(&self.status);
                        st.conflict_with = other.clone();
                    }
                    let changed = {
                        let st = lock(&self.status);
                        st.state != ChannelState::Conflict
                    };
                    if changed {
                        let st = {
                            let mut st = lock(&self.status);
                            st.state = ChannelState::Conflict;
                            st.last_error = Some(e.to_string());
                            st.hint = Some(hint.clone());
                            st.conflict_with = other;
                            st.clone()
                        };
                        tracing::warn!("telegram: conflict: {e}; {hint}");
                        self.write_status(&st);
                    }
                    if !self.pause(&stop, self.s.retry_pause).await {
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
                    if !self.pause(&stop, wait).await {
                        break;
                    }
                }
            }
        }
        self.set_state(ChannelState::Stopped, None, None);
    }

    fn touch(&self) {
        let st = {
            let mut st = lock(&self.status);
            st.last_update_at = Some(now_rfc3339());
            st.clone()
        };
        let due =
            lock(&self.last_status_write).is_none_or(|t| t.elapsed() > Duration::from_secs(10));
        if due {
            self.write_status(&st);
        }
    }

    /// Queues `id` on its chat's worker (one chat's updates run in order).
    fn dispatch(self: &Arc<Self>, id: i64, chat: String, stop: &CancellationToken) {
        if !self.ledger.claim(id) {
            return;
        }
        let mut chats = lock(&self.chats);
        if let Some(tx) = chats.get(&chat)
            && tx.send(id).is_ok()
        {
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<i64>();
        let _ = tx.send(id);
        chats.insert(chat.clone(), tx);
        let me = self.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                me.handle(id, &stop).await;
                me.ledger.release(id);
                // Idle: drop the worker (dispatch starts a new one on demand;
                // it sends under the same lock, so nothing slips between).
                let mut chats = lock(&me.chats);
                if rx.is_empty() {
                    chats.remove(&chat);
                    break;
                }
            }
        });
    }

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
                account: self.s.account.clone(),
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

    async fn handle(self: &Arc<Self>, id: i64, stop: &CancellationToken) {
        let Some(entry) = self.ledger.get(id) else {
            return;
        };
        if entry.stage == Stage::Done {
            return;
        }
        let parsed = self.inbound(&entry.update);
        let reply_to = parsed
            .as_ref()
            .filter(|(m, _)| m.chat_kind == ChatKind::Group)
            .map(|(_, mid)| *mid);
        if entry.stage == Stage::Answered {
            self.send_rest(id, reply_to, stop).await;
            return;
        }
        let Some((m, _)) = parsed else {
            self.finish(id);
            return;
        };
        // Owner commands come first (DMs only): they work without a model
        // and without pairing, and a stranger's command is refused here
        // instead of using up their pairing code.
        if let Some(reply) = self.commands.as_ref().and_then(|c| c.run(&m)) {
            let _ = self.api.typing(&m.chat_id).await;
            let text = reply.await;
            self.answer(id, &text, reply_to, stop).await;
            return;
        }
        let approved = match self.pairing.is_approved(&m.sender_id) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("telegram: cannot read pairing state: {e}");
                false
            }
        };
        let require_mention = self.s.config.require_mention(&m.chat_id);
        let decision = decide(
            &self.s.access(),
            &self.s.bindings,
            &m,
            approved,
            require_mention,
        );
        let reply = match decision {
            Decision::Ignore(why) => {
                tracing::debug!("telegram: update {id} ignored: {why}");
                None
            }
            Decision::Pair => match self.pairing.request(
                &m.sender_id,
                &m.chat_id,
                m.sender_name.as_deref(),
                unix_now(),
            ) {
                Ok(RequestOutcome::New(code)) => {
                    tracing::info!(
                        "telegram: pairing request {code} from {} ({})",
                        m.sender_id,
                        m.sender_name.as_deref().unwrap_or("?")
                    );
                    Some(code_message(&code, &m.sender_id, CHANNEL))
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("telegram: cannot store a pairing request: {e}");
                    None
                }
            },
            Decision::Run {
                agent_id,
                session_key,
            } => Some(self.run_agent(id, &m, agent_id, session_key).await),
        };
        match reply {
            None => self.finish(id),
            Some(text) => self.answer(id, &text, reply_to, stop).await,
        }
    }

    /// Records the reply to update `id` (split into chunks), then sends it.
    async fn answer(&self, id: i64, text: &str, reply_to: Option<i64>, stop: &CancellationToken) {
        let chunks = chunk(text, self.s.config.text_chunk_limit());
        if let Err(e) = self.ledger.answered(id, chunks) {
            tracing::warn!("telegram: cannot record the answer to update {id}: {e}");
            return;
        }
        self.send_rest(id, reply_to, stop).await;
    }

    fn finish(&self, id: i64) {
        if let Err(e) = self.ledger.done(id) {
            tracing::warn!("telegram: cannot record update {id} as done: {e}");
        }
    }

    async fn run_agent(
        self: &Arc<Self>,
        id: i64,
        m: &Inbound,
        agent_id: String,
        session_key: String,
    ) -> String {
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
        let streaming = self.s.config.streaming() == openclaw_config::channels::Streaming::Partial;
        let (deltas, streamer) = if streaming {
            let (tx, rx) = mpsc::unbounded_channel::<String>();
            let me = self.clone();
            let chat = m.chat_id.clone();
            (
                Some(tx),
                Some(tokio::spawn(async move { me.stream(id, chat, rx).await })),
            )
        } else {
            (None, None)
        };
        let r = self
            .runner
            .run(agent_id, session_key, m.text.clone(), deltas)
            .await;
        typing.cancel();
        if let Some(s) = streamer {
            let _ = s.await;
        }
        match r {
            Ok(t) if !t.trim().is_empty() => t,
            Ok(_) => "(no answer)".into(),
            Err(f) => {
                tracing::warn!("telegram: agent failed ({}): {}", f.kind, f.message);
                failure_text(&f)
            }
        }
    }

    /// Shows the answer as it arrives: one message, edited at most once a
    /// second (the final text is applied by [`Self::send_rest`]).
    async fn stream(
        self: Arc<Self>,
        id: i64,
        chat: String,
        mut rx: mpsc::UnboundedReceiver<String>,
    ) {
        let mut message: Option<i64> = self.ledger.get(id).and_then(|e| e.stream_message_id);
        let mut last_sent = String::new();
        let mut last_at: Option<Instant> = None;
        let mut latest: Option<String> = None;
        let limit = self.s.config.text_chunk_limit();
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
                        None => match self.api.send_message(&chat, &preview, None, None).await {
                            Ok(mid) => {
                                message = Some(mid);
                                let _ = self.ledger.streaming(id, mid);
                            }
                            Err(e) => tracing::warn!("telegram: streaming preview failed: {e}"),
                        },
                        Some(mid) => {
                            if let Err(e) = self.api.edit_message(&chat, mid, &preview, None).await {
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

    /// Sends the chunks not sent yet, recording each; then done.
    async fn send_rest(&self, id: i64, reply_to: Option<i64>, stop: &CancellationToken) {
        let Some(e) = self.ledger.get(id) else {
            return;
        };
        for i in e.sent..e.chunks.len() {
            let plain = &e.chunks[i];
            let html = to_telegram_html(plain);
            let mut tries = 0;
            loop {
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
                    Ok(_) => break,
                    Err(err @ ApiError::Transport { .. }) if tries < 5 => {
                        tries += 1;
                        tracing::warn!("telegram: send failed ({err}); retrying");
                        if !self.pause(stop, Duration::from_secs(tries)).await {
                            return; // resumed after restart
                        }
                    }
                    Err(err @ ApiError::Transport { .. }) => {
                        // Left unfinished: the next start sends it.
                        tracing::warn!("telegram: cannot send the answer to update {id}: {err}");
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(
                            "telegram: Telegram refused the answer to update {id}: {err}"
                        );
                        self.finish(id);
                        return;
                    }
                }
            }
            if let Err(err) = self.ledger.sent(id, i + 1) {
                tracing::warn!("telegram: cannot record a sent chunk of update {id}: {err}");
                return;
            }
        }
        self.finish(id);
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
        lock(&self.status).clone()
    }
    fn run(self: Arc<Self>, stop: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(self.poll(stop))
    }
}
