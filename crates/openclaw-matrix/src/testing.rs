//! Test helpers: a real Synapse homeserver (SQLite, throwaway config) on a
//! free loopback port, and user registration through Synapse's shared-secret
//! admin API.
//!
//! Synapse lives in a Python virtual environment that
//! `scripts/install-test-deps` creates under
//! `~/.cache/openclaw-test-deps/synapse-venv` (or `$SYNAPSE_VENV`). A missing
//! venv is a test failure with that hint, never a skip.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::client::MatrixClient;

const SHARED_SECRET: &str = "openclaw-test-registration-secret";
// A throwaway signing key for throwaway homeservers (saves Synapse's slow
// `--generate-keys` run).
const SIGNING_KEY: &str = "ed25519 a_oc 5MN6lnS+FHZQqLvs/d7Tx8wyPKGbBrjDt57BlbinfyQ\n";

pub const SERVER_NAME: &str = "localhost";

/// The Synapse virtual environment.
pub fn synapse_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("SYNAPSE_VENV") {
        return PathBuf::from(v);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".cache/openclaw-test-deps/synapse-venv")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A running Synapse in its own process group; killed on drop.
pub struct Synapse {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A user registered through the admin API.
#[derive(Debug, Clone)]
pub struct Registered {
    pub user_id: String,
    pub access_token: String,
    pub password: String,
}

fn limits(per_second: u32, burst: u32) -> String {
    format!("{{per_second: {per_second}, burst_count: {burst}}}")
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

impl Synapse {
    /// Starts Synapse with relaxed rate limits and waits until its client
    /// API answers.
    pub async fn start() -> Synapse {
        let venv = synapse_venv();
        let python = venv.join("bin/python");
        assert!(
            python.is_file(),
            "Synapse is not installed in {}: run scripts/install-test-deps",
            venv.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("synapse-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let d = dir.path().display();
        let fast = limits(10_000, 10_000);
        let config = format!(
            "server_name: \"{SERVER_NAME}\"\n\
             pid_file: {d}/homeserver.pid\n\
             listeners:\n  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: false\n    x_forwarded: false\n    resources:\n      - names: [client]\n        compress: false\n\
             database:\n  name: sqlite3\n  args:\n    database: {d}/homeserver.db\n\
             media_store_path: {d}/media\n\
             signing_key_path: {d}/signing.key\n\
             registration_shared_secret: \"{SHARED_SECRET}\"\n\
             macaroon_secret_key: \"openclaw-test-macaroon\"\n\
             form_secret: \"openclaw-test-form\"\n\
             report_stats: false\n\
             trusted_key_servers: []\n\
             suppress_key_server_warning: true\n\
             enable_metrics: false\n\
             presence:\n  enabled: false\n\
             rc_message: {fast}\n\
             rc_registration: {fast}\n\
             rc_login:\n  address: {fast}\n  account: {fast}\n  failed_attempts: {fast}\n\
             rc_joins:\n  local: {fast}\n  remote: {fast}\n\
             rc_invites:\n  per_room: {fast}\n  per_user: {fast}\n  per_issuer: {fast}\n"
        );
        std::fs::write(dir.path().join("homeserver.yaml"), config).expect("write homeserver.yaml");
        std::fs::write(dir.path().join("signing.key"), SIGNING_KEY).expect("write signing key");
        let log = std::fs::File::create(dir.path().join("synapse.log")).expect("log file");
        let child = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(dir.path().join("homeserver.yaml"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn synapse");
        let mut s = Synapse {
            port,
            dir,
            child: Some(child),
        };
        let http = crate::http_client_builder()
            .build()
            .expect("a reqwest client builds");
        let url = format!("{}/_matrix/client/versions", s.url());
        for _ in 0..600 {
            if let Some(status) = s.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("synapse exited ({status}) before listening:\n{}", s.log());
            }
            if let Ok(r) = http.get(&url).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "synapse did not answer on port {port} within 120s:\n{}",
            s.log()
        );
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn user_id(localpart: &str) -> String {
        format!("@{localpart}:{SERVER_NAME}")
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("synapse.log")) {
            let _ = f.read_to_string(&mut s);
        }
        let start = s.len().saturating_sub(4000);
        let start = (start..s.len())
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(s.len());
        s[start..].to_string()
    }

    /// Registers a user through `/_synapse/admin/v1/register` (HMAC-SHA1
    /// over nonce, user, password and admin flag with the shared secret).
    pub async fn register(&self, localpart: &str, password: &str, admin: bool) -> Registered {
        let http = crate::http_client_builder()
            .build()
            .expect("a reqwest client builds");
        let url = format!("{}/_synapse/admin/v1/register", self.url());
        let nonce: Value = http
            .get(&url)
            .send()
            .await
            .expect("nonce")
            .json()
            .await
            .expect("nonce json");
        let nonce = nonce["nonce"].as_str().expect("nonce").to_string();
        let mut msg = Vec::new();
        for (i, part) in [
            nonce.as_str(),
            localpart,
            password,
            if admin { "admin" } else { "notadmin" },
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                msg.push(0);
            }
            msg.extend_from_slice(part.as_bytes());
        }
        let mac = hex::encode(hmac_sha1(SHARED_SECRET.as_bytes(), &msg));
        let resp = http
            .post(&url)
            .json(&json!({ "nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac }))
            .send()
            .await
            .expect("register");
        let status = resp.status();
        let v: Value = resp.json().await.expect("register json");
        assert!(status.is_success(), "register {localpart}: {status} {v}");
        Registered {
            user_id: v["user_id"].as_str().expect("user_id").to_string(),
            access_token: v["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
            password: password.to_string(),
        }
    }

    /// A client logged in as `user` (with the registration's token).
    pub fn client(&self, user: &Registered) -> MatrixClient {
        MatrixClient::new(&self.url())
            .expect("client")
            .with_token(&user.access_token)
    }

    /// Gives `user_id` its own message rate limit (admin API), so one test
    /// account can be throttled hard while the others are not.
    pub async fn override_ratelimit(
        &self,
        admin: &Registered,
        user_id: &str,
        per_second: u32,
        burst: u32,
    ) {
        let path = format!(
            "/_synapse/admin/v1/users/{}/override_ratelimit",
            user_id.replace('@', "%40").replace(':', "%3A")
        );
        self.client(admin)
            .request(
                reqwest::Method::POST,
                &path,
                Some(&json!({ "messages_per_second": per_second, "burst_count": burst })),
            )
            .await
            .expect("override_ratelimit");
    }

    /// SIGKILL to the homeserver's process group, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain syscall on the group we created.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}

/// The `m.room.message` events of `room` as `reader` sees them, oldest
/// first: (sender, msgtype, body).
pub async fn room_messages(reader: &MatrixClient, room: &str) -> Vec<(String, String, String)> {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=500",
        room.replace('!', "%21").replace(':', "%3A")
    );
    let v = reader
        .request(reqwest::Method::GET, &path, None)
        .await
        .expect("messages");
    let s = |e: &Value, p: &str| {
        e.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut out: Vec<_> = v["chunk"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| {
            (
                s(e, "/sender"),
                s(e, "/content/msgtype"),
                s(e, "/content/body"),
            )
        })
        .collect();
    out.reverse();
    out
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_matches_rfc2202() {
        // RFC 2202 test case 2
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
