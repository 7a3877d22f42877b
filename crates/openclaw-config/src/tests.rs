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
