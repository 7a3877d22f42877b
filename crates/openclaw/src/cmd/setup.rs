//! `openclaw setup`: create an instance's state dir, config and workspace.
//!
//! Idempotent and non-destructive: an existing config keeps every value it
//! has (only missing keys are filled in), and existing workspace files are
//! never overwritten. A named profile without a port gets the lowest base
//! port whose whole footprint is free on this host and overlaps no other
//! instance; `--port` pins it but an overlap with another instance is refused.

use std::path::{Path, PathBuf};

use clap::Args;
use openclaw_instance::{ConfigFacts, DEFAULT_PORT, Footprint, Instance, Source};
use openclaw_ops::setup::{PortRefusal, PortRequest};
use serde_json::{Value, json};

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::hosts::{self, KnownInstance};
use crate::output::{print_json, tilde};

/// Create this instance's state dir, config and workspace.
///
/// Safe to run again: it fills in what is missing and never overwrites an
/// existing config value or workspace file. Without --port, the default
/// profile gets 18789 and a named profile gets the lowest base port whose
/// ports (base, base+2, base+4, CDP base+11..base+110) are free and overlap
/// no other instance on this host.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SetupArgs {
    /// Base port for the gateway (refused if its footprint overlaps another instance)
    #[arg(long)]
    pub port: Option<u16>,
    /// Workspace directory (default: ~/.openclaw/workspace-<profile>)
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// Files a new workspace starts with.
const STARTER_FILES: [(&str, &str); 5] = [
    (
        "AGENTS.md",
        "# Agents\n\nHow the agents of this workspace work: conventions, tools they may use, and\nwhat they must ask before doing.\n",
    ),
    (
        "SOUL.md",
        "# Soul\n\nThe assistant's character and tone. Edit freely.\n",
    ),
    (
        "USER.md",
        "# User\n\nWho the assistant works for: name, time zone, preferences.\n",
    ),
    (
        "IDENTITY.md",
        "# Identity\n\nThe assistant's name and how it introduces itself.\n",
    ),
    (
        "BOOTSTRAP.md",
        "# Bootstrap\n\nFirst-run notes. Delete this file once the workspace is set up.\n",
    ),
];

/// What [`apply`] did.
pub struct SetupOutcome {
    pub instance: Instance,
    /// The config file did not exist before.
    pub config_created: bool,
    /// Config keys that were set.
    pub keys_set: Vec<String>,
    pub token_generated: bool,
    pub workspace_files_created: Vec<String>,
    /// Why this base port, when it is not the obvious one.
    pub port_note: Option<String>,
}

pub fn run(ctx: &Ctx, args: SetupArgs) -> CliResult<u8> {
    let out = apply(ctx, &args)?;
    crate::cmd::channels::warn_shared_token(ctx);
    let inst = &out.instance;
    warn_foreign_service(ctx, inst);
    if args.json {
        print_json(&json!({
            "ok": true,
            "instance": inst,
            "footprint": inst.footprint(),
            "configCreated": out.config_created,
            "configKeysSet": out.keys_set,
            "tokenGenerated": out.token_generated,
            "workspaceFilesCreated": out.workspace_files_created,
            "portNote": out.port_note,
        }));
    } else {
        print_summary(ctx, &out);
        println!(
            "\nnext: {}",
            inst.command(&format!("gateway --port {}", inst.ports.gateway.value))
        );
    }
    Ok(exit::OK)
}

/// Warns when this instance's service name is already installed for
/// another state dir (a custom-state-dir instance called `.openclaw-work`
/// installed `openclaw-gateway-work.service` before profile `work` was set
/// up): that service is not this instance's, and its install will refuse.
fn warn_foreign_service(ctx: &Ctx, inst: &openclaw_instance::Instance) {
    let Ok(svc) = crate::services::InstanceService::for_instance(ctx, inst.clone()) else {
        return;
    };
    if let Ok(openclaw_service::Ownership::Foreign(o)) = svc.ownership() {
        eprintln!(
            "openclaw: warning: {o}; this instance has no service of its own until that name is free, and `gateway install` refuses to replace it\nhint: {}",
            svc.foreign_fix(&o)
        );
    }
}

/// How a config write treats a file that changed since it was read.
pub enum Base {
    /// Whatever is there now (setup: read-modify-write under the lock).
    Current,
    /// Only the file as it was read (its hash, or `None`: there was none);
    /// anything else is refused and nothing is written (onboarding, whose
    /// answers were given against that file).
    Exactly(Option<String>),
}

/// Does the work of `setup` (used by `onboard` too) and reports what it did;
/// prints nothing on stdout.
pub fn apply(ctx: &Ctx, args: &SetupArgs) -> CliResult<SetupOutcome> {
    apply_with(
        ctx,
        args,
        Base::Current,
        |_| Ok(Vec::new()),
        &mut openclaw_state::StagedFiles::new(),
    )
}

/// [`apply`] with more config edits (`extra` returns the keys it changed),
/// all in the one atomic write of the config, and `files` the new config
/// names (credentials), put in place with that write or not at all
/// (`ConfigStore::update_based_with`).
pub fn apply_with(
    ctx: &Ctx,
    args: &SetupArgs,
    base: Base,
    extra: impl FnOnce(&mut Value) -> Result<Vec<String>, String>,
    files: &mut openclaw_state::StagedFiles,
) -> CliResult<SetupOutcome> {
    let existing = ctx.load_config()?;
    let mut facts = existing
        .as_ref()
        .map(|l| l.parsed.config.instance_facts())
        .unwrap_or_default();
    let home = ctx.paths.home.value.clone();
    let others: Vec<KnownInstance> = hosts::other_instances(&home, &ctx.paths.state_dir.value);

    if let Some(ws) = &args.workspace {
        let abs = if ws.is_absolute() {
            ws.clone()
        } else {
            std::env::current_dir().unwrap_or_default().join(ws)
        };
        facts.workspace = Some(abs.display().to_string());
    }
    let (port, port_note) = choose_port(ctx, args, &facts, &others)?;
    facts.gateway_port = Some(port);
    let inst = ctx.instance_with(&facts, Some(port))?;
    for note in &inst.ignored_env {
        eprintln!("openclaw: note: {note}");
    }

    openclaw_state::ensure_state_dir(&inst.state_dir.value).map_err(|e| {
        CliError::new(
            "cannot create the state dir",
            inst.state_dir.value.display(),
            e,
        )
    })?;

    let token_present = existing
        .as_ref()
        .is_some_and(|l| l.parsed.config.gateway_token().is_some());
    let new_token = (!token_present).then(openclaw_state::generate_token);
    let workspace_value = tilde(&inst.workspace.value, &home);
    let pin_port = args.port.is_some() || matches!(inst.ports.gateway.source, Source::Env(_));

    let mut filled: Vec<String> = Vec::new();
    let store = ctx.config_store();
    let edit = |v: &mut Value| -> Result<(), String> {
        let mut fill = |path: &str, value: Value, force: bool| -> Result<(), String> {
            let current = openclaw_config::get_path(v, path).map_err(|e| e.to_string())?;
            if current.is_none() || (force && current != Some(&value)) {
                openclaw_config::set_path(v, path, value).map_err(|e| e.to_string())?;
                filled.push(path.to_string());
            }
            Ok(())
        };
        fill("gateway.mode", json!("local"), false)?;
        fill("gateway.bind", json!("loopback"), false)?;
        fill("gateway.port", json!(port), pin_port)?;
        fill("gateway.auth.mode", json!("token"), false)?;
        if let Some(t) = &new_token {
            fill("gateway.auth.token", json!(t), true)?;
        }
        fill(
            "agents.defaults.workspace",
            json!(workspace_value),
            args.workspace.is_some(),
        )?;
        filled.extend(extra(v)?);
        Ok(())
    };
    let written = match &base {
        Base::Current => store.update_with(None, edit, files),
        Base::Exactly(hash) => store.update_based_with(hash.as_deref(), edit, files),
    };
    written.map_err(|e| match e {
        openclaw_state::StateError::Conflict { .. }
        | openclaw_state::StateError::BaseHashRequired { .. } => CliError::new(
            "the config changed while onboarding was asking",
            inst.config_path.value.display(),
            "another command or an editor wrote it since onboarding read it; nothing was written (neither the config nor any credentials file), so the answers are not mixed into a file they were not given for; onboard again to answer against the file as it is now",
        )
        .hint(ctx.command("onboard")),
        e => CliError::new(
            "cannot write the config",
            inst.config_path.value.display(),
            e,
        )
        .hint(ctx.command("config validate")),
    })?;

    let created_files = seed_workspace(&inst.workspace.value)?;

    if let Err(e) = openclaw_state::registry::record(
        &home,
        openclaw_state::InstanceRecord {
            profile: inst.profile.clone(),
            state_dir: inst.state_dir.value.clone(),
            config_path: inst.config_path.value.clone(),
        },
    ) {
        eprintln!("openclaw: warning: could not record this instance in the host registry: {e}");
    }

    Ok(SetupOutcome {
        instance: inst,
        config_created: existing.is_none(),
        keys_set: filled,
        token_generated: new_token.is_some(),
        workspace_files_created: created_files,
        port_note,
    })
}

/// The human summary of a setup: paths, and every port the instance took.
pub fn print_summary(ctx: &Ctx, out: &SetupOutcome) {
    let inst = &out.instance;
    let home = ctx.paths.home.value.as_path();
    let created = out.config_created;
    let filled = &out.keys_set;
    let files = &out.workspace_files_created;
    let note = out.port_note.as_deref();
    let p = &inst.ports;
    println!("{} is set up.", inst.label());
    println!(
        "  config     {} ({})",
        tilde(&inst.config_path.value, home),
        if created {
            "created".to_string()
        } else if filled.is_empty() {
            "unchanged".to_string()
        } else {
            format!("added {}", filled.join(", "))
        }
    );
    println!("  state dir  {}", tilde(&inst.state_dir.value, home));
    println!(
        "  workspace  {}{}",
        tilde(&inst.workspace.value, home),
        if files.is_empty() {
            String::new()
        } else {
            format!(" (created {})", files.join(", "))
        }
    );
    println!(
        "  ports      gateway {}, browser control {}, canvas {}, CDP {}-{}",
        p.gateway.value,
        p.browser_control.value,
        p.canvas.value,
        p.cdp_range.value.0,
        p.cdp_range.value.1
    );
    if let Some(n) = note {
        println!("  note       {n}");
    }
}

/// The base-port decision for this instance (`openclaw_ops::setup::choose_port`
/// with this host's instances and a live "is this port free" probe);
/// `port_flag` is a port the user gave.
pub fn port_choice(
    ctx: &Ctx,
    port_flag: Option<u16>,
    facts: &ConfigFacts,
    others: &[KnownInstance],
) -> CliResult<Result<openclaw_ops::setup::PortChoice, PortRefusal>> {
    let other_fps: Vec<(String, Footprint)> = others
        .iter()
        .filter_map(|k| {
            k.instance
                .as_ref()
                .ok()
                .map(|i| (hosts::label(k), i.footprint()))
        })
        .collect();
    let footprint_of = |b: u16| {
        let f = ConfigFacts {
            gateway_port: Some(b),
            ..facts.clone()
        };
        ctx.instance_with(&f, Some(b)).ok().map(|i| i.footprint())
    };
    let current = ctx.instance_with(facts, port_flag)?;
    let req = PortRequest {
        current: &current,
        flag_port: port_flag.is_some(),
        default_profile: ctx.paths.profile.is_none() || ctx.paths.profile.as_deref() == Some("dev"),
        others: &other_fps,
    };
    Ok(openclaw_ops::setup::choose_port(
        &req,
        footprint_of,
        openclaw_browser::port_is_free,
    ))
}

/// The one-line reason a port was refused (for a prompt that asks again).
pub fn refusal_text(r: &PortRefusal) -> String {
    match r {
        PortRefusal::Overlaps {
            label,
            overlap: o,
            port,
            suggestion,
            ..
        } => {
            let mut s = format!(
                "port {port}: this instance's {} would collide with {label}'s {} (port {} is in both)",
                o.ours, o.theirs, o.first_shared
            );
            if let Some(x) = suggestion {
                s.push_str(&format!("; {x} is free"));
            }
            s
        }
        PortRefusal::NoFreeFootprint => format!(
            "every candidate base port from {DEFAULT_PORT} collides with another instance or a port in use"
        ),
    }
}

/// Chooses the base port and says why when it is not the obvious one (the
/// rules: `openclaw_ops::setup::choose_port`).
fn choose_port(
    ctx: &Ctx,
    args: &SetupArgs,
    facts: &ConfigFacts,
    others: &[KnownInstance],
) -> CliResult<(u16, Option<String>)> {
    match port_choice(ctx, args.port, facts, others)? {
        Ok(choice) => {
            // An existing config keeps its port; doctor reports and fixes it.
            for (label, o) in &choice.warnings {
                eprintln!(
                    "openclaw: warning: this instance's {} collides with {label}'s {}\nhint: {}",
                    o.ours,
                    o.theirs,
                    ctx.command("doctor --fix")
                );
            }
            Ok((choice.port, choice.note))
        }
        Err(PortRefusal::Overlaps {
            label,
            overlap: o,
            port,
            source,
            suggestion,
        }) => {
            let mut err = CliError::new(
                "port footprint overlaps another instance",
                format!("{source} port {port}"),
                format!(
                    "this instance's {} would collide with {label}'s {} (port {} is in both); every instance needs its own base, browser, canvas and CDP ports",
                    o.ours, o.theirs, o.first_shared
                ),
            );
            if let Some(s) = suggestion {
                err = err.hint(ctx.command(&format!("setup --port {s}")));
            }
            Err(err)
        }
        Err(PortRefusal::NoFreeFootprint) => Err(CliError::new(
            "no free port footprint",
            format!("ports {DEFAULT_PORT}-65535"),
            "every candidate base port collides with another instance or a port in use",
        )
        .hint(ctx.command("setup --port <N>"))),
    }
}

/// Creates the workspace and its starter files; never overwrites a file.
fn seed_workspace(dir: &Path) -> CliResult<Vec<String>> {
    openclaw_state::create_private_dir_all(dir)
        .map_err(|e| CliError::new("cannot create the workspace", dir.display(), e))?;
    let mut created = Vec::new();
    for (name, body) in STARTER_FILES {
        let path = dir.join(name);
        let new = openclaw_state::write_new_file(&path, body.as_bytes(), 0o644)
            .map_err(|e| CliError::new("cannot write a workspace file", path.display(), e))?;
        if new {
            created.push(name.to_string());
        }
    }
    Ok(created)
}
