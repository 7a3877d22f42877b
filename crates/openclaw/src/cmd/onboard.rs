//! `openclaw onboard`: set up an instance, install and start its service,
//! and check its health, interactively (clack-style prompts on a TTY) or
//! with `--non-interactive` and the original's flags.
//!
//! Progress goes to stderr as step lines; the result (and `--json`) to
//! stdout. Nothing is reported as done that was not done: where the service
//! manager is unusable the summary says so and gives the foreground command.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Args;
use openclaw_service::{InstallOptions, ProcessRunner, Service, ServiceError};
use serde_json::{Value, json};

use crate::cmd::setup::{self, SetupArgs, SetupOutcome};
use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::live;
use crate::output::{print_json, tilde};
use crate::services::{InstanceService, service_error};

/// Auth choices this version supports.
const AUTH_CHOICES: [&str; 4] = ["skip", "openai-api-key", "anthropic-api-key", "custom"];

/// Set up this instance, install its gateway service, start it and check its health.
///
/// On a terminal it asks; elsewhere pass --non-interactive --accept-risk
/// (the same flags as the original's onboarding), e.g.
///   openclaw --profile rescue onboard --non-interactive --accept-risk \
///     --mode local --auth-choice skip --skip-daemon
/// A named profile without --port gets the lowest base port whose whole
/// footprint is free and clear of every other instance on this host.
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
    /// Model provider auth: skip | openai-api-key | anthropic-api-key | custom
    #[arg(long)]
    pub auth_choice: Option<String>,
    #[command(flatten)]
    pub auth: crate::cmd::models::AuthFlags,
    /// Skip channel setup
    #[arg(long)]
    pub skip_channels: bool,
    /// Skip skills setup
    #[arg(long)]
    pub skip_skills: bool,
    /// Do not install the gateway service
    #[arg(long)]
    pub skip_daemon: bool,
    /// Do not check the gateway's health
    #[arg(long)]
    pub skip_health: bool,
    /// Do not open the control UI
    #[arg(long)]
    pub skip_ui: bool,
    /// --port, --workspace and --json, as for `openclaw setup`.
    #[command(flatten)]
    pub setup: SetupArgs,
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

fn non_interactive_command(ctx: &Ctx) -> String {
    ctx.command("onboard --non-interactive --accept-risk --mode local --auth-choice skip")
}

pub fn run(ctx: &Ctx, mut args: OnboardArgs) -> CliResult<u8> {
    let daemon_flag = args.skip_daemon;
    if !args.non_interactive {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(
                "onboard needs answers",
                "stdin",
                "stdin is not a terminal, so it cannot ask; run it non-interactively with every answer as a flag (add --skip-daemon to leave out the service, --port N to pin the port)",
            )
            .hint(non_interactive_command(ctx))
            .code(exit::USAGE));
        }
        interactive(ctx, &mut args)?;
    }
    validate(ctx, &args)?;

    let total = 2 + usize::from(!args.skip_daemon) + usize::from(!args.skip_health);
    let mut steps = Steps { n: 0, total };
    let home = ctx.paths.home.value.clone();

    steps.step(&format!(
        "checking the answers: mode local, auth {}",
        args.auth_choice.as_deref().unwrap_or("skip")
    ));
    steps.step("setting up the config, state dir and workspace");
    let out = setup::apply(ctx, &args.setup)?;
    let inst = out.instance.clone();
    let p = &inst.ports;
    let ports_line = format!(
        "gateway {}, browser control {}, canvas {}, CDP {}-{}",
        p.gateway.value,
        p.browser_control.value,
        p.canvas.value,
        p.cdp_range.value.0,
        p.cdp_range.value.1
    );
    steps.detail(&format!("config {}", tilde(&inst.config_path.value, &home)));
    if let Some(a) = crate::cmd::models::apply_auth_choice(
        ctx,
        args.auth_choice.as_deref().unwrap_or("skip"),
        &args.auth,
        &inst.state_dir.value,
    )? {
        steps.detail(&format!(
            "model  {} (agents.defaults.model.primary)",
            a.model
        ));
        match &a.key_file {
            Some(f) => steps.detail(&format!(
                "key    {} (mode 0600; the config names no key)",
                tilde(f, &home)
            )),
            None => steps.detail(&format!(
                "key    none (models.providers.{}.auth = none)",
                a.provider
            )),
        }
    }
    steps.detail(&format!("ports  {ports_line}"));
    if let Some(n) = &out.port_note {
        steps.detail(n);
    }

    let foreground = inst.command(&format!("gateway --port {}", p.gateway.value));
    let skipped_why = if daemon_flag {
        "--skip-daemon"
    } else {
        "declined"
    };
    let mut daemon = json!({"status": "skipped", "detail": skipped_why});
    let mut started = false;
    if !args.skip_daemon {
        steps.step("installing and starting the gateway service");
        let svc = InstanceService::for_instance(ctx, inst.clone())?;
        let runner = ProcessRunner::default();
        let service = Service::new(svc.manager.as_ref(), &svc.spec, &runner);
        match service.install(InstallOptions::default()) {
            Ok(_) => {
                started = true;
                steps.detail(&format!(
                    "installed and started {} ({})",
                    svc.name(),
                    svc.definition_path().display()
                ));
                daemon = json!({"status": "installed", "service": svc.name(), "path": svc.definition_path()});
            }
            Err(ServiceError::Unavailable(u)) => {
                steps.detail(&format!(
                    "the service was NOT installed: the {} is not usable here: {}",
                    u.manager, u.reason
                ));
                steps.detail(&format!(
                    "service file written but not loaded: {}",
                    u.path.display()
                ));
                steps.detail(&format!(
                    "once the {} is usable: {}",
                    u.manager,
                    u.manual_commands.join(" && ")
                ));
                steps.detail(&format!(
                    "until then, run it in the foreground: {foreground}"
                ));
                daemon = json!({
                    "status": "unavailable",
                    "service": svc.name(),
                    "path": u.path,
                    "reason": u.reason,
                    "manualCommands": u.manual_commands,
                });
            }
            Err(e) => {
                let err = service_error(ctx, &svc, "install", e);
                steps.detail(&format!("the service was NOT installed: {}", err.cause));
                if let Some(h) = &err.hint {
                    steps.detail(&format!("fix: {h}"));
                }
                daemon = json!({"status": "failed", "service": svc.name(), "reason": err.cause});
            }
        }
    }

    let mut health = json!({"status": "skipped", "detail": "--skip-health"});
    let mut healthy = true;
    if !args.skip_health {
        steps.step(&format!(
            "checking the gateway's health on 127.0.0.1:{}",
            p.gateway.value
        ));
        if started {
            let h = wait_healthy(&steps, &inst.state_dir.value, Duration::from_secs(20));
            healthy = h.ok;
            steps.detail(&if h.ok {
                format!("healthy ({})", h.detail)
            } else {
                format!("NOT healthy: {}", h.detail)
            });
            health = json!({"status": if h.ok {"ok"} else {"failed"}, "detail": h.detail});
        } else {
            // Nothing was started, so health is not claimed; a gateway of
            // this instance that already runs (live owner record) is checked.
            match live::running(&inst.state_dir.value) {
                Some(g) => {
                    let h = live::probe_health(g.port, Duration::from_millis(800));
                    steps.detail(&format!(
                        "a gateway of this instance already runs (pid {}, port {}): {}",
                        g.pid,
                        g.port,
                        if h.ok {
                            format!("healthy ({})", h.detail)
                        } else {
                            format!("NOT healthy: {}", h.detail)
                        }
                    ));
                    healthy = h.ok;
                    health = json!({
                        "status": if h.ok {"ok"} else {"failed"},
                        "detail": h.detail,
                        "pid": g.pid,
                        "port": g.port,
                    });
                }
                None => {
                    steps.detail(&format!(
                        "not checked: no gateway runs for this instance (onboarding started none); start it with: {foreground}"
                    ));
                    health = json!({
                        "status": "not-running",
                        "detail": "no gateway runs for this instance",
                        "start": foreground,
                    });
                }
            }
        }
    }

    let skipped = |flag: bool, name: &str| {
        if flag {
            format!("{name}: skipped")
        } else {
            format!("{name}: not part of this version; nothing to set up")
        }
    };
    let extras = [
        skipped(args.skip_channels, "channels"),
        skipped(args.skip_skills, "skills"),
        skipped(args.skip_ui, "control UI"),
    ];

    if args.setup.json {
        print_json(&json!({
            "ok": healthy,
            "instance": inst,
            "footprint": inst.footprint(),
            "ports": {
                "gateway": p.gateway.value,
                "browserControl": p.browser_control.value,
                "canvas": p.canvas.value,
                "cdpRange": [p.cdp_range.value.0, p.cdp_range.value.1],
            },
            "portNote": out.port_note,
            "configCreated": out.config_created,
            "configKeysSet": out.keys_set,
            "tokenGenerated": out.token_generated,
            "workspaceFilesCreated": out.workspace_files_created,
            "daemon": daemon,
            "health": health,
            "foregroundCommand": foreground,
        }));
    } else {
        summary(
            ctx,
            &out,
            &ports_line,
            &daemon,
            &health,
            &foreground,
            &extras,
        );
    }
    if !healthy {
        return Err(CliError::new(
            "the gateway did not become healthy",
            format!("http://127.0.0.1:{}/healthz", p.gateway.value),
            health["detail"].as_str().unwrap_or("no answer"),
        )
        .hint(inst.command("gateway status")));
    }
    Ok(exit::OK)
}

fn summary(
    ctx: &Ctx,
    out: &SetupOutcome,
    ports_line: &str,
    daemon: &Value,
    health: &Value,
    foreground: &str,
    extras: &[String],
) {
    let inst = &out.instance;
    let home = &ctx.paths.home.value;
    println!("{} is onboarded.", inst.label());
    println!("  config     {}", tilde(&inst.config_path.value, home));
    println!("  state dir  {}", tilde(&inst.state_dir.value, home));
    println!("  workspace  {}", tilde(&inst.workspace.value, home));
    println!("  ports      {ports_line}");
    if let Some(n) = &out.port_note {
        println!("  note       {n}");
    }
    let d = match daemon["status"].as_str() {
        Some("installed") => format!(
            "{} installed and started",
            daemon["service"].as_str().unwrap_or("")
        ),
        Some("unavailable") => format!(
            "{} NOT installed (service manager unavailable); file written to {}",
            daemon["service"].as_str().unwrap_or(""),
            daemon["path"].as_str().unwrap_or("")
        ),
        Some("failed") => format!("NOT installed: {}", daemon["reason"].as_str().unwrap_or("")),
        _ => format!(
            "skipped ({})",
            daemon["detail"].as_str().unwrap_or("--skip-daemon")
        ),
    };
    println!("  service    {d}");
    let h = match health["status"].as_str() {
        Some("ok") => "ok".to_string(),
        Some("failed") => format!("FAILED: {}", health["detail"].as_str().unwrap_or("")),
        Some("not-running") => format!(
            "not checked: no gateway runs for this instance; start it with: {}",
            health["start"].as_str().unwrap_or(foreground)
        ),
        _ => "skipped (--skip-health)".into(),
    };
    println!("  health     {h}");
    for e in extras {
        println!("  {e}");
    }
    if daemon["status"] != "installed" {
        println!("\nstart the gateway: {foreground}");
        println!("or as a service:   {}", inst.command("gateway install"));
    } else {
        println!("\ncheck it: {}", inst.command("gateway status"));
    }
}

/// Waits until the service's gateway owns the state dir (live owner
/// record) and answers `/healthz` on the port it recorded, or `limit`
/// passes (a hang guard for a service that is still starting). Shows
/// progress every couple of seconds.
fn wait_healthy(steps: &Steps, state_dir: &std::path::Path, limit: Duration) -> live::Health {
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
                detail:
                    "the service's gateway has not taken its state dir yet (no live owner record)"
                        .into(),
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
    if let Some(a) = &args.auth_choice
        && !AUTH_CHOICES.contains(&a.as_str())
    {
        return Err(CliError::usage(
            format!("unsupported --auth-choice {a}"),
            format!(
                "this version supports: {} (configure other providers in the config)",
                AUTH_CHOICES.join(", ")
            ),
        )
        .hint(non_interactive_command(ctx)));
    }
    Ok(())
}

/// Asks on the terminal; fills `args` with the answers.
fn interactive(ctx: &Ctx, args: &mut OnboardArgs) -> CliResult<()> {
    let io = |e: std::io::Error| {
        CliError::new("onboarding was cancelled", "terminal", e).hint(non_interactive_command(ctx))
    };
    cliclack::intro(format!("OpenClaw onboarding ({})", ctx.cli_prefix())).map_err(io)?;
    let accepted = cliclack::confirm(
        "The gateway runs AI agents that can act on this machine with your account's rights. Continue?",
    )
    .initial_value(false)
    .interact()
    .map_err(io)?;
    if !accepted {
        let _ = cliclack::outro_cancel("Not accepted; nothing was changed.");
        return Err(CliError::new(
            "onboarding was cancelled",
            "terminal",
            "the risk was not accepted; nothing was changed",
        ));
    }
    args.accept_risk = true;
    args.mode = cliclack::select("Gateway mode")
        .item(
            "local".to_string(),
            "local",
            "run the gateway on this machine",
        )
        .interact()
        .map_err(io)?;
    args.auth_choice = Some(
        cliclack::select("Model provider auth")
            .item(
                "skip".to_string(),
                "skip for now",
                "configure providers later in the config",
            )
            .interact()
            .map_err(io)?,
    );
    if args.setup.port.is_none() {
        let raw: String = cliclack::input("Base port (empty: pick a free one automatically)")
            .placeholder("auto")
            .required(false)
            .validate(|s: &String| {
                if s.trim().is_empty() || s.trim().parse::<u16>().is_ok_and(|p| p > 0) {
                    Ok(())
                } else {
                    Err("enter a port number from 1 to 65535, or leave it empty")
                }
            })
            .interact()
            .map_err(io)?;
        args.setup.port = raw.trim().parse().ok();
    }
    if args.setup.workspace.is_none() {
        let raw: String = cliclack::input("Workspace directory (empty: the profile's default)")
            .placeholder("default")
            .required(false)
            .interact()
            .map_err(io)?;
        let raw = raw.trim();
        if !raw.is_empty() {
            args.setup.workspace =
                Some(openclaw_instance::expand_tilde(raw, &ctx.paths.home.value));
        }
    }
    if !args.skip_daemon {
        args.skip_daemon =
            !cliclack::confirm("Install the gateway as a user service and start it?")
                .initial_value(true)
                .interact()
                .map_err(io)?;
    }
    cliclack::outro("Setting up…").map_err(io)?;
    Ok(())
}
