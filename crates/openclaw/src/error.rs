//! User-facing errors and exit codes.
//!
//! Every failure that reaches the user prints
//! `openclaw: <what> (<where>): <cause>` and, when there is something to do
//! about it, `hint: <exact command>` carrying the active profile.

use std::fmt;
use std::process::ExitCode;

/// Exit codes. Documented in the README; keep the two in step.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A command failed (IO error, invalid config, refused operation, ...).
    pub const FAILURE: u8 = 1;
    /// Bad usage: unknown flag, invalid profile name, invalid value.
    pub const USAGE: u8 = 2;
    /// The gateway this command is about is not running / not reachable.
    pub const NOT_RUNNING: u8 = 3;
    /// A gateway answered, but it is not the instance this command resolved.
    pub const WRONG_INSTANCE: u8 = 4;
    /// A port the gateway needs is in use (sysexits EX_UNAVAILABLE).
    pub const PORT_IN_USE: u8 = 69;
    const _: () = assert!(PORT_IN_USE as i32 == openclaw_gateway::EXIT_PORT_IN_USE);
    /// Another gateway owns this state dir (sysexits EX_CONFIG, as upstream;
    /// the systemd unit's RestartPreventExitStatus=78 stops restart loops).
    pub const STATE_DIR_OWNED: u8 = 78;
    const _: () = assert!(STATE_DIR_OWNED as i32 == openclaw_gateway::EXIT_STATE_DIR_OWNED);
}

/// An error to show the user and the exit code to leave with.
#[derive(Debug)]
pub struct CliError {
    /// What failed, e.g. "cannot read config".
    pub what: String,
    /// Where: a path, a port, a URL. May be empty.
    pub location: String,
    /// Why.
    pub cause: String,
    /// The exact command that helps, if any.
    pub hint: Option<String>,
    pub code: u8,
}

impl CliError {
    pub fn new(
        what: impl Into<String>,
        location: impl fmt::Display,
        cause: impl fmt::Display,
    ) -> Self {
        CliError {
            what: what.into(),
            location: location.to_string(),
            cause: cause.to_string(),
            hint: None,
            code: exit::FAILURE,
        }
    }

    pub fn usage(what: impl Into<String>, cause: impl fmt::Display) -> Self {
        CliError::new(what, "", cause).code(exit::USAGE)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// Prints the error to stderr and returns its exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("{self}");
        ExitCode::from(self.code)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "openclaw: {}", self.what)?;
        if !self.location.is_empty() {
            write!(f, " ({})", self.location)?;
        }
        write!(f, ": {}", self.cause)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

impl From<openclaw_host::HostError> for CliError {
    fn from(e: openclaw_host::HostError) -> Self {
        let code = if e.not_running {
            exit::NOT_RUNNING
        } else {
            exit::FAILURE
        };
        CliError {
            what: e.what,
            location: e.location,
            cause: e.cause,
            hint: e.hint,
            code,
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_has_what_where_cause_and_hint() {
        let e = CliError::new(
            "cannot read config",
            "/h/.openclaw-x/openclaw.json",
            "permission denied",
        )
        .hint("openclaw --profile x doctor");
        assert_eq!(
            e.to_string(),
            "openclaw: cannot read config (/h/.openclaw-x/openclaw.json): permission denied\nhint: openclaw --profile x doctor"
        );
        let e = CliError::usage("invalid profile", "bad name");
        assert_eq!(e.to_string(), "openclaw: invalid profile: bad name");
        assert_eq!(e.code, exit::USAGE);
    }
}
