//! Issue 3 acceptance against the real binary: gateways as child processes
//! on free loopback ports, the CLI clients, raw WebSocket clients.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{GatewayChild, TestHome, free_base_port, free_port, setup, text, token, tree};

const GUARD: Duration = Duration::from_secs(20);

#[test]
fn manual_env_example_runs_two_gateways_and_status_reports_each() {
    let home = TestHome::new();
    let (pm, pr) = (free_port(), free_port());
    let mk = |name: &str| {
        let cfg = home.join(&format!(".openclaw/{name}.json"));
        let sd = home.join(&format!(".openclaw-{name}"));
        std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
        std::fs::write(
            &cfg,
            r#"{"gateway":{"auth":{"mode":"token","token":"tok-123"}}}"#,
        )
        .unwrap();
        (
            cfg.to_str().unwrap().to_string(),
            sd.to_str().unwrap().to_string(),
        )
    };
    let (cm, sm) = mk("main");
    let (cr, sr) = mk("rescue");
    let em = [
        ("OPENCLAW_CONFIG_PATH", cm.as_str()),
        ("OPENCLAW_STATE_DIR", sm.as_str()),
    ];
    let er = [
        ("OPENCLAW_CONFIG_PATH", cr.as_str()),
        ("OPENCLAW_STATE_DIR", sr.as_str()),
    ];
    let _gm = GatewayChild::start(&home, &["gateway", "--port", &pm.to_string()], &em, pm);
    let _gr = GatewayChild::start(&home, &["gateway", "--port", &pr.to_string()], &er, pr);
    for (env, port, sd) in [(&em, pm, &sm), (&er, pr, &sr)] {
        let v = home.json_env(&["status", "--json"], env);
        assert_eq!(v["gateway"]["state"], "running", "{v}");
        assert_eq!(v["gateway"]["port"], port, "{v}");
        assert_eq!(v["stateDir"], json!(sd));
    }
}

#[test]
fn profiles_run_side_by_side_and_a_port_flag_is_found_via_the_owner_record() {
    let home = TestHome::new();
    let (bm, br) = (free_base_port(), free_base_port());
    setup(&home, "main", bm);
    setup(&home, "rescue", br);
    let _gm = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], bm);
    // rescue runs on a port other than the one setup chose.
    let other = free_port();
    let _gr = GatewayChild::start(
        &home,
        &[
            "--profile",
            "rescue",
            "gateway",
            "--port",
            &other.to_string(),
        ],
        &[],
        other,
    );
    let vm = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(vm["gateway"]["port"], bm);
    assert_eq!(vm["stateDir"], json!(home.join(".openclaw-main")));
    let vr = home.json(&["--profile", "rescue", "status", "--json"]);
    assert_eq!(vr["gateway"]["state"], "running");
    assert_eq!(vr["gateway"]["port"], other);
    assert_eq!(vr["gateway"]["foundVia"], "owner record");
    assert_eq!(vr["stateDir"], json!(home.join(".openclaw-rescue")));
    let h = home.json(&["--profile", "rescue", "health", "--json"]);
    assert_eq!(h["ok"], true);
    home.ok(&["--profile", "rescue", "gateway", "probe"]);
}

#[test]
fn conflicts_fail_fast_name_the_owner_and_change_nothing() {
    let home = TestHome::new();
    let (bm, br) = (free_base_port(), free_base_port());
    setup(&home, "main", bm);
    setup(&home, "rescue", br);
    let gm = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], bm);
    let main_dir = home.join(".openclaw-main");
    let rescue_dir = home.join(".openclaw-rescue");
    let (tm, tr) = (tree(&main_dir), tree(&rescue_dir));

    // Same state dir, another port: 78, naming pid / profile / port.
    let out = home.run(&[
        "--profile",
        "main",
        "gateway",
        "--port",
        &free_port().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("pid {}", gm.pid())), "{err}");
    assert!(
        err.contains(&format!("port {bm}")) && err.contains("profile main"),
        "{err}"
    );
    assert!(err.contains("gateway stop"), "{err}");

    // Another instance on main's port: fails naming the port and main.
    let out = home.run(&["--profile", "rescue", "gateway", "--port", &bm.to_string()]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("port {bm} (gateway)")), "{err}");
    assert!(
        err.contains("profile main") && err.contains(main_dir.to_str().unwrap()),
        "{err}"
    );

    assert_eq!(tree(&main_dir), tm, "main's state dir changed");
    assert_eq!(tree(&rescue_dir), tr, "rescue's state dir changed");
    // The first keeps serving.
    let v = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(v["gateway"]["state"], "running");
}

#[test]
fn another_instance_on_our_port_is_reported_loudly() {
    let home = TestHome::new();
    let bm = free_base_port();
    setup(&home, "main", bm);
    setup(&home, "rescue", free_base_port());
    let _gm = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], bm);
    // rescue resolves to main's port through the env.
    let out = home.run_env(
        &["--profile", "rescue", "status"],
        &[("OPENCLAW_GATEWAY_PORT", &bm.to_string())],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("WRONG INSTANCE") && err.contains(".openclaw-main"),
        "{err}"
    );
}

#[test]
fn stopped_is_reported_with_the_start_command() {
    let home = TestHome::new();
    setup(&home, "rescue", free_base_port());
    let v = home.json(&["--profile", "rescue", "status", "--json"]);
    assert_eq!(v["gateway"]["state"], "stopped");
    assert_eq!(v["gateway"]["start"], "openclaw --profile rescue gateway");
    let out = home.run(&["--profile", "rescue", "gateway", "probe"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("openclaw --profile rescue gateway"));
}

#[test]
fn unconfigured_is_refused_with_the_setup_command() {
    let home = TestHome::new();
    let out = home.run(&[
        "--profile",
        "rescue",
        "gateway",
        "--port",
        &free_port().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("openclaw --profile rescue setup"),
        "{}",
        text(&out.stderr)
    );
    let p = free_port();
    let _g = GatewayChild::start(
        &home,
        &[
            "--profile",
            "rescue",
            "gateway",
            "--port",
            &p.to_string(),
            "--allow-unconfigured",
            "--token",
            "t0k",
        ],
        &[],
        p,
    );
}

#[test]
fn kill_9_then_start_again_at_once() {
    let home = TestHome::new();
    let b = free_base_port();
    setup(&home, "main", b);
    let mut g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], b);
    g.child.kill().unwrap();
    g.child.wait().unwrap();
    let g2 = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], b);
    let v = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(v["gateway"]["pid"], g2.pid());
}

#[test]
fn config_patch_via_gateway_call_is_compare_and_swap() {
    let home = TestHome::new();
    let b = free_base_port();
    setup(&home, "main", b);
    let _g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], b);
    let cfg_path = home.join(".openclaw-main/openclaw.json");
    let cfg = home.json(&[
        "--profile",
        "main",
        "gateway",
        "call",
        "config.get",
        "--json",
    ]);
    let hash = cfg["hash"].as_str().unwrap().to_string();
    let before = std::fs::read(&cfg_path).unwrap();
    let stale = json!({"baseHash": "sha256:0000", "patch": {"agents": {"defaults": {"workspace": "/tmp/w2"}}}});
    let out = home.run(&[
        "--profile",
        "main",
        "gateway",
        "call",
        "config.patch",
        "--params",
        &stale.to_string(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("CONFLICT"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&cfg_path).unwrap(), before);
    let good =
        json!({"baseHash": hash, "patch": {"agents": {"defaults": {"workspace": "/tmp/w2"}}}});
    home.ok(&[
        "--profile",
        "main",
        "gateway",
        "call",
        "config.patch",
        "--params",
        &good.to_string(),
    ]);
    let cfg = home.json(&[
        "--profile",
        "main",
        "gateway",
        "call",
        "config.get",
        "--json",
    ]);
    assert_eq!(cfg["parsed"]["agents"]["defaults"]["workspace"], "/tmp/w2");
    assert_ne!(cfg["hash"], json!(hash));
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn recv(ws: &mut Ws) -> Result<Value, u16> {
    loop {
        match tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("frame in time")
        {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(f))) => {
                return Err(f.map(|f| u16::from(f.code)).unwrap_or(1005));
            }
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
}

fn connect_frame(token: &str, min: u32, max: u32) -> String {
    json!({"type":"req","id":"c1","method":"connect","params":{"minProtocol":min,"maxProtocol":max,
        "client":{"id":"cli","version":"t","platform":"linux","mode":"cli"},
        "auth":{"token":token},"role":"operator","scopes":["operator.read"]}})
    .to_string()
}

#[test]
fn raw_ws_scenarios_and_sigterm_against_the_binary() {
    let home = TestHome::new();
    let b = free_base_port();
    setup(&home, "main", b);
    let tok = token(&home.join(".openclaw-main/openclaw.json"));
    let mut g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], b);
    let url = format!("ws://127.0.0.1:{}", g.port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut ws = rt.block_on(async {
        // wrong token → INVALID_REQUEST / AUTH_TOKEN_MISMATCH, close 1008
        let mut ws = tokio_tungstenite::connect_async(&url).await.unwrap().0;
        assert_eq!(recv(&mut ws).await.unwrap()["event"], "connect.challenge");
        ws.send(Message::Text(connect_frame("wrong", 4, 4).into()))
            .await
            .unwrap();
        let r = recv(&mut ws).await.unwrap();
        assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
        assert_eq!(recv(&mut ws).await.unwrap_err(), 1008);
        // protocol mismatch → close 1002
        let mut ws = tokio_tungstenite::connect_async(&url).await.unwrap().0;
        recv(&mut ws).await.unwrap();
        ws.send(Message::Text(connect_frame(&tok, 1, 2).into()))
            .await
            .unwrap();
        assert_eq!(
            recv(&mut ws).await.unwrap()["error"]["details"]["code"],
            "PROTOCOL_MISMATCH"
        );
        assert_eq!(recv(&mut ws).await.unwrap_err(), 1002);
        // a good client, kept open for the shutdown
        let mut ws = tokio_tungstenite::connect_async(&url).await.unwrap().0;
        recv(&mut ws).await.unwrap();
        ws.send(Message::Text(connect_frame(&tok, 4, 4).into()))
            .await
            .unwrap();
        let hello = recv(&mut ws).await.unwrap();
        assert_eq!(
            hello["payload"]["snapshot"]["stateDir"],
            json!(home.join(".openclaw-main"))
        );
        ws
    });
    let st = g.term();
    assert!(st.success(), "{st}");
    rt.block_on(async {
        loop {
            match recv(&mut ws).await {
                Ok(v) if v["event"] == "shutdown" => {
                    assert_eq!(v["payload"]["reason"], "signal SIGTERM");
                    break;
                }
                Ok(_) => continue,
                Err(code) => panic!("closed ({code}) without a shutdown event"),
            }
        }
    });
    assert!(!home.join(".openclaw-main/gateway.owner.json").exists());
    // The lock is free: the next start succeeds at once.
    let _g2 = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], b);
}

/// A SIGTERM that arrives the moment "ready" is logged (as from a service
/// manager stopping a unit it just started) is a graceful stop: exit 0, owner
/// record removed. The handlers must be in place before readiness is
/// announced, not installed lazily once serving has begun.
#[test]
fn sigterm_right_after_ready_is_graceful() {
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "early", port);
    let state = h.join(".openclaw-early");
    for round in 0..5 {
        let mut gw = GatewayChild::start(&h, &["--profile", "early", "gateway"], &[], port);
        let st = gw.term();
        assert_eq!(st.code(), Some(0), "round {round}: {st:?}");
        assert!(
            !state.join("gateway.owner.json").exists(),
            "round {round}: owner record left behind"
        );
    }
}

/// A port held by an instance with a custom state dir is named as that
/// instance, with a stop command that selects it (not the default profile's).
#[test]
fn port_held_by_a_custom_state_dir_instance_names_its_own_stop_command() {
    let h = TestHome::new();
    let port = free_base_port();
    let custom = h.join("srv/oc");
    let custom_s = custom.display().to_string();
    let env = [("OPENCLAW_STATE_DIR", custom_s.as_str())];
    h.ok_env(&["setup", "--port", &port.to_string()], &env);
    let _held = GatewayChild::start(&h, &["gateway"], &env, port);

    setup(&h, "other", free_base_port());
    let out = h.run(&["--profile", "other", "gateway", "--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(69));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("instance at {custom_s}")), "{err}");
    assert!(
        err.contains(&format!(
            "OPENCLAW_STATE_DIR={custom_s} openclaw gateway stop"
        )),
        "{err}"
    );
}

/// The CLI presents whatever the gateway's config asks for: with password
/// auth (and no token) status and calls still reach it.
#[test]
fn cli_reaches_a_password_mode_gateway() {
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "pw", port);
    for args in [
        &["config", "unset", "gateway.auth.token"][..],
        &["config", "set", "gateway.auth.password", "correct horse"],
        &["config", "set", "gateway.auth.mode", "password"],
    ] {
        let mut a = vec!["--profile", "pw"];
        a.extend_from_slice(args);
        h.ok(&a);
    }
    let _gw = GatewayChild::start(&h, &["--profile", "pw", "gateway"], &[], port);
    let v = h.json(&["--profile", "pw", "status", "--json"]);
    assert_eq!(v["gateway"]["state"], "running", "{v}");
    let health = h.json(&["--profile", "pw", "gateway", "call", "health", "--json"]);
    assert_eq!(health["ok"], true, "{health}");
}

/// The client ends of every TCP connection to 127.0.0.1:`port` the kernel
/// lists now (`/proc/net/tcp`: established, closing and TIME_WAIT ones).
/// A forwarder cannot count them any more: the CLI sends its credentials
/// only to the owner record's pid (issue 17).
fn client_ports(port: u16) -> std::collections::HashSet<u16> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port_of = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap_or(""), 16).ok();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, remote, state) = (port_of(f.get(1)?)?, port_of(f.get(2)?)?, *f.get(3)?);
            if state == "0A" {
                return None; // the listener itself
            }
            if local == port {
                Some(remote)
            } else if remote == port {
                Some(local)
            } else {
                None
            }
        })
        .collect()
}

/// Runs `f` while sampling [`client_ports`]; returns the client ports of
/// connections to `port` that appeared meanwhile.
fn new_connections<T>(port: u16, f: impl FnOnce() -> T) -> (T, usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let before = client_ports(port);
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut seen = std::collections::HashSet::new();
        while !d.load(Ordering::SeqCst) {
            seen.extend(client_ports(port));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        seen.extend(client_ports(port));
        seen
    });
    let out = f();
    done.store(true, Ordering::SeqCst);
    let seen = sampler.join().unwrap();
    (out, seen.difference(&before).count())
}

#[test]
fn status_and_gateway_call_open_one_connection_each() {
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "one", port);
    let _g = GatewayChild::start(&h, &["--profile", "one", "gateway"], &[], port);

    let (v, n) = new_connections(port, || h.json(&["--profile", "one", "status", "--json"]));
    assert_eq!(v["gateway"]["state"], "running", "{v}");
    assert_eq!(n, 1, "status");
    let (out, n) = new_connections(port, || {
        h.ok(&["--profile", "one", "gateway", "call", "health"])
    });
    assert!(out.contains("ok"), "{out}");
    assert_eq!(n, 1, "gateway call");
}
