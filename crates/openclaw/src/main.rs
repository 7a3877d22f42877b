//! `openclaw`: the OpenClaw Gateway and its command-line tools.
//!
//! The global instance flags (`--profile`, `--dev`) are taken out of argv
//! before clap sees it (see `openclaw_instance::split_global_flags`), so they
//! work anywhere before the subcommand; everything else is clap.

mod cmd;
mod ctx;
mod error;
mod hosts;
mod live;
mod output;
mod secrets;
mod services;
mod signal;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::ctx::Ctx;
use crate::error::{CliError, exit};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// OpenClaw Gateway: run and manage one or more isolated gateways on this host.
///
/// Select the instance with the global flags before the subcommand:
///   --profile <name>   use ~/.openclaw-<name> (config, state, service names)
///   --dev              the same as --profile dev (default port 19001)
/// or with OPENCLAW_PROFILE / OPENCLAW_STATE_DIR / OPENCLAW_CONFIG_PATH.
///
/// Examples:
///   openclaw --profile main setup
///   openclaw --profile rescue setup
///   openclaw --profile rescue profiles show
///   openclaw --profile rescue onboard --non-interactive --accept-risk
///   openclaw --profile rescue gateway install
///   openclaw profiles
///   openclaw --profile main logs --lines 20
///   openclaw doctor
#[derive(Parser)]
#[command(name = "openclaw", version = VERSION, verbatim_doc_comment, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Setup(cmd::setup::SetupArgs),
    #[command(subcommand)]
    Config(cmd::config::ConfigCmd),
    Profiles(cmd::profiles::ProfilesArgs),
    /// Run and manage this instance's gateway (`gateway` alone runs it)
    Gateway(GatewayArgs),
    /// Show this instance: paths, ports, its running gateway and its service
    Status(cmd::gateway::JsonArgs),
    /// Check this instance's gateway health (exit 3 when stopped)
    Health(cmd::gateway::JsonArgs),
    Doctor(cmd::doctor::DoctorArgs),
    Onboard(Box<cmd::onboard::OnboardArgs>),
    Agent(cmd::agent::AgentArgs),
    /// Sessions of this instance's agents (through the gateway)
    #[command(subcommand)]
    Sessions(cmd::agent::SessionsCmd),
    /// Model providers and keys of this instance (from its config)
    #[command(subcommand)]
    Models(cmd::models::ModelsCmd),
    Dashboard(cmd::agent::DashboardArgs),
    /// Drive this instance's browsers through its gateway's browser control
    Browser(cmd::browser::BrowserArgs),
    /// DM pairing requests of this instance's channels: list, approve, reject
    #[command(subcommand)]
    Pairing(cmd::pairing::PairingCmd),
    /// Messaging channels of this instance (Telegram, IRC, Matrix): their state
    #[command(subcommand)]
    Channels(cmd::channels::ChannelsCmd),
    /// Devices paired with this instance's gateway (Control UI browsers,
    /// apps): list, approve, reject, revoke
    #[command(subcommand)]
    Devices(cmd::devices::DevicesCmd),
    Logs(cmd::logs::LogsArgs),
    Completion(cmd::completion::CompletionArgs),
}

/// `openclaw gateway [run] ...`
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct GatewayArgs {
    #[command(subcommand)]
    command: Option<GatewayCmd>,
    #[command(flatten)]
    run: cmd::gateway::RunArgs,
}

/// `openclaw gateway ...`
#[derive(Subcommand)]
enum GatewayCmd {
    /// Run the gateway in the foreground (the default)
    Run(cmd::gateway::RunArgs),
    /// Check that this instance's gateway answers (exit 3 when stopped)
    Probe(cmd::gateway::JsonArgs),
    /// Call a gateway method
    Call(cmd::gateway::CallArgs),
    #[command(flatten)]
    Service(cmd::service::ServiceCmd),
    /// Show this instance: paths, ports, its running gateway and its service
    ///
    /// The same report as `openclaw status`.
    Status(cmd::gateway::JsonArgs),
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (flags, rest) = match openclaw_instance::split_global_flags(&argv) {
        Ok(x) => x,
        Err(e) => return CliError::usage("invalid global flags", e).report(),
    };
    let cli = match Cli::try_parse_from(&rest) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let ctx = match Ctx::from_process(flags) {
        Ok(c) => c,
        Err(e) => return e.report(),
    };
    let result = match cli.command {
        Command::Setup(a) => cmd::setup::run(&ctx, a),
        Command::Config(c) => cmd::config::run(&ctx, c),
        Command::Profiles(a) => cmd::profiles::run(&ctx, a),
        Command::Gateway(g) => match g.command {
            None => cmd::gateway::run(&ctx, g.run),
            Some(GatewayCmd::Run(a)) => cmd::gateway::run(&ctx, a),
            Some(GatewayCmd::Probe(a)) => cmd::gateway::probe(&ctx, a, false),
            Some(GatewayCmd::Call(a)) => cmd::gateway::call(&ctx, a),
            Some(GatewayCmd::Service(c)) => cmd::service::run(&ctx, c),
            Some(GatewayCmd::Status(a)) => cmd::gateway::status(&ctx, a.json),
        },
        Command::Status(a) => cmd::gateway::status(&ctx, a.json),
        Command::Health(a) => cmd::gateway::probe(&ctx, a, true),
        Command::Doctor(a) => cmd::doctor::run(&ctx, a),
        Command::Onboard(a) => cmd::onboard::run(&ctx, *a),
        Command::Agent(a) => cmd::agent::agent(&ctx, a),
        Command::Sessions(c) => cmd::agent::sessions(&ctx, c),
        Command::Models(c) => cmd::models::run(&ctx, c),
        Command::Dashboard(a) => cmd::agent::dashboard(&ctx, a),
        Command::Browser(a) => cmd::browser::run(&ctx, a),
        Command::Pairing(c) => cmd::pairing::run(&ctx, c),
        Command::Channels(c) => cmd::channels::run(&ctx, c),
        Command::Devices(c) => cmd::devices::run(&ctx, c),
        Command::Logs(a) => cmd::logs::run(&ctx, a),
        Command::Completion(a) => cmd::completion::run(Cli::command(), a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => e.report(),
    }
}
