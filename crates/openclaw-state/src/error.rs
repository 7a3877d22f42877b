//! Errors of state-dir operations. Each names the path and the cause.

use std::io;
use std::path::PathBuf;

use openclaw_config::ConfigError;

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A filesystem operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What we tried, e.g. "write", "read", "lock".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The config file on disk does not parse or type-check.
    #[error("{0}")]
    Config(ConfigError),
    /// The edited config would be invalid; nothing was written.
    #[error("refusing to write {}: the new config is invalid:\n{error}", path.display())]
    Invalid { path: PathBuf, error: ConfigError },
    /// The file changed since the caller read it; nothing was written.
    #[error(
        "config {} changed since it was read (expected hash {expected}, found {}); read it again and retry",
        path.display(),
        actual.as_deref().unwrap_or("none: the file does not exist")
    )]
    Conflict {
        path: PathBuf,
        expected: String,
        /// `None` when the file does not exist.
        actual: Option<String>,
    },
    /// A write that must name the hash it is based on gave none, and the
    /// file exists (checked under the write lock).
    #[error(
        "cannot write {}: a base hash is required because the file exists (current hash {current})",
        path.display()
    )]
    BaseHashRequired { path: PathBuf, current: String },
    /// The caller's edit function failed; nothing was written.
    #[error("cannot update {}: {source}", path.display())]
    Edit {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A state file we own is not in the expected format.
    #[error("{} is corrupt: {message}; move it aside and retry", path.display())]
    Corrupt { path: PathBuf, message: String },
}

impl StateError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| StateError::Io { op, path, source }
    }
}
