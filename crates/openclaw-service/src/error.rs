//! Errors. Each message says what was wrong, where, and how to fix it.

use std::fmt;
use std::path::PathBuf;

use crate::manager::Operation;
use crate::runner::RunError;

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what} must be an absolute path, got {}: pass the full path", path.display())]
    NotAbsolute { what: &'static str, path: PathBuf },

    #[error(
        "refusing to write the service file: the value of {key} {reason}; change that value and retry"
    )]
    InvalidValue { key: String, reason: String },

    #[error(
        "refusing to overwrite {}: it already exists with different contents{detail}; rerun with --force to replace it, or `{uninstall}` first",
        path.display()
    )]
    Exists {
        path: PathBuf,
        /// Extra context, e.g. which state dir the existing file names.
        detail: String,
        uninstall: String,
    },

    #[error(
        "refusing to {} {service}: {} is not this instance's service, it belongs to another instance ({owner}, state dir {}){}",
        operation.word(),
        path.display(),
        owner_state_dir.display(),
        if *operation == Operation::Install { "; this instance's service would replace it, even with --force" } else { "; nothing was done to it" }
    )]
    OwnedByOther {
        /// What was refused.
        operation: Operation,
        service: String,
        path: PathBuf,
        /// `profile main` or `instance at <dir>`.
        owner: String,
        owner_state_dir: PathBuf,
    },

    #[error(transparent)]
    Unavailable(Box<Unavailable>),

    #[error(
        "{service} is not installed ({} does not exist): install it with `{install}`, or run the gateway in the foreground with `{foreground}`",
        path.display()
    )]
    NotInstalled {
        service: String,
        path: PathBuf,
        install: String,
        foreground: String,
    },

    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` failed{}: {}{hint}", status_text(*status), detail_text(stderr))]
    CommandFailed {
        command: String,
        status: Option<i32>,
        stderr: String,
        /// What has already been done and what to do now.
        hint: String,
    },

    #[error("could not run `{command}`: {source}")]
    Run {
        command: String,
        #[source]
        source: RunError,
    },

    #[error("could not read the installed service file {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
}

fn status_text(status: Option<i32>) -> String {
    match status {
        Some(c) => format!(" (exit status {c})"),
        None => " (killed by a signal)".into(),
    }
}

fn detail_text(stderr: &str) -> String {
    let t = stderr.trim();
    if t.is_empty() {
        "no error output".into()
    } else {
        t.to_string()
    }
}

/// The service manager cannot be used on this host (no systemd user session
/// in a container, for example). Carries everything a user needs to finish
/// by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// What was attempted.
    pub operation: Operation,
    /// e.g. `systemd user session`.
    pub manager: String,
    /// Why it is unusable, including the manager's own error output.
    pub reason: String,
    /// The service's definition file (unit, plist or task wrapper).
    pub path: PathBuf,
    /// Whether an install wrote the service file anyway.
    pub written: bool,
    /// The commands that finish the job once the manager is usable.
    pub manual_commands: Vec<String>,
    /// The command that runs the gateway in the foreground instead.
    pub foreground_command: String,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the service was NOT {}: the {} is not usable here: {}",
            self.operation.done(),
            self.manager,
            self.reason
        )?;
        match (self.operation, self.written) {
            (Operation::Install, true) => writeln!(
                f,
                "service file written (but not loaded): {}",
                self.path.display()
            )?,
            (Operation::Install, false) => {
                writeln!(f, "service file (not written): {}", self.path.display())?
            }
            _ => writeln!(f, "service file: {}", self.path.display())?,
        }
        writeln!(
            f,
            "once the {} is usable, run these commands:",
            self.manager
        )?;
        for c in &self.manual_commands {
            writeln!(f, "  {c}")?;
        }
        writeln!(f, "or run the gateway in the foreground instead:")?;
        write!(f, "  {}", self.foreground_command)
    }
}

impl std::error::Error for Unavailable {}
