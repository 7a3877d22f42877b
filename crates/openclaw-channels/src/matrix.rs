//! Matrix on the channel pipeline: `openclaw-matrix` speaks the
//! client-server API (login, `/sync`, join, send with transaction ids, 429
//! handling); this module logs in, long-polls `/sync`, joins invites as
//! `autoJoin` says, records messages and answers through the client.
//!
//! Durability: the messages of one `/sync` answer are recorded in the
//! ledger (keyed by event id) and only then is its `next_batch` stored — in
//! the same atomic write of the ledger head — so a crash replays that sync
//! and the event ids already recorded are skipped ([`Ledger::receive_keyed`]).
//! Every chunk of an answer is sent with the transaction id
//! `txn_id(event id, chunk)`: a resend after a crash, with the same access
//! token (kept in the state dir), is recognised by the homeserver and does
//! not post twice.
//!
//! A room is a DM while it has at most two joined members (us and one
//! other); a third who joins makes it a group. An `is_direct` invite
//! counts only while the member count is unknown. The session key is
//! `matrix:dm:@user:server` or `matrix:group:!room:server`. The first sync
//! of a new account records no messages, only invites: history is not
//! answered, and neither is what a room showed from before we joined. The
//! stored `next_batch` carries the user id it belongs to: after a switch to
//! another account the first sync is such a fresh one.
//!
//! Encrypted rooms: we cannot read them. The first time a room shows it is
//! encrypted (`m.room.encryption`, or an `m.room.encrypted` event), the bot
//! posts [`ENCRYPTED_ROOM_NOTICE`] there once (remembered in
//! `encrypted-notified.json`) and otherwise ignores its encrypted events.
//!
//! States: `starting` → `running` (a sync answered); `unauthorized` when the
//! homeserver refuses the token or password (the channel stops; the hint
//! names the fix); `error` while retrying anything else, with backoff.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use openclaw_config::channels_net::{self, Matrix};
use openclaw_matrix::sync::{ENCRYPTED_ROOM_NOTICE, localpart};
use openclaw_matrix::{
    AutoJoin, MatrixClient, MatrixError, RoomTracker, SyncItem, SyncResponse, txn_id,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::access::{Access, SenderMatch};
use crate::ledger::{Entry, Ledger};
use crate::pipeline::{
    ChatRules, Live, Pipeline, PipelineSettings, SendError, StatusCell, Transport, pause,
};
use crate::{AgentRunner, Channel, ChannelState, ChannelStatus, ChatKind, Inbound, account_dir};

pub const CHANNEL: &str = "matrix";

/// Characters per answer message.
pub const TEXT_CHUNK_LIMIT: usize = 4000;

/// What the sync asks for: rooms' timelines and state, nothing else.
const SYNC_FILTER: &str = r#"{"presence":{"types":[]},"account_data":{"types":[]},"room":{"timeline":{"limit":50},"ephemeral":{"types":[]},"account_data":{"types":[]}}}"#;

/// The account's secrets, read from the config or its files. `Debug` does
/// not show them.
#[derive(Clone, Default)]
pub struct MatrixSecrets {
    pub access_token: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for MatrixSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("MatrixSecrets")
            .field("access_token", &shown(&self.access_token))
            .field("password", &shown(&self.password))
            .finish()
    }
}

/// `accessToken`/`accessTokenFile` and `password`/`passwordFile`, read
/// now (files: regular, not a symlink, `~` expanded against `home`).
/// Secrets read from files are registered for log redaction.
pub fn resolve_secrets(cfg: &Matrix, home: &Path) -> Result<MatrixSecrets, String> {
    let read = |inline: &Option<openclaw_config::Secret>,
                file: &Option<String>,
                key: &str|
     -> Result<Option<String>, String> {
        if let Some(v) = inline
            .as_ref()
            .map(|v| v.expose().trim())
            .filter(|v| !v.is_empty())
        {
            return Ok(Some(v.to_string()));
        }
        match file {
            Some(f) => {
                let v = crate::token::read_secret_file(f, home, key)?.1;
                openclaw_config::register_secrets([v.clone()]);
                Ok(Some(v))
            }
            None => Ok(None),
        }
    };
    Ok(MatrixSecrets {
        access_token: read(
            &cfg.access_token,
            &cfg.access_token_file,
            "channels.matrix.accessTokenFile",
        )?,
        password: read(
            &cfg.password,
            &cfg.password_file,
            "channels.matrix.passwordFile",
        )?,
    })
}

/// What `channels status` says fixes refused credentials: the key the
/// section logs in with (a file key names its file).
pub fn login_hint(cfg: &Matrix, home: &Path, cli: &str) -> String {
    let file = |f: &str, what: &str, key: &str| {
        format!(
            "put {what} in {} (channels.matrix.{key}) and run `{cli} gateway restart`, or point {key} at another file with `{cli} config set channels.matrix.{key} <FILE>`",
            crate::token::expand_home(f, home).display()
        )
    };
    if let Some(f) = &cfg.access_token_file {
        file(f, "a valid access token", "accessTokenFile")
    } else if cfg.access_token.is_some() {
        format!("fix the credentials with `{cli} config set channels.matrix.accessToken <TOKEN>`")
    } else if let Some(f) = &cfg.password_file {
        file(f, "the right password", "passwordFile")
    } else {
        format!("fix the credentials with `{cli} config set channels.matrix.password <PASSWORD>`")
    }
}

/// Everything a Matrix account needs, resolved from the config.
#[derive(Clone)]
pub struct MatrixSettings {
    pub account: String,
    pub state_dir: PathBuf,
    pub config: Matrix,
    /// The access token or password, resolved from the config or files.
    pub secrets: MatrixSecrets,
    /// How long one `/sync` long poll waits (30 s).
    pub sync_timeout: Duration,
    /// First pause after a failure (doubling to a minute).
    pub retry_pause: Duration,
    /// The command prefix that selects this instance (`openclaw --profile
    /// rescue`): the pairing message and the hints name it.
    pub cli: String,
    /// What fixes refused credentials ([`login_hint`]).
    pub login_hint: String,
}

impl MatrixSettings {
    /// Settings for `cfg`, its secrets read now ([`resolve_secrets`]);
    /// `cli` is the instance's command prefix (`Instance::cli_prefix`).
    /// Sync timeout 30 s, first retry pause 2 s (adjustable).
    pub fn new(
        account: &str,
        state_dir: &Path,
        cfg: Matrix,
        home: &Path,
        cli: &str,
    ) -> Result<MatrixSettings, String> {
        Ok(MatrixSettings {
            account: account.into(),
            state_dir: state_dir.to_path_buf(),
            secrets: resolve_secrets(&cfg, home)?,
            login_hint: login_hint(&cfg, home, cli),
            config: cfg,
            sync_timeout: Duration::from_secs(30),
            retry_pause: Duration::from_secs(2),
            cli: cli.to_string(),
        })
    }

    pub fn access(&self) -> Access {
        let c = &self.config;
        Access {
            dm_policy: c.dm_policy(),
            allow_from: c.allow_from.clone().unwrap_or_default(),
            group_policy: c.group_policy(),
            group_allow_from: c.group_allow_from.clone().unwrap_or_default(),
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
            chunk_limit: TEXT_CHUNK_LIMIT,
            chat_rules: Arc::new(move |room: &str| ChatRules {
                require_mention: config.require_mention(room),
                allow_from: config.groups.as_ref().and_then(|g| {
                    g.get(room)
                        .and_then(|x| x.allow_from.clone())
                        .or_else(|| g.get("*").and_then(|x| x.allow_from.clone()))
                }),
            }),
            cli: self.cli.clone(),
        }
    }

    fn dir(&self) -> PathBuf {
        account_dir(&self.state_dir, CHANNEL, &self.account)
    }
}

/// What the ledger keeps of a Matrix message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recorded {
    event_id: String,
    inbound: Inbound,
}

/// The ledger cursor of a Matrix account: `next_batch` with the user id it
/// belongs to, so a section switched to another account does not resume
/// the old account's sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    user: String,
    since: String,
}

fn encode_cursor(user: &str, next_batch: &str) -> String {
    serde_json::to_string(&Cursor {
        user: user.into(),
        since: next_batch.into(),
    })
    .expect("a cursor serializes")
}

/// Where `user`'s sync resumes: the stored `next_batch` when it is this
/// user's, else `None` (a fresh sync; `Err` says whose it was, for the log).
fn resume_from(stored: Option<&str>, user: &str) -> Result<Option<String>, String> {
    let Some(stored) = stored else {
        return Ok(None);
    };
    match serde_json::from_str::<Cursor>(stored) {
        Ok(c) if c.user == user => Ok(Some(c.since)),
        Ok(c) => Err(c.user),
        // Stored before cursors named their account: whose is unknown.
        Err(_) => Err("an unknown account".into()),
    }
}

/// The body without a leading address to us (`bot: `, `@bot:hs `).
fn strip_address(body: &str, own_user_id: &str) -> String {
    let t = body.trim();
    for name in [own_user_id, localpart(own_user_id)] {
        if let Some(head) = t.get(..name.len())
            && head.eq_ignore_ascii_case(name)
        {
            let rest = &t[name.len()..];
            if let Some(r) = rest.strip_prefix([':', ',']) {
                return r.trim().to_string();
            }
            if name == own_user_id && rest.starts_with(' ') {
                return rest.trim().to_string();
            }
        }
    }
    t.to_string()
}

/// Posts `text` as a notice in `room` with the account's token
/// (`accessToken`/`accessTokenFile`, else the session the gateway logged in
/// with), under a transaction id derived from `key` (a retry does not post
/// twice). For the CLI (`pairing approve matrix <CODE> --notify`), which
/// runs beside the gateway; `home` expands `~` in file keys.
pub async fn notify(
    state_dir: &std::path::Path,
    home: &Path,
    account: &str,
    cfg: &Matrix,
    room: &str,
    key: &str,
    text: &str,
) -> Result<(), String> {
    let token = match resolve_secrets(cfg, home)?.access_token {
        Some(t) => t,
        None => {
            let path = account_dir(state_dir, CHANNEL, account).join("session.json");
            openclaw_state::read_json::<openclaw_matrix::StoredSession>(&path)
                .ok()
                .flatten()
                .map(|s| s.access_token)
                .ok_or_else(|| {
                    format!(
                        "no Matrix session yet ({} is missing): start the gateway once so it logs in",
                        path.display()
                    )
                })?
        }
    };
    let client = MatrixClient::new(&cfg.homeserver)
        .map_err(|e| e.to_string())?
        .with_token(token);
    client
        .send_notice(room, &txn_id(key, 0), text)
        .await
        .map(|_| ())
        .map_err(|e| format!("room {room}: {e}"))
}

/// Matrix's side of the pipeline.
struct MatrixTransport {
    client: Mutex<Option<MatrixClient>>,
}

impl Transport for MatrixTransport {
    fn parse(&self, payload: &Value) -> Option<Inbound> {
        serde_json::from_value::<Recorded>(payload.clone())
            .ok()
            .map(|r| r.inbound)
    }

    fn send<'a>(
        &'a self,
        _id: i64,
        e: &'a Entry,
        i: usize,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        let client = self
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Box::pin(async move {
            let Some(c) = client else {
                return Err(SendError::Transient("not logged in yet".into()));
            };
            let Some(event) = e.key.clone().or_else(|| {
                e.update
                    .get("eventId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }) else {
                return Err(SendError::Refused("no event id recorded".into()));
            };
            match c
                .send_text(&e.chat_id, &txn_id(&event, i), &e.chunks[i])
                .await
            {
                Ok(_) => Ok(()),
                Err(err @ (MatrixError::Transport { .. } | MatrixError::RateLimited { .. })) => {
                    Err(SendError::Transient(err.to_string()))
                }
                Err(err @ MatrixError::Api { status, .. })
                    if status >= 500 || err.is_unknown_token() =>
                {
                    Err(SendError::Transient(err.to_string()))
                }
                Err(err) => Err(SendError::Refused(err.to_string())),
            }
        })
    }
}

pub struct MatrixChannel {
    s: MatrixSettings,
    pipeline: Arc<Pipeline>,
    transport: Arc<MatrixTransport>,
    status: StatusCell,
}

/// Why a login attempt failed.
enum LoginError {
    /// The credentials were refused: stop.
    Refused(String),
    /// Anything else: retry.
    Retry(String),
}

fn refused(e: &MatrixError) -> bool {
    e.is_unknown_token()
        || matches!(
            e.errcode(),
            Some("M_FORBIDDEN") | Some("M_USER_DEACTIVATED")
        )
}

impl MatrixChannel {
    pub fn new(
        s: MatrixSettings,
        ledger: Arc<Ledger>,
        runner: Arc<dyn AgentRunner>,
        live: Arc<Live>,
    ) -> Arc<MatrixChannel> {
        let transport = Arc::new(MatrixTransport {
            client: Mutex::new(None),
        });
        let pipeline = Pipeline::new(s.pipeline(), ledger, runner, live, transport.clone());
        let status = StatusCell::new(&s.state_dir, CHANNEL, &s.account);
        Arc::new(MatrixChannel {
            s,
            pipeline,
            transport,
            status,
        })
    }

    /// Logs in (access token, or the stored/fresh password session).
    async fn login(&self) -> Result<(MatrixClient, String), LoginError> {
        let c = &self.s.config;
        let mut client =
            MatrixClient::new(&c.homeserver).map_err(|e| LoginError::Refused(e.to_string()))?;
        let classify = |e: MatrixError| {
            if refused(&e) {
                LoginError::Refused(e.to_string())
            } else {
                LoginError::Retry(e.to_string())
            }
        };
        if let Some(token) = &self.s.secrets.access_token {
            let client = client.with_token(token);
            let who = client.whoami().await.map_err(classify)?;
            if let Some(want) = &c.user_id
                && want != &who.user_id
            {
                return Err(LoginError::Refused(format!(
                    "the access token belongs to {}, not userId {want}",
                    who.user_id
                )));
            }
            return Ok((client, who.user_id));
        }
        let (Some(user), Some(password)) = (&c.user_id, &self.s.secrets.password) else {
            return Err(LoginError::Refused(
                "channels.matrix needs accessToken (or accessTokenFile), or userId and password (or passwordFile)".into(),
            ));
        };
        let device = c.device_name.as_deref().unwrap_or("OpenClaw gateway");
        let path = self.s.dir().join("session.json");
        let (login, source) =
            openclaw_matrix::login_or_restore(&mut client, user, password, Some(device), &path)
                .await
                .map_err(classify)?;
        tracing::info!("matrix: logged in as {} ({source:?})", login.user_id);
        Ok((client, login.user_id))
    }

    fn unauthorized(&self, e: String) {
        self.status.set_state(
            ChannelState::Unauthorized,
            Some(format!(
                "{} refused the login: {e}",
                self.s.config.homeserver
            )),
            Some(self.s.login_hint.clone()),
        );
    }

    async fn run_loop(self: Arc<Self>, stop: CancellationToken) {
        self.status.set_state(ChannelState::Starting, None, None);
        let mut wait = self.s.retry_pause;
        let (mut client, user) = loop {
            let r = tokio::select! {
                _ = stop.cancelled() => {
                    self.status.set_state(ChannelState::Stopped, None, None);
                    return;
                }
                r = self.login() => r,
            };
            match r {
                Ok(ok) => break ok,
                Err(LoginError::Refused(e)) => {
                    self.unauthorized(e);
                    return;
                }
                Err(LoginError::Retry(e)) => {
                    self.status.set_state(ChannelState::Error, Some(e), None);
                    if !pause(&stop, wait).await {
                        self.status.set_state(ChannelState::Stopped, None, None);
                        return;
                    }
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
            }
        };
        self.status
            .modify(|st| st.bot_username = Some(user.clone()));
        *self
            .transport
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
        self.pipeline.start_sweeping(&stop);

        let mut rooms = Rooms {
            tracker: RoomTracker::default(),
            notified: self.read_notified(),
            aliases: HashMap::new(),
        };
        let mut wait = self.s.retry_pause;
        let ledger = self.pipeline.ledger().clone();
        loop {
            let since = match resume_from(ledger.cursor().as_deref(), &user) {
                Ok(since) => since,
                Err(whose) => {
                    tracing::info!(
                        "matrix: the stored sync position belongs to {whose}, not {user}; starting afresh (messages from before now are not answered)"
                    );
                    None
                }
            };
            let r = tokio::select! {
                _ = stop.cancelled() => break,
                r = client.sync(since.as_deref(), self.s.sync_timeout, Some(SYNC_FILTER)) => r,
            };
            let err = match r {
                Ok(sync) => match self
                    .handle_sync(&client, &user, &mut rooms, sync, since.is_none(), &stop)
                    .await
                {
                    Ok(()) => {
                        wait = self.s.retry_pause;
                        if self.status.get().state != ChannelState::Running {
                            self.status.set_state(ChannelState::Running, None, None);
                        }
                        continue;
                    }
                    Err(e) => e,
                },
                Err(e) if e.is_unknown_token() && !self.s.config.uses_token() => {
                    // The stored session was revoked: log in again.
                    match self.login().await {
                        Ok((c, _)) => {
                            client = c;
                            *self
                                .transport
                                .client
                                .lock()
                                .unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
                            continue;
                        }
                        Err(LoginError::Refused(e)) => {
                            self.unauthorized(e);
                            return;
                        }
                        Err(LoginError::Retry(e)) => e,
                    }
                }
                Err(e) if refused(&e) => {
                    self.unauthorized(e.to_string());
                    return;
                }
                Err(e) => e.to_string(),
            };
            self.status.set_state(ChannelState::Error, Some(err), None);
            if !pause(&stop, wait).await {
                break;
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
        self.status.set_state(ChannelState::Stopped, None, None);
    }

    fn notified_path(&self) -> PathBuf {
        self.s.dir().join("encrypted-notified.json")
    }

    fn read_notified(&self) -> BTreeSet<String> {
        openclaw_state::read_json(&self.notified_path())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// One sync answer: invites, encryption notices, then the messages
    /// recorded together with `next_batch`. `Err`: nothing acknowledged.
    async fn handle_sync(
        &self,
        client: &MatrixClient,
        user: &str,
        rooms: &mut Rooms,
        sync: SyncResponse,
        initial: bool,
        stop: &CancellationToken,
    ) -> Result<(), String> {
        rooms.tracker.apply(&sync, user);
        let items = sync.items(user);
        let mut batch = Vec::new();
        let mut encrypted: BTreeSet<String> = sync
            .rooms
            .join
            .keys()
            .filter(|r| rooms.tracker.is_encrypted(r))
            .cloned()
            .collect();
        for item in items {
            match item {
                SyncItem::Invite {
                    room_id, inviter, ..
                } => self.invite(client, rooms, &room_id, &inviter).await,
                SyncItem::Encrypted { room_id, .. } => {
                    rooms.tracker.set_encrypted(&room_id);
                    encrypted.insert(room_id);
                }
                SyncItem::Message { .. } if initial => {}
                SyncItem::Message {
                    room_id,
                    event_id,
                    sender,
                    body,
                    msgtype,
                    mentioned,
                } => {
                    if !rooms.tracker.knows_members(&room_id) {
                        // After a restart an incremental sync may not say
                        // who is in the room; ask.
                        match client.joined_members(&room_id).await {
                            Ok(m) => rooms.tracker.set_members(&room_id, m),
                            Err(e) => tracing::warn!("matrix: members of {room_id}: {e}"),
                        }
                    }
                    let text = if msgtype == "m.emote" {
                        format!("* {sender} {body}")
                    } else {
                        strip_address(&body, user)
                    };
                    let inbound = Inbound {
                        channel: CHANNEL.into(),
                        account: self.s.account.clone(),
                        chat_id: room_id.clone(),
                        chat_kind: if rooms.tracker.is_dm(&room_id) {
                            ChatKind::Direct
                        } else {
                            ChatKind::Group
                        },
                        sender_id: sender.clone(),
                        sender_name: Some(sender),
                        text,
                        reply_to_bot: false,
                        mentioned,
                    };
                    if !self.pipeline.worth_recording(&inbound) {
                        continue;
                    }
                    let payload = json!(Recorded {
                        event_id: event_id.clone(),
                        inbound,
                    });
                    batch.push((Some(event_id), room_id, payload));
                }
            }
        }
        for room in encrypted {
            if rooms.notified.contains(&room) || !sync.rooms.join.contains_key(&room) {
                continue;
            }
            // Deduplicated by the homeserver too (same transaction id).
            match client
                .send_notice(
                    &room,
                    &txn_id(&format!("encrypted-room:{room}"), 0),
                    ENCRYPTED_ROOM_NOTICE,
                )
                .await
            {
                Ok(_) => {
                    tracing::warn!(
                        "matrix: {room} is end-to-end encrypted; told the room we cannot read it"
                    );
                    rooms.notified.insert(room);
                    if let Err(e) =
                        openclaw_state::write_json(&self.notified_path(), &rooms.notified)
                    {
                        tracing::warn!("matrix: cannot record the notice: {e}");
                    }
                }
                Err(e) => {
                    tracing::warn!("matrix: cannot post the encrypted-room notice in {room}: {e}")
                }
            }
        }
        let n = batch.len();
        self.pipeline
            .receive_keyed(batch, Some(&encode_cursor(user, &sync.next_batch)), stop)
            .map_err(|e| format!("cannot record messages: {e}"))?;
        if n > 0 {
            self.status.touch();
        }
        Ok(())
    }

    async fn invite(&self, client: &MatrixClient, rooms: &mut Rooms, room_id: &str, inviter: &str) {
        let c = &self.s.config;
        let policy = match c.auto_join() {
            channels_net::AutoJoin::Off => AutoJoin::Off,
            channels_net::AutoJoin::Allowlist => AutoJoin::Allowlist,
            channels_net::AutoJoin::Always => AutoJoin::Always,
        };
        let mut allowed = Vec::new();
        for entry in c.auto_join_allowlist.iter().flatten() {
            if !entry.starts_with('#') {
                allowed.push(entry.clone());
                continue;
            }
            // Aliases through the homeserver directory, never what the
            // inviting room says about itself.
            if let Some(id) = rooms.aliases.get(entry) {
                allowed.push(id.clone());
                continue;
            }
            match client.resolve_alias(entry).await {
                Ok(id) => {
                    rooms.aliases.insert(entry.clone(), id.clone());
                    allowed.push(id);
                }
                Err(e) => tracing::warn!("matrix: cannot resolve autoJoinAllowlist {entry}: {e}"),
            }
        }
        if !openclaw_matrix::should_auto_join(policy, &allowed, room_id) {
            tracing::info!(
                "matrix: invite to {room_id} from {inviter} left alone (autoJoin {:?}); list the room in channels.matrix.autoJoinAllowlist to accept such invites",
                c.auto_join()
            );
            return;
        }
        match client.join(room_id).await {
            Ok(_) => tracing::info!("matrix: joined {room_id} (invited by {inviter})"),
            Err(e) => tracing::warn!("matrix: cannot join {room_id}: {e}"),
        }
    }
}

/// What the sync loop knows about rooms.
struct Rooms {
    tracker: RoomTracker,
    /// Rooms already told that we cannot read encrypted messages.
    notified: BTreeSet<String>,
    /// `autoJoinAllowlist` aliases resolved so far.
    aliases: HashMap<String, String>,
}

impl Channel for MatrixChannel {
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
        Box::pin(self.run_loop(stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_cursor_belongs_to_its_account() {
        let c = encode_cursor("@bot:hs", "s72_1");
        assert_eq!(resume_from(Some(&c), "@bot:hs"), Ok(Some("s72_1".into())));
        assert_eq!(resume_from(Some(&c), "@other:hs"), Err("@bot:hs".into()));
        assert_eq!(resume_from(None, "@bot:hs"), Ok(None));
        // a bare next_batch from before: whose is unknown, start afresh
        assert!(resume_from(Some("s72_1"), "@bot:hs").is_err());
    }

    #[test]
    fn secrets_from_files_and_hints_that_name_them() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("tok"), "syt_from_file\n").unwrap();
        let cfg: Matrix =
            serde_json::from_value(json!({"homeserver": "https://m", "accessTokenFile": "~/tok"}))
                .unwrap();
        let s = resolve_secrets(&cfg, d.path()).unwrap();
        assert_eq!(s.access_token.as_deref(), Some("syt_from_file"));
        assert!(!format!("{s:?}").contains("syt_from_file"));
        let hint = login_hint(&cfg, d.path(), "openclaw --profile rescue");
        assert!(
            hint.contains(&d.path().join("tok").display().to_string()),
            "{hint}"
        );
        assert!(
            hint.contains(
                "openclaw --profile rescue config set channels.matrix.accessTokenFile <FILE>"
            ),
            "{hint}"
        );
        std::os::unix::fs::symlink(d.path().join("tok"), d.path().join("link")).unwrap();
        let linked: Matrix = serde_json::from_value(
            json!({"homeserver": "https://m", "userId": "@b:m", "passwordFile": "~/link"}),
        )
        .unwrap();
        let e = resolve_secrets(&linked, d.path()).unwrap_err();
        assert!(
            e.contains("channels.matrix.passwordFile") && e.contains("symlink"),
            "{e}"
        );
        let inline: Matrix = serde_json::from_value(
            json!({"homeserver": "https://m", "userId": "@b:m", "password": "pw"}),
        )
        .unwrap();
        assert_eq!(
            resolve_secrets(&inline, d.path())
                .unwrap()
                .password
                .as_deref(),
            Some("pw")
        );
        assert_eq!(
            login_hint(&inline, d.path(), "openclaw"),
            "fix the credentials with `openclaw config set channels.matrix.password <PASSWORD>`"
        );
    }

    #[test]
    fn addresses_are_stripped() {
        assert_eq!(strip_address("clawbot: hi", "@clawbot:hs"), "hi");
        assert_eq!(
            strip_address("@clawbot:hs hi there", "@clawbot:hs"),
            "hi there"
        );
        assert_eq!(strip_address("@clawbot:hs: hi", "@clawbot:hs"), "hi");
        assert_eq!(
            strip_address("hello clawbot", "@clawbot:hs"),
            "hello clawbot"
        );
    }
}
