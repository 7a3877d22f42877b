//! The operations: install, uninstall, start, stop, restart, status.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{ServiceError, Unavailable};
use crate::manager::{
    InstalledService, Operation, PlannedCommand, RuntimeState, ServiceFile, ServiceManager, Step,
};
use crate::runner::CommandRunner;
use crate::spec::{Platform, ServiceSpec, path_str};

/// Options of `gateway install`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Replace an existing service file with different contents.
    pub force: bool,
    /// Compute and return the plan; write nothing and run nothing.
    pub dry_run: bool,
}

/// What an operation did (or, for a dry run, would do), step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub operation: Operation,
    pub platform: Platform,
    /// The unit, label or task name.
    pub service: String,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    /// Things worth telling the user (e.g. "already installed, unchanged").
    pub notes: Vec<String>,
}

impl Plan {
    /// The files written (or to be written).
    pub fn files(&self) -> Vec<&ServiceFile> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Write { file } => Some(file),
                _ => None,
            })
            .collect()
    }

    /// The commands run (or to be run), in order.
    pub fn commands(&self) -> Vec<&PlannedCommand> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Run { command } => Some(command),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for Plan {
    /// The plan as a user reads it: every file with its contents and every
    /// command, in order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (create, write, remove, run) = if self.dry_run {
            (
                "would create directory",
                "would write",
                "would remove",
                "would run",
            )
        } else {
            ("created directory", "wrote", "removed", "ran")
        };
        for step in &self.steps {
            match step {
                Step::CreateDir { path } => writeln!(f, "{create} {}", path.display())?,
                Step::Write { file } => {
                    writeln!(f, "{write} {}:", file.path.display())?;
                    for line in file.contents.lines() {
                        writeln!(f, "    {line}")?;
                    }
                }
                Step::Remove { path } => writeln!(f, "{remove} {}", path.display())?,
                Step::Run { command } => {
                    let tail = if command.may_fail {
                        "   (a failure here is expected when it is not loaded)"
                    } else {
                        ""
                    };
                    writeln!(f, "{run}: {}{tail}", command.display(self.platform))?
                }
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// A value that differs between the installed service file and the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The environment variable, `--port` or `executable`.
    pub key: String,
    pub installed: Option<String>,
    pub expected: Option<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
        write!(
            f,
            "{}: the service file says {}, this instance resolves {}",
            self.key,
            show(&self.installed),
            show(&self.expected)
        )
    }
}

/// The state of an instance's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub platform: Platform,
    pub service: String,
    /// The definition file (unit, plist or wrapper).
    pub path: PathBuf,
    pub installed: bool,
    /// `None` when usable; else why the manager is unavailable (then the
    /// run-time fields are unknown).
    pub manager_unavailable: Option<String>,
    #[serde(flatten)]
    pub runtime: RuntimeState,
    /// The parsed file, when installed and readable.
    pub file: Option<InstalledService>,
    /// Why the file could not be read back, if it could not.
    pub file_error: Option<String>,
    /// Values where the file and the instance disagree.
    pub drift: Vec<Drift>,
    /// Set when a file exists under this service's name but names another
    /// state dir: it is not this instance's service (then `installed` is
    /// false, and the run-time fields are not asked: they would be the
    /// other instance's).
    pub owned_by: Option<ForeignService>,
}

/// A service file under this instance's service name that belongs to
/// another instance (its `OPENCLAW_STATE_DIR` names another state dir).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForeignService {
    /// The unit, label or task name.
    pub service: String,
    /// The service's definition file.
    pub path: PathBuf,
    /// `profile main` or `instance at <dir>`.
    pub owner: String,
    /// The state dir the file names.
    pub state_dir: PathBuf,
    /// `OPENCLAW_PROFILE` of the file, if any.
    pub profile: Option<String>,
    /// `OPENCLAW_CONFIG_PATH` of the file, if any.
    pub config_path: Option<PathBuf>,
}

impl fmt::Display for ForeignService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not this instance's service: it belongs to {} (state dir {})",
            self.service,
            self.owner,
            self.state_dir.display()
        )
    }
}

/// Whose service file is installed under a spec's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// No file.
    Absent,
    /// The file names this instance's state dir (or no state dir at all: a
    /// file written by hand, taken as this instance's).
    Own(InstalledService),
    /// The file names another state dir.
    Foreign(ForeignService),
}

impl Ownership {
    /// Whether this instance's own service is installed.
    pub fn is_own(&self) -> bool {
        matches!(self, Ownership::Own(_))
    }
}

/// Whether `a` and `b` name one state dir: the same components, or the same
/// directory on disk.
fn same_state_dir(a: &Path, b: &Path) -> bool {
    a.components().eq(b.components()) || openclaw_state::same_dir(a, b)
}

/// Whose service file `spec`'s name has on `manager`: none, this
/// instance's (`spec.state_dir`), or another instance's, by the
/// `OPENCLAW_STATE_DIR` the file names. A file that cannot be read back is
/// an error (whose it is cannot be told). Runs no command.
pub fn ownership(
    manager: &dyn ServiceManager,
    spec: &ServiceSpec,
) -> Result<Ownership, ServiceError> {
    let Some(inst) = read_installed(manager, spec)? else {
        return Ok(Ownership::Absent);
    };
    let Some(dir) = inst.env.get("OPENCLAW_STATE_DIR") else {
        return Ok(Ownership::Own(inst));
    };
    let owner_dir = PathBuf::from(dir);
    if same_state_dir(&owner_dir, &spec.state_dir) {
        return Ok(Ownership::Own(inst));
    }
    let profile = inst.env.get("OPENCLAW_PROFILE").cloned();
    let owner = match &profile {
        Some(p) => format!("profile {p}"),
        None => format!("instance at {}", owner_dir.display()),
    };
    Ok(Ownership::Foreign(ForeignService {
        service: spec.name(manager.platform()).to_string(),
        path: inst.path,
        owner,
        state_dir: owner_dir,
        profile,
        config_path: inst.env.get("OPENCLAW_CONFIG_PATH").map(PathBuf::from),
    }))
}

/// Compares an installed service's command and environment with `spec`.
pub fn drift(spec: &ServiceSpec, platform: Platform, installed: &InstalledService) -> Vec<Drift> {
    let expected: std::collections::BTreeMap<String, String> =
        spec.environment(platform).into_iter().collect();
    let mut out = Vec::new();
    for key in [
        "OPENCLAW_PROFILE",
        "OPENCLAW_STATE_DIR",
        "OPENCLAW_CONFIG_PATH",
        "OPENCLAW_GATEWAY_PORT",
        "OPENCLAW_WORKSPACE_DIR",
        platform.name_var(),
    ] {
        let have = installed.env.get(key).cloned();
        let want = expected.get(key).cloned();
        if have != want {
            out.push(Drift {
                key: key.to_string(),
                installed: have,
                expected: want,
            });
        }
    }
    let flag_port = installed
        .exec
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| installed.exec.get(i + 1).cloned())
        .or_else(|| {
            installed
                .exec
                .iter()
                .find_map(|a| a.strip_prefix("--port=").map(str::to_string))
        });
    let want_port = Some(spec.port.to_string());
    if flag_port != want_port {
        out.push(Drift {
            key: "--port".into(),
            installed: flag_port,
            expected: want_port,
        });
    }
    let exe = installed.exec.first().cloned();
    let want_exe = Some(path_str(&spec.exe));
    if exe != want_exe {
        out.push(Drift {
            key: "executable".into(),
            installed: exe,
            expected: want_exe,
        });
    }
    out
}

/// Reads back `spec`'s installed service file (unit, plist or task
/// wrapper): `None` when it does not exist. Runs no command.
pub fn read_installed(
    manager: &dyn ServiceManager,
    spec: &ServiceSpec,
) -> Result<Option<InstalledService>, ServiceError> {
    let path = manager.definition_path(spec);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ServiceError::Io {
                action: "read",
                path,
                source,
            });
        }
    };
    manager
        .parse(path.clone(), &bytes)
        .map(Some)
        .map_err(|reason| ServiceError::Parse { path, reason })
}

/// One instance's service on one service manager, operated through a runner.
pub struct Service<'a> {
    pub manager: &'a dyn ServiceManager,
    pub spec: &'a ServiceSpec,
    pub runner: &'a dyn CommandRunner,
}

impl<'a> Service<'a> {
    pub fn new(
        manager: &'a dyn ServiceManager,
        spec: &'a ServiceSpec,
        runner: &'a dyn CommandRunner,
    ) -> Self {
        Service {
            manager,
            spec,
            runner,
        }
    }

    fn name(&self) -> String {
        self.spec.name(self.manager.platform()).to_string()
    }

    fn plan(&self, operation: Operation, dry_run: bool) -> Plan {
        Plan {
            operation,
            platform: self.manager.platform(),
            service: self.name(),
            dry_run,
            steps: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The service file parsed back, or `None` when it does not exist.
    pub fn read_installed(&self) -> Result<Option<InstalledService>, ServiceError> {
        read_installed(self.manager, self.spec)
    }

    /// Whose file is installed under this service's name (see [`ownership`]).
    pub fn ownership(&self) -> Result<Ownership, ServiceError> {
        ownership(self.manager, self.spec)
    }

    /// The refusal of `op` on a service file that is another instance's.
    fn owned_by_other(&self, op: Operation, o: ForeignService) -> ServiceError {
        ServiceError::OwnedByOther {
            operation: op,
            service: o.service,
            path: o.path,
            owner: o.owner,
            owner_state_dir: o.state_dir,
        }
    }

    /// The commands a user runs by hand to finish `steps`, shell-quoted.
    fn manual_commands(&self, steps: &[Step]) -> Vec<String> {
        let platform = self.manager.platform();
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Run { command } => Some(command.display(platform)),
                Step::Remove { path } => Some(match platform {
                    Platform::Windows => format!("del \"{}\"", path.display()),
                    _ => format!("rm {}", openclaw_instance::shell_quote(&path_str(path))),
                }),
                _ => None,
            })
            .collect()
    }

    fn unavailable(
        &self,
        op: Operation,
        reason: String,
        steps: &[Step],
        written: bool,
    ) -> ServiceError {
        ServiceError::Unavailable(Box::new(Unavailable {
            operation: op,
            manager: self.manager.manager_name().to_string(),
            reason,
            path: self.manager.definition_path(self.spec),
            written,
            manual_commands: self.manual_commands(steps),
            foreground_command: self.spec.foreground_command.clone(),
        }))
    }

    /// Installs (writes the files, registers and starts) the service.
    ///
    /// Refuses to replace an existing different file unless `force`. When the
    /// service manager is unusable the files are still written (so the
    /// manual commands in the error work as printed) and the error says so.
    pub fn install(&self, opts: InstallOptions) -> Result<Plan, ServiceError> {
        let files = self.manager.render(self.spec)?;
        if let Ownership::Foreign(o) = self.ownership()? {
            return Err(self.owned_by_other(Operation::Install, o));
        }
        let mut plan = self.plan(Operation::Install, opts.dry_run);
        let mut replacing = false;
        let mut unchanged = true;
        for file in &files {
            match std::fs::read(&file.path) {
                Ok(existing) if existing == file.bytes() => {}
                Ok(_) => {
                    unchanged = false;
                    if opts.force {
                        replacing = true;
                    } else {
                        let err = self.exists_error(&file.path);
                        if !opts.dry_run {
                            return Err(err);
                        }
                        plan.notes
                            .push(format!("a real install would stop here: {err}"));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => unchanged = false,
                Err(source) => {
                    return Err(ServiceError::Io {
                        action: "read",
                        path: file.path.clone(),
                        source,
                    });
                }
            }
        }
        if unchanged {
            plan.notes.push(format!(
                "{} is already installed with these exact contents; registering it again",
                self.name()
            ));
        }
        let mut dirs: Vec<PathBuf> = self.manager.extra_dirs(self.spec);
        for file in &files {
            if let Some(parent) = file.path.parent()
                && !dirs.iter().any(|d| d == parent)
            {
                dirs.push(parent.to_path_buf());
            }
        }
        for d in dirs {
            if !d.is_dir() {
                plan.steps.push(Step::CreateDir { path: d });
            }
        }
        for file in files {
            plan.steps.push(Step::Write { file });
        }
        for command in self
            .manager
            .commands(self.spec, Operation::Install, replacing)
        {
            plan.steps.push(Step::Run { command });
        }
        if opts.dry_run {
            return Ok(plan);
        }

        let available = self.manager.check_available(self.spec, self.runner);
        // Files first, in both cases.
        for step in &plan.steps {
            match step {
                Step::CreateDir { path } => create_dir(path)?,
                Step::Write { file } => write_atomic(file)?,
                _ => {}
            }
        }
        if let Err(reason) = available {
            return Err(self.unavailable(Operation::Install, reason, &plan.steps, true));
        }
        self.run_commands(&plan.steps, Operation::Install)?;
        Ok(plan)
    }

    fn exists_error(&self, path: &Path) -> ServiceError {
        let detail = match self.read_installed() {
            Ok(Some(inst)) if path == inst.path => {
                let d = drift(self.spec, self.manager.platform(), &inst);
                if d.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        d.iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            }
            _ => String::new(),
        };
        ServiceError::Exists {
            path: path.to_path_buf(),
            detail,
            uninstall: format!("{} gateway uninstall", self.spec.cli_prefix),
        }
    }

    /// Runs the `Run` steps in order; stops at the first unexpected failure.
    fn run_commands(&self, steps: &[Step], op: Operation) -> Result<(), ServiceError> {
        let platform = self.manager.platform();
        let mut done: Vec<String> = Vec::new();
        for step in steps {
            match step {
                Step::Run { command } => {
                    let shown = command.display(platform);
                    let out =
                        self.runner
                            .run(&command.argv)
                            .map_err(|source| ServiceError::Run {
                                command: shown.clone(),
                                source,
                            })?;
                    if !out.success() && !command.may_fail {
                        let before = if done.is_empty() {
                            String::new()
                        } else {
                            format!("; already done: {}", done.join(", "))
                        };
                        return Err(ServiceError::CommandFailed {
                            command: shown,
                            status: out.status,
                            stderr: out.stderr,
                            hint: format!(
                                "{before}. The service was not {}; fix the error above and rerun `{} gateway {}`",
                                op.done(),
                                self.spec.cli_prefix,
                                op.word()
                            ),
                        });
                    }
                    done.push(format!("`{shown}`"));
                }
                Step::Remove { path } => {
                    remove_file(path)?;
                    done.push(format!("removed {}", path.display()));
                }
                Step::Write { file } => done.push(format!("wrote {}", file.path.display())),
                Step::CreateDir { .. } => {}
            }
        }
        Ok(())
    }

    /// Stops, unregisters and removes the service. Not installed is not an
    /// error: the plan says there was nothing to do.
    pub fn uninstall(&self, dry_run: bool) -> Result<Plan, ServiceError> {
        let mut plan = self.plan(Operation::Uninstall, dry_run);
        let files = self.manager.render(self.spec)?;
        let present: Vec<PathBuf> = files
            .iter()
            .map(|f| f.path.clone())
            .filter(|p| p.exists())
            .collect();
        if present.is_empty() {
            plan.notes.push(format!(
                "{} is not installed: no {} exists; nothing to do",
                self.name(),
                self.manager.definition_path(self.spec).display()
            ));
            return Ok(plan);
        }
        // Never another instance's: its file names its own state dir.
        if let Ownership::Foreign(o) = self.ownership()? {
            return Err(self.owned_by_other(Operation::Uninstall, o));
        }
        for command in self
            .manager
            .commands(self.spec, Operation::Uninstall, false)
        {
            plan.steps.push(Step::Run { command });
        }
        for path in present {
            plan.steps.push(Step::Remove { path });
        }
        if self.manager.platform() == Platform::Systemd {
            plan.steps.push(Step::Run {
                command: PlannedCommand::new(&["systemctl", "--user", "daemon-reload"]),
            });
        }
        if dry_run {
            return Ok(plan);
        }
        if let Err(reason) = self.manager.check_available(self.spec, self.runner) {
            return Err(self.unavailable(Operation::Uninstall, reason, &plan.steps, false));
        }
        self.run_commands(&plan.steps, Operation::Uninstall)?;
        Ok(plan)
    }

    pub fn start(&self) -> Result<Plan, ServiceError> {
        self.simple(Operation::Start)
    }

    pub fn stop(&self) -> Result<Plan, ServiceError> {
        self.simple(Operation::Stop)
    }

    pub fn restart(&self) -> Result<Plan, ServiceError> {
        self.simple(Operation::Restart)
    }

    /// The commands `op` would run for this service, without running them.
    pub fn plan_for(&self, op: Operation) -> Plan {
        let mut plan = self.plan(op, true);
        for command in self.manager.commands(self.spec, op, false) {
            plan.steps.push(Step::Run { command });
        }
        plan
    }

    fn simple(&self, op: Operation) -> Result<Plan, ServiceError> {
        let path = self.manager.definition_path(self.spec);
        match self.ownership()? {
            Ownership::Own(_) => {}
            Ownership::Absent => {
                return Err(ServiceError::NotInstalled {
                    service: self.name(),
                    path,
                    install: format!("{} gateway install", self.spec.cli_prefix),
                    foreground: self.spec.foreground_command.clone(),
                });
            }
            Ownership::Foreign(o) => return Err(self.owned_by_other(op, o)),
        }
        let mut plan = self.plan_for(op);
        plan.dry_run = false;
        if let Err(reason) = self.manager.check_available(self.spec, self.runner) {
            return Err(self.unavailable(op, reason, &plan.steps, path.exists()));
        }
        self.run_commands(&plan.steps, op)?;
        Ok(plan)
    }

    /// Installed? enabled? running (pid)? and does the file still name this
    /// instance's state dir, config and port?
    pub fn status(&self) -> Result<ServiceStatus, ServiceError> {
        let platform = self.manager.platform();
        let path = self.manager.definition_path(self.spec);
        let (file, file_error, owned_by) = match self.ownership() {
            Ok(Ownership::Absent) => (None, None, None),
            Ok(Ownership::Own(f)) => (Some(f), None, None),
            Ok(Ownership::Foreign(o)) => (None, None, Some(o)),
            Err(ServiceError::Parse { reason, .. }) => (None, Some(reason), None),
            Err(e) => return Err(e),
        };
        let installed = file.is_some() || file_error.is_some();
        let drift = file
            .as_ref()
            .map(|f| drift(self.spec, platform, f))
            .unwrap_or_default();
        // Asked even without a file: a job can stay loaded after its file
        // was removed. On systemd this is one `systemctl show`. Not for
        // another instance's service: what the manager says is about it.
        let (manager_unavailable, runtime) = if owned_by.is_some() {
            (None, RuntimeState::default())
        } else {
            match self.manager.runtime(self.spec, self.runner) {
                Ok(state) => (None, state),
                Err(reason) => (Some(reason), RuntimeState::default()),
            }
        };
        Ok(ServiceStatus {
            platform,
            service: self.name(),
            path,
            installed,
            manager_unavailable,
            runtime,
            file,
            file_error,
            drift,
            owned_by,
        })
    }
}

fn create_dir(path: &Path) -> Result<(), ServiceError> {
    std::fs::create_dir_all(path).map_err(|source| ServiceError::Io {
        action: "create the directory",
        path: path.to_path_buf(),
        source,
    })
}

fn remove_file(path: &Path) -> Result<(), ServiceError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ServiceError::Io {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes through `openclaw_state::atomic_write` (temp file in the same
/// directory, fsync, rename, fsync of the directory), so a reader sees the
/// old or the new file, never half of one, and the rename survives a crash.
pub(crate) fn write_atomic(file: &ServiceFile) -> Result<(), ServiceError> {
    openclaw_state::atomic_write(&file.path, &file.bytes(), 0o644).map_err(|source| {
        ServiceError::Io {
            action: "write",
            path: file.path.clone(),
            source,
        }
    })
}
