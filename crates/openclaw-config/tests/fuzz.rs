//! Property tests of the one config loader (`openclaw_config::parse`):
//! whatever the text, it returns a config or an error that points into the
//! text, and never panics or overflows the stack. Case counts are bounded
//! for CI; `PROPTEST_CASES=20000 cargo test -p openclaw-config --test fuzz`
//! runs a longer search.

use std::path::Path;

use openclaw_config::{MAX_DEPTH, parse, parse_cli_value};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Number of lines as the parser counts them (LF, CR, CRLF, U+2028/9).
fn line_count(text: &str) -> usize {
    let mut n = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => n += 1,
            _ => {}
        }
    }
    n
}

/// Parses and checks the error's positions; returns whether it parsed.
fn parse_checked(text: &str) -> bool {
    match parse(text, Path::new("fuzz.json")) {
        Ok(p) => {
            // What parsed renders and parses again to the same value.
            let again = parse(&openclaw_config::render(&p.value), Path::new("again.json"))
                .expect("a rendered config parses");
            assert_eq!(again.value, p.value);
            true
        }
        Err(e) => {
            let lines = line_count(text);
            let mut issues = vec![(e.line, e.column)];
            issues.extend(e.more.iter().map(|i| (i.line, i.column)));
            for (line, column) in issues {
                if let Some(l) = line {
                    assert!(l >= 1 && l <= lines + 1, "line {l} of {lines}: {e}");
                }
                if let Some(c) = column {
                    assert!(c >= 1, "column {c}: {e}");
                }
            }
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

/// Pieces JSON5 configs are made of, so random text often gets past the
/// syntax check to the type and value checks.
fn json5ish() -> impl Strategy<Value = String> {
    let tokens = prop_oneof![
        8 => prop::sample::select(vec![
            "{", "}", "[", "]", ",", ":", " ", "\n", "\r\n", "\t", "\"", "'", "\\",
        ]).prop_map(String::from),
        4 => prop::sample::select(vec![
            "gateway", "port", "bind", "auth", "mode", "token", "password", "rateLimit",
            "channels", "telegram", "botToken", "tokenFile", "allowFrom", "dmPolicy",
            "groups", "requireMention", "bindings", "agents", "defaults", "model",
            "primary", "models", "providers", "baseUrl", "api", "browser", "profiles",
            "cdpPort", "canvasHost", "root", "logging", "level", "tools", "exec",
            "rescue", "irc", "matrix", "commands", "ownerAllowFrom", "controlUi",
            "allowedOrigins",
        ]).prop_map(String::from),
        4 => prop::sample::select(vec![
            "18789", "0", "-1", "65536", "1e999", "0x1F", "Infinity", "-Infinity", "NaN",
            "1.5", ".5", "+1", "007", "true", "false", "null", "\"loopback\"", "'lan'",
            "\"token\"", "\"none\"", "\"*\"", "\"telegram:123\"", "\"open\"", "\"pairing\"",
            "// c\n", "/* c */", "/*", "\\u00e9", "\\x41", "é", "\u{2028}", "\u{feff}",
        ]).prop_map(String::from),
        1 => "[a-zA-Z0-9_]{1,8}",
    ];
    prop::collection::vec(tokens, 0..80).prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u16>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "loopback",
            "lan",
            "custom",
            "token",
            "password",
            "none",
            "local",
            "open",
            "pairing",
            "allowlist",
            "disabled",
            "*",
            "telegram:1",
            "openai/gpt-4o",
            "http://127.0.0.1:1",
            "debug",
            "warn",
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "port",
                    "bind",
                    "auth",
                    "mode",
                    "token",
                    "password",
                    "enabled",
                    "botToken",
                    "allowFrom",
                    "dmPolicy",
                    "groupPolicy",
                    "primary",
                    "baseUrl",
                    "api",
                    "cdpPort",
                    "level",
                    "x",
                ])
                .prop_map(String::from),
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A document with the config's real sections holding random values.
fn config_like() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(vec![
            "gateway",
            "agents",
            "canvasHost",
            "browser",
            "models",
            "tools",
            "logging",
            "channels",
            "commands",
            "bindings",
            "rescue",
            "unknownSection",
        ])
        .prop_map(String::from),
        json_value(),
        0..6,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_gives_a_config_or_a_positioned_error(text in any::<String>()) {
        parse_checked(&text);
        parse_cli_value(&text);
    }

    #[test]
    fn json5_like_text_gives_a_config_or_a_positioned_error(text in json5ish()) {
        parse_checked(&text);
        parse_cli_value(&text);
    }

    #[test]
    fn config_shaped_documents_are_checked_not_crashed(v in config_like(), pretty in any::<bool>()) {
        let text = if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            serde_json::to_string(&v).unwrap()
        };
        if !parse_checked(&text) {
            // A type or value error names where: a key path or a position.
            let e = parse(&text, Path::new("fuzz.json")).unwrap_err();
            prop_assert!(e.key_path.is_some() || e.line.is_some(), "{}", e);
        }
    }

    #[test]
    fn nesting_is_refused_past_the_limit_with_its_position(depth in 1usize..400, obj in any::<bool>()) {
        let (open, close) = if obj { ("{a:", "}") } else { ("[", "]") };
        let text = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let r = parse(&text, Path::new("deep.json"));
        if depth > MAX_DEPTH {
            let e = r.unwrap_err();
            prop_assert!(e.message.contains("nested more than"), "{}", e);
            prop_assert_eq!(e.line, Some(1));
        }
        let _ = parse_cli_value(&text);
    }
}

/// Regression (found by this file): 100 000 nested brackets overflowed the
/// stack inside the JSON5 parser and aborted the process.
#[test]
fn very_deep_nesting_is_an_error_not_a_stack_overflow() {
    for text in [
        "[".repeat(100_000),
        format!("{{\"a\": {}", "{\"a\": ".repeat(100_000)),
        format!("// ok\n{{gateway: {}", "[".repeat(100_000)),
    ] {
        let e = parse(&text, Path::new("deep.json")).unwrap_err();
        assert!(e.message.contains("nested more than 128 levels"), "{e}");
        assert!(e.line.is_some() && e.column.is_some());
        assert_eq!(parse_cli_value(&text), Value::String(text.clone()));
    }
}

/// The deepest accepted nesting parses on a small (2 MiB, a tokio
/// worker's) stack, in this debug build too.
#[test]
fn the_deepest_accepted_nesting_fits_a_worker_stack() {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let n = MAX_DEPTH;
            let text = format!("{{x: {}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
            let p = parse(&text, Path::new("deep.json")).expect("within the limit");
            assert!(p.value["x"].is_array());
            let v = parse_cli_value(&"[".repeat(n));
            assert!(matches!(v, Value::String(_)), "unclosed arrays stay text");
        })
        .unwrap()
        .join()
        .unwrap();
}
