//! Presence as the original counts it: the gateway's own entry plus one per
//! user-visible client connection (Control UI, WebChat, nodes, test
//! clients). Control-plane clients that connect briefly — modes `cli`,
//! `backend` and `probe` — are not presence entries, change nothing and
//! cause no `presence` broadcast, so N probes cost O(N), not O(N²).
//!
//! The list is bounded (the newest [`MAX_ENTRIES`]), its version
//! (`stateVersion.presence`) moves only when the list does, and the gateway
//! broadcasts it coalesced: at most one `presence` event per
//! [`MIN_BROADCAST_INTERVAL`], always the latest list (see `crate::state`).
//!
//! `system-presence` answers the list plus the open control-plane
//! connections (marked by their mode), so `openclaw gateway call
//! system-presence` still shows who is connected right now; they never
//! enter the `hello-ok` snapshot or a broadcast.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use openclaw_protocol::{ClientInfo, PresenceEntry};

/// Most client entries kept (the original keeps 200, oldest dropped first).
pub(crate) const MAX_ENTRIES: usize = 200;
/// Least time between two `presence` broadcasts.
pub(crate) const MIN_BROADCAST_INTERVAL: Duration = Duration::from_millis(250);

/// Whether a client in `mode` is a presence entry (upstream: everything
/// but the ephemeral control-plane modes).
pub(crate) fn is_tracked(mode: &str) -> bool {
    !matches!(mode, "cli" | "backend" | "probe")
}

/// The entry a connected client gets.
pub(crate) fn entry_for(client: &ClientInfo, conn_id: &str, ts: u64) -> PresenceEntry {
    PresenceEntry {
        host: if client.id.is_empty() {
            "client".into()
        } else {
            client.id.clone()
        },
        ip: None,
        version: client.version.clone(),
        platform: client.platform.clone(),
        device_family: None,
        mode: client.mode.clone(),
        reason: Some("connect".into()),
        instance_id: Some(conn_id.to_string()),
        text: None,
        ts,
        ..Default::default()
    }
}

/// Entries in connection order.
#[derive(Default)]
struct Rows {
    by_order: BTreeMap<u64, PresenceEntry>,
    order_of: HashMap<String, u64>,
}

impl Rows {
    fn insert(&mut self, order: u64, conn_id: &str, e: PresenceEntry) {
        self.order_of.insert(conn_id.to_string(), order);
        self.by_order.insert(order, e);
    }

    fn remove(&mut self, conn_id: &str) -> bool {
        match self.order_of.remove(conn_id) {
            Some(o) => self.by_order.remove(&o).is_some(),
            None => false,
        }
    }

    fn newest(&self, n: usize) -> impl Iterator<Item = &PresenceEntry> {
        let skip = self.by_order.len().saturating_sub(n);
        self.by_order.values().skip(skip)
    }

    fn shrink(&mut self) {
        if self.order_of.is_empty() && self.order_of.capacity() > 64 {
            self.order_of = HashMap::new();
        }
    }
}

/// The roster. Not synchronised; the gateway state holds it in a mutex.
pub(crate) struct Presence {
    gateway: PresenceEntry,
    clients: Rows,
    control: Rows,
    next: u64,
    version: u64,
}

impl Presence {
    pub fn new(gateway: PresenceEntry) -> Self {
        Presence {
            gateway,
            clients: Rows::default(),
            control: Rows::default(),
            next: 0,
            version: 1,
        }
    }

    /// A connection joined; `true` when the presence list changed.
    pub fn join(&mut self, conn_id: &str, entry: PresenceEntry) -> bool {
        self.next += 1;
        if is_tracked(&entry.mode) {
            self.clients.insert(self.next, conn_id, entry);
            self.version += 1;
            true
        } else {
            self.control.insert(self.next, conn_id, entry);
            false
        }
    }

    /// A connection left; `true` when the presence list changed.
    pub fn leave(&mut self, conn_id: &str) -> bool {
        let changed = self.clients.remove(conn_id);
        if changed {
            self.version += 1;
        } else {
            self.control.remove(conn_id);
        }
        self.clients.shrink();
        self.control.shrink();
        changed
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The list: the gateway first, then the newest client entries.
    pub fn list(&self, now: u64) -> Vec<PresenceEntry> {
        let mut v = Vec::with_capacity(1 + self.clients.by_order.len().min(MAX_ENTRIES));
        v.push(PresenceEntry {
            ts: now,
            ..self.gateway.clone()
        });
        v.extend(self.clients.newest(MAX_ENTRIES).cloned());
        v
    }

    /// `system-presence`: the list, then the open control-plane
    /// connections (bounded the same way).
    pub fn listing(&self, now: u64) -> Vec<PresenceEntry> {
        let mut v = self.list(now);
        v.extend(self.control.newest(MAX_ENTRIES).cloned());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(mode: &str) -> PresenceEntry {
        entry_for(
            &ClientInfo {
                id: mode.into(),
                mode: mode.into(),
                ..ClientInfo::default()
            },
            "c",
            1,
        )
    }

    fn gateway() -> Presence {
        Presence::new(PresenceEntry {
            mode: "gateway".into(),
            ..PresenceEntry::default()
        })
    }

    #[test]
    fn modes_upstream_lists() {
        for m in ["webchat", "ui", "node", "test", "", "something-new"] {
            assert!(is_tracked(m), "{m}");
        }
        for m in ["cli", "backend", "probe"] {
            assert!(!is_tracked(m), "{m}");
        }
    }

    #[test]
    fn control_plane_clients_change_nothing() {
        let mut p = gateway();
        let v = p.version();
        for i in 0..1000 {
            assert!(!p.join(&format!("cli{i}"), client("cli")));
        }
        assert_eq!(p.version(), v);
        assert_eq!(p.list(5).len(), 1, "only the gateway");
        assert_eq!(p.list(5)[0].ts, 5);
        assert_eq!(p.listing(5).len(), 1 + MAX_ENTRIES);
        for i in 0..1000 {
            assert!(!p.leave(&format!("cli{i}")));
        }
        assert_eq!(p.version(), v);
        assert_eq!(p.listing(5).len(), 1);
    }

    #[test]
    fn user_clients_join_and_leave_the_list() {
        let mut p = gateway();
        let v = p.version();
        assert!(p.join("w1", client("webchat")));
        assert!(p.join("n1", client("node")));
        assert_eq!(p.version(), v + 2);
        let modes: Vec<_> = p.list(0).into_iter().map(|e| e.mode).collect();
        assert_eq!(modes, ["gateway", "webchat", "node"]);
        assert!(p.leave("w1"));
        assert!(!p.leave("w1"), "twice is once");
        assert_eq!(p.version(), v + 3);
        assert_eq!(p.list(0).len(), 2);
    }

    #[test]
    fn the_list_is_bounded_to_the_newest() {
        let mut p = gateway();
        for i in 0..(MAX_ENTRIES + 50) {
            let mut e = client("webchat");
            e.host = format!("h{i}");
            p.join(&format!("w{i}"), e);
        }
        let l = p.list(0);
        assert_eq!(l.len(), 1 + MAX_ENTRIES);
        assert_eq!(l[1].host, "h50");
        assert_eq!(l.last().unwrap().host, format!("h{}", MAX_ENTRIES + 49));
    }
}
