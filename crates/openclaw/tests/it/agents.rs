//! Issue 7 acceptance: agents, sessions and WebChat through a real gateway
//! (child process on free loopback ports) against fixture model servers
//! that speak the real Chat Completions / Anthropic Messages SSE formats
//! (`openclaw_agent::testing`), driven by the real CLI, a protocol client,
//! and headless Chromium.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openclaw_agent::testing::{
    End, Fixture, Reply, anthropic_text, anthropic_tool, ok_sse, openai_slow_text, openai_text,
    openai_tool, status,
};
use serde_json::{Value, json};

use crate::harness::{
    GatewayChild, TestHome, chromium_path, expect_success, free_base_port, free_port, setup, text,
    token,
};

const GUARD: Duration = Duration::from_secs(60);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One configured instance (profile) in a test home.
struct Inst {
    profile: String,
    port: u16,
    state_dir: PathBuf,
    config: PathBuf,
    workspace: PathBuf,
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
            workspace: PathBuf::from(st["workspace"].as_str().unwrap()),
        }
    }

    /// Edits the config file (plain JSON as written by setup).
    fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut v: Value = serde_json::from_slice(&std::fs::read(&self.config).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&self.config, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    /// Provider `id` at `base_url` as the default model `id/model`.
    fn use_provider(&self, id: &str, api: &str, base_url: &str, model: &str, key: Value) {
        self.edit(|v| {
            let mut p = json!({"baseUrl": base_url, "api": api, "models": [{"id": model}]});
            if let (Some(o), Some(k)) = (p.as_object_mut(), key.as_object()) {
                o.extend(k.clone());
            }
            v["models"] = json!({"providers": {id: p}});
            v["agents"]["defaults"]["model"] = json!({"primary": format!("{id}/{model}")});
        });
    }

    fn gateway(&self, h: &TestHome, env: &[(&str, &str)]) -> GatewayChild {
        GatewayChild::start(h, &["--profile", &self.profile, "gateway"], env, self.port)
    }

    fn agent(&self, h: &TestHome, args: &[&str]) -> std::process::Output {
        let mut a = vec!["--profile", self.profile.as_str(), "agent"];
        a.extend_from_slice(args);
        h.run(&a)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("logs/gateway.log")).unwrap_or_default()
    }

    fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + GUARD;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "gateway log never said {needle:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Raw transcript lines of session `key` of agent `agent`.
    fn transcript(&self, agent: &str, key: &str) -> Vec<Value> {
        let dir = self.state_dir.join("agents").join(agent).join("sessions");
        let idx: Value =
            serde_json::from_slice(&std::fs::read(dir.join("sessions.json")).unwrap()).unwrap();
        let sid = idx["sessions"][key]["sessionId"].as_str().unwrap();
        std::fs::read_to_string(dir.join(format!("{sid}.jsonl")))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every transcript line is JSON"))
            .collect()
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
}

fn types(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["type"].as_str().unwrap()).collect()
}

fn ok_out(out: &std::process::Output) -> (String, String) {
    expect_success("openclaw", out)
}

/// Collects the events of one run until its chat event with a final state.
async fn collect_run(client: &mut openclaw_client::Client, run_id: &str) -> Vec<(String, Value)> {
    let mut evs = Vec::new();
    loop {
        let ev = tokio::time::timeout(GUARD, client.next_event())
            .await
            .expect("run events hung")
            .expect("connection closed during the run");
        if ev.payload["runId"] != run_id {
            continue;
        }
        let done = ev.event == "chat" && ev.payload["state"] != "delta";
        evs.push((ev.event.clone(), ev.payload.clone()));
        if done {
            return evs;
        }
    }
}

#[test]
fn openai_tool_call_through_gateway_and_cli() {
    let h = TestHome::new();
    let a = Inst::new(&h, "oa");
    let rt = rt();
    let fx = rt.block_on(Fixture::start(
        vec![
            ok_sse(openai_tool(
                "call_1",
                "write",
                json!({"path": "notes/hello.txt", "content": "written by the agent"}),
            )),
            ok_sse(openai_text(&["The note ", "is written", "."])),
            ok_sse(openai_text(&["Second ", "turn."])),
        ],
        false,
    ));
    a.use_provider(
        "oai",
        "openai-completions",
        &fx.base_url,
        "gpt-test",
        json!({"apiKeyEnv": "OAI_TEST_KEY"}),
    );
    let _gw = a.gateway(&h, &[("OAI_TEST_KEY", "sk-oa-123")]);

    let out = a.agent(&h, &["--message", "write a note"]);
    let (stdout, stderr) = ok_out(&out);
    assert_eq!(stdout, "The note is written.\n");
    assert!(stderr.contains("[tool] write"), "{stderr}");
    assert!(stderr.contains("[tool] write ok"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(a.workspace.join("notes/hello.txt")).unwrap(),
        "written by the agent"
    );

    // A second turn on the same session sees the first.
    let (stdout, _) = ok_out(&a.agent(&h, &["--message", "and again?"]));
    assert_eq!(stdout, "Second turn.\n");
    let reqs = fx.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-oa-123"));
    assert_eq!(reqs[0].body["model"], "gpt-test");
    let users: Vec<&str> = reqs[2].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["write a note", "and again?"]);

    // The transcript holds both turns.
    let lines = a.transcript("main", "main");
    assert_eq!(
        types(&lines),
        [
            "session",
            "user",
            "assistant",
            "tool_result",
            "assistant",
            "user",
            "assistant"
        ]
    );
    assert_eq!(lines[2]["toolCalls"][0]["name"], "write");
    assert_eq!(lines[3]["ok"], true);
    assert_eq!(lines[4]["text"], "The note is written.");
    assert_eq!(lines[6]["text"], "Second turn.");
    assert!(
        a.state_dir
            .join("agents/main/sessions/sessions.json")
            .is_file()
    );

    // The dashboard link carries the instance's port and token.
    let tok = token(&a.config);
    let link = h.ok(&["--profile", "oa", "dashboard", "--no-open"]);
    assert!(
        tok.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(link, format!("http://127.0.0.1:{}/#token={tok}\n", a.port));
    // models list/status read the config and never print a key.
    let ml = h.ok(&["--profile", "oa", "models", "list"]);
    assert!(
        ml.contains("oai/gpt-test") && ml.contains("gpt-test"),
        "{ml}"
    );
    let ms = h.run(&["--profile", "oa", "models", "status"]);
    let ms_out = text(&ms.stdout);
    // The key is in the gateway's environment, not this shell's.
    assert!(
        ms_out.contains("env OAI_TEST_KEY") && ms_out.contains("MISSING"),
        "{ms_out}"
    );
    assert_eq!(ms.status.code(), Some(1));
    let ms = h.run_env(
        &["--profile", "oa", "models", "status"],
        &[("OAI_TEST_KEY", "sk-oa-123")],
    );
    let ms_out = text(&ms.stdout);
    assert!(
        ms_out.contains("present") && !ms_out.contains("sk-oa-123"),
        "{ms_out}"
    );
    assert!(ms.status.success());

    // sessions list and --json output.
    let v = h.json(&["--profile", "oa", "sessions", "list", "--json"]);
    assert_eq!(v["sessions"][0]["key"], "agent:main:main");
    assert_eq!(v["sessions"][0]["messageCount"], 6);
    fx.push(ok_sse(openai_text(&["json ", "mode"])));
    let v = h.json(&[
        "--profile",
        "oa",
        "agent",
        "--session",
        "other",
        "--message",
        "hi",
        "--json",
    ]);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["text"], "json mode");
    assert_eq!(v["sessionKey"], "other");
}

#[test]
fn anthropic_via_onboard_streams_events_to_a_protocol_client() {
    let h = TestHome::new();
    let port = free_base_port();
    let rt = rt();
    let fx = rt.block_on(Fixture::start(
        vec![
            ok_sse(anthropic_tool(
                "toolu_1",
                "write",
                json!({"path": "out.txt", "content": "anthropic was here"}),
            )),
            ok_sse(anthropic_text(&["All ", "done ", "now."])),
        ],
        true,
    ));
    // Onboarding checks the model against the server's listing first.
    fx.set_models(&["claude-test"]);
    // onboard writes the provider, the default model and the key file.
    let out = h.run(&[
        "--profile",
        "an",
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--skip-daemon",
        "--skip-health",
        "--port",
        &port.to_string(),
        "--auth-choice",
        "custom",
        "--custom-base-url",
        &fx.base_url,
        "--custom-api",
        "anthropic-messages",
        "--custom-model",
        "claude-test",
        "--custom-api-key",
        "ant-secret-1",
    ]);
    let (_, stderr) = ok_out(&out);
    assert!(stderr.contains("custom/claude-test"), "{stderr}");
    let a = Inst {
        profile: "an".into(),
        port,
        state_dir: h.join(".openclaw-an"),
        config: h.join(".openclaw-an/openclaw.json"),
        workspace: PathBuf::from(
            h.json(&["--profile", "an", "status", "--json"])["workspace"]
                .as_str()
                .unwrap(),
        ),
    };
    let key_file = a.state_dir.join("credentials/custom.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cfg = std::fs::read_to_string(&a.config).unwrap();
    assert!(
        !cfg.contains("ant-secret-1"),
        "the key is not in the config"
    );
    let st = h.json(&["--profile", "an", "models", "status", "--json"]);
    assert_eq!(st["providers"][0]["keyPresent"], true);
    assert!(
        st["providers"][0]["keySource"]
            .as_str()
            .unwrap()
            .ends_with("credentials/custom.key")
    );
    assert!(!st.to_string().contains("ant-secret-1"));
    assert_eq!(st["default"]["primary"], "custom/claude-test");

    let _gw = a.gateway(&h, &[]);
    let tok = token(&a.config);
    rt.block_on(async {
        let mut c = openclaw_client::connect(
            &a.ws_url(),
            Some(&tok),
            &["operator.read", "operator.write"],
        )
        .await
        .unwrap();
        let models = c.call("models.list", json!({})).await.unwrap();
        assert_eq!(models["agents"][0]["model"], "custom/claude-test");
        assert!(!models.to_string().contains("ant-secret-1"));
        let r = c
            .call(
                "chat.send",
                json!({"sessionKey": "s1", "message": "write it"}),
            )
            .await
            .unwrap();
        assert_eq!(r["status"], "started");
        let run = r["runId"].as_str().unwrap().to_string();
        let evs = collect_run(&mut c, &run).await;
        let deltas: Vec<&Value> = evs
            .iter()
            .filter(|(e, p)| e == "chat" && p["state"] == "delta")
            .map(|(_, p)| p)
            .collect();
        assert!(deltas.len() >= 3, "the answer streams in pieces: {evs:#?}");
        let (_, last) = evs.last().unwrap();
        assert_eq!(last["state"], "final");
        assert_eq!(last["message"]["text"], "Working on it. All done now.");
        assert_eq!(last["sessionKey"], "agent:main:s1");
        let seqs: Vec<u64> = evs
            .iter()
            .map(|(_, p)| p["seq"].as_u64().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        let tool: Vec<&Value> = evs
            .iter()
            .filter(|(e, p)| e == "agent" && p["stream"] == "tool")
            .map(|(_, p)| &p["data"])
            .collect();
        assert_eq!(tool[0]["phase"], "call");
        assert_eq!(tool[0]["name"], "write");
        assert_eq!(tool[1]["phase"], "result");
        assert_eq!(tool[1]["ok"], true);
        let w = c
            .call("agent.wait", json!({"runId": run, "timeoutMs": 10000}))
            .await
            .unwrap();
        assert_eq!(w["status"], "ok");
        assert_eq!(w["text"], "Working on it. All done now.");
        let hist = c
            .call("chat.history", json!({"sessionKey": "s1"}))
            .await
            .unwrap();
        let kinds: Vec<&str> = hist["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["user", "assistant", "tool_result", "assistant"]);
        // Read scope cannot start runs.
        let ro = openclaw_client::connect(&a.ws_url(), Some(&tok), &["operator.read"])
            .await
            .unwrap();
        let e = ro
            .call("chat.send", json!({"message": "x"}))
            .await
            .unwrap_err();
        assert_eq!(e.code, "FORBIDDEN");
    });
    assert_eq!(
        std::fs::read_to_string(a.workspace.join("out.txt")).unwrap(),
        "anthropic was here"
    );
    let reqs = fx.requests();
    // Onboarding's check: one model listing with the key, then the turns.
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/v1/models?limit=1000")
    );
    assert_eq!(reqs[1].path, "/v1/messages");
    assert_eq!(reqs[1].header("x-api-key"), Some("ant-secret-1"));
}

#[test]
fn path_escapes_refused_and_logged_exec_only_when_enabled() {
    let h = TestHome::new();
    let a = Inst::new(&h, "esc");
    let rt = rt();
    let fx = rt.block_on(Fixture::start(
        vec![
            ok_sse(openai_tool(
                "c1",
                "write",
                json!({"path": "../escaped.txt", "content": "x"}),
            )),
            ok_sse(openai_tool("c2", "read", json!({"path": "/etc/passwd"}))),
            ok_sse(openai_tool(
                "c3",
                "exec",
                json!({"command": "touch pwned.txt"}),
            )),
            ok_sse(openai_text(&["Refused, as expected."])),
        ],
        false,
    ));
    a.use_provider(
        "oai",
        "openai-completions",
        &fx.base_url,
        "m",
        json!({"apiKey": "sk-in-config"}),
    );
    // Gateway down: exit 3 and the command that starts it.
    let down = a.agent(&h, &["--message", "anyone?"]);
    assert_eq!(down.status.code(), Some(3), "{}", text(&down.stderr));
    assert!(
        text(&down.stderr).contains("openclaw --profile esc gateway"),
        "{}",
        text(&down.stderr)
    );
    let _gw = a.gateway(&h, &[]);
    let (stdout, stderr) = ok_out(&a.agent(&h, &["--message", "try to escape"]));
    assert_eq!(stdout, "Refused, as expected.\n");
    assert_eq!(stderr.matches("refused/failed").count(), 3, "{stderr}");
    assert!(!a.workspace.join("../escaped.txt").exists());
    assert!(!a.workspace.join("pwned.txt").exists());
    let log = a.log();
    assert!(log.contains("tool write refused/failed"), "{log}");
    assert!(log.contains("tool read refused/failed"), "{log}");
    assert!(log.contains("tool exec refused/failed"), "{log}");
    assert!(log.contains("tools.exec.enabled"), "{log}");
    assert!(!log.contains("sk-in-config"), "no key in the log");
    // The model saw the refusals as tool errors.
    let reqs = fx.requests();
    let m = reqs[1].body["messages"].as_array().unwrap();
    let t = m.iter().rev().find(|m| m["role"] == "tool").unwrap();
    assert!(t["content"].as_str().unwrap().len() > 5);

    // Enabling exec in the config (hot reload) lets the next turn run it.
    h.ok(&[
        "--profile",
        "esc",
        "config",
        "set",
        "tools.exec.enabled",
        "true",
    ]);
    a.wait_log("agents rebuilt");
    fx.push(ok_sse(openai_tool(
        "c4",
        "exec",
        json!({"command": "echo ran > made-by-exec.txt"}),
    )));
    fx.push(ok_sse(openai_text(&["Ran it."])));
    let (stdout, stderr) = ok_out(&a.agent(&h, &["--message", "now run it"]));
    assert_eq!(stdout, "Ran it.\n");
    assert!(stderr.contains("[tool] exec ok"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(a.workspace.join("made-by-exec.txt")).unwrap(),
        "ran\n"
    );
}

#[test]
fn provider_failures_are_clear_and_the_session_stays_usable() {
    let h = TestHome::new();
    let a = Inst::new(&h, "err");
    let rt = rt();
    let fx = rt.block_on(Fixture::start(vec![], false));
    a.use_provider(
        "flaky",
        "openai-completions",
        &fx.base_url,
        "m",
        json!({"apiKeyEnv": "FLAKY_KEY"}),
    );
    let _gw = a.gateway(&h, &[("FLAKY_KEY", "sk-wrong")]);
    let err_json = "{\"error\":{\"message\":\"nope\"}}";
    let broken = {
        let mut c = openai_text(&["partial ", "answer"]);
        c.truncate(2);
        Reply::Sse {
            chunks: c,
            end: End::Abrupt,
        }
    };
    let cases: Vec<(&str, Vec<Reply>, &[&str])> = vec![
        (
            "401",
            vec![status(401, &[], err_json)],
            &["provider flaky", "HTTP 401", "env FLAKY_KEY", "(auth)"],
        ),
        (
            "429",
            vec![status(429, &[("retry-after", "120")], err_json)],
            &[
                "provider flaky",
                "HTTP 429",
                "retry after 120s",
                "(rate_limited)",
            ],
        ),
        (
            "500",
            vec![
                status(500, &[], err_json),
                status(500, &[], err_json),
                status(500, &[], err_json),
                status(500, &[], err_json),
            ],
            &["provider flaky", "HTTP 500", "after 4 attempts", "(server)"],
        ),
        (
            "broken stream",
            vec![broken],
            &[
                "provider flaky",
                "broke in the middle",
                "(malformed_stream)",
            ],
        ),
    ];
    for (i, (what, replies, needles)) in cases.into_iter().enumerate() {
        for r in replies {
            fx.push(r);
        }
        let out = a.agent(&h, &["--message", &format!("question {i}")]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{what}: missing {n:?} in {stderr}");
        }
        assert!(!stderr.contains("sk-wrong"), "{what}: key leaked: {stderr}");
        // The same session answers the next turn.
        fx.push(ok_sse(openai_text(&[&format!("answer {i}")])));
        let (stdout, _) = ok_out(&a.agent(&h, &["--message", &format!("retry {i}")]));
        assert_eq!(stdout, format!("answer {i}\n"), "{what}");
    }
    // The transcript holds every failed turn as an error record and every
    // retry as an answer; the model saw all earlier questions.
    let lines = a.transcript("main", "main");
    let errors: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "error")
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        ["auth", "rate_limited", "server", "malformed_stream"]
    );
    let last = fx.requests().pop().unwrap();
    let users = last.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .count();
    assert_eq!(users, 8);
    let log = a.log();
    assert!(
        log.contains("run") && log.contains("failed (auth)"),
        "{log}"
    );
}

#[test]
fn two_instances_run_agents_at_once_without_cross_talk() {
    let h = TestHome::new();
    let main = Inst::new(&h, "main");
    let rescue = Inst::new(&h, "rescue");
    let rt = rt();
    let mk = |who: &str| {
        vec![
            ok_sse(openai_tool(
                "c1",
                "write",
                json!({"path": "who.txt", "content": who}),
            )),
            Reply::SlowSse {
                chunks: openai_text(&[who, " ", "done", " ", "slowly"]),
                delay: Duration::from_millis(60),
                end: End::Clean,
            },
        ]
    };
    let fx_main = rt.block_on(Fixture::start(mk("main"), false));
    let fx_rescue = rt.block_on(Fixture::start(mk("rescue"), false));
    main.use_provider(
        "p",
        "openai-completions",
        &fx_main.base_url,
        "m",
        json!({"apiKeyEnv": "P_KEY"}),
    );
    rescue.use_provider(
        "p",
        "openai-completions",
        &fx_rescue.base_url,
        "m",
        json!({"apiKeyEnv": "P_KEY"}),
    );
    let _g1 = main.gateway(&h, &[("P_KEY", "key-main")]);
    let _g2 = rescue.gateway(&h, &[("P_KEY", "key-rescue")]);
    let (o1, o2) = std::thread::scope(|s| {
        let t1 = s.spawn(|| main.agent(&h, &["--message", "who are you"]));
        let t2 = s.spawn(|| rescue.agent(&h, &["--message", "who are you"]));
        (t1.join().unwrap(), t2.join().unwrap())
    });
    assert_eq!(ok_out(&o1).0, "main done slowly\n");
    assert_eq!(ok_out(&o2).0, "rescue done slowly\n");
    assert_eq!(
        std::fs::read_to_string(main.workspace.join("who.txt")).unwrap(),
        "main"
    );
    assert_eq!(
        std::fs::read_to_string(rescue.workspace.join("who.txt")).unwrap(),
        "rescue"
    );
    assert_ne!(main.workspace, rescue.workspace);
    for (fx, key) in [(&fx_main, "key-main"), (&fx_rescue, "key-rescue")] {
        let reqs = fx.requests();
        assert_eq!(reqs.len(), 2);
        for r in reqs {
            assert_eq!(
                r.header("authorization"),
                Some(format!("Bearer {key}").as_str())
            );
        }
    }
    let t1 = main.transcript("main", "main");
    let t2 = rescue.transcript("main", "main");
    assert_eq!(t1.last().unwrap()["text"], "main done slowly");
    assert_eq!(t2.last().unwrap()["text"], "rescue done slowly");
    assert!(!t1.iter().any(|l| l.to_string().contains("rescue")));
    assert!(
        !t2.iter()
            .any(|l| l["text"].as_str() == Some("main done slowly"))
    );
    assert!(main.state_dir != rescue.state_dir);
}

// ---------------------------------------------------------------- WebChat

struct Chromium {
    child: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch_chromium(exe: &Path, url: &str) -> (Chromium, u16) {
    let port = free_port();
    let profile = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(exe);
    c.args([
        "--headless=new",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        &format!("--user-data-dir={}", profile.path().display()),
        &format!("--remote-debugging-port={port}"),
        "--remote-debugging-address=127.0.0.1",
    ]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        c.arg("--no-sandbox");
    }
    c.arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = c.spawn().expect("start chromium");
    (
        Chromium {
            child,
            _profile: profile,
        },
        port,
    )
}

/// Evaluates `expr` in the page and returns its value.
async fn eval(page: &openclaw_browser::cdp::CdpConnection, expr: &str) -> Value {
    let r = page
        .call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        )
        .await
        .unwrap();
    assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
    r["result"]["value"].clone()
}

async fn wait_for(page: &openclaw_browser::cdp::CdpConnection, expr: &str) -> Value {
    let deadline = Instant::now() + GUARD;
    // The page may still be loading: a throwing check counts as "not yet".
    let guarded =
        format!("(() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }})()");
    loop {
        let v = eval(page, &guarded).await;
        if !v.is_null() && v != false {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "page never satisfied {expr}; body: {}",
            eval(page, "document.body.innerText").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn webchat_in_headless_chromium_streams_and_aborts() {
    let exe = chromium_path();
    let h = TestHome::new();
    let a = Inst::new(&h, "web");
    let rt = rt();
    let fx = rt.block_on(Fixture::start(
        vec![
            Reply::SlowSse {
                chunks: openai_text(&["Hello ", "from ", "the ", "web ", "agent."]),
                delay: Duration::from_millis(40),
                end: End::Clean,
            },
            openai_slow_text(400, Duration::from_millis(100)),
        ],
        false,
    ));
    a.use_provider(
        "oai",
        "openai-completions",
        &fx.base_url,
        "m",
        json!({"apiKey": "sk-web"}),
    );
    let _gw = a.gateway(&h, &[]);
    let tok = token(&a.config);
    let (_chrome, cdp_port) =
        launch_chromium(&exe, &format!("http://127.0.0.1:{}/#token={tok}", a.port));
    rt.block_on(async {
        let http = openclaw_browser::cdp::CdpHttp::new(&format!("http://127.0.0.1:{cdp_port}"));
        let deadline = Instant::now() + GUARD;
        let target = loop {
            if let Ok(list) = http.list().await
                && let Some(t) = list
                    .into_iter()
                    .find(|t| t.kind == "page" && t.url.contains(&a.port.to_string()))
            {
                break t;
            }
            assert!(Instant::now() < deadline, "chromium never showed the page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let page =
            openclaw_browser::cdp::CdpConnection::connect(&target.web_socket_debugger_url.unwrap())
                .await
                .unwrap();

        // Authenticated with the token from the link, which left the URL.
        wait_for(&page, "document.getElementById('conn-status').textContent === 'connected'").await;
        let href = eval(&page, "location.href").await;
        assert!(!href.as_str().unwrap().contains("token"), "{href}");
        let stored = eval(&page, "Object.keys(localStorage).length").await;
        assert_eq!(stored, 1);
        // Instance facts from hello-ok / status; no secrets on the page.
        let info = wait_for(&page, "document.getElementById('instance').innerText.includes('Ports') && document.getElementById('instance').innerText").await;
        let info = info.as_str().unwrap();
        assert!(info.contains("web"), "{info}");
        assert!(info.contains(&a.state_dir.display().to_string()), "{info}");
        assert!(info.contains(&a.port.to_string()), "{info}");
        let html = eval(&page, "document.documentElement.outerHTML").await;
        assert!(!html.as_str().unwrap().contains(&tok), "token rendered");
        assert!(!html.as_str().unwrap().contains("sk-web"), "key rendered");

        // Send through the UI; the answer streams into the DOM.
        eval(
            &page,
            "document.getElementById('msg').value = 'hi from the browser'; document.getElementById('send').click(); true",
        )
        .await;
        let t = wait_for(
            &page,
            "(() => { const b = document.querySelector('.msg.assistant[data-state=\"final\"]'); return b && b.querySelector('.text').textContent; })()",
        )
        .await;
        assert_eq!(t, "Hello from the web agent.");
        let user = eval(&page, "document.querySelector('.msg.user').textContent").await;
        assert_eq!(user, "hi from the browser");

        // A long, slow answer: abort it with the button.
        eval(
            &page,
            "document.getElementById('msg').value = 'tell me a long story'; document.getElementById('send').click(); true",
        )
        .await;
        wait_for(
            &page,
            "(() => { const b = document.querySelector('.msg.assistant[data-state=\"streaming\"]'); return !!b && b.textContent.includes('word3') && !document.getElementById('abort').disabled; })()",
        )
        .await;
        eval(&page, "document.getElementById('abort').click(); true").await;
        let tag = wait_for(
            &page,
            "(() => { const b = document.querySelector('.msg.assistant[data-state=\"aborted\"]'); return b && b.querySelector('.tag').textContent; })()",
        )
        .await;
        assert_eq!(tag, "aborted");
        let partial = eval(
            &page,
            "document.querySelector('.msg.assistant[data-state=\"aborted\"] .text').textContent",
        )
        .await;
        assert!(!partial.as_str().unwrap().contains("word399"), "{partial}");
        // The session list shows the session.
        wait_for(&page, "document.querySelector('#sessions li.current') && document.querySelector('#sessions li.current').dataset.key === 'main'").await;
    });
    let lines = a.transcript("main", "main");
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "assistant");
    assert_eq!(last["aborted"], true, "{last}");
    assert!(last["text"].as_str().unwrap().starts_with("word0 "));
    assert_eq!(lines[1]["text"], "hi from the browser");
}

#[test]
fn the_browser_tool_drives_this_instances_browser_control() {
    // Fails here, naming what to install, when there is no Chromium.
    chromium_path();
    let h = TestHome::new();
    let a = Inst::new(&h, "brw");
    let rt = rt();
    let page = format!("http://127.0.0.1:{}/readyz", a.port);
    let fx = rt.block_on(Fixture::start(
        vec![
            ok_sse(openai_tool(
                "b1",
                "browser",
                json!({"action": "open", "url": page}),
            )),
            ok_sse(openai_tool("b2", "browser", json!({"action": "snapshot"}))),
            ok_sse(openai_text(&["Seen."])),
        ],
        false,
    ));
    a.use_provider(
        "oai",
        "openai-completions",
        &fx.base_url,
        "m",
        json!({"apiKey": "sk-b"}),
    );
    let _gw = a.gateway(&h, &[]);
    let out = h.run(&["--profile", "brw", "agent", "--message", "look", "--json"]);
    // Stop the browser the gateway launched before anything can fail.
    let stop = h.run(&["--profile", "brw", "browser", "stop"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let (stdout, _) = ok_out(&out);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["status"], "ok", "{v:#}");
    let tools = v["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2, "{v:#}");
    assert_eq!(tools[0]["ok"], true, "{v:#}");
    assert_eq!(tools[1]["ok"], true, "{v:#}");
    // The snapshot is of the page the agent opened: this gateway's /readyz.
    let snap = tools[1]["output"].as_str().unwrap();
    assert!(
        snap.contains("readyz") && snap.contains("stateDir"),
        "{snap}"
    );
    let _ = h.run(&["--profile", "brw", "browser", "stop"]);
}

/// Issue 10: `logging.level: "debug"` makes a gateway write the library
/// crates' debug events (here openclaw-agent's "model stream opened") to
/// `<stateDir>/logs/gateway.log`; at the default level they stay out.
/// Secrets in the config (the provider key) never reach the file.
#[test]
fn logging_level_debug_writes_library_debug_lines_and_the_default_does_not() {
    let h = TestHome::new();
    let rt = rt();
    let fx = rt.block_on(Fixture::start(
        vec![
            ok_sse(openai_text(&["debug run."])),
            ok_sse(openai_text(&["default run."])),
        ],
        false,
    ));
    let key = "sk-config-key-never-logged-42";
    let dbg = Inst::new(&h, "dbg");
    let dflt = Inst::new(&h, "dflt");
    for a in [&dbg, &dflt] {
        a.use_provider(
            "oai",
            "openai-completions",
            &fx.base_url,
            "m",
            json!({"apiKey": key}),
        );
    }
    dbg.edit(|v| v["logging"] = json!({"level": "debug"}));

    for (a, answer) in [(&dbg, "debug run.\n"), (&dflt, "default run.\n")] {
        let mut gw = a.gateway(&h, &[]);
        let (stdout, _) = ok_out(&a.agent(&h, &["--message", "hi"]));
        assert_eq!(stdout, answer);
        gw.term();
    }
    let (dbg_log, dflt_log) = (dbg.log(), dflt.log());
    let stream_opened = "[openclaw_agent] debug: model stream opened";
    assert!(dbg_log.contains(stream_opened), "{dbg_log}");
    assert!(
        dbg_log.contains("provider=\"oai\"") || dbg_log.contains("provider=oai"),
        "{dbg_log}"
    );
    assert!(!dflt_log.contains(" debug: "), "{dflt_log}");
    for log in [&dbg_log, &dflt_log] {
        assert!(log.contains("[gateway] info: ready: listening"), "{log}");
        assert!(!log.contains(key), "{log}");
    }
    assert!(!dbg_log.contains(&token(&dbg.config)));
}

/// SIGTERM while a turn streams: a short turn finishes within the drain
/// deadline; a long one is cut off and its transcript says so.
#[test]
fn sigterm_drains_short_turns_and_records_long_ones_as_interrupted() {
    let h = TestHome::new();
    let a = Inst::new(&h, "main");
    let rt = rt();
    for (pieces, interrupted) in [(10usize, false), (400, true)] {
        let fx = rt.block_on(Fixture::start(
            vec![openai_slow_text(pieces, Duration::from_millis(100))],
            false,
        ));
        a.use_provider(
            "p",
            "openai-completions",
            &fx.base_url,
            "m",
            json!({"apiKeyEnv": "P_KEY"}),
        );
        let mut g = a.gateway(&h, &[("P_KEY", "k")]);
        let session = if interrupted { "long" } else { "short" };
        std::thread::scope(|s| {
            let client = s.spawn(|| a.agent(&h, &["--session", session, "--message", "go"]));
            // The turn is streaming once the model has been asked.
            let deadline = Instant::now() + GUARD;
            while fx.requests().is_empty() {
                assert!(Instant::now() < deadline, "the model was never called");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(300));
            assert!(g.term().success(), "a drained shutdown exits cleanly");
            let _ = client.join().unwrap();
        });
        let lines = a.transcript("main", session);
        let last = lines.last().unwrap();
        if interrupted {
            assert_eq!(last["type"], "error", "{lines:#?}");
            assert_eq!(last["kind"], "interrupted", "{lines:#?}");
            let answer = &lines[lines.len() - 2];
            assert_eq!(answer["type"], "assistant");
            assert_eq!(answer["aborted"], true, "{answer}");
            assert!(a.log().contains("interrupting 1 turn(s)"), "{}", a.log());
        } else {
            assert_eq!(last["type"], "assistant", "{lines:#?}");
            assert!(last.get("aborted").is_none(), "{last}");
            assert!(
                !lines.iter().any(|l| l["kind"] == "interrupted"),
                "{lines:#?}"
            );
        }
    }
}

async fn send_main(c: &openclaw_client::Client, msg: &str) -> Value {
    c.call(
        "chat.send",
        json!({"sessionKey": "agent:main:main", "message": msg}),
    )
    .await
    .unwrap()
}

/// Stop names one run: `chat.abort {sessionKey, runId}` (what the Control
/// UI's Stop sends) cancels that run only. A follow-up sent while the first
/// answer streams keeps its turn and is answered; a queued run stopped
/// before it starts still has its message in the transcript; a runId of
/// another session is refused.
#[test]
fn stop_cancels_only_the_named_run_and_follow_ups_are_never_lost() {
    let h = TestHome::new();
    let a = Inst::new(&h, "stop");
    let rt = rt();
    let fx = rt.block_on(Fixture::start(
        vec![
            openai_slow_text(400, Duration::from_millis(50)),
            ok_sse(openai_text(&["follow-up ", "answered."])),
            openai_slow_text(400, Duration::from_millis(50)),
        ],
        false,
    ));
    a.use_provider(
        "p",
        "openai-completions",
        &fx.base_url,
        "m",
        json!({"apiKey": "k"}),
    );
    let _gw = a.gateway(&h, &[]);
    let tok = token(&a.config);
    rt.block_on(async {
        let mut c = openclaw_client::connect(
            &a.ws_url(),
            Some(&tok),
            &["operator.read", "operator.write"],
        )
        .await
        .unwrap();
        // A streams; B is sent meanwhile and waits for its turn.
        let ra = send_main(&c, "tell me a long story").await;
        let run_a = ra["runId"].as_str().unwrap().to_string();
        loop {
            let ev = tokio::time::timeout(GUARD, c.next_event())
                .await
                .unwrap()
                .unwrap();
            if ev.event == "chat" && ev.payload["runId"] == run_a.as_str() {
                break;
            }
        }
        let rb = send_main(&c, "and one more thing").await;
        assert_eq!(rb["status"], "started");
        let run_b = rb["runId"].as_str().unwrap().to_string();
        // A runId of another session is refused, and cancels nothing.
        let e = c
            .call(
                "chat.abort",
                json!({"sessionKey": "agent:main:other", "runId": run_a}),
            )
            .await
            .unwrap_err();
        assert!(e.message.contains("does not match sessionKey"), "{e:?}");
        // Stop, as the Control UI sends it: session and run.
        let r = c
            .call(
                "chat.abort",
                json!({"sessionKey": "agent:main:main", "runId": run_a}),
            )
            .await
            .unwrap();
        assert_eq!(r["aborted"], json!([run_a]));
        let evs = collect_run(&mut c, &run_a).await;
        assert_eq!(evs.last().unwrap().1["state"], "aborted");
        // B runs and is answered.
        let evs = collect_run(&mut c, &run_b).await;
        let (_, last) = evs.last().unwrap();
        assert_eq!(last["state"], "final", "{evs:#?}");
        assert_eq!(last["message"]["text"], "follow-up answered.");

        // C streams, D is queued behind it; D is stopped by its own runId
        // before it starts: C goes on, and D's message is recorded.
        let rc = send_main(&c, "another long story").await;
        let run_c = rc["runId"].as_str().unwrap().to_string();
        loop {
            let ev = tokio::time::timeout(GUARD, c.next_event())
                .await
                .unwrap()
                .unwrap();
            if ev.event == "chat" && ev.payload["runId"] == run_c.as_str() {
                break;
            }
        }
        let rd = send_main(&c, "never mind this one").await;
        let run_d = rd["runId"].as_str().unwrap().to_string();
        let r = c
            .call(
                "chat.abort",
                json!({"sessionKey": "agent:main:main", "runId": run_d}),
            )
            .await
            .unwrap();
        assert_eq!(r["aborted"], json!([run_d]));
        // Now C, by session only (no runId): every run of the session.
        let r = c
            .call("chat.abort", json!({"sessionKey": "agent:main:main"}))
            .await
            .unwrap();
        assert_eq!(r["aborted"], json!([run_c]));
        let evs = collect_run(&mut c, &run_d).await;
        assert_eq!(evs.last().unwrap().1["state"], "aborted");
    });
    assert_eq!(fx.requests().len(), 3, "D never reached the model");
    let lines = a.transcript("main", "main");
    let users: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "user")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        [
            "tell me a long story",
            "and one more thing",
            "another long story",
            "never mind this one"
        ]
    );
}
