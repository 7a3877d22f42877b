//! `openclaw gateway install|uninstall|start|stop|restart|status`: this
//! instance's gateway as a per-profile service (systemd user unit, launchd
//! agent or scheduled task), through `openclaw-service`.
//!
//! Everything the service files say comes from the instance this command
//! resolves (Ctx drops another profile's inherited `OPENCLAW_*` variables),
//! plus the canonical path of this executable. Where the service manager is
//! unusable (no systemd user session in a container) the command says so,
//! names the unit file and the manual commands, and exits non-zero.

use clap::Subcommand;
use openclaw_ops::lifecycle::{Route, ServiceOp as Op, route};
use openclaw_service::{InstallOptions, Platform, ProcessRunner, Service};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::print_json;
use crate::services::{InstanceService, service_error};
use crate::signal;

/// The service subcommands of `openclaw gateway`.
#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Install this instance's gateway as a user service and start it
    ///
    /// systemd user unit `openclaw-gateway[-<profile>].service` on Linux,
    /// launchd agent `ai.openclaw.<profile>` on macOS, scheduled task
    /// `OpenClaw Gateway (<profile>)` on Windows. The service runs this
    /// executable as `openclaw gateway --port N` with the profile's paths in
    /// its environment.
    Install {
        /// Replace an existing service file with different contents
        #[arg(long)]
        force: bool,
        /// Print every file it would write and every command it would run; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print the plan as JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop, unregister and remove this instance's service
    Uninstall {
        /// Print what it would remove and run; change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Start this instance's installed service
    Start,
    /// Stop this instance's gateway (its service, or the process that owns its state dir)
    Stop,
    /// Restart this instance's gateway (never another profile's)
    Restart,
}

pub fn run(ctx: &Ctx, cmd: ServiceCmd) -> CliResult<u8> {
    match cmd {
        ServiceCmd::Install {
            force,
            dry_run,
            json,
        } => install(ctx, force, dry_run, json),
        ServiceCmd::Uninstall { dry_run } => uninstall(ctx, dry_run),
        ServiceCmd::Start => simple(ctx, Op::Start),
        ServiceCmd::Stop => simple(ctx, Op::Stop),
        ServiceCmd::Restart => simple(ctx, Op::Restart),
    }
}

/// This instance's service, refusing an instance that is not set up.
fn configured_service(ctx: &Ctx) -> CliResult<InstanceService> {
    let loaded = ctx.load_config()?;
    if loaded.is_none() {
        return Err(CliError::new(
            "this instance is not set up",
            ctx.paths.config_path.value.display(),
            "there is no config file, so a service would start a gateway with nothing to run",
        )
        .hint(ctx.command("onboard")));
    }
    let inst = ctx.instance_for(loaded.as_ref(), None)?;
    InstanceService::for_instance(ctx, inst)
}

fn install(ctx: &Ctx, force: bool, dry_run: bool, json: bool) -> CliResult<u8> {
    let svc = configured_service(ctx)?;
    let runner = ProcessRunner::default();
    let service = Service::new(svc.manager.as_ref(), &svc.spec, &runner);
    let plan = service
        .install(InstallOptions { force, dry_run })
        .map_err(|e| service_error(ctx, &svc, "install", e))?;
    if json {
        print_json(&json!({
            "ok": true,
            "dryRun": dry_run,
            "service": svc.name(),
            "path": svc.definition_path(),
            "port": svc.spec.port,
            "plan": plan,
        }));
        return Ok(exit::OK);
    }
    if dry_run {
        println!(
            "dry run: {} for the {} (port {}); nothing was written or run",
            svc.name(),
            svc.spec.label,
            svc.spec.port
        );
        print!("{plan}");
    } else {
        print!("{plan}");
        println!(
            "installed and started {} ({}, port {})",
            svc.name(),
            svc.definition_path().display(),
            svc.spec.port
        );
        println!("check it with: {}", ctx.command("gateway status"));
    }
    Ok(exit::OK)
}

fn uninstall(ctx: &Ctx, dry_run: bool) -> CliResult<u8> {
    // Uninstall works on a profile whose config is gone, too.
    let loaded = ctx.load_config().ok().flatten();
    let inst = ctx.instance_for(loaded.as_ref(), None)?;
    let svc = InstanceService::for_instance(ctx, inst)?;
    let runner = ProcessRunner::default();
    let service = Service::new(svc.manager.as_ref(), &svc.spec, &runner);
    let plan = service
        .uninstall(dry_run)
        .map_err(|e| service_error(ctx, &svc, "uninstall", e))?;
    if dry_run {
        println!("dry run: nothing was removed or run");
    }
    print!("{plan}");
    if !dry_run && !plan.steps.is_empty() {
        println!("uninstalled {}", svc.name());
    }
    Ok(exit::OK)
}

fn simple(ctx: &Ctx, op: Op) -> CliResult<u8> {
    let loaded = ctx.load_config()?;
    let inst = ctx.instance_for(loaded.as_ref(), None)?;
    let svc = InstanceService::for_instance(ctx, inst)?;
    let runner = ProcessRunner::default();
    let service = Service::new(svc.manager.as_ref(), &svc.spec, &runner);
    let installed = svc.definition_path().exists();
    let available = installed && svc.manager.check_available(&svc.spec, &runner).is_ok();
    if route(op, installed, available) == Route::OwnerRecord {
        // Not under a service manager: the gateway, if any, runs in the
        // foreground (or detached) and owns the state dir's lock.
        return signal::stop_unmanaged(&svc, op == Op::Restart);
    }
    let word = op.word();
    let result = match op {
        Op::Start => service.start(),
        Op::Stop => service.stop(),
        Op::Restart => service.restart(),
    };
    let plan = result.map_err(|e| service_error(ctx, &svc, word, e))?;
    print!("{plan}");
    println!("{} {}", plan.operation.done(), svc.name());
    let state_dir = svc.instance.state_dir.value.clone();
    if op == Op::Stop {
        // A gateway of this instance that the service did not run (started
        // in a shell) still owns the state dir: stop it through its owner
        // record as well.
        if signal::wait_owner_gone(&state_dir, signal::STOP_WAIT) {
            return Ok(exit::OK);
        }
        eprintln!(
            "a gateway of this instance that {} does not run still owns {}",
            svc.name(),
            state_dir.display()
        );
        return signal::stop_unmanaged(&svc, false);
    }
    // Start / restart: report success only once the gateway is up.
    match signal::wait_up(&state_dir, signal::START_WAIT) {
        Ok((o, h)) => {
            let main_pid = svc.status().ok().and_then(|st| st.runtime.main_pid);
            if let Some(mp) = main_pid.filter(|mp| *mp != o.pid) {
                return Err(CliError::new(
                    format!("the service {} cannot own its state dir", svc.name()),
                    state_dir.display(),
                    format!(
                        "a gateway the service does not run (pid {}, port {}) owns it; the service's process is pid {mp}",
                        o.pid, o.port
                    ),
                )
                .hint(ctx.command("gateway stop")));
            }
            println!(
                "the gateway is up: pid {}, port {}, healthy ({})",
                o.pid, o.port, h.detail
            );
            Ok(exit::OK)
        }
        Err(why) => Err(CliError::new(
            format!(
                "{} reports the service {}, but the gateway is not up",
                svc.manager.manager_name(),
                plan.operation.done()
            ),
            state_dir.display(),
            why,
        )
        .hint(match svc.manager.platform() {
            Platform::Systemd => format!("journalctl --user -u {} -n 50", svc.name()),
            _ => ctx.command("gateway status"),
        })),
    }
}
