//! `openclaw profiles`: what instance a command resolves to.

use clap::{Args, Subcommand};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliResult, exit};
use crate::output::{print_json, tilde};

/// Show instances: which paths, ports and service names a command touches.
#[derive(Args, Debug)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub command: ProfilesCmd,
}

#[derive(Subcommand, Debug)]
pub enum ProfilesCmd {
    /// Print the instance this invocation resolves to, with the source of every value
    ///
    /// Profile, state dir, config path, workspace, base port and every derived
    /// port, and the service names on each platform. Use it to see what a
    /// command with the same flags and environment would touch.
    Show {
        /// Resolve as a command given this --port would (e.g. `gateway --port N`)
        #[arg(long)]
        port: Option<u16>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Ctx, args: ProfilesArgs) -> CliResult<u8> {
    match args.command {
        ProfilesCmd::Show { port, json } => show(ctx, port, json),
    }
}

fn show(ctx: &Ctx, port: Option<u16>, json: bool) -> CliResult<u8> {
    let loaded = ctx.load_config()?;
    let inst = ctx.instance_for(loaded.as_ref(), port)?;
    let configured = loaded.is_some();
    if json {
        print_json(&json!({
            "instance": inst,
            "footprint": inst.footprint(),
            "configExists": configured,
            "home": ctx.paths.home,
        }));
        return Ok(exit::OK);
    }
    let home = &ctx.paths.home.value;
    let p = &inst.ports;
    let row = |k: &str, v: String, s: String| println!("{k:<16} {v:<44} ({s})");
    row(
        "profile",
        inst.profile.clone().unwrap_or_else(|| "default".into()),
        inst.profile_source.to_string(),
    );
    row(
        "state dir",
        tilde(&inst.state_dir.value, home),
        inst.state_dir.source.to_string(),
    );
    row(
        "config",
        format!(
            "{}{}",
            tilde(&inst.config_path.value, home),
            if configured { "" } else { " (missing)" }
        ),
        inst.config_path.source.to_string(),
    );
    row(
        "workspace",
        tilde(&inst.workspace.value, home),
        inst.workspace.source.to_string(),
    );
    row(
        "gateway port",
        p.gateway.value.to_string(),
        p.gateway.source.to_string(),
    );
    row(
        "browser control",
        format!("{} (loopback only)", p.browser_control.value),
        p.browser_control.source.to_string(),
    );
    row(
        "canvas host",
        p.canvas.value.to_string(),
        p.canvas.source.to_string(),
    );
    row(
        "CDP range",
        format!("{}-{}", p.cdp_range.value.0, p.cdp_range.value.1),
        p.cdp_range.source.to_string(),
    );
    for (name, port) in &p.explicit_cdp {
        row(
            &format!("CDP {name}"),
            port.to_string(),
            format!("config browser.profiles.{name}.cdpPort"),
        );
    }
    println!("{:<16} {}", "systemd unit", inst.services.systemd_unit);
    println!("{:<16} {}", "launchd label", inst.services.launchd_label);
    println!("{:<16} {}", "windows task", inst.services.windows_task);
    for n in &inst.ignored_env {
        println!("{:<16} {n}", "note");
    }
    if !configured {
        println!("\nnot set up yet: {}", inst.command("setup"));
    }
    Ok(exit::OK)
}
