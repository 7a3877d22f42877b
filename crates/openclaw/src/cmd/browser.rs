//! `openclaw browser ...`: drive this instance's browser control service
//! (run by its gateway on 127.0.0.1:<base+2>) with the instance's token.
//!
//! The port comes from the resolved instance (and the live owner record of
//! its state dir, which lists what the running gateway bound), never from a
//! constant, so `--profile rescue browser ...` can only reach rescue's
//! browsers.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use openclaw_browser::{BrowserStatus, ClientError, ControlClient};
use openclaw_gateway::derived::BROWSER_PURPOSE;
use openclaw_instance::Instance;
use serde_json::{Value, json};

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::print_json;

#[derive(Args, Debug)]
pub struct BrowserArgs {
    #[command(subcommand)]
    pub command: BrowserCmd,
    /// Browser profile (default: openclaw)
    #[arg(long, global = true, value_name = "NAME")]
    pub browser_profile: Option<String>,
    /// Print JSON
    #[arg(long, global = true)]
    pub json: bool,
}

/// `openclaw browser ...`
#[derive(Subcommand, Debug)]
pub enum BrowserCmd {
    /// Show the browser of a profile: running, pid, CDP port and URL, version
    Status,
    /// Launch the profile's browser (or attach, for a cdpUrl profile)
    Start,
    /// Stop the profile's browser (only one this gateway launched)
    Stop,
    /// List open tabs
    Tabs,
    /// Open a new tab at URL
    Open { url: String },
    /// Navigate a tab (default: the first one) to URL
    Navigate {
        url: String,
        #[arg(long)]
        target_id: Option<String>,
    },
    /// Save a PNG of a tab
    Screenshot {
        /// Where to write the PNG (default: ./openclaw-screenshot-<time>.png)
        #[arg(long)]
        out: Option<PathBuf>,
        /// The whole page, not just the viewport
        #[arg(long)]
        full_page: bool,
        #[arg(long)]
        target_id: Option<String>,
    },
    /// Visible text and interactive elements with stable refs
    Snapshot {
        #[arg(long)]
        target_id: Option<String>,
    },
}

/// Where the control service of this instance is, and its token.
struct Target {
    inst: Instance,
    client: ControlClient,
    port: u16,
}

fn target(ctx: &Ctx) -> CliResult<Target> {
    let loaded = ctx.load_config()?;
    let inst = ctx.instance_for(loaded.as_ref(), None)?;
    let state_dir = inst.state_dir.value.clone();
    let resolved = inst.ports.browser_control.value;
    let Some(owner) = openclaw_state::owner::live_owner(&state_dir) else {
        return Err(not_running(&inst, resolved));
    };
    let port = match owner
        .listeners
        .iter()
        .find(|l| l.purpose == BROWSER_PURPOSE)
    {
        Some(l) => l.port,
        None => {
            return Err(CliError::new(
                "browser control is not running in this gateway",
                format!("{} (pid {})", state_dir.display(), owner.pid),
                "the gateway runs without it: browser.enabled is false, or gateway auth has no token (see the gateway log)",
            )
            .hint(inst.command("config set browser.enabled true")));
        }
    };
    let token = loaded
        .as_ref()
        .and_then(|l| l.parsed.config.gateway_token())
        .map(str::to_string)
        .ok_or_else(|| {
            CliError::new(
                "no gateway token for browser control",
                inst.config_path.value.display(),
                "gateway.auth.token is not set; browser control requires it",
            )
            .hint(inst.command("setup"))
        })?;
    // The token goes only to the gateway's own listener: the owner
    // record's pid must hold 127.0.0.1:<port> (checked before any request).
    #[cfg(target_os = "linux")]
    {
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let any = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        match openclaw_state::procfs::pid_holds_tcp(owner.pid, &listen, &any) {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                return Err(CliError::new(
                    "browser control is not this gateway's",
                    format!("{} (port {port})", state_dir.display()),
                    format!(
                        "127.0.0.1:{port} is not held by the gateway's pid {}; the token was not sent",
                        owner.pid
                    ),
                )
                .code(exit::NOT_RUNNING)
                .hint(format!("ss -ltnp 'sport = :{port}'")));
            }
        }
    }
    let client = ControlClient::new(format!("http://127.0.0.1:{port}"), token);
    Ok(Target { inst, client, port })
}

fn not_running(inst: &Instance, port: u16) -> CliError {
    CliError::new(
        "the gateway is not running",
        format!(
            "{} (browser control port {port})",
            inst.state_dir.value.display()
        ),
        "browser control runs inside the gateway; start the gateway first",
    )
    .code(exit::NOT_RUNNING)
    .hint(inst.command("gateway"))
}

fn client_error(t: &Target, e: ClientError) -> CliError {
    match &e {
        ClientError::Unreachable { .. } => not_running(&t.inst, t.port),
        ClientError::Refused { status: 401, .. } => {
            CliError::new("browser control refused the token", t.client.base_url(), e)
                .hint(t.inst.command("config get gateway.auth.token"))
        }
        _ => CliError::new("browser request failed", t.client.base_url(), e),
    }
}

pub fn run(ctx: &Ctx, args: BrowserArgs) -> CliResult<u8> {
    let t = target(ctx)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("cannot start the async runtime", "", e))?;
    let profile = args.browser_profile.as_deref();
    let c = &t.client;
    let fail = |e| client_error(&t, e);
    match args.command {
        BrowserCmd::Status => {
            let s = rt.block_on(c.status(profile)).map_err(fail)?;
            print_status(&s, args.json);
        }
        BrowserCmd::Start => {
            let s = rt.block_on(c.start(profile)).map_err(fail)?;
            print_status(&s, args.json);
        }
        BrowserCmd::Stop => {
            let s = rt.block_on(c.stop(profile)).map_err(fail)?;
            print_status(&s, args.json);
        }
        BrowserCmd::Tabs => {
            let tabs = rt.block_on(c.tabs(profile)).map_err(fail)?;
            if args.json {
                print_json(&json!({ "tabs": tabs }));
            } else if tabs.is_empty() {
                println!("no tabs");
            } else {
                for tab in tabs {
                    println!("{}  {}  {}", tab.target_id, tab.url, tab.title);
                }
            }
        }
        BrowserCmd::Open { url } => {
            let tab = rt.block_on(c.open(profile, &url)).map_err(fail)?;
            print_tab("opened", &tab, args.json);
        }
        BrowserCmd::Navigate { url, target_id } => {
            let tab = rt
                .block_on(c.navigate(profile, &url, target_id.as_deref()))
                .map_err(fail)?;
            print_tab("navigated", &tab, args.json);
        }
        BrowserCmd::Screenshot {
            out,
            full_page,
            target_id,
        } => {
            let png = rt
                .block_on(c.screenshot(profile, target_id.as_deref(), full_page))
                .map_err(fail)?;
            let out = out.unwrap_or_else(|| {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_secs();
                PathBuf::from(format!("openclaw-screenshot-{secs}.png"))
            });
            std::fs::write(&out, &png).map_err(|e| {
                CliError::new("cannot write the screenshot", out.display(), e)
                    .hint("pass --out with a writable path")
            })?;
            if args.json {
                print_json(&json!({"path": out, "bytes": png.len()}));
            } else {
                println!("saved {} ({} bytes)", out.display(), png.len());
            }
        }
        BrowserCmd::Snapshot { target_id } => {
            let snap = rt
                .block_on(c.snapshot(profile, target_id.as_deref()))
                .map_err(fail)?;
            if args.json {
                print_json(&serde_json::to_value(&snap).unwrap_or(Value::Null));
            } else {
                println!("{}  {}", snap.url, snap.title);
                println!("{}", snap.text);
                for el in &snap.elements {
                    println!("[{}] {} {:?}", el.reference, el.role, el.name);
                }
            }
        }
    }
    Ok(exit::OK)
}

fn print_tab(verb: &str, tab: &openclaw_browser::Tab, json: bool) {
    if json {
        print_json(&serde_json::to_value(tab).unwrap_or(Value::Null));
    } else {
        println!("{verb} {}  {}  {}", tab.target_id, tab.url, tab.title);
    }
}

fn print_status(s: &BrowserStatus, json: bool) {
    if json {
        print_json(&serde_json::to_value(s).unwrap_or(Value::Null));
        return;
    }
    let or = |v: Option<String>, d: &str| v.unwrap_or_else(|| d.to_string());
    println!("profile: {}", s.profile);
    println!("running: {}", s.running);
    println!("pid: {}", or(s.pid.map(|p| p.to_string()), "-"));
    println!(
        "cdpPort: {}",
        or(s.cdp_port.map(|p| p.to_string()), "none free")
    );
    println!("cdpUrl: {}", or(s.cdp_url.clone(), "-"));
    println!("transport: cdp");
    if s.attached {
        println!("attached: true (a browser this gateway did not launch)");
    }
    println!("browser: {}", or(s.browser.clone(), "unknown"));
    println!("version: {}", or(s.browser_version.clone(), "unknown"));
    println!(
        "detectedPath: {}",
        or(s.executable_path.clone(), "not found")
    );
    println!("headless: {}", s.headless);
    println!("profileColor: {}", s.color);
    for w in &s.warnings {
        println!("warning: {w}");
    }
}
