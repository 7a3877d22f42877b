//! Matrix client-server API transport for the gateway's Matrix channel:
//! password login, whoami, `/sync` long polling, invites and joins, text
//! messages in and out with deterministic transaction ids, 429 handling,
//! and detection of end-to-end encrypted rooms (which we cannot read).
//! No policy lives here beyond the pure auto-join decision.

pub mod client;
pub mod session;
pub mod sync;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{Login, MatrixClient, MatrixError, WhoAmI, txn_id};
pub use session::{SessionSource, StoredSession, login_or_restore};
pub use sync::{AutoJoin, RoomTracker, SyncItem, SyncResponse, should_auto_join};

/// A `reqwest` client builder with the TLS provider installed (see
/// `openclaw_http`).
pub use openclaw_http::client_builder as http_client_builder;
