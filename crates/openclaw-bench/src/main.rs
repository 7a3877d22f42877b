//! `openclaw-bench`: measures our `openclaw` side by side with the original
//! Node.js OpenClaw, and checks the size and memory budgets.
//!
//!   openclaw-bench run [--quick] [--original PATH | --no-original] [--out FILE]
//!   openclaw-bench budget [--settle-secs N]
//!   openclaw-bench burst --port N --token T --pid P [--clients 500]
//!   openclaw-bench many [--gateways 100]
//!
//! See docs/benchmarks.md for what each figure means and how it is taken.

mod procs;
mod report;
mod rss;
mod scale;
mod stats;
mod target;
mod ws;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::report::{Better, Row, at_least, at_most, below, ratio_at_least};
use crate::target::{Gateway, Kind, Target};

/// Benchmarks for the openclaw gateway, side by side with the original.
#[derive(Parser)]
#[command(name = "openclaw-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measure every figure (ours, and the original when available) and print the table.
    Run(RunArgs),
    /// Check the release binary size and idle RSS budgets; exit 1 when over.
    Budget(BudgetArgs),
    /// Only the `health` RPC load, against a gateway that is already
    /// running (for profiling the gateway under load).
    Load(LoadArgs),
    /// Many one-shot clients connecting at once to a gateway that is
    /// already running: served count, time, and the gateway's RSS before,
    /// at the peak and after they left.
    Burst(BurstArgs),
    /// Many of our gateways on one host: all ready, total RSS / PSS / USS,
    /// and how long `openclaw profiles` takes to report on them.
    Many(ManyArgs),
}

#[derive(Args)]
struct ManyArgs {
    /// Our `openclaw` binary (default: `openclaw` next to this binary).
    #[arg(long)]
    openclaw: Option<PathBuf>,
    /// How many gateways.
    #[arg(long, default_value_t = 100)]
    gateways: usize,
    /// Seconds after all are ready before memory is read.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
    /// How many times `profiles --json` is timed.
    #[arg(long, default_value_t = 5)]
    profiles_runs: usize,
}

#[derive(Args)]
struct BurstArgs {
    /// The gateway's base port on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// The gateway's auth token.
    #[arg(long)]
    token: String,
    /// The gateway's pid (its RSS is read from /proc).
    #[arg(long)]
    pid: i32,
    /// Clients connecting at once.
    #[arg(long, default_value_t = 500)]
    clients: usize,
    /// Seconds each client stays connected after its `health` call.
    #[arg(long, default_value_t = 2)]
    pause_secs: u64,
    /// Seconds to wait after the last client left before reading RSS.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
}

#[derive(Args)]
struct LoadArgs {
    /// The gateway's base port on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// The gateway's auth token (gateway.auth.token of its config).
    #[arg(long)]
    token: String,
    /// Concurrent authenticated clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    secs: u64,
}

#[derive(Args)]
struct RunArgs {
    /// A short run (about 2-3 minutes with the original): fewer repetitions, 3 s idle, 2 s per RPC level.
    #[arg(long)]
    quick: bool,
    /// Our `openclaw` binary (default: `openclaw` next to this binary, i.e. target/release/openclaw).
    #[arg(long)]
    openclaw: Option<PathBuf>,
    /// The original's wrapper, as printed by shared/tools/install-original-openclaw.sh
    /// (default: ~/.cache/openclaw-original/openclaw-original when it exists).
    #[arg(long, conflicts_with = "no_original")]
    original: Option<PathBuf>,
    /// Measure ours only.
    #[arg(long)]
    no_original: bool,
    /// Measure the original only (e.g. to record its figures before ours exists).
    #[arg(long, conflicts_with = "no_original")]
    no_ours: bool,
    /// Most original gateways to run at once for the many-gateways figure
    /// (default: what fits in half of MemAvailable at ~1 GiB each, at most 5).
    #[arg(long)]
    original_max_gateways: Option<usize>,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Gateways for the many-gateways-on-one-host figure (ours only; 0 skips it).
    #[arg(long, default_value_t = 100)]
    many_gateways: usize,
}

#[derive(Args)]
struct BudgetArgs {
    /// Our `openclaw` binary (default: `openclaw` next to this binary).
    #[arg(long)]
    openclaw: Option<PathBuf>,
    /// Binary size limit in MB (10^6 bytes).
    #[arg(long, default_value_t = 20.0)]
    max_binary_mb: f64,
    /// Idle RSS limit in MB (10^6 bytes) for one gateway's process tree.
    #[arg(long, default_value_t = 12.0)]
    max_rss_mb: f64,
    /// Seconds to let the gateway sit idle after /readyz before reading its RSS.
    #[arg(long, default_value_t = 10)]
    settle_secs: u64,
}

fn vm_rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            l.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn burst(a: BurstArgs) -> Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let before = vm_rss_kib(a.pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), a.pid);
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(vm_rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let r = rt.block_on(ws::burst(
        a.port,
        &a.token,
        a.clients,
        Duration::from_secs(a.pause_secs),
    ));
    println!(
        "last health answer {:.0} ms after the first connect",
        r.answered.as_secs_f64() * 1000.0
    );
    std::thread::sleep(Duration::from_secs(a.settle_secs));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();
    let after = vm_rss_kib(a.pid);
    println!(
        "clients {} served {} failed {} in {:.1} s; gateway RSS {:.1} MB before, {:.1} MB peak, {:.1} MB {} s after",
        a.clients,
        r.served,
        r.failed,
        r.elapsed.as_secs_f64(),
        before as f64 / 1024.0,
        peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0,
        after as f64 / 1024.0,
        a.settle_secs
    );
    for e in &r.errors {
        println!("  error: {e}");
    }
    Ok(if r.failed == 0 { 0 } else { 1 })
}

fn main() -> ExitCode {
    procs::install_cleanup_handlers();
    let cli = Cli::parse();
    let res = match cli.command {
        Cmd::Run(a) => run(a),
        Cmd::Budget(a) => budget(a),
        Cmd::Load(a) => load(a),
        Cmd::Burst(a) => burst(a),
        Cmd::Many(a) => many_cmd(a),
    };
    procs::kill_all_trees();
    match res {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("openclaw-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn default_ours(given: Option<PathBuf>) -> Result<PathBuf> {
    let p = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("openclaw"))
            .context("locating the directory of openclaw-bench")?,
    };
    if !p.is_file() {
        bail!(
            "our openclaw binary was not found at {}; build it with `cargo build --release` \
             (it lands next to openclaw-bench in target/release) or pass --openclaw PATH",
            p.display()
        );
    }
    // Children run in their temporary HOME: a relative path would not resolve there.
    std::fs::canonicalize(&p).with_context(|| format!("resolving {}", p.display()))
}

fn default_original(a: &RunArgs) -> Result<Option<PathBuf>> {
    if a.no_original {
        return Ok(None);
    }
    if let Some(p) = &a.original {
        if !p.is_file() {
            bail!(
                "--original {}: no such file; install it with `bash shared/tools/install-original-openclaw.sh`, \
                 which prints the wrapper's path",
                p.display()
            );
        }
        return Ok(Some(p.clone()));
    }
    let guess = std::env::var_os("HOME")
        .map(PathBuf::from)
        .map(|h| h.join(".cache/openclaw-original/openclaw-original"));
    Ok(guess.filter(|p| p.is_file()))
}

const MB: f64 = 1_000_000.0;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn kib_to_mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / MB
}

/// How much each figure is repeated.
struct Plan {
    version_runs: usize,
    status_down_runs: [usize; 2],
    cycles: [usize; 2],
    status_up_runs: [usize; 2],
    idle: Duration,
    rpc_levels: Vec<usize>,
    rpc_duration: Duration,
    multi_ns: Vec<usize>,
    multi_reps: [usize; 2],
    multi_settle: Duration,
    /// Clients connecting at once to one gateway.
    burst_levels: Vec<usize>,
    burst_reps: [usize; 2],
    burst: scale::BurstPlan,
    /// `profiles --json` runs timed with the many gateways up.
    many_profiles_runs: usize,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            version_runs: 20,
            status_down_runs: [10, 1],
            cycles: [5, 3],
            status_up_runs: [5, 1],
            idle: Duration::from_secs(10),
            rpc_levels: vec![1, 16, 128],
            rpc_duration: Duration::from_secs(10),
            multi_ns: vec![1, 5, 20],
            multi_reps: [3, 1],
            multi_settle: Duration::from_secs(5),
            burst_levels: vec![500, 1000],
            burst_reps: [3, 1],
            burst: scale::BurstPlan {
                idle: Duration::from_secs(10),
                pause: Duration::from_secs(2),
                settle: Duration::from_secs(5),
            },
            many_profiles_runs: 5,
        }
    }
    fn quick() -> Plan {
        Plan {
            version_runs: 5,
            status_down_runs: [3, 1],
            cycles: [2, 1],
            status_up_runs: [2, 1],
            idle: Duration::from_secs(3),
            rpc_levels: vec![1, 16, 128],
            rpc_duration: Duration::from_secs(2),
            multi_ns: vec![1, 5, 20],
            multi_reps: [1, 1],
            multi_settle: Duration::from_secs(2),
            burst_levels: vec![500, 1000],
            burst_reps: [1, 1],
            burst: scale::BurstPlan {
                idle: Duration::from_secs(3),
                pause: Duration::from_secs(2),
                settle: Duration::from_secs(5),
            },
            many_profiles_runs: 3,
        }
    }
}

fn idx(k: Kind) -> usize {
    match k {
        Kind::Ours => 0,
        Kind::Original => 1,
    }
}

fn say(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn machine_facts() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "- CPU: {cpu}, nproc = {nproc}\n- memory: {:.1} GiB total, {:.1} GiB available at start\n- kernel: {}\n- load average at start: {}\n- date (UTC): {}",
        total as f64 / 1048576.0,
        mem_available_kib() as f64 / 1048576.0,
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        utc_now()
    )
}

fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn version_of(t: &Target) -> String {
    let out = t.cmd(None, &["--version"]).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| format!("(--version failed: {e})"))
}

/// Size on disk of a directory tree (files only), in bytes.
fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

/// What the original needs on disk: its Node runtime plus every package it
/// loads (the install dir's node_modules), resolved from the wrapper.
fn original_install_size(wrapper: &Path) -> Option<u64> {
    let dir = std::fs::canonicalize(wrapper).ok()?.parent()?.to_path_buf();
    let nm = dir.join("node_modules");
    nm.is_dir().then(|| dir_size(&nm))
}

/// One launch cycle: launch, status while up, idle RSS, SIGTERM → exit.
fn cycle(t: &Target, profile: &str, port: u16, plan: &Plan, m: &mut Measured) -> Result<()> {
    let i = idx(t.kind);
    let (mut gw, times) = t.launch(profile, port)?;
    m.accepting[i].push(ms(times.accepting));
    m.ready[i].push(ms(times.ready));
    for _ in 0..plan.status_up_runs[i] {
        let (d, code) = t.time_cli(Some(profile), &["status"], Duration::from_secs(120))?;
        if code != 0 {
            // Timing a failing command would be meaningless.
            bail!(
                "{} `status` with the gateway up exited {code}:\n{}",
                t.name(),
                t.cli_log_tail(&["status"])
            );
        }
        m.status_up[i].push(ms(d));
        m.status_up_codes[i].push(code);
    }
    // Idle RSS: `plan.idle` after ready, counted from the ready instant.
    let ready_at = gw.proc.started + times.ready;
    let wait = (ready_at + plan.idle).saturating_duration_since(Instant::now());
    std::thread::sleep(wait);
    t.check_alive(&mut gw, Instant::now(), Duration::from_secs(1))?;
    let (kib, nprocs) = rss::tree_rss_kib(gw.proc.pid());
    m.idle_rss[i].push(kib_to_mb(kib));
    m.idle_procs[i] = nprocs;
    match gw.proc.sigterm_and_time(Duration::from_secs(60)) {
        Some(d) => m.sigterm[i].push(ms(d)),
        None => say(format!(
            "{}: gateway did not exit within 60 s of SIGTERM (killed)",
            t.name()
        )),
    }
    say(format!(
        "{} cycle: accepting {:.2} ms, ready {:.2} ms, idle RSS {:.2} MB in {} processes",
        t.name(),
        ms(times.accepting),
        ms(times.ready),
        kib_to_mb(kib),
        nprocs
    ));
    Ok(())
}

/// N gateways launched at once: time until all are ready; total RSS after settling.
fn multi(t: &Target, profiles: &[(String, u16)], plan: &Plan) -> Result<(f64, f64)> {
    let mut gws: Vec<Gateway> = Vec::with_capacity(profiles.len());
    let t0 = Instant::now();
    for (p, port) in profiles {
        gws.push(t.spawn_gateway(p, *port)?);
    }
    let mut ready = vec![false; gws.len()];
    let mut poll = target::Poller::new();
    while ready.iter().any(|r| !r) {
        for (k, gw) in gws.iter_mut().enumerate() {
            if !ready[k] {
                if target::readyz(gw.port) {
                    ready[k] = true;
                } else {
                    t.check_alive(gw, t0, t.ready_limit())?;
                }
            }
        }
        if ready.iter().any(|r| !r) {
            poll.sleep();
        }
    }
    let all_ready = t0.elapsed();
    std::thread::sleep(plan.multi_settle);
    let kib: u64 = gws.iter().map(|g| rss::tree_rss_kib(g.proc.pid()).0).sum();
    for g in &mut gws {
        // SAFETY: SIGTERM to a gateway we started; all stop in parallel.
        unsafe {
            libc::kill(g.proc.pid(), libc::SIGTERM);
        }
    }
    for g in &mut gws {
        let _ = g.proc.wait_timeout(Duration::from_secs(60));
    }
    Ok((ms(all_ready), kib_to_mb(kib)))
}

#[derive(Default)]
struct Measured {
    version: [Vec<f64>; 2],
    status_down: [Vec<f64>; 2],
    status_down_codes: [Vec<i32>; 2],
    status_up: [Vec<f64>; 2],
    status_up_codes: [Vec<i32>; 2],
    accepting: [Vec<f64>; 2],
    ready: [Vec<f64>; 2],
    idle_rss: [Vec<f64>; 2],
    idle_procs: [usize; 2],
    sigterm: [Vec<f64>; 2],
    rpc: [Vec<ws::LoadResult>; 2],
    multi_ready: [Vec<(usize, Vec<f64>)>; 2],
    multi_rss: [Vec<(usize, Vec<f64>)>; 2],
    binary_mb: [Option<f64>; 2],
    burst: [Vec<scale::BurstFigure>; 2],
    many: Option<scale::ManyFigure>,
    errors: Vec<String>,
}

fn push_n(v: &mut Vec<(usize, Vec<f64>)>, n: usize, x: f64) {
    match v.iter_mut().find(|(k, _)| *k == n) {
        Some((_, xs)) => xs.push(x),
        None => v.push((n, vec![x])),
    }
}

fn get_n(v: &[(usize, Vec<f64>)], n: usize) -> Vec<f64> {
    v.iter()
        .find(|(k, _)| *k == n)
        .map(|(_, x)| x.clone())
        .unwrap_or_default()
}

fn run(a: RunArgs) -> Result<u8> {
    let started = Instant::now();
    let plan = if a.quick { Plan::quick() } else { Plan::full() };
    let ours_exe = match a.no_ours {
        true => None,
        false => Some(default_ours(a.openclaw.clone())?),
    };
    let orig_exe = default_original(&a)?;
    if ours_exe.is_none() && orig_exe.is_none() {
        bail!("--no-ours given but the original was not found; pass --original PATH");
    }
    let facts = machine_facts();
    let ours = match &ours_exe {
        Some(p) => Some(Target::new(Kind::Ours, p.clone())?),
        None => None,
    };
    let orig = match &orig_exe {
        Some(p) => Some(Target::new(Kind::Original, p.clone())?),
        None => None,
    };
    let targets: Vec<&Target> = ours.iter().chain(orig.as_ref()).collect();
    let orig_cap = a.original_max_gateways.unwrap_or_else(|| {
        let gib = mem_available_kib() as f64 / 1048576.0;
        ((gib * 0.5).floor() as usize).clamp(1, 5)
    });
    match &ours {
        Some(o) => say(format!("ours: {} ({})", o.exe.display(), version_of(o))),
        None => say("ours: not measured (--no-ours)"),
    }
    match &orig {
        Some(o) => say(format!(
            "original: {} ({}); at most {orig_cap} original gateways at once",
            o.exe.display(),
            version_of(o)
        )),
        None => say("original: not available, measuring ours only"),
    }

    let mut m = Measured::default();
    if let Some(p) = &ours_exe {
        m.binary_mb[0] = Some(std::fs::metadata(p)?.len() as f64 / MB);
    }
    if let Some(p) = &orig_exe {
        m.binary_mb[1] = original_install_size(p).map(|b| b as f64 / MB);
    }

    // Profiles: "bench" for figures 1-5, b0..b19 for figure 6, each on a
    // base port whose footprint is free, below the ephemeral port range.
    let max_n = *plan.multi_ns.iter().max().unwrap_or(&1);
    let start_port = 21000 + (std::process::id() % 50) as u16 * 7;
    let bases = target::free_bases(2 * (1 + max_n), start_port);
    if bases.len() < 2 * (1 + max_n) {
        bail!(
            "could not find {} free port footprints on 127.0.0.1",
            2 * (1 + max_n)
        );
    }
    let main_port = [bases[0], bases[1]];
    let multi_ports = [&bases[2..2 + max_n], &bases[2 + max_n..2 + 2 * max_n]];
    let orig_ns: Vec<usize> = {
        let mut v: Vec<usize> = plan.multi_ns.iter().map(|n| (*n).min(orig_cap)).collect();
        v.dedup();
        v
    };
    for t in &targets {
        let i = idx(t.kind);
        let t0 = Instant::now();
        t.setup_profile("bench", main_port[i])?;
        let n_profiles = if t.kind == Kind::Ours {
            max_n
        } else {
            *orig_ns.iter().max().unwrap_or(&1)
        };
        for (k, port) in multi_ports[i].iter().take(n_profiles).enumerate() {
            t.setup_profile(&format!("b{k}"), *port)?;
        }
        say(format!(
            "{}: set up {} profiles in {:.1} s",
            t.name(),
            n_profiles + 1,
            t0.elapsed().as_secs_f64()
        ));
    }

    // 1. --version, and status with the gateway down, interleaved.
    for _ in 0..plan.version_runs {
        for t in &targets {
            let (d, code) = t.time_cli(None, &["--version"], Duration::from_secs(30))?;
            if code != 0 {
                bail!("{} --version exited {code}", t.name());
            }
            m.version[idx(t.kind)].push(ms(d));
        }
    }
    let down_max = *plan.status_down_runs.iter().max().unwrap_or(&0);
    for r in 0..down_max {
        for t in &targets {
            let i = idx(t.kind);
            if r < plan.status_down_runs[i] {
                let (d, code) = t.time_cli(Some("bench"), &["status"], Duration::from_secs(120))?;
                if code == 2 {
                    // Exit 2 is a usage error (e.g. no such command), not
                    // an answer about a stopped gateway.
                    m.errors.push(format!(
                        "{} `status` with the gateway down: usage error (exit 2): {}",
                        t.name(),
                        t.cli_log_tail(&["status"])
                    ));
                    continue;
                }
                m.status_down[i].push(ms(d));
                m.status_down_codes[i].push(code);
            }
        }
    }
    say("version and status (down) done");

    // 2-4. Launch cycles, interleaved run by run.
    let cyc_max = *plan.cycles.iter().max().unwrap_or(&0);
    for r in 0..cyc_max {
        for t in &targets {
            let i = idx(t.kind);
            if r < plan.cycles[i]
                && let Err(e) = cycle(t, "bench", main_port[i], &plan, &mut m)
            {
                say(format!("{} cycle failed: {e:#}", t.name()));
                m.errors.push(format!("{} launch cycle: {e:#}", t.name()));
            }
        }
    }

    // 5. RPC load: one gateway per implementation, levels in turn; the two
    // gateways never run at the same time.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for t in &targets {
        let i = idx(t.kind);
        let r = (|| -> Result<()> {
            let token = t.token("bench")?;
            let (mut gw, _) = t.launch("bench", main_port[i])?;
            for &c in &plan.rpc_levels {
                let res = rt.block_on(ws::load(gw.port, &token, c, plan.rpc_duration));
                match res {
                    Ok(res) => {
                        say(format!(
                            "{} rpc {c} clients: {:.0} req/s, p50 {:.1} µs, p99 {:.1} µs, {} errors ({} connect-time events drained first)",
                            t.name(),
                            res.throughput(),
                            res.p50_us,
                            res.p99_us,
                            res.errors,
                            res.drained
                        ));
                        m.rpc[i].push(res);
                    }
                    Err(e) => {
                        say(format!("{} rpc {c} clients failed: {e:#}", t.name()));
                        m.errors
                            .push(format!("{} RPC with {c} clients: {e:#}", t.name()));
                    }
                }
            }
            gw.proc.sigterm_and_time(Duration::from_secs(60));
            Ok(())
        })();
        if let Err(e) = r {
            m.errors.push(format!("{} RPC: {e:#}", t.name()));
        }
    }

    // 5b. Bursts: N one-shot clients connecting at once to a fresh
    // gateway, the same client for both; interleaved rep by rep.
    for &n in &plan.burst_levels {
        let reps = *plan.burst_reps.iter().max().unwrap_or(&0);
        for r in 0..reps {
            for t in &targets {
                let i = idx(t.kind);
                if r >= plan.burst_reps[i] {
                    continue;
                }
                match scale::burst_level(t, "bench", main_port[i], n, &plan.burst, &rt) {
                    Ok(f) => {
                        say(format!(
                            "{} burst {n}: {} served, {} failed; last answer {:.0} ms, all done {:.0} ms; RSS {:.1} idle → {:.1} peak → {:.1} MB {} s after",
                            t.name(),
                            f.result.served,
                            f.result.failed,
                            ms(f.result.answered),
                            ms(f.result.elapsed),
                            f.idle_mb,
                            f.peak_mb,
                            f.after_mb,
                            plan.burst.settle.as_secs()
                        ));
                        for e in &f.result.errors {
                            say(format!("  {} burst {n} client error: {e}", t.name()));
                        }
                        m.burst[i].push(f);
                    }
                    Err(e) => m
                        .errors
                        .push(format!("{} burst of {n} clients: {e:#}", t.name())),
                }
            }
        }
    }

    // 6. Many gateways at once, interleaved by N.
    for &n in &plan.multi_ns {
        for t in &targets {
            let i = idx(t.kind);
            let eff = if t.kind == Kind::Original {
                n.min(orig_cap)
            } else {
                n
            };
            if t.kind == Kind::Original
                && eff != n
                && get_n(&m.multi_ready[i], eff).len() >= plan.multi_reps[i]
            {
                continue; // the capped N was already measured
            }
            for _ in 0..plan.multi_reps[i] {
                let profiles: Vec<(String, u16)> = (0..eff)
                    .map(|k| (format!("b{k}"), multi_ports[i][k]))
                    .collect();
                match multi(t, &profiles, &plan) {
                    Ok((ready, mb)) => {
                        say(format!(
                            "{} {eff} gateways: all ready {ready:.1} ms, total RSS {mb:.1} MB",
                            t.name()
                        ));
                        push_n(&mut m.multi_ready[i], eff, ready);
                        push_n(&mut m.multi_rss[i], eff, mb);
                    }
                    Err(e) => m.errors.push(format!("{} {eff} gateways: {e:#}", t.name())),
                }
            }
        }
    }

    // 7. Many of our gateways on one host (the original would need ~1 GB
    // each), in a HOME of their own so `profiles` lists exactly them.
    if a.many_gateways > 0
        && let Some(p) = &ours_exe
    {
        match many_figure(
            p,
            a.many_gateways,
            plan.multi_settle,
            plan.many_profiles_runs,
        ) {
            Ok(f) => m.many = Some(f),
            Err(e) => m.errors.push(format!(
                "ours {} gateways on one host: {e:#}",
                a.many_gateways
            )),
        }
    }

    let report = render(
        &m,
        &plan,
        &facts,
        ours.as_ref(),
        orig.as_ref(),
        orig_cap,
        started.elapsed(),
        a.quick,
    );
    println!("{report}");
    if let Some(out) = &a.out {
        std::fs::write(out, &report).with_context(|| format!("writing {}", out.display()))?;
        say(format!("report written to {}", out.display()));
    }
    Ok(if m.errors.is_empty() { 0 } else { 1 })
}

/// Sets up `n` profiles in a fresh HOME and runs [`scale::many`].
fn many_figure(
    exe: &Path,
    n: usize,
    settle: Duration,
    profiles_runs: usize,
) -> Result<scale::ManyFigure> {
    let t = Target::new(Kind::Ours, exe.to_path_buf())?;
    // Below the other figures' ports (from 21000) and the ephemeral range.
    let bases = target::free_bases(n, 8000);
    if bases.len() < n {
        bail!("could not find {n} free port footprints on 127.0.0.1");
    }
    let t0 = Instant::now();
    let profiles: Vec<(String, u16)> = bases
        .iter()
        .enumerate()
        .map(|(k, port)| (format!("h{k}"), *port))
        .collect();
    for (p, port) in &profiles {
        t.setup_profile(p, *port)?;
    }
    say(format!(
        "ours: set up {n} profiles in {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    let f = scale::many(&t, &profiles, settle, profiles_runs)?;
    say(format!(
        "ours {n} gateways: all ready {:.0} ms; RSS {:.1} MB, PSS {:.1} MB, USS {:.1} MB; `profiles` {:?} ms, {} healthy",
        f.all_ready_ms,
        scale::kib_mb(f.mem.rss),
        scale::kib_mb(f.mem.pss),
        scale::kib_mb(f.mem.uss),
        f.profiles_ms.iter().map(|x| x.round()).collect::<Vec<_>>(),
        f.profiles_healthy
    ));
    Ok(f)
}

/// `openclaw-bench many`: the many-gateways figure alone.
fn many_cmd(a: ManyArgs) -> Result<u8> {
    let exe = default_ours(a.openclaw)?;
    let f = many_figure(
        &exe,
        a.gateways,
        Duration::from_secs(a.settle_secs),
        a.profiles_runs,
    )?;
    let mut rows = Vec::new();
    many_rows(&mut rows, &f);
    println!("{}", machine_facts());
    println!("- ours: `{}`\n", exe.display());
    println!("{}", report::table(&rows));
    Ok(if f.profiles_healthy == f.gateways {
        0
    } else {
        1
    })
}

fn many_rows(rows: &mut Vec<Row>, f: &scale::ManyFigure) {
    let n = f.gateways;
    let one = |label: String, unit: &'static str, v: f64| {
        let mut r = Row::new(label, unit, Better::Lower);
        r.ours = vec![v];
        r.orig_note = Some("not run (~1 GB per gateway)".into());
        r
    };
    rows.push(one(
        format!("{n} gateways on one host → all ready"),
        "ms",
        f.all_ready_ms,
    ));
    rows.push(one(
        format!("{n} gateways → total RSS (shared pages counted once per process)"),
        "MB",
        scale::kib_mb(f.mem.rss),
    ));
    rows.push(one(
        format!("{n} gateways → total PSS (shared pages divided among them)"),
        "MB",
        scale::kib_mb(f.mem.pss),
    ));
    rows.push(one(
        format!("{n} gateways → total USS (pages of their own)"),
        "MB",
        scale::kib_mb(f.mem.uss),
    ));
    let mut p = Row::new(
        format!("`openclaw profiles --json` with {n} running"),
        "ms",
        Better::Lower,
    );
    p.ours = f.profiles_ms.clone();
    p.orig_note = Some("no such command".into());
    rows.push(p.target("well under 200 ms (≤ 100 ms)", at_most(100.0)));
    let mut h = Row::new(
        format!("`profiles`: instances running with health ok (of {n})"),
        "",
        Better::Higher,
    );
    h.ours = vec![f.profiles_healthy as f64];
    h.orig_note = Some("—".into());
    rows.push(h.target(format!("all {n}"), at_least(n as f64)));
}

#[allow(clippy::too_many_arguments)]
fn render(
    m: &Measured,
    plan: &Plan,
    facts: &str,
    ours: Option<&Target>,
    orig: Option<&Target>,
    orig_cap: usize,
    took: Duration,
    quick: bool,
) -> String {
    let no_orig = orig.is_none().then(|| "not run".to_string());
    let mut rows = Vec::new();
    let mk = |label: &str, unit: &'static str, better, data: &[Vec<f64>; 2]| {
        let mut r = Row::new(label, unit, better);
        r.ours = data[0].clone();
        r.orig = data[1].clone();
        r.orig_note = no_orig.clone();
        r
    };
    rows.push(mk("`--version`", "ms", Better::Lower, &m.version).target("≤ 3 ms", at_most(3.0)));
    rows.push(
        mk("`status`, gateway up", "ms", Better::Lower, &m.status_up)
            .target("≤ 20 ms", at_most(20.0)),
    );
    rows.push(
        mk(
            "`status`, gateway down",
            "ms",
            Better::Lower,
            &m.status_down,
        )
        .target("≤ 20 ms", at_most(20.0)),
    );
    rows.push(
        mk("launch → port accepting", "ms", Better::Lower, &m.accepting)
            .target("≤ 10 ms", at_most(10.0))
            .target("≥ 300× faster than original", ratio_at_least(300.0)),
    );
    rows.push(mk(
        "launch → `/readyz` ready",
        "ms",
        Better::Lower,
        &m.ready,
    ));
    rows.push(
        mk(
            &format!(
                "idle RSS, {} s after ready (process tree)",
                plan.idle.as_secs()
            ),
            "MB",
            Better::Lower,
            &m.idle_rss,
        )
        .target("≤ 12 MB", at_most(12.0))
        .target("≤ 1/50 of original", ratio_at_least(50.0)),
    );
    rows.push(mk("SIGTERM → exit", "ms", Better::Lower, &m.sigterm));
    for &c in &plan.rpc_levels {
        let pick = |i: usize, f: &dyn Fn(&ws::LoadResult) -> f64| -> Vec<f64> {
            m.rpc[i].iter().filter(|r| r.clients == c).map(f).collect()
        };
        let data_p50 = [pick(0, &|r| r.p50_us), pick(1, &|r| r.p50_us)];
        let data_p99 = [pick(0, &|r| r.p99_us), pick(1, &|r| r.p99_us)];
        let data_tp = [pick(0, &|r| r.throughput()), pick(1, &|r| r.throughput())];
        rows.push(mk(
            &format!("`health` p50, {c} clients"),
            "µs",
            Better::Lower,
            &data_p50,
        ));
        let mut p99 = mk(
            &format!("`health` p99, {c} clients"),
            "µs",
            Better::Lower,
            &data_p99,
        );
        if c == 16 {
            p99 = p99.target("< 1 ms", below(1000.0));
        }
        rows.push(p99);
        let mut tp = mk(
            &format!("`health` throughput, {c} clients"),
            "req/s",
            Better::Higher,
            &data_tp,
        );
        if c == *plan.rpc_levels.iter().max().unwrap_or(&c) || c == 16 {
            tp = tp.target("≥ 50k req/s", at_least(50_000.0));
        }
        rows.push(tp);
    }
    let orig_one_rss = stats::summarize(&m.idle_rss[1]).map(|s| s.median);
    for &n in &plan.multi_ns {
        // Without the original there is nothing capped.
        let eff = if orig.is_some() { n.min(orig_cap) } else { n };
        let note = match (orig.is_some(), eff != n) {
            (false, _) => Some("not run".to_string()),
            (true, true) => Some(format!("capped: {eff} gateways, not {n}")),
            _ => None,
        };
        let mut r = Row::new(
            format!(
                "{n} gateway{} at once → all ready",
                if n == 1 { "" } else { "s" }
            ),
            "ms",
            Better::Lower,
        );
        r.ours = get_n(&m.multi_ready[0], n);
        r.orig = get_n(&m.multi_ready[1], eff);
        r.orig_note = note.clone();
        if eff != n {
            // Times of fewer original gateways are not comparable as a ratio.
            r.better = Better::Lower;
        }
        let comparable = eff == n;
        let mut rr = Row::new(
            format!(
                "{n} gateway{} at once → total RSS",
                if n == 1 { "" } else { "s" }
            ),
            "MB",
            Better::Lower,
        );
        rr.ours = get_n(&m.multi_rss[0], n);
        rr.orig = get_n(&m.multi_rss[1], eff);
        rr.orig_note = note;
        if !comparable {
            // Keep the original's figure visible but no ratio across different N.
            r.orig_note = Some(format!(
                "{} for {eff} (capped)",
                stats::summarize(&r.orig)
                    .map(|s| format!("{} ms", report::fmt_num(s.median)))
                    .unwrap_or("—".into())
            ));
            r.orig.clear();
            rr.orig_note = Some(format!(
                "{} for {eff} (capped)",
                stats::summarize(&rr.orig)
                    .map(|s| format!("{} MB", report::fmt_num(s.median)))
                    .unwrap_or("—".into())
            ));
            rr.orig.clear();
        }
        if n == 20 {
            rr = rr.target("< ¼ of one original gateway", move |o, _| {
                orig_one_rss.map(|g| o.median < g / 4.0)
            });
        }
        rows.push(r);
        rows.push(rr);
    }
    for &n in &plan.burst_levels {
        let pick = |i: usize, f: &dyn Fn(&scale::BurstFigure) -> f64| -> Vec<f64> {
            m.burst[i]
                .iter()
                .filter(|b| b.result.clients == n)
                .map(f)
                .collect()
        };
        let both = |f: &dyn Fn(&scale::BurstFigure) -> f64| [pick(0, f), pick(1, f)];
        let pause = plan.burst.pause.as_secs();
        let mut served = mk(
            &format!("{n} clients connecting at once → served (of {n})"),
            "",
            Better::Higher,
            &both(&|b| b.result.served as f64),
        )
        .target(format!("all {n}"), at_least(n as f64));
        served = served.target("ahead of the original", |o, g| {
            g.map(|g| o.median >= g.median)
        });
        rows.push(served);
        rows.push(mk(
            &format!("{n} clients → last `health` answered"),
            "ms",
            Better::Lower,
            &both(&|b| ms(b.result.answered)),
        ));
        let mut done = mk(
            &format!("{n} clients → all done ({pause} s pause and close included)"),
            "ms",
            Better::Lower,
            &both(&|b| ms(b.result.elapsed)),
        );
        if n >= 1000 {
            done = done.target("< 5 s", below(5000.0));
        }
        rows.push(done.target("ahead of the original", |o, g| {
            g.map(|g| o.median < g.median)
        }));
        rows.push(mk(
            &format!("{n} clients → RSS idle before (process tree)"),
            "MB",
            Better::Lower,
            &both(&|b| b.idle_mb),
        ));
        let mut peak = mk(
            &format!("{n} clients → peak RSS"),
            "MB",
            Better::Lower,
            &both(&|b| b.peak_mb),
        );
        if n >= 1000 {
            peak = peak.target("< 60 MB", below(60.0));
        }
        rows.push(peak);
        let idle_median = stats::summarize(&pick(0, &|b| b.idle_mb)).map(|s| s.median);
        rows.push(
            mk(
                &format!(
                    "{n} clients → RSS {} s after they left",
                    plan.burst.settle.as_secs()
                ),
                "MB",
                Better::Lower,
                &both(&|b| b.after_mb),
            )
            .target("≤ 2× idle", move |o, _| {
                idle_median.map(|i| o.median <= 2.0 * i)
            }),
        );
    }
    if let Some(f) = &m.many {
        many_rows(&mut rows, f);
    }
    let mut bin = Row::new(
        "release binary (original: node + node_modules)",
        "MB",
        Better::Lower,
    );
    bin.ours = m.binary_mb[0].into_iter().collect();
    bin.orig = m.binary_mb[1].into_iter().collect();
    bin.orig_note = no_orig.clone();
    rows.push(bin.target("≤ 20 MB", at_most(20.0)));

    let mut s = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "## Benchmark run ({})\n",
        if quick { "quick" } else { "full" }
    );
    let _ = writeln!(s, "{facts}");
    match ours {
        Some(o) => {
            let _ = writeln!(s, "- ours: `{}` — {}", o.exe.display(), version_of(o));
        }
        None => {
            let _ = writeln!(s, "- ours: not measured in this run");
        }
    }
    match orig {
        Some(o) => {
            let _ = writeln!(s, "- original: `{}` — {}", o.exe.display(), version_of(o));
        }
        None => {
            let _ = writeln!(s, "- original: not measured in this run");
        }
    }
    let _ = writeln!(s, "- run took {:.0} s\n", took.as_secs_f64());
    s.push_str(&report::table(&rows));
    s.push('\n');
    let codes = |v: &Vec<i32>| {
        let mut c = v.clone();
        c.sort();
        c.dedup();
        format!("{c:?}")
    };
    let _ = writeln!(
        s,
        "- `status` exit codes — up: ours {}, original {}; down: ours {}, original {}",
        codes(&m.status_up_codes[0]),
        codes(&m.status_up_codes[1]),
        codes(&m.status_down_codes[0]),
        codes(&m.status_down_codes[1]),
    );
    let _ = writeln!(
        s,
        "- processes in an idle gateway's tree: ours {}, original {}",
        m.idle_procs[0], m.idle_procs[1]
    );
    if orig.is_some() {
        let _ = writeln!(
            s,
            "- the original runs at most {orig_cap} gateways at once here (about 1 GiB each; the cap keeps them within half of the memory available at start)"
        );
    }
    for (i, name) in [(0, "ours"), (1, "original")] {
        let drained: Vec<String> = m.rpc[i]
            .iter()
            .map(|r| format!("{} at {}", r.drained, r.clients))
            .collect();
        if !drained.is_empty() {
            let _ = writeln!(
                s,
                "- event frames drained after connecting, before the RPC clock ({name}; per client count): {}",
                drained.join(", ")
            );
        }
    }
    for r in m.rpc.iter().flatten() {
        if r.errors > 0 {
            let _ = writeln!(
                s,
                "- RPC with {} clients: {} client(s) stopped on an error",
                r.clients, r.errors
            );
        }
    }
    for (i, name) in [(0, "ours"), (1, "original")] {
        for b in &m.burst[i] {
            if b.result.failed > 0 {
                let _ = writeln!(
                    s,
                    "- burst of {} ({name}): {} client(s) failed; first reasons: {}",
                    b.result.clients,
                    b.result.failed,
                    b.result.errors.join(" | ")
                );
            }
        }
    }
    // The same failure repeated over runs is listed once, with its count.
    let mut seen: Vec<(&String, usize)> = Vec::new();
    for e in &m.errors {
        match seen.iter_mut().find(|(x, _)| *x == e) {
            Some((_, n)) => *n += 1,
            None => seen.push((e, 1)),
        }
    }
    for (e, n) in seen {
        let times = if n > 1 {
            format!(" (×{n})")
        } else {
            String::new()
        };
        let _ = writeln!(s, "- ERROR{times}: {}", e.trim_end().replace('\n', "\n  "));
    }
    if report::any_missed(&rows) {
        let _ = writeln!(
            s,
            "- some targets are missed; see docs/benchmarks.md for the analysis"
        );
    }
    s
}

/// The CI budget check: binary size and one idle gateway's RSS.
fn budget(a: BudgetArgs) -> Result<u8> {
    let exe = default_ours(a.openclaw)?;
    let size_mb = std::fs::metadata(&exe)?.len() as f64 / MB;
    let t = Target::new(Kind::Ours, exe.clone())?;
    let port = *target::free_bases(1, 21000 + (std::process::id() % 50) as u16 * 7)
        .first()
        .context("no free port footprint on 127.0.0.1")?;
    t.setup_profile("budget", port)?;
    let (mut gw, times) = t.launch("budget", port)?;
    let ready_at = gw.proc.started + times.ready;
    std::thread::sleep(
        (ready_at + Duration::from_secs(a.settle_secs)).saturating_duration_since(Instant::now()),
    );
    t.check_alive(&mut gw, Instant::now(), Duration::from_secs(1))?;
    let (kib, n) = rss::tree_rss_kib(gw.proc.pid());
    gw.proc.sigterm_and_time(Duration::from_secs(30));
    let rss_mb = kib_to_mb(kib);
    let size_ok = size_mb <= a.max_binary_mb;
    let rss_ok = rss_mb <= a.max_rss_mb;
    let verdict = |ok| if ok { "ok" } else { "OVER BUDGET" };
    println!(
        "binary size: {size_mb:.2} MB (limit {} MB) {} — {}",
        a.max_binary_mb,
        verdict(size_ok),
        exe.display()
    );
    println!(
        "idle RSS {} s after ready: {rss_mb:.2} MB in {n} process(es) (limit {} MB) {}",
        a.settle_secs,
        a.max_rss_mb,
        verdict(rss_ok)
    );
    Ok(if size_ok && rss_ok { 0 } else { 1 })
}

/// `openclaw-bench load`: the RPC figure alone, against a running gateway.
fn load(a: LoadArgs) -> Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let r = rt.block_on(ws::load(
        a.port,
        &a.token,
        a.clients,
        Duration::from_secs(a.secs),
    ))?;
    println!(
        "{} clients, {:.1} s: {} requests, {:.0} req/s, p50 {:.1} µs, p99 {:.1} µs, {} errors, {} connect-time events drained",
        r.clients,
        r.elapsed.as_secs_f64(),
        r.completed,
        r.throughput(),
        r.p50_us,
        r.p99_us,
        r.errors,
        r.drained
    );
    Ok(if r.errors == 0 { 0 } else { 1 })
}
