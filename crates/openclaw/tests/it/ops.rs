//! Issue 5: per-profile services, onboarding, the host-wide view and doctor.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

fn footprint_of(v: &Value) -> HashSet<u64> {
    let p = &v["instance"]["ports"];
    let mut s: HashSet<u64> = ["gateway", "browserControl", "canvas"]
        .iter()
        .map(|k| p[k]["value"].as_u64().unwrap())
        .collect();
    s.extend(
        p["cdpRange"]["value"][0].as_u64().unwrap()..=p["cdpRange"]["value"][1].as_u64().unwrap(),
    );
    s
}

fn show(h: &TestHome, profile: &str) -> Value {
    h.json(&["--profile", profile, "profiles", "show", "--json"])
}

fn config_port(h: &TestHome, profile: &str) -> u64 {
    let raw =
        std::fs::read_to_string(h.join(&format!(".openclaw-{profile}/openclaw.json"))).unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    v["gateway"]["port"].as_u64().unwrap()
}

/// The text of the file a dry run would write: the indented lines after
/// `would write <path>:`.
fn planned_file(stdout: &str, name: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in stdout.lines() {
        if line.starts_with("would write ") {
            inside = line.trim_end_matches(':').ends_with(name);
            continue;
        }
        if inside {
            match line.strip_prefix("    ") {
                Some(rest) => {
                    out.push_str(rest);
                    out.push('\n');
                }
                None if line.is_empty() => out.push('\n'),
                None => inside = false,
            }
        }
    }
    out
}

/// `systemd-analyze --user verify` problems for a unit file (see the
/// service crate's test): a non-zero exit, or a complaint naming the unit.
fn analyze(unit: &Path, scratch: &Path) -> Vec<String> {
    let runtime = scratch.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let out = Command::new("/usr/bin/systemd-analyze")
        .args(["--user", "verify"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", scratch)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("systemd-analyze must be installed for this test");
    let stderr = text(&out.stderr);
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    let mut problems: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains(&name))
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            [
                "warn", "unknown", "invalid", "failed", "ignoring", "error", "bad", "missing",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .map(str::to_string)
        .collect();
    if !out.status.success() {
        problems.push(format!("exit {:?}: {stderr}", out.status));
    }
    problems
}

#[test]
fn rescue_install_dry_run_names_only_rescue_even_with_mains_env() {
    let h = TestHome::new();
    let (main_port, rescue_port) = (free_base_port(), free_base_port());
    setup(&h, "main", main_port);
    setup(&h, "rescue", rescue_port);
    let main_dir = h.join(".openclaw-main");
    let main_cfg = main_dir.join("openclaw.json");
    let mp = main_port.to_string();
    let main_env = [
        ("OPENCLAW_PROFILE", "main"),
        ("OPENCLAW_STATE_DIR", main_dir.to_str().unwrap()),
        ("OPENCLAW_CONFIG_PATH", main_cfg.to_str().unwrap()),
        ("OPENCLAW_GATEWAY_PORT", mp.as_str()),
    ];
    let out = h.run_env(
        &["--profile", "rescue", "gateway", "install", "--dry-run"],
        &main_env,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let unit_path = h.join(".config/systemd/user/openclaw-gateway-rescue.service");
    assert!(
        stdout.contains(&format!("would write {}:", unit_path.display())),
        "{stdout}"
    );
    let unit = planned_file(&stdout, "openclaw-gateway-rescue.service");
    let rescue_dir = h.join(".openclaw-rescue");
    for want in [
        format!("--port {rescue_port}"),
        format!("\"OPENCLAW_GATEWAY_PORT={rescue_port}\""),
        format!("\"OPENCLAW_STATE_DIR={}\"", rescue_dir.display()),
        format!(
            "\"OPENCLAW_CONFIG_PATH={}\"",
            rescue_dir.join("openclaw.json").display()
        ),
        "\"OPENCLAW_PROFILE=rescue\"".to_string(),
        "\"OPENCLAW_SYSTEMD_UNIT=openclaw-gateway-rescue.service\"".to_string(),
        "RestartPreventExitStatus=78".to_string(),
    ] {
        assert!(unit.contains(&want), "missing {want} in:\n{unit}");
    }
    for banned in [
        ".openclaw-main",
        &format!("--port {main_port}"),
        &format!("={main_port}"),
    ] {
        assert!(!stdout.contains(banned), "{banned} leaked into:\n{stdout}");
    }
    assert!(
        stdout.contains("would run: systemctl --user enable --now openclaw-gateway-rescue.service"),
        "{stdout}"
    );
    // A dry run writes nothing.
    assert!(!unit_path.exists());

    // The printed unit passes systemd-analyze verify.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("units/openclaw-gateway-rescue.service");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &unit).unwrap();
    let problems = analyze(&file, scratch.path());
    assert!(problems.is_empty(), "{problems:#?}\n{unit}");

    // JSON form: the same plan.
    let v = h.json_env(
        &[
            "--profile",
            "rescue",
            "gateway",
            "install",
            "--dry-run",
            "--json",
        ],
        &main_env,
    );
    assert_eq!(v["service"], "openclaw-gateway-rescue.service");
    assert_eq!(v["port"], rescue_port);
    assert!(!v.to_string().contains(".openclaw-main"));
}

#[test]
fn install_without_a_user_session_fails_with_the_unit_path_and_manual_commands() {
    let h = TestHome::new();
    setup(&h, "rescue", free_base_port());
    let unit = h.join(".config/systemd/user/openclaw-gateway-rescue.service");
    let out = h.run(&["--profile", "rescue", "gateway", "install"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("NOT installed"), "{stderr}");
    assert!(stderr.contains(&unit.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("systemctl --user daemon-reload"),
        "{stderr}"
    );
    assert!(
        stderr.contains("systemctl --user enable --now openclaw-gateway-rescue.service"),
        "{stderr}"
    );
    assert!(
        stderr.contains("openclaw --profile rescue gateway"),
        "foreground command: {stderr}"
    );
    assert!(!stdout.contains("installed and started"), "{stdout}");
    // The file was written (so the manual commands work as printed).
    assert!(unit.is_file());

    // status reports it installed, with the manager unavailable.
    let st = h.json(&["--profile", "rescue", "gateway", "status", "--json"]);
    let sv = &st["service"];
    assert_eq!(sv["installed"], true, "{st}");
    assert!(sv["managerUnavailable"].is_string(), "{st}");
    assert_eq!(sv["drift"], serde_json::json!([]));
    assert_eq!(st["gateway"]["state"], "stopped", "{st}");

    // start/restart/uninstall say the same, and claim nothing.
    for op in ["start", "uninstall"] {
        let out = h.run(&["--profile", "rescue", "gateway", op]);
        assert!(!out.status.success(), "{op}");
        assert!(
            text(&out.stderr).contains("NOT"),
            "{op}: {}",
            text(&out.stderr)
        );
    }
    assert!(unit.is_file(), "a failed uninstall leaves the file");
}

#[test]
fn rescue_onboards_next_to_main_without_a_tty_and_says_which_ports() {
    let h = TestHome::new();
    setup(&h, "main", free_base_port());
    // No TTY and no --non-interactive: explain, exit 2, change nothing.
    let out = h.run(&["--profile", "rescue", "onboard"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("openclaw --profile rescue onboard --non-interactive --accept-risk"),
        "{err}"
    );
    assert!(!h.join(".openclaw-rescue/openclaw.json").exists());
    // Missing --accept-risk, remote mode and other auth choices are refused plainly.
    for (args, needle) in [
        (&["--non-interactive"][..], "--accept-risk"),
        (
            &["--non-interactive", "--accept-risk", "--mode", "remote"],
            "local",
        ),
        (
            &[
                "--non-interactive",
                "--accept-risk",
                "--auth-choice",
                "apiKey",
            ],
            "skip",
        ),
    ] {
        let mut a = vec!["--profile", "rescue", "onboard"];
        a.extend_from_slice(args);
        let out = h.run(&a);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(!h.join(".openclaw-rescue/openclaw.json").exists());

    let out = h.run(&[
        "--profile",
        "rescue",
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--mode",
        "local",
        "--auth-choice",
        "skip",
        "--skip-daemon",
        "--skip-health",
        "--skip-channels",
        "--skip-skills",
        "--skip-ui",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let main = show(&h, "main");
    let rescue = show(&h, "rescue");
    let fa = footprint_of(&main);
    let fb = footprint_of(&rescue);
    assert!(fa.is_disjoint(&fb), "{main}\n{rescue}");
    let p = &rescue["instance"]["ports"];
    let line = format!(
        "ports      gateway {}, browser control {}, canvas {}, CDP {}-{}",
        p["gateway"]["value"],
        p["browserControl"]["value"],
        p["canvas"]["value"],
        p["cdpRange"]["value"][0],
        p["cdpRange"]["value"][1]
    );
    assert!(stdout.contains(&line), "{line}\n{stdout}");
    assert!(stdout.contains("service    skipped"), "{stdout}");
    assert!(stderr.contains("[1/"), "progress on stderr: {stderr}");
    let cfg: Value = serde_json::from_str(
        &std::fs::read_to_string(h.join(".openclaw-rescue/openclaw.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["gateway"]["mode"], "local");
    assert_eq!(cfg["gateway"]["auth"]["token"].as_str().unwrap().len(), 48);
    assert!(h.join(".openclaw/workspace-rescue/BOOTSTRAP.md").is_file());

    // JSON form, run again: idempotent, same ports.
    let v = h.json(&[
        "--profile",
        "rescue",
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--skip-daemon",
        "--skip-health",
        "--json",
    ]);
    assert_eq!(v["ports"]["gateway"], p["gateway"]["value"]);
    assert_eq!(v["daemon"]["status"], "skipped");
    assert_eq!(v["configCreated"], false);
}

#[test]
fn onboard_without_skip_daemon_reports_the_unusable_manager_truthfully() {
    let h = TestHome::new();
    let port = free_base_port();
    let _reaper = OwnerReaper(h.join(".openclaw-ob"));
    let v = h.json(&[
        "--profile",
        "ob",
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--port",
        &port.to_string(),
        "--skip-health",
        "--json",
    ]);
    assert_eq!(v["daemon"]["status"], "unavailable", "{v}");
    assert!(
        v["daemon"]["manualCommands"]
            .to_string()
            .contains("enable --now openclaw-gateway-ob.service"),
        "{v}"
    );
    // The gateway that holds the state dir must be stopped before the
    // service can take it.
    assert_eq!(
        v["manualServiceCommands"][0], "openclaw --profile ob gateway stop",
        "{v}"
    );
    assert_eq!(
        v["foregroundCommand"],
        format!("openclaw --profile ob gateway --port {port}")
    );
    // Nothing runs it as a service, so onboarding started it in the
    // background, and says so.
    assert_eq!(v["gateway"]["status"], "started-detached", "{v}");
    let pid = v["gateway"]["pid"].as_u64().unwrap();
    // Even unchecked, "started" means it already holds the state dir's
    // lock: a command run right now sees this instance's gateway and does
    // not start a second one.
    assert_eq!(
        openclaw_state::owner::lock_holder(&h.join(".openclaw-ob")),
        openclaw_state::owner::LockProbe::Held {
            pid: Some(u32::try_from(pid).unwrap())
        },
        "{v}"
    );

    // Run again (the manager is still unusable): the running gateway is
    // found, checked and kept, and no second one is started.
    {
        let out = h.run(&[
            "--profile",
            "ob",
            "onboard",
            "--non-interactive",
            "--accept-risk",
            "--port",
            &port.to_string(),
        ]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("NOT installed (service manager unavailable"),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "gateway    running: pid {pid}, port {port}, healthy"
            )),
            "{stdout}"
        );
        assert_eq!(status_pid(&h, "ob"), Some(pid), "{stdout}");
    }
}

#[test]
fn doctor_finds_the_cdp_overlap_and_fix_moves_rescue() {
    let h = TestHome::new();
    // Written into configs only; nothing binds these ports.
    setup(&h, "main", 18789);
    setup(&h, "rescue", free_base_port());
    h.ok(&[
        "--profile",
        "rescue",
        "config",
        "set",
        "gateway.port",
        "18809",
    ]);

    for who in [&["doctor"][..], &["--profile", "rescue", "doctor"]] {
        let out = h.run(who);
        assert_eq!(out.status.code(), Some(1), "{who:?}: {}", text(&out.stdout));
        let s = text(&out.stdout);
        assert!(s.contains("profile main's CDP range 18800-18899"), "{s}");
        assert!(s.contains("profile rescue's gateway 18809"), "{s}");
        assert!(
            s.contains("fix:   openclaw --profile rescue config set gateway.port "),
            "{s}"
        );
    }
    let out = h.run(&["doctor", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "port-overlap")
        .expect("port-overlap finding");
    assert_eq!(f["severity"], "error");
    assert_eq!(
        f["instances"],
        serde_json::json!(["profile main", "profile rescue"])
    );

    // Run the fix as main: rescue (set up later) moves, main stays.
    let out = h.run(&["--profile", "main", "doctor", "--fix"]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}\n{}", text(&out.stderr));
    assert!(
        s.contains("fixed: moved profile rescue from base port 18809 to "),
        "{s}"
    );
    assert_eq!(config_port(&h, "main"), 18789);
    let new = config_port(&h, "rescue");
    assert_ne!(new, 18809);
    assert!(footprint_of(&show(&h, "main")).is_disjoint(&footprint_of(&show(&h, "rescue"))));

    let out = h.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("no problems found"));
}

#[test]
fn doctor_names_an_explicit_cdp_port_override_and_how_to_remove_it() {
    let h = TestHome::new();
    let (a, b) = (free_base_port(), free_base_port());
    setup(&h, "main", a);
    setup(&h, "rescue", b);
    // rescue pins a browser profile's CDP port inside main's CDP range.
    let pin = format!("{{cdpPort: {}}}", a + 20);
    h.ok(&[
        "--profile",
        "rescue",
        "config",
        "set",
        "browser.profiles.work",
        &pin,
    ]);
    let out = h.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(
        s.contains("profile rescue's CDP port of browser profile work"),
        "{s}"
    );
    assert!(
        s.contains("openclaw --profile rescue config unset browser.profiles.work.cdpPort"),
        "{s}"
    );
}

#[test]
fn profiles_lists_main_rescue_and_a_custom_state_dir_instance() {
    let h = TestHome::new();
    let (a, b, c) = (free_base_port(), free_base_port(), free_base_port());
    setup(&h, "main", a);
    setup(&h, "rescue", b);
    let custom = h.join("srv/oc-custom");
    h.ok_env(
        &["setup", "--port", &c.to_string()],
        &[("OPENCLAW_STATE_DIR", custom.to_str().unwrap())],
    );
    for args in [&["profiles", "--json"][..], &["profiles", "list", "--json"]] {
        let v = h.json(args);
        let list = v["instances"].as_array().unwrap();
        assert_eq!(list.len(), 3, "{v}");
        let find = |dir: &Path| {
            list.iter()
                .find(|e| e["stateDir"] == dir.display().to_string())
                .unwrap_or_else(|| panic!("{} not listed: {v}", dir.display()))
        };
        for (dir, profile, port) in [
            (h.join(".openclaw-main"), Some("main"), a),
            (h.join(".openclaw-rescue"), Some("rescue"), b),
            (custom.clone(), None, c),
        ] {
            let e = find(&dir);
            assert_eq!(e["profile"].as_str(), profile);
            assert_eq!(e["ports"]["gateway"], port);
            assert_eq!(e["ports"]["browserControl"], port + 2);
            // Nothing was started: no live owner record.
            assert_eq!(e["running"], false, "{e}");
            assert!(e["gateway"].is_null(), "{e}");
            assert_eq!(e["health"]["ok"], false, "{e}");
            assert_eq!(e["service"]["installed"], false, "{e}");
        }
        assert!(
            find(&custom)["cli"]
                .as_str()
                .unwrap()
                .starts_with("OPENCLAW_CONFIG_PATH=")
        );
    }
    let s = h.ok(&["profiles"]);
    assert!(
        s.contains("profile main") && s.contains("profile rescue"),
        "{s}"
    );
    assert!(
        s.contains(&format!("instance at {}", custom.display())),
        "{s}"
    );
    assert!(
        s.contains("gateway    stopped (start: openclaw --profile rescue gateway)"),
        "{s}"
    );
}

#[cfg(unix)]
#[test]
fn doctor_reports_and_fixes_loose_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let h = TestHome::new();
    setup(&h, "p", free_base_port());
    let dir = h.join(".openclaw-p");
    let cfg = dir.join("openclaw.json");
    let creds = dir.join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("whatsapp.json"), "{}").unwrap();
    let set =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    set(&dir, 0o755);
    set(&cfg, 0o644);
    set(&creds, 0o755);
    set(&creds.join("whatsapp.json"), 0o644);

    let out = h.run(&["--profile", "p", "doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let perms: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "permissions")
        .collect();
    assert_eq!(perms.len(), 4, "{v}");
    let fixes: Vec<&str> = perms.iter().map(|f| f["fix"].as_str().unwrap()).collect();
    assert!(
        fixes.contains(&format!("chmod 600 {}", cfg.display()).as_str()),
        "{fixes:?}"
    );
    assert!(
        fixes.contains(&format!("chmod 700 {}", dir.display()).as_str()),
        "{fixes:?}"
    );

    let s = h.ok(&["--profile", "p", "doctor", "--fix"]);
    assert!(
        s.contains(&format!("set mode 0600 on {} (was 0644)", cfg.display())),
        "{s}"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&cfg), 0o600);
    assert_eq!(mode(&creds), 0o700);
    assert_eq!(mode(&creds.join("whatsapp.json")), 0o600);
    assert!(
        h.ok(&["--profile", "p", "doctor"])
            .contains("no problems found")
    );
}

#[test]
fn doctor_reports_a_shared_workspace_naming_both() {
    let h = TestHome::new();
    setup(&h, "main", free_base_port());
    setup(&h, "rescue", free_base_port());
    h.ok(&[
        "--profile",
        "rescue",
        "config",
        "set",
        "agents.defaults.workspace",
        "~/.openclaw/workspace-main",
    ]);
    let out = h.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(
        s.contains(
            "profile main and profile rescue share the workspace ~/.openclaw/workspace-main"
        ),
        "{s}"
    );
    assert!(
        s.contains("openclaw --profile rescue config set agents.defaults.workspace '~/.openclaw/workspace-rescue'"),
        "{s}"
    );
}

#[test]
fn doctor_reports_the_same_cdp_url_on_two_instances() {
    let h = TestHome::new();
    setup(&h, "main", free_base_port());
    setup(&h, "rescue", free_base_port());
    h.ok(&[
        "--profile",
        "main",
        "config",
        "set",
        "browser.cdpUrl",
        "http://127.0.0.1:9222",
    ]);
    h.ok(&[
        "--profile",
        "rescue",
        "config",
        "set",
        "browser.profiles.remote",
        "{cdpUrl: 'http://localhost:9222/'}",
    ]);
    let out = h.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(
        s.contains(
            "profile main's browser.cdpUrl, profile rescue's browser.profiles.remote.cdpUrl"
        ),
        "{s}"
    );
    assert!(
        s.contains("fix:   openclaw --profile rescue config unset browser.profiles.remote.cdpUrl"),
        "{s}"
    );
    h.ok(&[
        "--profile",
        "rescue",
        "config",
        "unset",
        "browser.profiles.remote.cdpUrl",
    ]);
    assert!(h.ok(&["doctor"]).contains("no problems found"));
}

#[test]
fn doctor_warns_about_profile_dirs_that_differ_only_by_case() {
    let h = TestHome::new();
    setup(&h, "rescue", free_base_port());
    let upper = h.join(".openclaw-Rescue");
    h.ok_env(
        &["setup", "--port", &free_base_port().to_string()],
        &[("OPENCLAW_STATE_DIR", upper.to_str().unwrap())],
    );
    let out = h.run(&["doctor", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "case-only-profile")
        .unwrap_or_else(|| panic!("no case finding: {v}"));
    assert_eq!(f["severity"], "warning");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("~/.openclaw-Rescue") && msg.contains("~/.openclaw-rescue"),
        "{msg}"
    );
    assert!(f["fix"].as_str().unwrap().starts_with("mv "), "{f}");
}

#[test]
fn doctor_reports_service_drift_after_the_port_changes() {
    let h = TestHome::new();
    setup(&h, "rescue", free_base_port());
    // Writes the unit even though no user session can load it.
    let _ = h.run(&["--profile", "rescue", "gateway", "install"]);
    assert!(
        h.join(".config/systemd/user/openclaw-gateway-rescue.service")
            .is_file()
    );
    assert!(
        h.ok(&["--profile", "rescue", "doctor"])
            .contains("no problems found")
    );
    let moved = free_base_port().to_string();
    h.ok(&[
        "--profile",
        "rescue",
        "config",
        "set",
        "gateway.port",
        &moved,
    ]);
    let out = h.run(&["--profile", "rescue", "doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(s.contains("[service-drift]"), "{s}");
    assert!(s.contains("OPENCLAW_GATEWAY_PORT"), "{s}");
    assert!(
        s.contains("fix:   openclaw --profile rescue gateway install --force"),
        "{s}"
    );
}

// ---------------------------------------------------------------------------
// Running gateways: status, profiles, stop/restart, onboard, doctor.

/// Kills (SIGKILL) whatever gateway owns `state_dir` at the end of a test:
/// a gateway that `gateway restart` started detached is not our child.
struct OwnerReaper(PathBuf);

impl Drop for OwnerReaper {
    fn drop(&mut self) {
        if let Some(pid) = owner_pid(&self.0) {
            signal(pid as i32, libc::SIGKILL);
        }
    }
}

/// The pid in a state dir's owner record, if the file exists.
fn owner_pid(state_dir: &Path) -> Option<u32> {
    let raw = std::fs::read(state_dir.join("gateway.owner.json")).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    v["pid"].as_u64().map(|p| p as u32)
}

fn status_json(h: &TestHome, profile: &str) -> Value {
    h.json(&["--profile", profile, "status", "--json"])
}

/// The gateway pid `status` reports, or None when stopped.
fn status_pid(h: &TestHome, profile: &str) -> Option<u64> {
    let v = status_json(h, profile);
    match v["gateway"]["state"].as_str() {
        Some("running") => Some(v["gateway"]["pid"].as_u64().expect("pid when running")),
        Some("stopped") => None,
        other => panic!("unexpected state {other:?}: {v}"),
    }
}

#[test]
fn status_and_gateway_status_are_one_report_with_the_service_section() {
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "rescue", port);
    let strip = |mut v: Value| {
        // Timing fields differ between two runs.
        for k in ["uptimeMs", "health"] {
            if let Some(g) = v["gateway"].as_object_mut() {
                g.remove(k);
            }
        }
        v
    };
    let a = strip(h.json(&["--profile", "rescue", "status", "--json"]));
    let b = strip(h.json(&["--profile", "rescue", "gateway", "status", "--json"]));
    assert_eq!(a, b, "one report for both commands");
    assert_eq!(a["gateway"]["state"], "stopped");
    assert_eq!(a["gateway"]["start"], "openclaw --profile rescue gateway");
    let sv = &a["service"];
    assert_eq!(sv["name"], "openclaw-gateway-rescue.service", "{a}");
    assert_eq!(sv["installed"], false, "{a}");
    assert_eq!(
        sv["path"],
        h.join(".config/systemd/user/openclaw-gateway-rescue.service")
            .display()
            .to_string()
    );
    // Either the manager answers (enabled/active known) or it says why not.
    assert!(
        sv["managerUnavailable"].is_string() || sv["active"].is_boolean(),
        "{a}"
    );
    assert_eq!(sv["install"], "openclaw --profile rescue gateway install");

    let gw = GatewayChild::start(&h, &["--profile", "rescue", "gateway"], &[], port);
    let v = status_json(&h, "rescue");
    assert_eq!(v["gateway"]["state"], "running", "{v}");
    assert_eq!(v["gateway"]["pid"], gw.pid());
    assert_eq!(v["gateway"]["port"], port);
    assert_eq!(v["service"]["name"], "openclaw-gateway-rescue.service");
    for args in [&["status"][..], &["gateway", "status"]] {
        let mut a = vec!["--profile", "rescue"];
        a.extend_from_slice(args);
        let s = h.ok(&a);
        assert!(
            s.contains(&format!("running on port {port} (pid {}", gw.pid())),
            "{args:?}: {s}"
        );
        assert!(
            s.contains("service      openclaw-gateway-rescue.service (not installed"),
            "{args:?}: {s}"
        );
        assert!(
            s.contains(&format!(
                "state dir    {}",
                h.join(".openclaw-rescue").display()
            )),
            "{s}"
        );
    }
}

#[test]
fn profiles_running_state_follows_the_started_gateway_and_stop() {
    let h = TestHome::new();
    let (a, b, c) = (free_base_port(), free_base_port(), free_base_port());
    setup(&h, "main", a);
    setup(&h, "rescue", b);
    let custom = h.join("srv/oc-custom");
    h.ok_env(
        &["setup", "--port", &c.to_string()],
        &[("OPENCLAW_STATE_DIR", custom.to_str().unwrap())],
    );
    let mut gw = GatewayChild::start(&h, &["--profile", "rescue", "gateway"], &[], b);
    let entries = |h: &TestHome| -> Vec<Value> {
        h.json(&["profiles", "--json"])["instances"]
            .as_array()
            .unwrap()
            .clone()
    };
    let list = entries(&h);
    assert_eq!(list.len(), 3);
    let rescue_dir = h.join(".openclaw-rescue").display().to_string();
    for e in &list {
        if e["stateDir"] == rescue_dir.as_str() {
            assert_eq!(e["running"], true, "{e}");
            assert_eq!(e["gateway"]["pid"], gw.pid(), "{e}");
            assert_eq!(e["gateway"]["port"], b, "{e}");
            assert_eq!(e["gateway"]["version"], env!("CARGO_PKG_VERSION"));
            assert!(e["gateway"]["uptimeSeconds"].is_u64(), "{e}");
            assert_eq!(e["health"]["ok"], true, "{e}");
        } else {
            assert_eq!(e["running"], false, "{e}");
            assert_eq!(e["health"]["ok"], false, "{e}");
        }
    }
    let s = h.ok(&["profiles"]);
    assert!(
        s.contains(&format!("running: pid {}, port {b}", gw.pid())),
        "{s}"
    );

    // Stop it: the signal goes to the owner record's pid, which exits 0.
    let out = h.ok(&["--profile", "rescue", "gateway", "stop"]);
    assert!(
        out.contains(&format!("pid {}", gw.pid())) && out.contains("lock is free"),
        "{out}"
    );
    assert!(gw.wait_exit().success());
    for e in entries(&h) {
        assert_eq!(e["running"], false, "{e}");
    }
}

#[test]
fn stop_and_restart_touch_only_their_own_profile() {
    let h = TestHome::new();
    let (pa, pb) = (free_base_port(), free_base_port());
    setup(&h, "a", pa);
    setup(&h, "b", pb);
    let _reap_a = OwnerReaper(h.join(".openclaw-a"));
    let mut ga = GatewayChild::start(&h, &["--profile", "a", "gateway"], &[], pa);
    let mut gb = GatewayChild::start(&h, &["--profile", "b", "gateway"], &[], pb);
    assert_eq!(status_pid(&h, "a"), Some(ga.pid().into()));
    assert_eq!(status_pid(&h, "b"), Some(gb.pid().into()));

    // restart a: a's old process exits, a new one owns a's state dir on the
    // same port and answers; b keeps its pid.
    let out = h.ok(&["--profile", "a", "gateway", "restart"]);
    assert!(out.contains("restarted the gateway of profile a"), "{out}");
    assert!(ga.wait_exit().success());
    let new_a = status_pid(&h, "a").expect("a runs again");
    assert_ne!(new_a, u64::from(ga.pid()));
    assert_eq!(status_json(&h, "a")["gateway"]["port"], pa);
    assert!(out.contains(&format!("{} -> {new_a}", ga.pid())), "{out}");
    assert!(gb.is_running(), "restarting a must not touch b");
    assert_eq!(status_pid(&h, "b"), Some(gb.pid().into()));
    let log = h.join(".openclaw-a/logs/gateway-detached.log");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("ready: listening"),
        "the detached gateway's output goes to {}",
        log.display()
    );

    // stop a (now detached, not our child): only a stops.
    let out = h.ok(&["--profile", "a", "gateway", "stop"]);
    assert!(out.contains(&format!("pid {new_a}")), "{out}");
    assert_eq!(status_pid(&h, "a"), None);
    assert!(gb.is_running());
    assert_eq!(status_pid(&h, "b"), Some(gb.pid().into()));
    h.ok(&["--profile", "b", "gateway", "probe"]);

    // And stop b the same way.
    h.ok(&["--profile", "b", "gateway", "stop"]);
    assert!(gb.wait_exit().success());
    assert_eq!(status_pid(&h, "b"), None);
}

#[test]
fn a_stale_owner_record_is_stopped_and_stop_says_nothing_runs() {
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "rescue", port);
    let dir = h.join(".openclaw-rescue");
    let mut gw = GatewayChild::start(&h, &["--profile", "rescue", "gateway"], &[], port);
    let pid = gw.pid();
    gw.child.kill().unwrap(); // SIGKILL: no clean exit, the record stays
    gw.wait_exit();
    assert_eq!(
        owner_pid(&dir),
        Some(pid),
        "the stale record is left behind"
    );

    let v = status_json(&h, "rescue");
    assert_eq!(v["gateway"]["state"], "stopped", "{v}");
    let p = h.json(&["profiles", "--json"]);
    assert_eq!(p["instances"][0]["running"], false, "{p}");

    let out = h.run(&["--profile", "rescue", "gateway", "stop"]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(s.contains("nothing to stop"), "{s}");
    assert!(
        s.contains(&format!("stale owner record names pid {pid}")),
        "{s}"
    );
    let out = h.run(&["--profile", "rescue", "gateway", "restart"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("hint: openclaw --profile rescue gateway"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(status_json(&h, "rescue")["gateway"]["state"], "stopped");
}

#[test]
fn onboarded_rescue_starts_next_to_main_and_status_finds_it() {
    let h = TestHome::new();
    setup(&h, "main", free_base_port());
    let out = h.run(&[
        "--profile",
        "rescue",
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--mode",
        "local",
        "--auth-choice",
        "skip",
        "--skip-daemon",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Health is not claimed: nothing runs, and it says how to start it.
    assert!(
        stderr.contains("no gateway runs for this instance")
            && stderr.contains("openclaw --profile rescue gateway --port"),
        "{stderr}"
    );
    assert!(
        stdout.contains(
            "gateway    not running; start it with: openclaw --profile rescue gateway --port"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("healthy"), "{stdout}");
    let main = show(&h, "main");
    let rescue = show(&h, "rescue");
    assert!(footprint_of(&main).is_disjoint(&footprint_of(&rescue)));
    let port = rescue["instance"]["ports"]["gateway"]["value"]
        .as_u64()
        .unwrap();

    let gw = GatewayChild::start(
        &h,
        &["--profile", "rescue", "gateway"],
        &[],
        u16::try_from(port).unwrap(),
    );
    let v = status_json(&h, "rescue");
    assert_eq!(v["gateway"]["state"], "running", "{v}");
    assert_eq!(v["gateway"]["port"], port, "{v}");
    assert_eq!(v["gateway"]["pid"], gw.pid(), "{v}");
    assert_eq!(
        v["stateDir"],
        h.join(".openclaw-rescue").display().to_string()
    );
    assert_eq!(status_json(&h, "main")["gateway"]["state"], "stopped");
}

#[test]
fn doctor_keeps_the_running_instances_ports_and_moves_the_stopped_one() {
    let h = TestHome::new();
    let (pa, pb) = (free_base_port(), free_base_port());
    setup(&h, "a", pa);
    setup(&h, "b", pb);
    // b (set up later) moves its base port into a's CDP range and runs there:
    // by set-up order b would move, but a running gateway keeps its ports.
    let clash = pa + 20;
    h.ok(&[
        "--profile",
        "b",
        "config",
        "set",
        "gateway.port",
        &clash.to_string(),
    ]);
    let _gw = GatewayChild::start(&h, &["--profile", "b", "gateway"], &[], clash);
    let out = h.run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "port-overlap")
        .unwrap_or_else(|| panic!("{v}"));
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("profile b would keep its ports, profile a should move"),
        "{msg}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .starts_with("openclaw --profile a config set gateway.port "),
        "{f}"
    );
    let out = h.run(&["doctor", "--fix"]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}\n{}", text(&out.stderr));
    assert!(
        s.contains(&format!("fixed: moved profile a from base port {pa}")),
        "{s}"
    );
    assert_eq!(config_port(&h, "b"), u64::from(clash));
    assert_ne!(config_port(&h, "a"), u64::from(pa));
    assert_eq!(status_json(&h, "b")["gateway"]["port"], clash);
}

#[test]
fn doctor_reports_a_gateway_listening_in_another_instances_footprint() {
    let h = TestHome::new();
    let (pa, pb) = (free_base_port(), free_base_port());
    setup(&h, "a", pa);
    setup(&h, "b", pb);
    // The configs do not overlap, but b runs with --port on a's canvas port.
    let canvas = pa + 4;
    let gw = GatewayChild::start(
        &h,
        &["--profile", "b", "gateway", "--port", &canvas.to_string()],
        &[],
        canvas,
    );
    let out = h.run(&["doctor", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v}");
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "foreign-listener")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(f["severity"], "error");
    assert_eq!(
        f["instances"],
        serde_json::json!(["profile b", "profile a"])
    );
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("(pid {}) listens on port {canvas}", gw.pid()))
            && msg.contains(&format!("profile a's canvas host {canvas}")),
        "{msg}"
    );
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "port-overlap"),
        "the configs do not overlap: {v}"
    );
}

/// A gateway run with `--port` other than its config's `gateway.port`:
/// doctor says the config's port is not in force, and how to apply it.
#[test]
fn doctor_reports_a_gateway_port_overridden_by_its_start_flag() {
    let h = TestHome::new();
    let (pa, other) = (free_base_port(), free_base_port());
    setup(&h, "a", pa);
    let gw = GatewayChild::start(
        &h,
        &["--profile", "a", "gateway", "--port", &other.to_string()],
        &[],
        other,
    );
    let out = h.run(&["doctor", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "port-overridden")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["instances"], serde_json::json!(["profile a"]));
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "(pid {}) runs on port {other}, but it resolves port {pa}",
            gw.pid()
        )),
        "{msg}"
    );
    assert_eq!(
        f["fix"],
        "openclaw --profile a gateway stop && openclaw --profile a gateway"
    );
    drop(gw);
    // Stopped: nothing is overridden any more.
    let out = h.run(&["doctor", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "port-overridden"),
        "{v}"
    );
}

/// The description's manual env example: two instances selected only by
/// `OPENCLAW_CONFIG_PATH` + `OPENCLAW_STATE_DIR` get two services.
#[test]
fn manual_env_instances_get_two_services_and_a_third_cannot_take_one() {
    let h = TestHome::new();
    std::fs::create_dir_all(h.join(".openclaw")).unwrap();
    let env_of = |name: &str| -> Vec<(String, String)> {
        vec![
            (
                "OPENCLAW_CONFIG_PATH".into(),
                h.join(&format!(".openclaw/{name}.json"))
                    .display()
                    .to_string(),
            ),
            (
                "OPENCLAW_STATE_DIR".into(),
                h.join(&format!(".openclaw-{name}")).display().to_string(),
            ),
        ]
    };
    let as_refs = |v: &[(String, String)]| -> Vec<(String, String)> { v.to_vec() };
    let run = |env: &[(String, String)], args: &[&str]| {
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        h.run_env(args, &e)
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for name in ["main", "rescue"] {
        let env = as_refs(&env_of(name));
        let port = free_base_port().to_string();
        let out = run(&env, &["setup", "--port", &port]);
        expect_success("setup", &out);
        let out = run(&env, &["gateway", "install", "--dry-run"]);
        let (stdout, _) = expect_success("install --dry-run", &out);
        let unit_name = format!("openclaw-gateway-{name}.service");
        let unit = planned_file(&stdout, &unit_name);
        assert!(
            unit.contains(&format!(
                "\"OPENCLAW_STATE_DIR={}\"",
                h.join(&format!(".openclaw-{name}")).display()
            )),
            "{stdout}"
        );
        assert!(!unit.contains("OPENCLAW_PROFILE"), "{unit}");
        let file = scratch.path().join("units").join(&unit_name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &unit).unwrap();
        let problems = analyze(&file, scratch.path());
        assert!(problems.is_empty(), "{problems:#?}\n{unit}");
        units.push(unit);

        // `profiles show` names the service and says where the name comes from.
        let out = run(&env, &["profiles", "show"]);
        let (s, _) = expect_success("profiles show", &out);
        assert!(
            s.lines().any(|l| l.starts_with("systemd unit")
                && l.contains(&unit_name)
                && l.contains(&format!("state dir name .openclaw-{name}"))),
            "{s}"
        );
    }
    assert_ne!(units[0], units[1]);

    // Both installed (the files; no user session loads them here).
    for name in ["main", "rescue"] {
        let _ = run(&as_refs(&env_of(name)), &["gateway", "install"]);
        assert!(
            h.join(&format!(
                ".config/systemd/user/openclaw-gateway-{name}.service"
            ))
            .is_file()
        );
    }
    let out = h.run(&["doctor"]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}\n{}", text(&out.stderr));
    assert!(s.contains("no problems found"), "{s}");

    // A third instance forced onto main's name (profile main, its own dir).
    let third = vec![
        ("OPENCLAW_PROFILE".to_string(), "main".to_string()),
        (
            "OPENCLAW_STATE_DIR".to_string(),
            h.join("third").display().to_string(),
        ),
    ];
    let port = free_base_port().to_string();
    expect_success("setup third", &run(&third, &["setup", "--port", &port]));
    let before =
        std::fs::read(h.join(".config/systemd/user/openclaw-gateway-main.service")).unwrap();
    for args in [
        &["gateway", "install"][..],
        &["gateway", "install", "--force"][..],
    ] {
        let out = run(&third, args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("refusing to install openclaw-gateway-main.service"),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "belongs to another instance (instance at {}",
                h.join(".openclaw-main").display()
            )),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read(h.join(".config/systemd/user/openclaw-gateway-main.service")).unwrap(),
        before,
        "the owner's unit was not touched"
    );
}

#[test]
fn doctor_reports_two_instances_with_one_service_name() {
    let h = TestHome::new();
    setup(&h, "main", free_base_port());
    let other = h.join("elsewhere");
    let port = free_base_port().to_string();
    h.ok_env(
        &["setup", "--port", &port],
        &[
            ("OPENCLAW_PROFILE", "main"),
            ("OPENCLAW_STATE_DIR", other.to_str().unwrap()),
        ],
    );
    let out = h.run(&["doctor"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(s.contains("[shared-service-name]"), "{s}");
    assert!(s.contains("openclaw-gateway-main.service"), "{s}");
    assert!(s.contains(&other.display().to_string()), "{s}");
    // The fix is a command to run as it stands, not a placeholder.
    let v: Value = serde_json::from_slice(&h.run(&["doctor", "--json"]).stdout).unwrap();
    let fix = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "shared-service-name")
        .and_then(|f| f["fix"].as_str())
        .unwrap_or_else(|| panic!("{v}"))
        .to_string();
    assert!(!fix.contains('<'), "{fix}");
    assert!(
        fix.ends_with(&format!(
            "OPENCLAW_STATE_DIR={} OPENCLAW_CONFIG_PATH={} openclaw --profile main-2 setup",
            other.display(),
            other.join("openclaw.json").display()
        )),
        "{fix}"
    );
}

fn owner_json(state_dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(state_dir.join("gateway.owner.json")).unwrap()).unwrap()
}

#[test]
fn restart_keeps_bind_port_token_file_and_other_start_flags() {
    let h = TestHome::new();
    let (config_port, flag_port) = (free_base_port(), free_base_port());
    setup(&h, "lan", config_port);
    let dir = h.join(".openclaw-lan");
    let _reap = OwnerReaper(dir.clone());
    let token_file = h.join("gateway.token");
    std::fs::write(
        &token_file,
        format!("{}\n", token(&dir.join("openclaw.json"))),
    )
    .unwrap();
    let fp = flag_port.to_string();
    let mut g = GatewayChild::start(
        &h,
        &[
            "--profile",
            "lan",
            "gateway",
            "--bind",
            "lan",
            "--port",
            &fp,
            "--token-file",
            token_file.to_str().unwrap(),
            "--allow-unconfigured",
            "--verbose",
        ],
        &[],
        flag_port,
    );
    let before = owner_json(&dir);
    assert_eq!(before["bindHost"], "0.0.0.0");
    assert_eq!(before["port"], flag_port);

    let out = h.ok(&["--profile", "lan", "gateway", "restart"]);
    assert!(
        out.contains("restarted the gateway of profile lan"),
        "{out}"
    );
    assert!(g.wait_exit().success());
    let after = owner_json(&dir);
    assert_ne!(after["pid"], before["pid"]);
    assert_eq!(after["bindHost"], "0.0.0.0", "{after}");
    assert_eq!(after["port"], flag_port, "{after}");
    assert_eq!(after["startFlags"], before["startFlags"]);
    assert_eq!(
        after["startFlags"],
        serde_json::json!({
            "port": flag_port,
            "bind": "lan",
            "tokenFile": token_file,
            "tokenLiteral": false,
            "allowUnconfigured": true,
            "verbose": true
        })
    );
    // The token came back too: the CLI (config token = file token) gets in.
    let v = status_json(&h, "lan");
    assert_eq!(v["gateway"]["state"], "running", "{v}");
    assert_eq!(v["gateway"]["port"], flag_port);
    h.ok(&["--profile", "lan", "gateway", "call", "health"]);
    let log = std::fs::read_to_string(dir.join("logs/gateway-detached.log")).unwrap();
    assert!(
        log.contains("starting the gateway of profile lan"),
        "--verbose kept: {log}"
    );
    h.ok(&["--profile", "lan", "gateway", "stop"]);
}

#[test]
fn restart_of_a_gateway_started_with_a_literal_token_is_refused_before_stopping_it() {
    let h = TestHome::new();
    let port = free_base_port();
    setup(&h, "lit", port);
    let dir = h.join(".openclaw-lit");
    let tok = token(&dir.join("openclaw.json"));
    let mut g = GatewayChild::start(
        &h,
        &["--profile", "lit", "gateway", "--token", &tok],
        &[],
        port,
    );
    let out = h.run(&["--profile", "lit", "gateway", "restart"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("literal --token"), "{err}");
    assert!(err.contains("gateway --token-file"), "{err}");
    assert!(g.is_running(), "nothing was signalled");
    assert!(
        !std::fs::read_to_string(dir.join("gateway.owner.json"))
            .unwrap()
            .contains(&tok)
    );
}

/// A custom-state-dir instance called `.openclaw-work` installs
/// `openclaw-gateway-work.service`; then profile `work` is set up. The
/// installed name stays the custom instance's (sticky), and profile
/// `work`'s service commands, status and doctor never take that unit for
/// its own: they say whose it is and how to free the name, and the fix
/// works.
#[test]
fn a_unit_installed_by_a_state_dir_instance_is_never_a_new_profiles() {
    let h = TestHome::new();
    let custom = h.join("srv/.openclaw-work");
    let custom_s = custom.display().to_string();
    let env = [("OPENCLAW_STATE_DIR", custom_s.as_str())];
    let port = free_base_port().to_string();
    h.ok_env(&["setup", "--port", &port], &env);
    // No user session here: the unit is written, not loaded (exit 1).
    let _ = h.run_env(&["gateway", "install"], &env);
    let unit = h.join(".config/systemd/user/openclaw-gateway-work.service");
    let before = std::fs::read_to_string(&unit).expect("the unit is written");
    assert!(
        before.contains(&format!("OPENCLAW_STATE_DIR={custom_s}")),
        "{before}"
    );

    // setup of profile work warns that its name is taken.
    let port = free_base_port().to_string();
    let out = h.run(&["--profile", "work", "setup", "--port", &port]);
    let (_, err) = expect_success("setup work", &out);
    assert!(
        err.contains("openclaw-gateway-work.service is not this instance's service: it belongs to instance at"),
        "{err}"
    );

    // The custom instance keeps its unit.
    let v = h.json_env(&["profiles", "show", "--json"], &env);
    assert_eq!(
        v["instance"]["services"]["systemdUnit"], "openclaw-gateway-work.service",
        "{v}"
    );
    let s = h.ok_env(&["gateway", "status"], &env);
    assert!(
        s.contains("openclaw-gateway-work.service (installed"),
        "{s}"
    );

    // Profile work: not its service, for every command.
    let s = h.ok(&["--profile", "work", "gateway", "status"]);
    assert!(
        s.contains("openclaw-gateway-work.service is not this instance's service: it belongs to instance at"),
        "{s}"
    );
    assert!(!s.contains("drift      "), "{s}");
    for args in [
        &["--profile", "work", "gateway", "uninstall", "--dry-run"][..],
        &["--profile", "work", "gateway", "uninstall"][..],
        &["--profile", "work", "gateway", "start"][..],
        &["--profile", "work", "gateway", "install", "--force"][..],
    ] {
        let out = h.run(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("is not this instance's service"),
            "{args:?}: {err}"
        );
        assert!(err.contains(&custom_s), "{args:?}: {err}");
    }
    // stop goes by work's own owner record (nothing runs) and leaves the unit.
    let out = h.run(&["--profile", "work", "gateway", "stop"]);
    let (s, err) = expect_success("stop work", &out);
    assert!(s.contains("nothing to stop"), "{s}");
    assert!(err.contains("it is left alone"), "{err}");
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), before, "untouched");

    // doctor: the unit belongs to another instance, with a fix that works.
    let out = h.run(&["doctor"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(s.contains("[service-owned-by-other]"), "{s}");
    assert!(
        s.contains("installed unit belongs to another instance"),
        "{s}"
    );
    let v: Value = serde_json::from_slice(&h.run(&["doctor", "--json"]).stdout).unwrap();
    let fix = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "service-owned-by-other")
        .and_then(|f| f["fix"].as_str())
        .unwrap_or_else(|| panic!("{v}"))
        .to_string();
    let owner = format!(
        "OPENCLAW_CONFIG_PATH={custom_s}/openclaw.json OPENCLAW_STATE_DIR={custom_s} openclaw"
    );
    assert!(
        fix.ends_with(&format!(
            "{owner} gateway uninstall && {owner} gateway install && openclaw --profile work gateway install"
        )),
        "{fix}"
    );
    // Carried out (without a user session, uninstall's `rm` is by hand).
    std::fs::remove_file(&unit).unwrap();
    let _ = h.run_env(&["gateway", "install"], &env);
    let v = h.json_env(&["profiles", "show", "--json"], &env);
    let moved = v["instance"]["services"]["systemdUnit"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(moved.starts_with("openclaw-gateway-dir-"), "{v}");
    assert!(h.join(&format!(".config/systemd/user/{moved}")).is_file());
    let _ = h.run(&["--profile", "work", "gateway", "install"]);
    let mine = std::fs::read_to_string(&unit).unwrap();
    assert!(mine.contains("OPENCLAW_PROFILE=work"), "{mine}");
    let out = h.run(&["doctor"]);
    let s = text(&out.stdout);
    assert!(
        s.contains("no problems found"),
        "{s}\n{}",
        text(&out.stderr)
    );
}
