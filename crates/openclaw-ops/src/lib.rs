//! openclaw-ops: the decisions behind the CLI's commands, as pure functions
//! with table tests. The binary (`crates/openclaw/src/cmd/`) gathers the
//! facts (files, owner records, probes), calls these, and renders the
//! result; nothing here reads the environment, the disk or the network.
//!
//! - [`doctor`]: collision and permission rules, which instance moves, and
//!   the typed `doctor` report (JSON and text).
//! - [`setup`]: the base-port chooser of `setup` / `onboard`.
//! - [`onboard`]: onboarding's model, channel, owner, rescue and service
//!   decisions, the config edits it writes in one go, and its next steps.
//! - [`lifecycle`]: what `gateway stop|restart` does given an instance's
//!   owner record and service, and how a detached gateway is started.
//! - [`render`]: small text helpers shared by the reports.

pub mod doctor;
pub mod lifecycle;
pub mod onboard;
pub mod render;
pub mod setup;
