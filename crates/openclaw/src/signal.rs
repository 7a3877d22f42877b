//! Stopping a gateway that no service manager runs: signal the process that
//! owns the instance's state dir, after checking its owner record (pid alive
//! and the same process start time) — never "whatever listens on the port".
//! A helper of `gateway stop|restart` (cmd/service.rs); what to do in each
//! case is decided by `openclaw_ops::lifecycle`, this module does the IO.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openclaw_instance::Instance;
use openclaw_state::owner::StateLock;

use openclaw_ops::lifecycle::{
    OwnerState, StartProgress, StopDecision, decide_stop, detached_env, start_progress,
};

use crate::error::{CliError, CliResult, exit};
use crate::live;
use crate::services::InstanceService;

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

/// How long a restarted gateway gets to write its owner record and answer
/// `/healthz` (a hang guard; it is normally up in well under a second).
pub const START_WAIT: Duration = Duration::from_secs(20);

/// Stops the gateway that owns `svc`'s state dir when no service manager
/// runs it, and for `restart` starts it again detached on the port it had.
///
/// The process to signal comes only from the state dir's owner record, and
/// only while that record is live (pid alive, not a zombie, same process
/// start time); nothing is ever chosen by the port it listens on.
pub fn stop_unmanaged(svc: &InstanceService, restart: bool) -> CliResult<u8> {
    let inst = &svc.instance;
    let state_dir = inst.state_dir.value.clone();
    let label = inst.label();
    let start_cmd = inst.command("gateway");

    let owner = openclaw_state::owner::live_owner(&state_dir);
    let state = match &owner {
        Some(o) => OwnerState::Live {
            pid: o.pid,
            port: o.port,
            same_state_dir: crate::hosts::same_path(&o.state_dir, &state_dir),
        },
        // No live owner record: either nothing runs, a stale record was left
        // by a crash, or a gateway is still starting (lock held, no record).
        None => OwnerState::Absent {
            lock_held: state_dir.is_dir() && lock_is_held(&state_dir),
            stale: openclaw_state::owner::read_owner(&state_dir).map(|o| (o.pid, o.port)),
        },
    };
    let owner = match (decide_stop(&state, restart), owner) {
        (StopDecision::Signal { .. }, Some(owner)) => owner,
        (StopDecision::StillStarting, _) => {
            return Err(CliError::new(
                format!("cannot {} the gateway", if restart { "restart" } else { "stop" }),
                state_dir.display(),
                "its state dir is locked by a gateway that has not written its owner record yet (still starting); nothing was signalled",
            )
            .hint(inst.command("gateway status"))
            .code(exit::FAILURE));
        }
        (StopDecision::NothingToRestart { stale_note }, _) => {
            return Err(CliError::new(
                "nothing to restart",
                state_dir.display(),
                format!("no gateway runs for {label} and no service manager runs it{stale_note}"),
            )
            .hint(start_cmd)
            .code(exit::NOT_RUNNING));
        }
        (StopDecision::NothingToStop { stale_note }, _) => {
            println!(
                "nothing to stop: no gateway runs for {label} (state dir {}){stale_note}",
                state_dir.display()
            );
            println!("start it with: {start_cmd}");
            return Ok(exit::OK);
        }
        (_, owner) => {
            let named = owner
                .map(|o| o.state_dir.display().to_string())
                .unwrap_or_default();
            return Err(CliError::new(
                "refusing to signal the owner",
                state_dir.join(openclaw_state::owner::OWNER_FILE).display(),
                format!(
                    "the owner record names another state dir ({named}); nothing was signalled"
                ),
            ));
        }
    };

    let pid = owner.pid;
    let port = owner.port;
    let restart_args = match &owner.start_flags {
        Some(f) if restart && f.token_literal => {
            return Err(CliError::new(
                "refusing to restart the gateway",
                state_dir.display(),
                format!(
                    "pid {pid} was started with a literal --token, which is not recorded (it is a secret), so a restart would come back without it; nothing was signalled"
                ),
            )
            .hint(format!(
                "{}  then start it with the token in a file: {}",
                inst.command("gateway stop"),
                inst.command("gateway --token-file <path>")
            )));
        }
        Some(f) => f.args(),
        // An older gateway's record: only its port is known.
        None => vec!["--port".to_string(), port.to_string()],
    };
    let same = || owner.is_live();
    eprintln!(
        "stopping the gateway of {label}: pid {pid}, port {port} (from its owner record, started {})",
        owner.started_at
    );
    match terminate(pid, same, STOP_WAIT) {
        Ok(()) | Err(TerminateError::Gone) => {}
        Err(TerminateError::Signal(e)) => {
            return Err(
                CliError::new(format!("cannot signal pid {pid}"), state_dir.display(), e)
                    .hint(format!("kill {pid}")),
            );
        }
        Err(TerminateError::StillRunning) => {
            return Err(CliError::new(
                format!("pid {pid} did not exit"),
                state_dir.display(),
                format!(
                    "it was sent SIGTERM and is still running after {} s",
                    STOP_WAIT.as_secs()
                ),
            )
            .hint(format!("kill -9 {pid}")));
        }
    }
    // The process is gone: its lock must be free now.
    if !wait_lock_free(&state_dir, Duration::from_secs(5)) {
        return Err(CliError::new(
            "the state dir is still locked",
            state_dir.display(),
            format!("pid {pid} exited, but another process holds the state dir's lock"),
        )
        .hint(inst.command("gateway status")));
    }
    println!("stopped the gateway of {label} (pid {pid}, port {port}); its state dir lock is free");
    if !restart {
        return Ok(exit::OK);
    }
    start_detached(inst, &restart_args, pid)
}

/// Waits (bounded) until no live owner record holds `state_dir`.
pub fn wait_owner_gone(state_dir: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if openclaw_state::owner::live_owner(state_dir).is_none() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) until a live owner record holds `state_dir` and
/// `/healthz` answers on its port; else says what was last seen.
pub fn wait_up(
    state_dir: &Path,
    limit: Duration,
) -> Result<(openclaw_state::owner::OwnerRecord, live::Health), String> {
    let deadline = Instant::now() + limit;
    let mut last = "no live owner record in the state dir".to_string();
    loop {
        if let Some(o) = openclaw_state::owner::live_owner(state_dir) {
            let h = live::probe_health(o.port, Duration::from_millis(800));
            if h.ok {
                return Ok((o, h));
            }
            last = format!(
                "pid {} owns the state dir, /healthz on port {}: {}",
                o.pid, o.port, h.detail
            );
        }
        if Instant::now() >= deadline {
            return Err(format!("after {} s: {last}", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether another process holds `state_dir`'s gateway lock. Takes the lock
/// for an instant when it is free (and writes nothing).
fn lock_is_held(state_dir: &Path) -> bool {
    matches!(
        StateLock::acquire(state_dir),
        Err(openclaw_state::owner::LockError::Held { .. })
    )
}

fn wait_lock_free(state_dir: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !lock_is_held(state_dir) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub use openclaw_ops::lifecycle::detached_log;

/// Starts `openclaw gateway <args>` (the flags the stopped gateway was
/// started with) for `inst` in its own session, output appended to the
/// instance's log dir, then waits until a live owner record of that process
/// exists and `/healthz` answers.
fn start_detached(inst: &Instance, args: &[String], old_pid: u32) -> CliResult<u8> {
    let state_dir = inst.state_dir.value.clone();
    let label = inst.label();
    let shown: Vec<String> = args
        .iter()
        .map(|a| openclaw_instance::shell_quote(a))
        .collect();
    let start_cmd = inst.command(format!("gateway {}", shown.join(" ")).trim_end());
    let failed = |what: String, cause: String| {
        CliError::new(what, state_dir.display(), cause).hint(start_cmd.clone())
    };
    let (mut child, log) = spawn_detached(inst, args)
        .map_err(|e| failed("stopped, but cannot start the gateway again".into(), e))?;
    let new_pid = child.id();
    eprintln!(
        "starting it again: pid {new_pid}, `{start_cmd}`; output goes to {}",
        log.display()
    );
    let deadline = Instant::now() + START_WAIT;
    let mut last = String::from("no owner record yet");
    loop {
        let exited = child.try_wait().ok().flatten();
        let owner = openclaw_state::owner::live_owner(&state_dir);
        let health = owner
            .as_ref()
            .filter(|o| o.pid == new_pid)
            .map(|o| live::probe_health(o.port, Duration::from_millis(800)));
        let healthy = health.as_ref().is_some_and(|h| h.ok);
        match start_progress(
            exited.is_some(),
            new_pid,
            owner.as_ref().map(|o| o.pid),
            healthy,
        ) {
            StartProgress::Exited => {
                let st = exited.map(|s| s.to_string()).unwrap_or_default();
                return Err(failed(
                    format!(
                        "the gateway of {label} was stopped (pid {old_pid}) but did not start again"
                    ),
                    format!(
                        "the new gateway (pid {new_pid}) exited with {st}; its output is in {}",
                        log.display()
                    ),
                ));
            }
            StartProgress::Up => {
                let (o, h) = (
                    owner.expect("up has an owner"),
                    health.expect("up was probed"),
                );
                println!(
                    "restarted the gateway of {label}: pid {old_pid} -> {new_pid}, port {}, healthy ({}); output in {}",
                    o.port,
                    h.detail,
                    log.display()
                );
                return Ok(exit::OK);
            }
            StartProgress::TakenBy { pid } => {
                return Err(failed(
                    format!(
                        "the gateway of {label} was stopped (pid {old_pid}) but did not start again"
                    ),
                    format!(
                        "another process (pid {pid}) took the state dir first; the new gateway (pid {new_pid}) could not own it, see {}",
                        log.display()
                    ),
                ));
            }
            StartProgress::Waiting => {
                if let Some(h) = &health {
                    last = format!("owner record written, /healthz: {}", h.detail);
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(failed(
                format!("the gateway of {label} was stopped (pid {old_pid}) but is not up again"),
                format!(
                    "pid {new_pid} is running but not ready after {} s ({last}); its output is in {}",
                    START_WAIT.as_secs(),
                    log.display()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `openclaw gateway <args>` for `inst` in its own session (setsid),
/// stdin closed, output appended to the instance's detached log, the
/// instance pinned by its own paths in the environment. Used by `gateway
/// restart` without a service and by `onboard` where no service manager can
/// run the gateway. Returns the child and the log path.
pub fn spawn_detached(
    inst: &Instance,
    args: &[String],
) -> Result<(std::process::Child, std::path::PathBuf), String> {
    let state_dir = inst.state_dir.value.clone();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let log = detached_log(&state_dir);
    let open_log = || openclaw_state::logs::open_detached_log(&state_dir);
    let (out, err) = match open_log().and_then(|f| Ok((f.try_clone()?, f))) {
        Ok(x) => x,
        Err(e) => {
            return Err(format!("cannot open the log file {}: {e}", log.display()));
        }
    };
    let mut cmd = Command::new(&exe);
    cmd.arg("gateway")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // Pin the instance: its own paths, nothing another profile left in the
    // environment.
    let inherited: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.to_str().map(str::to_string))
        .collect();
    let env = detached_env(
        inherited.iter().map(String::as_str),
        inst.profile.as_deref(),
        &state_dir,
        &inst.config_path.value,
        matches!(inst.workspace.source, openclaw_instance::Source::Env(_))
            .then_some(inst.workspace.value.as_path()),
    );
    for k in &env.remove {
        cmd.env_remove(k);
    }
    for (k, v) in &env.set {
        cmd.env(k, v);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid(2) is async-signal-safe; it only detaches the child
        // from our session and controlling terminal.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    Ok((child, log))
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
