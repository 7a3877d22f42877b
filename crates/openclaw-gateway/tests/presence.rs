//! Presence as the original counts it, on real sockets: one-shot `cli`
//! clients are no presence entries and cause no `presence` broadcast; a
//! WebChat client is listed and announced.

mod common;

use std::time::Duration;

use common::free_port;
use futures_util::{SinkExt, StreamExt};
use openclaw_gateway::{Gateway, GatewayOptions, ShutdownHandle};
use openclaw_instance::{ConfigFacts, Env, GlobalFlags, resolve, resolve_paths};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "presence-token-0123456789";
const GUARD: Duration = Duration::from_secs(20);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn recv(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("a frame")
        {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

/// Handshake as a client in `mode`; returns the socket and hello-ok.
async fn client(port: u16, mode: &str) -> (Ws, Value) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap();
    assert_eq!(recv(&mut ws).await["event"], "connect.challenge");
    let connect = json!({"type":"req","id":"c1","method":"connect","params":{
        "minProtocol":4,"maxProtocol":4,
        "client":{"id":mode,"version":"t","platform":"test","mode":mode},
        "auth":{"token":TOKEN},"scopes":["operator.read"]}});
    ws.send(Message::Text(connect.to_string().into()))
        .await
        .unwrap();
    let hello = recv(&mut ws).await;
    assert_eq!(hello["ok"], true, "{hello}");
    (ws, hello["payload"].clone())
}

/// Sends `health` and returns every event that came before its answer.
async fn events_until_answer(ws: &mut Ws, id: &str) -> Vec<Value> {
    let req = json!({"type":"req","id":id,"method":"health","params":{}});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .unwrap();
    let mut events = Vec::new();
    loop {
        let f = recv(ws).await;
        if f["type"] == "res" && f["id"] == id {
            return events;
        }
        events.push(f);
    }
}

/// The modes listed by the next `presence` event.
async fn next_presence(ws: &mut Ws) -> Vec<String> {
    loop {
        let f = recv(ws).await;
        if f["event"] == "presence" {
            assert!(f["seq"].is_u64(), "{f}");
            return f["payload"]["presence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["mode"].as_str().unwrap().to_string())
                .collect();
        }
    }
}

fn start() -> (
    tempfile::TempDir,
    u16,
    ShutdownHandle,
    tokio::task::JoinHandle<()>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let flags = GlobalFlags {
        profile: Some("p".into()),
        ..GlobalFlags::default()
    };
    let paths = resolve_paths(&flags, &Env::new(tmp.path())).unwrap();
    let inst = resolve(&paths, &ConfigFacts::default(), Some(free_port())).unwrap();
    std::fs::create_dir_all(inst.config_path.value.parent().unwrap()).unwrap();
    std::fs::write(
        &inst.config_path.value,
        json!({"gateway": {"auth": {"token": TOKEN}}}).to_string(),
    )
    .unwrap();
    let mut opts = GatewayOptions::new(inst, "0.1.0-test");
    opts.handle_signals = false;
    opts.log_to_stderr = false;
    opts.derived_services = false;
    let bound = Gateway::bind(opts).unwrap();
    let port = bound.port();
    let handle = bound.shutdown_handle();
    let task = tokio::spawn(async move { bound.serve().await.unwrap() });
    (tmp, port, handle, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_clients_cause_no_presence_broadcast_and_webchat_does() {
    let (_tmp, port, handle, task) = start();
    // A watcher that would see every presence broadcast.
    let (mut watcher, hello) = client(port, "webchat").await;
    let version = hello["snapshot"]["stateVersion"]["presence"]
        .as_u64()
        .unwrap();
    let listed: Vec<&str> = hello["snapshot"]["presence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["mode"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["gateway", "webchat"]);
    // The watcher's own join is announced to it.
    assert_eq!(next_presence(&mut watcher).await, ["gateway", "webchat"]);

    // N cli clients connect (all open at once), are served, and leave.
    let mut clis = Vec::new();
    for _ in 0..40 {
        let (mut ws, hello) = client(port, "cli").await;
        assert_eq!(hello["snapshot"]["presence"].as_array().unwrap().len(), 2);
        assert_eq!(hello["snapshot"]["stateVersion"]["presence"], version);
        let evs = events_until_answer(&mut ws, "h").await;
        assert!(evs.iter().all(|e| e["event"] != "presence"), "{evs:?}");
        clis.push(ws);
    }
    for mut ws in clis {
        ws.close(None).await.unwrap();
        while ws.next().await.is_some() {}
    }

    // A WebChat client is announced, with the list that includes it. Events
    // are ordered, so had any cli client caused a broadcast, the watcher
    // would see that one first.
    let (_webchat, hello) = client(port, "webchat").await;
    assert_eq!(
        hello["snapshot"]["stateVersion"]["presence"]
            .as_u64()
            .unwrap(),
        version + 1
    );
    assert_eq!(
        next_presence(&mut watcher).await,
        ["gateway", "webchat", "webchat"]
    );
    handle.shutdown("test done");
    task.await.unwrap();
}
