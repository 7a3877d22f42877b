//! Helpers shared by the IRC and Matrix end-to-end tests: an instance set
//! up with a fixture model, its channel status, waiting.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use openclaw_agent::testing::{Reply, ok_sse, openai_text};
use serde_json::{Value, json};

use crate::harness::{GatewayChild, TestHome, expect_success, free_base_port, setup};

pub const GUARD: Duration = Duration::from_secs(90);

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub struct Inst {
    pub profile: String,
    pub port: u16,
    pub state_dir: PathBuf,
    pub config: PathBuf,
}

impl Inst {
    pub fn new(h: &TestHome, profile: &str) -> Inst {
        let port = free_base_port();
        setup(h, profile, port);
        let st = h.json(&["--profile", profile, "status", "--json"]);
        Inst {
            profile: profile.into(),
            port,
            state_dir: PathBuf::from(st["stateDir"].as_str().unwrap()),
            config: PathBuf::from(st["configPath"].as_str().unwrap()),
        }
    }

    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut v: Value = serde_json::from_slice(&std::fs::read(&self.config).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&self.config, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    /// A fixture model at `model_url` and `channels` as given.
    pub fn configure(&self, model_url: &str, channels: Value) {
        self.edit(|v| {
            v["models"] = json!({"providers": {"fx": {"baseUrl": model_url, "api": "openai-completions", "auth": "none", "models": [{"id": "m"}]}}});
            v["agents"]["defaults"]["model"] = json!({"primary": "fx/m"});
            v["channels"] = channels;
        });
    }

    pub fn gateway(&self, h: &TestHome) -> GatewayChild {
        GatewayChild::start(h, &["--profile", &self.profile, "gateway"], &[], self.port)
    }

    pub fn cli(&self, h: &TestHome, args: &[&str]) -> std::process::Output {
        let mut a = vec!["--profile", self.profile.as_str()];
        a.extend_from_slice(args);
        h.run(&a)
    }

    pub fn cli_json(&self, h: &TestHome, args: &[&str]) -> Value {
        let out = self.cli(h, args);
        let (stdout, _) = expect_success("openclaw", &out);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// The `channels status --json` entry of `channel`; Null while the call
    /// fails (a loaded machine) or the channel is not listed yet.
    pub fn channel(&self, h: &TestHome, channel: &str) -> Value {
        let out = self.cli(h, &["channels", "status", "--json"]);
        if !out.status.success() {
            return Value::Null;
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v["channels"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["channel"] == channel).cloned())
            .unwrap_or(Value::Null)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("logs/gateway.log")).unwrap_or_default()
    }
}

pub fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `n` model answers "Hello from the agent."
pub fn answers(n: usize) -> Vec<Reply> {
    (0..n)
        .map(|_| ok_sse(openai_text(&["Hello ", "from the agent."])))
        .collect()
}
