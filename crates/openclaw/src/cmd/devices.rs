//! `openclaw devices list|approve|reject|revoke`: the signed device
//! identities (Control UI browsers, OpenClaw apps) allowed to connect to
//! this instance's gateway. The rules live in `openclaw_gateway::devices`;
//! this reads and changes `<stateDir>/devices/devices.json` directly, so it
//! works while the gateway is down, and a running gateway applies a change
//! within a second (a revoked device's open sessions are closed).

use clap::Subcommand;
use openclaw_gateway::devices::{self, DeviceStore, DevicesFile};
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum DevicesCmd {
    /// Paired devices and pending pairing requests
    ///
    /// A device that connects over direct loopback with the gateway's
    /// secret is paired automatically; one connecting from elsewhere waits
    /// here until you approve its request.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request (its id, or a unique prefix of it)
    ///
    /// The device gets the scopes it asked for (widening an earlier
    /// approval); it receives its device token on its next connect.
    ///
    /// Example: openclaw --profile main devices approve 3f2a9c1e
    Approve {
        request_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Drop a pending request (the device may ask again)
    Reject {
        request_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a paired device: its token stops working and its open
    /// sessions are closed; it has to pair again
    Revoke {
        /// The device id (or a unique prefix of it), from `devices list`
        device_id: String,
        #[arg(long)]
        json: bool,
    },
}

fn age(now: u64, then: u64) -> String {
    let s = now.saturating_sub(then) / 1000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(16)]
}

fn print_list(ctx: &Ctx, f: &DevicesFile, now: u64) {
    if f.paired.is_empty() && f.pending.is_empty() {
        println!("no paired devices and no pending requests");
        println!(
            "(open the Control UI from this machine with the gateway token to pair a browser: {})",
            ctx.command("dashboard")
        );
        return;
    }
    if !f.pending.is_empty() {
        println!("pending requests:");
        for r in f.pending.values() {
            println!(
                "  {}  device {}  {} ({})  from {}  {}  wants: {}",
                r.request_id,
                short(&r.device_id),
                r.client_id,
                r.platform,
                r.remote_ip.as_deref().unwrap_or("unknown"),
                age(now, r.created_at_ms),
                r.scopes.join(" ")
            );
        }
        println!(
            "  approve with: {}",
            ctx.command("devices approve <requestId>")
        );
    }
    if !f.paired.is_empty() {
        println!("paired devices:");
        for p in f.paired.values() {
            println!(
                "  {}  {} ({})  approved {} by {}{}  token: {}  scopes: {}",
                short(&p.device_id),
                p.client_id,
                p.platform,
                age(now, p.approved_at_ms),
                p.approved_by,
                p.last_seen_at_ms
                    .map(|t| format!(", last seen {}", age(now, t)))
                    .unwrap_or_default(),
                if p.token_sha256.is_some() {
                    "issued"
                } else {
                    "on next connect"
                },
                p.scopes.join(" ")
            );
        }
    }
}

pub fn run(ctx: &Ctx, cmd: DevicesCmd) -> CliResult<u8> {
    // A mistyped --profile must not leave an empty state dir behind (the
    // store would create it to take its lock).
    let state_dir = &ctx.paths.state_dir.value;
    if !state_dir.is_dir() {
        return Err(CliError::new(
            "this instance is not set up",
            state_dir.display(),
            "its state dir does not exist, so it has no devices (is the profile name right? `openclaw profiles list` shows this host's instances)",
        )
        .hint(ctx.command("setup")));
    }
    let store = DeviceStore::new(state_dir);
    let path = store.path().display().to_string();
    let io = |e: openclaw_state::StateError| {
        CliError::new("cannot read or write paired devices", &path, e)
    };
    let now = devices::now_ms();
    let change_failed = |e: devices::DevicesError| {
        CliError::new("no such request or device", &path, e).hint(ctx.command("devices list"))
    };
    match cmd {
        DevicesCmd::List { json } => {
            let f = store.load().map_err(io)?;
            if json {
                print_json(&serde_json::to_value(&f).unwrap_or_default());
            } else {
                print_list(ctx, &f, now);
            }
            Ok(exit::OK)
        }
        DevicesCmd::Approve { request_id, json } => {
            let p = store
                .update(
                    |f| match devices::approve(f, &request_id, now, "cli", None) {
                        Ok(p) => (true, Ok(p)),
                        Err(e) => (false, Err(e)),
                    },
                )
                .map_err(io)?
                .map_err(change_failed)?;
            if json {
                print_json(&json!({"approved": p.device_id, "scopes": p.scopes}));
            } else {
                println!(
                    "approved device {} ({}, {}): {}",
                    short(&p.device_id),
                    p.client_id,
                    p.platform,
                    p.scopes.join(" ")
                );
                println!("it gets its device token when it connects next");
            }
            Ok(exit::OK)
        }
        DevicesCmd::Reject { request_id, json } => {
            let r = store
                .update(|f| match devices::reject(f, &request_id) {
                    Ok(r) => (true, Ok(r)),
                    Err(e) => (false, Err(e)),
                })
                .map_err(io)?
                .map_err(change_failed)?;
            if json {
                print_json(&json!({"rejected": r.request_id, "deviceId": r.device_id}));
            } else {
                println!(
                    "rejected request {} of device {}",
                    r.request_id,
                    short(&r.device_id)
                );
            }
            Ok(exit::OK)
        }
        DevicesCmd::Revoke { device_id, json } => {
            let p = store
                .update(|f| match devices::revoke(f, &device_id) {
                    Ok(p) => (true, Ok(p)),
                    Err(e) => (false, Err(e)),
                })
                .map_err(io)?
                .map_err(change_failed)?;
            if json {
                print_json(&json!({"revoked": p.device_id}));
            } else {
                println!(
                    "revoked device {} ({}, {}): its token no longer works; a running gateway closes its sessions",
                    short(&p.device_id),
                    p.client_id,
                    p.platform
                );
            }
            Ok(exit::OK)
        }
    }
}
