//! Every process the runner starts, and how it is cleaned up.
//!
//! Each child is started in its own process group (pgid = its pid) and its
//! pid is recorded in a fixed table of atomics. Cleanup kills by those ids
//! only, never by name:
//! - normally, [`Tracked`]'s `Drop` kills the child's whole process tree
//!   (descendants found through `/proc`) and its process group;
//! - on panic (the release profile aborts, so `Drop` would not run) a panic
//!   hook kills every registered group before the abort;
//! - on SIGINT / SIGTERM / SIGHUP a signal handler does the same with
//!   async-signal-safe calls only (`kill`, `_exit`).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::rss;

const SLOTS: usize = 512;
static PIDS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];

fn register(pid: i32) {
    for slot in &PIDS {
        if slot
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
    // The table is far larger than anything the runner starts at once; if it
    // is ever full the child is still killed by its guard's Drop.
    eprintln!("openclaw-bench: child registry full; pid {pid} is cleaned up by its guard only");
}

fn unregister(pid: i32) {
    for slot in &PIDS {
        if slot
            .compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// SIGKILL every registered process group (async-signal-safe).
fn kill_registered_groups() {
    for slot in &PIDS {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill(2) with a negative pid signals that process group;
            // the pid is one we started in its own group.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    kill_registered_groups();
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

/// Install the panic hook and the signal handlers. Call once, first thing.
pub fn install_cleanup_handlers() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_all_trees();
        default_hook(info);
    }));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing a handler that only calls async-signal-safe
        // functions.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Kill every registered child with its descendants (not signal-safe: reads /proc).
pub fn kill_all_trees() {
    for slot in &PIDS {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            kill_tree(pid);
        }
    }
    kill_registered_groups();
}

/// SIGKILL `pid` (which must not have been reaped yet, so it cannot have
/// been reused), all its descendants, and its process group.
fn kill_tree(pid: i32) {
    let tree = rss::process_tree(pid);
    for p in tree.iter().rev() {
        // SAFETY: plain kill(2) on pids that descend from a child we started.
        unsafe {
            libc::kill(*p, libc::SIGKILL);
        }
    }
    kill_group(pid);
}

/// SIGKILL the process group a child we started leads. Safe after the leader
/// was reaped: Linux does not hand out a pid that is still a live group's id.
fn kill_group(pgid: i32) {
    // SAFETY: the group id is the pid of a child we started with pgid = pid.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// A child process the runner started; killed with its tree when dropped.
pub struct Tracked {
    child: Child,
    pid: i32,
    reaped: bool,
    done: bool,
    pub started: Instant,
}

impl Tracked {
    /// Start `cmd` in its own process group and register it.
    pub fn spawn(cmd: &mut Command) -> io::Result<Tracked> {
        cmd.process_group(0);
        let started = Instant::now();
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        register(pid);
        Ok(Tracked {
            child,
            pid,
            reaped: false,
            done: false,
            started,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Has the process exited (reaps it if so)?
    pub fn try_exited(&mut self) -> Option<ExitStatus> {
        match self.child.try_wait() {
            Ok(Some(st)) => {
                self.reaped = true;
                Some(st)
            }
            _ => None,
        }
    }

    /// Send SIGTERM to the process itself (as a service manager would) and
    /// time until it has exited. Whatever is left of its tree afterwards is
    /// killed. `None` if it did not exit within `limit` (it is then killed).
    pub fn sigterm_and_time(&mut self, limit: Duration) -> Option<Duration> {
        // Remember the tree (pid + start time) before the parent goes, to
        // clean up orphans without ever touching a reused pid.
        let tree: Vec<(i32, Option<u64>)> = rss::process_tree(self.pid)
            .into_iter()
            .map(|p| (p, rss::start_time(p)))
            .collect();
        let t0 = Instant::now();
        // SAFETY: signalling the child we started.
        unsafe {
            libc::kill(self.pid, libc::SIGTERM);
        }
        let mut took = None;
        loop {
            if self.try_exited().is_some() {
                took = Some(t0.elapsed());
                break;
            }
            if t0.elapsed() > limit {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        for (p, st) in tree.iter().rev() {
            if *p != self.pid && st.is_some() && rss::start_time(*p) == *st {
                // SAFETY: the same process (same pid and start time) that
                // descended from our child a moment ago.
                unsafe {
                    libc::kill(*p, libc::SIGKILL);
                }
            }
        }
        self.finish();
        took
    }

    /// Wait for exit (used for short CLI commands). Kills it after `limit`.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.try_exited() {
                self.finish();
                return Some(st);
            }
            if t0.elapsed() > limit {
                self.finish();
                return None;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    fn finish(&mut self) {
        if !self.done {
            if self.reaped {
                kill_group(self.pid);
            } else {
                kill_tree(self.pid);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            unregister(self.pid);
            self.done = true;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(pid: i32) -> bool {
        PIDS.iter().any(|s| s.load(Ordering::SeqCst) == pid)
    }

    #[test]
    fn sigterm_is_timed_and_the_child_unregistered() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut t = Tracked::spawn(&mut cmd).unwrap();
        let pid = t.pid();
        assert!(registered(pid));
        // 20 s is a hang guard, not a performance assertion.
        let took = t.sigterm_and_time(Duration::from_secs(20));
        assert!(took.is_some(), "sleep ignored SIGTERM?");
        assert!(!registered(pid));
        assert!(t.try_exited().is_some() || t.done);
    }

    #[test]
    fn a_child_that_ignores_sigterm_is_killed_after_the_limit() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' TERM; sleep 30 & wait; sleep 30"]);
        let mut t = Tracked::spawn(&mut cmd).unwrap();
        let pid = t.pid();
        // Give sh a moment to install its trap, then expect no exit.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(t.sigterm_and_time(Duration::from_millis(300)), None);
        assert!(!registered(pid));
        assert_eq!(
            rss::start_time(pid),
            None,
            "the stubborn child must be gone"
        );
    }

    #[test]
    fn wait_timeout_reports_the_exit_code() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 3"]);
        let mut t = Tracked::spawn(&mut cmd).unwrap();
        let st = t.wait_timeout(Duration::from_secs(20)).expect("sh exits");
        assert_eq!(st.code(), Some(3));
    }
}
