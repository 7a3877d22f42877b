//! `ModelClient::list_models`: the one real call onboarding makes to check a
//! key or a base URL, against the fixture servers' listings in OpenAI's and
//! Anthropic's wire formats.

use std::sync::Arc;

use openclaw_agent::testing::{FIXTURE_MODELS, Fixture};
use openclaw_agent::*;

fn client(dir: &std::path::Path) -> ModelClient {
    let env: provider::EnvLookup = Arc::new(|_: &str| None);
    ModelClient::new(KeyResolver::new(dir, env), ClientSettings::default()).unwrap()
}

fn provider(id: &str, api: Api, base: &str, key: Option<&str>) -> ProviderConfig {
    ProviderConfig {
        id: id.into(),
        base_url: base.into(),
        api,
        api_key: match key {
            Some(k) => ApiKeySource::Config(Secret::new(k)),
            None => ApiKeySource::None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_listing_with_the_right_key_and_a_refusal_quoting_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::start(vec![], false).await;
    fx.require_key("sk-good");
    let c = client(dir.path());
    let ids = c
        .list_models(&provider(
            "openai",
            Api::OpenAiCompletions,
            &fx.base_url,
            Some("sk-good"),
        ))
        .await
        .unwrap();
    assert_eq!(ids, FIXTURE_MODELS);
    let req = fx.requests().pop().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(req.header("authorization"), Some("Bearer sk-good"));

    let e = c
        .list_models(&provider(
            "openai",
            Api::OpenAiCompletions,
            &fx.base_url,
            Some("sk-bad-key"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(e.status, Some(401));
    assert!(
        e.message.contains("Incorrect API key provided"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("sk-bad-key"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_listing_uses_x_api_key_and_its_own_shape() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::start(vec![], true).await;
    fx.require_key("ak-good");
    fx.set_models(&["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]);
    let c = client(dir.path());
    let ids = c
        .list_models(&provider(
            "anthropic",
            Api::AnthropicMessages,
            &fx.base_url,
            Some("ak-good"),
        ))
        .await
        .unwrap();
    assert_eq!(
        ids,
        ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
    );
    let req = fx.requests().pop().unwrap();
    assert_eq!(req.path, "/v1/models?limit=1000");
    assert_eq!(req.header("x-api-key"), Some("ak-good"));
    assert!(req.header("anthropic-version").is_some());

    let e = c
        .list_models(&provider(
            "anthropic",
            Api::AnthropicMessages,
            &fx.base_url,
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(e.message.contains("invalid x-api-key"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_network_error_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let e = client(dir.path())
        .list_models(&provider("custom", Api::OpenAiCompletions, &base, None))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network);
    assert!(
        e.message.contains(&format!("{base}/models")),
        "{}",
        e.message
    );
}

#[test]
fn listing_bodies_parse_and_others_do_not() {
    assert_eq!(
        provider::parse_model_list(br#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#),
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(provider::parse_model_list(b"<html>"), None);
    assert_eq!(provider::parse_model_list(br#"{"models":[]}"#), None);
}
