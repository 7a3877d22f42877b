//! Files that must change together with a config write, or not at all.
//!
//! Onboarding writes a credentials file (a model key, a bot token) that the
//! new config names. Written first and left in place when the config write
//! is then refused (the file changed meanwhile), an existing file would keep
//! the new secret while the config stays as it was, and a running gateway
//! would pick it up. A [`StagedFile`] is written complete and fsynced beside
//! its destination, and put in place only by [`StagedFiles::commit`], which
//! [`crate::ConfigStore::update_based_with`] calls under the config lock once
//! the hash check and validation passed, right before the config is
//! replaced. A config write that fails after that puts every file back as
//! it was ([`StagedFiles::roll_back`]); staged files that are never
//! committed leave nothing behind.
//!
//! A symlink at a destination is replaced, never followed (these are the
//! secrets of this state dir: a planted link must not redirect them).

use std::fs::{self, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::error::StateError;
use crate::fsutil::sync_dir;

/// One file written beside its destination, not yet in place.
#[derive(Debug)]
pub struct StagedFile {
    path: PathBuf,
    /// The new content, complete and fsynced; `None` once committed.
    tmp: Option<TempPath>,
    /// After commit: what was at `path` before (a hard link to it, so it
    /// can be put back), or `None` when there was nothing.
    previous: Option<TempPath>,
    committed: bool,
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into())
}

impl StagedFile {
    /// Writes `bytes` with `mode` to a temp file in `path`'s directory
    /// (which must exist) and fsyncs it. Nothing at `path` changes.
    pub fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<StagedFile, StateError> {
        let dir = dir_of(path);
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name_of(path)))
            .suffix(".staged")
            .permissions(Permissions::from_mode(mode))
            .tempfile_in(&dir)
            .map_err(StateError::io("create a temp file in", &dir))?;
        let tmp_path = tmp.path().to_path_buf();
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().set_permissions(Permissions::from_mode(mode)))
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(StateError::io("write", &tmp_path))?;
        Ok(StagedFile {
            path: path.to_path_buf(),
            tmp: Some(tmp.into_temp_path()),
            previous: None,
            committed: false,
        })
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the new content in place: what was at the path is kept aside
    /// (hard-linked), then the temp file is renamed over it.
    fn commit(&mut self) -> Result<(), StateError> {
        if self.committed {
            return Ok(());
        }
        let dir = dir_of(&self.path);
        let previous = match fs::symlink_metadata(&self.path) {
            Ok(_) => {
                let target = self.path.clone();
                let link = tempfile::Builder::new()
                    .prefix(&format!(".{}.", name_of(&self.path)))
                    .suffix(".prev")
                    .make_in(&dir, |p| fs::hard_link(&target, p))
                    .map_err(StateError::io("keep the previous version of", &self.path))?;
                Some(link.into_temp_path())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(StateError::io("stat", &self.path)(e)),
        };
        let tmp = self
            .tmp
            .take()
            .expect("an uncommitted file has its temp file");
        if let Err(e) = tmp.persist(&self.path) {
            self.tmp = Some(e.path);
            return Err(StateError::io("put in place", &self.path)(e.error));
        }
        self.previous = previous;
        self.committed = true;
        sync_dir(&dir).map_err(StateError::io("fsync", &dir))
    }

    /// Undoes [`StagedFile::commit`]: the previous file is put back, or the
    /// new one removed when there was none.
    fn roll_back(&mut self) -> Result<(), StateError> {
        if !self.committed {
            return Ok(());
        }
        let dir = dir_of(&self.path);
        match self.previous.take() {
            Some(prev) => {
                if let Err(e) = prev.persist(&self.path) {
                    self.previous = Some(e.path);
                    return Err(StateError::io("put back", &self.path)(e.error));
                }
            }
            None => match fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StateError::io("remove", &self.path)(e)),
            },
        }
        self.committed = false;
        sync_dir(&dir).map_err(StateError::io("fsync", &dir))
    }
}

/// Files committed together: all of them or none.
#[derive(Debug, Default)]
pub struct StagedFiles {
    files: Vec<StagedFile>,
    /// Committed, and the config write they go with succeeded.
    kept: bool,
}

impl StagedFiles {
    pub fn new() -> Self {
        StagedFiles::default()
    }

    /// Stages `bytes` for `path` (see [`StagedFile::write`]).
    pub fn stage(&mut self, path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
        self.files.push(StagedFile::write(path, bytes, mode)?);
        Ok(())
    }

    /// The destinations, in staging order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(StagedFile::path)
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Puts every file in place; when one fails, those already committed
    /// are put back and the error returned (nothing changed).
    pub fn commit(&mut self) -> Result<(), StateError> {
        for i in 0..self.files.len() {
            if let Err(e) = self.files[i].commit() {
                self.roll_back();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Puts back everything committed, best effort (every file is tried).
    pub fn roll_back(&mut self) {
        for f in self.files.iter_mut().rev() {
            let _ = f.roll_back();
        }
    }

    /// The commit stands: the previous versions kept aside are dropped.
    pub fn keep(&mut self) {
        self.kept = true;
        for f in &mut self.files {
            f.previous = None;
        }
    }
}

impl Drop for StagedFiles {
    /// Uncommitted temp files are removed (their `TempPath`s); a commit
    /// that was not kept is undone.
    fn drop(&mut self) {
        if !self.kept {
            self.roll_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn staged_files_change_nothing_until_committed_and_leave_nothing_when_dropped() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("custom.key");
        fs::write(&old, "A\n").unwrap();
        let new = d.path().join("telegram.token");
        {
            let mut s = StagedFiles::new();
            s.stage(&old, b"B\n", 0o600).unwrap();
            s.stage(&new, b"T\n", 0o600).unwrap();
            assert_eq!(fs::read_to_string(&old).unwrap(), "A\n");
            assert!(!new.exists());
        }
        assert_eq!(entries(d.path()), ["custom.key"]);
        assert_eq!(fs::read_to_string(&old).unwrap(), "A\n");
    }

    #[test]
    fn commit_then_keep_puts_them_in_place_with_their_mode() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("custom.key");
        fs::write(&old, "A\n").unwrap();
        let new = d.path().join("telegram.token");
        let mut s = StagedFiles::new();
        s.stage(&old, b"B\n", 0o600).unwrap();
        s.stage(&new, b"T\n", 0o600).unwrap();
        s.commit().unwrap();
        s.keep();
        drop(s);
        assert_eq!(fs::read_to_string(&old).unwrap(), "B\n");
        assert_eq!(fs::read_to_string(&new).unwrap(), "T\n");
        for p in [&old, &new] {
            assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(entries(d.path()), ["custom.key", "telegram.token"]);
    }

    #[test]
    fn a_commit_not_kept_is_undone() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("custom.key");
        fs::write(&old, "A\n").unwrap();
        let new = d.path().join("telegram.token");
        let mut s = StagedFiles::new();
        s.stage(&old, b"B\n", 0o600).unwrap();
        s.stage(&new, b"T\n", 0o600).unwrap();
        s.commit().unwrap();
        assert_eq!(fs::read_to_string(&old).unwrap(), "B\n");
        s.roll_back();
        assert_eq!(fs::read_to_string(&old).unwrap(), "A\n");
        assert!(!new.exists());
        drop(s);
        assert_eq!(entries(d.path()), ["custom.key"]);

        // Dropped after a commit without keep: undone too.
        let mut s = StagedFiles::new();
        s.stage(&old, b"C\n", 0o600).unwrap();
        s.commit().unwrap();
        drop(s);
        assert_eq!(fs::read_to_string(&old).unwrap(), "A\n");
        assert_eq!(entries(d.path()), ["custom.key"]);
    }

    #[test]
    fn a_failed_commit_puts_back_the_ones_before_it() {
        let d = tempfile::tempdir().unwrap();
        let first = d.path().join("a.key");
        fs::write(&first, "A\n").unwrap();
        // A non-empty directory where the second file goes: its rename fails.
        let second = d.path().join("b.key");
        fs::create_dir(&second).unwrap();
        fs::write(second.join("x"), "x").unwrap();
        let mut s = StagedFiles::new();
        s.stage(&first, b"B\n", 0o600).unwrap();
        s.stage(&second, b"B\n", 0o600).unwrap();
        let e = s.commit().unwrap_err().to_string();
        assert!(e.contains("b.key"), "{e}");
        assert_eq!(fs::read_to_string(&first).unwrap(), "A\n");
        drop(s);
        assert_eq!(entries(d.path()), ["a.key", "b.key"]);
    }

    fn set_level(level: &'static str) -> impl FnOnce(&mut serde_json::Value) -> Result<(), String> {
        move |v| {
            v["logging"] = serde_json::json!({ "level": level });
            Ok(())
        }
    }

    /// The config write and the files it names: both or neither.
    #[test]
    fn the_config_store_commits_staged_files_only_with_its_write() {
        let d = tempfile::tempdir().unwrap();
        let store = crate::ConfigStore::new(d.path().join("openclaw.json"));
        let creds = d.path().join("credentials");
        fs::create_dir(&creds).unwrap();
        let key = creds.join("custom.key");
        fs::write(&key, "A\n").unwrap();
        let token = creds.join("telegram-default.token");
        store.update(None, set_level("info")).unwrap();
        let (_, read_hash) = store.read_raw().unwrap().unwrap();

        // The file changed since it was read: refused, and no file changes.
        store.update(None, set_level("warn")).unwrap();
        let mut files = StagedFiles::new();
        files.stage(&key, b"B\n", 0o600).unwrap();
        files.stage(&token, b"T\n", 0o600).unwrap();
        let e = store
            .update_based_with(Some(&read_hash), set_level("debug"), &mut files)
            .unwrap_err();
        assert!(matches!(e, StateError::Conflict { .. }), "{e}");
        drop(files);
        assert_eq!(fs::read_to_string(&key).unwrap(), "A\n");
        assert_eq!(entries(&creds), ["custom.key"]);

        // An invalid result: refused before any file moves.
        let (_, hash) = store.read_raw().unwrap().unwrap();
        let mut files = StagedFiles::new();
        files.stage(&key, b"B\n", 0o600).unwrap();
        let e = store
            .update_based_with(Some(&hash), set_level("loud"), &mut files)
            .unwrap_err();
        assert!(matches!(e, StateError::Invalid { .. }), "{e}");
        drop(files);
        assert_eq!(fs::read_to_string(&key).unwrap(), "A\n");

        // The write itself fails after the files were put in place (the
        // backup cannot be written): they are put back.
        let bak = store.backup_path();
        fs::remove_file(&bak).unwrap();
        fs::create_dir(&bak).unwrap();
        fs::write(bak.join("x"), "x").unwrap();
        let mut files = StagedFiles::new();
        files.stage(&key, b"B\n", 0o600).unwrap();
        files.stage(&token, b"T\n", 0o600).unwrap();
        let e = store
            .update_based_with(Some(&hash), set_level("debug"), &mut files)
            .unwrap_err();
        assert!(matches!(e, StateError::Io { .. }), "{e}");
        drop(files);
        assert_eq!(fs::read_to_string(&key).unwrap(), "A\n");
        assert_eq!(entries(&creds), ["custom.key"]);
        assert_eq!(store.read_raw().unwrap().unwrap().1, hash);
        fs::remove_dir_all(&bak).unwrap();

        // The write succeeds: every file is in place, nothing else left.
        let mut files = StagedFiles::new();
        files.stage(&key, b"B\n", 0o600).unwrap();
        files.stage(&token, b"T\n", 0o600).unwrap();
        store
            .update_based_with(Some(&hash), set_level("debug"), &mut files)
            .unwrap();
        drop(files);
        assert_eq!(fs::read_to_string(&key).unwrap(), "B\n");
        assert_eq!(fs::read_to_string(&token).unwrap(), "T\n");
        assert_eq!(entries(&creds), ["custom.key", "telegram-default.token"]);
    }

    #[test]
    fn a_symlink_at_the_destination_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        fs::write(&outside, "theirs").unwrap();
        let link = d.path().join("custom.key");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let mut s = StagedFiles::new();
        s.stage(&link, b"B\n", 0o600).unwrap();
        s.commit().unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(fs::read_to_string(&outside).unwrap(), "theirs");
        // Rolled back: the link itself is back.
        s.roll_back();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&outside).unwrap(), "theirs");
    }
}
