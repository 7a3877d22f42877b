//! Messaging channels: `channels.telegram`, `commands.ownerAllowFrom` and
//! `bindings` (which agent answers which channel/peer).
//!
//! Values are checked while deserializing, so a bad one is reported like
//! every other key: `file:line:col: channels.telegram.allowFrom[0]: ...`.
//! Rules that span keys (an `open` DM policy needs `allowFrom: ["*"]`) are
//! checked by [`Checked`] once the object is read, and reported at the
//! object's key path. `botToken` is a [`Secret`]: its `Debug` is redacted
//! and [`crate::redact`] hides it (its key ends in `token`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::Secret;

/// The Bot API root used when `apiRoot` is not set.
pub const TELEGRAM_API_ROOT: &str = "https://api.telegram.org";
/// `textChunkLimit` when not set (Telegram's own limit is 4096).
pub const TELEGRAM_TEXT_CHUNK_LIMIT: u32 = 4000;
/// The environment variable read for the default account's token.
pub const TELEGRAM_TOKEN_ENV: &str = "TELEGRAM_BOT_TOKEN";

/// `channels`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Channels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<Checked<Telegram>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irc: Option<Checked<crate::channels_net::Irc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Checked<crate::channels_net::Matrix>>,
}

/// `channels.telegram` (the default account).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Telegram {
    /// Default true when the section exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The bot token from @BotFather. Prefer `tokenFile` or the
    /// `TELEGRAM_BOT_TOKEN` environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<Secret>,
    /// A regular file holding the token (symlinks are refused); may start
    /// with `~`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// Bot API root without `/bot<TOKEN>` (default `https://api.telegram.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_root: Option<HttpUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Telegram user ids allowed to DM (`123`, `"telegram:123"`, `"tg:123"`,
    /// or `"*"` for anyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<Vec<SenderId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    /// User ids allowed to talk to the bot in groups (`groupPolicy: allowlist`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_allow_from: Option<Vec<SenderId>>,
    /// Per-group settings by chat id, or `"*"` for every group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<BTreeMap<String, TelegramGroup>>,
    /// Longest message sent in one piece; longer answers are split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_chunk_limit: Option<ChunkLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<Streaming>,
}

impl Telegram {
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
    pub fn api_root(&self) -> &str {
        self.api_root
            .as_ref()
            .map(|u| u.0.trim_end_matches('/'))
            .unwrap_or(TELEGRAM_API_ROOT)
    }
    pub fn dm_policy(&self) -> DmPolicy {
        self.dm_policy.unwrap_or(DmPolicy::Pairing)
    }
    pub fn group_policy(&self) -> GroupPolicy {
        self.group_policy.unwrap_or(GroupPolicy::Allowlist)
    }
    pub fn text_chunk_limit(&self) -> usize {
        self.text_chunk_limit
            .map(|c| c.0)
            .unwrap_or(TELEGRAM_TEXT_CHUNK_LIMIT) as usize
    }
    pub fn streaming(&self) -> Streaming {
        self.streaming.unwrap_or(Streaming::Off)
    }
    /// `groups.<chatId>.requireMention`, else `groups."*"`, else true.
    pub fn require_mention(&self, chat_id: &str) -> bool {
        let g = self.groups.as_ref();
        g.and_then(|g| g.get(chat_id))
            .and_then(|x| x.require_mention)
            .or_else(|| g.and_then(|g| g.get("*")).and_then(|x| x.require_mention))
            .unwrap_or(true)
    }
}

impl Validate for Telegram {
    fn validate(&self) -> Result<(), String> {
        let wildcard = self
            .allow_from
            .as_ref()
            .is_some_and(|a| a.iter().any(SenderId::is_wildcard));
        if self.dm_policy == Some(DmPolicy::Open) && !wildcard {
            return Err(
                "dmPolicy \"open\" lets anyone DM the bot and needs allowFrom: [\"*\"] to say so; add it, or use dmPolicy \"pairing\" or \"allowlist\"".into(),
            );
        }
        if let Some(groups) = &self.groups {
            for k in groups.keys() {
                if k != "*" && k.parse::<i64>().is_err() {
                    return Err(format!(
                        "groups key {k:?} is not a chat id: use the numeric group id (e.g. \"-1001234567890\") or \"*\""
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `channels.telegram.groups.<chatId>`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelegramGroup {
    /// Answer only when mentioned or replied to (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DmPolicy {
    /// Unknown senders get a pairing code (default).
    Pairing,
    /// Only `allowFrom` and approved senders.
    Allowlist,
    /// Anyone (needs `allowFrom: ["*"]`).
    Open,
    /// No DMs.
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupPolicy {
    /// Only senders in `groupAllowFrom` (default).
    Allowlist,
    Open,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Streaming {
    Off,
    /// Edit one message as text arrives (at most once a second).
    Partial,
}

/// `commands`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Commands {
    /// Who may run owner-only commands, as `<channel>:<senderId>`
    /// (e.g. `"telegram:123456789"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_allow_from: Option<Vec<OwnerRef>>,
}

/// One entry of `bindings`: route a channel (account, peer) to an agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    pub agent_id: String,
    #[serde(rename = "match")]
    pub match_: BindingMatch,
}

/// `bindings[].match`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindingMatch {
    pub channel: String,
    /// `"*"` = any account; omitted = the default account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<BindingPeer>,
}

/// `bindings[].match.peer`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindingPeer {
    pub kind: PeerKind,
    pub id: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    #[default]
    Direct,
    Group,
}

// ---------------------------------------------------------------- Checked

/// A section with rules across its keys.
pub trait Validate {
    /// `Err` is the message shown at the section's key path.
    fn validate(&self) -> Result<(), String>;
}

/// A section that was read and then checked with [`Validate`]; derefs to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked<T>(pub T);

impl<T> Deref for Checked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Checked<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de> + Validate> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = T::deserialize(d)?;
        v.validate().map_err(de::Error::custom)?;
        Ok(Checked(v))
    }
}

impl<T: JsonSchema> JsonSchema for Checked<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        T::json_schema(g)
    }
}

// ---------------------------------------------------------------- SenderId

/// A Telegram user id in an allowlist, stored without prefix; `"*"` = anyone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SenderId(String);

impl SenderId {
    /// Accepts `123`, `telegram:123`, `tg:123` (case-insensitive prefix) and `*`.
    pub fn parse(s: &str) -> Result<SenderId, String> {
        let t = s.trim();
        if t == "*" {
            return Ok(SenderId("*".into()));
        }
        let lower = t.to_ascii_lowercase();
        let id = ["telegram:", "tg:"]
            .iter()
            .find_map(|p| lower.strip_prefix(p))
            .unwrap_or(&lower)
            .trim();
        if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
            Ok(SenderId(id.to_string()))
        } else {
            Err(format!(
                "expected a numeric Telegram user id (123456789, \"telegram:123456789\" or \"*\"), found {s:?}; a @username is not accepted because usernames can change hands"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_wildcard(&self) -> bool {
        self.0 == "*"
    }
}

impl fmt::Display for SenderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SenderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SenderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SenderId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a numeric Telegram user id")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SenderId, E> {
                Ok(SenderId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SenderId, E> {
                SenderId::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SenderId, E> {
                SenderId::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for SenderId {
    fn schema_name() -> Cow<'static, str> {
        "SenderId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["integer", "string"],
            "pattern": "^(\\*|((telegram|tg):)?[0-9]+)$",
            "description": "A numeric user id, optionally prefixed telegram: or tg:, or \"*\"."
        })
    }
}

// ---------------------------------------------------------------- OwnerRef

/// `<channel>:<senderId>`, e.g. `telegram:123456789`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerRef {
    pub channel: String,
    pub sender: String,
}

impl OwnerRef {
    pub fn parse(s: &str) -> Result<OwnerRef, String> {
        match s.split_once(':') {
            Some((c, id))
                if !c.is_empty()
                    && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                    && !id.trim().is_empty() =>
            {
                let c = if c == "tg" { "telegram" } else { c };
                Ok(OwnerRef {
                    channel: c.to_string(),
                    sender: id.trim().to_string(),
                })
            }
            _ => Err(format!(
                "expected \"<channel>:<senderId>\" (e.g. \"telegram:123456789\"), found {s:?}"
            )),
        }
    }
}

impl fmt::Display for OwnerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel, self.sender)
    }
}

impl Serialize for OwnerRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OwnerRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OwnerRef::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for OwnerRef {
    fn schema_name() -> Cow<'static, str> {
        "OwnerRef".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[a-z-]+:.+$",
            "description": "<channel>:<senderId>, e.g. telegram:123456789."
        })
    }
}

// ---------------------------------------------------------------- HttpUrl

/// An `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub String);

impl Serialize for HttpUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"));
        match rest {
            Some(r) if !r.is_empty() && !r.contains("/bot") => Ok(HttpUrl(s)),
            Some(r) if r.contains("/bot") => Err(de::Error::custom(
                "expected the Bot API root only (e.g. \"https://api.telegram.org\"), without /bot<TOKEN>",
            )),
            _ => Err(de::Error::custom(format!(
                "expected an http:// or https:// URL, found {s:?}"
            ))),
        }
    }
}

impl JsonSchema for HttpUrl {
    fn schema_name() -> Cow<'static, str> {
        "HttpUrl".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": "^https?://.+", "format": "uri"})
    }
}

// ---------------------------------------------------------------- ChunkLimit

/// `textChunkLimit`: 1..=4096 (Telegram refuses longer messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimit(pub u32);

impl Serialize for ChunkLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for ChunkLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        match u32::try_from(v) {
            Ok(n) if (1..=4096).contains(&n) => Ok(ChunkLimit(n)),
            _ => Err(de::Error::custom(format!(
                "expected a length 1-4096 (Telegram's message limit is 4096), found {v}"
            ))),
        }
    }
}

impl JsonSchema for ChunkLimit {
    fn schema_name() -> Cow<'static, str> {
        "ChunkLimit".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 1, "maximum": 4096})
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::parse;

    fn f() -> &'static Path {
        Path::new("/h/openclaw.json")
    }

    #[test]
    fn telegram_section_parses_with_defaults() {
        let p = parse(
            r#"{ channels: { telegram: { botToken: "123:abc", allowFrom: [42, "tg:7", "telegram:9"], groups: { "*": { requireMention: false } } } },
                 commands: { ownerAllowFrom: ["telegram:42"] },
                 bindings: [{ agentId: "work", match: { channel: "telegram", peer: { kind: "direct", id: "7" } } }] }"#,
            f(),
        )
        .unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let t = p
            .config
            .channels
            .as_ref()
            .unwrap()
            .telegram
            .as_ref()
            .unwrap();
        assert!(t.enabled());
        assert_eq!(t.api_root(), "https://api.telegram.org");
        assert_eq!(t.dm_policy(), super::DmPolicy::Pairing);
        assert_eq!(t.text_chunk_limit(), 4000);
        assert!(!t.require_mention("-100"));
        let ids: Vec<_> = t
            .allow_from
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(ids, ["42", "7", "9"]);
        assert!(!format!("{:?}", p.config).contains("123:abc"));
        assert_eq!(
            crate::redact(&p.value)["channels"]["telegram"]["botToken"],
            crate::REDACTED
        );
        let owners = p.config.commands.unwrap().owner_allow_from.unwrap();
        assert_eq!(owners[0].to_string(), "telegram:42");
        assert_eq!(p.config.bindings.unwrap()[0].agent_id, "work");
    }

    #[test]
    fn bad_values_have_positions() {
        let e = parse(
            "{\n  channels: { telegram: {\n    allowFrom: [\"@bob\"] } } }",
            f(),
        )
        .unwrap_err();
        assert_eq!(
            e.key_path.as_deref(),
            Some("channels.telegram.allowFrom[0]")
        );
        assert_eq!((e.line, e.column), (Some(3), Some(17)));
        assert!(
            e.message.contains("numeric Telegram user id"),
            "{}",
            e.message
        );

        let e = parse("{ channels: { telegram: { dmPolicy: \"open\" } } }", f()).unwrap_err();
        assert_eq!(e.key_path.as_deref(), Some("channels.telegram"));
        assert!(e.message.contains("allowFrom: [\"*\"]"), "{}", e.message);
        assert!(
            parse(
                "{ channels: { telegram: { dmPolicy: \"open\", allowFrom: [\"*\"] } } }",
                f()
            )
            .is_ok()
        );

        for (text, key) in [
            (
                "{ channels: { telegram: { textChunkLimit: 5000 } } }",
                "channels.telegram.textChunkLimit",
            ),
            (
                "{ channels: { telegram: { apiRoot: \"ftp://x\" } } }",
                "channels.telegram.apiRoot",
            ),
            (
                "{ channels: { telegram: { streaming: \"block\" } } }",
                "channels.telegram.streaming",
            ),
            (
                "{ commands: { ownerAllowFrom: [\"123\"] } }",
                "commands.ownerAllowFrom[0]",
            ),
        ] {
            let e = parse(text, f()).unwrap_err();
            assert_eq!(e.key_path.as_deref(), Some(key), "{text}: {e}");
        }
    }

    #[test]
    fn token_errors_never_show_the_token() {
        let e = parse("{ channels: { telegram: { botToken: 12345 } } }", f()).unwrap_err();
        assert!(!e.to_string().contains("12345"), "{e}");
    }
}
