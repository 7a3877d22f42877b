//! Issue 12 acceptance, IRC: the real gateway binary against a real ngircd
//! on a free loopback port (`openclaw_irc::testing`), a test client of our
//! own, and the fixture model server.

use std::time::Duration;

use openclaw_agent::testing::Fixture;
use openclaw_irc::testing::{Ngircd, TestClient};
use serde_json::{Value, json};

use crate::chan::{Inst, answers, rt, wait};
use crate::harness::{TestHome, expect_success};

/// Waits until `nick` is in `#room` (asking NAMES).
async fn wait_in_room(c: &mut TestClient, nick: &str) {
    for _ in 0..300 {
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{nick} never joined #room");
}

/// The text of the next PRIVMSG to `target` (a nick or `#room`).
async fn next_privmsg(c: &mut TestClient, target: &str) -> String {
    c.expect(|m| m.command == "PRIVMSG" && m.param(0).eq_ignore_ascii_case(target))
        .await
        .param(1)
        .to_string()
}

fn irc_section(port: u16) -> Value {
    json!({"irc": {
        "host": "127.0.0.1", "port": port, "tls": false, "nick": "clawbot",
        "channels": ["#room"], "groups": {"#room": {"allowFrom": ["*"]}}
    }})
}

#[test]
fn dm_pairing_room_mentions_and_a_server_restart() {
    let rt = rt();
    let mut server = Ngircd::start();
    let model = rt.block_on(Fixture::start(answers(6), false));
    let h = TestHome::new();
    let a = Inst::new(&h, "main");
    a.configure(&model.base_url, irc_section(server.port));
    let mut gw = a.gateway(&h);
    wait("irc running", || a.channel(&h, "irc")["state"] == "running");
    let st = a.cli_json(&h, &["channels", "status", "--json"]);
    let irc = st["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "irc")
        .unwrap()
        .clone();
    assert_eq!(irc["botUsername"], "clawbot");
    let text = a.cli(&h, &["channels", "status"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("irc (default): running clawbot"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );

    let mut alice = rt.block_on(TestClient::connect(server.port, "alice"));
    rt.block_on(alice.join("#room"));
    rt.block_on(wait_in_room(&mut alice, "clawbot"));

    // A DM from a stranger: a pairing code, and the agent does not run.
    rt.block_on(alice.send("PRIVMSG clawbot :hi bot"));
    let code_msg = rt.block_on(next_privmsg(&mut alice, "alice"));
    assert!(code_msg.contains("pairing code"), "{code_msg}");
    let listed = a.cli_json(&h, &["pairing", "list", "irc", "--json"]);
    let code = listed["pending"][0]["code"].as_str().unwrap().to_string();
    let sender = listed["pending"][0]["senderId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sender.starts_with("alice!"),
        "the nick!user@host mask: {sender}"
    );
    assert!(model.requests().is_empty(), "not processed before approval");
    // Its last line is the approve command of this instance (profile main).
    let approve = loop {
        let t = rt.block_on(next_privmsg(&mut alice, "alice"));
        if t.contains("pairing approve") {
            break t;
        }
    };
    assert!(
        approve.ends_with(&format!(
            "openclaw --profile main pairing approve irc {code}"
        )),
        "{approve}"
    );

    let out = a.cli(&h, &["pairing", "approve", "irc", &code]);
    let (stdout, _) = expect_success("pairing approve", &out);
    assert!(stdout.contains("owner set"), "{stdout}");
    let cfg: Value = serde_json::from_slice(&std::fs::read(&a.config).unwrap()).unwrap();
    assert_eq!(
        cfg["commands"]["ownerAllowFrom"],
        json!([format!("irc:{sender}")])
    );
    let notify = a.cli(&h, &["pairing", "approve", "irc", "ABCD2345", "--notify"]);
    assert_eq!(notify.status.code(), Some(2), "--notify is refused for irc");

    rt.block_on(alice.send("PRIVMSG clawbot :what's up?"));
    let answer = loop {
        let t = rt.block_on(next_privmsg(&mut alice, "alice"));
        if !t.contains("pairing") && !t.trim().is_empty() && t.starts_with("Hello") {
            break t;
        }
    };
    assert_eq!(answer, "Hello from the agent.");
    assert!(model.requests()[0].body.to_string().contains("what's up?"));
    let sessions =
        std::fs::read_to_string(a.state_dir.join("agents/main/sessions/sessions.json")).unwrap();
    assert!(sessions.contains(&format!("irc:dm:{sender}")), "{sessions}");

    // In #room: only when mentioned.
    rt.block_on(alice.send("PRIVMSG #room :just chatting"));
    rt.block_on(alice.send("PRIVMSG #room :clawbot: hello room"));
    assert_eq!(
        rt.block_on(next_privmsg(&mut alice, "#room")),
        "Hello from the agent."
    );
    assert_eq!(model.requests().len(), 2, "the unmentioned line never ran");
    assert!(model.requests()[1].body.to_string().contains("hello room"));

    // Kill and restart the server: the bot is back in #room and answers;
    // the gateway never exited.
    server.kill();
    wait("irc notices", || a.channel(&h, "irc")["state"] != "running");
    server.start_again();
    wait("irc running again", || {
        a.channel(&h, "irc")["state"] == "running"
    });
    let mut bob = rt.block_on(TestClient::connect(server.port, "bob"));
    rt.block_on(bob.join("#room"));
    rt.block_on(wait_in_room(&mut bob, "clawbot"));
    rt.block_on(bob.send("PRIVMSG #room :clawbot, are you back?"));
    assert_eq!(
        rt.block_on(next_privmsg(&mut bob, "#room")),
        "Hello from the agent."
    );
    assert!(gw.is_running(), "the gateway never exited");
}

#[test]
fn same_irc_nick_or_matrix_user_on_two_instances_is_a_doctor_error() {
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let rescue = Inst::new(&h, "rescue");
    let irc = |nick: &str| json!({"irc": {"host": "irc.example.org", "nick": nick, "password": "irc-secret-pw"}});
    main.edit(|v| v["channels"] = irc("clawbot"));
    rescue.edit(|v| v["channels"] = irc("ClawBot"));
    let out = h.run(&["doctor", "--json"]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{report}");
    let v: Value = serde_json::from_str(&report).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "shared-channel-login")
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert_eq!(f["severity"], "error");
    let msg = f["message"].as_str().unwrap();
    assert!(msg.contains("main") && msg.contains("rescue"), "{msg}");
    assert!(
        msg.contains("IRC nick") && msg.contains("irc.example.org:6697"),
        "{msg}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("--profile rescue config set channels.irc.nick"),
        "{f}"
    );
    assert!(!report.contains("irc-secret-pw"), "no secret in the report");

    // Another nick: fine. The same Matrix user: an error again.
    rescue.edit(|v| v["channels"] = irc("rescuebot"));
    let out = h.run(&["doctor", "--json"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("shared-channel-login"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let matrix = json!({"matrix": {"homeserver": "https://matrix.example.org",
        "userId": "@clawbot:example.org", "password": "matrix-secret-pw"}});
    main.edit(|v| v["channels"] = json!({}));
    let set = main.cli(
        &h,
        &[
            "config",
            "set",
            "channels.matrix",
            &matrix["matrix"].to_string(),
        ],
    );
    let (stdout, _) = expect_success("config set channels.matrix", &set);
    assert!(
        !stdout.contains("matrix-secret-pw"),
        "never echoed: {stdout}"
    );
    rescue.edit(|v| v["channels"] = matrix.clone());
    let out = h.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Matrix user @clawbot:example.org")
            && text.contains("main")
            && text.contains("rescue"),
        "{text}"
    );
    assert!(!text.contains("matrix-secret-pw"));
    // Matrix sharing is not "one connection wins": both answer.
    assert!(text.contains("both answer every message"), "{text}");
    assert!(
        text.contains(
            "--profile rescue config set channels.matrix.userId <ANOTHER_USER_ID> && openclaw --profile rescue config set channels.matrix.password <ITS_PASSWORD>"
        ),
        "{text}"
    );

    // A token-only section (the user its gateway reported): the advice
    // names the token file, never a userId that would break its login.
    rescue.edit(|v| {
        v["channels"] = json!({"matrix": {"homeserver": "https://matrix.example.org",
            "accessTokenFile": "~/.secrets/rescue-matrix"}})
    });
    let status_dir = rescue.state_dir.join("channels/matrix/default");
    std::fs::create_dir_all(&status_dir).unwrap();
    std::fs::write(
        status_dir.join("status.json"),
        json!({"channel": "matrix", "account": "default", "state": "running",
               "botUsername": "@clawbot:example.org"})
        .to_string(),
    )
    .unwrap();
    let out = h.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "shared-channel-login")
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    let fix = f["fix"].as_str().unwrap();
    assert!(
        fix.ends_with(
            "--profile rescue config set channels.matrix.accessTokenFile <FILE_WITH_ANOTHER_ACCOUNTS_TOKEN>"
        ),
        "{fix}"
    );
    assert!(!fix.contains("userId"), "{fix}");
}
