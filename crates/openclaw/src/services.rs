//! A resolved instance's service on this host's service manager
//! (`openclaw_host::services`), with the CLI's facts about the host and its
//! error format.

use std::path::PathBuf;

use openclaw_instance::Instance;
use openclaw_service::{HostContext, Platform, ServiceError};

pub use openclaw_host::services::{HostFacts, HostSource, InstanceService};

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};

impl HostSource for Ctx {
    /// The canonical path of this executable, HOME, the session's runtime
    /// dir (only to explain an unavailable systemd user session).
    fn host_context(&self, platform: Platform) -> Result<HostContext, openclaw_host::HostError> {
        let facts = host_facts(self)
            .map_err(|e| openclaw_host::HostError::new(e.what, e.location, e.cause))?;
        facts.host_context(platform)
    }
}

/// This host as the CLI sees it: this executable (canonical), HOME and
/// XDG_RUNTIME_DIR.
pub fn host_facts(ctx: &Ctx) -> CliResult<HostFacts> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| {
            CliError::new(
                "cannot find this executable's path",
                "current_exe",
                format!("{e}; the service must name the openclaw binary by absolute path"),
            )
        })?;
    Ok(HostFacts {
        user_home: ctx.env.home.clone(),
        exe,
        xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    })
}

/// Maps a service error to a user-facing error for `op` on `svc`.
pub fn service_error(_ctx: &Ctx, svc: &InstanceService, op: &str, e: ServiceError) -> CliError {
    openclaw_host::services::service_error(svc, op, e).into()
}

/// The service section of `status` and `profiles` (never fails: a problem
/// reading the service is reported inside the section).
pub fn service_section(ctx: &Ctx, instance: &Instance) -> serde_json::Value {
    openclaw_host::services::service_section(ctx, instance)
}

/// [`service_section`] for many instances at once (`profiles`: one or two
/// service-manager spawns in all).
pub fn service_sections(ctx: &Ctx, instances: &[&Instance]) -> Vec<serde_json::Value> {
    openclaw_host::services::service_sections(ctx, instances)
}
