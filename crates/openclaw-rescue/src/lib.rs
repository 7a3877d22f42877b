//! openclaw-rescue: the rescue role. A gateway with `rescue.enabled`
//! inspects and repairs the other instances on its host — from an owner's
//! direct messages on any channel, from WebChat, and through its agent's
//! tools — and works without any model configured.
//!
//! - [`command`]: parsing `/help`, `/instances`, `/status <p>`, `/logs <p>
//!   [N]`, `/doctor [<p>]`, `/config <p> get|set|unset|validate|rollback`,
//!   `/start|/stop|/restart <p>`, `/confirm <code>`.
//! - [`targets`]: which instance a name means, and whether this rescue
//!   instance may act on it (`rescue.targets`, never itself).
//! - [`actions`]: what each command does, through our own libraries.
//! - [`confirm`]: confirmation codes (4 characters, 5 minutes, bound to the
//!   owner who asked, single use).
//! - [`audit`]: the audit log in this instance's state dir.
//!
//! [`Rescue`] ties them together: [`Rescue::command`] answers a message
//! (the channels' `CommandRunner` and WebChat call it), [`Rescue::tool`]
//! runs an agent tool call (the agent's `InstanceTools`). Both read this
//! instance's config afresh on every call (`rescue.enabled`,
//! `rescue.targets`, `commands.ownerAllowFrom`), so a config change applies
//! at once. The work runs on a blocking thread: it reads files, probes
//! ports and may wait for a gateway to come up.
//!
//! Invariant: nothing here reads this process's environment. A gateway
//! that a rescue command starts gets an environment built from scratch for
//! its instance (host basics passed in at construction, plus exactly that
//! instance's selectors), so a rescue gateway that runs with another
//! instance's `OPENCLAW_*` variables still acts on exactly the instance a
//! command names.

pub mod actions;
pub mod audit;
pub mod command;
pub mod confirm;
pub mod targets;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use openclaw_config::Config;
use openclaw_host::services::HostFacts;
use openclaw_instance::Instance;
use serde_json::Value;

use crate::actions::{Change, PrepareOp};
use crate::audit::{Audit, Record};
use crate::command::{Command, ConfigOp, Parsed};
use crate::confirm::{CODE_TTL, Confirmations, Refused};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// `<channel>:<senderId>`, or `webchat:<sessionKey>`.
    pub id: String,
    /// In `commands.ownerAllowFrom` (for WebChat: a connection with
    /// `operator.admin`).
    pub owner: bool,
    /// `command` (a message) or `tool` (an agent's tool call).
    pub via: &'static str,
}

/// A change parked behind a confirmation code.
#[derive(Debug, Clone)]
struct Parked {
    /// The target as named.
    name: String,
    /// Its state dir when asked (the confirmed action must hit the same).
    state_dir: PathBuf,
    change: Change,
    /// The reason given when it was asked for, recorded again when it is
    /// confirmed.
    reason: Option<String>,
}

struct Inner {
    me: Instance,
    host: HostFacts,
    env: Vec<(String, String)>,
    pending: Mutex<Confirmations<Parked>>,
    audit: Audit,
}

/// The rescue role of one gateway. Cheap to clone.
#[derive(Clone)]
pub struct Rescue {
    inner: Arc<Inner>,
}

/// A reply and whether the action succeeded (for tool results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub ok: bool,
}

impl Reply {
    fn ok(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ok: true,
        }
    }
    fn err(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ok: false,
        }
    }
}

/// The refusal a non-owner gets.
pub fn refusal(word: &str) -> String {
    format!(
        "Sorry, only the owner of this rescue bot can use /{word}. This attempt has been logged."
    )
}

impl Rescue {
    /// The rescue role of the instance `me`. `env` are the host basics a
    /// gateway it starts may inherit (the caller filters its environment
    /// with `openclaw_ops::lifecycle::is_host_basic`).
    pub fn new(me: Instance, host: HostFacts, env: Vec<(String, String)>) -> Rescue {
        let audit = Audit::new(&me.state_dir.value);
        let env = env
            .into_iter()
            .filter(|(k, _)| openclaw_ops::lifecycle::is_host_basic(k))
            .collect();
        Rescue {
            inner: Arc::new(Inner {
                me,
                host,
                env,
                pending: Mutex::new(Confirmations::default()),
                audit,
            }),
        }
    }

    /// The audit log.
    pub fn audit(&self) -> &Audit {
        &self.inner.audit
    }

    /// This instance's config now (`None` when it cannot be read).
    fn config(&self) -> Option<Config> {
        openclaw_state::ConfigStore::new(self.inner.me.config_path.value.clone())
            .load()
            .ok()
            .flatten()
            .map(|l| l.parsed.config)
    }

    /// Whether `rescue.enabled` is set in this instance's config now.
    pub fn enabled(&self) -> bool {
        self.config()
            .and_then(|c| c.rescue)
            .is_some_and(|r| r.enabled())
    }

    fn log(
        &self,
        who: &Requester,
        command: &str,
        target: Option<&str>,
        outcome: &str,
        detail: &str,
        reason: Option<&str>,
    ) {
        let rec = Record {
            ts: openclaw_state::owner::rfc3339_utc(SystemTime::now()),
            requester: who.id.clone(),
            owner: who.owner,
            via: who.via.into(),
            command: command.into(),
            target: target.map(str::to_string),
            outcome: outcome.into(),
            detail: openclaw_config::redact_text(detail).into_owned(),
            reason: reason.map(|r| openclaw_config::redact_text(r).into_owned()),
        };
        tracing::info!(
            "rescue: {} {} ({}) {command} → {outcome}",
            who.via,
            who.id,
            if who.owner { "owner" } else { "not an owner" }
        );
        if let Err(e) = self.inner.audit.append(rec) {
            tracing::warn!(
                "rescue: cannot append to the audit log {}: {e}",
                self.inner.audit.path().display()
            );
        }
    }

    /// The reply to a message, or `None` when it is not a rescue command
    /// (or the rescue role is off): then the message goes on through the
    /// pipeline like any other. A non-owner's repair command is answered
    /// with one polite refusal and logged; it never runs.
    pub fn command(&self, who: Requester, text: &str) -> Option<BoxFuture<'static, String>> {
        let (text, reason) = command::split_reason(text);
        let reason = reason.map(str::to_string);
        let parsed = command::parse(text);
        if parsed == Parsed::NotCommand || !self.enabled() {
            return None;
        }
        if !who.owner {
            if !parsed.is_repair_attempt(text) {
                return None;
            }
            let word = parsed.word().unwrap_or("help").to_string();
            let shown = match &parsed {
                Parsed::Command(c) => c.audit_text(),
                _ => format!("/{word}"),
            };
            self.log(
                &who,
                &shown,
                None,
                "refused",
                "not an owner",
                reason.as_deref(),
            );
            let text = refusal(&word);
            return Some(Box::pin(async move { text }));
        }
        let me = self.clone();
        Some(Box::pin(async move {
            tokio::task::spawn_blocking(move || me.respond_because(&who, parsed, reason).text)
                .await
                .unwrap_or_else(|e| format!("the rescue command failed: {e}"))
        }))
    }

    /// Runs an agent tool call (see `openclaw_agent::INSTANCE_TOOLS`) in
    /// the session `session_key` for `caller`: who the turn runs for, as
    /// whoever started it established it (a channel's owner rule for the
    /// message's sender in a direct chat; for WebChat, whether the
    /// connection that sent `chat.send` holds `operator.admin`). Ownership
    /// is never inferred from the session key: an unknown caller is not an
    /// owner. Group sessions get nothing. Changing tools only park the
    /// change behind a confirmation code.
    pub fn tool(
        &self,
        name: &str,
        args: Value,
        session_key: &str,
        caller: Option<&openclaw_agent::Caller>,
    ) -> BoxFuture<'static, Result<String, String>> {
        let me = self.clone();
        let name = name.to_string();
        let who = Self::tool_requester(session_key, caller);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || me.tool_blocking(&name, &args, who))
                .await
                .unwrap_or_else(|e| Err(format!("the tool failed: {e}")))
        })
    }

    /// The requester of a tool call: the turn's caller, or nobody (not an
    /// owner) when the turn has none; refused outright in a group session.
    fn tool_requester(
        session_key: &str,
        caller: Option<&openclaw_agent::Caller>,
    ) -> Result<Requester, String> {
        if session_key.split(':').nth(1) == Some("group") {
            return Err(
                "the rescue tools work only in a direct chat with the owner, not in a group".into(),
            );
        }
        Ok(match caller {
            Some(c) => Requester {
                id: c.id.clone(),
                owner: c.owner,
                via: "tool",
            },
            None => Requester {
                id: format!("unknown:{session_key}"),
                owner: false,
                via: "tool",
            },
        })
    }

    fn tool_blocking(
        &self,
        name: &str,
        args: &Value,
        who: Result<Requester, String>,
    ) -> Result<String, String> {
        if !self.enabled() {
            return Err("the rescue role is off on this instance (rescue.enabled is false)".into());
        }
        let who = who?;
        let s = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
        let profile = || {
            s("profile").ok_or_else(|| {
                format!("{name}: missing string argument 'profile' (an instance: a profile name, \"default\", or a state dir)")
            })
        };
        let cmd = match name {
            "instances_list" => Command::Instances,
            "instance_status" => Command::Status { target: profile()? },
            "instance_logs" => Command::Logs {
                target: profile()?,
                lines: args
                    .get("lines")
                    .and_then(Value::as_u64)
                    .map(|n| (n as usize).clamp(1, command::MAX_LOG_LINES))
                    .unwrap_or(command::DEFAULT_LOG_LINES),
            },
            "instance_doctor" => Command::Doctor {
                target: s("profile"),
            },
            "instance_config_get" => Command::Config {
                target: profile()?,
                op: ConfigOp::Get { path: s("path") },
            },
            "instance_config_patch" => {
                let target = profile()?;
                let path =
                    || s("path").ok_or_else(|| format!("{name}: missing string argument 'path'"));
                let op = match s("action").as_deref() {
                    Some("set") => ConfigOp::Set {
                        path: path()?,
                        value: match args.get("value") {
                            Some(v) => serde_json::to_string(v).unwrap_or_default(),
                            None => return Err(format!("{name}: action set needs 'value'")),
                        },
                    },
                    Some("unset") => ConfigOp::Unset { path: path()? },
                    Some("rollback") => ConfigOp::Rollback,
                    other => {
                        return Err(format!(
                            "{name}: action must be \"set\", \"unset\" or \"rollback\", got {other:?}"
                        ));
                    }
                };
                Command::Config { target, op }
            }
            "instance_restart" => Command::Lifecycle {
                target: profile()?,
                op: command::LifeOp::Restart,
            },
            other => return Err(format!("unknown rescue tool {other:?}")),
        };
        // Why the agent asks (it is told to say so for a change).
        let reason = s("reason").filter(|r| !r.trim().is_empty());
        if !who.owner {
            self.log(
                &who,
                &cmd.audit_text(),
                None,
                "refused",
                "not an owner",
                reason.as_deref(),
            );
            return Err(
                "only the owner may inspect or repair other instances, and this chat is not the owner's"
                    .into(),
            );
        }
        let r = self.respond_because(&who, Parsed::Command(cmd), reason);
        if r.ok { Ok(r.text) } else { Err(r.text) }
    }

    fn ctx<'a>(&'a self, config: &'a Option<Config>) -> actions::Ctx<'a> {
        actions::Ctx {
            me: &self.inner.me,
            host: &self.inner.host,
            env: &self.inner.env,
            targets: config
                .as_ref()
                .and_then(|c| c.rescue.as_ref())
                .and_then(|r| r.targets.as_deref()),
        }
    }

    fn target(&self, config: &Option<Config>, name: &str) -> Result<targets::Target, String> {
        let ctx = self.ctx(config);
        targets::resolve(
            &self.inner.me.home,
            &self.inner.me.state_dir.value,
            ctx.targets,
            name,
        )
        .map_err(|e| e.to_string())
    }

    /// Answers an owner's command (blocking), audits it, redacts the reply.
    pub fn respond(&self, who: &Requester, parsed: Parsed) -> Reply {
        self.respond_because(who, parsed, None)
    }

    /// [`Self::respond`] with the reason the requester gave (a chat
    /// command's ` -- <reason>`, a tool call's `reason`): kept in the audit
    /// record, and for a change also in the record of its confirmation.
    pub fn respond_because(
        &self,
        who: &Requester,
        parsed: Parsed,
        mut reason: Option<String>,
    ) -> Reply {
        let config = self.config();
        let (shown, reply, target, outcome) = match parsed {
            Parsed::NotCommand => return Reply::err(command::help()),
            Parsed::Usage { word, message } => {
                let r = Reply::err(format!("{message}\n(/help lists every command)"));
                (format!("/{word}"), r, None, "usage")
            }
            Parsed::Command(cmd) => {
                cmd.register_secret_values();
                let shown = cmd.audit_text();
                let (r, target, outcome) = self.run(who, &config, cmd, &mut reason);
                (shown, r, target, outcome)
            }
        };
        self.finish(who, &shown, reply, target, outcome, reason.as_deref())
    }

    /// Audits an answered command and redacts its reply.
    fn finish(
        &self,
        who: &Requester,
        shown: &str,
        reply: Reply,
        target: Option<String>,
        outcome: &str,
        reason: Option<&str>,
    ) -> Reply {
        let detail = if reply.ok {
            String::new()
        } else {
            reply.text.lines().next().unwrap_or("").to_string()
        };
        self.log(who, shown, target.as_deref(), outcome, &detail, reason);
        Reply {
            text: openclaw_config::redact_text(&reply.text).into_owned(),
            ok: reply.ok,
        }
    }

    /// (reply, target state dir, audit outcome). `reason`: the one given;
    /// a confirmation without one of its own takes its change's.
    fn run(
        &self,
        who: &Requester,
        config: &Option<Config>,
        cmd: Command,
        reason: &mut Option<String>,
    ) -> (Reply, Option<String>, &'static str) {
        let ctx = self.ctx(config);
        let resolve = |name: &str| self.target(config, name);
        let dir = |t: &targets::Target| Some(t.state_dir().display().to_string());
        match cmd {
            Command::Help => (Reply::ok(command::help()), None, "answered"),
            Command::Instances => (Reply::ok(actions::instances(&ctx)), None, "answered"),
            Command::Confirm { code: None } => {
                let now = SystemTime::now();
                let mut p = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
                let mine = p.pending_for(now, &who.id);
                let text = if mine.is_empty() {
                    "nothing is waiting for your confirmation".to_string()
                } else {
                    let mut s = String::from("waiting for your confirmation:");
                    for x in mine {
                        s.push_str(&format!(
                            "\n• {} — {} ({} s left)",
                            x.code,
                            x.summary.lines().next().unwrap_or(""),
                            x.seconds_left(now)
                        ));
                    }
                    s
                };
                (Reply::ok(text), None, "answered")
            }
            Command::Confirm { code: Some(code) } => self.confirm(who, config, &code, reason),
            Command::Doctor { target: None } => {
                (Reply::ok(actions::doctor(&ctx, None)), None, "answered")
            }
            cmd => {
                let name = cmd.target().unwrap_or_default().to_string();
                let t = match resolve(&name) {
                    Ok(t) => t,
                    Err(e) => return (Reply::err(e), None, "denied"),
                };
                // Whatever the command shows (its log may quote them), the
                // target's secrets are redacted, even from a broken config.
                actions::register_target_secrets(t.config_path());
                match cmd {
                    Command::Status { .. } => {
                        (Reply::ok(actions::status(&ctx, &t)), dir(&t), "answered")
                    }
                    Command::Logs { lines, .. } => {
                        (Reply::ok(actions::logs(&t, lines)), dir(&t), "answered")
                    }
                    Command::Doctor { .. } => (
                        Reply::ok(actions::doctor(&ctx, Some(&t))),
                        dir(&t),
                        "answered",
                    ),
                    Command::Config {
                        op: op @ (ConfigOp::Get { .. } | ConfigOp::Validate),
                        ..
                    } => (
                        Reply::ok(actions::config_read(&t, &op)),
                        dir(&t),
                        "answered",
                    ),
                    Command::Config { op, .. } => {
                        self.park(who, &ctx, &t, PrepareOp::Config(op), reason.clone())
                    }
                    Command::Lifecycle { op, .. } => {
                        self.park(who, &ctx, &t, PrepareOp::Life(op), reason.clone())
                    }
                    _ => (Reply::err(command::help()), None, "usage"),
                }
            }
        }
    }

    /// Prepares a change and parks it behind a code.
    fn park(
        &self,
        who: &Requester,
        ctx: &actions::Ctx<'_>,
        t: &targets::Target,
        op: PrepareOp,
        reason: Option<String>,
    ) -> (Reply, Option<String>, &'static str) {
        let dir = Some(t.state_dir().display().to_string());
        let (change, summary) = match actions::prepare(ctx, t, &op) {
            Ok(x) => x,
            Err(e) => return (Reply::err(e), dir, "invalid"),
        };
        let code = {
            let mut p = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.issue(
                SystemTime::now(),
                &who.id,
                Parked {
                    name: t.name.clone(),
                    state_dir: t.state_dir().to_path_buf(),
                    change,
                    reason,
                },
                summary.clone(),
                confirm::random_code,
            )
        };
        let text = format!(
            "{summary}\nNothing is done yet. To do it, send /confirm {code} within {} minutes (only you can).",
            CODE_TTL.as_secs() / 60
        );
        (Reply::ok(text), dir, "pending")
    }

    fn confirm(
        &self,
        who: &Requester,
        config: &Option<Config>,
        code: &str,
        reason: &mut Option<String>,
    ) -> (Reply, Option<String>, &'static str) {
        let taken = {
            let mut p = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.take(SystemTime::now(), &who.id, code)
        };
        let p = match taken {
            Ok(p) => p,
            Err(Refused::Expired { summary }) => {
                return (
                    Reply::err(format!(
                        "code {code} has expired (codes are valid for {} minutes); nothing was done. Ask again: {}",
                        CODE_TTL.as_secs() / 60,
                        summary.lines().next().unwrap_or("")
                    )),
                    None,
                    "rejected",
                );
            }
            Err(Refused::Unknown | Refused::NotYours) => {
                return (
                    Reply::err(format!(
                        "no action is waiting for you with code {code} (codes work once, for the owner who asked, for {} minutes); /confirm lists yours",
                        CODE_TTL.as_secs() / 60
                    )),
                    None,
                    "rejected",
                );
            }
        };
        let parked = p.action;
        if reason.is_none() {
            reason.clone_from(&parked.reason);
        }
        // The target is resolved again: it must still be allowed and be
        // the very instance the code was issued for.
        let t = match self.target(config, &parked.name) {
            Ok(t) if openclaw_state::same_dir(t.state_dir(), &parked.state_dir) => t,
            Ok(_) => {
                return (
                    Reply::err(format!(
                        "not done: \"{}\" now names another instance than when you asked",
                        parked.name
                    )),
                    None,
                    "failed",
                );
            }
            Err(e) => return (Reply::err(format!("not done: {e}")), None, "failed"),
        };
        actions::register_target_secrets(t.config_path());
        let ctx = self.ctx(config);
        let dir = Some(t.state_dir().display().to_string());
        match actions::execute(&ctx, &t, &parked.change) {
            Ok(text) => (Reply::ok(text), dir, "done"),
            Err(text) => (Reply::err(text), dir, "failed"),
        }
    }
}

/// A command message as a transcript records it: the command as the audit
/// log shows it (a secret value of `/config ... set` redacted), its
/// ` -- <reason>` kept; other text with the registered secrets redacted.
pub fn shown_command(text: &str) -> String {
    let (cmd, reason) = command::split_reason(text);
    let shown = match command::parse(cmd) {
        Parsed::Command(c) => {
            c.register_secret_values();
            match reason {
                Some(r) => format!("{} -- {r}", c.audit_text()),
                None => c.audit_text(),
            }
        }
        // A `/config` not understood may still carry a secret (a mistyped
        // `/config main sett <path> <secret>`): only its first word is kept.
        // The other commands carry no values.
        _ => match cmd.split_whitespace().next() {
            Some(word) if word.eq_ignore_ascii_case("/config") => {
                format!("{word} … (not understood; not shown)")
            }
            _ => text.to_string(),
        },
    };
    openclaw_config::redact_text(&shown).into_owned()
}

impl openclaw_channels::CommandRunner for Rescue {
    fn run(
        &self,
        msg: &openclaw_channels::Inbound,
        is_owner: bool,
    ) -> Option<BoxFuture<'static, String>> {
        self.command(
            Requester {
                id: format!("{}:{}", msg.channel, msg.sender_id),
                owner: is_owner,
                via: "command",
            },
            &msg.text,
        )
    }
}

impl openclaw_agent::InstanceTools for Rescue {
    fn call(
        &self,
        name: &str,
        args: Value,
        session_key: &str,
        caller: Option<&openclaw_agent::Caller>,
    ) -> BoxFuture<'static, Result<String, String>> {
        self.tool(name, args, session_key, caller)
    }
}

#[cfg(test)]
mod tests;
