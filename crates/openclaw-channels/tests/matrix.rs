//! The Matrix channel on the pipeline against a real Synapse on a free
//! port, with an in-process agent.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use openclaw_channels::ledger::Ledger;
use openclaw_channels::matrix::{CHANNEL, MatrixChannel, MatrixSettings};
use openclaw_channels::pairing::PairingStore;
use openclaw_channels::{AgentRunner, Channel, ChannelState, Live, RunFailure, account_dir};
use openclaw_matrix::MatrixClient;
use openclaw_matrix::testing::{Synapse, room_messages};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const GUARD: Duration = Duration::from_secs(60);

struct Echo;

impl AgentRunner for Echo {
    fn run(
        &self,
        _agent: String,
        session: String,
        text: String,
        _d: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        Box::pin(async move { Ok(format!("echo [{session}]: {text}")) })
    }
}

fn settings(dir: &Path, hs: &Synapse, cfg: Value) -> MatrixSettings {
    let mut cfg = cfg;
    cfg["homeserver"] = json!(hs.url());
    let mut s = MatrixSettings::new(
        "default",
        dir,
        serde_json::from_value(cfg).unwrap(),
        dir,
        "openclaw --profile main",
    )
    .unwrap();
    s.sync_timeout = Duration::from_secs(2);
    s.retry_pause = Duration::from_millis(200);
    s
}

struct Running {
    ch: Arc<MatrixChannel>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(dir: &Path, s: MatrixSettings) -> Running {
    let ledger = Arc::new(Ledger::open(&account_dir(dir, CHANNEL, "default")).unwrap());
    let ch = MatrixChannel::new(s, ledger, Arc::new(Echo), Live::new(vec![], vec![]));
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));
    Running { ch, stop, task }
}

async fn until<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let end = tokio::time::Instant::now() + GUARD;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The bot's messages in `room` as `reader` sees them.
async fn from_bot(reader: &MatrixClient, room: &str) -> Vec<(String, String)> {
    room_messages(reader, room)
        .await
        .into_iter()
        .filter(|(s, _, _)| s == &Synapse::user_id("bot"))
        .map(|(_, t, b)| (t, b))
        .collect()
}

async fn joined(c: &MatrixClient, room: &str, user: &str) -> bool {
    c.joined_members(room)
        .await
        .is_ok_and(|m| m.iter().any(|u| u == user))
}

#[tokio::test]
async fn invite_pairing_mentions_and_the_encrypted_room_notice() {
    let hs = Synapse::start().await;
    hs.register("bot", "bot-password", false).await;
    let alice = hs.client(&hs.register("alice", "alice-pw", false).await);
    let bob_reg = hs.register("bob", "bob-pw", false).await;
    let bob = hs.client(&bob_reg);
    let bot = Synapse::user_id("bot");
    let dm = alice
        .create_room(&json!({"preset": "trusted_private_chat", "is_direct": true}))
        .await
        .unwrap();
    let group = alice
        .create_room(&json!({"preset": "public_chat", "room_alias_name": "ops"}))
        .await
        .unwrap();
    bob.join(&group).await.unwrap();
    let secret = alice
        .create_room(&json!({"preset": "private_chat", "initial_state": [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        ]}))
        .await
        .unwrap();
    let elsewhere = alice
        .create_room(&json!({"preset": "private_chat"}))
        .await
        .unwrap();

    let d = tempfile::tempdir().unwrap();
    let cfg = json!({
        "userId": bot, "password": "bot-password",
        "autoJoin": "allowlist", "autoJoinAllowlist": [dm, "#ops:localhost", secret],
        "groupPolicy": "open",
    });
    let r = start(d.path(), settings(d.path(), &hs, cfg));
    until("running", || async {
        r.ch.status().state == ChannelState::Running
    })
    .await;
    assert_eq!(r.ch.status().bot_username.as_deref(), Some(bot.as_str()));
    // logged in once: the token is kept, 0600
    let session = account_dir(d.path(), CHANNEL, "default").join("session.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&session).unwrap().permissions().mode() & 0o777,
        0o600
    );

    for room in [&dm, &group, &secret, &elsewhere] {
        alice.invite(room, &bot).await.unwrap();
    }
    until("joined the allowlisted rooms", || async {
        joined(&alice, &dm, &bot).await
            && joined(&alice, &group, &bot).await
            && joined(&alice, &secret, &bot).await
    })
    .await;

    alice.send_text(&dm, "t1", "hello").await.unwrap();
    until("pairing code", || async {
        !from_bot(&alice, &dm).await.is_empty()
    })
    .await;
    assert!(from_bot(&alice, &dm).await[0].1.contains("pairing code"));
    let store = PairingStore::new(d.path(), CHANNEL, "default");
    let now = openclaw_channels::unix_time();
    let pending = store.list(now).unwrap();
    assert_eq!(pending[0].sender_id, Synapse::user_id("alice"));
    store.approve(&pending[0].code, now, "x").unwrap();
    alice.send_text(&dm, "t2", "what's up?").await.unwrap();
    until("answer", || async {
        from_bot(&alice, &dm).await.len() == 2
    })
    .await;
    assert_eq!(
        from_bot(&alice, &dm).await[1].1,
        format!("echo [matrix:dm:{}]: what's up?", Synapse::user_id("alice"))
    );

    // A room of three: only when mentioned.
    bob.send_text(&group, "g1", "just chatting").await.unwrap();
    bob.send_text(&group, "g2", "bot: ping?").await.unwrap();
    until("group answer", || async {
        !from_bot(&bob, &group).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        from_bot(&bob, &group).await,
        vec![(
            "m.text".to_string(),
            format!("echo [matrix:group:{group}]: ping?")
        )]
    );

    // The encrypted room gets one notice, not silence.
    until("notice", || async {
        !from_bot(&alice, &secret).await.is_empty()
    })
    .await;
    let notice = from_bot(&alice, &secret).await;
    assert_eq!(notice[0].0, "m.notice");
    assert!(notice[0].1.contains("end-to-end encrypted"));
    assert!(!joined(&alice, &elsewhere, &bot).await, "not allowlisted");
    r.stop.cancel();
    let _ = r.task.await;

    // Restart: the stored session is reused, nothing is answered again,
    // and a message sent while it was down is answered once.
    alice
        .send_text(&dm, "t3", "while you were out")
        .await
        .unwrap();
    let cfg = json!({"userId": bot, "password": "bot-password"});
    let r = start(d.path(), settings(d.path(), &hs, cfg));
    until("answer after restart", || async {
        from_bot(&alice, &dm).await.len() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dm_msgs = from_bot(&alice, &dm).await;
    assert_eq!(dm_msgs.len(), 3, "{dm_msgs:?}");
    assert!(dm_msgs[2].1.ends_with("while you were out"));
    assert_eq!(from_bot(&alice, &secret).await.len(), 1, "one notice, ever");
    r.stop.cancel();
    let _ = r.task.await;
}

#[tokio::test]
async fn refused_credentials_read_unauthorized_and_the_channel_stops() {
    let hs = Synapse::start().await;
    hs.register("bot", "bot-password", false).await;
    let d = tempfile::tempdir().unwrap();
    let cfg = json!({"userId": Synapse::user_id("bot"), "password": "not-the-password"});
    let r = start(d.path(), settings(d.path(), &hs, cfg));
    until("unauthorized", || async {
        r.ch.status().state == ChannelState::Unauthorized
    })
    .await;
    let st = r.ch.status();
    assert_eq!(
        st.hint.as_deref(),
        Some(
            "fix the credentials with `openclaw --profile main config set channels.matrix.password <PASSWORD>`"
        )
    );
    assert!(!st.last_error.unwrap().contains("not-the-password"));
    // It gave up (no retry loop against a refusing homeserver).
    tokio::time::timeout(Duration::from_secs(5), r.task)
        .await
        .expect("the channel task ended")
        .unwrap();
    let cfg = json!({"accessToken": "syt_not_a_token"});
    let r = start(d.path(), settings(d.path(), &hs, cfg));
    until("unauthorized token", || async {
        r.ch.status().state == ChannelState::Unauthorized
    })
    .await;
    r.stop.cancel();
}

/// A room the bot was invited to "as direct" is a DM only while it has two
/// members: once a third joins, she gets no pairing code there, and the
/// owner's DM session stops answering in the shared room.
#[tokio::test]
async fn a_direct_room_with_a_third_member_is_a_group() {
    let hs = Synapse::start().await;
    hs.register("bot", "bot-password", false).await;
    let alice = hs.client(&hs.register("alice", "alice-pw", false).await);
    let carol_reg = hs.register("carol", "carol-pw", false).await;
    let carol = hs.client(&carol_reg);
    let bot = Synapse::user_id("bot");
    let d = tempfile::tempdir().unwrap();
    let cfg = json!({
        "userId": bot, "password": "bot-password", "autoJoin": "always",
        "groupPolicy": "open", "allowFrom": [Synapse::user_id("alice")],
    });
    let r = start(d.path(), settings(d.path(), &hs, cfg));
    until("running", || async {
        r.ch.status().state == ChannelState::Running
    })
    .await;
    let room = alice
        .create_room(&json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [bot]}))
        .await
        .unwrap();
    until("joined", || async { joined(&alice, &room, &bot).await }).await;
    alice.send_text(&room, "a1", "hi").await.unwrap();
    until("DM answer", || async {
        !from_bot(&alice, &room).await.is_empty()
    })
    .await;
    assert_eq!(
        from_bot(&alice, &room).await[0].1,
        format!("echo [matrix:dm:{}]: hi", Synapse::user_id("alice"))
    );

    alice.invite(&room, &carol_reg.user_id).await.unwrap();
    carol.join(&room).await.unwrap();
    carol
        .send_text(&room, "c1", "hello everyone")
        .await
        .unwrap();
    alice.send_text(&room, "a2", "and now?").await.unwrap();
    alice.send_text(&room, "a3", "bot: and now?").await.unwrap();
    until("group answer", || async {
        from_bot(&alice, &room).await.len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got: Vec<String> = from_bot(&alice, &room)
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    // No pairing code for carol, no DM answer to alice's unaddressed line:
    // only the mention is answered, in the room's group session.
    assert_eq!(
        got,
        vec![
            format!("echo [matrix:dm:{}]: hi", Synapse::user_id("alice")),
            format!("echo [matrix:group:{room}]: and now?"),
        ]
    );
    let pending = PairingStore::new(d.path(), CHANNEL, "default")
        .list(openclaw_channels::unix_time())
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    r.stop.cancel();
    let _ = r.task.await;
}

/// The stored sync position belongs to the account that stored it: after
/// `channels.matrix` moves to another account, that account starts afresh
/// (what was sent to it before is history) instead of resuming the old
/// account's `next_batch`.
#[tokio::test]
async fn another_account_does_not_resume_the_old_accounts_sync() {
    let hs = Synapse::start().await;
    hs.register("bot", "bot-password", false).await;
    let bot2_reg = hs.register("bot2", "bot2-password", false).await;
    let bot2 = hs.client(&bot2_reg);
    let alice = hs.client(&hs.register("alice", "alice-pw", false).await);
    let room = alice
        .create_room(&json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [bot2_reg.user_id]}))
        .await
        .unwrap();
    bot2.join(&room).await.unwrap();
    let d = tempfile::tempdir().unwrap();
    let open = |user: &str, pw: &str| json!({"userId": user, "password": pw, "dmPolicy": "open", "allowFrom": ["*"]});
    // bot syncs (and stores its position), then stops.
    let r = start(
        d.path(),
        settings(
            d.path(),
            &hs,
            open(&Synapse::user_id("bot"), "bot-password"),
        ),
    );
    until("running", || async {
        r.ch.status().state == ChannelState::Running
    })
    .await;
    let ledger_path = account_dir(d.path(), CHANNEL, "default").join("ledger.json");
    until("a stored position", || async {
        std::fs::read_to_string(&ledger_path).is_ok_and(|s| s.contains("cursor"))
    })
    .await;
    r.stop.cancel();
    let _ = r.task.await;

    // Sent to bot2 before the section was moved to it.
    alice
        .send_text(&room, "old", "before your time")
        .await
        .unwrap();
    let r = start(
        d.path(),
        settings(d.path(), &hs, open(&bot2_reg.user_id, "bot2-password")),
    );
    until("running as bot2", || async {
        r.ch.status().bot_username.as_deref() == Some(bot2_reg.user_id.as_str())
            && r.ch.status().state == ChannelState::Running
    })
    .await;
    alice.send_text(&room, "new", "hello bot2").await.unwrap();
    let bot2_says = || async {
        room_messages(&alice, &room)
            .await
            .into_iter()
            .filter(|(s, _, _)| s == &bot2_reg.user_id)
            .map(|(_, _, b)| b)
            .collect::<Vec<_>>()
    };
    until("an answer", || async { !bot2_says().await.is_empty() }).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = bot2_says().await;
    assert_eq!(
        got,
        vec![format!(
            "echo [matrix:dm:{}]: hello bot2",
            Synapse::user_id("alice")
        )],
        "history from before the switch is not answered"
    );
    r.stop.cancel();
    let _ = r.task.await;
}
