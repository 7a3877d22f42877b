//! openclaw-channels: the gateway's messaging connections.
//!
//! The path of a message, the same for every channel:
//!
//! ```text
//! channel transport ──► Inbound {channel, account, chat, sender, text, reply-to, mention}
//!   ──► ledger (recorded durably before anything else happens)
//!   ──► access::decide (dmPolicy / allowFrom / pairing / groupPolicy /
//!       groupAllowFrom / requireMention)  ──► Ignore | pairing code | Run
//!   ──► access::route (bindings → agent, session key <channel>:dm:<sender>
//!       or <channel>:group:<chat>) ──► AgentRunner (the gateway's agents)
//!   ──► answer ──► text::chunk ──► channel transport send ──► ledger done
//! ```
//!
//! A channel implements [`Channel`] (start, status) and runs its messages
//! through one [`pipeline::Pipeline`]: everything above except the
//! transport is shared, so IRC and Matrix add a transport, not a copy.
//! Owner commands get in first through [`CommandRunner`] (DMs only, before
//! the access policy).
//!
//! State under the instance's state dir, `channels/<channel>/<account>/`
//! (all written atomically through `openclaw-state`):
//! - `ledger.json`: updates received and how far each got (see [`ledger`]);
//! - `pairing.json`: pending pairing requests and approved senders
//!   (see [`pairing`]);
//! - `status.json`: the channel's last state and token fingerprint (read by
//!   `status`, `profiles`, `doctor` and by other instances naming a conflict).

pub mod access;
pub mod irc;
pub mod ledger;
pub mod matrix;
pub mod pairing;
pub mod pipeline;
pub mod telegram;
pub mod text;
pub mod token;

#[cfg(feature = "testing")]
pub mod testing;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The account id of a channel's single configured account.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Direct message or group chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Direct,
    Group,
}

/// One inbound message, as every channel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbound {
    pub channel: String,
    pub account: String,
    pub chat_id: String,
    pub chat_kind: ChatKind,
    pub sender_id: String,
    /// Display name or @username, for pairing lists and logs.
    pub sender_name: Option<String>,
    pub text: String,
    /// The message answers one of the bot's own messages.
    pub reply_to_bot: bool,
    /// The bot was mentioned (`@botusername`).
    pub mentioned: bool,
}

/// How an agent turn failed, for the one short explanation the sender gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    /// `auth`, `rate_limited`, `server`, `unavailable`, ...,
    /// or [`RunFailure::INTERRUPTED`].
    pub kind: String,
    pub message: String,
}

impl RunFailure {
    /// The kind of a turn cut off by the gateway's shutdown drain. Such a
    /// turn did not answer its message: the channel leaves the message
    /// unhandled (no reply, not done) so it is answered after the restart.
    pub const INTERRUPTED: &'static str = "interrupted";

    pub fn is_interrupted(&self) -> bool {
        self.kind == Self::INTERRUPTED
    }
}

/// Runs agent turns for channels (the gateway implements it over its
/// agents). `deltas` receives the answer text so far while it streams.
pub trait AgentRunner: Send + Sync {
    fn run(
        &self,
        agent_id: String,
        session_key: String,
        text: String,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>>;

    /// [`AgentRunner::run`] for the message's sender (`<channel>:<senderId>`),
    /// who is an owner when `owner` (a direct message from a
    /// `commands.ownerAllowFrom` entry, matched like the channel's
    /// allowlists: [`crate::pipeline::is_owner`]). Owner-only agent tools
    /// (the rescue role's) act by this, never by the session key. By
    /// default the sender is not passed on (and such tools refuse).
    fn run_for(
        &self,
        sender: String,
        owner: bool,
        agent_id: String,
        session_key: String,
        text: String,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        let _ = (sender, owner);
        self.run(agent_id, session_key, text, deltas)
    }
}

/// A channel's state as `channels.status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelState {
    Starting,
    /// Connected and receiving.
    Running,
    /// The credentials were refused (401).
    Unauthorized,
    /// Another poller uses the same bot token (409).
    Conflict,
    /// A transient problem; retrying.
    Error,
    Disabled,
    Stopped,
}

impl ChannelState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelState::Starting => "starting",
            ChannelState::Running => "running",
            ChannelState::Unauthorized => "unauthorized",
            ChannelState::Conflict => "conflict",
            ChannelState::Error => "error",
            ChannelState::Disabled => "disabled",
            ChannelState::Stopped => "stopped",
        }
    }
}

/// Another instance that holds the same credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictWith {
    pub profile: String,
    pub state_dir: PathBuf,
}

/// What a channel reports (also written to `status.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    pub channel: String,
    pub account: String,
    pub state: ChannelState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<i64>,
    /// RFC 3339 time of the last inbound update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// What to do about `last_error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_with: Option<ConflictWith>,
    /// [`token::fingerprint`] of the credentials in use (never the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_fingerprint: Option<String>,
    /// The gateway process that wrote this.
    #[serde(default)]
    pub pid: u32,
}

impl ChannelStatus {
    pub fn new(channel: &str, account: &str, state: ChannelState) -> Self {
        ChannelStatus {
            channel: channel.into(),
            account: account.into(),
            state,
            bot_username: None,
            bot_id: None,
            last_update_at: None,
            last_error: None,
            hint: None,
            conflict_with: None,
            token_fingerprint: None,
            pid: std::process::id(),
        }
    }
}

/// `<stateDir>/channels/<channel>/<account>`.
pub fn account_dir(state_dir: &Path, channel: &str, account: &str) -> PathBuf {
    state_dir.join("channels").join(channel).join(account)
}

/// The status files of every channel account under a state dir.
pub fn read_statuses(state_dir: &Path) -> Vec<ChannelStatus> {
    let mut out = Vec::new();
    let Ok(channels) = std::fs::read_dir(state_dir.join("channels")) else {
        return out;
    };
    let mut dirs: Vec<PathBuf> = channels
        .flatten()
        .flat_map(|c| std::fs::read_dir(c.path()).into_iter().flatten().flatten())
        .map(|a| a.path())
        .collect();
    dirs.sort();
    for d in dirs {
        if let Ok(Some(s)) = openclaw_state::read_json::<ChannelStatus>(&d.join("status.json")) {
            out.push(s);
        }
    }
    out
}

/// Another instance on this host (for naming a token conflict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherInstance {
    pub profile: String,
    pub state_dir: PathBuf,
}

/// Where the other instances on this host come from (asked only on a
/// conflict).
pub type OtherInstances = Arc<dyn Fn() -> Vec<OtherInstance> + Send + Sync>;

/// A running channel account.
pub trait Channel: Send + Sync {
    /// `telegram`, `irc`, ...
    fn name(&self) -> &'static str;
    fn account(&self) -> &str;
    fn status(&self) -> ChannelStatus;
    /// Runs until `stop` is cancelled.
    fn run(self: Arc<Self>, stop: CancellationToken) -> BoxFuture<'static, ()>;
}

pub use pipeline::{CommandRunner, Live};

/// Now as RFC 3339 UTC.
pub(crate) fn now_rfc3339() -> String {
    openclaw_state::owner::rfc3339_utc(std::time::SystemTime::now())
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The channel states of an instance as its status files say, for `status`
/// and `profiles`: when its gateway is not running, every state reads
/// `stopped` (the file keeps the last bot name and error).
pub fn status_summary(state_dir: &Path, gateway_running: bool) -> Vec<ChannelStatus> {
    read_statuses(state_dir)
        .into_iter()
        .map(|mut s| {
            let live = gateway_running
                && openclaw_state::owner::live_owner(state_dir).is_some_and(|o| o.pid == s.pid);
            if !live {
                s.state = ChannelState::Stopped;
                s.conflict_with = None;
            }
            s
        })
        .collect()
}

/// One line per channel account: `telegram (default): running @bot`,
/// `irc (default): running clawbot`, `matrix (default): running @bot:hs`.
pub fn status_line(s: &ChannelStatus) -> String {
    let mut line = format!("{} ({}): {}", s.channel, s.account, s.state.as_str());
    if let Some(u) = &s.bot_username {
        // Telegram usernames are shown as @name; an IRC nick is bare and a
        // Matrix user id carries its own @.
        let at = if s.channel == telegram::CHANNEL {
            "@"
        } else {
            ""
        };
        line.push_str(&format!(" {at}{u}"));
    }
    if let Some(c) = &s.conflict_with {
        line.push_str(&format!(
            " — same bot token as profile {} ({})",
            c.profile,
            c.state_dir.display()
        ));
    }
    if let Some(e) = &s.last_error {
        line.push_str(&format!(" — {e}"));
    }
    if let Some(h) = &s.hint {
        line.push_str(&format!("\n    hint: {h}"));
    }
    line
}

/// Seconds since the Unix epoch (pairing times).
pub fn unix_time() -> u64 {
    unix_now()
}

/// A `reqwest` client builder with the TLS provider installed (see
/// `openclaw_http`).
pub use openclaw_http::client_builder as http_client_builder;
