//! A resolved instance's service on this host's service manager, shared by
//! the commands that install, start, stop or report on it (`gateway
//! install|start|stop|restart`, `status`, `profiles`, `doctor`, `onboard`)
//! and by the rescue role.

use std::path::PathBuf;

use openclaw_instance::{Instance, ServiceNames};
use openclaw_service::{
    CommandRunner, ForeignService, HostContext, MemoRunner, Ownership, Platform, ProcessRunner,
    Service, ServiceError, ServiceManager, ServiceSpec, ServiceStatus, manager_for,
};
use serde_json::json;

use crate::HostError;
use crate::hosts;

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
    /// The service for `instance`, run by this executable. An instance
    /// named by its state dir keeps the name it installed its service
    /// under (see [`with_installed_names`]).
    pub fn for_instance<H: HostSource + ?Sized>(
        host: &H,
        instance: Instance,
    ) -> Result<InstanceService, HostError> {
        let platform = Platform::current();
        let host = host.host_context(platform)?;
        Self::in_context(&host, platform, instance)
    }

    fn in_context(
        host: &HostContext,
        platform: Platform,
        instance: Instance,
    ) -> Result<InstanceService, HostError> {
        let manager = manager_for(platform);
        let instance = installed_names(host, manager.as_ref(), instance);
        let spec = ServiceSpec::new(&instance, host).map_err(|e| {
            HostError::new(
                "cannot describe the service",
                instance.state_dir.value.display(),
                e,
            )
        })?;
        Ok(InstanceService {
            instance,
            spec,
            manager,
        })
    }

    pub fn definition_path(&self) -> PathBuf {
        self.manager.definition_path(&self.spec)
    }

    pub fn name(&self) -> String {
        self.spec.name(self.manager.platform()).to_string()
    }

    /// Whose file is installed under this service's name: none, this
    /// instance's, or another instance's (by the `OPENCLAW_STATE_DIR` it
    /// names). Every operation checks it first.
    pub fn ownership(&self) -> Result<Ownership, ServiceError> {
        openclaw_service::ownership(self.manager.as_ref(), &self.spec)
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

    /// What fixes "this instance's service name is another instance's
    /// service" (see [`foreign_fix`]).
    pub fn foreign_fix(&self, o: &ForeignService) -> String {
        foreign_fix(self, o)
    }
}

/// An instance named by its state dir, with the service names it installed
/// its service under: among the names its state dir can give it
/// ([`ServiceNames::state_dir_candidates`], the one derived now first), the
/// first whose installed file names this very state dir. So a neighbour
/// profile set up later, which changes the derived name, does not rename an
/// installed service (the name is sticky). Any other instance, or one
/// without such a file, is returned as it is.
pub fn with_installed_names<H: HostSource + ?Sized>(host: &H, instance: Instance) -> Instance {
    if !instance.named_by_state_dir() {
        return instance;
    }
    let platform = Platform::current();
    match host.host_context(platform) {
        Ok(ctx) => installed_names(&ctx, manager_for(platform).as_ref(), instance),
        Err(_) => instance,
    }
}

fn installed_names(
    host: &HostContext,
    manager: &dyn ServiceManager,
    instance: Instance,
) -> Instance {
    if !instance.named_by_state_dir() {
        return instance;
    }
    let Ok(spec) = ServiceSpec::new(&instance, host) else {
        return instance;
    };
    let platform = manager.platform();
    let now = platform.service_name(&instance.services).to_string();
    let mut candidates = vec![instance.services.clone()];
    candidates.extend(
        ServiceNames::state_dir_candidates(&instance.state_dir.value)
            .into_iter()
            .filter(|c| platform.service_name(c) != now),
    );
    for (i, names) in candidates.into_iter().enumerate() {
        let mut probe = spec.clone();
        probe.names = names.clone();
        match openclaw_service::ownership(manager, &probe) {
            // A file that names this state dir (not one without any).
            Ok(Ownership::Own(f)) if f.env.contains_key("OPENCLAW_STATE_DIR") => {
                return if i == 0 {
                    instance
                } else {
                    instance.with_service_names(names.installed())
                };
            }
            _ => {}
        }
    }
    instance
}

/// The command prefix that selects the instance a foreign service file
/// belongs to: the host's record of that state dir, else the file's own
/// selectors.
pub fn owner_cli(home: &std::path::Path, o: &ForeignService) -> String {
    let records = hosts::records(home);
    if let Some(r) = records
        .iter()
        .find(|r| hosts::same_path(&r.state_dir, &o.state_dir))
        && let Ok(p) = hosts::record_paths(home, r)
    {
        return p.cli_prefix();
    }
    let q = |p: &std::path::Path| openclaw_instance::shell_quote(&p.display().to_string());
    let mut s = format!("OPENCLAW_STATE_DIR={} ", q(&o.state_dir));
    if let Some(c) = &o.config_path {
        s.push_str(&format!("OPENCLAW_CONFIG_PATH={} ", q(c)));
    }
    s.push_str("openclaw");
    if let Some(p) = &o.profile {
        s.push_str(&format!(" --profile {p}"));
    }
    s
}

/// A profile name like `base` (`base-2`, `base-3`, ...) that no instance
/// on this host uses, whose default state dir does not exist and whose
/// service name is not installed (`installed(name)`).
pub fn free_profile_name(
    home: &std::path::Path,
    base: &str,
    installed: &dyn Fn(&str) -> bool,
) -> String {
    let records = hosts::records(home);
    let base = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
    let base = if base.is_empty() { "gateway" } else { base };
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|cand| {
            matches!(openclaw_instance::normalize_profile(cand), Ok(Some(ref p)) if p == cand)
                && !records.iter().any(|r| r.profile.as_deref() == Some(cand))
                && !home.join(format!(".openclaw-{cand}")).exists()
                && !installed(cand)
        })
        .expect("an unbounded range has a free name")
}

/// The exact commands that let `svc`'s instance have its service when its
/// name is taken by another instance's service file (`o`):
/// - the owner is named by its state dir (its name is not fixed) and
///   exists: it moves its service to a name of its own (uninstall,
///   install: the name is derived again, clear of this instance's
///   profile), then this one installs;
/// - the owner is gone: its service is removed, then this one installs;
/// - the owner is a profile (its name is fixed): this instance runs under
///   a free profile name of its own, with its own state dir and config.
pub fn foreign_fix(svc: &InstanceService, o: &ForeignService) -> String {
    let me = &svc.instance;
    let home = &me.home;
    let owner = owner_cli(home, o);
    let mine = me.command("gateway install");
    if !o.state_dir.is_dir() {
        return format!(
            "the instance at {} is gone: remove its service, then install this one: {owner} gateway uninstall && {mine}",
            o.state_dir.display()
        );
    }
    if o.profile.is_none() {
        return format!(
            "move {}'s service to a name of its own, then install this one: {owner} gateway uninstall && {owner} gateway install && {mine}",
            o.owner
        );
    }
    let base = me
        .profile
        .clone()
        .or_else(|| ServiceNames::state_dir_name(&me.state_dir.value).map(str::to_string))
        .unwrap_or_else(|| "gateway".into());
    let installed = |p: &str| {
        let mut probe = svc.spec.clone();
        probe.names = ServiceNames::for_profile(Some(p));
        svc.manager.definition_path(&probe).exists()
    };
    let free = free_profile_name(home, &base, &installed);
    let q = |p: &std::path::Path| openclaw_instance::shell_quote(&p.display().to_string());
    format!(
        "{} keeps its name; run this instance under a profile name of its own: OPENCLAW_STATE_DIR={} OPENCLAW_CONFIG_PATH={} openclaw --profile {free} gateway install",
        o.owner,
        q(&me.state_dir.value),
        q(&me.config_path.value)
    )
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
        ServiceError::OwnedByOther { .. } => {
            let hint = match svc.ownership() {
                Ok(Ownership::Foreign(o)) => foreign_fix(svc, &o),
                _ => svc.instance.command("gateway status"),
            };
            HostError::new(
                format!("cannot {op} the service"),
                svc.definition_path().display(),
                e,
            )
            .hint(hint)
        }
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
        .map(|inst| InstanceService::in_context(&ctx, platform, (*inst).clone()))
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
            "ownedBy": st.owned_by.as_ref().map(|o| json!({
                "owner": o.owner,
                "stateDir": o.state_dir,
                "message": o.to_string(),
                "fix": foreign_fix(svc, o),
            })),
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

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_instance::{Env, GlobalFlags};
    use openclaw_state::InstanceRecord;

    fn custom(home: &std::path::Path, dir: &std::path::Path) -> Instance {
        let env =
            Env::new(home.to_str().unwrap()).with("OPENCLAW_STATE_DIR", dir.to_str().unwrap());
        let paths = openclaw_instance::resolve_paths(&GlobalFlags::default(), &env).unwrap();
        openclaw_instance::resolve(&paths, &Default::default(), Some(20100)).unwrap()
    }

    fn record(profile: Option<&str>, dir: &std::path::Path) -> InstanceRecord {
        InstanceRecord {
            profile: profile.map(str::to_string),
            state_dir: dir.to_path_buf(),
            config_path: dir.join("openclaw.json"),
        }
    }

    /// An installed service's name stays with the instance that installed
    /// it when a neighbour appears that changes the derived name; another
    /// instance's file never lends its name.
    #[test]
    fn an_installed_name_is_sticky_and_found_by_its_state_dir() {
        let home = tempfile::tempdir().unwrap();
        let host = HostFacts {
            user_home: home.path().to_path_buf(),
            exe: "/usr/local/bin/openclaw".into(),
            xdg_runtime_dir: None,
        };
        let dir = home.path().join("srv/.openclaw-work");
        let alone = hosts::with_neighbours(custom(home.path(), &dir), &[]);
        let svc = InstanceService::for_instance(&host, alone).unwrap();
        let unit = "openclaw-gateway-work.service";
        assert_eq!(svc.name(), unit);
        let files = svc.manager.render(&svc.spec).unwrap();
        std::fs::create_dir_all(files[0].path.parent().unwrap()).unwrap();
        std::fs::write(&files[0].path, files[0].bytes()).unwrap();

        // Profile work appears: the derived name becomes the hash ...
        let work = record(Some("work"), &home.path().join(".openclaw-work"));
        let derived =
            hosts::with_neighbours(custom(home.path(), &dir), std::slice::from_ref(&work));
        assert!(
            derived
                .services
                .systemd_unit
                .starts_with("openclaw-gateway-dir-")
        );
        // ... but the installed service keeps its name, for every command.
        let kept = with_installed_names(&host, derived.clone());
        assert_eq!(kept.services.systemd_unit, unit);
        assert!(
            kept.services
                .source
                .to_string()
                .contains("installed service"),
            "{}",
            kept.services.source
        );
        let svc = InstanceService::for_instance(&host, derived).unwrap();
        assert_eq!(svc.name(), unit);
        assert!(svc.ownership().unwrap().is_own());

        // Another custom dir with the same name finds nothing of its own:
        // both `.openclaw-work` dirs take hashed names, and it is not
        // handed the first one's unit.
        let other_dir = home.path().join("elsewhere/.openclaw-work");
        let other =
            hosts::with_neighbours(custom(home.path(), &other_dir), &[record(None, &dir), work]);
        assert!(
            other
                .services
                .systemd_unit
                .starts_with("openclaw-gateway-dir-")
        );
        let other = with_installed_names(&host, other);
        assert_ne!(other.services.systemd_unit, unit);
        let svc = InstanceService::for_instance(&host, other).unwrap();
        assert!(matches!(svc.ownership().unwrap(), Ownership::Absent));
    }

    #[test]
    fn a_free_profile_name_is_one_nobody_uses() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".openclaw-main-2")).unwrap();
        let installed = |p: &str| p == "main-3";
        assert_eq!(free_profile_name(home.path(), "main", &installed), "main-4");
        assert_eq!(
            free_profile_name(home.path(), "main-7", &installed),
            "main-4"
        );
    }
}
