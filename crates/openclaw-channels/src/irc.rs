//! IRC on the channel pipeline: the connection is `openclaw-irc`'s task
//! (registration, 433 fallback nicks, NickServ, JOIN, flood control,
//! splitting below 512 bytes, CTCP VERSION, reconnect with backoff and
//! rejoin); this module records what it delivers and answers through it.
//!
//! Mapping onto the layer: a DM's chat is the sender's nick (answers go to
//! the nick), a channel message's chat is `#room`; the sender id is the
//! stable `nick!user@host` mask that allowlists, pairing approvals and
//! `commands.ownerAllowFrom` (`irc:<mask>`) match, with `*`/`?` wildcards
//! ([`SenderMatch::IrcMask`]). IRC has no message ids and no replay, so the
//! ledger numbers each line itself (`receive_keyed` without a key) the
//! moment it arrives: a line recorded before a crash is answered after the
//! restart, a line sent while the bot was disconnected never reached it.
//! Every DM answer (an agent's, a pairing code, an owner command's reply)
//! is sent with [`IrcHandle::privmsg_checked`]: right before its lines are
//! written — on whatever connection writes them, also after a reconnect or
//! a restart — `USERHOST` must show the nick still held by the `user@host`
//! that wrote; otherwise the answer is dropped with a log line, so it never
//! reaches whoever took the nick meanwhile (nicks change hands while a
//! turn runs).
//!
//! States: `starting` → `running` (registered); `error` while the server is
//! unreachable (the transport retries with backoff, 2 s doubling to 5 min);
//! `unauthorized` when the server refuses the password (464, or an ERROR
//! that says so), still retrying, with the command that fixes it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use openclaw_config::channels_net::{Irc, irc_eq};
use openclaw_irc::{IrcConfig, IrcError, IrcEvent, IrcHandle, NickServ};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::access::{Access, SenderMatch};
use crate::ledger::{Entry, Ledger};
use crate::pipeline::{
    ChatRules, Live, Pipeline, PipelineSettings, SendError, StatusCell, Transport,
};
use crate::{AgentRunner, Channel, ChannelState, ChannelStatus, ChatKind, Inbound};

pub const CHANNEL: &str = "irc";

/// Characters per answer chunk (each chunk is recorded as sent; the
/// transport splits it further into lines below 512 bytes).
pub const TEXT_CHUNK_LIMIT: usize = 400;

/// Everything an IRC account needs, resolved from the config.
#[derive(Clone)]
pub struct IrcSettings {
    pub account: String,
    pub state_dir: PathBuf,
    pub config: Irc,
    /// The connection (server, nick, secrets, channels, timings); built by
    /// [`IrcSettings::new`], adjustable (tests shorten the backoff).
    pub transport: IrcConfig,
    /// The command prefix that selects this instance (`openclaw --profile
    /// rescue`): the pairing message and the hints name it.
    pub cli: String,
    /// What fixes a refused server password ([`password_hint`]).
    pub password_hint: String,
}

/// What `channels status` says fixes a refused server password: the key the
/// section uses (`passwordFile` names its file; validation forbids both).
pub fn password_hint(cfg: &Irc, home: &Path, cli: &str) -> String {
    match &cfg.password_file {
        Some(f) => format!(
            "write the right password to {} (channels.irc.passwordFile) and run `{cli} gateway restart`, or point passwordFile at another file with `{cli} config set channels.irc.passwordFile <FILE>` (retrying meanwhile)",
            crate::token::expand_home(f, home).display()
        ),
        None if cfg.password.is_some() => format!(
            "set the right password with `{cli} config set channels.irc.password <PASSWORD>` (retrying meanwhile)"
        ),
        None => format!(
            "the server wants a password: put it in a file and run `{cli} config set channels.irc.passwordFile <FILE>` (retrying meanwhile)"
        ),
    }
}

/// The server password and NickServ identification of a section
/// (`password`/`passwordFile`, `nickserv.*`), read now.
pub fn resolve_secrets(
    cfg: &Irc,
    home: &Path,
) -> Result<(Option<String>, Option<NickServ>), String> {
    let password = match (&cfg.password, &cfg.password_file) {
        (Some(p), _) if !p.expose().trim().is_empty() => Some(p.expose().trim().to_string()),
        (_, Some(f)) => {
            let pw = crate::token::read_secret_file(f, home, "channels.irc.passwordFile")?.1;
            // Read from a file: the log writer does not know it otherwise.
            openclaw_config::register_secrets([pw.clone()]);
            Some(pw)
        }
        _ => None,
    };
    let nickserv = match &cfg.nickserv {
        Some(ns) if ns.enabled != Some(false) => {
            let pw = match (&ns.password, &ns.password_file) {
                (Some(p), _) if !p.expose().trim().is_empty() => {
                    Some(p.expose().trim().to_string())
                }
                (_, Some(f)) => {
                    let pw = crate::token::read_secret_file(
                        f,
                        home,
                        "channels.irc.nickserv.passwordFile",
                    )?
                    .1;
                    openclaw_config::register_secrets([pw.clone()]);
                    Some(pw)
                }
                _ => None,
            };
            match pw {
                Some(password) => Some(NickServ {
                    service: ns.service.clone().unwrap_or_else(|| "NickServ".into()),
                    password,
                }),
                None if ns.enabled == Some(true) => {
                    return Err(
                        "channels.irc.nickserv is enabled but has no password or passwordFile"
                            .into(),
                    );
                }
                None => None,
            }
        }
        _ => None,
    };
    Ok((password, nickserv))
}

impl IrcSettings {
    /// Settings for `cfg`, its secrets read from `home`-relative files;
    /// `cli` is the instance's command prefix (`Instance::cli_prefix`).
    pub fn new(
        account: &str,
        state_dir: &Path,
        cfg: Irc,
        home: &Path,
        cli: &str,
    ) -> Result<IrcSettings, String> {
        let (password, nickserv) = resolve_secrets(&cfg, home)?;
        let mut t = IrcConfig::new(cfg.host.trim(), cfg.nick.clone());
        t.port = cfg.port();
        t.tls = cfg.tls();
        t.username = cfg.username().to_string();
        t.realname = cfg.realname().to_string();
        t.password = password;
        t.nickserv = nickserv;
        t.channels = cfg.channels.clone().unwrap_or_default();
        Ok(IrcSettings {
            account: account.into(),
            state_dir: state_dir.to_path_buf(),
            password_hint: password_hint(&cfg, home, cli),
            config: cfg,
            transport: t,
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
            matcher: SenderMatch::IrcMask,
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
            chat_rules: Arc::new(move |chat: &str| ChatRules {
                require_mention: config.require_mention(chat),
                allow_from: group_allow_from(&config, chat),
            }),
            cli: self.cli.clone(),
        }
    }
}

/// `groups."#room".allowFrom` (IRC case mapping), else `groups."*"`.
fn group_allow_from(c: &Irc, chat: &str) -> Option<Vec<String>> {
    let groups = c.groups.as_ref()?;
    groups
        .iter()
        .find(|(k, _)| irc_eq(k, chat))
        .and_then(|(_, g)| g.allow_from.clone())
        .or_else(|| groups.get("*").and_then(|g| g.allow_from.clone()))
}

/// What the ledger keeps of an IRC line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recorded {
    inbound: Inbound,
}

/// The text without a leading `nick:` / `nick,` address.
fn strip_address(text: &str, nick: &str) -> String {
    let t = text.trim();
    if let Some(head) = t.get(..nick.len())
        && head.eq_ignore_ascii_case(nick)
    {
        let rest = &t[nick.len()..];
        if let Some(r) = rest.strip_prefix([':', ',']) {
            return r.trim().to_string();
        }
    }
    t.to_string()
}

/// The layer's view of an IRC line.
pub fn to_inbound(account: &str, m: &openclaw_irc::Inbound, own_nick: &str) -> Inbound {
    let text = if m.is_action {
        format!("* {} {}", m.nick, m.text)
    } else if m.is_dm {
        m.text.trim().to_string()
    } else {
        strip_address(&m.text, own_nick)
    };
    Inbound {
        channel: CHANNEL.into(),
        account: account.into(),
        chat_id: m.reply_target().to_string(),
        chat_kind: if m.is_dm {
            ChatKind::Direct
        } else {
            ChatKind::Group
        },
        sender_id: m.sender_mask(),
        sender_name: Some(m.nick.clone()),
        text,
        reply_to_bot: false,
        mentioned: m.mentioned,
    }
}

/// IRC's side of the pipeline: answers go out through the connection.
struct IrcTransport {
    handle: Mutex<Option<IrcHandle>>,
}

impl Transport for IrcTransport {
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
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Box::pin(async move {
            let Some(h) = handle else {
                return Err(SendError::Transient("not connected yet".into()));
            };
            let text = &e.chunks[i];
            // A DM goes only to the person who wrote: checked by the
            // connection right before it writes the lines.
            let person = serde_json::from_value::<Recorded>(e.update.clone())
                .ok()
                .filter(|r| r.inbound.chat_kind == ChatKind::Direct)
                .map(|r| r.inbound.sender_id);
            // Resolves once every line is on the socket; while the server
            // is away it waits for the reconnect.
            let sent = match person.as_deref().and_then(|m| m.split_once('!')) {
                Some((_, userhost)) => h.privmsg_checked(&e.chat_id, userhost, text).await,
                None if openclaw_irc::proto::is_channel(&e.chat_id) => {
                    h.privmsg(&e.chat_id, text).await
                }
                // A DM whose sender was not recorded: never guess.
                None => {
                    return Err(SendError::Refused(format!(
                        "no sender identity recorded for the DM to {}; not sent",
                        e.chat_id
                    )));
                }
            };
            sent.map_err(|err| match err {
                IrcError::NotThem { .. } => SendError::Refused(err.to_string()),
                IrcError::Stopped | IrcError::NoAnswer(..) => SendError::Transient(err.to_string()),
            })
        })
    }
}

pub struct IrcChannel {
    s: IrcSettings,
    pipeline: Arc<Pipeline>,
    transport: Arc<IrcTransport>,
    status: StatusCell,
}

impl IrcChannel {
    pub fn new(
        s: IrcSettings,
        ledger: Arc<Ledger>,
        runner: Arc<dyn AgentRunner>,
        live: Arc<Live>,
    ) -> Arc<IrcChannel> {
        let transport = Arc::new(IrcTransport {
            handle: Mutex::new(None),
        });
        let pipeline = Pipeline::new(s.pipeline(), ledger, runner, live, transport.clone());
        let status = StatusCell::new(&s.state_dir, CHANNEL, &s.account);
        Arc::new(IrcChannel {
            s,
            pipeline,
            transport,
            status,
        })
    }

    fn disconnected(&self, error: String) {
        // 464 ERR_PASSWDMISMATCH; ngircd and others say it in ERROR instead
        // ("Access denied: Bad password?").
        let refused = error.contains("(464)")
            || (self.s.transport.password.is_some()
                && error.starts_with("server closed the link")
                && error.to_ascii_lowercase().contains("password"));
        if refused {
            self.status.set_state(
                ChannelState::Unauthorized,
                Some(format!(
                    "{}:{} refused the server password",
                    self.s.transport.host, self.s.transport.port
                )),
                Some(self.s.password_hint.clone()),
            );
        } else {
            self.status
                .set_state(ChannelState::Error, Some(error), None);
        }
    }

    async fn run_loop(self: Arc<Self>, stop: CancellationToken) {
        self.status.set_state(ChannelState::Starting, None, None);
        let (handle, mut events) = openclaw_irc::spawn(self.s.transport.clone());
        *self
            .transport
            .handle
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(handle.clone());
        // Resume what a previous run left unfinished (answers queue until
        // the connection is registered), and sweep from now on.
        self.pipeline.start_sweeping(&stop);
        let mut nick = self.s.transport.nick.clone();
        loop {
            let ev = tokio::select! {
                _ = stop.cancelled() => break,
                ev = events.recv() => ev,
            };
            match ev {
                None => {
                    self.status.set_state(
                        ChannelState::Error,
                        Some("the IRC connection task ended".into()),
                        None,
                    );
                    return;
                }
                Some(IrcEvent::Connected { nick: n }) => {
                    nick = n.clone();
                    self.status.modify(|st| st.bot_username = Some(n));
                    self.status.set_state(ChannelState::Running, None, None);
                }
                Some(IrcEvent::Joined { channel }) => {
                    tracing::info!("irc: joined {channel}");
                }
                Some(IrcEvent::Disconnected { error, retry_in }) => {
                    tracing::info!("irc: reconnecting in {}s", retry_in.as_secs());
                    self.disconnected(error);
                }
                Some(IrcEvent::Message(m)) => {
                    let current = handle.status().nick.unwrap_or_else(|| nick.clone());
                    let inbound = to_inbound(&self.s.account, &m, &current);
                    if !self.pipeline.worth_recording(&inbound) {
                        continue;
                    }
                    let chat = inbound.chat_id.clone();
                    let payload = json!(Recorded { inbound });
                    match self
                        .pipeline
                        .receive_keyed(vec![(None, chat, payload)], None, &stop)
                    {
                        Ok(_) => self.status.touch(),
                        // IRC does not resend: say so loudly.
                        Err(e) => tracing::error!(
                            "irc: cannot record a message from {}; it is lost: {e}",
                            m.sender_mask()
                        ),
                    }
                }
            }
        }
        handle.quit("OpenClaw gateway stopping");
        // Until QUIT is out, so a restarted channel can take the same nick.
        let mut w = handle.watch_status();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            w.wait_for(|s| s.state == openclaw_irc::ConnState::Stopped),
        )
        .await;
        self.status.set_state(ChannelState::Stopped, None, None);
    }
}

impl Channel for IrcChannel {
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

    fn line(nick: &str, target: &str, text: &str, is_dm: bool) -> openclaw_irc::Inbound {
        openclaw_irc::Inbound {
            nick: nick.into(),
            user: "~u".into(),
            host: "host.example".into(),
            target: target.into(),
            text: text.into(),
            is_dm,
            mentioned: is_dm || text.to_lowercase().contains("clawbot"),
            is_action: false,
        }
    }

    #[test]
    fn lines_map_onto_the_layer() {
        let dm = to_inbound(
            "default",
            &line("alice", "clawbot", " hi ", true),
            "clawbot",
        );
        assert_eq!(dm.chat_id, "alice", "a DM is answered to the nick");
        assert_eq!(dm.chat_kind, ChatKind::Direct);
        assert_eq!(dm.sender_id, "alice!~u@host.example");
        assert_eq!(dm.text, "hi");
        let g = to_inbound(
            "default",
            &line("bob", "#room", "ClawBot: what's up?", false),
            "clawbot",
        );
        assert_eq!(
            (g.chat_id.as_str(), g.chat_kind),
            ("#room", ChatKind::Group)
        );
        assert!(g.mentioned);
        assert_eq!(g.text, "what's up?");
        let g = to_inbound(
            "default",
            &line("bob", "#room", "hey clawbot", false),
            "clawbot",
        );
        assert_eq!(g.text, "hey clawbot");
        let mut act = line("bob", "#room", "waves", false);
        act.is_action = true;
        assert_eq!(to_inbound("default", &act, "clawbot").text, "* bob waves");
    }

    #[test]
    fn the_password_hint_names_the_key_the_section_uses() {
        let home = Path::new("/home/u");
        let cli = "openclaw --profile rescue";
        let cfg = |v: Value| -> Irc { serde_json::from_value(v).unwrap() };
        let file = password_hint(
            &cfg(json!({"host": "h", "nick": "b", "passwordFile": "~/.secrets/irc"})),
            home,
            cli,
        );
        assert!(file.contains("/home/u/.secrets/irc"), "{file}");
        assert!(
            file.contains("openclaw --profile rescue config set channels.irc.passwordFile <FILE>"),
            "{file}"
        );
        assert!(!file.contains("channels.irc.password <"), "{file}");
        let inline = password_hint(
            &cfg(json!({"host": "h", "nick": "b", "password": "x"})),
            home,
            cli,
        );
        assert!(
            inline.contains(
                "`openclaw --profile rescue config set channels.irc.password <PASSWORD>`"
            ),
            "{inline}"
        );
        let none = password_hint(&cfg(json!({"host": "h", "nick": "b"})), home, cli);
        assert!(none.contains("channels.irc.passwordFile <FILE>"), "{none}");
    }

    #[test]
    fn secrets_from_files_and_per_group_allowlists() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("pw"), "s3cret\n").unwrap();
        let cfg: Irc = serde_json::from_value(json!({
            "host": "irc.example", "nick": "clawbot", "passwordFile": "~/pw",
            "nickserv": {"password": "ns"},
            "groups": {"#Room": {"allowFrom": ["*"]}, "*": {"allowFrom": ["bob!*@*"]}}
        }))
        .unwrap();
        let (pw, ns) = resolve_secrets(&cfg, d.path()).unwrap();
        assert_eq!(pw.as_deref(), Some("s3cret"));
        let ns = ns.unwrap();
        assert_eq!(
            (ns.service.as_str(), ns.password.as_str()),
            ("NickServ", "ns")
        );
        assert_eq!(group_allow_from(&cfg, "#room"), Some(vec!["*".to_string()]));
        assert_eq!(
            group_allow_from(&cfg, "#other"),
            Some(vec!["bob!*@*".to_string()])
        );
        let missing: Irc = serde_json::from_value(
            json!({"host": "h", "nick": "b", "passwordFile": "/nonexistent/pw"}),
        )
        .unwrap();
        let e = resolve_secrets(&missing, d.path()).unwrap_err();
        assert!(e.contains("channels.irc.passwordFile"), "{e}");
    }
}
