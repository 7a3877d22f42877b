//! The processed-update ledger: nothing lost, nothing answered twice.
//!
//! `<stateDir>/channels/<channel>/<account>/`: `ledger.json` (the highest
//! update id recorded) and `updates/<id>.json` per unfinished update,
//! rewritten atomically at every step of its life:
//!
//! 1. `received`: the update is recorded (with its payload) before any
//!    handling starts. Only then is the transport asked for later updates,
//!    so an update the channel acknowledged is always on disk.
//! 2. `answered`: the reply is decided (agent answer or pairing code), split
//!    into chunks; a restart sends the chunks not yet sent, it does not run
//!    the agent again.
//! 3. after each chunk is sent, `sent` counts it; after the last one the
//!    update is `done`.
//!
//! `offset` — the handled-through mark — only moves past an update once it
//! and every earlier one is done. On restart, every entry that is not done is
//! resumed from where it stopped, and an update id already recorded is never
//! handled again.
//!
//! The one window no ledger can close: a crash after the transport accepted
//! a chunk but before `sent` was written makes the restart send that chunk
//! again (Telegram's sendMessage has no idempotency key). The window is one
//! fsync long.
//!
//! Transports without ids of their own (IRC has none; Matrix event ids are
//! strings) use [`Ledger::receive_keyed`]: the ledger numbers their messages
//! itself, keeps the transport's durable id as the entry's `key`, and stores
//! the transport's resume token (Matrix `next_batch`) as `cursor` in the same
//! atomic write of `ledger.json` that records the batch. A crash after the
//! entries but before that write replays the batch from the old cursor; the
//! keys of such orphan entries (id above the recorded `seen`) are kept in
//! `replayKeys` until the next cursor is stored, so the replay is skipped
//! even if those entries are done and forgotten meanwhile.
//!
//! Only the gateway that holds the state-dir lock writes these files, so the
//! in-memory copy is authoritative; each update's file is written by the one
//! task handling it, so chats never queue behind each other's fsync.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use openclaw_state::StateError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Received,
    Answered,
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub stage: Stage,
    /// The transport's payload (to handle it again after a restart).
    pub update: Value,
    /// Where the reply goes.
    #[serde(default)]
    pub chat_id: String,
    /// The reply, split for sending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
    /// Chunks already sent.
    #[serde(default)]
    pub sent: usize,
    /// A message already sent for this update and edited as text streamed
    /// in (the final text replaces it instead of a new message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_message_id: Option<i64>,
    /// The transport's durable id of the message (a Matrix event id), for
    /// entries recorded through [`Ledger::receive_keyed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerFile {
    /// Every update below this id is handled.
    #[serde(default)]
    pub offset: i64,
    /// The highest update id ever recorded.
    #[serde(default)]
    pub seen: i64,
    /// Updates at or above `offset` (as strings: JSON keys).
    #[serde(default)]
    pub updates: BTreeMap<i64, Entry>,
    /// The transport's resume token, stored with `seen`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Keys a replay from `cursor` may bring again (see the module docs).
    #[serde(default)]
    pub replay_keys: Vec<String>,
}

pub struct Ledger {
    dir: PathBuf,
    file: Mutex<LedgerFile>,
    /// Updates some task is handling right now (so a restarted channel
    /// sharing this ledger does not start them a second time).
    claimed: Mutex<std::collections::HashSet<i64>>,
}

fn lock(m: &Mutex<LedgerFile>) -> std::sync::MutexGuard<'_, LedgerFile> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `ledger.json`: the highest update id recorded, and for keyed transports
/// their resume token and the keys a replay from it may repeat.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    #[serde(default)]
    seen: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    replay_keys: Vec<String>,
}

impl Ledger {
    /// Opens (or starts) the ledger in `dir`: `ledger.json` (highest id
    /// recorded) and one `updates/<id>.json` per unfinished update, each
    /// written on its own (updates of different chats never wait for each
    /// other's fsync). A done update's file is removed; `offset` is derived.
    pub fn open(dir: &Path) -> Result<Ledger, StateError> {
        let head: Head = openclaw_state::read_json(&dir.join("ledger.json"))?.unwrap_or_default();
        let mut f = LedgerFile {
            seen: head.seen,
            ..Default::default()
        };
        if let Ok(rd) = std::fs::read_dir(dir.join("updates")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(id) = name
                    .strip_suffix(".json")
                    .and_then(|n| n.parse::<i64>().ok())
                else {
                    continue;
                };
                if let Some(entry) = openclaw_state::read_json::<Entry>(&e.path())? {
                    f.seen = f.seen.max(id);
                    f.updates.insert(id, entry);
                }
            }
        }
        // Keyed entries recorded after the last head write: their batch will
        // be replayed from the stored cursor. Keep their keys durably before
        // anything can finish (and forget) those entries.
        let mut replay = head.replay_keys.clone();
        for (id, e) in &f.updates {
            if *id > head.seen
                && let Some(k) = &e.key
                && !replay.contains(k)
            {
                replay.push(k.clone());
            }
        }
        f.cursor = head.cursor.clone();
        if replay != head.replay_keys {
            let h = Head {
                seen: f.seen,
                cursor: f.cursor.clone(),
                replay_keys: replay.clone(),
            };
            openclaw_state::write_json(&dir.join("ledger.json"), &h)?;
        }
        f.replay_keys = replay;
        advance(&mut f);
        Ok(Ledger {
            dir: dir.to_path_buf(),
            file: Mutex::new(f),
            claimed: Mutex::new(Default::default()),
        })
    }

    fn entry_path(&self, id: i64) -> PathBuf {
        self.dir.join("updates").join(format!("{id}.json"))
    }

    /// The next update id to ask the transport for.
    pub fn next_id(&self) -> i64 {
        let f = lock(&self.file);
        f.offset.max(f.seen + 1)
    }

    pub fn offset(&self) -> i64 {
        lock(&self.file).offset
    }

    /// Records new updates (`id`, chat, payload); returns those not seen
    /// before, in order. Already handled or in-progress ids are skipped.
    pub fn receive(
        &self,
        batch: Vec<(i64, String, Value)>,
    ) -> Result<Vec<(i64, Value)>, StateError> {
        let mut guard = lock(&self.file);
        let mut fresh = Vec::new();
        let mut seen = guard.seen;
        for (id, chat, update) in batch {
            if id < guard.offset || id <= seen || guard.updates.contains_key(&id) {
                continue;
            }
            let entry = Entry {
                stage: Stage::Received,
                update: update.clone(),
                chat_id: chat,
                chunks: Vec::new(),
                sent: 0,
                stream_message_id: None,
                key: None,
            };
            // The entry first, then the head: a crash between them leaves
            // an entry the next open finds (and counts as seen).
            openclaw_state::write_json(&self.entry_path(id), &entry)?;
            seen = id;
            fresh.push((id, update, entry));
        }
        if !fresh.is_empty() {
            openclaw_state::write_json(&self.dir.join("ledger.json"), &self.head(&guard, seen))?;
            guard.seen = seen;
        }
        Ok(fresh
            .into_iter()
            .map(|(id, u, e)| {
                guard.updates.insert(id, e);
                (id, u)
            })
            .collect())
    }

    fn head(&self, f: &LedgerFile, seen: i64) -> Head {
        Head {
            seen,
            cursor: f.cursor.clone(),
            replay_keys: f.replay_keys.clone(),
        }
    }

    /// The transport's resume token stored by the last
    /// [`Ledger::receive_keyed`] (Matrix `next_batch`).
    pub fn cursor(&self) -> Option<String> {
        lock(&self.file).cursor.clone()
    }

    /// Records messages of a transport without numeric ids: each gets the
    /// next id; `key` (the transport's durable id, if it has one) skips a
    /// message already recorded and not yet forgotten, or replayed after a
    /// crash. Then, in one atomic write with the new `seen`, stores
    /// `cursor` (when given): the transport may now resume after this
    /// batch. Returns the new entries (id, chat, payload) in order.
    pub fn receive_keyed(
        &self,
        batch: Vec<(Option<String>, String, Value)>,
        cursor: Option<&str>,
    ) -> Result<Vec<(i64, String, Value)>, StateError> {
        let mut guard = lock(&self.file);
        let mut known: std::collections::HashSet<String> =
            guard.replay_keys.iter().cloned().collect();
        known.extend(guard.updates.values().filter_map(|e| e.key.clone()));
        let mut seen = guard.seen;
        let mut fresh = Vec::new();
        for (key, chat, update) in batch {
            if let Some(k) = &key
                && !known.insert(k.clone())
            {
                continue;
            }
            let id = seen + 1;
            let entry = Entry {
                stage: Stage::Received,
                update,
                chat_id: chat,
                chunks: Vec::new(),
                sent: 0,
                stream_message_id: None,
                key,
            };
            openclaw_state::write_json(&self.entry_path(id), &entry)?;
            seen = id;
            fresh.push((id, entry));
        }
        let new_cursor = cursor.map(str::to_string).or_else(|| guard.cursor.clone());
        let replay = if cursor.is_some() {
            Vec::new()
        } else {
            guard.replay_keys.clone()
        };
        if !fresh.is_empty() || new_cursor != guard.cursor || replay != guard.replay_keys {
            let h = Head {
                seen,
                cursor: new_cursor.clone(),
                replay_keys: replay.clone(),
            };
            openclaw_state::write_json(&self.dir.join("ledger.json"), &h)?;
            guard.seen = seen;
            guard.cursor = new_cursor;
            guard.replay_keys = replay;
        }
        Ok(fresh
            .into_iter()
            .map(|(id, e)| {
                let out = (id, e.chat_id.clone(), e.update.clone());
                guard.updates.insert(id, e);
                out
            })
            .collect())
    }

    /// Entries not done, oldest first (to resume after a restart).
    pub fn unfinished(&self) -> Vec<(i64, Entry)> {
        lock(&self.file)
            .updates
            .iter()
            .filter(|(_, e)| e.stage != Stage::Done)
            .map(|(k, e)| (*k, e.clone()))
            .collect()
    }

    /// Takes `id` for handling; false when another task has it.
    pub fn claim(&self, id: i64) -> bool {
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id)
    }

    pub fn release(&self, id: i64) {
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    pub fn get(&self, id: i64) -> Option<Entry> {
        lock(&self.file).updates.get(&id).cloned()
    }

    /// Applies `f` to the entry and writes it (one task handles an update
    /// at a time, see [`Ledger::claim`], so its writes are ordered).
    fn edit(&self, id: i64, f: impl FnOnce(&mut Entry)) -> Result<(), StateError> {
        let Some(mut e) = self.get(id) else {
            return Ok(());
        };
        f(&mut e);
        if e.stage == Stage::Done {
            openclaw_state::remove_file_durably(&self.entry_path(id))?;
        } else {
            openclaw_state::write_json(&self.entry_path(id), &e)?;
        }
        let mut file = lock(&self.file);
        let done = e.stage == Stage::Done;
        file.updates.insert(id, e);
        if done {
            advance(&mut file);
        }
        Ok(())
    }

    /// The reply is decided.
    pub fn answered(&self, id: i64, chunks: Vec<String>) -> Result<(), StateError> {
        self.edit(id, |e| {
            e.stage = Stage::Answered;
            e.chunks = chunks;
            e.sent = 0;
        })
    }

    pub fn streaming(&self, id: i64, message_id: i64) -> Result<(), StateError> {
        self.edit(id, |e| e.stream_message_id = Some(message_id))
    }

    /// One more chunk was sent.
    pub fn sent(&self, id: i64, sent: usize) -> Result<(), StateError> {
        self.edit(id, |e| e.sent = sent)
    }

    /// Handled: the reply (if any) is out.
    pub fn done(&self, id: i64) -> Result<(), StateError> {
        self.edit(id, |e| {
            e.stage = Stage::Done;
            e.update = Value::Null;
            e.chunks.clear();
        })
    }
}

/// Moves `offset` past every done update with no unfinished one before it,
/// and forgets those entries.
fn advance(f: &mut LedgerFile) {
    let first_open = f
        .updates
        .iter()
        .find(|(_, e)| e.stage != Stage::Done)
        .map(|(k, _)| *k);
    f.offset = match first_open {
        Some(k) => k,
        None => f.seen + 1,
    }
    .max(f.offset);
    let offset = f.offset;
    f.updates.retain(|k, _| *k >= offset);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn offset_moves_only_past_handled_updates_and_survives_reopen() {
        let d = tempfile::tempdir().unwrap();
        let l = Ledger::open(d.path()).unwrap();
        assert_eq!(l.next_id(), 1);
        let b = |ids: &[i64]| {
            ids.iter()
                .map(|i| (*i, "c".to_string(), json!({"update_id": i})))
                .collect()
        };
        assert_eq!(l.receive(b(&[10, 11, 12])).unwrap().len(), 3);
        assert_eq!(l.next_id(), 13);
        // redelivered ids are not handled twice
        assert!(l.receive(b(&[10, 11, 12])).unwrap().is_empty());
        l.answered(11, vec!["a".into(), "b".into()]).unwrap();
        l.sent(11, 1).unwrap();
        l.done(12).unwrap();
        assert_eq!(l.offset(), 10, "10 is still open");
        l.done(10).unwrap();
        assert_eq!(l.offset(), 11);
        drop(l);

        // "crash": reopen, 11 resumes with one chunk left; 12 is not redone
        let l = Ledger::open(d.path()).unwrap();
        let open = l.unfinished();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].0, 11);
        assert_eq!(open[0].1.stage, Stage::Answered);
        assert_eq!(open[0].1.sent, 1);
        assert!(l.receive(b(&[12])).unwrap().is_empty());
        l.done(11).unwrap();
        assert_eq!(l.offset(), 13);
        assert_eq!(l.next_id(), 13);
        assert!(lock(&l.file).updates.is_empty());
    }

    #[test]
    fn keyed_batches_store_the_cursor_and_a_replay_after_a_crash_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let l = Ledger::open(d.path()).unwrap();
        assert_eq!(l.cursor(), None);
        let b = |keys: &[&str]| -> Vec<(Option<String>, String, Value)> {
            keys.iter()
                .map(|k| {
                    (
                        Some(k.to_string()),
                        "!room".to_string(),
                        json!({"event": k}),
                    )
                })
                .collect()
        };
        let got = l.receive_keyed(b(&["$a", "$b"]), Some("s1")).unwrap();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            vec![1, 2],
            "numbered by the ledger"
        );
        assert_eq!(l.cursor().as_deref(), Some("s1"));
        // the same keys again (a replay) are skipped; new ones numbered on
        let got = l.receive_keyed(b(&["$b", "$c"]), Some("s2")).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].2["event"].as_str()), (3, Some("$c")));
        // no messages: the cursor still moves
        assert!(l.receive_keyed(vec![], Some("s3")).unwrap().is_empty());
        // keyless messages (IRC) are never deduplicated and keep the cursor
        let irc = vec![
            (None, "#r".to_string(), json!({})),
            (None, "#r".to_string(), json!({})),
        ];
        assert_eq!(l.receive_keyed(irc, None).unwrap().len(), 2);
        assert_eq!(l.cursor().as_deref(), Some("s3"));
        for id in 1..=5 {
            l.done(id).unwrap();
        }
        drop(l);

        // "Crash" while recording the batch after s3: its entry is on disk,
        // the head (seen 5, cursor s3) is not rewritten.
        let orphan = Entry {
            stage: Stage::Received,
            update: json!({"event": "$d"}),
            chat_id: "!room".into(),
            chunks: vec![],
            sent: 0,
            stream_message_id: None,
            key: Some("$d".into()),
        };
        openclaw_state::write_json(&d.path().join("updates/6.json"), &orphan).unwrap();
        let l = Ledger::open(d.path()).unwrap();
        assert_eq!(l.cursor().as_deref(), Some("s3"));
        assert_eq!(l.unfinished().len(), 1);
        // handled and forgotten before the replay arrives, even across
        // another restart
        l.done(6).unwrap();
        drop(l);
        let l = Ledger::open(d.path()).unwrap();
        assert!(l.unfinished().is_empty());
        // the replay from s3 brings $d again, plus $e
        let got = l.receive_keyed(b(&["$d", "$e"]), Some("s4")).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0, got[0].2["event"].as_str()), (7, Some("$e")));
        drop(l);
        let head: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("ledger.json")).unwrap()).unwrap();
        assert_eq!(
            head,
            json!({"seen": 7, "cursor": "s4"}),
            "replay keys dropped once past"
        );
    }
}
