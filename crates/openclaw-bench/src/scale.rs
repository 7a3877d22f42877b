//! The figures at scale: many clients connecting at once to one gateway
//! (`burst`), and many gateways on one host (`many`), with memory counted
//! as RSS, PSS and USS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::rss;
use crate::target::{self, Gateway, Target};
use crate::ws;

/// Resident memory of a set of processes, in KiB, from
/// `/proc/<pid>/smaps_rollup`: RSS counts every resident page of each
/// process (shared pages once per process), PSS divides each shared page
/// among the processes mapping it, USS is the pages no other process maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    pub rss: u64,
    pub pss: u64,
    pub uss: u64,
}

impl std::ops::Add for Mem {
    type Output = Mem;
    fn add(self, o: Mem) -> Mem {
        Mem {
            rss: self.rss + o.rss,
            pss: self.pss + o.pss,
            uss: self.uss + o.uss,
        }
    }
}

/// Parses `smaps_rollup` (`Rss:`, `Pss:`, `Private_Clean:`, `Private_Dirty:`, in kB).
pub(crate) fn parse_smaps_rollup(text: &str) -> Option<Mem> {
    let mut m = Mem::default();
    let mut seen = false;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(key), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(v) = v.parse::<u64>() else { continue };
        match key {
            "Rss:" => {
                m.rss = v;
                seen = true;
            }
            "Pss:" => m.pss = v,
            "Private_Clean:" | "Private_Dirty:" => m.uss += v,
            _ => {}
        }
    }
    seen.then_some(m)
}

/// One process's memory (zero when it is gone or unreadable).
pub fn mem_of(pid: i32) -> Mem {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| parse_smaps_rollup(&t))
        .unwrap_or_default()
}

/// The memory of `root`'s whole process tree.
pub fn tree_mem(root: i32) -> Mem {
    rss::process_tree(root)
        .into_iter()
        .map(mem_of)
        .fold(Mem::default(), |a, b| a + b)
}

pub fn kib_mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1_000_000.0
}

/// One burst level against one freshly started gateway.
#[derive(Clone, Debug)]
pub struct BurstFigure {
    pub result: ws::BurstResult,
    /// RSS of the gateway's process tree, idle, before the clients came.
    pub idle_mb: f64,
    /// Highest RSS sampled (every 20 ms) while they were connected.
    pub peak_mb: f64,
    /// RSS `settle` after the last client left.
    pub after_mb: f64,
}

/// Samples the summed VmRSS of `pids` every 20 ms until dropped; the
/// highest value seen.
struct PeakSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    fn start(pids: Vec<i32>) -> PeakSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let kib: u64 = pids.iter().map(|p| rss::rss_kib(*p)).sum();
                    peak.fetch_max(kib, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        PeakSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// What a burst level waits for.
#[derive(Clone, Copy, Debug)]
pub struct BurstPlan {
    /// Idle time after `/readyz` before the idle RSS is read.
    pub idle: Duration,
    /// How long each client stays after its `health` answer.
    pub pause: Duration,
    /// Wait after the last client left before "RSS after" is read.
    pub settle: Duration,
}

/// `clients` one-shot clients at once against a fresh gateway of profile
/// `profile` on `port`: idle RSS, served count and times, peak RSS, RSS
/// after they left. The gateway is stopped afterwards.
pub fn burst_level(
    t: &Target,
    profile: &str,
    port: u16,
    clients: usize,
    plan: &BurstPlan,
    rt: &tokio::runtime::Runtime,
) -> Result<BurstFigure> {
    let token = t.token(profile)?;
    let (mut gw, times) = t.launch(profile, port)?;
    let ready_at = gw.proc.started + times.ready;
    std::thread::sleep((ready_at + plan.idle).saturating_duration_since(Instant::now()));
    t.check_alive(&mut gw, Instant::now(), Duration::from_secs(1))?;
    // The tree is settled by now (the original's workers are up).
    let pids = rss::process_tree(gw.proc.pid());
    let idle: u64 = pids.iter().map(|p| rss::rss_kib(*p)).sum();
    let sampler = PeakSampler::start(pids.clone());
    let result = rt.block_on(ws::burst(gw.port, &token, clients, plan.pause));
    std::thread::sleep(plan.settle);
    let peak = sampler.finish();
    t.check_alive(&mut gw, Instant::now(), Duration::from_secs(1))?;
    let after: u64 = rss::process_tree(gw.proc.pid())
        .iter()
        .map(|p| rss::rss_kib(*p))
        .sum();
    gw.proc.sigterm_and_time(Duration::from_secs(60));
    Ok(BurstFigure {
        result,
        idle_mb: kib_mb(idle),
        peak_mb: kib_mb(peak.max(after)),
        after_mb: kib_mb(after),
    })
}

/// N gateways on one host: every one ready, their memory, and how long
/// `openclaw profiles` takes to report on all of them.
#[derive(Clone, Debug)]
pub struct ManyFigure {
    pub gateways: usize,
    pub all_ready_ms: f64,
    pub mem: Mem,
    /// Wall time of each `profiles --json` run.
    pub profiles_ms: Vec<f64>,
    /// Instances `profiles` listed as running with health ok (last run).
    pub profiles_healthy: usize,
}

/// Starts a gateway for every `(profile, port)` at once, waits until each
/// answers `/readyz`, waits `settle`, reads memory, times `profiles --json`
/// `profiles_runs` times, then stops them all.
pub fn many(
    t: &Target,
    profiles: &[(String, u16)],
    settle: Duration,
    profiles_runs: usize,
) -> Result<ManyFigure> {
    let t0 = Instant::now();
    let mut gws: Vec<Gateway> = Vec::with_capacity(profiles.len());
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
    let all_ready_ms = t0.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(settle);
    let mem = gws
        .iter()
        .map(|g| tree_mem(g.proc.pid()))
        .fold(Mem::default(), |a, b| a + b);
    let mut profiles_ms = Vec::new();
    let mut healthy = 0;
    for _ in 0..profiles_runs {
        let (d, code, out) =
            t.time_cli_stdout(None, &["profiles", "--json"], Duration::from_secs(60))?;
        if code != 0 {
            bail!(
                "`profiles --json` exited {code}:\n{}",
                t.cli_log_tail(&["profiles", "--json"])
            );
        }
        profiles_ms.push(d.as_secs_f64() * 1000.0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        healthy = v["instances"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|i| i["running"] == true && i["health"]["ok"] == true)
                    .count()
            })
            .unwrap_or(0);
    }
    for g in &mut gws {
        // SAFETY: SIGTERM to a gateway we started; all stop in parallel.
        unsafe {
            libc::kill(g.proc.pid(), libc::SIGTERM);
        }
    }
    for g in &mut gws {
        let _ = g.proc.wait_timeout(Duration::from_secs(60));
    }
    Ok(ManyFigure {
        gateways: profiles.len(),
        all_ready_ms,
        mem,
        profiles_ms,
        profiles_healthy: healthy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_rollup_fields() {
        let t = "55d0c0a00000-7ffc5c5fe000 ---p 00000000 00:00 0                          [rollup]\n\
                 Rss:                8900 kB\nPss:                1800 kB\nPss_Dirty:           900 kB\n\
                 Shared_Clean:       7000 kB\nShared_Dirty:          0 kB\nPrivate_Clean:       300 kB\n\
                 Private_Dirty:       800 kB\nReferenced:         8900 kB\n";
        assert_eq!(
            parse_smaps_rollup(t),
            Some(Mem {
                rss: 8900,
                pss: 1800,
                uss: 1100
            })
        );
        assert_eq!(parse_smaps_rollup("gone\n"), None);
    }

    #[test]
    fn memory_of_this_process() {
        let m = mem_of(std::process::id() as i32);
        assert!(m.rss > 0 && m.pss > 0 && m.uss > 0, "{m:?}");
        assert!(m.uss <= m.pss && m.pss <= m.rss, "{m:?}");
    }
}
