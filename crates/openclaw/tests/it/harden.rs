//! Issue 17 (Low) against the real binary: planted symlinks under a state
//! dir, a state dir or config other users own or can write, and the CLI
//! handing credentials only to the instance's own, live gateway.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{GatewayChild, TestHome, free_base_port, setup, text};

const GUARD: Duration = Duration::from_secs(60);

fn state_dir(home: &TestHome, profile: &str) -> PathBuf {
    home.join(&format!(".openclaw-{profile}"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn log_of(home: &TestHome, profile: &str) -> String {
    std::fs::read_to_string(state_dir(home, profile).join("logs/gateway.log")).unwrap_or_default()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + GUARD;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn planted_symlinks_in_the_state_dir_are_not_followed() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let sd = state_dir(&home, "main");
    let victim = home.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();

    // The log: a link at logs/gateway.log makes the start fail, naming it;
    // the target is neither appended to nor chmod-ed.
    std::fs::create_dir_all(sd.join("logs")).unwrap();
    let _ = std::fs::remove_file(sd.join("logs/gateway.log"));
    symlink(&victim, sd.join("logs/gateway.log")).unwrap();
    chmod(&victim, 0o644);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("gateway.log is a symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
    std::fs::remove_file(sd.join("logs/gateway.log")).unwrap();

    // The owner record: a link there is replaced by the real record, the
    // target keeps its content, and the CLI finds the gateway.
    symlink(&victim, sd.join("gateway.owner.json")).unwrap();
    let _g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        std::fs::symlink_metadata(sd.join("gateway.owner.json"))
            .unwrap()
            .is_file()
    );
    let st = home.json(&["--profile", "main", "status", "--json"]);
    assert_eq!(st["gateway"]["state"], "running", "{st}");

    // The browser profile dir: a link at <stateDir>/browser is refused
    // before Chromium is started with it; nothing lands in its target.
    let elsewhere = home.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let _ = std::fs::remove_dir_all(sd.join("browser"));
    symlink(&elsewhere, sd.join("browser")).unwrap();
    let out = home.run(&["--profile", "main", "browser", "start"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn a_state_dir_or_config_others_can_write_is_refused_and_a_readable_config_is_tightened() {
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let sd = state_dir(&home, "main");
    let cfg = sd.join("openclaw.json");

    // A state dir anyone can write to: refused before it is used.
    chmod(&sd, 0o777);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("is writable by other users (mode 0777)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("chmod 700 {}", sd.display())),
        "{err}"
    );
    assert!(!sd.join("gateway.owner.json").exists());
    chmod(&sd, 0o700);

    // A config others can write: refused too.
    chmod(&cfg, 0o666);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is writable by other users (mode 0666)"),
        "{}",
        text(&out.stderr)
    );

    // A state dir or config others can only read: tightened, and said so.
    chmod(&cfg, 0o644);
    chmod(&sd, 0o755);
    let _g = GatewayChild::start(&home, &["--profile", "main", "gateway"], &[], base);
    assert_eq!(mode(&cfg), 0o600);
    assert_eq!(mode(&sd), 0o700);
    let log = log_of(&home, "main");
    assert!(
        log.contains(&format!(
            "{} was readable by other users (mode 0644): set it to 0600",
            cfg.display()
        )),
        "{log}"
    );

    // On reload: a chmod is noticed and undone ...
    chmod(&cfg, 0o640);
    wait_for("the config tightened on reload", || mode(&cfg) == 0o600);
    wait_for("the reload logged", || {
        log_of(&home, "main").contains("(mode 0640): set it to 0600")
    });
    // ... and a change in a file others can write is not applied.
    chmod(&cfg, 0o666);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    v["gateway"]["auth"]["token"] = "planted-by-someone-else".into();
    std::fs::write(&cfg, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    wait_for("the refusal logged", || {
        log_of(&home, "main").contains("config change not applied")
    });
    assert!(
        log_of(&home, "main").contains("is writable by other users (mode 0666)"),
        "{}",
        log_of(&home, "main")
    );
    assert_eq!(
        mode(&cfg),
        0o666,
        "a refused file is left for the user to check"
    );
}

/// As root (CI's containers): a state dir owned by another user is refused.
/// As anyone else the same rule is covered by `openclaw_state::trust`'s
/// table (an unprivileged test cannot make a directory another user's).
#[test]
fn a_state_dir_owned_by_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: chown to another user is impossible; the rule table covers it");
        return;
    }
    let home = TestHome::new();
    let base = free_base_port();
    setup(&home, "main", base);
    let sd = state_dir(&home, "main");
    let c = std::ffi::CString::new(sd.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; uid/gid 65534 (nobody).
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    let out = home.run(&["--profile", "main", "gateway"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("belongs to uid 65534"), "{err}");
    assert!(err.contains("chown 0"), "{err}");
}
