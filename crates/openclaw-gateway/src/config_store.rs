//! The gateway's view of its config file: load, hash, redact, and
//! compare-and-swap writes.
//!
//! Writes go through the shared [`openclaw_state::ConfigStore`] (its lock on
//! `<config>.lock`, `baseHash` check, validation, `.bak`, atomic 0600
//! write), so RPC writes and `openclaw config set` never lose each other's
//! changes and hash the file the same way. This wrapper adds what the RPC
//! needs on top: a required `baseHash` once the file exists, secrets
//! redacted on the way out and restored when a redacted value is written
//! back, and the gateway's own checks of the keys it serves.
//!
//! Reads go through the same loader as every other command
//! ([`openclaw_state::ConfigStore::load`]: JSON5, types, values), at
//! start-up and on every reload, so a file the gateway starts with is a file
//! it reloads and the other way round. A snapshot carries the typed
//! [`Config`] (what the gateway decides from) and the raw value (what
//! `config.get` shows and writes edit).

use std::path::{Path, PathBuf};

use openclaw_config::{Config, restore_redacted};
use openclaw_state::StateError;
use serde_json::{Map, Value};

/// One read of the config file.
#[derive(Debug, Clone)]
pub struct ConfigSnapshot {
    pub path: PathBuf,
    pub exists: bool,
    /// The file's text; `None` when it does not exist (or was not re-read
    /// after a write).
    pub raw: Option<String>,
    /// The document as parsed (with unknown keys); an empty object when the
    /// file does not exist. Shown by `config.get` and edited by writes;
    /// never read for facts (use [`ConfigSnapshot::config`]).
    pub parsed: Value,
    /// The typed config: every fact the gateway uses comes from here.
    pub config: Config,
    /// Hash of the raw bytes (the `baseHash` of a later write); `None` when
    /// the file does not exist.
    pub hash: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// The file does not load: `message` is the loader's
    /// `<file>:<line>:<col>: <key.path>: <message>` text.
    #[error("{message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("config changed since it was read: baseHash {base} is stale (current {current})")]
    Conflict { base: String, current: String },
    #[error(
        "baseHash is required: the config file exists (current hash {current}); read it with config.get first"
    )]
    BaseHashRequired { current: String },
    #[error("cannot write config {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    openclaw_config::hash(bytes)
}

#[derive(Debug, Clone)]
pub struct ConfigStore {
    inner: openclaw_state::ConfigStore,
}

impl ConfigStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ConfigStore {
            inner: openclaw_state::ConfigStore::new(path),
        }
    }

    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    pub fn load(&self) -> Result<ConfigSnapshot, ConfigError> {
        let path = self.path().to_path_buf();
        match self.inner.read_raw() {
            Ok(None) => Ok(ConfigSnapshot {
                path,
                exists: false,
                raw: None,
                parsed: Value::Object(Map::new()),
                config: Config::default(),
                hash: None,
            }),
            Ok(Some((raw, hash))) => {
                let (parsed, config) = load_text(&path, &raw)?;
                Ok(ConfigSnapshot {
                    path,
                    exists: true,
                    raw: Some(raw),
                    parsed,
                    config,
                    hash: Some(hash),
                })
            }
            Err(e) => Err(ConfigError::Read {
                path,
                message: e.to_string(),
            }),
        }
    }

    /// Applies `f` to the parsed config and writes the result, if the file
    /// still has `base_hash`. Redaction markers left in the new value are
    /// replaced by the secrets they stand for.
    pub fn update(
        &self,
        base_hash: Option<&str>,
        f: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<ConfigSnapshot, ConfigError> {
        // The baseHash rule is checked under the store's lock, with the write.
        self.write(base_hash, |v| {
            let old = v.clone();
            f(v)?;
            restore_redacted(v, &old).map_err(|e| e.to_string())
        })
    }

    /// Replaces the whole file with `raw` (JSON5), if the file still has
    /// `base_hash`. The text is parsed and validated first, then written back
    /// as plain JSON.
    pub fn replace_raw(
        &self,
        base_hash: Option<&str>,
        raw: &str,
    ) -> Result<ConfigSnapshot, ConfigError> {
        let next = parse_syntax(self.path(), raw)?;
        self.write(base_hash, move |v| {
            let old = std::mem::replace(v, next);
            restore_redacted(v, &old).map_err(|e| e.to_string())
        })
    }

    fn write(
        &self,
        base_hash: Option<&str>,
        f: impl FnOnce(&mut Value) -> Result<(), String>,
    ) -> Result<ConfigSnapshot, ConfigError> {
        let path = self.path().to_path_buf();
        let written = self.inner.update_based(base_hash, f).map_err(|e| match e {
            StateError::BaseHashRequired { current, .. } => {
                ConfigError::BaseHashRequired { current }
            }
            StateError::Conflict {
                expected, actual, ..
            } => ConfigError::Conflict {
                base: expected,
                current: actual.unwrap_or_else(|| "none (file missing)".into()),
            },
            StateError::Edit { source, .. } => ConfigError::Invalid(source.to_string()),
            StateError::Invalid { error, .. } => ConfigError::Invalid(error.to_string()),
            StateError::Config(error) => ConfigError::Parse {
                path: path.clone(),
                message: error.to_string(),
            },
            other => ConfigError::Write {
                path: path.clone(),
                message: other.to_string(),
            },
        })?;
        Ok(ConfigSnapshot {
            path,
            exists: true,
            raw: None,
            parsed: written.value,
            config: written.config,
            hash: Some(written.hash),
        })
    }
}

/// The one loader, for start-up and reload alike: the same checks as
/// [`openclaw_state::ConfigStore::load`] (JSON5, types, values; errors
/// `<file>:<line>:<col>: <key.path>: <message>`). A blank file is an empty
/// config.
pub(crate) fn load_text(path: &Path, raw: &str) -> Result<(Value, Config), ConfigError> {
    if raw.trim().is_empty() {
        return Ok((Value::Object(Map::new()), Config::default()));
    }
    openclaw_config::parse(raw, path)
        .map(|p| (p.value, p.config))
        .map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// JSON5 text of a whole-file replacement (validated on write).
fn parse_syntax(path: &Path, raw: &str) -> Result<Value, ConfigError> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    openclaw_config::parse_syntax(raw, path).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// RFC 7396 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use openclaw_config::{REDACTED, redact};
    use serde_json::json;

    use super::*;

    #[test]
    fn stale_hash_is_refused_and_the_file_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openclaw.json");
        std::fs::write(&path, "{ gateway: { port: 1234 }, // json5\n}").unwrap();
        let store = ConfigStore::new(&path);
        let snap = store.load().unwrap();
        assert_eq!(snap.parsed["gateway"]["port"], 1234);
        let before = std::fs::read(&path).unwrap();
        let err = store
            .update(Some("sha256:stale"), |v| {
                v["x"] = json!(1);
                Ok(())
            })
            .unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { .. }), "{err}");
        assert!(matches!(
            store.update(None, |_| Ok(())).unwrap_err(),
            ConfigError::BaseHashRequired { .. }
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);

        let next = store
            .update(snap.hash.as_deref(), |v| {
                merge_patch(v, &json!({"gateway": {"bind": "loopback"}}));
                Ok(())
            })
            .unwrap();
        assert_eq!(store.load().unwrap().hash, next.hash);
        assert_eq!(store.load().unwrap().parsed, next.parsed);
        assert_eq!(next.parsed["gateway"]["bind"], "loopback");
        assert_eq!(next.parsed["gateway"]["port"], 1234);
        // The previous text is kept beside it.
        assert_eq!(
            std::fs::read(dir.path().join("openclaw.json.bak")).unwrap(),
            before
        );
    }

    #[test]
    fn invalid_configs_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let store = ConfigStore::new(&path);
        for raw in [
            "[1]",
            r#"{"gateway":{"port":0}}"#,
            r#"{"gateway":{"bind":"moon"}}"#,
            "{nope",
        ] {
            assert!(store.replace_raw(None, raw).is_err(), "{raw}");
            assert!(!path.exists());
        }
        store
            .replace_raw(None, r#"{"gateway":{"port":5}}"#)
            .unwrap();
        assert!(path.exists());
    }

    #[test]
    fn redaction_round_trip_keeps_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let store = ConfigStore::new(&path);
        let s = store
            .replace_raw(
                None,
                r#"{"gateway":{"auth":{"mode":"token","token":"s3cret"}}}"#,
            )
            .unwrap();
        let red = redact(&s.parsed);
        assert_eq!(red["gateway"]["auth"]["token"], REDACTED);
        assert!(!red.to_string().contains("s3cret"));
        let raw = serde_json::to_string(&red).unwrap();
        let s2 = store.replace_raw(s.hash.as_deref(), &raw).unwrap();
        assert_eq!(s2.parsed["gateway"]["auth"]["token"], "s3cret");
    }

    #[test]
    fn one_loader_types_values_and_positions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openclaw.json");
        let store = ConfigStore::new(&path);
        // Missing and blank files are an empty config.
        assert!(!store.load().unwrap().exists);
        std::fs::write(&path, "  \n").unwrap();
        let blank = store.load().unwrap();
        assert!(blank.exists);
        assert_eq!(blank.config, Config::default());
        // The typed view is what facts come from.
        std::fs::write(&path, "{ gateway: { port: 1234, auth: { token: 'tk' } } }").unwrap();
        let snap = store.load().unwrap();
        assert_eq!(snap.config.gateway_port(), Some(1234));
        assert_eq!(snap.config.gateway_token(), Some("tk"));
        // Wrong types and values are load errors (not only bad JSON5), with
        // file:line:col: key.path: message.
        std::fs::write(&path, "{\n  gateway: {\n    port: 0,\n  },\n}\n").unwrap();
        let err = store.load().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::Parse { .. }), "{msg}");
        assert!(
            msg.starts_with(&format!("{}:3:11: gateway.port:", path.display())),
            "{msg}"
        );
        std::fs::write(&path, "{ gateway: { port: 5 ").unwrap();
        let msg = store.load().unwrap_err().to_string();
        assert!(msg.starts_with(&format!("{}:1:", path.display())), "{msg}");
    }

    #[test]
    fn merge_patch_rfc7396() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 9}, "e": [1]}));
        assert_eq!(t, json!({"b": {"c": 9, "d": 3}, "e": [1]}));
    }
}
