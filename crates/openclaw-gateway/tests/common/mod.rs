//! What every gateway test binary needs to stand a gateway up on real
//! loopback sockets: a free port, a profile's instance under a temporary
//! HOME, its config file, options fit for a test (no signal handlers, no
//! stderr log, fast config polling, no derived listeners) and a served
//! gateway that stops when asked.
//!
//! Each test binary compiles this module on its own and uses a subset.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openclaw_gateway::{BoundGateway, GatewayError, GatewayOptions, ShutdownHandle};
use openclaw_instance::{ConfigFacts, Env, GlobalFlags, Instance, resolve, resolve_paths};
use serde_json::Value;

/// How long a served gateway may take to stop before the test fails.
const STOP_GUARD: Duration = Duration::from_secs(20);

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Profile `profile` under `home`, with its gateway port given as `--port`.
pub fn profile_instance(home: &Path, profile: &str, port: u16) -> Instance {
    let env = Env::new(home);
    let flags = GlobalFlags {
        profile: Some(profile.into()),
        ..GlobalFlags::default()
    };
    let paths = resolve_paths(&flags, &env).unwrap();
    resolve(&paths, &ConfigFacts::default(), Some(port)).unwrap()
}

/// Writes `value` as the instance's config file, creating its directory.
pub fn write_config(inst: &Instance, value: &Value) {
    let path = &inst.config_path.value;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// Options for a gateway inside a test process. Base ports come from
/// `free_port()`, so base+2 and base+4 are not known to be free: the derived
/// listeners are off here and have their own tests.
pub fn test_options(inst: &Instance) -> GatewayOptions {
    let mut o = GatewayOptions::new(inst.clone(), "0.1.0-test");
    o.handle_signals = false;
    o.log_to_stderr = false;
    o.config_poll_interval = Duration::from_millis(50);
    o.derived_services = false;
    o
}

/// A bound gateway serving on a tokio task.
pub struct Served {
    pub port: u16,
    pub handle: ShutdownHandle,
    /// The gateway's log file, when it writes one.
    pub log_path: Option<PathBuf>,
    pub task: tokio::task::JoinHandle<Result<(), GatewayError>>,
}

impl Served {
    pub fn serve(bound: BoundGateway) -> Served {
        let port = bound.port();
        let handle = bound.shutdown_handle();
        let log_path = bound.log_path();
        let task = tokio::spawn(bound.serve());
        Served {
            port,
            handle,
            log_path,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// What the gateway has logged so far (empty without a log file).
    pub fn log(&self) -> String {
        self.log_path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Asks the gateway to stop and fails the test unless it stops cleanly.
    pub async fn stop(self) {
        self.handle.shutdown("test done");
        tokio::time::timeout(STOP_GUARD, self.task)
            .await
            .expect("gateway stops")
            .unwrap()
            .unwrap();
    }
}
