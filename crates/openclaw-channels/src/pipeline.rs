//! The per-account message pipeline every channel runs on.
//!
//! A channel's transport (Telegram long polling, an IRC connection, Matrix
//! `/sync`) only does two things: it hands inbound messages to
//! [`Pipeline::receive`] / [`Pipeline::receive_keyed`] (recorded in the
//! [`Ledger`] before anything else happens), and it sends text to a chat
//! ([`Transport::send`]). Everything in between is here, the same for every
//! channel:
//!
//! ```text
//! ledger (recorded) ─► Transport::parse ─► Inbound
//!   ─► DM? CommandRunner (owner commands; is_owner from commands.ownerAllowFrom;
//!      a non-owner's refusal is sent only to a sender the access policy
//!      would not ignore, at most once per REFUSAL_EVERY)
//!   ─► access::decide_with (dmPolicy/allowFrom/pairing, groupPolicy/
//!      groupAllowFrom/groups.<chat>, requireMention)
//!   ─► pairing code | AgentRunner (bindings → agent, session key)
//!   ─► text::chunk ─► ledger.answered ─► Transport::send each chunk ─► ledger.sent ─► done
//! ```
//!
//! Messages of one chat are handled in order by one worker task (started on
//! demand, gone when the chat is idle); chats run concurrently. Entries left
//! unfinished (a send that kept failing, a turn cut off by shutdown, a
//! restarted channel whose predecessor still held them) are picked up again
//! by a sweep every [`SWEEP_EVERY`] and at start.
//!
//! What the gateway may change without restarting a channel — `bindings`,
//! `commands.ownerAllowFrom`, the command runner — lives in [`Live`], shared
//! with the gateway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use openclaw_config::channels::{Binding, OwnerRef};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::access::{Access, Decision, decide_with};
use crate::ledger::{Entry, Ledger, Stage};
use crate::pairing::{PairingStore, RequestOutcome, code_message};
use crate::text::chunk;
use crate::{
    AgentRunner, ChannelState, ChannelStatus, ChatKind, Inbound, RunFailure, account_dir,
    now_rfc3339, unix_now,
};

/// How often unfinished entries nobody is working on are tried again.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// A non-owner gets at most one command refusal per this long (further
/// attempts are still logged and audited by the runner, and not answered),
/// so a stranger cannot make the bot send message after message.
pub const REFUSAL_EVERY: Duration = Duration::from_secs(600);

/// Owner commands (`/status main`, ...) handled before an agent sees a
/// message. Consulted for direct messages only, before the access policy.
pub trait CommandRunner: Send + Sync {
    /// `None`: not a command of this runner; the message goes on to the
    /// access policy and the agent. `Some`: the reply, recorded in the
    /// ledger and sent like an agent's answer. `is_owner` says whether the
    /// sender is in `commands.ownerAllowFrom` (`<channel>:<senderId>`).
    /// A reply to a non-owner is a refusal (the runner logs the attempt
    /// when called): the pipeline sends it only when the access policy
    /// would not ignore the sender, and at most once per [`REFUSAL_EVERY`].
    fn run(&self, msg: &Inbound, is_owner: bool) -> Option<BoxFuture<'static, String>>;
}

/// Why a chunk was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying (network, server gone): a few tries, then the entry
    /// is left unfinished for the next sweep or start.
    Transient(String),
    /// The service refused it for good: the entry is finished unsent.
    Refused(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Transient(e) | SendError::Refused(e) => f.write_str(e),
        }
    }
}

/// What a transport shows while the agent works on a message.
#[derive(Default)]
pub struct Turn {
    /// Receives the answer so far while it streams.
    pub deltas: Option<mpsc::UnboundedSender<String>>,
    /// Awaited once the turn ended (stop a typing indicator, finish a
    /// streamed preview).
    pub done: Option<BoxFuture<'static, ()>>,
}

/// A channel's side of the pipeline.
pub trait Transport: Send + Sync + 'static {
    /// The message in a recorded payload; `None`: nothing to answer (the
    /// entry is finished).
    fn parse(&self, payload: &Value) -> Option<Inbound>;
    /// Sends chunk `index` of the answer recorded in `entry` (`entry.chat_id`
    /// is where it goes). Resolves once the service has it.
    fn send<'a>(
        &'a self,
        id: i64,
        entry: &'a Entry,
        index: usize,
    ) -> BoxFuture<'a, Result<(), SendError>>;
    /// Starts what the chat sees while the agent works (typing, a streamed
    /// preview). Default: nothing.
    fn turn(&self, _id: i64, _m: &Inbound) -> Turn {
        Turn::default()
    }
}

/// A group's own rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRules {
    /// Answer only when mentioned (or replied to).
    pub require_mention: bool,
    /// The group's own sender allowlist (replaces `groupAllowFrom`).
    pub allow_from: Option<Vec<String>>,
}

/// The per-group rules of a channel's config section.
pub type ChatRulesFn = Arc<dyn Fn(&str) -> ChatRules + Send + Sync>;

/// One channel account's fixed settings (a change restarts the channel).
#[derive(Clone)]
pub struct PipelineSettings {
    pub channel: &'static str,
    pub account: String,
    pub state_dir: PathBuf,
    pub access: Access,
    /// Characters per message (`text::chunk`).
    pub chunk_limit: usize,
    pub chat_rules: ChatRulesFn,
    /// The command prefix that selects this instance (`openclaw --profile
    /// rescue`, `Instance::cli_prefix`): what the pairing message tells the
    /// owner to run.
    pub cli: String,
}

#[derive(Default)]
struct LiveInner {
    bindings: Arc<Vec<Binding>>,
    owners: Arc<Vec<OwnerRef>>,
    commands: Option<Arc<dyn CommandRunner>>,
}

/// What the gateway changes while a channel runs: `bindings`,
/// `commands.ownerAllowFrom` and the channel's [`CommandRunner`] (default
/// none). Shared between the gateway and the channel's pipeline, kept
/// across restarts of the channel.
#[derive(Default)]
pub struct Live {
    inner: RwLock<LiveInner>,
}

impl Live {
    pub fn new(bindings: Vec<Binding>, owners: Vec<OwnerRef>) -> Arc<Live> {
        Arc::new(Live {
            inner: RwLock::new(LiveInner {
                bindings: Arc::new(bindings),
                owners: Arc::new(owners),
                commands: None,
            }),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, LiveInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, LiveInner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_bindings(&self, bindings: Vec<Binding>) {
        self.write().bindings = Arc::new(bindings);
    }

    pub fn set_owners(&self, owners: Vec<OwnerRef>) {
        self.write().owners = Arc::new(owners);
    }

    /// Sets (or with `None` removes) the channel's command runner.
    pub fn set_commands(&self, commands: Option<Arc<dyn CommandRunner>>) {
        self.write().commands = commands;
    }

    pub fn bindings(&self) -> Arc<Vec<Binding>> {
        self.read().bindings.clone()
    }

    pub fn owners(&self) -> Arc<Vec<OwnerRef>> {
        self.read().owners.clone()
    }

    pub fn commands(&self) -> Option<Arc<dyn CommandRunner>> {
        self.read().commands.clone()
    }
}

/// Whether `m`'s sender is an owner: an `ownerAllowFrom` entry of its
/// channel that matches the sender the way the channel's allowlists do
/// (never a bare `"*"`).
pub fn is_owner(owners: &[OwnerRef], access: &Access, m: &Inbound) -> bool {
    owners.iter().any(|o| {
        o.channel == m.channel && o.sender != "*" && access.matcher.matches(&o.sender, &m.sender_id)
    })
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The reply to a message, once decided.
enum Reply {
    /// Nothing to send: the entry is done.
    None,
    /// Not now (the turn was interrupted by shutdown): left unfinished.
    Later,
    Text(String),
}

/// One channel account's pipeline (see the module docs).
pub struct Pipeline {
    s: PipelineSettings,
    ledger: Arc<Ledger>,
    pairing: PairingStore,
    runner: Arc<dyn AgentRunner>,
    live: Arc<Live>,
    transport: Arc<dyn Transport>,
    chats: Mutex<HashMap<String, mpsc::UnboundedSender<i64>>>,
    /// When each non-owner was last sent a command refusal.
    refused: Mutex<HashMap<String, Instant>>,
}

/// Senders remembered for [`REFUSAL_EVERY`]; past this many, the oldest
/// half is forgotten (a flood of made-up senders cannot grow the map).
const REFUSALS_KEPT: usize = 1024;

impl Pipeline {
    pub fn new(
        s: PipelineSettings,
        ledger: Arc<Ledger>,
        runner: Arc<dyn AgentRunner>,
        live: Arc<Live>,
        transport: Arc<dyn Transport>,
    ) -> Arc<Pipeline> {
        let pairing =
            PairingStore::new(&s.state_dir, s.channel, &s.account).with_matcher(s.access.matcher);
        Arc::new(Pipeline {
            s,
            ledger,
            pairing,
            runner,
            live,
            transport,
            chats: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
        })
    }

    /// Whether a refusal may go to `sender` now (and notes that it does).
    fn may_refuse(&self, sender: &str, now: Instant) -> bool {
        let mut refused = lock(&self.refused);
        if refused
            .get(sender)
            .is_some_and(|t| now.saturating_duration_since(*t) < REFUSAL_EVERY)
        {
            return false;
        }
        if refused.len() >= REFUSALS_KEPT {
            refused.retain(|_, t| now.saturating_duration_since(*t) < REFUSAL_EVERY);
            if refused.len() >= REFUSALS_KEPT {
                let mut times: Vec<Instant> = refused.values().copied().collect();
                times.sort_unstable();
                let cut = times[times.len() / 2];
                refused.retain(|_, t| *t > cut);
            }
        }
        refused.insert(sender.to_string(), now);
        true
    }

    /// The access policy's decision for `m` (pairing approvals read now).
    fn decide(&self, m: &Inbound) -> Decision {
        let approved = match self.pairing.is_approved(&m.sender_id) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("{}: cannot read pairing state: {e}", self.s.channel);
                false
            }
        };
        let rules = (self.s.chat_rules)(&m.chat_id);
        decide_with(
            &self.s.access,
            &self.live.bindings(),
            m,
            approved,
            rules.require_mention,
            rules.allow_from.as_deref(),
        )
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub fn settings(&self) -> &PipelineSettings {
        &self.s
    }

    /// Records a batch with the transport's own increasing ids (Telegram
    /// `update_id`: id, chat, payload), then hands the new ones to their
    /// chats' workers. `Err`: nothing new was acknowledged; the transport
    /// asks for the same messages again.
    pub fn receive(
        self: &Arc<Self>,
        batch: Vec<(i64, String, Value)>,
        stop: &CancellationToken,
    ) -> Result<usize, openclaw_state::StateError> {
        let chats: HashMap<i64, String> = batch.iter().map(|(i, c, _)| (*i, c.clone())).collect();
        let fresh = self.ledger.receive(batch)?;
        let n = fresh.len();
        for (id, _) in fresh {
            let chat = chats.get(&id).cloned().unwrap_or_default();
            self.dispatch(id, chat, stop);
        }
        Ok(n)
    }

    /// Records messages of a transport without numeric ids (key, chat,
    /// payload), storing `cursor` with them (see
    /// [`Ledger::receive_keyed`]), then dispatches the new ones.
    pub fn receive_keyed(
        self: &Arc<Self>,
        batch: Vec<(Option<String>, String, Value)>,
        cursor: Option<&str>,
        stop: &CancellationToken,
    ) -> Result<usize, openclaw_state::StateError> {
        let fresh = self.ledger.receive_keyed(batch, cursor)?;
        let n = fresh.len();
        for (id, chat, _) in fresh {
            self.dispatch(id, chat, stop);
        }
        Ok(n)
    }

    /// False for a group message the pipeline would ignore for certain
    /// (not addressed to the bot where the group requires a mention), so
    /// chatty rooms do not cost a ledger write per line. Everything else is
    /// recorded and decided by the pipeline.
    pub fn worth_recording(&self, m: &Inbound) -> bool {
        m.chat_kind == ChatKind::Direct
            || m.mentioned
            || m.reply_to_bot
            || !(self.s.chat_rules)(&m.chat_id).require_mention
    }

    /// Hands every unfinished entry nobody is working on to its chat's
    /// worker (at start, and from the sweep).
    pub fn resume(self: &Arc<Self>, stop: &CancellationToken) {
        for (id, e) in self.ledger.unfinished() {
            self.dispatch(id, e.chat_id.clone(), stop);
        }
    }

    /// Resumes now, then every [`SWEEP_EVERY`] until `stop`.
    pub fn start_sweeping(self: &Arc<Self>, stop: &CancellationToken) {
        self.resume(stop);
        let me = Arc::downgrade(self);
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(SWEEP_EVERY) => {}
                }
                let Some(me) = me.upgrade() else { return };
                me.resume(&stop);
            }
        });
    }

    /// Queues `id` on its chat's worker (one chat's messages run in order).
    fn dispatch(self: &Arc<Self>, id: i64, chat: String, stop: &CancellationToken) {
        if stop.is_cancelled() || !self.ledger.claim(id) {
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

    async fn handle(self: &Arc<Self>, id: i64, stop: &CancellationToken) {
        let Some(entry) = self.ledger.get(id) else {
            return;
        };
        match entry.stage {
            Stage::Done => return,
            Stage::Answered => {
                self.send_rest(id, stop).await;
                return;
            }
            Stage::Received => {}
        }
        let Some(m) = self.transport.parse(&entry.update) else {
            self.finish(id);
            return;
        };
        match self.reply(id, &m).await {
            Reply::None => self.finish(id),
            Reply::Later => {}
            Reply::Text(text) => {
                let chunks = chunk(&text, self.s.chunk_limit);
                if chunks.is_empty() {
                    self.finish(id);
                    return;
                }
                if let Err(e) = self.ledger.answered(id, chunks) {
                    tracing::warn!(
                        "{}: cannot record the answer to update {id}: {e}",
                        self.s.channel
                    );
                    return;
                }
                self.send_rest(id, stop).await;
            }
        }
    }

    async fn reply(self: &Arc<Self>, id: i64, m: &Inbound) -> Reply {
        let ch = self.s.channel;
        if m.chat_kind == ChatKind::Direct
            && let Some(commands) = self.live.commands()
        {
            let owner = is_owner(&self.live.owners(), &self.s.access, m);
            if let Some(fut) = commands.run(m, owner) {
                tracing::info!("{ch}: update {id} is a command (owner: {owner})");
                let text = fut.await;
                if text.trim().is_empty() {
                    return Reply::None;
                }
                if !owner {
                    // A refusal. Someone the policy ignores hears nothing
                    // (the runner has logged the attempt), and nobody hears
                    // it more than once per REFUSAL_EVERY.
                    if let Decision::Ignore(why) = self.decide(m) {
                        tracing::info!(
                            "{ch}: command from {} refused silently: the access policy ignores this sender ({why})",
                            m.sender_id
                        );
                        return Reply::None;
                    }
                    if !self.may_refuse(&m.sender_id, Instant::now()) {
                        tracing::info!(
                            "{ch}: command from {} refused silently: a refusal was sent less than {} min ago",
                            m.sender_id,
                            REFUSAL_EVERY.as_secs() / 60
                        );
                        return Reply::None;
                    }
                }
                return Reply::Text(text);
            }
        }
        match self.decide(m) {
            Decision::Ignore(why) => {
                tracing::debug!("{ch}: update {id} ignored: {why}");
                Reply::None
            }
            Decision::Pair => match self.pairing.request(
                &m.sender_id,
                &m.chat_id,
                m.sender_name.as_deref(),
                unix_now(),
            ) {
                Ok(RequestOutcome::New(code)) => {
                    tracing::info!(
                        "{ch}: pairing request {code} from {} ({})",
                        m.sender_id,
                        m.sender_name.as_deref().unwrap_or("?")
                    );
                    Reply::Text(code_message(&code, &m.sender_id, ch, &self.s.cli))
                }
                Ok(_) => Reply::None,
                Err(e) => {
                    tracing::warn!("{ch}: cannot store a pairing request: {e}");
                    Reply::None
                }
            },
            Decision::Run {
                agent_id,
                session_key,
            } => self.run_agent(id, m, agent_id, session_key).await,
        }
    }

    async fn run_agent(
        &self,
        id: i64,
        m: &Inbound,
        agent_id: String,
        session_key: String,
    ) -> Reply {
        let turn = self.transport.turn(id, m);
        // The same owner rule as commands, and only in a direct chat.
        let owner =
            m.chat_kind == ChatKind::Direct && is_owner(&self.live.owners(), &self.s.access, m);
        let sender = format!("{}:{}", m.channel, m.sender_id);
        let r = self
            .runner
            .run_for(
                sender,
                owner,
                agent_id,
                session_key,
                m.text.clone(),
                turn.deltas,
            )
            .await;
        if let Some(done) = turn.done {
            done.await;
        }
        match r {
            Ok(t) if !t.trim().is_empty() => Reply::Text(t),
            Ok(_) => Reply::Text("(no answer)".into()),
            Err(f) if f.is_interrupted() => {
                tracing::info!(
                    "{}: the turn for update {id} was interrupted by shutdown; it is answered after the restart",
                    self.s.channel
                );
                Reply::Later
            }
            Err(f) => {
                tracing::warn!(
                    "{}: agent failed ({}): {}",
                    self.s.channel,
                    f.kind,
                    f.message
                );
                Reply::Text(failure_text(&f))
            }
        }
    }

    fn finish(&self, id: i64) {
        if let Err(e) = self.ledger.done(id) {
            tracing::warn!("{}: cannot record update {id} as done: {e}", self.s.channel);
        }
    }

    /// Sends the chunks not sent yet, recording each; then done.
    async fn send_rest(&self, id: i64, stop: &CancellationToken) {
        let ch = self.s.channel;
        let Some(e) = self.ledger.get(id) else {
            return;
        };
        for i in e.sent..e.chunks.len() {
            let mut tries = 0;
            loop {
                match self.transport.send(id, &e, i).await {
                    Ok(()) => break,
                    Err(SendError::Transient(err)) if tries < 5 => {
                        tries += 1;
                        tracing::warn!("{ch}: send failed ({err}); retrying");
                        if !pause(stop, Duration::from_secs(tries)).await {
                            return; // resumed after restart
                        }
                    }
                    Err(SendError::Transient(err)) => {
                        // Left unfinished: the sweep or the next start sends it.
                        tracing::warn!("{ch}: cannot send the answer to update {id}: {err}");
                        return;
                    }
                    Err(SendError::Refused(err)) => {
                        tracing::warn!("{ch}: the answer to update {id} was refused: {err}");
                        self.finish(id);
                        return;
                    }
                }
            }
            if let Err(err) = self.ledger.sent(id, i + 1) {
                tracing::warn!("{ch}: cannot record a sent chunk of update {id}: {err}");
                return;
            }
        }
        self.finish(id);
    }
}

/// Sleeps `d` unless `stop` comes first (false).
pub async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// A channel's status, in memory and in its `status.json`.
pub struct StatusCell {
    path: PathBuf,
    channel: &'static str,
    st: Mutex<ChannelStatus>,
    last_write: Mutex<Option<Instant>>,
}

impl StatusCell {
    pub fn new(state_dir: &Path, channel: &'static str, account: &str) -> StatusCell {
        StatusCell {
            path: account_dir(state_dir, channel, account).join("status.json"),
            channel,
            st: Mutex::new(ChannelStatus::new(channel, account, ChannelState::Starting)),
            last_write: Mutex::new(None),
        }
    }

    pub fn get(&self) -> ChannelStatus {
        lock(&self.st).clone()
    }

    /// Changes the status in memory only.
    pub fn modify(&self, f: impl FnOnce(&mut ChannelStatus)) {
        f(&mut lock(&self.st));
    }

    /// Changes the status and writes it.
    pub fn update(&self, f: impl FnOnce(&mut ChannelStatus)) {
        let st = {
            let mut st = lock(&self.st);
            f(&mut st);
            st.clone()
        };
        self.write(&st);
    }

    fn write(&self, st: &ChannelStatus) {
        if let Err(e) = openclaw_state::write_json(&self.path, st) {
            tracing::warn!("{}: cannot write status: {e}", self.channel);
        }
        *lock(&self.last_write) = Some(Instant::now());
    }

    /// Sets the state, error and hint; logs and writes when they changed.
    pub fn set_state(&self, state: ChannelState, error: Option<String>, hint: Option<String>) {
        let st = {
            let mut st = lock(&self.st);
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
            (Some(e), _) => tracing::warn!("{}: {}: {e}", self.channel, state.as_str()),
            (None, _) => tracing::info!("{}: {}", self.channel, state.as_str()),
        }
        self.write(&st);
    }

    /// Notes an inbound message (written at most every 10 s).
    pub fn touch(&self) {
        let st = {
            let mut st = lock(&self.st);
            st.last_update_at = Some(now_rfc3339());
            st.clone()
        };
        let due = lock(&self.last_write).is_none_or(|t| t.elapsed() > Duration::from_secs(10));
        if due {
            self.write(&st);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::SenderMatch;
    use openclaw_config::channels::{DmPolicy, GroupPolicy};

    fn access(m: SenderMatch) -> Access {
        Access {
            dm_policy: DmPolicy::Pairing,
            allow_from: vec![],
            group_policy: GroupPolicy::Allowlist,
            group_allow_from: vec![],
            matcher: m,
        }
    }

    fn msg(channel: &str, sender: &str) -> Inbound {
        Inbound {
            channel: channel.into(),
            account: "default".into(),
            chat_id: sender.into(),
            chat_kind: ChatKind::Direct,
            sender_id: sender.into(),
            sender_name: None,
            text: "/status".into(),
            reply_to_bot: false,
            mentioned: true,
        }
    }

    #[test]
    fn owners_match_per_channel_and_irc_owners_by_mask() {
        let owners: Vec<OwnerRef> = [
            "telegram:42",
            "irc:alice!~alice@*.example.org",
            "matrix:@bob:hs",
            "irc:*",
        ]
        .iter()
        .map(|s| OwnerRef::parse(s).unwrap())
        .collect();
        let exact = access(SenderMatch::Exact);
        let mask = access(SenderMatch::IrcMask);
        assert!(is_owner(&owners, &exact, &msg("telegram", "42")));
        assert!(!is_owner(&owners, &exact, &msg("telegram", "43")));
        assert!(
            !is_owner(&owners, &exact, &msg("matrix", "42")),
            "other channel"
        );
        assert!(is_owner(&owners, &exact, &msg("matrix", "@bob:hs")));
        assert!(is_owner(
            &owners,
            &mask,
            &msg("irc", "Alice!~alice@home.example.org")
        ));
        assert!(
            !is_owner(&owners, &mask, &msg("irc", "alice!~alice@evil.net")),
            "a bare \"*\" owner never counts"
        );
    }
}
