//! Rules about config facts, as methods on [`Config`]: the auth a config
//! asks for, the address the gateway binds, which ports the config pins, and
//! the level logs are written at. Every crate asks these questions here
//! instead of reading the raw JSON value.

use std::net::{IpAddr, Ipv4Addr};

use crate::{BindMode, Config, LogLevel, ModelSelection, Port, Provider, ReloadMode};

/// How clients authenticate to a gateway. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthConfig {
    Token(String),
    Password(String),
    None,
}

impl AuthConfig {
    pub fn mode(&self) -> &'static str {
        match self {
            AuthConfig::Token(_) => "token",
            AuthConfig::Password(_) => "password",
            AuthConfig::None => "none",
        }
    }

    /// The secret clients present, if any.
    pub fn secret(&self) -> Option<&str> {
        match self {
            AuthConfig::Token(s) | AuthConfig::Password(s) => Some(s),
            AuthConfig::None => None,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthConfig::{}", self.mode())
    }
}

/// The address a gateway listens on, resolved from `gateway.bind` (and
/// `gateway.customBindHost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayBind {
    /// 127.0.0.1 only.
    Loopback,
    /// All IPv4 interfaces (0.0.0.0). Needs auth.
    Lan,
    /// One given address. Needs auth unless it is a loopback address.
    Custom(IpAddr),
}

impl GatewayBind {
    pub fn host(&self) -> IpAddr {
        match self {
            GatewayBind::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
            GatewayBind::Lan => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            GatewayBind::Custom(ip) => *ip,
        }
    }

    pub fn is_loopback(&self) -> bool {
        self.host().is_loopback()
    }

    pub fn name(&self) -> &'static str {
        match self {
            GatewayBind::Loopback => "loopback",
            GatewayBind::Lan => "lan",
            GatewayBind::Custom(_) => "custom",
        }
    }
}

/// Ports the config sets explicitly (instead of deriving them from the base
/// port).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinnedPorts {
    /// `gateway.port`.
    pub gateway: Option<u16>,
    /// `canvasHost.port`.
    pub canvas: Option<u16>,
    /// `browser.cdpPortRangeStart`.
    pub cdp_range_start: Option<u16>,
    /// `browser.profiles.<name>.cdpPort`, by profile name.
    pub cdp: Vec<(String, u16)>,
}

impl Config {
    /// The auth this config asks for: the rule the gateway enforces, and the
    /// one clients use to pick their credentials. Fails closed: an auth mode
    /// whose secret is missing or empty is an error, never "no auth".
    pub fn auth(&self) -> Result<AuthConfig, String> {
        use crate::AuthMode;
        let auth = self.gateway.as_ref().and_then(|g| g.auth.as_ref());
        let secret = |key: &str, s: Option<&crate::Secret>| -> Result<Option<String>, String> {
            match s {
                None => Ok(None),
                Some(s) if !s.expose().is_empty() => Ok(Some(s.expose().to_string())),
                Some(_) => Err(format!("{key} must be a non-empty string")),
            }
        };
        let token = secret("gateway.auth.token", auth.and_then(|a| a.token.as_ref()))?;
        let password = secret(
            "gateway.auth.password",
            auth.and_then(|a| a.password.as_ref()),
        )?;
        Ok(match auth.and_then(|a| a.mode) {
            Some(AuthMode::None) => AuthConfig::None,
            Some(AuthMode::Password) => {
                AuthConfig::Password(password.ok_or(
                    "gateway.auth.mode is \"password\" but gateway.auth.password is not set",
                )?)
            }
            Some(AuthMode::Token) => AuthConfig::Token(
                token.ok_or("gateway.auth.mode is \"token\" but gateway.auth.token is not set")?,
            ),
            None => match (token, password) {
                (Some(t), _) => AuthConfig::Token(t),
                (None, Some(p)) => AuthConfig::Password(p),
                (None, None) => AuthConfig::None,
            },
        })
    }

    /// `gateway.auth.scopes`: the operator scopes the shared secret may
    /// grant; `None` means every operator scope (upstream's default).
    pub fn auth_scopes(&self) -> Option<&[openclaw_protocol::Scope]> {
        self.gateway
            .as_ref()
            .and_then(|g| g.auth.as_ref())
            .and_then(|a| a.scopes.as_deref())
    }

    /// Whether auth is left unset: no `gateway.auth` secret and no explicit
    /// `mode: "none"`. The gateway then generates a token (as setup does)
    /// instead of running open.
    pub fn auth_unset(&self) -> bool {
        let explicit_none = self
            .gateway
            .as_ref()
            .and_then(|g| g.auth.as_ref())
            .and_then(|a| a.mode)
            == Some(crate::AuthMode::None);
        matches!(self.auth(), Ok(AuthConfig::None)) && !explicit_none
    }

    /// `gateway.auth.token` as written, even when the auth mode is not token
    /// (the browser control service and the CLI use it).
    pub fn gateway_token(&self) -> Option<&str> {
        self.gateway
            .as_ref()
            .and_then(|g| g.auth.as_ref())
            .and_then(|a| a.token.as_ref())
            .map(|t| t.expose())
            .filter(|t| !t.is_empty())
    }

    /// `gateway.bind` as written (`None` when unset).
    pub fn bind_setting(&self) -> Option<BindMode> {
        self.gateway.as_ref().and_then(|g| g.bind)
    }

    /// `gateway.customBindHost` as written.
    pub fn custom_bind_host(&self) -> Option<&str> {
        self.gateway
            .as_ref()
            .and_then(|g| g.custom_bind_host.as_deref())
    }

    /// The address the gateway binds: `gateway.bind` (default loopback);
    /// `custom` needs `gateway.customBindHost` to be an IP address.
    pub fn bind(&self) -> Result<GatewayBind, String> {
        match self.bind_setting() {
            None | Some(BindMode::Loopback) => Ok(GatewayBind::Loopback),
            Some(BindMode::Lan) => Ok(GatewayBind::Lan),
            Some(BindMode::Custom) => {
                let host = self.custom_bind_host().ok_or_else(|| {
                    "gateway.bind is custom but gateway.customBindHost is not set: set it to an IP address".to_string()
                })?;
                host.parse()
                    .map(GatewayBind::Custom)
                    .map_err(|_| format!("gateway.customBindHost {host:?} is not an IP address"))
            }
            Some(other) => Err(format!(
                "gateway.bind {:?} is not supported here: use loopback, lan or custom",
                bind_name(other)
            )),
        }
    }

    /// `gateway.port`.
    pub fn gateway_port(&self) -> Option<u16> {
        self.gateway.as_ref().and_then(|g| g.port).map(Port::get)
    }

    /// Every port the config pins.
    pub fn pinned_ports(&self) -> PinnedPorts {
        let f = self.instance_facts();
        PinnedPorts {
            gateway: f.gateway_port,
            canvas: f.canvas_port,
            cdp_range_start: f.cdp_port_range_start,
            cdp: f.explicit_cdp_ports.into_iter().collect(),
        }
    }

    /// `gateway.reload.mode`, default `hybrid` (as upstream).
    pub fn reload_mode(&self) -> ReloadMode {
        self.gateway
            .as_ref()
            .and_then(|g| g.reload.as_ref())
            .and_then(|r| r.mode)
            .unwrap_or_default()
    }

    /// `logging.level`, default `info`.
    pub fn log_level(&self) -> LogLevel {
        self.logging
            .as_ref()
            .and_then(|l| l.level)
            .unwrap_or(LogLevel::Info)
    }

    /// `models.providers`, by id (empty when unset).
    pub fn providers(&self) -> impl Iterator<Item = (&String, &Provider)> {
        self.models
            .iter()
            .flat_map(|m| m.providers.iter())
            .flat_map(|p| p.iter())
    }

    /// `agents.defaults.model`.
    pub fn default_model(&self) -> Option<&ModelSelection> {
        self.agents
            .as_ref()
            .and_then(|a| a.defaults.as_ref())
            .and_then(|d| d.model.as_ref())
    }

    /// `agents.defaults.maxSteps`.
    pub fn max_steps(&self) -> Option<u32> {
        self.agents
            .as_ref()
            .and_then(|a| a.defaults.as_ref())
            .and_then(|d| d.max_steps)
    }

    /// `agents.entries`, by id (empty when unset).
    pub fn agent_entries(&self) -> impl Iterator<Item = (&String, &crate::AgentEntry)> {
        self.agents
            .iter()
            .flat_map(|a| a.entries.iter())
            .flat_map(|e| e.iter())
    }

    /// `tools.exec`.
    pub fn exec_tool(&self) -> Option<&crate::ExecTool> {
        self.tools.as_ref().and_then(|t| t.exec.as_ref())
    }
}

fn bind_name(b: BindMode) -> &'static str {
    match b {
        BindMode::Loopback => "loopback",
        BindMode::Lan => "lan",
        BindMode::Custom => "custom",
        BindMode::Tailnet => "tailnet",
        BindMode::Auto => "auto",
    }
}

impl ModelSelection {
    /// `(primary, fallbacks)` as strings.
    pub fn parts(&self) -> (Option<String>, Vec<String>) {
        (
            self.primary.as_ref().map(|m| m.as_str().to_string()),
            self.fallbacks
                .iter()
                .flatten()
                .map(|m| m.as_str().to_string())
                .collect(),
        )
    }
}

impl BindMode {
    /// The mode as written in the config.
    pub fn as_str(self) -> &'static str {
        bind_name(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> Result<Config, String> {
        crate::validate_value(&v, std::path::Path::new("t.json"))
            .map(|p| p.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn auth_scopes_are_upstreams_closed_set() {
        let c =
            config(json!({"gateway": {"auth": {"scopes": ["operator.read", "operator.pairing"]}}}))
                .unwrap();
        let got: Vec<&str> = c
            .auth_scopes()
            .unwrap()
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(got, ["operator.read", "operator.pairing"]);
        assert_eq!(config(json!({})).unwrap().auth_scopes(), None);
        let e = config(json!({"gateway": {"auth": {"scopes": ["operator.root"]}}})).unwrap_err();
        assert!(e.contains("gateway.auth.scopes[0]"), "{e}");
    }

    #[test]
    fn auth_fails_closed() {
        let bad = [
            json!({"gateway": {"auth": {"mode": "password"}}}),
            json!({"gateway": {"auth": {"mode": "token", "token": ""}}}),
            json!({"gateway": {"auth": {"mode": "token", "password": "p"}}}),
        ];
        for v in bad {
            assert!(config(v.clone()).unwrap().auth().is_err(), "{v}");
        }
        // Not a string: refused by the loader before any rule runs.
        assert!(config(json!({"gateway": {"auth": {"token": 123}}})).is_err());
        let c = config(json!({"gateway": {"auth": {"token": "t"}}})).unwrap();
        assert_eq!(c.auth().unwrap(), AuthConfig::Token("t".into()));
        let c = config(json!({"gateway": {"auth": {"password": "p"}}})).unwrap();
        assert_eq!(c.auth().unwrap(), AuthConfig::Password("p".into()));
        let c = config(json!({"gateway": {"auth": {"mode": "none", "token": "t"}}})).unwrap();
        assert_eq!(c.auth().unwrap(), AuthConfig::None);
        assert_eq!(c.gateway_token(), Some("t"));
        assert_eq!(Config::default().auth().unwrap(), AuthConfig::None);
        assert_eq!(
            format!("{:?}", AuthConfig::Token("s3cret".into())),
            "AuthConfig::token"
        );
    }

    #[test]
    fn bind_rules() {
        let bind = |v| config(v).unwrap().bind();
        assert_eq!(Config::default().bind().unwrap(), GatewayBind::Loopback);
        assert_eq!(
            bind(json!({"gateway": {"bind": "lan"}})).unwrap(),
            GatewayBind::Lan
        );
        assert_eq!(
            bind(json!({"gateway": {"bind": "custom", "customBindHost": "127.0.0.2"}})).unwrap(),
            GatewayBind::Custom("127.0.0.2".parse().unwrap())
        );
        assert!(bind(json!({"gateway": {"bind": "custom"}})).is_err());
        assert!(bind(json!({"gateway": {"bind": "custom", "customBindHost": "host"}})).is_err());
        assert!(
            bind(json!({"gateway": {"bind": "tailnet"}}))
                .unwrap_err()
                .contains("tailnet")
        );
        assert!(GatewayBind::Loopback.is_loopback());
        assert!(!GatewayBind::Lan.is_loopback());
        assert!(GatewayBind::Custom("::1".parse().unwrap()).is_loopback());
    }

    #[test]
    fn pinned_ports_and_levels() {
        let c = config(json!({
            "gateway": {"port": 19001},
            "canvasHost": {"port": 19010},
            "browser": {"profiles": {"work": {"cdpPort": 19100}}},
            "logging": {"level": "debug"},
        }))
        .unwrap();
        let p = c.pinned_ports();
        assert_eq!(p.gateway, Some(19001));
        assert_eq!(p.canvas, Some(19010));
        assert_eq!(p.cdp_range_start, None);
        assert_eq!(p.cdp, vec![("work".to_string(), 19100)]);
        assert_eq!(c.log_level(), LogLevel::Debug);
        assert_eq!(Config::default().log_level(), LogLevel::Info);
        assert_eq!(Config::default().pinned_ports(), PinnedPorts::default());
    }
}
