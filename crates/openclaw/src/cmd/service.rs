//! `openclaw gateway install|uninstall|start|stop|restart|status`: this
//! instance's gateway as a per-profile service (systemd user unit, launchd
//! agent or scheduled task), through `openclaw-service`.
//!
//! Everything the service files say comes from the instance this command
//! resolves (Ctx drops another profile's inherited `OPENCLAW_*` variables),
//! plus the canonical path of this executable. Where the service manager is
//! unusable (no systemd user session in a container) the command says so,
//! names the unit file and the manual commands, and exits non-zero.

use std::path::PathBuf;

use clap::Subcommand;
use openclaw_instance::Instance;
use openclaw_service::{
    HostContext, InstallOptions, Platform, ProcessRunner, Service, ServiceError, ServiceManager,
    ServiceSpec, ServiceStatus, manager_for,
};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::print_json;

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
    /// Show this instance: paths, ports, its running gateway and its service
    ///
    /// The same report as `openclaw status`.
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// The service of one resolved instance on this host's service manager.
pub struct InstanceService {
    pub instance: Instance,
    pub spec: ServiceSpec,
    pub manager: Box<dyn ServiceManager>,
}

impl InstanceService {
    /// The service for `instance`, run by this executable.
    pub fn for_instance(ctx: &Ctx, instance: Instance) -> CliResult<InstanceService> {
        let platform = Platform::current();
        let host = host_context(ctx, platform)?;
        let spec = ServiceSpec::new(&instance, &host).map_err(|e| {
            CliError::new(
                "cannot describe the service",
                instance.state_dir.value.display(),
                e,
            )
        })?;
        Ok(InstanceService {
            instance,
            spec,
            manager: manager_for(platform),
        })
    }

    pub fn definition_path(&self) -> PathBuf {
        self.manager.definition_path(&self.spec)
    }

    pub fn name(&self) -> String {
        self.spec.name(self.manager.platform()).to_string()
    }

    /// Installed / enabled / active / drift; never fails because the
    /// manager is unavailable (that is reported in the status).
    pub fn status(&self) -> Result<ServiceStatus, ServiceError> {
        let runner = ProcessRunner::default();
        Service::new(self.manager.as_ref(), &self.spec, &runner).status()
    }
}

/// Facts about this host for the service: the canonical path of this
/// executable, HOME, the session's runtime dir (only to explain an
/// unavailable systemd user session).
pub fn host_context(ctx: &Ctx, platform: Platform) -> CliResult<HostContext> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| {
            CliError::new(
                "cannot find this executable's path",
                "current_exe",
                format!("{e}; the service must name the openclaw binary by absolute path"),
            )
        })?;
    let mut host = HostContext::new(platform, exe, ctx.env.home.clone());
    host.xdg_runtime_dir = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    Ok(host)
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
        ServiceCmd::Status { json } => crate::cmd::gateway::status(ctx, json),
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

/// Maps a service error to a user-facing error for `op` on `svc`.
pub fn service_error(ctx: &Ctx, svc: &InstanceService, op: &str, e: ServiceError) -> CliError {
    match e {
        ServiceError::Unavailable(u) => {
            let what = format!("the service was NOT {}", u.operation.done());
            let location = u.path.display().to_string();
            let mut cause = format!("the {} is not usable here: {}", u.manager, u.reason);
            if u.written {
                cause.push_str(&format!(
                    "\nthe service file was written but not loaded: {}",
                    u.path.display()
                ));
            } else {
                cause.push_str(&format!("\nservice file: {}", u.path.display()));
            }
            cause.push_str(&format!(
                "\nonce the {} is usable, run these commands:",
                u.manager
            ));
            for c in &u.manual_commands {
                cause.push_str(&format!("\n  {c}"));
            }
            CliError::new(what, location, cause).hint(format!(
                "run the gateway in the foreground instead: {}",
                u.foreground_command
            ))
        }
        ServiceError::Exists { .. } => CliError::new(
            format!("cannot {op} the service"),
            svc.definition_path().display(),
            e,
        )
        .hint(ctx.command("gateway install --force")),
        ServiceError::OwnedByOther { .. } => CliError::new(
            format!("cannot {op} the service"),
            svc.definition_path().display(),
            e,
        )
        .hint("give this instance a profile of its own: openclaw --profile <new-name> setup"),
        ServiceError::NotInstalled { .. } => CliError::new(
            format!("cannot {op} the service"),
            svc.definition_path().display(),
            e,
        )
        .hint(ctx.command("gateway install")),
        other => CliError::new(
            format!("cannot {op} the service {}", svc.name()),
            svc.definition_path().display(),
            other,
        ),
    }
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Start,
    Stop,
    Restart,
}

fn simple(ctx: &Ctx, op: Op) -> CliResult<u8> {
    let loaded = ctx.load_config()?;
    let inst = ctx.instance_for(loaded.as_ref(), None)?;
    let svc = InstanceService::for_instance(ctx, inst)?;
    let runner = ProcessRunner::default();
    let service = Service::new(svc.manager.as_ref(), &svc.spec, &runner);
    let installed = svc.definition_path().exists();
    let managed = installed && svc.manager.check_available(&svc.spec, &runner).is_ok();
    if !managed && op != Op::Start {
        // Not under a service manager: the gateway, if any, runs in the
        // foreground (or detached) and owns the state dir's lock.
        return crate::cmd::signal::stop_unmanaged(&svc, op == Op::Restart);
    }
    let (word, result) = match op {
        Op::Start => ("start", service.start()),
        Op::Stop => ("stop", service.stop()),
        Op::Restart => ("restart", service.restart()),
    };
    let plan = result.map_err(|e| service_error(ctx, &svc, word, e))?;
    print!("{plan}");
    println!("{} {}", plan.operation.done(), svc.name());
    let state_dir = svc.instance.state_dir.value.clone();
    if op == Op::Stop {
        // A gateway of this instance that the service did not run (started
        // in a shell) still owns the state dir: stop it through its owner
        // record as well.
        if crate::cmd::signal::wait_owner_gone(&state_dir, crate::cmd::signal::STOP_WAIT) {
            return Ok(exit::OK);
        }
        eprintln!(
            "a gateway of this instance that {} does not run still owns {}",
            svc.name(),
            state_dir.display()
        );
        return crate::cmd::signal::stop_unmanaged(&svc, false);
    }
    // Start / restart: report success only once the gateway is up.
    match crate::cmd::signal::wait_up(&state_dir, crate::cmd::signal::START_WAIT) {
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

/// The service section of `status` and `profiles`: installed / enabled /
/// active / main pid / drift, or why the manager is unavailable. Never
/// fails: a problem reading the service is reported inside the section.
pub fn service_section(ctx: &Ctx, instance: &Instance) -> serde_json::Value {
    let svc = match InstanceService::for_instance(ctx, instance.clone()) {
        Ok(svc) => svc,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    match svc.status() {
        Err(e) => json!({
            "name": svc.name(),
            "path": svc.definition_path(),
            "error": e.to_string(),
        }),
        Ok(st) => json!({
            "name": st.service,
            "platform": st.platform,
            "path": st.path,
            "installed": st.installed,
            "managerUnavailable": st.manager_unavailable,
            "enabled": st.runtime.enabled,
            "active": st.runtime.active,
            "state": st.runtime.state,
            "mainPid": st.runtime.main_pid,
            "drift": st.drift.iter().map(|d| json!({
                "key": d.key,
                "installed": d.installed,
                "expected": d.expected,
                "message": d.to_string(),
            })).collect::<Vec<_>>(),
            "fileError": st.file_error,
            "install": instance.command("gateway install"),
            "foreground": svc.spec.foreground_command,
        }),
    }
}
