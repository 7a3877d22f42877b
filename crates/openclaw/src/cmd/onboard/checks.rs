//! The real calls onboarding makes before it saves anything: the model
//! provider's listing (openclaw-agent), Telegram `getMe` (openclaw-channels'
//! Bot API client), an IRC registration (openclaw-irc) and a Matrix login
//! (openclaw-matrix). Each returns what the other side answered, in words,
//! and never a secret.

use std::sync::Arc;
use std::time::Duration;

use openclaw_ops::onboard::ModelPlan;

use crate::error::CliResult;
use crate::secrets::SecretValue;

/// Runs the checks on one small runtime.
pub struct Checker {
    rt: tokio::runtime::Runtime,
}

/// What `getMe` said.
pub struct Bot {
    pub id: i64,
    pub username: String,
}

/// What the IRC server said.
pub struct IrcDetails {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub nick: String,
    pub password: Option<SecretValue>,
}

/// Why the IRC check failed.
pub struct IrcRefused {
    /// The server gave the bot another nick: someone holds this one.
    pub nick_in_use: bool,
    pub message: String,
}

/// What the Matrix homeserver said.
pub struct MatrixSession {
    pub user_id: String,
    pub access_token: SecretValue,
}

/// How long a check may take at most (a hang guard; each answers in well
/// under a second when the other side is up).
const CHECK_LIMIT: Duration = Duration::from_secs(30);

/// How long the IRC check waits for the server to close the link after its
/// QUIT.
const QUIT_WAIT: Duration = Duration::from_secs(5);

impl Checker {
    pub fn new() -> CliResult<Checker> {
        Ok(Checker {
            rt: crate::cmd::gateway::runtime()?,
        })
    }

    /// One `GET` of the provider's model listing with `key`.
    pub fn models(
        &self,
        plan: &ModelPlan,
        key: Option<&SecretValue>,
    ) -> Result<Vec<String>, String> {
        use openclaw_agent::{
            ApiKeySource, ClientSettings, KeyResolver, ModelClient, ProviderConfig,
        };
        let api = plan.api.parse().map_err(|e: String| e)?;
        let provider = ProviderConfig {
            id: plan.provider.clone(),
            base_url: plan.base_url.clone(),
            api,
            api_key: match key {
                Some(k) => ApiKeySource::Config(openclaw_agent::Secret::new(k.expose())),
                None => ApiKeySource::None,
            },
        };
        // The key comes with the request; nothing is read from a state dir
        // or the environment.
        let env: openclaw_agent::provider::EnvLookup = Arc::new(|_: &str| None);
        let mut settings = ClientSettings::default();
        settings.timeouts.response = Duration::from_secs(20);
        let client = ModelClient::new(KeyResolver::new("/nonexistent", env), settings)
            .map_err(|e| e.message)?;
        self.rt
            .block_on(client.list_models(&provider))
            .map_err(|e| e.message)
    }

    /// `getMe` with `token` at `api_root`.
    pub fn telegram(&self, api_root: &str, token: &SecretValue) -> Result<Bot, String> {
        use openclaw_channels::telegram::{ApiError, BotApi};
        use openclaw_channels::token::{BotToken, TokenSource};
        let t = token.expose();
        if !t.contains(':') || t.contains(['/', '?', '#']) || t.contains(char::is_whitespace) {
            return Err(
                "that is not a bot token: @BotFather gives one like 123456789:AAE... (digits, a colon, then letters)".into(),
            );
        }
        let api = BotApi::new(api_root, BotToken::new(t, TokenSource::Config));
        let r = self
            .rt
            .block_on(async { tokio::time::timeout(CHECK_LIMIT, api.get_me()).await });
        match r {
            Err(_) => Err(format!(
                "the Bot API at {api_root} did not answer getMe within {} s",
                CHECK_LIMIT.as_secs()
            )),
            Ok(Ok(b)) if b.username.is_empty() => Err(format!(
                "the Bot API at {api_root} answered getMe without a bot username"
            )),
            Ok(Ok(b)) => Ok(Bot {
                id: b.id,
                username: b.username,
            }),
            Ok(Err(ApiError::Api {
                code: 401 | 404,
                description,
                ..
            })) => Err(format!(
                "Telegram refused the token ({description}); copy it again from @BotFather (/mybots, API Token)"
            )),
            Ok(Err(e)) => Err(format!("{e} (Bot API {api_root})")),
        }
    }

    /// Connects, registers (`001`) and quits. The nick must be the one
    /// given: a server that renamed us (nick in use) is a failure.
    ///
    /// The check returns only once the server has closed the link after
    /// the QUIT (or [`QUIT_WAIT`] passed): a server that rate-limits
    /// commands (ngircd's penalty time) acts on it up to a second or more
    /// later, and until then it still holds the nick, so the gateway
    /// started right after would find it in use and run as `nick_`.
    pub fn irc(&self, d: &IrcDetails) -> Result<(), IrcRefused> {
        use openclaw_irc::{IrcConfig, IrcEvent};
        let mut cfg = IrcConfig::new(&d.host, &d.nick);
        cfg.port = d.port;
        cfg.tls = d.tls;
        cfg.password = d.password.as_ref().map(|p| p.expose().to_string());
        cfg.connect_timeout = Duration::from_secs(20);
        cfg.reconnect_min = Duration::from_secs(3600);
        let server = format!(
            "{}:{} ({})",
            d.host,
            d.port,
            if d.tls { "TLS" } else { "plain" }
        );
        self.rt.block_on(async {
            let (handle, mut events) = openclaw_irc::spawn(cfg);
            let outcome = tokio::time::timeout(CHECK_LIMIT, async {
                loop {
                    match events.recv().await {
                        Some(IrcEvent::Connected { nick }) => return Ok(nick),
                        Some(IrcEvent::Disconnected { error, .. }) => return Err(error),
                        Some(_) => {}
                        None => return Err("the connection ended".to_string()),
                    }
                }
            })
            .await;
            if matches!(outcome, Ok(Ok(_))) {
                // QUIT as a raw line, so the connection stays until the
                // server closes it (a disconnect event: the nick is free);
                // no reconnect follows within `reconnect_min`.
                let _ = handle.raw("QUIT :OpenClaw onboarding check");
                let _ = tokio::time::timeout(QUIT_WAIT, async {
                    while let Some(ev) = events.recv().await {
                        if matches!(ev, IrcEvent::Disconnected { .. }) {
                            break;
                        }
                    }
                })
                .await;
            }
            handle.quit("OpenClaw onboarding check");
            let other = |message: String| IrcRefused {
                nick_in_use: false,
                message,
            };
            match outcome {
                Err(_) => Err(other(format!(
                    "{server} did not complete the registration within {} s",
                    CHECK_LIMIT.as_secs()
                ))),
                Ok(Err(e)) => Err(other(format!("cannot register on {server}: {e}"))),
                Ok(Ok(nick)) if !openclaw_irc::proto::irc_eq(&nick, &d.nick) => Err(IrcRefused {
                    nick_in_use: true,
                    message: format!(
                        "the nick {} is in use on {server} (the server gave us {nick})",
                        d.nick
                    ),
                }),
                Ok(Ok(_)) => Ok(()),
            }
        })
    }

    /// Logs in with a password (the token is kept, never the password), or
    /// checks an access token with `whoami`.
    pub fn matrix(
        &self,
        homeserver: &str,
        user_id: Option<&str>,
        password: Option<&SecretValue>,
        access_token: Option<&SecretValue>,
        device_name: &str,
    ) -> Result<MatrixSession, String> {
        use openclaw_matrix::MatrixClient;
        let client = MatrixClient::new(homeserver).map_err(|e| e.to_string())?;
        let r = self.rt.block_on(async {
            tokio::time::timeout(CHECK_LIMIT, async {
                match (access_token, user_id, password) {
                    (Some(t), _, _) => {
                        let c = client.with_token(t.expose());
                        let who = c.whoami().await.map_err(|e| e.to_string())?;
                        Ok(MatrixSession {
                            user_id: who.user_id,
                            access_token: t.clone(),
                        })
                    }
                    (None, Some(u), Some(p)) => {
                        let mut c = client;
                        let login = c
                            .login_password(u, p.expose(), Some(device_name))
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(MatrixSession {
                            user_id: login.user_id,
                            access_token: SecretValue::new(login.access_token),
                        })
                    }
                    _ => Err("give the bot's user id and password, or an access token".to_string()),
                }
            })
            .await
        });
        match r {
            Err(_) => Err(format!(
                "{homeserver} did not answer within {} s",
                CHECK_LIMIT.as_secs()
            )),
            Ok(r) => r.map_err(|e| format!("{homeserver}: {e}")),
        }
    }
}
