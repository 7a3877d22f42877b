//! CDP port allocation.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

/// Is `port` free on 127.0.0.1 right now? (Probe by binding and releasing.)
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// The lowest port in `range` (inclusive) that no configured profile uses
/// (`taken_by_config`: explicit `cdpPort`s and the ports of `cdpUrl`s) and
/// that is free on the host right now. A port something else holds is
/// skipped, never fought over. `None` when the range is exhausted.
pub fn allocate_cdp_port(range: (u16, u16), taken_by_config: &[u16]) -> Option<u16> {
    let (lo, hi) = range;
    (lo..=hi).find(|p| *p != 0 && !taken_by_config.contains(p) && port_is_free(*p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Find a window of `n` consecutive ports that are all free now.
    fn free_window(n: u16) -> (u16, u16) {
        for _ in 0..50 {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            drop(l);
            if let Some(end) = p.checked_add(n - 1)
                && (p..=end).all(port_is_free)
            {
                return (p, end);
            }
        }
        panic!("no window of {n} free ports");
    }

    #[test]
    fn skips_configured_and_held_ports() {
        let (lo, hi) = free_window(6);
        assert_eq!(allocate_cdp_port((lo, hi), &[]), Some(lo));
        // Configured ports are skipped even though they are free.
        assert_eq!(allocate_cdp_port((lo, hi), &[lo, lo + 1]), Some(lo + 2));
        // A port held by someone else is skipped, and left alone.
        let held = TcpListener::bind(("127.0.0.1", lo)).unwrap();
        assert_eq!(allocate_cdp_port((lo, hi), &[]), Some(lo + 1));
        assert_eq!(allocate_cdp_port((lo, hi), &[lo + 1]), Some(lo + 2));
        assert_eq!(held.local_addr().unwrap().port(), lo);
        // Exhausted.
        assert_eq!(allocate_cdp_port((lo, lo), &[]), None);
    }
}
