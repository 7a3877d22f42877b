//! Two instances (state dirs), each with its own agent, workspace and
//! provider, run turns at the same time without cross-talk.

mod common;

use common::*;
use openclaw_agent::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_run_concurrently_without_cross_talk() {
    let main_i = Setup::new();
    let rescue_i = Setup::new();
    let fx_main = Fixture::start(
        vec![
            ok_sse(openai_tool(
                "m1",
                "write",
                json!({"path": "who.txt", "content": "main"}),
            )),
            ok_sse(openai_text(&["main ", "done"])),
        ],
        false,
    )
    .await;
    let fx_rescue = Fixture::start(
        vec![
            ok_sse(anthropic_tool(
                "r1",
                "write",
                json!({"path": "who.txt", "content": "rescue"}),
            )),
            ok_sse(anthropic_text(&["rescue ", "done"])),
        ],
        true,
    )
    .await;
    let a_main = build_agent(
        &main_i,
        AgentSpec::new("main", &main_i.workspace, "openai/gpt-x"),
        vec![provider(
            "openai",
            Api::OpenAiCompletions,
            &fx_main.base_url,
            ApiKeySource::Env("OPENAI_API_KEY".into()),
        )],
        env_map(&[("OPENAI_API_KEY", "key-main")]),
        test_settings(),
    );
    let a_rescue = build_agent(
        &rescue_i,
        AgentSpec::new("main", &rescue_i.workspace, "anthropic/claude-x"),
        vec![provider(
            "anthropic",
            Api::AnthropicMessages,
            &fx_rescue.base_url,
            ApiKeySource::Env("ANTHROPIC_API_KEY".into()),
        )],
        env_map(&[("ANTHROPIC_API_KEY", "key-rescue")]),
        test_settings(),
    );
    let ((r1, e1), (r2, e2)) = tokio::join!(
        turn(&a_main, "main", "from main"),
        turn(&a_rescue, "main", "from rescue")
    );
    assert_eq!(r1.status, RunStatus::Ok, "{e1:#?}");
    assert_eq!(r2.status, RunStatus::Ok, "{e2:#?}");
    assert_eq!(deltas(&e1), "main done");
    assert_eq!(deltas(&e2), "Working on it. rescue done");

    assert_eq!(
        std::fs::read_to_string(main_i.workspace.join("who.txt")).unwrap(),
        "main"
    );
    assert_eq!(
        std::fs::read_to_string(rescue_i.workspace.join("who.txt")).unwrap(),
        "rescue"
    );

    for r in fx_main.requests() {
        assert_eq!(r.header("authorization"), Some("Bearer key-main"));
        assert!(r.body.to_string().contains("from main"));
        assert!(!r.body.to_string().contains("rescue"));
    }
    for r in fx_rescue.requests() {
        assert_eq!(r.header("x-api-key"), Some("key-rescue"));
        assert!(!r.body.to_string().contains("from main"));
    }
    assert_eq!(fx_main.requests().len(), 2);
    assert_eq!(fx_rescue.requests().len(), 2);

    let lm = transcript_lines(&a_main, "main");
    let lr = transcript_lines(&a_rescue, "main");
    assert_eq!(lm[1]["text"], "from main");
    assert_eq!(lr[1]["text"], "from rescue");
    assert!(a_main.sessions().dir().starts_with(main_i.state_dir()));
    assert!(a_rescue.sessions().dir().starts_with(rescue_i.state_dir()));
    assert_eq!(a_main.sessions().list().unwrap().len(), 1);
    assert_eq!(a_rescue.sessions().list().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_of_one_agent_stay_separate() {
    let s = Setup::new();
    let fx = Fixture::start(
        vec![ok_sse(openai_text(&["one"])), ok_sse(openai_text(&["two"]))],
        false,
    )
    .await;
    let agent = build_agent(
        &s,
        AgentSpec::new("main", &s.workspace, "p/m"),
        vec![provider(
            "p",
            Api::OpenAiCompletions,
            &fx.base_url,
            ApiKeySource::None,
        )],
        env_map(&[]),
        test_settings(),
    );
    let ((r1, _), (r2, _)) = tokio::join!(turn(&agent, "a", "msg-a"), turn(&agent, "b", "msg-b"));
    assert_eq!((r1.status, r2.status), (RunStatus::Ok, RunStatus::Ok));
    assert_ne!(r1.session_id, r2.session_id);
    let la = transcript_lines(&agent, "a");
    let lb = transcript_lines(&agent, "b");
    assert_eq!(types(&la), ["session", "user", "assistant"]);
    assert_eq!(types(&lb), ["session", "user", "assistant"]);
    assert_eq!(la[1]["text"], "msg-a");
    assert_eq!(lb[1]["text"], "msg-b");
    let keys: Vec<String> = agent
        .sessions()
        .list()
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys.len(), 2);
}
