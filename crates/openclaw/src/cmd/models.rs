//! `openclaw models list|status` (read from this instance's config; never
//! prints a key) and the model part of `onboard --auth-choice`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use openclaw_agent::{ApiKeySource, KeyResolver, ProviderConfig};
use serde_json::{Value, json};

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum ModelsCmd {
    /// Configured providers, their models, and the agents' model choices
    List(ModelsArgs),
    /// Per provider: where its key comes from and whether it is there
    Status(ModelsArgs),
}

#[derive(Args, Debug)]
pub struct ModelsArgs {
    #[arg(long)]
    pub json: bool,
}

fn model_sel(v: Option<&openclaw_config::ModelSelection>) -> Value {
    let (primary, fallbacks) = v.map(|m| m.parts()).unwrap_or_default();
    json!({"primary": primary, "fallbacks": fallbacks})
}

pub fn run(ctx: &Ctx, cmd: ModelsCmd) -> CliResult<u8> {
    let (config, inst) = ctx.config_and_instance(None)?;
    let config = config.unwrap_or_default();
    let state_dir = inst.state_dir.value.clone();
    let env: openclaw_agent::provider::EnvLookup = Arc::new(|k: &str| std::env::var(k).ok());
    let keys = KeyResolver::new(&state_dir, env);
    let default = model_sel(config.default_model());
    let mut rows = Vec::new();
    for (id, v) in config.providers() {
        let models: Vec<Value> = v.models.iter().flatten().map(|m| json!(m.id)).collect();
        let row = match ProviderConfig::from_config(id, v) {
            Ok(p) => {
                let (source, checked_here) = match &p.api_key {
                    ApiKeySource::Config(_) => {
                        (format!("config models.providers.{id}.apiKey"), true)
                    }
                    ApiKeySource::Env(var) => (format!("env {var}"), false),
                    ApiKeySource::CredentialsFile => (
                        format!("file {}", keys.credentials_path(id).display()),
                        true,
                    ),
                    ApiKeySource::None => ("none (auth: none)".into(), true),
                };
                let (present, problem) = match keys.resolve(&p) {
                    Ok(_) => (true, None),
                    Err(e) => (false, Some(e.message)),
                };
                json!({
                    "id": id, "api": p.api.as_str(), "baseUrl": p.base_url, "models": models,
                    "keySource": source, "keyPresent": present, "keyProblem": problem,
                    "checkedIn": if checked_here { "state dir / config" } else { "this shell's environment (the gateway reads its own environment)" },
                })
            }
            Err(e) => json!({"id": id, "models": models, "error": e, "keyPresent": false}),
        };
        rows.push(row);
    }
    let agents: Vec<Value> = config
        .agent_entries()
        .map(|(id, e)| json!({"id": id, "model": model_sel(e.model.as_ref())}))
        .collect();
    let (ModelsCmd::List(a) | ModelsCmd::Status(a)) = &cmd;
    let status = matches!(cmd, ModelsCmd::Status(_));
    let out = json!({
        "configPath": inst.config_path.value,
        "default": default,
        "agents": agents,
        "providers": rows,
    });
    if a.json {
        print_json(&out);
    } else {
        println!(
            "default model  {}",
            default["primary"]
                .as_str()
                .unwrap_or("(none: set agents.defaults.model.primary)")
        );
        if let Some(f) = default["fallbacks"].as_array().filter(|f| !f.is_empty()) {
            println!(
                "fallbacks      {}",
                f.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for a in &agents {
            if let Some(p) = a["model"]["primary"].as_str() {
                println!("agent {:<8} {p}", a["id"].as_str().unwrap_or(""));
            }
        }
        if rows.is_empty() {
            println!(
                "no providers configured in {}; add one with `{}`",
                inst.config_path.value.display(),
                inst.command("onboard --auth-choice openai-api-key --openai-api-key <key> --non-interactive --accept-risk --skip-daemon")
            );
        }
        for r in &rows {
            if let Some(e) = r["error"].as_str() {
                println!(
                    "provider {:<12} INVALID: {e}",
                    r["id"].as_str().unwrap_or("")
                );
                continue;
            }
            if status {
                println!(
                    "provider {:<12} {} {}\n  key: {} — {}{}",
                    r["id"].as_str().unwrap_or(""),
                    r["api"].as_str().unwrap_or(""),
                    r["baseUrl"].as_str().unwrap_or(""),
                    r["keySource"].as_str().unwrap_or(""),
                    if r["keyPresent"] == true {
                        "present"
                    } else {
                        "MISSING"
                    },
                    r["keyProblem"]
                        .as_str()
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default()
                );
            } else {
                let models: Vec<&str> = r["models"]
                    .as_array()
                    .map(|m| m.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                println!(
                    "provider {:<12} {} {}{}",
                    r["id"].as_str().unwrap_or(""),
                    r["api"].as_str().unwrap_or(""),
                    r["baseUrl"].as_str().unwrap_or(""),
                    if models.is_empty() {
                        String::new()
                    } else {
                        format!("  models: {}", models.join(", "))
                    }
                );
            }
        }
    }
    if status && rows.iter().any(|r| r["keyPresent"] != true) {
        return Ok(exit::FAILURE);
    }
    Ok(exit::OK)
}

/// The flags of `onboard --auth-choice`.
#[derive(Args, Debug, Default, Clone)]
pub struct AuthFlags {
    /// OpenAI API key (with --auth-choice openai-api-key)
    #[arg(long)]
    pub openai_api_key: Option<String>,
    /// Anthropic API key (with --auth-choice anthropic-api-key)
    #[arg(long)]
    pub anthropic_api_key: Option<String>,
    /// Base URL of an OpenAI- or Anthropic-compatible server (with --auth-choice custom)
    #[arg(long)]
    pub custom_base_url: Option<String>,
    /// API key for the custom server (omit for servers that need none)
    #[arg(long)]
    pub custom_api_key: Option<String>,
    /// Model id on the custom server, e.g. llama3.1
    #[arg(long)]
    pub custom_model: Option<String>,
    /// Wire protocol of the custom server
    #[arg(long, value_parser = ["openai-completions", "anthropic-messages"])]
    pub custom_api: Option<String>,
}

/// What `apply_auth_choice` did, for the onboarding summary.
pub struct AuthOutcome {
    pub provider: String,
    pub model: String,
    pub key_file: Option<PathBuf>,
}

/// Writes `models.providers.<id>` and `agents.defaults.model.primary`; the
/// key goes to `<stateDir>/credentials/<id>.key` (mode 0600), never into the
/// config file.
pub fn apply_auth_choice(
    ctx: &Ctx,
    choice: &str,
    f: &AuthFlags,
    state_dir: &std::path::Path,
) -> CliResult<Option<AuthOutcome>> {
    let missing = |flag: &str| {
        CliError::usage(
            format!("--auth-choice {choice} needs {flag}"),
            format!("pass {flag} <value>"),
        )
    };
    let (id, base, api, model, key) = match choice {
        "openai-api-key" => (
            "openai",
            "https://api.openai.com/v1".to_string(),
            "openai-completions".to_string(),
            "gpt-4o".to_string(),
            Some(
                f.openai_api_key
                    .clone()
                    .ok_or_else(|| missing("--openai-api-key"))?,
            ),
        ),
        "anthropic-api-key" => (
            "anthropic",
            "https://api.anthropic.com".to_string(),
            "anthropic-messages".to_string(),
            "claude-sonnet-4-5".to_string(),
            Some(
                f.anthropic_api_key
                    .clone()
                    .ok_or_else(|| missing("--anthropic-api-key"))?,
            ),
        ),
        "custom" => (
            "custom",
            f.custom_base_url
                .clone()
                .ok_or_else(|| missing("--custom-base-url"))?,
            f.custom_api
                .clone()
                .unwrap_or_else(|| "openai-completions".into()),
            f.custom_model
                .clone()
                .ok_or_else(|| missing("--custom-model"))?,
            f.custom_api_key.clone(),
        ),
        _ => return Ok(None),
    };
    let key = key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    if choice != "custom" && key.is_none() {
        return Err(missing(if choice == "openai-api-key" {
            "--openai-api-key"
        } else {
            "--anthropic-api-key"
        }));
    }
    let key_file = match &key {
        Some(k) => Some(write_key(state_dir, id, k)?),
        None => None,
    };
    let mut provider = json!({"baseUrl": base, "api": api, "models": [{"id": model}]});
    if key.is_none() {
        provider["auth"] = json!("none");
    }
    let primary = format!("{id}/{model}");
    let store = ctx.config_store();
    store
        .update(None, |v: &mut Value| {
            set(v, &["models", "providers", id], provider.clone());
            set(
                v,
                &["agents", "defaults", "model", "primary"],
                json!(primary),
            );
            Ok::<(), std::convert::Infallible>(())
        })
        .map_err(|e| ctx.config_error(e))?;
    Ok(Some(AuthOutcome {
        provider: id.into(),
        model: primary,
        key_file,
    }))
}

fn set(v: &mut Value, path: &[&str], new: Value) {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let obj = cur.as_object_mut().expect("object");
        if i + 1 == path.len() {
            obj.insert(k.to_string(), new);
            return;
        }
        cur = obj.entry(k.to_string()).or_insert_with(|| json!({}));
    }
}

fn write_key(state_dir: &std::path::Path, id: &str, key: &str) -> CliResult<PathBuf> {
    let dir = state_dir.join("credentials");
    openclaw_state::ensure_state_dir(&dir)
        .map_err(|e| CliError::new("cannot create the credentials dir", dir.display(), e))?;
    let path = openclaw_agent::provider::credentials_path(state_dir, id);
    openclaw_state::atomic_write(
        &path,
        format!("{key}\n").as_bytes(),
        openclaw_state::FILE_MODE,
    )
    .map_err(|e| CliError::new("cannot write the key file", path.display(), e))?;
    Ok(path)
}
