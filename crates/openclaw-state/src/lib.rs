//! openclaw-state: every write under a state dir goes through here.
//!
//! # API
//! - [`ensure_state_dir`]: create a state dir (and missing parents) 0700;
//!   the state dir itself is tightened to 0700 if it already existed,
//!   pre-existing parents are left alone. [`create_private_dir_all`] creates
//!   without tightening anything that exists.
//! - [`atomic_write`]`(path, bytes, mode)`: temp file in the same dir, fsync,
//!   mode, rename, fsync dir (a symlink at `path` is followed: the config);
//!   [`atomic_replace`] never follows one (owner record, channel state).
//!   [`append_line`] for JSONL logs/transcripts.
//! - [`open_append_nofollow`], [`ensure_private_subdir`],
//!   [`private_dir_beneath`]: the gateway's own files and directories under
//!   a state dir, refusing a planted symlink instead of following it.
//! - [`generate_token`]: 48 lowercase hex chars from the OS RNG.
//! - [`ConfigStore`]: `load`, `update(base_hash, |value| ...)`,
//!   `replace_raw(base_hash, raw)`, `create_if_missing(value)`: locked
//!   read-modify-write with `baseHash` conflict detection, validation, `.bak`
//!   and atomic 0600 writes. The lock is `<config>.lock`, left in place.
//!   `update_based_with(base_hash, edit, files)` also puts [`StagedFiles`]
//!   (credentials the new config names) in place under that lock, just
//!   before the config, and puts them back if the config write fails.
//! - [`logs`]: the gateway log (`<stateDir>/logs/gateway.log`): a size-rotated
//!   0600 [`logs::RotatingFile`] in a 0700 dir, [`logs::tail_lines`] and
//!   [`logs::Follower`] for reading it back.
//! - [`registry`]: `record`, `list`, `discover` instances on the host.
//! - [`read_json`], [`write_json`], [`update_json`]: small JSON state
//!   files (channel ledgers, pairing), locked read-modify-write, atomic.
//! - [`trust`]: whether a state dir and a config may be used (owner, no
//!   write access for others; read access for others is tightened).
//! - [`StateError`]: every variant names the path and the cause.

mod error;
mod fsutil;
mod json_file;
pub mod logs;
pub mod owner;
pub mod procfs;
pub mod registry;
mod staged;
mod store;
pub mod trust;

#[cfg(test)]
mod tests;

pub use error::StateError;
pub use fsutil::{
    DIR_MODE, FILE_MODE, append_line, atomic_replace, atomic_write, create_private_dir_all,
    ensure_private_subdir, ensure_state_dir, generate_token, open_append_nofollow,
    private_dir_beneath, secret_eq, sync_dir, write_new_file,
};
pub use json_file::{read_json, remove_file_durably, update_json, write_json};
pub use registry::{InstanceRecord, discover, same_dir};
pub use staged::{StagedFile, StagedFiles};
pub use store::{ConfigStore, Loaded, Written};
