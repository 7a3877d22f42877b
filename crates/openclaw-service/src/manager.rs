//! The [`ServiceManager`] trait and the types every manager shares.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::ServiceError;
use crate::runner::CommandRunner;
use crate::spec::{Platform, ServiceSpec};

/// A service operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Install,
    Uninstall,
    Start,
    Stop,
    Restart,
}

impl Operation {
    /// The verb: "install", "stop".
    pub fn word(self) -> &'static str {
        match self {
            Operation::Install => "install",
            Operation::Uninstall => "uninstall",
            Operation::Start => "start",
            Operation::Stop => "stop",
            Operation::Restart => "restart",
        }
    }

    /// Past participle for messages: "installed", "stopped".
    pub fn done(self) -> &'static str {
        match self {
            Operation::Install => "installed",
            Operation::Uninstall => "uninstalled",
            Operation::Start => "started",
            Operation::Stop => "stopped",
            Operation::Restart => "restarted",
        }
    }
}

/// How a file's text is encoded on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileEncoding {
    Utf8,
    /// UTF-16 little endian with a byte-order mark, which `schtasks /XML`
    /// reads reliably.
    Utf16LeBom,
}

/// A file a service consists of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceFile {
    pub path: PathBuf,
    pub contents: String,
    pub encoding: FileEncoding,
}

impl ServiceFile {
    pub fn utf8(path: PathBuf, contents: String) -> Self {
        ServiceFile {
            path,
            contents,
            encoding: FileEncoding::Utf8,
        }
    }

    /// The bytes written to disk.
    pub fn bytes(&self) -> Vec<u8> {
        match self.encoding {
            FileEncoding::Utf8 => self.contents.as_bytes().to_vec(),
            FileEncoding::Utf16LeBom => {
                let mut out = vec![0xFF, 0xFE];
                for u in self.contents.encode_utf16() {
                    out.extend_from_slice(&u.to_le_bytes());
                }
                out
            }
        }
    }
}

/// Decodes file bytes written by [`ServiceFile::bytes`] (or by hand).
pub(crate) fn decode_text(bytes: &[u8]) -> Option<String> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        if rest.len() % 2 != 0 {
            return None;
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16(&units).ok();
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8(bytes.to_vec()).ok()
}

/// A command in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedCommand {
    pub argv: Vec<String>,
    /// A failure is expected in some states and is not an error (for
    /// example `launchctl bootout` of an agent that is not loaded).
    pub may_fail: bool,
}

impl PlannedCommand {
    pub fn new<S: AsRef<str>>(argv: &[S]) -> Self {
        PlannedCommand {
            argv: argv.iter().map(|s| s.as_ref().to_string()).collect(),
            may_fail: false,
        }
    }

    pub fn may_fail(mut self) -> Self {
        self.may_fail = true;
        self
    }

    /// The command as a user would type it.
    pub fn display(&self, platform: Platform) -> String {
        self.argv
            .iter()
            .map(|a| quote_for(platform, a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn quote_for(platform: Platform, s: &str) -> String {
    match platform {
        Platform::Windows => {
            if !s.is_empty() && !s.contains([' ', '\t', '"', '&', '|', '<', '>', '^', '(', ')']) {
                s.to_string()
            } else {
                format!("\"{}\"", s.replace('"', "\\\""))
            }
        }
        _ => openclaw_instance::shell_quote(s),
    }
}

/// One step of a plan, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Create a directory (and its parents).
    CreateDir { path: PathBuf },
    /// Write a file atomically.
    Write { file: ServiceFile },
    /// Remove a file.
    Remove { path: PathBuf },
    /// Run a command.
    Run { command: PlannedCommand },
}

/// What the manager says about a service at run time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeState {
    /// Enabled (systemd), loaded (launchd) or registered and enabled
    /// (Task Scheduler). `None` when unknown.
    pub enabled: Option<bool>,
    /// Running now. `None` when unknown.
    pub active: Option<bool>,
    /// The manager's own state words, e.g. `active (running)`.
    pub state: Option<String>,
    /// Main process id, when the manager reports one.
    pub main_pid: Option<u32>,
    /// The exit code the gateway last exited with, when the manager knows
    /// it (systemd `ExecMainStatus` of an exited process, launchd `last
    /// exit code`, Task Scheduler `Last Result`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i32>,
    /// How often the manager restarted it (systemd `NRestarts`, launchd
    /// `runs` - 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<u32>,
}

/// A service file parsed back from disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledService {
    pub path: PathBuf,
    /// The environment the file gives the gateway.
    pub env: BTreeMap<String, String>,
    /// The command line: executable, then arguments.
    pub exec: Vec<String>,
}

/// A service manager: where its files go, what they say, and which
/// commands operate it. Implementations are pure apart from
/// [`ServiceManager::check_available`] and [`ServiceManager::query`], which
/// run read-only commands through the given runner.
pub trait ServiceManager {
    fn platform(&self) -> Platform;

    /// Human name used in messages, e.g. `systemd user session`.
    fn manager_name(&self) -> &'static str;

    /// The file that holds the service's command and environment.
    fn definition_path(&self, spec: &ServiceSpec) -> PathBuf;

    /// Every file of the service; the definition file comes first.
    fn render(&self, spec: &ServiceSpec) -> Result<Vec<ServiceFile>, ServiceError>;

    /// Directories to create before writing, besides the files' parents.
    fn extra_dirs(&self, _spec: &ServiceSpec) -> Vec<PathBuf> {
        Vec::new()
    }

    /// `Ok` when the manager can be used now, else the reason it cannot.
    fn check_available(&self, spec: &ServiceSpec, runner: &dyn CommandRunner)
    -> Result<(), String>;

    /// The commands of `op`. For `Install`, `replacing` says an existing
    /// different definition is being replaced.
    fn commands(&self, spec: &ServiceSpec, op: Operation, replacing: bool) -> Vec<PlannedCommand>;

    /// The run-time state of the spec's service (and only that service).
    fn query(&self, spec: &ServiceSpec, runner: &dyn CommandRunner) -> RuntimeState;

    /// The run-time state of an installed service, or why the manager cannot
    /// tell (as [`ServiceManager::check_available`] words it). Managers that
    /// can answer both in one command override this: `status` is on the
    /// path of every `openclaw status`, and each spawn costs milliseconds.
    fn runtime(
        &self,
        spec: &ServiceSpec,
        runner: &dyn CommandRunner,
    ) -> Result<RuntimeState, String> {
        self.check_available(spec, runner)?;
        Ok(self.query(spec, runner))
    }

    /// Answers for many services in one command: pairs of (the argv that
    /// [`ServiceManager::runtime`] runs for one spec, its output), to seed a
    /// [`crate::MemoRunner`] so that reporting on many instances spawns the
    /// manager once instead of once or twice per instance. A pair is given
    /// only where it is exactly what the per-service command would have
    /// answered. Default: none (each service is asked on its own).
    fn prefetch(
        &self,
        _specs: &[&ServiceSpec],
        _runner: &dyn CommandRunner,
    ) -> Vec<(Vec<String>, crate::CommandOutput)> {
        Vec::new()
    }

    /// Parses the definition file's bytes.
    fn parse(&self, path: PathBuf, bytes: &[u8]) -> Result<InstalledService, String>;
}

/// The manager for `platform`.
pub fn manager_for(platform: Platform) -> Box<dyn ServiceManager> {
    match platform {
        Platform::Systemd => Box::new(crate::systemd::Systemd),
        Platform::Launchd => Box::new(crate::launchd::Launchd),
        Platform::Windows => Box::new(crate::windows::Schtasks),
    }
}
