//! `openclaw completion bash|zsh|fish`.

use std::process::Command;

use crate::harness::*;

/// Top-level commands every script must offer.
const COMMANDS: [&str; 8] = [
    "setup",
    "config",
    "profiles",
    "gateway",
    "status",
    "doctor",
    "onboard",
    "completion",
];

#[test]
fn each_shell_gets_a_script_naming_the_commands() {
    let home = TestHome::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = home.ok(&["completion", shell]);
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        for c in COMMANDS {
            assert!(script.contains(c), "{shell}: no {c:?} in\n{script}");
        }
        // The instance flags are completed although clap never parses them.
        assert!(script.contains("profile"), "{shell}: no --profile");
        // Nested subcommands too.
        assert!(script.contains("install"), "{shell}: no gateway install");
    }
    // Nothing was created: completion touches no instance.
    assert!(tree(home.path()).is_empty(), "{:?}", tree(home.path()));
}

#[test]
fn the_bash_script_is_valid_bash() {
    let home = TestHome::new();
    let script = home.ok(&["completion", "bash"]);
    let file = home.join("openclaw.bash");
    std::fs::write(&file, &script).unwrap();
    let out = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(out.status.success(), "bash -n: {}", text(&out.stderr));
    // Sourcing it registers the completion function for `openclaw`.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p openclaw", file.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("openclaw"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let home = TestHome::new();
    let out = home.run(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("bash"), "{}", text(&out.stderr));
}
