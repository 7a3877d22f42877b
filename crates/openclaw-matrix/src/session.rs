//! "Log in once": the access token from a password login is kept in the
//! state dir (0600, written atomically through `openclaw-state`) and reused
//! on every start, so the homeserver sees one device and its transaction-id
//! dedup keeps working across restarts. A token the server no longer
//! accepts leads to one new login.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::client::{Login, MatrixClient, MatrixError};

/// `<account dir>/session.json`
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSession {
    pub homeserver: String,
    pub user_id: String,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

impl fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSession")
            .field("homeserver", &self.homeserver)
            .field("user_id", &self.user_id)
            .field("access_token", &"<redacted>")
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// How the session was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSource {
    /// The stored token still works.
    Stored,
    /// A password login (first start, or the stored token was refused).
    LoggedIn,
}

fn load(path: &Path) -> Option<StoredSession> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Restores the stored session for (`homeserver`, `user_id`) if its token
/// still works, else logs in with `password` and stores the new token.
/// The client ends up holding the working token.
pub async fn login_or_restore(
    client: &mut MatrixClient,
    user_id: &str,
    password: &str,
    device_name: Option<&str>,
    path: &Path,
) -> Result<(Login, SessionSource), MatrixError> {
    if let Some(s) = load(path)
        && s.homeserver == client.homeserver()
        && s.user_id == user_id
    {
        let candidate = client.clone().with_token(&s.access_token);
        match candidate.whoami().await {
            Ok(who) if who.user_id == user_id => {
                *client = candidate;
                let login = Login {
                    access_token: s.access_token,
                    user_id: s.user_id,
                    device_id: s.device_id,
                };
                return Ok((login, SessionSource::Stored));
            }
            Ok(_) => {}
            Err(e) if e.is_unknown_token() => {
                tracing::info!(%user_id, "matrix: stored token refused; logging in again");
            }
            Err(e) => return Err(e),
        }
    }
    let login = client
        .login_password(user_id, password, device_name)
        .await?;
    let stored = StoredSession {
        homeserver: client.homeserver().to_string(),
        user_id: login.user_id.clone(),
        access_token: login.access_token.clone(),
        device_id: login.device_id.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&stored).expect("session serializes");
    openclaw_state::atomic_write(path, &bytes, 0o600)
        .map_err(|e| MatrixError::Config(format!("writing {}: {e}", path.display())))?;
    Ok((login, SessionSource::LoggedIn))
}
