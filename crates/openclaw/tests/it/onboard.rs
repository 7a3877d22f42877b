//! Issue 16: onboarding that ends with a bot you can message.
//!
//! The description's rescue-bot install, verbatim, on a fresh HOME:
//! `openclaw onboard` + `openclaw gateway install` for main, then
//! `openclaw --profile rescue onboard` + `openclaw --profile rescue gateway
//! install`, driven through a pseudo-terminal (rexpect; see the root
//! Cargo.toml for why that crate) against the local Bot API fixture
//! (`openclaw_channels::testing`, reached through OPENCLAW_TELEGRAM_API_ROOT)
//! and a fixture model server (`openclaw_agent::testing`, an
//! OpenAI-compatible base URL typed at the model prompt). The same result
//! non-interactively with flags and `--json`; IRC against a real ngircd and
//! Matrix against a real Synapse.
//!
//! There is no systemd user session here, so `gateway install` writes the
//! unit, does not load it and exits 1; onboarding then starts the gateway in
//! the background, and the tests message the bots through the fixture.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use openclaw_agent::testing::{Fixture, Reply, ok_sse, openai_text};
use openclaw_channels::testing::BotApiFixture;
use rexpect::process::WaitStatus;
use rexpect::session::{Options, PtySession};
use serde_json::Value;

use crate::harness::{BIN, TestHome, free_base_port, signal, text};

const MAIN_TOKEN: &str = "100:main-token";
const RESCUE_TOKEN: &str = "200:rescue-token";
const OWNER: i64 = 4242;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn answers(n: usize) -> Vec<Reply> {
    (0..n)
        .map(|_| ok_sse(openai_text(&["Hello ", "from the agent."])))
        .collect()
}

/// Stops (SIGTERM, then SIGKILL) the gateways onboarding started in the
/// background: they are not this test's children.
struct Reaper(Vec<PathBuf>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for dir in &self.0 {
            let Some(pid) = owner_pid(dir) else { continue };
            signal(pid as i32, libc::SIGTERM);
            let end = Instant::now() + Duration::from_secs(20);
            while Instant::now() < end && Path::new(&format!("/proc/{pid}")).exists() {
                std::thread::sleep(Duration::from_millis(50));
            }
            signal(pid as i32, libc::SIGKILL);
        }
    }
}

fn owner_pid(state_dir: &Path) -> Option<u32> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("gateway.owner.json")).ok()?).ok()?;
    v["pid"].as_u64().map(|p| p as u32)
}

fn config(h: &TestHome, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(h.join(rel)).unwrap()).unwrap()
}

fn footprint(h: &TestHome, profile: Option<&str>) -> HashSet<u64> {
    let mut a = vec![];
    if let Some(p) = profile {
        a.extend(["--profile", p]);
    }
    a.extend(["profiles", "show", "--json"]);
    let v = h.json(&a);
    let p = &v["instance"]["ports"];
    let mut s: HashSet<u64> = ["gateway", "browserControl", "canvas"]
        .iter()
        .map(|k| p[k]["value"].as_u64().unwrap())
        .collect();
    s.extend(
        p["cdpRange"]["value"][0].as_u64().unwrap()..=p["cdpRange"]["value"][1].as_u64().unwrap(),
    );
    s
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `openclaw <args>` on a pseudo-terminal with a clean environment.
fn pty(h: &TestHome, args: &[&str], env: &[(&str, &str)]) -> PtySession {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", h.path())
        .env("TERM", "xterm");
    for (k, v) in env {
        c.env(k, v);
    }
    let opts = Options::new()
        .timeout_ms(Some(90_000))
        .strip_ansi_escape_codes(true);
    let s = rexpect::session::spawn_with_options(c, opts).expect("spawn on a pty");
    // A wide terminal, so prompts and refusals are not wrapped.
    let fd = s.process().get_file_handle().unwrap();
    let ws = libc::winsize {
        ws_row: 50,
        ws_col: 400,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: TIOCSWINSZ on our pty master with a valid winsize.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    s
}

/// Waits for `needle`, quoting what was seen on failure.
fn exp(s: &mut PtySession, needle: &str) {
    if let Err(e) = s.exp_string(needle) {
        panic!("waiting for {needle:?}: {e}");
    }
}

fn send(s: &mut PtySession, keys: &str) {
    s.send(keys).unwrap();
    s.flush().unwrap();
}

/// Reads to the end and returns the exit code with the rest of the output.
fn finish(mut s: PtySession) -> (i32, String) {
    let rest = s
        .exp_eof()
        .unwrap_or_else(|e| panic!("waiting for the end: {e}"));
    match s.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => (code, rest),
        other => panic!("onboard ended with {other:?}: {rest}"),
    }
}

/// The model step: an OpenAI-compatible server at `url` that needs no key
/// and lists one model.
fn answer_model(s: &mut PtySession, url: &str) {
    exp(s, "Model provider");
    send(s, "jj\r");
    exp(s, "Base URL of the server");
    send(s, &format!("{url}\r"));
    exp(s, "API key (empty: the server needs none)");
    send(s, "\r");
    exp(s, "Model: custom/fixture-model");
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `gateway install` without a systemd user session: the unit is written,
/// not loaded, the finishing commands printed, exit 1 — while the gateway
/// onboarding started keeps running.
fn gateway_install_says_what_to_run(h: &TestHome, profile: Option<&str>, unit: &str) {
    let mut a = vec![];
    if let Some(p) = profile {
        a.extend(["--profile", p]);
    }
    a.extend(["gateway", "install"]);
    let out = h.run(&a);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("NOT installed"), "{err}");
    assert!(
        err.contains(&format!("systemctl --user enable --now {unit}")),
        "{err}"
    );
    assert!(h.join(&format!(".config/systemd/user/{unit}")).is_file());
}

#[test]
fn the_descriptions_rescue_install_through_a_terminal() {
    let rt = rt();
    let tg = rt.block_on(BotApiFixture::start());
    tg.add_bot(MAIN_TOKEN, 500, "main_bot");
    tg.add_bot(RESCUE_TOKEN, 600, "rescue_bot");
    let model = rt.block_on(Fixture::start(answers(4), false));
    model.set_models(&["fixture-model"]);
    let _g = rt.enter();
    let h = TestHome::new();
    let _reaper = Reaper(vec![h.join(".openclaw"), h.join(".openclaw-rescue")]);
    let env = [("OPENCLAW_TELEGRAM_API_ROOT", tg.api_root.as_str())];
    let main_port = free_base_port();

    // Main: `openclaw onboard`.
    let mut s = pty(&h, &["onboard"], &env);
    exp(&mut s, "Continue?");
    send(&mut s, "y");
    answer_model(&mut s, &model.base_url);
    exp(&mut s, "Channel: where you will message the bot");
    send(&mut s, "\r");
    exp(&mut s, "Telegram bot token (from @BotFather)");
    send(&mut s, &format!("{MAIN_TOKEN}\r"));
    exp(&mut s, "Telegram knows this bot: @main_bot");
    exp(&mut s, "Owner: who may run owner commands");
    send(&mut s, "j\r");
    exp(&mut s, "Your numeric Telegram user id");
    send(&mut s, &format!("{OWNER}\r"));
    exp(&mut s, "Port: base port 18789: the default");
    exp(&mut s, "Base port (Enter: 18789)");
    // A typed port is checked like the automatic one.
    send(&mut s, &format!("{main_port}\r"));
    exp(&mut s, &format!("Port: base port {main_port} (given)"));
    exp(&mut s, "Workspace directory");
    send(&mut s, "\r");
    exp(&mut s, "Install the gateway as a service and start it now?");
    send(&mut s, "y");
    exp(&mut s, "default profile is onboarded.");
    let (code, rest) = finish(s);
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("Telegram @main_bot"), "{rest}");
    assert!(rest.contains("running in the background"), "{rest}");
    assert!(
        rest.contains("telegram (default): running @main_bot"),
        "{rest}"
    );
    assert!(rest.contains("open https://t.me/main_bot"), "{rest}");
    gateway_install_says_what_to_run(&h, None, "openclaw-gateway.service");

    // Rescue: `openclaw --profile rescue onboard`.
    let mut s = pty(&h, &["--profile", "rescue", "onboard"], &env);
    exp(&mut s, "Continue?");
    send(&mut s, "y");
    answer_model(&mut s, &model.base_url);
    exp(&mut s, "Channel: where you will message the bot");
    send(&mut s, "\r");
    exp(&mut s, "Telegram bot token (from @BotFather)");
    // Main's token is refused on the spot, naming main.
    send(&mut s, &format!("{MAIN_TOKEN}\r"));
    exp(
        &mut s,
        "Refused: this bot token is already used by default profile (~/.openclaw)",
    );
    exp(&mut s, "The channel check failed: what now?");
    send(&mut s, "\r");
    exp(&mut s, "Channel: where you will message the bot");
    send(&mut s, "\r");
    exp(&mut s, "Telegram bot token (from @BotFather)");
    send(&mut s, &format!("{RESCUE_TOKEN}\r"));
    exp(&mut s, "Telegram knows this bot: @rescue_bot");
    exp(&mut s, "Owner: who may run owner commands");
    send(&mut s, "\r");
    exp(
        &mut s,
        "Make this the rescue instance? It can inspect and repair the others from your phone; it would watch default profile (~/.openclaw)",
    );
    send(&mut s, "y");
    exp(&mut s, "Port: picked base port");
    exp(&mut s, "clear of default profile");
    exp(&mut s, "Base port (Enter: ");
    // A port inside main's footprint is refused, naming main; then the
    // automatic choice.
    send(&mut s, &format!("{}\r", main_port + 2));
    exp(&mut s, "Refused: port");
    exp(&mut s, "default profile's");
    exp(&mut s, "Base port (Enter: ");
    send(&mut s, "\r");
    exp(&mut s, "Workspace directory");
    send(&mut s, "\r");
    exp(&mut s, "Install the gateway as a service and start it now?");
    send(&mut s, "y");
    exp(&mut s, "profile rescue is onboarded.");
    let (code, rest) = finish(s);
    assert_eq!(code, 0, "{rest}");
    assert!(
        rest.contains("rescue     on: watches default profile (~/.openclaw)"),
        "{rest}"
    );
    assert!(
        rest.contains("telegram (default): running @rescue_bot"),
        "{rest}"
    );
    assert!(
        rest.contains("openclaw --profile rescue pairing approve telegram <CODE>"),
        "{rest}"
    );
    gateway_install_says_what_to_run(&h, Some("rescue"), "openclaw-gateway-rescue.service");

    both_configured_and_messageable(&h, &tg);
}

/// Both instances: their own token files and models, non-overlapping
/// footprints, and a bot that answers.
fn both_configured_and_messageable(h: &TestHome, tg: &BotApiFixture) {
    let main = config(h, ".openclaw/openclaw.json");
    let rescue = config(h, ".openclaw-rescue/openclaw.json");
    for (cfg, dir, token) in [
        (&main, ".openclaw", MAIN_TOKEN),
        (&rescue, ".openclaw-rescue", RESCUE_TOKEN),
    ] {
        let t = &cfg["channels"]["telegram"];
        let file = h.join(&format!("{dir}/credentials/telegram-default.token"));
        assert_eq!(t["tokenFile"], file.display().to_string(), "{cfg}");
        assert!(t.get("botToken").is_none(), "{cfg}");
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            cfg["agents"]["defaults"]["model"]["primary"],
            "custom/fixture-model"
        );
        assert_eq!(cfg["models"]["providers"]["custom"]["auth"], "none");
        assert!(
            !cfg.to_string().contains(token),
            "no token in the config: {cfg}"
        );
    }
    assert_eq!(
        main["commands"]["ownerAllowFrom"],
        serde_json::json!(["telegram:4242"])
    );
    assert_eq!(
        main["channels"]["telegram"]["allowFrom"],
        serde_json::json!(["4242"])
    );
    assert!(main.get("rescue").is_none(), "{main}");
    assert_eq!(rescue["rescue"]["enabled"], true);
    assert!(
        rescue["commands"].get("ownerAllowFrom").is_none(),
        "{rescue}"
    );
    let (a, b) = (footprint(h, None), footprint(h, Some("rescue")));
    assert!(a.is_disjoint(&b), "footprints overlap");

    // The owner messages main: the agent answers.
    tg.push_dm(MAIN_TOKEN, OWNER, "hello");
    wait("main's answer", || {
        tg.texts_to(MAIN_TOKEN, OWNER)
            .iter()
            .any(|t| t.contains("Hello from the agent."))
    });
    // A stranger messages rescue: a pairing code, listed by `pairing list`.
    tg.push_dm(RESCUE_TOKEN, 777, "help");
    wait("rescue's pairing code", || {
        !tg.texts_to(RESCUE_TOKEN, 777).is_empty()
    });
    let list = h.json(&[
        "--profile",
        "rescue",
        "pairing",
        "list",
        "telegram",
        "--json",
    ]);
    assert!(list.to_string().contains("777"), "{list}");
}

#[test]
fn the_same_with_flags_and_json() {
    let rt = rt();
    let tg = rt.block_on(BotApiFixture::start());
    tg.add_bot(MAIN_TOKEN, 500, "main_bot");
    tg.add_bot(RESCUE_TOKEN, 600, "rescue_bot");
    let model = rt.block_on(Fixture::start(answers(4), false));
    model.set_models(&["fixture-model", "fixture-large"]);
    model.require_key("sk-fixture");
    let _g = rt.enter();
    let h = TestHome::new();
    let _reaper = Reaper(vec![h.join(".openclaw"), h.join(".openclaw-rescue")]);
    let secrets = h.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let write = |name: &str, v: &str| {
        let p = secrets.join(name);
        std::fs::write(&p, v).unwrap();
        p.display().to_string()
    };
    let key_file = write("model-key", "sk-fixture\n");
    let main_token = write("main-token", MAIN_TOKEN);
    let env = [("OPENCLAW_TELEGRAM_API_ROOT", tg.api_root.as_str())];
    let main_port = free_base_port().to_string();
    let base = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "onboard",
            "--non-interactive",
            "--accept-risk",
            "--auth-choice",
            "custom",
            "--custom-base-url",
            &model.base_url,
            "--custom-model",
            "fixture-model",
            "--custom-api-key-file",
            &key_file,
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };

    // A wrong key: what the provider answered, and nothing written.
    let bad = write("bad-key", "sk-wrong");
    let mut a = base(&["--port", &main_port]);
    let i = a.iter().position(|x| x == &key_file).unwrap();
    a[i] = bad.clone();
    let out = h.run_env(&strs(&a), &env);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Incorrect API key provided"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!h.join(".openclaw").exists());

    // Main.
    let a = base(&[
        "--port",
        &main_port,
        "--telegram-bot-token-file",
        &main_token,
        "--owner",
        "telegram:4242",
    ]);
    let v = h.json_env(&strs(&a), &env);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["model"]["primary"], "custom/fixture-model");
    assert_eq!(v["model"]["modelsListed"], 2);
    assert_eq!(v["channel"]["botUsername"], "main_bot");
    assert_eq!(v["channelState"]["state"], "running", "{v}");
    assert_eq!(v["owner"], "telegram:4242");
    assert_eq!(v["daemon"]["status"], "unavailable");
    assert_eq!(v["gateway"]["status"], "started-detached");
    assert_eq!(v["gateway"]["health"], "ok");
    assert_eq!(v["ports"]["gateway"].to_string(), main_port);
    let key = h.join(".openclaw/credentials/custom.key");
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim(), "sk-fixture");
    assert_eq!(mode(&key), 0o600);
    assert!(
        v["next"].to_string().contains("https://t.me/main_bot"),
        "{v}"
    );
    gateway_install_says_what_to_run(&h, None, "openclaw-gateway.service");

    // Rescue offered main's token (from stdin): refused naming main, and
    // nothing written; a literal token on the command line is warned about.
    let mut a = base(&["--telegram-bot-token-file", "-"]);
    a.insert(0, "rescue".into());
    a.insert(0, "--profile".into());
    let mut c = h.cmd(&strs(&a));
    for (k, val) in env {
        c.env(k, val);
    }
    let out = run_with_stdin(c, MAIN_TOKEN);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("this bot token is already used by default profile (~/.openclaw)"),
        "{err}"
    );
    assert!(!h.join(".openclaw-rescue/openclaw.json").exists());

    let mut a = base(&["--telegram-bot-token", RESCUE_TOKEN]);
    a.insert(0, "rescue".into());
    a.insert(0, "--profile".into());
    let out = h.run_env(&strs(&a), &env);
    let (stdout, err) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: --telegram-bot-token puts the secret in the process list"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["rescue"]["enabled"], true, "{v}");
    assert!(
        v["rescue"]["watches"]
            .to_string()
            .contains("default profile"),
        "{v}"
    );
    assert_eq!(v["owner"], "pairing");
    assert_eq!(v["channelState"]["state"], "running", "{v}");
    assert!(
        v["next"]
            .to_string()
            .contains("openclaw --profile rescue pairing approve telegram <CODE>"),
        "{v}"
    );
    gateway_install_says_what_to_run(&h, Some("rescue"), "openclaw-gateway-rescue.service");

    // The rescue token is in a file of rescue's own, not on the command line
    // of anything that runs.
    let rescue = config(&h, ".openclaw-rescue/openclaw.json");
    assert_eq!(
        rescue["channels"]["telegram"]["tokenFile"],
        h.join(".openclaw-rescue/credentials/telegram-default.token")
            .display()
            .to_string()
    );
    let (a, b) = (footprint(&h, None), footprint(&h, Some("rescue")));
    assert!(a.is_disjoint(&b), "footprints overlap");
    tg.push_dm(MAIN_TOKEN, OWNER, "hello");
    wait("main's answer", || {
        tg.texts_to(MAIN_TOKEN, OWNER)
            .iter()
            .any(|t| t.contains("Hello from the agent."))
    });
    // The chat request carried the key from the credentials file.
    let chat = model
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("a chat request");
    assert_eq!(chat.header("authorization"), Some("Bearer sk-fixture"));
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn run_with_stdin(mut c: Command, input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn without_a_terminal_it_says_how_to_run_non_interactively() {
    let h = TestHome::new();
    let out = h.run(&["onboard"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("stdin is not a terminal"), "{err}");
    assert!(err.contains("--telegram-bot-token-file"), "{err}");
    assert!(
        err.contains("hint: openclaw onboard --non-interactive --accept-risk"),
        "{err}"
    );
    assert!(!h.join(".openclaw").exists());

    // --help teaches the file and stdin variants of every secret.
    let help = text(&h.run(&["onboard", "--help"]).stdout);
    for flag in [
        "--openai-api-key-file",
        "--anthropic-api-key-file",
        "--custom-api-key-file",
        "--telegram-bot-token-file",
        "--irc-password-file",
        "--matrix-password-file",
        "--matrix-access-token-file",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    assert!(help.contains("process list"), "{help}");
    assert!(help.contains("(`-` = stdin)"), "{help}");

    // Two secrets cannot both come from stdin.
    let out = h.run(&[
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--openai-api-key-file",
        "-",
        "--telegram-bot-token-file",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("read stdin"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn answer_flags_need_non_interactive_and_an_owner_needs_a_channel() {
    let h = TestHome::new();
    // On a terminal, a flag that answers a question is not silently ignored.
    let s = pty(&h, &["onboard", "--owner", "telegram:42"], &[]);
    let (code, rest) = finish(s);
    assert_eq!(code, 2, "{rest}");
    assert!(
        rest.contains("--owner answers a question, so it needs --non-interactive"),
        "{rest}"
    );
    // Every other answer flag the prompts would not use, too: none is
    // silently dropped, and a literal secret is warned about even so.
    for argv in [
        &["--auth-choice", "openai-api-key"][..],
        &["--matrix-access-token-file", "/dev/null"],
        &["--irc-nickserv-password", "s3cret"],
        &["--irc-port", "7000"],
        &["--irc-channel", "#ops"],
        &["--irc-no-tls"],
        &["--irc-nickserv-password-file", "/dev/null"],
        &["--matrix-user-id", "@bot:example.org"],
        &["--matrix-access-token", "syt_x"],
    ] {
        let mut a = vec!["onboard"];
        a.extend_from_slice(argv);
        let (code, rest) = finish(pty(&h, &a, &[]));
        assert_eq!(code, 2, "{argv:?}: {rest}");
        assert!(
            rest.contains(&format!(
                "{} answers a question, so it needs --non-interactive",
                argv[0]
            )),
            "{argv:?}: {rest}"
        );
        let literal = ["--irc-nickserv-password", "--matrix-access-token"].contains(&argv[0]);
        assert_eq!(
            rest.contains(&format!(
                "warning: {} puts the secret in the process list",
                argv[0]
            )),
            literal,
            "{argv:?}: {rest}"
        );
        assert!(!h.join(".openclaw").exists(), "{argv:?}");
    }
    // An owner without a channel would create an empty channel section.
    let out = h.run(&[
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--skip-daemon",
        "--owner",
        "telegram:42",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("needs a Telegram channel"), "{err}");
    assert!(!h.join(".openclaw").exists());
}

#[test]
fn ctrl_c_at_a_prompt_leaves_nothing_behind() {
    let rt = rt();
    let model = rt.block_on(Fixture::start(vec![], false));
    model.set_models(&["fixture-model"]);
    let _g = rt.enter();
    let h = TestHome::new();
    let mut s = pty(&h, &["--profile", "rescue", "onboard"], &[]);
    exp(&mut s, "Continue?");
    send(&mut s, "y");
    // The model check passed; then Ctrl-C at the channel prompt.
    answer_model(&mut s, &model.base_url);
    exp(&mut s, "Channel: where you will message the bot");
    send(&mut s, "\x03");
    exp(&mut s, "Cancelled; nothing was written.");
    let (code, rest) = finish(s);
    assert_eq!(code, 1, "{rest}");
    assert!(!h.join(".openclaw-rescue").exists(), "state dir created");
    assert!(!h.join(".openclaw").exists());
}

#[test]
fn irc_login_checked_and_a_nick_of_another_instance_refused() {
    use openclaw_irc::testing::{Ngircd, TestClient};
    let rt = rt();
    let server = Ngircd::start();
    let port = server.port.to_string();
    let h = TestHome::new();
    let irc = |profile: &str, nick: &str| -> Vec<String> {
        [
            "--profile",
            profile,
            "onboard",
            "--non-interactive",
            "--accept-risk",
            "--skip-daemon",
            "--irc-host",
            "127.0.0.1",
            "--irc-port",
            &port,
            "--irc-no-tls",
            "--irc-nick",
            nick,
            "--irc-channel",
            "#ops",
            "--owner",
            "irc:owner!me@example.org",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let v = h.json(&strs(&irc("main", "mainbot")));
    assert_eq!(v["channel"]["nick"], "mainbot", "{v}");
    let cfg = config(&h, ".openclaw-main/openclaw.json");
    let i = &cfg["channels"]["irc"];
    assert_eq!(
        (i["host"].as_str(), i["nick"].as_str(), i["tls"].as_bool()),
        (Some("127.0.0.1"), Some("mainbot"), Some(false))
    );
    assert_eq!(i["channels"], serde_json::json!(["#ops"]));
    assert_eq!(i["allowFrom"], serde_json::json!(["owner!me@example.org"]));
    assert_eq!(
        cfg["commands"]["ownerAllowFrom"],
        serde_json::json!(["irc:owner!me@example.org"])
    );

    // Main's nick on the same server: refused naming main.
    let out = h.run(&strs(&irc("rescue", "MainBot")));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is already used by profile main (~/.openclaw-main)"),
        "{err}"
    );

    // A nick someone holds on the server: the registration check says so.
    let _holder = rt.block_on(TestClient::connect(server.port, "busybot"));
    let out = h.run(&strs(&irc("rescue", "busybot")));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the nick busybot is in use"), "{err}");
    // No gateway of rescue's runs: the nick is someone else's.
    assert!(err.contains("choose another nick"), "{err}");
    assert!(
        err.contains("hint: openclaw --profile rescue onboard --help"),
        "{err}"
    );
    assert!(!h.join(".openclaw-rescue/openclaw.json").exists());

    let v = h.json(&strs(&irc("rescue", "rescuebot")));
    assert_eq!(v["channel"]["nick"], "rescuebot", "{v}");
}

#[test]
fn matrix_login_keeps_the_token_not_the_password_and_refuses_a_shared_user() {
    use openclaw_matrix::testing::Synapse;
    let rt = rt();
    let hs = rt.block_on(Synapse::start());
    let bot = rt.block_on(hs.register("mainbot", "bot-password-1", false));
    let h = TestHome::new();
    let pw = h.join("pw");
    std::fs::write(&pw, "bot-password-1\n").unwrap();
    let wrong = h.join("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();
    let url = hs.url();
    let main_port = free_base_port();
    let run = |profile: &str, pw: &Path| {
        let port = main_port.to_string();
        let mut args = vec![
            "--profile",
            profile,
            "onboard",
            "--non-interactive",
            "--accept-risk",
            "--skip-daemon",
            "--matrix-homeserver",
            &url,
            "--matrix-user-id",
            &bot.user_id,
        ];
        let pw = pw.display().to_string();
        args.extend(["--matrix-password-file", &pw, "--json"]);
        if profile == "main" {
            args.extend(["--port", &port]);
        }
        h.run(&args)
    };
    let out = run("main", &wrong);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("M_FORBIDDEN"), "{err}");
    assert!(!h.join(".openclaw-main/openclaw.json").exists());

    let out = run("main", &pw);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg = config(&h, ".openclaw-main/openclaw.json");
    let m = &cfg["channels"]["matrix"];
    assert_eq!(m["userId"], bot.user_id.as_str());
    // The token is in the credentials dir (0600), named by the config;
    // the config itself holds no secret.
    assert!(m.get("accessToken").is_none(), "{cfg}");
    let token_file = h.join(".openclaw-main/credentials/matrix-default.token");
    assert_eq!(m["accessTokenFile"], token_file.display().to_string());
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(!token.trim().is_empty());
    assert!(!cfg.to_string().contains(token.trim()), "{cfg}");
    assert!(m.get("password").is_none(), "{cfg}");
    assert!(!cfg.to_string().contains("bot-password-1"));
    assert_eq!(m["autoJoin"], "always");
    // The token works.
    let client = openclaw_matrix::MatrixClient::new(&url)
        .unwrap()
        .with_token(token.trim());
    let who = rt.block_on(client.whoami()).unwrap();
    assert_eq!(who.user_id, bot.user_id);
    // The gateway logs in with the file the config names.
    {
        let _gw = crate::harness::GatewayChild::start(
            &h,
            &["--profile", "main", "gateway"],
            &[],
            main_port,
        );
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let out = h.run(&["--profile", "main", "channels", "status", "--json"]);
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let m = v["channels"]
                .as_array()
                .and_then(|a| a.iter().find(|c| c["channel"] == "matrix").cloned())
                .unwrap_or(Value::Null);
            if m["state"] == "running" {
                break;
            }
            assert!(Instant::now() < end, "matrix never ran: {m}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let out = run("rescue", &pw);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "Matrix user {} is already used by profile main",
            bot.user_id
        )),
        "{err}"
    );

    // An instance configured by hand with only an access token (no
    // userId): its gateway reports whom it logged in as, and onboarding
    // refuses that user on the spot too — by user id with a password, and
    // by the token's whoami.
    let tok = rt.block_on(hs.register("tokbot", "tok-password-1", false));
    let port = free_base_port();
    crate::harness::setup(&h, "tok", port);
    let section = serde_json::json!({"homeserver": url, "accessToken": tok.access_token});
    h.ok(&[
        "--profile",
        "tok",
        "config",
        "set",
        "channels.matrix",
        &section.to_string(),
    ]);
    let _gw = crate::harness::GatewayChild::start(&h, &["--profile", "tok", "gateway"], &[], port);
    wait("tok's Matrix channel", || {
        text(&h.run(&["--profile", "tok", "channels", "status"]).stdout)
            .contains(&format!("running {}", tok.user_id))
    });
    let tok_pw = h.join("tok-pw");
    std::fs::write(&tok_pw, "tok-password-1\n").unwrap();
    let tok_token = h.join("tok-token");
    std::fs::write(&tok_token, format!("{}\n", tok.access_token)).unwrap();
    let (tok_pw, tok_token) = (
        tok_pw.display().to_string(),
        tok_token.display().to_string(),
    );
    for login in [
        &[
            "--matrix-user-id",
            tok.user_id.as_str(),
            "--matrix-password-file",
            &tok_pw,
        ][..],
        &["--matrix-access-token-file", &tok_token],
    ] {
        let mut a = vec![
            "--profile",
            "rescue",
            "onboard",
            "--non-interactive",
            "--accept-risk",
            "--skip-daemon",
            "--matrix-homeserver",
            &url,
        ];
        a.extend_from_slice(login);
        let out = h.run(&a);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{login:?}: {err}");
        assert!(
            err.contains(&format!(
                "Matrix user {} is already used by profile tok",
                tok.user_id
            )),
            "{login:?}: {err}"
        );
    }
    assert!(!h.join(".openclaw-rescue/openclaw.json").exists());
}

/// Files under `dir`, sorted (temp files included: none may be left).
fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Re-onboarding on a terminal with a new model key while another command
/// changes the config: the config write is refused, and "nothing was
/// written" is true — the credentials file keeps the old key (a running
/// gateway would otherwise pick up the new one). Without the interference
/// the same answers are written, key included.
#[test]
fn a_refused_config_write_leaves_the_credentials_files_as_they_were() {
    let rt = rt();
    let model = rt.block_on(Fixture::start(vec![], false));
    model.set_models(&["fixture-model"]);
    model.require_key("sk-old");
    let _g = rt.enter();
    let h = TestHome::new();
    let old_key = h.join("old-key");
    std::fs::write(&old_key, "sk-old\n").unwrap();
    h.ok(&[
        "--profile",
        "main",
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--skip-daemon",
        "--auth-choice",
        "custom",
        "--custom-base-url",
        &model.base_url,
        "--custom-model",
        "fixture-model",
        "--custom-api-key-file",
        &old_key.display().to_string(),
    ]);
    let creds = h.join(".openclaw-main/credentials");
    let key = creds.join("custom.key");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "sk-old\n");
    model.require_key("sk-new");

    // Answers everything with the new key; `interfere` runs at the port
    // prompt, after every check passed and before anything is written.
    let reonboard = |interfere: &dyn Fn()| -> (i32, String) {
        let mut s = pty(&h, &["--profile", "main", "onboard", "--skip-daemon"], &[]);
        exp(&mut s, "Continue?");
        send(&mut s, "y");
        exp(&mut s, "Model provider");
        send(&mut s, "jj\r");
        exp(&mut s, "Base URL of the server");
        send(&mut s, &format!("{}\r", model.base_url));
        exp(&mut s, "API key (empty: the server needs none)");
        send(&mut s, "sk-new\r");
        exp(&mut s, "Model: custom/fixture-model");
        exp(&mut s, "Channel: where you will message the bot");
        send(&mut s, "jjj\r");
        exp(&mut s, "Base port (Enter: ");
        interfere();
        send(&mut s, "\r");
        exp(&mut s, "Workspace directory");
        send(&mut s, "\r");
        finish(s)
    };

    let (code, rest) = reonboard(&|| {
        h.ok(&[
            "--profile",
            "main",
            "config",
            "set",
            "logging.level",
            "debug",
        ]);
    });
    assert_eq!(code, 1, "{rest}");
    assert!(
        rest.contains("the config changed while onboarding was asking"),
        "{rest}"
    );
    assert!(rest.contains("nothing was written"), "{rest}");
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        "sk-old\n",
        "the credentials file was overwritten"
    );
    assert_eq!(
        dir_entries(&creds),
        ["custom.key"],
        "a staged file was left"
    );
    let cfg = config(&h, ".openclaw-main/openclaw.json");
    assert_eq!(cfg["logging"]["level"], "debug", "{cfg}");

    let (code, rest) = reonboard(&|| {});
    assert_eq!(code, 0, "{rest}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "sk-new\n");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(dir_entries(&creds), ["custom.key"]);
}

/// A gateway that holds the state dir's lock but has not written its owner
/// record yet (still starting, slow under load) is this instance's gateway:
/// onboarding keeps it and does not start a second one, which would only
/// find the state dir taken. Here a process that takes the same `flock`
/// stands in for it.
#[test]
fn a_gateway_still_starting_is_kept_not_raced() {
    let h = TestHome::new();
    let port = free_base_port().to_string();
    let dir = h.join(".openclaw-ob");
    std::fs::create_dir(&dir).unwrap();
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import fcntl, os, sys, time\n\
             fd = os.open(sys.argv[1], os.O_RDONLY)\n\
             fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n\
             print('locked', flush=True)\n\
             time.sleep(60)",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let out = h.run(&[
        "--profile",
        "ob",
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--port",
        &port,
        "--skip-health",
        "--json",
    ]);
    let _ = holder.kill();
    let _ = holder.wait();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["gateway"]["status"], "already-running", "{v}");
    assert_eq!(v["gateway"]["pid"], holder.id(), "{v}");
    assert!(
        stderr.contains(&format!(
            "found it still starting: pid {} holds the state dir",
            holder.id()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("started pid"), "{stderr}");
    assert!(!dir.join("gateway.owner.json").exists());
}

/// Re-onboarding an instance whose gateway is connected to IRC: its own
/// nick is not refused (the server would give the check another nick only
/// because this very instance holds it); the check is skipped and onboarding
/// says why. A nick in use while this instance's gateway runs gets the hint
/// to stop that gateway.
#[test]
fn re_onboarding_keeps_its_own_irc_nick_while_its_gateway_holds_it() {
    use openclaw_irc::testing::{Ngircd, TestClient};
    let rt = rt();
    let server = Ngircd::start();
    let port = server.port.to_string();
    let h = TestHome::new();
    let _reaper = Reaper(vec![h.join(".openclaw-main")]);
    let base = free_base_port().to_string();
    let irc = |nick: &str| -> Vec<String> {
        [
            "--profile",
            "main",
            "onboard",
            "--non-interactive",
            "--accept-risk",
            "--port",
            &base,
            "--irc-host",
            "127.0.0.1",
            "--irc-port",
            &port,
            "--irc-no-tls",
            "--irc-nick",
            nick,
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let v = h.json(&strs(&irc("mainbot")));
    assert_eq!(v["gateway"]["status"], "started-detached", "{v}");
    // As mainbot, not mainbot_: the check's own connection had let go of
    // the nick before the gateway connected.
    assert_eq!(
        v["channelState"]["line"], "irc (default): running mainbot",
        "{v}"
    );
    let pid = v["gateway"]["pid"].as_u64().unwrap();

    // Again, the same answers: the gateway holds mainbot, so the check is
    // skipped, saying why, and the gateway is kept.
    let out = h.run(&strs(&irc("mainbot")));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "registration check skipped: this instance's gateway (pid {pid}) is connected to 127.0.0.1:{port} as mainbot right now"
        )),
        "{stderr}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["gateway"]["status"], "already-running", "{v}");
    assert_eq!(v["gateway"]["pid"], pid, "{v}");
    assert_eq!(v["channelState"]["state"], "running", "{v}");

    // A nick someone else holds while this instance's gateway runs: refused,
    // with the hint to stop this instance's gateway (it might hold it).
    let _holder = rt.block_on(TestClient::connect(server.port, "busybot"));
    let out = h.run(&strs(&irc("busybot")));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the nick busybot is in use"), "{err}");
    assert!(
        err.contains(&format!("this instance's gateway (pid {pid}) is running")),
        "{err}"
    );
    assert!(
        err.contains("hint: openclaw --profile main gateway stop"),
        "{err}"
    );
    let cfg = config(&h, ".openclaw-main/openclaw.json");
    assert_eq!(cfg["channels"]["irc"]["nick"], "mainbot", "{cfg}");
}
