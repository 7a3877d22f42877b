//! Paired devices: which signed device identities may connect, with which
//! scopes, and their device tokens.
//!
//! State: `<stateDir>/devices/devices.json` (0600, written atomically under
//! a lock through `openclaw_state::update_json`, so the gateway and
//! `openclaw devices ...` never lose each other's changes). A device token
//! is stored only as its SHA-256; the token itself is shown once, in the
//! `hello-ok` that issued it.
//!
//! The decisions are pure functions over the file's contents
//! ([`decide`], [`approve`], [`reject`], [`revoke`]); the gateway's
//! handshake and the CLI call them inside one locked read-modify-write.
//!
//! Rules (upstream's, narrowed to what this gateway has):
//! - a device that proves its key and presents the shared secret is
//!   approved automatically when it connects over direct loopback (no proxy
//!   headers, and a browser Origin, if any, on a loopback host); elsewhere a
//!   pending request waits for `openclaw devices approve <requestId>` and
//!   the connect is refused with `PAIRING_REQUIRED`;
//! - asking for scopes beyond the approved ones is a scope upgrade, decided
//!   the same way;
//! - a paired device without a token gets one (`hello-ok.auth.deviceToken`);
//!   with that token (and its signed identity) it reconnects without the
//!   shared secret, and gets at most its approved scopes;
//! - `revoke` removes the pairing: the token stops working and live
//!   sessions of that device are closed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use openclaw_protocol::device::PairingReason;
use openclaw_protocol::{ErrorShape, ScopeSet};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::outbox::Outbox;

/// The file under the state dir.
pub const DEVICES_FILE: &str = "devices/devices.json";
/// Pending requests older than this are dropped (a day: long enough for an
/// owner away from the host to approve, short enough not to pile up).
pub const PENDING_TTL_MS: u64 = 24 * 3600 * 1000;
/// At most this many pending requests are kept (oldest dropped first).
pub const MAX_PENDING: usize = 32;

/// One paired device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairedDevice {
    pub device_id: String,
    /// Raw Ed25519 public key, base64url.
    pub public_key: String,
    pub client_id: String,
    #[serde(default)]
    pub client_mode: String,
    #[serde(default)]
    pub platform: String,
    pub role: String,
    /// Approved operator scopes.
    pub scopes: Vec<String>,
    /// SHA-256 (hex) of the current device token; `None` until one is issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_issued_at_ms: Option<u64>,
    pub approved_at_ms: u64,
    /// `local` (direct loopback with the shared secret), `cli` (`openclaw
    /// devices approve`) or `rpc` (`device.pair.approve`).
    pub approved_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ip: Option<String>,
    /// For a device paired automatically (`approved_by: local`) or approved
    /// over RPC (`rpc`: by a session that holds, or descends from, the
    /// shared secret): which shared secret vouched for it
    /// ([`secret_binding`]). When the secret changes, the pairing is void
    /// (upstream: browser device tokens derived from the old shared
    /// credential are revoked too), so a leaked secret cannot mint a device
    /// that outlives its rotation. `openclaw devices approve` (the owner at
    /// the terminal) pairs unbound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_binding: Option<String>,
}

impl PairedDevice {
    /// Paired under a shared secret that is not `binding` (the current
    /// one): void. Devices the owner approved at the terminal are unbound,
    /// independent of the shared secret.
    pub fn stale_under(&self, binding: Option<&str>) -> bool {
        self.secret_binding.is_some() && self.secret_binding.as_deref() != binding
    }
}

/// A fingerprint of the gateway's shared secret that binds automatic
/// pairings to it: SHA-256 over a domain string and the secret, hex.
/// `None` when no secret is configured (`mode: "none"`). The secret
/// itself is in the config next to `devices.json` (same owner, 0600), so
/// this stores nothing new.
pub fn secret_binding(auth: &crate::AuthConfig) -> Option<String> {
    let secret = auth.secret()?;
    let mut h = sha2::Sha256::new();
    h.update(b"openclaw device pairing: shared secret binding v1\0");
    h.update(auth.mode().as_bytes());
    h.update(b"\0");
    h.update(secret.as_bytes());
    Some(hex::encode(h.finalize()))
}

/// Removes the automatic pairings the current shared secret no longer
/// vouches for ([`PairedDevice::stale_under`]); returns them.
pub fn void_stale(file: &mut DevicesFile, binding: Option<&str>) -> Vec<PairedDevice> {
    let stale: Vec<String> = file
        .paired
        .values()
        .filter(|p| p.stale_under(binding))
        .map(|p| p.device_id.clone())
        .collect();
    stale
        .iter()
        .filter_map(|id| file.paired.remove(id))
        .collect()
}

/// A device waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    pub request_id: String,
    pub device_id: String,
    pub public_key: String,
    pub client_id: String,
    #[serde(default)]
    pub client_mode: String,
    #[serde(default)]
    pub platform: String,
    pub role: String,
    /// The scopes it asked for (already narrowed to what its credential may
    /// grant).
    pub scopes: Vec<String>,
    /// `not-paired` or `scope-upgrade`.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    pub created_at_ms: u64,
}

/// `devices.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesFile {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub paired: BTreeMap<String, PairedDevice>,
    #[serde(default)]
    pub pending: BTreeMap<String, PendingRequest>,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// SHA-256 of a device token, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn scopes_of(v: &[String]) -> ScopeSet {
    ScopeSet::from_strs(v.iter().map(String::as_str))
}

/// How the connecting client authenticated, as far as pairing cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAuth {
    /// The shared secret (token or password) was right.
    SharedSecret,
    /// No shared secret (or a wrong one): this device token is all there is.
    DeviceToken(String),
}

/// A connect with a verified device identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConnect {
    pub device_id: String,
    pub public_key: String,
    pub client_id: String,
    pub client_mode: String,
    pub platform: String,
    pub role: String,
    /// Requested scopes, already narrowed to what the shared secret may
    /// grant (for [`DeviceAuth::DeviceToken`]: as requested).
    pub requested: ScopeSet,
    pub auth: DeviceAuth,
    /// Direct loopback (see the module docs).
    pub local: bool,
    pub remote_ip: Option<String>,
    /// What the shared secret grants now (`gateway.auth.scopes`): a device
    /// token never grants more, whatever its device was approved for.
    pub grant: ScopeSet,
    /// [`secret_binding`] of the gateway's current shared secret.
    pub binding: Option<String>,
}

/// What [`decide`] concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Connect with these scopes. `pair` records (or widens) the pairing;
    /// `issue_token` mints a device token for `hello-ok`.
    Accept {
        scopes: ScopeSet,
        pair: bool,
        issue_token: bool,
        auth_method: &'static str,
    },
    /// A pending request is filed (or refreshed); the connect is refused.
    Pending(PairingReason),
    /// Refused outright (the error to answer).
    Refuse(ErrorShape),
}

/// The pairing decision for one connect; no IO.
pub fn decide(file: &DevicesFile, c: &DeviceConnect) -> Decision {
    // An automatic pairing under a shared secret that has since changed
    // counts as no pairing at all.
    let paired = file
        .paired
        .get(&c.device_id)
        .filter(|p| p.public_key == c.public_key && !p.stale_under(c.binding.as_deref()));
    match &c.auth {
        DeviceAuth::DeviceToken(token) => {
            let Some(p) = paired else {
                return Decision::Refuse(ErrorShape::device_token_mismatch());
            };
            let ok = p
                .token_sha256
                .as_deref()
                .is_some_and(|h| openclaw_state::secret_eq(&token_hash(token), h));
            // The token was issued for the role the device was paired as.
            if !ok || p.role != c.role {
                return Decision::Refuse(ErrorShape::device_token_mismatch());
            }
            // At most the approved set, and never more than the gateway's
            // current grant (`gateway.auth.scopes` may have narrowed since).
            let approved = capped(scopes_of(&p.scopes), &c.grant);
            let scopes = if c.requested.is_empty() {
                approved
            } else {
                c.requested.granted_by(&approved)
            };
            Decision::Accept {
                scopes,
                pair: false,
                issue_token: false,
                auth_method: "device-token",
            }
        }
        DeviceAuth::SharedSecret => match paired {
            Some(p) if c.requested.is_covered_by(&scopes_of(&p.scopes)) => Decision::Accept {
                scopes: c.requested,
                pair: false,
                issue_token: p.token_sha256.is_none(),
                auth_method: "",
            },
            Some(_) if c.local => Decision::Accept {
                scopes: c.requested,
                pair: true,
                issue_token: true,
                auth_method: "",
            },
            Some(_) => Decision::Pending(PairingReason::ScopeUpgrade),
            None if c.local => Decision::Accept {
                scopes: c.requested,
                pair: true,
                issue_token: true,
                auth_method: "",
            },
            None => Decision::Pending(PairingReason::NotPaired),
        },
    }
}

/// `approved` as far as `grant` allows: unchanged when the grant covers
/// it, else every scope both allow (a device approved for admin under a
/// read-only grant gets read).
fn capped(approved: ScopeSet, grant: &ScopeSet) -> ScopeSet {
    if approved.is_covered_by(grant) {
        approved
    } else {
        ScopeSet::all().granted_by(&approved).granted_by(grant)
    }
}

/// What applying a decision to the file gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Accepted {
        /// The new device token, to hand out once in `hello-ok`.
        token: Option<(String, u64)>,
    },
    Pending {
        request_id: String,
    },
}

/// Applies `d` (not `Refuse`) to `file`; returns what changed. `new_token`
/// makes a token (random in the gateway, fixed in tests).
pub fn apply(
    file: &mut DevicesFile,
    c: &DeviceConnect,
    d: &Decision,
    now: u64,
    new_token: impl FnOnce() -> String,
) -> Applied {
    prune(file, now);
    match d {
        Decision::Accept {
            scopes,
            pair,
            issue_token,
            ..
        } => {
            if *pair {
                let approved = match file.paired.get(&c.device_id) {
                    Some(p)
                        if p.public_key == c.public_key && !p.stale_under(c.binding.as_deref()) =>
                    {
                        let mut s = scopes_of(&p.scopes);
                        for x in scopes.iter() {
                            s.insert(x);
                        }
                        s
                    }
                    _ => *scopes,
                };
                let old = file
                    .paired
                    .remove(&c.device_id)
                    .filter(|o| !o.stale_under(c.binding.as_deref()));
                file.paired.insert(
                    c.device_id.clone(),
                    PairedDevice {
                        device_id: c.device_id.clone(),
                        public_key: c.public_key.clone(),
                        client_id: c.client_id.clone(),
                        client_mode: c.client_mode.clone(),
                        platform: c.platform.clone(),
                        role: c.role.clone(),
                        scopes: approved.to_strings(),
                        token_sha256: old.as_ref().and_then(|o| o.token_sha256.clone()),
                        token_issued_at_ms: old.as_ref().and_then(|o| o.token_issued_at_ms),
                        approved_at_ms: now,
                        approved_by: "local".into(),
                        last_seen_at_ms: None,
                        last_seen_ip: None,
                        secret_binding: c.binding.clone(),
                    },
                );
                // A request this approval answers is done.
                file.pending.retain(|_, r| r.device_id != c.device_id);
            }
            let mut token = None;
            if let Some(p) = file.paired.get_mut(&c.device_id) {
                p.last_seen_at_ms = Some(now);
                p.last_seen_ip = c.remote_ip.clone();
                if *issue_token {
                    let t = new_token();
                    p.token_sha256 = Some(token_hash(&t));
                    p.token_issued_at_ms = Some(now);
                    token = Some((t, now));
                }
            }
            Applied::Accepted { token }
        }
        Decision::Pending(reason) => {
            // One pending request per device: a retry refreshes it (and
            // keeps its id while it asks for the same thing).
            let same = file
                .pending
                .values()
                .find(|r| {
                    r.device_id == c.device_id
                        && r.public_key == c.public_key
                        && scopes_of(&r.scopes) == c.requested
                })
                .map(|r| r.request_id.clone());
            let request_id = same.unwrap_or_else(|| {
                file.pending.retain(|_, r| r.device_id != c.device_id);
                uuid::Uuid::new_v4().to_string()
            });
            file.pending.insert(
                request_id.clone(),
                PendingRequest {
                    request_id: request_id.clone(),
                    device_id: c.device_id.clone(),
                    public_key: c.public_key.clone(),
                    client_id: c.client_id.clone(),
                    client_mode: c.client_mode.clone(),
                    platform: c.platform.clone(),
                    role: c.role.clone(),
                    scopes: c.requested.to_strings(),
                    reason: reason.as_str().into(),
                    remote_ip: c.remote_ip.clone(),
                    created_at_ms: now,
                },
            );
            while file.pending.len() > MAX_PENDING {
                let oldest = file
                    .pending
                    .values()
                    .min_by_key(|r| r.created_at_ms)
                    .map(|r| r.request_id.clone());
                match oldest {
                    Some(id) => {
                        file.pending.remove(&id);
                    }
                    None => break,
                }
            }
            Applied::Pending { request_id }
        }
        Decision::Refuse(_) => Applied::Accepted { token: None },
    }
}

/// Drops expired pending requests.
fn prune(file: &mut DevicesFile, now: u64) {
    file.pending
        .retain(|_, r| now.saturating_sub(r.created_at_ms) < PENDING_TTL_MS);
}

/// Why a CLI decision could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevicesError {
    #[error("no pending pairing request {0}")]
    NoSuchRequest(String),
    #[error("no paired device {0}")]
    NoSuchDevice(String),
    #[error("{0}")]
    Ambiguous(String),
}

/// Approves pending request `request_id` (or the only pending request of a
/// device whose id starts with it): the device is paired with the scopes
/// it asked for (widening an existing pairing). Its token is issued on its
/// next connect. `binding`: the shared secret the approval rests on
/// ([`PairedDevice::secret_binding`]; `None` for the owner at the
/// terminal).
pub fn approve(
    file: &mut DevicesFile,
    id: &str,
    now: u64,
    by: &str,
    binding: Option<String>,
) -> Result<PairedDevice, DevicesError> {
    prune(file, now);
    let r = take_pending(file, id)?;
    let mut scopes = scopes_of(&r.scopes);
    let old = file.paired.remove(&r.device_id);
    if let Some(o) = old.as_ref().filter(|o| o.public_key == r.public_key) {
        for s in scopes_of(&o.scopes).iter() {
            scopes.insert(s);
        }
    }
    let same_key = old.as_ref().is_some_and(|o| o.public_key == r.public_key);
    let p = PairedDevice {
        device_id: r.device_id.clone(),
        public_key: r.public_key,
        client_id: r.client_id,
        client_mode: r.client_mode,
        platform: r.platform,
        role: r.role,
        scopes: scopes.to_strings(),
        token_sha256: old
            .as_ref()
            .filter(|_| same_key)
            .and_then(|o| o.token_sha256.clone()),
        token_issued_at_ms: old
            .as_ref()
            .filter(|_| same_key)
            .and_then(|o| o.token_issued_at_ms),
        approved_at_ms: now,
        approved_by: by.into(),
        last_seen_at_ms: old.as_ref().and_then(|o| o.last_seen_at_ms),
        last_seen_ip: old.as_ref().and_then(|o| o.last_seen_ip.clone()),
        secret_binding: binding,
    };
    file.paired.insert(r.device_id, p.clone());
    Ok(p)
}

/// Who asks for a pairing change over RPC (`device.pair.*`): the
/// connection's granted scopes, and the device it authenticated as with a
/// device token (upstream binds a non-admin caller to its own device only
/// then; a shared-secret session has no device of its own to be bound to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcCaller {
    pub scopes: ScopeSet,
    pub device_id: Option<String>,
}

impl RpcCaller {
    fn admin(&self) -> bool {
        self.scopes.allows(openclaw_protocol::Scope::Admin)
    }

    /// A non-admin device-token session acting on another device.
    fn foreign(&self, device_id: &str) -> bool {
        !self.admin() && self.device_id.as_deref().is_some_and(|d| d != device_id)
    }
}

/// A pairing change asked for over RPC. Unlike the CLI (the owner at the
/// terminal, who may give an unambiguous prefix), RPC names requests and
/// devices by their whole id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcChange<'a> {
    Approve { request_id: &'a str },
    Reject { request_id: &'a str },
    Remove { device_id: &'a str },
}

/// Upstream's rules for `device.pair.approve|reject|remove`, over the
/// file's contents: the exact request or device; a non-admin caller that
/// authenticated with a device token acts on its own device only, and
/// never on a non-operator role; an approval grants only scopes the
/// caller holds itself (checked on the very request approved). `Err` is
/// the answer.
pub fn check_rpc(
    file: &DevicesFile,
    change: RpcChange<'_>,
    caller: &RpcCaller,
) -> Result<(), ErrorShape> {
    let denied = |what: &str| ErrorShape::invalid_request(format!("device pairing {what} denied"));
    match change {
        RpcChange::Approve { request_id } => {
            let Some(r) = file.pending.get(request_id) else {
                return Err(ErrorShape::invalid_request(format!(
                    "unknown requestId {request_id:?} (give the whole id from device.pair.list)"
                )));
            };
            if caller.foreign(&r.device_id) || (!caller.admin() && r.role != "operator") {
                return Err(denied("approval"));
            }
            let asked = scopes_of(&r.scopes);
            if let Some(missing) = asked.iter().find(|s| !caller.scopes.allows(*s)) {
                return Err(ErrorShape::missing_scope(missing));
            }
            Ok(())
        }
        RpcChange::Reject { request_id } => {
            let Some(r) = file.pending.get(request_id) else {
                return Err(ErrorShape::invalid_request(format!(
                    "unknown requestId {request_id:?} (give the whole id from device.pair.list)"
                )));
            };
            if caller.foreign(&r.device_id) {
                return Err(denied("rejection"));
            }
            Ok(())
        }
        RpcChange::Remove { device_id } => {
            if caller.foreign(device_id) {
                return Err(denied("removal"));
            }
            let Some(p) = file.paired.get(device_id) else {
                return Err(ErrorShape::new(
                    openclaw_protocol::codes::NOT_FOUND,
                    format!(
                        "no paired device {device_id:?} (give the whole id from device.pair.list)"
                    ),
                ));
            };
            if !caller.admin() && caller.device_id.is_some() && p.role != "operator" {
                return Err(denied("removal"));
            }
            Ok(())
        }
    }
}

/// What `device.pair.list` shows a caller: everything to an admin or a
/// shared-secret session, only its own device to a non-admin device-token
/// session (upstream's rule).
pub fn visible_to(file: &DevicesFile, caller: &RpcCaller) -> DevicesFile {
    let mut f = file.clone();
    if let Some(own) = caller.device_id.as_deref().filter(|_| !caller.admin()) {
        f.pending.retain(|_, r| r.device_id == own);
        f.paired.retain(|id, _| id == own);
    }
    f
}

/// Rejects (drops) a pending request.
pub fn reject(file: &mut DevicesFile, id: &str) -> Result<PendingRequest, DevicesError> {
    take_pending(file, id)
}

fn take_pending(file: &mut DevicesFile, id: &str) -> Result<PendingRequest, DevicesError> {
    if let Some(r) = file.pending.remove(id) {
        return Ok(r);
    }
    let hits: Vec<String> = file
        .pending
        .values()
        .filter(|r| !id.is_empty() && (r.request_id.starts_with(id) || r.device_id.starts_with(id)))
        .map(|r| r.request_id.clone())
        .collect();
    match hits.as_slice() {
        [one] => Ok(file.pending.remove(one).expect("listed")),
        [] => Err(DevicesError::NoSuchRequest(id.into())),
        _ => Err(DevicesError::Ambiguous(format!(
            "{id} matches {} pending requests ({}); give the whole request id",
            hits.len(),
            hits.join(", ")
        ))),
    }
}

/// Removes a paired device (by id or a unique prefix of it): its token
/// stops working at once; it must pair again.
pub fn revoke(file: &mut DevicesFile, id: &str) -> Result<PairedDevice, DevicesError> {
    if let Some(p) = file.paired.remove(id) {
        file.pending.retain(|_, r| r.device_id != p.device_id);
        return Ok(p);
    }
    let hits: Vec<String> = file
        .paired
        .keys()
        .filter(|k| !id.is_empty() && k.starts_with(id))
        .cloned()
        .collect();
    match hits.as_slice() {
        [one] => {
            let p = file.paired.remove(one).expect("listed");
            file.pending.retain(|_, r| r.device_id != p.device_id);
            Ok(p)
        }
        [] => Err(DevicesError::NoSuchDevice(id.into())),
        _ => Err(DevicesError::Ambiguous(format!(
            "{id} matches {} devices; give more of the device id",
            hits.len()
        ))),
    }
}

/// The devices file of a state dir.
#[derive(Debug, Clone)]
pub struct DeviceStore {
    path: PathBuf,
}

impl DeviceStore {
    pub fn new(state_dir: &Path) -> Self {
        DeviceStore {
            path: state_dir.join(DEVICES_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current contents (empty when there is no file yet), with expired
    /// pending requests left out.
    pub fn load(&self) -> Result<DevicesFile, openclaw_state::StateError> {
        let mut f: DevicesFile = openclaw_state::read_json(&self.path)?.unwrap_or_default();
        prune(&mut f, now_ms());
        Ok(f)
    }

    /// Read-modify-write under the file's lock; written only when `f` says
    /// it changed something.
    pub fn update<R>(
        &self,
        f: impl FnOnce(&mut DevicesFile) -> (bool, R),
    ) -> Result<R, openclaw_state::StateError> {
        openclaw_state::update_json(&self.path, |file: &mut DevicesFile| {
            file.version = 1;
            f(file)
        })
    }

    fn stamp(&self) -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }
}

/// The gateway's side: the store plus the live connections each device
/// authenticated, so a revocation closes them.
pub(crate) struct DeviceHub {
    store: DeviceStore,
    /// conn id → (device id, its outbox).
    live: Mutex<HashMap<String, (String, Arc<Outbox>)>>,
    stamp: Mutex<Option<(SystemTime, u64)>>,
}

impl DeviceHub {
    pub fn new(state_dir: &Path) -> Self {
        let store = DeviceStore::new(state_dir);
        let stamp = Mutex::new(store.stamp());
        DeviceHub {
            store,
            live: Mutex::new(HashMap::new()),
            stamp,
        }
    }

    pub fn store(&self) -> &DeviceStore {
        &self.store
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection authenticated as `device_id`: from now on a
    /// revocation closes it. `false` (and not attached) when the device is
    /// no longer paired (or its file cannot be read): it was revoked
    /// between the connect decision and now, after the revocation's sweep
    /// of the attached connections had already run, so the caller must
    /// refuse the connection.
    pub fn attach(&self, conn_id: &str, device_id: &str, outbox: Arc<Outbox>) -> bool {
        Self::lock(&self.live).insert(conn_id.into(), (device_id.into(), outbox));
        let still = self
            .store
            .load()
            .is_ok_and(|f| f.paired.contains_key(device_id));
        if !still {
            Self::lock(&self.live).remove(conn_id);
        }
        still
    }

    /// The devices with an open session.
    pub fn connected(&self) -> std::collections::HashSet<String> {
        Self::lock(&self.live)
            .values()
            .map(|(d, _)| d.clone())
            .collect()
    }

    pub fn detach(&self, conn_id: &str) {
        Self::lock(&self.live).remove(conn_id);
    }

    /// After the file changed (any writer): close the live connections of
    /// devices that are no longer paired. Returns how many were closed.
    pub fn poll(&self) -> usize {
        let now = self.store.stamp();
        {
            let mut s = Self::lock(&self.stamp);
            if *s == now {
                return 0;
            }
            *s = now;
        }
        let Ok(file) = self.store.load() else {
            return 0;
        };
        self.close_unpaired(&file)
    }

    /// Removes the automatic pairings the shared secret of `auth` does not
    /// vouch for (it changed since they were made) and closes their
    /// sessions; returns what was removed. Called at start and whenever the
    /// gateway's credentials change.
    pub fn void_stale(
        &self,
        auth: &crate::AuthConfig,
    ) -> Result<Vec<PairedDevice>, openclaw_state::StateError> {
        let binding = secret_binding(auth);
        // Nothing stale (the usual case, and always without a devices
        // file): no lock taken, nothing created under the state dir.
        if !self
            .store
            .load()?
            .paired
            .values()
            .any(|p| p.stale_under(binding.as_deref()))
        {
            return Ok(Vec::new());
        }
        let gone = self.store.update(|f| {
            let gone = void_stale(f, binding.as_deref());
            (!gone.is_empty(), gone)
        })?;
        if !gone.is_empty()
            && let Ok(f) = self.store.load()
        {
            self.close_unpaired(&f);
        }
        Ok(gone)
    }

    pub fn close_unpaired(&self, file: &DevicesFile) -> usize {
        let mut live = Self::lock(&self.live);
        let gone: Vec<String> = live
            .iter()
            .filter(|(_, (dev, _))| !file.paired.contains_key(dev))
            .map(|(c, _)| c.clone())
            .collect();
        for c in &gone {
            if let Some((_, ob)) = live.remove(c) {
                ob.revoke();
            }
        }
        gone.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_protocol::Scope;

    #[test]
    fn attaching_rechecks_that_the_device_is_still_paired() {
        let dir = tempfile::tempdir().unwrap();
        let hub = DeviceHub::new(dir.path());
        let paired = PairedDevice {
            device_id: "d1".into(),
            public_key: "pk1".into(),
            client_id: "cli".into(),
            client_mode: String::new(),
            platform: String::new(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            token_sha256: None,
            token_issued_at_ms: None,
            approved_at_ms: 1,
            approved_by: "cli".into(),
            last_seen_at_ms: None,
            last_seen_ip: None,
            secret_binding: None,
        };
        hub.store()
            .update(|f| {
                f.paired.insert("d1".into(), paired);
                (true, ())
            })
            .unwrap();
        let ob = Outbox::new(1 << 20);
        assert!(hub.attach("c1", "d1", ob.clone()));
        assert!(hub.connected().contains("d1"));
        // Revoked after the connect decision, before the attach: refused,
        // and nothing is left attached.
        hub.store()
            .update(|f| (revoke(f, "d1").is_ok(), ()))
            .unwrap();
        assert!(!hub.attach("c2", "d1", ob));
        assert!(!hub.attach("c3", "ghost", Outbox::new(1 << 20)));
        hub.detach("c1");
        assert!(hub.connected().is_empty());
    }

    fn set(s: &[&str]) -> ScopeSet {
        ScopeSet::from_strs(s.iter().copied())
    }

    fn conn(requested: ScopeSet, auth: DeviceAuth, local: bool) -> DeviceConnect {
        DeviceConnect {
            device_id: "d1".into(),
            public_key: "pk1".into(),
            client_id: "openclaw-control-ui".into(),
            client_mode: "webchat".into(),
            platform: "linux".into(),
            role: "operator".into(),
            requested,
            auth,
            local,
            remote_ip: Some("127.0.0.1".into()),
            grant: ScopeSet::all(),
            binding: Some("secret-1".into()),
        }
    }

    fn run(file: &mut DevicesFile, c: &DeviceConnect) -> (Decision, Applied) {
        let d = decide(file, c);
        let a = apply(file, c, &d, 1000, || "tok-1".into());
        (d, a)
    }

    #[test]
    fn a_local_device_with_the_shared_secret_is_paired_and_gets_a_token() {
        let mut f = DevicesFile::default();
        let all = set(&["operator.admin", "operator.pairing"]);
        let (d, a) = run(&mut f, &conn(all, DeviceAuth::SharedSecret, true));
        assert!(matches!(
            d,
            Decision::Accept {
                pair: true,
                issue_token: true,
                ..
            }
        ));
        assert_eq!(
            a,
            Applied::Accepted {
                token: Some(("tok-1".into(), 1000))
            }
        );
        let p = &f.paired["d1"];
        assert_eq!(p.scopes, ["operator.admin", "operator.pairing"]);
        assert_eq!(
            p.token_sha256.as_deref(),
            Some(token_hash("tok-1").as_str())
        );
        assert!(!serde_json::to_string(&f).unwrap().contains("tok-1"));
        // The same again: already paired, no new token.
        let (d, a) = run(&mut f, &conn(all, DeviceAuth::SharedSecret, true));
        assert!(matches!(
            d,
            Decision::Accept {
                pair: false,
                issue_token: false,
                ..
            }
        ));
        assert_eq!(a, Applied::Accepted { token: None });
    }

    #[test]
    fn the_device_token_grants_at_most_the_approved_scopes() {
        let mut f = DevicesFile::default();
        run(
            &mut f,
            &conn(set(&["operator.read"]), DeviceAuth::SharedSecret, true),
        );
        let ask = set(&["operator.admin", "operator.read"]);
        let d = decide(
            &f,
            &conn(ask, DeviceAuth::DeviceToken("tok-1".into()), false),
        );
        let Decision::Accept {
            scopes,
            auth_method,
            ..
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(scopes, set(&["operator.read"]));
        assert_eq!(auth_method, "device-token");
        // Asking for nothing gets the approved set.
        let d = decide(
            &f,
            &conn(
                ScopeSet::EMPTY,
                DeviceAuth::DeviceToken("tok-1".into()),
                false,
            ),
        );
        assert!(matches!(d, Decision::Accept { scopes, .. } if scopes.allows(Scope::Read)));
        // A wrong token, or a token of an unknown device, is refused.
        for (file, tok) in [(&f, "tok-2"), (&DevicesFile::default(), "tok-1")] {
            let d = decide(file, &conn(ask, DeviceAuth::DeviceToken(tok.into()), true));
            let Decision::Refuse(e) = d else {
                panic!("{d:?}")
            };
            assert_eq!(e.detail_code(), Some("AUTH_DEVICE_TOKEN_MISMATCH"));
        }
    }

    /// A device token never grants more than the gateway's current grant
    /// (`gateway.auth.scopes`), and only for the role it was paired as.
    #[test]
    fn the_device_token_is_capped_by_the_current_grant_and_its_role() {
        let mut f = DevicesFile::default();
        let all = set(&["operator.admin", "operator.read", "operator.pairing"]);
        run(&mut f, &conn(all, DeviceAuth::SharedSecret, true));
        let mut c = conn(all, DeviceAuth::DeviceToken("tok-1".into()), false);
        c.grant = set(&["operator.read"]);
        let Decision::Accept { scopes, .. } = decide(&f, &c) else {
            panic!()
        };
        assert_eq!(scopes, set(&["operator.read"]));
        // Asking for nothing: the approved set under the grant (admin
        // approved, read granted: read).
        c.requested = ScopeSet::EMPTY;
        let Decision::Accept { scopes, .. } = decide(&f, &c) else {
            panic!()
        };
        assert_eq!(scopes, set(&["operator.read"]));
        // The operator's token presented as a node: refused.
        c.role = "node".into();
        let Decision::Refuse(e) = decide(&f, &c) else {
            panic!()
        };
        assert_eq!(e.detail_code(), Some("AUTH_DEVICE_TOKEN_MISMATCH"));
    }

    /// A device paired automatically under one shared secret is void under
    /// another (upstream: such browser device tokens are revoked with the
    /// secret); devices the owner approved are independent of it.
    #[test]
    fn automatic_pairings_are_void_when_the_shared_secret_changes() {
        let mut f = DevicesFile::default();
        run(
            &mut f,
            &conn(set(&["operator.read"]), DeviceAuth::SharedSecret, true),
        );
        assert_eq!(f.paired["d1"].secret_binding.as_deref(), Some("secret-1"));
        // A second device, approved by the owner.
        let mut remote = conn(set(&["operator.read"]), DeviceAuth::SharedSecret, false);
        remote.device_id = "d2".into();
        remote.public_key = "pk2".into();
        let (_, Applied::Pending { request_id }) = run(&mut f, &remote) else {
            panic!()
        };
        approve(&mut f, &request_id, 1000, "cli", None).unwrap();
        let (_, Applied::Accepted { token: Some(_) }) = run(&mut f, &remote) else {
            panic!()
        };
        // The secret changed: d1's token no longer works, d2's does.
        let mut c = conn(
            set(&["operator.read"]),
            DeviceAuth::DeviceToken("tok-1".into()),
            true,
        );
        c.binding = Some("secret-2".into());
        assert!(matches!(decide(&f, &c), Decision::Refuse(_)));
        c.device_id = "d2".into();
        c.public_key = "pk2".into();
        assert!(matches!(decide(&f, &c), Decision::Accept { .. }));
        let gone = void_stale(&mut f, Some("secret-2"));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].device_id, "d1");
        assert!(f.paired.contains_key("d2"));
        // With the new secret, d1 pairs again (a new token, new binding).
        let mut again = conn(set(&["operator.read"]), DeviceAuth::SharedSecret, true);
        again.binding = Some("secret-2".into());
        let (_, Applied::Accepted { token: Some(_) }) = run(&mut f, &again) else {
            panic!()
        };
        assert_eq!(f.paired["d1"].secret_binding.as_deref(), Some("secret-2"));
        // The binding is a keyed hash, never the secret.
        let b = secret_binding(&crate::AuthConfig::Token("hunter2".into())).unwrap();
        assert_eq!(b.len(), 64);
        assert_ne!(b, token_hash("hunter2"));
        assert_ne!(
            Some(b),
            secret_binding(&crate::AuthConfig::Password("hunter2".into()))
        );
        assert_eq!(secret_binding(&crate::AuthConfig::None), None);
    }

    #[test]
    fn remote_devices_wait_for_approval() {
        let mut f = DevicesFile::default();
        let c = conn(set(&["operator.read"]), DeviceAuth::SharedSecret, false);
        let (d, a) = run(&mut f, &c);
        assert_eq!(d, Decision::Pending(PairingReason::NotPaired));
        let Applied::Pending { request_id } = a else {
            panic!("{a:?}")
        };
        // A retry keeps the same request.
        let (_, a) = run(&mut f, &c);
        assert_eq!(
            a,
            Applied::Pending {
                request_id: request_id.clone()
            }
        );
        assert_eq!(f.pending.len(), 1);
        let p = approve(&mut f, &request_id[..8], 2000, "cli", None).unwrap();
        assert_eq!(p.scopes, ["operator.read"]);
        assert_eq!(p.approved_by, "cli");
        assert!(f.pending.is_empty());
        // Now paired: accepted, and the first connect gets a token.
        let (d, a) = run(&mut f, &c);
        assert!(matches!(
            d,
            Decision::Accept {
                issue_token: true,
                ..
            }
        ));
        assert!(matches!(a, Applied::Accepted { token: Some(_) }));
        // Asking for more is a scope upgrade.
        let up = conn(set(&["operator.admin"]), DeviceAuth::SharedSecret, false);
        assert_eq!(
            decide(&f, &up),
            Decision::Pending(PairingReason::ScopeUpgrade)
        );
    }

    #[test]
    fn revoke_and_reject() {
        let mut f = DevicesFile::default();
        run(
            &mut f,
            &conn(set(&["operator.read"]), DeviceAuth::SharedSecret, true),
        );
        assert_eq!(
            revoke(&mut f, "nope"),
            Err(DevicesError::NoSuchDevice("nope".into()))
        );
        assert_eq!(revoke(&mut f, "d").unwrap().device_id, "d1");
        assert!(f.paired.is_empty());
        let d = decide(
            &f,
            &conn(
                set(&["operator.read"]),
                DeviceAuth::DeviceToken("tok-1".into()),
                true,
            ),
        );
        assert!(matches!(d, Decision::Refuse(_)));
        let c = conn(set(&["operator.read"]), DeviceAuth::SharedSecret, false);
        let (_, Applied::Pending { request_id }) = run(&mut f, &c) else {
            panic!()
        };
        assert_eq!(reject(&mut f, &request_id).unwrap().device_id, "d1");
        assert!(matches!(
            reject(&mut f, &request_id),
            Err(DevicesError::NoSuchRequest(_))
        ));
    }

    #[test]
    fn expired_requests_are_dropped() {
        let mut f = DevicesFile::default();
        let c = conn(set(&["operator.read"]), DeviceAuth::SharedSecret, false);
        let d = decide(&f, &c);
        apply(&mut f, &c, &d, 1000, || unreachable!());
        assert_eq!(f.pending.len(), 1);
        let id = f.pending.keys().next().unwrap().clone();
        assert!(matches!(
            approve(&mut f, &id, 1000 + PENDING_TTL_MS, "cli", None),
            Err(DevicesError::NoSuchRequest(_))
        ));
    }

    #[test]
    fn the_store_round_trips_under_the_state_dir() {
        let d = tempfile::tempdir().unwrap();
        let s = DeviceStore::new(d.path());
        assert_eq!(s.load().unwrap(), DevicesFile::default());
        let c = conn(set(&["operator.read"]), DeviceAuth::SharedSecret, true);
        s.update(|f| {
            let dec = decide(f, &c);
            (true, apply(f, &c, &dec, now_ms(), || "t".into()))
        })
        .unwrap();
        assert!(s.load().unwrap().paired.contains_key("d1"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
