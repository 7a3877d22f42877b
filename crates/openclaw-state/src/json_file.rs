//! Small JSON state files (channel ledgers, pairing requests, status):
//! read, and read-modify-write under an exclusive lock with an atomic
//! replace, so two processes (a gateway and a CLI command) never lose each
//! other's changes and a reader never sees half a file.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StateError;
use crate::fsutil::{FILE_MODE, atomic_replace, create_private_dir_all, lock_exclusive};

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads a JSON file; `None` when it does not exist. A file that does not
/// parse is [`StateError::Corrupt`] (never silently replaced).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StateError::io("read", path)(e)),
    }
}

/// Replaces a JSON file atomically (0600; the directory is created 0700).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let dir = parent(path);
    create_private_dir_all(&dir).map_err(StateError::io("create directory", &dir))?;
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    atomic_replace(path, &bytes, FILE_MODE).map_err(StateError::io("write", path))
}

/// Removes a state file (missing is fine) and fsyncs its directory, so the
/// removal survives a crash.
pub fn remove_file_durably(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StateError::io("remove", path)(e)),
    }
    let dir = parent(path);
    crate::fsutil::sync_dir(&dir).map_err(StateError::io("fsync", &dir))
}

/// Read-modify-write under `<path>.lock`: `f` edits the current value
/// (`T::default()` when the file is missing); the result is written
/// atomically only when `f` says it changed something (returns `(true, r)`).
pub fn update_json<T, R>(path: &Path, f: impl FnOnce(&mut T) -> (bool, R)) -> Result<R, StateError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let dir = parent(path);
    let _lock = lock_exclusive(&dir, &lock_path(path))?;
    let mut value: T = read_json(path)?.unwrap_or_default();
    let (changed, r) = f(&mut value);
    if changed {
        write_json(path, &value)?;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn update_is_read_modify_write_and_atomic() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/x.json");
        assert_eq!(read_json::<BTreeMap<String, u32>>(&p).unwrap(), None);
        for i in 0..3u32 {
            update_json(&p, |m: &mut BTreeMap<String, u32>| {
                m.insert(format!("k{i}"), i);
                (true, ())
            })
            .unwrap();
        }
        let m: BTreeMap<String, u32> = read_json(&p).unwrap().unwrap();
        assert_eq!(m.len(), 3);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Unchanged: not rewritten.
        let before = fs::metadata(&p).unwrap().modified().unwrap();
        update_json(&p, |_: &mut BTreeMap<String, u32>| (false, ())).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), before);
        fs::write(&p, "{not json").unwrap();
        assert!(matches!(
            read_json::<BTreeMap<String, u32>>(&p),
            Err(StateError::Corrupt { .. })
        ));
    }
}
