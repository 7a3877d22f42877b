//! Stopping and starting an instance's gateway: through its service when a
//! manager runs it, otherwise by signalling the process that owns its state
//! dir, after checking its owner record (pid alive and the same process
//! start time) — never "whatever listens on the port" — and by starting a
//! detached gateway. Shared by `gateway start|stop|restart` (the CLI) and
//! the rescue role; what to do in each case is decided by
//! `openclaw_ops::lifecycle`, this module does the IO.
//!
//! Progress and results are written to a [`Sink`] (the CLI prints them; the
//! rescue bot puts them in its reply); failures are [`HostError`]s.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openclaw_instance::Instance;
use openclaw_service::{Platform, ProcessRunner, Service};
use openclaw_state::owner::StateLock;

use openclaw_ops::lifecycle::{
    OwnerState, ServiceOp, StartProgress, StopDecision, decide_stop, detached_env, scratch_env,
    start_progress,
};

use crate::HostError;
use crate::live;
use crate::services::{InstanceService, service_error};

/// How long a gateway gets to exit after SIGTERM before we give up (a hang
/// guard; a gateway normally exits at once).
pub const STOP_WAIT: Duration = Duration::from_secs(20);

/// How long a started gateway gets to write its owner record and answer
/// `/healthz` (a hang guard; it is normally up in well under a second).
pub const START_WAIT: Duration = Duration::from_secs(20);

/// Where an operation's lines go: `progress` for what is being done (the
/// CLI's stderr), `result` for what was done (its stdout).
pub trait Sink {
    fn progress(&mut self, line: &str);
    fn result(&mut self, line: &str);
}

/// A [`Sink`] that keeps every line, in order (the rescue bot's reply).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lines(pub Vec<String>);

impl Sink for Lines {
    fn progress(&mut self, line: &str) {
        self.0.push(line.to_string());
    }
    fn result(&mut self, line: &str) {
        self.0.push(line.to_string());
    }
}

/// The environment a detached gateway gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildEnv {
    /// The starting process's environment minus every `OPENCLAW_*` but
    /// `OPENCLAW_HOME`, plus the instance's selectors: `gateway restart`
    /// typed in a shell (the user's own environment).
    Inherit,
    /// Built from scratch for the instance: only these host basics (see
    /// `openclaw_ops::lifecycle::is_host_basic`), plus its selectors. What a
    /// gateway acting on *another* instance (the rescue role) uses: nothing
    /// of its own environment, which may even be another instance's service
    /// environment, reaches the gateway it starts.
    Scratch(Vec<(String, String)>),
}

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

/// Stops the gateway that owns `svc`'s state dir when no service manager
/// runs it, and for `restart` starts it again detached (as `exe`, with
/// `env`) with the flags it was started with.
///
/// The process to signal comes only from the state dir's owner record, and
/// only while that record is live (pid alive, not a zombie, same process
/// start time); nothing is ever chosen by the port it listens on.
pub fn stop_unmanaged(
    svc: &InstanceService,
    restart: bool,
    exe: &Path,
    env: &ChildEnv,
    out: &mut dyn Sink,
) -> Result<(), HostError> {
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
            return Err(HostError::new(
                format!("cannot {} the gateway", if restart { "restart" } else { "stop" }),
                state_dir.display(),
                "its state dir is locked by a gateway that has not written its owner record yet (still starting); nothing was signalled",
            )
            .hint(inst.command("gateway status")));
        }
        (StopDecision::NothingToRestart { stale_note }, _) => {
            return Err(HostError::new(
                "nothing to restart",
                state_dir.display(),
                format!("no gateway runs for {label} and no service manager runs it{stale_note}"),
            )
            .hint(start_cmd)
            .not_running());
        }
        (StopDecision::NothingToStop { stale_note }, _) => {
            out.result(&format!(
                "nothing to stop: no gateway runs for {label} (state dir {}){stale_note}",
                state_dir.display()
            ));
            out.result(&format!("start it with: {start_cmd}"));
            return Ok(());
        }
        (_, owner) => {
            let named = owner
                .map(|o| o.state_dir.display().to_string())
                .unwrap_or_default();
            return Err(HostError::new(
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
            return Err(HostError::new(
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
    out.progress(&format!(
        "stopping the gateway of {label}: pid {pid}, port {port} (from its owner record, started {})",
        owner.started_at
    ));
    match terminate(pid, same, STOP_WAIT) {
        Ok(()) | Err(TerminateError::Gone) => {}
        Err(TerminateError::Signal(e)) => {
            return Err(
                HostError::new(format!("cannot signal pid {pid}"), state_dir.display(), e)
                    .hint(format!("kill {pid}")),
            );
        }
        Err(TerminateError::StillRunning) => {
            return Err(HostError::new(
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
        return Err(HostError::new(
            "the state dir is still locked",
            state_dir.display(),
            format!("pid {pid} exited, but another process holds the state dir's lock"),
        )
        .hint(inst.command("gateway status")));
    }
    out.result(&format!(
        "stopped the gateway of {label} (pid {pid}, port {port}); its state dir lock is free"
    ));
    if !restart {
        return Ok(());
    }
    start_detached(inst, &restart_args, Some(pid), exe, env, out)
}

/// Carries out `op` through `svc`'s service manager (the service is
/// installed and its manager usable), then checks the result: after
/// start/restart the gateway must own its state dir and answer `/healthz`;
/// after stop, a gateway of this instance that the service did not run is
/// stopped through its owner record as well.
pub fn service_op(
    svc: &InstanceService,
    op: ServiceOp,
    exe: &Path,
    env: &ChildEnv,
    out: &mut dyn Sink,
) -> Result<(), HostError> {
    let runner = ProcessRunner::default();
    let service = Service::new(svc.manager.as_ref(), &svc.spec, &runner);
    let word = op.word();
    let result = match op {
        ServiceOp::Start => service.start(),
        ServiceOp::Stop => service.stop(),
        ServiceOp::Restart => service.restart(),
    };
    let plan = result.map_err(|e| service_error(svc, word, e))?;
    let shown = plan.to_string();
    for l in shown.lines() {
        out.result(l);
    }
    out.result(&format!("{} {}", plan.operation.done(), svc.name()));
    let state_dir = svc.instance.state_dir.value.clone();
    if op == ServiceOp::Stop {
        // A gateway of this instance that the service did not run (started
        // in a shell) still owns the state dir: stop it through its owner
        // record as well.
        if wait_owner_gone(&state_dir, STOP_WAIT) {
            return Ok(());
        }
        out.progress(&format!(
            "a gateway of this instance that {} does not run still owns {}",
            svc.name(),
            state_dir.display()
        ));
        return stop_unmanaged(svc, false, exe, env, out);
    }
    // Start / restart: report success only once the gateway is up.
    match wait_up(&state_dir, START_WAIT) {
        Ok((o, h)) => {
            let main_pid = svc.status().ok().and_then(|st| st.runtime.main_pid);
            if let Some(mp) = main_pid.filter(|mp| *mp != o.pid) {
                return Err(HostError::new(
                    format!("the service {} cannot own its state dir", svc.name()),
                    state_dir.display(),
                    format!(
                        "a gateway the service does not run (pid {}, port {}) owns it; the service's process is pid {mp}",
                        o.pid, o.port
                    ),
                )
                .hint(svc.instance.command("gateway stop")));
            }
            out.result(&format!(
                "the gateway is up: pid {}, port {}, healthy ({})",
                o.pid, o.port, h.detail
            ));
            Ok(())
        }
        Err(why) => Err(HostError::new(
            format!(
                "{} reports the service {}, but the gateway is not up",
                svc.manager.manager_name(),
                plan.operation.done()
            ),
            state_dir.display(),
            why,
        )
        .hint(match svc.manager.platform() {
            Platform::Systemd => format!("journalctl --user -u {} -n 50", svc.name()),
            _ => svc.instance.command("gateway status"),
        })),
    }
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
pub fn lock_is_held(state_dir: &Path) -> bool {
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

/// The executable, arguments and complete environment changes of a
/// detached gateway for `inst` (what [`start_detached`] runs), without
/// running it.
pub fn detached_command(
    inst: &Instance,
    args: &[String],
    exe: &Path,
    env: &ChildEnv,
) -> (Command, Vec<(String, PathBuf)>) {
    detached_command_via(inst, args, exe, env, None)
}

/// [`detached_command`], run through `systemd-run <wrapper> exe ...` when
/// `wrapper` is given (see [`scope_for`]).
fn detached_command_via(
    inst: &Instance,
    args: &[String],
    exe: &Path,
    env: &ChildEnv,
    wrapper: Option<&[String]>,
) -> (Command, Vec<(String, PathBuf)>) {
    let mut cmd = match wrapper {
        Some(w) => {
            let mut c = Command::new("systemd-run");
            c.args(w).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg("gateway").args(args);
    let workspace_from_env = matches!(inst.workspace.source, openclaw_instance::Source::Env(_))
        .then_some(inst.workspace.value.as_path());
    let set = match env {
        ChildEnv::Inherit => {
            // Pin the instance: its own paths, nothing another profile left
            // in the environment.
            let inherited: Vec<String> = std::env::vars_os()
                .filter_map(|(k, _)| k.to_str().map(str::to_string))
                .collect();
            let env = detached_env(
                inherited.iter().map(String::as_str),
                inst.profile.as_deref(),
                &inst.state_dir.value,
                &inst.config_path.value,
                workspace_from_env,
            );
            for k in &env.remove {
                cmd.env_remove(k);
            }
            env.set
        }
        ChildEnv::Scratch(basics) => {
            cmd.env_clear();
            scratch_env(
                basics,
                &inst.home,
                inst.profile.as_deref(),
                &inst.state_dir.value,
                &inst.config_path.value,
                workspace_from_env,
            )
        }
    };
    for (k, v) in &set {
        cmd.env(k, v);
    }
    (cmd, set)
}

/// Spawns `openclaw gateway <args>` for `inst` (as `exe`, environment per
/// `env`) in its own session (setsid), stdin closed, output appended to the
/// instance's detached log; does not wait. Returns the child and the log
/// path. [`start_detached`] waits for it to come up; `onboard` spawns the
/// gateway where no service manager can run it.
pub fn spawn_detached(
    inst: &Instance,
    args: &[String],
    exe: &Path,
    env: &ChildEnv,
) -> Result<(std::process::Child, PathBuf), String> {
    spawn_detached_via(inst, args, exe, env, scope_for(inst, env).as_deref())
}

/// The `systemd-run` arguments that start a detached gateway in a
/// transient scope of the user's systemd (`openclaw_ops::lifecycle::
/// scope_wrapper`), when this process runs inside a systemd user service
/// (its cgroup, `/proc/self/cgroup`) and the user manager is reachable
/// from the child's environment (`$XDG_RUNTIME_DIR/systemd/private` or
/// `/bus`) with `systemd-run` on its PATH. There a plain detached child
/// would stay in the service's cgroup and be killed when that service
/// stops or restarts (the rescue gateway restarting while the main
/// gateway it started runs on). `None` anywhere else: a shell's child
/// already outlives the shell.
pub fn scope_for(inst: &Instance, env: &ChildEnv) -> Option<Vec<String>> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    openclaw_ops::lifecycle::user_service_of_cgroup(&cgroup)?;
    let var = |name: &str| -> Option<String> {
        match env {
            ChildEnv::Scratch(basics) => basics
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
            ChildEnv::Inherit => std::env::var(name).ok(),
        }
    };
    let runtime = PathBuf::from(var("XDG_RUNTIME_DIR")?);
    if !runtime.join("systemd/private").exists() && !runtime.join("bus").exists() {
        return None;
    }
    std::env::split_paths(&var("PATH")?).find(|d| d.join("systemd-run").is_file())?;
    let base = inst.services.systemd_unit.trim_end_matches(".service");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Some(openclaw_ops::lifecycle::scope_wrapper(
        base,
        &inst.label(),
        stamp,
    ))
}

fn spawn_detached_via(
    inst: &Instance,
    args: &[String],
    exe: &Path,
    env: &ChildEnv,
    wrapper: Option<&[String]>,
) -> Result<(std::process::Child, PathBuf), String> {
    let state_dir = &inst.state_dir.value;
    let log = detached_log(state_dir);
    let (stdout, stderr) = openclaw_state::logs::open_detached_log(state_dir)
        .and_then(|f| Ok((f.try_clone()?, f)))
        .map_err(|e| format!("cannot open the log file {}: {e}", log.display()))?;
    let (mut cmd, _) = detached_command_via(inst, args, exe, env, wrapper);
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
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

/// Starts `openclaw gateway <args>` for `inst` (as `exe`, environment per
/// `env`) in its own session, output appended to the instance's log dir,
/// then waits until a live owner record of that process exists and
/// `/healthz` answers. `old_pid` is the gateway a restart stopped.
pub fn start_detached(
    inst: &Instance,
    args: &[String],
    old_pid: Option<u32>,
    exe: &Path,
    env: &ChildEnv,
    out: &mut dyn Sink,
) -> Result<(), HostError> {
    let state_dir = inst.state_dir.value.clone();
    let label = inst.label();
    let shown: Vec<String> = args
        .iter()
        .map(|a| openclaw_instance::shell_quote(a))
        .collect();
    let start_cmd = inst.command(format!("gateway {}", shown.join(" ")).trim_end());
    let (was, not_started, did_not_start, not_up) = match old_pid {
        Some(p) => (
            format!(" was stopped (pid {p})"),
            "stopped, but cannot start the gateway again",
            " but did not start again",
            " but is not up again",
        ),
        None => (
            String::new(),
            "cannot start the gateway",
            " did not start",
            " is not up",
        ),
    };
    let failed = |what: String, cause: String| {
        HostError::new(what, state_dir.display(), cause).hint(start_cmd.clone())
    };
    let scope = scope_for(inst, env);
    let (mut child, log) = spawn_detached_via(inst, args, exe, env, scope.as_deref())
        .map_err(|e| failed(not_started.into(), e))?;
    let new_pid = child.id();
    let unit = scope
        .as_ref()
        .and_then(|w| w.iter().find_map(|a| a.strip_prefix("--unit=")))
        .map(|u| format!(" in its own systemd scope {u} (so it outlives this service)"))
        .unwrap_or_default();
    out.progress(&format!(
        "starting it{}: pid {new_pid}{unit}, `{start_cmd}`; output goes to {}",
        if old_pid.is_some() { " again" } else { "" },
        log.display()
    ));
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
                    format!("the gateway of {label}{was}{did_not_start}"),
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
                reap_later(child);
                out.result(&match old_pid {
                    Some(p) => format!(
                        "restarted the gateway of {label}: pid {p} -> {new_pid}, port {}, healthy ({}); output in {}",
                        o.port,
                        h.detail,
                        log.display()
                    ),
                    None => format!(
                        "started the gateway of {label}: pid {new_pid}, port {}, healthy ({}); output in {}",
                        o.port,
                        h.detail,
                        log.display()
                    ),
                });
                return Ok(());
            }
            StartProgress::TakenBy { pid } => {
                reap_later(child);
                return Err(failed(
                    format!("the gateway of {label}{was}{did_not_start}"),
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
            reap_later(child);
            return Err(failed(
                format!("the gateway of {label}{was}{not_up}"),
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

/// Waits for a detached gateway on a thread of its own, so that a
/// long-lived starter (a rescue gateway) does not keep it as a zombie once
/// it exits. A short-lived CLI simply exits first.
fn reap_later(mut child: std::process::Child) {
    let _ = std::thread::Builder::new()
        .name("reap-detached".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = child.wait();
        });
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

    fn instance(home: &Path, profile: &str) -> Instance {
        let flags = openclaw_instance::GlobalFlags {
            profile: Some(profile.into()),
            dev: false,
        };
        let paths =
            openclaw_instance::resolve_paths(&flags, &openclaw_instance::Env::new(home)).unwrap();
        openclaw_instance::resolve(&paths, &Default::default(), Some(20000)).unwrap()
    }

    /// A detached gateway started for another instance gets nothing of the
    /// starter's environment (this test process has cargo's `CARGO_*`, PATH
    /// and more) but the host basics it was given and its own selectors.
    #[test]
    fn a_scratch_child_sees_only_its_own_selectors() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let inst = instance(home.path(), "work");
        let script = home.path().join("fake-openclaw");
        let dump = home.path().join("env.txt");
        std::fs::write(&script, format!("#!/bin/sh\nenv > '{}'\n", dump.display())).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let basics = vec![("HOME".to_string(), home.path().display().to_string())];
        let (mut cmd, _) = detached_command(&inst, &[], &script, &ChildEnv::Scratch(basics));
        assert!(cmd.status().unwrap().success());
        let text = std::fs::read_to_string(&dump).unwrap();
        let mut keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split('=').next())
            // what the shell itself adds
            .filter(|k| !matches!(*k, "PWD" | "OLDPWD" | "SHLVL" | "_"))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            // A profile on its default paths: the profile alone selects it.
            ["HOME", "OPENCLAW_PROFILE"],
            "{text}"
        );
        assert!(text.contains("OPENCLAW_PROFILE=work\n"), "{text}");
    }

    /// Inside a systemd user service, a detached gateway is started as
    /// `systemd-run --user --scope ... <exe> gateway <args>` with the same
    /// environment (a stand-in `systemd-run` on the child's PATH records
    /// what it was given; the live scope needs a user bus, which CI lacks).
    #[test]
    fn a_scoped_child_runs_through_systemd_run_with_its_own_environment() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let inst = instance(home.path(), "main");
        let bin = home.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let dump = home.path().join("run.txt");
        let fake = bin.join("systemd-run");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\n{{ for a in \"$@\"; do echo \"arg $a\"; done; /usr/bin/env; }} > '{}'\n",
                dump.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let basics = vec![
            ("HOME".to_string(), home.path().display().to_string()),
            ("PATH".to_string(), bin.display().to_string()),
        ];
        let wrapper =
            openclaw_ops::lifecycle::scope_wrapper("openclaw-gateway-main", &inst.label(), 7);
        let exe = Path::new("/opt/openclaw/bin/openclaw");
        let args = vec!["--verbose".to_string()];
        let (mut cmd, _) = detached_command_via(
            &inst,
            &args,
            exe,
            &ChildEnv::Scratch(basics),
            Some(&wrapper),
        );
        assert!(cmd.status().unwrap().success());
        let text = std::fs::read_to_string(&dump).unwrap();
        let got: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("arg "))
            .collect();
        assert_eq!(
            got,
            [
                "--user",
                "--scope",
                "--quiet",
                "--unit=openclaw-gateway-main-7.scope",
                "--description=OpenClaw gateway of profile main (started by another gateway)",
                "--",
                "/opt/openclaw/bin/openclaw",
                "gateway",
                "--verbose",
            ],
            "{text}"
        );
        assert!(text.contains("\nOPENCLAW_PROFILE=main\n"), "{text}");
        assert!(!text.contains("CARGO"), "{text}");
    }
}
