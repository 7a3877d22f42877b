//! Shared helpers: instances resolved by the real instance crate.
#![allow(dead_code)]

use std::path::Path;

use openclaw_instance::{ConfigFacts, Env, GlobalFlags, Instance, resolve, resolve_paths};
use openclaw_service::{HostContext, Platform, ServiceSpec};

/// Resolves an instance for `profile` under `env`, as the CLI would.
pub fn instance_in(env: &Env, profile: Option<&str>, port: Option<u16>) -> Instance {
    let flags = GlobalFlags {
        profile: profile.map(str::to_string),
        dev: false,
    };
    let paths = resolve_paths(&flags, env).expect("paths resolve");
    let facts = ConfigFacts {
        gateway_port: port,
        ..ConfigFacts::default()
    };
    resolve(&paths, &facts, None).expect("instance resolves")
}

/// `default` (port 18789) or `rescue` (config port 19789) under /home/u.
pub fn instance(profile: Option<&str>) -> Instance {
    let port = profile.map(|_| 19789);
    instance_in(&Env::new("/home/u"), profile, port)
}

pub fn host(platform: Platform, home: &Path) -> HostContext {
    let exe = match platform {
        Platform::Windows => r"C:\Users\u\AppData\Local\openclaw\openclaw.exe".into(),
        _ => home.join(".local/bin/openclaw"),
    };
    let mut h = HostContext::new(platform, exe, home);
    h.uid = 501;
    h.xdg_runtime_dir = Some("/run/user/501".into());
    h
}

/// Spec for `profile` with fixed fake paths under /home/u.
pub fn spec(platform: Platform, profile: Option<&str>) -> ServiceSpec {
    ServiceSpec::new(&instance(profile), &host(platform, Path::new("/home/u"))).unwrap()
}

/// A Windows spec: the instance's paths rewritten to Windows form.
pub fn windows_spec(profile: Option<&str>) -> ServiceSpec {
    let mut inst = instance(profile);
    let dir = match profile {
        Some(p) => format!(r"C:\Users\u\.openclaw-{p}"),
        None => r"C:\Users\u\.openclaw".to_string(),
    };
    inst.config_path.value = format!(r"{dir}\openclaw.json").into();
    inst.state_dir.value = dir.into();
    let mut h = host(Platform::Windows, Path::new(r"C:\Users\u"));
    h.windows_user = Some(r"HOST\u".into());
    ServiceSpec::new(&inst, &h).unwrap()
}

/// A spec whose files live under a real temporary HOME.
pub fn spec_in(
    platform: Platform,
    home: &Path,
    profile: Option<&str>,
    port: Option<u16>,
) -> ServiceSpec {
    let home_str = home.to_str().unwrap();
    let inst = instance_in(&Env::new(home_str), profile, port);
    ServiceSpec::new(&inst, &host(platform, home)).unwrap()
}
