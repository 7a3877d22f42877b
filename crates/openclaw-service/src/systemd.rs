//! systemd user units.
//!
//! Quoting follows systemd.syntax(7) and systemd.service(5): every value has
//! `%` doubled (specifiers); `Environment=` assignments are double-quoted
//! with `\` and `"` backslash-escaped; `ExecStart=` words are quoted the same
//! way when they contain whitespace, quotes or backslashes, and `$` is
//! doubled in the arguments (variable expansion; the executable path is not
//! expanded, as `systemd-analyze verify` confirms).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::ServiceError;
use crate::manager::{
    InstalledService, Operation, PlannedCommand, RuntimeState, ServiceFile, ServiceManager,
    decode_text,
};
use crate::runner::{CommandOutput, CommandRunner, RunError};
use crate::spec::{Platform, ServiceSpec, path_str};

/// How long systemd waits for the gateway to stop before killing it.
pub const TIMEOUT_STOP_SEC: u32 = 30;

/// The systemd user manager.
#[derive(Debug, Clone, Copy, Default)]
pub struct Systemd;

/// `<XDG_CONFIG_HOME or ~/.config>/systemd/user/<unit>`.
pub fn unit_path(spec: &ServiceSpec) -> PathBuf {
    let base = spec
        .xdg_config_home
        .clone()
        .unwrap_or_else(|| spec.home.join(".config"));
    base.join("systemd")
        .join("user")
        .join(&spec.names.systemd_unit)
}

fn escape_specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// One `Environment=` assignment, quoted.
fn env_assignment(key: &str, value: &str) -> String {
    let raw = format!("{key}={value}");
    let escaped = escape_specifiers(&raw)
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// One `ExecStart=` word. systemd expands `$` in the arguments but not in
/// the executable path, so only arguments get `$` doubled.
fn exec_word(word: &str, is_path: bool) -> String {
    let s = escape_specifiers(word);
    let s = if is_path { s } else { s.replace('$', "$$") };
    let needs_quotes = s.is_empty()
        || s == ";"
        || s.chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\');
    if needs_quotes {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s
    }
}

/// Renders the unit text. Pure.
pub fn render_unit(spec: &ServiceSpec) -> Result<String, ServiceError> {
    spec.validate(Platform::Systemd)?;
    let wd = path_str(&spec.working_dir);
    if wd.ends_with(['\\', ' ', '\t']) || wd.starts_with(['-', ' ', '\t']) {
        return Err(ServiceError::InvalidValue {
            key: "WorkingDirectory".into(),
            reason: format!(
                "({wd:?}) starts or ends with a character systemd would strip or read as line continuation"
            ),
        });
    }
    let description = escape_specifiers(
        format!("OpenClaw Gateway ({})", spec.label)
            .trim_end_matches(['\\', ' ', '\t'])
            .trim_end(),
    );
    let exec = spec
        .argv()
        .iter()
        .enumerate()
        .map(|(i, w)| exec_word(w, i == 0))
        .collect::<Vec<_>>()
        .join(" ");

    let mut out = String::new();
    out.push_str(&format!(
        "# OpenClaw gateway service for the {}.\n# Written by `{} gateway install`; rewrite it with `{} gateway install --force`.\n",
        spec.label, spec.cli_prefix, spec.cli_prefix
    ));
    out.push_str("[Unit]\n");
    out.push_str(&format!("Description={description}\n"));
    out.push_str("\n[Service]\n");
    out.push_str("Type=simple\n");
    out.push_str(&format!("ExecStart={exec}\n"));
    out.push_str(&format!("WorkingDirectory={}\n", escape_specifiers(&wd)));
    for (k, v) in spec.environment(Platform::Systemd) {
        out.push_str(&format!("Environment={}\n", env_assignment(&k, &v)));
    }
    out.push_str("Restart=always\n");
    out.push_str("RestartSec=5\n");
    out.push_str("# Exit status 78: another gateway already owns this state dir; do not loop.\n");
    out.push_str("RestartPreventExitStatus=78\n");
    out.push_str("KillMode=mixed\n");
    out.push_str(&format!("TimeoutStopSec={TIMEOUT_STOP_SEC}\n"));
    out.push_str("\n[Install]\n");
    out.push_str("WantedBy=default.target\n");
    Ok(out)
}

/// Splits a value into words the way systemd does for `Environment=` and
/// `ExecStart=` (quotes removed, C escapes resolved). `%%` is folded to `%`
/// (other specifiers are kept as written).
pub fn split_words(value: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => {
                    let e = chars
                        .next()
                        .ok_or_else(|| "a backslash ends the value".to_string())?;
                    word.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        's' => ' ',
                        other => other,
                    });
                }
                ('%', _) => {
                    if chars.peek() == Some(&'%') {
                        chars.next();
                    }
                    word.push('%');
                }
                (q @ ('"' | '\''), None) => quote = Some(q),
                (q, Some(open)) if q == open => quote = None,
                (c, None) if c.is_whitespace() => break,
                (c, _) => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(format!("unterminated {q} quote in {value:?}"));
        }
        words.push(word);
    }
    Ok(words)
}

/// Parses a unit's `[Service]` section back into environment and command.
pub fn parse_unit(path: PathBuf, text: &str) -> Result<InstalledService, String> {
    let mut env = BTreeMap::new();
    let mut exec = Vec::new();
    let mut section = String::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if logical.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let full = std::mem::take(&mut logical);
        let full = full.trim();
        if full.starts_with('[') && full.ends_with(']') {
            section = full[1..full.len() - 1].to_string();
            continue;
        }
        if section != "Service" {
            continue;
        }
        let Some((key, value)) = full.split_once('=') else {
            continue;
        };
        match key.trim() {
            "Environment" => {
                if value.trim().is_empty() {
                    env.clear();
                }
                for word in split_words(value)? {
                    if let Some((k, v)) = word.split_once('=') {
                        env.insert(k.to_string(), v.to_string());
                    }
                }
            }
            "ExecStart" => {
                let mut words = split_words(value)?;
                if let Some(first) = words.first_mut() {
                    *first = first
                        .trim_start_matches(['-', '@', ':', '+', '!'])
                        .to_string();
                }
                exec = words
                    .into_iter()
                    .enumerate()
                    .map(|(i, w)| if i == 0 { w } else { w.replace("$$", "$") })
                    .collect();
            }
            _ => {}
        }
    }
    if exec.is_empty() {
        return Err("it has no ExecStart= line in [Service]".into());
    }
    Ok(InstalledService { path, env, exec })
}

fn systemctl(args: &[&str]) -> PlannedCommand {
    let mut argv = vec!["systemctl", "--user"];
    argv.extend_from_slice(args);
    PlannedCommand::new(&argv)
}

impl ServiceManager for Systemd {
    fn platform(&self) -> Platform {
        Platform::Systemd
    }

    fn manager_name(&self) -> &'static str {
        "systemd user session"
    }

    fn definition_path(&self, spec: &ServiceSpec) -> PathBuf {
        unit_path(spec)
    }

    fn render(&self, spec: &ServiceSpec) -> Result<Vec<ServiceFile>, ServiceError> {
        Ok(vec![ServiceFile::utf8(unit_path(spec), render_unit(spec)?)])
    }

    fn check_available(
        &self,
        spec: &ServiceSpec,
        runner: &dyn CommandRunner,
    ) -> Result<(), String> {
        let argv: Vec<String> = ["systemctl", "--user", "show-environment"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let why_no_session = if spec.xdg_runtime_dir.is_none() {
            "; XDG_RUNTIME_DIR is not set, so this shell has no user session bus (typical in containers, CI, and su/sudo shells; a login session or `loginctl enable-linger` provides one)"
        } else {
            ""
        };
        match runner.run(&argv) {
            Ok(out) if out.success() => Ok(()),
            Ok(out) => {
                let err = out.stderr.trim();
                let err = if err.is_empty() {
                    format!("exit status {:?}", out.status)
                } else {
                    err.to_string()
                };
                Err(format!(
                    "`systemctl --user show-environment` failed: {err}{why_no_session}"
                ))
            }
            Err(RunError::NotFound { .. }) => {
                Err("systemctl was not found on PATH: this host does not run systemd".into())
            }
            Err(e) => Err(format!(
                "`systemctl --user show-environment` could not run: {e}{why_no_session}"
            )),
        }
    }

    fn commands(&self, spec: &ServiceSpec, op: Operation, replacing: bool) -> Vec<PlannedCommand> {
        let unit = spec.names.systemd_unit.as_str();
        match op {
            Operation::Install => {
                let mut v = vec![
                    systemctl(&["daemon-reload"]),
                    systemctl(&["enable", "--now", unit]),
                ];
                if replacing {
                    // enable --now leaves a running old definition running.
                    v.push(systemctl(&["restart", unit]));
                }
                v
            }
            Operation::Uninstall => vec![systemctl(&["disable", "--now", unit])],
            Operation::Start => vec![systemctl(&["start", unit])],
            Operation::Stop => vec![systemctl(&["stop", unit])],
            Operation::Restart => vec![systemctl(&["restart", unit])],
        }
    }

    fn query(&self, spec: &ServiceSpec, runner: &dyn CommandRunner) -> RuntimeState {
        show_state(spec, runner).unwrap_or_default()
    }

    fn runtime(
        &self,
        spec: &ServiceSpec,
        runner: &dyn CommandRunner,
    ) -> Result<RuntimeState, String> {
        match show_state(spec, runner) {
            Some(state) => Ok(state),
            // Only when `show` fails is the availability probe run, to say why.
            None => {
                self.check_available(spec, runner)?;
                Err("`systemctl --user show` gave no state for the unit".into())
            }
        }
    }

    fn parse(&self, path: PathBuf, bytes: &[u8]) -> Result<InstalledService, String> {
        let text = decode_text(bytes).ok_or("it is not UTF-8 text")?;
        parse_unit(path, &text)
    }

    /// One `systemctl --user show -p Id,<props> <unit>...` for every unit.
    /// Its blocks are matched to units by `Id`. When it fails and the
    /// manager is unavailable (no user session), every per-unit `show`
    /// would fail the same way, so each gets that failure; when it fails
    /// for another reason nothing is seeded and each unit is asked alone.
    fn prefetch(
        &self,
        specs: &[&ServiceSpec],
        runner: &dyn CommandRunner,
    ) -> Vec<(Vec<String>, CommandOutput)> {
        let mut units: Vec<&str> = specs
            .iter()
            .map(|s| s.names.systemd_unit.as_str())
            .collect();
        units.sort_unstable();
        units.dedup();
        if units.len() < 2 {
            return Vec::new();
        }
        let props = format!("Id,{SHOW_PROPS}");
        let mut args = vec!["show", "-p", props.as_str()];
        args.extend(units.iter().copied());
        match runner.run(&systemctl(&args).argv) {
            Ok(out) if out.success() => split_show_blocks(&out.stdout)
                .into_iter()
                .filter(|(id, _)| units.contains(&id.as_str()))
                .map(|(id, block)| (show_argv(&id), CommandOutput::ok(&block)))
                .collect(),
            Ok(out) => match specs.first() {
                Some(spec) if self.check_available(spec, runner).is_err() => {
                    units.iter().map(|u| (show_argv(u), out.clone())).collect()
                }
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        }
    }
}

/// `systemctl show` output for several units (blocks separated by blank
/// lines, each with an `Id=` line) → (unit, its block without `Id`).
fn split_show_blocks(stdout: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in stdout.split("\n\n") {
        let mut id = None;
        let mut rest = String::new();
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            match line.split_once('=') {
                Some(("Id", v)) => id = Some(v.trim().to_string()),
                _ => {
                    rest.push_str(line);
                    rest.push('\n');
                }
            }
        }
        if let Some(id) = id {
            out.push((id, rest));
        }
    }
    out
}

/// The properties `status` reads from `systemctl show`.
const SHOW_PROPS: &str =
    "MainPID,ActiveState,SubState,UnitFileState,ExecMainCode,ExecMainStatus,NRestarts";

/// `systemctl --user show -p <props> <unit>`: the one command of `status`.
fn show_argv(unit: &str) -> Vec<String> {
    systemctl(&["show", "-p", SHOW_PROPS, unit]).argv
}

/// Enabled, active, main pid, state, last exit code and restart count of
/// the unit in one `systemctl show`; `None` when systemctl fails or does not
/// know the unit's state.
fn show_state(spec: &ServiceSpec, runner: &dyn CommandRunner) -> Option<RuntimeState> {
    let unit = spec.names.systemd_unit.as_str();
    let out = runner.run(&show_argv(unit)).ok().filter(|o| o.success())?;
    let props: BTreeMap<&str, &str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let active = props.get("ActiveState").filter(|a| !a.is_empty())?;
    Some(RuntimeState {
        enabled: props
            .get("UnitFileState")
            .filter(|u| !u.is_empty())
            .map(|u| matches!(*u, "enabled" | "enabled-runtime" | "linked")),
        active: Some(*active == "active"),
        main_pid: props
            .get("MainPID")
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|p| *p != 0),
        state: props.get("SubState").map(|sub| format!("{active} ({sub})")),
        // ExecMainCode 1 = CLD_EXITED: ExecMainStatus is an exit code (for a
        // signal it is the signal number, and 0 means it never ran).
        last_exit_code: (props.get("ExecMainCode") == Some(&"1"))
            .then(|| props.get("ExecMainStatus").and_then(|s| s.parse().ok()))
            .flatten(),
        restart_count: props.get("NRestarts").and_then(|n| n.parse().ok()),
    })
}
