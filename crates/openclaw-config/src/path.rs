//! Dotted key paths over a `serde_json::Value`: `gateway.auth.token`,
//! `browser.profiles["a.b"].cdpPort`, `agents.defaults.model.fallbacks[0]`.

use serde_json::{Map, Value};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Why a path could not be parsed or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(
        "invalid key path {path:?}: {reason}; write keys separated by dots, e.g. gateway.auth.mode, and quote keys containing dots as browser.profiles[\"a.b\"]"
    )]
    Syntax { path: String, reason: String },
    #[error(
        "cannot set {path}: {blocker} is {found}, not an object; unset {blocker} first or choose another key"
    )]
    NotAnObject {
        path: String,
        blocker: String,
        found: String,
    },
    #[error("cannot set {path}: index {index} is past the end of {array} (length {len})")]
    IndexOutOfRange {
        path: String,
        array: String,
        index: usize,
        len: usize,
    },
}

/// Parses a key path. Accepted forms: `a.b.c`, `a["key.with.dots"]`,
/// `a['single']`, `a[0]` (array index). An empty path (`""` or `"."`) is
/// the root.
pub fn parse_path(path: &str) -> Result<Vec<PathSeg>, PathError> {
    let err = |reason: &str| PathError::Syntax {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let s = path.trim();
    if s.is_empty() || s == "." {
        return Ok(Vec::new());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut segs = Vec::new();
    let mut i = 0;
    // true when the previous token ended a segment and a separator is needed
    let mut need_sep = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '.' {
            if !need_sep {
                return Err(err("empty key between dots"));
            }
            need_sep = false;
            i += 1;
            if i == chars.len() {
                return Err(err("path ends with a dot"));
            }
            if chars[i] == '[' {
                return Err(err("'[' cannot follow '.'"));
            }
            continue;
        }
        if c == '[' {
            if !need_sep && !segs.is_empty() {
                return Err(err("'[' must follow a key"));
            }
            i += 1;
            let Some(&q) = chars.get(i) else {
                return Err(err("unclosed '['"));
            };
            if q == '"' || q == '\'' {
                i += 1;
                let mut key = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err("unclosed quote")),
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some(&e) => key.push(e),
                                None => return Err(err("unclosed quote")),
                            }
                            i += 2;
                        }
                        Some(&ch) if ch == q => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            key.push(ch);
                            i += 1;
                        }
                    }
                }
                if chars.get(i) != Some(&']') {
                    return Err(err("expected ']' after the quoted key"));
                }
                i += 1;
                segs.push(PathSeg::Key(key));
            } else {
                let start = i;
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                if i == chars.len() {
                    return Err(err("unclosed '['"));
                }
                let inner: String = chars[start..i].iter().collect();
                let index = inner
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| err("brackets hold an array index or a quoted key"))?;
                i += 1;
                segs.push(PathSeg::Index(index));
            }
            need_sep = true;
            continue;
        }
        if need_sep {
            return Err(err("expected '.' or '[' between keys"));
        }
        let start = i;
        while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
            if chars[i] == ']' || chars[i] == '"' || chars[i] == '\'' {
                return Err(err("unexpected quote or ']' in a bare key"));
            }
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        segs.push(PathSeg::Key(key));
        need_sep = true;
    }
    Ok(segs)
}

fn is_bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$' || c == '*')
}

/// Formats a path the way [`parse_path`] reads it; keys that are not plain
/// identifiers are written in bracket form. The root is `"(root)"`.
pub fn format_path(segs: &[PathSeg]) -> String {
    if segs.is_empty() {
        return "(root)".to_string();
    }
    let mut out = String::new();
    for seg in segs {
        match seg {
            PathSeg::Key(k) if is_bare_key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Key(k) => {
                out.push('[');
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(']');
            }
            PathSeg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Looks up a path. Returns `None` when any step is missing.
pub fn get_path<'a>(root: &'a Value, path: &str) -> Result<Option<&'a Value>, PathError> {
    let segs = parse_path(path)?;
    Ok(get_segs(root, &segs))
}

/// [`get_path`] on already parsed segments.
pub fn get_segs<'a>(root: &'a Value, segs: &[PathSeg]) -> Option<&'a Value> {
    let mut cur = root;
    for seg in segs {
        cur = match (seg, cur) {
            (PathSeg::Key(k), Value::Object(m)) => m.get(k)?,
            (PathSeg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Sets a path, creating missing intermediate objects. Fails, naming the
/// blocking key, when a non-object (or a non-array for an index) is in the
/// way. Setting the root replaces the whole value.
pub fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), PathError> {
    let segs = parse_path(path)?;
    set_segs(root, &segs, value)
}

/// [`set_path`] on already parsed segments.
pub fn set_segs(root: &mut Value, segs: &[PathSeg], value: Value) -> Result<(), PathError> {
    let full = format_path(segs);
    let mut cur = root;
    for (n, seg) in segs.iter().enumerate() {
        let last = n + 1 == segs.len();
        let here = || format_path(&segs[..n]);
        match seg {
            PathSeg::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Object(Map::new());
                }
                let Value::Object(m) = cur else {
                    return Err(PathError::NotAnObject {
                        path: full,
                        blocker: here(),
                        found: kind_of(cur),
                    });
                };
                if last {
                    m.insert(k.clone(), value);
                    return Ok(());
                }
                cur = m.entry(k.clone()).or_insert(Value::Null);
            }
            PathSeg::Index(i) => {
                let Value::Array(a) = cur else {
                    return Err(PathError::NotAnObject {
                        path: full,
                        blocker: here(),
                        found: kind_of(cur),
                    });
                };
                let len = a.len();
                if *i > len || (*i == len && !last) {
                    return Err(PathError::IndexOutOfRange {
                        path: full,
                        array: here(),
                        index: *i,
                        len,
                    });
                }
                if last {
                    if *i == len {
                        a.push(value);
                    } else {
                        a[*i] = value;
                    }
                    return Ok(());
                }
                cur = &mut a[*i];
            }
        }
    }
    *cur = value;
    Ok(())
}

/// Removes a path. Returns whether something was removed. Missing
/// intermediate keys are not an error (nothing to remove). Unsetting the
/// root is refused.
pub fn unset_path(root: &mut Value, path: &str) -> Result<bool, PathError> {
    let segs = parse_path(path)?;
    Ok(unset_segs(root, &segs))
}

/// [`unset_path`] on already parsed segments; the root cannot be removed.
pub fn unset_segs(root: &mut Value, segs: &[PathSeg]) -> bool {
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut cur = root;
    for seg in parents {
        let next = match (seg, cur) {
            (PathSeg::Key(k), Value::Object(m)) => m.get_mut(k),
            (PathSeg::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (last, cur) {
        (PathSeg::Key(k), Value::Object(m)) => m.shift_remove(k).is_some(),
        (PathSeg::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}
