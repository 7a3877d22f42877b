//! Config changes that need a restart (`gateway.reload.mode`).
//!
//! The listeners and the services on them are built from a [`Shape`]: the
//! base port, the bind, and what [`crate::derived::plan`] reads from
//! `canvasHost.*` and `browser.*`. A config change whose shape differs from
//! the running one needs a restart; everything else applies live (auth,
//! agents, channels, logging, origins).
//!
//! In `hybrid` mode (the default, as upstream) the gateway restarts itself
//! in place: the serve loop ([`crate::server`]) gets a [`RestartRequest`],
//! [`prepare`]s the new listeners and services while the old ones still
//! serve — every new port is bound, the canvas root checked, browser control
//! built — and only then stops the old generation (clients get a `shutdown`
//! event with `restartExpectedMs`, turns in flight are drained) and starts
//! the new one. The process, and with it the state-dir lock, never goes
//! away, so no other gateway can take the state dir in between. A new
//! config that cannot start (a taken port, a refused canvas root) leaves
//! the old generation serving; the log and `health.configReload.pending`
//! (shown by `openclaw status`) say why. In `off` mode the change is logged
//! and reported as pending until `openclaw gateway restart`.
//!
//! Ports that stay the same keep their socket (a duplicate of the listening
//! descriptor is held across the switch, so connections that arrive in
//! between wait in its backlog). A port whose address changes but whose
//! number stays (a bind change) cannot be bound while the old socket
//! listens; it is bound right after the old generation stopped, and if that
//! fails the previous shape is started again.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use openclaw_browser::ProfileConfig;
use openclaw_config::Config;

use crate::derived::{self, BROWSER_PURPOSE, CANVAS_PURPOSE, Plan};
use crate::log::GatewayLog;
use crate::{AuthConfig, BindMode, GatewayError, GatewayOptions};

/// What the listeners and the services on them are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub port: u16,
    pub bind: IpAddr,
    pub bind_mode: &'static str,
    pub canvas: Option<CanvasShape>,
    pub browser: Option<BrowserShape>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CanvasShape {
    pub port: u16,
    pub root: PathBuf,
    pub live_reload: bool,
}

/// The browser plan without its token (a rotated token applies live).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrowserShape {
    pub port: u16,
    pub cdp_range: (u16, u16),
    pub profiles: BTreeMap<String, ProfileConfig>,
    pub executable_path: Option<PathBuf>,
    pub headless: Option<bool>,
    pub no_sandbox: bool,
}

impl Shape {
    pub fn of(port: u16, bind: &BindMode, plan: &Plan) -> Shape {
        Shape {
            port,
            bind: bind.host(),
            bind_mode: bind.name(),
            canvas: plan.canvas.as_ref().map(|c| CanvasShape {
                port: c.port,
                root: c.root.clone(),
                live_reload: c.live_reload,
            }),
            browser: plan.browser.as_ref().map(|b| BrowserShape {
                port: b.port,
                cdp_range: b.cdp_range,
                profiles: b.profiles.clone(),
                executable_path: b.executable_path.clone(),
                headless: b.headless,
                no_sandbox: b.no_sandbox,
            }),
        }
    }

    /// The gateway saves a CDP port it chose for a profile into the config
    /// (`browser.profiles.<name>.cdpPort`, creating the entry if needed);
    /// that write is not a change to restart for: the running browser
    /// control already uses that port. Applied to both shapes compared.
    pub fn without_saved_ports(mut self, saved: &BTreeMap<String, u16>) -> Shape {
        if let Some(b) = &mut self.browser {
            b.profiles.retain(|name, p| {
                let Some(port) = saved.get(name) else {
                    return true;
                };
                if p.cdp_port == Some(*port) {
                    p.cdp_port = None;
                }
                *p != ProfileConfig::default()
            });
        }
        self
    }

    /// Whether `self` (running) and `next` ask for the same listeners and
    /// services, given the CDP ports the gateway saved itself.
    pub fn same_as(&self, next: &Shape, saved: &BTreeMap<String, u16>) -> bool {
        self.clone().without_saved_ports(saved) == next.clone().without_saved_ports(saved)
    }
}

/// What a restart to `config` would run.
pub(crate) struct Next {
    pub opts: GatewayOptions,
    pub bind: BindMode,
    pub plan: Plan,
    pub shape: Shape,
}

/// The shape `config` asks for, given the running gateway's options (its
/// `--port` / `--bind` flags win, as at start-up) and its live auth. `Err`
/// says why that config cannot run (ports out of range, a refused canvas
/// root, a public bind without auth).
pub(crate) fn next(
    opts: &GatewayOptions,
    config: &Config,
    auth: &AuthConfig,
) -> Result<Next, String> {
    let instance = opts
        .instance
        .with_config_facts(&config.instance_facts())
        .map_err(|e| e.to_string())?;
    let mut opts = opts.clone();
    opts.instance = instance;
    let bind = match &opts.bind {
        Some(b) => b.clone(),
        None => config.bind()?,
    };
    crate::check_auth(&bind, auth).map_err(|e| e.to_string())?;
    let plan = derived::plan(&opts, config, auth).map_err(|e| e.to_string())?;
    let shape = Shape::of(opts.instance.ports.gateway.value, &bind, &plan);
    Ok(Next {
        opts,
        bind,
        plan,
        shape,
    })
}

/// Config values this gateway cannot follow, with what to do: `gateway.port`
/// while `--port` or `OPENCLAW_GATEWAY_PORT` sets the base port (every
/// service unit passes both), `gateway.bind` while `--bind` sets the bind.
/// Such a change is not applied, not even by a restart in place (the flag
/// wins again); `None` when the config and the running overrides agree.
pub(crate) fn overridden(opts: &GatewayOptions, config: &Config) -> Option<String> {
    use openclaw_instance::Source;
    let inst = &opts.instance;
    let mut parts = Vec::new();
    let mut by_flag = false;
    let mut by_env: Option<String> = None;
    let running = &inst.ports.gateway;
    if let Some(want) = config.gateway_port().filter(|p| *p != running.value) {
        let how = match &running.source {
            Source::Flag(f) => {
                by_flag = true;
                format!("{f} {}", running.value)
            }
            Source::Env(v) => {
                by_env = Some(v.clone());
                format!("{v}={}", running.value)
            }
            _ => String::new(),
        };
        if !how.is_empty() {
            parts.push(format!("gateway.port {want} is overridden by {how}"));
        }
    }
    if let (Some(flag), Some(_)) = (&opts.bind, config.bind_setting())
        && let Ok(want) = config.bind()
        && want.host() != flag.host()
    {
        by_flag = true;
        parts.push(format!(
            "gateway.bind {} is overridden by --bind {}",
            want.name(),
            flag.name()
        ));
    }
    if parts.is_empty() {
        return None;
    }
    let fix = match &opts.service {
        Some(unit) => format!(
            " (from the service unit {unit}); run `{}` then `{}`",
            inst.command("gateway install --force"),
            inst.command("gateway restart")
        ),
        None => {
            let without = match (by_flag, &by_env) {
                (true, Some(v)) => format!("without that flag and without {v}"),
                (true, None) => "without that flag".to_string(),
                (false, Some(v)) => format!("without {v}"),
                (false, None) => "without the override".to_string(),
            };
            let from = match (by_flag, &by_env) {
                (true, Some(_)) => "given on the command line and in the environment",
                (true, None) => "given on the command line",
                _ => "from the environment",
            };
            format!(
                " ({from}); stop this gateway (`{}`) and start it {without}: `{}`",
                inst.command("gateway stop"),
                inst.command("gateway")
            )
        }
    };
    Some(format!("{}{fix}", parts.join("; ")))
}

/// What changed between two shapes, for the log: e.g. `canvas host port
/// 20004 -> 23456`.
pub(crate) fn describe(old: &Shape, new: &Shape) -> String {
    let mut parts = Vec::new();
    if old.port != new.port {
        parts.push(format!("gateway port {} -> {}", old.port, new.port));
    }
    if old.bind != new.bind {
        parts.push(format!(
            "bind {} ({}) -> {} ({})",
            old.bind_mode, old.bind, new.bind_mode, new.bind
        ));
    }
    match (&old.canvas, &new.canvas) {
        (Some(a), Some(b)) if a != b => {
            if a.port != b.port {
                parts.push(format!("canvas host port {} -> {}", a.port, b.port));
            }
            if a.root != b.root {
                parts.push(format!(
                    "canvas root {} -> {}",
                    a.root.display(),
                    b.root.display()
                ));
            }
            if a.live_reload != b.live_reload {
                parts.push(format!("canvas live reload -> {}", b.live_reload));
            }
        }
        (Some(_), None) => parts.push("canvas host off".into()),
        (None, Some(b)) => parts.push(format!("canvas host on (port {})", b.port)),
        _ => {}
    }
    match (&old.browser, &new.browser) {
        (Some(a), Some(b)) if a != b => {
            if a.port != b.port {
                parts.push(format!("browser control port {} -> {}", a.port, b.port));
            }
            if a.cdp_range != b.cdp_range {
                parts.push(format!(
                    "CDP ports {}-{} -> {}-{}",
                    a.cdp_range.0, a.cdp_range.1, b.cdp_range.0, b.cdp_range.1
                ));
            }
            if (&a.profiles, &a.executable_path, a.headless, a.no_sandbox)
                != (&b.profiles, &b.executable_path, b.headless, b.no_sandbox)
            {
                parts.push("browser settings".into());
            }
        }
        (Some(_), None) => parts.push("browser control off".into()),
        (None, Some(b)) => parts.push(format!("browser control on (port {})", b.port)),
        _ => {}
    }
    if parts.is_empty() {
        "listeners".into()
    } else {
        parts.join(", ")
    }
}

/// Asks the serve loop to restart in place with `config`.
pub(crate) struct RestartRequest {
    pub config: Config,
    /// [`describe`]d change, for the log and the `shutdown` event.
    pub what: String,
}

/// A bound listener of the running generation, kept (as a duplicate of its
/// descriptor) so a restart can reuse it when its address stays.
pub(crate) struct Held {
    pub addr: SocketAddr,
    pub listener: TcpListener,
}

/// Duplicates the gateway's and derived services' listeners.
pub(crate) fn hold(listeners: &[(String, TcpListener)]) -> Result<Vec<Held>, GatewayError> {
    listeners
        .iter()
        .filter(|(p, _)| p == "gateway" || p == CANVAS_PURPOSE || p == BROWSER_PURPOSE)
        .map(|(purpose, l)| {
            let io = |source| GatewayError::Io {
                what: format!("cannot keep the {purpose} listener across restarts"),
                source,
            };
            Ok(Held {
                addr: l.local_addr().map_err(io)?,
                listener: l.try_clone().map_err(io)?,
            })
        })
        .collect()
}

/// One listener of the next generation.
pub(crate) enum Slot {
    Ready(TcpListener),
    /// Bound once the old generation has let go of the port (same port
    /// number on another address: a bind change).
    Later(SocketAddr),
}

/// Everything the next generation needs, built while the old one serves.
pub(crate) struct Prepared {
    pub next: Next,
    pub listeners: Vec<(String, Slot)>,
    pub services: derived::Services,
    pub config: Config,
    pub what: String,
}

/// Binds what the new shape needs (reusing held sockets whose address
/// stays) and builds its services. On `Err` nothing of the old generation
/// was touched: it keeps serving.
pub(crate) fn prepare(
    opts: &GatewayOptions,
    auth: &AuthConfig,
    log: &Arc<GatewayLog>,
    held: &[Held],
    req: RestartRequest,
) -> Result<Prepared, String> {
    let next = next(opts, &req.config, auth)?;
    let host = next.bind.host();
    let inst = &next.opts.instance;
    let mut specs = vec![("gateway".to_string(), host, inst.ports.gateway.value)];
    for s in next.plan.listeners() {
        specs.push((s.purpose, s.host.unwrap_or(host), s.port));
    }
    let mut listeners = Vec::with_capacity(specs.len());
    for (purpose, ip, port) in specs {
        let addr = SocketAddr::new(ip, port);
        if let Some(h) = held.iter().find(|h| h.addr == addr) {
            let l = h
                .listener
                .try_clone()
                .map_err(|e| format!("cannot reuse the listener on {addr}: {e}"))?;
            listeners.push((purpose, Slot::Ready(l)));
            continue;
        }
        match crate::bind_port(ip, port, &purpose, &next.opts, inst) {
            Ok(l) => listeners.push((purpose, Slot::Ready(l))),
            Err(GatewayError::PortInUse { .. }) if held.iter().any(|h| h.addr.port() == port) => {
                listeners.push((purpose, Slot::Later(addr)));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let services = derived::build(&next.plan, &next.opts, log).map_err(|e| e.to_string())?;
    Ok(Prepared {
        next,
        listeners,
        services,
        config: req.config,
        what: req.what,
    })
}

impl Prepared {
    /// Binds the listeners left for later (the old generation has stopped
    /// and its sockets are closed).
    pub fn bind_rest(&mut self) -> Result<Vec<(String, TcpListener)>, GatewayError> {
        let opts = &self.next.opts;
        let mut out = Vec::with_capacity(self.listeners.len());
        for (purpose, slot) in self.listeners.drain(..) {
            let l = match slot {
                Slot::Ready(l) => l,
                Slot::Later(addr) => {
                    crate::bind_port(addr.ip(), addr.port(), &purpose, opts, &opts.instance)?
                }
            };
            out.push((purpose, l));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> Config {
        openclaw_config::validate_value(&v, std::path::Path::new("t.json"))
            .unwrap()
            .config
    }

    fn opts(
        dir: &std::path::Path,
        port_flag: Option<u16>,
        config_port: Option<u16>,
    ) -> GatewayOptions {
        let env = openclaw_instance::Env::new(dir);
        let flags = openclaw_instance::GlobalFlags {
            profile: Some("t".into()),
            dev: false,
        };
        let paths = openclaw_instance::resolve_paths(&flags, &env).unwrap();
        let facts = openclaw_instance::ConfigFacts {
            gateway_port: config_port,
            ..Default::default()
        };
        let inst = openclaw_instance::resolve(&paths, &facts, port_flag).unwrap();
        GatewayOptions::new(inst, "t")
    }

    #[test]
    fn which_changes_need_a_restart() {
        let t = tempfile::tempdir().unwrap();
        let auth = AuthConfig::Token("tok".into());
        let base = json!({"gateway": {"port": 20000, "auth": {"token": "tok"}}});
        let o = opts(t.path(), None, Some(20000));
        let shape = |v: serde_json::Value| next(&o, &config(v), &auth).map(|n| n.shape);
        let running = shape(base.clone()).unwrap();
        assert_eq!(running.port, 20000);
        assert_eq!(running.canvas.as_ref().unwrap().port, 20004);
        assert_eq!(running.browser.as_ref().unwrap().port, 20002);

        let with = |patch: serde_json::Value| {
            let mut v = base.clone();
            crate::merge_patch(&mut v, &patch);
            v
        };
        // Live changes: same shape.
        for patch in [
            json!({"gateway": {"auth": {"token": "rotated"}}}),
            json!({"logging": {"level": "debug"}}),
            json!({"tools": {"exec": {"enabled": true}}}),
            json!({"gateway": {"controlUi": {"allowedOrigins": ["http://x.example"]}}}),
            json!({"gateway": {"reload": {"mode": "off"}}}),
        ] {
            assert_eq!(shape(with(patch.clone())).unwrap(), running, "{patch}");
        }
        // Restarts, each described.
        for (patch, says) in [
            (
                json!({"gateway": {"port": 21000}}),
                "gateway port 20000 -> 21000",
            ),
            (
                json!({"canvasHost": {"port": 23456}}),
                "canvas host port 20004 -> 23456",
            ),
            (json!({"canvasHost": {"enabled": false}}), "canvas host off"),
            (
                json!({"canvasHost": {"liveReload": false}}),
                "canvas live reload -> false",
            ),
            (
                json!({"browser": {"executablePath": "/opt/chrome"}}),
                "browser settings",
            ),
            (
                json!({"browser": {"enabled": false}}),
                "browser control off",
            ),
            (
                json!({"gateway": {"bind": "lan"}}),
                "bind loopback (127.0.0.1) -> lan (0.0.0.0)",
            ),
        ] {
            let s = shape(with(patch.clone())).unwrap();
            assert_ne!(s, running, "{patch}");
            assert!(
                describe(&running, &s).contains(says),
                "{patch}: {}",
                describe(&running, &s)
            );
        }
        // A CDP port the gateway saved itself is not a change, whether it
        // created the profile's entry or filled in an existing one.
        let saved = BTreeMap::from([("openclaw".to_string(), 20015)]);
        let with_saved = shape(with(
            json!({"browser": {"profiles": {"openclaw": {"cdpPort": 20015}}}}),
        ))
        .unwrap();
        assert!(running.same_as(&with_saved, &saved));
        let listed = shape(with(json!({"browser": {"profiles": {"openclaw": {}}}}))).unwrap();
        assert!(listed.same_as(&with_saved, &saved));
        assert!(!running.same_as(&with_saved, &BTreeMap::new()));
        // The user changing it afterwards is one.
        let moved = shape(with(
            json!({"browser": {"profiles": {"openclaw": {"cdpPort": 20016}}}}),
        ))
        .unwrap();
        assert!(!running.same_as(&moved, &saved));
        // Cannot run: said why.
        let e = shape(with(json!({"canvasHost": {"root": "/"}}))).unwrap_err();
        assert!(e.contains("system directory"), "{e}");
        let open = next(
            &o,
            &config(with(
                json!({"gateway": {"bind": "lan", "auth": {"mode": "none"}}}),
            )),
            &AuthConfig::None,
        );
        assert!(open.is_err());

        // --port pins the base port: gateway.port changes are no restart.
        let pinned = opts(t.path(), Some(22000), None);
        let a = next(&pinned, &config(base.clone()), &auth).unwrap().shape;
        let b = next(
            &pinned,
            &config(with(json!({"gateway": {"port": 21000}}))),
            &auth,
        )
        .unwrap()
        .shape;
        assert_eq!(a, b);
        assert_eq!(a.port, 22000);
    }

    /// A `gateway.port` the running `--port` overrides is said, with the
    /// exact fix; a service's own `--port` names the unit.
    #[test]
    fn a_config_port_overridden_by_the_flag_says_so_and_how_to_fix_it() {
        let t = tempfile::tempdir().unwrap();
        let base = json!({"gateway": {"port": 22000, "auth": {"token": "tok"}}});
        let mut pinned = opts(t.path(), Some(22000), Some(22000));
        assert_eq!(overridden(&pinned, &config(base.clone())), None);
        let moved = config(json!({"gateway": {"port": 21000, "auth": {"token": "tok"}}}));
        let said = overridden(&pinned, &moved).unwrap();
        assert!(
            said.starts_with(
                "gateway.port 21000 is overridden by --port 22000 (given on the command line)"
            ),
            "{said}"
        );
        assert!(
            said.contains("`openclaw --profile t gateway stop`"),
            "{said}"
        );
        pinned.service = Some("openclaw-gateway-t.service".into());
        let said = overridden(&pinned, &moved).unwrap();
        assert_eq!(
            said,
            "gateway.port 21000 is overridden by --port 22000 (from the service unit openclaw-gateway-t.service); run `openclaw --profile t gateway install --force` then `openclaw --profile t gateway restart`"
        );
        // Not pinned: the change applies (a restart in place), nothing to say.
        let free = opts(t.path(), None, Some(22000));
        assert_eq!(overridden(&free, &moved), None);
        // --bind against an explicit gateway.bind.
        let mut bound = opts(t.path(), None, Some(22000));
        bound.bind = Some(BindMode::Loopback);
        let lan =
            config(json!({"gateway": {"port": 22000, "bind": "lan", "auth": {"token": "tok"}}}));
        let said = overridden(&bound, &lan).unwrap();
        assert!(
            said.starts_with("gateway.bind lan is overridden by --bind loopback"),
            "{said}"
        );
        assert_eq!(overridden(&bound, &config(base)), None);
        // The port from the environment and the bind from the flag: the
        // fix names both.
        let env = openclaw_instance::Env::new(t.path()).with("OPENCLAW_GATEWAY_PORT", "22000");
        let flags = openclaw_instance::GlobalFlags {
            profile: Some("t".into()),
            dev: false,
        };
        let paths = openclaw_instance::resolve_paths(&flags, &env).unwrap();
        let inst = openclaw_instance::resolve(&paths, &Default::default(), None).unwrap();
        let mut mixed = GatewayOptions::new(inst, "t");
        mixed.bind = Some(BindMode::Loopback);
        let lan_moved =
            config(json!({"gateway": {"port": 21000, "bind": "lan", "auth": {"token": "tok"}}}));
        let said = overridden(&mixed, &lan_moved).unwrap();
        assert!(
            said.contains("OPENCLAW_GATEWAY_PORT=22000")
                && said.contains("--bind loopback")
                && said.contains("without that flag and without OPENCLAW_GATEWAY_PORT"),
            "{said}"
        );
    }
}
