//! openclaw-config: the typed `openclaw.json`.
//!
//! Pure: no filesystem IO (reading and writing files is `openclaw-state`'s
//! job). The file is JSON5 on the way in (comments, trailing commas,
//! unquoted keys) and plain JSON on the way out ([`render`]: 2-space indent,
//! trailing newline).
//!
//! # API
//! - [`parse`]`(text, file) -> Result<Parsed, ConfigError>`: syntax, types and
//!   values. [`Parsed`] holds the typed [`Config`], the raw `Value` (with
//!   unknown keys, which is what writes edit) and [`ConfigWarning`]s for
//!   unknown keys. Errors name file, 1-based line:column of the offending
//!   value, key path and what was expected; `Display` is
//!   `<file>:<line>:<col>: <keypath>: <message>`. Unknown keys found in a file
//!   that also has errors are in [`ConfigError::warnings`].
//! - [`validate_value`]`(&Value, file)`: the same checks for a value about to
//!   be written (no positions; key paths only). [`parse_syntax`]: JSON5 only.
//! - [`Config::instance_facts`] → [`openclaw_instance::ConfigFacts`].
//! - Key paths: [`get_path`], [`set_path`], [`unset_path`] over
//!   `serde_json::Value`. Paths are dotted (`gateway.auth.mode`); keys that
//!   contain dots use brackets (`browser.profiles["a.b"].cdpPort`); `[N]`
//!   indexes arrays. [`format_path`] writes paths in the same form.
//! - [`parse_cli_value`]: a CLI argument as JSON5, else a plain string.
//! - Secrets: [`is_secret_path`], [`is_secret_key`], [`redact`] (marker
//!   [`REDACTED`]), [`restore_redacted`].
//! - [`hash`]: sha256 hex of the raw file bytes, the `baseHash` of
//!   optimistic-concurrency writes.
//! - [`render`], [`schema`].
//! - Rules about config facts are methods on [`Config`] (`rules.rs`):
//!   [`Config::auth`] (fails closed) → [`AuthConfig`], [`Config::bind`] →
//!   [`GatewayBind`], [`Config::pinned_ports`], [`Config::log_level`], and
//!   typed accessors (`providers`, `default_model`, `agent_entries`, ...).
//!   No crate outside this one decides anything from the raw `Value`.
//! - Free-text redaction for log lines: [`redact_text`] (URL bot tokens,
//!   `Bearer`/`Basic` credentials, URL passwords, secret query parameters,
//!   and every secret given to [`register_secrets`]; see
//!   [`secret_strings`]).
//!
//! Adding a section (e.g. `channels.telegram`): one `Option` field on
//! [`Config`] (or on a section struct) with its serde type; the schema
//! follows from `JsonSchema`, secret-named keys (`botToken`, ...) are
//! redacted by [`redact`] / [`secret_strings`] by name, and value checks go
//! in the type's `Deserialize` (positioned errors come for free).

pub mod channels;
pub mod channels_net;
mod depth;
mod parse;
mod path;
mod positions;
mod redact_text;
mod rules;
mod secrets;
mod types;

#[cfg(test)]
mod tests;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use depth::MAX_DEPTH;
pub use parse::{
    ConfigError, ConfigErrorDetails, ConfigErrorKind, ConfigIssue, ConfigWarning, Parsed, parse,
    parse_syntax, validate_value,
};
pub use path::{
    PathError, PathSeg, format_path, get_path, get_segs, parse_path, set_path, set_segs,
    unset_path, unset_segs,
};
pub use positions::{Pos, Positions, Span};
pub use redact_text::{TEXT_REDACTED, redact_text, register_secrets, secret_strings};
pub use rules::{AuthConfig, GatewayBind, PinnedPorts};
pub use secrets::{
    REDACTED, UnresolvedRedaction, is_secret_key, is_secret_path, redact, restore_redacted,
};
pub use types::*;

/// The config file's name inside a state dir.
pub const CONFIG_FILE_NAME: &str = "openclaw.json";

impl Config {
    /// The facts instance resolution needs from the config.
    pub fn instance_facts(&self) -> openclaw_instance::ConfigFacts {
        let browser = self.browser.as_ref();
        openclaw_instance::ConfigFacts {
            gateway_port: self.gateway.as_ref().and_then(|g| g.port).map(Port::get),
            workspace: self
                .agents
                .as_ref()
                .and_then(|a| a.defaults.as_ref())
                .and_then(|d| d.workspace.clone()),
            canvas_port: self
                .canvas_host
                .as_ref()
                .and_then(|c| c.port)
                .map(Port::get),
            cdp_port_range_start: browser.and_then(|b| b.cdp_port_range_start).map(Port::get),
            explicit_cdp_ports: browser
                .and_then(|b| b.profiles.as_ref())
                .map(|profiles| {
                    profiles
                        .iter()
                        .filter_map(|(name, p)| p.cdp_port.map(|port| (name.clone(), port.get())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Parses a value given on the command line (`config set KEY VALUE`) as
/// JSON5 (`18789`, `true`, `{a: 1}`, `"x"`), falling back to the text as a
/// plain string (`loopback`, `anthropic/claude`). Text that JSON5 would read
/// as a non-finite number (`NaN`, `Infinity`) stays a string.
pub fn parse_cli_value(s: &str) -> Value {
    if depth::check_depth(s).is_err() {
        return Value::String(s.to_string());
    }
    match json5::from_str::<Value>(s) {
        Ok(Value::Null) if s.trim() != "null" => Value::String(s.to_string()),
        Ok(v) => v,
        Err(_) => Value::String(s.to_string()),
    }
}

/// sha256 of the raw file bytes, lowercase hex. This is the config hash
/// clients send back as `baseHash`.
pub fn hash(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

/// The file text for a value: pretty JSON with 2-space indent and a
/// trailing newline.
pub fn render(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("a serde_json::Value always serializes");
    s.push('\n');
    s
}

/// The JSON Schema of [`Config`].
pub fn schema() -> Value {
    schemars::schema_for!(Config).to_value()
}
