//! Parsing and validating config text and values.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::path::{PathSeg, format_path, unset_segs};
use crate::positions::{Pos, Positions};
use crate::types::Config;

/// A successfully parsed and type-checked config. `Debug` redacts secrets.
#[derive(Clone)]
pub struct Parsed {
    /// The typed view.
    pub config: Config,
    /// The raw value, including unknown keys; edit this and write it back.
    pub value: Value,
    /// Unknown keys (ignored, but reported).
    pub warnings: Vec<ConfigWarning>,
}

impl fmt::Debug for Parsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parsed")
            .field("config", &self.config)
            .field("value", &crate::redact(&self.value))
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// An unknown key: not an error, but worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: PathBuf,
    /// Dotted key path, e.g. `gateway.prot`.
    pub key_path: String,
    /// 1-based position of the key, when the source text is known.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, &self.file, self.line, self.column)?;
        write!(
            f,
            "{}: unknown key, ignored (check its spelling; `openclaw config schema` lists the known keys)",
            self.key_path
        )
    }
}

/// Whether the text could not be read as JSON5 at all, or was read but has
/// wrong types or values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigErrorKind {
    Syntax,
    Invalid,
}

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path of the offending value; `None` for syntax errors.
    pub key_path: Option<String>,
    /// 1-based position of the offending value (or syntax error).
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// What was wrong and what was expected.
    pub message: String,
}

/// A config that cannot be used. `Display` gives one line per problem:
/// `<file>:<line>:<col>: <keypath>: <message>` (position and key path are
/// left out when unknown). The first problem is in the top-level fields;
/// further ones, if any, are in `more`. `warnings` holds the unknown keys
/// found in the same file, so they are not lost when there is an error.
///
/// The details sit behind a `Box` (keeping `Result`s small); read them as
/// fields thanks to `Deref`: `err.line`, `err.key_path`, `err.warnings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(Box<ConfigErrorDetails>);

/// The fields of a [`ConfigError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrorDetails {
    pub file: PathBuf,
    pub kind: ConfigErrorKind,
    pub key_path: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub more: Vec<ConfigIssue>,
    pub warnings: Vec<ConfigWarning>,
}

impl std::ops::Deref for ConfigError {
    type Target = ConfigErrorDetails;
    fn deref(&self) -> &ConfigErrorDetails {
        &self.0
    }
}

impl From<ConfigErrorDetails> for ConfigError {
    fn from(d: ConfigErrorDetails) -> Self {
        ConfigError(Box::new(d))
    }
}

impl ConfigError {
    /// The details, owned.
    pub fn into_details(self) -> ConfigErrorDetails {
        *self.0
    }

    /// Every problem, the first one included.
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut v = vec![ConfigIssue {
            key_path: self.key_path.clone(),
            line: self.line,
            column: self.column,
            message: self.message.clone(),
        }];
        v.extend(self.more.iter().cloned());
        v
    }
}

fn write_location(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    line: Option<usize>,
    column: Option<usize>,
) -> fmt::Result {
    write!(f, "{}:", file.display())?;
    if let Some(l) = line {
        write!(f, "{l}:")?;
        if let Some(c) = column {
            write!(f, "{c}:")?;
        }
    }
    f.write_str(" ")
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, issue) in self.issues().iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write_location(f, &self.file, issue.line, issue.column)?;
            if let Some(k) = &issue.key_path {
                write!(f, "{k}: ")?;
            }
            f.write_str(&issue.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads JSON5 text into a value without type checks. Syntax errors carry
/// line and column.
pub fn parse_syntax(text: &str, file: &Path) -> Result<Value, ConfigError> {
    if let Err((line, column)) = crate::depth::check_depth(text) {
        return Err(ConfigErrorDetails {
            file: file.to_path_buf(),
            kind: ConfigErrorKind::Syntax,
            key_path: None,
            line: Some(line),
            column: Some(column),
            message: format!(
                "invalid JSON5: nested more than {} levels deep",
                crate::depth::MAX_DEPTH
            ),
            more: Vec::new(),
            warnings: Vec::new(),
        }
        .into());
    }
    json5::from_str::<Value>(text).map_err(|e| {
        // End-of-file errors point at the end of the text (json5 reports
        // them at some enclosing construct, which misleads).
        let eof = matches!(
            e.code(),
            Some(
                json5::ErrorCode::EofParsingArray
                    | json5::ErrorCode::EofParsingObject
                    | json5::ErrorCode::EofParsingString
                    | json5::ErrorCode::EofParsingComment
                    | json5::ErrorCode::EofParsingValue
                    | json5::ErrorCode::EofParsingBool
                    | json5::ErrorCode::EofParsingNull
                    | json5::ErrorCode::EofParsingNumber
                    | json5::ErrorCode::EofParsingIdentifier
                    | json5::ErrorCode::EofParsingEscapeSequence
            )
        );
        let message = syntax_message(&e);
        let (line, column) = match e.position() {
            Some(p) if !eof => (p.line + 1, p.column + 1),
            _ => end_position(text),
        };
        ConfigErrorDetails {
            file: file.to_path_buf(),
            kind: ConfigErrorKind::Syntax,
            key_path: None,
            line: Some(line),
            column: Some(column),
            message,
            more: Vec::new(),
            warnings: Vec::new(),
        }
        .into()
    })
}

/// 1-based line and column just past the last character.
fn end_position(text: &str) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => {
                line += 1;
                col = 0;
            }
            _ => {}
        }
        col += 1;
    }
    (line, col)
}

fn syntax_message(e: &json5::Error) -> String {
    use json5::ErrorCode as C;
    let Some(code) = e.code() else {
        let s = e.to_string();
        return format!("invalid JSON5: {s}");
    };
    let m = match code {
        C::EofParsingArray => "unexpected end of file inside an array: expected ',' or ']'",
        C::EofParsingObject => "unexpected end of file inside an object: expected ',' or '}'",
        C::EofParsingString => "unexpected end of file inside a string: expected a closing quote",
        C::EofParsingComment => "unexpected end of file inside a comment: expected '*/'",
        C::EofParsingValue => "unexpected end of file: expected a value",
        C::EofParsingBool
        | C::EofParsingNull
        | C::EofParsingNumber
        | C::EofParsingIdentifier
        | C::EofParsingEscapeSequence => "unexpected end of file",
        C::ExpectedColon => "expected ':' after the key",
        C::ExpectedComma => "expected ',' between entries, or a closing '}' or ']'",
        C::ExpectedClosingBrace => "expected '}' to close the object",
        C::ExpectedClosingBracket => "expected ']' to close the array",
        C::ExpectedIdentifier => "expected a key (a name or a quoted string)",
        C::ExpectedValue => "expected a value (object, array, string, number, true, false or null)",
        C::ExpectedString => "expected a string",
        C::ExpectedNumber => "expected a number",
        C::ExpectedBool => "expected true or false",
        C::ExpectedNull => "expected null",
        C::ExpectedComment => "expected a comment after '/'",
        C::ExpectedOpeningBrace => "expected '{'",
        C::ExpectedOpeningBracket => "expected '['",
        C::ExpectedStringOrObject => "expected a string or an object",
        C::InvalidBytes => "invalid bytes",
        C::InvalidEscapeSequence => "invalid escape sequence in a string",
        C::InvalidKey => "invalid key: use a name or a quoted string",
        C::LeadingZero => "numbers cannot have leading zeros",
        C::LineTerminatorInString => "line break inside a string: close the quote first",
        C::OverflowParsingNumber => "number too large",
        C::TrailingCharacters => "unexpected text after the end of the top-level value",
    };
    format!("invalid JSON5: {m}")
}

/// Parses config text: JSON5 syntax, then types and values. Errors and
/// warnings point at line:column in `text`; `file` is only used for
/// messages.
pub fn parse(text: &str, file: &Path) -> Result<Parsed, ConfigError> {
    let value = parse_syntax(text, file)?;
    let positions = Positions::scan(text);
    check(value, file, Some(&positions))
}

/// Type-checks a value (e.g. a candidate about to be written). Errors name
/// the key path; positions are absent because there is no source text.
pub fn validate_value(value: &Value, file: &Path) -> Result<Parsed, ConfigError> {
    check(value.clone(), file, None)
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

type RunError = (Vec<PathSeg>, String);

fn run(value: &Value, ignored: &mut Vec<Vec<PathSeg>>) -> Result<Config, RunError> {
    let mut callback = |p: serde_ignored::Path| ignored.push(ignored_segs(&p));
    let de = serde_ignored::Deserializer::new(value, &mut callback);
    serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        let segs = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(PathSeg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(PathSeg::Index(*index)),
                _ => None,
            })
            .collect();
        (segs, humanize(&e.inner().to_string()))
    })
}

fn ignored_segs(p: &serde_ignored::Path) -> Vec<PathSeg> {
    use serde_ignored::Path as P;
    match p {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = ignored_segs(parent);
            v.push(PathSeg::Index(*index));
            v
        }
        P::Map { parent, key } => {
            let mut v = ignored_segs(parent);
            v.push(PathSeg::Key(key.clone()));
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_segs(parent)
        }
    }
}

/// Rewrites serde's messages ("invalid type: string \"abc\", expected u16")
/// into "expected ..., found ..." with user words.
pub(crate) fn humanize(msg: &str) -> String {
    fn found(s: &str) -> String {
        let s = s.trim();
        for (prefix, keep) in [
            ("integer `", true),
            ("floating point `", true),
            ("boolean `", true),
        ] {
            if let Some(rest) = s.strip_prefix(prefix) {
                let _ = keep;
                return rest.trim_end_matches('`').to_string();
            }
        }
        match s {
            "map" => "an object".into(),
            "sequence" => "an array".into(),
            "unit value" | "null" => "null".into(),
            other => other.to_string(),
        }
    }
    fn expected(s: &str) -> String {
        let s = s.trim();
        match s {
            "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
            "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
            "f32" | "f64" => "a number".into(),
            "a sequence" => "an array".into(),
            "a map" => "an object".into(),
            "a boolean" => "true or false".into(),
            other if other.starts_with("struct ") => "an object".into(),
            other if other.starts_with("a map") => "an object".into(),
            other => other.to_string(),
        }
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((f, e)) = rest.rsplit_once(", expected ")
        {
            return format!("expected {}, found {}", expected(e), found(f));
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `")
        && let Some((variant, tail)) = rest.split_once('`')
    {
        let allowed: Vec<String> = tail
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|v| format!("{v:?}"))
            .collect();
        return format!(
            "expected one of {}, found {:?}",
            allowed.join(", "),
            variant
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        return format!("missing required key {field:?}");
    }
    if let Some(rest) = msg.strip_prefix("invalid length ")
        && let Some((len, e)) = rest.split_once(", expected ")
    {
        return format!("expected {}, found length {len}", expected(e));
    }
    msg.to_string()
}

const MAX_ERRORS: usize = 20;

/// Error messages quote the offending value; for a secret key that would
/// put the secret into terminals and logs, so only its type is named.
fn hide_secret(segs: &[PathSeg], msg: String, root: &Value) -> String {
    let secret = matches!(segs.last(), Some(PathSeg::Key(k)) if crate::is_secret_key(k));
    if !secret {
        return msg;
    }
    let kind = match crate::get_segs(root, segs) {
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
        None => "a value",
    };
    let head = msg.split(", found ").next().unwrap_or("invalid value");
    format!("{head}, found {kind} (not shown: this key holds a secret)")
}

fn check(value: Value, file: &Path, positions: Option<&Positions>) -> Result<Parsed, ConfigError> {
    let locate = |segs: &[PathSeg], key: bool| -> (Option<usize>, Option<usize>) {
        let Some(p) = positions else {
            return (None, None);
        };
        let span = if key {
            p.get(segs)
                .map(|s| s.key.unwrap_or(s.value))
                .or_else(|| p.nearest(segs).map(|s| s.value))
        } else {
            p.nearest(segs).map(|s| s.value)
        };
        match span {
            Some(Pos { line, column }) => (Some(line), Some(column)),
            None => (None, None),
        }
    };

    if !value.is_object() {
        let (line, column) = locate(&[], false);
        return Err(ConfigErrorDetails {
            file: file.to_path_buf(),
            kind: ConfigErrorKind::Invalid,
            key_path: Some(format_path(&[])),
            line,
            column,
            message: format!(
                "expected an object {{ ... }} at the top level, found {}",
                json_kind(&value)
            ),
            more: Vec::new(),
            warnings: Vec::new(),
        }
        .into());
    }

    // Deserialize; on an error, drop the offending key from a scratch copy
    // and try again, so every error and every unknown key is reported even
    // when an error comes first in the file.
    let mut scratch = value.clone();
    let mut errors: Vec<RunError> = Vec::new();
    let mut ignored = Vec::new();
    let mut config = None;
    for _ in 0..=MAX_ERRORS {
        ignored.clear();
        match run(&scratch, &mut ignored) {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err((segs, msg)) => {
                let cut = segs
                    .iter()
                    .rposition(|s| matches!(s, PathSeg::Key(_)))
                    .map(|i| i + 1)
                    .unwrap_or(0);
                let msg = hide_secret(&segs, msg, &value);
                errors.push((segs.clone(), msg));
                if cut == 0 || errors.len() >= MAX_ERRORS || !unset_segs(&mut scratch, &segs[..cut])
                {
                    break;
                }
            }
        }
    }

    let warnings: Vec<ConfigWarning> = ignored
        .iter()
        .map(|segs| {
            let (line, column) = locate(segs, true);
            ConfigWarning {
                file: file.to_path_buf(),
                key_path: format_path(segs),
                line,
                column,
            }
        })
        .collect();

    match (config, errors.is_empty()) {
        (Some(config), true) => Ok(Parsed {
            config,
            value,
            warnings,
        }),
        _ => {
            let mut issues = errors.into_iter().map(|(segs, message)| {
                let (line, column) = locate(&segs, false);
                ConfigIssue {
                    key_path: Some(format_path(&segs)),
                    line,
                    column,
                    message,
                }
            });
            let first = issues.next().unwrap_or(ConfigIssue {
                key_path: None,
                line: None,
                column: None,
                message: "invalid config".into(),
            });
            Err(ConfigErrorDetails {
                file: file.to_path_buf(),
                kind: ConfigErrorKind::Invalid,
                key_path: first.key_path,
                line: first.line,
                column: first.column,
                message: first.message,
                more: issues.collect(),
                warnings,
            }
            .into())
        }
    }
}
