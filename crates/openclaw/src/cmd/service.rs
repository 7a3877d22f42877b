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
use openclaw_service::{InstallOptions, ProcessRunner, Service};
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
    Ok(InstanceService::for_instance(ctx, inst)?)
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
    // Stopping needs no valid config (the owner record and the service
    // name say what runs): a gateway whose config broke can still be
    // stopped. Start and restart need it.
    let loaded = match op {
        Op::Stop => ctx.load_config().ok().flatten(),
        _ => ctx.load_config()?,
    };
    let inst = ctx.instance_for(loaded.as_ref(), None)?;
    let svc = InstanceService::for_instance(ctx, inst)?;
    let runner = ProcessRunner::default();
    // This instance's own service only: a file under its name that names
    // another state dir is that instance's (start refuses it, naming the
    // owner; stop and restart go by this instance's owner record).
    let ownership = svc
        .ownership()
        .map_err(|e| service_error(ctx, &svc, op.word(), e))?;
    let installed = ownership.is_own();
    if let openclaw_service::Ownership::Foreign(o) = &ownership
        && op != Op::Start
    {
        eprintln!("openclaw: note: {o}; it is left alone");
    }
    let available = installed && svc.manager.check_available(&svc.spec, &runner).is_ok();
    if route(op, installed, available) == Route::OwnerRecord {
        // Not under a service manager: the gateway, if any, runs in the
        // foreground (or detached) and owns the state dir's lock.
        return signal::stop_unmanaged(&svc, op == Op::Restart);
    }
    signal::service_op(&svc, op)
}
