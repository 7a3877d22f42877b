//! A resolved instance's service on this host's service manager, shared by
//! the commands that install, start, stop or report on it (`gateway
//! install|start|stop|restart`, `status`, `profiles`, `doctor`, `onboard`).

use std::path::PathBuf;

use openclaw_instance::Instance;
use openclaw_service::{
    CommandRunner, HostContext, MemoRunner, Platform, ProcessRunner, Service, ServiceError,
    ServiceManager, ServiceSpec, ServiceStatus, manager_for,
};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};

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
        self.status_with(&ProcessRunner::default())
    }

    /// [`InstanceService::status`], with the manager's commands run by `runner`.
    pub fn status_with(&self, runner: &dyn CommandRunner) -> Result<ServiceStatus, ServiceError> {
        Service::new(self.manager.as_ref(), &self.spec, runner).status()
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

/// The service section of `status` and `profiles`: installed / enabled /
/// active / main pid / drift, or why the manager is unavailable. Never
/// fails: a problem reading the service is reported inside the section.
pub fn service_section(ctx: &Ctx, instance: &Instance) -> serde_json::Value {
    match InstanceService::for_instance(ctx, instance.clone()) {
        Ok(svc) => section(&svc, &ProcessRunner::default()),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// [`service_section`] for many instances (`profiles`): the manager is
/// asked about all of them in one command where it can be
/// ([`ServiceManager::prefetch`]) and each other command runs once
/// ([`MemoRunner`]), so a host with 100 instances costs one or two spawns,
/// not one or two per instance.
pub fn service_sections(ctx: &Ctx, instances: &[&Instance]) -> Vec<serde_json::Value> {
    let platform = Platform::current();
    let host = match host_context(ctx, platform) {
        Ok(h) => h,
        Err(e) => return vec![json!({ "error": e.to_string() }); instances.len()],
    };
    let services: Vec<Result<InstanceService, CliError>> = instances
        .iter()
        .map(|inst| {
            let spec = ServiceSpec::new(inst, &host).map_err(|e| {
                CliError::new(
                    "cannot describe the service",
                    inst.state_dir.value.display(),
                    e,
                )
            })?;
            Ok(InstanceService {
                instance: (*inst).clone(),
                spec,
                manager: manager_for(platform),
            })
        })
        .collect();
    let runner = MemoRunner::new(ProcessRunner::default());
    let specs: Vec<&ServiceSpec> = services
        .iter()
        .filter_map(|s| s.as_ref().ok().map(|s| &s.spec))
        .collect();
    for (argv, out) in manager_for(platform).prefetch(&specs, &runner) {
        runner.seed(argv, out);
    }
    services
        .iter()
        .map(|s| match s {
            Ok(svc) => section(svc, &runner),
            Err(e) => json!({ "error": e.to_string() }),
        })
        .collect()
}

fn section(svc: &InstanceService, runner: &dyn CommandRunner) -> serde_json::Value {
    let instance = &svc.instance;
    match svc.status_with(runner) {
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
