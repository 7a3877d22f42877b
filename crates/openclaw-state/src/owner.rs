//! One gateway per state dir.
//!
//! [`StateLock::acquire`] takes an exclusive OS lock (`flock`) on the state
//! directory itself, held for the gateway's whole life. Because the lock is on
//! the directory's own file descriptor, a start that fails to get the lock
//! creates no file at all, and a crashed owner never blocks the next start:
//! the kernel drops the lock with the process.
//!
//! Once the lock is held and every port is bound, the gateway writes an
//! [`OwnerRecord`] to `<stateDir>/gateway.owner.json` (atomically, mode 0600)
//! so other commands can find it (pid, port, profile, ...). The record is
//! removed on clean exit; a stale record left by a crash is recognised by
//! [`OwnerRecord::is_live`] (dead pid, or a pid reused by another process).
//!
//! Windows cannot lock a directory handle this way; there the lock is taken
//! on `<stateDir>/gateway.lock` (created on first use and left in place).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// File name of the owner record inside the state dir.
pub const OWNER_FILE: &str = "gateway.owner.json";
/// Lock file used where directories cannot be locked (Windows).
#[cfg(windows)]
pub const LOCK_FILE: &str = "gateway.lock";

/// One listener of a running gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerListener {
    /// What the port is for, e.g. `gateway`, `canvas host`.
    pub purpose: String,
    pub port: u16,
    /// The address it is bound to, e.g. `127.0.0.1` (absent in records of
    /// older gateways).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Who owns a state dir: written by the running gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerRecord {
    pub pid: u32,
    /// Process start time in clock ticks since boot (`/proc/<pid>/stat`
    /// field 22); `None` where it cannot be read.
    pub start_time: Option<u64>,
    /// `None` is the default profile.
    pub profile: Option<String>,
    /// The gateway (base) port actually bound.
    pub port: u16,
    /// Host the gateway listens on, e.g. `127.0.0.1`.
    #[serde(default)]
    pub bind_host: Option<String>,
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    pub version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Every listener bound before readiness (base port first).
    #[serde(default)]
    pub listeners: Vec<OwnerListener>,
    /// The flags the gateway was started with, so `gateway restart` runs the
    /// same gateway again (absent in records of older gateways).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_flags: Option<StartFlags>,
}

/// The start flags of `openclaw gateway` that a restart must keep. Secrets
/// are never recorded: auth given on the command line is kept only as a
/// file reference (`--token-file`); a literal `--token` is only noted, so
/// a restart can refuse instead of coming back without it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartFlags {
    /// `--port` (or the `OPENCLAW_GATEWAY_PORT` it was started with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `--bind` as given: `loopback`, `lan`, `custom` or an IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// `--token-file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// A literal `--token` was given (its value is not recorded).
    #[serde(default)]
    pub token_literal: bool,
    /// `--allow-unconfigured`.
    #[serde(default)]
    pub allow_unconfigured: bool,
    /// `--verbose`.
    #[serde(default)]
    pub verbose: bool,
}

impl StartFlags {
    /// The arguments after `openclaw gateway` that reproduce these flags
    /// (everything but a literal token, which is not recorded).
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = self.port {
            out.extend(["--port".to_string(), p.to_string()]);
        }
        if let Some(b) = &self.bind {
            out.extend(["--bind".to_string(), b.clone()]);
        }
        if let Some(f) = &self.token_file {
            out.extend(["--token-file".to_string(), f.display().to_string()]);
        }
        if self.allow_unconfigured {
            out.push("--allow-unconfigured".into());
        }
        if self.verbose {
            out.push("--verbose".into());
        }
        out
    }
}

impl OwnerRecord {
    /// A record for the current process; `start_time` and `started_at` are
    /// filled in here.
    pub fn for_current_process(
        profile: Option<String>,
        port: u16,
        state_dir: PathBuf,
        config_path: PathBuf,
        version: String,
    ) -> Self {
        let pid = std::process::id();
        OwnerRecord {
            pid,
            start_time: process_start_time(pid),
            profile,
            port,
            bind_host: None,
            state_dir,
            config_path,
            version,
            started_at: rfc3339_utc(SystemTime::now()),
            listeners: Vec::new(),
            start_flags: None,
        }
    }

    /// Whether the recorded process is still running: the pid exists and, where
    /// start times can be read, it is the same process (a reused pid is not).
    pub fn is_live(&self) -> bool {
        if !pid_alive(self.pid) || is_zombie(self.pid) {
            return false;
        }
        match (self.start_time, process_start_time(self.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }

    /// `profile rescue` / `default profile`.
    pub fn profile_label(&self) -> String {
        match &self.profile {
            Some(p) => format!("profile {p}"),
            None => "default profile".to_string(),
        }
    }
}

/// Why the state dir could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds the lock. `owner` is its record when it has
    /// written one (a gateway still binding its ports has not yet).
    #[error("{}", held_message(state_dir, owner.as_deref()))]
    Held {
        state_dir: PathBuf,
        owner: Option<Box<OwnerRecord>>,
    },
    #[error("cannot lock state dir {}: {source}", state_dir.display())]
    Io {
        state_dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn held_message(state_dir: &Path, owner: Option<&OwnerRecord>) -> String {
    match owner {
        Some(o) => format!(
            "state dir {} is owned by another gateway: pid {} ({}, port {}, config {}) since {}",
            state_dir.display(),
            o.pid,
            o.profile_label(),
            o.port,
            o.config_path.display(),
            o.started_at
        ),
        None => format!(
            "state dir {} is locked by another gateway that is still starting (no owner record yet)",
            state_dir.display()
        ),
    }
}

/// The exclusive lock on a state dir. Dropping it removes the owner record (if
/// this lock wrote one) and releases the lock.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    state_dir: PathBuf,
    wrote_owner: bool,
}

impl StateLock {
    /// Locks `state_dir`, creating it (mode 0700) if it does not exist. Never
    /// waits: when another process holds the lock this returns
    /// [`LockError::Held`] at once, with that owner's record when readable.
    /// Nothing inside an existing state dir is created or changed.
    pub fn acquire(state_dir: &Path) -> Result<StateLock, LockError> {
        let io_err = |source| LockError::Io {
            state_dir: state_dir.to_path_buf(),
            source,
        };
        if !state_dir.exists() {
            crate::create_private_dir_all(state_dir).map_err(io_err)?;
        }
        let file = open_lock_target(state_dir).map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock {
                file,
                state_dir: state_dir.to_path_buf(),
                wrote_owner: false,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Held {
                state_dir: state_dir.to_path_buf(),
                owner: read_owner(state_dir).map(Box::new),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io_err(e)),
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Writes the owner record atomically (temp file + rename, mode 0600).
    /// A symlink planted at its path is replaced, never followed.
    pub fn write_owner(&mut self, record: &OwnerRecord) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        crate::atomic_replace(&self.state_dir.join(OWNER_FILE), &json, crate::FILE_MODE)?;
        self.wrote_owner = true;
        Ok(())
    }

    /// Removes the owner record and releases the lock.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        if self.wrote_owner {
            let _ = std::fs::remove_file(self.state_dir.join(OWNER_FILE));
        }
        let _ = self.file.unlock();
    }
}

#[cfg(not(windows))]
fn open_lock_target(state_dir: &Path) -> io::Result<File> {
    // A directory opened read-only can be flock()ed on Linux and macOS.
    File::open(state_dir)
}

#[cfg(windows)]
fn open_lock_target(state_dir: &Path) -> io::Result<File> {
    // Directory handles cannot be locked with LockFileEx; use a lock file.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(state_dir.join(LOCK_FILE))
}

/// Reads `<stateDir>/gateway.owner.json`; `None` when missing, unreadable
/// or a symlink (a gateway writes a real file; a link is not its record).
/// The record may be stale: check [`OwnerRecord::is_live`].
pub fn read_owner(state_dir: &Path) -> Option<OwnerRecord> {
    use std::io::Read;
    let mut f = open_nofollow(&state_dir.join(OWNER_FILE)).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(unix)]
fn open_nofollow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_nofollow(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// The live owner of `state_dir`, if any.
pub fn live_owner(state_dir: &Path) -> Option<OwnerRecord> {
    read_owner(state_dir).filter(OwnerRecord::is_live)
}

/// Who holds a state dir's lock, as far as can be told without taking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockProbe {
    /// A process holds it: a gateway, running or still starting (it takes
    /// the lock before it binds its ports and writes its owner record).
    /// `pid` when the kernel shows it.
    Held { pid: Option<u32> },
    /// Nobody holds it.
    Free,
    /// Cannot be told here (no `/proc/locks`: not Linux).
    Unknown,
}

/// Whether a gateway holds `state_dir`'s lock right now. The lock, not the
/// owner record, is the truth about "a gateway has this state dir": a
/// gateway that is still starting holds it before its record exists.
/// Found in `/proc/locks` rather than by trying the lock, since holding it
/// even for an instant would make a gateway starting at that moment give
/// up ([`StateLock::acquire`] never waits). A lock on the state dir's inode
/// counts when its device is the dir's, or when its holder has the dir
/// open (filesystems such as btrfs report another device to `stat`).
pub fn lock_holder(state_dir: &Path) -> LockProbe {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(state_dir) else {
            return LockProbe::Free;
        };
        let Some(holders) = crate::procfs::flock_holders(meta.ino()) else {
            return LockProbe::Unknown;
        };
        let dev = (libc::major(meta.dev()), libc::minor(meta.dev()));
        holders
            .into_iter()
            .find(|h| {
                h.dev == dev
                    || h.pid
                        .is_some_and(|p| crate::procfs::pid_has_open(p, state_dir) == Some(true))
            })
            .map_or(LockProbe::Free, |h| LockProbe::Held { pid: h.pid })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = state_dir;
        LockProbe::Unknown
    }
}

#[cfg(unix)]
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn pid_alive(_pid: u32) -> bool {
    // Without a cheap check, assume alive; the OS lock is the real arbiter.
    true
}

/// Whether `pid` has exited but not been reaped yet (its parent has not
/// waited for it). `kill(pid, 0)` still succeeds on such a process, but it
/// holds no lock and serves nothing.
pub fn is_zombie(pid: u32) -> bool {
    crate::procfs::stat(pid).is_some_and(|s| s.exited())
}

/// Start time of a process in clock ticks since boot (Linux); `None` elsewhere
/// or when the process does not exist. A zombie still has a start time, which
/// is why [`OwnerRecord::is_live`] also checks [`is_zombie`].
pub fn process_start_time(pid: u32) -> Option<u64> {
    crate::procfs::stat(pid).map(|s| s.start_time)
}

/// Field 22 of `/proc/<pid>/stat`. The command name (field 2) is in
/// parentheses and may contain spaces or ')', so fields are counted after the
/// last ')'.
#[cfg(test)]
fn parse_stat_start_time(stat: &str) -> Option<u64> {
    crate::procfs::parse_stat(stat).map(|s| s.start_time)
}

/// Formats a time as RFC 3339 UTC with milliseconds, e.g.
/// `2026-11-21T14:14:25.825Z`.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn record(dir: &Path) -> OwnerRecord {
        OwnerRecord::for_current_process(
            Some("rescue".into()),
            19001,
            dir.to_path_buf(),
            dir.join("openclaw.json"),
            "0.1.0".into(),
        )
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn second_lock_is_refused_with_the_owner_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let mut first = StateLock::acquire(&dir).unwrap();
        // A held lock without a record yet: Held with no owner.
        match StateLock::acquire(&dir) {
            Err(LockError::Held { owner: None, .. }) => {}
            other => panic!("expected Held without owner, got {other:?}"),
        }
        let rec = record(&dir);
        first.write_owner(&rec).unwrap();
        let before = entries(&dir);
        let err = StateLock::acquire(&dir).unwrap_err();
        match &err {
            LockError::Held {
                owner: Some(owner), ..
            } => assert_eq!(**owner, rec),
            other => panic!("expected Held with owner, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(
            msg.contains("profile rescue") && msg.contains("port 19001"),
            "{msg}"
        );
        assert_eq!(
            entries(&dir),
            before,
            "a refused lock must not touch the dir"
        );
        assert_eq!(before, vec![OWNER_FILE.to_string()]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_lock_is_seen_held_without_taking_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert_eq!(lock_holder(&state), LockProbe::Free);
        let lock = StateLock::acquire(&state).unwrap();
        // Held, with no owner record yet (a gateway still starting).
        assert!(read_owner(&state).is_none());
        assert_eq!(
            lock_holder(&state),
            LockProbe::Held {
                pid: Some(std::process::id())
            }
        );
        // Probing did not take it: it is still ours, and still refused to
        // another taker.
        assert!(matches!(
            StateLock::acquire(&state),
            Err(LockError::Held { .. })
        ));
        lock.release();
        assert_eq!(lock_holder(&state), LockProbe::Free);
        // Another directory's lock is not this one's.
        let other = dir.path().join("other");
        let _l = StateLock::acquire(&other).unwrap();
        assert_eq!(lock_holder(&state), LockProbe::Free);
    }

    #[test]
    fn release_removes_the_record_and_frees_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut lock = StateLock::acquire(dir).unwrap();
        lock.write_owner(&record(dir)).unwrap();
        assert!(dir.join(OWNER_FILE).exists());
        lock.release();
        assert!(!dir.join(OWNER_FILE).exists());
        let again = StateLock::acquire(dir).unwrap();
        drop(again);
        assert!(entries(dir).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn record_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut lock = StateLock::acquire(dir).unwrap();
        let rec = record(dir);
        lock.write_owner(&rec).unwrap();
        let mode = std::fs::metadata(dir.join(OWNER_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_owner(dir), Some(rec.clone()));
        assert!(rec.is_live());
        assert_eq!(live_owner(dir), Some(rec));
    }

    #[cfg(unix)]
    #[test]
    fn missing_state_dir_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let _lock = StateLock::acquire(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_killed_owner_leaves_no_lock_behind() {
        // Another process (a shell holding an fd on the dir, flock(1)ed)
        // takes the lock, then is killed with SIGKILL.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let script = "exec 9<\"$1\"; flock -xn 9 || exit 3; echo locked; exec sleep 30";
        let mut child = std::process::Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let mut line = String::new();
        {
            use std::io::BufRead;
            let out = child.stdout.take().unwrap();
            std::io::BufReader::new(out).read_line(&mut line).unwrap();
        }
        assert_eq!(line.trim(), "locked", "flock(1) is required for this test");
        assert!(matches!(
            StateLock::acquire(dir),
            Err(LockError::Held { .. })
        ));
        child.kill().unwrap();
        child.wait().unwrap();
        // The kernel dropped the lock with the process: no stale-lock wait.
        let lock = StateLock::acquire(dir);
        assert!(lock.is_ok(), "{lock:?}");
    }

    #[test]
    fn dead_and_reused_pids_are_not_live() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rec = record(tmp.path());
        assert!(rec.is_live());
        // A reused pid: same pid, different start time.
        if rec.start_time.is_some() {
            rec.start_time = rec.start_time.map(|t| t + 1);
            assert!(!rec.is_live());
        }
        // A pid that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = OwnerRecord {
            pid,
            start_time: None,
            ..record(tmp.path())
        };
        assert!(!dead.is_live());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unreaped_child_is_a_zombie_and_not_live() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Wait until it has exited without reaping it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !is_zombie(pid) {
            assert!(std::time::Instant::now() < deadline, "child never exited");
            std::thread::sleep(Duration::from_millis(10));
        }
        let unreaped = OwnerRecord {
            pid,
            start_time: process_start_time(pid),
            ..record(tmp.path())
        };
        assert!(!unreaped.is_live(), "an exited, unreaped owner is not live");
        child.wait().unwrap();
        assert!(!is_zombie(std::process::id()));
    }

    #[test]
    fn start_flags_survive_the_record_and_give_back_the_same_arguments() {
        let mut rec = record(Path::new("/tmp/x"));
        rec.start_flags = Some(StartFlags {
            port: Some(19001),
            bind: Some("lan".into()),
            token_file: Some(PathBuf::from("/run/secret token")),
            token_literal: false,
            allow_unconfigured: true,
            verbose: true,
        });
        let json = serde_json::to_string(&rec).unwrap();
        let back: OwnerRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
        assert_eq!(
            back.start_flags.unwrap().args(),
            [
                "--port",
                "19001",
                "--bind",
                "lan",
                "--token-file",
                "/run/secret token",
                "--allow-unconfigured",
                "--verbose"
            ]
        );
        // A record of an older gateway has no flags.
        let old = json.replace(",\"startFlags\"", ",\"ignored\"");
        let v: serde_json::Value = serde_json::from_str(&old).unwrap();
        let mut v = v;
        v.as_object_mut().unwrap().remove("ignored");
        let old: OwnerRecord = serde_json::from_value(v).unwrap();
        assert_eq!(old.start_flags, None);
        // A literal token is noted, never recorded.
        let lit = StartFlags {
            token_literal: true,
            ..Default::default()
        };
        assert!(lit.args().is_empty());
        assert!(!serde_json::to_string(&lit).unwrap().contains("--token"));
    }

    #[test]
    fn stat_parsing_handles_odd_command_names() {
        let stat =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(parse_stat_start_time(stat), Some(987654));
        assert_eq!(parse_stat_start_time("garbage"), None);
    }

    #[test]
    fn rfc3339() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_270_465_825);
        assert_eq!(rfc3339_utc(t), "2026-11-21T14:14:25.825Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339_utc(leap), "2000-02-29T00:00:00.000Z");
    }
}
