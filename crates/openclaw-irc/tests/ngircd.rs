//! The IRC transport against a real ngircd on free loopback ports.

use std::time::Duration;

use openclaw_irc::testing::{Ngircd, NgircdOptions, TestClient};
use openclaw_irc::{ConnState, IrcConfig, IrcError, IrcEvent, NickServ, spawn};
use tokio::sync::mpsc::UnboundedReceiver;

fn bot_config(port: u16, nick: &str) -> IrcConfig {
    let mut c = IrcConfig::new("127.0.0.1", nick);
    c.port = port;
    c.tls = false;
    c.channels = vec!["#room".into()];
    c.reconnect_min = Duration::from_millis(200);
    c.reconnect_max = Duration::from_secs(2);
    c.flood_burst = 4;
    c.flood_interval = Duration::from_millis(100);
    c
}

async fn next_event(
    rx: &mut UnboundedReceiver<IrcEvent>,
    what: &str,
    pred: impl Fn(&IrcEvent) -> bool,
) -> IrcEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 30s"))
            .expect("event stream ended");
        if pred(&ev) {
            return ev;
        }
    }
}

async fn joined(rx: &mut UnboundedReceiver<IrcEvent>) {
    next_event(
        rx,
        "JOIN #room",
        |e| matches!(e, IrcEvent::Joined { channel } if channel == "#room"),
    )
    .await;
}

#[tokio::test]
async fn registers_joins_and_exchanges_dm_and_channel_messages() {
    let server = Ngircd::start();
    let mut alice = TestClient::connect(server.port, "alice").await;
    alice.join("#room").await;

    let (bot, mut events) = spawn(bot_config(server.port, "clawbot"));
    let ev = next_event(&mut events, "registration", |e| {
        matches!(e, IrcEvent::Connected { .. })
    })
    .await;
    assert_eq!(
        ev,
        IrcEvent::Connected {
            nick: "clawbot".into()
        }
    );
    joined(&mut events).await;
    alice
        .expect(|m| m.command == "JOIN" && m.nick() == "clawbot")
        .await;
    assert_eq!(bot.status().state, ConnState::Registered);
    assert_eq!(bot.status().joined, vec!["#room".to_string()]);

    // DM in
    alice.send("PRIVMSG clawbot :hello in private").await;
    let IrcEvent::Message(m) =
        next_event(&mut events, "DM", |e| matches!(e, IrcEvent::Message(_))).await
    else {
        unreachable!()
    };
    assert!(m.is_dm && m.mentioned);
    assert_eq!(
        (m.nick.as_str(), m.text.as_str()),
        ("alice", "hello in private")
    );
    assert_eq!(m.host, "127.0.0.1");
    assert!(m.user.ends_with("alice"), "{}", m.user);
    assert_eq!(m.reply_target(), "alice");

    // channel messages in: one without, one with a mention
    alice.send("PRIVMSG #room :just chatting").await;
    alice.send("PRIVMSG #room :ClawBot: are you there?").await;
    let IrcEvent::Message(a) = next_event(&mut events, "channel message", |e| {
        matches!(e, IrcEvent::Message(_))
    })
    .await
    else {
        unreachable!()
    };
    let IrcEvent::Message(b) = next_event(&mut events, "channel message", |e| {
        matches!(e, IrcEvent::Message(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(
        (a.target.as_str(), a.is_dm, a.mentioned),
        ("#room", false, false)
    );
    assert_eq!(
        (b.text.as_str(), b.mentioned),
        ("ClawBot: are you there?", true)
    );
    assert_eq!(b.reply_target(), "#room");

    // answers out: PRIVMSG to the nick and to the channel
    bot.privmsg("alice", "private answer").await.unwrap();
    let m = alice.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(
        (m.nick(), m.param(0), m.param(1)),
        ("clawbot", "alice", "private answer")
    );
    bot.privmsg("#room", "channel answer").await.unwrap();
    let m = alice.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!((m.param(0), m.param(1)), ("#room", "channel answer"));
    bot.quit("bye");
}

#[tokio::test]
async fn long_text_is_split_below_512_bytes_on_utf8_boundaries_and_flood_controlled() {
    let server = Ngircd::start();
    let mut alice = TestClient::connect(server.port, "alice").await;
    alice.join("#room").await;
    let (bot, mut events) = spawn(bot_config(server.port, "clawbot"));
    joined(&mut events).await;

    // No spaces, multi-byte characters: every byte of every piece counts.
    let text = "aé€😀".repeat(200); // 10 bytes × 200 = 2000 bytes
    bot.privmsg("#room", &text).await.unwrap();
    bot.privmsg("#room", "after").await.unwrap();
    let mut got = String::new();
    let mut lines = 0;
    loop {
        let raw = alice.next_line().await;
        let m = openclaw_irc::proto::Message::parse(&raw).unwrap();
        if m.command != "PRIVMSG" {
            continue;
        }
        if m.param(1) == "after" {
            break;
        }
        assert!(
            raw.len() + 2 <= 512,
            "relayed line is {} bytes",
            raw.len() + 2
        );
        got.push_str(m.param(1));
        lines += 1;
    }
    assert!(lines >= 4, "2000 bytes need at least 4 lines, got {lines}");
    // ngircd truncates over-long lines: any overflow would lose characters.
    assert_eq!(got, text);
    bot.quit("bye");
}

#[tokio::test]
async fn nick_in_use_falls_back_to_another_nick() {
    let server = Ngircd::start();
    let _holder = TestClient::connect(server.port, "clawbot").await;
    let (bot, mut events) = spawn(bot_config(server.port, "clawbot"));
    let ev = next_event(&mut events, "registration", |e| {
        matches!(e, IrcEvent::Connected { .. })
    })
    .await;
    assert_eq!(
        ev,
        IrcEvent::Connected {
            nick: "clawbot_".into()
        }
    );
    joined(&mut events).await;
    assert_eq!(bot.status().nick.as_deref(), Some("clawbot_"));

    // mentions now follow the nick in use
    let mut alice = TestClient::connect(server.port, "alice").await;
    alice.join("#room").await;
    alice.send("PRIVMSG #room :clawbot_ ping").await;
    let IrcEvent::Message(m) = next_event(&mut events, "message", |e| {
        matches!(e, IrcEvent::Message(_))
    })
    .await
    else {
        unreachable!()
    };
    assert!(m.mentioned);
    bot.quit("bye");
}

#[tokio::test]
async fn ctcp_version_is_answered_and_nickserv_identify_is_sent() {
    let server = Ngircd::start();
    let mut nickserv = TestClient::connect(server.port, "NickServ").await;
    let mut config = bot_config(server.port, "clawbot");
    config.nickserv = Some(NickServ {
        service: "NickServ".into(),
        password: "s3cret pass".into(),
    });
    let (bot, mut events) = spawn(config);
    let m = nickserv.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!((m.nick(), m.param(1)), ("clawbot", "IDENTIFY s3cret pass"));
    joined(&mut events).await;

    let mut alice = TestClient::connect(server.port, "alice").await;
    alice.send("PRIVMSG clawbot :\x01VERSION\x01").await;
    let m = alice
        .expect(|m| m.command == "NOTICE" && m.nick() == "clawbot")
        .await;
    assert!(
        m.param(1).starts_with("\x01VERSION OpenClaw ") && m.param(1).ends_with('\x01'),
        "{:?}",
        m.param(1)
    );
    // the CTCP request is not a message for the agent
    alice.send("PRIVMSG clawbot :real message").await;
    let IrcEvent::Message(m) = next_event(&mut events, "message", |e| {
        matches!(e, IrcEvent::Message(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(m.text, "real message");
    bot.quit("bye");
}

#[tokio::test]
async fn server_password_is_sent_and_a_wrong_one_is_reported() {
    let server = Ngircd::start_with(NgircdOptions {
        password: Some("letmein".into()),
        ..Default::default()
    });
    let mut wrong = bot_config(server.port, "wrongbot");
    wrong.password = Some("nope".into());
    let (wrong_bot, mut wrong_events) = spawn(wrong);
    let IrcEvent::Disconnected { error, .. } = next_event(&mut wrong_events, "rejection", |e| {
        matches!(e, IrcEvent::Disconnected { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert!(
        !error.contains("nope"),
        "the password must not appear in errors: {error}"
    );
    assert_ne!(wrong_bot.status().state, ConnState::Registered);
    assert!(wrong_bot.status().last_error.is_some());
    wrong_bot.quit("bye");

    let mut right = bot_config(server.port, "rightbot");
    right.password = Some("letmein".into());
    let (bot, mut events) = spawn(right);
    joined(&mut events).await;
    bot.quit("bye");
}

#[tokio::test]
async fn tls_with_a_trusted_ca_connects_and_an_untrusted_certificate_is_refused() {
    let server = Ngircd::start_with(NgircdOptions {
        tls: true,
        ..Default::default()
    });
    let tls_port = server.tls_port.unwrap();

    let mut untrusted = bot_config(tls_port, "untrusted");
    untrusted.tls = true; // system roots do not know the test CA
    let (u, mut u_events) = spawn(untrusted);
    let IrcEvent::Disconnected { error, .. } = next_event(&mut u_events, "TLS failure", |e| {
        matches!(e, IrcEvent::Disconnected { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert!(error.contains("TLS handshake"), "{error}");
    u.quit("bye");

    let mut config = bot_config(tls_port, "tlsbot");
    config.tls = true;
    config.tls_ca_file = Some(server.ca_file());
    let (bot, mut events) = spawn(config);
    joined(&mut events).await;
    // a plain-text client sees what the bot says over TLS
    let mut alice = TestClient::connect(server.port, "alice").await;
    alice.send("PRIVMSG tlsbot :over tls?").await;
    let IrcEvent::Message(m) = next_event(&mut events, "message", |e| {
        matches!(e, IrcEvent::Message(_))
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(m.text, "over tls?");
    bot.privmsg("alice", "yes").await.unwrap();
    let m = alice.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(m.param(1), "yes");
    bot.quit("bye");
}

#[tokio::test]
async fn reconnects_and_rejoins_after_the_server_restarts() {
    let mut server = Ngircd::start();
    let (bot, mut events) = spawn(bot_config(server.port, "clawbot"));
    joined(&mut events).await;
    assert_eq!(bot.status().connections, 1);

    server.kill();
    next_event(&mut events, "disconnect", |e| {
        matches!(e, IrcEvent::Disconnected { .. })
    })
    .await;
    assert_eq!(bot.status().state, ConnState::Disconnected);
    // an answer produced while the server is down waits for the reconnect
    let pending = {
        let bot = bot.clone();
        tokio::spawn(async move { bot.privmsg("#room", "queued while down").await })
    };
    server.start_again();
    next_event(&mut events, "reconnect", |e| {
        matches!(e, IrcEvent::Connected { .. })
    })
    .await;
    joined(&mut events).await;
    pending.await.unwrap().unwrap();
    assert_eq!(bot.status().connections, 2);
    assert_eq!(bot.status().joined, vec!["#room".to_string()]);

    let mut alice = TestClient::connect(server.port, "alice").await;
    alice.join("#room").await;
    alice.send("PRIVMSG #room :clawbot: back?").await;
    let IrcEvent::Message(m) = next_event(&mut events, "message", |e| {
        matches!(e, IrcEvent::Message(_))
    })
    .await
    else {
        unreachable!()
    };
    assert!(m.mentioned);
    bot.privmsg("#room", "yes, back").await.unwrap();
    let m = alice
        .expect(|m| m.command == "PRIVMSG" && m.nick() == "clawbot")
        .await;
    assert_eq!(m.param(1), "yes, back");
    bot.quit("bye");
}

/// A DM for one person goes out only while that person holds the nick: the
/// check runs right before the lines are written, on the connection that
/// writes them.
#[tokio::test]
async fn checked_dms_reach_only_the_person_they_are_for() {
    let server = Ngircd::start();
    let (bot, mut events) = spawn(bot_config(server.port, "clawbot"));
    joined(&mut events).await;
    let alice = TestClient::connect(server.port, "alice").await;
    let alice_uh = "~alice@127.0.0.1";

    // alice holds her nick: delivered.
    let mut alice = alice;
    bot.privmsg_checked("alice", alice_uh, "for alice")
        .await
        .unwrap();
    let m = alice.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!((m.param(0), m.param(1)), ("alice", "for alice"));
    // The case of user@host does not matter (IRC case mapping).
    bot.privmsg_checked("ALICE", "~Alice@127.0.0.1", "still alice")
        .await
        .unwrap();
    let m = alice.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(m.param(1), "still alice");

    // alice leaves; nobody has the nick: dropped.
    alice.quit().await;
    let err = bot
        .privmsg_checked("alice", alice_uh, "private")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        IrcError::NotThem {
            nick: "alice".into(),
            expected: alice_uh.into(),
            now: None
        }
    );
    // mallory takes the nick: dropped, and she sees nothing.
    let mut mallory = TestClient::connect_as(server.port, "alice", "mallory").await;
    let err = bot
        .privmsg_checked("alice", alice_uh, "private")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IrcError::NotThem { now: Some(now), .. } if now == "~mallory@127.0.0.1"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("not sent to someone else"),
        "{err}"
    );
    // An unchecked message still goes to whoever holds the nick; the next
    // thing mallory sees is that, not the private answer.
    bot.privmsg("alice", "public").await.unwrap();
    let m = mallory.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(m.param(1), "public");
    bot.quit("bye");
}

/// A checked DM queued while the server is away is checked on the new
/// connection: the nick changed hands before the reconnect, so it is
/// dropped.
#[tokio::test]
async fn checked_dms_queued_across_a_reconnect_are_checked_after_it() {
    let mut server = Ngircd::start();
    let mut config = bot_config(server.port, "clawbot");
    // Slow to come back, so mallory registers first.
    config.reconnect_min = Duration::from_secs(2);
    let (bot, mut events) = spawn(config);
    joined(&mut events).await;
    let alice = TestClient::connect(server.port, "alice").await;
    drop(alice);
    server.kill();
    next_event(&mut events, "disconnect", |e| {
        matches!(e, IrcEvent::Disconnected { .. })
    })
    .await;
    let pending = {
        let bot = bot.clone();
        tokio::spawn(async move {
            bot.privmsg_checked("alice", "~alice@127.0.0.1", "private answer")
                .await
        })
    };
    let also = {
        let bot = bot.clone();
        tokio::spawn(async move { bot.privmsg("alice", "after the private one").await })
    };
    server.start_again();
    let mut mallory = TestClient::connect_as(server.port, "alice", "mallory").await;
    next_event(&mut events, "reconnect", |e| {
        matches!(e, IrcEvent::Connected { .. })
    })
    .await;
    let err = pending.await.unwrap().unwrap_err();
    assert!(matches!(err, IrcError::NotThem { .. }), "{err:?}");
    also.await.unwrap().unwrap();
    let m = mallory.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(
        m.param(1),
        "after the private one",
        "the private one never came"
    );
    bot.quit("bye");
}
