//! Logging: one `tracing` pipeline for the gateway process.
//!
//! The binary calls [`install`] once: a global subscriber whose filter comes
//! from `logging.level` (or a one-run override: `--verbose`,
//! `OPENCLAW_LOG_LEVEL`, `RUST_LOG`) and whose one writer formats each
//! event as a human line, runs it through [`openclaw_config::redact_text`]
//! (bot tokens in URLs, `Bearer …`, the gateway token and every configured
//! secret), then appends it to `<stateDir>/logs/gateway.log` (through
//! [`openclaw_state::logs::RotatingFile`]: rotated by size, 0600, dir 0700)
//! and writes it to stderr. Library crates just use `tracing`; their events
//! land in the same file.
//!
//! [`GatewayLog`] is the gateway's handle: its own lines
//! (`<ts> [gateway] info: ready: ...`) go through the pipeline as `tracing`
//! events with target `gateway`. The log file is opened by
//! [`GatewayLog::open_file`] only once the state-dir lock is held and every
//! fallible start-up step is done; lines logged before that reach stderr at
//! once and the file when it opens (so a failed start writes nothing under
//! the state dir). Without [`install`] (an embedder, the gateway crate's
//! tests) a `GatewayLog` writes its own lines, formatted and redacted the
//! same way, straight to its file and (optionally) stderr; library events
//! then go wherever the embedder's subscriber sends them.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use openclaw_config::LogLevel;
use openclaw_state::logs::RotatingFile;
use openclaw_state::owner::rfc3339_utc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

pub use openclaw_state::logs::{DEFAULT_KEEP, DEFAULT_MAX_BYTES, GATEWAY_LOG as LOG_FILE};

/// Lines kept while no file is open yet (start-up); older ones are dropped.
const MAX_PENDING: usize = 2000;

/// Where lines go: a file once opened, a bounded buffer before.
#[derive(Default)]
struct FileSink {
    file: Option<RotatingFile>,
    pending: Vec<String>,
}

impl FileSink {
    fn write(&mut self, line: &str) {
        match &mut self.file {
            Some(f) => {
                let _ = f.write_line(line);
            }
            None => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.remove(0);
                }
                self.pending.push(line.to_string());
            }
        }
    }

    fn attach(&mut self, mut file: RotatingFile, earlier: Vec<String>) {
        for l in earlier.iter().chain(self.pending.iter()) {
            let _ = file.write_line(l);
        }
        self.pending.clear();
        self.file = Some(file);
    }
}

type SharedSink = Arc<Mutex<FileSink>>;

fn lock(s: &SharedSink) -> std::sync::MutexGuard<'_, FileSink> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// One formatted, redacted line with its trailing newline.
fn format_line(source: &str, level: &str, msg: &str) -> String {
    let line = format!(
        "{} [{source}] {level}: {msg}\n",
        rfc3339_utc(SystemTime::now())
    );
    openclaw_config::redact_text(&line).into_owned()
}

// ------------------------------------------------------------ the pipeline

/// How the binary sets the log level up.
#[derive(Debug, Clone, Default)]
pub struct LogSetup {
    /// `--verbose`: debug, whatever the config says.
    pub verbose: bool,
    /// `OPENCLAW_LOG_LEVEL` (a level name, or a filter directive).
    pub openclaw_log_level: Option<String>,
    /// `RUST_LOG` (a filter directive), used when `OPENCLAW_LOG_LEVEL` is unset.
    pub rust_log: Option<String>,
    /// `logging.level` from the config; `None` = info.
    pub config_level: Option<LogLevel>,
    /// Also write every line to stderr.
    pub stderr: bool,
}

struct Pipeline {
    stderr: bool,
    /// The file of the gateway this process runs (attached by
    /// [`GatewayLog::open_file`]); before that, a buffer.
    sink: Mutex<SharedSink>,
    filter: reload::Handle<EnvFilter, Registry>,
    /// Set when the level is fixed for this run (flag or environment), so
    /// config reloads do not change it.
    pinned: bool,
}

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();

/// The filter for a config level: our crates (`openclaw*`) and the
/// gateway's own lines at that level, dependencies at warn (or quieter).
pub fn level_directive(level: LogLevel) -> String {
    let l = match level {
        LogLevel::Silent => return "off".into(),
        LogLevel::Fatal | LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    let base = if l == "error" { "error" } else { "warn" };
    format!("{base},openclaw={l},gateway={l}")
}

fn parse_level(s: &str) -> Option<LogLevel> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase())).ok()
}

/// The filter directive for a setup, and whether it is pinned for the run
/// (not changed by config reloads). Precedence: `--verbose`, then
/// `OPENCLAW_LOG_LEVEL`, then `RUST_LOG`, then `logging.level`, then info.
pub fn directive(setup: &LogSetup) -> (String, bool) {
    if setup.verbose {
        return (level_directive(LogLevel::Debug), true);
    }
    let env = setup
        .openclaw_log_level
        .as_deref()
        .or(setup.rust_log.as_deref())
        .filter(|s| !s.trim().is_empty());
    if let Some(e) = env {
        let d = parse_level(e)
            .map(level_directive)
            .unwrap_or_else(|| e.to_string());
        if EnvFilter::try_new(&d).is_ok() {
            return (d, true);
        }
    }
    (
        level_directive(setup.config_level.unwrap_or(LogLevel::Info)),
        false,
    )
}

/// Installs the process-wide subscriber. Returns `false` (and changes
/// nothing) when a subscriber is already installed.
pub fn install(setup: LogSetup) -> bool {
    let (d, pinned) = directive(&setup);
    let filter = EnvFilter::try_new(&d).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter_layer, handle) = reload::Layer::new(filter);
    let pipeline = Pipeline {
        stderr: setup.stderr,
        sink: Mutex::new(SharedSink::default()),
        filter: handle,
        pinned,
    };
    if PIPELINE.set(pipeline).is_err() {
        return false;
    }
    tracing_subscriber::registry()
        .with(filter_layer)
        .with(LineLayer)
        .try_init()
        .is_ok()
}

/// Applies `logging.level` after a config reload (unless the level is
/// pinned for this run by `--verbose` or the environment).
pub fn set_config_level(level: LogLevel) {
    if let Some(p) = PIPELINE.get()
        && !p.pinned
    {
        let _ = p
            .filter
            .modify(|f| *f = EnvFilter::new(level_directive(level)));
    }
}

/// Called on every (re)load of the config: its secrets are redacted from
/// every later line, and its `logging.level` applies.
pub(crate) fn on_config(parsed: &serde_json::Value, config: &openclaw_config::Config) {
    openclaw_config::register_secrets(openclaw_config::secret_strings(parsed));
    set_config_level(config.log_level());
}

/// The writer: every event that passes the filter becomes one redacted line
/// in the attached file, then on stderr.
struct LineLayer;

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(p) = PIPELINE.get() else { return };
        let meta = event.metadata();
        let mut f = Fields::default();
        event.record(&mut f);
        let source = meta.target().split("::").next().unwrap_or("");
        let line = format_line(
            source,
            level_name(meta.level()),
            &format!("{}{}", f.message, f.rest),
        );
        // File first, then stderr: whoever sees a line on stderr (e.g. the
        // "ready" line) can rely on it being in the file already.
        let sink = p.sink.lock().unwrap_or_else(|e| e.into_inner()).clone();
        lock(&sink).write(&line);
        if p.stderr {
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }
}

// ------------------------------------------------------------ GatewayLog

/// The gateway's own log lines (`[gateway] info: ...`). See the module docs.
pub struct GatewayLog {
    stderr: bool,
    max_bytes: u64,
    keep: u32,
    path: OnceLock<PathBuf>,
    /// Used when no pipeline is installed.
    own: SharedSink,
}

impl GatewayLog {
    /// A log whose file is not open yet: lines go to stderr (if `stderr`)
    /// and are kept for the file.
    pub fn new(stderr: bool, max_bytes: u64, keep: u32) -> Self {
        GatewayLog {
            stderr,
            max_bytes,
            keep,
            path: OnceLock::new(),
            own: SharedSink::default(),
        }
    }

    /// A log that only writes to stderr (before the state dir is ours).
    pub fn stderr_only(stderr: bool) -> Self {
        Self::new(stderr, DEFAULT_MAX_BYTES, DEFAULT_KEEP)
    }

    /// Opens `<dir>/gateway.log` at once (see [`GatewayLog::open_file`]).
    pub fn open(dir: &Path, stderr: bool, max_bytes: u64, keep: u32) -> io::Result<Self> {
        let log = Self::new(stderr, max_bytes, keep);
        log.open_file(dir)?;
        Ok(log)
    }

    /// Opens `<dir>/gateway.log` for appending (dir created or tightened to
    /// 0700, file 0600) and writes the lines logged so far into it. With the
    /// pipeline installed, every later event of the process goes there.
    pub fn open_file(&self, dir: &Path) -> io::Result<()> {
        let file = RotatingFile::open(dir, LOG_FILE, self.max_bytes, self.keep)?;
        let _ = self.path.set(file.path().to_path_buf());
        match PIPELINE.get() {
            Some(p) => {
                let mut cur = p.sink.lock().unwrap_or_else(|e| e.into_inner());
                let earlier = std::mem::take(&mut lock(&cur).pending);
                lock(&self.own).attach(file, earlier);
                *cur = self.own.clone();
            }
            None => lock(&self.own).attach(file, Vec::new()),
        }
        Ok(())
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.get().map(PathBuf::as_path)
    }

    pub fn info(&self, msg: &str) {
        self.line(Level::INFO, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.line(Level::WARN, msg);
    }

    pub fn error(&self, msg: &str) {
        self.line(Level::ERROR, msg);
    }

    pub fn debug(&self, msg: &str) {
        self.line(Level::DEBUG, msg);
    }

    fn line(&self, level: Level, msg: &str) {
        if PIPELINE.get().is_some() {
            match level {
                Level::ERROR => tracing::error!(target: "gateway", "{msg}"),
                Level::WARN => tracing::warn!(target: "gateway", "{msg}"),
                Level::INFO => tracing::info!(target: "gateway", "{msg}"),
                Level::DEBUG => tracing::debug!(target: "gateway", "{msg}"),
                Level::TRACE => tracing::trace!(target: "gateway", "{msg}"),
            }
            return;
        }
        let line = format_line("gateway", level_name(&level), msg);
        lock(&self.own).write(&line);
        if self.stderr {
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }

    /// The last `n` lines of the current log file.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.path()
            .and_then(|p| openclaw_state::logs::tail_lines(p, n).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_tails() {
        let dir = tempfile::tempdir().unwrap();
        let log = GatewayLog::open(dir.path(), false, 200, 2).unwrap();
        for i in 0..40 {
            log.info(&format!("line {i}"));
        }
        let tail = log.tail(2);
        assert_eq!(tail.len(), 2);
        assert!(tail[1].ends_with("info: line 39"), "{tail:?}");
        assert!(dir.path().join("gateway.log.1").exists());
        assert!(dir.path().join("gateway.log.2").exists());
        assert!(!dir.path().join("gateway.log.3").exists());
        assert!(std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len() <= 200);
    }

    #[test]
    fn lines_before_the_file_opens_reach_it_and_secrets_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let log = GatewayLog::new(false, DEFAULT_MAX_BYTES, DEFAULT_KEEP);
        log.info("early https://api.telegram.org/bot42:SECRETxyz/getMe");
        assert!(log.path().is_none());
        assert!(!dir.path().join(LOG_FILE).exists());
        log.open_file(dir.path()).unwrap();
        log.warn("late Authorization: Bearer sk-live-123");
        let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0]
                .ends_with("[gateway] info: early https://api.telegram.org/bot<redacted>/getMe"),
            "{text}"
        );
        assert!(
            lines[1].ends_with("[gateway] warn: late Authorization: Bearer <redacted>"),
            "{text}"
        );
        assert!(!text.contains("SECRETxyz") && !text.contains("sk-live"));
    }

    #[test]
    fn level_precedence() {
        let s = |verbose, oc: Option<&str>, rl: Option<&str>, cfg| LogSetup {
            verbose,
            openclaw_log_level: oc.map(str::to_string),
            rust_log: rl.map(str::to_string),
            config_level: cfg,
            stderr: false,
        };
        let d = |setup: LogSetup| directive(&setup);
        assert_eq!(
            d(s(false, None, None, None)),
            (level_directive(LogLevel::Info), false)
        );
        assert_eq!(
            d(s(false, None, None, Some(LogLevel::Debug))).0,
            "warn,openclaw=debug,gateway=debug"
        );
        assert_eq!(
            d(s(false, Some("WARN"), None, Some(LogLevel::Debug))),
            (level_directive(LogLevel::Warn), true)
        );
        assert_eq!(
            d(s(false, None, Some("hyper=trace"), Some(LogLevel::Debug))),
            ("hyper=trace".into(), true)
        );
        assert_eq!(
            d(s(true, Some("error"), None, None)),
            (level_directive(LogLevel::Debug), true)
        );
        assert_eq!(d(s(false, None, None, Some(LogLevel::Silent))).0, "off");
        assert_eq!(
            d(s(false, None, None, Some(LogLevel::Fatal))).0,
            "error,openclaw=error,gateway=error"
        );
        // A value that is no filter falls back to the config.
        assert_eq!(
            d(s(false, Some("=[bad"), None, Some(LogLevel::Warn))),
            (level_directive(LogLevel::Warn), false)
        );
    }
}
