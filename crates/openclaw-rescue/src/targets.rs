//! Which instance a command names, and whether this rescue instance may act
//! on it.
//!
//! A name is a profile (`main`), `default` (the default profile,
//! `~/.openclaw`), or, for an instance selected by `OPENCLAW_STATE_DIR`
//! alone, its state dir path (`~/.openclaw-x`, `/srv/oc/work`) or its
//! derived name (the one its service is named by: `x` for
//! `~/.openclaw-x` when no profile is called `x`, else `dir-<hash>`). Candidates are the
//! instances on this host (`openclaw_host::hosts`: the host registry plus
//! the `~/.openclaw*` dirs). The allowed ones are `rescue.targets` when set
//! (the same kinds of names), otherwise every other instance; a rescue
//! instance never targets itself. Each target is then resolved from its own
//! config only, exactly as `openclaw --profile <name>` would resolve it.

use std::path::{Path, PathBuf};

use openclaw_instance::{Instance, InstancePaths};
use openclaw_state::InstanceRecord;

/// Why a name does not lead to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// No instance on this host goes by that name.
    NotFound { name: String, known: Vec<String> },
    /// It is this rescue instance itself.
    Itself { name: String },
    /// It exists but is not in `rescue.targets`.
    NotATarget { name: String, targets: Vec<String> },
    /// The name itself is malformed (e.g. an invalid profile name).
    BadName { name: String, why: String },
    /// More than one instance answers to that name: name it by its state dir.
    Ambiguous { name: String, dirs: Vec<String> },
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetError::NotFound { name, known } => write!(
                f,
                "no instance \"{name}\" on this host (instances: {}); /instances lists them",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            TargetError::Ambiguous { name, dirs } => write!(
                f,
                "\"{name}\" names {} instances on this host ({}); name the one you mean by its state dir path",
                dirs.len(),
                dirs.join(", ")
            ),
            TargetError::Itself { name } => write!(
                f,
                "\"{name}\" is this rescue instance itself; a rescue instance never acts on itself (use the CLI on this host, or another rescue instance)"
            ),
            TargetError::NotATarget { name, targets } => write!(
                f,
                "\"{name}\" is not one of this rescue instance's targets (rescue.targets: {})",
                targets.join(", ")
            ),
            TargetError::BadName { name, why } => write!(f, "\"{name}\": {why}"),
        }
    }
}

/// How a record is named in replies and in `rescue.targets`: its profile,
/// `default`, or its state dir.
pub fn name_of(r: &InstanceRecord, home: &Path, same: &dyn Fn(&Path, &Path) -> bool) -> String {
    match &r.profile {
        Some(p) => p.clone(),
        None if same(&r.state_dir, &home.join(".openclaw")) => "default".into(),
        None => r.state_dir.display().to_string(),
    }
}

/// The derived name of an instance selected by its state dir alone (no
/// profile, not `~/.openclaw`): the `<name>` its service names carry
/// (`openclaw_instance::ServiceNames::for_instance`), given the names the
/// `others` on this host have or may derive, by the same rule as
/// `openclaw_host::hosts::with_neighbours` (so two custom dirs both called
/// `.openclaw-work` both get hashed names). `None` for a profile or the
/// default.
pub fn derived_name(
    r: &InstanceRecord,
    others: &[InstanceRecord],
    home: &Path,
    same: &dyn Fn(&Path, &Path) -> bool,
) -> Option<String> {
    if r.profile.is_some() || same(&r.state_dir, &home.join(".openclaw")) {
        return None;
    }
    let other_profile = |p: &str| {
        others
            .iter()
            .filter(|o| !same(&o.state_dir, &r.state_dir))
            .any(|o| openclaw_host::hosts::neighbour_name(o, home) == Some(p))
    };
    let dir = openclaw_instance::Sourced {
        value: r.state_dir.clone(),
        source: openclaw_instance::Source::Env("OPENCLAW_STATE_DIR".into()),
    };
    let names = openclaw_instance::ServiceNames::for_instance(None, &dir, home, &other_profile);
    names
        .systemd_unit
        .strip_prefix("openclaw-gateway-")
        .and_then(|n| n.strip_suffix(".service"))
        .map(str::to_string)
}

/// Whether `name` names record `r` (one of `all`, the host's records).
fn names(
    name: &str,
    r: &InstanceRecord,
    all: &[InstanceRecord],
    home: &Path,
    same: &dyn Fn(&Path, &Path) -> bool,
) -> Result<bool, TargetError> {
    if name.contains('/') || name.starts_with('~') {
        let dir = openclaw_instance::expand_tilde(name, home);
        return Ok(same(&r.state_dir, &dir));
    }
    if name == "default" {
        return Ok(r.profile.is_none() && same(&r.state_dir, &home.join(".openclaw")));
    }
    let p = openclaw_instance::normalize_profile(name).map_err(|e| TargetError::BadName {
        name: name.to_string(),
        why: e.to_string(),
    })?;
    if p.is_some() && r.profile == p {
        return Ok(true);
    }
    // A profile of that name wins over a derived one (which is never
    // another instance's profile anyway).
    if p.is_some() && all.iter().any(|o| o.profile == p) {
        return Ok(false);
    }
    Ok(derived_name(r, all, home, same).as_deref() == Some(name))
}

/// Whether `name`, found on no instance of the host, still means this
/// rescue instance (state dir `me`): a path to it, `default` for
/// `~/.openclaw`, or the profile / derived name its state dir
/// `~/.openclaw-<name>` stands for.
fn means_me(name: &str, me: &Path, home: &Path, same: &dyn Fn(&Path, &Path) -> bool) -> bool {
    if name.contains('/') || name.starts_with('~') {
        return same(&openclaw_instance::expand_tilde(name, home), me);
    }
    if name == "default" {
        return same(me, &home.join(".openclaw"));
    }
    same(me, &home.join(format!(".openclaw-{name}")))
        || openclaw_instance::ServiceNames::state_dir_name(me) == Some(name)
}

/// The index in `records` of the instance `name` names, if this rescue
/// instance (state dir `me`) may act on it. `targets` is `rescue.targets`
/// (`None`: every other instance). `same` says whether two paths are one
/// directory. Pure: the caller lists the records.
pub fn choose(
    records: &[InstanceRecord],
    me: &Path,
    targets: Option<&[String]>,
    name: &str,
    home: &Path,
    same: &dyn Fn(&Path, &Path) -> bool,
) -> Result<usize, TargetError> {
    let mut found: Vec<usize> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if names(name, r, records, home, same)?
            && !found
                .iter()
                .any(|&f| same(&records[f].state_dir, &r.state_dir))
        {
            found.push(i);
        }
    }
    if found.len() > 1 {
        return Err(TargetError::Ambiguous {
            name: name.into(),
            dirs: found
                .iter()
                .map(|&i| records[i].state_dir.display().to_string())
                .collect(),
        });
    }
    let Some(&i) = found.first() else {
        // A path to this rescue instance's own state dir, or its profile
        // or derived name, even when it is not recorded.
        if means_me(name, me, home, same) {
            return Err(TargetError::Itself { name: name.into() });
        }
        return Err(TargetError::NotFound {
            name: name.into(),
            known: records
                .iter()
                .filter(|r| !same(&r.state_dir, me))
                .map(|r| name_of(r, home, same))
                .collect(),
        });
    };
    if same(&records[i].state_dir, me) {
        return Err(TargetError::Itself { name: name.into() });
    }
    if let Some(list) = targets {
        let mut allowed = false;
        for t in list {
            if names(t, &records[i], records, home, same).unwrap_or(false) {
                allowed = true;
            }
        }
        if !allowed {
            return Err(TargetError::NotATarget {
                name: name.into(),
                targets: list.to_vec(),
            });
        }
    }
    Ok(i)
}

/// Whether this rescue instance may act on record `r`.
pub fn allowed(
    r: &InstanceRecord,
    all: &[InstanceRecord],
    me: &Path,
    targets: Option<&[String]>,
    home: &Path,
    same: &dyn Fn(&Path, &Path) -> bool,
) -> bool {
    if same(&r.state_dir, me) {
        return false;
    }
    match targets {
        None => true,
        Some(list) => list
            .iter()
            .any(|t| names(t, r, all, home, same).unwrap_or(false)),
    }
}

/// A resolved target.
#[derive(Debug, Clone)]
pub struct Target {
    /// As named in replies: `main`, `default`, or the state dir.
    pub name: String,
    pub record: InstanceRecord,
    /// Its paths, as `openclaw --profile <name>` (or its env selectors)
    /// resolves them; needs no config.
    pub paths: InstancePaths,
    /// The instance resolved from its own config, or why that fails (an
    /// invalid config: `file:line:col: ...`).
    pub instance: Result<Instance, String>,
    /// The instance resolved without its config (ports then come from the
    /// defaults): enough for its service names when the config is broken.
    pub fallback: Instance,
}

impl Target {
    /// The instance's label: `profile main`, `default profile`, `instance
    /// at <dir>`.
    pub fn label(&self) -> String {
        self.fallback.label()
    }

    /// How replies name it: its label, with the name as typed when that
    /// says something else (`default`, a path).
    pub fn title(&self) -> String {
        let label = self.label();
        if label == format!("profile {}", self.name) {
            label
        } else {
            format!("{} ({label})", self.name)
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.record.state_dir
    }

    pub fn config_path(&self) -> &PathBuf {
        &self.record.config_path
    }
}

/// Lists the host's instances and resolves `name` against them.
pub fn resolve(
    home: &Path,
    me: &Path,
    targets: Option<&[String]>,
    name: &str,
) -> Result<Target, TargetError> {
    let records = openclaw_host::hosts::records(home);
    let same = |a: &Path, b: &Path| openclaw_state::same_dir(a, b);
    let i = choose(&records, me, targets, name, home, &same)?;
    let record = records[i].clone();
    let paths =
        openclaw_host::hosts::record_paths(home, &record).map_err(|why| TargetError::BadName {
            name: name.into(),
            why,
        })?;
    let instance = openclaw_host::hosts::resolve_record(home, &record, &records);
    let fallback = openclaw_instance::resolve(&paths, &Default::default(), None)
        .map(|i| openclaw_host::hosts::with_neighbours(i, &records))
        .map_err(|e| TargetError::BadName {
            name: name.into(),
            why: e.to_string(),
        })?;
    Ok(Target {
        name: name_of(&record, home, &same),
        record,
        paths,
        instance,
        fallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(profile: Option<&str>, dir: &str) -> InstanceRecord {
        InstanceRecord {
            profile: profile.map(str::to_string),
            state_dir: PathBuf::from(dir),
            config_path: PathBuf::from(dir).join("openclaw.json"),
        }
    }

    fn eq(a: &Path, b: &Path) -> bool {
        a == b
    }

    #[test]
    fn names_resolve_to_the_instance_they_name_and_never_to_self() {
        let home = Path::new("/h");
        let records = vec![
            rec(Some("main"), "/h/.openclaw-main"),
            rec(Some("rescue"), "/h/.openclaw-rescue"),
            rec(None, "/h/.openclaw"),
            rec(None, "/srv/oc/work"),
        ];
        let me = Path::new("/h/.openclaw-rescue");
        let pick =
            |name: &str, targets: Option<&[String]>| choose(&records, me, targets, name, home, &eq);
        assert_eq!(pick("main", None), Ok(0));
        assert_eq!(pick("default", None), Ok(2));
        assert_eq!(pick("/srv/oc/work", None), Ok(3));
        assert_eq!(pick("~/.openclaw-main", None), Ok(0));
        assert_eq!(
            pick("rescue", None),
            Err(TargetError::Itself {
                name: "rescue".into()
            })
        );
        assert_eq!(
            pick("~/.openclaw-rescue", None),
            Err(TargetError::Itself {
                name: "~/.openclaw-rescue".into()
            })
        );
        let Err(TargetError::NotFound { known, .. }) = pick("ghost", None) else {
            panic!()
        };
        assert_eq!(known, ["main", "default", "/srv/oc/work"]);
        assert!(matches!(
            pick("Bad Name!", None),
            Err(TargetError::BadName { .. })
        ));

        let only: Vec<String> = vec!["main".into(), "/srv/oc/work".into()];
        assert_eq!(pick("main", Some(&only)), Ok(0));
        assert_eq!(pick("/srv/oc/work", Some(&only)), Ok(3));
        assert_eq!(
            pick("default", Some(&only)),
            Err(TargetError::NotATarget {
                name: "default".into(),
                targets: only.clone()
            })
        );
        // Listing itself in rescue.targets changes nothing.
        let with_self: Vec<String> = vec!["rescue".into()];
        assert!(matches!(
            pick("rescue", Some(&with_self)),
            Err(TargetError::Itself { .. })
        ));
        assert!(!allowed(
            &records[1],
            &records,
            me,
            Some(&with_self),
            home,
            &eq
        ));
        assert!(allowed(&records[0], &records, me, None, home, &eq));
        assert!(!allowed(&records[2], &records, me, Some(&only), home, &eq));
        assert_eq!(name_of(&records[2], home, &eq), "default");
        assert_eq!(name_of(&records[3], home, &eq), "/srv/oc/work");
    }

    /// An instance selected by `OPENCLAW_STATE_DIR` alone answers to its
    /// derived name (its service's), a profile of that name wins, and a
    /// rescue instance named by its own derived or profile name, recorded
    /// or not, is "itself".
    #[test]
    fn a_manual_env_instance_answers_to_its_derived_name() {
        let home = Path::new("/h");
        let records = vec![
            rec(Some("main"), "/h/.openclaw-main"),
            rec(None, "/h/.openclaw-work"),
            rec(None, "/srv/b/.openclaw-main"),
        ];
        let hashed = derived_name(&records[2], &records, home, &eq).unwrap();
        assert!(hashed.starts_with("dir-") && hashed.len() == 12, "{hashed}");
        assert_eq!(
            derived_name(&records[1], &records, home, &eq).as_deref(),
            Some("work")
        );
        assert_eq!(derived_name(&records[0], &records, home, &eq), None);
        // The rescue instance is itself a manual-env instance, unrecorded.
        let me = Path::new("/h/.openclaw-rescue");
        let pick =
            |name: &str, targets: Option<&[String]>| choose(&records, me, targets, name, home, &eq);
        assert_eq!(pick("work", None), Ok(1));
        assert_eq!(pick("main", None), Ok(0));
        assert_eq!(pick(&hashed, None), Ok(2));
        assert_eq!(
            pick("rescue", None),
            Err(TargetError::Itself {
                name: "rescue".into()
            })
        );
        let only: Vec<String> = vec!["work".into()];
        assert_eq!(pick("work", Some(&only)), Ok(1));
        assert!(matches!(
            pick("main", Some(&only)),
            Err(TargetError::NotATarget { .. })
        ));
        // Two custom dirs both called `.openclaw-work`: neither is "work"
        // (their services are hashed), each answers to its own hashed name.
        let twins = vec![
            rec(None, "/srv/a/.openclaw-work"),
            rec(None, "/srv/b/.openclaw-work"),
        ];
        let a = derived_name(&twins[0], &twins, home, &eq).unwrap();
        let b = derived_name(&twins[1], &twins, home, &eq).unwrap();
        assert!(
            a.starts_with("dir-") && b.starts_with("dir-") && a != b,
            "{a} {b}"
        );
        let pick2 = |name: &str| choose(&twins, me, None, name, home, &eq);
        assert!(matches!(pick2("work"), Err(TargetError::NotFound { .. })));
        assert_eq!(pick2(&a), Ok(0));
        assert_eq!(pick2(&b), Ok(1));
        // The same state dir recorded twice is one instance, not two.
        let dup = vec![
            rec(None, "/h/.openclaw-work"),
            rec(None, "/h/.openclaw-work"),
        ];
        assert_eq!(choose(&dup, me, None, "work", home, &eq), Ok(0));
        // One profile name on two state dirs (a profile run once with a
        // custom OPENCLAW_STATE_DIR): refused, never the first one found.
        let two = vec![
            rec(Some("x"), "/h/.openclaw-x"),
            rec(Some("x"), "/srv/.openclaw-x"),
        ];
        match choose(&two, me, None, "x", home, &eq) {
            Err(TargetError::Ambiguous { dirs, .. }) => assert_eq!(dirs.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(choose(&two, me, None, "/srv/.openclaw-x", home, &eq), Ok(1));
        // Recorded under its state dir only: still itself by its name.
        let mut with_me = records.clone();
        with_me.push(rec(None, "/h/.openclaw-rescue"));
        assert_eq!(
            choose(&with_me, me, None, "rescue", home, &eq),
            Err(TargetError::Itself {
                name: "rescue".into()
            })
        );
        let e = TargetError::Itself {
            name: "rescue".into(),
        }
        .to_string();
        assert!(e.contains("this rescue instance itself"), "{e}");
    }
}
