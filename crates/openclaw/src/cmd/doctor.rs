//! `openclaw doctor`: checks this instance and every other instance on the
//! host for the things that break running several gateways side by side.
//! The facts, checks and fixes are `openclaw_host::doctor` (the rescue
//! bot's `/doctor` runs the same code); the rules are
//! `openclaw_ops::doctor`. This module runs them, applies `--fix`, and
//! prints the report.

use clap::Args;
use openclaw_host::doctor::{Scope, apply, check, gather};
use openclaw_instance::Source;

use crate::ctx::Ctx;
use crate::error::{CliResult, exit};
use crate::output::print_json;

/// Check this instance and every instance on this host for collisions and unsafe settings.
///
/// Finds overlapping ports (including CDP ranges and explicit canvas/CDP
/// overrides), shared config files and workspaces, the same browser.cdpUrl
/// on several instances, service files that disagree with the config, loose
/// permissions and state dirs that differ only by case. Exits 1 when an
/// error is found. --fix moves a colliding instance to a free port footprint
/// (the later-set-up, stopped, non-default one moves) and tightens
/// permissions, reporting each change.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct DoctorArgs {
    /// Apply the safe fixes and report each change
    #[arg(long)]
    pub fix: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

use openclaw_ops::doctor::DoctorReport;

pub fn run(ctx: &Ctx, args: DoctorArgs) -> CliResult<u8> {
    let scope = Scope {
        current: &ctx.paths,
        explicit: ctx.paths.profile.is_some()
            || matches!(ctx.paths.state_dir.source, Source::Env(_)),
        host: ctx,
        telegram_env: std::env::var(openclaw_config::channels::TELEGRAM_TOKEN_ENV).ok(),
    };
    let items = gather(&scope);
    let mut findings = check(&scope, &items);
    let mut fixed: Vec<String> = Vec::new();
    let mut fix_errors: Vec<String> = Vec::new();
    if args.fix {
        for f in &findings {
            if let Some(a) = &f.action {
                match apply(a) {
                    Ok(msg) => {
                        if !args.json {
                            println!("fixed: {msg}");
                        }
                        fixed.push(msg)
                    }
                    Err(e) => {
                        eprintln!("openclaw: could not fix: {e}");
                        fix_errors.push(e)
                    }
                }
            }
        }
        if !fixed.is_empty() {
            let items = gather(&scope);
            findings = check(&scope, &items);
        }
    }
    let labels: Vec<String> = items.iter().map(|i| i.label.clone()).collect();
    let report = DoctorReport::new(labels, findings, fixed, fix_errors);
    if args.json {
        print_json(&report);
    } else {
        let fix_command = (!args.fix).then(|| ctx.command("doctor --fix"));
        print!(
            "{}",
            report.render_text(&ctx.paths.home.value, fix_command.as_deref())
        );
    }
    Ok(if report.passed() {
        exit::OK
    } else {
        exit::FAILURE
    })
}
