//! A client that stops reading while events flow is closed once its unsent
//! frames pass `maxBufferedBytes`, and the gateway's memory stays bounded
//! meanwhile. Its own test binary, so the RSS read from /proc is this
//! gateway's and no other test's.
//!
//! The flow is a real agent run against a fixture model server: 1000 text
//! deltas, each `chat` event carrying the whole text so far (about 100 MB
//! of events in all). The RSS check is a generous bound, not a timing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::free_port;
use futures_util::{SinkExt, StreamExt};
use openclaw_agent::testing::{Fixture, ok_sse, openai_text};
use openclaw_gateway::{Gateway, GatewayOptions};
use openclaw_instance::{ConfigFacts, Env, GlobalFlags, resolve, resolve_paths};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "slow-client-token-0123456789";
const GUARD: Duration = Duration::from_secs(120);
const MAX_BUFFERED: usize = 1024 * 1024;
/// Far below the ~100 MB the run produces for the silent client.
const RSS_GROWTH_LIMIT: u64 = 64 * 1024 * 1024;

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_memory_stays_bounded() {
    // ~100 bytes per delta, 1000 deltas.
    let pieces: Vec<String> = (0..1000)
        .map(|i| format!("{i:>5} {}", "w".repeat(94)))
        .collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let fx = Fixture::start(vec![ok_sse(openai_text(&refs))], false).await;

    let tmp = tempfile::tempdir().unwrap();
    let flags = GlobalFlags {
        profile: Some("slow".into()),
        ..GlobalFlags::default()
    };
    let paths = resolve_paths(&flags, &Env::new(tmp.path())).unwrap();
    let inst = resolve(&paths, &ConfigFacts::default(), Some(free_port())).unwrap();
    std::fs::create_dir_all(inst.config_path.value.parent().unwrap()).unwrap();
    let config = json!({
        "gateway": {"auth": {"token": TOKEN}},
        "models": {"providers": {"fx": {"baseUrl": fx.base_url, "api": "openai-completions",
            "apiKey": "sk-fixture", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "fx/m"}}},
    });
    std::fs::write(&inst.config_path.value, config.to_string()).unwrap();
    let mut opts = GatewayOptions::new(inst.clone(), "0.1.0-test");
    opts.handle_signals = false;
    opts.log_to_stderr = false;
    opts.derived_services = false;
    opts.max_buffered_bytes = MAX_BUFFERED;
    let bound = Gateway::bind(opts).unwrap();
    let port = bound.port();
    let log_path = bound.log_path().unwrap();
    let handle = bound.shutdown_handle();
    let served = tokio::spawn(bound.serve());

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap();
    let _challenge = ws.next().await.unwrap().unwrap();
    let connect = json!({"type":"req","id":"c1","method":"connect","params":{
        "minProtocol":4,"maxProtocol":4,
        "client":{"id":"webchat","version":"t","platform":"test","mode":"webchat"},
        "auth":{"token":TOKEN},"scopes":["operator.read","operator.write"]}});
    ws.send(Message::Text(connect.to_string().into()))
        .await
        .unwrap();
    let hello: Value = match ws.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["policy"]["maxBufferedBytes"], MAX_BUFFERED);

    // Sample RSS from here on; the peak is what must stay bounded.
    let baseline = rss_bytes();
    let peak = Arc::new(AtomicU64::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    // Start the run, then read nothing while its events flow.
    let send =
        json!({"type":"req","id":"s1","method":"chat.send","params":{"message":"talk a lot"}});
    ws.send(Message::Text(send.to_string().into()))
        .await
        .unwrap();
    tokio::time::timeout(GUARD, async {
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("does not read its frames") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the gateway gives up on the silent client");
    // Let the run finish: the events still produced have nowhere to queue.
    let outcome = openclaw_client::connect(
        &format!("ws://127.0.0.1:{port}"),
        Some(TOKEN),
        &["operator.read"],
    )
    .await
    .unwrap();
    let sessions = tokio::time::timeout(GUARD, async {
        loop {
            let l = outcome.call("sessions.list", json!({})).await.unwrap();
            if l["sessions"][0]["running"] == false {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the run ends");
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    assert!(
        growth < RSS_GROWTH_LIMIT,
        "RSS grew by {} MiB while the client did not read",
        growth >> 20
    );

    // Reading again, the client gets what the socket held, then the close
    // frame that says why.
    let (code, reason) = tokio::time::timeout(GUARD, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(f)))) => {
                    return (u16::from(f.code), f.reason.to_string());
                }
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame");
    assert_eq!(code, 1008);
    assert!(
        reason.starts_with(openclaw_protocol::SLOW_CONSUMER_REASON),
        "{reason}"
    );
    // Others were served all along.
    assert_eq!(outcome.call("health", json!({})).await.unwrap()["ok"], true);
    outcome.close().await;
    handle.shutdown("test done");
    served.await.unwrap().unwrap();
}
