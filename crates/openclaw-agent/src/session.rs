//! Sessions: per agent and session key, append-only JSONL transcripts and
//! an atomically replaced index.
//!
//! Layout: `<stateDir>/agents/<agentId>/sessions/{sessions.json, <sessionId>.jsonl}`.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fsio;

pub const INDEX_FILE: &str = "sessions.json";
const PREVIEW_CHARS: usize = 120;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "session index {path} is not valid JSON ({detail}); move it aside to start a fresh index (transcripts are kept)"
    )]
    BadIndex { path: PathBuf, detail: String },
    #[error("no session with key '{0}'")]
    NotFound(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SessionError + '_ {
    move |source| SessionError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedToolCall {
    pub id: String,
    pub name: String,
    pub args: Value,
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TranscriptRecord {
    /// First line of every transcript.
    #[serde(rename_all = "camelCase")]
    Session {
        session_id: String,
        agent_id: String,
        session_key: String,
        ts: u64,
    },
    #[serde(rename_all = "camelCase")]
    User {
        run_id: String,
        ts: u64,
        text: String,
    },
    #[serde(rename_all = "camelCase")]
    Assistant {
        run_id: String,
        ts: u64,
        /// `"<provider>/<model>"` that produced it.
        model: String,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<RecordedToolCall>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_reason: Option<String>,
        /// The run was aborted while this answer streamed; `text` is partial.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        aborted: bool,
        /// The stream failed while this answer streamed; `text` is partial.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        incomplete: bool,
    },
    #[serde(rename_all = "camelCase")]
    ToolResult {
        run_id: String,
        ts: u64,
        id: String,
        name: String,
        ok: bool,
        output: String,
    },
    #[serde(rename_all = "camelCase")]
    Error {
        run_id: String,
        ts: u64,
        kind: String,
        message: String,
    },
}

impl TranscriptRecord {
    fn counts_as_message(&self) -> bool {
        !matches!(self, TranscriptRecord::Session { .. })
    }
}

/// One index entry (`sessions.json`: `{"version":1,"sessions":{key: entry}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEntry {
    pub session_id: String,
    pub created_at: u64,
    pub updated_at: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub preview: String,
    #[serde(default)]
    pub message_count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub key: String,
    #[serde(flatten)]
    pub entry: SessionEntry,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPreview {
    pub summary: SessionSummary,
    pub last: Vec<TranscriptRecord>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    sessions: BTreeMap<String, SessionEntry>,
}

/// Handle to the session a turn writes to.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub key: String,
    pub session_id: String,
    pub path: PathBuf,
}

/// Sessions of one agent.
#[derive(Debug)]
pub struct SessionStore {
    agent_id: String,
    dir: PathBuf,
    /// Shared by every store of the same directory in this process, so two
    /// stores (e.g. an agent rebuilt on config reload and the old one still
    /// finishing a turn) never lose each other's index updates.
    lock: Arc<Mutex<()>>,
}

fn dir_lock(dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: std::sync::OnceLock<Mutex<std::collections::HashMap<PathBuf, Arc<Mutex<()>>>>> =
        std::sync::OnceLock::new();
    let mut m = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    m.entry(dir.to_path_buf()).or_default().clone()
}

impl SessionStore {
    pub fn new(state_dir: &Path, agent_id: &str) -> Self {
        let dir = state_dir.join("agents").join(agent_id).join("sessions");
        SessionStore {
            agent_id: agent_id.to_string(),
            lock: dir_lock(&dir),
            dir,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn transcript_path(&self, session_id: &str) -> PathBuf {
        self.dir.join(format!("{session_id}.jsonl"))
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load_index(&self) -> Result<Index, SessionError> {
        let path = self.dir.join(INDEX_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| SessionError::BadIndex {
                path,
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
                version: 1,
                ..Index::default()
            }),
            Err(e) => Err(SessionError::Io { path, source: e }),
        }
    }

    fn save_index(&self, idx: &Index) -> Result<(), SessionError> {
        fsio::ensure_private_dir(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.dir.join(INDEX_FILE);
        let bytes = serde_json::to_vec_pretty(idx).expect("index serializes");
        fsio::atomic_write(&path, &bytes).map_err(io_err(&path))
    }

    fn create_entry(&self, idx: &mut Index, key: &str) -> Result<SessionHandle, SessionError> {
        fsio::ensure_private_dir(&self.dir).map_err(io_err(&self.dir))?;
        let id = uuid::Uuid::new_v4().to_string();
        let path = self.transcript_path(&id);
        let ts = now_ms();
        let header = TranscriptRecord::Session {
            session_id: id.clone(),
            agent_id: self.agent_id.clone(),
            session_key: key.to_string(),
            ts,
        };
        fsio::append_line(&path, &serde_json::to_string(&header).expect("serializes"))
            .map_err(io_err(&path))?;
        idx.sessions.insert(
            key.to_string(),
            SessionEntry {
                session_id: id.clone(),
                created_at: ts,
                updated_at: ts,
                title: String::new(),
                preview: String::new(),
                message_count: 0,
            },
        );
        Ok(SessionHandle {
            key: key.to_string(),
            session_id: id,
            path,
        })
    }

    /// The session for `key`, created if missing.
    pub fn open(&self, key: &str) -> Result<SessionHandle, SessionError> {
        let _g = self.guard();
        let mut idx = self.load_index()?;
        if let Some(e) = idx.sessions.get(key) {
            let path = self.transcript_path(&e.session_id);
            repair_tail(&path)?;
            return Ok(SessionHandle {
                key: key.to_string(),
                session_id: e.session_id.clone(),
                path,
            });
        }
        let h = self.create_entry(&mut idx, key)?;
        self.save_index(&idx)?;
        Ok(h)
    }

    /// Append one record (single write + fsync) and update the index.
    pub fn append(&self, h: &SessionHandle, rec: &TranscriptRecord) -> Result<(), SessionError> {
        let line = serde_json::to_string(rec).expect("record serializes");
        let _g = self.guard();
        fsio::append_line(&h.path, &line).map_err(io_err(&h.path))?;
        let mut idx = self.load_index()?;
        if let Some(e) = idx.sessions.get_mut(&h.key)
            && e.session_id == h.session_id
        {
            e.updated_at = now_ms();
            if rec.counts_as_message() {
                e.message_count += 1;
            }
            match rec {
                TranscriptRecord::User { text, .. } => {
                    if e.title.is_empty() {
                        e.title = crate::excerpt(text, 60);
                    }
                    e.preview = crate::excerpt(text, PREVIEW_CHARS);
                }
                TranscriptRecord::Assistant { text, .. } if !text.trim().is_empty() => {
                    e.preview = crate::excerpt(text, PREVIEW_CHARS);
                }
                _ => {}
            }
            self.save_index(&idx)?;
        }
        Ok(())
    }

    /// All sessions, most recently updated first.
    pub fn list(&self) -> Result<Vec<SessionSummary>, SessionError> {
        let idx = self.load_index()?;
        let mut v: Vec<SessionSummary> = idx
            .sessions
            .into_iter()
            .map(|(key, entry)| SessionSummary { key, entry })
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.entry.updated_at));
        Ok(v)
    }

    pub fn get(&self, key: &str) -> Result<Option<SessionSummary>, SessionError> {
        Ok(self
            .load_index()?
            .sessions
            .remove(key)
            .map(|entry| SessionSummary {
                key: key.to_string(),
                entry,
            }))
    }

    /// Transcript records of the current session for `key` (without the
    /// header line); the last `limit` if given. Unreadable lines (a crash
    /// mid-write) are skipped.
    pub fn history(
        &self,
        key: &str,
        limit: Option<usize>,
    ) -> Result<Vec<TranscriptRecord>, SessionError> {
        let Some(s) = self.get(key)? else {
            return Err(SessionError::NotFound(key.to_string()));
        };
        let mut recs = read_transcript(&self.transcript_path(&s.entry.session_id))?;
        recs.retain(|r| !matches!(r, TranscriptRecord::Session { .. }));
        if let Some(n) = limit
            && recs.len() > n
        {
            recs.drain(..recs.len() - n);
        }
        Ok(recs)
    }

    pub fn preview(&self, key: &str, last: usize) -> Result<Option<SessionPreview>, SessionError> {
        let Some(summary) = self.get(key)? else {
            return Ok(None);
        };
        let last = self.history(key, Some(last))?;
        Ok(Some(SessionPreview { summary, last }))
    }

    /// Start a new session for `key`; the old transcript stays on disk.
    /// Returns the new session id.
    pub fn reset(&self, key: &str) -> Result<String, SessionError> {
        let _g = self.guard();
        let mut idx = self.load_index()?;
        let h = self.create_entry(&mut idx, key)?;
        self.save_index(&idx)?;
        Ok(h.session_id)
    }

    /// Remove `key` from the index and delete its transcript.
    /// Returns false if there was no such session.
    pub fn delete(&self, key: &str) -> Result<bool, SessionError> {
        let _g = self.guard();
        let mut idx = self.load_index()?;
        let Some(e) = idx.sessions.remove(key) else {
            return Ok(false);
        };
        self.save_index(&idx)?;
        let path = self.transcript_path(&e.session_id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(SessionError::Io { path, source: e }),
        }
    }
}

/// Read a transcript, skipping lines that do not parse (a torn last line
/// after a crash), each with a warning.
pub fn read_transcript(path: &Path) -> Result<Vec<TranscriptRecord>, SessionError> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SessionError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<TranscriptRecord>(line) {
            Ok(r) => out.push(r),
            Err(e) => {
                tracing::warn!(path = %path.display(), line = n + 1, error = %e, "skipping unreadable transcript line")
            }
        }
    }
    Ok(out)
}

/// If a crash left a partial last line (no trailing newline), terminate it
/// so the next append starts on a fresh line.
fn repair_tail(path: &Path) -> Result<(), SessionError> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(SessionError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    let len = f.metadata().map_err(io_err(path))?.len();
    if len == 0 {
        return Ok(());
    }
    f.seek(SeekFrom::End(-1)).map_err(io_err(path))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b).map_err(io_err(path))?;
    if b[0] != b'\n' {
        tracing::warn!(path = %path.display(), "transcript ends with a partial line (interrupted write); terminating it");
        fsio::append_line(path, "").map_err(io_err(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn user(t: &str) -> TranscriptRecord {
        TranscriptRecord::User {
            run_id: "r".into(),
            ts: now_ms(),
            text: t.into(),
        }
    }

    #[test]
    fn torn_last_line_never_loses_earlier_turns() {
        let dir = tempfile::tempdir().unwrap();
        let s = SessionStore::new(dir.path(), "main");
        let h = s.open("k").unwrap();
        s.append(&h, &user("one")).unwrap();
        s.append(&h, &user("two")).unwrap();
        // simulate a crash mid-append: half a JSON line, no newline
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&h.path)
            .unwrap();
        f.write_all(b"{\"type\":\"user\",\"runId\":\"r\",\"ts\":1,\"te")
            .unwrap();
        drop(f);
        let hist = s.history("k", None).unwrap();
        assert_eq!(
            hist,
            vec![user_text(&hist[0], "one"), user_text(&hist[1], "two")]
        );
        // the next turn appends cleanly after the torn line
        let h = s.open("k").unwrap();
        s.append(&h, &user("three")).unwrap();
        let texts: Vec<String> = s
            .history("k", None)
            .unwrap()
            .into_iter()
            .filter_map(|r| match r {
                TranscriptRecord::User { text, .. } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["one", "two", "three"]);
    }

    fn user_text(r: &TranscriptRecord, want: &str) -> TranscriptRecord {
        match r {
            TranscriptRecord::User { text, .. } => assert_eq!(text, want),
            other => panic!("expected user record, got {other:?}"),
        }
        r.clone()
    }

    #[test]
    fn list_preview_reset_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = SessionStore::new(dir.path(), "main");
        let h = s.open("a").unwrap();
        s.append(&h, &user("hello there")).unwrap();
        let l = s.list().unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].entry.title, "hello there");
        assert_eq!(l[0].entry.message_count, 1);
        let p = s.preview("a", 5).unwrap().unwrap();
        assert_eq!(p.last.len(), 1);

        let old = h.session_id.clone();
        let new = s.reset("a").unwrap();
        assert_ne!(old, new);
        assert!(s.transcript_path(&old).exists(), "old transcript kept");
        assert!(s.history("a", None).unwrap().is_empty());

        assert!(s.delete("a").unwrap());
        assert!(!s.transcript_path(&new).exists());
        assert!(!s.delete("a").unwrap());
        assert!(matches!(
            s.history("a", None),
            Err(SessionError::NotFound(_))
        ));
        // index is valid JSON with the documented shape
        let v: Value =
            serde_json::from_slice(&std::fs::read(s.dir().join(INDEX_FILE)).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert!(v["sessions"].as_object().unwrap().is_empty());
    }
}
