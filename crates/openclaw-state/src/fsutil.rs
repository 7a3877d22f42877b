//! Private directories, atomic writes and appends.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::StateError;

/// Mode of a state dir.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files holding secrets (the config, tokens, transcripts).
pub const FILE_MODE: u32 = 0o600;

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Creates any missing directories of `path` (recursively) with mode 0700.
/// Existing directories are left as they are: they may be the user's
/// (`~`, `/tmp`), not ours.
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
        .map_err(|e| with_path(e, "cannot create directory", path))
}

/// Makes sure a state dir exists and is private: missing directories are
/// created with mode 0700, and the state dir itself is set to 0700 even if it
/// already existed (it is ours by definition). Parents that already existed
/// are not touched.
pub fn ensure_state_dir(path: &Path) -> io::Result<()> {
    create_private_dir_all(path)?;
    let meta = fs::metadata(path).map_err(|e| with_path(e, "cannot stat", path))?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", path.display()),
        ));
    }
    if meta.permissions().mode() & 0o7777 != DIR_MODE {
        fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
            .map_err(|e| with_path(e, "cannot set mode 0700 on", path))?;
    }
    Ok(())
}

/// Where a write to `path` really lands: a symlink is followed so that
/// replacing the file keeps the link (e.g. a config kept in a dotfiles repo).
fn write_target(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).unwrap_or(path.into()),
        _ => path.to_path_buf(),
    }
}

/// Replaces `path` atomically: writes a temp file in the same directory,
/// fsyncs it, sets `mode`, renames it over `path` and fsyncs the directory.
/// Readers see the old or the new content, never a mix. The directory must
/// exist. A symlink at `path` is followed (the config may live in a
/// dotfiles repo); files the gateway owns use [`atomic_replace`].
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    replace_file(&write_target(path), bytes, mode)
}

/// [`atomic_write`] that never follows a symlink: a link at `path` is
/// itself replaced by the new file, its target left untouched. For the
/// files under a state dir that only the gateway writes (owner record,
/// channel state), where a planted link must not redirect the write.
pub fn atomic_replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    replace_file(path, bytes, mode)
}

fn replace_file(target: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let target = target.to_path_buf();
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(&dir)
        .map_err(|e| with_path(e, "cannot create a temp file in", &dir))?;
    let tmp_path = tmp.path().to_path_buf();
    tmp.write_all(bytes)
        .map_err(|e| with_path(e, "cannot write", &tmp_path))?;
    // umask may have narrowed the mode at creation; set it exactly.
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))
        .map_err(|e| with_path(e, "cannot set mode on", &tmp_path))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| with_path(e, "cannot fsync", &tmp_path))?;
    tmp.persist(&target)
        .map_err(|e| with_path(e.error, "cannot rename a temp file onto", &target))?;
    sync_dir(&dir)
}

/// Creates `path` with `bytes` and `mode` unless it already exists; never
/// overwrites. The content is written to a temp file in the same directory
/// and hard-linked into place, so the file appears complete or not at all.
/// Returns whether the file was created.
pub fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<bool> {
    let dir = path.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no parent directory", path.display()),
        )
    })?;
    if fs::symlink_metadata(path).is_ok() {
        return Ok(false);
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".openclaw-new-")
        .tempfile_in(dir)
        .map_err(|e| with_path(e, "cannot create a temp file in", dir))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().set_permissions(Permissions::from_mode(mode)))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| with_path(e, "cannot write", tmp.path()))?;
    match fs::hard_link(tmp.path(), path) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(with_path(e, "cannot create", path)),
    }
}

fn symlink_refused(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a symbolic link; refusing to follow it (files under a state dir must be real files: remove the link)",
            path.display()
        ),
    )
}

/// Opens `path` for appending (created with `mode` if missing) without
/// following a symlink (`O_NOFOLLOW`), and checks that what was opened is
/// a regular file: a link or a FIFO planted at a log path is refused.
pub fn open_append_nofollow(path: &Path, mode: u32) -> io::Result<File> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                symlink_refused(path)
            } else {
                with_path(e, "cannot open for appending", path)
            }
        })?;
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file; refusing to write to it",
                path.display()
            ),
        ));
    }
    Ok(f)
}

/// A directory of the gateway's own under a state dir (e.g. `logs/`):
/// created 0700 if missing, tightened to 0700 if not, and refused when it
/// is a symlink (whose target the gateway would otherwise write into and
/// chmod) or not a directory. The parent must exist.
pub fn ensure_private_subdir(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(path)),
        Ok(m) if !m.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a directory", path.display()),
            ));
        }
        Ok(m) => {
            if m.permissions().mode() & 0o7777 != DIR_MODE {
                fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
                    .map_err(|e| with_path(e, "cannot set mode 0700 on", path))?;
            }
            return Ok(());
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(with_path(e, "cannot stat", path)),
    }
    match DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => Ok(()),
        // Created at the same moment by someone else: check what it is.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => Ok(()),
            _ => Err(symlink_refused(path)),
        },
        Err(e) => Err(with_path(e, "cannot create directory", path)),
    }
}

/// `base/<parts...>` as real directories: each missing one is created
/// 0700, and a symlink (or non-directory) at any of them is refused, so
/// nothing written there can land outside `base`. `base` itself (the
/// state dir, which may be a link the user made) is created if missing
/// and otherwise taken as it is.
pub fn private_dir_beneath(base: &Path, parts: &[&str]) -> io::Result<PathBuf> {
    create_private_dir_all(base)?;
    let mut p = base.to_path_buf();
    for part in parts {
        if part.is_empty() || *part == "." || *part == ".." || part.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid path component {part:?} under {}", base.display()),
            ));
        }
        p.push(part);
        ensure_private_subdir(&p)?;
    }
    Ok(p)
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(e, "cannot fsync directory", dir))
}

/// Appends one line (a `\n` is added) to `path`, creating it with `mode` if
/// missing (an existing file keeps its mode), and fsyncs. The line is
/// written with a single `write` on an `O_APPEND` descriptor, so concurrent
/// appenders do not interleave within a line. A line containing a newline
/// is refused (JSONL needs one record per line).
pub fn append_line(path: &Path, line: &str, mode: u32) -> io::Result<()> {
    if line.contains('\n') || line.contains('\r') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot append to {}: the line contains a line break",
                path.display()
            ),
        ));
    }
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .open(path)
        .map_err(|e| with_path(e, "cannot open for appending", path))?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    f.write_all(&buf)
        .map_err(|e| with_path(e, "cannot append to", path))?;
    f.sync_data()
        .map_err(|e| with_path(e, "cannot fsync", path))
}

/// 48 lowercase hex characters (192 bits) from the OS random number
/// generator; used for gateway auth tokens.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
    hex::encode(bytes)
}

/// Compares a presented secret with the expected one in constant time.
/// Both are hashed first, so neither the content nor the length of the
/// expected secret leaks through timing.
pub fn secret_eq(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// Takes the exclusive lock on `lock_path` (created 0600 if missing, in
/// `dir`, which is created 0700 if missing), waiting while another process
/// holds it. Released when the returned file is closed.
pub(crate) fn lock_exclusive(dir: &Path, lock_path: &Path) -> Result<File, StateError> {
    create_private_dir_all(dir).map_err(StateError::io("create directory", dir))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(lock_path)
        .map_err(StateError::io("open lock file", lock_path))?;
    file.lock().map_err(StateError::io("lock", lock_path))?;
    Ok(file)
}
