//! The agent's tools: workspace-confined file tools, opt-in `exec`, a
//! gateway-supplied `browser`, and, on a rescue instance, the
//! gateway-supplied instance tools ([`INSTANCE_TOOLS`]).

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::provider::ToolSpec;

/// Largest file content `read` returns.
pub const READ_CAP: usize = 256 * 1024;
/// Most entries `list` returns.
pub const LIST_CAP: usize = 1000;

/// `tools.exec` settings. Off unless `enabled`.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    pub enabled: bool,
    pub timeout: Duration,
    /// Cap per stream (stdout, stderr) in bytes.
    pub max_output_bytes: usize,
    /// The complete environment of the child (the library reads no env).
    pub env: Vec<(String, String)>,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            enabled: false,
            timeout: Duration::from_secs(60),
            max_output_bytes: 64 * 1024,
            env: vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())],
        }
    }
}

/// The browser control service of the instance, supplied by the gateway.
/// Each call returns text for the model, or an error message.
pub trait BrowserTool: Send + Sync {
    fn open(&self, url: &str) -> BoxFuture<'_, Result<String, String>>;
    fn snapshot(&self) -> BoxFuture<'_, Result<String, String>>;
    /// `action` is passed through from the model (e.g. `{"kind":"click","ref":"e12"}`).
    fn act(&self, action: Value) -> BoxFuture<'_, Result<String, String>>;
    fn screenshot(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// The rescue role's tools: inspect and repair the other instances on this
/// host. Their specs are here (the registry); the gateway supplies the
/// implementation ([`InstanceTools`], the same code as the owner commands
/// `/instances`, `/status`, ...).
pub const INSTANCE_TOOLS: [&str; 7] = [
    "instances_list",
    "instance_status",
    "instance_logs",
    "instance_doctor",
    "instance_config_get",
    "instance_config_patch",
    "instance_restart",
];

/// Who a turn runs for, as whoever started the turn established it: a
/// channel's pipeline from the message's sender (owner: in
/// `commands.ownerAllowFrom` by the channel's own matcher, in a direct
/// chat), the gateway from the connection that sent `chat.send` (owner: it
/// holds `operator.admin`). Never inferred from the session key, which a
/// client chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `<channel>:<senderId>`, or `webchat:<sessionKey>`.
    pub id: String,
    /// Whether the owner-only tools ([`INSTANCE_TOOLS`]) may act for it.
    pub owner: bool,
}

/// The implementation of [`INSTANCE_TOOLS`], supplied by a rescue gateway.
/// `session_key` is the session the turn runs in; `caller` is who the turn
/// runs for (`None`: unknown, which must be treated as not an owner). A
/// tool that would change an instance does not: it answers with a
/// confirmation code the owner must send as `/confirm <code>` in the chat.
pub trait InstanceTools: Send + Sync {
    fn call(
        &self,
        name: &str,
        args: Value,
        session_key: &str,
        caller: Option<&Caller>,
    ) -> BoxFuture<'static, Result<String, String>>;
}

/// The specs of [`INSTANCE_TOOLS`].
pub fn instance_tool_specs() -> Vec<ToolSpec> {
    let profile = json!({"type": "string", "description": "The instance: a profile name (e.g. \"main\"), \"default\" for ~/.openclaw, or the state dir of an instance selected by OPENCLAW_STATE_DIR"});
    let spec = |name: &str, description: &str, parameters: Value| ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
    };
    vec![
        spec(
            "instances_list",
            "List every OpenClaw instance on this host: profile, running or stopped, port, health, service state, and whether this rescue instance may act on it.",
            json!({"type": "object", "properties": {}}),
        ),
        spec(
            "instance_status",
            "Status of one instance: paths, ports, whether its gateway runs and answers, and why it is down when it is (its config error with file:line:col, the last lines of its log, its service's last exit code and restart count).",
            json!({"type": "object", "properties": {"profile": profile}, "required": ["profile"]}),
        ),
        spec(
            "instance_logs",
            "The last lines of one instance's gateway log (secrets redacted).",
            json!({"type": "object", "properties": {
                "profile": profile,
                "lines": {"type": "integer", "minimum": 1, "maximum": 200, "description": "How many lines (default 20)"}
            }, "required": ["profile"]}),
        ),
        spec(
            "instance_doctor",
            "Doctor's findings about one instance (or, without a profile, the whole host): port overlaps, shared files, service drift, permissions, shared bot tokens.",
            json!({"type": "object", "properties": {"profile": profile}}),
        ),
        spec(
            "instance_config_get",
            "Read one instance's config, whole or one dotted key path (secrets are redacted). Also says whether the file validates.",
            json!({"type": "object", "properties": {
                "profile": profile,
                "path": {"type": "string", "description": "Dotted key path, e.g. gateway.port; omit for the whole config"}
            }, "required": ["profile"]}),
        ),
        spec(
            "instance_config_patch",
            "Change one instance's config: set a key, unset a key, or roll back to the kept backup (openclaw.json.bak, only if it validates). The change is validated first and NOT applied now: the answer holds a confirmation code; tell the owner to send /confirm <code> to apply it.",
            json!({"type": "object", "properties": {
                "profile": profile,
                "action": {"type": "string", "enum": ["set", "unset", "rollback"]},
                "path": {"type": "string", "description": "For set/unset: dotted key path"},
                "value": {"description": "For set: the new value (any JSON)"},
                "reason": {"type": "string", "description": "Why: what you found that this fixes (kept in the rescue audit log)"}
            }, "required": ["profile", "action"]}),
        ),
        spec(
            "instance_restart",
            "Restart one instance's gateway (start it when it is stopped), through its service when one is installed. NOT done now: the answer holds a confirmation code; tell the owner to send /confirm <code>.",
            json!({"type": "object", "properties": {
                "profile": profile,
                "reason": {"type": "string", "description": "Why: what you found that this fixes (kept in the rescue audit log)"}
            }, "required": ["profile"]}),
        ),
    ]
}

/// Result of one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub ok: bool,
    pub output: String,
}

impl ToolOutcome {
    fn ok(output: impl Into<String>) -> Self {
        ToolOutcome {
            ok: true,
            output: output.into(),
        }
    }
    fn err(output: impl Into<String>) -> Self {
        ToolOutcome {
            ok: false,
            output: output.into(),
        }
    }
}

/// Tools available to one agent.
#[derive(Clone)]
pub struct Toolbox {
    agent_id: String,
    workspace: PathBuf,
    exec: ExecSettings,
    browser: Option<Arc<dyn BrowserTool>>,
    instances: Option<Arc<dyn InstanceTools>>,
}

impl Toolbox {
    pub fn new(
        agent_id: impl Into<String>,
        workspace: impl Into<PathBuf>,
        exec: ExecSettings,
        browser: Option<Arc<dyn BrowserTool>>,
    ) -> Self {
        Toolbox {
            agent_id: agent_id.into(),
            workspace: workspace.into(),
            exec,
            browser,
            instances: None,
        }
    }

    /// This toolbox with the instance tools ([`INSTANCE_TOOLS`]) of a rescue
    /// instance.
    pub fn with_instance_tools(mut self, tools: Arc<dyn InstanceTools>) -> Self {
        self.instances = Some(tools);
        self
    }

    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// Whether the instance tools ([`INSTANCE_TOOLS`]) are offered.
    pub fn has_instance_tools(&self) -> bool {
        self.instances.is_some()
    }

    /// Tool schemas to offer the model. `exec` is always listed (so the
    /// model can tell the user it is disabled); `browser` only if supplied.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let path_prop =
            json!({"type": "string", "description": "Path relative to the workspace root"});
        let mut v = vec![
            ToolSpec {
                name: "read".into(),
                description: "Read a UTF-8 text file from the workspace.".into(),
                parameters: json!({"type": "object", "properties": {"path": path_prop}, "required": ["path"]}),
            },
            ToolSpec {
                name: "write".into(),
                description: "Create or overwrite a file in the workspace (parent directories are created).".into(),
                parameters: json!({"type": "object", "properties": {
                    "path": path_prop, "content": {"type": "string", "description": "Full new file content"}
                }, "required": ["path", "content"]}),
            },
            ToolSpec {
                name: "edit".into(),
                description: "Replace one exact occurrence of old_text with new_text in a workspace file. old_text must occur exactly once.".into(),
                parameters: json!({"type": "object", "properties": {
                    "path": path_prop,
                    "old_text": {"type": "string"},
                    "new_text": {"type": "string"}
                }, "required": ["path", "old_text", "new_text"]}),
            },
            ToolSpec {
                name: "list".into(),
                description: "List a directory in the workspace (default: the root). Directories end with '/'.".into(),
                parameters: json!({"type": "object", "properties": {"path": path_prop}}),
            },
            ToolSpec {
                name: "exec".into(),
                description: if self.exec.enabled {
                    format!(
                        "Run a shell command (sh -c) in the workspace. Times out after {}s; output is capped.",
                        self.exec.timeout.as_secs()
                    )
                } else {
                    "Run a shell command. DISABLED on this gateway (tools.exec.enabled is false); calls are refused.".into()
                },
                parameters: json!({"type": "object", "properties": {
                    "command": {"type": "string"}
                }, "required": ["command"]}),
            },
        ];
        if self.instances.is_some() {
            v.extend(instance_tool_specs());
        }
        if self.browser.is_some() {
            v.push(ToolSpec {
                name: "browser".into(),
                description: "Control this gateway's browser: open a URL, take an accessibility snapshot, act on the page (click/type by ref), or take a screenshot.".into(),
                parameters: json!({"type": "object", "properties": {
                    "action": {"type": "string", "enum": ["open", "snapshot", "act", "screenshot"]},
                    "url": {"type": "string", "description": "For action=open"},
                    "request": {"type": "object", "description": "For action=act: e.g. {\"kind\":\"click\",\"ref\":\"e12\"}"}
                }, "required": ["action"]}),
            });
        }
        v
    }

    /// Run one tool call. Never panics on bad input; failures are outcomes.
    pub async fn call(&self, name: &str, args: &Value, cancel: &CancellationToken) -> ToolOutcome {
        self.call_in("", None, name, args, cancel).await
    }

    /// [`Toolbox::call`] in a session, for a caller (the instance tools act
    /// only for an owner).
    pub async fn call_in(
        &self,
        session_key: &str,
        caller: Option<&Caller>,
        name: &str,
        args: &Value,
        cancel: &CancellationToken,
    ) -> ToolOutcome {
        if !args.is_object() {
            return ToolOutcome::err(format!(
                "tool {name}: arguments must be a JSON object, got: {}",
                crate::excerpt(&args.to_string(), 200)
            ));
        }
        match name {
            "read" => self.read(args).await,
            "write" => self.write(args).await,
            "edit" => self.edit(args).await,
            "list" => self.list(args).await,
            "exec" => self.exec(args, cancel).await,
            "browser" => self.browser(args).await,
            n if INSTANCE_TOOLS.contains(&n) && self.instances.is_some() => {
                let tools = self.instances.clone().expect("checked");
                let run = tools.call(n, args.clone(), session_key, caller);
                tokio::select! {
                    r = run => match r {
                        Ok(s) => ToolOutcome::ok(s),
                        Err(e) => ToolOutcome::err(e),
                    },
                    _ = cancel.cancelled() => ToolOutcome::err(format!("{n}: cancelled")),
                }
            }
            other => ToolOutcome::err(format!(
                "unknown tool '{other}'; available: {}",
                self.specs()
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The model-supplied path as a clean relative path (no `..`, not
    /// absolute), or why it is refused. Symlinks are dealt with when the
    /// path is opened, beneath the workspace directory.
    fn relative(&self, tool: &str, raw: &str) -> Result<PathBuf, String> {
        let r = lexical(raw);
        if let Err(why) = &r {
            tracing::warn!(agent = %self.agent_id, tool, path = raw, reason = %why, "refused path outside the workspace");
        }
        r
    }

    /// Runs `f` on the workspace directory, opened afresh. Every path `f`
    /// opens through the `Dir` is resolved beneath it by `cap-std`: a
    /// symlink that leads out (even one swapped in after any earlier check)
    /// fails the open itself, so there is no check-then-open window.
    async fn in_workspace<T: Send + 'static>(
        &self,
        f: impl FnOnce(&cap_std::fs::Dir) -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let root = self.workspace.clone();
        tokio::task::spawn_blocking(move || {
            let dir = cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority())?;
            f(&dir)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The tool's error text for a failed file operation; an escape through
    /// a symlink is reported (and logged) as a refusal.
    fn file_error(&self, tool: &str, raw: &str, e: std::io::Error) -> ToolOutcome {
        if is_escape(&e) {
            let why = "it leads outside the workspace (through a symlink)";
            tracing::warn!(agent = %self.agent_id, tool, path = raw, reason = why, "refused path outside the workspace");
            return ToolOutcome::err(format!(
                "refused path '{raw}': {why}; use a path relative to the workspace root"
            ));
        }
        ToolOutcome::err(format!("{tool} {raw}: {e}"))
    }

    async fn read(&self, a: &Value) -> ToolOutcome {
        let Some(p) = str_arg(a, "path") else {
            return ToolOutcome::err("read: missing string argument 'path'");
        };
        let rel = match self.relative("read", p) {
            Ok(r) => r,
            Err(e) => return ToolOutcome::err(e),
        };
        // Read at most the cap: a model asking for a multi-GB log must not
        // pull all of it into memory.
        let capped = self
            .in_workspace(move |dir| {
                use std::io::Read;
                let file = dir.open(&rel)?;
                let total = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
                let mut bytes = Vec::with_capacity(total.min(READ_CAP));
                file.take(READ_CAP as u64).read_to_end(&mut bytes)?;
                Ok((bytes, total))
            })
            .await;
        match capped {
            Ok((bytes, total)) => {
                let mut text = String::from_utf8_lossy(&bytes).into_owned();
                if total > READ_CAP {
                    text.push_str(&format!(
                        "\n[truncated: showing {READ_CAP} of {total} bytes]"
                    ));
                }
                ToolOutcome::ok(text)
            }
            Err(e) => self.file_error("read", p, e),
        }
    }

    async fn write(&self, a: &Value) -> ToolOutcome {
        let (Some(p), Some(content)) = (str_arg(a, "path"), str_arg(a, "content")) else {
            return ToolOutcome::err("write: needs string arguments 'path' and 'content'");
        };
        let rel = match self.relative("write", p) {
            Ok(r) => r,
            Err(e) => return ToolOutcome::err(e),
        };
        if rel.as_os_str().is_empty() {
            return ToolOutcome::err(format!("write {p}: that is the workspace directory"));
        }
        let body = content.to_string();
        let r = self
            .in_workspace(move |dir| {
                if let Some(parent) = rel.parent().filter(|d| !d.as_os_str().is_empty())
                    && let Err(e) = dir.create_dir_all(parent)
                {
                    // A parent that is a symlink out fails as "exists";
                    // say what it really is.
                    return Err(dir.open_dir(parent).err().filter(is_escape).unwrap_or(e));
                }
                dir.write(&rel, body)
            })
            .await;
        match r {
            Ok(()) => ToolOutcome::ok(format!("wrote {} bytes to {p}", content.len())),
            Err(e) => self.file_error("write", p, e),
        }
    }

    async fn edit(&self, a: &Value) -> ToolOutcome {
        let (Some(p), Some(old), Some(new)) = (
            str_arg(a, "path"),
            str_arg(a, "old_text"),
            str_arg(a, "new_text"),
        ) else {
            return ToolOutcome::err(
                "edit: needs string arguments 'path', 'old_text' and 'new_text'",
            );
        };
        if old.is_empty() {
            return ToolOutcome::err("edit: old_text must not be empty");
        }
        let rel = match self.relative("edit", p) {
            Ok(r) => r,
            Err(e) => return ToolOutcome::err(e),
        };
        let (old_s, new_s) = (old.to_string(), new.to_string());
        let r = self
            .in_workspace(move |dir| {
                let text = dir.read_to_string(&rel)?;
                let n = text.matches(old_s.as_str()).count();
                if n == 1 {
                    dir.write(&rel, text.replacen(old_s.as_str(), &new_s, 1))?;
                }
                Ok(n)
            })
            .await;
        match r {
            Ok(0) => ToolOutcome::err(format!(
                "edit {p}: old_text not found; read the file and copy the text exactly"
            )),
            Ok(1) => ToolOutcome::ok(format!("edited {p}")),
            Ok(n) => ToolOutcome::err(format!(
                "edit {p}: old_text occurs {n} times; include more surrounding text so it matches exactly once"
            )),
            Err(e) => self.file_error("edit", p, e),
        }
    }

    async fn list(&self, a: &Value) -> ToolOutcome {
        let p = str_arg(a, "path").unwrap_or(".");
        let rel = match self.relative("list", p) {
            Ok(r) => r,
            Err(e) => return ToolOutcome::err(e),
        };
        let r = self
            .in_workspace(move |dir| {
                let entries = if rel.as_os_str().is_empty() {
                    dir.entries()?
                } else {
                    dir.read_dir(&rel)?
                };
                let mut names = Vec::new();
                for e in entries {
                    let e = e?;
                    let mut n = e.file_name().to_string_lossy().into_owned();
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        n.push('/');
                    }
                    names.push(n);
                }
                Ok(names)
            })
            .await;
        let mut names = match r {
            Ok(n) => n,
            Err(e) => return self.file_error("list", p, e),
        };
        names.sort();
        let total = names.len();
        names.truncate(LIST_CAP);
        let mut out = names.join("\n");
        if total > LIST_CAP {
            out.push_str(&format!("\n[truncated: {LIST_CAP} of {total} entries]"));
        }
        if total == 0 {
            out = "(empty directory)".into();
        }
        ToolOutcome::ok(out)
    }

    async fn exec(&self, a: &Value, cancel: &CancellationToken) -> ToolOutcome {
        if !self.exec.enabled {
            tracing::warn!(agent = %self.agent_id, "refused exec: tools.exec.enabled is false");
            return ToolOutcome::err(
                "exec is disabled on this gateway; an operator can enable it with tools.exec.enabled = true in the config",
            );
        }
        let Some(cmd) = str_arg(a, "command") else {
            return ToolOutcome::err("exec: missing string argument 'command'");
        };
        run_shell(&self.workspace, cmd, &self.exec, cancel).await
    }

    async fn browser(&self, a: &Value) -> ToolOutcome {
        let Some(b) = &self.browser else {
            return ToolOutcome::err("the browser tool is not available on this gateway");
        };
        let r = match str_arg(a, "action") {
            Some("open") => match str_arg(a, "url") {
                Some(u) => b.open(u).await,
                None => Err("browser open: missing 'url'".into()),
            },
            Some("snapshot") => b.snapshot().await,
            Some("act") => match a.get("request") {
                Some(r) if r.is_object() => b.act(r.clone()).await,
                _ => Err("browser act: missing object 'request'".into()),
            },
            Some("screenshot") => b.screenshot().await,
            other => Err(format!(
                "browser: unknown action {other:?}; use open, snapshot, act or screenshot"
            )),
        };
        match r {
            Ok(s) => ToolOutcome::ok(s),
            Err(e) => ToolOutcome::err(e),
        }
    }
}

fn str_arg<'a>(a: &'a Value, k: &str) -> Option<&'a str> {
    a.get(k).and_then(Value::as_str)
}

/// Reads the file `raw` beneath `root` without following a symlink out of
/// it (the same rule as the file tools).
pub fn read_beneath(root: &Path, raw: &str) -> std::io::Result<Vec<u8>> {
    let rel = lexical(raw).map_err(std::io::Error::other)?;
    let dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
    dir.read(&rel)
}

/// Whether an error from a `cap-std` open means the path led out of the
/// directory (a symlink pointing outside, or an absolute symlink).
fn is_escape(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::PermissionDenied && e.to_string().contains("outside")
}

/// The lexical half of [`confine`]: a clean relative path (empty for the
/// root), or why `raw` is refused.
pub fn lexical(raw: &str) -> Result<PathBuf, String> {
    let refuse = |why: &str| {
        Err(format!(
            "refused path '{raw}': {why}; use a path relative to the workspace root"
        ))
    };
    if raw.is_empty() {
        return refuse("empty path");
    }
    if raw.contains('\0') {
        return refuse("contains a NUL byte");
    }
    let rel = Path::new(raw);
    if rel.is_absolute() || raw.starts_with('~') {
        return refuse("absolute paths are not allowed");
    }
    let mut clean = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => clean.push(s),
            Component::CurDir => {}
            Component::ParentDir => return refuse("'..' is not allowed"),
            Component::RootDir | Component::Prefix(_) => {
                return refuse("absolute paths are not allowed");
            }
        }
    }
    Ok(clean)
}

/// Confine `raw` to `root`: relative paths only, no `..`, and the nearest
/// existing ancestor (symlinks resolved) must lie inside the canonical root.
///
/// This names a path (for messages and tests); it does not make opening it
/// safe, since the tree may change afterwards. Open through
/// [`read_beneath`] or the file tools, which resolve beneath the root.
pub fn confine(root: &Path, raw: &str) -> Result<PathBuf, String> {
    let refuse = |why: &str| {
        Err(format!(
            "refused path '{raw}': {why}; use a path relative to the workspace root"
        ))
    };
    let clean = lexical(raw)?;
    let root_c = root
        .canonicalize()
        .map_err(|e| format!("workspace {} is not usable: {e}", root.display()))?;
    let full = root_c.join(&clean);
    // Walk up to the nearest entry that exists (a symlink counts, even a
    // dangling one), then resolve it.
    let mut probe = full.clone();
    let mut rest = Vec::new();
    loop {
        if std::fs::symlink_metadata(&probe).is_ok() {
            break;
        }
        match (probe.file_name().map(|n| n.to_os_string()), probe.parent()) {
            (Some(n), Some(parent)) => {
                rest.push(n);
                probe = parent.to_path_buf();
            }
            _ => return refuse("cannot be resolved"),
        }
    }
    let real = match probe.canonicalize() {
        Ok(r) => r,
        Err(_) => return refuse("it is a symlink that cannot be resolved"),
    };
    if !real.starts_with(&root_c) {
        return refuse("it leads outside the workspace (through a symlink)");
    }
    let mut out = real;
    for n in rest.into_iter().rev() {
        out.push(n);
    }
    Ok(out)
}

/// Run `sh -c cmd` in `dir` in its own process group, with a timeout and
/// per-stream output caps; the whole group is killed on timeout or cancel.
pub async fn run_shell(
    dir: &Path,
    cmd: &str,
    s: &ExecSettings,
    cancel: &CancellationToken,
) -> ToolOutcome {
    let mut c = tokio::process::Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .env_clear()
        .envs(s.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => return ToolOutcome::err(format!("exec: cannot start sh: {e}")),
    };
    let pgid = child.id().map(|p| p as libc::pid_t);
    let cap = s.max_output_bytes;
    let out_task = tokio::spawn(read_capped(child.stdout.take(), cap));
    let err_task = tokio::spawn(read_capped(child.stderr.take(), cap));
    let kill_group = || {
        if let Some(pg) = pgid {
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe {
                libc::killpg(pg, libc::SIGKILL);
            }
        }
    };
    let status = tokio::select! {
        r = child.wait() => Some(r),
        _ = tokio::time::sleep(s.timeout) => None,
        _ = cancel.cancelled() => {
            kill_group();
            let _ = child.wait().await;
            return ToolOutcome::err("exec: aborted");
        }
    };
    if status.is_none() {
        kill_group();
        let _ = child.wait().await;
    }
    // Grandchildren may still hold the pipes; the group kill closes them.
    kill_group_if_alive(pgid);
    let (stdout, so_trunc) = out_task.await.unwrap_or_default();
    let (stderr, se_trunc) = err_task.await.unwrap_or_default();
    let mut text = String::new();
    let head = match &status {
        None => format!(
            "timed out after {}s; the process group was killed",
            s.timeout.as_secs()
        ),
        Some(Ok(st)) => match st.code() {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".into(),
        },
        Some(Err(e)) => format!("wait failed: {e}"),
    };
    text.push_str(&head);
    for (label, body, trunc) in [("stdout", stdout, so_trunc), ("stderr", stderr, se_trunc)] {
        if body.is_empty() && !trunc {
            continue;
        }
        text.push_str(&format!("\n--- {label} ---\n"));
        text.push_str(&String::from_utf8_lossy(&body));
        if trunc {
            text.push_str(&format!("\n[{label} truncated at {cap} bytes]"));
        }
    }
    let ok = matches!(&status, Some(Ok(st)) if st.success());
    ToolOutcome { ok, output: text }
}

fn kill_group_if_alive(pgid: Option<libc::pid_t>) {
    if let Some(pg) = pgid {
        // SAFETY: as above; ESRCH when the group is gone is fine.
        unsafe {
            libc::killpg(pg, libc::SIGKILL);
        }
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(r: Option<R>, cap: usize) -> (Vec<u8>, bool) {
    let Some(mut r) = r else {
        return (Vec::new(), false);
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut truncated = false;
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(buf.len());
                if n > room {
                    truncated = true;
                }
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    (buf, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records who asked for what.
    type Seen = (String, Value, String, Option<Caller>);
    struct Fake(std::sync::Mutex<Vec<Seen>>);

    impl InstanceTools for Fake {
        fn call(
            &self,
            name: &str,
            args: Value,
            session_key: &str,
            caller: Option<&Caller>,
        ) -> BoxFuture<'static, Result<String, String>> {
            self.0
                .lock()
                .unwrap()
                .push((name.into(), args, session_key.into(), caller.cloned()));
            let n = name.to_string();
            Box::pin(async move {
                if n == "instance_restart" {
                    Err("refused".into())
                } else {
                    Ok(format!("{n} ok"))
                }
            })
        }
    }

    #[tokio::test]
    async fn instance_tools_are_offered_only_when_supplied_and_get_the_session() {
        let ws = tempfile::tempdir().unwrap();
        let plain = Toolbox::new("t", ws.path(), ExecSettings::default(), None);
        assert!(
            !plain
                .specs()
                .iter()
                .any(|s| INSTANCE_TOOLS.contains(&s.name.as_str()))
        );
        let c = CancellationToken::new();
        let r = plain
            .call_in(
                "telegram:dm:7",
                None,
                "instance_status",
                &json!({"profile": "main"}),
                &c,
            )
            .await;
        assert!(!r.ok && r.output.starts_with("unknown tool"), "{r:?}");

        let fake = Arc::new(Fake(Default::default()));
        let tb = Toolbox::new("t", ws.path(), ExecSettings::default(), None)
            .with_instance_tools(fake.clone());
        let names: Vec<String> = tb.specs().into_iter().map(|s| s.name).collect();
        for t in INSTANCE_TOOLS {
            assert!(names.iter().any(|n| n == t), "{t} in {names:?}");
        }
        let owner = Caller {
            id: "telegram:7".into(),
            owner: true,
        };
        let r = tb
            .call_in(
                "telegram:dm:7",
                Some(&owner),
                "instance_status",
                &json!({"profile": "main"}),
                &c,
            )
            .await;
        assert_eq!(r, ToolOutcome::ok("instance_status ok"));
        let r = tb
            .call_in(
                "main",
                None,
                "instance_restart",
                &json!({"profile": "main"}),
                &c,
            )
            .await;
        assert_eq!(r, ToolOutcome::err("refused"));
        let seen = fake.0.lock().unwrap().clone();
        assert_eq!(seen[0].0, "instance_status");
        assert_eq!(seen[0].1, json!({"profile": "main"}));
        assert_eq!(seen[0].2, "telegram:dm:7");
        assert_eq!(seen[0].3, Some(owner));
        assert_eq!(seen[1].2, "main");
        assert_eq!(seen[1].3, None);
    }

    fn ws() -> (tempfile::TempDir, tempfile::TempDir) {
        let outside = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("out")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            ws.path().join("leak.txt"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path().join("nope/x"), ws.path().join("dangling"))
            .unwrap();
        std::fs::create_dir(ws.path().join("a")).unwrap();
        (ws, outside)
    }

    #[test]
    fn escapes_are_refused() {
        let (ws, _o) = ws();
        for bad in [
            "..",
            "../x",
            "/etc/passwd",
            "a/../../x",
            "a/../b",
            "out/secret.txt",
            "out/new.txt",
            "leak.txt",
            "dangling",
            "dangling/more",
            "~/x",
            "",
        ] {
            let r = confine(ws.path(), bad);
            assert!(r.is_err(), "{bad} should be refused, got {r:?}");
        }
    }

    #[test]
    fn inside_paths_resolve() {
        let (ws, _o) = ws();
        let root = ws.path().canonicalize().unwrap();
        assert_eq!(confine(ws.path(), "a").unwrap(), root.join("a"));
        assert_eq!(
            confine(ws.path(), "./a/new/deep.txt").unwrap(),
            root.join("a/new/deep.txt")
        );
        assert_eq!(confine(ws.path(), ".").unwrap(), root);
    }

    #[tokio::test]
    async fn read_returns_at_most_the_cap_and_says_how_much_there_was() {
        let ws = tempfile::tempdir().unwrap();
        let total = READ_CAP + 1000;
        std::fs::write(ws.path().join("big.log"), vec![b'x'; total]).unwrap();
        let tb = Toolbox::new("t", ws.path(), ExecSettings::default(), None);
        let out = tb
            .call(
                "read",
                &serde_json::json!({"path": "big.log"}),
                &CancellationToken::new(),
            )
            .await;
        assert!(out.ok, "{}", out.output);
        let note = format!("\n[truncated: showing {READ_CAP} of {total} bytes]");
        assert!(
            out.output.ends_with(&note),
            "{}",
            &out.output[out.output.len() - 80..]
        );
        assert_eq!(out.output.len(), READ_CAP + note.len());
    }

    #[tokio::test]
    async fn file_tools_work_and_refuse_escapes() {
        let (ws, outside) = ws();
        let tb = Toolbox::new("t", ws.path(), ExecSettings::default(), None);
        let c = CancellationToken::new();
        let w = tb
            .call(
                "write",
                &json!({"path":"d/f.txt","content":"hello world"}),
                &c,
            )
            .await;
        assert!(w.ok, "{w:?}");
        assert_eq!(
            tb.call("read", &json!({"path":"d/f.txt"}), &c).await.output,
            "hello world"
        );
        let e = tb
            .call(
                "edit",
                &json!({"path":"d/f.txt","old_text":"world","new_text":"there"}),
                &c,
            )
            .await;
        assert!(e.ok, "{e:?}");
        assert_eq!(
            std::fs::read_to_string(ws.path().join("d/f.txt")).unwrap(),
            "hello there"
        );
        let e = tb
            .call(
                "edit",
                &json!({"path":"d/f.txt","old_text":"l","new_text":"L"}),
                &c,
            )
            .await;
        assert!(!e.ok && e.output.contains("2 times"), "{e:?}");
        let e = tb
            .call(
                "edit",
                &json!({"path":"d/f.txt","old_text":"zzz","new_text":"L"}),
                &c,
            )
            .await;
        assert!(!e.ok && e.output.contains("not found"), "{e:?}");
        let l = tb.call("list", &json!({}), &c).await;
        assert!(l.output.lines().any(|x| x == "d/"), "{l:?}");

        let r = tb.call("read", &json!({"path":"leak.txt"}), &c).await;
        assert!(!r.ok && !r.output.contains("top secret"), "{r:?}");
        let r = tb
            .call("write", &json!({"path":"out/pwn.txt","content":"x"}), &c)
            .await;
        assert!(!r.ok, "{r:?}");
        assert!(!outside.path().join("pwn.txt").exists());
        let r = tb.call("read", &json!({"path":"/etc/passwd"}), &c).await;
        assert!(!r.ok && r.output.contains("absolute"), "{r:?}");
        let r = tb.call("read", &json!("not an object"), &c).await;
        assert!(!r.ok);
    }

    #[tokio::test]
    async fn a_symlink_swapped_in_after_the_check_is_refused_by_every_file_tool() {
        let (ws, outside) = ws();
        std::fs::create_dir(ws.path().join("sub")).unwrap();
        std::fs::write(ws.path().join("sub/x.txt"), "inside").unwrap();
        std::fs::write(outside.path().join("x.txt"), "outside secret").unwrap();
        // The path checks out while `sub` is a real directory...
        assert!(confine(ws.path(), "sub/x.txt").is_ok());
        // ...then `sub` is swapped for a symlink that leads out.
        std::fs::rename(ws.path().join("sub"), ws.path().join("sub.real")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("sub")).unwrap();
        let tb = Toolbox::new("t", ws.path(), ExecSettings::default(), None);
        let c = CancellationToken::new();
        for (tool, args) in [
            ("read", json!({"path": "sub/x.txt"})),
            ("write", json!({"path": "sub/x.txt", "content": "pwned"})),
            (
                "write",
                json!({"path": "sub/new/deep.txt", "content": "pwned"}),
            ),
            (
                "edit",
                json!({"path": "sub/x.txt", "old_text": "outside", "new_text": "pwned"}),
            ),
            ("list", json!({"path": "sub"})),
        ] {
            let r = tb.call(tool, &args, &c).await;
            assert!(!r.ok, "{tool} {args}: {r:?}");
            assert!(r.output.contains("outside the workspace"), "{tool}: {r:?}");
            assert!(!r.output.contains("outside secret"), "{tool}: {r:?}");
        }
        assert_eq!(
            std::fs::read_to_string(outside.path().join("x.txt")).unwrap(),
            "outside secret"
        );
        assert!(!outside.path().join("new").exists());
        assert!(read_beneath(ws.path(), "sub/x.txt").is_err());
        assert_eq!(
            read_beneath(ws.path(), "sub.real/x.txt").unwrap(),
            b"inside"
        );
    }

    /// The swap races the tool: a thread flips `sub` between a directory and
    /// a symlink out of the workspace while `write` runs again and again.
    /// Whatever the interleaving, nothing may ever land outside.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_racing_symlink_swap_never_lets_a_write_out() {
        let (ws, outside) = ws();
        let root = ws.path().to_path_buf();
        let out = outside.path().to_path_buf();
        std::fs::create_dir(root.join("sub")).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flipper = {
            let (root, out, stop) = (root.clone(), out.clone(), stop.clone());
            std::thread::spawn(move || {
                let link = root.join("link");
                let dir = root.join("dir");
                std::fs::create_dir(&dir).unwrap();
                std::os::unix::fs::symlink(&out, &link).unwrap();
                let mut flips = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Atomic swaps: `sub` is always either the dir or the link.
                    std::fs::rename(root.join("sub"), root.join("dir")).ok();
                    std::fs::rename(&link, root.join("sub")).ok();
                    std::fs::rename(root.join("sub"), &link).ok();
                    std::fs::rename(&dir, root.join("sub")).ok();
                    flips += 1;
                }
                flips
            })
        };
        let tb = Toolbox::new("t", &root, ExecSettings::default(), None);
        let c = CancellationToken::new();
        for _ in 0..300 {
            let _ = tb
                .call(
                    "write",
                    &json!({"path": "sub/x.txt", "content": "pwned"}),
                    &c,
                )
                .await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(flipper.join().unwrap() > 0);
        assert!(
            !out.join("x.txt").exists(),
            "a write escaped through the swap"
        );
    }

    #[tokio::test]
    async fn exec_refused_unless_enabled() {
        let ws = tempfile::tempdir().unwrap();
        let c = CancellationToken::new();
        let tb = Toolbox::new("t", ws.path(), ExecSettings::default(), None);
        let r = tb.call("exec", &json!({"command":"touch made"}), &c).await;
        assert!(!r.ok && r.output.contains("tools.exec.enabled"), "{r:?}");
        assert!(!ws.path().join("made").exists());

        let on = ExecSettings {
            enabled: true,
            timeout: Duration::from_secs(1),
            max_output_bytes: 100,
            ..ExecSettings::default()
        };
        let tb = Toolbox::new("t", ws.path(), on, None);
        let r = tb
            .call(
                "exec",
                &json!({"command":"touch made && echo hi && pwd"}),
                &c,
            )
            .await;
        assert!(r.ok, "{r:?}");
        assert!(ws.path().join("made").exists());
        assert!(
            r.output.contains("exit code 0") && r.output.contains("hi"),
            "{r:?}"
        );

        let r = tb
            .call(
                "exec",
                &json!({"command":"head -c 5000 /dev/zero | tr '\\\\0' a"}),
                &c,
            )
            .await;
        assert!(r.output.contains("stdout truncated at 100 bytes"), "{r:?}");
        assert!(r.output.len() < 400, "{}", r.output.len());

        // grandchild keeps the pipe open: the group kill must still end it
        let r = tb
            .call("exec", &json!({"command":"sleep 30 & sleep 30"}), &c)
            .await;
        assert!(!r.ok && r.output.contains("timed out after 1s"), "{r:?}");

        let r = tb.call("exec", &json!({"command":"exit 3"}), &c).await;
        assert!(!r.ok && r.output.contains("exit code 3"), "{r:?}");
        // the child sees only the env we pass
        let r = tb
            .call("exec", &json!({"command":"echo \"[$HOME]\""}), &c)
            .await;
        assert!(r.output.contains("[]"), "{r:?}");
    }
}
