//! launchd agents (macOS).
//!
//! The plist is written as XML with every string XML-escaped; it is read
//! back with the `plist` crate, so a file converted to binary by `plutil`
//! still parses. `KeepAlive` restarts the gateway whenever it exits and
//! `ThrottleInterval` spaces restarts 5 s apart (launchd has no equivalent of
//! systemd's `RestartPreventExitStatus`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::ServiceError;
use crate::manager::{
    InstalledService, Operation, PlannedCommand, RuntimeState, ServiceFile, ServiceManager,
};
use crate::runner::{CommandRunner, RunError};
use crate::spec::{Platform, ServiceSpec, join_like, path_str};
use crate::xml::escape;

/// The launchd agent manager.
#[derive(Debug, Clone, Copy, Default)]
pub struct Launchd;

/// `~/Library/LaunchAgents/<label>.plist`.
pub fn plist_path(spec: &ServiceSpec) -> PathBuf {
    spec.home
        .join("Library")
        .join("LaunchAgents")
        .join(format!("{}.plist", spec.names.launchd_label))
}

/// stdout and stderr files under `<stateDir>/logs/`.
pub fn log_paths(spec: &ServiceSpec) -> (PathBuf, PathBuf) {
    (
        join_like(&spec.log_dir, &["gateway.log"]),
        join_like(&spec.log_dir, &["gateway.err.log"]),
    )
}

fn string(indent: &str, s: &str) -> String {
    format!("{indent}<string>{}</string>\n", escape(s))
}

fn key(indent: &str, s: &str) -> String {
    format!("{indent}<key>{}</key>\n", escape(s))
}

/// Renders the plist text. Pure.
pub fn render_plist(spec: &ServiceSpec) -> Result<String, ServiceError> {
    spec.validate(Platform::Launchd)?;
    let (out_log, err_log) = log_paths(spec);
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    out.push_str("<!-- OpenClaw gateway agent, written by openclaw gateway install. -->\n");
    out.push_str("<plist version=\"1.0\">\n<dict>\n");
    out.push_str(&key("  ", "Label"));
    out.push_str(&string("  ", &spec.names.launchd_label));
    out.push_str(&key("  ", "ProgramArguments"));
    out.push_str("  <array>\n");
    for a in spec.argv() {
        out.push_str(&string("    ", &a));
    }
    out.push_str("  </array>\n");
    out.push_str(&key("  ", "EnvironmentVariables"));
    out.push_str("  <dict>\n");
    for (k, v) in spec.environment(Platform::Launchd) {
        out.push_str(&key("    ", &k));
        out.push_str(&string("    ", &v));
    }
    out.push_str("  </dict>\n");
    out.push_str(&key("  ", "WorkingDirectory"));
    out.push_str(&string("  ", &path_str(&spec.working_dir)));
    out.push_str(&key("  ", "RunAtLoad"));
    out.push_str("  <true/>\n");
    out.push_str(&key("  ", "KeepAlive"));
    out.push_str("  <true/>\n");
    out.push_str(&key("  ", "ThrottleInterval"));
    out.push_str("  <integer>5</integer>\n");
    out.push_str(&key("  ", "ProcessType"));
    out.push_str(&string("  ", "Background"));
    out.push_str(&key("  ", "StandardOutPath"));
    out.push_str(&string("  ", &path_str(&out_log)));
    out.push_str(&key("  ", "StandardErrorPath"));
    out.push_str(&string("  ", &path_str(&err_log)));
    out.push_str("</dict>\n</plist>\n");
    Ok(out)
}

/// Parses a plist's `ProgramArguments` and `EnvironmentVariables`.
pub fn parse_plist(path: PathBuf, bytes: &[u8]) -> Result<InstalledService, String> {
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| format!("it is not a valid property list: {e}"))?;
    let dict = value
        .as_dictionary()
        .ok_or("its top level is not a dictionary")?;
    let exec: Vec<String> = match dict.get("ProgramArguments") {
        Some(v) => v
            .as_array()
            .ok_or("ProgramArguments is not an array")?
            .iter()
            .map(|a| {
                a.as_string()
                    .map(str::to_string)
                    .ok_or("ProgramArguments holds a non-string")
            })
            .collect::<Result<_, _>>()?,
        None => match dict.get("Program").and_then(|p| p.as_string()) {
            Some(p) => vec![p.to_string()],
            None => return Err("it has neither ProgramArguments nor Program".into()),
        },
    };
    let mut env = BTreeMap::new();
    if let Some(v) = dict.get("EnvironmentVariables") {
        let d = v
            .as_dictionary()
            .ok_or("EnvironmentVariables is not a dictionary")?;
        for (k, v) in d {
            if let Some(s) = v.as_string() {
                env.insert(k.clone(), s.to_string());
            }
        }
    }
    Ok(InstalledService { path, env, exec })
}

fn launchctl(args: &[&str]) -> PlannedCommand {
    let mut argv = vec!["launchctl"];
    argv.extend_from_slice(args);
    PlannedCommand::new(&argv)
}

fn domain(spec: &ServiceSpec) -> String {
    format!("gui/{}", spec.uid)
}

fn target(spec: &ServiceSpec) -> String {
    format!("gui/{}/{}", spec.uid, spec.names.launchd_label)
}

impl ServiceManager for Launchd {
    fn platform(&self) -> Platform {
        Platform::Launchd
    }

    fn manager_name(&self) -> &'static str {
        "launchd GUI session"
    }

    fn definition_path(&self, spec: &ServiceSpec) -> PathBuf {
        plist_path(spec)
    }

    fn render(&self, spec: &ServiceSpec) -> Result<Vec<ServiceFile>, ServiceError> {
        Ok(vec![ServiceFile::utf8(
            plist_path(spec),
            render_plist(spec)?,
        )])
    }

    /// launchd does not create the log directory; it must exist.
    fn extra_dirs(&self, spec: &ServiceSpec) -> Vec<PathBuf> {
        vec![spec.log_dir.clone()]
    }

    fn check_available(
        &self,
        spec: &ServiceSpec,
        runner: &dyn CommandRunner,
    ) -> Result<(), String> {
        let d = domain(spec);
        let argv = vec!["launchctl".to_string(), "print".to_string(), d.clone()];
        match runner.run(&argv) {
            Ok(out) if out.success() => Ok(()),
            Ok(out) => Err(format!(
                "`launchctl print {d}` failed: {} (no GUI login session for uid {}; log in on the desktop, or run the gateway in the foreground)",
                out.stderr.trim(),
                spec.uid
            )),
            Err(RunError::NotFound { .. }) => {
                Err("launchctl was not found on PATH: this host is not macOS".into())
            }
            Err(e) => Err(format!("`launchctl print {d}` could not run: {e}")),
        }
    }

    fn commands(&self, spec: &ServiceSpec, op: Operation, _replacing: bool) -> Vec<PlannedCommand> {
        let d = domain(spec);
        let t = target(spec);
        let plist = path_str(&plist_path(spec));
        match op {
            // bootstrap refuses an agent that is already loaded, so unload
            // first (which fails harmlessly when it is not loaded).
            Operation::Install => vec![
                launchctl(&["bootout", &t]).may_fail(),
                launchctl(&["enable", &t]),
                launchctl(&["bootstrap", &d, &plist]),
            ],
            Operation::Uninstall => vec![launchctl(&["bootout", &t]).may_fail()],
            // After `stop` (bootout) the agent is unloaded: load it again,
            // which fails harmlessly when it is still loaded, then start it.
            Operation::Start => vec![
                launchctl(&["bootstrap", &d, &plist]).may_fail(),
                launchctl(&["kickstart", &t]),
            ],
            // KeepAlive would restart a killed agent; unloading stops it.
            Operation::Stop => vec![launchctl(&["bootout", &t])],
            Operation::Restart => vec![launchctl(&["kickstart", "-k", &t])],
        }
    }

    fn query(&self, spec: &ServiceSpec, runner: &dyn CommandRunner) -> RuntimeState {
        let t = target(spec);
        let argv = vec!["launchctl".to_string(), "print".to_string(), t];
        let mut state = RuntimeState::default();
        match runner.run(&argv) {
            Ok(out) if out.success() => {
                state.enabled = Some(true);
                for line in out.stdout.lines() {
                    let line = line.trim();
                    if let Some(v) = line.strip_prefix("state = ") {
                        state.active = Some(v.trim() == "running");
                        state.state = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("pid = ") {
                        state.main_pid = v.trim().parse().ok();
                    }
                }
                if state.active.is_none() {
                    state.active = Some(false);
                }
            }
            Ok(_) => {
                state.enabled = Some(false);
                state.active = Some(false);
                state.state = Some("not loaded".into());
            }
            Err(_) => {}
        }
        state
    }

    fn parse(&self, path: PathBuf, bytes: &[u8]) -> Result<InstalledService, String> {
        parse_plist(path, bytes)
    }
}
