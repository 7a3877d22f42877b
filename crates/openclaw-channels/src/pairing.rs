//! DM pairing: unknown senders get a code; the operator approves it with
//! `openclaw pairing approve <channel> <CODE>`.
//!
//! Codes are 8 characters from `A-Z2-9` without `0O1I`, valid for one hour.
//! A sender with a pending request gets no new code (and no second
//! message) until it expires; at most [`MAX_PENDING`] requests are pending
//! per channel account, further ones are ignored. Approval adds the sender
//! to the account's approved list (DM access only).
//!
//! Stored in `<stateDir>/channels/<channel>/<account>/pairing.json`, changed
//! only through [`openclaw_state::update_json`] (locked read-modify-write,
//! atomic), because the gateway and the CLI both write it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::access::SenderMatch;
use crate::account_dir;

pub const CODE_LEN: usize = 8;
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const CODE_TTL_SECS: u64 = 3600;
pub const MAX_PENDING: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    pub code: String,
    pub sender_id: String,
    /// Where to send `--notify`.
    pub chat_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
}

impl PendingRequest {
    pub fn expires_at(&self) -> u64 {
        self.created_at + CODE_TTL_SECS
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairingFile {
    #[serde(default)]
    pub pending: Vec<PendingRequest>,
    /// Approved sender ids (DM access).
    #[serde(default)]
    pub approved: Vec<String>,
}

/// What [`PairingStore::request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A new request: send this code to the sender (once).
    New(String),
    /// The sender already has a pending request: send nothing.
    AlreadyPending,
    /// Too many pending requests: ignored.
    Full,
}

#[derive(Debug, thiserror::Error)]
pub enum PairingError {
    #[error(
        "no pending pairing request with code {code} for {channel} (codes expire after 1 hour); list them with `{list}`"
    )]
    UnknownCode {
        code: String,
        channel: String,
        list: String,
    },
    #[error("{0}")]
    State(#[from] openclaw_state::StateError),
}

/// One channel account's pairing state.
#[derive(Debug, Clone)]
pub struct PairingStore {
    path: PathBuf,
    channel: String,
    /// How a sender id is compared with the stored ones: the channel's own
    /// rule (IRC masks under IRC case mapping).
    matcher: SenderMatch,
}

/// A fresh code from the OS random number generator.
pub fn new_code() -> String {
    let mut bytes = [0u8; CODE_LEN];
    getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
    bytes
        .iter()
        // 256 % 32 == 0: no modulo bias.
        .map(|b| CODE_ALPHABET[(*b as usize) % CODE_ALPHABET.len()] as char)
        .collect()
}

fn prune(f: &mut PairingFile, now: u64) -> bool {
    let before = f.pending.len();
    f.pending.retain(|p| p.expires_at() > now);
    f.pending.len() != before
}

impl PairingStore {
    pub fn new(state_dir: &Path, channel: &str, account: &str) -> Self {
        PairingStore {
            path: account_dir(state_dir, channel, account).join("pairing.json"),
            channel: channel.into(),
            matcher: SenderMatch::for_channel(channel),
        }
    }

    /// The same store, comparing senders with `matcher`.
    pub fn with_matcher(mut self, matcher: SenderMatch) -> Self {
        self.matcher = matcher;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<PairingFile, openclaw_state::StateError> {
        Ok(openclaw_state::read_json(&self.path)?.unwrap_or_default())
    }

    /// Whether `sender` was approved (compared the channel's way: an IRC
    /// `Alice!~alice@host` is the approved `alice!~alice@host`).
    pub fn is_approved(&self, sender: &str) -> Result<bool, openclaw_state::StateError> {
        let m = self.matcher;
        Ok(self.read()?.approved.iter().any(|s| m.same(s, sender)))
    }

    /// The pending, unexpired requests.
    pub fn list(&self, now: u64) -> Result<Vec<PendingRequest>, openclaw_state::StateError> {
        let mut f = self.read()?;
        prune(&mut f, now);
        Ok(f.pending)
    }

    pub fn approved(&self) -> Result<Vec<String>, openclaw_state::StateError> {
        Ok(self.read()?.approved)
    }

    /// An unknown sender wrote: make a request unless one is pending.
    pub fn request(
        &self,
        sender: &str,
        chat: &str,
        name: Option<&str>,
        now: u64,
    ) -> Result<RequestOutcome, openclaw_state::StateError> {
        let m = self.matcher;
        openclaw_state::update_json(&self.path, |f: &mut PairingFile| {
            let pruned = prune(f, now);
            if f.pending.iter().any(|p| m.same(&p.sender_id, sender)) {
                return (pruned, RequestOutcome::AlreadyPending);
            }
            if f.pending.len() >= MAX_PENDING {
                return (pruned, RequestOutcome::Full);
            }
            let code = loop {
                let c = new_code();
                if !f.pending.iter().any(|p| p.code == c) {
                    break c;
                }
            };
            f.pending.push(PendingRequest {
                code: code.clone(),
                sender_id: sender.into(),
                chat_id: chat.into(),
                sender_name: name.map(str::to_string),
                created_at: now,
            });
            (true, RequestOutcome::New(code))
        })
    }

    fn take(
        &self,
        code: &str,
        now: u64,
        approve: bool,
        list_cmd: &str,
    ) -> Result<PendingRequest, PairingError> {
        let code = code.trim().to_ascii_uppercase();
        let unknown = || PairingError::UnknownCode {
            code: code.clone(),
            channel: self.channel.clone(),
            list: list_cmd.into(),
        };
        // Nothing pending: do not create the state dir just to say so.
        if !self.path.exists() {
            return Err(unknown());
        }
        let m = self.matcher;
        let got = openclaw_state::update_json(&self.path, |f: &mut PairingFile| {
            let pruned = prune(f, now);
            match f.pending.iter().position(|p| p.code == code) {
                Some(i) => {
                    let p = f.pending.remove(i);
                    if approve && !f.approved.iter().any(|a| m.same(a, &p.sender_id)) {
                        f.approved.push(p.sender_id.clone());
                    }
                    (true, Some(p))
                }
                None => (pruned, None),
            }
        })?;
        got.ok_or_else(unknown)
    }

    /// Approves a pending code: the sender may DM from now on.
    pub fn approve(
        &self,
        code: &str,
        now: u64,
        list_cmd: &str,
    ) -> Result<PendingRequest, PairingError> {
        self.take(code, now, true, list_cmd)
    }

    /// Drops a pending code (the sender may ask again later).
    pub fn reject(
        &self,
        code: &str,
        now: u64,
        list_cmd: &str,
    ) -> Result<PendingRequest, PairingError> {
        self.take(code, now, false, list_cmd)
    }
}

/// The message an unknown sender gets with their code. `cli` is the
/// command prefix that selects this instance (`openclaw --profile rescue`),
/// so the command the owner is told to run approves on this instance.
pub fn code_message(code: &str, sender: &str, channel: &str, cli: &str) -> String {
    format!(
        "Hi! I don't know you yet. Ask my owner to approve this pairing code:\n\n{code}\n\n(your {channel} id: {sender}; the code is valid for 1 hour)\nThe owner runs: {cli} pairing approve {channel} {code}"
    )
}

/// Sets `commands.ownerAllowFrom` to `[<channel>:<sender>]` when no owner is
/// configured; returns whether it did.
pub fn bootstrap_owner(config: &mut serde_json::Value, channel: &str, sender: &str) -> bool {
    // The fact comes from the typed config (the one reader); the document
    // is only edited here.
    let has_owner = openclaw_config::validate_value(config, std::path::Path::new("openclaw.json"))
        .ok()
        .and_then(|p| p.config.commands)
        .and_then(|c| c.owner_allow_from)
        .is_some_and(|a| !a.is_empty());
    if has_owner || !config.is_object() {
        return false;
    }
    let commands = config
        .as_object_mut()
        .expect("checked above")
        .entry("commands")
        .or_insert_with(|| serde_json::json!({}));
    if !commands.is_object() {
        *commands = serde_json::json!({});
    }
    commands["ownerAllowFrom"] = serde_json::json!([format!("{channel}:{sender}")]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), 8);
            assert!(
                c.chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()),
                "{c}"
            );
            assert!(!c.contains(['0', 'O', '1', 'I']), "{c}");
        }
    }

    #[test]
    fn requests_once_per_sender_max_three_expire_after_an_hour() {
        let d = tempfile::tempdir().unwrap();
        let s = PairingStore::new(d.path(), "telegram", "default");
        let t = 1_000_000;
        let RequestOutcome::New(c1) = s.request("1", "1", Some("ann"), t).unwrap() else {
            panic!()
        };
        assert_eq!(
            s.request("1", "1", None, t + 10).unwrap(),
            RequestOutcome::AlreadyPending
        );
        assert!(matches!(
            s.request("2", "2", None, t).unwrap(),
            RequestOutcome::New(_)
        ));
        assert!(matches!(
            s.request("3", "3", None, t).unwrap(),
            RequestOutcome::New(_)
        ));
        assert_eq!(s.request("4", "4", None, t).unwrap(), RequestOutcome::Full);
        assert_eq!(s.list(t).unwrap().len(), 3);
        // an hour later all have expired; a new code for sender 1
        assert!(s.list(t + CODE_TTL_SECS).unwrap().is_empty());
        let RequestOutcome::New(c2) = s.request("1", "1", None, t + CODE_TTL_SECS).unwrap() else {
            panic!()
        };
        assert_ne!(c1, c2);
        // approval (case-insensitive) grants; the old code is gone
        assert!(matches!(
            s.approve(&c1, t + CODE_TTL_SECS, "x"),
            Err(PairingError::UnknownCode { .. })
        ));
        let p = s
            .approve(&c2.to_lowercase(), t + CODE_TTL_SECS, "x")
            .unwrap();
        assert_eq!(p.sender_id, "1");
        assert!(s.is_approved("1").unwrap());
        assert!(!s.is_approved("2").unwrap());
        let RequestOutcome::New(c3) = s.request("2", "2", None, t + CODE_TTL_SECS).unwrap() else {
            panic!()
        };
        s.reject(&c3, t + CODE_TTL_SECS, "x").unwrap();
        assert!(!s.is_approved("2").unwrap());
        assert!(s.list(t + CODE_TTL_SECS).unwrap().is_empty());
    }

    #[test]
    fn irc_senders_compare_under_irc_case_mapping() {
        let d = tempfile::tempdir().unwrap();
        let s = PairingStore::new(d.path(), "irc", "default");
        let t = 1_000_000;
        let RequestOutcome::New(c) = s.request("alice!~alice@host", "alice", None, t).unwrap()
        else {
            panic!()
        };
        // the same person under another case is already pending
        assert_eq!(
            s.request("ALICE!~Alice@HOST", "ALICE", None, t).unwrap(),
            RequestOutcome::AlreadyPending
        );
        s.approve(&c, t, "x").unwrap();
        for same in [
            "alice!~alice@host",
            "Alice!~alice@host",
            "ALICE!~Alice@HOST",
        ] {
            assert!(s.is_approved(same).unwrap(), "{same}");
        }
        assert!(!s.is_approved("alice!~mallory@host").unwrap());
        // a stored entry is a literal id, never a wildcard
        let w = PairingStore::new(d.path(), "irc", "wild");
        let RequestOutcome::New(c) = w.request("x!*@*", "x", None, t).unwrap() else {
            panic!()
        };
        w.approve(&c, t, "x").unwrap();
        assert!(!w.is_approved("x!~other@evil").unwrap());
        // other channels compare exactly
        let m = PairingStore::new(d.path(), "matrix", "default");
        let RequestOutcome::New(c) = m.request("@alice:hs", "!r:hs", None, t).unwrap() else {
            panic!()
        };
        m.approve(&c, t, "x").unwrap();
        assert!(m.is_approved("@alice:hs").unwrap());
        assert!(!m.is_approved("@Alice:hs").unwrap());
    }

    #[test]
    fn the_code_message_names_this_instance() {
        let m = code_message("ABCD2345", "42", "telegram", "openclaw --profile rescue");
        assert!(
            m.ends_with(
                "The owner runs: openclaw --profile rescue pairing approve telegram ABCD2345"
            ),
            "{m}"
        );
    }

    #[test]
    fn first_approval_sets_the_owner_only_once() {
        let mut v = json!({"gateway": {}});
        assert!(bootstrap_owner(&mut v, "telegram", "42"));
        assert_eq!(v["commands"]["ownerAllowFrom"], json!(["telegram:42"]));
        assert!(!bootstrap_owner(&mut v, "telegram", "43"));
        assert_eq!(v["commands"]["ownerAllowFrom"], json!(["telegram:42"]));
    }
}
