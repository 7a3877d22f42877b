//! Inbound update → reply `sendMessage`, through the real Telegram channel
//! (long poll, ledger fsyncs, access, chunking, HTML) against the local Bot
//! API fixture, with an agent that answers at once. Not a test: prints
//! p50/p99 for docs/benchmarks.md.
//!
//! `cargo bench -p openclaw-channels --bench telegram_latency`

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use openclaw_channels::telegram::{TelegramChannel, TelegramSettings, open_ledger};
use openclaw_channels::testing::BotApiFixture;
use openclaw_channels::token::{BotToken, TokenSource};
use openclaw_channels::{AgentRunner, Channel, RunFailure};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Instant0;

impl AgentRunner for Instant0 {
    fn run(
        &self,
        _: String,
        _: String,
        text: String,
        _: Option<mpsc::UnboundedSender<String>>,
    ) -> BoxFuture<'static, Result<String, RunFailure>> {
        Box::pin(async move { Ok(format!("echo: {text}")) })
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fx = BotApiFixture::start().await;
        let token = "1:bench";
        fx.add_bot(token, 9, "bench_bot");
        let dir = tempfile::tempdir().unwrap();
        let config = serde_json::from_value(json!({"dmPolicy": "open", "allowFrom": ["*"], "apiRoot": fx.api_root})).unwrap();
        let s = TelegramSettings {
            account: "default".into(),
            state_dir: dir.path().to_path_buf(),
            token: BotToken::new(token, TokenSource::Config),
            config,
            bindings: vec![],
            poll_timeout: 30,
            retry_pause: Duration::from_millis(100),
            fix_token_command: String::new(),
            cli: "openclaw --profile main".into(),
        };
        let ch = TelegramChannel::new(s, open_ledger(dir.path(), "default").unwrap(), Arc::new(Instant0), Arc::new(Vec::new));
        let stop = CancellationToken::new();
        tokio::spawn(ch.clone().run(stop.clone()));
        while ch.status().state != openclaw_channels::ChannelState::Running {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let n = 200;
        let mut samples = Vec::with_capacity(n);
        for i in 0..n {
            let before = fx.sent(token).len();
            let t = Instant::now();
            fx.push_dm(token, 1000 + (i as i64 % 10), "ping");
            while fx.sent(token).len() == before {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            samples.push(t.elapsed());
        }
        stop.cancel();
        samples.sort();
        let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
        println!(
            "telegram inbound update -> reply sendMessage ({n} DMs, sequential): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            p(0.5).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3,
            samples[samples.len() - 1].as_secs_f64() * 1e3
        );
    });
}
