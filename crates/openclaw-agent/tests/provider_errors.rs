//! Provider failures give a clear error event and leave the session usable.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use openclaw_agent::*;
use serde_json::json;
use tokio::sync::mpsc;

fn oai_agent(s: &Setup, fx: &Fixture, key: ApiKeySource, env: &[(&str, &str)]) -> Agent {
    build_agent(
        s,
        AgentSpec::new("main", &s.workspace, "oai/gpt-test"),
        vec![provider("oai", Api::OpenAiCompletions, &fx.base_url, key)],
        env_map(env),
        test_settings(),
    )
}

/// After a failed turn, the next turn on the same session works and the
/// model sees the earlier user message.
async fn assert_session_recovers(agent: &Agent, fx: &Fixture, first_msg: &str) {
    fx.push(ok_sse(openai_text(&["recovered"])));
    let (res, evs) = turn(agent, "main", "try again").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    assert_eq!(deltas(&evs), "recovered");
    let last = fx.requests().pop().unwrap();
    let users: Vec<&str> = last.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(users, [first_msg, "try again"]);
    let lines = transcript_lines(agent, "main");
    assert_eq!(lines.last().unwrap()["text"], "recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_names_provider_and_key_source() {
    let s = Setup::new();
    let fx = Fixture::start(
        vec![status(
            401,
            &[],
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
        )],
        false,
    )
    .await;
    let agent = oai_agent(
        &s,
        &fx,
        ApiKeySource::Env("OPENAI_API_KEY".into()),
        &[("OPENAI_API_KEY", "sk-bad-key-999")],
    );
    let (res, evs) = turn(&agent, "main", "hi").await;
    assert_eq!(res.status, RunStatus::Error);
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "auth");
    assert!(msg.contains("provider oai rejected the API key"), "{msg}");
    assert!(msg.contains("key from: env OPENAI_API_KEY"), "{msg}");
    assert!(msg.contains("Incorrect API key provided"), "{msg}");
    assert!(!msg.contains("sk-bad-key-999"), "never show the key: {msg}");
    assert_eq!(fx.requests().len(), 1, "401 is not retried");
    let lines = transcript_lines(&agent, "main");
    assert_eq!(types(&lines), ["session", "user", "error"]);
    assert_eq!(lines[2]["kind"], "auth");
    assert!(
        !std::fs::read_to_string(agent.sessions().transcript_path(&res.session_id))
            .unwrap()
            .contains("sk-bad-key-999")
    );
    assert_session_recovers(&agent, &fx, "hi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_from_credentials_file_names_the_file() {
    let s = Setup::new();
    let fx = Fixture::start(vec![status(403, &[], "forbidden")], true).await;
    let cred = s.state_dir().join("credentials/ant.key");
    std::fs::create_dir_all(cred.parent().unwrap()).unwrap();
    std::fs::write(&cred, "file-key\n").unwrap();
    std::fs::set_permissions(&cred, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let agent = build_agent(
        &s,
        AgentSpec::new("main", &s.workspace, "ant/claude-test"),
        vec![provider(
            "ant",
            Api::AnthropicMessages,
            &fx.base_url,
            ApiKeySource::CredentialsFile,
        )],
        env_map(&[]),
        test_settings(),
    );
    let (_, evs) = turn(&agent, "main", "hi").await;
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "auth");
    assert!(
        msg.contains(&format!("key from: file {}", cred.display())),
        "{msg}"
    );
    assert_eq!(fx.requests()[0].header("x-api-key"), Some("file-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_readable_credentials_file_is_refused() {
    let s = Setup::new();
    let fx = Fixture::start(vec![], false).await;
    let cred = s.state_dir().join("credentials/oai.key");
    std::fs::create_dir_all(cred.parent().unwrap()).unwrap();
    std::fs::write(&cred, "leaky\n").unwrap();
    std::fs::set_permissions(&cred, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let agent = oai_agent(&s, &fx, ApiKeySource::CredentialsFile, &[]);
    let (_, evs) = turn(&agent, "main", "hi").await;
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "config");
    assert!(
        msg.contains("chmod 600") && msg.contains("oai.key"),
        "{msg}"
    );
    assert!(
        fx.requests().is_empty(),
        "no request is sent with a refused key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_honours_retry_after_then_succeeds() {
    let s = Setup::new();
    let fx = Fixture::start(
        vec![
            status(
                429,
                &[("retry-after", "1")],
                r#"{"error":{"message":"Rate limit reached"}}"#,
            ),
            ok_sse(openai_text(&["after ", "waiting"])),
        ],
        false,
    )
    .await;
    let agent = oai_agent(&s, &fx, ApiKeySource::Config(Secret::new("k")), &[]);
    let started = std::time::Instant::now();
    let (res, evs) = turn(&agent, "main", "hi").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    assert_eq!(deltas(&evs), "after waiting");
    assert_eq!(fx.requests().len(), 2);
    // retry-after was honoured, not ignored (a lower bound, not a timing assertion)
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_exhausted_is_a_clear_error() {
    let s = Setup::new();
    let fx = Fixture::start(
        (0..4)
            .map(|_| {
                status(
                    429,
                    &[("retry-after", "0")],
                    r#"{"error":{"message":"slow down"}}"#,
                )
            })
            .collect(),
        false,
    )
    .await;
    let agent = oai_agent(&s, &fx, ApiKeySource::Config(Secret::new("k")), &[]);
    let (res, evs) = turn(&agent, "main", "hi").await;
    assert_eq!(res.status, RunStatus::Error);
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "rate_limited");
    assert!(
        msg.contains("HTTP 429") && msg.contains("3 retries") && msg.contains("slow down"),
        "{msg}"
    );
    assert_eq!(fx.requests().len(), 4, "first attempt + 3 retries");
    assert_session_recovers(&agent, &fx, "hi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_beyond_the_cap_fails_at_once() {
    let s = Setup::new();
    let fx = Fixture::start(vec![status(429, &[("retry-after", "3600")], "{}")], false).await;
    let agent = oai_agent(&s, &fx, ApiKeySource::Config(Secret::new("k")), &[]);
    let (_, evs) = turn(&agent, "main", "hi").await;
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "rate_limited");
    assert!(msg.contains("3600s"), "{msg}");
    assert_eq!(fx.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_after_bounded_retries() {
    let s = Setup::new();
    let fx = Fixture::start(
        (0..4)
            .map(|_| status(503, &[], r#"{"error":{"message":"upstream exploded"}}"#))
            .collect(),
        false,
    )
    .await;
    let agent = oai_agent(&s, &fx, ApiKeySource::Config(Secret::new("k")), &[]);
    let (res, evs) = turn(&agent, "main", "hi").await;
    assert_eq!(res.status, RunStatus::Error);
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "server");
    assert!(
        msg.contains("HTTP 503") && msg.contains("upstream exploded") && msg.contains("4 attempts"),
        "{msg}"
    );
    assert_eq!(fx.requests().len(), 4);
    assert_session_recovers(&agent, &fx, "hi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_json_in_stream_is_a_malformed_stream_error() {
    let s = Setup::new();
    let mut chunks = openai_text(&["partial "]);
    chunks.truncate(2);
    chunks.push("data: {\"choices\": [oops not json\n\n".into());
    let fx = Fixture::start(
        vec![Reply::Sse {
            chunks,
            end: End::Clean,
        }],
        false,
    )
    .await;
    let agent = oai_agent(&s, &fx, ApiKeySource::Config(Secret::new("k")), &[]);
    let (res, evs) = turn(&agent, "main", "hi").await;
    assert_eq!(res.status, RunStatus::Error);
    assert_eq!(
        deltas(&evs),
        "partial ",
        "text before the bad chunk still streams"
    );
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "malformed_stream");
    assert!(
        msg.contains("provider oai sent a bad stream") && msg.contains("not valid JSON"),
        "{msg}"
    );
    let lines = transcript_lines(&agent, "main");
    assert_eq!(types(&lines), ["session", "user", "assistant", "error"]);
    assert_eq!(lines[2]["incomplete"], true);
    assert_eq!(lines[2]["text"], "partial ");
    assert_session_recovers(&agent, &fx, "hi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_closed_mid_stream_is_an_error() {
    let s = Setup::new();
    let mut chunks = openai_text(&["cut ", "off"]);
    chunks.truncate(2);
    let fx = Fixture::start(
        vec![Reply::Sse {
            chunks,
            end: End::Abrupt,
        }],
        false,
    )
    .await;
    let agent = oai_agent(&s, &fx, ApiKeySource::Config(Secret::new("k")), &[]);
    let (res, evs) = turn(&agent, "main", "hi").await;
    assert_eq!(res.status, RunStatus::Error);
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "malformed_stream");
    assert!(msg.contains("broke in the middle of an answer"), "{msg}");
    assert_session_recovers(&agent, &fx, "hi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_ending_without_message_stop_is_an_error() {
    let s = Setup::new();
    let mut chunks = anthropic_text(&["half"]);
    chunks.pop(); // no message_stop
    let fx = Fixture::start(
        vec![Reply::Sse {
            chunks,
            end: End::Clean,
        }],
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
            ApiKeySource::Config(Secret::new("k")),
        )],
        env_map(&[]),
        test_settings(),
    );
    let (_, evs) = turn(&agent, "main", "hi").await;
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "malformed_stream");
    assert!(msg.contains("without `event: message_stop`"), "{msg}");
    fx.push(ok_sse(anthropic_text(&["fine"])));
    let (res, evs) = turn(&agent, "main", "again").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    // history sent to Anthropic stays valid: user turns merged, partial kept
    let last = fx.requests().pop().unwrap();
    let roles: Vec<&str> = last.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_stream_hits_the_idle_timeout() {
    let s = Setup::new();
    let mut chunks = openai_text(&["hello"]);
    chunks.truncate(2);
    let fx = Fixture::start(
        vec![Reply::Sse {
            chunks,
            end: End::Hang,
        }],
        false,
    )
    .await;
    let agent = oai_agent(&s, &fx, ApiKeySource::Config(Secret::new("k")), &[]);
    let (_, evs) = turn(&agent, "main", "hi").await;
    let (kind, msg) = error_event(&evs);
    assert_eq!(kind, "timeout");
    assert!(msg.contains("stopped sending data"), "{msg}");
    assert_session_recovers(&agent, &fx, "hi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_provider_falls_back_but_auth_errors_do_not() {
    let s = Setup::new();
    // a port with nothing listening
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/v1", dead.local_addr().unwrap());
    drop(dead);
    let fx = Fixture::start(vec![ok_sse(anthropic_text(&["from fallback"]))], true).await;
    let mut spec = AgentSpec::new("main", &s.workspace, "down/m1");
    spec.model.fallbacks = vec!["ant/claude-test".into()];
    let agent = build_agent(
        &s,
        spec.clone(),
        vec![
            provider(
                "down",
                Api::OpenAiCompletions,
                &dead_url,
                ApiKeySource::None,
            ),
            provider(
                "ant",
                Api::AnthropicMessages,
                &fx.base_url,
                ApiKeySource::Config(Secret::new("k")),
            ),
        ],
        env_map(&[]),
        test_settings(),
    );
    let (res, evs) = turn(&agent, "main", "hi").await;
    assert_eq!(res.status, RunStatus::Ok, "{evs:#?}");
    assert_eq!(deltas(&evs), "from fallback");
    assert_eq!(
        transcript_lines(&agent, "main")[2]["model"],
        "ant/claude-test"
    );

    // 401 on the primary: no fallback, the user must fix the key.
    let s2 = Setup::new();
    let primary = Fixture::start(vec![status(401, &[], "{}")], false).await;
    let backup = Fixture::start(vec![ok_sse(anthropic_text(&["should not be used"]))], true).await;
    spec.workspace = s2.workspace.clone();
    spec.model.primary = "oai/gpt".into();
    let agent = build_agent(
        &s2,
        spec,
        vec![
            provider(
                "oai",
                Api::OpenAiCompletions,
                &primary.base_url,
                ApiKeySource::Config(Secret::new("k")),
            ),
            provider(
                "ant",
                Api::AnthropicMessages,
                &backup.base_url,
                ApiKeySource::Config(Secret::new("k")),
            ),
        ],
        env_map(&[]),
        test_settings(),
    );
    let (_, evs) = turn(&agent, "main", "hi").await;
    assert_eq!(error_event(&evs).0, "auth");
    assert!(backup.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_mid_stream_records_partial_answer() {
    let s = Setup::new();
    let mut chunks = openai_text(&["Once upon ", "a time"]);
    chunks.truncate(3); // role chunk + two text chunks, then silence
    let fx = Fixture::start(
        vec![Reply::Sse {
            chunks,
            end: End::Hang,
        }],
        false,
    )
    .await;
    let mut settings = test_settings();
    settings.timeouts.idle = Duration::from_secs(30); // abort, not the idle timeout, must end it
    let agent = std::sync::Arc::new(build_agent(
        &s,
        AgentSpec::new("main", &s.workspace, "oai/gpt-test"),
        vec![provider(
            "oai",
            Api::OpenAiCompletions,
            &fx.base_url,
            ApiKeySource::None,
        )],
        env_map(&[]),
        settings,
    ));
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let task = {
        let (agent, cancel) = (agent.clone(), cancel.clone());
        tokio::spawn(async move {
            agent
                .run_turn("main", "tell me a long story", tx, cancel)
                .await
        })
    };
    let mut text = String::new();
    let guard = Duration::from_secs(20);
    while text != "Once upon a time" {
        match tokio::time::timeout(guard, rx.recv())
            .await
            .expect("no delta")
            .unwrap()
        {
            AgentEvent::TextDelta { text: t } => text.push_str(&t),
            AgentEvent::RunStarted { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    cancel.cancel();
    let res = tokio::time::timeout(guard, task)
        .await
        .expect("abort did not stop the turn")
        .unwrap();
    assert_eq!(res.status, RunStatus::Aborted);
    assert_eq!(res.text, "Once upon a time");
    let mut rest = Vec::new();
    while let Ok(e) = rx.try_recv() {
        rest.push(e);
    }
    assert_eq!(finished(&rest), RunStatus::Aborted);
    // the HTTP stream was closed, not left dangling
    let t0 = std::time::Instant::now();
    while fx.client_closed.load(Ordering::SeqCst) == 0 {
        assert!(
            t0.elapsed() < guard,
            "client never closed the provider stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = transcript_lines(&agent, "main");
    assert_eq!(types(&lines), ["session", "user", "assistant"]);
    assert_eq!(lines[2]["aborted"], true);
    assert_eq!(lines[2]["text"], "Once upon a time");

    // and the session is usable afterwards, with the partial answer in history
    fx.push(ok_sse(openai_text(&["ok"])));
    let (res, _) = turn(&agent, "main", "short please").await;
    assert_eq!(res.status, RunStatus::Ok);
    let last = fx.requests().pop().unwrap();
    let msgs = last.body["messages"].as_array().unwrap();
    assert_eq!(
        msgs[2],
        json!({"role": "assistant", "content": "Once upon a time"})
    );
}

/// A turn queued behind another turn of the same session and cancelled
/// before its turn came still records its user message (with an empty,
/// aborted answer) once the session is free; the model is never called for
/// it, and the running turn is not disturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_turn_cancelled_before_it_starts_still_records_its_message() {
    let s = Setup::new();
    let fx = Fixture::start(
        vec![Reply::SlowSse {
            chunks: openai_text(&["first ", "answer"]),
            delay: Duration::from_millis(300),
            end: End::Clean,
        }],
        false,
    )
    .await;
    let agent = std::sync::Arc::new(build_agent(
        &s,
        AgentSpec::new("main", &s.workspace, "oai/gpt-test"),
        vec![provider(
            "oai",
            Api::OpenAiCompletions,
            &fx.base_url,
            ApiKeySource::None,
        )],
        env_map(&[]),
        test_settings(),
    ));
    let guard = Duration::from_secs(20);
    let (tx1, mut rx1) = mpsc::channel(64);
    let first = {
        let agent = agent.clone();
        tokio::spawn(async move {
            agent
                .run_turn("main", "first question", tx1, CancellationToken::new())
                .await
        })
    };
    // The first turn is streaming: it holds the session.
    loop {
        match tokio::time::timeout(guard, rx1.recv()).await.unwrap() {
            Some(AgentEvent::TextDelta { .. }) => break,
            Some(_) => {}
            None => panic!("the first turn ended early"),
        }
    }
    let (tx2, mut rx2) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let second = {
        let (agent, cancel) = (agent.clone(), cancel.clone());
        tokio::spawn(async move { agent.run_turn("main", "a follow-up", tx2, cancel).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let r1 = tokio::time::timeout(guard, first).await.unwrap().unwrap();
    assert_eq!(r1.status, RunStatus::Ok);
    assert_eq!(r1.text, "first answer");
    let r2 = tokio::time::timeout(guard, second).await.unwrap().unwrap();
    assert_eq!(r2.status, RunStatus::Aborted);
    let mut evs = Vec::new();
    while let Ok(e) = rx2.try_recv() {
        evs.push(e);
    }
    assert_eq!(finished(&evs), RunStatus::Aborted);
    assert_eq!(
        fx.requests().len(),
        1,
        "the cancelled turn never called the model"
    );
    let lines = transcript_lines(&agent, "main");
    assert_eq!(
        types(&lines),
        ["session", "user", "assistant", "user", "assistant"]
    );
    assert_eq!(lines[3]["text"], "a follow-up");
    assert_eq!(lines[4]["aborted"], true);
    assert_eq!(lines[4]["text"], "");
}
