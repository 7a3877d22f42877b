//! Property tests of the `/sync` handling the Matrix channel relies on:
//! any JSON a homeserver answers either decodes to a `SyncResponse` or is
//! an error; a decoded one turns into items and room state without a
//! panic, never yields our own messages or state events as messages, and
//! every message it yields came from a joined room's timeline.

use openclaw_matrix::sync::{AutoJoin, mentions, should_auto_join};
use openclaw_matrix::{RoomTracker, SyncItem, SyncResponse};
use proptest::prelude::*;
use serde_json::{Value, json};

const ME: &str = "@bot:example.org";

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", "@bot:example.org", "bot", "BOT", "robot", "bot_", "hi bot!", "@alice:example.org",
            "m.text", "m.notice", "m.emote", "m.image", "join", "leave", "invite",
            "m.room.message", "m.room.encrypted", "m.room.member", "m.room.encryption",
            "!room:example.org", "$event", "İ", "ß", "\u{301}",
        ])
        .prop_map(String::from),
        1 => any::<String>(),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An event with the fields Matrix uses, each sometimes of the wrong type.
fn event() -> impl Strategy<Value = Value> {
    let field = |s: BoxedStrategy<Value>| prop_oneof![4 => s, 1 => any_json()];
    (
        field(text().prop_map(Value::String).boxed()),
        field(text().prop_map(Value::String).boxed()),
        field(prop_oneof![Just(json!(ME)), text().prop_map(Value::String)].boxed()),
        proptest::option::of(field(prop_oneof![Just(json!(ME)), text().prop_map(Value::String)].boxed())),
        field(
            (text(), text(), any::<bool>(), any::<bool>(), text())
                .prop_map(|(msgtype, body, direct, mention, membership)| {
                    let mut c = json!({"msgtype": msgtype, "body": body, "membership": membership, "is_direct": direct});
                    if mention {
                        c["m.mentions"] = json!({"user_ids": [ME]});
                    }
                    c
                })
                .boxed(),
        ),
    )
        .prop_map(|(kind, event_id, sender, state_key, content)| {
            let mut e = json!({"type": kind, "event_id": event_id, "sender": sender, "content": content});
            if let Some(k) = state_key {
                e["state_key"] = k;
            }
            e
        })
}

fn sync_json() -> impl Strategy<Value = Value> {
    let events = || prop::collection::vec(event(), 0..5);
    let joined = (
        events(),
        events(),
        proptest::option::of(any::<u64>()),
        any_json(),
    )
        .prop_map(|(timeline, state, count, junk)| {
            json!({"timeline": {"events": timeline, "limited": false}, "state": {"events": state},
                   "summary": {"m.joined_member_count": count}, "x": junk})
        });
    (
        prop_oneof![text().prop_map(Value::String), any_json()],
        prop::collection::btree_map(text(), prop_oneof![4 => joined, 1 => any_json()], 0..4),
        prop::collection::btree_map(text(), events().prop_map(|e| json!({"invite_state": {"events": e}})), 0..3),
        prop::collection::btree_map(text(), any_json(), 0..3),
    )
        .prop_map(|(next_batch, join, invite, leave)| {
            json!({"next_batch": next_batch, "rooms": {"join": join, "invite": invite, "leave": leave}})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_json_is_a_sync_or_an_error(v in any_json()) {
        if let Ok(s) = serde_json::from_value::<SyncResponse>(v) {
            let _ = s.items(ME);
            RoomTracker::default().apply(&s, ME);
        }
    }

    #[test]
    fn sync_shaped_answers_give_sound_items(v in sync_json()) {
        let text = v.to_string();
        let decoded = serde_json::from_str::<SyncResponse>(&text);
        // Only a missing or non-string `next_batch` makes an answer unusable;
        // a broken event or room is dropped, not the whole batch.
        prop_assert_eq!(decoded.is_ok(), v["next_batch"].is_string(), "{:?}", decoded.err());
        let Ok(s) = decoded else {
            return Ok(());
        };
        let mut rooms = RoomTracker::default();
        rooms.apply(&s, ME);
        rooms.apply(&s, ME);
        for item in s.items(ME) {
            match item {
                SyncItem::Message { room_id, sender, msgtype, mentioned, body, .. } => {
                    prop_assert!(sender != ME, "our own message came back");
                    prop_assert!(s.rooms.join.contains_key(&room_id));
                    prop_assert!(matches!(msgtype.as_str(), "m.text" | "m.notice" | "m.emote"));
                    if body.contains(ME) {
                        prop_assert!(mentioned);
                    }
                    let _ = rooms.is_dm(&room_id);
                    let _ = rooms.is_encrypted(&room_id);
                    let _ = rooms.joined_count(&room_id);
                }
                SyncItem::Encrypted { room_id, sender, .. } => {
                    prop_assert!(sender != ME);
                    prop_assert!(s.rooms.join.contains_key(&room_id));
                }
                SyncItem::Invite { room_id, .. } => {
                    prop_assert!(s.rooms.invite.contains_key(&room_id));
                    let _ = should_auto_join(AutoJoin::Allowlist, std::slice::from_ref(&room_id), &room_id);
                }
            }
        }
        for room_id in s.rooms.leave.keys() {
            prop_assert!(rooms.get(room_id).is_none(), "a left room is forgotten");
        }
    }

    #[test]
    fn mention_detection_takes_any_content(content in any_json(), me in text()) {
        let _ = mentions(&content, &me);
        let _ = mentions(&json!({"body": me.clone()}), &me);
    }
}

/// Regression (found by this file): one event with a field of the wrong
/// type (here a negative `origin_server_ts`, which a remote server can put
/// in an event) made the whole `/sync` answer undecodable, so the channel
/// would have asked for the same batch forever and lost every message in
/// it.
#[test]
fn a_broken_event_does_not_lose_the_batch() {
    let v = json!({"next_batch": "s2", "rooms": {
        "join": {
            "!a:example.org": {"timeline": {"events": [
                {"type": "m.room.message", "event_id": "$bad", "sender": "@eve:evil.example",
                 "origin_server_ts": -1, "content": {"msgtype": "m.text", "body": "x"}},
                {"type": 7},
                {"type": "m.room.message", "event_id": "$good", "sender": "@alice:example.org",
                 "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "hello bot"}}
            ]}, "summary": {"m.joined_member_count": -3}},
            "!b:example.org": 12
        },
        "invite": {"!c:example.org": {"invite_state": {"events": "nope"}}}
    }});
    let s: SyncResponse = serde_json::from_value(v).expect("decodes");
    let items = s.items(ME);
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        matches!(&items[0], SyncItem::Message { event_id, mentioned: true, .. } if event_id == "$good")
    );
}
