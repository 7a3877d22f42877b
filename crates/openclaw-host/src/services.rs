//! A resolved instance's service on this host's service manager, shared by
//! the commands that install, start, stop or report on it (`gateway
//! install|start|stop|restart`, `status`, `profiles`, `doctor`, `onboard`)
//! and by the rescue role.

use std::path::PathBuf;

use openclaw_instance::Instance;
use openclaw_service::{
    CommandRunner, HostContext, MemoRunner, Platform, ProcessRunner, Service, ServiceError,
    ServiceManager, ServiceSpec, ServiceStatus, manager_for,
};
use serde_json::json;

use crate::HostError;

/// Where the facts about this host come from (the executable, `HOME`, the
/// session's runtime dir). The CLI implements it over its invocation
/// context; a gateway hands a [`HostFacts`] it captured at start.
pub trait HostSource {
    fn host_context(&self, platform: Platform) -> Result<HostContext, HostError>;
}

/// Facts about this host, captured once (by the CLI, which is the one
/// reader of the process environment) and passed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// `$HOME`: where per-user service files go.
    pub user_home: PathBuf,
    /// The canonical path of the `openclaw` executable: what services and
    /// detached gateways run.
    pub exe: PathBuf,
    /// `XDG_RUNTIME_DIR`, only to explain an unavailable systemd user
    /// session.
    pub xdg_runtime_dir: Option<PathBuf>,
}

impl HostSource for HostFacts {
    fn host_context(&self, platform: Platform) -> Result<HostContext, HostError> {
        let mut host = HostContext::new(platform, self.exe.clone(), self.user_home.clone());
        host.xdg_runtime_dir = self.xdg_runtime_dir.clone();
        Ok(host)
    }
}

/// The service of one resolved instance on this host's service manager.
pub struct InstanceService {
    pub instance: Instance,
    pub spec: ServiceSpec,
    pub manager: Box<dyn ServiceManager>,
}

impl InstanceService {
    /// The service for `instance`, run by this executable.
    pub fn for_instance<H: HostSource + ?Sized>(
        host: &H,
        instance: Instance,
    ) -> Result<InstanceService, HostError> {
        let platform = Platform::current();
        let host = host.host_context(platform)?;
        let spec = ServiceSpec::new(&instance, &host).map_err(|e| {
            HostError::new(
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

/// Maps a service error to a user-facing error for `op` on `svc`.
pub fn service_error(svc: &InstanceService, op: &str, e: ServiceError) -> HostError {
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
            HostError::new(what, location, cause).hint(format!(
                "run the gateway in the foreground instead: {}",
                u.foreground_command
            ))
        }
        ServiceError::Exists { .. } => HostError::new(
            format!("cannot {op} the service"),
            svc.definition_path().display(),
            e,
        )
        .hint(svc.instance.command("gateway install --force")),
        ServiceError::OwnedByOther { .. } => HostError::new(
            format!("cannot {op} the service"),
            svc.definition_path().display(),
            e,
        )
        .hint("give this instance a profile of its own: openclaw --profile <new-name> setup"),
        ServiceError::NotInstalled { .. } => HostError::new(
            format!("cannot {op} the service"),
            svc.definition_path().display(),
            e,
        )
        .hint(svc.instance.command("gateway install")),
        other => HostError::new(
            format!("cannot {op} the service {}", svc.name()),
            svc.definition_path().display(),
            other,
        ),
    }
}

/// The service section of `status` and `profiles`: installed / enabled /
/// active / main pid / drift, or why the manager is unavailable. Never
/// fails: a problem reading the service is reported inside the section.
pub fn service_section<H: HostSource + ?Sized>(host: &H, instance: &Instance) -> serde_json::Value {
    match InstanceService::for_instance(host, instance.clone()) {
        Ok(svc) => section(&svc, &ProcessRunner::default()),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// [`service_section`] for many instances (`profiles`): the manager is
/// asked about all of them in one command where it can be
/// ([`ServiceManager::prefetch`]) and each other command runs once
/// ([`MemoRunner`]), so a host with 100 instances costs one or two spawns,
/// not one or two per instance.
pub fn service_sections<H: HostSource + ?Sized>(
    host: &H,
    instances: &[&Instance],
) -> Vec<serde_json::Value> {
    let platform = Platform::current();
    let ctx = match host.host_context(platform) {
        Ok(h) => h,
        Err(e) => return vec![json!({ "error": e.to_string() }); instances.len()],
    };
    let services: Vec<Result<InstanceService, HostError>> = instances
        .iter()
        .map(|inst| {
            let spec = ServiceSpec::new(inst, &ctx).map_err(|e| {
                HostError::new(
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
            "lastExitCode": st.runtime.last_exit_code,
            "restartCount": st.runtime.restart_count,
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
