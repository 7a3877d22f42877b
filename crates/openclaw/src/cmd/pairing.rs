//! `openclaw pairing list|approve|reject`: DM pairing requests of this
//! instance's channels (the rules live in `openclaw_channels::pairing`).

use clap::Subcommand;
use openclaw_channels::pairing::{PairingStore, bootstrap_owner};
use openclaw_channels::{DEFAULT_ACCOUNT, unix_time};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::print_json;

/// Channels that implement pairing.
const CHANNELS: &[&str] = &["telegram", "irc", "matrix"];

#[derive(Subcommand, Debug)]
pub enum PairingCmd {
    /// Pending DM pairing requests (code, sender, expiry)
    ///
    /// Under `dmPolicy: "pairing"` (the default) a sender the bot does not
    /// know gets an 8-character code; their message is not processed until
    /// you approve the code. Codes expire after one hour.
    List {
        /// Only this channel: telegram, irc or matrix
        channel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Let the sender of CODE message the bot (DM access only)
    ///
    /// Senders are Telegram user ids, IRC `nick!user@host` masks or Matrix
    /// `@user:server` ids. The first approval also makes that sender the
    /// command owner (`commands.ownerAllowFrom`, e.g. `telegram:123456789`,
    /// `irc:alice!~alice@host`, `matrix:@alice:example.org`) when no owner
    /// is configured yet.
    ///
    /// Example: openclaw --profile rescue pairing approve telegram ABCD2345 --notify
    Approve {
        /// telegram, irc or matrix
        channel: String,
        code: String,
        /// Tell the sender on the same channel that they were approved
        /// (Telegram and Matrix; on IRC the sender just writes again)
        #[arg(long)]
        notify: bool,
    },
    /// Drop a pending request (the sender may ask again later)
    Reject { channel: String, code: String },
}

fn check_channel(ctx: &Ctx, c: &str) -> CliResult<String> {
    let c = c.trim().to_ascii_lowercase();
    if CHANNELS.contains(&c.as_str()) {
        Ok(c)
    } else {
        Err(CliError::usage(
            "unknown channel",
            format!(
                "{c:?} does not support pairing (supported: {})",
                CHANNELS.join(", ")
            ),
        )
        .hint(ctx.command("pairing list")))
    }
}

pub fn run(ctx: &Ctx, cmd: PairingCmd) -> CliResult<u8> {
    let state_dir = ctx.paths.state_dir.value.clone();
    let store_err = |e: openclaw_state::StateError| {
        CliError::new("cannot read pairing state", state_dir.display(), e)
    };
    let now = unix_time();
    match cmd {
        PairingCmd::List { channel, json } => {
            let channels: Vec<String> = match channel {
                Some(c) => vec![check_channel(ctx, &c)?],
                None => CHANNELS.iter().map(|s| s.to_string()).collect(),
            };
            let mut rows = Vec::new();
            for c in &channels {
                let store = PairingStore::new(&state_dir, c, DEFAULT_ACCOUNT);
                for p in store.list(now).map_err(store_err)? {
                    rows.push(json!({
                        "channel": c, "account": DEFAULT_ACCOUNT, "code": p.code,
                        "senderId": p.sender_id, "senderName": p.sender_name,
                        "createdAt": p.created_at, "expiresInSeconds": p.expires_at().saturating_sub(now),
                    }));
                }
            }
            if json {
                print_json(&json!({"pending": rows}));
            } else if rows.is_empty() {
                println!("no pending pairing requests");
            } else {
                println!(
                    "{:<10} {:<10} {:<14} {:<20} EXPIRES IN",
                    "CHANNEL", "CODE", "SENDER", "NAME"
                );
                for r in &rows {
                    println!(
                        "{:<10} {:<10} {:<14} {:<20} {} min",
                        r["channel"].as_str().unwrap_or(""),
                        r["code"].as_str().unwrap_or(""),
                        r["senderId"].as_str().unwrap_or(""),
                        r["senderName"].as_str().unwrap_or("-"),
                        r["expiresInSeconds"].as_u64().unwrap_or(0).div_ceil(60)
                    );
                }
                println!(
                    "approve with: {}",
                    ctx.command("pairing approve <channel> <CODE>")
                );
            }
            Ok(exit::OK)
        }
        PairingCmd::Approve {
            channel,
            code,
            notify,
        } => {
            let channel = check_channel(ctx, &channel)?;
            if notify && channel == "irc" {
                // It would take a second connection under another nick.
                return Err(CliError::usage(
                    "--notify is not available for irc",
                    "the gateway's IRC connection is the only one this instance has; the approved sender can simply write again",
                )
                .hint(ctx.command(&format!("pairing approve irc {code}"))));
            }
            let store = PairingStore::new(&state_dir, &channel, DEFAULT_ACCOUNT);
            let list = ctx.command(&format!("pairing list {channel}"));
            let p = store.approve(&code, now, &list).map_err(|e| {
                CliError::new("cannot approve", format!("{channel} {code}"), e).hint(list.clone())
            })?;
            println!(
                "approved {channel} sender {}{} (DM access)",
                p.sender_id,
                p.sender_name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
            let loaded = ctx.load_config()?;
            let has_owner = loaded
                .as_ref()
                .and_then(|l| l.parsed.config.commands.as_ref())
                .and_then(|c| c.owner_allow_from.as_ref())
                .is_some_and(|o| !o.is_empty());
            if !has_owner {
                let mut set = false;
                ctx.config_store()
                    .update(None, |v| {
                        set = bootstrap_owner(v, &channel, &p.sender_id);
                        Ok::<(), std::convert::Infallible>(())
                    })
                    .map_err(|e| ctx.config_error(e))?;
                if set {
                    println!(
                        "owner set: commands.ownerAllowFrom = [\"{channel}:{}\"]",
                        p.sender_id
                    );
                }
            }
            if notify {
                match channel.as_str() {
                    "matrix" => notify_matrix(ctx, loaded.as_ref(), &p)?,
                    _ => notify_telegram(ctx, loaded.as_ref(), &p)?,
                }
                println!("notified the sender");
            }
            Ok(exit::OK)
        }
        PairingCmd::Reject { channel, code } => {
            let channel = check_channel(ctx, &channel)?;
            let store = PairingStore::new(&state_dir, &channel, DEFAULT_ACCOUNT);
            let list = ctx.command(&format!("pairing list {channel}"));
            let p = store.reject(&code, now, &list).map_err(|e| {
                CliError::new("cannot reject", format!("{channel} {code}"), e).hint(list.clone())
            })?;
            println!("rejected the request of {channel} sender {}", p.sender_id);
            Ok(exit::OK)
        }
    }
}

const APPROVED_TEXT: &str = "You're approved: you can message me now.";

fn notify_telegram(
    ctx: &Ctx,
    loaded: Option<&openclaw_state::Loaded>,
    p: &openclaw_channels::pairing::PendingRequest,
) -> CliResult<()> {
    let cfg = loaded
        .and_then(|l| l.parsed.config.channels.as_ref())
        .and_then(|c| c.telegram.as_ref())
        .map(|t| (**t).clone())
        .unwrap_or_default();
    let env = std::env::var(openclaw_config::channels::TELEGRAM_TOKEN_ENV).ok();
    let token = openclaw_channels::token::resolve(&cfg, &ctx.paths.home.value, env.as_deref())
        .map_err(|e| CliError::new("cannot notify the sender", "channels.telegram", e))?
        .ok_or_else(|| {
            CliError::new(
                "cannot notify the sender",
                "channels.telegram",
                "no bot token configured",
            )
            .hint(ctx.command("config set channels.telegram.botToken <TOKEN>"))
        })?;
    let api = openclaw_channels::telegram::BotApi::new(cfg.api_root(), token);
    let rt = crate::cmd::gateway::runtime()?;
    rt.block_on(api.send_message(&p.chat_id, APPROVED_TEXT, None, None))
        .map_err(|e| {
            CliError::new(
                "approved, but the notification failed",
                format!("telegram chat {}", p.chat_id),
                e,
            )
        })?;
    Ok(())
}

/// Sends the approval to the sender's Matrix room with the account's
/// token (`accessToken`/`accessTokenFile`, else the session the gateway
/// logged in with).
fn notify_matrix(
    ctx: &Ctx,
    loaded: Option<&openclaw_state::Loaded>,
    p: &openclaw_channels::pairing::PendingRequest,
) -> CliResult<()> {
    let fail = |e: String| {
        CliError::new(
            "approved, but the notification failed",
            "channels.matrix",
            e,
        )
    };
    let cfg = loaded
        .and_then(|l| l.parsed.config.channels.as_ref())
        .and_then(|c| c.matrix.as_ref())
        .map(|m| (**m).clone())
        .ok_or_else(|| fail("channels.matrix is not configured".into()))?;
    let key = format!("pairing-approved:{}:{}", p.code, p.sender_id);
    let rt = crate::cmd::gateway::runtime()?;
    rt.block_on(openclaw_channels::matrix::notify(
        &ctx.paths.state_dir.value,
        &ctx.paths.home.value,
        DEFAULT_ACCOUNT,
        &cfg,
        &p.chat_id,
        &key,
        APPROVED_TEXT,
    ))
    .map_err(fail)?;
    Ok(())
}
