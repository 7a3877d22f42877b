//! Windows scheduled tasks.
//!
//! Choice: Task Scheduler has no per-task environment variables, so the
//! service is two files, both under `%USERPROFILE%\.openclaw\services\`
//! and named after the service (so two instances never share them):
//! - `<name>.cmd`, a wrapper that sets the service environment with
//!   `set "KEY=value"` lines and runs `"<exe>" gateway --port N`;
//! - `<name>.task.xml`, the task definition (log-on trigger, restart on
//!   failure, no time limit) whose action runs the wrapper, registered with
//!   `schtasks /Create /TN <task> /XML <file> /F`. It is written as UTF-16
//!   with a byte-order mark, the encoding `schtasks` reads reliably.
//!
//! In the wrapper `%` is doubled and `"` is refused (Windows paths cannot
//! contain it, and an unbalanced quote would let `&` or `|` through).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::ServiceError;
use crate::manager::{
    FileEncoding, InstalledService, Operation, PlannedCommand, RuntimeState, ServiceFile,
    ServiceManager, decode_text,
};
use crate::runner::{CommandRunner, RunError};
use crate::spec::{Platform, ServiceSpec, join_like, path_str};
use crate::xml::escape;

/// The Task Scheduler manager.
#[derive(Debug, Clone, Copy, Default)]
pub struct Schtasks;

fn file_stem(spec: &ServiceSpec) -> String {
    spec.names
        .systemd_unit
        .trim_end_matches(".service")
        .to_string()
}

/// `%USERPROFILE%\.openclaw\services\<name>.cmd`.
pub fn wrapper_path(spec: &ServiceSpec) -> PathBuf {
    join_like(
        &spec.home,
        &[".openclaw", "services", &format!("{}.cmd", file_stem(spec))],
    )
}

/// `%USERPROFILE%\.openclaw\services\<name>.task.xml`.
pub fn task_xml_path(spec: &ServiceSpec) -> PathBuf {
    join_like(
        &spec.home,
        &[
            ".openclaw",
            "services",
            &format!("{}.task.xml", file_stem(spec)),
        ],
    )
}

fn cmd_escape(key: &str, value: &str) -> Result<String, ServiceError> {
    if value.contains('"') {
        return Err(ServiceError::InvalidValue {
            key: key.to_string(),
            reason: format!(
                "({value:?}) contains a double quote, which a Windows command script cannot carry safely"
            ),
        });
    }
    Ok(value.replace('%', "%%"))
}

fn cmd_word(key: &str, word: &str) -> Result<String, ServiceError> {
    let w = cmd_escape(key, word)?;
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:=/\\+,".contains(c));
    Ok(if plain { w } else { format!("\"{w}\"") })
}

/// Renders the `.cmd` wrapper (CRLF line ends). Pure.
pub fn render_wrapper(spec: &ServiceSpec) -> Result<String, ServiceError> {
    spec.validate(Platform::Windows)?;
    let mut lines = vec![
        "@echo off".to_string(),
        "rem OpenClaw gateway task wrapper, written by openclaw gateway install.".to_string(),
        "setlocal DisableDelayedExpansion".to_string(),
    ];
    for (k, v) in spec.environment(Platform::Windows) {
        lines.push(format!("set \"{k}={}\"", cmd_escape(&k, &v)?));
    }
    let exe = format!("\"{}\"", cmd_escape("executable", &path_str(&spec.exe))?);
    let mut exec = vec![exe];
    for (i, a) in spec.args.iter().enumerate() {
        exec.push(cmd_word(&format!("argument {}", i + 1), a)?);
    }
    lines.push(exec.join(" "));
    lines.push("exit /b %ERRORLEVEL%".to_string());
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    Ok(out)
}

/// Renders the task XML. Pure.
pub fn render_task(spec: &ServiceSpec) -> Result<String, ServiceError> {
    spec.validate(Platform::Windows)?;
    if let Some(u) = &spec.windows_user {
        crate::spec::check_value("Windows user", u)?;
    }
    let user = spec
        .windows_user
        .as_deref()
        .map(|u| format!("      <UserId>{}</UserId>\n", escape(u)))
        .unwrap_or_default();
    let task = &spec.names.windows_task;
    Ok(format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{desc}</Description>
    <URI>\{uri}</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
{user}    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
{user}      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{command}</Command>
      <WorkingDirectory>{wd}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"#,
        desc = escape(&format!("OpenClaw Gateway ({})", spec.label)),
        uri = escape(task),
        command = escape(&path_str(&wrapper_path(spec))),
        wd = escape(&path_str(&spec.working_dir)),
    ))
}

/// Parses a wrapper written by [`render_wrapper`] (or edited by hand in the
/// same form).
pub fn parse_wrapper(path: PathBuf, text: &str) -> Result<InstalledService, String> {
    let mut env = BTreeMap::new();
    let mut exec = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("set \"") {
            let body = line[5..].strip_suffix('"').unwrap_or(&line[5..]);
            if let Some((k, v)) = body.split_once('=') {
                env.insert(k.to_string(), v.replace("%%", "%"));
            }
        } else if line.starts_with('"') && exec.is_empty() {
            exec = split_cmd_words(line)?;
        }
    }
    if exec.is_empty() {
        return Err("it has no command line starting with the quoted executable".into());
    }
    Ok(InstalledService { path, env, exec })
}

fn split_cmd_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if started {
                    words.push(std::mem::take(&mut cur).replace("%%", "%"));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if in_quotes {
        return Err(format!("unterminated quote in {line:?}"));
    }
    if started {
        words.push(cur.replace("%%", "%"));
    }
    Ok(words)
}

fn schtasks(args: &[&str]) -> PlannedCommand {
    let mut argv = vec!["schtasks"];
    argv.extend_from_slice(args);
    PlannedCommand::new(&argv)
}

impl ServiceManager for Schtasks {
    fn platform(&self) -> Platform {
        Platform::Windows
    }

    fn manager_name(&self) -> &'static str {
        "Windows Task Scheduler"
    }

    fn definition_path(&self, spec: &ServiceSpec) -> PathBuf {
        wrapper_path(spec)
    }

    fn render(&self, spec: &ServiceSpec) -> Result<Vec<ServiceFile>, ServiceError> {
        Ok(vec![
            ServiceFile::utf8(wrapper_path(spec), render_wrapper(spec)?),
            ServiceFile {
                path: task_xml_path(spec),
                contents: render_task(spec)?,
                encoding: FileEncoding::Utf16LeBom,
            },
        ])
    }

    fn check_available(
        &self,
        _spec: &ServiceSpec,
        runner: &dyn CommandRunner,
    ) -> Result<(), String> {
        let argv: Vec<String> = ["schtasks", "/Query", "/FO", "CSV", "/NH"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        match runner.run(&argv) {
            Ok(out) if out.success() => Ok(()),
            Ok(out) => Err(format!("`schtasks /Query` failed: {}", out.stderr.trim())),
            Err(RunError::NotFound { .. }) => {
                Err("schtasks was not found on PATH: this host is not Windows".into())
            }
            Err(e) => Err(format!("`schtasks /Query` could not run: {e}")),
        }
    }

    fn commands(&self, spec: &ServiceSpec, op: Operation, replacing: bool) -> Vec<PlannedCommand> {
        let tn = spec.names.windows_task.as_str();
        let xml = path_str(&task_xml_path(spec));
        match op {
            Operation::Install => {
                let mut v = Vec::new();
                if replacing {
                    v.push(schtasks(&["/End", "/TN", tn]).may_fail());
                }
                v.push(schtasks(&["/Create", "/TN", tn, "/XML", &xml, "/F"]));
                v.push(schtasks(&["/Run", "/TN", tn]));
                v
            }
            Operation::Uninstall => vec![
                schtasks(&["/End", "/TN", tn]).may_fail(),
                schtasks(&["/Delete", "/TN", tn, "/F"]),
            ],
            Operation::Start => vec![schtasks(&["/Run", "/TN", tn])],
            Operation::Stop => vec![schtasks(&["/End", "/TN", tn])],
            Operation::Restart => vec![
                schtasks(&["/End", "/TN", tn]).may_fail(),
                schtasks(&["/Run", "/TN", tn]),
            ],
        }
    }

    fn query(&self, spec: &ServiceSpec, runner: &dyn CommandRunner) -> RuntimeState {
        let argv: Vec<String> = [
            "schtasks",
            "/Query",
            "/TN",
            spec.names.windows_task.as_str(),
            "/V",
            "/FO",
            "LIST",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut state = RuntimeState::default();
        match runner.run(&argv) {
            Ok(out) if out.success() => {
                for line in out.stdout.lines() {
                    if let Some((k, v)) = line.split_once(':') {
                        let v = v.trim();
                        match k.trim() {
                            "Status" => {
                                state.active = Some(v == "Running");
                                state.state = Some(v.to_string());
                            }
                            "Scheduled Task State" => state.enabled = Some(v == "Enabled"),
                            "Last Result" => state.last_exit_code = v.parse().ok(),
                            _ => {}
                        }
                    }
                }
            }
            Ok(_) => {
                state.enabled = Some(false);
                state.active = Some(false);
                state.state = Some("not registered".into());
            }
            Err(_) => {}
        }
        state
    }

    fn parse(&self, path: PathBuf, bytes: &[u8]) -> Result<InstalledService, String> {
        let text = decode_text(bytes).ok_or("it is not UTF-8 or UTF-16 text")?;
        parse_wrapper(path, &text)
    }
}
