//! The gateway log under a state dir: `<stateDir>/logs/gateway.log`,
//! rotated by size to `gateway.log.1` .. `gateway.log.N`, mode 0600 in a
//! 0700 directory; and reading it back (last lines, following new ones) for
//! `openclaw logs`, which works whether or not the gateway runs.
//!
//! Appending is not a whole-file write, so it is not atomic by design; a
//! reader may see the last line half-written, and [`tail_lines`] /
//! [`Follower`] only return complete lines.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::fsutil::FILE_MODE;

/// File name of the gateway log.
pub const GATEWAY_LOG: &str = "gateway.log";
/// Default size of one log file before it is rotated.
pub const DEFAULT_MAX_BYTES: u64 = 5 * 1024 * 1024;
/// Default number of rotated files kept.
pub const DEFAULT_KEEP: u32 = 3;

/// `<stateDir>/logs`.
pub fn log_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("logs")
}

/// `<stateDir>/logs/gateway.log`.
pub fn gateway_log_path(state_dir: &Path) -> PathBuf {
    log_dir(state_dir).join(GATEWAY_LOG)
}

/// `<stateDir>/logs/gateway-detached.log`: stdout and stderr of a gateway
/// started in the background by `gateway restart` without a service manager.
pub fn detached_log_path(state_dir: &Path) -> PathBuf {
    log_dir(state_dir).join("gateway-detached.log")
}

/// Opens [`detached_log_path`] for appending (logs dir created or
/// tightened to 0700, file 0600), for a child process's output.
pub fn open_detached_log(state_dir: &Path) -> io::Result<File> {
    private_log_dir(&log_dir(state_dir))?;
    open_append(&detached_log_path(state_dir))
}

/// An append-only log file rotated by size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: Option<File>,
    written: u64,
    max_bytes: u64,
    keep: u32,
}

impl RotatingFile {
    /// Opens `<dir>/<name>` for appending; `dir` is created (or tightened)
    /// to 0700, the file is created 0600. A symlink at `dir` or at the file
    /// is refused, never followed (see [`crate::open_append_nofollow`]).
    pub fn open(dir: &Path, name: &str, max_bytes: u64, keep: u32) -> io::Result<RotatingFile> {
        private_log_dir(dir)?;
        let path = dir.join(name);
        let file = open_append(&path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            file: Some(file),
            written,
            max_bytes,
            keep,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` (which should end in `\n`), rotating first when it
    /// would take the file past the size limit. Errors are returned, and the
    /// next call tries again.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        if self.written > 0 && self.written + line.len() as u64 > self.max_bytes {
            self.file = None;
            rotate(&self.path, self.keep);
            self.written = 0;
        }
        if self.file.is_none() {
            let f = open_append(&self.path)?;
            self.written = f.metadata()?.len();
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        f.write_all(line.as_bytes())?;
        self.written += line.len() as u64;
        Ok(())
    }
}

/// `logs/` under a state dir: the state dir (its parent) is created if
/// missing; `logs` itself must be a real directory, never a symlink.
fn private_log_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::create_private_dir_all(parent)?;
    }
    crate::ensure_private_subdir(dir)
}

fn open_append(path: &Path) -> io::Result<File> {
    crate::open_append_nofollow(path, FILE_MODE)
}

/// `gateway.log` → `gateway.log.1` → ... → `gateway.log.<keep>` (dropped).
fn rotate(path: &Path, keep: u32) {
    let name = |i: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    };
    if keep == 0 {
        let _ = fs::remove_file(path);
        return;
    }
    let _ = fs::remove_file(name(keep));
    for i in (1..keep).rev() {
        let _ = fs::rename(name(i), name(i + 1));
    }
    let _ = fs::rename(path, name(1));
}

/// How far back [`tail_lines`] reads from the end of a file.
const TAIL_WINDOW: u64 = 1024 * 1024;

/// The last `n` complete lines of `path` (looking at most at its last MiB).
/// `Err` with `NotFound` when there is no such file.
pub fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(TAIL_WINDOW);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // the window began mid-line
    }
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop(); // being written right now
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..]
        .iter()
        .map(|l| l.trim_end_matches(['\n', '\r']).to_string())
        .collect())
}

/// Follows a log file as it grows, across rotation: [`Follower::poll`]
/// returns the complete lines appended since the last call. When the file
/// is replaced (rotated: another inode) or truncated, reading starts again
/// at the beginning of the new file.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    inode: Option<u64>,
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Starts at the current end of `path` (or at its start once it
    /// appears, if it does not exist yet).
    pub fn from_end(path: &Path) -> Follower {
        let (inode, offset) = match fs::metadata(path) {
            Ok(m) => (Some(m.ino()), m.len()),
            Err(_) => (None, 0),
        };
        Follower {
            path: path.to_path_buf(),
            inode,
            offset,
            partial: Vec::new(),
        }
    }

    /// New complete lines, oldest first (empty when nothing changed or the
    /// file is missing).
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let m = f.metadata()?;
        if self.inode != Some(m.ino()) || m.len() < self.offset {
            self.inode = Some(m.ino());
            self.offset = 0;
            self.partial.clear();
        }
        if m.len() == self.offset {
            return Ok(Vec::new());
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let s = String::from_utf8_lossy(&line);
            out.push(s.trim_end_matches(['\n', '\r']).to_string());
        }
        Ok(out)
    }
}

/// One line of the gateway log, split into its parts:
/// `<ts> [<source>] <level>: <message>` (`source` is `gateway` for the
/// gateway's own lines, else the crate that logged it). A line in another
/// shape (e.g. written by an older version) keeps only `raw`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub raw: String,
}

impl LogRecord {
    pub fn parse(line: &str) -> LogRecord {
        let parts = (|| {
            let (ts, rest) = line.split_once(" [")?;
            let (source, rest) = rest.split_once("] ")?;
            let (level, message) = rest.split_once(": ")?;
            let ok = !ts.contains(' ')
                && !source.contains(' ')
                && !level.is_empty()
                && level.bytes().all(|b| b.is_ascii_lowercase());
            ok.then_some((ts, source, level, message))
        })();
        match parts {
            Some((ts, source, level, message)) => LogRecord {
                ts: Some(ts.into()),
                source: Some(source.into()),
                level: Some(level.into()),
                message: Some(message.into()),
                raw: line.into(),
            },
            None => LogRecord {
                ts: None,
                source: None,
                level: None,
                message: None,
                raw: line.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn rotates_by_size_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        fs::create_dir(&logs).unwrap();
        fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).unwrap();
        let mut f = RotatingFile::open(&logs, GATEWAY_LOG, 200, 2).unwrap();
        for i in 0..40 {
            f.write_line(&format!("line {i:02} ..........\n")).unwrap();
        }
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&logs), 0o700, "the log dir is tightened");
        assert_eq!(mode(f.path()), 0o600);
        assert!(logs.join("gateway.log.1").exists());
        assert!(logs.join("gateway.log.2").exists());
        assert!(!logs.join("gateway.log.3").exists());
        assert!(fs::metadata(f.path()).unwrap().len() <= 200);
        assert_eq!(mode(&logs.join("gateway.log.1")), 0o600);
        let tail = tail_lines(f.path(), 2).unwrap();
        assert_eq!(tail, ["line 38 ..........", "line 39 .........."]);
    }

    #[test]
    fn tail_skips_a_half_written_line_and_reports_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        assert_eq!(
            tail_lines(&p, 5).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        fs::write(&p, "a\nb\nc\npartial").unwrap();
        assert_eq!(tail_lines(&p, 2).unwrap(), ["b", "c"]);
        assert_eq!(tail_lines(&p, 10).unwrap(), ["a", "b", "c"]);
        assert!(tail_lines(&p, 0).unwrap().is_empty());
    }

    #[test]
    fn log_lines_parse_into_parts() {
        let r = LogRecord::parse("2026-12-01T21:00:00Z [gateway] info: ready: listening on ws://x");
        assert_eq!(r.ts.as_deref(), Some("2026-12-01T21:00:00Z"));
        assert_eq!(r.source.as_deref(), Some("gateway"));
        assert_eq!(r.level.as_deref(), Some("info"));
        assert_eq!(r.message.as_deref(), Some("ready: listening on ws://x"));
        let r = LogRecord::parse("something else: entirely");
        assert_eq!(r.level, None);
        assert_eq!(r.raw, "something else: entirely");
    }

    #[test]
    fn follower_sees_appends_partial_lines_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gateway.log");
        let mut fol = Follower::from_end(&p);
        assert!(fol.poll().unwrap().is_empty(), "no file yet");
        fs::write(&p, "one\ntw").unwrap();
        assert_eq!(fol.poll().unwrap(), ["one"]);
        let mut f = fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"o\nthree\n").unwrap();
        assert_eq!(fol.poll().unwrap(), ["two", "three"]);
        assert!(fol.poll().unwrap().is_empty());
        // Rotation: the file is renamed away and a new one starts.
        fs::rename(&p, dir.path().join("gateway.log.1")).unwrap();
        fs::write(&p, "fresh\n").unwrap();
        assert_eq!(fol.poll().unwrap(), ["fresh"]);
        // Starting from the end skips what is already there.
        let mut late = Follower::from_end(&p);
        assert!(late.poll().unwrap().is_empty());
    }
}
