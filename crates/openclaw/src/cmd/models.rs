//! `openclaw models list|status` (read from this instance's config; never
//! prints a key). Onboarding sets a model (`onboard --auth-choice`).

use std::sync::Arc;

use clap::{Args, Subcommand};
use openclaw_agent::{ApiKeySource, KeyResolver, ProviderConfig};
use serde_json::{Value, json};

use crate::ctx::Ctx;
use crate::error::{CliResult, exit};
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
                inst.command("onboard --auth-choice openai-api-key --openai-api-key-file <path> --non-interactive --accept-risk --skip-daemon")
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
