//! Property tests of the Telegram channel's inbound parsing and reply text.
//!
//! Inbound: random updates — well-formed DMs and group messages, and the
//! same with fields missing, of the wrong type, nested oddly, or arbitrary
//! JSON — go through the real channel against the local Bot API fixture
//! (Telegram's JSON over real HTTP). The channel stays running, confirms
//! every update (nothing is re-fetched forever), answers every well-formed
//! DM, and nothing panics. Reply text: `text::chunk` keeps every piece
//! within the limit, `text::to_telegram_html` always produces markup
//! Telegram accepts.
//!
//! Only public entry points are used (TelegramChannel, BotApiFixture,
//! text::*), so the pipeline inside can change freely.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use openclaw_channels::telegram::{TelegramChannel, TelegramSettings, open_ledger};
use openclaw_channels::testing::BotApiFixture;
use openclaw_channels::text::{chunk, to_telegram_html};
use openclaw_channels::token::{BotToken, TokenSource};
use openclaw_channels::{AgentRunner, Channel, ChannelState, RunFailure};
use openclaw_config::channels::Telegram;
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "222:fuzz-token";
const BOT_ID: i64 = 999;

struct Echo;

impl AgentRunner for Echo {
    fn run(
        &self,
        _agent_id: String,
        _session_key: String,
        text: String,
        _deltas: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        Box::pin(async move { Ok(format!("echo: {text}")) })
    }
}

/// Panics on the channel's runtime threads (a panicking channel task
/// would otherwise die silently inside the runtime). Other tests of this
/// binary run on other threads and are not counted.
static PANICS: AtomicUsize = AtomicUsize::new(0);
const RT_THREADS: &str = "fuzz-telegram-rt";

fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(RT_THREADS) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            prev(info);
        }));
    });
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "hi", "@fuzz_bot hello", "@FUZZ_BOT", "hey @fuzz_bot", "@fuzz_botx", "İstanbul @fuzz_bot",
            "**bold** _it_ `code`", "```rust\nfn main() {}\n```", "<b>not html</b> & co", "   ",
            "ß\u{301}😀", "/start", "a\nb\n\nc",
        ]).prop_map(String::from),
        2 => any::<String>(),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "message", "text", "from", "chat", "id", "type", "is_bot", "username", "x"
                ])
                .prop_map(String::from),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One update to push, and the chat that must get an answer (a
/// well-formed DM with something to say).
fn update(n: i64) -> impl Strategy<Value = (Value, Option<i64>)> {
    let dm_chat = 10_000 + n;
    prop_oneof![
        // A well-formed DM.
        3 => text().prop_map(move |t| {
            let answer = (!t.trim().is_empty()).then_some(dm_chat);
            (json!({"message": {"message_id": n, "date": 0, "text": t,
                "from": {"id": dm_chat, "is_bot": false, "first_name": "u", "username": "u"},
                "chat": {"id": dm_chat, "type": "private"}}}), answer)
        }),
        // A group message, maybe mentioning or replying to the bot.
        2 => (text(), any::<bool>(), prop::sample::select(vec!["group", "supergroup", "channel", ""])).prop_map(move |(t, reply, kind)| {
            let mut m = json!({"message_id": n, "date": 0, "text": t,
                "from": {"id": 7, "is_bot": false, "first_name": "g"},
                "chat": {"id": -100 - n, "type": kind}});
            if reply {
                m["reply_to_message"] = json!({"message_id": 1, "from": {"id": BOT_ID, "is_bot": true}});
            }
            (json!({"message": m}), None)
        }),
        // The same shapes with parts replaced by anything.
        2 => (any_json(), any_json(), any_json(), any_json()).prop_map(move |(t, from, chat, reply)| {
            (json!({"message": {"message_id": n, "text": t, "from": from, "chat": chat,
                "reply_to_message": reply}}), None)
        }),
        // Whatever Telegram might add or a bug might send.
        1 => any_json().prop_map(|v| (json!({"message": v}), None)),
        1 => any_json().prop_map(|v| (json!({"edited_message": v, "callback_query": v}), None)),
    ]
}

fn updates() -> impl Strategy<Value = Vec<(Value, Option<i64>)>> {
    (0i64..24).prop_flat_map(|len| (0..len).map(update).collect::<Vec<_>>())
}

async fn run_channel(batch: Vec<(Value, Option<i64>)>) -> Result<(), String> {
    let fx = BotApiFixture::start().await;
    fx.add_bot(TOKEN, BOT_ID, "fuzz_bot");
    let d = tempfile::tempdir().unwrap();
    let mut cfg = json!({"dmPolicy": "open", "allowFrom": ["*"], "groupPolicy": "open"});
    cfg["apiRoot"] = json!(fx.api_root);
    let config: Telegram = serde_json::from_value(cfg).unwrap();
    let settings = TelegramSettings {
        account: "default".into(),
        state_dir: d.path().to_path_buf(),
        token: BotToken::new(TOKEN, TokenSource::Config),
        config,
        bindings: vec![],
        poll_timeout: 1,
        retry_pause: Duration::from_millis(100),
        fix_token_command: "openclaw config set channels.telegram.botToken <TOKEN>".into(),
        cli: "openclaw --profile main".into(),
    };
    let ledger = open_ledger(d.path(), "default").unwrap();
    let ch = TelegramChannel::new(settings, ledger, Arc::new(Echo), Arc::new(Vec::new));
    let stop = CancellationToken::new();
    let task = tokio::spawn(ch.clone().run(stop.clone()));
    let mut must_answer = Vec::new();
    for (u, answer) in batch {
        fx.push_update(TOKEN, u);
        must_answer.extend(answer);
    }
    let done = fx
        .wait_for(Duration::from_secs(60), |fx| {
            ch.status().state == ChannelState::Running
                && fx.unconfirmed(TOKEN) == 0
                && must_answer
                    .iter()
                    .all(|chat| !fx.texts_to(TOKEN, *chat).is_empty())
        })
        .await;
    let state = ch.status().state;
    stop.cancel();
    let _ = task.await;
    if !done {
        return Err(format!(
            "{} updates unconfirmed; unanswered DMs: {:?}",
            fx.unconfirmed(TOKEN),
            must_answer
                .iter()
                .filter(|c| fx.texts_to(TOKEN, **c).is_empty())
                .collect::<Vec<_>>()
        ));
    }
    if state != ChannelState::Running {
        return Err(format!("channel state {state:?} after the batch"));
    }
    Ok(())
}

proptest! {
    // Each case starts a channel and pushes up to 24 updates through real
    // HTTP and the ledger's fsyncs: few cases, many updates each.
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn any_updates_are_confirmed_and_wellformed_dms_answered(batch in updates()) {
        count_panics();
        let before = PANICS.load(Ordering::SeqCst);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(RT_THREADS)
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(run_channel(batch));
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), before, "a task panicked");
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

/// Telegram's HTML rules: only its tags, properly nested; `&` only as
/// `&amp;` `&lt;` `&gt;` `&quot;`.
fn telegram_accepts(html: &str) -> Result<(), String> {
    const TAGS: [&str; 6] = ["b", "i", "s", "code", "pre", "a"];
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = html;
    while let Some(p) = rest.find(['<', '&']) {
        let after = &rest[p..];
        if let Some(entity) = after.strip_prefix('&') {
            if !["amp;", "lt;", "gt;", "quot;"]
                .iter()
                .any(|e| entity.starts_with(e))
            {
                return Err(format!("bare & at {after:.20}"));
            }
            rest = entity;
            continue;
        }
        let end = after.find('>').ok_or("unclosed tag")?;
        let tag = &after[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop() != Some(name) {
                return Err(format!("mismatched </{name}>"));
            }
        } else {
            let name = tag.split(' ').next().unwrap_or("");
            let link = name == "a" && tag.starts_with("a href=\"") && tag.ends_with('"');
            if !link && (name == "a" || !TAGS.contains(&name)) {
                return Err(format!("unexpected tag <{tag}>"));
            }
            if name == "code" && tag != "code" && !tag.starts_with("code class=\"language-") {
                return Err(format!("odd attribute <{tag}>"));
            }
            stack.push(name);
        }
        rest = &after[end + 1..];
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed {stack:?}"))
    }
}

fn markdownish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec![
                "*", "**", "_", "__", "~~", "`", "```", "```rust", "\n", " ", "#", "# ", "[", "]",
                "(", ")", "<", ">", "&", "\"", "http://x.y/a?b=1&c=2", "word", "é", "😀",
            ]).prop_map(String::from),
            1 => any::<char>().prop_map(String::from),
        ],
        0..60,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn reply_html_is_always_accepted(md in markdownish()) {
        let html = to_telegram_html(&md);
        prop_assert!(telegram_accepts(&html).is_ok(), "{:?} -> {:?}: {:?}", md, html, telegram_accepts(&html));
    }

    #[test]
    fn chunks_fit_the_limit(text in markdownish(), limit in 0usize..200) {
        let pieces = chunk(&text, limit);
        let lim = limit.max(16);
        for p in &pieces {
            prop_assert!(!p.trim().is_empty());
            prop_assert!(p.chars().count() <= lim, "{} chars > {lim}: {p:?}", p.chars().count());
        }
        if !text.contains("```") {
            let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            prop_assert_eq!(squash(&pieces.concat()), squash(&text));
        }
    }
}
