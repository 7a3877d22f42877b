//! What `gateway start|stop|restart` does, decided from what the command
//! found: the instance's service (installed, manager usable), the state
//! dir's owner record (live or stale) and lock. The process to signal comes
//! only from a live owner record of this very state dir, never from the
//! port.

use std::path::{Path, PathBuf};

/// A service operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOp {
    Start,
    Stop,
    Restart,
}

impl ServiceOp {
    pub fn word(self) -> &'static str {
        match self {
            ServiceOp::Start => "start",
            ServiceOp::Stop => "stop",
            ServiceOp::Restart => "restart",
        }
    }
}

/// How the rescue role carries out `op` on another instance: through its
/// service when one is installed and its manager usable; otherwise stop
/// goes by the owner record and start by a detached gateway (unlike the
/// CLI's `gateway start`, which only starts an installed service, rescue
/// must bring a stopped instance up either way).
pub fn rescue_route(installed: bool, manager_available: bool) -> Route {
    if installed && manager_available {
        Route::Manager
    } else {
        Route::OwnerRecord
    }
}

/// Who carries out an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The service manager (systemd, launchd, Task Scheduler).
    Manager,
    /// The gateway runs outside a service manager: stop (and for restart
    /// start again) the process of the state dir's owner record.
    OwnerRecord,
}

/// `start` always goes to the service manager (which reports a missing or
/// unusable service); `stop` and `restart` go to the owner record unless
/// the service is installed and its manager usable.
pub fn route(op: ServiceOp, installed: bool, manager_available: bool) -> Route {
    if op != ServiceOp::Start && !(installed && manager_available) {
        Route::OwnerRecord
    } else {
        Route::Manager
    }
}

/// What the state dir says about its gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerState {
    /// A live owner record (pid alive, not a zombie, same start time).
    Live {
        pid: u32,
        port: u16,
        /// The record names this state dir (and not another one).
        same_state_dir: bool,
    },
    /// No live owner record.
    Absent {
        /// The state dir's lock is held (a gateway still starting).
        lock_held: bool,
        /// A stale record's pid and port, left by a crash.
        stale: Option<(u32, u16)>,
    },
}

/// What `stop` / `restart` of an unmanaged gateway does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopDecision {
    /// The lock is held but no owner record exists yet: signal nothing.
    StillStarting,
    /// Nothing runs; `stop` succeeds (exit 0) and says so.
    NothingToStop { stale_note: String },
    /// Nothing runs; `restart` fails (exit 3) with the start command.
    NothingToRestart { stale_note: String },
    /// The record names another state dir: refuse, signal nothing.
    ForeignOwner,
    /// SIGTERM this pid (and for restart start it again on `port`).
    Signal { pid: u32, port: u16 },
}

/// The stop/restart decision for an unmanaged gateway.
pub fn decide_stop(state: &OwnerState, restart: bool) -> StopDecision {
    match state {
        OwnerState::Absent {
            lock_held: true, ..
        } => StopDecision::StillStarting,
        OwnerState::Absent { stale, .. } => {
            let stale_note = stale_note(*stale);
            if restart {
                StopDecision::NothingToRestart { stale_note }
            } else {
                StopDecision::NothingToStop { stale_note }
            }
        }
        OwnerState::Live {
            same_state_dir: false,
            ..
        } => StopDecision::ForeignOwner,
        OwnerState::Live { pid, port, .. } => StopDecision::Signal {
            pid: *pid,
            port: *port,
        },
    }
}

/// The note about a stale owner record, or "" without one.
pub fn stale_note(stale: Option<(u32, u16)>) -> String {
    match stale {
        Some((pid, port)) => format!(
            " (a stale owner record names pid {pid}, port {port}, which is no longer running; it was ignored)"
        ),
        None => String::new(),
    }
}

/// Where a restart stands, from one look at the new child and the owner
/// record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartProgress {
    /// The new gateway exited: it did not start.
    Exited,
    /// Another process owns the state dir: the new one cannot.
    TakenBy { pid: u32 },
    /// The new gateway owns the state dir and answers `/healthz`.
    Up,
    /// Not yet: keep waiting (until the hang guard).
    Waiting,
}

/// `child_exited`: the spawned gateway has exited; `owner`: the live owner
/// record's pid, if any; `healthy`: its `/healthz` answered.
pub fn start_progress(
    child_exited: bool,
    new_pid: u32,
    owner: Option<u32>,
    healthy: bool,
) -> StartProgress {
    if child_exited {
        return StartProgress::Exited;
    }
    match owner {
        Some(pid) if pid != new_pid => StartProgress::TakenBy { pid },
        Some(_) if healthy => StartProgress::Up,
        _ => StartProgress::Waiting,
    }
}

/// The environment of a detached gateway: the instance pinned by its own
/// paths, and nothing another profile left in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedEnv {
    /// Inherited variables to remove.
    pub remove: Vec<String>,
    /// Variables to set.
    pub set: Vec<(String, PathBuf)>,
}

/// `inherited` are the names of the variables the CLI runs with. Every
/// `OPENCLAW_*` but `OPENCLAW_HOME` is removed; the profile, state dir and
/// config path are set; the workspace only when an env variable chose it.
pub fn detached_env<'a>(
    inherited: impl IntoIterator<Item = &'a str>,
    profile: Option<&str>,
    state_dir: &Path,
    config_path: &Path,
    workspace_from_env: Option<&Path>,
) -> DetachedEnv {
    let remove = inherited
        .into_iter()
        .filter(|k| k.starts_with("OPENCLAW_") && *k != "OPENCLAW_HOME")
        .map(str::to_string)
        .collect();
    let mut set = Vec::new();
    if let Some(p) = profile {
        set.push(("OPENCLAW_PROFILE".to_string(), PathBuf::from(p)));
    }
    set.push(("OPENCLAW_STATE_DIR".to_string(), state_dir.to_path_buf()));
    set.push((
        "OPENCLAW_CONFIG_PATH".to_string(),
        config_path.to_path_buf(),
    ));
    if let Some(w) = workspace_from_env {
        set.push(("OPENCLAW_WORKSPACE_DIR".to_string(), w.to_path_buf()));
    }
    DetachedEnv { remove, set }
}

/// Whether a variable of the starting process may reach a gateway started
/// for another instance: host basics only (home, search path, user,
/// locale, time zone, temp and runtime dirs). Nothing that selects an
/// instance (`OPENCLAW_*`) and no credentials (`TELEGRAM_BOT_TOKEN`, model
/// keys named by `apiKeyEnv`, ...): those belong to the process that
/// starts it, not to the instance it starts.
pub fn is_host_basic(name: &str) -> bool {
    const BASICS: [&str; 10] = [
        "HOME",
        "PATH",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "XDG_RUNTIME_DIR",
    ];
    BASICS.contains(&name) || name.starts_with("LC_")
}

/// The whole environment of a gateway started for another instance, built
/// from scratch: the host basics among `vars` (see [`is_host_basic`]),
/// then exactly that instance's selectors, and `OPENCLAW_HOME` when its
/// home root is not `HOME`. An instance on its profile's default paths
/// (`~/.openclaw-<p>`, `<stateDir>/openclaw.json`; or the default profile's
/// `~/.openclaw`) gets only `OPENCLAW_PROFILE` (nothing for the default
/// profile): it then resolves exactly as `openclaw --profile <p>` does, its
/// paths from the profile rather than pinned by the environment (so its
/// hints and status read as the CLI's); any other gets the profile, state
/// dir and config path as [`detached_env`] sets them.
pub fn scratch_env(
    vars: &[(String, String)],
    home_root: &Path,
    profile: Option<&str>,
    state_dir: &Path,
    config_path: &Path,
    workspace_from_env: Option<&Path>,
) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = vars
        .iter()
        .filter(|(k, _)| is_host_basic(k))
        .map(|(k, v)| (k.clone(), PathBuf::from(v)))
        .collect();
    let home = out
        .iter()
        .find(|(k, _)| k == "HOME")
        .map(|(_, v)| v.clone());
    if home.as_deref() != Some(home_root) {
        out.push(("OPENCLAW_HOME".into(), home_root.to_path_buf()));
    }
    let default_dir = match profile {
        Some(p) => home_root.join(format!(".openclaw-{p}")),
        None => home_root.join(".openclaw"),
    };
    if state_dir == default_dir && config_path == state_dir.join("openclaw.json") {
        if let Some(p) = profile {
            out.push(("OPENCLAW_PROFILE".into(), PathBuf::from(p)));
        }
        if let Some(w) = workspace_from_env {
            out.push(("OPENCLAW_WORKSPACE_DIR".into(), w.to_path_buf()));
        }
        return out;
    }
    out.extend(
        detached_env(
            std::iter::empty(),
            profile,
            state_dir,
            config_path,
            workspace_from_env,
        )
        .set,
    );
    out
}

/// The systemd *user* service this process runs in, from the text of
/// `/proc/self/cgroup` (cgroup v2 `0::/user.slice/user-1000.slice/
/// user@1000.service/app.slice/openclaw-gateway-rescue.service`; v1 lines
/// `N:name=systemd:/...`); `None` outside one (a login session's scope, a
/// system service, no systemd). A gateway started from inside a service
/// is in that service's cgroup and dies when the service stops or
/// restarts, unless it is moved out (see [`scope_wrapper`]).
pub fn user_service_of_cgroup(cgroup: &str) -> Option<&str> {
    let path = cgroup.lines().find_map(|l| {
        l.strip_prefix("0::")
            .or_else(|| l.split_once(":name=systemd:").map(|(_, p)| p))
    })?;
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    // The user manager's own unit, then what it runs.
    parts.find(|p| p.starts_with("user@") && p.ends_with(".service"))?;
    parts.rfind(|p| p.ends_with(".service"))
}

/// The `systemd-run` arguments (before the gateway's own command line)
/// that start a detached gateway in a transient scope unit of the user's
/// systemd instead of the starting process's cgroup, so that it survives
/// the starting service's stop or restart (the rescue gateway restarting
/// while the gateway it started runs on). `--scope` execs the command in
/// place: the spawned pid is the gateway's, its environment and output are
/// the ones given to `systemd-run`. `unit_base` is the instance's service
/// name without `.service`; `stamp` makes the scope's name unique.
pub fn scope_wrapper(unit_base: &str, label: &str, stamp: u128) -> Vec<String> {
    vec![
        "--user".into(),
        "--scope".into(),
        "--quiet".into(),
        format!("--unit={unit_base}-{stamp}.scope"),
        format!("--description=OpenClaw gateway of {label} (started by another gateway)"),
        "--".into(),
    ]
}

/// The log file a detached gateway's stdout and stderr go to.
pub fn detached_log(state_dir: &Path) -> PathBuf {
    state_dir.join("logs").join("gateway-detached.log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        use Route::*;
        use ServiceOp::*;
        for (op, installed, available, want) in [
            (Start, false, false, Manager),
            (Start, true, false, Manager),
            (Start, true, true, Manager),
            (Stop, false, false, OwnerRecord),
            (Stop, false, true, OwnerRecord),
            (Stop, true, false, OwnerRecord),
            (Stop, true, true, Manager),
            (Restart, false, true, OwnerRecord),
            (Restart, true, false, OwnerRecord),
            (Restart, true, true, Manager),
        ] {
            assert_eq!(
                route(op, installed, available),
                want,
                "{op:?} {installed} {available}"
            );
        }
    }

    #[test]
    fn rescue_brings_an_instance_up_without_a_service_too() {
        assert_eq!(rescue_route(true, true), Route::Manager);
        assert_eq!(rescue_route(true, false), Route::OwnerRecord);
        assert_eq!(rescue_route(false, true), Route::OwnerRecord);
        assert_eq!(rescue_route(false, false), Route::OwnerRecord);
    }

    #[test]
    fn the_user_service_a_process_runs_in_table() {
        for (cgroup, want) in [
            (
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/openclaw-gateway-rescue.service\n",
                Some("openclaw-gateway-rescue.service"),
            ),
            (
                "0::/user.slice/user-1000.slice/user@1000.service/openclaw-gateway.service",
                Some("openclaw-gateway.service"),
            ),
            // A login shell, a scope the user started, a system service.
            ("0::/user.slice/user-1000.slice/session-3.scope", None),
            (
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope",
                None,
            ),
            ("0::/system.slice/openclaw.service", None),
            ("0::/", None),
            ("", None),
            // cgroup v1
            (
                "12:pids:/x\n1:name=systemd:/user.slice/user-1000.slice/user@1000.service/openclaw-gateway-rescue.service\n",
                Some("openclaw-gateway-rescue.service"),
            ),
        ] {
            assert_eq!(user_service_of_cgroup(cgroup), want, "{cgroup}");
        }
    }

    #[test]
    fn the_scope_wrapper_command_line() {
        assert_eq!(
            scope_wrapper("openclaw-gateway-main", "profile main", 1234),
            [
                "--user",
                "--scope",
                "--quiet",
                "--unit=openclaw-gateway-main-1234.scope",
                "--description=OpenClaw gateway of profile main (started by another gateway)",
                "--",
            ]
        );
    }

    #[test]
    fn scratch_env_keeps_host_basics_and_sets_only_the_target() {
        let vars: Vec<(String, String)> = [
            ("HOME", "/h"),
            ("PATH", "/usr/bin"),
            ("LC_ALL", "C.UTF-8"),
            // main's service environment, exported into the rescue gateway
            ("OPENCLAW_PROFILE", "main"),
            ("OPENCLAW_STATE_DIR", "/h/.openclaw-main"),
            ("OPENCLAW_CONFIG_PATH", "/h/.openclaw-main/openclaw.json"),
            ("OPENCLAW_GATEWAY_PORT", "18789"),
            ("OPENCLAW_HOME", "/elsewhere"),
            ("TELEGRAM_BOT_TOKEN", "123:rescue"),
            ("OPENAI_API_KEY", "sk-rescue"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = scratch_env(
            &vars,
            Path::new("/h"),
            Some("work"),
            Path::new("/h/.openclaw-work"),
            Path::new("/h/.openclaw-work/openclaw.json"),
            None,
        );
        let shown: Vec<(&str, &str)> = env
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            shown,
            [
                ("HOME", "/h"),
                ("PATH", "/usr/bin"),
                ("LC_ALL", "C.UTF-8"),
                ("OPENCLAW_PROFILE", "work"),
            ]
        );
        // Off its profile's default paths: pinned by them.
        let env = scratch_env(
            &vars,
            Path::new("/h"),
            Some("work"),
            Path::new("/srv/work"),
            Path::new("/srv/work/openclaw.json"),
            None,
        );
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "HOME",
                "PATH",
                "LC_ALL",
                "OPENCLAW_PROFILE",
                "OPENCLAW_STATE_DIR",
                "OPENCLAW_CONFIG_PATH"
            ]
        );
        let env = scratch_env(
            &vars,
            Path::new("/h"),
            Some("work"),
            Path::new("/h/.openclaw-work"),
            Path::new("/h/work.json"),
            None,
        );
        assert!(
            env.iter().any(|(k, _)| k == "OPENCLAW_CONFIG_PATH"),
            "{env:?}"
        );
        // The default profile on ~/.openclaw: no selector at all.
        let env = scratch_env(
            &vars,
            Path::new("/h"),
            None,
            Path::new("/h/.openclaw"),
            Path::new("/h/.openclaw/openclaw.json"),
            None,
        );
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["HOME", "PATH", "LC_ALL"]);
        // A home root other than HOME is passed on explicitly.
        let env = scratch_env(
            &vars,
            Path::new("/oc"),
            None,
            Path::new("/s"),
            Path::new("/s/c.json"),
            Some(Path::new("/w")),
        );
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "HOME",
                "PATH",
                "LC_ALL",
                "OPENCLAW_HOME",
                "OPENCLAW_STATE_DIR",
                "OPENCLAW_CONFIG_PATH",
                "OPENCLAW_WORKSPACE_DIR"
            ]
        );
    }

    #[test]
    fn stop_decision_table() {
        let live = |same| OwnerState::Live {
            pid: 4242,
            port: 18789,
            same_state_dir: same,
        };
        let absent = |lock_held, stale| OwnerState::Absent { lock_held, stale };
        let note = " (a stale owner record names pid 77, port 18900, which is no longer running; it was ignored)";
        for (state, restart, want) in [
            (
                live(true),
                false,
                StopDecision::Signal {
                    pid: 4242,
                    port: 18789,
                },
            ),
            (
                live(true),
                true,
                StopDecision::Signal {
                    pid: 4242,
                    port: 18789,
                },
            ),
            (live(false), false, StopDecision::ForeignOwner),
            (live(false), true, StopDecision::ForeignOwner),
            (absent(true, None), false, StopDecision::StillStarting),
            (
                absent(true, Some((77, 18900))),
                true,
                StopDecision::StillStarting,
            ),
            (
                absent(false, None),
                false,
                StopDecision::NothingToStop {
                    stale_note: String::new(),
                },
            ),
            (
                absent(false, Some((77, 18900))),
                false,
                StopDecision::NothingToStop {
                    stale_note: note.into(),
                },
            ),
            (
                absent(false, Some((77, 18900))),
                true,
                StopDecision::NothingToRestart {
                    stale_note: note.into(),
                },
            ),
        ] {
            assert_eq!(
                decide_stop(&state, restart),
                want,
                "{state:?} restart={restart}"
            );
        }
    }

    #[test]
    fn start_progress_table() {
        use StartProgress::*;
        for (exited, owner, healthy, want) in [
            (true, Some(10), true, Exited),
            (true, None, false, Exited),
            (false, None, false, Waiting),
            (false, Some(10), false, Waiting),
            (false, Some(10), true, Up),
            (false, Some(11), true, TakenBy { pid: 11 }),
            (false, Some(11), false, TakenBy { pid: 11 }),
        ] {
            assert_eq!(start_progress(exited, 10, owner, healthy), want);
        }
    }

    #[test]
    fn detached_env_pins_the_instance() {
        let env = detached_env(
            [
                "PATH",
                "OPENCLAW_HOME",
                "OPENCLAW_STATE_DIR",
                "OPENCLAW_GATEWAY_PORT",
                "OPENCLAW_PROFILE",
            ],
            Some("rescue"),
            Path::new("/h/.openclaw-rescue"),
            Path::new("/h/.openclaw-rescue/openclaw.json"),
            None,
        );
        assert_eq!(
            env.remove,
            [
                "OPENCLAW_STATE_DIR",
                "OPENCLAW_GATEWAY_PORT",
                "OPENCLAW_PROFILE"
            ]
        );
        let keys: Vec<&str> = env.set.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "OPENCLAW_PROFILE",
                "OPENCLAW_STATE_DIR",
                "OPENCLAW_CONFIG_PATH"
            ]
        );
        let ws = detached_env(
            [],
            None,
            Path::new("/s"),
            Path::new("/s/c.json"),
            Some(Path::new("/w")),
        );
        assert_eq!(
            ws.set,
            [
                ("OPENCLAW_STATE_DIR".to_string(), PathBuf::from("/s")),
                (
                    "OPENCLAW_CONFIG_PATH".to_string(),
                    PathBuf::from("/s/c.json")
                ),
                ("OPENCLAW_WORKSPACE_DIR".to_string(), PathBuf::from("/w")),
            ]
        );
    }
}
