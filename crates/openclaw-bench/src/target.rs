//! An implementation under test (ours or the original), each in its own
//! temporary HOME, and the probes that time it.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

use crate::procs::Tracked;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Original,
}

pub struct Target {
    pub kind: Kind,
    pub exe: PathBuf,
    home: TempDir,
    path_env: String,
}

/// A running gateway the runner launched.
pub struct Gateway {
    pub proc: Tracked,
    pub port: u16,
    pub profile: String,
}

/// Launch timings of one gateway.
#[derive(Clone, Copy, Debug)]
pub struct LaunchTimes {
    pub accepting: Duration,
    pub ready: Duration,
}

impl Target {
    pub fn new(kind: Kind, exe: PathBuf) -> Result<Target> {
        let home = tempfile::Builder::new()
            .prefix(match kind {
                Kind::Ours => "openclaw-bench-ours-",
                Kind::Original => "openclaw-bench-original-",
            })
            .tempdir()
            .context("creating a temporary HOME")?;
        Ok(Target {
            kind,
            exe,
            home,
            path_env: std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        })
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Ours => "ours",
            Kind::Original => "original",
        }
    }

    /// How long a gateway of this kind may take to become ready before the
    /// runner gives up (a hang guard, not a measurement).
    pub fn ready_limit(&self) -> Duration {
        match self.kind {
            Kind::Ours => Duration::from_secs(20),
            Kind::Original => Duration::from_secs(180),
        }
    }

    /// A command for this implementation with a clean environment: only
    /// HOME (the temporary one) and PATH pass through, so no OPENCLAW_*
    /// variable of the caller leaks in. The original additionally gets its
    /// opt-outs for self-update and mDNS advertising (which would leave
    /// 127.0.0.1).
    pub fn cmd(&self, profile: Option<&str>, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.env_clear()
            .env("HOME", self.home.path())
            .env("PATH", &self.path_env)
            .env("NO_COLOR", "1")
            .current_dir(self.home.path());
        if self.kind == Kind::Original {
            c.env("OPENCLAW_NO_AUTO_UPDATE", "1")
                .env("OPENCLAW_DISABLE_BONJOUR", "1");
        }
        if let Some(p) = profile {
            c.args(["--profile", p]);
        }
        c.args(args);
        c
    }

    fn log_path(&self, what: &str) -> PathBuf {
        self.home.path().join(format!("bench-{what}.log"))
    }

    /// Run a short CLI command to completion, output to a log file; returns
    /// wall time and exit code.
    pub fn time_cli(
        &self,
        profile: Option<&str>,
        args: &[&str],
        limit: Duration,
    ) -> Result<(Duration, i32)> {
        let log = self.log_path(&format!("cli-{}", args.join("-")));
        let out = fs::File::create(&log)?;
        let mut c = self.cmd(profile, args);
        c.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let mut child = Tracked::spawn(&mut c)
            .with_context(|| format!("starting {} {}", self.exe.display(), args.join(" ")))?;
        let t0 = child.started;
        let st = child.wait_timeout(limit);
        let took = t0.elapsed();
        match st {
            Some(st) => Ok((took, st.code().unwrap_or(-1))),
            None => bail!(
                "{} `{}` did not finish within {:?} (killed); output in {}",
                self.name(),
                args.join(" "),
                limit,
                log.display()
            ),
        }
    }

    /// [`Target::time_cli`] with stdout kept apart (stderr goes to the
    /// log): wall time, exit code and what the command printed.
    pub fn time_cli_stdout(
        &self,
        profile: Option<&str>,
        args: &[&str],
        limit: Duration,
    ) -> Result<(Duration, i32, String)> {
        let log = self.log_path(&format!("cli-{}", args.join("-")));
        let out_path = self.log_path(&format!("cli-{}.stdout", args.join("-")));
        let mut c = self.cmd(profile, args);
        c.stdin(Stdio::null())
            .stdout(fs::File::create(&out_path)?)
            .stderr(fs::File::create(&log)?);
        let mut child = Tracked::spawn(&mut c)
            .with_context(|| format!("starting {} {}", self.exe.display(), args.join(" ")))?;
        let t0 = child.started;
        let st = child.wait_timeout(limit);
        let took = t0.elapsed();
        let Some(st) = st else {
            bail!(
                "{} `{}` did not finish within {:?} (killed); stderr in {}",
                self.name(),
                args.join(" "),
                limit,
                log.display()
            );
        };
        Ok((
            took,
            st.code().unwrap_or(-1),
            fs::read_to_string(&out_path)?,
        ))
    }

    /// Create profile `profile` with base port `port`, the way a user would.
    pub fn setup_profile(&self, profile: &str, port: u16) -> Result<()> {
        let port_s = port.to_string();
        let args: Vec<&str> = match self.kind {
            Kind::Ours => vec!["setup", "--port", &port_s],
            Kind::Original => vec![
                "onboard",
                "--non-interactive",
                "--accept-risk",
                "--mode",
                "local",
                "--auth-choice",
                "skip",
                "--skip-channels",
                "--skip-skills",
                "--skip-daemon",
                "--skip-health",
                "--skip-ui",
                "--gateway-port",
                &port_s,
            ],
        };
        let (_, code) = self.time_cli(Some(profile), &args, Duration::from_secs(180))?;
        if code != 0 {
            let log = self.log_path(&format!("cli-{}", args.join("-")));
            bail!(
                "{} setup of profile {profile} failed (exit {code}):\n{}",
                self.name(),
                tail(&log)
            );
        }
        Ok(())
    }

    /// The gateway token of `profile`, from its config `gateway.auth.token`.
    pub fn token(&self, profile: &str) -> Result<String> {
        let path = self
            .home
            .path()
            .join(format!(".openclaw-{profile}"))
            .join("openclaw.json");
        let text = fs::read_to_string(&path)
            .with_context(|| format!("reading {}'s config {}", self.name(), path.display()))?;
        let parsed = openclaw_config::parse(&text, &path).map_err(|e| anyhow!("{e}"))?;
        match parsed.config.auth() {
            Ok(openclaw_config::AuthConfig::Token(t)) => Ok(t),
            Ok(other) => Err(anyhow!(
                "{}: gateway.auth is {}, not a token",
                path.display(),
                other.mode()
            )),
            Err(e) => Err(anyhow!("{}: {e}", path.display())),
        }
    }

    /// Start `openclaw --profile <p> gateway --port <port>` (not waiting).
    pub fn spawn_gateway(&self, profile: &str, port: u16) -> Result<Gateway> {
        let log = fs::File::create(self.log_path(&format!("gateway-{profile}")))?;
        let port_s = port.to_string();
        let mut c = self.cmd(Some(profile), &["gateway", "--port", &port_s]);
        c.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let proc =
            Tracked::spawn(&mut c).with_context(|| format!("starting {} gateway", self.name()))?;
        Ok(Gateway {
            proc,
            port,
            profile: profile.to_owned(),
        })
    }

    pub fn cli_log_tail(&self, args: &[&str]) -> String {
        tail(&self.log_path(&format!("cli-{}", args.join("-"))))
    }

    pub fn gateway_log_tail(&self, profile: &str) -> String {
        tail(&self.log_path(&format!("gateway-{profile}")))
    }

    /// Launch a gateway and time spawn → port accepting → `/readyz` ready.
    pub fn launch(&self, profile: &str, port: u16) -> Result<(Gateway, LaunchTimes)> {
        let mut gw = self.spawn_gateway(profile, port)?;
        let t0 = gw.proc.started;
        let limit = self.ready_limit();
        let mut poll = Poller::new();
        loop {
            if accepting(port) {
                break;
            }
            self.check_alive(&mut gw, t0, limit)?;
            poll.sleep();
        }
        let accepting_at = t0.elapsed();
        let mut poll = Poller::new();
        loop {
            if readyz(port) {
                break;
            }
            self.check_alive(&mut gw, t0, limit)?;
            poll.sleep();
        }
        let ready_at = t0.elapsed();
        Ok((
            gw,
            LaunchTimes {
                accepting: accepting_at,
                ready: ready_at,
            },
        ))
    }

    pub fn check_alive(&self, gw: &mut Gateway, t0: Instant, limit: Duration) -> Result<()> {
        if let Some(st) = gw.proc.try_exited() {
            bail!(
                "{} gateway (profile {}, port {}) exited early ({st}):\n{}",
                self.name(),
                gw.profile,
                gw.port,
                self.gateway_log_tail(&gw.profile)
            );
        }
        if t0.elapsed() > limit {
            bail!(
                "{} gateway (profile {}, port {}) not ready within {:?}:\n{}",
                self.name(),
                gw.profile,
                gw.port,
                limit,
                self.gateway_log_tail(&gw.profile)
            );
        }
        Ok(())
    }
}

/// Back-off for readiness polling: 100 µs steps for the first 100 ms, then
/// 1 ms up to 2 s, then 10 ms. The first phase keeps the resolution of a
/// millisecond-scale start-up well under its size; the later phases keep the
/// poller from stealing CPU from a slow start-up.
pub struct Poller {
    t0: Instant,
}

impl Poller {
    pub fn new() -> Poller {
        Poller { t0: Instant::now() }
    }
    pub fn sleep(&mut self) {
        let e = self.t0.elapsed();
        let step = if e < Duration::from_millis(100) {
            Duration::from_micros(100)
        } else if e < Duration::from_secs(2) {
            Duration::from_millis(1)
        } else {
            Duration::from_millis(10)
        };
        std::thread::sleep(step);
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Does 127.0.0.1:port accept a TCP connection?
pub fn accepting(port: u16) -> bool {
    TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200)).is_ok()
}

/// Does `GET /readyz` answer 200 with `"ready":true`?
pub fn readyz(port: u16) -> bool {
    http_get(port, "/readyz")
        .map(|(status, body)| status == 200 && body.replace(' ', "").contains("\"ready\":true"))
        .unwrap_or(false)
}

/// A minimal HTTP/1.1 GET over loopback; (status, body).
pub fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&loopback(port), Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("no HTTP status line from 127.0.0.1:{port}{path}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Base ports whose gateway footprint (base, +2, +4 and the CDP range
/// +11..+110) is free right now, spaced so footprints never overlap.
pub fn free_bases(n: usize, start: u16) -> Vec<u16> {
    let mut out = Vec::new();
    let mut base = start;
    while out.len() < n && base < 60000 {
        let free = [0u16, 2, 4, 11, 60, 110]
            .iter()
            .all(|off| TcpListener::bind(loopback(base + off)).is_ok());
        if free {
            out.push(base);
        }
        base += 120;
    }
    out
}

fn tail(path: &Path) -> String {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| format!("(no log at {}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    lines[from..].join("\n")
}
