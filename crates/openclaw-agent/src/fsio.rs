//! The file primitives this crate uses for state-dir writes.
//!
//! Project rule: writes under a state dir go through the `openclaw-state`
//! crate. This module only adapts its functions to the modes session state
//! uses (private files and directories), so the rest of the crate has one
//! place to call.

use std::io;
use std::path::Path;

use openclaw_state::FILE_MODE;

/// Create `dir` (and parents) and make sure the leaf is private (0700).
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    openclaw_state::ensure_state_dir(dir)
}

/// Replace `path` with `bytes` atomically (mode 0600).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    openclaw_state::atomic_write(path, bytes, FILE_MODE)
}

/// Append one line with a single `write` and fsync it (mode 0600 if new).
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    openclaw_state::append_line(path, line, FILE_MODE)
}
