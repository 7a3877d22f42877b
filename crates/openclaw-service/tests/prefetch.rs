//! Many services at once (`openclaw profiles` with 100 instances): one
//! batched `systemctl show` answers every instance's status, and without a
//! user session the failure is found once, not twice per instance.

mod common;

use common::spec_in;
use openclaw_service::{
    CommandOutput, MemoRunner, Platform, RecordingRunner, Service, ServiceSpec, manager_for,
};

fn specs(home: &std::path::Path, n: usize) -> Vec<ServiceSpec> {
    (0..n)
        .map(|i| {
            spec_in(
                Platform::Systemd,
                home,
                Some(&format!("p{i}")),
                Some(20000 + 200 * i as u16),
            )
        })
        .collect()
}

fn seeded(specs: &[ServiceSpec], inner: RecordingRunner) -> MemoRunner<RecordingRunner> {
    let m = manager_for(Platform::Systemd);
    let memo = MemoRunner::new(inner);
    let refs: Vec<&ServiceSpec> = specs.iter().collect();
    for (argv, out) in m.prefetch(&refs, &memo) {
        memo.seed(argv, out);
    }
    memo
}

#[test]
fn one_batched_show_answers_every_unit_by_id() {
    let home = tempfile::tempdir().unwrap();
    let specs = specs(home.path(), 3);
    // systemctl prints one block per unit, separated by blank lines; the
    // order is not relied on (Id says whose block it is).
    let batch = "Id=openclaw-gateway-p2.service\nMainPID=0\nActiveState=inactive\nSubState=dead\nUnitFileState=\n\n\
                 Id=openclaw-gateway-p0.service\nMainPID=4242\nActiveState=active\nSubState=running\nUnitFileState=enabled\n\n\
                 Id=openclaw-gateway-p1.service\nMainPID=0\nActiveState=failed\nSubState=failed\nUnitFileState=disabled\n";
    let memo = seeded(
        &specs,
        RecordingRunner::new().on(&["systemctl", "--user", "show"], CommandOutput::ok(batch)),
    );
    let m = manager_for(Platform::Systemd);
    let st: Vec<_> = specs
        .iter()
        .map(|s| Service::new(m.as_ref(), s, &memo).status().unwrap())
        .collect();
    assert_eq!(st[0].runtime.main_pid, Some(4242));
    assert_eq!(st[0].runtime.active, Some(true));
    assert_eq!(st[0].runtime.enabled, Some(true));
    assert_eq!(st[1].runtime.state.as_deref(), Some("failed (failed)"));
    assert_eq!(st[1].runtime.enabled, Some(false));
    assert_eq!(st[2].runtime.active, Some(false));
    assert_eq!(st[2].runtime.enabled, None);
    assert!(st.iter().all(|s| s.manager_unavailable.is_none()));
    assert_eq!(
        memo.inner().call_lines(),
        [
            "systemctl --user show -p Id,MainPID,ActiveState,SubState,UnitFileState,ExecMainCode,ExecMainStatus,NRestarts \
          openclaw-gateway-p0.service openclaw-gateway-p1.service openclaw-gateway-p2.service"
        ]
    );
}

#[test]
fn without_a_user_session_the_reason_is_found_once() {
    let home = tempfile::tempdir().unwrap();
    let specs = specs(home.path(), 50);
    let memo = seeded(
        &specs,
        RecordingRunner::new().on(
            &["systemctl", "--user"],
            CommandOutput::fail(1, "Failed to connect to bus: No medium found"),
        ),
    );
    let m = manager_for(Platform::Systemd);
    for s in &specs {
        let st = Service::new(m.as_ref(), s, &memo).status().unwrap();
        let why = st.manager_unavailable.expect("unavailable");
        assert!(why.contains("No medium found"), "{why}");
        assert_eq!(st.runtime.active, None);
    }
    // The batch, then one availability probe; nothing per instance.
    let calls = memo.inner().call_lines();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1], "systemctl --user show-environment");
}

#[test]
fn a_batch_that_fails_while_the_manager_works_seeds_nothing() {
    let home = tempfile::tempdir().unwrap();
    let specs = specs(home.path(), 2);
    // `show` fails, but the session is there: each unit is asked alone.
    let inner = RecordingRunner::new()
        .on(
            &["systemctl", "--user", "show"],
            CommandOutput::fail(1, "odd"),
        )
        .on(
            &["systemctl", "--user", "show-environment"],
            CommandOutput::ok("HOME=/home/u\n"),
        );
    let m = manager_for(Platform::Systemd);
    let memo = MemoRunner::new(inner);
    let refs: Vec<&ServiceSpec> = specs.iter().collect();
    assert!(m.prefetch(&refs, &memo).is_empty());
}
