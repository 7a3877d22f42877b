//! `openclaw doctor`'s rules: what collides, which instance moves, and the
//! report. The command gathers every instance on the host (configs, owner
//! records, service files, modes) and applies the fixes; everything it
//! decides is here.
//!
//! Which instance moves when two collide (first rule that decides wins):
//! 1. one of them has a live gateway and the other does not → the stopped
//!    one moves (a running gateway keeps the ports it holds);
//! 2. one is the default profile (`~/.openclaw`) → the other moves;
//! 3. otherwise the one set up later moves: instances are ordered as the
//!    host registry recorded them at setup, so the first one keeps its port
//!    (main set up before rescue → rescue moves). The instance the command
//!    was run for gets no special treatment, so `doctor --fix` decides the
//!    same way whichever profile runs it.
//!
//! A port of the mover that is set explicitly in its config
//! (`canvasHost.port`, `browser.cdpPortRangeStart`,
//! `browser.profiles.<name>.cdpPort`) does not follow its base port, so such
//! a collision names the key to remove instead of moving the instance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openclaw_instance::{Footprint, Instance, Purpose, Source};
use serde::Serialize;

use crate::render::tilde;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A safe change `--fix` may apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Persist a new `gateway.port` in a config file.
    MovePort {
        label: String,
        config: PathBuf,
        from: u16,
        to: u16,
        footprint: Footprint,
    },
    /// Set a file or directory's mode.
    Chmod { path: PathBuf, mode: u32 },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier of the check, e.g. `port-overlap`.
    pub check: &'static str,
    /// What is wrong, naming every instance involved.
    pub message: String,
    /// Where: the files or directories involved.
    pub location: Vec<PathBuf>,
    /// The instances involved (labels).
    pub instances: Vec<String>,
    /// The exact command that fixes it.
    pub fix: Option<String>,
    /// `--fix` can apply this fix.
    pub auto_fixable: bool,
    #[serde(skip)]
    pub action: Option<Action>,
}

impl Finding {
    /// A finding without an automatic fix.
    pub fn new(severity: Severity, check: &'static str, message: String) -> Finding {
        Finding {
            severity,
            check,
            message,
            location: vec![],
            instances: vec![],
            fix: None,
            auto_fixable: false,
            action: None,
        }
    }
}

/// One instance on the host as the rules see it. Peers are ordered as the
/// host registry recorded them (setup order).
#[derive(Debug, Clone)]
pub struct Peer {
    pub label: String,
    /// The command prefix that selects it (`openclaw --profile rescue`).
    pub cli: String,
    pub config_path: PathBuf,
    /// A live owner record says its gateway runs.
    pub running: bool,
    /// It is the default profile (`~/.openclaw`).
    pub default_profile: bool,
    /// The resolved instance; `None` when its config does not resolve.
    pub instance: Option<Instance>,
}

/// Whether a registry record is the default profile: no profile name and
/// the state dir `~/.openclaw` (a custom state dir is not).
pub fn is_default_profile(profile: Option<&str>, state_dir: &Path) -> bool {
    profile.is_none() && state_dir.file_name().is_some_and(|n| n == ".openclaw")
}

/// Index of the instance that moves when `a` (set up earlier) and `b`
/// collide: the stopped one, else the non-default one, else `b`.
pub fn mover(peers: &[Peer], a: usize, b: usize) -> usize {
    match (peers[a].running, peers[b].running) {
        (true, false) => return b,
        (false, true) => return a,
        _ => {}
    }
    match (peers[a].default_profile, peers[b].default_profile) {
        (true, false) => return b,
        (false, true) => return a,
        _ => {}
    }
    b
}

/// The config key of an explicitly set port range of `inst`, if `purpose`
/// is one (such a port does not follow the base port when it moves).
pub fn override_key(inst: &Instance, purpose: &Purpose) -> Option<String> {
    match purpose {
        Purpose::Canvas => matches!(inst.ports.canvas.source, Source::Config(_))
            .then(|| "canvasHost.port".to_string()),
        Purpose::CdpRange => matches!(inst.ports.cdp_range.source, Source::Config(_))
            .then(|| "browser.cdpPortRangeStart".to_string()),
        Purpose::ExplicitCdp(name) => Some(format!("browser.profiles.{name}.cdpPort")),
        _ => None,
    }
}

/// `port-overlap` findings for every pair of peers whose footprints
/// overlap. `new_base(m, others)` finds a free base port and its footprint
/// for peer `m` clear of the `others` footprints (the caller probes the
/// host). A planned move updates the mover's working footprint, so later
/// pairs are checked against where it will be.
pub fn port_overlaps(
    peers: &[Peer],
    mut new_base: impl FnMut(usize, &[Footprint]) -> Option<(u16, Footprint)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut fps: Vec<Option<Footprint>> = peers
        .iter()
        .map(|p| p.instance.as_ref().map(|i| i.footprint()))
        .collect();
    let mut ports_now: Vec<u16> = peers
        .iter()
        .map(|p| {
            p.instance
                .as_ref()
                .map(|i| i.ports.gateway.value)
                .unwrap_or(0)
        })
        .collect();
    for a in 0..peers.len() {
        for b in (a + 1)..peers.len() {
            let (Some(fa), Some(fb)) = (&fps[a], &fps[b]) else {
                continue;
            };
            let overlaps = fa.overlaps(fb);
            let Some(first) = overlaps.first() else {
                continue;
            };
            let (la, lb) = (&peers[a].label, &peers[b].label);
            let mut detail = format!(
                "{la}'s {} and {lb}'s {} share port {}",
                first.ours, first.theirs, first.first_shared
            );
            if overlaps.len() > 1 {
                detail.push_str(&format!(
                    " (and {} more overlapping range{})",
                    overlaps.len() - 1,
                    if overlaps.len() > 2 { "s" } else { "" }
                ));
            }
            let m = mover(peers, a, b);
            let keeper = if m == a { b } else { a };
            let mut f = Finding {
                location: vec![peers[a].config_path.clone(), peers[b].config_path.clone()],
                instances: vec![la.clone(), lb.clone()],
                ..Finding::new(
                    Severity::Error,
                    "port-overlap",
                    format!(
                        "port footprints of {la} and {lb} overlap: {detail}; the two gateways cannot run together ({} would keep its ports, {} should move)",
                        peers[keeper].label, peers[m].label
                    ),
                )
            };
            // Which of the mover's ranges collide: an explicit override of
            // the mover does not move with its base port.
            let mover_fp = fps[m].clone().unwrap_or_else(|| Footprint::new(vec![]));
            let other_fp = fps[keeper]
                .clone()
                .unwrap_or_else(|| Footprint::new(vec![]));
            let pinned: Vec<String> = match &peers[m].instance {
                Some(inst) => mover_fp
                    .overlaps(&other_fp)
                    .iter()
                    .filter_map(|o| override_key(inst, &o.ours.purpose))
                    .collect(),
                None => vec![],
            };
            if !pinned.is_empty() {
                f.fix = Some(
                    pinned
                        .iter()
                        .map(|k| format!("{} config unset {k}", peers[m].cli))
                        .collect::<Vec<_>>()
                        .join(" && "),
                );
                f.message.push_str(&format!(
                    "; {}'s {} is set explicitly and does not follow its base port, so remove it (or set an unused port)",
                    peers[m].label,
                    pinned.join(", ")
                ));
            } else {
                let others: Vec<Footprint> = fps
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != m)
                    .filter_map(|(_, f)| f.clone())
                    .collect();
                if let Some((to, fp)) = new_base(m, &others) {
                    f.fix = Some(format!("{} config set gateway.port {to}", peers[m].cli));
                    f.auto_fixable = true;
                    f.action = Some(Action::MovePort {
                        label: peers[m].label.clone(),
                        config: peers[m].config_path.clone(),
                        from: ports_now[m],
                        to,
                        footprint: fp.clone(),
                    });
                    fps[m] = Some(fp);
                    ports_now[m] = to;
                } else {
                    f.fix = Some(format!(
                        "{} config set gateway.port <free base port>",
                        peers[m].cli
                    ));
                }
            }
            out.push(f);
        }
    }
    out
}

/// Normal form of a CDP URL for "the same endpoint" comparisons.
pub fn normalize_url(u: &str) -> String {
    u.trim()
        .trim_end_matches('/')
        .to_ascii_lowercase()
        .replace("://localhost:", "://127.0.0.1:")
}

/// `shared-cdp-url` findings: `urls[i]` lists peer `i`'s pinned CDP URLs as
/// `(config key, url)`. The first instance (setup order) keeps its URL.
pub fn shared_cdp_urls(peers: &[Peer], urls: &[Vec<(String, String)>]) -> Vec<Finding> {
    let mut out = Vec::new();
    // url -> [(peer index, key, raw)]
    let mut by_url: BTreeMap<String, Vec<(usize, &str, &str)>> = BTreeMap::new();
    for (i, list) in urls.iter().enumerate() {
        for (key, raw) in list {
            by_url
                .entry(normalize_url(raw))
                .or_default()
                .push((i, key, raw));
        }
    }
    for uses in by_url.values() {
        let mut distinct: Vec<usize> = uses.iter().map(|u| u.0).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 2 {
            continue;
        }
        let first = distinct[0];
        let names = uses
            .iter()
            .map(|(i, k, _)| format!("{}'s {k}", peers[*i].label))
            .collect::<Vec<_>>()
            .join(", ");
        let fix = uses
            .iter()
            .filter(|(i, _, _)| *i != first)
            .map(|(i, k, _)| format!("{} config unset {k}", peers[*i].cli))
            .collect::<Vec<_>>()
            .join(" && ");
        out.push(Finding {
            location: distinct
                .iter()
                .map(|i| peers[*i].config_path.clone())
                .collect(),
            instances: distinct.iter().map(|i| peers[*i].label.clone()).collect(),
            fix: Some(fix),
            ..Finding::new(
                Severity::Error,
                "shared-cdp-url",
                format!(
                    "the same browser CDP endpoint {} is pinned on several instances ({names}): their gateways would drive the same browser; give each instance its own (or let each use its own CDP range)",
                    uses[0].2
                ),
            )
        });
    }
    out
}

/// A `permissions` finding when `mode` lets other users in (`want` is the
/// mode to set, e.g. 0o700 for a directory, 0o600 for a secret file).
pub fn permission_finding(
    path: &Path,
    mode: u32,
    want: u32,
    what: &str,
    severity: Severity,
    label: &str,
) -> Option<Finding> {
    if mode & 0o077 == 0 {
        return None;
    }
    Some(Finding {
        location: vec![path.to_path_buf()],
        instances: vec![label.to_string()],
        fix: Some(format!(
            "chmod {want:o} {}",
            openclaw_instance::shell_quote(&path.display().to_string())
        )),
        auto_fixable: true,
        action: Some(Action::Chmod {
            path: path.to_path_buf(),
            mode: want,
        }),
        ..Finding::new(
            severity,
            "permissions",
            format!(
                "{label}'s {what} {} is mode {mode:04o}; other users can {} it (want {want:04o})",
                path.display(),
                if mode & 0o044 != 0 { "read" } else { "access" }
            ),
        )
    })
}

/// `case-only-profile` findings from the names of the directories in
/// `home`: `.openclaw*` state dirs whose names differ only by case.
pub fn case_only(home: &Path, dir_names: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in dir_names {
        let lower = name.to_ascii_lowercase();
        if lower == ".openclaw" || lower.starts_with(".openclaw-") {
            groups.entry(lower).or_default().push(name.clone());
        }
    }
    for (lower, mut names) in groups {
        if names.len() < 2 {
            continue;
        }
        names.sort();
        let profile = lower.strip_prefix(".openclaw-");
        let selector = match profile {
            Some(p) => format!("--profile {p}"),
            None => "the default profile".into(),
        };
        let strays: Vec<&String> = names.iter().filter(|n| **n != lower).collect();
        let fix = strays
            .iter()
            .map(|n| {
                let p = home.join(n).display().to_string();
                format!(
                    "mv {} {}",
                    openclaw_instance::shell_quote(&p),
                    openclaw_instance::shell_quote(&format!("{p}.unused"))
                )
            })
            .collect::<Vec<_>>()
            .join(" && ");
        out.push(Finding {
            location: names.iter().map(|n| home.join(n)).collect(),
            fix: Some(fix),
            ..Finding::new(
                Severity::Warning,
                "case-only-profile",
                format!(
                    "state dirs that differ only by case: {}; profile names are lowercase, so {selector} uses ~/{lower} and the other{} can only be reached with OPENCLAW_STATE_DIR (on a case-insensitive file system they are the same directory); move what you need into ~/{lower} and rename the other",
                    names
                        .iter()
                        .map(|n| format!("~/{n}"))
                        .collect::<Vec<_>>()
                        .join(" and "),
                    if strays.len() > 1 { "s" } else { "" }
                ),
            )
        });
    }
    out
}

/// The result of `openclaw doctor`: `--json` prints it as is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    /// Labels of every instance checked.
    pub instances: Vec<String>,
    pub findings: Vec<Finding>,
    /// Each change `--fix` made.
    pub fixed: Vec<String>,
    /// Each fix that failed.
    pub fix_errors: Vec<String>,
}

impl DoctorReport {
    pub fn new(
        instances: Vec<String>,
        mut findings: Vec<Finding>,
        fixed: Vec<String>,
        fix_errors: Vec<String>,
    ) -> DoctorReport {
        findings.sort_by_key(|f| f.severity);
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
        DoctorReport {
            ok: errors == 0,
            errors,
            warnings,
            instances,
            findings,
            fixed,
            fix_errors,
        }
    }

    /// Success: no error found and every attempted fix worked.
    pub fn passed(&self) -> bool {
        self.errors == 0 && self.fix_errors.is_empty()
    }

    /// The text report. Paths under `home` print as `~/...`; an
    /// auto-fixable finding also names `fix_command` (`doctor --fix` with
    /// the active profile) unless `None` (fixes were just applied).
    pub fn render_text(&self, home: &Path, fix_command: Option<&str>) -> String {
        let mut s = String::new();
        let labels = &self.instances;
        s.push_str(&format!(
            "checked {} instance{} on this host: {}\n",
            labels.len(),
            if labels.len() == 1 { "" } else { "s" },
            if labels.is_empty() {
                "none".to_string()
            } else {
                labels.join(", ")
            }
        ));
        for f in &self.findings {
            s.push_str(&format!(
                "{:<7} [{}] {}\n",
                f.severity.word(),
                f.check,
                f.message
            ));
            if !f.location.is_empty() {
                s.push_str(&format!(
                    "        where: {}\n",
                    f.location
                        .iter()
                        .map(|p| tilde(p, home))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if let Some(fix) = &f.fix {
                let also = match fix_command {
                    Some(c) if f.auto_fixable => format!("   (or: {c})"),
                    _ => String::new(),
                };
                s.push_str(&format!("        fix:   {fix}{also}\n"));
            }
        }
        if self.findings.is_empty() {
            s.push_str("no problems found\n");
        } else {
            s.push_str(&format!(
                "{} error(s), {} warning(s)\n",
                self.errors, self.warnings
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_instance::{ConfigFacts, Env, GlobalFlags};

    const HOME: &str = "/home/u";

    fn instance(profile: Option<&str>, facts: ConfigFacts) -> Instance {
        let flags = GlobalFlags {
            profile: profile.map(str::to_string),
            dev: false,
        };
        let paths = openclaw_instance::resolve_paths(&flags, &Env::new(HOME)).unwrap();
        openclaw_instance::resolve(&paths, &facts, None).unwrap()
    }

    fn port(p: u16) -> ConfigFacts {
        ConfigFacts {
            gateway_port: Some(p),
            ..Default::default()
        }
    }

    fn peer(profile: Option<&str>, facts: ConfigFacts, running: bool) -> Peer {
        let inst = instance(profile, facts);
        Peer {
            label: inst.label(),
            cli: inst.cli_prefix(),
            config_path: inst.config_path.value.clone(),
            running,
            default_profile: is_default_profile(profile, &inst.state_dir.value),
            instance: Some(inst),
        }
    }

    /// The mover's profile name, for readable tables.
    fn name(p: &Peer) -> &str {
        p.instance
            .as_ref()
            .and_then(|i| i.profile.as_deref())
            .unwrap_or("default")
    }

    #[test]
    fn default_profile_is_the_plain_state_dir_only() {
        for (profile, dir, want) in [
            (None, "/home/u/.openclaw", true),
            (Some("main"), "/home/u/.openclaw-main", false),
            (None, "/srv/custom", false),
            // A profile named by flag is never the default one.
            (Some("x"), "/home/u/.openclaw", false),
        ] {
            assert_eq!(
                is_default_profile(profile, Path::new(dir)),
                want,
                "{profile:?} {dir}"
            );
        }
    }

    #[test]
    fn which_instance_moves() {
        // (a set up first, a running, a default) vs (b, b running, b default) -> mover
        struct Case {
            a: (Option<&'static str>, bool),
            b: (Option<&'static str>, bool),
            moves: &'static str,
            why: &'static str,
        }
        let cases = [
            Case {
                a: (Some("main"), false),
                b: (Some("rescue"), false),
                moves: "rescue",
                why: "later-registered moves",
            },
            Case {
                a: (Some("main"), true),
                b: (Some("rescue"), false),
                moves: "rescue",
                why: "stopped moves (and later)",
            },
            Case {
                a: (Some("main"), false),
                b: (Some("rescue"), true),
                moves: "main",
                why: "stopped before running, even when set up first",
            },
            Case {
                a: (Some("main"), true),
                b: (Some("rescue"), true),
                moves: "rescue",
                why: "both running: later moves",
            },
            Case {
                a: (Some("rescue"), false),
                b: (None, false),
                moves: "rescue",
                why: "non-default before default, even when set up first",
            },
            Case {
                a: (None, false),
                b: (Some("rescue"), false),
                moves: "rescue",
                why: "non-default moves",
            },
            Case {
                a: (Some("rescue"), true),
                b: (None, false),
                moves: "default",
                why: "running beats default",
            },
            Case {
                a: (None, false),
                b: (Some("rescue"), true),
                moves: "default",
                why: "stopped default moves for a running one",
            },
        ];
        for c in cases {
            let peers = [
                peer(c.a.0, port(18789), c.a.1),
                peer(c.b.0, port(18789), c.b.1),
            ];
            let m = mover(&peers, 0, 1);
            assert_eq!(name(&peers[m]), c.moves, "{}", c.why);
        }
    }

    fn free_base(peers: &[Peer]) -> impl FnMut(usize, &[Footprint]) -> Option<(u16, Footprint)> {
        let peers = peers.to_vec();
        move |m, others| {
            let profile = peers[m].instance.as_ref()?.profile.clone();
            let fp = |b: u16| Some(instance(profile.as_deref(), port(b)).footprint());
            let to = openclaw_instance::choose_base_port(18789, others, fp, |_| true)?;
            Some((to, fp(to)?))
        }
    }

    #[test]
    fn overlapping_instances_plan_one_move() {
        let peers = [
            peer(Some("main"), port(18789), false),
            peer(Some("rescue"), port(18795), false),
        ];
        let found = port_overlaps(&peers, free_base(&peers));
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.check, "port-overlap");
        assert_eq!(f.severity, Severity::Error);
        assert!(
            f.message.starts_with(
                "port footprints of profile main and profile rescue overlap: profile main's "
            ),
            "{}",
            f.message
        );
        assert!(
            f.message
                .ends_with("(profile main would keep its ports, profile rescue should move)"),
            "{}",
            f.message
        );
        assert_eq!(
            f.fix.as_deref(),
            Some("openclaw --profile rescue config set gateway.port 18900")
        );
        assert!(f.auto_fixable);
        match &f.action {
            Some(Action::MovePort {
                label, from, to, ..
            }) => {
                assert_eq!(
                    (label.as_str(), *from, *to),
                    ("profile rescue", 18795, 18900)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn apart_instances_do_not_collide() {
        let peers = [
            peer(Some("main"), port(18789), false),
            peer(Some("rescue"), port(18900), false),
        ];
        assert!(port_overlaps(&peers, free_base(&peers)).is_empty());
    }

    #[test]
    fn a_planned_move_is_checked_against_later_pairs() {
        // Three on one port: rescue moves to 18900, then ops must clear both
        // main and rescue's new place.
        let peers = [
            peer(Some("main"), port(18789), false),
            peer(Some("rescue"), port(18789), false),
            peer(Some("ops"), port(18789), false),
        ];
        let found = port_overlaps(&peers, free_base(&peers));
        let moves: Vec<(String, u16)> = found
            .iter()
            .filter_map(|f| match &f.action {
                Some(Action::MovePort { label, to, .. }) => Some((label.clone(), *to)),
                _ => None,
            })
            .collect();
        assert_eq!(
            moves,
            [
                ("profile rescue".to_string(), 18900),
                ("profile ops".to_string(), 19011)
            ]
        );
    }

    #[test]
    fn a_pinned_port_is_named_instead_of_moving() {
        // rescue's base is clear of main's, but its canvasHost.port is main's
        // gateway port: moving its base would not help.
        let rescue = ConfigFacts {
            gateway_port: Some(18900),
            canvas_port: Some(18789),
            ..Default::default()
        };
        let peers = [
            peer(Some("main"), port(18789), false),
            peer(Some("rescue"), rescue, false),
        ];
        let found = port_overlaps(&peers, |_, _| panic!("a pinned port must not be moved"));
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(
            f.fix.as_deref(),
            Some("openclaw --profile rescue config unset canvasHost.port")
        );
        assert!(!f.auto_fixable);
        assert!(f.action.is_none());
        assert!(
            f.message.ends_with(
                "; profile rescue's canvasHost.port is set explicitly and does not follow its base port, so remove it (or set an unused port)"
            ),
            "{}",
            f.message
        );
    }

    #[test]
    fn pinned_keys_table() {
        let base = |f: ConfigFacts| instance(Some("x"), f);
        let cdp = base(ConfigFacts {
            cdp_port_range_start: Some(20000),
            ..Default::default()
        });
        let canvas = base(ConfigFacts {
            canvas_port: Some(20000),
            ..Default::default()
        });
        let plain = base(ConfigFacts::default());
        let cases: [(&Instance, Purpose, Option<&str>); 7] = [
            (&plain, Purpose::Gateway, None),
            (&plain, Purpose::BrowserControl, None),
            (&plain, Purpose::Canvas, None),
            (&plain, Purpose::CdpRange, None),
            (&canvas, Purpose::Canvas, Some("canvasHost.port")),
            (&cdp, Purpose::CdpRange, Some("browser.cdpPortRangeStart")),
            (
                &plain,
                Purpose::ExplicitCdp("work".into()),
                Some("browser.profiles.work.cdpPort"),
            ),
        ];
        for (inst, purpose, want) in cases {
            assert_eq!(override_key(inst, &purpose).as_deref(), want, "{purpose:?}");
        }
    }

    #[test]
    fn no_free_base_says_so() {
        let peers = [
            peer(Some("main"), port(18789), false),
            peer(Some("rescue"), port(18789), false),
        ];
        let found = port_overlaps(&peers, |_, _| None);
        assert_eq!(
            found[0].fix.as_deref(),
            Some("openclaw --profile rescue config set gateway.port <free base port>")
        );
        assert!(!found[0].auto_fixable);
    }

    #[test]
    fn unresolved_instances_are_skipped() {
        let mut broken = peer(Some("rescue"), port(18789), false);
        broken.instance = None;
        let peers = [peer(Some("main"), port(18789), false), broken];
        assert!(port_overlaps(&peers, |_, _| None).is_empty());
    }

    #[test]
    fn shared_cdp_urls_table() {
        let peers = [
            peer(Some("main"), port(18789), false),
            peer(Some("rescue"), port(18900), false),
        ];
        let u = |k: &str, v: &str| (k.to_string(), v.to_string());
        // Same endpoint spelled differently: one finding, the later one unsets.
        let found = shared_cdp_urls(
            &peers,
            &[
                vec![u("browser.cdpUrl", "http://localhost:9222/")],
                vec![u("browser.profiles.work.cdpUrl", "HTTP://127.0.0.1:9222")],
            ],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].fix.as_deref(),
            Some("openclaw --profile rescue config unset browser.profiles.work.cdpUrl")
        );
        assert_eq!(found[0].instances, ["profile main", "profile rescue"]);
        // Different endpoints, or one instance using one twice: nothing.
        assert!(
            shared_cdp_urls(
                &peers,
                &[
                    vec![u("browser.cdpUrl", "http://127.0.0.1:9222")],
                    vec![u("browser.cdpUrl", "http://127.0.0.1:9223")],
                ],
            )
            .is_empty()
        );
        assert!(
            shared_cdp_urls(
                &peers,
                &[
                    vec![
                        u("browser.cdpUrl", "http://127.0.0.1:9222"),
                        u("browser.profiles.a.cdpUrl", "http://127.0.0.1:9222"),
                    ],
                    vec![],
                ],
            )
            .is_empty()
        );
    }

    #[test]
    fn permission_table() {
        let p = Path::new("/home/u/.openclaw/openclaw.json");
        for (mode, want, finding) in [
            (0o600, 0o600, None),
            (0o400, 0o600, None),
            (0o700, 0o700, None),
            (0o644, 0o600, Some("read")),
            (0o604, 0o600, Some("read")),
            (0o711, 0o700, Some("access")),
            (0o620, 0o600, Some("access")),
        ] {
            let f = permission_finding(
                p,
                mode,
                want,
                "config file",
                Severity::Error,
                "default profile",
            );
            assert_eq!(
                f.as_ref().map(|f| f
                    .message
                    .contains(&format!("other users can {} it", finding.unwrap_or("")))),
                finding.map(|_| true),
                "{mode:o}"
            );
            if let Some(f) = f {
                assert_eq!(
                    f.action,
                    Some(Action::Chmod {
                        path: p.into(),
                        mode: want
                    })
                );
                assert_eq!(
                    f.fix.as_deref(),
                    Some(format!("chmod {want:o} /home/u/.openclaw/openclaw.json").as_str())
                );
            }
        }
    }

    #[test]
    fn case_only_table() {
        let home = Path::new("/home/u");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(case_only(home, &names(&[".openclaw", ".openclaw-main", "Docs"])).is_empty());
        let found = case_only(
            home,
            &names(&[".openclaw-Main", ".openclaw-main", ".OpenClaw"]),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].fix.as_deref(),
            Some("mv /home/u/.openclaw-Main /home/u/.openclaw-Main.unused")
        );
        assert!(
            found[0]
                .message
                .contains("so --profile main uses ~/.openclaw-main")
        );
    }

    #[test]
    fn report_json_and_text() {
        let mut warn = Finding::new(Severity::Warning, "permissions", "loose".into());
        warn.fix = Some("chmod 700 /home/u/.openclaw".into());
        warn.auto_fixable = true;
        warn.location = vec![PathBuf::from("/home/u/.openclaw")];
        let err = Finding::new(Severity::Error, "port-overlap", "clash".into());
        let r = DoctorReport::new(
            vec!["default profile".into()],
            vec![warn, err],
            vec![],
            vec![],
        );
        assert!(!r.ok && !r.passed());
        assert_eq!((r.errors, r.warnings), (1, 1));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["findings"][0]["check"], "port-overlap", "errors first");
        assert_eq!(v["findings"][1]["autoFixable"], true);
        assert!(v["fixErrors"].as_array().unwrap().is_empty());
        assert!(v["findings"][1].get("action").is_none());
        assert_eq!(
            r.render_text(Path::new("/home/u"), Some("openclaw doctor --fix")),
            "checked 1 instance on this host: default profile\n\
             error   [port-overlap] clash\n\
             warning [permissions] loose\n        where: ~/.openclaw\n        fix:   chmod 700 /home/u/.openclaw   (or: openclaw doctor --fix)\n\
             1 error(s), 1 warning(s)\n"
        );
        let clean = DoctorReport::new(vec![], vec![], vec![], vec![]);
        assert!(clean.passed());
        assert_eq!(
            clean.render_text(Path::new("/home/u"), None),
            "checked 0 instances on this host: none\nno problems found\n"
        );
    }
}
