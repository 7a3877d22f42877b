//! End-to-end tests of the gateway library on real loopback sockets: the
//! observed WebSocket scenarios, ownership, port conflicts, config CAS,
//! shutdown, HTTP probes, and the client's probe. Process-level behaviour
//! (SIGTERM, kill -9) runs this test binary again as a child gateway.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{Served, free_port, test_options, write_config};
use futures_util::{SinkExt, StreamExt};
use openclaw_client::{ClientError, FoundVia, Probe};
use openclaw_gateway::{
    AuthConfig, BindMode, Gateway, GatewayError, GatewayOptions, KnownInstance, KnownInstances,
    ListenerSpec,
};
use openclaw_instance::{ConfigFacts, Env, GlobalFlags, Instance, resolve, resolve_paths};
use openclaw_state::owner::{OWNER_FILE, StateLock, read_owner};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "test-token-0123456789abcdef";
const GUARD: Duration = Duration::from_secs(10);

/// An instance selected by OPENCLAW_STATE_DIR / OPENCLAW_CONFIG_PATH (the
/// manual env example) or by profile, with the gateway port given as --port.
fn instance(home: &Path, profile: Option<&str>, state_dir: Option<&Path>, port: u16) -> Instance {
    let mut env = Env::new(home);
    if let Some(sd) = state_dir {
        env = env.with("OPENCLAW_STATE_DIR", sd.to_str().unwrap());
    }
    let flags = GlobalFlags {
        profile: profile.map(str::to_string),
        ..GlobalFlags::default()
    };
    let paths = resolve_paths(&flags, &env).unwrap();
    resolve(&paths, &ConfigFacts::default(), Some(port)).unwrap()
}

fn configured(inst: &Instance) {
    write_config(
        inst,
        &json!({"gateway": {"mode": "local", "bind": "loopback", "auth": {"mode": "token", "token": TOKEN}}}),
    );
}

fn options(inst: &Instance) -> GatewayOptions {
    let mut o = test_options(inst);
    o.handshake_timeout = Duration::from_millis(300);
    o
}

struct Fixture {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    inst: Instance,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().to_path_buf();
    let inst = instance(&home, Some("main"), None, free_port());
    configured(&inst);
    Fixture {
        _tmp: tmp,
        home,
        inst,
    }
}

// ---- raw WebSocket helpers ----

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw(url: &str) -> RawWs {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Next text frame as JSON, or Err((close code, reason)) when closed.
async fn recv(ws: &mut RawWs) -> Result<Value, (u16, String)> {
    loop {
        let msg = tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("frame within guard");
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(Some(f)))) => {
                return Err((u16::from(f.code), f.reason.to_string()));
            }
            Some(Ok(Message::Close(None))) | None => return Err((1005, String::new())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err((0, e.to_string())),
        }
    }
}

async fn send(ws: &mut RawWs, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

fn connect_req(min: u32, max: u32, auth: Value, scopes: &[&str]) -> Value {
    json!({"type":"req","id":"c1","method":"connect","params":{
        "minProtocol":min,"maxProtocol":max,
        "client":{"id":"cli","version":"2026.9.6","platform":"linux","mode":"cli"},
        "auth":auth,"role":"operator","scopes":scopes}})
}

async fn expect_challenge(ws: &mut RawWs) {
    let ch = recv(ws).await.unwrap();
    assert_eq!(ch["type"], "event");
    assert_eq!(ch["event"], "connect.challenge");
    assert!(
        ch["payload"]["nonce"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert!(ch["payload"]["ts"].as_u64().is_some());
}

/// Connects with the token and scopes; returns the socket after hello-ok.
async fn handshake(url: &str, scopes: &[&str]) -> (RawWs, Value) {
    let mut ws = raw(url).await;
    expect_challenge(&mut ws).await;
    send(&mut ws, connect_req(4, 4, json!({"token": TOKEN}), scopes)).await;
    let res = recv(&mut ws).await.unwrap();
    assert_eq!(res["ok"], true, "{res}");
    (ws, res["payload"].clone())
}

async fn response_to(ws: &mut RawWs, id: &str) -> Value {
    loop {
        let f = recv(ws).await.unwrap();
        if f["type"] == "res" && f["id"] == id {
            return f;
        }
    }
}

// ---- the observed scenarios ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_ok_read_scope() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let (mut ws, hello) = handshake(&g.url(), &["operator.read"]).await;
    assert_eq!(hello["type"], "hello-ok");
    assert_eq!(hello["protocol"], 4);
    assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
    send(
        &mut ws,
        json!({"type":"req","id":"r1","method":"gateway.identity.get","params":{}}),
    )
    .await;
    send(
        &mut ws,
        json!({"type":"req","id":"r2","method":"no.such.method","params":{}}),
    )
    .await;
    send(
        &mut ws,
        json!({"type":"req","id":"r3","method":"config.set","params":{"raw":"{}"}}),
    )
    .await;
    let r1 = response_to(&mut ws, "r1").await;
    assert_eq!(r1["ok"], true);
    assert!(r1["payload"]["deviceId"].is_string());
    for id in ["r2", "r3"] {
        let r = response_to(&mut ws, id).await;
        assert_eq!(
            r["error"],
            json!({"code":"FORBIDDEN","message":"missing scope: operator.admin","details":{"code":"MISSING_SCOPE","missingScope":"operator.admin","requiredScopes":["operator.admin"]}})
        );
    }
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_badtoken_notoken_badproto() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());

    let mut ws = raw(&g.url()).await;
    expect_challenge(&mut ws).await;
    send(
        &mut ws,
        connect_req(4, 4, json!({"token":"wrong-token"}), &["operator.read"]),
    )
    .await;
    let res = recv(&mut ws).await.unwrap();
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert_eq!(res["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    let (code, reason) = recv(&mut ws).await.unwrap_err();
    assert_eq!(code, 1008);
    assert!(
        reason.starts_with("unauthorized: gateway token mismatch"),
        "{reason}"
    );

    let mut ws = raw(&g.url()).await;
    expect_challenge(&mut ws).await;
    send(&mut ws, connect_req(4, 4, json!({}), &["operator.read"])).await;
    let res = recv(&mut ws).await.unwrap();
    assert_eq!(
        res["error"],
        json!({"code":"NOT_PAIRED","message":"device identity required","details":{"code":"DEVICE_IDENTITY_REQUIRED"}})
    );
    assert_eq!(
        recv(&mut ws).await.unwrap_err(),
        (1008, "device identity required".into())
    );

    let mut ws = raw(&g.url()).await;
    expect_challenge(&mut ws).await;
    send(
        &mut ws,
        connect_req(1, 2, json!({"token": TOKEN}), &["operator.read"]),
    )
    .await;
    let res = recv(&mut ws).await.unwrap();
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert_eq!(res["error"]["message"], "protocol mismatch");
    assert_eq!(res["error"]["details"]["code"], "PROTOCOL_MISMATCH");
    assert_eq!(res["error"]["details"]["clientMaxProtocol"], 2);
    assert_eq!(
        recv(&mut ws).await.unwrap_err(),
        (1002, "protocol mismatch".into())
    );

    // An older client's range 3..3 is served with protocol 3.
    let mut ws = raw(&g.url()).await;
    expect_challenge(&mut ws).await;
    send(
        &mut ws,
        connect_req(3, 3, json!({"token": TOKEN}), &["operator.read"]),
    )
    .await;
    assert_eq!(recv(&mut ws).await.unwrap()["payload"]["protocol"], 3);
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_early_req_garbage_silent() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());

    // early-req: the request is sent before reading; the challenge still comes first.
    let mut ws = raw(&g.url()).await;
    send(
        &mut ws,
        json!({"type":"req","id":"x1","method":"health","params":{}}),
    )
    .await;
    expect_challenge(&mut ws).await;
    let res = recv(&mut ws).await.unwrap();
    assert_eq!(
        res,
        json!({"type":"res","id":"x1","ok":false,"error":{"code":"INVALID_REQUEST","message":"invalid handshake: first request must be connect"}})
    );
    assert_eq!(
        recv(&mut ws).await.unwrap_err(),
        (
            1008,
            "invalid handshake: first request must be connect".into()
        )
    );

    // garbage: challenge, then close. The original closes 1000 ("done");
    // we say what happened: 1007, not JSON.
    let mut ws = raw(&g.url()).await;
    ws.send(Message::Text("not json".into())).await.unwrap();
    expect_challenge(&mut ws).await;
    let (code, reason) = recv(&mut ws).await.unwrap_err();
    assert_eq!(code, 1007);
    assert!(reason.starts_with("invalid JSON"), "{reason}");

    // silent: closed after the (300 ms here) handshake timeout; the
    // original closes 1000, we close 1008 naming the timeout.
    let mut ws = raw(&g.url()).await;
    expect_challenge(&mut ws).await;
    assert_eq!(
        recv(&mut ws).await.unwrap_err(),
        (
            1008,
            "handshake timeout: no connect request within 300 ms".into()
        )
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_admin_and_hello_ok_snapshot() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let (mut ws, hello) = handshake(&g.url(), &["operator.admin"]).await;
    let snap = &hello["snapshot"];
    assert_eq!(snap["stateDir"], json!(f.inst.state_dir.value));
    assert_eq!(snap["configPath"], json!(f.inst.config_path.value));
    assert_eq!(snap["profile"], "main");
    assert_eq!(snap["presence"][0]["mode"], "gateway");
    assert!(snap["stateVersion"]["presence"].is_u64());
    assert!(snap["uptimeMs"].is_u64());
    assert_eq!(hello["server"]["version"], "0.1.0-test");
    assert!(hello["server"]["connId"].is_string());
    assert_eq!(hello["policy"]["tickIntervalMs"], 30000);
    assert!(hello["policy"]["maxPayload"].is_u64() && hello["policy"]["maxBufferedBytes"].is_u64());
    let methods = hello["features"]["methods"].as_array().unwrap();
    for m in [
        "health",
        "status",
        "config.get",
        "config.patch",
        "logs.tail",
        "system-presence",
    ] {
        assert!(methods.contains(&json!(m)), "{m}");
    }
    send(
        &mut ws,
        json!({"type":"req","id":"r0","method":"no.such.method","params":{}}),
    )
    .await;
    send(
        &mut ws,
        json!({"type":"req","id":"r1","method":"config.get","params":{}}),
    )
    .await;
    assert_eq!(
        response_to(&mut ws, "r0").await["error"],
        json!({"code":"INVALID_REQUEST","message":"unknown method: no.such.method"})
    );
    let cfg = response_to(&mut ws, "r1").await["payload"].clone();
    assert_eq!(cfg["exists"], true);
    assert_eq!(cfg["path"], json!(f.inst.config_path.value));
    assert!(
        cfg["raw"].as_str().unwrap().contains(TOKEN),
        "admin sees the raw file"
    );
    assert_eq!(
        cfg["parsed"]["gateway"]["auth"]["token"],
        openclaw_gateway::REDACTED
    );
    assert_eq!(
        cfg["hash"].as_str().unwrap().len(),
        64,
        "sha-256 hex of the file"
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_scope_never_sees_secrets_and_methods_answer() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let c = openclaw_client::connect(&g.url(), Some(TOKEN), &["operator.read"])
        .await
        .unwrap();
    let cfg = c.call("config.get", json!({})).await.unwrap();
    assert!(!cfg.to_string().contains(TOKEN), "{cfg}");
    let status = c.call("status", json!({})).await.unwrap();
    assert_eq!(status["port"], g.port);
    assert_eq!(status["stateDir"], json!(f.inst.state_dir.value));
    assert_eq!(status["pid"], std::process::id());
    assert!(!status.to_string().contains(TOKEN));
    assert_eq!(c.call("health", json!({})).await.unwrap()["ok"], true);
    // The same schema as `openclaw config schema`: gateway.port is a Port,
    // bounded 1..=65535.
    let schema = c.call("config.schema", json!({})).await.unwrap();
    assert_eq!(schema, openclaw_config::schema());
    assert_eq!(
        schema["$defs"]["Gateway"]["properties"]["port"]["anyOf"][0]["$ref"],
        "#/$defs/Port"
    );
    assert_eq!(schema["$defs"]["Port"]["minimum"], 1);
    assert_eq!(schema["$defs"]["Port"]["maximum"], 65535);
    let presence = c.call("system-presence", json!({})).await.unwrap();
    assert!(
        presence
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["mode"] == "cli")
    );
    let logs = c.call("logs.tail", json!({"lines": 50})).await.unwrap();
    let lines = logs["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("ready: listening")),
        "{logs}"
    );
    assert!(!logs.to_string().contains(TOKEN), "no secret in logs");
    assert_eq!(
        logs["file"],
        json!(f.inst.state_dir.value.join("logs").join("gateway.log"))
    );
    c.close().await;
    g.stop().await;
}

// ---- ownership and ports ----

/// Every file under `dir` with its length and mtime.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_gateway_on_same_state_dir_is_refused_with_78() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let before = tree(&f.inst.state_dir.value);
    // Same state dir, another port and another config path: still the same conflict.
    let mut other = instance(&f.home, Some("main"), None, free_port());
    other.config_path.value = f.home.join("elsewhere.json");
    configured(&other);
    let err = Gateway::bind(options(&other)).err().expect("refused");
    assert_eq!(err.exit_code(), 78);
    let msg = err.to_string();
    assert!(
        msg.contains(&f.inst.state_dir.value.display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(
        msg.contains("profile main") && msg.contains(&format!("port {}", g.port)),
        "{msg}"
    );
    assert!(
        msg.contains("openclaw --profile main gateway stop"),
        "{msg}"
    );
    assert_eq!(
        tree(&f.inst.state_dir.value),
        before,
        "refused start changed the state dir"
    );
    // The first keeps serving.
    let c = openclaw_client::connect(&g.url(), Some(TOKEN), &[])
        .await
        .unwrap();
    assert_eq!(c.call("health", json!({})).await.unwrap()["ok"], true);
    c.close().await;
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_port_names_the_owning_instance_and_changes_nothing() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let rescue = instance(&f.home, Some("rescue"), None, g.port);
    configured(&rescue);
    let before_main = tree(&f.inst.state_dir.value);
    let before_rescue = tree(&rescue.state_dir.value);
    let mut opts = options(&rescue);
    let known = vec![
        KnownInstance {
            label: "profile main".into(),
            state_dir: f.inst.state_dir.value.clone(),
            stop_command: "openclaw --profile main gateway stop".into(),
        },
        KnownInstance {
            label: "profile rescue".into(),
            state_dir: rescue.state_dir.value.clone(),
            stop_command: "openclaw --profile rescue gateway stop".into(),
        },
    ];
    opts.known_instances = KnownInstances::new(move || known.clone());
    let err = Gateway::bind(opts).err().expect("port taken");
    assert_eq!(err.exit_code(), 69);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("port {}", g.port)) && msg.contains("(gateway)"),
        "{msg}"
    );
    assert!(msg.contains("profile main"), "{msg}");
    assert!(
        msg.contains(&f.inst.state_dir.value.display().to_string()),
        "{msg}"
    );
    assert_eq!(tree(&f.inst.state_dir.value), before_main);
    assert_eq!(tree(&rescue.state_dir.value), before_rescue);
    assert!(!rescue.state_dir.value.join("logs").exists());
    // The lock was released with the failed start.
    drop(StateLock::acquire(&rescue.state_dir.value).unwrap());
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_listener_conflict_names_its_purpose() {
    let f = fixture();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let mut opts = options(&f.inst);
    opts.extra_listeners.push(ListenerSpec {
        purpose: "canvas host".into(),
        port: taken,
        host: None,
    });
    let err = Gateway::bind(opts).err().unwrap();
    assert_eq!(err.exit_code(), 69);
    assert!(
        err.to_string()
            .contains(&format!("port {taken} (canvas host)")),
        "{err}"
    );
    assert!(read_owner(&f.inst.state_dir.value).is_none());
    // A free extra port is bound, recorded, and handed over.
    let extra = free_port();
    let mut opts = options(&f.inst);
    opts.extra_listeners.push(ListenerSpec {
        purpose: "canvas host".into(),
        port: extra,
        host: None,
    });
    let mut bound = Gateway::bind(opts).unwrap();
    let rec = read_owner(&f.inst.state_dir.value).unwrap();
    assert!(
        rec.listeners
            .iter()
            .any(|l| l.purpose == "canvas host" && l.port == extra)
    );
    let l = bound.take_listener("canvas host").unwrap();
    assert_eq!(l.local_addr().unwrap().port(), extra);
    Served::serve(bound).stop().await;
}

#[test]
fn unconfigured_and_unsafe_binds_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = instance(tmp.path(), Some("rescue"), None, free_port());
    let err = Gateway::bind(options(&inst)).err().unwrap();
    assert!(
        err.to_string()
            .contains("`openclaw --profile rescue setup`"),
        "{err}"
    );
    assert!(
        !inst.state_dir.value.exists(),
        "a refused start created the state dir"
    );
    let mut opts = options(&inst);
    opts.allow_unconfigured = true;
    opts.bind = Some(BindMode::Lan);
    let err = Gateway::bind(opts).err().unwrap();
    assert!(matches!(err, GatewayError::UnsafeBind { .. }), "{err}");
    let mut opts = options(&inst);
    opts.allow_unconfigured = true;
    assert!(Gateway::bind(opts).is_ok());
}

// ---- config ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_patch_is_compare_and_swap() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let c = openclaw_client::connect(&g.url(), Some(TOKEN), &["operator.admin"])
        .await
        .unwrap();
    let cfg = c.call("config.get", json!({})).await.unwrap();
    let hash = cfg["hash"].as_str().unwrap().to_string();
    let path = &f.inst.config_path.value;
    let before = std::fs::read(path).unwrap();

    let err = c
        .call("config.patch", json!({"baseHash": "sha256:stale", "patch": {"agents": {"defaults": {"workspace": "/w"}}}}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "CONFLICT");
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "stale write changed the file"
    );
    let err = c
        .call(
            "config.patch",
            json!({"baseHash": hash, "patch": {"gateway": {"port": 0}}}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "INVALID_REQUEST", "{err}");
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "invalid write changed the file"
    );

    let ok = c
        .call(
            "config.patch",
            json!({"baseHash": hash, "patch": {"agents": {"defaults": {"workspace": "/w"}}}}),
        )
        .await
        .unwrap();
    assert_ne!(ok["hash"], json!(hash));
    let cfg = c.call("config.get", json!({})).await.unwrap();
    assert_eq!(cfg["parsed"]["agents"]["defaults"]["workspace"], "/w");
    assert_eq!(cfg["hash"], ok["hash"]);
    let on_disk: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(on_disk["gateway"]["auth"]["token"], TOKEN, "secret kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The old hash is now stale.
    let err = c
        .call("config.set", json!({"baseHash": hash, "raw": "{}"}))
        .await
        .unwrap_err();
    assert_eq!(err.code, "CONFLICT");
    // This gateway runs with --port: a gateway.port change is written but
    // changes nothing here (the flag wins, as on a restart).
    let res = c
        .call(
            "config.patch",
            json!({"baseHash": ok["hash"], "patch": {"gateway": {"port": free_port()}}}),
        )
        .await
        .unwrap();
    assert_eq!(res["restartRequired"], false);
    // A bind change needs a restart (reload mode off: reported, not done).
    let res = c
        .call(
            "config.patch",
            json!({"baseHash": res["hash"], "patch": {"gateway": {"bind": "lan", "reload": {"mode": "off"}}}}),
        )
        .await
        .unwrap();
    assert_eq!(res["restartRequired"], true);
    c.close().await;
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_change_on_disk_is_picked_up_without_restart() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    write_config(
        &f.inst,
        &json!({"gateway": {"auth": {"mode": "token", "token": "a-new-token-of-another-length"}}}),
    );
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        match openclaw_client::connect(&g.url(), Some("a-new-token-of-another-length"), &[]).await {
            Ok(c) => {
                c.close().await;
                break;
            }
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("new token never accepted: {e}"),
        }
    }
    let err = openclaw_client::connect(&g.url(), Some(TOKEN), &[])
        .await
        .err()
        .unwrap();
    match err {
        ClientError::Rejected {
            error, close_code, ..
        } => {
            assert_eq!(error.detail_code(), Some("AUTH_TOKEN_MISMATCH"));
            assert_eq!(close_code, Some(1008));
        }
        other => panic!("{other}"),
    }
    g.stop().await;
}

/// A config edit that names an auth mode without its secret fails closed:
/// the running gateway keeps its token rather than dropping auth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_auth_on_disk_keeps_the_previous_auth() {
    let f = fixture();
    let bound = Gateway::bind(options(&f.inst)).unwrap();
    let log = bound.log_path().expect("file log");
    let g = Served::serve(bound);
    write_config(&f.inst, &json!({"gateway": {"auth": {"mode": "password"}}}));
    let deadline = tokio::time::Instant::now() + GUARD;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("gateway settings were not applied")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reload never reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still the old token; still no way in without one.
    openclaw_client::connect(&g.url(), Some(TOKEN), &[])
        .await
        .expect("previous token still accepted")
        .close()
        .await;
    assert!(openclaw_client::connect(&g.url(), None, &[]).await.is_err());
    g.stop().await;
}

// ---- events, limits, HTTP ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_and_shutdown_events_reach_clients_and_the_lock_is_freed() {
    let f = fixture();
    let mut opts = options(&f.inst);
    opts.tick_interval = Duration::from_millis(50);
    let g = Served::serve(Gateway::bind(opts).unwrap());
    let mut a = openclaw_client::connect(&g.url(), Some(TOKEN), &[])
        .await
        .unwrap();
    let mut b = openclaw_client::connect(&g.url(), Some(TOKEN), &[])
        .await
        .unwrap();
    assert_eq!(a.hello().policy.tick_interval_ms, 50);
    loop {
        let ev = tokio::time::timeout(GUARD, a.next_event())
            .await
            .unwrap()
            .unwrap();
        if ev.event == "tick" {
            assert!(ev.seq.is_some() && ev.payload["ts"].is_u64());
            break;
        }
    }
    g.handle.shutdown("test shutdown");
    for c in [&mut a, &mut b] {
        loop {
            let ev = tokio::time::timeout(GUARD, c.next_event())
                .await
                .unwrap()
                .expect("shutdown event before close");
            if ev.event == "shutdown" {
                assert_eq!(ev.payload["reason"], "test shutdown");
                assert!(ev.payload.get("restartExpectedMs").is_some());
                break;
            }
        }
    }
    tokio::time::timeout(GUARD, g.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(a.closed().await.is_some(), "close frame sent");
    assert!(!f.inst.state_dir.value.join(OWNER_FILE).exists());
    drop(StateLock::acquire(&f.inst.state_dir.value).expect("lock free after shutdown"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused() {
    let f = fixture();
    let mut opts = options(&f.inst);
    opts.max_payload = 4096;
    let g = Served::serve(Gateway::bind(opts).unwrap());
    let (mut ws, hello) = handshake(&g.url(), &["operator.read"]).await;
    assert_eq!(hello["policy"]["maxPayload"], 4096);
    let big = "x".repeat(10_000);
    let _ = ws
        .send(Message::Text(
            json!({"type":"req","id":"r1","method":"health","params":{"pad": big}})
                .to_string()
                .into(),
        ))
        .await;
    let end = loop {
        match recv(&mut ws).await {
            Ok(v) if v["type"] == "event" => continue,
            other => break other,
        }
    };
    let (code, _) = end.expect_err("connection closed");
    assert_eq!(code, 1009, "message too big");
    g.stop().await;
}

/// Frames far larger than the connection's 8 KiB read buffer (but under
/// maxPayload) are read whole, over several socket reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_larger_than_the_read_buffer_are_answered() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let c = openclaw_client::connect(&g.url(), Some(TOKEN), &["operator.read"])
        .await
        .unwrap();
    for n in [8 * 1024 - 64, 8 * 1024 + 1, 300_000] {
        let res = c
            .call("health", json!({"pad": "x".repeat(n)}))
            .await
            .unwrap_or_else(|e| panic!("health with a {n}-byte pad: {e}"));
        assert_eq!(res["ok"], true, "health with a {n}-byte pad");
    }
    c.close().await;
    g.stop().await;
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_on_the_base_port() {
    let f = fixture();
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    let port = g.port;
    let (h, r, page) = tokio::task::spawn_blocking(move || {
        (
            http_get(port, "/healthz"),
            http_get(port, "/readyz"),
            http_get(port, "/"),
        )
    })
    .await
    .unwrap();
    assert_eq!(h.0, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&h.1).unwrap(),
        json!({"ok": true, "status": "live"})
    );
    assert_eq!(r.0, 200);
    assert_eq!(serde_json::from_str::<Value>(&r.1).unwrap()["ready"], true);
    assert_eq!(page.0, 200);
    assert!(page.1.contains("main") && page.1.contains(&port.to_string()));
    assert!(
        page.1
            .contains(&f.inst.state_dir.value.display().to_string())
    );
    assert!(!page.1.contains(TOKEN));
    g.stop().await;
}

// ---- probe ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_finds_the_gateway_by_owner_record_and_detects_wrong_instances() {
    let f = fixture();
    // The configured/resolved port differs from the one the gateway runs on.
    let resolved = instance(&f.home, Some("main"), None, free_port());
    let g = Served::serve(Gateway::bind(options(&f.inst)).unwrap());
    match openclaw_client::probe(&resolved, Some(TOKEN), GUARD)
        .await
        .unwrap()
    {
        Probe::Running {
            port, via, hello, ..
        } => {
            assert_eq!(port, g.port);
            assert_eq!(via, FoundVia::OwnerRecord);
            assert_eq!(hello.snapshot.profile.as_deref(), Some("main"));
        }
        other => panic!("{other:?}"),
    }
    // Another instance whose resolved port is main's port: wrong instance.
    let rescue = instance(&f.home, Some("rescue"), None, g.port);
    match openclaw_client::probe(&rescue, Some(TOKEN), GUARD).await {
        Err(ClientError::WrongInstance {
            expected, actual, ..
        }) => {
            assert_eq!(expected, rescue.state_dir.value);
            assert_eq!(actual, f.inst.state_dir.value);
        }
        other => panic!("{other:?}"),
    }
    g.stop().await;
    // Stopped: answered without waiting.
    let t = std::time::Instant::now();
    match openclaw_client::probe(&resolved, Some(TOKEN), GUARD)
        .await
        .unwrap()
    {
        Probe::Stopped { port } => assert_eq!(port, resolved.ports.gateway.value),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < GUARD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_manual_env_instances_run_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let mk = |name: &str| {
        let mut env = Env::new(home)
            .with(
                "OPENCLAW_STATE_DIR",
                home.join(format!(".openclaw-{name}")).to_str().unwrap(),
            )
            .with(
                "OPENCLAW_CONFIG_PATH",
                home.join(format!(".openclaw/{name}.json"))
                    .to_str()
                    .unwrap(),
            );
        env = env.with("X", "y");
        let paths = resolve_paths(&GlobalFlags::default(), &env).unwrap();
        resolve(&paths, &ConfigFacts::default(), Some(free_port())).unwrap()
    };
    let main = mk("main");
    let rescue = mk("rescue");
    configured(&main);
    configured(&rescue);
    let gm = Served::serve(Gateway::bind(options(&main)).unwrap());
    let gr = Served::serve(Gateway::bind(options(&rescue)).unwrap());
    for (inst, port) in [(&main, gm.port), (&rescue, gr.port)] {
        match openclaw_client::probe(inst, Some(TOKEN), GUARD)
            .await
            .unwrap()
        {
            Probe::Running { port: p, hello, .. } => {
                assert_eq!(p, port);
                assert_eq!(
                    hello.snapshot.state_dir.as_deref(),
                    Some(inst.state_dir.value.to_str().unwrap())
                );
                assert_eq!(
                    hello.snapshot.config_path.as_deref(),
                    Some(inst.config_path.value.to_str().unwrap())
                );
            }
            other => panic!("{other:?}"),
        }
    }
    gm.stop().await;
    gr.stop().await;
}

// ---- real processes: SIGTERM and kill -9 ----

/// Not a test on its own: the child gateway process the tests below start
/// (`<this binary> --ignored --exact child_gateway_process`). Its instance
/// comes from the environment the parent passes explicitly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process for the signal tests"]
async fn child_gateway_process() {
    let Ok(state) = std::env::var("OPENCLAW_TEST_CHILD_STATE_DIR") else {
        return;
    };
    let port: u16 = std::env::var("OPENCLAW_TEST_CHILD_PORT")
        .unwrap()
        .parse()
        .unwrap();
    let home = PathBuf::from(std::env::var("HOME").unwrap());
    let inst = instance(&home, None, Some(Path::new(&state)), port);
    let mut opts = GatewayOptions::new(inst, "0.1.0-test");
    opts.handle_signals = true;
    opts.auth = Some(AuthConfig::Token(TOKEN.into()));
    opts.allow_unconfigured = true;
    opts.derived_services = false;
    let bound = match Gateway::bind(opts) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(e.exit_code());
        }
    };
    println!("READY {}", bound.port());
    bound.serve().await.unwrap();
    println!("EXITED");
}

fn spawn_child(
    home: &Path,
    state: &Path,
    port: u16,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_gateway_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOME", home)
        .env("OPENCLAW_TEST_CHILD_STATE_DIR", state)
        .env("OPENCLAW_TEST_CHILD_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child exited before READY"
        );
        if line.contains("READY ") {
            break;
        }
    }
    (child, out)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(std::time::Instant::now() < deadline, "child did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sends_shutdown_exits_zero_and_frees_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let port = free_port();
    let (mut child, _out) = spawn_child(tmp.path(), &state, port);
    let url = format!("ws://127.0.0.1:{port}");
    let mut c = openclaw_client::connect(&url, Some(TOKEN), &[])
        .await
        .unwrap();
    assert!(read_owner(&state).unwrap().is_live());
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    loop {
        let ev = tokio::time::timeout(GUARD, c.next_event())
            .await
            .unwrap()
            .expect("shutdown event");
        if ev.event == "shutdown" {
            assert_eq!(ev.payload["reason"], "signal SIGTERM");
            break;
        }
    }
    let st = tokio::task::spawn_blocking(move || wait_exit(&mut child))
        .await
        .unwrap();
    assert!(st.success(), "{st:?}");
    assert!(read_owner(&state).is_none());
    drop(StateLock::acquire(&state).expect("lock free"));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_restart_starts_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let port = free_port();
    let (mut child, _out) = spawn_child(tmp.path(), &state, port);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The stale owner record is left behind, but it is not live...
    let stale = read_owner(&state).expect("record left by the killed gateway");
    assert!(!stale.is_live());
    // ...and the next start takes the state dir at once.
    let port2 = free_port();
    let (mut child2, _out2) = spawn_child(tmp.path(), &state, port2);
    let rec = read_owner(&state).unwrap();
    assert_eq!(rec.pid, child2.id());
    assert_eq!(rec.port, port2);
    child2.kill().unwrap();
    child2.wait().unwrap();
}

#[cfg(unix)]
#[test]
fn a_second_process_on_the_same_state_dir_exits_78() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (mut first, _out) = spawn_child(tmp.path(), &state, free_port());
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_gateway_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOME", tmp.path())
        .env("OPENCLAW_TEST_CHILD_STATE_DIR", &state)
        .env("OPENCLAW_TEST_CHILD_PORT", free_port().to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(
        first.try_wait().unwrap().is_none(),
        "first gateway still running"
    );
    first.kill().unwrap();
    first.wait().unwrap();
}
