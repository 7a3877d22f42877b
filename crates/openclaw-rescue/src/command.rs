//! The owner commands, parsed from a chat message. Pure: table-tested.
//!
//! ```text
//! /help
//! /instances
//! /status <instance>
//! /logs <instance> [N]            N = 1..200, default 20
//! /doctor [<instance>]
//! /config <instance> get [<path>]
//! /config <instance> set <path> <json5>
//! /config <instance> unset <path>
//! /config <instance> validate
//! /config <instance> rollback
//! /start <instance>   /stop <instance>   /restart <instance>
//! /confirm [<code>]
//! ```
//!
//! Any command may end with ` -- <reason>` ([`split_reason`]): the reason
//! is kept in the audit log and changes nothing else.
//!
//! `<instance>` is a profile name, `default` (`~/.openclaw`) or the state
//! dir of an instance selected by `OPENCLAW_STATE_DIR`. The command word
//! may carry Telegram's `@botname` suffix (`/status@rescue_bot main`).

/// Lines `/logs` shows by default, and at most.
pub const DEFAULT_LOG_LINES: usize = 20;
pub const MAX_LOG_LINES: usize = 200;

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Instances,
    Status {
        target: String,
    },
    Logs {
        target: String,
        lines: usize,
    },
    Doctor {
        target: Option<String>,
    },
    Config {
        target: String,
        op: ConfigOp,
    },
    Lifecycle {
        target: String,
        op: LifeOp,
    },
    /// `/confirm` alone lists the caller's pending actions.
    Confirm {
        code: Option<String>,
    },
}

/// `/config <instance> ...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    Get {
        path: Option<String>,
    },
    /// `value` is the JSON5 text as typed (a plain string when it does not
    /// parse, like `openclaw config set`).
    Set {
        path: String,
        value: String,
    },
    Unset {
        path: String,
    },
    Validate,
    Rollback,
}

/// `/start`, `/stop`, `/restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifeOp {
    Start,
    Stop,
    Restart,
}

impl LifeOp {
    pub fn word(self) -> &'static str {
        match self {
            LifeOp::Start => "start",
            LifeOp::Stop => "stop",
            LifeOp::Restart => "restart",
        }
    }
}

/// The parse of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not one of our commands (no leading `/`, or another word): the
    /// message goes on to the agent like any other.
    NotCommand,
    /// A command, well formed.
    Command(Command),
    /// One of our command words with wrong arguments: the usage line.
    Usage { word: String, message: String },
}

impl Parsed {
    /// The command word (`status`, `config`, ...), when it is one of ours.
    pub fn word(&self) -> Option<&str> {
        match self {
            Parsed::NotCommand => None,
            Parsed::Command(c) => Some(c.word()),
            Parsed::Usage { word, .. } => Some(word),
        }
    }

    /// Whether a message that is not from an owner should be answered by a
    /// refusal (and logged) rather than go on through the pipeline. Bare
    /// `/start` and `/help` are what every Telegram client sends to a bot
    /// first: from a stranger they are ordinary messages (pairing).
    pub fn is_repair_attempt(&self, text: &str) -> bool {
        match self.word() {
            None => false,
            Some("start" | "help") => text.split_whitespace().count() > 1,
            Some(_) => true,
        }
    }
}

const WORDS: [&str; 10] = [
    "help",
    "instances",
    "status",
    "logs",
    "doctor",
    "config",
    "start",
    "stop",
    "restart",
    "confirm",
];

/// The usage line of each command word.
pub fn usage(word: &str) -> &'static str {
    match word {
        "help" => "/help",
        "instances" => "/instances",
        "status" => "/status <instance>",
        "logs" => "/logs <instance> [N]",
        "doctor" => "/doctor [<instance>]",
        "config" => {
            "/config <instance> get [<path>] | set <path> <json5> | unset <path> | validate | rollback"
        }
        "start" => "/start <instance>",
        "stop" => "/stop <instance>",
        "restart" => "/restart <instance>",
        "confirm" => "/confirm <code>",
        _ => "/help",
    }
}

impl Command {
    pub fn word(&self) -> &'static str {
        match self {
            Command::Help => "help",
            Command::Instances => "instances",
            Command::Status { .. } => "status",
            Command::Logs { .. } => "logs",
            Command::Doctor { .. } => "doctor",
            Command::Config { .. } => "config",
            Command::Lifecycle { op, .. } => op.word(),
            Command::Confirm { .. } => "confirm",
        }
    }

    /// The instance the command names, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            Command::Status { target }
            | Command::Logs { target, .. }
            | Command::Config { target, .. }
            | Command::Lifecycle { target, .. } => Some(target),
            Command::Doctor { target } => target.as_deref(),
            _ => None,
        }
    }

    /// The command as it may be written to the audit log: a value set
    /// under a secret key is replaced by `<redacted>`.
    pub fn audit_text(&self) -> String {
        match self {
            Command::Help => "/help".into(),
            Command::Instances => "/instances".into(),
            Command::Status { target } => format!("/status {target}"),
            Command::Logs { target, lines } => format!("/logs {target} {lines}"),
            Command::Doctor { target } => match target {
                Some(t) => format!("/doctor {t}"),
                None => "/doctor".into(),
            },
            Command::Config { target, op } => match op {
                ConfigOp::Get { path: Some(p) } => format!("/config {target} get {p}"),
                ConfigOp::Get { path: None } => format!("/config {target} get"),
                ConfigOp::Set { path, value } => {
                    let shown =
                        if openclaw_config::is_secret_path(path) || value_holds_secret(value) {
                            openclaw_config::TEXT_REDACTED.to_string()
                        } else {
                            value.clone()
                        };
                    format!("/config {target} set {path} {shown}")
                }
                ConfigOp::Unset { path } => format!("/config {target} unset {path}"),
                ConfigOp::Validate => format!("/config {target} validate"),
                ConfigOp::Rollback => format!("/config {target} rollback"),
            },
            Command::Lifecycle { target, op } => format!("/{} {target}", op.word()),
            Command::Confirm { code } => match code {
                Some(c) => format!("/confirm {c}"),
                None => "/confirm".into(),
            },
        }
    }
}

impl Command {
    /// Makes the secret a `/config ... set` carries known to
    /// [`openclaw_config::redact_text`], so it is redacted wherever it is
    /// repeated (a reason that quotes it, a reply, a log line), not only in
    /// [`Command::audit_text`]. Call before anything about the command is
    /// written.
    pub fn register_secret_values(&self) {
        let Command::Config {
            op: ConfigOp::Set { path, value },
            ..
        } = self
        else {
            return;
        };
        let v = openclaw_config::parse_cli_value(value);
        if openclaw_config::is_secret_path(path) {
            let mut known = vec![value.trim().to_string()];
            if let Some(s) = v.as_str() {
                known.push(s.to_string());
            }
            openclaw_config::register_secrets(known);
        } else {
            // The strings under secret-named keys of an object value (none
            // for any other value).
            openclaw_config::register_secrets(openclaw_config::secret_strings(&v));
        }
    }
}

/// Whether a typed value holds a secret (an object with a secret-named key,
/// or a URL with credentials).
fn value_holds_secret(raw: &str) -> bool {
    let v = openclaw_config::parse_cli_value(raw);
    openclaw_config::redact(&v) != v
}

/// Parses a message.
pub fn parse(text: &str) -> Parsed {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else {
        return Parsed::NotCommand;
    };
    let (head, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    // Telegram: `/status@rescue_bot main`.
    let word = head.split('@').next().unwrap_or("").to_ascii_lowercase();
    if !WORDS.contains(&word.as_str()) {
        return Parsed::NotCommand;
    }
    let usage_err = |why: &str| Parsed::Usage {
        message: if why.is_empty() {
            format!("usage: {}", usage(&word))
        } else {
            format!("{why}; usage: {}", usage(&word))
        },
        word: word.clone(),
    };
    let words: Vec<&str> = args.split_whitespace().collect();
    let cmd = match (word.as_str(), words.as_slice()) {
        ("help", _) => Command::Help,
        ("instances", []) => Command::Instances,
        ("status", [t]) => Command::Status {
            target: t.to_string(),
        },
        ("logs", [t]) => Command::Logs {
            target: t.to_string(),
            lines: DEFAULT_LOG_LINES,
        },
        ("logs", [t, n]) => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_LOG_LINES).contains(&n) => Command::Logs {
                target: t.to_string(),
                lines: n,
            },
            _ => {
                return usage_err(&format!(
                    "{n:?} is not a number of lines from 1 to {MAX_LOG_LINES}"
                ));
            }
        },
        ("doctor", []) => Command::Doctor { target: None },
        ("doctor", [t]) => Command::Doctor {
            target: Some(t.to_string()),
        },
        ("config", [t, op, ..]) => {
            let op_args: Vec<&str> = words[2..].to_vec();
            let op = match (op.to_ascii_lowercase().as_str(), op_args.as_slice()) {
                ("get", []) => ConfigOp::Get { path: None },
                ("get", [p]) => ConfigOp::Get {
                    path: Some(p.to_string()),
                },
                ("set", [p, _, ..]) => {
                    // The value is the rest of the message as typed
                    // (JSON5 may contain spaces).
                    let after_op = after_words(args, 3);
                    ConfigOp::Set {
                        path: p.to_string(),
                        value: after_op.to_string(),
                    }
                }
                ("unset", [p]) => ConfigOp::Unset {
                    path: p.to_string(),
                },
                ("validate", []) => ConfigOp::Validate,
                ("rollback", []) => ConfigOp::Rollback,
                _ => return usage_err(""),
            };
            Command::Config {
                target: t.to_string(),
                op,
            }
        }
        ("start" | "stop" | "restart", [t]) => Command::Lifecycle {
            target: t.to_string(),
            op: match word.as_str() {
                "start" => LifeOp::Start,
                "stop" => LifeOp::Stop,
                _ => LifeOp::Restart,
            },
        },
        ("confirm", []) => Command::Confirm { code: None },
        ("confirm", [c]) => Command::Confirm {
            code: Some(c.to_ascii_uppercase()),
        },
        _ => return usage_err(""),
    };
    Parsed::Command(cmd)
}

/// A command and the reason given for it: everything after the first
/// ` -- ` outside a quoted string (`/restart main -- stuck since the
/// provider outage`; `/config main set x 'a -- b'` has none). The reason
/// goes to the audit log only; it never changes what the command does.
pub fn split_reason(text: &str) -> (&str, Option<&str>) {
    match reason_separator(text) {
        Some(i) => {
            let why = text[i + 4..].trim();
            (&text[..i], (!why.is_empty()).then_some(why))
        }
        None => match text.trim_end().strip_suffix(" --") {
            Some(cmd) => (cmd, None),
            None => (text, None),
        },
    }
}

/// The byte offset of the first ` -- ` that is not inside a JSON5 string
/// ('single' or "double" quoted, backslash escapes).
fn reason_separator(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if bytes[i..].starts_with(b" -- ") => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

/// `s` after its first `n` whitespace-separated words, trimmed.
fn after_words(s: &str, n: usize) -> &str {
    let mut rest = s.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.trim_end()
}

/// The `/help` text.
pub fn help() -> String {
    let mut s = String::from(
        "Rescue commands (owner only; <instance> is a profile name, `default`, or a state dir):\n",
    );
    for (word, what) in [
        ("instances", "every instance on this host"),
        ("status", "is it running, and why not"),
        ("logs", "its last log lines"),
        ("doctor", "doctor's findings"),
        ("config", "read or change its config"),
        ("start", "start its gateway"),
        ("stop", "stop its gateway"),
        ("restart", "restart its gateway"),
        ("confirm", "carry out an action you asked for"),
    ] {
        s.push_str(&format!("{} — {what}\n", usage(word)));
    }
    s.push_str(
        "Changes (config set/unset/rollback, start, stop, restart) answer with a 4-character code first: send /confirm <code> within 5 minutes to carry them out.\nAdd ` -- <reason>` to any command to keep why in the audit log, e.g. /restart main -- stuck after the provider outage.",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(text: &str) -> Command {
        match parse(text) {
            Parsed::Command(c) => c,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn commands_parse() {
        let t = |s: &str| s.to_string();
        for (text, want) in [
            ("/help", Command::Help),
            ("/help me please", Command::Help),
            ("/instances", Command::Instances),
            ("  /status main ", Command::Status { target: t("main") }),
            (
                "/status@rescue_bot main",
                Command::Status { target: t("main") },
            ),
            ("/STATUS main", Command::Status { target: t("main") }),
            (
                "/logs main",
                Command::Logs {
                    target: t("main"),
                    lines: 20,
                },
            ),
            (
                "/logs ~/.openclaw-x 5",
                Command::Logs {
                    target: t("~/.openclaw-x"),
                    lines: 5,
                },
            ),
            ("/doctor", Command::Doctor { target: None }),
            (
                "/doctor default",
                Command::Doctor {
                    target: Some(t("default")),
                },
            ),
            (
                "/config main get",
                Command::Config {
                    target: t("main"),
                    op: ConfigOp::Get { path: None },
                },
            ),
            (
                "/config main get gateway.port",
                Command::Config {
                    target: t("main"),
                    op: ConfigOp::Get {
                        path: Some(t("gateway.port")),
                    },
                },
            ),
            (
                "/config main set agents.defaults.model {primary: \"fx/m\", fallbacks: []}",
                Command::Config {
                    target: t("main"),
                    op: ConfigOp::Set {
                        path: t("agents.defaults.model"),
                        value: t("{primary: \"fx/m\", fallbacks: []}"),
                    },
                },
            ),
            (
                "/config main unset channels.telegram.streaming",
                Command::Config {
                    target: t("main"),
                    op: ConfigOp::Unset {
                        path: t("channels.telegram.streaming"),
                    },
                },
            ),
            (
                "/config main validate",
                Command::Config {
                    target: t("main"),
                    op: ConfigOp::Validate,
                },
            ),
            (
                "/config main ROLLBACK",
                Command::Config {
                    target: t("main"),
                    op: ConfigOp::Rollback,
                },
            ),
            (
                "/restart main",
                Command::Lifecycle {
                    target: t("main"),
                    op: LifeOp::Restart,
                },
            ),
            (
                "/stop main",
                Command::Lifecycle {
                    target: t("main"),
                    op: LifeOp::Stop,
                },
            ),
            (
                "/start main",
                Command::Lifecycle {
                    target: t("main"),
                    op: LifeOp::Start,
                },
            ),
            ("/confirm", Command::Confirm { code: None }),
            (
                "/confirm k7qx",
                Command::Confirm {
                    code: Some(t("K7QX")),
                },
            ),
        ] {
            assert_eq!(cmd(text), want, "{text}");
        }
    }

    #[test]
    fn other_text_is_not_a_command() {
        for text in [
            "hello",
            "status main",
            "/statusx main",
            "/settings",
            "",
            "/",
            "what does /status main do?",
        ] {
            assert_eq!(parse(text), Parsed::NotCommand, "{text}");
        }
    }

    #[test]
    fn wrong_arguments_get_the_usage_line() {
        for (text, want) in [
            ("/status", "usage: /status <instance>"),
            ("/status a b", "usage: /status <instance>"),
            ("/instances main", "usage: /instances"),
            (
                "/logs main lots",
                "\"lots\" is not a number of lines from 1 to 200; usage: /logs <instance> [N]",
            ),
            (
                "/logs main 0",
                "\"0\" is not a number of lines from 1 to 200; usage: /logs <instance> [N]",
            ),
            (
                "/config main",
                "usage: /config <instance> get [<path>] | set <path> <json5> | unset <path> | validate | rollback",
            ),
            (
                "/config main set gateway.port",
                "usage: /config <instance> get [<path>] | set <path> <json5> | unset <path> | validate | rollback",
            ),
            (
                "/config main frobnicate",
                "usage: /config <instance> get [<path>] | set <path> <json5> | unset <path> | validate | rollback",
            ),
            ("/restart", "usage: /restart <instance>"),
            ("/confirm a b", "usage: /confirm <code>"),
        ] {
            match parse(text) {
                Parsed::Usage { message, .. } => assert_eq!(message, want, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_strangers_bare_start_and_help_are_ordinary_messages() {
        for (text, attempt) in [
            ("/start", false),
            ("/help", false),
            ("/start main", true),
            ("/restart main", true),
            ("/status", true),
            ("/confirm ABCD", true),
            ("hello", false),
            ("/unknown", false),
        ] {
            assert_eq!(parse(text).is_repair_attempt(text), attempt, "{text}");
        }
    }

    #[test]
    fn a_reason_follows_a_double_dash_and_changes_nothing_else() {
        let cases = [
            (
                "/restart main -- stuck since 9am",
                "/restart main",
                Some("stuck since 9am"),
            ),
            ("/restart main", "/restart main", None),
            ("/restart main --", "/restart main", None),
            ("/restart main --   ", "/restart main", None),
            (
                "/config main set gateway.port 19001 -- port clash with work",
                "/config main set gateway.port 19001",
                Some("port clash with work"),
            ),
            ("/status main -- a -- b", "/status main", Some("a -- b")),
            // ` -- ` inside a quoted value is part of the value.
            (
                "/config main set gateway.auth.password 'Blue -- Sky42' -- new one",
                "/config main set gateway.auth.password 'Blue -- Sky42'",
                Some("new one"),
            ),
            (
                r#"/config main set ui.title "a \" -- b""#,
                r#"/config main set ui.title "a \" -- b""#,
                None,
            ),
        ];
        for (text, command, reason) in cases {
            assert_eq!(split_reason(text), (command, reason), "{text}");
        }
        let (c, _) = split_reason("/restart main -- because");
        assert_eq!(cmd(c), cmd("/restart main"));
    }

    #[test]
    fn the_audit_text_never_holds_a_secret() {
        let c = cmd("/config main set channels.telegram.botToken 123:ABCDEF");
        assert_eq!(
            c.audit_text(),
            "/config main set channels.telegram.botToken <redacted>"
        );
        let c = cmd("/config main set gateway.auth {mode: \"token\", token: \"s3cr3t-value\"}");
        assert_eq!(c.audit_text(), "/config main set gateway.auth <redacted>");
        let c = cmd("/config main set gateway.port 19001");
        assert_eq!(c.audit_text(), "/config main set gateway.port 19001");
    }
}
