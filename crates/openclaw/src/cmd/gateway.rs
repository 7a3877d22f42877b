//! `openclaw gateway [run]`, `gateway status|probe|call`, `status`, `health`:
//! the daemon and the clients that talk to it.
//!
//! Every client command resolves the instance exactly as the gateway does,
//! finds the running gateway through the state dir's live owner record,
//! sends the instance's own credentials only once the recorded pid is seen
//! to hold the connection (`openclaw_client::connect_checked`), and refuses
//! to report on a gateway that owns another state dir. With no live owner
//! record nothing gets credentials: whatever listens on the port is named.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use openclaw_client::{Client, ClientError, Credentials, Probe};
use openclaw_config::Config;
use openclaw_gateway::{AuthConfig, BindMode, GatewayOptions, KnownInstance, KnownInstances};
use openclaw_instance::Instance;
use serde_json::{Value, json};

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::{human_duration, print_json};

/// How long a client command waits for a gateway (hang guard only: a
/// stopped gateway is a refused connection, answered at once).
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

/// `openclaw gateway [run]` flags.
#[derive(Args, Debug, Default, Clone)]
pub struct RunArgs {
    /// Base port (overrides OPENCLAW_GATEWAY_PORT and gateway.port)
    #[arg(long)]
    pub port: Option<u16>,
    /// loopback | lan | custom | an IP address
    #[arg(long)]
    pub bind: Option<String>,
    /// Auth token clients must present (overrides gateway.auth.token).
    /// Visible to other local users in the process list; prefer --token-file
    #[arg(long, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// File holding the auth token (`-` = stdin; overrides
    /// gateway.auth.token); not visible in the process list, and kept by
    /// `gateway restart`, unlike a literal --token
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,
    /// Serve even when no config file exists
    #[arg(long)]
    pub allow_unconfigured: bool,
    /// Log at debug level for this run (overrides logging.level,
    /// OPENCLAW_LOG_LEVEL and RUST_LOG) and print the resolved instance
    /// (paths, ports and their sources) before starting
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

impl RunArgs {
    /// The flags a restart must give again (the port also when it came
    /// from `OPENCLAW_GATEWAY_PORT`, which a restart does not inherit).
    pub fn start_flags(&self, inst: &Instance) -> openclaw_state::owner::StartFlags {
        let port = match &inst.ports.gateway.source {
            openclaw_instance::Source::Flag(_) | openclaw_instance::Source::Env(_) => {
                Some(inst.ports.gateway.value)
            }
            _ => None,
        };
        openclaw_state::owner::StartFlags {
            port,
            bind: self.bind.clone(),
            // A token read from stdin cannot be given again: like a literal.
            token_file: self
                .token_file
                .as_ref()
                .filter(|p| p.as_os_str() != "-")
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            token_literal: self.token.as_deref().is_some_and(|t| !t.is_empty())
                || self
                    .token_file
                    .as_ref()
                    .is_some_and(|p| p.as_os_str() == "-"),
            allow_unconfigured: self.allow_unconfigured,
            verbose: self.verbose,
        }
    }
}

/// Reads `--token-file`: a regular file (a symlink is refused), trimmed,
/// not empty.
fn read_token_file(path: &std::path::Path) -> CliResult<String> {
    if path.as_os_str() == "-" {
        let mut raw = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut raw)
            .map_err(|e| CliError::new("cannot read --token-file", "stdin", e))?;
        let t = raw.trim();
        if t.is_empty() {
            return Err(CliError::usage(
                "invalid --token-file",
                "stdin held no token",
            ));
        }
        return Ok(t.to_string());
    }
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| CliError::new("cannot read --token-file", path.display(), e))?;
    if !meta.file_type().is_file() {
        return Err(CliError::usage(
            "invalid --token-file",
            format!(
                "{} is not a regular file (symlinks are refused)",
                path.display()
            ),
        ));
    }
    let raw = std::fs::read_to_string(path)
        .map_err(|e| CliError::new("cannot read --token-file", path.display(), e))?;
    let t = raw.trim();
    if t.is_empty() {
        return Err(CliError::usage(
            "invalid --token-file",
            format!("{} is empty", path.display()),
        ));
    }
    Ok(t.to_string())
}

#[derive(Args, Debug)]
pub struct JsonArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CallArgs {
    /// Method name, e.g. health, status, config.get
    pub method: String,
    /// Params as a JSON object
    #[arg(long, default_value = "{}")]
    pub params: String,
    /// Print JSON (accepted for consistency: a call's result is always JSON)
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(256 * 1024)
        .enable_all()
        .build()
        .map_err(|e| CliError::new("cannot start the async runtime", "", e))
}

/// The runtime of a client command (status, probe, call): one connection
/// at a time needs no worker threads, and starting none saves their
/// spawn and the cross-thread wake-ups on every frame.
pub(crate) fn client_runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("cannot start the async runtime", "", e))
}

fn parse_bind(raw: &str, config: Option<&Config>) -> CliResult<BindMode> {
    match raw {
        "loopback" => Ok(BindMode::Loopback),
        "lan" => Ok(BindMode::Lan),
        "custom" => {
            let host = config.and_then(Config::custom_bind_host).ok_or_else(|| {
                CliError::usage(
                    "--bind custom needs a host",
                    "set gateway.customBindHost in the config, or pass --bind <ip>",
                )
            })?;
            host.parse::<IpAddr>().map(BindMode::Custom).map_err(|_| {
                CliError::usage(
                    "invalid gateway.customBindHost",
                    format!("{host:?} is not an IP address"),
                )
            })
        }
        other => other.parse::<IpAddr>().map(BindMode::Custom).map_err(|_| {
            CliError::usage(
                "invalid --bind",
                format!("{other:?}: use loopback, lan, custom or an IP address"),
            )
        }),
    }
}

/// The other instances on this host, resolved only if a port turns out to be
/// taken (the gateway asks lazily).
fn known_instances(ctx: &Ctx) -> KnownInstances {
    let home = ctx.paths.home.value.clone();
    KnownInstances::new(move || {
        crate::hosts::known_instances(&home)
            .into_iter()
            .map(|k| KnownInstance {
                label: crate::hosts::label(&k),
                stop_command: match &k.instance {
                    Ok(i) => i.command("gateway stop"),
                    Err(_) => format!("kill <pid>  # {}", k.record.state_dir.display()),
                },
                state_dir: k.record.state_dir,
            })
            .collect()
    })
}

/// The rescue role of this gateway (`openclaw-rescue`): it acts when
/// `rescue.enabled` is set in the config (read on every command). It gets
/// this host's facts and the host basics of this process's environment
/// (HOME, PATH, locale, ...), never its `OPENCLAW_*` selectors or secrets:
/// a gateway it starts for another instance has only that instance's.
fn rescue_hooks(ctx: &Ctx, inst: &Instance) -> Option<openclaw_gateway::RescueHooks> {
    let host = match crate::services::host_facts(ctx) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("openclaw: warning: the rescue role is unavailable: {e}");
            return None;
        }
    };
    let rescue = openclaw_rescue::Rescue::new(inst.clone(), host, ctx.host_basics());
    Some(openclaw_gateway::RescueHooks {
        commands: std::sync::Arc::new(rescue.clone()),
        tools: std::sync::Arc::new(rescue),
        shown: openclaw_rescue::shown_command,
    })
}

/// The service this gateway runs as: the name its service file put in the
/// environment (`OPENCLAW_SYSTEMD_UNIT`, ...), when it is this instance's
/// own (not one inherited from another instance's service).
fn own_service(ctx: &Ctx, inst: &Instance) -> Option<String> {
    let platform = openclaw_service::Platform::current();
    let vars = &ctx.env.vars;
    if vars.get("OPENCLAW_SERVICE_MARKER").map(String::as_str) != Some("openclaw") {
        return None;
    }
    vars.get(platform.name_var())
        .filter(|n| n.as_str() == platform.service_name(&inst.services))
        .cloned()
}

/// `openclaw gateway [run]`.
pub fn run(ctx: &Ctx, args: RunArgs) -> CliResult<u8> {
    let (config, inst) = ctx.config_and_instance(args.port)?;
    // One logging pipeline for the process: every `tracing` event (ours and
    // the libraries') becomes a redacted line on stderr and, once the
    // gateway holds its state dir, in <stateDir>/logs/gateway.log.
    openclaw_gateway::log::install(openclaw_gateway::log::LogSetup {
        verbose: args.verbose,
        openclaw_log_level: ctx.env.vars.get("OPENCLAW_LOG_LEVEL").cloned(),
        rust_log: ctx.rust_log.clone(),
        config_level: config.as_ref().map(Config::log_level),
        stderr: true,
    });
    let mut opts = GatewayOptions::new(inst.clone(), crate::VERSION);
    opts.allow_unconfigured = args.allow_unconfigured;
    if let Some(b) = &args.bind {
        opts.bind = Some(parse_bind(b, config.as_ref())?);
    }
    opts.start_flags = Some(args.start_flags(&inst));
    if let Some(f) = &args.token_file {
        opts.auth = Some(AuthConfig::Token(read_token_file(f)?));
    }
    if let Some(t) = args.token.clone().filter(|t| !t.is_empty()) {
        eprintln!(
            "openclaw: warning: --token puts the secret in the process list, readable by every local user; use --token-file FILE (or - for stdin) instead"
        );
        opts.auth = Some(AuthConfig::Token(t));
    }
    if let Some(t) = openclaw_gateway::guard::handshake_timeout_from_env(
        ctx.env
            .vars
            .get("OPENCLAW_HANDSHAKE_TIMEOUT_MS")
            .map(String::as_str),
    )
    .map_err(|e| CliError::usage("bad environment", e))?
    {
        opts.handshake_timeout = t;
    }
    if args.verbose {
        eprintln!("starting the gateway of {}", inst.label());
        eprintln!(
            "  state dir  {} ({})",
            inst.state_dir.value.display(),
            inst.state_dir.source
        );
        eprintln!(
            "  config     {} ({})",
            inst.config_path.value.display(),
            inst.config_path.source
        );
        eprintln!(
            "  workspace  {} ({})",
            inst.workspace.value.display(),
            inst.workspace.source
        );
        eprintln!(
            "  port       {} ({})",
            inst.ports.gateway.value, inst.ports.gateway.source
        );
        eprintln!(
            "  canvas     {} ({})",
            inst.ports.canvas.value, inst.ports.canvas.source
        );
        eprintln!(
            "  service    {} ({})",
            inst.services.systemd_unit, inst.services.source
        );
    }
    opts.known_instances = known_instances(ctx);
    opts.service = own_service(ctx, &inst);
    opts.rescue = rescue_hooks(ctx, &inst);
    opts.skip_canvas_host = ctx
        .env
        .vars
        .get("OPENCLAW_SKIP_CANVAS_HOST")
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
    let rt = runtime()?;
    let result = rt.block_on(async move {
        let bound = openclaw_gateway::Gateway::bind(opts)?;
        bound.serve().await
    });
    // Do not wait for lingering blocking tasks on the way out.
    rt.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => Ok(exit::OK),
        Err(e) => {
            let code = match &e {
                openclaw_gateway::GatewayError::StateDirOwned { .. } => exit::STATE_DIR_OWNED,
                openclaw_gateway::GatewayError::PortInUse { .. } => exit::PORT_IN_USE,
                _ => exit::FAILURE,
            };
            let hint = match &e {
                openclaw_gateway::GatewayError::NotConfigured { setup, .. } => Some(setup.clone()),
                openclaw_gateway::GatewayError::StateDirOwned { .. } => {
                    Some(inst.command("status"))
                }
                openclaw_gateway::GatewayError::Untrusted { fix, .. } => Some(fix.clone()),
                _ => None,
            };
            let mut err =
                CliError::new("gateway failed to start", inst.state_dir.value.display(), e)
                    .code(code);
            if let Some(h) = hint {
                err = err.hint(h);
            }
            Err(err)
        }
    }
}

/// The token/password this instance's clients present.
/// The credentials this instance's gateway expects, by the gateway's own
/// rule (token or password; none for a config without auth).
pub(crate) fn client_credentials(config: Option<&Config>) -> Credentials {
    match config.map(Config::auth) {
        Some(Ok(AuthConfig::Token(t))) => Credentials {
            token: Some(t),
            password: None,
        },
        Some(Ok(AuthConfig::Password(p))) => Credentials {
            token: None,
            password: Some(p),
        },
        // No config, no auth, or an auth section the gateway itself would
        // refuse to start with: present nothing; the gateway says why.
        _ => Credentials::default(),
    }
}

struct Found {
    inst: Instance,
    probe: Result<Probe, ClientError>,
}

fn find(ctx: &Ctx) -> CliResult<Found> {
    let (config, inst) = ctx.config_and_instance(None)?;
    let creds = client_credentials(config.as_ref());
    let rt = client_runtime()?;
    let probe = rt.block_on(openclaw_client::probe_with(&inst, &creds, CLIENT_TIMEOUT));
    Ok(Found { inst, probe })
}

/// A client connected with `scopes` to this instance's running gateway, with
/// the URL it answered on. A stopped gateway fails with NOT_RUNNING and the
/// start command; `why_stopped` says why that matters to the caller.
pub(crate) async fn connect_running(
    ctx: &Ctx,
    scopes: &[&str],
    why_stopped: &str,
) -> CliResult<(Instance, String, Client)> {
    let (config, inst) = ctx.config_and_instance(None)?;
    let creds = client_credentials(config.as_ref());
    // One connection: found, handshaken with `scopes` and identity-checked.
    let checked = openclaw_client::connect_checked(&inst, &creds, scopes, CLIENT_TIMEOUT)
        .await
        .map_err(|e| probe_error(&inst, e))?;
    let (url, client) = match checked {
        openclaw_client::Checked::Running { url, client, .. } => (url, *client),
        openclaw_client::Checked::Stopped { port } => {
            return Err(CliError::new(
                "the gateway is not running",
                format!("{} (port {port})", inst.state_dir.value.display()),
                why_stopped,
            )
            .code(exit::NOT_RUNNING)
            .hint(inst.command("gateway")));
        }
    };
    Ok((inst, url, client))
}

pub(crate) fn probe_error(inst: &Instance, e: ClientError) -> CliError {
    match e {
        ClientError::NotThisGateway { port, .. } => CliError::new(
            "the gateway is not running",
            inst.state_dir.value.display(),
            e,
        )
        .code(exit::NOT_RUNNING)
        .hint(format!("ss -ltnp 'sport = :{port}'")),
        e @ ClientError::WrongInstance { .. } => CliError::new(
            "another instance answered",
            inst.state_dir.value.display(),
            e,
        )
        .code(exit::WRONG_INSTANCE)
        .hint(inst.command("gateway status")),
        ClientError::Rejected { error, .. } => CliError::new(
            "the gateway refused this client",
            inst.state_dir.value.display(),
            error,
        )
        .hint(inst.command("config get gateway.auth.token")),
        e @ ClientError::Timeout {
            stage: openclaw_client::Stage::Upgrade | openclaw_client::Stage::Challenge,
            ..
        } => CliError::new(
            "the gateway did not answer",
            inst.state_dir.value.display(),
            e,
        )
        .code(exit::NOT_RUNNING)
        .hint(inst.command("logs")),
        other => CliError::new(
            "cannot talk to the gateway",
            inst.state_dir.value.display(),
            other,
        )
        .code(exit::NOT_RUNNING),
    }
}

fn status_json(inst: &Instance, probe: &Probe) -> Value {
    let ports = &inst.ports;
    let base = json!({
        "profile": inst.profile,
        "stateDir": inst.state_dir.value,
        "configPath": inst.config_path.value,
        "workspace": inst.workspace.value,
        "configuredPorts": {
            "gateway": ports.gateway.value,
            "browserControl": ports.browser_control.value,
            "canvas": ports.canvas.value,
            "cdpRange": [ports.cdp_range.value.0, ports.cdp_range.value.1],
        },
    });
    let mut v = base;
    let running = matches!(probe, Probe::Running { .. });
    v["channels"] = json!(openclaw_channels::status_summary(
        &inst.state_dir.value,
        running
    ));
    match probe {
        Probe::Running {
            url,
            port,
            via,
            hello,
            owner,
            health,
        } => {
            v["gateway"] = json!({
                "state": "running",
                "url": url,
                "port": port,
                "foundVia": match via { openclaw_client::FoundVia::OwnerRecord => "owner record", openclaw_client::FoundVia::ResolvedPort => "resolved port" },
                "pid": owner.as_ref().map(|o| o.pid),
                "startedAt": owner.as_ref().map(|o| o.started_at.clone()),
                "listeners": owner.as_ref().map(|o| o.listeners.clone()),
                "version": hello.server.version,
                "uptimeMs": hello.snapshot.uptime_ms,
                "protocol": hello.protocol,
                "health": health,
            });
        }
        Probe::Stopped { port } => {
            v["gateway"] = json!({
                "state": "stopped",
                "port": port,
                "start": inst.command("gateway"),
            });
        }
    }
    v
}

fn print_status(v: &Value) {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    println!(
        "profile      {}",
        v["profile"].as_str().unwrap_or("default")
    );
    println!("state dir    {}", s("stateDir"));
    println!("config       {}", s("configPath"));
    println!("workspace    {}", s("workspace"));
    let p = &v["configuredPorts"];
    println!(
        "ports        gateway {} (base) · browser control {} · canvas {} · CDP {}-{}",
        p["gateway"], p["browserControl"], p["canvas"], p["cdpRange"][0], p["cdpRange"][1]
    );
    let g = &v["gateway"];
    if g["state"] == "running" {
        let pid = g["pid"]
            .as_u64()
            .map(|p| format!("pid {p}"))
            .unwrap_or_else(|| "pid unknown: no owner record".into());
        println!(
            "gateway      running on port {} ({pid}, version {}, up {}, found via {})",
            g["port"],
            g["version"].as_str().unwrap_or(""),
            human_duration(g["uptimeMs"].as_u64().unwrap_or(0) / 1000),
            g["foundVia"].as_str().unwrap_or("")
        );
        for l in g["listeners"].as_array().into_iter().flatten() {
            println!(
                "  listener   {} on {}:{}",
                l["purpose"].as_str().unwrap_or("?"),
                l["host"].as_str().unwrap_or("?"),
                l["port"]
            );
        }
        // A config change the gateway has not applied (its restart failed,
        // or gateway.reload.mode is off), and why.
        if let Some(p) = g["health"]["configReload"]["pending"].as_str() {
            println!("  config     {p}");
        }
    } else if let Some(held) = g["portInUse"].as_str() {
        println!("gateway      stopped; {held}");
        println!(
            "  find it    ss -ltnp 'sport = :{}'   (then start this gateway: {})",
            g["port"],
            g["start"].as_str().unwrap_or("")
        );
    } else {
        println!(
            "gateway      stopped (nothing listens on port {}); start it with: {}",
            g["port"],
            g["start"].as_str().unwrap_or("")
        );
    }
    for c in v["channels"].as_array().into_iter().flatten() {
        if let Ok(c) = serde_json::from_value::<openclaw_channels::ChannelStatus>(c.clone()) {
            println!("channel      {}", openclaw_channels::status_line(&c));
        }
    }
    print_service(&v["service"]);
}

fn print_service(sv: &Value) {
    let name = sv["name"].as_str().unwrap_or("?");
    if let Some(e) = sv["error"].as_str() {
        println!("service      {name}: cannot read its state: {e}");
        return;
    }
    let installed = sv["installed"] == true;
    if let Some(o) = sv["ownedBy"].as_object() {
        println!(
            "service      {name}: {}",
            o.get("message").and_then(Value::as_str).unwrap_or("")
        );
        println!(
            "  fix        {}",
            o.get("fix").and_then(Value::as_str).unwrap_or("")
        );
        return;
    }
    println!(
        "service      {name} ({}{})",
        if installed {
            "installed: "
        } else {
            "not installed: "
        },
        sv["path"].as_str().unwrap_or("")
    );
    match sv["managerUnavailable"].as_str() {
        Some(why) => println!("  manager    unavailable: {why}"),
        None => {
            let yn = |x: &Value| match x.as_bool() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            };
            println!(
                "  enabled    {}\n  active     {}{}",
                yn(&sv["enabled"]),
                yn(&sv["active"]),
                sv["mainPid"]
                    .as_u64()
                    .map(|p| format!(" (main pid {p})"))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(e) = sv["fileError"].as_str() {
        println!("  problem    {e}");
    }
    let drift = sv["drift"].as_array().cloned().unwrap_or_default();
    for d in &drift {
        println!("  drift      {}", d["message"].as_str().unwrap_or(""));
    }
    if drift.is_empty() {
        if installed {
            println!("  drift      none: the service file matches this instance");
        }
    } else {
        println!(
            "  the service file does not match this instance; rewrite it with: {} --force",
            sv["install"].as_str().unwrap_or("openclaw gateway install")
        );
    }
    if !installed {
        println!(
            "  install it with: {}",
            sv["install"].as_str().unwrap_or("openclaw gateway install")
        );
    }
}

/// `openclaw status` and `openclaw gateway status` (one report): the
/// instance's paths and ports, its running gateway (or "stopped" with the
/// start command) and its service. Exit 0 running or stopped; 4 when
/// another instance answers on its port.
pub fn status(ctx: &Ctx, json: bool) -> CliResult<u8> {
    let Found { inst, probe } = find(ctx)?;
    // Something else on the port while the gateway is down: report it as
    // stopped, saying what holds the port (it got no credentials).
    let (probe, held_by) = match probe {
        Err(ClientError::NotThisGateway { port, detail, .. }) => {
            (Ok(Probe::Stopped { port }), Some(detail))
        }
        other => (other, None),
    };
    let probe = probe.map_err(|e| probe_error(&inst, e))?;
    let mut v = status_json(&inst, &probe);
    if let Some(detail) = held_by {
        v["gateway"]["portInUse"] = json!(format!(
            "port {} is answered by a process that is not this instance's gateway ({detail}); no credentials were sent to it",
            v["gateway"]["port"]
        ));
    }
    v["service"] = crate::services::service_section(ctx, &inst);
    if json {
        print_json(&v);
    } else {
        print_status(&v);
    }
    Ok(exit::OK)
}

/// `openclaw gateway probe` / `openclaw health`: exit 3 when stopped.
pub fn probe(ctx: &Ctx, args: JsonArgs, health_only: bool) -> CliResult<u8> {
    let Found { inst, probe } = find(ctx)?;
    let probe = probe.map_err(|e| probe_error(&inst, e))?;
    let v = status_json(&inst, &probe);
    let running = matches!(probe, Probe::Running { .. });
    if args.json {
        if health_only {
            print_json(&json!({
                "ok": running,
                "stateDir": inst.state_dir.value,
                "health": v["gateway"]["health"],
                "state": v["gateway"]["state"],
            }));
        } else {
            print_json(&v);
        }
    } else if running {
        println!(
            "gateway {} ok: port {}, state dir {}",
            inst.label(),
            v["gateway"]["port"],
            inst.state_dir.value.display()
        );
    }
    if running {
        Ok(exit::OK)
    } else {
        Err(CliError::new(
            "the gateway is not running",
            format!(
                "{} (port {})",
                inst.state_dir.value.display(),
                v["gateway"]["port"]
            ),
            "nothing listens on its port and no live owner record exists",
        )
        .code(exit::NOT_RUNNING)
        .hint(inst.command("gateway")))
    }
}

/// `openclaw gateway call <method> [--params JSON]`.
pub fn call(ctx: &Ctx, args: CallArgs) -> CliResult<u8> {
    let params: Value = serde_json::from_str(&args.params)
        .map_err(|e| CliError::usage("invalid --params", format!("not JSON: {e}")))?;
    let rt = client_runtime()?;
    let out = rt.block_on(async {
        let (_, url, client) = connect_running(
            ctx,
            &["operator.read", "operator.write", "operator.admin"],
            "nothing listens on its port",
        )
        .await?;
        let res = client.call(&args.method, params).await;
        client.close().await;
        res.map_err(|e| CliError::new(format!("{} failed", args.method), &url, e))
    })?;
    // A call's result is JSON either way; `--json` is accepted like on
    // every other read command.
    print_json(&out);
    Ok(exit::OK)
}
