//! The generated files: snapshots, quoting, refusal of line breaks, and
//! parsing them back.

mod common;

use std::path::Path;

use common::{host, instance, instance_in, spec, windows_spec};
use openclaw_instance::Env;
use openclaw_service::{
    Platform, ServiceError, ServiceSpec, drift, launchd, manager_for, systemd, windows,
};

#[test]
fn systemd_unit_default_profile() {
    let s = spec(Platform::Systemd, None);
    assert_eq!(
        systemd::unit_path(&s),
        Path::new("/home/u/.config/systemd/user/openclaw-gateway.service")
    );
    insta::assert_snapshot!(systemd::render_unit(&s).unwrap());
}

#[test]
fn systemd_unit_rescue_profile() {
    let s = spec(Platform::Systemd, Some("rescue"));
    assert_eq!(
        systemd::unit_path(&s),
        Path::new("/home/u/.config/systemd/user/openclaw-gateway-rescue.service")
    );
    insta::assert_snapshot!(systemd::render_unit(&s).unwrap());
}

#[test]
fn launchd_plist_default_profile() {
    let s = spec(Platform::Launchd, None);
    assert_eq!(
        launchd::plist_path(&s),
        Path::new("/home/u/Library/LaunchAgents/ai.openclaw.gateway.plist")
    );
    insta::assert_snapshot!(launchd::render_plist(&s).unwrap());
}

#[test]
fn launchd_plist_rescue_profile() {
    let s = spec(Platform::Launchd, Some("rescue"));
    assert_eq!(
        launchd::plist_path(&s),
        Path::new("/home/u/Library/LaunchAgents/ai.openclaw.rescue.plist")
    );
    insta::assert_snapshot!(launchd::render_plist(&s).unwrap());
}

#[test]
fn windows_task_default_profile() {
    let s = windows_spec(None);
    assert_eq!(
        windows::wrapper_path(&s),
        Path::new(r"C:\Users\u\.openclaw\services\openclaw-gateway.cmd")
    );
    insta::assert_snapshot!(
        "windows_wrapper_default",
        windows::render_wrapper(&s).unwrap()
    );
    insta::assert_snapshot!("windows_task_default", windows::render_task(&s).unwrap());
}

#[test]
fn windows_task_rescue_profile() {
    let s = windows_spec(Some("rescue"));
    insta::assert_snapshot!(
        "windows_wrapper_rescue",
        windows::render_wrapper(&s).unwrap()
    );
    insta::assert_snapshot!("windows_task_rescue", windows::render_task(&s).unwrap());
}

#[test]
fn xdg_config_home_is_used_only_when_passed_in() {
    let inst = instance(Some("rescue"));
    let mut h = host(Platform::Systemd, Path::new("/home/u"));
    h.xdg_config_home = Some("/home/u/.xdg".into());
    let s = ServiceSpec::new(&inst, &h).unwrap();
    assert_eq!(
        systemd::unit_path(&s),
        Path::new("/home/u/.xdg/systemd/user/openclaw-gateway-rescue.service")
    );
}

/// `--profile rescue gateway install` from a shell that exported main's
/// service variables: the instance crate drops them, and the spec takes
/// everything from the instance, so only rescue's paths and port appear.
#[test]
fn leaked_env_of_another_profile_never_reaches_the_unit() {
    let leaking = Env::new("/home/u")
        .with("OPENCLAW_PROFILE", "main")
        .with("OPENCLAW_STATE_DIR", "/home/u/.openclaw-main")
        .with(
            "OPENCLAW_CONFIG_PATH",
            "/home/u/.openclaw-main/openclaw.json",
        )
        .with("OPENCLAW_GATEWAY_PORT", "18789")
        .with("OPENCLAW_SYSTEMD_UNIT", "openclaw-gateway-main.service")
        .with("OPENCLAW_SERVICE_MARKER", "openclaw");
    let inst = instance_in(&leaking, Some("rescue"), Some(19789));
    assert!(
        !inst.ignored_env.is_empty(),
        "the instance crate saw the leak"
    );
    for platform in [Platform::Systemd, Platform::Launchd, Platform::Windows] {
        let s = ServiceSpec::new(&inst, &host(platform, Path::new("/home/u"))).unwrap();
        let files = manager_for(platform).render(&s).unwrap();
        for f in &files {
            assert!(
                !f.contents.contains("main") && !f.contents.contains("18789"),
                "{platform:?} {} names main's values:\n{}",
                f.path.display(),
                f.contents
            );
        }
        let all: String = files.iter().map(|f| f.contents.as_str()).collect();
        assert!(all.contains("/home/u/.openclaw-rescue"), "{all}");
        assert!(all.contains("19789"), "{all}");
        let env: std::collections::BTreeMap<_, _> = s.environment(platform).into_iter().collect();
        assert_eq!(env["OPENCLAW_PROFILE"], "rescue");
        assert_eq!(env["OPENCLAW_STATE_DIR"], "/home/u/.openclaw-rescue");
        assert_eq!(
            env["OPENCLAW_CONFIG_PATH"],
            "/home/u/.openclaw-rescue/openclaw.json"
        );
        assert_eq!(env["OPENCLAW_GATEWAY_PORT"], "19789");
        assert_eq!(env[platform.name_var()], s.name(platform));
    }
}

#[test]
fn default_profile_environment_has_no_profile_and_all_markers() {
    let s = spec(Platform::Systemd, None);
    let keys: Vec<String> = s
        .environment(Platform::Systemd)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys,
        [
            "OPENCLAW_STATE_DIR",
            "OPENCLAW_CONFIG_PATH",
            "OPENCLAW_GATEWAY_PORT",
            "OPENCLAW_SYSTEMD_UNIT",
            "OPENCLAW_SERVICE_MARKER",
            "OPENCLAW_SERVICE_KIND",
            "PATH",
            "HOME"
        ]
    );
    assert_eq!(
        s.argv(),
        ["/home/u/.local/bin/openclaw", "gateway", "--port", "18789"]
    );
    assert_eq!(s.path, "/home/u/.local/bin:/usr/local/bin:/usr/bin:/bin");
}

#[test]
fn relative_executable_is_refused() {
    let e = ServiceSpec::new(
        &instance(None),
        &host(Platform::Systemd, Path::new("/home/u")).with_exe("openclaw"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("absolute"), "{e}");
}

/// A spec whose state dir (and so several env values) holds `bad`.
fn spec_with_state_dir(platform: Platform, dir: &str) -> ServiceSpec {
    let env = Env::new("/home/u").with("OPENCLAW_STATE_DIR", dir);
    let inst = instance_in(&env, None, None);
    ServiceSpec::new(&inst, &host(platform, Path::new("/home/u"))).unwrap()
}

#[test]
fn line_breaks_are_refused_naming_the_key() {
    for bad in ["/srv/a\nb", "/srv/a\rb", "/srv/a\r\nb"] {
        let s = spec_with_state_dir(Platform::Systemd, bad);
        for platform in [Platform::Systemd, Platform::Launchd, Platform::Windows] {
            let e = manager_for(platform).render(&s).unwrap_err();
            match &e {
                ServiceError::InvalidValue { key, reason } => {
                    assert_eq!(key, "OPENCLAW_STATE_DIR", "{platform:?}");
                    assert!(reason.contains("line break"), "{reason}");
                }
                other => panic!("{platform:?}: unexpected {other:?}"),
            }
            assert!(e.to_string().contains("OPENCLAW_STATE_DIR"), "{e}");
        }
    }
    // In the executable path too, named as such.
    let h = host(Platform::Systemd, Path::new("/home/u")).with_exe("/opt/open\nclaw");
    let s = ServiceSpec::new(&instance(None), &h).unwrap();
    let e = systemd::render_unit(&s).unwrap_err();
    assert!(e.to_string().contains("executable"), "{e}");
}

#[test]
fn other_control_characters_are_refused() {
    let s = spec_with_state_dir(Platform::Launchd, "/srv/a\u{1b}b");
    let e = launchd::render_plist(&s).unwrap_err();
    assert!(e.to_string().contains("U+001B"), "{e}");
}

#[test]
fn percent_is_escaped_for_systemd_and_windows() {
    let s = spec_with_state_dir(Platform::Systemd, "/srv/100%h");
    let unit = systemd::render_unit(&s).unwrap();
    assert!(
        unit.contains("Environment=\"OPENCLAW_STATE_DIR=/srv/100%%h\""),
        "{unit}"
    );
    // Comments are not expanded; every other line has the % doubled.
    for line in unit.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.replace("%%", "").contains('%'), "{line}");
    }

    let w = spec_with_state_dir(Platform::Windows, r"C:\data\100%PATH%");
    let cmd = windows::render_wrapper(&w).unwrap();
    assert!(
        cmd.contains(r#"set "OPENCLAW_STATE_DIR=C:\data\100%%PATH%%""#),
        "{cmd}"
    );
}

/// Awkward values survive each format and parse back unchanged.
#[test]
fn awkward_values_round_trip_through_every_format() {
    let dir = r#"/srv/my "open" claw\x $HOME 50% it's & <b>"#;
    let exe = "/opt/Open Claw/$bin/100%/open\"claw";
    for platform in [Platform::Systemd, Platform::Launchd] {
        let env = Env::new("/home/u").with("OPENCLAW_STATE_DIR", dir);
        let inst = instance_in(&env, Some("rescue"), Some(19789));
        let h = host(platform, Path::new("/home/u")).with_exe(exe);
        let s = ServiceSpec::new(&inst, &h).unwrap();
        let m = manager_for(platform);
        let file = m.render(&s).unwrap().remove(0);
        let parsed = m.parse(file.path.clone(), &file.bytes()).unwrap();
        assert_eq!(parsed.exec, s.argv(), "{platform:?}:\n{}", file.contents);
        let want: std::collections::BTreeMap<_, _> = s.environment(platform).into_iter().collect();
        assert_eq!(parsed.env, want, "{platform:?}:\n{}", file.contents);
        assert!(drift(&s, platform, &parsed).is_empty());
    }
}

#[test]
fn windows_refuses_double_quotes_and_round_trips_the_rest() {
    let s = spec_with_state_dir(Platform::Windows, r#"C:\a"b"#);
    let e = windows::render_wrapper(&s).unwrap_err();
    assert!(e.to_string().contains("OPENCLAW_STATE_DIR"), "{e}");
    assert!(e.to_string().contains("double quote"), "{e}");

    let s = spec_with_state_dir(Platform::Windows, r"C:\Program Files\100% & more ^x");
    let m = manager_for(Platform::Windows);
    let files = m.render(&s).unwrap();
    let parsed = m.parse(files[0].path.clone(), &files[0].bytes()).unwrap();
    assert_eq!(parsed.exec, s.argv());
    let want: std::collections::BTreeMap<_, _> =
        s.environment(Platform::Windows).into_iter().collect();
    assert_eq!(parsed.env, want);
    // The task XML is UTF-16 with a BOM and is well-formed XML.
    let bytes = files[1].bytes();
    assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
    assert!(files[1].contents.contains("&amp; more"));
}

#[test]
fn plist_is_a_valid_xml_property_list() {
    for profile in [None, Some("rescue")] {
        let s = spec(Platform::Launchd, profile);
        let text = launchd::render_plist(&s).unwrap();
        let v = plist::Value::from_reader_xml(text.as_bytes()).expect("valid XML plist");
        let d = v.as_dictionary().unwrap();
        assert_eq!(
            d["Label"].as_string(),
            Some(s.name(Platform::Launchd)),
            "{text}"
        );
        let args: Vec<&str> = d["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_string().unwrap())
            .collect();
        assert_eq!(args, s.argv());
        assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
        assert_eq!(d["KeepAlive"].as_boolean(), Some(true));
        let logs = s.state_dir.join("logs");
        assert_eq!(
            d["StandardOutPath"].as_string().map(Path::new),
            Some(logs.join("gateway.log").as_path())
        );
        assert_eq!(
            d["StandardErrorPath"].as_string().map(Path::new),
            Some(logs.join("gateway.err.log").as_path())
        );
        let env = d["EnvironmentVariables"].as_dictionary().unwrap();
        assert_eq!(
            env["OPENCLAW_LAUNCHD_LABEL"].as_string(),
            Some(s.name(Platform::Launchd))
        );
        assert_eq!(
            env.get("OPENCLAW_PROFILE").and_then(|v| v.as_string()),
            profile
        );
    }
}

#[test]
fn drift_names_each_differing_value() {
    let s = spec(Platform::Systemd, Some("rescue"));
    let unit = systemd::render_unit(&s)
        .unwrap()
        .replace("19789", "18789")
        .replace(".openclaw-rescue", ".openclaw-main");
    let parsed = systemd::parse_unit("/x".into(), &unit).unwrap();
    let d = drift(&s, Platform::Systemd, &parsed);
    let keys: Vec<&str> = d.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "OPENCLAW_STATE_DIR",
            "OPENCLAW_CONFIG_PATH",
            "OPENCLAW_GATEWAY_PORT",
            "--port"
        ]
    );
    assert_eq!(d[0].installed.as_deref(), Some("/home/u/.openclaw-main"));
    assert_eq!(d[0].expected.as_deref(), Some("/home/u/.openclaw-rescue"));
}
