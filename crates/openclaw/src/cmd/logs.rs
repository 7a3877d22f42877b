//! `openclaw logs [--lines N] [--follow] [--json]`: this instance's gateway
//! log, read from `<stateDir>/logs/gateway.log` (so it works while that
//! gateway is stopped). The reading, tailing and following live in
//! `openclaw_state::logs`.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use openclaw_state::logs::{Follower, LogRecord, gateway_log_path, tail_lines};

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};

/// Show this instance's gateway log (works while the gateway is stopped)
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  openclaw logs\n  openclaw --profile rescue logs --lines 50\n  openclaw --profile main logs --follow\n  openclaw logs --json   (one JSON object per line: ts, source, level, message, raw)"
)]
pub struct LogsArgs {
    /// How many of the last lines to print
    #[arg(long, short = 'n', visible_alias = "limit", default_value_t = 200)]
    pub lines: usize,
    /// Keep printing new lines as they are written (also across rotation)
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Poll interval in milliseconds while following
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..))]
    pub interval: u64,
    /// Print one JSON object per line
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Ctx, args: LogsArgs) -> CliResult<u8> {
    // The state dir alone says where the log is: no config read, so the log
    // of an instance with a broken config still shows.
    let path = gateway_log_path(&ctx.paths.state_dir.value);
    let lines = match tail_lines(&path, args.lines) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::new(
                "no gateway log yet",
                path.display(),
                "this instance's gateway has not written a log (it has never run with this state dir)",
            )
            .hint(ctx.command("gateway"))
            .code(exit::NOT_RUNNING));
        }
        Err(e) => {
            return Err(CliError::new(
                "cannot read the gateway log",
                path.display(),
                e,
            ));
        }
    };
    let mut out = std::io::stdout().lock();
    let print = |out: &mut std::io::StdoutLock, line: &str| -> std::io::Result<()> {
        if args.json {
            let v = serde_json::to_string(&LogRecord::parse(line)).unwrap_or_default();
            writeln!(out, "{v}")
        } else {
            writeln!(out, "{line}")
        }
    };
    for l in &lines {
        if print(&mut out, l).is_err() {
            return Ok(exit::OK); // stdout closed (e.g. `| head`)
        }
    }
    if !args.follow {
        return Ok(exit::OK);
    }
    let _ = out.flush();
    let mut follower = Follower::from_end(&path);
    loop {
        std::thread::sleep(Duration::from_millis(args.interval));
        let new = follower
            .poll()
            .map_err(|e| CliError::new("cannot read the gateway log", path.display(), e))?;
        for l in &new {
            if print(&mut out, l).is_err() {
                return Ok(exit::OK);
            }
        }
        if !new.is_empty() && out.flush().is_err() {
            return Ok(exit::OK);
        }
    }
}
