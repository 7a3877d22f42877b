//! Whether a state dir and a config file can be trusted by the gateway that
//! is about to use them: owned by the user running it, writable by nobody
//! else (another user could plant files or change its auth), readable by
//! nobody else (tokens, transcripts).
//!
//! [`judge`] is the rule, a pure function of owner, mode and the running
//! user; [`check`] applies it to a path. The gateway refuses what
//! [`Judgement::Refuse`]s and tightens what [`Judgement::Tighten`]s (and
//! logs both), at start and on every config reload; `doctor` reports the
//! same modes.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// What is being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A state dir (wanted mode 0700).
    StateDir,
    /// A config file (wanted mode 0600; a symlink is judged by its target).
    Config,
}

impl Kind {
    pub fn want(self) -> u32 {
        match self {
            Kind::StateDir => crate::DIR_MODE,
            Kind::Config => crate::FILE_MODE,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::StateDir => "state dir",
            Kind::Config => "config",
        }
    }
}

/// The verdict on one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Fine,
    /// Other users can read it: set `to` (was `from`).
    Tighten {
        from: u32,
        to: u32,
    },
    /// Not safe to use: the reason, then how to fix it.
    Refuse {
        why: String,
        fix: String,
    },
}

/// The rule. `mode` is the permission bits (`& 0o7777`).
///
/// - owned by another user than `euid`: refuse (it is theirs, or someone
///   else's, to change under us);
/// - writable by group or others: refuse (anyone in them could have planted
///   files or changed `gateway.auth`; tightening now would hide that);
/// - readable (or searchable) by group or others: tighten to 0700 / 0600.
pub fn judge(kind: Kind, path: &Path, owner: u32, euid: u32, mode: u32) -> Judgement {
    let want = kind.want();
    let p = path.display();
    if owner != euid {
        return Judgement::Refuse {
            why: format!(
                "{} {p} belongs to uid {owner}, not to the user running the gateway (uid {euid})",
                kind.what()
            ),
            fix: format!(
                "run the gateway as its owner, or give it to this user: chown {euid} {p} && chmod {want:o} {p}"
            ),
        };
    }
    if mode & 0o022 != 0 {
        return Judgement::Refuse {
            why: format!(
                "{} {p} is writable by other users (mode {mode:04o})",
                kind.what()
            ),
            fix: format!("check its contents, then: chmod {want:o} {p}"),
        };
    }
    if mode & 0o077 != 0 {
        return Judgement::Tighten {
            from: mode,
            to: want,
        };
    }
    Judgement::Fine
}

/// [`judge`] on what `path` is now (a symlink's target), for the current
/// effective user. `Ok(None)` when it does not exist.
pub fn check(kind: Kind, path: &Path) -> io::Result<Option<Judgement>> {
    let m = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    Ok(Some(judge(
        kind,
        path,
        m.uid(),
        euid,
        m.permissions().mode() & 0o7777,
    )))
}

/// Sets `mode` on `path` (after a [`Judgement::Tighten`]).
pub fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Owner, mode and modification stamp of `path`, for noticing a change
/// (content or permissions) between two polls.
pub fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64, u32, u32)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.mode(), m.uid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_table() {
        let p = Path::new("/h/.openclaw-main");
        let me = 1000;
        for (kind, owner, mode, want) in [
            (Kind::StateDir, me, 0o700, "fine"),
            (Kind::StateDir, me, 0o755, "tighten"),
            (Kind::StateDir, me, 0o750, "tighten"),
            (Kind::StateDir, me, 0o770, "refuse"),
            (Kind::StateDir, me, 0o777, "refuse"),
            (Kind::StateDir, me, 0o1777, "refuse"),
            (Kind::StateDir, 0, 0o700, "refuse"),
            (Kind::StateDir, 1001, 0o700, "refuse"),
            (Kind::Config, me, 0o600, "fine"),
            (Kind::Config, me, 0o400, "fine"),
            (Kind::Config, me, 0o644, "tighten"),
            (Kind::Config, me, 0o640, "tighten"),
            (Kind::Config, me, 0o604, "tighten"),
            (Kind::Config, me, 0o664, "refuse"),
            (Kind::Config, me, 0o602, "refuse"),
            (Kind::Config, 1001, 0o600, "refuse"),
        ] {
            let got = judge(kind, p, owner, me, mode);
            let name = match &got {
                Judgement::Fine => "fine",
                Judgement::Tighten { .. } => "tighten",
                Judgement::Refuse { .. } => "refuse",
            };
            assert_eq!(name, want, "{kind:?} owner {owner} mode {mode:o}: {got:?}");
            if let Judgement::Tighten { from, to } = got {
                assert_eq!(from, mode);
                assert_eq!(to, kind.want());
            }
        }
        // The reason names the path and the owner; the fix is a command.
        let Judgement::Refuse { why, fix } = judge(Kind::Config, p, 1001, me, 0o600) else {
            panic!()
        };
        assert!(
            why.contains("uid 1001") && why.contains("/h/.openclaw-main"),
            "{why}"
        );
        assert!(fix.contains("chown 1000"), "{fix}");
        let Judgement::Refuse { fix, .. } = judge(Kind::StateDir, p, me, me, 0o777) else {
            panic!()
        };
        assert!(fix.ends_with("chmod 700 /h/.openclaw-main"), "{fix}");
    }

    #[test]
    fn checks_what_is_on_disk() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("c.json");
        assert_eq!(check(Kind::Config, &f).unwrap(), None);
        std::fs::write(&f, "{}").unwrap();
        tighten(&f, 0o644).unwrap();
        assert_eq!(
            check(Kind::Config, &f).unwrap(),
            Some(Judgement::Tighten {
                from: 0o644,
                to: 0o600
            })
        );
        tighten(&f, 0o600).unwrap();
        assert_eq!(check(Kind::Config, &f).unwrap(), Some(Judgement::Fine));
    }
}
