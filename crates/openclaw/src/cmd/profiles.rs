//! `openclaw profiles`: every instance on this host, and what instance a
//! command resolves to.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliResult, exit};
use crate::hosts;
use crate::live::{self, Health, Running};
use crate::output::{human_duration, print_json, tilde};

/// Every instance on this host (default `list`), or what one command resolves to (`show`).
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub command: Option<ProfilesCmd>,
    /// Print JSON (for the default `list`)
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ProfilesCmd {
    /// List every instance on this host: paths, ports, running or stopped, service, health
    ///
    /// Default and named profiles (~/.openclaw, ~/.openclaw-<name>) and
    /// instances set up with a custom OPENCLAW_STATE_DIR. Running state comes
    /// from the state dir's live owner record (pid and process start time);
    /// health is a short GET /healthz on 127.0.0.1.
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
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
        None => list(ctx, args.json),
        Some(ProfilesCmd::List { json }) => list(ctx, json || args.json),
        Some(ProfilesCmd::Show { port, json }) => show(ctx, port, json),
    }
}

/// One instance in the host-wide view.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostEntry {
    pub label: String,
    pub profile: Option<String>,
    pub state_dir: std::path::PathBuf,
    pub config_path: std::path::PathBuf,
    /// This invocation resolves to this instance.
    pub current: bool,
    /// The command prefix that selects it.
    pub cli: String,
    /// Why it could not be resolved (e.g. invalid config).
    pub error: Option<String>,
    pub ports: Option<serde_json::Value>,
    /// A live owner record holds the state dir (pid alive with the recorded
    /// process start time).
    pub running: bool,
    pub gateway: Option<Running>,
    pub health: Option<Health>,
    pub service: Option<serde_json::Value>,
    /// Its messaging channels' last known states.
    pub channels: Vec<openclaw_channels::ChannelStatus>,
}

/// How long `profiles` waits for the `/healthz` answers, all probes
/// together. A gateway answers in well under a millisecond; this only
/// bounds what a hung one costs.
const HEALTH_DEADLINE: Duration = Duration::from_millis(500);

/// The host-wide view: every known instance with its live state.
///
/// Fast with many instances: every `/healthz` probe runs at once under one
/// deadline (on a thread of its own, while the rest is gathered), and the
/// service manager is asked about every instance in one command.
pub fn host_entries(ctx: &Ctx) -> Vec<HostEntry> {
    let home = ctx.paths.home.value.clone();
    let known = hosts::known_instances(&home);
    let gateways: Vec<Option<Running>> = known
        .iter()
        .map(|k| live::running(&k.record.state_dir))
        .collect();
    // Which port each resolved instance is probed on: its running
    // gateway's, else its own (to say when something else answers there).
    let probe_ports: Vec<Option<u16>> = known
        .iter()
        .zip(&gateways)
        .map(|(k, g)| match (&k.instance, g) {
            (Err(_), _) => None,
            (Ok(_), Some(g)) => Some(g.port),
            (Ok(inst), None) => Some(inst.ports.gateway.value),
        })
        .collect();
    let ports: Vec<u16> = probe_ports.iter().flatten().copied().collect();
    let prober = std::thread::spawn(move || live::probe_health_all(&ports, HEALTH_DEADLINE));
    let resolved: Vec<&openclaw_instance::Instance> = known
        .iter()
        .filter_map(|k| k.instance.as_ref().ok())
        .collect();
    let mut services = crate::services::service_sections(ctx, &resolved).into_iter();
    let mut healths = match prober.join() {
        Ok(h) => h.into_iter(),
        Err(_) => Vec::new().into_iter(),
    };
    known
        .into_iter()
        .zip(gateways)
        .zip(probe_ports)
        .map(|((k, gateway), probe_port)| {
            let current = hosts::same_path(&k.record.state_dir, &ctx.paths.state_dir.value);
            let label = hosts::label(&k);
            let mut e = HostEntry {
                label,
                profile: k.record.profile.clone(),
                state_dir: k.record.state_dir.clone(),
                config_path: k.record.config_path.clone(),
                current,
                // From the paths, so the hint is right even when the config is not.
                cli: hosts::record_paths(&home, &k.record)
                    .map(|p| p.cli_prefix())
                    .unwrap_or_else(|_| "openclaw".into()),
                error: None,
                ports: None,
                running: gateway.is_some(),
                gateway,
                health: None,
                service: None,
                channels: Vec::new(),
            };
            e.channels = openclaw_channels::status_summary(&e.state_dir, e.running);
            let health = probe_port.and_then(|_| healths.next());
            match k.instance {
                Err(err) => e.error = Some(err),
                Ok(inst) => {
                    let p = &inst.ports;
                    e.ports = Some(json!({
                        "gateway": p.gateway.value,
                        "browserControl": p.browser_control.value,
                        "canvas": p.canvas.value,
                        "cdpRange": [p.cdp_range.value.0, p.cdp_range.value.1],
                        "explicitCdp": p.explicit_cdp,
                    }));
                    let h = health.unwrap_or_else(|| Health {
                        ok: false,
                        detail: "not probed".into(),
                    });
                    e.health = Some(match &e.gateway {
                        Some(_) => h,
                        // Stopped: health is not claimed, but say when
                        // something else answers on this instance's port.
                        None => Health {
                            ok: false,
                            detail: if h.ok {
                                format!(
                                    "no gateway of this instance runs, but another process answers /healthz on its port {}",
                                    p.gateway.value
                                )
                            } else {
                                "not running".into()
                            },
                        },
                    });
                    e.service = services.next();
                }
            }
            e
        })
        .collect()
}

fn list(ctx: &Ctx, json: bool) -> CliResult<u8> {
    let entries = host_entries(ctx);
    if json {
        print_json(&json!({ "instances": entries }));
        return Ok(exit::OK);
    }
    if entries.is_empty() {
        println!(
            "no instances on this host yet; set one up with: {}",
            ctx.command("onboard")
        );
        return Ok(exit::OK);
    }
    let home = &ctx.paths.home.value;
    for e in &entries {
        println!("{}{}", e.label, if e.current { "  (current)" } else { "" });
        println!("  state dir  {}", tilde(&e.state_dir, home));
        println!("  config     {}", tilde(&e.config_path, home));
        if let Some(err) = &e.error {
            println!("  problem    {err}");
            println!("  check      {} config validate", e.cli);
            if let Some(g) = &e.gateway {
                println!(
                    "  gateway    running: pid {}, port {}, version {}",
                    g.pid, g.port, g.version
                );
            }
            continue;
        }
        if let Some(p) = &e.ports {
            println!(
                "  ports      gateway {}, browser control {}, canvas {}, CDP {}-{}",
                p["gateway"], p["browserControl"], p["canvas"], p["cdpRange"][0], p["cdpRange"][1]
            );
        }
        match &e.gateway {
            Some(g) => println!(
                "  gateway    running: pid {}, port {}, version {}{}",
                g.pid,
                g.port,
                g.version,
                g.uptime_seconds
                    .map(|s| format!(", up {}", human_duration(s)))
                    .unwrap_or_default()
            ),
            None => println!("  gateway    stopped (start: {} gateway)", e.cli),
        }
        if let Some(h) = &e.health {
            println!(
                "  health     {}",
                if h.ok {
                    format!("ok ({})", h.detail)
                } else {
                    format!("not answering: {}", h.detail)
                }
            );
        }
        if let Some(s) = &e.service {
            let installed = s["installed"].as_bool().unwrap_or(false);
            let state = if let Some(owner) = s["ownedBy"]["owner"].as_str() {
                format!("not installed (that name is {owner}'s service)")
            } else if !installed {
                "not installed".to_string()
            } else if let Some(why) = s["managerUnavailable"].as_str() {
                format!("installed; manager unavailable ({})", first_line(why))
            } else if s["active"] == true {
                "installed, active".to_string()
            } else {
                "installed, inactive".to_string()
            };
            println!("  service    {} {state}", s["name"].as_str().unwrap_or("?"));
        }
        for c in &e.channels {
            println!("  channel    {}", openclaw_channels::status_line(c));
        }
    }
    Ok(exit::OK)
}

fn first_line(s: &str) -> &str {
    s.split(['\n', ';']).next().unwrap_or(s)
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
    for (what, name) in inst.services.all() {
        row(what, name.to_string(), inst.services.source.to_string());
    }
    for n in &inst.ignored_env {
        println!("{:<16} {n}", "note");
    }
    if !configured {
        println!("\nnot set up yet: {}", inst.command("setup"));
    }
    Ok(exit::OK)
}
