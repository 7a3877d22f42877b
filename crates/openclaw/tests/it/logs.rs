//! Issue 10 acceptance: one logging pipeline, `openclaw logs` from the file,
//! and a broken config on reload (positioned error logged, old config kept).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{GatewayChild, TestHome, free_base_port, setup, text, token};

const GUARD: Duration = Duration::from_secs(60);

fn state_dir(h: &TestHome, profile: &str) -> PathBuf {
    h.join(&format!(".openclaw-{profile}"))
}

fn log_of(h: &TestHome, profile: &str) -> String {
    std::fs::read_to_string(state_dir(h, profile).join("logs/gateway.log")).unwrap_or_default()
}

fn wait_log(h: &TestHome, profile: &str, needle: &str) -> String {
    let deadline = Instant::now() + GUARD;
    loop {
        let log = log_of(h, profile);
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "gateway log never said {needle:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gateway(h: &TestHome, profile: &str, port: u16) -> GatewayChild {
    GatewayChild::start(h, &["--profile", profile, "gateway"], &[], port)
}

#[test]
fn logs_prints_a_stopped_instances_last_lines_and_exit_3_without_a_log() {
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "main", port);
    let tok = token(&h.join(".openclaw-main/openclaw.json"));
    let mut gw = gateway(&h, "main", port);
    gw.term();

    // main is stopped; its log is still there to read.
    let path = state_dir(&h, "main").join("logs/gateway.log");
    let file = std::fs::read_to_string(&path).unwrap();
    let out = h.ok(&["--profile", "main", "logs", "--lines", "20"]);
    let printed: Vec<&str> = out.lines().collect();
    let last: Vec<&str> = file
        .lines()
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(printed, last);
    assert!(!printed.is_empty() && printed.len() <= 20);
    assert!(out.contains("[gateway] info: ready: listening"), "{out}");
    assert!(
        !file.contains(&tok),
        "the gateway token never reaches the log"
    );

    let two = h.ok(&["--profile", "main", "logs", "--lines", "2"]);
    assert_eq!(two.lines().collect::<Vec<_>>(), last[last.len() - 2..]);

    // --json: one object per line, split into its parts.
    let js = h.ok(&["--profile", "main", "logs", "--lines", "20", "--json"]);
    let recs: Vec<Value> = js
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), printed.len());
    let ready = recs
        .iter()
        .find(|r| {
            r["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("ready: listening")
        })
        .unwrap_or_else(|| panic!("{js}"));
    assert_eq!(ready["source"], "gateway");
    assert_eq!(ready["level"], "info");

    // An instance whose gateway never ran: exit 3, the path, and how to start it.
    setup(&h, "rescue", free_base_port());
    let out = h.run(&["--profile", "rescue", "logs"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let rescue_log = state_dir(&h, "rescue").join("logs/gateway.log");
    assert!(err.contains(&rescue_log.display().to_string()), "{err}");
    assert!(
        err.contains("hint: openclaw --profile rescue gateway"),
        "{err}"
    );
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn broken_config_on_reload_is_logged_with_its_position_and_the_old_config_stays() {
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "main", port);
    let config = h.join(".openclaw-main/openclaw.json");
    let tok = token(&config);
    let _gw = gateway(&h, "main", port);

    // A typo on line 3 (a value of the wrong kind), and a new token that
    // must not take effect because the file as a whole is invalid.
    let broken = format!(
        "{{\n  gateway: {{ mode: \"local\", port: {port}, auth: {{ mode: \"token\", token: \"other-token-123456\" }} }},\n  logging: {{ level: \"loud\" }},\n}}\n"
    );
    std::fs::write(&config, broken).unwrap();
    let log = wait_log(&h, "main", "config changed but was not applied");
    let line = log
        .lines()
        .find(|l| l.contains("config changed but was not applied"))
        .unwrap();
    let at = format!("{}:3:21: logging.level:", config.display());
    assert!(line.contains(&at), "want {at:?} in {line}");
    assert!(line.contains("[gateway] warn:"), "{line}");
    assert!(!log.contains("other-token-123456"), "{log}");

    // Still the old config: the old token connects, the new one does not.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("ws://127.0.0.1:{port}");
        let c = openclaw_client::connect(&url, Some(&tok), &["operator.read"])
            .await
            .expect("the previous token still works");
        let st = c.call("status", json!({})).await.unwrap();
        assert_eq!(st["auth"]["mode"], "token");
        c.close().await;
        assert!(
            openclaw_client::connect(&url, Some("other-token-123456"), &["operator.read"])
                .await
                .is_err()
        );
    });
}
