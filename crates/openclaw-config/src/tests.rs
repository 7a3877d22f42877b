use std::path::Path;

use serde_json::{Value, json};

use crate::*;

fn file() -> &'static Path {
    Path::new("/home/u/.openclaw/openclaw.json")
}

const FULL: &str = r##"{
  // JSON5: comments, unquoted keys, trailing commas
  gateway: {
    mode: 'local',
    port: 18789,
    bind: "loopback",
    auth: { mode: "token", token: "abc123", },
  },
  agents: {
    defaults: {
      workspace: "~/.openclaw/workspace-main",
      model: { primary: "anthropic/claude-sonnet-4", fallbacks: ["openai/gpt-4o"] },
      maxSteps: 40,
    },
    entries: { helper: { name: "Helper", model: { primary: "local/llama" } } },
  },
  canvasHost: { enabled: true, port: 18900, root: "/srv/canvas", liveReload: false },
  browser: {
    enabled: true, headless: true, cdpPortRangeStart: 18800,
    profiles: { openclaw: { cdpPort: 18800, color: "#FF4500" }, work: { cdpUrl: "http://127.0.0.1:9222" } },
  },
  models: { providers: { local: { baseUrl: "http://127.0.0.1:8080/v1", apiKey: "sk-1", api: "openai-completions", models: [{ id: "llama" }] } } },
  tools: { exec: { enabled: true, timeoutMs: 30000, maxOutputBytes: 65536 } },
  logging: { level: "debug" },
}
"##;

#[test]
fn parses_full_json5_config() {
    let p = parse(FULL, file()).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let g = p.config.gateway.as_ref().unwrap();
    assert_eq!(g.port, Some(Port(18789)));
    assert_eq!(g.mode, Some(GatewayMode::Local));
    assert_eq!(g.bind, Some(BindMode::Loopback));
    let auth = g.auth.as_ref().unwrap();
    assert_eq!(auth.mode, Some(AuthMode::Token));
    assert_eq!(auth.token.as_ref().unwrap().expose(), "abc123");
    assert!(!format!("{:?}", p.config).contains("abc123"));
    let d = p.config.agents.as_ref().unwrap().defaults.as_ref().unwrap();
    let m = d.model.as_ref().unwrap();
    assert_eq!(m.primary.as_ref().unwrap().provider(), "anthropic");
    assert_eq!(m.primary.as_ref().unwrap().model(), "claude-sonnet-4");
    assert_eq!(d.max_steps, Some(40));
    assert_eq!(p.value["gateway"]["port"], json!(18789));
    let prov = &p
        .config
        .models
        .as_ref()
        .unwrap()
        .providers
        .as_ref()
        .unwrap()["local"];
    assert_eq!(prov.api, Some(ProviderApi::OpenaiCompletions));
    assert_eq!(p.config.logging.unwrap().level.unwrap().as_str(), "debug");
}

#[test]
fn instance_facts_come_from_the_config() {
    let p = parse(FULL, file()).unwrap();
    let f = p.config.instance_facts();
    assert_eq!(f.gateway_port, Some(18789));
    assert_eq!(f.workspace.as_deref(), Some("~/.openclaw/workspace-main"));
    assert_eq!(f.canvas_port, Some(18900));
    assert_eq!(f.cdp_port_range_start, Some(18800));
    assert_eq!(f.explicit_cdp_ports, vec![("openclaw".to_string(), 18800)]);
    assert_eq!(Config::default().instance_facts(), Default::default());
}

#[test]
fn syntax_error_has_line_and_column() {
    let text = "{\n  gateway: {\n    port: 18789\n    bind: \"lan\"\n  }\n}\n";
    let e = parse(text, file()).unwrap_err();
    assert_eq!(e.kind, ConfigErrorKind::Syntax);
    assert_eq!((e.line, e.column), (Some(4), Some(5)), "{e}");
    assert!(e.message.contains("expected ','"), "{e}");
    assert!(
        e.to_string()
            .starts_with("/home/u/.openclaw/openclaw.json:4:5: invalid JSON5"),
        "{e}"
    );
}

#[test]
fn wrong_type_names_position_path_and_expectation() {
    let text = "{\n  gateway: {\n    mode: \"local\",\n    port: \"abc\",\n  },\n}\n";
    let e = parse(text, file()).unwrap_err();
    assert_eq!(e.kind, ConfigErrorKind::Invalid);
    assert_eq!(e.key_path.as_deref(), Some("gateway.port"));
    assert_eq!((e.line, e.column), (Some(4), Some(11)));
    assert_eq!(
        e.message,
        "expected a port number 1-65535, found string \"abc\""
    );
    assert_eq!(
        e.to_string(),
        "/home/u/.openclaw/openclaw.json:4:11: gateway.port: expected a port number 1-65535, found string \"abc\""
    );
}

#[test]
fn unknown_key_is_a_warning_with_position() {
    let text = "{\n  gateway: { port: 18789,\n    prot: 1 },\n  extra: true,\n}";
    let p = parse(text, file()).unwrap();
    let w: Vec<_> = p
        .warnings
        .iter()
        .map(|w| (w.key_path.as_str(), w.line, w.column))
        .collect();
    assert_eq!(
        w,
        vec![
            ("gateway.prot", Some(3), Some(5)),
            ("extra", Some(4), Some(3))
        ]
    );
    // unknown keys survive in the raw value
    assert_eq!(p.value["extra"], json!(true));
}

#[test]
fn error_and_warning_together_even_when_the_error_comes_first() {
    let text = "{\n  gateway: { port: \"abc\" },\n  zzz: 1,\n}\n";
    let e = parse(text, file()).unwrap_err();
    assert_eq!(e.key_path.as_deref(), Some("gateway.port"));
    assert_eq!(e.warnings.len(), 1);
    assert_eq!(e.warnings[0].key_path, "zzz");
    assert_eq!(
        (e.warnings[0].line, e.warnings[0].column),
        (Some(3), Some(3))
    );
}

#[test]
fn validate_value_names_key_path_without_position() {
    let v = json!({"gateway": {"bind": "everywhere"}});
    let e = validate_value(&v, file()).unwrap_err();
    assert_eq!(e.key_path.as_deref(), Some("gateway.bind"));
    assert_eq!(e.line, None);
    assert!(
        e.message.contains(
            r#"expected one of "loopback", "lan", "custom", "tailnet", "auto", found "everywhere""#
        ),
        "{}",
        e.message
    );
    assert_eq!(
        e.to_string(),
        format!("{}: gateway.bind: {}", file().display(), e.message)
    );
    assert!(validate_value(&json!({"gateway": {"port": 1}}), file()).is_ok());
}

#[test]
fn paths_get_set_unset() {
    let mut v = json!({});
    set_path(&mut v, "gateway.auth.mode", json!("token")).unwrap();
    set_path(&mut v, r#"browser.profiles["a.b"].cdpPort"#, json!(18801)).unwrap();
    assert_eq!(v["browser"]["profiles"]["a.b"]["cdpPort"], json!(18801));
    assert_eq!(
        get_path(&v, "gateway.auth.mode").unwrap(),
        Some(&json!("token"))
    );
    assert_eq!(get_path(&v, "gateway.nope").unwrap(), None);
    set_path(&mut v, "gateway.port", json!(1)).unwrap();
    let e = set_path(&mut v, "gateway.port.x", json!(1)).unwrap_err();
    assert!(
        e.to_string().contains("gateway.port is the number 1"),
        "{e}"
    );
    assert!(unset_path(&mut v, "gateway.port").unwrap());
    assert!(!unset_path(&mut v, "gateway.port").unwrap());
    assert!(!unset_path(&mut v, "no.such.key").unwrap());
    assert!(parse_path("a..b").is_err());
    assert_eq!(
        format_path(&parse_path(r#"browser.profiles["a.b"].x[2]"#).unwrap()),
        r#"browser.profiles["a.b"].x[2]"#
    );
}

#[test]
fn cli_values() {
    assert_eq!(parse_cli_value("18789"), json!(18789));
    assert_eq!(parse_cli_value("true"), json!(true));
    assert_eq!(parse_cli_value("null"), Value::Null);
    assert_eq!(parse_cli_value("{a: 1,}"), json!({"a": 1}));
    assert_eq!(parse_cli_value("loopback"), json!("loopback"));
    assert_eq!(
        parse_cli_value("anthropic/claude"),
        json!("anthropic/claude")
    );
    assert_eq!(parse_cli_value("'quoted'"), json!("quoted"));
    assert_eq!(parse_cli_value("NaN"), json!("NaN"));
}

#[test]
fn secrets_are_recognised_and_redacted() {
    for p in [
        "gateway.auth.token",
        "gateway.auth.password",
        "models.providers.openai.apiKey",
        "channels.telegram.botToken",
        "x.secret",
    ] {
        assert!(is_secret_path(p), "{p}");
    }
    for p in [
        "gateway.auth.mode",
        "models.providers.openai.apiKeyEnv",
        "models.providers.x.models[0].maxTokens",
        "gateway.port",
    ] {
        assert!(!is_secret_path(p), "{p}");
    }
    let v = json!({"gateway": {"auth": {"mode": "token", "token": "t0p"}},
                   "models": {"providers": {"a": {"apiKey": "sk", "apiKeyEnv": "A_KEY"}}}});
    let r = redact(&v);
    assert_eq!(r["gateway"]["auth"]["token"], json!(REDACTED));
    assert_eq!(r["gateway"]["auth"]["mode"], json!("token"));
    assert_eq!(r["models"]["providers"]["a"]["apiKey"], json!(REDACTED));
    assert_eq!(r["models"]["providers"]["a"]["apiKeyEnv"], json!("A_KEY"));
    assert!(!r.to_string().contains("t0p"));
    let mut back = r.clone();
    restore_redacted(&mut back, &v).unwrap();
    assert_eq!(back, v);
    let mut orphan = json!({"gateway": {"auth": {"password": REDACTED}}});
    let e = restore_redacted(&mut orphan, &v).unwrap_err();
    assert_eq!(e.paths, vec!["gateway.auth.password".to_string()]);
}

#[test]
fn hash_render_schema() {
    assert_eq!(
        hash(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        render(&json!({"a": {"b": 1}})),
        "{\n  \"a\": {\n    \"b\": 1\n  }\n}\n"
    );
    let s = schema();
    assert!(s["properties"]["gateway"].is_object(), "{s}");
    let text = s.to_string();
    assert!(text.contains("canvasHost"));
    assert!(text.contains("65535"));
}

// ------------------------------------------------------------ edge cases

fn err(text: &str) -> ConfigError {
    parse(text, file()).unwrap_err()
}

#[test]
fn port_edges() {
    for (text, found) in [
        ("{gateway: {port: 0}}", "found 0"),
        ("{gateway: {port: 65536}}", "found 65536"),
        ("{gateway: {port: -1}}", "found -1"),
        ("{gateway: {port: 18789.5}}", "found 18789.5"),
        ("{gateway: {port: '18789'}}", "found string \"18789\""),
        ("{gateway: {port: true}}", "found true"),
        ("{gateway: {port: [1]}}", "found an array"),
    ] {
        let e = err(text);
        assert_eq!(e.key_path.as_deref(), Some("gateway.port"), "{text}");
        assert!(
            e.message.starts_with("expected a port number 1-65535, "),
            "{text}: {}",
            e.message
        );
        assert!(e.message.ends_with(found), "{text}: {}", e.message);
        assert_eq!((e.line, e.column), (Some(1), Some(18)), "{text}");
    }
    for ok in [
        "{gateway: {port: 1}}",
        "{gateway: {port: 65535}}",
        "{gateway: {port: 0x4965}}",
    ] {
        parse(ok, file()).unwrap();
    }
    // null is "not set"
    let p = parse("{gateway: {port: null}}", file()).unwrap();
    assert_eq!(p.config.instance_facts().gateway_port, None);
}

#[test]
fn enum_and_field_messages() {
    let e = err("{gateway: {auth: {mode: 'oauth'}}}");
    assert_eq!(e.key_path.as_deref(), Some("gateway.auth.mode"));
    assert_eq!(
        e.message,
        r#"expected one of "token", "password", "none", found "oauth""#
    );
    let e = err("{models: {providers: {x: {api: 'grpc', models: [{name: 'n'}]}}}}");
    let issues = e.issues();
    assert_eq!(issues.len(), 2, "{e}");
    assert_eq!(
        issues[0].key_path.as_deref(),
        Some("models.providers.x.api")
    );
    assert!(
        issues[0]
            .message
            .contains(r#""openai-completions", "anthropic-messages""#)
    );
    assert_eq!(
        issues[1].key_path.as_deref(),
        Some("models.providers.x.models[0]")
    );
    assert_eq!(issues[1].message, r#"missing required key "id""#);
    assert_eq!(e.to_string().lines().count(), 2);
    let e = err("{tools: {exec: {timeoutMs: -5}}}");
    assert_eq!(e.message, "expected a whole number, 0 or more, found -5");
    let e = err("{browser: {headless: 'yes'}}");
    assert_eq!(e.message, "expected true or false, found string \"yes\"");
    let e = err("{gateway: 5}");
    assert_eq!(e.message, "expected an object, found 5");
    let e = err("{agents: {defaults: {model: {fallbacks: 'openai/gpt'}}}}");
    assert_eq!(e.message, "expected an array, found string \"openai/gpt\"");
}

#[test]
fn model_refs_must_be_provider_slash_model() {
    let text = "{\n agents: { defaults: { model: {\n  primary: 'a/b',\n  fallbacks: ['c/d', 'nomodel'],\n }}}}";
    let e = err(text);
    assert_eq!(
        e.key_path.as_deref(),
        Some("agents.defaults.model.fallbacks[1]")
    );
    assert_eq!((e.line, e.column), Some(4).zip(Some(22)).unzip());
    assert!(e.message.contains("\"provider/model\""), "{}", e.message);
    assert!(e.message.ends_with("found \"nomodel\""), "{}", e.message);
    let p = parse(
        "{agents: {defaults: {model: {primary: 'openrouter/meta/llama'}}}}",
        file(),
    )
    .unwrap();
    let m = p
        .config
        .agents
        .unwrap()
        .defaults
        .unwrap()
        .model
        .unwrap()
        .primary
        .unwrap();
    assert_eq!((m.provider(), m.model()), ("openrouter", "meta/llama"));
    assert!(ModelRef::new("/x").is_err());
    assert!(ModelRef::new("x/").is_err());
}

#[test]
fn quoted_keys_with_dots_get_bracket_paths_and_positions() {
    let text = "{\n  browser: {\n    profiles: {\n      \"a.b\": { cdpPort: 'x', colour: 'red' },\n    },\n  },\n}";
    let e = err(text);
    assert_eq!(
        e.key_path.as_deref(),
        Some(r#"browser.profiles["a.b"].cdpPort"#)
    );
    assert_eq!((e.line, e.column), (Some(4), Some(25)));
    assert_eq!(e.warnings.len(), 1);
    assert_eq!(e.warnings[0].key_path, r#"browser.profiles["a.b"].colour"#);
    assert_eq!(
        (e.warnings[0].line, e.warnings[0].column),
        (Some(4), Some(30))
    );
    // the path form round-trips through set_path
    let mut v = e_value(text);
    set_path(&mut v, &e.key_path.clone().unwrap(), json!(18800)).unwrap();
    assert!(validate_value(&v, file()).is_ok());
}

fn e_value(text: &str) -> Value {
    parse_syntax(text, file()).unwrap()
}

#[test]
fn positions_survive_comments_crlf_and_unicode() {
    let text = "{\r\n  /* { not: 'an object' } */\r\n  // gateway: { port: 'x' }\r\n  'gäteway' : 1,\r\n  \"s\\\"}\": 'é', gateway: {\r\n    port: /* here */ 'x'\r\n  }\r\n}\r\n";
    let e = err(text);
    assert_eq!(e.key_path.as_deref(), Some("gateway.port"));
    assert_eq!((e.line, e.column), (Some(6), Some(22)));
    let w: Vec<_> = e
        .warnings
        .iter()
        .map(|w| (w.key_path.clone(), w.line, w.column))
        .collect();
    assert_eq!(
        w,
        vec![
            ("gäteway".to_string(), Some(4), Some(3)),
            (r#"["s\"}"]"#.to_string(), Some(5), Some(3)),
        ]
    );
}

#[test]
fn duplicate_keys_last_one_wins_everywhere() {
    let text = "{gateway: {port: 'x'},\n gateway: {port: 'y'}}";
    let e = err(text);
    assert_eq!((e.line, e.column), (Some(2), Some(18)));
    assert!(e.message.ends_with("\"y\""));
}

#[test]
fn top_level_must_be_an_object() {
    for (text, found) in [
        ("[]", "an array"),
        ("1", "1"),
        ("'x'", "string \"x\""),
        ("null", "null"),
    ] {
        let e = err(text);
        assert_eq!(e.kind, ConfigErrorKind::Invalid);
        assert_eq!(e.key_path.as_deref(), Some("(root)"));
        assert!(e.message.ends_with(found), "{}", e.message);
        assert_eq!((e.line, e.column), (Some(1), Some(1)));
    }
    assert!(parse("{}", file()).is_ok());
    assert!(parse("// only a comment\n{}\n", file()).is_ok());
}

#[test]
fn syntax_errors() {
    for (text, line, col, what) in [
        ("", 1, 1, "end of file"),
        ("{", 1, 2, "end of file"),
        ("{\n  a: 1,\n  b: 2\n", 4, 1, "end of file"),
        ("{ a 1 }", 1, 5, "expected ':'"),
        ("{ a: 'x }", 1, 10, "string"),
        ("{} x", 1, 4, "after the end"),
        ("{ a: [1 2] }", 1, 9, "expected ','"),
    ] {
        let e = err(text);
        assert_eq!(e.kind, ConfigErrorKind::Syntax, "{text:?}");
        assert_eq!(e.key_path, None);
        assert_eq!((e.line, e.column), (Some(line), Some(col)), "{text:?}: {e}");
        assert!(e.message.contains(what), "{text:?}: {}", e.message);
    }
}

#[test]
fn syntax_error_wrong_type_and_unknown_key_acceptance() {
    // wrong type + unknown key: one error with line:column and key path,
    // and one warning
    let text = "{\n  gateway: {\n    port: 'abc',\n    bnid: 'lan',\n  },\n}\n";
    let e = err(text);
    assert_eq!(e.issues().len(), 1);
    assert_eq!(e.to_string().lines().count(), 1);
    assert_eq!((e.line, e.column), (Some(3), Some(11)));
    assert_eq!(e.key_path.as_deref(), Some("gateway.port"));
    assert_eq!(e.warnings.len(), 1);
    assert_eq!(e.warnings[0].key_path, "gateway.bnid");
    assert_eq!(
        e.warnings[0].to_string(),
        format!(
            "{}:4:5: gateway.bnid: unknown key, ignored (check its spelling; `openclaw config schema` lists the known keys)",
            file().display()
        )
    );
    // add a syntax error: it wins, with its own position
    let e = err(&text.replace("bnid: 'lan',", "bnid: 'lan'\n    x: 1,"));
    assert_eq!(e.kind, ConfigErrorKind::Syntax);
    assert_eq!((e.line, e.column), (Some(5), Some(5)));
}

#[test]
fn path_edge_cases() {
    let mut v = json!({"a": [1, {"b": 2}], "s": "str"});
    assert_eq!(get_path(&v, "a[1].b").unwrap(), Some(&json!(2)));
    assert_eq!(get_path(&v, "a[5]").unwrap(), None);
    assert_eq!(get_path(&v, "").unwrap(), Some(&v.clone()));
    set_path(&mut v, "a[1].c", json!(3)).unwrap();
    set_path(&mut v, "a[2]", json!("pushed")).unwrap();
    assert_eq!(v["a"][2], json!("pushed"));
    let e = set_path(&mut v, "a[9]", json!(0)).unwrap_err();
    assert!(matches!(e, PathError::IndexOutOfRange { .. }), "{e}");
    let e = set_path(&mut v, "s.x.y", json!(0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot set s.x.y: s is the string \"str\", not an object; unset s first or choose another key"
    );
    // null in the way is replaced by an object
    let mut n = json!({"a": null});
    set_path(&mut n, "a.b", json!(1)).unwrap();
    assert_eq!(n, json!({"a": {"b": 1}}));
    assert!(unset_path(&mut v, "a[0]").unwrap());
    assert_eq!(v["a"][0], json!({"b": 2, "c": 3}));
    assert!(
        !unset_path(&mut v, "").unwrap(),
        "the root is never removed"
    );
    for bad in ["a.", ".a", "a[", "a[x]", "a['b'", "a]b", "a[\"b\"]c"] {
        assert!(parse_path(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_path("a['x.y'][0].z").unwrap(),
        vec![
            PathSeg::Key("a".into()),
            PathSeg::Key("x.y".into()),
            PathSeg::Index(0),
            PathSeg::Key("z".into())
        ]
    );
    assert_eq!(
        parse_path("[\"top.key\"]").unwrap(),
        vec![PathSeg::Key("top.key".into())]
    );
    // set keeps other keys and their order
    let mut o = json!({"z": 1, "a": 2});
    set_path(&mut o, "m", json!(3)).unwrap();
    assert_eq!(render(&o), "{\n  \"z\": 1,\n  \"a\": 2,\n  \"m\": 3\n}\n");
}

#[test]
fn schema_describes_keys_and_constraints() {
    let s = schema();
    let text = s.to_string();
    for needle in [
        "\"customBindHost\"",
        "\"cdpPortRangeStart\"",
        "\"liveReload\"",
        "\"apiKeyEnv\"",
        "\"maxOutputBytes\"",
        "\"tailnet\"",
        "\"anthropic-messages\"",
        "\"minimum\":1",
    ] {
        assert!(text.contains(needle), "schema lacks {needle}");
    }
    // unknown keys are warnings, so the schema must not forbid them
    assert!(!text.contains("\"additionalProperties\":false"));
}

// A tiny deterministic generator: random value trees written as JSON5 in
// varied styles; every recorded position must point at its key and value.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn gen_value(r: &mut Lcg, depth: u32) -> Value {
    match if depth > 3 { r.pick(4) } else { r.pick(6) } {
        0 => json!(r.pick(100000)),
        1 => json!(["x", "a\"b", "dot.ted", "ü", "}", "//"][r.pick(6) as usize]),
        2 => json!(r.pick(2) == 0),
        3 => Value::Null,
        4 => Value::Array((0..r.pick(4)).map(|_| gen_value(r, depth + 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for i in 0..r.pick(5) {
                let k = ["k", "a.b", "q'uote", "sp ace", "ключ", "_x$"][r.pick(6) as usize];
                m.insert(format!("{k}{i}"), gen_value(r, depth + 1));
            }
            Value::Object(m)
        }
    }
}

fn ws(r: &mut Lcg, out: &mut String) {
    match r.pick(6) {
        0 => out.push_str(" /* c { [ ' \" */ "),
        1 => out.push_str(" // line ' \"\n"),
        2 => out.push_str("\r\n  "),
        3 => out.push('\t'),
        _ => {}
    }
}

fn write5(v: &Value, r: &mut Lcg, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            for (k, child) in m {
                ws(r, out);
                let bare = k
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
                if bare && r.pick(2) == 0 {
                    out.push_str(k);
                } else if !k.contains('\'') && r.pick(2) == 0 {
                    out.push('\'');
                    out.push_str(k);
                    out.push('\'');
                } else {
                    out.push_str(&serde_json::to_string(k).unwrap());
                }
                ws(r, out);
                out.push(':');
                ws(r, out);
                write5(child, r, out);
                ws(r, out);
                out.push(',');
            }
            ws(r, out);
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, child) in a.iter().enumerate() {
                ws(r, out);
                write5(child, r, out);
                if i + 1 < a.len() || r.pick(2) == 0 {
                    out.push(',');
                }
            }
            ws(r, out);
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn char_at(text: &str, pos: Pos) -> String {
    let mut line = 1;
    let mut col = 1;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if line == pos.line && col == pos.column {
            return chars[i..].iter().take(12).collect();
        }
        match chars[i] {
            '\r' if chars.get(i + 1) == Some(&'\n') => {}
            '\n' | '\r' => {
                line += 1;
                col = 0;
            }
            _ => {}
        }
        col += 1;
        i += 1;
    }
    String::new()
}

fn walk_check(v: &Value, path: &mut Vec<PathSeg>, pos: &Positions, text: &str) {
    let span = pos
        .get(path)
        .unwrap_or_else(|| panic!("no span for {}", format_path(path)));
    let at = char_at(text, span.value);
    let expect_start: String = match v {
        Value::Object(_) => "{".into(),
        Value::Array(_) => "[".into(),
        other => other.to_string().chars().take(1).collect(),
    };
    assert!(
        at.starts_with(&expect_start),
        "{}: value at {:?} is {at:?}, expected {expect_start:?}\n{text}",
        format_path(path),
        span.value
    );
    if let Some(PathSeg::Key(k)) = path.last() {
        let key_at = char_at(text, span.key.expect("object members have a key position"));
        let first = k.chars().next().unwrap();
        assert!(
            key_at.starts_with(first) || key_at.starts_with('"') || key_at.starts_with('\''),
            "{}: key at {key_at:?}",
            format_path(path)
        );
    }
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                path.push(PathSeg::Key(k.clone()));
                walk_check(c, path, pos, text);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                path.push(PathSeg::Index(i));
                walk_check(c, path, pos, text);
                path.pop();
            }
        }
        _ => {}
    }
}

#[test]
fn generated_json5_positions_point_at_keys_and_values() {
    let mut r = Lcg(0x5eed);
    for _ in 0..300 {
        let v = match gen_value(&mut r, 0) {
            o @ Value::Object(_) => o,
            other => json!({ "root": other }),
        };
        let mut text = String::new();
        ws(&mut r, &mut text);
        write5(&v, &mut r, &mut text);
        ws(&mut r, &mut text);
        let parsed = parse_syntax(&text, file()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed, v, "{text}");
        let pos = Positions::scan(&text);
        walk_check(&v, &mut Vec::new(), &pos, &text);
        // and the plain JSON rendering parses back to the same value
        assert_eq!(parse_syntax(&render(&v), file()).unwrap(), v);
    }
}

#[test]
fn scanner_terminates_on_malformed_text() {
    // The scanner normally only sees text json5 accepted, but must never
    // hang or panic on anything else.
    for text in [
        "[/",
        "{a /",
        "[1 /* x",
        "{'a",
        "{a: [,,/]}",
        "{:}",
        "[\\u12",
        "{\"\\ud800\\",
        "}",
        "",
    ] {
        let _ = Positions::scan(text);
    }
}

#[test]
fn errors_never_quote_secret_values() {
    let text =
        "{gateway: {auth: {token: 918273645}}, models: {providers: {p: {apiKey: ['sk-live-1']}}}}";
    let e = err(text);
    let shown = e.to_string();
    assert!(!shown.contains("918273645"), "{shown}");
    assert!(!shown.contains("sk-live-1"), "{shown}");
    assert_eq!(e.key_path.as_deref(), Some("gateway.auth.token"));
    assert_eq!(
        e.message,
        "expected a string, found a number (not shown: this key holds a secret)"
    );
    assert_eq!(e.more.len(), 1);
    assert_eq!(
        e.more[0].key_path.as_deref(),
        Some("models.providers.p.apiKey")
    );
}

#[test]
fn dollar_schema_key_is_accepted() {
    let p = parse("{\"$schema\": \"./openclaw.schema.json\"}", file()).unwrap();
    assert!(p.warnings.is_empty());
}

#[test]
fn rescue_irc_and_matrix_sections_are_typed_config() {
    let text = r#"{
  rescue: { enabled: true, targets: ["main"] },
  channels: {
    irc: { host: "127.0.0.1", port: 6667, tls: false, nick: "bot" },
    matrix: { homeserver: "http://127.0.0.1:8008", accessToken: "syt_x" },
  },
}"#;
    let p = parse(text, file()).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let rescue = p.config.rescue.as_ref().unwrap();
    assert!(rescue.enabled());
    assert_eq!(rescue.targets.as_deref(), Some(&["main".to_string()][..]));
    let channels = p.config.channels.as_ref().unwrap();
    assert_eq!(channels.irc.as_ref().unwrap().nick, "bot");
    assert!(channels.matrix.is_some());
    // a cross-key rule of the IRC section is reported at its key path
    let e = err("{channels: {irc: {host: \"a b\", nick: \"bot\"}}}");
    assert_eq!(e.key_path.as_deref(), Some("channels.irc"));
    assert!(!crate::Rescue::default().enabled());
}

#[test]
fn reload_mode_is_hybrid_unless_off() {
    let cfg = |v: Value| validate_value(&v, file()).map(|p| p.config);
    assert_eq!(cfg(json!({})).unwrap().reload_mode(), ReloadMode::Hybrid);
    assert_eq!(
        cfg(json!({"gateway": {"reload": {"mode": "off"}}}))
            .unwrap()
            .reload_mode(),
        ReloadMode::Off
    );
    assert_eq!(
        cfg(json!({"gateway": {"reload": {"mode": "hybrid"}}}))
            .unwrap()
            .reload_mode(),
        ReloadMode::Hybrid
    );
    // Upstream's retired `hot` / `restart` are not accepted (its doctor
    // maps them to hybrid); the error names the key.
    let e = cfg(json!({"gateway": {"reload": {"mode": "hot"}}})).unwrap_err();
    assert!(e.to_string().contains("gateway.reload.mode"), "{e}");
}
