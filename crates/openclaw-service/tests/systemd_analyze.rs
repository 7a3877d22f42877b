//! The generated unit passes the real `systemd-analyze verify` with no
//! warnings, in user mode (with a private runtime dir, since containers
//! have no user session) and in system mode.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use openclaw_instance::Env;
use openclaw_service::{HostContext, Platform, ServiceSpec, systemd};

const ANALYZE: &str = "/usr/bin/systemd-analyze";

/// Runs `systemd-analyze [--user] verify <unit>` and returns every problem:
/// a non-zero exit, or any stderr line that mentions the unit.
fn verify(unit: &Path, user: bool, scratch: &Path) -> Vec<String> {
    let runtime = scratch.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let mut cmd = Command::new(ANALYZE);
    if user {
        cmd.arg("--user");
    }
    cmd.arg("verify").arg(unit);
    // Environment for the child only; the test process is untouched.
    cmd.env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", scratch)
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{ANALYZE} must be installed to run this test: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    let mut problems: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains(&name) || l.contains(&*unit.to_string_lossy()))
        .filter(|l| !is_debug_noise(l))
        .map(str::to_string)
        .collect();
    if !out.status.success() {
        problems.push(format!("exit status {:?}; stderr:\n{stderr}", out.status));
    }
    problems
}

/// Debug-level lines that name the unit without being a complaint.
fn is_debug_noise(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    !(l.contains("warn")
        || l.contains("unknown")
        || l.contains("invalid")
        || l.contains("failed")
        || l.contains("ignoring")
        || l.contains("not executable")
        || l.contains("error")
        || l.contains("bad")
        || l.contains("missing"))
}

/// An executable called `openclaw` in a directory whose name needs quoting.
fn fake_exe(root: &Path) -> PathBuf {
    let dir = root.join("Open Claw 100%d $bin");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("openclaw");
    std::fs::copy("/bin/true", &exe).unwrap();
    exe
}

fn write_unit(dir: &Path, spec: &ServiceSpec) -> PathBuf {
    let text = systemd::render_unit(spec).unwrap();
    let units = dir.join("units");
    std::fs::create_dir_all(&units).unwrap();
    let path = units.join(&spec.names.systemd_unit);
    std::fs::write(&path, text).unwrap();
    path
}

fn spec(root: &Path, env: &Env, profile: Option<&str>) -> ServiceSpec {
    let inst = common::instance_in(env, profile, profile.map(|_| 19789));
    let h = HostContext::new(Platform::Systemd, fake_exe(root), root);
    ServiceSpec::new(&inst, &h).unwrap()
}

#[test]
fn generated_units_verify_without_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let home = root.to_str().unwrap();
    let awkward = Env::new(home).with(
        "OPENCLAW_STATE_DIR",
        &format!(r#"{home}/state "quoted" 50%h \back $HOME"#),
    );
    for (env, profile) in [
        (Env::new(home), None),
        (Env::new(home), Some("rescue")),
        (awkward, None),
    ] {
        let s = spec(root, &env, profile);
        let unit = write_unit(root, &s);
        for user in [true, false] {
            let problems = verify(&unit, user, root);
            assert!(
                problems.is_empty(),
                "systemd-analyze {}verify {}:\n{}\n--- unit ---\n{}",
                if user { "--user " } else { "" },
                unit.display(),
                problems.join("\n"),
                std::fs::read_to_string(&unit).unwrap()
            );
        }
    }
}

/// The check above can fail: a unit with an unescaped specifier or a
/// missing executable is reported.
#[test]
fn verify_reports_a_broken_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = spec(root, &Env::new(root.to_str().unwrap()), Some("rescue"));
    let unit = write_unit(root, &s);
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(
        &unit,
        text.replace("KillMode=mixed", "KillMode=mixed\nEnvironment=\"X=50%z\""),
    )
    .unwrap();
    assert!(!verify(&unit, true, root).is_empty());

    std::fs::write(&unit, &text).unwrap();
    std::fs::remove_file(&s.exe).unwrap();
    assert!(!verify(&unit, false, root).is_empty());
}
