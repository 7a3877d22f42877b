//! `/sync` answers: the parts the channel layer needs, turned into a flat
//! list of [`SyncItem`]s, plus what we remember about rooms between syncs
//! ([`RoomTracker`]) and the pure auto-join decision.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SyncResponse {
    pub next_batch: String,
    #[serde(default, deserialize_with = "lenient")]
    pub rooms: Rooms,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Rooms {
    #[serde(default, deserialize_with = "lenient_map")]
    pub join: BTreeMap<String, JoinedRoom>,
    #[serde(default, deserialize_with = "lenient_map")]
    pub invite: BTreeMap<String, InvitedRoom>,
    #[serde(default, deserialize_with = "lenient")]
    pub leave: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct JoinedRoom {
    #[serde(default, deserialize_with = "lenient")]
    pub timeline: Timeline,
    #[serde(default, deserialize_with = "lenient")]
    pub state: Events,
    #[serde(default, deserialize_with = "lenient")]
    pub summary: Summary,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Timeline {
    #[serde(default, deserialize_with = "lenient_events")]
    pub events: Vec<Event>,
    #[serde(default, deserialize_with = "lenient")]
    pub limited: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Events {
    #[serde(default, deserialize_with = "lenient_events")]
    pub events: Vec<Event>,
}

// One event or summary field the server (or a remote server over
// federation) got wrong must not make the whole `/sync` answer
// undecodable: the channel would then ask for the same batch forever
// (found by `tests/fuzz.rs`). So such parts are decoded one by one, and
// what does not fit is dropped (a part of the wrong type reads as its
// default).

fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

fn lenient_map<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    let Value::Object(rooms) = v else {
        return Ok(BTreeMap::new());
    };
    Ok(rooms
        .into_iter()
        .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
        .collect())
}

fn lenient_events<'de, D>(d: D) -> Result<Vec<Event>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let v = Value::deserialize(d)?;
    let Value::Array(items) = v else {
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .filter_map(|e| serde_json::from_value(e).ok())
        .collect())
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Summary {
    #[serde(rename = "m.joined_member_count")]
    pub joined_member_count: Option<u64>,
    #[serde(rename = "m.invited_member_count")]
    pub invited_member_count: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InvitedRoom {
    #[serde(default, deserialize_with = "lenient")]
    pub invite_state: Events,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub state_key: Option<String>,
    #[serde(default)]
    pub content: Value,
    #[serde(default)]
    pub origin_server_ts: Option<u64>,
    /// `unsigned` (Synapse puts a state event's `prev_content` here).
    #[serde(default)]
    pub unsigned: Value,
}

impl Event {
    /// This is `user_id` joining the room (not a join → join profile change).
    fn is_fresh_join_of(&self, user_id: &str) -> bool {
        let membership = |c: &Value| {
            c.get("membership")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        self.kind == "m.room.member"
            && self.state_key.as_deref() == Some(user_id)
            && membership(&self.content).as_deref() == Some("join")
            && self
                .unsigned
                .get("prev_content")
                .and_then(membership)
                .as_deref()
                != Some("join")
    }
}

/// One thing the channel layer may act on, in timeline order per room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncItem {
    /// We were invited to `room_id` by `inviter`.
    Invite {
        room_id: String,
        inviter: String,
        is_direct: bool,
    },
    /// A text message from someone else in a room we are in.
    Message {
        room_id: String,
        event_id: String,
        sender: String,
        body: String,
        /// `m.text`, `m.notice` or `m.emote`.
        msgtype: String,
        /// `m.mentions` names us, or the body contains our user id or
        /// localpart as a word.
        mentioned: bool,
    },
    /// An end-to-end encrypted event we cannot read.
    Encrypted {
        room_id: String,
        event_id: String,
        sender: String,
    },
}

/// The localpart of a user id (`bot` of `@bot:example.org`); the whole
/// string when it is not a user id.
pub fn localpart(user_id: &str) -> &str {
    user_id
        .strip_prefix('@')
        .and_then(|s| s.split(':').next())
        .unwrap_or(user_id)
}

fn word_in(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let word = word.to_lowercase();
    text.match_indices(&word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let ok = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
        ok(before) && ok(after)
    })
}

/// Whether a message content addresses `own_user_id`.
pub fn mentions(content: &Value, own_user_id: &str) -> bool {
    if let Some(ids) = content
        .get("m.mentions")
        .and_then(|m| m.get("user_ids"))
        .and_then(Value::as_array)
        && ids.iter().any(|v| v.as_str() == Some(own_user_id))
    {
        return true;
    }
    let body = content.get("body").and_then(Value::as_str).unwrap_or("");
    body.contains(own_user_id) || word_in(body, localpart(own_user_id))
}

impl SyncResponse {
    /// The items in this answer for the account `own_user_id` (our own
    /// messages and non-text events left out).
    pub fn items(&self, own_user_id: &str) -> Vec<SyncItem> {
        let mut out = Vec::new();
        for (room_id, room) in &self.rooms.invite {
            let me = room.invite_state.events.iter().find(|e| {
                e.kind == "m.room.member"
                    && e.state_key.as_deref() == Some(own_user_id)
                    && e.content.get("membership").and_then(Value::as_str) == Some("invite")
            });
            if let Some(me) = me {
                out.push(SyncItem::Invite {
                    room_id: room_id.clone(),
                    inviter: me.sender.clone(),
                    is_direct: me
                        .content
                        .get("is_direct")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                });
            }
        }
        for (room_id, room) in &self.rooms.join {
            // History from before we joined (shown to new members when the
            // room's history is visible) is not addressed to us.
            let start = room
                .timeline
                .events
                .iter()
                .rposition(|e| e.is_fresh_join_of(own_user_id))
                .map_or(0, |i| i + 1);
            for e in &room.timeline.events[start..] {
                if e.sender == own_user_id || e.state_key.is_some() {
                    continue;
                }
                let Some(event_id) = e.event_id.clone() else {
                    continue;
                };
                match e.kind.as_str() {
                    "m.room.message" => {
                        let msgtype = e
                            .content
                            .get("msgtype")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        if !matches!(msgtype, "m.text" | "m.notice" | "m.emote") {
                            continue;
                        }
                        let Some(body) = e.content.get("body").and_then(Value::as_str) else {
                            continue;
                        };
                        out.push(SyncItem::Message {
                            room_id: room_id.clone(),
                            event_id,
                            sender: e.sender.clone(),
                            body: body.to_string(),
                            msgtype: msgtype.to_string(),
                            mentioned: mentions(&e.content, own_user_id),
                        });
                    }
                    "m.room.encrypted" => out.push(SyncItem::Encrypted {
                        room_id: room_id.clone(),
                        event_id,
                        sender: e.sender.clone(),
                    }),
                    _ => {}
                }
            }
        }
        out
    }
}

/// What we know about each joined room across syncs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomInfo {
    /// From the room summary (sent with lazy-loaded members); dropped when a
    /// later sync changes membership without a new summary.
    pub joined_members: Option<u64>,
    /// The joined members, once known completely: from the sync that shows
    /// our own join (its state is the room's whole state), or from the
    /// homeserver's list ([`RoomTracker::set_members`]); kept current from
    /// `m.room.member` events after that. `None`: not known.
    pub members: Option<std::collections::BTreeSet<String>>,
    pub encrypted: bool,
    /// Invited with `is_direct`: only a hint, used while the member count
    /// is unknown.
    pub direct_invite: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RoomTracker {
    rooms: HashMap<String, RoomInfo>,
}

impl RoomTracker {
    /// Folds one sync answer for the account `own_user_id` in: members
    /// (room summaries, `m.room.member` events) and `m.room.encryption`
    /// state from state or timeline.
    pub fn apply(&mut self, sync: &SyncResponse, own_user_id: &str) {
        for (room_id, room) in &sync.rooms.invite {
            let direct = room.invite_state.events.iter().any(|e| {
                e.kind == "m.room.member"
                    && e.content.get("is_direct").and_then(Value::as_bool) == Some(true)
            });
            let info = self.rooms.entry(room_id.clone()).or_default();
            info.direct_invite |= direct;
        }
        for (room_id, room) in &sync.rooms.join {
            let info = self.rooms.entry(room_id.clone()).or_default();
            let all = || room.state.events.iter().chain(room.timeline.events.iter());
            // The sync that shows our own join carries the room's whole
            // state: from here on the member list is complete.
            if all().any(|e| e.is_fresh_join_of(own_user_id)) {
                info.members = Some(Default::default());
            }
            let mut membership_changed = false;
            for e in all() {
                match e.kind.as_str() {
                    "m.room.encryption" => info.encrypted = true,
                    "m.room.member" => {
                        let Some(user) = e.state_key.clone() else {
                            continue;
                        };
                        membership_changed = true;
                        let Some(members) = info.members.as_mut() else {
                            continue;
                        };
                        if e.content.get("membership").and_then(Value::as_str) == Some("join") {
                            members.insert(user);
                        } else {
                            members.remove(&user);
                        }
                    }
                    _ => {}
                }
            }
            match room.summary.joined_member_count {
                Some(n) => info.joined_members = Some(n),
                None if membership_changed => info.joined_members = None,
                None => {}
            }
        }
        for room_id in sync.rooms.leave.keys() {
            self.rooms.remove(room_id);
        }
    }

    pub fn get(&self, room_id: &str) -> Option<&RoomInfo> {
        self.rooms.get(room_id)
    }

    /// Whether the member count of `room_id` is known (after a restart an
    /// incremental sync may not say; ask the homeserver then).
    pub fn knows_members(&self, room_id: &str) -> bool {
        self.joined_count(room_id).is_some()
    }

    /// The joined members as the homeserver listed them
    /// ([`crate::MatrixClient::joined_members`]).
    pub fn set_members(&mut self, room_id: &str, members: impl IntoIterator<Item = String>) {
        let info = self.rooms.entry(room_id.to_string()).or_default();
        info.members = Some(members.into_iter().collect());
        info.joined_members = None;
    }

    /// The room has an `m.room.encryption` state event.
    pub fn set_encrypted(&mut self, room_id: &str) {
        self.rooms.entry(room_id.to_string()).or_default().encrypted = true;
    }

    /// Joined members: the summary's count when the server sent one, else
    /// the size of the member list once it is known completely.
    pub fn joined_count(&self, room_id: &str) -> Option<u64> {
        let r = self.rooms.get(room_id)?;
        r.joined_members
            .or(r.members.as_ref().map(|m| m.len() as u64))
    }

    /// A room is a DM while it holds at most two joined members (us and one
    /// other person): a third who joins makes it a group, whatever the
    /// invite said. Only while the count is unknown does an `is_direct`
    /// invite decide.
    pub fn is_dm(&self, room_id: &str) -> bool {
        match self.joined_count(room_id) {
            Some(n) => n <= 2,
            None => self.rooms.get(room_id).is_some_and(|r| r.direct_invite),
        }
    }

    pub fn is_encrypted(&self, room_id: &str) -> bool {
        self.rooms.get(room_id).is_some_and(|r| r.encrypted)
    }
}

/// `channels.matrix.autoJoin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoJoin {
    #[default]
    Off,
    Allowlist,
    Always,
}

/// Whether to accept an invite to `room_id`. `allowed_room_ids` is
/// `autoJoinAllowlist` with aliases already resolved through the homeserver
/// directory (never through state the inviting room claims about itself).
pub fn should_auto_join(policy: AutoJoin, allowed_room_ids: &[String], room_id: &str) -> bool {
    match policy {
        AutoJoin::Off => false,
        AutoJoin::Always => true,
        AutoJoin::Allowlist => allowed_room_ids.iter().any(|r| r == room_id || r == "*"),
    }
}

/// The notice a room gets once when it turns out to be end-to-end
/// encrypted: we cannot read it, and silence would look like a broken bot.
pub const ENCRYPTED_ROOM_NOTICE: &str = "This room is end-to-end encrypted, and this OpenClaw gateway \
cannot read encrypted messages. Talk to me in an unencrypted room or DM instead.";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sync(v: Value) -> SyncResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn items_from_a_sync_answer() {
        let s = sync(json!({
            "next_batch": "s2",
            "rooms": {
                "invite": { "!inv:hs": { "invite_state": { "events": [
                    { "type": "m.room.member", "sender": "@alice:hs", "state_key": "@bot:hs",
                      "content": { "membership": "invite", "is_direct": true } }
                ]}}},
                "join": { "!r:hs": {
                    "summary": { "m.joined_member_count": 3 },
                    "timeline": { "events": [
                        { "type": "m.room.message", "event_id": "$1", "sender": "@alice:hs",
                          "content": { "msgtype": "m.text", "body": "hi bot, hello" } },
                        { "type": "m.room.message", "event_id": "$2", "sender": "@bot:hs",
                          "content": { "msgtype": "m.text", "body": "my own echo" } },
                        { "type": "m.room.message", "event_id": "$3", "sender": "@carol:hs",
                          "content": { "msgtype": "m.image", "body": "cat.png" } },
                        { "type": "m.room.member", "event_id": "$4", "sender": "@carol:hs",
                          "state_key": "@carol:hs", "content": { "membership": "join" } },
                        { "type": "m.room.encrypted", "event_id": "$5", "sender": "@carol:hs",
                          "content": { "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x" } },
                        { "type": "m.room.message", "event_id": "$6", "sender": "@carol:hs",
                          "content": { "msgtype": "m.text", "body": "robots", "m.mentions": { "user_ids": ["@bot:hs"] } } }
                    ]}
                }}
            }
        }));
        let items = s.items("@bot:hs");
        assert_eq!(
            items,
            vec![
                SyncItem::Invite {
                    room_id: "!inv:hs".into(),
                    inviter: "@alice:hs".into(),
                    is_direct: true
                },
                SyncItem::Message {
                    room_id: "!r:hs".into(),
                    event_id: "$1".into(),
                    sender: "@alice:hs".into(),
                    body: "hi bot, hello".into(),
                    msgtype: "m.text".into(),
                    mentioned: true
                },
                SyncItem::Encrypted {
                    room_id: "!r:hs".into(),
                    event_id: "$5".into(),
                    sender: "@carol:hs".into()
                },
                SyncItem::Message {
                    room_id: "!r:hs".into(),
                    event_id: "$6".into(),
                    sender: "@carol:hs".into(),
                    body: "robots".into(),
                    msgtype: "m.text".into(),
                    mentioned: true
                },
            ]
        );
    }

    #[test]
    fn mention_rules() {
        assert!(mentions(&json!({ "body": "@bot:hs look" }), "@bot:hs"));
        assert!(mentions(&json!({ "body": "Bot: look" }), "@bot:hs"));
        assert!(!mentions(&json!({ "body": "robots" }), "@bot:hs"));
        assert!(!mentions(&json!({ "body": "bot_x" }), "@bot:hs"));
    }

    #[test]
    fn tracker_remembers_members_encryption_and_direct_invites() {
        let me = "@bot:hs";
        let mut t = RoomTracker::default();
        t.apply(
            &sync(json!({ "next_batch": "a", "rooms": { "join": {
            "!dm:hs": { "summary": { "m.joined_member_count": 2 } },
            "!group:hs": { "summary": { "m.joined_member_count": 5 },
                           "state": { "events": [ { "type": "m.room.encryption", "state_key": "", "content": {} } ] } }
        }}})),
            me,
        );
        assert!(t.is_dm("!dm:hs"));
        assert!(!t.is_dm("!group:hs"));
        assert!(t.is_encrypted("!group:hs") && !t.is_encrypted("!dm:hs"));
        // a later sync without a summary keeps what we knew
        t.apply(
            &sync(json!({ "next_batch": "b", "rooms": { "join": { "!dm:hs": {} } } })),
            me,
        );
        assert!(t.is_dm("!dm:hs"));
        // encryption switched on later, in the timeline
        t.apply(&sync(json!({ "next_batch": "c", "rooms": { "join": { "!dm:hs": { "timeline": { "events": [
            { "type": "m.room.encryption", "event_id": "$e", "sender": "@a:hs", "state_key": "", "content": {} }
        ]}}}}})), me);
        assert!(t.is_encrypted("!dm:hs"));
        // without summaries: the sync of our own join has the whole state,
        // and member events keep the list current after it
        let member = |who: &str, m: &str| {
            json!({ "type": "m.room.member", "event_id": format!("${who}{m}"),
            "sender": who, "state_key": who, "content": { "membership": m } })
        };
        t.apply(
            &sync(
                json!({ "next_batch": "c2", "rooms": { "join": { "!lazy:hs": {
            "state": { "events": [ member("@a:hs", "join") ] },
            "timeline": { "events": [ member(me, "join"), member("@b:hs", "join") ] } } } } }),
            ),
            me,
        );
        assert_eq!(t.joined_count("!lazy:hs"), Some(3));
        assert!(!t.is_dm("!lazy:hs"));
        t.apply(
            &sync(
                json!({ "next_batch": "c3", "rooms": { "join": { "!lazy:hs": {
            "timeline": { "events": [ member("@b:hs", "leave") ] } } } } }),
            ),
            me,
        );
        assert!(t.is_dm("!lazy:hs"));
        t.apply(
            &sync(json!({ "next_batch": "d", "rooms": { "leave": { "!dm:hs": {} } } })),
            me,
        );
        assert!(t.get("!dm:hs").is_none());
    }

    #[test]
    fn a_direct_invite_is_a_dm_only_until_a_third_member_joins() {
        let me = "@bot:hs";
        let member = |who: &str, m: &str| {
            json!({ "type": "m.room.member", "event_id": format!("${who}{m}"),
            "sender": who, "state_key": who, "content": { "membership": m } })
        };
        let mut t = RoomTracker::default();
        t.apply(
            &sync(json!({ "next_batch": "a", "rooms": { "invite": { "!r:hs": { "invite_state": { "events": [
            { "type": "m.room.member", "sender": "@alice:hs", "state_key": me,
              "content": { "membership": "invite", "is_direct": true } } ] } } } } })),
            me,
        );
        // invited as direct, count unknown: the hint decides
        assert_eq!(t.joined_count("!r:hs"), None);
        assert!(t.is_dm("!r:hs"));
        t.apply(
            &sync(json!({ "next_batch": "b", "rooms": { "join": { "!r:hs": {
            "state": { "events": [ member("@alice:hs", "join") ] },
            "timeline": { "events": [ member(me, "join") ] } } } } })),
            me,
        );
        assert!(t.is_dm("!r:hs"));
        t.apply(
            &sync(json!({ "next_batch": "c", "rooms": { "join": { "!r:hs": {
            "timeline": { "events": [ member("@carol:hs", "join") ] } } } } })),
            me,
        );
        assert_eq!(t.joined_count("!r:hs"), Some(3));
        assert!(
            !t.is_dm("!r:hs"),
            "three members: not a DM, whatever the invite said"
        );
        // The same with summaries: the count decides.
        t.apply(
            &sync(json!({ "next_batch": "d", "rooms": { "join": { "!r:hs": {
            "summary": { "m.joined_member_count": 4 } } } } })),
            me,
        );
        assert!(!t.is_dm("!r:hs"));
    }

    #[test]
    fn member_events_alone_do_not_make_a_count() {
        // After a restart an incremental sync shows only what changed: one
        // join is not "a room of one", and a stale summary is dropped.
        let me = "@bot:hs";
        let member = |who: &str, m: &str| {
            json!({ "type": "m.room.member", "event_id": format!("${who}{m}"),
            "sender": who, "state_key": who, "content": { "membership": m } })
        };
        let mut t = RoomTracker::default();
        t.apply(
            &sync(json!({ "next_batch": "a", "rooms": { "join": { "!g:hs": {
            "timeline": { "events": [ member("@carol:hs", "join") ] } } } } })),
            me,
        );
        assert!(!t.knows_members("!g:hs"));
        assert!(!t.is_dm("!g:hs"));
        t.set_members(
            "!g:hs",
            ["@a:hs", "@b:hs", "@carol:hs", me].map(String::from),
        );
        assert_eq!(t.joined_count("!g:hs"), Some(4));
        let mut t = RoomTracker::default();
        t.apply(
            &sync(json!({ "next_batch": "a", "rooms": { "join": { "!s:hs": {
            "summary": { "m.joined_member_count": 2 } } } } })),
            me,
        );
        assert!(t.is_dm("!s:hs"));
        t.apply(
            &sync(json!({ "next_batch": "b", "rooms": { "join": { "!s:hs": {
            "timeline": { "events": [ member("@carol:hs", "join") ] } } } } })),
            me,
        );
        assert!(
            !t.knows_members("!s:hs"),
            "the summary is stale: ask the server"
        );
    }

    #[test]
    fn auto_join_decision() {
        let allow = vec!["!ok:hs".to_string()];
        assert!(!should_auto_join(AutoJoin::Off, &allow, "!ok:hs"));
        assert!(should_auto_join(AutoJoin::Always, &[], "!any:hs"));
        assert!(should_auto_join(AutoJoin::Allowlist, &allow, "!ok:hs"));
        assert!(!should_auto_join(AutoJoin::Allowlist, &allow, "!other:hs"));
        assert!(!should_auto_join(AutoJoin::Allowlist, &[], "!ok:hs"));
    }

    #[test]
    fn history_before_our_join_is_left_out() {
        let msg = |id: &str| {
            json!({ "type": "m.room.message", "event_id": id, "sender": "@alice:hs",
            "content": { "msgtype": "m.text", "body": "hello" } })
        };
        let join = |prev: Option<&str>| {
            let mut e = json!({ "type": "m.room.member", "event_id": "$j", "sender": "@bot:hs",
                "state_key": "@bot:hs", "content": { "membership": "join" } });
            if let Some(p) = prev {
                e["unsigned"] = json!({ "prev_content": { "membership": p } });
            }
            e
        };
        let ids = |events: Vec<Value>| -> Vec<String> {
            sync(json!({ "next_batch": "x", "rooms": { "join": { "!r:hs": { "timeline": { "events": events } } } } }))
                .items("@bot:hs")
                .into_iter()
                .filter_map(|i| match i {
                    SyncItem::Message { event_id, .. } => Some(event_id),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            ids(vec![msg("$old"), join(Some("invite")), msg("$new")]),
            vec!["$new"]
        );
        assert_eq!(
            ids(vec![msg("$old"), join(None), msg("$new")]),
            vec!["$new"]
        );
        // a display-name change (join → join) is not a join
        assert_eq!(
            ids(vec![msg("$a"), join(Some("join")), msg("$b")]),
            vec!["$a", "$b"]
        );
    }
}
