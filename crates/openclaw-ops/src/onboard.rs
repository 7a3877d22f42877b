//! `onboard`'s decisions, without IO: which model to save after the
//! listing check, whether a channel login is another instance's, who the
//! owner is, whether to offer the rescue role, why a base port, the config
//! edits of the whole onboarding (applied in one write), what happens after
//! the service install, and the next commands to show.
//!
//! The binary asks (prompts or flags), runs the checks (the provider's model
//! listing, Telegram `getMe`, an IRC registration, a Matrix login), and
//! hands the answers here; it writes nothing before every answer is in.

use std::collections::BTreeMap;

use openclaw_config::channels::{OwnerRef, SenderId};
use openclaw_config::channels_net::{
    Irc, Matrix, NetLogins, is_irc_mask, is_matrix_user_id, shared_net_logins,
};
use serde::Serialize;
use serde_json::{Value, json};

// ---------------------------------------------------------------- secrets

/// The warning for a secret given as a literal flag value.
pub fn argv_secret_warning(flag: &str) -> String {
    format!(
        "{flag} puts the secret in the process list (/proc/<pid>/cmdline) and your shell history, where other local users and tools can read it; use {flag}-file <path> (or {flag}-file - to read it from stdin) instead"
    )
}

/// Stdin can be read once: at most one `--…-file -`.
pub fn one_stdin(flags_reading_stdin: &[&str]) -> Result<(), String> {
    match flags_reading_stdin {
        [] | [_] => Ok(()),
        many => Err(format!(
            "{} all read stdin, which can be read only once; give all but one of them as a file",
            many.join(", ")
        )),
    }
}

// ---------------------------------------------------------------- model

/// `--auth-choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthChoice {
    Skip,
    OpenaiApiKey,
    AnthropicApiKey,
    Custom,
}

impl AuthChoice {
    pub const NAMES: [&'static str; 4] = ["skip", "openai-api-key", "anthropic-api-key", "custom"];

    pub fn parse(s: &str) -> Result<AuthChoice, String> {
        match s {
            "skip" => Ok(AuthChoice::Skip),
            "openai-api-key" => Ok(AuthChoice::OpenaiApiKey),
            "anthropic-api-key" => Ok(AuthChoice::AnthropicApiKey),
            "custom" => Ok(AuthChoice::Custom),
            other => Err(format!(
                "unsupported --auth-choice {other}; this version supports: {} (configure other providers in the config)",
                Self::NAMES.join(", ")
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthChoice::Skip => "skip",
            AuthChoice::OpenaiApiKey => "openai-api-key",
            AuthChoice::AnthropicApiKey => "anthropic-api-key",
            AuthChoice::Custom => "custom",
        }
    }
}

/// The model choice of a non-interactive run: `--auth-choice`, else the
/// provider whose key or base URL flag was given, else skip.
pub fn infer_auth_choice(
    given: Option<AuthChoice>,
    openai_key: bool,
    anthropic_key: bool,
    custom_base_url: bool,
) -> AuthChoice {
    match given {
        Some(c) => c,
        None if openai_key => AuthChoice::OpenaiApiKey,
        None if anthropic_key => AuthChoice::AnthropicApiKey,
        None if custom_base_url => AuthChoice::Custom,
        None => AuthChoice::Skip,
    }
}

pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const OPENAI_MODEL: &str = "gpt-4o";
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
pub const ANTHROPIC_MODEL: &str = "claude-sonnet-4-5";
/// The base URL the custom prompt proposes (Ollama's OpenAI-compatible API).
pub const CUSTOM_BASE_URL_EXAMPLE: &str = "http://127.0.0.1:11434/v1";

/// The provider a model choice configures (`models.providers.<provider>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelPlan {
    pub provider: String,
    pub base_url: String,
    /// `openai-completions` | `anthropic-messages`
    pub api: String,
    /// The model id; `None` until the listing decides (custom without a
    /// model given).
    pub model: Option<String>,
    /// OpenAI and Anthropic need a key; a custom server may not.
    pub key_required: bool,
}

impl ModelPlan {
    /// `agents.defaults.model.primary`.
    pub fn primary(&self) -> Option<String> {
        self.model
            .as_ref()
            .map(|m| format!("{}/{m}", self.provider))
    }
}

fn http_url(s: &str) -> bool {
    s.strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace))
}

/// The provider for `choice`; `None` for skip.
pub fn model_plan(
    choice: AuthChoice,
    custom_base_url: Option<&str>,
    custom_model: Option<&str>,
    custom_api: Option<&str>,
) -> Result<Option<ModelPlan>, String> {
    let plan = match choice {
        AuthChoice::Skip => return Ok(None),
        AuthChoice::OpenaiApiKey => ModelPlan {
            provider: "openai".into(),
            base_url: OPENAI_BASE_URL.into(),
            api: "openai-completions".into(),
            model: Some(OPENAI_MODEL.into()),
            key_required: true,
        },
        AuthChoice::AnthropicApiKey => ModelPlan {
            provider: "anthropic".into(),
            base_url: ANTHROPIC_BASE_URL.into(),
            api: "anthropic-messages".into(),
            model: Some(ANTHROPIC_MODEL.into()),
            key_required: true,
        },
        AuthChoice::Custom => {
            let base = custom_base_url
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| {
                    format!(
                        "--auth-choice custom needs --custom-base-url (e.g. {CUSTOM_BASE_URL_EXAMPLE} for Ollama)"
                    )
                })?;
            if !http_url(base) {
                return Err(format!(
                    "--custom-base-url {base:?} is not an http(s) URL (e.g. {CUSTOM_BASE_URL_EXAMPLE})"
                ));
            }
            let api = custom_api.unwrap_or("openai-completions");
            if !["openai-completions", "anthropic-messages"].contains(&api) {
                return Err(format!(
                    "--custom-api {api:?}: use openai-completions or anthropic-messages"
                ));
            }
            ModelPlan {
                provider: "custom".into(),
                base_url: base.trim_end_matches('/').into(),
                api: api.into(),
                model: custom_model
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string),
                key_required: false,
            }
        }
    };
    Ok(Some(plan))
}

/// Whether `listed` (a provider's model ids) has `wanted`: the same id,
/// Ollama's `<id>:latest`, or a dated snapshot `<id>-YYYYMMDD` (Anthropic
/// lists `claude-sonnet-4-5-20250929` for the alias `claude-sonnet-4-5`).
pub fn is_listed(wanted: &str, listed: &[String]) -> bool {
    listed.iter().any(|l| {
        l == wanted
            || l.strip_suffix(":latest") == Some(wanted)
            || l.strip_prefix(wanted)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The model saved after the listing answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPick {
    pub model: String,
    /// Said, not refused: a hosted provider's default not in its listing.
    pub warning: Option<String>,
}

fn listed_names(listed: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut s = listed
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if listed.len() > SHOWN {
        s.push_str(&format!(", … ({} in all)", listed.len()));
    }
    s
}

/// Decides the model once the provider listed its models. A custom server
/// must list the model (a typo would only fail at the first message); a
/// hosted provider's default that is not listed is kept with a warning.
/// Without a model, a server that lists exactly one gives that one.
pub fn pick_model(plan: &ModelPlan, listed: &[String]) -> Result<ModelPick, String> {
    let custom = plan.provider == "custom";
    match &plan.model {
        Some(m) if is_listed(m, listed) => Ok(ModelPick {
            model: m.clone(),
            warning: None,
        }),
        Some(m) if !custom => Ok(ModelPick {
            model: m.clone(),
            warning: Some(format!(
                "{} does not list {m}; it is saved anyway (change agents.defaults.model.primary if the first answer fails)",
                plan.provider
            )),
        }),
        Some(m) if listed.is_empty() => Err(format!(
            "the server at {} lists no models, so {m} cannot be used; load or pull a model there first",
            plan.base_url
        )),
        Some(m) => Err(format!(
            "the server at {} does not have model {m}; it lists: {}",
            plan.base_url,
            listed_names(listed)
        )),
        None => match listed {
            [] => Err(format!(
                "the server at {} lists no models; load or pull a model there first",
                plan.base_url
            )),
            [one] => Ok(ModelPick {
                model: one.clone(),
                warning: None,
            }),
            many => Err(format!(
                "choose the model with --custom-model; the server at {} lists: {}",
                plan.base_url,
                listed_names(many)
            )),
        },
    }
}

// ---------------------------------------------------------------- channels

/// A messaging channel onboarding can set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Telegram,
    Irc,
    Matrix,
}

impl ChannelKind {
    pub const NAMES: [&'static str; 3] = ["telegram", "irc", "matrix"];

    pub fn parse(s: &str) -> Result<ChannelKind, String> {
        match s.to_ascii_lowercase().as_str() {
            "telegram" | "tg" => Ok(ChannelKind::Telegram),
            "irc" => Ok(ChannelKind::Irc),
            "matrix" => Ok(ChannelKind::Matrix),
            other => Err(format!(
                "unknown channel {other:?}; use one of: {} (or skip)",
                Self::NAMES.join(", ")
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::Irc => "irc",
            ChannelKind::Matrix => "matrix",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "Telegram",
            ChannelKind::Irc => "IRC",
            ChannelKind::Matrix => "Matrix",
        }
    }
}

/// The channel of a non-interactive run: `--channel` (`skip` for none),
/// else the first channel whose flags were given (Telegram's token, IRC's
/// host, Matrix's homeserver); `--skip-channels` wins.
pub fn infer_channel(
    given: Option<&str>,
    skip_channels: bool,
    telegram: bool,
    irc: bool,
    matrix: bool,
) -> Result<Option<ChannelKind>, String> {
    if skip_channels {
        return Ok(None);
    }
    Ok(match given {
        Some("skip") => None,
        Some(k) => Some(ChannelKind::parse(k)?),
        None if telegram => Some(ChannelKind::Telegram),
        None if irc => Some(ChannelKind::Irc),
        None if matrix => Some(ChannelKind::Matrix),
        None => None,
    })
}

/// Another instance on this host, as far as its channel logins go.
#[derive(Debug, Clone, Default)]
pub struct OtherInstance {
    /// `default profile`, `profile main`, `instance at <dir>`.
    pub label: String,
    /// Its state dir, as shown (`~/.openclaw`).
    pub location: String,
    /// SHA-256 fingerprint of its Telegram bot token, if it has one.
    pub telegram_fingerprint: Option<String>,
    pub irc: Option<Irc>,
    pub matrix: Option<Matrix>,
    /// The Matrix user its gateway reported (an `accessToken`-only config).
    pub matrix_user_seen: Option<String>,
}

/// A channel login being onboarded.
#[derive(Debug, Clone, Copy)]
pub enum Login<'a> {
    Telegram { fingerprint: &'a str },
    Irc(&'a Irc),
    Matrix(&'a Matrix),
}

/// The login is another instance's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Taken {
    pub label: String,
    pub location: String,
    /// What is shared (`the Telegram bot token`, `IRC nick x on h:6697`).
    pub what: String,
    /// The refusal, naming the instance and the fix.
    pub message: String,
}

/// The first other instance that already uses this login, if any: the
/// same bot token (by fingerprint), the same IRC nick on the same server, or
/// the same Matrix user (`shared_net_logins`, doctor's rule).
pub fn taken_by(login: Login<'_>, others: &[OtherInstance]) -> Option<Taken> {
    match login {
        Login::Telegram { fingerprint } => {
            let o = others
                .iter()
                .find(|o| o.telegram_fingerprint.as_deref() == Some(fingerprint))?;
            Some(Taken {
                label: o.label.clone(),
                location: o.location.clone(),
                what: "the Telegram bot token".into(),
                message: format!(
                    "this bot token is already used by {} ({}); Telegram allows one poller per token, so the two gateways would keep failing with 409 Conflict. Create another bot with @BotFather for this instance",
                    o.label, o.location
                ),
            })
        }
        Login::Irc(irc) => {
            let mut list = vec![NetLogins {
                profile: "",
                location: "",
                irc: Some(irc),
                matrix: None,
                matrix_user_seen: None,
            }];
            list.extend(others.iter().map(net_logins));
            first_shared(&list, others, "choose another nick")
        }
        Login::Matrix(m) => {
            let mut list = vec![NetLogins {
                profile: "",
                location: "",
                irc: None,
                matrix: Some(m),
                matrix_user_seen: None,
            }];
            list.extend(others.iter().map(net_logins));
            first_shared(
                &list,
                others,
                "give this instance a Matrix account of its own",
            )
        }
    }
}

fn net_logins(o: &OtherInstance) -> NetLogins<'_> {
    NetLogins {
        profile: &o.label,
        location: &o.location,
        irc: o.irc.as_ref(),
        matrix: o.matrix.as_ref(),
        matrix_user_seen: o.matrix_user_seen.as_deref(),
    }
}

/// The first pair that includes the candidate (index 0, the empty label).
fn first_shared(list: &[NetLogins<'_>], others: &[OtherInstance], fix: &str) -> Option<Taken> {
    let s = shared_net_logins(list)
        .into_iter()
        .find(|s| s.first.0.is_empty() && s.first.1.is_empty())?;
    let o = others
        .iter()
        .find(|o| o.label == s.second.0 && o.location == s.second.1)?;
    Some(Taken {
        label: o.label.clone(),
        location: o.location.clone(),
        what: s.what.clone(),
        message: format!(
            "{} is already used by {} ({}); {}: {fix}",
            s.what,
            o.label,
            o.location,
            s.consequence()
        ),
    })
}

/// Whether the IRC registration check would only meet this instance
/// itself: its config (`configured`) logs into the same server with the
/// same nick as the answer (`candidate`), and its running gateway reports
/// the IRC channel connected as that nick (`connected_as`, from the
/// channel's status). The server would refuse the nick to the check because
/// this instance holds it, so the check is skipped (and the summary says
/// why) rather than failing.
pub fn irc_held_by_this_instance(
    configured: Option<&Irc>,
    candidate: &Irc,
    connected_as: Option<&str>,
) -> bool {
    use openclaw_config::channels_net::irc_login;
    let (Some(configured), Some(nick)) = (configured, connected_as) else {
        return false;
    };
    let connected = Irc {
        nick: nick.to_string(),
        ..candidate.clone()
    };
    match (
        irc_login(configured),
        irc_login(candidate),
        irc_login(&connected),
    ) {
        (Some((a, _)), Some((b, _)), Some((c, _))) => a == b && b == c,
        _ => false,
    }
}

// ---------------------------------------------------------------- owner

/// Who may run owner commands, and how the owner first reaches the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerPlan {
    /// "Approve my first DM": pairing, and the first approval makes the
    /// sender the owner.
    Pairing,
    /// Your id on the channel: `commands.ownerAllowFrom`, and allowed to DM
    /// at once (`channels.<ch>.allowFrom`).
    Owner(OwnerRef),
}

/// Parses an owner id for `channel` (the channel being set up): `123`,
/// `telegram:123`; `nick!user@host`, `irc:nick!user@host`; `@me:server`,
/// `matrix:@me:server`. A channel prefix must name the channel being set up.
pub fn parse_owner(raw: &str, channel: Option<ChannelKind>) -> Result<OwnerRef, String> {
    let raw = raw.trim();
    let (named, id) = match raw.split_once(':') {
        Some((c, rest)) if ChannelKind::parse(c).is_ok() => {
            (ChannelKind::parse(c).ok(), rest.trim())
        }
        _ => (None, raw),
    };
    let Some(channel) = channel.or(named) else {
        return Err(format!(
            "owner {raw:?} names no channel, and no channel is set up; set up a channel first, or use <channel>:<id> (e.g. telegram:123456789)"
        ));
    };
    if let Some(n) = named
        && n != channel
    {
        return Err(format!(
            "owner {raw:?} is on {}, but the channel set up is {}; give your {} id",
            n.title(),
            channel.title(),
            channel.title()
        ));
    }
    let sender = match channel {
        ChannelKind::Telegram => {
            let id = SenderId::parse(id)?;
            if id.is_wildcard() {
                return Err(
                    "the owner is one person: give your numeric Telegram user id, not \"*\"".into(),
                );
            }
            id.as_str().to_string()
        }
        ChannelKind::Irc => {
            // The owner is one person: a mask without wildcards.
            if !is_irc_mask(id, false) {
                return Err(format!(
                    "expected your IRC identity as nick!user@host (no wildcards; /whois <your nick> shows it), found {id:?}"
                ));
            }
            id.to_string()
        }
        ChannelKind::Matrix => {
            if !is_matrix_user_id(id) {
                return Err(format!(
                    "expected your full Matrix user id (\"@you:example.org\"), found {id:?}"
                ));
            }
            id.to_string()
        }
    };
    Ok(OwnerRef {
        channel: channel.as_str().into(),
        sender,
    })
}

/// An owner needs a channel: the one set up in this run, or one the
/// instance already has (`configured`); otherwise the owner entry would
/// create an empty channel section.
pub fn check_owner_channel(
    owner: &OwnerRef,
    setting_up: Option<ChannelKind>,
    configured: &[ChannelKind],
) -> Result<(), String> {
    let ch = ChannelKind::parse(&owner.channel)?;
    if setting_up == Some(ch) || (setting_up.is_none() && configured.contains(&ch)) {
        return Ok(());
    }
    Err(match setting_up {
        Some(other) => format!(
            "owner {owner} is on {}, but the channel set up is {}",
            ch.title(),
            other.title()
        ),
        None => format!(
            "owner {owner} needs a {} channel, and this instance has none; set it up in the same run (e.g. --telegram-bot-token-file <path>)",
            ch.title()
        ),
    })
}

// ---------------------------------------------------------------- rescue

/// Whether to offer the rescue role, its default answer, and the instances
/// it would watch (labels of the others on this host: `rescue.targets`
/// unset means every other instance, now and later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RescueOffer {
    pub offer: bool,
    pub default: bool,
    pub watches: Vec<String>,
}

/// Offered for profile `rescue`, or when other instances exist on this
/// host; on by default only for profile `rescue` (upstream's rescue-bot
/// guide keeps that profile name).
pub fn rescue_offer(profile: Option<&str>, others: &[String]) -> RescueOffer {
    let rescue = profile == Some("rescue");
    RescueOffer {
        offer: rescue || !others.is_empty(),
        default: rescue,
        watches: others.to_vec(),
    }
}

/// What onboarding writes for the role: `Some((enabled, targets))` for
/// `rescue.enabled` (and pinned `rescue.targets`), `None` to leave the
/// config alone. `answer` is the person's choice (the prompt, or
/// `--rescue` / `--no-rescue`); without one an instance keeps its role and a
/// new one takes the offer's default (on for profile `rescue`). Pinned
/// targets imply the role.
pub fn rescue_decision(
    offer: &RescueOffer,
    answer: Option<bool>,
    targets: Option<Vec<String>>,
    currently: bool,
) -> Option<(bool, Option<Vec<String>>)> {
    let enabled = match answer {
        Some(false) => false,
        Some(true) => true,
        None => targets.is_some() || currently || (offer.offer && offer.default),
    };
    // Off and never on: nothing to write.
    (enabled || currently).then(|| (enabled, targets.filter(|_| enabled)))
}

/// `--rescue-target` names checked against the instances on this host
/// (`known`: target name → label).
pub fn rescue_targets(
    requested: &[String],
    known: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for r in requested {
        if !known.contains_key(r) {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            return Err(format!(
                "--rescue-target {r:?} is not another instance on this host; known: {}",
                if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- port

/// Why this base port, for the port step: the automatic choice's reason,
/// with the ports it spans, and (without claiming anything) ports of that
/// footprint that are in use right now.
pub fn port_reason(
    port: u16,
    span: (u16, u16),
    note: Option<&str>,
    others: &[String],
    busy_now: &[u16],
) -> String {
    let mut s = match note {
        Some(n) => format!("{n} (ports {}-{})", span.0, span.1),
        None if others.is_empty() => format!(
            "base port {port}: the default; its footprint is ports {}-{}",
            span.0, span.1
        ),
        None => format!(
            "base port {port}: the default; its footprint (ports {}-{}) is clear of {}",
            span.0,
            span.1,
            others.join(", ")
        ),
    };
    if let Some(b) = busy_now.first() {
        s.push_str(&format!(
            "; note: port {b} is in use right now, so the gateway cannot start there until it is free (or type another port)"
        ));
    }
    s
}

// ---------------------------------------------------------------- config

/// One change to the config document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Edit {
    Set(String, Value),
    /// Set only when the key is absent (a default that the user may have
    /// changed on an earlier run).
    SetIfMissing(String, Value),
    Unset(String),
    /// Append to a list unless an equal entry (compared as text) is there.
    AddToList(String, Value),
}

impl Edit {
    pub fn path(&self) -> &str {
        match self {
            Edit::Set(p, _) | Edit::SetIfMissing(p, _) | Edit::Unset(p) | Edit::AddToList(p, _) => {
                p
            }
        }
    }
}

/// The channel part of the config (secrets as file paths where the schema
/// has them; Matrix keeps its access token, never the password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "channel")]
pub enum ChannelPlan {
    Telegram {
        token_file: String,
        /// A non-default Bot API root (a self-hosted Bot API server).
        api_root: Option<String>,
    },
    Irc {
        host: String,
        port: u16,
        tls: bool,
        nick: String,
        channels: Vec<String>,
        password_file: Option<String>,
        nickserv_password_file: Option<String>,
    },
    Matrix {
        homeserver: String,
        user_id: String,
        /// The credentials file holding the access token.
        access_token_file: String,
    },
}

impl ChannelPlan {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelPlan::Telegram { .. } => ChannelKind::Telegram,
            ChannelPlan::Irc { .. } => ChannelKind::Irc,
            ChannelPlan::Matrix { .. } => ChannelKind::Matrix,
        }
    }
}

/// Everything onboarding writes into the config (besides what `setup`
/// fills in: mode, bind, port, token, workspace).
#[derive(Debug, Clone, Default)]
pub struct ConfigPlan {
    /// The provider and the model chosen; `has_key`: the key is in the
    /// credentials file (else `auth: "none"`).
    pub model: Option<(ModelPlan, String, bool)>,
    pub channel: Option<ChannelPlan>,
    pub owner: Option<OwnerRef>,
    /// `rescue.enabled`, and `rescue.targets` when pinned.
    pub rescue: Option<(bool, Option<Vec<String>>)>,
}

/// The edits for `plan`, in order.
pub fn config_edits(plan: &ConfigPlan) -> Vec<Edit> {
    let mut e = Vec::new();
    let set = |e: &mut Vec<Edit>, p: &str, v: Value| e.push(Edit::Set(p.into(), v));
    let unset = |e: &mut Vec<Edit>, p: &str| e.push(Edit::Unset(p.into()));
    if let Some((m, model, has_key)) = &plan.model {
        let mut provider = json!({"baseUrl": m.base_url, "api": m.api, "models": [{"id": model}]});
        if !has_key {
            provider["auth"] = json!("none");
        }
        set(
            &mut e,
            &format!("models.providers.{}", m.provider),
            provider,
        );
        set(
            &mut e,
            "agents.defaults.model.primary",
            json!(format!("{}/{model}", m.provider)),
        );
    }
    match &plan.channel {
        None => {}
        Some(ChannelPlan::Telegram {
            token_file,
            api_root,
        }) => {
            set(&mut e, "channels.telegram.enabled", json!(true));
            set(&mut e, "channels.telegram.tokenFile", json!(token_file));
            // botToken would win over tokenFile.
            unset(&mut e, "channels.telegram.botToken");
            match api_root {
                Some(r) => set(&mut e, "channels.telegram.apiRoot", json!(r)),
                None => unset(&mut e, "channels.telegram.apiRoot"),
            }
        }
        Some(ChannelPlan::Irc {
            host,
            port,
            tls,
            nick,
            channels,
            password_file,
            nickserv_password_file,
        }) => {
            let c = "channels.irc";
            set(&mut e, &format!("{c}.enabled"), json!(true));
            set(&mut e, &format!("{c}.host"), json!(host));
            set(&mut e, &format!("{c}.port"), json!(port));
            set(&mut e, &format!("{c}.tls"), json!(tls));
            set(&mut e, &format!("{c}.nick"), json!(nick));
            if !channels.is_empty() {
                set(&mut e, &format!("{c}.channels"), json!(channels));
            }
            unset(&mut e, &format!("{c}.password"));
            match password_file {
                Some(f) => set(&mut e, &format!("{c}.passwordFile"), json!(f)),
                None => unset(&mut e, &format!("{c}.passwordFile")),
            }
            match nickserv_password_file {
                Some(f) => {
                    unset(&mut e, &format!("{c}.nickserv.password"));
                    set(&mut e, &format!("{c}.nickserv.passwordFile"), json!(f));
                }
                None => unset(&mut e, &format!("{c}.nickserv")),
            }
        }
        Some(ChannelPlan::Matrix {
            homeserver,
            user_id,
            access_token_file,
        }) => {
            let c = "channels.matrix";
            set(&mut e, &format!("{c}.enabled"), json!(true));
            set(&mut e, &format!("{c}.homeserver"), json!(homeserver));
            set(&mut e, &format!("{c}.userId"), json!(user_id));
            // The token lives in the credentials file the config names.
            set(
                &mut e,
                &format!("{c}.accessTokenFile"),
                json!(access_token_file),
            );
            for key in ["accessToken", "password", "passwordFile"] {
                unset(&mut e, &format!("{c}.{key}"));
            }
            // Without it the bot never joins the DM a person opens with it;
            // strangers still only get a pairing code.
            e.push(Edit::SetIfMissing(format!("{c}.autoJoin"), json!("always")));
        }
    }
    if let Some(o) = &plan.owner {
        e.push(Edit::AddToList(
            "commands.ownerAllowFrom".into(),
            json!(o.to_string()),
        ));
        e.push(Edit::AddToList(
            format!("channels.{}.allowFrom", o.channel),
            json!(o.sender),
        ));
    }
    if let Some((enabled, targets)) = &plan.rescue {
        set(&mut e, "rescue.enabled", json!(enabled));
        if let Some(t) = targets {
            set(&mut e, "rescue.targets", json!(t));
        }
    }
    e
}

/// Applies `edits` to a config document (the value inside one
/// `ConfigStore::update`); returns the paths that changed.
pub fn apply_edits(doc: &mut Value, edits: &[Edit]) -> Result<Vec<String>, String> {
    let mut changed = Vec::new();
    for e in edits {
        let path = e.path();
        let current = openclaw_config::get_path(doc, path)
            .map_err(|x| x.to_string())?
            .cloned();
        let new = match e {
            Edit::Set(_, v) => (current.as_ref() != Some(v)).then(|| v.clone()),
            Edit::SetIfMissing(_, v) => current.is_none().then(|| v.clone()),
            Edit::AddToList(_, v) => {
                let text = |x: &Value| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let mut list = match current {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                (!list.iter().any(|x| text(x) == text(v))).then(|| {
                    list.push(v.clone());
                    Value::Array(list)
                })
            }
            Edit::Unset(_) => {
                if openclaw_config::unset_path(doc, path).map_err(|x| x.to_string())? {
                    changed.push(path.to_string());
                }
                continue;
            }
        };
        if let Some(v) = new {
            openclaw_config::set_path(doc, path, v).map_err(|x| x.to_string())?;
            changed.push(path.to_string());
        }
    }
    Ok(changed)
}

// ---------------------------------------------------------------- service

/// How the service install went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Install {
    /// Installed and started by the service manager.
    Installed,
    /// No usable service manager (no systemd user session): the unit was
    /// written, not loaded.
    ManagerUnavailable,
    /// Refused or failed for another reason.
    Failed,
    /// `--skip-daemon`, or declined.
    Skipped,
}

/// What onboarding does next to end with a running gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartPlan {
    /// The service manager started it: wait for its health.
    WaitForService,
    /// Nothing runs the gateway: start it detached (as `gateway restart`
    /// does without a service), so the bot answers now; the service
    /// commands are shown for when the manager is usable.
    StartDetached,
    /// A gateway of this instance already runs; it picks the new config
    /// up by itself (config reload): check its health.
    AlreadyRunning,
    /// The user asked for no service: start nothing, say how.
    Nothing,
}

/// `running`: a gateway of this instance runs already (live owner record)
/// before the install.
pub fn start_plan(install: Install, running: bool) -> StartPlan {
    match (install, running) {
        (Install::Installed, _) => StartPlan::WaitForService,
        (_, true) => StartPlan::AlreadyRunning,
        (Install::ManagerUnavailable | Install::Failed, false) => StartPlan::StartDetached,
        (Install::Skipped, false) => StartPlan::Nothing,
    }
}

// ---------------------------------------------------------------- summary

/// What the summary knows about the channel set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelReach {
    /// `@username` from `getMe`.
    Telegram {
        username: String,
    },
    Irc {
        nick: String,
        server: String,
    },
    Matrix {
        user_id: String,
    },
}

/// One line of "what next".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextStep {
    pub what: String,
    /// A command to run, or an action (`open https://t.me/x`).
    pub how: String,
}

/// The next commands, for an instance whose commands start with `prefix`
/// (`openclaw --profile rescue`).
pub fn next_steps(
    prefix: &str,
    reach: Option<&ChannelReach>,
    owner: Option<&OwnerPlan>,
    gateway_running: bool,
    start_command: &str,
) -> Vec<NextStep> {
    let step = |what: &str, how: String| NextStep {
        what: what.into(),
        how,
    };
    let mut out = Vec::new();
    if !gateway_running {
        out.push(step("start the gateway", start_command.to_string()));
    }
    out.push(step("check it", format!("{prefix} status")));
    out.push(step("chat in the browser", format!("{prefix} dashboard")));
    if let Some(r) = reach {
        let (what, how, channel) = match r {
            ChannelReach::Telegram { username } => (
                "message the bot",
                format!(
                    "open https://t.me/{username} (or search @{username} in Telegram) and send it a message"
                ),
                "telegram",
            ),
            ChannelReach::Irc { nick, server } => (
                "message the bot",
                format!("on {server}: /msg {nick} hello"),
                "irc",
            ),
            ChannelReach::Matrix { user_id } => (
                "message the bot",
                format!("start a direct chat with {user_id} in your Matrix client"),
                "matrix",
            ),
        };
        out.push(step(what, how));
        match owner {
            Some(OwnerPlan::Owner(o)) => out.push(step(
                "you are the owner",
                format!("{o} may DM the bot at once and run owner commands"),
            )),
            _ => {
                out.push(step(
                    "pair your account",
                    format!(
                        "your first DM gets a code; approve it with: {prefix} pairing approve {channel} <CODE> (the first approval makes you the owner)"
                    ),
                ));
                out.push(step(
                    "see waiting codes",
                    format!("{prefix} pairing list {channel}"),
                ));
            }
        }
        out.push(step("channel state", format!("{prefix} channels status")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn one_stdin_table() {
        assert!(one_stdin(&[]).is_ok());
        assert!(one_stdin(&["--openai-api-key-file"]).is_ok());
        let e = one_stdin(&["--openai-api-key-file", "--telegram-bot-token-file"]).unwrap_err();
        assert!(
            e.contains("--openai-api-key-file, --telegram-bot-token-file"),
            "{e}"
        );
        let w = argv_secret_warning("--openai-api-key");
        assert!(
            w.contains("--openai-api-key-file <path>") && w.contains("/proc"),
            "{w}"
        );
    }

    #[test]
    fn model_plan_table() {
        use AuthChoice::*;
        let p = |c, b: Option<&str>, m: Option<&str>, a: Option<&str>| model_plan(c, b, m, a);
        assert_eq!(p(Skip, None, None, None), Ok(None));
        let o = p(OpenaiApiKey, None, None, None).unwrap().unwrap();
        assert_eq!(
            (
                o.provider.as_str(),
                o.base_url.as_str(),
                o.api.as_str(),
                o.primary().as_deref(),
                o.key_required
            ),
            (
                "openai",
                OPENAI_BASE_URL,
                "openai-completions",
                Some("openai/gpt-4o"),
                true
            )
        );
        let a = p(AnthropicApiKey, None, None, None).unwrap().unwrap();
        assert_eq!(a.api, "anthropic-messages");
        assert_eq!(a.primary().as_deref(), Some("anthropic/claude-sonnet-4-5"));
        let c = p(
            Custom,
            Some("http://127.0.0.1:11434/v1/"),
            Some("llama3.1"),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(c.api, "openai-completions");
        assert!(!c.key_required);
        let c = p(
            Custom,
            Some("http://h/v1"),
            None,
            Some("anthropic-messages"),
        )
        .unwrap()
        .unwrap();
        assert_eq!((c.model, c.api.as_str()), (None, "anthropic-messages"));
        for (b, api, needle) in [
            (None, None, "--custom-base-url"),
            (Some("ftp://h"), None, "not an http(s) URL"),
            (
                Some("http://h"),
                Some("grpc"),
                "openai-completions or anthropic-messages",
            ),
        ] {
            let e = p(Custom, b, None, api).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        assert!(
            AuthChoice::parse("apiKey")
                .unwrap_err()
                .contains("skip, openai-api-key")
        );
        for n in AuthChoice::NAMES {
            assert_eq!(AuthChoice::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn inference_from_flags_table() {
        use AuthChoice::*;
        for (given, o, a, c, want) in [
            (None, false, false, false, Skip),
            (None, true, false, false, OpenaiApiKey),
            (None, false, true, true, AnthropicApiKey),
            (None, false, false, true, Custom),
            (Some(Skip), true, false, false, Skip),
            (Some(Custom), true, false, true, Custom),
        ] {
            assert_eq!(infer_auth_choice(given, o, a, c), want);
        }
        use ChannelKind::*;
        for (given, skip, t, i, m, want) in [
            (None, false, false, false, false, Ok(None)),
            (None, false, true, true, false, Ok(Some(Telegram))),
            (None, false, false, true, true, Ok(Some(Irc))),
            (None, false, false, false, true, Ok(Some(Matrix))),
            (Some("matrix"), false, true, false, false, Ok(Some(Matrix))),
            (Some("skip"), false, true, false, false, Ok(None)),
            (None, true, true, false, false, Ok(None)),
        ] {
            assert_eq!(infer_channel(given, skip, t, i, m), want, "{given:?}");
        }
        assert!(infer_channel(Some("slack"), false, false, false, false).is_err());
    }

    #[test]
    fn listed_and_pick_model_table() {
        let listed = s(&["llama3.1:latest", "qwen3:8b", "claude-sonnet-4-5-20250929"]);
        assert!(is_listed("llama3.1", &listed));
        assert!(is_listed("qwen3:8b", &listed));
        assert!(is_listed("claude-sonnet-4-5", &listed));
        assert!(
            !is_listed("claude-sonnet-4", &listed),
            "a prefix that is not a date"
        );
        assert!(!is_listed("qwen3", &listed));

        let custom = |m: Option<&str>| ModelPlan {
            provider: "custom".into(),
            base_url: "http://h/v1".into(),
            api: "openai-completions".into(),
            model: m.map(str::to_string),
            key_required: false,
        };
        let hosted = ModelPlan {
            provider: "openai".into(),
            model: Some("gpt-4o".into()),
            key_required: true,
            ..custom(None)
        };
        let ok = |r: Result<ModelPick, String>| r.unwrap();
        assert_eq!(
            ok(pick_model(&custom(Some("llama3.1")), &listed)).model,
            "llama3.1"
        );
        let e = pick_model(&custom(Some("mistral")), &listed).unwrap_err();
        assert!(
            e.contains("does not have model mistral") && e.contains("qwen3:8b"),
            "{e}"
        );
        assert!(
            pick_model(&custom(Some("m")), &[])
                .unwrap_err()
                .contains("lists no models")
        );
        assert_eq!(ok(pick_model(&custom(None), &s(&["only"]))).model, "only");
        assert!(
            pick_model(&custom(None), &listed)
                .unwrap_err()
                .contains("--custom-model")
        );
        assert!(pick_model(&custom(None), &[]).is_err());
        let w = ok(pick_model(&hosted, &s(&["gpt-5"])));
        assert_eq!(w.model, "gpt-4o");
        assert!(w.warning.unwrap().contains("does not list gpt-4o"));
        assert_eq!(ok(pick_model(&hosted, &s(&["gpt-4o"]))).warning, None);
    }

    fn irc(host: &str, port: Option<u16>, nick: &str) -> Irc {
        Irc {
            host: host.into(),
            port,
            nick: nick.into(),
            ..Default::default()
        }
    }

    fn matrix(user: &str) -> Matrix {
        Matrix {
            homeserver: "https://hs".into(),
            user_id: Some(user.into()),
            ..Default::default()
        }
    }

    fn others() -> Vec<OtherInstance> {
        vec![
            OtherInstance {
                label: "default profile".into(),
                location: "~/.openclaw".into(),
                telegram_fingerprint: Some("fp-main".into()),
                irc: Some(irc("irc.example.org", None, "clawbot")),
                ..Default::default()
            },
            OtherInstance {
                label: "profile work".into(),
                location: "~/.openclaw-work".into(),
                matrix: Some(matrix("@bot:hs.example")),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn taken_by_names_the_instance() {
        let o = others();
        let t = taken_by(
            Login::Telegram {
                fingerprint: "fp-main",
            },
            &o,
        )
        .unwrap();
        assert_eq!(
            (t.label.as_str(), t.location.as_str()),
            ("default profile", "~/.openclaw")
        );
        assert!(
            t.message
                .contains("already used by default profile (~/.openclaw)"),
            "{}",
            t.message
        );
        assert!(t.message.contains("@BotFather"));
        assert_eq!(
            taken_by(
                Login::Telegram {
                    fingerprint: "fp-other"
                },
                &o
            ),
            None
        );

        // IRC: same server (case, default TLS port) and nick (IRC case mapping).
        let same = irc("IRC.example.org.", Some(6697), "ClawBot");
        let t = taken_by(Login::Irc(&same), &o).unwrap();
        assert_eq!(t.label, "default profile");
        assert!(
            t.message.to_lowercase().contains(
                "irc nick clawbot on irc.example.org:6697 is already used by default profile"
            ),
            "{}",
            t.message
        );
        assert!(t.message.contains("choose another nick"));
        for free in [
            irc("irc.example.org", None, "rescuebot"),
            irc("irc.other.net", None, "clawbot"),
            irc("irc.example.org", Some(6667), "clawbot"),
        ] {
            assert_eq!(taken_by(Login::Irc(&free), &o), None, "{free:?}");
        }

        let t = taken_by(Login::Matrix(&matrix("@Bot:HS.example")), &o).unwrap();
        assert_eq!(t.label, "profile work");
        assert!(
            t.message.contains("Matrix user @bot:hs.example"),
            "{}",
            t.message
        );
        assert_eq!(
            taken_by(Login::Matrix(&matrix("@rescue:hs.example")), &o),
            None
        );
    }

    #[test]
    fn irc_held_by_this_instance_needs_the_same_login_and_a_live_connection_as_it() {
        let configured = irc("irc.example.org", None, "clawbot");
        let same = irc("IRC.example.org.", Some(6697), "ClawBot");
        let held = |c: Option<&Irc>, cand: &Irc, conn: Option<&str>| {
            irc_held_by_this_instance(c, cand, conn)
        };
        assert!(held(Some(&configured), &same, Some("clawbot")));
        // IRC case mapping for the nick the gateway reports.
        assert!(held(Some(&configured), &same, Some("CLAWBOT")));
        // Not connected (or not reporting), or connected as another nick
        // (the server renamed it): the check runs.
        assert!(!held(Some(&configured), &same, None));
        assert!(!held(Some(&configured), &same, Some("clawbot_")));
        // Not configured so, or a different server, port or nick answered.
        assert!(!held(None, &same, Some("clawbot")));
        for other in [
            irc("irc.other.net", None, "clawbot"),
            irc("irc.example.org", Some(6667), "clawbot"),
            irc("irc.example.org", None, "rescuebot"),
        ] {
            assert!(
                !held(Some(&configured), &other, Some(&other.nick)),
                "{other:?}"
            );
        }
        // A disabled section holds nothing.
        let mut off = configured.clone();
        off.enabled = Some(false);
        assert!(!held(Some(&off), &same, Some("clawbot")));
    }

    #[test]
    fn parse_owner_table() {
        use ChannelKind::*;
        let ok = |raw: &str, ch: Option<ChannelKind>| parse_owner(raw, ch).unwrap().to_string();
        assert_eq!(ok("123456", Some(Telegram)), "telegram:123456");
        assert_eq!(ok("telegram:42", Some(Telegram)), "telegram:42");
        assert_eq!(ok("tg:42", None), "telegram:42");
        assert_eq!(
            ok("alice!al@host.example", Some(Irc)),
            "irc:alice!al@host.example"
        );
        assert_eq!(
            ok("irc:alice!al@2001:db8::1", Some(Irc)),
            "irc:alice!al@2001:db8::1"
        );
        assert_eq!(
            ok("alice!al@2001:db8::1", Some(Irc)),
            "irc:alice!al@2001:db8::1"
        );
        assert_eq!(
            ok("@me:example.org", Some(Matrix)),
            "matrix:@me:example.org"
        );
        assert_eq!(
            ok("matrix:@me:example.org", Some(Matrix)),
            "matrix:@me:example.org"
        );
        for (raw, ch, needle) in [
            ("@someone", Some(Telegram), "numeric Telegram user id"),
            ("*", Some(Telegram), "one person"),
            (
                "irc:a!b@c",
                Some(Telegram),
                "the channel set up is Telegram",
            ),
            ("alice", Some(Irc), "nick!user@host"),
            ("a*!b@c", Some(Irc), "no wildcards"),
            ("me", Some(Matrix), "full Matrix user id"),
            ("123", None, "no channel is set up"),
        ] {
            let e = parse_owner(raw, ch).unwrap_err();
            assert!(e.contains(needle), "{raw}: {e}");
        }
    }

    #[test]
    fn owner_channel_table() {
        use ChannelKind::*;
        let tg = parse_owner("telegram:42", None).unwrap();
        assert!(check_owner_channel(&tg, Some(Telegram), &[]).is_ok());
        assert!(check_owner_channel(&tg, None, &[Telegram]).is_ok());
        let e = check_owner_channel(&tg, None, &[Irc]).unwrap_err();
        assert!(e.contains("needs a Telegram channel"), "{e}");
        let e = check_owner_channel(&tg, Some(Matrix), &[Telegram]).unwrap_err();
        assert!(e.contains("the channel set up is Matrix"), "{e}");
    }

    #[test]
    fn rescue_offer_table() {
        let main = s(&["default profile"]);
        assert_eq!(
            rescue_offer(Some("rescue"), &main),
            RescueOffer {
                offer: true,
                default: true,
                watches: main.clone()
            }
        );
        assert_eq!(
            rescue_offer(Some("rescue"), &[]),
            RescueOffer {
                offer: true,
                default: true,
                watches: vec![]
            }
        );
        assert_eq!(
            rescue_offer(Some("work"), &main),
            RescueOffer {
                offer: true,
                default: false,
                watches: main.clone()
            }
        );
        assert!(!rescue_offer(None, &[]).offer);
        let known: BTreeMap<String, String> =
            [("default".to_string(), "default profile".to_string())].into();
        assert_eq!(
            rescue_targets(&s(&["default", "default"]), &known),
            Ok(s(&["default"]))
        );
        let e = rescue_targets(&s(&["main"]), &known).unwrap_err();
        assert!(e.contains("known: default"), "{e}");
    }

    #[test]
    fn rescue_decision_table() {
        let rescue = rescue_offer(Some("rescue"), &s(&["default profile"]));
        let other = rescue_offer(Some("work"), &s(&["default profile"]));
        let alone = rescue_offer(None, &[]);
        let t = || Some(s(&["default"]));
        for (what, offer, answer, targets, currently, want) in [
            (
                "profile rescue, no answer: on",
                &rescue,
                None,
                None,
                false,
                Some((true, None)),
            ),
            (
                "profile rescue, declined",
                &rescue,
                Some(false),
                None,
                false,
                None,
            ),
            (
                "another profile, no answer: untouched",
                &other,
                None,
                None,
                false,
                None,
            ),
            (
                "another profile, accepted",
                &other,
                Some(true),
                None,
                false,
                Some((true, None)),
            ),
            (
                "already on, no answer: kept",
                &other,
                None,
                None,
                true,
                Some((true, None)),
            ),
            (
                "already on, turned off",
                &other,
                Some(false),
                None,
                true,
                Some((false, None)),
            ),
            (
                "pinned targets imply the role",
                &alone,
                None,
                t(),
                false,
                Some((true, t())),
            ),
            (
                "--no-rescue wins over targets",
                &other,
                Some(false),
                t(),
                false,
                None,
            ),
            (
                "--no-rescue on a rescue instance",
                &other,
                Some(false),
                t(),
                true,
                Some((false, None)),
            ),
            (
                "nothing to watch, no answer",
                &alone,
                None,
                None,
                false,
                None,
            ),
        ] {
            assert_eq!(
                rescue_decision(offer, answer, targets, currently),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn port_reason_table() {
        assert_eq!(
            port_reason(18789, (18789, 18899), None, &[], &[]),
            "base port 18789: the default; its footprint is ports 18789-18899"
        );
        assert_eq!(
            port_reason(18789, (18789, 18899), None, &s(&["profile work"]), &[18791]),
            "base port 18789: the default; its footprint (ports 18789-18899) is clear of profile work; note: port 18791 is in use right now, so the gateway cannot start there until it is free (or type another port)"
        );
        assert_eq!(
            port_reason(
                18900,
                (18900, 19010),
                Some(
                    "picked base port 18900: the lowest whose whole footprint is free and clear of default profile"
                ),
                &s(&["default profile"]),
                &[]
            ),
            "picked base port 18900: the lowest whose whole footprint is free and clear of default profile (ports 18900-19010)"
        );
    }

    fn apply(edits: &[Edit]) -> Vec<(String, String)> {
        edits
            .iter()
            .map(|e| match e {
                Edit::Set(p, v) => (format!("set {p}"), v.to_string()),
                Edit::SetIfMissing(p, v) => (format!("default {p}"), v.to_string()),
                Edit::Unset(p) => (format!("unset {p}"), String::new()),
                Edit::AddToList(p, v) => (format!("add {p}"), v.to_string()),
            })
            .collect()
    }

    #[test]
    fn config_edits_table() {
        assert!(config_edits(&ConfigPlan::default()).is_empty());

        let custom = model_plan(AuthChoice::Custom, Some("http://h/v1"), Some("m"), None)
            .unwrap()
            .unwrap();
        let plan = ConfigPlan {
            model: Some((custom, "m".into(), false)),
            channel: Some(ChannelPlan::Telegram {
                token_file: "/h/.openclaw-rescue/credentials/telegram-default.token".into(),
                api_root: None,
            }),
            owner: Some(parse_owner("4242", Some(ChannelKind::Telegram)).unwrap()),
            rescue: Some((true, None)),
        };
        let got = apply(&config_edits(&plan));
        let want: Vec<(String, String)> = [
            ("set models.providers.custom", r#"{"baseUrl":"http://h/v1","api":"openai-completions","models":[{"id":"m"}],"auth":"none"}"#),
            ("set agents.defaults.model.primary", r#""custom/m""#),
            ("set channels.telegram.enabled", "true"),
            ("set channels.telegram.tokenFile", r#""/h/.openclaw-rescue/credentials/telegram-default.token""#),
            ("unset channels.telegram.botToken", ""),
            ("unset channels.telegram.apiRoot", ""),
            ("add commands.ownerAllowFrom", r#""telegram:4242""#),
            ("add channels.telegram.allowFrom", r#""4242""#),
            ("set rescue.enabled", "true"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);

        // A key in the credentials file: no auth:none. IRC with files.
        let openai = model_plan(AuthChoice::OpenaiApiKey, None, None, None)
            .unwrap()
            .unwrap();
        let plan = ConfigPlan {
            model: Some((openai, "gpt-4o".into(), true)),
            channel: Some(ChannelPlan::Irc {
                host: "irc.example.org".into(),
                port: 6697,
                tls: true,
                nick: "clawbot".into(),
                channels: s(&["#ops"]),
                password_file: Some("/s/credentials/irc-default.password".into()),
                nickserv_password_file: None,
            }),
            owner: None,
            rescue: Some((false, Some(s(&["default"])))),
        };
        let got = apply(&config_edits(&plan));
        assert_eq!(
            got[0].1,
            r#"{"baseUrl":"https://api.openai.com/v1","api":"openai-completions","models":[{"id":"gpt-4o"}]}"#
        );
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths[2..],
            [
                "set channels.irc.enabled",
                "set channels.irc.host",
                "set channels.irc.port",
                "set channels.irc.tls",
                "set channels.irc.nick",
                "set channels.irc.channels",
                "unset channels.irc.password",
                "set channels.irc.passwordFile",
                "unset channels.irc.nickserv",
                "set rescue.enabled",
                "set rescue.targets",
            ]
        );

        let plan = ConfigPlan {
            channel: Some(ChannelPlan::Matrix {
                homeserver: "https://hs".into(),
                user_id: "@bot:hs".into(),
                access_token_file: "/state/credentials/matrix-default.token".into(),
            }),
            ..Default::default()
        };
        let got = apply(&config_edits(&plan));
        assert!(got.contains(&(
            "set channels.matrix.accessTokenFile".into(),
            r#""/state/credentials/matrix-default.token""#.into()
        )));
        for key in ["accessToken", "password", "passwordFile"] {
            assert!(got.contains(&(format!("unset channels.matrix.{key}"), String::new())));
        }
        assert!(got.contains(&(
            "default channels.matrix.autoJoin".into(),
            r#""always""#.into()
        )));
    }

    #[test]
    fn apply_edits_keeps_what_is_there_and_reports_changes() {
        let mut doc = json!({
            "channels": {"telegram": {"botToken": "1:old", "dmPolicy": "allowlist", "allowFrom": [4242]}},
            "commands": {"ownerAllowFrom": ["telegram:1"]},
            "channels2": {},
        });
        let edits = [
            Edit::Set("channels.telegram.tokenFile".into(), json!("/f")),
            Edit::Unset("channels.telegram.botToken".into()),
            Edit::Unset("channels.telegram.apiRoot".into()),
            Edit::AddToList("channels.telegram.allowFrom".into(), json!("4242")),
            Edit::AddToList("commands.ownerAllowFrom".into(), json!("telegram:4242")),
            Edit::SetIfMissing("channels.telegram.dmPolicy".into(), json!("pairing")),
            Edit::SetIfMissing("rescue.enabled".into(), json!(true)),
        ];
        let changed = apply_edits(&mut doc, &edits).unwrap();
        assert_eq!(
            changed,
            [
                "channels.telegram.tokenFile",
                "channels.telegram.botToken",
                "commands.ownerAllowFrom",
                "rescue.enabled"
            ]
        );
        assert_eq!(doc["channels"]["telegram"]["allowFrom"], json!([4242]));
        assert_eq!(doc["channels"]["telegram"]["dmPolicy"], "allowlist");
        assert_eq!(
            doc["commands"]["ownerAllowFrom"],
            json!(["telegram:1", "telegram:4242"])
        );
        assert!(doc["channels"]["telegram"].get("botToken").is_none());
        // Running it again changes nothing.
        assert!(apply_edits(&mut doc, &edits).unwrap().is_empty());
    }

    #[test]
    fn start_plan_table() {
        use Install::*;
        use StartPlan::*;
        for (install, running, want) in [
            (Installed, false, WaitForService),
            (Installed, true, WaitForService),
            (ManagerUnavailable, false, StartDetached),
            (ManagerUnavailable, true, AlreadyRunning),
            (Failed, false, StartDetached),
            (Failed, true, AlreadyRunning),
            (Skipped, false, Nothing),
            (Skipped, true, AlreadyRunning),
        ] {
            assert_eq!(start_plan(install, running), want, "{install:?} {running}");
        }
    }

    #[test]
    fn next_steps_table() {
        let p = "openclaw --profile rescue";
        let tg = ChannelReach::Telegram {
            username: "rescue_bot".into(),
        };
        let hows = |v: Vec<NextStep>| v.into_iter().map(|s| s.how).collect::<Vec<_>>();
        let got = hows(next_steps(
            p,
            Some(&tg),
            Some(&OwnerPlan::Pairing),
            true,
            "x",
        ));
        assert_eq!(
            got,
            [
                "openclaw --profile rescue status",
                "openclaw --profile rescue dashboard",
                "open https://t.me/rescue_bot (or search @rescue_bot in Telegram) and send it a message",
                "your first DM gets a code; approve it with: openclaw --profile rescue pairing approve telegram <CODE> (the first approval makes you the owner)",
                "openclaw --profile rescue pairing list telegram",
                "openclaw --profile rescue channels status",
            ]
        );
        let owner = OwnerPlan::Owner(parse_owner("4242", Some(ChannelKind::Telegram)).unwrap());
        let got = hows(next_steps(
            p,
            Some(&tg),
            Some(&owner),
            false,
            "openclaw --profile rescue gateway",
        ));
        assert_eq!(got[0], "openclaw --profile rescue gateway");
        assert!(
            got.iter()
                .any(|h| h.contains("telegram:4242 may DM the bot at once"))
        );
        assert!(!got.iter().any(|h| h.contains("pairing approve")));
        let got = hows(next_steps("openclaw", None, None, true, "x"));
        assert_eq!(got, ["openclaw status", "openclaw dashboard"]);
        let irc = ChannelReach::Irc {
            nick: "clawbot".into(),
            server: "irc.example.org:6697".into(),
        };
        assert!(
            hows(next_steps("openclaw", Some(&irc), None, true, "x"))
                .contains(&"on irc.example.org:6697: /msg clawbot hello".to_string())
        );
    }
}
