//! Reading and writing one config file safely.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use openclaw_config::{ConfigWarning, Parsed};
use serde_json::Value;

use crate::error::StateError;
use crate::fsutil::{FILE_MODE, atomic_write, lock_exclusive};
use crate::staged::StagedFiles;

/// A config file as read from disk. `Debug` leaves out the raw text and
/// redacts secrets.
#[derive(Clone)]
pub struct Loaded {
    /// The file's text, exactly as on disk.
    pub raw: String,
    /// [`openclaw_config::hash`] of `raw`: the `baseHash` for a later write.
    pub hash: String,
    pub parsed: Parsed,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("raw", &format_args!("<{} bytes>", self.raw.len()))
            .field("hash", &self.hash)
            .field("parsed", &self.parsed)
            .finish()
    }
}

/// The outcome of a successful write. `Debug` redacts secrets.
#[derive(Clone)]
pub struct Written {
    /// Hash of the new file.
    pub hash: String,
    /// Unknown keys in the new config.
    pub warnings: Vec<ConfigWarning>,
    /// The value written.
    pub value: Value,
    /// The typed view of `value`.
    pub config: openclaw_config::Config,
}

impl std::fmt::Debug for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Written")
            .field("hash", &self.hash)
            .field("warnings", &self.warnings)
            .field("value", &openclaw_config::redact(&self.value))
            .finish()
    }
}

/// One config file, e.g. `~/.openclaw-main/openclaw.json`.
///
/// Writes hold an exclusive OS lock on the sibling `<file>.lock` for the
/// whole read-modify-write, keep the previous file as `<file>.bak`, and
/// replace the file atomically with mode 0600. A missing parent directory is
/// created with mode 0700.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    path: PathBuf,
}

/// Appends a suffix to the file name: `openclaw.json` → `openclaw.json.bak`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The exclusive write lock; released on drop (closing the descriptor).
pub(crate) struct WriteLock {
    _file: File,
}

impl ConfigStore {
    pub fn new(config_path: impl Into<PathBuf>) -> Self {
        ConfigStore {
            path: config_path.into(),
        }
    }

    /// The config file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The backup of the previous version: `<file>.bak`.
    pub fn backup_path(&self) -> PathBuf {
        sibling(&self.path, ".bak")
    }

    /// The lock file: `<file>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        sibling(&self.path, ".lock")
    }

    /// Reads the raw file and its hash; `None` if it does not exist.
    pub fn read_raw(&self) -> Result<Option<(String, String)>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let hash = openclaw_config::hash(&bytes);
                let raw = String::from_utf8(bytes).map_err(|e| StateError::Corrupt {
                    path: self.path.clone(),
                    message: format!("not UTF-8 text ({e})"),
                })?;
                Ok(Some((raw, hash)))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::io("read", &self.path)(e)),
        }
    }

    /// Reads and fully validates the config; `None` if the file is missing.
    pub fn load(&self) -> Result<Option<Loaded>, StateError> {
        let Some((raw, hash)) = self.read_raw()? else {
            return Ok(None);
        };
        let parsed = openclaw_config::parse(&raw, &self.path).map_err(StateError::Config)?;
        Ok(Some(Loaded { raw, hash, parsed }))
    }

    pub(crate) fn lock(&self) -> Result<WriteLock, StateError> {
        let file = lock_exclusive(&self.parent_dir(), &self.lock_path())?;
        Ok(WriteLock { _file: file })
    }

    fn parent_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn check_base_as(
        &self,
        rule: Base,
        base_hash: Option<&str>,
        current: Option<&str>,
    ) -> Result<(), StateError> {
        if let (Base::RequiredOnceExists, None, Some(cur)) = (rule, base_hash, current) {
            return Err(StateError::BaseHashRequired {
                path: self.path.clone(),
                current: cur.to_string(),
            });
        }
        match base_hash {
            Some(expected) if Some(expected) != current => Err(StateError::Conflict {
                path: self.path.clone(),
                expected: expected.to_string(),
                actual: current.map(str::to_string),
            }),
            _ => Ok(()),
        }
    }

    /// Read-modify-write under the lock. `f` edits the current value (`{}`
    /// when the file is missing). The current file only has to be valid
    /// JSON5, so an update can repair a wrong type; the result must pass
    /// [`openclaw_config::validate_value`]. With `base_hash`, the write is
    /// refused with [`StateError::Conflict`] if the file's hash differs.
    /// On any error nothing is written.
    pub fn update<E>(
        &self,
        base_hash: Option<&str>,
        f: impl FnOnce(&mut Value) -> Result<(), E>,
    ) -> Result<Written, StateError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.update_as(Base::IfGiven, base_hash, f, &mut StagedFiles::new())
    }

    /// [`ConfigStore::update`] that also requires `base_hash` once the file
    /// exists (the RPC's rule), checked under the same lock as the write, so
    /// a file created by someone else in between is never overwritten
    /// blindly: [`StateError::BaseHashRequired`].
    pub fn update_based<E>(
        &self,
        base_hash: Option<&str>,
        f: impl FnOnce(&mut Value) -> Result<(), E>,
    ) -> Result<Written, StateError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.update_as(
            Base::RequiredOnceExists,
            base_hash,
            f,
            &mut StagedFiles::new(),
        )
    }

    /// [`ConfigStore::update_based`] together with `files` the new config
    /// names: they are put in place under the lock, after the hash check
    /// and validation passed and right before the config is replaced, and
    /// put back as they were if that write fails. So a refused or failed
    /// write changes no file at all, and a successful one changes all.
    pub fn update_based_with<E>(
        &self,
        base_hash: Option<&str>,
        f: impl FnOnce(&mut Value) -> Result<(), E>,
        files: &mut StagedFiles,
    ) -> Result<Written, StateError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.update_as(Base::RequiredOnceExists, base_hash, f, files)
    }

    /// [`ConfigStore::update`] with `files`, as [`ConfigStore::update_based_with`].
    pub fn update_with<E>(
        &self,
        base_hash: Option<&str>,
        f: impl FnOnce(&mut Value) -> Result<(), E>,
        files: &mut StagedFiles,
    ) -> Result<Written, StateError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.update_as(Base::IfGiven, base_hash, f, files)
    }

    fn update_as<E>(
        &self,
        rule: Base,
        base_hash: Option<&str>,
        f: impl FnOnce(&mut Value) -> Result<(), E>,
        files: &mut StagedFiles,
    ) -> Result<Written, StateError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let _lock = self.lock()?;
        let current = self.read_raw()?;
        self.check_base_as(rule, base_hash, current.as_ref().map(|(_, h)| h.as_str()))?;
        let mut value = match &current {
            Some((raw, _)) => {
                openclaw_config::parse_syntax(raw, &self.path).map_err(StateError::Config)?
            }
            None => Value::Object(Default::default()),
        };
        f(&mut value).map_err(|e| StateError::Edit {
            path: self.path.clone(),
            source: e.into(),
        })?;
        let parsed = openclaw_config::validate_value(&value, &self.path).map_err(|error| {
            StateError::Invalid {
                path: self.path.clone(),
                error,
            }
        })?;
        files.commit()?;
        let before = current.as_ref().map(|(raw, _)| raw.as_str());
        match self.write_locked(before, parsed) {
            Ok(w) => {
                files.keep();
                Ok(w)
            }
            // A failure after the new config was renamed into place (the
            // directory fsync) leaves the new config, which names the new
            // files: keep them. Only a config left as it was gets its
            // files back as they were.
            Err(e) if self.changed_from(before) => {
                files.keep();
                Err(e)
            }
            Err(e) => {
                files.roll_back();
                Err(e)
            }
        }
    }

    /// Whether the file on disk is no longer `before` (its text before a
    /// write; `None`: it did not exist).
    pub(crate) fn changed_from(&self, before: Option<&str>) -> bool {
        match (fs::read_to_string(&self.path), before) {
            (Ok(now), Some(b)) => now != b,
            (Ok(_), None) => true,
            (Err(_), Some(_)) => true,
            (Err(_), None) => false,
        }
    }

    /// Replaces the whole file with `raw` (JSON5 text, e.g. from
    /// `config.apply`), after validating it; written back as plain JSON.
    /// Errors in `raw` carry line:column within `raw`.
    pub fn replace_raw(&self, base_hash: Option<&str>, raw: &str) -> Result<Written, StateError> {
        self.replace_raw_as(Base::IfGiven, base_hash, raw)
    }

    /// [`ConfigStore::replace_raw`] with the rule of
    /// [`ConfigStore::update_based`].
    pub fn replace_raw_based(
        &self,
        base_hash: Option<&str>,
        raw: &str,
    ) -> Result<Written, StateError> {
        self.replace_raw_as(Base::RequiredOnceExists, base_hash, raw)
    }

    fn replace_raw_as(
        &self,
        rule: Base,
        base_hash: Option<&str>,
        raw: &str,
    ) -> Result<Written, StateError> {
        let parsed =
            openclaw_config::parse(raw, &self.path).map_err(|error| StateError::Invalid {
                path: self.path.clone(),
                error,
            })?;
        let _lock = self.lock()?;
        let current = self.read_raw()?;
        self.check_base_as(rule, base_hash, current.as_ref().map(|(_, h)| h.as_str()))?;
        self.write_locked(current.as_ref().map(|(raw, _)| raw.as_str()), parsed)
    }

    /// Writes `value` only if the file does not exist yet (what `setup`
    /// needs: never clobber an existing config). Returns `None`, writing
    /// nothing, when the file exists. The value is validated first.
    pub fn create_if_missing(&self, value: &Value) -> Result<Option<Written>, StateError> {
        let parsed = openclaw_config::validate_value(value, &self.path).map_err(|error| {
            StateError::Invalid {
                path: self.path.clone(),
                error,
            }
        })?;
        let _lock = self.lock()?;
        if fs::symlink_metadata(&self.path).is_ok() {
            return Ok(None);
        }
        self.write_locked(None, parsed).map(Some)
    }

    /// Writes under the lock: backup, then the new file.
    fn write_locked(&self, previous: Option<&str>, parsed: Parsed) -> Result<Written, StateError> {
        let text = openclaw_config::render(&parsed.value);
        if let Some(prev) = previous {
            let bak = self.backup_path();
            atomic_write(&bak, prev.as_bytes(), FILE_MODE)
                .map_err(StateError::io("write", &bak))?;
        }
        atomic_write(&self.path, text.as_bytes(), FILE_MODE)
            .map_err(StateError::io("write", &self.path))?;
        Ok(Written {
            hash: openclaw_config::hash(text.as_bytes()),
            warnings: parsed.warnings,
            value: parsed.value,
            config: parsed.config,
        })
    }
}

/// When a write must name the hash it is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// Only a given base hash is checked.
    IfGiven,
    /// Once the file exists a base hash is required.
    RequiredOnceExists,
}
