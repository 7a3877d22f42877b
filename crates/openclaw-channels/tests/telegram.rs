//! The real Telegram channel code against the local Bot API fixture
//! (real HTTP on 127.0.0.1, Telegram's JSON), with an in-process agent.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use openclaw_channels::ledger::Ledger;
use openclaw_channels::pairing::PairingStore;
use openclaw_channels::telegram::{CHANNEL, TelegramChannel, TelegramSettings, open_ledger};
use openclaw_channels::testing::BotApiFixture;
use openclaw_channels::token::{BotToken, TokenSource};
use openclaw_channels::{AgentRunner, Channel, ChannelState, RunFailure};
use openclaw_config::channels::Telegram;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(20);
const TOKEN: &str = "111:fixture-token";

/// Answers "echo: <text>" (or fails, or streams in pieces).
#[derive(Default)]
struct Echo {
    fail: bool,
    pieces: Option<Vec<&'static str>>,
    seen: Mutex<Vec<(String, String, String)>>,
}

impl AgentRunner for Echo {
    fn run(
        &self,
        agent_id: String,
        session_key: String,
        text: String,
        deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        self.seen
            .lock()
            .unwrap()
            .push((agent_id, session_key, text.clone()));
        let fail = self.fail;
        let pieces = self.pieces.clone();
        Box::pin(async move {
            if fail {
                return Err(RunFailure {
                    kind: "server".into(),
                    message: "HTTP 500".into(),
                });
            }
            if let Some(p) = pieces {
                let mut acc = String::new();
                for piece in p {
                    acc.push_str(piece);
                    if let Some(d) = &deltas {
                        let _ = d.send(acc.clone());
                    }
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
                return Ok(acc);
            }
            Ok(format!("echo: {text}"))
        })
    }
}

fn settings(dir: &Path, api_root: &str, cfg: serde_json::Value) -> TelegramSettings {
    let mut cfg = cfg;
    cfg["apiRoot"] = json!(api_root);
    let config: Telegram = serde_json::from_value(cfg).unwrap();
    TelegramSettings {
        account: "default".into(),
        state_dir: dir.to_path_buf(),
        token: BotToken::new(TOKEN, TokenSource::Config),
        config,
        bindings: vec![],
        poll_timeout: 1,
        retry_pause: Duration::from_millis(200),
        fix_token_command: "openclaw config set channels.telegram.botToken <TOKEN>".into(),
        cli: "openclaw --profile main".into(),
    }
}

struct Running {
    ch: Arc<TelegramChannel>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

fn start(s: TelegramSettings, ledger: Arc<Ledger>, runner: Arc<dyn AgentRunner>) -> Running {
    let ch = TelegramChannel::new(s, ledger, runner, Arc::new(Vec::new));
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));
    Running { ch, stop, task }
}

async fn state_is(r: &Running, want: ChannelState) -> bool {
    for _ in 0..500 {
        if r.ch.status().state == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn unknown_dm_gets_one_code_then_approval_lets_messages_through() {
    let fx = BotApiFixture::start().await;
    fx.add_bot(TOKEN, 999, "fixture_bot");
    let d = tempfile::tempdir().unwrap();
    let echo = Arc::new(Echo::default());
    let ledger = open_ledger(d.path(), "default").unwrap();
    let r = start(
        settings(d.path(), &fx.api_root, json!({})),
        ledger,
        echo.clone(),
    );
    assert!(state_is(&r, ChannelState::Running).await);
    assert_eq!(r.ch.status().bot_username.as_deref(), Some("fixture_bot"));
    let calls = fx.calls(TOKEN);
    assert_eq!(calls[0].method, "getMe");
    assert_eq!(calls[1].method, "deleteWebhook");

    fx.push_dm(TOKEN, 42, "hello?");
    fx.push_dm(TOKEN, 42, "anyone?");
    assert!(
        fx.wait_for(T, |f| f.unconfirmed(TOKEN) == 0 && f.sent(TOKEN).len() == 1)
            .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = fx.texts_to(TOKEN, 42);
    assert_eq!(texts.len(), 1, "one code per request: {texts:?}");
    let store = PairingStore::new(d.path(), CHANNEL, "default");
    let pending = store.list(u64::MAX / 2 - 10_000_000).unwrap_or_default();
    let _ = pending;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let pending = store.list(now).unwrap();
    assert_eq!(pending.len(), 1);
    assert!(texts[0].contains(&pending[0].code));
    // The command it names acts on this instance, not the default one.
    assert!(
        texts[0].contains(&format!(
            "openclaw --profile main pairing approve telegram {}",
            pending[0].code
        )),
        "{}",
        texts[0]
    );
    assert!(
        echo.seen.lock().unwrap().is_empty(),
        "not processed before approval"
    );

    store.approve(&pending[0].code, now, "x").unwrap();
    fx.push_dm(TOKEN, 42, "now?");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 42).len() == 2).await);
    assert_eq!(fx.texts_to(TOKEN, 42)[1], "echo: now?");
    let seen = echo.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![("main".into(), "telegram:dm:42".into(), "now?".into())]
    );
    // typing action while the agent ran
    assert!(
        fx.calls(TOKEN)
            .iter()
            .any(|c| c.method == "sendChatAction" && c.body["action"] == "typing")
    );
    r.stop().await;
}

#[tokio::test]
async fn restart_resumes_unfinished_updates_and_never_repeats_handled_ones() {
    let fx = BotApiFixture::start().await;
    fx.add_bot(TOKEN, 999, "fixture_bot");
    let d = tempfile::tempdir().unwrap();
    let cfg = json!({"dmPolicy": "open", "allowFrom": ["*"]});
    // A previous run recorded two updates: one answered with one of two
    // chunks sent, one only received; and one done.
    {
        let l = Ledger::open(&openclaw_channels::account_dir(
            d.path(),
            CHANNEL,
            "default",
        ))
        .unwrap();
        let dm = |id: i64, from: i64, text: &str| {
            (
                id,
                from.to_string(),
                json!({"update_id": id, "message": {"message_id": 1, "text": text, "from": {"id": from, "is_bot": false, "first_name": "u"}, "chat": {"id": from, "type": "private"}}}),
            )
        };
        l.receive(vec![dm(5, 1, "a"), dm(6, 2, "b"), dm(7, 3, "c")])
            .unwrap();
        l.answered(5, vec!["first".into(), "second".into()])
            .unwrap();
        l.sent(5, 1).unwrap();
        l.done(7).unwrap();
    }
    let echo = Arc::new(Echo::default());
    let ledger = open_ledger(d.path(), "default").unwrap();
    let r = start(
        settings(d.path(), &fx.api_root, cfg),
        ledger.clone(),
        echo.clone(),
    );
    assert!(fx.wait_for(T, |f| f.sent(TOKEN).len() == 2).await);
    assert_eq!(fx.texts_to(TOKEN, 1), vec!["second"]);
    assert_eq!(fx.texts_to(TOKEN, 2), vec!["echo: b"]);
    assert!(fx.texts_to(TOKEN, 3).is_empty());
    assert!(fx.wait_for(T, |_| ledger.offset() == 8).await);
    // getUpdates asked past what the ledger holds
    assert!(
        fx.wait_for(T, |f| f
            .calls(TOKEN)
            .iter()
            .any(|c| c.method == "getUpdates"))
            .await
    );
    let polls: Vec<_> = fx
        .calls(TOKEN)
        .into_iter()
        .filter(|c| c.method == "getUpdates")
        .collect();
    assert!(
        polls.iter().all(|c| c.body["offset"].as_i64() >= Some(8)),
        "{polls:?}"
    );
    assert_eq!(polls[0].body["timeout"], 1);
    r.stop().await;
}

#[tokio::test]
async fn unauthorized_conflict_rate_limit_and_html_fallback() {
    let fx = BotApiFixture::start().await;
    fx.add_bot(TOKEN, 999, "fixture_bot");
    let d = tempfile::tempdir().unwrap();

    // 401: the channel says so, with the fix, and stops.
    let mut bad = settings(d.path(), &fx.api_root, json!({}));
    bad.token = BotToken::new("222:wrong", TokenSource::Config);
    let r = start(
        bad,
        open_ledger(d.path(), "default").unwrap(),
        Arc::new(Echo::default()),
    );
    assert!(state_is(&r, ChannelState::Unauthorized).await);
    let st = r.ch.status();
    assert!(
        st.hint
            .unwrap()
            .contains("config set channels.telegram.botToken")
    );
    assert!(!st.last_error.unwrap().contains("222:wrong"));
    r.stop().await;

    // 409 from a second poller; 429 honoured; HTML refused → plain text.
    let cfg = json!({"dmPolicy": "open", "allowFrom": ["*"]});
    let echo = Arc::new(Echo::default());
    let r = start(
        settings(d.path(), &fx.api_root, cfg.clone()),
        open_ledger(d.path(), "default").unwrap(),
        echo.clone(),
    );
    assert!(state_is(&r, ChannelState::Running).await);
    fx.fail_next(TOKEN, "getUpdates", 409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running", None);
    assert!(state_is(&r, ChannelState::Conflict).await);
    assert!(r.ch.status().hint.unwrap().contains("own bot token"));
    assert!(
        state_is(&r, ChannelState::Running).await,
        "recovers once alone"
    );

    fx.fail_next(
        TOKEN,
        "sendMessage",
        429,
        "Too Many Requests: retry after 1",
        Some(1),
    );
    fx.push_dm(TOKEN, 5, "<b>unbalanced");
    assert!(fx.wait_for(T, |f| f.sent(TOKEN).len() == 1).await);
    let calls: Vec<_> = fx
        .calls(TOKEN)
        .into_iter()
        .filter(|c| c.method == "sendMessage")
        .collect();
    assert_eq!(calls[0].status, 429);
    assert_eq!(calls.last().unwrap().status, 200);
    assert_eq!(fx.texts_to(TOKEN, 5), vec!["echo: &lt;b&gt;unbalanced"]);
    assert_eq!(
        calls.last().unwrap().body["parse_mode"],
        json!("HTML"),
        "escaped HTML is accepted"
    );

    fx.fail_next(
        TOKEN,
        "sendMessage",
        400,
        "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0",
        None,
    );
    fx.push_dm(TOKEN, 6, "**hi**");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 6).len() == 1).await);
    let last = fx.sent(TOKEN).pop().unwrap();
    assert_eq!(last.body["text"], "echo: **hi**");
    assert!(last.body.get("parse_mode").is_none());
    r.stop().await;
}

#[tokio::test]
async fn groups_need_a_mention_and_long_answers_are_chunked() {
    let fx = BotApiFixture::start().await;
    fx.add_bot(TOKEN, 999, "fixture_bot");
    let d = tempfile::tempdir().unwrap();
    let cfg = json!({"groupPolicy": "open", "textChunkLimit": 50});
    let echo = Arc::new(Echo::default());
    let r = start(
        settings(d.path(), &fx.api_root, cfg),
        open_ledger(d.path(), "default").unwrap(),
        echo.clone(),
    );
    assert!(state_is(&r, ChannelState::Running).await);
    fx.push_group(TOKEN, -100, 7, "just chatting", false);
    fx.push_group(TOKEN, -100, 7, "@fixture_bot say hi", false);
    fx.push_group(TOKEN, -100, 7, "and you?", true);
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, -100).len() == 2).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen: Vec<_> = echo
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.1.clone(), s.2.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("telegram:group:-100".to_string(), "say hi".to_string()),
            ("telegram:group:-100".into(), "and you?".into())
        ]
    );
    let long = (0..8)
        .map(|i| format!("paragraph {i} text"))
        .collect::<Vec<_>>()
        .join("\n\n");
    fx.push_group(TOKEN, -100, 7, &format!("@fixture_bot {long}"), false);
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, -100).len() > 3).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = fx.texts_to(TOKEN, -100);
    assert!(
        texts[2..].iter().all(|t| t.chars().count() <= 50),
        "{texts:?}"
    );
    assert_eq!(texts[2..].join("\n\n"), format!("echo: {long}"));
    r.stop().await;
}

#[tokio::test]
async fn model_failure_explains_and_streaming_edits_one_message() {
    let fx = BotApiFixture::start().await;
    fx.add_bot(TOKEN, 999, "fixture_bot");
    let d = tempfile::tempdir().unwrap();
    let cfg = json!({"dmPolicy": "open", "allowFrom": ["*"], "streaming": "partial"});
    let failing = Arc::new(Echo {
        fail: true,
        ..Default::default()
    });
    let r = start(
        settings(d.path(), &fx.api_root, cfg.clone()),
        open_ledger(d.path(), "default").unwrap(),
        failing,
    );
    fx.push_dm(TOKEN, 8, "hi");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 8).len() == 1).await);
    assert!(fx.texts_to(TOKEN, 8)[0].starts_with("Sorry, I couldn't answer that"));
    r.stop().await;

    let streaming = Arc::new(Echo {
        pieces: Some(vec!["one ", "two ", "three"]),
        ..Default::default()
    });
    let r = start(
        settings(d.path(), &fx.api_root, cfg),
        open_ledger(d.path(), "default").unwrap(),
        streaming,
    );
    fx.push_dm(TOKEN, 9, "count");
    assert!(
        fx.wait_for(T, |f| f.calls(TOKEN).iter().any(|c| c.method
            == "editMessageText"
            && c.body["text"] == "one two three"))
            .await
    );
    assert_eq!(fx.texts_to(TOKEN, 9).len(), 1, "one message, edited");
    let edits = fx
        .calls(TOKEN)
        .into_iter()
        .filter(|c| c.method == "editMessageText")
        .count();
    assert!(edits >= 1);
    r.stop().await;
}

/// Answers `/status` for everyone, saying whether the sender is an owner.
struct StatusCommand;

impl openclaw_channels::CommandRunner for StatusCommand {
    fn run(
        &self,
        msg: &openclaw_channels::Inbound,
        is_owner: bool,
    ) -> Option<BoxFuture<'static, String>> {
        if !msg.text.starts_with("/status") {
            return None;
        }
        let text = format!("status for {} (owner: {is_owner})", msg.sender_id);
        Some(Box::pin(async move { text }))
    }
}

#[tokio::test]
async fn owner_commands_run_before_pairing_and_the_agent_in_dms_only() {
    let fx = BotApiFixture::start().await;
    fx.add_bot(TOKEN, 999, "fixture_bot");
    let d = tempfile::tempdir().unwrap();
    let echo = Arc::new(Echo::default());
    let owners = vec![openclaw_config::channels::OwnerRef::parse("telegram:42").unwrap()];
    let live = openclaw_channels::Live::new(vec![], owners);
    live.set_commands(Some(Arc::new(StatusCommand)));
    let ch = TelegramChannel::with_live(
        settings(d.path(), &fx.api_root, json!({"groupPolicy": "open"})),
        open_ledger(d.path(), "default").unwrap(),
        echo.clone(),
        Arc::new(Vec::new),
        live.clone(),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));
    let r = Running { ch, stop, task };
    assert!(state_is(&r, ChannelState::Running).await);

    // The owner's command is answered without pairing or the agent; an
    // unpaired stranger's command too (the runner decides what they get).
    fx.push_dm(TOKEN, 42, "/status main");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 42).len() == 1).await);
    assert_eq!(fx.texts_to(TOKEN, 42)[0], "status for 42 (owner: true)");
    fx.push_dm(TOKEN, 43, "/status");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 43).len() == 1).await);
    assert_eq!(fx.texts_to(TOKEN, 43)[0], "status for 43 (owner: false)");
    // Not a command: on to the access policy (a pairing code).
    fx.push_dm(TOKEN, 43, "hello");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 43).len() == 2).await);
    assert!(fx.texts_to(TOKEN, 43)[1].contains("pairing code"));
    // In a group a command is an ordinary message.
    fx.push_group(TOKEN, -100, 42, "@fixture_bot /status", false);
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, -100).len() == 1).await);
    assert_eq!(fx.texts_to(TOKEN, -100)[0], "echo: /status");
    assert_eq!(echo.seen.lock().unwrap().len(), 1, "only the group message");

    // The runner can be removed while the channel runs.
    live.set_commands(None);
    fx.push_dm(TOKEN, 42, "/status");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 42).len() == 2).await);
    assert!(fx.texts_to(TOKEN, 42)[1].contains("pairing code"));
    r.stop().await;
}

/// Refuses every non-owner's `/status` (as the rescue role does), counting
/// the attempts it saw (its audit log); anything else is not its business.
#[derive(Default)]
struct Refuser {
    seen: Mutex<usize>,
}

impl openclaw_channels::CommandRunner for Refuser {
    fn run(
        &self,
        msg: &openclaw_channels::Inbound,
        is_owner: bool,
    ) -> Option<BoxFuture<'static, String>> {
        if !msg.text.starts_with("/status") {
            return None;
        }
        *self.seen.lock().unwrap() += 1;
        let text = if is_owner {
            "status: all fine"
        } else {
            "only the owner may do that"
        };
        Some(Box::pin(async move { text.to_string() }))
    }
}

/// Runs a channel with `cfg` and the refusing runner (owner 42).
fn with_refuser(
    d: &Path,
    fx: &BotApiFixture,
    cfg: serde_json::Value,
) -> (Running, Arc<Refuser>, Arc<Ledger>) {
    let owners = vec![openclaw_config::channels::OwnerRef::parse("telegram:42").unwrap()];
    let live = openclaw_channels::Live::new(vec![], owners);
    let refuser = Arc::new(Refuser::default());
    live.set_commands(Some(refuser.clone()));
    let ledger = open_ledger(d, "default").unwrap();
    let ch = TelegramChannel::with_live(
        settings(d, &fx.api_root, cfg),
        ledger.clone(),
        Arc::new(Echo::default()),
        Arc::new(Vec::new),
        live,
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));
    (Running { ch, stop, task }, refuser, ledger)
}

/// Waits until the runner saw `n` commands and every update is finished.
async fn settled(fx: &BotApiFixture, refuser: &Refuser, ledger: &Ledger, n: usize) {
    assert!(
        fx.wait_for(T, |f| f.unconfirmed(TOKEN) == 0
            && *refuser.seen.lock().unwrap() == n
            && ledger.unfinished().is_empty())
            .await,
        "runner saw {}",
        refuser.seen.lock().unwrap()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn refusals_go_only_to_senders_the_policy_admits_and_at_most_once_a_while() {
    let fx = BotApiFixture::start().await;
    fx.add_bot(TOKEN, 999, "fixture_bot");

    // Pairing (the default): a stranger gets one refusal, however often
    // they try; their bare /start still gets the pairing flow.
    let d = tempfile::tempdir().unwrap();
    let (r, refuser, ledger) = with_refuser(d.path(), &fx, json!({}));
    assert!(state_is(&r, ChannelState::Running).await);
    fx.push_dm(TOKEN, 43, "/status main");
    fx.push_dm(TOKEN, 43, "/status main");
    fx.push_dm(TOKEN, 43, "/status other");
    settled(&fx, &refuser, &ledger, 3).await;
    assert_eq!(
        fx.texts_to(TOKEN, 43),
        vec!["only the owner may do that".to_string()]
    );
    fx.push_dm(TOKEN, 43, "/start");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 43).len() == 2).await);
    assert!(fx.texts_to(TOKEN, 43)[1].contains("pairing code"));
    // The owner is never rate-limited.
    fx.push_dm(TOKEN, 42, "/status main");
    fx.push_dm(TOKEN, 42, "/status main");
    assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 42).len() == 2).await);
    r.stop().await;

    // An allowlist without the stranger, and DMs disabled: the policy
    // ignores them, so their commands are refused in silence (still seen
    // by the runner, which logs them).
    for cfg in [
        json!({"dmPolicy": "allowlist", "allowFrom": ["42", "50"]}),
        json!({"dmPolicy": "disabled"}),
    ] {
        let fx = BotApiFixture::start().await;
        fx.add_bot(TOKEN, 999, "fixture_bot");
        let d = tempfile::tempdir().unwrap();
        let (r, refuser, ledger) = with_refuser(d.path(), &fx, cfg.clone());
        assert!(state_is(&r, ChannelState::Running).await);
        fx.push_dm(TOKEN, 44, "/status main");
        fx.push_dm(TOKEN, 44, "/start");
        settled(&fx, &refuser, &ledger, 1).await;
        assert!(
            fx.texts_to(TOKEN, 44).is_empty(),
            "{cfg}: {:?}",
            fx.texts_to(TOKEN, 44)
        );
        if cfg["dmPolicy"] == "allowlist" {
            // Someone the allowlist admits, who is not an owner, is told.
            fx.push_dm(TOKEN, 50, "/status main");
            assert!(fx.wait_for(T, |f| f.texts_to(TOKEN, 50).len() == 1).await);
            assert_eq!(fx.texts_to(TOKEN, 50)[0], "only the owner may do that");
        }
        r.stop().await;
    }
}
