//! The engine against real instance dirs in a temporary home (no gateway
//! runs here: starting and stopping are exercised end to end in
//! `crates/openclaw/tests/it/rescue.rs`).

use std::path::{Path, PathBuf};

use futures_util::FutureExt;
use openclaw_instance::{Env, GlobalFlags};
use serde_json::{Value, json};

use super::*;

const BROKEN: &str = "{\n  gateway: {\n    port: 20123,,\n  },\n}\n";

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn state(&self, profile: &str) -> PathBuf {
        self.path().join(format!(".openclaw-{profile}"))
    }
    fn config(&self, profile: &str) -> PathBuf {
        self.state(profile).join("openclaw.json")
    }
    /// Creates an instance dir with `config`.
    fn instance(&self, profile: &str, config: Value) {
        openclaw_state::ensure_state_dir(&self.state(profile)).unwrap();
        openclaw_state::ConfigStore::new(self.config(profile))
            .create_if_missing(&config)
            .unwrap()
            .unwrap();
    }
    /// Rewrites `profile`'s config through the store (the old one becomes
    /// `openclaw.json.bak`).
    fn set(&self, profile: &str, path: &str, v: Value) {
        openclaw_state::ConfigStore::new(self.config(profile))
            .update(None, |doc: &mut Value| {
                openclaw_config::set_path(doc, path, v)
            })
            .unwrap();
    }
    fn rescue(&self) -> Rescue {
        let flags = GlobalFlags {
            profile: Some("rescue".into()),
            dev: false,
        };
        let paths = openclaw_instance::resolve_paths(&flags, &Env::new(self.path())).unwrap();
        let me = openclaw_instance::resolve(&paths, &Default::default(), None).unwrap();
        Rescue::new(
            me,
            HostFacts {
                user_home: self.path().to_path_buf(),
                exe: PathBuf::from("/nonexistent/openclaw"),
                xdg_runtime_dir: None,
            },
            vec![
                ("HOME".into(), self.path().display().to_string()),
                ("OPENCLAW_PROFILE".into(), "main".into()),
            ],
        )
    }
}

/// main (valid, port 20123, a bot token) and rescue (enabled, owner
/// telegram:42).
fn setup() -> (Home, Rescue) {
    let h = Home::new();
    h.instance(
        "main",
        json!({"gateway": {"port": 20123, "auth": {"mode": "token", "token": "main-gateway-token-123"}},
               "channels": {"telegram": {"botToken": "100:main-secret-token"}}}),
    );
    h.instance(
        "rescue",
        json!({"gateway": {"port": 20323}, "rescue": {"enabled": true},
               "commands": {"ownerAllowFrom": ["telegram:42"]}}),
    );
    let r = h.rescue();
    (h, r)
}

fn owner() -> Requester {
    Requester {
        id: "telegram:42".into(),
        owner: true,
        via: "command",
    }
}

fn stranger() -> Requester {
    Requester {
        id: "telegram:99".into(),
        owner: false,
        via: "command",
    }
}

fn ask(r: &Rescue, who: &Requester, text: &str) -> Reply {
    r.respond(who, command::parse(text))
}

/// The code in a "send /confirm XXXX" reply.
fn code_in(text: &str) -> String {
    let i = text
        .find("/confirm ")
        .unwrap_or_else(|| panic!("no code in {text}"));
    text[i + 9..i + 13].to_string()
}

#[test]
fn a_strangers_command_is_refused_logged_and_never_run() {
    let (_h, r) = setup();
    let reply = r
        .command(stranger(), "/restart main")
        .expect("a repair command")
        .now_or_never()
        .expect("answered at once");
    assert_eq!(reply, refusal("restart"));
    // Ordinary messages, and the bare /start and /help every Telegram
    // client sends first, go on through the pipeline (pairing).
    for text in ["hello", "/start", "/help", "/whatever main"] {
        assert!(r.command(stranger(), text).is_none(), "{text}");
    }
    let log = r.audit().read().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].requester, "telegram:99");
    assert_eq!(log[0].command, "/restart main");
    assert_eq!(log[0].outcome, "refused");
    assert!(!log[0].owner);
}

#[test]
fn nothing_is_a_command_while_the_role_is_off() {
    let (h, r) = setup();
    h.set("rescue", "rescue.enabled", json!(false));
    assert!(r.command(owner(), "/status main").is_none());
    assert!(r.command(stranger(), "/restart main").is_none());
}

#[test]
fn status_of_a_broken_main_gives_the_config_error_with_its_position() {
    let (h, r) = setup();
    std::fs::write(h.config("main"), BROKEN).unwrap();
    let reply = ask(&r, &owner(), "/status main");
    assert!(reply.ok, "{}", reply.text);
    let t = &reply.text;
    assert!(t.contains("profile main is DOWN"), "{t}");
    let config = h.config("main").display().to_string();
    assert!(t.contains(&format!("{config}:3:")), "{t}");
    assert!(t.contains("its config does not load"), "{t}");
    assert!(
        t.contains("port 20123 (from its last owner record)") || t.contains("port unknown"),
        "{t}"
    );
    assert!(t.contains("service openclaw-gateway-main.service"), "{t}");
    let log = r.audit().read().unwrap();
    assert_eq!(log.last().unwrap().outcome, "answered");
    assert_eq!(
        log.last().unwrap().target.as_deref(),
        Some(h.state("main").display().to_string().as_str())
    );
}

#[test]
fn rollback_needs_the_owners_confirmation_once() {
    let (h, r) = setup();
    // A good edit keeps the previous file as .bak; then the file breaks.
    h.set("main", "gateway.bind", json!("loopback"));
    std::fs::write(h.config("main"), BROKEN).unwrap();

    let asked = ask(&r, &owner(), "/config main rollback");
    assert!(asked.ok, "{}", asked.text);
    assert!(
        asked.text.contains("the current file is invalid"),
        "{}",
        asked.text
    );
    let code = code_in(&asked.text);
    assert_eq!(
        std::fs::read_to_string(h.config("main")).unwrap(),
        BROKEN,
        "nothing done yet"
    );

    // Another owner cannot use it; a wrong code does nothing.
    let other = Requester {
        id: "telegram:43".into(),
        owner: true,
        via: "command",
    };
    assert!(!ask(&r, &other, &format!("/confirm {code}")).ok);
    assert!(!ask(&r, &owner(), "/confirm ZZZZ").ok);
    let listed = ask(&r, &owner(), "/confirm");
    assert!(listed.text.contains(&code), "{}", listed.text);

    let done = ask(&r, &owner(), &format!("/confirm {}", code.to_lowercase()));
    assert!(done.ok, "{}", done.text);
    assert!(done.text.contains("it validates"), "{}", done.text);
    let loaded = openclaw_state::ConfigStore::new(h.config("main"))
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(loaded.parsed.config.gateway_port(), Some(20123));
    // Single use.
    assert!(!ask(&r, &owner(), &format!("/confirm {code}")).ok);
    let outcomes: Vec<String> = r
        .audit()
        .read()
        .unwrap()
        .into_iter()
        .map(|x| x.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            "pending", "rejected", "rejected", "answered", "done", "rejected"
        ]
    );
}

#[test]
fn a_rollback_to_an_invalid_backup_is_refused_before_any_code() {
    let (h, r) = setup();
    std::fs::write(
        openclaw_state::ConfigStore::new(h.config("main")).backup_path(),
        BROKEN,
    )
    .unwrap();
    let reply = ask(&r, &owner(), "/config main rollback");
    assert!(!reply.ok);
    assert!(
        reply.text.contains("does not validate either"),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains("/confirm"), "{}", reply.text);
}

#[test]
fn config_set_is_validated_first_and_refused_when_the_file_changed_since() {
    let (h, r) = setup();
    let bad = ask(&r, &owner(), "/config main set gateway.port not-a-port");
    assert!(!bad.ok);
    assert!(
        bad.text.contains("would not be a valid config"),
        "{}",
        bad.text
    );

    let asked = ask(&r, &owner(), "/config main set gateway.port 20555");
    assert!(asked.text.contains("gateway.port"), "{}", asked.text);
    assert!(asked.text.contains("20123 → 20555"), "{}", asked.text);
    let code = code_in(&asked.text);
    // Someone edits main's config in between: the base hash no longer
    // matches, nothing is written.
    h.set("main", "gateway.bind", json!("loopback"));
    let refused = ask(&r, &owner(), &format!("/confirm {code}"));
    assert!(!refused.ok);
    assert!(
        refused.text.contains("changed since you asked"),
        "{}",
        refused.text
    );
    let port = |h: &Home| {
        openclaw_state::ConfigStore::new(h.config("main"))
            .load()
            .unwrap()
            .unwrap()
            .parsed
            .config
            .gateway_port()
    };
    assert_eq!(port(&h), Some(20123));

    let code = code_in(&ask(&r, &owner(), "/config main set gateway.port 20555").text);
    let done = ask(&r, &owner(), &format!("/confirm {code}"));
    assert!(done.ok, "{}", done.text);
    assert_eq!(port(&h), Some(20555));
}

#[test]
fn secrets_are_never_echoed() {
    let (h, r) = setup();
    let asked = ask(
        &r,
        &owner(),
        "/config main set channels.telegram.botToken 100:brand-new-secret",
    );
    assert!(asked.ok, "{}", asked.text);
    assert!(!asked.text.contains("brand-new-secret"), "{}", asked.text);
    assert!(!asked.text.contains("main-secret-token"), "{}", asked.text);
    let code = code_in(&asked.text);
    let done = ask(&r, &owner(), &format!("/confirm {code}"));
    assert!(!done.text.contains("brand-new-secret"), "{}", done.text);
    for text in [
        "/config main get",
        "/config main get channels.telegram.botToken",
        "/config main get gateway.auth",
    ] {
        let got = ask(&r, &owner(), text);
        assert!(got.ok, "{}", got.text);
        for secret in ["brand-new-secret", "main-gateway-token-123"] {
            assert!(!got.text.contains(secret), "{text}: {}", got.text);
        }
    }
    let audit = std::fs::read_to_string(r.audit().path()).unwrap();
    assert!(!audit.contains("brand-new-secret"), "{audit}");
    let _ = h;
}

#[test]
fn a_rescue_instance_acts_only_on_its_targets_and_never_on_itself() {
    let (h, r) = setup();
    h.instance("work", json!({"gateway": {"port": 20523}}));
    let me = ask(&r, &owner(), "/status rescue");
    assert!(!me.ok);
    assert!(me.text.contains("never acts on itself"), "{}", me.text);
    let ghost = ask(&r, &owner(), "/status ghost");
    assert!(
        ghost.text.contains("no instance \"ghost\""),
        "{}",
        ghost.text
    );
    assert!(ask(&r, &owner(), "/status work").ok);

    h.set("rescue", "rescue.targets", json!(["main"]));
    let work = ask(&r, &owner(), "/logs work");
    assert!(!work.ok);
    assert!(
        work.text
            .contains("not one of this rescue instance's targets"),
        "{}",
        work.text
    );
    let list = ask(&r, &owner(), "/instances");
    assert!(list.text.contains("• main — "), "{}", list.text);
    assert!(list.text.contains("this rescue instance"), "{}", list.text);
    assert!(
        list.text.contains("not a target (rescue.targets)"),
        "{}",
        list.text
    );
    let outcome = r.audit().read().unwrap()[0].outcome.clone();
    assert_eq!(outcome, "denied");
}

#[test]
fn stopping_a_stopped_instance_or_starting_a_broken_one_asks_for_nothing() {
    let (h, r) = setup();
    let stop = ask(&r, &owner(), "/stop main");
    assert!(!stop.ok);
    assert!(
        stop.text.contains("not running; nothing to stop"),
        "{}",
        stop.text
    );
    std::fs::write(h.config("main"), BROKEN).unwrap();
    let start = ask(&r, &owner(), "/restart main");
    assert!(!start.ok);
    assert!(
        start.text.contains("its config does not load"),
        "{}",
        start.text
    );
    assert!(
        start.text.contains("/config main rollback"),
        "{}",
        start.text
    );
}

#[test]
fn logs_are_tailed_and_redacted() {
    let (h, r) = setup();
    let log = openclaw_state::logs::gateway_log_path(&h.state("main"));
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let lines: Vec<String> = (1..=30)
        .map(|i| format!("2026-01-01T00:00:{i:02}Z [gateway] info: line {i}"))
        .chain(["GET https://api.telegram.org/bot100:leaked-token-value/getMe failed".to_string()])
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let got = ask(&r, &owner(), "/logs main 3");
    assert!(got.text.contains("line 30"), "{}", got.text);
    assert!(!got.text.contains("line 28"), "{}", got.text);
    assert!(!got.text.contains("leaked-token-value"), "{}", got.text);
    let default = ask(&r, &owner(), "/logs main");
    assert!(default.text.contains("last 20 lines"), "{}", default.text);
}

fn caller(id: &str, owner: bool) -> openclaw_agent::Caller {
    openclaw_agent::Caller {
        id: id.into(),
        owner,
    }
}

#[test]
fn tools_belong_to_the_owners_direct_chat() {
    let (h, r) = setup();
    std::fs::write(h.config("main"), BROKEN).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let call = |name: &str, args: Value, session: &str, who: Option<openclaw_agent::Caller>| {
        rt.block_on(r.tool(name, args, session, who.as_ref()))
    };
    let owner_dm = || Some(caller("telegram:42", true));
    let st = call(
        "instance_status",
        json!({"profile": "main"}),
        "telegram:dm:42",
        owner_dm(),
    )
    .unwrap();
    assert!(st.contains(":3:"), "{st}");
    let e = call(
        "instance_status",
        json!({"profile": "main"}),
        "telegram:dm:99",
        Some(caller("telegram:99", false)),
    )
    .unwrap_err();
    assert!(e.contains("only the owner"), "{e}");
    // The session key says nothing about who asks: an owner's DM key with
    // a caller that is not the owner (or with no caller) is refused.
    for who in [Some(caller("webchat:telegram:dm:42", false)), None] {
        let e = call(
            "instance_config_get",
            json!({"profile": "main"}),
            "telegram:dm:42",
            who,
        )
        .unwrap_err();
        assert!(e.contains("only the owner"), "{e}");
    }
    let e = call("instances_list", json!({}), "telegram:group:-5", owner_dm()).unwrap_err();
    assert!(e.contains("direct chat"), "{e}");
    let e = call("instance_logs", json!({}), "telegram:dm:42", owner_dm()).unwrap_err();
    assert!(e.contains("missing string argument 'profile'"), "{e}");

    // A change through a tool is only parked; the owner confirms it in the
    // chat, as a command from the same requester.
    h.set("rescue", "rescue.enabled", json!(true));
    std::fs::write(
        openclaw_state::ConfigStore::new(h.config("main")).backup_path(),
        r#"{"gateway": {"port": 20123}}"#,
    )
    .unwrap();
    let parked = call(
        "instance_config_patch",
        json!({"profile": "main", "action": "rollback"}),
        "telegram:dm:42",
        owner_dm(),
    )
    .unwrap();
    let code = code_in(&parked);
    assert_eq!(std::fs::read_to_string(h.config("main")).unwrap(), BROKEN);
    let done = ask(&r, &owner(), &format!("/confirm {code}"));
    assert!(done.ok, "{}", done.text);

    // WebChat: a read+write connection (no operator.admin) is not the
    // owner, whatever its session key; its model cannot read main's config.
    let e = call(
        "instance_config_get",
        json!({"profile": "main", "path": "gateway"}),
        "main",
        Some(caller("webchat:main", false)),
    )
    .unwrap_err();
    assert!(e.contains("only the owner"), "{e}");
    // An admin connection's session is the operator's; a code issued
    // there is theirs.
    let web = call(
        "instance_config_patch",
        json!({"profile": "main", "action": "set", "path": "gateway.port", "value": 20600}),
        "main",
        Some(caller("webchat:main", true)),
    )
    .unwrap();
    let code = code_in(&web);
    assert!(!ask(&r, &owner(), &format!("/confirm {code}")).ok);
    let operator = Requester {
        id: "webchat:main".into(),
        owner: true,
        via: "command",
    };
    assert!(ask(&r, &operator, &format!("/confirm {code}")).ok);
    let audit = r.audit().read().unwrap();
    assert!(audit.iter().any(|x| x.via == "tool"));
    assert!(
        audit
            .iter()
            .any(|x| x.via == "tool" && !x.owner && x.outcome == "refused"),
        "{audit:?}"
    );
    h.set("rescue", "rescue.enabled", json!(false));
    let e = call("instances_list", json!({}), "telegram:dm:42", owner_dm()).unwrap_err();
    assert!(e.contains("rescue.enabled is false"), "{e}");
}

/// A unit under main's service name whose OPENCLAW_STATE_DIR is another
/// instance's is not main's service: `/status main` says whose it is, and
/// `/restart main` goes by main's owner record, leaving that unit alone.
#[test]
fn another_instances_unit_under_the_targets_name_is_never_used() {
    let (h, r) = setup();
    let unit = h
        .path()
        .join(".config/systemd/user/openclaw-gateway-main.service");
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    let elsewhere = h.path().join("elsewhere");
    std::fs::write(
        &unit,
        format!(
            "[Service]\nExecStart=/usr/bin/openclaw gateway --port 20999\nEnvironment=\"OPENCLAW_STATE_DIR={}\"\n",
            elsewhere.display()
        ),
    )
    .unwrap();
    let st = ask(&r, &owner(), "/status main");
    assert!(
        st.text.contains(&format!(
            "service openclaw-gateway-main.service: not installed for it: openclaw-gateway-main.service is not this instance's service: it belongs to instance at {}",
            elsewhere.display()
        )),
        "{}",
        st.text
    );
    let asked = ask(&r, &owner(), "/restart main");
    assert!(asked.ok, "{}", asked.text);
    assert!(
        asked
            .text
            .contains("as a detached gateway (no service installed)"),
        "{}",
        asked.text
    );
    assert!(asked.text.contains("it is left alone"), "{}", asked.text);
    assert!(
        !asked.text.contains("through its service"),
        "{}",
        asked.text
    );
}

/// `/logs` and `/status` never echo the target's secrets, also when its
/// config does not parse (the key is found in the broken text) or only
/// its backup still has it.
#[test]
fn logs_and_status_redact_the_targets_secrets_even_from_a_broken_config() {
    let (h, r) = setup();
    let key = "sk-live-4f9a8b7c6d5e4f3a2b1c";
    let old_key = "sk-old-0a1b2c3d4e5f6a7b8c9d";
    // The backup (.bak) holds the old key; the current file the new one,
    // broken.
    h.set("main", "models.providers.x.apiKey", json!(old_key));
    h.set(
        "main",
        "models.providers.x.baseUrl",
        json!("http://127.0.0.1:9"),
    );
    std::fs::write(
        h.config("main"),
        format!(
            "{{\n  gateway: {{ port: 20123,, }},\n  models: {{ providers: {{ x: {{ apiKey: \"{key}\" }} }} }},\n}}\n"
        ),
    )
    .unwrap();
    let bak =
        std::fs::read_to_string(openclaw_state::ConfigStore::new(h.config("main")).backup_path())
            .unwrap();
    assert!(bak.contains(old_key), "{bak}");
    let log = openclaw_state::logs::gateway_log_path(&h.state("main"));
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(
        &log,
        format!(
            "2026-01-01T00:00:01Z [openclaw_agent] warn: provider x refused the key {key}\n2026-01-01T00:00:02Z [openclaw_agent] warn: earlier key {old_key} was refused\n"
        ),
    )
    .unwrap();
    for text in ["/logs main", "/status main"] {
        let got = ask(&r, &owner(), text);
        assert!(
            got.text.contains("provider x refused the key"),
            "{text}: {}",
            got.text
        );
        assert!(!got.text.contains(key), "{text}: {}", got.text);
        assert!(!got.text.contains(old_key), "{text}: {}", got.text);
    }
}

/// The reason given for a command (a chat command's ` -- <reason>`, a
/// tool call's `reason`) is kept in its audit record, and in the record of
/// the confirmation that carries the change out; secrets in it are
/// redacted.
#[test]
fn the_audit_log_keeps_the_reason_given() {
    let (h, r) = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let chat = |text: &str| rt.block_on(r.command(owner(), text).expect("a command"));
    let asked = chat("/config main set logging.level \"debug\" -- need debug logs for the outage");
    assert!(asked.contains("/confirm "), "{asked}");
    let done = chat(&format!("/confirm {}", code_in(&asked)));
    assert!(done.starts_with("done"), "{done}");
    let level = openclaw_state::ConfigStore::new(h.config("main"))
        .load()
        .unwrap()
        .unwrap()
        .parsed
        .value["logging"]["level"]
        .clone();
    assert_eq!(level, json!("debug"), "the reason is not part of the value");
    // A stranger's refused attempt keeps theirs too, with a secret
    // redacted.
    let _ = rt.block_on(
        r.command(
            stranger(),
            "/restart main -- token 100:main-secret-token leaked",
        )
        .expect("a repair command"),
    );
    let tool = rt
        .block_on(r.tool(
            "instance_restart",
            json!({"profile": "main", "reason": "config fixed, needs a restart"}),
            "telegram:dm:42",
            Some(&caller("telegram:42", true)),
        ))
        .unwrap();
    assert!(tool.contains("/confirm "), "{tool}");
    let log = r.audit().read().unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|x| (x.via.as_str(), x.outcome.as_str(), x.reason.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("command", "pending", Some("need debug logs for the outage")),
            ("command", "done", Some("need debug logs for the outage")),
            ("command", "refused", Some("token <redacted> leaked")),
            ("tool", "pending", Some("config fixed, needs a restart")),
        ],
        "{log:?}"
    );
}

/// What a WebChat transcript records for a command: never a secret value.
#[test]
fn a_command_is_shown_in_a_transcript_without_its_secret() {
    assert_eq!(
        shown_command("/config main set channels.telegram.botToken 123:ABCDEF -- rotated"),
        "/config main set channels.telegram.botToken <redacted> -- rotated"
    );
    assert_eq!(shown_command("/status main"), "/status main");
    assert_eq!(shown_command("/logs main 500"), "/logs main 500");
    // A reason that quotes the new secret: redacted there too.
    assert_eq!(
        shown_command(
            "/config main set gateway.auth.password NewPass-771x -- rotating to NewPass-771x"
        ),
        "/config main set gateway.auth.password <redacted> -- rotating to <redacted>"
    );
    // A mistyped command may carry a secret: only its first word is shown.
    let shown = shown_command("/config main sett gateway.auth.password Hunter2SecretPw");
    assert!(!shown.contains("Hunter2"), "{shown}");
    assert!(shown.starts_with("/config "), "{shown}");
}
