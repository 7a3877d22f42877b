//! openclaw-host: the instances on this host and what can be done to them,
//! with the IO that takes. The CLI's commands and the rescue role
//! (`openclaw-rescue`, running inside a gateway) share this code, so a
//! `gateway restart` typed in a shell and a `/restart main` sent from a phone
//! act the same way on the same instance.
//!
//! - [`hosts`]: every instance on the host (host registry plus the
//!   `~/.openclaw*` dirs), each resolved from its own config only — never
//!   from the calling process's `OPENCLAW_*` variables.
//! - [`live`]: is an instance's gateway running (live owner record), and a
//!   loopback `/healthz` probe.
//! - [`services`]: an instance's service on this host's manager and its
//!   status section.
//! - [`lifecycle`]: stop / restart / start a gateway, through its service
//!   or by its checked owner record, and start a detached gateway with an
//!   environment built for that instance.
//! - [`doctor`]: the facts doctor's rules (`openclaw_ops::doctor`) are
//!   applied to, the checks, and the safe fixes.
//!
//! Decisions stay in `openclaw-ops` (pure, table-tested); this crate
//! gathers facts and acts. It never reads the process environment itself:
//! what it needs (home, executable, the variables a child may inherit) is
//! passed in ([`services::HostSource`], [`lifecycle::ChildEnv`]).

pub mod doctor;
pub mod hosts;
pub mod lifecycle;
pub mod live;
pub mod services;

use std::fmt;

/// A failure to report to a person: what failed, where, why, and the exact
/// command that helps. The CLI turns it into its `openclaw: <what>
/// (<where>): <cause>` + `hint:` error (exit 3 when `not_running`); the
/// rescue bot into a chat reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    pub what: String,
    pub location: String,
    pub cause: String,
    pub hint: Option<String>,
    /// The gateway this is about is not running (the CLI's exit 3).
    pub not_running: bool,
}

impl HostError {
    pub fn new(
        what: impl Into<String>,
        location: impl fmt::Display,
        cause: impl fmt::Display,
    ) -> Self {
        HostError {
            what: what.into(),
            location: location.to_string(),
            cause: cause.to_string(),
            hint: None,
            not_running: false,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn not_running(mut self) -> Self {
        self.not_running = true;
        self
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
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

impl std::error::Error for HostError {}
