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
pub use ports::{allocate_cdp_port, port_is_free};
pub use profiles::{DEFAULT_PROFILE, ProfileConfig, validate_profile_name};

/// A `reqwest` client builder with the TLS provider installed (see
/// `openclaw_http`).
pub use openclaw_http::client_builder as http_client_builder;
