//! The host-wide view: every instance set up on this host.
//!
//! Instances are found by `openclaw_state::discover` (the `~/.openclaw*`
//! state dirs plus the host registry of custom state dirs) and each is
//! resolved exactly as a command run for it would resolve it, from its own
//! config only — never from the calling shell's `OPENCLAW_*` variables.

use std::path::Path;

use openclaw_instance::{ConfigFacts, Env, GlobalFlags, Instance, InstancePaths};
use openclaw_state::{ConfigStore, InstanceRecord};

/// One instance found on the host.
pub struct KnownInstance {
    pub record: InstanceRecord,
    /// The resolved instance, or why it could not be resolved (e.g. its
    /// config is invalid).
    pub instance: Result<Instance, String>,
}

/// Resolves a discovered record as the command that selects it would:
/// `openclaw --profile <p>` for a standard profile dir, or with its custom
/// state dir and config path in the environment.
///
/// `all` is every record on the host (for the service names, which must not
/// take another instance's profile name).
pub fn resolve_record(
    home: &Path,
    record: &InstanceRecord,
    all: &[InstanceRecord],
) -> Result<Instance, String> {
    let paths = record_paths(home, record)?;
    let facts = record_facts(record)?;
    openclaw_instance::resolve(&paths, &facts, None)
        .map(|i| with_neighbours(i, all))
        .map_err(|e| e.to_string())
}

/// The instance with service names that take no name another instance in
/// `all` (records whose state dir is not this instance's) has or may
/// derive: its profile, or for an instance named by its state dir, that
/// dir's `.openclaw-<name>`. Two custom state dirs both called
/// `.openclaw-work` therefore both get hashed names, not one shared name.
/// A service already installed keeps its name
/// (`services::with_installed_names`).
pub fn with_neighbours(inst: Instance, all: &[InstanceRecord]) -> Instance {
    let own = inst.state_dir.value.clone();
    let home = inst.home.clone();
    let taken: Vec<&str> = all
        .iter()
        .filter(|r| !same_path(&r.state_dir, &own))
        .filter_map(|r| neighbour_name(r, &home))
        .collect();
    inst.with_neighbours(&|n| taken.contains(&n))
}

/// The name a record's service is (or may be) called by: its profile, or
/// for a custom state dir called `.openclaw-<name>`, `<name>`.
pub fn neighbour_name<'a>(r: &'a InstanceRecord, home: &Path) -> Option<&'a str> {
    match r.profile.as_deref() {
        Some(p) => Some(p),
        // Lexical: this runs for every pair of instances (see `known_instances`).
        None if r
            .state_dir
            .components()
            .eq(home.join(".openclaw").components()) =>
        {
            None
        }
        None => openclaw_instance::ServiceNames::state_dir_name(&r.state_dir),
    }
}

/// Every instance record on the host (empty, with a warning, when the host
/// registry cannot be read).
pub fn records(home: &Path) -> Vec<InstanceRecord> {
    openclaw_state::discover(home).unwrap_or_else(|e| {
        eprintln!("openclaw: warning: cannot list the instances on this host: {e}");
        Vec::new()
    })
}

/// The instance's config facts (empty when it has no config).
pub fn record_facts(record: &InstanceRecord) -> Result<ConfigFacts, String> {
    match ConfigStore::new(record.config_path.clone()).load() {
        Ok(Some(l)) => Ok(l.parsed.config.instance_facts()),
        Ok(None) => Ok(Default::default()),
        Err(e) => Err(e.to_string()),
    }
}

/// The paths a command selecting this record resolves.
pub fn record_paths(home: &Path, record: &InstanceRecord) -> Result<InstancePaths, String> {
    let flags = GlobalFlags {
        profile: record.profile.clone(),
        dev: false,
    };
    let plain =
        openclaw_instance::resolve_paths(&flags, &Env::new(home)).map_err(|e| e.to_string())?;
    let paths = if same_path(&plain.state_dir.value, &record.state_dir)
        && same_path(&plain.config_path.value, &record.config_path)
    {
        plain
    } else {
        let env = Env::new(home)
            .with(
                "OPENCLAW_STATE_DIR",
                &record.state_dir.display().to_string(),
            )
            .with(
                "OPENCLAW_CONFIG_PATH",
                &record.config_path.display().to_string(),
            );
        openclaw_instance::resolve_paths(&flags, &env).map_err(|e| e.to_string())?
    };
    Ok(paths)
}

/// Every instance on this host (`home` is the resolved home root), each
/// resolved as [`resolve_record`] would.
pub fn known_instances(home: &Path) -> Vec<KnownInstance> {
    let records = records(home);
    // Every state dir resolved once: comparing each instance with every
    // other through `same_path` resolved each path again, O(n²) realpath
    // calls (160 000 failed readlinks, ~0.15 s, for 100 instances).
    let keys: Vec<std::path::PathBuf> = records.iter().map(|r| resolved(&r.state_dir)).collect();
    records
        .iter()
        .zip(&keys)
        .map(|(record, own)| {
            let instance = record_paths(home, record).and_then(|paths| {
                let facts = record_facts(record)?;
                let taken: Vec<&str> = records
                    .iter()
                    .zip(&keys)
                    .filter(|(_, k)| *k != own)
                    .filter_map(|(r, _)| neighbour_name(r, home))
                    .collect();
                openclaw_instance::resolve(&paths, &facts, None)
                    .map(|i| i.with_neighbours(&|n| taken.contains(&n)))
                    .map_err(|e| e.to_string())
            });
            KnownInstance {
                instance,
                record: record.clone(),
            }
        })
        .collect()
}

/// A path resolved once for comparisons (as [`same_path`] compares: the
/// canonical path, or the path as given when it cannot be resolved).
fn resolved(p: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Every other instance on the host, i.e. not the one at `state_dir`.
pub fn other_instances(home: &Path, state_dir: &Path) -> Vec<KnownInstance> {
    known_instances(home)
        .into_iter()
        .filter(|k| !same_path(&k.record.state_dir, state_dir))
        .collect()
}

pub use openclaw_state::same_dir as same_path;

/// A label for a known instance: `profile rescue`, `default profile` or
/// `instance at <dir>` (the resolved instance's own label when it resolves).
pub fn label(k: &KnownInstance) -> String {
    match (&k.instance, &k.record.profile) {
        (Ok(i), _) => i.label(),
        (Err(_), Some(p)) => format!("profile {p}"),
        (Err(_), None) => format!("instance at {}", k.record.state_dir.display()),
    }
}
