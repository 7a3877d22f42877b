//! `openclaw config`: read and edit this instance's config file.

use clap::Subcommand;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::print_json;

/// Read and edit this instance's config (JSON5 in, JSON out; writes are atomic).
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Print the path of the config file this command resolves to
    File,
    /// Print a value by dotted path (the whole config without a path)
    ///
    /// Secrets such as gateway.auth.token are redacted unless --show-secrets.
    Get {
        /// Dotted key path, e.g. gateway.port
        path: Option<String>,
        /// Print secrets in clear
        #[arg(long)]
        show_secrets: bool,
        /// Always print JSON (strings quoted)
        #[arg(long)]
        json: bool,
    },
    /// Set a value by dotted path; the value is parsed as JSON5, else taken as a string
    ///
    /// Examples: `config set gateway.port 19001`, `config set gateway.bind lan`,
    /// `config set browser.profiles.work '{cdpPort: 18850}'`.
    Set {
        /// Dotted key path
        path: String,
        /// Value (JSON5, or a plain string)
        value: String,
    },
    /// Remove a value by dotted path
    Unset {
        /// Dotted key path
        path: String,
    },
    /// Check the config: syntax, types and unknown keys
    Validate {
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the config's JSON Schema
    Schema,
}

pub fn run(ctx: &Ctx, cmd: ConfigCmd) -> CliResult<u8> {
    let path = ctx.paths.config_path.value.clone();
    match cmd {
        ConfigCmd::File => {
            println!("{}", path.display());
            Ok(exit::OK)
        }
        ConfigCmd::Schema => {
            print_json(&openclaw_config::schema());
            Ok(exit::OK)
        }
        ConfigCmd::Get {
            path: key,
            show_secrets,
            json,
        } => {
            let loaded = ctx.load_config()?.ok_or_else(|| missing(ctx))?;
            let value = match &key {
                Some(k) => openclaw_config::get_path(&loaded.parsed.value, k)
                    .map_err(|e| CliError::usage(format!("invalid key path {k:?}"), e))?
                    .cloned()
                    .ok_or_else(|| {
                        CliError::new(
                            "no such config key",
                            format!("{} in {}", k, path.display()),
                            "the key is not set",
                        )
                        .hint(ctx.command(&format!("config set {k} <value>")))
                    })?,
                None => loaded.parsed.value.clone(),
            };
            let secret = key.as_deref().is_some_and(openclaw_config::is_secret_path);
            let value = if show_secrets {
                value
            } else if secret && value.is_string() {
                Value::String(openclaw_config::REDACTED.into())
            } else {
                openclaw_config::redact(&value)
            };
            match (&value, json) {
                (Value::String(s), false) => println!("{s}"),
                _ => print_json(&value),
            }
            Ok(exit::OK)
        }
        ConfigCmd::Set { path: key, value } => {
            let v = openclaw_config::parse_cli_value(&value);
            let written = ctx
                .config_store()
                .update(None, |doc: &mut Value| {
                    openclaw_config::set_path(doc, &key, v.clone()).map_err(|e| e.to_string())
                })
                .map_err(|e| {
                    CliError::new(format!("cannot set {key}"), path.display(), e)
                        .hint(ctx.command("config validate"))
                })?;
            for w in &written.warnings {
                eprintln!("openclaw: warning: {w}");
            }
            let shown = if openclaw_config::is_secret_path(&key) {
                openclaw_config::REDACTED.to_string()
            } else {
                // An object may hold secrets under its keys (channels.matrix
                // with a password): never echo them.
                openclaw_config::redact(&v).to_string()
            };
            println!("set {key} = {shown} in {}", path.display());
            if key.starts_with("channels.telegram") {
                crate::cmd::channels::warn_shared_token(ctx);
            }
            Ok(exit::OK)
        }
        ConfigCmd::Unset { path: key } => {
            let mut removed = false;
            ctx.config_store()
                .update(None, |doc: &mut Value| -> Result<(), String> {
                    removed = openclaw_config::unset_path(doc, &key).map_err(|e| e.to_string())?;
                    Ok(())
                })
                .map_err(|e| CliError::new(format!("cannot unset {key}"), path.display(), e))?;
            if removed {
                println!("removed {key} from {}", path.display());
            } else {
                println!("{key} was not set in {}", path.display());
            }
            Ok(exit::OK)
        }
        ConfigCmd::Validate { json } => match ctx.config_store().load() {
            Ok(Some(l)) => {
                if json {
                    let warnings: Vec<String> =
                        l.parsed.warnings.iter().map(|w| w.to_string()).collect();
                    print_json(
                        &serde_json::json!({"ok": true, "path": path, "warnings": warnings}),
                    );
                } else {
                    for w in &l.parsed.warnings {
                        eprintln!("openclaw: warning: {w}");
                    }
                    println!("config is valid: {}", path.display());
                }
                Ok(exit::OK)
            }
            Ok(None) => Err(missing(ctx)),
            Err(e) => {
                if json {
                    print_json(
                        &serde_json::json!({"ok": false, "path": path, "error": e.to_string()}),
                    );
                }
                Err(ctx.config_error(e))
            }
        },
    }
}

fn missing(ctx: &Ctx) -> CliError {
    CliError::new(
        "no config file",
        ctx.paths.config_path.value.display(),
        "this instance is not set up",
    )
    .hint(ctx.command("setup"))
}
