//! The audit log of a rescue instance: one JSON line per command it was
//! sent (answered, refused, asked to confirm, carried out or failed), in
//! `<stateDir>/rescue/audit.jsonl` (0600, in a 0700 dir), appended with an
//! fsync through `openclaw_state::append_line`. Secrets never reach it: a
//! command is recorded by [`crate::command::Command::audit_text`], and
//! every detail goes through `openclaw_config::redact_text`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The audit log's path under a state dir.
pub fn audit_path(state_dir: &Path) -> PathBuf {
    state_dir.join("rescue").join("audit.jsonl")
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// RFC 3339, UTC.
    pub ts: String,
    /// `<channel>:<senderId>` (`webchat:<sessionKey>` for WebChat).
    pub requester: String,
    /// Whether the requester is an owner.
    pub owner: bool,
    /// `command` (a chat message) or `tool` (the agent's tool call).
    pub via: String,
    /// The command, secrets redacted.
    pub command: String,
    /// The instance acted on (its state dir), when one was named and found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `answered`, `refused`, `denied`, `usage`, `invalid`, `pending`,
    /// `done`, `failed`, `rejected` (a code not accepted).
    pub outcome: String,
    /// A short why or what, secrets redacted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Why the requester asked (a chat command's ` -- <reason>`, a tool
    /// call's `reason`; a confirmation carries its change's), redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The audit log of one rescue instance.
#[derive(Debug, Clone)]
pub struct Audit {
    path: PathBuf,
}

impl Audit {
    pub fn new(state_dir: &Path) -> Audit {
        Audit {
            path: audit_path(state_dir),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (creating `rescue/` 0700 and the file 0600).
    pub fn append(&self, mut r: Record) -> std::io::Result<()> {
        r.detail = openclaw_config::redact_text(&r.detail).into_owned();
        r.command = openclaw_config::redact_text(&r.command).into_owned();
        if let Some(why) = &mut r.reason {
            *why = openclaw_config::redact_text(why).into_owned();
        }
        if let Some(dir) = self.path.parent() {
            openclaw_state::create_private_dir_all(dir)?;
        }
        let line = serde_json::to_string(&r).map_err(std::io::Error::other)?;
        openclaw_state::append_line(&self.path, &line, openclaw_state::FILE_MODE)
    }

    /// Every record (for tests and for reading the log back); a half-written
    /// last line is skipped.
    pub fn read(&self) -> std::io::Result<Vec<Record>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_appended_privately_and_redacted() {
        let d = tempfile::tempdir().unwrap();
        let a = Audit::new(d.path());
        let rec = |outcome: &str, detail: &str| Record {
            ts: "2026-01-01T00:00:00.000Z".into(),
            requester: "telegram:7".into(),
            owner: true,
            via: "command".into(),
            command: "/status main".into(),
            target: Some("/h/.openclaw-main".into()),
            outcome: outcome.into(),
            detail: detail.into(),
            reason: None,
        };
        a.append(rec("answered", "")).unwrap();
        a.append(rec(
            "failed",
            "GET https://api.telegram.org/bot123:SECRETSECRET/getMe",
        ))
        .unwrap();
        let back = a.read().unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], rec("answered", ""));
        assert!(!back[1].detail.contains("SECRETSECRET"), "{:?}", back[1]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(a.path()), 0o600);
            assert_eq!(mode(a.path().parent().unwrap()), 0o700);
        }
    }
}
