//! `channels.irc` and `channels.matrix`: the typed sections for the IRC and
//! Matrix channels (transports in `openclaw-irc` / `openclaw-matrix`), their
//! cross-key rules, and the host-wide rule `doctor` checks: two instances
//! must not log into the same IRC server with the same nick, or as the same
//! Matrix user (they would fight over one connection, as two pollers of one
//! Telegram token do).
//!
//! Both are fields of [`crate::channels::Channels`] (`irc`, `matrix`),
//! checked through [`crate::channels::Checked`]. [`DmPolicy`],
//! [`GroupPolicy`] and [`Validate`] are `channels.rs`'s.
//!
//! Secrets: `password`, `nickserv.password` and `accessToken` are
//! [`Secret`]s (redacted `Debug`), and [`crate::redact`] hides them because
//! their keys end in `password`/`token`. `passwordFile` and
//! `accessTokenFile` are paths, not secrets. Unknown keys are left to the
//! config parser, which warns about them like everywhere else.
//!
//! Identity syntax both transports and the CLI share lives here too (the
//! config is below the transports): IRC case mapping ([`irc_lower`],
//! [`irc_eq`]), the shape of a `nick!user@host` mask ([`is_irc_mask`]) and
//! of a Matrix user id ([`is_matrix_user_id`]).

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::Secret;

/// IRC port when `port` is unset: 6697 with TLS, 6667 without.
pub const IRC_TLS_PORT: u16 = 6697;
pub const IRC_PLAIN_PORT: u16 = 6667;

/// The same policies and cross-key rule trait as `channels.telegram`.
pub use crate::channels::{DmPolicy, GroupPolicy, Validate};

// ---------------------------------------------------------------- IRC

/// `channels.irc`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Irc {
    /// Default true when the section exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Server host name or address.
    pub host: String,
    /// Default 6697 with TLS, 6667 without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Default true; set false only for intentional plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    pub nick: String,
    /// Default: the nick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Default `OpenClaw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realname: Option<String>,
    /// Server password (`PASS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A regular file holding the server password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// Channels to join (`["#openclaw"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickserv: Option<IrcNickServ>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Who may DM: `nick!user@host` masks (`*` wildcards allowed), or `"*"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Vec<String>>,
    /// Allow bare nicks in allowlists (nicks can change hands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dangerously_allow_name_matching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    /// Who may talk to the bot in channels (all channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_allow_from: Option<Vec<String>>,
    /// Per-channel settings by name (`"#room"`), or `"*"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<BTreeMap<String, IrcGroup>>,
}

/// `channels.irc.nickserv`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IrcNickServ {
    /// Default true when a password is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Default `NickServ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

/// `channels.irc.groups."#room"`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IrcGroup {
    /// Answer only when the bot's nick is mentioned (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// Who may talk to the bot in this channel (masks or `"*"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Vec<String>>,
}

impl Irc {
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
    pub fn tls(&self) -> bool {
        self.tls.unwrap_or(true)
    }
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls() {
            IRC_TLS_PORT
        } else {
            IRC_PLAIN_PORT
        })
    }
    pub fn username(&self) -> &str {
        self.username.as_deref().unwrap_or(&self.nick)
    }
    pub fn realname(&self) -> &str {
        self.realname.as_deref().unwrap_or("OpenClaw")
    }
    pub fn dm_policy(&self) -> DmPolicy {
        self.dm_policy.unwrap_or(DmPolicy::Pairing)
    }
    pub fn group_policy(&self) -> GroupPolicy {
        self.group_policy.unwrap_or(GroupPolicy::Allowlist)
    }
    /// `groups."#room".requireMention`, else `groups."*"`, else true.
    pub fn require_mention(&self, channel: &str) -> bool {
        let g = self.groups.as_ref();
        g.and_then(|g| g.iter().find(|(k, _)| irc_eq(k, channel)).map(|(_, v)| v))
            .and_then(|x| x.require_mention)
            .or_else(|| g.and_then(|g| g.get("*")).and_then(|x| x.require_mention))
            .unwrap_or(true)
    }
}

fn valid_nick(n: &str) -> bool {
    let special = |c: char| "[]\\`_^{|}".contains(c);
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || special(c))
        && n.len() <= 30
        && chars.all(|c| c.is_ascii_alphanumeric() || special(c) || c == '-')
}

fn irc_channel_name(c: &str) -> bool {
    c.len() > 1 && c.starts_with(['#', '&']) && !c.contains([' ', ',', '\x07'])
}

/// RFC 1459 case mapping (ngircd and most networks): ASCII letters fold,
/// and `[]\\~` are the upper-case forms of `{}|^`. The one definition the
/// IRC transport, the channel layer and doctor's login key use.
pub fn irc_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Equal under IRC case mapping ([`irc_lower`]).
pub fn irc_eq(a: &str, b: &str) -> bool {
    irc_lower(a) == irc_lower(b)
}

/// Whether `s` has the shape of an IRC `nick!user@host` mask: three
/// non-empty parts, no space or comma (IRC's list separator), no `@` in the
/// nick and no `!`/`@` in the host. `wildcards`: whether `*` and `?` may
/// appear (allowlist entries: yes; the one owner, who is one person: no).
/// The one rule for config allowlists and onboarding's owner id.
pub fn is_irc_mask(s: &str, wildcards: bool) -> bool {
    let Some((nick, rest)) = s.split_once('!') else {
        return false;
    };
    let Some((user, host)) = rest.split_once('@') else {
        return false;
    };
    !nick.is_empty()
        && !user.is_empty()
        && !host.is_empty()
        && !s.contains([' ', ','])
        && !nick.contains('@')
        && !host.contains(['!', '@'])
        && (wildcards || !s.contains(['*', '?']))
}

/// An IRC allowlist entry: `"*"`, a `nick!user@host` mask (with `*`/`?`
/// wildcards), or — only with `dangerouslyAllowNameMatching` — a bare nick.
fn check_irc_sender(entry: &str, allow_names: bool, key: &str) -> Result<(), String> {
    if entry == "*" || is_irc_mask(entry, true) {
        return Ok(());
    }
    if allow_names && valid_nick(entry) {
        return Ok(());
    }
    Err(format!(
        "{key} entry {entry:?} is not a nick!user@host mask; a bare nick matches whoever holds that nick, so it needs dangerouslyAllowNameMatching: true"
    ))
}

impl Validate for Irc {
    fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() || self.host.contains([' ', '/']) {
            return Err(format!(
                "host {:?} is not a host name or address",
                self.host
            ));
        }
        if self.port == Some(0) {
            return Err("port must be 1-65535".into());
        }
        if !valid_nick(&self.nick) {
            return Err(format!(
                "nick {:?} is not a valid IRC nick (a letter or one of []\\`_^{{|}} first, then letters, digits, - or those; at most 30)",
                self.nick
            ));
        }
        if self.password.is_some() && self.password_file.is_some() {
            return Err("set password or passwordFile, not both".into());
        }
        if let Some(ns) = &self.nickserv
            && ns.password.is_some()
            && ns.password_file.is_some()
        {
            return Err("nickserv: set password or passwordFile, not both".into());
        }
        for c in self.channels.iter().flatten() {
            if !irc_channel_name(c) {
                return Err(format!(
                    "channels entry {c:?} is not a channel name (\"#room\")"
                ));
            }
        }
        let names = self.dangerously_allow_name_matching.unwrap_or(false);
        for e in self.allow_from.iter().flatten() {
            check_irc_sender(e, names, "allowFrom")?;
        }
        for e in self.group_allow_from.iter().flatten() {
            check_irc_sender(e, names, "groupAllowFrom")?;
        }
        for (k, g) in self.groups.iter().flatten() {
            if k != "*" && !irc_channel_name(k) {
                return Err(format!(
                    "groups key {k:?} is not a channel name (\"#room\") or \"*\""
                ));
            }
            for e in g.allow_from.iter().flatten() {
                check_irc_sender(e, names, &format!("groups.{k}.allowFrom"))?;
            }
        }
        check_open(self.dm_policy, self.allow_from.as_deref())
    }
}

fn check_open(dm: Option<DmPolicy>, allow_from: Option<&[String]>) -> Result<(), String> {
    if dm == Some(DmPolicy::Open) && !allow_from.is_some_and(|a| a.iter().any(|x| x == "*")) {
        return Err(
            "dmPolicy \"open\" lets anyone DM the bot and needs allowFrom: [\"*\"] to say so; add it, or use dmPolicy \"pairing\" or \"allowlist\"".into(),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- Matrix

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AutoJoin {
    /// Invites are left alone (default).
    Off,
    /// Join rooms listed in `autoJoinAllowlist`.
    Allowlist,
    /// Join every invite.
    Always,
}

/// `channels.matrix`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Matrix {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Homeserver base URL (`https://matrix.example.org`).
    pub homeserver: String,
    /// Token-based login. Otherwise `userId` + `password` log in once and
    /// the token is kept in the state dir (0600). Prefer `accessTokenFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    /// A regular file holding the access token (symlinks are refused); may
    /// start with `~`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_file: Option<String>,
    /// Full user id (`@bot:example.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Password for the one login (with `userId`). Prefer `passwordFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A regular file holding the password (symlinks are refused); may
    /// start with `~`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// Device display name used at password login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_join: Option<AutoJoin>,
    /// Room ids (`!id:server`) or aliases (`#alias:server`, resolved through
    /// the homeserver directory) for `autoJoin: "allowlist"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_join_allowlist: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Who may DM: `@user:server` ids, or `"*"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_allow_from: Option<Vec<String>>,
    /// Per-room settings by room id (`"!id:server"`), or `"*"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<BTreeMap<String, MatrixGroup>>,
}

/// `channels.matrix.groups."!room:server"`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatrixGroup {
    /// Answer only when mentioned (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Vec<String>>,
}

impl Matrix {
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
    pub fn auto_join(&self) -> AutoJoin {
        self.auto_join.unwrap_or(AutoJoin::Off)
    }
    pub fn dm_policy(&self) -> DmPolicy {
        self.dm_policy.unwrap_or(DmPolicy::Pairing)
    }
    pub fn group_policy(&self) -> GroupPolicy {
        self.group_policy.unwrap_or(GroupPolicy::Allowlist)
    }
    pub fn require_mention(&self, room_id: &str) -> bool {
        let g = self.groups.as_ref();
        g.and_then(|g| g.get(room_id))
            .and_then(|x| x.require_mention)
            .or_else(|| g.and_then(|g| g.get("*")).and_then(|x| x.require_mention))
            .unwrap_or(true)
    }
    /// Whether the login is by access token (`accessToken` or
    /// `accessTokenFile`) rather than `userId` + password.
    pub fn uses_token(&self) -> bool {
        self.access_token.is_some() || self.access_token_file.is_some()
    }
    /// The `config set` arguments (after the instance's command prefix)
    /// that move this section to another Matrix account, for doctor's
    /// shared-login advice: the keys this section logs in with, never one
    /// that would break its login.
    pub fn switch_account_commands(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.access_token_file.is_some() {
            out.push(
                "config set channels.matrix.accessTokenFile <FILE_WITH_ANOTHER_ACCOUNTS_TOKEN>",
            );
        } else if self.access_token.is_some() {
            out.push("config set channels.matrix.accessToken <ANOTHER_ACCOUNTS_TOKEN>");
        }
        if self.uses_token() {
            // A userId beside a token is checked against it: it must follow.
            if self.user_id.is_some() {
                out.push("config set channels.matrix.userId <THAT_ACCOUNTS_USER_ID>");
            }
            return out;
        }
        out.push("config set channels.matrix.userId <ANOTHER_USER_ID>");
        if self.password_file.is_some() {
            out.push("config set channels.matrix.passwordFile <FILE_WITH_ITS_PASSWORD>");
        } else {
            out.push("config set channels.matrix.password <ITS_PASSWORD>");
        }
        out
    }
    /// The server part of `userId` (`example.org`).
    pub fn server_name(&self) -> Option<&str> {
        self.user_id
            .as_deref()
            .and_then(|u| u.split_once(':'))
            .map(|(_, s)| s)
    }
}

/// `@localpart:server`
pub fn is_matrix_user_id(s: &str) -> bool {
    s.strip_prefix('@')
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(l, srv)| !l.is_empty() && !srv.is_empty() && !s.contains(' '))
}

/// A room id (`!opaque:server`, or since room version 12 just `!opaque`)
/// or an alias (`#alias:server`).
fn is_room_ref(s: &str) -> bool {
    if s.contains([' ', '/']) {
        return false;
    }
    if let Some(id) = s.strip_prefix('!') {
        return match id.split_once(':') {
            Some((a, b)) => !a.is_empty() && !b.is_empty(),
            None => !id.is_empty(),
        };
    }
    s.strip_prefix('#')
        .and_then(|a| a.split_once(':'))
        .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
}

fn check_matrix_sender(e: &str, key: &str) -> Result<(), String> {
    if e == "*" || is_matrix_user_id(e) {
        Ok(())
    } else {
        Err(format!(
            "{key} entry {e:?} is not a full Matrix user id (\"@user:example.org\") or \"*\"; display names are not accepted because anyone can take them"
        ))
    }
}

impl Validate for Matrix {
    fn validate(&self) -> Result<(), String> {
        let hs = self.homeserver.trim();
        let rest = hs
            .strip_prefix("https://")
            .or_else(|| hs.strip_prefix("http://"));
        if !rest.is_some_and(|r| !r.is_empty() && !r.contains(' ')) {
            return Err(format!(
                "homeserver {:?} is not an http(s) URL (\"https://matrix.example.org\")",
                self.homeserver
            ));
        }
        if let Some(u) = &self.user_id
            && !is_matrix_user_id(u)
        {
            return Err(format!(
                "userId {u:?} is not a full Matrix user id (\"@bot:example.org\")"
            ));
        }
        if self.access_token.is_some() && self.access_token_file.is_some() {
            return Err("set accessToken or accessTokenFile, not both".into());
        }
        if self.password.is_some() && self.password_file.is_some() {
            return Err("set password or passwordFile, not both".into());
        }
        let password = self.password.is_some() || self.password_file.is_some();
        match (self.uses_token(), &self.user_id, password) {
            (true, _, _) => {}
            (false, Some(_), true) => {}
            (false, None, true) => {
                return Err("password/passwordFile needs userId to log in with".into());
            }
            (false, _, false) => {
                return Err("set accessToken (or accessTokenFile), or userId and password (or passwordFile); a password logs in once and the token is then kept in the state dir".into());
            }
        }
        let list = self.auto_join_allowlist.as_deref().unwrap_or(&[]);
        for r in list {
            if !is_room_ref(r) {
                return Err(format!(
                    "autoJoinAllowlist entry {r:?} is not a room id (\"!id:server\") or alias (\"#alias:server\")"
                ));
            }
        }
        if self.auto_join == Some(AutoJoin::Allowlist) && list.is_empty() {
            return Err(
                "autoJoin \"allowlist\" needs autoJoinAllowlist with at least one room".into(),
            );
        }
        for e in self.allow_from.iter().flatten() {
            check_matrix_sender(e, "allowFrom")?;
        }
        for e in self.group_allow_from.iter().flatten() {
            check_matrix_sender(e, "groupAllowFrom")?;
        }
        for (k, g) in self.groups.iter().flatten() {
            if k != "*" && !is_room_ref(k) {
                return Err(format!(
                    "groups key {k:?} is not a room id (\"!id:server\") or \"*\""
                ));
            }
            for e in g.allow_from.iter().flatten() {
                check_matrix_sender(e, &format!("groups.{k}.allowFrom"))?;
            }
        }
        check_open(self.dm_policy, self.allow_from.as_deref())
    }
}

// ---------------------------------------------------------------- doctor

/// One instance's IRC and Matrix sections, as doctor sees them.
#[derive(Debug, Clone)]
pub struct NetLogins<'a> {
    pub profile: &'a str,
    /// Where the instance lives (its config path or state dir), for the
    /// message.
    pub location: &'a str,
    pub irc: Option<&'a Irc>,
    pub matrix: Option<&'a Matrix>,
    /// The Matrix user an `accessToken`-only instance logged in as, if known
    /// (from its channel status); `userId` wins when set.
    pub matrix_user_seen: Option<&'a str>,
}

/// Which network a [`SharedLogin`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKind {
    Irc,
    Matrix,
}

/// Two instances logging into the same IRC server with the same nick, or as
/// the same Matrix user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLogin {
    pub kind: NetKind,
    /// `IRC nick clawbot on irc.example.org:6697` / `Matrix user @bot:hs`.
    pub what: String,
    /// (profile, location) of both, in input order.
    pub first: (String, String),
    pub second: (String, String),
}

impl SharedLogin {
    /// What goes wrong when two gateways share the login (the two networks
    /// differ: IRC lets one connection hold a nick, Matrix lets any number
    /// of devices sync one account).
    pub fn consequence(&self) -> &'static str {
        match self.kind {
            NetKind::Irc => {
                "the server lets one connection hold a nick: the other gateway falls back to another nick, and DMs and allowlists aimed at this one reach whichever holds it"
            }
            NetKind::Matrix => {
                "both gateways sync the same account and both answer every message; pairing codes, owners and sessions split between them"
            }
        }
    }
}

impl fmt::Display for SharedLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "profiles {} ({}) and {} ({}) both log in as {}; {}",
            self.first.0,
            self.first.1,
            self.second.0,
            self.second.1,
            self.what,
            self.consequence()
        )
    }
}

/// The login key of an enabled IRC section: server (host lower-cased, port)
/// and nick (IRC case mapping), with a readable label.
pub fn irc_login(irc: &Irc) -> Option<(String, String)> {
    irc.enabled().then(|| {
        let host = irc.host.trim().trim_end_matches('.').to_ascii_lowercase();
        let key = format!("irc:{host}:{}:{}", irc.port(), irc_lower(&irc.nick));
        (
            key,
            format!("IRC nick {} on {host}:{}", irc.nick, irc.port()),
        )
    })
}

/// The login key of an enabled Matrix section: the user id (`userId`, else
/// the one its gateway reported), with a readable label.
pub fn matrix_login(m: &Matrix, seen: Option<&str>) -> Option<(String, String)> {
    if !m.enabled() {
        return None;
    }
    let user = m.user_id.as_deref().or(seen)?;
    let (local, server) = user.strip_prefix('@')?.split_once(':')?;
    let user = format!("@{}:{}", local.to_lowercase(), server.to_ascii_lowercase());
    Some((format!("matrix:{user}"), format!("Matrix user {user}")))
}

/// Every pair of instances that share an IRC login or a Matrix user.
pub fn shared_net_logins(instances: &[NetLogins<'_>]) -> Vec<SharedLogin> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        let keys = [
            inst.irc.and_then(irc_login).map(|k| (NetKind::Irc, k)),
            inst.matrix
                .and_then(|m| matrix_login(m, inst.matrix_user_seen))
                .map(|k| (NetKind::Matrix, k)),
        ];
        for (kind, (key, what)) in keys.into_iter().flatten() {
            match seen.get(&key) {
                Some(&j) => {
                    let a = &instances[j];
                    out.push(SharedLogin {
                        kind,
                        what,
                        first: (a.profile.to_string(), a.location.to_string()),
                        second: (inst.profile.to_string(), inst.location.to_string()),
                    });
                }
                None => {
                    seen.insert(key, i);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn irc(v: serde_json::Value) -> Result<Irc, String> {
        let i: Irc = serde_json::from_value(v).map_err(|e| e.to_string())?;
        i.validate().map(|_| i)
    }

    fn matrix(v: serde_json::Value) -> Result<Matrix, String> {
        let m: Matrix = serde_json::from_value(v).map_err(|e| e.to_string())?;
        m.validate().map(|_| m)
    }

    #[test]
    fn irc_defaults() {
        let i = irc(json!({ "host": "irc.example.org", "nick": "clawbot" })).unwrap();
        assert!(i.enabled() && i.tls());
        assert_eq!(i.port(), 6697);
        assert_eq!((i.username(), i.realname()), ("clawbot", "OpenClaw"));
        assert_eq!(i.dm_policy(), DmPolicy::Pairing);
        assert_eq!(i.group_policy(), GroupPolicy::Allowlist);
        assert!(i.require_mention("#room"));
        let i = irc(json!({ "host": "h", "nick": "b", "tls": false,
            "groups": { "#Room": { "requireMention": false }, "*": { "requireMention": true } } }))
        .unwrap();
        assert_eq!(i.port(), 6667);
        assert!(!i.require_mention("#room"));
        assert!(i.require_mention("#other"));
    }

    #[test]
    fn irc_rules() {
        let base = |extra: serde_json::Value| {
            let mut v = json!({ "host": "irc.example.org", "nick": "clawbot" });
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            irc(v)
        };
        assert!(
            base(json!({ "nick": "1bot" }))
                .unwrap_err()
                .contains("not a valid IRC nick")
        );
        assert!(base(json!({ "port": 0 })).unwrap_err().contains("1-65535"));
        assert!(
            base(json!({ "password": "a", "passwordFile": "/p" }))
                .unwrap_err()
                .contains("not both")
        );
        assert!(
            base(json!({ "channels": ["room"] }))
                .unwrap_err()
                .contains("not a channel name")
        );
        let e = base(json!({ "allowFrom": ["alice"] })).unwrap_err();
        assert!(e.contains("dangerouslyAllowNameMatching"), "{e}");
        assert!(
            base(json!({ "allowFrom": ["alice"], "dangerouslyAllowNameMatching": true })).is_ok()
        );
        assert!(base(json!({ "allowFrom": ["alice!~a@host.example", "*!*@10.0.0.*"] })).is_ok());
        assert!(
            base(json!({ "groups": { "#r": { "allowFrom": ["bob"] } } }))
                .unwrap_err()
                .contains("groups.#r.allowFrom")
        );
        assert!(
            base(json!({ "groups": { "room": {} } }))
                .unwrap_err()
                .contains("groups key")
        );
        assert!(
            base(json!({ "dmPolicy": "open" }))
                .unwrap_err()
                .contains("allowFrom: [\"*\"]")
        );
        assert!(base(json!({ "dmPolicy": "open", "allowFrom": ["*"] })).is_ok());
    }

    #[test]
    fn matrix_rules() {
        let ok = matrix(json!({ "homeserver": "https://m.example.org", "userId": "@bot:example.org", "password": "pw" })).unwrap();
        assert_eq!(ok.auto_join(), AutoJoin::Off);
        assert_eq!(ok.server_name(), Some("example.org"));
        assert!(matrix(json!({ "homeserver": "https://m", "accessToken": "syt_x" })).is_ok());
        let e = |v| matrix(v).unwrap_err();
        assert!(
            e(json!({ "homeserver": "m.example.org", "accessToken": "t" })).contains("http(s) URL")
        );
        assert!(
            e(json!({ "homeserver": "https://m" }))
                .contains("set accessToken (or accessTokenFile), or userId and password")
        );
        assert!(e(json!({ "homeserver": "https://m", "password": "p" })).contains("needs userId"));
        assert!(
            e(json!({ "homeserver": "https://m", "userId": "bot", "password": "p" }))
                .contains("userId")
        );
        assert!(
            e(json!({ "homeserver": "https://m", "accessToken": "t", "autoJoin": "allowlist" }))
                .contains("autoJoinAllowlist")
        );
        assert!(e(json!({ "homeserver": "https://m", "accessToken": "t", "autoJoinAllowlist": ["room"] })).contains("not a room id"));
        assert!(e(json!({ "homeserver": "https://m", "accessToken": "t", "autoJoinAllowlist": ["#ops"] })).contains("not a room id"));
        // room version 12 ids have no server part
        assert!(matrix(json!({ "homeserver": "https://m", "accessToken": "t", "autoJoin": "allowlist",
            "autoJoinAllowlist": ["!cvMZlTtXe0DROVE0j2KcyXwykkDafWZV21WNOVcUXHk", "!old:hs", "#ops:hs"] })).is_ok());
        assert!(
            matrix(
                json!({ "homeserver": "https://m", "accessToken": "t", "autoJoin": "allowlist",
            "autoJoinAllowlist": ["!abc:m", "#ops:m"] })
            )
            .is_ok()
        );
        assert!(
            e(json!({ "homeserver": "https://m", "accessToken": "t", "allowFrom": ["Alice"] }))
                .contains("display names")
        );
        assert!(
            e(json!({ "homeserver": "https://m", "accessToken": "t", "groups": { "ops": {} } }))
                .contains("groups key")
        );
        assert!(
            e(json!({ "homeserver": "https://m", "accessToken": "t", "dmPolicy": "open" }))
                .contains("allowFrom")
        );
    }

    #[test]
    fn irc_case_mapping_and_mask_shapes() {
        assert!(irc_eq("Bot[1]", "bot{1}"));
        assert!(irc_eq("a\\b~", "A|B^"));
        assert!(!irc_eq("bot", "bot_"));
        // (entry, as an allowlist entry, as the owner)
        let table = [
            ("alice!~alice@host.example.org", true, true),
            ("Alice!alice@10.0.0.1", true, true),
            ("*!*@*.example.org", true, false),
            ("al?ce!*@host", true, false),
            ("alice", false, false),
            ("alice!user", false, false),
            ("alice@host", false, false),
            ("!user@host", false, false),
            ("alice!@host", false, false),
            ("alice!user@", false, false),
            ("alice!user@host name", false, false),
            ("alice!user@a,b", false, false),
            ("al@ce!user@host", false, false),
            ("alice!user@host@evil", false, false),
            ("alice!user@ho!st", false, false),
        ];
        for (entry, allow, owner) in table {
            assert_eq!(is_irc_mask(entry, true), allow, "{entry} (wildcards)");
            assert_eq!(is_irc_mask(entry, false), owner, "{entry} (owner)");
        }
    }

    #[test]
    fn matrix_secret_files() {
        let ok = |v| matrix(v).unwrap();
        let e = |v| matrix(v).unwrap_err();
        let m = ok(json!({ "homeserver": "https://m", "accessTokenFile": "~/.secrets/mx" }));
        assert!(m.uses_token());
        let m =
            ok(json!({ "homeserver": "https://m", "userId": "@bot:m", "passwordFile": "/run/pw" }));
        assert!(!m.uses_token());
        assert!(
            e(json!({ "homeserver": "https://m", "accessToken": "t", "accessTokenFile": "/f" }))
                .contains("not both")
        );
        assert!(
            e(json!({ "homeserver": "https://m", "userId": "@b:m", "password": "p", "passwordFile": "/f" }))
                .contains("not both")
        );
        assert!(
            e(json!({ "homeserver": "https://m", "passwordFile": "/f" })).contains("needs userId")
        );
        let s = schemars::schema_for!(Matrix).to_value();
        assert_eq!(
            s["properties"]["accessTokenFile"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            s["properties"]["passwordFile"]["type"],
            json!(["string", "null"])
        );
    }

    #[test]
    fn switching_a_matrix_section_to_another_account_names_its_own_keys() {
        let cmds = |v| matrix(v).unwrap().switch_account_commands();
        assert_eq!(
            cmds(json!({ "homeserver": "https://m", "accessToken": "t" })),
            vec!["config set channels.matrix.accessToken <ANOTHER_ACCOUNTS_TOKEN>"]
        );
        assert_eq!(
            cmds(json!({ "homeserver": "https://m", "accessTokenFile": "/f", "userId": "@b:m" })),
            vec![
                "config set channels.matrix.accessTokenFile <FILE_WITH_ANOTHER_ACCOUNTS_TOKEN>",
                "config set channels.matrix.userId <THAT_ACCOUNTS_USER_ID>"
            ]
        );
        assert_eq!(
            cmds(json!({ "homeserver": "https://m", "userId": "@b:m", "password": "p" })),
            vec![
                "config set channels.matrix.userId <ANOTHER_USER_ID>",
                "config set channels.matrix.password <ITS_PASSWORD>"
            ]
        );
        assert_eq!(
            cmds(json!({ "homeserver": "https://m", "userId": "@b:m", "passwordFile": "/f" }))[1],
            "config set channels.matrix.passwordFile <FILE_WITH_ITS_PASSWORD>"
        );
    }

    #[test]
    fn secrets_are_redacted_and_hidden_from_debug() {
        let v = json!({ "channels": {
            "irc": { "host": "h", "nick": "b", "password": "irc-pass", "passwordFile": "/run/pw",
                     "nickserv": { "password": "ns-pass" } },
            "matrix": { "homeserver": "https://m", "accessToken": "syt_token", "password": "mx-pass" } } });
        let r = crate::redact(&v).to_string();
        for s in ["irc-pass", "ns-pass", "syt_token", "mx-pass"] {
            assert!(!r.contains(s), "{s} leaked: {r}");
        }
        assert!(r.contains("/run/pw"), "a file path is not a secret");
        let i: Irc = serde_json::from_value(v["channels"]["irc"].clone()).unwrap();
        let m: Matrix = serde_json::from_value(v["channels"]["matrix"].clone()).unwrap();
        let d = format!("{i:?}{m:?}");
        assert!(
            !d.contains("irc-pass") && !d.contains("ns-pass") && !d.contains("syt_token"),
            "{d}"
        );
    }

    #[test]
    fn schema_describes_both_sections() {
        let s = schemars::schema_for!(Irc).to_value();
        assert_eq!(s["required"], json!(["host", "nick"]));
        assert_eq!(
            s["properties"]["password"]["anyOf"][0]["$ref"],
            json!("#/$defs/Secret")
        );
        assert_eq!(s["$defs"]["Secret"]["writeOnly"], json!(true));
        let s = schemars::schema_for!(Matrix).to_value();
        assert_eq!(s["required"], json!(["homeserver"]));
        assert_eq!(
            s["properties"]["accessToken"]["anyOf"][0]["$ref"],
            json!("#/$defs/Secret")
        );
        assert_eq!(
            s["properties"]["autoJoin"]["anyOf"][0]["$ref"],
            json!("#/$defs/AutoJoin")
        );
    }

    #[test]
    fn doctor_names_both_instances_that_share_a_login() {
        let a = irc(json!({ "host": "IRC.example.org", "nick": "ClawBot" })).unwrap();
        let b = irc(json!({ "host": "irc.example.org", "nick": "clawbot", "port": 6697 })).unwrap();
        let other_nick = irc(json!({ "host": "irc.example.org", "nick": "rescuebot" })).unwrap();
        let other_port =
            irc(json!({ "host": "irc.example.org", "nick": "clawbot", "tls": false })).unwrap();
        let m1 = matrix(json!({ "homeserver": "https://m", "userId": "@bot:m", "password": "p" }))
            .unwrap();
        let m2 = matrix(json!({ "homeserver": "https://m", "accessToken": "t" })).unwrap();
        let inst = |profile, irc, matrix, seen| NetLogins {
            profile,
            location: profile,
            irc,
            matrix,
            matrix_user_seen: seen,
        };
        let found = shared_net_logins(&[
            inst("main", Some(&a), Some(&m1), None),
            inst("rescue", Some(&b), Some(&m2), Some("@Bot:M")),
        ]);
        assert_eq!(found.len(), 2, "{found:?}");
        let text: Vec<String> = found.iter().map(|f| f.to_string()).collect();
        assert!(
            text[0].contains("main") && text[0].contains("rescue") && text[0].contains("IRC nick"),
            "{}",
            text[0]
        );
        assert!(text[1].contains("Matrix user @bot:m"), "{}", text[1]);
        // Each says what sharing does on its network.
        assert!(
            text[0].contains("one connection hold a nick"),
            "{}",
            text[0]
        );
        assert!(text[1].contains("both answer every message"), "{}", text[1]);
        assert!(!text[1].contains("one connection"), "{}", text[1]);
        // different nick, different port, unknown matrix user, or disabled: no conflict
        let mut off = b.clone();
        off.enabled = Some(false);
        for other in [&other_nick, &other_port, &off] {
            assert!(
                shared_net_logins(&[
                    inst("main", Some(&a), None, None),
                    inst("rescue", Some(other), None, None)
                ])
                .is_empty()
            );
        }
        assert!(
            shared_net_logins(&[
                inst("main", None, Some(&m1), None),
                inst("rescue", None, Some(&m2), None)
            ])
            .is_empty()
        );
    }
}
