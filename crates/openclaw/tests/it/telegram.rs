//! Issue 11 acceptance: Telegram through the real gateway binary against
//! the local Bot API fixture (`openclaw_channels::testing`, Telegram's JSON
//! over HTTP on 127.0.0.1 via `apiRoot`) and the fixture model server
//! (`openclaw_agent::testing`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use openclaw_agent::testing::{Fixture, Reply, ok_sse, openai_text};
use openclaw_channels::testing::BotApiFixture;
use serde_json::{Value, json};

use crate::harness::{GatewayChild, TestHome, expect_success, free_base_port, setup, signal};

const GUARD: Duration = Duration::from_secs(90);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Inst {
    profile: String,
    port: u16,
    state_dir: PathBuf,
    config: PathBuf,
}

impl Inst {
    fn new(h: &TestHome, profile: &str) -> Inst {
        let port = free_base_port();
        setup(h, profile, port);
        let st = h.json(&["--profile", profile, "status", "--json"]);
        Inst {
            profile: profile.into(),
            port,
            state_dir: PathBuf::from(st["stateDir"].as_str().unwrap()),
            config: PathBuf::from(st["configPath"].as_str().unwrap()),
        }
    }

    fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut v: Value = serde_json::from_slice(&std::fs::read(&self.config).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&self.config, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    /// A model at `model_url` and Telegram with `token` at `api_root`.
    fn configure(&self, model_url: &str, api_root: &str, token: &str, telegram: Value) {
        self.edit(|v| {
            v["models"] = json!({"providers": {"fx": {"baseUrl": model_url, "api": "openai-completions", "auth": "none", "models": [{"id": "m"}]}}});
            v["agents"]["defaults"]["model"] = json!({"primary": "fx/m"});
            let mut t = telegram;
            t["botToken"] = json!(token);
            t["apiRoot"] = json!(api_root);
            v["channels"] = json!({"telegram": t});
        });
    }

    fn gateway(&self, h: &TestHome) -> GatewayChild {
        GatewayChild::start(h, &["--profile", &self.profile, "gateway"], &[], self.port)
    }

    fn cli(&self, h: &TestHome, args: &[&str]) -> std::process::Output {
        let mut a = vec!["--profile", self.profile.as_str()];
        a.extend_from_slice(args);
        h.run(&a)
    }

    /// `channels status --json` for polling loops: a failed call (e.g. a
    /// client timeout on a loaded machine) reads as "not yet"; the
    /// assertions after a wait use the strict [`Inst::cli_json`].
    fn channel(&self, h: &TestHome) -> Value {
        let out = self.cli(h, &["channels", "status", "--json"]);
        if !out.status.success() {
            eprintln!(
                "channels status failed (retrying): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return Value::Null;
        }
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)["channels"][0].clone()
    }

    fn cli_json(&self, h: &TestHome, args: &[&str]) -> Value {
        let out = self.cli(h, args);
        let (stdout, _) = expect_success("openclaw", &out);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn answers(n: usize) -> Vec<Reply> {
    (0..n)
        .map(|_| ok_sse(openai_text(&["Hello ", "from the agent."])))
        .collect()
}

#[test]
fn unknown_dm_pairs_then_reaches_the_agent_and_sets_the_owner() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let model = rt.block_on(Fixture::start(answers(4), false));
    let _g = rt.enter();
    let h = TestHome::new();
    let a = Inst::new(&h, "main");
    fx.add_bot("100:main-token", 500, "main_bot");
    a.configure(&model.base_url, &fx.api_root, "100:main-token", json!({}));
    let _gw = a.gateway(&h);

    wait("channel running", || a.channel(&h)["state"] == "running");
    let st = a.cli_json(&h, &["channels", "status", "--json"]);
    assert_eq!(st["channels"][0]["botUsername"], "main_bot");
    assert!(!st.to_string().contains("main-token"), "{st}");

    fx.push_dm("100:main-token", 4242, "hi bot");
    wait("pairing code", || {
        fx.texts_to("100:main-token", 4242).len() == 1
    });
    let listed = a.cli_json(&h, &["pairing", "list", "telegram", "--json"]);
    let code = listed["pending"][0]["code"].as_str().unwrap().to_string();
    assert_eq!(listed["pending"][0]["senderId"], "4242");
    assert!(fx.texts_to("100:main-token", 4242)[0].contains(&code));
    assert!(
        model.requests().is_empty(),
        "the unpaired message is not processed"
    );

    let out = a.cli(&h, &["pairing", "approve", "telegram", &code]);
    let (stdout, _) = expect_success("pairing approve", &out);
    assert!(stdout.contains("owner set"), "{stdout}");
    let cfg: Value = serde_json::from_slice(&std::fs::read(&a.config).unwrap()).unwrap();
    assert_eq!(cfg["commands"]["ownerAllowFrom"], json!(["telegram:4242"]));
    // an unknown code fails with the list command as the hint
    let bad = a.cli(&h, &["pairing", "approve", "telegram", "ZZZZZZZZ"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--profile main pairing list telegram"));

    fx.push_dm("100:main-token", 4242, "what's up?");
    wait("the agent's answer", || {
        fx.texts_to("100:main-token", 4242).len() == 2
    });
    assert_eq!(
        fx.texts_to("100:main-token", 4242)[1],
        "Hello from the agent."
    );
    let req = &model.requests()[0];
    assert!(req.body.to_string().contains("what's up?"));
    let sessions =
        std::fs::read_to_string(a.state_dir.join("agents/main/sessions/sessions.json")).unwrap();
    assert!(sessions.contains("telegram:dm:4242"), "{sessions}");
    let status = a.cli_json(&h, &["status", "--json"]);
    assert_eq!(status["channels"][0]["state"], "running");
}

#[test]
fn kill_9_with_twenty_dms_in_flight_answers_each_exactly_once() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let slow = |n: usize| -> Vec<Reply> {
        (0..n)
            .map(|_| Reply::SlowSse {
                chunks: openai_text(&["one ", "answer"]),
                delay: Duration::from_millis(60),
                end: openclaw_agent::testing::End::Clean,
            })
            .collect()
    };
    let model = rt.block_on(Fixture::start(slow(80), false));
    let _g = rt.enter();
    let h = TestHome::new();
    let a = Inst::new(&h, "main");
    let tok = "200:kill-token";
    fx.add_bot(tok, 501, "kill_bot");
    a.configure(
        &model.base_url,
        &fx.api_root,
        tok,
        json!({"dmPolicy": "open", "allowFrom": ["*"]}),
    );
    let mut gw = a.gateway(&h);
    wait("channel running", || a.channel(&h)["state"] == "running");
    for i in 0..20 {
        fx.push_dm(tok, 1000 + i, &format!("message {i}"));
    }
    // Kill while turns run (chosen by the model's side, not by watching
    // replies arrive): some DMs answered, the others in flight.
    wait("turns in flight", || model.requests().len() >= 6);
    signal(gw.pid() as i32, libc::SIGKILL);
    gw.wait_exit();
    let before = fx.sent(tok).len();
    assert!(
        before < 20,
        "all answered before the kill ({before}); nothing was in flight"
    );

    let _gw = a.gateway(&h);
    wait("every DM answered", || {
        (0..20).all(|i| !fx.texts_to(tok, 1000 + i).is_empty())
    });
    // Settle: nothing more arrives.
    std::thread::sleep(Duration::from_secs(2));
    for i in 0..20 {
        let got = fx.texts_to(tok, 1000 + i);
        assert_eq!(got, vec!["one answer".to_string()], "chat {}", 1000 + i);
    }
}

#[test]
fn same_token_on_two_instances_is_a_doctor_error_and_a_named_conflict() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let model = rt.block_on(Fixture::start(answers(2), false));
    let _g = rt.enter();
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let rescue = Inst::new(&h, "rescue");
    let tok = "300:shared-token";
    fx.add_bot(tok, 502, "shared_bot");
    main.configure(&model.base_url, &fx.api_root, tok, json!({}));
    rescue.configure(&model.base_url, &fx.api_root, tok, json!({}));

    let out = h.run(&["doctor", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(report.contains("shared-bot-token"), "{report}");
    assert!(
        report.contains("profile main") && report.contains("profile rescue"),
        "{report}"
    );
    assert!(
        !report.contains("shared-token"),
        "the token is never printed: {report}"
    );

    // setup/config set warn at once
    let set = rescue.cli(&h, &["config", "set", "channels.telegram.botToken", tok]);
    let err = String::from_utf8_lossy(&set.stderr).to_string();
    assert!(
        err.contains("same Telegram bot token") && err.contains("profile main"),
        "{err}"
    );
    assert!(!err.contains(tok));

    let _a = main.gateway(&h);
    wait("main running", || main.channel(&h)["state"] == "running");
    let _b = rescue.gateway(&h);
    wait("rescue in conflict naming main", || {
        let c = rescue.channel(&h);
        c["state"] == "conflict" && c["conflictWith"]["profile"] == "main"
    });
    let st = rescue.cli_json(&h, &["channels", "status", "--json"]);
    assert_eq!(
        PathBuf::from(
            st["channels"][0]["conflictWith"]["stateDir"]
                .as_str()
                .unwrap()
        ),
        main.state_dir
    );
    let text = String::from_utf8_lossy(&rescue.cli(&h, &["channels", "status"]).stdout).to_string();
    assert!(
        text.contains("conflict") && text.contains("profile main"),
        "{text}"
    );
}

#[test]
fn different_tokens_work_at_once_without_cross_talk() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let model = rt.block_on(Fixture::start(answers(6), false));
    let _g = rt.enter();
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let rescue = Inst::new(&h, "rescue");
    fx.add_bot("400:main", 600, "main_bot");
    fx.add_bot("401:rescue", 601, "rescue_bot");
    let open = json!({"dmPolicy": "open", "allowFrom": ["*"]});
    main.configure(&model.base_url, &fx.api_root, "400:main", open.clone());
    rescue.configure(&model.base_url, &fx.api_root, "401:rescue", open);
    let out = h.run(&["doctor", "--json"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("shared-bot-token"));
    let _a = main.gateway(&h);
    let _b = rescue.gateway(&h);
    for i in [&main, &rescue] {
        wait("running", || i.channel(&h)["state"] == "running");
    }
    fx.push_dm("400:main", 7, "to main");
    fx.push_dm("401:rescue", 8, "to rescue");
    wait("both answered", || {
        fx.sent("400:main").len() == 1 && fx.sent("401:rescue").len() == 1
    });
    assert_eq!(fx.texts_to("400:main", 7).len(), 1);
    assert!(fx.texts_to("400:main", 8).is_empty());
    assert_eq!(fx.texts_to("401:rescue", 8).len(), 1);
    assert!(fx.texts_to("401:rescue", 7).is_empty());
    let s1 =
        std::fs::read_to_string(main.state_dir.join("agents/main/sessions/sessions.json")).unwrap();
    let s2 = std::fs::read_to_string(rescue.state_dir.join("agents/main/sessions/sessions.json"))
        .unwrap();
    assert!(s1.contains("telegram:dm:7") && !s1.contains("telegram:dm:8"));
    assert!(s2.contains("telegram:dm:8") && !s2.contains("telegram:dm:7"));
    let profiles = h.json(&["profiles", "--json"]);
    let states: Vec<_> = profiles["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channels"][0]["state"].clone())
        .collect();
    assert_eq!(
        states,
        vec![json!("running"), json!("running")],
        "{profiles}"
    );
}

#[test]
fn refused_token_is_reported_and_a_reload_restarts_only_telegram() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let model = rt.block_on(Fixture::start(answers(2), false));
    let _g = rt.enter();
    let h = TestHome::new();
    let a = Inst::new(&h, "main");
    fx.add_bot("500:good", 700, "good_bot");
    a.configure(
        &model.base_url,
        &fx.api_root,
        "500:revoked",
        json!({"dmPolicy": "open", "allowFrom": ["*"]}),
    );
    let mut gw = a.gateway(&h);
    wait("unauthorized", || a.channel(&h)["state"] == "unauthorized");
    let st = a.cli_json(&h, &["channels", "status", "--json"]);
    let hint = st["channels"][0]["hint"].as_str().unwrap();
    assert!(
        hint.contains("openclaw --profile main config set channels.telegram.botToken"),
        "{hint}"
    );
    assert!(!st.to_string().contains("500:revoked"), "{st}");
    // the rest of the gateway keeps running
    assert_eq!(
        a.cli_json(&h, &["status", "--json"])["gateway"]["state"],
        "running"
    );

    let out = a.cli(
        &h,
        &["config", "set", "channels.telegram.botToken", "500:good"],
    );
    let (stdout, _) = expect_success("config set", &out);
    assert!(!stdout.contains("500:good"), "{stdout}");
    wait("running with the new token", || {
        let c = a.channel(&h);
        c["state"] == "running" && c["botUsername"] == "good_bot"
    });
    assert!(gw.is_running(), "the gateway itself did not restart");
    fx.push_dm("500:good", 11, "hello");
    wait("answer", || fx.texts_to("500:good", 11).len() == 1);
}

/// Issue 18: a DM being answered when SIGTERM arrives is cut off by the
/// drain; it is neither answered with an error nor marked done, and the
/// next start answers it exactly once.
#[test]
fn sigterm_mid_answer_leaves_the_dm_for_the_restart_to_answer_once() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let model = rt.block_on(Fixture::start(
        vec![
            // Far longer than the 5 s drain: cut off.
            openclaw_agent::testing::openai_slow_text(400, Duration::from_millis(100)),
            ok_sse(openai_text(&["answered ", "after the restart"])),
        ],
        false,
    ));
    let _g = rt.enter();
    let h = TestHome::new();
    let a = Inst::new(&h, "main");
    let tok = "300:drain-token";
    fx.add_bot(tok, 502, "drain_bot");
    a.configure(
        &model.base_url,
        &fx.api_root,
        tok,
        json!({"dmPolicy": "open", "allowFrom": ["*"]}),
    );
    let mut gw = a.gateway(&h);
    wait("channel running", || a.channel(&h)["state"] == "running");
    fx.push_dm(tok, 4242, "a long question");
    wait("the turn is streaming", || !model.requests().is_empty());
    std::thread::sleep(Duration::from_millis(300));
    assert!(gw.term().success(), "a drained shutdown exits cleanly");
    assert_eq!(
        fx.texts_to(tok, 4242),
        Vec::<String>::new(),
        "nothing sent for the interrupted turn (no partial answer, no error text)"
    );
    let log = std::fs::read_to_string(a.state_dir.join("logs/gateway.log")).unwrap();
    assert!(log.contains("interrupted by shutdown"), "{log}");

    let _gw = a.gateway(&h);
    wait("answered after the restart", || {
        !fx.texts_to(tok, 4242).is_empty()
    });
    // Settle: nothing more arrives.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        fx.texts_to(tok, 4242),
        vec!["answered after the restart".to_string()]
    );
    assert_eq!(
        model.requests().len(),
        2,
        "the agent ran once more, not twice"
    );
}
