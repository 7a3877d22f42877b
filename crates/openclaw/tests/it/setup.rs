//! Issue 2: setup, profiles show, config — the isolation checklist.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::harness::*;

fn ports(v: &Value) -> (u64, u64, u64, u64, u64) {
    let p = &v["instance"]["ports"];
    (
        p["gateway"]["value"].as_u64().unwrap(),
        p["browserControl"]["value"].as_u64().unwrap(),
        p["canvas"]["value"].as_u64().unwrap(),
        p["cdpRange"]["value"][0].as_u64().unwrap(),
        p["cdpRange"]["value"][1].as_u64().unwrap(),
    )
}

fn footprint_set(v: &Value) -> HashSet<u64> {
    let (g, b, c, s, e) = ports(v);
    let mut set: HashSet<u64> = [g, b, c].into_iter().collect();
    set.extend(s..=e);
    set
}

#[test]
fn main_and_rescue_profiles_are_isolated() {
    let h = TestHome::new();
    h.ok(&["--profile", "main", "setup"]);
    h.ok(&["--profile=rescue", "setup"]);

    for p in ["main", "rescue"] {
        let cfg = h.join(&format!(".openclaw-{p}/openclaw.json"));
        let raw = std::fs::read_to_string(&cfg).unwrap();
        let v: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(v["gateway"]["mode"], "local");
        assert_eq!(v["gateway"]["bind"], "loopback");
        assert_eq!(v["gateway"]["auth"]["mode"], "token");
        let token = v["gateway"]["auth"]["token"].as_str().unwrap();
        assert_eq!(token.len(), 48);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(v["gateway"]["port"].is_u64());
        assert_eq!(
            v["agents"]["defaults"]["workspace"],
            format!("~/.openclaw/workspace-{p}")
        );
        for f in ["AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md"] {
            assert!(
                h.join(&format!(".openclaw/workspace-{p}/{f}")).is_file(),
                "{p}: {f}"
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "config mode");
        let mode = std::fs::metadata(h.join(&format!(".openclaw-{p}")))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "state dir mode");
    }

    let main = h.json(&["--profile", "main", "profiles", "show", "--json"]);
    let rescue = h.json(&["--profile", "rescue", "profiles", "show", "--json"]);
    assert_eq!(
        main["instance"]["stateDir"]["value"],
        h.join(".openclaw-main").display().to_string()
    );
    assert_eq!(
        main["instance"]["stateDir"]["source"]["kind"],
        "profile-default"
    );
    assert_eq!(
        rescue["instance"]["configPath"]["value"],
        h.join(".openclaw-rescue/openclaw.json")
            .display()
            .to_string()
    );
    assert_eq!(
        rescue["instance"]["workspace"]["value"],
        h.join(".openclaw/workspace-rescue").display().to_string()
    );
    assert_eq!(rescue["instance"]["workspace"]["source"]["kind"], "config");
    assert_eq!(
        rescue["instance"]["ports"]["gateway"]["source"],
        serde_json::json!({"kind": "config", "key": "gateway.port"})
    );
    assert_eq!(
        rescue["instance"]["ports"]["browserControl"]["source"]["kind"],
        "derived"
    );
    assert_eq!(
        rescue["instance"]["services"]["systemdUnit"],
        "openclaw-gateway-rescue.service"
    );
    assert_eq!(
        rescue["instance"]["services"]["launchdLabel"],
        "ai.openclaw.rescue"
    );
    assert_eq!(
        rescue["instance"]["services"]["windowsTask"],
        "OpenClaw Gateway (rescue)"
    );
    assert!(
        footprint_set(&main).is_disjoint(&footprint_set(&rescue)),
        "footprints overlap: {main} {rescue}"
    );

    // Idempotent: a second setup changes nothing.
    let before = std::fs::read(h.join(".openclaw-rescue/openclaw.json")).unwrap();
    h.ok(&["--profile", "rescue", "setup"]);
    assert_eq!(
        before,
        std::fs::read(h.join(".openclaw-rescue/openclaw.json")).unwrap()
    );
}

#[test]
fn manual_env_example_resolves_those_paths_and_port() {
    let h = TestHome::new();
    for (cfg, state, port) in [
        ("~/.openclaw/main.json", "~/.openclaw-main", "18789"),
        ("~/.openclaw/rescue.json", "~/.openclaw-rescue", "19001"),
    ] {
        // Once literally (as a quoted shell value) and once expanded by the shell.
        let expanded_cfg = cfg.replacen('~', &h.path().display().to_string(), 1);
        let expanded_state = state.replacen('~', &h.path().display().to_string(), 1);
        for (c, s) in [
            (cfg.to_string(), state.to_string()),
            (expanded_cfg.clone(), expanded_state.clone()),
        ] {
            let v = h.json_env(
                &["profiles", "show", "--port", port, "--json"],
                &[("OPENCLAW_CONFIG_PATH", &c), ("OPENCLAW_STATE_DIR", &s)],
            );
            let i = &v["instance"];
            assert_eq!(i["configPath"]["value"], expanded_cfg);
            assert_eq!(
                i["configPath"]["source"],
                serde_json::json!({"kind": "env", "key": "OPENCLAW_CONFIG_PATH"})
            );
            assert_eq!(i["stateDir"]["value"], expanded_state);
            assert_eq!(
                i["stateDir"]["source"],
                serde_json::json!({"kind": "env", "key": "OPENCLAW_STATE_DIR"})
            );
            assert_eq!(
                i["ports"]["gateway"]["value"].as_u64().unwrap().to_string(),
                port
            );
            assert_eq!(
                i["ports"]["gateway"]["source"],
                serde_json::json!({"kind": "flag", "key": "--port"})
            );
        }
    }
}

#[test]
fn rescue_on_18809_is_refused_because_of_mains_cdp_range() {
    let h = TestHome::new();
    h.ok(&["--profile", "main", "setup", "--port", "18789"]);
    let out = h.run(&["--profile", "rescue", "setup", "--port", "18809"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("profile main"), "{err}");
    assert!(err.contains("CDP range 18800-18899"), "{err}");
    assert!(
        err.contains("hint: openclaw --profile rescue setup --port "),
        "{err}"
    );
    assert!(
        !h.join(".openclaw-rescue/openclaw.json").exists(),
        "nothing written for rescue"
    );
    // A non-overlapping pin is fine.
    h.ok(&["--profile", "rescue", "setup", "--port", "19001"]);
}

#[test]
fn instance_with_custom_state_dir_is_found_by_later_setups() {
    let h = TestHome::new();
    let custom = h.join("srv/oc-custom");
    h.ok_env(
        &["setup", "--port", "18789"],
        &[("OPENCLAW_STATE_DIR", custom.to_str().unwrap())],
    );
    // a named profile must steer clear of the custom instance's footprint
    let out = h.run(&["--profile", "x", "setup", "--port", "18800"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&custom.display().to_string()),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn invalid_profile_flags_exit_2_with_one_line() {
    let h = TestHome::new();
    for args in [
        &["--profile", "Bad!", "status"][..],
        &["--dev", "--profile", "x", "status"],
        &["--profile"],
        &["--profile=", "setup"],
    ] {
        let out = h.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("openclaw: "), "{err}");
    }
}

#[test]
fn port_overflow_is_a_clear_error() {
    let h = TestHome::new();
    let out = h.run(&["profiles", "show", "--port", "65500"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("at most 65425"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn config_errors_name_line_column_and_key_path() {
    let h = TestHome::new();
    h.ok(&[
        "--profile",
        "e",
        "setup",
        "--port",
        &free_base_port().to_string(),
    ]);
    let cfg = h.join(".openclaw-e/openclaw.json");

    // syntax error
    std::fs::write(&cfg, "{\n  gateway: {\n    port: 18789,,\n  },\n}\n").unwrap();
    let out = h.run(&["--profile", "e", "config", "validate"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("openclaw.json:3:"), "{err}");

    // wrong type + unknown key, JSON5 comments and trailing commas otherwise fine
    let bad = "{\n  // a comment\n  gateway: {\n    port: \"abc\",\n    bogusKey: 1,\n  },\n}\n";
    std::fs::write(&cfg, bad).unwrap();
    let out = h.run(&["--profile", "e", "config", "validate"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("openclaw.json:4:11"), "{err}");
    assert!(err.contains("gateway.port"), "{err}");
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(err.contains("gateway.bogusKey"), "{err}");

    // nothing is written on a failed set
    let out = h.run(&["--profile", "e", "config", "set", "gateway.bind", "lan"]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), bad);
    // a value of the wrong type is refused before writing
    std::fs::write(&cfg, "{gateway: {port: 20000}}").unwrap();
    let out = h.run(&["--profile", "e", "config", "set", "gateway.port", "huge"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("gateway.port"));
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "{gateway: {port: 20000}}"
    );
}

#[test]
fn config_get_set_unset_and_secrets() {
    let h = TestHome::new();
    let port = free_base_port().to_string();
    h.ok(&["--profile", "c", "setup", "--port", &port]);
    assert_eq!(
        h.ok(&["--profile", "c", "config", "file"]).trim(),
        h.join(".openclaw-c/openclaw.json").display().to_string()
    );
    assert_eq!(
        h.ok(&["--profile", "c", "config", "get", "gateway.port"])
            .trim(),
        port
    );
    let red = h.ok(&["--profile", "c", "config", "get", "gateway.auth.token"]);
    assert!(
        !red.trim().bytes().all(|b| b.is_ascii_hexdigit()),
        "token must be redacted: {red}"
    );
    let whole = h.ok(&["--profile", "c", "config", "get"]);
    let token = h.ok(&[
        "--profile",
        "c",
        "config",
        "get",
        "gateway.auth.token",
        "--show-secrets",
    ]);
    assert_eq!(token.trim().len(), 48);
    assert!(
        !whole.contains(token.trim()),
        "whole-config get leaks the token"
    );

    h.ok(&[
        "--profile",
        "c",
        "config",
        "set",
        "browser.profiles.work",
        "{cdpPort: 18850, color: '#00f',}",
    ]);
    assert_eq!(
        h.ok(&[
            "--profile",
            "c",
            "config",
            "get",
            "browser.profiles.work.cdpPort"
        ])
        .trim(),
        "18850"
    );
    h.ok(&["--profile", "c", "config", "set", "gateway.bind", "lan"]);
    assert_eq!(
        h.ok(&["--profile", "c", "config", "get", "gateway.bind"])
            .trim(),
        "lan"
    );
    h.ok(&["--profile", "c", "config", "unset", "browser.profiles.work"]);
    assert!(
        !h.run(&["--profile", "c", "config", "get", "browser.profiles.work"])
            .status
            .success()
    );
    let bak = h.join(".openclaw-c/openclaw.json.bak");
    let _: Value = serde_json::from_str(&std::fs::read_to_string(bak).unwrap()).unwrap();
    let schema = h.json(&["config", "schema"]);
    assert!(schema["properties"]["gateway"].is_object(), "{schema}");
}

#[test]
fn fifty_concurrent_config_sets_never_corrupt_the_file() {
    let h = TestHome::new();
    h.ok(&[
        "--profile",
        "w",
        "setup",
        "--port",
        &free_base_port().to_string(),
    ]);
    let cfg = h.join(".openclaw-w/openclaw.json");
    let bak = h.join(".openclaw-w/openclaw.json.bak");
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (cfg, bak, done) = (cfg.clone(), bak.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                for p in [&cfg, &bak] {
                    if let Ok(raw) = std::fs::read_to_string(p) {
                        serde_json::from_str::<Value>(&raw).unwrap_or_else(|e| {
                            panic!("{} does not parse mid-write: {e}\n{raw}", p.display())
                        });
                        reads += 1;
                    }
                }
            }
            reads
        })
    };
    let children: Vec<_> = (0..50)
        .map(|i| {
            let mut c = h.cmd(&[
                "--profile",
                "w",
                "config",
                "set",
                "agents.defaults.maxSteps",
                &(100 + i).to_string(),
            ]);
            c.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    done.store(true, Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    let n = v["agents"]["defaults"]["maxSteps"].as_u64().unwrap();
    assert!((100..150).contains(&n), "{n}");
    assert!(
        v["gateway"]["auth"]["token"].is_string(),
        "other keys survive"
    );
    let _: Value = serde_json::from_str(&std::fs::read_to_string(&bak).unwrap()).unwrap();
}

#[test]
fn commands_read_the_config_once_and_warn_once() {
    let h = TestHome::new();
    h.ok(&[
        "--profile",
        "w1",
        "setup",
        "--port",
        &free_base_port().to_string(),
    ]);
    let cfg = h.join(".openclaw-w1/openclaw.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["gateway"]["bogusKey"] = serde_json::json!(1);
    std::fs::write(&cfg, v.to_string()).unwrap();
    for args in [
        &["--profile", "w1", "status"][..],
        &["--profile", "w1", "models", "list"],
    ] {
        let out = h.run(args);
        let err = text(&out.stderr);
        assert_eq!(
            err.matches("gateway.bogusKey").count(),
            1,
            "{args:?}: {err}"
        );
    }
}

#[test]
fn hints_select_a_custom_instance_even_when_its_config_is_broken() {
    let h = TestHome::new();
    let custom = h.join("srv/oc");
    let custom_s = custom.display().to_string();
    h.ok_env(
        &["setup", "--port", &free_base_port().to_string()],
        &[("OPENCLAW_STATE_DIR", &custom_s)],
    );
    std::fs::write(custom.join("openclaw.json"), "{gateway: {port: \"x\"}}").unwrap();
    let list = h.json(&["profiles", "--json"]);
    let entry = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["stateDir"] == custom_s.as_str())
        .unwrap_or_else(|| panic!("{list}"));
    assert!(entry["error"].is_string(), "{entry}");
    assert_eq!(
        entry["cli"],
        format!(
            "OPENCLAW_CONFIG_PATH={custom_s}/openclaw.json OPENCLAW_STATE_DIR={custom_s} openclaw"
        )
    );
}
