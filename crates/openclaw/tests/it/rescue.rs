//! Issue 13 acceptance: the rescue bot repairs another instance from a
//! chat, with real gateways (this binary), Telegram through the local Bot
//! API fixture (`openclaw_channels::testing`) and, for the agent, the
//! fixture model (`openclaw_agent::testing`). Loopback only, temporary HOME.
//!
//! Every gateway the rescue bot starts is detached (its own session); a
//! [`Reaper`] stops them when a test ends, also when it fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openclaw_agent::testing::{Fixture, ok_sse, openai_text, openai_tool};
use openclaw_channels::testing::BotApiFixture;
use serde_json::{Value, json};

use crate::harness::{GatewayChild, TestHome, expect_success, free_base_port, setup, signal};

const GUARD: Duration = Duration::from_secs(90);
const MAIN_TOKEN: &str = "100:main-bot-token";
const RESCUE_TOKEN: &str = "200:rescue-bot-token";
const OWNER: i64 = 4242;
const STRANGER: i64 = 777;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One instance of the test home.
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

    fn telegram(&self, api_root: &str, token: &str) {
        self.edit(|v| {
            v["channels"] = json!({"telegram": {"botToken": token, "apiRoot": api_root}});
        });
    }

    /// The rescue role on, with `OWNER` as the command owner.
    fn rescue_role(&self) {
        self.edit(|v| {
            v["rescue"] = json!({"enabled": true});
            v["commands"] = json!({"ownerAllowFrom": [format!("telegram:{OWNER}")]});
        });
    }

    fn cli(&self, h: &TestHome, args: &[&str]) -> std::process::Output {
        let mut a = vec!["--profile", self.profile.as_str()];
        a.extend_from_slice(args);
        h.run(&a)
    }

    fn gateway(&self, h: &TestHome, env: &[(&str, &str)]) -> GatewayChild {
        GatewayChild::start(h, &["--profile", &self.profile, "gateway"], env, self.port)
    }

    fn owner_record(&self) -> Option<Value> {
        std::fs::read(self.state_dir.join("gateway.owner.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Breaks the config with a syntax error on line 3.
    fn break_config(&self) {
        std::fs::write(
            &self.config,
            format!("{{\n  gateway: {{\n    port: {},,\n  }},\n}}\n", self.port),
        )
        .unwrap();
    }

    fn channel_running(&self, h: &TestHome) -> bool {
        let out = self.cli(h, &["channels", "status", "--json"]);
        out.status.success()
            && serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)["channels"][0]["state"]
                == "running"
    }
}

/// Stops the gateways a rescue bot started (detached, so not children of
/// this test): SIGTERM to each owner record's process group, then SIGKILL.
struct Reaper(Vec<PathBuf>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for dir in &self.0 {
            let Some(pid) = std::fs::read(dir.join("gateway.owner.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v["pid"].as_i64())
            else {
                continue;
            };
            let pid = pid as i32;
            signal(-pid, libc::SIGTERM);
            let end = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
            signal(-pid, libc::SIGKILL);
        }
    }
}

/// Sends `text` as `from` to the rescue bot and returns its reply (the
/// next message to that chat).
fn dm(fx: &BotApiFixture, from: i64, text: &str) -> String {
    let before = fx.texts_to(RESCUE_TOKEN, from).len();
    fx.push_dm(RESCUE_TOKEN, from, text);
    wait(&format!("the reply to {text:?}"), || {
        fx.texts_to(RESCUE_TOKEN, from).len() > before
    });
    // A long reply arrives in chunks: give the rest a moment.
    std::thread::sleep(Duration::from_millis(200));
    fx.texts_to(RESCUE_TOKEN, from)[before..].join("\n")
}

/// The code in "send /confirm XXXX ...".
fn code_in(text: &str) -> String {
    let i = text
        .find("/confirm ")
        .unwrap_or_else(|| panic!("no confirmation code in: {text}"));
    text[i + 9..i + 13].to_string()
}

/// The output of the last tool call the model was sent back (the
/// tool-result message of an OpenAI request).
fn last_tool_output(body: &Value) -> String {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_else(|| panic!("no tool result in {body}"))
        .to_string()
}

/// The environment of a running process (Linux).
fn environ(pid: i64) -> Vec<(String, String)> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter(|x| !x.is_empty())
        .filter_map(|kv| {
            let s = String::from_utf8_lossy(kv);
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn audit(rescue: &Inst) -> Vec<Value> {
    std::fs::read_to_string(rescue.state_dir.join("rescue/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The issue's scenario: main and rescue with their own bots, rescue
/// without a model; main's config gets a syntax error and main is stopped.
/// From a DM the owner sees why, rolls the config back and restarts main;
/// a stranger's `/restart main` changes nothing.
#[test]
fn the_rescue_bot_repairs_a_broken_stopped_main_from_a_dm() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let _g = rt.enter();
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let rescue = Inst::new(&h, "rescue");
    let _reaper = Reaper(vec![main.state_dir.clone()]);
    fx.add_bot(MAIN_TOKEN, 100, "main_bot");
    fx.add_bot(RESCUE_TOKEN, 200, "rescue_bot");
    main.telegram(&fx.api_root, MAIN_TOKEN);
    rescue.telegram(&fx.api_root, RESCUE_TOKEN);
    rescue.rescue_role();

    // main runs for a while; an edit through the CLI keeps a good backup;
    // then its config breaks (the running gateway logs why and keeps the
    // last good one) and it is stopped.
    let mut main_gw = main.gateway(&h, &[]);
    wait("main's channel", || main.channel_running(&h));
    expect_success(
        "config set",
        &main.cli(&h, &["config", "set", "logging.level", "info"]),
    );
    main.break_config();
    let log = main.state_dir.join("logs/gateway.log");
    wait("main logs the broken config", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("openclaw.json:3:"))
    });
    // `gateway stop` needs no valid config.
    expect_success("gateway stop", &main.cli(&h, &["gateway", "stop"]));
    main_gw.wait_exit();
    assert!(!main.cli(&h, &["config", "validate"]).status.success());

    let _rescue_gw = rescue.gateway(&h, &[]);
    wait("rescue's channel", || rescue.channel_running(&h));

    // Why is main down? The config error with its line and column.
    let status = dm(&fx, OWNER, "/status main");
    assert!(status.contains("profile main is DOWN"), "{status}");
    let at = format!("{}:3:", main.config.display());
    assert!(status.contains(&at), "{status}");
    assert!(status.contains("/config main rollback"), "{status}");

    // Roll back: a code first, nothing changed until /confirm.
    let asked = dm(&fx, OWNER, "/config main rollback");
    let code = code_in(&asked);
    assert!(!main.cli(&h, &["config", "validate"]).status.success());
    let done = dm(&fx, OWNER, &format!("/confirm {code}"));
    assert!(done.contains("it validates"), "{done}");
    expect_success("config validate", &main.cli(&h, &["config", "validate"]));
    // A code works once.
    let again = dm(&fx, OWNER, &format!("/confirm {code}"));
    assert!(again.contains("no action is waiting"), "{again}");

    // Restart: confirmed, and the reply comes when main answers health.
    let asked = dm(&fx, OWNER, "/restart main");
    assert!(asked.contains("stopped now"), "{asked}");
    let done = dm(&fx, OWNER, &format!("/confirm {}", code_in(&asked)));
    assert!(done.contains("main is up"), "{done}");
    assert!(done.contains(&format!("port {}", main.port)), "{done}");
    assert!(done.contains("/healthz answers"), "{done}");
    let health = main.cli(&h, &["health", "--json"]);
    let (out, _) = expect_success("main health", &health);
    let hv: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(hv["ok"], true, "{hv}");
    let owner = main.owner_record().expect("main runs");
    assert_eq!(owner["port"], main.port);
    wait("main's own bot polls again", || main.channel_running(&h));

    // A stranger's /restart main is refused politely and changes nothing.
    let refused = dm(&fx, STRANGER, "/restart main");
    assert!(refused.contains("only the owner"), "{refused}");
    assert!(!refused.contains("/confirm"), "{refused}");
    std::thread::sleep(Duration::from_millis(500));
    let after = main.owner_record().expect("main still runs");
    assert_eq!(after["pid"], owner["pid"]);
    assert_eq!(after["startedAt"], owner["startedAt"]);
    // ...and their next ordinary message still gets a pairing code.
    let hello = dm(&fx, STRANGER, "hello");
    assert!(hello.contains("pairing code"), "{hello}");

    let log = audit(&rescue);
    let outcomes: Vec<(&str, &str)> = log
        .iter()
        .map(|r| {
            (
                r["command"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("/status main", "answered"),
            ("/config main rollback", "pending"),
            (format!("/confirm {code}").as_str(), "done"),
            (format!("/confirm {code}").as_str(), "rejected"),
            ("/restart main", "pending"),
            (outcomes[5].0, "done"),
            ("/restart main", "refused"),
        ]
    );
    assert_eq!(log[6]["requester"], format!("telegram:{STRANGER}"));
    assert_eq!(log[0]["target"], main.state_dir.display().to_string());
}

/// The rescue gateway runs with main's service environment exported
/// (OPENCLAW_PROFILE, OPENCLAW_STATE_DIR, OPENCLAW_CONFIG_PATH,
/// OPENCLAW_GATEWAY_PORT of main, and a secret of its own): every command
/// still acts on exactly the instance it names, and a gateway it starts
/// has that instance's selectors only.
#[test]
fn with_mains_service_environment_exported_every_command_acts_on_the_instance_it_names() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let _g = rt.enter();
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let work = Inst::new(&h, "work");
    let rescue = Inst::new(&h, "rescue");
    let _reaper = Reaper(vec![main.state_dir.clone(), work.state_dir.clone()]);
    fx.add_bot(RESCUE_TOKEN, 200, "rescue_bot");
    rescue.telegram(&fx.api_root, RESCUE_TOKEN);
    rescue.rescue_role();
    let main_port = main.port.to_string();
    let main_state = main.state_dir.display().to_string();
    let main_config = main.config.display().to_string();
    let _rescue_gw = rescue.gateway(
        &h,
        &[
            ("OPENCLAW_PROFILE", "main"),
            ("OPENCLAW_STATE_DIR", &main_state),
            ("OPENCLAW_CONFIG_PATH", &main_config),
            ("OPENCLAW_GATEWAY_PORT", &main_port),
            ("OPENCLAW_SERVICE_MARKER", "openclaw"),
            ("OPENAI_API_KEY", "sk-rescue-only-secret"),
        ],
    );
    // The rescue gateway itself is rescue, on its own port.
    let own = rescue.owner_record().expect("rescue runs");
    assert_eq!(own["port"], rescue.port);
    wait("rescue's channel", || rescue.channel_running(&h));

    let status = dm(&fx, OWNER, "/status work");
    assert!(status.contains("profile work is DOWN"), "{status}");
    assert!(
        status.contains(&work.state_dir.display().to_string()),
        "{status}"
    );
    assert!(!status.contains(&main_state), "{status}");

    // A config change lands in work's file only.
    let asked = dm(&fx, OWNER, "/config work set logging.level \"debug\"");
    assert!(
        asked.contains(&work.config.display().to_string()),
        "{asked}"
    );
    let done = dm(&fx, OWNER, &format!("/confirm {}", code_in(&asked)));
    assert!(done.starts_with("done"), "{done}");
    let level = |i: &Inst| -> Value {
        serde_json::from_slice::<Value>(&std::fs::read(&i.config).unwrap()).unwrap()["logging"]
            ["level"]
            .clone()
    };
    assert_eq!(level(&work), "debug");
    assert_eq!(level(&main), Value::Null);

    // Start work, then restart main: each on its own port and state dir,
    // with an environment that holds only its own selectors.
    for (inst, word) in [(&work, "start"), (&main, "restart")] {
        let asked = dm(&fx, OWNER, &format!("/{word} {}", inst.profile));
        let done = dm(&fx, OWNER, &format!("/confirm {}", code_in(&asked)));
        assert!(done.contains(&format!("{} is up", inst.profile)), "{done}");
        let rec = inst.owner_record().expect("it runs");
        assert_eq!(rec["port"], inst.port, "{rec}");
        assert_eq!(rec["stateDir"], inst.state_dir.display().to_string());
        assert_eq!(rec["profile"], inst.profile.as_str());
        let env = environ(rec["pid"].as_i64().unwrap());
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // On its profile's default paths: the profile alone selects it.
        assert_eq!(get("OPENCLAW_PROFILE"), Some(inst.profile.as_str()));
        assert_eq!(get("OPENCLAW_STATE_DIR"), None, "{env:?}");
        assert_eq!(get("OPENCLAW_CONFIG_PATH"), None, "{env:?}");
        assert_eq!(get("OPENCLAW_GATEWAY_PORT"), None, "{env:?}");
        assert_eq!(get("OPENCLAW_SERVICE_MARKER"), None, "{env:?}");
        assert_eq!(get("OPENAI_API_KEY"), None, "{env:?}");
        expect_success("health", &inst.cli(&h, &["health"]));
    }
    // /status of a running target: its listeners and health come over a
    // connection checked to be main's own gateway (not the rescue's, whose
    // environment names main), and a config change it has not applied is
    // shown as pending.
    let status = dm(&fx, OWNER, "/status main");
    assert!(
        status.contains("health (verified: its own gateway): ok"),
        "{status}"
    );
    assert!(
        status.contains(&format!("listening: gateway 127.0.0.1:{}", main.port)),
        "{status}"
    );
    assert!(status.contains("config: every change applied"), "{status}");
    for (path, value) in [
        ("gateway.reload.mode", "\"off\"".to_string()),
        ("canvasHost.port", free_base_port().to_string()),
    ] {
        let asked = dm(&fx, OWNER, &format!("/config main set {path} {value}"));
        let done = dm(&fx, OWNER, &format!("/confirm {}", code_in(&asked)));
        assert!(done.starts_with("done"), "{done}");
    }
    let mut status = String::new();
    for _ in 0..50 {
        status = dm(&fx, OWNER, "/status main");
        if status.contains("pending config change:") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        status.contains("pending config change: config change (canvas host port"),
        "{status}"
    );
    assert!(status.contains("needs a restart"), "{status}");
    // The rescue gateway is untouched, and never its own target.
    assert_eq!(rescue.owner_record().unwrap()["pid"], own["pid"]);
    let me = dm(&fx, OWNER, "/restart rescue");
    assert!(me.contains("never acts on itself"), "{me}");
    let list = dm(&fx, OWNER, "/instances");
    for line in [
        format!(
            "• main — running (pid {}",
            main.owner_record().unwrap()["pid"]
        ),
        format!(
            "• work — running (pid {}",
            work.owner_record().unwrap()["pid"]
        ),
    ] {
        assert!(list.contains(&line), "{line} in {list}");
    }
    assert!(list.contains("this rescue instance"), "{list}");
}

/// With a model, the rescue agent diagnoses the same broken main through
/// its tools and, after the owner's /confirm, repairs and restarts it.
#[test]
fn the_rescue_agent_diagnoses_with_its_tools_and_repairs_after_confirm() {
    let rt = rt();
    let fx = rt.block_on(BotApiFixture::start());
    let script = vec![
        ok_sse(openai_tool(
            "c1",
            "instance_status",
            json!({"profile": "main"}),
        )),
        ok_sse(openai_tool(
            "c2",
            "instance_config_patch",
            json!({"profile": "main", "action": "rollback"}),
        )),
        ok_sse(openai_text(&[
            "main's config has a syntax error. I prepared a rollback to its backup; ",
            "send the /confirm code from the tool to apply it.",
        ])),
        ok_sse(openai_tool(
            "c3",
            "instance_restart",
            json!({"profile": "main"}),
        )),
        ok_sse(openai_text(&["Send the /confirm code to restart main."])),
    ];
    let model = rt.block_on(Fixture::start(script, false));
    let _g = rt.enter();
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let rescue = Inst::new(&h, "rescue");
    let _reaper = Reaper(vec![main.state_dir.clone()]);
    fx.add_bot(RESCUE_TOKEN, 200, "rescue_bot");
    rescue.telegram(&fx.api_root, RESCUE_TOKEN);
    rescue.rescue_role();
    rescue.edit(|v| {
        // The owner may talk to the agent (commands need no pairing).
        v["channels"]["telegram"]["allowFrom"] = json!([OWNER.to_string()]);
        v["models"] = json!({"providers": {"fx": {"baseUrl": model.base_url, "api": "openai-completions", "auth": "none", "models": [{"id": "m"}]}}});
        v["agents"] = json!({"defaults": {"model": {"primary": "fx/m"}}});
    });
    expect_success(
        "config set",
        &main.cli(&h, &["config", "set", "logging.level", "info"]),
    );
    main.break_config();
    let _rescue_gw = rescue.gateway(&h, &[]);
    wait("rescue's channel", || rescue.channel_running(&h));

    let answer = dm(&fx, OWNER, "main is down, can you fix it?");
    assert!(answer.contains("syntax error"), "{answer}");
    let reqs = model.requests();
    assert_eq!(reqs.len(), 3);
    // The model was offered the instance tools, and saw main's error.
    let tools = reqs[0].body["tools"].to_string();
    for t in [
        "instances_list",
        "instance_status",
        "instance_config_patch",
        "instance_restart",
    ] {
        assert!(tools.contains(t), "{t} offered: {tools}");
    }
    let seen = last_tool_output(&reqs[1].body);
    assert!(seen.contains("profile main is DOWN"), "{seen}");
    assert!(
        seen.contains(&format!("{}:3:", main.config.display())),
        "{seen}"
    );
    // The tool only parked the rollback behind a code.
    let parked = last_tool_output(&reqs[2].body);
    assert!(parked.contains("Nothing is done yet"), "{parked}");
    let code = code_in(&parked);
    assert!(!main.cli(&h, &["config", "validate"]).status.success());
    let done = dm(&fx, OWNER, &format!("/confirm {code}"));
    assert!(done.contains("it validates"), "{done}");
    expect_success("config validate", &main.cli(&h, &["config", "validate"]));

    let answer = dm(&fx, OWNER, "thanks, now restart it");
    assert!(answer.contains("/confirm"), "{answer}");
    let reqs = model.requests();
    let code = code_in(&last_tool_output(&reqs[4].body));
    assert!(
        main.owner_record().is_none(),
        "not restarted before /confirm"
    );
    let done = dm(&fx, OWNER, &format!("/confirm {code}"));
    assert!(done.contains("main is up"), "{done}");
    expect_success("main health", &main.cli(&h, &["health"]));
    let vias: Vec<String> = audit(&rescue)
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["via"].as_str().unwrap(),
                r["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        vias,
        [
            "tool answered",
            "tool pending",
            "command done",
            "tool pending",
            "command done"
        ]
    );
}

/// WebChat counts as a channel: on the rescue gateway, a `chat.send` whose
/// text is a command is answered by the command engine as chat events,
/// without a model; the connection is the owner only with `operator.admin`.
#[test]
fn webchat_commands_are_answered_without_a_model_for_admin_operators() {
    let rt = rt();
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let rescue = Inst::new(&h, "rescue");
    rescue.rescue_role();
    main.break_config();
    let _rescue_gw = rescue.gateway(&h, &[]);
    let token = crate::harness::token(&rescue.config);
    let url = format!("ws://127.0.0.1:{}", rescue.port);
    rt.block_on(async {
        let ask = |scopes: &'static [&'static str], message: &'static str| {
            let (url, token) = (url.clone(), token.clone());
            async move {
                let mut c = openclaw_client::connect(&url, Some(&token), scopes)
                    .await
                    .unwrap();
                let r = c
                    .call(
                        "chat.send",
                        json!({"sessionKey": "ops", "message": message}),
                    )
                    .await
                    .unwrap();
                let run = r["runId"].as_str().unwrap().to_string();
                loop {
                    let ev = tokio::time::timeout(GUARD, c.next_event())
                        .await
                        .expect("events in time")
                        .expect("open");
                    if ev.event == "chat" && ev.payload["runId"] == run.as_str() {
                        assert_eq!(ev.payload["state"], "final");
                        return ev.payload["message"]["text"].as_str().unwrap().to_string();
                    }
                }
            }
        };
        let admin = &["operator.read", "operator.write", "operator.admin"];
        let status = ask(admin, "/status main").await;
        assert!(status.contains("profile main is DOWN"), "{status}");
        assert!(
            status.contains(&format!("{}:3:", main.config.display())),
            "{status}"
        );
        let refused = ask(
            &["operator.read", "operator.write"],
            "/config main rollback",
        )
        .await;
        assert!(refused.contains("only the owner"), "{refused}");
        let asked = ask(admin, "/config main rollback").await;
        assert!(asked.contains("no kept backup"), "{asked}");
    });
    let log = audit(&rescue);
    assert_eq!(log[0]["requester"], "webchat:ops");
    assert_eq!(log[1]["outcome"], "refused");
    assert_eq!(log[2]["outcome"], "invalid");
    // The CLI: `openclaw agent` asks for operator.admin for a command and
    // prints the reply, which comes as a final message only (no deltas).
    let out = rescue.cli(
        &h,
        &["agent", "--session", "ops", "--message", "/status main"],
    );
    let (stdout, _) = expect_success("agent /status main", &out);
    assert!(stdout.contains("profile main is DOWN"), "{stdout}");
    assert!(
        stdout.contains(&format!("{}:3:", main.config.display())),
        "{stdout}"
    );
    assert_eq!(audit(&rescue)[3]["outcome"], "answered");
    // The exchanges are in the session's transcript (chat.history).
    let hist = h.json(&[
        "--profile",
        "rescue",
        "gateway",
        "call",
        "chat.history",
        "--params",
        r#"{"sessionKey": "ops"}"#,
        "--json",
    ]);
    let texts: Vec<String> = hist["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{hist}"))
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    assert!(texts.iter().any(|t| t == "/status main"), "{hist}");
    assert!(
        texts.iter().any(|t| t.contains("profile main is DOWN")),
        "{hist}"
    );
}

/// The rescue agent's tools act for whoever the turn runs for, not for
/// whatever its session key looks like: a WebChat connection without
/// `operator.admin` (refused `/config main get`) gets the same refusal
/// when its model calls `instance_config_get`, also in a session named
/// like the owner's Telegram DM; an admin connection gets main's config.
#[test]
fn the_rescue_tools_refuse_a_webchat_connection_without_admin() {
    let rt = rt();
    let call = || {
        ok_sse(openai_tool(
            "c1",
            "instance_config_get",
            json!({"profile": "main", "path": "gateway.port"}),
        ))
    };
    let script = vec![
        call(),
        ok_sse(openai_text(&["ok"])),
        call(),
        ok_sse(openai_text(&["ok"])),
        call(),
        ok_sse(openai_text(&["ok"])),
    ];
    let model = rt.block_on(Fixture::start(script, false));
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let rescue = Inst::new(&h, "rescue");
    rescue.rescue_role();
    rescue.edit(|v| {
        v["models"] = json!({"providers": {"fx": {"baseUrl": model.base_url, "api": "openai-completions", "auth": "none", "models": [{"id": "m"}]}}});
        v["agents"] = json!({"defaults": {"model": {"primary": "fx/m"}}});
    });
    let _rescue_gw = rescue.gateway(&h, &[]);
    let token = crate::harness::token(&rescue.config);
    let url = format!("ws://127.0.0.1:{}", rescue.port);
    let rw: &[&str] = &["operator.read", "operator.write"];
    let admin: &[&str] = &["operator.read", "operator.write", "operator.admin"];
    rt.block_on(async {
        for (scopes, session) in [
            (rw, "ops"),
            (rw, &*format!("telegram:dm:{OWNER}")),
            (admin, "ops"),
        ] {
            let mut c = openclaw_client::connect(&url, Some(&token), scopes)
                .await
                .unwrap();
            let r = c
                .call(
                    "chat.send",
                    json!({"sessionKey": session, "message": "what is main's port?"}),
                )
                .await
                .unwrap();
            let run = r["runId"].as_str().unwrap().to_string();
            loop {
                let ev = tokio::time::timeout(GUARD, c.next_event())
                    .await
                    .expect("events in time")
                    .expect("open");
                if ev.event == "chat"
                    && ev.payload["runId"] == run.as_str()
                    && ev.payload["state"] != "delta"
                {
                    assert_eq!(ev.payload["state"], "final", "{}", ev.payload);
                    break;
                }
            }
        }
    });
    let reqs = model.requests();
    assert_eq!(reqs.len(), 6);
    for i in [1, 3] {
        let out = last_tool_output(&reqs[i].body);
        assert!(out.contains("only the owner"), "{i}: {out}");
        assert!(!out.contains(&main.port.to_string()), "{i}: {out}");
    }
    let out = last_tool_output(&reqs[5].body);
    assert_eq!(out, format!("gateway.port = {}", main.port));
    let log = audit(&rescue);
    assert_eq!(log[0]["outcome"], "refused", "{log:?}");
    assert_eq!(log[0]["owner"], false);
    assert_eq!(log[1]["outcome"], "refused", "{log:?}");
    assert_eq!(log[2]["outcome"], "answered", "{log:?}");
}
