//! Process trees and resident memory, read from /proc.

use std::collections::HashMap;
use std::fs;

/// Parse `/proc/<pid>/stat` into (ppid, starttime). The command name may
/// hold spaces and parentheses, so fields are counted after the last ')'.
fn stat_fields(pid: i32) -> Option<(i32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

pub(crate) fn parse_stat(text: &str) -> Option<(i32, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] = state (field 3), rest[1] = ppid (4), rest[19] = starttime (22)
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start))
}

/// The process's start time in clock ticks since boot (None if gone or a
/// zombie).
pub fn start_time(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = text[text.rfind(')')? + 1..].split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    parse_stat(&text).map(|(_, st)| st)
}

/// `root` and all its live descendants, parents before children.
pub fn process_tree(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if let Some((ppid, _)) = stat_fields(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    if stat_fields(root).is_none() {
        return Vec::new();
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids.iter().copied());
        }
        i += 1;
    }
    out
}

/// VmRSS of one process in KiB (0 for a zombie or a gone process).
pub fn rss_kib(pid: i32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    parse_vmrss(&text).unwrap_or(0)
}

pub(crate) fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Sum of VmRSS over `root` and its descendants, in KiB, with the count.
pub fn tree_rss_kib(root: i32) -> (u64, usize) {
    let tree = process_tree(root);
    (tree.iter().map(|p| rss_kib(*p)).sum(), tree.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_name() {
        let line = "1234 (my (odd) name) S 77 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 98765 1000 200";
        assert_eq!(parse_stat(line), Some((77, 98765)));
    }

    #[test]
    fn vmrss_line() {
        let st = "Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t    5120 kB\nThreads: 3\n";
        assert_eq!(parse_vmrss(st), Some(5120));
        assert_eq!(parse_vmrss("Name: zombie\n"), None);
    }

    #[test]
    fn tree_of_a_real_child_includes_its_grandchild() {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "sleep 30 & wait"]);
        let child = crate::procs::Tracked::spawn(&mut cmd).unwrap();
        let pid = child.pid();
        // The grandchild appears once sh has forked.
        let mut tree = Vec::new();
        for _ in 0..500 {
            tree = process_tree(pid);
            if tree.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(tree[0], pid);
        assert!(tree.len() >= 2, "sleep grandchild not found: {tree:?}");
        let (kib, n) = tree_rss_kib(pid);
        assert!(n >= 2 && kib > 0);
        let grandchild = tree[1];
        let gc_start = start_time(grandchild);
        assert!(gc_start.is_some());
        drop(child);
        // The guard killed the whole tree, grandchild included.
        for _ in 0..500 {
            if start_time(grandchild) != gc_start {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_ne!(
            start_time(grandchild),
            gc_start,
            "grandchild survived the guard"
        );
    }
}
