//! The questions on a terminal (cliclack), each answer checked as soon as
//! it is given, with the choice to try again or skip. Nothing is written
//! here: Ctrl-C or Esc at any prompt ends onboarding with nothing changed.

use openclaw_ops::onboard::{self as ops, AuthChoice, ChannelKind, Login, OwnerPlan};

use super::checks::{self, Checker};
use super::{Answers, ChannelAnswer, Facts, ModelAnswer, OnboardArgs, non_interactive_command};
use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};
use crate::secrets::SecretValue;

/// What the person chose after a failed check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    Again,
    Skip,
}

struct Asker<'a> {
    ctx: &'a Ctx,
}

impl Asker<'_> {
    /// Ctrl-C / Esc at a prompt: nothing was written.
    fn cancelled(&self, e: std::io::Error) -> CliError {
        let _ = cliclack::outro_cancel("Cancelled; nothing was written.");
        let cause = if e.kind() == std::io::ErrorKind::Interrupted {
            "interrupted at a prompt; nothing was written".to_string()
        } else {
            format!("the terminal failed ({e}); nothing was written")
        };
        CliError::new("onboarding was cancelled", "terminal", cause)
            .hint(non_interactive_command(self.ctx))
    }

    fn retry(&self, what: &str, skip_label: &str) -> CliResult<Retry> {
        cliclack::select(format!("{what}: what now?"))
            .item(Retry::Again, "Try again", "")
            .item(Retry::Skip, skip_label, "")
            .interact()
            .map_err(|e| self.cancelled(e))
    }

    fn secret(&self, prompt: &str, allow_empty: bool) -> CliResult<Option<SecretValue>> {
        let mut p = cliclack::password(prompt).mask('•');
        if allow_empty {
            p = p.allow_empty();
        }
        let v: String = p.interact().map_err(|e| self.cancelled(e))?;
        let v = v.trim();
        Ok((!v.is_empty()).then(|| SecretValue::new(v)))
    }

    fn text(&self, prompt: &str, default: Option<&str>, placeholder: &str) -> CliResult<String> {
        let mut i = cliclack::input(prompt);
        if let Some(d) = default {
            i = i.default_input(d);
        } else if !placeholder.is_empty() {
            i = i.placeholder(placeholder);
        }
        let v: String = i.interact().map_err(|e| self.cancelled(e))?;
        Ok(v.trim().to_string())
    }
}

pub fn ask(
    ctx: &Ctx,
    args: &mut OnboardArgs,
    facts: &Facts,
    checker: &Checker,
) -> CliResult<Answers> {
    let q = Asker { ctx };
    let io = |e| q.cancelled(e);
    cliclack::intro(format!("OpenClaw onboarding ({})", ctx.cli_prefix())).map_err(io)?;
    let risk = "The gateway runs AI agents that can act on this machine with your account's rights";
    let accepted = if args.accept_risk {
        cliclack::log::info(format!("{risk} (accepted: --accept-risk)")).map_err(io)?;
        true
    } else {
        cliclack::confirm(format!("{risk}. Continue?"))
            .initial_value(false)
            .interact()
            .map_err(io)?
    };
    if !accepted {
        let _ = cliclack::outro_cancel("Not accepted; nothing was changed.");
        return Err(CliError::new(
            "onboarding was cancelled",
            "terminal",
            "the risk was not accepted; nothing was changed",
        ));
    }
    args.accept_risk = true;
    cliclack::log::info("Mode: local (the gateway runs on this machine)").map_err(io)?;

    let model = ask_model(&q, args, checker)?;
    let channel = if args.skip_channels {
        None
    } else {
        ask_channel(&q, facts, checker)?
    };
    let owner = match &channel {
        Some(c) => Some(ask_owner(&q, c.kind())?),
        None => None,
    };
    let rescue = ask_rescue(&q, facts)?;
    let (port, port_reason) = ask_port(&q, args, facts)?;
    let workspace = match &args.setup.workspace {
        Some(w) => Some(w.clone()),
        None => {
            let raw: String = cliclack::input("Workspace directory (empty: the profile's default)")
                .placeholder("default")
                .required(false)
                .interact()
                .map_err(io)?;
            let raw = raw.trim();
            (!raw.is_empty()).then(|| openclaw_instance::expand_tilde(raw, &ctx.paths.home.value))
        }
    };
    let install_service = !args.skip_daemon
        && cliclack::confirm("Install the gateway as a service and start it now?")
            .initial_value(true)
            .interact()
            .map_err(io)?;
    cliclack::outro("Writing the answers…").map_err(io)?;
    Ok(Answers {
        model,
        channel,
        owner,
        rescue,
        port,
        port_reason,
        workspace,
        install_service,
    })
}

#[allow(clippy::ptr_arg)] // cliclack's validator gets a &String
fn http_url(s: &String) -> Result<(), &'static str> {
    let ok = s
        .trim()
        .strip_prefix("https://")
        .or_else(|| s.trim().strip_prefix("http://"))
        .is_some_and(|r| !r.is_empty() && !r.contains(' '));
    if ok {
        Ok(())
    } else {
        Err("enter an http:// or https:// URL")
    }
}

fn ask_model(
    q: &Asker<'_>,
    args: &OnboardArgs,
    checker: &Checker,
) -> CliResult<Option<ModelAnswer>> {
    let io = |e| q.cancelled(e);
    let mut last = AuthChoice::OpenaiApiKey;
    loop {
        let choice = cliclack::select("Model provider")
            .item(
                AuthChoice::OpenaiApiKey,
                "OpenAI API key",
                ops::OPENAI_MODEL.to_string(),
            )
            .item(
                AuthChoice::AnthropicApiKey,
                "Anthropic API key",
                ops::ANTHROPIC_MODEL.to_string(),
            )
            .item(
                AuthChoice::Custom,
                "OpenAI-compatible server",
                "Ollama, vLLM, LM Studio: a base URL and a model".to_string(),
            )
            .item(
                AuthChoice::Skip,
                "Skip for now",
                "agents cannot answer until a model is set".to_string(),
            )
            .initial_value(last)
            .interact()
            .map_err(io)?;
        last = choice;
        let (plan, key) = match choice {
            AuthChoice::Skip => return Ok(None),
            AuthChoice::OpenaiApiKey | AuthChoice::AnthropicApiKey => {
                let name = if choice == AuthChoice::OpenaiApiKey {
                    "OpenAI"
                } else {
                    "Anthropic"
                };
                let Some(key) = q.secret(&format!("{name} API key"), false)? else {
                    continue;
                };
                let plan = ops::model_plan(choice, None, None, None)
                    .ok()
                    .flatten()
                    .expect("hosted providers have a plan");
                (plan, Some(key))
            }
            AuthChoice::Custom => {
                let base: String = cliclack::input("Base URL of the server")
                    .default_input(
                        args.model
                            .custom_base_url
                            .as_deref()
                            .unwrap_or(ops::CUSTOM_BASE_URL_EXAMPLE),
                    )
                    .validate(http_url)
                    .interact()
                    .map_err(io)?;
                let key = q.secret("API key (empty: the server needs none)", true)?;
                match ops::model_plan(
                    choice,
                    Some(base.trim()),
                    args.model.custom_model.as_deref(),
                    args.model.custom_api.as_deref(),
                ) {
                    Ok(Some(p)) => (p, key),
                    Ok(None) => return Ok(None),
                    Err(e) => {
                        cliclack::log::error(e).map_err(io)?;
                        continue;
                    }
                }
            }
        };
        let sp = cliclack::spinner();
        sp.start(format!("Checking: listing the models at {}", plan.base_url));
        let listed = match checker.models(&plan, key.as_ref()) {
            Ok(l) => {
                sp.stop(format!(
                    "{} answered: {}",
                    plan.base_url,
                    super::models_count(l.len())
                ));
                l
            }
            Err(e) => {
                sp.error(format!("{} refused", plan.base_url));
                cliclack::log::error(e).map_err(io)?;
                match q.retry("The model check failed", "Skip the model for now")? {
                    Retry::Again => continue,
                    Retry::Skip => return Ok(None),
                }
            }
        };
        let model = if plan.model.is_none() && listed.len() > 1 {
            let mut s = cliclack::select("Model").max_rows(10);
            for m in &listed {
                s = s.item(m.clone(), m, "");
            }
            s.interact().map_err(io)?
        } else {
            match ops::pick_model(&plan, &listed) {
                Ok(p) => {
                    if let Some(w) = &p.warning {
                        cliclack::log::warning(w).map_err(io)?;
                    }
                    p.model
                }
                Err(e) => {
                    cliclack::log::error(e).map_err(io)?;
                    match q.retry("The model is not there", "Skip the model for now")? {
                        Retry::Again => continue,
                        Retry::Skip => return Ok(None),
                    }
                }
            }
        };
        cliclack::log::success(format!("Model: {}/{model}", plan.provider)).map_err(io)?;
        return Ok(Some(ModelAnswer {
            warning: None,
            listed: listed.len(),
            model,
            plan,
            key,
        }));
    }
}

/// `None`: skipped.
fn ask_channel(
    q: &Asker<'_>,
    facts: &Facts,
    checker: &Checker,
) -> CliResult<Option<ChannelAnswer>> {
    let io = |e| q.cancelled(e);
    let mut last = Some(ChannelKind::Telegram);
    loop {
        let kind = cliclack::select("Channel: where you will message the bot")
            .item(
                Some(ChannelKind::Telegram),
                "Telegram",
                "a bot token from @BotFather",
            )
            .item(Some(ChannelKind::Irc), "IRC", "a server and a nick")
            .item(
                Some(ChannelKind::Matrix),
                "Matrix",
                "a homeserver and the bot's account",
            )
            .item(None, "Skip for now", "use the dashboard")
            .initial_value(last)
            .interact()
            .map_err(io)?;
        last = kind;
        let Some(kind) = kind else {
            return Ok(None);
        };
        let r = match kind {
            ChannelKind::Telegram => ask_telegram(q, facts, checker)?,
            ChannelKind::Irc => ask_irc(q, facts, checker)?,
            ChannelKind::Matrix => ask_matrix(q, facts, checker)?,
        };
        match r {
            Ok(answer) => {
                cliclack::log::success(format!("Channel: {}", answer.describe())).map_err(io)?;
                return Ok(Some(answer));
            }
            Err(why) => {
                cliclack::log::error(why).map_err(io)?;
                match q.retry("The channel check failed", "Skip the channel for now")? {
                    Retry::Again => continue,
                    Retry::Skip => return Ok(None),
                }
            }
        }
    }
}

/// The inner `Err` is a refusal or a failed check, to show before asking
/// again.
type Checked = CliResult<Result<ChannelAnswer, String>>;

fn ask_telegram(q: &Asker<'_>, facts: &Facts, checker: &Checker) -> Checked {
    let Some(token) = q.secret("Telegram bot token (from @BotFather)", false)? else {
        return Ok(Err("no token given".into()));
    };
    let fp = openclaw_channels::token::fingerprint(token.expose());
    if let Some(t) = ops::taken_by(Login::Telegram { fingerprint: &fp }, &facts.logins) {
        return Ok(Err(format!("Refused: {}", t.message)));
    }
    let sp = cliclack::spinner();
    sp.start(format!(
        "Checking the token: getMe at {}",
        facts.telegram_api_root
    ));
    match checker.telegram(&facts.telegram_api_root, &token) {
        Ok(bot) => {
            sp.stop(format!("Telegram knows this bot: @{}", bot.username));
            Ok(Ok(ChannelAnswer::Telegram {
                token,
                api_root: facts.telegram_api_root.clone(),
                bot,
            }))
        }
        Err(e) => {
            sp.error("Telegram refused the token");
            Ok(Err(e))
        }
    }
}

fn ask_irc(q: &Asker<'_>, facts: &Facts, checker: &Checker) -> Checked {
    let io = |e| q.cancelled(e);
    let host = q.text("IRC server", None, "irc.libera.chat")?;
    let tls = cliclack::confirm("Connect with TLS?")
        .initial_value(true)
        .interact()
        .map_err(io)?;
    let default_port = if tls {
        openclaw_config::channels_net::IRC_TLS_PORT
    } else {
        openclaw_config::channels_net::IRC_PLAIN_PORT
    };
    let port: u16 = cliclack::input("Port")
        .default_input(&default_port.to_string())
        .validate(|s: &String| match s.trim().parse::<u16>() {
            Ok(p) if p > 0 => Ok(()),
            _ => Err("enter a port number from 1 to 65535"),
        })
        .interact()
        .map_err(io)?;
    let nick = q.text("The bot's nick", None, "clawbot")?;
    let channels: String = cliclack::input("Channels to join (comma-separated; empty: none)")
        .placeholder("#ops")
        .required(false)
        .interact()
        .map_err(io)?;
    let channels: Vec<String> = channels
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    let password = q.secret("Server password (empty: none)", true)?;
    let nickserv = q.secret("NickServ password (empty: none)", true)?;
    let details = checks::IrcDetails {
        host,
        port,
        tls,
        nick,
        password,
    };
    use openclaw_config::channels::Validate;
    let section = super::irc_section(&details, &channels);
    if let Err(e) = section.validate() {
        return Ok(Err(e));
    }
    if let Some(t) = ops::taken_by(Login::Irc(&section), &facts.logins) {
        return Ok(Err(format!("Refused: {}", t.message)));
    }
    let sp = cliclack::spinner();
    sp.start(format!(
        "Checking: registering as {} on {}:{}",
        details.nick, details.host, details.port
    ));
    match super::irc_check(q.ctx, facts, checker, &details, &section) {
        super::IrcCheck::Passed => {
            sp.stop(format!("{} registered on {}", details.nick, details.host));
        }
        super::IrcCheck::Skipped(why) => sp.stop(format!("IRC: {why}")),
        super::IrcCheck::Failed { message, hint } => {
            sp.error("The IRC check failed");
            return Ok(Err(format!("{message} (hint: {hint})")));
        }
    }
    Ok(Ok(ChannelAnswer::Irc {
        details,
        channels,
        nickserv,
    }))
}

fn ask_matrix(q: &Asker<'_>, facts: &Facts, checker: &Checker) -> Checked {
    let io = |e| q.cancelled(e);
    let homeserver: String = cliclack::input("Homeserver URL")
        .placeholder("https://matrix.example.org")
        .validate(http_url)
        .interact()
        .map_err(io)?;
    let homeserver = homeserver.trim().trim_end_matches('/').to_string();
    let user: String = cliclack::input("The bot's user id")
        .placeholder("@bot:example.org")
        .validate(|s: &String| {
            if openclaw_config::channels_net::is_matrix_user_id(s.trim()) {
                Ok(())
            } else {
                Err("enter a full Matrix user id, like @bot:example.org")
            }
        })
        .interact()
        .map_err(io)?;
    let user = user.trim().to_string();
    let section = |u: &str| openclaw_config::channels_net::Matrix {
        homeserver: homeserver.clone(),
        user_id: Some(u.to_string()),
        ..Default::default()
    };
    if let Some(t) = ops::taken_by(Login::Matrix(&section(&user)), &facts.logins) {
        return Ok(Err(format!("Refused: {}", t.message)));
    }
    let Some(password) = q.secret(
        "The bot's password (used once to log in; only the access token is kept)",
        false,
    )?
    else {
        return Ok(Err("no password given".into()));
    };
    let sp = cliclack::spinner();
    sp.start(format!("Checking: logging in at {homeserver}"));
    let device = format!(
        "OpenClaw ({})",
        q.ctx.paths.profile.as_deref().unwrap_or("default")
    );
    match checker.matrix(&homeserver, Some(&user), Some(&password), None, &device) {
        Ok(session) => {
            sp.stop(format!("Logged in as {}", session.user_id));
            if let Some(t) = ops::taken_by(Login::Matrix(&section(&session.user_id)), &facts.logins)
            {
                return Ok(Err(format!("Refused: {}", t.message)));
            }
            Ok(Ok(ChannelAnswer::Matrix {
                homeserver,
                session,
            }))
        }
        Err(e) => {
            sp.error("The Matrix login failed");
            Ok(Err(e))
        }
    }
}

fn ask_owner(q: &Asker<'_>, kind: ChannelKind) -> CliResult<OwnerPlan> {
    let io = |e| q.cancelled(e);
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum How {
        Pairing,
        Id,
    }
    let how = cliclack::select("Owner: who may run owner commands")
        .item(
            How::Pairing,
            "Approve my first DM",
            "you get a code in the chat; approve it with `pairing approve`",
        )
        .item(How::Id, format!("Enter my {} id", kind.title()), "")
        .interact()
        .map_err(io)?;
    if how == How::Pairing {
        return Ok(OwnerPlan::Pairing);
    }
    let (prompt, placeholder) = match kind {
        ChannelKind::Telegram => (
            "Your numeric Telegram user id (@userinfobot tells you)",
            "123456789",
        ),
        ChannelKind::Irc => (
            "Your IRC identity, nick!user@host (/whois shows it)",
            "me!me@host",
        ),
        ChannelKind::Matrix => ("Your Matrix user id", "@me:example.org"),
    };
    let raw: String = cliclack::input(prompt)
        .placeholder(placeholder)
        .validate(move |s: &String| ops::parse_owner(s, Some(kind)).map(|_| ()))
        .interact()
        .map_err(io)?;
    let owner =
        ops::parse_owner(&raw, Some(kind)).map_err(|e| CliError::usage("invalid owner", e))?;
    Ok(OwnerPlan::Owner(owner))
}

fn ask_rescue(q: &Asker<'_>, facts: &Facts) -> CliResult<Option<(bool, Option<Vec<String>>)>> {
    let io = |e| q.cancelled(e);
    let offer = ops::rescue_offer(q.ctx.paths.profile.as_deref(), &facts.watch_labels);
    let currently = facts.rescue_enabled();
    if !offer.offer && !currently {
        return Ok(None);
    }
    let watches = if offer.watches.is_empty() {
        "no other instance yet; it watches those set up later".to_string()
    } else {
        format!(
            "it would watch {} (and instances set up later)",
            offer.watches.join(", ")
        )
    };
    let yes = cliclack::confirm(format!(
        "Make this the rescue instance? It can inspect and repair the others from your phone; {watches}"
    ))
    .initial_value(offer.default || currently)
    .interact()
    .map_err(io)?;
    Ok(ops::rescue_decision(&offer, Some(yes), None, currently))
}

fn ask_port(q: &Asker<'_>, args: &OnboardArgs, facts: &Facts) -> CliResult<(u16, String)> {
    let io = |e| q.cancelled(e);
    if args.setup.port.is_some() {
        return super::auto_port(q.ctx, facts, args.setup.port);
    }
    let (auto, reason) = super::auto_port(q.ctx, facts, None)?;
    cliclack::log::info(format!("Port: {reason}")).map_err(io)?;
    loop {
        let raw: String = cliclack::input(format!("Base port (Enter: {auto})"))
            .default_input(&auto.to_string())
            .validate(|s: &String| match s.trim().parse::<u16>() {
                Ok(p) if p > 0 => Ok(()),
                _ => Err("enter a port number from 1 to 65535"),
            })
            .interact()
            .map_err(io)?;
        let port: u16 = raw.trim().parse().unwrap_or(auto);
        if port == auto {
            return Ok((auto, reason));
        }
        match super::auto_port(q.ctx, facts, Some(port)) {
            Ok(x) => {
                cliclack::log::success(format!("Port: {}", x.1)).map_err(io)?;
                return Ok(x);
            }
            Err(e) => {
                cliclack::log::error(format!("Refused: {}", e.cause)).map_err(io)?;
            }
        }
    }
}
