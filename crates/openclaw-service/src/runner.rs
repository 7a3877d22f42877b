//! Running service-manager commands: the [`CommandRunner`] trait, the real
//! [`ProcessRunner`] and the [`RecordingRunner`] test double.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a finished command returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when killed by a signal.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// Exit code 0 with the given stdout.
    pub fn ok(stdout: &str) -> Self {
        CommandOutput {
            status: Some(0),
            stdout: stdout.to_string(),
            stderr: String::new(),
        }
    }

    /// A non-zero exit with the given stderr.
    pub fn fail(code: i32, stderr: &str) -> Self {
        CommandOutput {
            status: Some(code),
            stdout: String::new(),
            stderr: stderr.to_string(),
        }
    }

    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Why a command could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{program} was not found on PATH")]
    NotFound { program: String },
    #[error("timed out after {secs} s and was killed")]
    Timeout { secs: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("empty command line")]
    Empty,
}

/// Runs an argv (program first) and returns its output.
pub trait CommandRunner {
    fn run(&self, argv: &[String]) -> Result<CommandOutput, RunError>;
}

/// Runs real processes, stdin closed, killing them after `timeout` (a hang
/// guard: service managers can block on a wedged bus).
#[derive(Debug, Clone)]
pub struct ProcessRunner {
    pub timeout: Duration,
}

impl Default for ProcessRunner {
    fn default() -> Self {
        ProcessRunner {
            timeout: Duration::from_secs(30),
        }
    }
}

impl CommandRunner for ProcessRunner {
    fn run(&self, argv: &[String]) -> Result<CommandOutput, RunError> {
        let (program, args) = argv.split_first().ok_or(RunError::Empty)?;
        tracing::debug!(?argv, "running service manager command");
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => RunError::NotFound {
                    program: program.clone(),
                },
                _ => RunError::Io(e),
            })?;
        let mut out = child.stdout.take().expect("stdout was piped");
        let mut err = child.stderr.take().expect("stderr was piped");
        let out_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let err_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        let deadline = Instant::now() + self.timeout;
        // Service-manager commands usually finish in about a millisecond:
        // poll from 100 µs up, not a flat 10 ms that every call would pay.
        let mut pause = Duration::from_micros(100);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Timeout {
                    secs: self.timeout.as_secs().max(1),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        };
        let stdout = out_thread.join().unwrap_or_default();
        let stderr = err_thread.join().unwrap_or_default();
        Ok(CommandOutput {
            status: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

/// Runs each distinct argv once and answers repeats from memory; answers
/// can also be given in advance ([`MemoRunner::seed`]). For a command that
/// reports on many services at once (`openclaw profiles`): the same
/// availability probe for 100 instances is one spawn, and a manager that
/// can query many services in one command seeds the per-service answers
/// ([`crate::ServiceManager::prefetch`]). Safe to share between threads; a
/// command asked for by two threads at once still runs once.
pub struct MemoRunner<R> {
    inner: R,
    memo: Mutex<HashMap<Vec<String>, Arc<OnceLock<Memo>>>>,
}

/// A remembered outcome (a [`RunError`] is kept as its kind and message).
#[derive(Debug, Clone)]
enum Memo {
    Out(CommandOutput),
    NotFound(String),
    Timeout(u64),
    Io(std::io::ErrorKind, String),
    Empty,
}

impl Memo {
    fn from_result(r: Result<CommandOutput, RunError>) -> Memo {
        match r {
            Ok(o) => Memo::Out(o),
            Err(RunError::NotFound { program }) => Memo::NotFound(program),
            Err(RunError::Timeout { secs }) => Memo::Timeout(secs),
            Err(RunError::Io(e)) => Memo::Io(e.kind(), e.to_string()),
            Err(RunError::Empty) => Memo::Empty,
        }
    }

    fn to_result(&self) -> Result<CommandOutput, RunError> {
        match self {
            Memo::Out(o) => Ok(o.clone()),
            Memo::NotFound(program) => Err(RunError::NotFound {
                program: program.clone(),
            }),
            Memo::Timeout(secs) => Err(RunError::Timeout { secs: *secs }),
            Memo::Io(kind, msg) => Err(RunError::Io(std::io::Error::new(*kind, msg.clone()))),
            Memo::Empty => Err(RunError::Empty),
        }
    }
}

impl<R: CommandRunner> MemoRunner<R> {
    pub fn new(inner: R) -> Self {
        MemoRunner {
            inner,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// Answers `argv` with `output` from now on without running it (a
    /// command already answered keeps its first answer).
    pub fn seed(&self, argv: Vec<String>, output: CommandOutput) {
        let cell = self.cell(&argv);
        let _ = cell.set(Memo::Out(output));
    }

    /// The runner underneath (for commands that must not be remembered).
    pub fn inner(&self) -> &R {
        &self.inner
    }

    fn cell(&self, argv: &[String]) -> Arc<OnceLock<Memo>> {
        self.memo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(argv.to_vec())
            .or_default()
            .clone()
    }
}

impl<R: CommandRunner> CommandRunner for MemoRunner<R> {
    fn run(&self, argv: &[String]) -> Result<CommandOutput, RunError> {
        if argv.is_empty() {
            return Err(RunError::Empty);
        }
        // The map lock is not held while the command runs; the cell's own
        // lock makes a second caller of the same argv wait for the first.
        let cell = self.cell(argv);
        cell.get_or_init(|| Memo::from_result(self.inner.run(argv)))
            .to_result()
    }
}

/// A fake runner: records every argv and answers from a script. A call that
/// matches no scripted prefix succeeds with empty output.
#[derive(Debug, Default)]
pub struct RecordingRunner {
    calls: Mutex<Vec<Vec<String>>>,
    script: Mutex<Vec<(Vec<String>, CommandOutput)>>,
}

impl RecordingRunner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers calls whose argv starts with `prefix` with `output`. Later
    /// rules win over earlier ones.
    pub fn on(self, prefix: &[&str], output: CommandOutput) -> Self {
        self.script
            .lock()
            .expect("script lock")
            .push((prefix.iter().map(|s| s.to_string()).collect(), output));
        self
    }

    /// Every argv run so far, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// Every call joined with spaces, for readable assertions.
    pub fn call_lines(&self) -> Vec<String> {
        self.calls().iter().map(|c| c.join(" ")).collect()
    }

    /// Forgets the recorded calls (keeps the script).
    pub fn clear(&self) {
        self.calls.lock().expect("calls lock").clear();
    }
}

impl CommandRunner for RecordingRunner {
    fn run(&self, argv: &[String]) -> Result<CommandOutput, RunError> {
        if argv.is_empty() {
            return Err(RunError::Empty);
        }
        self.calls.lock().expect("calls lock").push(argv.to_vec());
        let script = self.script.lock().expect("script lock");
        Ok(script
            .iter()
            .rev()
            .find(|(prefix, _)| argv.starts_with(prefix))
            .map(|(_, out)| out.clone())
            .unwrap_or_else(|| CommandOutput::ok("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn process_runner_captures_output_and_status() {
        let r = ProcessRunner::default();
        let out = r
            .run(&argv(&["sh", "-c", "echo out; echo err >&2; exit 3"]))
            .unwrap();
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert!(!out.success());
    }

    #[test]
    fn process_runner_reports_missing_program() {
        let r = ProcessRunner::default();
        let e = r
            .run(&argv(&["/nonexistent/definitely-not-a-program"]))
            .unwrap_err();
        assert!(matches!(e, RunError::NotFound { .. }), "{e:?}");
    }

    #[test]
    fn process_runner_kills_a_hung_command() {
        let r = ProcessRunner {
            timeout: Duration::from_millis(200),
        };
        let e = r.run(&argv(&["sleep", "30"])).unwrap_err();
        assert!(matches!(e, RunError::Timeout { .. }), "{e:?}");
    }

    #[test]
    fn memo_runner_runs_each_command_once_and_serves_seeds() {
        let inner = RecordingRunner::new()
            .on(&["probe"], CommandOutput::fail(1, "no bus"))
            .on(&["show"], CommandOutput::ok("x=1"));
        let memo = MemoRunner::new(inner);
        memo.seed(argv(&["show", "b"]), CommandOutput::ok("seeded"));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    assert_eq!(memo.run(&argv(&["probe"])).unwrap().stderr, "no bus");
                    assert_eq!(memo.run(&argv(&["show", "a"])).unwrap().stdout, "x=1");
                    assert_eq!(memo.run(&argv(&["show", "b"])).unwrap().stdout, "seeded");
                });
            }
        });
        // Eight threads, two distinct commands run once each; the seeded one never.
        assert_eq!(memo.inner().call_lines(), vec!["probe", "show a"]);
        // A failure to run is remembered as the same error.
        let memo = MemoRunner::new(ProcessRunner::default());
        let missing = argv(&["/nonexistent/definitely-not-a-program"]);
        assert!(matches!(memo.run(&missing), Err(RunError::NotFound { .. })));
        assert!(matches!(memo.run(&missing), Err(RunError::NotFound { .. })));
    }

    #[test]
    fn recording_runner_records_and_scripts() {
        let r = RecordingRunner::new()
            .on(&["a"], CommandOutput::ok("first"))
            .on(&["a", "b"], CommandOutput::fail(2, "no"));
        assert_eq!(r.run(&argv(&["a", "x"])).unwrap().stdout, "first");
        assert_eq!(r.run(&argv(&["a", "b", "c"])).unwrap().status, Some(2));
        assert!(r.run(&argv(&["z"])).unwrap().success());
        assert_eq!(r.call_lines(), vec!["a x", "a b c", "z"]);
    }
}
