//! `openclaw onboard`: from nothing to a bot you can message. It asks (on a
//! terminal, with clack-style prompts) or reads flags (`--non-interactive`)
//! for the model, the channel, the owner, the rescue role and the port;
//! checks each answer with one real call (the provider's model listing,
//! Telegram `getMe`, an IRC registration, a Matrix login) and against the
//! other instances on this host; then writes everything at once (secrets to
//! `<stateDir>/credentials/`, mode 0600; the config in one atomic write);
//! then installs the service, starts the gateway, checks its health and the
//! channel, and prints the next commands.
//!
//! The decisions are `openclaw_ops::onboard`'s; this module asks, checks,
//! writes and reports. Progress goes to stderr as step lines; the result
//! (and `--json`) to stdout. Nothing is reported as done that was not done.

mod checks;
mod prompts;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use openclaw_instance::Instance;
use openclaw_ops::onboard::{
    self as ops, AuthChoice, ChannelKind, ChannelPlan, ChannelReach, ConfigPlan, Install, Login,
    ModelPlan, OtherInstance, OwnerPlan, StartPlan,
};
use openclaw_service::{InstallOptions, ProcessRunner, Service, ServiceError};
use serde_json::{Value, json};

use crate::cmd::setup::{self, Base, SetupArgs, SetupOutcome};
use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::hosts::{self, KnownInstance};
use crate::live;
use crate::output::{print_json, tilde};
use crate::secrets::{self, SecretValue};
use crate::services::{InstanceService, service_error};

pub use checks::Checker;

/// Set up this instance and end with a running bot you can message.
///
/// On a terminal it asks for each step: the model (OpenAI or Anthropic API
/// key, any OpenAI-compatible server such as Ollama, vLLM or LM Studio, or
/// skip), a channel (Telegram, IRC, Matrix, or skip), the owner, the rescue
/// role, the base port and the service. Every key, token and login is
/// checked with one real call before it is saved, and a bot token, IRC nick
/// or Matrix user that another instance on this host uses is refused,
/// naming that instance. Nothing is written until every answer is in
/// (Ctrl-C at any prompt leaves nothing behind); then the config is
/// written once, secrets go to <stateDir>/credentials/ (mode 0600), the
/// service is installed and the gateway started and checked.
///
/// Elsewhere (or in scripts) pass --non-interactive --accept-risk and the
/// answers as flags. On a terminal only --accept-risk, --port, --workspace,
/// --skip-daemon, --skip-channels, --custom-base-url, --custom-model,
/// --custom-api and --telegram-api-root apply to the prompts; any other
/// answer flag needs --non-interactive:
///   openclaw --profile rescue onboard --non-interactive --accept-risk \
///     --auth-choice openai-api-key --openai-api-key-file ~/.secrets/openai \
///     --telegram-bot-token-file ~/.secrets/rescue-bot --owner telegram:<your id>
///
/// Secrets: a key, token or password given as a flag value is readable by
/// other local users in the process list and stays in your shell history.
/// Give each as --<flag>-file <path> (a regular file), or --<flag>-file - to
/// read it from stdin (one per run): --openai-api-key-file,
/// --anthropic-api-key-file, --custom-api-key-file,
/// --telegram-bot-token-file, --irc-password-file,
/// --irc-nickserv-password-file, --matrix-password-file,
/// --matrix-access-token-file. A literal value still works, with a warning.
///
/// Without a usable service manager (no systemd user session, as in
/// containers) the service file is written but not loaded, and the gateway
/// is started in the background instead (as `gateway restart` does without
/// a service), so the bot answers now; the commands that install the
/// service for good are printed. A named profile without --port gets the
/// lowest base port whose whole footprint is free and clear of every other
/// instance on this host.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct OnboardArgs {
    /// Do not prompt; take every answer from flags (requires --accept-risk)
    #[arg(long)]
    pub non_interactive: bool,
    /// Accept that the gateway runs agents with access to this machine
    #[arg(long)]
    pub accept_risk: bool,
    /// Gateway mode (only `local` is supported)
    #[arg(long, default_value = "local")]
    pub mode: String,
    /// Model provider: skip | openai-api-key | anthropic-api-key | custom
    /// (default: from the key or base URL flags given, else skip)
    #[arg(long)]
    pub auth_choice: Option<String>,
    #[command(flatten, next_help_heading = "Model")]
    pub model: ModelFlags,
    #[command(flatten, next_help_heading = "Channel")]
    pub channel: ChannelFlags,
    /// Who owns the bot: <channel>:<your id> (telegram:123456789,
    /// irc:nick!user@host, matrix:@you:example.org), allowed to DM it at once
    /// and to run owner commands; or `pairing` (default): approve your first
    /// DM with `pairing approve`
    #[arg(
        long,
        value_name = "CHANNEL:ID|pairing",
        help_heading = "Owner and role"
    )]
    pub owner: Option<String>,
    /// Make this the rescue instance (rescue.enabled), watching the other
    /// instances on this host; the default for profile `rescue`
    #[arg(long, conflicts_with = "no_rescue", help_heading = "Owner and role")]
    pub rescue: bool,
    /// Do not make this the rescue instance
    #[arg(long, help_heading = "Owner and role")]
    pub no_rescue: bool,
    /// With --rescue: watch only this instance (a profile name, `default`,
    /// or a state dir); repeatable. Default: every other instance, also
    /// those set up later
    #[arg(
        long = "rescue-target",
        value_name = "NAME",
        help_heading = "Owner and role"
    )]
    pub rescue_targets: Vec<String>,
    /// Skip channel setup
    #[arg(long)]
    pub skip_channels: bool,
    /// Skip skills setup
    #[arg(long)]
    pub skip_skills: bool,
    /// Do not install the service or start the gateway
    #[arg(long)]
    pub skip_daemon: bool,
    /// Do not wait for the gateway's health or the channel
    #[arg(long)]
    pub skip_health: bool,
    /// Do not open the control UI
    #[arg(long)]
    pub skip_ui: bool,
    /// --port, --workspace and --json, as for `openclaw setup`.
    #[command(flatten)]
    pub setup: SetupArgs,
}

/// Model provider flags.
#[derive(Args, Debug, Default, Clone)]
pub struct ModelFlags {
    /// OpenAI API key (with --auth-choice openai-api-key); prefer --openai-api-key-file
    #[arg(long, conflicts_with = "openai_api_key_file")]
    pub openai_api_key: Option<String>,
    /// File holding the OpenAI API key (`-` = stdin)
    #[arg(long, value_name = "PATH")]
    pub openai_api_key_file: Option<PathBuf>,
    /// Anthropic API key (with --auth-choice anthropic-api-key); prefer --anthropic-api-key-file
    #[arg(long, conflicts_with = "anthropic_api_key_file")]
    pub anthropic_api_key: Option<String>,
    /// File holding the Anthropic API key (`-` = stdin)
    #[arg(long, value_name = "PATH")]
    pub anthropic_api_key_file: Option<PathBuf>,
    /// Base URL of an OpenAI- or Anthropic-compatible server (with --auth-choice custom),
    /// e.g. http://127.0.0.1:11434/v1 for Ollama
    #[arg(long)]
    pub custom_base_url: Option<String>,
    /// API key for the custom server (omit for servers that need none); prefer --custom-api-key-file
    #[arg(long, conflicts_with = "custom_api_key_file")]
    pub custom_api_key: Option<String>,
    /// File holding the custom server's API key (`-` = stdin)
    #[arg(long, value_name = "PATH")]
    pub custom_api_key_file: Option<PathBuf>,
    /// Model id on the custom server, e.g. llama3.1 (default: the only one it lists)
    #[arg(long)]
    pub custom_model: Option<String>,
    /// Wire protocol of the custom server
    #[arg(long, value_parser = ["openai-completions", "anthropic-messages"])]
    pub custom_api: Option<String>,
}

/// Channel flags.
#[derive(Args, Debug, Default, Clone)]
pub struct ChannelFlags {
    /// The channel to set up (default: from the flags given, else none)
    #[arg(long, value_parser = ["telegram", "irc", "matrix", "skip"])]
    pub channel: Option<String>,
    /// Telegram bot token from @BotFather; prefer --telegram-bot-token-file
    #[arg(long, conflicts_with = "telegram_bot_token_file")]
    pub telegram_bot_token: Option<String>,
    /// File holding the Telegram bot token (`-` = stdin)
    #[arg(long, value_name = "PATH")]
    pub telegram_bot_token_file: Option<PathBuf>,
    /// A self-hosted Bot API server (default https://api.telegram.org, or
    /// OPENCLAW_TELEGRAM_API_ROOT); saved as channels.telegram.apiRoot
    #[arg(long, value_name = "URL")]
    pub telegram_api_root: Option<String>,
    /// IRC server host name
    #[arg(long)]
    pub irc_host: Option<String>,
    /// IRC server port (default 6697 with TLS, 6667 without)
    #[arg(long)]
    pub irc_port: Option<u16>,
    /// Connect without TLS (plaintext; only for a server you trust)
    #[arg(long)]
    pub irc_no_tls: bool,
    /// The bot's IRC nick
    #[arg(long)]
    pub irc_nick: Option<String>,
    /// A channel to join (`#room`); repeatable
    #[arg(long = "irc-channel", value_name = "#ROOM")]
    pub irc_channels: Vec<String>,
    /// IRC server password; prefer --irc-password-file
    #[arg(long, conflicts_with = "irc_password_file")]
    pub irc_password: Option<String>,
    /// File holding the IRC server password (`-` = stdin)
    #[arg(long, value_name = "PATH")]
    pub irc_password_file: Option<PathBuf>,
    /// NickServ password; prefer --irc-nickserv-password-file
    #[arg(long, conflicts_with = "irc_nickserv_password_file")]
    pub irc_nickserv_password: Option<String>,
    /// File holding the NickServ password (`-` = stdin)
    #[arg(long, value_name = "PATH")]
    pub irc_nickserv_password_file: Option<PathBuf>,
    /// Matrix homeserver URL, e.g. https://matrix.example.org
    #[arg(long, value_name = "URL")]
    pub matrix_homeserver: Option<String>,
    /// The bot's Matrix user id (@bot:example.org)
    #[arg(long)]
    pub matrix_user_id: Option<String>,
    /// The bot's Matrix password (used once to log in; only the access token
    /// is kept); prefer --matrix-password-file
    #[arg(long, conflicts_with = "matrix_password_file")]
    pub matrix_password: Option<String>,
    /// File holding the bot's Matrix password (`-` = stdin)
    #[arg(long, value_name = "PATH")]
    pub matrix_password_file: Option<PathBuf>,
    /// A Matrix access token instead of a password; prefer --matrix-access-token-file
    #[arg(long, conflicts_with = "matrix_access_token_file")]
    pub matrix_access_token: Option<String>,
    /// File holding a Matrix access token (`-` = stdin)
    #[arg(long, value_name = "PATH")]
    pub matrix_access_token_file: Option<PathBuf>,
}

// ---------------------------------------------------------------- flags on a terminal

/// What onboarding on a terminal does with a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnTerminal {
    /// It answers a question the prompts ask themselves, so it would be
    /// ignored: refused without --non-interactive.
    Refused,
    /// The prompts use it (a default, a fixed answer, a step left out).
    Used,
    /// Not an answer: how onboarding runs or reports.
    NotAnAnswer,
}

/// One flag of `onboard`, as given.
#[derive(Debug, Clone, Copy)]
struct FlagUse {
    /// `--irc-port`.
    name: &'static str,
    given: bool,
    on_terminal: OnTerminal,
    /// A secret given as a literal value (warned about: it is in argv).
    literal_secret: bool,
}

impl OnboardArgs {
    /// Every flag of `onboard`, whether it was given, and what a terminal
    /// session does with it: the one list [`OnboardArgs::refused_on_a_terminal`]
    /// is derived from. The structs are destructured without `..`, so a new
    /// field does not compile until it is classified here, and a unit test
    /// checks the names against clap's.
    fn flag_uses(&self) -> Vec<FlagUse> {
        use OnTerminal::*;
        let OnboardArgs {
            non_interactive,
            accept_risk,
            mode,
            auth_choice,
            model,
            channel,
            owner,
            rescue,
            no_rescue,
            rescue_targets,
            skip_channels,
            skip_skills,
            skip_daemon,
            skip_health,
            skip_ui,
            setup,
        } = self;
        let ModelFlags {
            openai_api_key,
            openai_api_key_file,
            anthropic_api_key,
            anthropic_api_key_file,
            custom_base_url,
            custom_api_key,
            custom_api_key_file,
            custom_model,
            custom_api,
        } = model;
        let ChannelFlags {
            channel,
            telegram_bot_token,
            telegram_bot_token_file,
            telegram_api_root,
            irc_host,
            irc_port,
            irc_no_tls,
            irc_nick,
            irc_channels,
            irc_password,
            irc_password_file,
            irc_nickserv_password,
            irc_nickserv_password_file,
            matrix_homeserver,
            matrix_user_id,
            matrix_password,
            matrix_password_file,
            matrix_access_token,
            matrix_access_token_file,
        } = channel;
        let SetupArgs {
            port,
            workspace,
            json,
        } = setup;
        let flag = |name, given: bool, on_terminal| FlagUse {
            name,
            given,
            on_terminal,
            literal_secret: false,
        };
        let secret = |name, given: bool| FlagUse {
            name,
            given,
            on_terminal: Refused,
            literal_secret: true,
        };
        vec![
            flag("--non-interactive", *non_interactive, NotAnAnswer),
            // The risk prompt is not asked when it was accepted already.
            flag("--accept-risk", *accept_risk, Used),
            flag("--mode", mode != "local", NotAnAnswer),
            flag("--auth-choice", auth_choice.is_some(), Refused),
            secret("--openai-api-key", openai_api_key.is_some()),
            flag(
                "--openai-api-key-file",
                openai_api_key_file.is_some(),
                Refused,
            ),
            secret("--anthropic-api-key", anthropic_api_key.is_some()),
            flag(
                "--anthropic-api-key-file",
                anthropic_api_key_file.is_some(),
                Refused,
            ),
            // The custom server's defaults when that provider is chosen.
            flag("--custom-base-url", custom_base_url.is_some(), Used),
            secret("--custom-api-key", custom_api_key.is_some()),
            flag(
                "--custom-api-key-file",
                custom_api_key_file.is_some(),
                Refused,
            ),
            flag("--custom-model", custom_model.is_some(), Used),
            flag("--custom-api", custom_api.is_some(), Used),
            flag("--channel", channel.is_some(), Refused),
            secret("--telegram-bot-token", telegram_bot_token.is_some()),
            flag(
                "--telegram-bot-token-file",
                telegram_bot_token_file.is_some(),
                Refused,
            ),
            // Where the token is checked, prompted or not.
            flag("--telegram-api-root", telegram_api_root.is_some(), Used),
            flag("--irc-host", irc_host.is_some(), Refused),
            flag("--irc-port", irc_port.is_some(), Refused),
            flag("--irc-no-tls", *irc_no_tls, Refused),
            flag("--irc-nick", irc_nick.is_some(), Refused),
            flag("--irc-channel", !irc_channels.is_empty(), Refused),
            secret("--irc-password", irc_password.is_some()),
            flag("--irc-password-file", irc_password_file.is_some(), Refused),
            secret("--irc-nickserv-password", irc_nickserv_password.is_some()),
            flag(
                "--irc-nickserv-password-file",
                irc_nickserv_password_file.is_some(),
                Refused,
            ),
            flag("--matrix-homeserver", matrix_homeserver.is_some(), Refused),
            flag("--matrix-user-id", matrix_user_id.is_some(), Refused),
            secret("--matrix-password", matrix_password.is_some()),
            flag(
                "--matrix-password-file",
                matrix_password_file.is_some(),
                Refused,
            ),
            secret("--matrix-access-token", matrix_access_token.is_some()),
            flag(
                "--matrix-access-token-file",
                matrix_access_token_file.is_some(),
                Refused,
            ),
            flag("--owner", owner.is_some(), Refused),
            flag("--rescue", *rescue, Refused),
            flag("--no-rescue", *no_rescue, Refused),
            flag("--rescue-target", !rescue_targets.is_empty(), Refused),
            flag("--skip-channels", *skip_channels, Used),
            // There is no skills step (accepted as upstream has it).
            flag("--skip-skills", *skip_skills, NotAnAnswer),
            flag("--skip-daemon", *skip_daemon, Used),
            flag("--skip-health", *skip_health, NotAnAnswer),
            flag("--skip-ui", *skip_ui, NotAnAnswer),
            flag("--port", port.is_some(), Used),
            flag("--workspace", workspace.is_some(), Used),
            flag("--json", *json, NotAnAnswer),
        ]
    }

    /// The answer flags given that a terminal session would ignore (it asks
    /// those questions itself), and which of them carry a literal secret.
    fn refused_on_a_terminal(&self) -> Vec<FlagUse> {
        self.flag_uses()
            .into_iter()
            .filter(|f| f.given && f.on_terminal == OnTerminal::Refused)
            .collect()
    }
}

// ---------------------------------------------------------------- answers

/// The model answer, checked.
pub struct ModelAnswer {
    pub plan: ModelPlan,
    pub model: String,
    pub key: Option<SecretValue>,
    pub listed: usize,
    pub warning: Option<String>,
}

/// The channel answer, checked.
pub enum ChannelAnswer {
    Telegram {
        token: SecretValue,
        /// The Bot API root used for the check, and to save when it is not
        /// the default.
        api_root: String,
        bot: checks::Bot,
    },
    Irc {
        details: checks::IrcDetails,
        channels: Vec<String>,
        nickserv: Option<SecretValue>,
    },
    Matrix {
        homeserver: String,
        session: checks::MatrixSession,
    },
}

impl ChannelAnswer {
    fn kind(&self) -> ChannelKind {
        match self {
            ChannelAnswer::Telegram { .. } => ChannelKind::Telegram,
            ChannelAnswer::Irc { .. } => ChannelKind::Irc,
            ChannelAnswer::Matrix { .. } => ChannelKind::Matrix,
        }
    }

    fn reach(&self) -> ChannelReach {
        match self {
            ChannelAnswer::Telegram { bot, .. } => ChannelReach::Telegram {
                username: bot.username.clone(),
            },
            ChannelAnswer::Irc { details, .. } => ChannelReach::Irc {
                nick: details.nick.clone(),
                server: format!("{}:{}", details.host, details.port),
            },
            ChannelAnswer::Matrix { session, .. } => ChannelReach::Matrix {
                user_id: session.user_id.clone(),
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            ChannelAnswer::Telegram { bot, .. } => {
                format!("Telegram @{} (bot id {})", bot.username, bot.id)
            }
            ChannelAnswer::Irc { details, .. } => format!(
                "IRC {} on {}:{}{}",
                details.nick,
                details.host,
                details.port,
                if details.tls {
                    " (TLS)"
                } else {
                    " (plaintext)"
                }
            ),
            ChannelAnswer::Matrix {
                homeserver,
                session,
            } => format!("Matrix {} on {homeserver}", session.user_id),
        }
    }
}

/// Every answer, gathered and checked before anything is written.
pub struct Answers {
    pub model: Option<ModelAnswer>,
    pub channel: Option<ChannelAnswer>,
    pub owner: Option<OwnerPlan>,
    /// `rescue.enabled` and pinned targets, when decided.
    pub rescue: Option<(bool, Option<Vec<String>>)>,
    pub port: u16,
    pub port_reason: String,
    pub workspace: Option<PathBuf>,
    pub install_service: bool,
}

/// What onboarding knows before it asks: the config as read (its hash
/// guards the final write), the other instances and their logins.
pub struct Facts {
    pub existing: Option<openclaw_state::Loaded>,
    pub others: Vec<KnownInstance>,
    pub logins: Vec<OtherInstance>,
    /// Rescue target name → label, for every other instance.
    pub rescue_names: BTreeMap<String, String>,
    /// Labels (with state dirs) of the others, as the rescue offer lists them.
    pub watch_labels: Vec<String>,
    /// The Bot API root: --telegram-api-root, OPENCLAW_TELEGRAM_API_ROOT,
    /// the config's apiRoot, else Telegram's.
    pub telegram_api_root: String,
}

impl Facts {
    /// The channels the config as read has a section for.
    pub fn configured_channels(&self) -> Vec<ChannelKind> {
        let Some(c) = self
            .existing
            .as_ref()
            .and_then(|l| l.parsed.config.channels.as_ref())
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if c.telegram.is_some() {
            out.push(ChannelKind::Telegram);
        }
        if c.irc.is_some() {
            out.push(ChannelKind::Irc);
        }
        if c.matrix.is_some() {
            out.push(ChannelKind::Matrix);
        }
        out
    }

    /// `rescue.enabled` in the config as read.
    pub fn rescue_enabled(&self) -> bool {
        self.existing
            .as_ref()
            .and_then(|l| l.parsed.config.rescue.as_ref())
            .is_some_and(|r| r.enabled())
    }
}

fn non_interactive_command(ctx: &Ctx) -> String {
    ctx.command("onboard --non-interactive --accept-risk --mode local --auth-choice skip")
}

fn shown_dir(ctx: &Ctx, p: &Path) -> String {
    tilde(p, &ctx.paths.home.value)
}

fn gather(ctx: &Ctx, args: &OnboardArgs) -> CliResult<Facts> {
    let existing = ctx.load_config()?;
    let home = ctx.paths.home.value.clone();
    let others = hosts::other_instances(&home, &ctx.paths.state_dir.value);
    let mut logins = Vec::new();
    let mut rescue_names = BTreeMap::new();
    let mut watch_labels = Vec::new();
    for k in &others {
        let label = hosts::label(k);
        let location = shown_dir(ctx, &k.record.state_dir);
        let config = openclaw_state::ConfigStore::new(k.record.config_path.clone())
            .load()
            .ok()
            .flatten()
            .map(|l| l.parsed.config);
        let channels = config.as_ref().and_then(|c| c.channels.as_ref());
        logins.push(OtherInstance {
            label: label.clone(),
            location: location.clone(),
            telegram_fingerprint: crate::cmd::channels::instance_token(
                &label,
                &k.record.state_dir,
                config.as_ref(),
                &home,
                None,
            )
            .map(|t| t.fingerprint),
            irc: channels.and_then(|c| c.irc.as_ref()).map(|c| c.0.clone()),
            matrix: channels
                .and_then(|c| c.matrix.as_ref())
                .map(|c| c.0.clone()),
            // A Matrix section with only an access token: the user its
            // gateway reported (doctor compares by the same).
            matrix_user_seen: openclaw_host::doctor::matrix_user_seen(&k.record.state_dir),
        });
        let name = match &k.record.profile {
            Some(p) => p.clone(),
            None if hosts::same_path(&k.record.state_dir, &home.join(".openclaw")) => {
                "default".into()
            }
            None => k.record.state_dir.display().to_string(),
        };
        rescue_names.insert(name, label.clone());
        watch_labels.push(format!("{label} ({location})"));
    }
    let configured_root = existing
        .as_ref()
        .and_then(|l| l.parsed.config.channels.as_ref())
        .and_then(|c| c.telegram.as_ref())
        .and_then(|t| t.api_root.as_ref())
        .map(|u| u.0.clone());
    let telegram_api_root = args
        .channel
        .telegram_api_root
        .clone()
        .or_else(|| ctx.env.vars.get("OPENCLAW_TELEGRAM_API_ROOT").cloned())
        .or(configured_root)
        .unwrap_or_else(|| openclaw_config::channels::TELEGRAM_API_ROOT.to_string())
        .trim_end_matches('/')
        .to_string();
    Ok(Facts {
        existing,
        others,
        logins,
        rescue_names,
        watch_labels,
        telegram_api_root,
    })
}

/// Progress: one line per step on stderr.
struct Steps {
    n: usize,
    total: usize,
}

impl Steps {
    fn step(&mut self, what: &str) {
        self.n += 1;
        eprintln!("[{}/{}] {what}", self.n, self.total);
    }
    fn detail(&self, what: &str) {
        eprintln!("      {what}");
    }
}

pub fn run(ctx: &Ctx, mut args: OnboardArgs) -> CliResult<u8> {
    if !args.non_interactive && !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            "onboard needs answers",
            "stdin",
            "stdin is not a terminal, so it cannot ask; run it non-interactively with every answer as a flag, e.g. --auth-choice openai-api-key --openai-api-key-file <path> --telegram-bot-token-file <path> --owner telegram:<your id> (all flags: openclaw onboard --help; add --skip-daemon to leave out the service, --port N to pin the port)",
        )
        .hint(non_interactive_command(ctx))
        .code(exit::USAGE));
    }
    validate(ctx, &args)?;
    let facts = gather(ctx, &args)?;
    let checker = Checker::new()?;
    let mut steps = Steps { n: 0, total: 0 };
    let answers = if args.non_interactive {
        let channel = channel_kind(&args)?.is_some();
        steps.total = 5 + finish_steps(&args, channel);
        from_flags(ctx, &args, &facts, &checker, &mut steps)?
    } else {
        prompts::ask(ctx, &mut args, &facts, &checker)?
    };
    steps.total = steps.n + finish_steps(&args, answers.channel.is_some());
    finish(ctx, &args, &facts, answers, &mut steps)
}

/// The steps after the answers: write, service, gateway, and the channel.
fn finish_steps(args: &OnboardArgs, channel: bool) -> usize {
    3 + usize::from(channel && !args.skip_health)
}

/// The channel the flags set up: `--channel`, else the first channel whose
/// flags are given.
fn channel_kind(args: &OnboardArgs) -> CliResult<Option<ChannelKind>> {
    let c = &args.channel;
    ops::infer_channel(
        c.channel.as_deref(),
        args.skip_channels,
        c.telegram_bot_token.is_some() || c.telegram_bot_token_file.is_some(),
        c.irc_host.is_some(),
        c.matrix_homeserver.is_some(),
    )
    .map_err(|e| CliError::usage("invalid --channel", e))
}

fn validate(ctx: &Ctx, args: &OnboardArgs) -> CliResult<()> {
    if args.non_interactive && !args.accept_risk {
        return Err(CliError::usage(
            "--accept-risk is required with --non-interactive",
            "the gateway runs agents that can act on this machine with your account's rights; confirm that you accept this by adding --accept-risk",
        )
        .hint(non_interactive_command(ctx)));
    }
    if args.mode != "local" {
        let why = if args.mode == "remote" {
            "remote mode (connecting to a gateway on another host) is not supported by this version"
                .to_string()
        } else {
            format!("unknown mode {:?}", args.mode)
        };
        return Err(CliError::usage(
            format!("unsupported --mode {}", args.mode),
            format!("{why}; the supported mode is: local"),
        )
        .hint(non_interactive_command(ctx)));
    }
    if let Some(a) = &args.auth_choice {
        AuthChoice::parse(a).map_err(|e| {
            CliError::usage(format!("unsupported --auth-choice {a}"), e)
                .hint(non_interactive_command(ctx))
        })?;
    }
    let stdin: Vec<&str> = [
        ("--openai-api-key-file", &args.model.openai_api_key_file),
        (
            "--anthropic-api-key-file",
            &args.model.anthropic_api_key_file,
        ),
        ("--custom-api-key-file", &args.model.custom_api_key_file),
        (
            "--telegram-bot-token-file",
            &args.channel.telegram_bot_token_file,
        ),
        ("--irc-password-file", &args.channel.irc_password_file),
        (
            "--irc-nickserv-password-file",
            &args.channel.irc_nickserv_password_file,
        ),
        ("--matrix-password-file", &args.channel.matrix_password_file),
        (
            "--matrix-access-token-file",
            &args.channel.matrix_access_token_file,
        ),
    ]
    .into_iter()
    .filter(|(_, p)| p.as_ref().is_some_and(|p| p.as_os_str() == "-"))
    .map(|(f, _)| f)
    .collect();
    ops::one_stdin(&stdin).map_err(|e| CliError::usage("more than one secret from stdin", e))?;
    if !args.non_interactive {
        let refused = args.refused_on_a_terminal();
        if let Some(first) = refused.first() {
            // A literal secret is in argv already: say so, even though it
            // is not used.
            for f in refused.iter().filter(|f| f.literal_secret) {
                eprintln!(
                    "openclaw: warning: {}",
                    openclaw_ops::onboard::argv_secret_warning(f.name)
                );
            }
            let names: Vec<&str> = refused.iter().map(|f| f.name).collect();
            return Err(CliError::usage(
                format!("{} answers a question, so it needs --non-interactive", first.name),
                format!(
                    "on a terminal onboarding asks each question itself (secrets without echo) and would ignore {}; give every answer as a flag with --non-interactive --accept-risk, or leave the answer flags out to be asked",
                    names.join(", ")
                ),
            )
            .hint(non_interactive_command(ctx)));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- flags

/// A check's refusal: nothing was written.
fn check_failed(what: &str, location: &str, cause: String, ctx: &Ctx) -> CliError {
    CliError::new(
        format!("{what} did not pass the check; nothing was written"),
        location,
        cause,
    )
    .hint(ctx.command("onboard --help"))
}

/// The non-interactive path: every answer from flags, with the same checks.
fn from_flags(
    ctx: &Ctx,
    args: &OnboardArgs,
    facts: &Facts,
    checker: &Checker,
    steps: &mut Steps,
) -> CliResult<Answers> {
    // Model.
    let m = &args.model;
    let given = match &args.auth_choice {
        Some(a) => {
            Some(AuthChoice::parse(a).map_err(|e| CliError::usage("invalid --auth-choice", e))?)
        }
        None => None,
    };
    let choice = ops::infer_auth_choice(
        given,
        m.openai_api_key.is_some() || m.openai_api_key_file.is_some(),
        m.anthropic_api_key.is_some() || m.anthropic_api_key_file.is_some(),
        m.custom_base_url.is_some(),
    );
    steps.step(&format!("model: {}", choice.as_str()));
    let plan = ops::model_plan(
        choice,
        m.custom_base_url.as_deref(),
        m.custom_model.as_deref(),
        m.custom_api.as_deref(),
    )
    .map_err(|e| CliError::usage(format!("--auth-choice {}", choice.as_str()), e))?;
    let model = match plan {
        None => None,
        Some(plan) => {
            let key = match choice {
                AuthChoice::OpenaiApiKey => secrets::read(
                    "--openai-api-key",
                    m.openai_api_key.as_deref(),
                    m.openai_api_key_file.as_deref(),
                )?,
                AuthChoice::AnthropicApiKey => secrets::read(
                    "--anthropic-api-key",
                    m.anthropic_api_key.as_deref(),
                    m.anthropic_api_key_file.as_deref(),
                )?,
                _ => secrets::read(
                    "--custom-api-key",
                    m.custom_api_key.as_deref(),
                    m.custom_api_key_file.as_deref(),
                )?,
            };
            if plan.key_required && key.is_none() {
                let flag = if choice == AuthChoice::OpenaiApiKey {
                    "--openai-api-key"
                } else {
                    "--anthropic-api-key"
                };
                return Err(CliError::usage(
                    format!("--auth-choice {} needs {flag}-file", choice.as_str()),
                    format!("pass {flag}-file <path> (or - for stdin)"),
                )
                .hint(ctx.command(&format!(
                    "onboard --non-interactive --accept-risk --auth-choice {} {flag}-file <path>",
                    choice.as_str()
                ))));
            }
            steps.detail(&format!("listing models at {}", plan.base_url));
            let listed = checker
                .models(&plan, key.as_ref())
                .map_err(|e| check_failed("the model provider", &plan.base_url, e, ctx))?;
            let pick = ops::pick_model(&plan, &listed)
                .map_err(|e| check_failed("the model", &plan.base_url, e, ctx))?;
            if let Some(w) = &pick.warning {
                eprintln!("openclaw: warning: {w}");
            }
            steps.detail(&format!(
                "ok: {} listed; using {}/{}",
                models_count(listed.len()),
                plan.provider,
                pick.model
            ));
            Some(ModelAnswer {
                model: pick.model,
                plan,
                key,
                listed: listed.len(),
                warning: pick.warning,
            })
        }
    };

    // Channel.
    let kind = channel_kind(args)?;
    steps.step(&format!(
        "channel: {}",
        kind.map(ChannelKind::as_str).unwrap_or("none")
    ));
    let channel = match kind {
        None => None,
        Some(k) => Some(channel_from_flags(ctx, args, facts, checker, k, steps)?),
    };
    if let Some(ch) = &channel {
        steps.detail(&format!("ok: {}", ch.describe()));
    }

    // Owner.
    steps.step("owner");
    let owner = match args.owner.as_deref().map(str::trim) {
        None | Some("pairing") => channel.as_ref().map(|_| OwnerPlan::Pairing),
        Some(raw) => {
            let setting_up = channel.as_ref().map(ChannelAnswer::kind);
            let o = ops::parse_owner(raw, setting_up)
                .and_then(|o| {
                    ops::check_owner_channel(&o, setting_up, &facts.configured_channels())
                        .map(|()| o)
                })
                .map_err(|e| CliError::usage("invalid --owner", e))?;
            Some(OwnerPlan::Owner(o))
        }
    };
    steps.detail(&match &owner {
        Some(OwnerPlan::Owner(o)) => format!("{o}"),
        Some(OwnerPlan::Pairing) => "the first DM you approve (pairing)".into(),
        None => "none (no channel)".into(),
    });

    // Rescue.
    steps.step("rescue role");
    let offer = ops::rescue_offer(ctx.paths.profile.as_deref(), &facts.watch_labels);
    let answer = if args.no_rescue {
        Some(false)
    } else {
        args.rescue.then_some(true)
    };
    let targets = if args.rescue_targets.is_empty() {
        None
    } else {
        Some(
            ops::rescue_targets(&args.rescue_targets, &facts.rescue_names)
                .map_err(|e| CliError::usage("invalid --rescue-target", e))?,
        )
    };
    let rescue = ops::rescue_decision(&offer, answer, targets, facts.rescue_enabled());
    steps.detail(&rescue_line(&rescue, facts));

    // Port.
    steps.step("port");
    let (port, port_reason) = auto_port(ctx, facts, args.setup.port)?;
    steps.detail(&port_reason);

    Ok(Answers {
        model,
        channel,
        owner,
        rescue,
        port,
        port_reason,
        workspace: args.setup.workspace.clone(),
        install_service: !args.skip_daemon,
    })
}

fn rescue_line(rescue: &Option<(bool, Option<Vec<String>>)>, facts: &Facts) -> String {
    match rescue {
        Some((true, Some(t))) => format!("on: watches {}", t.join(", ")),
        Some((true, None)) if facts.watch_labels.is_empty() => {
            "on: no other instance yet; it will watch those set up later".into()
        }
        Some((true, None)) => format!("on: watches {}", facts.watch_labels.join(", ")),
        _ => "off".into(),
    }
}

/// The base port: the flag's (checked against the other instances) or the
/// automatic choice, with its reason.
fn auto_port(ctx: &Ctx, facts: &Facts, flag: Option<u16>) -> CliResult<(u16, String)> {
    let cfg_facts = facts
        .existing
        .as_ref()
        .map(|l| l.parsed.config.instance_facts())
        .unwrap_or_default();
    match setup::port_choice(ctx, flag, &cfg_facts, &facts.others)? {
        Ok(choice) => Ok((
            choice.port,
            port_reason(ctx, facts, &cfg_facts, &choice, flag.is_some())?,
        )),
        Err(r) => {
            let mut e = CliError::usage(
                "port footprint overlaps another instance",
                setup::refusal_text(&r),
            );
            if let openclaw_ops::setup::PortRefusal::Overlaps {
                suggestion: Some(s),
                ..
            } = r
            {
                e = e.hint(ctx.command(&format!("onboard --port {s}")));
            }
            Err(e)
        }
    }
}

fn port_reason(
    ctx: &Ctx,
    facts: &Facts,
    cfg_facts: &openclaw_instance::ConfigFacts,
    choice: &openclaw_ops::setup::PortChoice,
    typed: bool,
) -> CliResult<String> {
    let inst = ctx.instance_with(cfg_facts, Some(choice.port))?;
    let ports = inst.footprint().ports();
    let span = (
        ports.iter().copied().min().unwrap_or(choice.port),
        ports.iter().copied().max().unwrap_or(choice.port),
    );
    let busy: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|p| !openclaw_browser::port_is_free(*p))
        .take(1)
        .collect();
    let labels: Vec<String> = facts.others.iter().map(hosts::label).collect();
    if typed {
        let mut s = format!(
            "base port {} (given): its footprint (ports {}-{}) is clear of {}",
            choice.port,
            span.0,
            span.1,
            if labels.is_empty() {
                "every other instance (there is none)".to_string()
            } else {
                labels.join(", ")
            }
        );
        if let Some(b) = busy.first() {
            s.push_str(&format!("; note: port {b} is in use right now"));
        }
        return Ok(s);
    }
    Ok(ops::port_reason(
        choice.port,
        span,
        choice.note.as_deref(),
        &labels,
        &busy,
    ))
}

fn channel_from_flags(
    ctx: &Ctx,
    args: &OnboardArgs,
    facts: &Facts,
    checker: &Checker,
    kind: ChannelKind,
    steps: &Steps,
) -> CliResult<ChannelAnswer> {
    let c = &args.channel;
    let refuse = |t: ops::Taken| {
        CliError::new(
            format!("{} is taken", t.what),
            format!("{} ({})", t.label, t.location),
            t.message,
        )
        .hint(ctx.command("onboard --help"))
    };
    match kind {
        ChannelKind::Telegram => {
            let token = secrets::read(
                "--telegram-bot-token",
                c.telegram_bot_token.as_deref(),
                c.telegram_bot_token_file.as_deref(),
            )?
            .ok_or_else(|| {
                CliError::usage(
                    "--channel telegram needs --telegram-bot-token-file",
                    "pass the bot token from @BotFather as --telegram-bot-token-file <path> (or - for stdin)",
                )
            })?;
            let fp = openclaw_channels::token::fingerprint(token.expose());
            if let Some(t) = ops::taken_by(Login::Telegram { fingerprint: &fp }, &facts.logins) {
                return Err(refuse(t));
            }
            steps.detail(&format!("getMe at {}", facts.telegram_api_root));
            let bot = checker
                .telegram(&facts.telegram_api_root, &token)
                .map_err(|e| {
                    check_failed("the Telegram bot token", &facts.telegram_api_root, e, ctx)
                })?;
            Ok(ChannelAnswer::Telegram {
                token,
                api_root: facts.telegram_api_root.clone(),
                bot,
            })
        }
        ChannelKind::Irc => {
            let host = c.irc_host.clone().ok_or_else(|| {
                CliError::usage(
                    "--channel irc needs --irc-host",
                    "pass the server's host name",
                )
            })?;
            let nick = c.irc_nick.clone().ok_or_else(|| {
                CliError::usage("--channel irc needs --irc-nick", "pass the bot's nick")
            })?;
            let tls = !c.irc_no_tls;
            let port = c.irc_port.unwrap_or(if tls {
                openclaw_config::channels_net::IRC_TLS_PORT
            } else {
                openclaw_config::channels_net::IRC_PLAIN_PORT
            });
            let password = secrets::read(
                "--irc-password",
                c.irc_password.as_deref(),
                c.irc_password_file.as_deref(),
            )?;
            let nickserv = secrets::read(
                "--irc-nickserv-password",
                c.irc_nickserv_password.as_deref(),
                c.irc_nickserv_password_file.as_deref(),
            )?;
            let details = checks::IrcDetails {
                host,
                port,
                tls,
                nick,
                password,
            };
            irc_checks(ctx, facts, checker, &details, &c.irc_channels, steps)?;
            Ok(ChannelAnswer::Irc {
                details,
                channels: c.irc_channels.clone(),
                nickserv,
            })
        }
        ChannelKind::Matrix => {
            let homeserver = c.matrix_homeserver.clone().ok_or_else(|| {
                CliError::usage(
                    "--channel matrix needs --matrix-homeserver",
                    "pass the homeserver URL, e.g. https://matrix.example.org",
                )
            })?;
            let password = secrets::read(
                "--matrix-password",
                c.matrix_password.as_deref(),
                c.matrix_password_file.as_deref(),
            )?;
            let token = secrets::read(
                "--matrix-access-token",
                c.matrix_access_token.as_deref(),
                c.matrix_access_token_file.as_deref(),
            )?;
            if token.is_none() && (password.is_none() || c.matrix_user_id.is_none()) {
                return Err(CliError::usage(
                    "--channel matrix needs a login",
                    "pass --matrix-user-id and --matrix-password-file, or --matrix-access-token-file",
                ));
            }
            let session = matrix_checks(
                ctx,
                facts,
                checker,
                &homeserver,
                c.matrix_user_id.as_deref(),
                password.as_ref(),
                token.as_ref(),
                steps,
            )?;
            Ok(ChannelAnswer::Matrix {
                homeserver: homeserver.trim_end_matches('/').to_string(),
                session,
            })
        }
    }
}

/// The typed IRC section for the checks (validation and doctor's rule).
fn irc_section(d: &checks::IrcDetails, channels: &[String]) -> openclaw_config::channels_net::Irc {
    openclaw_config::channels_net::Irc {
        host: d.host.clone(),
        port: Some(d.port),
        tls: Some(d.tls),
        nick: d.nick.clone(),
        channels: (!channels.is_empty()).then(|| channels.to_vec()),
        ..Default::default()
    }
}

fn irc_checks(
    ctx: &Ctx,
    facts: &Facts,
    checker: &Checker,
    d: &checks::IrcDetails,
    channels: &[String],
    steps: &Steps,
) -> CliResult<()> {
    use openclaw_config::channels::Validate;
    let section = irc_section(d, channels);
    section
        .validate()
        .map_err(|e| CliError::usage("invalid IRC settings", e))?;
    if let Some(t) = ops::taken_by(Login::Irc(&section), &facts.logins) {
        return Err(CliError::new(
            format!("{} is taken", t.what),
            format!("{} ({})", t.label, t.location),
            t.message,
        )
        .hint(ctx.command("onboard --help")));
    }
    let server = format!("{}:{}", d.host, d.port);
    match irc_check(ctx, facts, checker, d, &section) {
        IrcCheck::Skipped(why) => {
            steps.detail(&why);
            Ok(())
        }
        IrcCheck::Passed => {
            steps.detail(&format!("registered as {} on {server}", d.nick));
            Ok(())
        }
        IrcCheck::Failed { message, hint } => Err(CliError::new(
            "the IRC server did not pass the check; nothing was written",
            server,
            message,
        )
        .hint(hint)),
    }
}

/// How the IRC registration check went.
enum IrcCheck {
    Passed,
    /// Not run, and why (this instance's own gateway holds the nick).
    Skipped(String),
    /// What the server said, and the command that helps.
    Failed {
        message: String,
        hint: String,
    },
}

/// The IRC registration check, unless this instance's own running gateway
/// is connected to that server as that nick (the server would give the
/// check another nick because of it): then it is skipped, saying so. A nick
/// in use while this instance's gateway runs may be held by that gateway:
/// the hint is to stop it.
fn irc_check(
    ctx: &Ctx,
    facts: &Facts,
    checker: &Checker,
    d: &checks::IrcDetails,
    section: &openclaw_config::channels_net::Irc,
) -> IrcCheck {
    let state_dir = &ctx.paths.state_dir.value;
    let before = gateway_before(state_dir);
    if let Some(Before::Running(g)) = &before {
        let connected_as = openclaw_channels::status_summary(state_dir, true)
            .into_iter()
            .find(|s| {
                s.channel == openclaw_channels::irc::CHANNEL
                    && s.state == openclaw_channels::ChannelState::Running
            })
            .and_then(|s| s.bot_username);
        let configured = facts
            .existing
            .as_ref()
            .and_then(|l| l.parsed.config.channels.as_ref())
            .and_then(|c| c.irc.as_deref());
        if ops::irc_held_by_this_instance(configured, section, connected_as.as_deref()) {
            return IrcCheck::Skipped(format!(
                "registration check skipped: this instance's gateway (pid {}) is connected to {}:{} as {} right now",
                g.pid, d.host, d.port, d.nick
            ));
        }
    }
    match checker.irc(d) {
        Ok(()) => IrcCheck::Passed,
        Err(e) if e.nick_in_use => match before.as_ref().map(Before::pid) {
            Some(pid) => IrcCheck::Failed {
                message: format!(
                    "{}; this instance's gateway{} is running and may be the one holding it: stop it, then onboard again (or choose another nick)",
                    e.message,
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                ),
                hint: ctx.command("gateway stop"),
            },
            None => IrcCheck::Failed {
                message: format!("{}; choose another nick", e.message),
                hint: ctx.command("onboard --help"),
            },
        },
        Err(e) => IrcCheck::Failed {
            message: e.message,
            hint: ctx.command("onboard --help"),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn matrix_checks(
    ctx: &Ctx,
    facts: &Facts,
    checker: &Checker,
    homeserver: &str,
    user_id: Option<&str>,
    password: Option<&SecretValue>,
    token: Option<&SecretValue>,
    steps: &Steps,
) -> CliResult<checks::MatrixSession> {
    use openclaw_config::channels::Validate;
    let section = |user: Option<&str>| openclaw_config::channels_net::Matrix {
        homeserver: homeserver.to_string(),
        user_id: user.map(str::to_string),
        access_token: Some(openclaw_config::Secret::new("x")),
        ..Default::default()
    };
    section(user_id)
        .validate()
        .map_err(|e| CliError::usage("invalid Matrix settings", e))?;
    let taken = |user: &str| -> CliResult<()> {
        match ops::taken_by(Login::Matrix(&section(Some(user))), &facts.logins) {
            Some(t) => Err(CliError::new(
                format!("{} is taken", t.what),
                format!("{} ({})", t.label, t.location),
                t.message,
            )
            .hint(ctx.command("onboard --help"))),
            None => Ok(()),
        }
    };
    if let Some(u) = user_id {
        taken(u)?;
    }
    steps.detail(&format!("logging in at {homeserver}"));
    let device = format!(
        "OpenClaw ({})",
        ctx.paths.profile.as_deref().unwrap_or("default")
    );
    let session = checker
        .matrix(homeserver, user_id, password, token, &device)
        .map_err(|e| check_failed("the Matrix login", homeserver, e, ctx))?;
    taken(&session.user_id)?;
    Ok(session)
}

// ---------------------------------------------------------------- apply

/// SIGINT and SIGHUP are ignored while the answers are written, so an
/// interrupt cannot leave half of them on disk.
struct HoldSignals([libc::sighandler_t; 2]);

impl HoldSignals {
    fn new() -> Self {
        // SAFETY: signal(2) with valid signal numbers and SIG_IGN.
        unsafe {
            HoldSignals([
                libc::signal(libc::SIGINT, libc::SIG_IGN),
                libc::signal(libc::SIGHUP, libc::SIG_IGN),
            ])
        }
    }
}

impl Drop for HoldSignals {
    fn drop(&mut self) {
        // SAFETY: restores the dispositions saved in `new`.
        unsafe {
            libc::signal(libc::SIGINT, self.0[0]);
            libc::signal(libc::SIGHUP, self.0[1]);
        }
    }
}

/// What was written.
struct Written {
    setup: SetupOutcome,
    /// Credentials files (what, path).
    secrets: Vec<(String, PathBuf)>,
}

fn credentials(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("credentials").join(name)
}

/// Writes every answer: the config in one atomic write guarded by the hash
/// it was read with (with everything `setup` fills in) and, with it, the
/// credentials files it names (staged first, put in place under the
/// config's lock just before it is replaced, put back if that fails); then
/// the workspace. A refused or failed config write changes no file.
fn write_answers(ctx: &Ctx, args: &OnboardArgs, facts: &Facts, a: &Answers) -> CliResult<Written> {
    let _hold = HoldSignals::new();
    let state_dir = ctx.paths.state_dir.value.clone();
    openclaw_state::ensure_state_dir(&state_dir)
        .map_err(|e| CliError::new("cannot create the state dir", state_dir.display(), e))?;
    let mut files: Vec<(String, PathBuf, SecretValue)> = Vec::new();
    let mut plan = ConfigPlan::default();
    if let Some(m) = &a.model {
        if let Some(k) = &m.key {
            files.push((
                "model key".into(),
                openclaw_agent::provider::credentials_path(&state_dir, &m.plan.provider),
                k.clone(),
            ));
        }
        plan.model = Some((m.plan.clone(), m.model.clone(), m.key.is_some()));
    }
    match &a.channel {
        None => {}
        Some(ChannelAnswer::Telegram {
            token, api_root, ..
        }) => {
            let path = credentials(&state_dir, "telegram-default.token");
            files.push(("Telegram bot token".into(), path.clone(), token.clone()));
            plan.channel = Some(ChannelPlan::Telegram {
                token_file: path.display().to_string(),
                api_root: (api_root != openclaw_config::channels::TELEGRAM_API_ROOT)
                    .then(|| api_root.clone()),
            });
        }
        Some(ChannelAnswer::Irc {
            details,
            channels,
            nickserv,
        }) => {
            let pw = details.password.as_ref().map(|p| {
                let path = credentials(&state_dir, "irc-default.password");
                files.push(("IRC server password".into(), path.clone(), p.clone()));
                path.display().to_string()
            });
            let ns = nickserv.as_ref().map(|p| {
                let path = credentials(&state_dir, "irc-default-nickserv.password");
                files.push(("NickServ password".into(), path.clone(), p.clone()));
                path.display().to_string()
            });
            plan.channel = Some(ChannelPlan::Irc {
                host: details.host.clone(),
                port: details.port,
                tls: details.tls,
                nick: details.nick.clone(),
                channels: channels.clone(),
                password_file: pw,
                nickserv_password_file: ns,
            });
        }
        Some(ChannelAnswer::Matrix {
            homeserver,
            session,
        }) => {
            let path = credentials(&state_dir, "matrix-default.token");
            files.push((
                "Matrix access token".into(),
                path.clone(),
                session.access_token.clone(),
            ));
            plan.channel = Some(ChannelPlan::Matrix {
                homeserver: homeserver.clone(),
                user_id: session.user_id.clone(),
                access_token_file: path.display().to_string(),
            });
        }
    }
    if let Some(OwnerPlan::Owner(o)) = &a.owner {
        plan.owner = Some(o.clone());
    }
    plan.rescue = a.rescue.clone();
    let edits = ops::config_edits(&plan);

    // The secrets are staged beside their files and put in place by the
    // config write itself, under its lock, only once it is sure to happen:
    // a refused write (the config changed meanwhile) leaves every
    // credentials file as it was.
    let mut staged = openclaw_state::StagedFiles::new();
    let mut made_dirs = Vec::new();
    let out = (|| {
        for (_, path, secret) in &files {
            made_dirs.extend(secrets::stage(&mut staged, path, secret)?);
        }
        let setup_args = SetupArgs {
            port: Some(a.port),
            workspace: a.workspace.clone(),
            json: args.setup.json,
        };
        let base = Base::Exactly(facts.existing.as_ref().map(|l| l.hash.clone()));
        setup::apply_with(
            ctx,
            &setup_args,
            base,
            |v| ops::apply_edits(v, &edits),
            &mut staged,
        )
    })();
    drop(staged);
    match out {
        Ok(setup) => Ok(Written {
            setup,
            secrets: files.into_iter().map(|(w, p, _)| (w, p)).collect(),
        }),
        Err(e) => {
            // The credentials dir, when this run created it and it is still
            // empty (nothing was put in place).
            for d in &made_dirs {
                let _ = std::fs::remove_dir(d);
            }
            Err(e)
        }
    }
}

// ---------------------------------------------------------------- finish

fn finish(
    ctx: &Ctx,
    args: &OnboardArgs,
    facts: &Facts,
    a: Answers,
    steps: &mut Steps,
) -> CliResult<u8> {
    steps.step("writing the config, credentials and workspace");
    let written = write_answers(ctx, args, facts, &a)?;
    let inst = written.setup.instance.clone();
    let home = ctx.paths.home.value.clone();
    steps.detail(&format!("config {}", tilde(&inst.config_path.value, &home)));
    for (what, p) in &written.secrets {
        steps.detail(&format!("{what}: {} (mode 0600)", tilde(p, &home)));
    }
    crate::cmd::channels::warn_shared_token(ctx);

    // Service.
    steps.step("installing the gateway service");
    let svc = InstanceService::for_instance(ctx, inst.clone())?;
    // A gateway of this instance, running or still starting: the state
    // dir's lock says so even before the owner record exists, and a second
    // gateway started now would only find the state dir taken.
    let before = gateway_before(&inst.state_dir.value);
    let running_before = before.is_some();
    let mut manual: Vec<String> = Vec::new();
    let (install, daemon) = if !a.install_service {
        let why = if args.skip_daemon {
            "--skip-daemon"
        } else {
            "declined"
        };
        steps.detail(&format!("skipped ({why})"));
        (
            Install::Skipped,
            json!({"status": "skipped", "detail": why}),
        )
    } else {
        let runner = ProcessRunner::default();
        let service = Service::new(svc.manager.as_ref(), &svc.spec, &runner);
        match service.install(InstallOptions::default()) {
            Ok(_) => {
                steps.detail(&format!(
                    "installed and started {} ({})",
                    svc.name(),
                    svc.definition_path().display()
                ));
                (
                    Install::Installed,
                    json!({"status": "installed", "service": svc.name(), "path": svc.definition_path()}),
                )
            }
            Err(ServiceError::Unavailable(u)) => {
                steps.detail(&format!(
                    "NOT installed: the {} is not usable here: {}",
                    u.manager, u.reason
                ));
                steps.detail(&format!(
                    "service file written but not loaded: {}",
                    u.path.display()
                ));
                // A gateway started now holds the state dir; stop it first.
                manual.push(inst.command("gateway stop"));
                manual.extend(u.manual_commands.iter().cloned());
                (
                    Install::ManagerUnavailable,
                    json!({
                        "status": "unavailable",
                        "service": svc.name(),
                        "path": u.path,
                        "reason": u.reason,
                        "manualCommands": u.manual_commands,
                    }),
                )
            }
            Err(e) => {
                let err = service_error(ctx, &svc, "install", e);
                steps.detail(&format!("NOT installed: {}", err.cause));
                if let Some(h) = &err.hint {
                    steps.detail(&format!("fix: {h}"));
                }
                (
                    Install::Failed,
                    json!({"status": "failed", "service": svc.name(), "reason": err.cause}),
                )
            }
        }
    };

    // Gateway.
    let plan = ops::start_plan(install, running_before);
    let foreground = inst.command(&format!("gateway --port {}", inst.ports.gateway.value));
    steps.step(match plan {
        StartPlan::WaitForService => "starting the gateway (service)",
        StartPlan::StartDetached => {
            "starting the gateway in the background (no service manager runs it)"
        }
        StartPlan::AlreadyRunning => "the gateway already runs; it picks up the new config",
        StartPlan::Nothing => "not starting the gateway",
    });
    let mut gateway = json!({"status": "not-running", "start": foreground});
    let mut up: Option<(u32, u16)> = None;
    let mut failure: Option<CliError> = None;
    let mut plan = plan;
    if let (StartPlan::AlreadyRunning, Some(b)) = (plan, &before) {
        steps.detail(&b.describe());
        gateway = json!({"status": "already-running", "pid": b.pid()});
    }
    if plan == StartPlan::StartDetached {
        match start_detached(steps, args, &inst, &home) {
            Detached::Up { pid, port, log } => {
                gateway = json!({"status": "started-detached", "pid": pid, "port": port, "health": "ok", "log": log});
                up = Some((pid, port));
            }
            Detached::Unchecked { pid, log } => {
                gateway = json!({"status": "started-detached", "pid": pid, "log": log});
                up = Some((pid, inst.ports.gateway.value));
            }
            Detached::Failed { gateway: g, error } => {
                gateway = g;
                failure = Some(error);
            }
            Detached::TakenFirst { pid, why } => {
                // Another gateway of this instance took the state dir
                // between the check and the start: it serves the instance.
                steps.detail(&format!(
                    "{why}: another gateway of this instance took the state dir first; checking that one"
                ));
                gateway = json!({"status": "already-running", "pid": pid});
                plan = StartPlan::AlreadyRunning;
            }
        }
    }
    match plan {
        StartPlan::Nothing => steps.detail(&format!(
            "no gateway runs for this instance; start it with: {foreground}"
        )),
        StartPlan::StartDetached => {}
        StartPlan::WaitForService | StartPlan::AlreadyRunning => {
            if args.skip_health {
                steps.detail("health not checked (--skip-health)");
                if let Some(pid) = gateway["pid"].as_u64() {
                    up = Some((pid as u32, inst.ports.gateway.value));
                }
            } else {
                let h = wait_healthy(steps, &inst.state_dir.value, Duration::from_secs(20));
                match live::running(&inst.state_dir.value) {
                    Some(g) if h.ok => {
                        steps.detail(&format!(
                            "healthy: pid {}, port {} ({})",
                            g.pid, g.port, h.detail
                        ));
                        gateway = json!({"status": if plan == StartPlan::AlreadyRunning {"already-running"} else {"service"}, "pid": g.pid, "port": g.port, "health": "ok"});
                        up = Some((g.pid, g.port));
                    }
                    _ => {
                        steps.detail(&format!("NOT healthy: {}", h.detail));
                        gateway["health"] = json!(h.detail);
                        failure = Some(
                            CliError::new(
                                "the gateway did not become healthy",
                                format!("http://127.0.0.1:{}/healthz", inst.ports.gateway.value),
                                h.detail,
                            )
                            .hint(inst.command("gateway status")),
                        );
                    }
                }
            }
        }
    }

    // Channel.
    let mut channel_state = Value::Null;
    if let (Some(ch), Some(_)) = (&a.channel, up)
        && !args.skip_health
    {
        steps.step(&format!("waiting for {} to connect", ch.kind().title()));
        let (state, line) = wait_channel(steps, &inst.state_dir.value, ch.kind());
        steps.detail(&line);
        channel_state = json!({"state": state, "line": line});
        if matches!(
            state.as_deref(),
            Some("unauthorized" | "conflict" | "error")
        ) && failure.is_none()
        {
            failure = Some(
                CliError::new(
                    format!("the {} channel did not connect", ch.kind().title()),
                    inst.state_dir.value.display(),
                    line.clone(),
                )
                .hint(inst.command("channels status")),
            );
        }
    }

    let reach = a.channel.as_ref().map(ChannelAnswer::reach);
    let next = ops::next_steps(
        &inst.cli_prefix(),
        reach.as_ref(),
        a.owner.as_ref(),
        up.is_some(),
        &foreground,
    );
    if args.setup.json {
        print_json(&report_json(
            &written,
            &a,
            facts,
            &daemon,
            &gateway,
            &channel_state,
            &next,
            &manual,
            &foreground,
            failure.is_none(),
        ));
    } else {
        summary(
            ctx,
            &written,
            &a,
            facts,
            &daemon,
            &gateway,
            &channel_state,
            &next,
            &manual,
        );
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(exit::OK),
    }
}

/// A gateway of this instance found before onboarding starts one.
enum Before {
    /// Its live owner record.
    Running(live::Running),
    /// It holds the state dir's lock but has written no owner record yet
    /// (still binding its ports).
    Starting { pid: Option<u32> },
}

impl Before {
    fn pid(&self) -> Option<u32> {
        match self {
            Before::Running(g) => Some(g.pid),
            Before::Starting { pid } => *pid,
        }
    }

    fn describe(&self) -> String {
        match self {
            Before::Running(g) => format!("found it: pid {}, port {}", g.pid, g.port),
            Before::Starting { pid: Some(p) } => format!(
                "found it still starting: pid {p} holds the state dir (no owner record yet)"
            ),
            Before::Starting { pid: None } => {
                "found it still starting: a process holds the state dir (no owner record yet)"
                    .into()
            }
        }
    }
}

/// This instance's gateway, running or starting: its live owner record,
/// else the state dir's lock (which a starting gateway takes before it
/// writes the record).
fn gateway_before(state_dir: &Path) -> Option<Before> {
    if let Some(g) = live::running(state_dir) {
        return Some(Before::Running(g));
    }
    match openclaw_state::owner::lock_holder(state_dir) {
        openclaw_state::owner::LockProbe::Held { pid } => Some(Before::Starting { pid }),
        _ => None,
    }
}

/// How starting a detached gateway went.
enum Detached {
    /// It owns the state dir and answers `/healthz`.
    Up {
        pid: u32,
        port: u16,
        log: PathBuf,
    },
    /// Started; health not checked (`--skip-health`).
    Unchecked {
        pid: u32,
        log: PathBuf,
    },
    /// Another gateway of this instance took the state dir first.
    TakenFirst {
        pid: Option<u32>,
        why: String,
    },
    Failed {
        gateway: Value,
        error: CliError,
    },
}

fn start_detached(steps: &Steps, args: &OnboardArgs, inst: &Instance, home: &Path) -> Detached {
    let foreground = inst.command(&format!("gateway --port {}", inst.ports.gateway.value));
    let (mut child, log) = match crate::signal::spawn_detached(inst, &[]) {
        Ok(x) => x,
        Err(e) => {
            steps.detail(&format!("cannot start it: {e}"));
            return Detached::Failed {
                gateway: json!({"status": "not-running", "start": foreground}),
                error: CliError::new(
                    "cannot start the gateway",
                    inst.state_dir.value.display(),
                    e,
                )
                .hint(foreground),
            };
        }
    };
    let pid = child.id();
    steps.detail(&format!(
        "started pid {pid} (output: {}); it runs until it is stopped or the machine restarts",
        tilde(&log, home)
    ));
    if args.skip_health {
        // Health is not checked, but "started" still means it holds the
        // state dir: until it takes the lock, another onboard (or any
        // command) would see no gateway here and start a second one.
        return match wait_child_holds(&mut child, &inst.state_dir.value) {
            Ok(()) => Detached::Unchecked { pid, log },
            Err(ChildDown::TakenBy { pid, why }) => Detached::TakenFirst { pid, why },
            Err(ChildDown::Failed(why)) => {
                steps.detail(&format!("NOT started: {why}"));
                Detached::Failed {
                    gateway: json!({"status": "not-running", "pid": pid, "log": log, "start": foreground}),
                    error: CliError::new(
                        "the gateway did not start",
                        inst.state_dir.value.display(),
                        format!("{why}; its output is in {}", log.display()),
                    )
                    .hint(inst.command("logs --lines 50")),
                }
            }
        };
    }
    match wait_child_up(steps, &mut child, &inst.state_dir.value) {
        Ok((pid, port, detail)) => {
            steps.detail(&format!("healthy: pid {pid}, port {port} ({detail})"));
            Detached::Up { pid, port, log }
        }
        Err(ChildDown::TakenBy { pid, why }) => Detached::TakenFirst { pid, why },
        Err(ChildDown::Failed(why)) => {
            steps.detail(&format!("NOT healthy: {why}"));
            Detached::Failed {
                gateway: json!({"status": "started-detached", "pid": pid, "log": log, "health": why}),
                error: CliError::new(
                    "the gateway did not become healthy",
                    inst.state_dir.value.display(),
                    format!("{why}; its output is in {}", log.display()),
                )
                .hint(inst.command("logs --lines 50")),
            }
        }
    }
}

/// Why the detached child is not up.
#[derive(Debug, PartialEq, Eq)]
enum ChildDown {
    /// Another gateway holds the state dir (the child saw it taken and
    /// exited 78, or that one's owner record appeared).
    TakenBy {
        pid: Option<u32>,
        why: String,
    },
    Failed(String),
}

/// What one look at a detached child started with `--skip-health` says:
/// `exited_code` is `Some(code)` once it has exited (`-1`: by a signal);
/// `lock` is who holds the state dir's lock; `owner` the live owner
/// record's pid.
fn child_holds_progress(
    child: u32,
    exited_code: Option<i32>,
    lock: openclaw_state::owner::LockProbe,
    owner: Option<u32>,
) -> Option<Result<(), ChildDown>> {
    use openclaw_state::owner::LockProbe;
    if let Some(code) = exited_code {
        let why = if code < 0 {
            format!("the gateway (pid {child}) was killed by a signal")
        } else {
            format!("the gateway (pid {child}) exited with code {code}")
        };
        return Some(if code == i32::from(exit::STATE_DIR_OWNED) {
            Err(ChildDown::TakenBy {
                pid: owner.filter(|p| *p != child).or(match lock {
                    LockProbe::Held { pid } => pid.filter(|p| *p != child),
                    _ => None,
                }),
                why,
            })
        } else {
            Err(ChildDown::Failed(why))
        });
    }
    match (owner, lock) {
        (Some(p), _) if p == child => Some(Ok(())),
        (_, LockProbe::Held { pid: Some(p) }) if p == child => Some(Ok(())),
        // Someone else's lock or record: the child will find the state dir
        // taken and exit; wait for that answer.
        _ => None,
    }
}

/// Waits (up to the start hang guard) until the detached child holds the
/// state dir's lock or has written its owner record; the lock is taken
/// first thing, before config checks and port binds, so this is quick.
fn wait_child_holds(child: &mut std::process::Child, state_dir: &Path) -> Result<(), ChildDown> {
    let pid = child.id();
    let deadline = Instant::now() + crate::signal::START_WAIT;
    loop {
        let exited = child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| s.code().unwrap_or(-1));
        let lock = openclaw_state::owner::lock_holder(state_dir);
        let owner = openclaw_state::owner::live_owner(state_dir).map(|o| o.pid);
        if let Some(answer) = child_holds_progress(pid, exited, lock, owner) {
            return answer;
        }
        if Instant::now() >= deadline {
            return Err(ChildDown::Failed(format!(
                "it did not take its state dir within {} s",
                crate::signal::START_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the detached child to own the state dir and answer
/// `/healthz` (the same rule as `gateway restart`'s start).
fn wait_child_up(
    steps: &Steps,
    child: &mut std::process::Child,
    state_dir: &Path,
) -> Result<(u32, u16, String), ChildDown> {
    use openclaw_ops::lifecycle::{StartProgress, start_progress};
    let pid = child.id();
    let start = Instant::now();
    let deadline = start + crate::signal::START_WAIT;
    let mut next_note = start + Duration::from_secs(2);
    let mut last = "no owner record yet".to_string();
    loop {
        let exited = child.try_wait().ok().flatten();
        let owner = openclaw_state::owner::live_owner(state_dir);
        let health = owner
            .as_ref()
            .filter(|o| o.pid == pid)
            .map(|o| live::probe_health(o.port, Duration::from_millis(800)));
        let healthy = health.as_ref().is_some_and(|h| h.ok);
        match start_progress(
            exited.is_some(),
            pid,
            owner.as_ref().map(|o| o.pid),
            healthy,
        ) {
            StartProgress::Exited => {
                let why = format!(
                    "the gateway (pid {pid}) exited with {}",
                    exited.map(|s| s.to_string()).unwrap_or_default()
                );
                if exited.and_then(|s| s.code()) == Some(i32::from(exit::STATE_DIR_OWNED)) {
                    let other = match gateway_before(state_dir) {
                        Some(b) => b.pid(),
                        None => None,
                    };
                    return Err(ChildDown::TakenBy { pid: other, why });
                }
                return Err(ChildDown::Failed(why));
            }
            StartProgress::TakenBy { pid: other } => {
                return Err(ChildDown::TakenBy {
                    pid: Some(other),
                    why: format!("the gateway (pid {pid}) found pid {other} there first"),
                });
            }
            StartProgress::Up => {
                let o = owner.expect("up has an owner");
                return Ok((pid, o.port, health.map(|h| h.detail).unwrap_or_default()));
            }
            StartProgress::Waiting => {
                if let Some(h) = &health {
                    last = format!("owner record written, /healthz: {}", h.detail);
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ChildDown::Failed(format!(
                "not ready after {} s ({last})",
                crate::signal::START_WAIT.as_secs()
            )));
        }
        if now >= next_note {
            steps.detail(&format!(
                "waiting for the gateway ({} s): {last}",
                (now - start).as_secs()
            ));
            next_note = now + Duration::from_secs(2);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the service's gateway owns the state dir (live owner
/// record) and answers `/healthz` on the port it recorded, or `limit`
/// passes (a hang guard for a service that is still starting). Shows
/// progress every couple of seconds.
fn wait_healthy(steps: &Steps, state_dir: &Path, limit: Duration) -> live::Health {
    let start = Instant::now();
    let deadline = start + limit;
    let mut next_note = start + Duration::from_secs(2);
    loop {
        let h = match live::running(state_dir) {
            Some(g) => {
                let h = live::probe_health(g.port, Duration::from_millis(800));
                live::Health {
                    ok: h.ok,
                    detail: format!("pid {}, port {}: {}", g.pid, g.port, h.detail),
                }
            }
            None => live::Health {
                ok: false,
                detail: match openclaw_state::owner::lock_holder(state_dir) {
                    openclaw_state::owner::LockProbe::Held { pid: Some(p) } => format!(
                        "pid {p} holds the state dir but has written no owner record yet (still starting)"
                    ),
                    openclaw_state::owner::LockProbe::Held { pid: None } => {
                        "a process holds the state dir but has written no owner record yet (still starting)".into()
                    }
                    _ => "the gateway has not taken its state dir yet (no live owner record)".into(),
                },
            },
        };
        let now = Instant::now();
        if h.ok || now >= deadline {
            return h;
        }
        if now >= next_note {
            steps.detail(&format!(
                "waiting for the gateway ({} s): {}",
                (now - start).as_secs(),
                h.detail
            ));
            next_note = now + Duration::from_secs(2);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How long the channel gets to report `running` (a hang guard; Telegram
/// normally connects within a second).
const CHANNEL_WAIT: Duration = Duration::from_secs(20);

/// Waits for the channel's status (written by the running gateway) to leave
/// `starting`; returns its state and the `channels status` line.
fn wait_channel(steps: &Steps, state_dir: &Path, kind: ChannelKind) -> (Option<String>, String) {
    let start = Instant::now();
    let mut next_note = start + Duration::from_secs(3);
    loop {
        let st = openclaw_channels::status_summary(state_dir, true)
            .into_iter()
            .find(|s| s.channel == kind.as_str());
        if let Some(s) = &st
            && !matches!(
                s.state,
                openclaw_channels::ChannelState::Starting
                    | openclaw_channels::ChannelState::Stopped
            )
        {
            return (
                Some(s.state.as_str().to_string()),
                openclaw_channels::status_line(s),
            );
        }
        let now = Instant::now();
        if now - start >= CHANNEL_WAIT {
            return match st {
                Some(s) => (
                    Some(s.state.as_str().to_string()),
                    openclaw_channels::status_line(&s),
                ),
                None => (
                    None,
                    format!(
                        "the gateway has not reported the {} channel within {} s; check it with `channels status`",
                        kind.title(),
                        CHANNEL_WAIT.as_secs()
                    ),
                ),
            };
        }
        if now >= next_note {
            steps.detail(&format!(
                "waiting for {} ({} s)",
                kind.title(),
                (now - start).as_secs()
            ));
            next_note = now + Duration::from_secs(3);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ports_line(inst: &Instance) -> String {
    let p = &inst.ports;
    format!(
        "gateway {}, browser control {}, canvas {}, CDP {}-{}",
        p.gateway.value,
        p.browser_control.value,
        p.canvas.value,
        p.cdp_range.value.0,
        p.cdp_range.value.1
    )
}

fn model_line(a: &Answers) -> String {
    match &a.model {
        None => "skipped (set one later: onboard again, or models.providers in the config)".into(),
        Some(m) => format!(
            "{}/{} at {} (checked: {} listed{})",
            m.plan.provider,
            m.model,
            m.plan.base_url,
            models_count(m.listed),
            if m.key.is_some() { "" } else { "; no key" }
        ),
    }
}

/// "1 model", "3 models".
pub fn models_count(n: usize) -> String {
    format!("{n} model{}", if n == 1 { "" } else { "s" })
}

fn owner_line(a: &Answers) -> String {
    match &a.owner {
        Some(OwnerPlan::Owner(o)) => {
            format!("{o} (commands.ownerAllowFrom; may DM the bot at once)")
        }
        Some(OwnerPlan::Pairing) => "the first DM you approve (pairing)".into(),
        None => "none (no channel)".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn report_json(
    w: &Written,
    a: &Answers,
    facts: &Facts,
    daemon: &Value,
    gateway: &Value,
    channel_state: &Value,
    next: &[ops::NextStep],
    manual: &[String],
    foreground: &str,
    ok: bool,
) -> Value {
    let inst = &w.setup.instance;
    let p = &inst.ports;
    json!({
        "ok": ok,
        "instance": inst,
        "footprint": inst.footprint(),
        "ports": {
            "gateway": p.gateway.value,
            "browserControl": p.browser_control.value,
            "canvas": p.canvas.value,
            "cdpRange": [p.cdp_range.value.0, p.cdp_range.value.1],
        },
        "portReason": a.port_reason,
        "portNote": w.setup.port_note,
        "configCreated": w.setup.config_created,
        "configKeysSet": w.setup.keys_set,
        "tokenGenerated": w.setup.token_generated,
        "workspaceFilesCreated": w.setup.workspace_files_created,
        "credentialsFiles": w.secrets.iter().map(|(what, p)| json!({"what": what, "path": p})).collect::<Vec<_>>(),
        "model": a.model.as_ref().map(|m| json!({
            "provider": m.plan.provider,
            "baseUrl": m.plan.base_url,
            "api": m.plan.api,
            "model": m.model,
            "primary": format!("{}/{}", m.plan.provider, m.model),
            "modelsListed": m.listed,
            "key": m.key.is_some(),
            "warning": m.warning,
        })),
        "channel": a.channel.as_ref().map(|c| match c {
            ChannelAnswer::Telegram { bot, api_root, .. } => json!({"channel": "telegram", "botUsername": bot.username, "botId": bot.id, "apiRoot": api_root}),
            ChannelAnswer::Irc { details, channels, .. } => json!({"channel": "irc", "host": details.host, "port": details.port, "tls": details.tls, "nick": details.nick, "channels": channels}),
            ChannelAnswer::Matrix { homeserver, session } => json!({"channel": "matrix", "homeserver": homeserver, "userId": session.user_id}),
        }),
        "channelState": channel_state,
        "owner": match &a.owner {
            Some(OwnerPlan::Owner(o)) => json!(o.to_string()),
            Some(OwnerPlan::Pairing) => json!("pairing"),
            None => Value::Null,
        },
        "rescue": match &a.rescue {
            Some((enabled, targets)) => json!({"enabled": enabled, "targets": targets, "watches": if targets.is_some() { json!(targets) } else { json!(facts.watch_labels) }}),
            None => json!({"enabled": false}),
        },
        "daemon": daemon,
        "gateway": gateway,
        "manualServiceCommands": manual,
        "foregroundCommand": foreground,
        "next": next,
    })
}

#[allow(clippy::too_many_arguments)]
fn summary(
    ctx: &Ctx,
    w: &Written,
    a: &Answers,
    facts: &Facts,
    daemon: &Value,
    gateway: &Value,
    channel_state: &Value,
    next: &[ops::NextStep],
    manual: &[String],
) {
    let inst = &w.setup.instance;
    let home = &ctx.paths.home.value;
    println!("{} is onboarded.", inst.label());
    println!("  config     {}", tilde(&inst.config_path.value, home));
    println!("  state dir  {}", tilde(&inst.state_dir.value, home));
    println!("  workspace  {}", tilde(&inst.workspace.value, home));
    println!("  ports      {}", ports_line(inst));
    println!("  port       {}", a.port_reason);
    println!("  model      {}", model_line(a));
    if let Some(w) = a.model.as_ref().and_then(|m| m.warning.as_ref()) {
        println!("             warning: {w}");
    }
    match &a.channel {
        Some(c) => println!("  channel    {}", c.describe()),
        None => println!("  channel    none (skipped)"),
    }
    for (what, p) in &w.secrets {
        println!(
            "  secret     {what}: {} (0600; the config names the file)",
            tilde(p, home)
        );
    }
    if let Some(ChannelAnswer::Matrix { .. }) = &a.channel {
        println!("  secret     a Matrix password, if given, was used once to log in and not kept");
    }
    println!("  owner      {}", owner_line(a));
    println!("  rescue     {}", rescue_line(&a.rescue, facts));
    let d = match daemon["status"].as_str() {
        Some("installed") => format!(
            "{} installed and started",
            daemon["service"].as_str().unwrap_or("")
        ),
        Some("unavailable") => format!(
            "{} NOT installed (service manager unavailable: {}); file written to {}",
            daemon["service"].as_str().unwrap_or(""),
            daemon["reason"].as_str().unwrap_or(""),
            daemon["path"].as_str().unwrap_or("")
        ),
        Some("failed") => format!("NOT installed: {}", daemon["reason"].as_str().unwrap_or("")),
        _ => format!(
            "skipped ({})",
            daemon["detail"].as_str().unwrap_or("--skip-daemon")
        ),
    };
    println!("  service    {d}");
    let g = match (gateway["status"].as_str(), gateway["health"].as_str()) {
        (Some("started-detached"), Some("ok")) => format!(
            "running in the background: pid {}, port {}, healthy (not restarted at reboot until the service is installed)",
            gateway["pid"], gateway["port"]
        ),
        (Some("started-detached"), h) => format!(
            "started in the background: pid {}; health {}",
            gateway["pid"],
            h.unwrap_or("not checked (--skip-health)")
        ),
        (Some("service" | "already-running"), Some("ok")) => {
            format!(
                "running: pid {}, port {}, healthy",
                gateway["pid"], gateway["port"]
            )
        }
        (Some("already-running"), None) => format!(
            "running: pid {}; health not checked (--skip-health)",
            gateway["pid"]
        ),
        (_, Some(h)) if h != "ok" => format!("NOT healthy: {h}"),
        _ => format!(
            "not running; start it with: {}",
            gateway["start"].as_str().unwrap_or("")
        ),
    };
    println!("  gateway    {g}");
    if let Some(line) = channel_state["line"].as_str() {
        println!(
            "  {:<10} {line}",
            a.channel.as_ref().map(|c| c.kind().as_str()).unwrap_or("")
        );
    }
    println!("\nnext:");
    for s in next {
        println!("  {:<22} {}", s.what, s.how);
    }
    if !manual.is_empty() {
        println!(
            "\nonce the service manager is usable (e.g. after `loginctl enable-linger $USER`), install the service for good:"
        );
        for c in manual {
            println!("  {c}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches as _;

    fn command() -> clap::Command {
        OnboardArgs::augment_args(clap::Command::new("onboard"))
    }

    fn parse(argv: &[&str]) -> OnboardArgs {
        let m = command()
            .try_get_matches_from(std::iter::once("onboard").chain(argv.iter().copied()))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        OnboardArgs::from_arg_matches(&m).unwrap()
    }

    /// Every flag clap knows is classified (and no name is made up), and
    /// each one, given alone, is the one reported as given. A flag added to
    /// the structs without a line in `flag_uses` does not compile; one
    /// added there under a wrong name fails here.
    #[test]
    fn every_flag_is_classified_for_a_terminal_and_seen_when_given() {
        let cmd = command();
        let mut clap_names: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        clap_names.sort();
        let none = parse(&[]);
        let mut ours: Vec<String> = none
            .flag_uses()
            .iter()
            .map(|f| f.name.to_string())
            .collect();
        ours.sort();
        assert_eq!(clap_names, ours);
        assert!(none.flag_uses().iter().all(|f| !f.given));

        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let name = format!("--{long}");
            let mut argv = vec![name.clone()];
            if arg.get_action().takes_values() {
                let value = arg
                    .get_possible_values()
                    .first()
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_else(|| "7000".into());
                argv.push(value);
            }
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let given: Vec<&str> = parse(&argv)
                .flag_uses()
                .into_iter()
                .filter(|f| f.given)
                .map(|f| f.name)
                .collect();
            assert_eq!(given, [name.as_str()], "{argv:?}");
        }
    }

    #[test]
    fn answer_flags_the_prompts_would_ignore_are_refused_on_a_terminal() {
        let refused = |argv: &[&str]| -> Vec<(&'static str, bool)> {
            parse(argv)
                .refused_on_a_terminal()
                .into_iter()
                .map(|f| (f.name, f.literal_secret))
                .collect()
        };
        assert_eq!(
            refused(&[
                "--auth-choice",
                "openai-api-key",
                "--irc-nickserv-password",
                "s3cret",
                "--irc-port",
                "7000",
                "--irc-no-tls",
                "--matrix-user-id",
                "@bot:hs",
                "--matrix-access-token-file",
                "/t",
            ]),
            [
                ("--auth-choice", false),
                ("--irc-port", false),
                ("--irc-no-tls", false),
                ("--irc-nickserv-password", true),
                ("--matrix-user-id", false),
                ("--matrix-access-token-file", false),
            ]
        );
        // What the prompts use, and what is not an answer, is accepted.
        assert!(
            refused(&[
                "--accept-risk",
                "--custom-base-url",
                "http://127.0.0.1:11434/v1",
                "--custom-model",
                "m",
                "--telegram-api-root",
                "http://127.0.0.1:1",
                "--skip-channels",
                "--skip-daemon",
                "--skip-health",
                "--port",
                "18789",
                "--workspace",
                "w",
                "--json",
            ])
            .is_empty()
        );
    }

    #[test]
    fn a_detached_start_counts_once_the_child_holds_the_state_dir() {
        use openclaw_state::owner::LockProbe::{Free, Held, Unknown};
        let owned = i32::from(exit::STATE_DIR_OWNED);
        // Spawned but not yet at its lock: keep waiting (this is the
        // window in which a second onboard used to start another gateway).
        assert_eq!(child_holds_progress(7, None, Free, None), None);
        assert_eq!(child_holds_progress(7, None, Unknown, None), None);
        // A holder whose pid cannot be seen may be anyone: wait for more.
        assert_eq!(
            child_holds_progress(7, None, Held { pid: None }, None),
            None
        );
        // Its lock, or its owner record: it holds the state dir.
        assert_eq!(
            child_holds_progress(7, None, Held { pid: Some(7) }, None),
            Some(Ok(()))
        );
        assert_eq!(
            child_holds_progress(7, None, Unknown, Some(7)),
            Some(Ok(()))
        );
        // Another gateway's lock: the child will exit 78; wait for it.
        assert_eq!(
            child_holds_progress(7, None, Held { pid: Some(9) }, None),
            None
        );
        assert_eq!(
            child_holds_progress(7, Some(owned), Held { pid: Some(9) }, None),
            Some(Err(ChildDown::TakenBy {
                pid: Some(9),
                why: "the gateway (pid 7) exited with code 78".into()
            }))
        );
        assert_eq!(
            child_holds_progress(7, Some(owned), Free, Some(9)),
            Some(Err(ChildDown::TakenBy {
                pid: Some(9),
                why: "the gateway (pid 7) exited with code 78".into()
            }))
        );
        // Any other exit is a failure, even after it held the lock.
        assert_eq!(
            child_holds_progress(7, Some(1), Held { pid: Some(7) }, Some(7)),
            Some(Err(ChildDown::Failed(
                "the gateway (pid 7) exited with code 1".into()
            )))
        );
        assert_eq!(
            child_holds_progress(7, Some(-1), Free, None),
            Some(Err(ChildDown::Failed(
                "the gateway (pid 7) was killed by a signal".into()
            )))
        );
    }
}
