//! Bot tokens: where they come from, their fingerprints, and the rule that
//! two instances on one host never share one.
//!
//! A token is never printed. It is compared through its fingerprint
//! (SHA-256, hex); [`short_fingerprint`] is what status files and messages
//! show. [`redact`] removes a token from any text (bot tokens sit inside Bot
//! API URLs, and HTTP errors quote URLs).

use std::path::{Path, PathBuf};

use openclaw_config::channels::{TELEGRAM_TOKEN_ENV, Telegram};
use sha2::{Digest, Sha256};

/// Where a token came from (for messages; never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Config,
    File(PathBuf),
    Env,
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Config => f.write_str("channels.telegram.botToken"),
            TokenSource::File(p) => write!(f, "channels.telegram.tokenFile ({})", p.display()),
            TokenSource::Env => f.write_str(TELEGRAM_TOKEN_ENV),
        }
    }
}

/// A resolved token. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken {
    token: String,
    pub source: TokenSource,
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BotToken(<redacted> from {})", self.source)
    }
}

impl BotToken {
    pub fn new(token: impl Into<String>, source: TokenSource) -> Self {
        BotToken {
            token: token.into(),
            source,
        }
    }
    /// The token. Never log it.
    pub fn expose(&self) -> &str {
        &self.token
    }
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.token)
    }
}

/// SHA-256 of the token, lowercase hex.
pub fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The first 16 hex digits of a fingerprint (what is shown and stored).
pub fn short_fingerprint(fp: &str) -> String {
    fp.chars().take(16).collect()
}

/// Replaces the token (and its URL-encoded form) in `text`.
pub fn redact(text: &str, token: &str) -> String {
    if token.is_empty() {
        return text.to_string();
    }
    text.replace(token, "<redacted>")
        .replace(&token.replace(':', "%3A"), "<redacted>")
}

/// The token for the default account: `botToken`, else `tokenFile` (a
/// regular file; a symlink is refused), else `env` (the value of
/// `TELEGRAM_BOT_TOKEN`, when the caller has it). `home` expands `~`.
pub fn resolve(cfg: &Telegram, home: &Path, env: Option<&str>) -> Result<Option<BotToken>, String> {
    if let Some(t) = cfg
        .bot_token
        .as_ref()
        .map(|s| s.expose().trim())
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(BotToken::new(t, TokenSource::Config)));
    }
    if let Some(f) = cfg.token_file.as_deref().filter(|f| !f.trim().is_empty()) {
        let (path, t) = read_secret_file(f, home, "channels.telegram.tokenFile")?;
        return Ok(Some(BotToken::new(t, TokenSource::File(path))));
    }
    Ok(env
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| BotToken::new(t, TokenSource::Env)))
}

/// A config path with `~/` expanded to `home`.
pub fn expand_home(f: &str, home: &Path) -> PathBuf {
    match f.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if f == "~" => home.to_path_buf(),
        None => PathBuf::from(f),
    }
}

/// Reads a secret from the file a config key names (`tokenFile`,
/// `passwordFile`, ...): `~/` expands to `home`; it must be a regular file,
/// not a symlink, and not empty. Returns the path and the trimmed secret;
/// errors name `key` and the path, never the contents.
pub fn read_secret_file(f: &str, home: &Path, key: &str) -> Result<(PathBuf, String), String> {
    let path = expand_home(f, home);
    let meta =
        std::fs::symlink_metadata(&path).map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{key} {} is a symlink; point it at the regular file itself",
            path.display()
        ));
    }
    if !meta.is_file() {
        return Err(format!("{key} {} is not a regular file", path.display()));
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("{key} {}: {e}", path.display()))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("{key} {} is empty", path.display()));
    }
    Ok((path, t.to_string()))
}

/// One instance's Telegram credentials, for the host-wide check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceToken {
    /// e.g. `profile main`.
    pub label: String,
    pub state_dir: PathBuf,
    /// [`fingerprint`] of its token.
    pub fingerprint: String,
}

/// Two instances configured with the same bot token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedToken {
    pub a: InstanceToken,
    pub b: InstanceToken,
}

impl std::fmt::Display for SharedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (state dir {}) and {} (state dir {}) use the same Telegram bot token (fingerprint {}); Telegram allows one poller per token, so one of them gets 409 Conflict. Give each instance its own bot from @BotFather",
            self.a.label,
            self.a.state_dir.display(),
            self.b.label,
            self.b.state_dir.display(),
            short_fingerprint(&self.a.fingerprint)
        )
    }
}

/// Every pair of distinct instances (by state dir) sharing a fingerprint.
pub fn shared_tokens(instances: &[InstanceToken]) -> Vec<SharedToken> {
    let mut out = Vec::new();
    for (i, a) in instances.iter().enumerate() {
        for b in &instances[i + 1..] {
            if a.fingerprint == b.fingerprint && a.state_dir != b.state_dir {
                out.push(SharedToken {
                    a: a.clone(),
                    b: b.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_config::Secret;

    #[test]
    fn resolution_order_and_symlink_refusal() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("tok");
        std::fs::write(&f, "111:file\n").unwrap();
        let mut cfg = Telegram {
            token_file: Some("~/tok".into()),
            ..Default::default()
        };
        let t = resolve(&cfg, d.path(), Some("222:env")).unwrap().unwrap();
        assert_eq!(t.expose(), "111:file");
        assert!(!format!("{t:?}").contains("111"));
        cfg.bot_token = Some(Secret::new("333:cfg"));
        assert_eq!(
            resolve(&cfg, d.path(), None).unwrap().unwrap().source,
            TokenSource::Config
        );
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let cfg = Telegram {
            token_file: Some(link.display().to_string()),
            ..Default::default()
        };
        let e = resolve(&cfg, d.path(), None).unwrap_err();
        assert!(e.contains("symlink"), "{e}");
        let t = resolve(&Telegram::default(), d.path(), Some("222:env"))
            .unwrap()
            .unwrap();
        assert_eq!(t.source, TokenSource::Env);
        assert_eq!(resolve(&Telegram::default(), d.path(), None).unwrap(), None);
    }

    #[test]
    fn shared_tokens_are_found_by_fingerprint_and_named_without_the_token() {
        let it = |label: &str, dir: &str, tok: &str| InstanceToken {
            label: label.into(),
            state_dir: dir.into(),
            fingerprint: fingerprint(tok),
        };
        let list = [
            it("profile main", "/h/.openclaw", "1:aaa"),
            it("profile rescue", "/h/.openclaw-rescue", "1:aaa"),
            it("profile work", "/h/.openclaw-work", "2:bbb"),
        ];
        let s = shared_tokens(&list);
        assert_eq!(s.len(), 1);
        let msg = s[0].to_string();
        assert!(
            msg.contains("profile main") && msg.contains("profile rescue"),
            "{msg}"
        );
        assert!(!msg.contains("1:aaa"));
        assert!(shared_tokens(&list[1..]).is_empty());
    }

    #[test]
    fn redact_hides_plain_and_encoded_tokens() {
        let r = redact("GET https://x/bot1:abc/getMe and 1%3Aabc", "1:abc");
        assert_eq!(r, "GET https://x/bot<redacted>/getMe and <redacted>");
    }
}
