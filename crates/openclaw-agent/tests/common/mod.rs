//! Helpers to build agents against the fixture servers of
//! `openclaw_agent::testing` (shared with the gateway's end-to-end tests).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use openclaw_agent::testing::*;
use openclaw_agent::*;
use serde_json::Value;
use tokio::sync::mpsc;

/// Client settings for tests: small timeouts (hang guards) and short
/// backoffs; `retry-after` is honoured up to 2 s.
pub fn test_settings() -> ClientSettings {
    ClientSettings {
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(10),
            idle: Duration::from_secs(2),
        },
        retry: RetryPolicy {
            max_retries: 3,
            base_backoff: Duration::from_millis(20),
            max_wait: Duration::from_secs(2),
        },
    }
}

pub struct Setup {
    pub state: tempfile::TempDir,
    pub workspace: PathBuf,
}

impl Setup {
    pub fn new() -> Setup {
        let state = tempfile::tempdir().unwrap();
        let workspace = state.path().join("workspace");
        std::fs::create_dir_all(&workspace).unwrap();
        Setup { state, workspace }
    }
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }
}

pub fn provider(id: &str, api: Api, base_url: &str, key: ApiKeySource) -> ProviderConfig {
    ProviderConfig {
        id: id.into(),
        base_url: base_url.into(),
        api,
        api_key: key,
    }
}

/// The env lookup the "gateway" would pass: a fixed map, not the process env.
pub fn env_map(pairs: &[(&str, &str)]) -> provider::EnvLookup {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
}

pub fn build_agent(
    setup: &Setup,
    spec: AgentSpec,
    providers: Vec<ProviderConfig>,
    env: provider::EnvLookup,
    settings: ClientSettings,
) -> Agent {
    let client = ModelClient::new(KeyResolver::new(setup.state_dir(), env), settings).unwrap();
    Agent::new(
        spec,
        RuntimeFacts {
            profile: Some("test".into()),
            state_dir: setup.state_dir().to_path_buf(),
        },
        providers,
        client,
        None,
    )
    .unwrap()
}

/// Run a turn and collect all its events (bounded by a hang guard).
pub async fn turn(agent: &Agent, key: &str, msg: &str) -> (TurnResult, Vec<AgentEvent>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        agent.run_turn(key, msg, tx, CancellationToken::new()),
    )
    .await
    .expect("turn hung");
    let mut evs = Vec::new();
    while let Ok(e) = rx.try_recv() {
        evs.push(e);
    }
    (res, evs)
}

pub fn deltas(evs: &[AgentEvent]) -> String {
    evs.iter()
        .filter_map(|e| match e {
            AgentEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

pub fn error_event(evs: &[AgentEvent]) -> (String, String) {
    evs.iter()
        .find_map(|e| match e {
            AgentEvent::Error { message, kind } => Some((kind.clone(), message.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no error event in {evs:#?}"))
}

pub fn finished(evs: &[AgentEvent]) -> RunStatus {
    match evs.last() {
        Some(AgentEvent::RunFinished { status, .. }) => *status,
        other => panic!("last event is not RunFinished: {other:?}"),
    }
}

/// Raw transcript lines of the session currently bound to `key`.
pub fn transcript_lines(agent: &Agent, key: &str) -> Vec<Value> {
    let s = agent.sessions().get(key).unwrap().expect("session exists");
    let path = agent.sessions().transcript_path(&s.entry.session_id);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every transcript line is JSON"))
        .collect()
}

pub fn types(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["type"].as_str().unwrap().to_string())
        .collect()
}
