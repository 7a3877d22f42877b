//! The instance model: which gateway a command is about.
//!
//! From the command-line flags, the `OPENCLAW_*` environment and a few facts
//! read from the config file, [`resolve`] computes one [`Instance`]: profile,
//! state dir, config path, workspace, base port and every derived port, and
//! the service names of each platform. Every value carries the [`Source`] it
//! came from, so `openclaw profiles show` can say why a path or port is what
//! it is.
//!
//! Invariant: this crate does no IO. The caller gathers the environment and
//! reads the config; everything here is a pure function of its inputs, which
//! is what lets the resolution rules be tested as tables.
//!
//! Resolution is two-phase because the config path depends on the state dir,
//! while the port depends on the config's contents:
//! [`resolve_paths`] → caller reads the config → [`resolve`].

mod argv;
mod footprint;
mod services;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use argv::{GlobalFlags, split_global_flags};
pub use footprint::{Footprint, Overlap, PortRange, Purpose, choose_base_port};
pub use services::ServiceNames;

/// Default base port of every instance but the `dev` profile.
pub const DEFAULT_PORT: u16 = 18789;
/// Default base port of the `dev` profile.
pub const DEV_PORT: u16 = 19001;
/// Browser control service: base + 2.
pub const BROWSER_CONTROL_OFFSET: u16 = 2;
/// Canvas host: base + 4.
pub const CANVAS_OFFSET: u16 = 4;
/// First CDP port: browser control + 9.
pub const CDP_RANGE_OFFSET: u16 = 9;
/// Number of CDP ports per instance (control + 9 ..= control + 108).
pub const CDP_RANGE_LEN: u16 = 100;

/// The environment variables that select an instance. A service started for
/// profile A carries these; they must not leak into a command about profile B.
pub const SELECTOR_VARS: [&str; 3] = [
    "OPENCLAW_STATE_DIR",
    "OPENCLAW_CONFIG_PATH",
    "OPENCLAW_GATEWAY_PORT",
];

/// Where a resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "key", rename_all = "kebab-case")]
pub enum Source {
    /// A command-line flag, e.g. `--port`.
    Flag(String),
    /// An environment variable, e.g. `OPENCLAW_STATE_DIR`.
    Env(String),
    /// A config key, e.g. `gateway.port`.
    Config(String),
    /// The default of the active profile, e.g. `~/.openclaw-<p>`.
    ProfileDefault,
    /// Computed from another value, e.g. `base+2`.
    Derived(String),
    /// The built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(k) => write!(f, "flag {k}"),
            Source::Env(k) => write!(f, "env {k}"),
            Source::Config(k) => write!(f, "config {k}"),
            Source::ProfileDefault => f.write_str("profile default"),
            Source::Derived(k) => write!(f, "derived {k}"),
            Source::Default => f.write_str("built-in default"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: Source) -> Self {
        Sourced { value, source }
    }
}

/// Why an instance could not be resolved. Every message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceError {
    #[error(
        "invalid profile name {0:?}: use 1-64 characters from a-z, 0-9, '_' and '-', starting with a letter or digit"
    )]
    InvalidProfile(String),
    #[error("--dev and --profile cannot be combined: --dev is the same as --profile dev")]
    DevWithProfile,
    #[error("--profile needs a value: --profile <name> or --profile=<name>")]
    MissingProfileValue,
    #[error("{var}={value:?} is not a port: use a whole number from 1 to 65535")]
    InvalidEnvPort { var: String, value: String },
    #[error("port 0 is not allowed for {what}: use a port from 1 to 65535")]
    PortZero { what: String },
    #[error(
        "base port {base} is too high: the {what} port would be {base}+{offset}, past 65535; use a base port of at most {max}"
    )]
    PortOverflow {
        base: u16,
        what: String,
        offset: u32,
        max: u32,
    },
}

/// The process environment as far as instance resolution cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `$HOME`.
    pub home: PathBuf,
    /// The `OPENCLAW_*` variables (others are ignored).
    pub vars: BTreeMap<String, String>,
}

impl Env {
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Env {
            home: home.into(),
            vars: BTreeMap::new(),
        }
    }

    /// Builder used by tests and callers: add one variable.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_string(), value.to_string());
        self
    }

    /// Collects `$HOME` and every `OPENCLAW_*` variable from an iterator of
    /// pairs such as `std::env::vars_os()` (the caller does the IO).
    pub fn from_pairs<I, K, V>(home: PathBuf, pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let vars = pairs
            .into_iter()
            .filter(|(k, _)| k.as_ref().starts_with("OPENCLAW_"))
            .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
            .collect();
        Env { home, vars }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// Checks and normalises a profile name. `default` (any case) means "no
/// profile" and yields `None`.
pub fn normalize_profile(raw: &str) -> Result<Option<String>, InstanceError> {
    let name = raw.trim().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !valid {
        return Err(InstanceError::InvalidProfile(raw.to_string()));
    }
    Ok(if name == "default" { None } else { Some(name) })
}

/// Phase one of resolution: profile and paths, which need no config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstancePaths {
    /// `None` is the default profile.
    pub profile: Option<String>,
    pub profile_source: Source,
    /// The home root: `OPENCLAW_HOME`, else `$HOME`.
    pub home: Sourced<PathBuf>,
    pub state_dir: Sourced<PathBuf>,
    pub config_path: Sourced<PathBuf>,
    /// Selector variables from the environment that were ignored because they
    /// belong to another profile's service, with the reason.
    pub ignored_env: Vec<String>,
    #[serde(skip)]
    env: Env,
}

/// Facts phase two needs from the config file. The caller extracts them from
/// the parsed config; all are optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFacts {
    /// `gateway.port`
    pub gateway_port: Option<u16>,
    /// `agents.defaults.workspace`, as written (may start with `~`).
    pub workspace: Option<String>,
    /// `canvasHost.port`
    pub canvas_port: Option<u16>,
    /// `browser.cdpPortRangeStart`
    pub cdp_port_range_start: Option<u16>,
    /// `browser.profiles.<name>.cdpPort`, for the footprint.
    pub explicit_cdp_ports: Vec<(String, u16)>,
}

/// Derived ports of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ports {
    pub gateway: Sourced<u16>,
    pub browser_control: Sourced<u16>,
    pub canvas: Sourced<u16>,
    /// Inclusive CDP port range for browser profiles.
    pub cdp_range: Sourced<(u16, u16)>,
    /// Explicit `browser.profiles.<name>.cdpPort` values.
    pub explicit_cdp: Vec<(String, u16)>,
}

/// One fully resolved gateway instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub profile: Option<String>,
    pub profile_source: Source,
    pub state_dir: Sourced<PathBuf>,
    pub config_path: Sourced<PathBuf>,
    pub workspace: Sourced<PathBuf>,
    pub ports: Ports,
    pub services: ServiceNames,
    pub ignored_env: Vec<String>,
    /// The home root `~` stands for (`OPENCLAW_HOME`, else `$HOME`).
    #[serde(skip)]
    pub home: PathBuf,
}

/// Expands a leading `~` (alone or as `~/...`) against `home`; any other
/// path is returned as written.
pub fn expand_tilde(raw: &str, home: &Path) -> PathBuf {
    if raw == "~" {
        home.to_path_buf()
    } else if let Some(rest) = raw.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(raw)
    }
}

/// Phase one: profile, home root, state dir and config path.
///
/// Precedence: state dir `OPENCLAW_STATE_DIR` > profile default
/// `~/.openclaw-<p>` > `~/.openclaw`; config `OPENCLAW_CONFIG_PATH` >
/// `<stateDir>/openclaw.json`. The profile comes from `--profile`/`--dev`,
/// else `OPENCLAW_PROFILE`.
///
/// Leak rule: the selector variables in the environment belong to the
/// profile named by `OPENCLAW_PROFILE` (or, inside a service, which sets
/// `OPENCLAW_SERVICE_MARKER=openclaw`, to the default profile when
/// `OPENCLAW_PROFILE` is absent). When the flags ask for a different profile
/// those variables are ignored, so profile B never runs on A's paths or port.
pub fn resolve_paths(flags: &GlobalFlags, env: &Env) -> Result<InstancePaths, InstanceError> {
    let (profile, profile_source) = match &flags.profile {
        Some(p) => (
            normalize_profile(p)?,
            Source::Flag(if flags.dev { "--dev" } else { "--profile" }.to_string()),
        ),
        None => match env.get("OPENCLAW_PROFILE") {
            Some(p) => (
                normalize_profile(p)?,
                Source::Env("OPENCLAW_PROFILE".into()),
            ),
            None => (None, Source::Default),
        },
    };

    let mut env = env.clone();
    let mut ignored_env = Vec::new();
    if flags.profile.is_some() {
        let in_service = env.get("OPENCLAW_SERVICE_MARKER") == Some("openclaw");
        let inherited = match env.get("OPENCLAW_PROFILE") {
            Some(p) => Some(normalize_profile(p).unwrap_or(Some(p.to_string()))),
            None if in_service => Some(None),
            None => None,
        };
        if let Some(owner) = inherited
            && owner != profile
        {
            let owner_name = owner.as_deref().unwrap_or("default");
            for var in SELECTOR_VARS {
                if env.vars.remove(var).is_some() {
                    ignored_env.push(format!(
                        "{var} ignored: it belongs to profile {owner_name} (OPENCLAW_PROFILE in this environment), not to the requested profile {}",
                        profile.as_deref().unwrap_or("default")
                    ));
                }
            }
        }
    }

    let home = match env.get("OPENCLAW_HOME") {
        Some(h) => Sourced::new(
            expand_tilde(h, &env.home),
            Source::Env("OPENCLAW_HOME".into()),
        ),
        None => Sourced::new(env.home.clone(), Source::Default),
    };

    let state_dir = match env.get("OPENCLAW_STATE_DIR") {
        Some(s) => Sourced::new(
            expand_tilde(s, &home.value),
            Source::Env("OPENCLAW_STATE_DIR".into()),
        ),
        None => match &profile {
            Some(p) => Sourced::new(
                home.value.join(format!(".openclaw-{p}")),
                Source::ProfileDefault,
            ),
            None => Sourced::new(home.value.join(".openclaw"), Source::Default),
        },
    };

    let config_path = match env.get("OPENCLAW_CONFIG_PATH") {
        Some(c) => Sourced::new(
            expand_tilde(c, &home.value),
            Source::Env("OPENCLAW_CONFIG_PATH".into()),
        ),
        None => Sourced::new(
            state_dir.value.join("openclaw.json"),
            Source::Derived("<stateDir>/openclaw.json".into()),
        ),
    };

    Ok(InstancePaths {
        profile,
        profile_source,
        home,
        state_dir,
        config_path,
        ignored_env,
        env,
    })
}

fn checked_port(base: u16, offset: u16, what: &str, max_offset: u16) -> Result<u16, InstanceError> {
    base.checked_add(offset)
        .ok_or_else(|| InstanceError::PortOverflow {
            base,
            what: what.to_string(),
            offset: u32::from(offset),
            max: 65535 - u32::from(max_offset),
        })
}

/// Phase two: workspace and ports, from the paths, the config facts and the
/// `--port` flag of the command (if it has one).
///
/// Port precedence: `--port` > `OPENCLAW_GATEWAY_PORT` > `gateway.port` >
/// 19001 for the `dev` profile > 18789. Workspace: `OPENCLAW_WORKSPACE_DIR` >
/// `agents.defaults.workspace` > `~/.openclaw/workspace-<p>` for a profile >
/// `<stateDir>/workspace` for a custom `OPENCLAW_STATE_DIR` without a profile
/// (so the manual-env instances never share a workspace) > `~/.openclaw/workspace`.
pub fn resolve(
    paths: &InstancePaths,
    config: &ConfigFacts,
    port_flag: Option<u16>,
) -> Result<Instance, InstanceError> {
    let env = &paths.env;
    let home = &paths.home.value;

    let workspace = if let Some(w) = env.get("OPENCLAW_WORKSPACE_DIR") {
        Sourced::new(
            expand_tilde(w, home),
            Source::Env("OPENCLAW_WORKSPACE_DIR".into()),
        )
    } else if let Some(w) = config.workspace.as_deref().filter(|w| !w.trim().is_empty()) {
        Sourced::new(
            expand_tilde(w, home),
            Source::Config("agents.defaults.workspace".into()),
        )
    } else if let Some(p) = &paths.profile {
        Sourced::new(
            home.join(".openclaw").join(format!("workspace-{p}")),
            Source::ProfileDefault,
        )
    } else if matches!(paths.state_dir.source, Source::Env(_)) {
        Sourced::new(
            paths.state_dir.value.join("workspace"),
            Source::Derived("<stateDir>/workspace".into()),
        )
    } else {
        Sourced::new(home.join(".openclaw").join("workspace"), Source::Default)
    };

    let gateway = if let Some(p) = port_flag {
        Sourced::new(p, Source::Flag("--port".into()))
    } else if let Some(raw) = env.get("OPENCLAW_GATEWAY_PORT") {
        let p = raw
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| InstanceError::InvalidEnvPort {
                var: "OPENCLAW_GATEWAY_PORT".into(),
                value: raw.to_string(),
            })?;
        Sourced::new(p, Source::Env("OPENCLAW_GATEWAY_PORT".into()))
    } else if let Some(p) = config.gateway_port {
        Sourced::new(p, Source::Config("gateway.port".into()))
    } else if paths.profile.as_deref() == Some("dev") {
        Sourced::new(DEV_PORT, Source::ProfileDefault)
    } else {
        Sourced::new(DEFAULT_PORT, Source::Default)
    };
    let ports = derive_ports(gateway, config)?;

    Ok(Instance {
        profile: paths.profile.clone(),
        profile_source: paths.profile_source.clone(),
        state_dir: paths.state_dir.clone(),
        config_path: paths.config_path.clone(),
        workspace,
        services: ServiceNames::for_instance(
            paths.profile.as_deref(),
            &paths.state_dir,
            home,
            &|_| false,
        ),
        ports,
        ignored_env: paths.ignored_env.clone(),
        home: home.clone(),
    })
}

/// Every port from the base port and the config's pins.
fn derive_ports(gateway: Sourced<u16>, config: &ConfigFacts) -> Result<Ports, InstanceError> {
    if gateway.value == 0 {
        return Err(InstanceError::PortZero {
            what: "the gateway".into(),
        });
    }
    let base = gateway.value;

    // The furthest derived port decides the overflow message's bound.
    let cdp_end_offset = BROWSER_CONTROL_OFFSET + CDP_RANGE_OFFSET + CDP_RANGE_LEN - 1;
    let control = checked_port(
        base,
        BROWSER_CONTROL_OFFSET,
        "browser control",
        cdp_end_offset,
    )?;
    let browser_control = Sourced::new(control, Source::Derived("base+2".into()));

    let canvas = match config.canvas_port {
        Some(0) => {
            return Err(InstanceError::PortZero {
                what: "canvasHost.port".into(),
            });
        }
        Some(p) => Sourced::new(p, Source::Config("canvasHost.port".into())),
        None => Sourced::new(
            checked_port(base, CANVAS_OFFSET, "canvas host", cdp_end_offset)?,
            Source::Derived("base+4".into()),
        ),
    };

    let cdp_range = match config.cdp_port_range_start {
        Some(0) => {
            return Err(InstanceError::PortZero {
                what: "browser.cdpPortRangeStart".into(),
            });
        }
        Some(start) => {
            let end = start.checked_add(CDP_RANGE_LEN - 1).ok_or_else(|| {
                InstanceError::PortOverflow {
                    base: start,
                    what: "last CDP (browser.cdpPortRangeStart+99)".into(),
                    offset: u32::from(CDP_RANGE_LEN - 1),
                    max: 65535 - u32::from(CDP_RANGE_LEN - 1),
                }
            })?;
            Sourced::new(
                (start, end),
                Source::Config("browser.cdpPortRangeStart".into()),
            )
        }
        None => {
            let start = checked_port(
                base,
                BROWSER_CONTROL_OFFSET + CDP_RANGE_OFFSET,
                "first CDP",
                cdp_end_offset,
            )?;
            let end = checked_port(base, cdp_end_offset, "last CDP", cdp_end_offset)?;
            Sourced::new(
                (start, end),
                Source::Derived("base+2+9 ..= base+2+108".into()),
            )
        }
    };

    Ok(Ports {
        gateway,
        browser_control,
        canvas,
        cdp_range,
        explicit_cdp: config.explicit_cdp_ports.clone(),
    })
}

/// Whether two paths are the same, component by component (no IO: `a/`
/// and `a` are equal, symlinks are not followed).
pub(crate) fn same_lexical(a: &Path, b: &Path) -> bool {
    a.components().eq(b.components())
}

impl Instance {
    /// Recomputes the service names knowing which profile names other
    /// instances on the host use (`other_profile(name)`), so an instance
    /// selected by its state dir never takes a name that is another
    /// instance's profile. [`resolve`] assumes there are none.
    pub fn with_neighbours(mut self, other_profile: &dyn Fn(&str) -> bool) -> Instance {
        self.services = ServiceNames::for_instance(
            self.profile.as_deref(),
            &self.state_dir,
            &self.home,
            other_profile,
        );
        self
    }

    /// Whether this instance's service names come from its state dir (no
    /// profile, a custom state dir named by `OPENCLAW_STATE_DIR`): only
    /// such names depend on the neighbours and on what is installed.
    pub fn named_by_state_dir(&self) -> bool {
        self.profile.is_none()
            && matches!(self.state_dir.source, Source::Env(_))
            && !same_lexical(&self.state_dir.value, &self.home.join(".openclaw"))
    }

    /// This instance with the service names it installed its service
    /// under (see [`ServiceNames::installed`]).
    pub fn with_service_names(mut self, names: ServiceNames) -> Instance {
        self.services = names;
        self
    }

    /// This instance with its ports resolved again from a changed config
    /// (what a running gateway serves after a reload restart): a base port
    /// from `--port` or `OPENCLAW_GATEWAY_PORT` stays; otherwise
    /// `gateway.port` applies, and without it the profile's default.
    /// Derived and pinned ports follow, by the same rules as [`resolve`].
    pub fn with_config_facts(&self, config: &ConfigFacts) -> Result<Instance, InstanceError> {
        let cur = &self.ports.gateway;
        let gateway = match (&cur.source, config.gateway_port) {
            (Source::Flag(_) | Source::Env(_), _) => cur.clone(),
            (_, Some(p)) => Sourced::new(p, Source::Config("gateway.port".into())),
            (_, None) if self.profile.as_deref() == Some("dev") => {
                Sourced::new(DEV_PORT, Source::ProfileDefault)
            }
            (_, None) => Sourced::new(DEFAULT_PORT, Source::Default),
        };
        let mut next = self.clone();
        next.ports = derive_ports(gateway, config)?;
        Ok(next)
    }

    /// Expands `~` in a path from this instance's config against its home
    /// root, as the resolver does for `agents.defaults.workspace`.
    pub fn expand_home(&self, raw: &str) -> PathBuf {
        expand_tilde(raw, &self.home)
    }

    /// Every port this instance may bind, as ranges with their purpose.
    pub fn footprint(&self) -> Footprint {
        let p = &self.ports;
        let mut ranges = vec![
            PortRange::single(p.gateway.value, Purpose::Gateway),
            PortRange::single(p.browser_control.value, Purpose::BrowserControl),
            PortRange::single(p.canvas.value, Purpose::Canvas),
            PortRange::new(p.cdp_range.value.0, p.cdp_range.value.1, Purpose::CdpRange),
        ];
        for (name, port) in &p.explicit_cdp {
            ranges.push(PortRange::single(*port, Purpose::ExplicitCdp(name.clone())));
        }
        Footprint::new(ranges)
    }

    /// A short human label: `profile rescue`, `default profile`, or the state
    /// dir for an instance selected by environment.
    pub fn label(&self) -> String {
        match (&self.profile, &self.state_dir.source) {
            (Some(p), _) => format!("profile {p}"),
            (None, Source::Env(_)) => format!("instance at {}", self.state_dir.value.display()),
            (None, _) => "default profile".to_string(),
        }
    }

    /// The command prefix that selects this same instance again, for hints:
    /// `openclaw --profile rescue`, or with the env assignments that chose a
    /// custom state dir or config path.
    pub fn cli_prefix(&self) -> String {
        cli_prefix_for(
            &self.profile,
            &self.profile_source,
            &self.state_dir,
            &self.config_path,
        )
    }

    /// `cli_prefix` followed by a subcommand: the exact command for a hint.
    pub fn command(&self, rest: &str) -> String {
        format!("{} {rest}", self.cli_prefix())
    }
}

impl InstancePaths {
    /// The command prefix that selects this instance (see
    /// [`Instance::cli_prefix`]); needs no config, so hints stay right even
    /// when the config cannot be read.
    pub fn cli_prefix(&self) -> String {
        cli_prefix_for(
            &self.profile,
            &self.profile_source,
            &self.state_dir,
            &self.config_path,
        )
    }
}

fn cli_prefix_for(
    profile: &Option<String>,
    profile_source: &Source,
    state_dir: &Sourced<PathBuf>,
    config_path: &Sourced<PathBuf>,
) -> String {
    let mut out = String::new();
    for (source, path) in [
        (&config_path.source, &config_path.value),
        (&state_dir.source, &state_dir.value),
    ] {
        if let Source::Env(var) = source {
            out.push_str(&format!(
                "{var}={} ",
                shell_quote(&path.display().to_string())
            ));
        }
    }
    out.push_str("openclaw");
    match (profile, profile_source) {
        (Some(p), Source::Flag(f)) if f == "--dev" && p == "dev" => out.push_str(" --dev"),
        (Some(p), _) => {
            out.push_str(" --profile ");
            out.push_str(p);
        }
        (None, _) => {}
    }
    out
}

/// Quotes a string for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@%,".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests;
