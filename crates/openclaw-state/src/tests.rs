use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::*;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn ensure_state_dir_creates_0700_and_tightens_existing() {
    let t = tmp();
    let sd = t.path().join("a/b/.openclaw-x");
    ensure_state_dir(&sd).unwrap();
    assert_eq!(mode(&sd), 0o700);
    assert_eq!(mode(&t.path().join("a")), 0o700);
    fs::set_permissions(&sd, fs::Permissions::from_mode(0o755)).unwrap();
    ensure_state_dir(&sd).unwrap();
    assert_eq!(mode(&sd), 0o700);
    // a pre-existing parent is not ours: left alone
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
    ensure_state_dir(&t.path().join("other")).unwrap();
    assert_eq!(mode(t.path()), 0o755);
    // a file in the way is an error naming it
    let f = t.path().join("file");
    fs::write(&f, "x").unwrap();
    let e = ensure_state_dir(&f).unwrap_err();
    assert!(e.to_string().contains(&*f.to_string_lossy()), "{e}");
}

#[test]
fn atomic_write_sets_mode_and_replaces() {
    let t = tmp();
    let p = t.path().join("f.json");
    atomic_write(&p, b"one", 0o600).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"one");
    assert_eq!(mode(&p), 0o600);
    atomic_write(&p, b"two", 0o644).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"two");
    assert_eq!(mode(&p), 0o644);
    // no temp files left behind
    let names: Vec<_> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["f.json"]);
    // missing dir: error names the path
    let e = atomic_write(&t.path().join("nope/f"), b"x", 0o600).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn atomic_write_through_a_symlink_keeps_the_link() {
    let t = tmp();
    let real = t.path().join("real.json");
    fs::write(&real, "old").unwrap();
    let link = t.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    atomic_write(&link, b"new", 0o600).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(&real).unwrap(), b"new");
}

#[test]
fn append_line_appends_and_refuses_newlines() {
    let t = tmp();
    let p = t.path().join("log.jsonl");
    append_line(&p, r#"{"a":1}"#, 0o600).unwrap();
    append_line(&p, r#"{"a":2}"#, 0o600).unwrap();
    assert_eq!(fs::read_to_string(&p).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(mode(&p), 0o600);
    assert!(append_line(&p, "a\nb", 0o600).is_err());
    assert_eq!(fs::read_to_string(&p).unwrap().lines().count(), 2);
}

#[test]
fn tokens_are_48_hex_and_differ() {
    let a = generate_token();
    let b = generate_token();
    assert_eq!(a.len(), 48);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    assert_ne!(a, b);
}

#[test]
fn update_creates_file_0600_in_new_0700_dir() {
    let t = tmp();
    let store = ConfigStore::new(t.path().join("state/openclaw.json"));
    assert!(store.load().unwrap().is_none());
    let w = store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port", json!(18789))
        })
        .unwrap();
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&t.path().join("state")), 0o700);
    let raw = fs::read_to_string(store.path()).unwrap();
    assert_eq!(raw, "{\n  \"gateway\": {\n    \"port\": 18789\n  }\n}\n");
    assert_eq!(w.hash, openclaw_config::hash(raw.as_bytes()));
    assert!(!store.backup_path().exists(), "no previous file, no backup");
    let l = store.load().unwrap().unwrap();
    assert_eq!(l.hash, w.hash);
    assert_eq!(l.parsed.config.instance_facts().gateway_port, Some(18789));
}

#[test]
fn update_keeps_previous_as_bak_and_preserves_unknown_keys() {
    let t = tmp();
    let p = t.path().join("openclaw.json");
    let original = "{ // comment\n gateway: { port: 1 }, custom: 'kept', }\n";
    fs::write(&p, original).unwrap();
    let store = ConfigStore::new(&p);
    let w = store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port", json!(2))
        })
        .unwrap();
    assert_eq!(fs::read_to_string(store.backup_path()).unwrap(), original);
    assert_eq!(mode(&store.backup_path()), 0o600);
    assert_eq!(store.backup_path(), t.path().join("openclaw.json.bak"));
    let l = store.load().unwrap().unwrap();
    assert_eq!(
        l.parsed.value,
        json!({"gateway": {"port": 2}, "custom": "kept"})
    );
    assert_eq!(w.warnings.len(), 1);
    assert_eq!(w.warnings[0].key_path, "custom");
}

#[test]
fn stale_base_hash_is_a_conflict_and_writes_nothing() {
    let t = tmp();
    let store = ConfigStore::new(t.path().join("openclaw.json"));
    let first = store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port", json!(1))
        })
        .unwrap();
    let second = store
        .update(Some(&first.hash), |v| {
            openclaw_config::set_path(v, "gateway.port", json!(2))
        })
        .unwrap();
    let before = fs::read(store.path()).unwrap();
    let bak_before = fs::read(store.backup_path()).unwrap();
    let e = store
        .update(Some(&first.hash), |v| {
            openclaw_config::set_path(v, "gateway.port", json!(3))
        })
        .unwrap_err();
    match &e {
        StateError::Conflict {
            expected, actual, ..
        } => {
            assert_eq!(expected, &first.hash);
            assert_eq!(actual.as_deref(), Some(second.hash.as_str()));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(e.to_string().contains("changed since it was read"), "{e}");
    assert_eq!(fs::read(store.path()).unwrap(), before);
    assert_eq!(fs::read(store.backup_path()).unwrap(), bak_before);
    // base hash given but file missing is a conflict too
    let other = ConfigStore::new(t.path().join("missing.json"));
    let e = other.replace_raw(Some("abc"), "{}").unwrap_err();
    assert!(
        matches!(e, StateError::Conflict { actual: None, .. }),
        "{e}"
    );
    assert!(!other.path().exists());
}

#[test]
fn invalid_update_writes_nothing() {
    let t = tmp();
    let store = ConfigStore::new(t.path().join("openclaw.json"));
    store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port", json!(1))
        })
        .unwrap();
    let before = fs::read(store.path()).unwrap();
    let e = store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port", json!("abc"))
        })
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("gateway.port"), "{msg}");
    assert!(msg.contains("expected a port number 1-65535"), "{msg}");
    assert!(matches!(e, StateError::Invalid { .. }));
    assert_eq!(fs::read(store.path()).unwrap(), before);
    assert!(!store.backup_path().exists());
    // an edit function error writes nothing either
    let e = store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port.x", json!(1))
        })
        .unwrap_err();
    assert!(matches!(e, StateError::Edit { .. }), "{e}");
    assert_eq!(fs::read(store.path()).unwrap(), before);
    // replace_raw with a syntax error: positioned, nothing written
    let e = store
        .replace_raw(None, "{ gateway: { port: 1 ")
        .unwrap_err();
    let StateError::Invalid { error, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(error.line, Some(1));
    assert_eq!(fs::read(store.path()).unwrap(), before);
}

#[test]
fn update_can_repair_a_wrong_type_but_not_a_syntax_error() {
    let t = tmp();
    let p = t.path().join("openclaw.json");
    fs::write(&p, "{ gateway: { port: 'abc' } }").unwrap();
    let store = ConfigStore::new(&p);
    assert!(matches!(store.load(), Err(StateError::Config(_))));
    store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port", json!(18789))
        })
        .unwrap();
    assert!(store.load().unwrap().is_some());
    fs::write(&p, "{ gateway: ").unwrap();
    let e = store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.port", json!(1))
        })
        .unwrap_err();
    assert!(matches!(e, StateError::Config(_)), "{e}");
    assert_eq!(fs::read_to_string(&p).unwrap(), "{ gateway: ");
}

#[test]
fn concurrent_threads_never_mix_files() {
    let t = tmp();
    let store = Arc::new(ConfigStore::new(t.path().join("openclaw.json")));
    let handles: Vec<_> = (0..50u16)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .update(None, |v| {
                        openclaw_config::set_path(v, "gateway.port", json!(20000 + i))?;
                        // a large value makes torn writes detectable
                        openclaw_config::set_path(
                            v,
                            "agents.defaults.workspace",
                            json!(format!("/w/{i}/{}", "x".repeat(20000))),
                        )
                    })
                    .unwrap();
                // a reader at any moment sees a whole file
                let l = store.load().unwrap().unwrap();
                assert!(l.parsed.config.gateway.is_some());
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let l = store.load().unwrap().unwrap();
    let port = l.parsed.config.instance_facts().gateway_port.unwrap();
    assert!((20000..20050).contains(&port));
    let ws = l.parsed.config.instance_facts().workspace.unwrap();
    assert!(
        ws.starts_with(&format!("/w/{}/", port - 20000)),
        "mixed file"
    );
    let bak = fs::read_to_string(store.backup_path()).unwrap();
    openclaw_config::parse(&bak, store.path()).unwrap();
}

#[test]
fn registry_records_idempotently_and_discovers() {
    let t = tmp();
    let home = t.path();
    assert!(registry::list(home).unwrap().is_empty());
    let custom = home.join("custom-state");
    fs::create_dir_all(&custom).unwrap();
    let rec = InstanceRecord {
        profile: Some("work".into()),
        state_dir: custom.clone(),
        config_path: custom.join("openclaw.json"),
    };
    registry::record(home, rec.clone()).unwrap();
    registry::record(home, rec.clone()).unwrap();
    assert_eq!(registry::list(home).unwrap(), vec![rec.clone()]);
    assert_eq!(mode(&registry::registry_path(home)), 0o600);
    // same state dir, new config path: replaced
    let rec2 = InstanceRecord {
        config_path: home.join("elsewhere.json"),
        ..rec.clone()
    };
    registry::record(home, rec2.clone()).unwrap();
    assert_eq!(registry::list(home).unwrap(), vec![rec2.clone()]);

    // scanned dirs
    for d in [
        ".openclaw",
        ".openclaw-main",
        ".openclaw-nocfg",
        ".openclaw-BAD",
    ] {
        fs::create_dir_all(home.join(d)).unwrap();
    }
    for d in [".openclaw", ".openclaw-main", ".openclaw-BAD"] {
        fs::write(home.join(d).join("openclaw.json"), "{}").unwrap();
    }
    // a registry entry whose dir and config are both gone is skipped
    registry::record(
        home,
        InstanceRecord {
            profile: Some("gone".into()),
            state_dir: home.join("gone"),
            config_path: home.join("gone/openclaw.json"),
        },
    )
    .unwrap();
    // a registry entry for a scanned dir is not duplicated
    registry::record(
        home,
        InstanceRecord {
            profile: Some("main".into()),
            state_dir: home.join(".openclaw-main"),
            config_path: home.join(".openclaw-main/openclaw.json"),
        },
    )
    .unwrap();
    let found = discover(home).unwrap();
    let summary: Vec<_> = found
        .iter()
        .map(|r| {
            (
                r.profile.clone(),
                r.state_dir.strip_prefix(home).unwrap().to_path_buf(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some("work".into()), "custom-state".into()),
            (Some("main".into()), ".openclaw-main".into()),
            (None, ".openclaw".into()),
        ]
    );
}

#[test]
fn corrupt_registry_is_an_error_naming_the_file() {
    let t = tmp();
    let p = registry::registry_path(t.path());
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, "not json").unwrap();
    let e = registry::list(t.path()).unwrap_err();
    assert!(e.to_string().contains("instances.json"), "{e}");
}

#[test]
fn create_if_missing_never_clobbers() {
    let t = tmp();
    let store = ConfigStore::new(t.path().join("new/openclaw.json"));
    let w = store
        .create_if_missing(&json!({"gateway": {"mode": "local"}}))
        .unwrap()
        .expect("written");
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&t.path().join("new")), 0o700);
    let before = fs::read(store.path()).unwrap();
    assert_eq!(w.hash, openclaw_config::hash(&before));
    assert!(
        store
            .create_if_missing(&json!({"gateway": {"mode": "remote"}}))
            .unwrap()
            .is_none()
    );
    assert_eq!(fs::read(store.path()).unwrap(), before);
    let e = ConfigStore::new(t.path().join("x.json"))
        .create_if_missing(&json!({"gateway": {"port": 0}}))
        .unwrap_err();
    assert!(e.to_string().contains("gateway.port"), "{e}");
    assert!(!t.path().join("x.json").exists());
}

#[test]
fn debug_output_never_shows_secrets() {
    let t = tmp();
    let store = ConfigStore::new(t.path().join("openclaw.json"));
    let w = store
        .update(None, |v| {
            openclaw_config::set_path(v, "gateway.auth.token", json!("s3cr3t-token"))
        })
        .unwrap();
    let l = store.load().unwrap().unwrap();
    for shown in [
        format!("{w:?}"),
        format!("{l:?}"),
        format!("{:?}", l.parsed),
    ] {
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(shown.contains(openclaw_config::REDACTED), "{shown}");
    }
    // the file itself does hold it
    assert!(l.raw.contains("s3cr3t-token"));
}

#[test]
fn write_new_file_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("AGENTS.md");
    assert!(crate::write_new_file(&p, b"first", 0o644).unwrap());
    assert!(!crate::write_new_file(&p, b"second", 0o644).unwrap());
    assert_eq!(std::fs::read(&p).unwrap(), b"first");
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // no temp files are left behind
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn secret_eq_compares_whole_secrets() {
    assert!(crate::secret_eq("abc123", "abc123"));
    for other in ["abc12", "abc1234", "ABC123", "", " abc123"] {
        assert!(!crate::secret_eq(other, "abc123"), "{other:?}");
    }
}

#[test]
fn a_based_write_requires_the_hash_once_the_file_exists_checked_under_the_lock() {
    let t = tmp();
    let store = Arc::new(ConfigStore::new(t.path().join("openclaw.json")));
    // Another writer holds the lock and creates the file while our write
    // (which saw no file before it asked for the lock) waits.
    let held = store.lock().unwrap();
    let s2 = store.clone();
    let writer = std::thread::spawn(move || {
        s2.update_based(None, |v| {
            v["gateway"] = serde_json::json!({"port": 1});
            Ok::<(), std::convert::Infallible>(())
        })
    });
    std::fs::write(store.path(), r#"{"gateway":{"port":2}}"#).unwrap();
    drop(held);
    let e = writer.join().unwrap().unwrap_err();
    assert!(matches!(e, StateError::BaseHashRequired { .. }), "{e:?}");
    assert_eq!(
        std::fs::read_to_string(store.path()).unwrap(),
        r#"{"gateway":{"port":2}}"#,
        "the other writer's file was not overwritten"
    );
    // With the hash it goes through; replace_raw_based follows the same rule.
    let (_, h) = store.read_raw().unwrap().unwrap();
    store
        .update_based(Some(&h), |v| {
            v["gateway"]["port"] = serde_json::json!(3);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap();
    assert!(matches!(
        store.replace_raw_based(None, "{}").unwrap_err(),
        StateError::BaseHashRequired { .. }
    ));
    // No file yet: no hash needed.
    let fresh = ConfigStore::new(t.path().join("fresh.json"));
    fresh.replace_raw_based(None, "{}").unwrap();
}

/// Issue 17: planted symlinks under a state dir are refused or replaced,
/// never followed (the log append, the owner record, the gateway's own
/// directories such as the browser profile dir).
#[test]
fn symlinks_under_a_state_dir_are_not_followed() {
    use std::os::unix::fs::symlink;
    let t = tmp();
    let sd = t.path().join("state");
    ensure_state_dir(&sd).unwrap();
    let victim = t.path().join("victim.txt");
    fs::write(&victim, "precious\n").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();

    // The log: a link at gateway.log is refused, the target untouched.
    let logs = sd.join("logs");
    fs::create_dir(&logs).unwrap();
    symlink(&victim, logs.join("gateway.log")).unwrap();
    let e = logs::RotatingFile::open(&logs, "gateway.log", 1 << 20, 1).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
    // A link at logs/ itself is refused too (its target is neither written
    // nor chmod-ed).
    fs::remove_dir_all(&logs).unwrap();
    let elsewhere = t.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o755)).unwrap();
    symlink(&elsewhere, &logs).unwrap();
    assert!(logs::RotatingFile::open(&logs, "gateway.log", 1 << 20, 1).is_err());
    assert!(logs::open_detached_log(&sd).is_err());
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(mode(&elsewhere), 0o755);
    // A FIFO is not a log file either (and opening it does not block).
    fs::remove_file(&logs).unwrap();
    fs::create_dir(&logs).unwrap();
    let fifo = logs.join("gateway.log");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert!(logs::RotatingFile::open(&logs, "gateway.log", 1 << 20, 1).is_err());

    // The owner record: the link is replaced by the record, its target
    // keeps its content; a linked record is not read as the owner.
    symlink(&victim, sd.join(owner::OWNER_FILE)).unwrap();
    assert!(owner::read_owner(&sd).is_none());
    let mut lock = owner::StateLock::acquire(&sd).unwrap();
    let rec = owner::OwnerRecord::for_current_process(
        None,
        1234,
        sd.clone(),
        sd.join("openclaw.json"),
        "t".into(),
    );
    lock.write_owner(&rec).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    let m = fs::symlink_metadata(sd.join(owner::OWNER_FILE)).unwrap();
    assert!(m.is_file(), "the record is a real file now");
    assert_eq!(owner::read_owner(&sd).unwrap().port, 1234);
    drop(lock);

    // The gateway's own directories (browser/<profile>/user-data): a link
    // anywhere on the way is refused, real ones are created 0700.
    let made = private_dir_beneath(&sd, &["browser", "openclaw", "user-data"]).unwrap();
    assert_eq!(made, sd.join("browser/openclaw/user-data"));
    assert_eq!(mode(&made), 0o700);
    fs::remove_dir_all(sd.join("browser")).unwrap();
    symlink(&elsewhere, sd.join("browser")).unwrap();
    let e = private_dir_beneath(&sd, &["browser", "openclaw", "user-data"]).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert!(private_dir_beneath(&sd, &["..", "x"]).is_err());

    // Channel state files: a link is replaced, not written through.
    let status = sd.join("status.json");
    symlink(&victim, &status).unwrap();
    write_json(&status, &json!({"state": "running"})).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(fs::symlink_metadata(&status).unwrap().is_file());

    // The config is the exception: a link to a dotfiles repo is kept and
    // its target written (as before).
    let real_cfg = t.path().join("dotfiles.json");
    fs::write(&real_cfg, "{}").unwrap();
    let cfg_link = sd.join("openclaw.json");
    symlink(&real_cfg, &cfg_link).unwrap();
    atomic_write(&cfg_link, b"{\"a\":1}", FILE_MODE).unwrap();
    assert!(
        fs::symlink_metadata(&cfg_link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&real_cfg).unwrap(), "{\"a\":1}");
}

/// What decides whether a failed config write puts its credentials files
/// back: only a config file still as it was before the write.
#[test]
fn a_failed_write_counts_as_written_once_the_file_changed() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("openclaw.json");
    let store = ConfigStore::new(&p);
    assert!(!store.changed_from(None), "absent before and after");
    std::fs::write(&p, "{}").unwrap();
    assert!(store.changed_from(None), "created by the write");
    assert!(!store.changed_from(Some("{}")), "left as it was");
    assert!(store.changed_from(Some("{ a: 1 }")), "replaced");
}
