//! Which config keys hold secrets, and hiding them.

use serde_json::Value;

use crate::path::{PathSeg, format_path, parse_path};

/// What a redacted secret reads as in `config get` and `config.get`.
pub const REDACTED: &str = "__OPENCLAW_REDACTED__";

const SECRET_WORDS: [&str; 4] = ["token", "password", "apikey", "secret"];

/// Whether a single key names a secret: `token`, `password`, `apiKey`,
/// `secret`, or a camelCase/snake_case compound ending in one of them
/// (`botToken`, `clientSecret`, `api_key`), case-insensitively.
/// `apiKeyEnv` (the *name* of a variable) and `maxTokens` are not secrets.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| k.ends_with(w))
}

/// Whether a dotted path's value is a secret: `gateway.auth.token`,
/// `gateway.auth.password`, `models.providers.<id>.apiKey`, or any path
/// whose last key is a secret key (see [`is_secret_key`]). A path to an
/// object that *contains* secrets (`gateway.auth`) is not itself a secret:
/// print such values through [`redact`].
pub fn is_secret_path(path: &str) -> bool {
    let last = match parse_path(path) {
        Ok(segs) => segs.into_iter().rev().find_map(|s| match s {
            PathSeg::Key(k) => Some(k),
            PathSeg::Index(_) => None,
        }),
        Err(_) => path.rsplit('.').next().map(str::to_string),
    };
    last.is_some_and(|k| is_secret_key(&k))
}

/// Whether a string is a URL carrying credentials in its userinfo
/// (`https://user:pass@host/…`).
pub fn has_url_userinfo(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

/// A copy of `value` with every non-empty string under a secret key, every
/// string value inside a `headers` object (`Authorization`, `X-Api-Key`,
/// cookies: a header value may be a credential), and every URL with
/// userinfo (`https://user:pass@host`) replaced by [`REDACTED`]. The whole
/// string is replaced, so [`restore_redacted`] can put it back.
/// Non-string secrets are left alone.
pub fn redact(value: &Value) -> Value {
    fn walk(v: &Value, secret: bool, headers: bool) -> Value {
        match v {
            Value::String(s) if (secret || headers || has_url_userinfo(s)) && !s.is_empty() => {
                Value::String(REDACTED.to_string())
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let is_headers = k.eq_ignore_ascii_case("headers");
                        (k.clone(), walk(v, is_secret_key(k) || headers, is_headers))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, secret, headers)).collect()),
            other => other.clone(),
        }
    }
    walk(value, false, false)
}

/// A redaction marker that has no original value to restore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} hold(s) the redaction marker {REDACTED:?} but the current config has no value there; write the real secret instead",
    paths.join(", ")
)]
pub struct UnresolvedRedaction {
    pub paths: Vec<String>,
}

/// Puts secrets back: every [`REDACTED`] string in `new` is replaced by the
/// value at the same path in `original`. Used when a client sends back a
/// config it received redacted. Fails, naming the paths, when the original
/// has nothing there (writing the marker would destroy the secret).
pub fn restore_redacted(new: &mut Value, original: &Value) -> Result<(), UnresolvedRedaction> {
    fn walk(v: &mut Value, orig: Option<&Value>, path: &mut Vec<PathSeg>, bad: &mut Vec<String>) {
        match v {
            Value::String(s) if s == REDACTED => match orig {
                Some(o) if o.as_str() != Some(REDACTED) => *v = o.clone(),
                _ => bad.push(format_path(path)),
            },
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    path.push(PathSeg::Key(k.clone()));
                    let o = orig.and_then(|o| o.get(k));
                    walk(child, o, path, bad);
                    path.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter_mut().enumerate() {
                    path.push(PathSeg::Index(i));
                    let o = orig.and_then(|o| o.get(i));
                    walk(child, o, path, bad);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut bad = Vec::new();
    walk(new, Some(original), &mut Vec::new(), &mut bad);
    if bad.is_empty() {
        Ok(())
    } else {
        Err(UnresolvedRedaction { paths: bad })
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_with_userinfo_and_header_values_are_redacted() {
        let v = json!({"models": {"providers": {"p": {
            "baseUrl": "https://user:hunter2@llm.example/v1",
            "headers": {"Authorization": "Bearer sk-live", "X-Trace": "t"},
            "plain": "https://llm.example/v1?a=b@c",
            "mail": "someone@example.com"
        }}}});
        let r = redact(&v);
        let p = &r["models"]["providers"]["p"];
        assert_eq!(p["baseUrl"], REDACTED);
        assert_eq!(p["headers"]["Authorization"], REDACTED);
        assert_eq!(p["headers"]["X-Trace"], REDACTED);
        assert_eq!(p["plain"], "https://llm.example/v1?a=b@c");
        assert_eq!(p["mail"], "someone@example.com");
        let mut back = r.clone();
        restore_redacted(&mut back, &v).unwrap();
        assert_eq!(back, v);
        assert!(has_url_userinfo("redis://:pw@127.0.0.1:6379"));
        assert!(!has_url_userinfo("not a url @ all"));
    }
}
