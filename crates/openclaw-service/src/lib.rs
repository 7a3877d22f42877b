//! Per-profile gateway services: systemd user units, launchd agents and
//! Windows scheduled tasks.
//!
//! A [`ServiceSpec`] is built from one resolved
//! [`openclaw_instance::Instance`] and a [`HostContext`] (executable path,
//! HOME, PATH, uid), and from nothing else: the calling process's
//! environment is never consulted, so installing profile B from a shell
//! that carries profile A's `OPENCLAW_*` variables writes only B's paths and
//! port.
//!
//! The renderers ([`systemd::render_unit`], [`launchd::render_plist`],
//! [`windows::render_wrapper`], [`windows::render_task`]) are pure. A
//! [`ServiceManager`] knows where its files go and which commands operate
//! it; [`Service`] runs the operations through a [`CommandRunner`]
//! ([`ProcessRunner`] for real, [`RecordingRunner`] in tests).
//!
//! When the service manager is unusable (no systemd user session in a
//! container, say), `install` still writes the service file, then fails with
//! [`ServiceError::Unavailable`], which names the file, the reason, the
//! exact commands that finish the job by hand, and the foreground command.
//! Nothing is reported as done that was not done.

mod error;
pub mod launchd;
mod manager;
mod ops;
mod runner;
mod spec;
pub mod systemd;
pub mod windows;
mod xml;

pub use error::{ServiceError, Unavailable};
pub use manager::{
    FileEncoding, InstalledService, Operation, PlannedCommand, RuntimeState, ServiceFile,
    ServiceManager, Step, manager_for,
};
pub use ops::{
    Drift, ForeignService, InstallOptions, Ownership, Plan, Service, ServiceStatus, drift,
    ownership, read_installed,
};
pub use runner::{
    CommandOutput, CommandRunner, MemoRunner, ProcessRunner, RecordingRunner, RunError,
};
pub use spec::{HostContext, Platform, ServiceSpec, current_uid, minimal_path};
