//! Many processes writing one config at once: the file and its backup must
//! always parse and hold exactly one writer's value.
//!
//! The writers are this test binary re-executed with `--exact child_writer
//! --ignored`, the target file and value passed in the child's environment.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use openclaw_state::ConfigStore;
use serde_json::json;

const WRITERS: u16 = 50;
const CHILD_FILE: &str = "OPENCLAW_STATE_TEST_FILE";
const CHILD_VALUE: &str = "OPENCLAW_STATE_TEST_VALUE";
const CHILD_MODE: &str = "OPENCLAW_STATE_TEST_MODE";

fn payload(i: u16) -> String {
    format!("/w/{i}/{}", "x".repeat(50_000))
}

/// Checks that a config text is whole and from a single writer.
fn check_whole(text: &str, file: &Path) {
    let parsed = openclaw_config::parse(text, file)
        .unwrap_or_else(|e| panic!("torn or mixed file {}: {e}", file.display()));
    let facts = parsed.config.instance_facts();
    let port = facts.gateway_port.expect("gateway.port present");
    assert!((20000..20000 + WRITERS).contains(&port), "port {port}");
    assert_eq!(
        facts.workspace.as_deref(),
        Some(payload(port - 20000).as_str())
    );
}

/// Helper run in a child process by `fifty_processes_never_mix_the_file`;
/// without its environment it has nothing to do.
#[test]
#[ignore = "helper: run as a child process by fifty_processes_never_mix_the_file"]
fn child_writer() {
    let (Ok(file), Ok(value)) = (std::env::var(CHILD_FILE), std::env::var(CHILD_VALUE)) else {
        eprintln!("child_writer is a helper; it runs only inside the concurrency test");
        return;
    };
    let i: u16 = value.parse().unwrap();
    let store = ConfigStore::new(file);
    if std::env::var(CHILD_MODE).as_deref() == Ok("append") {
        // read-modify-write of a list: only the lock keeps every entry
        store
            .update(None, |v| {
                let mut list = openclaw_config::get_path(v, "writers")?
                    .cloned()
                    .unwrap_or(json!([]));
                list.as_array_mut()
                    .ok_or("writers is not an array")?
                    .push(json!(i));
                openclaw_config::set_path(v, "writers", list)?;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            })
            .unwrap();
        return;
    }
    store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port", json!(20000 + i))?;
            openclaw_config::set_path(v, "agents.defaults.workspace", json!(payload(i)))
        })
        .unwrap();
}

fn spawn_writers(file: &Path, mode: &str) -> Vec<std::process::Child> {
    let exe = std::env::current_exe().unwrap();
    (0..WRITERS)
        .map(|i| {
            Command::new(&exe)
                .args(["--exact", "child_writer", "--ignored", "--test-threads=1"])
                .env(CHILD_FILE, file)
                .env(CHILD_VALUE, i.to_string())
                .env(CHILD_MODE, mode)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn wait_all(children: Vec<std::process::Child>) {
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "writer failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // the helper really ran (the filter matched one test)
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
}

#[test]
fn fifty_processes_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openclaw.json");
    wait_all(spawn_writers(&file, "append"));
    let loaded = ConfigStore::new(&file).load().unwrap().unwrap();
    let mut got: Vec<u64> = loaded.parsed.value["writers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, (0..u64::from(WRITERS)).collect::<Vec<_>>());
}

#[test]
fn fifty_processes_never_mix_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state").join("openclaw.json");
    let mut children = spawn_writers(&file, "set");

    // Read while they write: every snapshot must be whole.
    let store = ConfigStore::new(&file);
    let mut snapshots = 0;
    loop {
        if let Ok(text) = fs::read_to_string(&file) {
            check_whole(&text, &file);
            snapshots += 1;
        }
        if let Ok(text) = fs::read_to_string(store.backup_path()) {
            check_whole(&text, &store.backup_path());
        }
        let mut running = false;
        for c in &mut children {
            if c.try_wait().unwrap().is_none() {
                running = true;
            }
        }
        if !running {
            break;
        }
        std::thread::yield_now();
    }

    wait_all(children);
    let text = fs::read_to_string(&file).unwrap();
    check_whole(&text, &file);
    check_whole(&fs::read_to_string(store.backup_path()).unwrap(), &file);
    assert!(snapshots > 0);
    // no temp files left behind
    let mut names: Vec<_> = fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["openclaw.json", "openclaw.json.bak", "openclaw.json.lock"]
    );
}
