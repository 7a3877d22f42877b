//! What a gateway service runs: [`ServiceSpec`], built from an
//! [`Instance`] and the facts about the host in [`HostContext`].

use std::path::{Path, PathBuf};

use openclaw_instance::{Instance, ServiceNames, Source};
use serde::Serialize;

use crate::error::ServiceError;

/// The service manager family a spec is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// systemd user units (Linux).
    Systemd,
    /// launchd agents (macOS).
    Launchd,
    /// Task Scheduler (Windows).
    Windows,
}

impl Platform {
    /// The platform this binary was built for.
    pub fn current() -> Platform {
        if cfg!(target_os = "macos") {
            Platform::Launchd
        } else if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Systemd
        }
    }

    /// Name of the environment variable that carries the service name.
    pub fn name_var(self) -> &'static str {
        match self {
            Platform::Systemd => "OPENCLAW_SYSTEMD_UNIT",
            Platform::Launchd => "OPENCLAW_LAUNCHD_LABEL",
            Platform::Windows => "OPENCLAW_WINDOWS_TASK",
        }
    }

    /// The service's name on this platform.
    pub fn service_name(self, names: &ServiceNames) -> &str {
        match self {
            Platform::Systemd => &names.systemd_unit,
            Platform::Launchd => &names.launchd_label,
            Platform::Windows => &names.windows_task,
        }
    }
}

/// Facts about the host that a service needs and that do not come from the
/// instance. The caller gathers them (this crate reads no environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostContext {
    /// Absolute path of the `openclaw` executable the service runs.
    pub exe: PathBuf,
    /// The user's home directory (`HOME` of the service).
    pub home: PathBuf,
    /// `PATH` of the service. [`minimal_path`] gives a sensible default.
    pub path: String,
    /// `XDG_CONFIG_HOME`, only when the caller wants it honoured; otherwise
    /// units go to `~/.config/systemd/user`.
    pub xdg_config_home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR` of the calling session, used only to explain why a
    /// systemd user session is unavailable.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// Numeric user id, for launchd's `gui/<uid>` domain.
    pub uid: u32,
    /// Windows account (`DOMAIN\user`) the task runs as; `None` lets Task
    /// Scheduler use the account that registers the task.
    pub windows_user: Option<String>,
}

impl HostContext {
    /// A context with the minimal PATH for `platform` and the current uid.
    pub fn new(platform: Platform, exe: impl Into<PathBuf>, home: impl Into<PathBuf>) -> Self {
        let exe = exe.into();
        HostContext {
            path: minimal_path(platform, &exe),
            exe,
            home: home.into(),
            xdg_config_home: None,
            xdg_runtime_dir: None,
            uid: current_uid(),
            windows_user: None,
        }
    }

    /// The same context with another executable (PATH is left as it is).
    pub fn with_exe(mut self, exe: impl Into<PathBuf>) -> Self {
        self.exe = exe.into();
        self
    }
}

/// The numeric uid of this process (0 where there is no such thing).
pub fn current_uid() -> u32 {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// A PATH with the executable's directory and the system directories only,
/// so the service does not depend on the installing shell's PATH.
pub fn minimal_path(platform: Platform, exe: &Path) -> String {
    let (sep, system): (&str, &[&str]) = match platform {
        Platform::Systemd => (":", &["/usr/local/bin", "/usr/bin", "/bin"]),
        Platform::Launchd => (
            ":",
            &["/opt/homebrew/bin", "/usr/local/bin", "/usr/bin", "/bin"],
        ),
        Platform::Windows => (";", &[r"C:\Windows\System32", r"C:\Windows"]),
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(dir) = parent_dir(platform, exe) {
        parts.push(dir);
    }
    for s in system {
        if !parts.iter().any(|p| p == s) {
            parts.push((*s).to_string());
        }
    }
    parts.join(sep)
}

fn parent_dir(platform: Platform, exe: &Path) -> Option<String> {
    let s = exe.to_str()?;
    let cut = match platform {
        Platform::Windows => s.rfind(['\\', '/']),
        _ => s.rfind('/'),
    }?;
    let dir = &s[..cut];
    (!dir.is_empty()).then(|| dir.to_string())
}

/// True for `/x` and for Windows absolute forms `C:\x`, `C:/x`, `\\server\x`.
pub(crate) fn is_absolute_any(p: &Path) -> bool {
    if p.is_absolute() {
        return true;
    }
    let s = p.to_string_lossy();
    let b = s.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
        || s.starts_with(r"\\")
}

/// Joins path parts with the separator the base path already uses, so a
/// Windows path stays a Windows path even when rendered on another OS.
pub(crate) fn join_like(base: &Path, parts: &[&str]) -> PathBuf {
    let s = base.to_string_lossy();
    let windows = s.contains('\\') && !s.starts_with('/');
    if !windows {
        let mut p = base.to_path_buf();
        for part in parts {
            p.push(part);
        }
        return p;
    }
    let mut out = s.trim_end_matches('\\').to_string();
    for part in parts {
        out.push('\\');
        out.push_str(part);
    }
    PathBuf::from(out)
}

/// Everything a service definition says, for one instance on one host.
///
/// All values come from the [`Instance`] and [`HostContext`] given to
/// [`ServiceSpec::new`], never from the calling process's environment: a
/// shell that exports another profile's `OPENCLAW_*` variables cannot leak
/// them into the service (the instance crate already dropped them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `None` for the default profile.
    pub profile: Option<String>,
    /// Human label, e.g. `profile rescue`.
    pub label: String,
    /// The per-platform service names.
    pub names: ServiceNames,
    /// Absolute path of the executable.
    pub exe: PathBuf,
    /// Arguments after the executable: `gateway --port N`.
    pub args: Vec<String>,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    /// Set only when the instance's workspace came from
    /// `OPENCLAW_WORKSPACE_DIR`, so the service sees the same workspace.
    pub workspace_env: Option<PathBuf>,
    pub port: u16,
    pub home: PathBuf,
    pub path: String,
    /// Working directory of the service: the home directory, which always
    /// exists (the state dir may be removed while a unit still names it).
    pub working_dir: PathBuf,
    /// `<stateDir>/logs`, for launchd's stdout/stderr files.
    pub log_dir: PathBuf,
    /// The command that runs this instance in the foreground, for hints.
    pub foreground_command: String,
    /// Prefix that selects this instance on the CLI, for hints.
    pub cli_prefix: String,
    pub(crate) xdg_config_home: Option<PathBuf>,
    pub(crate) xdg_runtime_dir: Option<PathBuf>,
    pub(crate) uid: u32,
    pub(crate) windows_user: Option<String>,
}

impl ServiceSpec {
    /// Builds the spec of `instance`'s gateway service.
    ///
    /// Fails when the executable or home is not an absolute path.
    pub fn new(instance: &Instance, host: &HostContext) -> Result<ServiceSpec, ServiceError> {
        if !is_absolute_any(&host.exe) {
            return Err(ServiceError::NotAbsolute {
                what: "the openclaw executable",
                path: host.exe.clone(),
            });
        }
        if !is_absolute_any(&host.home) {
            return Err(ServiceError::NotAbsolute {
                what: "HOME",
                path: host.home.clone(),
            });
        }
        let port = instance.ports.gateway.value;
        let workspace_env = match &instance.workspace.source {
            Source::Env(_) => Some(instance.workspace.value.clone()),
            _ => None,
        };
        Ok(ServiceSpec {
            profile: instance.profile.clone(),
            label: instance.label(),
            names: instance.services.clone(),
            exe: host.exe.clone(),
            args: vec!["gateway".into(), "--port".into(), port.to_string()],
            state_dir: instance.state_dir.value.clone(),
            config_path: instance.config_path.value.clone(),
            workspace_env,
            port,
            home: host.home.clone(),
            path: host.path.clone(),
            working_dir: host.home.clone(),
            log_dir: join_like(&instance.state_dir.value, &["logs"]),
            foreground_command: instance.command("gateway"),
            cli_prefix: instance.cli_prefix(),
            xdg_config_home: host.xdg_config_home.clone(),
            xdg_runtime_dir: host.xdg_runtime_dir.clone(),
            uid: host.uid,
            windows_user: host.windows_user.clone(),
        })
    }

    /// The service's name on `platform`.
    pub fn name(&self, platform: Platform) -> &str {
        platform.service_name(&self.names)
    }

    /// The service environment for `platform`, in a fixed order.
    pub fn environment(&self, platform: Platform) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let mut push = |k: &str, v: String| env.push((k.to_string(), v));
        if let Some(p) = &self.profile {
            push("OPENCLAW_PROFILE", p.clone());
        }
        push("OPENCLAW_STATE_DIR", path_str(&self.state_dir));
        push("OPENCLAW_CONFIG_PATH", path_str(&self.config_path));
        push("OPENCLAW_GATEWAY_PORT", self.port.to_string());
        if let Some(w) = &self.workspace_env {
            push("OPENCLAW_WORKSPACE_DIR", path_str(w));
        }
        push(platform.name_var(), self.name(platform).to_string());
        push("OPENCLAW_SERVICE_MARKER", "openclaw".into());
        push("OPENCLAW_SERVICE_KIND", "gateway".into());
        push("PATH", self.path.clone());
        push("HOME", path_str(&self.home));
        env
    }

    /// The full command line: executable then arguments.
    pub fn argv(&self) -> Vec<String> {
        let mut v = vec![path_str(&self.exe)];
        v.extend(self.args.iter().cloned());
        v
    }

    /// Checks every value that goes into a service file: no line breaks and
    /// no other control characters (they would end a line or break XML).
    pub fn validate(&self, platform: Platform) -> Result<(), ServiceError> {
        check_value("executable", &path_str(&self.exe))?;
        for (i, a) in self.args.iter().enumerate() {
            check_value(&format!("argument {}", i + 1), a)?;
        }
        for (k, v) in self.environment(platform) {
            check_value(&k, &v)?;
        }
        check_value("WorkingDirectory", &path_str(&self.working_dir))?;
        check_value("log directory", &path_str(&self.log_dir))?;
        Ok(())
    }
}

pub(crate) fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Refuses CR, LF and other control characters (tab is allowed).
pub(crate) fn check_value(key: &str, value: &str) -> Result<(), ServiceError> {
    if value.contains(['\r', '\n']) {
        return Err(ServiceError::InvalidValue {
            key: key.to_string(),
            reason: "contains a line break (CR or LF), which would split the service file's line"
                .into(),
        });
    }
    if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(ServiceError::InvalidValue {
            key: key.to_string(),
            reason: format!("contains the control character U+{:04X}", c as u32),
        });
    }
    Ok(())
}
