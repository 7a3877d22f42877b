//! The gateway's own log: `<stateDir>/logs/gateway.log`, rotated by size
//! (`gateway.log.1` .. `.N`), plus stderr. Each gateway writes only inside its
//! own state dir. Callers never pass secrets here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use openclaw_state::owner::rfc3339_utc;

pub const LOG_FILE: &str = "gateway.log";
pub const DEFAULT_MAX_BYTES: u64 = 5 * 1024 * 1024;
pub const DEFAULT_KEEP: u32 = 3;

struct Sink {
    file: Option<File>,
    written: u64,
}

pub struct GatewayLog {
    path: Option<PathBuf>,
    max_bytes: u64,
    keep: u32,
    stderr: bool,
    sink: Mutex<Sink>,
}

impl GatewayLog {
    /// A log that only writes to stderr (before the state dir is ours).
    pub fn stderr_only(stderr: bool) -> Self {
        GatewayLog {
            path: None,
            max_bytes: DEFAULT_MAX_BYTES,
            keep: DEFAULT_KEEP,
            stderr,
            sink: Mutex::new(Sink {
                file: None,
                written: 0,
            }),
        }
    }

    /// Opens `<dir>/gateway.log` for appending (creating `dir`, mode 0700).
    pub fn open(dir: &Path, stderr: bool, max_bytes: u64, keep: u32) -> io::Result<Self> {
        openclaw_state::create_private_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let file = open_append(&path)?;
        let written = file.metadata()?.len();
        Ok(GatewayLog {
            path: Some(path),
            max_bytes,
            keep,
            stderr,
            sink: Mutex::new(Sink {
                file: Some(file),
                written,
            }),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn info(&self, msg: &str) {
        self.line("info", msg);
    }

    pub fn warn(&self, msg: &str) {
        self.line("warn", msg);
    }

    pub fn error(&self, msg: &str) {
        self.line("error", msg);
    }

    fn line(&self, level: &str, msg: &str) {
        let line = format!(
            "{} [gateway] {level}: {msg}\n",
            rfc3339_utc(SystemTime::now())
        );
        tracing::debug!(target: "openclaw_gateway", "{}", line.trim_end());
        // File first, then stderr: whoever sees a line on stderr (e.g. the
        // "ready" line) can rely on it being in the file already.
        self.write_file(&line);
        if self.stderr {
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }

    fn write_file(&self, line: &str) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if sink.file.is_none() {
            return;
        }
        if sink.written + line.len() as u64 > self.max_bytes {
            sink.file = None;
            if let Some(path) = &self.path {
                rotate(path, self.keep);
                match open_append(path) {
                    Ok(f) => {
                        sink.file = Some(f);
                        sink.written = 0;
                    }
                    Err(_) => return,
                }
            }
        }
        if let Some(f) = sink.file.as_mut()
            && f.write_all(line.as_bytes()).is_ok()
        {
            sink.written += line.len() as u64;
        }
    }

    /// The last `n` lines of the current log file.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let Some(path) = &self.path else {
            return Vec::new();
        };
        tail_file(path, n)
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn rotate(path: &Path, keep: u32) {
    let name = |i: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    };
    let _ = std::fs::remove_file(name(keep));
    for i in (1..keep).rev() {
        let _ = std::fs::rename(name(i), name(i + 1));
    }
    let _ = std::fs::rename(path, name(1));
}

/// Reads the last `n` lines, looking at most at the last 256 KiB.
fn tail_file(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    const WINDOW: u64 = 256 * 1024;
    let Ok(mut f) = File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(WINDOW);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // partial first line
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_tails() {
        let dir = tempfile::tempdir().unwrap();
        let log = GatewayLog::open(dir.path(), false, 200, 2).unwrap();
        for i in 0..40 {
            log.info(&format!("line {i}"));
        }
        let tail = log.tail(2);
        assert_eq!(tail.len(), 2);
        assert!(tail[1].ends_with("info: line 39"), "{tail:?}");
        assert!(dir.path().join("gateway.log.1").exists());
        assert!(dir.path().join("gateway.log.2").exists());
        assert!(!dir.path().join("gateway.log.3").exists());
        assert!(std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len() <= 200);
    }
}
