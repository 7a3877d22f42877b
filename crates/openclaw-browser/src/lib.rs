//! openclaw-browser: the gateway's browser control service.
//!
//! - [`cdp`]: a thin Chrome DevTools Protocol client (WebSocket JSON-RPC
//!   and the `/json/*` HTTP discovery endpoints); see its docs for why we
//!   do not use a CDP crate.
//! - [`ports`]: CDP port allocation from the instance's range.
//! - [`profiles`]: browser profiles (`openclaw` + `browser.profiles.<name>`).
//! - [`launcher`]: finding and launching Chromium, with no orphans left behind.
//! - [`control`]: the loopback-only, token-protected HTTP API.
//! - [`client`]: the client the CLI and the gateway's `browser.request` use.

pub mod cdp;
pub mod client;
pub mod control;
pub mod launcher;
pub mod ports;
pub mod profiles;

pub use client::{ClientError, ControlClient};
pub use control::{
    ActKind, ActRequest, BrowserControl, BrowserError, BrowserOptions, BrowserStatus,
    PersistPortFn, Snapshot, SnapshotElement, Tab, bind, bind_loopback,
};
pub use launcher::{LaunchProgress, ProgressFn};
pub use ports::{allocate_cdp_port, cdp_range, port_is_free};
pub use profiles::{DEFAULT_PROFILE, ProfileConfig, validate_profile_name};

/// A `reqwest` client builder with the TLS provider installed. reqwest is
/// built without a provider of its own (`rustls-no-provider`, so the C
/// build of aws-lc is not needed) and panics on `build()` unless one is
/// installed; this installs rustls' `ring` provider once per process.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Err only means another provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    #[allow(clippy::disallowed_methods)] // the one sanctioned call
    reqwest::Client::builder()
}
