//! The one reader of Linux's `/proc`: `/proc/<pid>/stat` for the
//! owner-record liveness check and the browser launcher's process-group
//! check; `/proc/net/tcp{,6}` and `/proc/<pid>/fd` for "does this process
//! hold that TCP connection" ([`pid_holds_tcp`]), which the CLI asks before
//! it hands a gateway its credentials; `/proc/locks` for "who holds the
//! `flock` on this file" ([`flock_holders`]) without taking the lock.

use std::net::{IpAddr, SocketAddr};

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: String,
    /// Field 4.
    pub ppid: u32,
    /// Field 5: the process group.
    pub pgrp: u32,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

impl ProcStat {
    /// Exited: a zombie waiting to be reaped, or dead.
    pub fn exited(&self) -> bool {
        self.state == "Z" || self.state == "X"
    }
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces or ')', so fields are counted after the
/// last ')'.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state), f[19] is field 22 (starttime).
    Some(ProcStat {
        state: f.first()?.to_string(),
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
    })
}

/// `/proc/<pid>/stat` of a process; `None` when it does not exist (or not
/// on Linux).
pub fn stat(pid: u32) -> Option<ProcStat> {
    #[cfg(target_os = "linux")]
    {
        parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Every process's stat (empty when `/proc` cannot be read).
pub fn all() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect()
}

/// One address as `/proc/net/tcp{,6}` prints it: the address's 32-bit
/// words in host byte order as hex, then `:` and the port as hex.
fn proc_net_addr(a: &SocketAddr) -> String {
    let words: Vec<[u8; 4]> = match a.ip() {
        IpAddr::V4(v4) => vec![v4.octets()],
        IpAddr::V6(v6) => v6
            .octets()
            .chunks(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect(),
    };
    let mut s: String = words
        .iter()
        .map(|w| format!("{:08X}", u32::from_ne_bytes(*w)))
        .collect();
    s.push_str(&format!(":{:04X}", a.port()));
    s
}

/// The inode of the socket whose local end is `local` and remote end is
/// `remote` in one `/proc/net/tcp{,6}` table (header line skipped); `None`
/// when absent (or not yet accepted: inode 0).
pub fn find_tcp_inode(table: &str, local: &SocketAddr, remote: &SocketAddr) -> Option<u64> {
    let (l, r) = (proc_net_addr(local), proc_net_addr(remote));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9 && f[1].eq_ignore_ascii_case(&l) && f[2].eq_ignore_ascii_case(&r))
            .then(|| f[9].parse::<u64>().ok())
            .flatten()
            .filter(|i| *i != 0)
    })
}

/// The same endpoint as an IPv4-mapped IPv6 address (how a dual-stack
/// listener's sockets appear in `/proc/net/tcp6`).
fn mapped(a: &SocketAddr) -> Option<SocketAddr> {
    match a {
        SocketAddr::V4(v4) => Some(SocketAddr::new(
            IpAddr::V6(v4.ip().to_ipv6_mapped()),
            v4.port(),
        )),
        SocketAddr::V6(_) => None,
    }
}

/// Whether process `pid` holds the TCP socket whose local end is `local`
/// and remote end `remote`: that socket's inode (from `/proc/net/tcp` or
/// `tcp6`) is one of `pid`'s open file descriptors. For the CLI, `local` is
/// its peer's address and `remote` its own end of the connection, so the
/// answer is "did `pid` accept this very connection". `Err` when it cannot
/// be told (no such socket, `/proc/<pid>/fd` unreadable, not Linux).
pub fn pid_holds_tcp(pid: u32, local: &SocketAddr, remote: &SocketAddr) -> Result<bool, String> {
    #[cfg(target_os = "linux")]
    {
        let read = |name: &str| std::fs::read_to_string(format!("/proc/net/{name}"));
        let mut inode = None;
        if local.is_ipv4() {
            inode = read("tcp")
                .ok()
                .and_then(|t| find_tcp_inode(&t, local, remote));
        }
        if inode.is_none() {
            let (l, r) = match (mapped(local), mapped(remote)) {
                (Some(l), Some(r)) => (l, r),
                _ => (*local, *remote),
            };
            inode = read("tcp6").ok().and_then(|t| find_tcp_inode(&t, &l, &r));
        }
        let inode = inode
            .ok_or_else(|| format!("no TCP socket {local} <- {remote} in /proc/net/tcp or tcp6"))?;
        let want = format!("socket:[{inode}]");
        let dir = format!("/proc/{pid}/fd");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {dir}: {e}"))?;
        Ok(entries
            .flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str() == want.as_str())))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, local, remote);
        Err("cannot tell which process holds a socket on this platform".into())
    }
}

/// A `flock` lock on an inode, as `/proc/locks` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlockHolder {
    /// The process that took it (`None` when `/proc/locks` shows none this
    /// pid namespace can see).
    pub pid: Option<u32>,
    /// The device (major, minor) the kernel printed: the filesystem's, which
    /// some filesystems (btrfs subvolumes, overlayfs) report differently
    /// from `stat`'s `st_dev`.
    pub dev: (u32, u32),
}

/// The granted `FLOCK` locks on inode `ino` in one `/proc/locks` text
/// (`1: FLOCK  ADVISORY  WRITE 8006 fe:00:6086781 0 EOF`); requests still
/// waiting (`1: -> FLOCK ...`) are not holders.
pub fn parse_flock_holders(locks: &str, ino: u64) -> Vec<FlockHolder> {
    locks
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(1) != Some(&"FLOCK") {
                return None;
            }
            let at = f.iter().position(|t| t.matches(':').count() == 2)?;
            let mut id = f[at].split(':');
            let major = u32::from_str_radix(id.next()?, 16).ok()?;
            let minor = u32::from_str_radix(id.next()?, 16).ok()?;
            let inode: u64 = id.next()?.parse().ok()?;
            let pid = at
                .checked_sub(1)
                .and_then(|i| f[i].parse::<u32>().ok())
                .filter(|p| *p > 0);
            (inode == ino).then_some(FlockHolder {
                pid,
                dev: (major, minor),
            })
        })
        .collect()
}

/// The `flock` holders of inode `ino` (`None`: `/proc/locks` cannot be read,
/// or not Linux).
pub fn flock_holders(ino: u64) -> Option<Vec<FlockHolder>> {
    #[cfg(target_os = "linux")]
    {
        Some(parse_flock_holders(
            &std::fs::read_to_string("/proc/locks").ok()?,
            ino,
        ))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = ino;
        None
    }
}

/// Whether process `pid` has `path` open (one of `/proc/<pid>/fd` links to
/// it); `None` when that cannot be read (another user's process, not Linux).
pub fn pid_has_open(pid: u32, path: &std::path::Path) -> Option<bool> {
    #[cfg(target_os = "linux")]
    {
        let want = std::fs::canonicalize(path).ok()?;
        let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
        Some(
            dir.flatten()
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == want)),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, path);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_table() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:4965 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 113509 1 0000000003bafcda 100 0 0 10 0\n\
   1: 0100007F:4965 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 223344 1 0000000003bafcda 100 0 0 10 0\n\
   2: 0100007F:4966 0100007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000003bafcda 100 0 0 10 0\n";
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(
                find_tcp_inode(t, &a("127.0.0.1:18789"), &a("127.0.0.1:50000")),
                Some(223344)
            );
            assert_eq!(
                find_tcp_inode(t, &a("127.0.0.1:18789"), &a("0.0.0.0:0")),
                Some(113509)
            );
            // Not accepted yet (inode 0), or not there at all.
            assert_eq!(
                find_tcp_inode(t, &a("127.0.0.1:18790"), &a("127.0.0.1:50001")),
                None
            );
            assert_eq!(
                find_tcp_inode(t, &a("127.0.0.1:1"), &a("127.0.0.1:2")),
                None
            );
            assert_eq!(
                proc_net_addr(&a("[::1]:80")),
                "00000000000000000000000001000000:0050"
            );
            assert_eq!(
                proc_net_addr(&mapped(&a("127.0.0.1:80")).unwrap()),
                "0000000000000000FFFF00000100007F:0050"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_holds_its_own_connection_and_another_does_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap();
        let (server, client) = (c.peer_addr().unwrap(), c.local_addr().unwrap());
        assert_eq!(
            pid_holds_tcp(std::process::id(), &server, &client),
            Ok(true)
        );
        // pid 1 (init) holds no socket of ours.
        assert_ne!(pid_holds_tcp(1, &server, &client), Ok(true));
        // Dual stack: a v6 listener's v4 connection is found as mapped.
        if let Ok(l6) = std::net::TcpListener::bind("[::]:0") {
            let port = l6.local_addr().unwrap().port();
            let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (_s, _) = l6.accept().unwrap();
            let (server, client) = (c.peer_addr().unwrap(), c.local_addr().unwrap());
            assert_eq!(
                pid_holds_tcp(std::process::id(), &server, &client),
                Ok(true)
            );
        }
    }

    #[test]
    fn parse_table() {
        let line = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: "S".into(),
                ppid: 1,
                pgrp: 4242,
                start_time: 987654,
            })
        );
        let zombie = "7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert!(parse_stat(zombie).unwrap().exited());
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (short) S 0"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let me = stat(std::process::id()).expect("own stat");
        assert!(!me.exited());
        assert!(all().iter().any(|s| s.start_time == me.start_time));
    }

    #[test]
    fn flock_lines_of_one_inode_and_not_the_waiters() {
        let locks = "\
1: FLOCK  ADVISORY  WRITE 8006 fe:00:6086781 0 EOF
1: -> FLOCK  ADVISORY  WRITE 9001 fe:00:6086781 0 EOF
2: POSIX  ADVISORY  WRITE 29296 fe:00:6086781 0 EOF
3: FLOCK  ADVISORY  READ 29296 fe:00:10133507 0 EOF
4: FLOCK  ADVISORY  WRITE -1 00:2d:6086781 0 EOF
5: OFDLCK ADVISORY  READ -1 00:05:1234 0 EOF
garbage
";
        assert_eq!(
            parse_flock_holders(locks, 6_086_781),
            [
                FlockHolder {
                    pid: Some(8006),
                    dev: (0xfe, 0)
                },
                FlockHolder {
                    pid: None,
                    dev: (0, 0x2d)
                },
            ]
        );
        assert!(parse_flock_holders(locks, 1).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_flock_of_this_process_is_listed_with_its_pid() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let f = std::fs::File::open(d.path()).unwrap();
        let ino = std::fs::metadata(d.path()).unwrap().ino();
        let me = std::process::id();
        assert!(
            !flock_holders(ino)
                .unwrap()
                .iter()
                .any(|h| h.pid == Some(me))
        );
        f.try_lock().unwrap();
        assert!(
            flock_holders(ino)
                .unwrap()
                .iter()
                .any(|h| h.pid == Some(me))
        );
        assert_eq!(pid_has_open(me, d.path()), Some(true));
        f.unlock().unwrap();
        assert!(
            !flock_holders(ino)
                .unwrap()
                .iter()
                .any(|h| h.pid == Some(me))
        );
    }
}
