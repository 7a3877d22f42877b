//! launchd agents (macOS).
//!
//! The plist is written and read back with the `plist` crate, so a file converted to binary by `plutil`
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

fn unrenderable(why: String) -> ServiceError {
    ServiceError::InvalidValue {
        key: "the launchd plist".into(),
        reason: format!("cannot be rendered ({why})"),
    }
}

/// The line after the DOCTYPE that says who wrote the file.
const COMMENT: &str = "<!-- OpenClaw gateway agent, written by openclaw gateway install. -->";

/// Renders the plist text through the `plist` crate (which escapes every
/// string), indented by two spaces. Pure.
pub fn render_plist(spec: &ServiceSpec) -> Result<String, ServiceError> {
    use plist::{Dictionary, Value};
    spec.validate(Platform::Launchd)?;
    let (out_log, err_log) = log_paths(spec);
    let s = |v: &str| Value::String(v.to_string());
    let mut env = Dictionary::new();
    for (k, v) in spec.environment(Platform::Launchd) {
        env.insert(k, Value::String(v));
    }
    let mut d = Dictionary::new();
    d.insert("Label".into(), s(&spec.names.launchd_label));
    d.insert(
        "ProgramArguments".into(),
        Value::Array(spec.argv().into_iter().map(Value::String).collect()),
    );
    d.insert("EnvironmentVariables".into(), Value::Dictionary(env));
    d.insert("WorkingDirectory".into(), s(&path_str(&spec.working_dir)));
    d.insert("RunAtLoad".into(), Value::Boolean(true));
    d.insert("KeepAlive".into(), Value::Boolean(true));
    d.insert("ThrottleInterval".into(), Value::Integer(5.into()));
    d.insert("ProcessType".into(), s("Background"));
    d.insert("StandardOutPath".into(), s(&path_str(&out_log)));
    d.insert("StandardErrorPath".into(), s(&path_str(&err_log)));
    let mut buf = Vec::new();
    let opts = plist::XmlWriteOptions::default().indent(b' ', 2);
    Value::Dictionary(d)
        .to_writer_xml_with_options(&mut buf, &opts)
        .map_err(|e| unrenderable(e.to_string()))?;
    let xml = String::from_utf8(buf).map_err(|e| unrenderable(e.to_string()))?;
    // The comment goes after the prolog (XML allows it anywhere outside the root).
    let mut out = String::with_capacity(xml.len() + COMMENT.len() + 2);
    for (n, line) in xml.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if n == 1 {
            out.push_str(COMMENT);
            out.push('\n');
        }
    }
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
                    } else if let Some(v) = line.strip_prefix("last exit code = ") {
                        // "(never exited)" parses as nothing.
                        state.last_exit_code = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("runs = ") {
                        state.restart_count =
                            v.trim().parse::<u32>().ok().map(|r| r.saturating_sub(1));
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
