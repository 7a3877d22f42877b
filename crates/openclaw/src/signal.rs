//! `gateway stop|restart` of a gateway that no service manager runs, and
//! the checks after a service operation: `openclaw_host::lifecycle` does
//! the work, this module prints its lines (progress on stderr, results on
//! stdout) and turns its failures into the CLI's errors and exit codes.

use openclaw_host::lifecycle::{ChildEnv, Sink};
use openclaw_ops::lifecycle::ServiceOp;

use crate::error::{CliError, CliResult, exit};
use crate::services::InstanceService;

pub use openclaw_host::lifecycle::START_WAIT;

/// Prints a lifecycle's lines as the CLI always has.
pub struct Print;

impl Sink for Print {
    fn progress(&mut self, line: &str) {
        eprintln!("{line}");
    }
    fn result(&mut self, line: &str) {
        println!("{line}");
    }
}

fn this_exe() -> CliResult<std::path::PathBuf> {
    std::env::current_exe().map_err(|e| {
        CliError::new(
            "cannot start the gateway again",
            "current_exe",
            format!("cannot find this executable: {e}"),
        )
    })
}

/// Stops the gateway that owns `svc`'s state dir when no service manager
/// runs it, and for `restart` starts it again detached with the flags it
/// had (in this shell's environment, minus other profiles' selectors).
pub fn stop_unmanaged(svc: &InstanceService, restart: bool) -> CliResult<u8> {
    let exe = this_exe()?;
    openclaw_host::lifecycle::stop_unmanaged(svc, restart, &exe, &ChildEnv::Inherit, &mut Print)?;
    Ok(exit::OK)
}

/// `op` through `svc`'s service manager, checked afterwards.
pub fn service_op(svc: &InstanceService, op: ServiceOp) -> CliResult<u8> {
    let exe = this_exe()?;
    openclaw_host::lifecycle::service_op(svc, op, &exe, &ChildEnv::Inherit, &mut Print)?;
    Ok(exit::OK)
}

/// Starts `openclaw gateway <args>` for `inst` detached (its own session,
/// output in its detached log; this shell's environment minus other
/// profiles' selectors) without waiting. Used by `onboard` where no service
/// manager can run the gateway. Returns the child and the log path.
pub fn spawn_detached(
    inst: &openclaw_instance::Instance,
    args: &[String],
) -> Result<(std::process::Child, std::path::PathBuf), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    openclaw_host::lifecycle::spawn_detached(inst, args, &exe, &ChildEnv::Inherit)
}
