//! The Matrix transport against a real Synapse on a free loopback port.

use std::time::Duration;

use openclaw_matrix::testing::Synapse;
use openclaw_matrix::{AutoJoin, MatrixClient, RoomTracker, SyncItem, should_auto_join, txn_id};
use serde_json::{Value, json};

/// Syncs from `since` until `done` holds for the items seen so far; returns
/// the new `next_batch` and those items.
async fn sync_until(
    client: &MatrixClient,
    own: &str,
    since: &str,
    tracker: &mut RoomTracker,
    done: impl Fn(&[SyncItem]) -> bool,
) -> (String, Vec<SyncItem>) {
    let mut since = since.to_string();
    let mut seen = Vec::new();
    for _ in 0..20 {
        let s = client
            .sync(Some(&since), Duration::from_secs(3), None)
            .await
            .expect("sync");
        assert!(!s.next_batch.is_empty());
        tracker.apply(&s, own);
        seen.extend(s.items(own));
        since = s.next_batch;
        if done(&seen) {
            return (since, seen);
        }
    }
    panic!("sync never delivered what we waited for; got {seen:?}");
}

/// Text bodies in `room`, oldest first, as `reader` sees them.
async fn bodies(reader: &MatrixClient, room: &str) -> Vec<String> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100",
        room.replace('!', "%21").replace(':', "%3A")
    );
    let v = reader
        .request(reqwest::Method::GET, &path, None)
        .await
        .expect("messages");
    let mut out: Vec<String> = v["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_string))
        .collect();
    out.reverse();
    out
}

#[tokio::test]
async fn login_invite_join_sync_and_send_with_transaction_ids() {
    let hs = Synapse::start().await;
    hs.register("bot", "bot-password", false).await;
    let alice_reg = hs.register("alice", "alice-password", false).await;
    let alice = hs.client(&alice_reg);
    let bot_id = Synapse::user_id("bot");

    // password login: a wrong password is refused without echoing it
    let mut bot = MatrixClient::new(&hs.url()).unwrap();
    let err = bot
        .login_password("bot", "not-the-password", None)
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some("M_FORBIDDEN"), "{err}");
    assert!(!err.to_string().contains("not-the-password"));
    let login = bot
        .login_password("bot", "bot-password", Some("OpenClaw"))
        .await
        .unwrap();
    assert_eq!(login.user_id, bot_id);
    assert_eq!(bot.token(), Some(login.access_token.as_str()));
    assert_eq!(bot.whoami().await.unwrap().user_id, bot_id);

    let first = bot.sync(None, Duration::ZERO, None).await.unwrap();
    assert!(!first.next_batch.is_empty());
    let mut tracker = RoomTracker::default();
    tracker.apply(&first, &bot_id);

    // invite → auto-join decision → join
    let room = alice
        .create_room(&json!({ "preset": "private_chat", "name": "openclaw test" }))
        .await
        .unwrap();
    alice.invite(&room, &bot_id).await.unwrap();
    let (since, items) = sync_until(&bot, &bot_id, &first.next_batch, &mut tracker, |items| {
        items.iter().any(|i| matches!(i, SyncItem::Invite { .. }))
    })
    .await;
    let Some(SyncItem::Invite {
        room_id, inviter, ..
    }) = items.iter().find(|i| matches!(i, SyncItem::Invite { .. }))
    else {
        unreachable!()
    };
    assert_eq!(
        (room_id.as_str(), inviter.as_str()),
        (room.as_str(), alice_reg.user_id.as_str())
    );
    assert!(should_auto_join(
        AutoJoin::Allowlist,
        std::slice::from_ref(&room),
        room_id
    ));
    assert!(!should_auto_join(
        AutoJoin::Off,
        std::slice::from_ref(&room),
        room_id
    ));
    assert_eq!(bot.join(room_id).await.unwrap(), room);

    // a message in, once; next_batch moves past it
    alice
        .send_text(&room, "alice-1", "hello bot")
        .await
        .unwrap();
    let (since, items) = sync_until(&bot, &bot_id, &since, &mut tracker, |items| {
        items
            .iter()
            .any(|i| matches!(i, SyncItem::Message { body, .. } if body == "hello bot"))
    })
    .await;
    let Some(SyncItem::Message {
        event_id,
        sender,
        mentioned,
        ..
    }) = items.iter().find(|i| matches!(i, SyncItem::Message { .. }))
    else {
        unreachable!()
    };
    assert_eq!(sender, &alice_reg.user_id);
    assert!(*mentioned, "'bot' is our localpart");
    assert!(tracker.is_dm(&room), "two members: a DM");
    assert!(!tracker.is_encrypted(&room));
    let again = bot.sync(Some(&since), Duration::ZERO, None).await.unwrap();
    assert!(
        !again
            .items(&bot_id)
            .iter()
            .any(|i| matches!(i, SyncItem::Message { .. })),
        "a sync from the new next_batch must not repeat the message"
    );

    // the answer, sent twice with the same transaction id, posts once
    let txn = txn_id(event_id, 0);
    let e1 = bot.send_text(&room, &txn, "the answer").await.unwrap();
    let e2 = bot.send_text(&room, &txn, "the answer").await.unwrap();
    assert!(e1.starts_with('$'));
    assert_eq!(e1, e2, "same txn id, same event");
    bot.send_text(&room, &txn_id(event_id, 1), "second part")
        .await
        .unwrap();
    assert_eq!(
        bodies(&alice, &room).await,
        vec!["hello bot", "the answer", "second part"]
    );

    // our own messages never come back as items
    let (_, items) = sync_until(&bot, &bot_id, &since, &mut tracker, |_| true).await;
    assert!(
        !items.iter().any(|i| matches!(i, SyncItem::Message { .. })),
        "{items:?}"
    );
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_encrypted_rooms_are_detected() {
    let hs = Synapse::start().await;
    let admin = hs.register("admin", "admin-password", true).await;
    let bot_reg = hs.register("bot", "bot-password", false).await;
    let alice_reg = hs.register("alice", "alice-password", false).await;
    let (bot, alice) = (hs.client(&bot_reg), hs.client(&alice_reg));
    hs.override_ratelimit(&admin, &bot_reg.user_id, 1, 1).await;

    let room = alice
        .create_room(&json!({ "preset": "private_chat" }))
        .await
        .unwrap();
    alice.invite(&room, &bot_reg.user_id).await.unwrap();
    bot.join(&room).await.unwrap();
    for i in 0..4 {
        bot.send_text(&room, &txn_id("burst", i), &format!("burst {i}"))
            .await
            .unwrap();
    }
    assert!(
        bot.rate_limited_count() > 0,
        "1 msg/s with burst 1 must have answered 429"
    );
    assert_eq!(
        bodies(&alice, &room).await,
        vec!["burst 0", "burst 1", "burst 2", "burst 3"]
    );

    // an encrypted room: the state event and the undecryptable message
    let first = bot.sync(None, Duration::ZERO, None).await.unwrap();
    let mut tracker = RoomTracker::default();
    tracker.apply(&first, &bot_reg.user_id);
    let secret_room = alice
        .create_room(&json!({
            "preset": "private_chat",
            "initial_state": [{ "type": "m.room.encryption", "state_key": "",
                                "content": { "algorithm": "m.megolm.v1.aes-sha2" } }]
        }))
        .await
        .unwrap();
    alice.invite(&secret_room, &bot_reg.user_id).await.unwrap();
    bot.join(&secret_room).await.unwrap();
    let ciphertext: Value = json!({
        "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAC", "device_id": "ALICE",
        "sender_key": "k", "session_id": "s"
    });
    alice
        .send_event(&secret_room, "m.room.encrypted", "enc-1", &ciphertext)
        .await
        .unwrap();
    let (_, items) = sync_until(
        &bot,
        &bot_reg.user_id,
        &first.next_batch,
        &mut tracker,
        |items| {
            items
                .iter()
                .any(|i| matches!(i, SyncItem::Encrypted { .. }))
        },
    )
    .await;
    assert!(items.iter().any(
        |i| matches!(i, SyncItem::Encrypted { room_id, sender, .. } if *room_id == secret_room && *sender == alice_reg.user_id)
    ));
    assert!(tracker.is_encrypted(&secret_room));
    assert!(!tracker.is_encrypted(&room));
}

#[tokio::test]
async fn password_login_happens_once_and_the_token_is_kept_0600() {
    use std::os::unix::fs::PermissionsExt;

    use openclaw_matrix::{SessionSource, login_or_restore};

    let hs = Synapse::start().await;
    hs.register("bot", "bot-password", false).await;
    let bot_id = Synapse::user_id("bot");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.json");

    let mut first = MatrixClient::new(&hs.url()).unwrap();
    let (login, source) =
        login_or_restore(&mut first, &bot_id, "bot-password", Some("OpenClaw"), &path)
            .await
            .unwrap();
    assert_eq!(source, SessionSource::LoggedIn);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(stored.contains(&login.access_token));

    // a restart: the stored token is reused, no second login (same device)
    let mut second = MatrixClient::new(&hs.url()).unwrap();
    let (again, source) = login_or_restore(&mut second, &bot_id, "bot-password", None, &path)
        .await
        .unwrap();
    assert_eq!(source, SessionSource::Stored);
    assert_eq!(again.access_token, login.access_token);
    assert_eq!(second.whoami().await.unwrap().device_id, login.device_id);

    // the token is revoked server-side: one new login, stored again
    first
        .request(
            reqwest::Method::POST,
            "/_matrix/client/v3/logout",
            Some(&json!({})),
        )
        .await
        .unwrap();
    let mut third = MatrixClient::new(&hs.url()).unwrap();
    let (fresh, source) = login_or_restore(&mut third, &bot_id, "bot-password", None, &path)
        .await
        .unwrap();
    assert_eq!(source, SessionSource::LoggedIn);
    assert_ne!(fresh.access_token, login.access_token);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains(&fresh.access_token)
    );
    assert_eq!(third.whoami().await.unwrap().user_id, bot_id);

    // a wrong password with no usable stored token fails, and keeps the file
    std::fs::write(&path, b"{}").unwrap();
    let mut fourth = MatrixClient::new(&hs.url()).unwrap();
    let err = login_or_restore(&mut fourth, &bot_id, "wrong", None, &path)
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some("M_FORBIDDEN"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
}

/// A room the bot was invited to "as direct" is a DM only while it holds
/// two members: the tracker sees the third join on a real homeserver.
#[tokio::test]
async fn a_direct_room_stops_being_a_dm_when_a_third_member_joins() {
    let hs = Synapse::start().await;
    let bot_reg = hs.register("bot", "bot-password", false).await;
    let bot = hs.client(&bot_reg);
    let alice = hs.client(&hs.register("alice", "alice-pw", false).await);
    let carol_reg = hs.register("carol", "carol-pw", false).await;
    let carol = hs.client(&carol_reg);
    let bot_id = bot_reg.user_id.clone();
    let first = bot.sync(None, Duration::ZERO, None).await.unwrap();
    let mut tracker = RoomTracker::default();
    tracker.apply(&first, &bot_id);

    let room = alice
        .create_room(
            &json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [bot_id]}),
        )
        .await
        .unwrap();
    let (since, items) = sync_until(&bot, &bot_id, &first.next_batch, &mut tracker, |items| {
        items.iter().any(|i| matches!(i, SyncItem::Invite { .. }))
    })
    .await;
    assert!(items.iter().any(|i| matches!(
        i,
        SyncItem::Invite {
            is_direct: true,
            ..
        }
    )));
    assert!(
        tracker.is_dm(&room),
        "invited as direct, members not known yet"
    );
    bot.join(&room).await.unwrap();
    alice.send_text(&room, "a1", "hi").await.unwrap();
    let (since, _) = sync_until(&bot, &bot_id, &since, &mut tracker, |items| {
        items.iter().any(|i| matches!(i, SyncItem::Message { .. }))
    })
    .await;
    assert_eq!(tracker.joined_count(&room), Some(2));
    assert!(tracker.is_dm(&room));

    alice.invite(&room, &carol_reg.user_id).await.unwrap();
    carol.join(&room).await.unwrap();
    carol.send_text(&room, "c1", "hello all").await.unwrap();
    sync_until(&bot, &bot_id, &since, &mut tracker, |items| {
        items
            .iter()
            .any(|i| matches!(i, SyncItem::Message { body, .. } if body == "hello all"))
    })
    .await;
    assert_eq!(tracker.joined_count(&room), Some(3));
    assert!(!tracker.is_dm(&room), "three members: not a DM");
    // the homeserver agrees
    assert_eq!(bot.joined_members(&room).await.unwrap().len(), 3);
}
