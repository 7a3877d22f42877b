//! Redacting secrets inside free text (log lines, error messages).
//!
//! [`redact_text`] hides, wherever they appear in a line:
//! - bot tokens in URL paths (`/bot123456:ABC-def/getMe` → `/bot<redacted>/getMe`,
//!   the Telegram Bot API form; only after a `/`, so a Matrix user id such as
//!   `@bot2:localhost` is left alone), and bare `123456789:<30+ chars>` tokens;
//! - `Bearer …` / `Basic …` credentials (`Authorization: Bearer x` →
//!   `Authorization: Bearer <redacted>`);
//! - passwords in URL user info (`https://u:pw@host` → `https://u:<redacted>@host`);
//! - values of secret-named query parameters and `key=value` pairs
//!   (`?token=…`, `api_key=…`, `password=…`; see [`crate::is_secret_key`]);
//! - every secret registered with [`register_secrets`] (the gateway token,
//!   configured passwords and API keys), verbatim.
//!
//! The log writer runs every line through it, so a caller that formats a URL
//! or a header into a message cannot leak it.

use std::borrow::Cow;
use std::sync::RwLock;

use serde_json::Value;

/// What a secret in free text is replaced by.
pub const TEXT_REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not replaced verbatim (they would match
/// ordinary words); the structural rules above still apply to them.
const MIN_KNOWN_SECRET: usize = 6;

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers secrets to be replaced verbatim by [`redact_text`], in addition
/// to the ones already registered (a secret that a reload removed may still
/// sit in older lines or in-flight messages, so none is forgotten).
pub fn register_secrets<I, S>(secrets: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for s in secrets {
        let s = s.into();
        if s.len() >= MIN_KNOWN_SECRET && !known.contains(&s) {
            known.push(s);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Every non-empty string under a secret key (see [`crate::is_secret_key`])
/// of a config value: what [`register_secrets`] should know about.
pub fn secret_strings(value: &Value) -> Vec<String> {
    fn walk(v: &Value, secret: bool, out: &mut Vec<String>) {
        match v {
            Value::String(s) if secret && !s.is_empty() => out.push(s.clone()),
            Value::Object(m) => {
                for (k, v) in m {
                    walk(v, secret || crate::is_secret_key(k), out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, secret, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, false, &mut out);
    out
}

/// `text` with secrets replaced by [`TEXT_REDACTED`]; borrowed when nothing
/// needed hiding.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
        for s in known.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), TEXT_REDACTED));
            }
        }
    }
    for rule in [bot_tokens, auth_schemes, url_userinfo, secret_params] {
        if let Some(changed) = rule(&out) {
            out = Cow::Owned(changed);
        }
    }
    out
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Replaces `s[start..end]` spans, given in order.
fn splice(s: &str, spans: &[(usize, usize)]) -> Option<String> {
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for &(a, b) in spans {
        out.push_str(&s[at..a]);
        out.push_str(TEXT_REDACTED);
        at = b;
    }
    out.push_str(&s[at..]);
    Some(out)
}

/// `/bot<digits>:<token>` (the path of a Telegram Bot API URL) and bare
/// tokens. The slash is required: `bot<digits>:` elsewhere is ordinary
/// text, such as the Matrix user id `@bot2:localhost`.
fn bot_tokens(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find("/bot") {
        let start = i + off + 4;
        let mut j = start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > start && j < b.len() && b[j] == b':' {
            let mut k = j + 1;
            while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'-' || b[k] == b'_') {
                k += 1;
            }
            if k > j + 1 {
                spans.push((start, k));
                i = k;
                continue;
            }
        }
        i = start;
    }
    // Bare `123456789:AA...` tokens (no `bot` prefix) as they appear in
    // config errors: digits, a colon, then 30+ token characters.
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j - i >= 5 && j < b.len() && b[j] == b':' {
                let mut k = j + 1;
                while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'-' || b[k] == b'_')
                {
                    k += 1;
                }
                if k - j > 30 && !spans.iter().any(|&(a, e)| a <= i && i < e) {
                    spans.push((i, k));
                }
                i = k;
                continue;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    spans.sort_unstable();
    splice(s, &spans)
}

/// `Bearer <x>` and `Basic <x>`, any case.
fn auth_schemes(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let b = s.as_bytes();
    let mut spans = Vec::new();
    for scheme in ["bearer ", "basic "] {
        let mut i = 0;
        while let Some(off) = lower[i..].find(scheme) {
            let at = i + off;
            let mut start = at + scheme.len();
            while start < b.len() && b[start] == b' ' {
                start += 1;
            }
            let mut end = start;
            while end < b.len() && is_token_char(b[end]) {
                end += 1;
            }
            let word_start = at == 0 || !b[at - 1].is_ascii_alphanumeric();
            if word_start && end > start && &s[start..end] != TEXT_REDACTED {
                spans.push((start, end));
            }
            i = end.max(at + scheme.len());
        }
    }
    spans.sort_unstable();
    splice(s, &spans)
}

/// `scheme://user:password@host`.
fn url_userinfo(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find("://") {
        let auth_start = i + off + 3;
        let mut end = auth_start;
        while end < b.len() && !matches!(b[end], b'/' | b'?' | b'#' | b' ' | b'"' | b'\'' | b'>') {
            end += 1;
        }
        let authority = &s[auth_start..end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
            && colon + 1 < at
        {
            spans.push((auth_start + colon + 1, auth_start + at));
        }
        i = end.max(auth_start);
    }
    splice(s, &spans)
}

/// `name=value` where `name` is a secret key (`token`, `api_key`,
/// `access_token`, `password`, `botToken`, ...), as in query strings.
fn secret_params(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find('=') {
        let eq = i + off;
        let mut k = eq;
        while k > 0 && (b[k - 1].is_ascii_alphanumeric() || b[k - 1] == b'_' || b[k - 1] == b'-') {
            k -= 1;
        }
        let name = &s[k..eq];
        let mut end = eq + 1;
        while end < b.len() && !matches!(b[end], b'&' | b' ' | b'"' | b'\'' | b'#' | b',' | b')') {
            end += 1;
        }
        if !name.is_empty()
            && crate::is_secret_key(name)
            && end > eq + 1
            && &s[eq + 1..end] != TEXT_REDACTED
        {
            spans.push((eq + 1, end));
        }
        i = end.max(eq + 1);
    }
    splice(s, &spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_bot_tokens_in_urls() {
        let line = "GET https://api.telegram.org/bot123456:ABC-def_GHI/getMe failed";
        assert_eq!(
            redact_text(line),
            "GET https://api.telegram.org/bot<redacted>/getMe failed"
        );
        let line = "error sending request for url (https://api.telegram.org/bot7001:XyZ/getUpdates?offset=3)";
        assert_eq!(
            redact_text(line),
            "error sending request for url (https://api.telegram.org/bot<redacted>/getUpdates?offset=3)"
        );
        // A bare token as it would sit in a config error.
        let bare = "botToken 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw is invalid";
        assert_eq!(redact_text(bare), "botToken <redacted> is invalid");
        // A URL path, wherever the URL sits in the line.
        assert_eq!(
            redact_text("POST /bot99:secret-Tok_en/sendMessage"),
            "POST /bot<redacted>/sendMessage"
        );
        // Ordinary words, times and Matrix user ids are left alone.
        for ok in [
            "robot 12:30",
            "the bot said hi",
            "at 21:03:04",
            "port 18789",
            "matrix: logged in as @bot2:localhost (LoggedIn)",
            "invite from @bot123:example.org to !room:example.org",
            "bot42:ready",
            "see https://example.org/robot7:x",
        ] {
            assert_eq!(redact_text(ok), ok);
            assert!(matches!(redact_text(ok), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn bearer_and_basic_credentials() {
        assert_eq!(
            redact_text("Authorization: Bearer sk-abc.def_123"),
            "Authorization: Bearer <redacted>"
        );
        assert_eq!(
            redact_text("header authorization: bearer   eyJhbGciOi.x.y done"),
            "header authorization: bearer   <redacted> done"
        );
        assert_eq!(
            redact_text("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic <redacted>"
        );
        // Idempotent.
        let once = redact_text("Bearer abc").into_owned();
        assert_eq!(redact_text(&once), once);
    }

    #[test]
    fn url_passwords_and_secret_params() {
        assert_eq!(
            redact_text("connect https://me:hunter2@example.com/x"),
            "connect https://me:<redacted>@example.com/x"
        );
        assert_eq!(
            redact_text("http://127.0.0.1:18789/#token=abcdef&x=1 and ?api_key=zzz&q=2"),
            "http://127.0.0.1:18789/#token=<redacted>&x=1 and ?api_key=<redacted>&q=2"
        );
        assert_eq!(
            redact_text("maxTokens=5 apiKeyEnv=OPENAI"),
            "maxTokens=5 apiKeyEnv=OPENAI"
        );
        assert_eq!(
            redact_text("http://127.0.0.1:18789/"),
            "http://127.0.0.1:18789/"
        );
    }

    #[test]
    fn registered_secrets_are_replaced_anywhere() {
        let token = "t0ken-registered-in-this-test-8f3a";
        assert_eq!(redact_text(&format!("x{token}y")), format!("x{token}y"));
        register_secrets([token, "abc"]);
        assert_eq!(redact_text(&format!("x{token}y")), "x<redacted>y");
        // Too short to replace verbatim.
        assert_eq!(redact_text("abc"), "abc");
    }

    #[test]
    fn secret_strings_of_a_config() {
        let v = serde_json::json!({
            "gateway": {"auth": {"token": "tok", "mode": "token"}},
            "models": {"providers": {"o": {"apiKey": "k1", "apiKeyEnv": "ENV", "baseUrl": "u"}}},
            "channels": {"telegram": {"botToken": "123:abc"}},
        });
        let mut s = secret_strings(&v);
        s.sort();
        assert_eq!(s, ["123:abc", "k1", "tok"]);
    }
}
