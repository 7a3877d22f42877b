//! Who may talk to the gateway, before and around authentication.
//!
//! - [`HostPolicy`]: the names this instance answers to (`Host` on every
//!   listener, so DNS rebinding cannot read `/`, `/readyz` or the canvas) and
//!   the browser origins allowed to open its WebSocket (`Origin` on every
//!   upgrade, so a web page cannot drive the gateway).
//! - [`FailureLimiter`]: failed-auth lockout per remote address (and per page
//!   origin from loopback), upstream's defaults.
//! - [`GuardedListener`]: caps connections that have not authenticated, the
//!   bytes they may send (64 KiB, upstream's pre-auth frame cap), and how
//!   long they may stay unauthenticated.
//!
//! The decisions are pure functions over their inputs (time passed in) and
//! unit-tested below; the gateway calls them from `http.rs`/`ws.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use openclaw_config::Config;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest number of bytes a connection may send before it has
/// authenticated (upstream: `MAX_PREAUTH_PAYLOAD_BYTES`, 64 KiB), plus room
/// for the WebSocket frame header. Counted afresh for every HTTP request.
pub const PREAUTH_MAX_BYTES: usize = 64 * 1024 + 1024;
/// Connections accepted but not yet authenticated, at most (see
/// [`admission`] for who makes room for a newcomer).
pub const PREAUTH_MAX_CONNECTIONS: usize = 128;

// ---------------------------------------------------------------- names ----

/// The names and origins one instance answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    /// The gateway's base port (same-origin pages are served from it).
    port: u16,
    /// Only loopback IP literals are accepted as `Host` (loopback bind).
    loopback_only: bool,
    /// The machine's host name (lowercase), accepted when not loopback-only.
    hostname: Option<String>,
    /// `gateway.controlUi.allowedOrigins`, normalised (`scheme://host:port`).
    origins: Vec<String>,
    /// `"*"` in `allowedOrigins`: any origin (explicit, never a default).
    any_origin: bool,
    /// Host names of the allowed origins (a reverse proxy's name).
    origin_hosts: Vec<String>,
}

/// The ASCII origin of a URL (`http://127.0.0.1:18789`), or `None` for
/// anything that is not an http(s) origin (`null`, `file://`, garbage).
pub fn normalize_origin(s: &str) -> Option<String> {
    let u = url::Url::parse(s.trim()).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return None;
    }
    Some(u.origin().ascii_serialization())
}

fn split_host(host_header: &str) -> Option<(url::Host<String>, Option<u16>)> {
    let u = url::Url::parse(&format!("http://{}/", host_header.trim())).ok()?;
    // `http://a@b/` or a path would mean the header was not a bare host.
    if !u.username().is_empty() || u.password().is_some() || u.path() != "/" {
        return None;
    }
    Some((u.host()?.to_owned(), u.port()))
}

fn host_is_loopback(h: &url::Host<String>) -> bool {
    match h {
        url::Host::Domain(d) => d == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl HostPolicy {
    /// For a gateway bound to `bind` on `port`, with the config's
    /// `gateway.controlUi.allowedOrigins`.
    pub fn new(bind: IpAddr, port: u16, hostname: Option<&str>, config: &Config) -> Self {
        let listed: Vec<String> = config
            .gateway
            .as_ref()
            .and_then(|g| g.control_ui.as_ref())
            .and_then(|c| c.allowed_origins.clone())
            .unwrap_or_default();
        let any_origin = listed.iter().any(|o| o.trim() == "*");
        let origins: Vec<String> = listed.iter().filter_map(|o| normalize_origin(o)).collect();
        let origin_hosts = origins
            .iter()
            .filter_map(|o| url::Url::parse(o).ok()?.host_str().map(str::to_string))
            .collect();
        HostPolicy {
            port,
            loopback_only: bind.is_loopback(),
            hostname: hostname
                .filter(|h| !h.is_empty())
                .map(|h| h.to_ascii_lowercase()),
            origins,
            any_origin,
            origin_hosts,
        }
    }

    /// A listener that only ever binds loopback (browser control).
    pub fn loopback(port: u16) -> Self {
        HostPolicy {
            port,
            loopback_only: true,
            hostname: None,
            origins: Vec::new(),
            any_origin: false,
            origin_hosts: Vec::new(),
        }
    }

    /// Whether a request's `Host` header names this instance. An IP literal
    /// cannot be rebound, so any address we listen on passes; a name must be
    /// `localhost`, the machine's name (non-loopback binds) or the host of
    /// an allowed origin. A request without `Host` (HTTP/1.0 tools; browsers
    /// always send one) passes.
    pub fn allows_host(&self, host_header: Option<&str>) -> bool {
        let Some(h) = host_header else { return true };
        let Some((host, _port)) = split_host(h) else {
            return false;
        };
        match &host {
            url::Host::Ipv4(ip) => !self.loopback_only || ip.is_loopback(),
            url::Host::Ipv6(ip) => !self.loopback_only || ip.is_loopback(),
            url::Host::Domain(d) => {
                d == "localhost"
                    || self.origin_hosts.iter().any(|o| o == d)
                    || (!self.loopback_only
                        && self.hostname.as_deref().is_some_and(|n| {
                            d == n || d.strip_suffix(".local").is_some_and(|s| s == n)
                        }))
            }
        }
    }

    /// Whether a WebSocket upgrade carrying `origin` may proceed. No
    /// `Origin` = not a browser: allowed (the secret decides). A browser
    /// page may connect when its origin is listed in `allowedOrigins`, or is
    /// this gateway itself: the same origin as the request's (validated)
    /// `Host`, or a loopback name, on the gateway's own port.
    pub fn allows_origin(
        &self,
        origin: Option<&str>,
        host_header: Option<&str>,
    ) -> Result<(), String> {
        let Some(raw) = origin else { return Ok(()) };
        if self.any_origin {
            return Ok(());
        }
        let Some(norm) = normalize_origin(raw) else {
            return Err(format!(
                "origin not allowed: {raw:?} is not an http(s) origin"
            ));
        };
        if self.origins.contains(&norm) {
            return Ok(());
        }
        let u = url::Url::parse(&norm).map_err(|e| e.to_string())?;
        let (Some(ohost), Some(oport)) = (u.host(), u.port_or_known_default()) else {
            return Err(format!("origin not allowed: {norm}"));
        };
        let ohost = ohost.to_owned();
        if oport == self.port {
            if host_is_loopback(&ohost) {
                return Ok(());
            }
            let same_as_host = host_header
                .and_then(split_host)
                .is_some_and(|(h, p)| h == ohost && p.unwrap_or(80) == oport);
            if same_as_host && self.allows_host(host_header) {
                return Ok(());
            }
        }
        Err(format!(
            "origin not allowed: {norm} (add it to gateway.controlUi.allowedOrigins to let that page connect)"
        ))
    }
}

/// Headers a reverse proxy adds; a request carrying any of them did not
/// come straight from the peer address we see.
pub const PROXY_HEADERS: [&str; 4] = [
    "forwarded",
    "x-forwarded-for",
    "x-real-ip",
    "x-forwarded-host",
];

/// Whether a connect counts as direct local for device pairing (upstream's
/// "direct loopback"): the peer is a loopback address, no proxy header says
/// it came from elsewhere, and a browser `Origin`, if any, is a loopback
/// host (a page on this machine, allowed by the Origin check).
pub fn is_direct_local(remote: Option<IpAddr>, origin: Option<&str>, proxied: bool) -> bool {
    let peer_local = remote.is_some_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    });
    let origin_local = match origin {
        None => true,
        Some(o) => url::Url::parse(o.trim())
            .ok()
            .and_then(|u| u.host().map(|h| h.to_owned()))
            .is_some_and(|h| host_is_loopback(&h)),
    };
    peer_local && !proxied && origin_local
}

// -------------------------------------------------------- auth failures ----

/// `gateway.auth.rateLimit` (upstream's keys and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max_attempts: u32,
    pub window: Duration,
    pub lockout: Duration,
    /// Non-browser clients on loopback are never locked out (so a local
    /// CLI cannot be locked out by someone else's failures). Browser
    /// origins are limited on loopback whatever this says.
    pub exempt_loopback: bool,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            max_attempts: 10,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            exempt_loopback: true,
        }
    }
}

impl RateLimit {
    pub fn from_config(config: &Config) -> Self {
        let d = RateLimit::default();
        let r = config
            .gateway
            .as_ref()
            .and_then(|g| g.auth.as_ref())
            .and_then(|a| a.rate_limit.as_ref());
        RateLimit {
            max_attempts: r
                .and_then(|r| r.max_attempts)
                .map(|n| n.max(1))
                .unwrap_or(d.max_attempts),
            window: r
                .and_then(|r| r.window_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.window),
            lockout: r
                .and_then(|r| r.lockout_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.lockout),
            exempt_loopback: r
                .and_then(|r| r.exempt_loopback)
                .unwrap_or(d.exempt_loopback),
        }
    }
}

/// Whose failures count together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FailureKey {
    ip: IpAddr,
    /// The page origin, only for browser connects from loopback (there every
    /// local client shares one address).
    origin: Option<String>,
}

impl FailureKey {
    /// `None`: this client is not limited (loopback non-browser, exempt).
    pub fn for_client(ip: IpAddr, origin: Option<&str>, cfg: &RateLimit) -> Option<FailureKey> {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if ip.is_loopback() {
            match origin {
                None if cfg.exempt_loopback => None,
                None => Some(FailureKey { ip, origin: None }),
                Some(o) => Some(FailureKey {
                    ip,
                    origin: Some(normalize_origin(o).unwrap_or_else(|| o.to_string())),
                }),
            }
        } else {
            Some(FailureKey { ip, origin: None })
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    window_start: Option<Instant>,
    failures: u32,
    locked_until: Option<Instant>,
}

/// Failed-auth bookkeeping; time is passed in.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    entries: HashMap<FailureKey, Entry>,
}

/// At most this many remote keys are remembered (oldest windows dropped
/// first), so a flood from many addresses cannot grow memory.
const MAX_KEYS: usize = 4096;

impl FailureLimiter {
    /// `Err(retry_after)` while `key` is locked out.
    pub fn check(&self, key: &FailureKey, now: Instant) -> Result<(), Duration> {
        match self.entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records one wrong credential; `Some(lockout)` when this failure
    /// started a lockout.
    pub fn failure(&mut self, key: FailureKey, cfg: &RateLimit, now: Instant) -> Option<Duration> {
        if self.entries.len() >= MAX_KEYS && !self.entries.contains_key(&key) {
            self.evict(now, cfg);
        }
        let e = self.entries.entry(key).or_default();
        if e.locked_until.is_some_and(|u| u <= now) {
            *e = Entry::default();
        }
        match e.window_start {
            Some(s) if now.duration_since(s) < cfg.window => e.failures += 1,
            _ => {
                e.window_start = Some(now);
                e.failures = 1;
            }
        }
        if e.failures >= cfg.max_attempts && e.locked_until.is_none() {
            e.locked_until = Some(now + cfg.lockout);
            return Some(cfg.lockout);
        }
        None
    }

    /// A correct credential clears the key's failures.
    pub fn success(&mut self, key: &FailureKey) {
        self.entries.remove(key);
    }

    fn evict(&mut self, now: Instant, cfg: &RateLimit) {
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now)
                || e.window_start
                    .is_some_and(|s| now.duration_since(s) < cfg.window)
        });
        while self.entries.len() >= MAX_KEYS {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.window_start)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.entries.remove(&k);
                }
                None => break,
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The gateway's guard state, shared by every connection.
pub struct Guard {
    pub hosts: std::sync::RwLock<HostPolicy>,
    pub rate: std::sync::RwLock<RateLimit>,
    pub failures: Mutex<FailureLimiter>,
    /// Failed authentications since start (reported in `health`).
    pub auth_failures: AtomicU64,
    /// Upgrades refused for their `Origin` since start.
    pub origin_refusals: AtomicU64,
    /// Unauthenticated connections closed to make room for newer ones
    /// (shared with the [`GuardedListener`]).
    pub preauth_evictions: Arc<AtomicU64>,
    /// Bumped whenever the gateway's credentials change: sessions that
    /// authenticated under an older one are closed.
    pub auth_epoch: tokio::sync::watch::Sender<u64>,
    /// The bind/port/hostname the policy was built from (for reloads).
    bind: IpAddr,
    port: u16,
    hostname: Option<String>,
}

impl Guard {
    pub fn new(bind: IpAddr, port: u16, hostname: Option<String>, config: &Config) -> Guard {
        Guard {
            hosts: std::sync::RwLock::new(HostPolicy::new(bind, port, hostname.as_deref(), config)),
            rate: std::sync::RwLock::new(RateLimit::from_config(config)),
            failures: Mutex::new(FailureLimiter::default()),
            auth_failures: AtomicU64::new(0),
            origin_refusals: AtomicU64::new(0),
            preauth_evictions: Arc::new(AtomicU64::new(0)),
            auth_epoch: tokio::sync::watch::Sender::new(0),
            bind,
            port,
            hostname,
        }
    }

    /// A config change: new origins and limits apply to the next request;
    /// recorded failures and lockouts are kept.
    pub fn reload(&self, config: &Config) {
        let hosts = HostPolicy::new(self.bind, self.port, self.hostname.as_deref(), config);
        *self.hosts.write().unwrap_or_else(|e| e.into_inner()) = hosts;
        *self.rate.write().unwrap_or_else(|e| e.into_inner()) = RateLimit::from_config(config);
    }

    pub fn host_policy(&self) -> HostPolicy {
        self.hosts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn failure_key(&self, ip: IpAddr, origin: Option<&str>) -> Option<FailureKey> {
        let rate = *self.rate.read().unwrap_or_else(|e| e.into_inner());
        FailureKey::for_client(ip, origin, &rate)
    }

    pub fn locked_out(&self, key: &FailureKey) -> Result<(), Duration> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(key, Instant::now())
    }

    /// Counts a wrong credential; `Some(lockout)` when it began a lockout.
    pub fn record_failure(&self, key: Option<FailureKey>) -> Option<Duration> {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
        let key = key?;
        let rate = *self.rate.read().unwrap_or_else(|e| e.into_inner());
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failure(key, &rate, Instant::now())
    }

    pub fn record_success(&self, key: Option<&FailureKey>) {
        if let Some(k) = key {
            self.failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .success(k);
        }
    }

    /// The gateway's credentials changed.
    pub fn credentials_changed(&self) {
        self.auth_epoch.send_modify(|e| *e += 1);
    }
}

/// `OPENCLAW_HANDSHAKE_TIMEOUT_MS` (upstream's override of the 15 s
/// pre-auth budget): a positive number of milliseconds.
pub fn handshake_timeout_from_env(v: Option<&str>) -> Result<Option<Duration>, String> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => match s.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
            _ => Err(format!(
                "OPENCLAW_HANDSHAKE_TIMEOUT_MS={s:?} is not a positive number of milliseconds"
            )),
        },
    }
}

// ------------------------------------------------------ pre-auth limits ----

/// Unauthenticated connections from one address, at most (so one remote
/// host cannot take every slot); see [`PreAuthLimits`].
pub const PREAUTH_MAX_PER_IP: usize = 64;

/// The pre-auth limits of one listener. Derived from the handshake
/// timeout by [`PreAuthLimits::for_handshake`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreAuthLimits {
    /// Unauthenticated connections held at once.
    pub max_total: usize,
    /// ... of which from one address.
    pub max_per_ip: usize,
    /// Per HTTP request: the request (and, for an upgrade, the handshake)
    /// must be done within this (the byte-level backstop).
    pub request: Duration,
    /// The first byte must arrive within this after the accept.
    pub first_byte: Duration,
    /// Absolute: a connection never stays unauthenticated longer than
    /// this, however many requests it makes.
    pub lifetime: Duration,
    /// A full table admits a newcomer by closing the oldest pre-auth
    /// connection that has had at least this long to authenticate.
    pub grace: Duration,
}

impl PreAuthLimits {
    /// The limits for a gateway whose `connect` must arrive within
    /// `handshake` (15 s by default): per request 2 × handshake + 1 s, first
    /// byte within min(handshake, 5 s), at most 4 × handshake + 4 s
    /// unauthenticated in all, eviction grace min(handshake / 4, 1 s).
    pub fn for_handshake(handshake: Duration) -> Self {
        let request = handshake * 2 + Duration::from_secs(1);
        PreAuthLimits {
            max_total: PREAUTH_MAX_CONNECTIONS,
            max_per_ip: PREAUTH_MAX_PER_IP,
            request,
            first_byte: handshake.min(Duration::from_secs(5)),
            lifetime: request * 2 + Duration::from_secs(2),
            grace: (handshake / 4).min(Duration::from_secs(1)),
        }
    }
}

/// What to do with a newcomer from `ip` when `held` (address, time since
/// accept; in accept order) are the live unauthenticated connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// There is room.
    Admit,
    /// Close `held[i]` first (the oldest past its grace, of the newcomer's
    /// own address when that address is at its cap, else of the address
    /// holding the most slots), then admit.
    Evict(usize),
    /// Every slot is held by a connection still within its grace: the
    /// newcomer waits (in the kernel's accept queue) until one frees.
    Wait,
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The admission decision (pure; see [`Admission`]). A hostile client
/// cannot lock the owner out by holding slots: each of its connections is
/// closed once past its grace when someone else needs the slot, so holding
/// them means reconnecting without pause, and a newcomer is then admitted
/// in its turn from the accept queue and has its grace to authenticate.
/// While it reconnects faster than its connections age past the grace,
/// `Wait` delays every newcomer (the accept queue is shared): the known
/// limit in docs/reliability.md, the price of serving bursts.
pub fn admission(held: &[(IpAddr, Duration)], ip: IpAddr, limits: &PreAuthLimits) -> Admission {
    let ip = canonical_ip(ip);
    let oldest_of = |pred: &dyn Fn(IpAddr) -> bool| {
        held.iter()
            .enumerate()
            .filter(|(_, (a, age))| pred(canonical_ip(*a)) && *age >= limits.grace)
            .max_by_key(|(_, (_, age))| *age)
            .map(|(i, _)| i)
    };
    let same = held.iter().filter(|(a, _)| canonical_ip(*a) == ip).count();
    if same >= limits.max_per_ip.max(1) {
        return match oldest_of(&|a| a == ip) {
            Some(i) => Admission::Evict(i),
            None => Admission::Wait,
        };
    }
    if held.len() < limits.max_total.max(1) {
        return Admission::Admit;
    }
    let mut counts: HashMap<IpAddr, usize> = HashMap::new();
    for (a, _) in held {
        *counts.entry(canonical_ip(*a)).or_default() += 1;
    }
    let heaviest = counts.values().copied().max().unwrap_or(0);
    oldest_of(&|a| counts.get(&a) == Some(&heaviest))
        .or_else(|| oldest_of(&|_| true))
        .map(Admission::Evict)
        .unwrap_or(Admission::Wait)
}

/// One accepted connection's pre-auth state, shared between its IO wrapper
/// and the handlers (through [`ConnInfo`]).
#[derive(Debug)]
pub struct ConnBudget {
    /// Bytes read since the last [`ConnBudget::rearm`].
    read: AtomicUsize,
    /// Any byte read at all (until then the first-byte deadline applies).
    seen: AtomicBool,
    /// Authenticated: no byte or time limit any more.
    open: AtomicBool,
    /// The limit was hit (the handler closes with "message too big").
    exceeded: AtomicBool,
    /// Closed to make room for a newcomer ([`admission`]).
    evicted: AtomicBool,
    /// The handler sent its close frame: input is read and dropped.
    draining: AtomicBool,
    /// Milliseconds after `base` when the pre-auth time runs out.
    deadline_ms: AtomicU64,
    base: Instant,
    limits: PreAuthLimits,
    ip: IpAddr,
    /// The reader to wake when evicted.
    waker: Mutex<Option<std::task::Waker>>,
}

impl ConnBudget {
    fn new(limits: PreAuthLimits, ip: IpAddr) -> Self {
        ConnBudget {
            read: AtomicUsize::new(0),
            seen: AtomicBool::new(false),
            open: AtomicBool::new(false),
            exceeded: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            deadline_ms: AtomicU64::new(limits.first_byte.min(limits.lifetime).as_millis() as u64),
            base: Instant::now(),
            limits,
            ip,
            waker: Mutex::new(None),
        }
    }

    /// The per-request deadline from now, never past the absolute lifetime.
    fn extend(&self) {
        let d = (self.base.elapsed() + self.limits.request).min(self.limits.lifetime);
        self.deadline_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// A new HTTP request began: a fresh byte allowance and time budget
    /// (within the connection's absolute pre-auth lifetime).
    pub fn rearm(&self) {
        self.read.store(0, Ordering::Relaxed);
        self.extend();
    }

    /// The connection authenticated: lift the limits, free its slot.
    pub fn authenticated(&self) {
        self.open.store(true, Ordering::Release);
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// Whether the connection was closed to make room for a newcomer.
    pub fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Relaxed)
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        if let Some(w) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.wake();
        }
    }

    /// The handler closed the connection with a close frame that says why:
    /// when the socket is dropped it is closed lingering ([`GuardedIo`]'s
    /// `Drop`). Closing a socket with unread input makes the kernel answer
    /// with a reset and drop output not yet sent, which would lose that
    /// close frame; a client that keeps sending (a flood, a big frame
    /// still arriving) would never see it.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn deadline(&self) -> Instant {
        self.base + Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed))
    }

    /// Accounts `n` bytes just read; `false` once over the allowance.
    fn account(&self, n: usize) -> bool {
        if self.is_open() {
            return true;
        }
        if n > 0 && !self.seen.swap(true, Ordering::Relaxed) {
            // The first byte: from here the per-request deadline applies.
            self.extend();
        }
        let total = self.read.fetch_add(n, Ordering::Relaxed) + n;
        if total > PREAUTH_MAX_BYTES {
            self.exceeded.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// What handlers learn about their connection (`ConnectInfo<ConnInfo>`).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    pub budget: Arc<ConnBudget>,
}

/// A TCP listener that holds at most [`PreAuthLimits::max_total`]
/// unauthenticated connections ([`admission`] decides who makes room) and
/// wraps each in [`GuardedIo`].
pub struct GuardedListener {
    inner: tokio::net::TcpListener,
    limits: PreAuthLimits,
    /// The connections accepted and not yet known to be authenticated or
    /// gone, in accept order.
    held: Vec<std::sync::Weak<ConnBudget>>,
    /// Connections closed to make room, since start.
    evictions: Arc<AtomicU64>,
}

impl GuardedListener {
    pub fn new(
        inner: tokio::net::TcpListener,
        limits: PreAuthLimits,
        evictions: Arc<AtomicU64>,
    ) -> Self {
        GuardedListener {
            inner,
            limits,
            held: Vec::new(),
            evictions,
        }
    }

    /// Live unauthenticated connections, oldest first.
    fn live(&mut self) -> Vec<Arc<ConnBudget>> {
        self.held
            .retain(|w| w.upgrade().is_some_and(|b| !b.is_open() && !b.evicted()));
        self.held.iter().filter_map(|w| w.upgrade()).collect()
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedIo;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((tcp, remote)) => {
                    // Room for it: close older unauthenticated connections
                    // past their grace, or wait for one to be.
                    loop {
                        let live = self.live();
                        let view: Vec<(IpAddr, Duration)> =
                            live.iter().map(|b| (b.ip, b.base.elapsed())).collect();
                        match admission(&view, remote.ip(), &self.limits) {
                            Admission::Admit => break,
                            Admission::Evict(i) => {
                                live[i].evict();
                                self.evictions.fetch_add(1, Ordering::Relaxed);
                            }
                            Admission::Wait => {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                    // TCP_NODELAY: a response written while an earlier frame
                    // is unacknowledged would otherwise wait for the peer's
                    // delayed ACK (~40 ms on Linux).
                    let _ = tcp.set_nodelay(true);
                    let budget = Arc::new(ConnBudget::new(self.limits, canonical_ip(remote.ip())));
                    self.held.push(Arc::downgrade(&budget));
                    let io = GuardedIo {
                        inner: tcp,
                        budget: budget.clone(),
                        sleep: Box::pin(tokio::time::sleep_until(budget.deadline().into())),
                    };
                    return (io, ConnInfo { remote, budget });
                }
                // As axum's own listener: back off briefly on accept errors
                // (e.g. EMFILE) rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        let remote = self.inner.local_addr()?;
        Ok(ConnInfo {
            remote,
            budget: Arc::new(ConnBudget::new(self.limits, remote.ip())),
        })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, GuardedListener>>
    for ConnInfo
{
    fn connect_info(s: axum::serve::IncomingStream<'_, GuardedListener>) -> Self {
        s.remote_addr().clone()
    }
}

/// A TCP stream that, until its connection authenticates, fails reads past
/// [`PREAUTH_MAX_BYTES`] and after the handshake timeout.
pub struct GuardedIo {
    inner: tokio::net::TcpStream,
    budget: Arc<ConnBudget>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.budget.is_open() {
            if this.budget.evicted() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "closed unauthenticated to make room for a newer connection",
                )));
            }
            *this.budget.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            let deadline = this.budget.deadline();
            if this.sleep.deadline().into_std() != deadline {
                this.sleep.as_mut().reset(deadline.into());
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "not authenticated within the handshake timeout",
                )));
            }
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if !this.budget.account(n) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "more than 64 KiB before authentication",
                    )));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// How long a socket closed by [`ConnBudget::drain`] is still read, and
/// how much: enough for a client to finish the frame it was sending and
/// see the close frame; a flood is cut off (reset) after that.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;

impl Drop for GuardedIo {
    /// A lingering close for connections the handler closed with a reason:
    /// FIN after the output already written (the close frame), then the
    /// client's input is read and dropped until it closes too, for at most
    /// [`LINGER`] and [`LINGER_BYTES`] (a second descriptor of the socket
    /// keeps it open for that; nothing read is kept).
    fn drop(&mut self) {
        if !self.budget.draining.load(Ordering::Relaxed) {
            return;
        }
        use std::os::fd::AsFd;
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(fd) = self.inner.as_fd().try_clone_to_owned() else {
            return;
        };
        let std = std::net::TcpStream::from(fd);
        let _ = std.shutdown(std::net::Shutdown::Write);
        if std.set_nonblocking(true).is_err() {
            return;
        }
        handle.spawn(async move {
            use tokio::io::AsyncReadExt;
            let Ok(mut s) = tokio::net::TcpStream::from_std(std) else {
                return;
            };
            let mut scratch = [0u8; 4096];
            let mut left = LINGER_BYTES;
            let _ = tokio::time::timeout(LINGER, async {
                while let Ok(n) = s.read(&mut scratch).await {
                    if n == 0 || n >= left {
                        break;
                    }
                    left -= n;
                }
            })
            .await;
        });
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

// ------------------------------------------------------------ middleware ----

/// Refuses (421 Misdirected Request) a request whose `Host` is not one of
/// this instance's names, on any listener, and gives a gateway connection a
/// fresh pre-auth allowance per request.
pub async fn check_host(
    axum::extract::State(policy): axum::extract::State<Arc<dyn Fn() -> HostPolicy + Send + Sync>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{0}"));
    if !policy().allows_host(host) {
        return (
            axum::http::StatusCode::MISDIRECTED_REQUEST,
            "host not allowed: this OpenClaw listener answers only to its own names (localhost, its IP addresses)\n",
        )
            .into_response();
    }
    if let Some(ci) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<ConnInfo>>()
    {
        ci.0.budget.rearm();
    }
    next.run(req).await
}

/// Wraps a router with [`check_host`] for `policy`.
pub fn with_host_check(
    router: axum::Router,
    policy: impl Fn() -> HostPolicy + Send + Sync + 'static,
) -> axum::Router {
    let p: Arc<dyn Fn() -> HostPolicy + Send + Sync> = Arc::new(policy);
    router.layer(axum::middleware::from_fn_with_state(p, check_host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn direct_local_means_loopback_peer_no_proxy_and_a_local_page() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let lan: IpAddr = "192.168.1.5".parse().unwrap();
        assert!(is_direct_local(Some(lo), None, false));
        assert!(is_direct_local(
            Some(lo6),
            Some("http://localhost:8080"),
            false
        ));
        assert!(is_direct_local(
            Some(lo),
            Some("http://127.0.0.1:41900"),
            false
        ));
        assert!(!is_direct_local(Some(lan), None, false));
        assert!(!is_direct_local(None, None, false));
        assert!(!is_direct_local(Some(lo), None, true), "behind a proxy");
        assert!(!is_direct_local(
            Some(lo),
            Some("https://ui.example.com"),
            false
        ));
        assert!(!is_direct_local(Some(lo), Some("null"), false));
    }

    /// A typed config from JSON, through the one loader's checks.
    fn cfg(v: serde_json::Value) -> Config {
        openclaw_config::validate_value(&v, std::path::Path::new("t.json"))
            .expect("a valid config")
            .config
    }

    macro_rules! json {
        ($($t:tt)*) => {
            cfg(serde_json::json!($($t)*))
        };
    }

    fn lo() -> HostPolicy {
        HostPolicy::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            18789,
            Some("box"),
            &json!({}),
        )
    }

    #[test]
    fn host_names_of_a_loopback_gateway() {
        let p = lo();
        for ok in [
            "127.0.0.1:18789",
            "127.0.0.1",
            "localhost:18789",
            "LOCALHOST",
            "[::1]:18789",
        ] {
            assert!(p.allows_host(Some(ok)), "{ok}");
        }
        assert!(p.allows_host(None));
        // DNS rebinding: a foreign name pointing at 127.0.0.1.
        for bad in [
            "evil.example:18789",
            "evil.example",
            "box",
            "10.0.0.5:18789",
            "127.0.0.1.nip.io",
            "a@127.0.0.1",
            "",
        ] {
            assert!(!p.allows_host(Some(bad)), "{bad}");
        }
    }

    #[test]
    fn host_names_of_a_lan_gateway() {
        let p = HostPolicy::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            18789,
            Some("Box"),
            &json!({"gateway": {"controlUi": {"allowedOrigins": ["https://claw.example.com"]}}}),
        );
        for ok in [
            "192.168.1.5:18789",
            "box",
            "box.local:18789",
            "claw.example.com",
        ] {
            assert!(p.allows_host(Some(ok)), "{ok}");
        }
        assert!(!p.allows_host(Some("evil.example")));
    }

    #[test]
    fn origins() {
        let p = lo();
        let host = Some("127.0.0.1:18789");
        assert!(p.allows_origin(None, host).is_ok(), "non-browser");
        assert!(
            p.allows_origin(Some("http://127.0.0.1:18789"), host)
                .is_ok()
        );
        assert!(
            p.allows_origin(Some("http://localhost:18789"), host)
                .is_ok()
        );
        assert!(p.allows_origin(Some("http://[::1]:18789"), host).is_ok());
        for bad in [
            "http://127.0.0.1:18790",
            "http://localhost:8080",
            "http://evil.example",
            "http://evil.example:18789",
            "null",
            "file://",
            "chrome-extension://abc",
        ] {
            assert!(p.allows_origin(Some(bad), host).is_err(), "{bad}");
        }
        // Rebinding: Origin and Host agree, but the name is not ours.
        assert!(
            p.allows_origin(
                Some("http://evil.example:18789"),
                Some("evil.example:18789")
            )
            .is_err()
        );
        let listed = HostPolicy::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            18789,
            None,
            &json!({"gateway": {"controlUi": {"allowedOrigins": ["http://127.0.0.1:5173/"]}}}),
        );
        assert!(
            listed
                .allows_origin(Some("http://127.0.0.1:5173"), host)
                .is_ok()
        );
        assert!(
            listed
                .allows_origin(Some("http://127.0.0.1:5174"), host)
                .is_err()
        );
        let any = HostPolicy::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            18789,
            None,
            &json!({"gateway": {"controlUi": {"allowedOrigins": ["*"]}}}),
        );
        assert!(any.allows_origin(Some("http://evil.example"), host).is_ok());
    }

    #[test]
    fn lan_same_origin_page() {
        let p = HostPolicy::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 18789, None, &json!({}));
        let host = Some("192.168.1.5:18789");
        assert!(
            p.allows_origin(Some("http://192.168.1.5:18789"), host)
                .is_ok()
        );
        assert!(
            p.allows_origin(Some("http://192.168.1.6:18789"), host)
                .is_err()
        );
    }

    #[test]
    fn failure_keys() {
        let cfg = RateLimit::default();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lan: IpAddr = "192.168.1.9".parse().unwrap();
        assert_eq!(
            FailureKey::for_client(lo, None, &cfg),
            None,
            "local CLI exempt"
        );
        let a = FailureKey::for_client(lo, Some("http://127.0.0.1:9000"), &cfg).unwrap();
        let b = FailureKey::for_client(lo, Some("http://127.0.0.1:9001"), &cfg).unwrap();
        assert_ne!(a, b, "browser origins on loopback are limited per origin");
        let strict = RateLimit {
            exempt_loopback: false,
            ..cfg
        };
        assert!(FailureKey::for_client(lo, None, &strict).is_some());
        assert_eq!(
            FailureKey::for_client(lan, Some("http://x"), &cfg),
            FailureKey::for_client(lan, None, &cfg),
            "beyond loopback: per address"
        );
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(FailureKey::for_client(mapped, None, &cfg), None);
    }

    #[test]
    fn lockout_after_max_attempts_then_expiry() {
        let cfg = RateLimit {
            max_attempts: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            exempt_loopback: true,
        };
        let key = FailureKey::for_client("10.0.0.1".parse().unwrap(), None, &cfg).unwrap();
        let other = FailureKey::for_client("10.0.0.2".parse().unwrap(), None, &cfg).unwrap();
        let mut l = FailureLimiter::default();
        let t0 = Instant::now();
        assert!(l.failure(key.clone(), &cfg, t0).is_none());
        assert!(l.failure(key.clone(), &cfg, t0).is_none());
        assert!(l.check(&key, t0).is_ok());
        assert_eq!(l.failure(key.clone(), &cfg, t0), Some(cfg.lockout));
        let wait = l.check(&key, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(290));
        assert!(
            l.check(&other, t0).is_ok(),
            "someone else is not locked out"
        );
        assert!(l.check(&key, t0 + Duration::from_secs(301)).is_ok());
        // After the lockout the count starts over.
        assert!(
            l.failure(key.clone(), &cfg, t0 + Duration::from_secs(301))
                .is_none()
        );
        // Failures spread beyond the window never lock.
        let mut l = FailureLimiter::default();
        for i in 0..10 {
            assert!(
                l.failure(other.clone(), &cfg, t0 + Duration::from_secs(61 * i))
                    .is_none()
            );
        }
        l.success(&other);
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn limiter_memory_is_bounded() {
        let cfg = RateLimit::default();
        let mut l = FailureLimiter::default();
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS as u32 + 500) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            l.failure(FailureKey::for_client(ip, None, &cfg).unwrap(), &cfg, t0);
        }
        assert!(l.len() <= MAX_KEYS);
    }

    #[test]
    fn rate_limit_config() {
        let r = RateLimit::from_config(&json!({"gateway": {"auth": {"rateLimit": {
            "maxAttempts": 2, "windowMs": 1000, "lockoutMs": 5000, "exemptLoopback": false}}}}));
        assert_eq!(r.max_attempts, 2);
        assert_eq!(r.window, Duration::from_secs(1));
        assert_eq!(r.lockout, Duration::from_secs(5));
        assert!(!r.exempt_loopback);
        assert_eq!(RateLimit::from_config(&json!({})), RateLimit::default());
    }

    #[test]
    fn handshake_timeout_env() {
        assert_eq!(handshake_timeout_from_env(None), Ok(None));
        assert_eq!(
            handshake_timeout_from_env(Some("2500")),
            Ok(Some(Duration::from_millis(2500)))
        );
        assert!(handshake_timeout_from_env(Some("0")).is_err());
        assert!(handshake_timeout_from_env(Some("soon")).is_err());
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn small() -> PreAuthLimits {
        PreAuthLimits {
            max_total: 4,
            max_per_ip: 3,
            grace: Duration::from_secs(1),
            ..PreAuthLimits::for_handshake(Duration::from_secs(15))
        }
    }

    #[test]
    fn admission_makes_room_by_closing_the_oldest_past_its_grace() {
        let l = small();
        let s = Duration::from_secs;
        // Room: admitted.
        assert_eq!(admission(&[(ip(1), s(9))], ip(2), &l), Admission::Admit);
        // The newcomer's address is at its cap: its own oldest goes.
        let held = [(ip(1), s(5)), (ip(1), s(9)), (ip(1), s(2))];
        assert_eq!(admission(&held, ip(1), &l), Admission::Evict(1));
        // Full: the oldest of the address holding the most slots goes,
        // never another address's connection first.
        let held = [(ip(2), s(30)), (ip(1), s(5)), (ip(1), s(9)), (ip(3), s(1))];
        assert_eq!(admission(&held, ip(4), &l), Admission::Evict(2));
        // Within their grace, nobody is closed: the newcomer waits.
        let ms = Duration::from_millis;
        let held = [
            (ip(1), ms(10)),
            (ip(1), ms(20)),
            (ip(2), ms(5)),
            (ip(3), ms(1)),
        ];
        assert_eq!(admission(&held, ip(4), &l), Admission::Wait);
        let held = [(ip(1), ms(10)), (ip(1), ms(20)), (ip(1), ms(5))];
        assert_eq!(admission(&held, ip(1), &l), Admission::Wait);
        // The heaviest address is all within grace: the oldest past it
        // anywhere goes.
        let held = [
            (ip(1), ms(10)),
            (ip(1), ms(20)),
            (ip(2), s(7)),
            (ip(3), ms(1)),
        ];
        assert_eq!(admission(&held, ip(4), &l), Admission::Evict(2));
        // IPv4-mapped IPv6 is the same address.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        let held = [(ip(1), s(5)), (mapped, s(9)), (ip(1), s(2))];
        assert_eq!(admission(&held, ip(1), &l), Admission::Evict(1));
    }

    #[test]
    fn preauth_limits_from_the_handshake_timeout() {
        let l = PreAuthLimits::for_handshake(Duration::from_secs(15));
        assert_eq!(l.request, Duration::from_secs(31));
        assert_eq!(l.first_byte, Duration::from_secs(5));
        assert_eq!(l.lifetime, Duration::from_secs(64));
        assert_eq!(l.grace, Duration::from_secs(1));
        assert_eq!(l.max_total, PREAUTH_MAX_CONNECTIONS);
        assert!(l.max_per_ip < l.max_total);
    }

    #[test]
    fn budget_deadlines_first_byte_then_per_request_within_the_lifetime() {
        let l = PreAuthLimits::for_handshake(Duration::from_secs(15));
        let b = ConnBudget::new(l, ip(1));
        assert_eq!(b.deadline(), b.base + l.first_byte);
        assert!(b.account(10));
        assert!(b.deadline() >= b.base + l.request);
        b.rearm();
        assert!(b.deadline() <= b.base + l.lifetime);
        // However often re-armed, never past the lifetime.
        let lt = PreAuthLimits {
            lifetime: Duration::from_millis(1),
            ..l
        };
        let b = ConnBudget::new(lt, ip(1));
        b.rearm();
        assert_eq!(b.deadline(), b.base + lt.lifetime);
        // Eviction is remembered.
        b.evict();
        assert!(b.evicted());
    }

    #[test]
    fn budget_counts_until_authenticated() {
        let b = ConnBudget::new(
            PreAuthLimits::for_handshake(Duration::from_secs(15)),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        );
        assert!(b.account(PREAUTH_MAX_BYTES));
        assert!(!b.account(1));
        assert!(b.exceeded());
        b.rearm();
        assert!(b.account(1000));
        b.authenticated();
        assert!(b.account(100 * 1024 * 1024));
    }
}
