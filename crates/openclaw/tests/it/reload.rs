//! Issue 18 against the real binary: `config set` of a key that needs a
//! restart, on a running gateway (`gateway.reload.mode` hybrid, the
//! default).

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::harness::{GatewayChild, TestHome, free_base_port, free_port, setup, text};

const GUARD: Duration = Duration::from_secs(60);

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /` on 127.0.0.1:`port`; the HTTP status (0: nothing answers).
fn get_status(port: u16) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn log_path(home: &TestHome) -> PathBuf {
    home.join(".openclaw-main/logs/gateway.log")
}

#[test]
fn config_set_canvas_port_on_a_running_gateway_serves_the_new_port() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let mut g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    let pid = g.pid();
    assert_eq!(get_status(base + 4), 200);
    let new_canvas = free_port();
    home.ok(&[
        "--profile",
        "main",
        "config",
        "set",
        "canvasHost.port",
        &new_canvas.to_string(),
    ]);
    wait_for("the canvas on its new port", || {
        get_status(new_canvas) == 200
    });
    assert_eq!(get_status(base + 4), 0, "the old canvas port is closed");
    assert!(g.is_running(), "the same process serves on");
    let st = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(st["gateway"]["state"], "running", "{st}");
    assert_eq!(st["gateway"]["pid"], pid, "{st}");
    assert_eq!(st["configuredPorts"]["canvas"], new_canvas, "{st}");
    assert!(
        st["gateway"]["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["purpose"] == "canvas host" && l["port"] == new_canvas),
        "{st}"
    );
    let log = std::fs::read_to_string(log_path(&home)).unwrap();
    assert!(
        log.contains(&format!(
            "restarted in place to apply: canvas host port {} -> {new_canvas}",
            base + 4
        )),
        "{log}"
    );
}

#[test]
fn config_set_gateway_port_to_a_taken_port_keeps_the_old_gateway_serving() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let mut g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    home.ok(&[
        "--profile",
        "main",
        "config",
        "set",
        "gateway.port",
        &taken.to_string(),
    ]);
    let why = format!("port {taken} (gateway) on 127.0.0.1 is already in use");
    wait_for("the log to say why", || {
        std::fs::read_to_string(log_path(&home)).is_ok_and(|l| l.contains(&why))
    });
    assert!(g.is_running());
    // `status` finds it where it runs (owner record) and says why.
    let st = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(st["gateway"]["state"], "running", "{st}");
    assert_eq!(st["gateway"]["port"], base, "{st}");
    let pending = st["gateway"]["health"]["configReload"]["pending"]
        .as_str()
        .unwrap_or_default();
    assert!(pending.contains(&why), "{st}");
    assert!(pending.contains("keeps serving"), "{st}");
    let human = home.ok(&["--profile", "main", "status"]);
    assert!(human.contains(&why), "{human}");
    let out = home.run(&["--profile", "main", "gateway", "call", "health"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(get_status(base + 4), 200, "its canvas still serves");
    drop(squatter);
}
