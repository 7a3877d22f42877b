//! The host's registry of instances, so `setup` can find every instance on
//! the machine, including those set up with a custom `OPENCLAW_STATE_DIR`.
//!
//! File: `<home>/.local/state/openclaw/instances.json` (home = the resolved
//! home root), `{"version": 1, "instances": [{profile, stateDir, configPath}]}`.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::StateError;
use crate::fsutil::{FILE_MODE, atomic_write, lock_exclusive};

/// One instance set up on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    /// `None` is the default profile.
    #[serde(default)]
    pub profile: Option<String>,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    #[serde(default)]
    instances: Vec<InstanceRecord>,
}

/// `<home>/.local/state/openclaw/instances.json`.
pub fn registry_path(home: &Path) -> PathBuf {
    home.join(".local")
        .join("state")
        .join("openclaw")
        .join("instances.json")
}

fn read(path: &Path) -> Result<Vec<InstanceRecord>, StateError> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str::<RegistryFile>(&text)
            .map(|f| f.instances)
            .map_err(|e| StateError::Corrupt {
                path: path.to_path_buf(),
                message: format!("not a valid instance registry ({e})"),
            }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(StateError::io("read", path)(e)),
    }
}

/// The recorded instances, in the order they were recorded.
pub fn list(home: &Path) -> Result<Vec<InstanceRecord>, StateError> {
    read(&registry_path(home))
}

/// Records an instance (atomically, under a lock). Idempotent: an entry for
/// the same state dir is replaced, not duplicated.
pub fn record(home: &Path, rec: InstanceRecord) -> Result<(), StateError> {
    let path = registry_path(home);
    let dir = path
        .parent()
        .expect("registry path has a parent")
        .to_path_buf();
    let _lock = lock_exclusive(&dir, &dir.join("instances.json.lock"))?;

    let mut instances = read(&path)?;
    if instances.contains(&rec) {
        return Ok(());
    }
    match instances
        .iter_mut()
        .find(|r| same_dir(&r.state_dir, &rec.state_dir))
    {
        Some(existing) => *existing = rec,
        None => instances.push(rec),
    }
    let file = RegistryFile {
        version: 1,
        instances,
    };
    let mut text = serde_json::to_string_pretty(&file).expect("registry serializes");
    text.push('\n');
    atomic_write(&path, text.as_bytes(), FILE_MODE).map_err(StateError::io("write", &path))
}

/// Whether two paths name the same directory (equal, or equal once both
/// resolve through symlinks).
pub fn same_dir(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Every instance on the host: the registry's entries (skipping those whose
/// state dir and config are both gone) plus every `<home>/.openclaw` and
/// `<home>/.openclaw-<name>` directory that holds an `openclaw.json`
/// (`.openclaw` is the default profile, `.openclaw-<name>` profile `<name>`;
/// names that are not valid profile names are skipped). Deduplicated by
/// state dir, registry entries first, then scanned ones sorted by name.
pub fn discover(home: &Path) -> Result<Vec<InstanceRecord>, StateError> {
    let mut out: Vec<InstanceRecord> = Vec::new();
    // Each state dir is resolved once (`same_dir` on every pair resolved
    // each path again: O(n²) realpath calls, 0.15 s for 100 instances).
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut add = |out: &mut Vec<InstanceRecord>, r: InstanceRecord| {
        let key = fs::canonicalize(&r.state_dir).unwrap_or_else(|_| r.state_dir.clone());
        if !seen.contains(&key) {
            seen.push(key);
            out.push(r);
        }
    };
    for r in list(home)? {
        if !r.state_dir.exists() && !r.config_path.exists() {
            continue;
        }
        add(&mut out, r);
    }
    let entries = match fs::read_dir(home) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StateError::io("list", home)(e)),
    };
    let mut scanned = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let profile = if name == ".openclaw" {
            None
        } else if let Some(p) = name.strip_prefix(".openclaw-") {
            match openclaw_instance::normalize_profile(p) {
                Ok(Some(n)) if n == p => Some(n),
                _ => continue,
            }
        } else {
            continue;
        };
        let state_dir = home.join(name);
        let config_path = state_dir.join(openclaw_config::CONFIG_FILE_NAME);
        if !config_path.is_file() {
            continue;
        }
        scanned.push(InstanceRecord {
            profile,
            state_dir,
            config_path,
        });
    }
    scanned.sort_by(|a, b| a.state_dir.cmp(&b.state_dir));
    for r in scanned {
        add(&mut out, r);
    }
    Ok(out)
}
