//! The IRC channel on the pipeline against a real ngircd on a free port,
//! with an in-process agent.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use openclaw_channels::irc::{CHANNEL, IrcChannel, IrcSettings};
use openclaw_channels::ledger::Ledger;
use openclaw_channels::pairing::PairingStore;
use openclaw_channels::{AgentRunner, Channel, ChannelState, Live, RunFailure, account_dir};
use openclaw_irc::testing::{Ngircd, TestClient};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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

/// Waits until `nick` is in `#room` (asking NAMES).
async fn wait_in_room(c: &mut TestClient, nick: &str) {
    for _ in 0..200 {
        c.send("NAMES #room").await;
        let mut present = false;
        loop {
            let m = c.expect(|m| m.command == "353" || m.command == "366").await;
            if m.command == "366" {
                break;
            }
            present |= m.params.last().is_some_and(|names| {
                names
                    .split(' ')
                    .any(|n| n.trim_start_matches(['@', '+']) == nick)
            });
        }
        if present {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{nick} never joined #room");
}

async fn privmsg_to(c: &mut TestClient, target: &str) -> String {
    let m = c
        .expect(|m| m.command == "PRIVMSG" && m.param(0).eq_ignore_ascii_case(target))
        .await;
    m.param(1).to_string()
}

#[tokio::test]
async fn pairing_then_answers_in_dms_and_mentions_only_in_the_room() {
    let mut server = Ngircd::start();
    let d = tempfile::tempdir().unwrap();
    let cfg = serde_json::from_value(json!({
        "host": "127.0.0.1", "port": server.port, "tls": false, "nick": "clawbot",
        "channels": ["#room"], "groups": {"#room": {"allowFrom": ["*"]}}
    }))
    .unwrap();
    let mut s = IrcSettings::new(
        "default",
        d.path(),
        cfg,
        d.path(),
        "openclaw --profile main",
    )
    .unwrap();
    s.transport.reconnect_min = Duration::from_millis(200);
    s.transport.reconnect_max = Duration::from_secs(1);
    let ledger = Arc::new(Ledger::open(&account_dir(d.path(), CHANNEL, "default")).unwrap());
    let ch = IrcChannel::new(s, ledger, Arc::new(Echo), Live::new(vec![], vec![]));
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));

    let mut alice = TestClient::connect(server.port, "alice").await;
    alice.join("#room").await;
    for _ in 0..400 {
        if ch.status().state == ChannelState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(ch.status().bot_username.as_deref(), Some("clawbot"));
    wait_in_room(&mut alice, "clawbot").await;

    alice.send("PRIVMSG clawbot :hello").await;
    let first = privmsg_to(&mut alice, "alice").await;
    assert!(first.contains("pairing code"), "{first}");
    let store = PairingStore::new(d.path(), CHANNEL, "default");
    let now = openclaw_channels::unix_time();
    let pending = store.list(now).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].sender_id.starts_with("alice!"), "{pending:?}");
    store.approve(&pending[0].code, now, "x").unwrap();

    alice.send("PRIVMSG clawbot :what's up?").await;
    let a = loop {
        let t = privmsg_to(&mut alice, "alice").await;
        if t.starts_with("echo") {
            break t;
        }
    };
    assert!(a.starts_with("echo [irc:dm:alice!"), "{a}");
    assert!(a.ends_with(": what's up?"), "{a}");

    // In the room: only when mentioned.
    alice.send("PRIVMSG #room :just chatting").await;
    alice.send("PRIVMSG #room :clawbot: ping?").await;
    let r = privmsg_to(&mut alice, "#room").await;
    assert_eq!(r, "echo [irc:group:#room]: ping?");

    // The server goes away and comes back: the bot rejoins and answers.
    server.kill();
    server.start_again();
    let mut bob = TestClient::connect(server.port, "bob").await;
    bob.join("#room").await;
    wait_in_room(&mut bob, "clawbot").await;
    bob.send("PRIVMSG #room :clawbot, back?").await;
    assert_eq!(
        privmsg_to(&mut bob, "#room").await,
        "echo [irc:group:#room]: back?"
    );
    stop.cancel();
    let _ = task.await;
    assert_eq!(ch.status().state, ChannelState::Stopped);
}

#[tokio::test]
async fn dm_answers_from_an_earlier_connection_go_only_to_the_same_person() {
    let server = Ngircd::start();
    let d = tempfile::tempdir().unwrap();
    let mut alice = TestClient::connect(server.port, "alice").await;
    // "carol" is now held by someone else (another user name).
    let mut carol = TestClient::connect(server.port, "carol").await;
    let dir = account_dir(d.path(), CHANNEL, "default");
    {
        // A previous run recorded three DMs and their answers, unsent.
        let l = Ledger::open(&dir).unwrap();
        let dm = |nick: &str, user: &str| {
            let inbound = openclaw_channels::Inbound {
                channel: "irc".into(),
                account: "default".into(),
                chat_id: nick.into(),
                chat_kind: openclaw_channels::ChatKind::Direct,
                sender_id: format!("{nick}!{user}@127.0.0.1"),
                sender_name: Some(nick.into()),
                text: "hi".into(),
                reply_to_bot: false,
                mentioned: true,
            };
            (
                None,
                nick.to_string(),
                json!({"inbound": inbound, "conn": "1.1"}),
            )
        };
        let got = l
            .receive_keyed(
                vec![
                    dm("alice", "~alice"),
                    dm("carol", "~realcarol"),
                    dm("dave", "~dave"),
                ],
                None,
            )
            .unwrap();
        for (id, chat, _) in got {
            l.answered(id, vec![format!("answer for {chat}")]).unwrap();
        }
    }
    let cfg = serde_json::from_value(json!({
        "host": "127.0.0.1", "port": server.port, "tls": false, "nick": "clawbot"
    }))
    .unwrap();
    let s = IrcSettings::new(
        "default",
        d.path(),
        cfg,
        d.path(),
        "openclaw --profile main",
    )
    .unwrap();
    let ledger = Arc::new(Ledger::open(&dir).unwrap());
    let ch = IrcChannel::new(s, ledger.clone(), Arc::new(Echo), Live::new(vec![], vec![]));
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));

    assert_eq!(privmsg_to(&mut alice, "alice").await, "answer for alice");
    for _ in 0..400 {
        if ledger.unfinished().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ledger.unfinished().is_empty(), "all three finished");
    // carol (someone else now) got nothing: the next thing she sees from
    // the bot is an answer to her own DM, not the old one.
    carol.send("PRIVMSG clawbot :hello").await;
    let first = privmsg_to(&mut carol, "carol").await;
    assert!(first.contains("pairing code"), "{first}");
    stop.cancel();
    let _ = task.await;
}

/// A model that answers only when the test says so.
struct Gate {
    started: mpsc::UnboundedSender<()>,
    release: Arc<tokio::sync::Notify>,
}

impl AgentRunner for Gate {
    fn run(
        &self,
        _agent: String,
        _session: String,
        _text: String,
        _d: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        let _ = self.started.send(());
        let release = self.release.clone();
        Box::pin(async move {
            release.notified().await;
            Ok("the private answer for alice".to_string())
        })
    }
}

/// Nicks change hands while a turn runs, on the same connection: alice
/// asks, leaves, mallory takes the nick `alice` under another user name;
/// the answer must not reach her.
#[tokio::test]
async fn a_dm_answer_never_reaches_whoever_took_the_nick_mid_turn() {
    let server = Ngircd::start();
    let d = tempfile::tempdir().unwrap();
    let cfg = serde_json::from_value(json!({
        "host": "127.0.0.1", "port": server.port, "tls": false, "nick": "clawbot",
        "allowFrom": ["alice!~alice@127.0.0.1"]
    }))
    .unwrap();
    let s = IrcSettings::new(
        "default",
        d.path(),
        cfg,
        d.path(),
        "openclaw --profile main",
    )
    .unwrap();
    let dir = account_dir(d.path(), CHANNEL, "default");
    let ledger = Arc::new(Ledger::open(&dir).unwrap());
    let (started, mut turn) = mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = Gate {
        started,
        release: release.clone(),
    };
    let ch = IrcChannel::new(s, ledger.clone(), Arc::new(gate), Live::new(vec![], vec![]));
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));
    for _ in 0..400 {
        if ch.status().state == ChannelState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let mut alice = TestClient::connect(server.port, "alice").await;
    alice.send("PRIVMSG clawbot :tell me a secret").await;
    tokio::time::timeout(Duration::from_secs(30), turn.recv())
        .await
        .expect("the turn started")
        .unwrap();
    alice.quit().await;
    let mut mallory = TestClient::connect_as(server.port, "alice", "mallory").await;
    release.notify_one();
    for _ in 0..400 {
        if ledger.unfinished().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ledger.unfinished().is_empty(), "the answer was dealt with");
    // The first thing mallory gets from the bot is her own pairing code.
    mallory.send("PRIVMSG clawbot :hello").await;
    let first = privmsg_to(&mut mallory, "alice").await;
    assert!(first.contains("pairing code"), "{first}");
    stop.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_refused_server_password_reads_unauthorized_with_the_fix() {
    let server = openclaw_irc::testing::Ngircd::start_with(openclaw_irc::testing::NgircdOptions {
        password: Some("right-pw".into()),
        tls: false,
    });
    let d = tempfile::tempdir().unwrap();
    let cfg = serde_json::from_value(json!({
        "host": "127.0.0.1", "port": server.port, "tls": false, "nick": "clawbot",
        "password": "wrong-pw"
    }))
    .unwrap();
    let s = IrcSettings::new(
        "default",
        d.path(),
        cfg,
        d.path(),
        "openclaw --profile main",
    )
    .unwrap();
    let ledger = Arc::new(Ledger::open(&account_dir(d.path(), CHANNEL, "default")).unwrap());
    let ch = IrcChannel::new(s, ledger, Arc::new(Echo), Live::new(vec![], vec![]));
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));
    for _ in 0..400 {
        if ch.status().state == ChannelState::Unauthorized {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let st = ch.status();
    assert_eq!(st.state, ChannelState::Unauthorized, "{st:?}");
    assert!(
        st.hint
            .unwrap()
            .contains("`openclaw --profile main config set channels.irc.password <PASSWORD>`")
    );
    assert!(!st.last_error.unwrap().contains("wrong-pw"));
    stop.cancel();
    let _ = task.await;
}
