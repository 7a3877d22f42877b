//! Doctor's facts and checks: this instance and every other instance on the
//! host, for the things that break running several gateways side by side.
//! Used by `openclaw doctor` and by the rescue role's `/doctor`.
//!
//! Checks: port footprints that overlap between instances (base, browser
//! control, canvas, CDP range and explicit `canvasHost.port` /
//! `browser.profiles.*.cdpPort` overrides), a config file or workspace shared
//! by two instances, the same `browser.cdpUrl` (or a profile's `cdpUrl`)
//! pinned on several instances, an installed service whose file names other
//! paths or another port than the CLI resolves (drift), loose permissions on
//! state dirs (want 0700), config files and credentials (want 0600),
//! state dirs whose names differ only by case, and channel credentials two
//! instances share: one Telegram bot token (`shared-bot-token`), one IRC nick
//! on one server or one Matrix user (`shared-channel-login`).
//!
//! Every finding has a severity, says what and where, and carries the exact
//! command that fixes it. [`apply`] carries out the safe fixes (move a
//! colliding instance to a free port footprint, tighten permissions).
//!
//! This module gathers the facts (every instance's config, owner record,
//! service file, file modes) and applies the fixes; the rules (what
//! collides, which instance moves, the report) are `openclaw_ops::doctor`,
//! with table tests.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};

use openclaw_instance::{ConfigFacts, DEFAULT_PORT, Footprint, Instance, InstancePaths, Purpose};
use openclaw_state::InstanceRecord;
use serde_json::json;

use crate::hosts;
use crate::services::{HostSource, InstanceService};
use openclaw_ops::render::tilde;

/// Whether `port` can be bound on 127.0.0.1 right now.
fn port_is_free(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Whom doctor runs for.
pub struct Scope<'a> {
    /// The instance the command was run for (its paths, which need no
    /// config).
    pub current: &'a InstancePaths,
    /// Whether that instance was named (`--profile`, `OPENCLAW_STATE_DIR`,
    /// a rescue target): then "not set up" is a finding.
    pub explicit: bool,
    /// For the service checks.
    pub host: &'a dyn HostSource,
    /// `TELEGRAM_BOT_TOKEN` as the current instance's gateway would see it
    /// (the CLI's own environment; `None` from a rescue gateway, whose
    /// environment is not the target's).
    pub telegram_env: Option<String>,
}

pub use openclaw_ops::doctor::{Action, DoctorReport, Finding, Peer, Severity};

/// One instance as doctor sees it.
pub struct Item {
    pub record: InstanceRecord,
    pub label: String,
    cli: String,
    instance: Result<Instance, String>,
    paths: Option<openclaw_instance::InstancePaths>,
    facts: ConfigFacts,
    config: Option<openclaw_config::Config>,
    /// Its gateway, when a live owner record says one runs.
    running: Option<crate::live::Running>,
}

/// Every instance on the host, plus the current one when it is set up but
/// not recorded.
pub fn gather(scope: &Scope<'_>) -> Vec<Item> {
    let current = scope.current;
    let home = current.home.value.clone();
    let mut known = hosts::known_instances(&home);
    // The current instance, when it is set up but not (yet) recorded.
    if current.config_path.value.is_file()
        && !known
            .iter()
            .any(|k| hosts::same_path(&k.record.state_dir, &current.state_dir.value))
    {
        let record = InstanceRecord {
            profile: current.profile.clone(),
            state_dir: current.state_dir.value.clone(),
            config_path: current.config_path.value.clone(),
        };
        let instance = openclaw_state::ConfigStore::new(current.config_path.value.clone())
            .load()
            .map_err(|e| e.to_string())
            .and_then(|l| {
                let facts = l
                    .map(|l| l.parsed.config.instance_facts())
                    .unwrap_or_default();
                openclaw_instance::resolve(current, &facts, None)
                    .map(|i| hosts::with_neighbours(i, &hosts::records(&home)))
                    .map_err(|e| e.to_string())
            });
        known.push(hosts::KnownInstance { record, instance });
    }
    known
        .into_iter()
        .map(|mut k| {
            // The names its installed service has, as every command sees them.
            k.instance = k
                .instance
                .map(|i| crate::services::with_installed_names(scope.host, i));
            let label = hosts::label(&k);
            let config = openclaw_state::ConfigStore::new(k.record.config_path.clone())
                .load()
                .ok()
                .flatten()
                .map(|l| l.parsed.config);
            let facts = config
                .as_ref()
                .map(|c| c.instance_facts())
                .unwrap_or_default();
            let paths = hosts::record_paths(&home, &k.record).ok();
            // From the paths, so the hint is right even when the config is not.
            let cli = match &paths {
                Some(p) => p.cli_prefix(),
                None => "openclaw".into(),
            };
            Item {
                paths,
                running: crate::live::running(&k.record.state_dir),
                record: k.record,
                label,
                cli,
                instance: k.instance,
                facts,
                config,
            }
        })
        .collect()
}

impl Item {
    /// This instance as the rules see it.
    fn peer(&self) -> Peer {
        Peer {
            label: self.label.clone(),
            cli: self.cli.clone(),
            config_path: self.record.config_path.clone(),
            running: self.running.is_some(),
            default_profile: openclaw_ops::doctor::is_default_profile(
                self.record.profile.as_deref(),
                &self.record.state_dir,
            ),
            instance: self.instance.as_ref().ok().cloned(),
        }
    }
}

fn peers(items: &[Item]) -> Vec<Peer> {
    items.iter().map(Item::peer).collect()
}

/// Index of the instance that moves when `a` (earlier) and `b` collide.
fn mover(items: &[Item], a: usize, b: usize) -> usize {
    openclaw_ops::doctor::mover(&peers(items), a, b)
}

/// Every finding about `items` (from [`gather`]), errors first.
pub fn check(scope: &Scope<'_>, items: &[Item]) -> Vec<Finding> {
    let mut out = Vec::new();
    let current = scope.current;
    let home = current.home.value.clone();

    // This instance, when it was selected explicitly (or is all there is).
    let explicit = scope.explicit || items.is_empty();
    if explicit && !current.config_path.value.exists() {
        out.push(Finding {
            severity: Severity::Info,
            check: "not-set-up",
            message: format!(
                "this instance ({}) is not set up: {} does not exist",
                current.cli_prefix(),
                current.config_path.value.display()
            ),
            location: vec![current.config_path.value.clone()],
            instances: vec![],
            fix: Some(format!("{} onboard", current.cli_prefix())),
            auto_fixable: false,
            action: None,
        });
    }
    for it in items {
        if let Err(e) = &it.instance {
            out.push(Finding {
                severity: Severity::Error,
                check: "invalid-config",
                message: format!("{} cannot be resolved: {e}", it.label),
                location: vec![it.record.config_path.clone()],
                instances: vec![it.label.clone()],
                fix: Some(format!("{} config validate", it.cli)),
                auto_fixable: false,
                action: None,
            });
        }
    }

    ports(items, &mut out);
    foreign_listeners(items, &mut out);
    overridden_ports(scope.host, items, &mut out);
    shared_paths(items, &home, &mut out);
    shared_service_names(scope.host, items, &mut out);
    cdp_urls(items, &mut out);
    drift(scope.host, items, &mut out);
    permissions(items, &mut out);
    case_only(&home, &mut out);
    telegram_tokens(scope, items, &mut out);
    net_logins(items, &mut out);
    out.sort_by_key(|f| f.severity);
    out
}

fn ports(items: &[Item], out: &mut Vec<Finding>) {
    let found =
        openclaw_ops::doctor::port_overlaps(&peers(items), |m, others| new_base(&items[m], others));
    out.extend(found);
}

/// A running gateway that listens on a port of another instance's
/// footprint, where its own config does not put it (e.g. started with
/// `--port`): the other instance cannot bind that port while it runs. Cases
/// where the configs themselves overlap are `port-overlap` findings.
fn foreign_listeners(items: &[Item], out: &mut Vec<Finding>) {
    for (i, it) in items.iter().enumerate() {
        let Some(run) = &it.running else { continue };
        let own = it.instance.as_ref().ok().map(|x| x.footprint());
        let mut ports: Vec<u16> = run.listeners.iter().map(|l| l.port).collect();
        if ports.is_empty() {
            ports.push(run.port);
        }
        for port in ports {
            if own
                .as_ref()
                .is_some_and(|f| f.ranges.iter().any(|r| r.contains(port)))
            {
                continue;
            }
            for (j, other) in items.iter().enumerate() {
                if i == j {
                    continue;
                }
                let Ok(oi) = &other.instance else { continue };
                let fp = oi.footprint();
                let Some(range) = fp.ranges.iter().find(|r| r.contains(port)) else {
                    continue;
                };
                let blocks_start = !matches!(range.purpose, Purpose::CdpRange);
                out.push(Finding {
                    severity: if blocks_start {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    check: "foreign-listener",
                    message: format!(
                        "{}'s gateway (pid {}) listens on port {port}, which is {}'s {range}; {}",
                        it.label,
                        run.pid,
                        other.label,
                        if blocks_start {
                            format!("{} cannot start while it does", other.label)
                        } else {
                            format!(
                                "a browser profile of {} that gets this port fails",
                                other.label
                            )
                        }
                    ),
                    location: vec![
                        it.record.state_dir.join(openclaw_state::owner::OWNER_FILE),
                        other.record.config_path.clone(),
                    ],
                    instances: vec![it.label.clone(), other.label.clone()],
                    fix: Some(format!(
                        "{} gateway stop && {} gateway   (starts it on its configured port {})",
                        it.cli,
                        it.cli,
                        it.instance
                            .as_ref()
                            .map(|x| x.ports.gateway.value.to_string())
                            .unwrap_or_else(|_| "?".into())
                    )),
                    auto_fixable: false,
                    action: None,
                });
            }
        }
    }
}

/// A running gateway on another port than its config says: its
/// `gateway.port` is overridden by `--port` (every service unit passes
/// one, and a unit written before the port changed passes the old one) or
/// by `OPENCLAW_GATEWAY_PORT`, so the config's port is not in force.
fn overridden_ports(host: &dyn HostSource, items: &[Item], out: &mut Vec<Finding>) {
    for it in items {
        let (Some(run), Ok(inst)) = (&it.running, &it.instance) else {
            continue;
        };
        let want = inst.ports.gateway.value;
        if run.port == want {
            continue;
        }
        let own_service = InstanceService::for_instance(host, inst.clone())
            .ok()
            .and_then(|svc| svc.ownership().ok().map(|o| (o.is_own(), svc.name())));
        let (how, fix) = match own_service {
            Some((true, name)) => (
                format!("the --port of its service {name} (or OPENCLAW_GATEWAY_PORT)"),
                format!(
                    "{} gateway install --force && {} gateway restart",
                    it.cli, it.cli
                ),
            ),
            _ => (
                "--port or OPENCLAW_GATEWAY_PORT where it was started".to_string(),
                format!("{} gateway stop && {} gateway", it.cli, it.cli),
            ),
        };
        out.push(Finding {
            severity: Severity::Warning,
            check: "port-overridden",
            message: format!(
                "{}'s gateway (pid {}) runs on port {}, but it resolves port {want} ({}): {how} overrides it, so a gateway.port change is not in force",
                it.label, run.pid, run.port, inst.ports.gateway.source
            ),
            location: vec![
                it.record.config_path.clone(),
                it.record.state_dir.join(openclaw_state::owner::OWNER_FILE),
            ],
            instances: vec![it.label.clone()],
            fix: Some(fix),
            auto_fixable: false,
            action: None,
        });
    }
}

/// The lowest base port (from 18789) whose footprint for `it` is free on
/// this host and clear of the `others` footprints.
fn new_base(it: &Item, others: &[Footprint]) -> Option<(u16, Footprint)> {
    let paths = it.paths.as_ref()?;
    let facts = &it.facts;
    let footprint_of = |b: u16| {
        let f = ConfigFacts {
            gateway_port: Some(b),
            ..facts.clone()
        };
        openclaw_instance::resolve(paths, &f, None)
            .ok()
            .map(|i| i.footprint())
    };
    let to = openclaw_instance::choose_base_port(DEFAULT_PORT, others, footprint_of, port_is_free)?;
    Some((to, footprint_of(to)?))
}

fn shared_paths(items: &[Item], home: &Path, out: &mut Vec<Finding>) {
    for a in 0..items.len() {
        for b in (a + 1)..items.len() {
            let (ia, ib) = (&items[a], &items[b]);
            if hosts::same_path(&ia.record.config_path, &ib.record.config_path) {
                out.push(Finding {
                    severity: Severity::Error,
                    check: "shared-config",
                    message: format!(
                        "{} and {} use the same config file {}: a change for one changes the other, and both claim the same port",
                        ia.label,
                        ib.label,
                        tilde(&ia.record.config_path, home)
                    ),
                    location: vec![ia.record.config_path.clone()],
                    instances: vec![ia.label.clone(), ib.label.clone()],
                    fix: Some(format!(
                        "give {} its own config: OPENCLAW_STATE_DIR={} OPENCLAW_CONFIG_PATH={} openclaw setup",
                        ib.label,
                        openclaw_instance::shell_quote(&ib.record.state_dir.display().to_string()),
                        openclaw_instance::shell_quote(
                            &ib.record.state_dir.join("openclaw.json").display().to_string()
                        )
                    )),
                    auto_fixable: false,
                    action: None,
                });
            }
            if let (Ok(x), Ok(y)) = (&ia.instance, &ib.instance)
                && hosts::same_path(&x.workspace.value, &y.workspace.value)
            {
                let m = mover(items, a, b);
                let mi = &items[m];
                let suggested = match &mi.record.profile {
                    Some(p) => format!("~/.openclaw/workspace-{p}"),
                    None => mi.record.state_dir.join("workspace").display().to_string(),
                };
                out.push(Finding {
                    severity: Severity::Error,
                    check: "shared-workspace",
                    message: format!(
                        "{} and {} share the workspace {}: their agents would read and write the same files",
                        ia.label,
                        ib.label,
                        tilde(&x.workspace.value, home)
                    ),
                    location: vec![
                        x.workspace.value.clone(),
                        ia.record.config_path.clone(),
                        ib.record.config_path.clone(),
                    ],
                    instances: vec![ia.label.clone(), ib.label.clone()],
                    fix: Some(format!(
                        "{} config set agents.defaults.workspace {}",
                        mi.cli,
                        openclaw_instance::shell_quote(&suggested)
                    )),
                    auto_fixable: false,
                    action: None,
                });
            }
        }
    }
}

/// Two instances whose services would have the same name: installing one
/// would replace the other's service. When that name is installed already,
/// the instance it does not belong to gets `service-owned-by-other` (from
/// [`drift`]) instead, with the fix for that case.
fn shared_service_names(host: &dyn HostSource, items: &[Item], out: &mut Vec<Finding>) {
    for a in 0..items.len() {
        for b in (a + 1)..items.len() {
            let (ia, ib) = (&items[a], &items[b]);
            let (Ok(x), Ok(y)) = (&ia.instance, &ib.instance) else {
                continue;
            };
            if hosts::same_path(&x.state_dir.value, &y.state_dir.value) {
                continue;
            }
            let Some((manager, name)) = x.services.clash(&y.services) else {
                continue;
            };
            let Ok(svc) = InstanceService::for_instance(host, y.clone()) else {
                continue;
            };
            if !matches!(svc.ownership(), Ok(openclaw_service::Ownership::Absent)) {
                continue;
            }
            // The one that moves takes a free profile name, keeping its
            // state dir and config.
            let base = y
                .profile
                .clone()
                .or_else(|| {
                    openclaw_instance::ServiceNames::state_dir_name(&y.state_dir.value)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "gateway".into());
            let installed = |p: &str| {
                let mut probe = svc.spec.clone();
                probe.names = openclaw_instance::ServiceNames::for_profile(Some(p));
                svc.manager.definition_path(&probe).exists()
            };
            let free = crate::services::free_profile_name(&y.home, &base, &installed);
            let q = |p: &Path| openclaw_instance::shell_quote(&p.display().to_string());
            out.push(Finding {
                severity: Severity::Error,
                check: "shared-service-name",
                message: format!(
                    "{} ({}) and {} ({}) map to the same {manager} {name}: installing one would replace the other's service",
                    ia.label,
                    x.state_dir.value.display(),
                    ib.label,
                    y.state_dir.value.display()
                ),
                location: vec![ia.record.config_path.clone(), ib.record.config_path.clone()],
                instances: vec![ia.label.clone(), ib.label.clone()],
                fix: Some(format!(
                    "give {} a profile name of its own (not {}'s), keeping its state dir: OPENCLAW_STATE_DIR={} OPENCLAW_CONFIG_PATH={} openclaw --profile {free} setup",
                    ib.label,
                    ia.label,
                    q(&y.state_dir.value),
                    q(&y.config_path.value)
                )),
                auto_fixable: false,
                action: None,
            });
        }
    }
}

/// `browser.cdpUrl` and `browser.profiles.<name>.cdpUrl` of one config.
fn cdp_urls_of(c: &openclaw_config::Config) -> Vec<(String, String)> {
    let mut v = Vec::new();
    if let Some(b) = &c.browser {
        if let Some(u) = &b.cdp_url {
            v.push(("browser.cdpUrl".to_string(), u.clone()));
        }
        for (name, p) in b.profiles.iter().flatten() {
            if let Some(u) = &p.cdp_url {
                v.push((format!("browser.profiles.{name}.cdpUrl"), u.clone()));
            }
        }
    }
    v
}

fn cdp_urls(items: &[Item], out: &mut Vec<Finding>) {
    let urls: Vec<Vec<(String, String)>> = items
        .iter()
        .map(|it| it.config.as_ref().map(cdp_urls_of).unwrap_or_default())
        .collect();
    out.extend(openclaw_ops::doctor::shared_cdp_urls(&peers(items), &urls));
}

fn drift(host: &dyn HostSource, items: &[Item], out: &mut Vec<Finding>) {
    for it in items {
        let Ok(inst) = &it.instance else { continue };
        let Ok(svc) = InstanceService::for_instance(host, inst.clone()) else {
            continue;
        };
        let installed = match svc.ownership() {
            Ok(openclaw_service::Ownership::Own(f)) => f,
            Ok(openclaw_service::Ownership::Absent) => continue,
            Ok(openclaw_service::Ownership::Foreign(o)) => {
                out.push(Finding {
                    severity: Severity::Error,
                    check: "service-owned-by-other",
                    message: format!(
                        "the installed unit belongs to another instance: {}'s service name {} is installed for {} (state dir {}), so {} has no service of its own and its gateway commands leave that one alone",
                        it.label,
                        o.service,
                        o.owner,
                        o.state_dir.display(),
                        it.label
                    ),
                    location: vec![o.path.clone()],
                    instances: vec![it.label.clone()],
                    fix: Some(svc.foreign_fix(&o)),
                    auto_fixable: false,
                    action: None,
                });
                continue;
            }
            Err(e) => {
                out.push(Finding {
                    severity: Severity::Warning,
                    check: "service-unreadable",
                    message: format!("{}'s service file cannot be read: {e}", it.label),
                    location: vec![svc.definition_path()],
                    instances: vec![it.label.clone()],
                    fix: Some(format!("{} gateway install --force", it.cli)),
                    auto_fixable: false,
                    action: None,
                });
                continue;
            }
        };
        let d = openclaw_service::drift(&svc.spec, svc.manager.platform(), &installed);
        if d.is_empty() {
            continue;
        }
        let only_exe = d.iter().all(|x| x.key == "executable");
        out.push(Finding {
            severity: if only_exe {
                Severity::Warning
            } else {
                Severity::Error
            },
            check: "service-drift",
            message: format!(
                "{}'s service {} does not match what the CLI resolves: {}",
                it.label,
                svc.name(),
                d.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            location: vec![svc.definition_path(), it.record.config_path.clone()],
            instances: vec![it.label.clone()],
            fix: Some(format!("{} gateway install --force", it.cli)),
            auto_fixable: false,
            action: None,
        });
    }
}

#[cfg(unix)]
fn mode_of(p: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> Option<u32> {
    None
}

fn permissions(items: &[Item], out: &mut Vec<Finding>) {
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut check = |path: &Path, want: u32, what: &str, severity: Severity, label: &str| {
        if seen.iter().any(|s| s == path) {
            return;
        }
        seen.push(path.to_path_buf());
        let Some(mode) = mode_of(path) else { return };
        out.extend(openclaw_ops::doctor::permission_finding(
            path, mode, want, what, severity, label,
        ));
    };
    for it in items {
        let l = it.label.as_str();
        check(
            &it.record.state_dir,
            0o700,
            "state dir",
            Severity::Warning,
            l,
        );
        check(
            &it.record.config_path,
            0o600,
            "config file (holds the gateway token)",
            Severity::Error,
            l,
        );
        let creds = it.record.state_dir.join("credentials");
        if creds.is_dir() {
            check(&creds, 0o700, "credentials dir", Severity::Error, l);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&creds)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for f in files {
                check(&f, 0o600, "credentials file", Severity::Error, l);
            }
        }
    }
}

fn case_only(home: &Path, out: &mut Vec<Finding>) {
    let names: Vec<String> = std::fs::read_dir(home)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    out.extend(openclaw_ops::doctor::case_only(home, &names));
}

/// Applies one fix; returns the change made.
pub fn apply(action: &Action) -> Result<String, String> {
    match action {
        Action::MovePort {
            label,
            config,
            from,
            to,
            footprint,
        } => {
            openclaw_state::ConfigStore::new(config.clone())
                .update(None, |v: &mut serde_json::Value| {
                    openclaw_config::set_path(v, "gateway.port", json!(to))
                        .map_err(|e| e.to_string())
                })
                .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
            let ranges = footprint
                .ranges
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            Ok(format!(
                "moved {label} from base port {from} to {to} ({ranges}); saved gateway.port in {}",
                config.display()
            ))
        }
        Action::Chmod { path, mode } => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let before = mode_of(path).unwrap_or(0);
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                    .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
                Ok(format!(
                    "set mode {mode:04o} on {} (was {before:04o})",
                    path.display()
                ))
            }
            #[cfg(not(unix))]
            {
                Err(format!(
                    "cannot change modes on this platform: {}",
                    path.display()
                ))
            }
        }
    }
}

/// The same Telegram bot token on two instances (compared by SHA-256
/// fingerprint; the rule is `openclaw_channels::token::shared_tokens`).
fn telegram_tokens(scope: &Scope<'_>, items: &[Item], out: &mut Vec<Finding>) {
    let home = &scope.current.home.value;
    let tokens: Vec<_> = items
        .iter()
        .filter_map(|it| {
            let current = hosts::same_path(&it.record.state_dir, &scope.current.state_dir.value);
            let env = current.then(|| scope.telegram_env.clone()).flatten();
            instance_token(
                &it.label,
                &it.record.state_dir,
                it.config.as_ref(),
                home,
                env.as_deref(),
            )
        })
        .collect();
    for s in openclaw_channels::token::shared_tokens(&tokens) {
        let cli = |label: &str| {
            items
                .iter()
                .find(|i| i.label == label)
                .map(|i| i.cli.clone())
                .unwrap_or_else(|| "openclaw".into())
        };
        out.push(Finding {
            severity: Severity::Error,
            check: "shared-bot-token",
            message: s.to_string(),
            location: vec![s.a.state_dir.clone(), s.b.state_dir.clone()],
            instances: vec![s.a.label.clone(), s.b.label.clone()],
            fix: Some(format!(
                "{} config set channels.telegram.botToken <ANOTHER_TOKEN>",
                cli(&s.b.label)
            )),
            auto_fixable: false,
            action: None,
        });
    }
}

/// An instance's Telegram token fingerprint, when it has a token. `env` is
/// `TELEGRAM_BOT_TOKEN` as the instance's gateway would see it (known only
/// for the current instance: this shell's).
pub fn instance_token(
    label: &str,
    state_dir: &std::path::Path,
    config: Option<&openclaw_config::Config>,
    home: &std::path::Path,
    env: Option<&str>,
) -> Option<openclaw_channels::token::InstanceToken> {
    let tg = config?.channels.as_ref()?.telegram.as_ref()?;
    if !tg.enabled() {
        return None;
    }
    let token = openclaw_channels::token::resolve(tg, home, env).ok()??;
    Some(openclaw_channels::token::InstanceToken {
        label: label.to_string(),
        state_dir: state_dir.to_path_buf(),
        fingerprint: token.fingerprint(),
    })
}

/// Two instances that log into the same IRC server with the same nick, or
/// as the same Matrix user (the rule is
/// `openclaw_config::channels_net::shared_net_logins`). A Matrix section
/// with only an `accessToken` is compared by the user its gateway last
/// reported (`channels/matrix/default/status.json`).
fn net_logins(items: &[Item], out: &mut Vec<Finding>) {
    use openclaw_config::channels_net::{NetKind, NetLogins, shared_net_logins};
    let seen: Vec<Option<String>> = items
        .iter()
        .map(|it| matrix_user_seen(&it.record.state_dir))
        .collect();
    let names: Vec<String> = items
        .iter()
        .map(|it| {
            it.label
                .strip_prefix("profile ")
                .unwrap_or(&it.label)
                .to_string()
        })
        .collect();
    let locations: Vec<String> = items
        .iter()
        .map(|it| it.record.config_path.display().to_string())
        .collect();
    let inputs: Vec<NetLogins> = items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let ch = it.config.as_ref().and_then(|c| c.channels.as_ref());
            NetLogins {
                profile: &names[i],
                location: &locations[i],
                irc: ch.and_then(|c| c.irc.as_deref()),
                matrix: ch.and_then(|c| c.matrix.as_deref()),
                matrix_user_seen: seen[i].as_deref(),
            }
        })
        .collect();
    for s in shared_net_logins(&inputs) {
        let second = items
            .iter()
            .enumerate()
            .find(|(i, _)| names[*i] == s.second.0 && locations[*i] == s.second.1)
            .map(|(_, it)| it);
        // The keys the second instance logs in with: a Matrix section with
        // only a token has no userId to change (setting one would break its
        // login), and a password login needs the other account's password.
        let cli = second.map(|i| i.cli.as_str()).unwrap_or("openclaw");
        let fix = match s.kind {
            NetKind::Irc => format!("{cli} config set channels.irc.nick <ANOTHER_NICK>"),
            NetKind::Matrix => second
                .and_then(|i| i.config.as_ref())
                .and_then(|c| c.channels.as_ref())
                .and_then(|c| c.matrix.as_deref())
                .map(|m| m.switch_account_commands())
                .unwrap_or_else(|| vec!["config set channels.matrix.userId <ANOTHER_USER_ID>"])
                .iter()
                .map(|c| format!("{cli} {c}"))
                .collect::<Vec<_>>()
                .join(" && "),
        };
        out.push(Finding {
            severity: Severity::Error,
            check: "shared-channel-login",
            message: s.to_string(),
            location: vec![PathBuf::from(&s.first.1), PathBuf::from(&s.second.1)],
            instances: items
                .iter()
                .filter(|it| {
                    let n = it.label.strip_prefix("profile ").unwrap_or(&it.label);
                    n == s.first.0 || n == s.second.0
                })
                .map(|it| it.label.clone())
                .collect(),
            fix: Some(fix),
            auto_fixable: false,
            action: None,
        });
    }
}

/// The Matrix user an instance's gateway last reported for its Matrix
/// channel (`channels/matrix/default/status.json`, running or not): whom a
/// config with only an access token logs in as. Doctor's shared-login rule
/// and onboarding's refusal both compare by it.
pub fn matrix_user_seen(state_dir: &std::path::Path) -> Option<String> {
    openclaw_channels::read_statuses(state_dir)
        .into_iter()
        .find(|s| s.channel == openclaw_channels::matrix::CHANNEL)
        .and_then(|s| s.bot_username)
}
