//! `openclaw channels status`: every messaging channel of this instance,
//! live from its gateway (`channels.status`), or from the last status the
//! gateway wrote when it is not running.

use clap::Subcommand;
use openclaw_channels::{ChannelStatus, status_line, status_summary};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliResult, exit};
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum ChannelsCmd {
    /// State of each channel account (telegram, irc, matrix): running,
    /// starting, error, unauthorized, conflict, disabled, stopped
    ///
    /// `conflict` means Telegram saw another poller with the same bot token;
    /// when that is another instance on this host it is named. `error` comes
    /// with the last error (an IRC server that is gone, ...) while the
    /// channel retries; `unauthorized` with the command that fixes the
    /// credentials.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: ChannelsCmd) -> CliResult<u8> {
    let ChannelsCmd::Status { json } = cmd;
    let rt = crate::cmd::gateway::runtime()?;
    let live = rt.block_on(async {
        let (_, _, client) = crate::cmd::gateway::connect_running(
            ctx,
            &["operator.read"],
            "channels run inside the gateway",
        )
        .await?;
        let v = client
            .call("channels.status", json!({}))
            .await
            .map_err(|e| {
                crate::error::CliError::new(
                    "channels.status failed",
                    ctx.paths.state_dir.value.display(),
                    e,
                )
            })?;
        Ok::<_, crate::error::CliError>(v)
    });
    let (running, list): (bool, Vec<ChannelStatus>) = match live {
        // Upstream's shape: every channel's accounts under `channelAccounts`.
        Ok(v) => (
            true,
            v["channelAccounts"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .flat_map(|a| a.as_array().cloned().unwrap_or_default())
                .filter_map(|a| serde_json::from_value(a).ok())
                .collect(),
        ),
        Err(e) if e.code == exit::NOT_RUNNING => {
            (false, status_summary(&ctx.paths.state_dir.value, false))
        }
        Err(e) => return Err(e),
    };
    if json {
        print_json(
            &json!({"gateway": if running { "running" } else { "stopped" }, "channels": list}),
        );
        return Ok(exit::OK);
    }
    if !running {
        println!(
            "gateway stopped; last known channel states (start it with: {})",
            ctx.command("gateway")
        );
    }
    if list.is_empty() {
        let configured = ctx
            .load_config()
            .ok()
            .flatten()
            .and_then(|l| l.parsed.config.channels)
            .is_some_and(|c| c.telegram.is_some() || c.irc.is_some() || c.matrix.is_some());
        if configured {
            println!("channels are configured but have not run yet");
        } else {
            println!(
                "no channels configured (e.g. {})",
                ctx.command("config set channels.telegram.botToken <TOKEN>")
            );
        }
    }
    for s in &list {
        println!("{}", status_line(s));
    }
    Ok(exit::OK)
}

pub use openclaw_host::doctor::instance_token;

/// Every instance on this host with a Telegram token (the current one with
/// this shell's `TELEGRAM_BOT_TOKEN` as a fallback).
pub fn host_tokens(ctx: &Ctx) -> Vec<openclaw_channels::token::InstanceToken> {
    let home = ctx.paths.home.value.clone();
    let mut out = Vec::new();
    let mut seen_current = false;
    for k in crate::hosts::known_instances(&home) {
        let current = crate::hosts::same_path(&k.record.state_dir, &ctx.paths.state_dir.value);
        seen_current |= current;
        let config = openclaw_state::ConfigStore::new(k.record.config_path.clone())
            .load()
            .ok()
            .flatten()
            .map(|l| l.parsed.config);
        let env = current
            .then(|| std::env::var(openclaw_config::channels::TELEGRAM_TOKEN_ENV).ok())
            .flatten();
        out.extend(instance_token(
            &crate::hosts::label(&k),
            &k.record.state_dir,
            config.as_ref(),
            &home,
            env.as_deref(),
        ));
    }
    if !seen_current {
        let config = ctx
            .config_store()
            .load()
            .ok()
            .flatten()
            .map(|l| l.parsed.config);
        let env = std::env::var(openclaw_config::channels::TELEGRAM_TOKEN_ENV).ok();
        let label = match &ctx.paths.profile {
            Some(p) => format!("profile {p}"),
            None => "default profile".into(),
        };
        out.extend(instance_token(
            &label,
            &ctx.paths.state_dir.value,
            config.as_ref(),
            &home,
            env.as_deref(),
        ));
    }
    out
}

/// After a config write: warn at once when this instance's bot token is
/// also another instance's (doctor reports it as an error).
pub fn warn_shared_token(ctx: &Ctx) {
    let all = host_tokens(ctx);
    for s in openclaw_channels::token::shared_tokens(&all) {
        let mine = |t: &openclaw_channels::token::InstanceToken| {
            crate::hosts::same_path(&t.state_dir, &ctx.paths.state_dir.value)
        };
        if mine(&s.a) || mine(&s.b) {
            eprintln!("openclaw: warning: {s}");
            eprintln!(
                "hint: {}",
                ctx.command("config set channels.telegram.botToken <ANOTHER_TOKEN>")
            );
        }
    }
}
