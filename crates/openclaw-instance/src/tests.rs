//! Table tests for instance resolution. Each row is one rule of the reference.
#![allow(clippy::type_complexity)] // table rows are spelled out inline on purpose

use super::*;

const HOME: &str = "/home/u";

fn args(s: &str) -> Vec<String> {
    std::iter::once("openclaw".to_string())
        .chain(s.split_whitespace().map(String::from))
        .collect()
}

fn inst(
    argv: &str,
    env: &[(&str, &str)],
    cfg: ConfigFacts,
    port: Option<u16>,
) -> Result<Instance, InstanceError> {
    let (flags, _) = split_global_flags(&args(argv))?;
    let mut e = Env::new(HOME);
    for (k, v) in env {
        e = e.with(k, v);
    }
    let paths = resolve_paths(&flags, &e)?;
    resolve(&paths, &cfg, port)
}

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn argv_table() {
    type Row = (
        &'static str,
        Result<(Option<&'static str>, bool, &'static str), InstanceError>,
    );
    let rows: Vec<Row> = vec![
        ("status", Ok((None, false, "status"))),
        ("--profile main setup", Ok((Some("main"), false, "setup"))),
        (
            "--profile=rescue status --json",
            Ok((Some("rescue"), false, "status --json")),
        ),
        ("--dev gateway", Ok((Some("dev"), true, "gateway"))),
        (
            "--no-color --profile x status",
            Ok((Some("x"), false, "--no-color status")),
        ),
        // after the subcommand, --profile is the subcommand's business
        (
            "status --profile x",
            Ok((None, false, "status --profile x")),
        ),
        ("--profile", Err(InstanceError::MissingProfileValue)),
        ("--profile= status", Err(InstanceError::MissingProfileValue)),
        (
            "--profile --dev status",
            Err(InstanceError::MissingProfileValue),
        ),
        (
            "--dev --profile x status",
            Err(InstanceError::DevWithProfile),
        ),
        (
            "--profile x --dev status",
            Err(InstanceError::DevWithProfile),
        ),
        (
            "--profile Bad! status",
            Err(InstanceError::InvalidProfile("Bad!".into())),
        ),
        (
            "--profile _x status",
            Err(InstanceError::InvalidProfile("_x".into())),
        ),
    ];
    for (argv, want) in rows {
        let got = split_global_flags(&args(argv))
            .map(|(f, rest)| (f.profile, f.dev, rest[1..].join(" ")));
        let want = want.map(|(pr, d, r)| (pr.map(String::from), d, r.to_string()));
        assert_eq!(got, want, "argv: {argv}");
    }
}

#[test]
fn profile_names() {
    let long_ok = "a".repeat(64);
    let long_bad = "a".repeat(65);
    let rows: Vec<(&str, Result<Option<&str>, ()>)> = vec![
        ("main", Ok(Some("main"))),
        ("RESCUE", Ok(Some("rescue"))),
        ("Default", Ok(None)),
        ("default", Ok(None)),
        ("a_b-9", Ok(Some("a_b-9"))),
        ("9lives", Ok(Some("9lives"))),
        (&long_ok, Ok(Some(&long_ok))),
        (&long_bad, Err(())),
        ("", Err(())),
        ("-x", Err(())),
        ("a b", Err(())),
        ("a/b", Err(())),
        ("a.b", Err(())),
        ("ü", Err(())),
    ];
    for (raw, want) in rows {
        let got = normalize_profile(raw).map_err(|_| ());
        assert_eq!(got, want.map(|o| o.map(String::from)), "name {raw:?}");
    }
}

#[test]
fn paths_table() {
    // (argv, env, state dir, config path, workspace, state source kind)
    let rows: Vec<(&str, Vec<(&str, &str)>, &str, &str, &str)> = vec![
        (
            "",
            vec![],
            "/home/u/.openclaw",
            "/home/u/.openclaw/openclaw.json",
            "/home/u/.openclaw/workspace",
        ),
        (
            "--profile main",
            vec![],
            "/home/u/.openclaw-main",
            "/home/u/.openclaw-main/openclaw.json",
            "/home/u/.openclaw/workspace-main",
        ),
        (
            "--profile rescue",
            vec![],
            "/home/u/.openclaw-rescue",
            "/home/u/.openclaw-rescue/openclaw.json",
            "/home/u/.openclaw/workspace-rescue",
        ),
        (
            "--dev",
            vec![],
            "/home/u/.openclaw-dev",
            "/home/u/.openclaw-dev/openclaw.json",
            "/home/u/.openclaw/workspace-dev",
        ),
        (
            "--profile default",
            vec![],
            "/home/u/.openclaw",
            "/home/u/.openclaw/openclaw.json",
            "/home/u/.openclaw/workspace",
        ),
        (
            "",
            vec![("OPENCLAW_PROFILE", "Ops")],
            "/home/u/.openclaw-ops",
            "/home/u/.openclaw-ops/openclaw.json",
            "/home/u/.openclaw/workspace-ops",
        ),
        // the description's manual env example
        (
            "",
            vec![
                ("OPENCLAW_CONFIG_PATH", "~/.openclaw/main.json"),
                ("OPENCLAW_STATE_DIR", "~/.openclaw-main"),
            ],
            "/home/u/.openclaw-main",
            "/home/u/.openclaw/main.json",
            "/home/u/.openclaw-main/workspace",
        ),
        (
            "",
            vec![
                ("OPENCLAW_CONFIG_PATH", "~/.openclaw/rescue.json"),
                ("OPENCLAW_STATE_DIR", "~/.openclaw-rescue"),
            ],
            "/home/u/.openclaw-rescue",
            "/home/u/.openclaw/rescue.json",
            "/home/u/.openclaw-rescue/workspace",
        ),
        // OPENCLAW_CONFIG_PATH wins even with a profile
        (
            "--profile main",
            vec![("OPENCLAW_CONFIG_PATH", "/etc/oc.json")],
            "/home/u/.openclaw-main",
            "/etc/oc.json",
            "/home/u/.openclaw/workspace-main",
        ),
        // OPENCLAW_HOME replaces ~
        (
            "--profile main",
            vec![("OPENCLAW_HOME", "/srv/oc")],
            "/srv/oc/.openclaw-main",
            "/srv/oc/.openclaw-main/openclaw.json",
            "/srv/oc/.openclaw/workspace-main",
        ),
        (
            "",
            vec![
                ("OPENCLAW_HOME", "/srv/oc"),
                ("OPENCLAW_STATE_DIR", "~/state"),
            ],
            "/srv/oc/state",
            "/srv/oc/state/openclaw.json",
            "/srv/oc/state/workspace",
        ),
        // explicit workspace env
        (
            "--profile main",
            vec![("OPENCLAW_WORKSPACE_DIR", "/w")],
            "/home/u/.openclaw-main",
            "/home/u/.openclaw-main/openclaw.json",
            "/w",
        ),
        // blank values count as unset
        (
            "",
            vec![("OPENCLAW_STATE_DIR", "  ")],
            "/home/u/.openclaw",
            "/home/u/.openclaw/openclaw.json",
            "/home/u/.openclaw/workspace",
        ),
    ];
    for (argv, env, state, config, ws) in rows {
        let i = inst(argv, &env, ConfigFacts::default(), None).unwrap();
        assert_eq!(
            i.state_dir.value,
            p(state),
            "state dir for {argv:?} {env:?}"
        );
        assert_eq!(
            i.config_path.value,
            p(config),
            "config for {argv:?} {env:?}"
        );
        assert_eq!(i.workspace.value, p(ws), "workspace for {argv:?} {env:?}");
    }
}

#[test]
fn workspace_from_config_wins_over_profile_default() {
    let cfg = ConfigFacts {
        workspace: Some("~/ws-x".into()),
        ..Default::default()
    };
    let i = inst("--profile main", &[], cfg, None).unwrap();
    assert_eq!(i.workspace.value, p("/home/u/ws-x"));
    assert_eq!(
        i.workspace.source,
        Source::Config("agents.defaults.workspace".into())
    );
}

#[test]
fn port_precedence_table() {
    let cfg = |port| ConfigFacts {
        gateway_port: port,
        ..Default::default()
    };
    let env_port = [("OPENCLAW_GATEWAY_PORT", "20000")];
    let rows: Vec<(&str, &[(&str, &str)], Option<u16>, Option<u16>, u16, Source)> = vec![
        ("", &[], None, None, 18789, Source::Default),
        ("--dev", &[], None, None, 19001, Source::ProfileDefault),
        (
            "--profile dev",
            &[],
            None,
            None,
            19001,
            Source::ProfileDefault,
        ),
        ("--profile main", &[], None, None, 18789, Source::Default),
        (
            "",
            &[],
            Some(18900),
            None,
            18900,
            Source::Config("gateway.port".into()),
        ),
        (
            "--dev",
            &[],
            Some(18900),
            None,
            18900,
            Source::Config("gateway.port".into()),
        ),
        (
            "",
            &env_port,
            Some(18900),
            None,
            20000,
            Source::Env("OPENCLAW_GATEWAY_PORT".into()),
        ),
        (
            "",
            &env_port,
            Some(18900),
            Some(30000),
            30000,
            Source::Flag("--port".into()),
        ),
        (
            "",
            &[],
            None,
            Some(19001),
            19001,
            Source::Flag("--port".into()),
        ),
    ];
    for (argv, env, cfg_port, flag, want, src) in rows {
        let i = inst(argv, env, cfg(cfg_port), flag).unwrap();
        assert_eq!(
            i.ports.gateway.value, want,
            "{argv:?} {env:?} {cfg_port:?} {flag:?}"
        );
        assert_eq!(
            i.ports.gateway.source, src,
            "{argv:?} {env:?} {cfg_port:?} {flag:?}"
        );
    }
}

#[test]
fn derived_ports_table() {
    // (base, canvas override, range start override) -> (control, canvas, cdp start, cdp end)
    let rows: Vec<(u16, Option<u16>, Option<u16>, (u16, u16, u16, u16))> = vec![
        (18789, None, None, (18791, 18793, 18800, 18899)),
        (19001, None, None, (19003, 19005, 19012, 19111)),
        (18789, Some(5000), None, (18791, 5000, 18800, 18899)),
        (18789, None, Some(9222), (18791, 18793, 9222, 9321)),
        (65425, None, None, (65427, 65429, 65436, 65535)),
        (1, None, None, (3, 5, 12, 111)),
    ];
    for (base, canvas, start, (c, cv, s, e)) in rows {
        let cfg = ConfigFacts {
            canvas_port: canvas,
            cdp_port_range_start: start,
            ..Default::default()
        };
        let i = inst("", &[], cfg, Some(base)).unwrap();
        assert_eq!(i.ports.browser_control.value, c, "base {base}");
        assert_eq!(i.ports.canvas.value, cv, "base {base}");
        assert_eq!(i.ports.cdp_range.value, (s, e), "base {base}");
    }
}

#[test]
fn edge_ports_are_errors_not_wraps() {
    for base in [65426u16, 65530, 65535] {
        let err = inst("", &[], ConfigFacts::default(), Some(base)).unwrap_err();
        match &err {
            InstanceError::PortOverflow { max, .. } => assert_eq!(*max, 65425),
            other => panic!("base {base}: {other:?}"),
        }
        assert!(err.to_string().contains("at most 65425"), "{err}");
    }
    let err = inst(
        "",
        &[],
        ConfigFacts {
            cdp_port_range_start: Some(65500),
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert!(matches!(err, InstanceError::PortOverflow { .. }), "{err:?}");
    for bad in ["0", "65536", "abc", "-1", "18789x"] {
        let err = inst(
            "",
            &[("OPENCLAW_GATEWAY_PORT", bad)],
            ConfigFacts::default(),
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, InstanceError::InvalidEnvPort { .. }),
            "{bad}: {err:?}"
        );
    }
    assert!(matches!(
        inst("", &[], ConfigFacts::default(), Some(0)),
        Err(InstanceError::PortZero { .. })
    ));
}

#[test]
fn leaking_service_env_never_reaches_another_profile() {
    // The environment of main's service, as the unit sets it.
    let main_service: &[(&str, &str)] = &[
        ("OPENCLAW_SERVICE_MARKER", "openclaw"),
        ("OPENCLAW_SERVICE_KIND", "gateway"),
        ("OPENCLAW_PROFILE", "main"),
        ("OPENCLAW_STATE_DIR", "/home/u/.openclaw-main"),
        (
            "OPENCLAW_CONFIG_PATH",
            "/home/u/.openclaw-main/openclaw.json",
        ),
        ("OPENCLAW_GATEWAY_PORT", "18789"),
    ];
    let cfg = ConfigFacts {
        gateway_port: Some(18900),
        ..Default::default()
    };
    let b = inst("--profile rescue", main_service, cfg.clone(), None).unwrap();
    assert_eq!(b.profile.as_deref(), Some("rescue"));
    assert_eq!(b.state_dir.value, p("/home/u/.openclaw-rescue"));
    assert_eq!(
        b.config_path.value,
        p("/home/u/.openclaw-rescue/openclaw.json")
    );
    assert_eq!(b.ports.gateway.value, 18900);
    assert_eq!(b.ignored_env.len(), 3);
    assert_eq!(b.services.systemd_unit, "openclaw-gateway-rescue.service");

    // Asking for the default profile from inside main's service.
    let d = inst(
        "--profile default",
        main_service,
        ConfigFacts::default(),
        None,
    )
    .unwrap();
    assert_eq!(d.state_dir.value, p("/home/u/.openclaw"));
    assert_eq!(d.ports.gateway.value, 18789);
    assert_eq!(d.ports.gateway.source, Source::Default);

    // The default profile's service has no OPENCLAW_PROFILE; the marker says
    // the selectors are the default profile's.
    let default_service: &[(&str, &str)] = &[
        ("OPENCLAW_SERVICE_MARKER", "openclaw"),
        ("OPENCLAW_STATE_DIR", "/home/u/.openclaw"),
        ("OPENCLAW_GATEWAY_PORT", "18789"),
    ];
    let r = inst("--profile rescue", default_service, cfg.clone(), None).unwrap();
    assert_eq!(r.state_dir.value, p("/home/u/.openclaw-rescue"));
    assert_eq!(r.ports.gateway.value, 18900);

    // Same profile: the service's own values stand.
    let a = inst("--profile main", main_service, cfg.clone(), None).unwrap();
    assert_eq!(a.ports.gateway.value, 18789);
    assert_eq!(
        a.ports.gateway.source,
        Source::Env("OPENCLAW_GATEWAY_PORT".into())
    );
    assert!(a.ignored_env.is_empty());

    // No flag: the environment decides, as a service needs.
    let s = inst("", main_service, cfg.clone(), None).unwrap();
    assert_eq!(s.profile.as_deref(), Some("main"));
    assert_eq!(s.state_dir.value, p("/home/u/.openclaw-main"));

    // An explicit env state dir with a flag but no profile owner stands.
    let x = inst(
        "--profile rescue",
        &[("OPENCLAW_STATE_DIR", "/x")],
        cfg,
        None,
    )
    .unwrap();
    assert_eq!(x.state_dir.value, p("/x"));
}

#[test]
fn footprints_and_overlaps() {
    let main = inst("--profile main", &[], ConfigFacts::default(), Some(18789)).unwrap();
    let rescue = inst("--profile rescue", &[], ConfigFacts::default(), Some(18809)).unwrap();
    let ov = main.footprint().overlaps(&rescue.footprint());
    assert!(!ov.is_empty());
    // rescue's base 18809 sits in main's CDP range
    assert!(ov.iter().any(|o| o.ours.purpose == Purpose::CdpRange
        && o.theirs.purpose == Purpose::Gateway
        && o.first_shared == 18809));

    // 20-port spacing is not enough; 111 is.
    let spaced = |b| {
        inst("--profile r", &[], ConfigFacts::default(), Some(b))
            .unwrap()
            .footprint()
    };
    let rows = [
        (18809u16, true),
        (18899, true),
        (18900, false),
        (19001, false),
        // below main: our CDP range (base+11..=base+110) must end before 18789
        (18679, true),
        (18678, false),
        (18778, true),
    ];
    for (b, overlap) in rows {
        assert_eq!(
            !main.footprint().overlaps(&spaced(b)).is_empty(),
            overlap,
            "base {b}"
        );
    }

    // an explicit cdpPort is part of the footprint
    let cfg = ConfigFacts {
        explicit_cdp_ports: vec![("work".into(), 19500)],
        ..Default::default()
    };
    let e = inst("--profile e", &[], cfg, Some(25000)).unwrap();
    let other = inst("--profile o", &[], ConfigFacts::default(), Some(19500)).unwrap();
    let ov = e.footprint().overlaps(&other.footprint());
    assert_eq!(ov[0].ours.purpose, Purpose::ExplicitCdp("work".into()));
    assert_eq!(main.footprint().ports().len(), 103);
    assert_eq!(main.footprint().span(), (18789, 18899));
}

#[test]
fn service_names_table() {
    let rows = [
        (
            None,
            "openclaw-gateway.service",
            "ai.openclaw.gateway",
            "OpenClaw Gateway",
        ),
        (
            Some("rescue"),
            "openclaw-gateway-rescue.service",
            "ai.openclaw.rescue",
            "OpenClaw Gateway (rescue)",
        ),
        (
            Some("dev"),
            "openclaw-gateway-dev.service",
            "ai.openclaw.dev",
            "OpenClaw Gateway (dev)",
        ),
    ];
    for (p, unit, label, task) in rows {
        let s = ServiceNames::for_profile(p);
        assert_eq!(
            (
                s.systemd_unit.as_str(),
                s.launchd_label.as_str(),
                s.windows_task.as_str()
            ),
            (unit, label, task)
        );
    }
}

#[test]
fn hints_carry_the_active_instance() {
    let rows: Vec<(&str, &[(&str, &str)], &str)> = vec![
        ("", &[], "openclaw status"),
        ("--profile Rescue", &[], "openclaw --profile rescue status"),
        ("--dev", &[], "openclaw --dev status"),
        (
            "",
            &[("OPENCLAW_PROFILE", "ops")],
            "openclaw --profile ops status",
        ),
        (
            "",
            &[("OPENCLAW_STATE_DIR", "/srv/my state")],
            "OPENCLAW_STATE_DIR='/srv/my state' openclaw status",
        ),
    ];
    for (argv, env, want) in rows {
        let i = inst(argv, env, ConfigFacts::default(), None).unwrap();
        assert_eq!(i.command("status"), want);
    }
}

#[test]
fn sources_serialize_for_json() {
    let i = inst("--profile main", &[], ConfigFacts::default(), Some(18789)).unwrap();
    let v = serde_json::to_value(&i).unwrap();
    assert_eq!(
        v["ports"]["gateway"]["source"],
        serde_json::json!({"kind": "flag", "key": "--port"})
    );
    assert_eq!(
        v["stateDir"]["source"],
        serde_json::json!({"kind": "profile-default"})
    );
    assert_eq!(v["ports"]["browserControl"]["value"], 18791);
    assert_eq!(
        v["services"]["systemdUnit"],
        "openclaw-gateway-main.service"
    );
}

#[test]
fn choose_base_port_table() {
    let fp = |b: u16| {
        inst("--profile x", &[], ConfigFacts::default(), Some(b))
            .ok()
            .map(|i| i.footprint())
    };
    let main = fp(18789).unwrap();
    let all_free = |_: u16| true;
    // nothing else on the host: the start port itself
    assert_eq!(choose_base_port(18789, &[], fp, all_free), Some(18789));
    // main on 18789: the first base whose footprint clears main's CDP range
    assert_eq!(
        choose_base_port(18789, std::slice::from_ref(&main), fp, all_free),
        Some(18900)
    );
    // a busy port inside the candidate's CDP range pushes it further
    assert_eq!(
        choose_base_port(18789, std::slice::from_ref(&main), fp, |p| p != 18950),
        Some(18940)
    );
    // main and a second instance at 18900
    let second = fp(18900).unwrap();
    assert_eq!(
        choose_base_port(18789, &[main, second], fp, all_free),
        Some(19011)
    );
    // nothing fits near the top of the range
    assert_eq!(choose_base_port(65400, &[], fp, all_free), Some(65400));
    assert_eq!(choose_base_port(65426, &[], fp, all_free), None);
}

#[test]
fn service_names_of_every_instance_are_distinct_table() {
    // (argv, env, other instances' profiles, systemd unit, source)
    let rows: Vec<(&str, &[(&str, &str)], &[&str], &str, &str)> = vec![
        ("", &[], &[], "openclaw-gateway.service", "built-in default"),
        (
            "--profile rescue",
            &[],
            &["main"],
            "openclaw-gateway-rescue.service",
            "derived profile rescue",
        ),
        // A profile keeps upstream's name even on a custom state dir.
        (
            "--profile main",
            &[("OPENCLAW_STATE_DIR", "/srv/x")],
            &[],
            "openclaw-gateway-main.service",
            "derived profile main",
        ),
        // The manual env example: names from the state dirs.
        (
            "",
            &[
                ("OPENCLAW_STATE_DIR", "~/.openclaw-main"),
                ("OPENCLAW_CONFIG_PATH", "~/.openclaw/main.json"),
            ],
            &["rescue"],
            "openclaw-gateway-main.service",
            "derived state dir name .openclaw-main",
        ),
        (
            "",
            &[
                ("OPENCLAW_STATE_DIR", "~/.openclaw-rescue"),
                ("OPENCLAW_CONFIG_PATH", "~/.openclaw/rescue.json"),
            ],
            &["main"],
            "openclaw-gateway-rescue.service",
            "derived state dir name .openclaw-rescue",
        ),
        // The name is another instance's profile: a hash instead.
        (
            "",
            &[("OPENCLAW_STATE_DIR", "/srv/gw/.openclaw-main")],
            &["main"],
            "openclaw-gateway-dir-",
            "derived hash of the state dir (its name is another instance's profile)",
        ),
        // Not a `.openclaw-<name>` dir: a hash.
        (
            "",
            &[("OPENCLAW_STATE_DIR", "/srv/gateway-state")],
            &[],
            "openclaw-gateway-dir-",
            "derived hash of the state dir",
        ),
        // The default state dir named by env is the default instance.
        (
            "",
            &[("OPENCLAW_STATE_DIR", "~/.openclaw/")],
            &[],
            "openclaw-gateway.service",
            "built-in default",
        ),
    ];
    for (argv, env, others, unit, source) in rows {
        let i = inst(argv, env, ConfigFacts::default(), None)
            .unwrap()
            .with_neighbours(&|n| others.contains(&n));
        assert!(
            i.services.systemd_unit.starts_with(unit),
            "{argv} {env:?}: {}",
            i.services.systemd_unit
        );
        assert_eq!(i.services.source.to_string(), source, "{argv} {env:?}");
        if unit.ends_with("dir-") {
            let rest = i.services.systemd_unit.strip_prefix(unit).unwrap();
            assert_eq!(rest.len(), "12345678.service".len(), "{rest}");
            assert_eq!(
                i.services.launchd_label,
                format!("ai.openclaw.dir-{}", &rest[..8])
            );
        }
    }
}

#[test]
fn hashed_service_names_are_stable_and_differ_per_state_dir() {
    let name = |dir: &str| {
        inst(
            "",
            &[("OPENCLAW_STATE_DIR", dir)],
            ConfigFacts::default(),
            None,
        )
        .unwrap()
        .services
        .systemd_unit
    };
    assert_eq!(name("/srv/a"), name("/srv/a"));
    assert_ne!(name("/srv/a"), name("/srv/b"));
    // sha256("/srv/a") starts with these bytes: the name must not change
    // between versions, or installed units would be orphaned.
    assert_eq!(name("/srv/a"), "openclaw-gateway-dir-b068a6ce.service");
}

#[test]
fn ports_follow_a_changed_config_unless_pinned_by_flag_or_env() {
    let facts = |port: Option<u16>, canvas: Option<u16>| ConfigFacts {
        gateway_port: port,
        canvas_port: canvas,
        ..ConfigFacts::default()
    };
    type Row = (
        &'static str,
        &'static [(&'static str, &'static str)],
        Option<u16>,     // --port
        Option<u16>,     // gateway.port before
        Option<u16>,     // gateway.port after
        Option<u16>,     // canvasHost.port after
        (u16, u16, u16), // gateway, browser control, canvas after
    );
    let rows: &[Row] = &[
        // From the config: every derived port moves with it.
        (
            "--profile main gateway",
            &[],
            None,
            Some(20000),
            Some(21000),
            None,
            (21000, 21002, 21004),
        ),
        // A pinned canvas port stays put while the base moves.
        (
            "--profile main gateway",
            &[],
            None,
            Some(20000),
            Some(21000),
            Some(25000),
            (21000, 21002, 25000),
        ),
        // gateway.port removed: back to the default (dev: 19001).
        (
            "--profile main gateway",
            &[],
            None,
            Some(20000),
            None,
            None,
            (DEFAULT_PORT, DEFAULT_PORT + 2, DEFAULT_PORT + 4),
        ),
        (
            "--dev gateway",
            &[],
            None,
            Some(20000),
            None,
            None,
            (DEV_PORT, DEV_PORT + 2, DEV_PORT + 4),
        ),
        // --port and OPENCLAW_GATEWAY_PORT win over any config change.
        (
            "--profile main gateway",
            &[],
            Some(22000),
            Some(20000),
            Some(21000),
            None,
            (22000, 22002, 22004),
        ),
        (
            "--profile main gateway",
            &[("OPENCLAW_GATEWAY_PORT", "23000")],
            None,
            None,
            Some(21000),
            Some(25000),
            (23000, 23002, 25000),
        ),
    ];
    for (argv, env, flag, before, after, canvas, want) in rows {
        let i = inst(argv, env, facts(*before, None), *flag).unwrap();
        let n = i.with_config_facts(&facts(*after, *canvas)).unwrap();
        let got = (
            n.ports.gateway.value,
            n.ports.browser_control.value,
            n.ports.canvas.value,
        );
        assert_eq!(
            got, *want,
            "{argv} {env:?} --port {flag:?}: {before:?} -> {after:?}"
        );
        // Everything but the ports is unchanged.
        assert_eq!(n.state_dir, i.state_dir);
        assert_eq!(n.workspace, i.workspace);
    }
    let i = inst(
        "--profile main gateway",
        &[],
        facts(Some(20000), None),
        None,
    )
    .unwrap();
    assert!(
        i.with_config_facts(&facts(Some(65530), None)).is_err(),
        "overflow"
    );
}
