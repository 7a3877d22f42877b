//! `openclaw agent`, `openclaw sessions list`, `openclaw dashboard`: talk to
//! this instance's agents through its running gateway.

use std::io::Write;

use clap::{Args, Subcommand};
use openclaw_client::{Client, Probe};
use openclaw_instance::Instance;
use serde_json::{Value, json};

use crate::cmd::gateway::{
    CLIENT_TIMEOUT, client_credentials, connect_running, probe_error, runtime,
};
use crate::ctx::Ctx;
use crate::error::{CliError, CliResult, exit};
use crate::output::print_json;

/// Send a message to an agent through the running gateway and stream the answer.
///
/// The answer streams to stdout; tool calls and their results go to stderr.
/// Example: openclaw --profile rescue agent --message "list the workspace"
///
/// On a rescue instance, its commands and instance tools act only for the
/// owner, which here means a connection holding operator.admin: a message
/// that is a command (`/status main`) asks for it, and so does --admin
/// (for an agent turn that should be able to use the instance tools).
/// Example: openclaw --profile rescue agent --message "/status main"
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct AgentArgs {
    /// The message
    #[arg(long, short)]
    pub message: String,
    /// Session key (default: main)
    #[arg(long)]
    pub session: Option<String>,
    /// Agent id (default: main)
    #[arg(long)]
    pub agent: Option<String>,
    /// Print one JSON object with the outcome instead of streaming text
    #[arg(long)]
    pub json: bool,
    /// Ask for operator.admin too (granted when gateway.auth.scopes allows
    /// it): the rescue role's tools act only for an admin connection
    #[arg(long)]
    pub admin: bool,
}

/// The scopes `openclaw agent` asks for: read and write, plus admin when
/// asked (`--admin`) or when the message is a command (`/status main`),
/// which the rescue role answers only for the owner.
fn agent_scopes(message: &str, admin: bool) -> Vec<&'static str> {
    let mut scopes = vec!["operator.read", "operator.write"];
    if admin || message.trim_start().starts_with('/') {
        scopes.push("operator.admin");
    }
    scopes
}

/// The text of a `chat` event's `message` (`text`, or the `content` parts'
/// texts, as the Control UI reads it).
fn message_text(m: &Value) -> Option<String> {
    if let Some(t) = m["text"].as_str() {
        return Some(t.to_string());
    }
    let parts: Vec<&str> = m["content"]
        .as_array()?
        .iter()
        .filter(|p| p["type"] == "text")
        .filter_map(|p| p["text"].as_str())
        .collect();
    (!parts.is_empty()).then(|| parts.concat())
}

/// What is left to print of the final answer after `streamed` was printed
/// from its deltas: the rest when the final text continues it (a reply
/// that came only as a final message, with no deltas, is printed whole);
/// nothing when it differs (the streamed text stands).
fn unprinted<'a>(streamed: &str, final_text: &'a str) -> &'a str {
    final_text.strip_prefix(streamed).unwrap_or("")
}

#[derive(Subcommand, Debug)]
pub enum SessionsCmd {
    /// List the sessions of an agent
    List(SessionsListArgs),
}

#[derive(Args, Debug)]
pub struct SessionsListArgs {
    /// Agent id (default: main)
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Print (and open) the link to this instance's WebChat / control page.
#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// Only print the link
    #[arg(long)]
    pub no_open: bool,
}

/// A connected client to this instance's gateway.
async fn connect(ctx: &Ctx, scopes: &[&str]) -> CliResult<(Instance, Client)> {
    let (inst, _, client) =
        connect_running(ctx, scopes, "agents run inside the gateway; start it first").await?;
    Ok((inst, client))
}

/// `openclaw agent --message ...`
pub fn agent(ctx: &Ctx, args: AgentArgs) -> CliResult<u8> {
    let rt = runtime()?;
    rt.block_on(agent_async(ctx, args))
}

async fn agent_async(ctx: &Ctx, args: AgentArgs) -> CliResult<u8> {
    let scopes = agent_scopes(&args.message, args.admin);
    let (inst, mut client) = connect(ctx, &scopes).await?;
    let granted = &client.hello().auth.scopes;
    if scopes.contains(&"operator.admin") && !granted.iter().any(|g| g == "operator.admin") {
        eprintln!(
            "openclaw: note: this gateway did not grant operator.admin (gateway.auth.scopes: {}), so rescue commands and instance tools will refuse to act; allow it with `{}`",
            granted.join(", "),
            inst.command("config unset gateway.auth.scopes")
        );
    }
    let mut params = json!({
        "message": args.message,
        "idempotencyKey": openclaw_state::generate_token(),
    });
    if let Some(s) = &args.session {
        params["sessionKey"] = json!(s);
    }
    if let Some(a) = &args.agent {
        params["agentId"] = json!(a);
    }
    let accepted = client.call("chat.send", params).await.map_err(|e| {
        CliError::new("the gateway did not start the turn", inst.label(), e)
            .hint(inst.command("models status"))
    })?;
    let run_id = accepted["runId"].as_str().unwrap_or_default().to_string();
    // The wire names sessions `agent:<id>:<key>`; users name them by key.
    let session =
        openclaw_protocol::session_key::parse(accepted["sessionKey"].as_str().unwrap_or("main"))
            .key
            .to_string();
    let agent_id = accepted["agentId"].as_str().unwrap_or("main").to_string();
    let mut out = std::io::stdout().lock();
    let mut tools: Vec<Value> = Vec::new();
    let mut text = String::new();
    let (state, error_message, error_kind) = loop {
        let Some(ev) = client.next_event().await else {
            return Err(CliError::new(
                "the connection to the gateway closed during the turn",
                inst.label(),
                "the gateway stopped or restarted; the session keeps what was recorded",
            )
            .code(exit::NOT_RUNNING)
            .hint(inst.command("status")));
        };
        let p = &ev.payload;
        if p["runId"].as_str() != Some(run_id.as_str()) {
            continue;
        }
        match ev.event.as_str() {
            "chat" => {
                let state = p["state"].as_str().unwrap_or("");
                if state == "delta" {
                    let d = p["delta"].as_str().unwrap_or("");
                    text.push_str(d);
                    if !args.json {
                        let _ = out.write_all(d.as_bytes());
                        let _ = out.flush();
                    }
                } else {
                    if let Some(t) = message_text(&p["message"]) {
                        if !args.json {
                            let _ = out.write_all(unprinted(&text, &t).as_bytes());
                            let _ = out.flush();
                        }
                        text = t;
                    }
                    break (
                        state.to_string(),
                        p["errorMessage"].as_str().map(str::to_string),
                        p["errorKind"].as_str().map(str::to_string),
                    );
                }
            }
            "agent" if p["stream"] == "tool" => {
                let d = &p["data"];
                let name = d["name"].as_str().unwrap_or("?");
                if d["phase"] == "call" {
                    if !args.json {
                        eprintln!("[tool] {name} {}", d["args"]);
                    }
                    tools.push(json!({"id": d["toolCallId"], "name": name, "args": d["args"]}));
                } else if d["phase"] == "result" {
                    let ok = d["ok"].as_bool().unwrap_or(false);
                    let output = d["output"].as_str().unwrap_or("");
                    if !args.json {
                        eprintln!(
                            "[tool] {name} {}: {}",
                            if ok { "ok" } else { "refused/failed" },
                            openclaw_agent::excerpt(output, 300)
                        );
                    }
                    if let Some(t) = tools.iter_mut().rev().find(|t| t["id"] == d["toolCallId"]) {
                        t["ok"] = json!(ok);
                        t["output"] = json!(output);
                    }
                }
            }
            _ => {}
        }
    };
    client.close().await;
    if !args.json && !text.is_empty() && !text.ends_with('\n') {
        let _ = writeln!(out);
    }
    if args.json {
        print_json(&json!({
            "runId": run_id,
            "agentId": agent_id,
            "sessionKey": session,
            "status": match state.as_str() { "final" => "ok", s => s },
            "text": text,
            "tools": tools,
            "error": error_message.as_ref().map(|m| json!({"kind": error_kind, "message": m})),
        }));
    }
    match state.as_str() {
        "final" => Ok(exit::OK),
        "aborted" => Err(CliError::new(
            "the turn was aborted",
            format!("agent {agent_id}, session {session}"),
            "chat.abort was called; the partial answer is kept in the session",
        )),
        _ => {
            let msg = error_message.unwrap_or_else(|| "the turn failed".into());
            let hint = match error_kind.as_deref() {
                Some("auth" | "config") => inst.command("models status"),
                _ => inst.command(&format!(
                    "agent --session {session} --message \"...\"  (the session stays usable)"
                )),
            };
            Err(CliError::new(
                format!(
                    "the agent turn failed ({})",
                    error_kind.as_deref().unwrap_or("error")
                ),
                format!("agent {agent_id}, session {session}"),
                msg,
            )
            .hint(hint))
        }
    }
}

/// `openclaw sessions list`
pub fn sessions(ctx: &Ctx, cmd: SessionsCmd) -> CliResult<u8> {
    let SessionsCmd::List(args) = cmd;
    let rt = runtime()?;
    let v = rt.block_on(async {
        let (inst, client) = connect(ctx, &["operator.read"]).await?;
        let mut params = json!({});
        if let Some(a) = &args.agent {
            params["agentId"] = json!(a);
        }
        let r = client.call("sessions.list", params).await;
        client.close().await;
        r.map_err(|e| CliError::new("sessions.list failed", inst.label(), e))
    })?;
    if args.json {
        print_json(&v);
        return Ok(exit::OK);
    }
    let list = v["sessions"].as_array().cloned().unwrap_or_default();
    match &args.agent {
        Some(a) => println!(
            "agent {a} · {} session(s) · {}",
            list.len(),
            v["dir"].as_str().unwrap_or("")
        ),
        None => println!("{} session(s), every agent", list.len()),
    }
    for s in list {
        println!(
            "  {:<26} {:>4} records  {}{}",
            s["key"].as_str().unwrap_or(""),
            s["messageCount"].as_u64().unwrap_or(0),
            openclaw_agent::excerpt(s["preview"].as_str().unwrap_or(""), 60),
            if s["running"] == true {
                "  (running)"
            } else {
                ""
            }
        );
    }
    Ok(exit::OK)
}

/// `openclaw dashboard`
pub fn dashboard(ctx: &Ctx, args: DashboardArgs) -> CliResult<u8> {
    let (config, inst) = ctx.config_and_instance(None)?;
    let creds = client_credentials(config.as_ref());
    let rt = runtime()?;
    // The link carries the token only to this instance's own, running
    // gateway (verified like every client command): a page served by
    // whatever else holds the port could read it from the fragment.
    let (port, verified) = match rt.block_on(openclaw_client::probe_with(
        &inst,
        &creds,
        CLIENT_TIMEOUT,
    )) {
        Ok(Probe::Running { port, .. }) => (port, true),
        Ok(Probe::Stopped { .. }) => {
            eprintln!(
                "openclaw: note: the gateway is not running, so the link carries no token; start it with `{}` and run `{}` again",
                inst.command("gateway"),
                inst.command("dashboard")
            );
            (inst.ports.gateway.value, false)
        }
        Err(e) => return Err(probe_error(&inst, e)),
    };
    // A token can travel in the link; a password is typed into the page.
    let url = match &creds.token {
        Some(t) if verified => format!("http://127.0.0.1:{port}/#token={}", encode(t)),
        _ => format!("http://127.0.0.1:{port}/"),
    };
    println!("{url}");
    if args.no_open {
        return Ok(exit::OK);
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    let opener = if cfg!(target_os = "macos") {
        Some("open")
    } else if display {
        Some("xdg-open")
    } else {
        None
    };
    match opener {
        Some(cmd) => match std::process::Command::new(cmd)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(_) => eprintln!("opened with {cmd}"),
            Err(e) => eprintln!("could not run {cmd} ({e}); open the link above yourself"),
        },
        None => eprintln!("no display here; open the link above in a browser on this machine"),
    }
    Ok(exit::OK)
}

/// Percent-encodes for a URL fragment value: everything but RFC 3986's
/// unreserved characters.
fn encode(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const FRAGMENT_VALUE: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, FRAGMENT_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_only_answer_is_printed_whole_and_a_streamed_one_once() {
        assert_eq!(unprinted("", "instances: 2"), "instances: 2");
        assert_eq!(unprinted("Hel", "Hello"), "lo");
        assert_eq!(unprinted("Hello", "Hello"), "");
        assert_eq!(unprinted("partial", "something else"), "");
        let m = json!({"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]});
        assert_eq!(message_text(&m).as_deref(), Some("ab"));
        assert_eq!(message_text(&json!({"text": "t"})).as_deref(), Some("t"));
        assert_eq!(message_text(&json!(null)), None);
    }

    #[test]
    fn commands_and_admin_ask_for_the_admin_scope() {
        let rw = ["operator.read", "operator.write"];
        assert_eq!(agent_scopes("list the workspace", false), rw);
        assert_eq!(
            agent_scopes("  /status main", false),
            [&rw[..], &["operator.admin"]].concat()
        );
        assert_eq!(
            agent_scopes("diagnose main", true),
            [&rw[..], &["operator.admin"]].concat()
        );
    }
}
