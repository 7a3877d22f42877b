//! What the commands do to a target instance, through our own libraries:
//! its paths and owner record (`openclaw-state`), its config store with
//! base hashes, its log, its service (`openclaw-service` via
//! `openclaw-host`), doctor's checks, and starting/stopping its gateway
//! (`openclaw_host::lifecycle`, with an environment built from scratch for
//! the target). Every function returns the reply text; nothing here reads
//! this process's environment.
//!
//! Read-only actions answer at once. Changing actions come in two steps:
//! [`prepare`] checks and describes the change (validating a config edit
//! before anything is written) and returns a [`Change`] that the caller
//! parks behind a confirmation code; [`execute`] carries it out, refusing
//! when the config changed since (its base hash).

use std::path::Path;
use std::time::Duration;

use openclaw_config::{REDACTED, TEXT_REDACTED};
use openclaw_host::doctor::{Scope, check, gather};
use openclaw_host::lifecycle::{self, ChildEnv, Lines};
use openclaw_host::live;
use openclaw_host::services::{HostFacts, InstanceService};
use openclaw_instance::Instance;
use openclaw_ops::lifecycle::{Route, ServiceOp, rescue_route};
use openclaw_service::{ForeignService, Ownership, ProcessRunner};
use openclaw_state::{ConfigStore, StateError};
use serde_json::Value;

use crate::command::{ConfigOp, LifeOp};
use crate::targets::Target;

/// Log lines shown under "why it is down".
const WHY_LOG_LINES: usize = 10;
/// Longest config value shown by `/config get`.
const MAX_VALUE_CHARS: usize = 3000;
/// Most changed keys listed for a rollback.
const MAX_DIFF_LINES: usize = 15;

/// What the actions need about this rescue instance and its host.
pub struct Ctx<'a> {
    /// The rescue instance itself.
    pub me: &'a Instance,
    /// Home root, executable, runtime dir.
    pub host: &'a HostFacts,
    /// The host basics a started gateway may have (see
    /// `openclaw_ops::lifecycle::is_host_basic`): nothing else of this
    /// process's environment reaches it.
    pub env: &'a [(String, String)],
    /// `rescue.targets` (`None`: every other instance).
    pub targets: Option<&'a [String]>,
}

impl Ctx<'_> {
    fn home(&self) -> &Path {
        &self.me.home
    }
}

/// A change waiting for its confirmation.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Set {
        path: String,
        value: Value,
        base_hash: Option<String>,
    },
    Unset {
        path: String,
        base_hash: Option<String>,
    },
    Rollback {
        base_hash: Option<String>,
        backup_hash: String,
    },
    Life(LifeOp),
}

/// A value as it may be shown: secrets replaced, long values cut.
fn show(path: Option<&str>, v: &Value) -> String {
    if path.is_some_and(openclaw_config::is_secret_path) && v.is_string() {
        return TEXT_REDACTED.into();
    }
    let red = openclaw_config::redact(v);
    let text = match &red {
        Value::String(s) if s == REDACTED => TEXT_REDACTED.to_string(),
        Value::String(s) => format!("{s:?}"),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    let text = text.replace(&format!("\"{REDACTED}\""), &format!("\"{TEXT_REDACTED}\""));
    cut(&text, MAX_VALUE_CHARS)
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let head: String = s.chars().take(n).collect();
        format!("{head}… [cut at {n} characters]")
    }
}

/// The last `n` lines of a log file, redacted, or `None` when it has none.
fn tail(path: &Path, n: usize) -> Option<Vec<String>> {
    let lines = openclaw_state::logs::tail_lines(path, n).ok()?;
    (!lines.is_empty()).then(|| {
        lines
            .iter()
            .map(|l| openclaw_config::redact_text(l).into_owned())
            .collect()
    })
}

fn fenced(lines: &[String]) -> String {
    // A fence inside a log line would end the block early.
    let body = lines.join("\n").replace("```", "'''");
    format!("```\n{body}\n```")
}

/// Loads a target's config, registering its secrets so that every reply
/// (and this gateway's own log) redacts them.
fn load(config: &Path) -> Result<Option<openclaw_state::Loaded>, StateError> {
    let loaded = ConfigStore::new(config).load()?;
    if let Some(l) = &loaded {
        openclaw_config::register_secrets(openclaw_config::secret_strings(&l.parsed.value));
    }
    Ok(loaded)
}

/// Registers every secret of the target's config for redaction, whatever
/// state the config is in, before any command about it answers (its log
/// may quote its own keys): the config as loaded; when it does not
/// validate, as parsed; when it does not even parse, the values under
/// secret-named keys found by a lenient scan of its text; and its kept
/// backup (`.bak`) the same way.
pub fn register_target_secrets(config: &Path) {
    let store = ConfigStore::new(config);
    for path in [config.to_path_buf(), store.backup_path()] {
        let Ok(raw) = std::fs::read_to_string(&path) else {
            continue;
        };
        match openclaw_config::parse_syntax(&raw, &path) {
            Ok(v) => openclaw_config::register_secrets(openclaw_config::secret_strings(&v)),
            Err(_) => openclaw_config::register_secrets(scan_secrets(&raw)),
        }
    }
}

/// The values of secret-named keys (`apiKey: "sk-…"`, `"token" = x`) in
/// text that does not parse: quoted or bare keys, `:` or `=`, quoted or
/// bare values. Lenient on purpose: it sees what a broken file still says.
pub fn scan_secrets(raw: &str) -> Vec<String> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'$';
    while i < b.len() {
        // A key: a quoted string or a bare word.
        let (key, next) = match b[i] {
            q @ (b'"' | b'\'') => match raw[i + 1..].find(q as char) {
                Some(end) => (&raw[i + 1..i + 1 + end], i + 2 + end),
                None => break,
            },
            c if word(c) => {
                let end = b[i..]
                    .iter()
                    .position(|c| !word(*c))
                    .map_or(b.len(), |n| i + n);
                (&raw[i..end], end)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        i = next;
        if !openclaw_config::is_secret_key(key) {
            continue;
        }
        let mut j = next;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j >= b.len() || !(b[j] == b':' || b[j] == b'=') {
            continue;
        }
        j += 1;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j >= b.len() {
            break;
        }
        let value = match b[j] {
            q @ (b'"' | b'\'') => raw[j + 1..]
                .find([q as char, '\n'])
                .map(|end| &raw[j + 1..j + 1 + end]),
            _ => {
                let end = raw[j..]
                    .find([',', '}', ']', '\n', ' '])
                    .map_or(raw.len(), |n| j + n);
                Some(&raw[j..end])
            }
        };
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            out.push(v.to_string());
        }
        i = j;
    }
    out
}

/// A config load error as one line: `file:line:col: key: message`.
fn config_error(e: &StateError) -> String {
    match e {
        StateError::Config(ce) => ce.to_string(),
        other => other.to_string(),
    }
}

/// The service of an instance in one line.
fn service_line(host: &HostFacts, inst: &Instance) -> String {
    let svc = match InstanceService::for_instance(host, inst.clone()) {
        Ok(s) => s,
        Err(e) => return format!("service: cannot be described ({})", e.cause),
    };
    let name = svc.name();
    match svc.status() {
        Err(e) => format!("service {name}: cannot read its state ({e})"),
        Ok(st) if st.owned_by.is_some() => {
            let o = st.owned_by.as_ref().expect("checked");
            format!("service {name}: not installed for it: {o}")
        }
        Ok(st) if !st.installed => format!("service {name}: not installed"),
        Ok(st) => {
            let mut parts = vec!["installed".to_string()];
            if let Some(why) = &st.manager_unavailable {
                parts.push(format!("manager unavailable ({why})"));
            }
            if let Some(s) = &st.runtime.state {
                parts.push(s.clone());
            }
            if let Some(p) = st.runtime.main_pid {
                parts.push(format!("main pid {p}"));
            }
            if let Some(c) = st.runtime.last_exit_code {
                parts.push(format!("last exit code {c}"));
            }
            if let Some(n) = st.runtime.restart_count {
                parts.push(format!(
                    "restarted {n} time{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            if !st.drift.is_empty() {
                parts.push(format!(
                    "its file disagrees with the config: {}",
                    st.drift
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            format!("service {name}: {}", parts.join(", "))
        }
    }
}

/// `/instances`: every instance on this host.
pub fn instances(ctx: &Ctx<'_>) -> String {
    let home = ctx.home().to_path_buf();
    let known = openclaw_host::hosts::known_instances(&home);
    let same = |a: &Path, b: &Path| openclaw_state::same_dir(a, b);
    let me = &ctx.me.state_dir.value;
    let mut out = vec![format!(
        "{} instance{} on this host:",
        known.len(),
        if known.len() == 1 { "" } else { "s" }
    )];
    let records: Vec<openclaw_state::InstanceRecord> =
        known.iter().map(|k| k.record.clone()).collect();
    for k in &known {
        let mut name = crate::targets::name_of(&k.record, &home, &same);
        if let Some(d) = crate::targets::derived_name(&k.record, &records, &home, &same) {
            name = format!("{name} (or: {d})");
        }
        let mut parts = Vec::new();
        match live::running(&k.record.state_dir) {
            Some(r) => {
                let h = live::probe_health(r.port, Duration::from_millis(800));
                parts.push(format!(
                    "running (pid {}, port {}, {})",
                    r.pid,
                    r.port,
                    if h.ok {
                        format!("healthy: {}", h.detail)
                    } else {
                        format!("not healthy: {}", h.detail)
                    }
                ));
            }
            None => {
                let port = k
                    .instance
                    .as_ref()
                    .map(|i| format!("port {}", i.ports.gateway.value))
                    .unwrap_or_else(|_| "port unknown".into());
                parts.push(format!("stopped ({port})"));
            }
        }
        match &k.instance {
            Ok(i) => parts.push(service_line(ctx.host, i)),
            Err(e) => parts.push(format!("config invalid: {}", first_line(e))),
        }
        let role = if same(&k.record.state_dir, me) {
            "this rescue instance"
        } else if crate::targets::allowed(&k.record, &records, me, ctx.targets, &home, &same) {
            "target"
        } else {
            "not a target (rescue.targets)"
        };
        out.push(format!("• {name} — {} — {role}", parts.join(" · ")));
    }
    out.join("\n")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Seconds the owner-verified `health` call of `/status` may take.
const VERIFIED_HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// What `openclaw --profile <p> status` gets from a running gateway, on one
/// connection that is checked to be the target's own before its
/// credentials go out (`openclaw_client::probe_with`: live owner record,
/// the recorded pid holds the socket, the hello names the target's state
/// dir): the listeners it holds and a config change it has not applied
/// (`health.configReload.pending`). Lines for the `/status` reply.
fn verified_health(inst: &Instance, auth: Option<openclaw_config::AuthConfig>) -> Vec<String> {
    use openclaw_client::{Credentials, Probe};
    let creds = match auth {
        Some(openclaw_config::AuthConfig::Token(t)) => Credentials {
            token: Some(t),
            password: None,
        },
        Some(openclaw_config::AuthConfig::Password(p)) => Credentials {
            token: None,
            password: Some(p),
        },
        _ => Credentials::default(),
    };
    let probe = async { openclaw_client::probe_with(inst, &creds, VERIFIED_HEALTH_TIMEOUT).await };
    // The actions run on a blocking thread (or, in tests, on none).
    let result = match tokio::runtime::Handle::try_current() {
        Ok(h) => h.block_on(probe),
        Err(_) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(probe),
            Err(e) => return vec![format!("health: not checked ({e})")],
        },
    };
    let mut out = Vec::new();
    match result {
        Ok(Probe::Running { owner, health, .. }) => {
            if let Some(o) = owner {
                let ports: Vec<String> = o
                    .listeners
                    .iter()
                    .map(|l| {
                        format!(
                            "{} {}:{}",
                            l.purpose,
                            l.host.as_deref().unwrap_or("?"),
                            l.port
                        )
                    })
                    .collect();
                if !ports.is_empty() {
                    out.push(format!("listening: {}", ports.join(" · ")));
                }
            }
            match health {
                Some(h) => {
                    let ok = h["ok"].as_bool().unwrap_or(false);
                    out.push(format!(
                        "health (verified: its own gateway): {}",
                        if ok { "ok" } else { "NOT ok" }
                    ));
                    match h["configReload"]["pending"].as_str() {
                        Some(p) => out.push(format!("pending config change: {p}")),
                        None => out.push("config: every change applied".into()),
                    }
                }
                None => out.push("health: the gateway did not answer `health`".into()),
            }
        }
        Ok(Probe::Stopped { port }) => {
            out.push(format!("health: nothing answers on port {port} any more"));
        }
        Err(e) => out.push(format!("health: not verified: {e}")),
    }
    out
}

/// `/status <instance>`: what `openclaw --profile <p> status` knows, and
/// why it is down when it is.
pub fn status(ctx: &Ctx<'_>, t: &Target) -> String {
    let state_dir = t.state_dir();
    let config = t.config_path();
    let loaded = load(config);
    let inst = t.instance.as_ref().unwrap_or(&t.fallback);
    let running = live::running(state_dir);
    let mut out = Vec::new();
    match &running {
        Some(r) => {
            let h = live::probe_health(r.port, Duration::from_millis(800));
            out.push(format!(
                "{} is running: pid {}, port {}, up {}, /healthz: {}",
                t.title(),
                r.pid,
                r.port,
                r.uptime_seconds
                    .map(openclaw_ops::render::human_duration)
                    .unwrap_or_else(|| "?".into()),
                if h.ok {
                    format!("ok ({})", h.detail)
                } else {
                    format!("NOT answering ({})", h.detail)
                }
            ));
            let auth = match &loaded {
                Ok(Some(l)) => l.parsed.config.auth().ok(),
                _ => None,
            };
            out.extend(verified_health(inst, auth));
        }
        None => out.push(format!("{} is DOWN: no gateway runs for it", t.title())),
    }
    out.push(format!("state dir `{}`", state_dir.display()));
    let mut why = Vec::new();
    match &loaded {
        Ok(Some(_)) => out.push(format!("config `{}`: valid", config.display())),
        Ok(None) => {
            out.push(format!("config `{}`: missing", config.display()));
            why.push("it has no config file (it is not set up)".to_string());
        }
        Err(e) => {
            out.push(format!("config `{}`: INVALID", config.display()));
            why.push(format!("its config does not load: `{}`", config_error(e)));
        }
    }
    match (&t.instance, &running) {
        (Ok(i), None) => out.push(format!(
            "port {} (configured; browser control {}, canvas {})",
            i.ports.gateway.value, i.ports.browser_control.value, i.ports.canvas.value
        )),
        (Err(_), None) => out.push(match openclaw_state::owner::read_owner(state_dir) {
            Some(o) => format!("port {} (from its last owner record)", o.port),
            None => "port unknown (the config does not load)".into(),
        }),
        _ => {}
    }
    for c in openclaw_channels::status_summary(state_dir, running.is_some()) {
        out.push(format!("channel {}", openclaw_channels::status_line(&c)));
    }
    out.push(service_line(ctx.host, inst));
    if running.is_none() {
        if let Some(o) = openclaw_state::owner::read_owner(state_dir) {
            why.push(format!(
                "its last gateway (pid {}, port {}, started {}) did not shut down cleanly: its owner record was left behind",
                o.pid, o.port, o.started_at
            ));
        }
        if let Ok(svc) = InstanceService::for_instance(ctx.host, inst.clone())
            && let Ok(st) = svc.status()
            && st.installed
        {
            if let Some(c) = st.runtime.last_exit_code.filter(|c| *c != 0) {
                why.push(format!(
                    "its service's gateway last exited with code {c}{}",
                    match c {
                        78 => " (another gateway owns its state dir, or its config is invalid)",
                        69 => " (a port it needs is in use)",
                        _ => "",
                    }
                ));
            }
            if let Some(n) = st.runtime.restart_count.filter(|n| *n > 0) {
                why.push(format!("its service restarted it {n} times"));
            }
        }
        if why.is_empty() {
            why.push(
                "it was stopped (or never started); nothing in its state says it failed".into(),
            );
        }
        out.push("why it is down:".into());
        out.extend(why.iter().map(|w| format!("• {w}")));
        let log = openclaw_state::logs::gateway_log_path(state_dir);
        match tail(&log, WHY_LOG_LINES) {
            Some(lines) => {
                out.push(format!("last lines of `{}`:", log.display()));
                out.push(fenced(&lines));
            }
            None => out.push(format!("no gateway log at `{}`", log.display())),
        }
        let detached = lifecycle::detached_log(state_dir);
        if let Some(lines) = tail(&detached, 5) {
            out.push(format!("last lines of `{}`:", detached.display()));
            out.push(fenced(&lines));
        }
        let mut next = Vec::new();
        if loaded.is_err() {
            if ConfigStore::new(config).backup_path().is_file() {
                next.push(format!("/config {} rollback", t.name));
            }
            next.push(format!("/config {} validate", t.name));
        } else {
            next.push(format!("/restart {}", t.name));
        }
        next.push(format!("/logs {}", t.name));
        out.push(format!("next: {}", next.join(" · ")));
    } else if let Ok(Some(l)) = &loaded
        && !l.parsed.warnings.is_empty()
    {
        for w in &l.parsed.warnings {
            out.push(format!("warning: {w}"));
        }
    }
    out.join("\n")
}

/// `/logs <instance> [N]`.
pub fn logs(t: &Target, n: usize) -> String {
    let log = openclaw_state::logs::gateway_log_path(t.state_dir());
    match tail(&log, n) {
        Some(lines) => format!(
            "last {} line{} of {}'s log `{}`:\n{}",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" },
            t.name,
            log.display(),
            fenced(&lines)
        ),
        None => {
            let mut s = format!(
                "{} has no gateway log yet at `{}` (its gateway has never run with this state dir)",
                t.name,
                log.display()
            );
            if let Some(lines) = tail(&lifecycle::detached_log(t.state_dir()), n) {
                s.push_str(&format!(
                    "\nits detached gateway's output:\n{}",
                    fenced(&lines)
                ));
            }
            s
        }
    }
}

/// `/doctor [<instance>]`: doctor's findings (about the whole host, or
/// those that concern one instance).
pub fn doctor(ctx: &Ctx<'_>, t: Option<&Target>) -> String {
    let home = ctx.home().to_path_buf();
    let me_record = openclaw_state::InstanceRecord {
        profile: ctx.me.profile.clone(),
        state_dir: ctx.me.state_dir.value.clone(),
        config_path: ctx.me.config_path.value.clone(),
    };
    let current = match t {
        Some(t) => t.paths.clone(),
        None => match openclaw_host::hosts::record_paths(&home, &me_record) {
            Ok(p) => p,
            Err(e) => return format!("doctor cannot run: {e}"),
        },
    };
    let scope = Scope {
        current: &current,
        explicit: t.is_some(),
        host: ctx.host,
        telegram_env: None,
    };
    let items = gather(&scope);
    let mut findings = check(&scope, &items);
    if let Some(t) = t {
        let label = t.label();
        findings.retain(|f| {
            f.instances.contains(&label)
                || f.location
                    .iter()
                    .any(|p| p.starts_with(t.state_dir()) || p == t.config_path())
        });
    }
    let labels: Vec<String> = items.iter().map(|i| i.label.clone()).collect();
    let report = openclaw_ops::doctor::DoctorReport::new(labels, findings, vec![], vec![]);
    let mut s = String::new();
    if let Some(t) = t {
        s.push_str(&format!("doctor, findings about {}:\n", t.name));
    }
    s.push_str(&fenced(&[report
        .render_text(&home, None)
        .trim_end()
        .to_string()]));
    s
}

/// `/config <instance> get [<path>]` and `validate`.
pub fn config_read(t: &Target, op: &ConfigOp) -> String {
    let config = t.config_path();
    let loaded = load(config);
    if matches!(op, ConfigOp::Validate) {
        return match &loaded {
            Ok(Some(l)) => {
                let mut s = format!("{}'s config `{}` is valid", t.name, config.display());
                for w in &l.parsed.warnings {
                    s.push_str(&format!("\nwarning: {w}"));
                }
                s
            }
            Ok(None) => format!("{} has no config file at `{}`", t.name, config.display()),
            Err(e) => {
                let mut s = format!("{}'s config is INVALID:\n`{}`", t.name, config_error(e));
                if ConfigStore::new(config).backup_path().is_file() {
                    s.push_str(&format!(
                        "\n/config {} rollback restores the kept backup (if it validates)",
                        t.name
                    ));
                }
                s
            }
        };
    }
    let ConfigOp::Get { path } = op else {
        return String::new();
    };
    // A config that parses but does not validate can still be read.
    let (value, note) = match &loaded {
        Ok(Some(l)) => (l.parsed.value.clone(), String::new()),
        Ok(None) => return format!("{} has no config file at `{}`", t.name, config.display()),
        Err(e) => {
            let raw = std::fs::read_to_string(config).unwrap_or_default();
            match openclaw_config::parse_syntax(&raw, config) {
                Ok(v) => (
                    v,
                    format!(
                        "\n(note: the config does not validate: `{}`)",
                        config_error(e)
                    ),
                ),
                Err(_) => {
                    return format!(
                        "{}'s config does not parse: `{}`\ntry /config {} rollback",
                        t.name,
                        config_error(e),
                        t.name
                    );
                }
            }
        }
    };
    match path {
        None => format!(
            "{}'s config `{}` (secrets redacted):\n```\n{}\n```{note}",
            t.name,
            config.display(),
            cut(
                &serde_json::to_string_pretty(&openclaw_config::redact(&value))
                    .unwrap_or_default()
                    .replace(REDACTED, TEXT_REDACTED),
                MAX_VALUE_CHARS
            )
        ),
        Some(p) => match openclaw_config::get_path(&value, p) {
            Err(e) => format!("invalid key path {p:?}: {e}"),
            Ok(None) => format!("{p} is not set in {}'s config{note}", t.name),
            Ok(Some(v)) => format!("{p} = {}{note}", show(Some(p), v)),
        },
    }
}

/// Checks a change and describes it. `Err` is the reply when it cannot be
/// done (nothing is parked then).
pub fn prepare(ctx: &Ctx<'_>, t: &Target, op: &PrepareOp) -> Result<(Change, String), String> {
    match op {
        PrepareOp::Config(ConfigOp::Set { path, value }) => {
            prepare_edit(t, path, Some(openclaw_config::parse_cli_value(value)))
        }
        PrepareOp::Config(ConfigOp::Unset { path }) => prepare_edit(t, path, None),
        PrepareOp::Config(ConfigOp::Rollback) => prepare_rollback(t),
        PrepareOp::Config(_) => Err("not a change".into()),
        PrepareOp::Life(op) => prepare_life(ctx, t, *op),
    }
}

/// What [`prepare`] is asked to prepare.
#[derive(Debug, Clone, PartialEq)]
pub enum PrepareOp {
    Config(ConfigOp),
    Life(LifeOp),
}

/// `set` (`value` is `Some`) or `unset`: applied to a copy and validated
/// before anything is parked.
fn prepare_edit(t: &Target, path: &str, value: Option<Value>) -> Result<(Change, String), String> {
    let config = t.config_path();
    let store = ConfigStore::new(config);
    let (raw, hash) = match store.read_raw() {
        Ok(Some(x)) => (x.0, Some(x.1)),
        Ok(None) => (String::new(), None),
        Err(e) => return Err(format!("cannot read {}'s config: {e}", t.name)),
    };
    let mut doc = if raw.is_empty() && hash.is_none() {
        Value::Object(Default::default())
    } else {
        openclaw_config::parse_syntax(&raw, config).map_err(|e| {
            format!(
                "{}'s config does not parse, so it cannot be edited: `{e}`\ntry /config {} rollback",
                t.name, t.name
            )
        })?
    };
    openclaw_config::register_secrets(openclaw_config::secret_strings(&doc));
    let before = openclaw_config::get_path(&doc, path)
        .map_err(|e| format!("invalid key path {path:?}: {e}"))?
        .cloned();
    let summary = match &value {
        Some(v) => {
            openclaw_config::set_path(&mut doc, path, v.clone())
                .map_err(|e| format!("cannot set {path}: {e}"))?;
            format!(
                "set {path} in {}'s config `{}`: {} → {}",
                t.name,
                config.display(),
                before
                    .as_ref()
                    .map(|b| show(Some(path), b))
                    .unwrap_or_else(|| "(not set)".into()),
                show(Some(path), v)
            )
        }
        None => {
            let Some(b) = &before else {
                return Err(format!(
                    "{path} is not set in {}'s config; nothing to unset",
                    t.name
                ));
            };
            openclaw_config::unset_path(&mut doc, path)
                .map_err(|e| format!("cannot unset {path}: {e}"))?;
            format!(
                "unset {path} in {}'s config `{}` (now {})",
                t.name,
                config.display(),
                show(Some(path), b)
            )
        }
    };
    // Validated now, so an invalid change is refused before any code.
    if let Err(e) = openclaw_config::validate_value(&doc, config) {
        return Err(format!(
            "not changed: the result would not be a valid config:\n`{e}`"
        ));
    }
    let change = match value {
        Some(v) => Change::Set {
            path: path.into(),
            value: v,
            base_hash: hash,
        },
        None => Change::Unset {
            path: path.into(),
            base_hash: hash,
        },
    };
    Ok((change, summary))
}

/// Flattened leaves of a JSON value: `a.b[0].c` → value.
fn leaves(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(x, &p, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// What differs between two configs, one line per key (secrets redacted).
pub fn diff(before: &Value, after: &Value) -> Vec<String> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    leaves(before, "", &mut a);
    leaves(after, "", &mut b);
    let mut out = Vec::new();
    for (k, v) in &a {
        match b.iter().find(|(k2, _)| k2 == k) {
            None => out.push(format!("{k}: {} → (not set)", show(Some(k), v))),
            Some((_, w)) if w != v => {
                out.push(format!("{k}: {} → {}", show(Some(k), v), show(Some(k), w)))
            }
            _ => {}
        }
    }
    for (k, w) in &b {
        if !a.iter().any(|(k2, _)| k2 == k) {
            out.push(format!("{k}: (not set) → {}", show(Some(k), w)));
        }
    }
    out
}

fn prepare_rollback(t: &Target) -> Result<(Change, String), String> {
    let config = t.config_path();
    let store = ConfigStore::new(config);
    let bak = store.backup_path();
    let backup = match std::fs::read(&bak) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} has no kept backup `{}` to roll back to",
                t.name,
                bak.display()
            ));
        }
        Err(e) => return Err(format!("cannot read `{}`: {e}", bak.display())),
    };
    let backup_hash = openclaw_config::hash(&backup);
    let backup_text = String::from_utf8_lossy(&backup).into_owned();
    let parsed = openclaw_config::parse(&backup_text, config).map_err(|e| {
        format!(
            "not rolled back: the backup `{}` does not validate either:\n`{e}`",
            bak.display()
        )
    })?;
    openclaw_config::register_secrets(openclaw_config::secret_strings(&parsed.value));
    let (current, base_hash) = match store.read_raw() {
        Ok(Some((raw, h))) => (Some(raw), Some(h)),
        Ok(None) => (None, None),
        Err(e) => return Err(format!("cannot read {}'s config: {e}", t.name)),
    };
    let mut s = format!(
        "roll back {}'s config `{}` to the kept backup `{}` (it validates)",
        t.name,
        config.display(),
        bak.display()
    );
    match current
        .as_deref()
        .map(|raw| openclaw_config::parse(raw, config))
    {
        None => s.push_str("\nthe config file is missing now"),
        Some(Err(e)) => s.push_str(&format!("\nthe current file is invalid: `{e}`")),
        Some(Ok(cur)) => {
            let d = diff(&cur.value, &parsed.value);
            if d.is_empty() {
                return Err(format!(
                    "{}'s config already equals its backup; nothing to roll back",
                    t.name
                ));
            }
            s.push_str("\nchanges:");
            for line in d.iter().take(MAX_DIFF_LINES) {
                s.push_str(&format!("\n• {line}"));
            }
            if d.len() > MAX_DIFF_LINES {
                s.push_str(&format!("\n• … and {} more", d.len() - MAX_DIFF_LINES));
            }
        }
    }
    Ok((
        Change::Rollback {
            base_hash,
            backup_hash,
        },
        s,
    ))
}

/// The service and route of a lifecycle operation on `inst`, and the
/// service file under its name that is another instance's, if any (then
/// the route is the owner record: that service is never touched).
fn route_of(
    ctx: &Ctx<'_>,
    inst: &Instance,
) -> Result<(InstanceService, Route, Option<ForeignService>), String> {
    let svc = InstanceService::for_instance(ctx.host, inst.clone()).map_err(|e| e.to_string())?;
    let (own, foreign) = match svc.ownership() {
        Ok(Ownership::Own(_)) => (true, None),
        Ok(Ownership::Absent) => (false, None),
        Ok(Ownership::Foreign(o)) => (false, Some(o)),
        Err(e) => return Err(format!("cannot tell whose service {} is: {e}", svc.name())),
    };
    let available = own
        && svc
            .manager
            .check_available(&svc.spec, &ProcessRunner::default())
            .is_ok();
    let route = rescue_route(own, available);
    Ok((svc, route, foreign))
}

fn prepare_life(ctx: &Ctx<'_>, t: &Target, op: LifeOp) -> Result<(Change, String), String> {
    let inst = match (&t.instance, op) {
        (Ok(i), _) => i,
        // Stopping needs no config: the owner record says what runs.
        (Err(_), LifeOp::Stop) => &t.fallback,
        (Err(e), _) => {
            return Err(format!(
                "not {}ing {}: its config does not load, so its gateway would not start:\n`{}`\nfix it first: /config {} rollback, or /config {} set <path> <value>",
                op.word(),
                t.name,
                first_line(e),
                t.name,
                t.name
            ));
        }
    };
    let running = openclaw_state::owner::live_owner(t.state_dir());
    let (svc, route, foreign) = route_of(ctx, inst)?;
    let mut how = match route {
        Route::Manager => format!("through its service {}", svc.name()),
        Route::OwnerRecord => match op {
            LifeOp::Stop => "by signalling the process in its owner record".into(),
            LifeOp::Start => "as a detached gateway (no service installed)".into(),
            LifeOp::Restart if running.is_some() => {
                "by its owner record, then as a detached gateway with the flags it had".into()
            }
            LifeOp::Restart => "as a detached gateway (no service installed)".into(),
        },
    };
    if let Some(o) = &foreign {
        how.push_str(&format!(" ({o}; it is left alone)"));
    }
    let now = match &running {
        Some(o) => format!("running now (pid {}, port {})", o.pid, o.port),
        None => "stopped now".into(),
    };
    match (op, &running, route) {
        (LifeOp::Stop, None, Route::OwnerRecord) => {
            return Err(format!("{} is not running; nothing to stop", t.name));
        }
        (LifeOp::Start, Some(o), _) => {
            return Err(format!(
                "{} is already running (pid {}, port {}); /restart {} restarts it",
                t.name, o.pid, o.port, t.name
            ));
        }
        _ => {}
    }
    Ok((
        Change::Life(op),
        format!(
            "{} {} (state dir `{}`, port {}), {now}, {how}",
            op.word(),
            t.title(),
            t.state_dir().display(),
            inst.ports.gateway.value
        ),
    ))
}

/// Carries out a confirmed change on `t` (resolved again just now).
pub fn execute(ctx: &Ctx<'_>, t: &Target, change: &Change) -> Result<String, String> {
    match change {
        Change::Set {
            path,
            value,
            base_hash,
        } => write_config(t, base_hash.as_deref(), |doc| {
            openclaw_config::set_path(doc, path, value.clone()).map_err(|e| e.to_string())
        })
        .map(|()| {
            format!(
                "done: {path} = {} in {}'s config `{}`{}",
                show(Some(path), value),
                t.name,
                t.config_path().display(),
                reload_note(t)
            )
        }),
        Change::Unset { path, base_hash } => write_config(t, base_hash.as_deref(), |doc| {
            openclaw_config::unset_path(doc, path)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .map(|()| {
            format!(
                "done: {path} removed from {}'s config `{}`{}",
                t.name,
                t.config_path().display(),
                reload_note(t)
            )
        }),
        Change::Rollback {
            base_hash,
            backup_hash,
        } => rollback(t, base_hash.as_deref(), backup_hash),
        Change::Life(op) => life(ctx, t, *op),
    }
}

fn reload_note(t: &Target) -> String {
    match openclaw_state::owner::live_owner(t.state_dir()) {
        Some(o) => format!(
            "\nits gateway (pid {}) picks the change up by itself; gateway.port or gateway.bind need /restart {}",
            o.pid, t.name
        ),
        None => format!("\nit is not running: /start {}", t.name),
    }
}

fn write_err(t: &Target, e: StateError) -> String {
    match e {
        StateError::Conflict { .. } | StateError::BaseHashRequired { .. } => format!(
            "not done: {}'s config changed since you asked (its content hash differs); nothing was written. Ask again to see the change against the current file.",
            t.name
        ),
        StateError::Invalid { error, .. } => {
            format!("not done: the result would not be a valid config:\n`{error}`")
        }
        other => format!("not done: {other}"),
    }
}

fn write_config(
    t: &Target,
    base_hash: Option<&str>,
    f: impl FnOnce(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
    ConfigStore::new(t.config_path())
        .update_based(base_hash, f)
        .map(|_| ())
        .map_err(|e| write_err(t, e))
}

fn rollback(t: &Target, base_hash: Option<&str>, backup_hash: &str) -> Result<String, String> {
    let store = ConfigStore::new(t.config_path());
    let bak = store.backup_path();
    let backup = std::fs::read(&bak)
        .map_err(|e| format!("not done: cannot read `{}`: {e}", bak.display()))?;
    if openclaw_config::hash(&backup) != backup_hash {
        return Err(format!(
            "not done: the backup `{}` changed since you asked; nothing was written. Ask again.",
            bak.display()
        ));
    }
    let text = String::from_utf8_lossy(&backup).into_owned();
    store
        .replace_raw_based(base_hash, &text)
        .map_err(|e| write_err(t, e))?;
    // Read back through the same loader the gateway uses.
    match ConfigStore::new(t.config_path()).load() {
        Ok(Some(_)) => Ok(format!(
            "done: {}'s config `{}` is the backup again, and it validates (the replaced file is now `{}`){}",
            t.name,
            t.config_path().display(),
            bak.display(),
            reload_note(t)
        )),
        Ok(None) => Err(format!(
            "the config `{}` is gone",
            t.config_path().display()
        )),
        Err(e) => Err(format!(
            "written, but it does not load: `{}`",
            config_error(&e)
        )),
    }
}

fn life(ctx: &Ctx<'_>, t: &Target, op: LifeOp) -> Result<String, String> {
    let inst = match (&t.instance, op) {
        (Ok(i), _) => i.clone(),
        (Err(_), LifeOp::Stop) => t.fallback.clone(),
        (Err(e), _) => {
            return Err(format!(
                "not done: {}'s config does not load, so its gateway would not start:\n`{}`",
                t.name,
                first_line(e)
            ));
        }
    };
    let (svc, route, _) = route_of(ctx, &inst)?;
    let env = ChildEnv::Scratch(ctx.env.to_vec());
    let exe = ctx.host.exe.as_path();
    let mut lines = Lines::default();
    let running = openclaw_state::owner::live_owner(t.state_dir()).is_some();
    let r = match (route, op) {
        (Route::Manager, op) => {
            let sop = match op {
                LifeOp::Start => ServiceOp::Start,
                LifeOp::Stop => ServiceOp::Stop,
                LifeOp::Restart => ServiceOp::Restart,
            };
            lifecycle::service_op(&svc, sop, exe, &env, &mut lines)
        }
        (Route::OwnerRecord, LifeOp::Stop) => {
            lifecycle::stop_unmanaged(&svc, false, exe, &env, &mut lines)
        }
        (Route::OwnerRecord, LifeOp::Restart) if running => {
            lifecycle::stop_unmanaged(&svc, true, exe, &env, &mut lines)
        }
        (Route::OwnerRecord, _) => {
            lifecycle::start_detached(&inst, &[], None, exe, &env, &mut lines)
        }
    };
    let done = lines.0.join("\n");
    match r {
        Ok(()) if op == LifeOp::Stop => Ok(format!("done: {} is stopped\n{done}", t.name)),
        Ok(()) => {
            let up = openclaw_state::owner::live_owner(t.state_dir()).map(|o| {
                let h = live::probe_health(o.port, Duration::from_millis(800));
                (o, h)
            });
            Ok(match up {
                Some((o, h)) if h.ok => format!(
                    "done: {} is up: pid {}, port {}, /healthz answers ({})\n{done}",
                    t.name, o.pid, o.port, h.detail
                ),
                Some((o, h)) => format!(
                    "{} runs (pid {}, port {}) but /healthz does not answer: {}\n{done}",
                    t.name, o.pid, o.port, h.detail
                ),
                None => format!("{} is not running after all\n{done}", t.name),
            })
        }
        Err(e) => {
            let mut s = format!("FAILED to {} {}: {e}", op.word(), t.name);
            if !done.is_empty() {
                s.push_str(&format!("\n{done}"));
            }
            for log in [
                openclaw_state::logs::gateway_log_path(t.state_dir()),
                lifecycle::detached_log(t.state_dir()),
            ] {
                if let Some(lines) = tail(&log, WHY_LOG_LINES) {
                    s.push_str(&format!(
                        "\nlast lines of `{}`:\n{}",
                        log.display(),
                        fenced(&lines)
                    ));
                }
            }
            Err(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_broken_config_still_gives_up_its_secrets() {
        let raw = "{\n  models: { providers: { x: { apiKey: \"sk-abc123456789\",, baseUrl: 'http://h' } } },\n  'token': 'tok-abcdefgh', \"password\" = hunter2hunter2,\n  note: \"apiKey: not-a-key-value\"\n";
        let found = scan_secrets(raw);
        assert_eq!(
            found,
            ["sk-abc123456789", "tok-abcdefgh", "hunter2hunter2"],
            "{found:?}"
        );
        assert!(scan_secrets("{ apiKey: ").is_empty());
    }

    #[test]
    fn values_are_shown_without_secrets() {
        assert_eq!(show(Some("gateway.port"), &json!(19001)), "19001");
        assert_eq!(show(Some("gateway.bind"), &json!("lan")), "\"lan\"");
        assert_eq!(
            show(Some("channels.telegram.botToken"), &json!("123:abc")),
            "<redacted>"
        );
        assert_eq!(
            show(
                Some("gateway.auth"),
                &json!({"mode": "token", "token": "s3cr3t"})
            ),
            "{\"mode\":\"token\",\"token\":\"<redacted>\"}"
        );
        assert_eq!(show(None, &json!("https://u:pw@h/x")), "<redacted>");
        assert!(show(None, &json!("x".repeat(5000))).ends_with("[cut at 3000 characters]"));
    }

    #[test]
    fn diff_names_each_changed_key() {
        let before = json!({"gateway": {"port": 1, "auth": {"token": "old-secret"}}, "a": [1]});
        let after = json!({"gateway": {"port": 2, "auth": {"token": "new-secret"}}, "b": true});
        assert_eq!(
            diff(&before, &after),
            [
                "gateway.port: 1 → 2",
                "gateway.auth.token: <redacted> → <redacted>",
                "a: [1] → (not set)",
                "b: (not set) → true",
            ]
        );
        assert!(diff(&before, &before).is_empty());
    }
}
