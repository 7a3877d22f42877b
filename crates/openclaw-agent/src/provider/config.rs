//! Provider configuration, model references and API-key resolution.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;

use super::{ErrorKind, ProviderError};

/// Wire protocol spoken by a provider (`models.providers.<id>.api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenAI Chat Completions (`POST {baseUrl}/chat/completions`). The base
    /// URL includes the version segment, as in the OpenAI SDKs:
    /// `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama).
    OpenAiCompletions,
    /// Anthropic Messages (`POST {baseUrl}/v1/messages`). The base URL is the
    /// host root, as in the official Anthropic SDKs and `ANTHROPIC_BASE_URL`:
    /// `https://api.anthropic.com`. A base URL that already ends in `/v1` is
    /// accepted too (then only `/messages` is appended).
    AnthropicMessages,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAiCompletions => "openai-completions",
            Api::AnthropicMessages => "anthropic-messages",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Api {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "openai-completions" => Ok(Api::OpenAiCompletions),
            "anthropic-messages" => Ok(Api::AnthropicMessages),
            other => Err(format!(
                "unknown model API '{other}': use \"openai-completions\" or \"anthropic-messages\""
            )),
        }
    }
}

/// A secret string whose `Debug`/`Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The raw value; only for putting into a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a provider's API key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeySource {
    /// `models.providers.<id>.apiKey` in the config file.
    Config(Secret),
    /// `models.providers.<id>.apiKeyEnv`: the name of an environment
    /// variable, looked up through the caller-supplied lookup function.
    Env(String),
    /// `<stateDir>/credentials/<provider>.key` (must be mode 0600).
    CredentialsFile,
    /// No key (local servers such as Ollama that need none).
    None,
}

/// One configured provider (`models.providers.<id>`).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub id: String,
    pub base_url: String,
    pub api: Api,
    pub api_key: ApiKeySource,
}

impl ProviderConfig {
    /// Build from the typed `models.providers.<id>` section (see
    /// `openclaw_config::Provider`). Without `apiKey`/`apiKeyEnv` the key is
    /// read from the credentials file; `auth: "none"` means no key.
    pub fn from_config(id: &str, p: &openclaw_config::Provider) -> Result<Self, String> {
        let at = format!("models.providers.{id}");
        let base_url = p.base_url.clone().ok_or_else(|| {
            format!("{at}.baseUrl is missing (e.g. \"https://api.openai.com/v1\")")
        })?;
        let api = match p.api {
            Some(openclaw_config::ProviderApi::OpenaiCompletions) => Api::OpenAiCompletions,
            Some(openclaw_config::ProviderApi::AnthropicMessages) => Api::AnthropicMessages,
            None => {
                return Err(format!(
                    "{at}.api is missing: use \"openai-completions\" or \"anthropic-messages\""
                ));
            }
        };
        let api_key = if let Some(k) = &p.api_key {
            ApiKeySource::Config(Secret::new(k.expose()))
        } else if let Some(var) = &p.api_key_env {
            ApiKeySource::Env(var.clone())
        } else if p.auth.as_deref() == Some("none") {
            ApiKeySource::None
        } else {
            ApiKeySource::CredentialsFile
        };
        Ok(ProviderConfig {
            id: id.to_string(),
            base_url,
            api,
            api_key,
        })
    }

    /// Build from a JSON object shaped like `models.providers.<id>`, checked
    /// by the config loader first (errors name `models.providers.<id>.<key>`).
    pub fn from_json(id: &str, v: &Value) -> Result<Self, String> {
        let doc = serde_json::json!({ "models": { "providers": { id: v } } });
        let parsed = openclaw_config::validate_value(&doc, std::path::Path::new("provider"))
            .map_err(|e| e.to_string())?;
        let (_, p) = parsed
            .config
            .providers()
            .next()
            .ok_or_else(|| format!("models.providers.{id} must be an object"))?;
        Self::from_config(id, p)
    }

    /// The model listing of this provider's API: `GET {baseUrl}/models`
    /// (OpenAI, and the OpenAI-compatible servers: Ollama, vLLM, LM Studio)
    /// or `GET {baseUrl}/v1/models?limit=1000` (Anthropic; one page of its
    /// largest size).
    pub fn models_endpoint(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.api {
            Api::OpenAiCompletions => format!("{base}/models"),
            Api::AnthropicMessages => {
                if base.ends_with("/v1") {
                    format!("{base}/models?limit=1000")
                } else {
                    format!("{base}/v1/models?limit=1000")
                }
            }
        }
    }

    /// The full endpoint URL for this provider's API.
    pub fn endpoint(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.api {
            Api::OpenAiCompletions => format!("{base}/chat/completions"),
            Api::AnthropicMessages => {
                if base.ends_with("/v1") {
                    format!("{base}/messages")
                } else {
                    format!("{base}/v1/messages")
                }
            }
        }
    }
}

/// `"<provider>/<model>"`. The model part may itself contain `/`
/// (`openrouter/anthropic/claude-sonnet-4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub provider: String,
    pub model: String,
}

impl ModelRef {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(ModelRef {
                provider: p.to_string(),
                model: m.to_string(),
            }),
            _ => Err(format!(
                "model reference '{s}' is not of the form \"<provider>/<model>\" (e.g. \"openai/gpt-4o\")"
            )),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Where a resolved key came from; shown in auth errors (never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Config { provider: String },
    Env(String),
    File(PathBuf),
    None,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Config { provider } => {
                write!(f, "config models.providers.{provider}.apiKey")
            }
            KeyOrigin::Env(v) => write!(f, "env {v}"),
            KeyOrigin::File(p) => write!(f, "file {}", p.display()),
            KeyOrigin::None => f.write_str("no key configured"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResolvedKey {
    pub key: Option<Secret>,
    pub origin: KeyOrigin,
}

/// Environment lookup supplied by the caller (the library never reads the
/// process environment itself).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Resolves [`ApiKeySource`]s against a state dir and an env lookup.
#[derive(Clone)]
pub struct KeyResolver {
    state_dir: PathBuf,
    env: EnvLookup,
}

impl fmt::Debug for KeyResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyResolver")
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

impl KeyResolver {
    pub fn new(state_dir: impl Into<PathBuf>, env: EnvLookup) -> Self {
        KeyResolver {
            state_dir: state_dir.into(),
            env,
        }
    }

    /// `<stateDir>/credentials/<provider>.key`
    pub fn credentials_path(&self, provider: &str) -> PathBuf {
        credentials_path(&self.state_dir, provider)
    }

    pub fn resolve(&self, p: &ProviderConfig) -> Result<ResolvedKey, ProviderError> {
        let cfg_err = |msg: String| ProviderError::new(&p.id, ErrorKind::Config, msg);
        match &p.api_key {
            ApiKeySource::Config(s) => {
                if s.expose().trim().is_empty() {
                    return Err(cfg_err(format!(
                        "models.providers.{}.apiKey is empty: set the provider's API key there",
                        p.id
                    )));
                }
                Ok(ResolvedKey {
                    key: Some(Secret::new(s.expose().trim())),
                    origin: KeyOrigin::Config {
                        provider: p.id.clone(),
                    },
                })
            }
            ApiKeySource::Env(var) => match (self.env)(var) {
                Some(v) if !v.trim().is_empty() => Ok(ResolvedKey {
                    key: Some(Secret::new(v.trim())),
                    origin: KeyOrigin::Env(var.clone()),
                }),
                _ => Err(cfg_err(format!(
                    "no API key for provider {}: environment variable {var} (named by models.providers.{}.apiKeyEnv) is not set or empty in the gateway's environment",
                    p.id, p.id
                ))),
            },
            ApiKeySource::CredentialsFile => {
                let path = self.credentials_path(&p.id);
                let key = read_credentials_file(&path).map_err(|m| cfg_err(format!(
                    "no usable API key for provider {}: {m}. Set models.providers.{}.apiKey or apiKeyEnv, or write the key to {} with mode 0600",
                    p.id,
                    p.id,
                    path.display()
                )))?;
                Ok(ResolvedKey {
                    key: Some(key),
                    origin: KeyOrigin::File(path),
                })
            }
            ApiKeySource::None => Ok(ResolvedKey {
                key: None,
                origin: KeyOrigin::None,
            }),
        }
    }
}

pub fn credentials_path(state_dir: &Path, provider: &str) -> PathBuf {
    state_dir
        .join("credentials")
        .join(format!("{provider}.key"))
}

fn read_credentials_file(path: &Path) -> Result<Secret, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("credentials file {} does not exist", path.display())
        } else {
            format!("cannot read credentials file {}: {e}", path.display())
        }
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "credentials file {} has mode {mode:04o} and is readable by group or others; refusing to use it (run: chmod 600 {})",
            path.display(),
            path.display()
        ));
    }
    let raw = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
    let key = raw.trim();
    if key.is_empty() {
        return Err(format!("credentials file {} is empty", path.display()));
    }
    Ok(Secret::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn resolver(dir: &Path) -> KeyResolver {
        KeyResolver::new(
            dir,
            Arc::new(|k: &str| (k == "MY_KEY").then(|| "env-secret".to_string())),
        )
    }

    fn prov(src: ApiKeySource) -> ProviderConfig {
        ProviderConfig {
            id: "acme".into(),
            base_url: "http://127.0.0.1:1".into(),
            api: Api::OpenAiCompletions,
            api_key: src,
        }
    }

    #[test]
    fn model_ref_parsing() {
        let r = ModelRef::parse("openrouter/anthropic/claude").unwrap();
        assert_eq!(r.provider, "openrouter");
        assert_eq!(r.model, "anthropic/claude");
        assert!(ModelRef::parse("nomodel").is_err());
        assert!(ModelRef::parse("/x").is_err());
        assert!(ModelRef::parse("x/").is_err());
    }

    #[test]
    fn endpoints_follow_sdk_conventions() {
        let mut p = prov(ApiKeySource::None);
        p.base_url = "https://api.openai.com/v1/".into();
        assert_eq!(p.endpoint(), "https://api.openai.com/v1/chat/completions");
        p.api = Api::AnthropicMessages;
        p.base_url = "https://api.anthropic.com".into();
        assert_eq!(p.endpoint(), "https://api.anthropic.com/v1/messages");
        p.base_url = "https://api.anthropic.com/v1".into();
        assert_eq!(p.endpoint(), "https://api.anthropic.com/v1/messages");
        assert_eq!(
            p.models_endpoint(),
            "https://api.anthropic.com/v1/models?limit=1000"
        );
        p.base_url = "https://api.anthropic.com".into();
        assert_eq!(
            p.models_endpoint(),
            "https://api.anthropic.com/v1/models?limit=1000"
        );
        p.api = Api::OpenAiCompletions;
        p.base_url = "http://127.0.0.1:11434/v1/".into();
        assert_eq!(p.models_endpoint(), "http://127.0.0.1:11434/v1/models");
    }

    #[test]
    fn from_json_picks_key_source() {
        let p = ProviderConfig::from_json(
            "x",
            &serde_json::json!({"baseUrl":"http://h","api":"anthropic-messages","apiKeyEnv":"V"}),
        )
        .unwrap();
        assert_eq!(p.api, Api::AnthropicMessages);
        assert_eq!(p.api_key, ApiKeySource::Env("V".into()));
        let p = ProviderConfig::from_json(
            "x",
            &serde_json::json!({"baseUrl":"http://h","api":"openai-completions"}),
        )
        .unwrap();
        assert_eq!(p.api_key, ApiKeySource::CredentialsFile);
        let e =
            ProviderConfig::from_json("x", &serde_json::json!({"baseUrl":"http://h","api":"grpc"}))
                .unwrap_err();
        assert!(e.contains("models.providers.x.api"), "{e}");
    }

    #[test]
    fn keys_from_config_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = resolver(dir.path());
        let k = r
            .resolve(&prov(ApiKeySource::Config(Secret::new("c"))))
            .unwrap();
        assert_eq!(k.key.unwrap().expose(), "c");
        assert_eq!(k.origin.to_string(), "config models.providers.acme.apiKey");

        let k = r
            .resolve(&prov(ApiKeySource::Env("MY_KEY".into())))
            .unwrap();
        assert_eq!(k.key.unwrap().expose(), "env-secret");
        assert_eq!(k.origin.to_string(), "env MY_KEY");
        let e = r
            .resolve(&prov(ApiKeySource::Env("OTHER".into())))
            .unwrap_err();
        assert!(e.message.contains("OTHER"), "{}", e.message);

        let e = r.resolve(&prov(ApiKeySource::CredentialsFile)).unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);

        let path = r.credentials_path("acme");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "file-secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = r.resolve(&prov(ApiKeySource::CredentialsFile)).unwrap_err();
        assert!(e.message.contains("chmod 600"), "{}", e.message);
        assert!(!e.message.contains("file-secret"));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let k = r.resolve(&prov(ApiKeySource::CredentialsFile)).unwrap();
        assert_eq!(k.key.unwrap().expose(), "file-secret");
        assert_eq!(k.origin, KeyOrigin::File(path));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("sk-123");
        assert!(!format!("{s:?}").contains("sk-123"));
    }
}
