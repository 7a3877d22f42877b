//! Operations against real files in a temporary HOME, with the service
//! manager's commands recorded by `RecordingRunner` (or, for the
//! unavailable case, run for real against a bus that does not exist).

mod common;

use std::path::Path;
use std::process::Command;

use common::spec_in;
use openclaw_service::{
    CommandOutput, CommandRunner, InstallOptions, Operation, Platform, ProcessRunner,
    RecordingRunner, RunError, Service, ServiceError, ServiceSpec, manager_for, systemd,
};

fn lines(r: &RecordingRunner) -> Vec<String> {
    r.call_lines()
}

const INSTALL: InstallOptions = InstallOptions {
    force: false,
    dry_run: false,
};

#[test]
fn dry_run_writes_nothing_and_runs_nothing() {
    for platform in [Platform::Systemd, Platform::Launchd, Platform::Windows] {
        let home = tempfile::tempdir().unwrap();
        let spec = spec_in(platform, home.path(), Some("rescue"), Some(19789));
        let m = manager_for(platform);
        let runner = RecordingRunner::new();
        let svc = Service::new(m.as_ref(), &spec, &runner);
        let plan = svc
            .install(InstallOptions {
                force: false,
                dry_run: true,
            })
            .unwrap();
        assert!(plan.dry_run);
        assert!(
            runner.calls().is_empty(),
            "{platform:?}: {:?}",
            runner.calls()
        );
        // Nothing at all was created under HOME.
        assert_eq!(
            std::fs::read_dir(home.path()).unwrap().count(),
            0,
            "{platform:?}"
        );
        let rendered = m.render(&spec).unwrap();
        let files: Vec<_> = plan.files().into_iter().cloned().collect();
        assert_eq!(files, rendered, "{platform:?}");
        assert!(!plan.commands().is_empty());
        let text = plan.to_string();
        assert!(text.contains("would write"), "{text}");
        assert!(text.contains("19789"), "{text}");
        for c in plan.commands() {
            assert!(text.contains(&c.display(platform)), "{text}");
        }
    }
}

#[test]
fn systemd_install_writes_the_unit_then_reloads_and_enables() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(19789));
    let m = manager_for(Platform::Systemd);
    let runner = RecordingRunner::new();
    let svc = Service::new(m.as_ref(), &spec, &runner);
    let plan = svc.install(INSTALL).unwrap();
    assert!(!plan.dry_run);
    let unit = home
        .path()
        .join(".config/systemd/user/openclaw-gateway-rescue.service");
    assert_eq!(
        std::fs::read_to_string(&unit).unwrap(),
        systemd::render_unit(&spec).unwrap()
    );
    assert_eq!(
        lines(&runner),
        [
            "systemctl --user show-environment",
            "systemctl --user daemon-reload",
            "systemctl --user enable --now openclaw-gateway-rescue.service",
        ]
    );
    // No temporary files are left next to the unit.
    let names: Vec<_> = std::fs::read_dir(unit.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        [std::ffi::OsString::from("openclaw-gateway-rescue.service")]
    );

    // Installing the same thing again is fine.
    runner.clear();
    let plan = svc.install(INSTALL).unwrap();
    assert!(plan.notes.iter().any(|n| n.contains("already installed")));
    assert_eq!(lines(&runner).len(), 3);

    // read_installed parses it back without drift.
    let back = svc.read_installed().unwrap().unwrap();
    assert_eq!(back.path, unit);
    assert_eq!(back.env["OPENCLAW_PROFILE"], "rescue");
    assert_eq!(back.env["OPENCLAW_GATEWAY_PORT"], "19789");
    assert!(openclaw_service::drift(&spec, Platform::Systemd, &back).is_empty());
}

#[test]
fn install_refuses_a_different_existing_file_unless_forced() {
    let home = tempfile::tempdir().unwrap();
    let old = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(19789));
    let new = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(20789));
    let m = manager_for(Platform::Systemd);
    let runner = RecordingRunner::new();
    Service::new(m.as_ref(), &old, &runner)
        .install(INSTALL)
        .unwrap();
    let unit = systemd::unit_path(&old);
    let before = std::fs::read_to_string(&unit).unwrap();

    runner.clear();
    let svc = Service::new(m.as_ref(), &new, &runner);
    let e = svc.install(INSTALL).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ServiceError::Exists { .. }), "{e:?}");
    assert!(msg.contains(&unit.display().to_string()), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    assert!(
        msg.contains("OPENCLAW_GATEWAY_PORT: the service file says 19789"),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), before);
    assert!(runner.calls().is_empty());

    // The dry run reports the refusal but still shows the plan.
    let plan = svc
        .install(InstallOptions {
            force: false,
            dry_run: true,
        })
        .unwrap();
    assert!(plan.notes.iter().any(|n| n.contains("would stop here")));

    let plan = svc
        .install(InstallOptions {
            force: true,
            dry_run: false,
        })
        .unwrap();
    assert!(std::fs::read_to_string(&unit).unwrap().contains("20789"));
    // A replaced definition is restarted so the new one takes effect.
    assert_eq!(
        lines(&runner),
        [
            "systemctl --user show-environment",
            "systemctl --user daemon-reload",
            "systemctl --user enable --now openclaw-gateway-rescue.service",
            "systemctl --user restart openclaw-gateway-rescue.service",
        ]
    );
    assert_eq!(plan.commands().len(), 3);
}

/// A host without a user session bus: every `systemctl --user` fails.
fn no_bus() -> RecordingRunner {
    RecordingRunner::new().on(
        &["systemctl", "--user"],
        CommandOutput::fail(1, "Failed to connect to bus: No medium found"),
    )
}

#[test]
fn unavailable_systemd_fails_with_the_unit_path_and_manual_commands() {
    let home = tempfile::tempdir().unwrap();
    let mut spec = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(19789));
    spec = without_runtime_dir(spec, home.path());
    let m = manager_for(Platform::Systemd);
    let runner = no_bus();
    let e = Service::new(m.as_ref(), &spec, &runner)
        .install(INSTALL)
        .unwrap_err();
    let ServiceError::Unavailable(u) = &e else {
        panic!("expected Unavailable, got {e:?}");
    };
    let unit = systemd::unit_path(&spec);
    assert_eq!(u.path, unit);
    assert!(u.written);
    assert_eq!(
        u.manual_commands,
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable --now openclaw-gateway-rescue.service",
        ]
    );
    assert_eq!(u.foreground_command, "openclaw --profile rescue gateway");
    let msg = e.to_string();
    for want in [
        "NOT installed",
        "systemd user session",
        "No medium found",
        "XDG_RUNTIME_DIR is not set",
        &unit.display().to_string(),
        "openclaw --profile rescue gateway",
    ] {
        assert!(msg.contains(want), "missing {want:?} in:\n{msg}");
    }
    // Only the availability probe ran: nothing was enabled or started.
    assert_eq!(lines(&runner), ["systemctl --user show-environment"]);
    // The file was written (as the message says), so the manual commands
    // work as printed.
    assert!(unit.exists());

    // start/stop/restart/uninstall fail the same way and run nothing.
    let svc = Service::new(m.as_ref(), &spec, &runner);
    for (op, r) in [
        (Operation::Start, svc.start()),
        (Operation::Stop, svc.stop()),
        (Operation::Restart, svc.restart()),
        (Operation::Uninstall, svc.uninstall(false)),
    ] {
        let e = r.unwrap_err();
        assert!(e.to_string().contains(&format!("NOT {}", op.done())), "{e}");
    }
    assert!(
        lines(&runner)
            .iter()
            .all(|l| l == "systemctl --user show-environment")
    );
    assert!(unit.exists(), "uninstall did not pretend to work");
}

fn without_runtime_dir(spec: ServiceSpec, home: &Path) -> ServiceSpec {
    // Rebuild from a host context that has no XDG_RUNTIME_DIR.
    let inst = common::instance_in(
        &openclaw_instance::Env::new(home.to_str().unwrap()),
        spec.profile.as_deref(),
        Some(spec.port),
    );
    let mut h = common::host(Platform::Systemd, home);
    h.xdg_runtime_dir = None;
    ServiceSpec::new(&inst, &h).unwrap()
}

/// Runs real processes with the session bus pointed nowhere, so the real
/// `systemctl --user` fails on any host (as it does in containers).
struct NoSessionRunner;

impl CommandRunner for NoSessionRunner {
    fn run(&self, argv: &[String]) -> Result<CommandOutput, RunError> {
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .env("XDG_RUNTIME_DIR", "/nonexistent/openclaw-test-runtime")
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/openclaw-test-bus",
            )
            .output()?;
        Ok(CommandOutput {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        })
    }
}

#[test]
fn real_systemctl_without_a_session_is_reported_not_faked() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Systemd, home.path(), None, None);
    let m = manager_for(Platform::Systemd);
    let e = Service::new(m.as_ref(), &spec, &NoSessionRunner)
        .install(INSTALL)
        .unwrap_err();
    let ServiceError::Unavailable(u) = &e else {
        panic!("expected Unavailable, got {e:?}");
    };
    assert!(
        u.reason.contains("systemctl --user show-environment"),
        "{}",
        u.reason
    );
    assert_eq!(u.foreground_command, "openclaw gateway");
    assert!(e.to_string().contains("openclaw-gateway.service"));
    // The real ProcessRunner reaches the same verdict in this container.
    let probe = ProcessRunner::default()
        .run(&[
            "systemctl".into(),
            "--user".into(),
            "show-environment".into(),
        ])
        .map(|o| o.success())
        .unwrap_or(false);
    if !probe {
        let e = Service::new(m.as_ref(), &spec, &ProcessRunner::default())
            .install(INSTALL)
            .unwrap_err();
        assert!(matches!(e, ServiceError::Unavailable(_)), "{e:?}");
    }
}

#[test]
fn a_failing_command_is_an_error_that_says_what_was_done() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(19789));
    let m = manager_for(Platform::Systemd);
    let runner = RecordingRunner::new().on(
        &["systemctl", "--user", "enable"],
        CommandOutput::fail(1, "Failed to enable unit: Access denied"),
    );
    let e = Service::new(m.as_ref(), &spec, &runner)
        .install(INSTALL)
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ServiceError::CommandFailed { .. }), "{e:?}");
    for want in [
        "systemctl --user enable --now openclaw-gateway-rescue.service",
        "exit status 1",
        "Access denied",
        "daemon-reload",
        "not installed",
        "openclaw --profile rescue gateway install",
    ] {
        assert!(msg.contains(want), "missing {want:?} in {msg}");
    }
}

#[test]
fn uninstall_disables_removes_and_reloads() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(19789));
    let m = manager_for(Platform::Systemd);
    let runner = RecordingRunner::new();
    let svc = Service::new(m.as_ref(), &spec, &runner);

    // Not installed: nothing to do, nothing run.
    let plan = svc.uninstall(false).unwrap();
    assert!(plan.steps.is_empty());
    assert!(plan.notes[0].contains("not installed"));
    assert!(runner.calls().is_empty());

    svc.install(INSTALL).unwrap();
    runner.clear();
    let unit = systemd::unit_path(&spec);
    let dry = svc.uninstall(true).unwrap();
    assert!(unit.exists());
    assert!(runner.calls().is_empty());
    assert!(dry.to_string().contains("would remove"));

    svc.uninstall(false).unwrap();
    assert!(!unit.exists());
    assert_eq!(
        lines(&runner),
        [
            "systemctl --user show-environment",
            "systemctl --user disable --now openclaw-gateway-rescue.service",
            "systemctl --user daemon-reload",
        ]
    );
}

#[test]
fn start_of_a_service_that_is_not_installed_says_how_to_install() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(19789));
    let m = manager_for(Platform::Systemd);
    let runner = RecordingRunner::new();
    let e = Service::new(m.as_ref(), &spec, &runner)
        .start()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("openclaw --profile rescue gateway install"),
        "{msg}"
    );
    assert!(msg.contains("openclaw --profile rescue gateway`"), "{msg}");
    assert!(runner.calls().is_empty());
}

/// Profile A's operations only ever name A's unit, label or task, even
/// with B installed next to it in the same HOME.
#[test]
fn operations_on_one_profile_never_name_another() {
    for platform in [Platform::Systemd, Platform::Launchd, Platform::Windows] {
        let home = tempfile::tempdir().unwrap();
        let a = spec_in(platform, home.path(), None, None);
        let b = spec_in(platform, home.path(), Some("rescue"), Some(19789));
        let m = manager_for(platform);
        let setup = RecordingRunner::new();
        Service::new(m.as_ref(), &a, &setup)
            .install(INSTALL)
            .unwrap();
        Service::new(m.as_ref(), &b, &setup)
            .install(INSTALL)
            .unwrap();

        for (me, other) in [(&a, &b), (&b, &a)] {
            let runner = RecordingRunner::new();
            let svc = Service::new(m.as_ref(), me, &runner);
            svc.restart().unwrap();
            svc.stop().unwrap();
            svc.start().unwrap();
            svc.status().unwrap();
            let calls = runner.calls();
            assert!(calls.len() >= 4, "{calls:?}");
            for call in &calls {
                let joined = call.join(" ");
                assert!(
                    !call.iter().any(|w| names(m.as_ref(), other, w)),
                    "{platform:?}: {joined} names the other profile's service"
                );
                // Every command except the availability probe names me.
                let is_probe = joined.contains("show-environment")
                    || joined == "launchctl print gui/501"
                    || joined == "schtasks /Query /FO CSV /NH";
                assert!(
                    is_probe || call.iter().any(|w| names(m.as_ref(), me, w)),
                    "{platform:?}: {joined} does not name its own service"
                );
            }
        }
    }
}

/// Does `word` refer to `spec`'s service: its exact name, a launchd
/// `gui/<uid>/<label>` target, or one of its files?
fn names(m: &dyn openclaw_service::ServiceManager, spec: &ServiceSpec, word: &str) -> bool {
    let name = spec.name(m.platform());
    word == name
        || word.ends_with(&format!("/{name}"))
        || m.render(spec)
            .unwrap()
            .iter()
            .any(|f| f.path.as_os_str() == word)
}

#[test]
fn command_sequences_per_operation_and_platform() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().display().to_string();
    let expect: [(Platform, Operation, &[&str]); 12] = [
        (
            Platform::Systemd,
            Operation::Start,
            &["systemctl --user start openclaw-gateway-rescue.service"],
        ),
        (
            Platform::Systemd,
            Operation::Stop,
            &["systemctl --user stop openclaw-gateway-rescue.service"],
        ),
        (
            Platform::Systemd,
            Operation::Restart,
            &["systemctl --user restart openclaw-gateway-rescue.service"],
        ),
        (
            Platform::Systemd,
            Operation::Uninstall,
            &["systemctl --user disable --now openclaw-gateway-rescue.service"],
        ),
        (
            Platform::Launchd,
            Operation::Install,
            &[
                "launchctl bootout gui/501/ai.openclaw.rescue",
                "launchctl enable gui/501/ai.openclaw.rescue",
                "launchctl bootstrap gui/501 {home}/Library/LaunchAgents/ai.openclaw.rescue.plist",
            ],
        ),
        (
            Platform::Launchd,
            Operation::Start,
            &[
                "launchctl bootstrap gui/501 {home}/Library/LaunchAgents/ai.openclaw.rescue.plist",
                "launchctl kickstart gui/501/ai.openclaw.rescue",
            ],
        ),
        (
            Platform::Launchd,
            Operation::Stop,
            &["launchctl bootout gui/501/ai.openclaw.rescue"],
        ),
        (
            Platform::Launchd,
            Operation::Restart,
            &["launchctl kickstart -k gui/501/ai.openclaw.rescue"],
        ),
        (
            Platform::Windows,
            Operation::Install,
            &[
                "schtasks /Create /TN OpenClaw Gateway (rescue) /XML {home}/.openclaw/services/openclaw-gateway-rescue.task.xml /F",
                "schtasks /Run /TN OpenClaw Gateway (rescue)",
            ],
        ),
        (
            Platform::Windows,
            Operation::Stop,
            &["schtasks /End /TN OpenClaw Gateway (rescue)"],
        ),
        (
            Platform::Windows,
            Operation::Restart,
            &[
                "schtasks /End /TN OpenClaw Gateway (rescue)",
                "schtasks /Run /TN OpenClaw Gateway (rescue)",
            ],
        ),
        (
            Platform::Windows,
            Operation::Uninstall,
            &[
                "schtasks /End /TN OpenClaw Gateway (rescue)",
                "schtasks /Delete /TN OpenClaw Gateway (rescue) /F",
            ],
        ),
    ];
    for (platform, op, want) in expect {
        let spec = spec_in(platform, home.path(), Some("rescue"), Some(19789));
        let m = manager_for(platform);
        let got: Vec<String> = m
            .commands(&spec, op, false)
            .iter()
            .map(|c| c.argv.join(" "))
            .collect();
        let want: Vec<String> = want.iter().map(|w| w.replace("{home}", &h)).collect();
        assert_eq!(got, want, "{platform:?} {op:?}");
    }
}

#[test]
fn launchd_install_creates_the_log_dir_and_runs_the_sequence() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Launchd, home.path(), Some("rescue"), Some(19789));
    let m = manager_for(Platform::Launchd);
    let runner = RecordingRunner::new().on(
        &["launchctl", "bootout"],
        CommandOutput::fail(3, "Boot-out failed: 3: No such process"),
    );
    Service::new(m.as_ref(), &spec, &runner)
        .install(INSTALL)
        .unwrap();
    assert!(home.path().join(".openclaw-rescue/logs").is_dir());
    let plist = home
        .path()
        .join("Library/LaunchAgents/ai.openclaw.rescue.plist");
    plist::Value::from_file(&plist).expect("installed plist parses");
    let calls = lines(&runner);
    assert_eq!(calls[0], "launchctl print gui/501");
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(calls[3].starts_with("launchctl bootstrap gui/501 "));
}

#[test]
fn windows_install_writes_wrapper_and_utf16_task() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Windows, home.path(), Some("rescue"), Some(19789));
    let m = manager_for(Platform::Windows);
    let runner = RecordingRunner::new();
    Service::new(m.as_ref(), &spec, &runner)
        .install(INSTALL)
        .unwrap();
    let dir = home.path().join(".openclaw/services");
    let xml = std::fs::read(dir.join("openclaw-gateway-rescue.task.xml")).unwrap();
    assert_eq!(&xml[..2], &[0xFF, 0xFE]);
    let cmd = std::fs::read_to_string(dir.join("openclaw-gateway-rescue.cmd")).unwrap();
    assert!(
        cmd.contains("set \"OPENCLAW_GATEWAY_PORT=19789\"\r\n"),
        "{cmd}"
    );
    assert_eq!(lines(&runner)[0], "schtasks /Query /FO CSV /NH");
    let back = Service::new(m.as_ref(), &spec, &runner)
        .read_installed()
        .unwrap()
        .unwrap();
    assert_eq!(
        back.env["OPENCLAW_WINDOWS_TASK"],
        "OpenClaw Gateway (rescue)"
    );
}

#[test]
fn status_reports_installation_runtime_and_drift() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(19789));
    let m = manager_for(Platform::Systemd);
    let runner = RecordingRunner::new().on(
        &["systemctl", "--user", "show"],
        CommandOutput::ok(
            "MainPID=4242\nActiveState=active\nSubState=running\nUnitFileState=enabled\nExecMainCode=1\nExecMainStatus=78\nNRestarts=3\n",
        ),
    );
    let svc = Service::new(m.as_ref(), &spec, &runner);

    let st = svc.status().unwrap();
    assert!(!st.installed);
    assert!(st.file.is_none());

    svc.install(INSTALL).unwrap();
    runner.clear();
    let st = svc.status().unwrap();
    assert!(st.installed);
    assert_eq!(st.runtime.enabled, Some(true));
    assert_eq!(st.runtime.active, Some(true));
    assert_eq!(st.runtime.main_pid, Some(4242));
    assert_eq!(st.runtime.state.as_deref(), Some("active (running)"));
    // what the rescue bot reports about a gateway that keeps failing
    assert_eq!(st.runtime.last_exit_code, Some(78));
    assert_eq!(st.runtime.restart_count, Some(3));
    assert!(st.drift.is_empty());
    assert_eq!(
        lines(&runner),
        // one command on the path of every `openclaw status`
        [
            "systemctl --user show -p MainPID,ActiveState,SubState,UnitFileState,ExecMainCode,ExecMainStatus,NRestarts openclaw-gateway-rescue.service"
        ]
    );

    // The CLI now resolves another port for rescue: status shows the drift.
    let moved = spec_in(Platform::Systemd, home.path(), Some("rescue"), Some(20789));
    let st = Service::new(m.as_ref(), &moved, &runner).status().unwrap();
    let keys: Vec<&str> = st.drift.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["OPENCLAW_GATEWAY_PORT", "--port"]);

    // With no user session, status still reads the file and says why the
    // run-time state is unknown.
    let st = Service::new(m.as_ref(), &spec, &no_bus()).status().unwrap();
    assert!(st.installed);
    assert!(st.manager_unavailable.unwrap().contains("No medium found"));
    assert_eq!(st.runtime.active, None);
}

#[test]
fn launchd_status_parses_launchctl_print() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec_in(Platform::Launchd, home.path(), Some("rescue"), Some(19789));
    let m = manager_for(Platform::Launchd);
    let runner = RecordingRunner::new().on(
        &["launchctl", "print", "gui/501/ai.openclaw.rescue"],
        CommandOutput::ok(
            "gui/501/ai.openclaw.rescue = {\n\tactive count = 1\n\tstate = running\n\truns = 4\n\tpid = 777\n\tlast exit code = 1\n}\n",
        ),
    );
    let st = Service::new(m.as_ref(), &spec, &runner).status().unwrap();
    assert_eq!(st.runtime.active, Some(true));
    assert_eq!(st.runtime.main_pid, Some(777));
    assert_eq!(st.runtime.enabled, Some(true));
    assert_eq!(st.runtime.last_exit_code, Some(1));
    assert_eq!(st.runtime.restart_count, Some(3));
}

/// A unit under this instance's service name whose `OPENCLAW_STATE_DIR` is
/// another instance's (a custom-state-dir instance installed
/// `openclaw-gateway-work.service`, then profile `work` was set up): every
/// operation of profile `work` refuses it, runs nothing and leaves the
/// file alone; status says whose it is and asks the manager nothing.
#[test]
fn every_operation_refuses_another_instances_unit_under_its_name() {
    use openclaw_instance::Env;
    use openclaw_service::Ownership;
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    let custom_dir = home.path().join("srv/.openclaw-work");
    let custom = common::instance_in(
        &Env::new(home_str).with("OPENCLAW_STATE_DIR", custom_dir.to_str().unwrap()),
        None,
        Some(19001),
    );
    assert_eq!(
        custom.services.systemd_unit,
        "openclaw-gateway-work.service"
    );
    let custom_spec =
        ServiceSpec::new(&custom, &common::host(Platform::Systemd, home.path())).unwrap();
    let m = manager_for(Platform::Systemd);
    let setup = RecordingRunner::new();
    Service::new(m.as_ref(), &custom_spec, &setup)
        .install(INSTALL)
        .unwrap();
    let unit = systemd::unit_path(&custom_spec);
    let before = std::fs::read(&unit).unwrap();

    let work = spec_in(Platform::Systemd, home.path(), Some("work"), Some(19201));
    assert_eq!(systemd::unit_path(&work), unit, "one name, two instances");
    let runner = RecordingRunner::new();
    let svc = Service::new(m.as_ref(), &work, &runner);
    let Ownership::Foreign(o) = svc.ownership().unwrap() else {
        panic!("not foreign")
    };
    assert_eq!(o.state_dir, custom_dir);
    assert_eq!(o.owner, format!("instance at {}", custom_dir.display()));

    for (op, r) in [
        ("start", svc.start()),
        ("stop", svc.stop()),
        ("restart", svc.restart()),
        ("uninstall", svc.uninstall(false)),
        ("uninstall", svc.uninstall(true)),
        (
            "install",
            svc.install(InstallOptions {
                force: true,
                dry_run: false,
            }),
        ),
    ] {
        let e = r.unwrap_err();
        assert!(
            matches!(e, ServiceError::OwnedByOther { .. }),
            "{op}: {e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("refusing to {op} openclaw-gateway-work.service")),
            "{msg}"
        );
        assert!(msg.contains("is not this instance's service"), "{msg}");
        assert!(msg.contains(&custom_dir.display().to_string()), "{msg}");
    }
    let st = svc.status().unwrap();
    assert!(!st.installed);
    assert!(st.drift.is_empty(), "{:?}", st.drift);
    assert_eq!(
        st.owned_by.as_ref().map(|o| &o.state_dir),
        Some(&custom_dir)
    );
    assert!(runner.calls().is_empty(), "{:?}", runner.calls());
    assert_eq!(std::fs::read(&unit).unwrap(), before, "untouched");

    // The owner itself still operates it.
    let mine = Service::new(m.as_ref(), &custom_spec, &runner);
    assert!(mine.ownership().unwrap().is_own());
    mine.restart().unwrap();
    assert!(mine.status().unwrap().owned_by.is_none());
}
