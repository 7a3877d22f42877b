//! End-to-end turns against fixture servers speaking the real OpenAI Chat
//! Completions and Anthropic Messages SSE wire formats.

mod common;

use common::*;
use openclaw_agent::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_tool_call_then_final_answer() {
    let s = Setup::new();
    std::fs::write(
        s.workspace.join("AGENTS.md"),
        "Always be terse. MARKER-AGENTS",
    )
    .unwrap();
    std::fs::write(s.workspace.join("SOUL.md"), "MARKER-SOUL").unwrap();
    let fx = Fixture::start(
        vec![
            ok_sse(openai_tool(
                "call_w",
                "write",
                json!({"path": "notes/hello.txt", "content": "hello from the tool"}),
            )),
            ok_sse(openai_tool(
                "call_r",
                "read",
                json!({"path": "notes/hello.txt"}),
            )),
            ok_sse(openai_text(&[
                "The file ",
                "says: hello ",
                "from the tool.",
            ])),
            ok_sse(openai_text(&["Second ", "turn."])),
        ],
        false,
    )
    .await;
    let agent = build_agent(
        &s,
        AgentSpec::new("main", &s.workspace, "oai/gpt-test"),
        vec![provider(
            "oai",
            Api::OpenAiCompletions,
            &fx.base_url,
            ApiKeySource::Env("OAI_KEY".into()),
        )],
        env_map(&[("OAI_KEY", "sk-test-123")]),
        test_settings(),
    );

    let (res, evs) = turn(&agent, "main", "write a note and read it back").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    assert_eq!(res.steps, 3);
    assert_eq!(
        std::fs::read_to_string(s.workspace.join("notes/hello.txt")).unwrap(),
        "hello from the tool"
    );
    assert!(matches!(&evs[0], AgentEvent::RunStarted { session_key, .. } if session_key == "main"));
    let tool_calls: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolCall { name, args, .. } => Some((name.clone(), args.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(tool_calls[0].0, "write");
    assert_eq!(tool_calls[0].1["content"], "hello from the tool");
    assert_eq!(tool_calls[1].0, "read");
    let read_result = evs
        .iter()
        .find_map(|e| match e {
            AgentEvent::ToolResult { id, ok, output, .. } if id == "call_r" => {
                Some((*ok, output.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(read_result, (true, "hello from the tool".to_string()));
    let n_deltas = evs
        .iter()
        .filter(|e| matches!(e, AgentEvent::TextDelta { .. }))
        .count();
    assert_eq!(n_deltas, 3, "final text streams as deltas");
    assert_eq!(deltas(&evs), "The file says: hello from the tool.");
    assert_eq!(res.text, "The file says: hello from the tool.");
    assert_eq!(finished(&evs), RunStatus::Ok);

    // What went over the wire.
    let reqs = fx.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(reqs[0].body["model"], "gpt-test");
    assert_eq!(reqs[0].body["stream"], true);
    let sys = reqs[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        sys.contains("MARKER-AGENTS") && sys.contains("MARKER-SOUL"),
        "{sys}"
    );
    assert!(sys.contains(&s.workspace.display().to_string()), "{sys}");
    assert!(sys.contains("profile \"test\""), "{sys}");
    let tools: Vec<&str> = reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        ["read", "write", "edit", "list", "exec"],
        "no browser without a BrowserTool"
    );
    let m2 = reqs[2].body["messages"].as_array().unwrap();
    let tool_msg = m2.iter().rev().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(tool_msg["tool_call_id"], "call_r");
    assert_eq!(tool_msg["content"], "hello from the tool");
    let asst = m2.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(asst["tool_calls"][0]["function"]["name"], "write");

    // Second turn sees the first turn's history.
    let (res2, evs2) = turn(&agent, "main", "and again?").await;
    assert_eq!(res2.status, RunStatus::Ok, "{evs2:#?}");
    assert_eq!(deltas(&evs2), "Second turn.");
    let reqs = fx.requests();
    let m3 = reqs[3].body["messages"].as_array().unwrap();
    let users: Vec<&str> = m3
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["write a note and read it back", "and again?"]);

    // The transcript holds both turns, one JSON object per line.
    let lines = transcript_lines(&agent, "main");
    assert_eq!(
        types(&lines),
        [
            "session",
            "user",
            "assistant",
            "tool_result",
            "assistant",
            "tool_result",
            "assistant",
            "user",
            "assistant"
        ]
    );
    assert_eq!(lines[2]["toolCalls"][0]["name"], "write");
    assert_eq!(lines[2]["model"], "oai/gpt-test");
    assert_eq!(lines[5]["output"], "hello from the tool");
    assert_eq!(lines[6]["text"], "The file says: hello from the tool.");
    assert_eq!(lines[8]["text"], "Second turn.");
    let hist = agent.sessions().history("main", None).unwrap();
    assert_eq!(hist.len(), 8);
    let list = agent.sessions().list().unwrap();
    assert_eq!(list[0].key, "main");
    assert_eq!(list[0].entry.message_count, 8);
    assert_eq!(list[0].entry.preview, "Second turn.");
    assert!(
        s.state_dir()
            .join("agents/main/sessions/sessions.json")
            .is_file()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_tool_use_then_final_answer() {
    let s = Setup::new();
    std::fs::write(s.workspace.join("IDENTITY.md"), "Name: Claw. MARKER-ID").unwrap();
    let fx = Fixture::start(
        vec![
            ok_sse(anthropic_tool(
                "toolu_01",
                "write",
                json!({"path": "out.txt", "content": "anthropic was here"}),
            )),
            ok_sse(anthropic_tool(
                "toolu_02",
                "read",
                json!({"path": "out.txt"}),
            )),
            ok_sse(anthropic_text(&["All ", "done."])),
        ],
        true,
    )
    .await;
    let agent = build_agent(
        &s,
        AgentSpec::new("main", &s.workspace, "ant/claude-test"),
        vec![provider(
            "ant",
            Api::AnthropicMessages,
            &fx.base_url,
            ApiKeySource::Config(Secret::new("ant-key-1")),
        )],
        env_map(&[]),
        test_settings(),
    );
    let (res, evs) = turn(&agent, "chat-1", "go").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    assert_eq!(
        std::fs::read_to_string(s.workspace.join("out.txt")).unwrap(),
        "anthropic was here"
    );
    assert_eq!(deltas(&evs), "Working on it. Working on it. All done.");
    let reqs = fx.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].path, "/v1/messages");
    assert_eq!(reqs[0].header("x-api-key"), Some("ant-key-1"));
    assert_eq!(reqs[0].header("anthropic-version"), Some("2023-06-01"));
    assert!(reqs[0].header("authorization").is_none());
    assert!(
        reqs[0].body["system"]
            .as_str()
            .unwrap()
            .contains("MARKER-ID")
    );
    assert_eq!(reqs[0].body["tools"][0]["name"], "read");
    assert!(reqs[0].body["tools"][0]["input_schema"].is_object());
    // The read result goes back as a tool_result block in a user turn.
    let msgs = reqs[2].body["messages"].as_array().unwrap();
    let last = msgs.last().unwrap();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], "toolu_02");
    assert_eq!(last["content"][0]["content"], "anthropic was here");
    let prev = &msgs[msgs.len() - 2];
    assert_eq!(prev["role"], "assistant");
    assert_eq!(prev["content"][1]["type"], "tool_use");
    assert_eq!(prev["content"][1]["input"]["path"], "out.txt");

    let lines = transcript_lines(&agent, "chat-1");
    assert_eq!(
        types(&lines),
        [
            "session",
            "user",
            "assistant",
            "tool_result",
            "assistant",
            "tool_result",
            "assistant"
        ]
    );
    assert_eq!(lines[6]["text"], "All done.");
    assert_eq!(lines[6]["stopReason"], "end_turn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_tool_escapes_and_disabled_exec_are_refused_in_a_turn() {
    let s = Setup::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(outside.path(), s.workspace.join("link")).unwrap();
    std::fs::create_dir(s.workspace.join("a")).unwrap();
    let attempts = [
        ("read", json!({"path": ".."})),
        ("read", json!({"path": "/etc/passwd"})),
        ("read", json!({"path": "link/secret.txt"})),
        ("write", json!({"path": "a/../../x", "content": "pwned"})),
        ("list", json!({"path": "link"})),
        ("exec", json!({"command": "echo pwned > pwned.txt"})),
    ];
    let mut script: Vec<Reply> = attempts
        .iter()
        .enumerate()
        .map(|(i, (name, args))| ok_sse(openai_tool(&format!("c{i}"), name, args.clone())))
        .collect();
    script.push(ok_sse(openai_text(&["ok"])));
    let fx = Fixture::start(script, false).await;
    let mut spec = AgentSpec::new("main", &s.workspace, "p/m");
    spec.max_steps = 10;
    let agent = build_agent(
        &s,
        spec,
        vec![provider(
            "p",
            Api::OpenAiCompletions,
            &fx.base_url,
            ApiKeySource::None,
        )],
        env_map(&[]),
        test_settings(),
    );
    let (res, evs) = turn(&agent, "k", "try to escape").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    let results: Vec<(bool, String)> = evs
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolResult { ok, output, .. } => Some((*ok, output.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), attempts.len());
    for ((name, args), (ok, out)) in attempts.iter().zip(&results) {
        assert!(!ok, "{name} {args} should be refused: {out}");
        assert!(
            !out.contains("TOP-SECRET") && !out.contains("root:"),
            "{out}"
        );
        if *name == "exec" {
            assert!(out.contains("tools.exec.enabled"), "{out}");
        } else {
            assert!(out.starts_with("refused path"), "{out}");
        }
    }
    assert!(!outside.path().join("x").exists());
    assert!(!s.state_dir().join("x").exists());
    assert!(!s.workspace.join("pwned.txt").exists());
    // no auth header when the provider needs no key
    assert!(fx.requests()[0].header("authorization").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_in_the_workspace_when_enabled() {
    let s = Setup::new();
    let fx = Fixture::start(
        vec![
            ok_sse(openai_tool(
                "c1",
                "exec",
                json!({"command": "echo made-by-exec > e.txt && cat e.txt"}),
            )),
            ok_sse(openai_text(&["done"])),
        ],
        false,
    )
    .await;
    let mut spec = AgentSpec::new("main", &s.workspace, "p/m");
    spec.exec = ExecSettings {
        enabled: true,
        ..ExecSettings::default()
    };
    let agent = build_agent(
        &s,
        spec,
        vec![provider(
            "p",
            Api::OpenAiCompletions,
            &fx.base_url,
            ApiKeySource::None,
        )],
        env_map(&[]),
        test_settings(),
    );
    let (res, evs) = turn(&agent, "k", "run it").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    assert_eq!(
        std::fs::read_to_string(s.workspace.join("e.txt")).unwrap(),
        "made-by-exec\n"
    );
    let out = evs
        .iter()
        .find_map(|e| match e {
            AgentEvent::ToolResult {
                ok: true, output, ..
            } => Some(output.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        out.contains("exit code 0") && out.contains("made-by-exec"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_limit_stops_with_a_clear_message() {
    let s = Setup::new();
    let fx = Fixture::start(
        (0..5)
            .map(|i| ok_sse(openai_tool(&format!("c{i}"), "list", json!({}))))
            .collect(),
        false,
    )
    .await;
    let mut spec = AgentSpec::new("main", &s.workspace, "p/m");
    spec.max_steps = 3;
    let agent = build_agent(
        &s,
        spec,
        vec![provider(
            "p",
            Api::OpenAiCompletions,
            &fx.base_url,
            ApiKeySource::None,
        )],
        env_map(&[]),
        test_settings(),
    );
    let (res, evs) = turn(&agent, "k", "loop forever").await;
    assert_eq!(res.status, RunStatus::Error);
    assert_eq!(res.steps, 3);
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "step_limit");
    assert!(msg.contains("3 model steps"), "{msg}");
    assert_eq!(fx.requests().len(), 3);
    assert_eq!(finished(&evs), RunStatus::Error);
    let lines = transcript_lines(&agent, "k");
    assert_eq!(lines.last().unwrap()["type"], "error");
    assert_eq!(lines.last().unwrap()["kind"], "step_limit");
}

struct FakeBrowser;

impl BrowserTool for FakeBrowser {
    fn open(&self, url: &str) -> futures_util::future::BoxFuture<'_, Result<String, String>> {
        let url = url.to_string();
        Box::pin(async move { Ok(format!("opened {url}")) })
    }
    fn snapshot(&self) -> futures_util::future::BoxFuture<'_, Result<String, String>> {
        Box::pin(async { Ok("snapshot".into()) })
    }
    fn act(
        &self,
        action: serde_json::Value,
    ) -> futures_util::future::BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { Ok(format!("acted {action}")) })
    }
    fn screenshot(&self) -> futures_util::future::BoxFuture<'_, Result<String, String>> {
        Box::pin(async { Err("no page open".into()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_tool_is_offered_only_when_supplied_and_dispatches() {
    let s = Setup::new();
    let fx = Fixture::start(
        vec![
            ok_sse(openai_tool(
                "b1",
                "browser",
                json!({"action": "open", "url": "http://127.0.0.1:9/x"}),
            )),
            ok_sse(openai_text(&["opened"])),
        ],
        false,
    )
    .await;
    let client = ModelClient::new(
        KeyResolver::new(s.state_dir(), env_map(&[])),
        test_settings(),
    )
    .unwrap();
    let agent = Agent::new(
        AgentSpec::new("main", &s.workspace, "p/m"),
        RuntimeFacts {
            profile: None,
            state_dir: s.state_dir().to_path_buf(),
        },
        vec![provider(
            "p",
            Api::OpenAiCompletions,
            &fx.base_url,
            ApiKeySource::None,
        )],
        client,
        Some(std::sync::Arc::new(FakeBrowser)),
    )
    .unwrap();
    let (res, evs) = turn(&agent, "k", "open it").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    assert!(evs.iter().any(|e| matches!(e, AgentEvent::ToolResult { ok: true, output, .. } if output == "opened http://127.0.0.1:9/x")));
    let tools: Vec<String> = fx.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(tools.contains(&"browser".to_string()));
}
