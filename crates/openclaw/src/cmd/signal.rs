//! Stopping a gateway that no service manager runs: signal the process that
//! owns the instance's state dir, after checking its owner record (pid alive
//! and the same process start time) — never "whatever listens on the port".

// `terminate` is wired to the owner record once the gateway lands on main.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use crate::cmd::service::InstanceService;
use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};

/// How long a gateway gets to exit after SIGTERM before we give up (a hang
/// guard; a gateway normally exits at once).
pub const STOP_WAIT: Duration = Duration::from_secs(20);

/// Why [`terminate`] did not stop a process.
#[derive(Debug, PartialEq, Eq)]
pub enum TerminateError {
    /// The process is no longer the one we checked (exited, or pid reused).
    Gone,
    /// kill(2) failed.
    Signal(String),
    /// Still running after the wait.
    StillRunning,
}

/// Sends SIGTERM to `pid` if `is_same()` confirms it is still the process we
/// mean, then waits up to `limit` for `is_same()` to turn false.
pub fn terminate(
    pid: u32,
    is_same: impl Fn() -> bool,
    limit: Duration,
) -> Result<(), TerminateError> {
    if !is_same() {
        return Err(TerminateError::Gone);
    }
    let Ok(raw) = i32::try_from(pid) else {
        return Err(TerminateError::Signal(format!("pid {pid} is out of range")));
    };
    if raw <= 1 {
        return Err(TerminateError::Signal(format!(
            "refusing to signal pid {pid}"
        )));
    }
    #[cfg(unix)]
    {
        // SAFETY: kill(2) with a positive pid and a valid signal number.
        let rc = unsafe { libc::kill(raw, libc::SIGTERM) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ESRCH) {
                return Err(TerminateError::Gone);
            }
            return Err(TerminateError::Signal(e.to_string()));
        }
    }
    #[cfg(not(unix))]
    {
        return Err(TerminateError::Signal(
            "signalling a process is not supported on this platform".into(),
        ));
    }
    let deadline = Instant::now() + limit;
    while is_same() {
        if Instant::now() >= deadline {
            return Err(TerminateError::StillRunning);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::sync::Mutex;

    #[test]
    fn terminates_a_live_process_and_waits_for_it() {
        let child = Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let child = Mutex::new(child);
        // Our own child stays a zombie until reaped, so "same" = not reaped.
        let alive = || child.lock().unwrap().try_wait().unwrap().is_none();
        assert_eq!(terminate(pid, alive, Duration::from_secs(20)), Ok(()));
        let status = child.lock().unwrap().wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }

    #[test]
    fn does_not_signal_a_process_that_is_not_the_owner() {
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        // The owner check says "not the same process" (e.g. pid reused).
        assert_eq!(
            terminate(child.id(), || false, Duration::from_secs(1)),
            Err(TerminateError::Gone)
        );
        assert!(child.try_wait().unwrap().is_none(), "it was not signalled");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn refuses_pid_one() {
        assert!(matches!(
            terminate(1, || true, Duration::from_secs(1)),
            Err(TerminateError::Signal(_))
        ));
    }
}
