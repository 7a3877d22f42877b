//! Issue 12 acceptance, Matrix: the real gateway binary against a real
//! Synapse on a free loopback port (`openclaw_matrix::testing`), a second
//! user driving it, and the fixture model server.

use std::time::Duration;

use openclaw_agent::testing::{Fixture, Reply};
use openclaw_matrix::MatrixClient;
use openclaw_matrix::testing::{Synapse, room_messages};
use serde_json::{Value, json};

use crate::chan::{Inst, answers, rt, wait};
use crate::harness::{TestHome, expect_success, free_port, signal};

/// The bot's message bodies in `room` as `reader` sees them.
fn from_bot(rt: &tokio::runtime::Runtime, reader: &MatrixClient, room: &str) -> Vec<String> {
    rt.block_on(room_messages(reader, room))
        .into_iter()
        .filter(|(s, _, _)| s == &Synapse::user_id("bot"))
        .map(|(_, _, b)| b)
        .collect()
}

fn joined(rt: &tokio::runtime::Runtime, c: &MatrixClient, room: &str, user: &str) -> bool {
    rt.block_on(c.joined_members(room))
        .is_ok_and(|m| m.iter().any(|u| u == user))
}

#[test]
fn invite_by_allowlist_pairing_in_a_dm_and_a_failing_channel_stays_alone() {
    let rt = rt();
    let hs = rt.block_on(Synapse::start());
    rt.block_on(hs.register("bot", "bot-password", false));
    let alice = hs.client(&rt.block_on(hs.register("alice", "alice-pw", false)));
    let bot = Synapse::user_id("bot");
    let dm = rt
        .block_on(alice.create_room(&json!({"preset": "trusted_private_chat", "is_direct": true})))
        .unwrap();
    let model = rt.block_on(Fixture::start(answers(4), false));
    let h = TestHome::new();
    let a = Inst::new(&h, "main");
    // IRC points at a port nothing listens on: it fails on its own.
    let dead_irc = free_port();
    a.configure(
        &model.base_url,
        json!({
            "matrix": {"homeserver": hs.url(), "userId": bot, "password": "bot-password",
                       "autoJoin": "allowlist", "autoJoinAllowlist": [dm]},
            "irc": {"host": "127.0.0.1", "port": dead_irc, "tls": false, "nick": "clawbot"},
        }),
    );
    let mut gw = a.gateway(&h);
    wait("matrix running", || {
        a.channel(&h, "matrix")["state"] == "running"
    });
    assert_eq!(a.channel(&h, "matrix")["botUsername"], bot);
    wait("irc failing", || a.channel(&h, "irc")["state"] == "error");
    let session = a.state_dir.join("channels/matrix/default/session.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&session).unwrap().permissions().mode() & 0o777,
        0o600,
        "the token from the one login is kept, 0600"
    );

    rt.block_on(alice.invite(&dm, &bot)).unwrap();
    wait("the bot joined", || joined(&rt, &alice, &dm, &bot));
    rt.block_on(alice.send_text(&dm, "a1", "hi bot")).unwrap();
    wait("pairing code", || !from_bot(&rt, &alice, &dm).is_empty());
    let listed = a.cli_json(&h, &["pairing", "list", "matrix", "--json"]);
    let code = listed["pending"][0]["code"].as_str().unwrap().to_string();
    assert_eq!(listed["pending"][0]["senderId"], Synapse::user_id("alice"));
    let code_msg = &from_bot(&rt, &alice, &dm)[0];
    assert!(
        code_msg.contains(&format!(
            "openclaw --profile main pairing approve matrix {code}"
        )),
        "the approve command of this instance: {code_msg}"
    );
    assert!(model.requests().is_empty(), "not processed before approval");
    let out = a.cli(&h, &["pairing", "approve", "matrix", &code, "--notify"]);
    let (stdout, _) = expect_success("pairing approve", &out);
    assert!(stdout.contains("notified the sender"), "{stdout}");
    let cfg: Value = serde_json::from_slice(&std::fs::read(&a.config).unwrap()).unwrap();
    assert_eq!(
        cfg["commands"]["ownerAllowFrom"],
        json!([format!("matrix:{}", Synapse::user_id("alice"))])
    );

    rt.block_on(alice.send_text(&dm, "a2", "what's up?"))
        .unwrap();
    wait("the agent's answer", || {
        from_bot(&rt, &alice, &dm).last().map(String::as_str) == Some("Hello from the agent.")
    });
    assert!(model.requests()[0].body.to_string().contains("what's up?"));

    // Changing IRC's section restarts IRC only; Matrix keeps running.
    a.edit(|v| v["channels"]["irc"]["nick"] = json!("clawbot2"));
    wait("irc restarted", || {
        a.log()
            .contains("config reloaded: channels.irc changed, restarting the irc channel")
    });
    assert!(!a.log().contains("channels.matrix changed"), "{}", a.log());
    assert_eq!(a.channel(&h, "matrix")["state"], "running");
    rt.block_on(alice.send_text(&dm, "a3", "still there?"))
        .unwrap();
    wait("another answer", || {
        from_bot(&rt, &alice, &dm)
            .iter()
            .filter(|b| b.as_str() == "Hello from the agent.")
            .count()
            == 2
    });
    assert!(gw.is_running());
}

#[test]
fn kill_9_mid_conversation_loses_nothing_and_answers_nothing_twice() {
    let rt = rt();
    let hs = rt.block_on(Synapse::start());
    rt.block_on(hs.register("bot", "bot-password", false));
    let alice = hs.client(&rt.block_on(hs.register("alice", "alice-pw", false)));
    let bot = Synapse::user_id("bot");
    let room = rt
        .block_on(alice.create_room(
            &json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [bot]}),
        ))
        .unwrap();
    // Each answer names its prompt ("echo: message 3"), so an answer sent
    // twice is seen as such, not just counted.
    let slow = (0..40)
        .map(|_| Reply::EchoSse {
            delay: Duration::from_millis(150),
        })
        .collect();
    let model = rt.block_on(Fixture::start(slow, false));
    let h = TestHome::new();
    let a = Inst::new(&h, "main");
    a.configure(
        &model.base_url,
        json!({"matrix": {"homeserver": hs.url(), "userId": bot, "password": "bot-password",
                          "autoJoin": "always", "dmPolicy": "open", "allowFrom": ["*"]}}),
    );
    let mut gw = a.gateway(&h);
    wait("the bot joined", || joined(&rt, &alice, &room, &bot));
    let n = 10;
    for i in 0..n {
        rt.block_on(alice.send_text(&room, &format!("m{i}"), &format!("message {i}")))
            .unwrap();
    }
    // Kill while turns run (chosen by the model's side): some answered,
    // the others recorded and in flight or waiting.
    wait("turns in flight", || model.requests().len() >= 3);
    signal(gw.pid() as i32, libc::SIGKILL);
    gw.wait_exit();
    let before = from_bot(&rt, &alice, &room).len();
    assert!(
        before < n,
        "all answered before the kill ({before}); nothing was in flight"
    );
    // Sent while the gateway is down: picked up from the stored next_batch.
    for i in n..n + 2 {
        rt.block_on(alice.send_text(&room, &format!("m{i}"), &format!("message {i}")))
            .unwrap();
    }

    let _gw = a.gateway(&h);
    wait("every message answered", || {
        from_bot(&rt, &alice, &room).len() >= n + 2
    });
    // Settle: nothing more arrives.
    std::thread::sleep(Duration::from_secs(3));
    let got = from_bot(&rt, &alice, &room);
    assert_eq!(got.len(), n + 2, "one answer per message: {got:?}");
    for i in 0..n + 2 {
        let answers = got
            .iter()
            .filter(|b| b.as_str() == format!("echo: message {i}"))
            .count();
        assert_eq!(answers, 1, "message {i} answered {answers} times: {got:?}");
    }
    // Each message reached the agent (one turn per message, or two when a
    // turn was cut off by the kill): never fewer, and every text was seen.
    let reqs = model.requests();
    for i in 0..n + 2 {
        assert!(
            reqs.iter()
                .any(|r| r.body.to_string().contains(&format!("message {i}"))),
            "message {i} never reached the agent"
        );
    }
}
